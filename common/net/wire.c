/*
 * wire.c - the one module that touches protobuf-c: framing, limits, pack and
 * unpack of proto/hpo.proto (contract in wire.h).
 *
 * Decoding parses once: the envelope is walked by hand (magic, version,
 * which body, how long) without allocating; a walk over the body's tags
 * driven by protobuf-c's descriptors refuses the little protobuf-c would let
 * through (lint); protobuf-c unpacks the message into a per-message arena
 * under a byte budget; then counts, dims and values are checked on the
 * unpacked struct, whose arrays the wire_msg points at in the arena.
 */
#include "wire.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpo.pb-c.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error                                                                         \
    "parameter blocks are little-endian float32 on the wire: add byte swapping"
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
    [WIRE_NONE] = "none",           [WIRE_HELLO] = "hello",
    [WIRE_WELCOME] = "welcome",     [WIRE_REFUSE] = "refuse",
    [WIRE_BATCH] = "batch",         [WIRE_CREDIT] = "credit",
    [WIRE_HEARTBEAT] = "heartbeat", [WIRE_SNAPSHOT] = "snapshot",
    [WIRE_EVAL] = "eval",           [WIRE_STATUS_REQUEST] = "status_request",
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

typedef struct arena arena;
static void arena_destroy(arena **pa);

void wire_msg_release(wire_msg *m)
{
    arena *a = m->store;
    arena_destroy(&a);
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
    memset(a, 0, sizeof *a);
    config_agent_text(c, a->settings, sizeof a->settings);
    a->alpha = alpha;
}

