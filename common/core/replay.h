/*
 * replay.h - fixed-capacity replay buffer of transitions.
 *
 * A ring over contiguous arrays: obs (capacity, obs_dim), act (capacity,
 * act_dim), reward (capacity), next_obs (capacity, obs_dim), terminated
 * (capacity), tag (capacity). Once full, each push overwrites the oldest
 * row. Storage is allocated once in replay_new; push and sample allocate
 * nothing.
 *
 * Each row carries a tag, its source (the learner: the actor that sent it;
 * 0: none), so the rows of one source, or rows that broke an update, can be
 * removed (replay_remove_tag, replay_remove_rows). Removal keeps the held
 * rows in order and packs them from row 0, the layout of a ring that has
 * not wrapped: below capacity, the rows held are always [0, size).
 *
 * Threads: none of its own and no lock. The learner and the trainer push
 * and sample from their one loop thread (the update's worker lanes only read
 * the sampled batch), so a buffer is used by one thread at a time; a program
 * that pushes from one thread and samples from another must add the lock.
 */
#ifndef HPO_REPLAY_H
#define HPO_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef struct replay replay;

// ---- buffer ----

/*
 * Create an empty buffer. capacity > 0, obs_dim > 0, act_dim > 0 (asserted).
 * Aborts with the sizes when capacity * dim overflows or memory runs out.
 * Caller owns the result; free with replay_destroy.
 */
replay *replay_new(size_t capacity, int obs_dim, int act_dim);

/* Free *rb and set it to NULL. Accepts NULL and *rb == NULL. */
void replay_destroy(replay **rb);

/* Append one transition: obs (obs_dim), act (act_dim), next_obs (obs_dim);
 * terminated is nonzero for a true terminal state (not a time limit). */
void replay_push(replay *rb, const float *obs, const float *act, float reward,
                 const float *next_obs, int terminated);

/*
 * Append n transitions in order; the same contents as n calls
 * of replay_push. obs (n, obs_dim)  act (n, act_dim)  reward (n)
 * next_obs (n, obs_dim)  terminated (n).
 */
void replay_push_batch(replay *rb, size_t n, const float *obs, const float *act,
                       const float *reward, const float *next_obs,
                       const uint8_t *terminated);

/* Rows held: min(pushed, capacity) less the rows removed. */
size_t replay_size(const replay *rb);

/* Transitions ever pushed. */
uint64_t replay_pushed(const replay *rb);

// ---- sampling ----

/* A minibatch, caller-owned storage sized once (replay_batch_init). */
typedef struct replay_batch {
    int m; /* rows */
    int obs_dim, act_dim;
    float *obs;      /* (m, obs_dim) */
    float *act;      /* (m, act_dim) */
    float *reward;   /* (m) */
    float *next_obs; /* (m, obs_dim) */
    float *done;     /* (m) 1.0 if terminated, else 0.0 */
    uint16_t *tag;   /* (m) each row's tag */
    size_t *row;     /* (m) each row's index in the buffer (replay_remove_rows)
                      */
} replay_batch;

/* Allocate b's arrays for m rows (m > 0). Release with replay_batch_release. */
void replay_batch_init(replay_batch *b, int m, int obs_dim, int act_dim);

/* Free b's arrays and zero b. Accepts a zeroed b. */
void replay_batch_release(replay_batch *b);

/*
 * Fill out with out->m rows drawn uniformly with replacement from the written
 * rows (rng_below on r). Asserts replay_size(rb) > 0 and that out's dims
 * match rb's. r belongs to the calling thread.
 */
void replay_sample(replay *rb, rng *r, replay_batch *out);

// ---- sources and removal ----

/* Tag the rows pushed from now on with tag (0 until called). */
void replay_set_tag(replay *rb, uint16_t tag);

/* The tag of held row `row` (< replay_size, asserted). */
uint16_t replay_tag_of(const replay *rb, size_t row);

/* Remove every held row tagged tag. Returns the rows removed. Allocates a
 * flag per row of capacity for the call; not for a hot path. */
size_t replay_remove_tag(replay *rb, uint16_t tag);

/* Remove the held rows at the n indices rows[] (as replay_batch.row gives
 * them, valid until the next push or removal; out of range ones ignored,
 * repeats once). Returns the rows removed. */
size_t replay_remove_rows(replay *rb, const size_t *rows, size_t n);

// ---- checkpoint access (common/run/checkpoint.c) ----

/* The ring's storage as it is: rows [0, n) of each array, head and pushed
 * (tags are not part of it: a restored buffer's rows have tag 0). The
 * pointers alias the buffer; valid while no one pushes. */
typedef struct replay_rows {
    size_t capacity; /* rows the ring holds when full */
    size_t n;        /* rows written: min(pushed, capacity) */
    size_t head;     /* next row to write */
    uint64_t pushed; /* transitions ever pushed */
    int obs_dim, act_dim;
    const float *obs;          /* (n, obs_dim) */
    const float *act;          /* (n, act_dim) */
    const float *reward;       /* (n) */
    const float *next_obs;     /* (n, obs_dim) */
    const uint8_t *terminated; /* (n) 0 or 1 */
} replay_rows;

/* Point v at rb's storage. The caller keeps writers away while it reads. */
void replay_rows_get(replay *rb, replay_rows *v);

/*
 * Replace rb's contents with v's (dims must match: asserted). With the same
 * capacity the ring is copied as it is (head and pushed too), so sampling
 * continues exactly; otherwise the newest min(v->n, capacity) rows are
 * written oldest first from row 0, which is exact when v's ring had not
 * wrapped and fits. Returns 1 when exact, 0 when rows were reordered or
 * dropped.
 */
int replay_restore(replay *rb, const replay_rows *v);

#endif
