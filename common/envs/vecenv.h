/*
 * vecenv.h - one process steps n environments of one class in lockstep.
 *
 * The vecenv owns contiguous batches the caller reads and writes in place:
 * the policy reads obs (n, obs_dim) and writes act (n, act_dim), then
 * vecenv_step advances every environment once. Each row of a step is one
 * complete transition for the replay buffer:
 *   (prev_obs[i], act[i], rew[i], next_obs[i], terminated[i])
 * where next_obs is the observation the action led to, even when that ended
 * the episode. An environment whose episode ended (terminated or truncated) is
 * reset automatically, so obs[i] is then the first observation of the new
 * episode while next_obs[i] keeps the final one. Bootstrap on truncated-only
 * rows, never on terminated rows.
 *
 * Environment i draws its reset noise from seed + i (env_seed), so rows are
 * decorrelated and a run is reproducible from one seed. Every finished episode
 * leaves a record (return, length, per-term sums, env index) in a bounded
 * queue the caller drains with vecenv_pop_episode; when the caller does not
 * keep up the oldest records are dropped and counted.
 *
 * Single-threaded by design (style.md rule 12): no malloc after vecenv_new.
 */
#ifndef HPO_VECENV_H
#define HPO_VECENV_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"

#define VECENV_MAX_ENVS 4096

// ---- episode record ----
typedef struct vecenv_episode {
    int env_index;               /* row that ran the episode */
    int length;                  /* steps */
    double ret;                  /* sum of step rewards */
    double terms[ENV_MAX_TERMS]; /* per-term sums (env class term_names) */
    int terminated;              /* ended in a terminal state */
    int truncated;               /* ended by the time limit */
    int diverged; /* ended by non-finite values or a simulator warning */
} vecenv_episode;

// ---- vectorized environment ----
typedef struct vecenv {
    const env_class *cls; /* shared class: dims, term names */
    int n;                /* environments */
    int obs_dim;
    int act_dim;
    uint64_t seed; /* environment i was seeded with seed + i */

    float *obs; /* (n, obs_dim) current observation; caller reads */
    float *act; /* (n, act_dim) next action in [-1, 1]; caller writes */
    float
        *prev_obs; /* (n, obs_dim) obs the last step's actions were taken in */
    float *next_obs; /* (n, obs_dim) obs the last step led to (pre-reset) */
    float *rew;      /* (n) last step's reward */
    int *terminated; /* (n) last step ended in a terminal state */
    int *truncated;  /* (n) last step hit the time limit */
    int *diverged;   /* (n) last step diverged (also terminated) */
    float *terms;    /* (n, ENV_MAX_TERMS) last step's reward terms */

    uint64_t steps;    /* vecenv_step calls since vecenv_new */
    uint64_t episodes; /* episodes finished since vecenv_new */
    uint64_t dropped;  /* episode records lost to a full queue */

    /* private */
    env **envs;            /* (n) */
    int *ep_len;           /* (n) steps in the running episode */
    double *ep_ret;        /* (n) running return */
    double *ep_terms;      /* (n, ENV_MAX_TERMS) running term sums */
    vecenv_episode *queue; /* (qcap) ring of finished episodes */
    int qcap, qhead, qcount;
    int started; /* vecenv_reset_all has run */
} vecenv;

// ---- lifecycle ----

/*
 * Create n environments of the class called name (see env_new), environment i
 * seeded with seed + i. model_dir overrides env_model_dir() (Nullable).
 * Call vecenv_reset_all before the first step.
 * Returns NULL with a message in err when the name is unknown, a model cannot
 * be loaded, or n is outside [1, VECENV_MAX_ENVS].
 * Caller owns the result; free with vecenv_destroy.
 */
vecenv *vecenv_new(const char *name, int n, uint64_t seed,
                   const char *model_dir, char *err, size_t errlen);

/* Free v and set *v to NULL. Accepts NULL and *v == NULL. */
void vecenv_destroy(vecenv **v);

// ---- stepping ----

/*
 * Reset every environment: obs holds first observations, running episode
 * statistics restart, the episode queue is emptied. Reset noise continues
 * each environment's stream (it does not reseed).
 */
void vecenv_reset_all(vecenv *v);

/*
 * Step every environment with its row of act (clipped to [-1, 1] by
 * env_step). Fills prev_obs, next_obs, rew, terminated, truncated, diverged
 * and terms; resets finished environments into obs and queues their episode
 * records. Returns the number of episodes that finished in this step.
 */
int vecenv_step(vecenv *v);

// ---- episode statistics ----

/* Pop the oldest finished episode into *out. Returns 1, or 0 when none. */
int vecenv_pop_episode(vecenv *v, vecenv_episode *out);

/* Episode records waiting in the queue. */
int vecenv_pending_episodes(const vecenv *v);

#endif
