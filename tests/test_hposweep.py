"""test_hposweep.py - the hposweep package (tools/hposweep) without training:
the run reader, the report's per-run numbers, and the statistics against
hand-computed cases.

  /usr/bin/python3 -m unittest tests/test_hposweep.py     (from the source root)
  /usr/bin/python3 tests/test_hposweep.py

The package is imported from tools/ beside this file, or from $HPOSWEEP_DIR.
"""

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import types
import unittest
import unittest.mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("HPOSWEEP_DIR") or os.path.join(HERE, "..", "tools"))

import numpy as np  # noqa: E402

from hposweep import cli, deadline, grid, report, run, runs, stats, timing  # noqa: E402

# a settings table as hpo-train --describe-settings --json writes it
DESCRIBED = {"modes": ["hpo", "sac"],
             "settings": [{"name": "std-tr", "type": "float", "modes": ["hpo"], "help": ""},
                          {"name": "lr", "type": "float", "modes": ["hpo", "sac"], "help": ""}]}

COLUMNS = ("env_steps,updates,episode_return,eval_return,eval_std,q_loss,pi_loss,alpha,"
           "logp,hd_dist,gate,q_mean,updates_per_s,wall_s")


def make_run(root, name, rows, config=None, columns=COLUMNS):
    """A run directory with config lines and progress rows (dicts by column)."""
    d = os.path.join(root, name)
    os.makedirs(d)
    cfg = {"env": "Ant", "mode": "sac", "learning-starts": "5000", "seed": "1",
           "obs_dim": "27", "act_dim": "8"}
    cfg.update(config or {})
    with open(os.path.join(d, "config"), "w") as f:
        f.write("".join(f"{k} = {v}\n" for k, v in cfg.items()))
    cols = columns.split(",")
    with open(os.path.join(d, "progress.csv"), "w") as f:
        f.write(columns + "\n")
        for r in rows:
            f.write(",".join(str(r.get(c, "")) for c in cols) + "\n")
    return d


