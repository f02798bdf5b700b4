/*
 * config.h - the resolved configuration of a run: presets and overrides.
 *
 * Every hyper-parameter lives in one struct. Defaults come from
 * algorithm.md (Tables 3, 4, 6); config_preset applies an environment's
 * row; config_set overrides any field by name ("alpha", "std-exp", ...), so
 * each program exposes every field as a --name VALUE flag through the same
 * table, and config_write prints the whole table as "name = value" lines.
 */
#ifndef HPO_CONFIG_H
#define HPO_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    MODE_HPO = 0,
    MODE_BASELINE1,
    MODE_BASELINE2,
    MODE_BASELINE3,
    MODE_SAC,
} hpo_mode;

/* The gradient the policy loss passes through clip(aK, -1, 1). */
typedef enum {
    CLIP_GRAD_ZERO = 0, /* the clip's own: zero outside the box */
    CLIP_GRAD_STRAIGHT, /* straight-through: dL/dclip(aK) to aK unchanged */
} clip_grad_kind;

/* The entropy the temperature tuner compares with H_target. */
typedef enum {
    ALPHA_TARGET_BASE = 0, /* -log pi(a0|s), the base action's */
    ALPHA_TARGET_HD,       /* aK's, counting the leapfrog's momentum noise
                              (sac.h: sac_tuner_logp) */
} alpha_target_kind;

/* The update's matrix products (nn.h: nn_set_bf16). */
typedef enum {
    PRECISION_FP32 = 0,
    PRECISION_BF16, /* operands rounded to bf16, sums in fp32 */
} precision_kind;

typedef struct hpo_config {
    char env[64]; /* environment name */
    int mode;     /* hpo_mode */
    /* algorithm */
    float alpha;            /* entropy temperature (initial when auto) */
    int auto_alpha;         /* 1: tune log_alpha toward target_entropy */
    float target_entropy;   /* 0 means -act_dim */
    int alpha_target;       /* alpha_target_kind: the tuner's entropy */
    float std_tr;           /* momentum std inside the losses */
    float std_exp;          /* momentum std when acting */
    float eps;              /* leapfrog step size */
    int K;                  /* leapfrog steps */
    int temper;             /* hd_temper (hd.h): 0 formula (17), 1 cool */
    int pi_layers;          /* policy hidden layers (l) */
    int pi_hidden;          /* policy hidden width */
    int q_layers, q_hidden; /* critic hidden layers and width */
    int h_hidden;           /* T_h / sigma_h hidden width (h) */
    int h_use_state;        /* T_h / sigma_h see s */
    int hd_target;          /* 1: Hamiltonian critic target; 0: base actions */
    int clip_grad;          /* clip_grad_kind: the policy loss's clip */
    int eval_hd;            /* 1: evaluation runs the leapfrog; 0: tanh(mu) */
    int precision;          /* precision_kind: the update's products */
    int batch;
    long buffer; /* replay capacity (transitions) */
    float gamma, tau, lr;
    long learning_starts; /* uniform random actions before this many steps */
    /* run */
    long steps; /* environment steps */
    uint64_t seed;
    int threads;     /* BLAS threads */
    long eval_every; /* env steps between evaluations; 0: never */
    int eval_episodes;
} hpo_config;

/* The defaults: HalfCheetah's preset, mode hpo. */
void config_defaults(hpo_config *c);

/* Apply env's preset row (Tables 3-4) and set c->env. Unknown environments
 * keep HalfCheetah's row. */
void config_preset(hpo_config *c, const char *env);

/* Set field name (dashes or underscores) from text. Returns 0, or -1 with a
 * message in err naming the field or the bad value. */
int config_set(hpo_config *c, const char *name, const char *value, char *err,
               size_t errlen);

/* 1 when name is a config field. */
int config_has(const char *name);

/* Check every setting's declared range, then the relations between
 * settings. Returns 0, or -1 with a message naming the setting, its range
 * and the value. */
int config_validate(const hpo_config *c, char *err, size_t errlen);

/* Write "name = value" for every field, in declaration order. */
void config_write(const hpo_config *c, FILE *f);

/* Print "--name VALUE   help" lines for usage text. */
void config_usage(FILE *f);

