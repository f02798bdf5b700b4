#!/usr/bin/python3
"""test_hostile.py - hostile and faulty peers against a real hpo-learner.

    test_hostile.py BUILD_DIR PART

Each PART starts its own learner(s) on loopback (Pendulum, small networks),
sends what issue 10's "what each stage must refuse" lists, and checks the
learner's answer, its status figures and that it stays up:

  poison       rows with actions outside [-1, 1], |reward| or |obs| past the
               limits are dropped and counted by reason; with the limits
               raised, 3e38 rewards make every update non-finite: rolled
               back and counted, no snapshot published, and --max-rollbacks
               in a row stop the run (exit 1, the reason in the log)
  credits      a batch beyond the sender's credit is refused and counted,
               the replay buffer untouched; one within it is taken; a Hello
               with n_envs past 4096 is refused
  identity     a Hello reusing a live actor's id (another incarnation) is
               refused and the row kept; a known connection cannot rename
               itself into another's id; the same incarnation reconnecting
               takes its row back
  slots        256 handshake-only connections fill the table; a real actor
               still joins (the oldest is evicted, counted); with the table
               held by live peers a real actor is refused as busy, does not
               exit, and joins once room is made (retry with backoff)
  logs         600 bad messages from 600 peers: every one counted, the
               learner's log stays under 300 lines
  checkpoints  pruning keeps the newest valid checkpoint beside a corrupt one
               of a larger number; --resume over only corrupt checkpoints
               refuses to start and names them; a failed final checkpoint
               gives exit status 1
  evals        an EvalResult from a streaming actor, or of a version never
               published, and a Heartbeat of such a version are refused and
               counted; the per-actor metrics series stop at 64 actors
  metrics      --metrics-port binds 127.0.0.1 unless --metrics-bind says
               otherwise; 16 idle connections and a slowloris client from
               one address do not lock out a scrape from another
  params       a 16 MB subscription on the params socket is dropped at the
               socket (ZMQ_MAXMSGSIZE) and the loop never stalls; prefixed
               subscriptions are ignored and counted
  datasock     a data message past the largest valid one is cut at the socket
               and the learner answers status at once
  cli          --buffer past the available memory is refused with the
               figure; an unresolvable --learner host says so; --bind
               accepts a host name

Every learner is killed on exit; every wait is bounded.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import re
import tempfile
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FAILURES, check, fail, free_port, ok,  # noqa: E402
                     sanitizer_check)

BUILD = sys.argv[1]
PART = sys.argv[2]
LEARNER = os.path.join(BUILD, "learner", "hpo-learner")
ACTOR = os.path.join(BUILD, "actor", "hpo-actor")
STATUS = os.path.join(BUILD, "tools", "hpo-status")
WORK = tempfile.mkdtemp(prefix="test_hostile.")
PROCS = []
CTX = zmq.Context()
# The protocol version, from its one home (common/net/wire.h).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "common", "net", "wire.h")) as _f:
    WIRE_VERSION = int(re.search(r"#define WIRE_VERSION (\d+)u", _f.read()).group(1))
SMALL = ["--env", "Pendulum", "--pi-hidden", "32", "--q-hidden", "32",
         "--batch", "32", "--learning-starts", "200", "--steps", "100000000",
         "--timeout-ms", "1500", "--heartbeat-ms", "200",
         "--publish-every", "50"]
OD, AD = 3, 1








# ---- protobuf wire format (proto/hpo.proto), enough for the tests ----

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def f_varint(num, v):
    return varint(num << 3) + varint(v) if v else b""


def f_bytes(num, b):
    return varint((num << 3) | 2) + varint(len(b)) + b


def f_fixed64(num, v):
    return varint((num << 3) | 1) + struct.pack("<Q", v)


def f_floats(num, xs):
    return f_bytes(num, struct.pack("<%df" % len(xs), *xs)) if xs else b""


def envelope(body_num, body):
    return (varint(0x0D) + struct.pack("<I", 0x574F5048) + f_varint(2, WIRE_VERSION) +
            f_bytes(body_num, body))


def hello(actor_id, inc, n_envs=1, role=0, env="Pendulum", host="hostile"):
    return envelope(3, f_bytes(1, env.encode()) + f_varint(2, OD) +
                    f_varint(3, AD) + f_bytes(4, actor_id.encode()) +
                    f_fixed64(5, inc) + f_bytes(6, host.encode()) +
                    f_varint(7, 4242) + f_varint(8, role) +
                    f_varint(9, n_envs))


def batch(rows, inc=1, seq=1, version=0):
    """rows: list of (obs[3], act[1], reward, next_obs[3])."""
    n = len(rows)
    obs = [x for r in rows for x in r[0]]
    act = [x for r in rows for x in r[1]]
    rew = [r[2] for r in rows]
    nxt = [x for r in rows for x in r[3]]
    body = (f_varint(1, n) + f_varint(2, OD) + f_varint(3, AD) +
            f_varint(4, version) + f_fixed64(5, inc) + f_varint(6, seq) +
            f_floats(7, obs) + f_floats(8, act) + f_floats(9, rew) +
            f_floats(10, nxt) + f_bytes(11, bytes(n)) + f_bytes(12, bytes(n)))
    return envelope(6, body)


def good_rows(n):
    return [([0.1, 0.2, 0.3], [0.5], -1.0, [0.1, 0.2, 0.4])] * n


def heartbeat(inc, version, latency_us=0):
    return envelope(8, f_fixed64(1, inc) + f_varint(2, version) +
                    f_varint(3, 10) + f_varint(4, latency_us))


def eval_result(version, inc, returns):
    return envelope(10, f_varint(1, version) + f_fixed64(2, inc) +
                    f_floats(3, returns) +
                    f_bytes(4, struct.pack("<%dI" % len(returns),
                                           *([200] * len(returns)))))


def parse(buf):
    """Fields of one message level: {num: [value, ...]} (varint: int,
    length-delimited: bytes, fixed: int)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, kind = key >> 3, key & 7
        if kind == 0:
            v, i = read_varint(buf, i)
        elif kind == 2:
            ln, i = read_varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif kind == 1:
            v, i = struct.unpack_from("<Q", buf, i)[0], i + 8
        elif kind == 5:
            v, i = struct.unpack_from("<I", buf, i)[0], i + 4
        else:
            raise ValueError("wire kind %d" % kind)
        out.setdefault(num, []).append(v)
    return out


