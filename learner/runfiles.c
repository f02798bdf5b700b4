/*
 * runfiles.c - hpo-learner's run directory: learner.log, config,
 * progress.csv, checkpoints and --resume (docs/checkpoint.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "checkpoint.h"
#include "learner.h"
#include "log.h"
#include "progress.h"
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

/* One row of progress.csv (progress.h) a second and at exit: the columns
 * hpo-train has no figure for (logp, q_mean per row) are the newest
 * update's here, episode_return the mean of the recent returns. */
void learner_csv_row(learner *l)
{
    if (!l->csv)
        return;
    int u = l->updates > 0;
    run_stats rs = learner_recent(l); /* the last LEARNER_RECENT episodes */
    progress_row r;
    progress_row_clear(&r);
    r.v[PROGRESS_ENV_STEPS] = (double)l->env_steps;
    r.v[PROGRESS_UPDATES] = (double)l->updates;
    r.v[PROGRESS_EPISODE_RETURN] = run_stats_mean(&rs);
    r.v[PROGRESS_Q_LOSS] = u ? l->last.q_loss : NAN;
    r.v[PROGRESS_PI_LOSS] = u ? l->last.pi_loss : NAN;
    r.v[PROGRESS_ALPHA] = sac_alpha(l->agent);
    r.v[PROGRESS_LOGP] = u ? l->last.logp : NAN;
    r.v[PROGRESS_HD_DIST] = u ? l->last.hd_dist : NAN;
    r.v[PROGRESS_GATE] = u ? l->last.gate : NAN;
    r.v[PROGRESS_Q_MEAN] = u ? l->last.q_mean : NAN;
    r.v[PROGRESS_UPDATES_PER_S] = l->updates_per_s;
    r.v[PROGRESS_WALL_S] = learner_wall_s(l);
    r.v[PROGRESS_STEPS_PER_S] = l->steps_per_s;
    r.v[PROGRESS_REPLAY_RATIO] = learner_ratio(l);
    r.v[PROGRESS_REPLAY_SIZE] = (double)replay_size(l->rb);
    r.v[PROGRESS_ACTORS] = l->n_actors;
    r.v[PROGRESS_PARAM_VERSION] = (double)l->param_version;
    r.v[PROGRESS_RECENT_RETURN_STD] = run_stats_std(&rs);
    r.v[PROGRESS_RECENT_RETURN_MIN] = run_stats_min(&rs);
    r.v[PROGRESS_RECENT_RETURN_MAX] = run_stats_max(&rs);
    r.v[PROGRESS_EPISODES] = (double)l->n_episodes;
    if (progress_write_row(l->csv, &r))
        log_warn_once("csv", "cannot write progress.csv: %s", strerror(errno));
}

/* An evaluation row, as hpo-train's: at the mark's env steps (written when
 * the result comes in, so after rows of later steps), the updates of the
 * snapshot evaluated, the returns; the training figures left empty. */
void learner_csv_eval(learner *l, const learner_pub *p, double mean, double std)
{
    if (!l->csv)
        return;
    progress_row r;
    progress_row_clear(&r);
    r.v[PROGRESS_ENV_STEPS] = (double)p->mark;
    r.v[PROGRESS_UPDATES] = (double)p->updates;
    r.v[PROGRESS_EVAL_RETURN] = mean;
    r.v[PROGRESS_EVAL_STD] = std;
    r.v[PROGRESS_WALL_S] = learner_wall_s(l);
    r.v[PROGRESS_REPLAY_SIZE] = (double)replay_size(l->rb);
    r.v[PROGRESS_ACTORS] = l->n_actors;
    r.v[PROGRESS_PARAM_VERSION] = (double)p->version;
    r.v[PROGRESS_EPISODES] = (double)l->n_episodes;
    if (progress_write_row(l->csv, &r))
        log_warn_once("csv", "cannot write progress.csv: %s", strerror(errno));
}

