#include "sac.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "util.h"

#define SAC_MAX_LANES 64
/* Rows per noise block: each block of the batch draws its loss noise from
 * its own stream, keyed by (a draw of the caller's stream, its first row),
 * and lanes own whole blocks, so every lane count draws the same noise. */
#define SAC_NOISE_ROWS 16

/* One lane of the update: a block of batch rows, its workspaces, and the
 * partial results the caller's thread combines in lane order. */
typedef struct sac_lane {
    sac *s;
    int index;
    int r0, n;               /* rows r0 .. r0 + n - 1 of the batch */
    hd_ws hw;                /* leapfrog and Qmin at these rows */
    mlp_cache pic;           /* pi forward at these rows */
    float *gpol;             /* (pol_off + pol_n) policy-group gradient of
                                these rows at its block offsets (lane 0 writes
                                the policy range of s->grads instead) */
    double loss, logp, dist; /* policy loss sums over these rows */
    float qloss;             /* critic loss of the critic this lane ran */
    double qsum; /* sum of Q1 over the batch (the lane that ran Q1) */
} sac_lane;

typedef enum {
    TASK_TARGET, /* critic target y at each lane's rows */
    TASK_CRITIC, /* critic loss gradient, Q1 on lane 0, Q2 on 1 */
    TASK_POLICY, /* policy loss gradient of each lane's rows */
    TASK_REDUCE, /* sum the lanes' policy gradients, a slice each */
} task_kind;

/* The lanes' threads and the task they run next: run_task writes the task
 * before pool_start, the lanes read it. */
typedef struct sac_work {
    pool *pool; /* lanes 1 .. n_lanes - 1; NULL with one lane */
    task_kind task;
    const replay_batch *b;
    float alpha;
    int step;
} sac_work;

static void set_hd(hd_params *p, int kind, const hpo_config *c, float std)
{
    p->kind = (hd_kind)kind;
    p->K = c->K;
    p->eps = c->eps;
    p->beta0 = 1.0f / (std * std);
    p->temper = c->temper;
}

static void lane_run(sac_lane *l);

static void lane_task(void *arg, int index)
{
    sac *s = arg;
    lane_run(&s->lanes[index]);
}

/* Lanes, their row blocks and workspaces, and the worker threads. */
static void lanes_init(sac *s)
{
    int m = s->m, L = s->cfg.threads;
    int nb = (m + SAC_NOISE_ROWS - 1) / SAC_NOISE_ROWS;
    L = L < 1 ? 1 : L > nb ? nb : L > SAC_MAX_LANES ? SAC_MAX_LANES : L;
    s->n_lanes = L;
    s->lanes = xcalloc((size_t)L, sizeof *s->lanes);
    for (int i = 0; i < L; i++) {
        sac_lane *l = &s->lanes[i];
        l->s = s;
        l->index = i;
        l->r0 = HPO_MIN(m, SAC_NOISE_ROWS * (int)((long)nb * i / L));
        l->n =
            HPO_MIN(m, SAC_NOISE_ROWS * (int)((long)nb * (i + 1) / L)) - l->r0;
        hd_ws_init(&l->hw, &s->nets, l->n, s->cfg.K, 1);
        mlp_cache_init(&l->pic, &s->nets.pi, l->n);
        l->gpol = i ? xalloc_floats(s->nets.pol_off + s->nets.pol_n) : NULL;
    }
    s->work = xcalloc(1, sizeof *s->work);
    if (L == 1)
        return;
    /* the lanes are the threads: each BLAS call stays on its caller's */
    nn_set_threads(1);
    s->work->pool = pool_new(L - 1, lane_task, s);
}

