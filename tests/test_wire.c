/* test_wire.c - every message round-trips bit-exact, and every bad-input
 * class of issue 4 is rejected with its reason and without a crash or a leak
 * (run it under -Dsanitize=true): random bytes, mutated messages, every
 * truncation, unknown type, another version, foreign magic, wrong dims, a
 * length past the end, oversized messages, arrays that disagree with n.
 * Hand-made messages come from a small protobuf writer here, independent of
 * wire.c; it also checks that wire_encode writes the format we think. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"
#include "rng.h"
#include "util.h"
#include "wire.h"

#define OD 3
#define AD 2
#define RNG_STREAM_TEST 99

// ---- a minimal protobuf writer ----
typedef struct pbw {
    uint8_t *b;
    size_t n, cap;
} pbw;

static void w_bytes(pbw *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->b = realloc(w->b, w->cap);
        assert_non_null(w->b);
    }
    if (n)
        memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_varint(pbw *w, uint64_t v)
{
    uint8_t b[10];
    int k = 0;
    do {
        b[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[k] |= 0x80;
        k++;
    } while (v);
    w_bytes(w, b, (size_t)k);
}

static void w_tag(pbw *w, uint32_t num, int wt)
{
    w_varint(w, (uint64_t)num << 3 | (uint64_t)wt);
}
static void w_u(pbw *w, uint32_t num, uint64_t v)
{
    w_tag(w, num, 0);
    w_varint(w, v);
}

static void w_fixed(pbw *w, uint32_t num, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> 8 * i);
    w_tag(w, num, bytes == 4 ? 5 : 1);
    w_bytes(w, b, (size_t)bytes);
}

static void w_len(pbw *w, uint32_t num, const void *p, size_t n)
{
    w_tag(w, num, 2);
    w_varint(w, n);
    w_bytes(w, p, n);
}

/* Envelope: magic, version, body as field body_num (skipped when 0). */
static void w_envelope(pbw *w, uint32_t magic, uint32_t version,
                       uint32_t body_num, const pbw *body)
{
    w_fixed(w, 1, magic, 4);
    w_u(w, 2, version);
    if (body_num)
        w_len(w, body_num, body->b, body->n);
}

static void w_free(pbw *w)
{
    free(w->b);
    *w = (pbw){0};
}

// ---- hand-made transition batches ----
/* The counts a hand-made batch writes; consistent from craft_ok. */
typedef struct craft {
    uint64_t n, od, ad;
    size_t obs, act, rew, next, term, trunc, ret, len;
    uint8_t flag; /* every terminated/truncated byte */
    float fill;   /* every float */
} craft;

static craft craft_ok(uint64_t n, uint64_t od, uint64_t ad)
{
    return (craft){n, od, ad,    n * od, n * ad, n,    n * od,
                   n, n,  n > 0, n > 0,  1,      0.25f};
}

static void w_floats(pbw *w, uint32_t num, size_t count, float v)
{
    if (!count)
        return;
    float *x = malloc(count * sizeof *x);
    for (size_t i = 0; i < count; i++)
        x[i] = v;
    w_len(w, num, x, count * sizeof *x);
    free(x);
}

/* Body bytes of c, fields in number order, zeros omitted (as protobuf-c
 * writes proto3). */
static void craft_body(pbw *out, const craft *c)
{
    pbw b = {0};
    if (c->n)
        w_u(&b, 1, c->n);
    if (c->od)
        w_u(&b, 2, c->od);
    if (c->ad)
        w_u(&b, 3, c->ad);
    w_floats(&b, 7, c->obs, c->fill);
    w_floats(&b, 8, c->act, c->fill);
    w_floats(&b, 9, c->rew, c->fill);
    w_floats(&b, 10, c->next, c->fill);
    uint8_t *f = malloc(HPO_MAX(c->term, c->trunc) + 1);
    memset(f, c->flag, HPO_MAX(c->term, c->trunc) + 1);
    if (c->term)
        w_len(&b, 11, f, c->term);
    if (c->trunc)
        w_len(&b, 12, f, c->trunc);
    free(f);
    w_floats(&b, 13, c->ret, c->fill);
    if (c->len) {
        uint32_t *l = malloc(c->len * sizeof *l);
        for (size_t i = 0; i < c->len; i++)
            l[i] = 7;
        w_len(&b, 14, l, c->len * sizeof *l);
        free(l);
    }
    w_bytes(out, b.b, b.n);
    w_free(&b);
}

/* Whole message bytes of c. */
static void craft_batch(pbw *out, const craft *c)
{
    pbw b = {0};
    craft_body(&b, c);
    w_envelope(out, WIRE_MAGIC, WIRE_VERSION, 6, &b);
    w_free(&b);
}

// ---- helpers ----
static const wire_expect ex_batch = {.obs_dim = OD, .act_dim = AD};

static wire_reject decode(const void *buf, size_t len, const wire_expect *ex,
                          wire_msg *m)
{
    char err[256] = "";
    wire_reject r = wire_decode(buf, len, ex, m, err, sizeof err);
    assert_true(r == WIRE_OK || err[0]); /* every reject says why */
    return r;
}

/* Decode with a fresh message and release it. */
static wire_reject decode1(const void *buf, size_t len, const wire_expect *ex)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_NONE);
    wire_reject r = decode(buf, len, ex, &m);
    wire_msg_release(&m);
    return r;
}

/* Decode the batch crafted from c, checked against ex_batch. */
static wire_reject decode_craft(const craft *c)
{
    pbw w = {0};
    craft_batch(&w, c);
    wire_reject r = decode1(w.b, w.n, &ex_batch);
    w_free(&w);
    return r;
}

/* Decode body as a Batch in a current envelope, checked against ex_batch. */
static wire_reject decode_batch_body(const pbw *body)
{
    pbw w = {0};
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 6, body);
    wire_reject r = decode1(w.b, w.n, &ex_batch);
    w_free(&w);
    return r;
}

/* Encode m and decode it unchecked with a fresh message. */
static wire_reject encode_decode1(const wire_msg *m)
{
    size_t n;
    uint8_t *buf = wire_encode_alloc(m, &n);
    wire_reject r = decode1(buf, n, NULL);
    free(buf);
    return r;
}

