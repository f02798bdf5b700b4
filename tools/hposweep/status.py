"""status - `hpo-sweep status DIR`: where each cell of the recorded grid
stands (or, for a search directory, each trial), without starting anything,
and about how many core-hours of runs are left."""

import fcntl
import os
import re
import statistics

from . import deadline as dl
from . import runs as rd
from .grid import expand, read_grid, split_list
from .run import env_steps_of, finished, has_checkpoint, other_sweeps, progress_of, unkilled
from .search import search_status
from .util import Usage


def cell_cost(d):
    """(seconds a finished cell took, "cpu" or "wall"): its process's CPU
    seconds from cpu.csv (what other work on the machine does not move) when
    the file covers the run from its start, else its wall-clock from
    progress.csv (resumes summed); None when neither is there."""
    pts = rd.read_cpu(d)
    # a cell started before hpo-sweep sampled CPU and resumed since has
    # samples only from its resume on, which would count just that part of
    # the run: every start written in its log must have its cpu.csv segment
    starts = sum(1 for line in rd.log_lines(d) if _START.match(line))
    if pts and starts and _count(os.path.join(d, "cpu.csv"), _SEGMENT) >= starts:
        return pts[-1][1], "cpu"
    w = progress_of(d).wall_s
    return (float(w), "wall") if w else None


_START = re.compile(r"# \d+\.\d+ \d{4}-\d\d-\d\d ")  # a run start in its log
_SEGMENT = re.compile(r"# segment ")  # a start sampled in cpu.csv


def _count(path, pattern):
    """Lines of path that start with pattern (0: no file)."""
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if pattern.match(line))
    except OSError:
        return 0


def step_costs(cells, out, budget, done, into=None):
    """{(env, mode, impl): [(seconds per env step, clock)]} of the finished
    cells (done: their names) of a sweep directory, added to into."""
    costs = {} if into is None else into
    for c in cells:
        if c["rel"] in done:
            got = cell_cost(os.path.join(out, c["rel"]))
            if got:
                costs.setdefault((c["env"], c["mode"], c["impl"]), []).append(
                    (got[0] / budget, got[1]))
    return costs


def remaining(cells, out, budget, done, others=None):
    """(seconds, clocks used, cells without a rate): what the unfinished
    cells still need, each at the median cost per env step of the finished
    cells of its environment, mode and implementation (CPU seconds where any
    of them has cpu.csv) here, else in others (step_costs of other sweeps),
    times the env steps it still has."""
    costs = step_costs(cells, out, budget, done)
    total, clocks, unknown = 0.0, set(), 0
    for c in cells:
        if c["rel"] in done:
            continue
        key = (c["env"], c["mode"], c["impl"])
        got = costs.get(key) or (others or {}).get(key)
        if not got:
            unknown += 1
            continue
        cpu = [v for v, k in got if k == "cpu"]
        vals = cpu or [v for v, _ in got]
        clocks.add("cpu" if cpu else "wall")
        left = max(0, budget - env_steps_of(os.path.join(out, c["rel"])))
        total += statistics.median(vals) * left
    return total, clocks, unknown


def done_cells(cells, out, budget):
    """The names of a grid's finished cells (a --kill-at cell that ran to its
    end unkilled is not)."""
    return {c["rel"] for c in cells
            if finished(os.path.join(out, c["rel"]), budget)
            and not unkilled(c, os.path.join(out, c["rel"]))}


def estimate_line(total, clocks, unknown, n_left, elsewhere=False):
    """The summary's estimate: "about N core-hours left (...)"; elsewhere:
    --costs-from sweeps were looked at too."""
    if n_left == 0:
        return ""
    if unknown == n_left:
        return "; no estimate of what is left (no finished cell of those settings yet)"
    how = {frozenset({"cpu"}): "CPU time of the finished cells",
           frozenset({"wall"}): "wall-clock of the finished cells",
           frozenset({"cpu", "wall"}): "the finished cells' CPU time, or wall-clock"}
    extra = f"; {unknown} cells with no finished cell to go by" if unknown else ""
    where = " here or in the --costs-from sweeps" if elsewhere else ""
    return (f"; about {total / 3600:.1f} core-hours left "
            f"({how[frozenset(clocks)]}{where}{extra})")


