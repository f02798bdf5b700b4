/* config: the shared command line (config_args_parse, config_args_resolve):
 * preset then flags, --name=VALUE, program options and flags, the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const char *const options[] = {"port", "out", NULL};
static const char *const flags[] = {"quiet", "resume", NULL};

#define ERR_LEN 256

/* Parse argv (NULL-terminated, argv[0] the program) into a. */
static int parse(config_args *a, char **argv, char *err, size_t errlen)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    err[0] = '\0';
    return config_args_parse(a, argc, argv, options, flags, err, errlen);
}

/* Parse argv (it must parse), then resolve it on base (Nullable) into c.
 * Returns config_args_resolve's result, its message in err (ERR_LEN). */
static int resolve(char **argv, const hpo_config *base, hpo_config *c,
                   char *err)
{
    config_args a;
    assert_int_equal(parse(&a, argv, err, ERR_LEN), 0);
    int rc = config_args_resolve(&a, base, c, err, ERR_LEN);
    config_args_release(&a);
    return rc;
}

/* Parse and resolve argv; both must succeed. */
static void resolve_ok(char **argv, hpo_config *c)
{
    char err[ERR_LEN];
    if (resolve(argv, NULL, c, err))
        fail_msg("resolve: %s", err);
}

/* Parse and resolve argv: the resolve must fail with exactly want. */
static void resolve_fails(char **argv, const char *want)
{
    char err[ERR_LEN];
    hpo_config c;
    assert_int_equal(resolve(argv, NULL, &c, err), -1);
    assert_string_equal(err, want);
}

/* Parse argv: it must fail with exactly want. */
static void parse_fails(char **argv, const char *want)
{
    config_args a;
    char err[ERR_LEN];
    assert_int_equal(parse(&a, argv, err, sizeof err), -1);
    assert_string_equal(err, want);
    config_args_release(&a);
}

/* The paper's rows (Tables 3-4), the measured InvertedPendulum row, and
 * HalfCheetah's row for the rest; auto-tuned temperature by default. */
static void test_presets(void **state)
{
    (void)state;
    hpo_config c;
    config_defaults(&c);
    assert_int_equal(c.auto_alpha, 1);
    assert_true(c.alpha == 0.2f);
    config_preset(&c, "Humanoid-v5");
    assert_true(c.alpha == 0.05f && c.std_tr == 1.0f && c.eps == 0.1f);
    assert_int_equal(c.pi_layers, 1);
    assert_int_equal(c.h_hidden, 64);
    assert_int_equal(c.learning_starts, 5000);
    config_defaults(&c);
    config_preset(&c, "invertedpendulum");
    assert_true(c.std_tr == 0.1f && c.std_exp == 0.5f && c.eps == 0.2f);
    assert_int_equal(c.learning_starts, 1000);
    config_defaults(&c);
    config_preset(&c, "InvertedDoublePendulum-v5");
    assert_true(c.std_tr == 0.1f && c.std_exp == 0.5f);
    assert_int_equal(c.learning_starts, 1000);
    assert_string_equal(c.env, "InvertedDoublePendulum-v5");
    config_defaults(&c);
    config_preset(&c, "Pendulum"); /* HalfCheetah's row */
    assert_true(c.std_tr == 1.0f && c.std_exp == 0.5f && c.eps == 0.2f);
    assert_int_equal(c.learning_starts, 5000);
}

