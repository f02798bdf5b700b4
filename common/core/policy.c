#include "policy.h"

#include <math.h>
#include <string.h>

#include "util.h"

void hpo_nets_init(hpo_nets *n, int obs_dim, int act_dim, int pi_layers,
                   int pi_hidden, int q_layers, int q_hidden, int h_hidden,
                   int h_use_state)
{
    HPO_ASSERT(obs_dim > 0 && act_dim > 0 && act_dim <= HPO_MAX_ACT);
    memset(n, 0, sizeof *n);
    n->obs_dim = obs_dim;
    n->act_dim = act_dim;
    n->h_use_state = h_use_state;
    n->h_in = (h_use_state ? obs_dim : 0) + 2 * act_dim;
    size_t off = 0;
    n->pol_off = off;
    mlp_init(&n->pi, &off, obs_dim, pi_hidden, pi_layers, ACT_RELU, 2 * act_dim,
             ACT_IDENTITY);
    mlp_init(&n->th, &off, n->h_in, h_hidden, 1, ACT_ELU, act_dim, ACT_TANH);
    mlp_init(&n->sh, &off, n->h_in, h_hidden, 1, ACT_ELU, act_dim, ACT_SIGMOID);
    n->pol_n = off - n->pol_off;
    n->q_off = off;
    mlp_init(&n->q1, &off, obs_dim + act_dim, q_hidden, q_layers, ACT_RELU, 1,
             ACT_IDENTITY);
    mlp_init(&n->q2, &off, obs_dim + act_dim, q_hidden, q_layers, ACT_RELU, 1,
             ACT_IDENTITY);
    n->q_n = off - n->q_off;
    n->n_params = off;
}

void hpo_nets_init_params(const hpo_nets *n, float *block, rng *r)
{
    mlp_init_params(&n->pi, block, r);
    mlp_init_params(&n->th, block, r);
    mlp_init_params(&n->sh, block, r);
    mlp_init_params(&n->q1, block, r);
    mlp_init_params(&n->q2, block, r);
}

static const float HALF_LOG_2PI = 0.91893853320467274f;
static const float LOG2 = 0.69314718055994531f;

static inline float softplusf(float x)
{
    /* log(1 + e^x) without overflow */
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

static inline float clamp_log_std(float ls)
{
    return ls < LOG_STD_MIN ? LOG_STD_MIN : ls > LOG_STD_MAX ? LOG_STD_MAX : ls;
}

void policy_head(float *a0, float *std, float *logp, const float *out,
                 const float *xi, int B, int da)
{
    for (int b = 0; b < B; b++) {
        const float *mu = out + (size_t)b * 2 * da, *ls = mu + da;
        float lp = 0.0f;
        for (int i = 0; i < da; i++) {
            size_t k = (size_t)b * da + i;
            float l = clamp_log_std(ls[i]);
            float s = expf(l);
            float e = xi ? xi[k] : 0.0f;
            float u = mu[i] + s * e;
            a0[k] = u; /* tanh below, all at once */
            std[k] = s;
            /* log N(u; mu, s) - log(1 - tanh(u)^2), the latter stably */
            lp += -0.5f * e * e - l - HALF_LOG_2PI -
                  2.0f * (LOG2 - u - softplusf(-2.0f * u));
        }
        if (logp)
            logp[b] = lp;
    }
    /* a0 = tanh(u): the vector tanh (nn.h) where the CPU has one */
    act_forward(a0, (size_t)B * da, ACT_TANH);
}

void policy_head_backward(float *dout, const float *da0, float dlogp,
                          const float *out, const float *a0, const float *std,
                          const float *xi, int B, int da)
{
    for (int b = 0; b < B; b++) {
        const float *ls = out + (size_t)b * 2 * da + da;
        float *dmu = dout + (size_t)b * 2 * da, *dls = dmu + da;
        for (int i = 0; i < da; i++) {
            size_t k = (size_t)b * da + i;
            float a = a0[k];
            /* dL/du: through a0 = tanh(u), and through logp's -log(1-tanh^2)
             * term, whose derivative in u is 2 tanh(u). */
            float du =
                (da0 ? da0[k] * (1.0f - a * a) : 0.0f) + dlogp * 2.0f * a;
            dmu[i] = du;
            float e = xi ? xi[k] : 0.0f;
            int clamped = ls[i] < LOG_STD_MIN || ls[i] > LOG_STD_MAX;
            /* u = mu + exp(l) xi; logp has -l directly */
            dls[i] = clamped ? 0.0f : du * std[k] * e - dlogp;
        }
    }
}
