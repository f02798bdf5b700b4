#!/usr/bin/env bash
# test_deploy_ssh.sh - deploy/ssh's host arguments, without any real ssh.
#
#   tests/test_deploy_ssh.sh SOURCE_ROOT
#
# HPO_SSH is a fake ssh that records its arguments (WORK/ssh.PID, one a
# line) and fails (so the learner
# "does not start" and deploy/ssh ends). A host starting with '-' (as
# --learner, in --actors, as --eval) must be refused with exit 2 before any
# ssh runs; a plain host must reach ssh after "--", so that ssh can never
# read it as an option. A relative --out is the caller's directory's.
set -u
SRC=$1
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-deploy-ssh.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/fakessh" <<'FAKE'
#!/bin/sh
printf '%s\n' "$@" >"$(dirname "$0")/ssh.$$"
exit 1
FAKE
chmod +x "$WORK/fakessh"

# deploy NAME ARGS...: deploy/ssh with the fake ssh; sets rc
deploy() {
    local name=$1
    shift
    rm -f "$WORK"/ssh.*
    HPO_SSH="$WORK/fakessh -o BatchMode=yes" HPO_BUILD_DIR=/nonexistent \
        timeout 60 "$SRC/deploy/ssh" --out "$WORK/$name" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
}

bad='-oProxyCommand=touch '$WORK'/pwned'
for args in "--learner|$bad|--actors|a" "--learner|l|--actors|a,$bad:2" \
            "--learner|l|--actors|a|--eval|$bad"; do
    IFS='|' read -r -a argv <<<"$args"
    deploy bad "${argv[@]}"
    if [ "$rc" -eq 2 ] && grep -q "host '-oProxyCommand=touch .*' starts with '-'" "$WORK/bad.err" &&
        ! ls "$WORK"/ssh.* >/dev/null 2>&1 && [ ! -e "$WORK/pwned" ]; then
        ok "deploy/ssh ${argv[*]}: refused before any ssh: $(head -c 160 "$WORK/bad.err")"
    else
        fail "deploy/ssh ${argv[*]}: exit $rc (want 2, no ssh run): $(cat "$WORK/bad.err") $(cat "$WORK"/ssh.* 2>/dev/null)"
    fi
done

# a plain host reaches every ssh after the HPO_SSH options and "--"
deploy good --learner user@learnerhost --actors a
n=0
bad_calls=
for f in "$WORK"/ssh.*; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    head=$(sed -n '1,4p' "$f" | tr '\n' ' ')
    [ "$head" = "-o BatchMode=yes -- user@learnerhost " ] || bad_calls="$bad_calls [$head]"
done
if [ "$rc" -ne 0 ] && [ "$n" -ge 1 ] && [ -z "$bad_calls" ]; then
    ok "deploy/ssh: $n ssh call(s), each ssh -o BatchMode=yes -- user@learnerhost ..."
else
    fail "deploy/ssh: not every ssh is 'ssh OPTIONS -- HOST': exit $rc, $n calls, wrong:$bad_calls; $(cat "$WORK/good.err")"
fi
# a relative --out is taken from the caller's directory, here and on the
# learner host (one absolute path), not from the checkout deploy/ssh runs in
rm -f "$WORK"/ssh.*
(cd "$WORK" && HPO_SSH="$WORK/fakessh -o BatchMode=yes" HPO_BUILD_DIR=/nonexistent \
    timeout 60 "$SRC/deploy/ssh" --out rel --learner user@learnerhost --actors a \
    >"$WORK/rel.out" 2>"$WORK/rel.err")
if [ -d "$WORK/rel" ] && [ ! -e "$SRC/rel" ] && cat "$WORK"/ssh.* 2>/dev/null | grep -q -- "$WORK/rel"; then
    ok "deploy/ssh --out rel from $WORK: the run directory is $WORK/rel, here and in the learner's command"
else
    fail "deploy/ssh --out rel: $(ls -d "$WORK/rel" "$SRC/rel" 2>&1 | tr '\n' ' '); $(cat "$WORK"/ssh.* 2>/dev/null | grep -- '--out' | head -2)"
    rm -rf "${SRC:?}/rel"
fi
finish