static void test_preset_then_flags(void **state)
{
    (void)state;
    hpo_config c, hopper;
    config_defaults(&hopper);
    config_preset(&hopper, "Hopper");

    /* the preset of the last --env first, wherever it stands */
    char *argv[] = {"p",   "--std-exp", "2",     "--env",  "Ant",
                    "--K", "5",         "--env", "Hopper", NULL};
    resolve_ok(argv, &c);
    assert_string_equal(c.env, "Hopper");
    assert_true(c.std_exp == 2.0f);         /* the flag over the preset */
    assert_int_equal(c.K, 5);               /* the flag over the preset */
    assert_true(c.std_tr == hopper.std_tr); /* the preset over defaults */
    assert_true(c.eps == hopper.eps);

    /* later flags win */
    char *argv2[] = {"p", "--seed", "3", "--seed", "7", NULL};
    resolve_ok(argv2, &c);
    assert_int_equal(c.seed, 7);
    assert_string_equal(c.env, "HalfCheetah");

    /* no flags: the defaults */
    hpo_config d;
    config_defaults(&d);
    char *argv3[] = {"p", NULL};
    resolve_ok(argv3, &c);
    assert_memory_equal(&c, &d, sizeof c);
}

/* algorithm.md (2026-12-04): the critic target at the base action by
 * default, and mode sac with SAC's 2 x 256 policy whatever the preset's l,
 * unless the policy's shape is given. */
static void test_spec_defaults(void **state)
{
    (void)state;
    hpo_config c;
    config_defaults(&c);
    assert_int_equal(c.hd_target, 0);

    char *hpo[] = {"p", "--env", "Ant", NULL}; /* Ant's l = 1 */
    resolve_ok(hpo, &c);
    assert_int_equal(c.pi_layers, 1);
    char *sac[] = {"p", "--mode", "sac", "--env", "Humanoid", NULL};
    resolve_ok(sac, &c);
    assert_int_equal(c.pi_layers, 2);
    assert_int_equal(c.pi_hidden, 256);
    assert_int_equal(c.h_hidden, 64); /* the rest of the row stays */
    char *given[] = {"p", "--env",       "Ant", "--mode=SAC", "--pi_layers",
                     "1", "--pi-hidden", "64",  NULL};
    resolve_ok(given, &c);
    assert_int_equal(c.pi_layers, 1);
    assert_int_equal(c.pi_hidden, 64);
    char *switched[] = {"p", "--hd-target", "1", NULL};
    resolve_ok(switched, &c);
    assert_int_equal(c.hd_target, 1);
}

/* Who reads a setting follows mode_explore_hd / mode_optim_hd; every
 * declared range is enforced with a message naming it. */
static void test_reads_and_ranges(void **state)
{
    (void)state;
    assert_true(config_mode_reads(MODE_SAC, "lr"));
    assert_false(config_mode_reads(MODE_SAC, "eps"));
    assert_false(config_mode_reads(MODE_SAC, "std-exp"));
    assert_true(config_mode_reads(MODE_HPO, "std_exp"));
    assert_false(config_mode_reads(MODE_BASELINE3, "std-exp"));
    assert_false(config_mode_reads(MODE_BASELINE3, "eval-hd"));
    assert_true(config_mode_reads(MODE_BASELINE3, "std-tr"));
    assert_false(config_mode_reads(MODE_BASELINE2, "std-tr"));
    assert_false(config_mode_reads(MODE_BASELINE2, "hd-target"));
    assert_true(config_mode_reads(MODE_BASELINE2, "K"));
    /* tempering: every leapfrog, exploring or optimizing */
    assert_false(config_mode_reads(MODE_SAC, "temper"));
    assert_true(config_mode_reads(MODE_BASELINE2, "temper"));
    assert_true(config_mode_reads(MODE_BASELINE3, "temper"));
    /* the clip's gradient: the policy loss's leapfrog alone */
    assert_false(config_mode_reads(MODE_SAC, "clip-grad"));
    assert_false(config_mode_reads(MODE_BASELINE2, "clip-grad"));
    assert_true(config_mode_reads(MODE_BASELINE3, "clip-grad"));
    assert_false(config_mode_reads(MODE_SAC, "alpha-target"));
    assert_false(config_mode_reads(MODE_BASELINE2, "alpha-target"));
    assert_true(config_mode_reads(MODE_HPO, "alpha-target"));

    char *alpha[] = {"p", "--alpha", "0", NULL};
    resolve_fails(alpha, "--alpha must be > 0 (got 0)");
    char *tau[] = {"p", "--tau", "1.5", NULL};
    resolve_fails(tau, "--tau must be in (0, 1] (got 1.5)");
    char *gamma[] = {"p", "--gamma", "-0.1", NULL};
    resolve_fails(gamma, "--gamma must be in [0, 1] (got -0.1)");
    char *k[] = {"p", "--K", "17", NULL};
    resolve_fails(k, "--K must be 1..16 (got 17)");
    char *steps[] = {"p", "--steps", "-1", NULL};
    resolve_fails(steps, "--steps must be >= 0 (got -1)");
    char *buffer[] = {"p", "--buffer", "100", NULL};
    resolve_fails(buffer, "--buffer (100) must be >= --batch (256)");
    char *ok_edge[] = {"p", "--gamma", "1", "--tau", "1", "--K", "16", NULL};
    hpo_config c;
    resolve_ok(ok_edge, &c);
}

