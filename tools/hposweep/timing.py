"""timing - wall-clock to a return, implementation against implementation:
the figures bench/time-to-score prints.

A run reaches a target at its first evaluation at or above it after learning
starts (report.first_hit). Ratios are per seed (the same seed's runs, one
after the other on the same machine), summarized by their geometric mean and
range.
"""

import math

from .report import first_hit
from .runs import blas_kernels, cpu_at, machines, read_cpu


def updates_per_s(r):
    """Updates per second over the run's whole wall time (None: unknown)."""
    try:
        return float(r.last.get("updates", "")) / r.wall_s
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def geo(xs):
    """The geometric mean of positive numbers."""
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def cpu_hit(r, target, last=None):
    """(env steps, CPU seconds) of the run's first evaluation at or above
    target, the CPU from the sweep's samples (cpu.csv); None without them."""
    h = first_hit(r, target, last)
    pts = read_cpu(r.dir)
    if not h or not pts:
        return None
    return h[0], cpu_at(pts, h[0])


def has_cpu(runs):
    return bool(runs) and all(read_cpu(r.dir) for r in runs.values())


def ratios(num, den, target, hit=first_hit):
    """Per-seed ratios num/den of the seconds to target ({seed: Run} each),
    over the seeds whose runs both reached it, in seed order."""
    rs = []
    for seed, a in sorted(num.items()):
        b = den.get(seed)
        ha = hit(a, target, None)
        hb = hit(b, target, None) if b else None
        if ha and hb and hb[1] > 0:
            rs.append(ha[1] / hb[1])
    return rs


def ratio_cell(num, den, target, hit=first_hit):
    rs = ratios(num, den, target, hit)
    if not rs:
        return "–"
    return f"{geo(rs):.2f}x" + (f" [{min(rs):.2f}, {max(rs):.2f}]" if len(rs) > 1 else "") + f" (n={len(rs)})"


def secs_cell(runs, target, hit=first_hit):
    """Mean seconds and steps to target over the runs that reached it."""
    hits = [h for h in (hit(r, target, None) for r in runs.values()) if h]
    if not runs:
        return "–"
    if not hits:
        return f"not reached (0/{len(runs)})"
    m = sum(h[1] for h in hits) / len(hits)
    k = sum(h[0] for h in hits) / len(hits) / 1000
    return f"{m:.0f} s at {k:.0f}k ({len(hits)}/{len(runs)})"


def time_table(o, rs):
    """The report's text: o has env, seeds, steps, targets, actors; rs maps
    c, torch and dist to {seed: Run}."""
    bf16 = " bf16" if o.get("precision") == "bf16" else ""
    names = {"c": f"hpo-train{bf16}", "torch": "torch_sac.py",
             "dist": f"deploy/local{bf16} ({o['actors']} actors)"}
    kinds = sorted({k for r in rs["c"].values() for k in machines(r.dir)})
    machine = "; ".join(kinds) or "(not in the hpo-train logs)"
    blas = sorted({b for key in rs for r in rs[key].values() for b in blas_kernels(r.dir)})
    machine += "; " + ("; ".join(blas) if blas else "OpenBLAS kernel not in the logs")
    lines = [f"# time to score: {o['env']} SAC, seeds {','.join(map(str, o['seeds']))}, "
             f"{o['steps']} steps", "", f"machine: {machine}", "",
             "| target | " + " | ".join(names[k] for k in names if rs[k])
             + f" | torch_sac.py / {names['c']}"
             + (f" | {names['c']} / {names['dist']}" if rs["dist"] else "") + " |",
             "|---" * (2 + sum(1 for k in names if rs[k]) + (1 if rs["dist"] else 0)) + "|"]
    for t in o["targets"]:
        row = [f"{t:g}"] + [secs_cell(rs[k], t) for k in names if rs[k]]
        row.append(ratio_cell(rs["torch"], rs["c"], t))
        if rs["dist"]:
            row.append(ratio_cell(rs["c"], rs["dist"], t))
        lines.append("| " + " | ".join(row) + " |")
    # CPU seconds (the sweep's cpu.csv): what other load on the machine does
    # not move; only when every single-process run has them
    single = [k for k in ("c", "torch") if rs[k]]
    if single and all(has_cpu(rs[k]) for k in single):
        lines += ["", "CPU seconds of each run's process to the return (cpu.csv):", "",
                  "| target | " + " | ".join(names[k] for k in single)
                  + (f" | torch_sac.py / {names['c']}" if len(single) == 2 else "") + " |",
                  "|---" * (1 + len(single) + (1 if len(single) == 2 else 0)) + "|"]
        for t in o["targets"]:
            row = [f"{t:g}"] + [secs_cell(rs[k], t, cpu_hit) for k in single]
            if len(single) == 2:
                row.append(ratio_cell(rs["torch"], rs["c"], t, cpu_hit))
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "updates/s over the whole run (mean over seeds):"]
    for k in names:
        ups = [u for u in (updates_per_s(r) for r in rs[k].values()) if u]
        if ups:
            lines.append(f"- {names[k]}: {sum(ups) / len(ups):.1f} (n={len(ups)})")
    c = [u for u in (updates_per_s(r) for r in rs["c"].values()) if u]
    t = [u for u in (updates_per_s(r) for r in rs["torch"].values()) if u]
    if c and t:
        lines.append(f"- {names['c']} / torch_sac.py: {(sum(c) / len(c)) / (sum(t) / len(t)):.2f}x")
    return "\n".join(lines)