def read_varint(buf, i):
    v, s = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << s
        s += 7
        if b < 0x80:
            return v, i


BODY = {3: "hello", 4: "welcome", 5: "refuse", 6: "batch", 7: "credit",
        8: "heartbeat", 9: "snapshot", 10: "eval"}


def message(buf):
    """(type name, body fields) of one learner message."""
    env = parse(buf)
    for num, name in BODY.items():
        if num in env:
            return name, parse(env[num][0])
    return "none", {}


# ---- processes ----





class Learner:
    def __init__(self, name, *args, wait=True, metrics=False):
        self.name = name
        self.out = os.path.join(WORK, name)
        self.err_path = os.path.join(WORK, name + ".err")
        for _ in range(6):
            self.port = free_port()
            extra = ["--metrics-port", str(self.port + 3)] if metrics else []
            self.p = subprocess.Popen(
                [LEARNER] + SMALL + ["--port", str(self.port), "--bind",
                                     "127.0.0.1", "--out", self.out] +
                extra + list(args), stdout=subprocess.DEVNULL,
                stderr=open(self.err_path, "w"))
            PROCS.append(self.p)
            if not wait:
                return
            for _ in range(50):
                if self.p.poll() is not None:
                    break
                if self.status(timeout_ms=200) is not None:
                    return
            if self.p.poll() is None:
                break
        raise RuntimeError("cannot start a learner: " + self.log()[-500:])

    def status(self, timeout_ms=2000):
        r = subprocess.run([STATUS, "127.0.0.1:%d" % self.port, "--json",
                            "--timeout-ms", str(timeout_ms)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def wait_until(self, seconds, pred):
        deadline = time.time() + seconds
        r = None
        while time.time() < deadline:
            r = self.status()
            if r is not None and pred(r):
                return r
            time.sleep(0.2)
        return None

    def log(self):
        with open(self.err_path) as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
        rc = self.p.wait()
        sanitizer_check(self.name, self.log())
        return rc


class Peer:
    """A DEALER on the learner's data socket (one routing id)."""

    def __init__(self, port):
        self.s = CTX.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect("tcp://127.0.0.1:%d" % port)
        self.credit = 0

    def send(self, m):
        self.s.send(m)

    def recv(self, want, seconds=3.0):
        """The next message of type want (credits counted on the way)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.s.poll(50):
                kind, f = message(self.s.recv())
                if kind == "credit":
                    self.credit += f.get(1, [0])[0]
                if kind == want or (want == "welcome" and kind == "refuse"):
                    return kind, f
        return None, {}

    def drain(self, seconds=0.3):
        end = time.time() + seconds
        while time.time() < end:
            if self.s.poll(20):
                kind, f = message(self.s.recv())
                if kind == "credit":
                    self.credit += f.get(1, [0])[0]

    def join(self, actor_id, inc, **kw):
        self.send(hello(actor_id, inc, **kw))
        return self.recv("welcome")

    def close(self):
        self.s.close()


def actor(port, actor_id, *args):
    err = open(os.path.join(WORK, "actor-%s.err" % actor_id), "w")
    p = subprocess.Popen([ACTOR, "--env", "Pendulum", "--learner",
                          "127.0.0.1:%d" % port, "--id", actor_id,
                          "--timeout-ms", "1500"] + list(args),
                         stdout=subprocess.DEVNULL, stderr=err)
    PROCS.append(p)
    return p


def ids(r):
    return sorted(a["id"] for a in r["actors"])


# ---- parts ----

def part_poison():
    lr = Learner("poison", "--replay-ratio", "0")
    p = Peer(lr.port)
    kind, _ = p.join("p1", 11)
    check(kind == "welcome", "poison: a hostile peer joins", kind)
    rows = (good_rows(2) +
            [([0.1, 0.2, 0.3], [2.0], -1.0, [0.1, 0.2, 0.3])] +
            [([0.1, 0.2, 0.3], [0.5], 3e38, [0.1, 0.2, 0.3])] +
            [([3e38, 0.2, 0.3], [0.5], -1.0, [0.1, 0.2, 0.3])] +
            [([0.1, 0.2, 0.3], [0.5], -1.0, [0.1, -2e6, 0.3])])
    p.send(batch(rows))
    r = lr.wait_until(5, lambda r: r["env_steps"] >= 2)
    time.sleep(0.3)
    r = lr.status()
    g = r["guards"] if r else {}
    a = [x for x in (r or {}).get("actors", []) if x["id"] == "p1"]
    check(r is not None and r["replay_size"] == 2 and r["env_steps"] == 2 and
          g.get("row_action") == 1 and g.get("row_reward") == 1 and
          g.get("row_obs") == 2 and a and a[0]["refused_rows"] == 4,
          "poison: 4 rows out of bounds dropped and counted by reason "
          "(action 1, reward 1, obs 2), 2 good rows taken", r)
    p.close()
    lr.stop()

    # the limits raised: 3e38 rewards poison every update
    lr = Learner("rollback", "--replay-ratio", "0", "--learning-starts", "40",
                 "--max-abs-reward", "3.4e38", "--max-rollbacks", "1000000",
                 "--metrics-port", "0")
    p = Peer(lr.port)
    p.join("p2", 12)
    rows = [([0.1, 0.2, 0.3], [0.5], 3e38, [0.1, 0.2, 0.3])] * 64
    p.send(batch(rows))
    r = lr.wait_until(10, lambda r: r["guards"]["rollback"] >= 50)
    check(r is not None and r["updates"] == 0 and r["param_version"] == 1 and
          r["losses"]["q"] is None,
          "poison: every non-finite update rolled back and counted, "
          "no update kept, no new snapshot", r and
          (r["guards"], r["updates"], r["param_version"]))
    p.close()
    lr.stop()

    lr = Learner("rollstop", "--replay-ratio", "0", "--learning-starts", "40",
                 "--max-abs-reward", "3.4e38", "--max-rollbacks", "5",
                 "--checkpoint-every", "100")
    p = Peer(lr.port)
    p.join("p3", 13)
    p.send(batch(rows))
    try:
        rc = lr.p.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    log = lr.log()
    sanitizer_check(lr.name, log)
    check(rc == 1 and "5 updates in a row rolled back" in log,
          "poison: --max-rollbacks 5 in a row stop the run with exit 1 and "
          "the reason", (rc, log[-400:]))
    cks = [f for f in os.listdir(lr.out) if f.endswith(".ckpt")]
    ev = os.path.join(BUILD, "tools", "hpo-eval")
    good = all(subprocess.run([ev, os.path.join(lr.out, c), "--episodes",
                               "1"], capture_output=True).returncode == 0
               for c in cks)
    check(good, "poison: every checkpoint left loads (finite weights): %s"
          % cks)
    p.close()


def part_credits():
    lr = Learner("credits")
    p = Peer(lr.port)
    kind, _ = p.join("c1", 21)
    p.drain(0.6)
    check(kind == "welcome" and p.credit > 0,
          "credits: welcomed, granted %d transitions" % p.credit)
    p.send(batch(good_rows(p.credit + 500)))
    time.sleep(0.5)
    r = lr.status()
    check(r and r["guards"]["over_credit"] == 1 and r["replay_size"] == 0
          and r["env_steps"] == 0,
          "credits: a batch of credit + 500 rows refused and counted, the "
          "replay buffer untouched", r and (r["guards"], r["replay_size"]))
    p.send(batch(good_rows(min(p.credit, 64)), seq=2))
    r = lr.wait_until(5, lambda r: r["env_steps"] > 0)
    check(r is not None and r["env_steps"] == min(p.credit, 64),
          "credits: a batch within the credit is taken",
          r and r["env_steps"])
    q = Peer(lr.port)
    kind, f = q.join("c2", 22, n_envs=1000000)
    reason = f.get(1, [b""])[0].decode(errors="replace")
    check(kind == "refuse" and "n_envs" in reason,
          "credits: a Hello with n_envs 1000000 refused: " + reason)
    r = lr.status()
    check(r and ids(r) == ["c1"] and r["guards"]["bad_hello"] == 1,
          "credits: the table holds only c1", r and ids(r))
    p.close()
    q.close()
    lr.stop()


def part_identity():
    lr = Learner("identity")
    a = Peer(lr.port)
    kind, _ = a.join("victim", 31, host="hostA")
    check(kind == "welcome", "identity: the victim joins")
    b = Peer(lr.port)
    kind, f = b.join("victim", 32, host="hostB")
    reason = f.get(1, [b""])[0].decode(errors="replace")
    check(kind == "refuse" and "held by a live actor" in reason and
          reason.startswith("busy: "),
          "identity: a Hello reusing a live id refused: " + reason)
    a.send(heartbeat(31, 1))
    r = lr.status()
    hosts = [x["host"] for x in r["actors"] if x["id"] == "victim"]
    check(hosts == ["hostA"] and r["guards"]["id_in_use"] == 1,
          "identity: the victim keeps its row", r and r["actors"])
    c = Peer(lr.port)
    c.join("other", 33)
    kind, f = c.join("victim", 33)
    check(kind == "refuse",
          "identity: a known connection cannot rename itself into a live id",
          kind)
    r = lr.status()
    check(r and ids(r) == ["other", "victim"] and
          [x["host"] for x in r["actors"] if x["id"] == "victim"] ==
          ["hostA"], "identity: both rows unchanged", r and ids(r))
    # the same process on a new connection (same incarnation) takes it back
    d = Peer(lr.port)
    kind, _ = d.join("victim", 31, host="hostA2")
    r = lr.status()
    check(kind == "welcome" and
          [x["host"] for x in r["actors"] if x["id"] == "victim"] ==
          ["hostA2"], "identity: the same incarnation reconnecting is "
          "welcomed into its row", kind)
    for x in (a, b, c, d):
        x.close()
    lr.stop()


def part_slots():
    lr = Learner("slots", "--timeout-ms", "30000")   # rows never time out
    peers = [Peer(lr.port) for _ in range(256)]
    for i, p in enumerate(peers):
        p.send(hello("h%03d" % i, 1000 + i))
    r = lr.wait_until(10, lambda r: len(r["actors"]) == 256)
    check(r is not None, "slots: 256 handshake-only peers fill the table")
    time.sleep(0.6)   # older than two heartbeat periods
    ap = actor(lr.port, "real1")
    r = lr.wait_until(15, lambda r: "real1" in ids(r) and r["env_steps"] > 0)
    check(r is not None and r["guards"]["evicted"] >= 1,
          "slots: a real actor joins a full table of handshake-only peers "
          "(evicted: %s)" % (r and r["guards"]["evicted"]))
    ap.terminate()
    ap.wait(10)
    for p in peers:
        p.close()
    lr.stop()

    # a table held by live peers: the real actor waits and retries
    lr = Learner("slots2", "--timeout-ms", "3000")
    peers = [Peer(lr.port) for _ in range(256)]
    for i, p in enumerate(peers):
        p.send(hello("l%03d" % i, 2000 + i))
    lr.wait_until(10, lambda r: len(r["actors"]) == 256)
    ap = actor(lr.port, "real2")
    end = time.time() + 2.5
    while time.time() < end:
        for i, p in enumerate(peers):
            p.send(heartbeat(2000 + i, 1))
        time.sleep(0.1)
    with open(os.path.join(WORK, "actor-real2.err")) as f:
        alog = f.read()
    check(ap.poll() is None and "too many actors" in alog and
          "retrying in" in alog,
          "slots: refused for capacity, the actor stays and retries",
          alog[-300:])
    for p in peers[:8]:
        p.close()
    t0 = time.time()
    while time.time() - t0 < 12:
        for i, p in enumerate(peers[8:]):
            p.send(heartbeat(2008 + i, 1))
        r = lr.status(timeout_ms=500)
        if r and "real2" in ids(r):
            break
        time.sleep(0.2)
    check(r is not None and "real2" in ids(r),
          "slots: once room is made the actor joins (%.1f s)" %
          (time.time() - t0))
    ap.terminate()
    ap.wait(10)
    for p in peers[8:]:
        p.close()
    lr.stop()


def part_logs():
    lr = Learner("logs")
    bad = envelope(6, f_varint(1, 4) + f_varint(2, 5))   # dims disagree
    for k in range(3):      # 3 rounds of 200 connections (file limits)
        peers = [Peer(lr.port) for _ in range(200)]
        for p in peers:
            p.send(bad)
        r = lr.wait_until(10, lambda r: r["rejected_total"] >= 200 * (k + 1))
        for p in peers:
            p.close()
    lines = lr.log().count("\n")
    check(r is not None and lines < 300,
          "logs: 600 bad messages from 600 peers counted (%s), %d log lines"
          % (r and r["rejected_total"], lines))
    lr.stop()

    # 600 Hellos from 600 peers (joins, evictions, refusals)
    lr = Learner("logs2")
    peers = []
    for k in range(3):
        batch_peers = [Peer(lr.port) for _ in range(200)]
        for i, p in enumerate(batch_peers):
            p.send(hello("f%d-%d" % (k, i), 5000 + 200 * k + i))
        peers += batch_peers
        time.sleep(0.5)
    r = lr.status()
    lines = lr.log().count("\n")
    check(r is not None and lines < 120,
          "logs: 600 Hellos from 600 peers: %d log lines (joins and leaves "
          "rate-limited), %d in the table, %d evicted" %
          (lines, len(r["actors"]) if r else -1,
           r["guards"]["evicted"] if r else -1), lr.log()[-300:])
    for p in peers:
        p.close()
    lr.stop()


def part_checkpoints():
    lr = Learner("prune", "--checkpoint-every", "50", "--keep", "1",
                 wait=False)
    os.makedirs(lr.out, exist_ok=True)
    with open(os.path.join(lr.out, "checkpoint-99999999.ckpt"), "wb") as f:
        f.write(b"not a checkpoint" * 100)
    # the learner may have started before the file: wait for its status
    for _ in range(50):
        if lr.status(timeout_ms=200):
            break
    ap = actor(lr.port, "ck1")
    r = lr.wait_until(60, lambda r: r["updates"] >= 200)
    ap.terminate()
    ap.wait(10)
    rc = lr.stop()
    files = sorted(os.listdir(lr.out))
    cks = [f for f in files if f.endswith(".ckpt")]
    valid = [c for c in cks if c != "checkpoint-99999999.ckpt"]
    ev = os.path.join(BUILD, "tools", "hpo-eval")
    loads = valid and subprocess.run(
        [ev, os.path.join(lr.out, valid[-1]), "--episodes", "1"],
        capture_output=True).returncode == 0
    check(r is not None and rc == 130 and len(valid) == 1 and loads,
          "checkpoints: --keep 1 beside a corrupt checkpoint-99999999 keeps "
          "the newest valid one (%s)" % cks)

    bad = os.path.join(WORK, "corrupt")
    os.makedirs(bad)
    for n in (100, 200):
        with open(os.path.join(bad, "checkpoint-%d.ckpt" % n), "wb") as f:
            f.write(b"\0" * 300)
    r = subprocess.run([LEARNER] + SMALL + ["--port", str(free_port()),
                                            "--bind", "127.0.0.1", "--out",
                                            bad, "--resume"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "checkpoint-200.ckpt" in r.stderr and
          "checkpoint-100.ckpt" in r.stderr and "refusing" in r.stderr,
          "checkpoints: --resume over only corrupt checkpoints refuses to "
          "start, naming them", (r.returncode, r.stderr[-400:]))

    lr = Learner("finalfail", "--checkpoint-every", "100000",
                 "--max-updates", "300", wait=False)
    os.makedirs(os.path.join(lr.out, "checkpoint-300.ckpt.tmp"),
                exist_ok=True)
    for _ in range(50):
        if lr.status(timeout_ms=200):
            break
    ap = actor(lr.port, "ck2")
    try:
        rc = lr.p.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    ap.terminate()
    ap.wait(10)
    sanitizer_check(lr.name, lr.log())
    check(rc == 1 and "final checkpoint failed" in lr.log(),
          "checkpoints: a failed final checkpoint gives exit status 1",
          (rc, lr.log()[-300:]))


def part_evals():
    lr = Learner("evals", "--metrics-port", "0")
    s = Peer(lr.port)
    s.join("streamer", 41)
    e = Peer(lr.port)
    e.join("evaler", 42, role=1)
    s.send(eval_result(1, 41, [100.0]))
    e.send(eval_result(999, 42, [100.0]))
    e.send(eval_result(1, 42, [5e9]))
    s.send(heartbeat(41, 999))
    e.send(heartbeat(42, 1, latency_us=10 ** 13))
    time.sleep(0.5)
    r = lr.status()
    check(r and r["guards"]["bad_eval"] == 3 and
          r["guards"]["bad_heartbeat"] == 2 and r["eval"] is None and
          all(a["param_lag"] <= 1 for a in r["actors"]),
          "evals: evaluations from a streamer, of an unpublished version, "
          "with a return past range, and heartbeats of an unpublished "
          "version or a latency past an hour refused", r and r["guards"])
    e.send(eval_result(1, 42, [-150.0, -170.0]))
    r = lr.wait_until(5, lambda r: r["eval"] is not None)
    check(r is not None and abs(r["eval"]["mean_return"] + 160) < 1e-3,
          "evals: a valid evaluation is taken")
    s.close()
    e.close()
    lr.stop()


def scrape(port, host="127.0.0.1", timeout=5):
    with socket.create_connection((host, port), timeout=timeout) as c:
        c.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            data += d
    return data.decode(errors="replace")


def part_metrics():
    lr = Learner("metrics", "--bind", "0.0.0.0", metrics=True)
    mport = lr.port + 3
    log = lr.log()
    check("metrics: http://127.0.0.1:%d/metrics" % mport in log,
          "metrics: binds 127.0.0.1 by default (even with --bind 0.0.0.0)",
          log[-300:])
    # an address that is not loopback: the endpoint must not answer there
    try:
        other = socket.gethostbyname(socket.gethostname())
    except OSError:
        other = None
    if other and not other.startswith("127."):
        try:
            scrape(mport, other, timeout=1)
            fail("metrics: answered on " + other)
        except OSError:
            ok("metrics: nothing listens on %s:%d" % (other, mport))
    # slowloris and idle connections from 127.0.0.2
    held = []
    for i in range(40):
        try:
            c = socket.socket()
            c.bind(("127.0.0.2", 0))
            c.settimeout(2)
            c.connect(("127.0.0.1", mport))
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            held.append(c)
        except OSError:
            break
    t0 = time.time()
    try:
        text = scrape(mport)
    except OSError as ex:
        text = "error " + str(ex)
    dt = time.time() - t0
    check("hpo_updates_total" in text and dt < 2.0,
          "metrics: %d slowloris connections from 127.0.0.2 do not lock out "
          "a scrape from 127.0.0.1 (%.2f s)" % (len(held), dt), text[:200])
    for c in held:
        c.close()
    lr.stop()


def part_params():
    lr = Learner("params")
    # the 16 MB subscriber in a process of its own, which then leaves
    big = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, zmq\n"
        "s = zmq.Context().socket(zmq.XSUB)\n"
        "s.connect('tcp://127.0.0.1:%d')\n"
        "s.send(b'\\x01' + b'x' * (16 << 20))\n"
        "time.sleep(1.0)\n"
        "import os; os._exit(0)\n") % (lr.port + 1)])
    PROCS.append(big)
    worst = 0.0
    for _ in range(15):
        t0 = time.time()
        r = lr.status(timeout_ms=3000)
        worst = max(worst, time.time() - t0)
        time.sleep(0.1)
    big.wait(10)
    check(r is not None and worst < 1.0,
          "params: a 16 MB subscription costs no stall (worst status "
          "%.3f s)" % worst)
    t = CTX.socket(zmq.XSUB)
    t.setsockopt(zmq.LINGER, 0)
    t.connect("tcp://127.0.0.1:%d" % (lr.port + 1))
    for i in range(200):
        t.send(b"\x01prefix-%d" % i)
    u = CTX.socket(zmq.SUB)
    u.setsockopt(zmq.LINGER, 0)
    u.setsockopt(zmq.SUBSCRIBE, b"")
    u.connect("tcp://127.0.0.1:%d" % (lr.port + 1))
    r = lr.wait_until(5, lambda r: r["guards"]["subscription"] >= 200)
    time.sleep(0.3)
    p = Peer(lr.port)
    p.join("s1", 61)          # a Hello makes the learner resend its snapshot
    got = u.poll(3000)
    p.close()
    check(r is not None and got,
          "params: 200 prefixed subscriptions ignored and counted, a plain "
          "subscriber still gets snapshots", r and r["guards"])
    t.close()
    u.close()
    lr.stop()


def part_datasock():
    lr = Learner("datasock")
    p = Peer(lr.port)
    p.join("d1", 51)
    p.send(b"\0" * ((16 << 20) + (1 << 20)))
    t0 = time.time()
    r = lr.status(timeout_ms=3000)
    dt = time.time() - t0
    check(r is not None and dt < 1.0 and r["rejected_total"] == 0,
          "datasock: a 17 MB message cut at the socket, status in %.3f s"
          % dt, r and r["rejected_total"])
    p.close()
    lr.stop()


def part_cli():
    r = subprocess.run([LEARNER, "--env", "Pendulum", "--buffer",
                        "100000000000", "--port", str(free_port())],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "available" in r.stderr and
          "GB" in r.stderr,
          "cli: --buffer 1e11 refused with the figure: " +
          r.stderr.strip()[-200:])
    train = os.path.join(BUILD, "tools", "hpo-train")
    r = subprocess.run([train, "--env", "Pendulum", "--buffer",
                        "100000000000", "--steps", "100000000000"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "GB are available" in r.stderr,
          "cli: hpo-train's --buffer 1e11 refused too: " +
          r.stderr.strip()[-200:])
    r = subprocess.run([ACTOR, "--env", "Pendulum", "--learner",
                        "no-such-host.invalid:5550"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "cannot resolve" in r.stderr and
          "no-such-host.invalid" in r.stderr,
          "cli: an unresolvable learner host says so: " +
          r.stderr.strip()[-200:])
    r = subprocess.run([STATUS, "no-such-host.invalid:5550"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "cannot resolve" in r.stderr,
          "cli: hpo-status says so too: " + r.stderr.strip()[-200:])
    port = free_port()
    p = subprocess.Popen([LEARNER] + SMALL + ["--port", str(port), "--bind",
                                              "localhost"],
                         stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(WORK, "bindname.err"), "w"))
    PROCS.append(p)
    st = None
    for _ in range(50):
        r = subprocess.run([STATUS, "127.0.0.1:%d" % port, "--json",
                            "--timeout-ms", "200"], capture_output=True)
        if r.returncode == 0:
            st = r
            break
        if p.poll() is not None:
            break
    check(st is not None, "cli: --bind localhost accepted and serving")


PARTS = {"poison": part_poison, "credits": part_credits,
         "identity": part_identity, "slots": part_slots, "logs": part_logs,
         "checkpoints": part_checkpoints, "evals": part_evals,
         "metrics": part_metrics, "params": part_params,
         "datasock": part_datasock, "cli": part_cli}


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
        CTX.destroy(linger=0)
        shutil.rmtree(WORK, ignore_errors=True)
    if FAILURES:
        print("%d failure(s)" % len(FAILURES), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
