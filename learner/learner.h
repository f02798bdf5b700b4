/*
 * learner.h - hpo-learner's state and the contract between its files, one
 * per stage of the data flow: main.c (command line, poll loop, timers,
 * updates), actors.c (table, handshake, credits), ingest.c (data and status
 * sockets in), publish.c (snapshots out), runfiles.c (run directory,
 * checkpoints, --resume), status.c (the JSON) and metrics.c (Prometheus).
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
#include "figures.h"
#include "msgbuf.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "util.h"
#include "wire.h"

#define LEARNER_MAX_ACTORS 256
#define LEARNER_RECENT 20   /* recent episode returns kept */
#define LEARNER_RID_MAX 256 /* ZeroMQ routing id bytes */
#define LEARNER_PATH 4096
/* Prefix of a refusal the actor retries with backoff (capacity, an id in
 * use): docs/protocol.md. */
#define LEARNER_BUSY "busy: "
#define LEARNER_MAX_SUBSCRIPTION 256 /* bytes of a params subscription read */
/* ZMQ_MAXMSGSIZE of the params socket: its CurveZMQ handshake's commands
 * pass through the same decoder (a SUB's INITIATE is 260 bytes, more with
 * ZMQ_METADATA), so the cap must exceed them; subscriptions are bounded
 * again where they are read (learner_subscriptions). */
#define LEARNER_PARAMS_MAXMSG 512
/* What bounds one params connection's memory (learner_subscriptions):
 * libzmq's XPUB (manual mode too) stores every subscription a peer sends in
 * a trie of one node per byte before the application sees it, and frees it
 * only when that peer unsubscribes or leaves. So the kernel's receive buffer
 * and the pipe are kept small, and a connection that has sent more bytes
 * than a subscriber ever does (greeting, CurveZMQ handshake, one
 * subscription: under 700 bytes) is cut. */
#define LEARNER_PARAMS_RCVBUF 4096 /* SO_RCVBUF of params connections */
#define LEARNER_PARAMS_RCVHWM 4    /* subscriptions queued per connection */
#define LEARNER_PARAMS_CONN_BYTES                                              \
    2048                         /* bytes a params connection may send         \
                                  */
#define LEARNER_PEER_TEXT 64     /* a peer's name: a Z85 key or an address */
#define LEARNER_MAX_PEER_ROWS 64 /* --max-peer-rows' default */
#define LEARNER_DATA_RCVHWM 16   /* messages queued per data connection */
#define LEARNER_MAX_RETURN 1e9f  /* |episode return| accepted */
#define LEARNER_MAX_LATENCY_US 3600000000ull /* snapshot latency accepted */
#define LEARNER_RATE_WINDOW_S 2.0 /* window of the steps and updates rates */
#define LEARNER_PUBS 1024 /* snapshots remembered for their evaluation mark */
#define LEARNER_FINAL_EVAL_S 120.0  /* wait for the evaluation at the end */
#define LEARNER_PROGRESS_S 30.0     /* between the log's progress lines */
#define LEARNER_PROGRESS_MARK_S 5.0 /* ... and at a mark, at least */

/* What a published snapshot stood for: the evaluation row of its version
 * is written at its mark (pubs[version % LEARNER_PUBS]). */
typedef struct learner_pub {
    uint64_t version; /* 0: empty */
    uint64_t mark;    /* its eval_mark (env steps); 0: none */
    long updates;     /* updates it holds */
} learner_pub;

/* What the learner's stages refuse beyond the wire's checks (docs/status.md,
 * "guards"); append-only, status and metrics key them by name. */
