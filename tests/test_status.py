#!/usr/bin/python3
"""test_status.py - the status reply against its schema in docs/status.md.

    test_status.py BUILD_DIR PART

  schema  a real hpo-learner (Pendulum, small networks), two actors and an
          --eval actor: its reply once every nullable figure has a value
          (updates done, an evaluation in, snapshot latencies measured, a
          checkpoint written) is valid under docs/status.md's JSON Schema,
          and so is its reply right after a restart with --resume
          (resumed_from set) and its error reply to a frame that is no
          StatusRequest; the schema refuses the same reply with a field
          dropped, an unknown field, a negative count or a string for a
          number (so a lax schema fails here); the schema and the field
          tables of docs/status.md name the same fields
  client  hpo-status against a fake learner (a REP socket answering
          hostile replies): not JSON, not an object, duplicate keys, deep
          nesting, a string of 100 kB, control bytes and wrong types are
          refused with exit 1 or printed with every field cut to its column
          and non-printable bytes as '?'; a reply past 1 MiB is cut at the
          socket (no answer, exit 1); hpo-status never crashes

Every process is killed on exit; every wait is bounded. Needs python3-zmq
and python3-jsonschema (deploy/setup).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import jsonschema
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FAILURES, check, fail, free_port,  # noqa: E402
                     sanitizer_check)

BUILD = sys.argv[1]
PART = sys.argv[2]
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(SRC, "docs", "status.md")
LEARNER = os.path.join(BUILD, "learner", "hpo-learner")
ACTOR = os.path.join(BUILD, "actor", "hpo-actor")
STATUS = os.path.join(BUILD, "tools", "hpo-status")
WORK = tempfile.mkdtemp(prefix="test_status.")
PROCS = []
SMALL = ["--env", "Pendulum", "--pi-hidden", "32", "--q-hidden", "32",
         "--batch", "32", "--learning-starts", "200", "--steps", "100000000",
         "--timeout-ms", "1500", "--heartbeat-ms", "200",
         "--publish-every", "50", "--checkpoint-every", "500",
         "--eval-every", "500"]














def hpo_status(port, *args, timeout_ms=2000):
    r = subprocess.run([STATUS, "127.0.0.1:%d" % port, "--timeout-ms",
                        str(timeout_ms)] + list(args),
                       capture_output=True, timeout=30)
    sanitizer_check("hpo-status " + " ".join(args),
                    r.stderr.decode("ascii", "replace"))
    return r


def status(port, timeout_ms=2000):
    r = hpo_status(port, "--json", timeout_ms=timeout_ms)
    return json.loads(r.stdout) if r.returncode == 0 else None


# ---- the schema and the tables of docs/status.md ----

def doc_schema():
    """The one ```json block of docs/status.md."""
    with open(DOC) as f:
        blocks = re.findall(r"^```json\n(.*?)^```", f.read(), re.S | re.M)
    if len(blocks) != 1:
        raise RuntimeError("%s: %d ```json blocks, one expected (the reply's "
                           "schema)" % (DOC, len(blocks)))
    schema = json.loads(blocks[0])
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def doc_tables():
    """Field names of the reply's two tables: (top level, actor rows)."""
    with open(DOC) as f:
        text = f.read()
    sec = text[text.index("## The reply"):text.index("### Schema")]
    tables, cur = [], None
    for line in sec.splitlines():
        if line.startswith("| field |"):
            cur = set()
            tables.append(cur)
        elif line.startswith("| `") and cur is not None:
            cur.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
        elif not line.startswith("|"):
            cur = None
    if len(tables) != 2:
        raise RuntimeError("%s: %d field tables under '## The reply', two "
                           "expected" % (DOC, len(tables)))
    return tables


def validator(schema, part):
    """A validator of one of the schema's $defs (reply, error)."""
    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"],
           "$ref": "#/$defs/" + part}
    return jsonschema.Draft202012Validator(sub)


def errors(v, doc):
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)
            for e in v.iter_errors(doc)]


# ---- processes ----

def learner(name, *args):
    """A learner answering status; returns (process, port)."""
    err = open(os.path.join(WORK, name + ".err"), "a")
    for _ in range(6):
        port = free_port()
        p = subprocess.Popen([LEARNER] + SMALL +
                             ["--port", str(port), "--bind", "127.0.0.1",
                              "--out", os.path.join(WORK, "run")] + list(args),
                             stdout=subprocess.DEVNULL, stderr=err)
        PROCS.append(p)
        for _ in range(50):
            if p.poll() is not None or status(port, 200) is not None:
                break
        if p.poll() is None:
            return p, port
    raise RuntimeError("cannot start a learner: see " + err.name)


def actor(port, actor_id, *args):
    err = open(os.path.join(WORK, "actor-%s.err" % actor_id), "w")
    p = subprocess.Popen([ACTOR, "--env", "Pendulum", "--learner",
                          "127.0.0.1:%d" % port, "--id", actor_id,
                          "--timeout-ms", "1500"] + list(args),
                         stdout=subprocess.DEVNULL, stderr=err)
    PROCS.append(p)
    return p


