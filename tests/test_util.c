/* util: CRC-32 against the standard check value; write_full to a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_write_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
