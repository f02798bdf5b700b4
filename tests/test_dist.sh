#!/usr/bin/env bash
# test_dist.sh - integration tests of the distributed run: a real hpo-learner,
# real hpo-actors and hpo-status on loopback.
#
#   test_dist.sh BUILD_DIR PART
#
# PART is one of
#   basic     a learner and three actors (one of 100 envs) on Pendulum
#             (32-wide networks, batch 32, learning_starts 200): updates and
#             env steps both advance, every actor is listed with a bounded
#             parameter lag, hpo-status --json is valid under docs/status.md's
#             JSON Schema, the table prints, a wrong environment is refused
#             (exit 3 with the reason); then a second learner until 20000
#             updates: it stops there (exit 0), the achieved replay ratio is
#             near 1, hpo-eval reads its weights.bin, and hpo-status exits 1
#             once the learner is gone
#   badinput  each bad-input class sent by tests/dist_badclient on the data
#             and the status socket: the learner stays up, the counter of its
#             reason grows, the replay size does not change
#   faults    kill -9 of an actor: the learner keeps updating, the actor
#             leaves the table after the timeout, a new actor with the same id
#             rejoins; a learner restarted (--resume: from the checkpoint
#             written at SIGTERM) under running actors: they reconnect,
#             streaming resumes and the update count continues
#   metrics   a learner with --metrics-port and one actor on Pendulum: two
#             scrapes of /metrics (curl) carry the counters, per-reason
#             rejects and per-actor gauges with HELP and TYPE, the counters
#             advance between them, a strict parser and `promtool check
#             metrics` (Debian's prometheus, from deploy/setup) accept the
#             text, other paths are 404, and scrapes during updates are fine;
#             the actor and the learner, stopped by SIGTERM, exit with no
#             sanitizer report (a -Dsanitize=true build: no LeakSanitizer
#             leak, e.g. a snapshot held in libzmq at close)
#   crash     kill -9 of the learner (--checkpoint-every 200) under two running
#             actors, after at least two checkpoints: every checkpoint in the
#             run directory loads (hpo-eval), progress.csv holds whole rows,
#             a leftover *.tmp is not taken as a checkpoint; the learner
#             restarted with --resume on the same ports continues from the
#             newest checkpoint (>= the last one it reported, <= the updates
#             before the kill) and the same actor processes stream again
#   local     deploy/local on Pendulum: it stops by itself at the step
#             budget (exit 0, the run directory filled) and on SIGTERM (exit
#             130), and leaves no process behind either way
#   exit      three actors under a learner publishing every update, then
#             SIGTERM: each exits with no sanitizer report (a -Dsanitize=true
#             build runs 30 s: no snapshot leaked in libzmq at exit)
#   marks     a learner at --steps 2000 --eval-every 500 with one actor and an
#             --eval actor, and hpo-train with the same settings: evaluation
#             rows at the same env_steps marks, one evaluation per mark,
#             weights.bin, hpo-sweep report reads the run directory
#   learn     a learner (mode hpo, 128-wide networks as test_train.sh's
#             learning runs), two actors and an --eval actor on Pendulum:
#             a deterministic evaluation (10 episodes) of at least -300
#             within 15,000 env steps (the issue's criterion; the last one is
#             printed too). Measured on the shared 2-core machine:
#             29-57 s, final eval -167..-178 (mode sac: 23 s, -132).
#   resolve   hpo-actor --resolve-wait: a learner name that never resolves
#             ends the actor with exit 2 after about the wait, its retries
#             logged; one that resolves only after the actor started (a
#             private /etc/hosts in a mount namespace, edited 2 s later;
#             root only, else that half is skipped with a note) is waited
#             for and the actor streams to the learner
#
# Ports come from a random high range (retried when taken); every child is
# killed on exit; each wait is bounded.
set -uo pipefail

BUILD=${1:?usage: test_dist.sh BUILD_DIR PART}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PART=${2:?part}
LEARNER=$BUILD/learner/hpo-learner
ACTOR=$BUILD/actor/hpo-actor
STATUS=$BUILD/tools/hpo-status
EVAL=$BUILD/tools/hpo-eval
BADCLIENT=$BUILD/tests/dist_badclient
KEYGEN=$BUILD/tools/hpo-keygen
STATUS_KEYS=()   # --curve-server/--curve-key for a learner with CurveZMQ
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_dist.XXXXXX")
export OPENBLAS_NUM_THREADS=1

