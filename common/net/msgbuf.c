/*
 * msgbuf.c - a growing encode buffer for wire messages (msgbuf.h).
 */
#include "msgbuf.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

size_t msgbuf_encode(msgbuf *b, const wire_msg *m)
{
    size_t need = wire_size(m);
    if (need > b->cap) {
        b->p = xrealloc(b->p, need);
        b->cap = need;
    }
    return wire_encode(m, b->p, b->cap);
}

void msgbuf_release(msgbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
