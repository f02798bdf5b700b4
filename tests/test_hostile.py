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
               in a row stop the run (exit 1, the reason in the log); 3e38
               rewards taken in the data guard's warm-up make updates
               non-finite, and the rollback quarantines their sender and
               evicts its rows: updates go on, the metrics name it
  credits      a batch beyond the sender's credit is refused and counted,
               the replay buffer untouched; one within it is taken; a Hello
               with n_envs past 4096 is refused
  identity     a Hello reusing a live actor's id (another incarnation) is
               refused and the row kept; a known connection cannot rename
               itself into another's id; status shows no incarnation; the
               same id and incarnation from another peer address is
               refused; the same incarnation reconnecting from its address
               takes its row back
  slots        256 handshake-only connections fill the table; a real actor
               still joins (the oldest is evicted, counted); with the table
               held by live peers a real actor is refused as busy, does not
               exit, and joins once room is made (retry with backoff); 256
               rows from 4 addresses that heartbeat but send no data are
               evicted for a new actor, which streams; one address holds at
               most --max-peer-rows (64) rows, the next Hellos are busy
  fairshare    100 ids from one address and one real actor from another:
               the real actor gets at least 30% of the ingest (credits are
               shared per peer address, not per id)
  keyshare     with CurveZMQ keys, all from 127.0.0.1: one client key holds
               --max-peer-rows rows (the next Hello under it is refused as
               busy), and a real actor under another key gets at least 30%
               of the ingest against 100 ids under one key (a peer is its
               key, not its address)
  logs         600 bad messages from 600 peers: every one counted, the
               learner's log stays under 300 lines
  checkpoints  --keep 2 beside a corrupt checkpoint of a larger number keeps
               two valid ones (only verified files hold a slot); a stale
               .tmp goes at every start (fresh or --resume); --resume names
               the file it took; a newer checkpoint holding a NaN weight
               (checksums valid) is refused at --resume, named, and the
               previous one taken; --resume over only corrupt checkpoints
               refuses to start and names them; a failed final checkpoint
               gives exit status 1
  evals        an EvalResult from a streaming actor, or of a version never
               published, and a Heartbeat of such a version are refused and
               counted; the per-actor metrics series stop at 64 actors
  metrics      --metrics-port binds 127.0.0.1 unless --metrics-bind says
               otherwise; a Hello with a non-UTF-8 id is not welcomed, and
               the scrape (promtool accepts it) and the learner's log stay
               valid UTF-8;
               slowloris connections (8 from the scraper's own address, 64
               from 16 others) do not lock out scrapes
  params       a 16 MB subscription on the params socket is dropped at the
               socket (ZMQ_MAXMSGSIZE) and the loop never stalls; prefixed
               subscriptions are ignored and counted
  paramsmem    4 raw ZMTP connections each sending up to 20,000 distinct
               64-byte subscriptions (libzmq's XPUB keeps every one until
               the connection leaves: +30 MB a connection before): each is
               cut, the learner's memory grows under 16 MB, status answers
               within 1 s once they left, a plain subscriber gets snapshots
  datasock     a data message past the largest valid one is cut at the socket
               and the learner answers status at once
  poisoning    a peer inside every bound joins a learning Pendulum run (two
               real actors, fixed seeds) at 3000 env steps and sends, within
               its credit, rewards of 9.9e5, observations of 9e5, a drift to
               9.9e5 or rewards alternating +-9.9e5: each run's final
               evaluation lies in the episode range of three unpoisoned runs
               (a kind outside it runs once more and must land inside: the
               honest runs' own timing gives a second outcome near -400 in
               2 of 15 clean runs measured; unguarded poisoning ends at -846
               (obs) and -1473 (reward)). Under the drift the agent returns
               to the last known good checkpoint and learns on past it; its
               head start below the warning level can leave it behind the
               clean run. The peer is quarantined (status, learner.log) and
               the last known good checkpoint, from before the first guard
               warning or trip, is on disk and loads. Measured here: 49 s for
               the five runs; before the guards the reward run ended at
               -1472 (unpoisoned -164)
  cli          --buffer past the available memory is refused with the
               figure; an unresolvable --learner host says so; --bind
               accepts a host name; a --bind beyond loopback without
               CurveZMQ keys is refused (exit 2, naming hpo-keygen and
               --insecure) unless --insecure is given

