/* The SAC-HPO losses against finite differences: the whole policy loss
 * through K = 3 proposed leapfrog steps w.r.t. the policy's and T_h /
 * sigma_h's weights (and through the conventional leapfrog and plain SAC),
 * the critic loss, the temperature loss; SAC-HPO as the step size goes to
 * 0 against plain SAC; determinism of the update. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "fdcheck.h"
#include "nn.h"
#include "replay.h"
#include "sac.h"
#include "testagent.h"
#include "util.h"

enum { DS = 3, DA = 2, M = 8 };

static void small_config(hpo_config *c, int mode)
{
    config_defaults(c);
    config_preset(c, "Pendulum");
    c->mode = mode;
    c->pi_hidden = 16;
    c->q_hidden = 16;
    c->h_hidden = 8;
    c->batch = M;
    c->buffer = 64;
    c->K = 3;
    c->eps = 0.6f;
    c->std_tr = 0.5f; /* beta0 = 4: tempering factors far from 1 */
    c->seed = 12;
}

static void random_batch_m(replay_batch *b, int m, unsigned seed)
{
    replay_batch_init(b, m, DS, DA);
    rng r;
    rng_init(&r, seed, 99);
    rng_uniform_fill(&r, b->obs, (size_t)m * DS, -1, 1);
    rng_uniform_fill(&r, b->next_obs, (size_t)m * DS, -1, 1);
    rng_uniform_fill(&r, b->act, (size_t)m * DA, -1, 1);
    rng_uniform_fill(&r, b->reward, (size_t)m, -1, 1);
    for (int i = 0; i < m; i++)
        b->done[i] = i % 3 == 0 ? 1.0f : 0.0f;
}

static void random_batch(replay_batch *b, unsigned seed)
{
    random_batch_m(b, M, seed);
}

typedef struct ctx {
    sac *s;
    replay_batch b;
    rng r0;          /* noise state replayed at every evaluation */
    int which;       /* 0 policy loss, 1 critic loss, 2 straight-through's */
    const float *gq; /* which 2: (M, DA) dQmin/da held fixed */
} ctx;

/* The straight-through rule's naive reference: the policy loss with the
 * clip replaced by the identity and Qmin by its linearization at the
 * unperturbed clip(aK), mean[alpha log pi(a0) - gq . aK]. Its gradient at
 * the unperturbed parameters is the straight-through gradient. */
static double straight_surrogate(ctx *c)
{
    rng r = c->r0;
    sac_stats st;
    sac *s = c->s;
    float alpha = sac_alpha(s);
    sac_policy_grad(s, &c->b, &r, alpha, &st);
    double l = 0.0;
    for (int i = 0; i < M; i++) {
        l += alpha * (double)s->logp[i];
        for (int k = 0; k < DA; k++)
            l -= (double)c->gq[i * DA + k] * s->aK[i * DA + k];
    }
    return l / M;
}

static double loss_fn(void *p)
{
    ctx *c = p;
    rng r = c->r0;
    sac_stats st;
    if (c->which == 0)
        return sac_policy_grad(c->s, &c->b, &r, sac_alpha(c->s), &st);
    if (c->which == 2)
        return straight_surrogate(c);
    return sac_critic_grad(c->s, &c->b, NULL);
}

/*
 * Check grad over [off, off + n) (every stride-th entry) against central
 * differences. The policy loss is discontinuous where g(a) switches linear
 * region along the leapfrog, and kinked where a ReLU switches: an entry
 * whose two central differences (h and h/2) disagree straddles one and is
 * skipped; skips must be rare. Single-precision networks leave ~1e-5 of
 * noise in each difference, so the verdict is on the whole vector,
 * ||fd - an|| / ||an|| (a wrong sign, a missing term or a missed tempering
 * factor moves it by 10% or more), plus each large entry on its own.
 */
