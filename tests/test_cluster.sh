#!/usr/bin/env bash
# test_cluster.sh - the distributed run across hosts, each host a network
# namespace of its own (root only; exit 77, meson's skip, otherwise).
#
#   test_cluster.sh BUILD_DIR PART
#
# The network: a switch namespace holding a bridge, and one namespace per
# host joined to it by a veth pair: the learner host 10.77.0.1 and the actor
# hosts 10.77.0.2, 10.77.0.3 (/24). Names carry a random tag, so runs never
# meet, and no address or route is added to the machine's own namespace.
#
# PART is one of
#   net   a learner bound to 10.77.0.1 and one actor on each actor host
#         (Pendulum, 32-wide networks): both stream and measure snapshots
#         (hpo-status --json); the learner's link cut for 10 s (down on the
#         switch side, the actor hosts cannot reach it) and brought back:
#         both actors rejoin, the counters go on, no process died; a tc tbf
#         bandwidth limit on the learner's egress: the snapshot latency the
#         actors report grows while the learner's updates go on; kill -9 of
#         the learner and a restart with --resume on its host: the same actor
#         processes stream again and the updates continue from the
#         checkpoint; CurveZMQ across hosts: the allowed key streams, another
#         key is refused (exit 3 naming it). About 80 s on the shared 2-core
#         machine.
#   slurm a Slurm cluster of three nodes (munged, slurmctld, a slurmd per host
#         namespace; its configuration in the test's directory, installing
#         Debian's slurm-wlm and munge when missing): hpo-het.sbatch's learner
#         on n0 and 4 actor tasks on n1, n2 stream on the port derived from the
#         job id; docs/deploy.md's ": -N 1 -n 2" before the script gives 2
#         actors; scontrol requeue: the job resumes from the checkpoint the
#         learner wrote at SIGTERM; hpo.sbatch on one node with the time-limit
#         warning (SIGUSR1 to the batch script, HPO_REQUEUE=1): checkpoint,
#         requeue, resume; scancel empties the queue and leaves no process;
#         the daemons stop and nothing is left in the namespaces. About 70 s.
#   container  (HPO_TEST_CONTAINER=1; skipped otherwise: about 2 min)
#         deploy/container/build makes the image (debootstrap, podman import);
#         the image's file system (podman image mount) holds no compiler, every
#         program's libraries resolve in it; a learner and two actors run from
#         it (chroot) in the host namespaces and stream; their /proc root is
#         the image. Containers themselves cannot start on this machine
#         (podman run fails on setrlimit), which the test notes.
#   ssh   deploy/ssh with an sshd in each host namespace and keys made for
#         the test: learner and actors started over ssh stream; SIGINT to
#         deploy/ssh, the learner's own end and kill -9 of deploy/ssh each
#         leave no hpo process in any host namespace; --keys runs the set
#         with CurveZMQ; a --bin without the programs is named
#
# Every wait is bounded; on exit (also on failure) every process in the
# namespaces is killed and the namespaces are deleted, which removes their
# links.
set -uo pipefail

BUILD=$(cd "${1:?usage: test_cluster.sh BUILD_DIR PART}" && pwd)
PART=${2:?part}
SRC=$(cd "$(dirname "$0")/.." && pwd)
LEARNER=$BUILD/learner/hpo-learner
ACTOR=$BUILD/actor/hpo-actor
STATUS=$BUILD/tools/hpo-status
KEYGEN=$BUILD/tools/hpo-keygen
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1

if [ "$PART" = container ] && [ "${HPO_TEST_CONTAINER:-0}" != 1 ]; then
    echo "SKIP: the container test builds a Debian 12 image with debootstrap (about 2 min); run it with HPO_TEST_CONTAINER=1 meson test -C build --suite container"
    exit 77
fi
if [ "$PART" = container ] && ! command -v debootstrap >/dev/null; then
    echo "SKIP: the container test needs debootstrap (and podman or buildah to import the image): deploy/setup container installs them (deploy/test does with HPO_TEST_CONTAINER=1)"
    exit 77
fi
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: the cluster tests build network namespaces and need root (run: sudo meson test -C build --suite cluster)"
    exit 77
fi

TAG=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
SW=hpo-sw-$TAG
HOSTS=("hpo-l-$TAG" "hpo-a1-$TAG" "hpo-a2-$TAG")   # learner, actor 1, actor 2
ADDR=(10.77.0.1 10.77.0.2 10.77.0.3)
LNS=${HOSTS[0]}
LADDR=${ADDR[0]}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_cluster.XXXXXX")
chmod 755 "$WORK"

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

