/* test_guard.c - learner/guard.c: the running statistics against a plain
 * two-pass computation, the reference without a source's own rows, the
 * warm-up, refusal beyond sigma, strikes to quarantine, and the suspect of
 * a rolled-back batch. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "rng.h"

#define OD 3

/* An honest row: reward ~ N(-5, 2), obs ~ N(k, 1 + k). */
static void honest(rng *r, float *obs, float *reward)
{
    *reward = (float)(-5.0 + 2.0 * rng_normal(r));
    for (int k = 0; k < OD; k++)
        obs[k] = (float)(k + (1 + k) * rng_normal(r));
}

static void feed(guard *g, int tag, rng *r, int n)
{
    float obs[OD], rew;
    guard_begin(g, tag);
    for (int i = 0; i < n; i++) {
        honest(r, obs, &rew);
        guard_add(g, tag, obs, rew, guard_z(g, obs, obs, rew));
    }
}

/* Welford per source and pooled equal the two-pass mean and variance; the
 * pool without a source equals the statistics of the others' rows. */
static void test_stats_exact(void **state)
{
    (void)state;
    guard *g = guard_new(OD, 50, 10, 32);
    int a = guard_tag(g, "a"), b = guard_tag(g, "b");
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_int_equal(guard_tag(g, "a"), 1);
    float rows[300][1 + OD];
    rng r;
    rng_init(&r, 3, 0);
    for (int i = 0; i < 300; i++) {
        honest(&r, rows[i] + 1, rows[i]);
        if (i >= 200) /* b's rows on another scale */
            rows[i][0] = rows[i][0] * 10.0f + 100.0f;
        guard_add(g, i < 200 ? a : b, rows[i] + 1, rows[i][0], 0.0);
    }
    double m = 0, v = 0;
    for (int i = 200; i < 300; i++)
        m += rows[i][0];
    m /= 100;
    for (int i = 200; i < 300; i++)
        v += (rows[i][0] - m) * (rows[i][0] - m);
    guard_source *sb = guard_source_of(g, b);
    assert_true(fabs(sb->st.mean[0] - m) < 1e-9 * fabs(m));
    assert_true(fabs(sb->st.m2[0] - v) < 1e-9 * v);
    assert_int_equal((int)g->pool.n, 300);
    /* the reference for b is a's rows alone */
    guard_begin(g, b);
    double ma = 0, va = 0;
    for (int i = 0; i < 200; i++)
        ma += rows[i][0];
    ma /= 200;
    for (int i = 0; i < 200; i++)
        va += (rows[i][0] - ma) * (rows[i][0] - ma);
    assert_true(g->ref_on);
    assert_true(fabs(g->ref.mean[0] - ma) < 1e-9);
    float lo = rows[0][0], hi = rows[0][0];
    for (int i = 0; i < 200; i++) {
        lo = fminf(lo, rows[i][0]);
        hi = fmaxf(hi, rows[i][0]);
    }
    assert_true(g->ref.lo[0] == lo && g->ref.hi[0] == hi);
    /* the unit: the deviation, or a quarter of the range when larger */
    assert_true(
        fabs(g->ref_sd[0] - fmax(sqrt(va / 200),
                                 0.25 * (g->ref.hi[0] - g->ref.lo[0]))) < 1e-9);
    guard_destroy(&g);
    assert_null(g);
}

/* Before `warmup` reference rows nothing is refused; after, honest rows
 * pass (at most a little outside the range seen) and 9.9e5 rewards, 9e5
 * observations and a slow drift are refused at the first step past sigma
 * beyond the range. */
static void test_refuse_beyond_sigma(void **state)
{
    (void)state;
    guard *g = guard_new(OD, 20, 500, 32);
    int a = guard_tag(g, "honest"), h = guard_tag(g, "hostile");
    rng r;
    rng_init(&r, 5, 0);
    float obs[OD] = {0, 1, 2}, big[OD] = {0, 9e5f, 2};
    guard_begin(g, h);
    assert_false(guard_refuses(g, guard_z(g, obs, obs, 9.9e5f)));
    feed(g, a, &r, 2000);
    guard_begin(g, a);
    double zmax = 0;
    for (int i = 0; i < 2000; i++) {
        float o[OD], rew;
        honest(&r, o, &rew);
        zmax = fmax(zmax, guard_z(g, o, o, rew));
    }
    assert_true(zmax < 2);
    guard_begin(g, h);
    assert_true(guard_refuses(g, guard_z(g, obs, obs, 9.9e5f)));
    assert_true(guard_refuses(g, guard_z(g, big, obs, -5.0f)));
    assert_true(guard_refuses(g, guard_z(g, obs, big, -5.0f)));
    /* a drift taken row by row into the hostile source's statistics: the
     * reference (the others) does not follow, so it stops 20 sd past the
     * largest honest reward */
    float x = -5.0f;
    int taken = 0;
    for (; x < 9.9e5f; x += 0.5f) {
        guard_begin(g, h);
        double z = guard_z(g, obs, obs, x);
        if (guard_refuses(g, z))
            break;
        guard_add(g, h, obs, x, z);
        taken++;
    }
    guard_begin(g, h);
    double top = g->ref.hi[0], sd = g->ref_sd[0];
    assert_true(sd >= 0.25 * (top - g->ref.lo[0]) && sd > 2 && sd < 5);
    assert_true(x > top + 20 * sd &&
                x < top + 20 * sd + 0.6); /* steps of 0.5 */
    assert_true(taken > 50);
    guard_destroy(&g);
}

