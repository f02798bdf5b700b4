/*
 * pendulum.c - Gym Pendulum-v1 swing-up, no model file.
 *
 * State (theta, thetadot) in double; theta = 0 is upright. The action in
 * [-1, 1] is scaled to a torque in [-2, 2]. The reward is computed on the
 * state before the step and split into three non-positive terms:
 *   angle    = -angle_normalize(theta)^2
 *   velocity = -0.1 thetadot^2
 *   control  = -0.001 u^2
 * Reset draws theta ~ U(-pi, pi) then thetadot ~ U(-1, 1), one rng_uniform
 * each, in that order (tests recompute it). Never terminates; env_step
 * truncates at 200 steps.
 */
#include <math.h>
#include <stdlib.h>

#include "env_classes.h"
#include "util.h"

#define PEND_G 10.0
#define PEND_M 1.0
#define PEND_L 1.0
#define PEND_DT 0.05
#define PEND_MAX_TORQUE 2.0
#define PEND_MAX_SPEED 8.0

typedef struct pendulum {
    double theta;    /* rad, 0 = upright, unbounded */
    double thetadot; /* rad/s, in [-8, 8] */
} pendulum;

/* Wrap x into [-pi, pi). */
static double angle_normalize(double x)
{
    double y = fmod(x + M_PI, 2.0 * M_PI);
    if (y < 0.0)
        y += 2.0 * M_PI;
    return y - M_PI;
}

static void observe(const pendulum *p, float *obs)
{
    obs[0] = (float)cos(p->theta);
    obs[1] = (float)sin(p->theta);
    obs[2] = (float)p->thetadot;
}

static int pendulum_open(env *e, const char *model_path, char *err,
                         size_t errlen)
{
    e->state = xcalloc(1, sizeof(pendulum));
    return 0;
}

static void pendulum_close(env *e)
{
    free(e->state);
    e->state = NULL;
}

static void pendulum_reset(env *e, rng *r, float *obs)
{
    pendulum *p = e->state;
    p->theta = -M_PI + 2.0 * M_PI * rng_uniform(r);
    p->thetadot = -1.0 + 2.0 * rng_uniform(r);
    observe(p, obs);
}

// action (1)  obs (3)
static void pendulum_step(env *e, const float *action, float *obs,
                          env_step_result *res)
{
    pendulum *p = e->state;
    double u = PEND_MAX_TORQUE * (double)action[0];
    double th = p->theta, thdot = p->thetadot;

    double angle = angle_normalize(th);
    double t_angle = -angle * angle;
    double t_velocity = -0.1 * thdot * thdot;
    double t_control = -0.001 * u * u;

    double acc = 3.0 * PEND_G / (2.0 * PEND_L) * sin(th) +
                 3.0 / (PEND_M * PEND_L * PEND_L) * u;
    thdot += acc * PEND_DT;
    thdot = fmin(fmax(thdot, -PEND_MAX_SPEED), PEND_MAX_SPEED);
    p->theta = th + thdot * PEND_DT;
    p->thetadot = thdot;

    observe(p, obs);
    res->reward = (float)(t_angle + t_velocity + t_control);
    res->terms[0] = (float)t_angle;
    res->terms[1] = (float)t_velocity;
    res->terms[2] = (float)t_control;
    res->terminated = 0;
    res->diverged = 0;
}

const env_class env_pendulum = {
    .name = "Pendulum",
    .obs_dim = 3,
    .act_dim = 1,
    .max_episode_steps = 200,
    .n_terms = 3,
    .term_names = {"angle", "velocity", "control"},
    .model_file = NULL,
    .open = pendulum_open,
    .close = pendulum_close,
    .reset = pendulum_reset,
    .step = pendulum_step,
};
