#include "hd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void hd_tempering(double *c, int K, double beta0, int temper)
{
    HPO_ASSERT(K >= 1 && beta0 > 0.0);
    HPO_ASSERT(temper == HD_TEMPER_FORMULA || temper == HD_TEMPER_COOL);
    double inv0 = 1.0 / sqrt(beta0);
    double prev = sqrt(beta0); /* sqrt(beta_0) */
    for (int k = 1; k <= K; k++) {
        double r = (double)k / K;
        double sk = 1.0 / ((1.0 - inv0) * r * r + inv0); /* sqrt(beta_k) */
        c[k - 1] = prev / sk;
        if (temper == HD_TEMPER_COOL && c[k - 1] > 1.0)
            c[k - 1] = 1.0;
        prev = sk;
    }
}

void hd_ws_init(hd_ws *w, const hpo_nets *n, int max_batch, int K, int keep)
{
    HPO_ASSERT(K >= 1 && K <= HD_MAX_K && max_batch > 0);
    memset(w, 0, sizeof *w);
    size_t B = (size_t)max_batch;
    int ds = n->obs_dim, da = n->act_dim;
    w->max_batch = max_batch;
    w->keep = keep;
    w->n_points = keep ? K + 1 : 1;
    w->ds = ds;
    w->da = da;
    mlp_cache_init(&w->q1c, &n->q1, max_batch);
    mlp_cache_init(&w->q2c, &n->q2, max_batch);
    w->dsa1 = xalloc_floats(B * da);
    w->dsa2 = xalloc_floats(B * da);
    w->ps1 = xalloc_floats(B * n->q1.dims[1]);
    w->ps2 = xalloc_floats(B * n->q2.dims[1]);
    w->rows1 = xmalloc(B * sizeof(int));
    w->rows2 = xmalloc(B * sizeof(int));
    w->q = xalloc_floats(B);
    w->dqda = xalloc_floats(B * da);
    for (int p = 0; p < w->n_points; p++) {
        w->hx[p] = xalloc_floats(B * n->h_in);
        mlp_cache_init(&w->thc[p], &n->th, max_batch);
        mlp_cache_init(&w->shc[p], &n->sh, max_batch);
    }
    for (int k = 0; k <= K; k++)
        w->a[k] = xalloc_floats(B * da);
    float **bufs[] = {&w->rho,  &w->f,    &w->abar, &w->rhobar,
                      &w->pend, &w->fbar, &w->dt,   &w->ds_};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        *bufs[i] = xalloc_floats(B * da);
    w->dhx = xalloc_floats(B * n->h_in);
}

void hd_ws_release(hd_ws *w)
{
    mlp_cache_release(&w->q1c);
    mlp_cache_release(&w->q2c);
    free(w->dsa1);
    free(w->dsa2);
    free(w->ps1);
    free(w->ps2);
    free(w->rows1);
    free(w->rows2);
    free(w->q);
    free(w->dqda);
    for (int p = 0; p <= HD_MAX_K; p++) {
        free(w->hx[p]);
        mlp_cache_release(&w->thc[p]);
        mlp_cache_release(&w->shc[p]);
    }
    for (int k = 0; k <= HD_MAX_K; k++)
        free(w->a[k]);
    free(w->rho);
    free(w->f);
    free(w->abar);
    free(w->rhobar);
    free(w->pend);
    free(w->fbar);
    free(w->dt);
    free(w->ds_);
    free(w->dhx);
    memset(w, 0, sizeof *w);
}

/* ps_j (B, H) = s W1_j[:, :ds]^T + b1_j: the part of each critic's first
 * layer that the leapfrog never changes. */
static void state_part(hd_ws *w, const hpo_nets *n, const float *block,
                       const float *s, int B)
{
    const mlp *qs[2] = {&n->q1, &n->q2};
    float *ps[2] = {w->ps1, w->ps2};
    for (int j = 0; j < 2; j++)
        dense_forward_cols(ps[j], s, block + qs[j]->w_off[0], qs[j]->dims[0],
                           block + qs[j]->b_off[0], B, w->ds, qs[j]->dims[1]);
}

/* Q (B) of critic q at (s, a), given its state part ps (B, H): the action
 * columns' product accumulates onto a copy of ps. */
static const float *critic_forward(const hd_ws *w, const mlp *q,
                                   const float *block, mlp_cache *c,
                                   const float *ps, const float *a, int B)
{
    memcpy(c->acts[0], ps, (size_t)B * q->dims[1] * sizeof(float));
    dense_forward_acc(c->acts[0], a, block + q->w_off[0] + w->ds, q->dims[0],
                      1.0f, B, w->da, q->dims[1]);
    return mlp_forward_from(q, block, c, 0, NULL, B);
}