int wire_agent_to_config(const wire_agent *a, hpo_config *c, char *err,
                         size_t errlen)
{
    if (config_agent_parse(c, a->settings, err, errlen))
        return -1;
    c->alpha = a->alpha;
    return 0;
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
    o->alpha = a->alpha;
    o->settings.data = (uint8_t *)str_field(a->settings, sizeof a->settings);
    o->settings.len = strlen(a->settings);
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
    o->eval_mark = s->eval_mark;
    for (int i = 0; i < s->n_blocks; i++) {
        const wire_block *b = &s->blocks[i];
        hpo__param_block__init(&x->blocks[i]);
        x->blocks[i].name = STR(b->name);
        x->blocks[i].data =
            (ProtobufCBinaryData){b->n * sizeof(float), ARRAY(b->data, b->n)};
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

// ---- the envelope (no allocation) ----
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct span {
    const uint8_t *p;
    size_t n;
} span;

typedef struct field {
    uint32_t num;
    int wt;
    uint64_t v; /* WT_VARINT, WT_I64, WT_I32 */
    span s;     /* WT_LEN */
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

typedef struct head {
    int has_magic;
    uint32_t magic, version;
    uint32_t body_num; /* 0: none */
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
                return reject(WIRE_MALFORMED, err, errlen,
                              "envelope: two magics");
            h->magic = (uint32_t)f.v;
        } else if (f.num == 2) {
            if (n_version++)
                return reject(WIRE_MALFORMED, err, errlen,
                              "envelope: two versions");
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

// ---- what protobuf-c lets through ----
/* A string field's bytes: no control byte, and valid UTF-8 (proto3's rule
 * for string, and what metrics labels, the status reply and the log need). */
static int printable(span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < 0x20 || s.p[i] == 0x7f)
            return 0;
    return utf8_valid(s.p, s.n);
}

/*
 * protobuf-c accepts three things this protocol refuses: a singular field
 * sent twice (the last one wins), a varint too large for a 32-bit field (its
 * high bits dropped: n = 2^32 + 3 would read as 3) and a string with control
 * bytes (a NUL would cut it short unseen). This walk over the tags of message
 * m (descriptor d) and its sub-messages refuses them before anything is
 * unpacked; it reads protobuf-c's own field descriptors, so it has no table
 * of its own, and leaves wire types, lengths and counts to protobuf-c and to
 * the checks on the unpacked struct.
 */
static wire_reject lint(const ProtobufCMessageDescriptor *d, span m, int depth,
                        char *err, size_t errlen)
{
    const uint8_t *p = m.p, *end = m.p + m.n;
    uint64_t seen = 0;
    int r;
    field f;
    HPO_ASSERT(d->n_fields <= 64);
    while ((r = next_field(&p, end, &f)) > 0) {
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, f.num);
        if (!fd)
            continue; /* unknown: counted on the unpacked message */
        uint64_t bit = 1ull << (fd - d->fields);
        if (fd->label != PROTOBUF_C_LABEL_REPEATED && (seen & bit))
            return reject(WIRE_MALFORMED, err, errlen,
                          "%s: field %s (%u) repeated", d->short_name, fd->name,
                          f.num);
        seen |= bit;
        switch (fd->type) {
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_ENUM:
        case PROTOBUF_C_TYPE_BOOL:
            if (f.wt == WT_VARINT && f.v > INT32_MAX)
                return reject(WIRE_BAD_VALUE, err, errlen,
                              "%s: field %s = %llu out of range", d->short_name,
                              fd->name, (unsigned long long)f.v);
            break;
        case PROTOBUF_C_TYPE_STRING:
            if (f.wt == WT_LEN && !printable(f.s))
                return reject(
                    WIRE_BAD_VALUE, err, errlen,
                    "%s: field %s: a string with a control byte or not valid UTF-8",
                    d->short_name, fd->name);
            break;
        case PROTOBUF_C_TYPE_MESSAGE:
            if (f.wt == WT_LEN && depth < 4) {
                wire_reject rj =
                    lint(fd->descriptor, f.s, depth + 1, err, errlen);
                if (rj)
                    return rj;
            }
            break;
        default:
            break;
        }
    }
    if (r < 0)
        return reject(WIRE_MALFORMED, err, errlen,
                      "%s: bad field at byte %td of %zu", d->short_name,
                      p - m.p, m.n);
    return WIRE_OK;
}

// ---- the decode arena ----
/*
 * protobuf-c allocates every object of one unpack through arena_alloc: from
 * a block reused across decodes (grown to the message's length plus
 * ARENA_SLACK), past it from separate overflow allocations freed when the
 * next decode starts. Every allocation is 64-byte aligned. The total granted
 * to one decode is bounded by arena_budget(len): a message whose unpacked
 * form would need more (masses of unknown fields or empty sub-messages,
 * thousands of values sent one per tag) fails cleanly as WIRE_MALFORMED.
 * Nothing is freed piecewise; the objects live until the next decode.
 */
#define ARENA_ALIGN 64
#define ARENA_SLACK (16u << 10)

typedef struct arena {
    uint8_t *base; /* the reused block (cap bytes) */
    size_t cap, used;
    size_t budget; /* bytes this decode may be granted */
    size_t granted;
    void *overflow; /* list of allocations past cap, via their first word */
    int exhausted;  /* an allocation was refused for the budget */
} arena;

static size_t arena_budget(size_t len)
{
    return 2 * len + ARENA_SLACK;
}

static void *aligned_or_die(size_t n)
{
    void *p = aligned_alloc(ARENA_ALIGN, n);
    if (!p)
        hpo_panic(__FILE__, __LINE__, "out of memory allocating %zu bytes", n);
    return p;
}

static void arena_drop_overflow(arena *a)
{
    while (a->overflow) {
        void *next;
        memcpy(&next, a->overflow, sizeof next);
        free(a->overflow);
        a->overflow = next;
    }
}

/* Start a decode of a len-byte message. */
static void arena_reset(arena *a, size_t len)
{
    arena_drop_overflow(a);
    size_t want =
        (len + ARENA_SLACK + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (want > a->cap) {
        free(a->base);
        a->base = aligned_or_die(want);
        a->cap = want;
    }
    a->used = a->granted = 0;
    a->budget = arena_budget(len);
    a->exhausted = 0;
}

static void *arena_alloc(void *data, size_t n)
{
    arena *a = data;
    size_t sz = ((n ? n : 1) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (sz < n || sz > a->budget - a->granted) {
        a->exhausted = 1;
        return NULL;
    }
    a->granted += sz;
    if (sz <= a->cap - a->used) {
        void *p = a->base + a->used;
        a->used += sz;
        return p;
    }
    uint8_t *p = aligned_or_die(ARENA_ALIGN + sz);
    memcpy(p, &a->overflow, sizeof a->overflow);
    a->overflow = p;
    return p + ARENA_ALIGN;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p; /* everything goes at the next arena_reset */
}

static void arena_destroy(arena **pa)
{
    if (!*pa)
        return;
    arena_drop_overflow(*pa);
    free((*pa)->base);
    free(*pa);
    *pa = NULL;
}

// ---- checks on the unpacked message ----
static const char *const block_names[2] = {WIRE_BLOCK_POLICY,
                                           WIRE_BLOCK_CRITICS};

static int block_index(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(block_names[i], name))
            return i;
    return -1;
}

/* Empty arrays decode to a pointer here, never NULL. */
static const _Alignas(64) uint8_t empty[64];

static const void *nonnull(const void *p)
{
    return p ? p : empty;
}

/* Out of line: one vectorized copy of the loop, whatever calls it. */
__attribute__((noinline)) static int finite_all(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

__attribute__((noinline)) static int flags_ok(const uint8_t *x, size_t n)
{
    uint8_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= x[i] & 0xfe;
    return !bad;
}

static wire_reject check_unknown(const ProtobufCMessage *m, char *err,
                                 size_t errlen)
{
    if (m->n_unknown_fields <= WIRE_MAX_UNKNOWN)
        return WIRE_OK;
    return reject(WIRE_MALFORMED, err, errlen,
                  "%s: %zu unknown fields, at most %d",
                  m->descriptor->short_name, (size_t)m->n_unknown_fields,
                  WIRE_MAX_UNKNOWN);
}

/* Copy the unpacked string s (printable: lint) into dst of cap bytes. */
static wire_reject take_string(char *dst, size_t cap, const char *s,
                               const char *what, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n >= cap)
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "%s: string of %zu bytes, at most %zu", what, n, cap - 1);
    memcpy(dst, s, n + 1);
    return WIRE_OK;
}

#define TAKE_STRING(dst, s, what)                                              \
    take_string((dst), sizeof(dst), (s), (what), err, errlen)

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
                      "%s: obs_dim %llu act_dim %llu, expected %d and %d", what,
                      (unsigned long long)od, (unsigned long long)ad,
                      ex->obs_dim, ex->act_dim);
    return WIRE_OK;
}

