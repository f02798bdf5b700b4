/*
 * checkpoint.h - full training checkpoints: save, verify, restore, rotate.
 *
 * A checkpoint holds everything a run needs to continue: every network and
 * the critic targets, the Adam moments and step counts, log_alpha and its
 * moments, the caller's counters, the caller's RNG streams, the resolved
 * configuration, and optionally the replay buffer. The format
 * (docs/checkpoint.md) is a magic + version header and tagged sections, each
 * with its length and a CRC-32, closed by an END section. Files are written
 * to PATH.tmp, fsync'd and renamed, so a reader sees a whole file or none.
 *
 * Loading is two steps: ckpt_open verifies the whole file (magic, version,
 * every section's length and checksum, the configuration text against the
 * shapes) and fills a ckpt_info; ckpt_restore then checks the info against
 * the agent and copies the state in. Every refusal names the file and why.
 */
#ifndef HPO_CHECKPOINT_H
#define HPO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "replay.h"
#include "rng.h"
#include "sac.h"

#define CKPT_MAX_RNGS 16
#define CKPT_PATH_LEN 4096
#define CKPT_RECENT 20 /* recent episode returns a checkpoint holds */

/* The caller's progress counters and run state, saved and restored as they
 * are. A checkpoint written before the run state existed (a 24-byte CNTR
 * section) reads back with wall_s NAN and no recent returns. */
typedef struct ckpt_counters {
    int64_t env_steps; /* environment steps taken */
    int64_t updates;   /* agent updates made */
    int64_t episodes;  /* training episodes finished */
    double wall_s;     /* the run's wall-clock seconds; NAN: not saved */
    int n_recent;      /* recent[] entries held (0..CKPT_RECENT) */
    double recent[CKPT_RECENT]; /* the last training episode returns,
                                   oldest first */
} ckpt_counters;

/* What ckpt_open found in a verified file. */
typedef struct ckpt_info {
    char path[CKPT_PATH_LEN];
    hpo_config cfg; /* the run's resolved configuration */
    int obs_dim, act_dim;
    uint64_t n_params; /* floats per parameter block */
    ckpt_counters counters;
    int n_rngs;               /* RNG streams saved */
    int has_replay;           /* 1 when the replay buffer was saved */
    uint64_t replay_n;        /* rows saved */
    uint64_t replay_capacity; /* capacity of the ring that was saved */
    int64_t off[9];           /* payload offset per section (internal) */
    uint64_t len[9];          /* payload length per section (internal) */
} ckpt_info;

// ---- writing ----

/*
 * Write a checkpoint of s (which must have its update state), counters c,
 * the n_rngs (<= CKPT_MAX_RNGS) streams rngs[i] and, when rb is non-NULL,
 * the replay buffer's rows, to path (via path.tmp, fsync, rename, directory
 * fsync). Nullable: rb. Returns 0, or -1 with a message naming the file.
 */
int ckpt_save(const char *path, const sac *s, const ckpt_counters *c,
              rng *const *rngs, int n_rngs, replay *rb, char *err,
              size_t errlen);

/* dir/checkpoint-<updates>.ckpt into buf (CKPT_PATH_LEN). Returns 0, or -1
 * with a message when it is too long. */
int ckpt_path(char *buf, const char *dir, int64_t updates, char *err,
              size_t errlen);

/*
 * Delete the old checkpoint-<n>.ckpt files of dir: keep the `keep` (>= 1)
 * largest n that verify (ckpt_open; a file that does not holds no slot,
 * and is kept when it is newer than the oldest of them), checkpoint-
 * <protect>.ckpt (a last known good one; -1: none), and delete every other.
 * Returns the number deleted, or -1 with a message.
 */
int ckpt_prune(const char *dir, int keep, int64_t protect, char *err,
               size_t errlen);

/* Delete every checkpoint-<n>.ckpt.tmp in dir: writes a crash cut short
 * (ckpt_save renames only a whole file), each logged. Returns the number
 * deleted, or -1 with a message when dir cannot be read. */
int ckpt_remove_partial(const char *dir, char *err, size_t errlen);

