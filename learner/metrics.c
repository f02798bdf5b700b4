/*
 * metrics.c - the Prometheus endpoint: a locked snapshot of the learner's
 * figures and libmicrohttpd serving it as text format 0.0.4.
 *
 * A figure that does not exist yet (a loss before the first update, the
 * ratio before learning_starts, an evaluation before the first one) has its
 * # HELP and # TYPE lines and no sample, as the JSON has null.
 *
 * The copy is the learner_figures itself (figures.h is the one field list);
 * the few values the text derives (an evaluation or a checkpoint that does
 * not exist yet, the cap on labelled actors, latencies in seconds) are
 * computed while formatting.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "metrics.h"
#include "util.h"

/* An open HTTP connection, as libmicrohttpd's notify callback saw it. */
typedef struct {
    int fd;   /* -1: the slot is free */
    int shut; /* shut down by eviction, not yet reaped */
    struct in_addr addr;
    uint64_t seq; /* acceptance order: smaller is older */
} metrics_conn;

struct metrics {
    struct MHD_Daemon *daemon;
    /* touched only on libmicrohttpd's one thread (notify callback) */
    metrics_conn conns[METRICS_MAX_CONNECTIONS];
    uint64_t seq;
    pthread_mutex_t lock; /* guards valid and fig */
    int valid;            /* 0 before the first metrics_update */
    learner_figures fig;  /* the loop's figures at that update */
};

// ---- the snapshot (loop side) ----

void metrics_update(metrics *m, const learner_figures *f)
{
    pthread_mutex_lock(&m->lock);
    m->fig = *f;
    m->valid = 1;
    pthread_mutex_unlock(&m->lock);
}

// ---- the text (HTTP side) ----

static void family(strbuf *b, const char *name, const char *type,
                   const char *help)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sample without labels; none when v is not finite. */
static void sample(strbuf *b, const char *name, double v)
{
    if (isfinite(v))
        strbuf_printf(b, "%s %.9g\n", name, v);
}

static void gauge(strbuf *b, const char *name, const char *help, double v)
{
    family(b, name, "gauge", help);
    sample(b, name, v);
}