PIDS=()
cleanup() {
    stop_pids
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SMALL=(--env Pendulum --pi-hidden 32 --q-hidden 32 --batch 32
       --learning-starts 200 --steps 100000000 --timeout-ms 1500
       --heartbeat-ms 200 --publish-every 50)

# start_learner NAME ARGS...: a learner on a free port; sets PORT, LPID.
start_learner() {
    local name=$1
    shift
    for _ in 1 2 3 4 5 6 7 8; do
        PORT=$(free_port)
        local extra=()
        # WITH_METRICS=1: the Prometheus endpoint on PORT + 3
        [ -n "${WITH_METRICS:-}" ] && extra=(--metrics-port $((PORT + 3)))
        "$LEARNER" "${SMALL[@]}" --port "$PORT" --bind 127.0.0.1 \
            --out "$WORK/$name" "${extra[@]}" "$@" 2>"$WORK/$name.err" &
        LPID=$!
        PIDS+=("$LPID")
        for _ in $(seq 50); do
            if ! kill -0 "$LPID" 2>/dev/null; then break; fi
            if "$STATUS" "127.0.0.1:$PORT" --json --timeout-ms 200 \
                ${STATUS_KEYS[@]+"${STATUS_KEYS[@]}"} >/dev/null 2>&1; then
                return 0
            fi
        done
        wait "$LPID" 2>/dev/null
    done
    echo "cannot start a learner: $(tail -3 "$WORK/$name.err")" >&2
    exit 1
}

# start_actor ID [ARGS...]: sets APID.
start_actor() {
    local id=$1
    shift
    "$ACTOR" --env Pendulum --learner "127.0.0.1:$PORT" --id "$id" \
        --timeout-ms 1500 "$@" 2>"$WORK/actor-$id.err" &
    APID=$!
    PIDS+=("$APID")
}

# status FILE: the JSON reply into FILE; returns hpo-status's exit code.
status() {
    "$STATUS" "127.0.0.1:$PORT" --json --timeout-ms 2000 \
        ${STATUS_KEYS[@]+"${STATUS_KEYS[@]}"} >"$1" 2>"$1.err"
}


# three actors (a3 steps more environments than a batch holds: credit unit >
# batch_max) under the learner just started
start_three_actors() {
    start_actor a1
    start_actor a2
    start_actor a3 --envs 100
}

# Two learners: the live checks against one without an update budget (one
# with --max-updates 20000 reached it in about 3 s here, and on a faster
# CI machine before the rate window closed: status then had no one to
# answer), the budget, the ratio and weights.bin against a second one.
part_basic() {
    local rc
    start_learner basic-live
    start_three_actors
    if wait_until 60 'r["updates"] >= 500 and len(r["actors"]) == 3 and all(a["steps"] > 0 for a in r["actors"])'; then
        ok "3 actors joined, learning started"
    else
        fail "no updates within 60 s: $(cat "$WORK/poll.json")"
        return
    fi
    status "$WORK/s1.json"
    sleep 0.5
    status "$WORK/s2.json"
    local adv
    adv=$("$PY" -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
print(b["updates"] > a["updates"] and b["env_steps"] > a["env_steps"])' \
        "$WORK/s1.json" "$WORK/s2.json")
    if [ "$adv" = True ]; then ok "updates and env steps both advance"
    else fail "no advance: $(cat "$WORK/s1.json") / $(cat "$WORK/s2.json")"; fi

    # the reply against docs/status.md's JSON Schema (tests/test_status.py
    # holds the schema itself to the tables and to a stricter set of replies)
    local invalid
    invalid=$("$PY" -c 'import json,re,sys
import jsonschema
doc=open(sys.argv[1]).read()
schema=json.loads(re.findall(r"^```json\n(.*?)^```", doc, re.S | re.M)[0])
r=json.load(open(sys.argv[2]))
v=jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/reply"})
print("; ".join("/".join(map(str, e.absolute_path)) + ": " + e.message for e in v.iter_errors(r))[:600])' \
        "$SRC/docs/status.md" "$WORK/s2.json")
    if [ -z "$invalid" ]; then ok "status is valid under docs/status.md's schema"
    else fail "status against docs/status.md's schema: $invalid"; fi

    if status "$WORK/poll.json" &&
        [ "$(field "$WORK/poll.json" 'all(a["param_lag"] <= 100 for a in r["actors"])')" = True ]; then
        ok "parameter lag of every actor bounded (<= 100 versions, 2 s of updates)"
    else
        fail "lag: $(field "$WORK/poll.json" '[(a["id"], a["param_lag"]) for a in r["actors"]]')"
    fi
    # snapshots go out every 50 updates: each actor has timed some, and the
    # latency is positive and loopback-sized (a unit slip, us for ns, fails)
    if [ "$(field "$WORK/poll.json" 'all(a["snapshots_timed"] >= 1 and 0 < a["snapshot_latency_mean_ms"] <= a["snapshot_latency_max_ms"] < 2000 for a in r["actors"])')" = True ]; then
        ok "every actor measured snapshot broadcast latency ($(field "$WORK/poll.json" '", ".join("%.1f" % a["snapshot_latency_mean_ms"] for a in r["actors"])') ms mean)"
    else
        fail "latency: $(field "$WORK/poll.json" '[(a["id"], a["snapshots_timed"], a["snapshot_latency_mean_ms"], a["snapshot_latency_max_ms"]) for a in r["actors"]]')"
    fi

    timeout 30 "$ACTOR" --env InvertedPendulum --learner "127.0.0.1:$PORT" --id wrong \
        >"$WORK/wrong.out" 2>&1
    rc=$?
    if [ $rc -eq 3 ] && grep -q 'refused by the learner: environment' \
        "$WORK/wrong.out"; then
        ok "wrong environment refused: $(grep refused "$WORK/wrong.out")"
    else
        fail "wrong environment: exit $rc: $(cat "$WORK/wrong.out")"
    fi

    # the rates (and so the ETA) are measured over LEARNER_RATE_WINDOW_S (2 s)
    # windows: on a fast machine everything above fits in the first one, where
    # the table says 0/s and ETA -; wait for a measured rate
    wait_until 10 'r["steps_per_s"] > 0' ||
        fail "no env steps rate within 10 s: $(cat "$WORK/poll.json")"
    if "$STATUS" "127.0.0.1:$PORT" >"$WORK/table.txt" 2>&1 &&
        grep -q '^a1 ' "$WORK/table.txt" &&
        grep -q '^env steps [0-9]* of 100000000 ([0-9.]*%, ETA [0-9]' "$WORK/table.txt" &&
        grep -q '^3 actors + 0 eval$' "$WORK/table.txt"; then
        ok "hpo-status table: $(head -2 "$WORK/table.txt" | tail -1); $(grep 'actors +' "$WORK/table.txt")"
    else
        fail "hpo-status table: $(cat "$WORK/table.txt")"
    fi
    stop_pids
    PIDS=()

    # the learner stops at --max-updates; the ratio held near the target
    start_learner basic --max-updates 20000
    start_three_actors
    local deadline=$((SECONDS + 150))
    while kill -0 "$LPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 0.3
    done
    if kill -0 "$LPID" 2>/dev/null; then
        fail "learner did not stop at 20000 updates"
        return
    fi
    wait "$LPID"
    rc=$?
    [ $rc -eq 0 ] && ok "learner stopped at its budget (exit 0)" ||
        fail "learner exit $rc: $(tail -5 "$WORK/basic.err")"
    # The second half in env steps: from the last row (one a second) at or
    # before half the last row's env steps. Credits keep env steps at most a
    # window (two credit units per actor: 2 x (64 + 64 + 100) = 456 rows
    # here) ahead of updates, so over the 10,000 or more steps of that half
    # the ratio is within 5% of the target. (Halving by rows instead left a
    # span of a few hundred steps when the learner stopped just after a row,
    # where one window's lag alone read as 0.744: a CI failure.)
    local ratio
    ratio=$("$PY" -c 'import csv,sys
rows=list(csv.DictReader(open(sys.argv[1])))
rows=[r for r in rows if int(r["updates"]) > 0]
b=rows[-1]
a=([r for r in rows if 2 * int(r["env_steps"]) <= int(b["env_steps"])] or rows)[-1]
print("%.3f %d" % ((int(b["updates"])-int(a["updates"]))/max(1,int(b["env_steps"])-int(a["env_steps"])),
                   int(b["env_steps"])-int(a["env_steps"])))' "$WORK/basic/progress.csv")
    if "$PY" -c "import sys; r, n = '$ratio'.split(); sys.exit(0 if abs(float(r) - 1) <= 0.1 and int(n) >= 5000 else 1)"; then
        ok "replay ratio over the second half ${ratio% *} (target 1, over ${ratio#* } env steps)"
    else
        fail "replay ratio over the second half ${ratio% *} (target 1, over ${ratio#* } env steps; a span under 5000 is too short to tell)"
    fi
    for f in learner.log config progress.csv; do
        [ -s "$WORK/basic/$f" ] || fail "run dir lacks $f"
    done
    # the final policy as hpo-train leaves it: weights.bin, read by hpo-eval
    if [ -s "$WORK/basic/weights.bin" ] &&
        "$EVAL" "$WORK/basic/weights.bin" --episodes 1 >"$WORK/wb.out" 2>&1; then
        ok "weights.bin written at the end and read by hpo-eval: $(tail -1 "$WORK/wb.out")"
    else
        fail "no weights.bin hpo-eval reads: $(ls "$WORK/basic"); $(cat "$WORK/wb.out" 2>/dev/null)"
    fi
    if "$STATUS" "127.0.0.1:$PORT" --timeout-ms 300 >/dev/null 2>"$WORK/gone.err"; then
        fail "hpo-status answered without a learner"
    else
        ok "hpo-status without a learner: $(cat "$WORK/gone.err")"
    fi
}

part_badinput() {
    start_learner bad
    start_actor a1 --max-steps 400
    if ! wait_until 30 'r["env_steps"] >= 400'; then
        fail "actor did not stream 400 steps"
        return
    fi
    wait "$APID"
    status "$WORK/before.json"
    local size0
    size0=$(field "$WORK/before.json" 'r["replay_size"]')
    for k in random:malformed truncated:malformed unknown-type:unknown_type \
        bad-version:bad_version bad-dims:bad_dims past-end:malformed \
        too-large:too_large foreign:foreign; do
        local kind=${k%%:*} reason=${k#*:}
        status "$WORK/a.json"
        "$BADCLIENT" "127.0.0.1:$PORT" "$kind" >"$WORK/bad.out" 2>&1 ||
            fail "$kind: client: $(cat "$WORK/bad.out")"
        sleep 0.3
        if ! kill -0 "$LPID" 2>/dev/null; then
            fail "$kind killed the learner: $(tail -5 "$WORK/bad.err")"
            return
        fi
        status "$WORK/b.json" || { fail "$kind: no status"; continue; }
        local res
        res=$("$PY" -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); k=sys.argv[3]
print(b["rejected"][k] == a["rejected"][k] + 1 and b["replay_size"] == a["replay_size"])' \
            "$WORK/a.json" "$WORK/b.json" "$reason")
        if [ "$res" = True ]; then
            ok "$kind: dropped as $reason, learner alive, replay unchanged $(cat "$WORK/bad.out")"
        else
            fail "$kind: want $reason +1: $(field "$WORK/b.json" 'r["rejected"]')"
        fi
    done
    if "$BADCLIENT" "127.0.0.1:$PORT" hello-dims >"$WORK/bad.out" 2>&1 &&
        grep -q 'refused: dimensions obs 5' "$WORK/bad.out"; then
        ok "wrong dimensions refused with a reason: $(cat "$WORK/bad.out")"
    else
        fail "hello-dims: $(cat "$WORK/bad.out")"
    fi
    for kind in status-random status-hello; do
        if "$BADCLIENT" "127.0.0.1:$PORT" "$kind" >"$WORK/bad.out" 2>&1 &&
            grep -q '"error"' "$WORK/bad.out"; then
            ok "$kind: answered $(cat "$WORK/bad.out")"
        else
            fail "$kind: $(cat "$WORK/bad.out")"
        fi
    done
    status "$WORK/after.json"
    if [ "$(field "$WORK/after.json" 'r["replay_size"]')" = "$size0" ] &&
        [ "$(field "$WORK/after.json" 'r["refused"] >= 1')" = True ]; then
        ok "replay size still $size0 after every bad input"
    else
        fail "replay size changed: $size0 -> $(field "$WORK/after.json" 'r["replay_size"]')"
    fi
    local warns
    warns=$(grep -c 'dropped a message' "$WORK/bad.err")
    [ "$warns" -ge 8 ] && ok "$warns rejects logged" ||
        fail "only $warns rejects logged"
}

part_faults() {
    start_learner faults
    local a1 a2
    start_actor a1
    a1=$APID
    start_actor a2
    a2=$APID
    if ! wait_until 60 'r["updates"] >= 300 and len(r["actors"]) == 2'; then
        fail "no updates with 2 actors: $(cat "$WORK/poll.json")"
        return
    fi
    kill -KILL "$a1"
    wait "$a1" 2>/dev/null
    local u0
    u0=$(field "$WORK/poll.json" 'r["updates"]')
    if wait_until 10 '[a["id"] for a in r["actors"]] == ["a2"]'; then
        ok "killed actor a1 left the table after the timeout"
    else
        fail "a1 still listed: $(field "$WORK/poll.json" '[a["id"] for a in r["actors"]]')"
    fi
    if wait_until 20 "r['updates'] > $u0 + 200"; then
        ok "learner kept updating without a1"
    else
        fail "updates stalled at $(field "$WORK/poll.json" 'r["updates"]')"
    fi
    start_actor a1
    if wait_until 20 'sorted(a["id"] for a in r["actors"]) == ["a1", "a2"] and all(a["steps"] > 0 for a in r["actors"])'; then
        ok "a new a1 rejoined and streams"
    else
        fail "a1 did not rejoin: $(cat "$WORK/poll.json")"
    fi

    # restart the learner on the same port under the running actors; it
    # resumes from the checkpoint written at SIGTERM
    local run0 u1
    run0=$(field "$WORK/poll.json" 'r["run_id"]')
    kill -TERM "$LPID"
    u1=$(field "$WORK/poll.json" 'r["updates"]')
    wait "$LPID"
    local rc=$?
    [ $rc -eq 130 ] && ok "SIGTERM stops the learner (exit 130, as hpo-train)" ||
        fail "learner exit $rc after SIGTERM"
    "$LEARNER" "${SMALL[@]}" --port "$PORT" --bind 127.0.0.1 \
        --out "$WORK/faults" --resume 2>"$WORK/faults2.err" &
    LPID=$!
    PIDS+=("$LPID")
    if wait_until 30 "r['run_id'] != '$run0' and len(r['actors']) == 2 and r['env_steps'] > 300 and r['updates'] > $u1 and r['resumed_from'] is not None"; then
        ok "the learner resumed from $(field "$WORK/poll.json" 'r["resumed_from"].split("/")[-1]') (updates $u1 -> $(field "$WORK/poll.json" 'r["updates"]')); actors reconnected and stream again"
    else
        fail "no streaming after the restart: $(cat "$WORK/poll.json")"
    fi
}

# scrape FILE: GET /metrics of the learner on PORT into FILE.
scrape() {
    curl -sf --max-time 5 "http://127.0.0.1:$((PORT + 3))/metrics" >"$1"
}

# A strict reader of the text format 0.0.4, stricter than Prometheus's own
# where it matters here: every sample's family has # HELP and # TYPE before
# it, a counter's name ends in _total, label values are quoted and escaped,
# every value is a number, no series appears twice. Prints the problems.
PROM_CHECK='import re,sys
name=r"[a-zA-Z_:][a-zA-Z0-9_:]*"
lab=r"[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\n]|\\\\[\\\\\"n])*\""
samp=re.compile(r"^("+name+r")(\{(?:"+lab+r")(?:,"+lab+r")*\})? (\S+)$")
helps,types,seen,bad={},{},set(),[]
text=open(sys.argv[1]).read()
if not text.endswith("\n"): bad.append("no final newline")
for i,l in enumerate(text.splitlines(),1):
    m=re.match(r"^# (HELP|TYPE) ("+name+r") (.+)$",l)
    if m:
        (helps if m[1]=="HELP" else types)[m[2]]=m[3]
        if m[1]=="TYPE" and m[3] not in ("counter","gauge"): bad.append("%d: type %s"%(i,m[3]))
        continue
    m=samp.match(l)
    if not m: bad.append("%d: not a sample: %r"%(i,l)); continue
    if m[1] not in helps or m[1] not in types: bad.append("%d: %s lacks HELP/TYPE"%(i,m[1]))
    elif types[m[1]]=="counter" and not m[1].endswith("_total"): bad.append("%d: counter %s"%(i,m[1]))
    try: float(m[3])
    except ValueError: bad.append("%d: value %r"%(i,m[3]))
    if (m[1],m[2]) in seen: bad.append("%d: duplicate %s%s"%(i,m[1],m[2] or ""))
    seen.add((m[1],m[2]))
print("; ".join(bad))'

# metric FILE SERIES: the value of one series (name plus labels as printed).
metric() {
    awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print "none" }' "$1"
}

part_metrics() {
    WITH_METRICS=1 start_learner metrics
    start_actor a1
    if ! wait_until 60 'r["updates"] >= 300 and len(r["actors"]) == 1'; then
        fail "no updates with 1 actor: $(cat "$WORK/poll.json")"
        return
    fi
    local m="$WORK/m1.txt" m2="$WORK/m2.txt"
    scrape "$m" || { fail "no answer on /metrics (port $((PORT + 3)))"; return; }
    sleep 1.5
    scrape "$m2" || { fail "no second answer on /metrics"; return; }

    local missing=""
    for s in hpo_env_steps_total hpo_updates_total hpo_episodes_total \
        'hpo_rejected_messages_total{reason="malformed"}' \
        'hpo_rejected_messages_total{reason="bad_value"}' \
        hpo_uptime_seconds hpo_env_steps_per_second hpo_updates_per_second \
        hpo_replay_size hpo_replay_ratio hpo_alpha hpo_q_loss hpo_pi_loss \
        hpo_hd_dist hpo_gate \
        'hpo_actor_steps_per_second{actor="a1",host="'"$(hostname)"'",role="actor"}' \
        'hpo_actor_param_lag{actor="a1",host="'"$(hostname)"'",role="actor"}' \
        'hpo_actor_last_seen_seconds{actor="a1",host="'"$(hostname)"'",role="actor"}' \
        'hpo_actor_snapshot_latency_seconds{actor="a1",host="'"$(hostname)"'",role="actor"}'; do
        [ "$(metric "$m2" "$s")" = none ] && missing="$missing $s"
    done
    for f in hpo_eval_return hpo_last_checkpoint_updates; do
        grep -q "^# TYPE $f gauge$" "$m2" || missing="$missing $f(TYPE)"
    done
    if [ -z "$missing" ]; then ok "the scrape carries counters, rejects by reason, gauges and per-actor series"
    else fail "the scrape lacks:$missing"; fi

    local e1 e2 u1 u2
    e1=$(metric "$m" hpo_env_steps_total)
    e2=$(metric "$m2" hpo_env_steps_total)
    u1=$(metric "$m" hpo_updates_total)
    u2=$(metric "$m2" hpo_updates_total)
    if [ "$e2" -gt "$e1" ] 2>/dev/null && [ "$u2" -gt "$u1" ] 2>/dev/null; then
        ok "counters advance between scrapes: env steps $e1 -> $e2, updates $u1 -> $u2"
    else
        fail "counters do not advance: env steps $e1 -> $e2, updates $u1 -> $u2"
    fi

    local bad
    bad=$("$PY" -c "$PROM_CHECK" "$m2")
    [ -z "$bad" ] && ok "strict format check: $(grep -c '^# TYPE' "$m2") families, $(grep -vc '^#' "$m2") samples" ||
        fail "format: $bad"
    if command -v promtool >/dev/null; then
        if promtool check metrics <"$m2" >"$WORK/promtool.out" 2>&1; then
            ok "promtool check metrics accepts the scrape"
        else
            fail "promtool check metrics: $(cat "$WORK/promtool.out")"
        fi
    else
        fail "promtool not found (deploy/setup installs Debian's prometheus)"
    fi

    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        "http://127.0.0.1:$((PORT + 3))/other")
    [ "$code" = 404 ] && ok "another path: 404" || fail "another path: $code"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
        -d x "http://127.0.0.1:$((PORT + 3))/metrics")
    [ "$code" = 405 ] && ok "POST: 405" || fail "POST: $code"

    # scrapes while the loop updates and copies its figures
    local n=0
    for _ in $(seq 40); do scrape "$WORK/m3.txt" && n=$((n + 1)); done
    if [ $n -eq 40 ] && kill -0 "$LPID" 2>/dev/null &&
        wait_until 10 "r['updates'] > $u2"; then
        ok "40 scrapes in a row answered, the learner kept updating"
    else
        fail "$n of 40 scrapes answered"
    fi
    # the actor first (it would otherwise retry the gone learner), each
    # until it exits by itself: a sanitizer build reports at exit
    stop_checked "$APID" actor-a1
    kill -TERM "$LPID"
    wait "$LPID"
    local rc=$?
    [ $rc -eq 130 ] && ok "learner with an endpoint stops on SIGTERM (exit 130)" ||
        fail "learner exit $rc after SIGTERM: $(tail -3 "$WORK/metrics.err")"
    no_sanitizer_report metrics
}

# no_sanitizer_report NAME: a failure if $WORK/NAME.err holds a report of a
# -Dsanitize=true build (ASan, LeakSanitizer, UBSan).
no_sanitizer_report() {
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
        "$WORK/$1.err"; then
        fail "$1: sanitizer report: $(grep -m1 -A12 -E 'ERROR: |runtime error:' "$WORK/$1.err")"
    else
        ok "$1: no sanitizer report at exit"
    fi
}

# stop_checked PID NAME: SIGTERM, then wait up to 60 s for the exit and
# check $WORK/NAME.err with no_sanitizer_report.
stop_checked() {
    kill -TERM "$1" 2>/dev/null
    local deadline=$((SECONDS + 60))
    while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 0.2
    done
    if kill -0 "$1" 2>/dev/null; then
        fail "$2 did not exit within 60 s of SIGTERM"
        return
    fi
    wait "$1" 2>/dev/null
    no_sanitizer_report "$2"
}

# Three actors under a learner that publishes after every update, stopped
# by SIGTERM: each exits 0 with no sanitizer report. Under -Dsanitize=true
# (30 s) this caught libzmq leaking snapshots held by a ZMQ_CONFLATE SUB
# (one to three 17 KB blocks per actor); elsewhere it runs 5 s.
part_exit() {
    local secs=5 i
    ldd "$ACTOR" 2>/dev/null | grep -q libasan && secs=30
    start_learner exit --publish-every 1
    local apids=()
    for i in 1 2 3; do
        start_actor "e$i"
        apids+=("$APID")
    done
    if ! wait_until 60 'r["updates"] >= 100 and len(r["actors"]) == 3'; then
        fail "no updates with 3 actors: $(cat "$WORK/poll.json")"
        return
    fi
    sleep "$secs"
    for i in 1 2 3; do
        stop_checked "${apids[$((i - 1))]}" "actor-e$i"
    done
    kill -TERM "$LPID"
    wait "$LPID"
    no_sanitizer_report exit
}

# csv_rows FILE: the number of rows of progress.csv after its one header
# (docs/status.md's columns), "bad" when a row is cut short or a header
# repeats.
csv_rows() {
    "$PY" -c 'import sys
t=open(sys.argv[1]).read(); ls=t.split("\n")[:-1]; head=sys.argv[2]
ok=t.endswith("\n") and ls[0]==head and \
    all(len(l.split(","))==len(head.split(",")) and l!=head for l in ls[1:])
print(len(ls)-1 if ok else "bad")' "$1" "$(progress_header "$SRC")"
}

part_crash() {
    start_learner crash --checkpoint-every 200 --keep 3
    start_actor a1
    local a1=$APID
    start_actor a2
    local a2=$APID
    # a few seconds, so that progress.csv has rows to check
    if ! wait_until 60 'r["updates"] >= 700 and r["uptime_s"] >= 3 and len(r["actors"]) == 2 and (r["last_checkpoint"] or {}).get("updates", 0) >= 400'; then
        fail "no two checkpoints with 2 actors: $(cat "$WORK/poll.json")"
        return
    fi
    local run0 u_seen ck_seen
    status "$WORK/pre.json"
    kill -KILL "$LPID"
    wait "$LPID" 2>/dev/null
    run0=$(field "$WORK/pre.json" 'r["run_id"]')
    u_seen=$(field "$WORK/pre.json" 'r["updates"]')
    ck_seen=$(field "$WORK/pre.json" 'r["last_checkpoint"]["updates"]')
    local dir="$WORK/crash" n newest
    n=$(ls "$dir"/checkpoint-*.ckpt | wc -l)
    newest=$(ls "$dir"/checkpoint-*.ckpt | sed 's/.*checkpoint-\([0-9]*\)\.ckpt/\1/' | sort -n | tail -1)
    [ "$n" -ge 2 ] && ok "killed (-9) at >= $u_seen updates with $n checkpoints, newest $newest" ||
        fail "only $n checkpoints at the kill"

    # every file in the run directory is sound
    local c bad=0
    for c in "$dir"/checkpoint-*.ckpt; do
        if ! "$EVAL" "$c" --episodes 1 >"$WORK/eval.out" 2>&1; then
            fail "$(basename "$c") does not load: $(cat "$WORK/eval.out")"
            bad=1
        fi
    done
    [ $bad -eq 0 ] && ok "each of the $n checkpoints loads (hpo-eval --episodes 1)"
    local rows
    rows=$(csv_rows "$dir/progress.csv")
    [ "$rows" != bad ] && ok "progress.csv: header and $rows whole rows" ||
        fail "progress.csv has a partial row: $(tail -c 200 "$dir/progress.csv")"
    for f in config learner.log; do
        [ -s "$dir/$f" ] || fail "run dir lacks $f"
    done
    # a write cut short by a kill leaves checkpoint-N.ckpt.tmp: plant one
    # newer than any checkpoint, truncated, and one that is whole
    head -c 1000 "$dir/checkpoint-$newest.ckpt" >"$dir/checkpoint-99999900.ckpt.tmp"
    cp "$dir/checkpoint-$newest.ckpt" "$dir/checkpoint-99999999.ckpt.tmp"

    # the same ports, the same actor processes
    "$LEARNER" "${SMALL[@]}" --port "$PORT" --bind 127.0.0.1 \
        --out "$dir" --checkpoint-every 200 --keep 3 --resume \
        2>"$WORK/crash2.err" &
    LPID=$!
    PIDS+=("$LPID")
    if wait_until 30 "r['run_id'] != '$run0' and r['resumed_from'] is not None and len(r['actors']) == 2 and all(a['steps'] > 0 for a in r['actors']) and r['updates'] > $newest"; then
        ok "actors rejoined without a restart and stream again (updates $(field "$WORK/poll.json" 'r["updates"]'))"
    else
        fail "no streaming after the restart: $(cat "$WORK/poll.json"); $(tail -3 "$WORK/crash2.err")"
    fi
    kill -0 "$a1" 2>/dev/null && kill -0 "$a2" 2>/dev/null ||
        fail "an actor process exited"
    local from start
    from=$(field "$WORK/poll.json" 'r["resumed_from"]')
    start=$(sed -n 's/.*resumed from .*: [0-9]* env steps, \([0-9]*\) updates.*/\1/p' "$WORK/crash2.err" | head -1)
    if [ "$from" = "$dir/checkpoint-$newest.ckpt" ] && [ "${start:-0}" -eq "$newest" ] &&
        [ "$start" -ge "$ck_seen" ] && [ "$start" -gt 0 ]; then
        ok "resumed from $(basename "$from"), not a .tmp: updates continue at $start (last reported checkpoint $ck_seen, $u_seen seen before the kill)"
    else
        fail "resumed from $from at ${start:-?} updates; want checkpoint-$newest.ckpt, >= $ck_seen"
    fi
    # <= the count before the kill: the checkpoint cannot be newer than the
    # learner that wrote it; the last status is a lower bound of that count,
    # so allow the updates of the moment between the status and the kill
    # (a few ms; 1000 updates is a third of a second here)
    if [ "${start:-0}" -le $((u_seen + 1000)) ]; then
        ok "resumed count $start <= updates before the kill (the last status saw $u_seen)"
    else
        fail "resumed count $start above the $u_seen updates seen just before the kill"
    fi
    rows=$(csv_rows "$dir/progress.csv")
    [ "$rows" != bad ] && ok "progress.csv after the restart: one header, $rows whole rows" ||
        fail "progress.csv after the restart: $(grep -c '^env_steps,' "$dir/progress.csv") headers or a partial row"
    # without the replay buffer, no update before max(batch 32,
    # learning-starts 200) fresh rows: the first one comes at >= 200 rows,
    # with the update count still the checkpoint's
    local fresh resumed_at
    fresh=$(sed -n 's/.*updates resume: \([0-9]*\) fresh replay rows.*/\1/p' "$WORK/crash2.err" | head -1)
    resumed_at=$(sed -n 's/.*updates resume: .*(updates \([0-9]*\)).*/\1/p' "$WORK/crash2.err" | head -1)
    if [ -n "$fresh" ] && [ "$fresh" -ge 200 ] && [ "${resumed_at:-x}" = "$start" ]; then
        ok "resumed without replay: no update before $fresh fresh rows (>= max(batch, learning-starts) = 200), updates still $resumed_at then"
    else
        fail "resumed without replay: updates resumed at '${fresh:-?}' rows, updates '${resumed_at:-?}' (want >= 200 rows at $start): $(grep -i 'resume' "$WORK/crash2.err" | head -3)"
    fi
    # the resume removed the cut-short writes, cut the rows past its
    # checkpoint (no step back in env_steps) and kept the run's clock
    # (the planted names: the learner's own next write may be a .tmp now)
    if [ ! -e "$dir/checkpoint-99999900.ckpt.tmp" ] && [ ! -e "$dir/checkpoint-99999999.ckpt.tmp" ]; then
        ok "the resume removed both planted checkpoint-*.ckpt.tmp"
    else
        fail "a planted checkpoint-*.ckpt.tmp is left after the resume: $(ls "$dir")"
    fi
    if "$PY" - "$dir/progress.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
steps = [float(r["env_steps"]) for r in rows]
wall = [float(r["wall_s"]) for r in rows]
assert len(rows) > 2, len(rows)
assert all(b >= a for a, b in zip(steps, steps[1:])), "env_steps steps back"
assert all(b >= a for a, b in zip(wall, wall[1:])), "wall_s steps back"
PY
    then
        ok "progress.csv after the resume: env_steps and wall_s never step back"
    else
        fail "progress.csv after the resume steps back: $(cut -d, -f1,14 "$dir/progress.csv" | tail -20 | tr '\n' ' ')"
    fi
    # the recent returns come back from the checkpoint's run state: no zero
    # among them (a Pendulum return is below 0; before, the resumed learner
    # counted the episodes before the resume as returns of 0, so the return
    # read 0.0 or, diluted, far above the run's)
    if "$PY" - "$dir/progress.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["recent_return_max"] != ""]
assert rows, "no row with a return"
zero = [r["env_steps"] for r in rows if float(r["recent_return_max"]) >= 0.0]
assert not zero, "a recent return of 0 at env_steps %s" % zero[:5]
PY
    then
        ok "the recent returns continue across the resume (no zero among them; $(grep -o 'run state: .*' "$WORK/crash2.err" | head -1))"
    else
        fail "recent returns after the resume: $(grep -o 'run state: .*' "$WORK/crash2.err" | head -1); $(cut -d, -f1,3,22 "$dir/progress.csv" | tail -8 | tr '\n' ' ')"
    fi
}

# free_port: a random base port whose four ports (data, params, status,
# metrics) can be bound now.
free_port() {
    local p
    for _ in $(seq 20); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if "$PY" -c 'import socket,sys
b=int(sys.argv[1]); s=[]
for p in (b, b + 1, b + 2, b + 3):
    x=socket.socket(); x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    x.bind(("127.0.0.1", p)); s.append(x)' "$p" 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo $((20000 + (RANDOM * 32768 + RANDOM) % 40000))
}

# leftovers PORT: processes still using the run's port (pgrep only reads).
leftovers() {
    pgrep -f -- "--port $1 |localhost:$1 " || true
}

# run_local NAME ARGS...: deploy/local on a random port in the background,
# called in $WORK with the relative --out NAME (the run directory must be
# $WORK/NAME, not NAME in the checkout deploy/local runs in); sets PORT, DPID.
run_local() {
    local name=$1
    shift
    PORT=$(free_port)
    (cd "$WORK" && HPO_BUILD_DIR=$BUILD HPO_NO_BUILD=1 exec "$SRC/deploy/local" --env Pendulum \
        --actors 2 --port "$PORT" --out "$name" --pi-hidden 32 \
        --q-hidden 32 --batch 32 --learning-starts 200 --bind 127.0.0.1 \
        "$@") >"$WORK/$name.out" 2>&1 &
    DPID=$!
    PIDS+=("$DPID")
}

part_local() {
    local rc
    # bad counts and missing values are refused before anything starts
    local bad
    for bad in "--actors 0" "--actors x" "--envs 0" "--env"; do
        # shellcheck disable=SC2086 # the flag and its value, split on purpose
        HPO_BUILD_DIR=$BUILD HPO_NO_BUILD=1 timeout 20 "$SRC/deploy/local" $bad \
            --out "$WORK/badlocal" >"$WORK/badlocal.out" 2>&1
        rc=$?
        if [ $rc -eq 2 ] && grep -q "needs" "$WORK/badlocal.out" && [ ! -e "$WORK/badlocal" ]; then
            ok "deploy/local $bad: exit 2, $(head -c 120 "$WORK/badlocal.out")"
        else
            fail "deploy/local $bad: exit $rc (want 2, nothing started): $(head -c 300 "$WORK/badlocal.out")"
        fi
    done
    # a port in use (another run, or anything else) is refused before anything
    # starts, instead of this run's readiness being answered by the other
    PORT=$(free_port)
    /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]) + 2)); s.listen(1)
