#include "mjenv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* Warnings that mean the physics of the step cannot be trusted. */
static const int diverge_warnings[] = {
    mjWARN_CONTACTFULL, mjWARN_CNSTRFULL, mjWARN_BADQPOS,
    mjWARN_BADQVEL,     mjWARN_BADQACC,   mjWARN_BADCTRL,
};
#define N_DIVERGE_WARNINGS                                                     \
    (int)(sizeof(diverge_warnings) / sizeof(diverge_warnings[0]))

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

/* MuJoCo's default prints and appends to MUJOCO_LOG.TXT in the cwd. */
static void on_mujoco_warning(const char *msg)
{
    log_warn_once("mujoco-warning", "MuJoCo: %s", msg);
}

/* MuJoCo's default calls exit(); a library aborts with the message. */
static void on_mujoco_error(const char *msg)
{
    hpo_panic(__FILE__, __LINE__, "MuJoCo error: %s", msg);
}

static void install_handlers(void)
{
    mju_user_warning = on_mujoco_warning;
    mju_user_error = on_mujoco_error;
}

static int check_model(const mjModel *m, const char *path,
                       const mjenv_spec *spec, char *err, size_t errlen)
{
    if (m->nq != spec->nq || m->nv != spec->nv || m->nu != spec->nu) {
        errf(err, errlen,
             "model %s: nq=%d nv=%d nu=%d, expected nq=%d nv=%d nu=%d", path,
             m->nq, m->nv, m->nu, spec->nq, spec->nv, spec->nu);
        return -1;
    }
    for (int i = 0; i < m->nu; i++) {
        const mjtNum *r = m->actuator_ctrlrange + 2 * i;
        if (!m->actuator_ctrllimited[i] || !(r[0] < r[1])) {
            errf(err, errlen, "model %s: actuator %d has no ctrlrange", path,
                 i);
            return -1;
        }
    }
    return 0;
}

int mjenv_init(mjenv *me, const char *path, const mjenv_spec *spec, char *err,
               size_t errlen)
{
    char xml_err[1000] = "";

    HPO_ASSERT(spec->frame_skip >= 1);
    memset(me, 0, sizeof(*me));
    pthread_once(&handlers_once, install_handlers);

    if (mj_version() != mjVERSION_HEADER) {
        errf(err, errlen, "MuJoCo library version %d, header version %d",
             mj_version(), mjVERSION_HEADER);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        errf(err, errlen, "cannot open model %s: %s", path, strerror(errno));
        return -1;
    }
    fclose(f);

    me->m = mj_loadXML(path, NULL, xml_err, (int)sizeof(xml_err));
    if (!me->m) {
        errf(err, errlen, "cannot load model %s: %s", path,
             xml_err[0] ? xml_err : "unknown error");
        return -1;
    }
    if (xml_err[0])
        log_warn("model %s: %s", path, xml_err);
    if (check_model(me->m, path, spec, err, errlen) < 0)
        goto out_free_model;
    me->d = mj_makeData(me->m);
    if (!me->d) {
        errf(err, errlen, "model %s: mj_makeData failed", path);
        goto out_free_model;
    }
    me->spec = *spec;
    me->dt = me->m->opt.timestep * spec->frame_skip;
    return 0;

out_free_model:
    mj_deleteModel(me->m);
    me->m = NULL;
    return -1;
}

void mjenv_release(mjenv *me)
{
    if (me->d)
        mj_deleteData(me->d);
    if (me->m)
        mj_deleteModel(me->m);
    memset(me, 0, sizeof(*me));
}

int mjenv_open(env *e, size_t state_size, const char *path,
               const mjenv_spec *spec, char *err, size_t errlen)
{
    HPO_ASSERT(state_size >= sizeof(mjenv));
    mjenv *me = xcalloc(1, state_size);
    if (mjenv_init(me, path, spec, err, errlen) != 0) {
        free(me);
        e->state = NULL;
        return -1;
    }
    e->state = me;
    return 0;
}

void mjenv_close(env *e)
{
    if (!e->state)
        return;
    mjenv_release(e->state);
    free(e->state);
    e->state = NULL;
}

mjenv *mjenv_of(env *e)
{
    return (mjenv *)e->state;
}

static mjtNum draw(rng *r, const mjenv_noise *n)
{
    switch (n->kind) {
    case MJENV_NOISE_UNIFORM:
        return n->scale * (2.0 * rng_uniform(r) - 1.0);
    case MJENV_NOISE_NORMAL:
        return n->scale * rng_normal(r);
    default:
        return 0.0;
    }
}

