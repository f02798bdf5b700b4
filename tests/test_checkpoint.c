/* test_checkpoint.c - full checkpoints: a bit-exact round trip (state and
 * file bytes), truncated, bit-flipped and foreign files refused with the
 * file and the reason and the previous checkpoint used instead, mismatched
 * agents refused with the reason, rotation, the config text round trip,
 * one replay row read back in oldest-first order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "checkpoint.h"
#include "config.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "testagent.h"
#include "util.h"

#define DS 3
#define DA 1
#define CAP 64

typedef struct fixture {
    char dir[64];
    hpo_config cfg;
    sac *s;
    replay *rb;
    rng r_act, r_upd;
    ckpt_counters cnt;
} fixture;

static void small_config(hpo_config *c)
{
    config_defaults(c);
    config_preset(c, "Pendulum");
    c->pi_hidden = 16;
    c->q_hidden = 16;
    c->h_hidden = 8;
    c->batch = 8;
    c->seed = 3;
}

/* An agent after a few updates on random transitions. */
static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hpo_test_ckptXXXXXX");
    assert_non_null(mkdtemp(f->dir));
    small_config(&f->cfg);
    f->s = sac_new(&f->cfg, DS, DA, 1, 1);
    f->rb = replay_new(CAP, DS, DA);
    rng_init(&f->r_act, 3, RNG_STREAM_ACT);
    rng_init(&f->r_upd, 3, RNG_STREAM_UPDATE);
    float o[DS], a[DA], o2[DS];
    for (int i = 0; i < 100; i++) { /* wraps the ring */
        rng_uniform_fill(&f->r_act, o, DS, -1, 1);
        rng_uniform_fill(&f->r_act, a, DA, -1, 1);
        rng_uniform_fill(&f->r_act, o2, DS, -1, 1);
        replay_push(f->rb, o, a, (float)i, o2, i % 7 == 0);
    }
    (void)rng_normal(&f->r_act); /* leave a Box-Muller spare */
    replay_batch b;
    replay_batch_init(&b, f->cfg.batch, DS, DA);
    for (int i = 0; i < 3; i++) {
        replay_sample(f->rb, &f->r_upd, &b);
        sac_update(f->s, &b, &f->r_upd, NULL);
    }
    replay_batch_release(&b);
    f->cnt = (ckpt_counters){
        .env_steps = 1234, .updates = f->s->updates, .episodes = 6};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    sac_destroy(&f->s);
    replay_destroy(&f->rb);
    free(f);
    return 0;
}

