#!/usr/bin/python3
"""bench/params_flood.py - what a flood of subscriptions on the params
socket costs a learner (docs/distributed.md, "What each stage refuses").

    bench/params_flood.py BUILD_DIR PORT CONNS SUBS SIZE

Starts BUILD_DIR's hpo-learner (Pendulum, loopback, ports PORT..PORT+2),
opens CONNS raw ZMTP 3.0 connections (NULL mechanism, an XSUB) to its params
socket, each sending SUBS distinct random subscriptions of SIZE bytes, then
prints the learner's resident memory before and at its peak (and per
connection), and the slowest of five status requests once they left (a
stalled loop answers late). The learner is stopped at the end.
"""
import os
import socket
import struct
import subprocess
import sys
import time

build, port = sys.argv[1], int(sys.argv[2])
conns, subs, size = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
status = os.path.join(build, "tools", "hpo-status")
p = subprocess.Popen([os.path.join(build, "learner", "hpo-learner"), "--env",
                      "Pendulum", "--pi-hidden", "32", "--q-hidden", "32",
                      "--port", str(port), "--bind", "127.0.0.1"],
                     stderr=subprocess.DEVNULL)


def rss():
    with open("/proc/%d/status" % p.pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def status_s():
    t = time.time()
    subprocess.run([status, "127.0.0.1:%d" % port, "--json", "--timeout-ms",
                    "20000"], capture_output=True)
    return time.time() - t


def frame(body):
    return (b"\x00" + bytes([len(body)]) + body if len(body) < 256 else
            b"\x02" + struct.pack(">Q", len(body)) + body)


GREETING = (b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\0") +
            b"\0" * 32)
READY = b"\x05READY\x0bSocket-Type" + struct.pack(">I", 4) + b"XSUB"
READY = b"\x04" + bytes([len(READY)]) + READY

try:
    time.sleep(1.5)
    status_s()
    r0 = rss()
    socks = []
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port + 1))
        s.settimeout(5)
        s.sendall(GREETING + READY)
        socks.append(s)
    t0, peak = time.time(), r0
    for i in range(0, subs, 1000):
        for c, s in enumerate(socks):
            if s is None:
                continue
            blob = b"".join(frame(b"\x01" + os.urandom(size - 1))
                            for _ in range(min(1000, subs - i)))
            try:
                s.sendall(blob)
            except OSError:     # cut by the learner (or a 5 s timeout)
                socks[c] = None
        peak = max(peak, rss())
    end = time.time() + 3
    while time.time() < end:
        peak = max(peak, rss())
        time.sleep(0.2)
    print("conns=%d subs=%d size=%d rss_before_mb=%.0f rss_peak_mb=%.0f "
          "per_conn_mb=%.1f send_failed=%d send_s=%.1f" %
          (conns, subs, size, r0, peak, (peak - r0) / conns,
           sum(s is None for s in socks), time.time() - t0))
    for s in socks:
        if s is not None:
            s.close()
    print("after_close worst_status_s=%.3f rss_mb=%.0f" %
          (max(status_s() for _ in range(5)), rss()))
finally:
    p.terminate()
    p.wait()
