#include "vecenv.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define QUEUE_MIN 64 /* episode records kept even for a single environment */

// ---- lifecycle ----

vecenv *vecenv_new(const char *name, int n, uint64_t seed,
                   const char *model_dir, char *err, size_t errlen)
{
    if (n < 1 || n > VECENV_MAX_ENVS) {
        errf(err, errlen, "vecenv: number of environments %d outside [1, %d]",
             n, VECENV_MAX_ENVS);
        return NULL;
    }
    vecenv *v = xcalloc(1, sizeof *v);
    v->n = n;
    v->seed = seed;
    v->envs = xcalloc((size_t)n, sizeof *v->envs);
    for (int i = 0; i < n; i++) {
        v->envs[i] = env_new(name, model_dir, err, errlen);
        if (!v->envs[i])
            goto out_destroy;
        env_seed(v->envs[i], seed + (uint64_t)i);
    }
    v->cls = v->envs[0]->cls;
    v->obs_dim = v->cls->obs_dim;
    v->act_dim = v->cls->act_dim;

    size_t no = (size_t)n * (size_t)v->obs_dim;
    v->obs = xalloc_floats(no);
    v->prev_obs = xalloc_floats(no);
    v->next_obs = xalloc_floats(no);
    v->act = xalloc_floats((size_t)n * (size_t)v->act_dim);
    v->rew = xalloc_floats((size_t)n);
    v->terms = xalloc_floats((size_t)n * ENV_MAX_TERMS);
    v->terminated = xcalloc((size_t)n, sizeof *v->terminated);
    v->truncated = xcalloc((size_t)n, sizeof *v->truncated);
    v->diverged = xcalloc((size_t)n, sizeof *v->diverged);
    v->ep_len = xcalloc((size_t)n, sizeof *v->ep_len);
    v->ep_ret = xcalloc((size_t)n, sizeof *v->ep_ret);
    v->ep_terms = xcalloc((size_t)n * ENV_MAX_TERMS, sizeof *v->ep_terms);
    v->qcap = HPO_MAX(QUEUE_MIN, 4 * n);
    v->queue = xcalloc((size_t)v->qcap, sizeof *v->queue);
    return v;

out_destroy:
    vecenv_destroy(&v);
    return NULL;
}

void vecenv_destroy(vecenv **v)
{
    if (!v || !*v)
        return;
    vecenv *p = *v;
    if (p->envs)
        for (int i = 0; i < p->n; i++)
            env_destroy(&p->envs[i]);
    free(p->envs);
    free(p->obs);
    free(p->prev_obs);
    free(p->next_obs);
    free(p->act);
    free(p->rew);
    free(p->terms);
    free(p->terminated);
    free(p->truncated);
    free(p->diverged);
    free(p->ep_len);
    free(p->ep_ret);
    free(p->ep_terms);
    free(p->queue);
    free(p);
    *v = NULL;
}

// ---- stepping ----

static void restart_stats(vecenv *v, int i)
{
    v->ep_len[i] = 0;
    v->ep_ret[i] = 0.0;
    memset(v->ep_terms + (size_t)i * ENV_MAX_TERMS, 0,
           ENV_MAX_TERMS * sizeof *v->ep_terms);
}

void vecenv_reset_all(vecenv *v)
{
    for (int i = 0; i < v->n; i++) {
        env_reset(v->envs[i], v->obs + (size_t)i * v->obs_dim);
        restart_stats(v, i);
    }
    v->qhead = 0;
    v->qcount = 0;
    v->started = 1;
}

/* Append env i's finished episode, overwriting the oldest when full. */
static void push_episode(vecenv *v, int i, const env_step_result *res)
{
    int slot;
    if (v->qcount == v->qcap) {
        slot = v->qhead;
        v->qhead = (v->qhead + 1) % v->qcap;
        v->dropped++;
    } else {
        slot = (v->qhead + v->qcount) % v->qcap;
        v->qcount++;
    }
    vecenv_episode *ep = &v->queue[slot];
    ep->env_index = i;
    ep->length = v->ep_len[i];
    ep->ret = v->ep_ret[i];
    memcpy(ep->terms, v->ep_terms + (size_t)i * ENV_MAX_TERMS,
           sizeof ep->terms);
    ep->terminated = res->terminated;
    ep->truncated = res->truncated;
    ep->diverged = res->diverged;
    v->episodes++;
}

int vecenv_step(vecenv *v)
{
    HPO_ASSERT(v->started);
    const size_t od = (size_t)v->obs_dim;
    int finished = 0;

    memcpy(v->prev_obs, v->obs, (size_t)v->n * od * sizeof(float));
    for (int i = 0; i < v->n; i++) {
        float *next = v->next_obs + (size_t)i * od;
        env_step_result res;
        env_step(v->envs[i], v->act + (size_t)i * v->act_dim, next, &res);

        v->rew[i] = res.reward;
        v->terminated[i] = res.terminated;
        v->truncated[i] = res.truncated;
        v->diverged[i] = res.diverged;
        memcpy(v->terms + (size_t)i * ENV_MAX_TERMS, res.terms,
               sizeof res.terms);

        double *sums = v->ep_terms + (size_t)i * ENV_MAX_TERMS;
        for (int k = 0; k < v->cls->n_terms; k++)
            sums[k] += res.terms[k];
        v->ep_ret[i] += res.reward;
        v->ep_len[i]++;

        float *cur = v->obs + (size_t)i * od;
        if (res.terminated || res.truncated) {
            push_episode(v, i, &res);
            finished++;
            env_reset(v->envs[i], cur);
            restart_stats(v, i);
        } else {
            memcpy(cur, next, od * sizeof(float));
        }
    }
    v->steps++;
    return finished;
}

// ---- episode statistics ----

int vecenv_pop_episode(vecenv *v, vecenv_episode *out)
{
    if (v->qcount == 0)
        return 0;
    *out = v->queue[v->qhead];
    v->qhead = (v->qhead + 1) % v->qcap;
    v->qcount--;
    return 1;
}

int vecenv_pending_episodes(const vecenv *v)
{
    return v->qcount;
}
