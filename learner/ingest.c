/*
 * ingest.c - what comes in: the data ROUTER's messages (batches into the
 * replay buffer, heartbeats, evaluation results) and the status REP's
 * requests; every rejected message counted by reason.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "learner.h"
#include "log.h"
#include "util.h"

/* Count a refused message of actor a under guard g: in l->guards and with
 * the actor; the log has one line per guard, whatever the number of peers. */
static void guard_msg(learner *l, learner_actor *a, learner_guard g,
                      const char *what)
{
    l->guards[g]++;
    a->refused_msgs++;
    char key[96];
    snprintf(key, sizeof key, "guard %s", learner_guard_name(g));
    log_warn_once(
        key,
        "refused a message of actor %s (%s pid %u): %s; later ones are counted (status: guards, per actor: refused_msgs)",
        a->id, a->host, a->pid, what);
}

/* Why row i of b may not enter the replay buffer (GUARD_COUNT: it may):
 * actions outside the box [-1, 1], observations or rewards beyond the
 * configured magnitudes. */
static learner_guard row_check(const learner *l, const wire_batch *b, int i)
{
    const float *x = b->action + (size_t)i * (size_t)b->act_dim;
    for (int k = 0; k < b->act_dim; k++)
        if (!(x[k] >= -1.0f && x[k] <= 1.0f))
            return GUARD_ROW_ACTION;
    if (!(fabsf(b->reward[i]) <= l->opt.max_abs_reward))
        return GUARD_ROW_REWARD;
    const float *o = b->obs + (size_t)i * (size_t)b->obs_dim;
    const float *n = b->next_obs + (size_t)i * (size_t)b->obs_dim;
    float lim = (float)l->opt.max_abs_obs;
    for (int k = 0; k < b->obs_dim; k++)
        if (!(fabsf(o[k]) <= lim && fabsf(n[k]) <= lim))
            return GUARD_ROW_OBS;
    return GUARD_COUNT;
}

/*
 * A batch into the replay buffer: refused whole when a is not a streaming
 * actor or sends more rows than its credit (unless the run is free); rows
 * out of bounds dropped one by one and counted by reason, then the data
 * guards' verdict (trust.c: beyond the data's learned scale, or a
 * quarantined actor). Only the rows taken count as env steps; the credit
 * is charged for every row sent.
 */
static void on_batch(learner *l, learner_actor *a, const wire_batch *b)
{
    if (a->role != WIRE_ROLE_ACTOR) {
        guard_msg(l, a, GUARD_NOT_STREAMING, "a batch from an --eval actor");
        return;
    }
    if (l->finishing)
        return; /* the budget is reached: the run takes no more steps */
    if (l->opt.replay_ratio > 0.0 && (int64_t)b->n > a->balance) {
        char what[128];
        snprintf(what, sizeof what,
                 "a batch of %d rows beyond its credit of %lld", b->n,
                 (long long)a->balance);
        guard_msg(l, a, GUARD_OVER_CREDIT, what);
        return;
    }
    if ((size_t)b->n > l->row_ok_cap) {
        l->row_ok = xrealloc(l->row_ok, (size_t)b->n);
        l->row_z = xrealloc(l->row_z, (size_t)b->n * sizeof *l->row_z);
        l->row_ok_cap = (size_t)b->n;
    }
    uint8_t *ok = l->row_ok;
    int bad = 0;
    for (int i = 0; i < b->n; i++) {
        learner_guard g = row_check(l, b, i);
        ok[i] = g == GUARD_COUNT;
        if (!ok[i]) {
            l->guards[g]++;
            a->refused_rows++;
            bad++;
        }
    }
    double max_z;
    int far = learner_trust_rows(l, a, b, ok, &max_z);
    size_t taken = 0;
    for (int i = 0; i < b->n; i++)
        taken += ok[i];
    if (taken == (size_t)b->n) {
        replay_push_batch(l->rb, (size_t)b->n, b->obs, b->action, b->reward,
                          b->next_obs, b->terminated);
    } else {
        size_t od = (size_t)b->obs_dim, ad = (size_t)b->act_dim;
        for (int i = 0; i < b->n; i++)
            if (ok[i])
                replay_push(l->rb, b->obs + i * od, b->action + i * ad,
                            b->reward[i], b->next_obs + i * od,
                            b->terminated[i]);
    }
    learner_trust_after(l, a, b, ok, far, max_z);
    if (bad) {
        char what[160];
        snprintf(
            what, sizeof what,
            "%d of %d rows out of bounds (actions outside [-1, 1], |obs| > %g or |reward| > %g): dropped",
            bad, b->n, l->opt.max_abs_obs, l->opt.max_abs_reward);
        learner_trip(l, TRIP_HARD, what);
        log_warn_once(
            "guard rows",
            "actor %s (%s pid %u): %s; later ones are counted (status: guards, per actor: refused_rows)",
            a->id, a->host, a->pid, what);
    }
    l->env_steps += (uint64_t)taken;
    a->steps += (uint64_t)taken;
    a->balance -= b->n;
    a->owed_t = now_s();
    if (b->param_version <= l->param_version)
        a->param_version = b->param_version;
    for (int i = 0; i < b->n_episodes; i++)
        if (isfinite(b->ep_return[i]) &&
            fabsf(b->ep_return[i]) <= LEARNER_MAX_RETURN) {
            l->recent[l->n_episodes++ % LEARNER_RECENT] = b->ep_return[i];
            l->n_recent = HPO_MIN(l->n_recent + 1, LEARNER_RECENT);
        }
}

