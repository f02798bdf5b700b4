/*
 * kernel_bench.c - hpo-kernel-bench: the SAC-HPO update's products in
 * OpenBLAS (the op the update calls) against a plain AVX-512 kernel
 * (bench/gemm512.c: 8 x 32 blocks of C in registers, op(B) packed into
 * panels, op(A) read in place), shape by shape, and both against a double
 * reference.
 *
 * The shapes and per-update counts are those `hpo-bench --profile` records
 * for one HalfCheetah update on one lane (default config; the gathered
 * backward's row counts vary from call to call: one representative pair),
 * plus two odd shapes for the edges. Each figure is the median of R rounds
 * by the thread's CPU time, the two taking turns inside each round. Run it
 * on one thread (OPENBLAS_NUM_THREADS=1). One line per shape:
 *
 *   shape op=NT M=256 N=256 K=256 calls=14 openblas_us=184.9 own_us=181.8
 *     own_over_openblas=1.02 err_openblas=4.7e-06 err_own=4.3e-06
 *
 * (err_*: the largest difference from the double reference over its
 * rounding-error bound K u sum_k |op(A)_ik op(B)_kj| (+ |beta C_ij|), u =
 * 2^-24, beta 0 and 1: below 1 for any correct fp32 product, order 1e5 for
 * a wrong one) and a total over the update's products, weighted by their
 * counts.
 *
 * Usage: hpo-kernel-bench [ROUNDS]   (default 100; 1..100000). Exit status
 * 0; 1 when either product passes its error bound (a wrong product), or an
 * allocation fails; 2 bad command line; 77 when the CPU
 * has no AVX-512F (nothing to compare).
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm512.h"

typedef struct shape {
    const char *op; /* the update's transposes, row-major */
    int M, N, K, calls;
} shape;

static const shape shapes[] = {
    {"NT", 256, 256, 17, 6},  {"NT", 256, 256, 256, 14},
    {"NT", 256, 12, 256, 2},  {"NT", 256, 256, 6, 10},
    {"NT", 256, 256, 23, 2},  {"TN", 256, 256, 256, 3},
    {"NN", 256, 256, 256, 3}, {"TN", 256, 23, 256, 2},
    {"NN", 26, 256, 256, 4},  {"NN", 26, 6, 256, 4},
    {"NN", 230, 256, 256, 4}, {"NN", 230, 6, 256, 4},
    {"NT", 256, 32, 29, 6},   {"NT", 256, 6, 32, 6},
    {"TN", 6, 32, 256, 6},    {"NN", 256, 32, 6, 6},
    {"TN", 32, 29, 256, 6},   {"NN", 256, 29, 32, 6},
    {"TN", 12, 256, 256, 1},  {"NN", 256, 256, 12, 1},
    {"TN", 256, 17, 256, 1},  {"TT", 37, 45, 71, 0},
    {"NN", 5, 33, 3, 0},
};

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return 1e6 * (double)t.tv_sec + 1e-3 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void blas(int ta, int tb, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb,
                beta, C, N);
}

int main(int argc, char **argv)
{
    int rounds = 100;
    if (argc > 2 || (argc == 2 && (rounds = atoi(argv[1])) < 1) ||
        rounds > 100000) {
        fprintf(stderr, "usage: hpo-kernel-bench [ROUNDS]   (1..100000)\n");
        return 2;
    }
    if (!gemm512_available()) {
        printf("# this CPU has no AVX-512F: nothing to compare\n");
        return 77;
    }
    double *t0 = malloc(sizeof(double) * (size_t)rounds);
    double *t1 = malloc(sizeof(double) * (size_t)rounds);
    if (!t0 || !t1) {
        fprintf(stderr, "hpo-kernel-bench: out of memory\n");
        return 1;
    }
    srand(1);
    int bad = 0;
    double sum0 = 0, sum1 = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        int M = sh->M, N = sh->N, K = sh->K;
        int ta = sh->op[0] == 'T', tb = sh->op[1] == 'T';
        int lda = ta ? M : K, ldb = tb ? K : N;
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = malloc(4 * na), *B = malloc(4 * nb), *C0 = malloc(4 * nc);
        float *C1 = malloc(4 * nc), *C2 = malloc(4 * nc);
        float *P =
            aligned_alloc(64, (gemm512_scratch(N, K) * 4 + 63) / 64 * 64);
        if (!A || !B || !C0 || !C1 || !C2 || !P) {
            fprintf(stderr, "hpo-kernel-bench: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < na; i++)
            A[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t i = 0; i < nb; i++)
            B[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t i = 0; i < nc; i++)
            C0[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        double err0 = 0, err1 = 0;
        for (int beta = 0; beta <= 1; beta++) {
            memcpy(C1, C0, 4 * nc);
            memcpy(C2, C0, 4 * nc);
            blas(ta, tb, M, N, K, A, lda, B, ldb, (float)beta, C1);
            if (gemm512(ta, tb, M, N, K, A, lda, B, ldb, (float)beta, C2, N,
                        P)) {
                fprintf(stderr,
                        "hpo-kernel-bench: gemm512 refused %s %d x %d x %d\n",
                        sh->op, M, N, K);
                return 1;
            }
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double r = beta ? C0[(size_t)i * N + j] : 0;
                    double mag = fabs(r);
                    for (int k = 0; k < K; k++) {
                        double t = (double)(ta ? A[(size_t)k * lda + i]
                                               : A[(size_t)i * lda + k]) *
                                   (tb ? B[(size_t)j * ldb + k]
                                       : B[(size_t)k * ldb + j]);
                        r += t;
                        mag += fabs(t);
                    }
                    double bound = (K + 1) * 0x1p-24 * mag + 1e-30;
                    err0 = fmax(err0, fabs(C1[(size_t)i * N + j] - r) / bound);
                    err1 = fmax(err1, fabs(C2[(size_t)i * N + j] - r) / bound);
                }
        }
        for (int r = 0; r < rounds; r++) {
            double a = cpu_us();
            blas(ta, tb, M, N, K, A, lda, B, ldb, 1.0f, C1);
            double b = cpu_us();
            gemm512(ta, tb, M, N, K, A, lda, B, ldb, 1.0f, C2, N, P);
            t0[r] = b - a;
            t1[r] = cpu_us() - b;
        }
        qsort(t0, (size_t)rounds, sizeof *t0, cmp_double);
        qsort(t1, (size_t)rounds, sizeof *t1, cmp_double);
        double m0 = t0[rounds / 2], m1 = t1[rounds / 2];
        sum0 += sh->calls * m0;
        sum1 += sh->calls * m1;
        printf(
            "shape op=%s M=%d N=%d K=%d calls=%d openblas_us=%.2f own_us=%.2f own_over_openblas=%.2f err_openblas=%.2g err_own=%.2g\n",
            sh->op, M, N, K, sh->calls, m0, m1, m0 / m1, err0, err1);
        if (!(err0 <= 1 && err1 <= 1)) {
            fprintf(
                stderr,
                "hpo-kernel-bench: %s %d x %d x %d: off by %g (OpenBLAS) and %g (the kernel) of the rounding bound: a wrong product\n",
                sh->op, M, N, K, err0, err1);
            bad = 1;
        }
        free(A), free(B), free(C0), free(C1), free(C2), free(P);
    }
    printf("total openblas_us=%.1f own_us=%.1f own_over_openblas=%.3f\n", sum0,
           sum1, sum0 / sum1);
    free(t0), free(t1);
    return bad;
}
