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
    uint16_t *tag;       /* (capacity) each row's source, replay_set_tag */
    size_t head;         /* next row to write */
    size_t n;            /* rows held; below capacity they are [0, n) */
    uint64_t pushed;     /* transitions ever pushed */
    uint16_t cur_tag;    /* tag of the rows pushed next */
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
    rb->tag = xcalloc(capacity, sizeof *rb->tag);
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
    free(p->tag);
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
    for (size_t k = 0; k < n; k++) {
        rb->terminated[h + k] = terminated[i + k] != 0;
        rb->tag[h + k] = rb->cur_tag;
    }
    rb->head = (h + n) % rb->capacity;
    rb->n = HPO_MIN(rb->n + n, rb->capacity);
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
    return rb->n;
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
    b->tag = xcalloc((size_t)m, sizeof *b->tag);
    b->row = xcalloc((size_t)m, sizeof *b->row);
}

void replay_batch_release(replay_batch *b)
{
    free(b->obs);
    free(b->act);
    free(b->reward);
    free(b->next_obs);
    free(b->done);
    free(b->tag);
    free(b->row);
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
        out->tag[j] = rb->tag[k];
        out->row[j] = k;
    }
}

// ---- sources and removal ----

void replay_set_tag(replay *rb, uint16_t tag)
{
    rb->cur_tag = tag;
}

uint16_t replay_tag_of(const replay *rb, size_t row)
{
    HPO_ASSERT(row < rb->n);
    return rb->tag[row];
}

/* Swap rows i and j (and their drop flags); tmp holds obs_dim floats. */
static void swap_rows(replay *rb, uint8_t *drop, size_t i, size_t j, float *tmp)
{
    size_t od = (size_t)rb->obs_dim, ad = (size_t)rb->act_dim;
    float *arr[2] = {rb->obs, rb->next_obs};
    for (int k = 0; k < 2; k++) {
        memcpy(tmp, arr[k] + i * od, od * sizeof(float));
        memcpy(arr[k] + i * od, arr[k] + j * od, od * sizeof(float));
        memcpy(arr[k] + j * od, tmp, od * sizeof(float));
    }
    for (size_t k = 0; k < ad; k++) {
        float t = rb->act[i * ad + k];
        rb->act[i * ad + k] = rb->act[j * ad + k];
        rb->act[j * ad + k] = t;
    }
    float r = rb->reward[i];
    rb->reward[i] = rb->reward[j];
    rb->reward[j] = r;
    uint8_t t = rb->terminated[i], d = drop[i];
    rb->terminated[i] = rb->terminated[j];
    rb->terminated[j] = t;
    drop[i] = drop[j];
    drop[j] = d;
    uint16_t g = rb->tag[i];
    rb->tag[i] = rb->tag[j];
    rb->tag[j] = g;
}

/* Reverse rows [a, b). */
static void reverse_rows(replay *rb, uint8_t *drop, size_t a, size_t b,
                         float *tmp)
{
    while (a + 1 < b)
        swap_rows(rb, drop, a++, --b, tmp);
}

/* Keep the held rows whose drop flag (drop: capacity, over physical rows)
 * is 0, oldest first from row 0, and head after them: the layout of a ring
 * that has not wrapped. A full ring is first rotated in place (three
 * reversals) so its oldest row is row 0. Returns the rows removed. */
static size_t compact(replay *rb, uint8_t *drop)
{
    size_t od = (size_t)rb->obs_dim, ad = (size_t)rb->act_dim;
    size_t cap = rb->capacity, n = rb->n;
    size_t removed = 0;
    for (size_t i = 0; i < n; i++)
        removed += drop[i] != 0;
    if (!removed)
        return 0;
    if (n == cap && rb->head != 0) {
        float *tmp = xalloc_floats(od);
        reverse_rows(rb, drop, 0, rb->head, tmp);
        reverse_rows(rb, drop, rb->head, cap, tmp);
        reverse_rows(rb, drop, 0, cap, tmp);
        free(tmp);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (drop[i])
            continue;
        if (k != i) {
            memcpy(rb->obs + k * od, rb->obs + i * od, od * sizeof(float));
            memcpy(rb->act + k * ad, rb->act + i * ad, ad * sizeof(float));
            memcpy(rb->next_obs + k * od, rb->next_obs + i * od,
                   od * sizeof(float));
            rb->reward[k] = rb->reward[i];
            rb->terminated[k] = rb->terminated[i];
            rb->tag[k] = rb->tag[i];
        }
        k++;
    }
    rb->n = k;
    rb->head = k % cap;
    return removed;
}

size_t replay_remove_tag(replay *rb, uint16_t tag)
{
    uint8_t *drop = xcalloc(rb->capacity, 1);
    for (size_t i = 0; i < rb->n; i++)
        drop[i] = rb->tag[i] == tag;
    size_t removed = compact(rb, drop);
    free(drop);
    return removed;
}

size_t replay_remove_rows(replay *rb, const size_t *rows, size_t n)
{
    uint8_t *drop = xcalloc(rb->capacity, 1);
    for (size_t i = 0; i < n; i++)
        if (rows[i] < rb->n)
            drop[rows[i]] = 1;
    size_t removed = compact(rb, drop);
    free(drop);
    return removed;
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
    memset(rb->tag + dst, 0, n * sizeof *rb->tag); /* files hold no tags */
}

int replay_restore(replay *rb, const replay_rows *v)
{
    HPO_ASSERT(v->obs_dim == rb->obs_dim && v->act_dim == rb->act_dim);
    HPO_ASSERT(v->n <= v->capacity && (v->n == 0 || v->head < v->capacity));
    int exact = 1;
    if (v->capacity == rb->capacity) {
        copy_rows(rb, 0, v, 0, v->n);
        rb->head = v->head;
        rb->n = v->n;
        rb->pushed = v->pushed;
    } else {
        /* oldest first: from head once the ring is full, else from 0 (a
         * ring that lost rows to replay_remove_* holds them at [0, n)) */
        int wrapped = v->n == v->capacity && v->pushed > v->capacity;
        size_t k = HPO_MIN(v->n, rb->capacity);
        size_t start = wrapped ? v->head : 0; /* oldest row of v */
        size_t skip = v->n - k;               /* oldest rows dropped */
        for (size_t i = 0; i < k; i++)
            copy_rows(rb, i, v, (start + skip + i) % v->capacity, 1);
        rb->head = k % rb->capacity;
        rb->n = k;
        rb->pushed = k < rb->capacity ? (uint64_t)k : v->pushed;
        exact = !wrapped && skip == 0;
    }
    return exact;
}
