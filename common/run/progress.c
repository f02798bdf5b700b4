/*
 * progress.c - progress.csv's columns, its row writer and the rewrite of a
 * resumed file into the current schema (progress.h).
 */
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

// ---- the columns ----

typedef enum { INT, REAL, WALL } cell_kind;

static const struct {
    const char *name;
    cell_kind kind;
} columns[PROGRESS_COLS] = {
    [PROGRESS_ENV_STEPS] = {"env_steps", INT},
    [PROGRESS_UPDATES] = {"updates", INT},
    [PROGRESS_EPISODE_RETURN] = {"episode_return", REAL},
    [PROGRESS_EVAL_RETURN] = {"eval_return", REAL},
    [PROGRESS_EVAL_STD] = {"eval_std", REAL},
    [PROGRESS_Q_LOSS] = {"q_loss", REAL},
    [PROGRESS_PI_LOSS] = {"pi_loss", REAL},
    [PROGRESS_ALPHA] = {"alpha", REAL},
    [PROGRESS_LOGP] = {"logp", REAL},
    [PROGRESS_HD_DIST] = {"hd_dist", REAL},
    [PROGRESS_GATE] = {"gate", REAL},
    [PROGRESS_Q_MEAN] = {"q_mean", REAL},
    [PROGRESS_UPDATES_PER_S] = {"updates_per_s", REAL},
    [PROGRESS_WALL_S] = {"wall_s", WALL},
    [PROGRESS_STEPS_PER_S] = {"steps_per_s", REAL},
    [PROGRESS_REPLAY_RATIO] = {"replay_ratio", REAL},
    [PROGRESS_REPLAY_SIZE] = {"replay_size", INT},
    [PROGRESS_ACTORS] = {"actors", INT},
    [PROGRESS_PARAM_VERSION] = {"param_version", INT},
    [PROGRESS_RECENT_RETURN_STD] = {"recent_return_std", REAL},
    [PROGRESS_RECENT_RETURN_MIN] = {"recent_return_min", REAL},
    [PROGRESS_RECENT_RETURN_MAX] = {"recent_return_max", REAL},
    [PROGRESS_EPISODES] = {"episodes", INT},
};

/* Names older builds wrote, read as today's column. */
static const struct {
    const char *name;
    progress_col col;
} old_names[] = {
    {"recent_return", PROGRESS_EPISODE_RETURN}, /* hpo-learner before 2026-12 */
};

const char *progress_column_name(progress_col c)
{
    HPO_ASSERT((unsigned)c < PROGRESS_COLS);
    return columns[c].name;
}

int progress_column_find(const char *name)
{
    for (int c = 0; c < PROGRESS_COLS; c++)
        if (!strcmp(columns[c].name, name))
            return c;
    for (size_t i = 0; i < sizeof old_names / sizeof old_names[0]; i++)
        if (!strcmp(old_names[i].name, name))
            return (int)old_names[i].col;
    return -1;
}

// ---- writing ----

void progress_row_clear(progress_row *r)
{
    for (int c = 0; c < PROGRESS_COLS; c++)
        r->v[c] = NAN;
}

static int write_header(FILE *f)
{
    for (int c = 0; c < PROGRESS_COLS; c++)
        if (fputs(columns[c].name, f) < 0 ||
            fputc(c + 1 < PROGRESS_COLS ? ',' : '\n', f) == EOF)
            return -1;
    return 0;
}

int progress_write_row(FILE *f, const progress_row *r)
{
    static const char *const fmt[] = {
        [INT] = "%.0f", [REAL] = "%.7g", [WALL] = "%.3f"};
    for (int c = 0; c < PROGRESS_COLS; c++) {
        if (!isnan(r->v[c]))
            fprintf(f, fmt[columns[c].kind], r->v[c]);
        fputc(c + 1 < PROGRESS_COLS ? ',' : '\n', f);
    }
    if (fflush(f) || ferror(f))
        return -1;
    return 0;
}

// ---- reading back (resume) ----

/* Split line (its '\n' removed) at ',' in place: at most max cells into
 * cell[]. Returns the number of cells, or max + 1 when there are more. */
static int split(char *line, char **cell, int max)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n == max)
            return max + 1;
        cell[n++] = p;
        p = strchr(p, ',');
        if (!p)
            return n;
        *p = '\0';
    }
}

/* One line of in into buf, its '\n' removed. Returns 1 for a whole line,
 * 0 at the end (a last line without '\n' is dropped: a row cut by a crash),
 * -1 for a line past PROGRESS_LINE_MAX. */
static int read_line(FILE *in, char *buf)
{
    if (!fgets(buf, PROGRESS_LINE_MAX, in))
        return 0;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n') {
        buf[n - 1] = '\0';
        return 1;
    }
    return feof(in) ? 0 : -1;
}

/* The header of in: map[i] = the column of the file's cell i. Returns the
 * number of cells, 0 for an empty file, or -1 with a message. */
