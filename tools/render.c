/*
 * render.c - hpo-render: a saved policy's deterministic episodes drawn by
 * MuJoCo's renderer into a video, headless.
 *
 *   hpo-render CHECKPOINT|RUN_DIR|weights.bin -o FILE [--episodes N]
 *              [--seed S] [--no-hd] [--size WxH] [--fps F]
 *              [--camera track|fixed] [--max-steps N] [--strip N]
 *              [--gl auto|egl|osmesa]
 *
 * The episodes are hpo-eval's (common/run/policyfile.h loads the file,
 * common/run/evaluate.h plays them: same environment, seed and actions), so the
 * returns printed equal hpo-eval's for the same seed; --max-steps cuts an
 * episode short (evaluate_cut), which leaves the next one as it was. One
 * frame is drawn after every environment step, with the episode, step,
 * return so far and the checkpoint's env steps in the top-left corner
 * (mjr_overlay). FILE's extension picks the output (tools/video.h): .mp4
 * (H.264), .gif, or .png, a strip of --strip frames side by side taken
 * evenly over the steps to be drawn. The OpenGL context is offscreen
 * (tools/glctx.h: EGL on a GPU, else OSMesa); no display is used.
 *
 * stdout: one "episode=I return=R steps=L" line per episode (", cut at
 * --max-steps" when cut), then hpo-eval's "episodes=N mean=... std=...
 * min=... max=...". Exit status: 0 done, 1 unreadable or refused file or a
 * failed render, 2 bad command line.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mujoco/mujoco.h>

#include "config.h"
#include "evaluate.h"
#include "glctx.h"
#include "log.h"
#include "mjenv.h"
#include "policyfile.h"
#include "util.h"
#include "video.h"

#define PROG "hpo-render"
#define SIZE_MIN 16
#define SIZE_MAX_PX 4096
#define STRIP_MAX_PX 16384 /* widest .png strip */
#define MAX_GEOM 2000      /* scene capacity */

typedef struct options {
    const char *file;
    char out[4096];
    long episodes;
    int no_hd;
    int has_seed;
    uint64_t seed;
    char size[64]; /* "WxH" */
    int width, height;
    int fps;         /* 0: from the environment's step */
    char camera[16]; /* "", "track" or "fixed" */
    long max_steps;  /* 0: the environment's time limit */
    int strip;       /* .png frames */
    char gl[16];     /* auto | egl | osmesa */
    glctx_kind gl_kind;
    video_format format;
    config_args args;
    int n_flags; /* settings for a weights file */
    const char **names, **values;
} options;

/* How each MuJoCo environment is looked at. */
typedef struct view {
    const char *env;
    int track;        /* default camera: 1 track the torso, 0 fixed */
    double distance;  /* m */
    double elevation; /* degrees */
} view;

static const view views[] = {
    {"HalfCheetah", 1, 4.0, -8},
    {"Hopper", 1, 4.0, -10},
    {"Walker2d", 1, 4.5, -10},
    {"Ant", 1, 7.0, -30},
    {"Humanoid", 1, 5.0, -15},
    {"InvertedPendulum", 0, 3.0, -10},
    {"InvertedDoublePendulum", 0, 3.5, -10},
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " CHECKPOINT|RUN_DIR|weights.bin -o FILE [--episodes N] [--seed S]\n"
        "       [--no-hd] [--size WxH] [--fps F] [--camera track|fixed]\n"
        "       [--max-steps N] [--strip N] [--gl auto|egl|osmesa]\n"
        "\n"
        "Draw N (default 1) of hpo-eval's deterministic episodes of a saved policy\n"
        "into FILE, offscreen (no display): .mp4 (H.264), .gif, or .png (a strip of\n"
        "frames). A run directory stands for its newest valid checkpoint.\n"
        "\n"
        "  -o, --out FILE   output, ending in .mp4, .gif or .png\n"
        "  --episodes N     episodes, one after another (default 1)\n"
        "  --seed S         reset seed (default: the run's seed)\n"
        "  --no-hd          act with tanh(mu) alone, no leapfrog\n"
        "  --size WxH       frame size in pixels (default 480x320; even for .mp4)\n"
        "  --fps F          frames per second (default: real time, at most 50)\n"
        "  --camera C       track (follows the torso; default for locomotion) or\n"
        "                   fixed (default for the pendulums)\n"
        "  --max-steps N    cut each episode after N steps (default: the time limit)\n"
        "  --strip N        .png: N frames side by side (default 6)\n"
        "  --gl G           auto (EGL on a GPU, else OSMesa), egl or osmesa\n"
        "\n"
        "A weights file without its config takes --env and the sizes, as for hpo-eval.\n"
        "Needs Debian's ffmpeg and libosmesa6 (or libegl1 with a GPU driver).\n");
}

