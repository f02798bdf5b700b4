/*
 * wire.c - the one module that touches protobuf-c: framing, limits, pack and
 * unpack of proto/hpo.proto (contract in wire.h).
 *
 * Decoding is two passes over the untrusted bytes. The scan walks the
 * protobuf wire format by hand, allocating nothing: it finds the magic, the
 * version and the body, then walks the body and its sub-messages against a
 * table of the fields each message has, counting every array and checking
 * the counts against n, the dims and the receiver's wire_expect. Only a
 * message that passes is given to protobuf-c, whose allocations are then
 * bounded by the checked counts; the unpacked counts must equal the scanned
 * ones, values are checked, everything is copied into the wire_msg and the
 * protobuf-c object is freed before returning.
 */
#include "wire.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpo.pb-c.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "parameter blocks are little-endian float32 on the wire: add byte swapping"
#endif

// ---- names ----
static const char *const reject_names[WIRE_REJECT_COUNT] = {
    [WIRE_OK] = "ok",
    [WIRE_TOO_LARGE] = "too_large",
    [WIRE_MALFORMED] = "malformed",
    [WIRE_FOREIGN] = "foreign",
    [WIRE_BAD_VERSION] = "bad_version",
    [WIRE_UNKNOWN_TYPE] = "unknown_type",
    [WIRE_BAD_DIMS] = "bad_dims",
    [WIRE_BAD_VALUE] = "bad_value",
};

static const char *const type_names[WIRE_TYPE_COUNT] = {
    [WIRE_NONE] = "none",
    [WIRE_HELLO] = "hello",
    [WIRE_WELCOME] = "welcome",
    [WIRE_REFUSE] = "refuse",
    [WIRE_BATCH] = "batch",
    [WIRE_CREDIT] = "credit",
    [WIRE_HEARTBEAT] = "heartbeat",
    [WIRE_SNAPSHOT] = "snapshot",
    [WIRE_EVAL] = "eval",
    [WIRE_STATUS_REQUEST] = "status_request",
};

/* Envelope field number of each body type (the oneof's cases). */
static const int body_field[WIRE_TYPE_COUNT] = {
    [WIRE_NONE] = HPO__ENVELOPE__BODY__NOT_SET,
    [WIRE_HELLO] = HPO__ENVELOPE__BODY_HELLO,
    [WIRE_WELCOME] = HPO__ENVELOPE__BODY_WELCOME,
    [WIRE_REFUSE] = HPO__ENVELOPE__BODY_REFUSE,
    [WIRE_BATCH] = HPO__ENVELOPE__BODY_BATCH,
    [WIRE_CREDIT] = HPO__ENVELOPE__BODY_CREDIT,
    [WIRE_HEARTBEAT] = HPO__ENVELOPE__BODY_HEARTBEAT,
    [WIRE_SNAPSHOT] = HPO__ENVELOPE__BODY_SNAPSHOT,
    [WIRE_EVAL] = HPO__ENVELOPE__BODY_EVAL,
    [WIRE_STATUS_REQUEST] = HPO__ENVELOPE__BODY_STATUS_REQUEST,
};

const char *wire_reject_name(wire_reject r)
{
    return (unsigned)r < WIRE_REJECT_COUNT ? reject_names[r] : "unknown";
}

const char *wire_type_name(wire_type t)
{
    return (unsigned)t < WIRE_TYPE_COUNT ? type_names[t] : "unknown";
}

size_t wire_limit(wire_type t)
{
    switch (t) {
    case WIRE_SNAPSHOT:
        return WIRE_MAX_MSG;
    case WIRE_BATCH:
    case WIRE_EVAL:
        return WIRE_MAX_DATA;
    case WIRE_HELLO:
    case WIRE_WELCOME:
    case WIRE_REFUSE:
    case WIRE_CREDIT:
    case WIRE_HEARTBEAT:
    case WIRE_STATUS_REQUEST:
        return WIRE_MAX_CONTROL;
    default:
        return 0;
    }
}

static wire_reject reject(wire_reject r, char *err, size_t errlen,
                          const char *fmt, ...) HPO_PRINTF(4, 5);

