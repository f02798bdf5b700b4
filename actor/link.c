/*
 * link.c - hpo-actor's connection to the learner: the DEALER (Hello,
 * reconnect, Welcome, credits, heartbeats), the SUB of snapshots, and the
 * CurveZMQ handshake's failures.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "actor.h"
#include "log.h"
#include "snapshot.h"
#include "curve.h"
#include "util.h"
#include "vecenv.h"

// ---- sending ----

int actor_send(actor *a, const wire_msg *m)
{
    size_t len = msgbuf_encode(&a->enc, m);
    if (!len) {
        log_warn_once("encode", "cannot encode a %s", wire_type_name(m->type));
        return -1;
    }
    if (zmq_send(a->dealer, a->enc.p, len, ZMQ_DONTWAIT) < 0) {
        log_warn_once("send", "cannot send a %s: %s", wire_type_name(m->type),
                      zmq_strerror(errno));
        return -1;
    }
    return 0;
}

void actor_hello(actor *a)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_HELLO);
    wire_hello *h = &m.hello;
    snprintf(h->env, sizeof h->env, "%s",
             a->ve ? a->ve->cls->name : a->eval_env->cls->name);
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
    actor_send(a, &m);
    a->state = ST_HELLO;
    a->hello_t = a->last_recv = a->last_hb = now_s();
}

/* A new DEALER connection (the old one's queue is dropped) and a Hello. */
void actor_connect(actor *a)
{
    if (a->dealer)
        zmq_close(a->dealer);
    a->dealer = zmq_socket(a->zctx, ZMQ_DEALER);
    int64_t maxmsg = WIRE_MAX_MSG;
    int zero = 0;
    zmq_setsockopt(a->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(a->dealer, ZMQ_LINGER, &zero, sizeof zero);
    char err[256];
    if (a->curve &&
        curve_client(a->dealer, a->server_pub, &a->key, err, sizeof err))
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
    actor_hello(a);
}

void actor_heartbeat(actor *a)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_HEARTBEAT);
    m.heartbeat.incarnation = a->incarnation;
    m.heartbeat.param_version = a->version;
    m.heartbeat.env_steps = a->steps;
    m.heartbeat.snapshot_latency_us = a->snap_latency_us;
    actor_send(a, &m);
    a->last_hb = now_s();
}

// ---- receiving ----

/* Build (or rebuild) the agent for settings w. The settings text is
 * canonical (config_agent_text), so equal texts are equal settings. */
