/* Gradient checks for activations, the dense layer and MLPs; Adam and
 * Polyak against double-precision references. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fdcheck.h"
#include "nn.h"
#include "rng.h"
#include "util.h"

static void fill(float *x, size_t n, rng *r, float lo, float hi)
{
    rng_uniform_fill(r, x, n, lo, hi);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

// ---- activations ----
typedef struct act_ctx {
    act_kind k;
    float *x, *y, *r;
    size_t n;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    memcpy(c->y, c->x, c->n * sizeof(float));
    act_forward(c->y, c->n, c->k);
    return dot(c->y, c->r, c->n);
}

static void test_activations(void **state)
{
    (void)state;
    const act_kind kinds[] = {ACT_IDENTITY, ACT_RELU, ACT_ELU, ACT_TANH,
                              ACT_SIGMOID};
    const char *names[] = {"identity", "relu", "elu", "tanh", "sigmoid"};
    enum { N = 64 };
    float x[N], y[N], r[N], g[N];
    rng st;
    rng_init(&st, 7, 0);
    for (int k = 0; k < 5; k++) {
        fill(x, N, &st, -3.0f, 3.0f);
        for (int i = 0; i < N; i++) /* keep away from the ReLU/ELU kink */
            if (fabsf(x[i]) < 0.05f)
                x[i] = 0.5f;
        fill(r, N, &st, -1.0f, 1.0f);
        act_ctx c = {kinds[k], x, y, r, N};
        act_loss(&c);
        memcpy(g, r, sizeof g);
        act_backward(g, y, N, kinds[k]);
        fd_result res = fd_check(act_loss, &c, x, g, N, 1, 1e-3, 1e-6);
        fd_report(names[k], &res);
        assert_true(res.max_rel < 2e-3);
    }
}

static void test_activation_values(void **state)
{
    (void)state;
    float v[5] = {-1.0f, 0.0f, 2.0f, -30.0f, 30.0f};
    float e[5];
    memcpy(e, v, sizeof e);
    act_forward(e, 5, ACT_ELU);
    assert_float_equal(e[0], expm1f(-1.0f), 1e-7);
    assert_float_equal(e[2], 2.0f, 0);
    assert_float_equal(e[3], -1.0f, 1e-6);
    memcpy(e, v, sizeof e);
    act_forward(e, 5, ACT_SIGMOID);
    assert_float_equal(e[1], 0.5f, 1e-7);
    assert_true(e[3] >= 0.0f && e[3] < 1e-12f && e[4] == 1.0f);
    memcpy(e, v, sizeof e);
    act_forward(e, 5, ACT_RELU);
    assert_true(e[0] == 0.0f && e[2] == 2.0f);
}

// ---- dense layer ----
enum { DB = 5, DI = 7, DO = 4 };
typedef struct dense_ctx {
    float x[DB * DI], W[DO * DI], b[DO], y[DB * DO], R[DB * DO];
} dense_ctx;

static double dense_loss(void *p)
{
    dense_ctx *c = p;
    dense_forward(c->y, c->x, c->W, c->b, DB, DI, DO);
    return dot(c->y, c->R, DB * DO);
}

