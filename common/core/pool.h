/*
 * pool.h - a fixed set of worker threads that each run one function once per
 * round, for the update's lanes (sac.c).
 *
 * The update hands its threads a task every few microseconds, so a round
 * starts and ends by spinning on atomics for up to POOL_SPIN_NS before a
 * thread sleeps on a condition variable: a sleeping thread costs a futex
 * wake-up (an interrupt to another core) on each side of each task. The
 * pool knows nothing of the task: the caller writes its inputs before
 * pool_start and reads the results after pool_wait (the pool's atomics order
 * them). Workers share nothing else.
 */
#ifndef HPO_POOL_H
#define HPO_POOL_H

#define POOL_SPIN_NS 200000 /* spin this long before sleeping */

typedef struct pool pool;

/* What a worker runs each round: fn(arg, index), index in 1 .. n_workers
 * (index 0 is left to the caller's thread). */
typedef void pool_fn(void *arg, int index);

// ---- lifecycle ----
/* Start n_workers (>= 1) threads that run fn(arg, i) once per round.
 * Aborts when a thread cannot start. Caller owns the result. */
pool *pool_new(int n_workers, pool_fn *fn, void *arg);

/* Stop and join the workers (between rounds) and free *pp; NULLs it.
 * Nullable: *pp. */
void pool_destroy(pool **pp);

// ---- rounds ----
/* Start a round: every worker runs fn once. The caller may do its own share
 * (index 0) before pool_wait. One round at a time. */
void pool_start(pool *p);

/* Return when every worker has finished the round pool_start began. */
void pool_wait(pool *p);

/* Number of workers. */
int pool_workers(const pool *p);

#endif
