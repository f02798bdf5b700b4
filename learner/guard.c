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
    s->lo = xcalloc((size_t)ch, sizeof *s->lo);
    s->hi = xcalloc((size_t)ch, sizeof *s->hi);
}

static void stats_release(guard_stats *s)
{
    free(s->mean);
    free(s->m2);
    free(s->lo);
    free(s->hi);
    s->mean = s->m2 = s->lo = s->hi = NULL;
}

static void stats_clear(guard_stats *s, int ch)
{
    s->n = 0.0;
    memset(s->mean, 0, (size_t)ch * sizeof *s->mean);
    memset(s->m2, 0, (size_t)ch * sizeof *s->m2);
}

/* Welford, and the range: one row x (ch) into s. */
static void stats_add(guard_stats *s, int ch, const double *x)
{
    s->n += 1.0;
    for (int c = 0; c < ch; c++) {
        double d = x[c] - s->mean[c];
        s->mean[c] += d / s->n;
        s->m2[c] += d * (x[c] - s->mean[c]);
        s->lo[c] = s->n > 1.5 ? HPO_MIN(s->lo[c], x[c]) : x[c];
        s->hi[c] = s->n > 1.5 ? HPO_MAX(s->hi[c], x[c]) : x[c];
    }
}

/* a += b: Chan's merge, stable whatever the scales (no subtraction of
 * large moments), and the ranges' union. */
static void stats_merge(guard_stats *a, const guard_stats *b, int ch)
{
    if (b->n < 0.5)
        return;
    double na = a->n, nn = na + b->n;
    for (int c = 0; c < ch; c++) {
        double d = b->mean[c] - a->mean[c];
        a->mean[c] += d * b->n / nn;
        a->m2[c] += b->m2[c] + d * d * na * b->n / nn;
        a->lo[c] = na > 0.5 ? HPO_MIN(a->lo[c], b->lo[c]) : b->lo[c];
        a->hi[c] = na > 0.5 ? HPO_MAX(a->hi[c], b->hi[c]) : b->hi[c];
    }
    a->n = nn;
}

/* out = the rows of the sources in good standing but skip (-1: none) and
 * the untracked ones. */
static void pool_without(const guard *g, int skip, guard_stats *out)
{
    stats_clear(out, g->ch);
    stats_merge(out, &g->untracked, g->ch);
    for (int i = 0; i < g->n_sources; i++)
        if (i != skip && !g->src[i].quarantined)
            stats_merge(out, &g->src[i].st, g->ch);
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
    stats_init(&g->ref, g->ch);
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
    stats_release(&p->ref);
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

/* The reference's standard deviations, floored (guard.h). */
static void ref_sd(guard *g)
{
    const guard_stats *r = &g->ref;
    double rms = 0.0;
    for (int c = 0; c < g->ch; c++) {
        g->ref_sd[c] = sqrt(r->m2[c] / r->n);
        if (c > 0)
            rms += g->ref_sd[c] * g->ref_sd[c];
    }
    rms = sqrt(rms / g->obs_dim);
    for (int c = 0; c < g->ch; c++) {
        double floor =
            HPO_MAX(GUARD_UNIT_FLOOR, 1e-3 * (1.0 + fabs(r->mean[c])));
        if (c > 0)
            floor = HPO_MAX(floor, GUARD_OBS_FLOOR * rms);
        g->ref_sd[c] = HPO_MAX(g->ref_sd[c], floor);
        /* a heavy tail's spread is its range more than its deviation */
        g->ref_sd[c] =
            HPO_MAX(g->ref_sd[c], GUARD_RANGE_SCALE * (r->hi[c] - r->lo[c]));
    }
}

void guard_begin(guard *g, int tag)
{
    guard_source *s = guard_source_of(g, tag);
    if (s && !s->quarantined) {
        pool_without(g, tag - 1, &g->ref);
        if (g->ref.n >= (double)g->warmup) {
            ref_sd(g);
            g->ref_on = g->ref_others = 1;
            return;
        }
    }
    g->ref_others = 0;
    g->ref_on = g->pool.n >= (double)g->warmup;
    if (!g->ref_on)
        return;
    stats_clear(&g->ref, g->ch);
    stats_merge(&g->ref, &g->pool, g->ch);
    ref_sd(g);
}

/* How far x lies outside channel c's reference range, in its standard
 * deviations (0 inside). */
static double beyond(const guard *g, int c, double x)
{
    double d = x > g->ref.hi[c]   ? x - g->ref.hi[c]
               : x < g->ref.lo[c] ? g->ref.lo[c] - x
                                  : 0.0;
    return d / g->ref_sd[c];
}

double guard_where(const guard *g, const float *obs, const float *next_obs,
                   float reward, int *ch, double *x)
{
    double z = 0.0;
    *ch = 0;
    *x = reward;
    if (!g->ref_on)
        return 0.0;
    z = beyond(g, 0, reward);
    for (int k = 0; k < g->obs_dim; k++) {
        double a = beyond(g, 1 + k, obs[k]), b = beyond(g, 1 + k, next_obs[k]);
        if (HPO_MAX(a, b) > z) {
            z = HPO_MAX(a, b);
            *ch = 1 + k;
            *x = a >= b ? obs[k] : next_obs[k];
        }
    }
    return z;
}

double guard_z(const guard *g, const float *obs, const float *next_obs,
               float reward)
{
    if (!g->ref_on)
        return 0.0;
    double z = beyond(g, 0, reward);
    for (int k = 0; k < g->obs_dim; k++) {
        double a = beyond(g, 1 + k, obs[k]), b = beyond(g, 1 + k, next_obs[k]);
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
    /* only a judgement by the others strikes: a source alone (or the last
     * in good standing) is never quarantined on its own data */
    s->strikes = s->strikes * exp(-(double)n / GUARD_STRIKE_ROWS) +
                 (g->ref_others ? refused : 0);
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
    pool_without(g, -1, &g->pool);
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
        if (!g->ref_others)
            continue; /* only the others' data can accuse a source */
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