/* Finite float with random bits (subnormals, -0 included). */
static float rand_float(rng *r)
{
    uint32_t u = (uint32_t)rng_u64(r);
    if ((u & 0x7f800000u) == 0x7f800000u)
        u &= ~0x00800000u;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void fill_floats(float *x, size_t n, rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rand_float(r);
}

/* A batch of n rows with random contents, arrays owned by the caller. */
typedef struct batch_data {
    float obs[64 * OD], act[64 * AD], rew[64], next[64 * OD], ret[64];
    uint8_t term[64], trunc[64];
    uint32_t len[64];
} batch_data;

static void make_batch(wire_msg *m, batch_data *d, int n, rng *r)
{
    assert_true(n <= 64);
    wire_msg_init(m, WIRE_BATCH);
    fill_floats(d->obs, (size_t)n * OD, r);
    fill_floats(d->act, (size_t)n * AD, r);
    fill_floats(d->rew, (size_t)n, r);
    fill_floats(d->next, (size_t)n * OD, r);
    int ne = 0;
    for (int i = 0; i < n; i++) {
        d->term[i] = rng_below(r, 5) == 0;
        d->trunc[i] = !d->term[i] && rng_below(r, 7) == 0;
        if (d->term[i] || d->trunc[i]) {
            d->ret[ne] = rand_float(r);
            d->len[ne++] = (uint32_t)rng_u64(r);
        }
    }
    m->batch = (wire_batch){
        .n = n,
        .obs_dim = OD,
        .act_dim = AD,
        .param_version = rng_u64(r),
        .incarnation = rng_u64(r),
        .seq = rng_u64(r),
        .obs = d->obs,
        .action = d->act,
        .reward = d->rew,
        .next_obs = d->next,
        .terminated = d->term,
        .truncated = d->trunc,
        .n_episodes = ne,
        .ep_return = d->ret,
        .ep_length = d->len,
    };
}

/* A batch of n random rows from seed in *m (data in *d), encoded into *len
 * bytes; caller frees the result. */
static uint8_t *encode_batch(wire_msg *m, batch_data *d, int n, uint64_t seed,
                             size_t *len)
{
    rng r;
    rng_init(&r, seed, RNG_STREAM_TEST);
    make_batch(m, d, n, &r);
    return wire_encode_alloc(m, len);
}

static void make_agent(wire_agent *a)
{
    hpo_config c;
    config_defaults(&c);
    wire_agent_from_config(a, &c, 0.125f);
}

/* Encode m both ways (same bytes), decode, and re-encode the decoded
 * message: the same bytes again. Returns the decoded message in *out. */
static void round_trip(const wire_msg *m, const wire_expect *ex, wire_msg *out)
{
    size_t n = wire_size(m), n2 = 0;
    uint8_t *buf = malloc(n + 16);
    assert_int_equal(wire_encode(m, buf, n + 16), n);
    assert_int_equal(wire_encode(m, buf, n - (n > 0)), 0); /* too small */
    uint8_t *a = wire_encode_alloc(m, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(a, buf, n);
    free(a);

    wire_msg_init(out, WIRE_NONE);
    char err[256] = "";
    wire_reject r = wire_decode(buf, n, ex, out, err, sizeof err);
    if (r != WIRE_OK)
        fail_msg("%s: %s: %s", wire_type_name(m->type), wire_reject_name(r),
                 err);
    assert_int_equal(out->type, m->type);
    assert_int_equal(out->version, WIRE_VERSION);

    uint8_t *again = wire_encode_alloc(out, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(again, buf, n);
    free(again);
    free(buf);
}

#define assert_floats_equal(a, b, n)                                           \
    assert_memory_equal((a), (b), (n) * sizeof(float))

// ---- round trips ----
static void test_roundtrip_batch(void **state)
{
    rng r;
    rng_init(&r, 1, RNG_STREAM_TEST);
    batch_data d;
    for (int n = 0; n <= 64; n += 16) {
        wire_msg m, o;
        make_batch(&m, &d, n, &r);
        round_trip(&m, &ex_batch, &o);
        const wire_batch *a = &m.batch, *b = &o.batch;
        assert_int_equal(b->n, n);
        assert_int_equal(b->obs_dim, OD);
        assert_int_equal(b->act_dim, AD);
        assert_true(b->param_version == a->param_version);
        assert_true(b->incarnation == a->incarnation);
        assert_true(b->seq == a->seq);
        if (n) {
            assert_floats_equal(b->obs, a->obs, (size_t)n * OD);
            assert_floats_equal(b->action, a->action, (size_t)n * AD);
            assert_floats_equal(b->reward, a->reward, (size_t)n);
            assert_floats_equal(b->next_obs, a->next_obs, (size_t)n * OD);
            assert_memory_equal(b->terminated, a->terminated, (size_t)n);
            assert_memory_equal(b->truncated, a->truncated, (size_t)n);
            assert_int_equal((uintptr_t)b->obs % 64, 0);
        }
        assert_int_equal(b->n_episodes, a->n_episodes);
        if (a->n_episodes) {
            assert_floats_equal(b->ep_return, a->ep_return,
                                (size_t)a->n_episodes);
            assert_memory_equal(b->ep_length, a->ep_length,
                                (size_t)a->n_episodes * sizeof(uint32_t));
        }
        wire_msg_release(&o);
    }
}

static void test_roundtrip_control(void **state)
{
    wire_msg m, o;

    wire_msg_init(&m, WIRE_HELLO);
    m.hello = (wire_hello){.obs_dim = 17,
                           .act_dim = 6,
                           .pid = 4242,
                           .incarnation = 0xfedcba9876543210u,
                           .role = WIRE_ROLE_EVAL,
                           .n_envs = 8};
    strcpy(m.hello.env, "HalfCheetah");
    strcpy(m.hello.actor_id, "a7");
    strcpy(m.hello.host, "node-12.cluster");
    round_trip(&m, NULL, &o);
    assert_memory_equal(&o.hello, &m.hello, sizeof m.hello);
    wire_msg_release(&o);

    wire_msg_init(&m, WIRE_WELCOME);
    m.welcome = (wire_welcome){.param_version = 12,
                               .env_steps = 123456789012ull,
                               .learning_starts = 10000,
                               .seed = 0x8000000000000001ull,
                               .batch_max = 256,
                               .heartbeat_ms = 500,
                               .timeout_ms = 5000,
                               .free_run = 1,
                               .credit = 4096,
                               .eval_episodes = 10};
    strcpy(m.welcome.run_id, "run-20240101-abcdef");
    make_agent(&m.welcome.agent);
    round_trip(&m, NULL, &o);
    assert_memory_equal(&o.welcome, &m.welcome, sizeof m.welcome);
    wire_msg_release(&o);

    wire_msg_init(&m, WIRE_REFUSE);
    strcpy(m.refuse.reason, "env Hopper, learner runs HalfCheetah");
    round_trip(&m, NULL, &o);
    assert_string_equal(o.refuse.reason, m.refuse.reason);
    wire_msg_release(&o);

    wire_msg_init(&m, WIRE_CREDIT);
    m.credit.transitions = UINT64_MAX;
    round_trip(&m, NULL, &o);
    assert_true(o.credit.transitions == UINT64_MAX);
    wire_msg_release(&o);

    wire_msg_init(&m, WIRE_HEARTBEAT);
    m.heartbeat = (wire_heartbeat){1, 2, 3, 4};
    round_trip(&m, NULL, &o);
    assert_memory_equal(&o.heartbeat, &m.heartbeat, sizeof m.heartbeat);
    wire_msg_release(&o);

    wire_msg_init(&m, WIRE_HEARTBEAT); /* all zero: an empty body */
    round_trip(&m, NULL, &o);
    assert_memory_equal(&o.heartbeat, &m.heartbeat, sizeof m.heartbeat);
    wire_msg_release(&o);

    wire_msg_init(&m, WIRE_STATUS_REQUEST);
    round_trip(&m, NULL, &o);
    wire_msg_release(&o);

    rng r;
    rng_init(&r, 2, RNG_STREAM_TEST);
    float ret[10];
    uint32_t len[10];
    fill_floats(ret, 10, &r);
    for (int i = 0; i < 10; i++)
        len[i] = (uint32_t)rng_u64(&r);
    wire_msg_init(&m, WIRE_EVAL);
    m.eval = (wire_eval){.param_version = 77,
                         .incarnation = 5,
                         .n = 10,
                         .returns = ret,
                         .lengths = len};
    round_trip(&m, NULL, &o);
    assert_int_equal(o.eval.n, 10);
    assert_true(o.eval.param_version == 77 && o.eval.incarnation == 5);
    assert_floats_equal(o.eval.returns, ret, 10);
    assert_memory_equal(o.eval.lengths, len, sizeof len);
    wire_msg_release(&o);
}

/* A snapshot of HalfCheetah-sized networks, blocks sized from hpo_nets. */
static void test_roundtrip_snapshot(void **state)
{
    hpo_config c;
    config_defaults(&c);
    hpo_nets nets;
    hpo_nets_init(&nets, 17, 6, c.pi_layers, c.pi_hidden, c.q_layers,
                  c.q_hidden, c.h_hidden, c.h_use_state);
    float *block = malloc(nets.n_params * sizeof(float));
    rng r;
    rng_init(&r, 3, RNG_STREAM_TEST);
    fill_floats(block, nets.n_params, &r);

    wire_msg m, o;
    wire_msg_init(&m, WIRE_SNAPSHOT);
    wire_snapshot *s = &m.snapshot;
    s->version = 42;
    s->obs_dim = 17;
    s->act_dim = 6;
    wire_agent_from_config(&s->agent, &c, 0.2f);
    s->env_steps = 1000000;
    s->updates = 999000;
    s->published_unix_ns = 1764081234567890123u;
    strcpy(s->run_id, "r1");
    s->n_blocks = 2;
    strcpy(s->blocks[0].name, WIRE_BLOCK_POLICY);
    s->blocks[0].data = block + nets.pol_off;
    s->blocks[0].n = nets.pol_n;
    strcpy(s->blocks[1].name, WIRE_BLOCK_CRITICS);
    s->blocks[1].data = block + nets.q_off;
    s->blocks[1].n = nets.q_n;
    wire_expect ex = {17, 6, nets.pol_n, nets.q_n};
    round_trip(&m, &ex, &o);

    const wire_snapshot *d = &o.snapshot;
    assert_true(d->version == 42 && d->env_steps == 1000000 &&
                d->updates == 999000);
    assert_true(d->published_unix_ns == 1764081234567890123u);
    assert_int_equal(d->obs_dim, 17);
    assert_int_equal(d->act_dim, 6);
    assert_memory_equal(&d->agent, &s->agent, sizeof d->agent);
    assert_string_equal(d->run_id, "r1");
    assert_int_equal(d->n_blocks, 2);
    const wire_block *p = wire_snapshot_block(d, WIRE_BLOCK_POLICY);
    const wire_block *q = wire_snapshot_block(d, WIRE_BLOCK_CRITICS);
    assert_non_null(p);
    assert_non_null(q);
    assert_null(wire_snapshot_block(d, "target"));
    assert_int_equal(p->n, nets.pol_n);
    assert_int_equal(q->n, nets.q_n);
    assert_floats_equal(p->data, block + nets.pol_off, nets.pol_n);
    assert_floats_equal(q->data, block + nets.q_off, nets.q_n);

    /* every agent setting comes back exactly, others stay as they were */
    hpo_config c2;
    config_defaults(&c2);
    config_preset(&c2, "Humanoid"); /* other K, eps, h-hidden, pi-layers */
    c2.std_tr = 0.75f;              /* not an agent setting */
    char why[256];
    assert_int_equal(wire_agent_to_config(&d->agent, &c2, why, sizeof why), 0);
    assert_int_equal(c2.pi_hidden, c.pi_hidden);
    assert_int_equal(c2.pi_layers, c.pi_layers);
    assert_int_equal(c2.K, c.K);
    assert_int_equal(c2.h_hidden, c.h_hidden);
    assert_true(c2.eps == c.eps && c2.std_exp == c.std_exp);
    assert_int_equal(c2.mode, c.mode);
    assert_true(c2.alpha == 0.2f);
    assert_true(c2.std_tr == 0.75f);
    /* the agent settings as text compare equal */
    char t1[CONFIG_AGENT_TEXT_MAX], t2[CONFIG_AGENT_TEXT_MAX];
    config_agent_text(&c, t1, sizeof t1);
    config_agent_text(&c2, t2, sizeof t2);
    assert_string_equal(t1, t2);

    /* wrong block sizes or a missing block: BAD_DIMS */
    char err[256];
    size_t n = wire_size(&m);
    uint8_t *buf = wire_encode_alloc(&m, &n);
    wire_expect bad = ex;
    bad.policy_n++;
    assert_int_equal(wire_decode(buf, n, &bad, &o, err, sizeof err),
                     WIRE_BAD_DIMS);
    bad = ex;
    bad.obs_dim = 11;
    assert_int_equal(wire_decode(buf, n, &bad, &o, err, sizeof err),
                     WIRE_BAD_DIMS);
    free(buf);
    s->n_blocks = 1;
    buf = wire_encode_alloc(&m, &n);
    assert_int_equal(wire_decode(buf, n, &ex, &o, err, sizeof err),
                     WIRE_BAD_DIMS);
    ex.critics_n = 0; /* optional */
    assert_int_equal(wire_decode(buf, n, &ex, &o, err, sizeof err), WIRE_OK);
    free(buf);
    strcpy(s->blocks[0].name, "target");
    buf = wire_encode_alloc(&m, &n);
    assert_int_equal(wire_decode(buf, n, NULL, &o, err, sizeof err),
                     WIRE_BAD_VALUE);
    free(buf);
    s->n_blocks = 2;
    strcpy(s->blocks[0].name, WIRE_BLOCK_CRITICS); /* twice */
    buf = wire_encode_alloc(&m, &n);
    assert_int_equal(wire_decode(buf, n, NULL, &o, err, sizeof err),
                     WIRE_BAD_DIMS);
    free(buf);
    block[nets.pol_off] = NAN;
    strcpy(s->blocks[0].name, WIRE_BLOCK_POLICY);
    buf = wire_encode_alloc(&m, &n);
    assert_int_equal(wire_decode(buf, n, NULL, &o, err, sizeof err),
                     WIRE_BAD_VALUE);
    free(buf);

    wire_msg_release(&o);
    free(block);
}

/* The hand writer and wire_encode agree byte for byte. */
static void test_writer_matches_encoder(void **state)
{
    craft c = craft_ok(5, OD, AD);
    pbw w = {0};
    craft_batch(&w, &c);

    float f[5 * OD];
    uint8_t flags[5];
    uint32_t len = 7;
    for (int i = 0; i < 5 * OD; i++)
        f[i] = c.fill;
    memset(flags, c.flag, sizeof flags);
    wire_msg m;
    wire_msg_init(&m, WIRE_BATCH);
    m.batch = (wire_batch){.n = 5,
                           .obs_dim = OD,
                           .act_dim = AD,
                           .obs = f,
                           .action = f,
                           .reward = f,
                           .next_obs = f,
                           .terminated = flags,
                           .truncated = flags,
                           .n_episodes = 1,
                           .ep_return = f,
                           .ep_length = &len};
    size_t n;
    uint8_t *buf = wire_encode_alloc(&m, &n);
    assert_int_equal(n, w.n);
    assert_memory_equal(buf, w.b, n);
    assert_int_equal(decode1(w.b, w.n, &ex_batch), WIRE_OK);
    free(buf);
    w_free(&w);
}

// ---- bad input ----
static void print_reasons(const char *what, const int *count)
{
    fprintf(stderr, "%s:", what);
    for (int i = 0; i < WIRE_REJECT_COUNT; i++)
        if (count[i])
            fprintf(stderr, " %s %d", wire_reject_name((wire_reject)i),
                    count[i]);
    fprintf(stderr, "\n");
}

static int n_reasons(const int *count)
{
    int k = 0;
    for (int i = 0; i < WIRE_REJECT_COUNT; i++)
        k += count[i] > 0;
    return k;
}

static void test_random_bytes(void **state)
{
    int count[WIRE_REJECT_COUNT] = {0};
    uint8_t buf[1024];
    wire_msg m;
    wire_msg_init(&m, WIRE_NONE);
    for (uint64_t seed = 0; seed < 20000; seed++) {
        rng r;
        rng_init(&r, seed, RNG_STREAM_TEST);
        size_t n = (size_t)rng_below(&r, sizeof buf + 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rng_u64(&r);
        size_t at = 0;
        if (seed % 2) { /* a valid header, then random body bytes */
            pbw w = {0};
            w_fixed(&w, 1, WIRE_MAGIC, 4);
            w_u(&w, 2, WIRE_VERSION);
            w_tag(&w, (uint32_t)(3 + seed / 2 % 9), 2);
            w_varint(&w, n > w.n + 2 ? n - w.n - 2 : 0);
            at = HPO_MIN(w.n, n);
            memcpy(buf, w.b, at);
            w_free(&w);
        }
        wire_reject rj = decode(buf, n, &ex_batch, &m);
        if (!at)
            assert_int_not_equal(rj, WIRE_OK);
        assert_true(rj < WIRE_REJECT_COUNT);
        count[rj]++;
    }
    print_reasons("random bytes", count);
    wire_msg_release(&m);
}

/* Valid messages of every type with 1-4 random bytes changed: any verdict,
 * never a crash; an accepted one re-encodes and decodes again. */
static void test_mutations(void **state)
{
    rng r;
    rng_init(&r, 4, RNG_STREAM_TEST);
    batch_data d;
    wire_msg src[4], m;
    make_batch(&src[0], &d, 6, &r);
    wire_msg_init(&src[1], WIRE_HELLO);
    strcpy(src[1].hello.env, "Pendulum");
    strcpy(src[1].hello.host, "h");
    src[1].hello.obs_dim = 3;
    wire_msg_init(&src[2], WIRE_WELCOME);
    make_agent(&src[2].welcome.agent);
    float blk[40];
    fill_floats(blk, 40, &r);
    wire_msg_init(&src[3], WIRE_SNAPSHOT);
    src[3].snapshot = (wire_snapshot){
        .version = 3, .obs_dim = OD, .act_dim = AD, .n_blocks = 2};
    make_agent(&src[3].snapshot.agent);
    strcpy(src[3].snapshot.blocks[0].name, WIRE_BLOCK_POLICY);
    src[3].snapshot.blocks[0].data = blk;
    src[3].snapshot.blocks[0].n = 30;
    strcpy(src[3].snapshot.blocks[1].name, WIRE_BLOCK_CRITICS);
    src[3].snapshot.blocks[1].data = blk + 30;
    src[3].snapshot.blocks[1].n = 10;

    wire_msg_init(&m, WIRE_NONE);
    int count[WIRE_REJECT_COUNT] = {0};
    for (int k = 0; k < 4; k++) {
        size_t n;
        uint8_t *ok = wire_encode_alloc(&src[k], &n);
        uint8_t *buf = malloc(n);
        for (int it = 0; it < 5000; it++) {
            memcpy(buf, ok, n);
            int flips = 1 + (int)rng_below(&r, 4);
            for (int f = 0; f < flips; f++)
                buf[rng_below(&r, n)] = (uint8_t)rng_u64(&r);
            wire_reject rj = decode(buf, n, &ex_batch, &m);
            count[rj]++;
            if (rj != WIRE_OK)
                continue;
            size_t n2;
            uint8_t *again = wire_encode_alloc(&m, &n2);
            wire_msg m2;
            wire_msg_init(&m2, WIRE_NONE);
            assert_int_equal(decode(again, n2, &ex_batch, &m2), WIRE_OK);
            wire_msg_release(&m2);
            free(again);
        }
        free(buf);
        free(ok);
    }
    print_reasons("mutations", count);
    assert_true(count[WIRE_OK] > 0); /* e.g. changed float bits */
    assert_true(n_reasons(count) >= 6);
    wire_msg_release(&m);
}

static void test_truncated(void **state)
{
    batch_data d;
    wire_msg m, o;
    size_t n;
    uint8_t *full = encode_batch(&m, &d, 20, 5, &n);
    wire_msg_init(&o, WIRE_NONE);
    assert_int_equal(decode(full, n, &ex_batch, &o), WIRE_OK);
    /* header: magic (5 bytes) + version (2) */
    for (size_t len = 0; len < n; len++) {
        uint8_t *p = malloc(len + 1); /* exact size: ASan sees overreads */
        memcpy(p, full, len);
        wire_reject rj = decode(p, len, &ex_batch, &o);
        if (len == 0)
            assert_int_equal(rj, WIRE_FOREIGN);
        else if (len == 5)
            assert_int_equal(rj, WIRE_BAD_VERSION); /* magic, no version */
        else if (len == 7)
            assert_int_equal(rj, WIRE_UNKNOWN_TYPE); /* header only */
        else
            assert_int_equal(rj, WIRE_MALFORMED);
        free(p);
    }
    free(full);
    wire_msg_release(&o);
}

static void test_unknown_type_and_version(void **state)
{
    pbw body = {0}, w = {0};
    w_u(&body, 1, 5);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 12, &body); /* next free type */
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_UNKNOWN_TYPE);
    w_free(&w);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 0, NULL); /* no body */
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_UNKNOWN_TYPE);
    w_free(&w);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 3, &body); /* two bodies */
    w_len(&w, 8, NULL, 0);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_MALFORMED);
    w_free(&w);

    /* another version: rejected, type and version still reported */
    wire_msg m, o;
    wire_msg_init(&m, WIRE_HELLO);
    strcpy(m.hello.env, "Pendulum");
    size_t n;
    uint8_t *buf = wire_encode_alloc(&m, &n);
    assert_int_equal(buf[5], 0x10); /* version tag, then WIRE_VERSION */
    assert_int_equal(buf[6], WIRE_VERSION);
    buf[6] = WIRE_VERSION + 1;
    wire_msg_init(&o, WIRE_NONE);
    char err[256];
    assert_int_equal(wire_decode(buf, n, NULL, &o, err, sizeof err),
                     WIRE_BAD_VERSION);
    assert_int_equal(o.type, WIRE_HELLO);
    assert_int_equal(o.version, WIRE_VERSION + 1);
    assert_non_null(strstr(err, "version 3"));
    free(buf);
    /* a version-0 (absent) envelope */
    w_envelope(&w, WIRE_MAGIC, 0, 8, &body);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_BAD_VERSION);
    w_free(&w);

    /* a Refuse is readable from any version */
    wire_msg_init(&m, WIRE_REFUSE);
    strcpy(m.refuse.reason, "protocol version 1, learner speaks 2");
    buf = wire_encode_alloc(&m, &n);
    buf[6] = 9;
    assert_int_equal(wire_decode(buf, n, NULL, &o, err, sizeof err), WIRE_OK);
    assert_int_equal(o.version, 9);
    assert_string_equal(o.refuse.reason, m.refuse.reason);
    free(buf);

    /* foreign: no magic, another magic */
    w_u(&w, 2, WIRE_VERSION);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_FOREIGN);
    w_free(&w);
    w_envelope(&w, 0x46504d5a, WIRE_VERSION, 8, &body);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_FOREIGN);
    w_free(&w);
    assert_int_equal(decode1(NULL, 0, NULL), WIRE_FOREIGN);
    assert_int_equal(decode1("GET / HTTP/1.1\r\n\r\n", 18, NULL),
                     WIRE_MALFORMED);
    w_free(&body);
    wire_msg_release(&o);
}

