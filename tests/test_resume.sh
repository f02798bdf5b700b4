#!/usr/bin/env bash
# test_resume.sh - checkpoints and --resume of hpo-train: real processes.
#
#   test_resume.sh HPO_TRAIN
#
# - exact continuation: a 400-step Pendulum run (checkpoint at its end, an
#   episode boundary, replay saved) resumed to 800 steps gives a weights.bin
#   and a checkpoint-600.ckpt byte-identical to an uninterrupted 800-step run
#   with the same seed, and the same training episode rows (returns and the
#   means of each episode's updates); wall_s and
#   updates_per_s in progress.csv continue across the resume;
# - --checkpoint-every / --keep: the periodic checkpoints and the rotation;
# - fallback: with the newest checkpoint truncated, or with one bit flipped,
#   the resume names it and why, uses the previous one, and still ends
#   byte-identical;
# - refusals: other network sizes, other environment, no checkpoint at all;
# - a checkpoint without the replay: the log says the buffer restarts empty;
# - SIGINT and SIGTERM: exit 130 with a checkpoint (no temporary file left),
#   and the run resumes from it;
# - an older build's progress.csv (hpo-train's 14 columns): the resume
#   rewrites it into docs/status.md's columns, its rows up to the checkpoint
#   kept cell for cell, and the run continues byte-identical.
set -uo pipefail

BIN=$(realpath "${1:?usage: test_resume.sh HPO_TRAIN}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_resume.XXXXXX")
trap 'kill "$bgpid" 2>/dev/null; rm -rf "$WORK"' EXIT
bgpid=
SRC=$(cd "$(dirname "$0")/.." && pwd)
export OPENBLAS_NUM_THREADS=1

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

same() { # same WHAT FILE1 FILE2
    if cmp -s "$2" "$3"; then ok "$1: identical"; else fail "$1: differ"; fi
}

# same_ckpt WHAT CKPT1 CKPT2: every section byte for byte but the run's
# wall clock (CNTR bytes 24..31, docs/checkpoint.md), which no two runs share
same_ckpt() {
    if /usr/bin/python3 - "$2" "$3" <<'PY'; then ok "$1: identical but wall_s"; else fail "$1: differ"; fi
import struct, sys
def sections(path):
    b = open(path, "rb").read()
    out, off = [b[:16]], 16
    while off < len(b):
        tag, (n,) = b[off:off + 4], struct.unpack_from("<Q", b, off + 8)
        pay = bytearray(b[off + 16:off + 16 + n])
        if tag == b"CNTR":
            pay[24:32] = bytes(8)
        out.append((tag, bytes(pay)))
        off += 16 + n
    return out
sys.exit(sections(sys.argv[1]) != sections(sys.argv[2]))
PY
}

# Pendulum episodes are 200 steps; with --learning-starts 200 the run makes
# 200 updates by step 400, an episode boundary.
F=(--env Pendulum --learning-starts 200 --batch 32 --pi-hidden 32
   --q-hidden 32 --eval-every 0 --eval-episodes 2 --seed 5)
cd "$WORK" || exit 1

# ---- exact continuation ----
must_run a "${F[@]}" --checkpoint-replay --steps 400 --out a
must_run b "${F[@]}" --checkpoint-replay --steps 800 --out b \
    --checkpoint-every 200 --keep 2
cp -r a a2
cp -r a a3
cp -r a a4
sleep 1.2 # a resume's wall_s continues the run's, not the restart's clock
must_run a_resume --resume a --steps 800
/usr/bin/python3 - a/progress.csv <<'EOF' && ok "wall_s and updates_per_s continue across the resume" || fail "clocks after resume: $(csv_cols a/progress.csv env_steps updates updates_per_s wall_s)"
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
before = [r for r in rows if int(r["env_steps"]) <= 400]
after = [r for r in rows if int(r["env_steps"]) > 400]
w0, w1 = float(before[-1]["wall_s"]), float(after[0]["wall_s"])
# no restart at 0, and no jump by the pause between the two processes
assert w0 <= w1 < w0 + 1.0, (w0, w1)
# a rate is measured from the resume on (its first window holds the
# process's start, so its size depends on the machine's load: only > 0)
r1 = float(after[0]["updates_per_s"])
assert r1 > 0 and math.isfinite(r1), r1
EOF
grep -q "resumed from a/checkpoint-200.ckpt: env steps 400, updates 200, episodes 2" \
    a_resume.err || fail "resume log: $(cat a_resume.err)"
