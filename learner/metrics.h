/*
 * metrics.h - hpo-learner's Prometheus endpoint (--metrics-port, docs/status.md
 * "Metrics"): GET /metrics answers the status figures in the text exposition
 * format 0.0.4.
 *
 * libmicrohttpd serves it from its own thread. That thread and the learner's
 * loop share exactly one structure: a copy of the learner_figures behind a
 * mutex. The loop copies its figures into it (metrics_update, twice a
 * second); the HTTP thread copies it out under the same mutex and formats
 * the reply from its own copy outside it. The HTTP thread never reads the
 * learner.
 */
#ifndef HPO_METRICS_H
#define HPO_METRICS_H

#include <stddef.h>

#include "figures.h"

/* Actors with per-actor series (labels from peers stay bounded); the rest
 * are counted in hpo_actors_unlisted. */
#define METRICS_MAX_ACTORS 64
/* Idle and slowloris clients cannot lock out scrapes. A new connection is
 * always accepted: past METRICS_MAX_PER_IP open from its address, that
 * address's oldest is shut down; past METRICS_MAX_OPEN open in all, the
 * oldest of all is. A scrape sends its request at once and is answered in
 * milliseconds, so only connections that hold a slot without finishing a
 * request lose it. METRICS_MAX_CONNECTIONS is libmicrohttpd's hard limit
 * (room for connections shut down but not yet reaped); a connection idle
 * METRICS_TIMEOUT_S seconds is closed. */
#define METRICS_MAX_OPEN 32
#define METRICS_MAX_PER_IP 4
#define METRICS_MAX_CONNECTIONS 64
#define METRICS_TIMEOUT_S 5

typedef struct metrics metrics;

// ---- lifecycle ----

/* Start serving on addr:port (addr "*": every interface, else a numeric IPv4
 * address). Returns the endpoint, or NULL with a message in err (bad
 * address, port taken). Caller owns the result: metrics_destroy. */
metrics *metrics_new(const char *addr, int port, char *err, size_t errlen);

/* Stop the HTTP thread and free m; sets *m to NULL. Nullable: *m. */
void metrics_destroy(metrics **m);

// ---- figures ----

/* Copy the figures f (learner_figures_fill) into the shared snapshot
 * (takes the mutex; allocates nothing). Called from the loop only. */
void metrics_update(metrics *m, const learner_figures *f);

/* The exposition text of m's current snapshot into a new string (takes the
 * mutex for a copy of the figures only); caller frees it. "" before the
 * first metrics_update. */
char *metrics_text(metrics *m);

#endif
