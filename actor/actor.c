/*
 * actor.c - hpo-actor: steps n environments, streams transitions to the
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
 * With --eval it sends no transitions: on each new snapshot it runs
 * deterministic episodes on one environment and reports an EvalResult.
 *
 * Exit status: 0 stopped (signal or --max-steps), 1 run-time failure,
 * 2 bad command line, 3 refused by the learner.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "env.h"
#include "log.h"
#include "rng.h"
#include "sac.h"
#include "util.h"
#include "vecenv.h"
#include "wire.h"

void openblas_set_num_threads(int);

#define PROG "hpo-actor"
#define FLUSH_S 0.05            /* send a partial batch after this long */
#define EVAL_MAX_STEPS 100000

typedef struct actor_opts {
    char host[256];
    int port;
    int n_envs;
    char id[WIRE_NAME_MAX];
    uint64_t seed;
    int has_seed;
    char env[64];
    int eval;
    int eval_episodes;          /* 0: the learner's */
    long eval_every;            /* updates between evaluations; 0: each snapshot */
    int timeout_ms;             /* before the Welcome gives the learner's */
    long max_steps;             /* stop after this many env steps; 0: never */
    int quiet;
    char curve_server[4096];    /* learner's public key file; "": no CURVE */
    char curve_key[4096];       /* this actor's secret key file */
} actor_opts;

enum { ST_HELLO = 0, ST_RUN = 1 };

typedef struct actor {
    actor_opts opt;
    void *zctx, *dealer, *sub;
    void *mon;                      /* the DEALER's handshake events */
    int n_mon;                      /* monitors made (their inproc names) */
    int curve;                      /* CurveZMQ client */
    curve_pair key;                 /* this actor's key pair */
    char server_pub[CURVE_KEY_TEXT];
    char endpoint[300], params_ep[300];
    vecenv *ve;
    env *eval_env;
    int od, ad, n;
    uint64_t incarnation;
    rng act_rng;

    hpo_config cfg;
    sac *agent;
    wire_agent agent_set;           /* settings agent was built with */

    int state;
    char run_id[WIRE_NAME_MAX];     /* of the newest Welcome */
    uint64_t version;               /* snapshot acting; 0: none */
    int timed_snapshot;             /* acted with one since the last Welcome */
    uint64_t snap_latency_us;       /* of version's snapshot; 0: not measured */
    uint64_t snap_env_steps;        /* its learner env steps */
    uint64_t evaluated;             /* newest version evaluated */
    uint64_t snap_updates;          /* its learner updates */
    uint64_t eval_updates;          /* learner updates of the last evaluation */
    uint64_t learning_starts;
    int batch_max, heartbeat_ms, timeout_ms, free_run, eval_episodes;
    int64_t credit;
    double last_recv, last_hb, hello_t;

    /* the batch being filled, cap rows */
    int cap, rows, n_ep;
    float *obs, *act, *rew, *next_obs, *ep_ret;
    uint8_t *term, *trunc;
    uint32_t *ep_len;
    double first_row_t;
    uint64_t seq, steps;

    wire_msg in;
    uint8_t *enc;
    size_t enc_cap;
} actor;

// ---- command line ----

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [--learner HOST[:P]] [--env NAME] [--envs N] "
            "[--id ID] [--seed S] [--eval]\n"
            "\n"
            "Step N environments and stream their transitions to hpo-learner\n"
            "(data on P, default 5550; snapshots on P+1).\n"
            "\n"
            "  --learner HOST[:P]     learner address (default localhost:5550)\n"
            "  --env NAME             environment (default HalfCheetah); must\n"
            "                         match the learner's\n"
            "  --envs N               environments in this process (default 1)\n"
            "  --id ID                actor id, stable across restarts "
            "(default host-pid)\n"
            "  --seed S               environment and action seed (default: "
            "random)\n"
            "  --eval                 evaluate each new snapshot instead of "
            "streaming\n"
            "  --episodes N           evaluation episodes (default: the "
            "learner's)\n"
            "  --eval-every N         learner updates between evaluations "
            "(default 0: every\n"
            "                         snapshot the evaluation keeps up with)\n"
            "  --timeout-ms MS        handshake timeout (default 3000)\n"
            "  --max-steps N          stop after N env steps (default 0: "
            "never)\n"
            "  --curve-server FILE    the learner's public key (hpo-keygen's "
            ".public);\n"
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

