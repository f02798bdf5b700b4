/*
 * wire.h - the wire protocol as plain C structs, and its codec.
 *
 * Every frame between hpo-learner, hpo-actor and hpo-status (except the JSON
 * status reply) is one message of proto/hpo.proto: a magic number, the
 * protocol version and one body. wire.c is the only file that includes
 * protobuf-c: wire_encode packs a wire_msg, wire_decode checks and unpacks
 * untrusted bytes into one and frees protobuf-c's objects before it returns.
 * docs/protocol.md says which message goes on which socket and when.
 *
 * wire_decode parses once. In this order it checks:
 *   1. len <= WIRE_MAX_MSG                                       WIRE_TOO_LARGE
 *   2. the envelope parses as protobuf wire format               WIRE_MALFORMED
 *   3. the magic is WIRE_MAGIC                                   WIRE_FOREIGN
 *   4. the version is WIRE_VERSION (any version for a Refuse) WIRE_BAD_VERSION
 *   5. exactly one body of a type this version knows WIRE_UNKNOWN_TYPE
 *   6. len <= wire_limit(type)                                   WIRE_TOO_LARGE
 *   7. before unpacking, what protobuf-c would accept: no singular field
 *      twice (WIRE_MALFORMED), no 32-bit field over the int range, no
 *      control bytes in strings                                  WIRE_BAD_VALUE
 *   8. protobuf-c unpacks it into out's arena, within a budget of
 *      2 x len + 16 KiB                                          WIRE_MALFORMED
 *   9. at most WIRE_MAX_UNKNOWN unknown fields per message       WIRE_MALFORMED
 *  10. every array's length agrees with n and the dims, the dims
 *      with the caller's wire_expect                             WIRE_BAD_DIMS
 *  11. strings bounded, settings in range, floats finite, flags
 *      0 or 1                                                    WIRE_BAD_VALUE
 * The decoded arrays point into the arena: no copy.
 */
#ifndef HPO_WIRE_H
#define HPO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

// ---- protocol constants and limits ----
#define WIRE_MAGIC 0x574f5048u /* the bytes "HPOW" (little-endian fixed32) */
#define WIRE_VERSION 2u        /* bump on any change of meaning */

#define WIRE_MAX_MSG (64u << 20)     /* any message; set as ZMQ_MAXMSGSIZE */
#define WIRE_MAX_DATA (16u << 20)    /* TransitionBatch, EvalResult */
#define WIRE_MAX_CONTROL (64u << 10) /* every other type but ParamSnapshot */
#define WIRE_MAX_DIM 4096            /* obs_dim and act_dim */
#define WIRE_MAX_EPISODES 65536      /* returns in one EvalResult */
#define WIRE_MAX_BLOCKS 4            /* parameter blocks in one snapshot */
#define WIRE_MAX_UNKNOWN 16          /* unknown fields tolerated per message */
#define WIRE_NAME_MAX 64  /* env, actor id, run id, block name (with NUL) */
#define WIRE_TEXT_MAX 256 /* host, refusal reason (with NUL) */

#define WIRE_BLOCK_POLICY "policy"   /* hpo_nets [pol_off, pol_off + pol_n) */
#define WIRE_BLOCK_CRITICS "critics" /* hpo_nets [q_off, q_off + q_n) */

// ---- reject reasons (append-only: status counters are keyed by name) ----
typedef enum wire_reject {
    WIRE_OK = 0,
    WIRE_TOO_LARGE,    /* over WIRE_MAX_MSG or its type's wire_limit */
    WIRE_MALFORMED,    /* not protobuf, truncated, a length past the end, a
                        * field of the wrong kind or repeated, two bodies */
    WIRE_FOREIGN,      /* no magic or another one: not an hpo message */
    WIRE_BAD_VERSION,  /* another protocol version */
    WIRE_UNKNOWN_TYPE, /* no body, or a body type this version lacks */
    WIRE_BAD_DIMS,     /* array lengths disagree with n / the dims, or the
                        * dims or block sizes with wire_expect */
    WIRE_BAD_VALUE,    /* non-finite float, flag not 0/1, string too long or
                        * unprintable, setting out of range */
    WIRE_REJECT_COUNT
} wire_reject;

