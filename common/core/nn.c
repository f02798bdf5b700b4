#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "log.h"
#if HPO_HAVE_BF16
#include "gemm16.h"
#endif

/*
 * Vector paths, chosen at run time: the portable build (-march=x86-64)
 * compiles the AVX2 and AVX functions below with a target attribute and
 * calls them when the CPU has the extension (__builtin_cpu_supports), so
 * the element-wise work keeps pace with the BLAS kernels without
 * -march=native. Plain loops that vectorize by themselves are cloned for
 * AVX2 (target_clones: the loader picks the clone). GCC and x86-64 only;
 * elsewhere the scalar loops run.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_X86 1
#include <immintrin.h>
#define NN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NN_X86 0
#define NN_CLONES
#endif

// ---- the products: fp32, or bf16 in the update ----
static int bf16_on; /* nn_set_bf16(1): the products in bf16 (gemm16.h) */

int nn_bf16_available(char *why, size_t n)
{
#if HPO_HAVE_BF16
    if (gemm16_available())
        return 1;
    snprintf(
        why, n,
        "this CPU has no AVX512-BF16 instructions, or libxsmm makes no kernels for them here (its target: %s); AMD Zen 4 and later, Intel Cooper Lake and Sapphire Rapids and later have them; use --precision fp32",
        gemm16_target());
#else
    snprintf(
        why, n, "%s",
        "this build has no bf16 products: install libxsmm-dev (deploy/setup does) and rebuild; or use --precision fp32");
#endif
    return 0;
}

void nn_set_bf16(int on)
{
#if HPO_HAVE_BF16
    bf16_on = on && gemm16_available();
#else
    (void)on;
#endif
}

void nn_bf16_release(void)
{
#if HPO_HAVE_BF16
    gemm16_release();
#endif
}

/* Row-major C = op(A) op(B) + beta C, as cblas_sgemm with alpha 1: in bf16
 * with fp32 sums while nn_set_bf16(1) holds and gemm16 takes the shape. */
static void gemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
#if HPO_HAVE_BF16
    if (bf16_on) {
        if (gemm16(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) == 0)
            return;
        /* said once: a libxsmm that has no bf16 kernel for this CPU */
        static _Atomic int told;
        if (!told++)
            log_warn(
                "--precision bf16: no bf16 kernel for a %d x %d x %d product (libxsmm's target: %s); such products run in fp32",
                M, N, K, gemm16_target());
    }
#endif
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb,
                beta, C, ldc);
}

static int simd_off; /* nn_set_simd(0): the scalar paths, for tests */

void nn_set_simd(int on)
{
    simd_off = !on;
}

/* Whether the AVX2 (level 2) or AVX (level 1) paths run here. */
static int simd_has(int level)
{
#if NN_X86
    if (simd_off)
        return 0;
    return level >= 2 ? __builtin_cpu_supports("avx2")
                      : __builtin_cpu_supports("avx");
#else
    (void)level;
    return 0;
#endif
}

const char *nn_simd_name(void)
{
    return simd_has(2) ? "avx2" : simd_has(1) ? "avx" : "scalar";
}

/* OpenBLAS extensions; declared here, the one place that calls them, so a
 * cblas.h without them still builds. */
void openblas_set_num_threads(int);
char *openblas_get_corename(void);

// ---- BLAS threads ----
void nn_set_threads(int n)
{
    HPO_ASSERT(n >= 1);
    openblas_set_num_threads(n);
}

const char *nn_blas_core(void)
{
    return openblas_get_corename();
}

// ---- activations ----

#if NN_X86
#define AVX2 __attribute__((target("avx2")))
/*
 * x = k ln2 + r with |r| <= ln2/2 (ln2 split in two so that k ln2_hi is
 * exact); returns expm1(r) by its Taylor series to r^8 and *s = 2^k. x must
 * be in [-87, 88] (2^k stays normal). Plain multiplies and adds, no FMA:
 * every lane computes what the same operations give in scalar.
 */