def wait_until(port, seconds, pred):
    deadline, r = time.time() + seconds, None
    while time.time() < deadline:
        r = status(port)
        if r is not None and pred(r):
            return r, True
        time.sleep(0.3)
    return r, False


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    rc = p.wait()
    with open(os.path.join(WORK, "schema.err")) as f:
        sanitizer_check("hpo-learner", f.read())
    return rc


# ---- parts ----

def full(r):
    """Every nullable figure has its value."""
    return (r["updates"] > 0 and r["eval"] is not None and
            r["last_checkpoint"] is not None and
            r["recent_return_mean"] is not None and
            len(r["actors"]) == 3 and
            all(a["snapshot_latency_ms"] is not None for a in r["actors"]))


def part_schema():
    schema = doc_schema()
    reply, error = validator(schema, "reply"), validator(schema, "error")
    top, rows = doc_tables()
    props = set(schema["$defs"]["reply"]["properties"])
    aprops = set(schema["$defs"]["actor"]["properties"])
    check(top == props, "docs/status.md: the reply's table and schema name "
          "the same fields", "table only %s, schema only %s" %
          (sorted(top - props), sorted(props - top)))
    check(rows == aprops, "docs/status.md: the actor table and schema name "
          "the same fields", "table only %s, schema only %s" %
          (sorted(rows - aprops), sorted(aprops - rows)))
    for d in ("reply", "actor"):
        req = set(schema["$defs"][d]["required"])
        p = set(schema["$defs"][d]["properties"])
        check(req == p, "schema: every %s field is required" % d,
              sorted(req ^ p))

    lp, port = learner("schema")
    actor(port, "a1")
    actor(port, "a2")
    actor(port, "ev", "--eval", "--episodes", "2")
    r, got = wait_until(port, 120, full)
    check(got, "a reply with every figure present within 120 s", r)
    if r is None:
        return
    errs = errors(reply, r)
    check(not errs, "the learner's reply is valid under docs/status.md's "
          "schema (%d actors, eval v%s)" % (len(r["actors"]),
                                           (r["eval"] or {}).get("param_version")),
          errs)

    # the budget, percent done and ETA, and the data actors apart from the
    # evaluation actor, in the reply and on hpo-status's progress line
    rb, got = wait_until(port, 30, lambda x: x["steps_per_s"] > 0 and
                         x["eta_s"] is not None)
    budget_ok = (got and rb["steps_budget"] == 100000000 and
                 abs(rb["eta_s"] - (1e8 - rb["env_steps"]) / rb["steps_per_s"])
                 <= 1e-6 * rb["eta_s"])
    check(budget_ok, "the reply names the budget and the ETA at the current "
          "rate", rb and (rb["steps_budget"], rb["eta_s"], rb["steps_per_s"]))
    ln = ""
    for _ in range(20):  # a moment with a rate (the window may be idle)
        ln = hpo_status(port, "--line").stdout.decode("utf-8", "replace")
        if "ETA -" not in ln:
            break
        time.sleep(0.5)
    check(re.search(r"^\d+ steps of 100000000 \([\d.]+%, ETA [\dhms]+\) .*"
                    r"\| 2 actors \+ 1 eval \|", ln) is not None,
          "hpo-status --line: budget, percent done, ETA, 2 actors + 1 eval",
          ln)

    # the schema is strict: each change below must be refused
    bad = {}
    d = json.loads(json.dumps(r)); del d["episodes"]; bad["a field dropped"] = d
    d = json.loads(json.dumps(r)); d["surprise"] = 1; bad["an unknown field"] = d
    d = json.loads(json.dumps(r)); d["updates"] = -1; bad["a negative count"] = d
    d = json.loads(json.dumps(r)); d["env_steps"] = "12"; bad["a string count"] = d
    d = json.loads(json.dumps(r)); d["actors"][0]["peer"] = 5
    bad["a bad peer"] = d
    d = json.loads(json.dumps(r)); d["actors"][0]["incarnation"] = "0" * 16
    bad["an actor's incarnation shown"] = d
    d = json.loads(json.dumps(r)); del d["actors"][0]["last_seen_s"]
    bad["an actor field dropped"] = d
    d = json.loads(json.dumps(r)); d["losses"]["q"] = "nan"
    bad["a string loss"] = d
    lax = [k for k, d in bad.items() if not errors(reply, d)]
    check(not lax, "the schema refuses a reply with %s" % ", ".join(bad), lax)

    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 3000)
    s.connect("tcp://127.0.0.1:%d" % (port + 2))
    s.send(b"not an hpo message")
    try:
        e = json.loads(s.recv())
    except zmq.Again:
        e = None
    s.close()
    ctx.destroy(linger=0)
    errs = ["no reply"] if e is None else errors(error, e)
    check(not errs, "the error reply %s is valid under the schema's error "
          "branch" % json.dumps(e), errs)

    rc = stop(lp)
    check(rc == 130, "the learner stops on SIGTERM (exit %d)" % rc)
    lp, port = learner("schema", "--resume")
    r, got = wait_until(port, 30, lambda r: r["resumed_from"] is not None)
    errs = errors(reply, r) if r else ["no reply"]
    check(got and not errs, "the reply after --resume (resumed_from %s) is "
          "valid under the schema" % (r or {}).get("resumed_from"), errs)
    stop(lp)


