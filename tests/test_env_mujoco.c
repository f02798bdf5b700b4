/* test_env_mujoco.c - mjenv and the Gymnasium v5 classes InvertedPendulum,
 * InvertedDoublePendulum, HalfCheetah, Hopper and Walker2d: dimensions and
 * action mapping, reward = sum of the documented terms, termination on
 * constructed states, reset noise, determinism, physical sanity, divergence
 * and load errors. Expected numbers come from docs/envs.md (shared spec). */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "mjenv.h"
#include "rng.h"
#include "testutil.h"

#define MAX_DIM 32

/* |a - b| <= tol in double precision (cmocka's float compare is float). */
#define assert_close(a, b, tol)                                                \
    do {                                                                       \
        double a_ = (a), b_ = (b), t_ = (tol);                                 \
        if (!(fabs(a_ - b_) <= t_))                                            \
            fail_msg("%s = %.10g, expected %.10g (tol %g)", #a, a_, b_, t_);   \
    } while (0)

/* What docs/envs.md says about each environment. */
typedef struct expect {
    const char *name;
    const char *model_file;
    int obs_dim, act_dim, nq, nv;
    double ctrl_hi; /* ctrlrange is [-ctrl_hi, ctrl_hi] */
    int frame_skip;
    double timestep;
    mjenv_noise_kind qpos_kind;
    double qpos_scale;
    mjenv_noise_kind qvel_kind;
    double qvel_scale;
    int n_terms;
    const char *terms[3];
} expect;

static const expect cases[] = {
    {"InvertedPendulum",
     "inverted_pendulum.xml",
     4,
     1,
     2,
     2,
     3.0,
     2,
     0.02,
     MJENV_NOISE_UNIFORM,
     0.01,
     MJENV_NOISE_UNIFORM,
     0.01,
     1,
     {"survive"}},
    {"InvertedDoublePendulum",
     "inverted_double_pendulum.xml",
     9,
     1,
     3,
     3,
     1.0,
     5,
     0.01,
     MJENV_NOISE_UNIFORM,
     0.1,
     MJENV_NOISE_NORMAL,
     0.1,
     3,
     {"survive", "distance", "velocity"}},
    {"HalfCheetah",
     "half_cheetah.xml",
     17,
     6,
     9,
     9,
     1.0,
     5,
     0.01,
     MJENV_NOISE_UNIFORM,
     0.1,
     MJENV_NOISE_NORMAL,
     0.1,
     2,
     {"forward", "ctrl"}},
    {"Hopper",
     "hopper.xml",
     11,
     3,
     6,
     6,
     1.0,
     4,
     0.002,
     MJENV_NOISE_UNIFORM,
     0.005,
     MJENV_NOISE_UNIFORM,
     0.005,
     3,
     {"survive", "forward", "ctrl"}},
    {"Walker2d",
     "walker2d.xml",
     17,
     6,
     9,
     9,
     1.0,
     4,
     0.002,
     MJENV_NOISE_UNIFORM,
     0.005,
     MJENV_NOISE_UNIFORM,
     0.005,
     3,
     {"survive", "forward", "ctrl"}},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Reset, then overwrite the state with (qpos, qvel). */
static void set_state(env *e, const double *qpos, const double *qvel)
{
    float obs[MAX_DIM];
    env_reset(e, obs);
    mjenv_set_state(mjenv_of(e), qpos, qvel);
}

static void zero_step(env *e, env_step_result *res)
{
    float a[MAX_DIM] = {0}, obs[MAX_DIM];
    env_step(e, a, obs, res);
}

// ---- dimensions and bounds ----

static void test_dims_and_bounds(void **state)
{
    for (int k = 0; k < N_CASES; k++) {
        const expect *x = &cases[k];
        char lower[64], v5[80];
        size_t n = strlen(x->name);
        for (size_t i = 0; i <= n; i++)
            lower[i] = (char)tolower((unsigned char)x->name[i]);
        snprintf(v5, sizeof v5, "%s-V5", lower);

        const env_class *c = env_find(x->name);
        assert_non_null(c);
        assert_ptr_equal(env_find(lower), c);
        assert_ptr_equal(env_find(v5), c);
        assert_string_equal(c->name, x->name);
        assert_string_equal(c->model_file, x->model_file);
        assert_int_equal(c->obs_dim, x->obs_dim);
        assert_int_equal(c->act_dim, x->act_dim);
        assert_int_equal(c->max_episode_steps, 1000);
        assert_int_equal(c->n_terms, x->n_terms);
        for (int t = 0; t < x->n_terms; t++)
            assert_string_equal(c->term_names[t], x->terms[t]);

        env *e = test_env_new(x->name);
        mjenv *me = mjenv_of(e);
        assert_int_equal(me->m->nq, x->nq);
        assert_int_equal(me->m->nv, x->nv);
        assert_int_equal(me->m->nu, x->act_dim);
        assert_close(me->m->opt.timestep, x->timestep, 1e-12);
        assert_int_equal(me->spec.frame_skip, x->frame_skip);
        assert_close(me->dt, x->timestep * x->frame_skip, 1e-12);

        /* [-1, 1] maps linearly onto ctrlrange; env_step clips first */
        const float levels[] = {1.0f, -1.0f, 0.0f, 0.5f, 7.0f, -3.0f};
        const double want[] = {1.0, -1.0, 0.0, 0.5, 1.0, -1.0};
        float obs[MAX_DIM], a[MAX_DIM];
        env_step_result res;
        for (int l = 0; l < 6; l++) {
            env_reset(e, obs);
            for (int i = 0; i < x->act_dim; i++)
                a[i] = levels[l];
            env_step(e, a, obs, &res);
            for (int i = 0; i < x->act_dim; i++)
                assert_close(me->d->ctrl[i], want[l] * x->ctrl_hi, 1e-6);
        }
        env_destroy(&e);
    }
}

// ---- reward terms ----

/* Recompute the documented terms of one step from the simulator. */
static void expected_terms(const char *name, const mjenv *me, double x_before,
                           int terminated, double *t)
{
    double xv = (me->d->qpos[0] - x_before) / me->dt;
    double c2 = mjenv_ctrl_sq(me);
    if (!strcmp(name, "InvertedPendulum")) {
        t[0] = terminated ? 0.0 : 1.0;
    } else if (!strcmp(name, "InvertedDoublePendulum")) {
        int tip = mj_name2id(me->m, mjOBJ_SITE, "tip");
        const mjtNum *p = me->d->site_xpos + 3 * tip;
        double v1 = me->d->qvel[1], v2 = me->d->qvel[2];
        t[0] = terminated ? 0.0 : 10.0;
        t[1] = -(0.01 * p[0] * p[0] + (p[2] - 2.0) * (p[2] - 2.0));
        t[2] = -(1e-3 * v1 * v1 + 5e-3 * v2 * v2);
    } else if (!strcmp(name, "HalfCheetah")) {
        t[0] = xv;
        t[1] = -0.1 * c2;
    } else {
        t[0] = terminated ? 0.0 : 1.0;
        t[1] = xv;
        t[2] = -1e-3 * c2;
    }
}

static void test_reward_is_sum_of_terms(void **state)
{
    rng r;
    rng_init(&r, 5, RNG_STREAM_ACT);
    for (int k = 0; k < N_CASES; k++) {
        const expect *x = &cases[k];
        env *e = test_env_new(x->name);
        mjenv *me = mjenv_of(e);
        float obs[MAX_DIM], a[MAX_DIM];
        env_step_result res;
        int episodes = 0, steps = 0;
        env_seed(e, 1);
        env_reset(e, obs);
        while (steps < 300) {
            rng_uniform_fill(&r, a, (size_t)x->act_dim, -1.0f, 1.0f);
            double x_before = me->d->qpos[0];
            env_step(e, a, obs, &res);
            steps++;
            assert_false(res.diverged);

            double t[3];
            expected_terms(x->name, me, x_before, res.terminated, t);
            float sum = 0.0f;
            for (int i = 0; i < x->n_terms; i++) {
                assert_close(res.terms[i], t[i], 1e-5 * (1.0 + fabs(t[i])));
                sum += res.terms[i];
            }
            assert_close(res.reward, sum, 1e-5 * (1.0 + fabsf(sum)));
            for (int i = 0; i < x->act_dim; i++)
                assert_close(me->d->ctrl[i], a[i] * x->ctrl_hi, 1e-6);
            if (res.terminated || res.truncated) {
                episodes++;
                env_reset(e, obs);
            }
        }
        env_destroy(&e);
    }
}

/* Observations are the documented slices of the state. */
static void test_observation_layout(void **state)
{
    for (int k = 0; k < N_CASES; k++) {
        const expect *x = &cases[k];
        env *e = test_env_new(x->name);
        mjenv *me = mjenv_of(e);
        float obs[MAX_DIM], a[MAX_DIM] = {0};
        env_step_result res;
        env_seed(e, 2);
        env_reset(e, obs);
        for (int step = 0; step < 3; step++) {
            if (step)
                env_step(e, a, obs, &res);
            const mjtNum *q = me->d->qpos, *v = me->d->qvel;
            float want[MAX_DIM];
            if (!strcmp(x->name, "InvertedPendulum")) {
                double s[4] = {q[0], q[1], v[0], v[1]};
                for (int i = 0; i < 4; i++)
                    want[i] = (float)s[i];
            } else if (!strcmp(x->name, "InvertedDoublePendulum")) {
                double s[9] = {q[0],
                               sin(q[1]),
                               sin(q[2]),
                               cos(q[1]),
                               cos(q[2]),
                               fmax(-10, fmin(10, v[0])),
                               fmax(-10, fmin(10, v[1])),
                               fmax(-10, fmin(10, v[2])),
                               fmax(-10, fmin(10, me->d->qfrc_constraint[0]))};
                for (int i = 0; i < 9; i++)
                    want[i] = (float)s[i];
            } else {
                /* qpos without rootx, then qvel (clipped to 10 except for
                 * HalfCheetah) */
                double lim = strcmp(x->name, "HalfCheetah") ? 10.0 : INFINITY;
                int i = 0;
                for (int j = 1; j < x->nq; j++)
                    want[i++] = (float)q[j];
                for (int j = 0; j < x->nv; j++)
                    want[i++] = (float)fmax(-lim, fmin(lim, v[j]));
                assert_int_equal(i, x->obs_dim);
            }
            for (int i = 0; i < x->obs_dim; i++)
                assert_close(obs[i], want[i], 1e-6);
        }
        env_destroy(&e);
    }
}

static void test_velocity_clipping(void **state)
{
    env *e = test_env_new("Hopper");
    const mjModel *m = mjenv_of(e)->m;
    double qvel[6] = {0, 0, 0, 0, 0, 0};
    qvel[0] = 50.0; /* fast but healthy (< 100) */
    set_state(e, m->qpos0, qvel);
    float a[3] = {0}, obs[11];
    env_step_result res;
    env_step(e, a, obs, &res);
    assert_false(res.terminated);
    assert_true(obs[5] == 10.0f); /* qvel[0] observed clipped */
    assert_true(mjenv_of(e)->d->qvel[0] > 40.0);
    env_destroy(&e);
}

// ---- termination ----

static void test_inverted_pendulum_termination(void **state)
{
    env *e = test_env_new("InvertedPendulum");
    double v[2] = {0, 0};
    env_step_result res;
    const double angles[] = {0.0, 0.15, -0.15, 0.25, -0.25, 0.5};
    for (int i = 0; i < 6; i++) {
        double q[2] = {0.0, angles[i]};
        set_state(e, q, v);
        zero_step(e, &res);
        int fell = fabs(angles[i]) > 0.2;
        assert_int_equal(res.terminated, fell);
        assert_true(res.reward == (fell ? 0.0f : 1.0f));
        assert_false(res.diverged);
    }
    env_destroy(&e);
}

static void test_inverted_double_pendulum_termination(void **state)
{
    env *e = test_env_new("InvertedDoublePendulum");
    double v[3] = {0, 0, 0};
    env_step_result res;

    double up[3] = {0, 0, 0};
    set_state(e, up, v);
    zero_step(e, &res);
    assert_false(res.terminated);
    assert_true(res.terms[0] == 10.0f);
    /* upright tip at z 1.2: distance = -(1.2 - 2)^2 */
    assert_close(res.terms[1], -0.64, 1e-3);
    assert_true(res.reward < 9.37f && res.reward > 9.3f);

    /* lower pole horizontal: tip at z ~ 0 */
    double flat[3] = {0, M_PI / 2, 0};
    set_state(e, flat, v);
    zero_step(e, &res);
    assert_true(res.terminated);
    assert_true(res.terms[0] == 0.0f);

    /* tip just above and below z = 1: bend the upper pole */
    double bent_ok[3] = {0, 0, acos(0.45 / 0.6)}; /* tip z 1.05 */
    set_state(e, bent_ok, v);
    zero_step(e, &res);
    assert_false(res.terminated);
    double bent_low[3] = {0, 0, acos(0.3 / 0.6)}; /* tip z 0.9 */
    set_state(e, bent_low, v);
    zero_step(e, &res);
    assert_true(res.terminated);
    env_destroy(&e);
}

/* One row of a termination table: the initial pose at rest with qpos[i]
 * (0 <= i < nq) or qvel[i - nq] (i >= nq) set to val; i < 0 changes nothing. */
typedef struct term_case {
    int i;
    double val;
    int terminated;
} term_case;

/* For each row: one zero step from its state; terminated as the row says,
 * the survive term 1 or 0 with it, never diverged. */
static void check_termination(env *e, const term_case *rows, size_t n)
{
    const mjModel *m = mjenv_of(e)->m;
    double q[MAX_DIM], v[MAX_DIM];
    env_step_result res;
    assert_true(m->nq <= MAX_DIM && m->nv <= MAX_DIM);
    for (size_t c = 0; c < n; c++) {
        memcpy(q, m->qpos0, sizeof(double) * (size_t)m->nq);
        memset(v, 0, sizeof(double) * (size_t)m->nv);
        if (rows[c].i >= m->nq)
            v[rows[c].i - m->nq] = rows[c].val;
        else if (rows[c].i >= 0)
            q[rows[c].i] = rows[c].val;
        set_state(e, q, v);
        zero_step(e, &res);
        assert_int_equal(res.terminated, rows[c].terminated);
        assert_true(res.terms[0] == (rows[c].terminated ? 0.0f : 1.0f));
        assert_false(res.diverged);
    }
}

static void test_hopper_termination(void **state)
{
    env *e = test_env_new("Hopper");
    const term_case cases_[] = {
        {-1, 0.0, 0},  /* the initial pose is healthy */
        {1, 0.3, 1},   /* lying down: z out of range */
        {1, 0.65, 1},  /* z just below 0.7 */
        {2, 0.3, 1},   /* torso tilted forward */
        {2, -0.3, 1},  /* torso tilted backward */
        {2, 0.1, 0},   /* tilt inside (-0.2, 0.2) */
        {6, 150.0, 1}, /* rootx velocity out of (-100, 100) */
        {6, -150.0, 1}, {6, 60.0, 0},
    };
    check_termination(e, cases_, sizeof cases_ / sizeof cases_[0]);
    env_destroy(&e);
}

static void test_walker2d_termination(void **state)
{
    env *e = test_env_new("Walker2d");
    const term_case cases_[] = {
        {1, 1.25, 0}, /* initial height */
        {1, 0.5, 1},  /* lying down */
        {1, 0.75, 1}, /* z just below 0.8 */
        {1, 2.5, 1},  /* above 2.0 */
        {2, 0.9, 0},  /* tilt inside (-1, 1) */
        {2, 1.2, 1},  {2, -1.2, 1},
    };
    check_termination(e, cases_, sizeof cases_ / sizeof cases_[0]);
    env_destroy(&e);
}

static void test_half_cheetah_never_terminates(void **state)
{
    env *e = test_env_new("HalfCheetah");
    const mjModel *m = mjenv_of(e)->m;
    double q[9], v[9] = {0};
    memcpy(q, m->qpos0, sizeof q);
    q[2] = M_PI; /* upside down */
    set_state(e, q, v);
    float a[6], obs[17];
    env_step_result res;
    rng r;
    rng_init(&r, 8, RNG_STREAM_ACT);
    for (int t = 1; t <= 1000 - 1; t++) {
        rng_uniform_fill(&r, a, 6, -1.0f, 1.0f);
        env_step(e, a, obs, &res);
        assert_false(res.terminated || res.truncated || res.diverged);
    }
    env_step(e, a, obs, &res);
    assert_false(res.terminated);
    assert_true(res.truncated); /* 1000-step time limit */
    env_destroy(&e);
}

// ---- reset ----

static double draw(rng *r, mjenv_noise_kind kind, double scale)
{
    return kind == MJENV_NOISE_UNIFORM ? scale * (2.0 * rng_uniform(r) - 1.0)
                                       : scale * rng_normal(r);
}

static void test_reset_noise(void **state)
{
    enum { RESETS = 300 };
    for (int k = 0; k < N_CASES; k++) {
        const expect *x = &cases[k];
        env *e = test_env_new(x->name);
        mjenv *me = mjenv_of(e);
        float obs[MAX_DIM];

        /* exact draws: the qpos vector first, then qvel, from the env's
         * stream (seed, RNG_STREAM_ENV) */
        env_seed(e, 77);
        rng r;
        rng_init(&r, 77, RNG_STREAM_ENV);
        for (int rep = 0; rep < 3; rep++) {
            env_reset(e, obs);
            for (int i = 0; i < x->nq; i++)
                assert_close(me->d->qpos[i],
                             me->m->qpos0[i] +
                                 draw(&r, x->qpos_kind, x->qpos_scale),
                             1e-12);
            for (int i = 0; i < x->nv; i++)
                assert_close(me->d->qvel[i],
                             draw(&r, x->qvel_kind, x->qvel_scale), 1e-12);
            assert_true(me->d->time == 0.0);
            for (int i = 0; i < x->act_dim; i++)
                assert_true(me->d->ctrl[i] == 0.0);
        }

        /* ranges and moments over many resets */
        double s1[2] = {0}, s2[2] = {0};
        long cnt[2] = {0};
        for (int rep = 0; rep < RESETS; rep++) {
            env_reset(e, obs);
            for (int part = 0; part < 2; part++) {
                int n = part ? x->nv : x->nq;
                mjenv_noise_kind kind = part ? x->qvel_kind : x->qpos_kind;
                double scale = part ? x->qvel_scale : x->qpos_scale;
                for (int i = 0; i < n; i++) {
                    double d = part ? me->d->qvel[i]
                                    : me->d->qpos[i] - me->m->qpos0[i];
                    if (kind == MJENV_NOISE_UNIFORM)
                        assert_true(d >= -scale - 1e-12 && d <= scale + 1e-12);
                    s1[part] += d;
                    s2[part] += d * d;
                    cnt[part]++;
                }
            }
        }
        for (int part = 0; part < 2; part++) {
            mjenv_noise_kind kind = part ? x->qvel_kind : x->qpos_kind;
            double scale = part ? x->qvel_scale : x->qpos_scale;
            double sd = kind == MJENV_NOISE_UNIFORM ? scale / sqrt(3.0) : scale;
            double mean = s1[part] / cnt[part];
            double std = sqrt(s2[part] / cnt[part] - mean * mean);
            assert_true(fabs(mean) < 5.0 * sd / sqrt((double)cnt[part]));
            assert_true(fabs(std / sd - 1.0) < 0.1);
        }
        env_destroy(&e);
    }
}

// ---- determinism ----

/* obs and reward of 150 steps under a fixed action sequence. */
static void rollout(const expect *x, uint64_t seed, float *traj)
{
    env *e = test_env_new(x->name);
    float obs[MAX_DIM], a[MAX_DIM];
    env_step_result res;
    env_seed(e, seed);
    env_reset(e, obs);
    int w = x->obs_dim + 1;
    for (int t = 0; t < 150; t++) {
        for (int i = 0; i < x->act_dim; i++)
            a[i] = sinf(0.1f * (float)t + (float)i);
        env_step(e, a, obs, &res);
        memcpy(traj + w * t, obs, (size_t)x->obs_dim * sizeof(float));
        traj[w * t + x->obs_dim] = res.reward;
        if (res.terminated)
            env_reset(e, obs);
    }
    env_destroy(&e);
}

static void test_seed_determinism(void **state)
{
    static float a[150 * (MAX_DIM + 1)], b[150 * (MAX_DIM + 1)],
        c[150 * (MAX_DIM + 1)];
    for (int k = 0; k < N_CASES; k++) {
        size_t bytes = 150 * (size_t)(cases[k].obs_dim + 1) * sizeof(float);
        rollout(&cases[k], 11, a);
        rollout(&cases[k], 11, b);
        rollout(&cases[k], 12, c);
        assert_memory_equal(a, b, bytes);
        assert_true(memcmp(a, c, bytes) != 0);
    }
}

// ---- physics ----

static void test_half_cheetah_pushed_forward(void **state)
{
    env *e = test_env_new("HalfCheetah");
    mjenv *me = mjenv_of(e);
    double q[9], v[9] = {0};
    memcpy(q, me->m->qpos0, sizeof q);
    v[0] = 3.0; /* shove the torso forward */
    set_state(e, q, v);
    env_step_result res;
    double fwd = 0.0;
    for (int t = 0; t < 10; t++) {
        zero_step(e, &res);
        fwd += res.terms[0];
    }
    assert_true(me->d->qpos[0] > 0.2);
    assert_true(fwd > 0.0);
    /* and gravity holds it on the floor, not through it */
    assert_true(me->d->qpos[1] > -0.5);
    env_destroy(&e);
}

static void test_inverted_pendulum_push(void **state)
{
    env *e = test_env_new("InvertedPendulum");
    mjenv *me = mjenv_of(e);
    double q[2] = {0, 0}, v[2] = {0, 0};
    float obs[4];
    env_step_result res;
    const float push[2] = {1.0f, -1.0f};
    for (int s = 0; s < 2; s++) {
        set_state(e, q, v);
        for (int t = 0; t < 5; t++)
            env_step(e, &push[s], obs, &res);
        /* cart moves with the force; the pole lags behind (tips back) */
        assert_true(push[s] * me->d->qpos[0] > 0.05);
        assert_true(push[s] * me->d->qpos[1] < 0.0);
        assert_true(obs[0] == (float)me->d->qpos[0]);
    }
    env_destroy(&e);
}

/* Unactuated, the upright bodies fall over and the episode terminates. */
static void test_passive_fall(void **state)
{
    const char *names[] = {"InvertedPendulum", "InvertedDoublePendulum",
                           "Hopper", "Walker2d"};
    for (int k = 0; k < 4; k++) {
        env *e = test_env_new(names[k]);
        float obs[MAX_DIM], a[MAX_DIM] = {0};
        env_step_result res = {0};
        env_seed(e, 3);
        env_reset(e, obs);
        int t = 0;
        while (t < 1000 && !res.terminated) {
            env_step(e, a, obs, &res);
            t++;
        }
        assert_true(res.terminated);
        assert_false(res.diverged);
        env_destroy(&e);
    }
}

static void test_hopper_lands_on_floor(void **state)
{
    env *e = test_env_new("Hopper");
    mjenv *me = mjenv_of(e);
    float obs[11];
    env_step_result res;
    env_seed(e, 4);
    env_reset(e, obs);
    for (int t = 0; t < 25; t++) /* 0.2 s: lands, does not sink */
        zero_step(e, &res);
    assert_true(me->d->ncon > 0);
    assert_true(me->d->qpos[1] > 1.15 && me->d->qpos[1] < 1.26);
    env_destroy(&e);
}

// ---- divergence and errors ----

static void test_simulator_warning_diverges(void **state)
{
    for (int k = 0; k < N_CASES; k++) {
        env *e = test_env_new(cases[k].name);
        mjenv *me = mjenv_of(e);
        double q[MAX_DIM], v[MAX_DIM] = {0};
        memcpy(q, me->m->qpos0, sizeof(double) * (size_t)me->m->nq);
        v[0] = 1e12; /* beyond MuJoCo's 1e10 check */
        set_state(e, q, v);
        env_step_result res;
        float a[MAX_DIM] = {0}, obs[MAX_DIM];
        env_step(e, a, obs, &res);
        assert_true(res.diverged);
        assert_true(res.terminated);
        assert_true(res.reward == 0.0f);
        for (int i = 0; i < cases[k].obs_dim; i++)
            assert_true(isfinite(obs[i]));
        /* a reset starts a clean episode */
        env_reset(e, obs);
        env_step(e, a, obs, &res);
        assert_false(res.diverged);
        env_destroy(&e);
    }
}

static void test_missing_model_dir(void **state)
{
    for (int k = 0; k < N_CASES; k++) {
        char err[512] = "", want[256];
        env *e =
            env_new(cases[k].name, "/nonexistent/hpo-models", err, sizeof err);
        assert_null(e);
        snprintf(want, sizeof want, "/nonexistent/hpo-models/%s",
                 cases[k].model_file);
        if (!strstr(err, want))
            fail_msg("error does not name %s: %s", want, err);
    }
}

static void test_broken_and_wrong_models(void **state)
{
    char dir[] = "/tmp/hpo-mjtest-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[512];
    mjenv me;
    const mjenv_spec spec = {.frame_skip = 4, .nq = 6, .nv = 6, .nu = 3};

    /* missing file through mjenv directly */
    snprintf(path, sizeof path, "%s/none.xml", dir);
    assert_int_equal(mjenv_init(&me, path, &spec, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_null(me.m);

    /* broken XML, through env_new */
    snprintf(path, sizeof path, "%s/hopper.xml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("<mujoco><worldbody><body></mujoco>\n", f);
    fclose(f);
    env *e = env_new("Hopper", dir, err, sizeof err);
    assert_null(e);
    assert_non_null(strstr(err, path));

    /* a valid model with the wrong sizes */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(
        "<mujoco><worldbody><body><joint type=\"slide\"/><geom size=\"0.1\"/></body></worldbody></mujoco>\n",
        f);
    fclose(f);
    e = env_new("Hopper", dir, err, sizeof err);
    assert_null(e);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "nq=1"));

    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dims_and_bounds),
        cmocka_unit_test(test_reward_is_sum_of_terms),
        cmocka_unit_test(test_observation_layout),
        cmocka_unit_test(test_velocity_clipping),
        cmocka_unit_test(test_inverted_pendulum_termination),
        cmocka_unit_test(test_inverted_double_pendulum_termination),
        cmocka_unit_test(test_hopper_termination),
        cmocka_unit_test(test_walker2d_termination),
        cmocka_unit_test(test_half_cheetah_never_terminates),
        cmocka_unit_test(test_reset_noise),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_half_cheetah_pushed_forward),
        cmocka_unit_test(test_inverted_pendulum_push),
        cmocka_unit_test(test_passive_fall),
        cmocka_unit_test(test_hopper_lands_on_floor),
        cmocka_unit_test(test_simulator_warning_diverges),
        cmocka_unit_test(test_missing_model_dir),
        cmocka_unit_test(test_broken_and_wrong_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
