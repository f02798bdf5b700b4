"""report - `hpo-sweep report`: per environment the returns at step marks,
the area under the curve, steps to a target, published SAC beside them, the
runs' times and machines; for two rows named with --compare, the statistics of
stats.py per environment and over environments, and a performance profile."""

import math
import os
import re
import subprocess

import numpy as np

from . import run
from . import runs as rd
from . import stats
from .grid import expand, fmt_val, parse_seeds, positive_int, read_grid, split_list
from .util import Usage, die, write_text

# Published SAC returns (deterministic evaluation) to put beside ours.
# step -> return; source strings are printed under each table.
ANCHORS = {
    "SimbaV2 repository, SAC baseline, MuJoCo v4, 10 seeds": {
        "HalfCheetah": {100000: 6156, 300000: 8593, 1000000: 11321},
        "Hopper": {100000: 1103, 300000: 2160, 1000000: 2787},
        "Walker2d": {100000: 690, 300000: 2470, 1000000: 4536},
        "Ant": {100000: 747, 300000: 3532, 1000000: 5734},
        "Humanoid": {100000: 632, 300000: 3015, 1000000: 4826},
    },
    "Tianshou SAC benchmark, MuJoCo v3, 10 seeds": {
        "HalfCheetah": {100000: 6515},
        "Hopper": {100000: 2613},
        "Walker2d": {100000: 1305},
        "Ant": {100000: 1020},
        "Humanoid": {100000: 629},
    },
}

# Default returns for "time to reach" (overridable with --target ENV=R).
TARGETS = {
    "Pendulum": -300.0,
    "InvertedPendulum": 1000.0,
    "InvertedDoublePendulum": 9000.0,
    "HalfCheetah": 3000.0,
    "Hopper": 1000.0,
    "Walker2d": 1000.0,
    "Ant": 1000.0,
    "Humanoid": 600.0,
}

MARKS = [30000, 100000, 300000, 1000000]


# ---- one run's numbers ----

def mean_std(xs):
    """Mean and population std of xs (non-empty)."""
    n = len(xs)
    m = sum(xs) / n
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / n)


def value_at(evals, mark):
    """The evaluation at mark (the last one at or before it), if the run got there."""
    if not evals or evals[-1][0] < mark:
        return None
    v = None
    for s, r, _ in evals:
        if s <= mark:
            v = r
    return v


def timed_evals(r, clock):
    """r's evaluations with the clock the seconds views read: its own wall
    clock, or with clock cpu the CPU seconds hpo-sweep sampled (cpu.csv; NaN
    where a run has none)."""
    if clock == "wall":
        return r.evals
    pts = rd.read_cpu(r.dir)
    return [(s, ret, (rd.cpu_at(pts, s) if pts else math.nan)) for s, ret, _ in r.evals]


def value_at_seconds(evals, secs):
    """(return, ended) of the last evaluation within secs of the run's wall
    clock (resumes added back); ended: the run stopped before secs, so the
    value is its last evaluation held. None if no evaluation came that soon."""
    v = None
    for _, r, w in evals:
        if not math.isnan(w) and w <= secs:
            v = r
    if v is None:
        return None
    last_w = evals[-1][2]
    return v, (not math.isnan(last_w) and last_w < secs)


def window_mean(evals, mark, width):
    """The mean of the evaluations in (mark - width, mark], if the run got to mark."""
    if not evals or evals[-1][0] < mark:
        return None
    xs = [r for s, r, _ in evals if mark - width < s <= mark]
    return sum(xs) / len(xs) if xs else None


def score(evals, mark, window):
    """What a mark's column (and --compare) takes from one run."""
    return window_mean(evals, mark, window) if window else value_at(evals, mark)


def auc(evals, horizon):
    """Mean return over [first evaluation, horizon] (trapezoids)."""
    pts = [(s, r) for s, r, _ in evals if s <= horizon]
    if len(pts) < 2:
        return pts[0][1] if pts else None
    area = sum((s1 - s0) * (r0 + r1) / 2 for (s0, r0), (s1, r1) in zip(pts, pts[1:]))
    return area / (pts[-1][0] - pts[0][0])


