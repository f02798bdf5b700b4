"""run - runs a sweep: at most --jobs cells at once, each under its lock,
resumed from its checkpoint after a crash, with a live line on stderr."""

import ctypes
import fcntl
import fnmatch
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import deadline as dl
from . import runs as rd
from .grid import (cell_record, check_cell, check_grid, expand, read_grid, record_differs,
                   resolve_config, setting_flags)
from .slots import Slots
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


def deploy_local_path():
    """deploy/local of the source tree (impl dist), or $HPO_DEPLOY_LOCAL."""
    for c in (os.environ.get("HPO_DEPLOY_LOCAL"), os.path.join(HERE, "..", "deploy", "local")):
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.realpath(c)
    die("deploy/local not found (--impl dist runs from the source tree; set HPO_DEPLOY_LOCAL)")


def build_dir_of(train):
    """The build directory whose hpo-learner, hpo-actor and hpo-status a dist
    cell runs: $HPO_BUILD_DIR, or the one hpo-train was built in."""
    d = os.environ.get("HPO_BUILD_DIR") or os.path.dirname(os.path.dirname(train))
    for prog in ("learner/hpo-learner", "actor/hpo-actor", "tools/hpo-status"):
        if not os.access(os.path.join(d, prog), os.X_OK):
            die(f"{os.path.join(d, prog)} not found: build it (ninja -C {d}) or set HPO_BUILD_DIR")
    return os.path.realpath(d)


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
    def __init__(self, cell, proc, lockf, log, port=None, slotf=None):
        self.cell, self.proc, self.lockf, self.log = cell, proc, lockf, log
        self.slotf = slotf  # --slots: the slot's locked file, held as the cell lock is
        self.moved = None  # (machine before, machine now) when it resumes elsewhere
        self.t0 = time.time()
        self.port = port      # impl dist: the learner's first port (it binds 3)
        self.killed = False   # impl dist: --kill-at's SIGKILL hit this segment
        self.cpu_last = None  # (time, env steps) of the last cpu.csv line


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """User + system CPU seconds of process pid (all its threads), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
    try:
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (IndexError, ValueError):
        return None


def sample_cpu(r, d, force=False):
    """Appends "env_steps,cpu_s" to d/cpu.csv when the run's env steps moved by
    1000 or 5 s went by since its last line (force: at any new step, as when
    the run has just ended): the CPU time of this segment's
    process at that step (runs.read_cpu turns the segments into CPU seconds
    per env step, the clock a shared machine does not move). Not for dist
    cells, whose work is spread over several processes."""
    if r.cell["impl"] == "dist":
        return
    now = time.time()
    steps = env_steps_of(d)
    last = r.cpu_last
    if last is not None and (steps == last[1] or
                             (not force and steps - last[1] < 1000 and now - last[0] < 5)):
        return
    cpu = proc_cpu_s(r.proc.pid)
    if cpu is None:
        return
    try:
        with open(os.path.join(d, "cpu.csv"), "a") as f:
            if last is None:
                f.write(f"# segment {now:.3f} pid {r.proc.pid}\n")
            f.write(f"{steps},{cpu:.2f}\n")
    except OSError:
        return
    r.cpu_last = (now, steps)


def try_lock(d):
    """An open, exclusively flock'ed DIR/.lock, or None when another process holds it."""
    f = open(os.path.join(d, ".lock"), "a")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def command(cell, d, o, train, torch_sac, port=None):
    steps = ["--steps", str(o["steps"])]
    common = ["--checkpoint-every", str(o["checkpoint_every"]), "--keep", "2", "--quiet"]
    resume = has_checkpoint(d)
    if cell["impl"] == "dist":
        # deploy/local: the learner on 127.0.0.1:port..port+2, --actors data
        # actors and an evaluation actor; every flag it does not know goes to
        # hpo-learner, which takes hpo-train's settings (so the cell's config
        # is impl c's) and, on a resume, the same settings again with --resume
        # (the run directory is the --out deploy/local gives it, absolute: a
        # deploy/local before 2026-12-06 took a relative one from its own tree)
        argv = [deploy_local_path(), "--quiet", "--actors", str(cell["actors"]),
                "--port", str(port), "--out", os.path.abspath(d)] + setting_flags(cell) + steps + \
            ["--checkpoint-every", str(o["checkpoint_every"]), "--keep", "2",
             "--checkpoint-replay"]
        return argv + (["--resume"] if resume else []), resume
    if cell["impl"] == "c":
        head = [train]
        common.append("--checkpoint-replay")
    else:
        head = ["/usr/bin/python3", torch_sac, "--hpo-train", train]
    if resume:
        return head + ["--resume", d] + steps + common, True
    return head + ["--out", d] + setting_flags(cell) + steps + common, False


