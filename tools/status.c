/*
 * status.c - hpo-status: ask a learner's status socket and print the answer.
 *
 *   hpo-status [HOST[:P]] [--json | --line] [--watch SECONDS] [--timeout-ms MS]
 *
 * Sends a StatusRequest on a REQ socket to HOST:P+2 (P defaults to 5550) and
 * prints the JSON reply (docs/status.md) raw with --json, as a table
 * otherwise. The table reads the reply with a small JSON reader: only the
 * shapes the learner writes (objects, arrays, strings without escapes beyond
 * \" and \\, numbers, null, true, false).
 *
 * Exit status: 0 answered, 1 no answer within the timeout (or an error
 * object), 2 bad command line.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "util.h"
#include "wire.h"

#define PROG "hpo-status"
#define REPLY_MAX (1 << 22)

// ---- a small JSON reader ----

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int kind;
    double num;
    char *str;              /* J_STR; key of a member */
    char *key;              /* member name when inside an object */
    struct jv *kids;        /* J_ARR, J_OBJ */
    int n;
} jv;

typedef struct jp {
    const char *s;
    int err;
} jp;

static void ws(jp *p)
{
    while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r')
        p->s++;
}

static char *jstring(jp *p)
{
    if (*p->s != '"') {
        p->err = 1;
        return xstrdup("");
    }
    p->s++;
    size_t cap = 16, n = 0;
    char *out = xmalloc(cap);
    while (*p->s && *p->s != '"') {
        char c = *p->s++;
        if (c == '\\' && *p->s) {
            c = *p->s++;
            if (c == 'u') { /* keep it simple: \u00XX */
                unsigned v = 0;
                for (int i = 0; i < 4 && *p->s; i++, p->s++)
                    v = v * 16 + (unsigned)(*p->s <= '9' ? *p->s - '0'
                                                         : (*p->s | 32) - 'a' + 10);
                c = (char)(v < 128 ? v : '?');
            } else if (c == 'n') {
                c = '\n';
            }
        }
        if (n + 2 > cap)
            out = xrealloc(out, cap *= 2);
        out[n++] = c;
    }
    if (*p->s != '"')
        p->err = 1;
    else
        p->s++;
    out[n] = '\0';
    return out;
}

static void jparse(jp *p, jv *v, int depth)
{
    memset(v, 0, sizeof *v);
    ws(p);
    if (depth > 32) {
        p->err = 1;
        return;
    }
    char c = *p->s;
    if (c == '{' || c == '[') {
        v->kind = c == '{' ? J_OBJ : J_ARR;
        p->s++;
        int cap = 0;
        ws(p);
        if (*p->s == (c == '{' ? '}' : ']')) {
            p->s++;
            return;
        }
        while (!p->err) {
            if (v->n == cap) {
                cap = cap ? 2 * cap : 8;
                v->kids = xrealloc(v->kids, (size_t)cap * sizeof *v->kids);
            }
            char *key = NULL;
            if (v->kind == J_OBJ) {
                ws(p);
                key = jstring(p);
                ws(p);
                if (*p->s != ':')
                    p->err = 1;
                else
                    p->s++;
            }
            jparse(p, &v->kids[v->n], depth + 1);
            v->kids[v->n++].key = key;
            ws(p);
            if (*p->s == ',') {
                p->s++;
                continue;
            }
            if (*p->s == (c == '{' ? '}' : ']')) {
                p->s++;
                return;
            }
            p->err = 1;
        }
        return;
    }
    if (c == '"') {
        v->kind = J_STR;
        v->str = jstring(p);
        return;
    }
    if (!strncmp(p->s, "null", 4)) {
        v->kind = J_NULL;
        p->s += 4;
    } else if (!strncmp(p->s, "true", 4)) {
        v->kind = J_BOOL;
        v->num = 1;
        p->s += 4;
    } else if (!strncmp(p->s, "false", 5)) {
        v->kind = J_BOOL;
        p->s += 5;
    } else {
        char *end;
        v->kind = J_NUM;
        v->num = strtod(p->s, &end);
        if (end == p->s)
            p->err = 1;
        p->s = end;
    }
}