static void test_wrong_dims(void **state)
{
    batch_data d;
    wire_msg m, o;
    size_t n;
    uint8_t *buf = encode_batch(&m, &d, 8, 6, &n);
    wire_msg_init(&o, WIRE_NONE);
    wire_expect ex = {OD + 1, AD, 0, 0};
    assert_int_equal(decode(buf, n, &ex, &o), WIRE_BAD_DIMS);
    ex = (wire_expect){OD, AD + 3, 0, 0};
    assert_int_equal(decode(buf, n, &ex, &o), WIRE_BAD_DIMS);
    assert_int_equal(decode(buf, n, NULL, &o), WIRE_OK); /* unchecked */
    free(buf);
    /* dims out of range even unchecked */
    craft c = craft_ok(2, 0, AD);
    pbw w = {0};
    craft_batch(&w, &c);
    assert_int_equal(decode(w.b, w.n, NULL, &o), WIRE_BAD_DIMS);
    w_free(&w);
    c = craft_ok(1, WIRE_MAX_DIM + 1, AD);
    craft_batch(&w, &c);
    assert_int_equal(decode(w.b, w.n, NULL, &o), WIRE_BAD_DIMS);
    w_free(&w);
    wire_msg_release(&o);
}

/* Each array's count off by one in either direction, n = 4. */
static void test_batch_counts(void **state)
{
    size_t craft_fields[] = {
        offsetof(craft, obs),  offsetof(craft, act),  offsetof(craft, rew),
        offsetof(craft, next), offsetof(craft, term), offsetof(craft, trunc),
        offsetof(craft, len),
    };
    craft c = craft_ok(4, OD, AD);
    assert_int_equal(decode_craft(&c), WIRE_OK);
    for (size_t i = 0; i < sizeof craft_fields / sizeof *craft_fields; i++)
        for (int delta = -1; delta <= 1; delta += 2) {
            c = craft_ok(4, OD, AD);
            size_t *f = (size_t *)((char *)&c + craft_fields[i]);
            *f = (size_t)((long)*f + delta);
            assert_int_equal(decode_craft(&c), WIRE_BAD_DIMS);
        }
    /* n says 5, arrays hold 4 */
    c = craft_ok(4, OD, AD);
    c.n = 5;
    assert_int_equal(decode_craft(&c), WIRE_BAD_DIMS);
    /* more finished episodes than transitions */
    c = craft_ok(2, OD, AD);
    c.ret = c.len = 3;
    assert_int_equal(decode_craft(&c), WIRE_BAD_DIMS);
    /* an empty batch is fine */
    c = craft_ok(0, OD, AD);
    assert_int_equal(decode_craft(&c), WIRE_OK);
    /* values: flags other than 0/1, non-finite floats */
    c = craft_ok(3, OD, AD);
    c.flag = 2;
    assert_int_equal(decode_craft(&c), WIRE_BAD_VALUE);
    float bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        c = craft_ok(3, OD, AD);
        c.fill = bad[i];
        assert_int_equal(decode_craft(&c), WIRE_BAD_VALUE);
    }
}

