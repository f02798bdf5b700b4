/*
 * main.c - hpo-actor: steps n environments, streams transitions to the
 * learner, acts with the newest parameter snapshot (docs/protocol.md).
 *
 * One zmq_poll loop over a DEALER (handshake, batches, credits, heartbeats)
 * and a conflating SUB (snapshots; only the newest is kept). Before the
 * first snapshot taken after learning_starts the actions are uniform in
 * [-1, 1]; after it, one batched sac_act over every environment. The actor
 * steps only while it holds credit for the rows it would produce (unless the
 * learner runs free). When the learner is silent for its timeout the actor
 * makes a new connection and says Hello again, keeping its environments.
 *
 * With --eval it sends no transitions: on each snapshot that stands for a
 * newer evaluation mark (the learner's eval-every, in env steps, and its
 * end) it runs deterministic episodes on one environment and reports an
 * EvalResult, which the learner writes at that mark.
 *
 * Refused as busy (the learner's table is full, or its id is held by a live
 * actor) it says Hello again after a backoff (0.5 s doubling to 30 s).
 *
 * Exit status: 0 stopped (signal or --max-steps), 1 run-time failure,
 * 2 bad command line, 3 refused by the learner.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "config.h"
#include "nn.h"
#include "curve.h"
#include "env.h"
#include "log.h"
#include "rng.h"
#include "sac.h"
#include "util.h"
#include "vecenv.h"
#include "wire.h"

#include "actor.h"

#define PROG ACTOR_PROG
#define FLUSH_S 0.05 /* send a partial batch after this long */

// ---- command line ----

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " [--learner HOST[:P]] [--env NAME] [--envs N] [--id ID] [--seed S] [--eval]\n"
        "\n"
        "Step N environments and stream their transitions to hpo-learner\n"
        "(data on P, default 5550; snapshots on P+1).\n"
        "\n"
        "  --learner HOST[:P]     learner address (default localhost:5550)\n"
        "  --env NAME             environment (default HalfCheetah); must\n"
        "                         match the learner's\n"
        "  --envs N               environments in this process (default 1)\n"
        "  --id ID                actor id, stable across restarts (default host-pid)\n"
        "  --seed S               environment and action seed (default: random)\n"
        "  --eval                 evaluate the snapshots at the learner's eval-every\n"
        "                         marks (env steps, as hpo-train) instead of streaming\n"
        "  --episodes N           evaluation episodes (default: the learner's)\n"
        "  --eval-every N         env steps between evaluations at least (default 0:\n"
        "                         every mark of the learner's eval-every)\n"
        "  --timeout-ms MS        handshake timeout (default 3000)\n"
        "  --max-steps N          stop after N env steps (default 0: never)\n"
        "  --resolve-wait S       wait up to S seconds for the learner's name to\n"
        "                         resolve, retrying with a logged backoff (default\n"
        "                         0: exit 2 at once; e.g. a Kubernetes Service\n"
        "                         whose DNS name appears after the actor starts)\n"
        "  --curve-server FILE    the learner's public key (hpo-keygen's .public);\n"
        "                         with --curve-key, talk CurveZMQ\n"
        "  --curve-key FILE       this actor's key pair (its .secret file)\n"
        "  --quiet                warnings and errors only\n");
}

/* HOST[:P] into o->host, o->port. */
static int parse_learner(actor_opts *o, const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : strlen(s);
    if (hl == 0 || hl >= sizeof o->host)
        return usage_error(PROG, "bad --learner '%s'", s);
    memcpy(o->host, s, hl);
    o->host[hl] = '\0';
    if (colon) {
        long p;
        if (parse_long(colon + 1, 1, 65533, &p))
            return usage_error(PROG, "bad port in --learner '%s'", s);
        o->port = (int)p;
    }
    return 0;
}

/* The actor's options (config_args_table); --learner and --id are checked
 * after. */