def first_hit(run, target, last):
    """(env steps, wall s) of the run's first evaluation at or above target,
    after its learning-starts (an evaluation before the first update is an
    untrained policy's: an Ant standing still scores 1003 at 5k) and at step
    last or before (None: no limit)."""
    for s, r, w in run.evals:
        if last is not None and s > last:
            break
        if s > run.learning_starts and r >= target:
            return s, w
    return None


# ---- formatting ----

def fmt_k(steps):
    if steps >= 1000000 and steps % 1000000 == 0:
        return f"{steps // 1000000}M"
    return f"{steps // 1000}k" if steps >= 1000 and steps % 1000 == 0 else str(steps)


def fmt_ms(xs):
    if not xs:
        return ""
    m, s = mean_std(xs)
    cell = f"{m:.0f} ± {s:.0f}"
    if len(xs) > 1:
        cell += f" [{min(xs):.0f}, {max(xs):.0f}]"
    return cell


def fmt_ci(t, digits):
    point, lo, hi = t
    return f"{point:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def table(head, rows):
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(r) + " |" for r in rows])


# ---- runs and rows ----

def load_cells(out):
    """(grid, runs with an evaluation) of sweep directory out, or of one run
    directory (hpo-train's, or hpo-learner's --out: a config and a
    progress.csv, no grid.json), read as a grid of that one run."""
    if not os.path.exists(os.path.join(out, "grid.json")) and \
            os.path.exists(os.path.join(out, "config")):
        r = rd.read_run(out)
        c = r.config
        grid = {"env": [c.get("env", "?")], "mode": [c.get("mode", "?")],
                "impl": [c.get("impl")], "seeds": [c.get("seed", "?")], "sets": [],
                "steps": c.get("steps", "?"), "run": True}
        return grid, [r] if r.evals else []
    grid = read_grid(out)
    cells, _ = expand(grid)
    runs = []
    for c in cells:
        r = rd.read_run(os.path.join(out, c["rel"]), need_config=False)
        if r.evals:
            r.config.setdefault("env", c["env"])
            r.config.setdefault("mode", c["mode"])
            if run.unkilled(c, r.dir):
                continue  # a --kill-at cell that ran to its end unkilled is no killed run
            if c["impl"] == "dist":
                # what the learner's config does not say: how many data
                # actors, and whether the run was killed (and resumed) at an
                # env step; both tell rows apart
                r.config["impl"] = "dist"
                r.config["actors"] = str(c["actors"])
                r.config["kill-at"] = str(c["kill_at"]) if c["kill_at"] else "none"
            runs.append(r)
    return grid, runs


def once_per_seed(runs):
    """(runs, [(kept, left out)]): of runs with the same settings, environment
    and seed in more than one directory (a sweep continued in another with
    --from, or one cell run twice), the one with the most env steps (the
    first of equals), in the order given; a seed is one sample of its row,
    however many directories hold it."""
    same = {}
    for r in runs:
        same.setdefault((r.env, r.settings_key(), r.config.get("seed")), []).append(r)
    kept, twice = [], []
    for group in same.values():
        k = max(group, key=lambda r: r.evals[-1][0])
        kept.append(k)
        twice += [(k, r) for r in group if r is not k]
    keep = {id(r) for r in kept}
    return [r for r in runs if id(r) in keep], twice


