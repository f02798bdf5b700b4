/*
 * learner.c - hpo-learner: the replay buffer, the SAC-HPO updates and the
 * sockets of the distributed run (docs/protocol.md, docs/status.md).
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
 * Exit status: 0 done or stopped by SIGINT/SIGTERM, 1 run-time failure
 * (bind, files), 2 bad command line.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "checkpoint.h"
#include "config.h"
#include "curve.h"
#include "env.h"
#include "learner.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* OpenBLAS extension; declared here so a cblas.h without it still builds. */
void openblas_set_num_threads(int);

#define PROG "hpo-learner"
#define DRAIN_MAX 256          /* data messages handled per loop iteration */
#define RATE_WINDOW_S 2.0
#define CSV_EVERY_S 1.0
#define REPUBLISH_S 1.0        /* resend the snapshot to lagging actors */
#define METRICS_EVERY_S 0.5    /* copy the figures for the metrics endpoint */

// ---- command line ----

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [--env NAME] [--port P] [--bind ADDR] "
            "[--out DIR] [options]\n"
            "\n"
            "Own the replay buffer, run SAC-HPO updates on what hpo-actor\n"
            "processes send, publish parameter snapshots, answer hpo-status.\n"
            "Sockets: data ROUTER on P, params PUB on P+1, status REP on P+2.\n"
            "\n"
            "  --port P               base port (default 5550)\n"
            "  --bind ADDR            interface to bind (default *: all)\n"
            "  --replay-ratio R       updates per env step (default 1; 0: "
            "actors run free)\n"
            "  --publish-every N      updates between snapshots (default "
            "100)\n"
            "  --batch-max N          transitions per batch at most (default "
            "64)\n"
            "  --heartbeat-ms MS      heartbeat period (default 500)\n"
            "  --timeout-ms MS        drop actors silent this long (default "
            "3000)\n"
            "  --max-updates N        stop after N updates (default 0: at "
            "--steps env steps)\n"
            "  --out DIR              write DIR/learner.log, DIR/config, "
            "DIR/progress.csv\n"
            "                         and checkpoints\n"
            "  --checkpoint-every N   updates between checkpoints in DIR "
            "(default 10000;\n"
            "                         0: none); one also at the end and on "
            "SIGINT/SIGTERM\n"
            "  --keep N               checkpoints kept (default 2)\n"
            "  --checkpoint-replay B  1: checkpoints hold the replay buffer "
            "(default 0)\n"
            "  --resume               continue from DIR's newest checkpoint "
            "(a fresh run\n"
            "                         when there is none)\n"
            "  --metrics-port PORT    serve Prometheus metrics at "
            "http://ADDR:PORT/metrics\n"
            "                         (default 0: off)\n"
            "  --curve-secret FILE    CurveZMQ on all three sockets with this "
            "key pair\n"
            "                         (hpo-keygen's .secret); needs "
            "--curve-allow\n"
            "  --curve-allow PATH     clients let in: a directory of *.public "
            "files or a\n"
            "                         file of 'public = KEY' lines\n"
            "  --io-threads N         ZeroMQ I/O threads (default 1); more "
            "spread the\n"
            "                         CurveZMQ encryption of many actors' "
            "connections\n"
            "  --quiet                log warnings and errors only\n"
            "  --help                 this text\n"
            "\n"
            "Every setting (defaults, then the --env preset, then the other\n"
            "flags in order; --name VALUE or --name=VALUE):\n");
    config_usage(f);
}

/* fmt with value into err; returns -1. */
static int bad_value(char *err, size_t errlen, const char *fmt,
                     const char *value)
{
    errf(err, errlen, fmt, value);
    return -1;
}

/* A learner option (not a config field). Returns 1 when name is one, 0 when
 * not, -1 with a bad value's message in err. */
