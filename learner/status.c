/*
 * status.c - the learner's figures (learner_figures_fill: the one place
 * that reads the learner for status, metrics and progress.csv's statistics)
 * and the status reply: one JSON object of them (docs/status.md, whose JSON
 * Schema tests/test_status.py holds a real learner's reply to), built with
 * jansson, the one JSON library of hpo (hpo-status reads it with it too).
 *
 * Numbers that do not exist yet (a rate before its first window, a loss
 * before the first update) are null, never NaN, so any JSON parser reads it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "guard.h"
#include "learner.h"
#include "util.h"

// ---- statistics (status, progress.csv, metrics) ----

double learner_ratio(const learner *l)
{
    uint64_t ls = (uint64_t)l->cfg.learning_starts;
    if (l->env_steps <= ls)
        return NAN;
    return (double)l->updates / (double)(l->env_steps - ls);
}

run_stats learner_recent(const learner *l)
{
    run_stats rs = {0};
    long k = HPO_MIN(l->n_episodes, (long)l->n_recent);
    for (long i = 0; i < k; i++)
        run_stats_add(&rs, l->recent[(l->n_episodes - k + i) % LEARNER_RECENT]);
    return rs;
}

double learner_recent_mean(const learner *l)
{
    run_stats rs = learner_recent(l);
    return run_stats_mean(&rs);
}

const char *figures_guard_name(int g)
{
    static const char *const names[GUARD_COUNT] = {
        [GUARD_ROW_OBS] = "row_obs",
        [GUARD_ROW_REWARD] = "row_reward",
        [GUARD_ROW_ACTION] = "row_action",
        [GUARD_OVER_CREDIT] = "over_credit",
        [GUARD_NOT_STREAMING] = "not_streaming",
        [GUARD_BAD_EVAL] = "bad_eval",
        [GUARD_BAD_HEARTBEAT] = "bad_heartbeat",
        [GUARD_BAD_HELLO] = "bad_hello",
        [GUARD_ID_IN_USE] = "id_in_use",
        [GUARD_EVICTED] = "evicted",
        [GUARD_ROLLBACK] = "rollback",
        [GUARD_SUBSCRIPTION] = "subscription",
        [GUARD_PEER_ROWS] = "peer_rows",
        [GUARD_PARAMS_CUT] = "params_cut",
        [GUARD_ROW_SCALE] = "row_scale",
        [GUARD_QUARANTINED] = "quarantined",
    };
    return (unsigned)g < GUARD_COUNT ? names[g] : "unknown";
}

const char *learner_guard_name(learner_guard g)
{
    return figures_guard_name((int)g);
}

/* The ETA of the step budget at the measured rate: 0 at the budget, NAN
 * before a rate or without a budget. */
static double eta_of(const learner *l)
{
    uint64_t budget = (uint64_t)HPO_MAX(l->cfg.steps, 0L);
    if (budget && l->env_steps >= budget)
        return 0.0;
    if (!budget || !(l->steps_per_s > 0.0))
        return NAN;
    return (double)(budget - l->env_steps) / l->steps_per_s;
}

void learner_progress_line(const learner *l, char *buf, size_t n)
{
    char eta[32], ret[32], ev[48];
    fmt_duration(eta, sizeof eta, eta_of(l));
    double r = learner_recent_mean(l);
    if (isfinite(r))
        snprintf(ret, sizeof ret, "%.1f", r);
    else
        snprintf(ret, sizeof ret, "-");
    if (l->eval_written)
        snprintf(ev, sizeof ev, "%.1f at %llu", l->eval_mean,
                 (unsigned long long)l->eval_written);
    else
        snprintf(ev, sizeof ev, "-");
    int n_eval = 0;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++)
        n_eval += l->actors[i].used && l->actors[i].role == WIRE_ROLE_EVAL;
    double budget = (double)HPO_MAX(l->cfg.steps, 0L);
    snprintf(
        buf, n,
        "progress: %llu of %.0f env steps (%.1f%%), ETA %s | %ld updates | %.0f steps/s | %d actors + %d eval | return %s | eval %s",
        (unsigned long long)l->env_steps, budget,
        budget > 0 ? 100.0 * HPO_MIN((double)l->env_steps / budget, 1.0) : 0.0,
        eta, l->updates, l->steps_per_s, l->n_actors - n_eval, n_eval, ret, ev);
}

