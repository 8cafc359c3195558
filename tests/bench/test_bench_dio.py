#!/usr/bin/env python3
"""test_bench_dio.py: tools/bench/bench-dio, briefly, on the build (raw, eiocbfs,
fusenull; tiny jobs). Asserts that the run succeeds, that its JSON holds the
figures the README reports (IOPS and bandwidth of every job on every
target, daemon CPU per request and RSS, the machine CPU split, the composite
line, the page-cache ratio, the sweep) and that they agree with each other, that a wrong option
fails with one line, and that no mount or work directory is left behind.
Not a timing test: no figure is compared with a goal.
SKIPs (77) with the reason where this machine cannot run it.
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(TOP, "tools", "bench", "bench-dio")
BUILD = os.environ.get("EIOCBFS_BUILD", os.path.join(TOP, "build"))
WORK = os.environ.get("BENCH_WORK", "/var/tmp/eiocbfs-bench-test")
TARGETS = ["raw", "eiocbfs", "fusenull"]


def blocker():
    if os.geteuid() != 0:
        return "bench-dio needs root (it mounts)"
    for prog in ("fio", "fusermount3"):
        if not shutil.which(prog):
            return "%s is missing (tools/install-deps.sh)" % prog
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        return "/dev/fuse is not usable: %s" % e.strerror
    return None


def mounts_under(root):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(root)]


class BenchDio(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(WORK, exist_ok=True)
        cmd = [sys.executable, BENCH, "--quick", "--json", "--build", BUILD, "--dir", WORK,
               "--targets", ",".join(TARGETS), "--runtime", "0.3", "--qd", "1,8", "--size", "32M",
               "--svg", os.path.join(WORK, "qd.svg")]
        cls.run_ = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=500)
        try:
            cls.res = json.loads(cls.run_.stdout)
        except ValueError:
            cls.res = None

    def test_run_succeeds_and_cleans_up(self):
        self.assertEqual(self.run_.returncode, 0, self.run_.stderr[-2000:])
        self.assertEqual(mounts_under(WORK), [])
        self.assertEqual([d for d in os.listdir(WORK) if d.startswith("eiocbfs-bench-")], [])

    def test_every_job_on_every_target(self):
        self.assertIsNotNone(self.res, self.run_.stderr[-2000:])
        jobs = {(r["job"], r["target"]): r for r in self.res["jobs"]}
        names = {r["job"] for r in self.res["jobs"]}
        self.assertEqual(len(names), 6)
        for name in names:
            for t in TARGETS:
                r = jobs[(name, t)]
                self.assertNotIn("error", r, r)
                self.assertGreater(r["iops"], 0, r)
                self.assertGreater(r["mb_s"], 0, r)

    def test_cpu_split_is_consistent(self):
        self.assertIsNotNone(self.res)
        for r in self.res["jobs"]:
            if r["bs"] != "4k":
                continue
            parts = r["fio_cpu_us_per_req"] + r["rest_cpu_us_per_req"] + r.get("daemon_cpu_us_per_req", 0)
            self.assertAlmostEqual(r["machine_cpu_us_per_req"], parts, places=6)
            self.assertGreater(r["fio_cpu_us_per_req"], 0, r)
            self.assertAlmostEqual(r["machine_busy_cpus"], r["machine_cpu_us_per_req"] * r["iops"] / 1e6, places=6)
            if r["target"] == "raw":
                self.assertNotIn("daemon_cpu_us_per_req", r)  # no daemon serves the raw file
            else:
                self.assertGreater(r["daemon_cpu_us_per_req"], 0, r)
                self.assertLessEqual(r["daemon_user_us_per_req"], r["daemon_cpu_us_per_req"] + 1e-9)
                rss, hwm = r["daemon_rss_kib"], r["daemon_hwm_kib"]
                self.assertGreater(rss, 0)
                self.assertGreaterEqual(hwm, rss)

    def test_composite_line(self):
        """raw's plus fusenull's machine CPU per 4k request, eiocbfs' against it."""
        self.assertIsNotNone(self.res)
        jobs = {(r["job"], r["target"]): r for r in self.res["jobs"]}
        comp = self.res["composite"]
        self.assertEqual(len(comp), 4)  # the four 4 KiB jobs
        for c in comp:
            raw, null, eio = (jobs[(c["job"], t)] for t in ("raw", "fusenull", "eiocbfs"))
            self.assertAlmostEqual(c["composite_us"],
                                   raw["machine_cpu_us_per_req"] + null["machine_cpu_us_per_req"], places=6)
            self.assertAlmostEqual(c["ratio"] * c["composite_us"], eio["machine_cpu_us_per_req"], places=6)
            self.assertAlmostEqual(c["iops_bound"] * c["composite_us"], os.cpu_count() * 1e6, places=3)

    def test_page_cache_and_sweep(self):
        self.assertIsNotNone(self.res)
        cache = {r["direct"]: r for r in self.res["cache"]}
        self.assertEqual(set(cache), {0, 1})
        for r in cache.values():
            self.assertNotIn("error", r, r)
            self.assertEqual(r["target"], "eiocbfs")
        hits, misses = self.res["cache_hits"]
        self.assertGreater(hits, 0)  # the buffered job was served from eiocbfs' cache
        sweep = {(r["iodepth"], r["target"]) for r in self.res["sweep"] if "error" not in r}
        self.assertEqual(sweep, {(qd, t) for qd in (1, 8) for t in TARGETS})
        with open(self.res["svg"]) as f:
            svg = f.read()
        self.assertIn("<svg", svg)
        for t in TARGETS:
            self.assertIn(">%s<" % t, svg)  # a labelled line per target

    def test_wrong_option_is_one_line(self):
        r = subprocess.run([sys.executable, BENCH, "--targets", "raw,nosuch"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown target nosuch", r.stderr)
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    why = blocker()
    if why:
        print("SKIP: " + why)
        sys.exit(77)
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