def group_rows(runs, described):
    """{label: [runs]}: runs whose settings differ only by seed form one row;
    the label names the mode, the implementation and every setting that
    differs between rows, but none its mode never reads unless that alone
    tells two rows apart (described: runs.describe_settings())."""
    groups = rd.group_runs(runs)
    keys = list(groups)

    def labels_of(varying, present_only):
        varying = sorted(set(varying) - {"mode", "impl"})

        def label(d, drop):
            extra = " ".join(f"{k}={rd.short(d.get(k))}" for k in varying
                             if k not in drop and (k in d or not present_only))
            return f"{d.get('mode')} ({d.get('impl')})" + (f" {extra}" if extra else "")
        return rd.labels(keys, label, described)
    # a setting only some rows' configs have (a distributed run's replay_ratio
    # or kill-at, a setting a newer build writes that runs.ADDED_SETTINGS does
    # not name) names only the rows that have it, and only where they differ
    # in it; unless two rows would then share a label
    labs = labels_of(rd.varying_settings(keys, present_only=True), True)
    if len(set(labs)) < len(labs):
        labs = labels_of(rd.varying_settings(keys), False)
    return dict(zip(labs, groups.values()))


def label_parts(label):
    """("<mode> (<impl>)", {"setting=value", ...}) of a row's label, or None
    when it is not one."""
    words = label.split()
    if len(words) < 2 or not re.fullmatch(r"\(\S+\)", words[1]) or \
            not all("=" in w for w in words[2:]):
        return None
    return f"{words[0]} {words[1]}", set(words[2:])


def pick_row(rows, name, env):
    """The label of the row name means: a label; a mode that one row has; or,
    for a label followed by ' ...', the one row of that mode and
    implementation whose label has every setting=value of it and perhaps
    more (for environments whose rows also differ in a setting of their own,
    as Ant's one-layer preset policy against SAC's two: 'hpo (c)
    alpha-target=hd ...' is 'hpo (c) alpha-target=hd' on HalfCheetah and
    'hpo (c) alpha-target=hd pi-layers=1' on Ant). None when env has no such
    row."""
    if name in rows:
        return name
    hits = [lab for lab, rs in rows.items() if rs[0].mode == name]
    if name.endswith(" ..."):
        want = label_parts(name[:-4])
        if not want:
            raise Usage(f"--compare: '{name}' is not a row's label followed by ' ...' "
                        "(<mode> (<impl>) setting=value ...)")
        hits = [lab for lab in rows if (got := label_parts(lab)) and got[0] == want[0]
                and want[1] <= got[1]]
    if len(hits) > 1:
        raise Usage(f"--compare: '{name}' names {len(hits)} rows of {env} "
                    f"({'; '.join(hits)}); name one by its label")
    return hits[0] if hits else None


def published(env, mark):
    """(return, source) of the first published SAC figure for env at mark, or None."""
    for source, tab in ANCHORS.items():
        if mark in tab.get(env, {}):
            return tab[env][mark], source
    return None


# ---- --compare ----

