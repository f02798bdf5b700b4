/*
 * ingest_sender.c - a synthetic actor for measuring the learner's ingest
 * (bench/dist_bench.sh, case ingest).
 *
 *   hpo-ingest-sender HOST:P [--env NAME] [--id ID] [--seconds S]
 *                     [--curve-server FILE --curve-key FILE]
 *
 * Says Hello as a streaming actor of environment NAME (default Pendulum),
 * then sends one pre-encoded TransitionBatch of the learner's batch_max
 * random-but-valid transitions, over and over, as fast as the socket takes
 * them (a blocking send: the high-water mark paces it), for S seconds
 * (default 10). It steps no environment and encodes nothing in the loop, so
 * the learner's receive path, not the sender, sets the rate. It respects
 * credits unless the learner runs free (--replay-ratio 0). Prints
 * `sent_transitions=N seconds=S` at the end; exit 1 when it was refused or
 * never welcomed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "env.h"
#include "rng.h"
#include "util.h"
#include "wire.h"

#define PROG "hpo-ingest-sender"

static int recv_msg(void *s, wire_msg *m, int timeout_ms)
{
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    zmq_msg_t z;
    zmq_msg_init(&z);
    int ok = zmq_msg_recv(&z, s, 0) >= 0;
    char err[256];
    if (ok && wire_decode(zmq_msg_data(&z), zmq_msg_size(&z), NULL, m, err,
                          sizeof err) != WIRE_OK)
        ok = 0;
    zmq_msg_close(&z);
    return ok;
}

static int send_msg(void *s, const wire_msg *m, int flags)
{
    size_t len;
    void *buf = wire_encode_alloc(m, &len);
    int rc = buf ? zmq_send(s, buf, len, flags) : -1;
    free(buf);
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: " PROG
                        " HOST:P [--env NAME] [--id ID] [--seconds S]\n");
        return 2;
    }
    const char *envname = "Pendulum", *id = "sender";
    const char *curve_server = NULL, *curve_key = NULL;
    double seconds = 10.0;
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, PROG ": %s needs a value\n", argv[i]);
            return 2;
        } else if (!strcmp(argv[i], "--env")) {
            envname = v;
        } else if (!strcmp(argv[i], "--id")) {
            id = v;
        } else if (!strcmp(argv[i], "--seconds")) {
            seconds = atof(v);
        } else if (!strcmp(argv[i], "--curve-server")) {
            curve_server = v;
        } else if (!strcmp(argv[i], "--curve-key")) {
            curve_key = v;
        } else {
            fprintf(stderr, PROG ": unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    const env_class *cls = env_find(envname);
    if (!cls || !(seconds > 0.0)) {
        fprintf(stderr, PROG ": unknown environment '%s' or bad --seconds\n",
                envname);
        return 2;
    }
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://%s", argv[1]);

    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (curve_server && curve_key) {
        curve_pair server, key;
        char err[512];
        if (curve_read(curve_server, 0, &server, err, sizeof err) ||
            curve_read(curve_key, 1, &key, err, sizeof err) ||
            curve_client(s, server.pub, &key, err, sizeof err)) {
            fprintf(stderr, PROG ": %s\n", err);
            return 2;
        }
    }
    if (zmq_connect(s, ep)) {
        fprintf(stderr, PROG ": cannot connect %s: %s\n", ep,
                zmq_strerror(errno));
        return 1;
    }
    rng r;
    rng_init(&r, (uint64_t)getpid(), 11);
    uint64_t inc = rng_u64(&r) | 1;

    wire_msg m, in;
    wire_msg_init(&in, WIRE_NONE);
    wire_msg_init(&m, WIRE_HELLO);
    snprintf(m.hello.env, sizeof m.hello.env, "%s", cls->name);
    m.hello.obs_dim = cls->obs_dim;
    m.hello.act_dim = cls->act_dim;
    snprintf(m.hello.actor_id, sizeof m.hello.actor_id, "%s", id);
    m.hello.incarnation = inc;
    snprintf(m.hello.host, sizeof m.hello.host, "bench");
    m.hello.pid = (uint32_t)getpid();
    m.hello.role = WIRE_ROLE_ACTOR;
    m.hello.n_envs = 1;
    send_msg(s, &m, 0);
    int welcomed = 0;
    for (int k = 0; k < 50 && !welcomed; k++)
        welcomed = recv_msg(s, &in, 100) && in.type == WIRE_WELCOME;
    if (!welcomed) {
        fprintf(stderr, PROG ": no Welcome from %s%s%s\n", ep,
                in.type == WIRE_REFUSE ? ": " : "",
                in.type == WIRE_REFUSE ? in.refuse.reason : "");
        return 1;
    }
    int n = in.welcome.batch_max, free_run = in.welcome.free_run;
    int64_t credit = (int64_t)in.welcome.credit;

    /* one valid batch, encoded once */
    int od = cls->obs_dim, ad = cls->act_dim;
    float *obs = xalloc_floats((size_t)n * od);
    float *act = xalloc_floats((size_t)n * ad);
    float *rew = xalloc_floats((size_t)n);
    uint8_t *flags = xcalloc((size_t)n, 1);
    rng_uniform_fill(&r, obs, (size_t)n * od, -1.0f, 1.0f);
    rng_uniform_fill(&r, act, (size_t)n * ad, -1.0f, 1.0f);
    rng_uniform_fill(&r, rew, (size_t)n, -1.0f, 0.0f);
    wire_msg_init(&m, WIRE_BATCH);
    m.batch = (wire_batch){.n = n,
                           .obs_dim = od,
                           .act_dim = ad,
                           .incarnation = inc,
                           .seq = 1,
                           .obs = obs,
                           .action = act,
                           .reward = rew,
                           .next_obs = obs,
                           .terminated = flags,
                           .truncated = flags};
    size_t len;
    void *buf = wire_encode_alloc(&m, &len);
    HPO_ASSERT(buf);

    uint64_t sent = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        while (recv_msg(s, &in, 0))
            if (in.type == WIRE_CREDIT)
                credit += (int64_t)in.credit.transitions;
        if (!free_run && credit < n) {
            if (recv_msg(s, &in, 5) && in.type == WIRE_CREDIT)
                credit += (int64_t)in.credit.transitions;
        } else if (zmq_send(s, buf, len, 0) >= 0) {
            sent += (uint64_t)n;
            credit -= n;
        }
        t = now_s();
    }
    printf("sent_transitions=%llu seconds=%.2f\n", (unsigned long long)sent,
           t - t0);
    free(buf);
    free(obs);
    free(act);
    free(rew);
    free(flags);
    wire_msg_release(&in);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