static double check_range(ctx *c, const float *grad, size_t off, size_t n,
                          size_t stride, const char *label)
{
    float *x = c->s->params;
    double gmax = 0.0;
    for (size_t i = off; i < off + n; i++)
        gmax = fmax(gmax, fabs(grad[i]));
    assert_true(gmax > 0.0);
    /* 4e-3: T_h's entries (|grad| <= 0.003) need the larger step to rise
     * above float noise (at 2e-3 their worst large entry was 0.8-1.0% off,
     * 1.0% with OpenBLAS's AVX-512 kernels), and 8e-3 straddles kinks */
    const double h = getenv("FDH") ? atof(getenv("FDH")) : 4e-3;
    double big_worst = 0.0, diff2 = 0.0, an2 = 0.0;
    size_t checked = 0, skipped = 0;
    for (size_t i = off; i < off + n; i += stride) {
        float x0 = x[i];
        double l[4];
        const double hs[4] = {h, -h, h / 2, -h / 2};
        for (int k = 0; k < 4; k++) {
            x[i] = (float)(x0 + hs[k]);
            l[k] = loss_fn(c);
        }
        x[i] = x0;
        double d1 = (l[0] - l[1]) / (2 * h), d2 = (l[2] - l[3]) / h;
        if (fabs(d1 - d2) > 0.05 * fmax(fabs(d1) + fabs(d2), 1e-2 * gmax)) {
            skipped++;
            continue;
        }
        diff2 += (d1 - grad[i]) * (d1 - grad[i]);
        an2 += (double)grad[i] * grad[i];
        if (fabs(grad[i]) > 0.2 * gmax)
            big_worst = fmax(big_worst, fabs(d1 - grad[i]) / fabs(grad[i]));
        checked++;
    }
    double vec = sqrt(diff2 / an2);
    print_message(
        "%-22s %4zu checked, %2zu skipped, vector rel err %.2e, large entries max rel err %.2e, max |grad| %.3g\n",
        label, checked, skipped, vec, big_worst, gmax);
    assert_true(checked >= 10);
    assert_true(skipped * 10 <= checked);
    assert_true(vec < 1e-2);
    assert_true(big_worst < 1e-2);
    return vec;
}

static void check_policy_loss_cfg(const hpo_config *base, float eps,
                                  const char *name)
{
    hpo_config cfg = *base;
    int mode = cfg.mode;
    cfg.eps = eps;
    ctx c = {.which = 0};
    c.s = sac_new(&cfg, DS, DA, 4, 1);
    /* T_h and sigma_h strongly nonlinear, so their terms carry weight */
    const hpo_nets *nn = &c.s->nets;
    for (size_t i = 0; i < nn->th.n_params + nn->sh.n_params; i++)
        c.s->params[nn->th.offset + i] *= 3.0f;
    random_batch(&c.b, 3);
    rng_init(&c.r0, 77, 2);
    loss_fn(&c);
    size_t np = c.s->nets.n_params;
    float *g = xalloc_floats(np);
    memcpy(g, c.s->grads, np * sizeof(float));
    const hpo_nets *n = &c.s->nets;
    char label[64];
    snprintf(label, sizeof label, "%s: pi", name);
    check_range(&c, g, n->pi.offset, n->pi.n_params, 3, label);
    if (mode_optim_hd(mode) == 1) { /* proposed: T_h and sigma_h learn */
        snprintf(label, sizeof label, "%s: T_h", name);
        check_range(&c, g, n->th.offset, n->th.n_params, 1, label);
        snprintf(label, sizeof label, "%s: sigma_h", name);
        check_range(&c, g, n->sh.offset, n->sh.n_params, 1, label);
    } else {
        for (size_t i = 0; i < n->th.n_params + n->sh.n_params; i++)
            assert_true(g[n->th.offset + i] == 0.0f);
    }
    /* the critics get nothing from the policy loss */
    for (size_t i = 0; i < n->q_n; i++)
        assert_true(g[n->q_off + i] == 0.0f);
    free(g);
    replay_batch_release(&c.b);
    sac_destroy(&c.s);
    assert_null(c.s);
}

static void check_policy_loss(int mode, float eps, const char *name)
{
    hpo_config cfg;
    small_config(&cfg, mode);
    check_policy_loss_cfg(&cfg, eps, name);
}

static void test_policy_loss_hpo(void **state)
{
    (void)state;
    check_policy_loss(MODE_HPO, 0.6f, "hpo K=3");
}

static void test_policy_loss_conventional(void **state)
{
    (void)state;
    /* the raw gradient (1/alpha = 5) takes long strides: a shorter step
     * keeps region switches rare */
    check_policy_loss(MODE_BASELINE1, 0.2f, "baseline1 K=3");
}

static void test_policy_loss_sac(void **state)
{
    (void)state;
    check_policy_loss(MODE_SAC, 0.6f, "sac");
}

/* The policy range of the gradient of cfg's policy loss on batch seed 3,
 * noise 77 (as check_policy_loss), into g (n_params). */
static void policy_grad_of(const hpo_config *cfg, float *g, size_t np)
{
    sac *s = sac_new(cfg, DS, DA, 4, 1);
    assert_int_equal(s->nets.n_params, np);
    replay_batch b;
    random_batch(&b, 3);
    rng r;
    rng_init(&r, 77, 2);
    sac_stats st;
    sac_policy_grad(s, &b, &r, sac_alpha(s), &st);
    memcpy(g, s->grads, np * sizeof(float));
    replay_batch_release(&b);
    sac_destroy(&s);
}

