#include "curve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "util.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

static int z85_ok(const char *s)
{
    static const char alphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(s) != CURVE_KEY_TEXT - 1)
        return 0;
    for (const char *p = s; *p; p++)
        if (!strchr(alphabet, *p))
            return 0;
    uint8_t raw[32];
    return zmq_z85_decode(raw, s) != NULL;
}

/* "name = value" with optional spaces; the value up to white space. */
static int key_line(const char *line, const char *name, char *val)
{
    size_t n = strlen(name);
    while (*line == ' ' || *line == '\t')
        line++;
    if (strncmp(line, name, n))
        return 0;
    line += n;
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line++ != '=')
        return 0;
    while (*line == ' ' || *line == '\t')
        line++;
    size_t k = strcspn(line, " \t\r\n");
    if (k >= CURVE_KEY_TEXT) {
        memcpy(val, line, CURVE_KEY_TEXT - 1);
        val[CURVE_KEY_TEXT - 1] = '\0';
        return -1;
    }
    memcpy(val, line, k);
    val[k] = '\0';
    return 1;
}

/* Call fn on every line of path that is not blank or a comment, until one
 * returns nonzero; returns that, or -1 when the file cannot be read. */
static int each_line(const char *path,
                     int (*fn)(void *ctx, const char *line, int no,
                               const char *path, char *err, size_t errlen),
                     void *ctx, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[256];
    int no = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        no++;
        const char *p = line + strspn(line, " \t");
        if (*p != '#' && *p != '\n' && *p != '\0')
            rc = fn(ctx, p, no, path, err, errlen);
    }
    fclose(f);
    return rc;
}

/* A key file's line: its public or its secret key. */
static int pair_line(void *ctx, const char *p, int no, const char *path,
                     char *err, size_t errlen)
{
    curve_pair *k = ctx;
    char *dst = NULL;
    int r = key_line(p, "public", k->pub);
    if (r)
        dst = k->pub;
    else if ((r = key_line(p, "secret", k->sec)))
        dst = k->sec;
    if (!dst) {
        errf(err, errlen,
             "%s line %d: expected 'public = KEY' or 'secret = KEY'", path, no);
        return -1;
    }
    if (r < 0 || !z85_ok(dst)) {
        errf(
            err, errlen,
            "%s line %d: not a CurveZMQ key (40 Z85 characters); make keys with hpo-keygen",
            path, no);
        return -1;
    }
    return 0;
}

int curve_read(const char *path, int need_secret, curve_pair *k, char *err,
               size_t errlen)
{
    memset(k, 0, sizeof *k);
    if (each_line(path, pair_line, k, err, errlen))
        return -1;
    if (!k->pub[0]) {
        errf(err, errlen, "%s: no 'public = KEY' line", path);
        return -1;
    }
    if (need_secret && !k->sec[0]) {
        errf(
            err, errlen,
            "%s: no 'secret = KEY' line (a .public file where the .secret one is needed?)",
            path);
        return -1;
    }
    if (k->sec[0]) {
        char derived[CURVE_KEY_TEXT];
        if (zmq_curve_public(derived, k->sec) || strcmp(derived, k->pub)) {
            errf(err, errlen, "%s: the public key is not the secret key's",
                 path);
            return -1;
        }
    }
    return 0;
}

static int write_key(const char *path, mode_t mode, const char *text, char *err,
                     size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        errf(err, errlen, "cannot create %s: %s%s", path, strerror(errno),
             errno == EEXIST ? " (remove it to make a new key)" : "");
        return -1;
    }
    size_t n = strlen(text);
    if (write_full(fd, text, n) || fsync(fd)) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd)) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int curve_generate(const char *prefix, curve_pair *k, char *err, size_t errlen)
{
    if (zmq_curve_keypair(k->pub, k->sec)) {
        errf(err, errlen, "zmq_curve_keypair: %s (libzmq without CURVE?)",
             zmq_strerror(errno));
        return -1;
    }
    char path[4096], text[256];
    snprintf(text, sizeof text,
             "# hpo CurveZMQ key pair: keep this file private\n"
             "public = %s\nsecret = %s\n",
             k->pub, k->sec);
    if ((size_t)snprintf(path, sizeof path, "%s.secret", prefix) >=
        sizeof path) {
        errf(err, errlen, "key path %s too long", prefix);
        return -1;
    }
    if (write_key(path, 0600, text, err, errlen))
        return -1;
    snprintf(text, sizeof text, "# hpo CurveZMQ public key\npublic = %s\n",
             k->pub);
    snprintf(path, sizeof path, "%s.public", prefix);
    return write_key(path, 0644, text, err, errlen);
}

