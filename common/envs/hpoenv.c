#include "hpoenv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "rng.h"
#include "util.h"

struct hpoenv {
    env *e;
};

int hpoenv_abi_version(void)
{
    return HPOENV_ABI_VERSION;
}

/* tools/train.c's evaluate(): the EVAL stream's first draw seeds the env. */
uint64_t hpoenv_eval_seed(uint64_t run_seed)
{
    rng r;
    rng_init(&r, run_seed, RNG_STREAM_EVAL);
    return rng_u64(&r);
}

hpoenv *hpoenv_new(const char *name, uint64_t seed, char *err, size_t errlen)
{
    char sink[8];
    if (!err || errlen == 0) {
        err = sink;
        errlen = sizeof sink;
    }
    env *e = env_new(name, NULL, err, errlen);
    if (!e)
        return NULL;
    env_seed(e, seed);
    hpoenv *h = xcalloc(1, sizeof *h);
    h->e = e;
    return h;
}

void hpoenv_destroy(hpoenv **h)
{
    if (!h || !*h)
        return;
    env_destroy(&(*h)->e);
    free(*h);
    *h = NULL;
}

/* Every entry point below starts with this: a foreign caller may pass a NULL
 * handle (a closed binding, a failed hpoenv_new) and must get an error value,
 * not a crash. hpoenv_destroy NULLs the handle, so e is never NULL inside. */
static int bad(const hpoenv *h)
{
    return !h || !h->e;
}

const char *hpoenv_name(const hpoenv *h)
{
    return bad(h) ? NULL : h->e->cls->name;
}
int hpoenv_obs_dim(const hpoenv *h)
{
    return bad(h) ? -1 : h->e->cls->obs_dim;
}
int hpoenv_act_dim(const hpoenv *h)
{
    return bad(h) ? -1 : h->e->cls->act_dim;
}

int hpoenv_max_episode_steps(const hpoenv *h)
{
    return bad(h) ? -1 : h->e->cls->max_episode_steps;
}

int hpoenv_seed(hpoenv *h, uint64_t seed)
{
    if (bad(h))
        return -1;
    env_seed(h->e, seed);
    return 0;
}

int hpoenv_reset(hpoenv *h, float *obs)
{
    if (bad(h) || !obs)
        return -1;
    env_reset(h->e, obs);
    return 0;
}

float hpoenv_step(hpoenv *h, const float *action, float *obs, int *terminated,
                  int *truncated)
{
    if (bad(h) || !action || !obs || !terminated || !truncated)
        return NAN;
    env_step_result res;
    env_step(h->e, action, obs, &res);
    *terminated = res.terminated != 0;
    *truncated = res.truncated != 0;
    return res.reward;
}

int hpoenv_episode_steps(const hpoenv *h)
{
    return bad(h) ? -1 : h->e->t;
}

// ---- reset-noise stream ----

/* Layout: s[0..3] as u64, has_spare as u64, spare as IEEE double bits; all
 * little endian. */
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int hpoenv_rng_save(const hpoenv *h, void *buf, size_t len)
{
    if (bad(h) || !buf || len < HPOENV_RNG_BYTES)
        return -1;
    const rng *r = &h->e->rng;
    unsigned char *p = buf;
    uint64_t spare;
    memcpy(&spare, &r->spare, sizeof spare);
    for (int i = 0; i < 4; i++)
        put_u64(p + 8 * i, r->s[i]);
    put_u64(p + 32, (uint64_t)(r->has_spare != 0));
    put_u64(p + 40, spare);
    return HPOENV_RNG_BYTES;
}

int hpoenv_rng_load(hpoenv *h, const void *buf, size_t len)
{
    if (bad(h) || !buf || len != HPOENV_RNG_BYTES)
        return -1;
    const unsigned char *p = buf;
    rng *r = &h->e->rng;
    for (int i = 0; i < 4; i++)
        r->s[i] = get_u64(p + 8 * i);
    r->has_spare = get_u64(p + 32) != 0;
    uint64_t spare = get_u64(p + 40);
    memcpy(&r->spare, &spare, sizeof spare);
    return 0;
}
