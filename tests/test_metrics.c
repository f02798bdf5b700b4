/* metrics: the exposition text of a learner's figures (null figures have no
 * sample, label values escaped, counters by reason and per actor), the whole
 * text of two sets of figures byte for byte against tests/data/metrics_*.prom,
 * and the endpoint's start-up errors. The HTTP path is covered by
 * test_dist.sh part metrics (curl and promtool). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "learner.h"
#include "metrics.h"
#include "util.h"

static learner L;

/* A learner with an agent and a replay buffer, nothing else. */
static void setup_learner(learner *l)
{
    memset(l, 0, sizeof *l);
    config_defaults(&l->cfg);
    config_preset(&l->cfg, "Pendulum");
    l->cfg.pi_hidden = l->cfg.q_hidden = 16;
    l->cfg.buffer = 1000;
    l->cfg.learning_starts = 200;
    l->opt.replay_ratio = 1.0;
    l->obs_dim = 3;
    l->act_dim = 1;
    snprintf(l->run_id, sizeof l->run_id, "Pendulum-test");
    l->agent = sac_new(&l->cfg, 3, 1, 1, 1);
    l->rb = replay_new(1000, 3, 1);
    l->eval_mean = NAN;
    l->ratio_recent = NAN;
    l->t_start = now_s();
}

static void release_learner(learner *l)
{
    sac_destroy(&l->agent);
    replay_destroy(&l->rb);
}

/* The figures of L into m, as the learner's loop does. */
static void update_from(metrics *m, const learner *l)
{
    static learner_figures f;
    learner_figures_fill(&f, l);
    metrics_update(m, &f);
}

/* setup_learner(&L) and a metrics endpoint on addr with port 0. */
static metrics *start_metrics(const char *addr)
{
    setup_learner(&L);
    char err[256] = "";
    metrics *m = metrics_new(addr, 0, err, sizeof err);
    if (!m)
        fail_msg("metrics_new(%s): %s", addr, err);
    return m;
}

/* 1 when some line of text starts with prefix followed by the character
 * after. */
