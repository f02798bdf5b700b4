/*
 * metrics.c - the Prometheus endpoint: a locked snapshot of the learner's
 * figures and libmicrohttpd serving it as text format 0.0.4.
 *
 * A figure that does not exist yet (a loss before the first update, the
 * ratio before learning_starts, an evaluation before the first one) has its
 * # HELP and # TYPE lines and no sample, as the JSON has null.
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

/* One actor's row of the snapshot. */
typedef struct metrics_actor {
    char id[WIRE_NAME_MAX];
    char host[WIRE_TEXT_MAX];
    int eval;                       /* 1: an --eval actor */
    uint64_t steps;                 /* transitions received from it */
    double steps_per_s;
    uint64_t param_lag;             /* versions behind the learner */
    double last_seen_s;             /* seconds since its last message */
    double snap_latency_s;          /* newest measured snapshot; NAN: none */
} metrics_actor;

/* The figures, as the loop saw them at its last metrics_update. */
typedef struct metrics_snap {
    int valid;                      /* 0 before the first update */
    char run_id[WIRE_NAME_MAX], env[WIRE_NAME_MAX], mode[16];
    double uptime_s;
    uint64_t env_steps, updates, episodes, param_version;
    uint64_t rejected[WIRE_REJECT_COUNT];
    uint64_t refused, refused_keys, unknown_sender, status_requests;
    uint64_t guards[FIGURES_GUARDS];
    double steps_per_s, updates_per_s;
    double ratio_target, ratio, ratio_recent;   /* NAN: not yet */
    uint64_t replay_size, replay_capacity;
    double alpha, q_loss, pi_loss, logp;        /* NAN: not yet */
    double hd_dist, gate, q_mean;               /* NAN: not yet */
    double recent_return, eval_return;          /* NAN: not yet */
    long last_ckpt_updates;                     /* -1: none */
    int n_actors;                   /* listed (labelled) actors */
    int n_unlisted;                 /* connected beyond METRICS_MAX_ACTORS */
    metrics_actor actors[METRICS_MAX_ACTORS];
} metrics_snap;

struct metrics {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;           /* guards snap */
    metrics_snap snap;
};

// ---- the snapshot (loop side) ----

void metrics_update(metrics *m, const learner_figures *f)
{
    pthread_mutex_lock(&m->lock);
    metrics_snap *s = &m->snap;
    s->valid = 1;
    snprintf(s->run_id, sizeof s->run_id, "%s", f->run_id);
    snprintf(s->env, sizeof s->env, "%s", f->env);
    snprintf(s->mode, sizeof s->mode, "%s", f->mode);
    s->uptime_s = f->uptime_s;
    s->env_steps = f->env_steps;
    s->updates = f->updates;
    s->episodes = f->episodes;
    s->param_version = f->param_version;
    memcpy(s->rejected, f->rejected, sizeof s->rejected);
    s->refused = f->refused;
    s->refused_keys = f->refused_keys;
    memcpy(s->guards, f->guards, sizeof s->guards);
    s->unknown_sender = f->unknown_sender;
    s->status_requests = f->status_requests;
    s->steps_per_s = f->steps_per_s;
    s->updates_per_s = f->updates_per_s;
    s->ratio_target = f->ratio_target;
    s->ratio = f->ratio;
    s->ratio_recent = f->ratio_recent;
    s->replay_size = f->replay_size;
    s->replay_capacity = f->replay_capacity;
    s->alpha = f->alpha;
    s->q_loss = f->q_loss;
    s->pi_loss = f->pi_loss;
    s->logp = f->logp;
    s->hd_dist = f->hd_dist;
    s->gate = f->gate;
    s->q_mean = f->q_mean;
    s->recent_return = f->recent_mean;
    s->eval_return = f->eval_n > 0 ? f->eval_mean : NAN;
    s->last_ckpt_updates = f->last_ckpt[0] ? f->last_ckpt_updates : -1;
    s->n_actors = HPO_MIN(f->n_actors, METRICS_MAX_ACTORS);
    s->n_unlisted = f->n_actors - s->n_actors; /* labels from peers bounded */
    for (int i = 0; i < s->n_actors; i++) {
        const actor_figures *a = &f->actors[i];
        metrics_actor *r = &s->actors[i];
        snprintf(r->id, sizeof r->id, "%s", a->id);
        snprintf(r->host, sizeof r->host, "%s", a->host);
        r->eval = a->eval;
        r->steps = a->steps;
        r->steps_per_s = a->steps_per_s;
        r->param_lag = a->param_lag;
        r->last_seen_s = a->last_seen_s;
        r->snap_latency_s = a->lat_n ? a->lat_last_ms / 1e3 : NAN;
    }
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

/* A label value: backslash, double quote and newline escaped. */
static void label(strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            strbuf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            strbuf_printf(b, "\\n");
        else
            strbuf_printf(b, "%c", *s);
    }
}

static void actor_labels(strbuf *b, const char *name, const metrics_actor *a)
{
    strbuf_printf(b, "%s{actor=\"", name);
    label(b, a->id);
    strbuf_printf(b, "\",host=\"");
    label(b, a->host);
    strbuf_printf(b, "\",role=\"%s\"} ", a->eval ? "eval" : "actor");
}