#define O(f) offsetof(actor_opts, f)
static const opt_spec options[] = {
    {"learner", OPT_TEXT, O(learner), sizeof(((actor_opts *)0)->learner), 0, 0,
     NULL},
    {"env", OPT_TEXT, O(env), sizeof(((actor_opts *)0)->env), 0, 0, NULL},
    {"envs", OPT_INT, O(n_envs), 0, 1, VECENV_MAX_ENVS,
     "--envs needs 1..4096, not '%s'"},
    {"id", OPT_TEXT, O(id_arg), sizeof(((actor_opts *)0)->id_arg), 0, 0,
     "--id must be 1..63 characters: '%s'"},
    {"seed", OPT_U64, O(seed), 0, 0, 0, "--seed needs a number, not '%s'"},
    {"episodes", OPT_INT, O(eval_episodes), 0, 1, 10000,
     "--episodes needs 1..10000, not '%s'"},
    {"eval-every", OPT_LONG, O(eval_every), 0, 0, (double)(1L << 50),
     "--eval-every needs a count of env steps, not '%s'"},
    {"timeout-ms", OPT_INT, O(timeout_ms), 0, 50, 3600000,
     "--timeout-ms needs 50..3600000, not '%s'"},
    {"max-steps", OPT_LONG, O(max_steps), 0, 0, (double)(1L << 50),
     "--max-steps needs a count, not '%s'"},
    {"resolve-wait", OPT_INT, O(resolve_wait), 0, 0, 86400,
     "--resolve-wait needs 0..86400 seconds, not '%s'"},
    {"curve-server", OPT_TEXT, O(curve_server),
     sizeof(((actor_opts *)0)->curve_server), 0, 0, NULL},
    {"curve-key", OPT_TEXT, O(curve_key), sizeof(((actor_opts *)0)->curve_key),
     0, 0, NULL},
    {"eval", OPT_FLAG, O(eval), 0, 0, 0, NULL},
    {"quiet", OPT_FLAG, O(quiet), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O

/* Returns 0, 1 after --help, -1 after printing the error. */
static int parse_args(int argc, char **argv, actor_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->learner, sizeof o->learner, "localhost");
    o->port = 5550;
    o->n_envs = 1;
    o->timeout_ms = 3000;
    snprintf(o->env, sizeof o->env, "HalfCheetah");
    config_args a;
    char err[512];
    int rc =
        config_args_table(&a, argc, argv, options, 0, 0, o, err, sizeof err);
    o->has_seed = rc == 0 && config_args_given(&a, "seed");
    config_args_release(&a);
    if (rc > 0) {
        usage(stdout);
        return 1;
    }
    if (rc < 0)
        return usage_error(PROG, "%s", err);
    if (parse_learner(o, o->learner))
        return -1;
    if (o->id_arg[0]) {
        if (strlen(o->id_arg) >= sizeof o->id)
            return usage_error(PROG, "--id must be 1..63 characters: '%s'",
                               o->id_arg);
        for (const char *p = o->id_arg; *p; p++)
            if (*p < 0x21 || *p > 0x7e)
                return usage_error(PROG, "--id must be printable: '%s'",
                                   o->id_arg);
        snprintf(o->id, sizeof o->id, "%s", o->id_arg);
    }
    if (!o->curve_server[0] != !o->curve_key[0])
        return usage_error(PROG, "%s",
                           "--curve-server and --curve-key go together");
    return 0;
}

static int run(actor *a)
{
    actor_connect(a);
    while (!stop_requested()) {
        zmq_pollitem_t items[2] = {
            {a->dealer, 0, ZMQ_POLLIN, 0},
            {a->sub, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, actor_may_step(a) ? 0 : 10) < 0) {
            if (errno == EINTR)
                continue;
            log_error("zmq_poll: %s", zmq_strerror(errno));
            return 1;
        }
        if (actor_drain_data(a) || actor_handshake_failed(a))
            return 3;
        actor_drain_params(a);
        double now = now_s();
        if (a->state == ST_WAIT) {
            if (now >= a->retry_at)
                actor_connect(a);
            continue;
        }
        if (a->state == ST_HELLO) {
            if ((now - a->hello_t) * 1000.0 > a->opt.timeout_ms) {
                log_warn_once("no welcome", "no answer from %s: retrying",
                              a->endpoint);
                actor_connect(a);
            }
            continue;
        }
        if ((now - a->last_recv) * 1000.0 > a->timeout_ms) {
            log_warn("learner silent for %.1f s: reconnecting",
                     now - a->last_recv);
            actor_connect(a);
            continue;
        }
        if (a->opt.eval) {
            /* a snapshot that stands for a newer evaluation mark */
            if (a->version > a->evaluated && a->snap_eval_mark > a->eval_mark &&
                (a->eval_mark == 0 || a->snap_eval_mark - a->eval_mark >=
                                          (uint64_t)a->opt.eval_every))
                actor_evaluate(a);
        } else {
            if (actor_may_step(a))
                actor_step(a);
            /* rows from before a reconnect wait for the new learner's credit */
            int covered = a->free_run || a->credit >= a->rows;
            if (a->rows && covered &&
                (!actor_may_step(a) || now - a->first_row_t > FLUSH_S))
                actor_send_batch(a);
        }
        if ((now - a->last_hb) * 1000.0 >= a->heartbeat_ms)
            actor_heartbeat(a);
        if (a->opt.max_steps && a->steps >= (uint64_t)a->opt.max_steps) {
            actor_send_batch(a);
            break;
        }
    }
    return 0;
}

// ---- setup ----

/* The learner's name resolving, retried for up to --resolve-wait seconds
 * (0.5 s doubling to 10 s between tries, each logged): a Service's DNS name
 * may appear only after the actor starts. SIGINT/SIGTERM end the wait. */
static int wait_resolves(const actor_opts *o, char *err, size_t errlen)
{
    double start = now_s(), delay = 0.5;
    for (;;) {
        if (!host_resolves(o->host, err, errlen))
            return 0;
        double left = start + o->resolve_wait - now_s();
        if (left <= 0 || stop_requested())
            break;
        if (delay > left)
            delay = left;
        log_warn("%s: retrying in %.1f s (%.0f s left of --resolve-wait %d)",
                 err, delay, left, o->resolve_wait);
        struct timespec ts = {(time_t)delay,
                              (long)((delay - (double)(time_t)delay) * 1e9)};
        while (nanosleep(&ts, &ts) && errno == EINTR && !stop_requested())
            ;
        delay = delay * 2 > 10 ? 10 : delay * 2;
    }
    size_t n = strlen(err);
    if (n < errlen)
        snprintf(
            err + n, errlen - n,
            " (tried for %.0f s; check --learner, or wait longer with --resolve-wait SECONDS)",
            now_s() - start);
    return -1;
}

static int actor_open(actor *a, const actor_opts *o, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->opt = *o;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rng r;
    rng_init(&r,
             (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 ((uint64_t)getpid() << 40),
             7);
    a->incarnation = rng_u64(&r) | 1;
    if (!a->opt.id[0]) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        host[40] = '\0';
        snprintf(a->opt.id, sizeof a->opt.id, "%s-%d", host, (int)getpid());
    }
    uint64_t seed = o->has_seed ? o->seed : a->incarnation;
    config_defaults(&a->cfg);
    config_preset(&a->cfg, o->env);
    a->cfg.seed = seed;
    if (o->eval) {
        a->eval_env = env_new(o->env, NULL, err, errlen);
        if (!a->eval_env)
            return -1;
        a->n = 1;
        a->od = a->eval_env->cls->obs_dim;
        a->ad = a->eval_env->cls->act_dim;
    } else {
        a->ve = vecenv_new(o->env, o->n_envs, seed, NULL, err, errlen);
        if (!a->ve)
            return -1;
        vecenv_reset_all(a->ve);
        a->n = a->ve->n;
        a->od = a->ve->obs_dim;
        a->ad = a->ve->act_dim;
    }
    rng_init(&a->act_rng, seed, RNG_STREAM_ACT);
    wire_msg_init(&a->in, WIRE_NONE);

    /* room for a full batch plus one step of every environment */
    a->cap = 65536 + a->n;
    a->batch_max = 64;
    size_t row = (size_t)(2 * a->od + a->ad + 1) * 4 + 2 + 16;
    if ((size_t)a->cap * row > WIRE_MAX_DATA - 4096)
        a->cap = (int)((WIRE_MAX_DATA - 4096) / row);
    if (a->cap < a->n) {
        errf(err, errlen, "%d environments do not fit one batch", a->n);
        return -1;
    }
    size_t c = (size_t)a->cap;
    a->obs = xalloc_floats(c * a->od);
    a->next_obs = xalloc_floats(c * a->od);
    a->act = xalloc_floats(c * a->ad);
    a->rew = xalloc_floats(c);
    a->ep_ret = xalloc_floats(c);
    a->term = xcalloc(c, 1);
    a->trunc = xcalloc(c, 1);
    a->ep_len = xcalloc(c, sizeof *a->ep_len);

    if (wait_resolves(o, err, errlen))
        return -1;
    snprintf(a->endpoint, sizeof a->endpoint, "tcp://%s:%d", o->host, o->port);
    snprintf(a->params_ep, sizeof a->params_ep, "tcp://%s:%d", o->host,
             o->port + 1);
    if (o->curve_server[0]) {
        curve_pair server;
        if (curve_read(o->curve_server, 0, &server, err, errlen) ||
            curve_read(o->curve_key, 1, &a->key, err, errlen))
            return -1;
        snprintf(a->server_pub, sizeof a->server_pub, "%s", server.pub);
        a->curve = 1;
    }
    a->zctx = zmq_ctx_new();
    a->sub = zmq_socket(a->zctx, ZMQ_SUB);
    if (a->curve && curve_client(a->sub, a->server_pub, &a->key, err, errlen))
        return -1;
    /* no ZMQ_CONFLATE: libzmq frees a message held in a conflating pipe
     * neither at close nor at zmq_ctx_term (LeakSanitizer saw one snapshot
     * leak per actor). A few snapshots may queue instead; the loop drains
     * them all and takes the newest (actor_drain_params). */
    int zero = 0, hwm = ACTOR_PARAMS_HWM;
    int64_t maxmsg = WIRE_MAX_MSG;
    zmq_setsockopt(a->sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(a->sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(a->sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(a->sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(a->sub, a->params_ep) < 0) {
        errf(err, errlen, "cannot connect %s: %s", a->params_ep,
             zmq_strerror(errno));
        return -1;
    }
    a->timeout_ms = o->timeout_ms;
    a->heartbeat_ms = 500;
    return 0;
}

static void actor_close(actor *a)
{
    if (a->dealer)
        zmq_close(a->dealer);
    if (a->sub)
        zmq_close(a->sub);
    if (a->mon)
        zmq_close(a->mon);
    if (a->zctx)
        zmq_ctx_term(a->zctx);
    sac_destroy(&a->agent);
    vecenv_destroy(&a->ve);
    env_destroy(&a->eval_env);
    wire_msg_release(&a->in);
    msgbuf_release(&a->enc);
    free(a->obs);
    free(a->next_obs);
    free(a->act);
    free(a->rew);
    free(a->ep_ret);
    free(a->term);
    free(a->trunc);
    free(a->ep_len);
}

int main(int argc, char **argv)
{
    actor_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (o.quiet)
        log_set_level(LOG_WARN);
    nn_set_threads(1);
    char err[1024];
    static actor a;
    stop_on_signals(0);
    if (actor_open(&a, &o, err, sizeof err)) {
        int stopped = stop_requested();
        if (!stopped)
            fprintf(stderr, PROG ": %s\n", err);
        actor_close(&a);
        return stopped ? 0 : 2;
    }
    log_info("actor %s: %d x %s, learner %s", a.opt.id, a.n,
             a.ve ? a.ve->cls->name : a.eval_env->cls->name, a.endpoint);
    rc = run(&a);
    log_info("actor %s stopped: %llu env steps", a.opt.id,
             (unsigned long long)a.steps);
    log_flush_counts();
    actor_close(&a);
    return rc;
}
