"""grid - the sweep's command line, its grid of cells, and the records that
keep a directory to one grid (DIR/grid.json) and each cell to one resolved
configuration (its cell.json)."""

import json
import os
import re
import subprocess
import sys

from .deadline import parse_deadline
from .runs import ADDED_SETTINGS
from .util import Usage, die, write_json

GRID_VERSION = 1

# c: hpo-train; torch: bench/torch_sac.py; dist: deploy/local (hpo-learner,
# --actors hpo-actors and an evaluation actor)
IMPLS = ("c", "torch", "dist")


# ---- the command line ----

def split_list(flag, text):
    items = [x.strip() for x in text.split(",")]
    if not text or any(not x for x in items):
        raise Usage(f"{flag}: empty item in '{text}' (a comma-separated list)")
    if len(set(items)) != len(items):
        raise Usage(f"{flag}: repeated item in '{text}'")
    return items


def parse_seeds(text):
    seeds = []
    for part in split_list("--seeds", text):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise Usage(f"--seeds: bad item '{part}' (numbers and ranges, e.g. 1-3,7)")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo or hi - lo > 1000:
            raise Usage(f"--seeds: bad range '{part}'")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise Usage(f"--seeds: a seed is listed twice in '{text}'")
    return seeds


def positive_int(flag, text, minimum=1):
    try:
        v = int(text)
    except ValueError:
        raise Usage(f"{flag}: '{text}' is not a whole number") from None
    if v < minimum:
        raise Usage(f"{flag}: {v} is below {minimum}")
    return v


