/*
 * glctx.c - an offscreen OpenGL context: EGL or OSMesa (glctx.h).
 */
#include "glctx.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GL/osmesa.h>

#include "util.h"

#define EGL_LIB "libEGL.so.1"
#define OSMESA_LIB "libOSMesa.so.8"
#define MAX_DEVICES 16

struct glctx {
    glctx_kind kind;  /* GLCTX_EGL or GLCTX_OSMESA */
    const char *what; /* glctx_describe's text */
    /* EGL */
    EGLDisplay dpy;
    EGLContext ctx;
    PFNEGLMAKECURRENTPROC make_current;
    PFNEGLDESTROYCONTEXTPROC destroy_context;
    /* OSMesa */
    OSMesaContext osmesa;
    void (*osmesa_destroy)(OSMesaContext);
    GLboolean (*osmesa_make_current)(OSMesaContext, void *, GLenum, GLsizei,
                                     GLsizei);
    unsigned char *buffer; /* (height, width, 4) */
};

/* fn = dlsym(h, name), through a data pointer as POSIX allows (ISO C has
 * no cast from an object pointer to a function pointer). */
#define DLSYM_FN(fn, h, name)                                                  \
    do {                                                                       \
        void *p_ = dlsym(h, name);                                             \
        memcpy(&(fn), &p_, sizeof(fn));                                        \
    } while (0)

typedef OSMesaContext (*osmesa_create_fn)(GLenum, GLint, GLint, GLint,
                                          OSMesaContext);
typedef GLboolean (*osmesa_make_current_fn)(OSMesaContext, void *, GLenum,
                                            GLsizei, GLsizei);

/* EGL's entry points, from the handle or eglGetProcAddress. */
typedef struct egl_api {
    PFNEGLGETPROCADDRESSPROC get_proc;
    PFNEGLQUERYDEVICESEXTPROC query_devices;
    PFNEGLQUERYDEVICESTRINGEXTPROC query_device_string;
    PFNEGLGETPLATFORMDISPLAYEXTPROC platform_display;
    PFNEGLINITIALIZEPROC initialize;
    PFNEGLBINDAPIPROC bind_api;
    PFNEGLCHOOSECONFIGPROC choose_config;
    PFNEGLCREATECONTEXTPROC create_context;
    PFNEGLMAKECURRENTPROC make_current;
    PFNEGLDESTROYCONTEXTPROC destroy_context;
    PFNEGLTERMINATEPROC terminate;
    PFNEGLGETERRORPROC get_error;
} egl_api;

/* Resolve every entry point of api from h. Returns 0, or -1 naming the
 * first one missing. */
static int egl_resolve(void *h, egl_api *api, char *err, size_t errlen)
{
    DLSYM_FN(api->get_proc, h, "eglGetProcAddress");
    if (!api->get_proc) {
        errf(err, errlen, EGL_LIB " has no eglGetProcAddress");
        return -1;
    }
#define EGL_FN(field, type, name)                                              \
    do {                                                                       \
        api->field = (type)api->get_proc(name);                                \
        if (!api->field) {                                                     \
            errf(err, errlen, EGL_LIB " has no %s", name);                     \
            return -1;                                                         \
        }                                                                      \
    } while (0)
    EGL_FN(query_devices, PFNEGLQUERYDEVICESEXTPROC, "eglQueryDevicesEXT");
    EGL_FN(query_device_string, PFNEGLQUERYDEVICESTRINGEXTPROC,
           "eglQueryDeviceStringEXT");
    EGL_FN(platform_display, PFNEGLGETPLATFORMDISPLAYEXTPROC,
           "eglGetPlatformDisplayEXT");
    EGL_FN(initialize, PFNEGLINITIALIZEPROC, "eglInitialize");
    EGL_FN(bind_api, PFNEGLBINDAPIPROC, "eglBindAPI");
    EGL_FN(choose_config, PFNEGLCHOOSECONFIGPROC, "eglChooseConfig");
    EGL_FN(create_context, PFNEGLCREATECONTEXTPROC, "eglCreateContext");
    EGL_FN(make_current, PFNEGLMAKECURRENTPROC, "eglMakeCurrent");
    EGL_FN(destroy_context, PFNEGLDESTROYCONTEXTPROC, "eglDestroyContext");
    EGL_FN(terminate, PFNEGLTERMINATEPROC, "eglTerminate");
    EGL_FN(get_error, PFNEGLGETERRORPROC, "eglGetError");
#undef EGL_FN
    return 0;
}