static void jfree(jv *v)
{
    for (int i = 0; i < v->n; i++) {
        free(v->kids[i].key);
        jfree(&v->kids[i]);
    }
    free(v->kids);
    free(v->str);
}

static const jv *jget(const jv *o, const char *key)
{
    if (!o || o->kind != J_OBJ)
        return NULL;
    for (int i = 0; i < o->n; i++)
        if (o->kids[i].key && !strcmp(o->kids[i].key, key))
            return &o->kids[i];
    return NULL;
}

static double jnum(const jv *o, const char *key)
{
    const jv *v = jget(o, key);
    return v && (v->kind == J_NUM || v->kind == J_BOOL) ? v->num : NAN;
}

static const char *jstr(const jv *o, const char *key)
{
    const jv *v = jget(o, key);
    return v && v->kind == J_STR ? v->str : "-";
}

// ---- printing ----

static void fnum(char *buf, size_t n, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
}

static void table(const jv *r, FILE *f)
{
    char a[64], b[64], c[64], d[64];
    fprintf(f, "run %s  (%s, %s)  up %.0f s\n", jstr(r, "run_id"),
            jstr(r, "env"), jstr(r, "mode"), jnum(r, "uptime_s"));
    fnum(a, sizeof a, jnum(r, "steps_per_s"), "%.0f");
    fnum(b, sizeof b, jnum(r, "updates_per_s"), "%.0f");
    fprintf(f, "env steps %.0f (%s/s)   updates %.0f (%s/s)\n",
            jnum(r, "env_steps"), a, jnum(r, "updates"), b);
    fnum(a, sizeof a, jnum(r, "replay_ratio"), "%.3f");
    fnum(b, sizeof b, jnum(r, "replay_ratio_recent"), "%.3f");
    fprintf(f, "replay ratio %s (recent %s, target %g)   replay %.0f / %.0f"
               "   snapshot v%.0f\n",
            a, b, jnum(r, "replay_ratio_target"), jnum(r, "replay_size"),
            jnum(r, "replay_capacity"), jnum(r, "param_version"));
    fnum(a, sizeof a, jnum(r, "recent_return_mean"), "%.1f");
    const jv *ev = jget(r, "eval");
    fnum(b, sizeof b, jnum(ev, "mean_return"), "%.1f");
    fprintf(f, "episodes %.0f   recent return %s   eval %s",
            jnum(r, "episodes"), a, b);
    if (ev && ev->kind == J_OBJ)
        fprintf(f, " (v%.0f, %.0f episodes)", jnum(ev, "param_version"),
                jnum(ev, "episodes"));
    fputc('\n', f);
    const jv *lo = jget(r, "losses");
    fnum(a, sizeof a, jnum(lo, "q"), "%.4g");
    fnum(b, sizeof b, jnum(lo, "pi"), "%.4g");
    fnum(c, sizeof c, jnum(r, "hd_dist"), "%.4f");
    fnum(d, sizeof d, jnum(r, "gate"), "%.4f");
    fprintf(f, "q loss %s   pi loss %s   alpha %.4g   ||aK-a0|| %s   gate %s\n",
            a, b, jnum(r, "alpha"), c, d);
    const jv *rej = jget(r, "rejected");
    fprintf(f, "rejected %.0f", jnum(r, "rejected_total"));
    if (rej && rej->kind == J_OBJ) {
        const char *sep = " (";
        for (int i = 0; i < rej->n; i++)
            if (rej->kids[i].num > 0) {
                fprintf(f, "%s%s %.0f", sep, rej->kids[i].key,
                        rej->kids[i].num);
                sep = ", ";
            }
        if (strcmp(sep, " ("))
            fputc(')', f);
    }
    fprintf(f, "   refused %.0f\n", jnum(r, "refused"));

    const jv *act = jget(r, "actors");
    int n = act && act->kind == J_ARR ? act->n : 0;
    fprintf(f, "\n%-20s %-16s %5s %6s %10s %9s %5s %9s %9s\n", "actor",
            "host", "role", "envs", "steps", "steps/s", "lag", "snap ms",
            "last seen");
    for (int i = 0; i < n; i++) {
        const jv *x = &act->kids[i];
        char ms[32];
        fnum(a, sizeof a, jnum(x, "steps_per_s"), "%.0f");
        fnum(ms, sizeof ms, jnum(x, "snapshot_latency_mean_ms"), "%.1f");
        fprintf(f, "%-20.20s %-16.16s %5s %6.0f %10.0f %9s %5.0f %9s %8.1fs\n",
                jstr(x, "id"), jstr(x, "host"), jstr(x, "role"),
                jnum(x, "n_envs"), jnum(x, "steps"), a,
                jnum(x, "param_lag"), ms, jnum(x, "last_seen_s"));
    }
    if (!n)
        fprintf(f, "(no actors)\n");
}