static int has_line_start(const char *text, const char *prefix, char after)
{
    size_t n = strlen(prefix);
    for (const char *p = text; (p = strstr(p, prefix)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == after)
            return 1;
    return 0;
}

/* 1 when line is a whole line of text. */
static int has_line(const char *text, const char *line)
{
    return has_line_start(text, line, '\n');
}

/* 1 when some line starts with name followed by a space (a sample). */
static int has_sample(const char *text, const char *name)
{
    return has_line_start(text, name, ' ');
}

static void test_before_updates(void **state)
{
    (void)state;
    metrics *m = start_metrics("127.0.0.1");
    char *t = metrics_text(m);
    assert_string_equal(t, ""); /* no snapshot yet */
    free(t);

    update_from(m, &L);
    t = metrics_text(m);
    assert_true(has_line(t, "# TYPE hpo_env_steps_total counter"));
    assert_true(has_line(t, "hpo_env_steps_total 0"));
    assert_true(has_line(t, "hpo_updates_total 0"));
    assert_true(
        has_line(t, "hpo_rejected_messages_total{reason=\"too_large\"} 0"));
    /* null figures: HELP and TYPE, no sample */
    assert_true(has_line(t, "# TYPE hpo_q_loss gauge"));
    assert_false(has_sample(t, "hpo_q_loss"));
    assert_false(has_sample(t, "hpo_eval_return"));
    assert_false(has_sample(t, "hpo_replay_ratio"));
    assert_false(has_sample(t, "hpo_last_checkpoint_updates"));
    assert_true(has_sample(t, "hpo_alpha"));
    assert_true(has_line(t, "hpo_actors 0"));
    assert_true(has_line(t, "# TYPE hpo_actor_param_lag gauge"));
    free(t);
    metrics_destroy(&m);
    assert_null(m);
    metrics_destroy(&m); /* accepts NULL */
    release_learner(&L);
}

static void test_figures_and_labels(void **state)
{
    (void)state;
    metrics *m = start_metrics("*");
    L.env_steps = 1200;
    L.updates = 1000;
    L.param_version = 7;
    L.refused_keys = 2;
    L.rejected[WIRE_MALFORMED] = 3;
    L.last.q_loss = 1.5f;
    L.eval_mean = -150.25;
    L.eval_n = 10;
    learner_actor *a = &L.actors[4];
    a->used = 1;
    snprintf(a->id, sizeof a->id, "a\"b\\c");
    snprintf(a->host, sizeof a->host, "h\nx");
    a->param_version = 5;
    a->steps = 77;
    a->last_seen = now_s();
    L.n_actors = 1;

    update_from(m, &L);
    L.updates = 2000; /* after the copy: not seen */
    char *t = metrics_text(m);
    assert_true(has_line(t, "hpo_env_steps_total 1200"));
    assert_true(has_line(t, "hpo_updates_total 1000"));
    assert_true(has_line(t, "hpo_refused_keys_total 2"));
    assert_true(
        has_line(t, "hpo_rejected_messages_total{reason=\"malformed\"} 3"));
    assert_true(has_line(t, "hpo_q_loss 1.5"));
    assert_true(has_line(t, "hpo_eval_return -150.25"));
    assert_true(has_line(t, "hpo_replay_ratio 1")); /* 1000 / (1200 - 200) */
    assert_true(has_line(t, "hpo_actors 1"));
    assert_true(has_line(
        t,
        "hpo_actor_param_lag{actor=\"a\\\"b\\\\c\",host=\"h\\nx\",role=\"actor\"} 2"));
    assert_true(has_line(
        t,
        "hpo_actor_steps_total{actor=\"a\\\"b\\\\c\",host=\"h\\nx\",role=\"actor\"} 77"));
    /* no latency measured yet: the family is declared, the actor has no sample
     */
    assert_non_null(
        strstr(t, "# TYPE hpo_actor_snapshot_latency_seconds gauge"));
    assert_null(strstr(t, "hpo_actor_snapshot_latency_seconds{"));
    free(t);

    a->lat_n = 3;
    a->lat_last_ms = 2.5;
    update_from(m, &L);
    t = metrics_text(m);
    assert_true(has_line(
        t,
        "hpo_actor_snapshot_latency_seconds{actor=\"a\\\"b\\\\c\",host=\"h\\nx\",role=\"actor\"} 0.002500"));
    free(t);
    metrics_destroy(&m);
    release_learner(&L);
}

// ---- the whole text, pinned ----

/* f zeroed, with the run's labels. */
static void clear_figures(learner_figures *f, const char *run_id,
                          const char *env, const char *mode)
{
    memset(f, 0, sizeof *f);
    snprintf(f->run_id, sizeof f->run_id, "%s", run_id);
    snprintf(f->env, sizeof f->env, "%s", env);
    snprintf(f->mode, sizeof f->mode, "%s", mode);
}

/* Figures with every derived case of the text at its "none" side: no
 * evaluation (eval_mean set, eval_n 0), no checkpoint (last_ckpt_updates
 * set, last_ckpt ""), null and infinite gauges, actors beyond
 * METRICS_MAX_ACTORS, and actors with no timed snapshot (lat_last_ms set,
 * lat_n 0). Each number is distinct so a swapped field shows. */
static void fill_fresh(learner_figures *f)
{
    clear_figures(f, "r\"un\\1\nx", "Hopper", "hpo");
    f->uptime_s = 3725.125;
    f->env_steps = 123456;
    f->updates = 98765;
    f->episodes = 321;
    f->param_version = 4242;
    for (int r = 0; r < WIRE_REJECT_COUNT; r++)
        f->rejected[r] = 10 * (uint64_t)r + 1;
    for (int g = 0; g < FIGURES_GUARDS; g++)
        f->guards[g] = 100 + (uint64_t)g;
    f->refused = 5;
    f->refused_keys = 6;
    f->unknown_sender = 7;
    f->status_requests = 8;
    f->steps_per_s = 1234.5678901234;
    f->updates_per_s = 0.000123456789;
    f->ratio_target = 0;
    f->ratio = NAN;
    f->ratio_recent = INFINITY;
    f->replay_size = 123456;
    f->replay_capacity = 1000000;
    f->learning_starts = 5000;
    f->recent_mean = NAN;
    f->eval_n = 0;
    f->eval_mean = 99.5; /* no evaluation: not shown */
    f->alpha = 0.2;
    f->q_loss = f->pi_loss = f->logp = NAN;
    f->hd_dist = f->gate = f->q_mean = NAN;
    f->last_ckpt_updates = 777; /* no checkpoint: not shown */
    f->n_actors = METRICS_MAX_ACTORS + 2;
    for (int i = 0; i < f->n_actors; i++) {
        actor_figures *a = &f->actors[i];
        snprintf(a->id, sizeof a->id, "a%02d", i);
        snprintf(a->host, sizeof a->host, "h%d.lab", i);
        a->eval = i % 7 == 3;
        a->steps = 1000003 * (uint64_t)i + 17;
        a->steps_per_s = i * 12.5 + 0.1;
        a->param_lag = (uint64_t)(i % 4);
        a->last_seen_s = i * 0.37 + 0.0000004;
        a->lat_n = (uint64_t)(i % 3); /* 0: no timed snapshot */
        a->lat_last_ms = 1.5 * i + 0.25;
    }
    snprintf(f->actors[0].id, sizeof f->actors[0].id, "q\"uo\\te");
    snprintf(f->actors[0].host, sizeof f->actors[0].host, "l1\nl2");
}

/* Figures at the other side: an evaluation, a checkpoint, every gauge
 * finite (negative, tiny, huge, -0, above 2^53), counters at their maximum,
 * three actors of which one eval and one with no timed snapshot. */
static void fill_evaluated(learner_figures *f)
{
    clear_figures(f, "Ant-seed3", "Ant", "sac");
    f->uptime_s = 0.5;
    f->env_steps = UINT64_MAX;
    f->updates = 100000;
    f->episodes = 12;
    f->param_version = (UINT64_C(1) << 53) + 1;
    for (int r = 0; r < WIRE_REJECT_COUNT; r++)
        f->rejected[r] = UINT64_MAX - (uint64_t)r;
    f->guards[FIGURES_GUARDS - 1] = 9;
    f->refused_keys = UINT64_MAX;
    f->steps_per_s = 1e-300;
    f->updates_per_s = 2.5e+17;
    f->ratio_target = 4;
    f->ratio = 1.0 / 3;
    f->ratio_recent = -0.0;
    f->replay_size = 999999;
    f->replay_capacity = 1000000;
    f->recent_mean = -1e-10;
    f->eval_n = 5;
    f->eval_mean = -150.25;
    f->alpha = 0.012345678912345;
    f->q_loss = 1.5;
    f->pi_loss = -2.75;
    f->logp = -3.1415926535;
    f->hd_dist = 0.001;
    f->gate = 1;
    f->q_mean = -0.0;
    snprintf(f->last_ckpt, sizeof f->last_ckpt, "/runs/Ant/ckpt-100000.hpo");
    f->last_ckpt_updates = 100000;
    f->n_actors = 3;
    for (int i = 0; i < f->n_actors; i++) {
        actor_figures *a = &f->actors[i];
        snprintf(a->id, sizeof a->id, "ant-%d", i);
        snprintf(a->host, sizeof a->host, "node%d", 7 - i);
        a->eval = i == 1;
        a->steps = 5 * (uint64_t)i;
        a->steps_per_s = 100.0 / 7 * i;
        a->param_lag = (uint64_t)i;
        a->last_seen_s = 1.23456789 * i;
        a->lat_n = i == 2 ? 0 : 2;
        a->lat_last_ms = 12.3456789 + i;
    }
}

/* The contents of tests/data/<name> ($HPO_TEST_DATA); caller frees. */
static char *read_data(const char *name)
{
    const char *dir = getenv("HPO_TEST_DATA");
    if (!dir)
        fail_msg("HPO_TEST_DATA is not set: run through meson test");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    strbuf b = {xmalloc(4096), 0, 4096};
    b.p[0] = '\0';
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk - 1, fp)) > 0) {
        chunk[n] = '\0';
        strbuf_printf(&b, "%s", chunk);
    }
    assert_int_equal(ferror(fp), 0);
    fclose(fp);
    return b.p;
}

