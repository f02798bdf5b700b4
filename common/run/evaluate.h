/*
 * evaluate.h - the deterministic evaluation, written once for hpo-train,
 * hpo-eval and hpo-actor --eval (the README promises they agree).
 *
 * An evaluation of seed S: one stream rng (S, RNG_STREAM_EVAL); the
 * environment is seeded with its first draw, so every evaluation starts from
 * the same states; then each episode resets and acts deterministically
 * (sac_act with deterministic = 1: tanh(mu), then the mode's leapfrog when
 * eval_hd) until terminated, truncated or EVALUATE_MAX_STEPS. The return is
 * the sum of the rewards in double, the length the steps taken.
 *
 * Run it whole with evaluate_run, or a step at a time (evaluate_step) when
 * the caller must do other work in between (the actor's heartbeats).
 */
#ifndef HPO_EVALUATE_H
#define HPO_EVALUATE_H

#include <stdint.h>

#include "env.h"
#include "rng.h"
#include "sac.h"
#include "util.h"

#define EVALUATE_MAX_STEPS 100000 /* guard for a class without a time limit */

typedef struct evaluation {
    sac *agent;       /* not owned */
    env *e;           /* not owned */
    rng r;            /* the evaluation stream */
    float *obs, *act; /* (obs_dim), (act_dim) */
    long steps;       /* of the current episode */
    double ret;       /* its return so far */
    int started;      /* 1: an episode is under way */
} evaluation;

/* Begin an evaluation of agent on e with seed (seeds e; allocates the
 * buffers). Release with evaluate_release. */
void evaluate_init(evaluation *ev, sac *agent, env *e, uint64_t seed);

/* Free ev's buffers and zero it. */
void evaluate_release(evaluation *ev);

/* One environment step (an episode is reset first when none is under way).
 * Returns 1 when the episode ended with this step, its return and length
 * in *ret and *len; 0 otherwise. */
int evaluate_step(evaluation *ev, double *ret, long *len);

/* End the episode under way before its end (hpo-render's --max-steps): the
 * next evaluate_step resets. Its return and length so far go to *ret and
 * *len. The environment's reset stream is untouched, so the next episode
 * starts where it would have. Returns 1 when an episode was under way. */
int evaluate_cut(evaluation *ev, double *ret, long *len);

/* n episodes of agent on e with seed; returns[i] and lengths[i] (Nullable
 * each) receive each one. Returns their run_stats. */
run_stats evaluate_run(sac *agent, env *e, uint64_t seed, long n,
                       double *returns, long *lengths);

#endif
