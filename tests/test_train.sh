#!/usr/bin/env bash
# test_train.sh - integration tests of hpo-train: real processes, real files.
#
#   test_train.sh HPO_TRAIN SOURCE_ROOT PART
#
# PART is one of
#   basic      determinism (same seed -> byte-identical weights.bin, another
#              seed -> different), bad input (exit 2 with a message), the
#              files of a run (config has every field, progress.csv has its
#              header and one row per episode and evaluation), --config-only
#              and the preset order; deploy/train reads a relative --out
#              or --resume from the directory it is called in; --precision
#              bf16 trains (or, without AVX512-BF16, exits 2 saying why)
#   learn-hpo  mode hpo reaches a mean deterministic eval return >= -300 on
#   learn-sac  Pendulum by 6,000 env steps and holds it (the median of the
#              evaluations at 6k-10k; mode sac for learn-sac)
#
# The learning runs use 128-wide networks (--pi-hidden 128 --q-hidden 128,
# the rest at the defaults: batch 256, 2 hidden layers, K 3, h 32, seed 1) so
# that both fit the suite's 10 minutes on 2 cores. Measured on the shared
# 2-core machine: hpo 67-75 s, sac 17-22 s; final eval -142..-171 over seeds
# 1-3 for each mode. At 256 wide both also learn (-210 hpo, -209 sac) but hpo
# takes 3-4 minutes; at 64 wide sac seed 1 ends at -478 (one failed swing-up
# in the evaluation), so 64 is too small for a reliable check.
set -uo pipefail

BIN=${1:?usage: test_train.sh HPO_TRAIN SOURCE_ROOT PART}
SRC=${2:?source root}
PART=${3:?part}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_train.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export OPENBLAS_NUM_THREADS=1
: "${HPO_MODEL_DIR:=$SRC/common/envs/models}"
export HPO_MODEL_DIR

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# expect_usage_error NAME PATTERN ARGS...: exit 2 and PATTERN on stderr.
expect_usage_error() {
    local name=$1 pattern=$2
    shift 2
    run "$name" "$@"
    if [ "$rc" -ne 2 ]; then
        fail "$name: exit $rc, want 2 ($(cat "$WORK/$name.err"))"
    elif ! grep -q -- "$pattern" "$WORK/$name.err"; then
        fail "$name: stderr lacks '$pattern': $(cat "$WORK/$name.err")"
    else
        ok "$name: exit 2, $(head -c 200 "$WORK/$name.err")"
    fi
}

# The value of column COL in the last row of CSV whose column COL is set.
last_value() {
    awk -F, -v col="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
        c && $c != "" { v = $c }
        END { print v }' "$1"
}

TINY=(--env Pendulum --steps 600 --learning-starts 200 --batch 32
      --pi-hidden 32 --q-hidden 32 --eval-every 0 --eval-episodes 2)
HEADER=$(progress_header "$SRC")   # docs/status.md's progress.csv columns