/* One line: steps, updates, rates, ratio, actors, returns. */
static void line(const jv *r, FILE *f)
{
    char a[32], b[32], c[32];
    const jv *act = jget(r, "actors");
    fnum(a, sizeof a, jnum(r, "replay_ratio"), "%.2f");
    fnum(b, sizeof b, jnum(r, "recent_return_mean"), "%.1f");
    fnum(c, sizeof c, jnum(jget(r, "eval"), "mean_return"), "%.1f");
    fprintf(f, "%.0f steps (%.0f/s) | %.0f updates (%.0f/s) | ratio %s | "
               "%d actors | return %s | eval %s",
            jnum(r, "env_steps"), jnum(r, "steps_per_s"), jnum(r, "updates"),
            jnum(r, "updates_per_s"), a,
            act && act->kind == J_ARR ? act->n : 0, b, c);
}

// ---- the request ----

/* One request/reply on a fresh REQ socket. Returns the reply (caller frees)
 * or NULL after the timeout. */
static char *ask(void *ctx, const char *ep, int timeout_ms,
                 const char *server_pub, const curve_pair *key)
{
    void *s = zmq_socket(ctx, ZMQ_REQ);
    char err[256];
    if (server_pub && curve_client(s, server_pub, key, err, sizeof err)) {
        fprintf(stderr, PROG ": %s\n", err);
        zmq_close(s);
        return NULL;
    }
    int zero = 0;
    int64_t maxmsg = REPLY_MAX;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    char *out = NULL;
    if (zmq_connect(s, ep) == 0) {
        wire_msg m;
        wire_msg_init(&m, WIRE_STATUS_REQUEST);
        size_t len;
        void *buf = wire_encode_alloc(&m, &len);
        zmq_msg_t r;
        zmq_msg_init(&r);
        if (buf && zmq_send(s, buf, len, 0) >= 0 &&
            zmq_msg_recv(&r, s, 0) >= 0) {
            size_t n = zmq_msg_size(&r);
            out = xmalloc(n + 1);
            memcpy(out, zmq_msg_data(&r), n);
            out[n] = '\0';
        }
        zmq_msg_close(&r);
        free(buf);
    }
    zmq_close(s);
    return out;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [HOST[:P]] [--json | --line] [--watch SECONDS] "
            "[--timeout-ms MS]\n"
            "\n"
            "Ask the learner at HOST:P (default localhost:5550; the status\n"
            "socket is P+2) for its status and print it.\n"
            "\n"
            "  --json           print the raw JSON reply (docs/status.md)\n"
            "  --line           one progress line instead of the table\n"
            "  --watch SECONDS  ask again every SECONDS until Ctrl-C\n"
            "  --timeout-ms MS  give up after MS without an answer (default "
            "2000)\n"
            "  --curve-server FILE, --curve-key FILE\n"
            "                   a learner with CurveZMQ: its public key, and "
            "a key pair\n"
            "                   on its allow list (hpo-keygen's .public and "
            ".secret)\n");
}

/* hpo-status's options (config_args_table); HOST[:P] the one positional. */
typedef struct status_opts {
    int json, one_line, timeout_ms;
    double watch;
    char curve_server[4096], curve_key[4096];
} status_opts;

