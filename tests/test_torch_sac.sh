#!/usr/bin/env bash
# test_torch_sac.sh - bench/torch_sac.py against hpo-train: real processes.
#
#   test_torch_sac.sh HPO_TRAIN LIBHPOENV SOURCE_ROOT [learn]
#
# - files: with the same tiny Pendulum flags, torch_sac.py's config is
#   hpo-train's plus `impl = torch`, progress.csv has hpo-train's header and
#   the same rows (env steps, updates, which cells are empty), and the final
#   stdout line has hpo-train's form;
# - refusals: --mode hpo (exit 2, the reason), an unknown environment, a bad
#   option, --out with --resume, a fresh run into a directory holding
#   checkpoints (exit 2); --resume without checkpoints, a missing library
#   (exit 1);
# - exact continuation: 400 steps resumed to 800 give the networks of an
#   uninterrupted 800-step run, tensor for tensor;
# - a planted checkpoint (valid header and sha256 around a pickle that
#   would run a command) is refused naming the file, and a resume skips it;
# - SIGKILL mid-run, the newest checkpoint then truncated: the resume names
#   the skipped file and why, reaches the end, and progress.csv has
#   increasing env steps and no duplicated row; SIGTERM: exit 130 after a
#   checkpoint, no temporary file left;
# - learn: 128-wide networks reach an evaluation return of at least -300 on
#   Pendulum within 6,000 steps (measured: seeds 1 and 2 reach -209 and -148
#   at 6,000 steps; 23 s of CPU, 60-70 s on a loaded 2-core machine).
set -uo pipefail

HPO=$(realpath "${1:?usage: test_torch_sac.sh HPO_TRAIN LIBHPOENV SOURCE_ROOT [learn]}")
LIB=$(realpath "$2")
SCRIPT=$(realpath "$3/bench/torch_sac.py")
PART=${4:-basic}
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_torch_sac.XXXXXX")
bgpid=
trap '[ -n "$bgpid" ] && kill -9 "$bgpid" 2>/dev/null; rm -rf "$WORK"' EXIT

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# trun NAME ARGS...: torch_sac.py quietly, output in $WORK/NAME.{out,err}
trun() {
    local name=$1
    shift
    "$PY" "$SCRIPT" --quiet --hpo-train "$HPO" --lib "$LIB" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
}
must_trun() {
    trun "$@"
    [ "$rc" -eq 0 ] || fail "$1: exit $rc: $(cat "$WORK/$1.err")"
}
# expect NAME CODE TEXT ARGS...: torch_sac.py exits CODE saying TEXT
expect() {
    local name=$1 code=$2 text=$3
    shift 3
    trun "$name" "$@"
    if [ "$rc" -eq "$code" ] && grep -qF -- "$text" "$WORK/$name.err"; then
        ok "$name: exit $code, '$text'"
    else
        fail "$name: exit $rc (want $code), stderr: $(cat "$WORK/$name.err")"
    fi
}
# progress.csv checks (columns by header name): every row as many cells as
# the header, no row twice, env steps never decrease, each row is an episode
# (episode_return) or an evaluation (eval_return)
csv_sane() { # csv_sane WHAT FILE LAST_STEPS
    local n
    n=$(head -1 "$2" | awk -F, '{ print NF }')
    if [ "$(awk -F, -v n="$n" 'NR > 1 && (NF != n || seen[$0]++)' "$2" | wc -l)" -eq 0 ] &&
        csv_cols "$2" env_steps episode_return eval_return | awk -F, -v last="$3" '
        $1 < prev || ($2 == "") == ($3 == "") { bad = 1 }
        { prev = $1 }
        END { exit bad || prev != last || NR < 2 }'; then
        ok "$1: progress.csv monotone, no duplicate, ends at $3"
    else
        fail "$1: progress.csv not sane: $(cat "$2")"
    fi
}
FINAL='^final eval_return=-?[0-9.]+ eval_std=[0-9.]+ env_steps=[0-9]+ updates=[0-9]+ wall_s=[0-9.]+$'

cd "$WORK" || exit 1
F=(--env Pendulum --mode sac --learning-starts 200 --batch 32 --pi-hidden 32
   --q-hidden 32 --eval-every 200 --eval-episodes 2 --seed 5)

if [ "$PART" = learn ]; then
    must_trun learn --env Pendulum --mode sac --seed 1 --steps 6000 \
        --learning-starts 1000 --pi-hidden 128 --q-hidden 128 \
        --eval-every 1000 --eval-episodes 5 --out learn
    best=$(csv_cols learn/progress.csv eval_return | grep . | sort -g | tail -1)
    first=$(csv_cols learn/progress.csv eval_return | grep . | head -1)
    if awk -v b="$best" 'BEGIN { exit !(b >= -300) }'; then
        ok "learn: best evaluation $best >= -300 (first $first)"
    else
        fail "learn: best evaluation $best < -300: $(cat learn/progress.csv)"
    fi
    finish
    exit 0