typedef enum learner_guard {
    GUARD_ROW_OBS =
        0,            /* rows dropped: |obs| or |next_obs| over --max-abs-obs */
    GUARD_ROW_REWARD, /* rows dropped: |reward| over --max-abs-reward */
    GUARD_ROW_ACTION, /* rows dropped: an action outside [-1, 1] */
    GUARD_OVER_CREDIT,   /* batches refused: more rows than their credit */
    GUARD_NOT_STREAMING, /* batches refused: from an --eval actor */
    GUARD_BAD_EVAL,      /* eval results refused: role, version, range */
    GUARD_BAD_HEARTBEAT, /* heartbeats refused: version or latency out of range
                          */
    GUARD_BAD_HELLO,     /* Hellos refused: n_envs or role out of range */
    GUARD_ID_IN_USE,     /* Hellos refused: an id a live actor holds */
    GUARD_EVICTED,       /* handshake-only rows freed for a new Hello */
    GUARD_ROLLBACK, /* updates rolled back: a non-finite loss or parameter */
    GUARD_SUBSCRIPTION, /* params subscriptions ignored: a prefix, over the cap
                         */
    GUARD_PEER_ROWS,   /* Hellos refused: the peer holds --max-peer-rows rows */
    GUARD_PARAMS_CUT,  /* params connections cut: sent more than a subscriber */
    GUARD_ROW_SCALE,   /* rows refused: beyond --guard-sigma of the data */
    GUARD_QUARANTINED, /* rows refused: from a quarantined actor */
    GUARD_COUNT
} learner_guard;

/* Stable lower-case name of g ("row_obs", ...). */
const char *learner_guard_name(learner_guard g);

/*
 * A peer: who stands behind connections, as the learner can tell them
 * apart: the CurveZMQ client key the ZAP handler let in (its Z85 text) with
 * keys, the TCP peer address without. Ingest is shared per peer, rows are
 * capped per peer, and an actor id is taken back only by its own peer.
 */
typedef struct learner_peer {
    int rows; /* table rows it holds; 0: the slot is free */
    char name[LEARNER_PEER_TEXT];
    unsigned rr; /* round-robin start among its rows for credits */
} learner_peer;

/* One connected actor, keyed by its ROUTER routing id. */
typedef struct learner_actor {
    int used;
    uint8_t rid[LEARNER_RID_MAX]; /* routing id */
    size_t rid_len;
    char peer[LEARNER_PEER_TEXT]; /* its peer's name (learner_peer) */
    int peer_slot;                /* index into learner.peers */
    char id[WIRE_NAME_MAX];       /* actor_id of its Hello */
    char host[WIRE_TEXT_MAX];
    uint32_t pid;
    int role; /* wire_role */
    int n_envs;
    uint64_t incarnation;
    uint64_t steps;        /* transitions received from it */
    uint64_t refused_msgs; /* its messages refused (guards) */
    uint64_t refused_rows; /* its rows dropped on ingest */
    int said_more;         /* 1: sent anything after its Hello */
    double owed_t; /* now_s() since which it owes data: its last batch or
                      evaluation, its join, or a credit granted when it held
                      none (the wait for credit is not its fault) */
    uint64_t param_version; /* newest version it reported acting with */
    int64_t balance;        /* credit granted minus transitions received */
    double joined, last_seen, last_sent; /* now_s() */
    double rate_t;                       /* window start for steps_per_s */
    uint64_t rate_steps;
    double steps_per_s;
    /* snapshot broadcast latency as the actor measured it (its Heartbeats) */
    uint64_t lat_version; /* newest version measured */
    uint64_t lat_n;       /* snapshots measured */
    double lat_last_ms, lat_sum_ms, lat_max_ms;
} learner_actor;