def clear_partial(d):
    """A run killed before its first checkpoint starts again from nothing:
    its files go but cell.json and the log, which says so below the starts
    that left nothing (runs.RESTART: the readers of the log skip them)."""
    gone = []
    for n in os.listdir(d):
        if n in ("cell.json", ".lock", "log"):
            continue
        p = os.path.join(d, n)
        if os.path.isdir(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)
        gone.append(n)
    log = os.path.join(d, "log")
    if rd.log_lines(d):
        with open(log, "a") as f:
            f.write(f"{rd.RESTART} the starts above left no checkpoint"
                    f"{' (removed: ' + ', '.join(sorted(gone)) + ')' if gone else ''}\n")


# ---- --from DIR: a cell continued from the same cell of another sweep ----

CHECKPOINT = re.compile(r"checkpoint-\d+\.ckpt")


def twins_of(o, cells, configs):
    """{rel: the same cell's directory in the --from sweep}, for the cells that
    have one there and no run of their own yet, checked before anything is
    touched: --from names another sweep directory, and every such twin is the
    same cell (its cell.json: identity and resolved configuration) at or below
    --steps."""
    src = o["from"]
    try:
        read_grid(src)
    except Usage as e:
        raise Usage(f"--from {e}") from None
    if os.path.realpath(src) == os.path.realpath(o["out"]):
        raise Usage(f"--from {src}: that is --out itself (the same command without --from "
                    f"continues a sweep)")
    twins = {}
    for c, cfg in zip(cells, configs):
        here = os.path.join(o["out"], c["rel"])
        if has_checkpoint(here) or finished(here, o["steps"]):
            continue  # its own run goes on: the twin is not read
        t = os.path.join(src, c["rel"])
        try:
            with open(os.path.join(t, "cell.json")) as f:
                have = json.load(f)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as e:
            raise Usage(f"--from {src}: {c['rel']}/cell.json unreadable ({e})") from None
        why = record_differs(have, cell_record(c, cfg), ("there", "here"))
        if why:
            raise Usage(f"--from {src}: {c['rel']} there is another cell than here ({why}); "
                        f"a run is continued only as itself")
        if env_steps_of(t) > o["steps"]:
            raise Usage(f"--from {src}: {c['rel']} there is at env step {env_steps_of(t)}, past "
                        f"this sweep's --steps {o['steps']}")
        twins[c["rel"]] = t
    return twins


