"""runs - the one reader of an hpo run directory, for hpo-sweep and hpo-plot.

A run directory (written by hpo-train, hpo-learner --out, or
bench/torch_sac.py) holds:
  config        lines `name = value`, with the dimension lines obs_dim/act_dim
  progress.csv  one row per training episode and evaluation; read by header
                name, never by position (the column schema may grow)
  log           the run's output; hpo-sweep writes `# <epoch> <date> <argv>`,
                `# host ...` and `# blas ...` (the OpenBLAS kernel) at the
                start of each segment
  cell.json     hpo-sweep's record of the cell (optional)
  cpu.csv       hpo-sweep's samples of the run's CPU seconds against env
                steps, `# segment` before each segment's (optional)

read_run(dir) gives a Run; group_runs(runs) the runs that differ only by seed
and budget (a setting an older build's config lacks counts as its value in
ADDED_SETTINGS); unread_settings(describe_settings(hpo-train), mode) what a mode
never reads (hpo-train's own table), so that labels can leave it out.
"""

import json
import math
import os
import shutil
import subprocess

# config lines that do not tell two runs' settings apart
DIMENSIONS = ("obs_dim", "act_dim")
PER_RUN = ("seed", "steps")

# Settings hpo-train gained after sweeps had begun, each with the value that
# computes what the builds before it did (and that hpo-train reads a config
# without it as): a run whose config lacks one of them is a run at this value,
# in the report's rows and in a sweep's check of its cells (grid.py), so that
# a newer build continues an older build's sweep and their runs share rows;
# any other value is another setting. A setting added with a default that
# changes what is computed does not belong here.
ADDED_SETTINGS = {"alpha-target": "base", "temper": "formula", "clip-grad": "zero",
                  "precision": "fp32"}


class RunError(Exception):
    """A run directory that cannot be read (missing config, no columns)."""


# ---- config ----

def read_config(d):
    """The run's config as an ordered dict name -> value, without the
    dimension lines; impl is "c" unless the config says otherwise (hpo-train
    writes no impl line, bench/torch_sac.py writes impl = torch, hpo-learner's
    run_id line makes it dist). Raises
    RunError when there is no config."""
    cfg = {}
    try:
        with open(os.path.join(d, "config")) as f:
            for line in f:
                k, eq, v = line.rstrip("\n").partition(" = ")
                if eq and k not in DIMENSIONS:
                    cfg[k] = v
    except FileNotFoundError:
        raise RunError(f"{d}: no config (not a run directory?)") from None
    # hpo-learner's config names its run (and its distributed settings): a
    # distributed run reads as impl dist, its run id as no setting
    if cfg.pop("run_id", None) is not None:
        cfg.setdefault("impl", "dist")
    cfg.setdefault("impl", "c")
    return cfg


