/* test_vecenv.c - the vectorized stepper against single environments stepped
 * by hand: seeding, auto-reset, next_obs, flags and episode statistics. */
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
#include "vecenv.h"

#define PEND_STEPS 200 /* Pendulum's time limit */

static vecenv *new_vec(const char *name, int n, uint64_t seed)
{
    char err[512] = "";
    vecenv *v = vecenv_new(name, n, seed, NULL, err, sizeof err);
    if (!v)
        fail_msg("vecenv_new(%s, %d): %s", name, n, err);
    return v;
}

/* Deterministic pseudo-random actions in [-1.2, 1.2] (some get clipped). */
static void fill_actions(rng *r, float *act, int n)
{
    rng_uniform_fill(r, act, (size_t)n, -1.2f, 1.2f);
}

static void assert_floats_equal(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            fail_msg("element %d: %.9g != %.9g", i, (double)a[i], (double)b[i]);
}

static int floats_differ(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            return 1;
    return 0;
}

// ---- construction ----

static void test_new_errors(void **state)
{
    char err[512] = "";
    assert_null(vecenv_new("Nope", 2, 0, NULL, err, sizeof err));
    assert_non_null(strstr(err, "unknown environment 'Nope'"));
    err[0] = '\0';
    assert_null(vecenv_new("Pendulum", 0, 0, NULL, err, sizeof err));
    assert_non_null(strstr(err, "outside"));
    assert_null(
        vecenv_new("Pendulum", VECENV_MAX_ENVS + 1, 0, NULL, err, sizeof err));

    vecenv *v = NULL;
    vecenv_destroy(&v); /* accepts NULL */
    vecenv_destroy(NULL);
}

static void test_dims(void **state)
{
    vecenv *v = new_vec("Pendulum", 3, 7);
    assert_int_equal(v->n, 3);
    assert_int_equal(v->obs_dim, v->cls->obs_dim);
    assert_int_equal(v->act_dim, v->cls->act_dim);
    assert_string_equal(v->cls->name, "Pendulum");
    assert_int_equal(vecenv_pending_episodes(v), 0);
    vecenv_destroy(&v);
    assert_null(v);
}

/* Row i starts exactly like a single env seeded with seed + i; rows differ. */
static void test_per_env_seeds(void **state)
{
    const int n = 4;
    const uint64_t seed = 1234;
    vecenv *v = new_vec("Pendulum", n, seed);
    vecenv_reset_all(v);
    float obs[16];
    for (int i = 0; i < n; i++) {
        env *e = test_env_seeded("Pendulum", seed + (uint64_t)i);
        env_reset(e, obs);
        assert_floats_equal(v->obs + i * v->obs_dim, obs, v->obs_dim);
        env_destroy(&e);
        for (int j = 0; j < i; j++)
            assert_true(floats_differ(v->obs + i * v->obs_dim,
                                      v->obs + j * v->obs_dim, v->obs_dim));
    }
    vecenv_destroy(&v);
}

// ---- stepping ----

/*
 * Run n Pendulums for two full episodes plus a few steps beside n single
 * envs stepped by hand with the same actions, checking every array of every
 * step, the auto-reset at the time limit and the episode records.
 */