/* Do g1 and g2 differ in the policy group (pi, T_h, sigma_h)? */
static int policy_grads_differ(const sac *s, const float *g1, const float *g2)
{
    const hpo_nets *n = &s->nets;
    double d = 0.0, nrm = 0.0;
    for (size_t i = n->pol_off; i < n->pol_off + n->pol_n; i++) {
        d += fabs((double)g1[i] - g2[i]);
        nrm += fabs((double)g1[i]);
    }
    print_message("policy-group gradients differ by %.3g (|g| %.3g)\n", d, nrm);
    return d > 1e-3 * nrm;
}

/* --temper cool: the policy loss through the cooling-only leapfrog is a
 * true gradient (finite differences); at std_tr 0.5 (beta0 4, where the
 * formula warms) it is another gradient than the formula's. */
static void test_policy_loss_temper_cool(void **state)
{
    (void)state;
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    cfg.temper = HD_TEMPER_COOL;
    check_policy_loss_cfg(&cfg, 0.6f, "hpo K=3 cool");
    sac *s = sac_new(&cfg, DS, DA, 4, 1);
    size_t np = s->nets.n_params;
    float *gc = xalloc_floats(np), *gf = xalloc_floats(np);
    policy_grad_of(&cfg, gc, np);
    cfg.temper = HD_TEMPER_FORMULA;
    policy_grad_of(&cfg, gf, np);
    assert_true(policy_grads_differ(s, gc, gf));
    free(gc);
    free(gf);
    sac_destroy(&s);
}

/*
 * --clip-grad straight: the gradient of dL/dclip(aK) passed to aK whole,
 * against the naive reference (straight_surrogate) by finite differences,
 * for pi, T_h and sigma_h; and it differs from the clip's own gradient
 * (zero), whose finite-difference check is test_policy_loss_hpo.
 */
static void test_policy_loss_straight(void **state)
{
    (void)state;
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    cfg.clip_grad = CLIP_GRAD_STRAIGHT;
    ctx c = {.which = 0};
    c.s = sac_new(&cfg, DS, DA, 4, 1);
    const hpo_nets *n = &c.s->nets;
    for (size_t i = 0; i < n->th.n_params + n->sh.n_params; i++)
        c.s->params[n->th.offset + i] *= 3.0f;
    random_batch(&c.b, 3);
    rng_init(&c.r0, 77, 2);
    loss_fn(&c);
    size_t np = n->n_params;
    float *g = xalloc_floats(np);
    memcpy(g, c.s->grads, np * sizeof(float));
    /* the clip must bite for the test to mean anything */
    int clipped = 0;
    for (int i = 0; i < M * DA; i++)
        clipped += c.s->aK[i] <= -1.0f || c.s->aK[i] >= 1.0f;
    print_message("straight: %d of %d action components outside the box\n",
                  clipped, M * DA);
    assert_true(clipped >= 2 && clipped < M * DA);
    /* Qmin's action-gradient at the unperturbed clip(aK), held fixed */
    hd_ws w;
    hd_ws_init(&w, n, M, cfg.K, 0);
    hd_qmin_grad(&w, n, c.s->params, c.b.obs, c.s->ac, M);
    float gq[M * DA];
    memcpy(gq, w.dqda, sizeof gq);
    hd_ws_release(&w);
    c.which = 2;
    c.gq = gq;
    check_range(&c, g, n->pi.offset, n->pi.n_params, 3, "straight: pi");
    check_range(&c, g, n->th.offset, n->th.n_params, 1, "straight: T_h");
    check_range(&c, g, n->sh.offset, n->sh.n_params, 1, "straight: sigma_h");
    for (size_t i = 0; i < n->q_n; i++)
        assert_true(g[n->q_off + i] == 0.0f);

    /* the same loss with the clip's own gradient: another update */
    c.s->cfg.clip_grad = CLIP_GRAD_ZERO;
    c.which = 0;
    loss_fn(&c);
    assert_true(policy_grads_differ(c.s, g, c.s->grads));
    free(g);
    replay_batch_release(&c.b);
    sac_destroy(&c.s);
}

/* Relative distance ||a - b|| / ||b|| over n floats. */
static double rel_dist(const float *a, const float *b, size_t n)
{
    double d2 = 0.0, b2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        d2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        b2 += (double)b[i] * b[i];
    }
    return sqrt(d2 / b2);
}