/* 1 when device dev is Mesa's software rasterizer. */
static int egl_software(const egl_api *api, EGLDeviceEXT dev)
{
    const char *ext = api->query_device_string(dev, EGL_EXTENSIONS);
    return ext && strstr(ext, "EGL_MESA_device_software") != NULL;
}

/* A surfaceless desktop-GL context on an EGL device into g: a GPU device
 * first; a software one only when gpu_only is 0. Returns 0, or -1 with a
 * message (EGL is then not loaded globally). */
static int egl_open(glctx *g, int gpu_only, char *err, size_t errlen)
{
    void *h = dlopen(EGL_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        errf(err, errlen, "cannot load %s (%s): install Debian's libegl1",
             EGL_LIB, dlerror());
        return -1;
    }
    egl_api api;
    if (egl_resolve(h, &api, err, errlen))
        goto fail;
    EGLDeviceEXT devs[MAX_DEVICES];
    EGLint n = 0;
    if (!api.query_devices(MAX_DEVICES, devs, &n) || n < 1) {
        errf(err, errlen, "EGL lists no device");
        goto fail;
    }
    int pick = -1, software = 0;
    for (int i = 0; i < n && pick < 0; i++)
        if (!egl_software(&api, devs[i]))
            pick = i;
    if (pick < 0 && !gpu_only) {
        pick = 0;
        software = 1;
    }
    if (pick < 0) {
        errf(err, errlen, "EGL lists %d device%s, none a GPU", (int)n,
             n == 1 ? "" : "s");
        goto fail;
    }
    g->dpy = api.platform_display(EGL_PLATFORM_DEVICE_EXT, devs[pick], NULL);
    EGLint major, minor;
    if (g->dpy == EGL_NO_DISPLAY || !api.initialize(g->dpy, &major, &minor)) {
        errf(err, errlen, "eglInitialize failed on device %d (EGL error 0x%x)",
             pick, (unsigned)api.get_error());
        goto fail;
    }
    static const EGLint attrs[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT,
                                   EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT,
                                   EGL_NONE};
    EGLConfig cfg;
    EGLint nc = 0;
    if (!api.bind_api(EGL_OPENGL_API) ||
        !api.choose_config(g->dpy, attrs, &cfg, 1, &nc) || nc < 1) {
        errf(err, errlen, "EGL device %d has no desktop OpenGL config", pick);
        goto fail_dpy;
    }
    g->ctx = api.create_context(g->dpy, cfg, EGL_NO_CONTEXT, NULL);
    if (g->ctx == EGL_NO_CONTEXT) {
        errf(err, errlen, "eglCreateContext failed (EGL error 0x%x)",
             (unsigned)api.get_error());
        goto fail_dpy;
    }
    if (!api.make_current(g->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, g->ctx)) {
        errf(err, errlen,
             "eglMakeCurrent without a surface failed (EGL error 0x%x)",
             (unsigned)api.get_error());
        api.destroy_context(g->dpy, g->ctx);
        goto fail_dpy;
    }
    /* now MuJoCo may see it: promote the handle to global */
    if (!dlopen(EGL_LIB, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) {
        errf(err, errlen, "cannot make %s global: %s", EGL_LIB, dlerror());
        api.make_current(g->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE,
                         EGL_NO_CONTEXT);
        api.destroy_context(g->dpy, g->ctx);
        goto fail_dpy;
    }
    g->kind = GLCTX_EGL;
    g->what = software ? "EGL (software device)" : "EGL (GPU device)";
    g->make_current = api.make_current;
    g->destroy_context = api.destroy_context;
    return 0;
fail_dpy:
    api.terminate(g->dpy);
fail:
    g->dpy = EGL_NO_DISPLAY;
    g->ctx = EGL_NO_CONTEXT;
    dlclose(h);
    return -1;
}

/* An OSMesa context drawing into a width x height buffer, into g. Returns
 * 0, or -1 with a message. */
static int osmesa_open(glctx *g, int width, int height, char *err,
                       size_t errlen)
{
    void *h = dlopen(OSMESA_LIB, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        errf(
            err, errlen,
            "cannot load %s (%s): install Debian's libosmesa6 (deploy/setup does)",
            OSMESA_LIB, dlerror());
        return -1;
    }
    osmesa_create_fn create;
    osmesa_make_current_fn make;
    DLSYM_FN(create, h, "OSMesaCreateContextExt");
    DLSYM_FN(make, h, "OSMesaMakeCurrent");
    DLSYM_FN(g->osmesa_destroy, h, "OSMesaDestroyContext");
    if (!create || !make || !g->osmesa_destroy) {
        errf(
            err, errlen,
            "%s lacks OSMesaCreateContextExt, OSMesaMakeCurrent or OSMesaDestroyContext",
            OSMESA_LIB);
        return -1;
    }
    g->osmesa = create(OSMESA_RGBA, 24, 8, 0, NULL);
    if (!g->osmesa) {
        errf(err, errlen,
             "OSMesaCreateContextExt(RGBA, depth 24, stencil 8) failed");
        return -1;
    }
    g->buffer = xcalloc((size_t)width * (size_t)height, 4);
    if (!make(g->osmesa, g->buffer, GL_UNSIGNED_BYTE, width, height)) {
        errf(err, errlen, "OSMesaMakeCurrent failed at %dx%d", width, height);
        g->osmesa_destroy(g->osmesa);
        g->osmesa = NULL;
        return -1;
    }
    g->osmesa_make_current = make;
    g->kind = GLCTX_OSMESA;
    g->what = "OSMesa (software)";
    return 0;
}

glctx *glctx_new(glctx_kind kind, int width, int height, char *err,
                 size_t errlen)
{
    glctx *g = xcalloc(1, sizeof *g);
    char egl_why[512] = "";
    if (kind != GLCTX_OSMESA &&
        egl_open(g, kind == GLCTX_AUTO, egl_why, sizeof egl_why) == 0)
        return g;
    if (kind == GLCTX_EGL) {
        errf(err, errlen, "no EGL context: %s", egl_why);
        free(g);
        return NULL;
    }
    char os_why[512];
    if (osmesa_open(g, width, height, os_why, sizeof os_why) == 0)
        return g;
    if (kind == GLCTX_AUTO)
        errf(
            err, errlen,
            "no offscreen OpenGL: EGL: %s; OSMesa: %s (Debian packages: libosmesa6 for software rendering anywhere, libegl1 and a GPU driver for EGL)",
            egl_why, os_why);
    else
        errf(err, errlen, "no OSMesa context: %s", os_why);
    free(g->buffer);
    free(g);
    return NULL;
}

const char *glctx_describe(const glctx *g)
{
    return g->what;
}

void glctx_destroy(glctx **gp)
{
    glctx *g = gp ? *gp : NULL;
    if (!g)
        return;
    if (g->kind == GLCTX_EGL) {
        g->make_current(g->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
        g->destroy_context(g->dpy, g->ctx);
        /* no eglTerminate: like the libraries, the display and its driver
         * stay loaded to the end of the process (terminating unloads Mesa's
         * driver, whose allocations LeakSanitizer then cannot name) */
    } else if (g->osmesa) {
        g->osmesa_make_current(NULL, NULL, 0, 0, 0); /* release it first */
        g->osmesa_destroy(g->osmesa);
    }
    free(g->buffer);
    free(g);
    *gp = NULL;
}

int glctx_parse_kind(const char *name, glctx_kind *kind)
{
    static const char *const names[] = {"auto", "egl", "osmesa"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            *kind = (glctx_kind)i;
            return 0;
        }
    return -1;
}
