#include "replay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct replay {
    size_t capacity; /* rows */
    int obs_dim, act_dim;
    float *obs;          /* (capacity, obs_dim) */
    float *act;          /* (capacity, act_dim) */
    float *reward;       /* (capacity) */
    float *next_obs;     /* (capacity, obs_dim) */
    uint8_t *terminated; /* (capacity) */
    size_t head;         /* next row to write */
    uint64_t pushed;     /* transitions ever pushed */
};

/* capacity * dim floats, aborting with the sizes on overflow. */
static float *alloc_rows(size_t capacity, int dim)
{
    if (capacity > SIZE_MAX / sizeof(float) / (size_t)dim)
        hpo_panic(__FILE__, __LINE__,
                  "replay: capacity %zu x dim %d floats overflows size_t",
                  capacity, dim);
    return xalloc_floats(capacity * (size_t)dim);
}

replay *replay_new(size_t capacity, int obs_dim, int act_dim)
{
    HPO_ASSERT(capacity > 0);
    HPO_ASSERT(obs_dim > 0 && act_dim > 0);
    replay *rb = xcalloc(1, sizeof *rb);
    rb->capacity = capacity;
    rb->obs_dim = obs_dim;
    rb->act_dim = act_dim;
    rb->obs = alloc_rows(capacity, obs_dim);
    rb->act = alloc_rows(capacity, act_dim);
    rb->reward = alloc_rows(capacity, 1);
    rb->next_obs = alloc_rows(capacity, obs_dim);
    rb->terminated = xcalloc(capacity, 1);
    return rb;
}

void replay_destroy(replay **rb)
{
    if (!rb || !*rb)
        return;
    replay *p = *rb;
    free(p->obs);
    free(p->act);
    free(p->reward);
    free(p->next_obs);
    free(p->terminated);
    free(p);
    *rb = NULL;
}

/* Copy rows [i, i + n) of the inputs into ring rows [head, head + n);
 * the caller keeps head + n <= capacity. */
static void put_rows(replay *rb, size_t n, size_t i, const float *obs,
                     const float *act, const float *reward,
                     const float *next_obs, const uint8_t *terminated)
{
    size_t od = (size_t)rb->obs_dim, ad = (size_t)rb->act_dim, h = rb->head;
    memcpy(rb->obs + h * od, obs + i * od, n * od * sizeof(float));
    memcpy(rb->act + h * ad, act + i * ad, n * ad * sizeof(float));
    memcpy(rb->reward + h, reward + i, n * sizeof(float));
    memcpy(rb->next_obs + h * od, next_obs + i * od, n * od * sizeof(float));
    for (size_t k = 0; k < n; k++)
        rb->terminated[h + k] = terminated[i + k] != 0;
    rb->head = (h + n) % rb->capacity;
}

void replay_push(replay *rb, const float *obs, const float *act, float reward,
                 const float *next_obs, int terminated)
{
    uint8_t term = terminated != 0;
    put_rows(rb, 1, 0, obs, act, &reward, next_obs, &term);
    rb->pushed++;
}

void replay_push_batch(replay *rb, size_t n, const float *obs, const float *act,
                       const float *reward, const float *next_obs,
                       const uint8_t *terminated)
{
    /* Rows older than the last `capacity` would be overwritten within this
     * call: skip them, but advance head as if they had been written. */
    size_t i = 0;
    if (n > rb->capacity) {
        i = n - rb->capacity;
        rb->head = (rb->head + i) % rb->capacity;
    }
    while (i < n) {
        size_t chunk = HPO_MIN(n - i, rb->capacity - rb->head);
        put_rows(rb, chunk, i, obs, act, reward, next_obs, terminated);
        i += chunk;
    }
    rb->pushed += (uint64_t)n;
}

size_t replay_size(const replay *rb)
{
    return rb->pushed < rb->capacity ? (size_t)rb->pushed : rb->capacity;
}

uint64_t replay_pushed(const replay *rb)
{
    return rb->pushed;
}