/* Wire-format edge cases inside a batch body. */
static void test_batch_encoding(void **state)
{
    float x[3 * OD] = {0};
    uint8_t z[3] = {0};
    pbw b = {0};
    /* floats sent unpacked, one fixed32 field each: accepted (protobuf
     * parsers must), the counts are the same */
    w_u(&b, 1, 3);
    w_u(&b, 2, OD);
    w_u(&b, 3, AD);
    for (int i = 0; i < 3 * OD; i++)
        w_fixed(&b, 7, 0, 4);
    w_len(&b, 7, NULL, 0); /* an empty packed run */
    w_len(&b, 8, x, 3 * AD * sizeof(float));
    w_len(&b, 9, x, 2 * sizeof(float)); /* reward in two runs */
    w_len(&b, 9, x, 1 * sizeof(float));
    w_len(&b, 10, x, sizeof x);
    w_len(&b, 11, z, 3);
    w_len(&b, 12, z, 3);
    assert_int_equal(decode_batch_body(&b), WIRE_OK);

    /* a packed run that is not whole floats */
    pbw b2 = {0};
    w_bytes(&b2, b.b, b.n);
    w_len(&b2, 13, x, 5);
    assert_int_equal(decode_batch_body(&b2), WIRE_MALFORMED);
    w_free(&b2);
    /* a scalar sent twice */
    w_bytes(&b2, b.b, b.n);
    w_u(&b2, 1, 3);
    assert_int_equal(decode_batch_body(&b2), WIRE_MALFORMED);
    w_free(&b2);
    /* a field of the wrong wire type */
    w_bytes(&b2, b.b, b.n);
    w_u(&b2, 11, 1);
    assert_int_equal(decode_batch_body(&b2), WIRE_MALFORMED);
    w_free(&b2);
    /* n over 32 bits */
    w_u(&b2, 1, 1ull << 40);
    assert_int_equal(decode_batch_body(&b2), WIRE_BAD_VALUE);
    w_free(&b2);
    /* unknown fields: a few are tolerated, many are not */
    w_bytes(&b2, b.b, b.n);
    for (int i = 0; i < WIRE_MAX_UNKNOWN; i++)
        w_u(&b2, 100 + (uint32_t)i, 1);
    assert_int_equal(decode_batch_body(&b2), WIRE_OK);
    w_u(&b2, 999, 1);
    assert_int_equal(decode_batch_body(&b2), WIRE_MALFORMED);
    w_free(&b2);
    /* groups (wire types 3/4) and bad tags */
    w_bytes(&b2, b.b, b.n);
    w_tag(&b2, 50, 3);
    assert_int_equal(decode_batch_body(&b2), WIRE_MALFORMED);
    w_free(&b2);
    w_free(&b);
}

