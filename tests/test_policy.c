/* The tanh-Gaussian head: stable log-probability, deterministic mean, and
 * its backward against finite differences; the network block layout. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fdcheck.h"
#include "policy.h"
#include "util.h"

enum { B = 4, DA = 3 };

/* log N(u; mu, s) - log(1 - tanh(u)^2) in long double, the naive way */
static double ref_logp(double mu, double ls, double xi)
{
    double s = exp(ls), u = mu + s * xi;
    long double t = tanhl((long double)u);
    return -0.5 * xi * xi - ls - 0.5 * log(2 * M_PI) -
           (double)logl(1.0L - t * t);
}

static void test_logp_reference(void **state)
{
    (void)state;
    float out[B * 2 * DA], xi[B * DA], a0[B * DA], std[B * DA], lp[B];
    rng r;
    rng_init(&r, 5, 0);
    rng_uniform_fill(&r, out, B * 2 * DA, -1.5f, 1.0f);
    rng_normal_fill(&r, xi, B * DA, 1.0f);
    policy_head(a0, std, lp, out, xi, B, DA);
    for (int b = 0; b < B; b++) {
        double want = 0.0;
        for (int i = 0; i < DA; i++) {
            double mu = out[b * 2 * DA + i], ls = out[b * 2 * DA + DA + i];
            want += ref_logp(mu, ls, xi[b * DA + i]);
            assert_float_equal(a0[b * DA + i],
                               tanh(mu + exp(ls) * xi[b * DA + i]), 1e-6);
            assert_float_equal(std[b * DA + i], exp(ls), 1e-6);
        }
        assert_float_equal(lp[b], want, 1e-4);
    }
}

static void test_logp_stable(void **state)
{
    (void)state;
    /* |u| = 15: 1 - tanh^2 underflows in float, the stable form does not */
    float out[2] = {15.0f, -2.0f}, xi[1] = {0.0f}, a0[1], std[1], lp[1];
    policy_head(a0, std, lp, out, xi, 1, 1);
    assert_true(isfinite(lp[0]));
    /* -log(1 - tanh(u)^2) = 2 (u + log(1 + e^{-2u}) - log 2) */
    double want =
        2.0 - 0.5 * log(2 * M_PI) + 2.0 * (15.0 + log1p(exp(-30.0)) - log(2.0));
    assert_float_equal(lp[0], want, 1e-4);
    out[0] = -15.0f;
    policy_head(a0, std, lp, out, xi, 1, 1);
    assert_float_equal(lp[0], want, 1e-4);
    /* log_std is clamped to [-20, 2] */
    float o2[2] = {0.0f, 9.0f}, x2[1] = {1.0f};
    policy_head(a0, std, lp, o2, x2, 1, 1);
    assert_float_equal(std[0], expf(2.0f), 1e-5);
}

static void test_deterministic(void **state)
{
    (void)state;
    float out[2 * DA] = {0.3f, -2.0f, 0.0f, 1.0f, 1.0f, 1.0f};
    float a0[DA], std[DA];
    policy_head(a0, std, NULL, out, NULL, 1, DA);
    for (int i = 0; i < DA; i++)
        assert_float_equal(a0[i], tanhf(out[i]), 1e-7);
}

typedef struct head_ctx {
    float out[B * 2 * DA], xi[B * DA], c[B * DA];
    float w;
} head_ctx;

static double head_loss(void *p)
{
    head_ctx *h = p;
    float a0[B * DA], std[B * DA], lp[B];
    policy_head(a0, std, lp, h->out, h->xi, B, DA);
    double l = 0.0;
    for (int i = 0; i < B * DA; i++)
        l += (double)h->c[i] * a0[i];
    for (int b = 0; b < B; b++)
        l += (double)h->w * lp[b];
    return l;
}

static void test_head_backward(void **state)
{
    (void)state;
    head_ctx h;
    rng r;
    rng_init(&r, 9, 0);
    rng_uniform_fill(&r, h.out, B * 2 * DA, -1.0f, 1.0f);
    h.out[DA] = 3.0f; /* clamped log_std: no gradient */
    h.out[DA + 1] = -25.0f;
    rng_normal_fill(&r, h.xi, B * DA, 1.0f);
    rng_uniform_fill(&r, h.c, B * DA, -1.0f, 1.0f);
    h.w = 0.7f;
    float a0[B * DA], std[B * DA], dout[B * 2 * DA];
    policy_head(a0, std, NULL, h.out, h.xi, B, DA);
    policy_head_backward(dout, h.c, h.w, h.out, a0, std, h.xi, B, DA);
    assert_true(dout[DA] == 0.0f && dout[DA + 1] == 0.0f);
    fd_result res =
        fd_check(head_loss, &h, h.out, dout, B * 2 * DA, 1, 1e-2, 1e-3);
    fd_report("policy head", &res);
    assert_true(res.max_rel < 5e-3);
}

static void test_layout(void **state)
{
    (void)state;
    hpo_nets n;
    hpo_nets_init(&n, 17, 6, 2, 256, 2, 256, 32, 1);
    assert_int_equal(n.h_in, 17 + 12);
    assert_int_equal(n.pol_off, 0);
    assert_int_equal(n.th.offset, n.pi.n_params);
    assert_int_equal(n.q_off, n.pol_n);
    assert_int_equal(n.pol_n, n.pi.n_params + n.th.n_params + n.sh.n_params);
    assert_int_equal(n.q_n, n.q1.n_params + n.q2.n_params);
    assert_int_equal(n.n_params, n.pol_n + n.q_n);
    /* 17-256-256-12 policy and 23-256-256-1 critics */
    assert_int_equal(n.pi.n_params,
                     17 * 256 + 256 + 256 * 256 + 256 + 256 * 12 + 12);
    assert_int_equal(n.q1.n_params, 23 * 256 + 256 + 256 * 256 + 256 + 257);
    hpo_nets_init(&n, 17, 6, 1, 256, 2, 256, 64, 0);
    assert_int_equal(n.h_in, 12);
    assert_int_equal(n.th.dims[1], 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logp_reference),
        cmocka_unit_test(test_logp_stable),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_head_backward),
        cmocka_unit_test(test_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
