/*
 * env_inverted_pendulum.c - Gymnasium InvertedPendulum-v5 on MuJoCo 2.2.2.
 *
 * Model models/inverted_pendulum.xml: a cart (slide x, +-1 m) carrying a pole
 * on a hinge; the action in [-1, 1] maps onto ctrlrange [-3, 3] (gear 100).
 * Frame skip 2 at timestep 0.02 (dt 0.04).
 *   obs (4)    qpos[0] cart x, qpos[1] pole angle, qvel[0], qvel[1]
 *   reward     survive = 1 if not terminated, else 0
 *   terminated any obs element non-finite or |qpos[1]| > 0.2 after the step
 * Reset: qpos = U(-0.01, 0.01) (2), then qvel = U(-0.01, 0.01) (2).
 */
#include <math.h>

#include "env_classes.h"
#include "mjenv.h"

static const mjenv_spec spec = {
    .frame_skip = 2,
    .nq = 2,
    .nv = 2,
    .nu = 1,
    .qpos_noise = {MJENV_NOISE_UNIFORM, 0.01},
    .qvel_noise = {MJENV_NOISE_UNIFORM, 0.01},
};

static void observe(const mjenv *me, float *obs)
{
    mjenv_copy(mjenv_copy(obs, me->d->qpos, 2), me->d->qvel, 2);
}

static int ip_open(env *e, const char *model_path, char *err, size_t errlen)
{
    return mjenv_open(e, sizeof(mjenv), model_path, &spec, err, errlen);
}

static void ip_reset(env *e, rng *r, float *obs)
{
    mjenv_reset(mjenv_of(e), r);
    observe(mjenv_of(e), obs);
}

// action (1)  obs (4)
static void ip_step(env *e, const float *action, float *obs,
                    env_step_result *res)
{
    mjenv *me = mjenv_of(e);
    int diverged = mjenv_step(me, action);
    observe(me, obs);

    int finite = 1;
    for (int i = 0; i < 4; i++)
        finite = finite && isfinite(obs[i]);
    int terminated = !finite || fabs(me->d->qpos[1]) > 0.2;
    res->terms[0] = terminated ? 0.0f : 1.0f;
    mjenv_finish_step(res, e->cls->n_terms, terminated, diverged);
}

const env_class env_inverted_pendulum = {
    .name = "InvertedPendulum",
    .obs_dim = 4,
    .act_dim = 1,
    .max_episode_steps = 1000,
    .n_terms = 1,
    .term_names = {"survive"},
    .model_file = "inverted_pendulum.xml",
    .open = ip_open,
    .close = mjenv_close,
    .reset = ip_reset,
    .step = ip_step,
};
