/*
 * envbench.c - hpo-envbench: what each environment returns under a random
 * policy, and what the environment code costs on top of the physics.
 *
 * For every registered environment (or --env NAME) it prints one line:
 *   env=HalfCheetah obs=17 act=6 random_return=... random_std=... ep_len=...
 *   published_random=... steps_per_s=... bare_steps_per_s=... overhead_pct=...
 *
 * Random policy: --episodes episodes of uniform actions in [-1, 1] (action
 * stream RNG_STREAM_ACT, reset noise env_seed, both from --seed); mean and
 * sample standard deviation of the episode return, mean episode length. The
 * published figure is D4RL's random reference (docs/envs.md 4.3), "-" where
 * none is published.
 *
 * Throughput: --steps env_step calls of a seeded random-action run, episode
 * by episode (resets not timed); after each episode a bare loop on a second
 * mjData of the same mjModel replays it from a copy of the env's post-reset
 * mjData: the same ctrl, then mj_step x frame_skip and mj_rnePostConstraint,
 * exactly the physics mjenv_step runs. Both must end in the same state
 * (checked), so the difference is the environment code alone. Times are this
 * thread's CPU time, best per episode over --reps rounds, summed.
 * overhead_pct = 100 (t_env - t_bare) / t_bare. Pendulum has no model: its
 * bare figures are "-".
 *
 * Exit status: 0 done, 1 an environment failed to load, 2 bad command line.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mujoco/mujoco.h>

#include "config.h"
#include "env.h"
#include "log.h"
#include "mjenv.h"
#include "rng.h"
#include "util.h"

#define PROG "hpo-envbench"
#define MAX_EP_STEPS 100000 /* guard for a class without a time limit */

/* All registered names, in registry order (env_known_names parses into it). */
#define MAX_ENVS 32

typedef struct options {
    char env[ENV_NAME_MAX]; /* "": every registered environment */
    int episodes;
    long steps;
    int reps;
    uint64_t seed;
    int markdown;
} options;

/* D4RL REF_MIN_SCORE (v2 envs), envs.md 4.3. */
static const struct {
    const char *name;
    double ret;
} published[] = {
    {"HalfCheetah", -280.18},
    {"Walker2d", 1.63},
    {"Hopper", -20.27},
    {"Ant", -325.6},
};

typedef struct result {
    char name[ENV_NAME_MAX];
    int obs_dim, act_dim;
    double ret_mean, ret_std, len_mean;
    int diverged;         /* random episodes that ended diverged */
    double published;     /* NAN: none */
    double sps, bare_sps; /* bare_sps NAN: no model */
    int mismatch;         /* bare replay ended elsewhere */
} result;

static double published_return(const char *name)
{
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++)
        if (!strcmp(published[i].name, name))
            return published[i].ret;
    return NAN;
}

static int is_mujoco(const env *e)
{
    return e->cls->model_file != NULL;
}

// ---- random-policy returns ----

static void random_returns(env *e, const options *o, result *res)
{
    const env_class *c = e->cls;
    float *obs = xalloc_floats((size_t)c->obs_dim);
    float *act = xalloc_floats((size_t)c->act_dim);
    rng r;
    env_step_result sr;
    double sum = 0.0, sum_sq = 0.0, len = 0.0;

    env_seed(e, o->seed);
    rng_init(&r, o->seed, RNG_STREAM_ACT);
    for (int ep = 0; ep < o->episodes; ep++) {
        double ret = 0.0;
        int t = 0;
        env_reset(e, obs);
        do {
            rng_uniform_fill(&r, act, (size_t)c->act_dim, -1.0f, 1.0f);
            env_step(e, act, obs, &sr);
            ret += sr.reward;
            t++;
        } while (!sr.terminated && !sr.truncated && t < MAX_EP_STEPS);
        res->diverged += sr.diverged;
        sum += ret;
        sum_sq += ret * ret;
        len += t;
    }
    int n = o->episodes;
    res->ret_mean = sum / n;
    res->ret_std =
        n > 1 ? sqrt(HPO_MAX(0.0, (sum_sq - sum * sum / n) / (n - 1))) : 0.0;
    res->len_mean = len / n;
    free(obs);
    free(act);
}

// ---- throughput ----

/* CPU time of this thread (s): time other processes take is not counted. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The timed run: its actions, their ctrl, per-episode best times. */
typedef struct bench {
    long steps;
    int act_dim, nu;
    float *act;     /* (steps, act_dim) */
    mjtNum *ctrl;   /* (steps, nu) what mjenv_step writes for act */
    double *t_env;  /* (n_ep) best seconds in env_step per episode */
    double *t_bare; /* (n_ep) best seconds in the bare loop */
    long n_ep, cap_ep;
} bench;

