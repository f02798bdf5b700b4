/* util: CRC-32 against the standard check value; write_full to a file. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(crc32_update(0, "123456789", 9), 0xcbf43926u);
    /* continuing a CRC equals one pass over the concatenation */
    uint32_t c = crc32_update(0, "1234", 4);
    assert_int_equal(crc32_update(c, "56789", 5), 0xcbf43926u);
    assert_int_equal(crc32_update(0, "", 0), 0u);
}

static void test_write_full(void **state)
{
    (void)state;
    char path[] = "/tmp/hpo_test_utilXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    enum { N = 1 << 20 };
    char *buf = xmalloc(N), *back = xmalloc(N);
    for (int i = 0; i < N; i++)
        buf[i] = (char)(i * 7);
    assert_int_equal(write_full(fd, buf, N), 0);
    close(fd);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(back, 1, N, f), N);
    fclose(f);
    assert_memory_equal(buf, back, N);
    assert_int_equal(write_full(-1, buf, 1), -1);
    unlink(path);
    free(buf);
    free(back);
}

static void test_strbuf(void **state)
{
    (void)state;
    strbuf b = {xmalloc(4), 0, 4};
    for (int i = 0; i < 1000; i++)
        strbuf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 2000);
    assert_int_equal(strlen(b.p), 2000);
    assert_memory_equal(b.p, "0,1,2,3,", 8);
    assert_memory_equal(b.p + 1992, "6,7,8,9,", 8);
    free(b.p);
}