typedef struct learner_opts {
    char bind[256];         /* address to bind, "*" for all */
    char metrics_bind[256]; /* the metrics endpoint's; 127.0.0.1 */
    int port;               /* data port; params port + 1, status + 2 */
    double replay_ratio;    /* updates per env step; 0: free run */
    long publish_every;     /* updates between snapshots */
    int batch_max;          /* transitions per batch at most */
    int heartbeat_ms, timeout_ms;
    long max_updates;       /* stop after this many; 0: never */
    char out[LEARNER_PATH]; /* run directory; "": no files */
    long checkpoint_every;  /* updates between checkpoints; 0: none */
    int keep;               /* checkpoints kept */
    int checkpoint_replay;  /* 1: checkpoints hold the replay rows */
    int resume;             /* 1: continue from out's newest checkpoint */
    char resume_dir[LEARNER_PATH]; /* --resume DIR; "": --out's */
    int metrics_port;              /* Prometheus HTTP port; 0: none */
    int quiet;
    int insecure; /* 1: a non-loopback --bind without CurveZMQ is allowed */
    char curve_secret[LEARNER_PATH]; /* its key pair; "": no CurveZMQ */
    char curve_allow[LEARNER_PATH];  /* allowed clients' public keys */
    int io_threads;                  /* ZeroMQ I/O threads; 0 or 1: one */
    double max_abs_obs;              /* rows with a larger |obs| are dropped */
    double max_abs_reward; /* rows with a larger |reward| are dropped */
    int max_rollbacks;  /* consecutive rolled-back updates that stop the run */
    int max_peer_rows;  /* table rows one peer (key or address) may hold */
    double guard_sigma; /* rows farther from the data are refused */
    long guard_warmup;  /* reference rows before the guard judges */
    double guard_quarantine; /* refused rows that quarantine an actor */
} learner_opts;

typedef struct learner {
    hpo_config cfg;
    learner_opts opt;
    int obs_dim, act_dim;
    char run_id[WIRE_NAME_MAX];
    double t_start;
    double ratio_origin; /* env steps the replay ratio counts
                            from: learning_starts, or after a
                            resume without replay where the wait
                            for fresh rows ends */
    size_t fresh_rows;   /* replay rows updates wait for (a
                            resume without replay); 0: none */
    double wall_before;  /* the run's seconds before this process
                            (a resume: progress.csv's last wall_s) */

    void *zctx, *data, *params, *status;
    void *params_mon; /* PAIR of the params socket's monitor (publish.c) */
    struct params_conn *pconn; /* its connections (publish.c) */
    int n_pconn, cap_pconn;
    double last_sweep;       /* now_s() of the last params_sweep */
    struct metrics *metrics; /* --metrics-port endpoint, NULL: none */
    double last_metrics;     /* now_s() of its last snapshot */
    sac *agent;
    replay *rb;
    replay_batch batch;
    rng upd_rng;
    wire_msg in; /* decode target, reused */
    wire_expect expect;
    msgbuf enc;    /* encode buffer */
    uint8_t *snap; /* last encoded snapshot */
    size_t snap_len;
    uint64_t param_version;
    long snap_updates; /* updates at the last snapshot */
    double last_publish;

    uint64_t env_steps; /* transitions ingested */
    long updates;
    uint64_t rejected[WIRE_REJECT_COUNT];
    uint64_t refused;      /* handshakes refused */
    uint64_t refused_keys; /* CurveZMQ clients not on the allow list */
    void *zap;             /* ZAP handler; NULL without CurveZMQ */
    struct curve_allow *allow;
    uint64_t unknown_sender;         /* batches/heartbeats before a Hello */
    uint64_t guards[GUARD_COUNT];    /* refused by reason (learner_guard) */
    int rollbacks_run;               /* consecutive rolled-back updates */
    char stop_reason[WIRE_TEXT_MAX]; /* "": running; else why the run stopped */
    double peer_log_tokens, peer_log_t, peer_log_said; /* join/leave lines */
    uint64_t peer_log_muted; /* joins/leaves not logged since said */
    void *keep;              /* (sac_state_bytes) the agent's state
                                before the update (rollback) */
    uint64_t status_requests;
    learner_actor actors[LEARNER_MAX_ACTORS];
    learner_peer peers[LEARNER_MAX_ACTORS]; /* a slot per row at most */
    int n_actors;
    int rr; /* round-robin start among peers for credits */

    /* statistics */
    sac_stats last;                /* newest update's statistics */
    double recent[LEARNER_RECENT]; /* ring: episode i at i % LEARNER_RECENT */
    long n_episodes;
    int n_recent;     /* returns known in the ring (<= LEARNER_RECENT; fewer
                         after a resume from a checkpoint without them) */
    double eval_mean; /* NAN before the first EvalResult */
    double eval_std;  /* population std of the same returns */
    int eval_n;
    uint64_t eval_version;
    double rate_t; /* window for the rates */
    uint64_t rate_steps;
    long rate_updates;
    double steps_per_s, updates_per_s;
    /* achieved replay ratio over a window of env steps */
    uint64_t ratio_steps0;
    long ratio_updates0;
    double ratio_recent;

    /* evaluations at eval-every marks, as hpo-train's (docs/distributed.md) */
    uint64_t eval_mark;    /* newest mark reached (env steps); 0: none */
    uint64_t eval_written; /* mark of the newest evaluation row written */
    learner_pub pubs[LEARNER_PUBS];
    int finishing; /* the budget reached: waiting for the final evaluation,
                      batches ignored */

    FILE *log_file, *csv;
    double last_csv;
    double last_progress;         /* now_s() of the log's last progress line */
    char last_ckpt[LEARNER_PATH]; /* "" before the first */
    long last_ckpt_updates;
    double last_ckpt_t;
    char resumed_from[LEARNER_PATH];

    /* data guards (trust.c) */
    struct guard *guard; /* the data's learned scale */
    uint8_t *row_ok;     /* (row_ok_cap) a batch's verdicts */
    double *row_z;       /* (row_ok_cap) its rows' |z| (guard_z) */
    size_t row_ok_cap;
    uint64_t rows_removed; /* replay rows evicted or removed */
    int tripped;           /* 0, TRIP_WARN or TRIP_HARD: the worst so far */
    int warned;            /* a warning row since the last checkpoint */
    char last_good[LEARNER_PATH]; /* last checkpoint before the first trip;
                                     "": none */
} learner;

