#!/usr/bin/env bash
# test_sweep.sh - hpo-sweep on real hpo-train runs with tiny Pendulum budgets.
#
#   test_sweep.sh HPO_SWEEP HPO_TRAIN [HPO_ENV_LIB]
#
# grid       expansion into named cells (two modes, two seeds, a two-valued
#            --set, one fixed --set), the recorded grid, a changed grid
#            refused (exit 2, nothing touched), a shrunk budget refused, bad
#            command lines (exit 2 with the reason)
# kill       one sweep run without interruption; a second one of the same
#            grid killed with SIGKILL (itself and its runs, the whole process
#            group) once a run has checkpointed, then rerun: it finishes and
#            its report's returns table equals the uninterrupted one's
#            (checkpoints fall on episode boundaries, so resumes are exact);
#            two runs went at once (--jobs 2); a run killed alone is resumed
#            by its sweep
# torch      with HPO_ENV_LIB: --impl c,torch runs bench/torch_sac.py for
#            mode sac (hpo's torch cells skipped with a note), and the report
#            has a row per implementation
# machine    each run segment's log names its machine; a run resumed on
#            another kind of machine is said, and the report marks it with both
# from       --from: another directory's longer sweep continues a's runs, bit
#            for bit a fresh run's, a untouched, a going run waited for, the
#            report of both counting each seed once; bad --from refused
# slots      --slots DIR:N: two sweeps that share DIR run at most N runs at once;
#            --slot-rank: a waiting sweep of a smaller rank gets a free slot first
# deadline   --deadline: a cell whose peers (--costs-from) say it would end
#            past the deadline is held while one with nothing to go by runs;
#            exit 3 naming it, no .held file left; a later deadline runs it;
#            with --overrun the held cell starts once the deadline has passed
# report     the markdown tables (marks, AUC, time to target, anchors, runs),
#            --window means, and a PNG per environment
# search     a settings search (Optuna) of 3 trials on 2 seeds in 2 rungs:
#            ranked, with the confirm command; killed with SIGKILL mid-trial
#            and rerun: the cut-off settings resume from their checkpoints;
#            another space refused; a bad range and an unknown environment
#            refused before any file; --deadline starts no trial that would
#            end past it (exit 3)
set -uo pipefail
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

SWEEP=$(realpath "${1:?usage: test_sweep.sh HPO_SWEEP HPO_TRAIN}")
HPO_TRAIN=$(realpath "${2:?hpo-train}")
export HPO_TRAIN
ENV_LIB=${3:+$(realpath "$3")}
# Under -Dsanitize=true meson preloads the ASan runtime for the Python that
# loads libhpoenv.so; only the torch sweep needs it (pgrep hangs under it).
PRELOAD=${LD_PRELOAD:-}
unset LD_PRELOAD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_sweep.XXXXXX")
PGIDS=()
cleanup() {
    for g in "${PGIDS[@]}"; do kill -9 -- "-$g" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1

# 200-step episodes; checkpoints every 400 updates fall at env steps 600,
# 1000, ... (updates = steps - learning-starts): episode boundaries.
# shellcheck disable=SC2054  # commas are hpo-sweep's list separator
G=(--env Pendulum --mode sac,hpo --seeds 1-2 --steps 1600
   --set learning-starts=200 --set pi-hidden=32 --set q-hidden=32
   --set batch=32 --set eval-every=400 --set eval-episodes=2
   --checkpoint-every 400 --jobs 2 --quiet)

# wait_glob SECONDS GLOB: 0 as soon as a file matches GLOB (compgen only
# expands the glob: ls would also stat each name, and fail when a run prunes
# an old checkpoint between the expansion and the stat, --keep 2)
wait_glob() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        compgen -G "$2" >/dev/null && return 0
        sleep 0.02
    done
    return 1
}

# returns_table REPORT: the lines between the returns markers
returns_table() { sed -n '/<!-- returns -->/,/<!-- \/returns -->/p' "$1"; }

# ---- grid ----
"$SWEEP" --out g "${G[@]}" --set tau=0.005,0.01 --steps 400 --set eval-every=200 \
    >g.out 2>g.err
rc=$?
[ $rc -eq 2 ] && grep -q "set eval-every given twice" g.err &&
    ok "a --set given twice: exit 2" || fail "--set twice: exit $rc: $(cat g.err)"
Gs=("${G[@]}")
Gs[7]=400  # --steps 400: the grid test needs no training
"$SWEEP" --out g "${Gs[@]}" --set tau=0.005,0.01 >g.out 2>g.err ||
    fail "grid sweep: exit $?: $(cat g.err)"