static void test_dense(void **state)
{
    (void)state;
    dense_ctx c;
    rng st;
    rng_init(&st, 3, 0);
    fill(c.x, DB * DI, &st, -1, 1);
    fill(c.W, DO * DI, &st, -1, 1);
    fill(c.b, DO, &st, -1, 1);
    fill(c.R, DB * DO, &st, -1, 1);
    float dW[DO * DI] = {0}, db[DO] = {0}, dx[DB * DI];
    dense_loss(&c);
    /* accumulate twice from zero: backward must add, not overwrite */
    dense_backward(dx, dW, db, c.R, c.x, c.W, DB, DI, DO, DI);
    dense_backward(NULL, dW, db, c.R, c.x, c.W, DB, DI, DO, DI);
    for (int i = 0; i < DO * DI; i++)
        dW[i] *= 0.5f;
    for (int i = 0; i < DO; i++)
        db[i] *= 0.5f;
    /* the loss is linear in each entry: a large step is exact */
    fd_result r = fd_check(dense_loss, &c, c.W, dW, DO * DI, 1, 0.1, 1e-6);
    fd_report("dense dW", &r);
    assert_true(r.max_rel < 1e-4);
    r = fd_check(dense_loss, &c, c.b, db, DO, 1, 0.1, 1e-6);
    fd_report("dense db", &r);
    assert_true(r.max_rel < 1e-4);
    r = fd_check(dense_loss, &c, c.x, dx, DB * DI, 1, 0.1, 1e-6);
    fd_report("dense dx", &r);
    assert_true(r.max_rel < 1e-4);

    /* a slice of a wider input row (ldx > I) */
    float wide[DB * 10], dwide[DB * 10];
    for (int b = 0; b < DB; b++)
        memcpy(wide + b * 10 + 3, c.x + b * DI, DI * sizeof(float));
    memset(dwide, 0, sizeof dwide);
    float dW2[DO * DI] = {0};
    dense_backward(dwide + 3, dW2, NULL, c.R, wide + 3, c.W, DB, DI, DO, 10);
    for (int b = 0; b < DB; b++)
        for (int i = 0; i < DI; i++)
            assert_float_equal(dwide[b * 10 + 3 + i], dx[b * DI + i], 1e-5);
    for (int i = 0; i < DO * DI; i++)
        assert_float_equal(dW2[i], dW[i], 1e-5);
}

// ---- MLP ----
typedef struct mlp_ctx {
    mlp net;
    mlp_cache c;
    float *block, *x, *R;
    int B;
} mlp_ctx;

static double mlp_loss(void *p)
{
    mlp_ctx *c = p;
    const float *y = mlp_forward(&c->net, c->block, &c->c, c->x, c->B);
    return dot(y, c->R, (size_t)c->B * c->net.dims[c->net.n_layers]);
}

static void check_mlp_out(act_kind hid, act_kind out, int n_out,
                          const char *label)
{
    mlp_ctx c;
    size_t off = 3; /* the net need not start at 0 in its block */
    mlp_init(&c.net, &off, 5, 9, 2, hid, n_out, out);
    c.B = 6;
    c.block = xalloc_floats(off);
    c.x = xalloc_floats((size_t)c.B * 5);
    c.R = xalloc_floats((size_t)c.B * n_out);
    float *g = xalloc_floats(off), *dx = xalloc_floats((size_t)c.B * 5);
    rng st;
    rng_init(&st, 11, hid * 10 + out);
    mlp_init_params(&c.net, c.block, &st);
    fill(c.x, (size_t)c.B * 5, &st, -2, 2);
    fill(c.R, (size_t)c.B * n_out, &st, -1, 1);
    mlp_cache_init(&c.c, &c.net, c.B);
    mlp_loss(&c);
    mlp_backward(&c.net, c.block, g, &c.c, c.x, c.R, dx, 5, c.B);
    assert_true(c.net.offset == 3 && c.net.n_params == off - 3);
    /* smooth nets take a larger step (less float noise); ReLU nets a small
     * one, so no unit crosses its kink */
    double h = (hid == ACT_RELU || out == ACT_RELU) ? 1e-3 : 1e-2;
    /* one output: a quarter of the loss's terms, so a smaller step (ELU's
     * curvature) and a floor at that scale (float noise) */
    double floor = 1e-3;
    if (n_out == 1) {
        h = 1e-3;
        floor = 3e-3;
    }
    fd_result r =
        fd_check(mlp_loss, &c, c.block + 3, g + 3, c.net.n_params, 1, h, floor);
    fd_report(label, &r);
    assert_true(r.max_rel < 1e-2);
    r = fd_check(mlp_loss, &c, c.x, dx, (size_t)c.B * 5, 1, h, floor);
    fd_report(label, &r);
    assert_true(r.max_rel < 1e-2);
    /* a wrong sign anywhere would show as a large directional error */
    double fd, an;
    double e = fd_check_dir(mlp_loss, &c, c.block + 3, g + 3, c.net.n_params,
                            1e-3, 5, &fd, &an);
    assert_true(e < 1e-2);
    mlp_cache_release(&c.c);
    free(c.block);
    free(c.x);
    free(c.R);
    free(g);
    free(dx);
}

