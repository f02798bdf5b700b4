/* progress: progress.csv's one schema. The row writer's cells (empty for
 * NAN, integers, wall_s to 3 decimals); a resume that keeps the rows up to a
 * checkpoint and rewrites files of older builds (hpo-train's 14 columns,
 * hpo-learner's recent_return) into today's columns by header name; refusals
 * of unknown or repeated columns, mismatched rows, non-numbers and overlong
 * lines; and docs/status.md's column table against the columns, in order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "progress.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/test_progress.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The whole file into a static buffer. */
static const char *slurp(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The current header line, with '\n'. */
static const char *header(void)
{
    static char buf[1024];
    size_t n = 0;
    for (int c = 0; c < PROGRESS_COLS; c++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%c",
                              progress_column_name((progress_col)c),
                              c + 1 < PROGRESS_COLS ? ',' : '\n');
    return buf;
}

static void test_names(void **state)
{
    for (int c = 0; c < PROGRESS_COLS; c++) {
        const char *n = progress_column_name((progress_col)c);
        assert_int_equal(progress_column_find(n), c);
        for (int d = 0; d < c; d++)
            assert_string_not_equal(n, progress_column_name((progress_col)d));
    }
    assert_int_equal(progress_column_find("recent_return"),
                     PROGRESS_EPISODE_RETURN);
    assert_int_equal(progress_column_find("no_such"), -1);
    /* hpo-train's 14 columns of older builds, first and in their order */
    static const char *const old[] = {
        "env_steps", "updates", "episode_return", "eval_return", "eval_std",
        "q_loss",    "pi_loss", "alpha",          "logp",        "hd_dist",
        "gate",      "q_mean",  "updates_per_s",  "wall_s"};
    for (int i = 0; i < 14; i++)
        assert_string_equal(progress_column_name((progress_col)i), old[i]);
}

static void test_write(void **state)
{
    char path[128], err[512];
    path_of(path, sizeof path, "w.csv");
    FILE *f = progress_open(path, 0, -1, NULL, err, sizeof err);
    assert_non_null(f);
    progress_row r;
    progress_row_clear(&r);
    r.v[PROGRESS_ENV_STEPS] = 600;
    r.v[PROGRESS_UPDATES] = 100;
    r.v[PROGRESS_EPISODE_RETURN] = -1234.56789;
    r.v[PROGRESS_WALL_S] = 1.23456;
    r.v[PROGRESS_EPISODES] = 3;
    assert_int_equal(progress_write_row(f, &r), 0);
    fclose(f);
    char want[2048];
    snprintf(want, sizeof want,
             "%s600,100,-1234.568,,,,,,,,,,,1.235,,,,,,,,,3\n", header());
    assert_string_equal(slurp(path), want);
}

/* An hpo-train file of an older build (14 columns), resumed at 1000 env
 * steps: the rows up to it, rewritten into today's columns, the last of
 * them returned; the row past it and a cut last line dropped. */
static void test_resume_old_train(void **state)
{
    char path[128], err[512];
    path_of(path, sizeof path, "t.csv");
    put(path,
        "env_steps,updates,episode_return,eval_return,eval_std,q_loss,pi_loss,alpha,logp,hd_dist,gate,q_mean,updates_per_s,wall_s\n"
        "200,0,-1500.5,,,,,,,,,,,0.5\n"
        "1000,800,,-900.25,12.5,,,,,,,,80.5,10.125\n"
        "1200,1000,-700,,,1.5,2.5,0.1,-1,0.2,0.3,-50,81,12\n"
        "1400,1200,-6");
    progress_row last;
    FILE *f = progress_open(path, 1, 1000, &last, err, sizeof err);
    assert_non_null(f);
    fclose(f);
    char want[2048];
    snprintf(want, sizeof want,
             "%s200,0,-1500.5,,,,,,,,,,,0.5,,,,,,,,,\n"
             "1000,800,,-900.25,12.5,,,,,,,,80.5,10.125,,,,,,,,,\n",
             header());
    assert_string_equal(slurp(path), want);
    assert_true(last.v[PROGRESS_ENV_STEPS] == 1000);
    assert_true(last.v[PROGRESS_UPDATES] == 800);
    assert_true(last.v[PROGRESS_UPDATES_PER_S] == 80.5);
    assert_true(last.v[PROGRESS_WALL_S] == 10.125);
    assert_true(isnan(last.v[PROGRESS_EPISODE_RETURN]));
}

/* An hpo-learner file of an older build (its own order, recent_return):
 * every row kept (max_env_steps < 0), each cell under its name. */
static void test_resume_old_learner(void **state)
{
    char path[128], err[512];
    path_of(path, sizeof path, "l.csv");
    put(path,
        "wall_s,env_steps,updates,steps_per_s,updates_per_s,replay_ratio,replay_size,actors,param_version,recent_return,eval_return,q_loss,pi_loss,alpha,hd_dist,gate,recent_return_std,recent_return_min,recent_return_max,eval_std,episodes\n"
        "1.010,5000,4000,900,800,0.9,5000,2,80,-300,-250,1.5,2.5,0.2,0.3,0.4,10,-320,-280,5,25\n");
    progress_row last;
    FILE *f = progress_open(path, 1, -1, &last, err, sizeof err);
    assert_non_null(f);
    /* rows appended after the rewrite land under the same header */
    progress_row r;
    progress_row_clear(&r);
    r.v[PROGRESS_ENV_STEPS] = 6000;
    assert_int_equal(progress_write_row(f, &r), 0);
    fclose(f);
    char want[2048];
    snprintf(
        want, sizeof want,
        "%s5000,4000,-300,-250,5,1.5,2.5,0.2,,0.3,0.4,,800,1.010,900,0.9,5000,2,80,10,-320,-280,25\n"
        "6000,,,,,,,,,,,,,,,,,,,,,,\n",
        header());
    assert_string_equal(slurp(path), want);
    assert_true(last.v[PROGRESS_EPISODE_RETURN] == -300);
    assert_true(last.v[PROGRESS_EPISODES] == 25);
}

/* A missing file resumes as a fresh one; an empty one too. */
static void test_resume_missing(void **state)
{
    char path[128], err[512];
    path_of(path, sizeof path, "none.csv");
    progress_row last;
    FILE *f = progress_open(path, 1, 10, &last, err, sizeof err);
    assert_non_null(f);
    fclose(f);
    assert_string_equal(slurp(path), header());
    assert_true(isnan(last.v[PROGRESS_WALL_S]));
    put(path, "");
    f = progress_open(path, 1, 10, &last, err, sizeof err);
    assert_non_null(f);
    fclose(f);
    assert_string_equal(slurp(path), header());
}

/* Each bad file is refused with a message naming the file and the fault,
 * and left as it was. */
static void test_refusals(void **state)
{
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"env_steps,updates,bogus\n1,2,3\n", "'bogus' is not one"},
        {"env_steps,updates,updates\n1,2,3\n", "a repeat of one"},
        {"env_steps,recent_return,episode_return\n1,2,3\n", "a repeat of one"},
        {"updates,wall_s\n1,2\n", "no env_steps column"},
        {"env_steps,updates\n1,2\n3,4,5\n", "line 3 has 3 cells, its header 2"},
        {"env_steps,updates\n1\n", "line 2 has 1 cells"},
        {"env_steps,updates\n1,x2\n", "column updates: 'x2' is not a number"},
        {"env_steps,updates\n,2\n", "line 2 has no env_steps"},
    };
    char path[128], err[512], big[PROGRESS_LINE_MAX + 64];
    path_of(path, sizeof path, "bad.csv");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(path, bad[i].text);
        err[0] = '\0';
        assert_null(progress_open(path, 1, -1, NULL, err, sizeof err));
        if (!strstr(err, bad[i].says) || !strstr(err, path))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].says);
        assert_string_equal(slurp(path), bad[i].text);
    }
    /* a line past the bound, and a header of too many columns */
    snprintf(big, sizeof big, "env_steps,updates\n1,");
    size_t n0 = strlen(big);
    memset(big + n0, '7', sizeof big - 2 - n0);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    put(path, big);
    assert_null(progress_open(path, 1, -1, NULL, err, sizeof err));
    assert_non_null(strstr(err, "line 2 longer than 4095 bytes"));
    size_t n = 0;
    for (int c = 0; c <= PROGRESS_IN_COLS_MAX; c++)
        n += (size_t)snprintf(big + n, sizeof big - n, "env_steps,");
    big[n - 1] = '\n';
    put(path, big);
    assert_null(progress_open(path, 1, -1, NULL, err, sizeof err));
    assert_non_null(strstr(err, "more than 64 columns"));
}

