/*
 * status.c - the learner's figures (learner_figures_fill: the one place
 * that reads the learner for status, metrics and progress.csv's statistics)
 * and the status reply: one JSON object of them (docs/status.md).
 *
 * Numbers that do not exist yet (a rate before its first window, a loss
 * before the first update) are null, never NaN, so any JSON parser reads it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    long k = HPO_MIN(l->n_episodes, (long)LEARNER_RECENT);
    for (long i = 0; i < k; i++)
        run_stats_add(&rs, l->recent[i]);
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
    };
    return (unsigned)g < GUARD_COUNT ? names[g] : "unknown";
}

const char *learner_guard_name(learner_guard g)
{
    return figures_guard_name((int)g);
}

// ---- the figures ----

_Static_assert(FIGURES_MAX_ACTORS == LEARNER_MAX_ACTORS, "actor rows");
_Static_assert(FIGURES_RECENT == LEARNER_RECENT, "recent returns");
_Static_assert(FIGURES_GUARDS == GUARD_COUNT, "guards");
_Static_assert(FIGURES_PATH == LEARNER_PATH, "paths");

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
    long k = HPO_MIN(l->n_episodes, (long)LEARNER_RECENT);
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
        r->incarnation = a->incarnation;
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
    }
}

// ---- the JSON ----


/* "name": number or null */
static void num(strbuf *b, const char *name, double v)
{
    if (isfinite(v))
        strbuf_printf(b, "\"%s\": %.9g, ", name, v);
    else
        strbuf_printf(b, "\"%s\": null, ", name);
}

/* A JSON string (printable ASCII from wire's checks; escape anyway). */
static void str(strbuf *b, const char *s)
{
    strbuf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            strbuf_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            strbuf_printf(b, "\\u%04x", c);
        else
            strbuf_printf(b, "%c", c);
    }
    strbuf_printf(b, "\"");
}