static int parse_args(int argc, char **argv, actor_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "localhost");
    o->port = 5550;
    o->n_envs = 1;
    o->timeout_ms = 3000;
    snprintf(o->env, sizeof o->env, "HalfCheetah");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--eval")) {
            o->eval = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (strncmp(a, "--", 2) || i + 1 >= argc)
            return usage_error(PROG,
                               "unexpected argument or missing value: '%s'", a);
        const char *val = argv[++i];
        if (!strcmp(a, "--learner")) {
            if (parse_learner(o, val))
                return -1;
        } else if (!strcmp(a, "--env")) {
            if (strlen(val) >= sizeof o->env)
                return usage_error(PROG, "--env too long: '%s'", val);
            snprintf(o->env, sizeof o->env, "%s", val);
        } else if (!strcmp(a, "--envs")) {
            if (parse_long(val, 1, VECENV_MAX_ENVS, &v))
                return usage_error(PROG, "--envs needs 1..4096, not '%s'", val);
            o->n_envs = (int)v;
        } else if (!strcmp(a, "--id")) {
            if (strlen(val) >= sizeof o->id || !val[0])
                return usage_error(PROG, "--id must be 1..63 characters: '%s'",
                                   val);
            for (const char *p = val; *p; p++)
                if (*p < 0x21 || *p > 0x7e)
                    return usage_error(PROG, "--id must be printable: '%s'",
                                       val);
            snprintf(o->id, sizeof o->id, "%s", val);
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (errno || end == val || *end)
                return usage_error(PROG, "--seed needs a number, not '%s'",
                                   val);
            o->seed = s;
            o->has_seed = 1;
        } else if (!strcmp(a, "--episodes")) {
            if (parse_long(val, 1, 10000, &v))
                return usage_error(PROG, "--episodes needs 1..10000, not '%s'",
                                   val);
            o->eval_episodes = (int)v;
        } else if (!strcmp(a, "--eval-every")) {
            if (parse_long(val, 0, 1L << 50, &v))
                return usage_error(
                    PROG, "--eval-every needs a count of updates, not '%s'",
                    val);
            o->eval_every = v;
        } else if (!strcmp(a, "--timeout-ms")) {
            if (parse_long(val, 50, 3600000, &v))
                return usage_error(
                    PROG, "--timeout-ms needs 50..3600000, not '%s'", val);
            o->timeout_ms = (int)v;
        } else if (!strcmp(a, "--max-steps")) {
            if (parse_long(val, 0, 1L << 50, &v))
                return usage_error(PROG, "--max-steps needs a count, not '%s'",
                                   val);
            o->max_steps = v;
        } else if (!strcmp(a, "--curve-server") || !strcmp(a, "--curve-key")) {
            char *dst = strcmp(a, "--curve-server") ? o->curve_key : o->curve_server;
            if (!val[0] || strlen(val) >= sizeof o->curve_key)
                return usage_error(PROG, "%s needs a key file path", a);
            snprintf(dst, sizeof o->curve_key, "%s", val);
        } else {
            return usage_error(PROG, "unknown flag %s", a);
        }
    }
    if (!o->curve_server[0] != !o->curve_key[0])
        return usage_error(PROG, "%s",
                           "--curve-server and --curve-key go together");
    return 0;
}

// ---- sending ----

static int send_msg(actor *a, const wire_msg *m)
{
    size_t need = wire_size(m);
    if (need > a->enc_cap) {
        a->enc = xrealloc(a->enc, need);
        a->enc_cap = need;
    }
    size_t len = wire_encode(m, a->enc, a->enc_cap);
    if (!len) {
        log_warn_once("encode", "cannot encode a %s", wire_type_name(m->type));
        return -1;
    }
    if (zmq_send(a->dealer, a->enc, len, ZMQ_DONTWAIT) < 0) {
        log_warn_once("send", "cannot send a %s: %s", wire_type_name(m->type),
                      zmq_strerror(errno));
        return -1;
    }
    return 0;
}

static void send_hello(actor *a)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_HELLO);
    wire_hello *h = &m.hello;
    snprintf(h->env, sizeof h->env, "%s", a->ve ? a->ve->cls->name : a->eval_env->cls->name);
    h->obs_dim = a->od;
    h->act_dim = a->ad;
    snprintf(h->actor_id, sizeof h->actor_id, "%s", a->opt.id);
    h->incarnation = a->incarnation;
    gethostname(h->host, sizeof h->host - 1);
    for (char *p = h->host; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    h->pid = (uint32_t)getpid();
    h->role = a->opt.eval ? WIRE_ROLE_EVAL : WIRE_ROLE_ACTOR;
    h->n_envs = a->opt.eval ? 1 : a->n;
    send_msg(a, &m);
    a->state = ST_HELLO;
    a->hello_t = a->last_recv = a->last_hb = now_s();
}