static void check_mlp(act_kind hid, act_kind out, const char *label)
{
    check_mlp_out(hid, out, 4, label);
}

static void test_mlp(void **state)
{
    (void)state;
    /* one output (a critic): mlp_backward's outer product, the mask of the
     * layer below and its bias gradient in one pass (outer_act_sum) */
    check_mlp_out(ACT_RELU, ACT_IDENTITY, 1, "mlp relu/identity, 1 output");
    check_mlp_out(ACT_ELU, ACT_IDENTITY, 1, "mlp elu/identity, 1 output");
    check_mlp(ACT_RELU, ACT_IDENTITY, "mlp relu/identity");
    check_mlp(ACT_ELU, ACT_TANH, "mlp elu/tanh");
    check_mlp(ACT_ELU, ACT_SIGMOID, "mlp elu/sigmoid");
    check_mlp(ACT_TANH, ACT_IDENTITY, "mlp tanh/identity");
    check_mlp(ACT_SIGMOID, ACT_IDENTITY, "mlp sigmoid/identity");
}

static void test_init_bounds(void **state)
{
    (void)state;
    mlp net;
    size_t off = 0;
    mlp_init(&net, &off, 16, 64, 1, ACT_RELU, 2, ACT_IDENTITY);
    assert_int_equal(off, 16 * 64 + 64 + 64 * 2 + 2);
    float *blk = xalloc_floats(off);
    rng st;
    rng_init(&st, 1, 1);
    mlp_init_params(&net, blk, &st);
    for (size_t i = 0; i < 16 * 64 + 64; i++)
        assert_true(fabsf(blk[i]) <= 0.25f);
    for (size_t i = 16 * 64 + 64; i < off; i++)
        assert_true(fabsf(blk[i]) <= 0.125f);
    free(blk);
}