void hd_qmin(hd_ws *w, const hpo_nets *n, const float *block, const float *s,
             const float *a, float *q, int B)
{
    HPO_ASSERT(B <= w->max_batch);
    if (s)
        state_part(w, n, block, s, B);
    const float *q1 = critic_forward(w, &n->q1, block, &w->q1c, w->ps1, a, B);
    const float *q2 = critic_forward(w, &n->q2, block, &w->q2c, w->ps2, a, B);
    for (int b = 0; b < B; b++)
        q[b] = q1[b] <= q2[b] ? q1[b] : q2[b];
}

void hd_qmin_grad(hd_ws *w, const hpo_nets *n, const float *block,
                  const float *s, const float *a, int B)
{
    int ds = w->ds, da = w->da;
    hd_qmin(w, n, block, s, a, w->q, B);
    const float *q1 = w->q1c.acts[n->q1.n_layers - 1];
    const float *q2 = w->q2c.acts[n->q2.n_layers - 1];
    /* each row back-propagates through the one critic that is its min */
    int n1 = 0, n2 = 0;
    for (int b = 0; b < B; b++) {
        if (q1[b] <= q2[b])
            w->rows1[n1++] = b;
        else
            w->rows2[n2++] = b;
    }
    /* only the action columns of the input gradient */
    mlp_input_grad_rows(&n->q1, block, &w->q1c, w->rows1, n1, ds, w->dsa1, da);
    mlp_input_grad_rows(&n->q2, block, &w->q2c, w->rows2, n2, ds, w->dsa2, da);
    for (int r = 0; r < n1; r++)
        memcpy(w->dqda + (size_t)w->rows1[r] * da, w->dsa1 + (size_t)r * da,
               (size_t)da * sizeof(float));
    for (int r = 0; r < n2; r++)
        memcpy(w->dqda + (size_t)w->rows2[r] * da, w->dsa2 + (size_t)r * da,
               (size_t)da * sizeof(float));
}

/* Column offsets of a and g inside a T_h / sigma_h input row. */
static int a_col(const hpo_nets *n)
{
    return n->h_use_state ? n->obs_dim : 0;
}

/*
 * w->f (B, da) = f(a) at evaluation point pt. The critic input's s columns
 * must already hold s.
 */
static void force(hd_ws *w, const hpo_nets *n, const float *block, hd_kind kind,
                  float alpha, const float *s, const float *a, int pt, int B)
{
    int da = w->da, ac = a_col(n), gc = ac + da, hin = n->h_in;
    hd_qmin_grad(w, n, block, NULL, a, B);
    float scale = -1.0f / alpha; /* grad_U = -(1/alpha) dQmin/da */
    if (kind == HD_CONVENTIONAL) {
        for (size_t i = 0; i < (size_t)B * da; i++)
            w->f[i] = scale * w->dqda[i];
        return;
    }
    float *hx = w->hx[pt];
    for (int b = 0; b < B; b++) {
        float *row = hx + (size_t)b * hin;
        const float *gu = w->dqda + (size_t)b * da;
        float nrm = 0.0f;
        for (int i = 0; i < da; i++)
            nrm += gu[i] * gu[i];
        float inv = scale / (fabsf(scale) * sqrtf(nrm) + 1e-6f);
        if (n->h_use_state)
            memcpy(row, s + (size_t)b * w->ds, (size_t)w->ds * sizeof(float));
        memcpy(row + ac, a + (size_t)b * da, (size_t)da * sizeof(float));
        for (int i = 0; i < da; i++)
            row[gc + i] = gu[i] * inv;
    }
    const float *T = mlp_forward(&n->th, block, &w->thc[pt], hx, B);
    const float *S = mlp_forward(&n->sh, block, &w->shc[pt], hx, B);
    for (int b = 0; b < B; b++) {
        const float *g = hx + (size_t)b * hin + gc;
        for (int i = 0; i < da; i++) {
            size_t k = (size_t)b * da + i;
            w->f[k] = S[k] * g[i] + (1.0f - S[k]) * T[k];
            w->gate_sum += S[k];
        }
    }
    w->gate_n += (long)B * da;
}

