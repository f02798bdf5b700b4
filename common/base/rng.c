#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_init(rng *st, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    splitmix64(&x);
    for (int i = 0; i < 4; i++)
        st->s[i] = splitmix64(&x);
    st->has_spare = 0;
    st->spare = 0.0;
}

uint64_t rng_u64(rng *st)
{
    uint64_t *s = st->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_below(rng *st, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_u64(st);
    while (x >= limit);
    return x % n;
}

double rng_uniform(rng *st)
{
    return (double)(rng_u64(st) >> 11) * 0x1.0p-53;
}

double rng_normal(rng *st)
{
    if (st->has_spare) {
        st->has_spare = 0;
        return st->spare;
    }
    double u1, u2;
    do
        u1 = rng_uniform(st);
    while (u1 <= 0.0);
    u2 = rng_uniform(st);
    double r = sqrt(-2.0 * log(u1));
    double th = 2.0 * M_PI * u2;
    st->spare = r * sin(th);
    st->has_spare = 1;
    return r * cos(th);
}

void rng_normal_fill(rng *st, float *out, size_t n, float std)
{
    /* Box-Muller in float, one pair per 64-bit draw: the high 32 bits make
     * u1 in (0, 1] (small u1, the tails, convert exactly: |z| reaches
     * sqrt(2 ln 2^32) = 6.66), the low 24 bits the angle. An odd n drops the
     * pair's second value; rng_normal's spare is neither used nor left. */
    for (size_t i = 0; i < n; i += 2) {
        uint64_t u = rng_u64(st);
        float u1 = (float)((u >> 32) + 1) * 0x1.0p-32f;
        float th = (float)(u & 0xffffff) * (0x1.0p-24f * 6.28318531f);
        float r = std * sqrtf(-2.0f * logf(u1));
        out[i] = r * cosf(th);
        if (i + 1 < n)
            out[i + 1] = r * sinf(th);
    }
}

void rng_uniform_fill(rng *st, float *out, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lo + (hi - lo) * (float)rng_uniform(st);
}