/* A new DEALER connection (the old one's queue is dropped) and a Hello. */
static void connect_data(actor *a)
{
    if (a->dealer)
        zmq_close(a->dealer);
    a->dealer = zmq_socket(a->zctx, ZMQ_DEALER);
    int64_t maxmsg = WIRE_MAX_MSG;
    int zero = 0;
    zmq_setsockopt(a->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(a->dealer, ZMQ_LINGER, &zero, sizeof zero);
    char err[256];
    if (a->curve && curve_client(a->dealer, a->server_pub, &a->key, err,
                                 sizeof err))
        log_error("%s", err);
    /* handshake failures (a refused key, CURVE on one side only) come as
     * monitor events, never as messages */
    if (a->mon)
        zmq_close(a->mon);
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://hpo-actor-monitor-%d",
             a->n_mon++);
    a->mon = NULL;
    if (!zmq_socket_monitor(a->dealer, mon_ep,
                            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)) {
        a->mon = zmq_socket(a->zctx, ZMQ_PAIR);
        zmq_setsockopt(a->mon, ZMQ_LINGER, &zero, sizeof zero);
        zmq_connect(a->mon, mon_ep);
    }
    zmq_connect(a->dealer, a->endpoint);
    send_hello(a);
}

static void send_batch(actor *a)
{
    if (!a->rows)
        return;
    wire_msg m;
    wire_msg_init(&m, WIRE_BATCH);
    wire_batch *b = &m.batch;
    b->n = a->rows;
    b->obs_dim = a->od;
    b->act_dim = a->ad;
    b->param_version = a->version;
    b->incarnation = a->incarnation;
    b->seq = ++a->seq;
    b->obs = a->obs;
    b->action = a->act;
    b->reward = a->rew;
    b->next_obs = a->next_obs;
    b->terminated = a->term;
    b->truncated = a->trunc;
    b->n_episodes = a->n_ep;
    b->ep_return = a->ep_ret;
    b->ep_length = a->ep_len;
    if (send_msg(a, &m) == 0) {
        a->credit -= a->rows;
        a->last_hb = now_s();
    }
    a->rows = 0;
    a->n_ep = 0;
}

static void send_heartbeat(actor *a)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_HEARTBEAT);
    m.heartbeat.incarnation = a->incarnation;
    m.heartbeat.param_version = a->version;
    m.heartbeat.env_steps = a->steps;
    m.heartbeat.snapshot_latency_us = a->snap_latency_us;
    send_msg(a, &m);
    a->last_hb = now_s();
}

// ---- receiving ----

static int same_shape(const wire_agent *x, const wire_agent *y)
{
    return x->mode == y->mode && x->K == y->K && x->eps == y->eps &&
           x->std_exp == y->std_exp && x->pi_layers == y->pi_layers &&
           x->pi_hidden == y->pi_hidden && x->q_layers == y->q_layers &&
           x->q_hidden == y->q_hidden && x->h_hidden == y->h_hidden &&
           x->h_use_state == y->h_use_state && x->eval_hd == y->eval_hd;
}

/* Build (or rebuild) the agent for settings w. */
static void ensure_agent(actor *a, const wire_agent *w)
{
    if (a->agent && same_shape(&a->agent_set, w))
        return;
    sac_destroy(&a->agent);
    wire_agent_to_config(w, &a->cfg);
    a->agent = sac_new(&a->cfg, a->od, a->ad, a->n, 0);
    a->agent_set = *w;
    a->version = 0;
}

