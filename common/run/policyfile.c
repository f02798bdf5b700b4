/*
 * policyfile.c - a saved policy, loaded to act (policyfile.h).
 */
#include "policyfile.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

typedef struct settings {
    int n;
    const char *const *names, *const *values;
} settings;

/* The configuration of the weights file at path: DIR/config when it exists
 * (its dimension lines skipped), else the defaults and the --env preset;
 * then the settings. Returns 0, or -1 with a message. */
static int weights_config(const char *path, const settings *s, hpo_config *c,
                          char *err, size_t errlen)
{
    char dir[CKPT_PATH_LEN], cpath[CKPT_PATH_LEN + 16];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(cpath, sizeof cpath, "%s/config", dirname(dir));
    const char *env_flag = NULL;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], "env"))
            env_flag = s->values[i];
    if (access(cpath, F_OK) == 0) {
        if (config_read_file(c, cpath, err, errlen))
            return -1;
        log_info("configuration from %s", cpath);
    } else if (env_flag) {
        config_defaults(c);
        config_preset(c, env_flag);
    } else {
        errf(err, errlen,
             "%s has no config beside it: give --env and the network sizes",
             path);
        return -1;
    }
    for (int i = 0; i < s->n; i++) {
        char e2[256];
        if (strcmp(s->names[i], "env") &&
            config_set(c, s->names[i], s->values[i], e2, sizeof e2)) {
            errf(err, errlen, "%s", e2);
            return -1;
        }
    }
    return 0;
}

/* A checkpoint's configuration with the settings it allows (eval-hd,
 * threads). Returns 0, or -1 with a message. */
static int ckpt_config(const ckpt_info *info, const settings *s, hpo_config *c,
                       char *err, size_t errlen)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], "eval-hd") && strcmp(s->names[i], "threads")) {
            errf(err, errlen,
                 "--%s: a checkpoint carries its own configuration",
                 s->names[i]);
            return -1;
        }
    *c = info->cfg;
    for (int i = 0; i < s->n; i++)
        config_set(c, s->names[i], s->values[i], NULL, 0);
    return 0;
}

/* The file a run directory stands for: its newest valid checkpoint (into
 * *info, *is_ckpt = 1) or its weights.bin. Returns 0, or -1 with a message. */
static int resolve_dir(const char *dir, char *path, ckpt_info *info,
                       int *is_ckpt, char *err, size_t errlen)
{
    char why[1024];
    if (ckpt_find_latest(dir, NULL, info, why, sizeof why) == 0) {
        snprintf(path, CKPT_PATH_LEN, "%s", info->path);
        *is_ckpt = 1;
        return 0;
    }
    struct stat st;
    if (snprintf(path, CKPT_PATH_LEN, "%s/weights.bin", dir) < CKPT_PATH_LEN &&
        stat(path, &st) == 0) {
        *is_ckpt = 0;
        return 0;
    }
    errf(
        err, errlen,
        "%s: a directory with neither a valid checkpoint-<n>.ckpt nor a weights.bin (%s); give a run directory that holds one, or the file itself",
        dir, why);
    return -1;
}

int policyfile_load(policyfile *pf, const char *path, int n,
                    const char *const *names, const char *const *values,
                    int no_hd, char *err, size_t errlen)
{
    memset(pf, 0, sizeof *pf);
    settings s = {n, names, values};
    ckpt_info *info = xcalloc(1, sizeof *info);
    int rc = -1, have_info = 0;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (resolve_dir(path, pf->path, info, &pf->is_ckpt, err, errlen))
            goto out;
        have_info = pf->is_ckpt;
        log_info("%s: %s", path, pf->path);
    } else if (snprintf(pf->path, sizeof pf->path, "%s", path) >=
               (int)sizeof pf->path) {
        errf(err, errlen, "path too long: %s", path);
        goto out;
    }
    if (!have_info) {
        int kind = ckpt_file_kind(pf->path, err, errlen);
        if (kind < 0)
            goto out;
        pf->is_ckpt = kind == CKPT_FILE_CHECKPOINT;
        if (pf->is_ckpt && ckpt_open(pf->path, info, err, errlen))
            goto out;
    }
    if (pf->is_ckpt ? ckpt_config(info, &s, &pf->cfg, err, errlen)
                    : weights_config(pf->path, &s, &pf->cfg, err, errlen))
        goto out;
    pf->env_steps = pf->is_ckpt ? info->counters.env_steps : -1;
    if (no_hd)
        pf->cfg.eval_hd = 0;
    pf->e = env_new(pf->cfg.env, NULL, err, errlen);
    if (!pf->e)
        goto out;
    snprintf(pf->cfg.env, sizeof pf->cfg.env, "%s", pf->e->cls->name);
    pf->agent =
        sac_new(&pf->cfg, pf->e->cls->obs_dim, pf->e->cls->act_dim, 1, 0);
    rc = pf->is_ckpt ? ckpt_restore_weights(info, pf->agent, err, errlen)
                     : ckpt_weights_load(pf->path, pf->agent, err, errlen);
out:
    free(info);
    if (rc)
        policyfile_release(pf);
    return rc;
}

void policyfile_release(policyfile *pf)
{
    sac_destroy(&pf->agent);
    env_destroy(&pf->e);
    memset(pf, 0, sizeof *pf);
}