def parse_sweep_args(argv, doc):
    """The options of a sweep command line; --help prints doc and exits."""
    o = {"out": None, "env": None, "mode": ["hpo"], "seeds": [1], "steps": None,
         "sets": [], "impl": ["c"], "jobs": os.cpu_count() or 1,
         "checkpoint_every": 5000, "retries": 2, "quiet": False, "only": None,
         "actors": None, "kill_at": None, "from": None, "slots": None,
         "slot_rank": None,
         "deadline": None, "costs_from": [], "overrun": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(doc)
            sys.exit(0)
        if a in ("--quiet", "--overrun"):
            o[a[2:]] = True
            i += 1
            continue
        name, eq, val = a.partition("=")
        if not name.startswith("--"):
            raise Usage(f"unexpected argument '{a}'")
        if not eq:
            if i + 1 >= len(argv):
                raise Usage(f"{name} needs a value")
            val = argv[i + 1]
            i += 1
        i += 1
        if name == "--out":
            o["out"] = val
        elif name == "--env":
            o["env"] = split_list(name, val)
            for e in o["env"]:
                if not plain_name(e):
                    raise Usage(f"--env: '{e}' is not an environment name (letters, digits, . _ + -)")
        elif name == "--mode":
            o["mode"] = split_list(name, val)
        elif name == "--seeds":
            o["seeds"] = parse_seeds(val)
        elif name == "--steps":
            o["steps"] = positive_int(name, val)
        elif name == "--impl":
            o["impl"] = split_list(name, val)
            for x in o["impl"]:
                if x not in IMPLS:
                    raise Usage(f"--impl: unknown implementation '{x}' ({', '.join(IMPLS)})")
        elif name == "--jobs":
            o["jobs"] = positive_int(name, val)
        elif name == "--checkpoint-every":
            o["checkpoint_every"] = positive_int(name, val)
        elif name == "--actors":
            o["actors"] = positive_int(name, val)
        elif name == "--kill-at":
            o["kill_at"] = [positive_int(name, x, 0) for x in split_list(name, val)]
        elif name == "--only":
            o["only"] = split_list(name, val)
        elif name == "--from":
            o["from"] = val
        elif name == "--slots":
            path, colon, n = val.rpartition(":")
            if not colon or not path:
                raise Usage(f"--slots: '{val}' is not DIR:N (a directory of run slots that "
                            f"sweeps sharing these cores share, and how many runs go at once)")
            o["slots"] = (path, positive_int("--slots", n))
        elif name == "--slot-rank":
            o["slot_rank"] = positive_int(name, val, 0)
        elif name == "--deadline":
            o["deadline"] = parse_deadline(val)
        elif name == "--costs-from":
            o["costs_from"] = split_list(name, val)
        elif name == "--retries":
            o["retries"] = positive_int(name, val, 0)
        elif name == "--set":
            sname, seq, svals = val.partition("=")
            if not seq or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", sname):
                raise Usage(f"--set: '{val}' is not NAME=V1,V2")
            own = {"env": "--env", "mode": "--mode", "seed": "--seeds", "steps": "--steps",
                   "threads": "(one per run)"}.get(sname.replace("_", "-"))
            if own:
                raise Usage(f"--set {sname}: the sweep sets it itself: {own}")
            for v in split_list(f"--set {sname}", svals):
                if not re.fullmatch(r"[A-Za-z0-9_.+-]+", v):
                    raise Usage(f"--set {sname}: value '{v}' may only hold letters, digits and . _ + -")
            if any(s[0] == sname for s in o["sets"]):
                raise Usage(f"--set {sname} given twice")
            o["sets"].append([sname, split_list(f"--set {sname}", svals)])
        else:
            raise Usage(f"unknown flag '{name}'")
    if not o["out"]:
        raise Usage("no output directory (--out DIR)")
    if not o["env"]:
        raise Usage("no environment (--env E1,E2)")
    if not o["steps"]:
        raise Usage("no budget (--steps N)")
    if o["slot_rank"] is not None and not o["slots"]:
        raise Usage("--slot-rank: only with --slots DIR:N (it orders the sweeps that share them)")
    if o["from"] and o["impl"] != ["c"]:
        raise Usage(f"--from: only for cells of impl c, not {','.join(o['impl'])} (hpo-train's "
                    f"checkpoints hold the replay buffer, so a run continued from one is the "
                    f"run it continues)")
    if "dist" in o["impl"]:
        o["actors"] = o["actors"] or 2
        o["kill_at"] = o["kill_at"] or [0]
        late = [k for k in o["kill_at"] if k >= o["steps"]]
        if late:
            raise Usage(f"--kill-at {late[0]}: at or past the budget (--steps {o['steps']}): "
                        f"the run would never be killed")
    else:
        for flag, key in (("--actors", "actors"), ("--kill-at", "kill_at")):
            if o[key] is not None:
                raise Usage(f"{flag}: only for distributed cells (--impl dist)")
    return o


def dist_keys(grid):
    """The distributed cells' part of a grid (actors, kill_at), or {} when the
    grid has no impl dist (grid.json of such a sweep has no such keys)."""
    if "dist" not in grid["impl"]:
        return {}
    return {"actors": grid.get("actors") or 2, "kill_at": grid.get("kill_at") or [0]}


# ---- the grid ----

# A name that becomes one path component of DIR (an env's directory, a PNG):
# no '/', not '.' or '..', not absolute, not hidden, not an option.
PLAIN_NAME = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"


def plain_name(text):
    return isinstance(text, str) and re.fullmatch(PLAIN_NAME, text) is not None


def read_grid(out):
    """DIR/grid.json, checked before any of it becomes a path: env, mode and
    impl are lists of plain names, seeds of integers, sets of [NAME, values]
    with plain values; a grid.json that is not (edited by hand, or planted)
    is refused with Usage (exit 2), so every file written stays inside DIR."""
    path = os.path.join(out, "grid.json")
    try:
        with open(path) as f:
            grid = json.load(f)
    except FileNotFoundError:
        raise Usage(f"{out}: no grid.json (not a sweep directory)") from None
    except ValueError as e:
        die(f"{path}: unreadable: {e}")
    fix = "rewrite it as hpo-sweep writes it, or use another DIR"
    if not isinstance(grid, dict):
        raise Usage(f"{path}: not a JSON object; {fix}")
    for key in ("env", "mode", "impl"):
        vals = grid.get(key)
        if not isinstance(vals, list) or not vals:
            raise Usage(f"{path}: '{key}' is {fmt_val(vals)}, not a list of names; {fix}")
        for v in vals:
            if not plain_name(v):
                raise Usage(f"{path}: {key} {v!r} is not a plain name (letters, digits, . _ + -; "
                            f"no '/', no '..', not absolute): it would put files outside "
                            f"{out}; {fix}")
    seeds = grid.get("seeds")
    if not isinstance(seeds, list) or not all(type(x) is int for x in seeds):
        raise Usage(f"{path}: 'seeds' is {fmt_val(seeds)}, not a list of integers; {fix}")
    sets = grid.get("sets", [])
    if not isinstance(sets, list) or not all(
            isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) and isinstance(x[1], list)
            and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", x[0])
            and all(isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_.+-]+", v) for v in x[1])
            for x in sets):
        raise Usage(f"{path}: 'sets' is {fmt_val(sets)}, not [[NAME, [VALUE, ...]], ...] as --set writes it; {fix}")
    grid["sets"] = sets
    if type(grid.get("steps")) is not int:
        raise Usage(f"{path}: 'steps' is {fmt_val(grid.get('steps'))}, not an integer; {fix}")
    if "actors" in grid and (type(grid["actors"]) is not int or grid["actors"] < 1):
        raise Usage(f"{path}: 'actors' is {fmt_val(grid['actors'])}, not a count; {fix}")
    kill = grid.get("kill_at", [0])
    if not isinstance(kill, list) or not kill or \
            not all(type(x) is int and x >= 0 for x in kill):
        raise Usage(f"{path}: 'kill_at' is {fmt_val(kill)}, not a list of env steps; {fix}")
    return grid