static int read_header(FILE *in, const char *path, int *map, char *err,
                       size_t errlen)
{
    char line[PROGRESS_LINE_MAX], *cell[PROGRESS_IN_COLS_MAX];
    int r = read_line(in, line);
    if (r <= 0) {
        if (r < 0)
            errf(
                err, errlen,
                "%s: header longer than %d bytes: not a progress.csv; move it away to start the file afresh",
                path, PROGRESS_LINE_MAX - 1);
        return r;
    }
    int n = split(line, cell, PROGRESS_IN_COLS_MAX), seen[PROGRESS_COLS] = {0};
    if (n > PROGRESS_IN_COLS_MAX) {
        errf(
            err, errlen,
            "%s: header has more than %d columns: not a progress.csv; move it away to start the file afresh",
            path, PROGRESS_IN_COLS_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        map[i] = progress_column_find(cell[i]);
        if (map[i] < 0 || seen[map[i]]++) {
            errf(
                err, errlen,
                "%s: header column %d '%.64s' is %s of progress.csv's (docs/status.md); move the file away to start it afresh",
                path, i + 1, cell[i],
                map[i] < 0 ? "not one" : "a repeat of one");
            return -1;
        }
    }
    if (!seen[PROGRESS_ENV_STEPS]) {
        errf(
            err, errlen,
            "%s: no env_steps column in its header; move the file away to start it afresh",
            path);
        return -1;
    }
    return n;
}

/* Copy the rows of in (after its header) into out in the current schema,
 * up to max_env_steps; the last kept into *last. Returns 0 or -1 with a
 * message. */
static int copy_rows(FILE *in, FILE *out, const char *path, const int *map,
                     int n_in, double max_env_steps, progress_row *last,
                     char *err, size_t errlen)
{
    char line[PROGRESS_LINE_MAX], *cell[PROGRESS_IN_COLS_MAX];
    for (long ln = 2;; ln++) {
        int r = read_line(in, line);
        if (r == 0)
            return 0;
        if (r < 0) {
            errf(
                err, errlen,
                "%s: line %ld longer than %d bytes; repair or move the file away",
                path, ln, PROGRESS_LINE_MAX - 1);
            return -1;
        }
        int n = split(line, cell, PROGRESS_IN_COLS_MAX);
        if (n != n_in) {
            errf(
                err, errlen,
                "%s: line %ld has %s%d cells, its header %d; repair or move the file away",
                path, ln, n > PROGRESS_IN_COLS_MAX ? "more than " : "",
                HPO_MIN(n, PROGRESS_IN_COLS_MAX), n_in);
            return -1;
        }
        progress_row row;
        const char *text[PROGRESS_COLS];
        progress_row_clear(&row);
        for (int c = 0; c < PROGRESS_COLS; c++)
            text[c] = "";
        for (int i = 0; i < n; i++) {
            char *end;
            text[map[i]] = cell[i];
            if (!cell[i][0])
                continue;
            row.v[map[i]] = strtod(cell[i], &end);
            if (*end) {
                errf(
                    err, errlen,
                    "%s: line %ld, column %s: '%.32s' is not a number; repair or move the file away",
                    path, ln, progress_column_name((progress_col)map[i]),
                    cell[i]);
                return -1;
            }
        }
        if (isnan(row.v[PROGRESS_ENV_STEPS])) {
            errf(err, errlen,
                 "%s: line %ld has no env_steps; repair or move the file away",
                 path, ln);
            return -1;
        }
        if (max_env_steps >= 0 && row.v[PROGRESS_ENV_STEPS] > max_env_steps)
            continue;
        for (int c = 0; c < PROGRESS_COLS; c++)
            fprintf(out, "%s%c", text[c], c + 1 < PROGRESS_COLS ? ',' : '\n');
        if (last)
            *last = row;
    }
}

/* Rewrite path's rows into the current schema through path.tmp. */
static int rewrite(const char *path, double max_env_steps, progress_row *last,
                   char *err, size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errf(err, errlen, "path too long: %s", path);
        return -1;
    }
    FILE *in = fopen(path, "r");
    if (!in && errno != ENOENT) {
        errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int map[PROGRESS_IN_COLS_MAX];
    int n_in = in ? read_header(in, path, map, err, errlen) : 0;
    if (n_in < 0)
        goto out_close_in;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto out_close_in;
    }
    if (write_header(out)) {
        errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out_remove_tmp;
    }
    if (n_in > 0 &&
        copy_rows(in, out, path, map, n_in, max_env_steps, last, err, errlen))
        goto out_remove_tmp;
    if (in && ferror(in)) {
        errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out_remove_tmp;
    }
    int bad = ferror(out);
    if (fclose(out) || bad) {
        out = NULL;
        errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out_remove_tmp;
    }
    if (rename(tmp, path)) {
        errf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
             strerror(errno));
        out = NULL;
        goto out_remove_tmp;
    }
    if (in)
        fclose(in);
    return 0;

out_remove_tmp:
    if (out)
        fclose(out);
    remove(tmp);
out_close_in:
    if (in)
        fclose(in);
    return -1;
}

FILE *progress_open(const char *path, int resume, double max_env_steps,
                    progress_row *last, char *err, size_t errlen)
{
    if (last)
        progress_row_clear(last);
    if (resume) {
        if (rewrite(path, max_env_steps, last, err, errlen))
            return NULL;
        FILE *f = fopen(path, "a");
        if (!f)
            errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return f;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return NULL;
    }
    if (write_header(f) || fflush(f)) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    return f;
}