static void lanes_release(sac *s)
{
    if (s->work) {
        pool_destroy(&s->work->pool);
        free(s->work);
        s->work = NULL;
    }
    for (int i = 0; i < s->n_lanes; i++) {
        hd_ws_release(&s->lanes[i].hw);
        mlp_cache_release(&s->lanes[i].pic);
        free(s->lanes[i].gpol);
    }
    free(s->lanes);
    s->lanes = NULL;
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
    set_hd(&s->hd_tgt, cfg->hd_target ? mode_optim_hd(cfg->mode) : HD_NONE, cfg,
           cfg->std_tr);
    s->opt =
        (adam){.lr = cfg->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
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
        mlp_cache_init(&s->qc[0], &s->nets.q1, m);
        mlp_cache_init(&s->qc[1], &s->nets.q2, m);
        s->sa = xalloc_floats((size_t)m * (obs_dim + act_dim));
        float **bufs[] = {&s->xi, &s->rho0, &s->a0,  &s->std,
                          &s->aK, &s->ac,   &s->abar};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            *bufs[i] = xalloc_floats((size_t)m * da);
        s->logp = xalloc_floats((size_t)m);
        s->y = xalloc_floats((size_t)m);
        s->dq[0] = xalloc_floats((size_t)m);
        s->dq[1] = xalloc_floats((size_t)m);
        s->qt = xalloc_floats((size_t)m);
        s->dout = xalloc_floats((size_t)m * 2 * da);
        lanes_init(s);
    }
    sac_acting_init(&s->act, s, act_max);
    return s;
}

void sac_acting_init(sac_acting *w, const sac *s, int act_max)
{
    HPO_ASSERT(act_max >= 1);
    size_t n = (size_t)act_max * (size_t)s->nets.act_dim;
    w->act_max = act_max;
    mlp_cache_init(&w->pic, &s->nets.pi, act_max);
    hd_ws_init(&w->hw, &s->nets, act_max, s->cfg.K, 0);
    w->xi = xalloc_floats(n);
    w->a0 = xalloc_floats(n);
    w->std = xalloc_floats(n);
    w->rho = xalloc_floats(n);
}

void sac_acting_release(sac_acting *w)
{
    mlp_cache_release(&w->pic);
    hd_ws_release(&w->hw);
    free(w->xi);
    free(w->a0);
    free(w->std);
    free(w->rho);
    memset(w, 0, sizeof *w);
}

void sac_destroy(sac **sp)
{
    if (!sp || !*sp)
        return;
    sac *s = *sp;
    if (s->m) {
        lanes_release(s);
        nn_bf16_release(); /* this thread's bf16 scratch, if it made one */
        mlp_cache_release(&s->qc[0]);
        mlp_cache_release(&s->qc[1]);
    }
    free(s->params);
    free(s->target);
    free(s->grads);
    free(s->adam_m);
    free(s->adam_v);
    float *bufs[] = {s->xi,    s->rho0, s->a0,   s->std, s->aK,
                     s->ac,    s->abar, s->logp, s->y,   s->dq[0],
                     s->dq[1], s->qt,   s->dout, s->sa};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    sac_acting_release(&s->act);
    free(s);
    *sp = NULL;
}

float sac_alpha(const sac *s)
{
    return expf(s->log_alpha);
}

/* Add the time since *t0 to phase ph and restart the clock, when profiling
 * and on lane 0 (the caller's thread: the other lanes do the same work on
 * other rows). */
static void lap(const sac_lane *l, int ph, double *t0)
{
    sac *s = l->s;
    if (!s->prof || l->index)
        return;
    double t = now_s();
    s->prof[ph] += t - *t0;
    *t0 = t;
}

static double lap_start(const sac_lane *l)
{
    return l->s->prof && !l->index ? now_s() : 0.0;
}

/* Run task on every lane: the workers and this thread (lane 0); return when
 * all are done. The task's inputs are written before gen's release and its
 * results read after pending's acquire (seq_cst atomics, so a sleeper is
 * either seen and woken under the mutex or sees the new generation). */