/* The agent settings' text: canonical, parsed back exactly, strict. */
static void test_agent_text(void **state)
{
    (void)state;
    hpo_config a, b;
    config_defaults(&a);
    config_preset(&a, "Humanoid");
    a.eps = 0.1234567f; /* a float with all 9 digits */
    char text[CONFIG_AGENT_TEXT_MAX], again[CONFIG_AGENT_TEXT_MAX];
    size_t n = config_agent_text(&a, text, sizeof text);
    assert_int_equal(n, strlen(text));
    assert_non_null(strstr(text, "K = 3\n"));
    assert_non_null(strstr(text, "temper = formula\n")); /* actors temper */
    assert_null(strstr(text, "std-tr")); /* the learner's alone */
    config_defaults(&b);
    char err[ERR_LEN];
    assert_int_equal(config_agent_parse(&b, text, err, sizeof err), 0);
    assert_true(b.eps == a.eps && b.h_hidden == 64 && b.pi_layers == 1);
    config_agent_text(&b, again, sizeof again);
    assert_string_equal(text, again);
    assert_int_equal(config_agent_parse(&b, "K = 3\n", err, sizeof err), -1);
    assert_non_null(strstr(err, "missing"));
}

/* The fidelity experiments' switches (algorithm.md's open choices): each
 * defaults to today's behaviour (value 0), takes its names in any case,
 * is written by name and read back, and refuses other values. */
static const struct {
    const char *name, *def, *other; /* the default's name first */
    size_t off;
} switches[] = {
    {"temper", "formula", "cool", offsetof(hpo_config, temper)},
    {"clip-grad", "zero", "straight", offsetof(hpo_config, clip_grad)},
    {"alpha-target", "base", "hd", offsetof(hpo_config, alpha_target)},
};

static int *switch_of(hpo_config *c, size_t i)
{
    return (int *)((char *)c + switches[i].off);
}

