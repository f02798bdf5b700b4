/*
 * policyfile.h - a saved policy, loaded to act: a checkpoint, a weights file
 * or a run directory, with its configuration and environment.
 *
 * hpo-eval and hpo-render read the same three kinds of input through this
 * one loader, so the episodes they run are the same ones:
 *   - a checkpoint (docs/checkpoint.md, magic HPOCKP) carries its resolved
 *     configuration and counters; only eval-hd and threads may be overridden;
 *   - a weights file (docs/weights.md, magic HPOWGT) takes the config file
 *     beside it (its dimension lines skipped) or, without one, the defaults
 *     and the --env preset; then the settings given;
 *   - a run directory (hpo-train's, hpo-learner's or a sweep cell) stands for
 *     its newest checkpoint that verifies, else its weights.bin.
 */
#ifndef HPO_POLICYFILE_H
#define HPO_POLICYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "config.h"
#include "env.h"
#include "sac.h"

typedef struct policyfile {
    char path[CKPT_PATH_LEN]; /* the file read (a directory resolves to one) */
    int is_ckpt;              /* 1: a checkpoint; 0: a weights file */
    hpo_config cfg;           /* the resolved configuration; env canonical */
    int64_t env_steps;        /* the checkpoint's env steps; -1: weights file */
    sac *agent;               /* acting only (no update state); owned */
    env *e;                   /* its environment; owned */
} policyfile;

// ---- lifecycle ----

/*
 * Load the policy at path (a file or run directory) into pf. The n settings
 * names[i] = values[i] (without "--"; "env" picks a weights file's preset)
 * apply as described above; no_hd sets eval_hd to 0. Returns 0, or -1 with a
 * message naming the file and what to do ("no config beside it: give --env
 * and the network sizes", "neither a checkpoint nor a weights file", a
 * checkpoint's or weights file's own refusal, ...); pf is then released.
 * Release with policyfile_release.
 */
int policyfile_load(policyfile *pf, const char *path, int n,
                    const char *const *names, const char *const *values,
                    int no_hd, char *err, size_t errlen);

/* Free pf's agent and environment and zero it. Accepts a zeroed pf. */
void policyfile_release(policyfile *pf);

#endif