static void on_snapshot(actor *a, const wire_snapshot *s)
{
    if (a->state != ST_RUN || strcmp(s->run_id, a->run_id) ||
        s->version <= a->version)
        return;
    ensure_agent(a, &s->agent);
    const hpo_nets *n = &a->agent->nets;
    const wire_block *p = wire_snapshot_block(s, WIRE_BLOCK_POLICY);
    const wire_block *q = wire_snapshot_block(s, WIRE_BLOCK_CRITICS);
    if (!p || !q || p->n != n->pol_n || q->n != n->q_n) {
        log_warn_once("snapblocks", "snapshot %llu: blocks do not fit the "
                      "agent's networks; ignored",
                      (unsigned long long)s->version);
        return;
    }
    memcpy(a->agent->params + n->pol_off, p->data, p->n * sizeof(float));
    memcpy(a->agent->params + n->q_off, q->data, q->n * sizeof(float));
    if (s->agent.alpha > 0.0f)
        a->agent->log_alpha = logf(s->agent.alpha);
    if (a->version == 0)
        log_info("first snapshot: version %llu", (unsigned long long)s->version);
    a->version = s->version;
    a->snap_env_steps = s->env_steps;
    a->snap_updates = s->updates;
    /* The first snapshot after a handshake may be a resend of an old one, so
     * its age is not a broadcast latency; every later one is measured. */
    a->snap_latency_us = 0;
    uint64_t now = now_unix_ns();
    if (a->timed_snapshot && s->published_unix_ns) {
        if (now >= s->published_unix_ns)
            a->snap_latency_us = HPO_MAX((now - s->published_unix_ns) / 1000u, 1u);
        else
            log_warn_once("clock", "snapshot %llu published %.3f ms in this "
                          "host's future: clocks differ, latency not measured "
                          "(synchronize them, e.g. with NTP)",
                          (unsigned long long)s->version,
                          (double)(s->published_unix_ns - now) / 1e6);
    }
    a->timed_snapshot = 1;
    send_heartbeat(a); /* tells the learner the version and the latency */
}

/* Returns 1 when the actor must exit (refused). */
static int on_data(actor *a, const void *buf, size_t len)
{
    char err[256];
    wire_reject r = wire_decode(buf, len, NULL, &a->in, err, sizeof err);
    if (r != WIRE_OK) {
        log_warn_once("bad data", "dropped a message from the learner: %s: %s",
                      wire_reject_name(r), err);
        return 0;
    }
    a->last_recv = now_s();
    switch (a->in.type) {
    case WIRE_REFUSE:
        fprintf(stderr, PROG ": refused by the learner: %s\n",
                a->in.refuse.reason);
        return 1;
    case WIRE_WELCOME: {
        const wire_welcome *w = &a->in.welcome;
        if (strcmp(w->run_id, a->run_id)) {
            if (a->run_id[0])
                log_info("new learner run %s: waiting for its snapshot",
                         w->run_id);
            snprintf(a->run_id, sizeof a->run_id, "%s", w->run_id);
            a->version = 0;
            a->evaluated = 0; /* versions restart with the run */
            a->eval_updates = 0;
        }
        a->learning_starts = w->learning_starts;
        a->batch_max = w->batch_max > 0 ? w->batch_max : 64;
        a->heartbeat_ms = w->heartbeat_ms > 0 ? w->heartbeat_ms : 500;
        a->timeout_ms = w->timeout_ms > 0 ? w->timeout_ms : 3000;
        a->free_run = w->free_run;
        a->credit = (int64_t)w->credit;
        a->eval_episodes = a->opt.eval_episodes ? a->opt.eval_episodes
                           : w->eval_episodes > 0 ? w->eval_episodes : 10;
        ensure_agent(a, &w->agent);
        a->state = ST_RUN;
        a->timed_snapshot = 0;
        log_info("welcomed by run %s (snapshot %llu, %llu env steps)",
                 w->run_id, (unsigned long long)w->param_version,
                 (unsigned long long)w->env_steps);
        break;
    }
    case WIRE_CREDIT:
        a->credit += (int64_t)a->in.credit.transitions;
        break;
    case WIRE_HEARTBEAT:
        break;
    default:
        log_warn_once("unexpected", "unexpected %s from the learner",
                      wire_type_name(a->in.type));
        break;
    }
    return 0;
}

static int drain_data(actor *a)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, a->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return 0;
        }
        int rc = on_data(a, zmq_msg_data(&m), zmq_msg_size(&m));
        zmq_msg_close(&m);
        if (rc)
            return rc;
    }
}

static void drain_params(actor *a)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, a->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        char err[256];
        wire_expect ex = {a->od, a->ad, 0, 0};
        wire_reject r = wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), &ex,
                                    &a->in, err, sizeof err);
        zmq_msg_close(&m);
        if (r != WIRE_OK || a->in.type != WIRE_SNAPSHOT) {
            log_warn_once("bad snapshot", "dropped a params message: %s: %s",
                          wire_reject_name(r), r ? err : "not a snapshot");
            continue;
        }
        on_snapshot(a, &a->in.snapshot);
    }
}