static int set_option(learner_opts *o, const char *name, const char *value,
                      char *err, size_t errlen)
{
    long v;
    if (!strcmp(name, "port")) {
        if (parse_long(value, 1, 65533, &v))
            return bad_value(err, errlen,
                             "--port needs 1..65533, not '%s'", value);
        o->port = (int)v;
    } else if (!strcmp(name, "bind")) {
        if (strlen(value) >= sizeof o->bind)
            return bad_value(err, errlen, "--bind too long: '%s'", value);
        snprintf(o->bind, sizeof o->bind, "%s", value);
    } else if (!strcmp(name, "replay-ratio")) {
        char *end;
        double r = strtod(value, &end);
        if (end == value || *end || !(r >= 0.0 && r <= 1000.0))
            return bad_value(err, errlen,
                             "--replay-ratio needs 0..1000, not '%s'", value);
        o->replay_ratio = r;
    } else if (!strcmp(name, "publish-every")) {
        if (parse_long(value, 1, 1L << 40, &v))
            return bad_value(err, errlen,
                             "--publish-every needs a positive count, not '%s'",
                             value);
        o->publish_every = v;
    } else if (!strcmp(name, "batch-max")) {
        if (parse_long(value, 1, 65536, &v))
            return bad_value(err, errlen,
                             "--batch-max needs 1..65536, not '%s'", value);
        o->batch_max = (int)v;
    } else if (!strcmp(name, "heartbeat-ms")) {
        if (parse_long(value, 10, 600000, &v))
            return bad_value(err, errlen,
                             "--heartbeat-ms needs 10..600000, not '%s'",
                             value);
        o->heartbeat_ms = (int)v;
    } else if (!strcmp(name, "timeout-ms")) {
        if (parse_long(value, 50, 3600000, &v))
            return bad_value(err, errlen,
                             "--timeout-ms needs 50..3600000, not '%s'", value);
        o->timeout_ms = (int)v;
    } else if (!strcmp(name, "max-updates")) {
        if (parse_long(value, 0, 1L << 50, &v))
            return bad_value(err, errlen,
                             "--max-updates needs a count, not '%s'", value);
        o->max_updates = v;
    } else if (!strcmp(name, "checkpoint-every")) {
        if (parse_long(value, 0, 1L << 50, &v))
            return bad_value(err, errlen,
                             "--checkpoint-every needs a count, not '%s'",
                             value);
        o->checkpoint_every = v;
    } else if (!strcmp(name, "keep")) {
        if (parse_long(value, 1, 1000, &v))
            return bad_value(err, errlen,
                             "--keep needs 1..1000, not '%s'", value);
        o->keep = (int)v;
    } else if (!strcmp(name, "checkpoint-replay")) {
        if (parse_long(value, 0, 1, &v))
            return bad_value(err, errlen,
                             "--checkpoint-replay needs 0 or 1, not '%s'",
                             value);
        o->checkpoint_replay = (int)v;
    } else if (!strcmp(name, "io-threads")) {
        if (parse_long(value, 1, 64, &v))
            return bad_value(err, errlen,
                             "--io-threads needs 1..64, not '%s'", value);
        o->io_threads = (int)v;
    } else if (!strcmp(name, "metrics-port")) {
        if (parse_long(value, 0, 65535, &v))
            return bad_value(err, errlen,
                             "--metrics-port needs 0..65535, not '%s'", value);
        o->metrics_port = (int)v;
    } else if (!strcmp(name, "curve-secret") || !strcmp(name, "curve-allow")) {
        char *dst = strcmp(name, "curve-secret") ? o->curve_allow : o->curve_secret;
        if (!value[0] || strlen(value) >= sizeof o->curve_secret)
            return bad_value(err, errlen,
                             "--curve-* needs a path, not '%s'", value);
        snprintf(dst, sizeof o->curve_secret, "%s", value);
    } else if (!strcmp(name, "out")) {
        if (strlen(value) >= sizeof o->out)
            return bad_value(err, errlen, "--out path too long: '%s'", value);
        snprintf(o->out, sizeof o->out, "%s", value);
    } else {
        return 0;
    }
    return 1;
}

/* The learner's options (set_option) and boolean flags, for
 * config_args_parse. */
static const char *const own_options[] = {
    "port", "bind", "replay-ratio", "publish-every", "batch-max",
    "heartbeat-ms", "timeout-ms", "max-updates", "out", "checkpoint-every",
    "keep", "checkpoint-replay", "metrics-port", "curve-secret",
    "curve-allow", "io-threads", NULL};
enum { FLAG_QUIET, FLAG_RESUME };
static const char *const own_flags[] = {[FLAG_QUIET] = "quiet",
                                        [FLAG_RESUME] = "resume", NULL};

/* The learner's options, then the settings; the checks across flags.
 * Returns 0, or -1 with the message in err. */
static int apply_args(const config_args *a, hpo_config *c, learner_opts *o,
                      char *err, size_t errlen)
{
    o->quiet = !!(a->flags & 1u << FLAG_QUIET);
    o->resume = !!(a->flags & 1u << FLAG_RESUME);
    for (int i = 0; i < a->n; i++)
        if (set_option(o, a->names[i], a->values[i], err, errlen) < 0)
            return -1;
    if (config_args_resolve(a, NULL, c, err, errlen))
        return -1;
    if (o->resume && !o->out[0]) {
        errf(err, errlen, "--resume needs --out DIR");
        return -1;
    }
    if (!o->curve_secret[0] != !o->curve_allow[0]) {
        errf(err, errlen, "--curve-secret and --curve-allow go together");
        return -1;
    }
    return 0;
}

