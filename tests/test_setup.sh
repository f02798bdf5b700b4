#!/usr/bin/env bash
# test_setup.sh - deploy/setup installs what each job needs.
#
#   test_setup.sh SOURCE_DIR BUILD_DIR
#
# With a dpkg-query that reports every package missing and an apt-get that
# records what it is asked to install (then fails, so nothing is built or
# run): deploy/run asks only for the run group (no sshd, Prometheus or
# PyTorch, which only tests use), deploy/test for every package its suites
# use, plus debootstrap and podman with HPO_TEST_CONTAINER=1. Every listed
# package is one apt knows. The container suite, without debootstrap on the
# PATH, is skipped (exit 77) with the reason instead of failing.
set -uo pipefail
SRC=${1:?usage: test_setup.sh SOURCE_DIR BUILD_DIR}
BUILD=${2:?build dir}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_setup.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

shim=$WORK/shim
mkdir "$shim"
cat >"$shim/dpkg-query" <<'SH'
#!/bin/sh
exit 1
SH
cat >"$shim/apt-get" <<'SH'
#!/bin/sh
[ "$*" != "${*#*install}" ] || exit 0
echo "$@" >>"$APT_LOG"
exit 1
SH
cat >"$shim/sudo" <<'SH'
#!/bin/sh
exec "$@"
SH
chmod +x "$shim"/*

# asked NAME CMD...: run CMD with the shims; the packages apt-get was asked
# for into $WORK/NAME.pkgs, one a line
asked() {
    local name=$1
    shift
    : >"$WORK/$name.apt"
    APT_LOG=$WORK/$name.apt PATH=$shim:$PATH HPO_BUILD_DIR=$WORK/nobuild \
        timeout 60 "$@" >"$WORK/$name.out" 2>&1
    tr ' ' '\n' <"$WORK/$name.apt" | grep -v '^-\|^install$\|^$' | sort -u >"$WORK/$name.pkgs"
}
has() { grep -qx "$2" "$WORK/$1.pkgs"; }

asked run "$SRC/deploy/run" --env Pendulum
testonly=(openssh-server prometheus python3-torch python3-optuna shellcheck)
bad=$(for p in "${testonly[@]}"; do has run "$p" && echo "$p"; done)
if [ -s "$WORK/run.pkgs" ] && has run libzmq3-dev && has run libmujoco-dev && [ -z "$bad" ]; then
    ok "deploy/run asks for $(wc -l <"$WORK/run.pkgs") packages, none only tests use"
else
    fail "deploy/run asks for test-only packages: ${bad:-none} (asked: $(tr '\n' ' ' <"$WORK/run.pkgs"); $(tail -2 "$WORK/run.out"))"
fi
[ ! -e "$WORK/nobuild" ] && ok "deploy/run stops when the packages cannot be installed" ||
    fail "deploy/run went on to build after apt-get failed"

asked test "$SRC/deploy/test"
missing=$(for p in "${testonly[@]}" python3-kubernetes python3-yaml python3-jsonschema libzmq3-dev; do
    has test "$p" || echo "$p"; done)
[ -z "$missing" ] && ! has test debootstrap && ok "deploy/test asks for the suites' packages ($(wc -l <"$WORK/test.pkgs"))" ||
    fail "deploy/test does not ask for: $missing (asked: $(tr '\n' ' ' <"$WORK/test.pkgs"))"
HPO_TEST_CONTAINER=1 asked testc "$SRC/deploy/test"
has testc debootstrap && has testc podman && ok "deploy/test with HPO_TEST_CONTAINER=1 adds debootstrap and podman" ||
    fail "HPO_TEST_CONTAINER=1 deploy/test asks for: $(tr '\n' ' ' <"$WORK/testc.pkgs")"

# one apt-cache call; each package alone only when it fails
# shellcheck disable=SC2046 # one package a word
unknown=$(apt-cache show $("$SRC/deploy/setup" --list test container) >/dev/null 2>&1 ||
    for p in $("$SRC/deploy/setup" --list test container); do
        apt-cache show "$p" >/dev/null 2>&1 || echo "$p"; done)
[ -z "$unknown" ] && ok "every package deploy/setup lists is one apt knows" ||
    fail "apt does not know: $unknown"

# the container suite without debootstrap: skipped with the reason
nodeb=$WORK/nodeb
mkdir "$nodeb"
# every program of the PATH's directories (the first of a name wins) but those
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -d "$d" ] && ln -s -t "$nodeb" -- "$d"/* 2>/dev/null
done
rm -f "$nodeb/debootstrap" "$nodeb/podman" "$nodeb/buildah"
HPO_TEST_CONTAINER=1 PATH=$nodeb timeout 60 bash "$SRC/tests/test_cluster.sh" "$BUILD" container \
    >"$WORK/container.out" 2>&1
rc=$?
if [ $rc -eq 77 ] && grep -q "SKIP: .*debootstrap.*deploy/setup container" "$WORK/container.out"; then
    ok "the container suite without debootstrap: skipped, $(head -c 100 "$WORK/container.out")"
else
    fail "the container suite without debootstrap: exit $rc (want 77 with the reason): $(tail -3 "$WORK/container.out")"
fi
finish
echo "all ok"
