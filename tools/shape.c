/*
 * shape.c - hpo-shape: the shape of a policy at one state (the paper's
 * Figure 8).
 *
 *   hpo-shape CHECKPOINT|RUN_DIR [--obs FILE | --from-replay N] [--dims i,j]
 *             [--samples N] [--seed S] [--size WxH] [--dump FILE] -o FILE.png
 *
 * For one state s it draws N samples of each of three actions, all from the
 * same base samples a0 = tanh(mu + std xi):
 *   - a0 itself, the base policy's action;
 *   - aK = clip(HD_tr(s, a0, rho0)), rho0 ~ N(0, std_tr^2): the action the
 *     policy loss scores (the mode's optimization leapfrog; a0 in modes
 *     without one);
 *   - clip(HD_exp(s, a0, rho0)), rho0 ~ N(0, std_exp^2): what the actor sends
 *     to the environment (sac_act itself, the actor's code).
 * Each set is drawn in action dimensions i, j as points and as the contours
 * of its kernel density holding 50% and 90% of the samples, over the filled
 * contours of min(Q1, Q2)(s, a) on a grid over [-1, 1]^2 in dims i, j with
 * the other dimensions held at aK's mean. Every number comes from the
 * library's functions (sac_act, hd_forward, hd_qmin) with the checkpoint's
 * configuration and temperature; the drawing is gnuplot's (pngcairo).
 *
 * A run directory stands for its newest valid checkpoint-<n>.ckpt.
 * The state: the training environment's first observation (reset seeded
 * with the run's seed, as hpo-train does), or --obs FILE (obs_dim numbers),
 * or --from-replay N (row N of the replay buffer saved in the checkpoint,
 * 0 = the oldest held). The noise comes from (S, RNG_STREAM_ACT), S the
 * run's seed unless --seed is given. stdout receives one line per set with
 * its mean and standard deviation in dims i, j and its mean Qmin; --dump
 * FILE writes every sample (all action dimensions) as CSV.
 *
 * Exit status: 0 done, 1 unreadable or refused file or gnuplot failure
 * (naming the path), 2 bad command line or a value out of range.
 */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "nn.h"
#include "env.h"
#include "hd.h"
#include "rng.h"
#include "sac.h"
#include "util.h"

#define PROG "hpo-shape"
#define MAX_SAMPLES 20000
#define QG 161   /* Q grid points per axis over [-1, 1] */
#define KG 121   /* density grid points per axis over [-1, 1] */
#define BOX 1.08 /* plot box [-BOX, BOX]^2 */
#define OBS_FILE_MAX (1 << 20)
#define CHUNK 2048 /* rows per network batch (bounds the workspaces) */

enum { SET_A0, SET_AK, SET_EXP, N_SETS };
static const char *const set_name[N_SETS] = {"a0", "aK", "explore"};

#define SHAPE_PATH_LEN 4096

typedef struct options {
    const char *ckpt;                  /* the positional argument */
    const char *out, *obs_file, *dump; /* NULL: not given (the arrays) */
    char out_arg[SHAPE_PATH_LEN], obs_arg[SHAPE_PATH_LEN];
    char dump_arg[SHAPE_PATH_LEN], dims_arg[48], size_arg[48];
    long replay_row; /* -1: not given */
    long di, dj;
    long samples;
    int has_seed;
    uint64_t seed;
    long width, height;
} options;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " CHECKPOINT [--obs FILE | --from-replay N] [--dims i,j]\n"
        "       [--samples N] [--seed S] [--size WxH] [--dump FILE] -o FILE.png\n"
        "\n"
        "Draw, for one state, the density of the base policy's action "
        "a0, of the\n"
        "HD-refined action aK (momentum std_tr) and of the exploration "
        "action\n"
        "(momentum std_exp) in two action dimensions, over the "
        "contours of\n"
        "min(Q1, Q2) (the paper's Figure 8). CHECKPOINT is a "
        "checkpoint-*.ckpt\n"
        "or a run directory (its newest valid checkpoint).\n"
        "\n"
        "  --obs FILE        the state: obs_dim numbers (whitespace or "
        "commas)\n"
        "  --from-replay N   the state: row N of the checkpoint's replay "
        "buffer\n"
        "                    (0 = oldest; needs hpo-train "
        "--checkpoint-replay)\n"
        "                    default: the first observation after reset "
        "with the\n"
        "                    run's seed\n"
        "  --dims i,j        action dimensions drawn (default 0,1)\n"
        "  --samples N       samples per set, 10 to %d (default 1000)\n"
        "  --seed S          noise seed (default: the run's seed)\n"
        "  --size WxH        PNG size in pixels (default 1500x560)\n"
        "  --dump FILE       every sample as CSV: set,row,qmin,a_0,...\n"
        "  -o FILE.png       the output (needs gnuplot, Debian's gnuplot-nox)\n",
        MAX_SAMPLES);
}

/* "i,j" into two longs. Returns 0, or -1 when v is not two integers. */
static int parse_dims(const char *v, long *i, long *j)
{
    const char *c = strchr(v, ',');
    if (!c || c == v || strlen(v) > 40)
        return -1;
    char a[48];
    memcpy(a, v, (size_t)(c - v));
    a[c - v] = 0;
    return parse_long(a, -1000000, 1000000, i) ||
                   parse_long(c + 1, -1000000, 1000000, j)
               ? -1
               : 0;
}

