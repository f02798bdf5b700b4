/*
 * actors.c - hpo-learner's table of actors: the handshake (Hello, Welcome,
 * Refuse), credits, and messages addressed to one actor.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "env.h"
#include "learner.h"
#include "log.h"
#include "util.h"
#include "vecenv.h"

#define PEER_LOG_BURST 64 /* join/leave lines before the rate limit */

void learner_send(learner *l, learner_actor *a, const wire_msg *m)
{
    size_t len = learner_encode(l, m);
    if (!len) {
        log_warn_once("encode", "cannot encode a %s message",
                      wire_type_name(m->type));
        return;
    }
    if (zmq_send(l->data, a->rid, a->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(l->data, l->enc.p, len, ZMQ_DONTWAIT) < 0) {
        log_warn_once("send", "cannot send to actor %s: %s", a->id,
                      zmq_strerror(errno));
        return;
    }
    a->last_sent = now_s();
}

/* A Refuse to routing id rid, without an actor entry. */
void learner_refuse(learner *l, const void *rid, size_t rid_len,
                    const char *kind, const char *reason)
{
    wire_msg m;
    wire_msg_init(&m, WIRE_REFUSE);
    snprintf(m.refuse.reason, sizeof m.refuse.reason, "%s", reason);
    size_t len = learner_encode(l, &m);
    l->refused++;
    char key[96];
    snprintf(key, sizeof key, "refused %s: %.40s", kind, reason);
    log_warn_once(key, "refused a handshake: %s", reason);
    if (len) {
        zmq_send(l->data, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(l->data, l->enc.p, len, ZMQ_DONTWAIT);
    }
}

// ---- actors ----

learner_actor *learner_find_actor(learner *l, const void *rid, size_t len)
{
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        learner_actor *a = &l->actors[i];
        if (a->used && a->rid_len == len && !memcmp(a->rid, rid, len))
            return a;
    }
    return NULL;
}

/*
 * 1 when a join or leave may be logged: a bucket of PEER_LOG_BURST lines
 * refilled at one a second, so a flood of Hellos (every one a join, and an
 * eviction or a refusal) cannot flood the log; the lines not printed are
 * counted and summed up in one line at most every 10 s.
 */
static int peer_log(learner *l)
{
    double now = now_s();
    l->peer_log_tokens = HPO_MIN((double)PEER_LOG_BURST,
                                 l->peer_log_tokens + (now - l->peer_log_t));
    l->peer_log_t = now;
    if (l->peer_log_tokens >= 1.0) {
        l->peer_log_tokens -= 1.0;
        return 1;
    }
    l->peer_log_muted++;
    if (now - l->peer_log_said >= 10.0) {
        log_warn(
            "%llu actor joins and leaves not logged (more than %d in a burst, then one a second); status lists the table",
            (unsigned long long)l->peer_log_muted, PEER_LOG_BURST);
        l->peer_log_muted = 0;
        l->peer_log_said = now;
    }
    return 0;
}

void learner_drop_actor(learner *l, learner_actor *a, const char *why)
{
    if (peer_log(l))
        log_info("actor %s (%s pid %u) left: %s", a->id, a->host, a->pid, why);
    l->peers[a->peer_slot].rows--;
    a->used = 0;
    l->n_actors--;
}

/* The slot of peer name, or a free one; -1 when none is left (cannot
 * happen while a table row is free: a slot per row at most). */
static int peer_slot(learner *l, const char *name)
{
    int free_slot = -1;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        learner_peer *p = &l->peers[i];
        if (p->rows > 0 && !strcmp(p->name, name))
            return i;
        if (p->rows <= 0 && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0) {
        learner_peer *p = &l->peers[free_slot];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
    }
    return free_slot;
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

/* Grant a (its balance below one batch) credit for up to two batches
 * within head; returns what was granted. */
static int64_t grant(learner *l, learner_actor *a, int64_t head)
{
    int64_t unit = batch_unit(l, a);
    int64_t g = HPO_MIN(head, 2 * unit - a->balance);
    wire_msg m;
    wire_msg_init(&m, WIRE_CREDIT);
    m.credit.transitions = (uint64_t)g;
    learner_send(l, a, &m);
    if (a->balance <= 0)
        a->owed_t = now_s(); /* it waited for us until now */
    a->balance += g;
    return g;
}

/*
 * Grant credits so that env steps (ingested plus granted) stay within a
 * window of ratio_origin + updates / ratio, the window being two batches
 * per streaming actor. Each actor below one batch of credit is topped up to
 * two. The head is shared per peer (learner_peer), not per row: peers take
 * turns, one row of each per turn (its rows in turn too), and the next call
 * starts after the last peer served, so a peer with a hundred ids gets what
 * a peer with one gets when both want more than there is. When updates wait
 * for data the whole window is free, so every actor can always step again:
 * no deadlock.
 */
void learner_grant_credits(learner *l)
{
    if (l->opt.replay_ratio <= 0.0)
        return;
    int64_t window = 0;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
        if (l->actors[i].used && l->actors[i].role == WIRE_ROLE_ACTOR &&
            !learner_quarantined(l, &l->actors[i]))
            window += 2 * batch_unit(l, &l->actors[i]);
    if (!window)
        return;
    double allowed = l->ratio_origin +
                     (double)l->updates / l->opt.replay_ratio + (double)window;
    int64_t head = (int64_t)allowed - (int64_t)l->env_steps - outstanding(l);
    if (head <= 0)
        return;
    /* the rows that want credit, grouped by peer (a counting sort) */
    int cnt[LEARNER_MAX_ACTORS] = {0}, start[LEARNER_MAX_ACTORS + 1];
    int row[LEARNER_MAX_ACTORS], fill[LEARNER_MAX_ACTORS];
    int served[LEARNER_MAX_ACTORS] = {0};
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        const learner_actor *a = &l->actors[i];
        if (a->used && a->role == WIRE_ROLE_ACTOR &&
            a->balance < batch_unit(l, a) && !learner_quarantined(l, a))
            cnt[a->peer_slot]++;
    }
    start[0] = 0;
    for (int p = 0; p < LEARNER_MAX_ACTORS; p++) {
        start[p + 1] = start[p] + cnt[p];
        fill[p] = start[p];
    }
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        const learner_actor *a = &l->actors[i];
        if (a->used && a->role == WIRE_ROLE_ACTOR &&
            a->balance < batch_unit(l, a) && !learner_quarantined(l, a))
            row[fill[a->peer_slot]++] = i;
    }
    /* turns: one row of each peer per pass, peers from l->rr on */
    for (int pass = 0; head > 0; pass++) {
        int any = 0;
        for (int k = 0; k < LEARNER_MAX_ACTORS && head > 0; k++) {
            int p = (l->rr + k) % LEARNER_MAX_ACTORS;
            if (pass >= cnt[p])
                continue;
            any = 1;
            unsigned off = (l->peers[p].rr + (unsigned)pass) % (unsigned)cnt[p];
            head -= grant(l, &l->actors[row[start[p] + (int)off]], head);
            served[p] = pass + 1;
            l->rr = (p + 1) % LEARNER_MAX_ACTORS; /* the next peer first */
        }
        if (!any)
            break;
    }
    for (int p = 0; p < LEARNER_MAX_ACTORS; p++)
        l->peers[p].rr += (unsigned)served[p]; /* its next rows go first */
}