def compare_section(spec, envrows, mark, window, png_dir, clock="wall"):
    """The lines of one comparison A:B (spec) at mark, over envrows
    [(env, {label: runs})]; draws the performance profile into png_dir."""
    a_name, _, b_name = spec.partition(":")
    secs = mark[1] if isinstance(mark, tuple) else None
    if secs is not None:
        what = (f"each run's last evaluation within {secs} s of "
                + ("the CPU time of its process" if clock == "cpu" else "its own wall clock")
                + " (a run that ended before holds its last one)")

        def value(r):
            v = value_at_seconds(getattr(r, "timed", r.evals), secs)
            return v[0] if v else None
        at = f"{secs} s"
    else:
        what = (f"the mean of each run's evaluations in ({fmt_k(max(mark - window, 0))}, "
                f"{fmt_k(mark)}]" if window else f"each run's evaluation return at {fmt_k(mark)} "
                "(its last evaluation at or before it)")

        def value(r):
            return score(r.evals, mark, window)
        at = fmt_k(mark)
    per_env, pairs, norm, notes, sources = [], [], [], [], set()
    picked = {}
    for env, rows in envrows:
        a, b = pick_row(rows, a_name, env), pick_row(rows, b_name, env)
        if a is None or b is None:
            notes.append(f"{env}: no row '{a_name if a is None else b_name}'")
            continue
        picked[env] = (a, b)
        xa = np.array([v for v in (value(r) for r in rows[a]) if v is not None])
        xb = np.array([v for v in (value(r) for r in rows[b]) if v is not None])
        if not len(xa) or not len(xb):
            notes.append(f"{env}: a row has no run at {at}")
            continue
        pub = published(env, mark) if secs is None else None
        row = [env, f"{len(xa)}, {len(xb)}", f"{xa.mean():.0f}", f"{xb.mean():.0f}",
               fmt_ci(stats.env_diff(xa, xb), 0), fmt_ci(stats.env_prob(xa, xb), 2)]
        if pub:
            sources.add(pub[1])
            na, nb = xa / pub[0], xb / pub[0]
            pairs.append((na, nb))
            norm.append(env)
            row += [fmt_ci(stats.agg_iqm([na]), 2), fmt_ci(stats.agg_iqm([nb]), 2)]
        else:
            notes.append(f"{env}: no published SAC figure at {at}: left out of the "
                         "normalized columns and the aggregate")
            row += ["", ""]
        per_env.append(row)
    if not per_env:
        raise Usage(f"--compare {spec}: no environment has both rows at {at} "
                    f"({'; '.join(notes)})")
    a, b = next(iter(picked.values()))
    if a_name.endswith(" ...") or b_name.endswith(" ..."):
        # rows named by some of their settings: say which each environment gave
        a, b = a_name, b_name
        notes += [f"{env}: A is '{pa}', B is '{pb}'" for env, (pa, pb) in picked.items()]
    if pairs:
        aa, bb = [p[0] for p in pairs], [p[1] for p in pairs]
        per_env.append([f"all ({len(pairs)}, normalized)", "", "", "",
                        fmt_ci(stats.agg_diff(pairs), 2), fmt_ci(stats.agg_prob(pairs), 2),
                        fmt_ci(stats.agg_iqm(aa), 2), fmt_ci(stats.agg_iqm(bb), 2)])
    lines = [f"## Comparison: {a} against {b}", "", "<!-- compare -->",
             f"Compared: {what}, per seed. Normalized score: that value over the published "
             f"SAC return at {at} ({'; '.join(sorted(sources)) or 'none'}). "
             f"A − B: difference of the means over seeds (returns; in the all row, the mean "
             f"over environments of the differences of normalized means). P(A > B): over "
             f"pairs of a seed of each (ties count 1/2), averaged over environments. IQM: "
             f"interquartile mean of the normalized scores (of all environments' runs in the "
             f"all row; with 3 seeds, their mean). [95% interval]: percentile, stratified "
             f"bootstrap over seeds, {stats.RESAMPLES} resamples, PCG64 seed {stats.SEED} "
             f"(Agarwal et al. 2021).", ""]
    lines += table(["env", "n (A, B)", "A mean", "B mean", "A − B [95%]", "P(A > B) [95%]",
                    "IQM A [95%]", "IQM B [95%]"], per_env)
    lines += ["<!-- /compare -->", ""]
    lines += [f"A: {a}; B: {b}" + ("" if b.endswith(".") else ".")] + \
        [f"- {n}" for n in notes] + [""]
    if pairs and png_dir:
        name = "profile-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{a_name}-{b_name}") + ".png"
        os.makedirs(png_dir, exist_ok=True)
        plot_profile(os.path.join(png_dir, name), [(a, aa), (b, bb)], mark, window)
        lines += [f"![performance profile](report/{name})", ""]
    return lines