/* Length fields that point past the end of the message or its body. */
static void test_length_past_end(void **state)
{
    pbw w = {0}, b = {0};
    /* the body's length says 1000, 10 bytes follow */
    w_fixed(&w, 1, WIRE_MAGIC, 4);
    w_u(&w, 2, WIRE_VERSION);
    w_tag(&w, 6, 2);
    w_varint(&w, 1000);
    w_bytes(&w, "0123456789", 10);
    assert_int_equal(decode1(w.b, w.n, &ex_batch), WIRE_MALFORMED);
    w_free(&w);
    /* the body is whole, the obs run inside it claims more than the body */
    w_u(&b, 1, 1);
    w_u(&b, 2, OD);
    w_u(&b, 3, AD);
    w_tag(&b, 7, 2);
    w_varint(&b, 4 * OD + 64);
    w_bytes(&b, "\0\0\0\0\0\0\0\0\0\0\0\0", 4 * OD);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 6, &b);
    assert_int_equal(decode1(w.b, w.n, &ex_batch), WIRE_MALFORMED);
    w_free(&w);
    w_free(&b);
    /* a length varint of 10 bytes with all bits set */
    w_fixed(&w, 1, WIRE_MAGIC, 4);
    w_u(&w, 2, WIRE_VERSION);
    w_tag(&w, 6, 2);
    w_varint(&w, UINT64_MAX);
    assert_int_equal(decode1(w.b, w.n, &ex_batch), WIRE_MALFORMED);
    w_free(&w);
    /* a varint that never ends */
    w_fixed(&w, 1, WIRE_MAGIC, 4);
    w_tag(&w, 2, 0);
    w_bytes(&w, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12);
    assert_int_equal(decode1(w.b, w.n, &ex_batch), WIRE_MALFORMED);
    w_free(&w);
}

