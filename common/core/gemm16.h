/* gemm16.h - the products in bf16 with fp32 accumulation (--precision bf16).
 *
 * gemm16 computes the row-major C = op(A) op(B) + beta C (op: transposed when
 * ta / tb, as cblas_sgemm's CblasTrans; beta 0 or 1; alpha 1) with both
 * operands rounded to bf16 and the products summed in fp32. 0 on success;
 * -1 when it cannot (no kernel for the shape, a bad argument, no memory for
 * its scratch): the caller then runs the fp32 product. Built only with
 * libxsmm (HPO_HAVE_BF16); gemm16_available says whether this CPU has the
 * instructions (AVX512-BF16). */
#ifndef HPO_GEMM16_H
#define HPO_GEMM16_H

int gemm16_available(void);
/* libxsmm's name of the instruction set its kernels are made for ("cpx") */
const char *gemm16_target(void);
int gemm16(int ta, int tb, int M, int N, int K, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc);
/* frees the calling thread's scratch (other threads' is freed as they end) */
void gemm16_release(void);

#endif