static void save(fixture *f, int64_t n, char *path)
{
    char err[512];
    rng *rngs[2] = {&f->r_act, &f->r_upd};
    assert_int_equal(ckpt_path(path, f->dir, n, err, sizeof err), 0);
    f->cnt.updates = n;
    if (ckpt_save(path, f->s, &f->cnt, rngs, 2, f->rb, err, sizeof err))
        fail_msg("%s", err);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    char *b = xmalloc(*n + 1);
    assert_int_equal(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

static void spit(const char *path, const char *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

static void assert_rng_equal(const rng *a, const rng *b)
{
    assert_memory_equal(a->s, b->s, sizeof a->s);
    assert_int_equal(a->has_spare, b->has_spare);
    assert_memory_equal(&a->spare, &b->spare, sizeof a->spare);
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    char p1[CKPT_PATH_LEN], p2[CKPT_PATH_LEN], err[512];
    save(f, 3, p1);

    ckpt_info info;
    if (ckpt_open(p1, &info, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(info.n_rngs, 2);
    assert_int_equal(info.has_replay, 1);
    assert_int_equal(info.replay_n, CAP);
    assert_int_equal(info.counters.env_steps, 1234);
    assert_int_equal(info.counters.episodes, 6);
    assert_string_equal(info.cfg.env, "Pendulum");
    assert_int_equal(info.cfg.pi_hidden, 16);

    hpo_config c2 = f->cfg;
    c2.seed = 99; /* other initial weights: all must be overwritten */
    sac *b = sac_new(&c2, DS, DA, 1, 1);
    b->cfg.seed = f->cfg.seed;
    replay *rb = replay_new(CAP, DS, DA);
    rng ra, ru;
    memset(&ra, 0, sizeof ra);
    memset(&ru, 0, sizeof ru);
    rng *rngs[2] = {&ra, &ru};
    ckpt_counters cnt;
    int exact;
    if (ckpt_restore(&info, b, &cnt, rngs, 2, rb, &exact, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(exact, 1);

    size_t nb = f->s->nets.n_params * sizeof(float);
    assert_memory_equal(b->params, f->s->params, nb);
    assert_memory_equal(b->target, f->s->target, nb);
    assert_memory_equal(b->adam_m, f->s->adam_m, nb);
    assert_memory_equal(b->adam_v, f->s->adam_v, nb);
    assert_memory_equal(&b->log_alpha, &f->s->log_alpha, sizeof(float));
    assert_memory_equal(&b->la_m, &f->s->la_m, sizeof(float));
    assert_memory_equal(&b->la_v, &f->s->la_v, sizeof(float));
    assert_int_equal(b->t_q, f->s->t_q);
    assert_int_equal(b->t_pi, f->s->t_pi);
    assert_int_equal(b->t_alpha, f->s->t_alpha);
    assert_int_equal(b->updates, f->s->updates);
    assert_int_equal(cnt.env_steps, 1234);
    assert_int_equal(cnt.updates, 3);
    assert_int_equal(cnt.episodes, 6);
    assert_rng_equal(&ra, &f->r_act);
    assert_rng_equal(&ru, &f->r_upd);
    assert_int_equal(ra.has_spare, 1);
    replay_rows v1, v2;
    replay_rows_get(f->rb, &v1);
    replay_rows_get(rb, &v2);
    assert_int_equal(v2.head, v1.head);
    assert_int_equal(v2.pushed, v1.pushed);
    assert_memory_equal(v2.obs, v1.obs, CAP * DS * sizeof(float));
    assert_memory_equal(v2.next_obs, v1.next_obs, CAP * DS * sizeof(float));
    assert_memory_equal(v2.act, v1.act, CAP * DA * sizeof(float));
    assert_memory_equal(v2.reward, v1.reward, CAP * sizeof(float));
    assert_memory_equal(v2.terminated, v1.terminated, CAP);

    /* weights only, into an agent without optimizer state */
    sac *e = sac_new(&f->cfg, DS, DA, 1, 0);
    if (ckpt_restore_weights(&info, e, err, sizeof err))
        fail_msg("%s", err);
    assert_memory_equal(e->params, b->params, nb);
    assert_memory_equal(&e->log_alpha, &b->log_alpha, sizeof(float));
    sac_destroy(&e);

    /* saving the restored state gives the same bytes */
    assert_int_equal(ckpt_path(p2, f->dir, 4, err, sizeof err), 0);
    cnt.updates = 3;
    if (ckpt_save(p2, b, &cnt, rngs, 2, rb, err, sizeof err))
        fail_msg("%s", err);
    size_t n1, n2;
    char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b1);
    free(b2);

    /* and the next update is the same */
    replay_batch bt;
    replay_batch_init(&bt, f->cfg.batch, DS, DA);
    replay_sample(f->rb, &f->r_upd, &bt);
    sac_update(f->s, &bt, &f->r_upd, NULL);
    replay_sample(rb, &ru, &bt);
    sac_update(b, &bt, &ru, NULL);
    assert_memory_equal(b->params, f->s->params, nb);
    replay_batch_release(&bt);

    /* a larger ring receives the rows oldest first: not exact once wrapped */
    replay *big = replay_new(2 * CAP, DS, DA);
    if (ckpt_restore(&info, b, NULL, rngs, 2, big, &exact, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(exact, 0);
    assert_int_equal(replay_size(big), CAP);
    replay_rows_get(big, &v2);
    assert_true(v2.reward[0] == 100 - CAP && v2.reward[CAP - 1] == 99);

    replay_destroy(&big);
    replay_destroy(&rb);
    sac_destroy(&b);
}

/* ckpt_open on path must fail with the path and want in the message. */
static void expect_refused(const char *path, const char *want)
{
    ckpt_info info;
    char err[1024];
    assert_int_equal(ckpt_open(path, &info, err, sizeof err), -1);
    if (!strstr(err, path) || !strstr(err, want))
        fail_msg("message '%s' lacks '%s' or the path", err, want);
    print_message("refused: %s\n", err);
}

/* The newest valid checkpoint must be n. */
static void expect_latest(fixture *f, int64_t n)
{
    ckpt_info info;
    char err[1024], want[CKPT_PATH_LEN];
    if (ckpt_find_latest(f->dir, f->s, &info, err, sizeof err))
        fail_msg("%s", err);
    ckpt_path(want, f->dir, n, err, sizeof err);
    assert_string_equal(info.path, want);
}

static void test_damaged(void **state)
{
    fixture *f = *state;
    char p10[CKPT_PATH_LEN], p20[CKPT_PATH_LEN];
    save(f, 10, p10);
    save(f, 20, p20);
    expect_latest(f, 20);
    size_t n;
    char *good = slurp(p20, &n);

    /* truncated: at several lengths, down to inside the file header */
    size_t cuts[] = {n - 1, n - 16, n / 2, 200, 20, 10, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(p20, good, cuts[i]);
        expect_refused(p20, cuts[i] < 16 ? "too short" : "truncated");
        expect_latest(f, 10);
    }

    /* one bit flipped: in the parameters, the config text, a length, the
     * counters, the end */
    size_t at[] = {n / 2, 200, 24, n - 40, n - 8, n - 1, 3, 8};
    const char *why[] = {"checksum", "checksum", "",          "checksum",
                         "",         "",         "bad magic", "version"};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        good[at[i]] ^= 0x10;
        spit(p20, good, n);
        good[at[i]] ^= 0x10;
        expect_refused(p20, why[i]);
        expect_latest(f, 10);
    }

    /* foreign: a weights file, text, an empty file, trailing bytes */
    char err[512];
    if (ckpt_weights_save(p20, f->s, err, sizeof err))
        fail_msg("%s", err);
    expect_refused(p20, "bad magic");
    spit(p20, "hello, world\nthis is not a checkpoint\n", 38);
    expect_refused(p20, "bad magic");
    spit(p20, "", 0);
    expect_refused(p20, "too short");
    char *longer = xmalloc(n + 4);
    memcpy(longer, good, n);
    memset(longer + n, 0, 4);
    spit(p20, longer, n + 4);
    expect_refused(p20, "after the end section");
    free(longer);

    /* restored, it is used again */
    spit(p20, good, n);
    expect_latest(f, 20);
    free(good);

    /* nothing valid at all */
    unlink(p10);
    unlink(p20);
    ckpt_info info;
    assert_int_equal(ckpt_find_latest(f->dir, NULL, &info, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "no valid checkpoint"));
}

static void test_mismatch(void **state)
{
    fixture *f = *state;
    char p[CKPT_PATH_LEN], err[1024];
    save(f, 5, p);
    ckpt_info info;
    assert_int_equal(ckpt_open(p, &info, err, sizeof err), 0);

    hpo_config c = f->cfg;
    c.pi_hidden = 32;
    sac *s = sac_new(&c, DS, DA, 1, 1);
    rng r[2];
    rng *rngs[2] = {&r[0], &r[1]};
    assert_int_equal(
        ckpt_restore(&info, s, NULL, rngs, 2, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "other network sizes"));
    print_message("refused: %s\n", err);
    /* s unchanged: still its own initialization */
    sac *s2 = sac_new(&c, DS, DA, 1, 1);
    assert_memory_equal(s->params, s2->params,
                        s->nets.n_params * sizeof(float));
    sac_destroy(&s2);
    /* and find_latest against such an agent finds nothing */
    assert_int_equal(ckpt_find_latest(f->dir, s, &info, err, sizeof err), -1);
    sac_destroy(&s);

    c = f->cfg;
    config_preset(&c, "InvertedPendulum");
    c.pi_hidden = 16;
    c.q_hidden = 16;
    c.h_hidden = 8;
    s = sac_new(&c, 4, 1, 1, 1);
    assert_int_equal(ckpt_open(p, &info, err, sizeof err), 0);
    assert_int_equal(ckpt_check(&info, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "other environment"));
    print_message("refused: %s\n", err);
    sac_destroy(&s);

    c = f->cfg;
    s = sac_new(&c, DS + 1, DA, 1, 1);
    assert_int_equal(ckpt_check(&info, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "other dimensions"));
    sac_destroy(&s);

    c = f->cfg;
    c.mode = MODE_SAC;
    s = sac_new(&c, DS, DA, 1, 1);
    assert_int_equal(ckpt_check(&info, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "other mode"));
    sac_destroy(&s);

    /* the wrong number of RNG streams */
    rng *one[1] = {&r[0]};
    assert_int_equal(
        ckpt_restore(&info, f->s, NULL, one, 1, NULL, NULL, err, sizeof err),
        -1);
    assert_non_null(strstr(err, "RNG streams"));
}

static void test_prune(void **state)
{
    fixture *f = *state;
    char p[CKPT_PATH_LEN], err[512];
    int64_t ns[] = {100, 7, 2000, 30, 999};
    for (int i = 0; i < 5; i++)
        save(f, ns[i], p);
    /* names that are not checkpoints stay */
    char other[CKPT_PATH_LEN];
    snprintf(other, sizeof other, "%s/checkpoint-5.ckpt.tmp", f->dir);
    spit(other, "x", 1);
    assert_int_equal(ckpt_prune(f->dir, 2, -1, err, sizeof err), 3);
    struct stat st;
    int64_t kept[] = {2000, 999}, gone[] = {100, 7, 30};
    for (int i = 0; i < 2; i++) {
        ckpt_path(p, f->dir, kept[i], err, sizeof err);
        assert_int_equal(stat(p, &st), 0);
    }
    for (int i = 0; i < 3; i++) {
        ckpt_path(p, f->dir, gone[i], err, sizeof err);
        assert_int_equal(stat(p, &st), -1);
    }
    assert_int_equal(stat(other, &st), 0);
    expect_latest(f, 2000);
}

/* Only files that verify hold a --keep slot: a corrupt checkpoint of a
 * larger number (and one in between) stays but takes none; an old corrupt
 * one goes. The protected (last known good) one stays whatever its age. */
static void test_prune_verified(void **state)
{
    fixture *f = *state;
    char p[CKPT_PATH_LEN], err[512];
    int64_t ns[] = {10, 20, 30, 40, 50};
    for (int i = 0; i < 5; i++)
        save(f, ns[i], p);
    int64_t bad[] = {5, 45, 9000};
    for (int i = 0; i < 3; i++) {
        ckpt_path(p, f->dir, bad[i], err, sizeof err);
        spit(p, "not a checkpoint", 16);
    }
    /* keep 2 valid (50, 40) + 9000 and 45 (corrupt, newer than 40) +
     * protected 20; 30, 10 and corrupt 5 go */
    assert_int_equal(ckpt_prune(f->dir, 2, 20, err, sizeof err), 3);
    struct stat st;
    int64_t kept[] = {9000, 50, 45, 40, 20}, gone[] = {30, 10, 5};
    for (int i = 0; i < 5; i++) {
        ckpt_path(p, f->dir, kept[i], err, sizeof err);
        assert_int_equal(stat(p, &st), 0);
    }
    for (int i = 0; i < 3; i++) {
        ckpt_path(p, f->dir, gone[i], err, sizeof err);
        assert_int_equal(stat(p, &st), -1);
    }
    /* the next prune keeps the same (the protected one still stays) */
    assert_int_equal(ckpt_prune(f->dir, 2, 20, err, sizeof err), 0);
    expect_latest(f, 50);
}

/* Single-bit flips (one per byte, cycling the bit) in every header byte and
 * across the payloads, and truncations at many lengths, of a checkpoint
 * without the replay: each is refused, none crashes. */
/* The run state (wall clock, recent returns) comes back as saved; a file
 * written before it existed (CNTR of 24 bytes, rebuilt here with its CRC)
 * still loads, with wall_s NAN and no recent returns; a count of recent
 * returns beyond CKPT_RECENT is refused. */
static void test_run_state(void **state)
{
    fixture *f = *state;
    char p[CKPT_PATH_LEN], err[512];
    f->cnt.wall_s = 812.25;
    f->cnt.n_recent = 3;
    f->cnt.recent[0] = -150.5;
    f->cnt.recent[1] = -120.0;
    f->cnt.recent[2] = -98.75;
    save(f, 7, p);
    ckpt_info info;
    if (ckpt_open(p, &info, err, sizeof err))
        fail_msg("%s", err);
    assert_true(info.counters.wall_s == 812.25);
    assert_int_equal(info.counters.n_recent, 3);
    assert_true(info.counters.recent[0] == -150.5);
    assert_true(info.counters.recent[2] == -98.75);

    /* find CNTR: sections after the 16-byte file header */
    size_t n;
    char *good = slurp(p, &n);
    size_t off = 16;
    while (off + 16 <= n && memcmp(good + off, "CNTR", 4)) {
        uint64_t len;
        memcpy(&len, good + off + 8, 8);
        off += 16 + len;
    }
    assert_true(off + 16 <= n);
    uint64_t len;
    memcpy(&len, good + off + 8, 8);
    assert_int_equal(len, 24 + 16 + 8 * CKPT_RECENT);

    /* n_recent beyond CKPT_RECENT, CRC fixed: refused naming CNTR */
    char *bad = xmalloc(n);
    memcpy(bad, good, n);
    uint32_t many = CKPT_RECENT + 1, crc;
    memcpy(bad + off + 16 + 32, &many, 4);
    crc = crc32_update(0, bad + off, 4);
    crc = crc32_update(crc, bad + off + 8, 8 + len);
    memcpy(bad + off + 4, &crc, 4);
    spit(p, bad, n);
    expect_refused(p, "section CNTR");
    free(bad);

    /* the old layout: CNTR cut to its first 24 bytes */
    size_t cut = (size_t)len - 24, m = n - cut;
    char *old = xmalloc(n);
    memcpy(old, good, off + 16 + 24);
    memcpy(old + off + 16 + 24, good + off + 16 + len, n - (off + 16 + len));
    uint64_t len24 = 24;
    memcpy(old + off + 8, &len24, 8);
    crc = crc32_update(0, old + off, 4);
    crc = crc32_update(crc, old + off + 8, 8 + 24);
    memcpy(old + off + 4, &crc, 4);
    spit(p, old, m);
    if (ckpt_open(p, &info, err, sizeof err))
        fail_msg("a checkpoint with the 24-byte CNTR: %s", err);
    assert_int_equal(info.counters.env_steps, 1234);
    assert_int_equal(info.counters.episodes, 6);
    assert_true(isnan(info.counters.wall_s));
    assert_int_equal(info.counters.n_recent, 0);
    free(old);
    free(good);
}

static void test_every_byte(void **state)
{
    fixture *f = *state;
    char p[CKPT_PATH_LEN], err[1024];
    rng *rngs[2] = {&f->r_act, &f->r_upd};
    assert_int_equal(ckpt_path(p, f->dir, 1, err, sizeof err), 0);
    assert_int_equal(
        ckpt_save(p, f->s, &f->cnt, rngs, 2, NULL, err, sizeof err), 0);
    size_t n;
    char *good = slurp(p, &n);
    ckpt_info info;
    /* every byte of the file header, each section header, the first
     * 512 bytes (META, CONF) and the last 64; every 61st byte elsewhere */
    unsigned char *hot = xcalloc(n, 1);
    for (size_t off = 16; off + 16 <= n;) {
        uint64_t len;
        memcpy(&len, good + off + 8, 8);
        memset(hot + off, 1, 16);
        off += 16 + len;
    }
    for (size_t i = 0; i < n; i++) {
        if (!hot[i] && i >= 512 && i + 64 < n && i % 61)
            continue;
        good[i] ^= (char)(1 << (i % 8));
        spit(p, good, n);
        good[i] ^= (char)(1 << (i % 8));
        if (ckpt_open(p, &info, err, sizeof err) == 0)
            fail_msg("bit %zu of byte %zu flipped: accepted", i % 8, i);
    }
    for (size_t k = 0; k < n; k += 1 + k / 64) {
        spit(p, good, k);
        if (ckpt_open(p, &info, err, sizeof err) == 0)
            fail_msg("truncated to %zu of %zu bytes: accepted", k, n);
    }
    spit(p, good, n);
    assert_int_equal(ckpt_open(p, &info, err, sizeof err), 0);
    assert_int_equal(info.has_replay, 0);
    free(hot);
    free(good);
}

static void test_config_text(void **state)
{
    (void)state;
    hpo_config a, b;
    small_config(&a);
    a.mode = MODE_BASELINE2;
    a.lr = 1.234567e-4f;
    a.seed = 18446744073709551615ull;
    char *t1 = NULL, *t2 = NULL;
    size_t n1, n2;
    FILE *m = open_memstream(&t1, &n1);
    config_write(&a, m);
    fclose(m);
    char err[256];
    assert_int_equal(config_read_text(&b, t1, n1, 0, err, sizeof err), 0);
    m = open_memstream(&t2, &n2);
    config_write(&b, m);
    fclose(m);
    assert_string_equal(t1, t2);
    assert_true(b.lr == a.lr && b.seed == a.seed && b.mode == a.mode);
    assert_int_equal(
        config_read_text(&b, "bogus = 1\n", 10, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1"));
    free(t1);
    free(t2);
}

/* ckpt_read_replay_obs counts rows from the oldest held: the fixture's ring
 * has wrapped (100 pushes into 64), a fresh one of 5 rows has not; out of
 * range and no replay are refused naming the file and the valid range. */
static void test_replay_obs(void **state)
{
    fixture *f = *state;
    char p[CKPT_PATH_LEN], err[512];
    ckpt_info info;
    float o[DS];
    save(f, 3, p);
    if (ckpt_open(p, &info, err, sizeof err))
        fail_msg("%s", err);
    replay_rows v;
    replay_rows_get(f->rb, &v);
    assert_int_equal(v.n, CAP);
    assert_true(v.head != 0); /* wrapped: the oldest row is not row 0 */
    for (uint64_t r = 0; r < CAP; r++) {
        if (ckpt_read_replay_obs(&info, r, o, err, sizeof err))
            fail_msg("%s", err);
        assert_memory_equal(o, v.obs + ((v.head + r) % CAP) * DS, sizeof o);
    }
    assert_int_equal(ckpt_read_replay_obs(&info, CAP, o, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "out of range"));
    assert_non_null(strstr(err, "(0 to 63)"));

    replay *small = replay_new(CAP, DS, DA);
    float obs[5][DS], a[DA] = {0.5f};
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < DS; k++)
            obs[i][k] = (float)(10 * i + k);
        replay_push(small, obs[i], a, 0.0f, obs[i], 0);
    }
    rng *rngs[2] = {&f->r_act, &f->r_upd};
    assert_int_equal(ckpt_path(p, f->dir, 4, err, sizeof err), 0);
    if (ckpt_save(p, f->s, &f->cnt, rngs, 2, small, err, sizeof err))
        fail_msg("%s", err);
    replay_destroy(&small);
    if (ckpt_open(p, &info, err, sizeof err))
        fail_msg("%s", err);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(
            ckpt_read_replay_obs(&info, (uint64_t)i, o, err, sizeof err), 0);
        assert_memory_equal(o, obs[i], sizeof o);
    }
    assert_int_equal(ckpt_read_replay_obs(&info, 5, o, err, sizeof err), -1);
    assert_non_null(strstr(err, "(0 to 4)"));

    assert_int_equal(ckpt_path(p, f->dir, 5, err, sizeof err), 0);
    if (ckpt_save(p, f->s, &f->cnt, rngs, 2, NULL, err, sizeof err))
        fail_msg("%s", err);
    if (ckpt_open(p, &info, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(ckpt_read_replay_obs(&info, 0, o, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "no replay buffer"));
}

/* A weights file holds the checkpoint's network block byte for byte (one
 * writer): its bytes after the 72-byte header equal the NETS section's
 * payload; an agent loaded from each has the same parameters. */
static void test_weights_block(void **state)
{
    fixture *f = *state;
    char pc[CKPT_PATH_LEN], pw[CKPT_PATH_LEN], err[512];
    save(f, 7, pc);
    snprintf(pw, sizeof pw, "%s/weights.bin", f->dir);
    if (ckpt_weights_save(pw, f->s, err, sizeof err))
        fail_msg("%s", err);
    size_t nc, nw, nb = 2 * f->s->nets.n_params * sizeof(float);
    char *c = slurp(pc, &nc), *w = slurp(pw, &nw);
    assert_int_equal(nw, 144 + nb);
    assert_memory_equal(w + 16, c + 16 + 16, 112); /* META, one layout */
    /* walk the sections: tag, crc, length, payload */
    size_t at = 16;
    const char *nets = NULL;
    while (at + 16 <= nc) {
        uint64_t len;
        memcpy(&len, c + at + 8, 8);
        if (!memcmp(c + at, "NETS", 4)) {
            assert_int_equal(len, nb);
            nets = c + at + 16;
            break;
        }
        at += 16 + len;
    }
    assert_non_null(nets);
    assert_memory_equal(w + 144, nets, nb);

    sac *a = sac_new(&f->cfg, DS, DA, 1, 0);
    if (ckpt_weights_load(pw, a, err, sizeof err))
        fail_msg("%s", err);
    assert_memory_equal(a->params, f->s->params, nb / 2);
    assert_memory_equal(a->target, f->s->target, nb / 2);
    assert_true(a->log_alpha == f->s->log_alpha);
    sac_destroy(&a);
    free(c);
    free(w);
}

/* weights.bin: the acting state back in an agent without the update,
 * other shapes, a flipped bit and a truncated file refused. */
static void test_weights_file(void **state)
{
    fixture *f = *state;
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/weights.bin", f->dir);
    assert_int_equal(ckpt_weights_save(path, f->s, err, sizeof err), 0);
    hpo_config cfg = f->cfg;
    cfg.seed = 99;
    sac *b = sac_new(&cfg, DS, DA, 4, 0);
    assert_int_equal(ckpt_weights_load(path, b, err, sizeof err), 0);
    size_t nb = f->s->nets.n_params * sizeof(float);
    assert_memory_equal(f->s->params, b->params, nb);
    assert_memory_equal(f->s->target, b->target, nb);
    assert_true(f->s->log_alpha == b->log_alpha);
    /* other shapes are refused with a message naming the file */
    cfg.pi_hidden = 17;
    sac *c = sac_new(&cfg, DS, DA, 4, 0);
    assert_int_equal(ckpt_weights_load(path, c, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    /* a flipped bit is refused */
    FILE *fp = fopen(path, "r+b");
    fseek(fp, 200, SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, 200, SEEK_SET);
    fputc(ch ^ 0x10, fp);
    fclose(fp);
    assert_int_equal(ckpt_weights_load(path, b, err, sizeof err), -1);
    assert_non_null(strstr(err, "checksum"));
    /* a truncated file is refused */
    assert_int_equal(truncate(path, 300), 0);
    assert_int_equal(ckpt_weights_load(path, b, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    unlink(path);
    sac_destroy(&b);
    sac_destroy(&c);
}

/* Every part the state descriptor (sac_parts) names comes back from a
 * checkpoint, and from weights.bin exactly the acting state's parts: a new
 * part of the state cannot slip past the files. */
static void test_state_parts(void **state)
{
    fixture *f = *state;
    sac *s = f->s;
    char ck[128], wt[128], err[512];
    snprintf(ck, sizeof ck, "%s/parts.ckpt", f->dir);
    snprintf(wt, sizeof wt, "%s/parts-weights.bin", f->dir);
    rng *rngs[2] = {&f->r_act, &f->r_upd};
    assert_int_equal(ckpt_save(ck, s, &f->cnt, rngs, 2, NULL, err, sizeof err),
                     0);
    assert_int_equal(ckpt_weights_save(wt, s, err, sizeof err), 0);
    ckpt_info info;
    assert_int_equal(ckpt_open(ck, &info, err, sizeof err), 0);
    size_t nb = sac_state_bytes(s);
    unsigned char *keep = xmalloc(nb), *now = xmalloc(nb);
    sac_state_save(s, keep);
    sac_part p[SAC_PARTS_MAX];
    int n = sac_parts(s, p);
    for (int i = 0; i < n; i++) {
        test_perturb_part(&p[i]);
        assert_int_equal(
            ckpt_restore(&info, s, NULL, rngs, 2, NULL, NULL, err, sizeof err),
            0);
        sac_state_save(s, now);
        assert_memory_equal(now, keep, nb);
        test_perturb_part(&p[i]);
        assert_int_equal(ckpt_weights_load(wt, s, err, sizeof err), 0);
        sac_state_save(s, now);
        if (p[i].weights)
            assert_memory_equal(now, keep, nb);
        else
            assert_true(memcmp(now, keep, nb) != 0);
        sac_state_restore(s, keep);
    }
    unlink(ck);
    unlink(wt);
    free(keep);
    free(now);
}

/* A NaN or Inf in any f32 part of the saved state (written through the API,
 * so every checksum holds) is refused at ckpt_open with the file, section,
 * part and element, and ckpt_find_latest falls back to the previous file;
 * a weights file with one is refused by ckpt_weights_load, s unchanged. */
static void test_nonfinite(void **state)
{
    fixture *f = *state;
    static const char *secs[SAC_SEC_N] = {"NETS", "ADAM", "OPTS"};
    char p10[CKPT_PATH_LEN], p20[CKPT_PATH_LEN], wt[128], err[1024];
    snprintf(wt, sizeof wt, "%s/weights.bin", f->dir);
    save(f, 10, p10);
    size_t nb = sac_state_bytes(f->s);
    unsigned char *keep = xmalloc(nb), *now = xmalloc(nb);
    sac_state_save(f->s, keep);
    sac_part p[SAC_PARTS_MAX];
    int n = sac_parts(f->s, p), n_f32 = 0;
    for (int i = 0; i < n; i++) {
        if (p[i].kind != SAC_F32)
            continue;
        n_f32++;
        size_t at = p[i].n / 2;
        float *x = p[i].p, was = x[at];
        for (int inf = 0; inf < 2; inf++) {
            x[at] = inf ? -INFINITY : NAN;
            save(f, 20, p20);
            char want[128];
            snprintf(want, sizeof want, "section %s: %s[%zu] is not finite",
                     secs[p[i].section], p[i].name, at);
            expect_refused(p20, want);
            expect_latest(f, 10);
            /* the weights file holds the acting parts */
            assert_int_equal(ckpt_weights_save(wt, f->s, err, sizeof err), 0);
            x[at] = was;
            int rc = ckpt_weights_load(wt, f->s, err, sizeof err);
            if (p[i].weights) {
                snprintf(want, sizeof want, "%s[%zu] is not finite", p[i].name,
                         p[i].section == SAC_SEC_OPTS ? 0 : at);
                assert_int_equal(rc, -1);
                if (!strstr(err, wt) || !strstr(err, want))
                    fail_msg("message '%s' lacks '%s' or the path", err, want);
            } else {
                assert_int_equal(rc, 0);
            }
            sac_state_save(f->s, now);
            assert_memory_equal(now, keep, nb);
        }
    }
    assert_int_equal(n_f32, 7); /* params target adam_m adam_v log_alpha la_m
                                   la_v */
    /* finite again, the newest file is used */
    save(f, 20, p20);
    expect_latest(f, 20);
    free(keep);
    free(now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weights_block, setup, teardown),
        cmocka_unit_test(test_config_text),
        cmocka_unit_test_setup_teardown(test_replay_obs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weights_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonfinite, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