static void run_task(sac *s, task_kind task, const replay_batch *b, float alpha,
                     int step)
{
    sac_work *w = s->work;
    *w = (sac_work){
        .pool = w->pool, .task = task, .b = b, .alpha = alpha, .step = step};
    if (!w->pool) {
        lane_run(&s->lanes[0]);
        return;
    }
    pool_start(w->pool);
    lane_run(&s->lanes[0]);
    double t0 = lap_start(&s->lanes[0]);
    pool_wait(w->pool);
    lap(&s->lanes[0], SAC_PH_SYNC, &t0);
}

static void clip_into(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] < -1.0f ? -1.0f : src[i] > 1.0f ? 1.0f : src[i];
}

/* The lane's rows of xi ~ N(0, 1) and, with a leapfrog, rho0 ~ N(0, std^2),
 * block by block from the streams of s->noise_key. */
static void lane_noise(sac_lane *l, int hd, float std)
{
    sac *s = l->s;
    size_t da = (size_t)s->nets.act_dim;
    for (int b0 = l->r0; b0 < l->r0 + l->n; b0 += SAC_NOISE_ROWS) {
        size_t n = (size_t)HPO_MIN(SAC_NOISE_ROWS, l->r0 + l->n - b0) * da;
        rng g;
        rng_init(&g, s->noise_key, (uint64_t)b0);
        rng_normal_fill(&g, s->xi + (size_t)b0 * da, n, 1.0f);
        if (hd)
            rng_normal_fill(&g, s->rho0 + (size_t)b0 * da, n, std);
    }
}

// ---- critic target ----

/* y at the lane's rows: pi at s', the target's leapfrog, target Qmin. */
static void lane_target(sac_lane *l, const replay_batch *b, float alpha)
{
    sac *s = l->s;
    const hpo_nets *n = &s->nets;
    int r0 = l->r0, rows = l->n, ds = n->obs_dim, da = n->act_dim;
    size_t o = (size_t)r0 * da, nda = (size_t)rows * da;
    const float *s2 = b->next_obs + (size_t)r0 * ds;
    double t0 = lap_start(l);
    lane_noise(l, s->hd_tgt.kind != HD_NONE, s->cfg.std_tr);
    const float *out = mlp_forward(&n->pi, s->params, &l->pic, s2, rows);
    policy_head(s->a0 + o, s->std + o, s->logp + r0, out, s->xi + o, rows, da);
    lap(l, SAC_PH_TARGET_PI, &t0);
    const float *ac = s->a0 + o; /* no leapfrog: a0 = tanh(u) is in the box */
    if (s->hd_tgt.kind != HD_NONE) {
        hd_forward(&l->hw, n, s->params, &s->hd_tgt, alpha, s2, s->a0 + o,
                   s->rho0 + o, s->aK + o, NULL, rows);
        clip_into(s->ac + o, s->aK + o, nda);
        ac = s->ac + o;
    }
    lap(l, SAC_PH_TARGET_HD, &t0);
    hd_qmin(&l->hw, n, s->target, s2, ac, s->qt + r0, rows);
    const float g = s->cfg.gamma;
    for (int i = r0; i < r0 + rows; i++)
        s->y[i] = b->reward[i] +
                  g * (1.0f - b->done[i]) * (s->qt[i] - alpha * s->logp[i]);
    lap(l, SAC_PH_TARGET_Q, &t0);
}

void sac_critic_target(sac *s, const replay_batch *b, rng *r, float alpha)
{
    s->noise_key = rng_u64(r); /* the lanes draw from it (lane_noise) */
    run_task(s, TASK_TARGET, b, alpha, 0);
}

// ---- critic loss ----

/* Critic j's loss against s->y over the batch, its gradient into its range
 * of s->grads; with step, its Adam step and Polyak averaging too (nothing
 * after the critic step reads the critics' parameters or targets). */
