#!/usr/bin/env bash
# test_lint.sh SRC - the house's habits, checked on every tracked file:
#   format    every C file is as clang-format (.clang-format) writes it
#   messages  no string is split mid-message across source lines (two
#             adjacent literals where the first does not end in \n), so a
#             user's message can be grepped
#   shell     shellcheck finds nothing at warning level in deploy/, tools/,
#             tests/ and .ci/
# A tool that is missing fails the test with the package to install
# (deploy/setup installs both).
set -uo pipefail
SRC=${1:?usage: test_lint.sh SRC}
cd "$SRC" || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh

command -v clang-format >/dev/null || fail "clang-format not found: install clang-format (deploy/setup)"
command -v shellcheck >/dev/null || fail "shellcheck not found: install shellcheck (deploy/setup)"
[ "$failures" -eq 0 ] || finish

mapfile -t cfiles < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
[ ${#cfiles[@]} -gt 50 ] || fail "only ${#cfiles[@]} C files found under $SRC"

bad=()
for f in "${cfiles[@]}"; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -eq 0 ]; then
    ok "format: ${#cfiles[@]} C files as clang-format writes them"
else
    fail "format: ${#bad[@]} files differ from clang-format (run clang-format -i on them): ${bad[*]}"
fi

split=$(/usr/bin/python3 - "${cfiles[@]}" <<'PY'
import re, sys
pat = re.compile(r'"((?:[^"\\\n]|\\.)*)"[ \t]*\n[ \t]*"')
for f in sys.argv[1:]:
    s = open(f, encoding="utf-8").read()
    for m in pat.finditer(s):
        if not m.group(1).endswith("\\n"):
            print(f"{f}:{s.count(chr(10), 0, m.start()) + 1}")
PY
)
if [ -z "$split" ]; then
    ok "messages: no string split mid-message"
else
    fail "messages: strings split across lines (join them on one line): $(echo "$split" | head -20 | tr '\n' ' ')"
fi

mapfile -t scripts < <(for f in $(git ls-files deploy tools tests .ci results/queue 2>/dev/null); do
    [ -f "$f" ] && head -1 "$f" | grep -qE '^#!.*(bash|/sh)' && echo "$f"
done; git ls-files 'tests/*.sh' 'tools/*.sh')
mapfile -t scripts < <(printf '%s\n' "${scripts[@]}" | sort -u)
[ ${#scripts[@]} -gt 10 ] || fail "only ${#scripts[@]} shell scripts found"
out=$(shellcheck -x -S warning "${scripts[@]}" 2>&1)
if [ -z "$out" ]; then
    ok "shell: ${#scripts[@]} scripts clean at shellcheck's warning level"
else
    fail "shell: shellcheck warnings: $(echo "$out" | grep -E '^In |SC[0-9]+' | head -30)"
fi
finish
