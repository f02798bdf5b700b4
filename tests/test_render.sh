#!/usr/bin/env bash
# test_render.sh - hpo-render on the files of a real hpo-train run.
#
#   test_render.sh HPO_TRAIN HPO_EVAL HPO_RENDER
#
# A small HalfCheetah run (32-wide networks, 300 steps) is drawn: a 2-second
# MP4 (40 steps at 20 fps, 320x240) has, by ffprobe, 40 frames of 320x240
# and 2 s; its frames are not one colour, consecutive ones differ, and the
# scene below the overlay moves; the returns printed for whole episodes of a
# small InvertedPendulum run equal hpo-eval's for the same seed (checkpoint,
# run directory and weights file); the .png strip
# and .gif have the size and frame count asked for; OSMesa and EGL (when
# this machine has EGL) both draw. Refused with the reason, and no output
# file left: a bad --size, an odd .mp4 size, an unknown extension (exit 2),
# a missing file, a corrupt checkpoint, a Pendulum run, no ffmpeg on PATH
# and an output directory that does not exist (exit 1).
set -uo pipefail
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

TRAIN=$(realpath "${1:?usage: test_render.sh HPO_TRAIN HPO_EVAL HPO_RENDER}")
EVAL=$(realpath "${2:?hpo-eval}")
RENDER=$(realpath "${3:?hpo-render}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_render.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
export OPENBLAS_NUM_THREADS=1
for tool in ffmpeg ffprobe /usr/bin/python3; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool missing: run deploy/setup" >&2; exit 1; }
done

small=(--learning-starts 100 --batch 32 --pi-hidden 32 --q-hidden 32
       --eval-every 0 --eval-episodes 2 --steps 300)
"$TRAIN" --quiet --env HalfCheetah "${small[@]}" --seed 2 --out hc \
    >train.out 2>train.err || { echo "FAIL: train: $(cat train.err)" >&2; exit 1; }
ckpt=$(ls hc/checkpoint-*.ckpt | head -1)

# probe FILE: "frames,width,height" of the first video stream
probe() {
    ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=nb_read_frames,width,height -of csv=p=0 "$1" |
        awk -F, '{ print $3 "," $1 "," $2 }'
}

# The 2-second MP4.
"$RENDER" hc -o v.mp4 --max-steps 40 --fps 20 --size 320x240 --gl osmesa \
    >v.out 2>v.err || fail "mp4: $(cat v.err)"
got=$(probe v.mp4)
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 v.mp4)
[ "$got" = "40,320,240" ] && awk -v d="$dur" 'BEGIN { exit !(d > 1.95 && d < 2.05) }' &&
    ok "mp4: frames,width,height $got, $dur s" || fail "mp4: '$got', $dur s"
grep -q "^episode=0 return=[-0-9.]* steps=40, cut at --max-steps$" v.out &&
    ok "mp4: $(head -1 v.out)" || fail "mp4 stdout: $(cat v.out)"
