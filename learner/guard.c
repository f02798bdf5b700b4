/*
 * guard.c - running statistics of the data and the rows beyond them
 * (guard.h).
 */
#include "guard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void stats_init(guard_stats *s, int ch)
{
    s->n = 0.0;
    s->mean = xcalloc((size_t)ch, sizeof *s->mean);
    s->m2 = xcalloc((size_t)ch, sizeof *s->m2);
}

static void stats_release(guard_stats *s)
{
    free(s->mean);
    free(s->m2);
    s->mean = s->m2 = NULL;
}

/* Welford: one row x (ch) into s. */
static void stats_add(guard_stats *s, int ch, const double *x)
{
    s->n += 1.0;
    for (int c = 0; c < ch; c++) {
        double d = x[c] - s->mean[c];
        s->mean[c] += d / s->n;
        s->m2[c] += d * (x[c] - s->mean[c]);
    }
}

/* (mean, m2, *n) += b: Chan's merge, stable whatever the scales (no
 * subtraction of large moments). */
static void stats_merge(double *mean, double *m2, double *n,
                        const guard_stats *b, int ch)
{
    if (b->n < 0.5)
        return;
    double na = *n, nn = na + b->n;
    for (int c = 0; c < ch; c++) {
        double d = b->mean[c] - mean[c];
        mean[c] += d * b->n / nn;
        m2[c] += b->m2[c] + d * d * na * b->n / nn;
    }
    *n = nn;
}

/* (mean, m2, *n) = the rows of the sources in good standing but skip
 * (-1: none) and the untracked ones. */
static void pool_without(const guard *g, int skip, double *mean, double *m2,
                         double *n)
{
    memset(mean, 0, (size_t)g->ch * sizeof *mean);
    memset(m2, 0, (size_t)g->ch * sizeof *m2);
    *n = 0.0;
    stats_merge(mean, m2, n, &g->untracked, g->ch);
    for (int i = 0; i < g->n_sources; i++)
        if (i != skip && !g->src[i].quarantined)
            stats_merge(mean, m2, n, &g->src[i].st, g->ch);
}

guard *guard_new(int obs_dim, double sigma, long warmup, double quarantine)
{
    HPO_ASSERT(obs_dim > 0 && sigma > 0.0 && warmup >= 1 && quarantine > 0.0);
    guard *g = xcalloc(1, sizeof *g);
    g->obs_dim = obs_dim;
    g->ch = 1 + obs_dim;
    g->sigma = sigma;
    g->warmup = warmup;
    g->quarantine = quarantine;
    stats_init(&g->pool, g->ch);
    stats_init(&g->untracked, g->ch);
    g->ref_mean = xcalloc((size_t)g->ch, sizeof *g->ref_mean);
    g->ref_sd = xcalloc((size_t)g->ch, sizeof *g->ref_sd);
    g->row = xcalloc((size_t)g->ch, sizeof *g->row);
    return g;
}

void guard_destroy(guard **g)
{
    if (!g || !*g)
        return;
    guard *p = *g;
    for (int i = 0; i < p->n_sources; i++)
        stats_release(&p->src[i].st);
    stats_release(&p->pool);
    stats_release(&p->untracked);
    free(p->ref_mean);
    free(p->ref_sd);
    free(p->row);
    free(p);
    *g = NULL;
}

