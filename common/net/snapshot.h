/*
 * snapshot.h - which part of the flat parameter block (policy.h) each block
 * of a ParamSnapshot carries: "policy" is [pol_off, pol_off + pol_n) (pi,
 * T_h, sigma_h), "critics" [q_off, q_off + q_n) (Q1, Q2). hpo-learner fills
 * snapshots with snapshot_set_blocks, hpo-actor loads them with
 * snapshot_load_blocks; nothing else knows the ranges.
 */
#ifndef HPO_SNAPSHOT_H
#define HPO_SNAPSHOT_H

#include "sac.h"
#include "wire.h"

/* Point s's two blocks at agent's parameters (no copy: s is valid while
 * agent->params is, e.g. until it is encoded). */
void snapshot_set_blocks(wire_snapshot *s, const sac *agent);

/* Copy s's blocks into agent's parameters. Returns 0, or -1 (nothing
 * copied) when a block is missing or its size is not the agent's range. */
int snapshot_load_blocks(sac *agent, const wire_snapshot *s);

#endif