/* SAC-HPO at step size eps against plain SAC with the same policy and
 * critics (copied), the same batch and noise: (policy gradient's relative
 * distance, critic gradient's), the losses checked close when eps is. */
static void eps_against_sac(float eps, double *pi_dist, double *q_dist)
{
    hpo_config ch, cs;
    small_config(&ch, MODE_HPO);
    ch.eps = eps;
    cs = ch;
    cs.mode = MODE_SAC;
    sac *h = sac_new(&ch, DS, DA, 4, 1), *s = sac_new(&cs, DS, DA, 4, 1);
    const hpo_nets *nh = &h->nets, *ns = &s->nets;
    const mlp *from[3] = {&nh->pi, &nh->q1, &nh->q2};
    const mlp *to[3] = {&ns->pi, &ns->q1, &ns->q2};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(from[k]->n_params, to[k]->n_params);
        size_t bytes = from[k]->n_params * sizeof(float);
        memcpy(s->params + to[k]->offset, h->params + from[k]->offset, bytes);
        memcpy(s->target + to[k]->offset, h->target + from[k]->offset, bytes);
    }
    assert_true(sac_alpha(h) == sac_alpha(s));
    float alpha = sac_alpha(h);
    replay_batch b;
    random_batch(&b, 5);
    rng rh, rs;
    sac_stats sth, sts;

    rng_init(&rh, 31, 4);
    rs = rh;
    float lh = sac_policy_grad(h, &b, &rh, alpha, &sth);
    float ls = sac_policy_grad(s, &b, &rs, alpha, &sts);
    *pi_dist = rel_dist(h->grads + nh->pi.offset, s->grads + ns->pi.offset,
                        nh->pi.n_params);
    if (eps < 1e-3f) {
        assert_true(fabsf(lh - ls) <= 1e-3f * (1.0f + fabsf(ls)));
        assert_true(sth.logp == sts.logp); /* the same a0, the same xi */
        assert_true(sth.hd_dist < 1e-3f);  /* aK moved by O(eps) */
    }

    rng_init(&rh, 32, 4);
    rs = rh;
    sac_critic_target(h, &b, &rh, alpha);
    sac_critic_target(s, &b, &rs, alpha);
    float qh = sac_critic_grad(h, &b, NULL), qs = sac_critic_grad(s, &b, NULL);
    assert_true(fabsf(qh - qs) <= 1e-5f * (1.0f + fabsf(qs)));
    *q_dist = rel_dist(h->grads + nh->q_off, s->grads + ns->q_off, nh->q_n);
    replay_batch_release(&b);
    sac_destroy(&h);
    sac_destroy(&s);
}

/* As the step size goes to 0 the leapfrog leaves a0 where it is, and
 * SAC-HPO's losses (critic target from the base action, the policy loss at
 * clip(aK) = a0, the temperature on log pi(a0)) are plain SAC's: a run's
 * difference from SAC is the dynamics', not the plumbing around them. */
static void test_small_eps_is_sac(void **state)
{
    (void)state;
    double pi_dist, q_dist;
    eps_against_sac(1e-5f, &pi_dist, &q_dist);
    print_message("eps 1e-5: policy gradient %.2e from SAC's, critics' %.2e\n",
                  pi_dist, q_dist);
    assert_true(pi_dist < 1e-3);
    assert_true(q_dist < 1e-5); /* the same function (the base-action target) */
    /* the comparison sees the dynamics when they move a: not vacuous */
    eps_against_sac(0.6f, &pi_dist, &q_dist);
    print_message("eps 0.6: policy gradient %.2e from SAC's\n", pi_dist);
    assert_true(pi_dist > 0.05);
}

static void test_critic_loss(void **state)
{
    (void)state;
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    ctx c = {.which = 1};
    c.s = sac_new(&cfg, DS, DA, 4, 1);
    random_batch(&c.b, 4);
    rng r;
    rng_init(&r, 5, 5);
    sac_critic_target(c.s, &c.b, &r, sac_alpha(c.s));
    loss_fn(&c);
    size_t np = c.s->nets.n_params;
    float *g = xalloc_floats(np);
    memcpy(g, c.s->grads, np * sizeof(float));
    const hpo_nets *n = &c.s->nets;
    check_range(&c, g, n->q1.offset, n->q1.n_params, 2, "critic loss: Q1");
    check_range(&c, g, n->q2.offset, n->q2.n_params, 2, "critic loss: Q2");
    /* y does not depend on the online critics' loss path: recomputing the
     * loss leaves s->y untouched */
    float y0 = c.s->y[0];
    loss_fn(&c);
    assert_true(c.s->y[0] == y0);
    free(g);
    replay_batch_release(&c.b);
    sac_destroy(&c.s);
}