int guard_tag(guard *g, const char *id)
{
    for (int i = 0; i < g->n_sources; i++)
        if (!strcmp(g->src[i].id, id))
            return i + 1;
    if (g->n_sources == GUARD_MAX_SOURCES)
        return 0;
    guard_source *s = &g->src[g->n_sources++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    stats_init(&s->st, g->ch);
    return g->n_sources;
}

guard_source *guard_source_of(guard *g, int tag)
{
    return tag >= 1 && tag <= g->n_sources ? &g->src[tag - 1] : NULL;
}

/* The reference standard deviations from m2 over n rows, floored
 * (guard.h). */
static void ref_sd(guard *g, const double *m2, double n)
{
    double rms = 0.0;
    for (int c = 0; c < g->ch; c++) {
        g->ref_sd[c] = sqrt(m2[c] / n);
        if (c > 0)
            rms += g->ref_sd[c] * g->ref_sd[c];
    }
    rms = sqrt(rms / g->obs_dim);
    for (int c = 0; c < g->ch; c++) {
        double floor = 1e-3 * (1.0 + fabs(g->ref_mean[c]));
        if (c > 0)
            floor = HPO_MAX(floor, 0.1 * rms);
        g->ref_sd[c] = HPO_MAX(g->ref_sd[c], floor);
    }
}

void guard_begin(guard *g, int tag)
{
    guard_source *s = guard_source_of(g, tag);
    double n = 0.0;
    double *m2 = g->ref_sd; /* scratch until ref_sd() */
    if (s && !s->quarantined) {
        pool_without(g, tag - 1, g->ref_mean, m2, &n);
        if (n >= (double)g->warmup) {
            ref_sd(g, m2, n);
            g->ref_on = 1;
            return;
        }
    }
    n = g->pool.n;
    g->ref_on = n >= (double)g->warmup;
    if (!g->ref_on)
        return;
    memcpy(g->ref_mean, g->pool.mean, (size_t)g->ch * sizeof *g->ref_mean);
    memcpy(m2, g->pool.m2, (size_t)g->ch * sizeof *m2);
    ref_sd(g, m2, n);
}

double guard_z(const guard *g, const float *obs, const float *next_obs,
               float reward)
{
    if (!g->ref_on)
        return 0.0;
    double z = fabs((double)reward - g->ref_mean[0]) / g->ref_sd[0];
    for (int k = 0; k < g->obs_dim; k++) {
        double m = g->ref_mean[1 + k], sd = g->ref_sd[1 + k];
        double a = fabs((double)obs[k] - m) / sd;
        double b = fabs((double)next_obs[k] - m) / sd;
        z = HPO_MAX(z, HPO_MAX(a, b));
    }
    return z;
}

int guard_refuses(const guard *g, double z)
{
    return z > g->sigma;
}

void guard_add(guard *g, int tag, const float *obs, float reward, double z)
{
    double *row = g->row;
    row[0] = reward;
    for (int k = 0; k < g->obs_dim; k++)
        row[1 + k] = obs[k];
    guard_source *s = guard_source_of(g, tag);
    if (s) {
        stats_add(&s->st, g->ch, row);
        s->taken++;
    } else {
        stats_add(&g->untracked, g->ch, row);
    }
    if (!s || !s->quarantined)
        stats_add(&g->pool, g->ch, row);
    if (g->ref_on)
        g->max_z_taken = HPO_MAX(g->max_z_taken, z);
}

int guard_strike(guard *g, int tag, int n, int refused, double max_z)
{
    guard_source *s = guard_source_of(g, tag);
    if (!s || s->quarantined)
        return 0;
    s->strikes = s->strikes * exp(-(double)n / GUARD_STRIKE_ROWS) + refused;
    s->refused += (uint64_t)refused;
    s->max_z = HPO_MAX(s->max_z, max_z);
    if (s->strikes < g->quarantine)
        return 0;
    guard_quarantine(g, tag);
    return 1;
}

void guard_quarantine(guard *g, int tag)
{
    guard_source *s = guard_source_of(g, tag);
    if (!s || s->quarantined)
        return;
    s->quarantined = 1;
    pool_without(g, -1, g->pool.mean, g->pool.m2, &g->pool.n);
    g->n_quarantined++;
}

int guard_suspect(guard *g, int m, const float *obs, const float *next_obs,
                  const float *reward, const uint16_t *tag, double *z)
{
    int best = -1;
    double best_z = 0.0;
    size_t od = (size_t)g->obs_dim;
    for (int i = 0; i < m; i++) {
        guard_begin(g, tag[i]);
        double zi = guard_z(g, obs + (size_t)i * od, next_obs + (size_t)i * od,
                            reward[i]);
        if (zi > best_z || best < 0) {
            best = i;
            best_z = zi;
        }
    }
    if (z)
        *z = best_z;
    return best >= 0 && guard_refuses(g, best_z) ? best : -1;
}