// ---- actors.c: the table, the handshake, credits ----

/* Encode m and send it to actor a (counted once in the log on failure). */
void learner_send(learner *l, learner_actor *a, const wire_msg *m);

/* A Refuse with reason to routing id rid, which holds no table entry;
 * logged once per kind (a word from the code: the log's key kind). */
void learner_refuse(learner *l, const void *rid, size_t rid_len,
                    const char *kind, const char *reason);

/* The actor of routing id rid, NULL when it has not said Hello. */
learner_actor *learner_find_actor(learner *l, const void *rid, size_t len);

/* Free a's row, logging why. */
void learner_drop_actor(learner *l, learner_actor *a, const char *why);

/* Top up the streaming actors' credits within the replay ratio's window. */
void learner_grant_credits(learner *l);

/* Answer a Hello from rid, of peer (learner_peer's name): a Welcome and a
 * row, or a Refuse. */
void learner_on_hello(learner *l, const void *rid, size_t rid_len,
                      const char *peer, const wire_hello *h);

/* Per-actor timers at time now: drop the silent, heartbeat the rest,
 * their rates. */
void learner_actors_tick(learner *l, double now);

// ---- ingest.c: what comes in ----

/* Receive and handle one data message. Returns 0 when there was none. */
int learner_data_one(learner *l);

/* Answer one waiting status request, if any. */
void learner_status_one(learner *l);

/* Count a rejected message under reason r and log it (once per sender and
 * reason). rid: the sender's routing id, NULL/0 on the status socket. */
void learner_reject(learner *l, const char *sock, const uint8_t *rid,
                    size_t rid_len, wire_reject r, const char *msg);

// ---- publish.c: snapshots ----

/* Encode m into l->enc (msgbuf.h). Returns the length, 0 on failure. */
size_t learner_encode(learner *l, const wire_msg *m);

/* Encode and publish a new snapshot of the current parameters. */
void learner_publish(learner *l);

/* Resend the last snapshot (actors that joined or lag behind). */
void learner_republish(learner *l);

/* Apply (or count and ignore) the subscriptions waiting on the params
 * socket: only the empty prefix is served; connections that sent more than
 * a subscriber does are cut. */
void learner_subscriptions(learner *l);

/* Watch the params socket's connections (before it binds): its monitor, a
 * small receive buffer and queue. Returns 0, or -1 with err. */
int learner_params_watch(learner *l, char *err, size_t errlen);

/* Close what learner_params_watch opened. */
void learner_params_unwatch(learner *l);

