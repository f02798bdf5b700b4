/*
 * env_humanoid.c - Gymnasium Humanoid-v5 on common/envs/models/humanoid.xml
 * (docs/envs.md 3.5).
 *
 * Observation (348), no clipping: qpos[2..23] (22), qvel (23), then for
 * bodies 1..13 (the world row is left out) cinert (130) and cvel (78), then
 * qfrc_actuator of the 17 hinge dofs (17), then cfrc_ext of bodies 1..13 (78).
 * Reward terms (summed into the reward):
 *   survive  =  5.0 when the post-step state is healthy, else 0
 *   forward  =  1.25 * x_vel, mass-weighted COM x over dt (the lagged xipos)
 *   ctrl     = -0.1 * sum(ctrl^2), ctrl in the model's [-0.4, 0.4]
 *   contact  = -min(5e-7 * sum(cfrc_ext^2), 10) over all bodies
 * Healthy (strict): 1.0 < qpos[2] < 2.0; the episode terminates when not
 * healthy. Reset: qpos0 + U(-0.01, 0.01) (24 draws), then qvel = U(-0.01,
 * 0.01) (23 draws). Frame skip 5, truncation at 1000. A step on which
 * MuJoCo warned is diverged (terminated, reward zeroed).
 */
#include "env_classes.h"
#include "mjenv.h"
#include "util.h"

#define HUM_NQ 24
#define HUM_NV 23
#define HUM_NU 17
#define HUM_NBODY 14
#define HUM_FREE_DOFS 6
#define HUM_OBS_DIM                                                            \
    ((HUM_NQ - 2) + HUM_NV + (HUM_NBODY - 1) * (10 + 6 + 6) +                  \
     (HUM_NV - HUM_FREE_DOFS)) /* 348 */

#define HUM_FORWARD_WEIGHT 1.25
#define HUM_CTRL_WEIGHT 0.1
#define HUM_CONTACT_WEIGHT 5e-7
#define HUM_CONTACT_COST_MAX 10.0
#define HUM_HEALTHY_REWARD 5.0
#define HUM_Z_MIN 1.0 /* healthy_z_range, strict */
#define HUM_Z_MAX 2.0

enum { TERM_SURVIVE, TERM_FORWARD, TERM_CTRL, TERM_CONTACT };

typedef struct humanoid {
    mjenv me;    /* first: mjenv_of() */
    double mass; /* total mass (kg) */
} humanoid;

static const mjenv_spec humanoid_spec = {
    .frame_skip = 5,
    .nq = HUM_NQ,
    .nv = HUM_NV,
    .nu = HUM_NU,
    .qpos_noise = {MJENV_NOISE_UNIFORM, 0.01},
    .qvel_noise = {MJENV_NOISE_UNIFORM, 0.01},
};

static int humanoid_open(env *e, const char *model_path, char *err,
                         size_t errlen)
{
    if (mjenv_open(e, sizeof(humanoid), model_path, &humanoid_spec, err,
                   errlen) < 0)
        return -1;
    humanoid *h = e->state;
    const mjModel *m = h->me.m;
    if (m->nbody != HUM_NBODY || m->jnt_type[0] != mjJNT_FREE) {
        errf(err, errlen, "model %s: %d bodies, expected %d on a free joint",
             model_path, m->nbody, HUM_NBODY);
        mjenv_close(e);
        return -1;
    }
    for (int b = 0; b < m->nbody; b++)
        h->mass += m->body_mass[b];
    return 0;
}

static void observe(const humanoid *h, float *obs)
{
    const mjData *d = h->me.d;
    float *o = obs;
    o = mjenv_copy(o, d->qpos + 2, HUM_NQ - 2);
    o = mjenv_copy(o, d->qvel, HUM_NV);
    o = mjenv_copy(o, d->cinert + 10, (HUM_NBODY - 1) * 10);
    o = mjenv_copy(o, d->cvel + 6, (HUM_NBODY - 1) * 6);
    o = mjenv_copy(o, d->qfrc_actuator + HUM_FREE_DOFS, HUM_NV - HUM_FREE_DOFS);
    o = mjenv_copy(o, d->cfrc_ext + 6, (HUM_NBODY - 1) * 6);
    HPO_ASSERT(o - obs == HUM_OBS_DIM);
}

/* x of the mass-weighted centre of mass, from the body COMs (xipos). */
static double com_x(const humanoid *h)
{
    const mjModel *m = h->me.m;
    const mjData *d = h->me.d;
    double s = 0.0;
    for (int b = 0; b < m->nbody; b++)
        s += m->body_mass[b] * d->xipos[3 * b];
    return s / h->mass;
}

static double contact_cost(const mjData *d)
{
    double s = 0.0;
    for (int i = 0; i < HUM_NBODY * 6; i++)
        s += d->cfrc_ext[i] * d->cfrc_ext[i];
    return HPO_MIN(HUM_CONTACT_WEIGHT * s, HUM_CONTACT_COST_MAX);
}

static void humanoid_reset(env *e, rng *r, float *obs)
{
    humanoid *h = e->state;
    mjenv_reset(&h->me, r);
    observe(h, obs);
}

static void humanoid_step(env *e, const float *action, float *obs,
                          env_step_result *res)
{
    humanoid *h = e->state;
    const mjData *d = h->me.d;

    double x_before = com_x(h);
    int diverged = mjenv_step(&h->me, action);
    double x_vel = (com_x(h) - x_before) / h->me.dt;
    observe(h, obs);

    int healthy = mjenv_in_range(d->qpos + 2, 1, HUM_Z_MIN, HUM_Z_MAX);
    res->terms[TERM_SURVIVE] = healthy ? (float)HUM_HEALTHY_REWARD : 0.0f;
    res->terms[TERM_FORWARD] = (float)(HUM_FORWARD_WEIGHT * x_vel);
    res->terms[TERM_CTRL] = (float)(-HUM_CTRL_WEIGHT * mjenv_ctrl_sq(&h->me));
    res->terms[TERM_CONTACT] = (float)(-contact_cost(d));
    mjenv_finish_step(res, e->cls->n_terms, !healthy, diverged);
}

const env_class env_humanoid = {
    .name = "Humanoid",
    .obs_dim = HUM_OBS_DIM,
    .act_dim = HUM_NU,
    .max_episode_steps = 1000,
    .n_terms = 4,
    .term_names = {"survive", "forward", "ctrl", "contact"},
    .model_file = "humanoid.xml",
    .open = humanoid_open,
    .close = mjenv_close,
    .reset = humanoid_reset,
    .step = humanoid_step,
};
