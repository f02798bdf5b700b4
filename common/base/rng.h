/*
 * rng.h - seeded, splittable random streams (xoshiro256**).
 *
 * Every consumer of randomness owns its own stream, derived from the run seed
 * and a fixed stream id (RNG_STREAM_*), so adding draws in one place never
 * shifts the numbers another place sees: the same seed gives the same run.
 */
#ifndef HPO_RNG_H
#define HPO_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
    int has_spare; /* Box-Muller keeps its second normal */
    double spare;
} rng;

/* Fixed stream ids. Append only. */
enum {
    RNG_STREAM_INIT = 1,   /* network weight initialization */
    RNG_STREAM_UPDATE = 2, /* minibatch sampling and loss noise */
    RNG_STREAM_ACT = 3,    /* acting noise */
    RNG_STREAM_ENV = 4,    /* environment resets */
    RNG_STREAM_EVAL = 5,   /* evaluation environment resets */
};

/* Seed st from (seed, stream); distinct pairs give independent streams. */
void rng_init(rng *st, uint64_t seed, uint64_t stream);

uint64_t rng_u64(rng *st);

/* Uniform in [0, n), unbiased. n > 0. */
uint64_t rng_below(rng *st, uint64_t n);

/* Uniform double in [0, 1). */
double rng_uniform(rng *st);

/* Standard normal. */
double rng_normal(rng *st);

/* out[i] = std * N(0, 1), i < n: float Box-Muller, about 9 ns a value
 * (rng_normal, in double, takes 21); |N| stays below 6.7. */
void rng_normal_fill(rng *st, float *out, size_t n, float std);

/* out[i] = U(lo, hi), i < n. */
void rng_uniform_fill(rng *st, float *out, size_t n, float lo, float hi);

#endif