#define O(f) offsetof(options, f)
static const opt_spec own[] = {
    {"out", OPT_TEXT, O(out), sizeof(((options *)0)->out), 0, 0, NULL},
    {"episodes", OPT_LONG, O(episodes), 0, 1, 1000,
     "bad value '%s' for --episodes (1 to 1000)"},
    {"seed", OPT_U64, O(seed), 0, 0, 0, "bad value '%s' for --seed"},
    {"no-hd", OPT_FLAG, O(no_hd), 0, 0, 0, NULL},
    {"size", OPT_TEXT, O(size), sizeof(((options *)0)->size), 0, 0,
     "bad value '%s' for --size: give WxH, e.g. 480x320"},
    {"fps", OPT_INT, O(fps), 0, 1, 240, "bad value '%s' for --fps (1 to 240)"},
    {"camera", OPT_TEXT, O(camera), sizeof(((options *)0)->camera), 0, 0,
     "bad value '%s' for --camera: track or fixed"},
    {"max-steps", OPT_LONG, O(max_steps), 0, 1, EVALUATE_MAX_STEPS,
     "bad value '%s' for --max-steps (1 to 100000)"},
    {"strip", OPT_INT, O(strip), 0, 1, 32,
     "bad value '%s' for --strip (1 to 32 frames)"},
    {"gl", OPT_TEXT, O(gl), sizeof(((options *)0)->gl), 0, 0,
     "bad value '%s' for --gl: auto, egl or osmesa"},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O

/* "WxH" into o->width, o->height. Returns 0, or -1. */
static int parse_size(options *o)
{
    char *end;
    long w = strtol(o->size, &end, 10);
    if (end == o->size || (*end != 'x' && *end != 'X'))
        return -1;
    const char *h0 = end + 1;
    long h = strtol(h0, &end, 10);
    if (end == h0 || *end || w < SIZE_MIN || w > SIZE_MAX_PX || h < SIZE_MIN ||
        h > SIZE_MAX_PX)
        return -1;
    o->width = (int)w;
    o->height = (int)h;
    return 0;
}

/* Returns 0, 1 after --help, -1 after printing the error. o->args stays to
 * release. argv's "-o" is taken as "--out". */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->episodes = 1;
    o->strip = 6;
    snprintf(o->size, sizeof o->size, "480x320");
    snprintf(o->gl, sizeof o->gl, "auto");
    char **av = xcalloc((size_t)argc + 1, sizeof *av);
    for (int i = 0; i < argc; i++)
        av[i] = strcmp(argv[i], "-o") ? argv[i] : "--out";
    char err[512];
    config_args *a = &o->args;
    int rc = config_args_table(a, argc, av, own, 1, 1, o, err, sizeof err);
    free(av);
    if (rc > 0) {
        usage(stdout);
        return 1;
    }
    if (rc < 0)
        return usage_error(PROG, "%s", err);
    o->has_seed = config_args_given(a, "seed");
    o->n_flags = config_args_settings(a, &o->names, &o->values);
    if (a->n_pos < 1)
        return usage_error(
            PROG, "%s", "no checkpoint, run directory or weights file given");
    o->file = a->pos[0];
    if (!o->out[0])
        return usage_error(
            PROG, "%s",
            "no output given: -o FILE ending in .mp4, .gif or .png");
    if (video_format_of(o->out, &o->format))
        return usage_error(
            PROG,
            "-o %s: the output must end in .mp4 (H.264), .gif or .png (a strip of frames)",
            o->out);
    if (parse_size(o))
        return usage_error(
            PROG,
            "bad value '%s' for --size: give WxH, each %d to %d pixels, e.g. 480x320",
            o->size, SIZE_MIN, SIZE_MAX_PX);
    if (o->format == VIDEO_MP4 && (o->width % 2 || o->height % 2))
        return usage_error(
            PROG,
            "--size %s: an .mp4 (H.264, yuv420p) needs an even width and height, e.g. %dx%d",
            o->size, o->width + o->width % 2, o->height + o->height % 2);
    if (o->format == VIDEO_PNG && (long)o->strip * o->width > STRIP_MAX_PX)
        return usage_error(
            PROG,
            "--strip %d of %d pixels is %ld wide, more than %d: fewer frames or a smaller --size",
            o->strip, o->width, (long)o->strip * o->width, STRIP_MAX_PX);
    if (o->camera[0] && strcmp(o->camera, "track") &&
        strcmp(o->camera, "fixed"))
        return usage_error(PROG, "bad value '%s' for --camera: track or fixed",
                           o->camera);
    if (glctx_parse_kind(o->gl, &o->gl_kind))
        return usage_error(PROG, "bad value '%s' for --gl: auto, egl or osmesa",
                           o->gl);
    return 0;
}