// ---- checkpoints ----

#define LAST_GOOD "last-known-good" /* names the last known good checkpoint */

/* The n of a path's checkpoint-<n>.ckpt, -1 for none. */
static int64_t number_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    long long n;
    char tail[8];
    if (sscanf(base, "checkpoint-%lld%7s", &n, tail) != 2 ||
        strcmp(tail, ".ckpt") || n < 0)
        return -1;
    return n;
}

void learner_keep_good(learner *l, const char *path)
{
    snprintf(l->last_good, sizeof l->last_good, "%s", path);
    if (!l->opt.out[0])
        return;
    char file[LEARNER_PATH + 32], tmp[LEARNER_PATH + 40];
    if (snprintf(file, sizeof file, "%s/%s", l->opt.out, LAST_GOOD) >=
            (int)sizeof file ||
        snprintf(tmp, sizeof tmp, "%s.tmp", file) >= (int)sizeof tmp)
        return;
    if (!path[0]) {
        if (unlink(file) && errno != ENOENT)
            log_warn("cannot remove %s: %s", file, strerror(errno));
        return;
    }
    const char *base = strrchr(path, '/');
    FILE *f = fopen(tmp, "w");
    int bad = !f || fprintf(f, "%s\n", base ? base + 1 : path) < 0;
    if (f && fclose(f))
        bad = 1;
    if (bad || rename(tmp, file)) {
        log_warn("cannot write %s: %s; %s stays only while this learner runs",
                 file, strerror(errno), path);
        return;
    }
    log_info("last known good checkpoint: %s (kept beside --keep; named in %s)",
             path, file);
}

/* A resumed run's last known good checkpoint: the one DIR/last-known-good
 * names, when it still verifies. The run had tripped then: later
 * checkpoints do not replace it. */
static void read_good(learner *l)
{
    char file[LEARNER_PATH + 32], name[256] = "", path[LEARNER_PATH];
    snprintf(file, sizeof file, "%s/%s", l->opt.out, LAST_GOOD);
    FILE *f = fopen(file, "r");
    if (!f)
        return;
    int got = fgets(name, sizeof name, f) != NULL;
    fclose(f);
    name[strcspn(name, "\r\n")] = '\0';
    ckpt_info info;
    char err[512];
    if (!got ||
        snprintf(path, sizeof path, "%s/%s", l->opt.out, name) >=
            (int)sizeof path ||
        strchr(name, '/') || number_of(name) < 0 ||
        ckpt_open(path, &info, err, sizeof err)) {
        log_warn("%s names no valid checkpoint ('%s'): ignored", file, name);
        return;
    }
    l->tripped = TRIP_HARD;
    snprintf(l->last_good, sizeof l->last_good, "%s", path);
    log_info("last known good checkpoint: %s (from %s)", path, file);
}

double learner_wall_s(const learner *l)
{
    return l->wall_before + now_s() - l->t_start;
}

/* A checkpoint of the agent, counters, update stream and (with
 * --checkpoint-replay 1) the replay rows into the run directory; older ones
 * pruned to --keep. The loop stands still while it is written. Never of
 * non-finite weights. */
int learner_checkpoint(learner *l)
{
    if (!l->opt.out[0] || l->opt.checkpoint_every <= 0 ||
        (l->last_ckpt[0] && l->last_ckpt_updates == l->updates))
        return 0;
    learner_trust_checkpoint(l);
    char path[CKPT_PATH_LEN], err[512];
    ckpt_counters c = {.env_steps = (int64_t)l->env_steps,
                       .updates = l->updates,
                       .episodes = l->n_episodes,
                       .wall_s = learner_wall_s(l)};
    /* the recent returns, oldest first: a resume reports them again */
    _Static_assert(CKPT_RECENT >= LEARNER_RECENT, "recent returns");
    c.n_recent = (int)HPO_MIN(l->n_episodes, (long)l->n_recent);
    for (int i = 0; i < c.n_recent; i++)
        c.recent[i] =
            l->recent[(l->n_episodes - c.n_recent + i) % LEARNER_RECENT];
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
        ckpt_prune(l->opt.out, l->opt.keep, number_of(l->last_good), err,
                   sizeof err) < 0) {
        log_warn_once("checkpoint", "checkpoint failed: %s", err);
        return -1;
    }
    snprintf(l->last_ckpt, sizeof l->last_ckpt, "%s", path);
    l->last_ckpt_updates = l->updates;
    l->last_ckpt_t = now_s();
    log_info("checkpoint %s (%.2f s)", path, l->last_ckpt_t - t0);
    return 0;
}

