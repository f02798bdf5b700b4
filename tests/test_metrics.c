/* metrics: the exposition text of a learner's figures (null figures have no
 * sample, label values escaped, counters by reason and per actor) and the
 * endpoint's start-up errors. The HTTP path is covered by test_dist.sh
 * part metrics (curl and promtool). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
    assert_string_equal(t, "");     /* no snapshot yet */
    free(t);

    update_from(m, &L);
    t = metrics_text(m);
    assert_true(has_line(t, "# TYPE hpo_env_steps_total counter"));
    assert_true(has_line(t, "hpo_env_steps_total 0"));
    assert_true(has_line(t, "hpo_updates_total 0"));
    assert_true(has_line(t, "hpo_rejected_messages_total{reason=\"too_large\"} 0"));
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
    metrics_destroy(&m);            /* accepts NULL */
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
    L.updates = 2000;               /* after the copy: not seen */
    char *t = metrics_text(m);
    assert_true(has_line(t, "hpo_env_steps_total 1200"));
    assert_true(has_line(t, "hpo_updates_total 1000"));
    assert_true(has_line(t, "hpo_refused_keys_total 2"));
    assert_true(has_line(t, "hpo_rejected_messages_total{reason=\"malformed\"} 3"));
    assert_true(has_line(t, "hpo_q_loss 1.5"));
    assert_true(has_line(t, "hpo_eval_return -150.25"));
    assert_true(has_line(t, "hpo_replay_ratio 1"));  /* 1000 / (1200 - 200) */
    assert_true(has_line(t, "hpo_actors 1"));
    assert_true(has_line(
        t, "hpo_actor_param_lag{actor=\"a\\\"b\\\\c\",host=\"h\\nx\",role=\"actor\"} 2"));
    assert_true(has_line(
        t, "hpo_actor_steps_total{actor=\"a\\\"b\\\\c\",host=\"h\\nx\",role=\"actor\"} 77"));
    /* no latency measured yet: the family is declared, the actor has no sample */
    assert_non_null(strstr(t, "# TYPE hpo_actor_snapshot_latency_seconds gauge"));
    assert_null(strstr(t, "hpo_actor_snapshot_latency_seconds{"));
    free(t);

    a->lat_n = 3;
    a->lat_last_ms = 2.5;
    update_from(m, &L);
    t = metrics_text(m);
    assert_true(has_line(
        t, "hpo_actor_snapshot_latency_seconds{actor=\"a\\\"b\\\\c\",host=\"h\\nx\",role=\"actor\"} 0.002500"));
    free(t);
    metrics_destroy(&m);
    release_learner(&L);
}

static void test_bad_address(void **state)
{
    (void)state;
    char err[256] = "";
    metrics *m = metrics_new("eth0", 9999, err, sizeof err);
    assert_null(m);
    assert_non_null(strstr(err, "not an IPv4 address"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_updates),
        cmocka_unit_test(test_figures_and_labels),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