def cell_name(mode, impl, setting, seed, varying, kill_at=0):
    parts = [mode, impl] + [f"{n}={v}" for n, v in setting if n in varying]
    if kill_at:
        parts.append(f"kill{kill_at}")
    return "-".join(parts) + f"-s{seed}"


def expand(grid):
    """The cells in run order: env, seed, setting values, mode, impl, kill-at
    (impl dist: one cell per --kill-at value, 0 the uninterrupted run)."""
    combos = [[]]
    for name, values in grid["sets"]:
        combos = [c + [(name, v)] for c in combos for v in values]
    varying = {name for name, values in grid["sets"] if len(values) > 1}
    cells, skipped = [], 0
    for env in grid["env"]:
        for seed in grid["seeds"]:
            for setting in combos:
                for mode in grid["mode"]:
                    for impl in grid["impl"]:
                        if impl == "torch" and mode != "sac":
                            skipped += 1
                            continue
                        for kill in (grid.get("kill_at") or [0]) if impl == "dist" else [0]:
                            name = cell_name(mode, impl, setting, seed, varying, kill)
                            cell = {"env": env, "seed": seed, "mode": mode, "impl": impl,
                                    "setting": setting, "rel": os.path.join(env, name),
                                    "varying": varying}
                            if impl == "dist":
                                cell.update(actors=grid.get("actors") or 2, kill_at=kill)
                            cells.append(cell)
    return cells, skipped


def setting_flags(cell):
    f = ["--env", cell["env"], "--mode", cell["mode"], "--seed", str(cell["seed"]),
         "--threads", "1"]
    for n, v in cell["setting"]:
        f += [f"--{n}", v]
    return f