static void critic_one(sac_lane *l, int j, int step)
{
    sac *s = l->s;
    const hpo_nets *n = &s->nets;
    const mlp *q = j ? &n->q2 : &n->q1;
    int m = s->m, din = n->obs_dim + n->act_dim;
    double t0 = lap_start(l);
    memset(s->grads + q->offset, 0, q->n_params * sizeof(float));
    const float *v = mlp_forward(q, s->params, &s->qc[j], s->sa, m);
    double loss = 0.0, qsum = 0.0;
    for (int i = 0; i < m; i++) {
        float d = v[i] - s->y[i];
        loss += (double)d * d;
        s->dq[j][i] = 2.0f * d / (float)m;
        qsum += v[i];
    }
    l->qloss = (float)(loss / m);
    if (j == 0)
        l->qsum = qsum;
    mlp_backward(q, s->params, s->grads, &s->qc[j], s->sa, s->dq[j], NULL, din,
                 m);
    lap(l, SAC_PH_CRITIC, &t0);
    if (!step)
        return;
    size_t o = q->offset;
    adam_step(&s->opt, s->params + o, s->grads + o, s->adam_m + o,
              s->adam_v + o, q->n_params, s->t_q);
    lap(l, SAC_PH_CRITIC_ADAM, &t0);
    polyak_update(s->target + o, s->params + o, q->n_params, s->cfg.tau);
    lap(l, SAC_PH_POLYAK, &t0);
}

static void lane_critic(sac_lane *l, int step)
{
    if (l->s->n_lanes == 1) {
        critic_one(l, 0, step);
        float q1loss = l->qloss;
        critic_one(l, 1, step);
        l->qloss += q1loss;
    } else if (l->index < 2) {
        critic_one(l, l->index, step);
    }
}

/* Both critics' loss and gradient (with step: Adam, Polyak); returns the
 * loss, the mean of Q1 into *q_mean (Nullable). */
static float critic_step(sac *s, const replay_batch *b, float *q_mean, int step)
{
    const hpo_nets *n = &s->nets;
    int m = s->m, ds = n->obs_dim, da = n->act_dim, din = ds + da;
    /* both critics read the same (s, a) rows */
    for (int i = 0; i < m; i++) {
        memcpy(s->sa + (size_t)i * din, b->obs + (size_t)i * ds,
               (size_t)ds * sizeof(float));
        memcpy(s->sa + (size_t)i * din + ds, b->act + (size_t)i * da,
               (size_t)da * sizeof(float));
    }
    run_task(s, TASK_CRITIC, b, 0.0f, step);
    float loss = s->lanes[0].qloss;
    if (s->n_lanes > 1)
        loss += s->lanes[1].qloss;
    if (q_mean)
        *q_mean = (float)(s->lanes[0].qsum / m);
    return loss;
}

float sac_critic_grad(sac *s, const replay_batch *b, float *q_mean)
{
    return critic_step(s, b, q_mean, 0);
}

// ---- policy loss ----

/* The policy loss's gradient from the lane's rows into its gpol (lane 0:
 * the policy range of s->grads); its sums into the lane. */