/* The renderer's state: a copy of the environment's model whose visual
 * settings may change (offscreen size), scene, context and buffers. */
typedef struct drawer {
    mjModel *m; /* owned copy, physics never stepped */
    mjData *d;  /* the environment's, not owned */
    mjvScene scn;
    mjvCamera cam;
    mjvOption opt;
    mjrContext con;
    mjrRect vp;
    int font;             /* mjFONTSCALE_* */
    unsigned char *pix;   /* (height, width, 3), bottom row first */
    unsigned char *frame; /* (height, width, 3), top row first */
} drawer;

/* The initial position of body 1 (the torso or the cart). */
static void initial_lookat(const mjModel *m, mjtNum lookat[3])
{
    mjData *d = mj_makeData(m);
    mj_forward(m, d);
    for (int i = 0; i < 3; i++)
        lookat[i] = m->nbody > 1 ? d->xpos[3 + i] : 0.0;
    mj_deleteData(d);
}

/* Set up dr for environment e at o's size and camera. Needs a current
 * context. Returns 0, or -1 with a message. */
static int drawer_init(drawer *dr, env *e, const options *o, char *err,
                       size_t errlen)
{
    mjenv *me = mjenv_of(e);
    view v = {e->cls->name, 1, 4.0, -15};
    for (size_t i = 0; i < sizeof views / sizeof *views; i++)
        if (!strcmp(views[i].env, e->cls->name))
            v = views[i];
    dr->m = mj_copyModel(NULL, me->m);
    dr->d = me->d;
    dr->m->vis.global.offwidth = o->width;
    dr->m->vis.global.offheight = o->height;
    mjv_defaultScene(&dr->scn);
    mjv_defaultCamera(&dr->cam);
    mjv_defaultOption(&dr->opt);
    mjr_defaultContext(&dr->con);
    mjv_makeScene(dr->m, &dr->scn, MAX_GEOM);
    dr->font = o->height < 300   ? mjFONTSCALE_50
               : o->height < 600 ? mjFONTSCALE_100
                                 : mjFONTSCALE_150;
    mjr_makeContext(dr->m, &dr->con, dr->font);
    mjr_setBuffer(mjFB_OFFSCREEN, &dr->con);
    if (dr->con.currentBuffer != mjFB_OFFSCREEN ||
        dr->con.offWidth < o->width || dr->con.offHeight < o->height) {
        errf(
            err, errlen,
            "the OpenGL context gave a %dx%d offscreen buffer, not %dx%d: try a smaller --size",
            dr->con.offWidth, dr->con.offHeight, o->width, o->height);
        return -1;
    }
    int track = o->camera[0] ? !strcmp(o->camera, "track") : v.track;
    dr->cam.distance = v.distance;
    dr->cam.elevation = v.elevation;
    dr->cam.azimuth = 90;
    if (track) {
        dr->cam.type = mjCAMERA_TRACKING;
        dr->cam.trackbodyid = 1;
    } else {
        dr->cam.type = mjCAMERA_FREE;
        initial_lookat(dr->m, dr->cam.lookat);
    }
    dr->vp = (mjrRect){0, 0, o->width, o->height};
    size_t bytes = (size_t)o->width * (size_t)o->height * 3;
    dr->pix = xcalloc(bytes, 1);
    dr->frame = xcalloc(bytes, 1);
    return 0;
}