class Reader(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_columns_by_name(self):
        # another column order, a new column, recent_return for episode_return
        d = make_run(self.tmp, "r", [{"wall_s": 1, "env_steps": 100, "eval_return": 5, "x": 1},
                                     {"wall_s": 2, "env_steps": 200, "recent_return": 3}],
                     columns="wall_s,x,eval_return,env_steps,recent_return")
        r = runs.read_run(d)
        self.assertEqual(r.evals, [(100, 5.0, 1.0)])
        self.assertEqual(r.last["env_steps"], "200")
        self.assertNotIn("obs_dim", r.config)
        self.assertEqual(r.config["impl"], "c")
        self.assertEqual(r.learning_starts, 5000)

    def test_partial_row_and_missing_config(self):
        d = make_run(self.tmp, "r", [{"env_steps": 100, "eval_return": 5, "wall_s": 1}])
        with open(os.path.join(d, "progress.csv"), "a") as f:
            f.write("200,1")  # being written
        self.assertEqual(len(runs.read_progress(d).evals), 1)
        os.unlink(os.path.join(d, "config"))
        with self.assertRaises(runs.RunError):
            runs.read_run(d)

    def test_wall_time_over_resumes(self):
        # two resumes by a build that restarts the clock: 100 + 50 + 30 s
        rows = [{"env_steps": s, "updates": u, "wall_s": w, "eval_return": 1}
                for s, u, w in [(1000, 0, 40), (2000, 1000, 100),        # segment 1
                                (2100, 1100, 5), (3000, 2000, 50),       # segment 2
                                (3100, 2100, 2), (4000, 3000, 30)]]      # segment 3
        p = runs.read_progress(make_run(self.tmp, "r", rows))
        self.assertEqual(p.segments, [100.0, 50.0, 30.0])
        self.assertAlmostEqual(p.wall_s, 180.0)
        self.assertTrue(p.repaired)
        self.assertEqual(p.last["wall_s"], "180.000")
        self.assertEqual(p.last["updates_per_s"], f"{3000 / 180:.2f}")
        self.assertEqual([e[2] for e in p.evals], [40, 100, 105, 150, 152, 180])
        # a clock carried across the resume (builds from 1b5f4f9 on): one segment
        rows = [{"env_steps": s, "wall_s": w, "eval_return": 1}
                for s, w in [(1000, 40), (2000, 100), (2100, 105), (3000, 150)]]
        p = runs.read_progress(make_run(self.tmp, "c", rows))
        self.assertEqual((p.wall_s, p.repaired, p.segments), (150.0, False, [150.0]))

    def test_groups_and_labels(self):
        a = runs.read_run(make_run(self.tmp, "a", [], {"mode": "hpo", "std-tr": "0.100000001"}))
        b = runs.read_run(make_run(self.tmp, "b", [], {"mode": "hpo", "std-tr": "1", "seed": "2"}))
        c = runs.read_run(make_run(self.tmp, "c", [], {"mode": "sac", "std-tr": "1"}))
        d = runs.read_run(make_run(self.tmp, "d", [], {"mode": "hpo", "std-tr": "1", "seed": "3",
                                                       "steps": "9"}))
        rows = report.group_rows([a, b, c, d], DESCRIBED)
        self.assertEqual({k: len(v) for k, v in rows.items()},
                         {"hpo (c) std-tr=0.1": 1, "hpo (c) std-tr=1": 2, "sac (c)": 1})
        self.assertEqual(runs.unread_settings(DESCRIBED, "sac"), {"std-tr"})
        self.assertEqual(runs.unread_settings(DESCRIBED, "hpo"), set())

    def test_labels_of_settings_some_rows_lack(self):
        # a distributed run's config has lines hpo-train's has not (and an
        # older build's c run lacks a line a newer build writes): they name
        # no row; kill-at names the dist rows, where they differ in it
        old = {"mode": "sac"}
        new = {"mode": "sac", "new-knob": "1"}
        dist = dict(new, run_id="x", replay_ratio="1", batch_max="64", actors="2")
        rs = [runs.read_run(make_run(self.tmp, "c1", [], old)),
              runs.read_run(make_run(self.tmp, "d1", [], dict(dist, **{"kill-at": "none"}))),
              runs.read_run(make_run(self.tmp, "d2", [], dict(dist, **{"kill-at": "50000"})))]
        rows = report.group_rows(rs, DESCRIBED)
        self.assertEqual(list(rows), ["sac (c)", "sac (dist) kill-at=none",
                                      "sac (dist) kill-at=50000"])
        rows = report.group_rows(rs[:2], DESCRIBED)
        self.assertEqual(list(rows), ["sac (c)", "sac (dist)"])
        # two rows told apart only by a line one lacks: named by it, not merged
        rs = [runs.read_run(make_run(self.tmp, "c2", [], old)),
              runs.read_run(make_run(self.tmp, "c3", [], new))]
        rows = report.group_rows(rs, DESCRIBED)
        self.assertEqual(sorted(rows), ["sac (c) new-knob=1", "sac (c) new-knob=None"])

    def test_older_build_groups_at_the_added_value(self):
        # a setting hpo-train gained later (runs.ADDED_SETTINGS): a run of an
        # older build, whose config lacks it, is a run at the value that
        # computes what that build did, and shares its row; another value is
        # another row
        rs = [runs.read_run(make_run(self.tmp, "o1", [], {"mode": "hpo", "seed": "1"})),
              runs.read_run(make_run(self.tmp, "n2", [], {"mode": "hpo", "seed": "2",
                                                          "temper": "formula"})),
              runs.read_run(make_run(self.tmp, "n3", [], {"mode": "hpo", "seed": "3",
                                                          "temper": "cool"}))]
        rows = report.group_rows(rs, DESCRIBED)
        self.assertEqual({k: [os.path.basename(r.dir) for r in v] for k, v in rows.items()},
                         {"hpo (c) temper=formula": ["o1", "n2"], "hpo (c) temper=cool": ["n3"]})
        self.assertEqual(len(report.group_rows(rs[:2], DESCRIBED)), 1)

    def test_pick_row_by_some_settings(self):
        # 'LABEL ...': the one row of that mode and implementation with every
        # setting of LABEL and perhaps more; a bare label or mode as before
        def rows(*labels):
            return {lab: [types.SimpleNamespace(mode=lab.split()[0])] for lab in labels}
        hc = rows("hpo (c) alpha-target=hd", "hpo (c) alpha-target=base", "sac (c)")
        ant = rows("hpo (c) alpha-target=hd pi-layers=1", "hpo (c) alpha-target=base pi-layers=1",
                   "sac (c) pi-layers=2")
        name = "hpo (c) alpha-target=hd ..."
        self.assertEqual(report.pick_row(hc, name, "HalfCheetah"), "hpo (c) alpha-target=hd")
        self.assertEqual(report.pick_row(ant, name, "Ant"), "hpo (c) alpha-target=hd pi-layers=1")
        self.assertEqual(report.pick_row(ant, "sac (c) ...", "Ant"), "sac (c) pi-layers=2")
        self.assertIsNone(report.pick_row(ant, "sac (dist) ...", "Ant"))
        self.assertIsNone(report.pick_row(ant, "hpo (c) alpha-target=none ...", "Ant"))
        # without ' ...' a label is matched whole: Ant has no 'sac (c)'
        self.assertIsNone(report.pick_row(ant, "sac (c)", "Ant"))
        self.assertEqual(report.pick_row(hc, "sac", "HalfCheetah"), "sac (c)")
        with self.assertRaises(report.Usage):  # two rows have it
            report.pick_row(ant, "hpo (c) ...", "Ant")
        with self.assertRaises(report.Usage):  # not a label
            report.pick_row(ant, "hpo alpha-target=hd ...", "Ant")

    def test_a_seed_in_two_directories_counts_once(self):
        # a run continued in another sweep (--from) is in both directories:
        # the row counts its seed once, as the run with more env steps; the
        # other seed and the other environment's same seed stay
        ev = lambda *steps: [{"env_steps": s, "eval_return": s / 10, "wall_s": 1} for s in steps]
        short = runs.read_run(make_run(self.tmp, "a300k", ev(1000, 3000), {"steps": "3000"}))
        other = runs.read_run(make_run(self.tmp, "a300k-s2", ev(1000, 3000), {"seed": "2"}))
        hop = runs.read_run(make_run(self.tmp, "hop", ev(1000, 3000), {"env": "Hopper"}))
        long = runs.read_run(make_run(self.tmp, "a1m", ev(1000, 3000, 9000), {"steps": "9000"}))
        kept, twice = report.once_per_seed([short, other, hop, long])
        self.assertEqual([r.dir for r in kept], [other.dir, hop.dir, long.dir])
        self.assertEqual([(k.dir, left.dir) for k, left in twice], [(long.dir, short.dir)])
        # equal steps: the first directory's run
        again = runs.read_run(make_run(self.tmp, "again", ev(1000, 3000), {"steps": "3000"}))
        kept, twice = report.once_per_seed([short, again])
        self.assertEqual(([r.dir for r in kept], twice[0][1].dir), ([short.dir], again.dir))
        # another setting is another row, not the same seed
        lr = runs.read_run(make_run(self.tmp, "lr", ev(1000), {"lr": "0.001"}))
        self.assertEqual(report.once_per_seed([short, lr])[1], [])

    def test_last_env_steps(self):
        rows = [{"env_steps": s, "wall_s": 1} for s in range(100, 50100, 100)]
        d = make_run(self.tmp, "r", rows)
        self.assertEqual(run.last_env_steps(d), 50000)
        with open(os.path.join(d, "progress.csv"), "a") as f:
            f.write("50100,1")  # a row being written
        self.assertEqual(run.last_env_steps(d), 50000)
        self.assertEqual(run.last_env_steps(os.path.join(self.tmp, "none")), 0)

    def test_dist_command_out_absolute(self):
        # deploy/local runs from its own tree: a relative --out would land
        # there, not in the sweep's DIR (a frozen tree's results/... once)
        cell = {"impl": "dist", "actors": 2, "setting": [], "env": "Hopper",
                "mode": "sac", "seed": 1}
        o = {"steps": 1000, "checkpoint_every": 500}
        here = os.getcwd()
        os.chdir(self.tmp)
        try:
            with unittest.mock.patch.object(run, "HERE", os.path.join(HERE, "..", "tools")):
                argv, resume = run.command(cell, "out/Hopper/sac-dist-s1", o, "hpo-train",
                                           None, port=20000)
        finally:
            os.chdir(here)
        self.assertFalse(resume)
        out = argv[argv.index("--out") + 1]
        self.assertEqual(out, os.path.join(os.path.realpath(self.tmp), "out/Hopper/sac-dist-s1"))

    @unittest.skipUnless(os.environ.get("HPO_TRAIN"), "HPO_TRAIN not set")
    def test_describe_settings(self):
        # hpo-train's own table: plain SAC reads no setting of the dynamics
        d = runs.describe_settings(os.environ["HPO_TRAIN"])
        self.assertIn("sac", d["modes"])
        self.assertTrue({"std-tr", "std-exp", "eps", "K"} <= runs.unread_settings(d, "sac"))
        self.assertNotIn("lr", runs.unread_settings(d, "sac"))
        # the values ADDED_SETTINGS counts an older config at are hpo-train's
        # defaults (it reads a config without the line as the default)
        values = {s["name"]: s.get("value") for s in d["settings"]}
        for k, v in runs.ADDED_SETTINGS.items():
            self.assertEqual(values.get(k), v, k)


class ReportNumbers(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_steps_to_target_after_learning_starts(self):
        # an untrained Ant standing still scores 1003 at 5k: not a hit
        rows = [{"env_steps": s, "eval_return": r, "wall_s": s / 100}
                for s, r in [(5000, 1003), (10000, 400), (15000, 1200), (20000, 900)]]
        r = runs.read_run(make_run(self.tmp, "r", rows))
        self.assertEqual(report.first_hit(r, 1000, None), (15000, 150.0))
        self.assertIsNone(report.first_hit(r, 1000, 10000))
        r.config["learning-starts"] = "0"
        self.assertEqual(report.first_hit(r, 1000, None), (5000, 50.0))

    def test_marks(self):
        ev = [(s, float(s), 0.0) for s in (100, 200, 300, 400)]
        self.assertEqual(report.value_at(ev, 250), 200.0)
        self.assertIsNone(report.value_at(ev, 500))
        self.assertEqual(report.window_mean(ev, 400, 200), 350.0)
        self.assertEqual(report.score(ev, 400, 200), 350.0)
        self.assertEqual(report.auc([(0, 0.0, 0), (10, 10.0, 0)], 10), 5.0)


    def test_return_at_seconds(self):
        # evaluations at 10, 20, 30 s of the run's clock
        ev = [(1000, 1.0, 10.0), (2000, 2.0, 20.0), (3000, 3.0, 30.0)]
        self.assertIsNone(report.value_at_seconds(ev, 9))
        self.assertEqual(report.value_at_seconds(ev, 25), (2.0, False))
        self.assertEqual(report.value_at_seconds(ev, 30), (3.0, False))
        self.assertEqual(report.value_at_seconds(ev, 45), (3.0, True))  # ended before: held
        # a run with resumes: the clock that counts is the repaired one
        rows = [{"env_steps": s, "wall_s": w, "eval_return": r}
                for s, w, r in [(1000, 40, 1), (2000, 100, 2), (2100, 5, 3), (3000, 50, 4)]]
        r = runs.read_run(make_run(self.tmp, "res", rows))
        # (the third evaluation's 5 s are 105 s of the whole run)
        self.assertEqual(report.value_at_seconds(r.evals, 104), (2.0, False))
        self.assertEqual(report.value_at_seconds(r.evals, 120), (3.0, False))
        self.assertEqual(report.value_at_seconds(r.evals, 150), (4.0, False))

    def test_seconds_table_and_compare(self):
        # a slow row (hpo: 1 step per 0.1 s) and a fast one (sac: 0.05 s):
        # at 150 s sac has its 3000-step value, hpo its 1000-step one
        a = [runs.read_run(make_run(self.tmp, f"h{i}", [
            {"env_steps": s, "eval_return": s / 1000 + i, "wall_s": s / 10} for s in (1000, 2000, 3000)],
            {"mode": "hpo", "seed": str(i)})) for i in (1, 2)]
        b = [runs.read_run(make_run(self.tmp, f"s{i}", [
            {"env_steps": s, "eval_return": 2 * s / 1000 + i, "wall_s": s / 20} for s in (1000, 2000, 3000)],
            {"mode": "sac", "seed": str(i)})) for i in (1, 2)]
        rows = {"hpo (c)": a, "sac (c)": b}
        lines = report.seconds_table(rows, [120, 250])
        hpo = [ln for ln in lines if ln.startswith("| hpo (c)")][0]
        sac = [ln for ln in lines if ln.startswith("| sac (c)")][0]
        self.assertEqual(hpo, "| hpo (c) | 2 | 2.5 ± 0.5 [2, 3] | 3.5 ± 0.5 [3, 4] | 300 ± 0 [300, 300] |"
                         .replace("2.5 ± 0.5 [2, 3]", report.fmt_ms([2.0, 3.0]))
                         .replace("3.5 ± 0.5 [3, 4]", report.fmt_ms([3.0, 4.0]))
                         .replace("300 ± 0 [300, 300]", report.fmt_ms([300.0, 300.0])))
        self.assertIn(report.fmt_ms([7.0, 8.0]) + " (2 ended before)", sac)
        text = "\n".join(report.compare_section("hpo:sac", [("Ant", rows)], ("s", 120), None, None))
        self.assertIn("last evaluation within 120 s", text)
        # at 120 s: hpo 1+1, 1+2 (mean 2.5); sac at 2000 steps 4+1, 4+2 (mean 5.5): -3
        self.assertRegex(text, r"\| Ant \| 2, 2 \| 2 \| 6 \| -3 \[-4, -2\] \| 0.00 ")
        self.assertIn("no published SAC figure at 120 s", text)


class CpuClock(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_segments_as_one_run(self):
        # segment 1 to 3000 steps (30 s of CPU), killed; segment 2 resumes at
        # its checkpoint 2000 (where segment 1 had spent 20 s), starts up for
        # 4 s and spends 10 s per 1000 steps: 2000 -> 20, 4000 -> 40
        d = make_run(self.tmp, "r", [{"env_steps": 4000, "eval_return": 1, "wall_s": 1}])
        with open(os.path.join(d, "cpu.csv"), "w") as f:
            f.write("# segment 1.0 pid 7\n1000,10\n2000,20\n3000,30\n"
                    "# segment 9.0 pid 8\n2000,4\n3000,14\n4000,24\n")
        pts = runs.read_cpu(d)
        self.assertEqual(pts, [(0, 0.0), (1000, 10.0), (2000, 20.0), (3000, 30.0), (4000, 40.0)])
        self.assertAlmostEqual(runs.cpu_at(pts, 3500), 35.0)
        self.assertAlmostEqual(runs.cpu_at(pts, 5000), 50.0)  # past the last: its rate
        self.assertEqual(runs.read_cpu(self.tmp), [])  # no cpu.csv

    def test_report_clock_cpu(self):
        # two runs at the same steps: one took 2 s of CPU per 1000 steps, the
        # other 1 s; at 3 s of CPU the first is at 1000 steps, the second at 3000
        rows = [{"env_steps": s, "eval_return": s / 1000, "wall_s": s} for s in (1000, 2000, 3000)]
        slow = runs.read_run(make_run(self.tmp, "a", rows, {"mode": "hpo"}))
        fast = runs.read_run(make_run(self.tmp, "b", rows, {"mode": "sac"}))
        for r, per in ((slow, 2), (fast, 1)):
            with open(os.path.join(r.dir, "cpu.csv"), "w") as f:
                f.write("# segment 0 pid 1\n" + "".join(f"{s},{s / 1000 * per}\n"
                                                         for s in (1000, 2000, 3000)))
            r.timed = report.timed_evals(r, "cpu")
        lines = report.seconds_table({"hpo (c)": [slow], "sac (c)": [fast]}, [3], "cpu")
        self.assertIn("| hpo (c) | 1 | 1 ± 0 | 6 ± 0 |", lines)
        self.assertIn("| sac (c) | 1 | 3 ± 0 | 3 ± 0 |", lines)
        self.assertTrue(lines[0].startswith("Return against CPU time"))
        # wall clock for the same runs: equal
        self.assertEqual(report.timed_evals(slow, "wall"), slow.evals)


class BlasLine(unittest.TestCase):
    def test_kernel_follows_coretype(self):
        # the log's kernel is the one the run gets: OPENBLAS_CORETYPE forces it
        with open("/proc/cpuinfo") as f:
            if " avx2" not in f.read():
                self.skipTest("no AVX2: OpenBLAS cannot take its Haswell kernel here")
        with unittest.mock.patch.dict(os.environ, {"OPENBLAS_CORETYPE": "Haswell"}):
            run._blas.clear()
            line = run.blas_line()
        run._blas.clear()
        if "not found" in line:
            self.skipTest("libopenblas.so.0 is not installed")
        self.assertTrue(line.startswith("# blas OpenBLAS kernel Haswell (OpenBLAS "), line)
        with unittest.mock.patch.dict(os.environ, {"OPENBLAS_CORETYPE": "Sandybridge"}):
            self.assertIn("kernel Sandybridge", run.blas_line())
        run._blas.clear()


class TimeToScore(unittest.TestCase):
    """bench/time-to-score's figures: seconds to a return, paired by seed."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_of(self, name, hits, seconds_per_step):
        # evaluations every 5k; the return reaches `hits` (steps -> return)
        rows = [{"env_steps": s, "eval_return": hits.get(s, 0.0), "updates": s - 5000 if s > 5000 else 0,
                 "wall_s": s * seconds_per_step} for s in range(5000, 30001, 5000)]
        return runs.read_run(make_run(self.tmp, name, rows))

    def test_paired_ratios(self):
        # seed 1: c reaches 3000 at 15k (150 s), torch at 20k (500 s): 10/3;
        # seed 2: c at 25k (250 s), torch at 25k (625 s): 2.5; seed 3's
        # torch run never gets there and is left out of the ratio
        c = {1: self.run_of("c1", {15000: 3000.0}, 0.01), 2: self.run_of("c2", {25000: 3100.0}, 0.01),
             3: self.run_of("c3", {10000: 3000.0}, 0.01)}
        t = {1: self.run_of("t1", {20000: 3000.0}, 0.025), 2: self.run_of("t2", {25000: 3000.0}, 0.025),
             3: self.run_of("t3", {}, 0.025)}
        rs = timing.ratios(t, c, 3000.0)
        self.assertEqual(len(rs), 2)
        self.assertAlmostEqual(rs[0], 500 / 150)
        self.assertAlmostEqual(rs[1], 2.5)
        self.assertAlmostEqual(timing.geo(rs), (500 / 150 * 2.5) ** 0.5)
        self.assertEqual(timing.secs_cell(t, 3000.0), "562 s at 22k (2/3)")
        # 25,000 updates over 300 s
        self.assertAlmostEqual(timing.updates_per_s(c[1]), 25000 / 300)
        text = timing.time_table({"env": "Ant", "seeds": [1, 2, 3], "steps": 30000,
                                  "targets": [3000.0, 9000.0], "actors": 2},
                                 {"c": c, "torch": t, "dist": {}})
        self.assertIn("| 3000 | 167 s at 17k (3/3) | 562 s at 22k (2/3) | 2.89x [2.50, 3.33] (n=2) |", text)
        self.assertIn("| 9000 | not reached (0/3) | not reached (0/3) | – |", text)
        self.assertIn("- hpo-train / torch_sac.py: 2.50x", text)
        # --precision bf16 names hpo-train's cells apart from the fp32 reference
        text = timing.time_table({"env": "Ant", "seeds": [1, 2, 3], "steps": 30000,
                                  "targets": [3000.0], "actors": 2, "precision": "bf16"},
                                 {"c": c, "torch": t, "dist": {}})
        self.assertIn("| target | hpo-train bf16 | torch_sac.py | torch_sac.py / hpo-train bf16 |",
                      text)
        self.assertIn("- hpo-train bf16 / torch_sac.py: 2.50x", text)
        self.assertNotIn("CPU seconds", text)  # no cpu.csv: no CPU table

    def test_cpu_seconds_to_target(self):
        # the same two seeds of each, now with the sweep's CPU samples: hpo-train
        # spends 0.005 s of CPU per step (half its wall: a loaded machine),
        # the reference 0.025 (all of its wall): seed 1 at 15k against 20k steps
        # is 75 against 500 CPU s, seed 2 at 25k against 25k 125 against 625
        def with_cpu(name, hits, wall, cpu):
            r = self.run_of(name, hits, wall)
            with open(os.path.join(r.dir, "cpu.csv"), "w") as f:
                f.write("# segment 0 pid 1\n" + "".join(f"{s},{s * cpu:.2f}\n"
                                                         for s in range(5000, 30001, 5000)))
            return r
        c = {1: with_cpu("c1", {15000: 3000.0}, 0.01, 0.005), 2: with_cpu("c2", {25000: 3100.0}, 0.01, 0.005)}
        t = {1: with_cpu("t1", {20000: 3000.0}, 0.025, 0.025), 2: with_cpu("t2", {25000: 3000.0}, 0.025, 0.025)}
        self.assertEqual(timing.cpu_hit(c[1], 3000.0), (15000, 75.0))
        text = timing.time_table({"env": "Ant", "seeds": [1, 2], "steps": 30000,
                                  "targets": [3000.0], "actors": 2}, {"c": c, "torch": t, "dist": {}})
        self.assertIn("CPU seconds of each run's process to the return", text)
        # 500/75 = 6.67 and 625/125 = 5: geometric mean 5.77
        self.assertIn("| 3000 | 100 s at 20k (2/2) | 562 s at 22k (2/2) | 5.77x [5.00, 6.67] (n=2) |", text)


class StatusEstimate(unittest.TestCase):
    """hpo-sweep status: the core-hours the unfinished cells still need, from
    the finished cells of the same environment, mode and implementation."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def sweep(self, cells, modes=("sac", "hpo")):
        """A sweep directory (Ant, modes, seeds 1-3, 1000 steps) whose cells
        are given as {rel: (env steps reached, wall_s, cpu_s or None)}."""
        d = os.path.join(self.tmp, "s%d" % len(os.listdir(self.tmp)))
        os.makedirs(d)
        g = {"version": 1, "env": ["Ant"], "mode": list(modes), "impl": ["c"],
             "seeds": [1, 2, 3], "sets": [], "steps": 1000}
        with open(os.path.join(d, "grid.json"), "w") as f:
            json.dump(g, f)
        for rel, (steps, wall, cpu) in cells.items():
            env, name = rel.split("/")
            os.makedirs(os.path.join(d, env), exist_ok=True)
            make_run(os.path.join(d, env), name,
                     [{"env_steps": steps, "eval_return": 5, "wall_s": wall}],
                     config={"mode": name.split("-")[0], "learning-starts": "100"})
            with open(os.path.join(d, rel, "log"), "w") as f:  # one start
                f.write("# 1796600000.000 2026-12-07 00:00:00 hpo-train --out x\n")
            if cpu is not None:
                with open(os.path.join(d, rel, "cpu.csv"), "w") as f:
                    f.write("# segment 1 pid 1\n0,0.5\n%d,%s\n" % (steps, cpu))
        return d

    def first_line(self, d):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli.main(["status", d], self.tmp), 0)
        return out.getvalue().splitlines()[0]

    def test_cpu_time_of_finished_cells(self):
        # sac: s1 done in 3600 CPU s (s2's wall-clock is not used beside it),
        # s3 half done: 1800 s; hpo: s1 done in 7200 CPU s, s2 and s3 to run
        d = self.sweep({"Ant/sac-c-s1": (1000, 9000, 3600), "Ant/sac-c-s2": (1000, 99999, None),
                        "Ant/sac-c-s3": (500, 100, None), "Ant/hpo-c-s1": (1000, 9000, 7200)})
        line = self.first_line(d)
        self.assertIn("3 done, 1 stopped, 2 not started", line)
        self.assertIn("about 4.5 core-hours left (CPU time of the finished cells)", line)

    def test_wall_clock_and_unknown(self):
        # no cpu.csv: wall-clock; hpo has no finished cell to go by
        d = self.sweep({"Ant/sac-c-s1": (1000, 7200, None), "Ant/sac-c-s2": (1000, 10800, None)})
        line = self.first_line(d)
        self.assertIn("about 2.5 core-hours left (wall-clock of the finished cells; "
                      "3 cells with no finished cell to go by)", line)
        # a run started twice whose cpu.csv has only the second start (a
        # resume after hpo-sweep began sampling) covers only part of the run:
        # wall-clock
        d = self.sweep({"Ant/sac-c-s1": (1000, 7200, 60), "Ant/sac-c-s2": (1000, 7200, None)},
                       modes=("sac",))
        with open(os.path.join(d, "Ant/sac-c-s1/log"), "a") as f:
            f.write("# 1796600100.000 2026-12-07 00:01:40 hpo-train --resume x\n")
        self.assertIn("about 2.0 core-hours left (wall-clock", self.first_line(d))

    def test_costs_from_other_sweeps(self):
        # hpo has no finished cell here; another sweep (budget 2000) has one
        # that took 7200 CPU s: 3.6 s a step, so hpo's three cells need 3.6 s
        # x 1000 steps each (3 h) beside sac's 2.5 h of wall-clock
        d = self.sweep({"Ant/sac-c-s1": (1000, 7200, None), "Ant/sac-c-s2": (1000, 10800, None)})
        other = self.sweep({"Ant/hpo-c-s1": (2000, 9999, 7200)}, modes=("hpo",))
        with open(os.path.join(other, "grid.json")) as f:
            g = json.load(f)
        g["steps"] = 2000
        with open(os.path.join(other, "grid.json"), "w") as f:
            json.dump(g, f)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli.main(["status", d, "--costs-from", other], self.tmp), 0)
        self.assertIn("about 5.5 core-hours left (the finished cells' CPU time, or wall-clock here "
                      "or in the --costs-from sweeps)", out.getvalue().splitlines()[0])
        with self.assertRaisesRegex(grid.Usage, "no grid.json"):
            cli.status([d, "--costs-from", self.tmp])

    def test_starts_before_a_restart_from_nothing(self):
        # a start that left no checkpoint (a machine lost mid-run) is marked
        # void when the run starts again from nothing: the start after the
        # mark has its cpu.csv segment, so CPU time counts; the machines of
        # the void start are no part of the run (no ‡ for the new machine)
        d = self.sweep({"Ant/sac-c-s1": (1000, 7200, 3600), "Ant/sac-c-s2": (1000, 7200, None)},
                       modes=("sac",))
        cell = os.path.join(d, "Ant/sac-c-s1")
        with open(os.path.join(cell, "log"), "w") as f:
            f.write("# 1796500000.000 2026-12-06 00:00:00 hpo-train --out x\n"
                    "# host old: Old CPU, 2 cores, avx2; OPENBLAS_CORETYPE not pinned\n"
                    "# 1796550000.000 2026-12-06 12:00:00 hpo-train --resume x\n")
        self.assertIn("about 2.0 core-hours left (wall-clock", self.first_line(d))
        os.unlink(os.path.join(cell, "cpu.csv"))
        os.unlink(os.path.join(cell, "progress.csv"))
        with open(os.path.join(cell, "cpu.csv"), "w") as f:
            f.write("# segment 1 pid 1\n0,0.5\n1000,3600\n")
        run.clear_partial(cell)  # the restart: cpu.csv goes too, the log is marked
        self.assertFalse(os.path.exists(os.path.join(cell, "cpu.csv")))
        with open(os.path.join(cell, "log")) as f:
            self.assertTrue(f.read().splitlines()[-1].startswith(runs.RESTART))
        self.assertEqual(runs.log_lines(cell), [])
        self.assertEqual(runs.machines(cell), [])
        make_run(os.path.join(d, "Ant"), "sac-c-s1-new",
                 [{"env_steps": 1000, "eval_return": 5, "wall_s": 7200}])
        for n in ("progress.csv", "config"):
            os.replace(os.path.join(d, "Ant/sac-c-s1-new", n), os.path.join(cell, n))
        with open(os.path.join(cell, "log"), "a") as f:
            f.write("# 1796600000.000 2026-12-07 00:00:00 hpo-train --out x\n"
                    "# host new: New CPU, 2 cores, avx2; OPENBLAS_CORETYPE not pinned\n")
        with open(os.path.join(cell, "cpu.csv"), "w") as f:
            f.write("# segment 2 pid 2\n0,0.5\n1000,3600\n")
        self.assertEqual(runs.machines(cell), ["New CPU, 2 cores, avx2; OPENBLAS_CORETYPE not pinned"])
        shutil.rmtree(os.path.join(d, "Ant/sac-c-s1-new"))
        self.assertIn("about 1.0 core-hours left (CPU time", self.first_line(d))

    def test_none_left_or_none_to_go_by(self):
        d = self.sweep({"Ant/sac-c-s%d" % i: (1000, 10, 5) for i in (1, 2, 3)}, modes=("sac",))
        self.assertTrue(self.first_line(d).endswith("3 done"))
        d = self.sweep({})
        self.assertIn("no estimate of what is left", self.first_line(d))


class Deadline(unittest.TestCase):
    """--deadline: the time it names, a cell's estimated wall-clock from its
    finished peers, and the held cells hpo-sweep status shows."""

    setUp, tearDown = StatusEstimate.setUp, StatusEstimate.tearDown
    sweep, first_line = StatusEstimate.sweep, StatusEstimate.first_line

    def test_when(self):
        now = 1796660000.0
        self.assertEqual(deadline.parse_deadline("+90m", now), now + 5400)
        self.assertEqual(deadline.parse_deadline("+2h", now), now + 7200)
        self.assertEqual(deadline.parse_deadline("+30", now), now + 30)
        self.assertEqual(deadline.parse_deadline("@1796670000", now), 1796670000)
        # 2026-12-07T18:30Z is 1796668200 (1796601600 is 2026-12-07T00:00Z)
        self.assertEqual(deadline.parse_deadline("2026-12-07T18:30Z", now), 1796668200)
        self.assertEqual(deadline.parse_deadline("2026-12-07T19:30+01:00", now), 1796668200)
        for bad in ("+", "+2d", "soon", "@x", "2026-13-01T00:00Z"):
            with self.assertRaisesRegex(grid.Usage, "is not a time"):
                deadline.parse_deadline(bad, now)
        with self.assertRaisesRegex(grid.Usage, "2026-12-07 00:00Z is past"):
            deadline.parse_deadline("2026-12-07T00:00Z", now)

    def test_estimate_from_peers(self):
        # sac: s1 and s2 done in 100 and 300 wall s for 1000 steps: 0.2 s a
        # step at the median; hpo has no finished cell here, another sweep's
        # hpo of other settings (its kind: Ant/hpo-c) gives 2 s a step
        d = self.sweep({"Ant/sac-c-s1": (1000, 100, None), "Ant/sac-c-s2": (1000, 300, None),
                        "Ant/sac-c-s3": (500, 50, None)})
        g = grid.read_grid(d)
        cells = grid.expand(g)[0]
        own = lambda: deadline.rates(d, cells, 1000, run.finished, run.progress_of)  # noqa: E731
        e = deadline.Estimate(own, {"Ant/hpo-c-tau=0.01": [2.0, 2.0, 5.0]})
        m = deadline.MARGIN
        self.assertAlmostEqual(e.seconds("Ant/sac-c-s3", 1000), 200 * m)
        self.assertAlmostEqual(e.seconds("Ant/hpo-c-s1", 500), 1000 * m)
        self.assertEqual(e.seconds("Ant/sac-c-s3", 0), 0)
        self.assertIsNone(deadline.Estimate(own, {}).seconds("Ant/hpo-c-s1", 500))
        # s3 has rows to 500 but no checkpoint: it restarts, all 1000 to run;
        # with a checkpoint, the 500 left; a finished cell has none left
        s3 = os.path.join(d, "Ant/sac-c-s3")
        self.assertEqual(run.steps_left(s3, 1000), 1000)
        open(os.path.join(s3, "checkpoint-500.ckpt"), "w").close()
        self.assertEqual(run.steps_left(s3, 1000), 500)
        self.assertEqual(run.steps_left(os.path.join(d, "Ant/sac-c-s1"), 1000), 0)

    def test_overrun_flag(self):
        # a sweep's --overrun, and confirm's passed on; neither without --deadline
        o = grid.parse_sweep_args(["--out", "x", "--env", "Ant", "--steps", "10",
                                   "--deadline", "+1h", "--overrun"], "")
        self.assertTrue(o["overrun"])
        self.assertFalse(grid.parse_sweep_args(["--out", "x", "--env", "Ant", "--steps", "10"],
                                               "")["overrun"])
        with self.assertRaisesRegex(grid.Usage, "--overrun: only with --deadline"):
            run.estimate(dict(o, deadline=None), [])
        from hposweep import search
        c = search.parse_confirm_args(["s", "--deadline", "+1h", "--overrun"])
        self.assertTrue(c["overrun"])
        self.assertFalse(search.parse_confirm_args(["s"])["overrun"])

    def test_status_shows_held_cells(self):
        d = self.sweep({"Ant/sac-c-s1": (1000, 100, None)})
        when = deadline.parse_deadline("2026-12-07T18:30Z", 0)
        held = {"pid": 0, "deadline": when, "cells": {"Ant/hpo-c-s2": 1500}}

        def hold(pid):
            with open(os.path.join(d, f".held-{pid}"), "w") as f:
                json.dump(dict(held, pid=pid), f)
        # a live process whose command line is an hpo-sweep's holds the cell
        sweep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "hpo-sweep"])
        try:
            # its command line is the new program's once exec has run (seen
            # read before that once, under load): wait for it, bounded
            for _ in range(500):
                if deadline.alive(sweep.pid):
                    break
                time.sleep(0.01)
            hold(sweep.pid)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                self.assertEqual(cli.main(["status", d], self.tmp), 0)
            held["overrun"] = True  # --overrun: the cell starts at the deadline
            hold(sweep.pid)
            out2 = io.StringIO()
            with contextlib.redirect_stdout(out2):
                self.assertEqual(cli.main(["status", d], self.tmp), 0)
        finally:
            sweep.kill()
            sweep.wait()
        text = out.getvalue()
        self.assertIn("1 done, 1 held, 4 not started", text.splitlines()[0])
        self.assertIn("| Ant/hpo-c-s2 | held (about 25 min to run: past its sweep's --deadline "
                      "2026-12-07 18:30Z) |", text)
        self.assertIn("| Ant/hpo-c-s2 | held (about 25 min to run: past its sweep's --deadline "
                      "2026-12-07 18:30Z; starts then, --overrun) |", out2.getvalue())
        # the file of a sweep that is gone, or whose pid is now another
        # program's (this test's own), is no hold
        self.assertIn("1 done, 5 not started", self.first_line(d))
        hold(os.getpid())
        self.assertIn("1 done, 5 not started", self.first_line(d))
        # a sweep's own file: written and removed by it
        deadline.write_held(d, when, {"Ant/hpo-c-s2": 1500})
        self.assertTrue(os.path.exists(deadline.held_path(d)))
        deadline.clear_held(d)
        self.assertFalse(os.path.exists(deadline.held_path(d)))


