/*
 * nn.h - dense layers, activations, MLPs and Adam on flat float blocks.
 *
 * Every network's parameters live in one contiguous float block owned by the
 * caller; an mlp only describes the layout (offsets of each W and b in the
 * block). Gradients, Adam moments and target copies share that layout, so
 * Adam, Polyak averaging, snapshots and checkpoints are single loops or
 * copies. Matrices are row-major; W of a layer is (O, I) as in PyTorch, so
 * a batch forward is one cblas_sgemm: y (B, O) = x (B, I) W^T + b.
 * Backward accumulates into weight gradients (+=) after one zero-grad by the
 * caller, and overwrites input gradients.
 */
#ifndef HPO_NN_H
#define HPO_NN_H

#include <stddef.h>

#include "rng.h"

#define MLP_MAX_LAYERS 4

typedef enum {
    ACT_IDENTITY = 0,
    ACT_RELU,
    ACT_ELU, /* alpha = 1 */
    ACT_TANH,
    ACT_SIGMOID,
} act_kind;

// ---- BLAS threads ----
/* Threads each BLAS call of this process may use (n >= 1): 1 where the
 * caller's own threads split the work (the update's lanes, actors), the
 * configured count where one thread calls BLAS. */
void nn_set_threads(int n);

/* The BLAS library's name of the CPU kernel set it runs, for benchmark
 * output; a static string. */
const char *nn_blas_core(void);

// ---- vector paths ----
/* The element-wise kernels (ELU, tanh, sigmoid, Adam, the activation and
 * mask passes) pick AVX2 / AVX code at run time when the CPU has it, in
 * every build. nn_set_simd(0) forces the scalar loops (tests compare the
 * two); nn_simd_name says which runs: "avx2", "avx" or "scalar". */
void nn_set_simd(int on);
const char *nn_simd_name(void);

// ---- bf16 products (--precision bf16) ----
/* nn_set_bf16(1): from then on (until nn_set_bf16(0)) every matrix product
 * of the layers below rounds both operands to bf16 and sums in fp32
 * (gemm16.h); the element-wise work, the parameters and Adam stay fp32.
 * sac_update holds it for its own duration when the config says bf16, so
 * acting and evaluation stay fp32. A no-op where nn_bf16_available is 0,
 * which then writes why (and what to do) into why[n]. */
int nn_bf16_available(char *why, size_t n);
void nn_set_bf16(int on);
/* frees the calling thread's bf16 scratch (a thread's own is freed as it
 * ends; sac_destroy calls it for the thread that frees an agent) */
void nn_bf16_release(void);

// ---- activations ----
/* y[i] = act(y[i]) in place, i < n. ELU, tanh and sigmoid on the AVX2 path
 * are within a few ulp of expm1f, tanhf and 1 / (1 + expf(-x)). */
void act_forward(float *y, size_t n, act_kind k);

/* y (rows, cols) = act(y + add) in one pass; add's rows are add_ld floats
 * apart, add_ld = 0 adding the same row (a bias) to every row. */
void act_forward_add(float *y, const float *add, int rows, int cols, int add_ld,
                     act_kind k);

/* d[i] *= act'(x_i) expressed through the output y[i] = act(x_i), i < n.
 * Every activation here has a derivative that is a function of its output. */
void act_backward(float *d, const float *y, size_t n, act_kind k);

// ---- dense layer ----
/* y (B, O) = x (B, I) W^T + b;  W (O, I), b (O). No activation. */
void dense_forward(float *y, const float *x, const float *W, const float *b,
                   int B, int n_in, int n_out);

/* y (B, O) = x (B, I) W^T (+ b): W (O, I) is a block of columns of a wider
 * weight matrix whose rows are ldw floats apart. b Nullable (no bias). With
 * a bias, y's rows are set to it first and the product accumulates onto
 * them (one pass over y fewer than a product into zeros plus a bias pass;
 * the bias is the first term of each sum). */
void dense_forward_cols(float *y, const float *x, const float *W, int ldw,
                        const float *b, int B, int n_in, int n_out);

/* y (B, O) = beta y + x (B, I) W^T, W as in dense_forward_cols; beta 0 or
 * 1 (1: onto a block the caller filled, e.g. a bias or a partial sum). */