fi

# ---- the files, beside hpo-train's ----
"$HPO" --quiet "${F[@]}" --steps 600 --out h >h.out 2>h.err ||
    fail "hpo-train: $(cat h.err)"
must_trun t "${F[@]}" --steps 600 --out t
if cmp -s <(cat h/config; echo "impl = torch") t/config; then
    ok "config: hpo-train's, then impl = torch"
else
    fail "config differs: $(diff <(cat h/config) t/config)"
fi
if [ "$(head -1 h/progress.csv)" = "$(head -1 t/progress.csv)" ]; then
    ok "progress.csv header is hpo-train's"
else
    fail "header: $(head -1 t/progress.csv)"
fi
# the same rows: env steps, updates and which cells are filled
shape() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { s = $c["env_steps"] "," $c["updates"]; for (i = 1; i <= NF; i++)
        if (i != c["env_steps"] && i != c["updates"]) s = s "," ($i == "" ? "-" : "x")
      print s }' "$1"; }
if cmp -s <(shape h/progress.csv) <(shape t/progress.csv); then
    ok "progress.csv rows: hpo-train's steps, updates and empty cells"
else
    fail "rows differ: $(diff <(shape h/progress.csv) <(shape t/progress.csv))"
fi
grep -Eq "$FINAL" t.out && grep -q "env_steps=600 updates=400" t.out ||
    fail "final line: $(cat t.out)"
ok "final line: $(cat t.out)"
trun cfg "${F[@]}" --steps 600 --config-only
cmp -s <(cat h/config; echo "impl = torch") cfg.out ||
    fail "--config-only: $(cat cfg.out)"

# ---- refusals ----
expect mode_hpo 2 "mode 'hpo' is not plain SAC" "${F[@]}" --mode hpo --out m
[ ! -e m ] || fail "mode_hpo: created its directory"
expect bad_env 2 "unknown environment 'Pendulm'" --env Pendulm --mode sac
expect bad_flag 2 "unknown flag --nope" "${F[@]}" --nope 1
expect bad_keep 2 "bad value '0' for --keep" "${F[@]}" --keep 0
expect bf16 2 "computes in fp32 only" "${F[@]}" --precision bf16 --out b16
[ ! -e b16 ] || fail "bf16: created its directory"
expect out_resume 2 "--out and --resume both" --out t --resume t
expect fresh_into_run 2 "holds checkpoints of an earlier run" "${F[@]}" --out t
mkdir empty
expect resume_none 1 "no valid checkpoint" --resume empty
expect bad_lib 1 "cannot load /nonexistent/lib.so" "${F[@]}" --out l \
    --lib /nonexistent/lib.so

# ---- exact continuation ----
E=(--env Pendulum --mode sac --learning-starts 200 --batch 32 --pi-hidden 32
   --q-hidden 32 --eval-every 0 --eval-episodes 2 --seed 5)
must_trun a "${E[@]}" --steps 400 --out a
must_trun b "${E[@]}" --steps 800 --out b --checkpoint-every 200
must_trun a_resume --resume a --steps 800
grep -q "resumed from a/checkpoint-200.pt: env steps 400, updates 200" \
    a_resume.err || fail "resume log: $(cat a_resume.err)"
if "$PY" - "$(dirname "$SCRIPT")" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[1])
import torch
import torch_sac
a = torch_sac.ckpt_load("a/checkpoint-600.pt")
b = torch_sac.ckpt_load("b/checkpoint-600.pt")
nets = ("actor", "q1", "q2", "q1_t", "q2_t")
same = all(torch.equal(a[k][n], b[k][n]) for k in nets for n in b[k])
sys.exit(0 if same and torch.equal(a["log_alpha"], b["log_alpha"]) else 1)
PYEOF
then
    ok "resumed 400 -> 800 vs uninterrupted: identical networks and log_alpha"
else
    fail "resumed run's networks differ from the uninterrupted run's"
fi
if cmp -s <(csv_cols a/progress.csv env_steps updates episode_return | awk -F, '$3 != ""') \
    <(csv_cols b/progress.csv env_steps updates episode_return | awk -F, '$3 != ""'); then
    ok "resumed vs uninterrupted: training episode returns"
else
    fail "episode rows differ"
fi

