/*
 * train.c - hpo-train, the single-process trainer: the reproducible reference.
 *
 * One environment, one replay buffer, one agent, one thread: act, step, push,
 * update, in that order, every random draw from its own seeded stream
 * (RNG_STREAM_*), so the same seed and --threads give bit-identical weights.
 * Every --eval-every steps and at the end a separate evaluation environment
 * runs deterministic episodes. The run directory receives the resolved
 * config, a progress.csv row per training episode and per evaluation, the
 * final weights (docs/weights.md) and checkpoints (docs/checkpoint.md):
 * every --checkpoint-every updates, on SIGINT/SIGTERM and at the end, the
 * last --keep kept. --resume DIR continues a run from its newest valid
 * checkpoint; from one taken at an episode boundary with the replay saved it
 * continues bit-exactly. stdout receives one final line.
 *
 * Exit status: 0 done, 1 run-time failure (I/O, no checkpoint to resume),
 * 2 bad command line, 130 interrupted (weights and checkpoint saved first).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint.h"
#include "config.h"
#include "env.h"
#include "evaluate.h"
#include "log.h"
#include "nn.h"
#include "progress.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "util.h"

#define PROG "hpo-train"
#define PATH_LEN 4096
#define RECENT 10 /* training episodes in the recent mean */
#define TTY_REFRESH_S 0.25
#define PLAIN_REFRESH_S 5.0

typedef struct options {
    char out[PATH_LEN]; /* run directory; "" means runs/<env>-<mode>-s<seed> */
    int config_only;
    int describe;          /* --describe-settings */
    int describe_progress; /* --describe-progress */
    int json;              /* --json */
    int quiet;
    long checkpoint_every; /* updates between checkpoints; 0: end and signals */
    int keep;              /* checkpoints kept */
    int checkpoint_replay; /* checkpoints hold the replay buffer */
    int resume;            /* out is a run directory to continue */
    ckpt_info from;        /* the checkpoint resumed from (resume) */
    /* as given on the command line (config_args_table) */
    char out_arg[PATH_LEN], resume_arg[PATH_LEN];
    int replay_flag; /* --checkpoint-replay [0|1]; -1: not given */
    int resume_out;  /* a bare --resume: the run in --out */
} options;

/* Means of the update statistics since the last training-episode row. */
typedef struct stats_acc {
    double q_loss, pi_loss, alpha, logp, hd_dist, gate, q_mean;
    long n;
} stats_acc;

typedef struct trainer {
    hpo_config cfg;
    env *env, *eval_env;
    sac *agent;
    replay *rb;
    replay_batch batch;
    rng act_rng, upd_rng;
    rng env_reset_rng; /* env->rng before the last reset */
    int obs_dim, act_dim;
    float *obs, *next_obs, *action; /* (obs_dim), (obs_dim), (act_dim) */
    FILE *csv;
    char csv_path[PATH_LEN];

    long t;      /* env steps taken */
    long refill; /* replay rows needed before updates
                    (an empty buffer after a resume) */
    const options *opt;
    stats_acc acc;
    double recent[RECENT]; /* ring: episode i at i % RECENT */
    long n_episodes;
    int n_recent; /* returns known in the ring (fewer after a resume from a
                     checkpoint without them) */
    double ep_return;
    double eval_mean, eval_std; /* NAN before the first evaluation */
    long eval_at;               /* env steps of the last evaluation; -1 */

    double t_start;  /* wall clock at the start of training */
    double update_s; /* wall time spent in the update phase */
    double learn_t0; /* wall clock at the first update; 0 */
    double wall0;    /* wall_s of the run before a resume */
    int tty, quiet, shown;
    double last_show, show_t; /* progress: last refresh time */
    long show_updates;        /* updates at the last refresh */
    double show_rate;         /* updates/s over the last window */
} trainer;

