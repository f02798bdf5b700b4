/*
 * pool.c - worker threads run one function per round (contract in pool.h).
 *
 * A round is a generation number: pool_start sets pending to the number of
 * workers and bumps gen; a worker that sees a new gen runs fn and decrements
 * pending; pool_wait returns when pending reaches 0. Each side spins for up
 * to POOL_SPIN_NS and then sleeps under the mutex, announcing itself in
 * sleepers / waiting so the other side knows to signal. The atomics are
 * seq_cst, so a sleeper is either seen and woken under the mutex or sees the
 * new value before it sleeps.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util.h"

typedef struct worker {
    pool *p;
    int index;
    pthread_t tid;
} worker;

struct pool {
    pool_fn *fn;
    void *arg;
    int n;
    worker *w; /* (n) */
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    atomic_long gen;     /* round number: bumped for each round */
    atomic_long pending; /* workers still running the current round */
    atomic_int sleepers; /* workers asleep on start */
    atomic_int waiting;  /* the caller asleep on done */
    atomic_int quit;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin until *v != val (want_ne) or *v == val (!want_ne), for at most
 * POOL_SPIN_NS; 1 when it came. */
static int spin_until(atomic_long *v, long val, int want_ne)
{
    double t0 = 0.0; /* read the clock only once the wait is not short */
    for (unsigned i = 1;; i++) {
        long x = atomic_load_explicit(v, memory_order_acquire);
        if (want_ne ? x != val : x == val)
            return 1;
        cpu_relax();
        if (!(i & 255)) {
            double t = now_s();
            if (t0 == 0.0)
                t0 = t;
            else if ((t - t0) * 1e9 > POOL_SPIN_NS)
                return 0;
        }
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    long seen = 0;
    for (;;) {
        if (!spin_until(&p->gen, seen, 1)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->start, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            break;
        seen = atomic_load(&p->gen);
        p->fn(p->arg, w->index);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

pool *pool_new(int n_workers, pool_fn *fn, void *arg)
{
    HPO_ASSERT(n_workers >= 1 && fn);
    pool *p = xcalloc(1, sizeof *p);
    p->fn = fn;
    p->arg = arg;
    p->n = n_workers;
    p->w = xcalloc((size_t)n_workers, sizeof *p->w);
    HPO_ASSERT(pthread_mutex_init(&p->mu, NULL) == 0);
    HPO_ASSERT(pthread_cond_init(&p->start, NULL) == 0);
    HPO_ASSERT(pthread_cond_init(&p->done, NULL) == 0);
    for (int i = 0; i < n_workers; i++) {
        p->w[i] = (worker){.p = p, .index = i + 1};
        int e = pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]);
        if (e)
            hpo_panic(__FILE__, __LINE__,
                      "cannot start worker thread %d of %d (error %d)", i + 1,
                      n_workers, e);
    }
    return p;
}

void pool_destroy(pool **pp)
{
    pool *p = *pp;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->w[i].tid, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->w);
    free(p);
    *pp = NULL;
}

void pool_start(pool *p)
{
    HPO_ASSERT(atomic_load(&p->pending) == 0);
    atomic_store(&p->pending, p->n);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->mu);
    }
}

void pool_wait(pool *p)
{
    if (spin_until(&p->pending, 0, 0))
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->waiting, 1);
    while (atomic_load(&p->pending))
        pthread_cond_wait(&p->done, &p->mu);
    atomic_store(&p->waiting, 0);
    pthread_mutex_unlock(&p->mu);
}

int pool_workers(const pool *p)
{
    return p->n;
}
