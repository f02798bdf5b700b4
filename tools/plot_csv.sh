#!/bin/sh
# Learning curve of an hpo-train run as a Markdown table, from its progress.csv.
#
#   tools/plot_csv.sh RUN_DIR/progress.csv
#
# One row per evaluation: env steps, updates, evaluation return (mean ± population
# std, as hpo-train writes them), then the training episodes that ended since the
# previous evaluation (count, mean, min, max return), updates/s and wall seconds at
# the evaluation. Training episodes after the last evaluation are not shown
# (hpo-train always evaluates at the end). Columns are found by header name
# (docs/status.md, "progress.csv"; an older learner's recent_return is read as
# episode_return).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 progress.csv" >&2; exit 2; }
[ -r "$1" ] || { echo "$0: cannot read $1" >&2; exit 1; }
awk -F, '
NR == 1 {
    for (i = 1; i <= NF; i++) col[$i == "recent_return" ? "episode_return" : $i] = i
    for (k = split("env_steps updates episode_return eval_return eval_std updates_per_s wall_s", need, " "); k > 0; k--)
        if (!(need[k] in col)) { print "missing column " need[k] > "/dev/stderr"; exit 1 }
    print "| env steps | updates | eval return (mean ± std) | training episodes since last eval | their mean return | min | max | updates/s | wall s |"
    print "|---|---|---|---|---|---|---|---|---|"
    next
}
$col["episode_return"] != "" {
    r = $col["episode_return"] + 0
    if (n == 0 || r < lo) lo = r
    if (n == 0 || r > hi) hi = r
    n++; sum += r
    next
}
$col["eval_return"] != "" {
    ups = $col["updates_per_s"] == "" ? "-" : sprintf("%.1f", $col["updates_per_s"])
    if (n > 0) tr = sprintf("%d | %.1f | %.1f | %.1f", n, sum / n, lo, hi)
    else tr = "0 | - | - | -"
    printf "| %d | %d | %.1f ± %.1f | %s | %s | %.0f |\n", $col["env_steps"], $col["updates"],
        $col["eval_return"], $col["eval_std"], tr, ups, $col["wall_s"]
    n = 0; sum = 0
}
' "$1"