grep -q "replay buffer restored: 400 rows" a_resume.err ||
    fail "replay log: $(cat a_resume.err)"
same "resumed 400 -> 800 vs uninterrupted 800: weights.bin" a/weights.bin b/weights.bin
same_ckpt "resumed vs uninterrupted: checkpoint-600.ckpt (Adam, RNGs, replay, counters, recent returns)" \
    a/checkpoint-600.ckpt b/checkpoint-600.ckpt
# training episodes (steps, updates, return, and the means of the episode's
# updates: a row is written after its last step's update, so the checkpoint
# holds none the next row needs) identical; a has one more evaluation row,
# at 400
ep_cols="env_steps updates episode_return q_loss pi_loss alpha logp q_mean"
# shellcheck disable=SC2086  # the column names are words
if cmp -s <(csv_cols a/progress.csv $ep_cols | awk -F, '$3 != ""') \
    <(csv_cols b/progress.csv $ep_cols | awk -F, '$3 != ""'); then
    ok "resumed vs uninterrupted: training episode rows, returns and update means"
else
    fail "episode rows differ: $(diff <(csv_cols a/progress.csv $ep_cols | awk -F, '$3 != ""') \
        <(csv_cols b/progress.csv $ep_cols | awk -F, '$3 != ""'))"
fi

# ---- an older build's progress.csv ----
# a4 is a at 400 steps; its progress.csv as hpo-train wrote it before the
# one schema: 14 columns, episode_return third
OLD="env_steps updates episode_return eval_return eval_std q_loss pi_loss alpha logp hd_dist gate q_mean updates_per_s wall_s"
{ echo "${OLD// /,}"; csv_cols a4/progress.csv $OLD; } >a4/old.csv
mv a4/old.csv a4/progress.csv
rows_before=$(tail -n +2 a4/progress.csv)
must_run a4_resume --resume a4 --steps 800
if [ "$(head -1 a4/progress.csv)" = "$(progress_header "$SRC")" ] &&
    [ "$(csv_cols a4/progress.csv $OLD | head -n "$(echo "$rows_before" | wc -l)")" = "$rows_before" ] &&
    cmp -s <(csv_cols a4/progress.csv env_steps updates episode_return | awk -F, '$3 != ""') \
        <(csv_cols b/progress.csv env_steps updates episode_return | awk -F, '$3 != ""'); then
    ok "an older build's 14-column progress.csv: rewritten into today's columns, its rows kept, the episodes continue"
else
    fail "older progress.csv after resume: $(head -3 a4/progress.csv)"
fi
same "resumed over an older progress.csv: weights.bin" a4/weights.bin b/weights.bin

# ---- periodic checkpoints and rotation ----
if [ "$(cd b && ls checkpoint-*.ckpt | tr '\n' ' ')" = "checkpoint-400.ckpt checkpoint-600.ckpt " ]; then
    ok "--checkpoint-every 200 --keep 2: checkpoint-400 and -600 kept"
else
    fail "rotation: $(ls b)"
fi

# ---- fallback past a truncated or bit-flipped newest checkpoint ----
for v in a2 a3; do
    must_run "${v}_mid" --resume "$v" --steps 800
done
f=a2/checkpoint-600.ckpt
head -c $(($(stat -c %s "$f") / 2)) "$f" >"$f.cut" && mv "$f.cut" "$f"
f=a3/checkpoint-600.ckpt
python3 - "$f" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 3] ^= 0x04
open(p, "wb").write(b)
EOF
for v in a2 a3; do
    rm "$v/weights.bin"
    must_run "${v}_fallback" --resume "$v" --steps 800
    why=truncated
    [ "$v" = a3 ] && why="checksum mismatch"
    if grep -q "skipping checkpoint $v/checkpoint-600.ckpt: .*$why" "$v"_fallback.err &&
        grep -q "resumed from $v/checkpoint-200.ckpt" "$v"_fallback.err; then
        ok "$why: refused, previous used: $(grep skipping "$v"_fallback.err | cut -c 24-)"
    else
        fail "$why fallback: $(cat "$v"_fallback.err)"
    fi
    same "$v after fallback: weights.bin" "$v/weights.bin" b/weights.bin
done

# ---- refusals ----
run mismatch --resume a --steps 1000 --pi-hidden 64
if [ "$rc" -eq 1 ] && grep -q "a/checkpoint-600.ckpt: other network sizes" mismatch.err; then
    ok "other sizes refused: $(tail -1 mismatch.err | cut -c 24-)"
