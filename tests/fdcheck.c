#include "fdcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double rel_err(double fd, double an, double floor)
{
    double den = fabs(fd) + fabs(an);
    if (den < floor)
        den = floor;
    return fabs(fd - an) / den;
}

fd_result fd_check(fd_loss loss, void *ctx, float *x, const float *grad,
                   size_t n, size_t stride, double h, double floor)
{
    fd_result r = {0};
    for (size_t i = 0; i < n; i += stride) {
        float x0 = x[i];
        x[i] = (float)(x0 + h);
        double hp = (double)x[i] - x0;
        double lp = loss(ctx);
        x[i] = (float)(x0 - h);
        double hm = x0 - (double)x[i];
        double lm = loss(ctx);
        x[i] = x0;
        double fd = (lp - lm) / (hp + hm);
        double e = rel_err(fd, grad[i], floor);
        if (e > r.max_rel || r.checked == 0) {
            r.max_rel = e;
            r.worst = i;
            r.fd = fd;
            r.an = grad[i];
        }
        r.checked++;
    }
    return r;
}

double fd_check_dir(fd_loss loss, void *ctx, float *x, const float *grad,
                    size_t n, double h, unsigned seed, double *fd, double *an)
{
    float *x0 = malloc(n * sizeof(float));
    float *d = malloc(n * sizeof(float));
    if (!x0 || !d)
        abort();
    srand(seed);
    double dot = 0.0;
    for (size_t i = 0; i < n; i++) {
        x0[i] = x[i];
        d[i] = 2.0f * (float)rand() / (float)RAND_MAX - 1.0f;
        dot += (double)grad[i] * d[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(x0[i] + h * d[i]);
    double lp = loss(ctx);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(x0[i] - h * d[i]);
    double lm = loss(ctx);
    for (size_t i = 0; i < n; i++)
        x[i] = x0[i];
    free(x0);
    free(d);
    *fd = (lp - lm) / (2.0 * h);
    *an = dot;
    return rel_err(*fd, dot, 1e-12);
}

void fd_report(const char *label, const fd_result *r)
{
    fprintf(stderr,
            "%-28s checked %5zu  max rel err %.2e at %zu (fd %.6g an %.6g)\n",
            label, r->checked, r->max_rel, r->worst, r->fd, r->an);
}
