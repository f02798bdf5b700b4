"""hpo-sweep - a grid of training runs, in parallel, resumable, with a report.

  hpo-sweep --out DIR --env E1,E2 --mode M1,M2 --seeds 1-3 --steps N
            [--set NAME=V1,V2 ...] [--impl c,torch,dist] [--jobs N]
            [--actors N] [--kill-at N1,N2,...]
            [--checkpoint-every N] [--retries N] [--only GLOB,...] [--from DIR]
            [--slots DIR:N [--slot-rank R]]
            [--deadline WHEN [--costs-from DIR,...] [--overrun]]
            [--quiet]
  hpo-sweep report DIR [DIR...] [--marks 30000,100000,...] [--target ENV=RETURN ...]
            [--env E1,E2] [--seeds 1-5] [--window STEPS] [--no-png]
            [--compare A:B ...] [--compare-at MARK|SECONDSs] [--seconds S1,S2,...]
            [--clock wall|cpu]
  hpo-sweep refresh FILE.md [--block NAME ...]
  hpo-sweep status DIR [--costs-from DIR,...] [--done]
  hpo-sweep search --out DIR --env ENV [--seeds 1,2] [--rungs 30000,100000]
            [--trials N] [--space NAME=LO:HI[:log] | NAME=V1,V2 ...] [--set NAME=V ...]
            [--deadline WHEN [--costs-from DIR,...]]
  hpo-sweep confirm SEARCH_DIR [--seeds 101-105] [--trials N] [--jobs N]
            [--deadline WHEN [--costs-from DIR,...] [--overrun]]

Every cell of the grid (environment x setting values x mode x implementation
x seed) is one run directory, DIR/<env>/<mode>-<impl>[-<name>=<v>...]-s<seed>,
written by hpo-train (impl c) or bench/torch_sac.py (impl torch, mode sac
only; other modes are skipped with a note). At most --jobs runs go at once
(default: the number of cores), each on one thread, with a live line of what
runs and what is done on stderr.

--impl dist runs a cell as a distributed run on this machine: deploy/local
starts hpo-learner (the cell's settings, hpo-train's config; checkpoints
with the replay buffer), --actors data actors (default 2) and an evaluation
actor, on three free loopback ports of its own (20000-32000), so --jobs 2
runs two cells at once. The cell (deploy/local and its processes) is its own
process group; the sweep stopped (SIGINT, SIGTERM) stops them (the learner
checkpoints), and deploy/local gets SIGTERM when the sweep dies, even by
SIGKILL, so no process of a cell outlives its sweep. hpo-learner,
hpo-actor and hpo-status are those of hpo-train's build directory
($HPO_BUILD_DIR overrides). --kill-at N1,N2,... (with 0 for the
uninterrupted run) makes one dist cell per value, named
<mode>-dist-killN-s<seed>: once its learner's progress.csv reaches env step
N, the learner is killed with SIGKILL (DIR/<cell>/killed records when and
the newest checkpoint) and resumed from its checkpoint (hpo-learner
--resume), spending no retry; a cell that restarts from nothing (no
checkpoint left) is killed again at N. The report tells these cells apart
as rows "<mode> (dist) kill-at=N" and "kill-at=none" (a --kill-at cell that
ran to its end before the kill is left out of the report and runs again).

Resumable: the same command again continues unfinished runs from their newest
checkpoint and skips finished ones (a run is finished when its progress.csv
has an evaluation at --steps or later). Each run holds an exclusive lock on
DIR/.../.lock for its whole life, so a run left behind by a sweep that was
killed is waited for, never started twice. A run that dies (kill -9, crash)
is resumed from its checkpoint up to --retries times (default 2), then marked
failed; the sweep goes on and exits 1 at the end naming the failed cells.
The grid is recorded in DIR/grid.json and each cell's resolved configuration
in its cell.json: a command with another grid, or a cell whose configuration
resolves differently (changed presets or defaults), is refused with the reason
and nothing is touched; a setting hpo-train gained since, at the value that
computes what the older build did (precision fp32, clip-grad zero, temper
formula, alpha-target base), is no difference. --steps may grow (the runs
are extended), not shrink.
--only GLOB,... runs only the cells whose name (<env>/<cell>, shell patterns:
'Hopper/*', '*-s1') matches, within the same recorded grid: a way to run the
part that matters first; the command without it runs the rest. Sweeps of
one DIR may run at once (each its own --only part, on this machine or on
another that shares DIR): the cell locks keep any run from going twice.
--from DIR continues, in this sweep, the runs another sweep directory holds
of the same cells (the same <env>/<cell>, identity and resolved
configuration) instead of running them again from nothing: a cell that has
no checkpoint here and whose twin in DIR has one starts as a copy of that
run (checkpoints hard-linked, the other files copied, the twin's lock held
meanwhile, so a twin that is going is waited for) and resumes it to
--steps. A budget changes only the replay ring's capacity, so the continued
run is bit for bit the run this sweep would have made from nothing (say a
1M-step sweep of the seeds a 300k-step sweep has run). The cell's log says
where it was continued from; DIR is only read. Impl c only; a twin of other
settings, or past --steps, is refused before anything is written.
--slots DIR:N shares the cores between sweeps: a run starts only when it
can take one of N slots (DIR/slot-<i>, flock'ed, held by the run as its cell
lock is), so sweeps of different directories given the same DIR run at most
N runs at once between them, each still at most --jobs (results/queue
starts the next sweep this way while the last runs of one end). With
--slot-rank R (0 or more) a free slot goes to the waiting sweep of the
smallest rank: a sweep with a run to start and no slot says so
(DIR/want-R-<pid>, flock'ed), no sweep of a larger rank takes a slot
meanwhile, and a sweep waits 3 s after saying so before it takes one, so
that sweeps whose runs become startable at once (held cells released by
--overrun at a deadline) go in rank order (results/queue gives each sweep
its place in the queue). Sweeps without a rank take slots as they come.
--deadline WHEN (+3h, +90m, +600s, @EPOCH, or ISO 8601 as 2026-12-07T18:15Z)
starts no run that would not end before WHEN, for a machine lent for hours
whose checkpoints do not outlive it: a cell's wall-clock to its end is
estimated as the median wall seconds per env step of the finished cells of
the same name but seed (else of its environment, mode and implementation),
here or in the --costs-from sweep directories, times the steps it still has
(all of them when it has no checkpoint), times 1.1. A cell that would end
past WHEN is held (said once) and the next that fits starts; a cell with
nothing to go by starts. When only held cells are left the sweep ends with
exit 3, naming them; while it runs, `status DIR` shows them held (from
DIR/.held-<pid>). Runs under way are not stopped at WHEN. With --overrun the
sweep does not end when only held cells are left: it waits, and starts them
once WHEN has passed, for a machine whose disk may outlive what ends its
processes (a session's end): cut off, a run resumes from its last checkpoint
when the same command runs again there, and elsewhere it cost only time after
WHEN.
Each run segment's log names the machine it started on (CPU, vector
extensions, OpenBLAS kernel); a run that resumes on another kind of machine
is said on stderr, since from there its bits differ from an unbroken run's.

`report DIR` (a sweep directory, or one run directory: hpo-train's or
hpo-learner --out's, read as impl dist) writes DIR/report.md (and prints it)
and one PNG per environment
(DIR/report/<env>.png, via hpo-plot): per environment, the deterministic
evaluation return at step marks (default 30k, 100k, 300k, 1M, those reached)
as mean +- std over seeds (population std) with the [min, max] range, the
normalized area under the curve, the time to reach a target return (by the
table's last mark), beside published SAC figures with their source; then
wall-clock seconds, updates/s and the machines (from the logs; ‡ more than
one kind) per run. --window W
turns each mark's column into the mean of each run's evaluations in
(mark - W, mark], steadier than one evaluation on tasks whose return swings
between evaluations (published single-mark figures are then left out).
Steps to a target count only evaluations after the run's learning-starts
(an untrained policy's evaluation is no hit). A run's wall time sums its
segments (a clock restarted at a resume is added back, marked †); each row's
time per run is given as mean ± std over seeds. --compare A:B (A and B a mode,
a row's label, or 'LABEL ...': in each environment the one row of LABEL's mode
and implementation with all of LABEL's settings and perhaps more, as Ant's
'hpo (c) pi-layers=1 temper=cool' for 'hpo (c) temper=cool ...'; repeatable)
adds, per environment and over environments,
the difference of means, the probability of improvement P(A > B) and the
interquartile mean of scores normalized by the published SAC figure, each
with a 95% stratified-bootstrap interval (10000 resamples, fixed seed), and
a performance profile PNG (DIR/report/profile-A-B.png); the compared value
is each run's return at --compare-at MARK (default: the last mark every run
of both rows reached), or with --window the mean over the window up to it;
--compare-at 1800s compares at wall-clock seconds instead (each run's last
evaluation within 1800 s of its own clock). --seconds S1,S2 adds to each
environment a table of return against wall-clock: each run's last evaluation
within S seconds of its clock (resumed runs counted segment by segment; a run
that ended before holds its last evaluation, and the cell says so). Seconds
compare only runs on the same kind of machine under the same load. --clock
cpu reads both in CPU seconds of the run's process instead (the sweep
samples them against env steps into DIR/<cell>/cpu.csv while a run goes; a
resumed run is counted as one uninterrupted run), which other processes
sharing the cores do not move.
More than one DIR puts their runs side by side (rows are grouped by
resolved configuration, so the same cell in two sweeps is one row, and a
seed in two of them, as after --from, is one sample: the run with the most
env steps, the other named at the top); --env
keeps the environments named, --seeds the seeds named (a sweep that grows:
its finished seeds, without the runs under way).

`status DIR` says, without starting anything, where each cell of the recorded
grid stands: done, running (its lock is held), held (by a sweep going with
--deadline), stopped (resumable from its checkpoint) or not started, with
its env steps and last evaluation, and
first the core-hours left (cells with no finished sibling here at the cost
per env step of the same environment, mode and implementation in the
--costs-from sweeps); of a
search directory, each trial's state (done, pruned, running, or cut off when
no search holds the directory) and the ranking its search.md has. --done
prints only the finished cells' directories, one a line, for committing a
sweep that grows: git add $(hpo-sweep status DIR --done).

`search --out DIR --env ENV` searches settings for one environment (Optuna's
TPE sampler, a median pruner at each rung of env steps, each trial on a few
seeds, resumable): `hpo-sweep search --help` says how. `confirm SEARCH_DIR`
runs the best settings of a finished search on fresh seeds (101-105) beside
SAC, as a sweep in SEARCH_DIR-confirm: `hpo-sweep confirm --help`.

`refresh FILE.md` regenerates, in place, every block of FILE.md between
<!-- report:NAME --> and <!-- /report:NAME --> whose first line names its
command as (`hpo-sweep report ARGS`, DATE; ARGS split as the shell does, so a
--compare label with spaces is quoted: --compare 'sac (dist):sac (c)'): the
command runs again and the block gets its returns tables, its comparisons and
today's date; the sweep's own report.md and PNGs are not written. A
document of results is thus rebuilt from the run directories with one
command. Blocks that do not pair up, or that do not name their command, are
refused with the line number, and the file is left as it was. --block NAME
(repeatable) rebuilds only the blocks named, the others keep their tables
and dates.

Exit status: 0 done, 1 a run failed or an I/O error, 2 bad command line or a
refused grid, 3 cells held for --deadline are left (none failed), 130
interrupted (the running runs checkpoint first).
"""

import os
import sys

from . import run
from .grid import parse_sweep_args
from .refresh import refresh
from .search import confirm, search
from .report import report
from .status import status
from .util import PROG, Usage


def main(argv, here):
    """The command line argv (without the program name); here is the directory
    of the entry point, where hpo-train and hpo-plot are looked for first."""
    run.HERE = here
    try:
        if argv and argv[0] == "report":
            return report(argv[1:])
        if argv and argv[0] == "refresh":
            return refresh(argv[1:])
        if argv and argv[0] == "status":
            return status(argv[1:])
        if argv and argv[0] == "search":
            return search(argv[1:])
        if argv and argv[0] == "confirm":
            return confirm(argv[1:])
        return run.sweep(parse_sweep_args(argv, __doc__))
    except Usage as e:
        print(f"{PROG}: {e} (see {PROG} --help)", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader has gone (`| head -1`): nothing is lost, so no message and
        # no failure; stdout to /dev/null, so that the flush at exit is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        print(f"{PROG}: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 1
