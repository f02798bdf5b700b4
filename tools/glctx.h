/*
 * glctx.h - an offscreen OpenGL context for MuJoCo's renderer, no display.
 *
 * hpo-render draws into MuJoCo's offscreen framebuffer (mjFB_OFFSCREEN), so
 * all it needs is a current OpenGL context, made one of two ways and picked
 * at run time:
 *   - EGL on a GPU device (libEGL.so.1, Debian's libegl1 with the vendor's
 *     driver), surfaceless: fast where a GPU is present;
 *   - OSMesa (libOSMesa.so.8, Debian's libosmesa6): Mesa's software
 *     rasterizer into a memory buffer, works anywhere.
 * Both libraries are opened with dlopen, so hpo-render starts on a machine
 * that lacks them and says which package to install. MuJoCo 2.2.2 finds the
 * GL functions through the library the process has loaded globally, so
 * exactly one of the two is loaded RTLD_GLOBAL: EGL only once its context
 * works, OSMesa otherwise.
 *
 * One context per process, current on the calling thread until destroyed.
 */
#ifndef HPO_GLCTX_H
#define HPO_GLCTX_H

#include <stddef.h>

typedef enum glctx_kind {
    GLCTX_AUTO = 0, /* EGL on a GPU device if there is one, else OSMesa */
    GLCTX_EGL,      /* EGL on its first device, a software one if no GPU */
    GLCTX_OSMESA,   /* OSMesa */
} glctx_kind;

typedef struct glctx glctx;

/*
 * Make an offscreen context of kind current on this thread; width x height
 * sizes OSMesa's buffer (MuJoCo renders into its own framebuffer object).
 * Returns it, or NULL with a message naming the library that failed and the
 * Debian package to install. Caller owns the result; free with glctx_destroy.
 */
glctx *glctx_new(glctx_kind kind, int width, int height, char *err,
                 size_t errlen);

/* What was made: "EGL (GPU device)", "EGL (software device)" or "OSMesa
 * (software)". */
const char *glctx_describe(const glctx *g);

/* Release the context, free *g and set it to NULL. Accepts NULL and *g ==
 * NULL. The libraries stay loaded (MuJoCo holds their functions). */
void glctx_destroy(glctx **g);

/* Parse "auto", "egl" or "osmesa" into *kind. Returns 0, or -1. */
int glctx_parse_kind(const char *name, glctx_kind *kind);

#endif
