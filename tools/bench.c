/*
 * bench.c - hpo-bench: how fast is one SAC-HPO update, against what floor
 * and against what peer.
 *
 * At HalfCheetah sizes (obs 17, act 6, batch 256, 256-256 networks, K 3,
 * h 32) and for each mode and thread count asked, it times sac_update on one
 * fixed random replay_batch after a warm-up (cfg.threads = the thread
 * count: the update's lanes, see sac.h), and in the same run measures the
 * floor: a 256x256x256 sgemm (the update's dominant shape) on that many
 * OpenBLAS threads, the same sgemm run at once by that many single-threaded
 * callers (the lanes' floor), and the very BLAS calls one update makes,
 * each timed alone ("shapes"). The PyTorch peer (bench/torch_peer.py) then
 * runs the same update on the same thread count. One greppable line per
 * case and implementation (each on one line here wrapped):
 *
 *   mode=hpo threads=1 updates_per_s=41.2 gflop_per_update=1.78 gflops=73.1
 *     sgemm_gflops=100.4 lanes_sgemm_gflops=100.4 shapes_gflops=95.0
 *     of_sgemm=0.73 sgemm_macs_ok=1 cpu_share=0.99 median_ms=24.1
 *     fastest_ms=23.5
 *   impl=torch mode=hpo threads=1 updates_per_s=30.1 gflop_per_update=1.78
 *     gflops=53.6 c_over_torch=1.37 cpu_share=0.98 median_ms=33.0
 *     fastest_ms=31.2 fastest_c_over_torch=1.33
 *
 * gflop_per_update = 2 * sac_update_macs * batch / 1e9 (the torch line
 * reuses it); of_sgemm = gflops over the better of the two sgemm floors;
 * sgemm_macs_ok says whether the multiply-adds the update's BLAS calls
 * actually did match the analytic count. cpu_share is CPU seconds over
 * (wall seconds * threads): well under 1 means other processes took the
 * cores. median_ms and fastest_ms are over the timed updates: on a shared
 * machine the fastest update is the better estimate of what the code can
 * do. The first lines name the CPU model, its vector extensions, the
 * OpenBLAS kernel set and the update's element-wise path (nn_simd_name).
 * CPU time against CPU time, for a loaded machine (other processes take
 * the core away for whole time slices; a thread's CPU clock does not run
 * then): best_sgemm_gflops is the best 0.2 ms run of 256^3 sgemms on one
 * thread by that thread's CPU time; cpu_median_ms the median update's CPU
 * time on the caller's thread (with 1 thread, the whole update);
 * update_gflops its rate (with t > 1 threads: the fastest update's wall
 * time instead), best_of_sgemm their ratio (1 thread); shapes_best_ms is
 * the update's own BLAS calls, each shape timed alone by CPU time and its
 * best run kept, summed (over t threads: divided by t), and of_shapes =
 * shapes_best_ms over the update's time: the update's rate as a fraction of
 * the best rate the BLAS reaches at its own shapes. On 1 thread a separate
 * run times each BLAS call inside the update (the monotonic clock around
 * it): products_ms and rest_ms split cpu_median_ms by that run's share of
 * time in the calls, and products_of_sgemm = best_of_sgemm over that share:
 * what best_of_sgemm would be if everything but the products took no time
 * (-1 on more threads, and with --bf16, whose products are not BLAS
 * calls). --profile adds a line per phase of the update (lane 0's time
 * line) and per BLAS shape it uses.
 *
 * The recording interposes cblas_sgemm and cblas_sgemv for this program only
 * (the library is linked statically; the real ones are found with dlsym).
 *
 * Exit status: 0, 2 bad command line.
 */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"
#include "util.h"

#define PROG "hpo-bench"
#define MAX_LIST 8
#define MAX_CALLS 512
#define MAX_SHAPES 64
#define WARMUP 5
#define MAX_LANES 64

#ifndef HPO_TORCH_PEER
#define HPO_TORCH_PEER "bench/torch_peer.py"
#endif

