#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void hpo_panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static HPO_NORETURN void oom(size_t n)
{
    fprintf(stderr, "out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

float *xalloc_floats(size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p)
        oom(bytes);
    memset(p, 0, bytes);
    return p;
}

void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* fsync the directory holding path. */
static int sync_dir(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int write_file_atomic(const char *path, int (*fill)(int fd, void *ctx),
                      void *ctx, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errf(err, errlen, "file path too long: %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fill(fd, ctx) || fsync(fd)) {
        errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) || rename(tmp, path)) {
        errf(err, errlen, "cannot move %s to %s: %s", tmp, path,
             strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (sync_dir(path)) {
        errf(err, errlen, "cannot sync the directory of %s: %s", path,
             strerror(errno));
        return -1;
    }
    return 0;
}

int usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see %s --help)\n", prog);
    va_end(ap);
    return -1;
}

static volatile sig_atomic_t stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void stop_on_signals(int second_kills)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = second_kills ? SA_RESETHAND : 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int stop_requested(void)
{
    return stop_flag;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void run_stats_add(run_stats *s, double x)
{
    s->n++;
    double d = x - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (x - s->mean);
    s->min = s->n == 1 || x < s->min ? x : s->min;
    s->max = s->n == 1 || x > s->max ? x : s->max;
}

double run_stats_mean(const run_stats *s)
{
    return s->n ? s->mean : NAN;
}

double run_stats_std(const run_stats *s)
{
    return s->n ? sqrt(HPO_MAX(0.0, s->m2 / (double)s->n)) : NAN;
}

double run_stats_min(const run_stats *s)
{
    return s->n ? s->min : NAN;
}
double run_stats_max(const run_stats *s)
{
    return s->n ? s->max : NAN;
}

uint64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t crc32_update(uint32_t crc, const void *buf, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void strbuf_printf(strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        HPO_ASSERT(n >= 0);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = 2 * b->cap + (size_t)n + 1;
        b->p = xrealloc(b->p, b->cap);
    }
}

int mkdir_parents(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errf(err, errlen, "path too long: %s", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0755) && errno != EEXIST) {
            errf(err, errlen, "cannot create directory %s: %s", buf,
                 strerror(errno));
            return -1;
        }
        if (stat(buf, &st)) {
            errf(err, errlen, "cannot create directory %s: %s", buf,
                 strerror(errno));
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            errf(err, errlen,
                 "cannot create directory %s: exists and is not a directory",
                 buf);
            return -1;
        }
        *p = c;
        if (c == '\0')
            return 0;
    }
}

int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

double mem_available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = -1.0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb >= 0.0)
        return kb * 1024.0;
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : -1.0;
}

int mem_check(const char *flag, long value, double bytes, const char *what,
              char *err, size_t errlen)
{
    double avail = mem_available_bytes();
    if (avail < 0.0 || bytes <= avail)
        return 0;
    errf(err, errlen,
         "%s %ld needs %.2f GB for %s; %.2f GB are available: lower %s", flag,
         value, bytes / 1e9, what, avail / 1e9, flag);
    return -1;
}

int host_resolves(const char *host, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc || !res) {
        errf(err, errlen, "cannot resolve the learner host '%s': %s", host,
             rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    freeaddrinfo(res);
    return 0;
}

size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (!n)
        return 0;
    unsigned c = s[0];
    size_t len;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    else if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0; /* a continuation byte or 0xf8.. */
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int floats_finite(const float *x, size_t n)
{
    /* blocks of 4096, each without a branch in its loop: vectorized, and a
     * NaN early in a large state ends the scan early */
    for (size_t i = 0; i < n; i += 4096) {
        size_t m = n - i < 4096 ? n - i : 4096;
        uint32_t bad = 0;
        for (size_t j = 0; j < m; j++) {
            uint32_t u;
            memcpy(&u, &x[i + j], sizeof u);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            return 0;
    }
    return 1;
}

int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n) {
        if (!(k = utf8_seq(s + i, n - i)))
            return 0;
        i += k;
    }
    return 1;
}

void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s), i = 0, k;
    while (i < n) {
        if (!(k = utf8_seq(p + i, n - i))) {
            p[i] = '?';
            k = 1;
        }
        i += k;
    }
}

void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "-");
    else if (s >= 3600)
        snprintf(buf, n, "%.0fh%02.0fm", floor(s / 3600),
                 floor(fmod(s, 3600) / 60));
    else if (s >= 60)
        snprintf(buf, n, "%.0fm%02.0fs", floor(s / 60), floor(fmod(s, 60)));
    else
        snprintf(buf, n, "%.0fs", s);
}