open(sys.argv[2], "w").close(); time.sleep(15)' "$PORT" "$WORK/held" &
    local holder=$!
    for _ in $(seq 100); do [ -e "$WORK/held" ] && break; sleep 0.1; done
    HPO_BUILD_DIR=$BUILD HPO_NO_BUILD=1 timeout 20 "$SRC/deploy/local" --env Pendulum \
        --port "$PORT" --out "$WORK/busy" >"$WORK/busy.out" 2>&1
    rc=$?
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    if [ $rc -eq 2 ] && grep -q "port $((PORT + 2)) is in use" "$WORK/busy.out" && [ ! -e "$WORK/busy" ]; then
        ok "deploy/local on a busy port: exit 2, $(head -c 120 "$WORK/busy.out")"
    else
        fail "deploy/local on a busy port: exit $rc (want 2): $(head -c 300 "$WORK/busy.out")"
    fi
    # a learner that takes the port after that check (this run's learner is
    # held back until it answers): its reply is not taken for this run's
    # readiness, no actor of this run joins it
    local slow=$WORK/slowbuild
    mkdir -p "$slow/learner" "$slow/actor" "$slow/tools"
    # the wrapper marks when deploy/local has passed its port check and
    # started the learner, then waits (bounded) until the squatter answers,
    # so the squatter comes between the check and this run's learner on any load
    printf '#!/bin/sh\n: >"%s"\ni=0\nwhile [ ! -e "%s" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done\nexec "%s" "$@"\n' \
        "$slow/started" "$slow/go" "$LEARNER" >"$slow/learner/hpo-learner"
    chmod +x "$slow/learner/hpo-learner"
    ln -s "$ACTOR" "$slow/actor/hpo-actor"
    ln -s "$STATUS" "$slow/tools/hpo-status"
    PORT=$(free_port)
    HPO_BUILD_DIR=$slow HPO_NO_BUILD=1 timeout 60 "$SRC/deploy/local" --env Pendulum \
        --port "$PORT" --out "$WORK/race" --bind 127.0.0.1 >"$WORK/race.out" 2>&1 &
    local racer=$!
    local waited=0
    while [ ! -e "$slow/started" ] && [ $waited -lt 200 ] && kill -0 "$racer" 2>/dev/null; do
        sleep 0.1
        waited=$((waited + 1))
    done
    "$LEARNER" "${SMALL[@]}" --port "$PORT" --bind 127.0.0.1 --out "$WORK/squatter" 2>"$WORK/squatter.err" &
    local squatter=$!
    PIDS+=("$squatter")
    for _ in $(seq 50); do
        status "$WORK/squat.json" && break
        sleep 0.2
    done
    : >"$slow/go"
    wait "$racer"
    rc=$?
    sleep 1
    status "$WORK/squat.json"
    local joined
    joined=$(field "$WORK/squat.json" 'len(r["actors"])' 2>/dev/null)
    kill "$squatter" 2>/dev/null
    wait "$squatter" 2>/dev/null
    if [ $rc -ne 0 ] && [ "$joined" = 0 ] && grep -q "another learner\|did not start" "$WORK/race.out"; then
        ok "a learner that took the port first is not taken for this run's: exit $rc, $(grep -m1 'deploy/local:' "$WORK/race.out" | head -c 160)"
    else
        fail "a learner that took the port first: exit $rc, ${joined:-?} actors joined it: $(head -c 400 "$WORK/race.out")"
    fi
    sleep 0.5
    [ -z "$(leftovers "$PORT")" ] || fail "left behind after the race: $(leftovers "$PORT")"
    run_local budget --steps 4000
    local deadline=$((SECONDS + 120))
    while kill -0 "$DPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 0.5
    done
    wait "$DPID"
    rc=$?
    if [ $rc -eq 0 ] && [ -s "$WORK/budget/progress.csv" ] &&
        [ -s "$WORK/budget/actor-1.log" ] && [ -s "$WORK/budget/eval.log" ]; then
        ok "deploy/local stops at its budget: $(grep 'steps' "$WORK/budget.out" | tail -1)"
    else
        fail "deploy/local at its budget: exit $rc: $(tail -5 "$WORK/budget.out")"
    fi
    sleep 0.5
    [ -z "$(leftovers "$PORT")" ] && ok "no process left after the budget" ||
        fail "left behind: $(leftovers "$PORT")"
    # one log per process, each line once (the learner's stderr is
    # learner.log), the final evaluation row and weights.bin; a second run in
    # the same directory (--resume) appends to the logs
    local d="$WORK/budget"
    if [ ! -e "$d/learner.err" ] && [ "$(grep -c ' I run .*replay ratio' "$d/learner.log")" -eq 1 ] &&
        [ -s "$d/weights.bin" ] && "$PY" -c 'import csv,sys