void mjenv_reset(mjenv *me, rng *r)
{
    const mjModel *m = me->m;
    mjData *d = me->d;

    mj_resetData(m, d);
    for (int i = 0; i < m->nq; i++)
        d->qpos[i] = m->qpos0[i] + draw(r, &me->spec.qpos_noise);
    for (int i = 0; i < m->nv; i++)
        d->qvel[i] = draw(r, &me->spec.qvel_noise);
    mj_forward(m, d);
}

void mjenv_set_state(mjenv *me, const mjtNum *qpos, const mjtNum *qvel)
{
    mju_copy(me->d->qpos, qpos, me->m->nq);
    mju_copy(me->d->qvel, qvel, me->m->nv);
    mj_forward(me->m, me->d);
}

int mjenv_step(mjenv *me, const float *action)
{
    const mjModel *m = me->m;
    mjData *d = me->d;

    for (int i = 0; i < m->nu; i++) {
        const mjtNum *r = m->actuator_ctrlrange + 2 * i;
        d->ctrl[i] = r[0] + 0.5 * ((mjtNum)action[i] + 1.0) * (r[1] - r[0]);
    }
    /* Cleared per step: MuJoCo only reports a warning whose count is 0, and
     * its internal reset on bad values clears and re-counts them anyway. */
    for (int i = 0; i < mjNWARNING; i++)
        d->warning[i].number = 0;
    for (int k = 0; k < me->spec.frame_skip; k++)
        mj_step(m, d);
    mj_rnePostConstraint(m, d);

    for (int i = 0; i < N_DIVERGE_WARNINGS; i++)
        if (d->warning[diverge_warnings[i]].number > 0)
            return 1;
    return 0;
}

int mjenv_step_x_vel(mjenv *me, const float *action, const mjtNum *x,
                     double *x_vel)
{
    double x_before = *x;
    int diverged = mjenv_step(me, action);
    *x_vel = (*x - x_before) / me->dt;
    return diverged;
}

void mjenv_finish_step(env_step_result *res, int n_terms, int terminated,
                       int diverged)
{
    HPO_ASSERT(n_terms >= 1 && n_terms <= ENV_MAX_TERMS);
    if (diverged) {
        res->diverged = 1;
        res->terminated = 1;
        res->reward = 0.0f;
        memset(res->terms, 0, sizeof(res->terms));
        return;
    }
    float reward = res->terms[0];
    for (int i = 1; i < n_terms; i++)
        reward += res->terms[i];
    res->reward = reward;
    res->terminated = terminated;
    res->diverged = 0;
}

int mjenv_in_range(const mjtNum *x, int n, double lo, double hi)
{
    for (int i = 0; i < n; i++)
        if (!(x[i] > lo && x[i] < hi))
            return 0;
    return 1;
}

double mjenv_ctrl_sq(const mjenv *me)
{
    double s = 0.0;
    for (int i = 0; i < me->m->nu; i++)
        s += me->d->ctrl[i] * me->d->ctrl[i];
    return s;
}

int mjenv_id(const mjenv *me, int type, const char *name, char *err,
             size_t errlen)
{
    int id = mj_name2id(me->m, type, name);
    if (id < 0)
        errf(err, errlen, "model has no %s named '%s'", mju_type2Str(type),
             name);
    return id;
}

const mjtNum *mjenv_xpos(const mjenv *me, int body)
{
    HPO_ASSERT(body >= 0 && body < me->m->nbody);
    return me->d->xpos + 3 * body;
}

const mjtNum *mjenv_site_xpos(const mjenv *me, int site)
{
    HPO_ASSERT(site >= 0 && site < me->m->nsite);
    return me->d->site_xpos + 3 * site;
}

const mjtNum *mjenv_cfrc_ext(const mjenv *me, int body)
{
    HPO_ASSERT(body >= 0 && body < me->m->nbody);
    return me->d->cfrc_ext + 6 * body;
}

float *mjenv_copy(float *out, const mjtNum *src, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (float)src[i];
    return out + n;
}

float *mjenv_copy_clip(float *out, const mjtNum *src, int n, double lo,
                       double hi)
{
    for (int i = 0; i < n; i++) {
        double x = src[i];
        out[i] = (float)(x < lo ? lo : x > hi ? hi : x);
    }
    return out + n;
}
