/* evaluate, snapshot, msgbuf: the evaluation is reproducible and its step
 * API equals the whole run (the actor's path equals hpo-train's and
 * hpo-eval's), against a plain loop written here as the reference; a cut
 * episode leaves the next one as it was; a
 * snapshot's blocks round-trip into another agent and a wrong size is
 * refused; the encode buffer grows and round-trips through wire_decode. */
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
#include "msgbuf.h"
#include "snapshot.h"
#include "testutil.h"

static sac *pendulum_agent(uint64_t seed)
{
    hpo_config c;
    config_defaults(&c);
    config_preset(&c, "Pendulum");
    c.pi_hidden = c.q_hidden = 16;
    c.seed = seed;
    return sac_new(&c, 3, 1, 1, 0);
}

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
            sac_act(s, obs, 1, 1, &r, act, NULL);
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
    sac *s = pendulum_agent(3);
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
    sac *s = pendulum_agent(5);
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

static void test_snapshot_blocks(void **state)
{
    (void)state;
    sac *a = pendulum_agent(1), *b = pendulum_agent(2);
    size_t n = a->nets.n_params;
    assert_memory_not_equal(a->params, b->params, n * sizeof(float));
    wire_msg m;
    wire_msg_init(&m, WIRE_SNAPSHOT);
    snapshot_set_blocks(&m.snapshot, a);
    assert_int_equal(m.snapshot.n_blocks, 2);
    assert_int_equal(snapshot_load_blocks(b, &m.snapshot), 0);
    const hpo_nets *t = &a->nets;
    assert_memory_equal(a->params + t->pol_off, b->params + t->pol_off,
                        t->pol_n * sizeof(float));
    assert_memory_equal(a->params + t->q_off, b->params + t->q_off,
                        t->q_n * sizeof(float));
    /* a block of the wrong size: refused, nothing copied */
    float keep = b->params[t->pol_off];
    m.snapshot.blocks[0].n--;
    a->params[t->pol_off] += 1.0f;
    assert_int_equal(snapshot_load_blocks(b, &m.snapshot), -1);
    assert_true(b->params[t->pol_off] == keep);
    m.snapshot.n_blocks = 1; /* critics missing */
    m.snapshot.blocks[0].n++;
    assert_int_equal(snapshot_load_blocks(b, &m.snapshot), -1);
    sac_destroy(&a);
    sac_destroy(&b);
}

static void test_msgbuf(void **state)
{
    (void)state;
    msgbuf b = {0};
    wire_msg m, in;
    wire_msg_init(&m, WIRE_CREDIT);
    m.credit.transitions = 7;
    size_t small = msgbuf_encode(&b, &m);
    assert_true(small > 0 && b.cap >= small);
    sac *a = pendulum_agent(1);
    wire_msg_init(&m, WIRE_SNAPSHOT);
    m.snapshot.version = 3;
    m.snapshot.obs_dim = 3;
    m.snapshot.act_dim = 1;
    snprintf(m.snapshot.run_id, sizeof m.snapshot.run_id, "r");
    wire_agent_from_config(&m.snapshot.agent, &a->cfg, 0.2f);
    snapshot_set_blocks(&m.snapshot, a);
    size_t big = msgbuf_encode(&b, &m);
    assert_true(big > small && b.cap >= big);
    wire_msg_init(&in, WIRE_NONE);
    assert_int_equal(wire_decode(b.p, big, NULL, &in, NULL, 0), WIRE_OK);
    assert_int_equal(in.type, WIRE_SNAPSHOT);
    assert_int_equal(in.snapshot.version, 3);
    wire_msg_release(&in);
    msgbuf_release(&b);
    assert_null(b.p);
    sac_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluation),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_snapshot_blocks),
        cmocka_unit_test(test_msgbuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