/* Draw the current state with the overlay into dr->frame. Allocates
 * nothing. */
static void drawer_draw(drawer *dr, long episode, long step, double ret,
                        int64_t env_steps)
{
    char values[256];
    if (env_steps >= 0)
        snprintf(values, sizeof values, "%ld\n%ld\n%.1f\n%lld", episode, step,
                 ret, (long long)env_steps);
    else
        snprintf(values, sizeof values, "%ld\n%ld\n%.1f\n(weights file)",
                 episode, step, ret);
    mjv_updateScene(dr->m, dr->d, &dr->opt, NULL, &dr->cam, mjCAT_ALL,
                    &dr->scn);
    mjr_render(dr->vp, &dr->scn, &dr->con);
    mjr_overlay(mjFONT_NORMAL, mjGRID_TOPLEFT, dr->vp,
                "episode\nstep\nreturn\nenv steps", values, &dr->con);
    mjr_readPixels(dr->pix, NULL, dr->vp, &dr->con);
    size_t row = (size_t)dr->vp.width * 3;
    for (int y = 0; y < dr->vp.height; y++)
        memcpy(dr->frame + (size_t)y * row,
               dr->pix + (size_t)(dr->vp.height - 1 - y) * row, row);
}

static void drawer_release(drawer *dr)
{
    if (dr->m) {
        mjr_freeContext(&dr->con);
        mjv_freeScene(&dr->scn);
        mj_deleteModel(dr->m);
    }
    free(dr->pix);
    free(dr->frame);
    memset(dr, 0, sizeof *dr);
}

/* The .png strip: up to n frames side by side. */
typedef struct strip {
    int n, taken;
    long stride;        /* frames between two taken */
    int width, height;  /* of a frame */
    unsigned char *rgb; /* (height, n * width, 3) */
} strip;

static void strip_take(strip *s, long frame_index, const unsigned char *f)
{
    if (s->taken >= s->n || frame_index % s->stride)
        return;
    size_t row = (size_t)s->width * 3, wide = row * (size_t)s->n;
    for (int y = 0; y < s->height; y++)
        memcpy(s->rgb + (size_t)y * wide + (size_t)s->taken * row,
               f + (size_t)y * row, row);
    s->taken++;
}

/* Compact the taken frames to rows of taken * width and write the PNG.
 * Returns 0, or -1 with a message. */
static int strip_write(strip *s, const char *path, char *err, size_t errlen)
{
    size_t row = (size_t)s->width * 3, wide = row * (size_t)s->n,
           used = row * (size_t)s->taken;
    for (int y = 1; y < s->height; y++)
        memmove(s->rgb + (size_t)y * used, s->rgb + (size_t)y * wide, used);
    video *v = video_open(path, VIDEO_PNG, s->taken * s->width, s->height, 1,
                          err, errlen);
    if (!v)
        return -1;
    if (video_write(v, s->rgb, err, errlen)) {
        video_abort(&v);
        return -1;
    }
    return video_close(&v, err, errlen);
}

/* Play and draw the episodes into out (video) or st (strip). Returns 0, or
 * -1 with a message. */
