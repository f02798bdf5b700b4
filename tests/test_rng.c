/* rng: streams reproduce and differ; uniform, below and normal draws have the
 * distribution they claim (bounds set at about 5 standard errors, so a wrong
 * scale, a lost factor or correlated pairs fail while a correct generator
 * passes for any seed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rng.h"
#include "util.h"

static void test_streams(void **state)
{
    (void)state;
    rng a, b, c, d;
    rng_init(&a, 7, RNG_STREAM_UPDATE);
    rng_init(&b, 7, RNG_STREAM_UPDATE);
    rng_init(&c, 7, RNG_STREAM_ACT);
    rng_init(&d, 8, RNG_STREAM_UPDATE);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_u64(&a);
        assert_true(x == rng_u64(&b));
        same_c += x == rng_u64(&c);
        same_d += x == rng_u64(&d);
    }
    assert_int_equal(same_c, 0);
    assert_int_equal(same_d, 0);
}

static void test_uniform_and_below(void **state)
{
    (void)state;
    rng r;
    rng_init(&r, 1, 2);
    enum { N = 1000000 };
    double s = 0.0;
    for (int i = 0; i < N; i++) {
        double u = rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        s += u;
    }
    assert_true(fabs(s / N - 0.5) < 5 * sqrt(1.0 / 12 / N));

    long cnt[10] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t k = rng_below(&r, 10);
        assert_true(k < 10);
        cnt[k]++;
    }
    double chi2 = 0.0;
    for (int k = 0; k < 10; k++)
        chi2 += (cnt[k] - N / 10.0) * (cnt[k] - N / 10.0) / (N / 10.0);
    assert_true(chi2 < 33.7); /* chi-square, 9 dof: p = 1e-4 */

    float f[1001];
    f[1000] = 42.0f;
    rng_uniform_fill(&r, f, 1000, -2.0f, 3.0f);
    for (int i = 0; i < 1000; i++)
        assert_true(f[i] >= -2.0f && f[i] <= 3.0f);
    assert_true(f[1000] == 42.0f);
}

/* Moments of n draws of rng_normal_fill with std sd. */
static void check_normal(rng *r, size_t n, float sd)
{
    float *x = xalloc_floats(n + 1);
    x[n] = 42.0f; /* canary: an odd n writes n values, not n + 1 */
    rng_normal_fill(r, x, n, sd);
    assert_true(x[n] == 42.0f);
    double m1 = 0, m2 = 0, m4 = 0, lag = 0, tail = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double z = x[i] / sd;
        assert_true(isfinite(z));
        m1 += z;
        m2 += z * z;
        m4 += z * z * z * z;
        tail += fabs(z) > 1.959964;
        mx = fmax(mx, fabs(z));
        if (i)
            lag += z * (x[i - 1] / sd);
    }
    double N = (double)n;
    assert_true(fabs(m1 / N) < 5 / sqrt(N));
    assert_true(fabs(m2 / N - 1.0) < 5 * sqrt(2.0 / N));
    assert_true(fabs(m4 / N - 3.0) < 5 * sqrt(96.0 / N));
    assert_true(fabs(tail / N - 0.05) < 5 * sqrt(0.05 * 0.95 / N));
    assert_true(fabs(lag / N) < 5 / sqrt(N)); /* the pair's two values too */
    assert_true(mx < 6.7 && mx > 4.0);
    free(x);
}

static void test_normal_fill(void **state)
{
    (void)state;
    rng r;
    rng_init(&r, 3, RNG_STREAM_UPDATE);
    check_normal(&r, 1000001, 1.0f);
    check_normal(&r, 400000, 0.25f);
    /* the same stream state gives the same values */
    rng a, b;
    rng_init(&a, 9, 1);
    b = a;
    float x[7], y[7];
    rng_normal_fill(&a, x, 7, 1.0f);
    rng_normal_fill(&b, y, 7, 1.0f);
    for (int i = 0; i < 7; i++)
        assert_true(x[i] == y[i]);
}

/* rng_normal_fill against the plain Box-Muller loop in double over the same
 * 64-bit draws, on every length 1..21: one draw per pair, cos then sin, an
 * odd length dropping the last pair's sine (the next draw follows). */
static void test_normal_fill_pairs(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 21; n++) {
        rng a, b;
        rng_init(&a, 13, n);
        b = a;
        float x[21];
        rng_normal_fill(&a, x, n, 0.5f);
        for (size_t i = 0; i < n; i += 2) {
            uint64_t u = rng_u64(&b);
            double u1 = (double)((u >> 32) + 1) * 0x1.0p-32;
            double th = (double)(u & 0xffffff) * 0x1.0p-24 * 6.283185307179586;
            double r = 0.5 * sqrt(-2.0 * log(u1));
            assert_float_equal(x[i], r * cos(th), 2e-6 * (1 + r));
            if (i + 1 < n)
                assert_float_equal(x[i + 1], r * sin(th), 2e-6 * (1 + r));
        }
        assert_true(rng_u64(&a) == rng_u64(&b));
    }
}

static void test_normal(void **state)
{
    (void)state;
    rng r;
    rng_init(&r, 5, 1);
    enum { N = 400000 };
    double m1 = 0, m2 = 0;
    for (int i = 0; i < N; i++) {
        double z = rng_normal(&r);
        m1 += z;
        m2 += z * z;
    }
    assert_true(fabs(m1 / N) < 5 / sqrt(N));
    assert_true(fabs(m2 / N - 1.0) < 5 * sqrt(2.0 / N));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_uniform_and_below),
        cmocka_unit_test(test_normal_fill),
        cmocka_unit_test(test_normal_fill_pairs),
        cmocka_unit_test(test_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