Every learner is killed on exit; every wait is bounded.
"""
import json
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import re
import tempfile
import time
import zlib

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


def raw(s):
    return s if isinstance(s, bytes) else s.encode()


def hello(actor_id, inc, n_envs=1, role=0, env="Pendulum", host="hostile"):
    """actor_id and host: str, or bytes sent as they are."""
    return envelope(3, f_bytes(1, env.encode()) + f_varint(2, OD) +
                    f_varint(3, AD) + f_bytes(4, raw(actor_id)) +
                    f_fixed64(5, inc) + f_bytes(6, raw(host)) +
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
    def __init__(self, name, *args, wait=True, metrics=False, status_env=None):
        self.name = name
        # hpo-status's environment: HPO_CURVE_SERVER and HPO_CURVE_KEY for
        # a learner with CurveZMQ keys
        self.status_env = status_env
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
                           capture_output=True, text=True, env=self.status_env)
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
    """A DEALER on the learner's data socket (one routing id), from source
    address src (another loopback address: another peer to the learner)."""

    def __init__(self, port, src=None, curve=None):
        self.s = CTX.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        if curve:   # (the learner's public key, this peer's key pair): Z85
            self.s.curve_serverkey, self.s.curve_publickey, \
                self.s.curve_secretkey = curve
        self.s.connect(("tcp://%s:0;" % src if src else "tcp://") +
                       "127.0.0.1:%d" % port)
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

    # rows that break the updates leave the replay buffer with their sender:
    # 3e38 rewards taken in the guard's warm-up make updates non-finite; the
    # rollback finds them far from the other actor's data, quarantines the
    # sender and evicts its 64 rows, and the run goes on (before: it stopped
    # after --max-rollbacks 5)
    lr = Learner("rollevict", "--replay-ratio", "0", "--learning-starts",
                 "200", "--max-abs-reward", "3.4e38", "--max-rollbacks", "5",
                 "--guard-warmup", "100", metrics=True)
    h = Peer(lr.port)
    h.join("h1", 14)
    h.send(batch([([0.1, 0.2, 0.3], [0.5], 3e38, [0.1, 0.2, 0.3])] * 64,
                 inc=14))
    lr.wait_until(5, lambda r: r["env_steps"] >= 64)
    g = Peer(lr.port)
    g.join("g1", 15)
    rnd = random.Random(3)
    for i in range(5):
        g.send(batch([pendulum_row(rnd) for _ in range(64)], inc=15,
                     seq=i + 1))
    r = lr.wait_until(20, lambda r: r["updates"] >= 200)
    log = lr.log()
    check(r is not None and lr.p.poll() is None and
          r["guards"]["rollback"] >= 1 and
          r["data_guard"]["quarantined"] == ["h1"] and
          r["data_guard"]["rows_removed"] == 64 and
          r["replay_size"] == 320 and "quarantined actor h1" in log,
          "poison: a rolled-back update's rows (3e38 rewards) leave the "
          "replay buffer with their sender, quarantined; updates go on",
          (r and (r["guards"]["rollback"], r["updates"], r["data_guard"],
                  r["replay_size"]), log[-500:]))
    # the endpoint serves the figures of the loop's last metrics pass (every
    # 0.5 s): scrapes for up to 3 s after the status saw the quarantine
    def named(text):
        return (re.search(r'^hpo_actor_quarantined\{actor="h1"[^}]*\} 1$',
                          text, re.M) and
                re.search(r'^hpo_actor_quarantined\{actor="g1"[^}]*\} 0$',
                          text, re.M) and
                re.search(r"^hpo_quarantined_actors 1$", text, re.M))
    deadline, text = time.time() + 3, ""
    while time.time() < deadline and not named(text):
        try:
            text = scrape(lr.port + 3)
        except OSError as e:
            text = "scrape failed: %s" % e
        time.sleep(0.2)
    check(named(text),
          "poison: the metrics name the quarantined actor "
          "(hpo_actor_quarantined 1 for h1, 0 for g1; hpo_quarantined_actors 1)",
          "\n".join(ln for ln in text.splitlines() if "quarantined" in ln))
    h.close()
    g.close()
    lr.stop()


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
    v = [x for x in r["actors"] if x["id"] == "victim"]
    check(v and "incarnation" not in v[0] and v[0]["peer"] == "127.0.0.1",
          "identity: status shows no actor's incarnation (its peer: %s)" %
          (v and v[0].get("peer")), v)
    # the victim's id and incarnation, read or guessed, from another address
    e = Peer(lr.port, src="127.0.0.2")
    kind, f = e.join("victim", 31, host="evil")
    reason = f.get(1, [b""])[0].decode(errors="replace")
    r = lr.status()
    check(kind == "refuse" and "held by a live actor" in reason and
          [x["host"] for x in r["actors"] if x["id"] == "victim"] ==
          ["hostA"] and r["guards"]["id_in_use"] == 2,
          "identity: the same id and incarnation from another peer address "
          "refused, the victim keeps its row: " + reason, r and r["actors"])
    e.close()
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
    # one peer address for all: the table's limits, not the peer's
    lr = Learner("slots", "--timeout-ms", "30000", "--max-peer-rows", "256")
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
    lr = Learner("slots2", "--timeout-ms", "3000", "--max-peer-rows", "256")
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

    # 256 rows from 4 peer addresses (64 each, the default cap) that only
    # heartbeat, never sending data: once they have owed data for
    # --timeout-ms (1.5 s) a new actor evicts one and streams
    lr = Learner("slots3")
    peers = [Peer(lr.port, src="127.0.0.%d" % (2 + i // 64))
             for i in range(256)]
    for i, p in enumerate(peers):
        p.send(hello("hb%03d" % i, 3000 + i))
    lr.wait_until(10, lambda r: len(r["actors"]) == 256)
    ap = actor(lr.port, "real3")
    t0 = time.time()
    r = None
    while time.time() - t0 < 12:
        for i, p in enumerate(peers):
            p.send(heartbeat(3000 + i, 1))
        r = lr.status(timeout_ms=500)
        if r and "real3" in ids(r) and r["env_steps"] > 0:
            break
        time.sleep(0.2)
    check(r is not None and "real3" in ids(r) and r["env_steps"] > 0 and
          r["guards"]["evicted"] >= 1,
          "slots: 256 heartbeat-only rows (no data) do not lock a new actor "
          "out: it streams after %.1f s (evicted %s)" %
          (time.time() - t0, r and r["guards"]["evicted"]),
          r and (len(r["actors"]), r["env_steps"]))
    ap.terminate()
    ap.wait(10)
    for p in peers:
        p.close()
    lr.stop()

    # rows per peer: one address gets --max-peer-rows (default 64), the
    # next Hellos from it wait (busy), another address still joins
    lr = Learner("slots4")
    peers = [Peer(lr.port, src="127.0.0.6") for _ in range(70)]
    for i, p in enumerate(peers):
        p.send(hello("cap%02d" % i, 4000 + i))
    refused = []
    for p in peers:
        kind, f = p.recv("welcome", seconds=2)
        if kind == "refuse":
            refused.append(f.get(1, [b""])[0].decode(errors="replace"))
    q = Peer(lr.port, src="127.0.0.7")
    kind, _ = q.join("other", 4999)
    r = lr.status()
    check(r is not None and len(r["actors"]) == 65 and len(refused) == 6 and
          all(x.startswith("busy: ") and "--max-peer-rows" in x
              for x in refused) and r["guards"]["peer_rows"] == 6 and
          kind == "welcome",
          "slots: one address holds 64 rows (--max-peer-rows), 6 more "
          "Hellos refused as busy (%s), another address joins" %
          (refused[:1] or "none"), r and (len(r["actors"]), r["guards"]))
    for p in peers + [q]:
        p.close()
    lr.stop()


def share_of_real(lr, fakes, real_args):
    """The real actor's share of ingest over 8 s while every fake sends what
    its credit allows and heartbeats (fakes joined with incarnations 6000+i):
    (share, its steps, all steps)."""
    batches = {n: batch(good_rows(n)) for n in range(1, 65)}
    poller = zmq.Poller()
    for p in fakes:
        poller.register(p.s, zmq.POLLIN)
    ap = actor(lr.port, "real", *real_args)

    def pump(seconds):
        """Each fake sends what its credit allows, heartbeats 3 times a
        second."""
        end = time.time() + seconds
        last_hb = 0.0
        while time.time() < end:
            for s, _ in poller.poll(20):
                p = next(x for x in fakes if x.s is s)
                while p.s.poll(0):
                    kind, f = message(p.s.recv())
                    if kind == "credit":
                        p.credit += f.get(1, [0])[0]
                while p.credit > 0:
                    n = min(p.credit, 64)
                    p.s.send(batches[n])
                    p.credit -= n
            if time.time() - last_hb > 0.3:
                for i, p in enumerate(fakes):
                    p.s.send(heartbeat(6000 + i, 1))
                last_hb = time.time()

    pump(3.0)        # the real actor joins and streams
    r0 = lr.status()
    pump(8.0)
    r1 = lr.status()

    def real_steps(r):
        return sum(a["steps"] for a in r["actors"] if a["id"] == "real")
    total = r1["env_steps"] - r0["env_steps"] if r0 and r1 else 0
    real = real_steps(r1) - real_steps(r0) if r0 and r1 else 0
    ap.terminate()
    ap.wait(10)
    return (real / total if total else 0.0), real, total


def part_fairshare():
    """100 ids from one address against one real actor from another:
    ingest is shared per peer address, not per id."""
    lr = Learner("fairshare", "--max-peer-rows", "128")
    fakes = [Peer(lr.port, src="127.0.0.2") for _ in range(100)]
    for i, p in enumerate(fakes):
        p.send(hello("fake%03d" % i, 6000 + i))
    r = lr.wait_until(10, lambda r: len(r["actors"]) == 100)
    check(r is not None, "fairshare: 100 fake ids joined from 127.0.0.2")
    share, real, total = share_of_real(lr, fakes, [])
    check(total > 0 and share >= 0.3,
          "fairshare: the real actor's share of ingest over 8 s: %.1f%% "
          "(%d of %d steps; 100 fake ids share one address)" %
          (100 * share, real, total))
    for p in fakes:
        p.close()
    lr.stop()


def curve_pair(path):
    """(public, secret) Z85 of an hpo-keygen file, as bytes."""
    kv = dict(ln.split(" = ", 1) for ln in open(path).read().splitlines()
              if " = " in ln)
    return kv["public"].encode(), kv.get("secret", "").encode()


def part_keyshare():
    """With CurveZMQ keys a peer is its key, not its address: 100 ids
    under one client key against a real actor under another, all from
    127.0.0.1. Ingest is shared per key (per address it would be one peer
    and the real actor would get about 1%), and --max-peer-rows caps the
    rows of a key, not of the address."""
    kdir = os.path.join(WORK, "keys")
    allow = os.path.join(kdir, "allow")
    os.makedirs(allow)
    names = ("server", "fake", "real", "status")
    r = subprocess.run([os.path.join(BUILD, "tools", "hpo-keygen")] +
                       list(names), cwd=kdir, capture_output=True, text=True)
    if r.returncode != 0:
        fail("keyshare: hpo-keygen: " + r.stderr)
        return
    for n in names[1:]:
        shutil.copy(os.path.join(kdir, n + ".public"), allow)
    key = {n: os.path.join(kdir, n) for n in names}
    env = dict(os.environ, HPO_CURVE_SERVER=key["server"] + ".public",
               HPO_CURVE_KEY=key["status"] + ".secret")
    # 101 CurveZMQ handshakes take longer than SMALL's two heartbeat periods
    # (400 ms) on a loaded machine, and a row mute for that long is evicted
    # for a new Hello (idle_row): then the 101st Hello takes the first one's
    # row instead of being refused. Periods far above the handshakes' time
    # keep this part about --max-peer-rows (the later flags override SMALL's).
    lr = Learner("keyshare", "--curve-secret", key["server"] + ".secret",
                 "--curve-allow", allow, "--max-peer-rows", "100",
                 "--heartbeat-ms", "5000", "--timeout-ms", "30000",
                 status_env=env)
    server = curve_pair(key["server"] + ".public")[0]
    fake = curve_pair(key["fake"] + ".secret")
    fakes = [Peer(lr.port, curve=(server,) + fake) for _ in range(101)]
    for i, p in enumerate(fakes):
        p.send(hello("fake%03d" % i, 6000 + i))
    kinds = [p.recv("welcome", seconds=3) for p in fakes]
    busy = [f.get(1, [b""])[0].decode(errors="replace")
            for kind, f in kinds if kind == "refuse"]
    r = lr.status()
    check(r is not None and len(r["actors"]) == 100 and len(busy) == 1 and
          busy[0].startswith("busy: ") and r["guards"]["peer_rows"] == 1,
          "keyshare: one client key holds 100 rows (--max-peer-rows 100), "
          "the 101st Hello under it refused as busy (%s)" %
          (busy[:1] or "none"), r and (len(r["actors"]), r["guards"]))
    fakes[-1].close()
    fakes = fakes[:-1]
    share, real, total = share_of_real(
        lr, fakes, ["--curve-server", key["server"] + ".public",
                    "--curve-key", key["real"] + ".secret"])
    check(total > 0 and share >= 0.3,
          "keyshare: the real actor (its own key, the fakes' address) joins "
          "a key's full rows and gets %.1f%% of ingest over 8 s (%d of %d "
          "steps; 100 fake ids under one key)" % (100 * share, real, total))
    for p in fakes:
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
    # the key table is full: each new kind of warning still prints, even
    # right after another kind of the same family
    p = Peer(lr.port)
    p.join("g1", 71)
    p.drain(0.6)
    p.send(batch(good_rows(p.credit + 500)))                  # over credit
    p.send(batch([([0.1, 0.2, 0.3], [5.0], -1.0, [0.1, 0.2, 0.4])] * 8,
                 seq=2))                                      # rows
    q = Peer(lr.port)
    q.join("g2", 72, n_envs=1000000)                          # bad Hello
    q2 = Peer(lr.port)
    q2.join("g3", 73, env="HalfCheetah")                      # wrong env
    r = lr.wait_until(5, lambda r: r["guards"]["row_action"] >= 8 and
                      r["refused"] >= 2)
    log = lr.log()
    for what, text in (("a batch over credit", "credit"),
                       ("rows out of bounds", "rows out of bounds"),
                       ("an n_envs refusal", "n_envs 1000000"),
                       ("a wrong-env refusal", "environment HalfCheetah")):
        check(r is not None and text in log,
              "logs: past the full key table, %s is logged" % what,
              r and r["guards"])
    for c in (p, q, q2):
        c.close()
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


def poison_nets(path):
    """Write a NaN into the first parameter of path's NETS section and
    recompute that section's CRC-32 (docs/checkpoint.md: a 16-byte file
    header, then sections of tag, crc, u64 length, payload)."""
    with open(path, "rb") as f:
        b = bytearray(f.read())
    off = 16
    while off + 16 <= len(b):
        tag, ln = bytes(b[off:off + 4]), struct.unpack_from("<Q", b, off + 8)[0]
        pay = off + 16
        if tag == b"NETS":
            struct.pack_into("<f", b, pay, float("nan"))
            crc = zlib.crc32(tag + bytes(b[off + 8:off + 16]) +
                             bytes(b[pay:pay + ln]))
            struct.pack_into("<I", b, off + 4, crc)
            break
        off = pay + ln
    with open(path, "wb") as f:
        f.write(b)


def part_checkpoints():
    lr = Learner("prune", "--checkpoint-every", "50", "--keep", "2",
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
    valid = sorted((c for c in cks if c != "checkpoint-99999999.ckpt"),
                   key=lambda c: int(c[11:-5]))
    ev = os.path.join(BUILD, "tools", "hpo-eval")
    loads = valid and all(subprocess.run(
        [ev, os.path.join(lr.out, c), "--episodes", "1"],
        capture_output=True).returncode == 0 for c in valid)
    check(r is not None and rc == 130 and len(valid) == 2 and loads,
          "checkpoints: --keep 2 beside a corrupt checkpoint-99999999 keeps "
          "two valid ones: a file that does not verify holds no slot (%s)"
          % cks)

    # a checkpoint write cut short is removed at start, and --resume names
    # the file it took (past the corrupt one)
    tmp = os.path.join(lr.out, "checkpoint-123.ckpt.tmp")
    with open(tmp, "wb") as f:
        f.write(b"half a checkpoint")
    lr2 = Learner("prune", "--checkpoint-every", "50", "--keep", "2",
                  "--resume")
    lr2.stop()
    log = open(os.path.join(lr.out, "learner.log")).read()
    took = re.search(r"resumed from (\S+): ", log)
    check(not os.path.exists(tmp) and took and valid and
          took.group(1).endswith(valid[-1]) and
          "skipping checkpoint" in log,
          "checkpoints: a stale .tmp removed at start; --resume says it took "
          "%s past the corrupt one" % (took and os.path.basename(
              took.group(1))), log[-600:])

    # a fresh start (no --resume) removes a stale .tmp too
    fresh = os.path.join(WORK, "freshtmp")
    os.makedirs(fresh)
    stale = os.path.join(fresh, "checkpoint-7.ckpt.tmp")
    with open(stale, "wb") as f:
        f.write(b"cut short by kill -9")
    Learner("freshtmp").stop()
    check(not os.path.exists(stale) and "a checkpoint write cut short" in
          open(os.path.join(fresh, "learner.log")).read(),
          "checkpoints: a fresh start removes a stale checkpoint .tmp")

    # a newer checkpoint holding a NaN weight (checksums valid) is refused
    # at --resume, naming the file and the element; the previous one is taken
    nan_dir = os.path.join(WORK, "nanck")
    os.makedirs(nan_dir)
    for c in valid:
        shutil.copy(os.path.join(lr.out, c), nan_dir)
    if valid:
        poison_nets(os.path.join(nan_dir, valid[-1]))
        lr3 = Learner("nanck", "--checkpoint-every", "50", "--resume")
        lr3.stop()
        log = open(os.path.join(nan_dir, "learner.log")).read()
        took = re.search(r"resumed from (\S+): ", log)
        check(took and took.group(1).endswith(valid[0]) and
              re.search(r"skipping checkpoint \S*%s: section NETS: "
                        r"params\[0\] is not finite" % valid[-1], log),
              "checkpoints: a newer checkpoint with a NaN weight is refused "
              "at --resume, named; the previous valid one is taken",
              log[-600:])

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


def scrape(port, host="127.0.0.1", timeout=5, raw=False):
    with socket.create_connection((host, port), timeout=timeout) as c:
        c.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            data += d
    return data if raw else data.decode(errors="replace")


def part_metrics():
    lr = Learner("metrics", "--bind", "0.0.0.0", "--insecure", metrics=True)
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
    # peers' bytes in labels: the scrape stays valid UTF-8 and promtool
    # accepts it
    bad = Peer(lr.port)
    kind_bad, _ = bad.join(b"id-\xff\xfe", 81, host=b"h\xc0\xaf")
    good = Peer(lr.port)
    kind_good, _ = good.join("id-\u00e9", 82, host="h\u00f6st")
    lr.wait_until(5, lambda r: len(r["actors"]) >= 1)
    time.sleep(0.6)             # the loop copies its figures every 0.5 s
    body = scrape(mport, timeout=3, raw=True).split(b"\r\n\r\n", 1)[-1]
    try:
        body.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    check(kind_bad == "refuse" or kind_bad is None,
          "metrics: a Hello with a non-UTF-8 id is not welcomed (%s)"
          % kind_bad)
    check(valid and kind_good == "welcome" and
          'actor="id-\u00e9"'.encode() in body,
          "metrics: the scrape is valid UTF-8 with a non-UTF-8 Hello sent "
          "and a UTF-8 id listed", body[-300:])
    # and the log: the refusal of that Hello is logged, in valid UTF-8
    with open(lr.err_path, "rb") as f:
        raw_log = f.read()
    try:
        raw_log.decode("utf-8")
        log_valid = True
    except UnicodeDecodeError:
        log_valid = False
    check(log_valid and b"Hello: field actor_id: " in raw_log and
          b"not valid UTF-8" in raw_log,
          "metrics: the learner's log is valid UTF-8 after the non-UTF-8 "
          "Hello (its refusal logged)", raw_log[-300:])
    if shutil.which("promtool"):
        pt = subprocess.run(["promtool", "check", "metrics"], input=body,
                            capture_output=True, timeout=30)
        check(pt.returncode == 0, "metrics: promtool check metrics accepts "
              "the scrape", pt.stdout[-300:] + pt.stderr[-300:])
    bad.close()
    good.close()
    # slowloris: connections that trickle a request and never finish it,
    # first from the scraper's own address, then 64 from 16 others
    for name, addrs, n in (("127.0.0.1", ["127.0.0.1"], 8),
                           ("127.0.0.2-17",
                            ["127.0.0.%d" % i for i in range(2, 18)], 64)):
        held = []
        for i in range(n):
            try:
                c = socket.socket()
                c.bind((addrs[i % len(addrs)], 0))
                c.settimeout(2)
                c.connect(("127.0.0.1", mport))
                c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                held.append(c)
            except OSError:
                break
        answered, worst = 0, 0.0
        for _ in range(4):
            for c in held:          # keep them from the idle timeout
                try:
                    c.send(b"X")
                except OSError:
                    pass
            t0 = time.time()
            try:
                text = scrape(mport, timeout=3)
            except OSError as ex:
                text = "error " + str(ex)
            worst = max(worst, time.time() - t0)
            answered += "hpo_updates_total" in text
            time.sleep(0.5)
        check(answered == 4 and worst < 2.0,
              "metrics: %d slowloris connections from %s held, %d of 4 "
              "scrapes from 127.0.0.1 answered (slowest %.2f s)"
              % (len(held), name, answered, worst), text[:200])
        for c in held:
            c.close()
    lr.stop()


# ZMTP 3.0 by hand (NULL mechanism, an XSUB), for peers no ZeroMQ socket
# would be: a greeting, READY, then frames.
ZMTP_GREETING = (b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" +
                 b"NULL".ljust(20, b"\0") + b"\0" * 32)
_READY = b"\x05READY\x0bSocket-Type" + struct.pack(">I", 4) + b"XSUB"
ZMTP_READY = b"\x04" + bytes([len(_READY)]) + _READY


def zmtp_frame(body):
    return (b"\x00" + bytes([len(body)]) + body if len(body) < 256 else
            b"\x02" + struct.pack(">Q", len(body)) + body)


def part_params():
    lr = Learner("params")
    # the 16 MB subscriber: raw ZMTP (an XSUB would also store the 16 MB
    # prefix in its own trie, slowly, and send it again on every reconnect)
    big = socket.create_connection(("127.0.0.1", lr.port + 1))
    big.settimeout(5)
    try:
        big.sendall(ZMTP_GREETING + ZMTP_READY +
                    zmtp_frame(b"\x01" + b"x" * (16 << 20)))
    except OSError:
        pass    # cut by the learner on the way: what is wanted
    worst = 0.0
    for _ in range(15):
        t0 = time.time()
        r = lr.status(timeout_ms=3000)
        worst = max(worst, time.time() - t0)
        time.sleep(0.1)
    big.close()
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



def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def part_paramsmem():
    """Raw ZMTP subscribers flooding the params socket with distinct
    subscriptions (libzmq keeps every one until the connection leaves):
    each connection is cut, the learner's memory stays flat, its loop does
    not stall when they leave, and a plain subscriber still gets snapshots."""
    lr = Learner("paramsmem")
    lr.status()
    r0 = rss_mb(lr.p.pid)
    conns = [socket.create_connection(("127.0.0.1", lr.port + 1))
             for _ in range(4)]
    for c in conns:
        c.settimeout(3)
        c.sendall(ZMTP_GREETING + ZMTP_READY)
    # Wait for the learner's greeting and READY: a frame sent before the
    # handshake ends is a protocol error and libzmq drops the connection
    # itself, before the guard under test sees it.
    for c in conns:
        got = b""
        while len(got) < 64 + 2 or len(got) < 64 + 2 + got[65]:
            part = c.recv(4096)
            if not part:
                break
            got += part
        check(len(got) >= 66 and got[64] == 0x04 and b"READY" in got[66:],
              "paramsmem: the learner completed the ZMTP handshake "
              "(%d bytes back)" % len(got))
    peak, t0 = r0, time.time()
    for k in range(20):          # up to 20 x 1000 subscriptions of 64 bytes
        for i, c in enumerate(conns):
            if c is None:
                continue
            try:
                c.sendall(b"".join(zmtp_frame(b"\x01" + os.urandom(63))
                                   for _ in range(1000)))
            except OSError:
                conns[i] = None
        peak = max(peak, rss_mb(lr.p.pid))
    # Connections are checked at least once a second (SWEEP_S in
    # learner/publish.c): one that sent its last frame just after a sweep is
    # cut by the next one, so wait up to three sweep periods.
    r, deadline = None, time.time() + 3.0
    while True:
        peak = max(peak, rss_mb(lr.p.pid))
        r = lr.status()
        if (r is not None and r["guards"].get("params_cut", 0) >= 4) or \
                time.time() > deadline:
            break
        time.sleep(0.2)
    check(r is not None and r["guards"].get("params_cut", 0) >= 4 and
          peak - r0 < 16,
          "paramsmem: 4 connections flooding distinct subscriptions cut "
          "(%s), the learner's memory +%.1f MB (%.1f s)" %
          (r and r["guards"].get("params_cut"), peak - r0, time.time() - t0))
    for c in conns:
        if c is not None:
            c.close()
    worst = 0.0
    for _ in range(5):
        t = time.time()
        r = lr.status(timeout_ms=5000)
        worst = max(worst, time.time() - t)
    check(r is not None and worst < 1.0,
          "paramsmem: no stall once they left (worst status %.3f s)" % worst)
    u = CTX.socket(zmq.SUB)
    u.setsockopt(zmq.LINGER, 0)
    u.setsockopt(zmq.SUBSCRIBE, b"")
    u.connect("tcp://127.0.0.1:%d" % (lr.port + 1))
    time.sleep(0.3)
    p = Peer(lr.port)
    p.join("pm1", 71)        # a Hello makes the learner resend its snapshot
    got = u.poll(3000)
    check(got, "paramsmem: a plain subscriber still gets snapshots")
    p.close()
    u.close()
    lr.stop()
# ---- data poisoning: a peer inside every bound (issue 24) ----

# A run that learns Pendulum in about 15 s here (measured: final evaluation
# -161..-172 over 4 runs, 10-17 s each on the shared 2-core machine).
# --guard-sigma 20, not the default 50: the drift's rewards creep past the
# honest range (Pendulum's rewards are <= 0) and at 50 the first warning
# (a fifth of it, 10 standard deviations: rewards near +35) comes after about
# 1000 of its rows; the agent returned to the checkpoint before that warning
# has trained on them, and 3 of 9 runs here (2026-12-06) ended below the
# clean run's range at 15k steps. At 20 (warning at 4: rewards near +14) the
# same guards act some 300 rows sooner. Honest rows lie 0.3 deviations out.
LEARN = ["--mode", "sac", "--pi-hidden", "64", "--q-hidden", "64", "--batch",
         "64", "--learning-starts", "500", "--steps", "15000", "--seed", "1",
         "--checkpoint-every", "1000", "--keep", "2", "--publish-every", "100",
         "--timeout-ms", "3000", "--guard-sigma", "20"]
POISON_AT = 3000   # env steps before the hostile peer joins (checkpoints
                   # written: the last known good one exists)


def pendulum_row(rnd):
    th, dth = rnd.uniform(-math.pi, math.pi), rnd.uniform(-8, 8)
    th2 = th + 0.05 * dth
    return ([math.cos(th), math.sin(th), dth], [rnd.uniform(-1, 1)],
            -rnd.uniform(0, 16), [math.cos(th2), math.sin(th2), dth])


def poisoned_rows(kind, k0, n, rnd):
    """n rows from the k0-th on: plausible states and actions, the poison
    inside every bound (|reward|, |obs| < 1e6)."""
    rows = []
    for k in range(k0, k0 + n):
        o, a, r, o2 = pendulum_row(rnd)
        if kind == "reward":
            r = 9.9e5
        elif kind == "obs":
            o, o2 = [o[0], o[1], 9e5], [o2[0], o2[1], 9e5]
        elif kind == "drift":     # 0.3% a row from honest rewards to 9.9e5
            r = min(9.9e5, -8.0 + 2.0 * 1.003 ** k)
        elif kind == "alternate":
            r = 9.9e5 if k % 2 else -9.9e5
        rows.append((o, a, r, o2))
    return rows


def evaluate(path):
    """(mean, min, max) of hpo-eval's 10 deterministic episodes of path."""
    r = subprocess.run([os.path.join(BUILD, "tools", "hpo-eval"), path,
                        "--episodes", "10"], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"mean=(\S+) std=\S+ min=(\S+) max=(\S+)", r.stdout)
    if r.returncode != 0 or not m:
        return None
    return tuple(float(x) for x in m.groups())