static void test_critic_target_terminal(void **state)
{
    (void)state;
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    sac *s = sac_new(&cfg, DS, DA, 4, 1);
    replay_batch b;
    random_batch(&b, 6);
    rng r;
    rng_init(&r, 1, 1);
    sac_critic_target(s, &b, &r, 0.2f);
    for (int i = 0; i < M; i++)
        if (b.done[i] == 1.0f)
            assert_float_equal(s->y[i], b.reward[i], 0);
        else
            assert_true(s->y[i] != b.reward[i]);
    replay_batch_release(&b);
    sac_destroy(&s);
}

static double alpha_loss(const float *log_alpha, float mean_logp, float h)
{
    return -(double)*log_alpha * (mean_logp + h);
}

static void test_temperature_loss(void **state)
{
    (void)state;
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    cfg.auto_alpha = 1;
    sac *s = sac_new(&cfg, DS, DA, 4, 1);
    float la = s->log_alpha, mean_logp = 1.3f, h = -(float)DA;
    float an = sac_alpha_grad(s, mean_logp);
    float lp = la + 1e-2f, lm = la - 1e-2f;
    double fd =
        (alpha_loss(&lp, mean_logp, h) - alpha_loss(&lm, mean_logp, h)) /
        ((double)lp - lm);
    assert_float_equal(an, fd, 1e-4);
    /* entropy below target (log pi above -H): alpha must grow */
    replay_batch b;
    random_batch(&b, 7);
    rng r;
    rng_init(&r, 3, 3);
    sac_stats st;
    float a0 = sac_alpha(s);
    sac_update(s, &b, &r, &st);
    if (st.logp + h > 0)
        assert_true(sac_alpha(s) > a0);
    else
        assert_true(sac_alpha(s) < a0);
    replay_batch_release(&b);
    sac_destroy(&s);
}

/* sac_tuner_logp's estimate recomputed plainly: the momentum's scale at
 * each position update with forces dropped, the displacement's std, and
 * log(exp(x) + exp(y)) in long double. */
static double naive_tuner_logp(const hpo_config *cfg, double mean_logp)
{
    double std = cfg->std_tr, rho = std, disp = 0.0;
    double c[HD_MAX_K];
    hd_tempering(c, cfg->K, 1.0 / (std * std), cfg->temper);
    for (int k = 0; k < cfg->K; k++) {
        disp += cfg->eps * rho; /* a_k = a_{k-1} + eps rho~ */
        rho *= c[k];
    }
    long double x = expl(-2.0L * mean_logp / DA);
    long double y = 2.0L * M_PI * M_E * (long double)disp * disp;
    return -(double)(0.5L * DA * logl(x + y));
}

/*
 * --alpha-target hd: the tuner compares H_target with the leapfrog's aK's
 * entropy estimate; base with -log pi(a0). sac_tuner_logp against its naive
 * twin (both temperings), its limits, and sac_update's first Adam moment of
 * log_alpha, (1 - beta1) g: g is the gradient at the estimate.
 */