PIDS=()
# net_down: kill every process left in the namespaces, delete them (their
# veth ends go with them) and any veth end still in this namespace.
net_down() {
    local ns p
    stop_pids
    for ns in "${HOSTS[@]}" "$SW"; do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    for p in 0 1 2; do ip link del "hv$p$TAG" 2>/dev/null; done
    wait 2>/dev/null
}
cleanup() {
    net_down
    [ "$(type -t image_cleanup)" = function ] && image_cleanup
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# net_up: the switch, the hosts, their links and addresses.
net_up() {
    if ! ip netns add "$SW"; then
        echo "SKIP: cannot create a network namespace (ip netns add $SW failed)"
        exit 77
    fi
    ip -n "$SW" link add br0 type bridge || return 1
    ip -n "$SW" link set br0 up || return 1
    local i
    for i in 0 1 2; do
        ip netns add "${HOSTS[$i]}" || return 1
        ip link add "hv$i$TAG" type veth peer name "he$i$TAG" || return 1
        ip link set "hv$i$TAG" netns "$SW" || return 1
        ip link set "he$i$TAG" netns "${HOSTS[$i]}" || return 1
        ip -n "$SW" link set "hv$i$TAG" name "port$i" || return 1
        ip -n "$SW" link set "port$i" master br0 || return 1
        ip -n "$SW" link set "port$i" up || return 1
        ip -n "${HOSTS[$i]}" link set "he$i$TAG" name eth0 || return 1
        ip -n "${HOSTS[$i]}" addr add "${ADDR[$i]}/24" dev eth0 || return 1
        ip -n "${HOSTS[$i]}" link set eth0 up || return 1
        ip -n "${HOSTS[$i]}" link set lo up || return 1
    done
}

# on HOST_INDEX CMD...: run CMD in that host's namespace (in the foreground:
# a function put in the background is a subshell, whose pid is not CMD's;
# background starts call ip netns exec, which execs CMD, directly).
on() {
    local i=$1
    shift
    ip netns exec "${HOSTS[$i]}" "$@"
}

STATUS_KEYS=()
PORT=5550
RUN=()          # a prefix for the programs (the container part: chroot into the image)
OUTBASE=$WORK   # where the learner's run directories go, as the programs see it
# status FILE [HOST_INDEX]: hpo-status --json from that host (default the
# learner's) into FILE; returns its exit code.
status() {
    on "${2:-0}" ${RUN[@]+"${RUN[@]}"} "$STATUS" "$LADDR:$PORT" --json --timeout-ms 2000 \
        ${STATUS_KEYS[@]+"${STATUS_KEYS[@]}"} >"$1" 2>"$1.err"
}
# field and wait_until: tests/lib.sh

SMALL=(--env Pendulum --pi-hidden 32 --q-hidden 32 --batch 32
       --learning-starts 200 --steps 100000000 --timeout-ms 1500
       --heartbeat-ms 200 --publish-every 50)

# start_learner NAME ARGS...: a learner on the learner host bound to its
# address, log NAME.err, run directory $WORK/NAME (or $WORK/$OUTNAME); sets
# LPID. Without --curve-secret in ARGS it runs --insecure (the test's
# namespaces are a private network).
start_learner() {
    local name=$1 _ sec=(--insecure)
    shift
    case " $* " in *" --curve-secret "*) sec=() ;; esac
    ip netns exec "$LNS" ${RUN[@]+"${RUN[@]}"} "$LEARNER" "${SMALL[@]}" --port "$PORT" \
        --bind "$LADDR" --out "$OUTBASE/${OUTNAME:-$name}" ${sec[@]+"${sec[@]}"} "$@" 2>"$WORK/$name.err" &
    LPID=$!
    PIDS+=("$LPID")
    for _ in $(seq 50); do
        kill -0 "$LPID" 2>/dev/null || break
        status "$WORK/start.json" && return 0
    done
    echo "cannot start the learner on $LNS: $(tail -3 "$WORK/$name.err")" >&2
    exit 1
}

# start_actor HOST_INDEX ID [ARGS...]: sets APID.
start_actor() {
    local i=$1 id=$2
    shift 2
    ip netns exec "${HOSTS[$i]}" ${RUN[@]+"${RUN[@]}"} "$ACTOR" --env Pendulum \
        --learner "$LADDR:$PORT" --id "$id" --timeout-ms 1500 "$@" \
        2>"$WORK/actor-$id.err" &
    APID=$!
    PIDS+=("$APID")
}

# alive PID...: 0 when every one runs.
alive() {
    local p
    for p in "$@"; do kill -0 "$p" 2>/dev/null || return 1; done
}

BOTH='sorted(a["id"] for a in r["actors"]) == ["a1", "a2"]'