/* Defaults, the preset of the last --env, then every other flag in order.
 * Returns 0, 1 after --help, -1 after printing the error. */
static int parse_args(int argc, char **argv, hpo_config *c, learner_opts *o)
{
    config_args a;
    char err[256];

    memset(o, 0, sizeof *o);
    snprintf(o->bind, sizeof o->bind, "*");
    o->port = 5550;
    o->replay_ratio = 1.0;
    o->publish_every = 100;
    o->batch_max = 64;
    o->heartbeat_ms = 500;
    o->timeout_ms = 3000;
    o->checkpoint_every = 10000;
    o->keep = 2;
    int rc = config_args_parse(&a, argc, argv, own_options, own_flags, err,
                               sizeof err);
    if (rc > 0)
        usage(stdout);
    else if (rc < 0 || apply_args(&a, c, o, err, sizeof err))
        rc = usage_error(PROG, "%s", err);
    config_args_release(&a);
    return rc;
}

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

static void csv_row(learner *l)
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

// ---- sending ----

/* Encode m into l->enc. Returns the length, 0 when it cannot be encoded. */
static size_t encode(learner *l, const wire_msg *m)
{
    size_t need = wire_size(m);
    if (need > l->enc_cap) {
        l->enc = xrealloc(l->enc, need);
        l->enc_cap = need;
    }
    return wire_encode(m, l->enc, l->enc_cap);
}

static void send_to(learner *l, learner_actor *a, const wire_msg *m)
{
    size_t len = encode(l, m);
    if (!len) {
        log_warn_once("encode", "cannot encode a %s message",
                      wire_type_name(m->type));
        return;
    }
    if (zmq_send(l->data, a->rid, a->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(l->data, l->enc, len, ZMQ_DONTWAIT) < 0) {
        log_warn_once("send", "cannot send to actor %s: %s", a->id,
                      zmq_strerror(errno));
        return;
    }
    a->last_sent = now_s();
}

/* A Refuse to routing id rid, without an actor entry. */
static void refuse(learner *l, const void *rid, size_t rid_len,
                   const char *reason)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_REFUSE);
    snprintf(m.refuse.reason, sizeof m.refuse.reason, "%s", reason);
    size_t len = encode(l, &m);
    l->refused++;
    log_warn("refused a handshake: %s", reason);
    if (len) {
        zmq_send(l->data, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(l->data, l->enc, len, ZMQ_DONTWAIT);
    }
}

/* Encode and publish a new snapshot of the current parameters. */
static void publish_snapshot(learner *l)
{
    const hpo_nets *n = &l->agent->nets;
    wire_msg m;
    wire_msg_init(&m, WIRE_SNAPSHOT);
    wire_snapshot *s = &m.snapshot;
    s->version = ++l->param_version;
    s->published_unix_ns = now_unix_ns();
    s->obs_dim = l->obs_dim;
    s->act_dim = l->act_dim;
    wire_agent_from_config(&s->agent, &l->cfg, sac_alpha(l->agent));
    s->env_steps = l->env_steps;
    s->updates = (uint64_t)l->updates;
    snprintf(s->run_id, sizeof s->run_id, "%s", l->run_id);
    s->n_blocks = 2;
    snprintf(s->blocks[0].name, WIRE_NAME_MAX, WIRE_BLOCK_POLICY);
    s->blocks[0].data = l->agent->params + n->pol_off;
    s->blocks[0].n = n->pol_n;
    snprintf(s->blocks[1].name, WIRE_NAME_MAX, WIRE_BLOCK_CRITICS);
    s->blocks[1].data = l->agent->params + n->q_off;
    s->blocks[1].n = n->q_n;
    size_t len = encode(l, &m);
    if (!len) {
        log_warn_once("snapshot", "cannot encode a snapshot");
        return;
    }
    if (len > l->snap_len)
        l->snap = xrealloc(l->snap, len);
    memcpy(l->snap, l->enc, len);
    l->snap_len = len;
    l->snap_updates = l->updates;
    zmq_send(l->params, l->snap, l->snap_len, ZMQ_DONTWAIT);
    l->last_publish = now_s();
}

static void republish(learner *l)
{
    if (l->snap_len)
        zmq_send(l->params, l->snap, l->snap_len, ZMQ_DONTWAIT);
    l->last_publish = now_s();
}

// ---- actors ----