static wire_reject check_count(const char *what, const char *name,
                               uint64_t have, uint64_t want, char *err,
                               size_t errlen)
{
    if (have == want)
        return WIRE_OK;
    return reject(WIRE_BAD_DIMS, err, errlen,
                  "%s: %s has %llu values, %llu expected", what, name,
                  (unsigned long long)have, (unsigned long long)want);
}

static wire_reject take_agent(wire_agent *a, const Hpo__AgentSettings *s,
                              char *err, size_t errlen)
{
    wire_reject r = check_unknown(&s->base, err, errlen);
    if (r)
        return r;
    size_t n = s->settings.len;
    if (n >= sizeof a->settings)
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "agent settings: %zu bytes of text, at most %zu", n,
                      sizeof a->settings - 1);
    if (n && memchr(s->settings.data, '\0', n))
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "agent settings: a NUL byte in the text");
    memset(a, 0, sizeof *a);
    if (n)
        memcpy(a->settings, s->settings.data, n);
    a->alpha = s->alpha;
    if (!isfinite(a->alpha) || a->alpha < 0)
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "agent settings: alpha %g out of range",
                      (double)a->alpha);
    /* the settings must parse, each in its declared range */
    hpo_config scratch;
    char why[256];
    config_defaults(&scratch);
    if (config_agent_parse(&scratch, a->settings, why, sizeof why))
        return reject(WIRE_BAD_VALUE, err, errlen, "agent settings: %s", why);
    return WIRE_OK;
}