/* The ctrl mjenv_step writes: clip, then map onto ctrlrange, in its order. */
static void map_ctrl(const mjModel *m, const float *act, int act_dim,
                     long steps, mjtNum *ctrl)
{
    for (long s = 0; s < steps; s++)
        for (int k = 0; k < m->nu; k++) {
            float a = act[s * act_dim + k];
            a = a < -1.0f ? -1.0f : a > 1.0f ? 1.0f : a;
            const mjtNum *r = m->actuator_ctrlrange + 2 * k;
            ctrl[s * m->nu + k] =
                r[0] + 0.5 * ((mjtNum)a + 1.0) * (r[1] - r[0]);
        }
}

/* Keep the smaller time for episode ep (a new slot on the first round). */
static void keep_best(bench *b, long ep, double te, double tb)
{
    if (ep == b->n_ep) {
        if (b->n_ep == b->cap_ep) {
            b->cap_ep = b->cap_ep ? 2 * b->cap_ep : 256;
            b->t_env = xrealloc(b->t_env, (size_t)b->cap_ep * sizeof(double));
            b->t_bare = xrealloc(b->t_bare, (size_t)b->cap_ep * sizeof(double));
        }
        b->t_env[ep] = te;
        b->t_bare[ep] = tb;
        b->n_ep++;
        return;
    }
    b->t_env[ep] = fmin(b->t_env[ep], te);
    b->t_bare[ep] = fmin(b->t_bare[ep], tb);
}

/*
 * One round: the seeded run through env_step, episode by episode; after each
 * episode (MuJoCo classes) the bare loop replays it on d, a copy of the env's
 * mjData taken after the reset. Resets are not timed. Returns 1 when every bare
 * replay ended in the env's state.
 */
static int bench_round(bench *b, env *e, uint64_t seed, mjData *d, float *obs)
{
    const mjModel *m = d ? mjenv_of(e)->m : NULL;
    int frame_skip = d ? mjenv_of(e)->spec.frame_skip : 0;
    env_step_result sr;
    int same = 1;
    long i = 0, ep = 0;

    env_seed(e, seed);
    while (i < b->steps) {
        env_reset(e, obs);
        long from = i;
        if (d) /* the whole state: warm start, normalised quaternions */
            mj_copyData(d, m, mjenv_of(e)->d);
        double t0 = cpu_s();
        do {
            env_step(e, b->act + i * b->act_dim, obs, &sr);
            i++;
        } while (!sr.terminated && !sr.truncated && i < b->steps);
        double te = cpu_s() - t0, tb = 0.0;
        if (d) {
            t0 = cpu_s();
            for (long s = from; s < i; s++) {
                mju_copy(d->ctrl, b->ctrl + s * b->nu, b->nu);
                for (int k = 0; k < frame_skip; k++)
                    mj_step(m, d);
                mj_rnePostConstraint(m, d);
            }
            tb = cpu_s() - t0;
            same &= !memcmp(d->qpos, mjenv_of(e)->d->qpos,
                            (size_t)m->nq * sizeof(mjtNum));
        }
        HPO_ASSERT(ep <= b->n_ep); /* every round runs the same episodes */
        keep_best(b, ep++, te, tb);
    }
    HPO_ASSERT(ep == b->n_ep);
    return same;
}

/*
 * Steps per second through env_step and through the bare loop: best time per
 * episode over o->reps rounds, summed (robust to other processes sharing the
 * cores, which slow whole rounds).
 */
static void throughput(env *e, const options *o, result *res)
{
    bench b = {.steps = o->steps, .act_dim = e->cls->act_dim};
    float *obs = xalloc_floats((size_t)e->cls->obs_dim);
    mjData *d = NULL;
    rng r;

    b.act = xalloc_floats((size_t)b.steps * (size_t)b.act_dim);
    rng_init(&r, o->seed, RNG_STREAM_ACT);
    rng_uniform_fill(&r, b.act, (size_t)b.steps * (size_t)b.act_dim, -1.0f,
                     1.0f);
    if (is_mujoco(e)) {
        const mjModel *m = mjenv_of(e)->m;
        b.nu = m->nu;
        b.ctrl = xmalloc((size_t)(b.steps * b.nu) * sizeof(mjtNum));
        map_ctrl(m, b.act, b.act_dim, b.steps, b.ctrl);
        d = mj_makeData(m);
        HPO_ASSERT(d);
    }
    for (int rep = 0; rep < o->reps; rep++)
        res->mismatch |= !bench_round(&b, e, o->seed, d, obs);

    double te = 0.0, tb = 0.0;
    for (long ep = 0; ep < b.n_ep; ep++) {
        te += b.t_env[ep];
        tb += b.t_bare[ep];
    }
    res->sps = (double)b.steps / te;
    res->bare_sps = d ? (double)b.steps / tb : NAN;

    if (d)
        mj_deleteData(d);
    free(b.act);
    free(b.ctrl);
    free(b.t_env);
    free(b.t_bare);
    free(obs);
}

// ---- output ----

static void fmt_num(char *buf, size_t len, const char *fmt, double x)
{
    if (isnan(x))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, fmt, x);
}