static learner_actor *find_rid(learner *l, const void *rid, size_t len)
{
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        learner_actor *a = &l->actors[i];
        if (a->used && a->rid_len == len && !memcmp(a->rid, rid, len))
            return a;
    }
    return NULL;
}

static void drop_actor(learner *l, learner_actor *a, const char *why)
{
    log_info("actor %s (%s pid %u) left: %s", a->id, a->host, a->pid, why);
    a->used = 0;
    l->n_actors--;
}

/* Transitions the actors may still send: granted and not yet received. */
static int64_t outstanding(const learner *l)
{
    int64_t s = 0;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
        if (l->actors[i].used && l->actors[i].balance > 0)
            s += l->actors[i].balance;
    return s;
}

/* Transitions in one of a's batches: batch_max, or one step of all its
 * environments when that is more. */
static int64_t batch_unit(const learner *l, const learner_actor *a)
{
    return HPO_MAX((int64_t)l->opt.batch_max, (int64_t)a->n_envs);
}

/*
 * Grant credits so that env steps (ingested plus granted) stay within a
 * window of learning_starts + updates / ratio, the window being two batches
 * per streaming actor. Each actor below one batch of credit is topped up to
 * two, round-robin when the window is short. When updates wait for data the
 * whole window is free, so every actor can always step again: no deadlock.
 */
static void grant_credits(learner *l)
{
    if (l->opt.replay_ratio <= 0.0)
        return;
    int64_t window = 0;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
        if (l->actors[i].used && l->actors[i].role == WIRE_ROLE_ACTOR)
            window += 2 * batch_unit(l, &l->actors[i]);
    if (!window)
        return;
    double allowed = (double)l->cfg.learning_starts +
                     (double)l->updates / l->opt.replay_ratio +
                     (double)window;
    int64_t head = (int64_t)allowed - (int64_t)l->env_steps - outstanding(l);
    for (int k = 0; k < LEARNER_MAX_ACTORS && head > 0; k++) {
        int idx = (l->rr + k) % LEARNER_MAX_ACTORS;
        learner_actor *a = &l->actors[idx];
        if (!a->used || a->role != WIRE_ROLE_ACTOR)
            continue;
        int64_t unit = batch_unit(l, a);
        if (a->balance >= unit)
            continue;
        int64_t g = HPO_MIN(head, 2 * unit - a->balance);
        wire_msg m;
        wire_msg_init(&m, WIRE_CREDIT);
        m.credit.transitions = (uint64_t)g;
        send_to(l, a, &m);
        a->balance += g;
        head -= g;
        l->rr = (idx + 1) % LEARNER_MAX_ACTORS; /* the next one goes first */
    }
}

static void on_hello(learner *l, const void *rid, size_t rid_len,
                     const wire_hello *h)
{
    char reason[WIRE_TEXT_MAX];
    const env_class *cls = env_find(h->env);
    if (!cls || strcmp(cls->name, l->cfg.env)) {
        snprintf(reason, sizeof reason,
                 "environment %.60s, the learner runs %.60s", h->env,
                 l->cfg.env);
        refuse(l, rid, rid_len, reason);
        return;
    }
    if (h->obs_dim != l->obs_dim || h->act_dim != l->act_dim) {
        snprintf(reason, sizeof reason,
                 "dimensions obs %d act %d, the learner's %s has obs %d "
                 "act %d",
                 h->obs_dim, h->act_dim, l->cfg.env, l->obs_dim, l->act_dim);
        refuse(l, rid, rid_len, reason);
        return;
    }
    learner_actor *a = find_rid(l, rid, rid_len);
    if (!a) {
        /* the same actor id from a new connection replaces the old entry */
        for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
            if (l->actors[i].used && !strcmp(l->actors[i].id, h->actor_id))
                drop_actor(l, &l->actors[i], "rejoined");
        for (int i = 0; i < LEARNER_MAX_ACTORS && !a; i++)
            if (!l->actors[i].used)
                a = &l->actors[i];
        if (!a) {
            refuse(l, rid, rid_len, "too many actors");
            return;
        }
        memset(a, 0, sizeof *a);
        a->used = 1;
        memcpy(a->rid, rid, rid_len);
        a->rid_len = rid_len;
        l->n_actors++;
    }
    snprintf(a->id, sizeof a->id, "%s", h->actor_id);
    snprintf(a->host, sizeof a->host, "%s", h->host);
    a->pid = h->pid;
    a->role = h->role;
    a->n_envs = h->n_envs > 0 ? h->n_envs : 1;
    a->incarnation = h->incarnation;
    a->balance = 0;
    a->joined = a->last_seen = a->rate_t = now_s();
    a->rate_steps = a->steps;
    log_info("actor %s joined: %s pid %u, %d envs, %s", a->id, a->host,
             a->pid, a->n_envs, a->role == WIRE_ROLE_EVAL ? "eval" : "actor");

    wire_msg m;
    wire_msg_init(&m, WIRE_WELCOME);
    wire_welcome *w = &m.welcome;
    snprintf(w->run_id, sizeof w->run_id, "%s", l->run_id);
    w->param_version = l->param_version;
    w->env_steps = l->env_steps;
    w->learning_starts = (uint64_t)l->cfg.learning_starts;
    w->seed = l->cfg.seed;
    w->batch_max = l->opt.batch_max;
    w->heartbeat_ms = l->opt.heartbeat_ms;
    w->timeout_ms = l->opt.timeout_ms;
    w->free_run = l->opt.replay_ratio <= 0.0;
    w->credit = 0;
    w->eval_episodes = l->cfg.eval_episodes;
    wire_agent_from_config(&w->agent, &l->cfg, sac_alpha(l->agent));
    send_to(l, a, &m);
    republish(l);
    grant_credits(l);
}

