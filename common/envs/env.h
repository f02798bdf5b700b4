/*
 * env.h - the environment interface every trainer and actor steps through.
 *
 * An environment is a class (static description + four operations) and an
 * instance (class pointer + private state). Observations and actions are
 * float arrays owned by the caller, so a vectorized stepper can point them
 * straight into its contiguous (n_envs, dim) batches. Actions are always in
 * the agent's box [-1, 1]^act_dim; env_step clips them and each class maps
 * them onto its actuators. env_step also owns the time limit and the
 * divergence guard, so no class repeats them.
 *
 * Environments are the one place in hpo with several implementations, hence
 * the function pointers (style.md, rule 15).
 */
#ifndef HPO_ENV_H
#define HPO_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

#define ENV_MAX_TERMS 8 /* reward terms reported per step */
#define ENV_NAME_MAX 64

typedef struct env env;

// ---- step result ----
typedef struct env_step_result {
    float reward;   /* total reward of the step */
    int terminated; /* true terminal state: do not bootstrap */
    int truncated;  /* time limit reached: bootstrap */
    int diverged;   /* non-finite action/observation/simulator warning */
    float terms[ENV_MAX_TERMS]; /* reward terms (class->term_names), signed as
                                   summed */
} env_step_result;

// ---- class ----
typedef struct env_class {
    const char *name; /* canonical name, e.g. "HalfCheetah" */
    int obs_dim;
    int act_dim;
    int max_episode_steps; /* truncation; 0 = none */
    int n_terms;           /* <= ENV_MAX_TERMS */
    const char *term_names[ENV_MAX_TERMS];
    const char *model_file; /* MJCF file name, or NULL */

    /* Allocate e->state. model_path is the resolved MJCF path (NULL when the
     * class has no model). Returns 0, or -1 with a message in err. */
    int (*open)(env *e, const char *model_path, char *err, size_t errlen);
    /* Free e->state. */
    void (*close)(env *e);
    /* Reset to a new initial state drawing noise from r; write obs (obs_dim).
     */
    void (*reset)(env *e, rng *r, float *obs);
    /* Apply action (act_dim, already clipped to [-1, 1]); write obs, reward,
     * terminated, diverged and terms. Must not touch truncated. */
    void (*step)(env *e, const float *action, float *obs, env_step_result *res);
} env_class;

// ---- instance ----
struct env {
    const env_class *cls;
    void *state; /* owned by the class */
    rng rng;     /* reset noise stream */
    int t;       /* steps taken in the current episode */
};

/* Find a class by name: case-insensitive, with or without a "-v5" suffix.
 * Returns NULL when unknown. */
const env_class *env_find(const char *name);

/* Write the known names, comma separated, into buf. */
void env_known_names(char *buf, size_t len);

/*
 * Directory holding the MJCF models: $HPO_MODEL_DIR when set, else the
 * installed data directory, else the source tree's common/envs/models.
 * Returns a static string.
 */
const char *env_model_dir(void);

/*
 * Create an environment by name. model_dir overrides env_model_dir()
 * (Nullable). Returns NULL with a message in err naming the unknown name (and
 * the known ones) or the model file that is missing or broken.
 * Caller owns the result; free with env_destroy.
 */
env *env_new(const char *name, const char *model_dir, char *err, size_t errlen);

/* Free e and set *e to NULL. Accepts NULL and *e == NULL. */
void env_destroy(env **e);

/* Reseed the reset-noise stream. */
void env_seed(env *e, uint64_t seed);

/* Start a new episode; write the first observation. */
void env_reset(env *e, float *obs);

/*
 * Clip action to [-1, 1] and step. A non-finite action, observation or
 * reward, or a simulator warning, ends the episode (terminated and diverged
 * set, a warning logged once per class). Truncates at max_episode_steps.
 */
void env_step(env *e, const float *action, float *obs, env_step_result *res);

#endif
