/*
 * publish.c - hpo-learner's parameter snapshots: encoded once per
 * --publish-every updates onto the params PUB, resent to lagging actors.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "learner.h"
#include "log.h"
#include "snapshot.h"
#include "util.h"

// ---- sending ----

/* Encode m into l->enc. Returns the length, 0 when it cannot be encoded. */
size_t learner_encode(learner *l, const wire_msg *m)
{
    return msgbuf_encode(&l->enc, m);
}

/* Encode and publish a new snapshot of the current parameters. */
void learner_publish(learner *l)
{
    if (!sac_state_finite(l->agent)) {
        log_warn_once("snapshot finite",
                      "snapshot not published: non-finite weights");
        return;
    }
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
    s->eval_mark = l->eval_mark;
    snprintf(s->run_id, sizeof s->run_id, "%s", l->run_id);
    snapshot_set_blocks(s, l->agent);
    size_t len = learner_encode(l, &m);
    if (!len) {
        log_warn_once("snapshot", "cannot encode a snapshot");
        return;
    }
    if (len > l->snap_len)
        l->snap = xrealloc(l->snap, len);
    memcpy(l->snap, l->enc.p, len);
    l->snap_len = len;
    l->snap_updates = l->updates;
    l->pubs[s->version % LEARNER_PUBS] = (learner_pub){
        .version = s->version, .mark = s->eval_mark, .updates = l->updates};
    zmq_send(l->params, l->snap, l->snap_len, ZMQ_DONTWAIT);
    l->last_publish = now_s();
}

void learner_republish(learner *l)
{
    if (l->snap_len)
        zmq_send(l->params, l->snap, l->snap_len, ZMQ_DONTWAIT);
    l->last_publish = now_s();
}

/*
 * The params XPUB runs in manual mode: each subscription arrives here and
 * only the empty prefix (every snapshot) is applied, once per connection,
 * so the subscription trie holds one entry whatever peers send. A prefix,
 * or anything else, is counted and ignored; an unsubscription of the empty
 * prefix is applied.
 */
void learner_subscriptions(learner *l)
{
    uint8_t buf[LEARNER_MAX_SUBSCRIPTION];
    for (int k = 0; k < 256; k++) {
        int n = zmq_recv(l->params, buf, sizeof buf, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        if (n == 1 && buf[0] == 1) {
            zmq_setsockopt(l->params, ZMQ_SUBSCRIBE, "", 0);
        } else if (n == 1 && buf[0] == 0) {
            zmq_setsockopt(l->params, ZMQ_UNSUBSCRIBE, "", 0);
        } else if (n > 0 && buf[0] == 0) {
            /* the unsubscription of a prefix never applied: nothing to do */
        } else {
            l->guards[GUARD_SUBSCRIPTION]++;
            log_warn_once(
                "subscription",
                "ignored a params subscription of %d bytes (only the empty prefix is served); later ones are counted (status: guards.subscription)",
                n);
        }
    }
}