static void counter(strbuf *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    strbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value from a char[n] field (at most n - 1 chars, as if it ended
 * in a NUL): backslash, double quote and newline escaped, and each byte
 * that starts no valid UTF-8 sequence written as U+FFFD, so the text stays
 * valid UTF-8 whatever the field holds. */
static void label(strbuf *b, const char *s, size_t n)
{
    size_t len = strnlen(s, n - 1), k;
    for (size_t i = 0; i < len; i += k) {
        k = utf8_seq((const unsigned char *)s + i, len - i);
        if (!k) {
            strbuf_printf(b, "\xef\xbf\xbd");
            k = 1;
        } else if (s[i] == '\\' || s[i] == '"')
            strbuf_printf(b, "\\%c", s[i]);
        else if (s[i] == '\n')
            strbuf_printf(b, "\\n");
        else
            strbuf_printf(b, "%.*s", (int)k, s + i);
    }
}

static void actor_labels(strbuf *b, const char *name, const actor_figures *a)
{
    strbuf_printf(b, "%s{actor=\"", name);
    label(b, a->id, sizeof a->id);
    strbuf_printf(b, "\",host=\"");
    label(b, a->host, sizeof a->host);
    strbuf_printf(b, "\",role=\"%s\"} ", a->eval ? "eval" : "actor");
}

/* The newest snapshot latency the actor measured; NAN: none timed. */
static double snap_latency_s(const actor_figures *a)
{
    return a->lat_n ? a->lat_last_ms / 1e3 : NAN;
}

static void format(strbuf *b, const learner_figures *f)
{
    /* labels from peers stay bounded: the rest are only counted */
    int listed = HPO_MIN(f->n_actors, METRICS_MAX_ACTORS);

    family(b, "hpo_info", "gauge", "Constant 1 labelled with the run.");
    strbuf_printf(b, "hpo_info{run_id=\"");
    label(b, f->run_id, sizeof f->run_id);
    strbuf_printf(b, "\",env=\"");
    label(b, f->env, sizeof f->env);
    strbuf_printf(b, "\",mode=\"");
    label(b, f->mode, sizeof f->mode);
    strbuf_printf(b, "\"} 1\n");

    counter(b, "hpo_env_steps_total",
            "Transitions ingested into the replay buffer.", f->env_steps);
    counter(b, "hpo_updates_total", "SAC-HPO updates done.", f->updates);
    counter(b, "hpo_episodes_total", "Training episodes reported by actors.",
            f->episodes);
    family(b, "hpo_rejected_messages_total", "counter",
           "Messages dropped by reason (data and status sockets).");
    for (int r = 1; r < WIRE_REJECT_COUNT; r++)
        strbuf_printf(b, "hpo_rejected_messages_total{reason=\"%s\"} %llu\n",
                      wire_reject_name((wire_reject)r),
                      (unsigned long long)f->rejected[r]);
    counter(b, "hpo_refused_handshakes_total",
            "Handshakes answered with a Refuse.", f->refused);
    counter(b, "hpo_refused_keys_total",
            "CurveZMQ clients refused: key not on the allow list.",
            f->refused_keys);
    counter(b, "hpo_unknown_sender_messages_total",
            "Batches and heartbeats from a peer that sent no Hello.",
            f->unknown_sender);
    counter(b, "hpo_status_requests_total", "Status requests answered.",
            f->status_requests);
    family(
        b, "hpo_guard_refused_total", "counter",
        "Rows, messages and updates the learner's stages refused, by reason (docs/status.md, guards).");
    for (int g = 0; g < FIGURES_GUARDS; g++)
        strbuf_printf(b, "hpo_guard_refused_total{reason=\"%s\"} %llu\n",
                      figures_guard_name(g), (unsigned long long)f->guards[g]);

    gauge(b, "hpo_uptime_seconds", "Seconds since the learner started.",
          f->uptime_s);
    gauge(b, "hpo_env_steps_per_second",
          "Env steps ingested per second over the last 2-second window.",
          f->steps_per_s);
    gauge(b, "hpo_updates_per_second",
          "Updates per second over the last 2-second window.",
          f->updates_per_s);
    gauge(b, "hpo_replay_ratio_target", "--replay-ratio (0: free run).",
          f->ratio_target);
    gauge(b, "hpo_replay_ratio",
          "Achieved replay ratio: updates / (env steps - learning_starts).",
          f->ratio);
    gauge(b, "hpo_replay_ratio_recent",
          "Updates per env step over the last window.", f->ratio_recent);
    gauge(b, "hpo_replay_size", "Rows held in the replay buffer.",
          (double)f->replay_size);
    gauge(b, "hpo_replay_capacity", "Replay buffer capacity in rows.",
          (double)f->replay_capacity);
    gauge(b, "hpo_param_version", "Newest published parameter snapshot.",
          (double)f->param_version);
    gauge(b, "hpo_alpha", "Current SAC temperature.", f->alpha);
    gauge(b, "hpo_q_loss",
          "Newest update's critic loss (sum of both critics' MSE).", f->q_loss);
    gauge(b, "hpo_pi_loss", "Newest update's policy loss.", f->pi_loss);
    gauge(b, "hpo_logp", "Newest update's mean log-probability.", f->logp);
    gauge(b, "hpo_hd_dist",
          "Mean distance between the HD chain's last and first action.",
          f->hd_dist);
    gauge(b, "hpo_gate", "Mean sigma_h gate value in the newest policy pass.",
          f->gate);
    gauge(b, "hpo_q_mean", "Mean Q1 on the newest batch.", f->q_mean);
    gauge(b, "hpo_recent_return",
          "Mean of the last (up to 20) training episode returns.",
          f->recent_mean);
    gauge(b, "hpo_eval_return",
          "Mean return of the newest deterministic evaluation.",
          f->eval_n > 0 ? f->eval_mean : NAN);
    gauge(b, "hpo_last_checkpoint_updates",
          "Updates at the newest checkpoint written or resumed from.",
          f->last_ckpt[0] && f->last_ckpt_updates >= 0
              ? (double)f->last_ckpt_updates
              : NAN);
    gauge(b, "hpo_quarantined_actors",
          "Actors the data guards quarantined (connected or not).",
          (double)f->n_quarantined);
    counter(b, "hpo_replay_rows_removed_total",
            "Replay rows evicted for a quarantine or a rolled-back update.",
            f->rows_removed);
    gauge(
        b, "hpo_guard_max_sigma_taken",
        "Largest distance (standard deviations) outside the other actors' range of a row taken past the guard's warm-up.",
        f->guard_max_sigma_taken);
    gauge(b, "hpo_actors", "Connected actors (streaming and eval).",
          (double)f->n_actors);
    gauge(
        b, "hpo_actors_unlisted",
        "Connected actors beyond the first 64, which have no per-actor series.",
        (double)(f->n_actors - listed));

    static const char *const names[] = {"hpo_actor_steps_total",
                                        "hpo_actor_steps_per_second",
                                        "hpo_actor_param_lag",
                                        "hpo_actor_last_seen_seconds",
                                        "hpo_actor_snapshot_latency_seconds",
                                        "hpo_actor_quarantined"};
    static const char *const types[] = {"counter", "gauge", "gauge",
                                        "gauge",   "gauge", "gauge"};
    static const char *const helps[] = {
        "Transitions received from the actor since it joined.",
        "The actor's env steps per second over the last 2-second window.",
        "Parameter versions the actor is behind the learner.",
        "Seconds since the actor's last message.",
        "Publication to acting of the newest snapshot the actor timed.",
        "1: the data guards quarantined the actor (its rows refused)."};
    for (int k = 0; k < 6; k++) {
        family(b, names[k], types[k], helps[k]);
        for (int i = 0; i < listed; i++) {
            const actor_figures *a = &f->actors[i];
            if (k == 4 && !isfinite(snap_latency_s(a)))
                continue; /* not measured yet: no sample */
            actor_labels(b, names[k], a);
            if (k == 0)
                strbuf_printf(b, "%llu\n", (unsigned long long)a->steps);
            else if (k == 1)
                strbuf_printf(b, "%.9g\n", a->steps_per_s);
            else if (k == 2)
                strbuf_printf(b, "%llu\n", (unsigned long long)a->param_lag);
            else if (k == 3)
                strbuf_printf(b, "%.6f\n", a->last_seen_s);
            else if (k == 4)
                strbuf_printf(b, "%.6f\n", snap_latency_s(a));
            else
                strbuf_printf(b, "%d\n", a->quarantined);
        }
    }
}

char *metrics_text(metrics *m)
{
    strbuf b = {xmalloc(8192), 0, 8192};
    b.p[0] = '\0';
    learner_figures *f = xmalloc(sizeof *f); /* ~120 KB: not on the stack */
    pthread_mutex_lock(&m->lock);            /* copied out, formatted outside */
    int valid = m->valid;
    if (valid)
        *f = m->fig;
    pthread_mutex_unlock(&m->lock);
    if (valid)
        format(&b, f);
    free(f);
    return b.p;
}

// ---- HTTP ----

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
                             const char *type, char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* libmicrohttpd's request handler, on its thread: GET /metrics. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    static int seen;
    metrics *m = cls;
    if (*req_cls != &seen) {
        /* first call: headers only; answer on the next one */
        *req_cls = &seen;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a body is not wanted: discard it */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) &&
        strcmp(method, MHD_HTTP_METHOD_HEAD))
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                     xstrdup("only GET\n"));
    if (strcmp(url, "/metrics"))
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
                     xstrdup("not found: try /metrics\n"));
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 metrics_text(m));
}

