"""status - `hpo-sweep status DIR`: where each cell of the recorded grid
stands (or, for a search directory, each trial), without starting anything."""

import fcntl
import os

from .grid import expand, read_grid
from .run import env_steps_of, finished, has_checkpoint, progress_of, unkilled
from .search import search_status
from .util import Usage


def status(argv):
    """`status DIR`: a line per cell of the recorded grid."""
    if len(argv) != 1 or argv[0].startswith("-"):
        raise Usage("status: which sweep directory? (hpo-sweep status DIR)")
    out = argv[0]
    if not os.path.exists(os.path.join(out, "grid.json")) and \
            os.path.exists(os.path.join(out, "search.json")):
        return search_status(out)
    grid = read_grid(out)
    cells, _ = expand(grid)
    rows, count = [], {}
    for c in cells:
        d = os.path.join(out, c["rel"])
        evals = progress_of(d).evals
        steps = env_steps_of(d)
        if finished(d, grid["steps"]) and unkilled(c, d):
            state = "stopped (ran to its end unkilled: --kill-at runs it again)"
        elif finished(d, grid["steps"]):
            state = "done"
        elif os.path.exists(os.path.join(d, ".lock")) and not _lock_free(d):
            state = "running"
        elif steps or has_checkpoint(d):
            state = "stopped" + ("" if has_checkpoint(d) else " (no checkpoint: restarts)")
        else:
            state = "not started"
        key = state.split(" (")[0]
        count[key] = count.get(key, 0) + 1
        rows.append(f"| {c['rel']} | {state} | {steps} | "
                    + (f"{evals[-1][1]:.0f} at {evals[-1][0]}" if evals else "") + " |")
    order = ["done", "running", "stopped", "not started"]
    print(f"{out}: {len(cells)} cells, budget {grid['steps']} steps: "
          + ", ".join(f"{count[k]} {k}" for k in order if k in count))
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


