/*
 * status.c - hpo-status: ask a learner's status socket and print the answer.
 *
 *   hpo-status [HOST[:P]] [--json | --line] [--watch SECONDS] [--timeout-ms MS]
 *
 * Sends a StatusRequest on a REQ socket to HOST:P+2 (P defaults to 5550) and
 * prints the JSON reply (docs/status.md) raw with --json, as a table
 * otherwise. The reply is untrusted: it is read whole by jansson (the
 * library the learner writes it with) and refused unless it is one JSON
 * object, at most REPLY_MAX bytes; every value is checked for its type
 * before use, and strings reach the terminal cut to their column and with
 * non-printable bytes as '?'.
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

#include <jansson.h>
#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "util.h"
#include "wire.h"

#define PROG "hpo-status"
/* The largest reply read: a learner's full reply is at most 256 actor rows
 * of under 1 KB each (id 64, host 256 bytes, numbers) plus two 4 KB paths,
 * so 1 MiB holds it with room; a larger one is cut at the socket. */
#define REPLY_MAX (1 << 20)
#define SHOWN_MAX 256 /* actor rows and rejected reasons printed */

// ---- reading the reply (jansson; every value checked for its type) ----

/* o[key] as a number (a JSON number or boolean); NAN when o is no object,
 * the key is absent, or the value is null or of another type. */
static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_boolean(v))
        return json_is_true(v);
    return NAN;
}

/* Copy of s into buf (size n, n >= 2) with every byte outside printable
 * ASCII as '?' and at most n - 1 bytes: a reply's strings reach the
 * terminal, and the reply is untrusted. */
static const char *clean(char *buf, size_t n, const char *s, size_t len)
{
    size_t i = 0;
    for (; i < len && i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buf[i] = '\0';
    return buf;
}

/* o[key] as a string, cleaned into buf; "-" when absent or not a string. */
static const char *jstr(char *buf, size_t n, const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!json_is_string(v))
        return "-";
    return clean(buf, n, json_string_value(v), json_string_length(v));
}

// ---- printing ----

static void fnum(char *buf, size_t n, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
}

