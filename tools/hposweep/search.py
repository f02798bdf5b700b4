"""search - a settings search for one environment (issue 21's presets that
earn their cost): Optuna's TPE sampler proposes settings, each trial trains
on a few seeds in rungs of env steps, and a median pruner stops a trial whose
rung falls below the median of the trials before it at the same rung.

  hpo-sweep search --out DIR --env ENV [--mode hpo] [--seeds 1,2]
                   [--rungs 30000,100000] [--trials N] [--window W]
                   [--space NAME=LO:HI[:log] | NAME=V1,V2,... ...]
                   [--set NAME=VALUE ...] [--jobs N] [--report-only]
                   [--deadline WHEN [--costs-from DIR,...]]

A trial's objective is the mean over its seeds of each run's mean evaluation
return in the last --window env steps up to the rung (default 20000; Hopper's
return swings between single evaluations). Each seed's run is an hpo-train run
directory DIR/<env>/t-<hash>-s<seed> (the hash names the trial's settings),
checkpointed with its replay buffer, so a rung continues the run where the
previous rung stopped (hpo-train --resume) and a search killed at any moment
continues from the checkpoints: the same command again picks up, and a trial
that was running is run again from its checkpoints under the same settings.

The study lives in DIR/study.journal (Optuna's journal file: no database); the
search's arguments in DIR/search.json (another space, environment or rung list
is refused; --trials may grow). The sampler's seed is fixed (20211202, plus the
number of trials already in the study when a search continues), so the same
search on the same results proposes the same settings. DIR/search.md
(also printed) ranks the trials, with their settings, value at each rung,
state, wall-clock and CPU seconds (each run's process, sampled into its
cpu.csv as a sweep does), and the command that confirms the best settings on
fresh seeds (never the search's: a search's best is biased upward by the
selection; only fresh seeds give its real value).

--deadline WHEN (as a sweep's: +3h, @EPOCH, 2026-12-07T18:15Z) starts no
trial that would not end before WHEN: a whole trial (every seed to the last
rung, --jobs at a time) is estimated at the median wall seconds per env step
of the search's runs, else of the finished cells of the same environment and
mode in the --costs-from sweeps, times 1.1 (nothing to go by: it starts). The
search then ends with exit 3 and the same command continues it; a trial under
way is never cut by it.

Defaults: --mode hpo, --seeds 1,2, --rungs 30000,100000, --trials 24, and the
space std-tr=0.05:2:log, std-exp=0.05:2:log, eps=0.02:0.5:log, K=1,2,3,5.
"""

import fcntl
import hashlib
import json
import math
import os
import subprocess
import sys
import time

from . import deadline as dl
from . import runs as rd
from . import run
from .grid import parse_seeds, plain_name, positive_int, resolve_config, split_list
from .report import fmt_k, window_mean
from .util import PROG, Usage, write_json, write_text

SAMPLER_SEED = 20211202
DEFAULT_SPACE = ["std-tr=0.05:2:log", "std-exp=0.05:2:log", "eps=0.02:0.5:log", "K=1,2,3,5"]


def parse_space(item):
    """NAME=LO:HI[:log] (a float range) or NAME=V1,V2 (choices, kept as text):
    (name, spec dict)."""
    name, eq, rest = item.partition("=")
    if not eq or not name or not rest:
        raise Usage(f"--space: '{item}' is not NAME=LO:HI[:log] or NAME=V1,V2,...")
    if ":" in rest:
        parts = rest.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise Usage(f"--space: '{item}': a range is LO:HI or LO:HI:log")
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            raise Usage(f"--space: '{item}': LO and HI must be numbers") from None
        if not lo < hi or (len(parts) == 3 and lo <= 0):
            raise Usage(f"--space: '{item}': needs LO < HI (and LO > 0 for :log)")
        return name, {"low": lo, "high": hi, "log": len(parts) == 3}
    return name, {"choices": split_list("--space", rest)}