static void lane_policy(sac_lane *l, const replay_batch *b, float alpha)
{
    sac *s = l->s;
    const hpo_nets *n = &s->nets;
    hd_ws *w = &l->hw;
    int r0 = l->r0, rows = l->n, ds = n->obs_dim, da = n->act_dim;
    size_t o = (size_t)r0 * da, nda = (size_t)rows * da;
    const float *obs = b->obs + (size_t)r0 * ds;
    float *g = l->index ? l->gpol : s->grads;
    double t0 = lap_start(l);
    lane_noise(l, s->hd_opt.kind != HD_NONE, s->cfg.std_tr);
    memset(g + n->pol_off, 0, n->pol_n * sizeof(float));

    const float *out = mlp_forward(&n->pi, s->params, &l->pic, obs, rows);
    policy_head(s->a0 + o, s->std + o, s->logp + r0, out, s->xi + o, rows, da);
    int hd = s->hd_opt.kind != HD_NONE;
    lap(l, SAC_PH_PI_FWD, &t0);
    /* these rows' aK and clip(aK); without a leapfrog both are a0 itself */
    const float *a0 = s->a0 + o, *aK = a0, *ac = a0;
    if (hd) {
        hd_forward(w, n, s->params, &s->hd_opt, alpha, obs, a0, s->rho0 + o,
                   s->aK + o, NULL, rows);
        clip_into(s->ac + o, s->aK + o, nda);
        aK = s->aK + o;
        ac = s->ac + o;
    }
    lap(l, SAC_PH_HD_FWD, &t0);
    /* with HD, the state part of hd_forward (same critics, same s) */
    hd_qmin_grad(w, n, s->params, hd ? NULL : obs, ac, rows);

    double loss = 0.0, lp = 0.0, dist = 0.0;
    const float inv_m = 1.0f / (float)s->m;
    const int straight = s->cfg.clip_grad == CLIP_GRAD_STRAIGHT;
    for (int i = 0; i < rows; i++) {
        loss += alpha * s->logp[r0 + i] - w->q[i];
        lp += s->logp[r0 + i];
        double d2 = 0.0;
        for (int k = 0; k < da; k++) {
            size_t j = (size_t)i * da + k;
            float x = aK[j];
            /* clip passes the gradient only strictly inside the box;
             * straight-through passes it everywhere, Qmin's gradient still
             * taken at clip(aK) (without a leapfrog aK = a0 is in the box,
             * and at +-1 tanh's derivative is 0: no difference) */
            s->abar[o + j] = (straight || (x > -1.0f && x < 1.0f))
                                 ? -inv_m * w->dqda[j]
                                 : 0.0f;
            double dd = (double)x - a0[j];
            d2 += dd * dd;
        }
        dist += sqrt(d2);
    }
    l->loss = loss;
    l->logp = lp;
    l->dist = dist;
    lap(l, SAC_PH_QGRAD, &t0);
    if (hd)
        hd_backward(w, n, s->params, g, &s->hd_opt, s->abar + o, s->abar + o,
                    rows);
    lap(l, SAC_PH_HD_BWD, &t0);
    float *dout = s->dout + (size_t)r0 * 2 * da;
    policy_head_backward(dout, s->abar + o, alpha * inv_m, out, a0, s->std + o,
                         s->xi + o, rows, da);
    mlp_backward(&n->pi, s->params, g, &l->pic, obs, dout, NULL, ds, rows);
    lap(l, SAC_PH_PI_BWD, &t0);
}

/* Lane i's slice of the policy range: the other lanes' gradients summed
 * into s->grads in lane order; with step, Adam on the slice. */
static void lane_reduce(sac_lane *l, int step)
{
    sac *s = l->s;
    const hpo_nets *n = &s->nets;
    int L = s->n_lanes;
    size_t a = n->pol_n * (size_t)l->index / L;
    size_t e = n->pol_n * (size_t)(l->index + 1) / L;
    double t0 = lap_start(l);
    float *g = s->grads + n->pol_off;
    for (int k = 1; k < L; k++) {
        const float *gk = s->lanes[k].gpol + n->pol_off;
        for (size_t i = a; i < e; i++)
            g[i] += gk[i];
    }
    lap(l, SAC_PH_PI_BWD, &t0);
    if (!step)
        return;
    size_t o = n->pol_off + a;
    adam_step(&s->opt, s->params + o, s->grads + o, s->adam_m + o,
              s->adam_v + o, e - a, s->t_pi);
    lap(l, SAC_PH_PI_ADAM, &t0);
}

