/*
 * sac.h - the SAC-HPO agent: parameters, optimizer state, update, acting.
 *
 * One sac object owns the flat parameter block of every network (layout in
 * policy.h's hpo_nets), its gradient, Adam moments and the critic targets,
 * plus every workspace the update and the acting path need, sized once at
 * creation: neither sac_update nor sac_act allocates. The update is the one
 * algorithm.md defines: critic step (target at the base action a0', or the
 * Hamiltonian action with cfg.hd_target), then the
 * policy + T_h/sigma_h step through the leapfrog with the updated critics,
 * then the temperature (when tuned), then Polyak averaging. The five modes of
 * Table 6 choose which Hamiltonian dynamics explores and which optimizes.
 *
 * Threads: with cfg.threads = T > 1 the update runs on T lanes, the caller's
 * thread and T - 1 workers started by sac_new, each making single-threaded
 * BLAS calls (sac_new sets OpenBLAS to one thread). The leapfrog passes and
 * the policy loss split the batch into T blocks of rows (rows are
 * independent until the weight gradients, which are summed in lane order);
 * the critic loss runs Q1 and Q2 on two lanes. The loss noise comes from
 * streams of 16-row blocks keyed by one draw of the caller's stream, each
 * lane drawing its own blocks, so every T sees the same noise; the result is
 * the same for the same seed and T (not across T: sums are split
 * differently).
 */
#ifndef HPO_SAC_H
#define HPO_SAC_H

#include <stdint.h>

#include "config.h"
#include "hd.h"
#include "nn.h"
#include "policy.h"
#include "replay.h"
#include "rng.h"

typedef struct sac_stats {
    float q_loss;  /* sum over both critics of mean (Q - y)^2 */
    float pi_loss; /* mean(alpha log pi - Qmin) */
    float alpha;   /* temperature used by this update */
    float logp;    /* mean log pi(a0|s) */
    float hd_dist; /* mean ||aK - a0|| in the policy pass (0 without HD) */
    float gate;    /* mean sigma_h output in the policy pass (0 without) */
    float q_mean;  /* mean Q1(s, a) on the batch */
} sac_stats;

/* Phases of one update, for per-phase timing (sac.prof). */
typedef enum {
    SAC_PH_TARGET_PI,   /* critic target: pi forward and head at s' */
    SAC_PH_TARGET_HD,   /* critic target: the leapfrog at s' */
    SAC_PH_TARGET_Q,    /* critic target: target critics' Qmin, y */
    SAC_PH_CRITIC,      /* critic loss: forward and backward of Q1, Q2 */
    SAC_PH_CRITIC_ADAM, /* Adam on the critics */
    SAC_PH_PI_FWD,      /* policy loss: pi forward and head at s */
    SAC_PH_HD_FWD,      /* policy loss: the leapfrog */
    SAC_PH_QGRAD,       /* policy loss: Qmin and dQmin/da at clip(aK) */
    SAC_PH_HD_BWD,      /* policy loss: leapfrog backward (T_h, sigma_h) */
    SAC_PH_PI_BWD,      /* policy loss: head and pi backward */
    SAC_PH_PI_ADAM,     /* Adam on the policy group */
    SAC_PH_POLYAK,      /* temperature step and Polyak averaging */
    SAC_PH_SYNC,        /* waiting for the other lanes (threads > 1) */
    SAC_PH_N
} sac_phase;

/*
 * The acting path's workspace, sized for act_max rows: everything sac_act
 * writes. Model and data apart (MuJoCo's way): sac_act reads the agent as
 * const and writes only here, so a snapshot that replaces the parameters in
 * place (snapshot_load_blocks) leaves every workspace valid, and one agent
 * can act from several workspaces.
 */
typedef struct sac_acting {
    int act_max;
    mlp_cache pic;              /* the policy's forward */
    hd_ws hw;                   /* the exploration leapfrog, one point */
    float *xi, *a0, *std, *rho; /* (act_max, da) */
} sac_acting;