static void test_alpha_target_hd(void **state)
{
    (void)state;
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    cfg.auto_alpha = 1;
    cfg.alpha_target = ALPHA_TARGET_HD;
    const float lps[] = {-4.0f, 0.5f, 3.0f, 40.0f};
    for (int t = 0; t < 2; t++) {
        cfg.temper = t ? HD_TEMPER_COOL : HD_TEMPER_FORMULA;
        sac *s = sac_new(&cfg, DS, DA, 4, 1);
        for (size_t i = 0; i < sizeof lps / sizeof lps[0]; i++) {
            double want = naive_tuner_logp(&cfg, lps[i]);
            float got = sac_tuner_logp(s, lps[i]);
            assert_float_equal(got, want, 1e-5 * (1.0 + fabs(want)));
            /* never more than the base's log-density: entropy only grows */
            assert_true(got <= lps[i]);
        }
        sac_destroy(&s);
    }
    /* the estimate tends to log pi(a0) as the noise vanishes: a small std_tr
     * with cooling only (the formula would warm rho to std 1 by step K) */
    cfg.temper = HD_TEMPER_COOL;
    cfg.std_tr = 1e-4f;
    sac *s = sac_new(&cfg, DS, DA, 4, 1);
    assert_float_equal(sac_tuner_logp(s, 0.5f), 0.5f, 1e-4);
    sac_destroy(&s);
    /* no leapfrog in the policy loss: nothing to count */
    small_config(&cfg, MODE_SAC);
    cfg.alpha_target = ALPHA_TARGET_HD;
    s = sac_new(&cfg, DS, DA, 4, 1);
    assert_true(sac_tuner_logp(s, 0.5f) == 0.5f);
    sac_destroy(&s);

    /* the tuner's step uses it; base's uses log pi(a0) */
    float h = -(float)DA, gbase = 0.0f;
    for (int t = 0; t < 2; t++) {
        small_config(&cfg, MODE_HPO);
        cfg.auto_alpha = 1;
        cfg.alpha_target = t ? ALPHA_TARGET_HD : ALPHA_TARGET_BASE;
        s = sac_new(&cfg, DS, DA, 4, 1);
        replay_batch b;
        random_batch(&b, 7);
        rng r;
        rng_init(&r, 3, 3);
        sac_stats st;
        sac_update(s, &b, &r, &st);
        double lp = t ? naive_tuner_logp(&cfg, st.logp) : st.logp;
        double want = -(lp + h);
        double got = s->la_m / (1.0f - 0.9f);
        print_message(
            "alpha-target %s: mean log pi(a0) %.4f, tuner's %.4f, gradient %.5f (want %.5f)\n",
            t ? "hd" : "base", st.logp, lp, got, want);
        assert_float_equal(got, want, 1e-5 * (1.0 + fabs(want)));
        if (t)
            assert_true(fabs(got - gbase) > 0.1); /* not a no-op */
        else
            gbase = (float)got;
        replay_batch_release(&b);
        sac_destroy(&s);
    }
}

static void run_updates(sac *s, unsigned seed, int n)
{
    replay_batch b;
    random_batch_m(&b, s->m, seed);
    rng r;
    rng_init(&r, seed, RNG_STREAM_UPDATE);
    for (int i = 0; i < n; i++)
        sac_update(s, &b, &r, NULL);
    replay_batch_release(&b);
}

/* a and b act alike, bit for bit, on two fixed states with one noise stream
 * each (seeded alike); the actions lie in the box */
static void assert_same_acts(sac *a, sac *b)
{
    float obs[2 * DS] = {0.1f, 0.2f, 0.3f, -0.1f, -0.2f, -0.3f};
    float x1[2 * DA], x2[2 * DA];
    rng r1, r2;
    rng_init(&r1, 5, RNG_STREAM_ACT);
    rng_init(&r2, 5, RNG_STREAM_ACT);
    sac_act(a, &a->act, obs, 2, 0, &r1, x1, NULL);
    sac_act(b, &b->act, obs, 2, 0, &r2, x2, NULL);
    assert_memory_equal(x1, x2, sizeof x1);
    for (int i = 0; i < 2 * DA; i++)
        assert_true(x1[i] >= -1.0f && x1[i] <= 1.0f);
}

static void test_determinism(void **state)
{
    (void)state;
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    sac *a = sac_new(&cfg, DS, DA, 4, 1), *b = sac_new(&cfg, DS, DA, 4, 1);
    cfg.seed = 13;
    sac *c = sac_new(&cfg, DS, DA, 4, 1);
    size_t nb = a->nets.n_params * sizeof(float);
    float *init = xmalloc(nb);
    memcpy(init, a->params, nb);
    run_updates(a, 1, 25);
    run_updates(b, 1, 25);
    run_updates(c, 1, 25);
    assert_memory_equal(a->params, b->params, nb);
    assert_memory_equal(a->target, b->target, nb);
    assert_memory_not_equal(a->params, c->params, nb);
    assert_memory_not_equal(a->params, init, nb);
    /* acting is deterministic given the stream */
    assert_same_acts(a, b);
    free(init);
    sac_destroy(&a);
    sac_destroy(&b);
    sac_destroy(&c);
}

/* rel. L2 distance of a and b (n) */
static double rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 1e-300;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

/* --precision bf16. The critic and policy gradients (the whole policy loss
 * through K leapfrog steps) with bf16 products are fp32's up to bf16's
 * rounding (2^-9 per operand, compounded through the layers and the
 * leapfrog); sac_update runs them (its weights differ
 * from fp32's, and are the same bits again for the same seed, on 2 lanes);
 * acting stays fp32: the bf16 agent acts bit for bit as an fp32 agent with
 * its weights. Skipped where nn_bf16_available is 0. */
