/* gemm512.h - a plain AVX-512 fp32 GEMM, to measure OpenBLAS's products
 * against (bench/kernel_bench.c; docs/performance.md, "The products inside
 * the update, and a kernel of its own"). The update does not call it: no
 * faster than OpenBLAS's AVX-512 kernels inside the update (under 2% on its
 * products alone).
 *
 * gemm512 computes the row-major C = op(A) op(B) + beta C (op: transposed
 * when ta / tb, as cblas_sgemm's CblasTrans; beta 0 or 1; alpha 1) in fp32,
 * every sum in k order with one FMA per term. P is the caller's scratch
 * for the packed op(B): gemm512_scratch(N, K) floats, 64-byte aligned. 0 on
 * success; -1 when it cannot (no AVX-512F here, a bad argument). */
#ifndef HPO_GEMM512_H
#define HPO_GEMM512_H

#include <stddef.h>

/* whether this CPU runs the kernels (AVX-512F) */
int gemm512_available(void);
/* floats of scratch a product with N columns over K needs */
size_t gemm512_scratch(int N, int K);
int gemm512(int ta, int tb, int M, int N, int K, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc, float *P);

#endif
