/*
 * env_walker2d.c - Gymnasium Walker2d-v5 on MuJoCo 2.2.2.
 *
 * Model models/walker2d.xml: a planar biped (rootx, rootz with ref 1.25 so
 * qpos[1] is the torso height, rooty; two legs of thigh, leg and foot
 * hinges), RK4 at timestep 0.002, frame skip 4 (dt 0.008). v5 model: both
 * feet have friction 1.9.
 *   obs (17)   qpos[1..8] (rootx excluded), clip(qvel[0..8], -10, 10)
 *   reward     survive = 1 if healthy after the step, else 0
 *              forward = (qpos[0] after - qpos[0] before) / dt
 *              ctrl    = -1e-3 sum(ctrl^2)
 *   healthy    (strict) 0.8 < qpos[1] < 2.0 and -1 < qpos[2] < 1
 *   terminated not healthy
 * Reset: qpos = qpos0 + U(-0.005, 0.005) (9), then qvel = U(-0.005, 0.005).
 */
#include "env_classes.h"
#include "mjenv.h"

#define WALK_HEALTHY_REWARD 1.0
#define WALK_FORWARD_WEIGHT 1.0
#define WALK_CTRL_WEIGHT 1e-3
#define WALK_MIN_Z 0.8
#define WALK_MAX_Z 2.0
#define WALK_MAX_ANGLE 1.0
#define WALK_VEL_CLIP 10.0

static const mjenv_spec spec = {
    .frame_skip = 4,
    .nq = 9,
    .nv = 9,
    .nu = 6,
    .qpos_noise = {MJENV_NOISE_UNIFORM, 0.005},
    .qvel_noise = {MJENV_NOISE_UNIFORM, 0.005},
};

static void observe(const mjenv *me, float *obs)
{
    mjenv_copy_clip(mjenv_copy(obs, me->d->qpos + 1, 8), me->d->qvel, 9,
                    -WALK_VEL_CLIP, WALK_VEL_CLIP);
}

static int healthy(const mjenv *me)
{
    const mjtNum *q = me->d->qpos;
    return mjenv_in_range(q + 1, 1, WALK_MIN_Z, WALK_MAX_Z) &&
           mjenv_in_range(q + 2, 1, -WALK_MAX_ANGLE, WALK_MAX_ANGLE);
}

static int walk_open(env *e, const char *model_path, char *err, size_t errlen)
{
    return mjenv_open(e, sizeof(mjenv), model_path, &spec, err, errlen);
}

static void walk_reset(env *e, rng *r, float *obs)
{
    mjenv_reset(mjenv_of(e), r);
    observe(mjenv_of(e), obs);
}

// action (6)  obs (17)
static void walk_step(env *e, const float *action, float *obs,
                      env_step_result *res)
{
    mjenv *me = mjenv_of(e);
    double x_vel;
    int diverged = mjenv_step_x_vel(me, action, &me->d->qpos[0], &x_vel);
    observe(me, obs);

    int ok = healthy(me);
    res->terms[0] = (float)(ok ? WALK_HEALTHY_REWARD : 0.0);
    res->terms[1] = (float)(WALK_FORWARD_WEIGHT * x_vel);
    res->terms[2] = (float)(-WALK_CTRL_WEIGHT * mjenv_ctrl_sq(me));
    mjenv_finish_step(res, e->cls->n_terms, !ok, diverged);
}

const env_class env_walker2d = {
    .name = "Walker2d",
    .obs_dim = 17,
    .act_dim = 6,
    .max_episode_steps = 1000,
    .n_terms = 3,
    .term_names = {"survive", "forward", "ctrl"},
    .model_file = "walker2d.xml",
    .open = walk_open,
    .close = mjenv_close,
    .reset = walk_reset,
    .step = walk_step,
};