static void test_bf16_update(void **state)
{
    (void)state;
    char why[400];
    if (!nn_bf16_available(why, sizeof why)) {
        print_message("bf16 update skipped: %s\n", why);
        skip();
    }
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    cfg.batch = 64;
    cfg.threads = 2;
    cfg.pi_hidden = cfg.q_hidden = 64;
    sac *f = sac_new(&cfg, DS, DA, 4, 1);
    size_t np = f->nets.n_params, nb = np * sizeof(float);
    float *g32 = xalloc_floats(np), *g16 = xalloc_floats(np);
    replay_batch b;
    random_batch_m(&b, f->m, 3);
    rng r;
    rng_init(&r, 5, 5);
    sac_critic_target(f, &b, &r, sac_alpha(f));
    for (int on = 0; on <= 1; on++) {
        nn_set_bf16(on);
        sac_critic_grad(f, &b, NULL);
        rng_init(&r, 6, 6);
        sac_policy_grad(f, &b, &r, sac_alpha(f), &(sac_stats){0});
        memcpy(on ? g16 : g32, f->grads, nb);
    }
    nn_set_bf16(0);
    const hpo_nets *n = &f->nets;
    double eq = rel_l2(g16 + n->q_off, g32 + n->q_off, n->q_n);
    double ep = rel_l2(g16 + n->pi.offset, g32 + n->pi.offset, n->pi.n_params);
    double eh =
        fmax(rel_l2(g16 + n->th.offset, g32 + n->th.offset, n->th.n_params),
             rel_l2(g16 + n->sh.offset, g32 + n->sh.offset, n->sh.n_params));
    print_message(
        "bf16 gradients against fp32 (rel. L2): critics %.1e, policy %.1e, T_h and sigma_h %.1e\n",
        eq, ep, eh);
    assert_true(eq > 0.0 && ep > 0.0 && eh > 0.0);
    /* a few percent (T_h's and sigma_h's the most: theirs runs through Q's
     * action-gradient at every leapfrog step); a wrong layout or operand
     * would be off by the gradient's own size */
    assert_true(eq < 0.1 && ep < 0.1 && eh < 0.1);

    cfg.precision = PRECISION_BF16;
    sac *a = sac_new(&cfg, DS, DA, 4, 1), *c = sac_new(&cfg, DS, DA, 4, 1);
    run_updates(f, 1, 2);
    run_updates(a, 1, 2);
    run_updates(c, 1, 2);
    assert_memory_equal(a->params, c->params, nb);
    assert_memory_not_equal(a->params, f->params, nb);
    /* acting: the fp32 agent given the bf16 agent's weights acts alike */
    memcpy(f->params, a->params, nb);
    assert_same_acts(a, f);
    free(g32);
    free(g16);
    replay_batch_release(&b);
    sac_destroy(&f);
    sac_destroy(&a);
    sac_destroy(&c);
}

/* cfg.threads = T splits the update over T lanes (worker threads) owning
 * whole 16-row noise blocks: the same seed and T must give the same weights,
 * and every T must agree with one lane up to float reassociation (the same
 * noise, rows and sums split differently). 40 rows: 3 blocks, the last one
 * partial. */
static void check_lanes(int threads)
{
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    cfg.batch = 40;
    cfg.threads = threads;
    sac *a = sac_new(&cfg, DS, DA, 4, 1), *b = sac_new(&cfg, DS, DA, 4, 1);
    assert_int_equal(a->n_lanes, threads);
    cfg.threads = 1;
    sac *one = sac_new(&cfg, DS, DA, 4, 1);
    size_t np = a->nets.n_params, nb = np * sizeof(float);
    run_updates(a, 1, 25);
    run_updates(b, 1, 25);
    run_updates(one, 1, 25);
    assert_memory_equal(a->params, b->params, nb);
    assert_memory_equal(a->target, b->target, nb);
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < np; i++) {
        diff = fmax(diff, fabs((double)a->params[i] - one->params[i]));
        norm = fmax(norm, fabs((double)one->params[i]));
    }
    print_message(
        "%d lanes vs one after 25 updates: max |diff| %.2e (max |param| %.2f)\n",
        threads, diff, norm);
    assert_true(diff < 1e-4 * norm);
    sac_destroy(&a);
    sac_destroy(&b);
    sac_destroy(&one);
}

static void test_determinism_lanes(void **state)
{
    (void)state;
    check_lanes(2);
    check_lanes(3);
    /* more threads than noise blocks: one lane per block */
    hpo_config cfg;
    small_config(&cfg, MODE_HPO);
    cfg.batch = 40;
    cfg.threads = 8;
    sac *s = sac_new(&cfg, DS, DA, 4, 1);
    assert_int_equal(s->n_lanes, 3);
    sac_destroy(&s);
}

