"""--slots DIR:N: the run slots that sweeps sharing the cores share, and with
--slot-rank R the order in which waiting sweeps get them.

A slot is DIR/slot-<i>, flock'ed by the run that holds it. A sweep given a
rank announces, while it has a run to start and no slot for it, that it
wants one: DIR/want-<rank>-<pid>, flock'ed for as long as the want lasts
(a sweep that dies drops it with its descriptors; a stale file is removed
by whoever finds it unlocked). A slot goes to no sweep while a sweep of a
smaller rank wants one, and a want is GRACE seconds old before it takes a
slot, longer than a waiting sweep's two looks apart, so that sweeps whose
runs become startable at the same moment (held cells released at a
deadline) have all said so before any of them takes a slot."""

import fcntl
import os
import re
import time

GRACE = 3.0  # seconds: more than the 2 s between two looks of a sweep that waits

WANT = re.compile(r"want-(-?\d+)-(\d+)")


class Slots:
    def __init__(self, path, n, rank=None):
        self.path, self.n, self.rank = path, n, rank
        self.want = None  # (open flock'ed file, its name) while this sweep wants a slot
        self.since = 0.0

    def take(self):
        """An open, exclusively flock'ed DIR/slot-<i> of the N, or None when
        other runs hold all N or (with a rank) a sweep before this one wants
        one or this sweep's want is younger than GRACE."""
        os.makedirs(self.path, exist_ok=True)
        if self.rank is not None:
            self._announce()
            if time.monotonic() - self.since < GRACE or self._before():
                return None
        for i in range(self.n):
            f = open(os.path.join(self.path, f"slot-{i}"), "a")
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return f
            except BlockingIOError:
                f.close()
        return None

    def settle(self, waits):
        """After a look: waits is whether a run of this sweep could not start
        for want of a slot. A sweep that does not wait (its runs started,
        --jobs reached, its cells held or none left) withdraws its want, so
        that it holds back no sweep after it."""
        if not waits and self.want:
            f, name = self.want
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
            f.close()
            self.want = None

    def _announce(self):
        if self.want:
            return
        final = os.path.join(self.path, f"want-{self.rank}-{os.getpid()}")
        tmp = os.path.join(self.path, f".want-{os.getpid()}.tmp")
        f = open(tmp, "w")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        os.rename(tmp, final)  # locked before it can be seen: never taken for stale
        self.want = (f, final)
        self.since = time.monotonic()

    def _before(self):
        """Whether a live sweep of a smaller rank wants a slot; removes the
        want files of sweeps that have died."""
        for name in os.listdir(self.path):
            m = WANT.fullmatch(name)
            if not m or int(m[2]) == os.getpid() or int(m[1]) >= self.rank:
                continue
            p = os.path.join(self.path, name)
            try:
                f = open(p)
            except FileNotFoundError:
                continue
            with f:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                try:  # unlocked: its sweep is gone; the same file still there?
                    if os.stat(p).st_ino == os.fstat(f.fileno()).st_ino:
                        os.unlink(p)
                except FileNotFoundError:
                    pass
        return False

