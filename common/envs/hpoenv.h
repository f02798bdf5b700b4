/*
 * hpoenv.h - hpo's environments behind a plain C ABI, for other languages.
 *
 * libhpoenv.so wraps env.h (every environment hpo trains on, Pendulum and the
 * MuJoCo ones, with their time limits and divergence guard) in functions that
 * take and return only integers, floats, pointers to float arrays and C
 * strings, so Python's ctypes or any FFI can step exactly the environments
 * hpo-train steps: bench/torch_sac.py is the reference learner built on it.
 * The library exports only the hpoenv_* symbols declared here.
 *
 * An hpoenv is one environment instance; it is not thread-safe (one thread at
 * a time per instance). Observations and actions are caller-owned float
 * arrays of hpoenv_obs_dim / hpoenv_act_dim elements. Models are read as the
 * programs read them: $HPO_MODEL_DIR, else the installed share/hpo/models,
 * else the source tree's common/envs/models.
 *
 * No entry point crashes on a NULL handle or a NULL array (a foreign caller
 * can pass either): each returns its documented error value instead (NULL,
 * -1, or NaN for hpoenv_step) and touches nothing.
 */
#ifndef HPO_HPOENV_H
#define HPO_HPOENV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a declaration below changes meaning. */
#define HPOENV_ABI_VERSION 2

/* Bytes of a serialized reset-noise stream (hpoenv_rng_save). */
#define HPOENV_RNG_BYTES 48

typedef struct hpoenv hpoenv;

// ---- library ----

/* HPOENV_ABI_VERSION of the loaded library; a binding checks it first. */
int hpoenv_abi_version(void);

/*
 * The seed hpo-train gives its evaluation environment before every
 * evaluation (derived from the run seed), so that another trainer evaluates
 * from exactly the same initial states.
 */
uint64_t hpoenv_eval_seed(uint64_t run_seed);

// ---- lifecycle ----

/*
 * Create the environment called name (case-insensitive, with or without
 * "-v5"; e.g. "Pendulum", "HalfCheetah") with its reset-noise stream seeded
 * by seed, as hpo-train seeds its training environment with the run seed.
 * Returns NULL with a message in err (errlen bytes, NUL-terminated; Nullable)
 * naming the unknown name and the known ones, or the model file that is
 * missing or broken. Caller owns the result; free with hpoenv_destroy.
 */
hpoenv *hpoenv_new(const char *name, uint64_t seed, char *err, size_t errlen);

/* Free *e and set *e to NULL. Accepts NULL and *e == NULL. */
void hpoenv_destroy(hpoenv **e);

// ---- description ----

/* Canonical name, e.g. "HalfCheetah". Owned by the library. NULL when e is
 * NULL. */
const char *hpoenv_name(const hpoenv *e);

/* Observation length; -1 when e is NULL. */
int hpoenv_obs_dim(const hpoenv *e);

/* Action length; -1 when e is NULL. */
int hpoenv_act_dim(const hpoenv *e);

/* Steps after which an episode is truncated (1000 for the MuJoCo tasks,
 * 200 for Pendulum); 0 means no limit; -1 when e is NULL. */
int hpoenv_max_episode_steps(const hpoenv *e);

// ---- episodes ----

/* Reseed the reset-noise stream (the same as creating with this seed).
 * Returns 0, or -1 when e is NULL. */
int hpoenv_seed(hpoenv *e, uint64_t seed);

/* Start a new episode; write the first observation into obs (obs_dim).
 * Returns 0, or -1 when e or obs is NULL (nothing is written). */
int hpoenv_reset(hpoenv *e, float *obs);

/*
 * Step with action (act_dim; clipped to [-1, 1]); write the next
 * observation into obs (obs_dim) and return the reward. *terminated is 1 on
 * a true terminal state (no bootstrap; also when the simulation diverged),
 * *truncated is 1 when the environment's time limit ends the episode
 * (bootstrap). After either, call hpoenv_reset before stepping again.
 */
float hpoenv_step(hpoenv *e, const float *action, float *obs, int *terminated,
                  int *truncated);

/* Steps taken in the current episode (0 right after a reset); -1 when e is
 * NULL. */
int hpoenv_episode_steps(const hpoenv *e);

// ---- reset-noise stream (for checkpoints) ----

/* Write the reset-noise stream's state into buf (HPOENV_RNG_BYTES, little
 * endian). Returns HPOENV_RNG_BYTES, or -1 when e or buf is NULL or len is
 * smaller. */
int hpoenv_rng_save(const hpoenv *e, void *buf, size_t len);

/* Restore a state written by hpoenv_rng_save. Returns 0, or -1 when e or buf
 * is NULL or len is not HPOENV_RNG_BYTES (the stream is left unchanged). */
int hpoenv_rng_load(hpoenv *e, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
