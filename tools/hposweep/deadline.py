"""deadline - `--deadline WHEN`: start no run that would not end before WHEN.

A machine lent for a few hours (a Slurm allocation's --time, a session that
ends every process) loses the part of a run that is cut off when nothing
keeps its checkpoints. With a deadline the sweep starts a cell only when its
estimated wall-clock to the end fits before it: the median wall seconds per
env step of the finished cells of the same settings, here or in the
--costs-from sweeps (the same cell name without its seed first, then the
same environment, mode and implementation), times the env steps still to
run, times MARGIN. A cell with no finished cell to go by starts. A cell that
does not fit is held: the next one that fits starts instead, and the sweep
ends (exit 3) when only held cells are left. While it runs, DIR/.held-<pid>
names its held cells for `hpo-sweep status` (and results/queue, which then
starts the next sweep beside it)."""

import datetime
import json
import os
import re
import statistics
import time

from .util import Usage, write_json

MARGIN = 1.1  # what a run takes beyond its peers' median: load, evaluations


def parse_deadline(text, now=None):
    """WHEN as epoch seconds: +N[smh] (from now), @EPOCH, or an ISO 8601 time
    (2026-12-07T18:30, with Z or an offset; without one, local time)."""
    now = time.time() if now is None else now
    m = re.fullmatch(r"\+(\d+(?:\.\d+)?)([smh]?)", text)
    if m:
        t = now + float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    elif re.fullmatch(r"@\d+(?:\.\d+)?", text):
        t = float(text[1:])
    else:
        try:
            d = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise Usage(f"--deadline: '{text}' is not a time (+2h, +90m, +600s, @EPOCH, or "
                        "ISO 8601 as 2026-12-07T18:30Z)") from None
        t = d.timestamp()
    if t <= now:
        raise Usage(f"--deadline {text}: {stamp(t)} is past (now {stamp(now)})")
    return t


def stamp(t):
    """An epoch time as UTC, to the minute."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%MZ")


def span(seconds):
    """A duration as a person reads it: seconds under ten minutes, else minutes."""
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


def group(rel):
    """A cell's name without its seed: the runs whose costs it shares."""
    return re.sub(r"-s\d+$", "", rel)


def kind(rel):
    """<env>/<mode>-<impl>: the same runs but for their settings."""
    env, _, cell = group(rel).partition("/")
    return env + "/" + "-".join(cell.split("-")[:2])


def rates(out, cells, steps, finished, progress_of):
    """{group: [wall seconds per env step]} of the finished cells of a sweep
    directory (cells: its expanded grid, steps: its budget)."""
    got = {}
    for c in cells:
        d = os.path.join(out, c["rel"])
        if not finished(d, steps):
            continue
        p = progress_of(d)
        try:
            n = int(p.last["env_steps"])
        except (KeyError, TypeError, ValueError):
            continue
        if p.wall_s and n > 0:
            got.setdefault(group(c["rel"]), []).append(p.wall_s / n)
    return got


class Estimate:
    """Wall seconds a cell still needs, from the finished cells of its own
    sweep (looked at again when one more is done) and of others."""

    def __init__(self, own, others, every=30.0):
        self.own, self.others = own, others  # callable -> rates; {group: [rates]}
        self.every, self.t, self.book = every, None, {}

    def rate(self, rel):
        now = time.monotonic()
        if self.t is None or now - self.t >= self.every:
            self.t, self.book = now, self.own()
        for key in (group, kind):
            for book in (self.book, self.others):
                vals = [v for g, vs in book.items() if key(g) == key(rel) for v in vs]
                if vals:
                    return statistics.median(vals)
        return None

    def seconds(self, rel, left):
        """Wall seconds for left env steps of cell rel; None: nothing to go by."""
        if left <= 0:
            return 0.0
        r = self.rate(rel)
        return None if r is None else r * left * MARGIN


def held_path(out):
    return os.path.join(out, f".held-{os.getpid()}")


def write_held(out, deadline, held, overrun=False):
    """DIR/.held-<pid>: this sweep's held cells and their estimates, and
    whether they start once the deadline has passed (--overrun)."""
    write_json(held_path(out), {"pid": os.getpid(), "deadline": deadline, "overrun": overrun,
                                "cells": {k: round(v) for k, v in sorted(held.items())}})


def clear_held(out):
    try:
        os.unlink(held_path(out))
    except FileNotFoundError:
        pass


def alive(pid):
    """True when pid is a process that is an hpo-sweep (a sweep killed with
    SIGKILL leaves its file behind, and its pid may be reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"hpo-sweep" in f.read()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: only whether the pid is there
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def read_held(out):
    """{rel: (seconds, deadline, overrun)} held by the sweeps of DIR that are
    alive."""
    got = {}
    try:
        names = os.listdir(out)
    except OSError:
        return got
    for n in names:
        m = re.fullmatch(r"\.held-(\d+)", n)
        if not m or not alive(int(m.group(1))):
            continue
        try:
            with open(os.path.join(out, n)) as f:
                rec = json.load(f)
            for rel, s in rec["cells"].items():
                got[rel] = (float(s), float(rec["deadline"]), rec.get("overrun") is True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # replaced or half-written: the next look reads it
    return got