else
    fail "mismatch: exit $rc, $(cat mismatch.err)"
fi
run otherenv --resume a --env Hopper
if [ "$rc" -eq 1 ] && grep -q "other environment" otherenv.err; then
    ok "other environment refused: $(cat otherenv.err)"
else
    fail "other env: exit $rc, $(cat otherenv.err)"
fi
mkdir empty
run none --resume empty
if [ "$rc" -eq 1 ] && grep -q "no valid checkpoint in empty" none.err; then
    ok "nothing to resume: exit 1, $(cat none.err)"
else
    fail "no checkpoint: exit $rc, $(cat none.err)"
fi
run badkeep "${F[@]}" --keep 0
[ "$rc" -eq 2 ] || fail "--keep 0: exit $rc"

# ---- hpo-learner's spellings (one vocabulary, docs/training.md) ----
# --out DIR --resume, --checkpoint-replay with 0 or 1 after it
cp -r b b5
must_run b5_resume --out b5 --resume --checkpoint-replay 1 --steps 1000
grep -q "resumed from b5/checkpoint-600.ckpt: env steps 800" b5_resume.err &&
    grep -q "env_steps=1000" b5_resume.out &&
    ok "--out DIR --resume --checkpoint-replay 1: resumed as --resume DIR" ||
    fail "--out DIR --resume: $(cat b5_resume.err)"
must_run b5_same --resume b5 --out b5 --checkpoint-replay 0 --steps 1100
run twodirs --out b5 --resume b --steps 1200
if [ "$rc" -eq 2 ] && grep -q "name two run directories" twodirs.err; then
    ok "--out and --resume naming two directories refused: exit 2"
else
    fail "--out b5 --resume b: exit $rc, $(cat twodirs.err)"
fi
run bareresume "${F[@]}" --resume --steps 400
[ "$rc" -eq 2 ] && grep -q "needs the run directory" bareresume.err ||
    fail "--resume without a directory: exit $rc, $(cat bareresume.err)"

# ---- no replay in the checkpoint ----
must_run c "${F[@]}" --steps 400 --out c
must_run c_resume --resume c --steps 600
if grep -q "buffer restarts empty" c_resume.err; then
    ok "without --checkpoint-replay: $(grep 'restarts empty' c_resume.err | cut -c 24-)"
else
    fail "no-replay resume log: $(cat c_resume.err)"
fi
grep -q "env_steps=600 updates=" c_resume.out || fail "c resume: $(cat c_resume.out)"

# ---- SIGINT, SIGTERM ----
for sig in INT TERM; do
d=d$sig
"$BIN" "${F[@]}" --steps 1000000 --out $d >$d.out 2>$d.err &
bgpid=$!
for _ in $(seq 200); do
    [ "$(csv_cols $d/progress.csv updates 2>/dev/null | awk '$1 > 0' | wc -l)" -gt 0 ] && break
    sleep 0.1
done
kill -$sig "$bgpid"
wait "$bgpid"
rc=$?
bgpid=
SRC=$(cd "$(dirname "$0")/.." && pwd)
n=$(ls $d/checkpoint-*.ckpt 2>/dev/null | wc -l)
tmps=$(find "$d" -maxdepth 1 -name "*tmp*" | wc -l)
at=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' $d.err)
if [ "$rc" -eq 130 ] && [ "$n" -eq 1 ] && [ "$tmps" -eq 0 ] && [ -n "$at" ]; then
    ok "SIG$sig: exit 130, one checkpoint at step $at, no temporary file left"
    must_run ${d}_resume --resume $d --steps $((at + 300))
    if grep -q "resumed from $d/checkpoint-.*: env steps $at," ${d}_resume.err &&
        grep -q "env_steps=$((at + 300)) " ${d}_resume.out; then
        ok "resumed after SIG$sig from step $at to $((at + 300))"
    else
        fail "resume after SIG$sig: $(cat ${d}_resume.err ${d}_resume.out)"
    fi
    if csv_cols $d/progress.csv env_steps | awk '{ if ($1 < prev) bad = 1; prev = $1 } END { exit bad }' &&
        [ "$(head -1 $d/progress.csv)" = "$(progress_header "$SRC")" ]; then
        ok "progress.csv continues"
    else
        fail "progress.csv after resume"
    fi
else
    fail "SIG$sig: exit $rc, $n checkpoints, $tmps temporary files, step '$at': $(cat $d.err)"
fi
done

finish