void dense_forward_acc(float *y, const float *x, const float *W, int ldw,
                       float beta, int B, int n_in, int n_out);

/*
 * dW (O, I) += dy^T x;  db (O) += column sums of dy;  dx (B, I) = dy W.
 * dx, dW, db are each Nullable (skip that product).
 * ldx: row stride of x and dx (>= I), so a slice of a wider input works.
 */
void dense_backward(float *dx, float *dW, float *db, const float *dy,
                    const float *x, const float *W, int B, int n_in, int n_out,
                    int ldx);

// ---- MLP ----
typedef struct mlp {
    int n_layers;
    int dims[MLP_MAX_LAYERS + 1]; /* dims[0] input, dims[n_layers] output */
    act_kind act[MLP_MAX_LAYERS]; /* activation after layer i */
    size_t w_off[MLP_MAX_LAYERS]; /* offset of W_i (dims[i+1], dims[i]) */
    size_t b_off[MLP_MAX_LAYERS]; /* offset of b_i (dims[i+1]) */
    size_t offset;                /* first float of this net in the block */
    size_t n_params;              /* floats this net occupies */
} mlp;

/* Describe an MLP whose parameters start at *offset of a flat block; advance
 * *offset past them. n_hidden hidden layers of width hidden with activation
 * hid_act, then an output layer of width out with out_act. */
void mlp_init(mlp *net, size_t *offset, int in, int hidden, int n_hidden,
              act_kind hid_act, int out, act_kind out_act);

/* Uniform fan-in init as PyTorch's nn.Linear: W, b ~ U(-1/sqrt(I), 1/sqrt(I)).
 */
void mlp_init_params(const mlp *net, float *block, rng *r);

/* Per-layer outputs kept for backward: acts[i] (B, dims[i+1]). */
typedef struct mlp_cache {
    int max_batch;
    float *acts[MLP_MAX_LAYERS];
    float *dbuf[2]; /* backward scratch, (max_batch, max width) */
} mlp_cache;

void mlp_cache_init(mlp_cache *c, const mlp *net, int max_batch);
void mlp_cache_release(mlp_cache *c);

/* Forward x (B, dims[0]) through the net; outputs in c->acts; returns the
 * final output (B, dims[n_layers]), which lives in c. */
const float *mlp_forward(const mlp *net, const float *block, mlp_cache *c,
                         const float *x, int B);

/* Forward layers first.. of the net when the caller formed part of layer
 * first's product: c->acts[first] (B, dims[first+1]) holds it, and pre
 * (B, dims[first+1]) the rest, bias included (Nullable: c->acts[first]
 * already holds the whole pre-activation, bias included). first <
 * n_layers. Returns the final output. */
const float *mlp_forward_from(const mlp *net, const float *block, mlp_cache *c,
                              int first, const float *pre, int B);

/*
 * Backward from dout (B, dims[n_layers]) (the gradient w.r.t. the final
 * output after its activation). Accumulates weight gradients into gblock
 * (Nullable: skip them) and writes dx (B, ldx) (Nullable). x is the forward
 * input. dout is not modified.
 */
void mlp_backward(const mlp *net, const float *block, float *gblock,
                  mlp_cache *c, const float *x, const float *dout, float *dx,
                  int ldx, int B);

/*
 * Input gradient of a net with one output (a critic) at selected rows of
 * the batch its last mlp_forward saw: for r < n, dx row r (ldx) receives
 * d out / d x[rows[r]] in columns col0 .. dims[0]-1 (only those: col0 > 0
 * skips the input columns nobody needs). No weight gradient is formed. The
 * product count is that of a backward over n rows, not over the batch.
 */
void mlp_input_grad_rows(const mlp *net, const float *block, mlp_cache *c,
                         const int *rows, int n, int col0, float *dx, int ldx);

// ---- optimizer and averaging over flat ranges ----
typedef struct adam {
    float lr, beta1, beta2, eps;
} adam;

/* One Adam step over n parameters; t is the 1-based step count. */
void adam_step(const adam *opt, float *p, const float *g, float *m, float *v,
               size_t n, long t);

/* target = tau * src + (1 - tau) * target over n floats. */
void polyak_update(float *target, const float *src, size_t n, float tau);

/* Multiply-adds of one forward pass of net per sample. */
double mlp_macs(const mlp *net);

#endif
