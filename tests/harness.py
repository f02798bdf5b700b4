"""harness.py - what the Python integration tests share: result lines,
the failure list, a free block of ports, and the sanitizer check.

    from harness import ok, fail, check, free_port, sanitizer_check, FAILURES

ok and fail print one line each ("ok: ..." on stdout, "FAIL: ..." on
stderr); fail appends to FAILURES, which a test reads at its end.
"""

import random
import socket
import sys

FAILURES = []
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
             "runtime error:")


def ok(msg):
    print("ok: " + msg, flush=True)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    FAILURES.append(msg)


def check(cond, msg, detail="", limit=600):
    """ok(msg) when cond, else fail(msg) with detail (cut to limit chars)."""
    if cond:
        ok(msg)
    else:
        fail(msg + (": " + str(detail)[:limit] if detail != "" else ""))


def free_port():
    """A port p with p .. p+3 free on 127.0.0.1 (the learner binds three)."""
    for _ in range(50):
        p = random.randrange(20000, 60000, 4)
        try:
            for k in range(4):
                s = socket.socket()
                s.bind(("127.0.0.1", p + k))
                s.close()
            return p
        except OSError:
            continue
    raise RuntimeError("no free port in 20000..60000 after 50 tries")


def sanitizer_check(name, log):
    """A build with -Dsanitize=true reports in log: any report fails."""
    for mark in SANITIZER:
        if mark in log:
            i = log.index(mark)
            fail("%s: sanitizer report: %s" % (name, log[i:i + 300]))
