/*
 * msgbuf.h - a growing encode buffer for wire messages.
 *
 * hpo-learner and hpo-actor encode every message they send into one buffer
 * that grows to the largest message so far and is reused, so steady sending
 * allocates nothing. Initialize with {0}; release with msgbuf_release.
 */
#ifndef HPO_MSGBUF_H
#define HPO_MSGBUF_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct msgbuf {
    uint8_t *p; /* (cap) bytes; NULL before the first message */
    size_t cap;
} msgbuf;

/* Encode m into b, growing it to wire_size(m). Returns the length, or 0 when
 * m cannot be encoded (larger than its type's wire_limit). */
size_t msgbuf_encode(msgbuf *b, const wire_msg *m);

/* Free b's bytes and zero it. */
void msgbuf_release(msgbuf *b);

#endif