static void on_batch(learner *l, learner_actor *a, const wire_batch *b)
{
    if (a->role != WIRE_ROLE_ACTOR)
        return;
    replay_push_batch(l->rb, (size_t)b->n, b->obs, b->action, b->reward,
                      b->next_obs, b->terminated);
    l->env_steps += (uint64_t)b->n;
    a->steps += (uint64_t)b->n;
    a->balance -= b->n;
    a->param_version = b->param_version;
    for (int i = 0; i < b->n_episodes; i++)
        l->recent[l->n_episodes++ % LEARNER_RECENT] = b->ep_return[i];
}

static void on_heartbeat(learner_actor *a, const wire_heartbeat *h)
{
    a->param_version = h->param_version;
    if (h->snapshot_latency_us && h->param_version > a->lat_version) {
        double ms = (double)h->snapshot_latency_us / 1e3;
        a->lat_version = h->param_version;
        a->lat_n++;
        a->lat_last_ms = ms;
        a->lat_sum_ms += ms;
        a->lat_max_ms = HPO_MAX(a->lat_max_ms, ms);
    }
}

static void on_eval(learner *l, const wire_eval *e)
{
    run_stats rs = {0};
    for (int i = 0; i < e->n; i++)
        run_stats_add(&rs, e->returns[i]);
    l->eval_mean = run_stats_mean(&rs);
    l->eval_std = run_stats_std(&rs);
    l->eval_n = e->n;
    l->eval_version = e->param_version;
    log_info("evaluation of version %llu: mean return %.1f over %d episodes",
             (unsigned long long)e->param_version, l->eval_mean, e->n);
}

static void hex(char *buf, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 3 <= cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%02x", p[i]);
    if (cap)
        buf[HPO_MIN(k, cap - 1)] = '\0';
}

/* Count and log (once per sender and reason) a rejected message. */
static void reject(learner *l, const char *sock, const uint8_t *rid,
                   size_t rid_len, wire_reject r, const char *msg)
{
    char who[2 * 32 + 1], key[160];
    l->rejected[r < WIRE_REJECT_COUNT ? r : WIRE_MALFORMED]++;
    hex(who, sizeof who, rid, HPO_MIN(rid_len, (size_t)32));
    snprintf(key, sizeof key, "reject %s %s %s", sock, wire_reject_name(r),
             who);
    log_warn_once(key, "dropped a message on %s from %s: %s: %s", sock,
                  rid_len ? who : "a client", wire_reject_name(r), msg);
}

/* Receive one data message (identity frame, body). Returns 0 when the
 * socket had none. */