# ---- a planted checkpoint: refused, nothing in it run ----
# A valid header and sha256 around a pickle whose loading would run a
# command (touch pwned): ckpt_load refuses it naming the file, a resume
# skips it with the file named and continues from the previous checkpoint.
cp -r a p
rm -f p/checkpoint-800.pt
if "$PY" - "$(dirname "$SCRIPT")" "$WORK" <<'PYEOF'
import hashlib, io, os, struct, sys
sys.path.insert(0, sys.argv[1])
import torch
import torch_sac
work = sys.argv[2]


class Boom:
    def __reduce__(self):
        return (os.system, (f"touch {work}/pwned",))


for name, state in (("p/checkpoint-99999.pt", {"format": "hpo-torch-sac", "version": 2, "x": Boom()}),
                    ("planted.pt", Boom())):
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    with open(name, "wb") as f:
        f.write(torch_sac.CKPT_MAGIC + struct.pack("<Q", len(payload)) +
                hashlib.sha256(payload).digest() + payload)
try:
    torch_sac.ckpt_load("planted.pt")
    print("planted.pt loaded")
    sys.exit(1)
except ValueError as e:
    print(f"refused: {e}")
    sys.exit(0 if "refused: the payload holds objects" in str(e) else 1)
PYEOF
then
    [ ! -e pwned ] && ok "planted .pt: ckpt_load refuses it, nothing run" ||
        fail "planted .pt: ckpt_load ran its pickled command"
else
    fail "planted .pt: ckpt_load did not refuse it"
fi
trun p_resume --resume p --steps 800
if [ ! -e pwned ] &&
    grep -q "skipping checkpoint p/checkpoint-99999.pt: refused: the payload holds objects" p_resume.err &&
    grep -q "resumed from p/checkpoint-600.pt" p_resume.err; then
    ok "resume past a planted checkpoint: skipped with its name, resumed from checkpoint-600"
else
    fail "resume past a planted checkpoint: exit $rc, pwned $([ -e pwned ] && echo yes || echo no), $(cat p_resume.err)"
fi

# ---- SIGKILL mid-run, then a truncated newest checkpoint ----
K=("${F[@]}" --steps 3000 --eval-every 500 --checkpoint-every 250 --keep 2)
"$PY" "$SCRIPT" --quiet --hpo-train "$HPO" --lib "$LIB" "${K[@]}" --out k \
    >k.out 2>k.err &
bgpid=$!
for _ in $(seq 600); do # wait (60 s at most) for the second checkpoint
    [ "$(ls k/checkpoint-*.pt 2>/dev/null | wc -l)" -ge 2 ] && break
    kill -0 "$bgpid" 2>/dev/null || break
    sleep 0.1
done
sleep 0.3
if kill -9 "$bgpid" 2>/dev/null; then
    wait "$bgpid" 2>/dev/null
    ok "killed with SIGKILL at $(csv_cols k/progress.csv env_steps | tail -1) steps"
else
    fail "the run ended before it could be killed: $(cat k.err)"
fi
bgpid=
newest=$(ls k/checkpoint-*.pt | sort -t- -k2 -n | tail -1)
n=$(stat -c %s "$newest")
truncate -s $((n / 2)) "$newest"
must_trun k_resume --resume k --checkpoint-every 250 --keep 2
grep -q "skipping checkpoint $newest: truncated" k_resume.err ||
    fail "the truncated checkpoint is not named: $(cat k_resume.err)"
grep -Eq "$FINAL" k_resume.out && grep -q "env_steps=3000" k_resume.out ||
    fail "resumed run's final line: $(cat k_resume.out)"
csv_sane "killed and resumed" k/progress.csv 3000
[ "$(ls k/checkpoint-*.pt | wc -l)" -le 2 ] || fail "--keep 2: $(ls k | tr "\n" " ")"

# ---- SIGTERM: a checkpoint, then exit 130 ----
"$PY" "$SCRIPT" --quiet --hpo-train "$HPO" --lib "$LIB" "${F[@]}" \
    --steps 100000 --eval-every 0 --out s >s.out 2>s.err &
bgpid=$!
for _ in $(seq 600); do
    [ "$(wc -l 2>/dev/null <s/progress.csv || echo 0)" -ge 3 ] && break
    sleep 0.1
done
kill -TERM "$bgpid"
rc=0
wait "$bgpid" || rc=$?
bgpid=
if [ "$rc" -eq 130 ] && ls s/checkpoint-*.pt >/dev/null 2>&1 &&
    [ ! -s s.out ] && [ -z "$(find s -maxdepth 1 -name '*tmp*')" ]; then
    ok "SIGTERM: exit 130 with $(cd s && echo checkpoint*), no final line"
else
    fail "SIGTERM: exit $rc, dir: $(ls -A s), err: $(cat s.err)"
fi

finish
