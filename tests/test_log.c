/* log: repeated warnings are counted, not printed, whatever the number of
 * keys: past the table's 256 keys, new keys are counted together with one
 * summary line at most every 10 s, and log_flush_counts reports them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Lines and the text of what fn writes to stderr. */
static int capture(void (*fn)(void), char *text, size_t cap)
{
    char path[] = "/tmp/test_log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    fn();
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, cap - 1, f);
    text[n] = '\0';
    fclose(f);
    close(fd);
    unlink(path);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    return lines;
}

static void many_keys(void)
{
    for (int i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof key, "peer: %d", i);
        log_warn_once(key, "warning from peer %d", i);
        log_warn_once(key, "again from peer %d", i);
    }
}

static void flush(void)
{
    log_flush_counts();
}

static char text[1 << 20];

static void test_bounded(void **state)
{
    (void)state;
    int lines = capture(many_keys, text, sizeof text);
    /* 256 first lines; past the table, the kind "peer" once and one summary
     * for the rest */
    assert_int_equal(lines, 258);
    assert_non_null(strstr(text, "warning from peer 255\n"));
    assert_non_null(
        strstr(text, "warning from peer 256 (past the 256-key table"));
    assert_null(strstr(text, "warning from peer 257"));
    assert_non_null(strstr(text, "counted, not printed"));
    lines = capture(flush, text, sizeof text);
    /* 256 "repeated 2 times" and the overflow's count: 2 x 744 */
    assert_int_equal(lines, 257);
    assert_non_null(strstr(
        text,
        "1488 warnings of other kinds or peers beyond the first 256 keys"));
    assert_non_null(strstr(text, "peer: 0: repeated 2 times"));
}

static void one_key(void)
{
    for (int i = 0; i < 10000; i++)
        assert_int_equal(log_warn_once("same", "the same warning"),
                         (unsigned long)i + 1);
}

static void test_repeats(void **state)
{
    (void)state;
    assert_int_equal(capture(one_key, text, sizeof text), 1);
    assert_int_equal(capture(flush, text, sizeof text), 1);
    assert_non_null(strstr(text, "same: repeated 10000 times"));
}

/* Peers that fill the key table with invented keys cannot hide another
 * kind of warning: past the table, each kind (the key up to ": ") prints
 * once per 10 s, whatever other kinds printed just before. */
static void blinding(void)
{
    for (int i = 0; i < 300; i++) {
        char key[32];
        snprintf(key, sizeof key, "reject data: peer-%d", i);
        log_warn_once(key, "rejected a message from peer %d", i);
    }
    log_warn_once("guard over_credit", "a batch over credit from actor a0");
    log_warn_once("guard rows", "rows out of bounds from actor a1");
    log_warn_once("guard rows", "rows out of bounds from actor a2");
    log_warn_once("refused hello: n_envs 1000000",
                  "refused a handshake: n_envs");
    log_warn_once("refused environment: Evil",
                  "refused a handshake: other environment");
    log_warn_once("refused environment: Evil2",
                  "refused a handshake: environment Evil2");
}

static void test_kinds_past_the_table(void **state)
{
    (void)state;
    log_flush_counts(); /* an empty table */
    capture(flush, text, sizeof text);
    capture(blinding, text, sizeof text);
    assert_non_null(strstr(text, "over credit from actor a0 (past the"));
    assert_non_null(strstr(text, "rows out of bounds from actor a1 (past the"));
    assert_null(strstr(text, "actor a2")); /* kind guard rows: 0 s ago */
    assert_non_null(strstr(text, "refused a handshake: n_envs (past"));
    assert_non_null(
        strstr(text, "refused a handshake: other environment (past"));
    assert_null(strstr(text, "Evil2")); /* kind refused environment */
    assert_non_null(strstr(text, "rejected a message from peer 256 (past"));
    assert_null(strstr(text, "from peer 257"));
    capture(flush, text, sizeof text);
}

/* A peer's stray bytes, and a character cut by the 1024-byte line limit,
 * leave the log valid UTF-8. */
static void bad_bytes(void)
{
    log_warn("actor x\xff\xfey: %s", "ok \xc3\xa9");
    char big[1100];
    memset(big, 'a', sizeof big);
    for (size_t i = 990; i + 2 < sizeof big; i += 2)
        memcpy(big + i, "\xc3\xa9", 2); /* é across the cut */
    big[sizeof big - 1] = '\0';
    log_warn("%s", big + 1); /* odd offset: the cut falls inside an é */
}

static void test_utf8(void **state)
{
    (void)state;
    capture(bad_bytes, text, sizeof text);
    assert_true(utf8_valid((const unsigned char *)text, strlen(text)));
    assert_non_null(strstr(text, "actor x??y: ok \xc3\xa9\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_repeats),
        cmocka_unit_test(test_kinds_past_the_table),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
