#!/usr/bin/env bash
# replay_ckpt.sh - what --checkpoint-replay 1 costs: a learner's replay buffer
# filled with ROWS synthetic transitions of ENV (hpo-ingest-sender; 32-wide
# networks updating beside), then SIGTERM (the checkpoint written at stop: its size and
# seconds), then --resume (seconds until the status socket answers again,
# with the rows restored).
#
#   bench/replay_ckpt.sh BUILD_DIR [ENV] [ROWS] [DIR]
#
# Defaults: Humanoid, 1000000 rows, a temporary directory (removed at the
# end; needs about 2 x ROWS x (2 obs + act + 2) x 4 bytes of disk: 5.7 GB
# for Humanoid at 1M). Prints `rows= bytes= save_s= save_cpu_s= stop_s=
# load_s= load_cpu_s= load=`: wall seconds (the learner's own figure for the
# save; the restart until the status socket answers for the load) and the
# learner's CPU seconds for each, which do not depend on how loaded the
# machine is, and the load average. Used for
# docs/deploy.md, "Resuming with the replay buffer".
set -uo pipefail
BUILD=${1:?usage: replay_ckpt.sh BUILD_DIR [ENV] [ROWS] [DIR]}
ENV=${2:-Humanoid}
ROWS=${3:-1000000}
DIR=${4:-$(mktemp -d "${TMPDIR:-/tmp}/replay_ckpt.XXXXXX")}
mkdir -p "$DIR" || exit 1
[ $# -ge 4 ] || trap 'rm -rf "$DIR"' EXIT
PORT=$((30000 + RANDOM % 20000))
export OPENBLAS_NUM_THREADS=1
L=(--env "$ENV" --buffer "$ROWS" --steps $((ROWS * 10)) --learning-starts 1000 --pi-hidden 32 --q-hidden 32
   --replay-ratio 0 --checkpoint-replay 1 --checkpoint-every 1000000000 --port "$PORT" --bind 127.0.0.1 --out "$DIR/run")
status() { "$BUILD/tools/hpo-status" "127.0.0.1:$PORT" --json --timeout-ms 1000 2>/dev/null; }
steps() { status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["replay_size"])' 2>/dev/null || echo 0; }

# cpu PID: the process's user + system CPU seconds so far
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
# child PID: /usr/bin/time's child (the learner)
child() {
    local k
    for _ in $(seq 50); do
        k=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
        [ -n "$k" ] && { echo "${k%% *}"; return; }
        sleep 0.1
    done
}

/usr/bin/time -f "%U %S" -o "$DIR/time1" "$BUILD/learner/hpo-learner" "${L[@]}" 2>"$DIR/learner.err" &
tpid=$!
lpid=$(child $tpid)
for _ in $(seq 3000); do status >/dev/null && break; sleep 0.1; done
"$BUILD/bench/hpo-ingest-sender" "127.0.0.1:$PORT" --env "$ENV" --seconds 3600 >"$DIR/sender.out" 2>&1 &
spid=$!
deadline=$((SECONDS + 3000))
while [ "$(steps)" -lt "$ROWS" ] && [ $SECONDS -lt $deadline ]; do sleep 2; done
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
c0=$(cpu "$lpid")
t0=$(date +%s.%N)
kill -TERM "$lpid"
wait "$tpid"
t1=$(date +%s.%N)
ck=$(ls -t "$DIR"/run/*.ckpt 2>/dev/null | head -1)
[ -n "$ck" ] || { echo "replay_ckpt.sh: no checkpoint: $(tail -3 "$DIR/learner.err")" >&2; exit 1; }
bytes=$(stat -c %s "$ck")
save=$(grep -o 'checkpoint .*(\([0-9.]*\) s)' "$DIR/learner.err" | tail -1 | sed 's/.*(\([0-9.]*\) s)/\1/')
save_cpu=$(awk -v c="$c0" '{ printf "%.2f", $1 + $2 - c }' "$DIR/time1")
t2=$(date +%s.%N)
"$BUILD/learner/hpo-learner" "${L[@]}" --resume 2>"$DIR/resume.err" &
lpid=$!
for _ in $(seq 30000); do status >/dev/null && break; sleep 0.05; done
t3=$(date +%s.%N)
load_cpu=$(cpu "$lpid")
rows=$(steps)
kill -TERM "$lpid"
wait "$lpid"
echo "rows=$rows bytes=$bytes save_s=$save save_cpu_s=$save_cpu stop_s=$(echo "$t1 - $t0" | bc)" \
    "load_s=$(echo "$t3 - $t2" | bc) load_cpu_s=$load_cpu load=$(cut -d' ' -f1 /proc/loadavg)"
grep "resumed from" "$DIR/resume.err" | tail -1
