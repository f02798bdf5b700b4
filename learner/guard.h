/*
 * guard.h - the learner's data guards that learn the data's scale: running
 * statistics (count, mean, variance; Welford, and Chan's merge, which
 * stays exact whatever the scales: a pool is never found by subtraction)
 * of the reward and of each observation component, per source (an actor
 * id) and pooled over the sources in good standing ("the replay's").
 *
 * A row of source s is judged against the pool without s's own rows (the
 * other actors': a source drifting slowly cannot drag the reference along
 * with it), or against the whole pool while the others hold fewer than
 * `warmup` rows; before the reference holds `warmup` rows every row passes.
 * A row whose reward or any obs / next_obs component lies more than `sigma`
 * units outside the range the reference has seen (below its least or above
 * its largest value) is refused. The distance is from the range, not the
 * mean: a heavy-tailed honest component (contact forces: mostly 0, rare
 * large spikes) passes once its spikes have been seen, a value far outside
 * all the others sent does not. Each refusal judged by the other sources'
 * rows is a strike that decays by a factor exp(-1/GUARD_STRIKE_ROWS) per
 * row the source sends (a source judged on the whole pool, its own rows in
 * it, gets none: a lone source, or the last in good standing, is never
 * quarantined); at `quarantine` strikes the source is quarantined: its
 * statistics leave the pool and the caller refuses its rows and removes
 * them from the replay buffer (their tag is the source's). The guards
 * assume the honest actors are the majority of the rows.
 *
 * A channel's unit is its standard deviation, floored at GUARD_UNIT_FLOOR
 * and at 1e-3 (1 + |mean|) (a constant component, a reward of always 1, must
 * not refuse 1.0001; and a reference of constant rows, a hundred fake ids
 * sending one row over and over, must not refuse an honest actor's
 * ordinary values: only rows far beyond any environment's scale), at
 * GUARD_RANGE_SCALE of its range (a heavy tail spreads by its range, not its
 * deviation), and for an observation component at GUARD_OBS_FLOOR of the
 * components' root-mean-square deviation (a component near 0 until it
 * spikes, a hand's contact force, is judged on the observation's scale).
 *
 * Plain numbers, no I/O and no learner: tests/test_guard.c drives it.
 */
#ifndef HPO_GUARD_H
#define HPO_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define GUARD_MAX_SOURCES 1024  /* tags 1..; later ids share tag 0 */
#define GUARD_ID_MAX 64         /* = WIRE_NAME_MAX */
#define GUARD_STRIKE_ROWS 1000. /* rows over which a strike decays by 1/e */
#define GUARD_RANGE_SCALE 0.25  /* of a channel's range: its least unit */
/* Of the components' RMS deviation: the least unit of an observation
 * component. */
#define GUARD_OBS_FLOOR 1.0
/* The least unit of any channel, in its own units (reward, observation):
 * with --guard-sigma 50, rows within 50 of the reference's range always
 * pass. */
#define GUARD_UNIT_FLOOR 1.0
/* Of sigma: a row taken this far out trips (marks the last known good
 * checkpoint). */
#define GUARD_WARN 0.2

/* Running statistics of `ch` channels: channel 0 the reward, 1.. the
 * observation's components. */
typedef struct guard_stats {
    double n;        /* rows */
    double *mean;    /* (ch) */
    double *m2;      /* (ch) sum of squared deviations */
    double *lo, *hi; /* (ch) the range seen (valid when n > 0) */
} guard_stats;

/* One source: an actor id, its tag is its index + 1. */
typedef struct guard_source {
    char id[GUARD_ID_MAX];
    int quarantined;
    uint64_t taken;   /* rows accepted */
    uint64_t refused; /* rows refused beyond sigma */
    double strikes;   /* decayed refusals */
    double max_z;     /* largest |z| of a row refused, 0: none */
    guard_stats st;   /* its accepted rows */
} guard_source;

typedef struct guard {
    int obs_dim, ch;   /* ch = 1 + obs_dim */
    double sigma;      /* refusal bound, standard deviations */
    long warmup;       /* reference rows before any refusal */
    double quarantine; /* strikes that quarantine */
    int n_sources;
    guard_source src[GUARD_MAX_SOURCES];
    guard_stats pool;      /* accepted rows of the sources in good standing */
    guard_stats untracked; /* accepted rows of tag 0 */
    guard_stats ref;       /* the reference of guard_begin */
    double *ref_sd;        /* (ch) its floored standard deviations */
    double *row;           /* (ch) guard_add's scratch */
    int ref_on;            /* 0: warming up, every row passes */
    int ref_others;        /* 1: the reference is the other sources' rows */
    double max_z_taken;    /* largest |z| of a row accepted past warm-up */
    int n_quarantined;
} guard;

/* A new guard for obs_dim components (> 0), refusing beyond sigma (> 0)
 * standard deviations after warmup (>= 1) reference rows, quarantining at
 * quarantine (> 0) strikes. Caller owns it: guard_destroy. Aborts when out
 * of memory. */
guard *guard_new(int obs_dim, double sigma, long warmup, double quarantine);

/* Free *g and set it to NULL. Accepts NULL. */
void guard_destroy(guard **g);

/* The tag of source id (registered on first sight), 1..GUARD_MAX_SOURCES;
 * 0 once the table is full (such rows are judged against the whole pool
 * and never quarantined). */
int guard_tag(guard *g, const char *id);

/* Source of tag (>= 1), NULL for 0 or an unknown tag. */
guard_source *guard_source_of(guard *g, int tag);

/* Prepare the reference for rows of tag: the pool without that source
 * when the rest holds >= warmup rows, else the whole pool, else none
 * (warming up). */
void guard_begin(guard *g, int tag);

/* |z| of a row against the reference of guard_begin: its distance outside
 * the reference's range, in units, the largest over the reward and every
 * obs and next_obs component (0 inside, and while warming up).
 * obs, next_obs (obs_dim). */
double guard_z(const guard *g, const float *obs, const float *next_obs,
               float reward);

/* guard_z, and where: *ch the channel of the largest (0 the reward, 1 + k
 * observation component k), *x its value. */
double guard_where(const guard *g, const float *obs, const float *next_obs,
                   float reward, int *ch, double *x);

/* Whether a row of |z| z is refused (z > sigma). */
int guard_refuses(const guard *g, double z);

/* Add an accepted row of tag (obs: obs_dim) to its source and the pool; z
 * its guard_z. */
void guard_add(guard *g, int tag, const float *obs, float reward, double z);

/*
 * After a batch of tag (judged after guard_begin(g, tag)): n rows sent,
 * refused of them beyond sigma (largest |z| max_z). Decays the strikes and
 * adds the refusals when the reference was the other sources' rows (a
 * source judged on the whole pool, its own rows among them, is never
 * quarantined: a lone actor, or the last in good standing). Returns 1 when
 * the source is quarantined by it (guard_quarantine done), else 0.
 */
int guard_strike(guard *g, int tag, int n, int refused, double max_z);

/* Quarantine the source of tag (>= 1): its statistics leave the pool, later
 * rows of it are the caller's to refuse. No-op when it already is. */
void guard_quarantine(guard *g, int tag);

/*
 * The rollback's suspect among m rows (obs, next_obs (m, obs_dim), reward
 * (m), tag (m)): the row of largest |z| against the pool without its own
 * source, among the rows whose source the others' data can judge (as
 * guard_strike). Returns its index when that |z| is beyond sigma, else -1;
 * *z receives the |z| (Nullable).
 */
int guard_suspect(guard *g, int m, const float *obs, const float *next_obs,
                  const float *reward, const uint16_t *tag, double *z);

#endif
