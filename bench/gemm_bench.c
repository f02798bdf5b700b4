/*
 * gemm_bench.c - hpo-gemm-bench: the SAC-HPO update's matrix products, one
 * shape at a time, in OpenBLAS (fp32, the op the update calls), libxsmm
 * (fp32 and bf16 inputs with fp32 accumulation) and oneDNN's sgemm.
 *
 * The shapes and per-update call counts are those `hpo-bench --profile`
 * records for one HalfCheetah update on one lane (batch 256, 256-256
 * networks, K 3, h 32, default config). libxsmm's JIT kernels are
 * column-major without transposes, so each product is timed as the
 * row-major A (M, K) B (K, N) of the same M N K (the op's transposes are a
 * layout choice of the caller: a weight can be kept transposed). bf16
 * inputs are converted once, before timing (an odd K padded to even) (the
 * update would convert its activations and weights each time: not counted here,
 * so the bf16 figure is an upper bound); the bf16 kernel's A operand is packed
 * in VNNI pairs when libxsmm asks for it, and its result is checked against
 * fp32.
 *
 * Each figure is the best of R rounds by the thread's CPU time (the
 * machine is shared: the best round is the one other processes disturbed
 * least); the implementations take turns inside each round, so they see
 * the same load. Run it with OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 (one
 * thread each; oneDNN's OpenMP threads otherwise share the product). One line
 * per shape:
 *
 *   shape M=256 N=256 K=256 calls=14 op=NT openblas_us=... xsmm_us=...
 *     xsmm_bf16_us=... dnnl_us=... bf16_err=...
 *
 * and a total line: the update's products summed with their call counts,
 * per implementation, and the bf16 gain on the products alone.
 *
 * Usage: hpo-gemm-bench [ROUNDS]   (default 30). Exit status 0, 1 when a
 * library call fails.
 */
#include <cblas.h>
#include <libxsmm.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    int M, N, K, calls;
    const char *op; /* the update's transposes, row-major */
} shape;

/* hpo-bench --no-torch --profile --modes hpo --threads-list 1, HalfCheetah
 * sizes; the gathered backward's row counts (M of 20-35 and 220-236 in the
 * update) vary from call to call: one representative pair. */