def learning_run(name, poison=None):
    """A learner and two real actors (fixed seeds) on Pendulum to 15000 env
    steps; with poison, a hostile peer joins at POISON_AT env steps and
    sends poisoned rows within its credit until the learner stops. Returns
    (learner, its last status, exit code)."""
    lr = Learner(name, *LEARN)
    lr.table = ""   # hpo-status's table once the peer is quarantined
    lr.sent_at_quarantine = None  # rows the peer had sent by then
    lr.updates_at_join = None     # the learner's updates when the peer joined
    lr.updates_at_trip = None     # and when a guard first warned or tripped
    acts = [actor(lr.port, "%s-a%d" % (name, i), "--seed", str(10 + i))
            for i in (1, 2)]
    p, k, rnd, last = None, 0, random.Random(7), None
    deadline = time.time() + 120
    while lr.p.poll() is None and time.time() < deadline:
        if p is None:
            r = lr.status(timeout_ms=500)
            last = r or last
            if poison and r and r["env_steps"] >= POISON_AT:
                lr.updates_at_join = r["updates"]
                p = Peer(lr.port)
                p.join("mallory", 66)
                hb = time.time()
            else:
                time.sleep(0.2)
            continue
        p.drain(0.02)
        if p.credit >= 16:
            n = min(p.credit, 64)
            p.send(batch(poisoned_rows(poison, k, n, rnd), inc=66,
                         seq=k // 64 + 1))
            p.credit -= n
            k += n
        if time.time() - hb > 0.2:
            p.send(heartbeat(66, 0))
            hb = time.time()
            r = lr.status(timeout_ms=500)
            last = r or last
            dg = r and r["data_guard"]
            if dg and lr.updates_at_trip is None and (
                    (dg["max_sigma_taken"] or 0) > dg["sigma"] / 5 or
                    r["guards"]["row_scale"] or r["guards"]["rollback"] or
                    dg["quarantined"]):
                lr.updates_at_trip = r["updates"]
            if r and r["data_guard"]["quarantined"] and not lr.table:
                lr.sent_at_quarantine = k
                lr.table = subprocess.run(
                    [STATUS, "127.0.0.1:%d" % lr.port, "--timeout-ms", "500"],
                    capture_output=True, text=True).stdout
    try:
        rc = lr.p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    for a in acts:
        a.kill()
        a.wait()
    if p:
        p.close()
    sanitizer_check(lr.name, lr.log())
    return lr, last, rc, k


def part_poisoning():
    """Four poisonings by a peer inside every bound, each against the same
    unpoisoned run (same seeds): the final evaluation stays inside its
    spread, the hostile peer is quarantined and named, and the last known
    good checkpoint (from before the first trip) is on disk and loads."""
    # Honest runs are not one outcome: the distributed run's timing moves
    # them (measured 2026-12-07, 15 clean runs: means -160 to -420, 2 of 15
    # near -400 with episodes down to -584; a guard-less run poisoned with
    # observations ended at -846, with rewards at -1473). So the range is
    # three clean runs' episodes, and a kind that falls outside it once runs
    # again: honest variance does not repeat, a broken guard does.
    base, r0, rc, _ = learning_run("clean")
    ref = evaluate(base.out)
    for i in (2, 3):
        more = ref and evaluate(learning_run("clean%d" % i)[0].out)
        if ref and more:
            ref = (ref[0], min(ref[1], more[1]), max(ref[2], more[2]))
    dg = (r0 or {}).get("data_guard", {})
    check(r0 is not None and r0["guards"]["row_scale"] == 0 and
          dg.get("quarantined") == [] and
          (dg.get("max_sigma_taken") or 0) < 10 and
          r0["last_known_good"] is None,
          "poisoning: honest actors trip no guard (largest deviation taken "
          "%s standard deviations)" % dg.get("max_sigma_taken"), r0)
    check(rc == 0 and ref is not None,
          "poisoning: the unpoisoned run ends (exit 0) and evaluates: %s" %
          (ref,), (rc, base.log()[-300:]))
    if ref is None:
        return
    lo, hi = ref[1], ref[2]
    for kind in ("reward", "obs", "drift", "alternate"):
        lr, r, rc, sent = learning_run("poison-" + kind, kind)
        got = evaluate(lr.out)
        if kind != "drift" and rc == 0 and got and not lo <= got[0] <= hi:
            print("poisoning %s: the final evaluation %.0f lies outside the "
                  "clean range [%.0f, %.0f]; once more" % (kind, got[0], lo, hi))
            lr, r, rc, sent = learning_run("poison-%s-2" % kind, kind)
            got = evaluate(lr.out)
        log = open(os.path.join(lr.out, "learner.log")).read()
        dg = (r or {}).get("data_guard", {})
        good = r and r.get("last_known_good")
        ev = good and os.path.exists(good) and evaluate(good)
        if kind != "drift":
            check(rc == 0 and got is not None and lo <= got[0] <= hi,
                  "poisoning %s: the final evaluation %s lies in the "
                  "unpoisoned runs' episode range [%.0f, %.0f] (mean %.0f)" %
                  (kind, got and round(got[0]), lo, hi, ref[0]),
                  (rc, got, log[-600:]))
        else:
            # A drift's rows below the warning level were trained on before
            # the last known good mark (docs/distributed.md, "the default's
            # price"): the agent returns to that checkpoint and learns on
            # from the cleaned buffer, but may end behind the clean run
            # (measured 2026-12-07 under load: 4 of 12 drift runs ended at
            # -319 to -606 where the clean run ends near -165, at 15k and
            # at 20k steps alike). What holds every time: the return itself,
            # and learning after it.
            check(rc == 0 and got is not None and bool(ev) and
                  "returned the agent to the last known good checkpoint" in log
                  and got[0] > ev[0],
                  "poisoning drift: the agent returned to the last known good "
                  "checkpoint (evaluation %s) and learned on to %s (the "
                  "unpoisoned run's episode range [%.0f, %.0f], mean %.0f)" %
                  (ev and round(ev[0]), got and round(got[0]), lo, hi, ref[0]),
                  (rc, got, ev, log[-600:]))
        check(sent > 0 and "mallory" in dg.get("quarantined", []) and
              "quarantined actor mallory" in log and
              "quarantined: mallory" in lr.table and
              r["guards"]["row_scale"] > 0,
              "poisoning %s: the peer (%d rows sent) is quarantined, named "
              "in the status (JSON and table) and learner.log; %d rows "
              "refused, %d evicted" %
              (kind, sent, r and r["guards"]["row_scale"] or 0,
               dg.get("rows_removed", 0)), (dg, r and r["guards"], lr.table))
        # a quarantined actor gets no more credit: past the quarantine it
        # can spend only what it held (two batches of 64 rows at most here;
        # it was granted thousands more before the fix)
        q = lr.sent_at_quarantine
        check(q is not None and sent - q <= 256,
              "poisoning %s: no credit after the quarantine (%s rows sent "
              "after it was seen)" % (kind, q is not None and sent - q))
        # from before the first warning or trip (checkpoint-<updates>.ckpt;
        # the status was seen every 0.2 s): a drift's first rows look
        # honest, so its checkpoint may come after the peer joined
        m = good and re.search(r"checkpoint-(\d+)\.ckpt$", good)
        at = m and int(m.group(1))
        check(bool(ev) and "last-known-good" in os.listdir(lr.out) and
              at is not None and lr.updates_at_trip is not None and
              at <= lr.updates_at_trip,
              "poisoning %s: the last known good checkpoint %s (update %s; "
              "the peer joined at update %s, the first warning or trip was "
              "seen at %s) is on disk and loads (evaluation %s)" %
              (kind, good and os.path.basename(good), at, lr.updates_at_join,
               lr.updates_at_trip, ev and round(ev[0])))


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


def serving(args, name):
    """A learner started with args (stderr in WORK/NAME.err) that answers
    hpo-status within 50 tries: the reply, or None when it does not."""
    port = free_port()
    p = subprocess.Popen([LEARNER] + SMALL + ["--port", str(port)] + args,
                         stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(WORK, name + ".err"), "w"))
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
    return st


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
    st = serving(["--bind", "localhost"], "bindname")
    check(st is not None, "cli: --bind localhost accepted and serving")
    # beyond loopback without CurveZMQ keys: refused unless --insecure
    for bind in ([], ["--bind", "0.0.0.0"]):
        r = subprocess.run([LEARNER] + SMALL + ["--port", str(free_port())] +
                           bind, capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and "--insecure" in r.stderr and
              "hpo-keygen" in r.stderr and "--curve-secret" in r.stderr,
              "cli: %s without keys refused, naming hpo-keygen and "
              "--insecure: %s" % (" ".join(bind) or "the default --bind *",
                                  r.stderr.strip()[:160]))
    st = serving(["--bind", "0.0.0.0", "--insecure"], "insecure")
    check(st is not None, "cli: --bind 0.0.0.0 --insecure starts and serves")


PARTS = {"poison": part_poison, "credits": part_credits,
         "identity": part_identity, "slots": part_slots, "logs": part_logs,
         "fairshare": part_fairshare, "keyshare": part_keyshare,
         "paramsmem": part_paramsmem,
         "checkpoints": part_checkpoints, "evals": part_evals,
         "metrics": part_metrics, "params": part_params,
         "datasock": part_datasock, "cli": part_cli,
         "poisoning": part_poisoning}


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