// ---- runfiles.c: the run directory ----

/* Create --out and open learner.log, config, progress.csv (with --resume
 * its rows kept, rewritten into progress.h's schema). Returns 0, or -1 with
 * the message in err. */
int learner_files_open(learner *l, char *err, size_t errlen);

/* Append one row of figures to progress.csv, progress.h's columns (no-op
 * without --out). */
void learner_csv_row(learner *l);

/* The evaluation row of progress.csv for the snapshot p: its mark's env
 * steps, the returns' mean and std (no-op without --out). */
void learner_csv_eval(learner *l, const learner_pub *p, double mean,
                      double std);

/* Write a checkpoint into --out and prune to --keep (a no-op without one or
 * when the newest already holds these updates). Returns 0, or -1 when it
 * failed or the weights are not finite (logged). */
int learner_checkpoint(learner *l);

/* Write the final policy to --out/weights.bin (a no-op without --out).
 * Returns 0, or -1 when it could not be written (logged). */
int learner_weights(learner *l);

/* The run's wall-clock seconds: this process's and those before a resume. */
double learner_wall_s(const learner *l);

/* Continue from --out's newest checkpoint. Returns 0 or -1 with err. */
int learner_resume(learner *l, char *err, size_t errlen);

/* Keep path as the last known good checkpoint (DIR/last-known-good names
 * it, so a resumed run keeps it too); "": none (the file removed). */
void learner_keep_good(learner *l, const char *path);

// ---- trust.c: the data guards' verdicts ----

/* Whether a's id is quarantined (its rows refused): such an actor gets no
 * credit, so it takes no share of the ingest from the others. */
int learner_quarantined(const learner *l, const learner_actor *a);

/*
 * Judge batch b of actor a: ok[i] (b->n) is 1 for the rows that passed the
 * bounds; those beyond --guard-sigma are cleared, counted and logged, and
 * every row of a quarantined actor. Tags the replay's next rows as a's;
 * l->row_z[i] receives each judged row's |z|.
 * Returns the rows refused beyond sigma; *max_z their largest |z|.
 */
int learner_trust_rows(learner *l, learner_actor *a, const wire_batch *b,
                       uint8_t *ok, double *max_z);

/* After b's ok rows went into the replay buffer: they join the
 * statistics, the refusals strike a, and at --guard-quarantine strikes a
 * is quarantined (logged, its rows evicted). */
void learner_trust_after(learner *l, learner_actor *a, const wire_batch *b,
                         const uint8_t *ok, int far, double max_z);

/* A rolled-back update: its batch's row farthest from the data, when
 * beyond --guard-sigma, quarantines its actor; rows of no known actor
 * beyond it are removed. Returns 1 when rows left the replay buffer. */
int learner_trust_rollback(learner *l);

enum { TRIP_WARN = 1, TRIP_HARD = 2 };

/* Record a data guard trip of level (what: why): TRIP_WARN a row taken past
 * a fifth of --guard-sigma, TRIP_HARD a row refused, a quarantine or a
 * rollback. The first makes the newest checkpoint the last known good one;
 * a hard trip freezes it for the run. */
void learner_trip(learner *l, int level, const char *what);

/* At each checkpoint: a warning with no warning row since the previous
 * checkpoint is over (the last known good mark is released). */
void learner_trust_checkpoint(learner *l);

// ---- status.c: figures ----

/* Copy l's figures into f (figures.h), for the status reply and the
 * metrics endpoint. */
void learner_figures_fill(learner_figures *f, const learner *l);

/* Achieved replay ratio: updates per env step after learning_starts. */
double learner_ratio(const learner *l);

/* The recent (up to LEARNER_RECENT) episode returns' figures. */
run_stats learner_recent(const learner *l);

/* Their mean, NAN when none. */
double learner_recent_mean(const learner *l);

/* The log's progress line into buf (n bytes): env steps of the budget,
 * percent done, the ETA at the measured rate, updates, rate, the data and
 * evaluation actors apart, the recent return, the newest evaluation. */
void learner_progress_line(const learner *l, char *buf, size_t n);

#endif