#define O(f) offsetof(status_opts, f)
static const opt_spec own[] = {
    {"json", OPT_FLAG, O(json), 0, 0, 0, NULL},
    {"line", OPT_FLAG, O(one_line), 0, 0, 0, NULL},
    {"watch", OPT_DOUBLE, O(watch), 0, 1e-3, 1e6,
     "--watch needs seconds > 0, not '%s'"},
    {"timeout-ms", OPT_INT, O(timeout_ms), 0, 1, 3600000,
     "--timeout-ms needs 1..3600000, not '%s'"},
    {"curve-server", OPT_TEXT, O(curve_server),
     sizeof(((status_opts *)0)->curve_server), 0, 0, NULL},
    {"curve-key", OPT_TEXT, O(curve_key),
     sizeof(((status_opts *)0)->curve_key), 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O

int main(int argc, char **argv)
{
    char host[256] = "localhost";
    int port = 5550;
    status_opts o = {.timeout_ms = 2000};
    config_args a;
    char perr[512];
    int prc = config_args_table(&a, argc, argv, own, 0, 1, &o, perr,
                                sizeof perr);
    const char *addr = prc == 0 && a.n_pos ? a.pos[0] : NULL;
    if (prc > 0) {
        config_args_release(&a);
        usage(stdout);
        return 0;
    }
    if (prc < 0) {
        config_args_release(&a);
        usage_error(PROG, "%s", perr);
        return 2;
    }
    if (addr) {
        const char *colon = strrchr(addr, ':');
        size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
        long v = 0;
        if (hl == 0 || hl >= sizeof host ||
            (colon && parse_long(colon + 1, 1, 65533, &v))) {
            fprintf(stderr, PROG ": bad %s '%s'\n",
                    hl == 0 || hl >= sizeof host ? "address" : "port in",
                    addr);
            config_args_release(&a);
            return 2;
        }
        memcpy(host, addr, hl);
        host[hl] = '\0';
        if (colon)
            port = (int)v;
    }
    config_args_release(&a);
    char rerr[512];
    if (host_resolves(host, rerr, sizeof rerr)) {
        fprintf(stderr, PROG ": %s\n", rerr);
        return 2;
    }
    int json = o.json, one_line = o.one_line, timeout_ms = o.timeout_ms;
    double watch = o.watch;
    const char *curve_server = o.curve_server[0] ? o.curve_server : NULL;
    const char *curve_key = o.curve_key[0] ? o.curve_key : NULL;
    curve_pair server, key;
    if (!curve_server != !curve_key) {
        fprintf(stderr, PROG ": --curve-server and --curve-key go together\n");
        return 2;
    }
    char err[512];
    if (curve_server && (curve_read(curve_server, 0, &server, err, sizeof err) ||
                         curve_read(curve_key, 1, &key, err, sizeof err))) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://%s:%d", host, port + 2);
    stop_on_signals(0);
    void *ctx = zmq_ctx_new();
    int rc = 0, tty = isatty(STDOUT_FILENO);
    do {
        char *reply = ask(ctx, ep, timeout_ms, curve_server ? server.pub : NULL,
                          &key);
        if (!reply) {
            fprintf(stderr, PROG ": no answer from %s:%d (status %s) within "
                            "%d ms%s\n", host, port, ep, timeout_ms,
                    curve_server ? " (is this key on the learner's allow list?)"
                                 : " (a learner with CurveZMQ needs "
                                   "--curve-server and --curve-key)");
            rc = 1;
            if (!watch)
                break;
        } else if (json) {
            printf("%s\n", reply);
        } else {
            jp p = {reply, 0};
            jv v;
            jparse(&p, &v, 0);
            if (p.err || v.kind != J_OBJ) {
                fprintf(stderr, PROG ": unreadable reply: %.200s\n", reply);
                rc = 1;
            } else if (jget(&v, "error")) {
                fprintf(stderr, PROG ": the learner answered an error: %s\n",
                        jstr(&v, "error"));
                rc = 1;
            } else if (one_line) {
                if (watch && tty)
                    printf("\r\033[K");
                line(&v, stdout);
                if (!(watch && tty))
                    printf("\n");
            } else {
                if (watch && tty)
                    printf("\033[H\033[2J");
                table(&v, stdout);
                rc = 0;
            }
            jfree(&v);
        }
        free(reply);
        fflush(stdout);
        if (watch && !stop_requested()) {
            if (!tty && !one_line)
                printf("\n");
            usleep((useconds_t)(watch * 1e6));
        }
    } while (watch && !stop_requested());
    zmq_ctx_term(ctx);
    return rc;
}