def continue_from(twin, d):
    """Makes the cell d, which holds no checkpoint, a copy of its twin's run
    (the twin's lock held meanwhile; checkpoints hard-linked: a run replaces
    files, it never writes into one; the other files copied), so that d
    resumes the twin's run where it stands: with the replay buffer in the
    checkpoint and a budget that changes only the replay ring's capacity, the
    continued run is bit for bit the run a larger --steps would have made.
    Returns the env steps taken over, 0 when the twin has no checkpoint (d
    starts from nothing), None when the twin's run is going (wait for it)."""
    # the twin's lock, opened for reading: DIR is only read (no .lock: no run
    # of hpo-sweep's has held it, none holds it now)
    try:
        lock = open(os.path.join(twin, ".lock"))
    except FileNotFoundError:
        lock = None
    if lock is not None:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
    try:
        if not has_checkpoint(twin):
            return 0
        clear_partial(d)  # a start here that left nothing: marked void in its log
        logs = []
        for where in (d, twin):  # this cell's void starts, then the twin's run
            try:
                with open(os.path.join(where, "log"), errors="replace") as f:
                    logs.append(f.read())
            except FileNotFoundError:
                pass
        for n in sorted(os.listdir(twin)):
            src, dst = os.path.join(twin, n), os.path.join(d, n)
            if n in ("cell.json", ".lock", "log") or n.endswith(".tmp") or \
                    not os.path.isfile(src):
                continue
            if CHECKPOINT.fullmatch(n):
                try:
                    os.link(src, dst)
                    continue
                except OSError:
                    pass  # another file system: a copy
            shutil.copyfile(src, dst)
        steps = env_steps_of(d)
        with open(os.path.join(d, "log"), "w") as f:
            f.write("".join(logs) + f"# continued from {twin} at env step {steps} "
                    f"(hpo-sweep --from, {time.time():.3f}, "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        return steps
    finally:
        if lock is not None:
            lock.close()


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


_BLAS_PROBE = (
    "import ctypes\n"
    "lib = ctypes.CDLL('libopenblas.so.0')\n"
    "lib.openblas_get_corename.restype = ctypes.c_char_p\n"
    "lib.openblas_get_config.restype = ctypes.c_char_p\n"
    "print(lib.openblas_get_corename().decode(), '(' + lib.openblas_get_config().decode() + ')')\n")
_blas = {}


def blas_line():
    """The OpenBLAS kernel a run will get (the library's own pick, or the one
    OPENBLAS_CORETYPE forces), for its log beside the host line; a line of
    its own, so that machine_of, which compares host lines, stays as it was.
    Asked of the library in a child process (one thread), once per sweep."""
    key = os.environ.get("OPENBLAS_CORETYPE", "")
    if key not in _blas:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        try:
            r = subprocess.run([sys.executable, "-c", _BLAS_PROBE], env=env, capture_output=True,
                               text=True, timeout=30)
            got = r.stdout.strip() if r.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired):
            got = ""
        _blas[key] = (f"# blas OpenBLAS kernel {got}" if got
                      else "# blas (OpenBLAS not found: kernel unknown)")
    return _blas[key]


# ---- impl dist: ports, the learner, the cell's processes ----

PORT_LO, PORT_HI = 20000, 32000  # below Linux's ephemeral range (32768-60999)