static void test_adam_polyak(void **state)
{
    (void)state;
    adam opt = {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    float p[3] = {1, -2, 0.5f}, m[3] = {0}, v[3] = {0};
    double pd[3] = {1, -2, 0.5}, md[3] = {0}, vd[3] = {0};
    for (long t = 1; t <= 5; t++) {
        float g[3] = {0.3f * (float)t, -1.0f, 1e-3f};
        adam_step(&opt, p, g, m, v, 3, t);
        for (int i = 0; i < 3; i++) {
            md[i] = 0.9 * md[i] + 0.1 * g[i];
            vd[i] = 0.999 * vd[i] + 0.001 * (double)g[i] * g[i];
            double mh = md[i] / (1 - pow(0.9, t));
            double vh = vd[i] / (1 - pow(0.999, t));
            pd[i] -= 0.01 * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (int i = 0; i < 3; i++)
        assert_float_equal(p[i], pd[i], 1e-5);
    float tg[2] = {1, 2}, src[2] = {3, -2};
    polyak_update(tg, src, 2, 0.25f);
    assert_float_equal(tg[0], 1.5f, 1e-6);
    assert_float_equal(tg[1], 1.0f, 1e-6);
}

// ---- naive references beside the fast paths ----
/* Plain-loop activation in double, the reference of act_forward. */
static double act_ref(double x, act_kind k)
{
    switch (k) {
    case ACT_RELU:
        return x > 0 ? x : 0;
    case ACT_ELU:
        return x > 0 ? x : expm1(x);
    case ACT_TANH:
        return tanh(x);
    case ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    default:
        return x;
    }
}

/* Plain-loop MLP forward in double: y (B, out) from x (B, in). */
static void mlp_forward_ref(const mlp *net, const float *block, const float *x,
                            int B, double *y)
{
    double a[64], t[64];
    for (int r = 0; r < B; r++) {
        int ni = net->dims[0];
        for (int i = 0; i < ni; i++)
            a[i] = x[(size_t)r * ni + i];
        for (int l = 0; l < net->n_layers; l++) {
            int no = net->dims[l + 1];
            const float *W = block + net->w_off[l], *b = block + net->b_off[l];
            for (int o = 0; o < no; o++) {
                double s = b[o];
                for (int i = 0; i < ni; i++)
                    s += (double)W[(size_t)o * ni + i] * a[i];
                t[o] = act_ref(s, net->act[l]);
            }
            memcpy(a, t, (size_t)no * sizeof *a);
            ni = no;
        }
        for (int o = 0; o < ni; o++)
            y[(size_t)r * ni + o] = a[o];
    }
}

/* mlp_forward (one BLAS call per layer: sgemv at B = 1, sgemm above, the
 * AVX2 ELU on widths past 8) against the plain loop, on 1 and 2 BLAS
 * threads (nn_set_threads). */
static void test_mlp_forward_reference(void **state)
{
    (void)state;
    const act_kind hid[3] = {ACT_RELU, ACT_ELU, ACT_TANH};
    const act_kind out[3] = {ACT_IDENTITY, ACT_TANH, ACT_SIGMOID};
    const int batches[3] = {1, 7, 33};
    assert_non_null(nn_blas_core());
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_threads(threads);
        for (int k = 0; k < 3; k++)
            for (int bi = 0; bi < 3; bi++) {
                int B = batches[bi];
                mlp net;
                size_t off = 5;
                mlp_init(&net, &off, 11, 37, 2, hid[k], 6, out[k]);
                float *block = xalloc_floats(off);
                float *x = xalloc_floats((size_t)B * 11);
                double *ref = malloc((size_t)B * 6 * sizeof *ref);
                rng st;
                rng_init(&st, 21, (uint64_t)(k * 10 + bi));
                mlp_init_params(&net, block, &st);
                fill(x, (size_t)B * 11, &st, -3, 3);
                mlp_cache c;
                mlp_cache_init(&c, &net, B);
                const float *y = mlp_forward(&net, block, &c, x, B);
                mlp_forward_ref(&net, block, x, B, ref);
                for (int i = 0; i < B * 6; i++)
                    if (fabs(y[i] - ref[i]) > 1e-5 * (1 + fabs(ref[i])))
                        fail_msg(
                            "threads %d act %d B %d: y[%d] = %.9g, reference %.9g",
                            threads, k, B, i, (double)y[i], ref[i]);
                mlp_cache_release(&c);
                free(block);
                free(x);
                free(ref);
            }
    }
    nn_set_threads(1);
}

/* act_forward on every length 1..40 (AVX2 body of 8 and scalar tail) and
 * act_forward_add, against the plain loop. */
static void test_activation_lengths(void **state)
{
    (void)state;
    const act_kind kinds[4] = {ACT_RELU, ACT_ELU, ACT_TANH, ACT_SIGMOID};
    float x[40], y[40], add[8];
    rng st;
    rng_init(&st, 23, 0);
    for (int k = 0; k < 4; k++)
        for (size_t n = 1; n <= 40; n++) {
            fill(x, n, &st, -12, 4);
            memcpy(y, x, n * sizeof *y);
            act_forward(y, n, kinds[k]);
            for (size_t i = 0; i < n; i++) {
                double r = act_ref(x[i], kinds[k]);
                if (fabs(y[i] - r) > 2e-7 * (1 + fabs(r)))
                    fail_msg("act %d n %zu: y[%zu] = %.9g, reference %.9g", k,
                             n, i, (double)y[i], r);
            }
        }
    /* 5 rows of 8 columns plus a bias row */
    fill(x, 40, &st, -6, 3);
    fill(add, 8, &st, -1, 1);
    memcpy(y, x, sizeof y);
    act_forward_add(y, add, 5, 8, 0, ACT_ELU);
    for (int i = 0; i < 40; i++)
        assert_float_equal(y[i], act_ref((double)x[i] + add[i % 8], ACT_ELU),
                           2e-7 * (1 + fabs(y[i])));
}

/* Adam on every length 1..19 and 67 (the AVX body of 8 and the scalar
 * tail), five steps, against the same update in double: m, v and p. */
static void test_adam_lengths(void **state)
{
    (void)state;
    adam opt = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    enum { NMAX = 67 };
    float p[NMAX], m[NMAX], v[NMAX], g[NMAX];
    double pd[NMAX], md[NMAX], vd[NMAX];
    rng st;
    rng_init(&st, 29, 0);
    for (size_t n = 1; n <= NMAX; n = n == 19 ? NMAX : n + 1) {
        fill(p, n, &st, -1, 1);
        memset(m, 0, sizeof m);
        memset(v, 0, sizeof v);
        for (size_t i = 0; i < n; i++) {
            pd[i] = p[i];
            md[i] = vd[i] = 0;
        }
        for (long t = 1; t <= 5; t++) {
            fill(g, n, &st, -2, 2);
            adam_step(&opt, p, g, m, v, n, t);
            for (size_t i = 0; i < n; i++) {
                md[i] = 0.9 * md[i] + 0.1 * g[i];
                vd[i] = 0.999 * vd[i] + 0.001 * (double)g[i] * g[i];
                double mh = md[i] / (1 - pow(0.9, (double)t));
                double vh = vd[i] / (1 - pow(0.999, (double)t));
                pd[i] -= 3e-3 * mh / (sqrt(vh) + 1e-8);
            }
            for (size_t i = 0; i < n; i++)
                if (fabs(m[i] - md[i]) > 1e-6 || fabs(v[i] - vd[i]) > 1e-6 ||
                    fabs(p[i] - pd[i]) > 1e-6)
                    fail_msg(
                        "n %zu step %ld: [%zu] p %.9g m %.9g v %.9g, reference %.9g %.9g %.9g",
                        n, t, i, (double)p[i], (double)m[i], (double)v[i],
                        pd[i], md[i], vd[i]);
        }
    }
}

/* Error of y in units in the last place of the float nearest r. */
static double ulps(float y, double r)
{
    float rf = (float)r;
    double u = (double)nextafterf(fabsf(rf), INFINITY) - fabsf(rf);
    return fabs((double)y - r) / u;
}

/* The vector paths picked at run time (nn.c): the AVX2 ELU, tanh and
 * sigmoid within 1, 3 and 3 ulp of the double reference on a dense grid over
 * [-30, 30] and at the edges (0, tiny, the clamps at -87 and 88), the
 * scalar loops (nn_set_simd(0)) as well; the AVX Adam bit for bit equal to
 * the scalar loop. On a CPU with AVX2 the vector path must be the one that
 * runs, whatever the build's -march. */
static void test_simd_paths(void **state)
{
    (void)state;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        assert_string_equal(nn_simd_name(), "avx2");
#endif
    enum { NG = 120001, NE = 16 };
    static float x[NG + NE], y[NG + NE];
    const float edge[NE] = {0.0f,        -0.0f,       1e-30f, -1e-30f,
                            1e-6f,       -1e-6f,      1.0f,   -1.0f,
                            0.99999994f, -1.0000001f, 86.9f,  -86.9f,
                            88.5f,       -88.5f,      100.0f, -100.0f};
    size_t n = 0;
    for (int i = 0; i < NG; i++)
        x[n++] = -30.0f + 60.0f * (float)i / (NG - 1);
    for (int i = 0; i < NE; i++)
        x[n++] = edge[i];
    const act_kind kinds[3] = {ACT_ELU, ACT_TANH, ACT_SIGMOID};
    const double max_ulps[3] = {1.0, 3.0, 3.0}; /* libm: 0.7, 1.8, 2.2 */
    for (int on = 0; on <= 1; on++) {
        nn_set_simd(on);
        for (int k = 0; k < 3; k++) {
            memcpy(y, x, n * sizeof *y);
            act_forward(y, n, kinds[k]);
            double worst = 0.0;
            size_t at = 0;
            for (size_t i = 0; i < n; i++) {
                double r = act_ref(x[i], kinds[k]);
                /* below the smallest normal float, absolute error */
                double e = fabs(r) < 1e-37 ? (fabs(y[i] - r) < 1e-37 ? 0 : 1e9)
                                           : ulps(y[i], r);
                if (e > worst) {
                    worst = e;
                    at = i;
                }
            }
            print_message("simd %d act %d: worst %.2f ulp at x = %.9g\n", on, k,
                          worst, (double)x[at]);
            if (worst > max_ulps[k])
                fail_msg(
                    "simd %d act %d: %.2f ulp at x = %.9g (y %.9g, reference %.9g)",
                    on, k, worst, (double)x[at], (double)y[at],
                    act_ref(x[at], kinds[k]));
        }
    }
    /* ELU's derivative from its output: both paths, same bits (the vector
     * min(y + 1, 1) against the scalar y > 0 ? 1 : y + 1), on the grid's
     * ELU outputs and the edges */
    {
        static float d[2][NG + NE];
        memcpy(y, x, n * sizeof *y);
        act_forward(y, n, ACT_ELU);
        for (int on = 0; on <= 1; on++) {
            nn_set_simd(on);
            for (size_t i = 0; i < n; i++)
                d[on][i] = 0.5f + x[i];
            act_backward(d[on], y, n, ACT_ELU);
        }
        assert_memory_equal(d[0], d[1], n * sizeof d[0][0]);
    }
    /* Adam: both paths, same inputs, same bits */
    adam opt = {.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    enum { NA = 1003 };
    static float p[2][NA], m[2][NA], v[2][NA], g[NA];
    rng st;
    rng_init(&st, 31, 0);
    fill(p[0], NA, &st, -1, 1);
    memcpy(p[1], p[0], sizeof p[0]);
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    for (long t = 1; t <= 4; t++) {
        fill(g, NA, &st, -3, 3);
        for (int on = 0; on <= 1; on++) {
            nn_set_simd(on);
            adam_step(&opt, p[on], g, m[on], v[on], NA, t);
        }
        assert_memory_equal(p[0], p[1], sizeof p[0]);
        assert_memory_equal(m[0], m[1], sizeof m[0]);
        assert_memory_equal(v[0], v[1], sizeof v[0]);
    }
    nn_set_simd(1);
}

/* Polyak averaging on every length 1..35 against the plain loop in double. */
static void test_polyak_lengths(void **state)
{
    (void)state;
    float tg[35], src[35];
    double ref[35];
    rng st;
    rng_init(&st, 31, 0);
    for (size_t n = 1; n <= 35; n++) {
        fill(tg, n, &st, -4, 4);
        fill(src, n, &st, -4, 4);
        for (size_t i = 0; i < n; i++)
            ref[i] = 0.995 * tg[i] + 0.005 * src[i];
        polyak_update(tg, src, n, 0.005f);
        for (size_t i = 0; i < n; i++)
            assert_float_equal(tg[i], ref[i], 1e-6);
    }
}

// ---- bf16 products (--precision bf16) ----
/* x rounded to bf16, round to nearest even, as the conversion does */
static double bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    float y;
    memcpy(&y, &u, 4);
    return y;
}

/* out[i * ldo + j] vs sum_k a(i, k) b(k, j) in double, with the operands
 * rounded to bf16 (round) or not; the worst error over sum_k |a b| */
typedef struct prod_view {
    const float *A, *B;
    int lda, ldb, ta, tb; /* A (M, K) or stored (K, M); B (K, N) or (N, K) */
} prod_view;

static double prod_err(const float *out, int ldo, const float *base,
                       const prod_view *v, int M, int N, int K, int round)
{
    double worst = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = base ? base[(size_t)i * ldo + j] : 0.0, mag = 1e-30;
            for (int k = 0; k < K; k++) {
                float a = v->ta ? v->A[(size_t)k * v->lda + i]
                                : v->A[(size_t)i * v->lda + k];
                float b = v->tb ? v->B[(size_t)j * v->ldb + k]
                                : v->B[(size_t)k * v->ldb + j];
                double p = round ? bf16(a) * bf16(b) : (double)a * b;
                s += p;
                mag += fabs(p);
            }
            worst = fmax(worst, fabs(out[(size_t)i * ldo + j] - s) / mag);
        }
    return worst;
}

/* nn_set_bf16(1): each layer product (forward x W^T, weight gradient
 * dy^T x, input gradient dy W, odd K, strided rows, onto a bias) equals the
 * product of the bf16-rounded operands up to fp32 summation, and differs
 * from the fp32 product by bf16's rounding: the bf16 path ran. Skipped on a
 * CPU or build without it (nn_bf16_available says why). */
static void test_bf16_products(void **state)
{
    (void)state;
    char why[400];
    if (!nn_bf16_available(why, sizeof why)) {
        print_message("bf16 products skipped: %s\n", why);
        skip();
    }
    enum { B = 37, I = 45, O = 41, LD = 49 }; /* odd K, >= 32 and not */
    static float x[B * LD], W[O * I], bias[O], y[B * O], dy[B * O];
    static float dW[O * I], dW0[O * I], dx[B * LD];
    rng st;
    rng_init(&st, 11, 0);
    fill(x, B * LD, &st, -1, 1);
    fill(W, O * I, &st, -1, 1);
    fill(bias, O, &st, -1, 1);
    fill(dy, B * O, &st, -1, 1);
    fill(dW0, O * I, &st, -1, 1);
    const double fp32_sum = 4e-6;   /* fp32 summation of <= 45 terms */
    const double bf16_round = 4e-3; /* two roundings of 2^-9 each, at most */
    for (int on = 1; on >= 0; on--) {
        nn_set_bf16(on);
        /* forward onto a bias (dense_forward_acc) */
        float yb[B * O];
        for (int r = 0; r < B; r++)
            memcpy(yb + r * O, bias, sizeof bias);
        /* the forward's input: x's first I columns, rows contiguous */
        float xc[B * I];
        for (int r = 0; r < B; r++)
            memcpy(xc + r * I, x + r * LD, I * sizeof(float));
        memcpy(y, yb, sizeof yb);
        dense_forward_acc(y, xc, W, I, 1.0f, B, I, O);
        prod_view f = {xc, W, I, I, 0, 1};
        double er = prod_err(y, O, yb, &f, B, O, I, 1);
        double ef = prod_err(y, O, yb, &f, B, O, I, 0);
        /* backward: dW += dy^T x (x strided), dx = dy W (strided) */
        memcpy(dW, dW0, sizeof dW);
        memset(dx, 0, sizeof dx);
        dense_backward(dx, dW, NULL, dy, x, W, B, I, O, LD);
        prod_view g = {dy, x, O, LD, 1, 0};
        double gr = prod_err(dW, I, dW0, &g, O, I, B, 1);
        double gf = prod_err(dW, I, dW0, &g, O, I, B, 0);
        prod_view d = {dy, W, O, I, 0, 0};
        double dr = prod_err(dx, LD, NULL, &d, B, I, O, 1);
        double df = prod_err(dx, LD, NULL, &d, B, I, O, 0);
        print_message(
            "bf16 %s: forward %.1e / %.1e, dW %.1e / %.1e, dx %.1e / %.1e (vs bf16-rounded / fp32 operands)\n",
            on ? "on" : "off", er, ef, gr, gf, dr, df);
        if (on) {
            assert_true(er < fp32_sum && gr < fp32_sum && dr < fp32_sum);
            assert_true(ef > fp32_sum && gf > fp32_sum && df > fp32_sum);
            assert_true(ef < bf16_round && gf < bf16_round && df < bf16_round);
        } else {
            assert_true(ef < fp32_sum && gf < fp32_sum && df < fp32_sum);
        }
    }
    nn_bf16_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_activation_values),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_mlp),
        cmocka_unit_test(test_init_bounds),
        cmocka_unit_test(test_adam_polyak),
        cmocka_unit_test(test_mlp_forward_reference),
        cmocka_unit_test(test_activation_lengths),
        cmocka_unit_test(test_adam_lengths),
        cmocka_unit_test(test_polyak_lengths),
        cmocka_unit_test(test_simd_paths),
        cmocka_unit_test(test_bf16_products),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
