/*
 * trust.c - what the learner does with the data guards' verdicts (guard.h):
 * a batch's rows judged against the data's learned scale, strikes and
 * quarantine (logged by name, the actor's rows evicted from the replay
 * buffer), a rolled-back update's suspect rows removed, and the moment of
 * the first guard trip (the last checkpoint before it is kept: runfiles.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "guard.h"
#include "learner.h"
#include "log.h"
#include "util.h"

/* A trip (TRIP_WARN: a warning; TRIP_HARD: a refusal, quarantine or
 * rollback): the newest checkpoint so far becomes the last known good one
 * (kept beside --keep, runfiles.c) unless one is marked. A hard trip
 * freezes it for the run; a warning holds it while warnings go on
 * (learner_trust_checkpoint). */
void learner_trip(learner *l, int level, const char *what)
{
    if (level == TRIP_WARN)
        l->warned = 1;
    if (l->tripped >= level)
        return;
    int first = !l->tripped;
    l->tripped = level;
    if (l->last_ckpt[0] && !l->last_good[0])
        learner_keep_good(l, l->last_ckpt);
    if (first || level == TRIP_HARD)
        log_warn("%s: %s; last known good checkpoint: %s",
                 level == TRIP_HARD ? "guard trip" : "guard warning", what,
                 l->last_good[0] ? l->last_good : "none yet");
}

void learner_trust_checkpoint(learner *l)
{
    if (l->tripped == TRIP_WARN && !l->warned) {
        log_info(
            "no row past a fifth of --guard-sigma for a checkpoint interval: the warning is over, %s no longer the last known good checkpoint",
            l->last_good[0] ? l->last_good : "none");
        learner_keep_good(l, "");
        l->tripped = 0;
    }
    l->warned = 0;
}

/* The agent back to the last known good checkpoint (its whole learned
 * state; the counters, the replay buffer and the update stream go on):
 * after a quarantine that evicted rows the networks had trained on. */
static void return_to_good(learner *l, const char *who)
{
    if (!l->last_good[0]) {
        log_warn(
            "no last known good checkpoint to return to: the agent keeps the weights it trained on actor %s's rows",
            who);
        return;
    }
    ckpt_info info;
    ckpt_counters c;
    rng spare;
    rng *rngs[1] = {&spare};
    char err[1024];
    if (ckpt_open(l->last_good, &info, err, sizeof err) ||
        ckpt_restore(&info, l->agent, &c, rngs, 1, NULL, NULL, err,
                     sizeof err)) {
        log_warn(
            "cannot return to the last known good checkpoint: %s; the agent keeps its weights",
            err);
        return;
    }
    learner_publish(l);
    log_warn(
        "returned the agent to the last known good checkpoint %s (update %lld), from before actor %s's rows tripped the guards; the cleaned replay buffer trains it on",
        l->last_good, (long long)c.updates, who);
}

/* Quarantine the source of tag (already counted by the guard or now):
 * logged by name, its rows evicted from the replay buffer. */
static void quarantine(learner *l, int tag, const char *why)
{
    guard_source *s = guard_source_of(l->guard, tag);
    if (!s)
        return;
    guard_quarantine(l->guard, tag);
    size_t gone = replay_remove_tag(l->rb, (uint16_t)tag);
    l->rows_removed += gone;
    char what[WIRE_TEXT_MAX];
    snprintf(what, sizeof what, "actor %s quarantined", s->id);
    learner_trip(l, TRIP_HARD, what);
    log_warn(
        "quarantined actor %s: %s; its %zu rows evicted from the replay buffer (%zu left) and its rows refused from now on (status: quarantined)",
        s->id, why, gone, replay_size(l->rb));
    if (gone > 0)
        return_to_good(l, s->id);
}

int learner_quarantined(const learner *l, const learner_actor *a)
{
    const guard *g = l->guard;
    if (!g || !g->n_quarantined)
        return 0;
    for (int i = 0; i < g->n_sources; i++)
        if (g->src[i].quarantined && !strcmp(g->src[i].id, a->id))
            return 1;
    return 0;
}