def plot_profile(path, curves, mark, window):
    """The performance profile PNG: per row, the fraction of its runs (every
    environment's seeds) whose normalized score is > tau, with the pointwise
    95% bootstrap band."""
    top = max(float(np.max(np.concatenate(x))) for _, x in curves)
    taus = np.linspace(0.0, max(1.0, top) * 1.05, 211)
    script, plots = [], []
    for i, (label, scores) in enumerate(curves):
        frac, lo, hi = stats.agg_profile(scores, taus)
        script.append(f"$p{i} << EOD")
        script += [f"{t:.6g} {f:.6g} {l:.6g} {h:.6g}" for t, f, l, h in zip(taus, frac, lo, hi)]
        script.append("EOD")
        title = label.replace("'", "").replace("_", "\\\\_")
        plots += [f"$p{i} using 1:3:4 with filledcurves fs transparent solid 0.2 noborder "
                  f"lc {i + 1} notitle",
                  f"$p{i} using 1:2 with steps lw 2 lc {i + 1} title '{title}'"]
    at = (f"mean over ({fmt_k(max(mark - window, 0))}, {fmt_k(mark)}]" if window
          else f"at {fmt_k(mark)}")
    script += ["set terminal pngcairo size 800,500 enhanced font 'sans,10'",
               f"set output '{path.replace(chr(39), '')}'",
               f"set title 'performance profile, {at}'",
               "set xlabel 'normalized score tau (return / published SAC)'",
               "set ylabel 'fraction of runs with score > tau'",
               "set yrange [0:1.02]", "set key top right", "set grid",
               "plot " + ", \\\n     ".join(plots)]
    r = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        die(f"gnuplot failed for {path}: {r.stderr.strip()}")


# ---- the report ----

