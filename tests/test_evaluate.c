/* test_evaluate.c - the evaluation is reproducible and its step API equals
 * the whole run (the actor's path equals hpo-train's and hpo-eval's),
 * against a plain loop written here as the reference; a cut episode leaves
 * the next one as it was. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "evaluate.h"
#include "testagent.h"
#include "testutil.h"

/* The reference: the loop hpo-train, hpo-eval and the actor each had. */
static void reference(sac *s, env *e, uint64_t seed, int n, double *ret,
                      long *len)
{
    rng r;
    rng_init(&r, seed, RNG_STREAM_EVAL);
    env_seed(e, rng_u64(&r));
    float obs[3], act[1];
    env_step_result res;
    for (int ep = 0; ep < n; ep++) {
        ret[ep] = 0.0;
        len[ep] = 0;
        env_reset(e, obs);
        for (long k = 0; k < EVALUATE_MAX_STEPS; k++) {
            sac_act(s, &s->act, obs, 1, 1, &r, act, NULL);
            env_step(e, act, obs, &res);
            ret[ep] += res.reward;
            len[ep]++;
            if (res.terminated || res.truncated)
                break;
        }
    }
}

static void test_evaluation(void **state)
{
    (void)state;
    sac *s = test_pendulum_agent(3);
    env *e = test_env_new("Pendulum");
    double want[3], got[3], again[3];
    long wl[3], gl[3];
    reference(s, e, 42, 3, want, wl);
    run_stats rs = evaluate_run(s, e, 42, 3, got, gl);
    evaluate_run(s, e, 42, 3, again, NULL);
    double sum = 0.0;
    for (int i = 0; i < 3; i++) {
        assert_true(got[i] == want[i]);   /* bit for bit */
        assert_true(again[i] == want[i]); /* reseeded each time */
        assert_int_equal(gl[i], wl[i]);
        assert_int_equal(gl[i], 200); /* Pendulum's time limit */
        sum += want[i];
    }
    assert_true(fabs(run_stats_mean(&rs) - sum / 3) < 1e-9);
    /* a step at a time (the actor) gives the same episodes */
    evaluation ev;
    evaluate_init(&ev, s, e, 42);
    int done = 0;
    long steps = 0;
    while (done < 3) {
        double r;
        long l;
        steps++;
        if (evaluate_step(&ev, &r, &l)) {
            assert_true(r == want[done]);
            assert_int_equal(l, wl[done]);
            done++;
        }
    }
    assert_int_equal(steps, wl[0] + wl[1] + wl[2]);
    evaluate_release(&ev);
    /* another seed, other starting states */
    evaluate_run(s, e, 43, 3, got, NULL);
    assert_true(got[0] != want[0]);
    env_destroy(&e);
    sac_destroy(&s);
}

/* evaluate_cut ends an episode early: its return so far is the reference's
 * first steps, and the next episode is the one the whole run would have
 * played next (the reset stream is untouched; acting draws nothing). */
static void test_cut(void **state)
{
    (void)state;
    sac *s = test_pendulum_agent(5);
    env *e = test_env_new("Pendulum");
    double want[2];
    long wl[2];
    reference(s, e, 7, 2, want, wl);
    evaluation ev;
    evaluate_init(&ev, s, e, 7);
    double r, part = 0.0;
    long l;
    for (int k = 0; k < 10; k++)
        assert_int_equal(evaluate_step(&ev, &r, &l), 0);
    part = ev.ret;
    assert_int_equal(evaluate_cut(&ev, &r, &l), 1);
    assert_true(r == part);
    assert_int_equal(l, 10);
    assert_true(r != want[0]);
    assert_int_equal(evaluate_cut(&ev, &r, &l), 0); /* none under way */
    assert_int_equal(l, 0);
    while (!evaluate_step(&ev, &r, &l))
        ;
    assert_true(r == want[1]);
    assert_int_equal(l, wl[1]);
    evaluate_release(&ev);
    env_destroy(&e);
    sac_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluation),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