static float policy_step(sac *s, const replay_batch *b, rng *r, float alpha,
                         sac_stats *st, int step)
{
    s->noise_key = rng_u64(r);
    run_task(s, TASK_POLICY, b, alpha, 0);
    if (s->n_lanes > 1 || step)
        run_task(s, TASK_REDUCE, b, alpha, step);
    double loss = 0.0, lp = 0.0, dist = 0.0, gsum = 0.0;
    long gn = 0;
    for (int i = 0; i < s->n_lanes; i++) {
        const sac_lane *l = &s->lanes[i];
        loss += l->loss;
        lp += l->logp;
        dist += l->dist;
        gsum += l->hw.gate_sum;
        gn += l->hw.gate_n;
    }
    int m = s->m;
    st->gate = s->hd_opt.kind != HD_NONE && gn ? (float)(gsum / gn) : 0.0f;
    st->logp = (float)(lp / m);
    st->hd_dist = (float)(dist / m);
    return (float)(loss / m);
}

float sac_policy_grad(sac *s, const replay_batch *b, rng *r, float alpha,
                      sac_stats *st)
{
    return policy_step(s, b, r, alpha, st, 0);
}

static void lane_run(sac_lane *l)
{
    const sac_work *w = l->s->work;
    switch (w->task) {
    case TASK_TARGET:
        lane_target(l, w->b, w->alpha);
        break;
    case TASK_CRITIC:
        lane_critic(l, w->step);
        break;
    case TASK_POLICY:
        lane_policy(l, w->b, w->alpha);
        break;
    case TASK_REDUCE:
        lane_reduce(l, w->step);
        break;
    }
}

float sac_tuner_logp(const sac *s, float mean_logp)
{
    const hd_params *p = &s->hd_opt;
    if (s->cfg.alpha_target != ALPHA_TARGET_HD || p->kind == HD_NONE)
        return mean_logp;
    /* Forces neglected, step k moves a by eps rho_{k-1}, rho_{k-1} =
     * prod_{j<k} c_j rho0: aK = a0 + n, n ~ N(0, sn^2 I) independent of a0,
     * sn = eps std sum_{k=1..K} prod_{j<k} c_j (the c_k the leapfrog uses). */
    double c[HD_MAX_K], scale = 1.0, sum = 0.0;
    hd_tempering(c, p->K, p->beta0, p->temper);
    for (int k = 0; k < p->K; k++) {
        sum += scale;
        scale *= c[k];
    }
    double sn = p->eps * sum / sqrt((double)p->beta0);
    /* entropy power inequality, per dimension d: exp(2 H(aK) / d) >=
     * exp(2 H(a0) / d) + 2 pi e sn^2, equality for an isotropic Gaussian
     * a0; taken as the estimate, H(a0) = -mean log pi(a0) */
    double d = s->nets.act_dim, h0 = -(double)mean_logp;
    double x = 2.0 * h0 / d, y = log(2.0 * M_PI * M_E * sn * sn);
    double lse = fmax(x, y) + log1p(exp(-fabs(x - y)));
    return (float)(-0.5 * d * lse);
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
    /* the products in bf16 for this update only (acting stays fp32) */
    int bf16 = s->cfg.precision == PRECISION_BF16;
    if (bf16)
        nn_set_bf16(1);
    sac_critic_target(s, b, r, alpha);
    /* critic step: gradient, Adam and Polyak per critic */
    s->t_q++;
    st->q_loss = critic_step(s, b, &st->q_mean, 1);
    /* policy group step: gradient, then Adam per slice */
    s->t_pi++;
    st->pi_loss = policy_step(s, b, r, alpha, st, 1);
    if (s->cfg.auto_alpha)
        alpha_step(s, sac_tuner_logp(s, st->logp));
    if (bf16)
        nn_set_bf16(0);
    s->updates++;
}