typedef struct options {
    double seconds;
    int modes[MAX_LIST], n_modes;
    int threads[MAX_LIST], n_threads;
    int no_torch, profile;
    int hd_target; /* the Hamiltonian critic target (cfg.hd_target) */
    int scalar;    /* nn_set_simd(0): the scalar element-wise loops */
    int bf16;      /* cfg.precision = bf16: the update's products in bf16 */
    int obs, act;  /* the environment's sizes: HalfCheetah 17 6 */
    char modes_arg[256], threads_arg[256]; /* as given (config_args_table) */
} options;

// ---- sgemm recording ----

typedef void (*sgemm_fn)(OPENBLAS_CONST enum CBLAS_ORDER,
                         OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                         OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST blasint,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST float,
                         OPENBLAS_CONST float *, OPENBLAS_CONST blasint,
                         OPENBLAS_CONST float *, OPENBLAS_CONST blasint,
                         OPENBLAS_CONST float, float *, OPENBLAS_CONST blasint);

typedef void (*sgemv_fn)(OPENBLAS_CONST enum CBLAS_ORDER,
                         OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST blasint,
                         OPENBLAS_CONST float, OPENBLAS_CONST float *,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST float *,
                         OPENBLAS_CONST blasint, OPENBLAS_CONST float, float *,
                         OPENBLAS_CONST blasint);

/* One product shape: sgemm (M, N, K), or sgemv of an (M, N) matrix (K 1). */
typedef struct shape {
    int gemv, ta, tb, M, N, K;
    int count; /* calls with this shape in one update */
} shape;

static struct {
    sgemm_fn real;
    sgemv_fn real_gemv;
    pthread_mutex_t mu; /* the update's lanes call concurrently */
    int on;             /* recording */
    int n;              /* distinct shapes */
    shape s[MAX_SHAPES];
    double macs; /* multiply-adds of the recorded calls */
    long calls;
    int timing; /* the calling thread's time in products, into busy_s */
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};
static _Thread_local double busy_s;

static void *real_fn(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p)
        hpo_panic(__FILE__, __LINE__, "dlsym %s: %s", name, dlerror());
    return p;
}

static sgemm_fn real_sgemm(void)
{
    if (!rec.real) {
        void *p = real_fn("cblas_sgemm");
        memcpy(&rec.real, &p, sizeof p); /* object to function pointer */
    }
    return rec.real;
}

static sgemv_fn real_sgemv(void)
{
    if (!rec.real_gemv) {
        void *p = real_fn("cblas_sgemv");
        memcpy(&rec.real_gemv, &p, sizeof p);
    }
    return rec.real_gemv;
}

static void record(shape sh)
{
    pthread_mutex_lock(&rec.mu);
    rec.macs += (double)sh.M * sh.N * sh.K;
    rec.calls++;
    int i = 0;
    for (; i < rec.n; i++) {
        shape *p = &rec.s[i];
        if (p->gemv == sh.gemv && p->ta == sh.ta && p->tb == sh.tb &&
            p->M == sh.M && p->N == sh.N && p->K == sh.K) {
            p->count++;
            break;
        }
    }
    if (i == rec.n) {
        HPO_ASSERT(rec.n < MAX_SHAPES);
        sh.count = 1;
        rec.s[rec.n++] = sh;
    }
    pthread_mutex_unlock(&rec.mu);
}

/* The library's products land here; recorded while rec.on. */
void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER Order,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB,
                 OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N,
                 OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *A, OPENBLAS_CONST blasint lda,
                 OPENBLAS_CONST float *B, OPENBLAS_CONST blasint ldb,
                 OPENBLAS_CONST float beta, float *C,
                 OPENBLAS_CONST blasint ldc)
{
    if (rec.on)
        record(
            (shape){0, TransA == CblasTrans, TransB == CblasTrans, M, N, K, 0});
    double t0 = rec.timing ? now_s() : 0;
    real_sgemm()(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C,
                 ldc);
    if (rec.timing)
        busy_s += now_s() - t0;
}