static wire_reject reject(wire_reject r, char *err, size_t errlen,
                          const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

// ---- lifecycle ----
void wire_msg_init(wire_msg *m, wire_type type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->version = WIRE_VERSION;
}

void wire_msg_release(wire_msg *m)
{
    free(m->store);
    memset(m, 0, sizeof *m);
}

const wire_block *wire_snapshot_block(const wire_snapshot *s, const char *name)
{
    for (int i = 0; i < s->n_blocks; i++)
        if (!strcmp(s->blocks[i].name, name))
            return &s->blocks[i];
    return NULL;
}

void wire_agent_from_config(wire_agent *a, const hpo_config *c, float alpha)
{
    *a = (wire_agent){
        .mode = c->mode, .K = c->K, .eps = c->eps, .std_exp = c->std_exp,
        .alpha = alpha, .pi_layers = c->pi_layers, .pi_hidden = c->pi_hidden,
        .q_layers = c->q_layers, .q_hidden = c->q_hidden,
        .h_hidden = c->h_hidden, .h_use_state = c->h_use_state,
        .eval_hd = c->eval_hd,
    };
}

void wire_agent_to_config(const wire_agent *a, hpo_config *c)
{
    c->mode = a->mode;
    c->K = a->K;
    c->eps = a->eps;
    c->std_exp = a->std_exp;
    c->alpha = a->alpha;
    c->pi_layers = a->pi_layers;
    c->pi_hidden = a->pi_hidden;
    c->q_layers = a->q_layers;
    c->q_hidden = a->q_hidden;
    c->h_hidden = a->h_hidden;
    c->h_use_state = a->h_use_state;
    c->eval_hd = a->eval_hd;
}

// ---- encoding ----
/* Every protobuf-c object one envelope can need, pointing into a wire_msg. */
typedef struct pb_out {
    Hpo__Envelope env;
    Hpo__Hello hello;
    Hpo__Welcome welcome;
    Hpo__Refuse refuse;
    Hpo__TransitionBatch batch;
    Hpo__Credit credit;
    Hpo__Heartbeat heartbeat;
    Hpo__ParamSnapshot snap;
    Hpo__EvalResult eval;
    Hpo__StatusRequest status;
    Hpo__AgentSettings agent;
    Hpo__ParamBlock blocks[WIRE_MAX_BLOCKS];
    Hpo__ParamBlock *block_ptrs[WIRE_MAX_BLOCKS];
} pb_out;

/* A string field of a wire struct (cap bytes), terminated in place. */
static char *str_field(const char *s, size_t cap)
{
    HPO_ASSERT(memchr(s, 0, cap));
    return (char *)s;
}

/* An array of count elements; NULL only when empty. */
static void *array_field(const void *p, size_t count)
{
    HPO_ASSERT(count == 0 || p);
    return (void *)p;
}

#define STR(field) str_field((field), sizeof(field))
#define ARRAY(ptr, count) array_field((ptr), (count))

static Hpo__AgentSettings *build_agent(Hpo__AgentSettings *o,
                                       const wire_agent *a)
{
    hpo__agent_settings__init(o);
    HPO_ASSERT(a->mode >= 0 && a->K >= 0 && a->pi_layers >= 0 &&
               a->pi_hidden >= 0 && a->q_layers >= 0 && a->q_hidden >= 0 &&
               a->h_hidden >= 0);
    o->mode = (uint32_t)a->mode;
    o->k = (uint32_t)a->K;
    o->eps = a->eps;
    o->std_exp = a->std_exp;
    o->alpha = a->alpha;
    o->pi_layers = (uint32_t)a->pi_layers;
    o->pi_hidden = (uint32_t)a->pi_hidden;
    o->q_layers = (uint32_t)a->q_layers;
    o->q_hidden = (uint32_t)a->q_hidden;
    o->h_hidden = (uint32_t)a->h_hidden;
    o->h_use_state = a->h_use_state != 0;
    o->eval_hd = a->eval_hd != 0;
    return o;
}

static void build_batch(Hpo__TransitionBatch *o, const wire_batch *b)
{
    HPO_ASSERT(b->n >= 0 && b->obs_dim >= 0 && b->act_dim >= 0 &&
               b->n_episodes >= 0);
    size_t n = (size_t)b->n;
    hpo__transition_batch__init(o);
    o->n = (uint32_t)b->n;
    o->obs_dim = (uint32_t)b->obs_dim;
    o->act_dim = (uint32_t)b->act_dim;
    o->param_version = b->param_version;
    o->incarnation = b->incarnation;
    o->seq = b->seq;
    o->n_obs = o->n_next_obs = n * (size_t)b->obs_dim;
    o->n_action = n * (size_t)b->act_dim;
    o->n_reward = n;
    o->obs = ARRAY(b->obs, o->n_obs);
    o->next_obs = ARRAY(b->next_obs, o->n_obs);
    o->action = ARRAY(b->action, o->n_action);
    o->reward = ARRAY(b->reward, n);
    o->terminated = (ProtobufCBinaryData){n, ARRAY(b->terminated, n)};
    o->truncated = (ProtobufCBinaryData){n, ARRAY(b->truncated, n)};
    o->n_ep_return = o->n_ep_length = (size_t)b->n_episodes;
    o->ep_return = ARRAY(b->ep_return, o->n_ep_return);
    o->ep_length = ARRAY(b->ep_length, o->n_ep_length);
}

static void build_snapshot(pb_out *x, const wire_snapshot *s)
{
    Hpo__ParamSnapshot *o = &x->snap;
    HPO_ASSERT(s->n_blocks >= 0 && s->n_blocks <= WIRE_MAX_BLOCKS);
    HPO_ASSERT(s->obs_dim >= 0 && s->act_dim >= 0);
    hpo__param_snapshot__init(o);
    o->version = s->version;
    o->obs_dim = (uint32_t)s->obs_dim;
    o->act_dim = (uint32_t)s->act_dim;
    o->agent = build_agent(&x->agent, &s->agent);
    o->env_steps = s->env_steps;
    o->updates = s->updates;
    o->run_id = STR(s->run_id);
    o->published_unix_ns = s->published_unix_ns;
    for (int i = 0; i < s->n_blocks; i++) {
        const wire_block *b = &s->blocks[i];
        hpo__param_block__init(&x->blocks[i]);
        x->blocks[i].name = STR(b->name);
        x->blocks[i].data = (ProtobufCBinaryData){b->n * sizeof(float),
                                                  ARRAY(b->data, b->n)};
        x->block_ptrs[i] = &x->blocks[i];
    }
    o->n_blocks = (size_t)s->n_blocks;
    o->blocks = x->block_ptrs;
}

/* Fill x from m; x->env is the message to pack. */
static void build(pb_out *x, const wire_msg *m)
{
    Hpo__Envelope *e = &x->env;
    hpo__envelope__init(e);
    e->magic = WIRE_MAGIC;
    e->version = WIRE_VERSION;
    HPO_ASSERT(m->type > WIRE_NONE && m->type < WIRE_TYPE_COUNT);
    e->body_case = (Hpo__Envelope__BodyCase)body_field[m->type];
    switch (m->type) {
    case WIRE_HELLO: {
        const wire_hello *h = &m->hello;
        HPO_ASSERT(h->obs_dim >= 0 && h->act_dim >= 0 && h->n_envs >= 0);
        hpo__hello__init(&x->hello);
        x->hello.env = STR(h->env);
        x->hello.obs_dim = (uint32_t)h->obs_dim;
        x->hello.act_dim = (uint32_t)h->act_dim;
        x->hello.actor_id = STR(h->actor_id);
        x->hello.incarnation = h->incarnation;
        x->hello.host = STR(h->host);
        x->hello.pid = h->pid;
        x->hello.role = (Hpo__Role)h->role;
        x->hello.n_envs = (uint32_t)h->n_envs;
        e->hello = &x->hello;
        break;
    }
    case WIRE_WELCOME: {
        const wire_welcome *w = &m->welcome;
        HPO_ASSERT(w->batch_max >= 0 && w->heartbeat_ms >= 0 &&
                   w->timeout_ms >= 0 && w->eval_episodes >= 0);
        hpo__welcome__init(&x->welcome);
        x->welcome.run_id = STR(w->run_id);
        x->welcome.param_version = w->param_version;
        x->welcome.env_steps = w->env_steps;
        x->welcome.learning_starts = w->learning_starts;
        x->welcome.seed = w->seed;
        x->welcome.batch_max = (uint32_t)w->batch_max;
        x->welcome.heartbeat_ms = (uint32_t)w->heartbeat_ms;
        x->welcome.timeout_ms = (uint32_t)w->timeout_ms;
        x->welcome.free_run = w->free_run != 0;
        x->welcome.credit = w->credit;
        x->welcome.eval_episodes = (uint32_t)w->eval_episodes;
        x->welcome.agent = build_agent(&x->agent, &w->agent);
        e->welcome = &x->welcome;
        break;
    }
    case WIRE_REFUSE:
        hpo__refuse__init(&x->refuse);
        x->refuse.reason = STR(m->refuse.reason);
        e->refuse = &x->refuse;
        break;
    case WIRE_BATCH:
        build_batch(&x->batch, &m->batch);
        e->batch = &x->batch;
        break;
    case WIRE_CREDIT:
        hpo__credit__init(&x->credit);
        x->credit.transitions = m->credit.transitions;
        e->credit = &x->credit;
        break;
    case WIRE_HEARTBEAT:
        hpo__heartbeat__init(&x->heartbeat);
        x->heartbeat.incarnation = m->heartbeat.incarnation;
        x->heartbeat.param_version = m->heartbeat.param_version;
        x->heartbeat.env_steps = m->heartbeat.env_steps;
        x->heartbeat.snapshot_latency_us = m->heartbeat.snapshot_latency_us;
        e->heartbeat = &x->heartbeat;
        break;
    case WIRE_SNAPSHOT:
        build_snapshot(x, &m->snapshot);
        e->snapshot = &x->snap;
        break;
    case WIRE_EVAL:
        HPO_ASSERT(m->eval.n >= 0);
        hpo__eval_result__init(&x->eval);
        x->eval.param_version = m->eval.param_version;
        x->eval.incarnation = m->eval.incarnation;
        x->eval.n_returns = x->eval.n_lengths = (size_t)m->eval.n;
        x->eval.returns = ARRAY(m->eval.returns, x->eval.n_returns);
        x->eval.lengths = ARRAY(m->eval.lengths, x->eval.n_lengths);
        e->eval = &x->eval;
        break;
    case WIRE_STATUS_REQUEST:
        hpo__status_request__init(&x->status);
        e->status_request = &x->status;
        break;
    default:
        HPO_ASSERT(!"unreachable");
    }
}

size_t wire_size(const wire_msg *m)
{
    pb_out x;
    build(&x, m);
    return protobuf_c_message_get_packed_size(&x.env.base);
}

size_t wire_encode(const wire_msg *m, void *buf, size_t cap)
{
    pb_out x;
    build(&x, m);
    size_t n = protobuf_c_message_get_packed_size(&x.env.base);
    if (n > cap || n > wire_limit(m->type))
        return 0;
    size_t w = protobuf_c_message_pack(&x.env.base, buf);
    HPO_ASSERT(w == n);
    return w;
}

void *wire_encode_alloc(const wire_msg *m, size_t *len)
{
    pb_out x;
    build(&x, m);
    size_t n = protobuf_c_message_get_packed_size(&x.env.base);
    if (n > wire_limit(m->type))
        return NULL;
    void *buf = xmalloc(n ? n : 1);
    size_t w = protobuf_c_message_pack(&x.env.base, buf);
    HPO_ASSERT(w == n);
    *len = n;
    return buf;
}

// ---- scanning the wire format (no allocation) ----
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct span {
    const uint8_t *p;
    size_t n;
} span;

typedef struct field {
    uint32_t num;
    int wt;
    uint64_t v;   /* WT_VARINT, WT_I64, WT_I32 */
    span s;       /* WT_LEN */
} field;

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p == end)
            return -1;
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 0);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Read the field at *p. Returns 1 with f filled, 0 at end, -1 when the
 * bytes are not a field: bad tag, unsupported wire type (groups), or a
 * length past end. */