class Fake:
    """A REP socket answering every request with the next reply given."""

    def __init__(self, replies):
        self.ctx = zmq.Context()
        self.s = self.ctx.socket(zmq.REP)
        self.s.setsockopt(zmq.LINGER, 0)
        self.port = free_port()
        self.s.bind("tcp://127.0.0.1:%d" % (self.port + 2))
        self.replies = list(replies)
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        for rep in self.replies:
            if not self.s.poll(20000):
                return
            self.s.recv()
            self.s.send(rep)

    def close(self):
        self.t.join(25)
        self.s.close()
        self.ctx.destroy(linger=0)


def part_client():
    good = {"run_id": "r", "env": "Pendulum", "mode": "hpo", "uptime_s": 1.5,
            "env_steps": 10, "updates": 5, "actors": [], "eval": None,
            "losses": {"q": None, "pi": 1.0, "logp": 0.1}, "rejected": {}}
    esc = "\x1b[2J\x07\u00e9\u2028"
    hostile = dict(good, run_id="R" * 100000, env=esc, mode=["x"],
                   env_steps="12", updates={"a": 1}, eval=[1, 2],
                   losses="none", rejected={"\x1b]0;x\x07": 3, "k" * 500: 2},
                   actors=[{"id": esc * 10, "host": "h" * 1000, "role": 7,
                            "steps": None}] * 300 + [5, "s", None])
    cases = [
        ("not JSON", b"{\"run_id\": ", 1, None),
        ("not an object", b"[1, 2, 3]", 1, None),
        ("a duplicate key", b"{\"updates\": 1, \"updates\": 2}", 1, None),
        ("nesting 100000 deep", b"[" * 100000 + b"]" * 100000, 1, None),
        ("a raw control byte", b"{\"env\": \"a\x1bb\"}", 1, None),
        ("an escaped NUL", b"{\"env\": \"a\\u0000b\"}", 1, None),
        ("hostile types and lengths", json.dumps(hostile).encode(), 0,
         hostile),
        ("an error object", b"{\"error\": \"\\u001b[2Jboom\"}", 1, None),
    ]
    fake = Fake([c[1] for c in cases] * 3)
    for name, _, want, _ in cases:
        r = hpo_status(fake.port)
        out = r.stdout + r.stderr
        clean = all(b == 10 or 0x20 <= b < 0x7f for b in out)
        widest = max(len(x) for x in out.split(b"\n"))
        check(r.returncode == want and clean and widest <= 400,
              "table: %s: exit %d, printable output, lines <= %d bytes" %
              (name, r.returncode, widest),
              "exit %d, printable %s: %r" % (r.returncode, clean, out[:300]))
    for name, raw, want, _ in cases:
        r = hpo_status(fake.port, "--line")
        out = r.stdout + r.stderr
        clean = all(b == 10 or 0x20 <= b < 0x7f for b in out)
        check(r.returncode == want and clean,
              "--line: %s: exit %d, printable output" % (name, r.returncode),
              "exit %d: %r" % (r.returncode, out[:300]))
    for name, raw, want, _ in cases:
        r = hpo_status(fake.port, "--json")
        # --json prints a JSON object as it came (even an error object,
        # exit 0) and refuses anything else
        if want == 1 and raw.startswith(b"{\"error\""):
            want = 0
        same = r.returncode != 0 or r.stdout == raw + b"\n"
        check(r.returncode == want and same,
              "--json: %s: exit %d%s" % (name, r.returncode,
                                         ", the reply as sent" if want == 0
                                         else ""),
              "exit %d: %r" % (r.returncode, (r.stdout + r.stderr)[:300]))
    fake.close()

    # past the reply bound: cut at the socket, so no answer
    fake = Fake([b"{\"x\": \"" + b"a" * (1 << 20) + b"\"}"])
    r = hpo_status(fake.port, timeout_ms=1500)
    check(r.returncode == 1 and b"no answer" in r.stderr,
          "a reply past 1 MiB is cut at the socket: exit 1, no answer",
          r.stderr[:300])
    fake.close()


PARTS = {"schema": part_schema, "client": part_client}


def main():
    try:
        PARTS[PART]()
    except Exception as ex:   # a crash of the test is a failure, reported
        fail("%s raised %r" % (PART, ex))
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        if FAILURES:
            for n in sorted(os.listdir(WORK)):
                if n.endswith(".err"):
                    with open(os.path.join(WORK, n)) as f:
                        tail = f.read()[-600:]
                    print("--- %s:\n%s" % (n, tail), file=sys.stderr)
        shutil.rmtree(WORK, ignore_errors=True)
    if FAILURES:
        print("%d failure(s)" % len(FAILURES), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