/*
 * A row to free for a new Hello among those of peer slot (-1: any peer):
 * the oldest row that said nothing after its Hello for two heartbeat
 * periods, else the row that has owed data (learner_actor.owed_t) longest,
 * if for more than --timeout-ms: connections that only shake hands or only
 * heartbeat cannot hold the table. NULL: none.
 */
static learner_actor *idle_row(learner *l, int slot, double now)
{
    learner_actor *mute = NULL, *idle = NULL;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        learner_actor *a = &l->actors[i];
        if (!a->used || (slot >= 0 && a->peer_slot != slot))
            continue;
        if (!a->said_more &&
            (now - a->joined) * 1000.0 > 2.0 * l->opt.heartbeat_ms &&
            (!mute || a->joined < mute->joined))
            mute = a;
        if ((now - a->owed_t) * 1000.0 > l->opt.timeout_ms &&
            (!idle || a->owed_t < idle->owed_t))
            idle = a;
    }
    return mute ? mute : idle;
}

/* Free row a for a new Hello (counted and logged). */
static void evict(learner *l, learner_actor *a, const char *why)
{
    l->guards[GUARD_EVICTED]++;
    learner_drop_actor(l, a, why);
}

/* A free row of the table; when it is full, one freed (idle_row). NULL:
 * none. */
static learner_actor *free_row(learner *l, double now)
{
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
        if (!l->actors[i].used)
            return &l->actors[i];
    learner_actor *old = idle_row(l, -1, now);
    if (old)
        evict(
            l, old,
            old->said_more
                ? "evicted: no data for longer than --timeout-ms, the table is full"
                : "evicted: nothing after its Hello, the table is full");
    return old;
}