typedef struct sac {
    hpo_config cfg;
    hpo_nets nets;
    hd_params hd_exp, hd_opt, hd_tgt; /* exploration, policy loss, target */
    adam opt;

    float *params; /* (n_params) every network */
    float *target; /* (n_params) critic targets (only the q range is used) */
    float *grads;  /* (n_params) */
    float *adam_m, *adam_v; /* (n_params) */
    float log_alpha, la_m, la_v;
    long t_q, t_pi, t_alpha; /* Adam step counts per group */
    long updates;
    double *prof; /* Nullable: (SAC_PH_N) seconds per phase, accumulated
                     by every update while set; the caller owns it */

    /* update workspace, batch cfg.batch */
    int m;
    int n_lanes;            /* threads of the update: cfg.threads, at most
                               one per 16-row noise block of the batch */
    struct sac_lane *lanes; /* (n_lanes) rows, workspaces; opaque */
    struct sac_work *work;  /* the lanes' threads and task; opaque (sac.c) */
    uint64_t noise_key;     /* the task's noise streams (sac.c: lane_noise) */
    mlp_cache qc[2];        /* critic loss: Q1, Q2 forward over the batch */
    float *sa;              /* (m, ds + da) critic loss input */
    float *xi, *rho0, *a0, *std, *logp, *aK, *ac; /* (m, da) or (m) */
    float *y, *dout, *abar, *qt;
    float *dq[2];   /* (m) critic loss gradient per critic */
    sac_acting act; /* the agent's own acting workspace (act_max
                       rows, sac_new's argument) */
} sac;

/*
 * Create an agent for obs_dim / act_dim with cfg (validated by the caller),
 * parameters initialized from cfg->seed. act_max is the largest batch
 * sac_act will be called with; with_update = 0 skips the optimizer state and
 * update workspace (an actor). Caller owns the result; free with sac_destroy.
 */
sac *sac_new(const hpo_config *cfg, int obs_dim, int act_dim, int act_max,
             int with_update);

/* Free s and set *s to NULL. Accepts NULL and *s == NULL. */
void sac_destroy(sac **s);

/* Current temperature. */
float sac_alpha(const sac *s);

/*
 * One SAC-HPO update on batch b (b->m == cfg.batch); noise drawn from r.
 * Fills st when non-NULL. Allocates nothing.
 */
void sac_update(sac *s, const replay_batch *b, rng *r, sac_stats *st);

/* Size w for s's networks and up to act_max rows (>= 1); release with
 * sac_acting_release. */
void sac_acting_init(sac_acting *w, const sac *s, int act_max);
void sac_acting_release(sac_acting *w);

/*
 * Actions (n, da) for observations obs (n, ds), n <= w->act_max, clipped to
 * [-1, 1]. Stochastic: the mode's exploration (tanh-Gaussian base, then the
 * exploration leapfrog with rho0 ~ N(0, std_exp^2)). Deterministic:
 * a0 = tanh(mu), rho0 = 0, the same leapfrog (or none when cfg.eval_hd = 0).
 * Optional hd_dist (n) receives ||aK - a0|| per row (Nullable).
 */
void sac_act(const sac *s, sac_acting *w, const float *obs, int n,
             int deterministic, rng *r, float *action, float *hd_dist);

// ---- the update's parts, exposed for gradient checks and benchmarks ----
/* s->y (m) = r + gamma (1 - done) (min Q'(s', a') - alpha log pi(a0'|s')),
 * a' = a0' (the default), or with cfg.hd_target aK' from the target's
 * Hamiltonian dynamics (online critics). */
void sac_critic_target(sac *s, const replay_batch *b, rng *r, float alpha);

/* Critic loss sum_j mean (Q_j(s, a) - y)^2 against s->y (no 0.5 factor);
 * its gradient overwrites the critic range of s->grads. Returns the loss;
 * q_mean (Nullable) receives mean Q1. */
float sac_critic_grad(sac *s, const replay_batch *b, float *q_mean);

/* Policy loss mean[alpha log pi(a0|s) - Qmin(s, clip(aK))]; its gradient
 * (pi through a0 and log pi, T_h and sigma_h through every force
 * evaluation) overwrites the policy range of s->grads. Noise from r. Fills
 * st's logp, hd_dist and gate. Returns the loss. */
float sac_policy_grad(sac *s, const replay_batch *b, rng *r, float alpha,
                      sac_stats *st);

/* d/dlog_alpha of -log_alpha * (mean_logp + H_target). sac_update passes
 * sac_tuner_logp(s, the batch's mean log pi(a0|s)). */
float sac_alpha_grad(const sac *s, float mean_logp);

