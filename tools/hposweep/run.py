"""run - runs a sweep: at most --jobs cells at once, each under its lock,
resumed from its checkpoint after a crash, with a live line on stderr."""

import fcntl
import fnmatch
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from . import runs as rd
from .grid import check_cell, check_grid, expand, resolve_config, setting_flags
from .util import PROG, Usage, die

HERE = None  # the directory of the hpo-sweep entry point (set by cli.main)


# ---- programs ----

def find_program(env_var, candidates):
    p = os.environ.get(env_var)
    if p:
        return p
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def hpo_train_path():
    p = rd.find_train(HERE)
    if not p:
        die("hpo-train not found: build it (ninja -C build) or set HPO_TRAIN")
    return os.path.realpath(p)


def torch_sac_path():
    for c in (os.environ.get("HPO_TORCH_SAC"),
              os.path.join(HERE, "..", "bench", "torch_sac.py"),
              os.path.join(HERE, "..", "share", "hpo", "torch_sac.py")):
        if c and os.path.isfile(c):
            return os.path.realpath(c)
    die("bench/torch_sac.py not found (set HPO_TORCH_SAC)")


def hpo_plot_path():
    p = find_program("HPO_PLOT", [os.path.join(HERE, "hpo-plot")])
    return p or shutil.which("hpo-plot")


# ---- a cell's state on disk ----

def progress_of(d):
    """The cell's Progress; an unreadable progress.csv reads as none."""
    try:
        return rd.read_progress(d)
    except (rd.RunError, OSError, ValueError):
        return rd.Progress()

def has_checkpoint(d):
    try:
        return any(re.fullmatch(r"checkpoint-\d+\.(ckpt|pt)", n) for n in os.listdir(d))
    except FileNotFoundError:
        return False


def finished(d, steps):
    evals = progress_of(d).evals
    return bool(evals) and evals[-1][0] >= steps


def env_steps_of(d):
    last = progress_of(d).last
    try:
        return int(last["env_steps"]) if last else 0
    except (KeyError, ValueError):
        return 0


# ---- running ----

class Run:
    def __init__(self, cell, proc, lockf, log):
        self.cell, self.proc, self.lockf, self.log = cell, proc, lockf, log
        self.moved = None  # (machine before, machine now) when it resumes elsewhere
        self.t0 = time.time()


def try_lock(d):
    """An open, exclusively flock'ed DIR/.lock, or None when another process holds it."""
    f = open(os.path.join(d, ".lock"), "a")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def command(cell, d, o, train, torch_sac):
    steps = ["--steps", str(o["steps"])]
    common = ["--checkpoint-every", str(o["checkpoint_every"]), "--keep", "2", "--quiet"]
    resume = has_checkpoint(d)
    if cell["impl"] == "c":
        head = [train]
        common.append("--checkpoint-replay")
    else:
        head = ["/usr/bin/python3", torch_sac, "--hpo-train", train]
    if resume:
        return head + ["--resume", d] + steps + common, True
    return head + ["--out", d] + setting_flags(cell) + steps + common, False


def clear_partial(d):
    """A run killed before its first checkpoint starts again from nothing."""
    for n in os.listdir(d):
        if n in ("cell.json", ".lock", "log"):
            continue
        p = os.path.join(d, n)
        if os.path.isdir(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def host_line():
    """The machine a run starts on, for its log. A seed's bits depend on the
    CPU (compiler target, vector width) and on OpenBLAS's kernel, so cells of
    one sweep run on different machines agree in distribution, not in bits;
    this line says which machine each run segment had."""
    model, ext = "unknown CPU", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = " ".join(val.split())
                elif key == "flags":
                    have = set(val.split())
                    ext = [x for x in ("avx2", "fma", "avx512f") if x in have]
                    break
    except OSError:
        pass
    core = os.environ.get("OPENBLAS_CORETYPE") or "not pinned"
    return (f"# host {os.uname().nodename}: {model}, {os.cpu_count()} cores,"
            f" {' '.join(ext) or 'no avx2'}; OPENBLAS_CORETYPE {core}")


def start(cell, o, train, torch_sac):
    d = os.path.join(o["out"], cell["rel"])
    lockf = try_lock(d)
    if lockf is None:
        return None
    if finished(d, o["steps"]):
        lockf.close()
        return "done"
    argv, resume = command(cell, d, o, train, torch_sac)
    if not resume:
        clear_partial(d)
    here = host_line()
    now = rd.machine_of(here)
    before = rd.machines(d) if resume else []
    log = open(os.path.join(d, "log"), "a")
    log.write(f"# {time.time():.3f} {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n"
              f"{here}\n")
    log.flush()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    # The run inherits the locked descriptor: the lock lives as long as the
    # run, also when this sweep is killed.
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, pass_fds=(lockf.fileno(),))
    run = Run(cell, proc, lockf, log)
    if before and before[-1] != now:
        run.moved = (before[-1], now)
    return run


