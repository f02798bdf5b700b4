/* test_pool.c - the worker pool of the update's lanes: every worker runs
 * exactly once per round with its own index, pool_wait returns only after
 * every worker finished (also when the workers slept between rounds and when
 * a worker is slow), and a pool is destroyed with its workers asleep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "pool.h"
#include "util.h"

#define MAXW 8

typedef struct job {
    atomic_long runs[MAXW + 1]; /* rounds each index ran */
    long round;                 /* written by the caller before pool_start */
    long seen[MAXW + 1];        /* round each worker read */
    int slow;             /* the worker index that sleeps first; 0: none */
    atomic_int bad_index; /* indices out of 1..MAXW seen by workers */
} job;

static void sleep_us(long us)
{
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

static void work(void *arg, int index)
{
    job *j = arg;
    /* no cmocka assert here: it would longjmp out of a worker thread and
     * crash the test instead of failing it; the caller checks the count */
    if (index < 1 || index > MAXW) {
        atomic_fetch_add(&j->bad_index, 1);
        return;
    }
    if (index == j->slow)
        sleep_us(2000);
    j->seen[index] = j->round;
    atomic_fetch_add(&j->runs[index], 1);
}

static void check_round(job *j, int n, long rounds)
{
    assert_int_equal(atomic_load(&j->bad_index), 0);
    for (int i = 1; i <= n; i++) {
        assert_int_equal(atomic_load(&j->runs[i]), rounds);
        assert_int_equal(j->seen[i], j->round);
    }
    for (int i = n + 1; i <= MAXW; i++)
        assert_int_equal(atomic_load(&j->runs[i]), 0);
}

/* Back-to-back rounds (the workers spin), 1 to 4 workers. */
static void test_rounds(void **state)
{
    for (int n = 1; n <= 4; n++) {
        job j = {0};
        pool *p = pool_new(n, work, &j);
        assert_int_equal(pool_workers(p), n);
        for (long r = 1; r <= 300; r++) {
            j.round = r;
            pool_start(p);
            pool_wait(p);
            check_round(&j, n, r);
        }
        pool_destroy(&p);
        assert_null(p);
    }
}

/* Rounds far apart (the workers sleep on the condition variable), and a
 * slow worker (the caller sleeps waiting for it). */
static void test_sleep_and_slow(void **state)
{
    job j = {0};
    pool *p = pool_new(3, work, &j);
    for (long r = 1; r <= 6; r++) {
        sleep_us(2 * POOL_SPIN_NS / 1000);
        j.round = r;
        j.slow = (int)(r % 4); /* none, then each worker in turn */
        pool_start(p);
        pool_wait(p);
        check_round(&j, 3, r);
    }
    sleep_us(2 * POOL_SPIN_NS / 1000); /* destroyed asleep */
    pool_destroy(&p);
    pool_destroy(&p); /* NULL: nothing */
}

/* Destroyed right after creation, before any round. */
static void test_destroy_idle(void **state)
{
    job j = {0};
    pool *p = pool_new(2, work, &j);
    pool_destroy(&p);
    check_round(&j, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounds),
        cmocka_unit_test(test_sleep_and_slow),
        cmocka_unit_test(test_destroy_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