void cblas_sgemv(OPENBLAS_CONST enum CBLAS_ORDER order,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE trans,
                 OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n,
                 OPENBLAS_CONST float alpha, OPENBLAS_CONST float *a,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *x,
                 OPENBLAS_CONST blasint incx, OPENBLAS_CONST float beta,
                 float *y, OPENBLAS_CONST blasint incy)
{
    if (rec.on)
        record((shape){1, trans == CblasTrans, 0, m, n, 1, 0});
    double t0 = rec.timing ? now_s() : 0;
    real_sgemv()(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
    if (rec.timing)
        busy_s += now_s() - t0;
}

/* CPU seconds used by this process (every thread). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---- floors ----

/* Seconds per call of one sgemm shape, timed for about `seconds`. */
static void call_shape(const shape *p, const float *A, const float *B, float *C)
{
    enum CBLAS_TRANSPOSE ta = p->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = p->tb ? CblasTrans : CblasNoTrans;
    if (p->gemv)
        real_sgemv()(CblasRowMajor, ta, p->M, p->N, 1.0f, A, p->N, B, 1, 1.0f,
                     C, 1);
    else
        real_sgemm()(CblasRowMajor, ta, tb, p->M, p->N, p->K, 1.0f, A,
                     p->ta ? p->M : p->K, B, p->tb ? p->K : p->N, 1.0f, C,
                     p->N);
}

/* CPU seconds used by the calling thread: on a shared machine, the time
 * it ran, not the time other processes held its core. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean seconds per call over about `seconds`; the best (least) per-call
 * CPU time of this thread over any 0.2 ms run of calls into *best
 * (Nullable; meaningful with one BLAS thread): on a shared machine, the
 * run that other processes disturbed least. */
static double time_shape(const shape *p, float *A, float *B, float *C,
                         double seconds, double *best)
{
    for (int i = 0; i < 3; i++)
        call_shape(p, A, B, C);
    long n = 0, batch = 1;
    double t0 = now_s(), dt, fast = 1e30;
    do {
        double b0 = now_s(), c0 = thread_cpu_s();
        for (long i = 0; i < batch; i++)
            call_shape(p, A, B, C);
        double b1 = now_s();
        fast = fmin(fast, (thread_cpu_s() - c0) / batch);
        n += batch;
        if (b1 - b0 < 2e-4)
            batch *= 2;
        dt = b1 - t0;
    } while (dt < seconds);
    if (best)
        *best = fast;
    return dt / n;
}

/* Buffers large enough for every shape the update uses. */
typedef struct gemm_bufs {
    float *A, *B, *C;
    size_t n;
} gemm_bufs;

static void gemm_bufs_init(gemm_bufs *g, size_t n)
{
    g->n = n;
    g->A = xalloc_floats(n);
    g->B = xalloc_floats(n);
    g->C = xalloc_floats(n);
    rng r;
    rng_init(&r, 7, 7);
    rng_uniform_fill(&r, g->A, n, -1, 1);
    rng_uniform_fill(&r, g->B, n, -1, 1);
}

static void gemm_bufs_release(gemm_bufs *g)
{
    free(g->A);
    free(g->B);
    free(g->C);
}

/* GFLOP/s of a square n x n x n sgemm (with the current BLAS threads);
 * the best run's into *best. */
static double square_gflops(gemm_bufs *g, int n, double seconds, double *best)
{
    shape p = {0, 0, 0, n, n, n, 1};
    double fast, t = time_shape(&p, g->A, g->B, g->C, seconds, &fast);
    if (best)
        *best = 2.0 * n * n * n / fast / 1e9;
    return 2.0 * n * n * n / t / 1e9;
}

typedef struct floor_job {
    double seconds, gflops;
    pthread_t tid;
} floor_job;

static void *floor_main(void *arg)
{
    floor_job *j = arg;
    gemm_bufs g;
    gemm_bufs_init(&g, (size_t)256 * 256);
    j->gflops = square_gflops(&g, 256, j->seconds, NULL);
    gemm_bufs_release(&g);
    return NULL;
}

/* GFLOP/s of t threads each running its own single-threaded 256^3 sgemm at
 * once: the floor of an update split into t lanes. */
static double lanes_gflops(int t, double seconds)
{
    floor_job jobs[MAX_LANES];
    HPO_ASSERT(t >= 1 && t <= MAX_LANES);
    nn_set_threads(1);
    for (int i = 0; i < t; i++) {
        jobs[i].seconds = seconds;
        if (i && pthread_create(&jobs[i].tid, NULL, floor_main, &jobs[i]))
            hpo_panic(__FILE__, __LINE__, "pthread_create");
    }
    floor_main(&jobs[0]);
    double total = jobs[0].gflops;
    for (int i = 1; i < t; i++) {
        pthread_join(jobs[i].tid, NULL);
        total += jobs[i].gflops;
    }
    return total;
}

/* Seconds one update's recorded sgemm calls take when each is timed alone
 * (the best runs' sum into *best); with a label, one line per shape. */
static double shapes_seconds(gemm_bufs *g, double seconds, const char *label,
                             double *best)
{
    double total = 0.0;
    *best = 0.0;
    for (int i = 0; i < rec.n; i++) {
        const shape *p = &rec.s[i];
        HPO_ASSERT((size_t)p->M * p->K <= g->n && (size_t)p->K * p->N <= g->n &&
                   (size_t)p->M * p->N <= g->n);
        double fast,
            t = time_shape(p, g->A, g->B, g->C, seconds / rec.n, &fast);
        total += p->count * t;
        *best += p->count * fast;
        if (label)
            printf(
                "shape %s M=%d N=%d K=%d op=%s%c%c calls=%d us=%.2f gflops=%.1f best_us=%.2f\n",
                label, p->M, p->N, p->K, p->gemv ? "gemv" : "gemm",
                p->ta ? 'T' : 'N',
                p->gemv ? '-'
                : p->tb ? 'T'
                        : 'N',
                p->count, 1e6 * t, 2.0 * p->M * p->N * p->K / t / 1e9,
                1e6 * fast);
    }
    return total;
}

// ---- the update ----

static void random_batch(replay_batch *b, int m, int ds, int da)
{
    replay_batch_init(b, m, ds, da);
    rng r;
    rng_init(&r, 3, 99);
    rng_normal_fill(&r, b->obs, (size_t)m * ds, 1.0f);
    for (size_t i = 0; i < (size_t)m * ds; i++)
        b->next_obs[i] = b->obs[i];
    rng_uniform_fill(&r, b->act, (size_t)m * da, -1, 1);
    rng_normal_fill(&r, b->reward, (size_t)m, 1.0f);
    for (int i = 0; i < m; i++)
        b->done[i] = i % 100 == 0 ? 1.0f : 0.0f;
}

typedef struct result {
    double updates_per_s, gflop, shapes_s, shapes_best_s, sgemm_macs;
    double cpu_share;             /* CPU seconds / (wall seconds * threads) */
    double median_ms, fastest_ms; /* over the timed updates */
    double cpu_median_ms;         /* the caller's thread's CPU time */
    double prof[SAC_PH_N], prof_n;
    /* 1 thread: the share of a separate run's time spent in the BLAS calls
     * (-1: not measured) */
    double products_share;
} result;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define MAX_LAPS 100000
static double laps[MAX_LAPS], cpu_laps[MAX_LAPS];

static void run_update(const options *o, int mode, int threads, gemm_bufs *g,
                       result *res)
{
    const int DS = o->obs, DA = o->act;
    hpo_config cfg;
    config_defaults(&cfg);
    cfg.mode = mode;
    cfg.threads = threads;
    cfg.hd_target = o->hd_target;
    cfg.precision = o->bf16 ? PRECISION_BF16 : PRECISION_FP32;
    sac *s = sac_new(&cfg, DS, DA, 1, 1);
    replay_batch b;
    random_batch(&b, cfg.batch, DS, DA);
    rng r;
    rng_init(&r, 1, RNG_STREAM_UPDATE);
    for (int i = 0; i < WARMUP; i++)
        sac_update(s, &b, &r, NULL);

    rec.n = 0;
    rec.macs = 0;
    rec.calls = 0;
    rec.on = 1;
    sac_update(s, &b, &r, NULL);
    rec.on = 0;
    res->sgemm_macs = rec.macs / cfg.batch;
    res->gflop = 2.0 * sac_update_macs(s) * cfg.batch / 1e9;

    long n = 0;
    double c0 = cpu_s(), t0 = now_s(), t = t0, dt, tc = thread_cpu_s();
    do {
        sac_update(s, &b, &r, NULL);
        double now = now_s(), nowc = thread_cpu_s();
        if (n < MAX_LAPS) {
            laps[n] = now - t;
            cpu_laps[n] = nowc - tc;
        }
        t = now;
        tc = nowc;
        n++;
        dt = now - t0;
    } while (dt < o->seconds);
    res->updates_per_s = n / dt;
    res->cpu_share = (cpu_s() - c0) / (dt * threads);
    long nl = n < MAX_LAPS ? n : MAX_LAPS;
    qsort(laps, (size_t)nl, sizeof laps[0], cmp_double);
    res->median_ms = 1e3 * laps[nl / 2];
    res->fastest_ms = 1e3 * laps[0];
    qsort(cpu_laps, (size_t)nl, sizeof cpu_laps[0], cmp_double);
    res->cpu_median_ms = 1e3 * cpu_laps[nl / 2];
    char label[64];
    snprintf(label, sizeof label, "mode=%s threads=%d", mode_name(mode),
             threads);
    res->shapes_s =
        shapes_seconds(g, fmin(1.0, o->seconds / 3), o->profile ? label : NULL,
                       &res->shapes_best_s);

    /* the products inside the update: a run of its own, each call timed by
     * the monotonic clock (tens of ns a read; the thread CPU clock costs
     * microseconds in a VM), its share of the run's wall time */
    res->products_share = -1;
    if (threads == 1 && !o->bf16) { /* bf16 products are not BLAS calls */
        busy_s = 0;
        rec.timing = 1;
        t0 = now_s();
        do
            sac_update(s, &b, &r, NULL);
        while (now_s() - t0 < o->seconds / 2);
        rec.timing = 0;
        res->products_share = busy_s / (now_s() - t0);
    }

    memset(res->prof, 0, sizeof res->prof);
    res->prof_n = 0;
    if (o->profile) {
        s->prof = res->prof;
        t0 = now_s();
        do {
            sac_update(s, &b, &r, NULL);
            res->prof_n++;
        } while (now_s() - t0 < o->seconds / 2);
        s->prof = NULL;
    }
    replay_batch_release(&b);
    sac_destroy(&s);
}

// ---- the peer ----

/* updates_per_s of the PyTorch peer, or -1 when it did not run; its CPU
 * share (CPU seconds / (wall seconds * threads)), median and fastest update
 * (ms) into *share, *med, *fast. */
static double run_torch(int mode, int threads, double seconds, double *share,
                        double *med, double *fast)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s --mode %s --threads %d --seconds %g 2>&1",
             HPO_TORCH_PEER, mode_name(mode), threads, seconds);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, PROG ": cannot run %s\n", cmd);
        return -1;
    }
    char line[1024];
    double ups = -1;
    *share = -1;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "updates_per_s=");
        double secs, cpu;
        if (k)
            ups = atof(k + strlen("updates_per_s="));
        else if (
            (k = strstr(line, "updates in")) &&
            sscanf(
                k,
                "updates in %lf s (cpu %lf s), median %lf ms, fastest %lf ms",
                &secs, &cpu, med, fast) == 4)
            *share = cpu / (secs * threads);
        else
            fputs(line, stderr);
    }
    if (pclose(p) != 0 || ups <= 0) {
        fprintf(stderr, PROG ": torch peer failed: %s\n", cmd);
        return -1;
    }
    return ups;
}