static void test_matches_single_envs_and_autoresets(void **state)
{
    const int n = 3;
    const uint64_t seed = 99;
    vecenv *v = new_vec("Pendulum", n, seed);
    const int od = v->obs_dim, ad = v->act_dim, nt = v->cls->n_terms;
    env *ref[3];
    float ref_obs[3][8], step_obs[8];
    double sum_ret[3] = {0}, sum_terms[3][ENV_MAX_TERMS] = {{0}};
    int ep_seen = 0;
    rng r;
    rng_init(&r, 5, 0);

    vecenv_reset_all(v);
    for (int i = 0; i < n; i++) {
        ref[i] = test_env_seeded("Pendulum", seed + (uint64_t)i);
        env_reset(ref[i], ref_obs[i]);
    }

    for (int t = 1; t <= 2 * PEND_STEPS + 5; t++) {
        fill_actions(&r, v->act, n * ad);
        float before[3 * 8];
        memcpy(before, v->obs, (size_t)(n * od) * sizeof(float));

        int done = vecenv_step(v);
        assert_floats_equal(v->prev_obs, before, n * od);
        assert_int_equal(done, t % PEND_STEPS == 0 ? n : 0);

        for (int i = 0; i < n; i++) {
            env_step_result res;
            env_step(ref[i], v->act + i * ad, step_obs, &res);
            assert_floats_equal(v->next_obs + i * od, step_obs, od);
            assert_true(v->rew[i] == res.reward);
            assert_int_equal(v->terminated[i], res.terminated);
            assert_int_equal(v->truncated[i], res.truncated);
            assert_int_equal(v->diverged[i], 0);
            assert_floats_equal(v->terms + i * ENV_MAX_TERMS, res.terms, nt);
            sum_ret[i] += res.reward;
            for (int k = 0; k < nt; k++)
                sum_terms[i][k] += res.terms[k];

            if (res.truncated) {
                /* obs is the new episode's first obs; next_obs the final one */
                assert_int_equal(t % PEND_STEPS, 0);
                env_reset(ref[i], ref_obs[i]);
                assert_floats_equal(v->obs + i * od, ref_obs[i], od);
                assert_true(
                    floats_differ(v->obs + i * od, v->next_obs + i * od, od));
            } else {
                assert_floats_equal(v->obs + i * od, step_obs, od);
            }
        }

        if (done) {
            /* records come out in row order with the sums of their steps */
            vecenv_episode ep;
            for (int i = 0; i < n; i++) {
                assert_int_equal(vecenv_pop_episode(v, &ep), 1);
                assert_int_equal(ep.env_index, i);
                assert_int_equal(ep.length, PEND_STEPS);
                assert_true(ep.truncated);
                assert_false(ep.terminated);
                assert_false(ep.diverged);
                assert_true(fabs(ep.ret - sum_ret[i]) <=
                            1e-9 * (1 + fabs(sum_ret[i])));
                for (int k = 0; k < nt; k++)
                    assert_true(fabs(ep.terms[k] - sum_terms[i][k]) <=
                                1e-9 * (1 + fabs(sum_terms[i][k])));
                sum_ret[i] = 0;
                memset(sum_terms[i], 0, sizeof sum_terms[i]);
                ep_seen++;
            }
            assert_int_equal(vecenv_pop_episode(v, &ep), 0);
        }
    }
    assert_int_equal(ep_seen, 2 * n);
    assert_int_equal((int)v->episodes, 2 * n);
    assert_int_equal((int)v->steps, 2 * PEND_STEPS + 5);
    assert_int_equal((int)v->dropped, 0);

    for (int i = 0; i < n; i++)
        env_destroy(&ref[i]);
    vecenv_destroy(&v);
}

/* Same seed and actions give the same batches; another seed does not. */
static void test_same_seed_same_run(void **state)
{
    float *runs[3];
    const int n = 2, steps = 250;
    const uint64_t seeds[3] = {11, 11, 12};
    for (int s = 0; s < 3; s++) {
        vecenv *v = new_vec("Pendulum", n, seeds[s]);
        const int od = v->obs_dim;
        runs[s] = malloc(sizeof(float) * (size_t)(steps * n * od));
        rng r;
        rng_init(&r, 3, 0);
        vecenv_reset_all(v);
        for (int t = 0; t < steps; t++) {
            fill_actions(&r, v->act, n * v->act_dim);
            vecenv_step(v);
            memcpy(runs[s] + t * n * od, v->obs,
                   sizeof(float) * (size_t)(n * od));
        }
        vecenv_destroy(&v);
    }
    assert_floats_equal(runs[0], runs[1], steps * n * 3);
    assert_true(floats_differ(runs[0], runs[2], steps * n * 3));
    for (int s = 0; s < 3; s++)
        free(runs[s]);
}