static int data_one(learner *l)
{
    uint8_t rid[LEARNER_RID_MAX];
    int rl = zmq_recv(l->data, rid, sizeof rid, ZMQ_DONTWAIT);
    if (rl < 0)
        return 0;
    size_t rid_len = (size_t)HPO_MIN(rl, (int)sizeof rid);
    int more = 0;
    size_t ml = sizeof more;
    zmq_getsockopt(l->data, ZMQ_RCVMORE, &more, &ml);
    if (!more) {
        reject(l, "data", rid, rid_len, WIRE_MALFORMED, "no body frame");
        return 1;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, l->data, 0) < 0) {
        zmq_msg_close(&msg);
        return 1;
    }
    more = zmq_msg_more(&msg);
    if (more) {
        /* a body is one frame: drop the message and the rest of it */
        while (more) {
            zmq_msg_close(&msg);
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, l->data, 0) < 0)
                break;
            more = zmq_msg_more(&msg);
        }
        zmq_msg_close(&msg);
        reject(l, "data", rid, rid_len, WIRE_MALFORMED, "more than one frame");
        return 1;
    }

    char err[256];
    wire_reject r = wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg),
                                &l->expect, &l->in, err, sizeof err);
    zmq_msg_close(&msg);
    learner_actor *a = find_rid(l, rid, rid_len);
    if (r != WIRE_OK) {
        reject(l, "data", rid, rid_len, r, err);
        if (r == WIRE_BAD_VERSION && l->in.type == WIRE_HELLO) {
            char reason[WIRE_TEXT_MAX];
            snprintf(reason, sizeof reason,
                     "protocol version %u, the learner speaks %u",
                     l->in.version, WIRE_VERSION);
            refuse(l, rid, rid_len, reason);
        }
        return 1;
    }
    if (l->in.type == WIRE_HELLO) {
        on_hello(l, rid, rid_len, &l->in.hello);
        return 1;
    }
    if (!a) {
        char who[65], key[100];
        hex(who, sizeof who, rid, HPO_MIN(rid_len, (size_t)32));
        snprintf(key, sizeof key, "unknown %s", who);
        l->unknown_sender++;
        log_warn_once(key, "a %s from %s before its Hello: ignored",
                      wire_type_name(l->in.type), who);
        return 1;
    }
    a->last_seen = now_s();
    switch (l->in.type) {
    case WIRE_BATCH:
        on_batch(l, a, &l->in.batch);
        break;
    case WIRE_HEARTBEAT:
        on_heartbeat(a, &l->in.heartbeat);
        break;
    case WIRE_EVAL:
        on_eval(l, &l->in.eval);
        break;
    default:
        reject(l, "data", rid, rid_len, WIRE_UNKNOWN_TYPE,
               "not a message an actor sends");
        break;
    }
    return 1;
}

// ---- status ----

static void status_one(learner *l)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, l->status, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return;
    }
    int extra = 0;
    while (zmq_msg_more(&msg)) {
        extra = 1;
        zmq_msg_close(&msg);
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, l->status, 0) < 0)
            break;
    }
    char err[256];
    wire_reject r = WIRE_MALFORMED;
    if (extra)
        snprintf(err, sizeof err, "more than one frame");
    else
        r = wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), NULL,
                        &l->in, err, sizeof err);
    zmq_msg_close(&msg);
    if (r == WIRE_OK && l->in.type != WIRE_STATUS_REQUEST) {
        r = WIRE_UNKNOWN_TYPE;
        snprintf(err, sizeof err, "a %s on the status socket",
                 wire_type_name(l->in.type));
    }
    if (r != WIRE_OK) {
        reject(l, "status", NULL, 0, r, err);
        char reply[400];
        int n = snprintf(reply, sizeof reply,
                         "{\"error\": \"%s\", \"rejected\": true}",
                         wire_reject_name(r));
        zmq_send(l->status, reply, (size_t)n, ZMQ_DONTWAIT);
        return;
    }
    l->status_requests++;
    char *json = learner_status_json(l);
    zmq_send(l->status, json, strlen(json), ZMQ_DONTWAIT);
    free(json);
}

// ---- checkpoints ----

/* A checkpoint of the agent, counters, update stream and (with
 * --checkpoint-replay 1) the replay rows into the run directory; older ones
 * pruned to --keep. The loop stands still while it is written. */
static void checkpoint(learner *l)
{
    if (!l->opt.out[0] || l->opt.checkpoint_every <= 0 ||
        (l->last_ckpt[0] && l->last_ckpt_updates == l->updates))
        return;
    char path[CKPT_PATH_LEN], err[512];
    ckpt_counters c = {.env_steps = (int64_t)l->env_steps,
                       .updates = l->updates,
                       .episodes = l->n_episodes};
    rng *rngs[1] = {&l->upd_rng};
    double t0 = now_s();
    if (ckpt_path(path, l->opt.out, l->updates, err, sizeof err) ||
        ckpt_save(path, l->agent, &c, rngs, 1,
                  l->opt.checkpoint_replay ? l->rb : NULL, err, sizeof err) ||
        ckpt_prune(l->opt.out, l->opt.keep, err, sizeof err) < 0) {
        log_warn_once("checkpoint", "checkpoint failed: %s", err);
        return;
    }
    snprintf(l->last_ckpt, sizeof l->last_ckpt, "%s", path);
    l->last_ckpt_updates = l->updates;
    l->last_ckpt_t = now_s();
    log_info("checkpoint %s (%.2f s)", path, l->last_ckpt_t - t0);
}

