"""plot - hpo-plot: learning curves of hpo runs, evaluation return against
env steps, drawn by gnuplot from the runs that runs.py reads.

  hpo-plot RUN_DIR... -o FILE.png [--size WxH] [--title TEXT] [--window N]
           [--script FILE.gp]

Reads each RUN_DIR/config and RUN_DIR/progress.csv (the evaluation rows:
eval_return set). Runs whose configs differ only in the seed and the step
budget form one group, drawn as the mean over its runs with a shaded band of
+-1 standard deviation (population); a group of one run is a plain line. Each
run's curve is smoothed first by an exponential moving average of window N
(default 5, as in the paper: weight 2 / (N + 1)); a group's mean and std are
taken at the env steps every run of the group evaluated at (so a group ends
where its shortest run does). Legend entries name the settings that differ
between groups (and the seed count), numbers as written (0.1, not
0.100000001); a curve is not labelled with settings its mode never reads
(sac: every HD setting; baseline3: the exploration momentum; baseline2: the
training momentum), unless they alone tell two curves apart. The title is the
environment (hpo-train --describe-settings --json says which settings each
mode reads: $HPO_TRAIN, or hpo-train beside hpo-plot or in PATH). --script keeps the gnuplot script, with the data in it and
FILE.png's absolute path, to restyle the figure. Drawn with gnuplot (Debian
package gnuplot-nox), PNG by the pngcairo terminal, default size 800x500.

Exit status: 0 done, 1 a run without data or gnuplot failed, 2 bad command line.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

from . import runs as rd

PROG = "hpo-plot"


class Bad(Exception):
    """A bad command line: exit 2."""


class Fail(Exception):
    """A run without data, or gnuplot failed: exit 1."""


def parse_args(argv):
    o = {"out": None, "size": "800x500", "title": None, "window": "5", "script": None, "runs": []}
    flags = {"-o": "out", "--output": "out", "--size": "size", "--title": "title",
             "--window": "window", "--script": "script"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.split("\n\n", 1)[1].rstrip())
            sys.exit(0)
        if a in flags:
            if i + 1 >= len(argv):
                raise Bad(f"{a} needs a value")
            o[flags[a]] = argv[i + 1]
            i += 2
            continue
        if a.startswith("-"):
            raise Bad(f"unknown flag {a}")
        o["runs"].append(a)
        i += 1
    if not o["out"]:
        raise Bad("no output file (-o FILE.png)")
    if not o["runs"]:
        raise Bad("no run directory given")
    m = re.fullmatch(r"([0-9]+)x([0-9]+)", o["size"])
    if not m:
        raise Bad(f"bad --size '{o['size']}' (WxH)")
    o["width"], o["height"] = int(m.group(1)), int(m.group(2))
    if not re.fullmatch(r"[1-9][0-9]*", o["window"]):
        raise Bad(f"bad --window '{o['window']}'")
    o["window"] = int(o["window"])
    return o


def ema(evals, window):
    """[(env_steps, smoothed return)]: exponential moving average, weight 2 / (window + 1)."""
    out, s = [], None
    for step, r, _ in evals:
        s = r if s is None else s + 2.0 / (window + 1) * (r - s)
        out.append((step, s))
    return out


def group_curve(curves):
    """[(env_steps, mean, population std)] at the steps every curve has."""
    n = len(curves)
    byx = {}
    for c in curves:
        for x, y in c:
            byx.setdefault(x, []).append(y)
    rows = []
    for x in sorted(byx):
        ys = byx[x]
        if len(ys) == n:
            m = sum(ys) / n
            v = sum(y * y for y in ys) / n - m * m
            rows.append((x, m, max(v, 0.0) ** 0.5))
    return rows


def curve_label(cfg, varying, drop):
    lab = ", ".join(f"{k}={rd.short(cfg.get(k))}" for k in varying if k not in drop)
    return lab or f"{cfg.get('env')} {cfg.get('mode')}"


def gp_text(s):
    """A label as a gnuplot single-quoted, enhanced-text string holds it."""
    return s.replace("'", "").replace("_", "\\\\_")


def build_script(o, runs, png, described):
    """(gnuplot script, number of curves) for runs, drawing into png;
    described: runs.describe_settings(), for what each mode never reads."""
    groups = rd.group_runs(runs)
    keys = list(groups)
    varying = rd.varying_settings(keys, order=list(runs[0].config))
    labels = rd.labels(keys, lambda d, drop: curve_label(d, varying, drop), described)
    data, plots = [], []
    for g, (key, members) in enumerate(groups.items()):
        rows = group_curve([ema(r.evals, o["window"]) for r in members])
        if not rows:
            raise Fail(f"runs {' '.join(r.dir for r in members)}: no env steps in common")
        data += [f"$g{g} << EOD"] + [f"{x} {m:.9g} {s:.9g}" for x, m, s in rows] + ["EOD"]
        color = g + 1
        label = labels[g]
        if len(members) > 1:
            label += f" ({len(members)} seeds)"
            plots.append(f"$g{g} using 1:($2-$3):($2+$3) with filledcurves fs transparent "
                         f"solid 0.2 noborder lc {color} notitle")
        else:
            label += f" (seed {members[0].config.get('seed')})"
        plots.append(f"$g{g} using 1:2 with lines lw 2 lc {color} title '{gp_text(label)}'")
    title = o["title"]
    if title is None:
        envs = sorted({r.config.get("env") for r in runs})
        modes = sorted({r.config.get("mode") for r in runs})
        title = "evaluation return"
        if len(envs) == 1:
            title = envs[0] + (f", mode {modes[0]}" if len(modes) == 1 else "")
    lines = data + [
        f"set terminal pngcairo size {o['width']},{o['height']} enhanced font 'sans,10'",
        f"set output '{png.replace(chr(39), '')}'",
        f"set title '{gp_text(title)}'",
        "set xlabel 'environment steps'",
        f"set ylabel 'evaluation return (EMA {o['window']})'",
        "set key top left",
        "set grid",
        "plot " + ", \\\n     ".join(plots)]
    return "\n".join(lines) + "\n", len(groups)


def read_runs(dirs):
    runs = []
    for d in dirs:
        try:
            r = rd.read_run(d)
        except (rd.RunError, ValueError) as e:
            raise Fail(str(e)) from None
        if not os.path.isfile(os.path.join(d, "progress.csv")):
            raise Fail(f"{d}: no progress.csv")
        if not r.evals:
            raise Fail(f"{d}: no evaluation rows in progress.csv")
        runs.append(r)
    return runs


def plot(o, here):
    if not shutil.which("gnuplot"):
        raise Fail("gnuplot not found: install gnuplot-nox (deploy/setup)")
    runs = read_runs(o["runs"])
    try:
        described = rd.describe_settings(rd.find_train(here))
    except rd.RunError as e:
        raise Fail(str(e)) from None
    with tempfile.TemporaryDirectory(prefix="hpo-plot.") as tmp:
        png = os.path.join(tmp, "plot.png")
        text, ncurves = build_script(o, runs, png, described)
        r = subprocess.run(["gnuplot"], input=text, capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail(f"gnuplot failed: {r.stderr.strip()}")
        if o["script"]:
            final = os.path.abspath(o["out"]).replace("'", "")
            text = text.replace(f"set output '{png}'", f"set output '{final}'")
            try:
                with open(o["script"] + ".tmp", "w") as f:
                    f.write(text)
                os.replace(o["script"] + ".tmp", o["script"])
            except OSError:
                raise Fail(f"cannot write {o['script']}") from None
        try:
            shutil.move(png, o["out"])
        except OSError:
            raise Fail(f"cannot write {o['out']}") from None
    print(f"{PROG}: wrote {o['out']} ({len(runs)} runs, {ncurves} curves)", file=sys.stderr)
    return 0


def main(argv, here):
    """hpo-plot's command line argv; here is the entry point's directory,
    where hpo-train (which says what each mode reads) is looked for first."""
    try:
        return plot(parse_args(argv), here)
    except Bad as e:
        print(f"{PROG}: {e} (see {PROG} --help)", file=sys.stderr)
        return 2
    except Fail as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