// ---- command line ----

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " [--env NAME] [--mode MODE] [--steps N] [--seed S] [--out DIR] [options]\n"
        "\n"
        "Train one SAC-HPO agent in one process and write DIR/config,\n"
        "DIR/progress.csv and DIR/weights.bin.\n"
        "\n"
        "  --out DIR              run directory (default runs/<env>-<mode>-s<seed>)\n"
        "  --resume DIR           continue the run in DIR from its newest valid\n"
        "                         checkpoint (its config, then these flags);\n"
        "                         --out DIR --resume says the same\n"
        "  --checkpoint-every N   checkpoint every N updates (0: only at the end\n"
        "                         and on SIGINT/SIGTERM; default 0)\n"
        "  --keep K               checkpoints kept (default 3)\n"
        "  --checkpoint-replay    checkpoints include the replay buffer (or 0 or 1\n"
        "                         after it)\n"
        "  --config-only          print the resolved config and exit\n"
        "  --describe-progress    print progress.csv's header (its columns, in file\n"
        "                         order) and exit\n"
        "  --describe-settings [--json]\n"
        "                         print every setting as JSON (type, value\n"
        "                         for this command line, range, the modes\n"
        "                         that read it, help) and exit\n"
        "  --quiet                no progress line\n"
        "  --help                 this text\n"
        "\n"
        "Every setting (defaults, then the --env preset, then the other\n"
        "flags in order; --name VALUE or --name=VALUE):\n");
    config_usage(f);
}

/* hpo-train's options and flags (config_args_table); every other --name
 * is a setting. */