#define O(f) offsetof(options, f)
static const opt_spec own[] = {
    {"output", OPT_TEXT, O(out_arg), SHAPE_PATH_LEN, 0, 0, NULL},
    {"obs", OPT_TEXT, O(obs_arg), SHAPE_PATH_LEN, 0, 0, NULL},
    {"dump", OPT_TEXT, O(dump_arg), SHAPE_PATH_LEN, 0, 0, NULL},
    {"from-replay", OPT_LONG, O(replay_row), 0, 0, 1e12,
     "bad value '%s' for --from-replay (a row number, 0 or more)"},
    {"dims", OPT_TEXT, O(dims_arg), 48, 0, 0,
     "bad value '%s' for --dims (two action dimensions i,j, e.g. 0,1)"},
    {"samples", OPT_LONG, O(samples), 0, 10, MAX_SAMPLES,
     "bad value '%s' for --samples (10 to 20000)"},
    {"seed", OPT_U64, O(seed), 0, 0, 0,
     "bad value '%s' for --seed (0 to 18446744073709551615)"},
    {"size", OPT_TEXT, O(size_arg), 48, 0, 0,
     "bad value '%s' for --size (WxH, W 600 to 8000, H 240 to 8000)"},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O
_Static_assert(MAX_SAMPLES == 20000, "--samples' message names the bound");

/* --size WxH into o's width and height. Returns 0, or -1. */
static int parse_size(const char *v, options *o)
{
    char w[32], h[32];
    const char *x = strchr(v, 'x');
    if (!x || x == v || (size_t)(x - v) >= sizeof w ||
        strlen(x + 1) >= sizeof h)
        return -1;
    memcpy(w, v, (size_t)(x - v));
    w[x - v] = 0;
    snprintf(h, sizeof h, "%s", x + 1);
    return parse_long(w, 600, 8000, &o->width) ||
                   parse_long(h, 240, 8000, &o->height)
               ? -1
               : 0;
}

/* Returns 0, 1 after --help, or -1 after printing the error. */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->replay_row = -1;
    o->di = 0;
    o->dj = 1;
    o->samples = 1000;
    o->width = 1500;
    o->height = 560;
    /* -o is --output's short name */
    char **args = xcalloc((size_t)argc + 1, sizeof *args);
    for (int i = 0; i < argc; i++)
        args[i] = strcmp(argv[i], "-o") ? argv[i] : "--output";
    config_args a;
    char err[SHAPE_PATH_LEN + 128];
    int rc = config_args_table(&a, argc, args, own, 0, 1, o, err, sizeof err);
    if (rc == 0) {
        o->ckpt = a.n_pos ? a.pos[0] : NULL;
        o->has_seed = config_args_given(&a, "seed");
    }
    config_args_release(&a);
    free(args);
    if (rc == 1) {
        usage(stdout);
        return 1;
    }
    if (rc < 0)
        return usage_error(PROG, "%s", err);
    o->out = o->out_arg[0] ? o->out_arg : NULL;
    o->obs_file = o->obs_arg[0] ? o->obs_arg : NULL;
    o->dump = o->dump_arg[0] ? o->dump_arg : NULL;
    if (o->dims_arg[0] && parse_dims(o->dims_arg, &o->di, &o->dj))
        return usage_error(
            PROG,
            "bad value '%s' for --dims (two action dimensions i,j, e.g. 0,1)",
            o->dims_arg);
    if (o->size_arg[0] && parse_size(o->size_arg, o))
        return usage_error(
            PROG,
            "bad value '%s' for --size (WxH, W 600 to 8000, H 240 to 8000)",
            o->size_arg);
    if (!o->ckpt)
        return usage_error(PROG, "%s", "no checkpoint given");
    if (!o->out)
        return usage_error(PROG, "%s", "no output file (-o FILE.png)");
    if (o->obs_file && o->replay_row >= 0)
        return usage_error(
            PROG, "%s",
            "--obs and --from-replay both name the state: give one");
    return 0;
}

// ---- the state ----

/* obs_dim numbers from path (whitespace or commas between them). Returns 0,
 * or -1 with a message naming the file. */
