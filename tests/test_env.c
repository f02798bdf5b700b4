/* test_env.c - name lookup, the env_step guards (clipping, divergence, time
 * limit) and Pendulum against a double-precision recomputation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env.h"
#include "rng.h"
#include "testutil.h"

// ---- lookup ----

static void test_find_names(void **state)
{
    const env_class *c = env_find("Pendulum");
    assert_non_null(c);
    assert_ptr_equal(env_find("pendulum"), c);
    assert_ptr_equal(env_find("Pendulum-v5"), c);
    assert_ptr_equal(env_find("PENDULUM-V5"), c);
    assert_null(env_find("Pendulum-v4"));
    assert_null(env_find("Pend"));
    assert_null(env_find("-v5"));
    assert_null(env_find(""));
    assert_null(env_find(NULL));

    char known[256];
    env_known_names(known, sizeof known);
    assert_non_null(strstr(known, "Pendulum"));
}

static void test_unknown_name_error(void **state)
{
    char err[512] = "";
    env *e = env_new("Nope", NULL, err, sizeof err);
    assert_null(e);
    assert_non_null(strstr(err, "unknown environment 'Nope'"));
    assert_non_null(strstr(err, "known: "));
    assert_non_null(strstr(err, "Pendulum"));
}

static void test_model_dir_env_var(void **state)
{
    const char *old = getenv("HPO_MODEL_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("HPO_MODEL_DIR", "/tmp/hpo-models-test", 1);
    assert_string_equal(env_model_dir(), "/tmp/hpo-models-test");
    unsetenv("HPO_MODEL_DIR");
    assert_non_null(env_model_dir());
    assert_true(strlen(env_model_dir()) > 0);
    if (saved) {
        setenv("HPO_MODEL_DIR", saved, 1);
        free(saved);
    }
}

// ---- Pendulum ----

static void test_pendulum_dims_and_bounds(void **state)
{
    env *e = test_env_new("Pendulum");
    const env_class *c = e->cls;
    assert_int_equal(c->obs_dim, 3);
    assert_int_equal(c->act_dim, 1);
    assert_int_equal(c->max_episode_steps, 200);
    assert_int_equal(c->n_terms, 3);
    assert_string_equal(c->term_names[0], "angle");
    assert_string_equal(c->term_names[1], "velocity");
    assert_string_equal(c->term_names[2], "control");
    assert_null(c->model_file);

    env_seed(e, 7);
    float obs[3], a[1];
    env_step_result res;
    rng r;
    rng_init(&r, 99, RNG_STREAM_ACT);
    for (int ep = 0; ep < 3; ep++) {
        env_reset(e, obs);
        assert_true(fabsf(obs[2]) <= 1.0f);
        do {
            rng_uniform_fill(&r, a, 1, -1.0f, 1.0f);
            env_step(e, a, obs, &res);
            assert_float_equal(obs[0] * obs[0] + obs[1] * obs[1], 1.0f, 1e-5f);
            assert_true(fabsf(obs[2]) <= 8.0f);
            assert_false(res.terminated);
            assert_false(res.diverged);
            float sum = 0.0f;
            for (int k = 0; k < 3; k++) {
                assert_true(res.terms[k] <= 0.0f);
                sum += res.terms[k];
            }
            assert_float_equal(res.reward, sum, 1e-5f);
            /* worst case: pi^2 + 0.1 * 64 + 0.001 * 4 */
            assert_true(res.reward >= -16.2736f);
        } while (!res.truncated);
    }
    env_destroy(&e);
    assert_null(e);
    env_destroy(&e); /* accepts NULL */
}

static double wrap(double x)
{
    double y = fmod(x + M_PI, 2.0 * M_PI);
    if (y < 0.0)
        y += 2.0 * M_PI;
    return y - M_PI;
}