void replay_batch_init(replay_batch *b, int m, int obs_dim, int act_dim)
{
    HPO_ASSERT(m > 0 && obs_dim > 0 && act_dim > 0);
    b->m = m;
    b->obs_dim = obs_dim;
    b->act_dim = act_dim;
    b->obs = alloc_rows((size_t)m, obs_dim);
    b->act = alloc_rows((size_t)m, act_dim);
    b->reward = alloc_rows((size_t)m, 1);
    b->next_obs = alloc_rows((size_t)m, obs_dim);
    b->done = alloc_rows((size_t)m, 1);
}

void replay_batch_release(replay_batch *b)
{
    free(b->obs);
    free(b->act);
    free(b->reward);
    free(b->next_obs);
    free(b->done);
    memset(b, 0, sizeof *b);
}

void replay_sample(replay *rb, rng *r, replay_batch *out)
{
    HPO_ASSERT(out->obs_dim == rb->obs_dim && out->act_dim == rb->act_dim);
    size_t od = (size_t)rb->obs_dim, ad = (size_t)rb->act_dim;
    size_t size = replay_size(rb);
    HPO_ASSERT(size > 0);
    for (size_t j = 0; j < (size_t)out->m; j++) {
        size_t k = (size_t)rng_below(r, size);
        memcpy(out->obs + j * od, rb->obs + k * od, od * sizeof(float));
        memcpy(out->act + j * ad, rb->act + k * ad, ad * sizeof(float));
        out->reward[j] = rb->reward[k];
        memcpy(out->next_obs + j * od, rb->next_obs + k * od,
               od * sizeof(float));
        out->done[j] = rb->terminated[k] ? 1.0f : 0.0f;
    }
}

// ---- checkpoint access ----

void replay_rows_get(replay *rb, replay_rows *v)
{
    v->capacity = rb->capacity;
    v->n = replay_size(rb);
    v->head = rb->head;
    v->pushed = rb->pushed;
    v->obs_dim = rb->obs_dim;
    v->act_dim = rb->act_dim;
    v->obs = rb->obs;
    v->act = rb->act;
    v->reward = rb->reward;
    v->next_obs = rb->next_obs;
    v->terminated = rb->terminated;
}

/* Copy rows [src, src + n) of v into rows [dst, dst + n) of rb. */
static void copy_rows(replay *rb, size_t dst, const replay_rows *v, size_t src,
                      size_t n)
{
    size_t od = (size_t)rb->obs_dim, ad = (size_t)rb->act_dim;
    memcpy(rb->obs + dst * od, v->obs + src * od, n * od * sizeof(float));
    memcpy(rb->act + dst * ad, v->act + src * ad, n * ad * sizeof(float));
    memcpy(rb->reward + dst, v->reward + src, n * sizeof(float));
    memcpy(rb->next_obs + dst * od, v->next_obs + src * od,
           n * od * sizeof(float));
    memcpy(rb->terminated + dst, v->terminated + src, n);
}

int replay_restore(replay *rb, const replay_rows *v)
{
    HPO_ASSERT(v->obs_dim == rb->obs_dim && v->act_dim == rb->act_dim);
    HPO_ASSERT(v->n <= v->capacity && (v->n == 0 || v->head < v->capacity));
    int exact = 1;
    if (v->capacity == rb->capacity) {
        copy_rows(rb, 0, v, 0, v->n);
        rb->head = v->head;
        rb->pushed = v->pushed;
    } else {
        /* oldest first: from head once the ring has wrapped, else from 0 */
        int wrapped = v->pushed > v->capacity;
        size_t k = HPO_MIN(v->n, rb->capacity);
        size_t start = wrapped ? v->head : 0; /* oldest row of v */
        size_t skip = v->n - k;               /* oldest rows dropped */
        for (size_t i = 0; i < k; i++)
            copy_rows(rb, i, v, (start + skip + i) % v->capacity, 1);
        rb->head = k % rb->capacity;
        rb->pushed = k < rb->capacity ? (uint64_t)k : v->pushed;
        exact = !wrapped && skip == 0;
    }
    return exact;
}
