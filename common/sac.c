#include "sac.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static void set_hd(hd_params *p, int kind, const hpo_config *c, float std)
{
    p->kind = (hd_kind)kind;
    p->K = c->K;
    p->eps = c->eps;
    p->beta0 = 1.0f / (std * std);
}

sac *sac_new(const hpo_config *cfg, int obs_dim, int act_dim, int act_max,
             int with_update)
{
    HPO_ASSERT(act_max >= 1);
    sac *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    hpo_nets_init(&s->nets, obs_dim, act_dim, cfg->pi_layers, cfg->pi_hidden,
                  cfg->q_layers, cfg->q_hidden, cfg->h_hidden,
                  cfg->h_use_state);
    set_hd(&s->hd_exp, mode_explore_hd(cfg->mode), cfg, cfg->std_exp);
    set_hd(&s->hd_opt, mode_optim_hd(cfg->mode), cfg, cfg->std_tr);
    set_hd(&s->hd_tgt, cfg->hd_target ? mode_optim_hd(cfg->mode) : HD_NONE,
           cfg, cfg->std_tr);
    s->opt = (adam){.lr = cfg->lr, .beta1 = 0.9f, .beta2 = 0.999f,
                    .eps = 1e-8f};
    s->log_alpha = logf(cfg->alpha);

    size_t np = s->nets.n_params;
    s->params = xalloc_floats(np);
    rng r;
    rng_init(&r, cfg->seed, RNG_STREAM_INIT);
    hpo_nets_init_params(&s->nets, s->params, &r);
    s->target = xalloc_floats(np);
    memcpy(s->target, s->params, np * sizeof(float));

    size_t da = (size_t)act_dim;
    if (with_update) {
        int m = cfg->batch;
        s->m = m;
        s->grads = xalloc_floats(np);
        s->adam_m = xalloc_floats(np);
        s->adam_v = xalloc_floats(np);
        mlp_cache_init(&s->pic, &s->nets.pi, m);
        hd_ws_init(&s->hw, &s->nets, m, cfg->K, 1);
        float **bufs[] = {&s->xi, &s->rho0, &s->a0, &s->std,
                          &s->aK, &s->ac, &s->abar};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            *bufs[i] = xalloc_floats((size_t)m * da);
        s->logp = xalloc_floats((size_t)m);
        s->y = xalloc_floats((size_t)m);
        s->dq = xalloc_floats((size_t)m);
        s->qt = xalloc_floats((size_t)m);
        s->dout = xalloc_floats((size_t)m * 2 * da);
    }
    s->act_max = act_max;
    mlp_cache_init(&s->pic_act, &s->nets.pi, act_max);
    hd_ws_init(&s->hw_act, &s->nets, act_max, cfg->K, 0);
    s->xi_act = xalloc_floats((size_t)act_max * da);
    s->a0_act = xalloc_floats((size_t)act_max * da);
    s->std_act = xalloc_floats((size_t)act_max * da);
    s->rho_act = xalloc_floats((size_t)act_max * da);
    return s;
}

void sac_destroy(sac **sp)
{
    if (!sp || !*sp)
        return;
    sac *s = *sp;
    free(s->params);
    free(s->target);
    free(s->grads);
    free(s->adam_m);
    free(s->adam_v);
    if (s->m) {
        mlp_cache_release(&s->pic);
        hd_ws_release(&s->hw);
    }
    float *bufs[] = {s->xi, s->rho0, s->a0, s->std, s->aK, s->ac, s->abar,
                     s->logp, s->y, s->dq, s->qt, s->dout};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    mlp_cache_release(&s->pic_act);
    hd_ws_release(&s->hw_act);
    free(s->xi_act);
    free(s->a0_act);
    free(s->std_act);
    free(s->rho_act);
    free(s);
    *sp = NULL;
}

float sac_alpha(const sac *s) { return expf(s->log_alpha); }

/* Add the time since *t0 to phase ph and restart the clock (when profiling). */
static void lap(sac *s, int ph, double *t0)
{
    if (!s->prof)
        return;
    double t = now_s();
    s->prof[ph] += t - *t0;
    *t0 = t;
}

static double lap_start(const sac *s) { return s->prof ? now_s() : 0.0; }

static void clip_into(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] < -1.0f ? -1.0f : src[i] > 1.0f ? 1.0f : src[i];
}