static void test_pendulum_first_step(void **state)
{
    const uint64_t seed = 42;
    env *e = test_env_new("Pendulum");
    env_seed(e, seed);
    float obs[3];
    env_reset(e, obs);

    /* pendulum.c's reset: theta ~ U(-pi, pi) then thetadot ~ U(-1, 1) from
     * the env's stream (seed, RNG_STREAM_ENV). */
    rng r;
    rng_init(&r, seed, RNG_STREAM_ENV);
    double th = -M_PI + 2.0 * M_PI * rng_uniform(&r);
    double thdot = -1.0 + 2.0 * rng_uniform(&r);
    assert_float_equal(obs[0], cos(th), 1e-6f);
    assert_float_equal(obs[1], sin(th), 1e-6f);
    assert_float_equal(obs[2], thdot, 1e-6f);

    const float a = 0.3f;
    double u = 2.0 * a;
    double cost = wrap(th) * wrap(th) + 0.1 * thdot * thdot + 0.001 * u * u;
    double new_thdot = thdot + (3.0 * 10.0 / 2.0 * sin(th) + 3.0 * u) * 0.05;
    new_thdot = fmin(fmax(new_thdot, -8.0), 8.0);
    double new_th = th + new_thdot * 0.05;

    env_step_result res;
    env_step(e, &a, obs, &res);
    assert_float_equal(res.reward, -cost, 1e-5f);
    assert_float_equal(res.terms[0], -wrap(th) * wrap(th), 1e-5f);
    assert_float_equal(res.terms[1], -0.1 * thdot * thdot, 1e-6f);
    assert_float_equal(res.terms[2], -0.001 * u * u, 1e-8f);
    assert_float_equal(obs[0], cos(new_th), 1e-6f);
    assert_float_equal(obs[1], sin(new_th), 1e-6f);
    assert_float_equal(obs[2], new_thdot, 1e-6f);
    assert_int_equal(e->t, 1);
    assert_false(res.terminated || res.truncated || res.diverged);
    env_destroy(&e);
}

static void test_pendulum_truncates_at_200(void **state)
{
    env *e = test_env_new("Pendulum");
    float obs[3], a = 0.0f;
    env_step_result res;
    for (int ep = 0; ep < 2; ep++) {
        env_reset(e, obs);
        for (int t = 1; t <= 200; t++) {
            env_step(e, &a, obs, &res);
            assert_false(res.terminated);
            assert_int_equal(res.truncated, t == 200);
        }
        assert_int_equal(e->t, 200);
    }
    env_destroy(&e);
}

static void test_action_clipping(void **state)
{
    env *big = test_env_new("Pendulum"), *one = test_env_new("Pendulum");
    float ob[3], oo[3];
    env_step_result rb, ro;
    const float big_a[] = {5.0f, -7.5f, 1e30f};
    const float one_a[] = {1.0f, -1.0f, 1.0f};
    env_seed(big, 3);
    env_seed(one, 3);
    env_reset(big, ob);
    env_reset(one, oo);
    for (int t = 0; t < 30; t++) {
        env_step(big, &big_a[t % 3], ob, &rb);
        env_step(one, &one_a[t % 3], oo, &ro);
        assert_memory_equal(ob, oo, sizeof ob);
        assert_memory_equal(&rb, &ro, sizeof rb);
    }
    env_destroy(&big);
    env_destroy(&one);
}

static void test_nonfinite_action_diverges(void **state)
{
    env *e = test_env_new("Pendulum");
    float obs[3], last[3], a = 0.5f;
    env_step_result res;
    env_reset(e, obs);
    env_step(e, &a, obs, &res);
    memcpy(last, obs, sizeof obs);

    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        env_step(e, &bad[i], obs, &res);
        assert_true(res.terminated);
        assert_true(res.diverged);
        assert_false(res.truncated);
        assert_true(res.reward == 0.0f);
        for (int k = 0; k < 3; k++)
            assert_true(res.terms[k] == 0.0f);
        assert_memory_equal(obs, last, sizeof obs);
    }
    /* a fresh episode steps normally again */
    env_reset(e, obs);
    env_step(e, &a, obs, &res);
    assert_false(res.terminated || res.diverged);
    env_destroy(&e);
}

/* Record (obs, reward) of one episode under a fixed action sequence. */
static void rollout(uint64_t seed, float *traj /* (200 * 4) */)
{
    env *e = test_env_new("Pendulum");
    env_seed(e, seed);
    float obs[3];
    env_step_result res;
    env_reset(e, obs);
    for (int t = 0; t < 200; t++) {
        float a = sinf(0.1f * (float)t);
        env_step(e, &a, obs, &res);
        memcpy(traj + 4 * t, obs, sizeof obs);
        traj[4 * t + 3] = res.reward;
    }
    env_destroy(&e);
}

static void test_seed_determinism(void **state)
{
    static float a[800], b[800], c[800];
    rollout(11, a);
    rollout(11, b);
    rollout(12, c);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_names),
        cmocka_unit_test(test_unknown_name_error),
        cmocka_unit_test(test_model_dir_env_var),
        cmocka_unit_test(test_pendulum_dims_and_bounds),
        cmocka_unit_test(test_pendulum_first_step),
        cmocka_unit_test(test_pendulum_truncates_at_200),
        cmocka_unit_test(test_action_clipping),
        cmocka_unit_test(test_nonfinite_action_diverges),
        cmocka_unit_test(test_seed_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