static wire_reject take_batch(const Hpo__TransitionBatch *p,
                              const wire_expect *ex, wire_batch *b, char *err,
                              size_t errlen)
{
    uint64_t n = p->n;
    wire_reject r =
        check_dims("batch", p->obs_dim, p->act_dim, ex, err, errlen);
    if (!r)
        r = check_count("batch", "obs", p->n_obs, n * p->obs_dim, err, errlen);
    if (!r)
        r = check_count("batch", "action", p->n_action, n * p->act_dim, err,
                        errlen);
    if (!r)
        r = check_count("batch", "reward", p->n_reward, n, err, errlen);
    if (!r)
        r = check_count("batch", "next_obs", p->n_next_obs, n * p->obs_dim, err,
                        errlen);
    if (!r)
        r = check_count("batch", "terminated", p->terminated.len, n, err,
                        errlen);
    if (!r)
        r = check_count("batch", "truncated", p->truncated.len, n, err, errlen);
    if (!r)
        r = check_count("batch", "ep_length", p->n_ep_length, p->n_ep_return,
                        err, errlen);
    if (!r && p->n_ep_return > n)
        r = reject(WIRE_BAD_DIMS, err, errlen,
                   "batch: %zu finished episodes in %llu transitions",
                   (size_t)p->n_ep_return, (unsigned long long)n);
    if (r)
        return r;
    *b = (wire_batch){
        .n = (int)p->n,
        .obs_dim = (int)p->obs_dim,
        .act_dim = (int)p->act_dim,
        .param_version = p->param_version,
        .incarnation = p->incarnation,
        .seq = p->seq,
        .obs = nonnull(p->obs),
        .action = nonnull(p->action),
        .reward = nonnull(p->reward),
        .next_obs = nonnull(p->next_obs),
        .terminated = nonnull(p->terminated.data),
        .truncated = nonnull(p->truncated.data),
        .n_episodes = (int)p->n_ep_return,
        .ep_return = nonnull(p->ep_return),
        .ep_length = nonnull(p->ep_length),
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

static wire_reject take_snapshot(const Hpo__ParamSnapshot *p,
                                 const wire_expect *ex, wire_snapshot *s,
                                 char *err, size_t errlen)
{
    if (!p->agent)
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "snapshot: no agent settings");
    wire_reject r =
        check_dims("snapshot", p->obs_dim, p->act_dim, ex, err, errlen);
    if (r)
        return r;
    if (p->n_blocks > WIRE_MAX_BLOCKS)
        return reject(WIRE_BAD_DIMS, err, errlen,
                      "snapshot: %zu blocks, at most %d", (size_t)p->n_blocks,
                      WIRE_MAX_BLOCKS);
    size_t want[2] = {ex ? ex->policy_n : 0, ex ? ex->critics_n : 0};
    int have[2] = {0, 0};
    s->n_blocks = (int)p->n_blocks;
    for (size_t i = 0; i < p->n_blocks; i++) {
        const Hpo__ParamBlock *pb = p->blocks[i];
        if ((r = check_unknown(&pb->base, err, errlen)))
            return r;
        int w = block_index(pb->name);
        if (w < 0)
            return reject(WIRE_BAD_VALUE, err, errlen,
                          "snapshot: unknown block name '%.*s'", WIRE_NAME_MAX,
                          pb->name);
        if (have[w]++)
            return reject(WIRE_BAD_DIMS, err, errlen,
                          "snapshot: block %s twice", block_names[w]);
        if (pb->data.len % sizeof(float))
            return reject(WIRE_BAD_DIMS, err, errlen,
                          "snapshot: block %s of %zu bytes is not floats",
                          block_names[w], pb->data.len);
        size_t nf = pb->data.len / sizeof(float);
        if (want[w] && nf != want[w])
            return reject(WIRE_BAD_DIMS, err, errlen,
                          "snapshot: block %s has %zu floats, expected %zu",
                          block_names[w], nf, want[w]);
        wire_block *b = &s->blocks[i];
        snprintf(b->name, sizeof b->name, "%s", block_names[w]);
        b->data = nonnull(pb->data.data);
        b->n = nf;
    }
    for (int w = 0; w < 2; w++)
        if (want[w] && !have[w])
            return reject(WIRE_BAD_DIMS, err, errlen, "snapshot: no %s block",
                          block_names[w]);
    if ((r = take_agent(&s->agent, p->agent, err, errlen)) ||
        (r = TAKE_STRING(s->run_id, p->run_id, "snapshot run_id")))
        return r;
    s->version = p->version;
    s->obs_dim = (int)p->obs_dim;
    s->act_dim = (int)p->act_dim;
    s->env_steps = p->env_steps;
    s->updates = p->updates;
    s->published_unix_ns = p->published_unix_ns;
    s->eval_mark = p->eval_mark;
    if (s->eval_mark > s->env_steps)
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "snapshot: evaluation mark %llu past its %llu env steps",
                      (unsigned long long)s->eval_mark,
                      (unsigned long long)s->env_steps);
    for (int i = 0; i < s->n_blocks; i++)
        if (!finite_all(s->blocks[i].data, s->blocks[i].n))
            return reject(WIRE_BAD_VALUE, err, errlen,
                          "snapshot: non-finite value in block %s",
                          s->blocks[i].name);
    return WIRE_OK;
}