// ---- the figures ----

_Static_assert(FIGURES_MAX_ACTORS == LEARNER_MAX_ACTORS, "actor rows");
_Static_assert(FIGURES_RECENT == LEARNER_RECENT, "recent returns");
_Static_assert(FIGURES_GUARDS == GUARD_COUNT, "guards");
_Static_assert(FIGURES_PATH == LEARNER_PATH, "paths");
_Static_assert(FIGURES_PEER == LEARNER_PEER_TEXT, "peer names");

void learner_figures_fill(learner_figures *f, const learner *l)
{
    double now = now_s();
    int upd = l->updates > 0;
    snprintf(f->run_id, sizeof f->run_id, "%s", l->run_id);
    snprintf(f->env, sizeof f->env, "%s", l->cfg.env);
    snprintf(f->mode, sizeof f->mode, "%s", mode_name(l->cfg.mode));
    f->uptime_s = now - l->t_start;
    f->env_steps = l->env_steps;
    f->updates = (uint64_t)l->updates;
    f->episodes = (uint64_t)l->n_episodes;
    f->param_version = l->param_version;
    f->steps_per_s = l->steps_per_s;
    f->updates_per_s = l->updates_per_s;
    f->ratio_target = l->opt.replay_ratio;
    f->ratio = learner_ratio(l);
    f->ratio_recent = l->ratio_recent;
    f->replay_size = replay_size(l->rb);
    f->replay_capacity = (uint64_t)l->cfg.buffer;
    f->learning_starts = (uint64_t)l->cfg.learning_starts;
    f->steps_budget = (uint64_t)l->cfg.steps;
    f->eta_s = eta_of(l);
    long k = HPO_MIN(l->n_episodes, (long)l->n_recent);
    for (long i = 0; i < k; i++) /* oldest first */
        f->recent[i] = l->recent[(l->n_episodes - k + i) % LEARNER_RECENT];
    f->n_recent = (int)k;
    f->recent_mean = learner_recent_mean(l);
    f->eval_n = l->eval_n;
    f->eval_mean = l->eval_mean;
    f->eval_version = l->eval_version;
    f->q_loss = upd ? l->last.q_loss : NAN;
    f->pi_loss = upd ? l->last.pi_loss : NAN;
    f->logp = upd ? l->last.logp : NAN;
    f->alpha = sac_alpha(l->agent);
    f->hd_dist = upd ? l->last.hd_dist : NAN;
    f->gate = upd ? l->last.gate : NAN;
    f->q_mean = upd ? l->last.q_mean : NAN;
    memcpy(f->rejected, l->rejected, sizeof f->rejected);
    memcpy(f->guards, l->guards, sizeof f->guards);
    f->rollbacks_in_a_row = l->rollbacks_run;
    snprintf(f->last_ckpt, sizeof f->last_ckpt, "%s", l->last_ckpt);
    f->last_ckpt_updates = l->last_ckpt_updates;
    f->last_ckpt_age_s = now - l->last_ckpt_t;
    snprintf(f->resumed_from, sizeof f->resumed_from, "%s", l->resumed_from);
    snprintf(f->last_good, sizeof f->last_good, "%s", l->last_good);
    static const guard none; /* a learner without one (tests) */
    const guard *g = l->guard ? l->guard : &none;
    f->guard_sigma = l->opt.guard_sigma;
    f->guard_warmup = (uint64_t)l->opt.guard_warmup;
    f->guard_reference_rows = (uint64_t)g->pool.n;
    f->guard_max_sigma_taken =
        g->ref_on || g->max_z_taken > 0.0 ? g->max_z_taken : NAN;
    f->rows_removed = l->rows_removed;
    f->n_quarantined = 0;
    for (int i = 0; i < g->n_sources; i++)
        if (g->src[i].quarantined && f->n_quarantined < FIGURES_QUARANTINED)
            snprintf(f->quarantined[f->n_quarantined++],
                     sizeof f->quarantined[0], "%s", g->src[i].id);
    f->refused = l->refused;
    f->refused_keys = l->refused_keys;
    f->unknown_sender = l->unknown_sender;
    f->status_requests = l->status_requests;
    f->curve = l->zap != NULL;
    f->n_actors = 0;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        const learner_actor *a = &l->actors[i];
        if (!a->used)
            continue;
        actor_figures *r = &f->actors[f->n_actors++];
        snprintf(r->id, sizeof r->id, "%s", a->id);
        snprintf(r->host, sizeof r->host, "%s", a->host);
        r->pid = a->pid;
        r->eval = a->role == WIRE_ROLE_EVAL;
        r->n_envs = a->n_envs;
        snprintf(r->peer, sizeof r->peer, "%s", a->peer);
        r->steps = a->steps;
        r->steps_per_s = a->steps_per_s;
        r->param_version = a->param_version;
        r->param_lag = l->param_version > a->param_version
                           ? l->param_version - a->param_version
                           : 0;
        r->credit = a->balance;
        r->lat_n = a->lat_n;
        r->lat_last_ms = a->lat_n ? a->lat_last_ms : NAN;
        r->lat_mean_ms = a->lat_n ? a->lat_sum_ms / (double)a->lat_n : NAN;
        r->lat_max_ms = a->lat_n ? a->lat_max_ms : NAN;
        r->refused_msgs = a->refused_msgs;
        r->refused_rows = a->refused_rows;
        r->last_seen_s = now - a->last_seen;
        r->quarantined = 0;
        for (int j = 0; j < g->n_sources; j++)
            if (!strcmp(g->src[j].id, a->id))
                r->quarantined = g->src[j].quarantined;
    }
}