/* 1 when mode reads the setting name (e.g. mode sac reads no HD setting;
 * baseline3 explores without HD, so not std-exp). name must be a setting. */
int config_mode_reads(int mode, const char *name);

/* One setting as the table declares it, for programs that describe the
 * settings (hpo-train --describe-settings renders these as JSON). */
typedef struct config_setting {
    const char *name, *type, *help; /* type: int, float, uint64, text,
                                       mode, bool, choice */
    const char *const *choices;     /* choice: its names, NULL-terminated */
    int ranged;                     /* min (and max when finite) apply */
    double min, max;
    int min_open;    /* min itself is out of range */
    int agent;       /* actors need it (it travels) */
    unsigned modes;  /* bit m: mode m reads it */
    char value[128]; /* c's value, as config_write spells it */
} config_setting;

/* Settings in the table, and the i-th (0 <= i < count) with c's value. */
int config_settings_count(void);
void config_setting_get(int i, const hpo_config *c, config_setting *out);

// ---- config text ----

/* Bytes of a config text at most (a checkpoint's CONF, a run's config). */
#define CONFIG_TEXT_MAX 65536

/* Parse "name = value" lines (config_write's output) of text (len bytes,
 * not NUL-terminated) into c, starting from config_defaults; empty lines
 * are skipped, and with dims 1 the lines a run's config file ends with
 * (obs_dim, act_dim; hpo-learner's run_id, replay_ratio, publish_every,
 * batch_max). Returns 0, or -1 with a message naming the line. */
int config_read_text(hpo_config *c, const char *text, size_t len, int dims,
                     char *err, size_t errlen);

/* config_read_text of the file at path (a run directory's config, at most
 * CONFIG_TEXT_MAX bytes). Returns 0, or -1 with a message naming the file. */
int config_read_file(hpo_config *c, const char *path, char *err, size_t errlen);

// ---- agent settings on the wire ----

/* Bytes that hold every agent setting's "name = value\n" line, with NUL. */
#define CONFIG_AGENT_TEXT_MAX 1024

/* The settings an actor needs to build and run the policy, as "name =
 * value\n" lines (config_write's spelling, exact for floats) in buf (cap >=
 * CONFIG_AGENT_TEXT_MAX). Returns the length. The text is canonical: two
 * configs with equal agent settings give equal texts. */
size_t config_agent_text(const hpo_config *c, char *buf, size_t cap);

/* Set c's agent settings from text (untrusted: from the wire). Every agent
 * setting must appear exactly once, each in its declared range; any other
 * line is refused. Returns 0, or -1 with the reason in err; c may then hold
 * some of the settings. */
int config_agent_parse(hpo_config *c, const char *text, char *err,
                       size_t errlen);

// ---- command line ----

/*
 * A program's command line, checked and split: every "--name VALUE" or
 * "--name=VALUE" as a pair, in command-line order, and the boolean flags
 * given. A name is the program's option (its options table, looked up first)
 * or a config field; hpo-train and hpo-learner share these rules.
 */
#define CONFIG_ARGS_MAX_POS 4

typedef struct config_args {
    int n;                      /* pairs */
    const char **names;         /* (n) without "--"; options and settings */
    const char **values;        /* (n) never empty */
    const char *env;            /* the last --env's value; NULL: none */
    unsigned flags;             /* bit i: the program's flags[i] was given */
    const char *const *options; /* the program's table (not owned) */
    char **copies;              /* (argc) owned name copies of --name=VALUE */
    int argc;
    const char *pos[CONFIG_ARGS_MAX_POS]; /* arguments without "--" */
    int n_pos;
    const char **own, **own_flags; /* config_args_table's name lists (owned) */
} config_args;

/* A program option of config_args_table's table. */
typedef enum opt_kind {
    OPT_FLAG,   /* int set to 1 when "--name" is given (no value) */
    OPT_INT,    /* int in [lo, hi] */
    OPT_LONG,   /* long in [lo, hi] */
    OPT_DOUBLE, /* double in [lo, hi] */
    OPT_U64,    /* uint64_t, any decimal */
    OPT_TEXT,   /* char[size], 1..size-1 characters */
} opt_kind;

