#!/usr/bin/env bash
# test_shape.sh - hpo-shape on real checkpoints: two short Hopper runs (mode
# hpo with the replay saved, mode sac without), 300 updates each.
#
#   test_shape.sh HPO_TRAIN HPO_SHAPE
#
# Checks the PNG (signature and IHDR size) with the default state, with
# --from-replay and with --obs; the samples of --dump: the three sets are
# not mixed up (Hopper's preset has std_tr 0.1 and std_exp 1.5, so each
# exploration action lies further from its a0 than the HD-refined action,
# which moves; mode sac has no leapfrog: aK and the exploration action equal
# a0), the same seed gives the same samples and replay row 0 (the run's
# first observation) the same as the default state; bad dimensions, rows,
# files and a missing gnuplot are refused with the exit code and message
# and no PNG. Skipped (exit 77) when gnuplot is not installed (deploy/setup
# installs gnuplot-nox).
set -uo pipefail
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

TRAIN=$(realpath "${1:?usage: test_shape.sh HPO_TRAIN HPO_SHAPE}")
SHAPE=$(realpath "${2:?hpo-shape}")
command -v gnuplot >/dev/null || { echo "gnuplot not installed: skipped"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_shape.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
export OPENBLAS_NUM_THREADS=1

F=(--env Hopper --steps 600 --learning-starts 300 --pi-hidden 32
   --q-hidden 32 --eval-every 0 --eval-episodes 1 --quiet)
"$TRAIN" "${F[@]}" --checkpoint-replay --out hpo >/dev/null 2>train1.err ||
    fail "train hpo: $(cat train1.err)"
"$TRAIN" "${F[@]}" --mode sac --out sac >/dev/null 2>train2.err ||
    fail "train sac: $(cat train2.err)"
CK=hpo/checkpoint-300.ckpt
[ -f "$CK" ] && [ -f sac/checkpoint-300.ckpt ] || { fail "no checkpoints"; finish; }

# shape NAME ARGS...: run hpo-shape, output in NAME.out / NAME.err; sets rc
shape() {
    local name=$1
    shift
    "$SHAPE" "$@" >"$name.out" 2>"$name.err"
    rc=$?
}

# ---- drawing ----
shape default "$CK" -o default.png --dump default.csv
[ "$rc" -eq 0 ] || fail "default: exit $rc: $(cat default.err)"
check_png "default state" default.png 1500 560
grep -q "^set=explore .*qmin_mean=" default.out || fail "default: $(cat default.out)"
shape replay "$CK" --from-replay 0 --dims 2,0 --size 900x400 -o replay.png --dump replay0.csv
[ "$rc" -eq 0 ] || fail "replay: exit $rc: $(cat replay.err)"
check_png "--from-replay 0 --dims 2,0 --size 900x400" replay.png 900 400
shape replay_last "$CK" --from-replay 599 --samples 2500 -o last.png --dump last.csv
[ "$rc" -eq 0 ] || fail "replay row 599: exit $rc: $(cat replay_last.err)"
check_png "--from-replay 599 --samples 2500" last.png 1500 560
printf '0.1 -0.2, 0.3\n0 0 0 0\n0.05 1e-2 -0.5 2\n' >obs11.txt
shape obs "$CK" --obs obs11.txt -o obs.png --size 1200x450
[ "$rc" -eq 0 ] || fail "--obs: exit $rc: $(cat obs.err)"
check_png "--obs FILE" obs.png 1200 450
shape rundir hpo -o rundir.png --dump rundir.csv
[ "$rc" -eq 0 ] && cmp -s default.csv rundir.csv &&
    ok "a run directory stands for its newest checkpoint" ||
    fail "run directory: exit $rc: $(cat rundir.err)"
shape sacshape sac/checkpoint-300.ckpt -o sac.png --dump sac.csv
[ "$rc" -eq 0 ] || fail "sac: exit $rc: $(cat sacshape.err)"
check_png "mode sac" sac.png 1500 560

# ---- the samples ----
# per row: |aK - a0| and |explore - a0| (all dimensions); the mean of each,
# rows where they are zero, and actions outside the box (a0 strictly inside)
dist() {
    awk -F, '
        /^#/ || $1 == "set" { next }
        { for (k = 4; k <= NF; k++) v[$1, $2, k] = $k; n[$1]++; nf = NF
          if ($1 == "a0") { for (k = 4; k <= NF; k++) if ($k <= -1 || $k >= 1) out++ }
          else { for (k = 4; k <= NF; k++) if ($k < -1 || $k > 1) out++ } }
        END {
            if (n["a0"] < 1 || n["a0"] != n["aK"] || n["a0"] != n["explore"]) { print "bad"; exit }
            for (r = 0; r < n["a0"]; r++) {
                dk = 0; de = 0
                for (k = 4; k <= nf; k++) {
                    x = v["aK", r, k] - v["a0", r, k]; dk += x * x
                    y = v["explore", r, k] - v["a0", r, k]; de += y * y
                }
                sk += sqrt(dk); se += sqrt(de); zk += dk == 0; ze += de == 0
            }
            printf "%d %.6f %.6f %d %d %d\n", n["a0"], sk / n["a0"], se / n["a0"], zk, ze, out
        }' "$1"
}
read -r rows dk de zk ze out < <(dist default.csv)
echo "mode hpo: rows $rows, mean |aK - a0| $dk, mean |explore - a0| $de"
[ "$rows" = 1000 ] || fail "dump: $rows rows per set, want 1000"
[ "$out" = 0 ] || fail "dump: $out actions outside the box"
awk -v k="$dk" -v e="$de" -v z="$zk" 'BEGIN { exit !(k > 0 && z == 0 && e > 2 * k) }' &&
    ok "hpo: every aK moved, exploration moved further (std_exp 1.5 vs std_tr 0.1)" ||
    fail "hpo: mean |aK - a0| $dk ($zk unmoved), mean |explore - a0| $de: sets mixed up?"
# more samples than one network batch (2048 rows): every batch is right
read -r rows dk de zk ze out < <(dist last.csv)
[ "$rows" = 2500 ] && [ "$out" = 0 ] && [ "$zk" = 0 ] &&
    awk -v k="$dk" -v e="$de" 'BEGIN { exit !(k > 0 && e > 2 * k) }' &&
    ok "2500 samples (two batches): $dk vs $de" ||
    fail "2500 samples: rows $rows, $out outside, $zk unmoved, $dk vs $de"
read -r rows dk de zk ze out < <(dist sac.csv)
[ "$zk" = "$rows" ] && [ "$ze" = "$rows" ] && [ "$rows" = 1000 ] &&
    ok "sac: aK and the exploration action equal a0" ||
    fail "sac: $zk / $ze of $rows rows equal a0 (want all)"
grep -q "^# Hopper mode hpo updates 300 std_tr 0.1 std_exp 1.5 K 2 " default.csv ||
    fail "dump header: $(head -1 default.csv)"

shape again "$CK" -o again.png --dump again.csv
cmp -s default.csv again.csv && ok "same seed, same samples" || fail "same seed gave other samples"
shape seed7 "$CK" --seed 7 -o seed7.png --dump seed7.csv
cmp -s default.csv seed7.csv && fail "--seed 7 gave the same samples" || ok "--seed changes the samples"
shape row0 "$CK" --from-replay 0 -o row0.png --dump row0.csv
cmp -s default.csv row0.csv && ok "replay row 0 is the run's first observation" ||
    fail "--from-replay 0 differs from the default state (the first observation)"

# ---- refusals: exit code, message, no PNG ----
refused() { # refused NAME CODE PATTERN ARGS...
    local name=$1 code=$2 pat=$3
    shift 3
    rm -f bad.png
    shape "$name" "$@" -o bad.png
    if [ "$rc" -ne "$code" ]; then
        fail "$name: exit $rc, want $code: $(cat "$name.err")"
    elif ! grep -q -- "$pat" "$name.err"; then
        fail "$name: message '$(cat "$name.err")' lacks '$pat'"
    elif [ -e bad.png ]; then
        fail "$name: wrote bad.png"
    else
        ok "$name: exit $code ($(head -1 "$name.err"))"
    fi
}
refused dims_range 2 "dimension 99 out of range: Hopper has 3 action dimensions (0 to 2)" "$CK" --dims 0,99
refused dims_negative 2 "(0 to 2)" "$CK" --dims -1,1
refused dims_equal 2 "must differ (each 0 to 2)" "$CK" --dims 1,1
refused dims_syntax 2 "bad value 'x' for --dims" "$CK" --dims x
refused row_range 2 "out of range: $CK holds 600 replay rows (0 to 599)" "$CK" --from-replay 600
refused no_replay 1 "sac/checkpoint-300.ckpt: holds no replay buffer" sac/checkpoint-300.ckpt --from-replay 0
refused samples 2 "(10 to 20000)" "$CK" --samples 5
refused size 2 "bad value '10x10' for --size" "$CK" --size 10x10
refused both_states 2 "give one" "$CK" --obs obs11.txt --from-replay 1
refused empty_value 2 "empty value for --dump" "$CK" --dump ""
"$SHAPE" "$CK" >noout.out 2>noout.err
rc=$?
[ "$rc" -eq 2 ] && grep -q "no output file (-o FILE.png)" noout.err &&
    ok "no -o: exit 2" || fail "no -o: exit $rc: $(cat noout.err)"
printf '1 2 3\n' >obs3.txt
refused obs_short 1 "obs3.txt: 3 numbers, the observation has 11" "$CK" --obs obs3.txt
printf '1 2 x 4\n' >obsx.txt
refused obs_garbage 1 "obsx.txt: 'x' (number 3) is not a finite number" "$CK" --obs obsx.txt
refused obs_missing 1 "cannot open nowhere.txt" "$CK" --obs nowhere.txt
refused missing 1 "nothere.ckpt: cannot open" nothere.ckpt
head -c 3000 "$CK" >cut.ckpt
refused truncated 1 "cut.ckpt: truncated" cut.ckpt
printf 'not a checkpoint at all, just text\n' >text.ckpt
refused foreign 1 "text.ckpt: " text.ckpt
shape out_dir "$CK" -o nodir/x.png
[ "$rc" -eq 1 ] && grep -q "cannot create nodir/x.png" out_dir.err &&
    ok "output directory missing: exit 1" || fail "out_dir: exit $rc: $(cat out_dir.err)"
rm -f bad.png
PATH=/nonexistent "$SHAPE" "$CK" -o bad.png >nognu.out 2>nognu.err
rc=$?
[ "$rc" -eq 1 ] && grep -q "gnuplot not found: install gnuplot-nox" nognu.err && [ ! -e bad.png ] &&
    ok "no gnuplot: exit 1 ($(cat nognu.err))" || fail "no gnuplot: exit $rc: $(cat nognu.err)"

finish
