/*
 * env_inverted_double_pendulum.c - Gymnasium InvertedDoublePendulum-v5 on
 * MuJoCo 2.2.2.
 *
 * Model models/inverted_double_pendulum.xml: a cart (slide x, +-1 m, limit
 * margin 0.01) carrying two 0.6 m poles, site "tip" at the end of the second.
 * Frame skip 5 at timestep 0.01 (dt 0.05); action [-1, 1], gear 500.
 *   obs (9)    qpos[0]; sin q1, sin q2; cos q1, cos q2; clip(qvel[0..2], +-10);
 *              clip(qfrc_constraint[0], +-10) (the slider's limit force)
 *   reward     survive  = 10 if not terminated, else 0
 *              distance = -(0.01 x^2 + (z - 2)^2), (x, z) of the tip site
 *              velocity = -(1e-3 qvel[1]^2 + 5e-3 qvel[2]^2)
 *   terminated tip z <= 1 after the step
 * The tip is site_xpos as left by the last physics step (Gymnasium reads it
 * the same way, without a fresh mj_forward; docs/envs.md 1.4).
 * Reset: qpos = U(-0.1, 0.1) (3), then qvel = 0.1 N(0, 1) (3).
 */
#include <math.h>

#include "env_classes.h"
#include "mjenv.h"

#define IDP_CLIP 10.0

typedef struct idp {
    mjenv sim; /* first: mjenv_of() */
    int tip;   /* site id */
} idp;

static const mjenv_spec spec = {
    .frame_skip = 5,
    .nq = 3,
    .nv = 3,
    .nu = 1,
    .qpos_noise = {MJENV_NOISE_UNIFORM, 0.1},
    .qvel_noise = {MJENV_NOISE_NORMAL, 0.1},
};

static void observe(const mjenv *me, float *obs)
{
    const mjtNum *q = me->d->qpos;
    obs[0] = (float)q[0];
    obs[1] = (float)sin(q[1]);
    obs[2] = (float)sin(q[2]);
    obs[3] = (float)cos(q[1]);
    obs[4] = (float)cos(q[2]);
    mjenv_copy_clip(obs + 5, me->d->qvel, 3, -IDP_CLIP, IDP_CLIP);
    mjenv_copy_clip(obs + 8, me->d->qfrc_constraint, 1, -IDP_CLIP, IDP_CLIP);
}

static int idp_open(env *e, const char *model_path, char *err, size_t errlen)
{
    if (mjenv_open(e, sizeof(idp), model_path, &spec, err, errlen) != 0)
        return -1;
    idp *p = e->state;
    p->tip = mjenv_id(&p->sim, mjOBJ_SITE, "tip", err, errlen);
    if (p->tip < 0) {
        mjenv_close(e);
        return -1;
    }
    return 0;
}

static void idp_reset(env *e, rng *r, float *obs)
{
    mjenv_reset(mjenv_of(e), r);
    observe(mjenv_of(e), obs);
}

// action (1)  obs (9)
static void idp_step(env *e, const float *action, float *obs,
                     env_step_result *res)
{
    idp *p = e->state;
    mjenv *me = &p->sim;
    int diverged = mjenv_step(me, action);
    observe(me, obs);

    const mjtNum *tip = mjenv_site_xpos(me, p->tip);
    double x = tip[0], z = tip[2];
    double v1 = me->d->qvel[1], v2 = me->d->qvel[2];
    double distance = -(0.01 * x * x + (z - 2.0) * (z - 2.0));
    double velocity = -(1e-3 * v1 * v1 + 5e-3 * v2 * v2);

    int terminated = z <= 1.0;
    res->terms[0] = terminated ? 0.0f : 10.0f;
    res->terms[1] = (float)distance;
    res->terms[2] = (float)velocity;
    mjenv_finish_step(res, e->cls->n_terms, terminated, diverged);
}

const env_class env_inverted_double_pendulum = {
    .name = "InvertedDoublePendulum",
    .obs_dim = 9,
    .act_dim = 1,
    .max_episode_steps = 1000,
    .n_terms = 3,
    .term_names = {"survive", "distance", "velocity"},
    .model_file = "inverted_double_pendulum.xml",
    .open = idp_open,
    .close = mjenv_close,
    .reset = idp_reset,
    .step = idp_step,
};