static void test_fidelity_switches(void **state)
{
    (void)state;
    char err[ERR_LEN], want[ERR_LEN], arg[64], up[32];
    for (size_t i = 0; i < sizeof switches / sizeof switches[0]; i++) {
        const char *name = switches[i].name;
        hpo_config c, d;
        config_defaults(&d);
        assert_int_equal(*switch_of(&d, i), 0);
        /* --name=OTHER in upper case */
        size_t k = 0;
        for (; switches[i].other[k] && k + 1 < sizeof up; k++)
            up[k] = (char)(switches[i].other[k] - 'a' + 'A');
        up[k] = '\0';
        snprintf(arg, sizeof arg, "--%s=%s", name, up);
        char *set[] = {"p", arg, NULL};
        resolve_ok(set, &c);
        assert_int_equal(*switch_of(&c, i), 1);
        /* written by name, read back by config_set */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        config_write(&c, f);
        fclose(f);
        snprintf(want, sizeof want, "\n%s = %s\n", name, switches[i].other);
        assert_non_null(strstr(text, want));
        free(text);
        assert_int_equal(config_set(&d, name, switches[i].other, NULL, 0), 0);
        assert_int_equal(*switch_of(&d, i), 1);
        char *back[] = {"p", "--", (char *)switches[i].def, NULL};
        snprintf(arg, sizeof arg, "--%s", name);
        back[1] = arg;
        resolve_ok(back, &c);
        assert_int_equal(*switch_of(&c, i), 0);
        /* a bad name, and a value set behind the table's back */
        snprintf(arg, sizeof arg, "--%s=1", name);
        char *bad[] = {"p", arg, NULL};
        snprintf(want, sizeof want, "bad --%s '1': use %s or %s", name,
                 switches[i].def, switches[i].other);
        resolve_fails(bad, want);
        config_defaults(&d);
        *switch_of(&d, i) = 2;
        assert_int_equal(config_validate(&d, err, sizeof err), -1);
        snprintf(want, sizeof want, "--%s must be %s or %s (got 2)", name,
                 switches[i].def, switches[i].other);
        assert_string_equal(err, want);
    }
}

/* A run's config file read back: its dimension lines skipped, a bad line
 * named, a missing or oversized file refused with its path. */
