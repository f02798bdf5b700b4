/* test_replay.c - ring contents, sampling range, batch push. Every field of
 * row i encodes i, so a sampled row decodes back to its index and a row
 * mixed from two transitions is detectable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "replay.h"
#include "rng.h"

#define OD 3
#define AD 2

/* Row i: obs[k] = 8i + k, act[k] = -(8i + k), reward = i,
 * next_obs[k] = 8i + k + 0.5, terminated = (i % 3 == 0). Exact in float for
 * i < 2^20. */
static void make_row(long i, float *obs, float *act, float *reward,
                     float *next_obs, uint8_t *term)
{
    for (int k = 0; k < OD; k++) {
        obs[k] = (float)(8 * i + k);
        next_obs[k] = (float)(8 * i + k) + 0.5f;
    }
    for (int k = 0; k < AD; k++)
        act[k] = -(float)(8 * i + k);
    *reward = (float)i;
    *term = i % 3 == 0;
}

static void push_row(replay *rb, long i)
{
    float obs[OD], act[AD], next_obs[OD], reward;
    uint8_t term;
    make_row(i, obs, act, &reward, next_obs, &term);
    replay_push(rb, obs, act, reward, next_obs, term);
}

/* Index encoded in row j of b, or -1 when any field disagrees. */
static long decode_row(const replay_batch *b, int j)
{
    long i = (long)b->reward[j];
    if ((float)i != b->reward[j] || i < 0)
        return -1;
    float obs[OD], act[AD], next_obs[OD], reward;
    uint8_t term;
    make_row(i, obs, act, &reward, next_obs, &term);
    if (memcmp(obs, b->obs + j * OD, sizeof obs) ||
        memcmp(act, b->act + j * AD, sizeof act) ||
        memcmp(next_obs, b->next_obs + j * OD, sizeof next_obs) ||
        b->done[j] != (term ? 1.0f : 0.0f))
        return -1;
    return i;
}

/* Samples m rows with seed: every one is an intact row lo..hi, and every row
 * lo..hi (hi - lo < 16) is drawn at least once. */
static void assert_samples_cover(replay *rb, int m, uint64_t seed, long lo,
                                 long hi)
{
    assert_true(lo >= 0 && hi - lo < 16);
    replay_batch b;
    replay_batch_init(&b, m, OD, AD);
    rng r;
    rng_init(&r, seed, RNG_STREAM_UPDATE);
    replay_sample(rb, &r, &b);
    int seen[16] = {0};
    for (int j = 0; j < b.m; j++) {
        long i = decode_row(&b, j);
        assert_in_range(i, lo, hi);
        seen[i - lo]++;
    }
    for (long i = lo; i <= hi; i++)
        assert_true(seen[i - lo] > 0);
    replay_batch_release(&b);
}

static void test_wraparound(void **state)
{
    replay *rb = replay_new(5, OD, AD);
    for (long i = 0; i < 12; i++)
        push_row(rb, i);
    assert_int_equal(replay_size(rb), 5);
    assert_int_equal(replay_pushed(rb), 12);
    assert_samples_cover(rb, 1000, 1, 7, 11);
    replay_destroy(&rb);
    assert_null(rb);
}

static void test_samples_only_written(void **state)
{
    replay *rb = replay_new(100, OD, AD);
    for (long i = 0; i < 3; i++)
        push_row(rb, i);
    assert_int_equal(replay_size(rb), 3);
    assert_samples_cover(rb, 10000, 2, 0, 2);
    replay_destroy(&rb);
}

static void test_rows_match_pushed(void **state)
{
    replay *rb = replay_new(64, OD, AD);
    for (long i = 0; i < 10; i++)
        push_row(rb, i);
    replay_batch b;
    replay_batch_init(&b, 500, OD, AD);
    rng r;
    rng_init(&r, 3, RNG_STREAM_UPDATE);
    replay_sample(rb, &r, &b);
    for (int j = 0; j < b.m; j++)
        assert_in_range(decode_row(&b, j), 0, 9);
    replay_batch_release(&b);
    replay_destroy(&rb);
}

/* Chunks of 3, 9 (more than the capacity) and 8 into capacity 7, against
 * 20 single pushes: same counters and, sampled with equal seeds, same rows. */
static void test_push_batch_equals_push(void **state)
{
    enum { N = 20, CAP = 7 };
    float obs[N * OD], act[N * AD], reward[N], next_obs[N * OD];
    uint8_t term[N];
    for (long i = 0; i < N; i++)
        make_row(i, obs + i * OD, act + i * AD, reward + i, next_obs + i * OD,
                 term + i);

    replay *one = replay_new(CAP, OD, AD), *bat = replay_new(CAP, OD, AD);
    for (long i = 0; i < N; i++)
        push_row(one, i);
    const size_t chunks[] = {3, 9, 8};
    size_t at = 0;
    for (size_t c = 0; c < 3; c++) {
        replay_push_batch(bat, chunks[c], obs + at * OD, act + at * AD,
                          reward + at, next_obs + at * OD, term + at);
        at += chunks[c];
    }
    assert_int_equal(at, N);
    assert_int_equal(replay_pushed(bat), replay_pushed(one));
    assert_int_equal(replay_size(bat), replay_size(one));

    replay_batch b1, b2;
    replay_batch_init(&b1, 700, OD, AD);
    replay_batch_init(&b2, 700, OD, AD);
    rng r1, r2;
    rng_init(&r1, 4, RNG_STREAM_UPDATE);
    rng_init(&r2, 4, RNG_STREAM_UPDATE);
    replay_sample(one, &r1, &b1);
    replay_sample(bat, &r2, &b2);
    int seen[N] = {0};
    for (int j = 0; j < b1.m; j++) {
        long i1 = decode_row(&b1, j), i2 = decode_row(&b2, j);
        assert_int_equal(i1, i2);
        assert_in_range(i1, N - CAP, N - 1);
        seen[i1]++;
    }
    for (int i = N - CAP; i < N; i++)
        assert_true(seen[i] > 0);
    replay_batch_release(&b1);
    replay_batch_release(&b2);
    replay_destroy(&one);
    replay_destroy(&bat);
}

