/*
 * rollout.c - hpo-actor's stepping: batched actions over the environments,
 * the batch being filled and sent under credit, and --eval's episodes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "actor.h"
#include "log.h"
#include "env.h"
#include "evaluate.h"
#include "util.h"
#include "vecenv.h"

void actor_send_batch(actor *a)
{
    if (!a->rows)
        return;
    wire_msg m;
    wire_msg_init(&m, WIRE_BATCH);
    wire_batch *b = &m.batch;
    b->n = a->rows;
    b->obs_dim = a->od;
    b->act_dim = a->ad;
    b->param_version = a->version;
    b->incarnation = a->incarnation;
    b->seq = ++a->seq;
    b->obs = a->obs;
    b->action = a->act;
    b->reward = a->rew;
    b->next_obs = a->next_obs;
    b->terminated = a->term;
    b->truncated = a->trunc;
    b->n_episodes = a->n_ep;
    b->ep_return = a->ep_ret;
    b->ep_length = a->ep_len;
    if (actor_send(a, &m) == 0) {
        a->credit -= a->rows;
        a->last_hb = now_s();
    }
    a->rows = 0;
    a->n_ep = 0;
}

// ---- stepping ----

/* Rows in one batch: the learner's batch_max, at least one step's. */
static int batch_rows(const actor *a)
{
    return HPO_MIN(a->cap, HPO_MAX(a->batch_max, a->n));
}

int actor_may_step(const actor *a)
{
    return a->state == ST_RUN && !a->opt.eval &&
           a->rows + a->n <= batch_rows(a) &&
           (a->free_run || a->credit - a->rows >= a->n);
}

void actor_step(actor *a)
{
    vecenv *v = a->ve;
    size_t na = (size_t)a->n * (size_t)a->ad;
    if (a->version == 0 || a->snap_env_steps < a->learning_starts)
        rng_uniform_fill(&a->act_rng, v->act, na, -1.0f, 1.0f);
    else
        sac_act(a->agent, &a->agent->act, v->obs, a->n, 0, &a->act_rng, v->act,
                NULL);
    vecenv_step(v);
    if (!a->rows)
        a->first_row_t = now_s();
    size_t r = (size_t)a->rows;
    memcpy(a->obs + r * a->od, v->prev_obs,
           (size_t)a->n * a->od * sizeof(float));
    memcpy(a->act + r * a->ad, v->act, na * sizeof(float));
    memcpy(a->rew + r, v->rew, (size_t)a->n * sizeof(float));
    memcpy(a->next_obs + r * a->od, v->next_obs,
           (size_t)a->n * a->od * sizeof(float));
    for (int i = 0; i < a->n; i++) {
        a->term[r + i] = v->terminated[i] ? 1 : 0;
        a->trunc[r + i] = v->truncated[i] ? 1 : 0;
    }
    a->rows += a->n;
    a->steps += (uint64_t)a->n;
    vecenv_episode ep;
    while (a->n_ep < a->rows && vecenv_pop_episode(v, &ep)) {
        a->ep_ret[a->n_ep] = (float)ep.ret;
        a->ep_len[a->n_ep++] = (uint32_t)ep.length;
    }
}

/* Deterministic episodes of the current snapshot (evaluate.h), heartbeats
 * in between. */
void actor_evaluate(actor *a)
{
    int n = a->eval_episodes;
    float *ret = xcalloc((size_t)n, sizeof *ret);
    uint32_t *len = xcalloc((size_t)n, sizeof *len);
    evaluation ev;
    evaluate_init(&ev, a->agent, a->eval_env, a->cfg.seed);
    int done = 0;
    for (long k = 0; done < n && !stop_requested(); k++) {
        double r;
        long l;
        if (evaluate_step(&ev, &r, &l)) {
            ret[done] = (float)r;
            len[done++] = (uint32_t)l;
        }
        if ((k & 63) == 0 && (now_s() - a->last_hb) * 1000.0 >= a->heartbeat_ms)
            actor_heartbeat(a);
    }
    evaluate_release(&ev);
    if (done == n) {
        wire_msg m;
        wire_msg_init(&m, WIRE_EVAL);
        m.eval.param_version = a->version;
        m.eval.incarnation = a->incarnation;
        m.eval.n = n;
        m.eval.returns = ret;
        m.eval.lengths = len;
        actor_send(a, &m);
        double s = 0.0;
        for (int i = 0; i < n; i++)
            s += ret[i];
        log_info("evaluated version %llu: mean return %.1f over %d episodes",
                 (unsigned long long)a->version, s / n, n);
    }
    a->evaluated = a->version;
    a->eval_mark = a->snap_eval_mark;
    free(ret);
    free(len);
}
