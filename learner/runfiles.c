/*
 * runfiles.c - hpo-learner's run directory: learner.log, config,
 * progress.csv, checkpoints and --resume (docs/checkpoint.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "checkpoint.h"
#include "learner.h"
#include "log.h"
#include "util.h"

// ---- files ----

static FILE *open_in(const char *dir, const char *name, const char *mode,
                     char *err, size_t errlen)
{
    char path[LEARNER_PATH];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        errf(err, errlen, "path too long: %s/%s", dir, name);
        return NULL;
    }
    FILE *f = fopen(path, mode);
    if (!f)
        errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return f;
}

static const char csv_columns[] =
    "wall_s,env_steps,updates,steps_per_s,updates_per_s,replay_ratio,"
    "replay_size,actors,param_version,recent_return,eval_return,q_loss,"
    "pi_loss,alpha,hd_dist,gate,recent_return_std,recent_return_min,"
    "recent_return_max,eval_std,episodes\n";

static void cell(FILE *f, double v, const char *sep)
{
    if (!isnan(v))
        fprintf(f, "%.7g", v);
    fputs(sep, f);
}

void learner_csv_row(learner *l)
{
    if (!l->csv)
        return;
    FILE *f = l->csv;
    fprintf(f, "%.3f,%llu,%ld,", now_s() - l->t_start,
            (unsigned long long)l->env_steps, l->updates);
    cell(f, l->steps_per_s, ",");
    cell(f, l->updates_per_s, ",");
    cell(f, learner_ratio(l), ",");
    fprintf(f, "%zu,%d,%llu,", replay_size(l->rb), l->n_actors,
            (unsigned long long)l->param_version);
    cell(f, learner_recent_mean(l), ",");
    cell(f, l->eval_mean, ",");
    int u = l->updates > 0;
    cell(f, u ? l->last.q_loss : NAN, ",");
    cell(f, u ? l->last.pi_loss : NAN, ",");
    cell(f, sac_alpha(l->agent), ",");
    cell(f, u ? l->last.hd_dist : NAN, ",");
    cell(f, u ? l->last.gate : NAN, ",");
    /* the recent returns' spread over the last LEARNER_RECENT episodes */
    run_stats rs = learner_recent(l);
    cell(f, run_stats_std(&rs), ",");
    cell(f, run_stats_min(&rs), ",");
    cell(f, run_stats_max(&rs), ",");
    cell(f, l->eval_std, ",");
    fprintf(f, "%ld\n", l->n_episodes);
    if (fflush(f))
        log_warn_once("csv", "cannot write progress.csv: %s",
                      strerror(errno));
}

// ---- checkpoints ----

/* A checkpoint of the agent, counters, update stream and (with
 * --checkpoint-replay 1) the replay rows into the run directory; older ones
 * pruned to --keep. The loop stands still while it is written. Never of
 * non-finite weights. */
int learner_checkpoint(learner *l)
{
    if (!l->opt.out[0] || l->opt.checkpoint_every <= 0 ||
        (l->last_ckpt[0] && l->last_ckpt_updates == l->updates))
        return 0;
    char path[CKPT_PATH_LEN], err[512];
    ckpt_counters c = {.env_steps = (int64_t)l->env_steps,
                       .updates = l->updates,
                       .episodes = l->n_episodes};
    rng *rngs[1] = {&l->upd_rng};
    double t0 = now_s();
    if (!sac_state_finite(l->agent)) {
        log_error("checkpoint of update %ld not written: non-finite weights",
                  l->updates);
        return -1;
    }
    if (ckpt_path(path, l->opt.out, l->updates, err, sizeof err) ||
        ckpt_save(path, l->agent, &c, rngs, 1,
                  l->opt.checkpoint_replay ? l->rb : NULL, err, sizeof err) ||
        ckpt_prune(l->opt.out, l->opt.keep, err, sizeof err) < 0) {
        log_warn_once("checkpoint", "checkpoint failed: %s", err);
        return -1;
    }
    snprintf(l->last_ckpt, sizeof l->last_ckpt, "%s", path);
    l->last_ckpt_updates = l->updates;
    l->last_ckpt_t = now_s();
    log_info("checkpoint %s (%.2f s)", path, l->last_ckpt_t - t0);
    return 0;
}

/* Continue from the newest valid checkpoint of the run directory. Returns 0
 * (also when there is none: a fresh run, with a warning), or -1 with a
 * message when one was found and could not be restored, or when every
 * checkpoint there is invalid (named in the message). */
int learner_resume(learner *l, char *err, size_t errlen)
{
    ckpt_info info;
    char why[1024];
    if (ckpt_find_latest(l->opt.out, l->agent, &info, why, sizeof why)) {
        if (ckpt_count(l->opt.out) > 0) {
            errf(err, errlen, "--resume: %s; refusing to start a fresh run "
                 "over them: move them away to start afresh", why);
            return -1;
        }
        log_warn("--resume: %s: starting a fresh run", why);
        return 0;
    }
    ckpt_counters c;
    rng *rngs[1] = {&l->upd_rng};
    int exact = -1;
    if (info.n_rngs != 1) {
        errf(err, errlen, "%s: %d random streams, a learner saves 1",
             info.path, info.n_rngs);
        return -1;
    }
    if (ckpt_check(&info, l->agent, err, errlen) ||
        ckpt_restore(&info, l->agent, &c, rngs, 1, l->rb, &exact, err,
                     errlen))
        return -1;
    l->env_steps = (uint64_t)c.env_steps;
    l->updates = (long)c.updates;
    l->n_episodes = (long)c.episodes;
    l->rate_steps = l->env_steps;
    l->rate_updates = l->updates;
    snprintf(l->resumed_from, sizeof l->resumed_from, "%s", info.path);
    snprintf(l->last_ckpt, sizeof l->last_ckpt, "%s", info.path);
    l->last_ckpt_updates = l->updates;
    l->last_ckpt_t = now_s();
    log_info("resumed from %s: %llu env steps, %ld updates, %zu replay rows",
             info.path, (unsigned long long)l->env_steps, l->updates,
             replay_size(l->rb));
    return 0;
}

/* The run directory (--out): learner.log, config, progress.csv. */
int learner_files_open(learner *l, char *err, size_t errlen)
{
    if (mkdir_parents(l->opt.out, err, errlen))
        return -1;
    l->log_file = open_in(l->opt.out, "learner.log", "a", err, errlen);
    if (!l->log_file)
        return -1;
    log_set_file(l->log_file);
    FILE *f = open_in(l->opt.out, "config", "w", err, errlen);
    if (!f)
        return -1;
    config_write(&l->cfg, f);
    fprintf(f, "obs_dim = %d\nact_dim = %d\nrun_id = %s\n"
               "replay_ratio = %g\npublish_every = %ld\nbatch_max = %d\n",
            l->obs_dim, l->act_dim, l->run_id, l->opt.replay_ratio,
            l->opt.publish_every, l->opt.batch_max);
    if (fclose(f)) {
        errf(err, errlen, "cannot write %s/config", l->opt.out);
        return -1;
    }
    l->csv = open_in(l->opt.out, "progress.csv", l->opt.resume ? "a" : "w", err,
                     errlen);
    if (!l->csv)
        return -1;
    if (ftell(l->csv) == 0)
        fputs(csv_columns, l->csv);
    fflush(l->csv);
    return 0;
}