/* The number of checkpoint-<n>.ckpt files in dir, valid or not; -1 when
 * dir cannot be read. */
int ckpt_count(const char *dir);

// ---- reading ----

/*
 * Verify path completely and fill info: magic, version, every section's
 * presence, order, length and CRC-32, nothing after the end section, the
 * configuration text parsed and consistent with the shapes, every f32 value
 * of the NETS, ADAM and OPTS sections finite (the message names the section,
 * the part and the element of the first that is not). Reads the file
 * once (streaming, fixed memory). Returns 0, or -1 with "PATH: reason" in err.
 */
int ckpt_open(const char *path, ckpt_info *info, char *err, size_t errlen);

/*
 * Check that info describes an agent of s's kind: environment, mode,
 * dimensions and every network size. Returns 0, or -1 with "PATH: reason"
 * naming both values.
 */
int ckpt_check(const ckpt_info *info, const sac *s, char *err, size_t errlen);

/*
 * Copy a verified checkpoint into s (ckpt_check first): parameters,
 * targets, Adam moments and step counts, log_alpha and its moments,
 * s->updates; c receives the counters (Nullable); rngs[i] (n_rngs must equal
 * info->n_rngs) receive the streams; rb, when non-NULL and the file holds
 * the replay, receives its rows (replay_restore), *replay_exact (Nullable)
 * its return, else -1. Returns 0, or -1 with a message; s may be partly
 * written only when the file changed since ckpt_open.
 */
int ckpt_restore(const ckpt_info *info, sac *s, ckpt_counters *c,
                 rng *const *rngs, int n_rngs, replay *rb, int *replay_exact,
                 char *err, size_t errlen);

/* Copy only the parameters, targets and log_alpha (an agent made without
 * update state, e.g. for evaluation). Returns 0, or -1 with a message. */
int ckpt_restore_weights(const ckpt_info *info, sac *s, char *err,
                         size_t errlen);

// ---- weights files ----
/* A weights file (docs/weights.md) holds a checkpoint's network block (the
 * NETS section's params and target, written by the same code) behind its own
 * header with log_alpha: enough to act, not to resume. */

/*
 * Save s's parameters (every network and the critic targets) and log_alpha
 * to path in the weights format (temporary file, fsync, rename, directory
 * fsync). Returns 0, or -1 with a message in err.
 */
int ckpt_weights_save(const char *path, const sac *s, char *err, size_t errlen);

/* Load a weights file into s, checking magic, version, every dimension,
 * length and checksum, and that every value is finite. Returns 0, or -1 with a
 * message naming the file and the mismatch; s is unchanged on failure. */
int ckpt_weights_load(const char *path, sac *s, char *err, size_t errlen);

/*
 * The observation of one row of the replay buffer saved in a verified
 * checkpoint (ckpt_open), rows counted from the oldest transition held (0)
 * to the newest (info->replay_n - 1), whether or not the ring had wrapped.
 * obs receives info->obs_dim floats. Returns 0, or -1 with "PATH: reason"
 * when the file holds no replay buffer, row is out of range (the message
 * gives the valid range) or the file changed since it was verified.
 */
int ckpt_read_replay_obs(const ckpt_info *info, uint64_t row, float *obs,
                         char *err, size_t errlen);

/*
 * Find the newest valid checkpoint-<n>.ckpt in dir (largest n first),
 * falling back past files that fail ckpt_open or, when want is non-NULL,
 * ckpt_check against want, logging a warning with the reason for each.
 * Nullable: want. Returns 0 with info filled, or -1 with a message when no
 * valid checkpoint is there.
 */
int ckpt_find_latest(const char *dir, const sac *want, ckpt_info *info,
                     char *err, size_t errlen);

/* What kind of hpo file path is, by its magic: a checkpoint
 * (CKPT_FILE_CHECKPOINT) or a weights file (CKPT_FILE_WEIGHTS). Returns the
 * kind, or -1 with a message (unreadable, too short, or neither). */
enum { CKPT_FILE_CHECKPOINT = 1, CKPT_FILE_WEIGHTS = 2 };
int ckpt_file_kind(const char *path, char *err, size_t errlen);

#endif
