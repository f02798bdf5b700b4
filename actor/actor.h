/*
 * actor.h - hpo-actor's state and the contract between its files: main.c
 * (command line, poll loop), link.c (sockets, handshake, reconnect,
 * snapshots) and rollout.c (stepping, batches, evaluation).
 *
 * One zmq_poll loop over a DEALER (handshake, batches, credits, heartbeats)
 * and a conflating SUB (snapshots; only the newest is kept); see main.c.
 */
#ifndef HPO_ACTOR_H
#define HPO_ACTOR_H

#include <stdint.h>

#include "config.h"
#include "curve.h"
#include "env.h"
#include "msgbuf.h"
#include "rng.h"
#include "sac.h"
#include "vecenv.h"
#include "wire.h"

#define ACTOR_PROG "hpo-actor"

typedef struct actor_opts {
    char learner[300]; /* --learner HOST[:P] as given */
    char id_arg[256];  /* --id as given, checked into id */
    char host[256];
    int port;
    int n_envs;
    char id[WIRE_NAME_MAX];
    uint64_t seed;
    int has_seed;
    char env[64];
    int eval;
    int eval_episodes; /* 0: the learner's */
    long eval_every;   /* env steps between evaluations at least; 0: every
                          mark */
    int timeout_ms;    /* before the Welcome gives the learner's */
    long max_steps;    /* stop after this many env steps; 0: never */
    int resolve_wait;  /* seconds to wait for --learner's name; 0: fail now */
    int quiet;
    char curve_server[4096]; /* learner's public key file; "": no CURVE */
    char curve_key[4096];    /* this actor's secret key file */
} actor_opts;

/* ST_WAIT: refused as busy (capacity, an id in use); a new Hello at
 * retry_at */
enum { ST_HELLO = 0, ST_RUN = 1, ST_WAIT = 2 };

#define ACTOR_BUSY "busy: " /* a refusal retried (learner.h LEARNER_BUSY) */
#define ACTOR_BACKOFF_MIN_S 0.5
#define ACTOR_BACKOFF_MAX_S 30.0

typedef struct actor {
    actor_opts opt;
    void *zctx, *dealer, *sub;
    void *mon;      /* the DEALER's handshake events */
    int n_mon;      /* monitors made (their inproc names) */
    int curve;      /* CurveZMQ client */
    curve_pair key; /* this actor's key pair */
    char server_pub[CURVE_KEY_TEXT];
    char endpoint[300], params_ep[300];
    vecenv *ve;
    env *eval_env;
    int od, ad, n;
    uint64_t incarnation;
    rng act_rng;

    hpo_config cfg;
    sac *agent;
    wire_agent agent_set; /* settings agent was built with */

    int state;
    char run_id[WIRE_NAME_MAX]; /* of the newest Welcome */
    uint64_t version;           /* snapshot acting; 0: none */
    int timed_snapshot;         /* acted with one since the last Welcome */
    uint64_t snap_latency_us;   /* of version's snapshot; 0: not measured */
    uint64_t snap_env_steps;    /* its learner env steps */
    uint64_t evaluated;         /* newest version evaluated */
    uint64_t snap_updates;      /* its learner updates */
    uint64_t snap_eval_mark;    /* its evaluation mark (env steps); 0: none */
    uint64_t eval_mark;         /* mark of the last evaluation; 0: none */
    uint64_t learning_starts;
    int batch_max, heartbeat_ms, timeout_ms, free_run, eval_episodes;
    int64_t credit;
    double last_recv, last_hb, hello_t;
    double retry_at;  /* ST_WAIT: when to say Hello again */
    double backoff_s; /* the next wait; doubles, reset by a Welcome */

    /* the batch being filled, cap rows */
    int cap, rows, n_ep;
    float *obs, *act, *rew, *next_obs, *ep_ret;
    uint8_t *term, *trunc;
    uint32_t *ep_len;
    double first_row_t;
    uint64_t seq, steps;

    wire_msg in;
    msgbuf enc; /* encode buffer */
} actor;

// ---- link.c: the learner connection ----

/* Encode m into a->enc (growing it) and send it on the DEALER. Returns 0,
 * -1 when it could not be encoded or sent (logged once). */
int actor_send(actor *a, const wire_msg *m);

/* Say Hello on the current DEALER; the state becomes ST_HELLO. */
void actor_hello(actor *a);

/* A new DEALER connection (the old one's queue dropped) and a Hello. */
void actor_connect(actor *a);

/* A Heartbeat with the acting version and its measured latency. */
void actor_heartbeat(actor *a);

/* Handle every waiting DEALER message. Returns 1 when the learner refused
 * this actor for good (message printed), else 0. */
int actor_drain_data(actor *a);

/* Snapshots the params SUB queues at most (no ZMQ_CONFLATE, whose held
 * message libzmq never frees): each loop pass drains them to the newest. */
#define ACTOR_PARAMS_HWM 4

/* Receive every waiting snapshot and take the newest, if any (the others
 * are dropped undecoded). */
void actor_drain_params(actor *a);

/* 1 when a handshake failed in a way retrying cannot fix (printed). */
int actor_handshake_failed(actor *a);

// ---- rollout.c: stepping and evaluation ----

/* 1 when one step of every environment may run now (credit, batch room). */
int actor_may_step(const actor *a);

/* One batched step of every environment into the batch being filled. */
void actor_step(actor *a);

/* Send the filled rows as a TransitionBatch (no-op when empty). */
void actor_send_batch(actor *a);

/* Deterministic episodes of the current snapshot; an EvalResult. */
void actor_evaluate(actor *a);

#endif