/* o[key] if it is an object, else NULL. */
static const json_t *jobj(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

/* o[key] if it is an array, else NULL. */
static const json_t *jarr(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_array(v) ? v : NULL;
}

/* " of BUDGET (P%, ETA X)" into buf, "" without a budget; the data and
 * evaluation actors counted apart into *n_data, *n_eval. */
static void budget_and_actors(const json_t *r, char *buf, size_t n,
                              size_t *n_data, size_t *n_eval)
{
    char eta[32];
    fmt_duration(eta, sizeof eta, jnum(r, "eta_s"));
    const json_t *actors = jarr(r, "actors");
    *n_data = *n_eval = 0;
    for (size_t i = 0; i < json_array_size(actors); i++) {
        const char *role = json_string_value(
            json_object_get(json_array_get(actors, i), "role"));
        if (role && !strcmp(role, "eval"))
            (*n_eval)++;
        else
            (*n_data)++;
    }
    double steps = jnum(r, "env_steps"), budget = jnum(r, "steps_budget");
    buf[0] = '\0';
    if (isfinite(budget) && budget > 0)
        snprintf(buf, n, " of %.0f (%.1f%%, ETA %s)", budget,
                 100.0 * HPO_MIN(steps / budget, 1.0), eta);
}

/* One line: steps, updates, rates, ratio, actors, returns. */
static void table(const json_t *r, FILE *f)
{
    char a[64], b[64], c[64], d[64], s1[WIRE_NAME_MAX], s2[WIRE_NAME_MAX],
        s3[16], done[96];
    size_t n_data, n_eval;
    budget_and_actors(r, done, sizeof done, &n_data, &n_eval);
    fprintf(f, "run %s  (%s, %s)  up %.0f s\n",
            jstr(s1, sizeof s1, r, "run_id"), jstr(s2, sizeof s2, r, "env"),
            jstr(s3, sizeof s3, r, "mode"), jnum(r, "uptime_s"));
    fnum(a, sizeof a, jnum(r, "steps_per_s"), "%.0f");
    fnum(b, sizeof b, jnum(r, "updates_per_s"), "%.0f");
    fprintf(f, "env steps %.0f%s (%s/s)   updates %.0f (%s/s)\n",
            jnum(r, "env_steps"), done, a, jnum(r, "updates"), b);
    fnum(a, sizeof a, jnum(r, "replay_ratio"), "%.3f");
    fnum(b, sizeof b, jnum(r, "replay_ratio_recent"), "%.3f");
    fprintf(
        f,
        "replay ratio %s (recent %s, target %g)   replay %.0f / %.0f   snapshot v%.0f\n",
        a, b, jnum(r, "replay_ratio_target"), jnum(r, "replay_size"),
        jnum(r, "replay_capacity"), jnum(r, "param_version"));
    fnum(a, sizeof a, jnum(r, "recent_return_mean"), "%.1f");
    const json_t *ev = jobj(r, "eval");
    fnum(b, sizeof b, jnum(ev, "mean_return"), "%.1f");
    fprintf(f, "episodes %.0f   recent return %s   eval %s",
            jnum(r, "episodes"), a, b);
    if (ev)
        fprintf(f, " (v%.0f, %.0f episodes)", jnum(ev, "param_version"),
                jnum(ev, "episodes"));
    fputc('\n', f);
    const json_t *lo = jobj(r, "losses");
    fnum(a, sizeof a, jnum(lo, "q"), "%.4g");
    fnum(b, sizeof b, jnum(lo, "pi"), "%.4g");
    fnum(c, sizeof c, jnum(r, "hd_dist"), "%.4f");
    fnum(d, sizeof d, jnum(r, "gate"), "%.4f");
    fprintf(f, "q loss %s   pi loss %s   alpha %.4g   ||aK-a0|| %s   gate %s\n",
            a, b, jnum(r, "alpha"), c, d);
    const json_t *rej = jobj(r, "rejected");
    fprintf(f, "rejected %.0f", jnum(r, "rejected_total"));
    const char *key;
    const json_t *v;
    const char *sep = " (";
    int shown = 0;
    json_object_foreach((json_t *)rej, key, v)
    {
        if (shown++ == SHOWN_MAX)
            break;
        if (json_is_number(v) && json_number_value(v) > 0) {
            fprintf(f, "%s%s %.0f", sep, clean(s1, sizeof s1, key, strlen(key)),
                    json_number_value(v));
            sep = ", ";
        }
    }
    if (strcmp(sep, " ("))
        fputc(')', f);
    fprintf(f, "   refused %.0f\n", jnum(r, "refused"));
    /* the data guards, once they did something */
    const json_t *dg = jobj(r, "data_guard");
    const json_t *q = jarr(dg, "quarantined");
    double far = jnum(jobj(r, "guards"), "row_scale");
    if (json_array_size(q) > 0 || (isfinite(far) && far > 0)) {
        fprintf(f, "data guard: %.0f rows beyond %g sd refused, %.0f removed",
                far, jnum(dg, "sigma"), jnum(dg, "rows_removed"));
        for (size_t i = 0; i < json_array_size(q) && i < SHOWN_MAX; i++) {
            const json_t *x = json_array_get(q, i);
            const char *id = json_is_string(x) ? json_string_value(x) : "?";
            fprintf(f, "%s%s", i ? ", " : "   quarantined: ",
                    clean(s1, sizeof s1, id, strlen(id)));
        }
        fputc('\n', f);
        char lkg[4096];
        const char *good = jstr(lkg, sizeof lkg, r, "last_known_good");
        if (strcmp(good, "-"))
            fprintf(f, "last known good checkpoint: %s\n", good);
    }

    const json_t *act = jarr(r, "actors");
    size_t n = json_array_size(act); /* 0 for NULL */
    fprintf(f, "\n%zu actors + %zu eval\n", n_data, n_eval);
    fprintf(f, "%-20s %-16s %5s %6s %10s %9s %5s %9s %9s\n", "actor", "host",
            "role", "envs", "steps", "steps/s", "lag", "snap ms", "last seen");
    for (size_t i = 0; i < n && i < SHOWN_MAX; i++) {
        const json_t *x = json_array_get(act, i);
        char ms[32], id[21], host[17], role[6];
        fnum(a, sizeof a, jnum(x, "steps_per_s"), "%.0f");
        fnum(ms, sizeof ms, jnum(x, "snapshot_latency_mean_ms"), "%.1f");
        fprintf(f, "%-20s %-16s %5s %6.0f %10.0f %9s %5.0f %9s %8.1fs\n",
                jstr(id, sizeof id, x, "id"),
                jstr(host, sizeof host, x, "host"),
                jstr(role, sizeof role, x, "role"), jnum(x, "n_envs"),
                jnum(x, "steps"), a, jnum(x, "param_lag"), ms,
                jnum(x, "last_seen_s"));
    }
    if (n > SHOWN_MAX)
        fprintf(f, "(%zu more actors not shown)\n", n - SHOWN_MAX);
    if (!n)
        fprintf(f, "(no actors)\n");
}

static void line(const json_t *r, FILE *f)
{
    char a[32], b[32], c[32], done[96];
    fnum(a, sizeof a, jnum(r, "replay_ratio"), "%.2f");
    fnum(b, sizeof b, jnum(r, "recent_return_mean"), "%.1f");
    fnum(c, sizeof c, jnum(jobj(r, "eval"), "mean_return"), "%.1f");
    /* the data actors and the evaluation actor apart */
    size_t n_data, n_eval;
    budget_and_actors(r, done, sizeof done, &n_data, &n_eval);
    fprintf(
        f,
        "%.0f steps%s (%.0f/s) | %.0f updates (%.0f/s) | ratio %s | %zu actors + %zu eval | return %s | eval %s",
        jnum(r, "env_steps"), done, jnum(r, "steps_per_s"), jnum(r, "updates"),
        jnum(r, "updates_per_s"), a, n_data, n_eval, b, c);
}

// ---- the request ----

/* One request/reply on a fresh REQ socket. Returns the reply, NUL-ended,
 * its length in *n_out (at most REPLY_MAX: ZMQ_MAXMSGSIZE drops a larger one;
 * caller frees) or NULL after the timeout. */
static char *ask(void *ctx, const char *ep, int timeout_ms,
                 const char *server_pub, const curve_pair *key, size_t *n_out)
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
            *n_out = n;
        }
        zmq_msg_close(&r);
        free(buf);
    }
    zmq_close(s);
    return out;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " [HOST[:P]] [--json | --line] [--watch SECONDS] [--timeout-ms MS]\n"
        "\n"
        "Ask the learner at HOST:P (default localhost:5550; the status\n"
        "socket is P+2) for its status and print it.\n"
        "\n"
        "  --json           print the raw JSON reply (docs/status.md)\n"
        "  --line           one progress line instead of the table\n"
        "  --watch SECONDS  ask again every SECONDS until Ctrl-C\n"
        "  --timeout-ms MS  give up after MS without an answer (default 2000)\n"
        "  --curve-server FILE, --curve-key FILE\n"
        "                   a learner with CurveZMQ: its public key, and a key pair\n"
        "                   on its allow list (hpo-keygen's .public and .secret);\n"
        "                   default: the environment's HPO_CURVE_SERVER and\n"
        "                   HPO_CURVE_KEY (set in the Kubernetes pods, so that\n"
        "                   kubectl exec ... hpo-status works with keys on)\n");
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
    {"curve-key", OPT_TEXT, O(curve_key), sizeof(((status_opts *)0)->curve_key),
     0, 0, NULL},
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
    int prc =
        config_args_table(&a, argc, argv, own, 0, 1, &o, perr, sizeof perr);
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
                    hl == 0 || hl >= sizeof host ? "address" : "port in", addr);
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
    if (!curve_server && !curve_key) {
        /* neither flag: the pair the environment names, if any */
        const char *es = getenv("HPO_CURVE_SERVER"),
                   *ek = getenv("HPO_CURVE_KEY");
        curve_server = es && es[0] ? es : NULL;
        curve_key = ek && ek[0] ? ek : NULL;
        if (!curve_server != !curve_key) {
            fprintf(
                stderr, PROG
                ": HPO_CURVE_SERVER and HPO_CURVE_KEY go together (one is set, the other empty): set both or neither\n");
            return 2;
        }
    }
    curve_pair server, key;
    if (!curve_server != !curve_key) {
        fprintf(stderr, PROG ": --curve-server and --curve-key go together\n");
        return 2;
    }
    char err[512];
    if (curve_server &&
        (curve_read(curve_server, 0, &server, err, sizeof err) ||
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
        size_t reply_len = 0;
        char *reply = ask(ctx, ep, timeout_ms, curve_server ? server.pub : NULL,
                          &key, &reply_len);
        if (!reply) {
            fprintf(
                stderr,
                PROG ": no answer from %s:%d (status %s) within %d ms%s\n",
                host, port, ep, timeout_ms,
                curve_server
                    ? " (is this key on the learner's allow list?)"
                    : " (a learner with CurveZMQ needs --curve-server and --curve-key)");
            rc = 1;
            if (!watch)
                break;
        } else {
            json_error_t jerr;
            json_t *v =
                json_loadb(reply, reply_len, JSON_REJECT_DUPLICATES, &jerr);
            if (!json_is_object(v)) {
                char shown[201];
                fprintf(
                    stderr,
                    PROG
                    ": unreadable reply from %s (%s at byte %d; a JSON object expected, docs/status.md): %s\n",
                    ep, v ? "not an object" : jerr.text, v ? 0 : jerr.position,
                    clean(shown, sizeof shown, reply, reply_len));
                rc = 1;
            } else if (json) {
                /* the raw reply: jansson has read it whole as JSON, so it
                 * holds no raw control bytes a terminal would act on */
                fwrite(reply, 1, reply_len, stdout);
                putchar('\n');
            } else if (json_object_get(v, "error")) {
                char why[WIRE_TEXT_MAX];
                fprintf(stderr, PROG ": the learner answered an error: %s\n",
                        jstr(why, sizeof why, v, "error"));
                rc = 1;
            } else if (one_line) {
                if (watch && tty)
                    printf("\r\033[K");
                line(v, stdout);
                if (!(watch && tty))
                    printf("\n");
            } else {
                if (watch && tty)
                    printf("\033[H\033[2J");
                table(v, stdout);
                rc = 0;
            }
            json_decref(v);
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
