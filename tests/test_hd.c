/* Hamiltonian dynamics: tempering constants, the volume of one leapfrog map,
 * and the critics' action-gradient. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fdcheck.h"
#include "hd.h"
#include "util.h"

static void test_tempering_values(void **state)
{
    (void)state;
    double c[3];
    /* beta0 = 4 (std 0.5): sqrt(beta_k) = 1 / (0.5 k^2/9 + 0.5) */
    hd_tempering(c, 3, 4.0, HD_TEMPER_FORMULA);
    assert_float_equal(c[0], 2.0 / 1.8, 1e-12);
    assert_float_equal(c[1], 1.8 / (1.0 / (0.5 * 4.0 / 9.0 + 0.5)), 1e-12);
    assert_float_equal(c[2], 1.0 / (0.5 * 4.0 / 9.0 + 0.5), 1e-12);
    /* product telescopes to sqrt(beta0 / beta_K) = sqrt(beta0): beta_K = 1 */
    assert_float_equal(c[0] * c[1] * c[2], 2.0, 1e-12);
    /* beta0 = 0.25 (std 2, beta0 < 1): sqrt(beta_k) = 1 / (-k^2/9 + 2) */
    hd_tempering(c, 3, 0.25, HD_TEMPER_FORMULA);
    double s1 = 1.0 / (-1.0 / 9.0 + 2.0), s2 = 1.0 / (-4.0 / 9.0 + 2.0);
    assert_float_equal(c[0], 0.5 / s1, 1e-12);
    assert_float_equal(c[1], s1 / s2, 1e-12);
    assert_float_equal(c[2], s2 / 1.0, 1e-12);
    assert_float_equal(c[0] * c[1] * c[2], 0.5, 1e-12);
    assert_true(c[0] < 1.0 && c[1] < 1.0 && c[2] < 1.0); /* cooling */
    /* beta0 = 1: no tempering */
    hd_tempering(c, 2, 1.0, HD_TEMPER_FORMULA);
    assert_float_equal(c[0], 1.0, 1e-12);
    assert_float_equal(c[1], 1.0, 1e-12);
    /* cooling only: c_k = min(1, formula). beta0 = 4 warms (c_k > 1) at
     * every step, so no step scales; beta0 = 0.25 cools, as the formula */
    hd_tempering(c, 3, 4.0, HD_TEMPER_COOL);
    for (int k = 0; k < 3; k++)
        assert_true(c[k] == 1.0);
    double f[3];
    hd_tempering(f, 3, 0.25, HD_TEMPER_FORMULA);
    hd_tempering(c, 3, 0.25, HD_TEMPER_COOL);
    for (int k = 0; k < 3; k++)
        assert_true(c[k] == f[k]);
}

// ---- a small agent's networks ----
enum { DS = 3, DA = 3, QB = 32 };

typedef struct fixture {
    hpo_nets n;
    float *block;
    hd_ws w;
} fixture;

static void fixture_init(fixture *f, int K, int linear_critics, unsigned seed)
{
    hpo_nets_init(&f->n, DS, DA, 1, 16, 2, 16, 8, 1);
    f->block = xalloc_floats(f->n.n_params);
    rng r;
    rng_init(&r, seed, 1);
    hpo_nets_init_params(&f->n, f->block, &r);
    if (linear_critics) {
        /* every hidden unit active for bounded inputs: Q is linear in a, so
         * g is exactly constant, as the volume statement assumes */
        const mlp *qs[2] = {&f->n.q1, &f->n.q2};
        for (int j = 0; j < 2; j++)
            for (int l = 0; l < qs[j]->n_layers - 1; l++)
                for (int o = 0; o < qs[j]->dims[l + 1]; o++)
                    f->block[qs[j]->b_off[l] + o] = 50.0f;
    }
    /* make T_h and sigma_h strongly nonlinear in a */
    for (size_t i = 0; i < f->n.th.n_params + f->n.sh.n_params; i++)
        f->block[f->n.th.offset + i] *= 3.0f;
    hd_ws_init(&f->w, &f->n, QB, K, 1);
}

static void fixture_release(fixture *f)
{
    hd_ws_release(&f->w);
    free(f->block);
}