void sac_critic_target(sac *s, const replay_batch *b, rng *r, float alpha)
{
    const hpo_nets *n = &s->nets;
    int m = s->m, da = n->act_dim;
    size_t nda = (size_t)m * da;
    double t0 = lap_start(s);
    const float *out = mlp_forward(&n->pi, s->params, &s->pic, b->next_obs, m);
    rng_normal_fill(r, s->xi, nda, 1.0f);
    policy_head(s->a0, s->std, s->logp, out, s->xi, m, da);
    lap(s, SAC_PH_TARGET_PI, &t0);
    if (s->hd_tgt.kind != HD_NONE) {
        rng_normal_fill(r, s->rho0, nda, s->cfg.std_tr);
        hd_forward(&s->hw, n, s->params, &s->hd_tgt, alpha, b->next_obs,
                   s->a0, s->rho0, s->aK, NULL, m);
        clip_into(s->ac, s->aK, nda);
    } else {
        memcpy(s->ac, s->a0, nda * sizeof(float));
    }
    lap(s, SAC_PH_TARGET_HD, &t0);
    hd_qmin(&s->hw, n, s->target, b->next_obs, s->ac, s->qt, m);
    const float g = s->cfg.gamma;
    for (int i = 0; i < m; i++)
        s->y[i] = b->reward[i] +
                  g * (1.0f - b->done[i]) * (s->qt[i] - alpha * s->logp[i]);
    lap(s, SAC_PH_TARGET_Q, &t0);
}

float sac_critic_grad(sac *s, const replay_batch *b, float *q_mean)
{
    const hpo_nets *n = &s->nets;
    hd_ws *w = &s->hw;
    int m = s->m, din = n->obs_dim + n->act_dim;
    memset(s->grads + n->q_off, 0, n->q_n * sizeof(float));
    /* both critics read the same (s, a) rows */
    for (int i = 0; i < m; i++) {
        memcpy(w->sa + (size_t)i * din, b->obs + (size_t)i * n->obs_dim,
               (size_t)n->obs_dim * sizeof(float));
        memcpy(w->sa + (size_t)i * din + n->obs_dim,
               b->act + (size_t)i * n->act_dim,
               (size_t)n->act_dim * sizeof(float));
    }
    float loss = 0.0f;
    double qsum = 0.0;
    const mlp *qs[2] = {&n->q1, &n->q2};
    mlp_cache *cs[2] = {&w->q1c, &w->q2c};
    for (int j = 0; j < 2; j++) {
        const float *q = mlp_forward(qs[j], s->params, cs[j], w->sa, m);
        double l = 0.0;
        for (int i = 0; i < m; i++) {
            float d = q[i] - s->y[i];
            l += (double)d * d;
            s->dq[i] = 2.0f * d / (float)m;
            if (j == 0)
                qsum += q[i];
        }
        loss += (float)(l / m);
        mlp_backward(qs[j], s->params, s->grads, cs[j], w->sa, s->dq, NULL,
                     din, m);
    }
    if (q_mean)
        *q_mean = (float)(qsum / m);
    return loss;
}