def port_free(p):
    """True when 127.0.0.1:p can be bound now (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
    return True


def free_ports(taken):
    """A first port P with P, P+1 and P+2 free on loopback and none of them in
    taken (ports this sweep's starting learners may not have bound yet); from
    a random place, so that two sweeps on one machine rarely try the same.
    A learner that loses a race for them anyway fails to bind (exit 1) and is
    retried on others."""
    n = (PORT_HI - PORT_LO) // 3
    first = random.randrange(n)
    for i in range(n):
        p = PORT_LO + 3 * ((first + i) % n)
        trio = (p, p + 1, p + 2)
        if not taken.intersection(trio) and all(port_free(x) for x in trio):
            return p
    die(f"no three free loopback ports in {PORT_LO}-{PORT_HI}")


def _dist_child():
    """In a dist cell's deploy/local, before exec: SIGTERM when the sweep
    dies, even by SIGKILL (deploy/local then stops its learner, which saves a
    checkpoint, and its actors); its own process group (the sweep ends any
    straggler with it)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def learner_pids(pgid):
    """The hpo-learner processes of the process group pgid (a dist cell's)."""
    out = []
    for n in os.listdir("/proc"):
        if not n.isdigit():
            continue
        try:
            with open(f"/proc/{n}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()
        if comm == "hpo-learner" and int(rest[2]) == pgid and rest[0] != "Z":
            out.append(int(n))
    return out


def end_group(r):
    """SIGKILL to whatever is left of a dist cell's process group."""
    if r.cell["impl"] == "dist":
        try:
            os.killpg(r.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_marker(d):
    return os.path.join(d, "killed")


def last_env_steps(d):
    """env_steps of progress.csv's last complete row, read from the file's
    head and tail only (the sweep asks ten times a second); 0 when none."""
    try:
        with open(os.path.join(d, "progress.csv"), "rb") as f:
            head = f.readline().decode(errors="replace").rstrip("\n").split(",")
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 8192))
            tail = f.read().decode(errors="replace")
    except OSError:
        return 0
    if "env_steps" not in head:
        return 0
    rows = tail.split("\n")[:-1]  # the text after the last newline is a row being written
    for line in reversed(rows):
        cols = line.split(",")
        if len(cols) == len(head):
            try:
                return int(cols[head.index("env_steps")])
            except ValueError:
                continue
    return 0


def unkilled(cell, d):
    """True for a --kill-at cell whose learner was never killed (no marker)."""
    return bool(cell.get("kill_at")) and not os.path.exists(kill_marker(d))


def maybe_kill(r, o, live):
    """--kill-at: once the cell's learner is at its env step (progress.csv's
    last row, a row a second), SIGKILL it (not its actors: deploy/local sees
    its learner gone and stops them). DIR/<cell>/killed records it, so the
    resumed run is not killed again; a run started afresh (no checkpoint)
    loses the file with the rest and is killed again at the same step."""
    k = r.cell.get("kill_at") or 0
    d = os.path.join(o["out"], r.cell["rel"])
    if not k or r.killed or os.path.exists(kill_marker(d)):
        return
    steps = last_env_steps(d)
    # not before a checkpoint: a kill with nothing to resume from would
    # start the cell afresh, to be killed again at the same step
    if steps < k or not has_checkpoint(d):
        return
    pids = learner_pids(r.proc.pid)
    if not pids:
        return
    for p in pids:
        os.kill(p, signal.SIGKILL)
    r.killed = True
    ckpts = sorted(int(m.group(1)) for m in
                   (re.fullmatch(r"checkpoint-(\d+)\.ckpt", n) for n in os.listdir(d)) if m)
    note = (f"kill -9 of hpo-learner (pid {','.join(map(str, pids))}) at env step {steps} "
            f"(--kill-at {k}); newest checkpoint: {ckpts[-1] if ckpts else 'none'} updates")
    with open(kill_marker(d), "w") as f:
        f.write(f"{time.time():.3f} {time.strftime('%Y-%m-%d %H:%M:%S')} {note}\n")
    r.log.write(f"# {note}\n")
    r.log.flush()
    live.say(f"{r.cell['rel']}: {note}; resuming it")


def start(cell, o, train, torch_sac, taken=frozenset()):
    d = os.path.join(o["out"], cell["rel"])
    lockf = try_lock(d)
    if lockf is None:
        return None
    if finished(d, o["steps"]):
        if not unkilled(cell, d):
            lockf.close()
            return "done"
        clear_partial(d)  # a --kill-at cell that ran to its end unkilled: afresh
    twin = o.get("twins", {}).get(cell["rel"])
    if twin and not has_checkpoint(d):
        got = continue_from(twin, d)
        if got is None:
            lockf.close()
            return "wait"
        if finished(d, o["steps"]):
            lockf.close()
            return "done"
    slot = o["slot_pool"].take() if o.get("slot_pool") else True
    if slot is None:
        lockf.close()
        return "slot"
    slotf = slot if slot is not True else None
    port = free_ports(taken) if cell["impl"] == "dist" else None
    argv, resume = command(cell, d, o, train, torch_sac, port)
    if not resume:
        clear_partial(d)
    here = host_line()
    now = rd.machine_of(here)
    before = rd.machines(d) if resume else []
    log = open(os.path.join(d, "log"), "a")
    log.write(f"# {time.time():.3f} {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n"
              f"{here}\n{blas_line()}\n")
    log.flush()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    extra = {}
    if cell["impl"] == "dist":
        env.update(HPO_NO_BUILD="1", HPO_BUILD_DIR=build_dir_of(train))
        extra = {"start_new_session": True, "preexec_fn": _dist_child}
    # The run inherits the locked descriptors (the cell's, the slot's): the
    # locks live as long as the run, also when this sweep is killed (a dist
    # cell's processes all hold them, and end with the sweep).
    fds = (lockf.fileno(),) + ((slotf.fileno(),) if slotf else ())
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, pass_fds=fds, **extra)
    run = Run(cell, proc, lockf, log, port, slotf)
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
    if "dist" in o["impl"]:
        deploy_local_path()
        build_dir_of(train)
        grid.update(actors=o["actors"], kill_at=o["kill_at"])
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
    if o["from"]:
        o["twins"] = twins_of(o, cells, configs)
    est = estimate(o, cells)
    check_grid(o["out"], grid)
    for c, cfg in zip(cells, configs):
        check_cell(o["out"], c, cfg)
    if o["only"]:
        cells = picked

    o["slot_pool"] = Slots(o["slots"][0], o["slots"][1], o["slot_rank"]) if o["slots"] else None
    live = Live(o["quiet"])
    twins = sum(c["rel"] in o.get("twins", {}) for c in cells)
    live.say(f"{len(cells)} run{'s' if len(cells) != 1 else ''} in {o['out']}, {o['jobs']} at once"
             + (f" (--only {','.join(o['only'])})" if o["only"] else "")
             + (f" ({skipped} torch cells of modes other than sac skipped)" if skipped else "")
             + (f"; {twins} of them continue{'s' if twins == 1 else ''} the same cell's run in "
                f"{o['from']} where it has a checkpoint" if o["from"] else ""))
    stopping = {"sig": None}

    def on_signal(sig, _frame):
        stopping["sig"] = sig
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        return run_cells(o, cells, train, torch_sac, live, stopping, est)
    finally:
        dl.clear_held(o["out"])
        if o["slot_pool"]:
            o["slot_pool"].settle(False)