AVX2 static __m256 exp_parts8(__m256 x, __m256 *s)
{
    static const float c[7] = {1.0f / 40320, 1.0f / 5040, 1.0f / 720,
                               1.0f / 120,   1.0f / 24,   1.0f / 6,
                               0.5f};
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(
        _mm256_sub_ps(x, _mm256_mul_ps(k, _mm256_set1_ps(0.693145752f))),
        _mm256_mul_ps(k, _mm256_set1_ps(1.42860677e-6f)));
    __m256 p = _mm256_set1_ps(c[0]);
    for (int i = 1; i < 7; i++)
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c[i]));
    p = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r);
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
    *s = _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
    return p;
}

/* e^x - 1 for 8 values x <= 0, within 1 ulp of the exact value (checked on
 * every float in [-100, 0]): (2^k - 1) + 2^k expm1(r). expm1f is a scalar
 * call: the ELU of T_h and sigma_h spent 3-4% of an update in it. */
AVX2 static __m256 expm1_neg8(__m256 x)
{
    __m256 s, p = exp_parts8(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), &s);
    return _mm256_add_ps(_mm256_sub_ps(s, _mm256_set1_ps(1.0f)),
                         _mm256_mul_ps(s, p));
}

/* e^x for 8 values, x clamped to [-87, 88]: 2^k + 2^k expm1(r). */
AVX2 static __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)),
                      _mm256_set1_ps(88.0f));
    __m256 s, p = exp_parts8(x, &s);
    return _mm256_add_ps(s, _mm256_mul_ps(s, p));
}

AVX2 static void elu_avx2(float *y, size_t n)
{
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(y + i);
        __m256 e = expm1_neg8(_mm256_min_ps(x, zero));
        __m256 pos = _mm256_cmp_ps(x, zero, _CMP_GT_OQ);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(e, x, pos));
    }
    for (; i < n; i++)
        y[i] = y[i] > 0.0f ? y[i] : expm1f(y[i]);
}

/* tanh x = sign(x) tanh |x|, as glibc's tanhf: for |x| < 1, -t / (t + 2)
 * with t = e^(-2|x|) - 1 (no cancellation near 0); from 1 on,
 * 1 - 2 / (e^(2|x|) + 1). Within 2 ulp of tanhf (tests/test_nn.c). */
AVX2 static void tanh_avx2(float *y, size_t n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    const __m256 two = _mm256_set1_ps(2.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(y + i);
        __m256 ax = _mm256_andnot_ps(sign, x);
        __m256 t = expm1_neg8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
        __m256 small = _mm256_div_ps(_mm256_sub_ps(_mm256_setzero_ps(), t),
                                     _mm256_add_ps(t, two));
        __m256 e = exp8(_mm256_mul_ps(ax, two));
        __m256 big =
            _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(e, one)));
        __m256 th =
            _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, one, _CMP_LT_OQ));
        _mm256_storeu_ps(y + i, _mm256_or_ps(th, _mm256_and_ps(sign, x)));
    }
    for (; i < n; i++)
        y[i] = tanhf(y[i]);
}

/* d *= ELU'(x) given y = ELU(x): min(y + 1, 1), which is y + 1 for
 * y <= 0 and 1 for y > 0 (y + 1 >= 1 exactly then), the scalar loop's
 * value; GCC leaves that loop scalar and branching (its conditional y + 1
 * may not be computed speculatively under -ftrapping-math). */
AVX2 static void elu_backward_avx2(float *d, const float *y, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 f =
            _mm256_min_ps(_mm256_add_ps(_mm256_loadu_ps(y + i), one), one);
        _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_loadu_ps(d + i), f));
    }
    for (; i < n; i++)
        d[i] *= y[i] > 0.0f ? 1.0f : y[i] + 1.0f;
}

/* 1 / (1 + e^-x), e^-x by exp8. */
AVX2 static void sigmoid_avx2(float *y, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e =
            exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    for (; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-y[i]));
}
#endif

