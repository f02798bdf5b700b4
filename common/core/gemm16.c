/* gemm16.c - row-major C = op(A) op(B) + beta C with both operands rounded
 * to bf16 (round to nearest even) and the products accumulated in fp32, by
 * libxsmm's AVX512-BF16 kernels (--precision bf16; docs/performance.md).
 *
 * libxsmm is column-major and transposes nothing in its bf16 kernels, so each
 * call converts its operands into the layout the kernel reads: the row-major
 * C (M, N) is the column-major C^T (N, M) = op(B)^T (N, Kp) op(A)^T (Kp, M),
 * with K padded to even (Kp) and
 *   - op(B) as libxsmm's A in VNNI pairs: 32-bit word (p, j) at p * N + j
 *     holds (op(B)[2p][j], op(B)[2p+1][j]), the even k in the low half;
 *   - op(A) as libxsmm's B, row-major (M, Kp): word (i, p) at i * Kp/2 + p.
 * The conversions read each operand once (16 x 16 blocks transposed in
 * registers where the pairs run across rows) and write it at half size into
 * per-thread scratch (a pthread key frees it when its thread ends). */
#include <immintrin.h>
#include <libxsmm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm16.h"

typedef struct scratch {
    uint32_t *a, *b; /* bf16 pairs */
    size_t na, nb;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_ok;

static void scratch_free(void *p)
{
    scratch *s = p;
    free(s->a);
    free(s->b);
    free(s);
}

static void scratch_init(void)
{
    scratch_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

static scratch *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_ok)
        return NULL;
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s)) {
            free(s);
            return NULL;
        }
    }
    return s;
}

/* The main thread's scratch (no thread end frees it). */
void gemm16_release(void)
{
    if (!scratch_ok)
        return;
    scratch *s = pthread_getspecific(scratch_key);
    if (s) {
        scratch_free(s);
        pthread_setspecific(scratch_key, NULL);
    }
}

static uint32_t *grow(uint32_t **p, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*p);
        *cap = 0;
        *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64);
        if (!*p)
            return NULL;
        *cap = n;
    }
    return *p;
}

const char *gemm16_target(void)
{
    return libxsmm_get_target_arch();
}

int gemm16_available(void)
{
    /* the instructions, and a libxsmm that makes kernels for them */
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16") &&
           libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512_CPX;
}

__attribute__((target("avx512f,avx512bf16,avx512bw"))) static inline __m512i
pair16(const float *r0, const float *r1)
{
    __m256i l = (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r0));
    __m256i h = r1 ? (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r1))
                   : _mm256_setzero_si256();
    return _mm512_or_si512(_mm512_cvtepu16_epi32(l),
                           _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The 16 x 16 words r (row q: r[q]) transposed in registers (block swaps
 * at 8, 4, 2, 1) and stored: row q of the transpose at out + q * ldo. */
__attribute__((target("avx512f,avx512bf16,avx512bw"))) static inline void
tr16_store(uint32_t *out, size_t ldo, __m512i r[16])
{
    for (int d = 8; d >= 1; d /= 2) {
        int lo[16], hi[16];
        for (int c = 0; c < 16; c++) {
            lo[c] = (c & d) ? 16 + c - d : c;
            hi[c] = (c & d) ? 16 + c : c + d;
        }
        __m512i il = _mm512_loadu_si512(lo), ih = _mm512_loadu_si512(hi);
        for (int i = 0; i < 16; i++)
            if (!(i & d)) {
                __m512i a = r[i], b = r[i + d];
                r[i] = _mm512_permutex2var_epi32(a, il, b);
                r[i + d] = _mm512_permutex2var_epi32(a, ih, b);
            }
    }
    for (int q = 0; q < 16; q++)
        _mm512_storeu_si512(out + (size_t)q * ldo, r[q]);
}

static inline uint32_t bf(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return u >> 16;
}

/* out word (p, j) at p * ldo + j = (X[2p][j], X[2p+1][j]): rows of a
 * row-major (K, n) matrix X (ld ldx) paired along K, K padded to even. */
__attribute__((target("avx512f,avx512bf16,avx512bw"))) static void
pair_rows(uint32_t *out, size_t ldo, const float *X, size_t ldx, int K, int n)
{
    for (int p = 0; p < (K + 1) / 2; p++) {
        const float *r0 = X + (size_t)(2 * p) * ldx;
        const float *r1 = 2 * p + 1 < K ? r0 + ldx : NULL;
        uint32_t *o = out + (size_t)p * ldo;
        int j = 0;
        for (; j + 16 <= n; j += 16)
            _mm512_storeu_si512(o + j, pair16(r0 + j, r1 ? r1 + j : NULL));
        for (; j < n; j++)
            o[j] = bf(r0[j]) | (r1 ? bf(r1[j]) << 16 : 0);
    }
}

/* out word (p, j) at p * ldo + j = (X[j][2p], X[j][2p+1]): a row-major
 * (n, K) matrix X (ld ldx), its rows' adjacent pairs, transposed. */
__attribute__((target("avx512f,avx512bf16,avx512bw"))) static void
pair_cols(uint32_t *out, size_t ldo, const float *X, size_t ldx, int K, int n)
{
    int P = (K + 1) / 2, Pv = K / 32 * 16, nv = n / 16 * 16;
    for (int j0 = 0; j0 < nv; j0 += 16)
        for (int p0 = 0; p0 < Pv; p0 += 16) {
            __m512i r[16];
            for (int t = 0; t < 16; t++) {
                const float *row = X + (size_t)(j0 + t) * ldx + 2 * p0;
                r[t] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + 16),
                                                    _mm512_loadu_ps(row));
            }
            tr16_store(out + (size_t)p0 * ldo + j0, ldo, r);
        }
    for (int j = 0; j < n; j++) {
        const float *row = X + (size_t)j * ldx;
        for (int p = j < nv ? Pv : 0; p < P; p++)
            out[(size_t)p * ldo + j] =
                bf(row[2 * p]) | (2 * p + 1 < K ? bf(row[2 * p + 1]) << 16 : 0);
    }
}