part_net() {
    start_learner run --checkpoint-every 200 --keep 2
    start_actor 1 a1
    local a1=$APID
    start_actor 2 a2
    local a2=$APID
    if wait_until 60 "$BOTH and r['updates'] >= 400 and all(a['steps'] > 0 and a['snapshots_timed'] >= 2 for a in r['actors'])"; then
        ok "two actors on other hosts stream to $LADDR and measure snapshots ($(field "$WORK/poll.json" '", ".join("%s %.1f ms" % (a["id"], a["snapshot_latency_mean_ms"]) for a in r["actors"])'))"
    else
        fail "no streaming across the bridge: $(cat "$WORK/poll.json") $(tail -2 "$WORK/actor-a1.err")"
        return
    fi
    if on 1 "$STATUS" "$LADDR:$PORT" --json --timeout-ms 2000 >"$WORK/remote.json" 2>&1; then
        ok "hpo-status answers from an actor host"
    else
        fail "hpo-status from ${HOSTS[1]}: $(cat "$WORK/remote.json")"
    fi

    # ---- link cut: the learner's port on the switch down for 10 s ----
    status "$WORK/cut0.json"
    local u0 s0
    u0=$(field "$WORK/cut0.json" 'r["updates"]')
    s0=$(field "$WORK/cut0.json" 'r["env_steps"]')
    ip -n "$SW" link set port0 down
    sleep 1
    if on 1 "$STATUS" "$LADDR:$PORT" --json --timeout-ms 1000 >/dev/null 2>&1; then
        fail "the learner is still reachable from ${HOSTS[1]} with its link down"
    else
        ok "link down: the learner is unreachable from the actor hosts"
    fi
    sleep 9
    status "$WORK/cut1.json"
    ip -n "$SW" link set port0 up
    local s1
    s1=$(field "$WORK/cut1.json" 'r["env_steps"]')
    if wait_until 45 "$BOTH and r['env_steps'] > $s1 + 200 and r['updates'] > $u0 + 200 and all(a['last_seen_s'] < 1 for a in r['actors'])"; then
        ok "after 10 s cut: both actors back, env steps $s0 -> $s1 (cut) -> $(field "$WORK/poll.json" 'r["env_steps"]'), updates $u0 -> $(field "$WORK/poll.json" 'r["updates"]')"
    else
        fail "no recovery after the link cut: $(cat "$WORK/poll.json")"
    fi
    alive "$LPID" "$a1" "$a2" && ok "no process died over the cut" ||
        fail "a process died over the link cut: $(tail -n 2 "$WORK/run.err" "$WORK/actor-a1.err" "$WORK/actor-a2.err")"

    # ---- bandwidth: tbf on the learner's egress (snapshots) ----
    local base lim u1 u2 i
    base=0
    for i in 1 2 3 4 5 6; do
        status "$WORK/b.json"
        base=$(field "$WORK/b.json" "max([$base] + [a['snapshot_latency_ms'] or 0 for a in r['actors']])")
        sleep 0.5
    done
    u1=$(field "$WORK/b.json" 'r["updates"]')
    if ! tc -n "$LNS" qdisc add dev eth0 root tbf rate 200kbit burst 4kb latency 500ms; then
        fail "tc tbf on the learner's link"
    fi
    lim=0
    for i in $(seq 16); do
        sleep 0.5
        status "$WORK/t.json" || continue
        lim=$(field "$WORK/t.json" "max([$lim] + [a['snapshot_latency_ms'] or 0 for a in r['actors']])")
    done
    u2=$(field "$WORK/t.json" 'r["updates"]')
    if "$PY" -c "import sys; sys.exit(not ($lim > 3 * $base and $lim > 50))"; then
        ok "200 kbit/s: snapshot latency up to $lim ms (${base} ms unlimited)"
    else
        fail "the bandwidth limit did not show in the latency: $lim ms limited, $base ms unlimited"
    fi
    if [ "$u2" -gt $((u1 + 200)) ]; then
        ok "updates go on under the limit ($u1 -> $u2 in 8 s)"
    else
        fail "updates stalled under the limit: $u1 -> $u2"
    fi
    tc -n "$LNS" qdisc del dev eth0 root

    # ---- kill -9 of the learner, restart with --resume on its host ----
    wait_until 30 '(r["last_checkpoint"] or {}).get("updates", 0) >= 200' ||
        fail "no checkpoint before the kill: $(cat "$WORK/poll.json")"
    status "$WORK/pre.json"
    local run0 ck
    run0=$(field "$WORK/pre.json" 'r["run_id"]')
    ck=$(field "$WORK/pre.json" 'r["last_checkpoint"]["updates"]')
    kill -KILL "$LPID"
    wait "$LPID" 2>/dev/null
    if ip netns pids "$LNS" | grep -q .; then
        fail "the learner host still runs $(ip netns pids "$LNS") after kill -9"
    fi
    OUTNAME=run start_learner run2 --checkpoint-every 200 --keep 2 --resume
    if wait_until 40 "r['run_id'] != '$run0' and r['resumed_from'] is not None and $BOTH and all(a['steps'] > 0 for a in r['actors']) and r['updates'] > $ck"; then
        ok "learner killed (-9) and resumed on its host: the remote actors stream again (updates >= $ck at the kill, now $(field "$WORK/poll.json" 'r["updates"]'))"
    else
        fail "no streaming after the resume: $(cat "$WORK/poll.json"); $(tail -3 "$WORK/run2.err")"
    fi
    alive "$a1" "$a2" && ok "the actor processes survived the learner's crash" ||
        fail "an actor exited: $(tail -n 3 "$WORK/actor-a1.err" "$WORK/actor-a2.err")"
    kill -TERM "$LPID" "$a1" "$a2" 2>/dev/null
    wait "$LPID" "$a1" "$a2" 2>/dev/null

    # ---- CurveZMQ across hosts ----
    local K="$WORK/keys" rc a2key
    mkdir -p "$K/allow"
    if ! "$KEYGEN" "$K/learner" "$K/c1" "$K/c2" >"$WORK/keygen.out" 2>&1; then
        fail "hpo-keygen: $(cat "$WORK/keygen.out")"
        return
    fi
    cp "$K/c1.public" "$K/allow/"
    a2key=$(sed -n 's/^public = //p' "$K/c2.public")
    PORT=5560
    STATUS_KEYS=(--curve-server "$K/learner.public" --curve-key "$K/c1.secret")
    start_learner curve --curve-secret "$K/learner.secret" --curve-allow "$K/allow"
    start_actor 1 c1 --curve-server "$K/learner.public" --curve-key "$K/c1.secret"
    if wait_until 60 'r["curve"] and r["updates"] >= 100 and [a["id"] for a in r["actors"]] == ["c1"]'; then
        ok "CurveZMQ across hosts: the allowed key streams from ${ADDR[1]}"
    else
        fail "no streaming with the allowed key: $(cat "$WORK/poll.json") $(tail -3 "$WORK/actor-c1.err")"
    fi
    on 2 timeout 20 "$ACTOR" --env Pendulum --learner "$LADDR:$PORT" --id c2 \
        --timeout-ms 3000 --curve-server "$K/learner.public" \
        --curve-key "$K/c2.secret" >/dev/null 2>"$WORK/actor-c2.err"
    rc=$?
    if [ $rc -eq 3 ] && grep -qF "does not allow this actor's CurveZMQ key $a2key" "$WORK/actor-c2.err"; then
        ok "another key from ${ADDR[2]}: refused, exit 3 naming the key"
    else
        fail "the other key: exit $rc: $(cat "$WORK/actor-c2.err")"
    fi
    STATUS_KEYS=()

    # ---- everything removed ----
    net_down
    PIDS=()
    if ip netns list | grep -q "$TAG" || ip link show | grep -q "$TAG"; then
        fail "left behind: $(ip netns list | grep "$TAG") $(ip link show | grep "$TAG")"
    else
        ok "every namespace and link of the test removed"
    fi
}


