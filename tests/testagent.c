#include "testagent.h"

#include "config.h"

sac *test_pendulum_agent(uint64_t seed)
{
    hpo_config c;
    config_defaults(&c);
    config_preset(&c, "Pendulum");
    c.pi_hidden = c.q_hidden = 16;
    c.seed = seed;
    return sac_new(&c, 3, 1, 1, 0);
}
