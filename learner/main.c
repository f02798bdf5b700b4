/*
 * main.c - hpo-learner: the command line, the poll loop and its timers, and
 * the updates; one file per stage of the data flow beside it (learner.h).
 *
 * One zmq_poll loop: drain the data ROUTER (handshakes, batches, heartbeats,
 * evaluation results), answer the status REP, run the timers (heartbeats,
 * dropping silent actors, credits, rates, progress.csv), then do one update
 * when learning has started and updates / env steps is below the replay
 * ratio. Credits keep env steps from running ahead of updates by more than a
 * small window, so the achieved ratio tracks the target. With --out the
 * run directory receives learner.log, config, progress.csv and checkpoints
 * (docs/checkpoint.md: every --checkpoint-every updates, at the end and on
 * SIGINT/SIGTERM); --resume continues from the newest one.
 *
 * Exit status: 0 done (the budget reached), 1 run-time failure (bind,
 * files, a failed final checkpoint or weights.bin, --max-rollbacks
 * reached), 2 bad command line, 130 stopped by SIGINT/SIGTERM (checkpoint
 * and weights.bin written first), as hpo-train.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <zmq.h>

#include "checkpoint.h"
#include "config.h"
#include "nn.h"
#include "curve.h"
#include "env.h"
#include "guard.h"
#include "learner.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define PROG "hpo-learner"
#define DRAIN_MAX 256 /* data messages handled per loop iteration */
#define CSV_EVERY_S 1.0
#define REPUBLISH_S 1.0     /* resend the snapshot to lagging actors */
#define METRICS_EVERY_S 0.5 /* copy the figures for the metrics endpoint */

// ---- command line ----

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " [--env NAME] [--port P] [--bind ADDR] [--out DIR] [options]\n"
        "\n"
        "Own the replay buffer, run SAC-HPO updates on what hpo-actor\n"
        "processes send, publish parameter snapshots, answer hpo-status.\n"
        "Sockets: data ROUTER on P, params XPUB on P+1, status REP on P+2.\n"
        "\n"
        "  --port P               base port (default 5550)\n"
        "  --bind ADDR            interface to bind: *, an IPv4 address or a host name\n"
        "                         (default *: all); other than 127.x it needs CurveZMQ\n"
        "                         keys (--curve-secret, --curve-allow) or --insecure\n"
        "  --replay-ratio R       updates per env step (default 1; 0: actors run free)\n"
        "  --publish-every N      updates between snapshots (default 100)\n"
        "  --batch-max N          transitions per batch at most (default 64)\n"
        "  --heartbeat-ms MS      heartbeat period (default 500)\n"
        "  --timeout-ms MS        drop actors silent this long (default 3000)\n"
        "  --max-updates N        stop after N updates (default 0: at --steps env steps)\n"
        "  --out DIR              write DIR/learner.log, DIR/config, DIR/progress.csv\n"
        "                         and checkpoints\n"
        "  --checkpoint-every N   updates between checkpoints in DIR (default 10000;\n"
        "                         0: none); one also at the end and on SIGINT/SIGTERM\n"
        "  --keep N               checkpoints kept (default 3)\n"
        "  --checkpoint-replay    checkpoints hold the replay buffer (or 0 or 1 after\n"
        "                         it; default off)\n"
        "  --resume DIR           continue the run in DIR from its newest checkpoint\n"
        "                         (a fresh run when there is none); --out DIR --resume\n"
        "                         says the same\n"
        "  --metrics-port PORT    serve Prometheus metrics at http://ADDR:PORT/metrics\n"
        "                         (default 0: off)\n"
        "  --metrics-bind ADDR    the metrics endpoint's address (default 127.0.0.1)\n"
        "  --curve-secret FILE    CurveZMQ on all three sockets with this key pair\n"
        "                         (hpo-keygen's .secret); needs --curve-allow\n"
        "  --curve-allow PATH     clients let in: a directory of *.public files or a\n"
        "                         file of 'public = KEY' lines\n"
        "  --insecure             bind beyond loopback without CurveZMQ keys (a private\n"
        "                         network every host on which you trust)\n"
        "  --io-threads N         ZeroMQ I/O threads (default 1); more spread the\n"
        "                         CurveZMQ encryption of many actors' connections\n"
        "  --max-abs-obs X        drop rows with an |observation| above X (default 1e6)\n"
        "  --max-abs-reward X     drop rows with a |reward| above X (default 1e6)\n"
        "  --max-peer-rows N      table rows one peer (CurveZMQ key, or address without\n"
        "                         keys) may hold, of 256 (default 64)\n"
        "  --max-rollbacks N      stop after N updates in a row rolled back for a\n"
        "                         non-finite loss or parameter (default 20)\n"
        "  --guard-sigma S        refuse rows whose reward or an observation lies more\n"
        "                         than S standard deviations outside the range of the\n"
        "                         other actors' data (default 50)\n"
        "  --guard-warmup N       rows of data before that guard judges (default 1000)\n"
        "  --guard-quarantine N   refused rows (decaying over ~1000 of its rows) that\n"
        "                         quarantine an actor: its rows evicted and refused\n"
        "                         (default 32)\n"
        "  --quiet                log warnings and errors only\n"
        "  --help                 this text\n"
        "\n"
        "Every setting (defaults, then the --env preset, then the other\n"
        "flags in order; --name VALUE or --name=VALUE):\n");
    config_usage(f);
}

