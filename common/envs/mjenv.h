/*
 * mjenv.h - the MuJoCo plumbing shared by every MuJoCo environment class.
 *
 * One mjenv is one model plus one simulation state: it loads an MJCF file,
 * steps the physics frame_skip times per agent action, maps agent actions in
 * [-1, 1] linearly onto each actuator's ctrlrange, resets with Gymnasium's
 * noise order (the qpos noise vector first, then the qvel vector, then
 * mj_forward) and reports simulator warnings so the class can flag the step
 * as diverged. Classes keep the reward, observation and termination logic;
 * everything that talks to the simulator's lifecycle lives here, with the
 * pieces of a step the classes share (forward velocity over the frame skip,
 * the strict range test of "healthy" checks, completing the step result).
 *
 * Contract with the classes: a MuJoCo class's private state (env.state)
 * begins with an mjenv, so mjenv_of(e) reaches the simulator of any MuJoCo
 * environment (tests use it to construct exact states). The model is
 * MuJoCo 2.2.2; docs/envs.md records the choices this port made.
 */
#ifndef HPO_MJENV_H
#define HPO_MJENV_H

#include <stddef.h>

#include <mujoco/mujoco.h>

#include "env.h"
#include "rng.h"

// ---- specification ----
typedef enum mjenv_noise_kind {
    MJENV_NOISE_NONE = 0, /* no noise */
    MJENV_NOISE_UNIFORM,  /* U(-scale, scale) per element */
    MJENV_NOISE_NORMAL,   /* scale * N(0, 1) per element */
} mjenv_noise_kind;

typedef struct mjenv_noise {
    mjenv_noise_kind kind;
    double scale;
} mjenv_noise;

/* What a class expects of its model; a model that disagrees is rejected. */
typedef struct mjenv_spec {
    int frame_skip;         /* physics steps per agent step, >= 1 */
    int nq, nv, nu;         /* expected model sizes */
    mjenv_noise qpos_noise; /* reset noise added to qpos0 (nq) */
    mjenv_noise qvel_noise; /* reset noise added to zero velocity (nv) */
} mjenv_spec;

typedef struct mjenv {
    mjModel *m; /* owned; read-only after load */
    mjData *d;  /* owned */
    mjenv_spec spec;
    double dt; /* agent step: timestep * frame_skip (s) */
} mjenv;

// ---- lifecycle ----

/*
 * Load the MJCF file at path and make its data. Checks the library version
 * against the header, that the model has the spec's nq/nv/nu and that every
 * actuator is ctrllimited. Returns 0, or -1 with a message naming path in err
 * (missing file, XML/compile error, size mismatch); nothing is left allocated
 * on failure. Installs MuJoCo error/warning handlers once per process:
 * warnings go to log_warn_once, errors abort with the message.
 */
int mjenv_init(mjenv *me, const char *path, const mjenv_spec *spec, char *err,
               size_t errlen);

/* Free the model and data; me is zeroed. Accepts a zeroed mjenv. */
void mjenv_release(mjenv *me);

/*
 * For a class's open: allocate e->state zeroed with state_size bytes (>=
 * sizeof(mjenv); the class's state struct starts with its mjenv) and
 * mjenv_init it from path. Returns 0, or -1 with the message in err and
 * e->state left NULL.
 */
int mjenv_open(env *e, size_t state_size, const char *path,
               const mjenv_spec *spec, char *err, size_t errlen);

/* For a class's close: release the mjenv and free e->state (set to NULL). */
void mjenv_close(env *e);

/* The mjenv at the start of a MuJoCo environment's state. */
mjenv *mjenv_of(env *e);

// ---- state ----

/*
 * mj_resetData, then qpos = qpos0 + qpos noise (nq draws), then qvel = qvel
 * noise (nv draws), then mj_forward. Allocates nothing.
 */
void mjenv_reset(mjenv *me, rng *r);

/* Write qpos (nq) and qvel (nv), then mj_forward. */
void mjenv_set_state(mjenv *me, const mjtNum *qpos, const mjtNum *qvel);

/*
 * Map action (nu, in [-1, 1]) onto ctrl: lo + (a + 1) / 2 * (hi - lo) per
 * actuator. Then mj_step frame_skip times and mj_rnePostConstraint once (so
 * cfrc_ext is valid). Returns 1 when MuJoCo raised a warning during these
 * steps (bad qpos/qvel/qacc/ctrl, contact or constraint buffer full) - the
 * simulator has then reset itself and the step is diverged - else 0.
 */
int mjenv_step(mjenv *me, const float *action);

/*
 * mjenv_step, and *x_vel = (x after - x before) / dt, where x points at a
 * coordinate of me->d that the step updates (qpos[0] of a planar model's
 * root slide, a body's xpos[0], ...): the forward velocity over the frame
 * skip. Returns mjenv_step's value.
 */
int mjenv_step_x_vel(mjenv *me, const float *action, const mjtNum *x,
                     double *x_vel);

/*
 * Complete a class's step result once it has written terms[0..n_terms):
 * reward = their float sum in order, terminated as given, diverged 0. When
 * diverged (mjenv_step's return) the step is marked diverged instead:
 * diverged and terminated set, reward and terms zeroed (the simulator has
 * reset itself, so they mean nothing).
 */
void mjenv_finish_step(env_step_result *res, int n_terms, int terminated,
                       int diverged);

// ---- reading ----

/* 1 when every x[i] (n) lies strictly inside (lo, hi), else 0; NaN is
 * outside (the "healthy" ranges of the locomotion classes). */
int mjenv_in_range(const mjtNum *x, int n, double lo, double hi);

/* Sum of ctrl^2 over actuators (the control cost's raw value). */
double mjenv_ctrl_sq(const mjenv *me);

/* Id of the named object of type (mjOBJ_BODY, mjOBJ_SITE, ...), or -1 with
 * a message naming the object in err. */
int mjenv_id(const mjenv *me, int type, const char *name, char *err,
             size_t errlen);

/* Body frame origin (3) of body id. */
const mjtNum *mjenv_xpos(const mjenv *me, int body);

/* Site position (3) of site id. */
const mjtNum *mjenv_site_xpos(const mjenv *me, int site);

/* External wrench [torque(3), force(3)] on body id, valid after a step. */
const mjtNum *mjenv_cfrc_ext(const mjenv *me, int body);

/* out[i] = (float)src[i], i < n; returns out + n. */
float *mjenv_copy(float *out, const mjtNum *src, int n);

/* out[i] = (float)clip(src[i], lo, hi), NaN passes through; returns out + n. */
float *mjenv_copy_clip(float *out, const mjtNum *src, int n, double lo,
                       double hi);

#endif