char *figures_json(const learner_figures *f)
{
    strbuf b = {xmalloc(4096), 0, 4096};

    strbuf_printf(&b, "{\"run_id\": ");
    str(&b, f->run_id);
    strbuf_printf(&b, ", \"env\": ");
    str(&b, f->env);
    strbuf_printf(&b, ", \"mode\": ");
    str(&b, f->mode);
    strbuf_printf(&b, ", ");
    num(&b, "uptime_s", f->uptime_s);
    strbuf_printf(&b, "\"env_steps\": %llu, \"updates\": %llu, ",
        (unsigned long long)f->env_steps, (unsigned long long)f->updates);
    num(&b, "steps_per_s", f->steps_per_s);
    num(&b, "updates_per_s", f->updates_per_s);
    num(&b, "replay_ratio_target", f->ratio_target);
    num(&b, "replay_ratio", f->ratio);
    num(&b, "replay_ratio_recent", f->ratio_recent);
    strbuf_printf(&b, "\"replay_size\": %llu, \"replay_capacity\": %llu, ",
        (unsigned long long)f->replay_size,
        (unsigned long long)f->replay_capacity);
    strbuf_printf(&b, "\"learning_starts\": %llu, \"param_version\": %llu, ",
        (unsigned long long)f->learning_starts,
        (unsigned long long)f->param_version);

    strbuf_printf(&b, "\"actors\": [");
    for (int i = 0; i < f->n_actors; i++) {
        const actor_figures *a = &f->actors[i];
        strbuf_printf(&b, "%s{\"id\": ", i ? ", " : "");
        str(&b, a->id);
        strbuf_printf(&b, ", \"host\": ");
        str(&b, a->host);
        strbuf_printf(&b, ", \"pid\": %u, \"role\": \"%s\", \"n_envs\": %d, "
                "\"incarnation\": \"%016llx\", \"steps\": %llu, ",
            a->pid, a->eval ? "eval" : "actor", a->n_envs,
            (unsigned long long)a->incarnation,
            (unsigned long long)a->steps);
        num(&b, "steps_per_s", a->steps_per_s);
        strbuf_printf(&b, "\"param_version\": %llu, \"param_lag\": %llu, "
                "\"credit\": %lld, ",
            (unsigned long long)a->param_version,
            (unsigned long long)a->param_lag, (long long)a->credit);
        strbuf_printf(&b, "\"snapshots_timed\": %llu, ",
                      (unsigned long long)a->lat_n);
        num(&b, "snapshot_latency_ms", a->lat_last_ms);
        num(&b, "snapshot_latency_mean_ms", a->lat_mean_ms);
        num(&b, "snapshot_latency_max_ms", a->lat_max_ms);
        strbuf_printf(&b, "\"refused_msgs\": %llu, \"refused_rows\": %llu, ",
                      (unsigned long long)a->refused_msgs,
                      (unsigned long long)a->refused_rows);
        strbuf_printf(&b, "\"last_seen_s\": %.3f}", a->last_seen_s);
    }
    strbuf_printf(&b, "], ");

    strbuf_printf(&b, "\"episodes\": %llu, \"recent_returns\": [",
                  (unsigned long long)f->episodes);
    for (int i = 0; i < f->n_recent; i++)
        strbuf_printf(&b, "%s%.6g", i ? ", " : "", f->recent[i]);
    strbuf_printf(&b, "], ");
    num(&b, "recent_return_mean", f->recent_mean);

    strbuf_printf(&b, "\"eval\": ");
    if (f->eval_n > 0) {
        strbuf_printf(&b, "{");
        num(&b, "mean_return", f->eval_mean);
        strbuf_printf(&b, "\"episodes\": %d, \"param_version\": %llu}, ",
            f->eval_n, (unsigned long long)f->eval_version);
    } else {
        strbuf_printf(&b, "null, ");
    }

    strbuf_printf(&b, "\"losses\": {");
    num(&b, "q", f->q_loss);
    num(&b, "pi", f->pi_loss);
    num(&b, "logp", f->logp);
    b.len -= 2;
    strbuf_printf(&b, "}, ");
    num(&b, "alpha", f->alpha);
    num(&b, "hd_dist", f->hd_dist);
    num(&b, "gate", f->gate);
    num(&b, "q_mean", f->q_mean);

    strbuf_printf(&b, "\"rejected\": {");
    uint64_t total = 0;
    for (int r = 1; r < WIRE_REJECT_COUNT; r++) {
        strbuf_printf(&b, "%s\"%s\": %llu", r > 1 ? ", " : "",
            wire_reject_name((wire_reject)r),
            (unsigned long long)f->rejected[r]);
        total += f->rejected[r];
    }
    strbuf_printf(&b, "}, \"rejected_total\": %llu, ",
                  (unsigned long long)total);
    strbuf_printf(&b, "\"guards\": {");
    for (int g = 0; g < FIGURES_GUARDS; g++)
        strbuf_printf(&b, "%s\"%s\": %llu", g ? ", " : "",
                      figures_guard_name(g),
                      (unsigned long long)f->guards[g]);
    strbuf_printf(&b, "}, \"rollbacks_in_a_row\": %d, ", f->rollbacks_in_a_row);
    strbuf_printf(&b, "\"last_checkpoint\": ");
    if (f->last_ckpt[0]) {
        strbuf_printf(&b, "{\"path\": ");
        str(&b, f->last_ckpt);
        strbuf_printf(&b, ", \"updates\": %ld, \"age_s\": %.3f}, ",
                      f->last_ckpt_updates, f->last_ckpt_age_s);
    } else {
        strbuf_printf(&b, "null, ");
    }
    strbuf_printf(&b, "\"resumed_from\": ");
    if (f->resumed_from[0])
        str(&b, f->resumed_from);
    else
        strbuf_printf(&b, "null");
    strbuf_printf(&b, ", ");
    strbuf_printf(&b, "\"refused\": %llu, \"unknown_sender\": %llu, "
            "\"status_requests\": %llu, \"curve\": %s, \"refused_keys\": %llu}",
        (unsigned long long)f->refused, (unsigned long long)f->unknown_sender,
        (unsigned long long)f->status_requests, f->curve ? "true" : "false",
        (unsigned long long)f->refused_keys);
    return b.p;
}
