#include "env.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "env_classes.h"
#include "log.h"
#include "util.h"

#define ENV_ACT_MAX 64 /* env_step clips into a stack buffer of this size */
#define ENV_PATH_MAX 4096

/*
 * The registry: every environment class hpo knows, in the order
 * env_known_names() lists them. To add one, define
 * `const env_class env_<name>` in common/<name>.c, declare it in
 * env_classes.h, and append `&env_<name>` here.
 */
static const env_class *const registry[] = {
    &env_pendulum,
    &env_inverted_pendulum,
    &env_inverted_double_pendulum,
    &env_half_cheetah,
    &env_hopper,
    &env_walker2d,
    &env_ant,
    &env_humanoid,
};
#define N_CLASSES (sizeof registry / sizeof registry[0])

/*
 * What env_new allocates: the public struct plus the last observation handed
 * out, which env_step returns when an action is non-finite and the class step
 * is skipped. env is the first member, so an env * converts back.
 */
typedef struct env_box {
    env e;
    float last_obs[]; /* (obs_dim) */
} env_box;

static env_box *box_of(env *e)
{
    return (env_box *)e;
}

// ---- lookup ----

const env_class *env_find(const char *name)
{
    if (!name)
        return NULL;
    size_t n = strlen(name);
    if (n >= 3 && strcasecmp(name + n - 3, "-v5") == 0)
        n -= 3;
    for (size_t i = 0; i < N_CLASSES; i++) {
        const char *cname = registry[i]->name;
        if (strlen(cname) == n && strncasecmp(cname, name, n) == 0)
            return registry[i];
    }
    return NULL;
}

void env_known_names(char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_CLASSES && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         registry[i]->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *env_model_dir(void)
{
    const char *dir = getenv("HPO_MODEL_DIR");
    if (dir && dir[0])
        return dir;
    if (is_dir(HPO_MODEL_DIR_INSTALL))
        return HPO_MODEL_DIR_INSTALL;
    return HPO_MODEL_DIR_SOURCE;
}

// ---- lifecycle ----

static void check_class(const env_class *c)
{
    HPO_ASSERT(c->name && strlen(c->name) < ENV_NAME_MAX);
    HPO_ASSERT(c->obs_dim > 0);
    HPO_ASSERT(c->act_dim > 0 && c->act_dim <= ENV_ACT_MAX);
    HPO_ASSERT(c->n_terms >= 0 && c->n_terms <= ENV_MAX_TERMS);
    HPO_ASSERT(c->max_episode_steps >= 0);
    HPO_ASSERT(c->open && c->close && c->reset && c->step);
}

/* Resolve dir/file into path and check it can be opened for reading. */
static int resolve_model(const env_class *c, const char *dir, char *path,
                         size_t pathlen, char *err, size_t errlen)
{
    int w = snprintf(path, pathlen, "%s/%s", dir, c->model_file);
    if (w < 0 || (size_t)w >= pathlen) {
        errf(err, errlen, "model path for %s is longer than %zu bytes: %s/%s",
             c->name, pathlen - 1, dir, c->model_file);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        errf(
            err, errlen,
            "cannot read model file %s for %s: %s (set HPO_MODEL_DIR to the directory holding the MJCF models)",
            path, c->name, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

env *env_new(const char *name, const char *model_dir, char *err, size_t errlen)
{
    const env_class *c = env_find(name);
    if (!c) {
        char known[512];
        env_known_names(known, sizeof known);
        errf(err, errlen, "unknown environment '%.*s'; known: %s", ENV_NAME_MAX,
             name ? name : "(null)", known);
        return NULL;
    }
    check_class(c);

    char path[ENV_PATH_MAX];
    const char *model_path = NULL;
    if (c->model_file) {
        if (resolve_model(c, model_dir ? model_dir : env_model_dir(), path,
                          sizeof path, err, errlen) != 0)
            return NULL;
        model_path = path;
    }

    env_box *b = xcalloc(1, sizeof *b + (size_t)c->obs_dim * sizeof(float));
    b->e.cls = c;
    rng_init(&b->e.rng, 0, RNG_STREAM_ENV);
    /* A failing open frees whatever it allocated; close is not called. */
    if (c->open(&b->e, model_path, err, errlen) != 0) {
        free(b);
        return NULL;
    }
    return &b->e;
}

void env_destroy(env **e)
{
    if (!e || !*e)
        return;
    (*e)->cls->close(*e);
    free(box_of(*e));
    *e = NULL;
}

void env_seed(env *e, uint64_t seed)
{
    rng_init(&e->rng, seed, RNG_STREAM_ENV);
}

// ---- episode ----

void env_reset(env *e, float *obs)
{
    e->t = 0;
    e->cls->reset(e, &e->rng, obs);
    memcpy(box_of(e)->last_obs, obs, (size_t)e->cls->obs_dim * sizeof(float));
}

/* Warn once per class (later divergences are counted by the log module). */
static void warn_diverged(const env *e, const char *what)
{
    char key[ENV_NAME_MAX + 16];
    snprintf(key, sizeof key, "env diverged %s", e->cls->name);
    log_warn_once(key, "%s diverged at step %d: %s; episode ended",
                  e->cls->name, e->t, what);
}

/* End the episode as diverged: reward and terms zeroed, no bootstrap. */
static void mark_diverged(env *e, env_step_result *res, const char *what)
{
    res->reward = 0.0f;
    memset(res->terms, 0, sizeof res->terms);
    res->terminated = 1;
    res->diverged = 1;
    warn_diverged(e, what);
}

void env_step(env *e, const float *action, float *obs, env_step_result *res)
{
    const env_class *c = e->cls;
    float *last = box_of(e)->last_obs;
    size_t obs_bytes = (size_t)c->obs_dim * sizeof(float);
    HPO_ASSERT(c->act_dim <= ENV_ACT_MAX);

    memset(res, 0, sizeof *res);
    e->t++;

    if (!floats_finite(action, (size_t)c->act_dim)) {
        memcpy(obs, last, obs_bytes);
        mark_diverged(e, res, "non-finite action");
        return;
    }
    float a[ENV_ACT_MAX];
    for (int i = 0; i < c->act_dim; i++)
        a[i] = action[i] < -1.0f ? -1.0f : action[i] > 1.0f ? 1.0f : action[i];

    c->step(e, a, obs, res);
    res->truncated = 0;

    if (!floats_finite(obs, (size_t)c->obs_dim) || !isfinite(res->reward) ||
        !floats_finite(res->terms, (size_t)c->n_terms)) {
        memset(obs, 0, obs_bytes);
        mark_diverged(e, res, "non-finite observation or reward");
    } else if (res->diverged) {
        res->terminated = 1;
        warn_diverged(e, "simulator warning");
    }
    memcpy(last, obs, obs_bytes);

    if (!res->terminated && c->max_episode_steps > 0 &&
        e->t >= c->max_episode_steps)
        res->truncated = 1;
}