# ---- ssh: an sshd per host namespace, deploy/ssh run from the learner host ----
SSHD=/usr/sbin/sshd

# sshd_up: host and client keys for this test, one sshd on each host's
# address (port 22 of its namespace).
sshd_up() {
    local D="$WORK/ssh" i
    mkdir -p "$D" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$D/hostkey" || return 1
    ssh-keygen -q -t ed25519 -N '' -f "$D/id" || return 1
    cp "$D/id.pub" "$D/authorized_keys"
    for i in 0 1 2; do
        cat >"$D/sshd-$i.conf" <<EOF2
ListenAddress ${ADDR[$i]}
Port 22
HostKey $D/hostkey
AuthorizedKeysFile $D/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $D/sshd-$i.pid
EOF2
        ip netns exec "${HOSTS[$i]}" "$SSHD" -D -e -f "$D/sshd-$i.conf" \
            2>"$WORK/sshd-$i.log" &
        PIDS+=("$!")
    done
    export HPO_SSH="ssh -i $D/id -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5"
    local ok_all _
    for _ in $(seq 40); do
        ok_all=1
        for i in 0 1 2; do
            on 0 $HPO_SSH "${ADDR[$i]}" true </dev/null 2>/dev/null || ok_all=0
        done
        [ $ok_all -eq 1 ] && return 0
        sleep 0.25
    done
    echo "sshd does not answer: $(cat "$WORK"/sshd-*.log)" >&2
    return 1
}

# hpo_procs: the hpo-* processes running in any host namespace, "ns:comm".
hpo_procs() {
    local ns p c
    for ns in "${HOSTS[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            c=$(cat "/proc/$p/comm" 2>/dev/null) || continue
            case $c in hpo-*) echo "$ns:$c" ;; esac
        done
    done
}

# no_strays WHAT: within 15 s no hpo process is left in the namespaces.
no_strays() {
    local left _
    for _ in $(seq 60); do
        left=$(hpo_procs)
        [ -z "$left" ] && { ok "$1: no hpo process left on any host"; return; }
        sleep 0.25
    done
    fail "$1: left running: $(echo $left)"
}

# start_ssh NAME ARGS...: deploy/ssh on the learner host (job control on, so
# that SIGINT reaches it as from a terminal); sets DPID.
start_ssh() {
    local name=$1
    shift
    set -m
    HPO_BUILD_DIR=$BUILD ip netns exec "$LNS" "$SRC/deploy/ssh" \
        --learner "$LADDR" --actors "${ADDR[1]}:2,${ADDR[2]}" --env Pendulum \
        --bin "$BUILD" --port "$PORT" --out "$WORK/$name" \
        "${SMALL[@]:2}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    DPID=$!
    set +m
    PIDS+=("$DPID")
}

# wait_exit PID SECONDS: 0 and RC set when PID ended within SECONDS.
wait_exit() {
    local _
    for _ in $(seq $(($2 * 4))); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1" 2>/dev/null
            RC=$?
            return 0
        fi
        sleep 0.25
    done
    return 1
}

THREE='sorted(a["id"] for a in r["actors"] if a["role"] == "actor") == ["10.77.0.2-1", "10.77.0.2-2", "10.77.0.3-1"]'
EVAL1='[a["id"] for a in r["actors"] if a["role"] == "eval"] == ["eval"]'
DATA='len([a for a in r["actors"] if a["role"] == "actor"])'

