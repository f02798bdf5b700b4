/* test_env_mujoco2.c - Ant-v5 and Humanoid-v5 (common/envs/env_ant.c,
 * common/envs/env_humanoid.c): dimensions, observation layout, reward terms,
 * healthy rules on constructed states, reset noise, determinism and physical
 * sanity (weight carried by the contacts, momentum in free fall). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env.h"
#include "mjenv.h"
#include "rng.h"
#include "testutil.h"

#define ANT_OBS 105
#define HUM_OBS 348
#define GRAVITY 9.81

enum { T_SURVIVE, T_FORWARD, T_CTRL, T_CONTACT }; /* term order of both */

static mjData *data_of(env *e)
{
    return mjenv_of(e)->d;
}
static mjModel *model_of(env *e)
{
    return mjenv_of(e)->m;
}

static void zero_action(float *a, int n)
{
    memset(a, 0, sizeof(float) * (size_t)n);
}

static void assert_close(double a, double b, double tol)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("%.9g != %.9g (tol %.3g)", a, b, tol);
}

static float term_sum(const env_step_result *r, int n)
{
    float s = 0.0f;
    for (int k = 0; k < n; k++)
        s += r->terms[k];
    return s;
}

/* qpos0 with every joint inside its range (the model's qpos0 has Ant ankles
 * and Humanoid knees outside theirs), torso at height z, zero velocity. */
static void standing_state(env *e, double z, mjtNum *qpos, mjtNum *qvel)
{
    const mjModel *m = model_of(e);
    memcpy(qpos, m->qpos0, sizeof(mjtNum) * (size_t)m->nq);
    memset(qvel, 0, sizeof(mjtNum) * (size_t)m->nv);
    qpos[2] = z;
    for (int j = 1; j < m->njnt; j++) {
        const mjtNum *r = m->jnt_range + 2 * j;
        mjtNum *q = qpos + m->jnt_qposadr[j];
        if (*q < r[0] || *q > r[1])
            *q = 0.5 * (r[0] + r[1]);
    }
}

/* Start an episode, then overwrite its state. */
static void set_state(env *e, const mjtNum *qpos, const mjtNum *qvel)
{
    float obs[HUM_OBS];
    env_reset(e, obs);
    mjenv_set_state(mjenv_of(e), qpos, qvel);
}

/* No gravity, contacts or joint springs: a still body at rest stays exactly
 * where it is, so a post-step height equals the constructed one. */
static void freeze_world(env *e)
{
    mjModel *m = model_of(e);
    m->opt.disableflags |= mjDSBL_GRAVITY | mjDSBL_CONTACT;
    for (int j = 0; j < m->njnt; j++)
        m->jnt_stiffness[j] = 0.0;
}

// ---- dimensions ----

static void check_class(const char *name, int obs_dim, int act_dim, int nq,
                        int nv, double ctrl_hi)
{
    env *e = test_env_seeded(name, 0);
    const env_class *c = e->cls;
    assert_int_equal(c->obs_dim, obs_dim);
    assert_int_equal(c->act_dim, act_dim);
    assert_int_equal(c->max_episode_steps, 1000);
    assert_int_equal(c->n_terms, 4);
    assert_string_equal(c->term_names[T_SURVIVE], "survive");
    assert_string_equal(c->term_names[T_FORWARD], "forward");
    assert_string_equal(c->term_names[T_CTRL], "ctrl");
    assert_string_equal(c->term_names[T_CONTACT], "contact");
    assert_ptr_equal(env_find(name), c);

    const mjModel *m = model_of(e);
    assert_int_equal(m->nq, nq);
    assert_int_equal(m->nv, nv);
    assert_int_equal(m->nu, act_dim);
    assert_int_equal(m->nbody, 14);
    assert_close(mjenv_of(e)->dt, m->opt.timestep * 5, 1e-15);
    for (int i = 0; i < m->nu; i++) {
        assert_close(m->actuator_ctrlrange[2 * i], -ctrl_hi, 0);
        assert_close(m->actuator_ctrlrange[2 * i + 1], ctrl_hi, 0);
    }

    /* [-1, 1] maps onto ctrlrange; env_step clips beyond it */
    float obs[HUM_OBS], a[32];
    env_step_result res;
    env_reset(e, obs);
    for (int i = 0; i < act_dim; i++)
        a[i] = i % 4 == 0   ? 1.0f
               : i % 4 == 1 ? -1.0f
               : i % 4 == 2 ? 0.5f
                            : 7.0f;
    env_step(e, a, obs, &res);
    const mjData *d = data_of(e);
    double sq = 0.0;
    for (int i = 0; i < act_dim; i++) {
        double want = ctrl_hi * (a[i] > 1.0f ? 1.0 : a[i]);
        assert_close(d->ctrl[i], want, 1e-12);
        sq += want * want;
    }
    double w = strcmp(name, "Ant") == 0 ? 0.5 : 0.1;
    assert_close(res.terms[T_CTRL], -w * sq, 1e-5);
    env_destroy(&e);
}

