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
