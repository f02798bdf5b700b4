/*
 * util.h - the three error tiers' plumbing shared by every module.
 *
 * Programmer errors abort through HPO_ASSERT with file:line; out-of-memory
 * aborts through the x*alloc wrappers with the size that failed; environment
 * errors (I/O, sockets, malformed input) are returned to the caller, with
 * detail written into an optional caller buffer through errf().
 */
#ifndef HPO_UTIL_H
#define HPO_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define HPO_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define HPO_NORETURN __attribute__((noreturn))
#else
#define HPO_PRINTF(fmt, args)
#define HPO_NORETURN
#endif

/* Abort with file:line and the failed expression. Active in every build. */
#define HPO_ASSERT(cond)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            hpo_panic(__FILE__, __LINE__, "assertion failed: %s", #cond);      \
    } while (0)

/* Print "file:line: message" to stderr and abort. */
HPO_NORETURN void hpo_panic(const char *file, int line, const char *fmt, ...)
    HPO_PRINTF(3, 4);

/* malloc/calloc/realloc that abort with the requested size on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* 64-byte aligned, zeroed allocation for float work buffers; free with free().
 */
float *xalloc_floats(size_t n);

/* Format into err (capacity errlen) when err is non-NULL. Nullable: err. */
void errf(char *err, size_t errlen, const char *fmt, ...) HPO_PRINTF(3, 4);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of buf continued from crc; start
 * with crc = 0. */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t n);

/* write(2) all n bytes, retrying on EINTR and short writes. Returns 0, or -1
 * with errno set. */
int write_full(int fd, const void *buf, size_t n);

/* Mean, population standard deviation, min and max of a stream of values
 * (Welford's update); start from {0}. */
typedef struct run_stats {
    long n;
    double mean, m2, min, max;
} run_stats;

void run_stats_add(run_stats *s, double x);

/* The figures of s; NAN when s saw no value. */
double run_stats_mean(const run_stats *s);
double run_stats_std(const run_stats *s);
double run_stats_min(const run_stats *s);
double run_stats_max(const run_stats *s);

/*
 * Write path whole or not at all: fill(fd, ctx) writes path.tmp (returning 0,
 * or -1 with errno set), which is fsync'd and renamed over path, and then
 * the directory is fsync'd so the rename survives a crash. Returns 0, or -1
 * with a message naming the file (path.tmp is removed).
 */
int write_file_atomic(const char *path, int (*fill)(int fd, void *ctx),
                      void *ctx, char *err, size_t errlen);

/* Parse all of s as a base-10 integer in [lo, hi] into *out. Returns 0, or
 * -1 (out untouched) for an empty, partial, overflowing or out-of-range s. */
int parse_long(const char *s, long lo, long hi, long *out);

/* 1 when every x[0..n) is finite (no Inf, no NaN): an integer test of the
 * exponent bits, which the compiler vectorizes (a float sum of x * 0 is one
 * chain of dependent adds). */
int floats_finite(const float *x, size_t n);

/* 1 when s (n bytes) is valid UTF-8: no stray continuation byte, no
 * overlong form, no surrogate, nothing past U+10FFFF, no truncated
 * sequence. */
int utf8_valid(const unsigned char *s, size_t n);

/* The length (1..4) of the valid UTF-8 sequence s (n bytes available)
 * starts with, 0 when it starts with none (utf8_valid's rules) or n is 0. */
size_t utf8_seq(const unsigned char *s, size_t n);

/* Make the string s valid UTF-8 in place: each byte that starts no valid
 * sequence (a stray, overlong, surrogate or cut-short one) becomes '?'. */
void utf8_scrub(char *s);

/* mkdir -p: create path (< 4096 chars) and its missing parents. Returns 0,
 * or -1 with a message naming the directory that could not be made. */
int mkdir_parents(const char *path, char *err, size_t errlen);

/* A growing text buffer: p (NUL-terminated) of len chars, cap allocated.
 * Start as {xmalloc(n), 0, n}; the caller frees p. */
typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

/* Append printf-formatted text, growing b (aborts on out of memory). */
void strbuf_printf(strbuf *b, const char *fmt, ...) HPO_PRINTF(2, 3);

/* Print "prog: <message> (see prog --help)" to stderr; returns -1. */
int usage_error(const char *prog, const char *fmt, ...) HPO_PRINTF(2, 3);

/* SIGINT and SIGTERM set the flag stop_requested() returns, so a loop can
 * finish its step and clean up; with second_kills, a second signal ends the
 * process at once. */
void stop_on_signals(int second_kills);
int stop_requested(void);

/* Monotonic wall clock in seconds. */
double now_s(void);

/* Seconds as "2h05m", "7m12s" or "41s" into buf (n bytes); "-" when s is
 * negative or not a number (an ETA not known yet). */
void fmt_duration(char *buf, size_t n, double s);

/* Bytes of memory available to a new allocation now (Linux MemAvailable,
 * else the free pages); -1 when unknown. */
double mem_available_bytes(void);

/* 0 when bytes fit the memory available now (or it is unknown); else -1
 * with "FLAG VALUE needs X GB for WHAT; Y GB are available: lower FLAG". */
int mem_check(const char *flag, long value, double bytes, const char *what,
              char *err, size_t errlen);

/* 0 when host resolves (getaddrinfo), else -1 with "cannot resolve the
 * learner host 'HOST': reason" (ZeroMQ would retry such a host forever). */
int host_resolves(const char *host, char *err, size_t errlen);

/* Calendar time (CLOCK_REALTIME) in nanoseconds since 1970: comparable across
 * processes and, with synchronized clocks, across hosts. */
uint64_t now_unix_ns(void);

#define HPO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HPO_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