/* A reference of one row sent over and over (a hundred fake ids): its
 * spread is 0, yet an honest actor's ordinary values pass (the unit is at
 * least GUARD_UNIT_FLOOR) while the poison of 9e5 is still refused. */
static void test_constant_reference(void **state)
{
    (void)state;
    guard *g = guard_new(OD, 50, 500, 32);
    int fake = guard_tag(g, "fake"), real = guard_tag(g, "real");
    float same[OD] = {0.1f, 0.2f, 0.3f};
    guard_begin(g, fake);
    for (int i = 0; i < 2000; i++)
        guard_add(g, fake, same, -1.0f, guard_z(g, same, same, -1.0f));
    rng r;
    rng_init(&r, 9, 0);
    guard_begin(g, real);
    double zmax = 0;
    for (int i = 0; i < 2000; i++) {
        float o[OD], rew;
        honest(&r, o, &rew);
        zmax = fmax(zmax, guard_z(g, o, o, rew));
    }
    assert_false(guard_refuses(g, zmax));
    float big[OD] = {0, 9e5f, 0};
    assert_true(guard_refuses(g, guard_z(g, big, same, -1.0f)));
    assert_true(guard_refuses(g, guard_z(g, same, same, 9.9e5f)));
    guard_destroy(&g);
}

/* Strikes decay; 32 refusals in a burst quarantine, one per batch never does;
 * a quarantined source's rows leave the pool. */
static void test_quarantine(void **state)
{
    (void)state;
    guard *g = guard_new(OD, 20, 100, 32);
    int a = guard_tag(g, "a"), b = guard_tag(g, "b");
    rng r;
    rng_init(&r, 7, 0);
    feed(g, a, &r, 500);
    feed(g, b, &r, 500);
    guard_begin(g, a); /* judged by b's rows */
    assert_true(g->ref_others);
    for (int i = 0; i < 200; i++) /* one refusal per 64-row batch */
        assert_int_equal(guard_strike(g, a, 64, 1, 25.0), 0);
    assert_false(guard_source_of(g, a)->quarantined);
    assert_true(guard_source_of(g, a)->strikes < 17); /* 1 / (1 - e^-0.064) */
    guard_begin(g, b);
    assert_int_equal(guard_strike(g, b, 64, 20, 1e5), 0);
    assert_int_equal(guard_strike(g, b, 64, 20, 1e5), 1);
    assert_true(guard_source_of(g, b)->quarantined);
    assert_int_equal(g->n_quarantined, 1);
    assert_int_equal((int)g->pool.n, 500);
    assert_int_equal(guard_strike(g, b, 64, 64, 1e5), 0); /* once */
    /* a source of 3e38 rewards leaves the pool as it was, exactly: the
     * others' spread survives (a subtraction of moments would cancel it) */
    double m0 = g->pool.mean[0], v0 = g->pool.m2[0];
    int c = guard_tag(g, "c");
    float obs[OD] = {0, 1, 2};
    for (int i = 0; i < 64; i++)
        guard_add(g, c, obs, 3e38f, 0.0);
    assert_true(g->pool.mean[0] > 1e37);
    guard_quarantine(g, c);
    assert_true(fabs(g->pool.mean[0] - m0) < 1e-9 * fabs(m0));
    assert_true(fabs(g->pool.m2[0] - v0) < 1e-9 * v0);
    /* a's reference: no one else is left, so the whole pool (a's rows);
     * refusals on its own data never quarantine the last source */
    guard_begin(g, a);
    assert_true(g->ref_on && !g->ref_others);
    for (int i = 0; i < 10; i++)
        assert_int_equal(guard_strike(g, a, 64, 64, 1e3), 0);
    assert_false(guard_source_of(g, a)->quarantined);
    assert_true(fabs(g->ref.mean[0] - guard_source_of(g, a)->st.mean[0]) <
                1e-9);
    guard_destroy(&g);
}

/* A rolled-back batch's suspect: the row beyond sigma from the others'
 * data, with its index; none when every row is honest. */
static void test_suspect(void **state)
{
    (void)state;
    guard *g = guard_new(OD, 20, 100, 32);
    int a = guard_tag(g, "a"), h = guard_tag(g, "h");
    rng r;
    rng_init(&r, 9, 0);
    feed(g, a, &r, 1000);
    float obs[8 * OD], rew[8];
    uint16_t tag[8];
    for (int i = 0; i < 8; i++) {
        honest(&r, obs + i * OD, rew + i);
        tag[i] = (uint16_t)a;
    }
    double z;
    assert_int_equal(guard_suspect(g, 8, obs, obs, rew, tag, &z), -1);
    rew[5] = 3e38f;
    tag[5] = (uint16_t)h;
    assert_int_equal(guard_suspect(g, 8, obs, obs, rew, tag, &z), 5);
    assert_true(z > 1e30);
    guard_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_exact),
        cmocka_unit_test(test_refuse_beyond_sigma),
        cmocka_unit_test(test_constant_reference),
        cmocka_unit_test(test_quarantine),
        cmocka_unit_test(test_suspect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