static void test_mkdir_parents(void **state)
{
    (void)state;
    char base[] = "/tmp/hpo_test_mkdirXXXXXX";
    assert_non_null(mkdtemp(base));
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/a/b/c", base);
    assert_int_equal(mkdir_parents(path, err, sizeof err), 0);
    assert_int_equal(mkdir_parents(path, err, sizeof err), 0); /* exists */
    char file[256];
    snprintf(file, sizeof file, "%s/f", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/f/g", base);
    assert_int_equal(mkdir_parents(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a directory"));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

static void test_parse_long(void **state)
{
    (void)state;
    long v = 7;
    assert_int_equal(parse_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_long("-3", -5, 5, &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(parse_long("", 0, 100, &v), -1);
    assert_int_equal(parse_long("12x", 0, 100, &v), -1);
    assert_int_equal(parse_long("101", 0, 100, &v), -1);
    assert_int_equal(parse_long("99999999999999999999", 0, 100, &v), -1);
    assert_int_equal(v, -3);
}

static void test_run_stats(void **state)
{
    (void)state;
    run_stats s = {0};
    assert_true(isnan(run_stats_mean(&s)) && isnan(run_stats_std(&s)) &&
                isnan(run_stats_min(&s)) && isnan(run_stats_max(&s)));
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    for (int i = 0; i < 8; i++)
        run_stats_add(&s, x[i]);
    assert_true(fabs(run_stats_mean(&s) - 5.0) < 1e-12);
    assert_true(fabs(run_stats_std(&s) - 2.0) < 1e-12); /* population */
    assert_true(run_stats_min(&s) == 2.0 && run_stats_max(&s) == 9.0);
    /* a large offset does not cost the spread its precision */
    run_stats t = {0};
    for (int i = 0; i < 8; i++)
        run_stats_add(&t, 1e9 + x[i]);
    assert_true(fabs(run_stats_std(&t) - 2.0) < 1e-6);
    run_stats one = {0};
    run_stats_add(&one, -3.5);
    assert_true(run_stats_std(&one) == 0.0 && run_stats_min(&one) == -3.5 &&
                run_stats_max(&one) == -3.5);
}

static void test_stop_on_signals(void **state)
{
    (void)state;
    assert_int_equal(stop_requested(), 0);
    stop_on_signals(0);
    raise(SIGTERM); /* handled: sets the flag, the process goes on */
    assert_int_equal(stop_requested(), 1);
}

static void test_usage_error(void **state)
{
    (void)state;
    char path[] = "/tmp/hpo_test_usageXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    int rc = usage_error("prog", "--x needs 1..9, not '%s'", "0");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(rc, -1);
    char buf[128] = "";
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    close(fd);
    unlink(path);
    assert_string_equal(buf,
                        "prog: --x needs 1..9, not '0' (see prog --help)\n");
}

static int fill_text(int fd, void *ctx)
{
    return write_full(fd, ctx, strlen(ctx));
}

static int fill_fails(int fd, void *ctx)
{
    (void)ctx;
    if (write_full(fd, "partial", 7))
        return -1;
    errno = ENOSPC;
    return -1;
}

static void test_write_file_atomic(void **state)
{
    (void)state;
    char dir[] = "/tmp/hpo_test_atomicXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[140], buf[64] = "", err[256];
    snprintf(path, sizeof path, "%s/f", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(
        write_file_atomic(path, fill_text, "first", err, sizeof err), 0);
    /* a failing writer leaves the old file whole and no .tmp behind */
    assert_int_equal(write_file_atomic(path, fill_fails, NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "cannot write"));
    assert_non_null(strstr(err, "No space left"));
    assert_int_equal(access(tmp, F_OK), -1);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "first");
    snprintf(path, sizeof path, "%s/missing/f", dir);
    assert_int_equal(write_file_atomic(path, fill_text, "x", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "cannot create"));
    snprintf(path, sizeof path, "%s/f", dir);
    unlink(path);
    rmdir(dir);
}

/* utf8_valid against the definition: every 1..4-byte form at its edges,
 * and each kind of invalid sequence. */
/* floats_finite: every non-finite kind at every place of a length that
 * spans blocks (4096) and vector tails; the largest finite floats, zeros
 * and subnormals are finite. */
static void test_floats_finite(void **state)
{
    (void)state;
    size_t n = 2 * 4096 + 13;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i - 5000.0f;
    x[1] = 3.4028235e38f;
    x[2] = -3.4028235e38f;
    x[3] = 1e-45f; /* subnormal */
    x[4] = -0.0f;
    assert_true(floats_finite(x, n));
    assert_true(floats_finite(x, 0));
    const float bad[3] = {INFINITY, -INFINITY, NAN};
    const size_t at[] = {0, 7, 4095, 4096, 8191, 8192, n - 1};
    for (size_t k = 0; k < 3; k++)
        for (size_t a = 0; a < sizeof at / sizeof at[0]; a++) {
            float keep = x[at[a]];
            x[at[a]] = bad[k];
            assert_false(floats_finite(x, n));
            assert_int_equal(floats_finite(x, at[a]), 1); /* before it */
            assert_false(floats_finite(x + at[a], 1));
            x[at[a]] = keep;
        }
    assert_true(floats_finite(x, n));
    free(x);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"", 1},
        {"plain ascii", 1},
        {"\xc2\x80", 1},             /* U+0080, the first 2-byte */
        {"\xdf\xbf", 1},             /* U+07FF */
        {"\xe0\xa0\x80", 1},         /* U+0800 */
        {"\xef\xbf\xbf", 1},         /* U+FFFF */
        {"\xf0\x90\x80\x80", 1},     /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 1},     /* U+10FFFF, the last */
        {"\x80", 0},                 /* a lone continuation byte */
        {"\xc1\xbf", 0},             /* overlong U+007F */
        {"\xe0\x9f\xbf", 0},         /* overlong U+07FF */
        {"\xf0\x8f\xbf\xbf", 0},     /* overlong U+FFFF */
        {"\xed\xa0\x80", 0},         /* U+D800, a surrogate */
        {"\xf4\x90\x80\x80", 0},     /* U+110000 */
        {"\xe2\x82", 0},             /* truncated */
        {"\xe2\x28\xa1", 0},         /* a bad continuation */
        {"\xf8\x88\x80\x80\x80", 0}, /* a 5-byte form */
        {"\xff", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(
            utf8_valid((const unsigned char *)cases[i].s, strlen(cases[i].s)),
            cases[i].ok);
    /* utf8_seq: the length of the sequence at the start, 0 for none */
    assert_int_equal(utf8_seq((const unsigned char *)"\xe2\x82\xac!", 4), 3);
    assert_int_equal(utf8_seq((const unsigned char *)"\xe2\x82\xac", 2), 0);
    assert_int_equal(utf8_seq((const unsigned char *)"a", 0), 0);
    /* utf8_scrub: each byte that starts no sequence becomes '?' */
    char s[] = "ok \xc3\xa9 \xff\xc0\xaf \xed\xa0\x80 \xe2\x82";
    utf8_scrub(s);
    assert_string_equal(s, "ok \xc3\xa9 ??? ??? ??");
    assert_true(utf8_valid((const unsigned char *)s, strlen(s)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_floats_finite),
        cmocka_unit_test(test_run_stats),
        cmocka_unit_test(test_stop_on_signals),
        cmocka_unit_test(test_usage_error),
        cmocka_unit_test(test_write_file_atomic),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_write_full),
        cmocka_unit_test(test_strbuf),
        cmocka_unit_test(test_mkdir_parents),
        cmocka_unit_test(test_parse_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