static int next_field(const uint8_t **p, const uint8_t *end, field *f)
{
    uint64_t tag, len;
    if (*p == end)
        return 0;
    if (get_varint(p, end, &tag) < 0 || tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    switch (f->wt) {
    case WT_VARINT:
        return get_varint(p, end, &f->v) < 0 ? -1 : 1;
    case WT_I64:
    case WT_I32: {
        size_t w = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(end - *p) < w)
            return -1;
        f->v = get_le(*p, (int)w);
        *p += w;
        return 1;
    }
    case WT_LEN:
        if (get_varint(p, end, &len) < 0 || len > (size_t)(end - *p))
            return -1;
        f->s = (span){*p, (size_t)len};
        *p += len;
        return 1;
    default:
        return -1;
    }
}

/* What a known field holds; K_NONE marks an unknown field number. */
enum kind {
    K_NONE = 0,
    K_INT,    /* varint <= INT32_MAX: uint32, bool, enum */
    K_U64,    /* varint */
    K_F32,    /* fixed32, float */
    K_F64,    /* fixed64 */
    K_NAME,   /* string < WIRE_NAME_MAX bytes, printable */
    K_TEXT,   /* string < WIRE_TEXT_MAX bytes, printable */
    K_BYTES,
    K_MSG,    /* one sub-message */
    K_ARR32,  /* repeated float / fixed32: packed runs or single values */
    K_MSGS,   /* repeated sub-message (at most WIRE_MAX_BLOCKS) */
};

#define NF 16 /* our field numbers are < NF; larger ones are unknown */

typedef struct seen {
    uint32_t count;   /* occurrences (K_ARR32: runs) */
    uint64_t v;       /* value of a scalar */
    span s;           /* payload of a string, bytes or message */
    uint64_t elems;   /* K_ARR32 values, K_MSGS messages */
} seen;

