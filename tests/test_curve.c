/* curve: key files written and read back, every malformed file refused with
 * the file and the line, allow lists from a directory or a file, and the ZAP
 * handler over real TCP sockets: an allowed client's message arrives, a
 * client with another key is refused and named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "curve.h"
#include "util.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hpo_test_curveXXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static const char *path(const char *name)
{
    static char p[4][160];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_text(const char *file, const char *text)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_generate_and_read(void **state)
{
    (void)state;
    char err[512];
    curve_pair k, r;
    assert_int_equal(curve_generate(path("a"), &k, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path("a.secret"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(curve_read(path("a.secret"), 1, &r, err, sizeof err), 0);
    assert_string_equal(r.pub, k.pub);
    assert_string_equal(r.sec, k.sec);
    assert_int_equal(curve_read(path("a.public"), 0, &r, err, sizeof err), 0);
    assert_string_equal(r.pub, k.pub);
    assert_string_equal(r.sec, "");
    /* a public file where a secret one is needed */
    assert_int_equal(curve_read(path("a.public"), 1, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "no 'secret = KEY'"));
    /* never overwritten */
    assert_int_equal(curve_generate(path("a"), &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "File exists"));
    assert_int_equal(curve_read(path("a.secret"), 1, &r, err, sizeof err), 0);
    assert_string_equal(r.sec, k.sec);
}

static void test_bad_files(void **state)
{
    (void)state;
    char err[512];
    curve_pair k, other;
    assert_int_equal(curve_read(path("none"), 0, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "none"));

    write_text(path("short"), "public = abc\n");
    assert_int_equal(curve_read(path("short"), 0, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1: not a CurveZMQ key"));

    write_text(path("garbage"), "# comment\n\nkey: value\n");
    assert_int_equal(curve_read(path("garbage"), 0, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 3: expected"));

    /* 40 characters, one outside the Z85 alphabet */
    write_text(path("alpha"),
               "public = abcdefghijklmnopqrstuvwxyz01234567~9\n");
    assert_int_equal(curve_read(path("alpha"), 0, &k, err, sizeof err), -1);

    write_text(path("empty"), "# nothing\n");
    assert_int_equal(curve_read(path("empty"), 0, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "no 'public = KEY'"));

    /* a public line that is not the secret key's */
    assert_int_equal(curve_generate(path("b"), &k, err, sizeof err), 0);
    assert_int_equal(curve_generate(path("c"), &other, err, sizeof err), 0);
    char text[256];
    snprintf(text, sizeof text, "public = %s\nsecret = %s\n", other.pub, k.sec);
    write_text(path("mixed"), text);
    assert_int_equal(curve_read(path("mixed"), 1, &k, err, sizeof err), -1);
    assert_non_null(strstr(err, "not the secret key's"));
}

static void test_allow_lists(void **state)
{
    (void)state;
    char err[512];
    curve_pair k1, k2;
    char d[160];
    snprintf(d, sizeof d, "%s/allow", dir);
    assert_int_equal(mkdir(d, 0755), 0);
    curve_allow *a = xcalloc(1, sizeof *a);
    assert_int_equal(curve_allow_load(d, a, err, sizeof err), -1);
    assert_non_null(strstr(err, "has no keys"));
    assert_int_equal(curve_generate(path("allow/x"), &k1, err, sizeof err), 0);
    assert_int_equal(curve_generate(path("allow/y"), &k2, err, sizeof err), 0);
    /* the .secret files in the directory are not read: only *.public */
    assert_int_equal(curve_allow_load(d, a, err, sizeof err), 2);
    char text[256];
    snprintf(text, sizeof text, "# two keys\npublic = %s\n\npublic = %s\n",
             k1.pub, k2.pub);
    write_text(path("list"), text);
    assert_int_equal(curve_allow_load(path("list"), a, err, sizeof err), 2);
    write_text(path("badlist"), "public = nope\n");
    assert_int_equal(curve_allow_load(path("badlist"), a, err, sizeof err), -1);
    assert_non_null(strstr(err, "badlist line 1"));
    assert_int_equal(curve_allow_load(path("missing"), a, err, sizeof err), -1);
    free(a);
}

/* Serve ZAP and receive on srv until a message arrives or 2 s pass; the ZAP
 * verdicts are counted into *in and *out. Returns 1 when a message came. */
static int pump(void *zap, void *srv, const curve_allow *a, int *in, int *out,
                char *who, size_t wholen)
{
    double t0 = now_s();
    while (now_s() - t0 < 2.0) {
        zmq_pollitem_t it[2] = {{zap, 0, ZMQ_POLLIN, 0},
                                {srv, 0, ZMQ_POLLIN, 0}};
        zmq_poll(it, 2, 20);
        int r;
        while ((r = curve_zap_handle(zap, a, who, wholen)) > 0)
            (r == 1 ? (*in)++ : (*out)++);
        char buf[64];
        if (zmq_recv(srv, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
            return 1;
    }
    return 0;
}

static void test_zap_over_tcp(void **state)
{
    (void)state;
    char err[512];
    curve_pair server, good, bad;
    assert_int_equal(curve_generate(path("srv"), &server, err, sizeof err), 0);
    assert_int_equal(curve_generate(path("good"), &good, err, sizeof err), 0);
    assert_int_equal(curve_generate(path("bad"), &bad, err, sizeof err), 0);
    curve_allow *a = xcalloc(1, sizeof *a);
    assert_int_equal(curve_allow_load(path("good.public"), a, err, sizeof err),
                     1);

    void *ctx = zmq_ctx_new();
    void *zap = curve_zap_open(ctx, err, sizeof err);
    assert_non_null(zap);
    void *srv = zmq_socket(ctx, ZMQ_PULL);
    assert_int_equal(curve_server(srv, &server, err, sizeof err), 0);
    assert_int_equal(zmq_bind(srv, "tcp://127.0.0.1:*"), 0);
    char ep[128];
    size_t len = sizeof ep;
    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &len);
    int zero = 0, in = 0, out = 0;
    char who[128] = "";

    void *c = zmq_socket(ctx, ZMQ_PUSH);
    zmq_setsockopt(c, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(curve_client(c, server.pub, &good, err, sizeof err), 0);
    assert_int_equal(zmq_connect(c, ep), 0);
    zmq_send(c, "hello", 5, 0);
    assert_int_equal(pump(zap, srv, a, &in, &out, who, sizeof who), 1);
    assert_int_equal(in, 1);
    assert_int_equal(out, 0);
    zmq_close(c);

    c = zmq_socket(ctx, ZMQ_PUSH);
    zmq_setsockopt(c, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(curve_client(c, server.pub, &bad, err, sizeof err), 0);
    assert_int_equal(zmq_connect(c, ep), 0);
    zmq_send(c, "intruder", 8, ZMQ_DONTWAIT);
    assert_int_equal(pump(zap, srv, a, &in, &out, who, sizeof who), 0);
    assert_true(out >= 1);
    assert_non_null(strstr(who, bad.pub));
    assert_non_null(strstr(who, "127.0.0.1"));
    zmq_close(c);

    zmq_close(srv);
    zmq_close(zap);
    zmq_ctx_term(ctx);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_read),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_allow_lists),
        cmocka_unit_test(test_zap_over_tcp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