static void test_oversized(void **state)
{
    /* over WIRE_MAX_MSG: rejected before a byte is read */
    size_t big = (size_t)WIRE_MAX_MSG + 1;
    uint8_t *buf = calloc(big, 1);
    assert_int_equal(decode1(buf, big, NULL), WIRE_TOO_LARGE);
    /* a batch just over WIRE_MAX_DATA, with a valid header */
    size_t n = (size_t)WIRE_MAX_DATA + 64;
    pbw h = {0};
    w_fixed(&h, 1, WIRE_MAGIC, 4);
    w_u(&h, 2, WIRE_VERSION);
    w_tag(&h, 6, 2);
    w_varint(&h, n - h.n - 4);
    memcpy(buf, h.b, h.n);
    assert_int_equal(decode1(buf, n, NULL), WIRE_TOO_LARGE);
    w_free(&h);
    /* a heartbeat padded past WIRE_MAX_CONTROL with an unknown field */
    pbw b = {0}, w = {0};
    w_len(&b, 9, buf + 1000, WIRE_MAX_CONTROL);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 8, &b);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_TOO_LARGE);
    w_free(&w);
    w_free(&b);
    free(buf);

    /* the encoder refuses to build what the decoder would reject */
    enum { N = 2100, BIGD = 1000 };
    float *x = calloc((size_t)N * BIGD, sizeof(float));
    uint8_t *f = calloc(N, 1);
    wire_msg m;
    wire_msg_init(&m, WIRE_BATCH);
    m.batch = (wire_batch){.n = N,
                           .obs_dim = BIGD,
                           .act_dim = 1,
                           .obs = x,
                           .action = x,
                           .reward = x,
                           .next_obs = x,
                           .terminated = f,
                           .truncated = f};
    assert_true(wire_size(&m) > WIRE_MAX_DATA);
    size_t len = 0;
    assert_null(wire_encode_alloc(&m, &len));
    uint8_t one[1];
    assert_int_equal(wire_encode(&m, one, SIZE_MAX), 0);
    free(x);
    free(f);
}

