# shellcheck shell=bash
# lib.sh - helpers sourced by the integration scripts (tests/test_*.sh).
#
# fail and ok print one result line each and count the failures; finish ends
# the script with exit 1 when any check failed. run and must_run start "$BIN"
# (the script's hpo-train) with its output in "$WORK".

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

# finish: exit 1 with the count of failures, if any; return 0 otherwise.
finish() {
    [ "$failures" -eq 0 ] && return 0
    echo "$failures failure(s)" >&2
    exit 1
}

# run NAME ARGS...: run $BIN quietly, stdout to $WORK/NAME.out, stderr to
# $WORK/NAME.err; sets rc.
run() {
    local name=$1
    shift
    "$BIN" --quiet "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
}

# must_run NAME ARGS...: run and fail the test unless it exits 0.
must_run() {
    run "$@"
    [ "$rc" -eq 0 ] || fail "$1: exit $rc: $(cat "$WORK/$1.err")"
}

# png_size FILE: "W H" from the IHDR chunk, after checking the signature
png_size() {
    [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        return 1
    od -An -j16 -N8 -tu1 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4, $5 * 16777216 + $6 * 65536 + $7 * 256 + $8 }'
}

# check_png NAME FILE W H: a PNG of W x H pixels at FILE, or a failure.
check_png() {
    if [ ! -s "$2" ]; then
        fail "$1: $2 missing"
    elif ! size=$(png_size "$2"); then
        fail "$1: $2 is not a PNG"
    elif [ "$size" != "$3 $4" ]; then
        fail "$1: size $size, want $3 $4"
    else
        ok "$1: PNG $3x$4"
    fi
}

# The status helpers of the distributed tests: the script defines
# status FILE (hpo-status --json into FILE) and PY.

# field FILE EXPR: a Python expression on the reply r.
field() {
    "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# wait_until SECONDS EXPR: poll the status until EXPR holds; 0 when it did.
wait_until() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        if status "$WORK/poll.json" &&
            [ "$(field "$WORK/poll.json" "$2")" = True ]; then
            return 0
        fi
        sleep 0.3
    done
    return 1
}

# csv_cols FILE NAME...: the columns NAME... of progress.csv FILE, found by
# header name (docs/status.md, "progress.csv": names are the contract, not
# the order; an older file's recent_return is episode_return), one line per
# row, header dropped, cells joined by ','. Exit 1 with the missing name.
csv_cols() {
    local file=$1
    shift
    awk -F, -v want="$*" '
        NR == 1 {
            for (i = 1; i <= NF; i++) c[$i == "recent_return" ? "episode_return" : $i] = i
            k = split(want, w, " ")
            for (j = 1; j <= k; j++)
                if (!(w[j] in c)) { print FILENAME ": no column " w[j] > "/dev/stderr"; exit 1 }
            next
        }
        { s = $c[w[1]]; for (j = 2; j <= k; j++) s = s "," $c[w[j]]; print s }' "$file"
}

# progress_header SRC: docs/status.md's progress.csv columns, in order,
# joined by ',' (the header every writer of progress.csv must write).
progress_header() {
    sed -n '/^## progress.csv$/,/^## /s/^| `\([a-z_]*\)` |.*/\1/p' "$1/docs/status.md" |
        paste -sd, -
}

# stop_pids: SIGTERM every pid in the caller's PIDS array, SIGKILL after
# 0.2 s what is left, and reap those that are this shell's children
stop_pids() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
