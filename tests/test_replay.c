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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_samples_only_written),
        cmocka_unit_test(test_rows_match_pushed),
        cmocka_unit_test(test_push_batch_equals_push),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