def resolve_config(train, cell):
    """hpo-train --config-only for the cell's settings; the text without steps."""
    r = subprocess.run([train] + setting_flags(cell) + ["--config-only"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Usage(f"{cell['rel']}: hpo-train refuses its settings: {r.stderr.strip()}")
    return "".join(l + "\n" for l in r.stdout.splitlines() if not l.startswith("steps = "))


def check_grid(out, grid):
    """Refuse a grid other than the one DIR was made with; record a new one."""
    path = os.path.join(out, "grid.json")
    key = {k: grid[k] for k in ("env", "mode", "seeds", "impl", "sets")}
    key.update(dist_keys(grid))
    if os.path.exists(path):
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError) as e:
            die(f"{path}: unreadable ({e}); move it away only if DIR holds no runs you want")
        if old.get("version") != GRID_VERSION:
            raise Usage(f"{path}: grid version {old.get('version')}, this hpo-sweep writes {GRID_VERSION}")
        for k in key:
            if old.get(k) != key[k]:
                raise Usage(f"{out} holds another grid: {k} was {fmt_val(old.get(k))}, "
                            f"this command asks {fmt_val(key[k])}; repeat the recorded grid "
                            f"(see {path}) or use another --out")
        if grid["steps"] < old.get("steps", 0):
            raise Usage(f"{out}: --steps {grid['steps']} is below the recorded "
                        f"{old['steps']}; a sweep's budget may grow, not shrink")
    os.makedirs(out, exist_ok=True)
    write_json(path, dict(key, version=GRID_VERSION, steps=grid["steps"]))


def fmt_val(v):
    if isinstance(v, list) and v and isinstance(v[0], list):
        return " ".join(f"--set {n}={','.join(vals)}" for n, vals in v) or "(no --set)"
    if isinstance(v, list):
        return ",".join(str(x) for x in v) if v else "(none)"
    return str(v)


def same_config(then, now):
    """Whether two resolved configurations (hpo-train --config-only text)
    are the same settings, allowing for ADDED_SETTINGS."""
    return not list(difflines(then, now))


def cell_record(cell, config):
    """What a cell's cell.json holds: its identity and resolved configuration."""
    rec = {"env": cell["env"], "mode": cell["mode"], "impl": cell["impl"],
           "seed": cell["seed"], "setting": [list(s) for s in cell["setting"]],
           "config": config}
    if cell["impl"] == "dist":
        rec.update(actors=cell["actors"], kill_at=cell["kill_at"])
    return rec


def record_differs(have, want, words=("then", "now")):
    """None when the cell.json record have is the cell want (cell_record's),
    else what differs, for a message (have's value, words[0], want's, words[1])."""
    def fmt(k, v):
        if k == "setting" and isinstance(v, list):
            return " ".join(f"{p[0]}={p[1]}" for p in v if isinstance(p, list) and len(p) == 2) \
                or "(none)"
        return fmt_val(v)
    diff = [f"{k}: {fmt(k, have.get(k))} {words[0]}, {fmt(k, want.get(k))} {words[1]}"
            for k in sorted(set(have) | set(want))
            if k != "config" and have.get(k) != want.get(k)]
    diff += list(difflines(have.get("config", ""), want["config"], words))
    return "; ".join(diff[:4]) if diff else None


def check_cell(out, cell, config):
    """Each cell's resolved configuration is fixed at its first start."""
    d = os.path.join(out, cell["rel"])
    path = os.path.join(d, "cell.json")
    want = cell_record(cell, config)
    if os.path.exists(path):
        with open(path) as f:
            have = json.load(f)
        why = record_differs(have, want)
        if why:
            raise Usage(f"{d}: its runs were made with other settings than this build "
                        f"resolves ({why}); results must not mix: use another --out")
    else:
        os.makedirs(d, exist_ok=True)
        write_json(path, want)


def difflines(a, b, words=("then", "now")):
    da = dict(l.split(" = ", 1) for l in a.splitlines() if " = " in l)
    db = dict(l.split(" = ", 1) for l in b.splitlines() if " = " in l)
    for k in sorted(set(da) | set(db)):
        if k not in da and db.get(k) == ADDED_SETTINGS.get(k):
            continue  # added since, at the value that computes the same
        if da.get(k) != db.get(k):
            yield f"{k}: {da.get(k)} {words[0]}, {db.get(k)} {words[1]}"