static void test_ant_dims(void **state)
{
    check_class("Ant", ANT_OBS, 8, 15, 14, 1.0);
}

static void test_humanoid_dims(void **state)
{
    check_class("Humanoid-v5", HUM_OBS, 17, 24, 23, 0.4);
}

// ---- observation layout ----

static void assert_block(const float *obs, const mjtNum *src, int n,
                         double clip)
{
    for (int i = 0; i < n; i++) {
        double v = src[i];
        if (clip > 0)
            v = v < -clip ? -clip : v > clip ? clip : v;
        if (obs[i] != (float)v)
            fail_msg("obs element %d: %.9g, expected %.9g", i, (double)obs[i],
                     v);
    }
}

/* Steps with random actions until the feet touch, checking every block. */
static void test_ant_observation_layout(void **state)
{
    env *e = test_env_seeded("Ant", 3);
    float obs[ANT_OBS], a[8];
    env_step_result res;
    rng r;
    rng_init(&r, 1, 0);
    env_reset(e, obs);
    const mjData *d = data_of(e);
    for (int i = 27; i < ANT_OBS; i++)
        assert_true(obs[i] == 0.0f); /* no contact forces at reset */
    int saw_contact = 0, saw_clipped = 0;
    for (int t = 0; t < 60; t++) {
        rng_uniform_fill(&r, a, 8, -1.0f, 1.0f);
        env_step(e, a, obs, &res);
        assert_block(obs, d->qpos + 2, 13, 0);
        assert_block(obs + 13, d->qvel, 14, 0);
        assert_block(obs + 27, d->cfrc_ext + 6, 78, 1.0);
        for (int i = 27; i < ANT_OBS; i++) {
            assert_true(obs[i] >= -1.0f && obs[i] <= 1.0f);
            saw_contact |= obs[i] != 0.0f;
            saw_clipped |= fabsf(obs[i]) == 1.0f;
        }
        if (res.terminated)
            env_reset(e, obs);
    }
    assert_true(saw_contact);
    assert_true(saw_clipped);
    env_destroy(&e);
}

static void test_humanoid_observation_layout(void **state)
{
    env *e = test_env_seeded("Humanoid", 3);
    float obs[HUM_OBS], a[17];
    env_step_result res;
    rng r;
    rng_init(&r, 1, 0);
    env_reset(e, obs);
    const mjData *d = data_of(e);
    for (int i = 270; i < HUM_OBS; i++)
        assert_true(obs[i] == 0.0f); /* no contact forces at reset */
    int saw_contact = 0;
    for (int t = 0; t < 30; t++) {
        rng_uniform_fill(&r, a, 17, -1.0f, 1.0f);
        env_step(e, a, obs, &res);
        assert_block(obs, d->qpos + 2, 22, 0);
        assert_block(obs + 22, d->qvel, 23, 0);
        assert_block(obs + 45, d->cinert + 10, 130, 0);
        assert_block(obs + 175, d->cvel + 6, 78, 0);
        assert_block(obs + 253, d->qfrc_actuator + 6, 17, 0);
        assert_block(obs + 270, d->cfrc_ext + 6, 78, 0);
        for (int i = 270; i < HUM_OBS; i++)
            saw_contact |= fabsf(obs[i]) > 1.0f; /* unclipped */
        if (res.terminated)
            break;
    }
    assert_true(saw_contact);
    env_destroy(&e);
}

// ---- reward ----