/* The text of f equals tests/data/<name> byte for byte; else the text goes
 * to <name>.actual in the working directory and the first differing line
 * is reported. */
static void assert_text(metrics *m, const learner_figures *f, const char *name)
{
    metrics_update(m, f);
    char *got = metrics_text(m);
    char *want = read_data(name);
    if (strcmp(got, want)) {
        size_t i = 0, line = 1;
        for (; got[i] && got[i] == want[i]; i++)
            line += got[i] == '\n';
        char actual[256];
        snprintf(actual, sizeof actual, "%s.actual", name);
        FILE *fp = fopen(actual, "wb");
        if (fp) {
            fputs(got, fp);
            fclose(fp);
        }
        fail_msg(
            "metrics text differs from tests/data/%s at line %zu (byte %zu); the text is in %s",
            name, line, i, actual);
    }
    free(want);
    free(got);
}

static void test_text_pinned(void **state)
{
    (void)state;
    static learner_figures f;
    char err[256] = "";
    metrics *m = metrics_new("127.0.0.1", 0, err, sizeof err);
    if (!m)
        fail_msg("metrics_new: %s", err);
    fill_fresh(&f);
    assert_text(m, &f, "metrics_fresh.prom");
    fill_evaluated(&f);
    assert_text(m, &f, "metrics_evaluated.prom");
    fill_fresh(&f); /* back: nothing of the last one stays */
    assert_text(m, &f, "metrics_fresh.prom");
    metrics_destroy(&m);
}

static void test_bad_address(void **state)
{
    (void)state;
    char err[256] = "";
    metrics *m = metrics_new("eth0", 9999, err, sizeof err);
    assert_null(m);
    assert_non_null(strstr(err, "not an IPv4 address"));
}

/* Label values stay valid UTF-8 whatever a field holds: each byte that
 * starts no valid sequence becomes U+FFFD, valid multi-byte characters
 * pass unchanged. */
static void test_labels_utf8(void **state)
{
    (void)state;
    metrics *m = start_metrics("127.0.0.1");
    learner_actor *a = &L.actors[0];
    a->used = 1;
    snprintf(a->id, sizeof a->id, "x\xff\xc0\xafy"); /* stray, overlong */
    snprintf(a->host, sizeof a->host, "h\xc3\xa9\xe2\x82"); /* é, cut */
    a->last_seen = now_s();
    L.n_actors = 1;
    update_from(m, &L);
    char *t = metrics_text(m);
    assert_true(utf8_valid((const unsigned char *)t, strlen(t)));
    assert_true(has_line(
        t,
        "hpo_actor_steps_total{actor=\"x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy\",host=\"h\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\",role=\"actor\"} 0"));
    free(t);
    metrics_destroy(&m);
    release_learner(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_updates),
        cmocka_unit_test(test_figures_and_labels),
        cmocka_unit_test(test_labels_utf8),
        cmocka_unit_test(test_text_pinned),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
