/*
 * testutil.h - small helpers shared by the cmocka unit tests.
 *
 * Compiled into every unit test beside fdcheck.c (tests/meson.build). Each
 * helper fails the running test with a message instead of returning an error.
 */
#ifndef HPO_TESTUTIL_H
#define HPO_TESTUTIL_H

#include <stdint.h>

#include "env.h"

/*
 * A new environment by name from the default model directory. Fails the
 * test with env_new's message when it cannot be made; caller owns the result
 * (env_destroy).
 */
env *test_env_new(const char *name);

/* test_env_new, then env_seed(seed). */
env *test_env_seeded(const char *name, uint64_t seed);

#endif
