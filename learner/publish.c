/*
 * publish.c - hpo-learner's parameter snapshots: encoded once per
 * --publish-every updates onto the params PUB, resent to lagging actors.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <linux/tcp.h> /* struct tcp_info's tcpi_bytes_received */
#include <netinet/in.h>
#include <sys/socket.h>
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

// ---- the params socket's connections ----

#define PARAMS_MONITOR "inproc://hpo-params-monitor"
#define SWEEP_S 1.0 /* every connection's bytes checked at least this often */

/* One accepted params connection: libzmq's descriptor, and who it was
 * connected to when accepted (to tell a descriptor number reused). */
struct params_conn {
    int fd;
    struct sockaddr_storage peer;
    socklen_t peer_len;
};

int learner_params_watch(learner *l, char *err, size_t errlen)
{
    int rcvbuf = LEARNER_PARAMS_RCVBUF, hwm = LEARNER_PARAMS_RCVHWM;
    if (zmq_setsockopt(l->params, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf) ||
        zmq_setsockopt(l->params, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_socket_monitor(l->params, PARAMS_MONITOR,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED)) {
        errf(err, errlen, "cannot watch the params socket: %s",
             zmq_strerror(errno));
        return -1;
    }
    l->params_mon = zmq_socket(l->zctx, ZMQ_PAIR);
    if (!l->params_mon || zmq_connect(l->params_mon, PARAMS_MONITOR)) {
        errf(err, errlen, "cannot read the params socket's monitor: %s",
             zmq_strerror(errno));
        return -1;
    }
    return 0;
}

void learner_params_unwatch(learner *l)
{
    if (l->params_mon)
        zmq_close(l->params_mon);
    l->params_mon = NULL;
    free(l->pconn);
    l->pconn = NULL;
    l->n_pconn = l->cap_pconn = 0;
}

static void pconn_remove(learner *l, int fd)
{
    for (int i = 0; i < l->n_pconn; i++)
        if (l->pconn[i].fd == fd) {
            l->pconn[i] = l->pconn[--l->n_pconn];
            return;
        }
}

/* Apply the monitor's events: connections accepted and gone. */
static void params_events(learner *l)
{
    for (int k = 0; k < 1024; k++) {
        uint8_t ev[6];
        int n = zmq_recv(l->params_mon, ev, sizeof ev, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        int more = 0;
        size_t ml = sizeof more;
        zmq_getsockopt(l->params_mon, ZMQ_RCVMORE, &more, &ml);
        char addr[256];
        while (more) { /* the endpoint frame: not needed */
            if (zmq_recv(l->params_mon, addr, sizeof addr, 0) < 0)
                break;
            zmq_getsockopt(l->params_mon, ZMQ_RCVMORE, &more, &ml);
        }
        if (n != (int)sizeof ev)
            continue;
        uint16_t event;
        uint32_t value;
        memcpy(&event, ev, sizeof event);
        memcpy(&value, ev + 2, sizeof value);
        int fd = (int)value;
        pconn_remove(l, fd); /* a number reused, or gone */
        if (event != ZMQ_EVENT_ACCEPTED)
            continue;
        if (l->n_pconn == l->cap_pconn) {
            l->cap_pconn = l->cap_pconn ? 2 * l->cap_pconn : 64;
            l->pconn =
                xrealloc(l->pconn, (size_t)l->cap_pconn * sizeof *l->pconn);
        }
        struct params_conn *c = &l->pconn[l->n_pconn];
        c->fd = fd;
        c->peer_len = sizeof c->peer;
        if (getpeername(fd, (struct sockaddr *)&c->peer, &c->peer_len) == 0)
            l->n_pconn++;
    }
}

/* 1 when fd is still the params connection c was accepted as: a TCP socket
 * on the params port, connected to the same peer. */
static int same_conn(const learner *l, const struct params_conn *c)
{
    struct sockaddr_storage peer, self;
    socklen_t pl = sizeof peer, sl = sizeof self;
    if (getpeername(c->fd, (struct sockaddr *)&peer, &pl) ||
        getsockname(c->fd, (struct sockaddr *)&self, &sl) ||
        pl != c->peer_len || memcmp(&peer, &c->peer, pl) ||
        self.ss_family != AF_INET)
        return 0;
    return ntohs(((struct sockaddr_in *)&self)->sin_port) == l->opt.port + 1;
}

/*
 * Cut every params connection that has sent more than a subscriber ever
 * does (LEARNER_PARAMS_CONN_BYTES, the kernel's count of bytes received):
 * shutdown() of libzmq's descriptor ends it there, and libzmq then frees
 * its subscriptions. With the small receive buffer and queue this bounds
 * what one connection can make libzmq hold, whatever it sends.
 */
static void params_sweep(learner *l)
{
    l->last_sweep = now_s();
    for (int i = 0; i < l->n_pconn; i++) {
        struct params_conn *c = &l->pconn[i];
        struct tcp_info ti;
        socklen_t tl = sizeof ti;
        memset(&ti, 0, sizeof ti);
        if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) ||
            ti.tcpi_bytes_received <= LEARNER_PARAMS_CONN_BYTES)
            continue;
        if (!same_conn(l, c)) {
            l->pconn[i--] = l->pconn[--l->n_pconn];
            continue;
        }
        char who[INET6_ADDRSTRLEN] = "?";
        if (c->peer.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&c->peer)->sin_addr, who,
                      sizeof who);
        shutdown(c->fd, SHUT_RDWR);
        l->guards[GUARD_PARAMS_CUT]++;
        log_warn_once(
            "params cut",
            "cut a params connection from %s: it sent %llu bytes, more than a subscriber does (%d); later ones are counted (status: guards.params_cut)",
            who, (unsigned long long)ti.tcpi_bytes_received,
            LEARNER_PARAMS_CONN_BYTES);
        l->pconn[i--] = l->pconn[--l->n_pconn];
    }
}

/*
 * The params XPUB runs in manual mode: each subscription arrives here and
 * only the empty prefix (every snapshot) is applied, once per connection,
 * so the subscription trie the application controls holds one entry
 * whatever peers send. A prefix, or anything else, is counted and ignored;
 * an unsubscription of the empty prefix is applied. libzmq keeps its own
 * copy of every subscription until its connection leaves, so any of them
 * also makes the connections be checked at once (params_sweep).
 */
void learner_subscriptions(learner *l)
{
    uint8_t buf[LEARNER_MAX_SUBSCRIPTION];
    int odd = 0;
    params_events(l);
    for (int k = 0; k < 256; k++) {
        int n = zmq_recv(l->params, buf, sizeof buf, ZMQ_DONTWAIT);
        if (n < 0)
            break;
        if (n != 1)
            odd = 1;
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
    if (odd || now_s() - l->last_sweep >= SWEEP_S)
        params_sweep(l);
}