def parse_search_args(argv):
    o = {"out": None, "env": None, "mode": "hpo", "seeds": [1, 2], "rungs": [30000, 100000],
         "trials": 24, "window": 20000, "space": [], "sets": [], "jobs": None,
         "report_only": False, "deadline": None, "costs_from": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a == "--report-only":
            o["report_only"] = True
            i += 1
            continue
        if a not in ("--out", "--env", "--mode", "--seeds", "--rungs", "--trials", "--window",
                     "--space", "--set", "--jobs", "--deadline", "--costs-from"):
            raise Usage(f"search: unexpected argument '{a}'")
        if i + 1 >= len(argv):
            raise Usage(f"search: {a} needs a value")
        v = argv[i + 1]
        i += 2
        if a in ("--out", "--env", "--mode"):
            o[a[2:]] = v
        elif a == "--seeds":
            o["seeds"] = parse_seeds(v)
        elif a == "--rungs":
            o["rungs"] = [positive_int(a, x) for x in split_list(a, v)]
            if o["rungs"] != sorted(set(o["rungs"])):
                raise Usage(f"--rungs: '{v}' must grow (e.g. 30000,100000)")
        elif a in ("--trials", "--window", "--jobs"):
            o[a[2:]] = positive_int(a, v)
        elif a == "--space":
            o["space"].append(parse_space(v))
        elif a == "--deadline":
            o["deadline"] = dl.parse_deadline(v)
        elif a == "--costs-from":
            o["costs_from"] = split_list(a, v)
        else:
            name, eq, val = v.partition("=")
            if not eq or not name or not val:
                raise Usage(f"--set: '{v}' is not NAME=VALUE")
            o["sets"].append([name, val])
    if not o["out"] or not o["env"]:
        raise Usage("search needs --out DIR and --env ENV")
    if not plain_name(o["env"]):
        raise Usage(f"--env: '{o['env']}' is not an environment name")
    if not o["space"]:
        o["space"] = [parse_space(x) for x in DEFAULT_SPACE]
    names = [n for n, _ in o["space"]] + [n for n, _ in o["sets"]]
    if len(set(names)) != len(names):
        raise Usage("search: a setting is named twice among --space and --set")
    if o["jobs"] is None:
        o["jobs"] = min(len(o["seeds"]), os.cpu_count() or 1)
    if o["costs_from"] and not o["deadline"]:
        raise Usage("--costs-from: only with --deadline (it gives the estimates a deadline needs)")
    return o


def trial_seconds(o):
    """--deadline's estimate: a callable giving the wall seconds of a whole
    trial (None: nothing to go by), from the search's own runs (looked at
    again at most every 30 s) or the --costs-from sweeps."""
    kind = f"{o['env']}/{o['mode']}-c"
    others = run.costs_of(o["costs_from"], o["out"])

    def own():
        got = []
        root = os.path.join(o["out"], o["env"])
        for n in os.listdir(root) if os.path.isdir(root) else []:
            p = run.progress_of(os.path.join(root, n))
            try:
                steps = int(p.last["env_steps"])
            except (KeyError, TypeError, ValueError):
                continue
            if p.wall_s and steps >= o["rungs"][0]:
                got.append(p.wall_s / steps)
        return {kind: got} if got else {}
    est = dl.Estimate(own, others)
    batches = math.ceil(len(o["seeds"]) / o["jobs"])

    def seconds():
        s = est.seconds(f"{kind}-s0", o["rungs"][-1])
        return None if s is None else s * batches
    return seconds


def recorded(o):
    """What search.json holds: what the results depend on (not --trials/--jobs)."""
    return {"env": o["env"], "mode": o["mode"], "seeds": o["seeds"], "rungs": o["rungs"],
            "window": o["window"], "space": [[n, s] for n, s in o["space"]], "sets": o["sets"],
            "version": 1}


def check_recorded(out, o):
    path = os.path.join(out, "search.json")
    want = recorded(o)
    try:
        with open(path) as f:
            have = json.load(f)
    except FileNotFoundError:
        write_json(path, want)
        return
    except ValueError:
        raise Usage(f"{path}: not JSON; move it away to start a new search") from None
    if have != want:
        diff = [k for k in want if have.get(k) != want[k]]
        raise Usage(f"{out} holds another search (differs in: {', '.join(diff)}); "
                    "give the same arguments, or another --out")


def trial_key(params):
    text = json.dumps(params, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def run_dir(o, params, seed):
    return os.path.join(o["out"], o["env"], f"t-{trial_key(params)}-s{seed}")


def fmt_param(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def train_argv(train, o, params, seed, rung, d):
    tail = ["--steps", str(rung), "--checkpoint-every", "5000", "--checkpoint-replay",
            "--keep", "2", "--quiet"]
    if run.has_checkpoint(d):
        return [train, "--resume", d] + tail
    run.clear_partial(d)  # killed before its first checkpoint: from nothing
    flags = ["--env", o["env"], "--mode", o["mode"], "--seed", str(seed)]
    for n, v in o["sets"]:
        flags += [f"--{n}", v]
    for n, v in sorted(params.items()):
        flags += [f"--{n}", fmt_param(v)]
    return [train, "--out", d] + flags + tail


def reached(d, rung):
    ev = rd.read_progress(d).evals if os.path.isdir(d) else []
    return bool(ev) and ev[-1][0] >= rung


class RunFailed(Exception):
    pass


def run_rung(train, o, params, rung):
    """Trains every seed of a trial to rung, --jobs at a time."""
    todo = [s for s in o["seeds"] if not reached(run_dir(o, params, s), rung)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    while todo:
        batch, todo = todo[:o["jobs"]], todo[o["jobs"]:]
        procs = []
        for s in batch:
            d = run_dir(o, params, s)
            os.makedirs(d, exist_ok=True)
            # the run inherits the lock: a run left behind by a killed search
            # is waited for, never joined by a second one
            lockf = open(os.path.join(d, ".lock"), "a")
            fcntl.flock(lockf.fileno(), fcntl.LOCK_EX)
            if reached(d, rung):
                lockf.close()
                continue
            argv = train_argv(train, o, params, s, rung, d)
            log = open(os.path.join(d, "log"), "a")
            log.write(f"# {time.time():.3f} {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n")
            log.flush()
            procs.append((d, subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, env=env,
                                               pass_fds=(lockf.fileno(),)), log, lockf))
        # the CPU each run's process spends against its env steps (cpu.csv),
        # sampled as a sweep does, the last time from the ended process
        watched = [(d, _Watched(p)) for d, p, _, _ in procs]
        while watched:
            for d, w in list(watched):
                try:
                    ended = os.waitid(os.P_PID, w.proc.pid,
                                      os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
                except ChildProcessError:
                    ended = True
                run.sample_cpu(w, d, force=ended)
                if ended:
                    watched.remove((d, w))
            if watched:
                time.sleep(0.5)
        for d, p, log, lockf in procs:
            rc = p.wait()
            log.close()
            lockf.close()
            if rc != 0 or not reached(d, rung):
                raise RunFailed(f"{d}: hpo-train exited {rc} before {rung} steps (see its log)")


class _Watched:
    """What run.sample_cpu reads of a run: its process and last sample."""

    def __init__(self, proc):
        self.proc, self.cell, self.cpu_last = proc, {"impl": "c"}, None


def objective_at(o, params, rung):
    """Mean over the seeds of each run's window mean at rung."""
    vals = []
    for s in o["seeds"]:
        ev = rd.read_progress(run_dir(o, params, s)).evals
        v = window_mean(ev, rung, o["window"])
        if v is None:
            raise RunFailed(f"{run_dir(o, params, s)}: no evaluation in the window up to {rung}")
        vals.append(v)
    return sum(vals) / len(vals)


def suggest(trial, space):
    params = {}
    for name, spec in space:
        if "choices" in spec:
            params[name] = trial.suggest_categorical(name, spec["choices"])
        else:
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
    return params


def wall_of(o, params):
    total = 0.0
    for s in o["seeds"]:
        w = rd.read_progress(run_dir(o, params, s)).wall_s if os.path.isdir(run_dir(o, params, s)) else None
        total += w or 0.0
    return total


def cpu_of(o, params):
    """CPU seconds of the trial's runs (their cpu.csv), None if one has none."""
    total = 0.0
    for s in o["seeds"]:
        pts = rd.read_cpu(run_dir(o, params, s))
        if not pts:
            return None
        total += pts[-1][1]
    return total


def open_study(o):
    import warnings

    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # the journal file is "experimental" in Optuna 3.1, Debian 12's; it is
    # what keeps a study without a database server
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = optuna.storages.JournalStorage(
        optuna.storages.JournalFileStorage(os.path.join(o["out"], "study.journal")))
    had = len(optuna.create_study(study_name="search", storage=storage, direction="maximize",
                                  load_if_exists=True).trials)
    # the sampler's stream starts again in each process: seeded by the
    # trials already there, a continued search proposes new settings instead
    # of repeating the first ones (and the same history gives the same ones)
    return optuna.create_study(
        study_name="search", storage=storage, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=SAMPLER_SEED + had, n_startup_trials=8),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0))


def requeue_stale(study):
    """Trials left RUNNING by a search that was killed: failed, and their
    settings queued again (their run directories resume)."""
    from optuna.trial import TrialState
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params)
            print(f"{PROG}: trial {t.number} was cut off; its settings run again from their checkpoints",
                  file=sys.stderr)


def search_report(o, study):
    from optuna.trial import TrialState
    rows = []
    for t in study.trials:
        if not t.params:
            continue
        vals = t.intermediate_values
        rows.append((t.value if t.state == TrialState.COMPLETE else None, t, vals))
    rows.sort(key=lambda r: (r[0] is None, -(r[0] or 0), r[1].number))
    names = [n for n, _ in o["space"]]
    head = (["trial", "state"] + names + [f"at {fmt_k(r)}" for r in o["rungs"]]
            + ["wall s", "CPU s"])
    lines = [f"# Search: {o['env']}, mode {o['mode']}, seeds {','.join(map(str, o['seeds']))}",
             "", f"Objective: mean over the seeds of the mean evaluation return over the last "
             f"{o['window']} env steps up to each rung; TPE sampler (seed {SAMPLER_SEED}), "
             "median pruner.", ""]
    if o["sets"]:
        lines += ["Fixed: " + ", ".join(f"{n} = {v}" for n, v in o["sets"]), ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for value, t, vals in rows:
        state = {TrialState.COMPLETE: "done", TrialState.PRUNED: "pruned",
                 TrialState.FAIL: "failed", TrialState.RUNNING: "running"}.get(t.state, str(t.state))
        cells = [str(t.number), state] + [fmt_param(t.params.get(n, "")) for n in names]
        cells += [f"{vals[r]:.0f}" if r in vals else "" for r in o["rungs"]]
        cells.append(f"{wall_of(o, t.params):.0f}")
        cpu = cpu_of(o, t.params)
        cells.append("" if cpu is None else f"{cpu:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    done = [r for r in rows if r[0] is not None]
    if done:
        best = done[0][1]
        sets = " ".join(f"--set {n}={v}" for n, v in o["sets"])
        sets += " " + " ".join(f"--set {n}={fmt_param(v)}" for n, v in sorted(best.params.items()))
        lines += ["", f"Best: trial {best.number}, {best.value:.0f} at {fmt_k(o['rungs'][-1])}. "
                  "Its value is biased upward by the selection; confirm it on fresh seeds:", "",
                  "```", f"hpo-sweep --out {o['out']}-confirm --env {o['env']} --mode {o['mode']},sac "
                  f"--seeds 101-105 --steps {o['rungs'][-1]} {sets.strip()}",
                  f"hpo-sweep report {o['out']}-confirm --compare {o['mode']}:sac", "```"]
    return "\n".join(lines) + "\n"


def search(argv):
    o = parse_search_args(list(argv))
    train = run.hpo_train_path()
    # the environment and the fixed settings, as hpo-train reads them, before
    # anything is written (a bad --env or --set is refused here, not by a
    # failed first trial)
    resolve_config(train, {"rel": f"{o['env']} (search)", "env": o["env"], "mode": o["mode"],
                           "seed": o["seeds"][0], "setting": list(o["sets"])})
    trial_s = trial_seconds(o) if o["deadline"] else None  # a bad --costs-from: refused here
    os.makedirs(o["out"], exist_ok=True)
    lock = open(os.path.join(o["out"], ".search.lock"), "a")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Usage(f"{o['out']}: another search is running there") from None
    check_recorded(o["out"], o)
    try:
        import optuna
    except ImportError:
        print(f"{PROG}: search needs Optuna (Debian: apt-get install python3-optuna)", file=sys.stderr)
        return 1
    study = open_study(o)
    held = []  # the estimate of the trial --deadline did not start
    if not o["report_only"]:
        requeue_stale(study)

        def objective(trial):
            params = suggest(trial, o["space"])
            value = None
            for rung in o["rungs"]:
                run_rung(train, o, params, rung)
                value = objective_at(o, params, rung)
                trial.report(value, rung)
                if rung != o["rungs"][-1] and trial.should_prune():
                    raise optuna.TrialPruned()
            return value

        ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

        def left():
            return o["trials"] - len(study.get_trials(deepcopy=False, states=ended))

        def late():
            """With --deadline, a next trial that would end past it goes into held."""
            s = trial_s() if trial_s else None
            if s is not None and time.time() + s > o["deadline"]:
                held.append(s)
            return bool(held)

        def stop_when_late(study, _trial):
            if left() > 0 and late():
                study.stop()
        if left() > 0 and not late():
            study.optimize(objective, n_trials=left(), catch=(RunFailed,),
                           callbacks=[stop_when_late])
    text = search_report(o, study)
    write_text(os.path.join(o["out"], "search.md"), text)
    print(text, end="")
    if held:
        print(f"{PROG}: {left()} trials left: the next (about {dl.span(held[-1])}) would end "
              f"past the deadline {dl.stamp(o['deadline'])}; the same command continues the "
              "search", file=sys.stderr)
        return 3
    return 0


def search_status(out):
    """`status DIR` of a search directory: its ranking as search.md has it,
    each trial's state read from the study (a trial left running by a search
    that is no longer alive is said to be cut off), nothing started."""
    path = os.path.join(out, "search.json")
    try:
        with open(path) as f:
            rec = json.load(f)
        o = {"out": out, "env": rec["env"], "mode": rec["mode"], "seeds": rec["seeds"],
             "rungs": rec["rungs"], "window": rec["window"], "sets": rec["sets"],
             "space": [(n, spec) for n, spec in rec["space"]]}
    except ValueError:
        raise Usage(f"status: {path}: not JSON") from None
    except (KeyError, TypeError):
        raise Usage(f"status: {path} lacks a field a search writes (env, mode, seeds, rungs, "
                    "window, space, sets)") from None
    if not plain_name(str(o["env"])):
        raise Usage(f"status: {path}: env '{o['env']}' is not an environment name")
    if not os.path.exists(os.path.join(out, "study.journal")):
        print(f"{out}: search of {o['env']}: no trial has run yet")
        return 0
    try:
        import optuna  # noqa: F401
    except ImportError:
        print(f"{PROG}: status of a search needs Optuna (Debian: apt-get install python3-optuna)",
              file=sys.stderr)
        return 1
    from optuna.trial import TrialState
    alive = False
    try:
        with open(os.path.join(out, ".search.lock"), "a") as lk:
            try:
                fcntl.flock(lk.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lk.fileno(), fcntl.LOCK_UN)
            except BlockingIOError:
                alive = True
    except OSError:
        pass
    study = open_study(o)
    trials = study.get_trials(deepcopy=False)
    count = {}
    for t in trials:
        k = {TrialState.COMPLETE: "done", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running" if alive else "cut off"}.get(t.state, "waiting")
        count[k] = count.get(k, 0) + 1
    print(f"{out}: search of {o['env']}, {len(trials)} trials: "
          + ", ".join(f"{count[k]} {k}" for k in ("done", "pruned", "running", "cut off",
                                                  "failed", "waiting") if k in count)
          + ("" if alive else " (no search is running on it)"))
    print("")
    print(search_report(o, study), end="")
    return 0


CONFIRM_USAGE = ("hpo-sweep confirm SEARCH_DIR [--seeds 101-105] [--trials N] [--jobs N] [--out DIR] "
                 "[--deadline WHEN [--costs-from DIR,...] [--overrun]]")


def parse_confirm_args(argv):
    o = {"search": None, "seeds": list(range(101, 106)), "trials": None, "jobs": None, "out": None,
         "deadline": None, "costs-from": None, "overrun": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(confirm.__doc__.strip())
            sys.exit(0)
        if a == "--overrun":
            o["overrun"] = True
            i += 1
            continue
        if a in ("--seeds", "--trials", "--jobs", "--out", "--deadline", "--costs-from"):
            if i + 1 >= len(argv):
                raise Usage(f"confirm: {a} needs a value")
            v = argv[i + 1]
            i += 2
            if a == "--seeds":
                o["seeds"] = parse_seeds(v)
            elif a in ("--out", "--deadline", "--costs-from"):
                o[a[2:]] = v  # the sweep's own parser checks them
            else:
                o[a[2:]] = positive_int(a, v)
            continue
        if a.startswith("-") or o["search"] is not None:
            raise Usage(f"confirm: unexpected argument '{a}' ({CONFIRM_USAGE})")
        o["search"] = a
        i += 1
    if o["search"] is None:
        raise Usage(f"confirm: which search? ({CONFIRM_USAGE})")
    return o


def confirm(argv):
    """`confirm SEARCH_DIR`: the best settings of a finished search run on
    fresh seeds beside SAC, as a sweep (resumable like any other).

      hpo-sweep confirm SEARCH_DIR [--seeds 101-105] [--trials N] [--jobs N]
                        [--out DIR] [--deadline WHEN [--costs-from DIR,...] [--overrun]]

    Reads SEARCH_DIR/search.json and its study, takes the trial with the best
    value at the last rung, and runs the sweep its search.md names: --out
    SEARCH_DIR-confirm, the search's environment, modes <mode>,sac, --seeds
    (default 101-105; none of the search's own: its best is biased upward by
    the selection), --steps the last rung, the search's --set and the best
    trial's settings. Refused (exit 2, nothing run) while a trial is running
    or was cut off, when no trial is complete, when --trials N is given and
    fewer than N trials have ended (the search is not finished: run its own
    command again), and when a fresh seed is one of the search's. The same
    command again resumes the sweep; a search that later finds another best
    gives another grid, which the sweep refuses. --deadline, --costs-from and
    --overrun are the sweep's (hpo-sweep --help)."""
    c = parse_confirm_args(list(argv))
    path = os.path.join(c["search"], "search.json")
    try:
        with open(path) as f:
            rec = json.load(f)
    except FileNotFoundError:
        raise Usage(f"confirm: {c['search']} is not a search (no search.json); "
                    "give the --out of an hpo-sweep search") from None
    except ValueError:
        raise Usage(f"confirm: {path}: not JSON") from None
    if not os.path.exists(os.path.join(c["search"], "study.journal")):
        raise Usage(f"confirm: {c['search']} has no study.journal: the search has not run a trial")
    try:
        o = {"out": c["search"], "env": rec["env"], "mode": rec["mode"], "seeds": rec["seeds"],
             "rungs": rec["rungs"], "sets": rec["sets"]}
    except (KeyError, TypeError):
        raise Usage(f"confirm: {path} lacks env, mode, seeds, rungs or sets") from None
    both = sorted(set(c["seeds"]) & set(o["seeds"]))
    if both:
        raise Usage(f"confirm: seed(s) {','.join(map(str, both))} are the search's own; "
                    "confirm on fresh seeds (--seeds 101-105)")
    try:
        import optuna
    except ImportError:
        print(f"{PROG}: confirm needs Optuna (Debian: apt-get install python3-optuna)", file=sys.stderr)
        return 1
    from optuna.trial import TrialState
    study = open_study(o)
    trials = study.get_trials(deepcopy=False)
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    if running:
        raise Usage(f"confirm: trial(s) {','.join(map(str, running))} of {c['search']} are running "
                    "or were cut off; finish the search first (its own command again)")
    ended = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if c["trials"] is not None and len(ended) < c["trials"]:
        raise Usage(f"confirm: {c['search']} has {len(ended)} ended trials, fewer than --trials "
                    f"{c['trials']}; finish the search first (its own command again)")
    done = [t for t in ended if t.state == TrialState.COMPLETE]
    if not done:
        raise Usage(f"confirm: {c['search']} has no complete trial yet")
    best = max(done, key=lambda t: (t.value, -t.number))
    args = ["--out", c["out"] or c["search"].rstrip("/") + "-confirm", "--env", o["env"],
            "--mode", f"{o['mode']},sac", "--seeds", ",".join(map(str, c["seeds"])),
            "--steps", str(o["rungs"][-1])]
    for n, v in o["sets"]:
        args += ["--set", f"{n}={v}"]
    for n, v in sorted(best.params.items()):
        args += ["--set", f"{n}={fmt_param(v)}"]
    if c["jobs"] is not None:
        args += ["--jobs", str(c["jobs"])]
    for flag in ("deadline", "costs-from"):
        if c[flag] is not None:
            args += [f"--{flag}", c[flag]]
    if c["overrun"]:
        args.append("--overrun")
    print(f"{PROG}: confirm: trial {best.number} of {c['search']} ({best.value:.0f} at "
          f"{fmt_k(o['rungs'][-1])}, {len(ended)} trials ended): hpo-sweep {' '.join(args)}",
          file=sys.stderr)
    from .grid import parse_sweep_args
    return run.sweep(parse_sweep_args(args, confirm.__doc__))