typedef struct fields {
    seen f[NF];
    span msgs[WIRE_MAX_BLOCKS]; /* the K_MSGS field's messages */
} fields;

static int wire_type_of(int kind)
{
    switch (kind) {
    case K_INT:
    case K_U64:
        return WT_VARINT;
    case K_F32:
        return WT_I32;
    case K_F64:
        return WT_I64;
    default:
        return WT_LEN;
    }
}

static int printable(span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < 0x20 || s.p[i] == 0x7f)
            return 0;
    return 1;
}

/* Walk message m (called what in messages) against kinds[field number]. */
static wire_reject walk(span m, const uint8_t kinds[NF], const char *what,
                        fields *fs, char *err, size_t errlen)
{
    const uint8_t *p = m.p, *end = m.p + m.n;
    int unknown = 0, r;
    field f;
    memset(fs, 0, sizeof *fs);
    while ((r = next_field(&p, end, &f)) > 0) {
        int k = f.num < NF ? kinds[f.num] : K_NONE;
        seen *s = &fs->f[f.num < NF ? f.num : 0];
        if (k == K_NONE) {
            if (++unknown > WIRE_MAX_UNKNOWN)
                return reject(WIRE_MALFORMED, err, errlen,
                              "%s: more than %d unknown fields", what,
                              WIRE_MAX_UNKNOWN);
            continue;
        }
        if (k == K_ARR32 && (f.wt == WT_LEN || f.wt == WT_I32)) {
            if (f.wt == WT_LEN && f.s.n % 4)
                return reject(WIRE_MALFORMED, err, errlen,
                              "%s: field %u: packed run of %zu bytes", what,
                              f.num, f.s.n);
            s->elems += f.wt == WT_LEN ? f.s.n / 4 : 1;
            s->count++;
            continue;
        }
        if (f.wt != wire_type_of(k) || k == K_ARR32)
            return reject(WIRE_MALFORMED, err, errlen,
                          "%s: field %u has wire type %d", what, f.num, f.wt);
        if (k == K_MSGS) {
            if (s->elems == WIRE_MAX_BLOCKS)
                return reject(WIRE_BAD_DIMS, err, errlen,
                              "%s: more than %d blocks", what,
                              WIRE_MAX_BLOCKS);
            fs->msgs[s->elems++] = f.s;
            continue;
        }
        if (s->count++)
            return reject(WIRE_MALFORMED, err, errlen,
                          "%s: field %u repeated", what, f.num);
        s->v = f.v;
        s->s = f.s;
        if (k == K_INT && f.v > INT32_MAX)
            return reject(WIRE_BAD_VALUE, err, errlen,
                          "%s: field %u = %llu out of range", what, f.num,
                          (unsigned long long)f.v);
        if ((k == K_NAME || k == K_TEXT) &&
            (f.s.n >= (k == K_NAME ? WIRE_NAME_MAX : WIRE_TEXT_MAX) ||
             !printable(f.s)))
            return reject(WIRE_BAD_VALUE, err, errlen,
                          "%s: field %u: string of %zu bytes too long or "
                          "unprintable", what, f.num, f.s.n);
    }
    if (r < 0)
        return reject(WIRE_MALFORMED, err, errlen,
                      "%s: bad field at byte %td of %zu", what, p - m.p, m.n);
    return WIRE_OK;
}

// ---- per-message field tables (field number -> kind) ----
static const uint8_t hello_k[NF] = {
    [1] = K_NAME, [2] = K_INT, [3] = K_INT, [4] = K_NAME, [5] = K_F64,
    [6] = K_TEXT, [7] = K_INT, [8] = K_INT, [9] = K_INT,
};
static const uint8_t agent_k[NF] = {
    [1] = K_INT, [2] = K_INT, [3] = K_F32, [4] = K_F32, [5] = K_F32,
    [6] = K_INT, [7] = K_INT, [8] = K_INT, [9] = K_INT, [10] = K_INT,
    [11] = K_INT, [12] = K_INT,
};
static const uint8_t welcome_k[NF] = {
    [1] = K_NAME, [2] = K_U64, [3] = K_U64, [4] = K_U64, [5] = K_U64,
    [6] = K_INT, [7] = K_INT, [8] = K_INT, [9] = K_INT, [10] = K_U64,
    [11] = K_INT, [12] = K_MSG,
};
static const uint8_t refuse_k[NF] = {[1] = K_TEXT};
static const uint8_t batch_k[NF] = {
    [1] = K_INT, [2] = K_INT, [3] = K_INT, [4] = K_U64, [5] = K_F64,
    [6] = K_U64, [7] = K_ARR32, [8] = K_ARR32, [9] = K_ARR32,
    [10] = K_ARR32, [11] = K_BYTES, [12] = K_BYTES, [13] = K_ARR32,
    [14] = K_ARR32,
};
static const uint8_t credit_k[NF] = {[1] = K_U64};
static const uint8_t heartbeat_k[NF] = {
    [1] = K_F64, [2] = K_U64, [3] = K_U64, [4] = K_U64,
};
static const uint8_t block_k[NF] = {[1] = K_NAME, [2] = K_BYTES};
static const uint8_t snapshot_k[NF] = {
    [1] = K_U64, [2] = K_INT, [3] = K_INT, [4] = K_MSG, [5] = K_U64,
    [6] = K_U64, [7] = K_NAME, [8] = K_MSGS, [9] = K_F64,
};
static const uint8_t eval_k[NF] = {
    [1] = K_U64, [2] = K_F64, [3] = K_ARR32, [4] = K_ARR32,
};
static const uint8_t status_k[NF] = {0};

static const uint8_t *const body_kinds[WIRE_TYPE_COUNT] = {
    [WIRE_HELLO] = hello_k, [WIRE_WELCOME] = welcome_k,
    [WIRE_REFUSE] = refuse_k, [WIRE_BATCH] = batch_k,
    [WIRE_CREDIT] = credit_k, [WIRE_HEARTBEAT] = heartbeat_k,
    [WIRE_SNAPSHOT] = snapshot_k, [WIRE_EVAL] = eval_k,
    [WIRE_STATUS_REQUEST] = status_k,
};