void sac_act(const sac *s, sac_acting *w, const float *obs, int n,
             int deterministic, rng *r, float *action, float *hd_dist)
{
    HPO_ASSERT(n >= 1 && n <= w->act_max);
    const hpo_nets *nets = &s->nets;
    int da = nets->act_dim;
    size_t nda = (size_t)n * da;
    const float *out = mlp_forward(&nets->pi, s->params, &w->pic, obs, n);
    if (!deterministic)
        rng_normal_fill(r, w->xi, nda, 1.0f);
    policy_head(w->a0, w->std, NULL, out, deterministic ? NULL : w->xi, n, da);
    int hd = s->hd_exp.kind != HD_NONE && (!deterministic || s->cfg.eval_hd);
    if (hd) {
        if (!deterministic)
            rng_normal_fill(r, w->rho, nda, s->cfg.std_exp);
        hd_forward(&w->hw, nets, s->params, &s->hd_exp, sac_alpha(s), obs,
                   w->a0, deterministic ? NULL : w->rho, action, NULL, n);
        clip_into(action, action, nda);
    } else {
        memcpy(action, w->a0, nda * sizeof(float));
    }
    if (hd_dist)
        for (int i = 0; i < n; i++) {
            double d2 = 0.0;
            for (int k = 0; k < da; k++) {
                double d = (double)action[(size_t)i * da + k] -
                           w->a0[(size_t)i * da + k];
                d2 += d * d;
            }
            hd_dist[i] = (float)sqrt(d2);
        }
}