class Live:
    """The live line: in place on a terminal, else a line every 30 s."""

    def __init__(self, quiet):
        self.quiet, self.tty = quiet, sys.stderr.isatty()
        self.last = 0.0

    def show(self, text, force=False):
        if self.quiet:
            return
        now = time.time()
        if self.tty:
            cols = shutil.get_terminal_size((120, 20)).columns
            sys.stderr.write("\r\033[K" + text[:cols - 1])
            sys.stderr.flush()
        elif force or now - self.last >= 30:
            print(text, file=sys.stderr, flush=True)
            self.last = now

    def say(self, text):
        if self.tty and not self.quiet:
            sys.stderr.write("\r\033[K")
        print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def sweep(o):
    train = hpo_train_path()
    torch_sac = torch_sac_path() if "torch" in o["impl"] else None
    grid = {k: o[k] for k in ("env", "mode", "seeds", "impl", "sets", "steps")}
    cells, skipped = expand(grid)
    if not cells:
        raise Usage("the grid has no cells (torch runs mode sac only)")
    # resolve every cell before touching DIR: a bad --set fails here
    configs = [resolve_config(train, c) for c in cells]
    # canonical env spelling names the directories
    for c, cfg in zip(cells, configs):
        m = re.search(r"^env = (.*)$", cfg, re.M)
        if m and m.group(1) != c["env"]:
            raise Usage(f"--env {c['env']}: write it as {m.group(1)}")
    if o["only"]:
        picked = [c for c in cells if any(fnmatch.fnmatchcase(c["rel"], g) for g in o["only"])]
        if not picked:
            raise Usage(f"--only {','.join(o['only'])}: no cell of the grid matches; its cells "
                        f"are named like {cells[0]['rel']} (<env>/<mode>-<impl>[-<set>]-s<seed>)")
    check_grid(o["out"], grid)
    for c, cfg in zip(cells, configs):
        check_cell(o["out"], c, cfg)
    if o["only"]:
        cells = picked

    live = Live(o["quiet"])
    live.say(f"{len(cells)} runs in {o['out']}, {o['jobs']} at once"
             + (f" (--only {','.join(o['only'])})" if o["only"] else "")
             + (f" ({skipped} torch cells of modes other than sac skipped)" if skipped else ""))
    stopping = {"sig": None}

    def on_signal(sig, _frame):
        stopping["sig"] = sig
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    pending = list(cells)
    running, failed, attempts, done, elsewhere = [], [], {}, set(), set()
    while pending or running:
        if stopping["sig"]:
            for r in running:
                if r.proc.poll() is None:
                    r.proc.send_signal(signal.SIGTERM)  # it checkpoints and exits
            for r in running:
                try:
                    r.proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    r.proc.kill()
                    r.proc.wait()
            live.say("interrupted: the runs saved checkpoints; the same command resumes")
            return 130
        # reap
        for r in list(running):
            rc = r.proc.poll()
            if rc is None:
                continue
            running.remove(r)
            r.lockf.close()
            r.log.close()
            d = os.path.join(o["out"], r.cell["rel"])
            rel = r.cell["rel"]
            if rc == 0 and finished(d, o["steps"]):
                done.add(rel)
                live.say(f"done {rel} ({time.time() - r.t0:.0f} s)")
                continue
            attempts[rel] = attempts.get(rel, 0) + 1
            if rc == 2 or attempts[rel] > o["retries"]:
                failed.append(rel)
                live.say(f"FAILED {rel} (exit {rc}): {rd.log_tail(d)}")
            else:
                live.say(f"{rel} ended with exit {rc}; resuming it (attempt {attempts[rel] + 1})")
                pending.insert(0, r.cell)
        # start
        elsewhere.clear()
        for c in list(pending):
            if len(running) + len(elsewhere) >= o["jobs"]:
                break
            r = start(c, o, train, torch_sac)
            if r == "done":
                pending.remove(c)
                done.add(c["rel"])
            elif r is None:
                elsewhere.add(c["rel"])  # a run left by a killed sweep: wait for it
            else:
                pending.remove(c)
                running.append(r)
                if r.moved:
                    live.say(f"{c['rel']} resumes on another kind of machine (it ran on "
                             f"{r.moved[0]}; now {r.moved[1]}): the same algorithm and "
                             f"settings, not the same bits; its report line is marked ‡")
        parts = [f"{len(done)}/{len(cells)} done"]
        if failed:
            parts.append(f"{len(failed)} failed")
        for r in running:
            d = os.path.join(o["out"], r.cell["rel"])
            parts.append(f"{r.cell['rel']} {env_steps_of(d) // 1000}k")
        for rel in sorted(elsewhere):
            parts.append(f"{rel} {env_steps_of(os.path.join(o['out'], rel)) // 1000}k (left running)")
        live.show(" · ".join(parts))
        if pending or running:
            time.sleep(0.5 if running else 2.0)
    if live.tty and not o["quiet"]:
        sys.stderr.write("\r\033[K")
    if failed:
        live.say("failed: " + ", ".join(failed) + " (their logs are DIR/<cell>/log)")
        return 1
    live.say(f"all {len(cells)} runs done"
             + (" that --only picked; without it the rest of the grid runs" if o["only"] else "")
             + f"; hpo-sweep report {o['out']}")
    return 0