/* The learned state's one list (sac_parts): every part a rollback
 * (sac_state_save / sac_state_restore) brings back, byte for byte; the list
 * covers every byte of the state but the alignment padding; any non-finite
 * float of it is seen. (test_checkpoint.c: the same through the files.) */
static void test_state_parts(void **state)
{
    (void)state;
    hpo_config c;
    small_config(&c, MODE_HPO);
    sac *s = sac_new(&c, DS, DA, 4, 1);
    run_updates(s, 5, 2); /* Adam moments and step counts set */
    size_t nb = sac_state_bytes(s);
    unsigned char *keep = malloc(nb), *now = malloc(nb);
    sac_state_save(s, keep);
    sac_part p[SAC_PARTS_MAX];
    int n = sac_parts(s, p);
    assert_int_equal(n, 11);
    size_t covered = 0;
    for (int i = 0; i < n; i++) {
        covered += p[i].n * (p[i].kind == SAC_F32 ? 4 : 8);
        test_perturb_part(&p[i]);
        sac_state_save(s, now);
        assert_true(memcmp(now, keep, nb) != 0);
        sac_state_restore(s, keep);
        sac_state_save(s, now);
        assert_memory_equal(now, keep, nb);
    }
    assert_int_equal(covered + 4, nb); /* OPTS: 4 bytes before the i64s */

    assert_true(sac_state_finite(s));
    for (int i = 0; i < n; i++) {
        if (p[i].kind != SAC_F32)
            continue;
        float *x = p[i].p, old = x[p[i].n - 1];
        x[p[i].n - 1] = NAN;
        assert_false(sac_state_finite(s));
        x[p[i].n - 1] = old;
    }
    assert_true(sac_state_finite(s));
    free(keep);
    free(now);
    sac_destroy(&s);
}

/* Model and data apart: sac_act reads the agent and writes only the
 * workspace it is given, so a second workspace acts bit for bit as the
 * agent's own, and parameters replaced in place (as a snapshot does) take
 * effect in both without rebuilding anything. */
static void test_acting_workspaces(void **state)
{
    (void)state;
    hpo_config c;
    small_config(&c, MODE_HPO);
    sac *a = sac_new(&c, DS, DA, 4, 0);
    sac_acting w;
    sac_acting_init(&w, a, 4);
    float obs[4 * DS], x1[4 * DA], x2[4 * DA], d1[4], d2[4];
    for (int i = 0; i < 4 * DS; i++)
        obs[i] = 0.1f * (float)(i % 7) - 0.3f;
    for (int det = 0; det <= 1; det++) {
        rng r1, r2;
        rng_init(&r1, 9, RNG_STREAM_ACT);
        rng_init(&r2, 9, RNG_STREAM_ACT);
        sac_act(a, &a->act, obs, 4, det, &r1, x1, d1);
        sac_act(a, &w, obs, 4, det, &r2, x2, d2);
        assert_memory_equal(x1, x2, sizeof x1);
        assert_memory_equal(d1, d2, sizeof d1);
    }
    /* new parameters in place: both workspaces follow, and agree */
    rng r1, r2;
    rng_init(&r1, 9, RNG_STREAM_ACT);
    sac_act(a, &w, obs, 4, 1, &r1, x1, NULL);
    c.seed = 99;
    sac *d = sac_new(&c, DS, DA, 1, 0);
    memcpy(a->params, d->params, a->nets.n_params * sizeof(float));
    rng_init(&r1, 9, RNG_STREAM_ACT);
    rng_init(&r2, 9, RNG_STREAM_ACT);
    sac_act(a, &w, obs, 4, 1, &r1, x2, NULL);
    assert_true(memcmp(x1, x2, sizeof x1) != 0);
    sac_act(a, &a->act, obs, 4, 1, &r2, x1, NULL);
    assert_memory_equal(x1, x2, sizeof x1);
    sac_acting_release(&w);
    assert_null(w.xi);
    sac_destroy(&a);
    sac_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_loss_hpo),
        cmocka_unit_test(test_policy_loss_conventional),
        cmocka_unit_test(test_policy_loss_sac),
        cmocka_unit_test(test_policy_loss_temper_cool),
        cmocka_unit_test(test_policy_loss_straight),
        cmocka_unit_test(test_small_eps_is_sac),
        cmocka_unit_test(test_critic_loss),
        cmocka_unit_test(test_critic_target_terminal),
        cmocka_unit_test(test_temperature_loss),
        cmocka_unit_test(test_alpha_target_hd),
        cmocka_unit_test(test_bf16_update),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_determinism_lanes),
        cmocka_unit_test(test_state_parts),
        cmocka_unit_test(test_acting_workspaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
