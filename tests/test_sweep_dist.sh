#!/usr/bin/env bash
# test_sweep_dist.sh - hpo-sweep --impl dist on real deploy/local runs
# (hpo-learner, 2 hpo-actors, an evaluation actor) with tiny Pendulum budgets;
# the sweep test's part for distributed cells (tests/test_sweep.sh has the rest).
#
#   test_sweep_dist.sh HPO_SWEEP HPO_TRAIN
#
# HPO_TRAIN must sit in a build directory with learner/hpo-learner,
# actor/hpo-actor and tools/hpo-status (the sweep runs those of its build).
#
# flags      --kill-at and --actors without --impl dist, a --kill-at at or past
#            the budget: exit 2, nothing made
# grid       --impl dist,c --kill-at 0,K: cells sac-dist-s1,
#            sac-dist-killK-s1 and sac-c-s1 (the dist cells have impl c's
#            config, plus actors and kill_at in cell.json and grid.json); two
#            cells at once on their own loopback ports; each log names its
#            machine; the dist cells finish (an evaluation at the budget)
# kill       the kill cell's learner was killed with SIGKILL at env step K or
#            later (DIR/<cell>/killed, a line in its log), resumed from its
#            checkpoint with the replay buffer (learner.log) without spending a
#            retry; the uninterrupted cell was never killed
# report     rows "sac (dist) kill-at=none", "sac (dist) kill-at=K" and
#            "sac (c)"; --compare of the killed row against the uninterrupted
#            one and of dist against c (the same mode); the time per run
# stop       a sweep of dist cells stopped with SIGTERM exits 130 and leaves
#            no process of its cells; one killed with SIGKILL (the sweep
#            alone) leaves none either; a learner killed from outside is
#            resumed (a dead run retried); the same command then finishes
#            every cell from its checkpoints
set -uo pipefail
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SWEEP=$(realpath "${1:?usage: test_sweep_dist.sh HPO_SWEEP HPO_TRAIN}")
HPO_TRAIN=$(realpath "${2:?hpo-train}")
export HPO_TRAIN
unset LD_PRELOAD HPO_BUILD_DIR
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_sweep_dist.XXXXXX")
SWEEPS=()
# ours: the processes that name this test's directory in their command line
# (sweeps, deploy/local, learners) or hold a file in it open (the actors'
# logs and every cell process's inherited lock), by id
ours() {
    TEST_WORK=$WORK/ /usr/bin/python3 -c '
import os
w, me = os.environ["TEST_WORK"], {os.getpid(), os.getppid()}
for p in filter(str.isdigit, os.listdir("/proc")):
    if int(p) in me:
        continue
    try:
        hit = w in open(f"/proc/{p}/cmdline").read().replace("\0", " ")
        for fd in ([] if hit else os.listdir(f"/proc/{p}/fd")):
            try:
                hit = hit or os.readlink(f"/proc/{p}/fd/{fd}").startswith(w)
            except OSError:
                pass
    except OSError:
        continue
    if hit:
        print(p)
' | grep -vx "$$"
}
cleanup() {
    for p in "${SWEEPS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for _ in 1 2 3; do
        for p in $(ours); do kill -9 "$p" 2>/dev/null; done
        sleep 0.2
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1

# none_left SECONDS: 0 once no process of this test's cells is alive
none_left() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        [ -z "$(ours)" ] && return 0
        sleep 0.2
    done
    return 1
}

# returns_table REPORT: the lines between the returns markers
returns_table() { sed -n '/<!-- returns -->/,/<!-- \/returns -->/p' "$1"; }

# 6000 steps of Pendulum with 64-unit networks: a few seconds per run here,
# long enough for the sweep (which looks at progress.csv every 0.1 s, the
# learner writing a row a second) to see its learner at step 2500
K=2500
# shellcheck disable=SC2054  # commas are hpo-sweep's list separator
G=(--env Pendulum --mode sac --impl dist,c --seeds 1 --steps 6000 --kill-at "0,$K"
   --set learning-starts=500 --set pi-hidden=64 --set q-hidden=64 --set batch=64
   --set eval-every=500 --set eval-episodes=2 --checkpoint-every 200 --jobs 2 --quiet)

# ---- flags ----
"$SWEEP" --out x --env Pendulum --steps 100 --kill-at 50 >f1.out 2>f1.err
[ $? -eq 2 ] && grep -q -- "--kill-at: only for distributed cells (--impl dist)" f1.err && [ ! -e x ] &&
    ok "--kill-at without --impl dist: exit 2" || fail "--kill-at without dist: $(cat f1.err)"
"$SWEEP" --out x --env Pendulum --steps 100 --impl dist --kill-at 100 >f2.out 2>f2.err
[ $? -eq 2 ] && grep -q "at or past the budget" f2.err && [ ! -e x ] &&
    ok "--kill-at at the budget: exit 2" || fail "--kill-at 100 of 100: $(cat f2.err)"
"$SWEEP" --out x --env Pendulum --steps 100 --actors 3 >f3.out 2>f3.err
[ $? -eq 2 ] && grep -q -- "--actors: only for distributed cells" f3.err &&
    ok "--actors without --impl dist: exit 2" || fail "--actors without dist: $(cat f3.err)"