static void test_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    hpo_config a, b;
    config_defaults(&a);
    config_preset(&a, "Walker2d");
    a.seed = 77;
    config_write(&a, f);
    fprintf(f, "obs_dim = 17\nact_dim = 6\n");
    fclose(f);
    char err[ERR_LEN];
    assert_int_equal(config_read_file(&b, path, err, sizeof err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    /* without dims, the dimension lines are not settings */
    assert_int_equal(
        config_read_text(&b, "obs_dim = 3\n", 12, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1"));
    f = fopen(path, "w");
    fprintf(f, "seed = 3\nK = many\n");
    fclose(f);
    assert_int_equal(config_read_file(&b, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "line 2"));
    f = fopen(path, "w");
    for (int i = 0; i < CONFIG_TEXT_MAX / 8 + 1; i++)
        fputs("seed = 1\n", f);
    fclose(f);
    assert_int_equal(config_read_file(&b, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than"));
    unlink(path);
    assert_int_equal(config_read_file(&b, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
}

static void test_name_equals_value(void **state)
{
    (void)state;
    hpo_config c;
    char *argv[] = {"p", "--steps=123", "--env=Walker2d", "--out=a=b", NULL};
    config_args a;
    char err[ERR_LEN];
    assert_int_equal(parse(&a, argv, err, sizeof err), 0);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.names[2], "out");
    assert_string_equal(a.values[2], "a=b"); /* split at the first '=' */
    assert_string_equal(a.env, "Walker2d");
    assert_int_equal(config_args_resolve(&a, NULL, &c, err, sizeof err), 0);
    assert_int_equal(c.steps, 123);
    assert_string_equal(c.env, "Walker2d");
    config_args_release(&a);
    config_args_release(&a); /* again: harmless */
}

static void test_program_options(void **state)
{
    (void)state;
    char *argv[] = {"p",   "--resume", "--port", "6000",    "--alpha",
                    "0.1", "--out",    "run",    "--quiet", NULL};
    config_args a;
    char err[ERR_LEN];
    hpo_config c;
    assert_int_equal(parse(&a, argv, err, sizeof err), 0);
    assert_int_equal(a.flags, 3u); /* quiet (bit 0) and resume (bit 1) */
    assert_int_equal(a.n, 3);      /* in command-line order */
    assert_string_equal(a.names[0], "port");
    assert_string_equal(a.values[0], "6000");
    assert_string_equal(a.names[1], "alpha");
    assert_string_equal(a.names[2], "out");
    assert_string_equal(a.values[2], "run");
    assert_null(a.env);
    /* resolve skips the options */
    assert_int_equal(config_args_resolve(&a, NULL, &c, err, sizeof err), 0);
    assert_true(c.alpha == 0.1f);
    config_args_release(&a);

    /* a flag is no option: "--quiet=1" is unknown */
    char *argv2[] = {"p", "--quiet=1", NULL};
    parse_fails(argv2, "unknown flag --quiet");
}

static void test_base(void **state)
{
    (void)state;
    hpo_config base, c;
    config_defaults(&base);
    config_preset(&base, "Hopper");
    base.seed = 42;
    base.steps = 800;
    /* the base replaces defaults and preset; --env is not applied */
    char *argv[] = {"p", "--steps", "1000", "--env", "Ant", NULL};
    char err[ERR_LEN];
    assert_int_equal(resolve(argv, &base, &c, err), 0);
    assert_int_equal(c.steps, 1000);
    assert_int_equal(c.seed, 42);
    assert_string_equal(c.env, "Hopper");
}

static void test_errors(void **state)
{
    (void)state;
    char *unknown[] = {"p", "--bogus", "1", NULL};
    parse_fails(unknown, "unknown flag --bogus");
    char *unknown_last[] = {"p", "--seed", "3", "--bogus", NULL};
    parse_fails(unknown_last, "unknown flag --bogus"); /* not "needs a value" */
    char *unknown_eq[] = {"p", "--bogus=1", NULL};
    parse_fails(unknown_eq, "unknown flag --bogus");
    char *empty[] = {"p", "--seed", "", NULL};
    parse_fails(empty, "empty value for --seed");
    char *empty_eq[] = {"p", "--out=", NULL};
    parse_fails(empty_eq, "empty value for --out");
    char *missing[] = {"p", "--alpha", "0.1", "--steps", NULL};
    parse_fails(missing, "--steps needs a value");
    char *positional[] = {"p", "extra", NULL};
    parse_fails(positional, "unexpected argument 'extra'");
    char *dashes[] = {"p", "--", NULL};
    parse_fails(dashes, "unexpected argument '--'");

    /* --help stops the parse, whatever follows */
    config_args a;
    char err[ERR_LEN];
    char *help[] = {"p", "--steps", "5", "--help", "--bogus", NULL};
    assert_int_equal(parse(&a, help, err, sizeof err), 1);
    config_args_release(&a);
    char *h[] = {"p", "-h", NULL};
    assert_int_equal(parse(&a, h, err, sizeof err), 1);
    config_args_release(&a);
}

static void test_invalid_values(void **state)
{
    (void)state;
    char *bad_int[] = {"p", "--steps", "abc", NULL};
    resolve_fails(bad_int, "bad value 'abc' for --steps (an integer)");
    char *bad_mode[] = {"p", "--mode=fast", NULL};
    resolve_fails(
        bad_mode,
        "bad --mode 'fast': use hpo, baseline1, baseline2, baseline3 or sac");
    char *invalid[] = {"p", "--batch", "0", NULL};
    resolve_fails(invalid, "--batch must be 1..65536 (got 0)");
    char long_env[80];
    memset(long_env, 'x', sizeof long_env - 1);
    long_env[sizeof long_env - 1] = '\0';
    char *too_long[] = {"p", "--env", long_env, NULL};
    char want[160];
    snprintf(want, sizeof want, "environment name too long: '%s'", long_env);
    resolve_fails(too_long, want);
}

/* config_args_table: each kind stored at its offset, the last one given
 * wins, flags, positionals, settings accepted only when asked, and every
 * bad value answered with its message. */
typedef struct table_opts {
    int n, flag;
    long big;
    double x;
    uint64_t seed;
    char name[8];
} table_opts;

#define TO(f) offsetof(table_opts, f)
static const opt_spec table[] = {
    {"n", OPT_INT, TO(n), 0, 1, 10, NULL},
    {"big", OPT_LONG, TO(big), 0, 0, 1e12, "--big needs a count, not '%s'"},
    {"x", OPT_DOUBLE, TO(x), 0, -1, 1, NULL},
    {"seed", OPT_U64, TO(seed), 0, 0, 0, "--seed needs a number, not '%s'"},
    {"name", OPT_TEXT, TO(name), 8, 0, 0, NULL},
    {"flag", OPT_FLAG, TO(flag), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef TO

/* Parse argv (NULL-terminated) by table; returns the rc, the message in err. */
static int table_parse(char **argv, int settings, int max_pos, table_opts *o,
                       config_args *a, char *err, size_t errlen)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    memset(o, 0, sizeof *o);
    return config_args_table(a, argc, argv, table, settings, max_pos, o, err,
                             errlen);
}

static void table_fails(char **argv, int settings, const char *want)
{
    table_opts o;
    config_args a;
    char err[256] = "";
    assert_int_equal(table_parse(argv, settings, 0, &o, &a, err, sizeof err),
                     -1);
    assert_string_equal(err, want);
    config_args_release(&a);
}

static void test_table(void **state)
{
    (void)state;
    table_opts o;
    config_args a;
    char err[256] = "";
    char *good[] = {"p",
                    "--n",
                    "3",
                    "--big=123456789012",
                    "--x",
                    "-0.5",
                    "FILE",
                    "--seed",
                    "18446744073709551615",
                    "--name",
                    "abc",
                    "--flag",
                    "--n",
                    "7",
                    "--batch",
                    "64",
                    NULL};
    assert_int_equal(table_parse(good, 1, 1, &o, &a, err, sizeof err), 0);
    assert_int_equal(o.n, 7); /* the last one wins */
    assert_true(o.big == 123456789012L);
    assert_true(o.x == -0.5);
    assert_true(o.seed == UINT64_MAX);
    assert_string_equal(o.name, "abc");
    assert_int_equal(o.flag, 1);
    assert_int_equal(a.n_pos, 1);
    assert_string_equal(a.pos[0], "FILE");
    assert_true(config_args_given(&a, "seed"));
    assert_false(config_args_given(&a, "steps"));
    hpo_config c;
    assert_int_equal(config_args_resolve(&a, NULL, &c, err, sizeof err), 0);
    assert_int_equal(c.batch, 64); /* a setting, resolved */
    config_args_release(&a);

    char *n0[] = {"p", "--n", "0", NULL};
    table_fails(n0, 0, "--n needs 1..10, not '0'");
    char *nx[] = {"p", "--n", "3x", NULL};
    table_fails(nx, 0, "--n needs 1..10, not '3x'");
    char *big[] = {"p", "--big", "-1", NULL};
    table_fails(big, 0, "--big needs a count, not '-1'");
    char *x[] = {"p", "--x", "nan", NULL};
    table_fails(x, 0, "--x needs -1..1, not 'nan'");
    char *seed[] = {"p", "--seed", "-3", NULL};
    table_fails(seed, 0, "--seed needs a number, not '-3'");
    char *name[] = {"p", "--name", "12345678", NULL};
    table_fails(name, 0, "--name too long: '12345678'");
    char *setting[] = {"p", "--batch", "64", NULL};
    table_fails(setting, 0, "unknown flag --batch");
    char *pos[] = {"p", "FILE", NULL};
    table_fails(pos, 0, "unexpected argument 'FILE'");
    char *help[] = {"p", "--n", "2", "-h", NULL};
    assert_int_equal(table_parse(help, 0, 0, &o, &a, err, sizeof err), 1);
    config_args_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_preset_then_flags),
        cmocka_unit_test(test_spec_defaults),
        cmocka_unit_test(test_reads_and_ranges),
        cmocka_unit_test(test_agent_text),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_fidelity_switches),
        cmocka_unit_test(test_name_equals_value),
        cmocka_unit_test(test_program_options),
        cmocka_unit_test(test_base),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
