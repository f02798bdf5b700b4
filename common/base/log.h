/*
 * log.h - leveled logging to stderr (and optionally a file), printf-checked.
 *
 * One module so that every process formats alike: "2026-11-25T12:00:00Z W msg".
 * Repeated warnings are counted, not repeated: log_warn_once() keys on a
 * caller-chosen string and prints the first occurrence plus a count on exit
 * or on log_flush_counts().
 */
#ifndef HPO_LOG_H
#define HPO_LOG_H

#include <stdio.h>

#include "util.h"

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Messages below level are dropped. Default LOG_INFO. */
void log_set_level(log_level level);

/* Also append every message to f (not owned; NULL stops). Nullable: f. */
void log_set_file(FILE *f);

void log_msg(log_level level, const char *fmt, ...) HPO_PRINTF(2, 3);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/*
 * Warn the first time key is seen; later calls with the same key only count.
 * Past 256 distinct keys, a new key prints only when its kind has not
 * printed in the last 10 seconds. The kind is the key up to its first ": "
 * (the whole key without one): write the code's kind first and anything a
 * peer chose after ": " ("reject data bad_dims: PEER"), so that peers can
 * invent keys but not kinds; the others are counted together, with one
 * summary line at most every 10 seconds. So the log stays bounded whatever
 * the number of peers or keys, and every kind of warning still shows. Returns
 * the number of times key has been seen, this call included (for a key past the
 * table: the count of all such warnings).
 */
unsigned long log_warn_once(const char *key, const char *fmt, ...)
    HPO_PRINTF(2, 3);

/* Print "key: repeated N times" for every key seen more than once, and reset.
 */
void log_flush_counts(void);

#endif