/* log |det J| of (a0, rho0) -> (aK, rhoK) by central differences, in double */
static double map_logdet(fixture *f, const hd_params *p, const float *s,
                         const float *a0, const float *rho0)
{
    enum { D = 2 * DA };
    double J[D][D];
    float x[D], aK[DA], rK[DA];
    const double h = 1e-3;
    for (int j = 0; j < D; j++) {
        double col[2][D];
        for (int sgn = 0; sgn < 2; sgn++) {
            memcpy(x, a0, DA * sizeof(float));
            memcpy(x + DA, rho0, DA * sizeof(float));
            x[j] += (float)(sgn ? -h : h);
            hd_forward(&f->w, &f->n, f->block, p, 0.2f, s, x, x + DA, aK, rK,
                       1);
            for (int i = 0; i < DA; i++) {
                col[sgn][i] = aK[i];
                col[sgn][DA + i] = rK[i];
            }
        }
        for (int i = 0; i < D; i++)
            J[i][j] = (col[0][i] - col[1][i]) / (2 * h);
    }
    /* LU with partial pivoting */
    double logdet = 0.0;
    for (int k = 0; k < D; k++) {
        int piv = k;
        for (int i = k + 1; i < D; i++)
            if (fabs(J[i][k]) > fabs(J[piv][k]))
                piv = i;
        if (piv != k)
            for (int j = 0; j < D; j++) {
                double t = J[k][j];
                J[k][j] = J[piv][j];
                J[piv][j] = t;
            }
        logdet += log(fabs(J[k][k]));
        for (int i = k + 1; i < D; i++) {
            double m = J[i][k] / J[k][k];
            for (int j = k; j < D; j++)
                J[i][j] -= m * J[k][j];
        }
    }
    return logdet;
}

static void check_volume(int K, double beta0, int temper)
{
    fixture f;
    fixture_init(&f, K, 1, 21);
    hd_params p = {HD_PROPOSED, K, 0.3f, (float)beta0, temper};
    float s[DS] = {0.3f, -0.5f, 0.8f}, a0[DA] = {0.2f, -0.4f, 0.6f};
    float rho0[DA] = {0.5f, 0.1f, -0.7f};
    double c[HD_MAX_K], want = 0.0;
    hd_tempering(c, K, beta0, temper);
    for (int k = 0; k < K; k++)
        want += DA * log(c[k]);
    double got = map_logdet(&f, &p, s, a0, rho0);
    print_message(
        "K=%d beta0=%g %s: log|det J| = %.5f, d_a sum log c_k = %.5f\n", K,
        beta0, temper == HD_TEMPER_COOL ? "cool" : "formula", got, want);
    assert_true(fabs(got - want) < 2e-3);
    /* the map is far from trivial: the same map with beta0 = 1 differs
     * (cooling only at beta0 > 1 is the untempered map: volume 1) */
    if (beta0 != 1.0 && !(temper == HD_TEMPER_COOL && beta0 > 1.0))
        assert_true(fabs(want) > 0.3);
    fixture_release(&f);
}

static void test_leapfrog_volume(void **state)
{
    (void)state;
    check_volume(1, 2.25, HD_TEMPER_FORMULA); /* one map, c_1 = 1.5 */
    check_volume(1, 0.36, HD_TEMPER_FORMULA); /* beta0 < 1 */
    check_volume(3, 4.0, HD_TEMPER_FORMULA);  /* three maps composed */
    /* cooling only: the volume follows the c_k used, 1 where the formula
     * would warm (log|det J| 0, not 3 d_a log 2), the formula's below */
    check_volume(3, 4.0, HD_TEMPER_COOL);
    check_volume(1, 0.36, HD_TEMPER_COOL);
}

/* Cooling only at beta0 > 1 is a different map from the formula's: the
 * same inputs reach another aK (the momentum is not scaled up). */
static void test_temper_cool_changes_map(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 3, 0, 5);
    hd_params pf = {HD_PROPOSED, 3, 0.2f, 4.0f, HD_TEMPER_FORMULA};
    hd_params pc = pf;
    pc.temper = HD_TEMPER_COOL;
    float s[4 * DS], a0[4 * DA], rho[4 * DA], xf[4 * DA], xc[4 * DA];
    float rf[4 * DA], rc[4 * DA];
    rng r;
    rng_init(&r, 3, 2);
    rng_uniform_fill(&r, s, 4 * DS, -1, 1);
    rng_uniform_fill(&r, a0, 4 * DA, -0.9f, 0.9f);
    rng_normal_fill(&r, rho, 4 * DA, 0.5f);
    hd_forward(&f.w, &f.n, f.block, &pf, 0.2f, s, a0, rho, xf, rf, 4);
    hd_forward(&f.w, &f.n, f.block, &pc, 0.2f, s, a0, rho, xc, rc, 4);
    double dx = 0.0, nf = 0.0, nc = 0.0;
    for (int i = 0; i < 4 * DA; i++) {
        dx += fabs(xf[i] - xc[i]);
        nf += (double)rf[i] * rf[i];
        nc += (double)rc[i] * rc[i];
    }
    print_message("|aK formula - aK cool|_1 = %.4f, |rhoK|^2 %.3f vs %.3f\n",
                  dx, nf, nc);
    assert_true(dx > 1e-2);
    assert_true(nf > 2.0 * nc); /* the formula's momentum grew (x2 total) */
    fixture_release(&f);
}

