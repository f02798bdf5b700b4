/* gemm512.c - row-major C = op(A) op(B) + beta C by AVX-512 kernels.
 *
 * op(B) (K, N) is packed into panels of 32 columns, each K rows of 32 floats
 * (the last panel's columns past N are zero); a transposed B is turned
 * around 16 x 16 at a time in registers. The kernel holds an 8 x 32 block of
 * C in 16 registers and, for each k, loads the panel's row (two vectors) and
 * broadcasts op(A)'s 8 values of column k from memory: A itself is read in
 * place (row-major rows, or a transposed A's contiguous row k), never packed.
 * Panels outer, row blocks inner: a panel (32 KB at K 256) stays in L1 while
 * op(A) streams from L2. Sums run over k in order with one FMA per term.
 * GCC / clang on x86-64; elsewhere gemm512_available is 0. */
#include "gemm512.h"

#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define G512 1
#define T512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))
#else
#define G512 0
#endif

size_t gemm512_scratch(int N, int K)
{
    return (size_t)(N + 31) / 32 * 32 * (size_t)K;
}

#if G512

int gemm512_available(void)
{
    return __builtin_cpu_supports("avx512f");
}

/* mask of the first n (0..16) lanes */
INLINE __mmask16 lanes(int n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* r[0..15] -> its transpose (r[i][j] becomes r[j][i]) */
T512 INLINE void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int h = 0; h < 16; h += 8)
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

/* op(B) (K, N) -> panels: panel p holds columns 32p.. as K rows of 32 */
T512 static void pack(int tb, int N, int K, const float *B, int ldb, float *P)
{
    for (int j = 0; j < N; j += 32) {
        float *pp = P + (size_t)j * K;
        int nc = N - j < 32 ? N - j : 32;
        if (!tb) {
            __mmask16 m0 = lanes(nc), m1 = lanes(nc - 16 > 0 ? nc - 16 : 0);
            for (int k = 0; k < K; k++) {
                const float *b = B + (size_t)k * ldb + j;
                _mm512_store_ps(pp + 32 * k, _mm512_maskz_loadu_ps(m0, b));
                _mm512_store_ps(pp + 32 * k + 16,
                                _mm512_maskz_loadu_ps(m1, b + 16));
            }
            continue;
        }
        /* op(B)[k][j + c] = B[(j + c) ldb + k]: 16 columns by 16 k */
        for (int h = 0; h < 32; h += 16)
            for (int k = 0; k < K; k += 16) {
                int nk = K - k < 16 ? K - k : 16;
                __mmask16 mk = lanes(nk);
                __m512 r[16];
                for (int c = 0; c < 16; c++)
                    r[c] = h + c < nc
                               ? _mm512_maskz_loadu_ps(
                                     mk, B + (size_t)(j + h + c) * ldb + k)
                               : _mm512_setzero_ps();
                transpose16(r);
                for (int t = 0; t < nk; t++)
                    _mm512_store_ps(pp + 32 * (k + t) + h, r[t]);
            }
    }
}

/* C[0..R)[0..32) (+)= op(A)[0..R)[0..K) P[0..K)[0..32), the columns masked
 * by m0 / m1; op(A)[i][k] at A[i lda + k] (ta 0) or A[k lda + i] (ta 1) */
T512 INLINE void kernel(const int R, const int ta, int K, const float *A,
                        int lda, const float *P, float *C, int ldc, int beta,
                        __mmask16 m0, __mmask16 m1)
{
    __m512 c0[8], c1[8];
    for (int i = 0; i < R; i++) {
        c0[i] = beta ? _mm512_maskz_loadu_ps(m0, C + (size_t)i * ldc)
                     : _mm512_setzero_ps();
        c1[i] = beta ? _mm512_maskz_loadu_ps(m1, C + (size_t)i * ldc + 16)
                     : _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_load_ps(P + 32 * k);
        __m512 b1 = _mm512_load_ps(P + 32 * k + 16);
        for (int i = 0; i < R; i++) {
            __m512 a = _mm512_set1_ps(ta ? A[(size_t)k * lda + i]
                                         : A[(size_t)i * lda + k]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
    for (int i = 0; i < R; i++) {
        _mm512_mask_storeu_ps(C + (size_t)i * ldc, m0, c0[i]);
        _mm512_mask_storeu_ps(C + (size_t)i * ldc + 16, m1, c1[i]);
    }
}

typedef void (*kernel_fn)(int, const float *, int, const float *, float *, int,
                          int, __mmask16, __mmask16);
#define KERNEL(R, TA)                                                          \
    T512 static void kernel_##R##_##TA(int K, const float *A, int lda,         \
                                       const float *P, float *C, int ldc,      \
                                       int beta, __mmask16 m0, __mmask16 m1)   \
    {                                                                          \
        kernel(R, TA, K, A, lda, P, C, ldc, beta, m0, m1);                     \
    }
#define KERNELS(TA)                                                            \
    KERNEL(1, TA)                                                              \
    KERNEL(2, TA)                                                              \
    KERNEL(3, TA)                                                              \
    KERNEL(4, TA)                                                              \
    KERNEL(5, TA) KERNEL(6, TA) KERNEL(7, TA) KERNEL(8, TA)
KERNELS(0)
KERNELS(1)
static const kernel_fn kernels[2][9] = {
    {NULL, kernel_1_0, kernel_2_0, kernel_3_0, kernel_4_0, kernel_5_0,
     kernel_6_0, kernel_7_0, kernel_8_0},
    {NULL, kernel_1_1, kernel_2_1, kernel_3_1, kernel_4_1, kernel_5_1,
     kernel_6_1, kernel_7_1, kernel_8_1},
};

int gemm512(int ta, int tb, int M, int N, int K, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc, float *P)
{
    if (M < 1 || N < 1 || K < 1 || (beta != 0.0f && beta != 1.0f) || !P ||
        ((size_t)P & 63) || !gemm512_available())
        return -1;
    size_t np = (size_t)(N + 31) / 32;
    pack(tb, N, K, B, ldb, P);
    int b1 = beta != 0.0f;
    for (size_t p = 0; p < np; p++) {
        int j = (int)p * 32, nc = N - j < 32 ? N - j : 32;
        __mmask16 m0 = lanes(nc), m1 = lanes(nc > 16 ? nc - 16 : 0);
        const float *pp = P + p * 32 * (size_t)K;
        for (int i = 0; i < M; i += 8) {
            int r = M - i < 8 ? M - i : 8;
            const float *a = ta ? A + i : A + (size_t)i * lda;
            kernels[ta != 0][r](K, a, lda, pp, C + (size_t)i * ldc + j, ldc, b1,
                                m0, m1);
        }
    }
    return 0;
}

#else /* no x86-64 GCC / clang */

int gemm512_available(void)
{
    return 0;
}

int gemm512(int ta, int tb, int M, int N, int K, const float *A, int lda,
            const float *B, int ldb, float beta, float *C, int ldc, float *P)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc, (void)P;
    return -1;
}

#endif
