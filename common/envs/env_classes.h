/*
 * env_classes.h - private to env.c and the class files: one declaration per
 * environment class. Each class lives in common/<name>.c and is listed in the
 * registry table at the top of env.c. Not part of the public interface;
 * everything else finds classes by name through env_find().
 */
#ifndef HPO_ENV_CLASSES_H
#define HPO_ENV_CLASSES_H

#include "env.h"

extern const env_class
    env_pendulum; /* common/envs/pendulum.c, Gym Pendulum-v1 */
/* Gymnasium v5 MuJoCo classes, common/envs/env_<name>.c, models/<name>.xml */
extern const env_class env_inverted_pendulum; /* InvertedPendulum */
extern const env_class
    env_inverted_double_pendulum;        /* InvertedDoublePendulum */
extern const env_class env_half_cheetah; /* HalfCheetah */
extern const env_class env_hopper;       /* Hopper */
extern const env_class env_walker2d;     /* Walker2d */
extern const env_class env_ant; /* common/envs/env_ant.c, Gymnasium Ant-v5 */
extern const env_class
    env_humanoid; /* common/envs/env_humanoid.c, Gymnasium Humanoid-v5 */

#endif