int learner_trust_rows(learner *l, learner_actor *a, const wire_batch *b,
                       uint8_t *ok, double *max_z)
{
    int tag = guard_tag(l->guard, a->id);
    guard_source *s = guard_source_of(l->guard, tag);
    *max_z = 0.0;
    if (s && s->quarantined) {
        uint64_t n = 0; /* the rows not refused already (bounds) */
        for (int i = 0; i < b->n; i++)
            n += ok[i];
        memset(ok, 0, (size_t)b->n);
        l->guards[GUARD_QUARANTINED] += n;
        a->refused_rows += n;
        return 0;
    }
    replay_set_tag(l->rb, (uint16_t)tag);
    guard_begin(l->guard, tag);
    size_t od = (size_t)b->obs_dim;
    int far = 0;
    double warn = 0.0;
    for (int i = 0; i < b->n; i++) {
        if (!ok[i])
            continue;
        double z = guard_z(l->guard, b->obs + (size_t)i * od,
                           b->next_obs + (size_t)i * od, b->reward[i]);
        l->row_z[i] = z;
        if (guard_refuses(l->guard, z)) {
            ok[i] = 0;
            far++;
            *max_z = HPO_MAX(*max_z, z);
        } else {
            warn = HPO_MAX(warn, z);
        }
    }
    if (warn > GUARD_WARN * l->opt.guard_sigma) {
        /* not refused, but far enough out to mark the weights before it
         * as the last known good ones (a drift starts like this) */
        char what[160];
        snprintf(
            what, sizeof what,
            "a row of actor %s at %.3g standard deviations (over %g, a fifth of --guard-sigma)",
            a->id, warn, GUARD_WARN * l->opt.guard_sigma);
        learner_trip(l, TRIP_WARN, what);
    }
    if (far) {
        l->guards[GUARD_ROW_SCALE] += (uint64_t)far;
        a->refused_rows += (uint64_t)far;
        /* where the farthest refused row lies, for the log */
        int ch = 0;
        double x = 0.0;
        for (int i = 0; i < b->n; i++)
            if (!ok[i] && l->row_z[i] == *max_z) {
                guard_where(l->guard, b->obs + (size_t)i * od,
                            b->next_obs + (size_t)i * od, b->reward[i], &ch,
                            &x);
                break;
            }
        char where[200];
        const guard *gd = l->guard;
        if (ch == 0)
            snprintf(where, sizeof where,
                     "reward %.4g; the others' rewards %.4g..%.4g, unit %.3g",
                     x, gd->ref.lo[0], gd->ref.hi[0], gd->ref_sd[0]);
        else
            snprintf(where, sizeof where,
                     "obs[%d] %.4g; the others' %.4g..%.4g, unit %.3g", ch - 1,
                     x, gd->ref.lo[ch], gd->ref.hi[ch], gd->ref_sd[ch]);
        char what[160];
        snprintf(what, sizeof what,
                 "%d rows of actor %s beyond --guard-sigma %g (up to %.3g)",
                 far, a->id, l->opt.guard_sigma, *max_z);
        learner_trip(l, TRIP_HARD, what);
        log_warn_once(
            "guard scale",
            "actor %s (%s pid %u): %d of %d rows lie more than --guard-sigma %g standard deviations outside the range of the other actors' data (largest %.3g: %s): refused; later ones are counted (status: guards.row_scale, per actor: refused_rows)",
            a->id, a->host, a->pid, far, b->n, l->opt.guard_sigma, *max_z,
            where);
    }
    return far;
}

void learner_trust_after(learner *l, learner_actor *a, const wire_batch *b,
                         const uint8_t *ok, int far, double max_z)
{
    int tag = guard_tag(l->guard, a->id);
    guard_source *s = guard_source_of(l->guard, tag);
    if (s && s->quarantined)
        return;
    size_t od = (size_t)b->obs_dim;
    for (int i = 0; i < b->n; i++)
        if (ok[i])
            guard_add(l->guard, tag, b->obs + (size_t)i * od, b->reward[i],
                      l->row_z[i]);
    if (guard_strike(l->guard, tag, b->n, far, max_z)) {
        char why[160];
        snprintf(why, sizeof why,
                 "%llu rows refused beyond --guard-sigma %g (largest %.3g)",
                 (unsigned long long)s->refused, l->opt.guard_sigma, s->max_z);
        quarantine(l, tag, why);
    }
}

int learner_trust_rollback(learner *l)
{
    const replay_batch *bt = &l->batch;
    double z = 0.0;
    int i = guard_suspect(l->guard, bt->m, bt->obs, bt->next_obs, bt->reward,
                          bt->tag, &z);
    int tag = i >= 0 ? bt->tag[i] : 0;
    guard_source *s = guard_source_of(l->guard, tag);
    char why[200];
    if (s && !s->quarantined) {
        snprintf(
            why, sizeof why,
            "a rolled-back update's batch held its row of reward %g, %.3g standard deviations outside the range of the other actors' data",
            (double)bt->reward[i], z);
        quarantine(l, tag, why);
        return 1;
    }
    /* no source to blame (rows from before a resume or past the table, or
     * no other actor to judge by): the batch's rows beyond --guard-sigma go */
    size_t rows[4096];
    size_t n = 0;
    size_t od = (size_t)bt->obs_dim;
    for (int j = 0; j < bt->m && n < sizeof rows / sizeof rows[0]; j++) {
        guard_begin(l->guard, bt->tag[j]);
        double zj = guard_z(l->guard, bt->obs + (size_t)j * od,
                            bt->next_obs + (size_t)j * od, bt->reward[j]);
        if (guard_refuses(l->guard, zj))
            rows[n++] = bt->row[j];
    }
    if (!n)
        return 0;
    size_t gone = replay_remove_rows(l->rb, rows, n);
    l->rows_removed += gone;
    log_warn(
        "rolled-back update: %zu rows of its batch beyond --guard-sigma %g (largest %.3g) removed from the replay buffer",
        gone, l->opt.guard_sigma, z);
    return gone > 0;
}