// ---- shapes: the counts a body must have, scanned and then unpacked ----
typedef struct batch_shape {
    uint64_t n, obs_dim, act_dim;
    uint64_t obs, act, rew, next, term, trunc, ret, len; /* elements */
} batch_shape;

typedef struct snap_shape {
    uint64_t obs_dim, act_dim, n_blocks;
    uint64_t floats[WIRE_MAX_BLOCKS];
    int which[WIRE_MAX_BLOCKS];       /* index into block_names */
} snap_shape;

typedef struct eval_shape {
    uint64_t returns, lengths;
} eval_shape;

typedef union shape {
    batch_shape batch;
    snap_shape snap;
    eval_shape eval;
} shape;

static const char *const block_names[2] = {WIRE_BLOCK_POLICY,
                                          WIRE_BLOCK_CRITICS};

static int block_index(const char *p, size_t n)
{
    for (int i = 0; i < 2; i++)
        if (strlen(block_names[i]) == n && !memcmp(block_names[i], p, n))
            return i;
    return -1;
}

static wire_reject check_dims(const char *what, uint64_t od, uint64_t ad,
                              const wire_expect *ex, char *err, size_t errlen)
{
    if (od < 1 || od > WIRE_MAX_DIM || ad < 1 || ad > WIRE_MAX_DIM)
        return reject(WIRE_BAD_DIMS, err, errlen,
                      "%s: obs_dim %llu / act_dim %llu outside [1, %d]", what,
                      (unsigned long long)od, (unsigned long long)ad,
                      WIRE_MAX_DIM);
    if (ex && ((ex->obs_dim && od != (uint64_t)ex->obs_dim) ||
               (ex->act_dim && ad != (uint64_t)ex->act_dim)))
        return reject(WIRE_BAD_DIMS, err, errlen,
                      "%s: obs_dim %llu act_dim %llu, expected %d and %d",
                      what, (unsigned long long)od, (unsigned long long)ad,
                      ex->obs_dim, ex->act_dim);
    return WIRE_OK;
}

static wire_reject check_count(const char *what, const char *name,
                               uint64_t have, uint64_t want, char *err,
                               size_t errlen)
{
    if (have == want)
        return WIRE_OK;
    return reject(WIRE_BAD_DIMS, err, errlen, "%s: %s has %llu values, %llu expected",
                  what, name, (unsigned long long)have,
                  (unsigned long long)want);
}

static wire_reject check_batch(const batch_shape *b, const wire_expect *ex,
                               char *err, size_t errlen)
{
    wire_reject r = check_dims("batch", b->obs_dim, b->act_dim, ex, err, errlen);
    uint64_t n = b->n;
    if (!r) r = check_count("batch", "obs", b->obs, n * b->obs_dim, err, errlen);
    if (!r) r = check_count("batch", "action", b->act, n * b->act_dim, err, errlen);
    if (!r) r = check_count("batch", "reward", b->rew, n, err, errlen);
    if (!r) r = check_count("batch", "next_obs", b->next, n * b->obs_dim, err, errlen);
    if (!r) r = check_count("batch", "terminated", b->term, n, err, errlen);
    if (!r) r = check_count("batch", "truncated", b->trunc, n, err, errlen);
    if (!r) r = check_count("batch", "ep_length", b->len, b->ret, err, errlen);
    if (!r && b->ret > n)
        r = reject(WIRE_BAD_DIMS, err, errlen,
                   "batch: %llu finished episodes in %llu transitions",
                   (unsigned long long)b->ret, (unsigned long long)n);
    return r;
}

static wire_reject scan_batch(const fields *fs, const wire_expect *ex,
                              batch_shape *b, char *err, size_t errlen)
{
    const seen *f = fs->f;
    *b = (batch_shape){
        .n = f[1].v, .obs_dim = f[2].v, .act_dim = f[3].v,
        .obs = f[7].elems, .act = f[8].elems, .rew = f[9].elems,
        .next = f[10].elems, .term = f[11].s.n, .trunc = f[12].s.n,
        .ret = f[13].elems, .len = f[14].elems,
    };
    return check_batch(b, ex, err, errlen);
}

static wire_reject scan_snapshot(const fields *fs, const wire_expect *ex,
                                 snap_shape *sh, char *err, size_t errlen)
{
    const seen *f = fs->f;
    wire_reject r;
    memset(sh, 0, sizeof *sh);
    sh->obs_dim = f[2].v;
    sh->act_dim = f[3].v;
    sh->n_blocks = f[8].elems;
    if ((r = check_dims("snapshot", sh->obs_dim, sh->act_dim, ex, err, errlen)))
        return r;
    size_t want[2] = {ex ? ex->policy_n : 0, ex ? ex->critics_n : 0};
    int have[2] = {0, 0};
    for (uint64_t i = 0; i < sh->n_blocks; i++) {
        fields bf;
        if ((r = walk(fs->msgs[i], block_k, "snapshot block", &bf, err, errlen)))
            return r;
        int w = block_index((const char *)bf.f[1].s.p, bf.f[1].s.n);
        if (w < 0)
            return reject(WIRE_BAD_VALUE, err, errlen,
                          "snapshot: unknown block name '%.*s'",
                          (int)bf.f[1].s.n,
                          bf.f[1].s.n ? (const char *)bf.f[1].s.p : "");
        if (have[w]++)
            return reject(WIRE_BAD_DIMS, err, errlen,
                          "snapshot: block %s twice", block_names[w]);
        if (bf.f[2].s.n % sizeof(float))
            return reject(WIRE_BAD_DIMS, err, errlen,
                          "snapshot: block %s of %zu bytes is not floats",
                          block_names[w], bf.f[2].s.n);
        sh->floats[i] = bf.f[2].s.n / sizeof(float);
        sh->which[i] = w;
        if (want[w] && sh->floats[i] != want[w])
            return reject(WIRE_BAD_DIMS, err, errlen,
                          "snapshot: block %s has %llu floats, expected %zu",
                          block_names[w], (unsigned long long)sh->floats[i],
                          want[w]);
    }
    for (int w = 0; w < 2; w++)
        if (want[w] && !have[w])
            return reject(WIRE_BAD_DIMS, err, errlen,
                          "snapshot: no %s block", block_names[w]);
    return WIRE_OK;
}