/* docs/status.md's table under "## progress.csv" lists the columns, in
 * order: the one documentation agrees with the one definition. */
static void test_docs(void **state)
{
    const char *src = getenv("HPO_SOURCE_ROOT");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/status.md", src);
    const char *doc = slurp(path);
    const char *p = strstr(doc, "\n## progress.csv\n");
    assert_non_null(p);
    const char *end = strstr(p + 1, "\n## ");
    int c = 0;
    for (p = strstr(p, "\n| `"); p && (!end || p < end);
         p = strstr(p + 1, "\n| `")) {
        const char *name = p + 4, *q = strchr(name, '`');
        assert_non_null(q);
        if (c >= PROGRESS_COLS)
            fail_msg("docs/status.md lists more than %d columns",
                     PROGRESS_COLS);
        const char *want = progress_column_name((progress_col)c);
        if (strlen(want) != (size_t)(q - name) ||
            strncmp(want, name, (size_t)(q - name)))
            fail_msg("docs/status.md column %d is '%.*s', progress.h says '%s'",
                     c + 1, (int)(q - name), name, want);
        c++;
    }
    assert_int_equal(c, PROGRESS_COLS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_resume_old_train),
        cmocka_unit_test(test_resume_old_learner),
        cmocka_unit_test(test_resume_missing),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_docs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
