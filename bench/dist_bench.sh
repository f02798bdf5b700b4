#!/usr/bin/env bash
# bench/dist_bench.sh - figures of the distributed system on this machine, one
# greppable line per case (docs/performance.md, "The distributed system").
#
#   bench/dist_bench.sh [--build DIR] [--seconds S] [--port P] [--curve]
#                       [--io-threads N] [CASE...]
#
# --curve runs every process with CurveZMQ keys (made with hpo-keygen in a
# temporary directory), to see what encryption costs; --io-threads N gives
# the learner N ZeroMQ I/O threads.
#
# CASE is any of (default: all, in this order)
#   ingest    learner ingest rate, Pendulum, updates off, batches of 4096
#             transitions: from 1, 2 and 4 synthetic senders (hpo-ingest-sender:
#             one pre-encoded batch sent over and over), and from 2 real
#             actors of 256 environments
#   envsteps  HalfCheetah env steps/s with 1, 2 and 4 actors of 1 environment,
#             updates off, beside hpo-envbench's single-core figure
#   updates   HalfCheetah learner (256-wide networks, batch 256, mode hpo) at
#             replay ratio 1, fed by 1 actor on 1 and 2 learner threads, and
#             by 4 actors on 1: updates/s beside hpo-bench's figure for the
#             same update alone, taken right after; snapshot size and
#             broadcast latency (a snapshot every 10 updates)
#
# Each rate is the difference of two hpo-status readings S seconds apart
# (default 5), taken after the run has warmed up. Every process is stopped on
# exit. Run it on an idle machine: the actors share its cores with the learner.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
curve=0
io=1
secs=5
port=5650
cases=()
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --curve) curve=1; shift ;;
    --io-threads) io=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    ingest|envsteps|updates) cases+=("$1"); shift ;;
    *) echo "dist_bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[ ${#cases[@]} -gt 0 ] || cases=(ingest envsteps updates)
for p in learner/hpo-learner actor/hpo-actor tools/hpo-status tools/hpo-bench \
         tools/hpo-envbench tools/hpo-keygen bench/hpo-ingest-sender; do
    [ -x "$build/$p" ] || { echo "dist_bench: $build/$p missing: build first" \
        "(meson setup $build && ninja -C $build)" >&2; exit 2; }
done
PY=/usr/bin/python3
work=$(mktemp -d)
pids=()
lpid="" # the newest learner's pid (learner())
stop_all() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# CurveZMQ: one key pair for the learner, one shared by the actors and status
lkeys=() ckeys=()
if [ "$curve" = 1 ]; then
    mkdir "$work/allow"
    "$build/tools/hpo-keygen" "$work/learner" "$work/allow/client" >/dev/null
    lkeys=(--curve-secret "$work/learner.secret" --curve-allow "$work/allow")
    ckeys=(--curve-server "$work/learner.public"
           --curve-key "$work/allow/client.secret")
fi

status() {
    "$build/tools/hpo-status" --json "127.0.0.1:$port" \
        ${ckeys[@]+"${ckeys[@]}"} >"$1"
}

# wait_for EXPR SECONDS: poll the status until EXPR (of r) holds; give up at
# once, with the learner's log, if the learner has exited.
wait_for() {
    local t=0
    while [ "$t" -lt $(($2 * 5)) ]; do
        if ! kill -0 "$lpid" 2>/dev/null; then
            echo "dist_bench: the learner (pid $lpid, port $port) exited before '$1'" \
                "held; its log:" >&2
            tail -5 "$work/learner.log" >&2 || true
            return 1
        fi
        if status "$work/w.json" 2>/dev/null &&
            [ "$($PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print(bool(eval(sys.argv[2])))' "$work/w.json" "$1")" = True ]; then
            return 0
        fi
        sleep 0.2
        t=$((t + 1))
    done
    echo "dist_bench: '$1' did not hold within $2 s; learner log:" >&2
    tail -5 "$work/learner.log" >&2 || true
    return 1
}

# rates A.json B.json: "steps_per_s updates_per_s" between two readings.
rates() {
    $PY -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
dt=b["uptime_s"]-a["uptime_s"]
print("%.0f %.1f" % ((b["env_steps"]-a["env_steps"])/dt, (b["updates"]-a["updates"])/dt))' "$1" "$2"
}