/* Each term recomputed from the simulator on real random-action steps. */
static void check_reward_terms(const char *name, int steps)
{
    const int is_ant = strcmp(name, "Ant") == 0;
    env *e = test_env_seeded(name, 21);
    const mjModel *m = model_of(e);
    const mjData *d = data_of(e);
    const int nu = m->nu;
    const double dt = mjenv_of(e)->dt;
    float obs[HUM_OBS], a[32];
    env_step_result res;
    rng r;
    rng_init(&r, 2, 0);
    env_reset(e, obs);
    int terminations = 0;
    for (int t = 0; t < steps; t++) {
        rng_uniform_fill(&r, a, (size_t)nu, -1.0f, 1.0f);
        double before = is_ant ? d->xpos[3] : d->subtree_com[0];
        env_step(e, a, obs, &res);
        double after = is_ant ? d->xpos[3] : d->subtree_com[0];

        assert_true(res.reward == term_sum(&res, 4));
        assert_false(res.diverged);
        double fwd = (is_ant ? 1.0 : 1.25) * (after - before) / dt;
        assert_close(res.terms[T_FORWARD], fwd, 1e-4 * (1 + fabs(fwd)));
        double sq = 0.0, csq = 0.0;
        for (int i = 0; i < nu; i++) {
            double c = (is_ant ? 1.0 : 0.4) * a[i];
            sq += c * c;
        }
        for (int i = 0; i < 6 * m->nbody; i++) {
            double f = d->cfrc_ext[i];
            if (is_ant)
                f = f < -1 ? -1 : f > 1 ? 1 : f;
            csq += f * f;
        }
        double ctrl = (is_ant ? 0.5 : 0.1) * sq;
        double contact = is_ant ? 5e-4 * csq : fmin(5e-7 * csq, 10.0);
        assert_close(res.terms[T_CTRL], -ctrl, 1e-5 * (1 + ctrl));
        assert_close(res.terms[T_CONTACT], -contact, 1e-5 * (1 + contact));
        assert_true(res.terms[T_CONTACT] <= 0.0f);
        double z = d->qpos[2];
        int healthy = is_ant ? z >= 0.2 && z <= 1.0 : z > 1.0 && z < 2.0;
        assert_int_equal(res.terminated, !healthy);
        assert_true(res.terms[T_SURVIVE] ==
                    (healthy ? (is_ant ? 1.0f : 5.0f) : 0.0f));
        if (res.terminated) {
            terminations++;
            env_reset(e, obs);
        }
    }
    assert_true(terminations >= 1);
    env_destroy(&e);
}

static void test_ant_reward_terms(void **state)
{
    check_reward_terms("Ant", 300);
}
static void test_humanoid_reward_terms(void **state)
{
    check_reward_terms("Humanoid", 200);
}

// ---- healthy rules on constructed states ----

/* Step a frozen world from height z; return the step's termination flag. */
static int frozen_terminates(env *e, double z, float healthy_reward)
{
    mjtNum qpos[32], qvel[32];
    float obs[HUM_OBS], a[32];
    env_step_result res;
    standing_state(e, z, qpos, qvel);
    set_state(e, qpos, qvel);
    zero_action(a, e->cls->act_dim);
    env_step(e, a, obs, &res);
    assert_true(data_of(e)->qpos[2] == z); /* nothing moved */
    assert_true(res.terms[T_SURVIVE] ==
                (res.terminated ? 0.0f : healthy_reward));
    assert_true(res.reward == term_sum(&res, 4));
    return res.terminated;
}

/* Ant's range is inclusive: 0.2 <= z <= 1.0. */
static void test_ant_healthy_bounds_exact(void **state)
{
    env *e = test_env_seeded("Ant", 0);
    freeze_world(e);
    assert_false(frozen_terminates(e, 0.2, 1.0f));
    assert_false(frozen_terminates(e, 1.0, 1.0f));
    assert_false(frozen_terminates(e, 0.5, 1.0f));
    assert_true(frozen_terminates(e, nextafter(0.2, 0.0), 1.0f));
    assert_true(frozen_terminates(e, nextafter(1.0, 2.0), 1.0f));
    assert_true(frozen_terminates(e, 0.1, 1.0f));
    assert_true(frozen_terminates(e, 1.5, 1.0f));
    env_destroy(&e);
}

/* Humanoid's range is strict: 1.0 < z < 2.0. */
static void test_humanoid_healthy_bounds_exact(void **state)
{
    env *e = test_env_seeded("Humanoid", 0);
    freeze_world(e);
    assert_true(frozen_terminates(e, 1.0, 5.0f));
    assert_true(frozen_terminates(e, 2.0, 5.0f));
    assert_true(frozen_terminates(e, 0.9, 5.0f));
    assert_true(frozen_terminates(e, 2.5, 5.0f));
    assert_false(frozen_terminates(e, nextafter(1.0, 2.0), 5.0f));
    assert_false(frozen_terminates(e, nextafter(2.0, 1.0), 5.0f));
    assert_false(frozen_terminates(e, 1.4, 5.0f));
    env_destroy(&e);
}