def read_cell(d):
    """cell.json as a dict, or {} when the run was not made by hpo-sweep."""
    try:
        with open(os.path.join(d, "cell.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


# ---- progress.csv ----

class Progress:
    """progress.csv read by header name.

    evals     [(env_steps, eval_return, wall_s)] of the evaluation rows
    last      the last complete row (dict of column -> text), or None
    wall_s    the run's time over all its segments (float, or None)
    segments  wall seconds of each segment whose clock restarted (a resume by
              a build older than commit 1b5f4f9); one item when it never did
    repaired  True when a restarted clock was added back (len(segments) > 1)
    """

    def __init__(self):
        self.evals, self.last, self.segments = [], None, []
        self.wall_s, self.repaired = None, False


def read_progress(d):
    """The Progress of run directory d (empty when there is no progress.csv).

    wall_s runs on across resumes in builds from commit 1b5f4f9 on: a resume
    keeps the rows up to its checkpoint and continues the clock from the last
    one. Older builds (the frozen build of the sweeps in results/) restart it
    at zero: where wall_s falls, a new segment starts and the time up to the
    row before is added back, so wall_s (and evals' wall) is the sum of the
    segments; updates_per_s of the last row is then recomputed over the whole
    run. Raises RunError when the file lacks env_steps."""
    p = Progress()
    path = os.path.join(d, "progress.csv")
    try:
        f = open(path)
    except FileNotFoundError:
        return p
    with f:
        head = f.readline().rstrip("\n").split(",")
        if "env_steps" not in head:
            raise RunError(f"{path}: no env_steps column")
        offset, prev = 0.0, None
        for line in f:
            if not line.endswith("\n"):
                break  # a row being written
            row = dict(zip(head, line.rstrip("\n").split(",")))
            w = _float(row.get("wall_s"))
            if w is not None:
                if prev is not None and w + offset < prev:
                    p.segments.append(prev - sum(p.segments))
                    offset = prev
                w += offset
                prev = w
                row["wall_s"] = f"{w:.3f}"
            p.last = row
            r = _float(row.get("eval_return"))
            if r is not None:
                p.evals.append((int(row["env_steps"]), r, w if w is not None else math.nan))
    if prev is not None:
        p.wall_s = prev
        p.segments.append(prev - sum(p.segments))
        p.repaired = len(p.segments) > 1
        u = _float(p.last.get("updates")) if p.last else None
        if p.repaired and u and prev > 0:
            p.last["updates_per_s"] = f"{u / prev:.2f}"
    return p


def _float(text):
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


# ---- log ----

def machine_of(line):
    """The kind of machine a `# host` line names: everything but the host's
    name, which changes between nodes of one kind without changing a bit."""
    return line.split(": ", 1)[1].strip() if ": " in line else line.strip()


# A log line hpo-sweep writes when a run starts again from nothing (its
# starts before left no checkpoint, and their rows and cpu.csv are gone):
# what the log says above it is no part of the run.
RESTART = "# restarted from nothing:"


def log_lines(d):
    """The lines of the run's log that tell of the run it holds: those after
    the last RESTART line ([] when there is no log)."""
    try:
        with open(os.path.join(d, "log"), errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return []
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(RESTART):
            return lines[i + 1:]
    return lines


def _log_kinds(d, prefix, kind_of):
    """kind_of(line) of the run log's lines that start with prefix, in order,
    a repeat of the one before left out."""
    kinds = []
    for line in log_lines(d):
        if line.startswith(prefix):
            k = kind_of(line)
            if not kinds or kinds[-1] != k:
                kinds.append(k)
    return kinds


def machines(d):
    """The kinds of machine a run's segments ran on, in order, a repeat of the
    one before left out ([] for logs written before host lines)."""
    return _log_kinds(d, "# host ", machine_of)


def blas_kernels(d):
    """The OpenBLAS kernels named by the run's `# blas` log lines, in order,
    a repeat left out ([] for logs written before them)."""
    return _log_kinds(d, "# blas ", lambda line: line[len("# blas "):].strip())


def read_cpu(d):
    """CPU seconds against env steps from d/cpu.csv (hpo-sweep samples each
    run's process): [(env_steps, cumulative cpu_s)], rising in steps, as one
    uninterrupted run would have spent them. A segment after a resume starts
    at its checkpoint's step: it continues from the CPU the segments before
    had spent to reach that step, and their samples past it (work the resume
    redid) are dropped. [] when there is no file (older runs, dist cells)."""
    segs = []
    try:
        with open(os.path.join(d, "cpu.csv")) as f:
            for line in f:
                line = line.strip()
                if line.startswith("# segment"):
                    segs.append([])
                    continue
                parts = line.split(",")
                if len(parts) != 2 or not segs:
                    continue
                try:
                    segs[-1].append((int(parts[0]), float(parts[1])))
                except ValueError:
                    continue
    except OSError:
        return []
    pts = []
    for seg in segs:
        if not seg:
            continue
        if not pts:  # the first segment: from nothing
            pts, base, first = [(0, 0.0)], 0.0, 0.0
        else:
            base = cpu_at(pts, seg[0][0])
            base = pts[-1][1] if base is None else base
            pts = [p for p in pts if p[0] < seg[0][0]] or [(0, 0.0)]
            first = seg[0][1]  # the resume's own start-up is not the run's work
        for steps, cpu in seg:
            v = base + cpu - first
            if steps > pts[-1][0] and v >= pts[-1][1]:
                pts.append((steps, v))
    return pts if len(pts) > 1 else []


def cpu_at(pts, steps):
    """The CPU seconds at env step steps, linear between samples (and past the
    last one at the rate of the last two); None with fewer than two samples."""
    if len(pts) < 2:
        return None
    for (s0, c0), (s1, c1) in zip(pts, pts[1:]):
        if steps <= s1:
            return c0 + (c1 - c0) * (steps - s0) / (s1 - s0)
    (s0, c0), (s1, c1) = pts[-2], pts[-1]
    return c1 + (c1 - c0) * (steps - s1) / (s1 - s0)


def log_tail(d, n=3):
    """The last n lines of the run's log that hpo-sweep did not write."""
    try:
        with open(os.path.join(d, "log")) as f:
            lines = [l.rstrip() for l in f if l.strip() and not l.startswith("#")]
        return " | ".join(lines[-n:])
    except OSError:
        return "(no log)"


# ---- a run ----

class Run:
    """One run directory: dir, config (dict), evals, last, wall_s, segments,
    repaired (see Progress), cell (cell.json or {})."""

    def __init__(self, d, config, progress, cell):
        self.dir, self.config, self.cell = d, config, cell
        self.evals, self.last = progress.evals, progress.last or {}
        self.wall_s, self.segments = progress.wall_s, progress.segments
        self.repaired = progress.repaired

    @property
    def mode(self):
        return self.config.get("mode")

    @property
    def env(self):
        return self.config.get("env")

    @property
    def learning_starts(self):
        """Env steps of uniform random actions before the first update (0 if
        the config does not say)."""
        try:
            return int(float(self.config.get("learning-starts", "0")))
        except ValueError:
            return 0

    def settings_key(self):
        """What tells two runs' settings apart: the config without seed and
        budget (and the dimension lines), sorted by name; a setting of
        ADDED_SETTINGS the config lacks (an older build's) at its value there."""
        cfg = dict(ADDED_SETTINGS, **self.config)
        return tuple(sorted((k, v) for k, v in cfg.items() if k not in PER_RUN))


def read_run(d, need_config=True):
    """The Run in directory d. With need_config false a missing config reads
    as {impl: c} (a cell that has not started)."""
    try:
        cfg = read_config(d)
    except RunError:
        if need_config:
            raise
        cfg = {"impl": "c"}
    return Run(d, cfg, read_progress(d), read_cell(d))


def short(v):
    """A config value as a reader writes it: 0.000300000014 -> 0.0003; words stay."""
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return v


# ---- settings a mode never reads ----

_described = {}  # hpo-train path -> its --describe-settings --json, asked once


def find_train(here):
    """The hpo-train to run: $HPO_TRAIN, beside the entry point (installed, or
    the build dir), the source tree's build/tools, or PATH; None if none."""
    p = os.environ.get("HPO_TRAIN")
    if p:
        return p
    for c in (os.path.join(here, "hpo-train"), os.path.join(here, "..", "build", "tools", "hpo-train")):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return shutil.which("hpo-train")


def describe_settings(train):
    """hpo-train's table of settings, `hpo-train --describe-settings --json`:
    {"modes": [...], "settings": [{"name", "type", "modes", "help"}, ...]},
    where a setting's modes are those that read it. Raises RunError when
    hpo-train cannot say."""
    if train in _described:
        return _described[train]
    if not train:
        raise RunError("hpo-train not found (build it, or set HPO_TRAIN): it says which "
                       "settings each mode reads")
    try:
        r = subprocess.run([train, "--describe-settings", "--json"], capture_output=True,
                           text=True, timeout=60)
        d = json.loads(r.stdout) if r.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        raise RunError(f"{train} --describe-settings --json: {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("settings"), list):
        raise RunError(f"{train} --describe-settings --json: exit {r.returncode}, "
                       f"no settings table ({r.stderr.strip()[:200]})")
    _described[train] = d
    return d


def unread_settings(described, mode):
    """The settings mode never reads (a set of config names), from
    describe_settings()."""
    return {s["name"] for s in described["settings"] if mode not in s.get("modes", [mode])}


# ---- groups ----

def group_runs(runs):
    """{settings key: [runs]} in order of first appearance: runs whose configs
    differ only in seed and budget are one group."""
    groups = {}
    for r in runs:
        groups.setdefault(r.settings_key(), []).append(r)
    return groups


def varying_settings(keys, order=(), present_only=False):
    """The names whose values differ between groups' keys: those in order
    first (a config's names, in its order), then the others by name (seed and
    steps are never in a key). With present_only, a name counts only when
    two keys that have it differ (one key lacking it is no difference)."""
    names = [k for k in order if k not in PER_RUN]
    for key in keys:
        for k, _ in key:
            if k not in names:
                names.append(k)
    dicts = [dict(key) for key in keys]
    if present_only:
        return [k for k in names if len({d[k] for d in dicts if k in d}) > 1]
    return [k for k in names if len({d.get(k) for d in dicts}) > 1]


def labels(keys, label_of, described):
    """One label per key: label_of(dict(key), drop) with drop the settings its
    mode never reads (described: describe_settings()); a label that two keys
    share (they differ only in what their modes never read) is made again with
    nothing dropped."""
    short_ = [label_of(dict(k), unread_settings(described, dict(k).get("mode"))) for k in keys]
    return [lab if short_.count(lab) == 1 else label_of(dict(k), set())
            for k, lab in zip(keys, short_)]
