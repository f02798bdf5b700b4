"""util - what every part of hpo-sweep shares: its name, its two error tiers,
and whole-file writes."""

import json
import os
import sys

PROG = "hpo-sweep"


class Usage(Exception):
    """A bad command line or a refused grid: exit 2."""


def die(msg, code=1):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(code)




def write_text(path, text):
    """Replace path with text whole. The temporary name is this process's own
    (host and pid): sweeps of one DIR may run at once, on two cores or on
    machines that share DIR, and each writes grid.json and report.md."""
    tmp = f"{path}.{os.uname().nodename}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