def estimate(o, cells):
    """--deadline's Estimate: own rates from the grid's finished cells (looked
    at again at most every 30 s), others' from the --costs-from sweeps; None
    without --deadline."""
    if o["costs_from"] and not o["deadline"]:
        raise Usage("--costs-from: only with --deadline (it gives the estimates a deadline needs)")
    if o["overrun"] and not o["deadline"]:
        raise Usage("--overrun: only with --deadline (it starts the cells held for one once it has passed)")
    if not o["deadline"]:
        return None
    return dl.Estimate(lambda: dl.rates(o["out"], cells, o["steps"], finished, progress_of),
                       costs_of(o["costs_from"], o["out"]))


def other_sweeps(dirs, own):
    """(directory, budget, cells) of each sweep directory in dirs but own
    (--costs-from); one that is no sweep is refused (Usage)."""
    for d in dirs:
        if os.path.abspath(d) != os.path.abspath(own):
            g = read_grid(d)
            yield d, g["steps"], expand(g)[0]


def costs_of(dirs, own):
    """{group: [wall seconds per env step]} of the finished cells of the
    other sweeps in dirs."""
    others = {}
    for d, steps, cells in other_sweeps(dirs, own):
        for k, v in dl.rates(d, cells, steps, finished, progress_of).items():
            others.setdefault(k, []).extend(v)
    return others


def steps_left(d, steps):
    """Env steps a cell still has to run: none when finished, from its last
    row when it has a checkpoint to resume from, else all of them."""
    if finished(d, steps):
        return 0
    return max(0, steps - env_steps_of(d)) if has_checkpoint(d) else steps