ffmpeg -v error -i v.mp4 -f rawvideo -pix_fmt gray - >v.gray 2>/dev/null
/usr/bin/python3 - v.gray 320 240 <<'PY' >frames.out 2>&1 && ok "mp4 frames: $(cat frames.out)" || fail "mp4 frames: $(cat frames.out)"
import sys
data = open(sys.argv[1], "rb").read()
w, h = int(sys.argv[2]), int(sys.argv[3])
n = len(data) // (w * h)
frames = [data[i * w * h:(i + 1) * w * h] for i in range(n)]
assert n == 40, f"{n} frames decoded"
flat = [i for i, f in enumerate(frames) if max(f) - min(f) < 32]
assert not flat, f"frames of one colour: {flat}"
same = [i for i in range(1, n) if frames[i] == frames[i - 1]]
assert not same, f"frames equal to the one before: {same}"
# the scene below the overlay (bottom half): the cheetah and floor move
low = lambda f: f[w * h // 2:]
diff = sum(abs(a - b) for a, b in zip(low(frames[0]), low(frames[-1]))) / (w * h / 2)
assert diff > 1.0, f"bottom half of frames 0 and 39 differ by {diff:.3f} grey levels"
moved = sum(low(frames[i]) != low(frames[i - 1]) for i in range(1, n))
assert moved >= 35, f"the scene moves in only {moved} of 39 steps"
print(f"{n} frames, none flat, all differ, scene moves in {moved}/39 steps, "
      f"first vs last {diff:.1f} grey levels apart")
PY

# The returns are hpo-eval's: checkpoint, run directory, weights file. An
# InvertedPendulum run, whose untrained episodes fall within tens of steps,
# keeps whole episodes short to draw.
"$TRAIN" --quiet --env InvertedPendulum "${small[@]}" --seed 2 --out ip \
    >ip.out 2>ip.err || fail "train InvertedPendulum: $(cat ip.err)"
want=$("$EVAL" ip --episodes 3 --seed 9 2>/dev/null)
for f in ip/checkpoint-200.ckpt ip ip/weights.bin; do
    "$RENDER" "$f" -o r.png --size 32x32 --strip 2 --episodes 3 --seed 9 \
        >r.out 2>r.err
    got=$(tail -1 r.out)
    [ -n "$want" ] && [ "$got" = "$want" ] && [ "$(grep -c '^episode=' r.out)" -eq 3 ] &&
        ok "$f: '$got' is hpo-eval's" || fail "$f: '$got' ($(cat r.err)), hpo-eval '$want'"
done
"$RENDER" hc -o r.png --size 32x32 --strip 2 --max-steps 4 >/dev/null 2>r.err
[ "$(probe r.png)" = "1,64,32" ] && ok "png strip: 2 frames of 32x32 side by side" ||
    fail "png strip: $(probe r.png) $(cat r.err)"

"$RENDER" "$ckpt" -o s.gif --size 96x64 --max-steps 12 --episodes 2 >/dev/null 2>g.err &&
    [ "$(probe s.gif)" = "24,96,64" ] && ok "gif: 2 episodes of 12 steps, 24 frames" ||
    fail "gif: $(probe s.gif) $(cat g.err)"

"$RENDER" hc -o e.mp4 --max-steps 4 --size 64x64 --gl egl >/dev/null 2>egl.err
if [ $? -eq 0 ]; then
    [ "$(probe e.mp4)" = "4,64,64" ] && ok "EGL: $(grep -o 'drawing with .*' egl.err)" ||
        fail "EGL: $(probe e.mp4)"
elif grep -q "no EGL context" egl.err; then
    ok "EGL: none on this machine ($(cat egl.err))"
else
    fail "EGL: $(cat egl.err)"
fi

# Refusals: exit status, reason, no output left behind.
# refuse NAME WANT_RC PATTERN ARGS...
refuse() {
    local name=$1 want=$2 pattern=$3
    shift 3
    "$RENDER" "$@" >/dev/null 2>"$name.err"
    local rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pattern" "$name.err" &&
        [ -z "$(ls out.* 2>/dev/null)" ]; then
        ok "$name: exit $rc, $(grep '^hpo-render:' "$name.err")"
    else
        fail "$name: exit $rc (want $want), '$(cat "$name.err")', left: $(ls out.* 2>/dev/null)"
    fi
}
refuse bad-size 2 "bad value '320x' for --size" hc -o out.mp4 --size 320x
refuse huge-size 2 "bad value '9000x100' for --size" hc -o out.mp4 --size 9000x100
refuse odd-size 2 "needs an even width and height" hc -o out.mp4 --size 321x240
refuse extension 2 "must end in .mp4 (H.264), .gif or .png" hc -o out.avi
refuse no-output 2 "no output given" hc
refuse missing 1 "cannot open nothing.ckpt" nothing.ckpt -o out.mp4
cp "$ckpt" bad.ckpt
printf '\xff' | dd of=bad.ckpt bs=1 seek=3000 conv=notrunc status=none
refuse corrupt 1 "bad.ckpt:" bad.ckpt -o out.mp4
"$TRAIN" --quiet --env Pendulum "${small[@]}" --steps 150 --out pend >/dev/null 2>&1
refuse pendulum 1 "Pendulum has no MuJoCo model to draw" pend -o out.mp4
PATH=/nonexistent "$RENDER" hc -o out.mp4 --max-steps 2 --size 64x64 >/dev/null 2>no-ffmpeg.err
[ $? -eq 1 ] && grep -q "install Debian's ffmpeg package" no-ffmpeg.err && [ -z "$(ls out.* 2>/dev/null)" ] &&
    ok "no ffmpeg on PATH: $(grep '^hpo-render:' no-ffmpeg.err)" || fail "no ffmpeg: $(cat no-ffmpeg.err)"
"$RENDER" hc -o nodir/out.mp4 --max-steps 2 --size 64x64 >/dev/null 2>nodir.err
# ffmpeg exits at once; hpo-render sees it at a write or at the end
[ $? -eq 1 ] && grep -Eq "ffmpeg (failed writing|stopped reading frame [0-9]+ of) nodir/out.mp4" nodir.err &&
    [ ! -e nodir ] && ok "missing output directory: $(grep '^hpo-render:' nodir.err)" ||
    fail "nodir: $(cat nodir.err)"

finish