// ---- the machine ----

/* The CPU's model name and the vector extensions of its flags that matter
 * here, from /proc/cpuinfo; "?" where it is not readable. */
static void cpu_info(char *model, size_t nm, char *isa, size_t ni)
{
    static const char *const want[] = {
        "sse4_2",      "avx",      "avx2",     "fma",         "avx512f",
        "avx512dq",    "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
        "avx512_fp16", "amx_bf16", "amx_tile"};
    snprintf(model, nm, "?");
    snprintf(isa, ni, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[8192];
    int got_model = 0, got_flags = 0;
    while (fgets(line, sizeof line, f) && !(got_model && got_flags)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *val = colon + 1 + (colon[1] == ' ');
        val[strcspn(val, "\n")] = 0;
        if (!got_model && !strncmp(line, "model name", 10)) {
            snprintf(model, nm, "%s", val);
            got_model = 1;
        } else if (!got_flags && !strncmp(line, "flags", 5)) {
            size_t at = 0;
            isa[0] = 0;
            for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
                char pat[64];
                snprintf(pat, sizeof pat, " %s ", want[i]);
                char padded[8200];
                snprintf(padded, sizeof padded, " %s ", val);
                if (strstr(padded, pat) && at + strlen(want[i]) + 2 < ni)
                    at += (size_t)snprintf(isa + at, ni - at, "%s%s",
                                           at ? "," : "", want[i]);
            }
            got_flags = 1;
        }
    }
    fclose(f);
}

