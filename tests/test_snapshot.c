/* test_snapshot.c - a snapshot's blocks round-trip into another agent and a
 * block of the wrong size, or a missing one, is refused with nothing copied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot.h"
#include "testagent.h"

static void test_snapshot_blocks(void **state)
{
    (void)state;
    sac *a = test_pendulum_agent(1), *b = test_pendulum_agent(2);
    size_t n = a->nets.n_params;
    assert_memory_not_equal(a->params, b->params, n * sizeof(float));
    wire_msg m;
    wire_msg_init(&m, WIRE_SNAPSHOT);
    snapshot_set_blocks(&m.snapshot, a);
    assert_int_equal(m.snapshot.n_blocks, 2);
    assert_int_equal(snapshot_load_blocks(b, &m.snapshot), 0);
    const hpo_nets *t = &a->nets;
    assert_memory_equal(a->params + t->pol_off, b->params + t->pol_off,
                        t->pol_n * sizeof(float));
    assert_memory_equal(a->params + t->q_off, b->params + t->q_off,
                        t->q_n * sizeof(float));
    /* a block of the wrong size: refused, nothing copied */
    float keep = b->params[t->pol_off];
    m.snapshot.blocks[0].n--;
    a->params[t->pol_off] += 1.0f;
    assert_int_equal(snapshot_load_blocks(b, &m.snapshot), -1);
    assert_true(b->params[t->pol_off] == keep);
    m.snapshot.n_blocks = 1; /* critics missing */
    m.snapshot.blocks[0].n++;
    assert_int_equal(snapshot_load_blocks(b, &m.snapshot), -1);
    sac_destroy(&a);
    sac_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
