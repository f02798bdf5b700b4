#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

env *test_env_new(const char *name)
{
    char err[512] = "";
    env *e = env_new(name, NULL, err, sizeof err);
    if (!e)
        fail_msg("env_new(%s): %s", name, err);
    return e;
}

env *test_env_seeded(const char *name, uint64_t seed)
{
    env *e = test_env_new(name);
    env_seed(e, seed);
    return e;
}
