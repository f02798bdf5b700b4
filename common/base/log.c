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
    int in_table = i < n_seen;
    if (in_table) {
        count = ++seen[i].count;
    } else {
        /* the table is full: count, and summarize now and then */
        count = ++overflow_total;
        overflow_unprinted++;
        time_t now = time(NULL);
        if (now - overflow_printed >= LOG_OVERFLOW_S) {
            suppressed = overflow_unprinted;
            overflow_unprinted = 0;
            overflow_printed = now;
        }
    }
    pthread_mutex_unlock(&log_lock);
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
    unsigned long over = overflow_total;
    overflow_total = overflow_unprinted = 0;
    pthread_mutex_unlock(&log_lock);
    if (over)
        log_msg(
            LOG_WARN,
            "%lu warnings of other kinds or peers beyond the first %d counted, not printed",
            over, LOG_MAX_KEYS);
    for (int i = 0; i < n; i++)
        if (seen[i].count > 1)
            log_msg(LOG_WARN, "%s: repeated %lu times", seen[i].key,
                    seen[i].count);
}
