/*
 * policy.h - the tanh-Gaussian base policy head and the network set.
 *
 * The policy network outputs (mu, log_std) per sample; the head turns them
 * into a reparameterized action a0 = tanh(mu + exp(log_std) * xi) with its
 * log-probability computed stably (algorithm.md, "Base policy"), and
 * back-propagates a gradient on a0 and on log pi into the network output.
 *
 * hpo_nets describes every network of an agent inside one flat block, in
 * the order [pi | T_h | sigma_h | Q1 | Q2], so the policy group (pi, T_h,
 * sigma_h) and the critic group (Q1, Q2) are each one contiguous range.
 */
#ifndef HPO_POLICY_H
#define HPO_POLICY_H

#include <stddef.h>

#include "nn.h"

#define LOG_STD_MIN (-20.0f)
#define LOG_STD_MAX 2.0f
#define HPO_MAX_ACT 64 /* largest action dimension supported */

// ---- network set ----
typedef struct hpo_nets {
    int obs_dim, act_dim;
    int h_in;              /* T_h / sigma_h input: [s,] a, g */
    int h_use_state;       /* 1: T_h and sigma_h see s */
    mlp pi;                /* s -> (mu, log_std)  (2 * act_dim) */
    mlp th;                /* h_in -> act_dim, tanh */
    mlp sh;                /* h_in -> act_dim, sigmoid */
    mlp q1, q2;            /* (s, a) -> 1 */
    size_t pol_off, pol_n; /* policy group range in the block */
    size_t q_off, q_n;     /* critic group range in the block */
    size_t n_params;       /* floats in the whole block */
} hpo_nets;

/* Lay out all networks. pi_layers hidden layers of pi_hidden (ReLU); critics
 * q_layers of q_hidden (ReLU); T_h/sigma_h one hidden layer of h_hidden (ELU).
 */
void hpo_nets_init(hpo_nets *n, int obs_dim, int act_dim, int pi_layers,
                   int pi_hidden, int q_layers, int q_hidden, int h_hidden,
                   int h_use_state);

/* Initialize every network's parameters in block (n->n_params floats). */
void hpo_nets_init_params(const hpo_nets *n, float *block, rng *r);

// ---- tanh-Gaussian head ----
/*
 * out (B, 2*da) network output rows [mu | log_std_raw].
 * xi (B, da) standard normal noise, or NULL for the deterministic a0 =
 * tanh(mu). Writes a0 (B, da), std (B, da) = exp(clamped log_std), logp (B)
 * (Nullable).
 */
void policy_head(float *a0, float *std, float *logp, const float *out,
                 const float *xi, int B, int da);

/*
 * Backward of the head. da0 (B, da) = dL/da0 (Nullable: zero), dlogp = dL/dlogp
 * per sample (a scalar weight, the same for all samples). Writes dout
 * (B, 2*da) = dL/d[mu | log_std_raw] (zero where log_std was clamped).
 */
void policy_head_backward(float *dout, const float *da0, float dlogp,
                          const float *out, const float *a0, const float *std,
                          const float *xi, int B, int da);

#endif
