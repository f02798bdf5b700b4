/*
 * wire_bench.c - wire_decode alone, without sockets: the part of the
 * learner's ingest that wire.c owns (docs/performance.md).
 *
 *   hpo-wire-bench [--rows N] [--obs D] [--act D] [--seconds S]
 *
 * Encodes one TransitionBatch of N random valid rows (default 4096 rows of
 * Pendulum's 3 + 1 dims) and decodes it into one reused wire_msg for S
 * seconds (default 2), then a HalfCheetah-sized snapshot (1 MB). Prints
 * `case=batch ... us_per_decode=X transitions_per_s=Y` and
 * `case=snapshot ... us_per_decode=X`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"
#include "wire.h"

/* Decode buf (len bytes) into m over and over for secs seconds; the mean
 * time per decode in microseconds. */
static double time_decode(const void *buf, size_t len, const wire_expect *ex,
                          wire_msg *m, double secs)
{
    char err[256];
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 16; i++, n++)
            if (wire_decode(buf, len, ex, m, err, sizeof err) != WIRE_OK) {
                fprintf(stderr, "hpo-wire-bench: decode failed: %s\n", err);
                exit(1);
            }
        t = now_s();
    } while (t - t0 < secs);
    return 1e6 * (t - t0) / (double)n;
}

static void fill(float *x, size_t n, rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(rng_uniform(r) * 2.0 - 1.0);
}

int main(int argc, char **argv)
{
    int rows = 4096, od = 3, ad = 1;
    double secs = 2.0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--rows"))
            rows = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--obs"))
            od = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--act"))
            ad = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--seconds"))
            secs = atof(argv[++i]);
        else {
            fprintf(
                stderr,
                "usage: hpo-wire-bench [--rows N] [--obs D] [--act D] [--seconds S]\n");
            return 2;
        }
    }
    if (rows < 1 || od < 1 || ad < 1 || secs <= 0) {
        fprintf(
            stderr,
            "hpo-wire-bench: --rows, --obs, --act and --seconds must be positive\n");
        return 2;
    }
    rng r;
    rng_init(&r, 1, 0);
    size_t n = (size_t)rows;
    float *obs = xmalloc(n * (size_t)od * sizeof *obs);
    float *next = xmalloc(n * (size_t)od * sizeof *next);
    float *act = xmalloc(n * (size_t)ad * sizeof *act);
    float *rew = xmalloc(n * sizeof *rew);
    uint8_t *flags = xcalloc(n, 1);
    fill(obs, n * (size_t)od, &r);
    fill(next, n * (size_t)od, &r);
    fill(act, n * (size_t)ad, &r);
    fill(rew, n, &r);

    wire_msg m, out;
    wire_msg_init(&m, WIRE_BATCH);
    m.batch = (wire_batch){.n = rows,
                           .obs_dim = od,
                           .act_dim = ad,
                           .obs = obs,
                           .action = act,
                           .reward = rew,
                           .next_obs = next,
                           .terminated = flags,
                           .truncated = flags};
    size_t len;
    void *buf = wire_encode_alloc(&m, &len);
    if (!buf) {
        fprintf(stderr, "hpo-wire-bench: %d rows exceed the batch limit\n",
                rows);
        return 2;
    }
    wire_msg_init(&out, WIRE_NONE);
    wire_expect ex = {.obs_dim = od, .act_dim = ad};
    double us = time_decode(buf, len, &ex, &out, secs);
    printf(
        "case=batch rows=%d obs_dim=%d act_dim=%d bytes=%zu us_per_decode=%.2f transitions_per_s=%.0f\n",
        rows, od, ad, len, us, (double)rows / us * 1e6);
    free(buf);

    /* a snapshot of HalfCheetah's 256-wide networks: 75,800 + 144,386 floats */
    size_t pn = 75800, qn = 144386;
    float *blk = xmalloc((pn + qn) * sizeof *blk);
    fill(blk, pn + qn, &r);
    wire_msg_init(&m, WIRE_SNAPSHOT);
    m.snapshot = (wire_snapshot){
        .version = 1, .obs_dim = 17, .act_dim = 6, .n_blocks = 2};
    hpo_config cfg;
    config_defaults(&cfg); /* HalfCheetah's settings */
    wire_agent_from_config(&m.snapshot.agent, &cfg, 0.2f);
    strcpy(m.snapshot.blocks[0].name, WIRE_BLOCK_POLICY);
    m.snapshot.blocks[0].data = blk;
    m.snapshot.blocks[0].n = pn;
    strcpy(m.snapshot.blocks[1].name, WIRE_BLOCK_CRITICS);
    m.snapshot.blocks[1].data = blk + pn;
    m.snapshot.blocks[1].n = qn;
    buf = wire_encode_alloc(&m, &len);
    HPO_ASSERT(buf);
    us = time_decode(buf, len, NULL, &out, secs);
    printf("case=snapshot bytes=%zu us_per_decode=%.2f\n", len, us);
    free(buf);
    free(blk);
    wire_msg_release(&out);
    free(obs);
    free(next);
    free(act);
    free(rew);
    free(flags);
    return 0;
}