static wire_reject take_eval(const Hpo__EvalResult *p, wire_eval *e, char *err,
                             size_t errlen)
{
    wire_reject r =
        check_count("eval", "lengths", p->n_lengths, p->n_returns, err, errlen);
    if (!r && p->n_returns > WIRE_MAX_EPISODES)
        r = reject(WIRE_BAD_DIMS, err, errlen, "eval: %zu episodes over %d",
                   (size_t)p->n_returns, WIRE_MAX_EPISODES);
    if (r)
        return r;
    *e = (wire_eval){
        .param_version = p->param_version,
        .incarnation = p->incarnation,
        .n = (int)p->n_returns,
        .returns = nonnull(p->returns),
        .lengths = nonnull(p->lengths),
    };
    if (!finite_all(e->returns, p->n_returns))
        return reject(WIRE_BAD_VALUE, err, errlen, "eval: non-finite return");
    return WIRE_OK;
}

static wire_reject take_hello(const Hpo__Hello *p, wire_hello *h, char *err,
                              size_t errlen)
{
    wire_reject r;
    if ((r = TAKE_STRING(h->env, p->env, "hello env")) ||
        (r = TAKE_STRING(h->actor_id, p->actor_id, "hello actor_id")) ||
        (r = TAKE_STRING(h->host, p->host, "hello host")))
        return r;
    if (p->role != HPO__ROLE__ROLE_ACTOR && p->role != HPO__ROLE__ROLE_EVAL)
        return reject(WIRE_BAD_VALUE, err, errlen, "hello: role %d",
                      (int)p->role);
    h->obs_dim = (int)p->obs_dim;
    h->act_dim = (int)p->act_dim;
    h->incarnation = p->incarnation;
    h->pid = p->pid;
    h->role = (int)p->role;
    h->n_envs = (int)p->n_envs;
    return WIRE_OK;
}

static wire_reject take_welcome(const Hpo__Welcome *p, wire_welcome *w,
                                char *err, size_t errlen)
{
    if (!p->agent)
        return reject(WIRE_BAD_VALUE, err, errlen,
                      "welcome: no agent settings");
    wire_reject r = TAKE_STRING(w->run_id, p->run_id, "welcome run_id");
    if (r)
        return r;
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
    return take_agent(&w->agent, p->agent, err, errlen);
}