# ---- grid, kill ----
setsid "$SWEEP" --out "$WORK/a" "${G[@]}" >a.out 2>a.err &
pid=$!
SWEEPS+=("$pid")
for _ in $(seq 1800); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "dist sweep still going after 180 s: $(cat a.err)"
wait "$pid"
rc=$?
[ $rc -eq 0 ] && ok "a sweep of dist cells (one killed at $K) and a c cell: exit 0" ||
    fail "dist sweep: exit $rc: $(cat a.err; tail -5 a/Pendulum/*/log)"
none_left 10 && ok "no process of the finished cells left" ||
    fail "left after the sweep: $(ours | xargs -r ps -o pid,args -p)"
got=$(cd a && ls -d Pendulum/* | sort | tr '\n' ' ')
[ "$got" = "Pendulum/sac-c-s1 Pendulum/sac-dist-kill$K-s1 Pendulum/sac-dist-s1 " ] &&
    ok "cells: sac-c-s1, sac-dist-kill$K-s1, sac-dist-s1" || fail "cells: $got"
/usr/bin/python3 - a "$K" <<'EOF' && ok "grid.json and cell.json record actors and kill_at; the dist cells' config is impl c's" || fail "records"
import json, sys
out, k = sys.argv[1], int(sys.argv[2])
g = json.load(open(f"{out}/grid.json"))
assert g["actors"] == 2 and g["kill_at"] == [0, k], g
c = {n: json.load(open(f"{out}/Pendulum/{n}/cell.json"))
     for n in ("sac-c-s1", "sac-dist-s1", f"sac-dist-kill{k}-s1")}
assert c["sac-dist-s1"]["actors"] == 2 and c["sac-dist-s1"]["kill_at"] == 0, c["sac-dist-s1"]
assert c[f"sac-dist-kill{k}-s1"]["kill_at"] == k
assert "kill_at" not in c["sac-c-s1"]
assert c["sac-dist-s1"]["config"] == c["sac-c-s1"]["config"]
EOF
for c in sac-dist-s1 sac-dist-kill$K-s1; do
    d=a/Pendulum/$c
    last=$(csv_cols "$d/progress.csv" env_steps eval_return | awk -F'[ ,]' '$2 != "" { s = $1 } END { print s }')
    [ "${last:-0}" -ge 6000 ] && grep -q '^run_id = ' "$d/config" && [ -f "$d/weights.bin" ] &&
        ls "$d"/actor-1.log "$d"/actor-2.log "$d"/eval.log >/dev/null 2>&1 &&
        ok "$c: learner, 2 actors and an evaluation actor ran to an evaluation at 6000" ||
        fail "$c: last evaluation at '${last}': $(ls "$d"; tail -3 "$d/log")"
    grep -q "^# host $(uname -n): " "$d/log" && ok "$c: its log names the machine" ||
        fail "$c: no host line: $(head -3 "$d/log")"
done
p1=$(sed -n 's/.* --port \([0-9]*\) .*/\1/p' a/Pendulum/sac-dist-s1/log | head -1)
p2=$(sed -n 's/.* --port \([0-9]*\) .*/\1/p' "a/Pendulum/sac-dist-kill$K-s1/log" | head -1)
[ -n "$p1" ] && [ -n "$p2" ] && [ $((p1 - p2 > 2 || p2 - p1 > 2)) -eq 1 ] &&
    ok "the two dist cells ran on their own ports ($p1, $p2)" || fail "ports '$p1' '$p2'"
kd=a/Pendulum/sac-dist-kill$K-s1
at=$(sed -n 's/.* at env step \([0-9]*\) (--kill-at .*/\1/p' "$kd/killed")
if [ "${at:-0}" -ge $K ] && [ "$at" -lt 6000 ] && grep -q "^# kill -9 of hpo-learner" "$kd/log" &&
    grep -q "resumed from .*checkpoint-[0-9]*\.ckpt: [0-9]* env steps, [0-9]* updates, [1-9][0-9]* replay rows" "$kd/learner.log" &&
    [ "$(grep -c -- '--resume$' "$kd/log")" -eq 1 ]; then
    ok "the kill cell's learner was killed with SIGKILL at env step $at and resumed from its checkpoint with its replay"
else
    fail "kill cell: killed at '$at': $(cat "$kd/killed" 2>&1; grep -i resum "$kd/learner.log"; grep '^#' "$kd/log")"
fi
grep -q "kill -9 of hpo-learner" a/Pendulum/sac-dist-s1/log || [ -e a/Pendulum/sac-dist-s1/killed ] ||
    grep -q -- '--resume' a/Pendulum/sac-dist-s1/log &&
    fail "the uninterrupted cell was killed or resumed" || ok "the uninterrupted cell ran in one piece"
grep -q "ended with exit" a.err && fail "the kill spent a retry: $(cat a.err)"

# ---- report ----
"$SWEEP" report a --no-png --marks 3000,6000 \
    --compare "sac (dist) kill-at=$K:sac (dist) kill-at=none" \
    --compare "sac (dist) kill-at=none:sac (c)" >r.md 2>r.err || fail "report: $(cat r.err)"
rows=$(returns_table r.md | grep '^| sac' | awk -F' *[|] *' '{ printf "%s|%s;", $2, $3 }')
[ "$rows" = "sac (dist) kill-at=none|1;sac (dist) kill-at=$K|1;sac (c)|1;" ] &&
    ok "report: a row each for the uninterrupted dist cell, the killed one and the c cell" ||
    fail "report rows: $rows"
grep -q "^## Comparison: sac (dist) kill-at=$K against sac (dist) kill-at=none$" r.md &&
    grep -q "^## Comparison: sac (dist) kill-at=none against sac (c)$" r.md &&
    [ "$(grep -c '^| Pendulum | 1, 1 | -[0-9]* | -[0-9]* | ' r.md)" -eq 2 ] &&
    ok "report --compare: killed against uninterrupted, dist against c" ||
    fail "compare: $(sed -n '/## Comparison/,$p' r.md)"
# a distributed run stops at the first ingest past --steps (6001, 6032, ...): the
# row names the step its runs reached, not the round --steps
grep -q "^Time per run.*: sac (dist) kill-at=none [0-9.]* ± [0-9.]* min (n=1, to [0-9]*k\{0,1\} steps); sac (dist) kill-at=$K [0-9.]* ± " r.md &&
    ok "report: each row's wall-clock per run" || fail "time per run: $(grep -i 'time per run' r.md)"

# ---- stop ----
# shellcheck disable=SC2054
S=(--env Pendulum --mode sac,hpo --impl dist --seeds 1 --steps 30000
   --set learning-starts=500 --set pi-hidden=64 --set q-hidden=64 --set batch=64
   --set eval-every=1000 --set eval-episodes=1 --checkpoint-every 500 --jobs 2 --quiet)
setsid "$SWEEP" --out "$WORK/s" "${S[@]}" >s1.out 2>s1.err &
pid=$!
SWEEPS+=("$pid")
for _ in $(seq 600); do compgen -G 's/Pendulum/*/checkpoint-*.ckpt' >/dev/null && break; sleep 0.1; done
n=$(ours | wc -l)
kill -TERM "$pid"
wait "$pid"
rc=$?
[ $rc -eq 130 ] && none_left 10 && [ "$n" -ge 8 ] &&
    ok "SIGTERM to the sweep: exit 130, none of its cells' $n processes left" ||
    fail "after SIGTERM: exit $rc, $n processes before, left: $(ours | xargs -r ps -o pid,args -p)"
setsid "$SWEEP" --out "$WORK/s" "${S[@]}" >s2.out 2>s2.err &
pid=$!
SWEEPS+=("$pid")
for _ in $(seq 600); do grep -q 'resumed from' s/Pendulum/hpo-dist-s1/learner.log && break; sleep 0.1; done
sleep 1
n=$(ours | wc -l)
kill -9 "$pid"
wait "$pid" 2>/dev/null
none_left 15 && [ "$n" -ge 8 ] && ok "SIGKILL to the sweep alone: none of its cells' $n processes left" ||
    fail "after SIGKILL of the sweep: $n before, left: $(ours | xargs -r ps -o pid,args -p)"
setsid "$SWEEP" --out "$WORK/s" "${S[@]}" >s3.out 2>s3.err &
pid=$!
SWEEPS+=("$pid")
victim=
for _ in $(seq 600); do
    # this segment's learner: the log's second resume
    victim=$(pgrep -f -- "hpo-learner .*--out $WORK/s/Pendulum/sac-dist-s1 " | head -1)
    [ -n "$victim" ] && [ "$(grep -c 'resumed from' s/Pendulum/sac-dist-s1/learner.log)" -ge 2 ] && break
    victim=
    sleep 0.1
done
[ -n "$victim" ] && kill -9 "$victim"
for _ in $(seq 3000); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the rerun still going after 300 s"
wait "$pid"
rc=$?
[ $rc -eq 0 ] && ok "rerun after SIGTERM and SIGKILL: every cell finished from its checkpoints" ||
    fail "rerun: exit $rc: $(cat s3.err; tail -3 s/Pendulum/*/log)"
[ -n "$victim" ] && grep -q "sac-dist-s1 ended with exit [0-9-]*; resuming it" s3.err &&
    ok "a learner killed from outside: its cell resumed" ||
    fail "outside kill (learner ${victim:-not found}): $(cat s3.err)"
for c in sac-dist-s1 hpo-dist-s1; do
    last=$(csv_cols "s/Pendulum/$c/progress.csv" env_steps | tail -1)
    [ "${last:-0}" -ge 30000 ] && [ "$(grep -c 'resumed from' "s/Pendulum/$c/learner.log")" -ge 2 ] &&
        ok "$c: resumed, finished at $last" || fail "$c: at '$last': $(grep -i resum "s/Pendulum/$c/learner.log")"
done
none_left 10 || fail "left after the rerun: $(ours | xargs -r ps -o pid,args -p)"

finish