/*
 * With real physics: an upside-down Ant rests on its torso sphere at
 * z ~ 0.24 and is NOT terminated (the v5 rule, Gymnasium #1464); an Ant
 * thrown above z = 1 terminates on its first step.
 */
static void test_ant_flipped_and_too_high(void **state)
{
    env *e = test_env_seeded("Ant", 0);
    mjtNum qpos[15], qvel[14];
    float obs[ANT_OBS], a[8];
    env_step_result res;
    zero_action(a, 8);

    standing_state(e, 0.35, qpos, qvel);
    qpos[3] = 0.0; /* 180 deg about x */
    qpos[4] = 1.0;
    set_state(e, qpos, qvel);
    for (int t = 0; t < 60; t++) {
        env_step(e, a, obs, &res);
        assert_false(res.terminated);
        assert_true(res.terms[T_SURVIVE] == 1.0f);
    }
    const mjData *d = data_of(e);
    assert_true(d->qpos[2] > 0.2 && d->qpos[2] < 0.26);
    assert_true(fabs(d->qpos[3]) < 0.1); /* still upside down */

    standing_state(e, 1.3, qpos, qvel);
    set_state(e, qpos, qvel);
    env_step(e, a, obs, &res);
    assert_true(res.terminated);
    assert_true(res.terms[T_SURVIVE] == 0.0f);
    assert_true(obs[0] > 1.0f);
    env_destroy(&e);
}

/* A Humanoid given no torque collapses: healthy (5) until the torso drops
 * below z = 1, then terminated with healthy term 0. */
static void test_humanoid_falls_and_terminates(void **state)
{
    env *e = test_env_seeded("Humanoid", 4);
    float obs[HUM_OBS], a[17];
    env_step_result res;
    zero_action(a, 17);
    env_reset(e, obs);
    int t = 0;
    do {
        env_step(e, a, obs, &res);
        t++;
        assert_true(res.reward == term_sum(&res, 4));
        assert_false(res.truncated);
        if (!res.terminated) {
            assert_true(res.terms[T_SURVIVE] == 5.0f);
            assert_true(obs[0] > 1.0f);
        }
    } while (!res.terminated && t < 1000);
    assert_true(res.terminated);
    assert_true(t > 5 && t < 300);
    assert_true(res.terms[T_SURVIVE] == 0.0f);
    assert_true(data_of(e)->qpos[2] <= 1.0);
    env_destroy(&e);
}

/* A velocity MuJoCo rejects (> 1e10) makes it reset itself mid-step: the
 * step is diverged and terminated, with reward and terms zeroed. */
static void check_diverged(const char *name)
{
    env *e = test_env_seeded(name, 0);
    mjtNum qpos[32], qvel[32];
    float obs[HUM_OBS], a[32];
    env_step_result res;
    standing_state(e, 1.4, qpos, qvel);
    qvel[0] = 1e11;
    set_state(e, qpos, qvel);
    zero_action(a, e->cls->act_dim);
    env_step(e, a, obs, &res);
    assert_true(res.diverged);
    assert_true(res.terminated);
    assert_true(res.reward == 0.0f);
    for (int k = 0; k < 4; k++)
        assert_true(res.terms[k] == 0.0f);
    env_destroy(&e);
}

static void test_diverged_steps(void **state)
{
    check_diverged("Ant");
    check_diverged("Humanoid");
}

// ---- reset ----

/*
 * Bound on |qpos - qpos0| after a reset with U(-s, s) noise. MuJoCo 2.2.2's
 * mj_forward normalises the free joint's quaternion (qpos[3..6]) in place, so
 * those entries are (qpos0 + noise) / |qpos0 + noise|: within s / (1 - 2s) +
 * s of qpos0 rather than s.
 */
static double quat_bound(int i, double s)
{
    return (i >= 3 && i <= 6 ? s / (1.0 - 2.0 * s) + s : s) + 1e-12;
}

static double quat_norm(const mjtNum *q)
{
    return sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
}