// ---- stepping ----

/* Rows in one batch: the learner's batch_max, at least one step's. */
static int batch_rows(const actor *a)
{
    return HPO_MIN(a->cap, HPO_MAX(a->batch_max, a->n));
}

static int may_step(const actor *a)
{
    return a->state == ST_RUN && !a->opt.eval &&
           a->rows + a->n <= batch_rows(a) &&
           (a->free_run || a->credit - a->rows >= a->n);
}

static void step(actor *a)
{
    vecenv *v = a->ve;
    size_t na = (size_t)a->n * (size_t)a->ad;
    if (a->version == 0 || a->snap_env_steps < a->learning_starts)
        rng_uniform_fill(&a->act_rng, v->act, na, -1.0f, 1.0f);
    else
        sac_act(a->agent, v->obs, a->n, 0, &a->act_rng, v->act, NULL);
    vecenv_step(v);
    if (!a->rows)
        a->first_row_t = now_s();
    size_t r = (size_t)a->rows;
    memcpy(a->obs + r * a->od, v->prev_obs, (size_t)a->n * a->od * sizeof(float));
    memcpy(a->act + r * a->ad, v->act, na * sizeof(float));
    memcpy(a->rew + r, v->rew, (size_t)a->n * sizeof(float));
    memcpy(a->next_obs + r * a->od, v->next_obs,
           (size_t)a->n * a->od * sizeof(float));
    for (int i = 0; i < a->n; i++) {
        a->term[r + i] = v->terminated[i] ? 1 : 0;
        a->trunc[r + i] = v->truncated[i] ? 1 : 0;
    }
    a->rows += a->n;
    a->steps += (uint64_t)a->n;
    vecenv_episode ep;
    while (a->n_ep < a->rows && vecenv_pop_episode(v, &ep)) {
        a->ep_ret[a->n_ep] = (float)ep.ret;
        a->ep_len[a->n_ep++] = (uint32_t)ep.length;
    }
}

/* Deterministic episodes of the current snapshot, heartbeats in between. */
static void evaluate(actor *a)
{
    int n = a->eval_episodes;
    float *ret = xcalloc((size_t)n, sizeof *ret);
    uint32_t *len = xcalloc((size_t)n, sizeof *len);
    float *obs = xalloc_floats((size_t)a->od), *act = xalloc_floats((size_t)a->ad);
    rng r;
    rng_init(&r, a->cfg.seed, RNG_STREAM_EVAL);
    env_seed(a->eval_env, rng_u64(&r));
    env_step_result res;
    int done = 0;
    for (int e = 0; e < n && !stop_requested(); e++, done++) {
        env_reset(a->eval_env, obs);
        double sum = 0.0;
        long k = 0;
        for (; k < EVAL_MAX_STEPS; k++) {
            sac_act(a->agent, obs, 1, 1, &r, act, NULL);
            env_step(a->eval_env, act, obs, &res);
            sum += res.reward;
            if ((k & 63) == 0 &&
                (now_s() - a->last_hb) * 1000.0 >= a->heartbeat_ms)
                send_heartbeat(a);
            if (res.terminated || res.truncated)
                break;
        }
        ret[e] = (float)sum;
        len[e] = (uint32_t)(k + 1);
    }
    if (done == n) {
        wire_msg m;
        wire_msg_init(&m, WIRE_EVAL);
        m.eval.param_version = a->version;
        m.eval.incarnation = a->incarnation;
        m.eval.n = n;
        m.eval.returns = ret;
        m.eval.lengths = len;
        send_msg(a, &m);
        double s = 0.0;
        for (int i = 0; i < n; i++)
            s += ret[i];
        log_info("evaluated version %llu: mean return %.1f over %d episodes",
                 (unsigned long long)a->version, s / n, n);
    }
    a->evaluated = a->version;
    a->eval_updates = a->snap_updates;
    free(ret);
    free(len);
    free(obs);
    free(act);
}

/* 1 when a handshake failed in a way retrying cannot fix (message
 * printed): the learner refused this actor's key, or only one side uses
 * CurveZMQ. */