/* word (i, p) at i * ldo + p = (X[i][2p], X[i][2p+1]): each row of a
 * row-major (n, K) matrix X converted in place order, K padded to even. */
__attribute__((target("avx512f,avx512bf16,avx512bw"))) static void
conv_rows(uint32_t *out, size_t ldo, const float *X, size_t ldx, int K, int n)
{
    for (int i = 0; i < n; i++) {
        const float *row = X + (size_t)i * ldx;
        uint32_t *o = out + (size_t)i * ldo;
        int p = 0;
        for (; 2 * p + 32 <= K; p += 16)
            _mm512_storeu_si512(o + p, (__m512i)_mm512_cvtne2ps_pbh(
                                           _mm512_loadu_ps(row + 2 * p + 16),
                                           _mm512_loadu_ps(row + 2 * p)));
        for (; 2 * p < K; p++)
            o[p] =
                bf(row[2 * p]) | (2 * p + 1 < K ? bf(row[2 * p + 1]) << 16 : 0);
    }
}

/* word (i, p) at i * ldo + p = (X[2p][i], X[2p+1][i]): rows of a row-major
 * (K, n) matrix X paired along K and transposed. */
__attribute__((target("avx512f,avx512bf16,avx512bw"))) static void
pair_rows_t(uint32_t *out, size_t ldo, const float *X, size_t ldx, int K, int n)
{
    int P = (K + 1) / 2, Pv = K / 32 * 16, nv = n / 16 * 16;
    for (int p0 = 0; p0 < Pv; p0 += 16)
        for (int i0 = 0; i0 < nv; i0 += 16) {
            __m512i r[16];
            for (int q = 0; q < 16; q++) {
                const float *r0 = X + (size_t)(2 * (p0 + q)) * ldx + i0;
                r[q] = pair16(r0, r0 + ldx);
            }
            tr16_store(out + (size_t)i0 * ldo + p0, ldo, r);
        }
    for (int p = 0; p < P; p++) {
        const float *r0 = X + (size_t)(2 * p) * ldx;
        const float *r1 = 2 * p + 1 < K ? r0 + ldx : NULL;
        for (int i = p < Pv ? nv : 0; i < n; i++)
            out[(size_t)i * ldo + p] = bf(r0[i]) | (r1 ? bf(r1[i]) << 16 : 0);
    }
}

int gemm16(int ta, int tb, int M, int N, int K, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0 || K <= 0 || (beta != 0.0f && beta != 1.0f))
        return -1;
    int Kp = K + (K & 1), P = Kp / 2;
    scratch *s = scratch_get();
    if (!s)
        return -1;
    uint32_t *bv = grow(&s->b, &s->nb, (size_t)P * N);
    uint32_t *ah = grow(&s->a, &s->na, (size_t)M * P);
    if (!bv || !ah)
        return -1;
    if (tb) /* B stored (N, K) */
        pair_cols(bv, (size_t)N, B, (size_t)ldb, K, N);
    else /* B stored (K, N) */
        pair_rows(bv, (size_t)N, B, (size_t)ldb, K, N);
    if (ta) /* A stored (K, M) */
        pair_rows_t(ah, (size_t)P, A, (size_t)lda, K, M);
    else /* A stored (M, K) */
        conv_rows(ah, (size_t)P, A, (size_t)lda, K, M);
    float one = 1.0f;
    int flags = LIBXSMM_GEMM_FLAG_VNNI_A;
    int ldA = N, ldB = Kp;
    libxsmm_bsmmfunction k = libxsmm_bsmmdispatch(N, M, Kp, &ldA, &ldB, &ldc,
                                                  &one, &beta, &flags, NULL);
    if (!k)
        return -1;
    k((const libxsmm_bfloat16 *)bv, (const libxsmm_bfloat16 *)ah, C);
    return 0;
}