sys.exit([r["env_steps"] for r in csv.DictReader(open(sys.argv[1])) if r["eval_return"]] != ["4000"])' "$d/progress.csv"; then
        ok "deploy/local's run directory: learner.log (each line once, no learner.err), the evaluation row at 4000, weights.bin"
    else
        fail "deploy/local's run directory: $(ls "$d" | tr '\n' ' '); run lines $(grep -c ' I run .*replay ratio' "$d/learner.log"); eval rows at $(cut -d, -f1,4 "$d/progress.csv" | grep -v ',$' | tr '\n' ' ')"
    fi
    local a1_lines
    a1_lines=$(wc -l <"$d/actor-1.log")
    run_local budget --steps 6000 --resume
    deadline=$((SECONDS + 120))
    while kill -0 "$DPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 0.5
    done
    wait "$DPID"
    rc=$?
    if [ $rc -eq 0 ] && [ "$(grep -c ' I run .*replay ratio' "$d/learner.log")" -eq 2 ] &&
        [ "$(wc -l <"$d/actor-1.log")" -gt "$a1_lines" ] &&
        grep -q "resumed from" "$d/learner.log"; then
        ok "deploy/local again with --resume: learner.log and actor-1.log appended (2 runs in learner.log)"
    else
        fail "deploy/local --resume: exit $rc, run lines $(grep -c ' I run .*replay ratio' "$d/learner.log"), actor-1.log $(wc -l <"$d/actor-1.log") lines (was $a1_lines)"
    fi
    sleep 0.5

    run_local term --steps 100000000
    if ! wait_until 60 'len(r["actors"]) == 3 and r["updates"] > 0'; then
        fail "deploy/local did not start: $(tail -5 "$WORK/term.out")"
        return
    fi
    local n
    n=$(leftovers "$PORT" | wc -l)
    [ "$n" -ge 5 ] || fail "the process check sees $n processes, want 5"
    kill -TERM "$DPID"
    wait "$DPID"
    rc=$?
    sleep 0.5
    if [ $rc -eq 130 ] && [ -z "$(leftovers "$PORT")" ]; then
        ok "SIGTERM to deploy/local: exit 130, no process left"
    else
        fail "SIGTERM to deploy/local: exit $rc, left: $(leftovers "$PORT")"
    fi
}