// ---- dQmin/da ----
typedef struct qctx {
    fixture *f;
    float s[QB * DS], a[QB * DA], w[QB];
} qctx;

static double qmin_loss(void *p)
{
    qctx *c = p;
    float q[QB];
    hd_qmin(&c->f->w, &c->f->n, c->f->block, c->s, c->a, q, QB);
    double l = 0.0;
    for (int b = 0; b < QB; b++)
        l += (double)c->w[b] * q[b];
    return l;
}

static void test_qmin_grad(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 2, 0, 33);
    qctx c = {.f = &f};
    rng r;
    rng_init(&r, 4, 4);
    rng_uniform_fill(&r, c.s, sizeof c.s / sizeof(float), -1, 1);
    rng_uniform_fill(&r, c.a, sizeof c.a / sizeof(float), -1, 1);
    rng_uniform_fill(&r, c.w, QB, 0.5f, 1.5f);
    hd_qmin_grad(&f.w, &f.n, f.block, c.s, c.a, QB);
    float g[QB * DA];
    int n1 = 0;
    const float *q1 = f.w.q1c.acts[f.n.q1.n_layers - 1];
    const float *q2 = f.w.q2c.acts[f.n.q2.n_layers - 1];
    for (int b = 0; b < QB; b++) {
        n1 += q1[b] <= q2[b];
        assert_float_equal(f.w.q[b], fminf(q1[b], q2[b]), 0);
        for (int i = 0; i < DA; i++)
            g[b * DA + i] = c.w[b] * f.w.dqda[b * DA + i];
    }
    print_message("Q1 is the min in %d of %d rows\n", n1, QB);
    assert_true(n1 > 0 && n1 < QB); /* both critics are the min somewhere */
    /* Qmin is piecewise linear in a: an entry whose ±h neighbours have a
     * different analytic gradient straddles a kink (a ReLU or the min
     * switching), where no derivative exists; those are skipped, and must
     * be rare. */
    const double h = 1e-3;
    int skipped = 0, checked = 0;
    double worst = 0.0;
    for (int k = 0; k < QB * DA; k++) {
        float a0 = c.a[k], gp, gm;
        c.a[k] = a0 + (float)h;
        hd_qmin_grad(&f.w, &f.n, f.block, c.s, c.a, QB);
        gp = f.w.dqda[k];
        c.a[k] = a0 - (float)h;
        hd_qmin_grad(&f.w, &f.n, f.block, c.s, c.a, QB);
        gm = f.w.dqda[k];
        c.a[k] = a0;
        if (gp != gm) {
            skipped++;
            continue;
        }
        fd_result res = fd_check(qmin_loss, &c, c.a + k, g + k, 1, 1, h, 1e-3);
        worst = fmax(worst, res.max_rel);
        checked++;
    }
    print_message("dQmin/da: %d checked, %d at kinks, max rel err %.2e\n",
                  checked, skipped, worst);
    assert_true(skipped <= QB * DA / 20);
    assert_true(worst < 5e-3);
    fixture_release(&f);
}

static void test_acting_matches_training(void **state)
{
    (void)state;
    /* keep = 0 reuses one point's buffers: same numbers as keep = 1 */
    fixture f;
    fixture_init(&f, 3, 0, 8);
    hd_ws act;
    hd_ws_init(&act, &f.n, 4, 3, 0);
    hd_params p = {HD_PROPOSED, 3, 0.2f, 4.0f, HD_TEMPER_FORMULA};
    float s[4 * DS], a0[4 * DA], rho[4 * DA], x1[4 * DA], x2[4 * DA];
    rng r;
    rng_init(&r, 1, 2);
    rng_uniform_fill(&r, s, 4 * DS, -1, 1);
    rng_uniform_fill(&r, a0, 4 * DA, -0.9f, 0.9f);
    rng_normal_fill(&r, rho, 4 * DA, 0.5f);
    hd_forward(&f.w, &f.n, f.block, &p, 0.2f, s, a0, rho, x1, NULL, 4);
    hd_forward(&act, &f.n, f.block, &p, 0.2f, s, a0, rho, x2, NULL, 4);
    assert_memory_equal(x1, x2, sizeof x1);
    double moved = 0;
    for (int i = 0; i < 4 * DA; i++)
        moved += fabs(x1[i] - a0[i]);
    assert_true(moved > 1e-2);
    hd_ws_release(&act);
    fixture_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tempering_values),
        cmocka_unit_test(test_leapfrog_volume),
        cmocka_unit_test(test_temper_cool_changes_map),
        cmocka_unit_test(test_qmin_grad),
        cmocka_unit_test(test_acting_matches_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