class Statistics(unittest.TestCase):
    def test_iqm(self):
        # the middle half of 1..7, 100: 3, 4, 5, 6
        x = np.array([[7, 1, 100, 3, 5, 2, 6, 4]], dtype=float)
        self.assertEqual(stats.iqm(x)[0], 4.5)
        self.assertEqual(stats.iqm(np.array([[1.0, 2.0, 9.0]]))[0], 4.0)  # 3 seeds: the mean

    def test_prob_improvement(self):
        # pairs of [1,2,3] and [2,2,2]: 0 wins for 1, 3 ties for 2, 3 wins for 3
        a, b = np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 2.0, 2.0]])
        self.assertAlmostEqual(stats.prob_improvement(a, b)[0], (0 + 1.5 + 3) / 9)
        self.assertEqual(stats.prob_improvement(np.array([[3.0, 4.0]]),
                                                np.array([[1.0, 2.0]]))[0], 1.0)
        point, lo, hi = stats.env_prob([3.0, 4.0], [1.0, 2.0])
        self.assertEqual((point, lo, hi), (1.0, 1.0, 1.0))
        # averaged over environments: (1 + 0) / 2
        p = stats.agg_prob([(np.array([3.0, 4.0]), np.array([1.0, 2.0])),
                            (np.array([0.0]), np.array([5.0]))])
        self.assertEqual(p[0], 0.5)

    def test_difference_interval_excludes_zero(self):
        # every resample's mean of A is >= 10 and of B <= 2: the interval lies
        # in [8, 12], the point is 10
        point, lo, hi = stats.env_diff([10.0, 11.0, 12.0], [0.0, 1.0, 2.0])
        self.assertEqual(point, 10.0)
        self.assertGreaterEqual(lo, 8.0)
        self.assertLessEqual(hi, 12.0)
        self.assertGreater(lo, 0.0)

    def test_difference_interval_includes_zero(self):
        # A and B both {0, 10}: a resample's mean is 0, 5, 10 with chance 1/4,
        # 1/2, 1/4, so the difference is -10 with chance 1/16 > 2.5%: the 95%
        # interval is exactly [-10, 10]
        point, lo, hi = stats.env_diff([0.0, 10.0], [0.0, 10.0])
        self.assertEqual((point, lo, hi), (0.0, -10.0, 10.0))

    def test_aggregate_difference(self):
        # normalized: env 1 differs by 1.0 exactly, env 2 by 0.5 exactly
        pairs = [(np.array([2.0, 2.0]), np.array([1.0, 1.0])),
                 (np.array([1.5]), np.array([1.0]))]
        self.assertEqual(stats.agg_diff(pairs), (0.75, 0.75, 0.75))

    def test_profile(self):
        scores = [np.array([0.5, 1.0]), np.array([1.5])]
        frac, lo, hi = stats.agg_profile(scores, [0.0, 0.75, 1.0, 2.0])
        self.assertEqual(list(frac), [1.0, 2 / 3, 1 / 3, 0.0])
        self.assertTrue(np.all(lo <= frac) and np.all(frac <= hi))
        self.assertEqual(hi[0], 1.0)

    def test_deterministic(self):
        a, b = [1.0, 5.0, 2.0, 8.0], [0.0, 4.0, 3.0]
        self.assertEqual(stats.env_diff(a, b), stats.env_diff(a, b))
        self.assertEqual(stats.agg_iqm([np.array(a)]), stats.agg_iqm([np.array(a)]))

    def test_normalization_source(self):
        self.assertEqual(report.published("Ant", 300000)[0], 3532)
        self.assertIsNone(report.published("Pendulum", 100000))