part_learn() {
    start_learner learn --pi-hidden 128 --q-hidden 128 --steps 15000 \
        --publish-every 200 --timeout-ms 5000 --eval-every 1000
    start_actor a1
    start_actor a2
    start_actor ev --eval --episodes 10
    local deadline=$((SECONDS + 250))
    while kill -0 "$LPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 1
    done
    if kill -0 "$LPID" 2>/dev/null; then
        fail "15000 env steps not reached in 250 s: $(tail -1 "$WORK/learn/progress.csv")"
        return
    fi
    local ev last
    ev=$("$PY" -c 'import csv,sys
rows=[r for r in csv.DictReader(open(sys.argv[1])) if r["eval_return"]]
print(max(float(r["eval_return"]) for r in rows) if rows else "nan")' "$WORK/learn/progress.csv")
    last=$("$PY" -c 'import csv,sys
rows=[r for r in csv.DictReader(open(sys.argv[1])) if r["eval_return"]]
print(rows[-1]["eval_return"] if rows else "nan")' "$WORK/learn/progress.csv")
    if "$PY" -c "import sys; sys.exit(0 if float('$ev') >= -300 else 1)"; then
        ok "distributed Pendulum learns: best eval return $ev within 15000 env steps (last $last)"
    else
        fail "best eval return $ev < -300 within 15000 env steps (last $last)"
        grep evaluated "$WORK/actor-ev.err" | tail -5 >&2
    fi
}

# marks: a learner (--steps 2000 --eval-every 500), one actor and an --eval
# actor; hpo-train with the same settings. The learner's evaluation rows sit
# at hpo-train's env_steps marks (500, 1000, 1500, 2000: the last one waited
# for at the budget), the evaluation actor ran one evaluation per mark (not
# one per snapshot), weights.bin is written, and `hpo-sweep report` reads the
# distributed run directory.
part_marks() {
    local M=(--pi-hidden 32 --q-hidden 32 --batch 32 --learning-starts 200
             --steps 2000 --eval-every 500 --eval-episodes 2 --seed 3)
    start_learner marks "${M[@]}" --publish-every 20
    start_actor a1
    start_actor ev --eval
    local deadline=$((SECONDS + 150))
    while kill -0 "$LPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
    if kill -0 "$LPID" 2>/dev/null; then
        fail "2000 env steps not reached in 150 s: $(tail -2 "$WORK/marks.err")"
        return
    fi
    wait "$LPID"
    local rc=$? got want n_ev n_snap
    [ $rc -eq 0 ] || fail "learner exit $rc: $(tail -3 "$WORK/marks.err")"
    "$BUILD/tools/hpo-train" --env Pendulum "${M[@]}" --quiet --out "$WORK/marks-train" \
        >/dev/null 2>"$WORK/marks-train.err" || fail "hpo-train: $(tail -2 "$WORK/marks-train.err")"
    local marks_of='import csv,sys
print(" ".join(r["env_steps"] for r in csv.DictReader(open(sys.argv[1])) if r["eval_return"]))'
    got=$("$PY" -c "$marks_of" "$WORK/marks/progress.csv")
    want=$("$PY" -c "$marks_of" "$WORK/marks-train/progress.csv")
    if [ "$want" = "500 1000 1500 2000" ] && [ "$got" = "$want" ]; then
        ok "evaluation rows at hpo-train's marks: $got"
    else
        fail "evaluation rows at '$got', hpo-train's at '$want'"
    fi
    n_ev=$(grep -c "evaluated version" "$WORK/actor-ev.err")
    n_snap=$(tail -1 "$WORK/marks/progress.csv" | cut -d, -f19) # param_version
    if [ "$n_ev" -eq 4 ]; then
        ok "the evaluation actor ran 4 evaluations (one per mark) over ${n_snap:-?} snapshots"
    else
        fail "the evaluation actor ran $n_ev evaluations for 4 marks ($n_snap snapshots)"
    fi
    [ -s "$WORK/marks/weights.bin" ] && ok "weights.bin at the end" ||
        fail "no weights.bin: $(ls "$WORK/marks")"
    # the log's progress line: budget, percent, ETA, the actors apart
    if grep -q 'progress: [0-9]* of 2000 env steps (100.0%), ETA 0s | .* | 1 actors + 1 eval |' "$WORK/marks/learner.log" &&
        grep -q 'progress: [0-9]* of 2000 env steps ([0-9.]*%), ETA [0-9]' "$WORK/marks/learner.log"; then
        ok "learner.log's progress line: $(grep -m1 'progress: ' "$WORK/marks/learner.log" | cut -c 24-)"
    else
        fail "learner.log's progress lines: $(grep 'progress: ' "$WORK/marks/learner.log" | head -3)"
    fi
    if HPO_TRAIN=$BUILD/tools/hpo-train "$PY" "$SRC/tools/hpo-sweep" report "$WORK/marks" \
        --no-png --marks 1000,2000 >"$WORK/report.out" 2>&1 &&
        grep -q "^| dist (dist)\|^| hpo (dist)\|(dist)" "$WORK/marks/report.md"; then
        ok "hpo-sweep report reads the distributed run: $(grep -m1 '(dist)' "$WORK/marks/report.md")"
    else
        fail "hpo-sweep report on the run directory: $(tail -3 "$WORK/report.out")"
    fi
}

# actor_refused ID TEXT WHAT [ARGS...]: an actor with ARGS must exit 3 with
# TEXT on stderr (WHAT names the check).
actor_refused() {
    local id=$1 text=$2 what=$3 rc
    shift 3
    timeout 30 "$ACTOR" --env Pendulum --learner "127.0.0.1:$PORT" --id "$id" \
        "$@" >/dev/null 2>"$WORK/$id.err"
    rc=$?
    if [ $rc -eq 3 ] && grep -qF "$text" "$WORK/$id.err"; then
        ok "$what"
    else
        fail "$what: exit $rc: $(tail -2 "$WORK/$id.err")"
    fi
}

# CurveZMQ: an allowed key streams and receives snapshots; a key not
# allowed, no key, and a key file of the wrong kind are each refused with
# their reason.
part_curve() {
    local K="$WORK/keys" rc
    mkdir -p "$K/allow"
    if ! "$KEYGEN" "$K/learner" "$K/a1" "$K/a2" >"$WORK/keygen.out" 2>&1; then
        fail "hpo-keygen: $(cat "$WORK/keygen.out")"
        return
    fi
    cp "$K/a1.public" "$K/allow/"
    local a2key
    a2key=$(sed -n 's/^public = //p' "$K/a2.public")

    "$LEARNER" "${SMALL[@]}" --port "$(free_port)" --bind 127.0.0.1 \
        --curve-secret "$K/learner.public" --curve-allow "$K/allow" \
        >/dev/null 2>"$WORK/wrongkey.err"
    rc=$?
    if [ $rc -ne 0 ] && grep -q "learner.public: no 'secret = KEY' line" "$WORK/wrongkey.err"; then
        ok "a public key file given as the learner's secret: exit $rc, named"
    else
        fail "wrong key file accepted or unexplained (exit $rc): $(cat "$WORK/wrongkey.err")"
    fi

    STATUS_KEYS=(--curve-server "$K/learner.public" --curve-key "$K/a1.secret")
    # two I/O threads: the option works, and CURVE sessions spread over them
    start_learner curve --curve-secret "$K/learner.secret" --curve-allow "$K/allow" \
        --io-threads 2
    start_actor a1 --curve-server "$K/learner.public" --curve-key "$K/a1.secret"
    if wait_until 60 'r["curve"] and r["updates"] >= 100 and [a["id"] for a in r["actors"]] == ["a1"]'; then
        ok "an allowed key streams over CurveZMQ (updates advance, status over CURVE)"
    else
        fail "no updates with an allowed key: $(cat "$WORK/poll.json") $(tail -3 "$WORK/actor-a1.err")"
    fi
    # the params socket's CURVE handshake completes too: the actor acts with
    # the learner's snapshots (its reported version follows the learner's)
    if wait_until 30 'r["param_version"] >= 3 and [a["param_version"] for a in r["actors"]] and r["actors"][0]["param_version"] >= 2' &&
        grep -q "first snapshot: version" "$WORK/actor-a1.err"; then
        ok "the keyed actor receives parameter snapshots over CurveZMQ (version $(field "$WORK/poll.json" 'r["actors"][0]["param_version"]') of $(field "$WORK/poll.json" 'r["param_version"]'))"
    else
        fail "the keyed actor never received a snapshot: $(field "$WORK/poll.json" '[(a["id"], a["param_version"]) for a in r["actors"]], r["param_version"]') $(grep -c 'first snapshot' "$WORK/actor-a1.err") snapshot lines"
    fi

    actor_refused a2 "does not allow this actor's CurveZMQ key $a2key" \
        "a key not on the allow list: the actor exits 3 naming its key" \
        --curve-server "$K/learner.public" --curve-key "$K/a2.secret"
    actor_refused a3 "it requires CurveZMQ" \
        "an actor without keys: exit 3, told the learner requires CurveZMQ"
    if status "$WORK/c.json" &&
        [ "$(field "$WORK/c.json" 'r["refused_keys"] >= 1 and [a["id"] for a in r["actors"]] == ["a1"] and r["updates"] > 100')" = True ]; then
        ok "status counts the refused key ($(field "$WORK/c.json" 'r["refused_keys"]')); only a1 joined"
    else
        fail "status after refusals: $(cat "$WORK/c.json")"
    fi
    grep -qF "refused a CurveZMQ client: key $a2key" "$WORK/curve/learner.log" &&
        ok "the learner logged the refused key" ||
        fail "no log line for the refused key: $(tail -3 "$WORK/curve/learner.log")"
    "$STATUS" "127.0.0.1:$PORT" --json --timeout-ms 500 >/dev/null 2>"$WORK/nokey.err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "needs --curve-server and --curve-key" "$WORK/nokey.err"; then
        ok "hpo-status without keys: exit 1, says which flags it needs"
    else
        fail "hpo-status without keys: exit $rc: $(cat "$WORK/nokey.err")"
    fi
    STATUS_KEYS=()
}

# bench/dist_bench.sh's ingest case runs (its synthetic senders and real
# actors) and prints one positive rate per line; the figures are not judged.
part_bench() {
    PORT=$(free_port)
    "$SRC/bench/dist_bench.sh" --build "$BUILD" --seconds 1 --port "$PORT" \
        ingest >"$WORK/bench.out" 2>"$WORK/bench.err"
    local rc=$? n
    n=$(grep -cE '^case=ingest .*transitions_per_s=[1-9][0-9]*$' "$WORK/bench.out")
    if [ $rc -eq 0 ] && [ "$n" -eq 4 ]; then
        ok "dist_bench.sh ingest: 4 rates ($(sed -n 's/.*\(senders=[0-9]*\|actors=[0-9]*\).*transitions_per_s=\([0-9]*\)/\1:\2/p' "$WORK/bench.out" | tr '\n' ' '))"
    else
        fail "dist_bench.sh ingest: exit $rc, $n rates: $(cat "$WORK/bench.out" "$WORK/bench.err")"
    fi
    # hpo-bench's split of the 1-thread update into its products and the rest
    "$BUILD/tools/hpo-bench" --no-torch --seconds 0.3 --modes sac --threads-list 1,2 \
        >"$WORK/hpobench.out" 2>"$WORK/hpobench.err"
    rc=$?
    local why
    why=$("$PY" -c '
import sys
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(sys.argv[1])
        if l.startswith("mode=")]
one = [r for r in rows if r["threads"] == "1"]
two = [r for r in rows if r["threads"] == "2"]
if len(one) != 1 or len(two) != 1:
    sys.exit("%d 1-thread and %d 2-thread lines" % (len(one), len(two)))
r = {k: float(v) for k, v in one[0].items() if k not in ("mode",)}
p, rest, med = r["products_ms"], r["rest_ms"], r["cpu_median_ms"]
if not (0 < p < med and 0 < rest < med and abs(p + rest - med) < 0.02):
    sys.exit("products_ms %g + rest_ms %g is not a split of cpu_median_ms %g" % (p, rest, med))
if not r["products_of_sgemm"] > r["best_of_sgemm"] > 0 or r["sgemm_macs_ok"] != 1:
    sys.exit("products_of_sgemm %g, best_of_sgemm %g, sgemm_macs_ok %g" % (
        r["products_of_sgemm"], r["best_of_sgemm"], r["sgemm_macs_ok"]))
if float(two[0]["products_ms"]) != -1:
    sys.exit("2 threads: products_ms %s, want -1" % two[0]["products_ms"])
print("split: products %.2f + rest %.2f ms of %.2f" % (p, rest, med))' "$WORK/hpobench.out" 2>&1)
    if [ $rc -eq 0 ] && [[ $why == split:* ]]; then
        ok "hpo-bench splits the update: $why"
    else
        fail "hpo-bench: exit $rc: $why $(head -c 300 "$WORK/hpobench.err")"
    fi
    # bench/machine-report: a row per kernel, the environment's pin beside
    # OpenBLAS's own pick, the commands; bad input refused
    OPENBLAS_CORETYPE=Sandybridge "$SRC/bench/machine-report" --build "$BUILD" --repeat 1 \
        --seconds 0.2 --rounds 2 --out "$WORK/machine.md" >"$WORK/machine.out" 2>&1
    rc=$?
    why=$("$PY" -c '
import sys
t = open(sys.argv[1]).read()
rows = [l for l in t.splitlines() if l.startswith("| ") and not l.startswith("| OpenBLAS")]
if len(rows) != 2:
    sys.exit("%d kernel rows, want 2" % len(rows))
cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
if not cells[1][0].startswith("Sandybridge (pinned)") or "pinned" in cells[0][0]:
    sys.exit("rows %s, %s" % (cells[0][0], cells[1][0]))
for c in cells:
    for v in c[1:6]:
        float(v.split()[0])
    if not float(c[1].split()[0]) > 0:
        sys.exit("best sgemm %s GFLOP/s" % c[1])
# the build directory as the report shows it: relative to the source (build/,
# build-asan/ under deploy/test --sanitize)
import os
build, src = os.path.realpath(sys.argv[2]), os.path.realpath(sys.argv[3])
shown = os.path.relpath(build, src) if build.startswith(src + "/") else build
if "OPENBLAS_CORETYPE=Sandybridge %s/tools/hpo-bench" % shown not in t or "env -u OPENBLAS_CORETYPE" not in t:
    sys.exit("commands missing (build shown as %s)" % shown)
print("rows: " + "; ".join("%s sgemm %s GFLOP/s, %s of it" % (c[0], c[1].split()[0], c[3].split()[0]) for c in cells))' "$WORK/machine.md" "$BUILD" "$SRC" 2>&1)
    if [ $rc -eq 0 ] && [[ $why == rows:* ]] && cmp -s "$WORK/machine.md" "$WORK/machine.out"; then
        ok "machine-report: $why"
    else
        fail "machine-report: exit $rc: $why $(tail -c 300 "$WORK/machine.out")"
    fi
    "$SRC/bench/machine-report" --build "$BUILD" --repeat 0 >"$WORK/mr.out" 2>&1
    rc=$?
    if [ $rc -eq 2 ] && grep -q "repeat must be 1..100" "$WORK/mr.out"; then
        ok "machine-report --repeat 0: exit 2, $(head -c 100 "$WORK/mr.out")"
    else
        fail "machine-report --repeat 0: exit $rc: $(head -c 200 "$WORK/mr.out")"
    fi
}

part_resolve() {
    local t0=$SECONDS rc
    timeout 30 "$ACTOR" --env Pendulum --learner hpo-never.invalid:5550 \
        --resolve-wait 3 2>"$WORK/never.err"
    rc=$?
    local took=$((SECONDS - t0)) tries
    tries=$(grep -c "retrying in" "$WORK/never.err")
    if [ $rc -eq 2 ] && [ $took -ge 2 ] && [ $took -le 10 ] && [ "$tries" -ge 2 ] &&
        grep -q "cannot resolve the learner host 'hpo-never.invalid'.*--resolve-wait" "$WORK/never.err"; then
        ok "a name that never resolves: exit 2 after ${took} s, $tries retries logged: $(tail -1 "$WORK/never.err" | head -c 200)"
    else
        fail "a name that never resolves: exit $rc after ${took} s, $tries retries: $(cat "$WORK/never.err" | head -c 600)"
    fi
    if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
        echo "note: not root (no mount namespace): the late name is not tested"
        return
    fi
    start_learner late
    local hosts=$WORK/hosts
    grep -v hpo-late-learner /etc/hosts >"$hosts"
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$hosts" \
        "$ACTOR" --env Pendulum --learner "hpo-late-learner:$PORT" --id late \
        --timeout-ms 1500 --resolve-wait 60 2>"$WORK/actor-late.err" &
    local apid=$!
    PIDS+=("$apid")
    for _ in $(seq 100); do
        grep -q "retrying in" "$WORK/actor-late.err" 2>/dev/null && break
        sleep 0.1
    done
    if kill -0 "$apid" 2>/dev/null && grep -q "retrying in" "$WORK/actor-late.err"; then
        ok "an unresolved learner name is waited for, logged: $(head -1 "$WORK/actor-late.err" | head -c 160)"
    else
        fail "the actor did not wait for the name: $(head -c 400 "$WORK/actor-late.err")"
        return
    fi
    echo "127.0.0.1 hpo-late-learner" >>"$hosts"
    if wait_until 40 'any(a["id"] == "late" for a in r["actors"]) and r["env_steps"] > 0'; then
        ok "once the name resolves the actor joins and streams ($(field "$WORK/poll.json" 'r["env_steps"]') env steps)"
    else
        fail "the late actor did not stream: $(tail -3 "$WORK/actor-late.err")"
    fi
}

case $PART in
resolve) part_resolve ;;
bench) part_bench ;;
exit) part_exit ;;
curve) part_curve ;;
local) part_local ;;
learn) part_learn ;;
basic) part_basic ;;
badinput) part_badinput ;;
faults) part_faults ;;
metrics) part_metrics ;;
crash) part_crash ;;
marks) part_marks ;;
*) echo "unknown part $PART" >&2; exit 2 ;;
esac
finish
echo "all ok"