static int play(const options *o, policyfile *pf, drawer *dr, video *out,
                strip *st, char *err, size_t errlen)
{
    long limit = o->max_steps ? o->max_steps : pf->e->cls->max_episode_steps;
    evaluation ev;
    evaluate_init(&ev, pf->agent, pf->e, o->has_seed ? o->seed : pf->cfg.seed);
    run_stats rs = {0};
    long frames = 0;
    int rc = 0;
    for (long ep = 0; ep < o->episodes && !rc; ep++) {
        double ret;
        long len;
        int done = 0, cut = 0;
        while (!done) {
            done = evaluate_step(&ev, &ret, &len);
            if (!done && limit > 0 && ev.steps >= limit)
                done = cut = evaluate_cut(&ev, &ret, &len);
            drawer_draw(dr, ep, done ? len : ev.steps, done ? ret : ev.ret,
                        pf->env_steps);
            if (st)
                strip_take(st, frames, dr->frame);
            else if (video_write(out, dr->frame, err, errlen)) {
                rc = -1;
                break;
            }
            frames++;
        }
        if (rc)
            break;
        run_stats_add(&rs, ret);
        printf("episode=%ld return=%.3f steps=%ld%s\n", ep, ret, len,
               cut ? ", cut at --max-steps" : "");
    }
    evaluate_release(&ev);
    if (rc)
        return -1;
    printf("episodes=%ld mean=%.3f std=%.3f min=%.3f max=%.3f\n", o->episodes,
           run_stats_mean(&rs), run_stats_std(&rs), run_stats_min(&rs),
           run_stats_max(&rs));
    log_info("%ld frames of %dx%d", frames, o->width, o->height);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.names);
        free(o.values);
        config_args_release(&o.args);
        return rc > 0 ? 0 : 2;
    }
    policyfile pf = {0};
    glctx *gl = NULL;
    drawer dr = {0};
    video *out = NULL;
    strip st = {0};
    char err[1536];
    rc = 1;
    nn_set_threads(1);
    if (policyfile_load(&pf, o.file, o.n_flags, o.names, o.values, o.no_hd, err,
                        sizeof err))
        goto out;
    if (!pf.e->cls->model_file) {
        errf(
            err, sizeof err,
            "%s: %s has no MuJoCo model to draw; hpo-render draws the MuJoCo environments (HalfCheetah, Hopper, Walker2d, Ant, Humanoid, InvertedPendulum, InvertedDoublePendulum)",
            pf.path, pf.cfg.env);
        goto out;
    }
    gl = glctx_new(o.gl_kind, o.width, o.height, err, sizeof err);
    if (!gl)
        goto out;
    log_info("%s: %s, drawing with %s", pf.path, pf.cfg.env,
             glctx_describe(gl));
    if (drawer_init(&dr, pf.e, &o, err, sizeof err))
        goto out;
    int fps = o.fps;
    if (!fps) {
        double dt = mjenv_of(pf.e)->dt;
        fps = (int)fmin(50.0, fmax(1.0, round(1.0 / dt)));
    }
    if (o.format == VIDEO_PNG) {
        long limit = o.max_steps ? o.max_steps : pf.e->cls->max_episode_steps;
        long total = (limit > 0 ? limit : 1000) * o.episodes;
        st = (strip){.n = o.strip, .width = o.width, .height = o.height};
        st.stride = (total + o.strip - 1) / o.strip;
        st.rgb =
            xcalloc((size_t)o.strip * (size_t)o.width * (size_t)o.height, 3);
    } else {
        out = video_open(o.out, o.format, o.width, o.height, fps, err,
                         sizeof err);
        if (!out)
            goto out;
    }
    if (play(&o, &pf, &dr, out, st.rgb ? &st : NULL, err, sizeof err))
        goto out;
    if (st.rgb ? strip_write(&st, o.out, err, sizeof err)
               : video_close(&out, err, sizeof err))
        goto out;
    rc = fflush(stdout) ? 1 : 0;
    if (rc)
        errf(err, sizeof err, "cannot write stdout: %s", strerror(errno));
    else
        log_info("wrote %s", o.out);
out:
    if (rc)
        fprintf(stderr, PROG ": %s\n", err);
    video_abort(&out);
    free(st.rgb);
    drawer_release(&dr);
    glctx_destroy(&gl);
    policyfile_release(&pf);
    free(o.names);
    free(o.values);
    config_args_release(&o.args);
    return rc;
}
