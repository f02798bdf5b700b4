#include "testagent.h"

#include "config.h"

void test_perturb_part(const sac_part *p)
{
    unsigned char *q = p->p;
    size_t bytes = p->n * (p->kind == SAC_F32 ? 4 : 8);
    for (size_t j = 0; j < bytes; j++)
        q[j] ^= 0x5a;
}

sac *test_pendulum_agent(uint64_t seed)
{
    hpo_config c;
    config_defaults(&c);
    config_preset(&c, "Pendulum");
    c.pi_hidden = c.q_hidden = 16;
    c.seed = seed;
    return sac_new(&c, 3, 1, 1, 0);
}
