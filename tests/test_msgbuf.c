/* test_msgbuf.c - the encode buffer grows from a small message to a
 * snapshot and what it holds round-trips through wire_decode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgbuf.h"
#include "snapshot.h"
#include "testagent.h"

static void test_msgbuf(void **state)
{
    (void)state;
    msgbuf b = {0};
    wire_msg m, in;
    wire_msg_init(&m, WIRE_CREDIT);
    m.credit.transitions = 7;
    size_t small = msgbuf_encode(&b, &m);
    assert_true(small > 0 && b.cap >= small);
    sac *a = test_pendulum_agent(1);
    wire_msg_init(&m, WIRE_SNAPSHOT);
    m.snapshot.version = 3;
    m.snapshot.obs_dim = 3;
    m.snapshot.act_dim = 1;
    snprintf(m.snapshot.run_id, sizeof m.snapshot.run_id, "r");
    wire_agent_from_config(&m.snapshot.agent, &a->cfg, 0.2f);
    snapshot_set_blocks(&m.snapshot, a);
    size_t big = msgbuf_encode(&b, &m);
    assert_true(big > small && b.cap >= big);
    wire_msg_init(&in, WIRE_NONE);
    assert_int_equal(wire_decode(b.p, big, NULL, &in, NULL, 0), WIRE_OK);
    assert_int_equal(in.type, WIRE_SNAPSHOT);
    assert_int_equal(in.snapshot.version, 3);
    wire_msg_release(&in);
    msgbuf_release(&b);
    assert_null(b.p);
    sac_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgbuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
