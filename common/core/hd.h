/*
 * hd.h - Hamiltonian dynamics on the action: (aK, rhoK) = HD(s, a0, rho0).
 *
 * K leapfrog steps of step size eps, driven by the critics' action-gradient
 * (algorithm.md, "Hamiltonian dynamics"), with tempering (17). Two kinds:
 * the proposed leapfrog (16), whose force f(a) = sigma_h * g + (1 - sigma_h)
 * * T_h mixes the normalized potential gradient g with the learned T_h through
 * the learned gate sigma_h; and the conventional leapfrog (12) with the raw
 * gradient grad_U. rho_K is used by no loss and no action, so the force at
 * a_K is never computed: K gradient evaluations at a_0 .. a_{K-1}.
 *
 * hd_forward with keep = 1 caches, per evaluation point, what hd_backward
 * needs (the training path); with keep = 0 it reuses one point's buffers (the
 * acting path). The backward is exact for ReLU critics: g is piecewise
 * constant in a, so it is held fixed (algorithm.md, "Backward").
 */
#ifndef HPO_HD_H
#define HPO_HD_H

#include "nn.h"
#include "policy.h"

#define HD_MAX_K 16

typedef enum { HD_NONE = 0, HD_PROPOSED, HD_CONVENTIONAL } hd_kind;

/* Tempering's momentum factors c_k: the formula (17) as written, which
 * scales the momentum up when std < 1 (beta0 > 1); or cooling only,
 * c_k = min(1, formula), the paper's c_k in (0, 1] (algorithm.md, open
 * experiments). Config values: append only. */
typedef enum { HD_TEMPER_FORMULA = 0, HD_TEMPER_COOL } hd_temper;

typedef struct hd_params {
    hd_kind kind;
    int K;       /* leapfrog steps, 1 .. HD_MAX_K */
    float eps;   /* step size */
    float beta0; /* initial inverse temperature, 1 / std^2 */
    int temper;  /* hd_temper */
} hd_params;

/* c[k-1] = c_k = sqrt(beta_{k-1} / beta_k), k = 1..K, with
 * sqrt(beta_k) = 1 / ((1 - 1/sqrt(beta0)) k^2/K^2 + 1/sqrt(beta0));
 * with temper HD_TEMPER_COOL each c_k is min(1, c_k). These are the factors
 * the leapfrog applies: its map has log|det J| = d_a sum_k log c_k. */
void hd_tempering(double *c, int K, double beta0, int temper);

/* Workspace for batches up to max_batch; n_points = K + 1 for training, 1
 * for acting. All buffers are allocated here, none during hd_forward/backward.
 */
typedef struct hd_ws {
    int max_batch, n_points, keep;
    int ds, da;
    float *ps1, *ps2; /* (B, H) s W1[:, :ds]^T + b1 of each critic, for
                         the states of the last call given s */
    mlp_cache q1c, q2c;
    float *dsa1, *dsa2;      /* (B, da) action-gradients at the rows where
                                each critic is the min */
    int *rows1, *rows2;      /* (B) those rows */
    float *q;                /* (B) Qmin at the last qmin_grad call */
    float *dqda;             /* (B, da) dQmin/da at the last call */
    float *hx[HD_MAX_K + 1]; /* (B, h_in) T_h / sigma_h input per point */
    mlp_cache thc[HD_MAX_K + 1], shc[HD_MAX_K + 1];
    float *a[HD_MAX_K + 1]; /* (B, da) positions a_0 .. a_K (training) */
    float *rho, *f;         /* (B, da) */
    float *abar, *rhobar, *pend, *fbar, *dt, *ds_, *dhx; /* backward */
    /* statistics of the last forward */
    double gate_sum; /* sum of sigma_h outputs */
    long gate_n;
} hd_ws;

void hd_ws_init(hd_ws *w, const hpo_nets *n, int max_batch, int K, int keep);
void hd_ws_release(hd_ws *w);

/*
 * Qmin and its action-gradient at (s, a) for B samples, with the critics in
 * block. The state part of the critics' first layer is computed when s is
 * non-NULL and kept; s NULL reuses the one of the last call given s (the
 * same block and rows: hd_forward's s, for instance). Writes w->q (B) and
 * w->dqda (B, da). Ties pick Q1.
 */
void hd_qmin_grad(hd_ws *w, const hpo_nets *n, const float *block,
                  const float *s, const float *a, int B);

/* Qmin (B) of the critics in block at (s, a), forward only, into q. s as
 * in hd_qmin_grad (Nullable: reuse). */
void hd_qmin(hd_ws *w, const hpo_nets *n, const float *block, const float *s,
             const float *a, float *q, int B);

/*
 * aK (B, da) = HD(s, a0, rho0). s (B, ds), a0 (B, da), rho0 (B, da) or NULL
 * for zero momentum. alpha scales grad_U = -(1/alpha) dQmin/da. The networks
 * (critics for the gradient, T_h and sigma_h) are read from block. aK is not
 * clipped. With w->keep, positions and per-point caches stay for backward.
 * rhoK (B, da) receives the final momentum when non-NULL (Nullable): it
 * costs one more force evaluation, at a_K, that no loss needs.
 */
void hd_forward(hd_ws *w, const hpo_nets *n, const float *block,
                const hd_params *p, float alpha, const float *s,
                const float *a0, const float *rho0, float *aK, float *rhoK,
                int B);

/*
 * Given abar_K (B, da) = dL/daK, write abar_0 (B, da) = dL/da0 and accumulate
 * the gradients of T_h and sigma_h into gblock. Requires the preceding
 * hd_forward with keep = 1 on the same inputs. abar_0 may alias abar_K.
 */
void hd_backward(hd_ws *w, const hpo_nets *n, const float *block, float *gblock,
                 const hd_params *p, const float *abarK, float *abar0, int B);

#endif
