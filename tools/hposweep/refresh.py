"""refresh - `hpo-sweep refresh FILE.md`: every report block of a document
rebuilt from the command it names."""

import re
import shlex
import sys
import time

from .report import build_report
from .util import PROG, Usage, write_text

BLOCK = re.compile(r"<!-- (/?)report:([\w.-]+) -->")
BLOCK_CMD = re.compile(r"^\(`hpo-sweep report ([^`]*)`, [^)]*\)$")
RETURNS = re.compile(r"^## (.+?)\n\n<!-- returns -->\n(.*?)<!-- /returns -->", re.S | re.M)
COMPARE = re.compile(r"^## (Comparison: .+?)\n\n<!-- compare -->\n(.*?)<!-- /compare -->", re.S | re.M)


def refresh(argv):
    """`refresh FILE.md`: its report blocks rebuilt, the rest left as it was."""
    if len(argv) != 1 or argv[0].startswith("-"):
        raise Usage("refresh: which document? (hpo-sweep refresh FILE.md)")
    path = argv[0]
    with open(path) as f:
        doc = f.read()
    # pair the markers first: nothing runs, nothing is written, if they do not
    blocks, open_ = [], None
    for m in BLOCK.finditer(doc):
        line = doc.count("\n", 0, m.start()) + 1
        closing, name = m.group(1) == "/", m.group(2)
        if not closing:
            if open_:
                raise Usage(f"{path}:{line}: block '{name}' opens inside block "
                            f"'{open_[0]}' (opened at line {open_[2]}); close that one first")
            open_ = (name, m, line)
        else:
            if not open_ or open_[0] != name:
                raise Usage(f"{path}:{line}: '<!-- /report:{name} -->' closes no open block"
                            + (f" (open: '{open_[0]}')" if open_ else ""))
            body = doc[open_[1].end():m.start()].strip("\n")
            first = body.split("\n", 1)[0].strip()
            cmd = BLOCK_CMD.match(first)
            if not cmd:
                raise Usage(f"{path}:{open_[2]}: block '{name}' does not start with its command "
                            f"as (`hpo-sweep report ARGS`, DATE); found '{first[:80]}'")
            try:
                # shell words: a --compare label with spaces is quoted
                args = shlex.split(cmd.group(1))
            except ValueError as e:
                raise Usage(f"{path}:{open_[2]}: block '{name}': its command does not "
                            f"split into words ({e}); close the quote") from None
            blocks.append((name, open_[1].start(), m.end(), args))
            open_ = None
    if open_:
        raise Usage(f"{path}:{open_[2]}: block '{open_[0]}' is never closed "
                    f"(add <!-- /report:{open_[0]} -->)")
    if not blocks:
        raise Usage(f"{path}: no <!-- report:NAME --> block to refresh")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts, at = [], 0
    for name, start, end, args in blocks:
        text = build_report(list(args))
        tables = [f"**{m.group(1)}**\n\n{m.group(2)}" for m in RETURNS.finditer(text)]
        ntab = len(tables)
        tables += [f"**{m.group(1)}**\n\n{m.group(2)}" for m in COMPARE.finditer(text)]
        parts += [doc[at:start],
                  f"<!-- report:{name} -->\n(`hpo-sweep report {shlex.join(args)}`, {stamp})\n\n"
                  + "\n".join(tables) + f"<!-- /report:{name} -->"]
        at = end
        print(f"{PROG}: {path}: block '{name}' refreshed ({ntab} environments)",
              file=sys.stderr)
    parts.append(doc[at:])
    write_text(path, "".join(parts))
    return 0