def run_cells(o, cells, train, torch_sac, live, stopping, est):
    # the cells finished before this sweep are counted done from the start
    # (start() would say so only once it reached each in turn, so a grown
    # sweep's live line showed "16/100 done" where 58 were)
    done = {c["rel"] for c in cells if finished(os.path.join(o["out"], c["rel"]), o["steps"])
            and not unkilled(c, os.path.join(o["out"], c["rel"]))}
    pending = [c for c in cells if c["rel"] not in done]
    running, failed, attempts, elsewhere, held = [], [], {}, {}, {}
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
                end_group(r)
            live.say("interrupted: the runs saved checkpoints; the same command resumes")
            return 130
        for r in running:
            # a run that ended is looked at once more before poll() reaps it:
            # its /proc entry still holds the CPU it spent to its last step
            try:
                ended = os.waitid(os.P_PID, r.proc.pid,
                                  os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                ended = True
            sample_cpu(r, os.path.join(o["out"], r.cell["rel"]), force=ended)
            if r.proc.poll() is None:
                maybe_kill(r, o, live)
        # reap
        for r in list(running):
            rc = r.proc.poll()
            if rc is None:
                continue
            running.remove(r)
            end_group(r)
            r.lockf.close()
            if r.slotf:
                r.slotf.close()
            r.log.close()
            d = os.path.join(o["out"], r.cell["rel"])
            rel = r.cell["rel"]
            if rc == 0 and finished(d, o["steps"]) and unkilled(r.cell, d):
                # the learner's rows come a second apart: a run fast enough
                # to pass its --kill-at step and end between two looks
                attempts[rel] = attempts.get(rel, 0) + 1
                if attempts[rel] > o["retries"]:
                    failed.append(rel)
                    live.say(f"FAILED {rel}: ran to its end before its learner was seen at "
                             f"--kill-at {r.cell['kill_at']}")
                else:
                    live.say(f"{rel} ran to its end before its learner was seen at --kill-at "
                             f"{r.cell['kill_at']}; starting it again")
                    pending.insert(0, r.cell)
                continue
            if rc == 0 and finished(d, o["steps"]):
                done.add(rel)
                live.say(f"done {rel} ({time.time() - r.t0:.0f} s)")
                continue
            if r.killed:
                pending.insert(0, r.cell)  # --kill-at's kill: resumed, no attempt spent
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
        no_slot = False
        # --overrun: once the deadline has passed, what it held starts
        overrun = est is not None and o["overrun"] and time.time() >= o["deadline"]
        if overrun and held:
            live.say(f"the deadline {dl.stamp(o['deadline'])} has passed: the {len(held)} held "
                     "cell(s) start (--overrun); a run cut off resumes from its last checkpoint "
                     "when the same command runs again")
            held.clear()
            dl.write_held(o["out"], o["deadline"], held, o["overrun"])
        for c in list(pending):
            if len(running) + len(elsewhere) >= o["jobs"]:
                break
            if est and not overrun:
                left = est.seconds(c["rel"], steps_left(os.path.join(o["out"], c["rel"]), o["steps"]))
                if left is not None and time.time() + left > o["deadline"]:
                    if c["rel"] not in held:
                        live.say(f"held {c['rel']}: about {dl.span(left)} to run, past the "
                                 f"deadline {dl.stamp(o['deadline'])}"
                                 + ("; it starts then (--overrun)" if o["overrun"] else ""))
                        held[c["rel"]] = left
                        dl.write_held(o["out"], o["deadline"], held, o["overrun"])
                    continue
                if held.pop(c["rel"], None) is not None:  # its peers ran faster than thought
                    dl.write_held(o["out"], o["deadline"], held, o["overrun"])
            taken = {r.port + i for r in running if r.port for i in range(3)}
            r = start(c, o, train, torch_sac, taken)
            if r == "slot":
                no_slot = True  # every shared slot is taken: again at the next look
                break
            if r == "done":
                pending.remove(c)
                done.add(c["rel"])
            elif r is None:
                elsewhere[c["rel"]] = "left running"  # by a killed sweep: wait for it
            elif r == "wait":
                elsewhere[c["rel"]] = f"waits for its --from run, going in {o['from']}"
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
            parts.append(f"{rel} {env_steps_of(os.path.join(o['out'], rel)) // 1000}k "
                         f"({elsewhere[rel]})")
        if o.get("slot_pool"):
            o["slot_pool"].settle(no_slot)
        if no_slot:
            parts.append(f"waits for one of the {o['slots'][1]} slots in {o['slots'][0]}"
                         + (f" (rank {o['slot_rank']}: sweeps of a smaller rank first)"
                            if o["slot_rank"] is not None else ""))
        if held:
            parts.append(f"{len(held)} held for the deadline"
                         + (f" (they start at {dl.stamp(o['deadline'])}: --overrun)"
                            if o["overrun"] else ""))
        live.show(" · ".join(parts))
        if (not running and not elsewhere and pending and all(c["rel"] in held for c in pending)
                and not o["overrun"]):
            if live.tty and not o["quiet"]:
                sys.stderr.write("\r\033[K")
            live.say(f"{len(done)}/{len(cells)} done; {len(held)} held: none of them would end "
                     f"before the deadline {dl.stamp(o['deadline'])} (" + ", ".join(
                         f"{rel} about {dl.span(s)}" for rel, s in sorted(held.items()))
                     + "); the same command with a later --deadline, or none, runs them")
            return 3
        if pending or running:
            # a --kill-at cell not yet killed is looked at more often
            watch = any(r.cell.get("kill_at") and not r.killed for r in running)
            time.sleep(0.1 if watch else 0.5 if running else 2.0)
    if live.tty and not o["quiet"]:
        sys.stderr.write("\r\033[K")
    if failed:
        live.say("failed: " + ", ".join(failed) + " (their logs are DIR/<cell>/log)")
        return 1
    live.say(f"{'all ' if len(cells) > 1 else ''}{len(cells)} run{'s' if len(cells) != 1 else ''} done"
             + (" that --only picked; without it the rest of the grid runs" if o["only"] else "")
             + f"; hpo-sweep report {o['out']}")
    return 0


