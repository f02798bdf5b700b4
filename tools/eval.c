/*
 * eval.c - hpo-eval: deterministic episodes of a saved policy.
 *
 *   hpo-eval FILE [--episodes N] [--no-hd] [--seed S] [--csv OUT]
 *            [--env NAME --name VALUE ...]
 *
 * FILE is a checkpoint (docs/checkpoint.md), which names its environment and
 * shapes in its configuration, a weights file (docs/weights.md), whose
 * configuration is read from the run directory's config beside it when
 * present and otherwise given as flags (--env and the network sizes), or a
 * run directory, for its newest valid checkpoint (common/run/policyfile.h). The
 * episodes use the trainer's evaluation: tanh(mu) then the mode's leapfrog
 * (or tanh(mu) alone with --no-hd), resets seeded from (S, RNG_STREAM_EVAL)
 * with S the run's seed unless --seed is given, so with the run's seed and
 * --episodes eval-episodes the mean equals the run's last evaluation.
 * stdout receives "episodes=N mean=... std=... min=... max=..."; --csv OUT
 * receives one row per episode (episode,return,steps).
 *
 * Exit status: 0 done, 1 unreadable or refused file, 2 bad command line.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "evaluate.h"
#include "policyfile.h"
#include "util.h"

#define PROG "hpo-eval"

typedef struct options {
    const char *file;
    long episodes;
    int no_hd;
    int has_seed;
    uint64_t seed;
    char csv[4096];   /* "": none */
    config_args args; /* the parsed command line (settings point into it) */
    int n_flags;      /* config flags: names[i] = values[i] */
    const char **names, **values;
} options;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " FILE [--episodes N] [--no-hd] [--seed S] [--csv OUT] [--env NAME ...]\n"
        "\n"
        "Run N (default 10) deterministic episodes of the policy in FILE,\n"
        "a checkpoint (checkpoint-*.ckpt), a weights file (weights.bin) or a run\ndirectory (its newest valid checkpoint), and\n"
        "print the mean, standard deviation, minimum and maximum return.\n"
        "\n"
        "  --episodes N   episodes (default 10)\n"
        "  --no-hd        act with tanh(mu) alone, no leapfrog\n"
        "  --seed S       reset seed (default: the run's seed)\n"
        "  --csv OUT      per-episode returns: episode,return,steps\n"
        "\n"
        "A weights file takes its configuration from the config file beside it;\n"
        "without one, give --env and the sizes (--pi-hidden, ...) as hpo-train\n"
        "was given them.\n");
}

/* Returns 0, 1 after --help, or -1 after printing the error. */
/* hpo-eval's options (config_args_table); every other --name is a setting
 * of the configuration (weights files) and FILE the one positional. */
#define O(f) offsetof(options, f)
static const opt_spec own[] = {
    {"episodes", OPT_LONG, O(episodes), 0, 1, 1000000,
     "bad value '%s' for --episodes (1 to 1000000)"},
    {"seed", OPT_U64, O(seed), 0, 0, 0, "bad value '%s' for --seed"},
    {"csv", OPT_TEXT, O(csv), sizeof(((options *)0)->csv), 0, 0, NULL},
    {"no-hd", OPT_FLAG, O(no_hd), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O

/* Returns 0, 1 after --help, -1 after printing the error. o->args stays
 * to release (the settings point into it). */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->episodes = 10;
    char err[512];
    config_args *a = &o->args;
    int rc = config_args_table(a, argc, argv, own, 1, 1, o, err, sizeof err);
    if (rc > 0) {
        usage(stdout);
        return 1;
    }
    if (rc < 0)
        return usage_error(PROG, "%s", err);
    o->has_seed = config_args_given(a, "seed");
    o->n_flags = config_args_settings(a, &o->names, &o->values);
    if (a->n_pos < 1)
        return usage_error(PROG, "%s", "no checkpoint or weights file given");
    o->file = a->pos[0];
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.names);
        free(o.values);
        config_args_release(&o.args);
        return rc > 0 ? 0 : 2;
    }
    policyfile pf = {0};
    FILE *csv = NULL;
    char err[1024];
    rc = 1;
    nn_set_threads(1);
    if (policyfile_load(&pf, o.file, o.n_flags, o.names, o.values, o.no_hd, err,
                        sizeof err))
        goto out;
    if (o.csv[0]) {
        csv = fopen(o.csv, "w");
        if (!csv) {
            errf(err, sizeof err, "cannot create %s: %s", o.csv,
                 strerror(errno));
            goto out;
        }
        fputs("episode,return,steps\n", csv);
    }
    double *ret = xcalloc((size_t)o.episodes, sizeof *ret);
    long *len = xcalloc((size_t)o.episodes, sizeof *len);
    run_stats rs =
        evaluate_run(pf.agent, pf.e, o.has_seed ? o.seed : pf.cfg.seed,
                     o.episodes, ret, len);
    for (long ep = 0; csv && ep < o.episodes; ep++)
        fprintf(csv, "%ld,%.6f,%ld\n", ep, ret[ep], len[ep]);
    free(ret);
    free(len);
    if (csv) {
        int bad = ferror(csv);
        if (fclose(csv) || bad) {
            csv = NULL;
            errf(err, sizeof err, "cannot write %s: %s", o.csv,
                 strerror(errno));
            goto out;
        }
        csv = NULL;
    }
    printf("episodes=%ld mean=%.3f std=%.3f min=%.3f max=%.3f\n", o.episodes,
           run_stats_mean(&rs), run_stats_std(&rs), run_stats_min(&rs),
           run_stats_max(&rs));
    rc = fflush(stdout) ? 1 : 0;
    if (rc)
        errf(err, sizeof err, "cannot write stdout: %s", strerror(errno));
out:
    if (rc)
        fprintf(stderr, PROG ": %s\n", err);
    if (csv)
        fclose(csv);
    policyfile_release(&pf);
    free(o.names);
    free(o.values);
    config_args_release(&o.args);
    return rc;
}