// ---- command line ----

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG " [--seconds S] [--modes M,M] [--threads-list T,T]\n"
        "                 [--no-torch] [--profile] [--hd-target]\n"
        "                 [--obs N --act N] [--scalar] [--bf16]\n"
        "  --seconds S        timing per case and implementation (3)\n"
        "  --modes M,...      hpo baseline1 baseline2 baseline3 sac (sac,hpo)\n"
        "  --threads-list T,.. BLAS thread counts (1,<online cpus>)\n"
        "  --no-torch         skip the PyTorch peer\n"
        "  --profile          time each phase of the update as well\n"
        "  --hd-target        the Hamiltonian critic target (hpo-train\n"
        "                     --hd-target); default: the base action's\n"
        "  --obs N, --act N   observation and action sizes (17, 6:\n"
        "                     HalfCheetah; Humanoid is 348, 17)\n"
        "  --scalar           the scalar element-wise loops (ELU, tanh,\n"
        "                     sigmoid, Adam) even where the CPU has AVX2\n"
        "  --bf16             the update's products with bf16 operands and\n"
        "                     fp32 sums (hpo-train --precision bf16);\n"
        "                     shapes_* and sgemm_macs_ok then count only the\n"
        "                     few fp32 BLAS calls left (matrix-vector)\n");
}