want="Pendulum/hpo-c-tau=0.005-s1 Pendulum/hpo-c-tau=0.005-s2 Pendulum/hpo-c-tau=0.01-s1 Pendulum/hpo-c-tau=0.01-s2 Pendulum/sac-c-tau=0.005-s1 Pendulum/sac-c-tau=0.005-s2 Pendulum/sac-c-tau=0.01-s1 Pendulum/sac-c-tau=0.01-s2"
got=$(cd g && ls -d Pendulum/* | sort | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ] && ok "grid: 8 cells named mode-impl-setting-seed" ||
    fail "grid cells: $got"
grep -q '^tau = 0.00999' g/Pendulum/sac-c-tau=0.01-s2/config &&
    grep -q '^seed = 2' g/Pendulum/sac-c-tau=0.01-s2/config &&
    grep -q '^batch = 32' g/Pendulum/sac-c-tau=0.01-s2/config &&
    ok "a cell's config has its settings" || fail "cell config"
n_done=$(for d in g/Pendulum/*; do csv_cols "$d/progress.csv" env_steps | tail -1; done | grep -cx 400)
[ "$n_done" -eq 8 ] && ok "every cell ran to 400 steps" || fail "$n_done cells at 400"
before=$(find g -type f -newer g/grid.json | wc -l)
"$SWEEP" --out g "${Gs[@]}" --set tau=0.005 >g2.out 2>g2.err
rc=$?
[ $rc -eq 2 ] && grep -q "holds another grid: sets was" g2.err &&
    [ "$(find g -type f -newer g/grid.json | wc -l)" -eq "$before" ] &&
    ok "a changed grid: refused with the reason, nothing touched" ||
    fail "changed grid: exit $rc: $(cat g2.err)"
Gs[7]=200
"$SWEEP" --out g "${Gs[@]}" --set tau=0.005,0.01 >g3.out 2>g3.err
[ $? -eq 2 ] && grep -q "may grow, not shrink" g3.err &&
    ok "a shrunk budget: refused" || fail "shrunk budget: $(cat g3.err)"
# a second run of the finished grid starts nothing
Gs[7]=400
"$SWEEP" --out g "${Gs[@]}" --set tau=0.005,0.01 >g4.out 2>g4.err ||
    fail "rerun of a finished grid: $(cat g4.err)"
# sweeps of one DIR at once (--only parts of a grid on two cores) each rewrite
# grid.json and report.md: none may trip on another's temporary file
pids=()
for i in 1 2 3 4 5 6 7 8; do
    "$SWEEP" --out g "${Gs[@]}" --set tau=0.005,0.01 >c$i.out 2>c$i.err &
    pids+=($!)
done
nbad=0
for p in "${pids[@]}"; do wait "$p" || nbad=$((nbad + 1)); done
[ $nbad -eq 0 ] && [ -z "$(find g -maxdepth 1 -name '*.tmp')" ] &&
    ok "eight sweeps of one DIR at once: all exit 0, no temporary file left" ||
    fail "sweeps at once: $nbad failed: $(grep -hv '^hpo-sweep: [0-9a]' c*.err | head -3)"
# --only: a part of the recorded grid now, the rest by the command without it
"$SWEEP" --out o "${Gs[@]}" --only 'Pendulum/sac-*' >o.out 2>o.err ||
    fail "--only sweep: exit $?: $(cat o.err)"
ran=$(cd o && for d in Pendulum/*; do [ -f "$d/progress.csv" ] && echo "$d"; done | tr '\n' ' ')
[ "$ran" = "Pendulum/sac-c-s1 Pendulum/sac-c-s2 " ] && grep -q "that --only picked" o.err &&
    ok "--only: just the matching cells ran" || fail "--only ran: $ran: $(cat o.err)"
"$SWEEP" --out o "${Gs[@]}" --only 'Hopper/*' >o2.out 2>o2.err
[ $? -eq 2 ] && grep -q "no cell of the grid matches; its cells are named like Pendulum/" o2.err &&
    ok "--only matching nothing: exit 2 with the cell names' form" || fail "--only none: $(cat o2.err)"
sac_mtime=$(stat -c %.9Y o/Pendulum/sac-c-s1/progress.csv)
"$SWEEP" --out o "${Gs[@]}" >o3.out 2>o3.err || fail "rest of --only grid: $(cat o3.err)"
n_done=$(for d in o/Pendulum/*; do csv_cols "$d/progress.csv" env_steps | tail -1; done | grep -cx 400)
[ "$n_done" -eq 4 ] && [ "$(stat -c %.9Y o/Pendulum/sac-c-s1/progress.csv)" = "$sac_mtime" ] &&
    ok "--only: the full command then ran the rest, not the finished cells again" ||
    fail "after --only: $n_done cells at 400: $(cat o3.err)"
"$SWEEP" --out x --env Nowhere --steps 100 >b1.out 2>b1.err
[ $? -eq 2 ] && grep -q "Nowhere" b1.err && [ ! -e x ] &&
    ok "unknown environment: exit 2 before DIR is made" || fail "bad env: $(cat b1.err)"
"$SWEEP" --out x --env Pendulum --steps 100 --set nosuch=1 >b2.out 2>b2.err
[ $? -eq 2 ] && grep -q "nosuch" b2.err && ok "unknown --set name: exit 2" ||
    fail "bad --set: $(cat b2.err)"
"$SWEEP" --out x --env Pendulum --steps 100 --set steps=5 >b5.out 2>b5.err
[ $? -eq 2 ] && grep -q "the sweep sets it itself: --steps" b5.err &&
    ok "--set of a setting the sweep owns: exit 2, names its flag" || fail "--set steps: $(cat b5.err)"
"$SWEEP" --out x --env Pendulum --steps 100 --seeds 3-1 >b3.out 2>b3.err
[ $? -eq 2 ] && grep -q "bad range" b3.err && ok "bad --seeds: exit 2" ||
    fail "bad seeds: $(cat b3.err)"
"$SWEEP" --env Pendulum --steps 100 >b4.out 2>b4.err
[ $? -eq 2 ] && grep -q "no output directory" b4.err && ok "no --out: exit 2" ||
    fail "no --out: $(cat b4.err)"

# ---- kill ----
"$SWEEP" --out a "${G[@]}" >a.out 2>a.err || fail "uninterrupted sweep: $(cat a.err)"
"$SWEEP" report a --marks 400,1000,1600 --target Pendulum=-1000 >a.md 2>a.rep.err ||
    fail "report a: $(cat a.rep.err)"

setsid "$SWEEP" --out "$WORK/b" "${G[@]}" >b.out 2>b.err &
pid=$!
PGIDS+=("$pid")
wait_glob 60 'b/Pendulum/*/checkpoint-*.ckpt' ||
    fail "no checkpoint within 60 s: $(cat b.err; ls -R b | head -20)"
kill -9 -- "-$pid"
wait "$pid" 2>/dev/null
sleep 0.2
unfinished=$(for d in b/Pendulum/*; do
    csv_cols "$d/progress.csv" env_steps 2>/dev/null | tail -1 | grep -qx 1600 || echo "$d"; done | wc -l)
[ "$unfinished" -gt 0 ] && ok "killed mid-sweep ($unfinished runs unfinished)" ||
    fail "the sweep finished before it was killed: the test proves nothing"
pgrep -f "hpo-train.*$WORK/b" >/dev/null && fail "runs outlived kill -9 of their group"

# rerun; kill one of its runs alone on the way: the sweep resumes it
setsid "$SWEEP" --out "$WORK/b" "${G[@]}" >b2.out 2>b2.err &
pid=$!
PGIDS+=("$pid")
killed=
for _ in $(seq 1200); do
    # an hpo run (the longer ones), alive: a zombie that already ended
    # would take the kill and prove nothing
    victim=$(pgrep -f "hpo-train (--resume|--out) $WORK/b/Pendulum/hpo" | head -1)
    if [ -n "$victim" ] && ! grep -q '^State:.*Z' "/proc/$victim/status" 2>/dev/null; then
        kill -9 "$victim" 2>/dev/null && killed=1
        break
    fi
    sleep 0.05
done
for _ in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "rerun still going after 120 s"
wait "$pid"
rc=$?
[ $rc -eq 0 ] && ok "rerun after kill -9 finished" || fail "rerun: exit $rc: $(cat b2.err)"
if [ -n "$killed" ]; then
    grep -q "ended with exit -9; resuming it" b2.err && ok "a run killed alone is resumed" ||
        fail "killed run not resumed: $(cat b2.err)"
else
    fail "no hpo run to kill alone within 60 s"
fi
"$SWEEP" report "$WORK/b" --marks 400,1000,1600 --target Pendulum=-1000 >b.md 2>b.rep.err ||
    fail "report b: $(cat b.rep.err)"
if diff <(returns_table a.md) <(returns_table b.md) >diff.txt; then
    ok "interrupted sweep's table equals the uninterrupted one's"
else
    fail "tables differ: $(cat diff.txt)"
fi
for d in b/Pendulum/*; do
    csv_cols "$d/progress.csv" env_steps |
        awk '$1 < prev { bad = 1 } { prev = $1 } END { exit bad }' ||
        fail "$d/progress.csv: env_steps go back"
done

# --jobs 2: two runs overlapped (each log's start stamp before another's end)
overlap=$(/usr/bin/python3 - a/Pendulum/* <<'EOF'
import os, re, sys
spans = []
for d in sys.argv[1:]:
    t0 = float(re.search(r"^# (\d+\.\d+) ", open(d + "/log").read(), re.M).group(1))
    spans.append((t0, os.path.getmtime(d + "/progress.csv")))
print(sum(1 for i, a in enumerate(spans) for b in spans[i + 1:]
          if a[0] < b[1] and b[0] < a[1]))
EOF
)
[ "${overlap:-0}" -gt 0 ] && ok "--jobs 2: runs overlapped ($overlap pairs)" ||
    fail "--jobs 2: no two runs overlapped"

# each run segment's log names the machine it started on, after its command
model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1 | tr -s ' ')
hl=$(grep -A1 '^# [0-9]' a/Pendulum/sac-c-s1/log | sed -n 2p)
case $hl in
"# host $(uname -n): $model, $(nproc --all) cores"*"; OPENBLAS_CORETYPE "*) ok "the log names the run's machine: $hl" ;;
*) fail "no host line after the start line in a/Pendulum/sac-c-s1/log: $(head -3 a/Pendulum/sac-c-s1/log)" ;;
esac
# the sweep samples each run's CPU time against its env steps (cpu.csv), which
# report --clock cpu reads
cpuf=a/Pendulum/sac-c-s1/cpu.csv
[ -f a/report.md ] && cp a/report.md a.report.keep  # the DIR/report.md check below reads it
if grep -q '^# segment [0-9.]* pid [0-9]*$' "$cpuf" && grep -qE '^[0-9]+,[0-9]+\.[0-9]{2}$' "$cpuf" &&
    "$SWEEP" report a --no-png --seconds 1,1000 --clock cpu >cpu.md 2>cpu.err &&
    grep -q '^Return against CPU time' cpu.md && grep -q '| at 1000 s CPU |' cpu.md; then
    ok "cpu.csv: CPU seconds at env steps, read by report --clock cpu"
else
    fail "cpu.csv or --clock cpu: $(cat "$cpuf" cpu.err 2>&1 | head -5)"
fi
[ -f a.report.keep ] && mv a.report.keep a/report.md
# and the OpenBLAS kernel it gets
bl=$(grep -A2 '^# [0-9]' a/Pendulum/sac-c-s1/log | sed -n 3p)
case $bl in
"# blas OpenBLAS kernel "?*" (OpenBLAS "*) ok "the log names the OpenBLAS kernel: $bl" ;;
*) fail "no blas line after the host line in a/Pendulum/sac-c-s1/log: $(head -4 a/Pendulum/sac-c-s1/log)" ;;
esac
grep -q "another kind of machine" b2.err &&
    fail "a resume on the same machine said it moved: $(cat b2.err)"

# a run resumed on another kind of machine (its log says it ran on a CPU this
# one is not): said when it resumes, marked in the report with both machines
cp -r a mv
fake="Test CPU 9000, 64 cores, avx2 fma; OPENBLAS_CORETYPE Haswell"
sed -i "s/^# host [^:]*: .*/# host elsewhere: $fake/" mv/Pendulum/sac-c-s1/log
Gm=("${G[@]}")
Gm[7]=2000  # --steps grows: the finished runs are extended
"$SWEEP" --out mv "${Gm[@]}" --only 'Pendulum/sac-c-s1' >mv.out 2>mv.err ||
    fail "extended sweep: $(cat mv.err)"
grep -qF "Pendulum/sac-c-s1 resumes on another kind of machine (it ran on $fake; now $model" mv.err &&
    ok "a resume on another kind of machine is said, with both machines" ||
    fail "no note of the move: $(cat mv.err)"
"$SWEEP" report mv --no-png >mv.md 2>mv.rep.err || fail "report mv: $(cat mv.rep.err)"
then=$(sed -n "s/^- M\([0-9]\): $fake\$/\1/p" mv.md)
now=$(grep "^- M[0-9]: $model, " mv.md | cut -c4)
if [ -n "$then" ] && [ -n "$now" ] &&
    grep -q "^| Pendulum/sac-c-s1 | 2000 | .* | M$then, then M$now ‡ |$" mv.md &&
    [ "$(grep -c "^| Pendulum/.* | M$now |$" mv.md)" -eq 3 ] &&
    grep -q '^‡ resumed on another kind of machine' mv.md; then
    ok "report: each run's machines, the moved run marked ‡"
else
    fail "report machines (then '$then', now '$now'): $(grep -e '^| Pendulum/' -e '^- M' mv.md)"
fi

# ---- from ----
# --from: a longer sweep in another directory continues the same cells' runs
# (a's, at 1600 steps) instead of running them again. The continued run is
# bit for bit what a fresh 2000-step sweep makes, a is left as it was, a run
# of a that is going (its lock held) is waited for, and a report of both
# directories counts each seed once.
Gf=("${G[@]}")
Gf[5]=1     # --seeds 1
Gf[7]=2000  # --steps 2000
sums() { (cd "$1" && find . -type f ! -name report.md ! -path './report/*' \
    -exec md5sum {} + | sort -k2); }
sums a >a.before
held=$(date +%s.%N)
flock a/Pendulum/hpo-c-s1/.lock sleep 3 &
holder=$!
sleep 0.3
"$SWEEP" --out f "${Gf[@]}" --from a >f.out 2>f.err || fail "--from sweep: $(cat f.err)"
wait "$holder"
took=$(sed -n 's/^# continued from .*(hpo-sweep --from, \([0-9.]*\), .*/\1/p' f/Pendulum/hpo-c-s1/log)
awk -v a="$held" -v b="${took:-0}" 'BEGIN { exit !(b - a >= 2.9) }' &&
    ok "--from: a run of a that is going (lock held 3 s) is waited for" ||
    fail "--from: a/Pendulum/hpo-c-s1 copied while its lock was held ($held, $took)"
grep -q "2 runs in f, 2 at once; 2 of them continue the same cell's run in a" f.err &&
    grep -q "^# continued from a/Pendulum/sac-c-s1 at env step 1600 (hpo-sweep --from, " \
        f/Pendulum/sac-c-s1/log &&
    grep -q "continued from a/Pendulum/hpo-c-s1 at env step 1600" f/Pendulum/hpo-c-s1/log &&
    ok "--from: both cells continued a's runs at 1600, each log says so" ||
    fail "--from: $(cat f.err; tail -3 f/Pendulum/*/log)"
"$SWEEP" --out fr "${Gf[@]}" >fr.out 2>fr.err || fail "fresh 2000-step sweep: $(cat fr.err)"
if cmp -s f/Pendulum/sac-c-s1/weights.bin fr/Pendulum/sac-c-s1/weights.bin &&
    cmp -s f/Pendulum/hpo-c-s1/weights.bin fr/Pendulum/hpo-c-s1/weights.bin &&
    cols="env_steps updates episode_return eval_return q_loss pi_loss alpha logp hd_dist gate" &&
    diff <(csv_cols f/Pendulum/hpo-c-s1/progress.csv $cols) \
        <(csv_cols fr/Pendulum/hpo-c-s1/progress.csv $cols) >/dev/null; then
    ok "--from: the continued runs are the fresh 2000-step runs bit for bit (weights, progress rows)"
else
    fail "--from: continued and fresh runs differ"
fi
sums a | diff a.before - >/dev/null && ok "--from: the source sweep's files are as they were" ||
    fail "--from changed a: $(sums a | diff a.before -)"
"$SWEEP" report f a --no-png --marks 1600 >af.md 2>af.err || fail "report f a: $(cat af.err)"
[ "$(grep -c "^a/Pendulum/[a-z]*-c-s1 is f/Pendulum/[a-z]*-c-s1's cell and seed .*counted once" af.md)" -eq 2 ] &&
    [ "$(returns_table af.md | grep -c '^| \(sac\|hpo\) (c) | 2 |')" -eq 2 ] &&
    ok "report f a: seed 1 counted once per row (2 seeds, not 3)" ||
    fail "report f a: $(grep counted af.md; returns_table af.md)"
# refused before anything is written: a cell there with other settings, a
# source past the budget, a directory that is no sweep, another implementation
Gx=("${Gf[@]}" --set tau=0.01)
Gs=("${Gf[@]}")
Gs[7]=1000
for c in "x|${Gx[*]} --from a|there is another cell than here (.*tau: 0.00499999989 there, 0.00999999978 here)" \
    "s|${Gs[*]} --from a|Pendulum/sac-c-s1 there is at env step 1600, past this sweep's --steps 1000" \
    "n|${Gf[*]} --from $WORK|--from $WORK: no grid.json (not a sweep directory)" \
    "t|${Gf[*]} --from a --impl c,torch|--from: only for cells of impl c, not c,torch"; do
    IFS='|' read -r name args want <<<"$c"
    # shellcheck disable=SC2086  # the arguments are words
    "$SWEEP" --out "from-$name" $args >/dev/null 2>from.err
    rc=$?
    [ $rc -eq 2 ] && grep -q -- "$want" from.err && [ ! -e "from-$name" ] &&
        ok "--from refused ($name): exit 2, the reason, nothing written" ||
        fail "--from ($name): exit $rc: $(cat from.err; ls -d "from-$name" 2>&1)"
done

# ---- slots ----
# --slots DIR:N: sweeps of different directories that share DIR run at most N
# runs at once between them (each with --jobs 2), and all finish: with N = 1
# no two runs' spans (log start stamp to the last progress.csv write) overlap;
# with N = 2 the same measure finds overlaps (so it sees what N = 1 forbids)
# shellcheck disable=SC2054  # commas are hpo-sweep's list separator
Gl=(--env Pendulum --mode sac,hpo --seeds 1-2 --steps 2000 --set learning-starts=200
    --set pi-hidden=32 --set q-hidden=32 --set batch=32 --set eval-every=200
    --set eval-episodes=1 --checkpoint-every 200 --jobs 2 --quiet)
for n in 1 2; do
    "$SWEEP" --out "l$n-a" "${Gl[@]}" --slots "$WORK/slots$n:$n" >"l$n-a.out" 2>"l$n-a.err" &
    pa=$!
    "$SWEEP" --out "l$n-b" "${Gl[@]}" --slots "$WORK/slots$n:$n" >"l$n-b.out" 2>"l$n-b.err" &
    pb=$!
    wait "$pa"
    ra=$?
    wait "$pb"
    rb=$?
    fin=$(for d in "l$n"-[ab]/Pendulum/*; do
        csv_cols "$d/progress.csv" env_steps | tail -1; done | grep -cx 2000)
    pairs=$(/usr/bin/python3 - "l$n"-[ab]/Pendulum/* <<'EOF'
import os, re, sys
spans = []
for d in sys.argv[1:]:
    t0 = float(re.search(r"^# (\d+\.\d+) ", open(d + "/log").read(), re.M).group(1))
    spans.append((t0, os.path.getmtime(d + "/progress.csv")))
print(sum(1 for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1]))
EOF
)
    if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ "$fin" -eq 8 ] &&
        { { [ "$n" -eq 1 ] && [ "${pairs:-x}" = 0 ]; } || { [ "$n" -eq 2 ] && [ "${pairs:-0}" -gt 0 ]; }; }; then
        ok "--slots DIR:$n: two sweeps, all 8 runs done, $pairs overlapping pairs of runs"
    else
        fail "--slots $n: exits $ra $rb, $fin of 8 done, $pairs overlapping pairs: $(cat "l$n"-[ab].err)"
    fi
done
# --slot-rank: with one slot, a sweep of rank 1 started a second after one of
# rank 9 (inside the 3 s a want waits) gets the slot first and keeps it while
# it has runs to start: both of its runs start before any of the
# other's. Without the ranks the earlier sweep would take the slot at once.
Gr=(--env Pendulum --mode sac --seeds 1-2 --steps 600 --set learning-starts=200
    --set pi-hidden=16 --set q-hidden=16 --set batch=16 --set eval-every=300
    --set eval-episodes=1 --checkpoint-every 300 --jobs 1 --quiet)
"$SWEEP" --out r-late "${Gr[@]}" --slots "$WORK/slotsr:1" --slot-rank 9 >/dev/null 2>r-late.err &
pl=$!
sleep 1
"$SWEEP" --out r-first "${Gr[@]}" --slots "$WORK/slotsr:1" --slot-rank 1 >/dev/null 2>r-first.err
rf=$?
wait "$pl"
rl=$?
order=$(/usr/bin/python3 - r-first/Pendulum/* r-late/Pendulum/* <<'EOF2'
import re, sys
t = {d: float(re.search(r"^# (\d+\.\d+) ", open(d + "/log").read(), re.M).group(1)) for d in sys.argv[1:]}
first = [v for d, v in t.items() if d.startswith("r-first")]
late = [v for d, v in t.items() if d.startswith("r-late")]
print("ranked" if len(first) == 2 and len(late) == 2 and max(first) < min(late) else
      "first " + " ".join(f"{v:.1f}" for v in sorted(first)) + " late " + " ".join(f"{v:.1f}" for v in sorted(late)))
EOF2
)
wants=$(find "$WORK/slotsr" -name 'want-*' | wc -l)
[ $rf -eq 0 ] && [ $rl -eq 0 ] && [ "$order" = ranked ] && [ "$wants" -eq 0 ] &&
    ok "--slot-rank: the rank-1 sweep's 2 runs both start before the rank-9 sweep's, no want file left" ||
    fail "--slot-rank: exits $rf $rl, start order: $order, $wants want files left: $(cat r-first.err r-late.err)"
# the live line counts the cells finished before the sweep began: r-late's
# seed 1 gone, the sweep (--jobs 1) starts it first and says "1/2 done"
# (counted as it came to each cell, the first line said "0/2 done")
rm -rf r-late/Pendulum/sac-c-s1
Gq=("${Gr[@]}")
unset 'Gq[${#Gq[@]}-1]' # without --quiet
"$SWEEP" --out r-late "${Gq[@]}" >/dev/null 2>r-count.err
rc=$?
first=$(grep -m1 ' done · ' r-count.err)
[ $rc -eq 0 ] && [[ $first == "1/2 done · Pendulum/sac-c-s1 "* ]] &&
    ok "the live line counts cells finished before: '$first'" ||
    fail "live line's count: exit $rc, first line '$first': $(tail -3 r-count.err)"
"$SWEEP" --out r-x "${Gr[@]}" --slot-rank 1 >/dev/null 2>r-x.err
[ $? -eq 2 ] && grep -q "only with --slots" r-x.err && ok "--slot-rank without --slots refused" ||
    fail "--slot-rank without --slots: $(cat r-x.err)"
"$SWEEP" --out l3 "${Gl[@]}" --slots 2 >/dev/null 2>l3.err
[ $? -eq 2 ] && grep -q "is not DIR:N" l3.err && ok "--slots without DIR:N refused" ||
    fail "--slots 2: $(cat l3.err)"

# ---- deadline ----
# --deadline WHEN: y's finished hpo run (default-sized networks, 1000 steps:
# seconds) says that dl's hpo cell would take longer than the 2 s left, so it
# is held; dl's sac cell has nothing to go by and runs. The sweep ends with
# exit 3 naming the held cell and leaves no DIR/.held-<pid>; with a later
# deadline the same command runs it.
"$SWEEP" --out y --env Pendulum --mode hpo --seeds 1 --steps 1000 --set learning-starts=200 \
    --set eval-every=500 --set eval-episodes=1 --checkpoint-every 500 --quiet >y.out 2>y.err ||
    fail "deadline's slow source sweep: $(cat y.err)"
Gd=("${G[@]}")
Gd[5]=1     # --seeds 1
Gd[7]=1000  # --steps 1000
"$SWEEP" --out dl "${Gd[@]}" --deadline +2s --costs-from y >dl.out 2>dl.err
rc=$?
if [ $rc -eq 3 ] && grep -q "held Pendulum/hpo-c-s1: about [0-9]* \(s\|min\) to run, past the deadline" dl.err &&
    grep -q "1/2 done; 1 held: none of them would end before the deadline .*(Pendulum/hpo-c-s1 about" dl.err &&
    csv_cols dl/Pendulum/sac-c-s1/progress.csv env_steps | tail -1 | grep -qx 1000 &&
    [ ! -e dl/Pendulum/hpo-c-s1/progress.csv ] && ! compgen -G 'dl/.held-*' >/dev/null; then
    ok "--deadline: the cell that would end past it held (exit 3, named), the other ran, no .held left"
else
    fail "--deadline: exit $rc: $(cat dl.err; ls -a dl dl/Pendulum)"
fi
"$SWEEP" --out dl "${Gd[@]}" --deadline +1h --costs-from y >dl2.out 2>dl2.err &&
    csv_cols dl/Pendulum/hpo-c-s1/progress.csv env_steps | tail -1 | grep -qx 1000 &&
    ok "--deadline: a later deadline runs the held cell" || fail "--deadline +1h: $(cat dl2.err)"
# --overrun: the same held cell (3000 steps: y says about 3.3 times y's
# time, past the 3 s) is said to start at the deadline, starts once it has
# passed, and the sweep ends with both cells done (exit 0), no .held left.
Go=("${Gd[@]}")
Go[7]=3000
"$SWEEP" --out dlo "${Go[@]}" --deadline +3s --costs-from y --overrun >dlo.out 2>dlo.err
rc=$?
if [ $rc -eq 0 ] && grep -q "held Pendulum/hpo-c-s1: .*; it starts then (--overrun)" dlo.err &&
    grep -q "has passed: the 1 held cell(s) start (--overrun)" dlo.err &&
    csv_cols dlo/Pendulum/hpo-c-s1/progress.csv env_steps | tail -1 | grep -qx 3000 &&
    grep -E "has passed|done Pendulum/hpo-c-s1" dlo.err | head -1 | grep -q "has passed" &&
    ! compgen -G 'dlo/.held-*' >/dev/null; then
    ok "--deadline --overrun: the held cell starts once the deadline has passed; both done"
else
    fail "--overrun: exit $rc: $(cat dlo.err; ls -a dlo dlo/Pendulum)"
fi
for c in "past|--deadline 2020-01-01T00:00Z|is past (now " "word|--deadline soon|'soon' is not a time" \
    "costs|--costs-from y|--costs-from: only with --deadline" \
    "overrun|--overrun|--overrun: only with --deadline" \
    "nosweep|--deadline +1h --costs-from $WORK|$WORK: no grid.json (not a sweep directory)"; do
    IFS='|' read -r name args want <<<"$c"
    # shellcheck disable=SC2086  # the arguments are words
    "$SWEEP" --out "dl-$name" "${Gd[@]}" $args >/dev/null 2>dl.err
    rc=$?
    [ $rc -eq 2 ] && grep -q -- "$want" dl.err && [ ! -e "dl-$name" ] &&
        ok "--deadline refused ($name): exit 2, the reason, nothing written" ||
        fail "--deadline ($name): exit $rc: $(cat dl.err)"
done

# ---- torch ----
if [ -n "$ENV_LIB" ]; then
    # shellcheck disable=SC2054  # commas are hpo-sweep's list separator
    T=(--env Pendulum --mode sac,hpo --impl c,torch --seeds 1 --steps 600
       --set learning-starts=200 --set pi-hidden=32 --set q-hidden=32
       --set batch=32 --set eval-every=200 --set eval-episodes=1
       --checkpoint-every 200 --jobs 2 --quiet)
    LD_PRELOAD=$PRELOAD HPO_ENV_LIB=$ENV_LIB "$SWEEP" --out t "${T[@]}" >t.out 2>t.err ||
        fail "torch sweep: exit $?: $(cat t.err)"
    grep -q "1 torch cells of modes other than sac skipped" t.err &&
        ok "torch: hpo cells skipped with a note" || fail "torch skip note: $(cat t.err)"
    [ "$(ls t/Pendulum | tr '\n' ' ')" = "hpo-c-s1 sac-c-s1 sac-torch-s1 " ] &&
        grep -q '^impl = torch' t/Pendulum/sac-torch-s1/config &&
        csv_cols t/Pendulum/sac-torch-s1/progress.csv env_steps | tail -1 | grep -qx 600 &&
        ok "torch: its cell ran bench/torch_sac.py to the end" ||
        fail "torch cells: $(ls t/Pendulum; tail -3 t/Pendulum/sac-torch-s1/log)"
    "$SWEEP" report t --no-png >t.md 2>t.rep.err || fail "report t: $(cat t.rep.err)"
    returns_table t.md | grep -q '^| sac (torch) | 1 |' &&
        returns_table t.md | grep -q '^| sac (c) | 1 |' &&
        ok "torch: a report row per implementation" || fail "torch rows: $(returns_table t.md)"
fi

# ---- report ----
grep -q '^## Pendulum' a.md && grep -q '| run | n | 400 | 1k | 1600 | AUC to 1600 | steps to -1000' a.md &&
    ok "report: marks, AUC and target columns" || fail "report header: $(head -20 a.md)"
rows=$(returns_table a.md | grep -c '^| \(sac\|hpo\) (c) | 2 | -[0-9]* ± [0-9]* \[')
[ "$rows" -eq 2 ] && ok "report: one row per mode, mean ± std [min, max] over 2 seeds" ||
    fail "report rows: $(returns_table a.md)"
[ "$(grep -c '^| Pendulum/.*-s[12] | 1600 |' a.md)" -eq 4 ] &&
    ok "report: a line per run with steps, wall s, updates/s" || fail "report runs table"
[ -f a/report.md ] && cmp -s a/report.md a.md && ok "report written to DIR/report.md" ||
    fail "DIR/report.md"
# --window: a mark's column is each run's mean over its evaluations in the window
"$SWEEP" report a --no-png --marks 800,1600 --window 800 >w.md 2>w.err || fail "report --window: $(cat w.err)"
want=$(/usr/bin/python3 - a/Pendulum/hpo-c-s1/progress.csv a/Pendulum/hpo-c-s2/progress.csv <<'EOF'
import csv, statistics, sys
xs = []
for p in sys.argv[1:]:
    ev = [float(r["eval_return"]) for r in csv.DictReader(open(p))
          if r["eval_return"] and 800 < int(r["env_steps"]) <= 1600]
    xs.append(sum(ev) / len(ev))
print(f"{statistics.mean(xs):.0f} ± {statistics.pstdev(xs):.0f} [{min(xs):.0f}, {max(xs):.0f}]")
EOF
)
got=$(grep '^| hpo (c) | 2 |' w.md | cut -d'|' -f5 | xargs)
grep -q '^| run | n | 0–800 | 800–1600 | AUC to 1600 |' w.md && [ -n "$want" ] && [ "$got" = "$want" ] &&
    ! grep -q '^| published' w.md &&
    ok "report --window: mean of each run's evaluations in (800, 1600]: $got" ||
    fail "report --window: want '$want', got '$got': $(returns_table w.md)"
if command -v gnuplot >/dev/null; then
    png_size a/report/Pendulum.png >/dev/null &&
        ok "report: PNG per environment" || fail "no PNG"
fi
# --compare: the statistics of two rows, at the mark named, deterministic
"$SWEEP" report a --no-png --marks 400,1600 --compare hpo:sac --compare-at 1600 >cmp1.md 2>cmp.err &&
    "$SWEEP" report a --no-png --marks 400,1600 --compare hpo:sac --compare-at 1600 >cmp2.md 2>>cmp.err ||
    fail "report --compare: $(cat cmp.err)"
if grep -q '^## Comparison: hpo (c) against sac (c)$' cmp1.md &&
    grep -q "^Compared: each run's evaluation return at 1600 .*10000 resamples, PCG64 seed" cmp1.md &&
    grep -q '^| Pendulum | 2, 2 | -[0-9]* | -[0-9]* | -\?[0-9]* \[-\?[0-9]*, -\?[0-9]*\] | [01]\.[0-9][0-9] \[' cmp1.md &&
    cmp -s cmp1.md cmp2.md; then
    ok "report --compare: difference, P(A > B) per environment, the same numbers twice"
else
    fail "report --compare: $(sed -n '/## Comparison/,$p' cmp1.md)"
fi
"$SWEEP" report a --no-png --compare hpo:nosuch >cmp3.md 2>cmp3.err
[ $? -eq 2 ] && grep -q "compare hpo:nosuch: no environment has both rows" cmp3.err &&
    ok "report --compare of a row no environment has: exit 2" || fail "compare nosuch: $(cat cmp3.err)"
grep -q '^Time per run, mean ± population std over seeds, in minutes of one core (every segment of a resumed run): sac (c) [0-9.]* ± [0-9.]* min (n=2, to 1600 steps); hpo (c) ' a.md &&
    ok "report: each row's time per run" || fail "time per run: $(grep -i 'time per run' a.md)"
# rows never mix settings: the tau grid gives four rows, each of 2 seeds
"$SWEEP" report g --no-png --marks 400 >g.md 2>g.rep.err || fail "report g: $(cat g.rep.err)"
n_rows=$(returns_table g.md | grep -c '^| \(sac\|hpo\) (c) tau=0.0\(05\|1\) | 2 |')
[ "$n_rows" -eq 4 ] && ok "report: one row per setting value, labelled" ||
    fail "report rows by setting: $(returns_table g.md)"
# a run resumed by an older build restarted its clock: the report adds it back
cp -r a ck
want=$(/usr/bin/python3 - ck/Pendulum/sac-c-s1/progress.csv <<'EOF'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
head = lines[0].split(",")
w, u = head.index("wall_s"), head.index("env_steps")
for i, l in enumerate(lines[1:], 1):
    f = l.split(",")
    if int(f[u]) <= 1000:
        last = float(f[w])
        continue
    # as if restarted after the 1000-step row: a clock from zero, slower
    f[w] = f"{(float(f[w]) - last) / 100:.6f}"
    lines[i] = ",".join(f)
open(p, "w").write("\n".join(lines) + "\n")
print(f"{last + float(f[w]):.3f}")
EOF
)
"$SWEEP" report ck --no-png >ck.md 2>ck.err || fail "report ck: $(cat ck.err)"
got=$(grep '^| Pendulum/sac-c-s1 |' ck.md | cut -d'|' -f5 | xargs)
[ "$got" = "$want †" ] && grep -q '^† resumed by a build that restarted the clock' ck.md &&
    ! grep -q '^| Pendulum/sac-c-s2 |.*†' ck.md &&
    grep -q '^Time per run.*: sac (c) [0-9.]* ± [0-9.]* min (n=2, to 1600 steps, †)' ck.md &&
    ok "report: a clock restarted at a resume is added back and marked" ||
    fail "clock repair: want '$want †', got '$got'"
# the target's column looks no further than the table's last mark: a hit
# after it (a run grown past the others) does not count
cp -r a tt
# an evaluation of 0 at 1600 steps, above any Pendulum return: the only hit
awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "env_steps") u = i
                                                       if ($i == "eval_return") e = i } }
                  NR > 1 && $e != "" && $u == 1600 { $e = 0 } { print }' \
    a/Pendulum/sac-c-s1/progress.csv >tt/Pendulum/sac-c-s1/progress.csv
"$SWEEP" report tt --no-png --marks 400,800 --target Pendulum=-1 >tt1.md 2>tt.err &&
    "$SWEEP" report tt --no-png --marks 400,1600 --target Pendulum=-1 >tt2.md 2>>tt.err ||
    fail "report tt: $(cat tt.err)"
grep -q '| AUC to 800 | steps to -1 by 800 (reached) |' tt1.md &&
    returns_table tt1.md | grep -q '^| sac (c) | 2 |.*| – (0/2) |$' &&
    returns_table tt2.md | grep -q '^| sac (c) | 2 |.*| 2k steps, [0-9.]* s (1/2) |$' &&
    ok "report: steps to a target only up to the last mark" ||
    fail "target horizon: $(returns_table tt1.md; returns_table tt2.md)"
# row labels: plain SAC never reads the HD settings, so its row does not name
# them, unless two sac rows differ only in them; baseline3 explores without HD,
# so its row does not name std-exp
L=(--env Pendulum --seeds 1 --steps 400 --set learning-starts=200 --set pi-hidden=32
   --set q-hidden=32 --set batch=32 --set eval-every=400 --set eval-episodes=1 --jobs 2 --quiet)
"$SWEEP" --out l1 "${L[@]}" --mode hpo --set std-tr=0.1,1 >l.out 2>l.err &&
    "$SWEEP" --out l2 "${L[@]}" --mode sac >>l.out 2>>l.err &&
    "$SWEEP" --out l3 "${L[@]}" --mode sac --set std-tr=0.1,1 >>l.out 2>>l.err &&
    "$SWEEP" --out l4 "${L[@]}" --mode baseline3 --set std-exp=1.5 >>l.out 2>>l.err ||
    fail "label sweeps: $(cat l.err)"
"$SWEEP" report l1 l2 --no-png >l12.md 2>>l.err; "$SWEEP" report l3 --no-png >l3.md 2>>l.err
"$SWEEP" report l1 l4 --no-png >l14.md 2>>l.err
labels() { returns_table "$1" | grep '^| \(sac\|hpo\|baseline3\)' | cut -d'|' -f2 | sed 's/^ *//; s/ *$//' | sort | tr '\n' ';'; }
[ "$(labels l12.md)" = "hpo (c) std-tr=0.1;hpo (c) std-tr=1;sac (c);" ] &&
    [ "$(labels l3.md)" = "sac (c) std-tr=0.1;sac (c) std-tr=1;" ] &&
    [ "$(labels l14.md)" = "baseline3 (c) std-tr=1;hpo (c) std-exp=0.5 std-tr=0.1;hpo (c) std-exp=0.5 std-tr=1;" ] &&
    ok "report labels: a row names no HD setting its mode never reads unless that alone tells two apart" ||
    fail "labels: $(labels l12.md) / $(labels l3.md) / $(labels l14.md)"
# status: where each cell stands, without starting anything
cp -r a st
for c in sac-c-s2 hpo-c-s1; do
    head -4 "st/Pendulum/$c/progress.csv" >st.csv && mv st.csv "st/Pendulum/$c/progress.csv"
done
rm -f st/Pendulum/hpo-c-s2/*
touch st/Pendulum/hpo-c-s1/.lock
setsid flock st/Pendulum/hpo-c-s1/.lock sleep 60 &
lockpid=$!
PGIDS+=("$lockpid")
for _ in $(seq 50); do
    flock -n st/Pendulum/hpo-c-s1/.lock true 2>/dev/null || break
    sleep 0.1
done
"$SWEEP" status st >st.out 2>st.err || fail "status: $(cat st.err)"
# --done: the finished cell's directory alone (not the running, stopped or
# not started ones), what `git add $(...)` takes
"$SWEEP" status st --done >std.out 2>std.err
rcd=$?
kill -9 -- "-$lockpid" 2>/dev/null
[ $rcd -eq 0 ] && [ "$(cat std.out)" = "st/Pendulum/sac-c-s1" ] && [ ! -s std.err ] &&
    ok "status --done: the finished cell's directory only" ||
    fail "status --done: exit $rcd: $(cat std.out std.err)"
# (the estimate: the stopped sac cell from the finished one's sampled CPU
# time; no hpo cell has finished, so the two hpo cells are counted apart)
if grep -q "^st: 4 cells, budget 1600 steps: 1 done, 1 running, 1 stopped, 1 not started; about [0-9.]* core-hours left (CPU time of the finished cells; 2 cells with no finished cell to go by)$" st.out &&
    grep -q '^| Pendulum/sac-c-s1 | done | 1600 | ' st.out &&
    grep -q '^| Pendulum/hpo-c-s1 | running | [0-9]* | ' st.out &&
    grep -q '^| Pendulum/sac-c-s2 | stopped | [0-9]* | ' st.out &&
    grep -q '^| Pendulum/hpo-c-s2 | not started | 0 |  |$' st.out; then
    ok "status: done, running (lock held), stopped, not started"
else
    fail "status: $(cat st.out st.err)"
fi
"$SWEEP" status nowhere >/dev/null 2>st2.err
[ $? -eq 2 ] && grep -q "nowhere: no grid.json" st2.err && ok "status of a non-sweep: exit 2" ||
    fail "status nowhere: $(cat st2.err)"
# a reader that has gone (| head -1; here | true, gone before the first
# write) is no failure: exit 0 under pipefail, nothing on stderr
"$SWEEP" status st 2>bp.err | true
rc=$?
[ $rc -eq 0 ] && [ ! -s bp.err ] && ok "status | true: exit 0, no broken-pipe message" ||
    fail "status into a closed pipe: exit $rc: $(cat bp.err)"
# refresh: a document's report blocks are rebuilt from their own commands
cat >doc.md <<EOF
# Results
<!-- report:a -->
(\`hpo-sweep report $WORK/a --no-png --marks 400,1000,1600 --target Pendulum=-1000\`, 2000-01-01 00:00 UTC)

stale
<!-- /report:a -->
prose stays
EOF
# the sweep's own report.md (here a/report.md of the full report above) is
# not refresh's to write: a block's --marks would overwrite it with its view
cp a/report.md a-report.keep
"$SWEEP" refresh doc.md >ref.out 2>ref.err || fail "refresh: exit $?: $(cat ref.err)"
if cmp -s a/report.md a-report.keep; then
    ok "refresh: the sweep's report.md is left as it was"
else
    fail "refresh wrote the sweep's report.md: $(diff a-report.keep a/report.md | head -5)"
fi
if grep -q "block 'a' refreshed (1 environments)" ref.err && ! grep -q stale doc.md &&
    ! grep -q 2000-01-01 doc.md && grep -q '^prose stays$' doc.md &&
    diff <(returns_table a.md | grep '^|') <(grep '^|' doc.md) >/dev/null; then
    ok "refresh: the block holds the report's table, the prose around it stays"
else
    fail "refresh: $(cat ref.err; cat doc.md)"
fi
# a --compare label with spaces, quoted as the shell would: kept whole, and
# the command written back as it was given
cmd="$WORK/a --no-png --compare 'hpo (c):sac (c)' --compare-at 1600"
printf '<!-- report:q -->\n(`hpo-sweep report %s`, d)\n<!-- /report:q -->\n' "$cmd" >q.md
"$SWEEP" refresh q.md >/dev/null 2>q.err
if [ $? -eq 0 ] && grep -qF "(\`hpo-sweep report $cmd\`, " q.md &&
    grep -q '^\*\*Comparison: hpo (c) against sac (c)\*\*$' q.md &&
    grep -q '^| Pendulum | 2, 2 | ' q.md; then
    ok "refresh: a quoted --compare label with spaces is one word, the command kept"
else
    fail "refresh with a quoted label: $(cat q.err q.md)"
fi
# --block: only the named block is rebuilt; an unknown name is refused, file untouched
printf '<!-- report:one -->\n(`hpo-sweep report %s --no-png`, d1)\nold1\n<!-- /report:one -->\n<!-- report:two -->\n(`hpo-sweep report %s --no-png`, d2)\nold2\n<!-- /report:two -->\n' \
    "$WORK/a" "$WORK/a" >blk.md
"$SWEEP" refresh blk.md --block two >/dev/null 2>blk.err; rcb=$?
cp blk.md blk.keep
"$SWEEP" refresh blk.md --block three >/dev/null 2>blk2.err; rcb2=$?
if [ $rcb -eq 0 ] && grep -q '^old1$' blk.md && grep -q ', d1)$' blk.md && ! grep -q '^old2$' blk.md &&
    ! grep -q ', d2)$' blk.md && grep -q '^\*\*Pendulum\*\*$' blk.md && ! grep -q "block 'one'" blk.err &&
    [ $rcb2 -eq 2 ] && grep -q "no block named 'three' (its blocks: one, two)" blk2.err &&
    cmp -s blk.md blk.keep; then
    ok "refresh --block: only the named block is rebuilt; an unknown name: exit 2, file untouched"
else
    fail "refresh --block: $rcb $rcb2 $(cat blk.err blk2.err blk.md)"
fi
printf '<!-- report:x -->\n(`hpo-sweep report %s --compare %s`, d)\n<!-- /report:x -->\n' \
    "$WORK/a" "'hpo (c):sac (c)" >bad3.md
cp bad3.md bad3.keep
"$SWEEP" refresh bad3.md >/dev/null 2>b3.err
if [ $? -eq 2 ] && grep -q "bad3.md:1: block 'x': its command does not split into words" b3.err &&
    cmp -s bad3.md bad3.keep; then
    ok "refresh: an unclosed quote in a block's command: exit 2, file untouched"
else
    fail "refresh with an unclosed quote: $(cat b3.err)"
fi
printf '<!-- report:x -->\n(`hpo-sweep report %s --no-png`, d)\n' "$WORK/a" >bad1.md
printf '<!-- report:x -->\nno command here\n<!-- /report:x -->\n' >bad2.md
cp bad1.md bad1.keep; cp bad2.md bad2.keep
"$SWEEP" refresh bad1.md >/dev/null 2>b1.err; rc1=$?
"$SWEEP" refresh bad2.md >/dev/null 2>b2.err; rc2=$?
if [ $rc1 -eq 2 ] && grep -q "bad1.md:1: block 'x' is never closed" b1.err &&
    [ $rc2 -eq 2 ] && grep -q "bad2.md:1: block 'x' does not start with its command" b2.err &&
    cmp -s bad1.md bad1.keep && cmp -s bad2.md bad2.keep; then
    ok "refresh: an unclosed block or one without its command: exit 2, file untouched"
else
    fail "refresh of bad documents: $rc1 $rc2 $(cat b1.err b2.err)"
fi
"$SWEEP" report g --no-png --env Pendulum >ge.md 2>ge.err && grep -q '^## Pendulum' ge.md &&
    "$SWEEP" report g --no-png --env Hopper >ge2.md 2>ge2.err; rc=$?
[ $rc -eq 2 ] && grep -q "report --env: Hopper not in the grids of g (they hold Pendulum)" ge2.err &&
    ok "report --env: keeps the named environments, refuses one the grids lack" ||
    fail "report --env: $rc $(cat ge.err ge2.err)"
"$SWEEP" report nowhere >r.out 2>r.err
[ $? -eq 2 ] && grep -q "no grid.json" r.err && ok "report of a non-sweep: exit 2" ||
    fail "report nowhere: $(cat r.err)"
# ---- search ----
# shellcheck disable=SC2054  # commas are hpo-sweep's list separator
S=(--env Pendulum --seeds 1,2 --rungs 600,1200 --trials 3 --window 600 --jobs 1
   --space std-exp=0.1:1:log --space K=1,2 --set learning-starts=200
   --set pi-hidden=32 --set q-hidden=32 --set batch=32 --set eval-every=200
   --set eval-episodes=2)
"$SWEEP" search --out s1 "${S[@]}" >s1.out 2>s1.err || fail "search: $(cat s1.err)"
done_rows=$(grep -c '^| [0-9]* | done |' s1/search.md)
reached=$(for d in s1/Pendulum/t-*-s[12]; do csv_cols "$d/progress.csv" env_steps | tail -1; done | grep -cx 1200)
cpu_rows=$(grep -cE '^\| [0-9]+ \| done \|.* \| [0-9]+ \| [0-9]+ \|$' s1/search.md)
if [ "$done_rows" = 3 ] && [ "$reached" = 6 ] && cmp -s s1.out s1/search.md && [ "$cpu_rows" = 3 ] &&
    grep -q '^hpo-sweep --out s1-confirm --env Pendulum --mode hpo,sac --seeds 101-105 --steps 1200 .*--set K=' s1.out; then
    ok "search: 3 trials of 2 seeds to both rungs, ranked with wall and CPU seconds, with the command that confirms the best on fresh seeds"
else
    fail "search: $done_rows done ($cpu_rows with CPU s), $reached runs at 1200: $(cat s1.out s1.err)"
fi
# confirm: the best trial on fresh seeds beside SAC; refused on the search's
# own seeds, on an unfinished search, on a directory that is no search
row=$(grep -m1 '^| [0-9]* | done |' s1/search.md)
best=$(echo "$row" | awk -F'|' '{print $2}' | tr -d ' ')
kbest=$(echo "$row" | awk -F'|' '{print $5}' | tr -d ' ')
"$SWEEP" confirm s1 --seeds 2 >c1.out 2>c1.err; rc1=$?
"$SWEEP" confirm s1 --trials 4 >c2.out 2>c2.err; rc2=$?
"$SWEEP" confirm nowhere >c3.out 2>c3.err; rc3=$?
[ -e s1-confirm ] && refused_wrote=1 || refused_wrote=0
"$SWEEP" confirm s1 --seeds 101 --jobs 2 >c4.out 2>c4.err; rc4=$?
ck=$(for d in s1-confirm/Pendulum/*-s101; do csv_cols "$d/progress.csv" env_steps | tail -1; done | grep -cx 1200)
hcfg=$(ls -d s1-confirm/Pendulum/hpo-*-s101 2>/dev/null | head -1)/config
if [ $rc1 -eq 2 ] && grep -q "seed(s) 2 are the search's own" c1.err &&
    [ $rc2 -eq 2 ] && grep -q "has 3 ended trials, fewer than --trials 4" c2.err &&
    [ $rc3 -eq 2 ] && grep -q "nowhere is not a search (no search.json)" c3.err &&
    [ $refused_wrote = 0 ] && [ $rc4 -eq 0 ] && [ "$ck" = 2 ] &&
    grep -q "confirm: trial $best of s1 " c4.err && grep -qx "K = $kbest" "$hcfg" &&
    ls -d s1-confirm/Pendulum/sac-*-s101 >/dev/null; then
    ok "confirm: the best trial ($best, K $kbest) on fresh seed 101, SAC beside it; own seeds, an unfinished search and a non-search refused"
else
    fail "confirm: $rc1 $rc2 $rc3 $rc4 wrote=$refused_wrote ck=$ck best=$best K=$kbest $(cat c1.err c2.err c3.err c4.err)"
fi
# --deadline: y's hpo run says a whole trial (2 seeds to 1200 steps, one at a
# time) would end past the second left: no trial starts, exit 3 with the
# estimate; the same command with time enough runs it
"$SWEEP" search --out s3 "${S[@]}" --trials 1 --deadline +1s --costs-from y >s3.out 2>s3.err
rc=$?
n3=$(compgen -G 's3/Pendulum/t-*' | wc -l)
"$SWEEP" search --out s3 "${S[@]}" --trials 1 --deadline +1h --costs-from y >s3b.out 2>s3b.err
rc2=$?
if [ $rc -eq 3 ] && grep -q "1 trials left: the next (about [0-9]* s) would end past the deadline" s3.err &&
    [ "$n3" = 0 ] && [ $rc2 -eq 0 ] && [ "$(grep -c '^| [0-9]* | done |' s3/search.md)" = 1 ]; then
    ok "search --deadline: a trial that would end past it is not started (exit 3); a later deadline runs it"
else
    fail "search --deadline: exits $rc $rc2, $n3 run dirs: $(cat s3.err s3b.err)"
fi
"$SWEEP" search --out s4 "${S[@]}" --costs-from y >/dev/null 2>s4.err
[ $? -eq 2 ] && grep -q -- "--costs-from: only with --deadline" s4.err && [ ! -e s4 ] &&
    ok "search --costs-from without --deadline: refused, nothing written" || fail "search --costs-from: $(cat s4.err)"
setsid "$SWEEP" search --out "$WORK/s2" "${S[@]}" >s2.out 2>s2.err &
pid=$!
PGIDS+=("$pid")
wait_glob 30 's2/Pendulum/*/checkpoint-*.ckpt' || fail "search: no checkpoint within 30 s: $(cat s2.err)"
kill -9 -- "-$pid"
wait "$pid" 2>/dev/null
# status of a search: its trials' states, the one killed mid-run cut off
"$SWEEP" status s2 >st2.out 2>st2.err; rcs=$?
"$SWEEP" status s1 >st1.out 2>st1.err; rcs1=$?
if [ $rcs -eq 0 ] && grep -q '^s2: search of Pendulum, [0-9]* trials: .*1 cut off.* (no search is running on it)$' st2.out &&
    [ $rcs1 -eq 0 ] && grep -q '^s1: search of Pendulum, 3 trials: 3 done (no search is running on it)$' st1.out &&
    [ "$(grep -c '^| [0-9]* | done |' st1.out)" = 3 ]; then
    ok "status of a search: trials done, and the one killed mid-run said to be cut off"
else
    fail "status of a search: $rcs $rcs1 $(cat st2.out st2.err st1.out st1.err)"
fi
"$SWEEP" search --out "$WORK/s2" "${S[@]}" >s2b.out 2>s2b.err || fail "search rerun: $(cat s2b.err)"
resumed=$(grep -l -- '--resume' s2/Pendulum/*/log | wc -l)
if grep -q "was cut off; its settings run again from their checkpoints" s2b.err &&
    [ "$(grep -c '^| [0-9]* | done |' s2/search.md)" = 3 ] && [ "$resumed" -ge 2 ]; then
    ok "search killed with SIGKILL mid-trial: the rerun runs the cut-off settings again from their checkpoints and completes 3 trials"
else
    fail "search after SIGKILL: resumed=$resumed $(cat s2b.err s2/search.md)"
fi
"$SWEEP" search --out s1 "${S[@]/K=1,2/K=1,3}" >s3.out 2>s3.err; rc=$?
[ $rc -eq 2 ] && grep -q "s1 holds another search (differs in: space)" s3.err &&
    ok "search: another space on the same directory is refused (exit 2)" ||
    fail "search with another space: $rc $(cat s3.err)"
"$SWEEP" search --out s4 --env Pendulum --space std-exp=1:0.1 >s4.out 2>s4.err; rc=$?
[ $rc -eq 2 ] && grep -q "needs LO < HI" s4.err && [ ! -e s4/search.json ] &&
    ok "search: a reversed range is refused before anything is written" ||
    fail "search with a bad range: $rc $(cat s4.err)"
"$SWEEP" search --out s5 --env Nope --trials 1 >s5.out 2>s5.err; rc=$?
[ $rc -eq 2 ] && grep -q "unknown environment 'Nope'" s5.err && [ ! -e s5 ] &&
    ok "search: an unknown environment is refused before anything is written" ||
    fail "search with an unknown environment: $rc $(cat s5.err)"

finish