float sac_policy_grad(sac *s, const replay_batch *b, rng *r, float alpha,
                      sac_stats *st)
{
    const hpo_nets *n = &s->nets;
    hd_ws *w = &s->hw;
    int m = s->m, da = n->act_dim;
    size_t nda = (size_t)m * da;
    double t0 = lap_start(s);
    memset(s->grads + n->pol_off, 0, n->pol_n * sizeof(float));

    const float *out = mlp_forward(&n->pi, s->params, &s->pic, b->obs, m);
    rng_normal_fill(r, s->xi, nda, 1.0f);
    policy_head(s->a0, s->std, s->logp, out, s->xi, m, da);
    int hd = s->hd_opt.kind != HD_NONE;
    lap(s, SAC_PH_PI_FWD, &t0);
    if (hd) {
        rng_normal_fill(r, s->rho0, nda, s->cfg.std_tr);
        hd_forward(w, n, s->params, &s->hd_opt, alpha, b->obs, s->a0,
                   s->rho0, s->aK, NULL, m);
        clip_into(s->ac, s->aK, nda);
        st->gate = w->gate_n ? (float)(w->gate_sum / w->gate_n) : 0.0f;
    } else {
        memcpy(s->aK, s->a0, nda * sizeof(float));
        memcpy(s->ac, s->a0, nda * sizeof(float));
        st->gate = 0.0f;
    }
    lap(s, SAC_PH_HD_FWD, &t0);
    /* with HD, the state part of hd_forward (same critics, same s) */
    hd_qmin_grad(w, n, s->params, hd ? NULL : b->obs, s->ac, m);

    double loss = 0.0, lp = 0.0, dist = 0.0;
    const float inv_m = 1.0f / (float)m;
    for (int i = 0; i < m; i++) {
        loss += alpha * s->logp[i] - w->q[i];
        lp += s->logp[i];
        double d2 = 0.0;
        for (int k = 0; k < da; k++) {
            size_t j = (size_t)i * da + k;
            float x = s->aK[j];
            /* clip passes the gradient only strictly inside the box */
            s->abar[j] = (x > -1.0f && x < 1.0f) ? -inv_m * w->dqda[j] : 0.0f;
            double dd = (double)s->aK[j] - s->a0[j];
            d2 += dd * dd;
        }
        dist += sqrt(d2);
    }
    lap(s, SAC_PH_QGRAD, &t0);
    if (hd)
        hd_backward(w, n, s->params, s->grads, &s->hd_opt, s->abar, s->abar,
                    m);
    lap(s, SAC_PH_HD_BWD, &t0);
    policy_head_backward(s->dout, s->abar, alpha * inv_m, out, s->a0, s->std,
                         s->xi, m, da);
    mlp_backward(&n->pi, s->params, s->grads, &s->pic, b->obs, s->dout, NULL,
                 n->obs_dim, m);
    lap(s, SAC_PH_PI_BWD, &t0);
    st->logp = (float)(lp / m);
    st->hd_dist = (float)(dist / m);
    return (float)(loss / m);
}

float sac_alpha_grad(const sac *s, float mean_logp)
{
    float h = s->cfg.target_entropy != 0.0f ? s->cfg.target_entropy
                                            : -(float)s->nets.act_dim;
    /* L(log_alpha) = -log_alpha * mean(log pi + H_target) */
    return -(mean_logp + h);
}

static void alpha_step(sac *s, float mean_logp)
{
    float g = sac_alpha_grad(s, mean_logp);
    s->t_alpha++;
    adam_step(&s->opt, &s->log_alpha, &g, &s->la_m, &s->la_v, 1, s->t_alpha);
}

void sac_update(sac *s, const replay_batch *b, rng *r, sac_stats *st)
{
    HPO_ASSERT(s->m > 0 && b->m == s->m);
    HPO_ASSERT(b->obs_dim == s->nets.obs_dim && b->act_dim == s->nets.act_dim);
    sac_stats local;
    if (!st)
        st = &local;
    float alpha = sac_alpha(s);
    st->alpha = alpha;
    const hpo_nets *n = &s->nets;
    sac_critic_target(s, b, r, alpha);
    double t0 = lap_start(s);
    st->q_loss = sac_critic_grad(s, b, &st->q_mean);
    lap(s, SAC_PH_CRITIC, &t0);
    s->t_q++;
    adam_step(&s->opt, s->params + n->q_off, s->grads + n->q_off,
              s->adam_m + n->q_off, s->adam_v + n->q_off, n->q_n, s->t_q);
    lap(s, SAC_PH_CRITIC_ADAM, &t0);
    st->pi_loss = sac_policy_grad(s, b, r, alpha, st);
    t0 = lap_start(s);
    s->t_pi++;
    adam_step(&s->opt, s->params + n->pol_off, s->grads + n->pol_off,
              s->adam_m + n->pol_off, s->adam_v + n->pol_off, n->pol_n,
              s->t_pi);
    lap(s, SAC_PH_PI_ADAM, &t0);
    if (s->cfg.auto_alpha)
        alpha_step(s, st->logp);
    polyak_update(s->target + n->q_off, s->params + n->q_off, n->q_n,
                  s->cfg.tau);
    lap(s, SAC_PH_POLYAK, &t0);
    s->updates++;
}