NN_CLONES void act_forward(float *y, size_t n, act_kind k)
{
    switch (k) {
    case ACT_IDENTITY:
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
    case ACT_ELU:
#if NN_X86
        if (simd_has(2)) {
            elu_avx2(y, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : expm1f(y[i]);
        break;
    case ACT_TANH:
#if NN_X86
        if (simd_has(2)) {
            tanh_avx2(y, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++)
            y[i] = tanhf(y[i]);
        break;
    case ACT_SIGMOID:
#if NN_X86
        if (simd_has(2)) {
            sigmoid_avx2(y, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
    }
}

/* One row of act_forward_add for ReLU and identity (the loops vectorize;
 * the caller is cloned for AVX2). */
static inline void add_act_row(float *y, const float *a, int n, act_kind k)
{
    if (k == ACT_RELU)
        for (int i = 0; i < n; i++) {
            float x = y[i] + a[i];
            y[i] = x > 0.0f ? x : 0.0f;
        }
    else
        for (int i = 0; i < n; i++)
            y[i] += a[i];
}

NN_CLONES void act_forward_add(float *y, const float *add, int rows, int cols,
                               int add_ld, act_kind k)
{
    int fused = k == ACT_IDENTITY || k == ACT_RELU;
    for (int r = 0; r < rows; r++)
        add_act_row(y + (size_t)r * cols, add + (size_t)r * add_ld, cols,
                    fused ? k : ACT_IDENTITY);
    /* ELU, tanh, sigmoid over the whole block, not row by row: a row of 6
     * (T_h, sigma_h) is shorter than one vector and ran the scalar tail */
    if (!fused)
        act_forward(y, (size_t)rows * cols, k);
}

NN_CLONES void act_backward(float *d, const float *y, size_t n, act_kind k)
{
    switch (k) {
    case ACT_IDENTITY:
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++)
            d[i] = y[i] > 0.0f ? d[i] : 0.0f;
        break;
    case ACT_ELU: /* x <= 0: d/dx (e^x - 1) = e^x = y + 1 */
#if NN_X86
        if (simd_has(2)) {
            elu_backward_avx2(d, y, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++)
            d[i] *= y[i] > 0.0f ? 1.0f : y[i] + 1.0f;
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++)
            d[i] *= 1.0f - y[i] * y[i];
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            d[i] *= y[i] * (1.0f - y[i]);
        break;
    }
}

// ---- dense layer ----

void dense_forward(float *y, const float *x, const float *W, const float *b,
                   int B, int n_in, int n_out)
{
    dense_forward_cols(y, x, W, n_in, b, B, n_in, n_out);
}

/* y (B, O) = the bias row in every row: the output's first write, so the
 * product after it accumulates (beta = 1) instead of OpenBLAS zeroing the
 * block for beta = 0 and a second pass adding the bias. */
NN_CLONES static void bias_rows(float *y, const float *b, int B, int n_out)
{
    for (int r = 0; r < B; r++) {
        float *row = y + (size_t)r * n_out;
        for (int o = 0; o < n_out; o++)
            row[o] = b[o];
    }
}

void dense_forward_cols(float *y, const float *x, const float *W, int ldw,
                        const float *b, int B, int n_in, int n_out)
{
    if (b)
        bias_rows(y, b, B, n_out);
    dense_forward_acc(y, x, W, ldw, b ? 1.0f : 0.0f, B, n_in, n_out);
}

void dense_forward_acc(float *y, const float *x, const float *W, int ldw,
                       float beta, int B, int n_in, int n_out)
{
    if (n_out == 1) /* a matrix-vector product: sgemm would pack for it */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, B, n_in, 1.0f, x, n_in, W, 1,
                    beta, y, 1);
    else
        gemm(0, 1, B, n_out, n_in, x, n_in, W, ldw, beta, y, n_out);
}

void dense_backward(float *dx, float *dW, float *db, const float *dy,
                    const float *x, const float *W, int B, int n_in, int n_out,
                    int ldx)
{
    if (dW && n_out == 1) /* dW += x^T dy */
        cblas_sgemv(CblasRowMajor, CblasTrans, B, n_in, 1.0f, x, ldx, dy, 1,
                    1.0f, dW, 1);
    else if (dW)
        gemm(1, 0, n_out, n_in, B, dy, n_out, x, ldx, 1.0f, dW, n_in);
    if (db)
        for (int r = 0; r < B; r++) {
            const float *row = dy + (size_t)r * n_out;
            for (int o = 0; o < n_out; o++)
                db[o] += row[o];
        }
    if (dx && n_out == 1) /* an outer product: each row is dy[r] W */
        for (int r = 0; r < B; r++)
            for (int i = 0; i < n_in; i++)
                dx[(size_t)r * ldx + i] = dy[r] * W[i];
    else if (dx)
        gemm(0, 0, B, n_in, n_out, dy, n_out, W, n_in, 0.0f, dx, ldx);
}

// ---- MLP ----

void mlp_init(mlp *net, size_t *offset, int in, int hidden, int n_hidden,
              act_kind hid_act, int out, act_kind out_act)
{
    HPO_ASSERT(n_hidden >= 0 && n_hidden < MLP_MAX_LAYERS);
    HPO_ASSERT(in > 0 && out > 0 && (n_hidden == 0 || hidden > 0));
    memset(net, 0, sizeof *net);
    net->n_layers = n_hidden + 1;
    net->dims[0] = in;
    for (int i = 0; i < n_hidden; i++) {
        net->dims[i + 1] = hidden;
        net->act[i] = hid_act;
    }
    net->dims[net->n_layers] = out;
    net->act[n_hidden] = out_act;
    net->offset = *offset;
    size_t off = *offset;
    for (int i = 0; i < net->n_layers; i++) {
        net->w_off[i] = off;
        off += (size_t)net->dims[i + 1] * net->dims[i];
        net->b_off[i] = off;
        off += (size_t)net->dims[i + 1];
    }
    net->n_params = off - *offset;
    *offset = off;
}

void mlp_init_params(const mlp *net, float *block, rng *r)
{
    for (int i = 0; i < net->n_layers; i++) {
        float bound = 1.0f / sqrtf((float)net->dims[i]);
        size_t nw = (size_t)net->dims[i + 1] * net->dims[i];
        rng_uniform_fill(r, block + net->w_off[i], nw, -bound, bound);
        rng_uniform_fill(r, block + net->b_off[i], (size_t)net->dims[i + 1],
                         -bound, bound);
    }
}

static int max_width(const mlp *net)
{
    int w = 0;
    for (int i = 0; i <= net->n_layers; i++)
        w = HPO_MAX(w, net->dims[i]);
    return w;
}

void mlp_cache_init(mlp_cache *c, const mlp *net, int max_batch)
{
    memset(c, 0, sizeof *c);
    c->max_batch = max_batch;
    for (int i = 0; i < net->n_layers; i++)
        c->acts[i] = xalloc_floats((size_t)max_batch * net->dims[i + 1]);
    size_t w = (size_t)max_width(net);
    c->dbuf[0] = xalloc_floats((size_t)max_batch * w);
    c->dbuf[1] = xalloc_floats((size_t)max_batch * w);
}

void mlp_cache_release(mlp_cache *c)
{
    for (int i = 0; i < MLP_MAX_LAYERS; i++)
        free(c->acts[i]);
    free(c->dbuf[0]);
    free(c->dbuf[1]);
    memset(c, 0, sizeof *c);
}

/* Layers first + 1 .. of the net, layer first's output (activation
 * applied) in c->acts[first]: each layer's bias written first, its product
 * accumulated onto it, its activation in place. */
static const float *forward_layers(const mlp *net, const float *block,
                                   mlp_cache *c, int first, int B)
{
    for (int i = first + 1; i < net->n_layers; i++) {
        int ni = net->dims[i], no = net->dims[i + 1];
        dense_forward_cols(c->acts[i], c->acts[i - 1], block + net->w_off[i],
                           ni, block + net->b_off[i], B, ni, no);
        act_forward(c->acts[i], (size_t)B * no, net->act[i]);
    }
    return c->acts[net->n_layers - 1];
}

const float *mlp_forward(const mlp *net, const float *block, mlp_cache *c,
                         const float *x, int B)
{
    HPO_ASSERT(B <= c->max_batch);
    int no = net->dims[1];
    dense_forward_cols(c->acts[0], x, block + net->w_off[0], net->dims[0],
                       block + net->b_off[0], B, net->dims[0], no);
    act_forward(c->acts[0], (size_t)B * no, net->act[0]);
    return forward_layers(net, block, c, 0, B);
}

const float *mlp_forward_from(const mlp *net, const float *block, mlp_cache *c,
                              int first, const float *pre, int B)
{
    HPO_ASSERT(B <= c->max_batch && first >= 0 && first < net->n_layers);
    int no = net->dims[first + 1];
    if (pre)
        act_forward_add(c->acts[first], pre, B, no, no, net->act[first]);
    else
        act_forward(c->acts[first], (size_t)B * no, net->act[first]);
    return forward_layers(net, block, c, first, B);
}

/* d (rows, cols) = g act'(y) (d may be g), and db (cols) += the column
 * sums of d (Nullable): the mask and the bias gradient in one pass. */
NN_CLONES static void act_backward_sum(float *d, const float *g, const float *y,
                                       int rows, int cols, act_kind k,
                                       float *db)
{
    for (int r = 0; r < rows; r++) {
        size_t at = (size_t)r * cols;
        float *dr = d + at;
        const float *gr = g + at, *yr = y + at;
        if (k == ACT_RELU) {
            for (int o = 0; o < cols; o++)
                dr[o] = yr[o] > 0.0f ? gr[o] : 0.0f;
        } else {
            if (dr != gr)
                memcpy(dr, gr, (size_t)cols * sizeof(float));
            act_backward(dr, yr, (size_t)cols, k);
        }
        if (db)
            for (int o = 0; o < cols; o++)
                db[o] += dr[o];
    }
}

/* The input gradient of a one-output layer times the activation derivative
 * of the layer below, its bias gradient too: d (rows, cols) = (g[r] w)
 * act'(y), db (cols) += column sums of d (Nullable). One pass where the
 * outer product, the mask and the column sums took three. */
NN_CLONES static void outer_act_sum(float *d, const float *g, const float *w,
                                    const float *y, int rows, int cols,
                                    act_kind k, float *db)
{
    for (int r = 0; r < rows; r++) {
        size_t at = (size_t)r * cols;
        float *dr = d + at, gr = g[r];
        const float *yr = y + at;
        /* row by row, so the mask reads the product from L1 (a
         * conditional product does not vectorize: -ftrapping-math) */
        for (int o = 0; o < cols; o++)
            dr[o] = gr * w[o];
        act_backward(dr, yr, (size_t)cols, k);
        if (db)
            for (int o = 0; o < cols; o++)
                db[o] += dr[o];
    }
}

void mlp_backward(const mlp *net, const float *block, float *gblock,
                  mlp_cache *c, const float *x, const float *dout, float *dx,
                  int ldx, int B)
{
    HPO_ASSERT(B <= c->max_batch);
    int L = net->n_layers;
    float *d = c->dbuf[0], *dprev = c->dbuf[1];
    const float *g = dout; /* this layer's output gradient, before act' */
    int masked = 0;        /* d holds it after act', its bias gradient added */
    for (int i = L - 1; i >= 0; i--) {
        int ni = net->dims[i], no = net->dims[i + 1];
        const float *W = block + net->w_off[i];
        float *dW = gblock ? gblock + net->w_off[i] : NULL;
        float *db = gblock ? gblock + net->b_off[i] : NULL;
        if (!masked)
            act_backward_sum(d, g, c->acts[i], B, no, net->act[i], db);
        const float *in = i > 0 ? c->acts[i - 1] : x;
        int ld_in = i > 0 ? ni : ldx;
        masked = i > 0 && no == 1;
        if (masked) { /* the outer product d W, masked for layer i - 1 */
            dense_backward(NULL, dW, NULL, d, in, W, B, ni, no, ld_in);
            outer_act_sum(dprev, d, W, c->acts[i - 1], B, ni, net->act[i - 1],
                          gblock ? gblock + net->b_off[i - 1] : NULL);
        } else {
            dense_backward(i > 0 ? dprev : dx, dW, NULL, d, in, W, B, ni, no,
                           ld_in);
        }
        if (i > 0) {
            float *t = d;
            d = dprev;
            dprev = t;
            g = d;
        }
    }
}

/* row (n) = g w act'(y) */
static inline void scaled_act_row(float *row, float g, const float *w,
                                  const float *y, int n, act_kind k)
{
    for (int i = 0; i < n; i++)
        row[i] = g * w[i];
    act_backward(row, y, (size_t)n, k);
}

NN_CLONES void mlp_input_grad_rows(const mlp *net, const float *block,
                                   mlp_cache *c, const int *rows, int n,
                                   int col0, float *dx, int ldx)
{
    int L = net->n_layers;
    HPO_ASSERT(net->dims[L] == 1 && n <= c->max_batch);
    HPO_ASSERT(col0 >= 0 && col0 < net->dims[0]);
    if (n == 0)
        return;
    float *d = c->dbuf[0], *dprev = c->dbuf[1];
    /* output layer: d out / d (its input) = act'(out) * w, row by row, with
     * the mask of the layer below (act' at the selected rows) in the same
     * loop */
    const float *y = c->acts[L - 1];
    const float *w = block + net->w_off[L - 1];
    int ni = net->dims[L - 1];
    float *dst = L > 1 ? d : dprev;
    for (int r = 0; r < n; r++) {
        float g = 1.0f;
        act_backward(&g, y + rows[r], 1, net->act[L - 1]);
        float *row = dst + (size_t)r * ni;
        if (L > 1)
            scaled_act_row(row, g, w, c->acts[L - 2] + (size_t)rows[r] * ni, ni,
                           net->act[L - 2]);
        else
            for (int i = 0; i < ni; i++)
                row[i] = g * w[i];
    }
    /* hidden layers: mask by act' at the selected rows, then through W */
    for (int i = L - 2; i >= 0; i--) {
        int no = net->dims[i + 1];
        if (i < L - 2)
            for (int r = 0; r < n; r++)
                act_backward(d + (size_t)r * no,
                             c->acts[i] + (size_t)rows[r] * no, (size_t)no,
                             net->act[i]);
        const float *W = block + net->w_off[i];
        int in = net->dims[i];
        if (i > 0) {
            gemm(0, 0, n, in, no, d, no, W, in, 0.0f, dprev, in);
            float *t = d;
            d = dprev;
            dprev = t;
        } else {
            gemm(0, 0, n, in - col0, no, d, no, W + col0, in, 0.0f, dx, ldx);
        }
    }
    if (L == 1) /* no hidden layer: the output layer's input is x */
        for (int r = 0; r < n; r++)
            memcpy(dx + (size_t)r * ldx, dprev + (size_t)r * ni + col0,
                   (size_t)(ni - col0) * sizeof(float));
}

// ---- optimizer and averaging ----

#if NN_X86
/* Adam on 8 parameters at a time from i on; returns where it stopped.
 * The scalar loop of adam_step does not vectorize: sqrtf may set errno,
 * so the compiler keeps a branch per element (13x slower on 72k
 * parameters). The same operations in the same order: same results. */
__attribute__((target("avx"))) static size_t adam_avx(const adam *opt, float *p,
                                                      const float *g, float *m,
                                                      float *v, size_t n,
                                                      float step, float isq)
{
    const float b1 = opt->beta1, b2 = opt->beta2;
    size_t i = 0;
    const __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(1.0f - b1);
    const __m256 vb2 = _mm256_set1_ps(b2), vc2 = _mm256_set1_ps(1.0f - b2);
    const __m256 vstep = _mm256_set1_ps(step), visq = _mm256_set1_ps(isq);
    const __m256 veps = _mm256_set1_ps(opt->eps);
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)),
                                  _mm256_mul_ps(vc1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 den =
            _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), visq), veps);
        __m256 upd = _mm256_div_ps(_mm256_mul_ps(vstep, mi), den);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), upd));
    }
    return i;
}
#endif

void adam_step(const adam *opt, float *p, const float *g, float *m, float *v,
               size_t n, long t)
{
    const float b1 = opt->beta1, b2 = opt->beta2;
    const float bc1 = 1.0f - powf(b1, (float)t);
    const float bc2 = 1.0f - powf(b2, (float)t);
    const float step = opt->lr / bc1;
    const float isq = 1.0f / sqrtf(bc2);
    size_t i = 0;
#if NN_X86
    if (simd_has(1))
        i = adam_avx(opt, p, g, m, v, n, step, isq);
#endif
    for (; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * isq + opt->eps);
    }
}

NN_CLONES void polyak_update(float *target, const float *src, size_t n,
                             float tau)
{
    for (size_t i = 0; i < n; i++)
        target[i] += tau * (src[i] - target[i]);
}

double mlp_macs(const mlp *net)
{
    double m = 0;
    for (int i = 0; i < net->n_layers; i++)
        m += (double)net->dims[i] * net->dims[i + 1];
    return m;
}