/* The rows held, oldest first, as their encoded indices (sampling by index
 * through replay_remove_rows's view: a batch of every row). */
static int held(replay *rb, long *out, int cap)
{
    int n = (int)replay_size(rb);
    assert_true(n <= cap);
    replay_rows v;
    replay_rows_get(rb, &v);
    size_t start = v.n == v.capacity ? v.head : 0;
    for (int i = 0; i < n; i++)
        out[i] = (long)v.reward[(start + (size_t)i) % v.capacity];
    return n;
}

/* Rows tagged by source; removing one source keeps the others' rows in
 * order, packed from row 0, and new pushes go after them; a full, wrapped
 * ring is removed from the same way. */
static void test_remove_tag(void **state)
{
    (void)state;
    replay *rb = replay_new(10, OD, AD);
    for (long i = 0; i < 14; i++) { /* wraps: rows 4..13 held */
        replay_set_tag(rb, (uint16_t)(i % 3 == 1 ? 7 : 2));
        push_row(rb, i);
    }
    assert_int_equal(replay_size(rb), 10);
    long got[16];
    /* held 4..13; tag 7 on 4, 7, 10, 13 */
    assert_int_equal(replay_remove_tag(rb, 7), 4);
    assert_int_equal(replay_size(rb), 6);
    assert_int_equal(replay_pushed(rb), 14);
    long want[] = {5, 6, 8, 9, 11, 12};
    assert_int_equal(held(rb, got, 16), 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(got[i], want[i]);
        assert_int_equal(replay_tag_of(rb, (size_t)i), 2);
    }
    replay_batch b;
    replay_batch_init(&b, 200, OD, AD);
    rng r;
    rng_init(&r, 9, RNG_STREAM_UPDATE);
    replay_sample(rb, &r, &b);
    for (int j = 0; j < b.m; j++) {
        long i = decode_row(&b, j);
        assert_true(i >= 5 && i <= 12 && i % 3 != 1); /* never tag 7 */
        assert_int_equal(b.tag[j], 2);
        assert_true(b.row[j] < 6);
    }
    replay_batch_release(&b);
    /* pushes continue after the kept rows, then wrap over the oldest */
    replay_set_tag(rb, 3);
    for (long i = 14; i < 21; i++) /* 14..17 fill, 18..20 overwrite 5, 6, 8 */
        push_row(rb, i);
    long want2[] = {9, 11, 12, 14, 15, 16, 17, 18, 19, 20};
    assert_int_equal(held(rb, got, 16), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(got[i], want2[i]);
    assert_int_equal(replay_remove_tag(rb, 99), 0);
    assert_int_equal(replay_remove_tag(rb, 2), 3); /* wrapped ring */
    assert_int_equal(held(rb, got, 16), 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(got[i], 14 + i);
    assert_samples_cover(rb, 400, 6, 14, 20);
    replay_destroy(&rb);
}

/* The rows of a sampled batch are removed by their index, repeats once;
 * the rest stay, in order. */
static void test_remove_rows(void **state)
{
    (void)state;
    replay *rb = replay_new(8, OD, AD);
    for (long i = 0; i < 11; i++) /* held 3..10, head 3 */
        push_row(rb, i);
    replay_batch b;
    replay_batch_init(&b, 3, OD, AD);
    rng r;
    rng_init(&r, 1, RNG_STREAM_UPDATE);
    replay_sample(rb, &r, &b);
    long gone[3];
    int n_gone = 0;
    for (int j = 0; j < 3; j++) {
        long i = decode_row(&b, j);
        int dup = 0;
        for (int k = 0; k < n_gone; k++)
            dup |= gone[k] == i;
        if (!dup)
            gone[n_gone++] = i;
    }
    size_t rows[4] = {b.row[0], b.row[1], b.row[2], 1000};
    assert_int_equal(replay_remove_rows(rb, rows, 4), (size_t)n_gone);
    long got[16];
    int n = held(rb, got, 16);
    assert_int_equal(n, 8 - n_gone);
    long prev = -1;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n_gone; k++)
            assert_true(got[i] != gone[k]);
        assert_true(got[i] > prev && got[i] >= 3 && got[i] <= 10);
        prev = got[i];
    }
    replay_batch_release(&b);
    replay_destroy(&rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_samples_only_written),
        cmocka_unit_test(test_rows_match_pushed),
        cmocka_unit_test(test_push_batch_equals_push),
        cmocka_unit_test(test_remove_tag),
        cmocka_unit_test(test_remove_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