def parse_report_args(argv):
    outs = []
    while argv and not argv[0].startswith("-"):
        outs.append(argv.pop(0))
    if not outs:
        raise Usage("report: which sweep or run directory? (hpo-sweep report DIR [DIR...])")
    o = {"outs": outs, "marks": list(MARKS), "targets": dict(TARGETS), "png": True,
         "envs": None, "seeds": None, "window": None, "compare": [], "compare_at": None,
         "seconds": [], "clock": "wall"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--no-png":
            o["png"] = False
            i += 1
            continue
        if a in ("--marks", "--target", "--env", "--seeds", "--window", "--compare",
                 "--compare-at", "--seconds", "--clock") \
                and i + 1 < len(argv):
            v = argv[i + 1]
            i += 2
            if a == "--window":
                o["window"] = positive_int(a, v)
            elif a == "--env":
                o["envs"] = split_list(a, v)
            elif a == "--seeds":
                o["seeds"] = parse_seeds(v)
            elif a == "--marks":
                o["marks"] = [positive_int(a, x) for x in split_list(a, v)]
            elif a == "--clock":
                if v not in ("wall", "cpu"):
                    raise Usage(f"--clock: '{v}' is neither wall nor cpu")
                o["clock"] = v
            elif a == "--seconds":
                o["seconds"] = [positive_int(a, x) for x in split_list(a, v)]
            elif a == "--compare":
                x, colon, y = v.partition(":")
                if not colon or not x or not y or ":" in y:
                    raise Usage(f"--compare: '{v}' is not ROW:ROW (a mode or a row's label, e.g. hpo:sac)")
                o["compare"].append(v)
            elif a == "--compare-at":
                # a step mark, or NUMBERs: wall-clock seconds
                o["compare_at"] = (("s", positive_int(a, v[:-1])) if v.endswith("s")
                                   else positive_int(a, v))
            else:
                e, eq, r = v.partition("=")
                try:
                    o["targets"][e] = float(r)
                except ValueError:
                    raise Usage(f"--target: '{v}' is not ENV=RETURN") from None
            continue
        raise Usage(f"report: unexpected argument '{a}'")
    return o


def build_report(argv, write=True):
    """Runs `report ARGV`: writes DIR/report.md and the PNGs, returns the text;
    with write False (refresh: the document is the product) neither, and no
    PNG is drawn."""
    o = parse_report_args(list(argv))
    if not write:
        o["png"] = False
    outs, marks, window = o["outs"], o["marks"], o["window"]
    out = outs[0]
    grids, runs, envs = [], [], []
    for d in outs:
        g, rs = load_cells(d)
        grids.append((d, g))
        runs += rs
        envs += [e for e in g["env"] if e not in envs]
    if o["envs"]:
        missing = [e for e in o["envs"] if e not in envs]
        if missing:
            raise Usage(f"report --env: {', '.join(missing)} not in the grids of {', '.join(outs)} "
                        f"(they hold {', '.join(envs)})")
        envs = [e for e in envs if e in o["envs"]]
        runs = [r for r in runs if r.env in o["envs"]]
    if o["seeds"]:
        # a sweep that grows: its finished seeds, without the runs under way
        runs = [r for r in runs if r.config.get("seed", "").isdigit()
                and int(r.config["seed"]) in o["seeds"]]
    if not runs:
        die(f"{', '.join(outs)}: no run has an evaluation yet")
    runs, twice = once_per_seed(runs)
    for r in runs:
        r.timed = timed_evals(r, o["clock"])
    try:
        described = rd.describe_settings(rd.find_train(run.HERE))
    except rd.RunError as e:
        die(str(e))
    plot = run.hpo_plot_path() if o["png"] else None
    if o["png"] and not plot:
        die("hpo-plot not found (set HPO_PLOT, or --no-png)")
    lines = [f"# Sweep report: {', '.join(outs)}", ""]
    for d, grid in grids:
        if grid.get("run"):
            lines.append(f"Run directory {d}: env {fmt_val(grid['env'])}; mode "
                         f"{fmt_val(grid['mode'])}; impl {fmt_val(grid['impl'])}; seed "
                         f"{fmt_val(grid['seeds'])}; budget {grid['steps']} steps.")
            continue
        lines.append(f"Grid of {d}: env {fmt_val(grid['env'])}; mode {fmt_val(grid['mode'])}; "
                     f"impl {fmt_val(grid['impl'])}; seeds {fmt_val(grid['seeds'])}; "
                     f"{fmt_val(grid['sets'])}; budget {grid['steps']} steps.")
    for kept, left in twice:
        lines.append(f"{left.dir} is {kept.dir}'s cell and seed (one run, continued or "
                     f"repeated): counted once, as {kept.dir}, which has more env steps.")
    lines += ["",
              "Returns: deterministic evaluation (mean over the run's evaluation episodes), "
              "then mean ± population std over seeds, [min, max]; n = seeds that reached the mark."
              + (f" A mark's column is each run's mean over its evaluations in the {fmt_k(window)} "
                 "steps up to the mark (a-b: after a, up to b); published figures, single marks, "
                 "are left out." if window else "")
              + " Steps to a target: the first evaluation at or above it after the run's "
              "learning-starts (an evaluation before the first update does not count), up to "
              "the table's last mark; mean over the seeds that reached it, with its wall time.",
              ""]
    envrows = []
    for env in envs:
        er = [r for r in runs if r.env == env]
        if not er:
            continue
        rows = group_rows(er, described)
        envrows.append((env, rows))
        lines += returns_section(env, rows, marks, window, o["targets"].get(env), o["seconds"],
                                 o["clock"])
        if o["png"]:
            os.makedirs(os.path.join(out, "report"), exist_ok=True)
            pngpath = os.path.join(out, "report", f"{env}.png")
            r = subprocess.run([plot] + [x.dir for x in er] + ["-o", pngpath, "--title", env],
                               capture_output=True, text=True)
            if r.returncode != 0:
                die(f"hpo-plot failed for {env}: {r.stderr.strip()}")
            lines += [f"![{env}](report/{env}.png)", ""]
        lines += runs_section(out, er, rows)
    for spec in o["compare"]:
        mark = o["compare_at"] or compare_mark(spec, envrows, marks)
        lines += compare_section(spec, envrows, mark, window,
                                 os.path.join(out, "report") if o["png"] else None, o["clock"])
    text = "\n".join(lines)
    if write:
        write_text(os.path.join(out, "report.md"), text + "\n")
    return text


def compare_mark(spec, envrows, marks):
    """The last of the marks every run of both rows of spec reached, in every
    environment that has both."""
    a_name, _, b_name = spec.partition(":")
    ok = list(marks)
    for env, rows in envrows:
        a, b = pick_row(rows, a_name, env), pick_row(rows, b_name, env)
        if a is None or b is None:
            continue
        ends = [r.evals[-1][0] for r in rows[a] + rows[b]]
        ok = [m for m in ok if min(ends) >= m]
    if not ok:
        raise Usage(f"--compare {spec}: no mark of {','.join(fmt_k(m) for m in marks)} is reached "
                    f"by every run of both rows; name one with --compare-at MARK")
    return ok[-1]


def seconds_table(rows, seconds, clock="wall"):
    """Return against seconds: each run's last evaluation within that much of
    its own wall clock, or with clock cpu of the CPU its process spent."""
    cpu = clock == "cpu"
    head = (["run", "n"] + [f"at {x} s" + (" CPU" if cpu else "") for x in seconds]
            + ["run's CPU s" if cpu else "run's wall s"])
    body = []
    for label, rs in rows.items():
        row = [label, str(len(rs))]
        for x in seconds:
            got = [v for v in (value_at_seconds(getattr(r, "timed", r.evals), x) for r in rs)
                   if v is not None]
            cell = fmt_ms([v for v, _ in got])
            notes = []
            if got and len(got) != len(rs):
                notes.append(f"n={len(got)}")
            ended = sum(1 for _, e in got if e)
            if ended:
                notes.append(f"{ended} ended before")
            row.append(cell + (f" ({', '.join(notes)})" if notes else "") if got else "–")
        ev = [getattr(r, "timed", r.evals) for r in rs]
        walls = [e[-1][2] for e in ev if e and not math.isnan(e[-1][2])]
        row.append(fmt_ms(walls))
        body.append(row)
    if cpu:
        text = ("Return against CPU time: each run's last evaluation within that many CPU "
                "seconds of its process (user + system, sampled by hpo-sweep into cpu.csv at "
                "most every 1000 env steps or 5 s; a resumed run counted as one uninterrupted "
                "run); a run that ended before holds its last evaluation (\"ended before\"); "
                "\"–\": no run of the row has CPU samples. CPU time does not move with other "
                "processes' share of the cores, only with the cache and memory they share.")
    else:
        text = ("Return against wall-clock: each run's last evaluation within that many "
                "seconds of its own clock (every segment of a resumed run counted); a run that "
                "ended before holds its last evaluation (\"ended before\"). Seconds compare "
                "only between runs on the same kind of machine under the same load (the "
                "machines table below).")
    return [text, ""] + table(head, body)


def returns_section(env, rows, marks, window, target, seconds=(), clock="wall"):
    """The returns table of one environment, between its markers."""
    er = [r for rs in rows.values() for r in rs]
    reached = [m for m in marks if any(r.evals[-1][0] >= m for r in er)]
    # AUC to the furthest mark every row reached with some run (or, short
    # of any mark, the shortest run); runs short of it are left out (n)
    common = [m for m in marks if all(any(r.evals[-1][0] >= m for r in rs) for rs in rows.values())]
    horizon = common[-1] if common else min(r.evals[-1][0] for r in er)
    head = ["run", "n"] + [f"{fmt_k(max(m - window, 0))}–{fmt_k(m)}" if window else fmt_k(m)
                           for m in reached] + [f"AUC to {fmt_k(horizon)}"]
    # the target's column looks no further than the table's last mark: a
    # run that went on past it (a sweep grown to a larger budget) must not
    # count a hit that its row's shorter peers had no chance at
    last = reached[-1] if reached else None
    if target is not None:
        by = f" by {fmt_k(last)}" if last is not None else ""
        head.append(f"steps to {target:g}{by} (reached)")
    body = []
    for label, rs in rows.items():
        row = [label, str(len(rs))]
        for m in reached:
            xs = [v for v in (score(r.evals, m, window) for r in rs) if v is not None]
            row.append(fmt_ms(xs) + (f" (n={len(xs)})" if xs and len(xs) != len(rs) else ""))
        aucs = [auc(r.evals, horizon) for r in rs if r.evals[-1][0] >= horizon]
        aucs = [a for a in aucs if a is not None]
        row.append(fmt_ms(aucs) + (f" (n={len(aucs)})" if aucs and len(aucs) != len(rs) else ""))
        if target is not None:
            hits = [h for h in (first_hit(r, target, last) for r in rs) if h is not None]
            if hits:
                row.append(f"{sum(h[0] for h in hits) / len(hits) / 1000:.0f}k steps, "
                           f"{sum(h[1] for h in hits) / len(hits):.0f} s ({len(hits)}/{len(rs)})")
            else:
                row.append(f"– (0/{len(rs)})")
        body.append(row)
    for source, tab in ANCHORS.items():
        if env in tab and not window:
            row = [f"published SAC: {source}", "10"]
            row += [str(tab[env].get(m, "")) for m in reached] + [""]
            if target is not None:
                row.append("")
            body.append(row)
    extra = ([""] + seconds_table(rows, seconds, clock)) if seconds else []
    return ([f"## {env}", "", "<!-- returns -->"] + table(head, body) + extra
            + ["<!-- /returns -->", ""])


def runs_section(out, er, rows):
    """The table of one environment's runs: steps, time, rate, machines; then
    each row's time per run."""
    lines = ["| run dir | env steps | updates | wall s | updates/s | last eval | machine |",
             "|---|---|---|---|---|---|---|"]
    kinds = []  # the machines of this table, named M1, M2, ... in order of appearance
    moved = False
    for r in er:
        last = r.last
        mark = " †" if r.repaired else ""
        ran = rd.machines(r.dir)
        moved = moved or len(ran) > 1
        for k in ran:
            if k not in kinds:
                kinds.append(k)
        where = (", then ".join(f"M{kinds.index(k) + 1}" for k in ran)
                 + (" ‡" if len(ran) > 1 else "")) if ran else "–"
        lines.append(f"| {os.path.relpath(r.dir, out)} | {last.get('env_steps', '')} | "
                     f"{last.get('updates', '')} | {last.get('wall_s', '')}{mark} | "
                     f"{last.get('updates_per_s', '')}{mark} | {r.evals[-1][1]:.0f} | {where} |")
    times = []
    for label, rs in rows.items():
        ws = [r.wall_s for r in rs if r.wall_s is not None]
        if ws:
            m, s = mean_std(ws)
            times.append(f"{label} {m / 60:.1f} ± {s / 60:.1f} min (n={len(ws)}, to "
                         f"{fmt_k(max(int(r.last.get('env_steps') or 0) for r in rs))} steps"
                         + (", †" if any(r.repaired for r in rs) else "") + ")")
    if times:
        lines += ["", "Time per run, mean ± population std over seeds, in minutes of one "
                  "core (every segment of a resumed run): " + "; ".join(times) + "."]
        if any(r.config.get("impl") == "dist" for r in er):
            lines[-1] += (" A dist row's minutes are wall-clock of its learner, data actors "
                          "and evaluation actor together, on the machine's cores.")
    if any(r.repaired for r in er):
        lines += ["", "† resumed by a build that restarted the clock at the resume: the time "
                  "before it is added back; updates/s is over the whole run."]
    if kinds:
        lines += [""] + [f"- M{i + 1}: {k}" for i, k in enumerate(kinds)]
    if moved:
        lines += ["", "‡ resumed on another kind of machine: the same algorithm and settings, "
                  "not the same bits as a run that stayed on one (floating point differs "
                  "with the CPU and OpenBLAS's kernel)."]
    lines.append("")
    return lines


def report(argv):
    print(build_report(argv))
    return 0
