/*
 * status.c - the learner's status reply: one JSON object (docs/status.md).
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

const char *learner_guard_name(learner_guard g)
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

char *learner_status_json(const learner *l)
{
    strbuf b = {xmalloc(4096), 0, 4096};
    double now = now_s();
    int upd = l->updates > 0;

    strbuf_printf(&b, "{\"run_id\": ");
    str(&b, l->run_id);
    strbuf_printf(&b, ", \"env\": ");
    str(&b, l->cfg.env);
    strbuf_printf(&b, ", \"mode\": ");
    str(&b, mode_name(l->cfg.mode));
    strbuf_printf(&b, ", ");
    num(&b, "uptime_s", now - l->t_start);
    strbuf_printf(&b, "\"env_steps\": %llu, \"updates\": %ld, ",
        (unsigned long long)l->env_steps, l->updates);
    num(&b, "steps_per_s", l->steps_per_s);
    num(&b, "updates_per_s", l->updates_per_s);
    num(&b, "replay_ratio_target", l->opt.replay_ratio);
    num(&b, "replay_ratio", learner_ratio(l));
    num(&b, "replay_ratio_recent", l->ratio_recent);
    strbuf_printf(&b, "\"replay_size\": %zu, \"replay_capacity\": %ld, ",
        replay_size(l->rb), l->cfg.buffer);
    strbuf_printf(&b, "\"learning_starts\": %ld, \"param_version\": %llu, ",
        l->cfg.learning_starts, (unsigned long long)l->param_version);

    strbuf_printf(&b, "\"actors\": [");
    int first = 1;
    for (int i = 0; i < LEARNER_MAX_ACTORS; i++) {
        const learner_actor *a = &l->actors[i];
        if (!a->used)
            continue;
        strbuf_printf(&b, "%s{\"id\": ", first ? "" : ", ");
        first = 0;
        str(&b, a->id);
        strbuf_printf(&b, ", \"host\": ");
        str(&b, a->host);
        strbuf_printf(&b, ", \"pid\": %u, \"role\": \"%s\", \"n_envs\": %d, "
                "\"incarnation\": \"%016llx\", \"steps\": %llu, ",
            a->pid, a->role == 1 ? "eval" : "actor", a->n_envs,
            (unsigned long long)a->incarnation,
            (unsigned long long)a->steps);
        num(&b, "steps_per_s", a->steps_per_s);
        strbuf_printf(&b, "\"param_version\": %llu, \"param_lag\": %llu, "
                "\"credit\": %lld, ",
            (unsigned long long)a->param_version,
            (unsigned long long)(l->param_version > a->param_version
                                     ? l->param_version - a->param_version
                                     : 0),
            (long long)a->balance);
        double none = NAN;
        strbuf_printf(&b, "\"snapshots_timed\": %llu, ",
                      (unsigned long long)a->lat_n);
        num(&b, "snapshot_latency_ms", a->lat_n ? a->lat_last_ms : none);
        num(&b, "snapshot_latency_mean_ms",
            a->lat_n ? a->lat_sum_ms / (double)a->lat_n : none);
        num(&b, "snapshot_latency_max_ms", a->lat_n ? a->lat_max_ms : none);
        strbuf_printf(&b, "\"refused_msgs\": %llu, \"refused_rows\": %llu, ",
                      (unsigned long long)a->refused_msgs,
                      (unsigned long long)a->refused_rows);
        strbuf_printf(&b, "\"last_seen_s\": %.3f}", now - a->last_seen);
    }
    strbuf_printf(&b, "], ");

    strbuf_printf(&b, "\"episodes\": %ld, \"recent_returns\": [", l->n_episodes);
    long k = HPO_MIN(l->n_episodes, (long)LEARNER_RECENT);
    for (long i = 0; i < k; i++) {
        /* oldest first */
        long j = (l->n_episodes - k + i) % LEARNER_RECENT;
        strbuf_printf(&b, "%s%.6g", i ? ", " : "", l->recent[j]);
    }
    strbuf_printf(&b, "], ");
    num(&b, "recent_return_mean", learner_recent_mean(l));

    strbuf_printf(&b, "\"eval\": ");
    if (l->eval_n > 0) {
        strbuf_printf(&b, "{");
        num(&b, "mean_return", l->eval_mean);
        strbuf_printf(&b, "\"episodes\": %d, \"param_version\": %llu}, ", l->eval_n,
            (unsigned long long)l->eval_version);
    } else {
        strbuf_printf(&b, "null, ");
    }

    strbuf_printf(&b, "\"losses\": {");
    num(&b, "q", upd ? l->last.q_loss : NAN);
    num(&b, "pi", upd ? l->last.pi_loss : NAN);
    num(&b, "logp", upd ? l->last.logp : NAN);
    b.len -= 2;
    strbuf_printf(&b, "}, ");
    num(&b, "alpha", sac_alpha(l->agent));
    num(&b, "hd_dist", upd ? l->last.hd_dist : NAN);
    num(&b, "gate", upd ? l->last.gate : NAN);
    num(&b, "q_mean", upd ? l->last.q_mean : NAN);

    strbuf_printf(&b, "\"rejected\": {");
    for (int r = 1; r < WIRE_REJECT_COUNT; r++)
        strbuf_printf(&b, "%s\"%s\": %llu", r > 1 ? ", " : "",
            wire_reject_name((wire_reject)r),
            (unsigned long long)l->rejected[r]);
    strbuf_printf(&b, "}, \"rejected_total\": %llu, ",
        (unsigned long long)(l->rejected[WIRE_TOO_LARGE] +
                             l->rejected[WIRE_MALFORMED] +
                             l->rejected[WIRE_FOREIGN] +
                             l->rejected[WIRE_BAD_VERSION] +
                             l->rejected[WIRE_UNKNOWN_TYPE] +
                             l->rejected[WIRE_BAD_DIMS] +
                             l->rejected[WIRE_BAD_VALUE]));
    strbuf_printf(&b, "\"guards\": {");
    for (int g = 0; g < GUARD_COUNT; g++)
        strbuf_printf(&b, "%s\"%s\": %llu", g ? ", " : "",
                      learner_guard_name((learner_guard)g),
                      (unsigned long long)l->guards[g]);
    strbuf_printf(&b, "}, \"rollbacks_in_a_row\": %d, ", l->rollbacks_run);
    strbuf_printf(&b, "\"last_checkpoint\": ");
    if (l->last_ckpt[0]) {
        strbuf_printf(&b, "{\"path\": ");
        str(&b, l->last_ckpt);
        strbuf_printf(&b, ", \"updates\": %ld, \"age_s\": %.3f}, ", l->last_ckpt_updates,
            now - l->last_ckpt_t);
    } else {
        strbuf_printf(&b, "null, ");
    }
    strbuf_printf(&b, "\"resumed_from\": ");
    if (l->resumed_from[0])
        str(&b, l->resumed_from);
    else
        strbuf_printf(&b, "null");
    strbuf_printf(&b, ", ");
    strbuf_printf(&b, "\"refused\": %llu, \"unknown_sender\": %llu, "
            "\"status_requests\": %llu, \"curve\": %s, \"refused_keys\": %llu}",
        (unsigned long long)l->refused, (unsigned long long)l->unknown_sender,
        (unsigned long long)l->status_requests, l->zap ? "true" : "false",
        (unsigned long long)l->refused_keys);
    return b.p;
}
