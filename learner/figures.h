/*
 * figures.h - the learner's figures, as status.c's JSON and metrics.c's
 * Prometheus text read them: a plain copy of numbers and short strings,
 * filled from the learner by learner_figures_fill (status.c) in the loop.
 * Neither reply reads the learner itself; the metrics thread holds its own
 * copy behind a mutex (metrics.h).
 */
#ifndef HPO_FIGURES_H
#define HPO_FIGURES_H

#include <stdint.h>

#include "wire.h"

#define FIGURES_MAX_ACTORS 256 /* = LEARNER_MAX_ACTORS */
#define FIGURES_RECENT 20      /* = LEARNER_RECENT */
#define FIGURES_GUARDS 16      /* = GUARD_COUNT */
#define FIGURES_PEER 64        /* = LEARNER_PEER_TEXT */
#define FIGURES_QUARANTINED 64 /* quarantined actors listed */
#define FIGURES_PATH 4096

/* One actor's row. */
typedef struct actor_figures {
    char id[WIRE_NAME_MAX];
    char host[WIRE_TEXT_MAX];
    uint32_t pid;
    int eval; /* 1: an --eval actor */
    int n_envs;
    char peer[FIGURES_PEER]; /* its CurveZMQ key, or address without keys */
    uint64_t steps;          /* transitions received from it */
    double steps_per_s;
    uint64_t param_version, param_lag;
    int64_t credit;
    uint64_t lat_n;                              /* snapshots timed */
    double lat_last_ms, lat_mean_ms, lat_max_ms; /* NAN: none timed */
    uint64_t refused_msgs, refused_rows;
    double last_seen_s; /* seconds since its last message */
    int quarantined;    /* 1: its rows are refused (data guards) */
} actor_figures;

/* The whole learner, at one instant. NAN: a figure that does not exist
 * yet (printed null in the JSON, no sample in the metrics). */
typedef struct learner_figures {
    char run_id[WIRE_NAME_MAX], env[WIRE_NAME_MAX], mode[16];
    double uptime_s;
    uint64_t env_steps, updates, episodes, param_version;
    double steps_per_s, updates_per_s;
    double ratio_target, ratio, ratio_recent;
    uint64_t replay_size, replay_capacity, learning_starts;
    uint64_t steps_budget;         /* the run's --steps */
    double eta_s;                  /* seconds to the budget at steps_per_s; NAN:
                                      no rate yet */
    double recent[FIGURES_RECENT]; /* the last n_recent returns, oldest first */
    int n_recent;
    double recent_mean;
    int eval_n; /* 0: no evaluation yet */
    double eval_mean;
    uint64_t eval_version;
    double q_loss, pi_loss, logp, alpha, hd_dist, gate, q_mean;
    uint64_t rejected[WIRE_REJECT_COUNT];
    uint64_t guards[FIGURES_GUARDS];
    int rollbacks_in_a_row;
    char last_ckpt[FIGURES_PATH]; /* "": none */
    long last_ckpt_updates;
    double last_ckpt_age_s;
    char resumed_from[FIGURES_PATH]; /* "": a fresh run */
    char last_good[FIGURES_PATH];    /* last known good checkpoint; "": none */
    /* the data guards (docs/distributed.md, "What each stage refuses") */
    double guard_sigma;
    uint64_t guard_warmup;
    uint64_t guard_reference_rows; /* rows of the actors in good standing */
    double guard_max_sigma_taken;  /* largest |z| accepted past warm-up */
    uint64_t rows_removed; /* replay rows evicted (quarantine, rollback) */
    int n_quarantined;
    char quarantined[FIGURES_QUARANTINED][WIRE_NAME_MAX]; /* the first ones */
    uint64_t refused, refused_keys, unknown_sender, status_requests;
    int curve;
    int n_actors;
    actor_figures actors[FIGURES_MAX_ACTORS];
} learner_figures;

/* The status JSON of f (docs/status.md) into a new string; caller frees
 * (free). Aborts with a message when out of memory. */
char *figures_json(const learner_figures *f);

/* The reply to a frame that is no StatusRequest: {"error": reason,
 * "rejected": true} (docs/status.md); caller frees (free). */
char *figures_error_json(const char *reason);

/* Stable lower-case name of guard g ("row_obs", ...); "unknown" past them. */
const char *figures_guard_name(int g);

#endif
