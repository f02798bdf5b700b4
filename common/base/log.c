#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define LOG_MAX_KEYS 256
#define LOG_KEY_LEN 96

static log_level min_level = LOG_INFO;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    char key[LOG_KEY_LEN];
    unsigned long count;
} seen[LOG_MAX_KEYS];
static int n_seen;
/* warnings of keys beyond the table: counted, one summary line at most
 * every LOG_OVERFLOW_S seconds */
#define LOG_OVERFLOW_S 10
static unsigned long overflow_total, overflow_unprinted;
static time_t overflow_printed;
/* A key's kind is the key up to its first ": " (the whole key without
 * one): the code writes a kind, then what came from a peer ("reject data
 * bad_dims: PEER", "guard rows"). Past the key table, each kind still
 * prints one warning per LOG_OVERFLOW_S, so peers that invent keys cannot
 * hide a kind of warning they never sent. */
#define LOG_MAX_KINDS 128
#define LOG_KIND_LEN LOG_KEY_LEN
static struct {
    char kind[LOG_KIND_LEN];
    time_t printed;
} kinds[LOG_MAX_KINDS];
static int n_kinds;

/* 1 when key's kind may print now (it has not in the last LOG_OVERFLOW_S),
 * and marks it printed. Called with log_lock held. */
static int kind_may_print(const char *key, time_t now)
{
    char kind[LOG_KIND_LEN];
    const char *sep = strstr(key, ": ");
    size_t n = sep ? (size_t)(sep - key) : strlen(key);
    if (n >= sizeof kind)
        n = sizeof kind - 1;
    memcpy(kind, key, n);
    kind[n] = '\0';
    int i;
    for (i = 0; i < n_kinds; i++)
        if (!strcmp(kinds[i].kind, kind))
            break;
    if (i == n_kinds) {
        if (n_kinds == LOG_MAX_KINDS)
            return 0; /* past the kinds too: the summary line only */
        snprintf(kinds[i].kind, sizeof kinds[i].kind, "%s", kind);
        kinds[i].printed = now - LOG_OVERFLOW_S;
        n_kinds++;
    }
    if (now - kinds[i].printed < LOG_OVERFLOW_S)
        return 0;
    kinds[i].printed = now;
    return 1;
}

void log_set_level(log_level level)
{
    min_level = level;
}

void log_set_file(FILE *f)
{
    log_file = f;
}

static void vlog(log_level level, const char *fmt, va_list ap)
{
    static const char tag[] = "DIWE";
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);

    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    utf8_scrub(msg); /* peers' bytes, or a character cut at the end */
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s %c %s\n", stamp, tag[level], msg);
    if (log_file) {
        fprintf(log_file, "%s %c %s\n", stamp, tag[level], msg);
        fflush(log_file);
    }
    pthread_mutex_unlock(&log_lock);
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

unsigned long log_warn_once(const char *key, const char *fmt, ...)
{
    unsigned long count = 0;
    int i;
    pthread_mutex_lock(&log_lock);
    for (i = 0; i < n_seen; i++)
        if (strcmp(seen[i].key, key) == 0)
            break;
    if (i == n_seen && n_seen < LOG_MAX_KEYS) {
        snprintf(seen[i].key, LOG_KEY_LEN, "%s", key);
        seen[i].count = 0;
        n_seen++;
    }
    unsigned long suppressed = 0;
    int in_table = i < n_seen, by_kind = 0;
    if (in_table) {
        count = ++seen[i].count;
    } else {
        /* the table is full: a kind not printed lately prints; the rest
         * are counted and summarized now and then */
        count = ++overflow_total;
        time_t now = time(NULL);
        by_kind = kind_may_print(key, now);
        if (!by_kind)
            overflow_unprinted++;
        if (now - overflow_printed >= LOG_OVERFLOW_S && overflow_unprinted) {
            suppressed = overflow_unprinted;
            overflow_unprinted = 0;
            overflow_printed = now;
        }
    }
    pthread_mutex_unlock(&log_lock);
    if (by_kind && LOG_WARN >= min_level) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_msg(LOG_WARN,
                "%s (past the %d-key table: one warning of this kind per %d s)",
                msg, LOG_MAX_KEYS, LOG_OVERFLOW_S);
    }
    if (!in_table) {
        if (suppressed)
            log_msg(
                LOG_WARN,
                "%lu warnings of other kinds or peers counted, not printed, in the last %d s (%lu in all; the last: %s)",
                suppressed, LOG_OVERFLOW_S, overflow_total, key);
        return count;
    }
    if (count <= 1 && LOG_WARN >= min_level) {
        va_list ap;
        va_start(ap, fmt);
        vlog(LOG_WARN, fmt, ap);
        va_end(ap);
    }
    return count;
}

void log_flush_counts(void)
{
    pthread_mutex_lock(&log_lock);
    int n = n_seen;
    n_seen = 0;
    n_kinds = 0;
    unsigned long over = overflow_total;
    overflow_total = overflow_unprinted = 0;
    overflow_printed = 0;
    pthread_mutex_unlock(&log_lock);
    if (over)
        log_msg(
            LOG_WARN,
            "%lu warnings of other kinds or peers beyond the first %d keys counted (one of each kind per %d s printed)",
            over, LOG_MAX_KEYS, LOG_OVERFLOW_S);
    for (int i = 0; i < n; i++)
        if (seen[i].count > 1)
            log_msg(LOG_WARN, "%s: repeated %lu times", seen[i].key,
                    seen[i].count);
}
