#!/usr/bin/env bash
# test_plot.sh - hpo-plot on real runs: two seeded short Pendulum runs of
# one config (one mean curve with a std band) and one of another mode.
#
#   test_plot.sh HPO_TRAIN HPO_PLOT
#
# Checks the PNG exists, starts with the PNG signature and has the pixel
# size asked for (IHDR width and height), and the command-line errors.
# Skipped (exit 77) when gnuplot is not installed (deploy/setup installs
# gnuplot-nox).
set -uo pipefail
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

TRAIN=$(realpath "${1:?usage: test_plot.sh HPO_TRAIN HPO_PLOT}")
export HPO_TRAIN=$TRAIN  # hpo-plot asks it which settings each mode reads
PLOT=$(realpath "${2:?hpo-plot}")
command -v gnuplot >/dev/null || { echo "gnuplot not installed: skipped"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_plot.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
export OPENBLAS_NUM_THREADS=1

F=(--env Pendulum --learning-starts 200 --batch 32 --pi-hidden 32
   --q-hidden 32 --eval-every 200 --eval-episodes 1 --steps 1000 --quiet)
for s in 1 2; do
    "$TRAIN" "${F[@]}" --seed "$s" --out "hpo-s$s" >/dev/null 2>"train$s.err" ||
        fail "train seed $s: $(cat "train$s.err")"
done
"$TRAIN" "${F[@]}" --seed 1 --mode sac --out sac-s1 >/dev/null 2>train3.err ||
    fail "train sac: $(cat train3.err)"

"$PLOT" hpo-s1 hpo-s2 -o two.png 2>plot1.err || fail "plot two seeds: $(cat plot1.err)"
check_png "two seeds" two.png 800 500
grep -q "2 runs, 1 curves" plot1.err || fail "two seeds: $(cat plot1.err)"
"$PLOT" hpo-s1 hpo-s2 sac-s1 -o three.png --size 640x480 2>plot2.err ||
    fail "plot three runs: $(cat plot2.err)"
check_png "two groups, --size" three.png 640 480
grep -q "3 runs, 2 curves" plot2.err || fail "grouping: $(cat plot2.err)"

# the budget does not split a group; labels; --script stands alone
"$TRAIN" "${F[@]}" --seed 3 --steps 600 --out hpo-s3 >/dev/null 2>train4.err &&
    "$TRAIN" "${F[@]}" --seed 1 --std-tr 0.1 --out std01-s1 >/dev/null 2>>train4.err &&
    "$TRAIN" "${F[@]}" --seed 1 --mode sac --std-tr 0.1 --out sacstd-s1 >/dev/null 2>>train4.err &&
    "$TRAIN" "${F[@]}" --seed 1 --mode baseline3 --std-exp 1.5 --out b3-s1 >/dev/null 2>>train4.err ||
    fail "train: $(cat train4.err)"
"$PLOT" hpo-s1 hpo-s2 hpo-s3 -o budget.png 2>plot3.err && grep -q "3 runs, 1 curves" plot3.err &&
    ok "runs that differ in the budget alone: one curve" || fail "budget: $(cat plot3.err)"
"$PLOT" hpo-s1 std01-s1 sac-s1 -o labels.png --script labels.gp 2>plot4.err ||
    fail "plot labels: $(cat plot4.err)"
titles=$(grep -o "lines .* title '[^']*'" labels.gp | sed 's/.* title/title/'  | sort | tr '\n' ';')
[ "$titles" = "title 'mode=hpo, std-tr=0.1 (seed 1)';title 'mode=hpo, std-tr=1 (seed 1)';title 'mode=sac (seed 1)';" ] &&
    ok "legend: values as written, no HD setting on the sac curve" || fail "legend: $titles"
"$PLOT" sac-s1 sacstd-s1 -o sac2.png --script sac2.gp 2>plot5.err || fail "plot sac2: $(cat plot5.err)"
titles=$(grep -o "lines .* title '[^']*'" sac2.gp | sed 's/.* title/title/'  | sort | tr '\n' ';')
[ "$titles" = "title 'std-tr=0.1 (seed 1)';title 'std-tr=1 (seed 1)';" ] &&
    ok "legend: sac curves told apart by an HD setting alone keep it" || fail "legend sac: $titles"
"$PLOT" hpo-s1 b3-s1 -o b3.png --script b3.gp 2>plot6.err || fail "plot b3: $(cat plot6.err)"
titles=$(grep -o "lines .* title '[^']*'" b3.gp | sed 's/.* title/title/'  | sort | tr '\n' ';')
[ "$titles" = "title 'mode=baseline3 (seed 1)';title 'mode=hpo, std-exp=0.5 (seed 1)';" ] &&
    ok "legend: no exploration momentum on the baseline3 curve, which explores without it" ||
    fail "legend baseline3: $titles"
rm -f labels.png
(cd / && gnuplot "$WORK/labels.gp") 2>gp.err && check_png "--script alone redraws" labels.png 800 500 ||
    fail "--script: $(cat gp.err)"
"$PLOT" hpo-s1 >/dev/null 2>err1
[ $? -eq 2 ] && grep -q "no output file" err1 && ok "no -o: exit 2" || fail "no -o: $(cat err1)"
"$PLOT" nowhere -o x.png >/dev/null 2>err2
[ $? -eq 1 ] && grep -q "nowhere: no config" err2 && ok "missing run: exit 1" || fail "missing run: $(cat err2)"
[ -e x.png ] && fail "missing run: wrote x.png"

finish