static int allow_add(curve_allow *a, const char *pub, const char *from,
                     char *err, size_t errlen)
{
    if (a->n == CURVE_MAX_ALLOWED) {
        errf(err, errlen, "%s: more than %d allowed keys", from,
             CURVE_MAX_ALLOWED);
        return -1;
    }
    zmq_z85_decode(a->key[a->n++], pub);
    return 0;
}

/* An allow list's line: a public key (a .secret file's secret line is
 * skipped, its public line counts). */
static int allow_line(void *ctx, const char *p, int no, const char *path,
                      char *err, size_t errlen)
{
    char key[CURVE_KEY_TEXT];
    int r = key_line(p, "public", key);
    if (!r && key_line(p, "secret", key))
        return 0;
    if (r != 1 || !z85_ok(key)) {
        errf(err, errlen,
             "%s line %d: expected 'public = KEY' (40 Z85 characters)", path,
             no);
        return -1;
    }
    return allow_add(ctx, key, path, err, errlen);
}

int curve_allow_load(const char *path, curve_allow *a, char *err, size_t errlen)
{
    a->n = 0;
    struct stat st;
    if (stat(path, &st)) {
        errf(err, errlen, "cannot read allow list %s: %s", path,
             strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (each_line(path, allow_line, a, err, errlen))
            return -1;
    } else {
        DIR *d = opendir(path);
        if (!d) {
            errf(err, errlen, "cannot read directory %s: %s", path,
                 strerror(errno));
            return -1;
        }
        struct dirent *e;
        int rc = 0;
        while (!rc && (e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n <= 7 || strcmp(e->d_name + n - 7, ".public"))
                continue;
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            rc = each_line(file, allow_line, a, err, errlen);
        }
        closedir(d);
        if (rc)
            return -1;
    }
    if (!a->n) {
        errf(
            err, errlen,
            "allow list %s has no keys (a directory of *.public files, or a file of 'public = KEY' lines)",
            path);
        return -1;
    }
    return a->n;
}

int curve_server(void *sock, const curve_pair *k, char *err, size_t errlen)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->sec, 40)) {
        errf(err, errlen, "CURVE server option: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int curve_client(void *sock, const char *server_pub, const curve_pair *k,
                 char *err, size_t errlen)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, 40) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->pub, 40) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->sec, 40)) {
        errf(err, errlen, "CURVE client option: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

void *curve_zap_open(void *ctx, char *err, size_t errlen)
{
    void *z = zmq_socket(ctx, ZMQ_REP);
    if (!z || zmq_bind(z, ZAP_ENDPOINT)) {
        errf(err, errlen, "cannot start the ZAP handler: %s",
             zmq_strerror(errno));
        if (z)
            zmq_close(z);
        return NULL;
    }
    return z;
}

int curve_zap_handle(void *zap, const curve_allow *a, char *who, size_t wholen)
{
    /* request: version, request id, domain, address, routing id,
     * mechanism, credentials (CURVE: the client's 32-byte public key) */
    enum { FRAMES = 7 };
    char f[FRAMES][64];
    size_t len[FRAMES];
    int n = 0, more = 1;
    while (more) {
        char buf[256];
        int r = zmq_recv(zap, buf, sizeof buf, n ? 0 : ZMQ_DONTWAIT);
        if (r < 0)
            return n ? -1 : 0;
        if (n < FRAMES) {
            len[n] = HPO_MIN((size_t)r, sizeof f[n]);
            memcpy(f[n], buf, len[n]);
        }
        n++;
        size_t sz = sizeof more;
        zmq_getsockopt(zap, ZMQ_RCVMORE, &more, &sz);
    }
    int ok = 0;
    char key[CURVE_KEY_TEXT] = "?";
    if (n == FRAMES && len[5] == 5 && !memcmp(f[5], "CURVE", 5) &&
        len[6] == 32) {
        zmq_z85_encode(key, (const uint8_t *)f[6], 32);
        for (int i = 0; i < a->n && !ok; i++)
            ok = !memcmp(a->key[i], f[6], 32);
    }
    char addr[64] = "";
    if (n >= 4)
        snprintf(addr, sizeof addr, "%.*s", (int)HPO_MIN(len[3], 63), f[3]);
    if (!ok)
        snprintf(who, wholen, "%s from %s", key, addr);
    const char *code = ok ? "200" : "400";
    const char *text = ok ? "OK" : "key not allowed";
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap, f[1], n > 1 ? len[1] : 0, ZMQ_SNDMORE);
    zmq_send(zap, code, 3, ZMQ_SNDMORE);
    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap, ok ? key : "", ok ? strlen(key) : 0, ZMQ_SNDMORE);
    zmq_send(zap, "", 0, 0);
    return ok ? 1 : 2;
}