#define O(f) offsetof(options, f)
static const opt_spec own[] = {
    {"out", OPT_TEXT, O(out_arg), PATH_LEN, 0, 0, NULL},
    {"resume", OPT_TEXT, O(resume_arg), PATH_LEN, 0, 0, NULL},
    {"checkpoint-every", OPT_LONG, O(checkpoint_every), 0, 0, 1000000000.0,
     "bad value '%s' for --checkpoint-every (an integer >= 0)"},
    {"keep", OPT_INT, O(keep), 0, 1, 1000000000.0,
     "bad value '%s' for --keep (an integer >= 1)"},
    {"config-only", OPT_FLAG, O(config_only), 0, 0, 0, NULL},
    {"describe-settings", OPT_FLAG, O(describe), 0, 0, 0, NULL},
    {"describe-progress", OPT_FLAG, O(describe_progress), 0, 0, 0, NULL},
    {"json", OPT_FLAG, O(json), 0, 0, 0, NULL},
    {"quiet", OPT_FLAG, O(quiet), 0, 0, 0, NULL},
    {"checkpoint-replay", OPT_INT, O(replay_flag), 0, 0, 1,
     "bad value '%s' for --checkpoint-replay (0 or 1, or nothing)"},
    {"resume-out", OPT_FLAG, O(resume_out), 0, 0, 0, NULL}, /* bare --resume */
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O

/*
 * The run in dir to continue: its newest valid checkpoint into o->from (its
 * configuration is the base of the settings). Returns 0, or -2 after
 * printing why not.
 */
static int find_resume(options *o, const char *dir, const char *env_given)
{
    char err[1024];
    if (ckpt_find_latest(dir, NULL, &o->from, err, sizeof err)) {
        fprintf(stderr, PROG ": cannot resume: %s\n", err);
        return -2;
    }
    o->resume = 1;
    o->checkpoint_replay = o->from.has_replay; /* or the flag */
    snprintf(o->out, sizeof o->out, "%s", dir);
    if (env_given && env_find(env_given) != env_find(o->from.cfg.env)) {
        fprintf(
            stderr,
            PROG
            ": cannot resume: %s: other environment: checkpoint %s, --env %s\n",
            o->from.path, o->from.cfg.env, env_given);
        return -2;
    }
    return 0;
}

/*
 * hpo-train's flags and options, then the settings: with --resume DIR on the
 * run's own configuration. Returns 0, -1 with the message in err, or -2
 * after printing why the run cannot resume.
 */
static int apply_args(const config_args *a, hpo_config *c, options *o,
                      char *err, size_t errlen)
{
    if (o->resume_out && !o->resume_arg[0]) {
        if (!o->out_arg[0]) {
            errf(err, errlen, "--resume needs the run directory: --resume DIR");
            return -1;
        }
        snprintf(o->resume_arg, sizeof o->resume_arg, "%s", o->out_arg);
    }
    const char *resume = o->resume_arg[0] ? o->resume_arg : NULL;
    if (resume && o->out_arg[0] && strcmp(resume, o->out_arg)) {
        errf(err, errlen,
             "--out %s and --resume %s name two run directories: give one",
             o->out_arg, resume);
        return -1;
    }
    if (resume && find_resume(o, resume, a->env))
        return -2;
    if (!resume)
        snprintf(o->out, sizeof o->out, "%s", o->out_arg);
    if (o->replay_flag >= 0)
        o->checkpoint_replay = o->replay_flag;
    if (o->json && !o->describe) {
        errf(err, errlen, "--json goes with --describe-settings");
        return -1;
    }
    if (config_args_resolve(a, resume ? &o->from.cfg : NULL, c, err, errlen))
        return -1;
    /* the ring the run allocates (never more rows than steps) must fit */
    const env_class *cls = env_find(c->env);
    double rows = (double)HPO_MAX(1L, HPO_MIN(c->buffer, c->steps));
    double row =
        cls ? ((double)(2 * cls->obs_dim + cls->act_dim) + 2.0) * sizeof(float)
            : 0.0;
    return mem_check("--buffer", c->buffer, row * rows, "the replay buffer",
                     err, errlen);
}

/*
 * Resolve the configuration: defaults, then the preset of the last --env
 * (wherever it stands), then every other setting in command-line order.
 * Returns 0, 1 when --help was printed, -1 after printing a command-line
 * error, or -2 after printing why the run cannot resume.
 */
static int parse_args(int argc, char **argv, hpo_config *c, options *o)
{
    config_args a;
    char err[1024];

    memset(o, 0, sizeof *o);
    o->keep = 3;
    o->replay_flag = -1;
    /* one vocabulary with hpo-learner: --resume DIR or --out DIR --resume,
     * --checkpoint-replay alone or with 0 or 1 */
    int n2;
    char **v2 = config_args_run_spellings(argc, argv, &n2);
    int rc = config_args_table(&a, n2, v2, own, 1, 0, o, err, sizeof err);
    if (rc == 0)
        rc = apply_args(&a, c, o, err, sizeof err);
    if (rc == 1)
        usage(stdout);
    if (rc == -1)
        usage_error(PROG, "%s", err);
    config_args_release(&a);
    free(v2);
    return rc;
}

// ---- files ----

/* dir/name into buf. Returns 0, or -1 with a message when it is too long. */
static int join(char *buf, const char *dir, const char *name, char *err,
                size_t errlen)
{
    if (snprintf(buf, PATH_LEN, "%s/%s", dir, name) >= PATH_LEN) {
        errf(err, errlen, "path too long: %s/%s", dir, name);
        return -1;
    }
    return 0;
}

/* The resolved config as "name = value" lines, then the environment's
 * dimensions. */
static void write_config(FILE *f, const hpo_config *c, int obs_dim, int act_dim)
{
    config_write(c, f);
    fprintf(f, "obs_dim = %d\nact_dim = %d\n", obs_dim, act_dim);
}

static int save_config(const char *path, const hpo_config *c, int obs_dim,
                       int act_dim, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    write_config(f, c, obs_dim, act_dim);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

// ---- progress.csv ----

/* Mean update rate while updating (evaluation time excluded); NAN before the
 * first update. */
static double update_rate(const trainer *tr)
{
    long u = tr->agent->updates;
    return u > 0 && tr->update_s > 0 ? (double)u / tr->update_s : NAN;
}

/*
 * One row of progress.csv (progress.h): a training episode (ep_return set,
 * eval NAN) or an evaluation (ep_return NAN). Training rows carry the mean
 * update statistics over the episode's updates; evaluation rows leave them
 * empty, and every row the learner's columns hpo-train has no figure for.
 * Flushed. Returns 0, or -1 with a message naming the file.
 */
static int csv_row(trainer *tr, double ep_return, double eval_mean,
                   double eval_std, char *err, size_t errlen)
{
    const stats_acc *a = &tr->acc;
    int stats = !isnan(ep_return) && a->n > 0;
    double n = stats ? (double)a->n : 1.0;
    progress_row r;
    progress_row_clear(&r);
    r.v[PROGRESS_ENV_STEPS] = (double)tr->t;
    r.v[PROGRESS_UPDATES] = (double)tr->agent->updates;
    r.v[PROGRESS_EPISODE_RETURN] = ep_return;
    r.v[PROGRESS_EVAL_RETURN] = eval_mean;
    r.v[PROGRESS_EVAL_STD] = eval_std;
    if (stats) {
        r.v[PROGRESS_Q_LOSS] = a->q_loss / n;
        r.v[PROGRESS_PI_LOSS] = a->pi_loss / n;
        r.v[PROGRESS_ALPHA] = a->alpha / n;
        r.v[PROGRESS_LOGP] = a->logp / n;
        r.v[PROGRESS_HD_DIST] = a->hd_dist / n;
        r.v[PROGRESS_GATE] = a->gate / n;
        r.v[PROGRESS_Q_MEAN] = a->q_mean / n;
    }
    r.v[PROGRESS_UPDATES_PER_S] = update_rate(tr);
    r.v[PROGRESS_WALL_S] = now_s() - tr->t_start;
    r.v[PROGRESS_REPLAY_SIZE] = (double)replay_size(tr->rb);
    r.v[PROGRESS_EPISODES] = (double)tr->n_episodes;
    if (progress_write_row(tr->csv, &r)) {
        errf(err, errlen, "cannot write %s: %s", tr->csv_path, strerror(errno));
        return -1;
    }
    return 0;
}

// ---- progress line ----

static double recent_mean(const trainer *tr)
{
    run_stats rs = {0};
    long k = HPO_MIN(tr->n_episodes, (long)tr->n_recent);
    for (long i = 0; i < k; i++)
        run_stats_add(&rs, tr->recent[(tr->n_episodes - k + i) % RECENT]);
    return run_stats_mean(&rs);
}

/* Refresh the progress line on stderr: in place on a terminal, a plain line
 * every few seconds otherwise. final forces a refresh. */
static void progress(trainer *tr, int final)
{
    if (tr->quiet)
        return;
    double now = now_s();
    double every = tr->tty ? TTY_REFRESH_S : PLAIN_REFRESH_S;
    if (!final && now - tr->last_show < every)
        return;
    long u = tr->agent->updates;
    if (now > tr->show_t && u > tr->show_updates)
        tr->show_rate = (double)(u - tr->show_updates) / (now - tr->show_t);
    tr->show_t = now;
    tr->show_updates = u;
    tr->last_show = now;

    const hpo_config *c = &tr->cfg;
    /* the update phase dominates: extrapolate from its pace so far */
    double eta = NAN;
    long ls = c->learning_starts;
    if (tr->t >= c->steps)
        eta = 0.0;
    else if (tr->learn_t0 > 0 && tr->t > ls)
        eta = (double)(c->steps - tr->t) * (now - tr->learn_t0) /
              (double)(tr->t - ls);
    char eta_s[32], ret_s[32], eval_s[32];
    fmt_duration(eta_s, sizeof eta_s, eta);
    double r = recent_mean(tr);
    if (isnan(r))
        snprintf(ret_s, sizeof ret_s, "-");
    else
        snprintf(ret_s, sizeof ret_s, "%.1f", r);
    if (isnan(tr->eval_mean))
        snprintf(eval_s, sizeof eval_s, "-");
    else
        snprintf(eval_s, sizeof eval_s, "%.1f", tr->eval_mean);
    fprintf(
        stderr,
        "%s%s %ld/%ld steps (%.0f%%) | %.0f upd/s | return %s | eval %s | ETA %s%s",
        tr->tty ? "\r\033[K" : "", PROG, tr->t, c->steps,
        c->steps ? 100.0 * (double)tr->t / (double)c->steps : 100.0,
        tr->show_rate, ret_s, eval_s, eta_s, tr->tty && !final ? "" : "\n");
    fflush(stderr);
    tr->shown = tr->tty && !final;
}

/* Finish an in-place progress line before other output. */
static void progress_break(trainer *tr)
{
    if (tr->shown) {
        fputc('\n', stderr);
        tr->shown = 0;
    }
}

// ---- training ----

/* cfg.eval_episodes deterministic episodes on the evaluation environment
 * (evaluate.h: reseeded each time, so every evaluation starts from the same
 * states). Population mean and standard deviation of the returns. */
static void evaluate(trainer *tr, double *mean, double *std)
{
    run_stats rs = evaluate_run(tr->agent, tr->eval_env, tr->cfg.seed,
                                tr->cfg.eval_episodes, NULL, NULL);
    *mean = run_stats_mean(&rs);
    *std = run_stats_std(&rs);
}

static int run_eval(trainer *tr, char *err, size_t errlen)
{
    evaluate(tr, &tr->eval_mean, &tr->eval_std);
    tr->eval_at = tr->t;
    return csv_row(tr, NAN, tr->eval_mean, tr->eval_std, err, errlen);
}

/* Start an episode, remembering the reset stream so that a checkpoint taken
 * before the first step can replay this very reset. */
static void new_episode(trainer *tr)
{
    tr->env_reset_rng = tr->env->rng;
    tr->ep_return = 0.0;
    env_reset(tr->env, tr->obs);
}

/*
 * Write DIR/checkpoint-<updates>.ckpt and prune to --keep. The third RNG
 * stream is the one the next episode resets from: at an episode boundary
 * (no step taken since the reset) the stream before that reset, so a resume
 * replays it exactly; mid-episode the current stream (the resume starts a
 * new episode). Returns 0, or -1 with a message.
 */
static int checkpoint(trainer *tr, char *err, size_t errlen)
{
    const options *o = tr->opt;
    char path[CKPT_PATH_LEN];
    rng *env_rng = tr->env->t == 0 ? &tr->env_reset_rng : &tr->env->rng;
    rng *rngs[3] = {&tr->act_rng, &tr->upd_rng, env_rng};
    ckpt_counters c = {.env_steps = tr->t,
                       .updates = tr->agent->updates,
                       .episodes = tr->n_episodes,
                       .wall_s = now_s() - tr->t_start};
    _Static_assert(CKPT_RECENT >= RECENT, "recent returns");
    c.n_recent = (int)HPO_MIN(tr->n_episodes, (long)tr->n_recent);
    for (int i = 0; i < c.n_recent; i++)
        c.recent[i] = tr->recent[(tr->n_episodes - c.n_recent + i) % RECENT];
    if (ckpt_path(path, o->out, c.updates, err, errlen) ||
        ckpt_save(path, tr->agent, &c, rngs, 3,
                  o->checkpoint_replay ? tr->rb : NULL, err, errlen) ||
        ckpt_prune(o->out, o->keep, -1, err, errlen) < 0)
        return -1;
    if (!tr->quiet) {
        progress_break(tr);
        log_info("checkpoint %s (env steps %ld, %s)", path, tr->t,
                 tr->env->t == 0 ? "episode boundary" : "mid-episode");
    }
    return 0;
}

static void accumulate(stats_acc *a, const sac_stats *st)
{
    a->q_loss += st->q_loss;
    a->pi_loss += st->pi_loss;
    a->alpha += st->alpha;
    a->logp += st->logp;
    a->hd_dist += st->hd_dist;
    a->gate += st->gate;
    a->q_mean += st->q_mean;
    a->n++;
}

/*
 * The loop: act (uniform before learning_starts, then the mode's stochastic
 * exploration), step, push (truncation is not terminal), record finished
 * episodes, one update per step from learning_starts on, evaluations every
 * eval_every steps and at the end. Returns 0, 1 when interrupted, or -1 with
 * a message.
 */
static int train(trainer *tr, char *err, size_t errlen)
{
    const hpo_config *c = &tr->cfg;
    env_step_result res;
    sac_stats st;
    int da = tr->act_dim;
    size_t obs_bytes = (size_t)tr->obs_dim * sizeof(float);

    if (!tr->opt->resume)
        env_seed(tr->env, c->seed); /* else restored from the checkpoint */
    new_episode(tr);
    for (; tr->t < c->steps;) {
        if (stop_requested())
            return 1;
        if (tr->t < c->learning_starts)
            rng_uniform_fill(&tr->act_rng, tr->action, (size_t)da, -1.0f, 1.0f);
        else
            sac_act(tr->agent, &tr->agent->act, tr->obs, 1, 0, &tr->act_rng,
                    tr->action, NULL);
        env_step(tr->env, tr->action, tr->next_obs, &res);
        replay_push(tr->rb, tr->obs, tr->action, res.reward, tr->next_obs,
                    res.terminated);
        tr->ep_return += res.reward;
        long step = tr->t++;
        int updated = 0;
        int ended = res.terminated || res.truncated;
        double ended_return = tr->ep_return;

        if (ended) {
            tr->recent[tr->n_episodes++ % RECENT] = tr->ep_return;
            tr->n_recent = HPO_MIN(tr->n_recent + 1, RECENT);
            new_episode(tr);
        } else {
            memcpy(tr->obs, tr->next_obs, obs_bytes);
        }

        if (step >= c->learning_starts &&
            (long)replay_size(tr->rb) >= tr->refill) {
            double t0 = now_s();
            if (tr->learn_t0 == 0.0)
                tr->learn_t0 = t0;
            replay_sample(tr->rb, &tr->upd_rng, &tr->batch);
            sac_update(tr->agent, &tr->batch, &tr->upd_rng, &st);
            accumulate(&tr->acc, &st);
            tr->update_s += now_s() - t0;
            updated = 1;
        }
        /* The episode's row, with the means of the updates up to this step's:
         * a checkpoint at this step then holds no update the row after it
         * needs, so a resumed run writes the rows an unbroken one does. */
        if (ended) {
            if (csv_row(tr, ended_return, NAN, NAN, err, errlen))
                return -1;
            memset(&tr->acc, 0, sizeof tr->acc);
        }

        if (c->eval_every > 0 && tr->t % c->eval_every == 0 &&
            run_eval(tr, err, errlen))
            return -1;
        long every = tr->opt->checkpoint_every;
        if (every > 0 && updated && tr->agent->updates % every == 0 &&
            checkpoint(tr, err, errlen)) /* not fatal: the run goes on */
            log_error("%s", err);
        progress(tr, 0);
    }
    if (tr->eval_at != tr->t && run_eval(tr, err, errlen))
        return -1;
    return 0;
}

// ---- setup ----

/* From the last progress.csv row kept at a resume: wall_s, and the update
 * time its updates / updates_per_s imply, so that both continue. */
static void continue_clocks(trainer *tr, const progress_row *last)
{
    double w = last->v[PROGRESS_WALL_S], r = last->v[PROGRESS_UPDATES_PER_S];
    double updates = last->v[PROGRESS_UPDATES];
    if (isfinite(w) && w >= 0.0)
        tr->wall0 = w;
    if (isfinite(r) && r > 0.0 && updates > 0)
        tr->update_s = updates / r;
}

/* Continue from o->from: the agent, counters, streams, and the replay when
 * it was saved (else it refills before updates start again). */
static int resume_run(trainer *tr, const options *o, char *err, size_t errlen)
{
    const ckpt_info *in = &o->from;
    ckpt_counters c;
    rng *rngs[3] = {&tr->act_rng, &tr->upd_rng, &tr->env->rng};
    int exact;
    if (ckpt_check(in, tr->agent, err, errlen) ||
        ckpt_restore(in, tr->agent, &c, rngs, 3, tr->rb, &exact, err, errlen))
        return -1;
    tr->t = (long)c.env_steps;
    tr->n_episodes = (long)c.episodes;
    tr->n_recent =
        (int)HPO_MIN((long)HPO_MIN(c.n_recent, RECENT), tr->n_episodes);
    for (int i = 0; i < tr->n_recent; i++)
        tr->recent[(tr->n_episodes - tr->n_recent + i) % RECENT] =
            c.recent[c.n_recent - tr->n_recent + i];
    if (isfinite(c.wall_s))
        tr->wall0 = c.wall_s; /* else progress.csv's (continue_clocks) */
    log_info("resumed from %s: env steps %ld, updates %ld, episodes %ld",
             in->path, tr->t, tr->agent->updates, tr->n_episodes);
    if (!in->has_replay) {
        long cap = (long)HPO_MIN(tr->cfg.buffer, tr->cfg.steps);
        tr->refill =
            HPO_MIN(HPO_MAX((long)tr->cfg.batch, tr->cfg.learning_starts), cap);
        log_warn(
            "the checkpoint holds no replay buffer (--checkpoint-replay was off): the buffer restarts empty, updates resume after %ld new transitions",
            tr->refill);
    } else {
        log_info("replay buffer restored: %llu rows%s",
                 (unsigned long long)in->replay_n,
                 exact ? "" : " (reordered into a ring of another capacity)");
    }
    return 0;
}

static int trainer_open(trainer *tr, const hpo_config *cfg, int quiet,
                        const options *o, char *err, size_t errlen)
{
    const char *dir = o ? o->out : NULL;
    memset(tr, 0, sizeof *tr);
    tr->opt = o;
    tr->cfg = *cfg;
    tr->eval_mean = tr->eval_std = NAN;
    tr->eval_at = -1;
    tr->quiet = quiet;
    tr->tty = isatty(STDERR_FILENO);

    tr->env = env_new(cfg->env, NULL, err, errlen);
    if (!tr->env)
        return -1;
    tr->eval_env = env_new(cfg->env, NULL, err, errlen);
    if (!tr->eval_env)
        return -1;
    tr->obs_dim = tr->env->cls->obs_dim;
    tr->act_dim = tr->env->cls->act_dim;
    tr->obs = xalloc_floats((size_t)tr->obs_dim);
    tr->next_obs = xalloc_floats((size_t)tr->obs_dim);
    tr->action = xalloc_floats((size_t)tr->act_dim);
    if (!dir)
        return 0;

    char path[PATH_LEN];
    if (mkdir_parents(dir, err, errlen) ||
        join(path, dir, "config", err, errlen) ||
        save_config(path, cfg, tr->obs_dim, tr->act_dim, err, errlen) ||
        join(tr->csv_path, dir, "progress.csv", err, errlen))
        return -1;
    /* a checkpoint write a kill cut short (checkpoint-<n>.ckpt.tmp) */
    char e2[512];
    if (ckpt_remove_partial(dir, e2, sizeof e2) < 0)
        log_warn("%s", e2);
    /* on a resume, the rows up to the checkpoint (those written before it) */
    progress_row last;
    tr->csv = progress_open(tr->csv_path, o->resume,
                            o->resume ? (double)o->from.counters.env_steps : -1,
                            &last, err, errlen);
    if (!tr->csv)
        return -1;
    continue_clocks(tr, &last);

    /* the ring never holds more than steps rows: a smaller ring samples
     * exactly the same rows */
    long cap = HPO_MAX(1L, HPO_MIN(cfg->buffer, cfg->steps));
    tr->rb = replay_new((size_t)cap, tr->obs_dim, tr->act_dim);
    replay_batch_init(&tr->batch, cfg->batch, tr->obs_dim, tr->act_dim);
    tr->agent = sac_new(cfg, tr->obs_dim, tr->act_dim, 1, 1);
    rng_init(&tr->act_rng, cfg->seed, RNG_STREAM_ACT);
    rng_init(&tr->upd_rng, cfg->seed, RNG_STREAM_UPDATE);
    return o->resume ? resume_run(tr, o, err, errlen) : 0;
}

static void trainer_close(trainer *tr)
{
    if (tr->csv && fclose(tr->csv))
        log_error("cannot close %s: %s", tr->csv_path, strerror(errno));
    sac_destroy(&tr->agent);
    if (tr->batch.m)
        replay_batch_release(&tr->batch);
    replay_destroy(&tr->rb);
    env_destroy(&tr->env);
    env_destroy(&tr->eval_env);
    free(tr->obs);
    free(tr->next_obs);
    free(tr->action);
}

/* Every setting as JSON on stdout (--describe-settings): {"modes": [...],
 * "settings": [{"name", "type", "value" (this command line's, as the config
 * file spells it), "choices", "min", "min_open", "max" (when declared),
 * "agent" (actors need it), "modes" (those that read it), "help"}, ...]},
 * in the config file's order. */
static int describe_settings(const hpo_config *c)
{
    json_t *modes = json_array(), *list = json_array();
    for (int m = 0; m <= MODE_SAC; m++)
        json_array_append_new(modes, json_string(mode_name(m)));
    for (int i = 0; i < config_settings_count(); i++) {
        config_setting s;
        config_setting_get(i, c, &s);
        json_t *o = json_object(), *read = json_array();
        json_object_set_new(o, "name", json_string(s.name));
        json_object_set_new(o, "type", json_string(s.type));
        json_object_set_new(o, "value", json_string(s.value));
        if (s.choices) {
            json_t *ch = json_array();
            for (int k = 0; s.choices[k]; k++)
                json_array_append_new(ch, json_string(s.choices[k]));
            json_object_set_new(o, "choices", ch);
        }
        if (s.ranged) {
            json_object_set_new(o, "min", json_real(s.min));
            json_object_set_new(o, "min_open", json_boolean(s.min_open));
            if (!isinf(s.max))
                json_object_set_new(o, "max", json_real(s.max));
        }
        json_object_set_new(o, "agent", json_boolean(s.agent));
        for (int m = 0; m <= MODE_SAC; m++)
            if (s.modes & 1u << m)
                json_array_append_new(read, json_string(mode_name(m)));
        json_object_set_new(o, "modes", read);
        json_object_set_new(o, "help", json_string(s.help));
        json_array_append_new(list, o);
    }
    json_t *root = json_object();
    json_object_set_new(root, "modes", modes);
    json_object_set_new(root, "settings", list);
    int rc = json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    printf("\n");
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    hpo_config cfg;
    options opt;
    int rc = parse_args(argc, argv, &cfg, &opt);
    if (rc)
        return rc > 0 ? 0 : rc == -2 ? 1 : 2;

    char err[1024];
    trainer tr;
    if (opt.describe)
        return describe_settings(&cfg);
    if (opt.describe_progress) {
        for (int c = 0; c < PROGRESS_COLS; c++)
            printf("%s%s", c ? "," : "", progress_column_name((progress_col)c));
        printf("\n");
        return 0;
    }
    if (opt.config_only) {
        if (trainer_open(&tr, &cfg, 1, NULL, err, sizeof err)) {
            fprintf(stderr, PROG ": %s\n", err);
            trainer_close(&tr);
            return 2;
        }
        snprintf(cfg.env, sizeof cfg.env, "%s", tr.env->cls->name);
        write_config(stdout, &cfg, tr.obs_dim, tr.act_dim);
        trainer_close(&tr);
        return 0;
    }

    char why[400];
    if (cfg.precision == PRECISION_BF16 &&
        !nn_bf16_available(why, sizeof why)) {
        fprintf(stderr, PROG ": --precision bf16: %s\n", why);
        return 2;
    }
    /* the canonical spelling names the run */
    const env_class *cls = env_find(cfg.env);
    if (!cls) {
        env *e = env_new(cfg.env, NULL, err, sizeof err);
        env_destroy(&e);
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    snprintf(cfg.env, sizeof cfg.env, "%s", cls->name);
    if (!opt.out[0])
        snprintf(opt.out, sizeof opt.out, "runs/%s-%s-s%llu", cfg.env,
                 mode_name(cfg.mode), (unsigned long long)cfg.seed);

    nn_set_threads(cfg.threads);
    if (trainer_open(&tr, &cfg, opt.quiet, &opt, err, sizeof err)) {
        log_error("%s", err);
        trainer_close(&tr);
        return 1;
    }
    if (!opt.quiet)
        log_info(
            "%s %s seed %llu: %ld steps (random until %ld), obs %d act %d, writing %s",
            cfg.env, mode_name(cfg.mode), (unsigned long long)cfg.seed,
            cfg.steps, cfg.learning_starts, tr.obs_dim, tr.act_dim, opt.out);

    stop_on_signals(1);

    tr.last_show = tr.show_t = now_s();
    tr.t_start = tr.last_show - tr.wall0; /* wall_s continues after a resume */
    rc = train(&tr, err, sizeof err);
    progress(&tr, 1);
    progress_break(&tr);
    log_flush_counts();
    if (rc < 0) {
        log_error("%s", err);
        trainer_close(&tr);
        return 1;
    }
    if (rc > 0)
        log_warn("interrupted at step %ld: saving weights and a checkpoint",
                 tr.t);
    if (checkpoint(&tr, err, sizeof err)) {
        log_error("%s", err);
        trainer_close(&tr);
        return 1;
    }

    char path[PATH_LEN];
    if (join(path, opt.out, "weights.bin", err, sizeof err) ||
        ckpt_weights_save(path, tr.agent, err, sizeof err)) {
        log_error("%s", err);
        trainer_close(&tr);
        return 1;
    }
    double wall = now_s() - tr.t_start;
    if (rc == 0)
        printf(
            "final eval_return=%.3f eval_std=%.3f env_steps=%ld updates=%ld wall_s=%.1f\n",
            tr.eval_mean, tr.eval_std, tr.t, tr.agent->updates, wall);
    trainer_close(&tr);
    if (fflush(stdout)) {
        log_error("cannot write stdout: %s", strerror(errno));
        return 1;
    }
    return rc > 0 ? 130 : 0;
}