static int read_obs_file(const char *path, float *obs, int obs_dim, char *err,
                         size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = xmalloc(OBS_FILE_MAX + 1);
    size_t n = fread(text, 1, OBS_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc = -1;
    if (bad) {
        errf(err, errlen, "cannot read %s", path);
        goto out;
    }
    if (n > OBS_FILE_MAX) {
        errf(err, errlen, "%s: longer than %d bytes for %d numbers", path,
             OBS_FILE_MAX, obs_dim);
        goto out;
    }
    text[n] = 0;
    int k = 0;
    for (char *tok = strtok(text, " \t\r\n,"); tok;
         tok = strtok(NULL, " \t\r\n,")) {
        char *end;
        errno = 0;
        float v = strtof(tok, &end);
        if (errno || *end || !isfinite(v)) {
            errf(err, errlen, "%s: '%.32s' (number %d) is not a finite number",
                 path, tok, k + 1);
            goto out;
        }
        if (k == obs_dim) {
            errf(err, errlen,
                 "%s: more than %d numbers: the observation has %d", path,
                 obs_dim, obs_dim);
            goto out;
        }
        obs[k++] = v;
    }
    if (k != obs_dim) {
        errf(err, errlen, "%s: %d numbers, the observation has %d", path, k,
             obs_dim);
        goto out;
    }
    rc = 0;
out:
    free(text);
    return rc;
}

// ---- densities ----

/* Gaussian kernel density (KG, KG) of the n points (x[r], y[r]) in
 * [-1, 1]^2 on the grid g (KG, over [-1, 1]) in both axes, Scott's bandwidth
 * per axis (floor 0.02), each kernel reflected at -1 and 1 so that the mass
 * of clipped actions stays inside the box. With ex (n, KG) and ey (n, KG)
 * the kernel factors, dens = ey^T ex: one sgemm. */
static void kde(float *dens, const float *x, const float *y, int n,
                const float *g, float *ex, float *ey)
{
    const float *v[2] = {x, y};
    float *e[2] = {ex, ey};
    double hw[2];
    for (int a = 0; a < 2; a++) {
        double m = 0.0, s2 = 0.0;
        for (int r = 0; r < n; r++)
            m += v[a][r];
        m /= n;
        for (int r = 0; r < n; r++)
            s2 += (v[a][r] - m) * (v[a][r] - m);
        hw[a] = HPO_MAX(sqrt(s2 / n) * pow(n, -1.0 / 6.0), 0.02);
        for (int r = 0; r < n; r++)
            for (int k = 0; k < KG; k++) {
                double z0 = (g[k] - v[a][r]) / hw[a];
                double z1 = (g[k] - (2.0 - v[a][r])) / hw[a];
                double z2 = (g[k] - (-2.0 - v[a][r])) / hw[a];
                e[a][(size_t)r * KG + k] =
                    (float)(exp(-0.5 * z0 * z0) + exp(-0.5 * z1 * z1) +
                            exp(-0.5 * z2 * z2));
            }
    }
    float scale = (float)(1.0 / (n * 2.0 * M_PI * hw[0] * hw[1]));
    /* dens (KG_y, KG_x) = ey^T (KG, n) ex (n, KG) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KG, KG, n, scale, ey,
                KG, ex, KG, 0.0f, dens, KG);
}

/* dens at (x, y) by bilinear interpolation on the grid g. */
static double dens_at(const float *dens, const float *g, double x, double y)
{
    double step = g[1] - g[0];
    double fx = (x - g[0]) / step, fy = (y - g[0]) / step;
    int ix = (int)HPO_MIN(HPO_MAX(floor(fx), 0), KG - 2);
    int iy = (int)HPO_MIN(HPO_MAX(floor(fy), 0), KG - 2);
    double tx = HPO_MIN(HPO_MAX(fx - ix, 0), 1),
           ty = HPO_MIN(HPO_MAX(fy - iy, 0), 1);
    const float *r0 = dens + (size_t)iy * KG, *r1 = r0 + KG;
    return (1 - ty) * ((1 - tx) * r0[ix] + tx * r0[ix + 1]) +
           ty * ((1 - tx) * r1[ix] + tx * r1[ix + 1]);
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The density levels whose upper sets hold the fractions mass[0..m) of the
 * samples (highest-density regions): the density at the samples, sorted. */
static void hdr_levels(double *level, const double *mass, int m,
                       const float *dens, const float *g, const float *x,
                       const float *y, int n)
{
    double *d = xmalloc((size_t)n * sizeof *d);
    for (int r = 0; r < n; r++)
        d[r] = dens_at(dens, g, x[r], y[r]);
    qsort(d, (size_t)n, sizeof *d, cmp_desc);
    for (int k = 0; k < m; k++) {
        long i = (long)ceil(mass[k] * n) - 1;
        level[k] = d[HPO_MIN(HPO_MAX(i, 0), n - 1)];
    }
    free(d);
}

// ---- files ----

/* Write text (len bytes) to path. Returns 0, or -1 with a message. */
static int write_text(const char *path, const char *text, size_t len, char *err,
                      size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(text, 1, len, f);
    int bad = ferror(f) || w != len;
    if (fclose(f) || bad) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

typedef struct copy_ctx {
    int src;
} copy_ctx;

static int copy_fill(int fd, void *ctx)
{
    copy_ctx *c = ctx;
    char buf[65536];
    for (;;) {
        ssize_t n = read(c->src, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (write_full(fd, buf, (size_t)n))
            return -1;
    }
}

/* Copy src over dst whole or not at all. Returns 0, or -1 with a message. */
static int install_file(const char *src, const char *dst, char *err,
                        size_t errlen)
{
    copy_ctx c = {.src = open(src, O_RDONLY)};
    if (c.src < 0) {
        errf(err, errlen, "cannot open %s: %s", src, strerror(errno));
        return -1;
    }
    int rc = write_file_atomic(dst, copy_fill, &c, err, errlen);
    close(c.src);
    return rc;
}

/* A gnuplot single-quoted string: '' stands for '. */
static void gp_str(strbuf *b, const char *s)
{
    strbuf_printf(b, "'");
    for (; *s; s++)
        strbuf_printf(b, *s == '\'' ? "''" : "%c", *s);
    strbuf_printf(b, "'");
}

/* A gnuplot double-quoted string: backslash, quote and newline escaped. */
static void gp_dq(strbuf *b, const char *s)
{
    strbuf_printf(b, "\"");
    for (; *s; s++) {
        if (*s == '\n')
            strbuf_printf(b, "\\n");
        else
            strbuf_printf(b, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    }
    strbuf_printf(b, "\"");
}

/* Run gnuplot on script, its stderr into errpath. Returns 0, or -1 with a
 * message (gnuplot missing, or its failure and first error line). */
static int run_gnuplot(const char *script, const char *errpath, char *err,
                       size_t errlen)
{
    pid_t pid = fork();
    if (pid < 0) {
        errf(err, errlen, "cannot start gnuplot: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_RDWR);
        if (fd >= 0)
            dup2(fd, 2);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
        }
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            errf(err, errlen, "waiting for gnuplot: %s", strerror(errno));
            return -1;
        }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        errf(err, errlen,
             "gnuplot not found: install gnuplot-nox (deploy/setup)");
        return -1;
    }
    char line[512] = "";
    FILE *f = fopen(errpath, "r");
    if (f) {
        char l[512];
        while (fgets(l, sizeof l, f)) /* the last '"FILE" line N: why' */
            if (strstr(l, "\" line ") || (!line[0] && l[0] != '\n'))
                snprintf(line, sizeof line, "%s", l);
        fclose(f);
    }
    line[strcspn(line, "\n")] = 0;
    errf(err, errlen, "gnuplot failed (%s %d): %s",
         WIFEXITED(st) ? "exit" : "signal",
         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), line);
    return -1;
}

// ---- the figure ----

typedef struct figure {
    int n, da, di, dj;
    const float *act[N_SETS];  /* (n, da) each */
    const float *qs[N_SETS];   /* (n) Qmin of each sample */
    const float *qgrid;        /* (QG, QG) Qmin, row = dj, column = di */
    double level[N_SETS][2];   /* 50%, 90% density levels */
    const float *dens[N_SETS]; /* (KG, KG) */
    const float *g;            /* (KG) density grid */
    float qlo, qhi;
    char title[1024];
    double std_tr, std_exp;
    int no_hd_opt, no_hd_exp; /* the mode has no such leapfrog */
    const char *mode;
    long width, height;
} figure;

static double mean_of(const float *q, int n)
{
    double s = 0.0;
    for (int r = 0; r < n; r++)
        s += q[r];
    return s / n;
}

/* The data files and the script in dir. Returns 0, or -1 with a message. */
static int write_plot(const figure *fg, const char *dir, char *err,
                      size_t errlen)
{
    char path[4200];
    strbuf b = {xmalloc(1 << 16), 0, 1 << 16};
    int rc = -1;
    /* Q grid, x fastest, a blank line after each row (gnuplot grid) */
    b.len = 0;
    b.p[0] = 0;
    for (int r = 0; r < QG; r++) {
        for (int c = 0; c < QG; c++)
            strbuf_printf(&b, "%.5f %.5f %.6g\n", -1.0 + 2.0 * c / (QG - 1),
                          -1.0 + 2.0 * r / (QG - 1),
                          fg->qgrid[(size_t)r * QG + c]);
        strbuf_printf(&b, "\n");
    }
    snprintf(path, sizeof path, "%s/q.dat", dir);
    if (write_text(path, b.p, b.len, err, errlen))
        goto out;
    int best = 0;
    for (int k = 1; k < QG * QG; k++)
        if (fg->qgrid[k] > fg->qgrid[best])
            best = k;
    b.len = 0;
    strbuf_printf(&b, "%.5f %.5f\n", -1.0 + 2.0 * (best % QG) / (QG - 1),
                  -1.0 + 2.0 * (best / QG) / (QG - 1));
    snprintf(path, sizeof path, "%s/qmax.dat", dir);
    if (write_text(path, b.p, b.len, err, errlen))
        goto out;
    for (int s = 0; s < N_SETS; s++) {
        b.len = 0;
        for (int r = 0; r < KG; r++) {
            for (int c = 0; c < KG; c++)
                strbuf_printf(&b, "%.5f %.5f %.6g\n", fg->g[c], fg->g[r],
                              fg->dens[s][(size_t)r * KG + c]);
            strbuf_printf(&b, "\n");
        }
        snprintf(path, sizeof path, "%s/kde_%s.dat", dir, set_name[s]);
        if (write_text(path, b.p, b.len, err, errlen))
            goto out;
        b.len = 0;
        for (int r = 0; r < fg->n; r++)
            strbuf_printf(&b, "%.6f %.6f\n",
                          fg->act[s][(size_t)r * fg->da + fg->di],
                          fg->act[s][(size_t)r * fg->da + fg->dj]);
        snprintf(path, sizeof path, "%s/pts_%s.dat", dir, set_name[s]);
        if (write_text(path, b.p, b.len, err, errlen))
            goto out;
    }

    /* the script: contour tables first, then three panels */
    b.len = 0;
    strbuf_printf(&b, "set encoding utf8\ncd ");
    gp_str(&b, dir);
    strbuf_printf(&b, "\nset view map\nunset surface\nset contour base\n"
                      "set cntrparam bspline\n");
    for (int s = 0; s < N_SETS; s++)
        for (int k = 0; k < 2; k++)
            strbuf_printf(&b,
                          "set cntrparam levels discrete %.9g\n"
                          "set table 'c_%s_%d.dat'\n"
                          "splot 'kde_%s.dat' using 1:2:3 with lines\n"
                          "unset table\n",
                          fg->level[s][k], set_name[s], k, set_name[s]);
    strbuf_printf(&b, "set cntrparam levels auto 12\nset cntrparam linear\n"
                      "set table 'c_q.dat'\nsplot 'q.dat' using 1:2:3 with "
                      "lines\nunset table\nunset contour\n");
    strbuf_printf(
        &b,
        "set terminal pngcairo size %ld,%ld enhanced font 'Sans,10' fontscale %.3f\nset output 'shape.png'\n",
        fg->width, fg->height,
        HPO_MIN(HPO_MAX(HPO_MIN(fg->width / 1500.0, fg->height / 560.0), 0.5),
                3.0));
    strbuf_printf(&b, "set multiplot layout 1,3 title ");
    gp_dq(&b, fg->title);
    strbuf_printf(
        &b,
        " noenhanced font 'Sans,12' margins 0.045,0.915,0.17,0.80 spacing 0.045,0\n");
    strbuf_printf(
        &b,
        "set size ratio -1\nset xrange [%g:%g]\nset yrange [%g:%g]\n"
        "set xtics 0.5\nset ytics 0.5\nset xlabel 'action dimension %d'\n"
        "set ylabel 'action dimension %d' offset 1,0\n"
        "set palette defined (0 '#f7fcf5', 1 '#d9f0d3', 2 "
        "'#a6dba0', 3 '#5aae61', 4 '#1b7837') maxcolors 12\n"
        "set cbrange [%.6g:%.6g]\nunset colorbox\n"
        "set key below horizontal samplen 1.5 spacing 1 font ',9'\nset object 1 rectangle from -1,-1 to 1,1 front fillstyle empty border lc rgb '#606060' dt 3 lw 1\n",
        -BOX, BOX, -BOX, BOX, fg->di, fg->dj, fg->qlo,
        fg->qhi > fg->qlo ? fg->qhi : fg->qlo + 1e-3f);
    /* contour colours, darker than the points' (RRGGBB), and the points'
     * transparency (gnuplot's AA: 0 opaque, 255 invisible) growing with n
     * so that dense sets stay a cloud, not a blot */
    static const char *const color[N_SETS] = {"#0b2a66", "#7a0a17", "#8a4200"};
    static const char *const pcolor[N_SETS] = {"2f6fd6", "e0283c", "f08a1c"};
    int aa = 255 - (int)lround(0x90 * fmin(1.0, sqrt(1000.0 / fg->n)));
    for (int s = 0; s < N_SETS; s++) {
        if (s == N_SETS - 1)
            strbuf_printf(
                &b,
                "set colorbox user origin 0.93,0.17 size 0.012,0.63\nset cblabel 'min(Q_1, Q_2)(s, a)'\n");
        if (s == SET_A0)
            strbuf_printf(&b,
                          "set title \"base policy a_0 = tanh(μ + σ·ξ)\\n"
                          "mean Q_{min} = %.4g\" font ',11'\n",
                          mean_of(fg->qs[s], fg->n));
        else if (s == SET_AK && fg->no_hd_opt)
            strbuf_printf(
                &b,
                "set title \"a_K = a_0: mode %s has no leapfrog in its policy loss\\nmean Q_{min} = %.4g\" font ',11'\n",
                fg->mode, mean_of(fg->qs[s], fg->n));
        else if (s == SET_EXP && fg->no_hd_exp)
            strbuf_printf(
                &b,
                "set title \"exploration = a_0: mode %s explores without a leapfrog\\nmean Q_{min} = %.4g\" font ',11'\n",
                fg->mode, mean_of(fg->qs[s], fg->n));
        else if (s == SET_AK)
            strbuf_printf(
                &b,
                "set title \"HD-refined a_K = clip(HD_{tr}(s, a_0, ρ_0)), std_{tr} = %g\\nmean Q_{min} = %.4g\" font ',11'\n",
                fg->std_tr, mean_of(fg->qs[s], fg->n));
        else
            strbuf_printf(
                &b,
                "set title \"exploration clip(HD_{exp}(s, a_0, ρ_0)), std_{exp} = %g\\nmean Q_{min} = %.4g\" font ',11'\n",
                fg->std_exp, mean_of(fg->qs[s], fg->n));
        /* contours over a white halo, so they read over the points */
        strbuf_printf(
            &b,
            "plot 'q.dat' using 1:2:3 with image notitle, 'c_q.dat' using 1:2 with lines lc rgb '#b0ffffff' lw 0.8 notitle, 'pts_%s.dat' using 1:2 with points pt 7 ps 0.3 lc rgb '#%02x%s' title '%d samples', 'c_%s_1.dat' using 1:2 with lines lc rgb 'white' lw 3.5 notitle, 'c_%s_0.dat' using 1:2 with lines lc rgb 'white' lw 5 notitle, ",
            set_name[s], aa, pcolor[s], fg->n, set_name[s], set_name[s]);
        if (s != SET_A0)
            strbuf_printf(
                &b,
                "'c_a0_0.dat' using 1:2 with lines lc rgb 'white' lw 3.5 notitle, 'c_a0_0.dat' using 1:2 with lines lc rgb '%s' lw 1.5 title 'a_0 50%% region', ",
                color[SET_A0]);
        strbuf_printf(
            &b,
            "'c_%s_1.dat' using 1:2 with lines lc rgb '%s' lw 1.2 title '90%% region', 'c_%s_0.dat' using 1:2 with lines lc rgb '%s' lw 3 title '50%% region', 'qmax.dat' using 1:2 with points pt 1 ps 2.5 lw 2 lc rgb 'black' title 'max Q_{min} on the grid'\n",
            set_name[s], color[s], set_name[s], color[s]);
    }
    strbuf_printf(&b, "unset multiplot\nset output\n");
    snprintf(path, sizeof path, "%s/shape.gp", dir);
    if (write_text(path, b.p, b.len, err, errlen))
        goto out;
    rc = 0;
out:
    free(b.p);
    return rc;
}

// ---- the computation ----

/* Everything computed at the state, with the agent that computed it. */
typedef struct shape {
    int n, ds, da, di, dj;
    hpo_config cfg;
    sac *agent;
    float alpha;
    hd_ws ws;                /* batches up to CHUNK */
    float *obs;              /* (CHUNK, ds) the state, repeated */
    float *act[N_SETS];      /* (n, da) a0, aK, exploration */
    float *qs[N_SETS];       /* (n) Qmin of each sample */
    float *rho;              /* (n, da) training momentum */
    float *agrid, *qgrid;    /* (QG^2, da) grid actions, (QG^2) their Qmin */
    float *dens[N_SETS];     /* (KG, KG) densities in dims di, dj */
    float *g;                /* (KG) density grid over [-1, 1] */
    double level[N_SETS][2]; /* 50% and 90% density levels */
    float *buf;              /* owns every array above but obs */
} shape;

static void shape_release(shape *sh)
{
    if (sh->agent)
        hd_ws_release(&sh->ws);
    sac_destroy(&sh->agent);
    free(sh->obs);
    free(sh->buf);
}

/* path, a checkpoint or a run directory (its newest valid checkpoint),
 * verified into info. Returns 0, or -1 with a message naming the file. */
static int open_checkpoint(const char *path, ckpt_info *info, char *err,
                           size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return ckpt_find_latest(path, NULL, info, err, errlen);
    return ckpt_open(path, info, err, errlen);
}

/* The --dims and --from-replay values against the checkpoint. Returns 0, 1
 * with a message in err (no replay saved), or 2 after printing what is
 * wrong and the valid range. */
static int check_request(const options *o, const ckpt_info *info, char *err,
                         size_t errlen)
{
    int da = info->act_dim;
    if (o->di < 0 || o->di >= da || o->dj < 0 || o->dj >= da) {
        fprintf(
            stderr,
            PROG
            ": --dims %ld,%ld: dimension %ld out of range: %s has %d action dimensions (0 to %d)\n",
            o->di, o->dj, o->di < 0 || o->di >= da ? o->di : o->dj,
            info->cfg.env, da, da - 1);
        return 2;
    }
    if (o->di == o->dj) {
        fprintf(
            stderr,
            PROG
            ": --dims %ld,%ld: the two dimensions must differ (each 0 to %d)\n",
            o->di, o->dj, da - 1);
        return 2;
    }
    if (o->replay_row >= 0 && !info->has_replay) {
        errf(
            err, errlen,
            "%s: holds no replay buffer for --from-replay (train with --checkpoint-replay, or give --obs FILE)",
            info->path);
        return 1;
    }
    if (o->replay_row >= 0 && (uint64_t)o->replay_row >= info->replay_n) {
        fprintf(stderr,
                PROG ": --from-replay %ld out of range: %s holds %" PRIu64
                     " replay rows (0 to %" PRIu64 ")\n",
                o->replay_row, info->path, info->replay_n,
                info->replay_n ? info->replay_n - 1 : 0);
        return 2;
    }
    return 0;
}

/* The state into obs (obs_dim) and its description into source. Returns 0,
 * or -1 with a message naming the file. */
static int read_state(const options *o, const ckpt_info *info, float *obs,
                      char *source, size_t slen, char *err, size_t errlen)
{
    if (o->obs_file) {
        snprintf(source, slen, "state from %s", o->obs_file);
        return read_obs_file(o->obs_file, obs, info->obs_dim, err, errlen);
    }
    if (o->replay_row >= 0) {
        snprintf(source, slen, "state: replay row %ld of %" PRIu64,
                 o->replay_row, info->replay_n);
        return ckpt_read_replay_obs(info, (uint64_t)o->replay_row, obs, err,
                                    errlen);
    }
    /* hpo-train's first reset: env_seed(seed), then env_reset */
    env *e = env_new(info->cfg.env, NULL, err, errlen);
    if (!e)
        return -1;
    int rc = 0;
    if (e->cls->obs_dim != info->obs_dim || e->cls->act_dim != info->act_dim) {
        errf(err, errlen,
             "%s: obs %d act %d, but environment %s has obs %d act %d",
             info->path, info->obs_dim, info->act_dim, info->cfg.env,
             e->cls->obs_dim, e->cls->act_dim);
        rc = -1;
    } else {
        env_seed(e, info->cfg.seed);
        env_reset(e, obs);
        snprintf(source, slen,
                 "state: first observation after reset, seed %" PRIu64,
                 info->cfg.seed);
    }
    env_destroy(&e);
    return rc;
}

/* The agent of the checkpoint, the state repeated and every array. Returns
 * 0, or -1 with a message. */
static int shape_init(shape *sh, const options *o, const ckpt_info *info,
                      const float *state, char *err, size_t errlen)
{
    memset(sh, 0, sizeof *sh);
    int n = (int)o->samples, ds = info->obs_dim, da = info->act_dim;
    int rows = CHUNK;
    sh->n = n;
    sh->ds = ds;
    sh->da = da;
    sh->di = (int)o->di;
    sh->dj = (int)o->dj;
    sh->cfg = info->cfg;
    sh->obs = xalloc_floats((size_t)rows * ds);
    for (int r = 0; r < rows; r++)
        memcpy(sh->obs + (size_t)r * ds, state, (size_t)ds * sizeof(float));
    size_t nda = (size_t)n * da, gq = QG * QG, kk = KG * KG;
    float *p = sh->buf =
        xalloc_floats(N_SETS * (nda + n + kk) + nda + gq * (da + 1) + KG);
    for (int s = 0; s < N_SETS; s++) {
        sh->act[s] = p + s * nda;
        sh->qs[s] = p + N_SETS * nda + s * n;
        sh->dens[s] = p + N_SETS * (nda + n) + s * kk;
    }
    p += N_SETS * (nda + n + kk);
    sh->rho = p;
    sh->agrid = p + nda;
    sh->qgrid = sh->agrid + gq * da;
    sh->g = sh->qgrid + gq;
    for (int k = 0; k < KG; k++)
        sh->g[k] = (float)(-1.0 + 2.0 * k / (KG - 1));
    sh->agent = sac_new(&sh->cfg, ds, da, HPO_MIN(n, CHUNK), 0);
    hd_ws_init(&sh->ws, &sh->agent->nets, rows, sh->cfg.K, 0);
    if (ckpt_restore_weights(info, sh->agent, err, errlen))
        return -1;
    sh->alpha = sac_alpha(sh->agent);
    return 0;
}

/*
 * The three sets from one draw of base actions: a0 and the exploration
 * action are sac_act's (the actor's call), aK the policy loss's leapfrog
 * (hd_opt, momentum std_tr) on the same a0, clipped; then Qmin of each.
 * In batches of CHUNK rows, the noise drawn batch by batch.
 */
static void sample_sets(shape *sh, uint64_t seed)
{
    sac *a = sh->agent;
    int da = sh->da;
    rng r;
    rng_init(&r, seed, RNG_STREAM_ACT);
    for (int off = 0; off < sh->n; off += CHUNK) {
        int m = HPO_MIN(CHUNK, sh->n - off);
        size_t o = (size_t)off * da, mda = (size_t)m * da;
        float *a0 = sh->act[SET_A0] + o, *aK = sh->act[SET_AK] + o;
        sac_act(a, &a->act, sh->obs, m, 0, &r, sh->act[SET_EXP] + o, NULL);
        memcpy(a0, a->act.a0, mda * sizeof(float));
        if (a->hd_opt.kind != HD_NONE) {
            rng_normal_fill(&r, sh->rho, mda, sh->cfg.std_tr);
            hd_forward(&sh->ws, &a->nets, a->params, &a->hd_opt, sh->alpha,
                       sh->obs, a0, sh->rho, aK, NULL, m);
            for (size_t k = 0; k < mda; k++)
                aK[k] = fminf(fmaxf(aK[k], -1.0f), 1.0f);
        } else {
            memcpy(aK, a0, mda * sizeof(float));
        }
        for (int s = 0; s < N_SETS; s++)
            hd_qmin(&sh->ws, &a->nets, a->params, sh->obs, sh->act[s] + o,
                    sh->qs[s] + off, m);
    }
}

/* Qmin on the QG x QG grid over [-1, 1]^2 in dims di (columns), dj (rows),
 * the other dimensions at aK's mean. */
static void q_on_grid(shape *sh)
{
    int da = sh->da, gq = QG * QG;
    float hold[HPO_MAX_ACT];
    for (int k = 0; k < da; k++) {
        double m = 0.0;
        for (int q = 0; q < sh->n; q++)
            m += sh->act[SET_AK][(size_t)q * da + k];
        hold[k] = (float)(m / sh->n);
    }
    for (int row = 0; row < QG; row++)
        for (int c = 0; c < QG; c++) {
            float *a = sh->agrid + ((size_t)row * QG + c) * da;
            memcpy(a, hold, (size_t)da * sizeof(float));
            a[sh->di] = (float)(-1.0 + 2.0 * c / (QG - 1));
            a[sh->dj] = (float)(-1.0 + 2.0 * row / (QG - 1));
        }
    for (int off = 0; off < gq; off += CHUNK)
        hd_qmin(&sh->ws, &sh->agent->nets, sh->agent->params, sh->obs,
                sh->agrid + (size_t)off * da, sh->qgrid + off,
                HPO_MIN(CHUNK, gq - off));
}

/* Each set's density in dims di, dj, its 50% / 90% levels, and one stdout
 * line of its figures. */
static void densities(shape *sh)
{
    int n = sh->n, da = sh->da;
    float *xs = xalloc_floats((size_t)n), *ys = xalloc_floats((size_t)n);
    float *ex = xalloc_floats((size_t)n * KG),
          *ey = xalloc_floats((size_t)n * KG);
    static const double mass[2] = {0.5, 0.9};
    for (int s = 0; s < N_SETS; s++) {
        run_stats sx = {0}, sy = {0};
        for (int q = 0; q < n; q++) {
            xs[q] = sh->act[s][(size_t)q * da + sh->di];
            ys[q] = sh->act[s][(size_t)q * da + sh->dj];
            run_stats_add(&sx, xs[q]);
            run_stats_add(&sy, ys[q]);
        }
        kde(sh->dens[s], xs, ys, n, sh->g, ex, ey);
        hdr_levels(sh->level[s], mass, 2, sh->dens[s], sh->g, xs, ys, n);
        printf(
            "set=%s mean_%d=%.4f mean_%d=%.4f std_%d=%.4f std_%d=%.4f qmin_mean=%.4f\n",
            set_name[s], sh->di, run_stats_mean(&sx), sh->dj,
            run_stats_mean(&sy), sh->di, run_stats_std(&sx), sh->dj,
            run_stats_std(&sy), mean_of(sh->qs[s], n));
    }
    free(xs);
    free(ys);
    free(ex);
    free(ey);
}

/* Every sample as CSV: a comment line with the settings, then
 * set,row,qmin,a_0..a_{da-1}. Returns 0, or -1 with a message. */
static int write_dump(const char *path, const shape *sh, int64_t updates,
                      char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    const hpo_config *c = &sh->cfg;
    fprintf(
        f,
        "# %s mode %s updates %" PRId64
        " std_tr %g std_exp %g K %d eps %g alpha %.6g dims %d,%d\nset,row,qmin",
        c->env, mode_name(c->mode), updates, c->std_tr, c->std_exp, c->K,
        c->eps, sh->alpha, sh->di, sh->dj);
    for (int k = 0; k < sh->da; k++)
        fprintf(f, ",a_%d", k);
    fputc('\n', f);
    for (int s = 0; s < N_SETS; s++)
        for (int q = 0; q < sh->n; q++) {
            fprintf(f, "%s,%d,%.9g", set_name[s], q, sh->qs[s][q]);
            for (int k = 0; k < sh->da; k++)
                fprintf(f, ",%.9g", sh->act[s][(size_t)q * sh->da + k]);
            fputc('\n', f);
        }
    int bad = ferror(f);
    if (fclose(f) || bad) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Draw fg with gnuplot in a temporary directory, then install the PNG as
 * out (whole or not at all). Returns 0, or -1 with a message. */
static int render(const figure *fg, const char *out, char *err, size_t errlen)
{
    static const char *const files[] = {
        "q.dat",           "qmax.dat",       "c_q.dat",    "shape.gp",
        "gnuplot.err",     "shape.png",      "kde_a0.dat", "kde_aK.dat",
        "kde_explore.dat", "pts_a0.dat",     "pts_aK.dat", "pts_explore.dat",
        "c_a0_0.dat",      "c_a0_1.dat",     "c_aK_0.dat", "c_aK_1.dat",
        "c_explore_0.dat", "c_explore_1.dat"};
    const char *tmp = getenv("TMPDIR");
    char dir[4096], script[4200], gerr[4200], png[4200];
    snprintf(dir, sizeof dir, "%s/hpo-shape.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        errf(err, errlen, "cannot create a directory %s: %s", dir,
             strerror(errno));
        return -1;
    }
    snprintf(script, sizeof script, "%s/shape.gp", dir);
    snprintf(gerr, sizeof gerr, "%s/gnuplot.err", dir);
    snprintf(png, sizeof png, "%s/shape.png", dir);
    struct stat st;
    int rc = -1;
    if (write_plot(fg, dir, err, errlen) ||
        run_gnuplot(script, gerr, err, errlen))
        goto out;
    if (stat(png, &st) || st.st_size < 8) {
        errf(err, errlen, "gnuplot wrote no image (%s)", png);
        goto out;
    }
    rc = install_file(png, out, err, errlen);
out:
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        unlink(p);
    }
    rmdir(dir);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    char err[2048] = "", source[512] = "";
    ckpt_info info;
    shape sh = {0};
    float *state = NULL;
    nn_set_threads(1);

    rc = open_checkpoint(o.ckpt, &info, err, sizeof err) ? 1 : 0;
    if (!rc)
        rc = check_request(&o, &info, err, sizeof err);
    if (rc)
        goto out;
    rc = 1;
    state = xalloc_floats((size_t)info.obs_dim);
    if (read_state(&o, &info, state, source, sizeof source, err, sizeof err) ||
        shape_init(&sh, &o, &info, state, err, sizeof err))
        goto out;
    sample_sets(&sh, o.has_seed ? o.seed : info.cfg.seed);
    q_on_grid(&sh);
    densities(&sh);
    if (o.dump &&
        write_dump(o.dump, &sh, info.counters.updates, err, sizeof err))
        goto out;

    figure fg = {.n = sh.n,
                 .da = sh.da,
                 .di = sh.di,
                 .dj = sh.dj,
                 .qgrid = sh.qgrid,
                 .g = sh.g,
                 .std_tr = sh.cfg.std_tr,
                 .std_exp = sh.cfg.std_exp,
                 .width = o.width,
                 .height = o.height,
                 .no_hd_opt = sh.agent->hd_opt.kind == HD_NONE,
                 .no_hd_exp = sh.agent->hd_exp.kind == HD_NONE,
                 .mode = mode_name(sh.cfg.mode)};
    memcpy(fg.level, sh.level, sizeof fg.level);
    for (int s = 0; s < N_SETS; s++) {
        fg.act[s] = sh.act[s];
        fg.qs[s] = sh.qs[s];
        fg.dens[s] = sh.dens[s];
    }
    fg.qlo = fg.qhi = sh.qgrid[0];
    for (int k = 1; k < QG * QG; k++) {
        fg.qlo = fminf(fg.qlo, sh.qgrid[k]);
        fg.qhi = fmaxf(fg.qhi, sh.qgrid[k]);
    }
    snprintf(fg.title, sizeof fg.title,
             "%s, mode %s, checkpoint of %" PRId64 " updates (%" PRId64
             " env steps), action dimensions %d and %d\n"
             "%s; K = %d, eps = %g, alpha = %.4g; %d samples per set; "
             "Qmin with the other dimensions at mean(aK)",
             sh.cfg.env, fg.mode, info.counters.updates,
             info.counters.env_steps, sh.di, sh.dj, source, sh.cfg.K,
             sh.cfg.eps, sh.alpha, sh.n);
    if (render(&fg, o.out, err, sizeof err))
        goto out;
    printf("wrote %s\n", o.out);
    rc = fflush(stdout) ? 1 : 0;
    if (rc)
        errf(err, sizeof err, "cannot write stdout: %s", strerror(errno));
out:
    if (rc == 1)
        fprintf(stderr, PROG ": %s\n", err);
    free(state);
    shape_release(&sh);
    return rc;
}