static void ensure_agent(actor *a, const wire_agent *w)
{
    if (a->agent && !strcmp(a->agent_set.settings, w->settings))
        return;
    char err[256];
    hpo_config c = a->cfg;
    /* wire_decode checked w with the same parser: a failure is a bug */
    HPO_ASSERT(wire_agent_to_config(w, &c, err, sizeof err) == 0);
    sac_destroy(&a->agent);
    a->cfg = c;
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
    if (snapshot_load_blocks(a->agent, s)) {
        log_warn_once(
            "snapblocks",
            "snapshot %llu: blocks do not fit the agent's networks; ignored",
            (unsigned long long)s->version);
        return;
    }
    if (s->agent.alpha > 0.0f)
        a->agent->log_alpha = logf(s->agent.alpha);
    if (a->version == 0)
        log_info("first snapshot: version %llu",
                 (unsigned long long)s->version);
    a->version = s->version;
    a->snap_env_steps = s->env_steps;
    a->snap_updates = s->updates;
    a->snap_eval_mark = s->eval_mark;
    /* The first snapshot after a handshake may be a resend of an old one, so
     * its age is not a broadcast latency; every later one is measured. */
    a->snap_latency_us = 0;
    uint64_t now = now_unix_ns();
    if (a->timed_snapshot && s->published_unix_ns) {
        if (now >= s->published_unix_ns)
            a->snap_latency_us =
                HPO_MAX((now - s->published_unix_ns) / 1000u, 1u);
        else
            log_warn_once(
                "clock",
                "snapshot %llu published %.3f ms in this host's future: clocks differ, latency not measured (synchronize them, e.g. with NTP)",
                (unsigned long long)s->version,
                (double)(s->published_unix_ns - now) / 1e6);
    }
    a->timed_snapshot = 1;
    actor_heartbeat(a); /* tells the learner the version and the latency */
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
        if (!strncmp(a->in.refuse.reason, ACTOR_BUSY, strlen(ACTOR_BUSY))) {
            /* capacity or an id in use: wait and say Hello again, backing
             * off (with jitter so that many actors spread out) */
            double wait = a->backoff_s > 0 ? a->backoff_s : ACTOR_BACKOFF_MIN_S;
            wait *= 0.75 + 0.5 * (double)(now_unix_ns() % 1000u) / 1000.0;
            a->backoff_s = HPO_MIN(
                2.0 * (a->backoff_s > 0 ? a->backoff_s : ACTOR_BACKOFF_MIN_S),
                ACTOR_BACKOFF_MAX_S);
            log_warn("refused by the learner: %s: retrying in %.1f s",
                     a->in.refuse.reason + strlen(ACTOR_BUSY), wait);
            a->state = ST_WAIT;
            a->retry_at = now_s() + wait;
            return 0;
        }
        fprintf(stderr, ACTOR_PROG ": refused by the learner: %s\n",
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
            a->eval_mark = 0;
        }
        a->learning_starts = w->learning_starts;
        a->batch_max = w->batch_max > 0 ? w->batch_max : 64;
        a->heartbeat_ms = w->heartbeat_ms > 0 ? w->heartbeat_ms : 500;
        a->timeout_ms = w->timeout_ms > 0 ? w->timeout_ms : 3000;
        a->free_run = w->free_run;
        a->credit = (int64_t)w->credit;
        a->eval_episodes = a->opt.eval_episodes   ? a->opt.eval_episodes
                           : w->eval_episodes > 0 ? w->eval_episodes
                                                  : 10;
        ensure_agent(a, &w->agent);
        a->state = ST_RUN;
        a->backoff_s = 0;
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

int actor_drain_data(actor *a)
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

void actor_drain_params(actor *a)
{
    /* every waiting message is received, the older ones dropped unread:
     * only the newest snapshot matters */
    zmq_msg_t newest, m;
    zmq_msg_init(&newest);
    int have = 0;
    for (;;) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, a->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        zmq_msg_move(&newest, &m); /* closes the older one */
        zmq_msg_close(&m);
        have = 1;
    }
    if (!have) {
        zmq_msg_close(&newest);
        return;
    }
    char err[256];
    wire_expect ex = {a->od, a->ad, 0, 0};
    wire_reject r = wire_decode(zmq_msg_data(&newest), zmq_msg_size(&newest),
                                &ex, &a->in, err, sizeof err);
    zmq_msg_close(&newest);
    if (r != WIRE_OK || a->in.type != WIRE_SNAPSHOT) {
        log_warn_once("bad snapshot", "dropped a params message: %s: %s",
                      wire_reject_name(r), r ? err : "not a snapshot");
        return;
    }
    on_snapshot(a, &a->in.snapshot);
}

/* 1 when a handshake failed in a way retrying cannot fix (message
 * printed): the learner refused this actor's key, or only one side uses
 * CurveZMQ. */
int actor_handshake_failed(actor *a)
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
            fprintf(
                stderr,
                ACTOR_PROG
                ": refused by the learner: it does not allow this actor's CurveZMQ key %s (ZAP status %u); put the .public file of %s into the learner's --curve-allow\n",
                a->key.pub, (unsigned)value, a->opt.curve_key);
            return 1;
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
            value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
            fprintf(
                stderr, ACTOR_PROG ": refused by the learner at %s: %s\n", ep,
                a->curve
                    ? "it does not use CurveZMQ; drop --curve-server and --curve-key"
                    : "it requires CurveZMQ; give --curve-server LEARNER.public and --curve-key ACTOR.secret");
            return 1;
        }
        log_warn_once("handshake",
                      "handshake with %s failed: event 0x%x, value 0x%x", ep,
                      event, (unsigned)value);
    }
}