static void test_strings_and_settings(void **state)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_HELLO);
    strcpy(m.hello.env, "Pendulum");
    assert_int_equal(encode_decode1(&m), WIRE_OK);
    strcpy(m.hello.host, "evil\n[learner] fake log line");
    assert_int_equal(encode_decode1(&m), WIRE_BAD_VALUE);
    /* strings are UTF-8 (a metrics label, the status reply and the log
     * carry them): a stray byte, an overlong form and a surrogate refused */
    strcpy(m.hello.host, "h\xc3\xa9te-\xe2\x82\xac"); /* "hète-€" */
    assert_int_equal(encode_decode1(&m), WIRE_OK);
    const char *bad_utf8[] = {"a\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82",
                              "\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        strcpy(m.hello.actor_id, bad_utf8[i]);
        assert_int_equal(encode_decode1(&m), WIRE_BAD_VALUE);
    }
    m.hello.actor_id[0] = '\0';
    m.hello.host[0] = '\0';
    m.hello.role = 5;
    assert_int_equal(encode_decode1(&m), WIRE_BAD_VALUE);

    /* a string longer than its field */
    pbw b = {0}, w = {0};
    char longname[WIRE_NAME_MAX];
    memset(longname, 'x', sizeof longname);
    w_len(&b, 1, longname, sizeof longname);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 3, &b);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_BAD_VALUE);
    w_free(&w);
    w_free(&b);

    /* a Welcome needs agent settings, and sane ones */
    wire_msg_init(&m, WIRE_WELCOME);
    make_agent(&m.welcome.agent);
    assert_int_equal(encode_decode1(&m), WIRE_OK);
    static const struct {
        const char *from, *to;
    } bad[] = {
        {"pi-hidden = 256", "pi-hidden = 1048576"}, /* out of range */
        {"eps = 0.200000003", "eps = nan"},         /* not finite */
        {"K = 3", "K = 0"},                         /* out of range */
        {"mode = hpo", "mode = fast"},              /* no such mode */
        {"K = 3", "std-tr = 1"},                    /* not an agent setting */
        {"K = 3", "eps = 0.1"},                     /* twice, K missing */
        {"K = 3\n", ""},                            /* K missing */
        {"K = 3", "K: 3"},                          /* not "name = value" */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_agent(&m.welcome.agent);
        char *s = m.welcome.agent.settings, *at = strstr(s, bad[i].from);
        assert_non_null(at);
        char tail[CONFIG_AGENT_TEXT_MAX];
        snprintf(tail, sizeof tail, "%s", at + strlen(bad[i].from));
        snprintf(at, sizeof m.welcome.agent.settings - (size_t)(at - s), "%s%s",
                 bad[i].to, tail);
        assert_int_equal(encode_decode1(&m), WIRE_BAD_VALUE);
    }
    make_agent(&m.welcome.agent);
    m.welcome.agent.alpha = NAN;
    assert_int_equal(encode_decode1(&m), WIRE_BAD_VALUE);
    /* a settings text longer than any agent's is refused before parsing */
    pbw ag = {0};
    char big[CONFIG_AGENT_TEXT_MAX + 8];
    memset(big, 'k', sizeof big);
    w_len(&ag, 13, big, sizeof big);
    w_len(&b, 12, ag.b, ag.n);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 4, &b);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_BAD_VALUE);
    w_free(&w);
    w_free(&b);
    w_free(&ag);
    w_u(&b, 6, 64); /* batch_max, no agent */
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 4, &b);
    assert_int_equal(decode1(w.b, w.n, NULL), WIRE_BAD_VALUE);
    w_free(&w);
    w_free(&b);
}