static int parse_list(const char *arg, int *out, int is_mode)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", arg);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        if (n == MAX_LIST)
            return -1;
        int v = is_mode ? mode_parse(t) : atoi(t);
        if (v < 0 || (!is_mode && v < 1))
            return -1;
        out[n++] = v;
    }
    return n;
}

#define O(f) offsetof(options, f)
static const opt_spec own[] = {
    {"seconds", OPT_DOUBLE, O(seconds), 0, 0.001, 1e6, NULL},
    {"modes", OPT_TEXT, O(modes_arg), 256, 0, 0, NULL},
    {"threads-list", OPT_TEXT, O(threads_arg), 256, 0, 0, NULL},
    {"no-torch", OPT_FLAG, O(no_torch), 0, 0, 0, NULL},
    {"profile", OPT_FLAG, O(profile), 0, 0, 0, NULL},
    {"hd-target", OPT_FLAG, O(hd_target), 0, 0, 0, NULL},
    {"scalar", OPT_FLAG, O(scalar), 0, 0, 0, NULL},
    {"bf16", OPT_FLAG, O(bf16), 0, 0, 0, NULL},
    {"obs", OPT_INT, O(obs), 0, 1, 4096, NULL},
    {"act", OPT_INT, O(act), 0, 1, 256, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O

/* Returns 0, 1 after --help, or -1 after printing the error. */
static int parse(options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->seconds = 3.0;
    o->obs = 17;
    o->act = 6;
    o->modes[0] = MODE_SAC;
    o->modes[1] = MODE_HPO;
    o->n_modes = 2;
    o->threads[0] = 1;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_threads = nc > 1 ? 2 : 1;
    o->threads[1] = (int)nc;
    config_args a;
    char err[512];
    int rc = config_args_table(&a, argc, argv, own, 0, 0, o, err, sizeof err);
    config_args_release(&a);
    if (rc == 0 && o->modes_arg[0] &&
        (o->n_modes = parse_list(o->modes_arg, o->modes, 1)) <= 0) {
        snprintf(
            err, sizeof err,
            "--modes needs modes (hpo, baseline1, baseline2, baseline3, sac) separated by commas, not '%s'",
            o->modes_arg);
        rc = -1;
    }
    if (rc == 0 && o->threads_arg[0] &&
        (o->n_threads = parse_list(o->threads_arg, o->threads, 0)) <= 0) {
        snprintf(
            err, sizeof err,
            "--threads-list needs thread counts >= 1 separated by commas, not '%s'",
            o->threads_arg);
        rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, PROG ": %s\n", err);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse(&o, argc, argv);
    if (rc) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    /* the machine, and which kernels ran: OpenBLAS's choice, or
     * OPENBLAS_CORETYPE's; the update's own element-wise path */
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (o.scalar)
        nn_set_simd(0);
    char why[400];
    if (o.bf16 && !nn_bf16_available(why, sizeof why)) {
        fprintf(stderr, PROG ": --bf16: %s\n", why);
        return 2;
    }
    char model[256], isa[512];
    cpu_info(model, sizeof model, isa, sizeof isa);
    printf("# cpu=\"%s\" isa=%s\n", model, isa);
    printf(
        "# openblas_core=%s OPENBLAS_CORETYPE=%s simd=%s obs=%d act=%d hd_target=%d precision=%s\n",
        nn_blas_core(), forced && *forced ? forced : "(unset)", nn_simd_name(),
        o.obs, o.act, o.hd_target, o.bf16 ? "bf16" : "fp32");
    if (!o.no_torch && (o.obs != 17 || o.act != 6 || o.hd_target || o.bf16)) {
        printf(
            "# the torch peer runs HalfCheetah sizes, the base-action target and fp32 only: skipped\n");
        o.no_torch = 1;
    }
    gemm_bufs g;
    gemm_bufs_init(&g, (size_t)512 * 512);
    for (int ti = 0; ti < o.n_threads; ti++) {
        int t = o.threads[ti];
        HPO_ASSERT(t <= MAX_LANES);
        nn_set_threads(t);
        double sg_best;
        double sg = square_gflops(&g, 256, fmin(1.0, o.seconds / 3), &sg_best);
        double lg = t > 1 ? lanes_gflops(t, fmin(1.0, o.seconds / 3)) : sg;
        nn_set_threads(t); /* lanes_gflops set 1 */
        double peak = fmax(sg, lg);
        for (int mi = 0; mi < o.n_modes; mi++) {
            int mode = o.modes[mi];
            result res;
            run_update(&o, mode, t, &g, &res);
            double gf = res.gflop * res.updates_per_s;
            /* the lanes' calls, each alone, spread evenly over t threads */
            double shapes_gf =
                2.0 * res.sgemm_macs * 256 / 1e9 / (res.shapes_s / t);
            int macs_ok = fabs(2.0 * res.sgemm_macs * 256 / 1e9 - res.gflop) <=
                          1e-9 * res.gflop;
            /* CPU time against CPU time, for a shared machine: on 1 thread
             * the median update's CPU time against the best 256^3 run and
             * against the best runs of the update's own shapes, each
             * alone; on t threads the fastest update's wall time against
             * those shapes spread evenly over t */
            double upd_s = (t == 1 ? res.cpu_median_ms : res.fastest_ms) / 1e3;
            double upd_gf = res.gflop / upd_s;
            double best_of_sgemm = t == 1 ? upd_gf / sg_best : -1;
            double of_shapes = res.shapes_best_s / t / upd_s;
            double ps = res.products_share; /* -1: not measured */
            printf(
                "mode=%s threads=%d updates_per_s=%.1f gflop_per_update=%.3f gflops=%.1f sgemm_gflops=%.1f lanes_sgemm_gflops=%.1f shapes_gflops=%.1f of_sgemm=%.2f sgemm_macs_ok=%d cpu_share=%.2f median_ms=%.2f fastest_ms=%.2f cpu_median_ms=%.2f best_sgemm_gflops=%.1f update_gflops=%.1f best_of_sgemm=%.2f shapes_best_ms=%.3f of_shapes=%.2f products_ms=%.2f rest_ms=%.2f products_of_sgemm=%.2f\n",
                mode_name(mode), t, res.updates_per_s, res.gflop, gf, sg, lg,
                shapes_gf, gf / peak, macs_ok, res.cpu_share, res.median_ms,
                res.fastest_ms, res.cpu_median_ms, sg_best, upd_gf,
                best_of_sgemm, 1e3 * res.shapes_best_s / t, of_shapes,
                ps > 0 ? ps * res.cpu_median_ms : -1,
                ps > 0 ? (1 - ps) * res.cpu_median_ms : -1,
                ps > 0 ? best_of_sgemm / ps : -1);
            if (!macs_ok && !o.bf16) /* bf16: few fp32 calls are left */
                fprintf(
                    stderr,
                    PROG
                    ": BLAS calls did %.0f multiply-adds per sample, sac_update_macs says %.0f\n",
                    res.sgemm_macs, res.gflop * 1e9 / 2 / 256);
            if (o.profile) {
                double tot = 0;
                for (int p = 0; p < SAC_PH_N; p++)
                    tot += res.prof[p];
                for (int p = 0; p < SAC_PH_N; p++)
                    printf(
                        "profile mode=%s threads=%d phase=%s ms=%.3f share=%.3f\n",
                        mode_name(mode), t, sac_phase_name(p),
                        1e3 * res.prof[p] / res.prof_n, res.prof[p] / tot);
                printf(
                    "profile mode=%s threads=%d phase=total ms=%.3f sgemm_alone_ms=%.3f\n",
                    mode_name(mode), t, 1e3 * tot / res.prof_n,
                    1e3 * res.shapes_s / t);
            }
            if (!o.no_torch) {
                double share = -1, med = -1, fast = -1;
                double tu = run_torch(mode, t, o.seconds, &share, &med, &fast);
                /* let the peer's exit (freeing its memory, its threads)
                 * finish before the next timed case */
                sleep(1);
                if (tu > 0)
                    printf(
                        "impl=torch mode=%s threads=%d updates_per_s=%.1f gflop_per_update=%.3f gflops=%.1f c_over_torch=%.2f cpu_share=%.2f median_ms=%.2f fastest_ms=%.2f fastest_c_over_torch=%.2f\n",
                        mode_name(mode), t, tu, res.gflop, res.gflop * tu,
                        res.updates_per_s / tu, share, med, fast,
                        fast / res.fastest_ms);
            }
            fflush(stdout);
        }
    }
    gemm_bufs_release(&g);
    return 0;
}
