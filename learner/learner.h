/*
 * learner.h - hpo-learner's state, shared by its loop (learner.c) and its
 * status reply (status.c).
 *
 * One process, one thread, one zmq_poll loop (style.md rule 12): the data
 * ROUTER ingests Hello, TransitionBatch, Heartbeat and EvalResult; the
 * params PUB broadcasts ParamSnapshots; the status REP answers a
 * StatusRequest with the JSON of docs/status.md. Between polls the loop does
 * at most one sac_update, when learning has started and the replay ratio
 * allows it. With --metrics-port, libmicrohttpd's thread serves a locked
 * copy of the figures (metrics.h) and nothing else.
 */
#ifndef HPO_LEARNER_H
#define HPO_LEARNER_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "util.h"
#include "wire.h"

#define LEARNER_MAX_ACTORS 256
#define LEARNER_RECENT 20          /* recent episode returns kept */
#define LEARNER_RID_MAX 256        /* ZeroMQ routing id bytes */
#define LEARNER_PATH 4096

/* One connected actor, keyed by its ROUTER routing id. */
typedef struct learner_actor {
    int used;
    uint8_t rid[LEARNER_RID_MAX];   /* routing id */
    size_t rid_len;
    char id[WIRE_NAME_MAX];         /* actor_id of its Hello */
    char host[WIRE_TEXT_MAX];
    uint32_t pid;
    int role;                       /* wire_role */
    int n_envs;
    uint64_t incarnation;
    uint64_t steps;                 /* transitions received from it */
    uint64_t param_version;         /* newest version it reported acting with */
    int64_t balance;                /* credit granted minus transitions received */
    double joined, last_seen, last_sent; /* now_s() */
    double rate_t;                  /* window start for steps_per_s */
    uint64_t rate_steps;
    double steps_per_s;
    /* snapshot broadcast latency as the actor measured it (its Heartbeats) */
    uint64_t lat_version;           /* newest version measured */
    uint64_t lat_n;                 /* snapshots measured */
    double lat_last_ms, lat_sum_ms, lat_max_ms;
} learner_actor;

typedef struct learner_opts {
    char bind[256];                 /* address to bind, "*" for all */
    int port;                       /* data port; params port + 1, status + 2 */
    double replay_ratio;            /* updates per env step; 0: free run */
    long publish_every;             /* updates between snapshots */
    int batch_max;                  /* transitions per batch at most */
    int heartbeat_ms, timeout_ms;
    long max_updates;               /* stop after this many; 0: never */
    char out[LEARNER_PATH];         /* run directory; "": no files */
    long checkpoint_every;          /* updates between checkpoints; 0: none */
    int keep;                       /* checkpoints kept */
    int checkpoint_replay;          /* 1: checkpoints hold the replay rows */
    int resume;                     /* 1: continue from out's newest checkpoint */
    int metrics_port;               /* Prometheus HTTP port; 0: none */
    int quiet;
    char curve_secret[LEARNER_PATH]; /* its key pair; "": no CurveZMQ */
    char curve_allow[LEARNER_PATH];  /* allowed clients' public keys */
    int io_threads;                 /* ZeroMQ I/O threads; 0 or 1: one */
} learner_opts;

typedef struct learner {
    hpo_config cfg;
    learner_opts opt;
    int obs_dim, act_dim;
    char run_id[WIRE_NAME_MAX];
    double t_start;

    void *zctx, *data, *params, *status;
    struct metrics *metrics;        /* --metrics-port endpoint, NULL: none */
    double last_metrics;            /* now_s() of its last snapshot */
    sac *agent;
    replay *rb;
    replay_batch batch;
    rng upd_rng;
    wire_msg in;                    /* decode target, reused */
    wire_expect expect;
    uint8_t *enc;                   /* encode buffer */
    size_t enc_cap;
    uint8_t *snap;                  /* last encoded snapshot */
    size_t snap_len;
    uint64_t param_version;
    long snap_updates;              /* updates at the last snapshot */
    double last_publish;

    uint64_t env_steps;             /* transitions ingested */
    long updates;
    uint64_t rejected[WIRE_REJECT_COUNT];
    uint64_t refused;               /* handshakes refused */
    uint64_t refused_keys;          /* CurveZMQ clients not on the allow list */
    void *zap;                      /* ZAP handler; NULL without CurveZMQ */
    struct curve_allow *allow;
    uint64_t unknown_sender;        /* batches/heartbeats before a Hello */
    uint64_t status_requests;
    learner_actor actors[LEARNER_MAX_ACTORS];
    int n_actors;
    int rr;                         /* round-robin start for credits */

    /* statistics */
    sac_stats last;                 /* newest update's statistics */
    double recent[LEARNER_RECENT];
    long n_episodes;
    double eval_mean;               /* NAN before the first EvalResult */
    double eval_std;                /* population std of the same returns */
    int eval_n;
    uint64_t eval_version;
    double rate_t;                  /* window for the rates */
    uint64_t rate_steps;
    long rate_updates;
    double steps_per_s, updates_per_s;
    /* achieved replay ratio over a window of env steps */
    uint64_t ratio_steps0;
    long ratio_updates0;
    double ratio_recent;

    FILE *log_file, *csv;
    double last_csv;
    char last_ckpt[LEARNER_PATH];   /* "" before the first */
    long last_ckpt_updates;
    double last_ckpt_t;
    char resumed_from[LEARNER_PATH];
} learner;

/* The status JSON into a new string; caller frees it. */
char *learner_status_json(const learner *l);

/* Achieved replay ratio: updates per env step after learning_starts. */
double learner_ratio(const learner *l);

/* The recent (up to LEARNER_RECENT) episode returns' figures. */
run_stats learner_recent(const learner *l);

/* Their mean, NAN when none. */
double learner_recent_mean(const learner *l);

#endif