void sac_act(sac *s, const float *obs, int n, int deterministic, rng *r,
             float *action, float *hd_dist)
{
    HPO_ASSERT(n >= 1 && n <= s->act_max);
    const hpo_nets *nets = &s->nets;
    int da = nets->act_dim;
    size_t nda = (size_t)n * da;
    const float *out = mlp_forward(&nets->pi, s->params, &s->pic_act, obs, n);
    if (!deterministic)
        rng_normal_fill(r, s->xi_act, nda, 1.0f);
    policy_head(s->a0_act, s->std_act, NULL, out,
                deterministic ? NULL : s->xi_act, n, da);
    int hd = s->hd_exp.kind != HD_NONE && (!deterministic || s->cfg.eval_hd);
    if (hd) {
        if (!deterministic)
            rng_normal_fill(r, s->rho_act, nda, s->cfg.std_exp);
        hd_forward(&s->hw_act, nets, s->params, &s->hd_exp, sac_alpha(s), obs,
                   s->a0_act, deterministic ? NULL : s->rho_act, action,
                   NULL, n);
        clip_into(action, action, nda);
    } else {
        memcpy(action, s->a0_act, nda * sizeof(float));
    }
    if (hd_dist)
        for (int i = 0; i < n; i++) {
            double d2 = 0.0;
            for (int k = 0; k < da; k++) {
                double d = (double)action[(size_t)i * da + k] -
                           s->a0_act[(size_t)i * da + k];
                d2 += d * d;
            }
            hd_dist[i] = (float)sqrt(d2);
        }
}

const char *sac_phase_name(int ph)
{
    static const char *const names[SAC_PH_N] = {
        "target_pi", "target_hd", "target_q", "critic", "critic_adam",
        "pi_fwd", "hd_fwd", "qgrad", "hd_bwd", "pi_bwd", "pi_adam", "polyak"};
    return ph >= 0 && ph < SAC_PH_N ? names[ph] : "?";
}

/* Multiply-adds per sample of one leapfrog pass of kind k (K force
 * evaluations), the critics' state part computed once; qgrad is one Qmin
 * action-gradient given that state part, h the T_h + sigma_h forward. */
static double hd_pass_macs(hd_kind k, int K, double state, double qgrad,
                           double h)
{
    if (k == HD_NONE)
        return 0.0;
    return 2.0 * state + K * (qgrad + (k == HD_PROPOSED ? h : 0.0));
}

double sac_update_macs(const sac *s)
{
    const hpo_nets *n = &s->nets;
    const mlp *q1 = &n->q1;
    double pi = mlp_macs(&n->pi), q = mlp_macs(q1);
    double h = mlp_macs(&n->th) + mlp_macs(&n->sh);
    int K = s->cfg.K;
    /* the state columns' share of a critic's first layer, and one Qmin
     * action-gradient given it: both critics forward from the state part;
     * each row backward through its min critic only, to the action columns
     * of the input (the scalar output layer's backward is a broadcast, not a
     * product) */
    double state = (double)n->obs_dim * q1->dims[1];
    double qbwd = q - q1->dims[q1->n_layers - 1] - state;
    double qgrad = 2.0 * (q - state) + qbwd;
    double total = 0.0;
    /* critic target: pi forward, HD, target critics forward */
    total += pi + hd_pass_macs(s->hd_tgt.kind, K, state, qgrad, h) + 2.0 * q;
    /* critic step: forward, weight-gradient of both critics; the backward
     * skips the layer-1 input product */
    total += 2.0 * q + 2.0 * q + 2.0 * (q - n->q1.dims[0] * n->q1.dims[1]);
    /* policy step: pi forward, HD, Qmin gradient at clip(aK) (the HD pass's
     * state part reused; without HD it is formed here), HD backward (T_h and
     * sigma_h: weight and input gradient at each of the K points), pi
     * backward (weights; no input gradient) */
    total += pi + hd_pass_macs(s->hd_opt.kind, K, state, qgrad, h);
    total += s->hd_opt.kind != HD_NONE ? qgrad : 2.0 * state + qgrad;
    if (s->hd_opt.kind == HD_PROPOSED)
        total += K * 2.0 * h;
    total += pi + (pi - n->pi.dims[0] * n->pi.dims[1]);
    return total;
}

// ---- weights file (docs/weights.md) ----

#define WEIGHTS_MAGIC "HPOWGT\r\n"
#define WEIGHTS_VERSION 1u

typedef struct weights_header {
    char magic[8];
    uint32_t version;
    uint32_t obs_dim, act_dim;
    uint32_t pi_layers, pi_hidden, q_layers, q_hidden, h_hidden, h_use_state;
    uint32_t reserved;
    uint64_t n_params;
    uint64_t updates;
    float log_alpha;
    uint32_t crc;      /* CRC-32 of the header with crc = 0, then the data */
} weights_header;

