/*
 * dist_badclient.c - sends one bad message to a learner, for test_dist.sh.
 *
 *   dist_badclient HOST:P KIND
 *
 * KIND is one of random, truncated, unknown-type, bad-version, bad-dims,
 * past-end, too-large, foreign, hello-dims (a Pendulum Hello with obs_dim 5)
 * (on the data socket, from a DEALER), or
 * status-random, status-hello (on the status socket, from a REQ: the
 * learner must still answer). bad-version and hello-dims wait for the
 * Refuse and print its reason. Exit 0 when sent (and, for the status kinds and
 * bad-version, answered), 1 otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "rng.h"
#include "util.h"
#include "wire.h"

/* A valid Pendulum batch of 4 rows with obs_dim od. Caller frees. */
static void *batch(int od, size_t *len)
{
    static float obs[4 * 8], act[4], rew[4];
    static uint8_t flags[4];
    wire_msg m;
    wire_msg_init(&m, WIRE_BATCH);
    m.batch.n = 4;
    m.batch.obs_dim = od;
    m.batch.act_dim = 1;
    m.batch.incarnation = 1;
    m.batch.obs = obs;
    m.batch.next_obs = obs;
    m.batch.action = act;
    m.batch.reward = rew;
    m.batch.terminated = flags;
    m.batch.truncated = flags;
    return wire_encode_alloc(&m, len);
}

/* Envelope header: magic (field 1, fixed32) and version (field 2). */
static size_t envelope(uint8_t *p, uint32_t magic, uint32_t version)
{
    size_t k = 0;
    p[k++] = 0x0d;
    memcpy(p + k, &magic, 4);
    k += 4;
    p[k++] = 0x10;
    p[k++] = (uint8_t)version; /* < 128 */
    return k;
}

static size_t varint(uint8_t *p, uint64_t v)
{
    size_t k = 0;
    while (v >= 0x80) {
        p[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[k++] = (uint8_t)v;
    return k;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: dist_badclient HOST:P KIND\n");
        return 2;
    }
    char host[256];
    int port;
    const char *colon = strrchr(argv[1], ':');
    if (!colon || colon == argv[1] || (size_t)(colon - argv[1]) >= sizeof host)
        return 2;
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = '\0';
    port = atoi(colon + 1);
    const char *kind = argv[2];
    int status = !strncmp(kind, "status-", 7);

    size_t len = 0, cap = 64;
    uint8_t *buf = NULL;
    rng r;
    rng_init(&r, 12345, 1);
    if (!strcmp(kind, "random") || !strcmp(kind, "status-random")) {
        len = 333;
        buf = xmalloc(len);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng_u64(&r);
    } else if (!strcmp(kind, "truncated")) {
        buf = batch(3, &len);
        len -= 7;
    } else if (!strcmp(kind, "bad-dims")) {
        buf = batch(5, &len);
    } else if (!strcmp(kind, "unknown-type")) {
        buf = xmalloc(cap);
        len = envelope(buf, WIRE_MAGIC, WIRE_VERSION);
        buf[len++] =
            (uint8_t)((12 << 3) | 2); /* body field 12: not yet a type */
        buf[len++] = 0;
    } else if (!strcmp(kind, "foreign")) {
        buf = xmalloc(cap);
        len = envelope(buf, 0x12345678u, WIRE_VERSION);
    } else if (!strcmp(kind, "bad-version") || !strcmp(kind, "status-hello") ||
               !strcmp(kind, "hello-dims")) {
        wire_msg m;
        wire_msg_init(&m, WIRE_HELLO);
        snprintf(m.hello.env, sizeof m.hello.env, "Pendulum");
        m.hello.obs_dim = !strcmp(kind, "hello-dims") ? 5 : 3;
        m.hello.act_dim = 1;
        snprintf(m.hello.actor_id, sizeof m.hello.actor_id, "badclient");
        m.hello.incarnation = 7;
        buf = wire_encode_alloc(&m, &len);
        if (!strcmp(kind, "bad-version"))
            buf[6] = 99; /* the version varint follows tag 0x10 at 5 */
    } else if (!strcmp(kind, "past-end")) {
        buf = xmalloc(cap);
        len = envelope(buf, WIRE_MAGIC, WIRE_VERSION);
        buf[len++] = (uint8_t)((6 << 3) | 2); /* a batch of 1000 bytes... */
        len += varint(buf + len, 1000);
        buf[len++] = 0x08; /* ...holding 2 */
        buf[len++] = 0x01;
    } else if (!strcmp(kind, "too-large")) {
        /* a Hello past its type's limit (64 KB) but within the data
         * socket's (the largest valid message, 16 MB: anything larger is
         * cut by ZeroMQ before the learner sees it) */
        size_t body = WIRE_MAX_CONTROL + 1024;
        buf = xcalloc(body + 32, 1);
        len = envelope(buf, WIRE_MAGIC, WIRE_VERSION);
        buf[len++] = (uint8_t)((3 << 3) | 2);
        len += varint(buf + len, body);
        len += body; /* zeros: field 0 would be malformed, but size is checked
                        first */
    } else {
        fprintf(stderr, "dist_badclient: unknown kind %s\n", kind);
        return 2;
    }

    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, status ? ZMQ_REQ : ZMQ_DEALER);
    int linger = 2000, tmo = 3000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://%s:%d", host, port + (status ? 2 : 0));
    int rc = 1;
    if (zmq_connect(s, ep) == 0 && zmq_send(s, buf, len, 0) >= 0) {
        rc = 0;
        if (status || !strcmp(kind, "bad-version") ||
            !strcmp(kind, "hello-dims")) {
            char reply[4096];
            int n = zmq_recv(s, reply, sizeof reply - 1, 0);
            if (n < 0) {
                fprintf(stderr, "dist_badclient: no answer to %s\n", kind);
                rc = 1;
            } else if (status) {
                reply[HPO_MIN(n, (int)sizeof reply - 1)] = '\0';
                printf("%s\n", reply);
            } else {
                wire_msg m;
                wire_msg_init(&m, WIRE_NONE);
                if (wire_decode(reply, (size_t)n, NULL, &m, NULL, 0) ==
                        WIRE_OK &&
                    m.type == WIRE_REFUSE)
                    printf("refused: %s\n", m.refuse.reason);
                else
                    rc = 1;
                wire_msg_release(&m);
            }
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(buf);
    return rc;
}
