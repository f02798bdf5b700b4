/* gemm512.h - a plain AVX-512 fp32 GEMM, to measure OpenBLAS's products
 * against (bench/kernel_bench.c; docs/performance.md, "The products inside
 * the update, and a kernel of its own"). The update does not call it: no
 * faster than OpenBLAS's AVX-512 kernels inside the update (under 2% on its
 * products alone).
 *
 * gemm512 computes the row-major C = op(A) op(B) + beta C (op: transposed
 * when ta / tb, as cblas_sgemm's CblasTrans; beta 0 or 1; alpha 1) in fp32,
 * every sum in k order with one FMA per term. 0 on success; -1 when it cannot (no AVX-512F here, a bad argument,
 * no memory for its scratch). */
#ifndef HPO_GEMM512_H
#define HPO_GEMM512_H

/* whether this CPU runs the kernels (AVX-512F) */
int gemm512_available(void);
int gemm512(int ta, int tb, int M, int N, int K, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc);
/* frees the calling thread's scratch (other threads' is freed as they end) */
void gemm512_release(void);

#endif