static void test_ant_reset_noise(void **state)
{
    env *e = test_env_seeded("Ant", 77);
    const mjModel *m = model_of(e);
    const mjData *d = data_of(e);
    float obs[ANT_OBS];
    double maxq = 0.0, sum = 0.0, sumsq = 0.0;
    int count = 0;
    for (int k = 0; k < 300; k++) {
        env_reset(e, obs);
        for (int i = 0; i < 15; i++) {
            double dq = d->qpos[i] - m->qpos0[i];
            assert_true(fabs(dq) <= quat_bound(i, 0.1));
            maxq = fmax(maxq, fabs(dq));
        }
        assert_close(quat_norm(d->qpos + 3), 1.0, 1e-12);
        for (int i = 0; i < 14; i++) {
            sum += d->qvel[i];
            sumsq += d->qvel[i] * d->qvel[i];
            count++;
        }
        assert_block(obs, d->qpos + 2, 13, 0);
        assert_block(obs + 13, d->qvel, 14, 0);
        for (int i = 27; i < ANT_OBS; i++)
            assert_true(obs[i] == 0.0f);
    }
    assert_true(maxq > 0.095);
    double mean = sum / count, sd = sqrt(sumsq / count - mean * mean);
    assert_true(fabs(mean) < 0.01); /* 4200 draws: se 0.0015 */
    assert_close(sd, 0.1, 0.01);
    env_destroy(&e);
}

static void test_humanoid_reset_noise(void **state)
{
    env *e = test_env_seeded("Humanoid", 77);
    const mjModel *m = model_of(e);
    const mjData *d = data_of(e);
    float obs[HUM_OBS];
    double maxq = 0.0, maxv = 0.0;
    for (int k = 0; k < 200; k++) {
        env_reset(e, obs);
        for (int i = 0; i < 24; i++) {
            double dq = d->qpos[i] - m->qpos0[i];
            assert_true(fabs(dq) <= quat_bound(i, 0.01));
            maxq = fmax(maxq, fabs(dq));
        }
        assert_close(quat_norm(d->qpos + 3), 1.0, 1e-12);
        for (int i = 0; i < 23; i++) {
            assert_true(fabs(d->qvel[i]) <= 0.01 + 1e-12);
            maxv = fmax(maxv, fabs(d->qvel[i]));
        }
        assert_true(obs[0] > 1.38f && obs[0] < 1.42f);
        for (int i = 270; i < HUM_OBS; i++)
            assert_true(obs[i] == 0.0f);
    }
    assert_true(maxq > 0.0099 && maxv > 0.0099);
    env_destroy(&e);
}

// ---- determinism ----

static void rollout(const char *name, uint64_t seed, int steps, float *out)
{
    env *e = test_env_seeded(name, seed);
    const int od = e->cls->obs_dim, ad = e->cls->act_dim;
    float a[32];
    env_step_result res;
    rng r;
    rng_init(&r, 9, 0);
    env_reset(e, out);
    for (int t = 1; t <= steps; t++) {
        rng_uniform_fill(&r, a, (size_t)ad, -1.0f, 1.0f);
        float *o = out + (size_t)t * (od + 1);
        env_step(e, a, o, &res);
        o[od] = res.reward;
        if (res.terminated)
            env_reset(e, o);
    }
    env_destroy(&e);
}

static void check_determinism(const char *name, int od, int steps)
{
    size_t n = (size_t)(steps + 1) * (od + 1);
    float *a = calloc(n, sizeof(float)), *b = calloc(n, sizeof(float)),
          *c = calloc(n, sizeof(float));
    rollout(name, 5, steps, a);
    rollout(name, 5, steps, b);
    rollout(name, 6, steps, c);
    assert_memory_equal(a, b, n * sizeof(float));
    assert_memory_not_equal(a, c, n * sizeof(float));
    free(a);
    free(b);
    free(c);
}

static void test_ant_same_seed_same_trajectory(void **state)
{
    check_determinism("Ant", ANT_OBS, 150);
}

static void test_humanoid_same_seed_same_trajectory(void **state)
{
    check_determinism("Humanoid", HUM_OBS, 100);
}

// ---- physical sanity ----

/*
 * An Ant left alone settles on the floor; then the vertical contact forces
 * (the force z components of cfrc_ext summed over bodies) carry its weight,
 * forward reward is ~0, and each step pays ~1 (healthy minus a tiny contact
 * cost). Standing still it is truncated, not terminated, at step 1000.
 */