/* Continue from the newest valid checkpoint of the run directory. Returns 0
 * (also when there is none: a fresh run, with a warning), or -1 with a
 * message when one was found and could not be restored. */
static int resume(learner *l, char *err, size_t errlen)
{
    ckpt_info info;
    char why[1024];
    if (ckpt_find_latest(l->opt.out, l->agent, &info, why, sizeof why)) {
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

// ---- timers and updates ----

static void timers(learner *l)
{
    double now = now_s();
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        learner_actor *a = &l->actors[i];
        if (!a->used)
            continue;
        if ((now - a->last_seen) * 1000.0 > l->opt.timeout_ms) {
            drop_actor(l, a, "heartbeat timeout");
            continue;
        }
        if ((now - a->last_sent) * 1000.0 >= l->opt.heartbeat_ms) {
            wire_msg m;
            wire_msg_init(&m, WIRE_HEARTBEAT);
            m.heartbeat.param_version = l->param_version;
            m.heartbeat.env_steps = l->env_steps;
            send_to(l, a, &m);
        }
        if (now - a->rate_t >= RATE_WINDOW_S) {
            a->steps_per_s =
                (double)(a->steps - a->rate_steps) / (now - a->rate_t);
            a->rate_t = now;
            a->rate_steps = a->steps;
        }
    }
    if (now - l->rate_t >= RATE_WINDOW_S) {
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
                republish(l);
                break;
            }
    }
    if (l->metrics && now - l->last_metrics >= METRICS_EVERY_S) {
        metrics_update(l->metrics, l);
        l->last_metrics = now;
    }
    if (now - l->last_csv >= CSV_EVERY_S) {
        csv_row(l);
        l->last_csv = now;
    }
    grant_credits(l);
}

static int may_update(const learner *l)
{
    uint64_t ls = (uint64_t)l->cfg.learning_starts;
    if (l->env_steps < ls || replay_size(l->rb) == 0)
        return 0;
    if (l->opt.replay_ratio <= 0.0)
        return 1;
    return (double)l->updates <
           l->opt.replay_ratio * (double)(l->env_steps - ls);
}

static void update(learner *l)
{
    replay_sample(l->rb, &l->upd_rng, &l->batch);
    sac_update(l->agent, &l->batch, &l->upd_rng, &l->last);
    l->updates++;
    if (l->updates - l->snap_updates >= l->opt.publish_every)
        publish_snapshot(l);
    if (l->opt.checkpoint_every > 0 &&
        l->updates % l->opt.checkpoint_every == 0)
        checkpoint(l);
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
    while (l->zap && (r = curve_zap_handle(l->zap, l->allow, who,
                                           sizeof who)) > 0) {
        if (r == 2) {
            l->refused_keys++;
            char key[160];
            snprintf(key, sizeof key, "key %s", who);
            log_warn_once(key, "refused a CurveZMQ client: key %s not on "
                          "the allow list", who);
        }
    }
}