/* The final policy as DIR/weights.bin (docs/weights.md), as hpo-train
 * writes it at its end: what hpo-eval and hpo-render read. */
int learner_weights(learner *l)
{
    if (!l->opt.out[0])
        return 0;
    char path[LEARNER_PATH], err[512];
    if (snprintf(path, sizeof path, "%s/weights.bin", l->opt.out) >=
        (int)sizeof path) {
        log_error("path too long: %s/weights.bin", l->opt.out);
        return -1;
    }
    if (!sac_state_finite(l->agent)) {
        log_error("%s not written: non-finite weights", path);
        return -1;
    }
    if (ckpt_weights_save(path, l->agent, err, sizeof err)) {
        log_error("cannot write the final weights: %s", err);
        return -1;
    }
    log_info("weights %s (updates %ld)", path, l->updates);
    return 0;
}

#define OLD_RUN_STATE                                                          \
    " (a checkpoint without its run state: the clock from progress.csv)"

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
            errf(
                err, errlen,
                "--resume: %s; refusing to start a fresh run over them: move them away to start afresh",
                why);
            return -1;
        }
        log_warn("--resume: %s: starting a fresh run", why);
        return 0;
    }
    ckpt_counters c;
    rng *rngs[1] = {&l->upd_rng};
    int exact = -1;
    if (info.n_rngs != 1) {
        errf(err, errlen, "%s: %d random streams, a learner saves 1", info.path,
             info.n_rngs);
        return -1;
    }
    if (ckpt_check(&info, l->agent, err, errlen) ||
        ckpt_restore(&info, l->agent, &c, rngs, 1, l->rb, &exact, err, errlen))
        return -1;
    l->env_steps = (uint64_t)c.env_steps;
    l->updates = (long)c.updates;
    l->n_episodes = (long)c.episodes;
    /* the run state: its clock and recent returns continue (a checkpoint
     * written before they were saved: progress.csv's clock below, and the
     * recent returns start empty rather than as zeros) */
    if (isfinite(c.wall_s))
        l->wall_before = c.wall_s;
    l->n_recent =
        (int)HPO_MIN((long)HPO_MIN(c.n_recent, LEARNER_RECENT), l->n_episodes);
    for (int i = 0; i < l->n_recent; i++)
        l->recent[(l->n_episodes - l->n_recent + i) % LEARNER_RECENT] =
            c.recent[c.n_recent - l->n_recent + i];
    l->rate_steps = l->env_steps;
    l->rate_updates = l->updates;
    /* the marks up to here are behind the run: the next one is evaluated */
    if (l->cfg.eval_every > 0) {
        uint64_t e = (uint64_t)l->cfg.eval_every;
        l->eval_mark = l->eval_written = l->env_steps / e * e;
    }
    snprintf(l->resumed_from, sizeof l->resumed_from, "%s", info.path);
    snprintf(l->last_ckpt, sizeof l->last_ckpt, "%s", info.path);
    l->last_ckpt_updates = l->updates;
    l->last_ckpt_t = now_s();
    /* progress.csv: the rows past the checkpoint go (the run continues from
     * it, so they would come twice), and the run's clock continues */
    if (l->csv) {
        char path[LEARNER_PATH];
        if (snprintf(path, sizeof path, "%s/progress.csv", l->opt.out) >=
            (int)sizeof path) {
            errf(err, errlen, "path too long: %s/progress.csv", l->opt.out);
            return -1;
        }
        fclose(l->csv);
        progress_row last;
        l->csv =
            progress_open(path, 1, (double)c.env_steps, &last, err, errlen);
        if (!l->csv)
            return -1;
        /* never behind a row kept (one written after the checkpoint
         * while no env step came in) */
        if (isfinite(last.v[PROGRESS_WALL_S]))
            l->wall_before = HPO_MAX(l->wall_before, last.v[PROGRESS_WALL_S]);
    }
    if (replay_size(l->rb) == 0) {
        /* without the replay buffer, updates wait for max(batch,
         * learning_starts) fresh rows (as hpo-train's do), and the replay
         * ratio counts from there: no burst of updates on a few rows */
        l->fresh_rows =
            (size_t)HPO_MAX((long)l->cfg.batch, l->cfg.learning_starts);
        l->ratio_origin = (double)l->env_steps + (double)l->fresh_rows -
                          (l->opt.replay_ratio > 0.0
                               ? (double)l->updates / l->opt.replay_ratio
                               : 0.0);
        log_info(
            "resumed without the replay buffer: updates wait for %zu fresh rows",
            l->fresh_rows);
    }
    read_good(l);
    log_info(
        "resumed from %s: %llu env steps, %ld updates, %zu replay rows (--resume took the newest checkpoint that verifies%s%s)",
        info.path, (unsigned long long)l->env_steps, l->updates,
        replay_size(l->rb), l->last_good[0] ? "; last known good: " : "",
        l->last_good);
    log_info("run state: wall_s %.1f, %d recent returns (mean %.1f)%s",
             l->wall_before, l->n_recent, learner_recent_mean(l),
             isfinite(c.wall_s) ? "" : OLD_RUN_STATE);
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
    /* a launcher that sends stderr to learner.log (2>>) gets each line once */
    struct stat a, b;
    if (fstat(fileno(l->log_file), &a) == 0 && fstat(STDERR_FILENO, &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        log_info("stderr is %s/learner.log: each line written once",
                 l->opt.out);
    else
        log_set_file(l->log_file);
    /* checkpoint writes a kill cut short (checkpoint-<n>.ckpt.tmp), and a
     * fresh run's stale last-known-good note */
    char e2[512];
    if (ckpt_remove_partial(l->opt.out, e2, sizeof e2) < 0)
        log_warn("%s", e2);
    if (!l->opt.resume) {
        char file[LEARNER_PATH + 32];
        snprintf(file, sizeof file, "%s/%s", l->opt.out, LAST_GOOD);
        if (unlink(file) && errno != ENOENT)
            log_warn("cannot remove %s: %s", file, strerror(errno));
    }
    FILE *f = open_in(l->opt.out, "config", "w", err, errlen);
    if (!f)
        return -1;
    config_write(&l->cfg, f);
    fprintf(f,
            "obs_dim = %d\nact_dim = %d\nrun_id = %s\n"
            "replay_ratio = %g\npublish_every = %ld\nbatch_max = %d\n",
            l->obs_dim, l->act_dim, l->run_id, l->opt.replay_ratio,
            l->opt.publish_every, l->opt.batch_max);
    if (fclose(f)) {
        errf(err, errlen, "cannot write %s/config", l->opt.out);
        return -1;
    }
    /* a resume keeps every row there, rewritten into today's schema */
    char path[LEARNER_PATH];
    if (snprintf(path, sizeof path, "%s/progress.csv", l->opt.out) >=
        (int)sizeof path) {
        errf(err, errlen, "path too long: %s/progress.csv", l->opt.out);
        return -1;
    }
    l->csv = progress_open(path, l->opt.resume, -1, NULL, err, errlen);
    return l->csv ? 0 : -1;
}