static int handshake_failed(actor *a)
{
    for (;;) {
        uint8_t ev[6];
        if (!a->mon || zmq_recv(a->mon, ev, sizeof ev, ZMQ_DONTWAIT) < 6)
            return 0;
        char ep[300] = "";
        int n = zmq_recv(a->mon, ep, sizeof ep - 1, 0);
        ep[n > 0 ? HPO_MIN(n, (int)sizeof ep - 1) : 0] = '\0';
        uint16_t event;
        uint32_t value;
        memcpy(&event, ev, 2);
        memcpy(&value, ev + 2, 4);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            fprintf(stderr, PROG ": refused by the learner: it does not allow "
                    "this actor's CurveZMQ key %s (ZAP status %u); put the "
                    ".public file of %s into the learner's --curve-allow\n",
                    a->key.pub, (unsigned)value, a->opt.curve_key);
            return 1;
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
            value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
            fprintf(stderr, PROG ": refused by the learner at %s: %s\n", ep,
                    a->curve ? "it does not use CurveZMQ; drop --curve-server "
                               "and --curve-key"
                             : "it requires CurveZMQ; give --curve-server "
                               "LEARNER.public and --curve-key ACTOR.secret");
            return 1;
        }
        log_warn_once("handshake", "handshake with %s failed: event 0x%x, "
                      "value 0x%x", ep, event, (unsigned)value);
    }
}

static int run(actor *a)
{
    connect_data(a);
    while (!stop_requested()) {
        zmq_pollitem_t items[2] = {
            {a->dealer, 0, ZMQ_POLLIN, 0},
            {a->sub, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, may_step(a) ? 0 : 10) < 0) {
            if (errno == EINTR)
                continue;
            log_error("zmq_poll: %s", zmq_strerror(errno));
            return 1;
        }
        if (drain_data(a) || handshake_failed(a))
            return 3;
        drain_params(a);
        double now = now_s();
        if (a->state == ST_HELLO) {
            if ((now - a->hello_t) * 1000.0 > a->opt.timeout_ms) {
                log_warn_once("no welcome", "no answer from %s: retrying",
                              a->endpoint);
                connect_data(a);
            }
            continue;
        }
        if ((now - a->last_recv) * 1000.0 > a->timeout_ms) {
            log_warn("learner silent for %.1f s: reconnecting",
                     now - a->last_recv);
            connect_data(a);
            continue;
        }
        if (a->opt.eval) {
            if (a->version > a->evaluated &&
                a->snap_env_steps >= a->learning_starts &&
                (a->evaluated == 0 || a->snap_updates < a->eval_updates ||
                 a->snap_updates - a->eval_updates >=
                     (uint64_t)a->opt.eval_every))
                evaluate(a);
        } else {
            if (may_step(a))
                step(a);
            /* rows from before a reconnect wait for the new learner's credit */
            int covered = a->free_run || a->credit >= a->rows;
            if (a->rows && covered &&
                (!may_step(a) || now - a->first_row_t > FLUSH_S))
                send_batch(a);
        }
        if ((now - a->last_hb) * 1000.0 >= a->heartbeat_ms)
            send_heartbeat(a);
        if (a->opt.max_steps && a->steps >= (uint64_t)a->opt.max_steps) {
            send_batch(a);
            break;
        }
    }
    return 0;
}

// ---- setup ----

static int actor_open(actor *a, const actor_opts *o, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->opt = *o;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rng r;
    rng_init(&r, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                     ((uint64_t)getpid() << 40), 7);
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
    if (a->curve &&
        curve_client(a->sub, a->server_pub, &a->key, err, errlen))
        return -1;
    int one = 1, zero = 0;
    int64_t maxmsg = WIRE_MAX_MSG;
    zmq_setsockopt(a->sub, ZMQ_CONFLATE, &one, sizeof one);
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
    free(a->enc);
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
    openblas_set_num_threads(1);
    char err[1024];
    static actor a;
    if (actor_open(&a, &o, err, sizeof err)) {
        fprintf(stderr, PROG ": %s\n", err);
        actor_close(&a);
        return 2;
    }
    stop_on_signals(0);
    log_info("actor %s: %d x %s, learner %s", a.opt.id, a.n,
             a.ve ? a.ve->cls->name : a.eval_env->cls->name, a.endpoint);
    rc = run(&a);
    log_info("actor %s stopped: %llu env steps", a.opt.id,
             (unsigned long long)a.steps);
    log_flush_counts();
    actor_close(&a);
    return rc;
}