class TamperedGrid(unittest.TestCase):
    """A grid.json edited to hold an env that is a path: report and status
    refuse it (exit 2) and write nothing outside DIR. The runs, hpo-train and
    hpo-plot are there (fakes), so the report would otherwise reach the PNG."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.dir = os.path.join(self.tmp, "sweep")
        os.makedirs(self.dir)
        self.outside = os.path.join(self.tmp, "outside")
        self.fakes = {}
        for name, body in (("train", "echo '%s'" % json.dumps(DESCRIBED)),
                           ("plot", 'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo png > "$2"; '
                                    'shift; done')):
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(path, stat.S_IRWXU)
            self.fakes[name] = path
        self.env = dict(os.environ)
        os.environ.update(HPO_TRAIN=self.fakes["train"], HPO_PLOT=self.fakes["plot"])

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.env)
        shutil.rmtree(self.tmp)

    def run_cli(self, env_name, *cmd):
        with open(os.path.join(self.dir, "grid.json"), "w") as f:
            json.dump({"version": 1, "env": [env_name], "mode": ["sac"], "impl": ["c"],
                       "seeds": [1], "sets": [], "steps": 1000}, f)
        # the run where the tampered grid points, with evaluations
        cell = os.path.normpath(os.path.join(self.dir, env_name, "sac-c-s1"))
        os.makedirs(os.path.dirname(cell), exist_ok=True)
        if not os.path.isdir(cell):
            make_run(os.path.dirname(cell), "sac-c-s1",
                     [{"env_steps": 1000, "eval_return": 5, "wall_s": 1}])
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(list(cmd), self.tmp)
        return code, err.getvalue()

    def outside_files(self):
        return sorted(os.path.join(d, f) for d, _, fs in os.walk(self.tmp) for f in fs
                      if not os.path.join(d, f).startswith(self.dir + os.sep)
                      and not f.startswith(("progress.csv", "config", "train", "plot")))

    def test_absolute_env_refused(self):
        name = os.path.join(self.outside, "Ant")
        code, err = self.run_cli(name, "report", self.dir)
        self.assertEqual(code, 2, err)
        self.assertIn(f"env '{name}' is not a plain name", err)
        self.assertIn(os.path.join(self.dir, "grid.json"), err)
        self.assertEqual(self.outside_files(), [])

    def test_dotdot_env_refused(self):
        for cmd in ("report", "status"):
            code, err = self.run_cli("../outside/Ant", cmd, self.dir)
            self.assertEqual(code, 2, err)
            self.assertIn("env '../outside/Ant' is not a plain name", err)
        self.assertEqual(self.outside_files(), [])

    def test_plain_env_reported_inside(self):
        code, err = self.run_cli("Ant", "report", self.dir, "--no-png")
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "report.md")))

    def test_report_seeds(self):
        # a growing sweep reported on its finished seeds only: seed 2's run
        # under way (return 900) is left out by --seeds 1
        self.run_cli("Ant", "report", self.dir, "--no-png")
        make_run(os.path.join(self.dir, "Ant"), "sac-c-s2",
                 [{"env_steps": 1000, "eval_return": 900, "wall_s": 1}], {"seed": "2"})
        with open(os.path.join(self.dir, "grid.json"), "w") as f:
            json.dump({"version": 1, "env": ["Ant"], "mode": ["sac"], "impl": ["c"],
                       "seeds": [1, 2], "sets": [], "steps": 1000}, f)

        def returns(*extra):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(cli.main(["report", self.dir, "--no-png", "--marks", "1000"]
                                          + list(extra), self.tmp), 0)
            return [ln for ln in out.getvalue().splitlines() if ln.startswith("| sac (c)")][0]

        self.assertIn("| 2 | 452 ± 448 [5, 900]", returns())
        self.assertIn("| sac (c) | 1 | 5 ± 0 |", returns("--seeds", "1"))
        code, err = self.run_cli("Ant", "report", self.dir, "--seeds", "1-x")
        self.assertEqual(code, 2, err)
        self.assertIn("--seeds: bad", err)

    def test_dist_keys_checked(self):
        # grid.json's actors and kill_at become cell names: integers only
        for bad in ({"actors": "2; rm"}, {"actors": 0}, {"kill_at": ["../x"]},
                    {"kill_at": [-1]}, {"kill_at": []}):
            with open(os.path.join(self.dir, "grid.json"), "w") as f:
                json.dump(dict({"version": 1, "env": ["Ant"], "mode": ["sac"],
                                "impl": ["dist"], "seeds": [1], "sets": [], "steps": 1000},
                               **bad), f)
            with self.assertRaises(cli.Usage, msg=str(bad)):
                grid.read_grid(self.dir)
        g = {"version": 1, "env": ["Ant"], "mode": ["sac"], "impl": ["dist", "c"],
             "seeds": [1], "sets": [], "steps": 1000, "actors": 3, "kill_at": [0, 500]}
        cells, _ = grid.expand(g)
        self.assertEqual([c["rel"] for c in cells],
                         ["Ant/sac-dist-s1", "Ant/sac-dist-kill500-s1", "Ant/sac-c-s1"])
        self.assertEqual([c.get("actors") for c in cells], [3, 3, None])

    def test_added_settings_at_their_neutral_value(self):
        # a cell recorded by a build without precision / clip-grad matches a
        # newer build's config that has them at the values computing the same;
        # another value, or another setting changed, is refused with the reason
        then = "env = Ant\nmode = sac\nlr = 0.0003\n"
        now = then + "clip-grad = zero\nprecision = fp32\n"
        self.assertTrue(grid.same_config(then, now))
        self.assertFalse(grid.same_config(then, now.replace("fp32", "bf16")))
        self.assertFalse(grid.same_config(then, now.replace("0.0003", "0.001")))
        self.assertFalse(grid.same_config(now, then))  # a setting dropped
        cell = {"rel": "Ant/sac-c-s1", "env": "Ant", "mode": "sac", "impl": "c",
                "seed": 1, "setting": []}
        grid.check_cell(self.dir, cell, then)
        grid.check_cell(self.dir, cell, now)
        with self.assertRaises(cli.Usage) as e:
            grid.check_cell(self.dir, cell, now.replace("fp32", "bf16"))
        self.assertIn("precision: None then, bf16 now", str(e.exception))
        with self.assertRaises(cli.Usage):
            grid.check_cell(self.dir, dict(cell, seed=2), now)

    def test_env_flag_refused(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = cli.main(["--out", self.dir, "--env", "../x", "--steps", "1000"], self.tmp)
        self.assertEqual(code, 2)
        self.assertIn("--env: '../x' is not an environment name", err.getvalue())


if __name__ == "__main__":
    unittest.main()