// ---- the JSON (jansson) ----

/* Every node goes through these: jansson returns NULL only when out of
 * memory (or for a string that is not UTF-8, which str() repairs), and a
 * status reply is not worth running on without memory. */
static HPO_NORETURN void oom(void)
{
    fprintf(stderr, "hpo-learner: out of memory building the status reply\n");
    abort();
}

static json_t *made(json_t *v)
{
    if (!v)
        oom();
    return v;
}

static void put(json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, made(v)))
        oom();
}

static void push(json_t *a, json_t *v)
{
    if (json_array_append_new(a, made(v)))
        oom();
}

/* A number, or null where the figure does not exist yet (NAN, never
 * written as NaN, which no JSON parser reads). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A counter: JSON integers are signed 64-bit here; past that, the largest. */
static json_t *count(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* A string; bytes outside printable ASCII (wire's checks let none through)
 * become '?', so the reply is always valid UTF-8. */
static json_t *str(const char *s)
{
    char buf[FIGURES_PATH];
    size_t n = 0;
    for (; s[n] && n + 1 < sizeof buf; n++)
        buf[n] = (unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f
                     ? s[n]
                     : '?';
    return json_stringn(buf, n);
}

static json_t *actor_json(const actor_figures *a)
{
    json_t *o = made(json_object());
    put(o, "id", str(a->id));
    put(o, "host", str(a->host));
    put(o, "pid", json_integer(a->pid));
    put(o, "role", json_string(a->eval ? "eval" : "actor"));
    put(o, "n_envs", json_integer(a->n_envs));
    put(o, "peer", str(a->peer));
    put(o, "steps", count(a->steps));
    put(o, "steps_per_s", num(a->steps_per_s));
    put(o, "param_version", count(a->param_version));
    put(o, "param_lag", count(a->param_lag));
    put(o, "credit", json_integer(a->credit));
    put(o, "snapshots_timed", count(a->lat_n));
    put(o, "snapshot_latency_ms", num(a->lat_last_ms));
    put(o, "snapshot_latency_mean_ms", num(a->lat_mean_ms));
    put(o, "snapshot_latency_max_ms", num(a->lat_max_ms));
    put(o, "refused_msgs", count(a->refused_msgs));
    put(o, "refused_rows", count(a->refused_rows));
    put(o, "last_seen_s", num(a->last_seen_s));
    put(o, "quarantined", json_boolean(a->quarantined));
    return o;
}

/* The reply as a string that jansson allocated (free() it): reals to 9
 * significant digits, ", " and ": " separators, keys in insertion order. */
static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!s)
        oom();
    return s;
}

char *figures_json(const learner_figures *f)
{
    json_t *o = made(json_object());
    put(o, "run_id", str(f->run_id));
    put(o, "env", str(f->env));
    put(o, "mode", str(f->mode));
    put(o, "uptime_s", num(f->uptime_s));
    put(o, "env_steps", count(f->env_steps));
    put(o, "updates", count(f->updates));
    put(o, "steps_per_s", num(f->steps_per_s));
    put(o, "updates_per_s", num(f->updates_per_s));
    put(o, "replay_ratio_target", num(f->ratio_target));
    put(o, "replay_ratio", num(f->ratio));
    put(o, "replay_ratio_recent", num(f->ratio_recent));
    put(o, "replay_size", count(f->replay_size));
    put(o, "replay_capacity", count(f->replay_capacity));
    put(o, "learning_starts", count(f->learning_starts));
    put(o, "steps_budget", count(f->steps_budget));
    put(o, "eta_s", num(f->eta_s));
    put(o, "param_version", count(f->param_version));

    json_t *actors = made(json_array());
    for (int i = 0; i < f->n_actors; i++)
        push(actors, actor_json(&f->actors[i]));
    put(o, "actors", actors);

    put(o, "episodes", count(f->episodes));
    json_t *recent = made(json_array());
    for (int i = 0; i < f->n_recent; i++)
        push(recent, num(f->recent[i]));
    put(o, "recent_returns", recent);
    put(o, "recent_return_mean", num(f->recent_mean));

    json_t *ev = json_null();
    if (f->eval_n > 0) {
        ev = made(json_object());
        put(ev, "mean_return", num(f->eval_mean));
        put(ev, "episodes", json_integer(f->eval_n));
        put(ev, "param_version", count(f->eval_version));
    }
    put(o, "eval", ev);

    json_t *losses = made(json_object());
    put(losses, "q", num(f->q_loss));
    put(losses, "pi", num(f->pi_loss));
    put(losses, "logp", num(f->logp));
    put(o, "losses", losses);
    put(o, "alpha", num(f->alpha));
    put(o, "hd_dist", num(f->hd_dist));
    put(o, "gate", num(f->gate));
    put(o, "q_mean", num(f->q_mean));

    json_t *rejected = made(json_object());
    uint64_t total = 0;
    for (int r = 1; r < WIRE_REJECT_COUNT; r++) {
        put(rejected, wire_reject_name((wire_reject)r), count(f->rejected[r]));
        total += f->rejected[r];
    }
    put(o, "rejected", rejected);
    put(o, "rejected_total", count(total));
    json_t *guards = made(json_object());
    for (int g = 0; g < FIGURES_GUARDS; g++)
        put(guards, figures_guard_name(g), count(f->guards[g]));
    put(o, "guards", guards);
    put(o, "rollbacks_in_a_row", json_integer(f->rollbacks_in_a_row));
    json_t *dg = made(json_object());
    put(dg, "sigma", num(f->guard_sigma));
    put(dg, "warmup", count(f->guard_warmup));
    put(dg, "reference_rows", count(f->guard_reference_rows));
    put(dg, "max_sigma_taken", num(f->guard_max_sigma_taken));
    put(dg, "rows_removed", count(f->rows_removed));
    json_t *q = made(json_array());
    for (int i = 0; i < f->n_quarantined; i++)
        push(q, str(f->quarantined[i]));
    put(dg, "quarantined", q);
    put(o, "data_guard", dg);

    json_t *ck = json_null();
    if (f->last_ckpt[0]) {
        ck = made(json_object());
        put(ck, "path", str(f->last_ckpt));
        put(ck, "updates", json_integer(f->last_ckpt_updates));
        put(ck, "age_s", num(f->last_ckpt_age_s));
    }
    put(o, "last_checkpoint", ck);
    put(o, "resumed_from",
        f->resumed_from[0] ? str(f->resumed_from) : json_null());
    put(o, "last_known_good",
        f->last_good[0] ? str(f->last_good) : json_null());
    put(o, "refused", count(f->refused));
    put(o, "unknown_sender", count(f->unknown_sender));
    put(o, "status_requests", count(f->status_requests));
    put(o, "curve", json_boolean(f->curve));
    put(o, "refused_keys", count(f->refused_keys));
    return dump(o);
}

char *figures_error_json(const char *reason)
{
    json_t *o = made(json_object());
    put(o, "error", str(reason));
    put(o, "rejected", json_true());
    return dump(o);
}