static wire_reject scan_eval(const fields *fs, eval_shape *e, char *err,
                             size_t errlen)
{
    e->returns = fs->f[3].elems;
    e->lengths = fs->f[4].elems;
    wire_reject r = check_count("eval", "lengths", e->lengths, e->returns,
                                err, errlen);
    if (!r && e->returns > WIRE_MAX_EPISODES)
        r = reject(WIRE_BAD_DIMS, err, errlen, "eval: %llu episodes over %d",
                   (unsigned long long)e->returns, WIRE_MAX_EPISODES);
    return r;
}

/* Walk the body of type t and every sub-message; fill sh for the types
 * with arrays. */
static wire_reject scan_body(wire_type t, span body, const wire_expect *ex,
                             shape *sh, char *err, size_t errlen)
{
    fields fs;
    wire_reject r = walk(body, body_kinds[t], wire_type_name(t), &fs, err,
                         errlen);
    if (r)
        return r;
    int agent_field = t == WIRE_WELCOME ? 12 : t == WIRE_SNAPSHOT ? 4 : 0;
    if (agent_field) {
        fields af;
        if (!fs.f[agent_field].count)
            return reject(WIRE_BAD_VALUE, err, errlen,
                          "%s: no agent settings", wire_type_name(t));
        if ((r = walk(fs.f[agent_field].s, agent_k, "agent settings", &af,
                      err, errlen)))
            return r;
    }
    switch (t) {
    case WIRE_BATCH:
        return scan_batch(&fs, ex, &sh->batch, err, errlen);
    case WIRE_SNAPSHOT:
        return scan_snapshot(&fs, ex, &sh->snap, err, errlen);
    case WIRE_EVAL:
        return scan_eval(&fs, &sh->eval, err, errlen);
    default:
        return WIRE_OK;
    }
}

typedef struct head {
    int has_magic;
    uint32_t magic, version;
    uint32_t body_num;   /* 0: none */
    span body;
} head;

/* Walk the envelope: magic, version, exactly one body field. */
static wire_reject scan_envelope(span m, head *h, char *err, size_t errlen)
{
    const uint8_t *p = m.p, *end = m.p + m.n;
    int r, n_version = 0;
    field f;
    memset(h, 0, sizeof *h);
    while ((r = next_field(&p, end, &f)) > 0) {
        int want = f.num == 1 ? WT_I32 : f.num == 2 ? WT_VARINT : WT_LEN;
        int known = f.num <= (uint32_t)HPO__ENVELOPE__BODY_STATUS_REQUEST;
        if (known && f.wt != want)
            return reject(WIRE_MALFORMED, err, errlen,
                          "envelope: field %u has wire type %d", f.num, f.wt);
        if (f.num == 1) {
            if (h->has_magic++)
                return reject(WIRE_MALFORMED, err, errlen, "envelope: two magics");
            h->magic = (uint32_t)f.v;
        } else if (f.num == 2) {
            if (n_version++)
                return reject(WIRE_MALFORMED, err, errlen, "envelope: two versions");
            h->version = f.v > UINT32_MAX ? UINT32_MAX : (uint32_t)f.v;
        } else {
            if (h->body_num)
                return reject(WIRE_MALFORMED, err, errlen,
                              "envelope: two bodies (fields %u and %u)",
                              h->body_num, f.num);
            h->body_num = f.num;
            h->body = f.s;
        }
    }
    if (r < 0)
        return reject(WIRE_MALFORMED, err, errlen,
                      "envelope: bad field at byte %td of %zu", p - m.p, m.n);
    return WIRE_OK;
}

// ---- copying the unpacked message out ----
/* Bytes of out's storage, at least n, 64-byte aligned. */
static uint8_t *reserve(wire_msg *out, size_t n)
{
    if (n > out->store_cap || !out->store) {
        free(out->store);
        out->store_cap = HPO_MAX(n, 64);
        out->store = xalloc_floats(out->store_cap / sizeof(float) + 1);
    }
    return out->store;
}

/* Offset of the next array of n bytes in a storage layout being built. */
static size_t place(size_t *off, size_t n)
{
    size_t at = *off;
    *off += (n + 63) & ~(size_t)63;
    return at;
}

static void put(uint8_t *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
}

static int finite_all(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

static int flags_ok(const uint8_t *x, size_t n)
{
    uint8_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= x[i] & 0xfe;
    return !bad;
}

static wire_reject copy_agent(wire_agent *a, const Hpo__AgentSettings *s,
                              char *err, size_t errlen)
{
    *a = (wire_agent){
        .mode = (int)s->mode, .K = (int)s->k, .eps = s->eps,
        .std_exp = s->std_exp, .alpha = s->alpha,
        .pi_layers = (int)s->pi_layers, .pi_hidden = (int)s->pi_hidden,
        .q_layers = (int)s->q_layers, .q_hidden = (int)s->q_hidden,
        .h_hidden = (int)s->h_hidden, .h_use_state = s->h_use_state != 0,
        .eval_hd = s->eval_hd != 0,
    };
    float f[3] = {a->eps, a->std_exp, a->alpha};
    if (a->mode > MODE_SAC || a->K > 10000 || a->pi_layers > 64 ||
        a->q_layers > 64 || a->pi_hidden > 65536 || a->q_hidden > 65536 ||
        a->h_hidden > 65536 || !finite_all(f, 3) || a->eps < 0 ||
        a->std_exp < 0 || a->alpha < 0)
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "agent settings out of range (mode %d K %d eps %g "
                      "std_exp %g alpha %g)", a->mode, a->K, (double)a->eps,
                      (double)a->std_exp, (double)a->alpha);
    return WIRE_OK;
}