const char *sac_phase_name(int ph)
{
    static const char *const names[SAC_PH_N] = {
        "target_pi", "target_hd", "target_q", "critic", "critic_adam",
        "pi_fwd",    "hd_fwd",    "qgrad",    "hd_bwd", "pi_bwd",
        "pi_adam",   "polyak",    "sync"};
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
     * skips the layer-1 input product, and the output layer's input
     * gradient is a broadcast */
    total += 2.0 * q + 2.0 * q +
             2.0 * (q - (double)q1->dims[0] * q1->dims[1] -
                    q1->dims[q1->n_layers - 1]);
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

// ---- the learned state ----

/* The one list of the state (sac.h, "the learned state"): name, section,
 * kind, whether a weights-only load restores it, where it lives in struct
 * sac, and whether that is an array of n_params (1) or one scalar (0). */
typedef struct part_decl {
    const char *name;
    sac_section section;
    sac_kind kind;
    int weights;
    size_t off;
    int array;
} part_decl;

#define ARRAY_PART(f, sec, w)                                                  \
    {                                                                          \
#f, sec, SAC_F32, w, offsetof(sac, f), 1                               \
    }
#define SCALAR_PART(f, k, w)                                                   \
    {                                                                          \
#f, SAC_SEC_OPTS, k, w, offsetof(sac, f), 0                            \
    }
static const part_decl parts[] = {
    ARRAY_PART(params, SAC_SEC_NETS, 1), ARRAY_PART(target, SAC_SEC_NETS, 1),
    ARRAY_PART(adam_m, SAC_SEC_ADAM, 0), ARRAY_PART(adam_v, SAC_SEC_ADAM, 0),
    SCALAR_PART(log_alpha, SAC_F32, 1),  SCALAR_PART(la_m, SAC_F32, 0),
    SCALAR_PART(la_v, SAC_F32, 0),       SCALAR_PART(t_q, SAC_I64, 0),
    SCALAR_PART(t_pi, SAC_I64, 0),       SCALAR_PART(t_alpha, SAC_I64, 0),
    SCALAR_PART(updates, SAC_I64, 0),
};
#undef ARRAY_PART
#undef SCALAR_PART
#define N_PARTS (sizeof parts / sizeof parts[0])
_Static_assert(N_PARTS <= SAC_PARTS_MAX, "SAC_PARTS_MAX");
_Static_assert(sizeof(long) == 8, "i64 parts are longs");

/* Byte offset of part i in its section, and the section's end after it:
 * parts back to back, an i64 aligned to 8. */
static size_t part_at(size_t i, size_t n_params, size_t *end)
{
    size_t at = 0, here = 0;
    for (size_t j = 0; j <= i; j++) {
        if (parts[j].section != parts[i].section)
            continue;
        size_t elem = parts[j].kind == SAC_F32 ? 4 : 8;
        at = (at + elem - 1) / elem * elem;
        here = at;
        at += elem * (parts[j].array ? n_params : 1);
    }
    if (end)
        *end = at;
    return here;
}

int sac_parts(const sac *s, sac_part *out)
{
    int k = 0;
    size_t np = s->nets.n_params;
    for (size_t i = 0; i < N_PARTS; i++) {
        const part_decl *d = &parts[i];
        void *field = (char *)s + d->off;
        void *p = d->array ? *(float **)field : field;
        if (!p)
            continue; /* an actor: no Adam moments */
        out[k++] = (sac_part){
            d->name,           d->section,          d->kind, d->weights, p,
            d->array ? np : 1, part_at(i, np, NULL)};
    }
    return k;
}

size_t sac_section_bytes(sac_section sec, size_t n_params)
{
    size_t end = 0;
    for (size_t i = 0; i < N_PARTS; i++)
        if (parts[i].section == sec)
            part_at(i, n_params, &end);
    return end;
}

void sac_section_save(const sac *s, sac_section sec, void *buf)
{
    sac_part p[SAC_PARTS_MAX];
    int n = sac_parts(s, p);
    HPO_ASSERT(n == (int)N_PARTS);
    memset(buf, 0, sac_section_bytes(sec, s->nets.n_params));
    for (int i = 0; i < n; i++)
        if (p[i].section == sec)
            memcpy((char *)buf + p[i].at, p[i].p,
                   p[i].n * (p[i].kind == SAC_F32 ? 4 : 8));
}

void sac_section_restore(sac *s, sac_section sec, const void *buf,
                         int weights_only)
{
    sac_part p[SAC_PARTS_MAX];
    int n = sac_parts(s, p);
    for (int i = 0; i < n; i++)
        if (p[i].section == sec && (p[i].weights || !weights_only))
            memcpy(p[i].p, (const char *)buf + p[i].at,
                   p[i].n * (p[i].kind == SAC_F32 ? 4 : 8));
}

size_t sac_state_bytes(const sac *s)
{
    size_t n = 0;
    for (int sec = 0; sec < SAC_SEC_N; sec++)
        n += sac_section_bytes((sac_section)sec, s->nets.n_params);
    return n;
}

void sac_state_save(const sac *s, void *buf)
{
    char *at = buf;
    for (int sec = 0; sec < SAC_SEC_N; sec++) {
        sac_section_save(s, (sac_section)sec, at);
        at += sac_section_bytes((sac_section)sec, s->nets.n_params);
    }
}

void sac_state_restore(sac *s, const void *buf)
{
    HPO_ASSERT(s->adam_m && s->adam_v);
    const char *at = buf;
    for (int sec = 0; sec < SAC_SEC_N; sec++) {
        sac_section_restore(s, (sac_section)sec, at, 0);
        at += sac_section_bytes((sac_section)sec, s->nets.n_params);
    }
}

int sac_section_finite(sac_section sec, size_t n_params, const void *buf,
                       size_t from, size_t n, const char **part, size_t *index)
{
    HPO_ASSERT(from % 4 == 0);
    for (size_t i = 0; i < N_PARTS; i++) {
        if (parts[i].section != sec || parts[i].kind != SAC_F32)
            continue;
        size_t at = part_at(i, n_params, NULL);
        size_t end = at + 4 * (parts[i].array ? n_params : 1);
        size_t lo = HPO_MAX(at, from), hi = HPO_MIN(end, from + n);
        for (size_t b = lo; b + 4 <= hi; b += 4) {
            float x;
            memcpy(&x, (const char *)buf + (b - from), 4);
            if (!isfinite(x)) {
                *part = parts[i].name;
                *index = (b - at) / 4;
                return 0;
            }
        }
    }
    return 1;
}

int sac_state_finite(const sac *s)
{
    sac_part p[SAC_PARTS_MAX];
    int n = sac_parts(s, p);
    for (int i = 0; i < n; i++)
        if (p[i].kind == SAC_F32 && !floats_finite(p[i].p, p[i].n))
            return 0;
    return 1;
}