/* The learner's options and flags (config_args_table); every other
 * --name is a setting. */
#define O(f) offsetof(learner_opts, f)
#define TEXT(name, f)                                                          \
    {                                                                          \
        name, OPT_TEXT, O(f), sizeof(((learner_opts *)0)->f), 0, 0, NULL       \
    }
static const opt_spec options[] = {
    {"port", OPT_INT, O(port), 0, 1, 65533, "--port needs 1..65533, not '%s'"},
    TEXT("bind", bind),
    {"replay-ratio", OPT_DOUBLE, O(replay_ratio), 0, 0, 1000,
     "--replay-ratio needs 0..1000, not '%s'"},
    {"publish-every", OPT_LONG, O(publish_every), 0, 1, (double)(1L << 40),
     "--publish-every needs a positive count, not '%s'"},
    {"batch-max", OPT_INT, O(batch_max), 0, 1, 65536,
     "--batch-max needs 1..65536, not '%s'"},
    {"heartbeat-ms", OPT_INT, O(heartbeat_ms), 0, 10, 600000,
     "--heartbeat-ms needs 10..600000, not '%s'"},
    {"timeout-ms", OPT_INT, O(timeout_ms), 0, 50, 3600000,
     "--timeout-ms needs 50..3600000, not '%s'"},
    {"max-updates", OPT_LONG, O(max_updates), 0, 0, (double)(1L << 50),
     "--max-updates needs a count, not '%s'"},
    TEXT("out", out),
    {"checkpoint-every", OPT_LONG, O(checkpoint_every), 0, 0,
     (double)(1L << 50), "--checkpoint-every needs a count, not '%s'"},
    {"keep", OPT_INT, O(keep), 0, 1, 1000, "--keep needs 1..1000, not '%s'"},
    {"checkpoint-replay", OPT_INT, O(checkpoint_replay), 0, 0, 1,
     "--checkpoint-replay needs 0 or 1, not '%s'"},
    TEXT("resume", resume_dir),
    {"metrics-port", OPT_INT, O(metrics_port), 0, 0, 65535,
     "--metrics-port needs 0..65535, not '%s'"},
    TEXT("metrics-bind", metrics_bind),
    TEXT("curve-secret", curve_secret),
    TEXT("curve-allow", curve_allow),
    {"io-threads", OPT_INT, O(io_threads), 0, 1, 64,
     "--io-threads needs 1..64, not '%s'"},
    {"max-abs-obs", OPT_DOUBLE, O(max_abs_obs), 0, FLT_MIN, FLT_MAX,
     "--max-abs-obs needs a magnitude in (0, 3.4e38], not '%s'"},
    {"max-abs-reward", OPT_DOUBLE, O(max_abs_reward), 0, FLT_MIN, FLT_MAX,
     "--max-abs-reward needs a magnitude in (0, 3.4e38], not '%s'"},
    {"max-rollbacks", OPT_INT, O(max_rollbacks), 0, 1, 1000000,
     "--max-rollbacks needs 1..1000000, not '%s'"},
    {"max-peer-rows", OPT_INT, O(max_peer_rows), 0, 1, LEARNER_MAX_ACTORS,
     "--max-peer-rows needs 1..256, not '%s'"},
    {"guard-sigma", OPT_DOUBLE, O(guard_sigma), 0, 1, 1e30,
     "--guard-sigma needs 1..1e30 standard deviations, not '%s'"},
    {"guard-warmup", OPT_LONG, O(guard_warmup), 0, 1, (double)(1L << 50),
     "--guard-warmup needs a positive row count, not '%s'"},
    {"guard-quarantine", OPT_DOUBLE, O(guard_quarantine), 0, 1, 1e15,
     "--guard-quarantine needs a count of at least 1, not '%s'"},
    {"quiet", OPT_FLAG, O(quiet), 0, 0, 0, NULL},
    {"insecure", OPT_FLAG, O(insecure), 0, 0, 0, NULL},
    {"resume-out", OPT_FLAG, O(resume), 0, 0, 0, NULL}, /* a bare --resume */
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef TEXT
#undef O

/* "*", a numeric IPv4 address, or a host name resolved (getaddrinfo, IPv4)
 * to its first address, in place. Returns 0, or -1 with the message. */
static int resolve_bind(const char *flag, char *addr, size_t cap, char *err,
                        size_t errlen)
{
    struct in_addr ip;
    if (!strcmp(addr, "*") || inet_pton(AF_INET, addr, &ip) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET}, *res = NULL;
    int rc = getaddrinfo(addr, NULL, &hints, &res);
    if (rc || !res) {
        errf(err, errlen, "%s: cannot resolve '%s': %s", flag, addr,
             rc ? gai_strerror(rc) : "no IPv4 address");
        return -1;
    }
    char num[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, num,
              sizeof num);
    freeaddrinfo(res);
    snprintf(addr, cap, "%s", num);
    return 0;
}

/* 1 when the resolved --bind address is a loopback one (127.0.0.0/8). */
static int loopback(const char *addr)
{
    struct in_addr ip;
    return strcmp(addr, "*") && inet_pton(AF_INET, addr, &ip) == 1 &&
           (ntohl(ip.s_addr) >> 24) == 127;
}

/* The replay buffer must fit the memory available now. Returns 0, or -1
 * with the figures. */
static int check_memory(const hpo_config *c, char *err, size_t errlen)
{
    const env_class *cls = env_find(c->env);
    if (!cls)
        return 0; /* main reports the environment */
    double row =
        ((double)(2 * cls->obs_dim + cls->act_dim) + 2.0) * sizeof(float);
    return mem_check("--buffer", c->buffer,
                     row * (double)HPO_MAX(1L, c->buffer), "the replay buffer",
                     err, errlen);
}

/* The learner's options, then the settings; the checks across flags.
 * Returns 0, or -1 with the message in err. */
static int apply_args(const config_args *a, hpo_config *c, learner_opts *o,
                      char *err, size_t errlen)
{
    if (config_args_resolve(a, NULL, c, err, errlen))
        return -1;
    if (resolve_bind("--bind", o->bind, sizeof o->bind, err, errlen) ||
        resolve_bind("--metrics-bind", o->metrics_bind, sizeof o->metrics_bind,
                     err, errlen) ||
        check_memory(c, err, errlen))
        return -1;
    if (o->resume_dir[0]) {
        if (o->out[0] && strcmp(o->out, o->resume_dir)) {
            errf(err, errlen,
                 "--out %s and --resume %s name two run directories: give one",
                 o->out, o->resume_dir);
            return -1;
        }
        snprintf(o->out, sizeof o->out, "%s", o->resume_dir);
        o->resume = 1;
    }
    if (o->resume && !o->out[0]) {
        errf(err, errlen, "--resume needs the run directory: --resume DIR");
        return -1;
    }
    if (!o->curve_secret[0] != !o->curve_allow[0]) {
        errf(err, errlen, "--curve-secret and --curve-allow go together");
        return -1;
    }
    if (!o->curve_secret[0] && !o->insecure && !loopback(o->bind)) {
        errf(
            err, errlen,
            "--bind %s reaches other machines and no CurveZMQ keys are given: any peer that reaches ports %d-%d could send transitions, read the parameters and the status. Make keys (hpo-keygen learner actor) and give --curve-secret learner.secret --curve-allow actor.public here, --curve-server learner.public --curve-key actor.secret to the actors and hpo-status; or --bind 127.0.0.1 for a run on this machine; or --insecure on a private network whose every host you trust",
            strcmp(o->bind, "*") ? o->bind : "* (all interfaces)", o->port,
            o->port + 2);
        return -1;
    }
    return 0;
}

/* Defaults, the preset of the last --env, then every other flag in order.
 * Returns 0, 1 after --help, -1 after printing the error. */
static int parse_args(int argc, char **argv, hpo_config *c, learner_opts *o)
{
    config_args a;
    char err[1024];

    memset(o, 0, sizeof *o);
    snprintf(o->bind, sizeof o->bind, "*");
    o->port = 5550;
    o->replay_ratio = 1.0;
    o->publish_every = 100;
    o->batch_max = 64;
    o->heartbeat_ms = 500;
    o->timeout_ms = 3000;
    o->checkpoint_every = 10000;
    o->keep = 3;
    snprintf(o->metrics_bind, sizeof o->metrics_bind, "127.0.0.1");
    o->max_abs_obs = 1e6;
    o->max_abs_reward = 1e6;
    o->max_rollbacks = 20;
    o->max_peer_rows = LEARNER_MAX_PEER_ROWS;
    o->guard_sigma = 50;
    o->guard_warmup = 1000;
    o->guard_quarantine = 32;
    /* one vocabulary with hpo-train: --resume DIR or --out DIR --resume,
     * --checkpoint-replay alone or with 0 or 1 */
    int n2;
    char **v2 = config_args_run_spellings(argc, argv, &n2);
    int rc = config_args_table(&a, n2, v2, options, 1, 0, o, err, sizeof err);
    if (rc > 0)
        usage(stdout);
    else if (rc < 0 || apply_args(&a, c, o, err, sizeof err))
        rc = usage_error(PROG, "%s", err);
    config_args_release(&a);
    free(v2);
    return rc;
}

// ---- timers and updates ----

/* The progress line into the log (every LEARNER_PROGRESS_S, at an
 * evaluation mark LEARNER_PROGRESS_MARK_S after the last one, and at the
 * end). */
static void progress_log(learner *l)
{
    char line[512];
    learner_progress_line(l, line, sizeof line);
    log_info("%s", line);
    l->last_progress = now_s();
}

static void timers(learner *l)
{
    double now = now_s();
    learner_actors_tick(l, now);
    if (now - l->rate_t >= LEARNER_RATE_WINDOW_S) {
        double dt = now - l->rate_t;
        l->steps_per_s = (double)(l->env_steps - l->rate_steps) / dt;
        l->updates_per_s = (double)(l->updates - l->rate_updates) / dt;
        if (l->env_steps > l->rate_steps && l->updates > 0)
            l->ratio_recent = (double)(l->updates - l->rate_updates) /
                              (double)(l->env_steps - l->rate_steps);
        l->rate_t = now;
        l->rate_steps = l->env_steps;
        l->rate_updates = l->updates;
    }
    if (now - l->last_publish >= REPUBLISH_S) {
        for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
            if (l->actors[i].used &&
                l->actors[i].param_version < l->param_version) {
                learner_republish(l);
                break;
            }
    }
    if (l->metrics && now - l->last_metrics >= METRICS_EVERY_S) {
        static learner_figures f; /* one loop thread */
        learner_figures_fill(&f, l);
        metrics_update(l->metrics, &f);
        l->last_metrics = now;
    }
    if (now - l->last_csv >= CSV_EVERY_S) {
        learner_csv_row(l);
        l->last_csv = now;
    }
    if (now - l->last_progress >= LEARNER_PROGRESS_S)
        progress_log(l);
    learner_grant_credits(l);
}

static int may_update(learner *l)
{
    uint64_t ls = (uint64_t)l->cfg.learning_starts;
    size_t rows = replay_size(l->rb);
    if (l->env_steps < ls || rows == 0 || rows < l->fresh_rows)
        return 0;
    if (l->fresh_rows) {
        log_info(
            "updates resume: %zu fresh replay rows after the resume (updates %ld)",
            rows, l->updates);
        l->fresh_rows = 0;
    }
    if (l->opt.replay_ratio <= 0.0)
        return 1;
    return (double)l->updates <
           l->opt.replay_ratio * ((double)l->env_steps - l->ratio_origin);
}

/* 1 when every float of x (n) is finite. */
/*
 * One update, kept only when its losses and the whole learned state are
 * finite: the state (sac_state_save: networks, targets, Adam, temperature,
 * step counts) is copied before it and restored after a non-finite one
 * (counted; the update counter does not move). --max-rollbacks in a row
 * stop the run with the reason.
 */
static void update(learner *l)
{
    sac *s = l->agent;
    sac_state_save(s, l->keep);
    replay_sample(l->rb, &l->upd_rng, &l->batch);
    sac_update(s, &l->batch, &l->upd_rng, &l->last);
    float st[2] = {l->last.q_loss, l->last.pi_loss};
    if (!floats_finite(st, 2) || !sac_state_finite(s)) {
        sac_state_restore(s, l->keep);
        l->guards[GUARD_ROLLBACK]++;
        l->rollbacks_run++;
        log_warn_once(
            "rollback",
            "update %ld: a non-finite loss (q %g, pi %g) or parameter: rolled back; later ones are counted (status: guards.rollback)",
            l->updates + 1, (double)l->last.q_loss, (double)l->last.pi_loss);
        learner_trip(l, TRIP_HARD, "an update rolled back");
        /* the rows that broke it leave the replay buffer, so the next
         * update does not meet them again */
        if (learner_trust_rollback(l) && replay_size(l->rb) > 0)
            l->rollbacks_run = 0;
        if (l->rollbacks_run >= l->opt.max_rollbacks)
            snprintf(
                l->stop_reason, sizeof l->stop_reason,
                "%d updates in a row rolled back for non-finite losses or parameters (--max-rollbacks %d): the replay buffer holds data the networks cannot fit; check the actors' observations and rewards, or lower --max-abs-obs and --max-abs-reward",
                l->rollbacks_run, l->opt.max_rollbacks);
        return;
    }
    l->rollbacks_run = 0;
    l->updates++;
    if (l->updates - l->snap_updates >= l->opt.publish_every)
        learner_publish(l);
    if (l->opt.checkpoint_every > 0 &&
        l->updates % l->opt.checkpoint_every == 0)
        learner_checkpoint(l);
}

/* CurveZMQ on the three sockets: the key pair, the allow list, the ZAP
 * handler that checks clients against it (before any bind). */
static int curve_open(learner *l, char *err, size_t errlen)
{
    curve_pair k;
    if (curve_read(l->opt.curve_secret, 1, &k, err, errlen))
        return -1;
    l->allow = xcalloc(1, sizeof *l->allow);
    int n = curve_allow_load(l->opt.curve_allow, l->allow, err, errlen);
    if (n < 0)
        return -1;
    l->zap = curve_zap_open(l->zctx, err, errlen);
    if (!l->zap || curve_server(l->data, &k, err, errlen) ||
        curve_server(l->params, &k, err, errlen) ||
        curve_server(l->status, &k, err, errlen))
        return -1;
    log_info("CurveZMQ: server key %s, %d allowed client keys from %s", k.pub,
             n, l->opt.curve_allow);
    return 0;
}

/* Answer the ZAP requests waiting (CurveZMQ handshakes). */
static void zap_all(learner *l)
{
    char who[128];
    int r;
    while (l->zap &&
           (r = curve_zap_handle(l->zap, l->allow, who, sizeof who)) > 0) {
        if (r == 2) {
            l->refused_keys++;
            log_warn_once(
                "refused key",
                "refused a CurveZMQ client: key %s not on the allow list; later ones are counted (status: refused_keys)",
                who);
        }
    }
}

/* A new evaluation mark when env steps reached the next multiple of
 * eval-every: a snapshot that stands for it goes out now. */
static void marks(learner *l)
{
    if (l->cfg.eval_every <= 0)
        return;
    uint64_t e = (uint64_t)l->cfg.eval_every;
    uint64_t m = l->env_steps / e * e;
    if (l->cfg.steps > 0)
        m = HPO_MIN(m, (uint64_t)l->cfg.steps);
    if (m > l->eval_mark) {
        l->eval_mark = m;
        learner_publish(l);
        if (now_s() - l->last_progress >= LEARNER_PROGRESS_MARK_S)
            progress_log(l); /* not more often: a small eval-every */
    }
}

/* One poll (timeout_ms) and what came in: handshakes, subscriptions, data,
 * status, timers. Returns 0, or -1 when zmq_poll failed. */
static int poll_once(learner *l, int timeout_ms)
{
    zmq_pollitem_t items[4] = {
        {l->data, 0, ZMQ_POLLIN, 0},
        {l->status, 0, ZMQ_POLLIN, 0},
        {l->params, 0, ZMQ_POLLIN, 0},
        {l->zap, 0, ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, l->zap ? 4 : 3, timeout_ms) < 0) {
        if (errno == EINTR)
            return 0;
        log_error("zmq_poll: %s", zmq_strerror(errno));
        return -1;
    }
    zap_all(l);
    learner_subscriptions(l);
    for (int k = 0; k < DRAIN_MAX && learner_data_one(l); k++)
        ;
    learner_status_one(l);
    timers(l);
    return 0;
}

static int eval_actor_connected(const learner *l)
{
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
        if (l->actors[i].used && l->actors[i].role == WIRE_ROLE_EVAL)
            return 1;
    return 0;
}

/*
 * At the budget, as hpo-train evaluates at its end: the final mark (the
 * step budget, or the env steps reached at --max-updates) in a last
 * snapshot, and up to LEARNER_FINAL_EVAL_S for the evaluation actor's
 * result (no update, batches ignored). No wait without an evaluation
 * actor, nor after a signal.
 */
static void final_eval(learner *l)
{
    uint64_t mark = l->cfg.steps > 0 && l->env_steps >= (uint64_t)l->cfg.steps
                        ? (uint64_t)l->cfg.steps
                        : l->env_steps;
    if (mark > l->eval_mark)
        l->eval_mark = mark;
    learner_publish(l);
    if (!eval_actor_connected(l) || l->eval_written >= l->eval_mark)
        return;
    l->finishing = 1;
    log_info("waiting up to %.0f s for the evaluation at %llu env steps",
             LEARNER_FINAL_EVAL_S, (unsigned long long)l->eval_mark);
    double t0 = now_s();
    while (!stop_requested() && l->eval_written < l->eval_mark &&
           now_s() - t0 < LEARNER_FINAL_EVAL_S && eval_actor_connected(l))
        if (poll_once(l, 10))
            return;
    if (l->eval_written < l->eval_mark)
        log_warn(
            "no evaluation at %llu env steps came in (%.0f s, evaluation actor %s): progress.csv's last evaluation row is at %llu",
            (unsigned long long)l->eval_mark, now_s() - t0,
            eval_actor_connected(l) ? "connected" : "gone",
            (unsigned long long)l->eval_written);
}

static int run(learner *l)
{
    while (!stop_requested()) {
        if (poll_once(l, may_update(l) ? 0 : 10))
            return -1;
        marks(l);
        if (may_update(l))
            update(l);
        if (l->stop_reason[0]) {
            log_error("stopping: %s", l->stop_reason);
            return -1;
        }
        if ((l->opt.max_updates > 0 && l->updates >= l->opt.max_updates) ||
            (l->cfg.steps > 0 && l->env_steps >= (uint64_t)l->cfg.steps)) {
            log_info("budget reached: %ld updates, %llu env steps", l->updates,
                     (unsigned long long)l->env_steps);
            final_eval(l);
            break;
        }
    }
    return 0;
}

// ---- setup ----

static int bind_one(void *sock, const char *addr, int port, char *err,
                    size_t errlen)
{
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://%s:%d", addr, port);
    if (zmq_bind(sock, ep) < 0) {
        errf(err, errlen, "cannot bind %s: %s", ep, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

static void make_run_id(learner *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
    rng r;
    rng_init(&r, (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32), 99);
    snprintf(l->run_id, sizeof l->run_id, "%.24s-%s-%06llx", l->cfg.env, when,
             (unsigned long long)(rng_u64(&r) & 0xffffff));
}

static int learner_open(learner *l, const hpo_config *cfg,
                        const learner_opts *o, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    l->ratio_origin = (double)cfg->learning_starts;
    l->opt = *o;
    l->eval_mean = NAN;
    l->eval_std = NAN;
    l->ratio_recent = NAN;
    l->steps_per_s = l->updates_per_s = 0.0;
    const env_class *cls = env_find(cfg->env);
    HPO_ASSERT(cls);
    snprintf(l->cfg.env, sizeof l->cfg.env, "%s", cls->name);
    l->obs_dim = cls->obs_dim;
    l->act_dim = cls->act_dim;
    make_run_id(l);

    /* a batch must fit the wire's limit */
    size_t row = ((size_t)(2 * l->obs_dim + l->act_dim + 1) * 4 + 2) + 16;
    size_t bmax = (WIRE_MAX_DATA - 4096) / row;
    if ((size_t)l->opt.batch_max > bmax)
        l->opt.batch_max = (int)bmax;

    if (o->out[0] && learner_files_open(l, err, errlen))
        return -1;

    l->agent = sac_new(&l->cfg, l->obs_dim, l->act_dim, 1, 1);
    l->keep = xmalloc(sac_state_bytes(l->agent));
    l->rb =
        replay_new((size_t)HPO_MAX(1L, cfg->buffer), l->obs_dim, l->act_dim);
    l->guard = guard_new(l->obs_dim, o->guard_sigma, o->guard_warmup,
                         o->guard_quarantine);
    replay_batch_init(&l->batch, cfg->batch, l->obs_dim, l->act_dim);
    rng_init(&l->upd_rng, cfg->seed, RNG_STREAM_UPDATE);
    wire_msg_init(&l->in, WIRE_NONE);
    l->expect.obs_dim = l->obs_dim;
    l->expect.act_dim = l->act_dim;

    l->zctx = zmq_ctx_new();
    if (o->io_threads > 1 &&
        zmq_ctx_set(l->zctx, ZMQ_IO_THREADS, o->io_threads)) {
        errf(err, errlen, "cannot set %d ZeroMQ I/O threads: %s", o->io_threads,
             zmq_strerror(errno));
        return -1;
    }
    l->data = zmq_socket(l->zctx, ZMQ_ROUTER);
    l->params = zmq_socket(l->zctx, ZMQ_XPUB);
    l->status = zmq_socket(l->zctx, ZMQ_REP);
    if (o->curve_secret[0] && curve_open(l, err, errlen))
        return -1;
    /* data: the largest valid message (a batch or an evaluation) and a
     * short queue per connection; params: subscriptions are one byte and
     * applied by hand (learner_subscriptions), the cap leaves room for the
     * CurveZMQ handshake (LEARNER_PARAMS_MAXMSG) */
    int64_t maxmsg =
        (int64_t)HPO_MAX(wire_limit(WIRE_BATCH), wire_limit(WIRE_EVAL));
    int64_t maxctl = WIRE_MAX_CONTROL, maxsub = LEARNER_PARAMS_MAXMSG;
    int zero = 0, one = 1, hwm = 4, rcvhwm = LEARNER_DATA_RCVHWM;
    zmq_setsockopt(l->data, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(l->data, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(l->params, ZMQ_MAXMSGSIZE, &maxsub, sizeof maxsub);
    if (learner_params_watch(l, err, errlen))
        return -1;
    zmq_setsockopt(l->params, ZMQ_XPUB_MANUAL, &one, sizeof one);
    zmq_setsockopt(l->status, ZMQ_MAXMSGSIZE, &maxctl, sizeof maxctl);
    zmq_setsockopt(l->params, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(l->data, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(l->params, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(l->status, ZMQ_LINGER, &zero, sizeof zero);
    if (bind_one(l->data, o->bind, o->port, err, errlen) ||
        bind_one(l->params, o->bind, o->port + 1, err, errlen) ||
        bind_one(l->status, o->bind, o->port + 2, err, errlen))
        return -1;
    l->t_start = l->rate_t = l->last_csv = l->last_progress = now_s();
    if (o->resume && learner_resume(l, err, errlen))
        return -1;
    learner_publish(l);
    if (o->metrics_port) {
        l->metrics = metrics_new(o->metrics_bind, o->metrics_port, err, errlen);
        if (!l->metrics)
            return -1;
        static learner_figures f;
        learner_figures_fill(&f, l);
        metrics_update(l->metrics, &f);
        l->last_metrics = now_s();
        log_info("metrics: http://%s:%d/metrics", o->metrics_bind,
                 o->metrics_port);
    }
    log_info("snapshot: %zu bytes (policy %zu + critics %zu floats)",
             l->snap_len, l->agent->nets.pol_n, l->agent->nets.q_n);
    return 0;
}

static void learner_close(learner *l)
{
    metrics_destroy(&l->metrics); /* first: its thread is joined */
    if (l->data)
        zmq_close(l->data);
    if (l->params)
        zmq_close(l->params);
    learner_params_unwatch(l);
    if (l->status)
        zmq_close(l->status);
    if (l->zap)
        zmq_close(l->zap);
    free(l->allow);
    if (l->zctx)
        zmq_ctx_term(l->zctx);
    sac_destroy(&l->agent);
    if (l->batch.m)
        replay_batch_release(&l->batch);
    replay_destroy(&l->rb);
    guard_destroy(&l->guard);
    free(l->row_ok);
    free(l->row_z);
    wire_msg_release(&l->in);
    msgbuf_release(&l->enc);
    free(l->snap);
    free(l->keep);
    if (l->csv)
        fclose(l->csv);
    log_set_file(NULL);
    if (l->log_file)
        fclose(l->log_file);
}

int main(int argc, char **argv)
{
    hpo_config cfg;
    learner_opts opt;
    int rc = parse_args(argc, argv, &cfg, &opt);
    if (rc)
        return rc > 0 ? 0 : 2;
    char err[1024];
    if (!env_find(cfg.env)) {
        env *e = env_new(cfg.env, NULL, err, sizeof err);
        env_destroy(&e);
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    char why[400];
    if (cfg.precision == PRECISION_BF16 &&
        !nn_bf16_available(why, sizeof why)) {
        fprintf(stderr, PROG ": --precision bf16: %s\n", why);
        return 2;
    }
    if (opt.quiet)
        log_set_level(LOG_WARN);
    nn_set_threads(cfg.threads);

    static learner l;
    if (learner_open(&l, &cfg, &opt, err, sizeof err)) {
        log_error("%s", err);
        learner_close(&l);
        return 1;
    }
    stop_on_signals(0);

    log_info(
        "run %s: %s %s, obs %d act %d, data tcp://%s:%d, params :%d, status :%d, replay ratio %g",
        l.run_id, l.cfg.env, mode_name(l.cfg.mode), l.obs_dim, l.act_dim,
        opt.bind, opt.port, opt.port + 1, opt.port + 2, opt.replay_ratio);
    rc = run(&l);
    if (learner_checkpoint(&l)) {
        log_error("the final checkpoint failed: exit status 1");
        rc = -1;
    }
    if (learner_weights(&l))
        rc = -1;
    learner_csv_row(&l);
    log_info(
        "data guards: %llu rows refused beyond --guard-sigma %g, %d actors quarantined, %llu replay rows removed; the largest distance outside the other actors' range taken past the warm-up was %.3g standard deviations",
        (unsigned long long)l.guards[GUARD_ROW_SCALE], l.opt.guard_sigma,
        l.guard->n_quarantined, (unsigned long long)l.rows_removed,
        l.guard->max_z_taken);
    progress_log(&l);
    log_info("stopped%s: %llu env steps, %ld updates, replay ratio %.3f",
             stop_requested() ? " by a signal" : "",
             (unsigned long long)l.env_steps, l.updates, learner_ratio(&l));
    log_flush_counts();
    learner_close(&l);
    return rc ? 1 : stop_requested() ? 130 : 0;
}
