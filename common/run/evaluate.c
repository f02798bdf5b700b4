/*
 * evaluate.c - the deterministic evaluation (evaluate.h).
 */
#include "evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void evaluate_init(evaluation *ev, sac *agent, env *e, uint64_t seed)
{
    memset(ev, 0, sizeof *ev);
    ev->agent = agent;
    ev->e = e;
    rng_init(&ev->r, seed, RNG_STREAM_EVAL);
    env_seed(e, rng_u64(&ev->r));
    ev->obs = xalloc_floats((size_t)e->cls->obs_dim);
    ev->act = xalloc_floats((size_t)e->cls->act_dim);
}

void evaluate_release(evaluation *ev)
{
    free(ev->obs);
    free(ev->act);
    memset(ev, 0, sizeof *ev);
}

int evaluate_step(evaluation *ev, double *ret, long *len)
{
    if (!ev->started) {
        env_reset(ev->e, ev->obs);
        ev->steps = 0;
        ev->ret = 0.0;
        ev->started = 1;
    }
    env_step_result res;
    sac_act(ev->agent, &ev->agent->act, ev->obs, 1, 1, &ev->r, ev->act, NULL);
    env_step(ev->e, ev->act, ev->obs, &res);
    ev->ret += res.reward;
    ev->steps++;
    if (!res.terminated && !res.truncated && ev->steps < EVALUATE_MAX_STEPS)
        return 0;
    ev->started = 0;
    *ret = ev->ret;
    *len = ev->steps;
    return 1;
}

int evaluate_cut(evaluation *ev, double *ret, long *len)
{
    int was = ev->started;
    *ret = was ? ev->ret : 0.0;
    *len = was ? ev->steps : 0;
    ev->started = 0;
    return was;
}

run_stats evaluate_run(sac *agent, env *e, uint64_t seed, long n,
                       double *returns, long *lengths)
{
    evaluation ev;
    evaluate_init(&ev, agent, e, seed);
    run_stats rs = {0};
    for (long i = 0; i < n; i++) {
        double ret;
        long len;
        while (!evaluate_step(&ev, &ret, &len))
            ;
        run_stats_add(&rs, ret);
        if (returns)
            returns[i] = ret;
        if (lengths)
            lengths[i] = len;
    }
    evaluate_release(&ev);
    return rs;
}
