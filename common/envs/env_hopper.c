/*
 * env_hopper.c - Gymnasium Hopper-v5 on MuJoCo 2.2.2.
 *
 * Model models/hopper.xml: a planar one-legged robot (rootx, rootz with ref
 * 1.25 so qpos[1] is the torso height, rooty), RK4 at timestep 0.002, frame
 * skip 4 (dt 0.008).
 *   obs (11)   qpos[1..5] (rootx excluded), clip(qvel[0..5], -10, 10)
 *   reward     survive = 1 if healthy after the step, else 0
 *              forward = (qpos[0] after - qpos[0] before) / dt
 *              ctrl    = -1e-3 sum(ctrl^2)
 *   healthy    (all strict) qpos[1] > 0.7, |qpos[2]| < 0.2, and every
 *              element of qpos[2..5] and the unclipped qvel[0..5] in
 *              (-100, 100)
 *   terminated not healthy
 * Reset: qpos = qpos0 + U(-0.005, 0.005) (6), then qvel = U(-0.005, 0.005).
 */
#include "env_classes.h"
#include "mjenv.h"

#define HOP_HEALTHY_REWARD 1.0
#define HOP_FORWARD_WEIGHT 1.0
#define HOP_CTRL_WEIGHT 1e-3
#define HOP_MIN_Z 0.7
#define HOP_MAX_ANGLE 0.2
#define HOP_STATE_MAX 100.0
#define HOP_VEL_CLIP 10.0

static const mjenv_spec spec = {
    .frame_skip = 4,
    .nq = 6,
    .nv = 6,
    .nu = 3,
    .qpos_noise = {MJENV_NOISE_UNIFORM, 0.005},
    .qvel_noise = {MJENV_NOISE_UNIFORM, 0.005},
};

static void observe(const mjenv *me, float *obs)
{
    mjenv_copy_clip(mjenv_copy(obs, me->d->qpos + 1, 5), me->d->qvel, 6,
                    -HOP_VEL_CLIP, HOP_VEL_CLIP);
}

static int healthy(const mjenv *me)
{
    const mjtNum *q = me->d->qpos;
    return q[1] > HOP_MIN_Z &&
           mjenv_in_range(q + 2, 1, -HOP_MAX_ANGLE, HOP_MAX_ANGLE) &&
           mjenv_in_range(q + 2, 4, -HOP_STATE_MAX, HOP_STATE_MAX) &&
           mjenv_in_range(me->d->qvel, 6, -HOP_STATE_MAX, HOP_STATE_MAX);
}

static int hop_open(env *e, const char *model_path, char *err, size_t errlen)
{
    return mjenv_open(e, sizeof(mjenv), model_path, &spec, err, errlen);
}

static void hop_reset(env *e, rng *r, float *obs)
{
    mjenv_reset(mjenv_of(e), r);
    observe(mjenv_of(e), obs);
}

// action (3)  obs (11)
static void hop_step(env *e, const float *action, float *obs,
                     env_step_result *res)
{
    mjenv *me = mjenv_of(e);
    double x_vel;
    int diverged = mjenv_step_x_vel(me, action, &me->d->qpos[0], &x_vel);
    observe(me, obs);

    int ok = healthy(me);
    res->terms[0] = (float)(ok ? HOP_HEALTHY_REWARD : 0.0);
    res->terms[1] = (float)(HOP_FORWARD_WEIGHT * x_vel);
    res->terms[2] = (float)(-HOP_CTRL_WEIGHT * mjenv_ctrl_sq(me));
    mjenv_finish_step(res, e->cls->n_terms, !ok, diverged);
}

const env_class env_hopper = {
    .name = "Hopper",
    .obs_dim = 11,
    .act_dim = 3,
    .max_episode_steps = 1000,
    .n_terms = 3,
    .term_names = {"survive", "forward", "ctrl"},
    .model_file = "hopper.xml",
    .open = hop_open,
    .close = mjenv_close,
    .reset = hop_reset,
    .step = hop_step,
};