/* An undrained queue keeps the newest records and counts what it dropped. */
static void test_queue_overflow(void **state)
{
    vecenv *v = new_vec("Pendulum", 1, 0); /* queue holds 64 records */
    vecenv_reset_all(v);
    const int episodes = 70;
    for (int t = 0; t < episodes * PEND_STEPS; t++) {
        v->act[0] = 0.0f;
        vecenv_step(v);
    }
    assert_int_equal((int)v->episodes, episodes);
    int kept = vecenv_pending_episodes(v);
    assert_int_equal((int)v->dropped, episodes - kept);
    assert_true(kept >= 1 && kept < episodes);
    vecenv_episode ep;
    int popped = 0;
    while (vecenv_pop_episode(v, &ep)) {
        assert_int_equal(ep.length, PEND_STEPS);
        popped++;
    }
    assert_int_equal(popped, kept);

    /* reset_all empties the queue and restarts running statistics */
    for (int t = 0; t < PEND_STEPS + 10; t++)
        vecenv_step(v);
    assert_int_equal(vecenv_pending_episodes(v), 1);
    vecenv_reset_all(v);
    assert_int_equal(vecenv_pending_episodes(v), 0);
    for (int t = 0; t < PEND_STEPS; t++)
        vecenv_step(v);
    assert_int_equal(vecenv_pop_episode(v, &ep), 1);
    assert_int_equal(ep.length, PEND_STEPS);
    vecenv_destroy(&v);
}

/*
 * Ant terminates at different times in different rows: each finished row's
 * record matches the sums of its own steps, next_obs holds the terminal obs,
 * and the other rows run on untouched.
 */
static void test_terminations_mujoco(void **state)
{
    const int n = 4;
    vecenv *v = new_vec("Ant", n, 2024);
    const int od = v->obs_dim, nt = v->cls->n_terms;
    double sum_ret[4] = {0}, sum_terms[4][ENV_MAX_TERMS] = {{0}};
    int len[4] = {0}, terminated_eps = 0;
    rng r;
    rng_init(&r, 8, 0);
    vecenv_reset_all(v);
    for (int t = 0; t < 400 && terminated_eps < 3; t++) {
        fill_actions(&r, v->act, n * v->act_dim);
        vecenv_step(v);
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int k = 0; k < nt; k++) {
                sum_terms[i][k] += v->terms[i * ENV_MAX_TERMS + k];
                s += v->terms[i * ENV_MAX_TERMS + k];
            }
            assert_true(fabs(s - v->rew[i]) <= 1e-4 * (1 + fabs(s)));
            sum_ret[i] += v->rew[i];
            len[i]++;
            if (!v->terminated[i] && !v->truncated[i]) {
                assert_floats_equal(v->obs + i * od, v->next_obs + i * od, od);
                continue;
            }
            vecenv_episode ep;
            assert_int_equal(vecenv_pop_episode(v, &ep), 1);
            assert_int_equal(ep.env_index, i);
            assert_int_equal(ep.length, len[i]);
            assert_int_equal(ep.terminated, v->terminated[i]);
            assert_true(fabs(ep.ret - sum_ret[i]) <=
                        1e-9 * (1 + fabs(sum_ret[i])));
            for (int k = 0; k < nt; k++)
                assert_true(fabs(ep.terms[k] - sum_terms[i][k]) <=
                            1e-9 * (1 + fabs(sum_terms[i][k])));
            assert_true(
                floats_differ(v->obs + i * od, v->next_obs + i * od, od));
            /* the terminal Ant torso height (obs[0] = qpos[2]) is unhealthy */
            float z = v->next_obs[i * od];
            if (v->terminated[i] && !v->diverged[i])
                assert_true(z < 0.2f || z > 1.0f);
            terminated_eps += v->terminated[i];
            sum_ret[i] = 0;
            memset(sum_terms[i], 0, sizeof sum_terms[i]);
            len[i] = 0;
        }
    }
    assert_true(terminated_eps >= 1);
    vecenv_destroy(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_dims),
        cmocka_unit_test(test_per_env_seeds),
        cmocka_unit_test(test_matches_single_envs_and_autoresets),
        cmocka_unit_test(test_same_seed_same_run),
        cmocka_unit_test(test_queue_overflow),
        cmocka_unit_test(test_terminations_mujoco),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