typedef struct opt_spec {
    const char *name; /* without "--"; NULL ends the table */
    opt_kind kind;
    size_t offset;   /* of the field in the options struct */
    size_t size;     /* OPT_TEXT: the field's bytes */
    double lo, hi;   /* OPT_INT, OPT_LONG, OPT_DOUBLE: range */
    const char *msg; /* printf format of a bad value's message,
                        one %s (the value); NULL: "--NAME needs
                        LO..HI, not 'VALUE'" */
} opt_spec;

/*
 * Check and split argv[1..argc-1]. options and flags are NULL-terminated
 * lists of the program's own names without "--" (Nullable): options take a
 * value, flags (at most 32) stand alone as "--name". Returns 0, 1 when
 * --help or -h was given (the program prints its usage), or -1 with the
 * message in err: "unexpected argument 'x'", "--x needs a value", "unknown
 * flag --x", "empty value for --x". The pairs point into argv and a's
 * copies: call config_args_release(a) after, whatever the return.
 */
int config_args_parse(config_args *a, int argc, char **argv,
                      const char *const *options, const char *const *flags,
                      char *err, size_t errlen);

/*
 * config_args_parse for a program described by a table: spec (ended by a
 * NULL name) lists its options, each stored into opts at its offset after
 * the parse (in command-line order: the last one given wins), and its flags.
 * settings 1 also accepts every config field (resolve them with
 * config_args_resolve); 0 refuses them as unknown flags. Up to max_pos
 * arguments without "--" are kept in a->pos. Returns 0, 1 after --help, or
 * -1 with the message (config_args_parse's, or spec's msg for a bad value,
 * or "--NAME too long: 'VALUE'"). Call config_args_release(a) after.
 */
int config_args_table(config_args *a, int argc, char **argv,
                      const opt_spec *spec, int settings, int max_pos,
                      void *opts, char *err, size_t errlen);

/*
 * An option whose value is optional, made one spelling for
 * config_args_table: in argv (argc entries, argv[0] kept), "--name" followed
 * by a value (values NULL: any token not starting with '-'; else one of the
 * NULL-ended list) and "--name=VALUE" stay as they are; a bare "--name" is
 * replaced by bare_token (NULL: kept) and followed by bare_value (NULL:
 * nothing). Returns a new array of argv's strings and those two (the caller
 * frees the array alone), its count in *n_out.
 */
char **config_args_optional(int argc, char **argv, const char *name,
                            const char *const *values, const char *bare_token,
                            const char *bare_value, int *n_out);

/*
 * hpo-train's and hpo-learner's shared spellings made one for
 * config_args_table: --resume DIR or a bare --resume (replaced by
 * "--resume-out": resume the --out directory), and --checkpoint-replay alone
 * (as "--checkpoint-replay 1") or with 0 or 1. Returns a new array as
 * config_args_optional does (the caller frees the array alone; *n_out its
 * count); the intermediate array is freed here.
 */
char **config_args_run_spellings(int argc, char **argv, int *n_out);

/* 1 when --name was given (a setting or an option with a value). */
int config_args_given(const config_args *a, const char *name);

/* The settings among a's pairs (every pair but the program's own options),
 * in command-line order: *names and *values (n + 1 entries, NULL-ended;
 * the caller frees both arrays, the strings stay a's). Returns n. */
int config_args_settings(const config_args *a, const char ***names,
                         const char ***values);

/*
 * Resolve c: base, or when base is NULL the defaults then the preset of the
 * last --env (wherever it stands); then every setting in command-line order
 * (--env and the program's options skipped); without base, mode sac then
 * takes SAC's 2 x 256 policy unless --pi-layers / --pi-hidden were given
 * (algorithm.md: a preset's l is SAC-HPO's); then config_validate. Returns
 * 0, or -1 with config_set's or config_validate's message in err. Nullable:
 * base.
 */
int config_args_resolve(const config_args *a, const hpo_config *base,
                        hpo_config *c, char *err, size_t errlen);

/* Free a's arrays and copies; a stays valid to release again. */
void config_args_release(config_args *a);

const char *mode_name(int mode);
int mode_parse(const char *s); /* -1 when unknown */

/* Hamiltonian kinds of a mode: exploration and policy optimization
 * (hd_kind values: 0 none, 1 proposed, 2 conventional). */
int mode_explore_hd(int mode);
int mode_optim_hd(int mode);

#endif
