#!/usr/bin/env bash
# test_slurm_run.sh - deploy/slurm/run's job steps, with a stand-in Slurm:
# srun runs its program here (recording its options), scontrol names two
# nodes. The programs are real: a Pendulum learner and its actors run to the
# learner's budget.
#
#   test_slurm_run.sh SOURCE_DIR BUILD_DIR
#
# single layout on 2 nodes with --cpus-per-task 2: the learner gets
# --threads 2 and --checkpoint-replay 1 (it fits the disk), the actors'
# step excludes the learner's node; het layout: --threads from component 0's
# CPUs, a --threads among the flags wins; a replay that cannot fit the disk
# is not checkpointed (--checkpoint-replay 0, said in the output); the
# run's CurveZMQ keys are in HPO_OUT/keys, 0700, every file 0600.
set -uo pipefail
SRC=${1:?usage: test_slurm_run.sh SOURCE_DIR BUILD_DIR}
BUILD=$(cd "${2:?build dir}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_slurm_run.XXXXXX")
PIDS=()
cleanup() {
    stop_pids
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export OPENBLAS_NUM_THREADS=1

shim=$WORK/shim
mkdir "$shim"
cat >"$shim/srun" <<'SH'
#!/usr/bin/env bash
# the options up to the program recorded, the program run here
echo "srun $*" >>"$SRUN_LOG"
while [ $# -gt 0 ] && [[ $1 == -* ]]; do shift; done
exec "$@"
SH
cat >"$shim/scontrol" <<'SH'
#!/bin/sh
case "$1 $2" in
"show hostnames") printf 'n0\nn1\n' ;;
"show node") echo "NodeName=$3 NodeAddr=127.0.0.1 State=IDLE" ;;
esac
exit 0
SH
printf '#!/bin/sh\nexit 0\n' >"$shim/squeue"
printf '#!/bin/sh\nexit 0\n' >"$shim/scancel"
chmod +x "$shim"/*

SMALL=(--env Pendulum --pi-hidden 32 --q-hidden 32 --batch 32 --learning-starts 200
       --steps 2000 --bind 127.0.0.1)
# job NAME LAYOUT [VAR=VALUE...] -- LEARNER FLAGS...: deploy/slurm/run with the
# stand-ins, bounded; the srun lines in $WORK/NAME.srun
job() {
    local name=$1 layout=$2
    shift 2
    local vars=()
    while [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    : >"$WORK/$name.srun"
    env PATH="$shim:$PATH" SRUN_LOG="$WORK/$name.srun" SLURM_JOB_ID=$((RANDOM % 9000 + 1000)) \
        SLURM_JOB_NODELIST="n[0-1]" SLURM_SUBMIT_DIR="$WORK" HPO_BIN="$BUILD" \
        HPO_OUT="$WORK/$name" "${vars[@]}" \
        timeout 120 "$SRC/deploy/slurm/run" "$layout" "$@" >"$WORK/$name.out" 2>&1
    rc=$?
}
learner_line() { grep -- '--job-name=hpo-learner' "$WORK/$1.srun"; }
actor_line() { grep -v -- '--job-name=hpo-learner' "$WORK/$1.srun"; }

job single single SLURM_NTASKS=3 SLURM_CPUS_PER_TASK=2 -- "${SMALL[@]}"
if [ $rc -eq 0 ] && [ -s "$WORK/single/progress.csv" ]; then
    ok "single layout: the learner ran to its budget with the actors"
else
    fail "single layout: exit $rc: $(tail -5 "$WORK/single.out")"
fi
learner_line single | grep -q -- '--threads 2 ' && ok "the learner's --threads is its 2 CPUs" ||
    fail "no --threads 2 for the learner: $(learner_line single)"
learner_line single | grep -q -- '--checkpoint-replay 1 ' && grep -q "hold the replay buffer" "$WORK/single.out" &&
    ok "its checkpoints hold the replay buffer (it fits): $(grep -o 'checkpoints hold[^)]*)' "$WORK/single.out")" ||
    fail "no --checkpoint-replay 1: $(learner_line single)"
actor_line single | grep -q -- '--exclude=n0' && ok "the actors' step excludes the learner's node n0" ||
    fail "the actors may share the learner's node: $(actor_line single)"
# the run's CurveZMQ keys: owner-only, used by the learner and the actors
modes=$(cd "$WORK/single/keys" 2>/dev/null && stat -c '%n %a' . ./* | tr '\n' ' ')
[ "$modes" = ". 700 ./actor.public 600 ./actor.secret 600 ./learner.public 600 ./learner.secret 600 " ] &&
    learner_line single | grep -q -- "--curve-secret $WORK/single/keys/learner.secret " &&
    actor_line single | grep -q -- "--curve-key $WORK/single/keys/actor.secret" &&
    ok "the run's keys: keys/ 0700, each file 0600, the learner's and the actors' own" ||
    fail "the run's keys: modes '$modes'; $(learner_line single)"

job het het SLURM_JOB_NODELIST_HET_GROUP_0=n0 SLURM_CPUS_PER_TASK_HET_GROUP_0=4 SLURM_NTASKS_HET_GROUP_1=2 \
    -- "${SMALL[@]}"
learner_line het | grep -q -- '--threads 4 ' && ok "het layout: --threads from component 0's 4 CPUs" ||
    fail "het: $(learner_line het); $(tail -3 "$WORK/het.out")"
job het1 het SLURM_JOB_NODELIST_HET_GROUP_0=n0 SLURM_CPUS_PER_TASK_HET_GROUP_0=4 SLURM_NTASKS_HET_GROUP_1=2 \
    -- "${SMALL[@]}" --threads 1
n=$(learner_line het1 | grep -o -- '--threads [0-9]*' | tr '\n' ' ')
[ "$n" = "--threads 1 " ] && ok "a --threads among the flags wins" || fail "het --threads 1: $n"

job big single SLURM_NTASKS=2 -- --env Humanoid --buffer 100000000000 --steps 1000 --bind 127.0.0.1
learner_line big | grep -q -- '--checkpoint-replay 0 ' && grep -q "without the replay buffer" "$WORK/big.out" &&
    ok "a replay that cannot fit the disk is not checkpointed: $(grep -o 'without the replay[^(]*' "$WORK/big.out")" ||
    fail "big replay: $(learner_line big); $(head -3 "$WORK/big.out")"
finish
echo "all ok"
