"""refresh - `hpo-sweep refresh FILE.md [--block NAME ...]`: every report
block of a document (or the named ones) rebuilt from the command it names."""

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
    """`refresh FILE.md [--block NAME ...]`: its report blocks (or the named
    ones) rebuilt, the rest left as it was."""
    path, only = None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--block":
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                raise Usage("refresh --block: which block? (--block NAME, the NAME of "
                            "<!-- report:NAME -->)")
            only.append(argv[i + 1])
            i += 2
            continue
        if a.startswith("-") or path is not None:
            raise Usage(f"refresh: unexpected '{a}' (hpo-sweep refresh FILE.md [--block NAME ...])")
        path = a
        i += 1
    if path is None:
        raise Usage("refresh: which document? (hpo-sweep refresh FILE.md [--block NAME ...])")
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
    if only:
        names = [b[0] for b in blocks]
        missing = [n for n in only if n not in names]
        if missing:
            raise Usage(f"{path}: no block named {', '.join(repr(n) for n in missing)} "
                        f"(its blocks: {', '.join(names)})")
        blocks = [b for b in blocks if b[0] in only]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts, at = [], 0
    for name, start, end, args in blocks:
        text = build_report(list(args), write=False)
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