/*
 * The mean log-density the temperature tuner sees, given the batch's mean
 * log pi(a0|s): mean_logp itself with alpha-target base (or no leapfrog in
 * the policy loss); with alpha-target hd, minus an estimate of the entropy
 * of the policy loss's aK (unclipped). The estimate neglects the forces:
 * step k moves a by eps rho_{k-1} = eps prod_{j<k} c_j rho0, so aK = a0 + n,
 * n ~ N(0, sn^2 I) independent of a0, sn = eps std_tr sum_{k=1..K}
 * prod_{j<k} c_j (the c_k used); and it takes the entropy power
 * inequality's bound (exact for an isotropic Gaussian a0):
 * H(aK) = (d/2) log(exp(2 H(a0) / d) + 2 pi e sn^2), H(a0) = -mean_logp.
 * It is never below H(a0): the tuner sees more entropy than base's and
 * holds alpha lower. Nor below the noise's own (d/2) log(2 pi e sn^2): 5.4
 * nats on HalfCheetah's preset (sn 0.6), above H_target = -6, where alpha
 * then falls at every step whatever the policy (Hopper, Ant: below it).
 * The clip and the forces' pull toward high Q are not counted.
 */
float sac_tuner_logp(const sac *s, float mean_logp);

/* Short name of phase ph ("target_hd", ...). */
const char *sac_phase_name(int ph);

/* Multiply-adds per sample of one update (the analytic count hpo-bench
 * reports), given the agent's shapes and mode. */
double sac_update_macs(const sac *s);

// ---- the learned state ----
/*
 * Everything an update changes, declared once (sac.c's table): the networks
 * and critic targets, Adam's moments, the temperature and its moments, the
 * step counts. The rollback (hpo-learner), the checkpoint and the weights
 * file read and write it only through these functions, so a new field of
 * state is added in one place and every consumer follows.
 *
 * The state is laid out in three sections, as a checkpoint holds them
 * (docs/checkpoint.md): NETS (params, target: n_params f32 each), ADAM
 * (adam_m, adam_v) and OPTS (log_alpha, la_m, la_v as f32, then t_q, t_pi,
 * t_alpha, updates as i64, each i64 aligned to 8 bytes in its section).
 */
typedef enum {
    SAC_SEC_NETS,
    SAC_SEC_ADAM,
    SAC_SEC_OPTS,
    SAC_SEC_N
} sac_section;

typedef enum { SAC_F32, SAC_I64 } sac_kind;

/* One part of the state, resolved for one agent. */
typedef struct sac_part {
    const char *name; /* "params", "adam_m", "t_q", ... */
    sac_section section;
    sac_kind kind; /* f32 (float in s) or i64 (long in s) */
    int weights;   /* 1: part of the acting state a weights-only
                      load restores (params, target, log_alpha) */
    void *p;       /* into s: float * or long * */
    size_t n;      /* elements */
    size_t at;     /* byte offset in its section */
} sac_part;

#define SAC_PARTS_MAX 16

/* The parts of s's state, in section order; returns their count. An agent
 * made without the update (an actor) has no Adam moments: those parts are
 * left out, and sac_state_* must not be called on it. */
int sac_parts(const sac *s, sac_part *parts);

/* Bytes of section sec for an agent of n_params parameters. */
size_t sac_section_bytes(sac_section sec, size_t n_params);

/* Copy section sec of s into buf (sac_section_bytes), padding zeroed. */
void sac_section_save(const sac *s, sac_section sec, void *buf);

/* Set s's parts of section sec from buf; weights_only 1 sets only the parts
 * a weights-only load restores. */
void sac_section_restore(sac *s, sac_section sec, const void *buf,
                         int weights_only);

/* Bytes of the whole state: the three sections back to back. */
size_t sac_state_bytes(const sac *s);

/* The whole state into buf (sac_state_bytes), and back. */
void sac_state_save(const sac *s, void *buf);
void sac_state_restore(sac *s, const void *buf);

/* 1 when every f32 part of the state is finite. */
int sac_state_finite(const sac *s);

/*
 * Check the f32 values of a saved section without an agent: buf holds bytes
 * [from, from + n) of section sec of an agent of n_params parameters (from a
 * multiple of 4; a reader streaming a section passes each chunk). Returns 1
 * when every f32 value there is finite, else 0 with *part (the part's name,
 * "params", "adam_m", ...) and *index (its element) set for the first bad one.
 */
int sac_section_finite(sac_section sec, size_t n_params, const void *buf,
                       size_t from, size_t n, const char **part, size_t *index);

#endif