static int run(learner *l)
{
    zmq_pollitem_t items[3] = {
        {l->data, 0, ZMQ_POLLIN, 0},
        {l->status, 0, ZMQ_POLLIN, 0},
        {l->zap, 0, ZMQ_POLLIN, 0},
    };
    while (!stop_requested()) {
        int busy = may_update(l);
        int rc = zmq_poll(items, l->zap ? 3 : 2, busy ? 0 : 10);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            log_error("zmq_poll: %s", zmq_strerror(errno));
            return -1;
        }
        zap_all(l);
        for (int k = 0; k < DRAIN_MAX && data_one(l); k++)
            ;
        status_one(l);
        timers(l);
        if (may_update(l))
            update(l);
        if ((l->opt.max_updates > 0 && l->updates >= l->opt.max_updates) ||
            (l->cfg.steps > 0 && l->env_steps >= (uint64_t)l->cfg.steps)) {
            log_info("budget reached: %ld updates, %llu env steps",
                     l->updates, (unsigned long long)l->env_steps);
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

    if (o->out[0]) {
        if (mkdir_parents(o->out, err, errlen))
            return -1;
        l->log_file = open_in(o->out, "learner.log", "a", err, errlen);
        if (!l->log_file)
            return -1;
        log_set_file(l->log_file);
        FILE *f = open_in(o->out, "config", "w", err, errlen);
        if (!f)
            return -1;
        config_write(&l->cfg, f);
        fprintf(f, "obs_dim = %d\nact_dim = %d\nrun_id = %s\n"
                   "replay_ratio = %g\npublish_every = %ld\nbatch_max = %d\n",
                l->obs_dim, l->act_dim, l->run_id, o->replay_ratio,
                o->publish_every, l->opt.batch_max);
        if (fclose(f)) {
            errf(err, errlen, "cannot write %s/config", o->out);
            return -1;
        }
        l->csv = open_in(o->out, "progress.csv", o->resume ? "a" : "w", err,
                         errlen);
        if (!l->csv)
            return -1;
        if (ftell(l->csv) == 0)
            fputs(csv_columns, l->csv);
        fflush(l->csv);
    }

    l->agent = sac_new(&l->cfg, l->obs_dim, l->act_dim, 1, 1);
    l->rb = replay_new((size_t)HPO_MAX(1L, cfg->buffer), l->obs_dim,
                       l->act_dim);
    replay_batch_init(&l->batch, cfg->batch, l->obs_dim, l->act_dim);
    rng_init(&l->upd_rng, cfg->seed, RNG_STREAM_UPDATE);
    wire_msg_init(&l->in, WIRE_NONE);
    l->expect.obs_dim = l->obs_dim;
    l->expect.act_dim = l->act_dim;

    l->zctx = zmq_ctx_new();
    if (o->io_threads > 1 &&
        zmq_ctx_set(l->zctx, ZMQ_IO_THREADS, o->io_threads)) {
        errf(err, errlen, "cannot set %d ZeroMQ I/O threads: %s",
             o->io_threads, zmq_strerror(errno));
        return -1;
    }
    l->data = zmq_socket(l->zctx, ZMQ_ROUTER);
    l->params = zmq_socket(l->zctx, ZMQ_PUB);
    l->status = zmq_socket(l->zctx, ZMQ_REP);
    if (o->curve_secret[0] && curve_open(l, err, errlen))
        return -1;
    int64_t maxmsg = WIRE_MAX_MSG, maxctl = WIRE_MAX_CONTROL;
    int zero = 0, hwm = 4;
    zmq_setsockopt(l->data, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(l->status, ZMQ_MAXMSGSIZE, &maxctl, sizeof maxctl);
    zmq_setsockopt(l->params, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(l->data, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(l->params, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(l->status, ZMQ_LINGER, &zero, sizeof zero);
    if (bind_one(l->data, o->bind, o->port, err, errlen) ||
        bind_one(l->params, o->bind, o->port + 1, err, errlen) ||
        bind_one(l->status, o->bind, o->port + 2, err, errlen))
        return -1;
    l->t_start = l->rate_t = l->last_csv = now_s();
    if (o->resume && resume(l, err, errlen))
        return -1;
    publish_snapshot(l);
    if (o->metrics_port) {
        l->metrics = metrics_new(o->bind, o->metrics_port, err, errlen);
        if (!l->metrics)
            return -1;
        metrics_update(l->metrics, l);
        l->last_metrics = now_s();
        log_info("metrics: http://%s:%d/metrics", o->bind, o->metrics_port);
    }
    log_info("snapshot: %zu bytes (policy %zu + critics %zu floats)",
             l->snap_len, l->agent->nets.pol_n, l->agent->nets.q_n);
    return 0;
}

static void learner_close(learner *l)
{
    metrics_destroy(&l->metrics);   /* first: its thread is joined */
    if (l->data)
        zmq_close(l->data);
    if (l->params)
        zmq_close(l->params);
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
    wire_msg_release(&l->in);
    free(l->enc);
    free(l->snap);
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
    if (opt.quiet)
        log_set_level(LOG_WARN);
    openblas_set_num_threads(cfg.threads);

    static learner l;
    if (learner_open(&l, &cfg, &opt, err, sizeof err)) {
        log_error("%s", err);
        learner_close(&l);
        return 1;
    }
    stop_on_signals(0);

    log_info("run %s: %s %s, obs %d act %d, data tcp://%s:%d, params :%d, "
             "status :%d, replay ratio %g",
             l.run_id, l.cfg.env, mode_name(l.cfg.mode), l.obs_dim,
             l.act_dim, opt.bind, opt.port, opt.port + 1, opt.port + 2,
             opt.replay_ratio);
    rc = run(&l);
    checkpoint(&l);
    csv_row(&l);
    log_info("stopped%s: %llu env steps, %ld updates, replay ratio %.3f",
             stop_requested() ? " by a signal" : "",
             (unsigned long long)l.env_steps, l.updates, learner_ratio(&l));
    log_flush_counts();
    learner_close(&l);
    return rc ? 1 : 0;
}