static void format(strbuf *b, const metrics_snap *s)
{
    family(b, "hpo_info", "gauge", "Constant 1 labelled with the run.");
    strbuf_printf(b, "hpo_info{run_id=\"");
    label(b, s->run_id);
    strbuf_printf(b, "\",env=\"");
    label(b, s->env);
    strbuf_printf(b, "\",mode=\"");
    label(b, s->mode);
    strbuf_printf(b, "\"} 1\n");

    counter(b, "hpo_env_steps_total",
            "Transitions ingested into the replay buffer.", s->env_steps);
    counter(b, "hpo_updates_total", "SAC-HPO updates done.", s->updates);
    counter(b, "hpo_episodes_total", "Training episodes reported by actors.",
            s->episodes);
    family(b, "hpo_rejected_messages_total", "counter",
           "Messages dropped by reason (data and status sockets).");
    for (int r = 1; r < WIRE_REJECT_COUNT; r++)
        strbuf_printf(b, "hpo_rejected_messages_total{reason=\"%s\"} %llu\n",
            wire_reject_name((wire_reject)r),
            (unsigned long long)s->rejected[r]);
    counter(b, "hpo_refused_handshakes_total",
            "Handshakes answered with a Refuse.", s->refused);
    counter(b, "hpo_refused_keys_total",
            "CurveZMQ clients refused: key not on the allow list.",
            s->refused_keys);
    counter(b, "hpo_unknown_sender_messages_total",
            "Batches and heartbeats from a peer that sent no Hello.",
            s->unknown_sender);
    counter(b, "hpo_status_requests_total", "Status requests answered.",
            s->status_requests);
    family(b, "hpo_guard_refused_total", "counter",
           "Rows, messages and updates the learner's stages refused, by "
           "reason (docs/status.md, guards).");
    for (int g = 0; g < FIGURES_GUARDS; g++)
        strbuf_printf(b, "hpo_guard_refused_total{reason=\"%s\"} %llu\n",
            figures_guard_name(g),
            (unsigned long long)s->guards[g]);

    gauge(b, "hpo_uptime_seconds", "Seconds since the learner started.",
          s->uptime_s);
    gauge(b, "hpo_env_steps_per_second",
          "Env steps ingested per second over the last 2-second window.",
          s->steps_per_s);
    gauge(b, "hpo_updates_per_second",
          "Updates per second over the last 2-second window.",
          s->updates_per_s);
    gauge(b, "hpo_replay_ratio_target", "--replay-ratio (0: free run).",
          s->ratio_target);
    gauge(b, "hpo_replay_ratio",
          "Achieved replay ratio: updates / (env steps - learning_starts).",
          s->ratio);
    gauge(b, "hpo_replay_ratio_recent",
          "Updates per env step over the last window.", s->ratio_recent);
    gauge(b, "hpo_replay_size", "Rows held in the replay buffer.",
          (double)s->replay_size);
    gauge(b, "hpo_replay_capacity", "Replay buffer capacity in rows.",
          (double)s->replay_capacity);
    gauge(b, "hpo_param_version", "Newest published parameter snapshot.",
          (double)s->param_version);
    gauge(b, "hpo_alpha", "Current SAC temperature.", s->alpha);
    gauge(b, "hpo_q_loss",
          "Newest update's critic loss (sum of both critics' MSE).",
          s->q_loss);
    gauge(b, "hpo_pi_loss", "Newest update's policy loss.", s->pi_loss);
    gauge(b, "hpo_logp", "Newest update's mean log-probability.", s->logp);
    gauge(b, "hpo_hd_dist",
          "Mean distance between the HD chain's last and first action.",
          s->hd_dist);
    gauge(b, "hpo_gate", "Mean sigma_h gate value in the newest policy pass.",
          s->gate);
    gauge(b, "hpo_q_mean", "Mean Q1 on the newest batch.", s->q_mean);
    gauge(b, "hpo_recent_return",
          "Mean of the last (up to 20) training episode returns.",
          s->recent_return);
    gauge(b, "hpo_eval_return",
          "Mean return of the newest deterministic evaluation.",
          s->eval_return);
    gauge(b, "hpo_last_checkpoint_updates",
          "Updates at the newest checkpoint written or resumed from.",
          s->last_ckpt_updates >= 0 ? (double)s->last_ckpt_updates : NAN);
    gauge(b, "hpo_actors", "Connected actors (streaming and eval).",
          (double)(s->n_actors + s->n_unlisted));
    gauge(b, "hpo_actors_unlisted",
          "Connected actors beyond the first 64, which have no per-actor "
          "series.", (double)s->n_unlisted);

    static const char *const names[] = {
        "hpo_actor_steps_total", "hpo_actor_steps_per_second",
        "hpo_actor_param_lag", "hpo_actor_last_seen_seconds",
        "hpo_actor_snapshot_latency_seconds"};
    static const char *const types[] = {"counter", "gauge", "gauge", "gauge",
                                        "gauge"};
    static const char *const helps[] = {
        "Transitions received from the actor since it joined.",
        "The actor's env steps per second over the last 2-second window.",
        "Parameter versions the actor is behind the learner.",
        "Seconds since the actor's last message.",
        "Publication to acting of the newest snapshot the actor timed."};
    for (int k = 0; k < 5; k++) {
        family(b, names[k], types[k], helps[k]);
        for (int i = 0; i < s->n_actors; i++) {
            const metrics_actor *a = &s->actors[i];
            if (k == 4 && !isfinite(a->snap_latency_s))
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
            else
                strbuf_printf(b, "%.6f\n", a->snap_latency_s);
        }
    }
}

char *metrics_text(metrics *m)
{
    strbuf b = {xmalloc(8192), 0, 8192};
    b.p[0] = '\0';
    pthread_mutex_lock(&m->lock);
    if (m->snap.valid)
        format(&b, &m->snap);
    pthread_mutex_unlock(&m->lock);
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
        *upload_size = 0;           /* a body is not wanted: discard it */
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
    m->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
        NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)METRICS_MAX_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
        MHD_OPTION_END);
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
    MHD_stop_daemon(m->daemon);     /* joins the HTTP thread */
    pthread_mutex_destroy(&m->lock);
    free(m);
    *mp = NULL;
}
