/*
 * env_ant.c - Gymnasium Ant-v5 on common/envs/models/ant.xml
 * (docs/envs.md 3.4).
 *
 * Observation (105): qpos[2..14] (torso z, quaternion, 8 hinges), qvel[0..13],
 * then cfrc_ext of bodies 1..13 clipped to [-1, 1], row-major [torque, force].
 * Reward terms (summed into the reward):
 *   survive  =  1.0 when the post-step state is healthy, else 0
 *   forward  =  1.0 * x_vel, torso body-frame x over dt (the lagged xpos)
 *   ctrl     = -0.5 * sum(ctrl^2)
 *   contact  = -5e-4 * sum(clip(cfrc_ext, -1, 1)^2) over all bodies
 * Healthy (inclusive): qpos and qvel finite and 0.2 <= qpos[2] <= 1.0; the
 * episode terminates when not healthy. Reset: qpos0 + U(-0.1, 0.1) (15 draws),
 * then qvel = 0.1 N(0, 1) (14 draws). Frame skip 5, truncation at 1000. A
 * step on which MuJoCo warned is diverged (terminated, reward zeroed).
 */
#include <math.h>

#include "env_classes.h"
#include "mjenv.h"
#include "util.h"

#define ANT_NQ 15
#define ANT_NV 14
#define ANT_NU 8
#define ANT_NBODY 14
#define ANT_OBS_DIM ((ANT_NQ - 2) + ANT_NV + (ANT_NBODY - 1) * 6) /* 105 */

#define ANT_FORWARD_WEIGHT 1.0
#define ANT_CTRL_WEIGHT 0.5
#define ANT_CONTACT_WEIGHT 5e-4
#define ANT_CONTACT_MAX 1.0 /* contact_force_range (-1, 1) */
#define ANT_HEALTHY_REWARD 1.0
#define ANT_Z_MIN 0.2 /* healthy_z_range, inclusive */
#define ANT_Z_MAX 1.0

enum { TERM_SURVIVE, TERM_FORWARD, TERM_CTRL, TERM_CONTACT };

typedef struct ant {
    mjenv me;  /* first: mjenv_of() */
    int torso; /* body id of the torso (1) */
} ant;

static const mjenv_spec ant_spec = {
    .frame_skip = 5,
    .nq = ANT_NQ,
    .nv = ANT_NV,
    .nu = ANT_NU,
    .qpos_noise = {MJENV_NOISE_UNIFORM, 0.1},
    .qvel_noise = {MJENV_NOISE_NORMAL, 0.1},
};

static int ant_open(env *e, const char *model_path, char *err, size_t errlen)
{
    if (mjenv_open(e, sizeof(ant), model_path, &ant_spec, err, errlen) < 0)
        return -1;
    ant *a = e->state;
    if (a->me.m->nbody != ANT_NBODY) {
        errf(err, errlen, "model %s: %d bodies, expected %d", model_path,
             a->me.m->nbody, ANT_NBODY);
        goto out_close;
    }
    a->torso = mjenv_id(&a->me, mjOBJ_BODY, "torso", err, errlen);
    if (a->torso < 0)
        goto out_close;
    return 0;

out_close:
    mjenv_close(e);
    return -1;
}

static void observe(const ant *a, float *obs)
{
    const mjData *d = a->me.d;
    float *o = obs;
    o = mjenv_copy(o, d->qpos + 2, ANT_NQ - 2);
    o = mjenv_copy(o, d->qvel, ANT_NV);
    o = mjenv_copy_clip(o, d->cfrc_ext + 6, (ANT_NBODY - 1) * 6,
                        -ANT_CONTACT_MAX, ANT_CONTACT_MAX);
    HPO_ASSERT(o - obs == ANT_OBS_DIM);
}

static int is_healthy(const mjData *d)
{
    for (int i = 0; i < ANT_NQ; i++)
        if (!isfinite(d->qpos[i]))
            return 0;
    for (int i = 0; i < ANT_NV; i++)
        if (!isfinite(d->qvel[i]))
            return 0;
    return d->qpos[2] >= ANT_Z_MIN && d->qpos[2] <= ANT_Z_MAX;
}

static double contact_sq(const mjData *d)
{
    double s = 0.0;
    for (int i = 0; i < ANT_NBODY * 6; i++) {
        double f = d->cfrc_ext[i];
        f = f < -ANT_CONTACT_MAX  ? -ANT_CONTACT_MAX
            : f > ANT_CONTACT_MAX ? ANT_CONTACT_MAX
                                  : f;
        s += f * f;
    }
    return s;
}

static void ant_reset(env *e, rng *r, float *obs)
{
    ant *a = e->state;
    mjenv_reset(&a->me, r);
    observe(a, obs);
}

static void ant_step(env *e, const float *action, float *obs,
                     env_step_result *res)
{
    ant *a = e->state;
    const mjData *d = a->me.d;

    double x_vel;
    int diverged =
        mjenv_step_x_vel(&a->me, action, mjenv_xpos(&a->me, a->torso), &x_vel);
    observe(a, obs);

    int healthy = is_healthy(d);
    res->terms[TERM_SURVIVE] = healthy ? (float)ANT_HEALTHY_REWARD : 0.0f;
    res->terms[TERM_FORWARD] = (float)(ANT_FORWARD_WEIGHT * x_vel);
    res->terms[TERM_CTRL] = (float)(-ANT_CTRL_WEIGHT * mjenv_ctrl_sq(&a->me));
    res->terms[TERM_CONTACT] = (float)(-ANT_CONTACT_WEIGHT * contact_sq(d));
    mjenv_finish_step(res, e->cls->n_terms, !healthy, diverged);
}

const env_class env_ant = {
    .name = "Ant",
    .obs_dim = ANT_OBS_DIM,
    .act_dim = ANT_NU,
    .max_episode_steps = 1000,
    .n_terms = 4,
    .term_names = {"survive", "forward", "ctrl", "contact"},
    .model_file = "ant.xml",
    .open = ant_open,
    .close = mjenv_close,
    .reset = ant_reset,
    .step = ant_step,
};