void learner_on_hello(learner *l, const void *rid, size_t rid_len,
                      const char *peer, const wire_hello *h)
{
    char reason[WIRE_TEXT_MAX];
    const env_class *cls = env_find(h->env);
    if (!cls || strcmp(cls->name, l->cfg.env)) {
        snprintf(reason, sizeof reason,
                 "environment %.60s, the learner runs %.60s", h->env,
                 l->cfg.env);
        learner_refuse(l, rid, rid_len, "environment", reason);
        return;
    }
    if (h->obs_dim != l->obs_dim || h->act_dim != l->act_dim) {
        snprintf(reason, sizeof reason,
                 "dimensions obs %d act %d, the learner's %s has obs %d act %d",
                 h->obs_dim, h->act_dim, l->cfg.env, l->obs_dim, l->act_dim);
        learner_refuse(l, rid, rid_len, "dimensions", reason);
        return;
    }
    if (h->n_envs > VECENV_MAX_ENVS ||
        (h->role != WIRE_ROLE_ACTOR && h->role != WIRE_ROLE_EVAL)) {
        snprintf(
            reason, sizeof reason,
            "n_envs %d or role %d out of range (1..%d environments, role actor or eval)",
            h->n_envs, h->role, VECENV_MAX_ENVS);
        l->guards[GUARD_BAD_HELLO]++;
        learner_refuse(l, rid, rid_len, "hello", reason);
        return;
    }
    double now = now_s();
    learner_actor *a = learner_find_actor(l, rid, rid_len);
    if (a && strcmp(a->peer, peer)) {
        /* the routing id of a connection gone, now another peer's */
        learner_drop_actor(l, a, "its routing id reused by another peer");
        a = NULL;
    }
    /* the id's holder: the same process on a new connection from the same
     * peer (its CurveZMQ key, or its address without keys) gives it up;
     * another one keeps it while it is live */
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        learner_actor *b = &l->actors[i];
        if (!b->used || b == a || strcmp(b->id, h->actor_id))
            continue;
        if (!a && b->incarnation == h->incarnation && !strcmp(b->peer, peer)) {
            learner_drop_actor(l, b, "rejoined");
            continue;
        }
        snprintf(
            reason, sizeof reason,
            LEARNER_BUSY
            "actor id %.64s is held by a live actor (%.64s pid %u, last seen %.1f s ago); another --id, or wait for its timeout",
            h->actor_id, b->host, b->pid, now - b->last_seen);
        l->guards[GUARD_ID_IN_USE]++;
        if (a)
            a->refused_msgs++;
        learner_refuse(l, rid, rid_len, "busy id", reason);
        return;
    }
    if (!a) {
        /* rows per peer: past --max-peer-rows one of its own idle rows
         * makes room, or the Hello waits */
        int slot = peer_slot(l, peer),
            held = slot >= 0 ? l->peers[slot].rows : 0;
        if (held >= l->opt.max_peer_rows) {
            learner_actor *old = idle_row(l, slot, now);
            if (!old && l->n_actors == LEARNER_MAX_ACTORS) {
                snprintf(reason, sizeof reason,
                         LEARNER_BUSY "too many actors (%d)",
                         LEARNER_MAX_ACTORS);
                learner_refuse(l, rid, rid_len, "busy table", reason);
                return;
            }
            if (!old) {
                snprintf(
                    reason, sizeof reason,
                    LEARNER_BUSY
                    "%d actors from %.48s already, the learner's --max-peer-rows",
                    held, peer);
                l->guards[GUARD_PEER_ROWS]++;
                learner_refuse(l, rid, rid_len, "peer rows", reason);
                return;
            }
            evict(l, old,
                  "evicted: its peer is at --max-peer-rows and it is idle");
        }
        a = free_row(l, now);
        if (!a) {
            snprintf(reason, sizeof reason, LEARNER_BUSY "too many actors (%d)",
                     LEARNER_MAX_ACTORS);
            learner_refuse(l, rid, rid_len, "busy table", reason);
            return;
        }
        slot = peer_slot(l, peer); /* an eviction may have freed it */
        HPO_ASSERT(slot >= 0);
        memset(a, 0, sizeof *a);
        a->used = 1;
        memcpy(a->rid, rid, rid_len);
        a->rid_len = rid_len;
        snprintf(a->peer, sizeof a->peer, "%s", peer);
        a->peer_slot = slot;
        a->owed_t = now;
        l->peers[slot].rows++;
        l->n_actors++;
    }
    snprintf(a->id, sizeof a->id, "%s", h->actor_id);
    snprintf(a->host, sizeof a->host, "%s", h->host);
    a->pid = h->pid;
    a->role = h->role;
    a->n_envs = h->n_envs > 0 ? h->n_envs : 1;
    a->said_more = 0;
    a->incarnation = h->incarnation;
    a->balance = 0;
    a->joined = a->last_seen = a->rate_t = now_s();
    a->rate_steps = a->steps;
    if (peer_log(l))
        log_info("actor %s joined: %s pid %u, %d envs, %s", a->id, a->host,
                 a->pid, a->n_envs,
                 a->role == WIRE_ROLE_EVAL ? "eval" : "actor");

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
    learner_send(l, a, &m);
    learner_republish(l);
    learner_grant_credits(l);
}

void learner_actors_tick(learner *l, double now)
{
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        learner_actor *a = &l->actors[i];
        if (!a->used)
            continue;
        if ((now - a->last_seen) * 1000.0 > l->opt.timeout_ms) {
            learner_drop_actor(l, a, "heartbeat timeout");
            continue;
        }
        if ((now - a->last_sent) * 1000.0 >= l->opt.heartbeat_ms) {
            wire_msg m;
            wire_msg_init(&m, WIRE_HEARTBEAT);
            m.heartbeat.param_version = l->param_version;
            m.heartbeat.env_steps = l->env_steps;
            learner_send(l, a, &m);
        }
        if (now - a->rate_t >= LEARNER_RATE_WINDOW_S) {
            a->steps_per_s =
                (double)(a->steps - a->rate_steps) / (now - a->rate_t);
            a->rate_t = now;
            a->rate_steps = a->steps;
        }
    }
}
