/*
 * hpoenv_trace.c - steps one environment through env.h directly (not through
 * libhpoenv.so) and writes everything it returns, for tests/test_hpoenv.py
 * to compare byte for byte with the same run stepped from Python.
 *
 * usage: hpoenv_trace ENV SEED ACTIONS_FILE OUT_FILE
 *        hpoenv_trace --eval-seed SEED   (prints the evaluation env's seed,
 *                                         drawn as tools/train.c draws it)
 * ACTIONS_FILE holds n * act_dim float32 actions. OUT_FILE receives the
 * first observation, then per step the next observation (obs_dim float32),
 * the reward (float32), terminated and truncated (int32 each), and after an
 * episode end the observation of the reset that follows.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "rng.h"
#include "util.h"

static int put(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--eval-seed")) {
        rng r;
        rng_init(&r, strtoull(argv[2], NULL, 10), RNG_STREAM_EVAL);
        printf("%llu\n", (unsigned long long)rng_u64(&r));
        return 0;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: hpoenv_trace ENV SEED ACTIONS_FILE OUT\n");
        return 2;
    }
    char err[1024];
    env *e = env_new(argv[1], NULL, err, sizeof err);
    if (!e) {
        fprintf(stderr, "hpoenv_trace: %s\n", err);
        return 1;
    }
    env_seed(e, strtoull(argv[2], NULL, 10));
    FILE *in = fopen(argv[3], "rb"), *out = fopen(argv[4], "wb");
    if (!in || !out) {
        fprintf(stderr, "hpoenv_trace: cannot open %s or %s: %s\n", argv[3],
                argv[4], strerror(errno));
        return 1;
    }
    size_t od = (size_t)e->cls->obs_dim, ad = (size_t)e->cls->act_dim;
    float *obs = xalloc_floats(od), *act = xalloc_floats(ad);
    env_step_result res;
    int bad = 0;
    env_reset(e, obs);
    bad |= put(out, obs, od * sizeof(float));
    while (fread(act, sizeof(float), ad, in) == ad) {
        env_step(e, act, obs, &res);
        int32_t flags[2] = {res.terminated != 0, res.truncated != 0};
        bad |= put(out, obs, od * sizeof(float));
        bad |= put(out, &res.reward, sizeof res.reward);
        bad |= put(out, flags, sizeof flags);
        if (flags[0] || flags[1]) {
            env_reset(e, obs);
            bad |= put(out, obs, od * sizeof(float));
        }
    }
    if (ferror(in) || bad || fclose(out)) {
        fprintf(stderr, "hpoenv_trace: cannot read %s or write %s\n", argv[3],
                argv[4]);
        return 1;
    }
    fclose(in);
    free(obs);
    free(act);
    env_destroy(&e);
    return 0;
}