static void print_line(const result *r)
{
    char pub[32], bare[32], over[32];
    fmt_num(pub, sizeof pub, "%.2f", r->published);
    fmt_num(bare, sizeof bare, "%.0f", r->bare_sps);
    fmt_num(over, sizeof over, "%.1f", 100.0 * (r->bare_sps / r->sps - 1.0));
    printf(
        "env=%s obs=%d act=%d random_return=%.1f random_std=%.1f ep_len=%.1f published_random=%s steps_per_s=%.0f bare_steps_per_s=%s overhead_pct=%s\n",
        r->name, r->obs_dim, r->act_dim, r->ret_mean, r->ret_std, r->len_mean,
        pub, r->sps, bare, over);
    fflush(stdout);
}

static void print_markdown(const result *rs, int n)
{
    printf(
        "\n| env | obs | act | random return (mean ± sd) | episode length | published random (D4RL) | env steps/s | bare mj_step steps/s | overhead %% |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const result *r = &rs[i];
        char pub[32], bare[32], over[32];
        fmt_num(pub, sizeof pub, "%.2f", r->published);
        fmt_num(bare, sizeof bare, "%.0f", r->bare_sps);
        fmt_num(over, sizeof over, "%.1f",
                100.0 * (r->bare_sps / r->sps - 1.0));
        printf("| %s | %d | %d | %.1f ± %.1f | %.1f | %s | %.0f | %s | %s |\n",
               r->name, r->obs_dim, r->act_dim, r->ret_mean, r->ret_std,
               r->len_mean, pub, r->sps, bare, over);
    }
}

// ---- command line ----

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG
        " [--env NAME] [--episodes N] [--steps N] [--reps N] [--seed S] [--markdown]\n"
        "  --env NAME     one environment (default: every registered one)\n"
        "  --episodes N   random-policy episodes per environment (20)\n"
        "  --steps N      timed env steps per round (20000)\n"
        "  --reps N       timing rounds, best kept (3)\n"
        "  --seed S       seed of reset noise and actions (1)\n"
        "  --markdown     also print a Markdown table at the end\n"
        "Models are read from $HPO_MODEL_DIR when set.\n");
}

#define O(f) offsetof(options, f)
static const opt_spec own[] = {
    {"env", OPT_TEXT, O(env), ENV_NAME_MAX, 0, 0, NULL},
    {"episodes", OPT_INT, O(episodes), 0, 1, 100000, NULL},
    {"steps", OPT_LONG, O(steps), 0, 1, 100000000, NULL},
    {"reps", OPT_INT, O(reps), 0, 1, 100, NULL},
    {"seed", OPT_U64, O(seed), 0, 0, 0, "--seed needs a number, not '%s'"},
    {"markdown", OPT_FLAG, O(markdown), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};
#undef O

/* Returns 0, 1 after --help, or -1 after printing the error. */
static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.episodes = 20, .steps = 20000, .reps = 3, .seed = 1};
    config_args a;
    char err[512];
    int rc = config_args_table(&a, argc, argv, own, 0, 0, o, err, sizeof err);
    config_args_release(&a);
    if (rc < 0)
        fprintf(stderr, PROG ": %s\n", err);
    return rc;
}

/* Split env_known_names' "A, B, C" into names (each < ENV_NAME_MAX). */
static int known_names(char names[][ENV_NAME_MAX], int max)
{
    char buf[MAX_ENVS * (ENV_NAME_MAX + 2)];
    int n = 0;
    env_known_names(buf, sizeof buf);
    for (char *tok = strtok(buf, ", "); tok && n < max;
         tok = strtok(NULL, ", "))
        snprintf(names[n++], ENV_NAME_MAX, "%s", tok);
    return n;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    char names[MAX_ENVS][ENV_NAME_MAX];
    int n = 0;
    if (o.env[0]) {
        const env_class *c = env_find(o.env);
        if (!c) {
            char known[MAX_ENVS * (ENV_NAME_MAX + 2)];
            env_known_names(known, sizeof known);
            fprintf(stderr, PROG ": unknown environment '%s'; known: %s\n",
                    o.env, known);
            return 2;
        }
        snprintf(names[n++], ENV_NAME_MAX, "%s", c->name);
    } else {
        n = known_names(names, MAX_ENVS);
    }

    result rs[MAX_ENVS];
    int status = 0, done = 0;
    for (int i = 0; i < n; i++) {
        char err[512];
        env *e = env_new(names[i], NULL, err, sizeof err);
        if (!e) {
            fprintf(stderr, PROG ": %s\n", err);
            status = 1;
            continue;
        }
        result *r = &rs[done++];
        *r = (result){.obs_dim = e->cls->obs_dim, .act_dim = e->cls->act_dim};
        snprintf(r->name, sizeof r->name, "%s", e->cls->name);
        r->published = published_return(r->name);
        random_returns(e, &o, r);
        throughput(e, &o, r);
        print_line(r);
        if (r->diverged)
            log_warn("%s: %d of %d random episodes diverged", r->name,
                     r->diverged, o.episodes);
        if (r->mismatch)
            log_warn(
                "%s: the bare replay did not reach the env's final state; the timing compares different trajectories",
                r->name);
        env_destroy(&e);
    }
    if (o.markdown)
        print_markdown(rs, done);
    log_flush_counts();
    return status;
}