part_ssh() {
    [ -x "$SSHD" ] || { fail "no $SSHD: install openssh-server (deploy/setup lists it)"; return; }
    sshd_up || { fail "cannot start the test's sshd"; return; }

    # Ctrl-C; the run's own CurveZMQ keys (made by deploy/ssh in its run
    # directory, the same path on every host here)
    start_ssh ssh1
    STATUS_KEYS=(--curve-server "$WORK/ssh1/keys/learner.public" --curve-key "$WORK/ssh1/keys/actor.secret")
    if wait_until 60 "r['curve'] and $THREE and $EVAL1 and all(a['steps'] > 0 for a in r['actors'] if a['role'] == 'actor') and r['updates'] >= 200"; then
        ok "deploy/ssh: learner on $LADDR, 2 + 1 actors on the other hosts stream, and the evaluation actor (by default) is there, authenticated with the run's own keys"
    else
        fail "deploy/ssh run: $(cat "$WORK/poll.json") $(cat "$WORK/ssh1.err") $(tail -3 "$WORK/ssh1/"*.log)"
    fi
    local modes
    modes=$(stat -c '%n %a' "$WORK/ssh1/keys" "$WORK/ssh1/keys"/* | sed "s|$WORK/ssh1/||" | tr '\n' ' ')
    if [ "$modes" = "keys 700 keys/actor.public 600 keys/actor.secret 600 keys/learner.public 600 keys/learner.secret 600 " ]; then
        ok "the run's keys: keys/ 0700, files 0600"
    else
        fail "the run's keys' modes: $modes"
    fi
    if on 0 "$STATUS" "$LADDR:$PORT" --json --timeout-ms 1000 >/dev/null 2>&1; then
        fail "deploy/ssh's learner answered a status request without keys"
    else
        ok "without the run's keys deploy/ssh's learner does not answer"
    fi
    STATUS_KEYS=()
    local _
    for _ in $(seq 40); do grep -q "env steps\|steps" "$WORK/ssh1.out" 2>/dev/null && break; sleep 0.25; done
    if grep -q "^deploy/ssh: Pendulum, learner on $LADDR" "$WORK/ssh1.out" &&
        [ "$(wc -l <"$WORK/ssh1.out")" -ge 2 ]; then
        ok "deploy/ssh prints its plan and a progress line ($(tail -1 "$WORK/ssh1.out"))"
    else
        fail "deploy/ssh output: $(cat "$WORK/ssh1.out")"
    fi
    kill -INT "$DPID"
    if wait_exit "$DPID" 20 && [ "$RC" -eq 130 ]; then
        ok "Ctrl-C: deploy/ssh exits 130"
    else
        fail "Ctrl-C: deploy/ssh still running or exit ${RC:-?}: $(tail -3 "$WORK/ssh1.err")"
    fi
    no_strays "after Ctrl-C"
    ls "$WORK/ssh1"/checkpoint-*.ckpt >/dev/null 2>&1 &&
        ok "the learner checkpointed on the way out (SIGTERM from its watcher)" ||
        fail "no checkpoint in $WORK/ssh1: $(tail -3 "$WORK/ssh1/learner.log")"
    # one run directory: the learner's files, the actors' logs (the
    # evaluation actor's too) and weights.bin together; each log line once
    local d="$WORK/ssh1" f missing=
    for f in config progress.csv learner.log weights.bin eval.log actor-10.77.0.2-1.log; do
        [ -s "$d/$f" ] || missing="$missing $f"
    done
    if [ -z "$missing" ] &&
        [ "$(grep -c ' I run .*replay ratio' "$d/learner.log")" -eq 1 ] &&
        ! grep -q ' I run .*replay ratio' "$d/learner.err" 2>/dev/null; then
        ok "one run directory ($d): config, progress.csv, learner.log (each line once, none in learner.err), weights.bin, eval.log, the actors' logs"
    else
        fail "run directory $d: missing${missing:- nothing}; $(ls "$d" | tr '\n' ' '); run lines $(grep -c ' I run .*replay ratio' "$d/learner.log" 2>/dev/null)"
    fi

    # the learner's own end, --insecure (no keys)
    start_ssh ssh2 --max-updates 1500 --insecure
    if wait_exit "$DPID" 90 && [ "$RC" -eq 0 ] && [ ! -e "$WORK/ssh2/keys" ]; then
        ok "deploy/ssh --insecure (no keys) ends with the learner (--max-updates 1500), exit 0"
    else
        fail "learner's end: deploy/ssh exit ${RC:-still running}: $(tail -n 3 "$WORK/ssh2.err" "$WORK/ssh2/learner.log")"
    fi
    no_strays "after the learner's end"
    # deploy/ssh itself killed (-9): the sessions' input ends, the watchers stop all
    start_ssh ssh3
    STATUS_KEYS=(--curve-server "$WORK/ssh3/keys/learner.public" --curve-key "$WORK/ssh3/keys/actor.secret")
    wait_until 60 "$THREE" || fail "third run did not start: $(cat "$WORK/poll.json")"
    STATUS_KEYS=()
    kill -KILL "$DPID"
    wait "$DPID" 2>/dev/null
    no_strays "after kill -9 of deploy/ssh"

    # CurveZMQ: --keys DIR for the learner, the actors and the status line
    local K="$WORK/sshkeys"
    mkdir -p "$K/allow"
    "$KEYGEN" "$K/learner" "$K/actor" >/dev/null 2>&1 && cp "$K/actor.public" "$K/allow/"
    start_ssh ssh5 --keys "$K"
    STATUS_KEYS=(--curve-server "$K/learner.public" --curve-key "$K/actor.secret")
    if wait_until 60 "r['curve'] and $THREE and all(a['steps'] > 0 for a in r['actors'] if a['role'] == 'actor')"; then
        ok "deploy/ssh --keys: the learner requires CurveZMQ and the 3 actors stream with the key"
    else
        fail "deploy/ssh --keys: $(cat "$WORK/poll.json") $(tail -n 3 "$WORK/ssh5.err" "$WORK/ssh5/"*.log)"
    fi
    STATUS_KEYS=()
    if on 0 "$STATUS" "$LADDR:$PORT" --json --timeout-ms 1000 >/dev/null 2>&1; then
        fail "the --keys learner answered a status request without keys"
    else
        ok "without keys the --keys learner does not answer"
    fi
    kill -INT "$DPID"
    wait_exit "$DPID" 20 || fail "deploy/ssh --keys did not stop on Ctrl-C"
    no_strays "after Ctrl-C of the --keys run"

    # a bad program directory is named
    HPO_BUILD_DIR=$BUILD ip netns exec "$LNS" "$SRC/deploy/ssh" --learner "$LADDR" \
        --actors "${ADDR[1]}" --bin /nonexistent --out "$WORK/ssh4" >/dev/null 2>"$WORK/ssh4.err"
    RC=$?
    if [ $RC -ne 0 ] && grep -q "no hpo-learner in /nonexistent" "$WORK/ssh4.err"; then
        ok "--bin without the programs: exit $RC, named"
    else
        fail "--bin /nonexistent: exit $RC: $(cat "$WORK/ssh4.err")"
    fi
    no_strays "after the failed start"
}

# ---- slurm: a three-node Slurm cluster, one slurmd per host namespace ----
# slurm_up: munged (its own key and socket), slurmctld on the learner host,
# a slurmd per host (nodes n0, n1, n2 at the hosts' addresses), all from a
# configuration in $WORK/slurm.
slurm_up() {
    local W="$WORK/slurm" i
    mkdir -p "$W/state" || return 1
    mungekey -c -k "$W/munge.key" 2>"$W/mungekey.err" ||
        { echo "mungekey: $(cat "$W/mungekey.err")" >&2; return 1; }
    ip netns exec "$LNS" munged -F --force --socket "$W/munge.sock" \
        --key-file "$W/munge.key" --pid-file "$W/munged.pid" \
        --log-file "$W/munged.log" --seed-file "$W/munged.seed" 2>"$W/munged.err" &
    PIDS+=("$!")
    cat >"$W/slurm.conf" <<EOF2
ClusterName=hpotest
SlurmctldHost=$(hostname)(${ADDR[0]})
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=socket=$W/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool-%n
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd-%n.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=15
NodeName=n0 NodeAddr=${ADDR[0]} CPUs=2 RealMemory=8192 State=UNKNOWN
NodeName=n1 NodeAddr=${ADDR[1]} CPUs=2 RealMemory=8192 State=UNKNOWN
NodeName=n2 NodeAddr=${ADDR[2]} CPUs=2 RealMemory=8192 State=UNKNOWN
PartitionName=main Nodes=n0,n1,n2 Default=YES MaxTime=INFINITE State=UP
EOF2
    export SLURM_CONF="$W/slurm.conf"
    local _
    for _ in $(seq 40); do [ -S "$W/munge.sock" ] && break; sleep 0.25; done
    ip netns exec "$LNS" slurmctld -D -i -f "$SLURM_CONF" 2>"$W/slurmctld.err" &
    PIDS+=("$!")
    for i in 0 1 2; do
        mkdir -p "$W/spool-n$i"
        # nsenter, not ip netns exec: slurmd needs the machine's
        # /sys/fs/cgroup, which ip netns exec's fresh /sys mount hides
        nsenter --net="/run/netns/${HOSTS[$i]}" slurmd -D -N "n$i" -f "$SLURM_CONF" 2>"$W/slurmd-$i.err" &
        PIDS+=("$!")
    done
    for _ in $(seq 80); do
        [ "$(on 0 sinfo -h -N -o '%N %T' 2>/dev/null | grep -c ' idle$')" -eq 3 ] && return 0
        sleep 0.5
    done
    echo "the Slurm nodes did not come up: $(on 0 sinfo -N 2>&1) $(tail -n 5 "$W/slurmctld.log" "$W"/slurmd-n*.log "$W"/*.err 2>&1)" >&2
    return 1
}

# job_state ID: the job's state ("" once it left the queue).
job_state() {
    on 0 squeue -h -j "$1" -o '%T %r' 2>/dev/null
}

# sbatch_job ARGS...: submit from the repository on the learner host; sets JOB.
sbatch_job() {
    JOB=$(cd "$SRC" && on 0 sbatch --parsable "$@" 2>"$WORK/sbatch.err")
    JOB=${JOB%%;*}
    case $JOB in ''|*[!0-9]*) fail "sbatch: $(cat "$WORK/sbatch.err")"; return 1 ;; esac
    PORT=$((20000 + 4 * (JOB % 10000)))
}

# cancel_job ID: scancel and wait (30 s) until it left the queue.
cancel_job() {
    local _
    on 0 scancel "$1"
    for _ in $(seq 120); do
        [ -z "$(job_state "$1")" ] && return 0
        sleep 0.25
    done
    return 1
}

# eligible_now ID: once the requeued job is pending, its begin time now.
# Slurm holds a requeued job back for a while (pending, reason BeginTime);
# a real cluster waits, the test moves the time to now to stay short. Not in
# the second the job became pending: slurmd revoked the job's credential when
# it ended the first run, and refuses a new one of the same job created in the
# same second or before ("Killing non-startable batch JobId=3: Job credential
# revoked": the job then fails and leaves the queue). Seen under load, when
# the scheduler placed the job again 20 ms after the update.
eligible_now() {
    local _ st
    for _ in $(seq 120); do
        st=$(job_state "$1")
        case $st in PENDING*) break ;; esac
        sleep 0.25
    done
    echo "job $1 after the requeue: $st"
    sleep 2
    on 0 scontrol update JobId="$1" StartTime=now ||
        fail "scontrol update JobId=$1 StartTime=now"
}

# job_log ID: what slurmctld logged about the job, for a failure's message.
job_log() {
    grep -E "JobId=$1([^0-9]|$)" "$WORK/slurm/slurmctld.log" 2>/dev/null | tail -n 8
}

part_slurm() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        echo "installing slurm-wlm and munge (Debian)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            slurm-wlm munge >"$WORK/apt.log" 2>&1 ||
            { fail "apt-get install slurm-wlm munge: $(tail -3 "$WORK/apt.log")"; return; }
    fi
    slurm_up || { fail "cannot start the test's Slurm cluster"; return; }
    ok "a 3-node Slurm cluster (slurmctld, a slurmd per host namespace) is up"

    # the heterogeneous layout: learner on one node, 4 actors on two others
    local W="$WORK/slurm"
    sbatch_job -o "$W/het-%j.out" --export="ALL,HPO_BIN=$BUILD,HPO_OUT=$W/het" \
        deploy/slurm/hpo-het.sbatch "${SMALL[@]}" --checkpoint-every 200 || return
    local het=$JOB
    # the run's own keys, made by deploy/slurm/run in its run directory
    STATUS_KEYS=(--curve-server "$W/het/keys/learner.public" --curve-key "$W/het/keys/actor.secret")
    if wait_until 90 "r['curve'] and $DATA == 4 and all(a['steps'] > 0 for a in r['actors'] if a['role'] == 'actor') and sorted(set(a['id'].rsplit('-', 1)[0] for a in r['actors'] if a['role'] == 'actor')) == ['vm'] and $EVAL1 and r['updates'] >= 300"; then
        ok "hpo-het.sbatch (job $het): learner on n0 at $LADDR:$PORT (port from the job id), 4 actor tasks on n1, n2 stream, the evaluation actor (by default) beside the learner, authenticated with the run's own keys"
    else
        fail "het job $het: state $(job_state "$het"); $(cat "$WORK/poll.json" 2>/dev/null) $(cat "$W"/het-*.out "$W/het/learner.log" 2>/dev/null | tail -5)"
    fi
    if on 0 "$STATUS" "$LADDR:$PORT" --json --timeout-ms 1000 >/dev/null 2>&1; then
        fail "the Slurm learner answered a status request without the run's keys"
    else
        ok "without the run's keys the Slurm learner does not answer"
    fi
    local listen
    listen=$(on 0 ss -Hltn "sport = :$PORT" | awk '{print $4}' | tr '\n' ' ')
    [ "$listen" = "$LADDR:$PORT " ] && ok "the Slurm learner binds its node's address only ($listen)" ||
        fail "the Slurm learner listens on: $listen (want $LADDR:$PORT only)"
    local nodes
    nodes=$(on 0 squeue -h -j "$het" -o %N 2>/dev/null | tr '\n' ' ')
    [ "$nodes" = "n0 n[1-2] " ] && ok "the het job's components hold n0 and n1, n2" ||
        fail "het job nodes: $nodes"

    # requeue: the learner checkpoints on SIGTERM, the job runs again and
    # resumes from it
    wait_until 30 '(r["last_checkpoint"] or {}).get("updates", 0) >= 200' ||
        fail "no checkpoint before the requeue"
    status "$WORK/pre.json"
    local run0 u0
    run0=$(field "$WORK/pre.json" 'r["run_id"]')
    u0=$(field "$WORK/pre.json" 'r["updates"]')
    on 0 scontrol requeue "$het" || fail "scontrol requeue $het"
    eligible_now "$het"
    if wait_until 150 "r['run_id'] != '$run0' and r['resumed_from'] is not None and $DATA == 4 and r['updates'] > $u0"; then
        ok "requeued: the job resumed from $(field "$WORK/poll.json" 'r["resumed_from"].split("/")[-1]') (updates $u0 at the requeue, now $(field "$WORK/poll.json" 'r["updates"]'))"
    else
        fail "no resume after the requeue: state $(job_state "$het"); $(cat "$WORK/poll.json") $(tail -5 "$W/het/learner.log"); slurmctld: $(job_log "$het")"
    fi
    cancel_job "$het" && ok "scancel: job $het left the queue" || fail "job $het still $(job_state "$het")"
    no_strays "after scancel of the het job"

    # docs/deploy.md's form: the actor component's size on the command line,
    # after ':' and before the script (here 1 node, 2 tasks instead of 2 x 4)
    sbatch_job -o "$W/het2-%j.out" --export="ALL,HPO_BIN=$BUILD,HPO_OUT=$W/het2" : -N 1 -n 2 \
        deploy/slurm/hpo-het.sbatch "${SMALL[@]}" || return
    local het2=$JOB
    # its own run directory: its own keys
    STATUS_KEYS=(--curve-server "$W/het2/keys/learner.public" --curve-key "$W/het2/keys/actor.secret")
    if wait_until 90 "r['curve'] and $DATA == 2 and all(a['steps'] > 0 for a in r['actors'] if a['role'] == 'actor') and r['updates'] > 0" &&
        sleep 3 && status "$WORK/het2.json" && [ "$(field "$WORK/het2.json" 'len([a for a in r["actors"] if a["role"] == "actor"])')" = 2 ]; then
        ok "sbatch ... : -N 1 -n 2 hpo-het.sbatch (job $het2): the actor component on the command line, 2 actors stream"
    else
        fail "het job $het2 with the actor component on the command line: $(cat "$WORK/poll.json" 2>/dev/null) $(cat "$W"/het2-*.out 2>/dev/null | tail -3)"
    fi
    cancel_job "$het2" || fail "job $het2 still $(job_state "$het2")"
    no_strays "after scancel of the second het job"

    # the single-allocation layout on one node, and the time-limit warning
    # (SIGUSR1 to the batch script) with HPO_REQUEUE=1
    sbatch_job -o "$W/one-%j.out" -N 1 -n 2 -w n0 \
        --export="ALL,HPO_BIN=$BUILD,HPO_OUT=$W/one,HPO_REQUEUE=1,HPO_ACTORS=2" \
        deploy/slurm/hpo.sbatch "${SMALL[@]}" --checkpoint-every 100000 || return
    local one=$JOB
    STATUS_KEYS=(--curve-server "$W/one/keys/learner.public" --curve-key "$W/one/keys/actor.secret")
    if wait_until 90 "r['curve'] and $DATA == 2 and all(a['steps'] > 0 for a in r['actors'] if a['role'] == 'actor') and $EVAL1 and r['updates'] >= 300"; then
        ok "hpo.sbatch (job $one) on one node: the learner, 2 actors and the evaluation actor as overlapping steps stream, authenticated with the run's own keys"
    else
        fail "single job $one: state $(job_state "$one"); $(cat "$WORK/poll.json" 2>/dev/null) $(cat "$W"/one-*.out "$W/one/learner.log" 2>/dev/null | tail -5)"
    fi
    status "$WORK/pre.json"
    run0=$(field "$WORK/pre.json" 'r["run_id"]')
    u0=$(field "$WORK/pre.json" 'r["updates"]')
    on 0 scancel --signal=USR1 --batch "$one" || fail "scancel --signal=USR1 $one"
    eligible_now "$one"
    if wait_until 150 "r['run_id'] != '$run0' and r['resumed_from'] is not None and $DATA == 2 and r['updates'] > $u0"; then
        ok "time-limit warning: checkpoint, requeue, resumed at updates >= $u0 (now $(field "$WORK/poll.json" 'r["updates"]'))"
    else
        fail "no resume after the warning: state $(job_state "$one"); $(cat "$WORK/poll.json") $(tail -5 "$W"/one-*.out); slurmctld: $(job_log "$one")"
    fi
    grep -q "end of the job announced: checkpointing" "$W"/one-*.out &&
        grep -q "requeued $one" "$W"/one-*.out &&
        ok "the batch script logged the checkpoint and the requeue" ||
        fail "job output: $(cat "$W"/one-*.out)"
    cancel_job "$one" && ok "scancel: job $one left the queue" || fail "job $one still $(job_state "$one")"
    STATUS_KEYS=()
    no_strays "after scancel of the single job"

    # the daemons stopped, nothing left in the namespaces
    local ns p left _
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 80); do
        left=
        for ns in "${HOSTS[@]}"; do left+=$(ip netns pids "$ns"); done
        [ -z "$left" ] && break
        sleep 0.25
    done
    [ -z "$left" ] && ok "munged, slurmctld and the slurmds stopped; no process left in the namespaces" ||
        fail "left after stopping Slurm: $(for p in $left; do cat /proc/$p/comm; done | tr '\n' ' ')"
}

# ---- container: the image built, its programs run from its own files ----
IMAGE=
image_cleanup() {
    if [ -n "$IMAGE" ]; then
        podman image unmount "$IMAGE" >/dev/null 2>&1
        podman rmi -f "$IMAGE" >/dev/null 2>&1
    fi
}

part_container() {
    local start=$SECONDS root
    if ! "$SRC/deploy/container/build" --out "$WORK/image" --tag "hpo:test-$TAG" \
        >"$WORK/image.log" 2>&1; then
        fail "deploy/container/build: $(tail -5 "$WORK/image.log")"
        return
    fi
    ok "deploy/container/build in $((SECONDS - start)) s ($(grep -o 'debootstrap took [0-9]* s' "$WORK/image.log"))"
    if command -v podman >/dev/null; then
        IMAGE=hpo:test-$TAG
        if ! root=$(podman image mount "$IMAGE" 2>"$WORK/mount.err"); then
            fail "podman image mount $IMAGE: $(cat "$WORK/mount.err")"
            return
        fi
        ok "podman holds image $IMAGE; its file system mounted at $root"
        if timeout 60 podman run --rm "$IMAGE" hpo-learner --help >"$WORK/run.out" 2>&1; then
            echo "note: podman run works on this machine"
        else
            echo "note: podman run cannot start a container here ($(grep -m1 -o 'setrlimit[^"]*\|Error[^"]*' "$WORK/run.out" | head -1)); the image is proven by chroot"
        fi
    else
        root=$WORK/image/rootfs
        echo "note: no podman; the image's root file system $root is used"
    fi
    if chroot "$root" /bin/sh -c 'command -v gcc || command -v cc || command -v meson || ls /usr/include/*.h' >/dev/null 2>&1; then
        fail "the image holds build tools: $(chroot "$root" /bin/sh -c 'command -v gcc cc meson' 2>&1)"
    else
        ok "no compiler, meson or headers in the image"
    fi
    local n missing=
    for n in hpo-learner hpo-actor hpo-status hpo-keygen hpo-eval; do
        chroot "$root" ldd "/usr/local/bin/$n" >"$WORK/ldd.out" 2>&1 || missing+=" $n(ldd failed)"
        grep -q "not found" "$WORK/ldd.out" && missing+=" $n:$(grep 'not found' "$WORK/ldd.out" | tr -d '\t\n')"
    done
    [ -z "$missing" ] && ok "every program's libraries resolve inside the image" ||
        fail "libraries missing in the image:$missing"
    [ -d "$root/usr/local/share/hpo/models" ] && ok "the MJCF models are in the image" ||
        fail "no /usr/local/share/hpo/models in the image"

    # learner and actors from the image's files, in the host namespaces; a
    # writable directory bound on the image's /mnt for the run directory
    # (ip netns exec runs each in a mount namespace of its own)
    mkdir -p "$WORK/crun"
    RUN=(sh -c 'mount --bind "$0" "$1/mnt" && r=$1 && shift && exec chroot "$r" "$@"' "$WORK/crun" "$root")
    LEARNER=/usr/local/bin/hpo-learner
    ACTOR=/usr/local/bin/hpo-actor
    STATUS=/usr/local/bin/hpo-status
    OUTBASE=/mnt
    start_learner crun --checkpoint-every 200
    start_actor 1 a1
    local a1=$APID
    start_actor 2 a2
    if wait_until 60 "$BOTH and r['updates'] >= 300 and all(a['steps'] > 0 and a['snapshots_timed'] >= 1 for a in r['actors'])"; then
        ok "learner and two actors from the image stream across the bridge (updates $(field "$WORK/poll.json" 'r["updates"]'))"
    else
        fail "no streaming from the image: $(cat "$WORK/poll.json") $(tail -3 "$WORK/crun.err" "$WORK/actor-a1.err")"
    fi
    local lr ar
    lr=$(readlink "/proc/$LPID/root")
    ar=$(readlink "/proc/$a1/root")
    [ "$lr" = "$root" ] && [ "$ar" = "$root" ] &&
        [ "$(readlink "/proc/$LPID/exe")" = "$root/usr/local/bin/hpo-learner" ] &&
        ok "their root is the image ($lr), their program its /usr/local/bin/hpo-learner" ||
        fail "process roots: learner $lr, actor $ar, exe $(readlink "/proc/$LPID/exe")"
    ls "$WORK/crun/crun/"checkpoint-*.ckpt >/dev/null 2>&1 &&
        ok "the learner wrote its checkpoints through the image's /mnt" ||
        fail "no checkpoint in $WORK/crun/crun: $(ls "$WORK/crun/crun" 2>&1)"
    net_down
    PIDS=()
    image_cleanup
    IMAGE=
}

if ! net_up; then
    echo "cannot build the test network (ip netns/veth/bridge; see above)" >&2
    exit 1
fi

case $PART in
net) part_net ;;
ssh) part_ssh ;;
container) part_container ;;
slurm) part_slurm ;;
*) echo "unknown part $PART" >&2; exit 2 ;;
esac
finish
echo "all ok"