/* A heartbeat: the version must have been published, the latency below an
 * hour; else refused and counted. */
static void on_heartbeat(learner *l, learner_actor *a, const wire_heartbeat *h)
{
    if (h->param_version > l->param_version ||
        h->snapshot_latency_us > LEARNER_MAX_LATENCY_US) {
        char what[160];
        snprintf(what, sizeof what,
                 "a heartbeat of version %llu (newest %llu), latency %llu us",
                 (unsigned long long)h->param_version,
                 (unsigned long long)l->param_version,
                 (unsigned long long)h->snapshot_latency_us);
        guard_msg(l, a, GUARD_BAD_HEARTBEAT, what);
        return;
    }
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

/* An evaluation: only from an --eval actor, of a published version, with
 * returns within LEARNER_MAX_RETURN and lengths of at least one step. */
static void on_eval(learner *l, learner_actor *a, const wire_eval *e)
{
    const char *why = NULL;
    if (a->role != WIRE_ROLE_EVAL)
        why = "an evaluation from a streaming actor";
    else if (e->n < 1)
        why = "an evaluation of no episodes";
    else if (e->param_version < 1 || e->param_version > l->param_version)
        why = "an evaluation of a version not published";
    for (int i = 0; i < e->n && !why; i++)
        if (!(fabsf(e->returns[i]) <= LEARNER_MAX_RETURN) || e->lengths[i] < 1)
            why = "an evaluation with a return or length out of range";
    if (why) {
        guard_msg(l, a, GUARD_BAD_EVAL, why);
        return;
    }
    a->owed_t = now_s();
    run_stats rs = {0};
    for (int i = 0; i < e->n; i++)
        run_stats_add(&rs, e->returns[i]);
    l->eval_mean = run_stats_mean(&rs);
    l->eval_std = run_stats_std(&rs);
    l->eval_n = e->n;
    l->eval_version = e->param_version;
    const learner_pub *p = &l->pubs[e->param_version % LEARNER_PUBS];
    if (p->version == e->param_version && p->mark > l->eval_written) {
        learner_csv_eval(l, p, l->eval_mean, l->eval_std);
        l->eval_written = p->mark;
    }
    log_info(
        "evaluation of version %llu (mark %llu env steps): mean return %.1f over %d episodes",
        (unsigned long long)e->param_version,
        (unsigned long long)(p->version == e->param_version ? p->mark : 0),
        l->eval_mean, e->n);
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
void learner_reject(learner *l, const char *sock, const uint8_t *rid,
                    size_t rid_len, wire_reject r, const char *msg)
{
    char who[2 * 32 + 1], key[160];
    l->rejected[r < WIRE_REJECT_COUNT ? r : WIRE_MALFORMED]++;
    learner_actor *a = rid_len ? learner_find_actor(l, rid, rid_len) : NULL;
    if (a)
        a->refused_msgs++;
    hex(who, sizeof who, rid, HPO_MIN(rid_len, (size_t)32));
    /* a key per sender and reason; log.c bounds the keys, past that every
     * new one is counted in one summary line */
    snprintf(key, sizeof key, "reject %s %s: %s", sock, wire_reject_name(r),
             a ? a->id : who);
    log_warn_once(
        key,
        "dropped a message on %s from %s: %s: %s; later ones are counted (status: rejected)",
        sock,
        a         ? a->id
        : rid_len ? who
                  : "a client",
        wire_reject_name(r), msg);
}

/* The name of the peer msg came from (learner_peer): the CurveZMQ client
 * key the ZAP handler let in, or without keys the TCP peer address. */
static void msg_peer(const learner *l, zmq_msg_t *msg, char *peer, size_t cap)
{
    const char *v = zmq_msg_gets(msg, l->zap ? "User-Id" : "Peer-Address");
    snprintf(peer, cap, "%s", v && v[0] ? v : "unknown");
}

/* Receive one data message (identity frame, body). Returns 0 when the
 * socket had none. */
int learner_data_one(learner *l)
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
        learner_reject(l, "data", rid, rid_len, WIRE_MALFORMED,
                       "no body frame");
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
        learner_reject(l, "data", rid, rid_len, WIRE_MALFORMED,
                       "more than one frame");
        return 1;
    }

    char err[256], peer[LEARNER_PEER_TEXT];
    msg_peer(l, &msg, peer, sizeof peer);
    wire_reject r = wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg),
                                &l->expect, &l->in, err, sizeof err);
    zmq_msg_close(&msg);
    learner_actor *a = learner_find_actor(l, rid, rid_len);
    if (a && strcmp(a->peer, peer))
        a = NULL; /* a routing id reused by another peer: not that row's */
    if (r != WIRE_OK) {
        learner_reject(l, "data", rid, rid_len, r, err);
        if (r == WIRE_BAD_VERSION && l->in.type == WIRE_HELLO) {
            char reason[WIRE_TEXT_MAX];
            snprintf(reason, sizeof reason,
                     "protocol version %u, the learner speaks %u",
                     l->in.version, WIRE_VERSION);
            learner_refuse(l, rid, rid_len, "version", reason);
        }
        return 1;
    }
    if (l->in.type == WIRE_HELLO) {
        learner_on_hello(l, rid, rid_len, peer, &l->in.hello);
        return 1;
    }
    if (!a) {
        char who[65];
        hex(who, sizeof who, rid, HPO_MIN(rid_len, (size_t)32));
        l->unknown_sender++;
        log_warn_once(
            "unknown sender",
            "a %s from %s before its Hello: ignored; later ones are counted (status: unknown_sender)",
            wire_type_name(l->in.type), who);
        return 1;
    }
    a->last_seen = now_s();
    a->said_more = 1;
    switch (l->in.type) {
    case WIRE_BATCH:
        on_batch(l, a, &l->in.batch);
        break;
    case WIRE_HEARTBEAT:
        on_heartbeat(l, a, &l->in.heartbeat);
        break;
    case WIRE_EVAL:
        on_eval(l, a, &l->in.eval);
        break;
    default:
        learner_reject(l, "data", rid, rid_len, WIRE_UNKNOWN_TYPE,
                       "not a message an actor sends");
        break;
    }
    return 1;
}

// ---- status ----

void learner_status_one(learner *l)
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
        r = wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), NULL, &l->in,
                        err, sizeof err);
    zmq_msg_close(&msg);
    if (r == WIRE_OK && l->in.type != WIRE_STATUS_REQUEST) {
        r = WIRE_UNKNOWN_TYPE;
        snprintf(err, sizeof err, "a %s on the status socket",
                 wire_type_name(l->in.type));
    }
    if (r != WIRE_OK) {
        learner_reject(l, "status", NULL, 0, r, err);
        char *reply = figures_error_json(wire_reject_name(r));
        zmq_send(l->status, reply, strlen(reply), ZMQ_DONTWAIT);
        free(reply);
        return;
    }
    l->status_requests++;
    static learner_figures f; /* one loop thread */
    learner_figures_fill(&f, l);
    char *json = figures_json(&f);
    zmq_send(l->status, json, strlen(json), ZMQ_DONTWAIT);
    free(json);
}