static wire_reject copy_batch(const Hpo__TransitionBatch *p,
                              const batch_shape *scanned, wire_msg *out,
                              char *err, size_t errlen)
{
    batch_shape sh = {
        .n = p->n, .obs_dim = p->obs_dim, .act_dim = p->act_dim,
        .obs = p->n_obs, .act = p->n_action, .rew = p->n_reward,
        .next = p->n_next_obs, .term = p->terminated.len,
        .trunc = p->truncated.len, .ret = p->n_ep_return,
        .len = p->n_ep_length,
    };
    if (memcmp(&sh, scanned, sizeof sh))
        return reject(WIRE_MALFORMED, err, errlen,
                      "batch: unpacked counts differ from the scan");
    size_t n = p->n, off = 0, fs = sizeof(float);
    size_t o_obs = place(&off, p->n_obs * fs), o_act = place(&off, p->n_action * fs);
    size_t o_rew = place(&off, n * fs), o_next = place(&off, p->n_obs * fs);
    size_t o_term = place(&off, n), o_trunc = place(&off, n);
    size_t o_ret = place(&off, p->n_ep_return * fs);
    size_t o_len = place(&off, p->n_ep_length * sizeof(uint32_t));
    uint8_t *s = reserve(out, off);
    put(s + o_obs, p->obs, p->n_obs * fs);
    put(s + o_act, p->action, p->n_action * fs);
    put(s + o_rew, p->reward, n * fs);
    put(s + o_next, p->next_obs, p->n_obs * fs);
    put(s + o_term, p->terminated.data, n);
    put(s + o_trunc, p->truncated.data, n);
    put(s + o_ret, p->ep_return, p->n_ep_return * fs);
    put(s + o_len, p->ep_length, p->n_ep_length * sizeof(uint32_t));

    wire_batch *b = &out->batch;
    *b = (wire_batch){
        .n = (int)p->n, .obs_dim = (int)p->obs_dim, .act_dim = (int)p->act_dim,
        .param_version = p->param_version, .incarnation = p->incarnation,
        .seq = p->seq,
        .obs = (const float *)(s + o_obs), .action = (const float *)(s + o_act),
        .reward = (const float *)(s + o_rew),
        .next_obs = (const float *)(s + o_next),
        .terminated = s + o_term, .truncated = s + o_trunc,
        .n_episodes = (int)p->n_ep_return,
        .ep_return = (const float *)(s + o_ret),
        .ep_length = (const uint32_t *)(s + o_len),
    };
    if (!finite_all(b->obs, p->n_obs) || !finite_all(b->action, p->n_action) ||
        !finite_all(b->reward, n) || !finite_all(b->next_obs, p->n_obs) ||
        !finite_all(b->ep_return, p->n_ep_return))
        return reject(WIRE_BAD_VALUE, err, errlen, "batch: non-finite value");
    if (!flags_ok(b->terminated, n) || !flags_ok(b->truncated, n))
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "batch: terminated/truncated not 0 or 1");
    return WIRE_OK;
}

static wire_reject copy_snapshot(const Hpo__ParamSnapshot *p,
                                 const snap_shape *scanned, wire_msg *out,
                                 char *err, size_t errlen)
{
    snap_shape sh = {.obs_dim = p->obs_dim, .act_dim = p->act_dim,
                     .n_blocks = p->n_blocks};
    for (size_t i = 0; i < p->n_blocks && i < WIRE_MAX_BLOCKS; i++) {
        sh.floats[i] = p->blocks[i]->data.len / sizeof(float);
        sh.which[i] = block_index(p->blocks[i]->name,
                                  strlen(p->blocks[i]->name));
    }
    if (memcmp(&sh, scanned, sizeof sh) || !p->agent)
        return reject(WIRE_MALFORMED, err, errlen,
                      "snapshot: unpacked blocks differ from the scan");
    wire_snapshot *s = &out->snapshot;
    wire_reject r = copy_agent(&s->agent, p->agent, err, errlen);
    if (r)
        return r;
    size_t off = 0, at[WIRE_MAX_BLOCKS];
    for (size_t i = 0; i < p->n_blocks; i++)
        at[i] = place(&off, p->blocks[i]->data.len);
    uint8_t *st = reserve(out, off);
    s->version = p->version;
    s->obs_dim = (int)p->obs_dim;
    s->act_dim = (int)p->act_dim;
    s->env_steps = p->env_steps;
    s->updates = p->updates;
    s->published_unix_ns = p->published_unix_ns;
    snprintf(s->run_id, sizeof s->run_id, "%s", p->run_id);
    s->n_blocks = (int)p->n_blocks;
    for (size_t i = 0; i < p->n_blocks; i++) {
        wire_block *b = &s->blocks[i];
        put(st + at[i], p->blocks[i]->data.data, p->blocks[i]->data.len);
        snprintf(b->name, sizeof b->name, "%s", block_names[sh.which[i]]);
        b->data = (const float *)(st + at[i]);
        b->n = sh.floats[i];
        if (!finite_all(b->data, b->n))
            return reject(WIRE_BAD_VALUE, err, errlen,
                          "snapshot: non-finite value in block %s", b->name);
    }
    return WIRE_OK;
}

static wire_reject copy_eval(const Hpo__EvalResult *p, const eval_shape *scanned,
                             wire_msg *out, char *err, size_t errlen)
{
    if (p->n_returns != scanned->returns || p->n_lengths != scanned->lengths)
        return reject(WIRE_MALFORMED, err, errlen,
                      "eval: unpacked counts differ from the scan");
    size_t n = p->n_returns, off = 0;
    size_t o_ret = place(&off, n * sizeof(float));
    size_t o_len = place(&off, n * sizeof(uint32_t));
    uint8_t *s = reserve(out, off);
    put(s + o_ret, p->returns, n * sizeof(float));
    put(s + o_len, p->lengths, n * sizeof(uint32_t));
    out->eval = (wire_eval){
        .param_version = p->param_version, .incarnation = p->incarnation,
        .n = (int)n, .returns = (const float *)(s + o_ret),
        .lengths = (const uint32_t *)(s + o_len),
    };
    if (!finite_all(out->eval.returns, n))
        return reject(WIRE_BAD_VALUE, err, errlen, "eval: non-finite return");
    return WIRE_OK;
}

