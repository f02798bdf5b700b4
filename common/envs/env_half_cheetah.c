/*
 * env_half_cheetah.c - Gymnasium HalfCheetah-v5 on MuJoCo 2.2.2.
 *
 * Model models/half_cheetah.xml: a planar torso (rootx, rootz, rooty) with
 * two three-hinge legs, Euler at timestep 0.01, frame skip 5 (dt 0.05).
 *   obs (17)   qpos[1..8] (rootx excluded), qvel[0..8]; no clipping
 *   reward     forward = (qpos[0] after - qpos[0] before) / dt
 *              ctrl    = -0.1 sum(ctrl^2)
 *   terminated never (env_step truncates at 1000)
 * Reset: qpos = qpos0 + U(-0.1, 0.1) (9), then qvel = 0.1 N(0, 1) (9).
 */
#include "env_classes.h"
#include "mjenv.h"

#define HC_FORWARD_WEIGHT 1.0
#define HC_CTRL_WEIGHT 0.1

static const mjenv_spec spec = {
    .frame_skip = 5,
    .nq = 9,
    .nv = 9,
    .nu = 6,
    .qpos_noise = {MJENV_NOISE_UNIFORM, 0.1},
    .qvel_noise = {MJENV_NOISE_NORMAL, 0.1},
};

static void observe(const mjenv *me, float *obs)
{
    mjenv_copy(mjenv_copy(obs, me->d->qpos + 1, 8), me->d->qvel, 9);
}

static int hc_open(env *e, const char *model_path, char *err, size_t errlen)
{
    return mjenv_open(e, sizeof(mjenv), model_path, &spec, err, errlen);
}

static void hc_reset(env *e, rng *r, float *obs)
{
    mjenv_reset(mjenv_of(e), r);
    observe(mjenv_of(e), obs);
}

// action (6)  obs (17)
static void hc_step(env *e, const float *action, float *obs,
                    env_step_result *res)
{
    mjenv *me = mjenv_of(e);
    double x_vel;
    int diverged = mjenv_step_x_vel(me, action, &me->d->qpos[0], &x_vel);
    observe(me, obs);

    res->terms[0] = (float)(HC_FORWARD_WEIGHT * x_vel);
    res->terms[1] = (float)(-HC_CTRL_WEIGHT * mjenv_ctrl_sq(me));
    mjenv_finish_step(res, e->cls->n_terms, 0, diverged);
}

const env_class env_half_cheetah = {
    .name = "HalfCheetah",
    .obs_dim = 17,
    .act_dim = 6,
    .max_episode_steps = 1000,
    .n_terms = 2,
    .term_names = {"forward", "ctrl"},
    .model_file = "half_cheetah.xml",
    .open = hc_open,
    .close = mjenv_close,
    .reset = hc_reset,
    .step = hc_step,
};