// ---- message types (append-only) ----
typedef enum wire_type {
    WIRE_NONE = 0,
    WIRE_HELLO,          /* actor -> learner, data */
    WIRE_WELCOME,        /* learner -> actor, data */
    WIRE_REFUSE,         /* learner -> actor, data */
    WIRE_BATCH,          /* actor -> learner, data */
    WIRE_CREDIT,         /* learner -> actor, data */
    WIRE_HEARTBEAT,      /* both ways, data */
    WIRE_SNAPSHOT,       /* learner -> actors, params */
    WIRE_EVAL,           /* eval actor -> learner, data */
    WIRE_STATUS_REQUEST, /* client -> learner, status */
    WIRE_TYPE_COUNT
} wire_type;

typedef enum wire_role { WIRE_ROLE_ACTOR = 0, WIRE_ROLE_EVAL = 1 } wire_role;

// ---- message bodies ----
/* Strings are NUL-terminated in place. Array pointers of a decoded message
 * point into the wire_msg's storage; to encode, point them at your data. */

typedef struct wire_hello {
    char env[WIRE_NAME_MAX];
    int obs_dim, act_dim;
    char actor_id[WIRE_NAME_MAX]; /* stable across restarts */
    uint64_t incarnation;         /* new at every process start */
    char host[WIRE_TEXT_MAX];
    uint32_t pid;
    int role; /* wire_role */
    int n_envs;
} wire_hello;

/* The agent settings an actor needs to build and run the policy. */
typedef struct wire_agent {
    char settings[CONFIG_AGENT_TEXT_MAX]; /* config_agent_text's lines */
    float alpha;                          /* current temperature */
} wire_agent;

typedef struct wire_welcome {
    char run_id[WIRE_NAME_MAX];
    uint64_t param_version;   /* newest snapshot; 0: none yet */
    uint64_t env_steps;       /* transitions ingested so far */
    uint64_t learning_starts; /* random actions before this many */
    uint64_t seed;            /* run seed */
    int batch_max;            /* transitions per batch at most */
    int heartbeat_ms, timeout_ms;
    int free_run;    /* 1: credits not enforced */
    uint64_t credit; /* initial grant (transitions) */
    int eval_episodes;
    wire_agent agent;
} wire_welcome;

typedef struct wire_refuse {
    char reason[WIRE_TEXT_MAX];
} wire_refuse;

typedef struct wire_batch {
    int n, obs_dim, act_dim;
    uint64_t param_version; /* snapshot that acted; 0: random */
    uint64_t incarnation;
    uint64_t seq;              /* batch counter within the incarnation */
    const float *obs;          /* (n, obs_dim) */
    const float *action;       /* (n, act_dim) */
    const float *reward;       /* (n) */
    const float *next_obs;     /* (n, obs_dim) */
    const uint8_t *terminated; /* (n) 0 or 1 */
    const uint8_t *truncated;  /* (n) 0 or 1 */
    int n_episodes;            /* finished in this batch, <= n */
    const float *ep_return;    /* (n_episodes) */
    const uint32_t *ep_length; /* (n_episodes) */
} wire_batch;

typedef struct wire_credit {
    uint64_t transitions; /* added to the sender's balance */
} wire_credit;

typedef struct wire_heartbeat {
    uint64_t incarnation;
    uint64_t param_version;
    uint64_t env_steps; /* this incarnation's steps */
    uint64_t
        snapshot_latency_us; /* of param_version's snapshot; 0: not measured */
} wire_heartbeat;

typedef struct wire_block {
    char name[WIRE_NAME_MAX]; /* WIRE_BLOCK_POLICY or WIRE_BLOCK_CRITICS */
    const float *data;        /* (n) */
    size_t n;
} wire_block;

typedef struct wire_snapshot {
    uint64_t version; /* strictly increasing within a run */
    int obs_dim, act_dim;
    wire_agent agent;
    uint64_t env_steps, updates;
    char run_id[WIRE_NAME_MAX];
    int n_blocks;
    wire_block blocks[WIRE_MAX_BLOCKS];
    uint64_t published_unix_ns; /* CLOCK_REALTIME at publication; 0: unset */
    uint64_t eval_mark; /* env steps of the evaluation mark; 0: none yet */
} wire_snapshot;