static const shape shapes[] = {
    {256, 256, 17, 6, "NT"},  {256, 256, 256, 14, "NT"},
    {256, 12, 256, 2, "NT"},  {256, 256, 6, 10, "NT"},
    {256, 256, 23, 2, "NT"},  {256, 256, 256, 3, "TN"},
    {256, 256, 256, 3, "NN"}, {256, 23, 256, 2, "TN"},
    {26, 256, 256, 4, "NN"},  {26, 6, 256, 4, "NN"},
    {230, 256, 256, 4, "NN"}, {230, 6, 256, 4, "NN"},
    {256, 32, 29, 6, "NT"},   {256, 6, 32, 6, "NT"},
    {6, 32, 256, 6, "TN"},    {256, 32, 6, 6, "NN"},
    {32, 29, 256, 6, "TN"},   {256, 29, 32, 6, "NN"},
    {12, 256, 256, 1, "TN"},  {256, 256, 12, 1, "NN"},
    {256, 17, 256, 1, "TN"},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* This thread's CPU time: the machine is shared, and time when another
 * process holds the core is not the kernel's. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static libxsmm_bfloat16 to_bf16(float x)
{
    unsigned int u;
    memcpy(&u, &x, 4);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (libxsmm_bfloat16)(u >> 16);
}

static float from_bf16(libxsmm_bfloat16 h)
{
    unsigned int u = (unsigned int)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

typedef struct bufs {
    float *A, *B, *C, *R;
    libxsmm_bfloat16 *Ah, *Bh, *Bv; /* Bv: B in VNNI pairs */
} bufs;

enum { OPENBLAS, XSMM, XSMM_BF16, DNNL, N_IMPL };
static const char *const impl_name[N_IMPL] = {"openblas", "xsmm", "xsmm_bf16",
                                              "dnnl"};

typedef struct kernels {
    libxsmm_smmfunction s;
    libxsmm_bsmmfunction b;
    int vnni;
} kernels;

/* One call of implementation impl on shape p: row-major C = A B (M, N). */
static int call(int impl, const shape *p, const bufs *b, const kernels *k)
{
    int M = p->M, N = p->N, K = p->K;
    switch (impl) {
    case OPENBLAS: {
        /* the op the update makes: NT reads B as (N, K), TN A as (K, M) */
        int ta = p->op[0] == 'T', tb = p->op[1] == 'T';
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                    tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, b->A,
                    ta ? M : K, b->B, tb ? K : N, 0.0f, b->C, N);
        return 0;
    }
    case XSMM: /* column-major C^T (N, M) = B^T (N, K) A^T (K, M) */
        k->s(b->B, b->A, b->C);
        return 0;
    case XSMM_BF16:
        k->b(k->vnni ? b->Bv : b->Bh, b->Ah, b->C);
        return 0;
    case DNNL:
        return dnnl_sgemm('N', 'N', M, N, K, 1.0f, b->A, K, b->B, N, 0.0f, b->C,
                          N) != dnnl_success;
    }
    return 1;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 30;
    if (rounds < 1 || rounds > 100000) {
        fprintf(stderr, "hpo-gemm-bench: ROUNDS must be 1..100000, not '%s'\n",
                argv[1]);
        return 1;
    }
    libxsmm_init();
    printf("# libxsmm_target=%s openblas_core=%s rounds=%d\n",
           libxsmm_get_target_arch(), openblas_get_corename(), rounds);
    size_t n = 256 * 256;
    bufs b;
    b.A = malloc(n * 4);
    b.B = malloc(n * 4);
    b.C = malloc(n * 4);
    b.R = malloc(n * 4);
    b.Ah = malloc(n * 2);
    b.Bh = malloc(n * 2);
    b.Bv = malloc(n * 2);
    if (!b.A || !b.B || !b.C || !b.R || !b.Ah || !b.Bh || !b.Bv) {
        fprintf(stderr, "hpo-gemm-bench: out of memory for 7 x %zu floats\n",
                n);
        return 1;
    }
    srand(7);
    for (size_t i = 0; i < n; i++) {
        b.A[i] = (float)rand() / RAND_MAX - 0.5f;
        b.B[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    double tot[N_IMPL] = {0}, all_flop = 0;
    for (size_t si = 0; si < N_SHAPES; si++) {
        const shape *p = &shapes[si];
        int M = p->M, N = p->N, K = p->K;
        /* bf16 pairs along K: an odd K is padded with a zero column */
        int Kp = K + (K & 1);
        for (int i = 0; i < M; i++)
            for (int kk = 0; kk < Kp; kk++)
                b.Ah[i * Kp + kk] = kk < K ? to_bf16(b.A[i * K + kk]) : 0;
        for (int i = 0; i < K * N; i++)
            b.Bh[i] = to_bf16(b.B[i]);
        /* column-major B^T (N, K) in VNNI pairs along K: element (j, k) at
         * ((k / 2) * N + j) * 2 + k % 2 (K padded to even) */
        for (int kk = 0; kk < K; kk++)
            for (int j = 0; j < N; j++)
                b.Bv[((kk / 2) * N + j) * 2 + kk % 2] = b.Bh[kk * N + j];
        if (K % 2) /* the zero row of the pad */
            for (int j = 0; j < N; j++)
                b.Bv[((K / 2) * N + j) * 2 + 1] = 0;
        float one = 1.0f, zero = 0.0f;
        kernels k = {0};
        int flags = LIBXSMM_GEMM_FLAG_NONE;
        k.s =
            libxsmm_smmdispatch(N, M, K, &N, &K, &N, &one, &zero, &flags, NULL);
        int bflags = LIBXSMM_GEMM_FLAG_VNNI_A;
        k.b = libxsmm_bsmmdispatch(N, M, Kp, &N, &Kp, &N, &one, &zero, &bflags,
                                   NULL);
        k.vnni = 1;
        if (!k.b) {
            bflags = LIBXSMM_GEMM_FLAG_NONE;
            k.b = libxsmm_bsmmdispatch(N, M, Kp, &N, &Kp, &N, &one, &zero,
                                       &bflags, NULL);
            k.vnni = 0;
        }
        /* reference: the bf16-rounded inputs in double */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int kk = 0; kk < K; kk++)
                    s += (double)from_bf16(b.Ah[i * Kp + kk]) *
                         from_bf16(b.Bh[kk * N + j]);
                b.R[i * N + j] = (float)s;
            }
        double err = -1;
        if (k.b) {
            call(XSMM_BF16, p, &b, &k);
            err = 0;
            for (int i = 0; i < M * N; i++)
                err = fmax(err, fabs(b.C[i] - b.R[i]) / (1e-3 + fabs(b.R[i])));
        }
        double best[N_IMPL];
        int reps = (int)fmax(1, 2e6 / ((double)M * N * K));
        for (int im = 0; im < N_IMPL; im++)
            best[im] = 1e30;
        for (int r = 0; r < rounds; r++)
            for (int im = 0; im < N_IMPL; im++) {
                if ((im == XSMM && !k.s) || (im == XSMM_BF16 && !k.b))
                    continue;
                if (call(im, p, &b, &k)) {
                    fprintf(stderr,
                            "hpo-gemm-bench: %s failed at M=%d N=%d K=%d\n",
                            impl_name[im], M, N, K);
                    return 1;
                }
                double t0 = now_s();
                for (int i = 0; i < reps; i++)
                    call(im, p, &b, &k);
                best[im] = fmin(best[im], (now_s() - t0) / reps);
            }
        printf("shape M=%d N=%d K=%d calls=%d op=%s", M, N, K, p->calls, p->op);
        for (int im = 0; im < N_IMPL; im++) {
            if (best[im] >= 1e30) {
                printf(" %s_us=none", impl_name[im]);
                continue;
            }
            printf(" %s_us=%.2f %s_gflops=%.1f", impl_name[im], 1e6 * best[im],
                   impl_name[im], 2.0 * M * N * K / best[im] / 1e9);
            tot[im] += p->calls * best[im];
        }
        printf(" bf16_vnni=%d bf16_rel_err=%.1e\n", k.vnni, err);
        all_flop += 2.0 * p->calls * M * N * K;
        fflush(stdout);
    }
    printf("total gflop=%.3f", all_flop / 1e9);
    for (int im = 0; im < N_IMPL; im++)
        printf(" %s_ms=%.3f", impl_name[im], 1e3 * tot[im]);
    printf(
        " xsmm_over_openblas=%.2f bf16_over_openblas=%.2f bf16_over_best_fp32=%.2f\n",
        tot[OPENBLAS] / tot[XSMM], tot[OPENBLAS] / tot[XSMM_BF16],
        fmin(fmin(tot[OPENBLAS], tot[XSMM]), tot[DNNL]) / tot[XSMM_BF16]);
    libxsmm_finalize();
    return 0;
}