static uint32_t crc32_update(uint32_t crc, const void *buf, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void fill_header(const sac *s, weights_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, WEIGHTS_MAGIC, 8);
    h->version = WEIGHTS_VERSION;
    h->obs_dim = (uint32_t)s->nets.obs_dim;
    h->act_dim = (uint32_t)s->nets.act_dim;
    h->pi_layers = (uint32_t)s->cfg.pi_layers;
    h->pi_hidden = (uint32_t)s->cfg.pi_hidden;
    h->q_layers = (uint32_t)s->cfg.q_layers;
    h->q_hidden = (uint32_t)s->cfg.q_hidden;
    h->h_hidden = (uint32_t)s->cfg.h_hidden;
    h->h_use_state = (uint32_t)s->cfg.h_use_state;
    h->n_params = s->nets.n_params;
    h->updates = (uint64_t)s->updates;
    h->log_alpha = s->log_alpha;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int sac_save(const sac *s, const char *path, char *err, size_t errlen)
{
    weights_header h;
    fill_header(s, &h);
    size_t nb = s->nets.n_params * sizeof(float);
    uint32_t crc = crc32_update(0, &h, sizeof h);
    crc = crc32_update(crc, s->params, nb);
    crc = crc32_update(crc, s->target, nb);
    h.crc = crc;

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errf(err, errlen, "weights path too long: %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, &h, sizeof h) || write_all(fd, s->params, nb) ||
        write_all(fd, s->target, nb) || fsync(fd)) {
        errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) || rename(tmp, path)) {
        errf(err, errlen, "cannot move %s to %s: %s", tmp, path,
             strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int sac_load(sac *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        errf(err, errlen, "cannot open weights %s: %s", path, strerror(errno));
        return -1;
    }
    weights_header h, want;
    fill_header(s, &want);
    size_t nb = s->nets.n_params * sizeof(float);
    float *p = NULL, *t = NULL;
    int rc = -1;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, WEIGHTS_MAGIC, 8)) {
        errf(err, errlen, "%s: not an hpo weights file (bad magic)", path);
        goto out;
    }
    if (h.version != WEIGHTS_VERSION) {
        errf(err, errlen, "%s: weights version %u, this build reads %u", path,
             h.version, WEIGHTS_VERSION);
        goto out;
    }
    if (h.obs_dim != want.obs_dim || h.act_dim != want.act_dim ||
        h.pi_layers != want.pi_layers || h.pi_hidden != want.pi_hidden ||
        h.q_layers != want.q_layers || h.q_hidden != want.q_hidden ||
        h.h_hidden != want.h_hidden || h.h_use_state != want.h_use_state ||
        h.n_params != want.n_params) {
        errf(err, errlen,
             "%s: shapes differ: file obs %u act %u pi %ux%u q %ux%u h %u "
             "(state %u), this agent obs %u act %u pi %ux%u q %ux%u h %u "
             "(state %u)",
             path, h.obs_dim, h.act_dim, h.pi_layers, h.pi_hidden, h.q_layers,
             h.q_hidden, h.h_hidden, h.h_use_state, want.obs_dim,
             want.act_dim, want.pi_layers, want.pi_hidden, want.q_layers,
             want.q_hidden, want.h_hidden, want.h_use_state);
        goto out;
    }
    p = xmalloc(nb);
    t = xmalloc(nb);
    if (fread(p, 1, nb, f) != nb || fread(t, 1, nb, f) != nb) {
        errf(err, errlen, "%s: truncated (expected %zu parameter bytes)", path,
             2 * nb);
        goto out;
    }
    uint32_t stored = h.crc;
    h.crc = 0;
    uint32_t crc = crc32_update(0, &h, sizeof h);
    crc = crc32_update(crc, p, nb);
    crc = crc32_update(crc, t, nb);
    if (crc != stored) {
        errf(err, errlen, "%s: checksum mismatch (file corrupt)", path);
        goto out;
    }
    memcpy(s->params, p, nb);
    memcpy(s->target, t, nb);
    s->log_alpha = h.log_alpha;
    rc = 0;
out:
    free(p);
    free(t);
    fclose(f);
    return rc;
}