learner() {
    "$build/learner/hpo-learner" --port "$port" --bind 127.0.0.1 \
        --io-threads "$io" ${lkeys[@]+"${lkeys[@]}"} "$@" \
        2>"$work/learner.log" &
    lpid=$!
    pids+=($!)
}
actors() { # N ENVS ENV
    local i
    for i in $(seq 1 "$1"); do
        "$build/actor/hpo-actor" --learner "127.0.0.1:$port" --env "$3" \
            --envs "$2" --id "b$i" --seed "$i" --quiet \
            ${ckeys[@]+"${ckeys[@]}"} 2>>"$work/actors.log" &
        pids+=($!)
    done
}
measure() { # -> "steps_per_s updates_per_s"
    status "$work/a.json"
    sleep "$secs"
    status "$work/b.json"
    rates "$work/a.json" "$work/b.json"
}

ingest() {
    local n i
    for n in 1 2 4; do
        learner --env Pendulum --learning-starts 1000000000 \
            --steps 2000000000 --replay-ratio 0 --batch-max 4096
        for i in $(seq 1 "$n"); do
            "$build/bench/hpo-ingest-sender" "127.0.0.1:$port" --id "s$i" \
                --seconds $((secs + 30)) ${ckeys[@]+"${ckeys[@]}"} \
                >/dev/null 2>>"$work/actors.log" &
            pids+=($!)
        done
        wait_for "len(r['actors']) == $n and r['env_steps'] > 1000000" 60
        read -r sps _ < <(measure)
        echo "case=ingest env=Pendulum senders=$n batch_max=4096" \
             "curve=$curve transitions_per_s=$sps"
        stop_all
    done
    learner --env Pendulum --learning-starts 1000000000 \
        --steps 2000000000 --replay-ratio 0 --batch-max 4096
    actors 2 256 Pendulum
    wait_for "len(r['actors']) == 2 and r['env_steps'] > 1000000" 60
    read -r sps _ < <(measure)
    echo "case=ingest env=Pendulum actors=2 envs=256 batch_max=4096" \
         "curve=$curve transitions_per_s=$sps"
    stop_all
}

envsteps() {
    local n alone
    alone=$("$build/tools/hpo-envbench" --env HalfCheetah --episodes 1 |
            sed -n 's/.* steps_per_s=\([0-9.]*\).*/\1/p')
    for n in 1 2 4; do
        learner --env HalfCheetah --learning-starts 1000000000 \
            --steps 2000000000 --replay-ratio 0
        actors "$n" 1 HalfCheetah
        wait_for "len(r['actors']) == $n and r['env_steps'] > 20000" 60
        read -r sps _ < <(measure)
        echo "case=envsteps env=HalfCheetah actors=$n envs=1 curve=$curve" \
             "env_steps_per_s=$sps envbench_steps_per_s_one_core=$alone"
        stop_all
    done
}

updates() {
    local t n ups sps bench bytes lat
    for tn in "1 1" "2 1" "1 4"; do
        read -r t n <<<"$tn"
        learner --env HalfCheetah --learning-starts 2000 --steps 2000000000 \
            --replay-ratio 1 --publish-every 10 --threads "$t"
        actors "$n" 1 HalfCheetah
        wait_for "r['updates'] > 300" 120
        read -r sps ups < <(measure)
        status "$work/c.json"
        lat=$($PY -c 'import json,sys
r=json.load(open(sys.argv[1])); a=[x for x in r["actors"] if x["snapshots_timed"]]
print("snapshots_timed=%d snapshot_latency_mean_ms=%.2f snapshot_latency_max_ms=%.2f" % (
 sum(x["snapshots_timed"] for x in a),
 sum(x["snapshot_latency_mean_ms"]*x["snapshots_timed"] for x in a)/max(1,sum(x["snapshots_timed"] for x in a)),
 max([x["snapshot_latency_max_ms"] for x in a] or [0])))' "$work/c.json")
        bytes=$(sed -n 's/.*snapshot: \([0-9]*\) bytes.*/\1/p' "$work/learner.log" | head -1)
        stop_all
        bench=$("$build/tools/hpo-bench" --modes hpo --threads-list "$t" \
                    --no-torch --seconds 3 |
                sed -n 's/.*updates_per_s=\([0-9.]*\).*/\1/p' | head -1)
        echo "case=updates env=HalfCheetah actors=$n envs=1 threads=$t curve=$curve" \
             "replay_ratio=1 updates_per_s=$ups env_steps_per_s=$sps" \
             "bench_updates_per_s=$bench" \
             "of_bench=$($PY -c "print('%.2f' % ($ups / $bench))")" \
             "snapshot_bytes=${bytes:-?} $lat"
    done
}

for c in "${cases[@]}"; do "$c"; done