/* Check the unpacked body of e (of out->type) and take it into out. */
static wire_reject take_body(const Hpo__Envelope *e, const wire_expect *ex,
                             wire_msg *out, char *err, size_t errlen)
{
    const ProtobufCMessage *body = NULL;
    switch (out->type) {
    case WIRE_HELLO:
        body = &e->hello->base;
        break;
    case WIRE_WELCOME:
        body = &e->welcome->base;
        break;
    case WIRE_REFUSE:
        body = &e->refuse->base;
        break;
    case WIRE_BATCH:
        body = &e->batch->base;
        break;
    case WIRE_CREDIT:
        body = &e->credit->base;
        break;
    case WIRE_HEARTBEAT:
        body = &e->heartbeat->base;
        break;
    case WIRE_SNAPSHOT:
        body = &e->snapshot->base;
        break;
    case WIRE_EVAL:
        body = &e->eval->base;
        break;
    case WIRE_STATUS_REQUEST:
        body = &e->status_request->base;
        break;
    default:
        HPO_ASSERT(!"unreachable");
    }
    wire_reject r = check_unknown(&e->base, err, errlen);
    if (!r)
        r = check_unknown(body, err, errlen);
    if (r)
        return r;
    switch (out->type) {
    case WIRE_HELLO:
        return take_hello(e->hello, &out->hello, err, errlen);
    case WIRE_WELCOME:
        return take_welcome(e->welcome, &out->welcome, err, errlen);
    case WIRE_REFUSE:
        return TAKE_STRING(out->refuse.reason, e->refuse->reason,
                           "refuse reason");
    case WIRE_BATCH:
        return take_batch(e->batch, ex, &out->batch, err, errlen);
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
        return take_snapshot(e->snapshot, ex, &out->snapshot, err, errlen);
    case WIRE_EVAL:
        return take_eval(e->eval, &out->eval, err, errlen);
    default:
        return WIRE_OK;
    }
}

// ---- decoding ----
static const ProtobufCMessageDescriptor *const body_desc[WIRE_TYPE_COUNT] = {
    [WIRE_HELLO] = &hpo__hello__descriptor,
    [WIRE_WELCOME] = &hpo__welcome__descriptor,
    [WIRE_REFUSE] = &hpo__refuse__descriptor,
    [WIRE_BATCH] = &hpo__transition_batch__descriptor,
    [WIRE_CREDIT] = &hpo__credit__descriptor,
    [WIRE_HEARTBEAT] = &hpo__heartbeat__descriptor,
    [WIRE_SNAPSHOT] = &hpo__param_snapshot__descriptor,
    [WIRE_EVAL] = &hpo__eval_result__descriptor,
    [WIRE_STATUS_REQUEST] = &hpo__status_request__descriptor,
};

wire_reject wire_decode(const void *buf, size_t len, const wire_expect *ex,
                        wire_msg *out, char *err, size_t errlen)
{
    arena *a = out->store;
    memset(out, 0, sizeof *out);
    out->store = a;
    out->store_cap = a ? a->cap : 0;
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
        return reject(WIRE_FOREIGN, err, errlen,
                      "no magic: not an hpo message");
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
    if ((r = lint(body_desc[t], h.body, 0, err, errlen)))
        return r;

    if (!a)
        out->store = a = xcalloc(1, sizeof *a);
    arena_reset(a, len);
    out->store_cap = a->cap;
    ProtobufCAllocator al = {arena_alloc, arena_free, a};
    Hpo__Envelope *e = hpo__envelope__unpack(&al, len, buf);
    if (!e && a->exhausted)
        return reject(
            WIRE_MALFORMED, err, errlen,
            "%s of %zu bytes needs more than its unpacking budget of %zu bytes",
            wire_type_name(t), len, a->budget);
    if (!e)
        return reject(WIRE_MALFORMED, err, errlen,
                      "%s: protobuf-c could not unpack it", wire_type_name(t));
    if (e->body_case != (Hpo__Envelope__BodyCase)body_field[t])
        return reject(WIRE_MALFORMED, err, errlen,
                      "%s: unpacked body differs from the envelope",
                      wire_type_name(t));
    return take_body(e, ex, out, err, errlen);
}