typedef struct wire_eval {
    uint64_t param_version;
    uint64_t incarnation;
    int n;                   /* episodes */
    const float *returns;    /* (n) */
    const uint32_t *lengths; /* (n) */
} wire_eval;

/* One message. Initialize with wire_msg_init, release with wire_msg_release. */
typedef struct wire_msg {
    wire_type type;
    uint32_t
        version; /* decoded: the sender's; encoding always sends WIRE_VERSION */
    union {
        wire_hello hello;
        wire_welcome welcome;
        wire_refuse refuse;
        wire_batch batch;
        wire_credit credit;
        wire_heartbeat heartbeat;
        wire_snapshot snapshot;
        wire_eval eval;
    };
    void *store;      /* decode arena (wire.c); decoded arrays live in it,
                       * reused across decodes */
    size_t store_cap; /* bytes of its reused block */
} wire_msg;

/* What the receiver expects; a zero field is not checked. */
typedef struct wire_expect {
    int obs_dim, act_dim; /* of every batch and snapshot */
    size_t policy_n; /* floats of a snapshot's "policy" block (nets.pol_n); 0:
                        optional */
    size_t
        critics_n; /* floats of its "critics" block (nets.q_n); 0: optional */
} wire_expect;

// ---- lifecycle ----
/* Zero m (storage included) and set its type and version. */
void wire_msg_init(wire_msg *m, wire_type type);

/* Free m's decode storage and zero m. m may be reused after wire_msg_init. */
void wire_msg_release(wire_msg *m);

// ---- encoding ----
/* Largest encoded size wire_decode accepts for type t. */
size_t wire_limit(wire_type t);

/* Encoded size of m in bytes. */
size_t wire_size(const wire_msg *m);

/*
 * Encode m (its type and body; the envelope gets WIRE_MAGIC and WIRE_VERSION)
 * into buf. Returns the bytes written, or 0 when cap < wire_size(m) or the
 * size exceeds wire_limit(m->type). A NULL array with a positive count aborts.
 */
size_t wire_encode(const wire_msg *m, void *buf, size_t cap);

/* Encode m into a new buffer of *len bytes; caller frees it with free().
 * Returns NULL when the size exceeds wire_limit(m->type). */
void *wire_encode_alloc(const wire_msg *m, size_t *len);

// ---- decoding ----
/*
 * Check and unpack the untrusted message buf (len bytes) into out (a
 * wire_msg_init'ed message, reused across calls), in the order at the top of
 * this file. ex (Nullable: check nothing against the receiver) gives the
 * dims and block sizes batches and snapshots must have. Returns WIRE_OK, or
 * the reason with a one-line message in err (Nullable). On a reject,
 * out->type and out->version hold what was read before it (WIRE_NONE / 0
 * when nothing), so a learner can answer a Hello of another version with a
 * Refuse; every other field is unspecified. Decoded arrays stay valid until
 * the next wire_decode or wire_msg_release on out.
 */
wire_reject wire_decode(const void *buf, size_t len, const wire_expect *ex,
                        wire_msg *out, char *err, size_t errlen);

// ---- names and helpers ----
/* Stable lower-case name of r ("too_large", ...) for logs and status keys;
 * "unknown" for a value out of range. */
const char *wire_reject_name(wire_reject r);

/* Lower-case name of t ("hello", "batch", ...); "unknown" when out of range. */
const char *wire_type_name(wire_type t);

/* The snapshot's block called name, or NULL. */
const wire_block *wire_snapshot_block(const wire_snapshot *s, const char *name);

/* The agent settings of configuration c, with the current temperature alpha. */
void wire_agent_from_config(wire_agent *a, const hpo_config *c, float alpha);

/* Set c's agent settings and alpha from a (the fields wire_agent carries;
 * others untouched). a was checked by wire_decode; returns 0, or -1 with
 * config_agent_parse's reason. */
int wire_agent_to_config(const wire_agent *a, hpo_config *c, char *err,
                         size_t errlen);

#endif
