/*
 * progress.h - progress.csv, the learning curve of a run directory: one
 * schema for hpo-train and hpo-learner (bench/torch_sac.py writes it too),
 * defined here once and documented in docs/status.md, "progress.csv".
 *
 * A file is a header line of column names, then one row per line, cells
 * separated by ',' with no quoting (every cell is a number). An empty cell is
 * a figure the writing program does not have at that row (hpo-train leaves
 * the learner's columns empty, an evaluation row leaves the losses empty).
 * The names are the contract, not the order: every reader finds a column by
 * its header name, and files of older builds (hpo-train's 14 columns,
 * hpo-learner's `recent_return` for today's `episode_return`) stay readable.
 *
 * Writers: progress_open (a new file, or a resumed one rewritten into this
 * schema), then progress_write_row per row. Numbers print as integers for
 * counts, with 3 decimals for wall_s, and with 7 significant digits
 * otherwise.
 */
#ifndef HPO_PROGRESS_H
#define HPO_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#define PROGRESS_LINE_MAX 4096  /* longest line read back, with '\n' */
#define PROGRESS_IN_COLS_MAX 64 /* most columns in a header read back */

// ---- the columns ----

/* In file order. Append-only in spirit: names never change meaning. */
typedef enum progress_col {
    PROGRESS_ENV_STEPS,      /* transitions taken (hpo-train) or ingested */
    PROGRESS_UPDATES,        /* SAC-HPO updates done */
    PROGRESS_EPISODE_RETURN, /* hpo-train: the training episode ending at
                                this row; hpo-learner: mean of the last
                                (up to 20) (was recent_return) */
    PROGRESS_EVAL_RETURN,    /* mean deterministic evaluation return */
    PROGRESS_EVAL_STD,       /* its population std */
    PROGRESS_Q_LOSS,         /* critics' loss (sum of both MSE) */
    PROGRESS_PI_LOSS,
    PROGRESS_ALPHA,
    PROGRESS_LOGP,
    PROGRESS_HD_DIST, /* mean ||aK - a0|| */
    PROGRESS_GATE,    /* mean sigma_h gate */
    PROGRESS_Q_MEAN,  /* mean Q1 on the batch */
    PROGRESS_UPDATES_PER_S,
    PROGRESS_WALL_S,            /* seconds since the run began (continues
                                   across a resume) */
    PROGRESS_STEPS_PER_S,       /* hpo-learner: env steps/s, last window */
    PROGRESS_REPLAY_RATIO,      /* updates / (env_steps - learning_starts) */
    PROGRESS_REPLAY_SIZE,       /* rows in the replay buffer */
    PROGRESS_ACTORS,            /* hpo-learner: connected actors */
    PROGRESS_PARAM_VERSION,     /* hpo-learner: newest snapshot */
    PROGRESS_RECENT_RETURN_STD, /* hpo-learner: spread of the episodes */
    PROGRESS_RECENT_RETURN_MIN, /*   whose mean episode_return is */
    PROGRESS_RECENT_RETURN_MAX,
    PROGRESS_EPISODES, /* training episodes finished */
    PROGRESS_COLS
} progress_col;

/* One row: a value per column, NAN for an empty cell. */
typedef struct progress_row {
    double v[PROGRESS_COLS];
} progress_row;

/* The header name of column c ("env_steps", ...). */
const char *progress_column_name(progress_col c);

/* The column named name, also under an older name ("recent_return"), or -1. */
int progress_column_find(const char *name);

// ---- writing ----

/* Every cell of r empty (NAN). */
void progress_row_clear(progress_row *r);

/* One row of r to f, flushed. Returns 0, or -1 with errno set. */
int progress_write_row(FILE *f, const progress_row *r);

/*
 * progress.csv at path, open for appending rows. Fresh (resume 0): created
 * or truncated, the header written. Resumed (resume 1): the rows already
 * there are kept, read by header name and rewritten into this schema (a
 * missing file starts fresh); with max_env_steps >= 0 only the rows with
 * env_steps <= max_env_steps (those before a checkpoint), and a last line
 * without its '\n' (a row cut by a crash) is dropped. Nullable last receives
 * the last kept row (every cell NAN when none).
 *
 * Returns the stream (caller fcloses), or NULL with a message in err naming
 * the file, the line and what to do: on I/O errors, a line past
 * PROGRESS_LINE_MAX, a header with an unknown or repeated column or past
 * PROGRESS_IN_COLS_MAX columns, a row whose cells do not match its header or
 * are not numbers, or no env_steps column.
 */
FILE *progress_open(const char *path, int resume, double max_env_steps,
                    progress_row *last, char *err, size_t errlen);

#endif