void hd_forward(hd_ws *w, const hpo_nets *n, const float *block,
                const hd_params *p, float alpha, const float *s,
                const float *a0, const float *rho0, float *aK, float *rhoK,
                int B)
{
    HPO_ASSERT(p->kind != HD_NONE && p->K >= 1 && p->K <= HD_MAX_K);
    HPO_ASSERT(B <= w->max_batch && (!w->keep || p->K < w->n_points));
    size_t nda = (size_t)B * w->da;
    double c[HD_MAX_K];
    hd_tempering(c, p->K, p->beta0, p->temper);
    const float h = 0.5f * p->eps;

    w->gate_sum = 0.0;
    w->gate_n = 0;
    state_part(w, n, block, s, B);
    memcpy(w->a[0], a0, nda * sizeof(float));
    if (rho0)
        memcpy(w->rho, rho0, nda * sizeof(float));
    else
        memset(w->rho, 0, nda * sizeof(float));

    force(w, n, block, p->kind, alpha, s, w->a[0], 0, B);
    for (int k = 1; k <= p->K; k++) {
        const float *prev = w->a[k - 1];
        float *cur = w->a[k];
        for (size_t i = 0; i < nda; i++) {
            w->rho[i] -= h * w->f[i];
            cur[i] = prev[i] + p->eps * w->rho[i];
        }
        if (k == p->K && !rhoK)
            break; /* rho_K is used by nothing */
        force(w, n, block, p->kind, alpha, s, cur, w->keep ? k : 0, B);
        float ck = (float)c[k - 1];
        for (size_t i = 0; i < nda; i++)
            w->rho[i] = (w->rho[i] - h * w->f[i]) * ck;
    }
    memcpy(aK, w->a[p->K], nda * sizeof(float));
    if (rhoK)
        memcpy(rhoK, w->rho, nda * sizeof(float));
}

/* abar += (d f / d a)^T fbar at point pt; T_h / sigma_h weight gradients
 * accumulate into gblock. g is held fixed. */
static void force_backward(hd_ws *w, const hpo_nets *n, const float *block,
                           float *gblock, const float *fbar, int pt, int B)
{
    int da = w->da, ac = a_col(n), gc = ac + da, hin = n->h_in;
    const float *hx = w->hx[pt];
    const float *T = w->thc[pt].acts[n->th.n_layers - 1];
    const float *S = w->shc[pt].acts[n->sh.n_layers - 1];
    for (int b = 0; b < B; b++) {
        const float *g = hx + (size_t)b * hin + gc;
        for (int i = 0; i < da; i++) {
            size_t k = (size_t)b * da + i;
            w->ds_[k] = fbar[k] * (g[i] - T[k]);
            w->dt[k] = fbar[k] * (1.0f - S[k]);
        }
    }
    mlp_backward(&n->sh, block, gblock, &w->shc[pt], hx, w->ds_, w->dhx, hin,
                 B);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < da; i++)
            w->abar[(size_t)b * da + i] += w->dhx[(size_t)b * hin + ac + i];
    mlp_backward(&n->th, block, gblock, &w->thc[pt], hx, w->dt, w->dhx, hin, B);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < da; i++)
            w->abar[(size_t)b * da + i] += w->dhx[(size_t)b * hin + ac + i];
}

void hd_backward(hd_ws *w, const hpo_nets *n, const float *block, float *gblock,
                 const hd_params *p, const float *abarK, float *abar0, int B)
{
    HPO_ASSERT(w->keep && p->K < w->n_points && B <= w->max_batch);
    size_t nda = (size_t)B * w->da;
    if (p->kind == HD_CONVENTIONAL) {
        /* f is piecewise constant in a: every shear has unit Jacobian */
        memmove(abar0, abarK, nda * sizeof(float));
        return;
    }
    double c[HD_MAX_K];
    hd_tempering(c, p->K, p->beta0, p->temper);
    const float h = 0.5f * p->eps;
    memmove(w->abar, abarK, nda * sizeof(float));
    memset(w->rhobar, 0, nda * sizeof(float));
    for (int k = p->K; k >= 1; k--) {
        float ck = (float)c[k - 1];
        for (size_t i = 0; i < nda; i++)
            w->rhobar[i] *= ck; /* rhobar' */
        if (k < p->K) {
            /* f(a_k) feeds rho' of step k and rho~ of step k + 1 */
            for (size_t i = 0; i < nda; i++)
                w->fbar[i] = -h * w->rhobar[i] + w->pend[i];
            force_backward(w, n, block, gblock, w->fbar, k, B);
        }
        for (size_t i = 0; i < nda; i++) {
            w->rhobar[i] += p->eps * w->abar[i]; /* rhobar~ */
            w->pend[i] = -h * w->rhobar[i];      /* into f(a_{k-1}) */
        }
    }
    force_backward(w, n, block, gblock, w->pend, 0, B);
    memcpy(abar0, w->abar, nda * sizeof(float));
}