basic() {
    # ---- determinism ----
    must_run a "${TINY[@]}" --seed 7 --out "$WORK/a"
    must_run b "${TINY[@]}" --seed 7 --out "$WORK/b"
    must_run c "${TINY[@]}" --seed 8 --out "$WORK/c"
    if cmp -s "$WORK/a/weights.bin" "$WORK/b/weights.bin"; then
        ok "same seed: identical weights.bin"
    else
        fail "same seed: weights.bin differ"
    fi
    if [ -f "$WORK/c/weights.bin" ] &&
        ! cmp -s "$WORK/a/weights.bin" "$WORK/c/weights.bin"; then
        ok "other seed: weights.bin differ"
    else
        fail "other seed: weights.bin identical or missing"
    fi
    # everything but the timing columns is reproducible too
    local same="env_steps updates episode_return eval_return eval_std q_loss pi_loss alpha logp hd_dist gate q_mean replay_size episodes"
    if cmp -s <(csv_cols "$WORK/a/progress.csv" $same) \
        <(csv_cols "$WORK/b/progress.csv" $same); then
        ok "same seed: identical progress.csv (timing columns aside)"
    else
        fail "same seed: progress.csv differ"
    fi

    # ---- --precision bf16: trains where the CPU has AVX512-BF16 (the
    # weights then differ from fp32's), else exit 2 with the reason ----
    if grep -qw avx512_bf16 /proc/cpuinfo; then
        must_run p16 "${TINY[@]}" --seed 7 --precision bf16 --out "$WORK/p16"
        if grep -qx "precision = bf16" "$WORK/p16/config" &&
            [ -f "$WORK/p16/weights.bin" ] &&
            ! cmp -s "$WORK/a/weights.bin" "$WORK/p16/weights.bin"; then
            ok "--precision bf16: trained, recorded in config, weights differ from fp32's"
        else
            fail "--precision bf16: config, weights.bin or its difference from fp32 wrong"
        fi
    else
        expect_usage_error p16 "no AVX512-BF16" "${TINY[@]}" --precision bf16 \
            --out "$WORK/p16"
    fi
    expect_usage_error p16bad "use fp32 or bf16" "${TINY[@]}" --precision fp16

    # ---- the files of a run ----
    local final
    final=$(cat "$WORK/a.out")
    if [[ $final =~ ^final\ eval_return=-?[0-9.]+\ eval_std=[0-9.]+\ env_steps=600\ updates=400\ wall_s=[0-9.]+$ ]]; then
        ok "final line: $final"
    else
        fail "final line: '$final'"
    fi
    local csv=$WORK/a/progress.csv
    if [ "$(head -1 "$csv")" = "$HEADER" ]; then
        ok "progress.csv header"
    else
        fail "progress.csv header: $(head -1 "$csv")"
    fi
    # Pendulum episodes are 200 steps: 3 episode rows and the final evaluation
    local rows episodes evals bad
    rows=$(($(wc -l <"$csv") - 1))
    episodes=$(csv_cols "$csv" episode_return | grep -c .)
    evals=$(csv_cols "$csv" eval_return | grep -c .)
    local ncols
    ncols=$(head -1 "$csv" | awk -F, '{ print NF }')
    bad=$(awk -F, -v n="$ncols" 'NR > 1 && NF != n' "$csv" | wc -l)
    if [ "$rows" -eq 4 ] && [ "$episodes" -eq 3 ] && [ "$evals" -eq 1 ] &&
        [ "$bad" -eq 0 ]; then
        ok "progress.csv: 3 episode rows, 1 evaluation row, $ncols cells each"
    else
        fail "progress.csv: $rows rows ($episodes episodes, $evals evaluations, $bad malformed)"
        cat "$csv" >&2
    fi
    if [ "$(last_value "$csv" env_steps)" = 600 ] &&
        [ -n "$(last_value "$csv" q_loss)" ] &&
        [ -n "$(last_value "$csv" eval_return)" ]; then
        ok "progress.csv: last row at 600 steps, losses and eval present"
    else
        fail "progress.csv: values missing"
    fi
    # every setting hpo-train declares, plus the dimensions, and the overrides
    local fields missing=()
    fields=$("$BIN" --describe-settings | /usr/bin/python3 -c \
        'import json, sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["settings"]))')
    [ "$(echo "$fields" | wc -w)" -gt 20 ] || fail "hpo-train --describe-settings named only: $fields"
    for f in $fields obs_dim act_dim; do
        grep -q "^$f = " "$WORK/a/config" || missing+=("$f")
    done
    if [ ${#missing[@]} -eq 0 ] && grep -qx "batch = 32" "$WORK/a/config" &&
        grep -qx "env = Pendulum" "$WORK/a/config" &&
        grep -qx "seed = 7" "$WORK/a/config" &&
        grep -qx "obs_dim = 3" "$WORK/a/config"; then
        ok "config: $(echo $fields | wc -w) fields + dimensions, overrides applied"
    else
        fail "config: missing ${missing[*]:-none}, or overrides not applied"
        cat "$WORK/a/config" >&2
    fi

    # ---- --config-only and the preset order ----
    run co1 --std-exp 2 --env Hopper --config-only
    if [ "$rc" -eq 0 ] && grep -qx "std-exp = 2" "$WORK/co1.out" &&
        grep -qx "K = 2" "$WORK/co1.out" && grep -qx "env = Hopper" "$WORK/co1.out"; then
        ok "--config-only: preset applied first, later flag wins wherever --env is"
    else
        fail "--config-only: $(cat "$WORK/co1.out" "$WORK/co1.err")"
    fi
    run co2 --env hopper-v5 --config-only
    if [ "$rc" -eq 0 ] && grep -qx "std-exp = 1.5" "$WORK/co2.out"; then
        ok "--config-only: Hopper preset"
    else
        fail "--config-only Hopper preset: $(cat "$WORK/co2.out" "$WORK/co2.err")"
    fi

    # ---- --describe-settings: every setting of the config, who reads it ----
    run ds --env Ant --mode sac --describe-settings --json
    if [ "$rc" -eq 0 ] && /usr/bin/python3 - "$WORK/ds.out" "$WORK/co2.out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [s["name"] for s in d["settings"]]
config = [l.split(" = ")[0] for l in open(sys.argv[2])
          if l.split(" = ")[0] not in ("obs_dim", "act_dim")]
by = {s["name"]: s for s in d["settings"]}
assert names == config, (names, config)          # the same table, same order
assert d["modes"] == ["hpo", "baseline1", "baseline2", "baseline3", "sac"]
assert by["pi-layers"]["value"] == "2"            # mode sac: 2 x 256
assert by["std-tr"]["value"] == "0.100000001"     # Ant's row
assert "sac" not in by["std-exp"]["modes"] and "baseline3" not in by["std-exp"]["modes"]
assert "baseline2" not in by["hd-target"]["modes"] and "hpo" in by["hd-target"]["modes"]
assert by["lr"]["modes"] == d["modes"]
assert by["K"]["agent"] and not by["std-tr"]["agent"]
assert by["batch"]["min"] == 1 and by["batch"]["max"] == 65536
PY
    then
        ok "--describe-settings --json: the config's settings in order, modes that read each, ranges"
    else
        fail "--describe-settings: $(cat "$WORK/ds.err")"
    fi
    expect_usage_error json_alone "--json goes with --describe-settings" --json

    # ---- bad input ----
    expect_usage_error unknown_env "unknown environment 'Nope'.*Pendulum" \
        --env Nope --steps 10 --out "$WORK/x"
    [ -e "$WORK/x" ] && fail "unknown env: created its run directory"
    expect_usage_error unknown_flag "unknown flag --bogus" --bogus 1
    expect_usage_error bad_value "bad value 'abc' for --steps" --steps abc
    expect_usage_error bad_mode "bad --mode 'fast'" --mode fast
    expect_usage_error missing_value "needs a value" --steps
    expect_usage_error empty_value "empty value for --seed" --seed ""
    expect_usage_error invalid "batch must be" --batch 0
    expect_usage_error positional "unexpected argument 'extra'" extra
    : >"$WORK/file"
    run bad_out "${TINY[@]}" --steps 10 --out "$WORK/file/run"
    if [ "$rc" -ne 0 ] && grep -q "$WORK/file" "$WORK/bad_out.err"; then
        ok "unwritable --out: exit $rc, $(head -c 200 "$WORK/bad_out.err")"
    else
        fail "unwritable --out: exit $rc, $(cat "$WORK/bad_out.err")"
    fi
    run help --help
    if [ "$rc" -eq 0 ] && grep -q -- "--pi-hidden" "$WORK/help.out"; then
        ok "--help lists the settings"
    else
        fail "--help: exit $rc"
    fi

    # ---- deploy/train: a relative --out / --out= / --resume is the caller's ----
    local build
    build=$(cd "$(dirname "$BIN")/.." && pwd)
    for form in "--out rel-a" "--out=rel-b" "--out rel-a --resume rel-a"; do
        # shellcheck disable=SC2086 # the form is words
        (cd "$WORK" && HPO_BUILD_DIR=$build "$SRC/deploy/train" --quiet "${TINY[@]}" \
            $form >"$WORK/deploy-train.out" 2>"$WORK/deploy-train.err")
        rc=$?
        local dir=${form##* }
        dir=${dir#--out=}
        if [ "$rc" -eq 0 ] && [ -s "$WORK/$dir/progress.csv" ] && [ ! -e "$SRC/$dir" ]; then
            ok "deploy/train $form from the work directory: $WORK/$dir"
        else
            fail "deploy/train $form: exit $rc, $WORK/$dir/progress.csv $([ -s "$WORK/$dir/progress.csv" ] || echo missing), $SRC/$dir $([ -e "$SRC/$dir" ] && echo 'exists (wrong place)' || echo absent): $(tail -3 "$WORK/deploy-train.err")"
        fi
        rm -rf "${SRC:?}/$dir"
    done
}

# learn MODE SEED: 10,000 steps on Pendulum; the median of the last five
# evaluations (6k-10k steps) must reach -300: learning must have happened by
# 6k and held for at least three of five evaluations. Not the last one alone:
# one failed swing-up among the 10 episodes of one evaluation drops a learned
# policy from about -170 to about -330 (measured on the portable build with
# the auto-tuned temperature, mode hpo: seed 1 -170 -166 -168 -169 -169 -329
# from 5k to 10k, seed 3 -175 -479 -161 -163 -169 -168, seed 2 -146..-142).
# Prints the evaluation curve either way.
learn() {
    local mode=$1 seed=$2 out=$WORK/learn-$1
    run "learn-$mode" --env Pendulum --mode "$mode" --seed "$seed" \
        --steps 10000 --learning-starts 1000 --pi-hidden 128 --q-hidden 128 \
        --eval-every 1000 --out "$out"
    if [ "$rc" -ne 0 ]; then
        fail "$mode: exit $rc: $(cat "$WORK/learn-$mode.err")"
        return
    fi
    echo "$mode evaluation curve (env_steps, eval_return, eval_std, wall_s):"
    csv_cols "$out/progress.csv" env_steps eval_return eval_std wall_s |
        awk -F, '$2 != "" { print "  " $1, $2, $3, $4 }'
    local med
    med=$(csv_cols "$out/progress.csv" env_steps eval_return |
        awk -F, '$2 != "" && $1 > 5000 { print $2 }' |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 5) print v[3] }')
    if [ -z "$med" ]; then
        fail "$mode: not five evaluations between 6k and 10k steps"
    elif awk -v r="$med" 'BEGIN { exit !(r >= -300) }'; then
        ok "$mode: median eval_return over 6k-10k steps $med >= -300 ($(cat "$WORK/learn-$mode.out"))"
    else
        fail "$mode: median eval_return over 6k-10k steps $med < -300"
    fi
}

case $PART in
basic) basic ;;
learn-hpo) learn hpo 1 ;;
learn-sac) learn sac 1 ;;
*)
    echo "test_train.sh: unknown part '$PART'" >&2
    exit 2
    ;;
esac

finish
