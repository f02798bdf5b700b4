/* testagent.h - a small agent for the unit tests (numeric core only). */
#ifndef HPO_TESTAGENT_H
#define HPO_TESTAGENT_H

#include <stdint.h>

#include "sac.h"

/* A Pendulum-sized acting agent (obs 3, act 1, 16-wide networks) whose
 * parameters come from seed; free with sac_destroy. */
sac *test_pendulum_agent(uint64_t seed);

/* Flip every byte of the state part p (each float or long changes). */
void test_perturb_part(const sac_part *p);

#endif
