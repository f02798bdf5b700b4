/*
 * fdcheck.h - central finite differences against analytic gradients.
 *
 * The tests' one shared helper: perturb one float of a parameter array at a
 * time (or all of them along a random direction), re-evaluate a scalar loss
 * in double, and compare with the analytic gradient by relative error
 * |fd - an| / max(|fd| + |an|, floor).
 */
#ifndef HPO_FDCHECK_H
#define HPO_FDCHECK_H

#include <stddef.h>

typedef double (*fd_loss)(void *ctx);

typedef struct fd_result {
    double max_rel; /* worst relative error among checked entries */
    size_t worst;   /* index of the worst entry */
    double fd, an;  /* its numerical and analytic values */
    size_t checked;
} fd_result;

/*
 * Check grad[i] for i in 0..n-1 step stride (stride >= 1) against
 * (loss(x + h e_i) - loss(x - h e_i)) / 2h. x is restored.
 */
fd_result fd_check(fd_loss loss, void *ctx, float *x, const float *grad,
                   size_t n, size_t stride, double h, double floor);

/*
 * Directional check along d: (loss(x + h d) - loss(x - h d)) / 2h against
 * grad . d, with d uniform in [-1, 1] from seed. Returns the relative error
 * and writes both values.
 */
double fd_check_dir(fd_loss loss, void *ctx, float *x, const float *grad,
                    size_t n, double h, unsigned seed, double *fd, double *an);

/* Print a result line to stderr with a label. */
void fd_report(const char *label, const fd_result *r);

#endif
