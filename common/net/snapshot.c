/*
 * snapshot.c - snapshot blocks to parameter ranges (snapshot.h).
 */
#include "snapshot.h"

#include <stdio.h>
#include <string.h>

void snapshot_set_blocks(wire_snapshot *s, const sac *agent)
{
    const hpo_nets *n = &agent->nets;
    s->n_blocks = 2;
    snprintf(s->blocks[0].name, WIRE_NAME_MAX, WIRE_BLOCK_POLICY);
    s->blocks[0].data = agent->params + n->pol_off;
    s->blocks[0].n = n->pol_n;
    snprintf(s->blocks[1].name, WIRE_NAME_MAX, WIRE_BLOCK_CRITICS);
    s->blocks[1].data = agent->params + n->q_off;
    s->blocks[1].n = n->q_n;
}

int snapshot_load_blocks(sac *agent, const wire_snapshot *s)
{
    const hpo_nets *n = &agent->nets;
    const wire_block *p = wire_snapshot_block(s, WIRE_BLOCK_POLICY);
    const wire_block *q = wire_snapshot_block(s, WIRE_BLOCK_CRITICS);
    if (!p || !q || p->n != n->pol_n || q->n != n->q_n)
        return -1;
    memcpy(agent->params + n->pol_off, p->data, p->n * sizeof(float));
    memcpy(agent->params + n->q_off, q->data, q->n * sizeof(float));
    return 0;
}