// ---- connections: the newest always gets a slot ----

/* Shut down the oldest open connection (from addr only, if addr is not
 * NULL) other than keep; libmicrohttpd then reads end-of-file on it and
 * closes it on its next pass. */
static void evict_oldest(metrics *m, const struct in_addr *addr,
                         const metrics_conn *keep)
{
    metrics_conn *old = NULL;
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++) {
        metrics_conn *c = &m->conns[i];
        if (c->fd < 0 || c->shut || c == keep ||
            (addr && c->addr.s_addr != addr->s_addr))
            continue;
        if (!old || c->seq < old->seq)
            old = c;
    }
    if (old) {
        /* fails only when the peer is gone already (ENOTCONN): then
         * libmicrohttpd reaps it as well */
        (void)shutdown(old->fd, SHUT_RDWR);
        old->shut = 1;
    }
}

/* Open connections (from addr only, if not NULL), the shut ones not
 * counted. */
static int count_open(const metrics *m, const struct in_addr *addr)
{
    int n = 0;
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++) {
        const metrics_conn *c = &m->conns[i];
        n +=
            c->fd >= 0 && !c->shut && (!addr || c->addr.s_addr == addr->s_addr);
    }
    return n;
}

/* libmicrohttpd's connection callback, on its thread: a new connection
 * takes a slot, evicting the oldest of its address past
 * METRICS_MAX_PER_IP and the oldest of all past METRICS_MAX_OPEN; a closed
 * one frees its slot. */
static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    metrics *m = cls;
    metrics_conn *slot = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (slot)
            slot->fd = -1;
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *peer =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    for (int i = 0; !slot && i < METRICS_MAX_CONNECTIONS; i++)
        if (m->conns[i].fd < 0)
            slot = &m->conns[i];
    if (!fd || !slot)
        return; /* cannot happen: the daemon's limit is the table's size */
    slot->fd = fd->connect_fd;
    slot->shut = 0;
    slot->seq = m->seq++;
    slot->addr.s_addr = 0;
    if (peer && peer->client_addr && peer->client_addr->sa_family == AF_INET)
        slot->addr = ((const struct sockaddr_in *)peer->client_addr)->sin_addr;
    *socket_context = slot;
    if (count_open(m, &slot->addr) > METRICS_MAX_PER_IP)
        evict_oldest(m, &slot->addr, slot);
    if (count_open(m, NULL) > METRICS_MAX_OPEN)
        evict_oldest(m, NULL, slot);
}

metrics *metrics_new(const char *addr, int port, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!strcmp(addr, "*"))
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        errf(err, errlen, "metrics: --bind %s is not an IPv4 address", addr);
        return NULL;
    }
    metrics *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        m->conns[i].fd = -1;
    /* no per-address limit in libmicrohttpd: it would refuse a scrape from
     * an address a slowloris shares (on_connection evicts instead) */
    m->daemon = MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, m, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
    if (!m->daemon) {
        errf(err, errlen, "metrics: cannot serve HTTP on %s:%d (port taken?)",
             addr, port);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
    }
    return m;
}

void metrics_destroy(metrics **mp)
{
    metrics *m = *mp;
    if (!m)
        return;
    MHD_stop_daemon(m->daemon); /* joins the HTTP thread */
    pthread_mutex_destroy(&m->lock);
    free(m);
    *mp = NULL;
}