/* One wire_msg decodes a large, a small and a large message again. */
static void test_store_reuse(void **state)
{
    rng r;
    rng_init(&r, 7, RNG_STREAM_TEST);
    batch_data d1, d2;
    wire_msg a, b, o;
    make_batch(&a, &d1, 64, &r);
    make_batch(&b, &d2, 1, &r);
    size_t na, nb;
    uint8_t *ea = wire_encode_alloc(&a, &na), *eb = wire_encode_alloc(&b, &nb);
    wire_msg_init(&o, WIRE_NONE);
    for (int i = 0; i < 3; i++) {
        const wire_msg *src = i == 1 ? &b : &a;
        assert_int_equal(
            decode(i == 1 ? eb : ea, i == 1 ? nb : na, &ex_batch, &o), WIRE_OK);
        assert_floats_equal(o.batch.next_obs, src->batch.next_obs,
                            (size_t)src->batch.n * OD);
    }
    free(ea);
    free(eb);
    wire_msg_release(&o);
    assert_null(o.store);
}

/* protobuf-c unpacks into a per-message arena under a budget of about twice
 * the message's bytes: a message whose unpacked form would be far larger
 * than its bytes fails as malformed, naming the budget, without growing the
 * reused block past the message's size; the next message decodes as usual. */
static void test_arena_budget(void **state)
{
    wire_msg o;
    wire_msg_init(&o, WIRE_NONE);
    char err[256];
    pbw b = {0}, w = {0};

    /* a snapshot of 100,000 empty blocks: 2 bytes each on the wire, a
     * pointer and a ParamBlock each once unpacked */
    w_u(&b, 1, 1);
    w_u(&b, 2, OD);
    w_u(&b, 3, AD);
    for (int i = 0; i < 100000; i++)
        w_len(&b, 8, NULL, 0);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 9, &b);
    assert_int_equal(wire_decode(w.b, w.n, NULL, &o, err, sizeof err),
                     WIRE_MALFORMED);
    if (!strstr(err, "budget"))
        fail_msg("%s", err);
    assert_true(o.store_cap <= w.n + (32u << 10));
    w_free(&w);
    w_free(&b);

    /* a batch followed by 20,000 unknown fields */
    craft c = craft_ok(4, OD, AD);
    pbw ok = {0};
    craft_body(&b, &c);
    for (int i = 0; i < 20000; i++)
        w_u(&b, 100, 0);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 6, &b);
    assert_int_equal(wire_decode(w.b, w.n, &ex_batch, &o, err, sizeof err),
                     WIRE_MALFORMED);
    if (!strstr(err, "budget"))
        fail_msg("%s", err);
    w_free(&w);
    w_free(&b);

    /* a hundred unknown fields fit the budget and are refused by count */
    craft_body(&b, &c);
    for (int i = 0; i < 100; i++)
        w_len(&b, 100, NULL, 0);
    w_envelope(&w, WIRE_MAGIC, WIRE_VERSION, 6, &b);
    assert_int_equal(wire_decode(w.b, w.n, &ex_batch, &o, err, sizeof err),
                     WIRE_MALFORMED);
    assert_non_null(strstr(err, "unknown fields"));
    w_free(&w);
    w_free(&b);

    craft_batch(&ok, &c);

    /* the same wire_msg decodes a valid batch next, and one of about
     * WIRE_MAX_DATA bytes fits the block sized by its length */
    assert_int_equal(wire_decode(ok.b, ok.n, &ex_batch, &o, err, sizeof err),
                     WIRE_OK);
    assert_int_equal(o.batch.n, 4);
    assert_true(o.batch.obs[0] == c.fill);
    w_free(&ok);
    c = craft_ok(WIRE_MAX_DATA / (4 * (2 * OD + AD + 1) + 2) - 64, OD, AD);
    craft_batch(&ok, &c);
    assert_true(ok.n <= WIRE_MAX_DATA && ok.n > WIRE_MAX_DATA - 4096);
    assert_int_equal(wire_decode(ok.b, ok.n, &ex_batch, &o, err, sizeof err),
                     WIRE_OK);
    assert_int_equal(o.batch.n, (int)c.n);
    assert_true(o.batch.next_obs[c.n * OD - 1] == c.fill);
    assert_true(o.store_cap <= ok.n + (32u << 10));
    w_free(&ok);
    wire_msg_release(&o);
    assert_null(o.store);
}

static void test_names(void **state)
{
    for (int i = 0; i < WIRE_REJECT_COUNT; i++) {
        const char *s = wire_reject_name((wire_reject)i);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, wire_reject_name((wire_reject)j));
    }
    assert_string_equal(wire_reject_name(WIRE_BAD_DIMS), "bad_dims");
    assert_string_equal(wire_reject_name(WIRE_REJECT_COUNT), "unknown");
    for (int t = 0; t < WIRE_TYPE_COUNT; t++)
        assert_string_not_equal(wire_type_name((wire_type)t), "unknown");
    assert_string_equal(wire_type_name(WIRE_TYPE_COUNT), "unknown");
    assert_int_equal(wire_limit(WIRE_SNAPSHOT), WIRE_MAX_MSG);
    assert_int_equal(wire_limit(WIRE_BATCH), WIRE_MAX_DATA);
    assert_int_equal(wire_limit(WIRE_HEARTBEAT), WIRE_MAX_CONTROL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_batch),
        cmocka_unit_test(test_roundtrip_control),
        cmocka_unit_test(test_roundtrip_snapshot),
        cmocka_unit_test(test_writer_matches_encoder),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_unknown_type_and_version),
        cmocka_unit_test(test_wrong_dims),
        cmocka_unit_test(test_batch_counts),
        cmocka_unit_test(test_batch_encoding),
        cmocka_unit_test(test_length_past_end),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_strings_and_settings),
        cmocka_unit_test(test_store_reuse),
        cmocka_unit_test(test_arena_budget),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