def status(argv):
    """`status DIR [--costs-from DIR,...] [--done]`: a line per cell of the
    recorded grid; cells with no finished sibling are estimated from the
    finished cells of the --costs-from sweeps. --done: only the finished
    cells' directories, one a line (what to commit of a sweep that grows)."""
    argv = list(argv)
    sources = []
    only_done = "--done" in argv
    if only_done:
        argv.remove("--done")
    if "--costs-from" in argv:
        i = argv.index("--costs-from")
        if i + 1 >= len(argv):
            raise Usage("status: --costs-from needs sweep directories (DIR,DIR...)")
        sources = split_list("--costs-from", argv[i + 1])
        del argv[i:i + 2]
    if len(argv) != 1 or argv[0].startswith("-"):
        raise Usage("status: which sweep directory? (hpo-sweep status DIR [--costs-from DIR,...] [--done])")
    out = argv[0]
    if not os.path.exists(os.path.join(out, "grid.json")) and \
            os.path.exists(os.path.join(out, "search.json")):
        if only_done:
            raise Usage(f"status --done: {out} is a search directory; its confirmation "
                        f"sweep ({out}-confirm) has cells")
        return search_status(out)
    grid = read_grid(out)
    cells, _ = expand(grid)
    if only_done:
        for rel in sorted(done_cells(cells, out, grid["steps"]),
                          key=[c["rel"] for c in cells].index):
            print(os.path.join(out, rel))
        return 0
    others = {}
    for d, steps, cs in other_sweeps(sources, out):
        step_costs(cs, d, steps, done_cells(cs, d, steps), others)
    rows, count, done = [], {}, set()
    held = dl.read_held(out)
    for c in cells:
        d = os.path.join(out, c["rel"])
        evals = progress_of(d).evals
        steps = env_steps_of(d)
        if finished(d, grid["steps"]) and unkilled(c, d):
            state = "stopped (ran to its end unkilled: --kill-at runs it again)"
        elif finished(d, grid["steps"]):
            state = "done"
            done.add(c["rel"])
        elif os.path.exists(os.path.join(d, ".lock")) and not _lock_free(d):
            state = "running"
        elif c["rel"] in held:
            secs, when, overrun = held[c["rel"]]
            state = (f"held (about {dl.span(secs)} to run: past its sweep's "
                     f"--deadline {dl.stamp(when)}"
                     + ("; starts then, --overrun)" if overrun else ")"))
        elif steps or has_checkpoint(d):
            state = "stopped" + ("" if has_checkpoint(d) else " (no checkpoint: restarts)")
        else:
            state = "not started"
        key = state.split(" (")[0]
        count[key] = count.get(key, 0) + 1
        rows.append(f"| {c['rel']} | {state} | {steps} | "
                    + (f"{evals[-1][1]:.0f} at {evals[-1][0]}" if evals else "") + " |")
    order = ["done", "running", "held", "stopped", "not started"]
    total, clocks, unknown = remaining(cells, out, grid["steps"], done, others)
    print(f"{out}: {len(cells)} cells, budget {grid['steps']} steps: "
          + ", ".join(f"{count[k]} {k}" for k in order if k in count)
          + estimate_line(total, clocks, unknown, len(cells) - len(done), bool(sources)))
    print("")
    print("| cell | state | env steps | last eval |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    return 0


def _lock_free(d):
    """True when no process holds DIR/.lock (checked and let go at once)."""
    try:
        with open(os.path.join(d, ".lock"), "r") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return True
    except FileNotFoundError:
        return True


