/*
 * curve.h - CurveZMQ keys for hpo's sockets (docs/distributed.md, "Keys").
 *
 * A key file is text: a comment line, then `public = <40 Z85 characters>`
 * and, in a secret file only, `secret = <40 Z85 characters>`. hpo-keygen
 * NAME writes NAME.secret (mode 0600) and NAME.public. The learner is the
 * CURVE server of all three sockets; it lets a client in only when the
 * client's public key is on its allow list, which its ZAP handler checks
 * (curve_zap_*). Actors and hpo-status are CURVE clients: they need the
 * learner's public key and a key pair of their own.
 */
#ifndef HPO_CURVE_H
#define HPO_CURVE_H

#include <stddef.h>
#include <stdint.h>

#define CURVE_KEY_TEXT 41      /* 40 Z85 characters and a NUL */
#define CURVE_MAX_ALLOWED 1024 /* public keys on one allow list */

// ---- key files ----

typedef struct curve_pair {
    char pub[CURVE_KEY_TEXT];
    char sec[CURVE_KEY_TEXT]; /* "" for a public key file */
} curve_pair;

/*
 * Read the key file at path into k. need_secret = 1 requires a secret line.
 * Returns 0, or -1 with a message naming the file, line and what is wrong.
 */
int curve_read(const char *path, int need_secret, curve_pair *k, char *err,
               size_t errlen);

/* Write a new key pair to prefix.secret (0600) and prefix.public; refuses to
 * overwrite. Returns 0, or -1 with a message. */
int curve_generate(const char *prefix, curve_pair *k, char *err, size_t errlen);

// ---- the allow list ----

/* The public keys a learner accepts, decoded. */
typedef struct curve_allow {
    int n;
    uint8_t key[CURVE_MAX_ALLOWED][32];
} curve_allow;

/*
 * Load the allow list from path: a directory (every *.public file in it) or
 * one file with any number of `public = KEY` lines. Returns the number of
 * keys (at least 1), or -1 with a message.
 */
int curve_allow_load(const char *path, curve_allow *a, char *err,
                     size_t errlen);

// ---- sockets and the ZAP handler ----

/* Make sock a CURVE server with secret key k (before bind). 0 or -1. */
int curve_server(void *sock, const curve_pair *k, char *err, size_t errlen);

/* Make sock a CURVE client of the server with public key server_pub, as k
 * (before connect). 0 or -1. */
int curve_client(void *sock, const char *server_pub, const curve_pair *k,
                 char *err, size_t errlen);

/* The ZAP handler: a REP socket bound to inproc://zeromq.zap.01 in ctx
 * (one per context, before the server sockets bind). NULL with a message. */
void *curve_zap_open(void *ctx, char *err, size_t errlen);

/*
 * Answer one pending ZAP request on zap (non-blocking; 0 when none was
 * waiting). Returns 1 when a client was let in, 2 when one was refused (its
 * key in Z85 into who, its address appended), -1 on a malformed request.
 */
int curve_zap_handle(void *zap, const curve_allow *a, char *who, size_t wholen);

#endif