static wire_reject copy_body(const Hpo__Envelope *e, const shape *sh,
                             wire_msg *out, char *err, size_t errlen)
{
    switch (out->type) {
    case WIRE_HELLO: {
        const Hpo__Hello *p = e->hello;
        wire_hello *h = &out->hello;
        if (p->role != HPO__ROLE__ROLE_ACTOR && p->role != HPO__ROLE__ROLE_EVAL)
            return reject(WIRE_BAD_VALUE, err, errlen, "hello: role %d",
                          (int)p->role);
        snprintf(h->env, sizeof h->env, "%s", p->env);
        snprintf(h->actor_id, sizeof h->actor_id, "%s", p->actor_id);
        snprintf(h->host, sizeof h->host, "%s", p->host);
        h->obs_dim = (int)p->obs_dim;
        h->act_dim = (int)p->act_dim;
        h->incarnation = p->incarnation;
        h->pid = p->pid;
        h->role = (int)p->role;
        h->n_envs = (int)p->n_envs;
        return WIRE_OK;
    }
    case WIRE_WELCOME: {
        const Hpo__Welcome *p = e->welcome;
        wire_welcome *w = &out->welcome;
        if (!p->agent)
            return reject(WIRE_MALFORMED, err, errlen, "welcome: no agent");
        snprintf(w->run_id, sizeof w->run_id, "%s", p->run_id);
        w->param_version = p->param_version;
        w->env_steps = p->env_steps;
        w->learning_starts = p->learning_starts;
        w->seed = p->seed;
        w->batch_max = (int)p->batch_max;
        w->heartbeat_ms = (int)p->heartbeat_ms;
        w->timeout_ms = (int)p->timeout_ms;
        w->free_run = p->free_run != 0;
        w->credit = p->credit;
        w->eval_episodes = (int)p->eval_episodes;
        return copy_agent(&w->agent, p->agent, err, errlen);
    }
    case WIRE_REFUSE:
        snprintf(out->refuse.reason, sizeof out->refuse.reason, "%s",
                 e->refuse->reason);
        return WIRE_OK;
    case WIRE_BATCH:
        return copy_batch(e->batch, &sh->batch, out, err, errlen);
    case WIRE_CREDIT:
        out->credit.transitions = e->credit->transitions;
        return WIRE_OK;
    case WIRE_HEARTBEAT:
        out->heartbeat = (wire_heartbeat){
            .incarnation = e->heartbeat->incarnation,
            .param_version = e->heartbeat->param_version,
            .env_steps = e->heartbeat->env_steps,
            .snapshot_latency_us = e->heartbeat->snapshot_latency_us,
        };
        return WIRE_OK;
    case WIRE_SNAPSHOT:
        return copy_snapshot(e->snapshot, &sh->snap, out, err, errlen);
    case WIRE_EVAL:
        return copy_eval(e->eval, &sh->eval, out, err, errlen);
    case WIRE_STATUS_REQUEST:
        return WIRE_OK;
    default:
        HPO_ASSERT(!"unreachable");
        return WIRE_UNKNOWN_TYPE;
    }
}

// ---- decoding ----
wire_reject wire_decode(const void *buf, size_t len, const wire_expect *ex,
                        wire_msg *out, char *err, size_t errlen)
{
    void *store = out->store;
    size_t cap = out->store_cap;
    memset(out, 0, sizeof *out);
    out->store = store;
    out->store_cap = cap;
    if (err && errlen)
        err[0] = '\0';

    if (len > WIRE_MAX_MSG)
        return reject(WIRE_TOO_LARGE, err, errlen,
                      "message of %zu bytes over the limit of %u", len,
                      WIRE_MAX_MSG);
    if (!len)
        return reject(WIRE_FOREIGN, err, errlen, "empty message");
    head h;
    wire_reject r = scan_envelope((span){buf, len}, &h, err, errlen);
    if (r)
        return r;
    if (!h.has_magic)
        return reject(WIRE_FOREIGN, err, errlen, "no magic: not an hpo message");
    if (h.magic != WIRE_MAGIC)
        return reject(WIRE_FOREIGN, err, errlen, "magic 0x%08x is not hpo's",
                      h.magic);
    wire_type t = WIRE_NONE;
    for (int i = WIRE_NONE + 1; i < WIRE_TYPE_COUNT; i++)
        if (h.body_num == (uint32_t)body_field[i])
            t = (wire_type)i;
    out->version = h.version;
    out->type = t;
    if (h.version != WIRE_VERSION && t != WIRE_REFUSE)
        return reject(WIRE_BAD_VERSION, err, errlen,
                      "protocol version %u, this side speaks %u", h.version,
                      WIRE_VERSION);
    if (t == WIRE_NONE && !h.body_num)
        return reject(WIRE_UNKNOWN_TYPE, err, errlen, "no message body");
    if (t == WIRE_NONE)
        return reject(WIRE_UNKNOWN_TYPE, err, errlen,
                      "unknown message type (field %u)", h.body_num);
    if (len > wire_limit(t))
        return reject(WIRE_TOO_LARGE, err, errlen,
                      "%s of %zu bytes over its limit of %zu",
                      wire_type_name(t), len, wire_limit(t));
    shape sh;
    if ((r = scan_body(t, h.body, ex, &sh, err, errlen)))
        return r;

    Hpo__Envelope *e = hpo__envelope__unpack(NULL, len, buf);
    if (!e)
        return reject(WIRE_MALFORMED, err, errlen,
                      "%s: protobuf-c could not unpack it", wire_type_name(t));
    if (e->body_case != (Hpo__Envelope__BodyCase)body_field[t])
        r = reject(WIRE_MALFORMED, err, errlen,
                   "%s: unpacked body differs from the scan", wire_type_name(t));
    else
        r = copy_body(e, &sh, out, err, errlen);
    hpo__envelope__free_unpacked(e, NULL);
    return r;
}