static void test_ant_rests_on_contacts_until_time_limit(void **state)
{
    env *e = test_env_seeded("Ant", 12);
    const mjModel *m = model_of(e);
    const mjData *d = data_of(e);
    float obs[ANT_OBS], a[8];
    env_step_result res;
    zero_action(a, 8);
    env_reset(e, obs);
    double mass = 0.0;
    for (int b = 0; b < m->nbody; b++)
        mass += m->body_mass[b];
    assert_close(mass, 0.910880, 1e-6);

    for (int t = 1; t <= 1000; t++) {
        env_step(e, a, obs, &res);
        assert_false(res.terminated);
        assert_int_equal(res.truncated, t == 1000);
        if (t < 200)
            continue;
        double fz = 0.0;
        for (int b = 0; b < m->nbody; b++)
            fz += d->cfrc_ext[6 * b + 5];
        assert_close(fz, mass * GRAVITY, 0.01 * mass * GRAVITY);
        assert_close(res.terms[T_FORWARD], 0.0, 1e-3);
        assert_close(res.reward, 1.0, 0.01);
    }
    assert_true(d->qpos[2] > 0.3 &&
                d->qpos[2] < 0.5);  /* on its legs (torso r 0.25) */
    assert_true(d->qpos[3] > 0.99); /* upright */
    env_destroy(&e);
}

/*
 * Without contacts no external horizontal force acts on a Humanoid, so
 * whatever its motors do its centre of mass keeps its horizontal velocity
 * (forward term ~0 from rest, while the torso itself swings back and forth)
 * and falls with g: z_com(t) = z0 - g t^2 / 2. The forward term reads the
 * COM at the last RK4 stage, not at the step's end, hence its 1e-3 slack.
 */
static void test_humanoid_free_fall_conserves_momentum(void **state)
{
    env *e = test_env_seeded("Humanoid", 8);
    model_of(e)->opt.disableflags |= mjDSBL_CONTACT;
    const mjData *d = data_of(e);
    const double dt = mjenv_of(e)->dt;
    float obs[HUM_OBS], a[17];
    env_step_result res;
    rng r;
    rng_init(&r, 4, 0);
    mjtNum qpos[24], qvel[23];
    standing_state(e, 1.9, qpos, qvel);
    set_state(e, qpos, qvel);
    double z0 = d->subtree_com[2], x0 = d->subtree_com[0], torso_v = 0.0;
    for (int t = 1; t <= 10; t++) {
        rng_uniform_fill(&r, a, 17, -1.0f, 1.0f);
        double torso_x = d->xpos[3];
        env_step(e, a, obs, &res);
        torso_v = fmax(torso_v, fabs(d->xpos[3] - torso_x) / dt);
        assert_false(res.terminated);
        assert_close(res.terms[T_FORWARD], 0.0, 1e-3);
        assert_true(res.terms[T_CONTACT] ==
                    0.0f); /* no contacts, no contact cost */
        /* subtree_com lags the step's end by one RK4 stage evaluation */
        mj_forward(model_of(e), data_of(e));
        double tt = t * dt;
        assert_close(d->subtree_com[0], x0, 1e-4); /* RK4 error ~1e-5 */
        assert_close(d->subtree_com[2], z0 - 0.5 * GRAVITY * tt * tt, 1e-4);
    }
    assert_true(torso_v > 0.05);
    env_destroy(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ant_dims),
        cmocka_unit_test(test_humanoid_dims),
        cmocka_unit_test(test_ant_observation_layout),
        cmocka_unit_test(test_humanoid_observation_layout),
        cmocka_unit_test(test_ant_reward_terms),
        cmocka_unit_test(test_humanoid_reward_terms),
        cmocka_unit_test(test_ant_healthy_bounds_exact),
        cmocka_unit_test(test_humanoid_healthy_bounds_exact),
        cmocka_unit_test(test_ant_flipped_and_too_high),
        cmocka_unit_test(test_humanoid_falls_and_terminates),
        cmocka_unit_test(test_diverged_steps),
        cmocka_unit_test(test_ant_reset_noise),
        cmocka_unit_test(test_humanoid_reset_noise),
        cmocka_unit_test(test_ant_same_seed_same_trajectory),
        cmocka_unit_test(test_humanoid_same_seed_same_trajectory),
        cmocka_unit_test(test_ant_rests_on_contacts_until_time_limit),
        cmocka_unit_test(test_humanoid_free_fall_conserves_momentum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
