#!/usr/bin/env python3
"""test_oops_log.py: legacy mode's oops records in the daemon's log.

A foreground (-f) legacy mount logs to stderr (the harness keeps it in
MNT.log; a detached daemon sends the same lines to syslog): one oops record
per detected double completion (docs/semantics.md section 4, legacy: "detected,
counted and logged as an oops report") up to the limit (fs/daemon/daemon_log.h,
EF_OOPS_BURST), then only counts, at most one a second and a last one at
unmount, so that records + counts = the double completions the daemon
counted.
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402

STRESS = os.environ.get("EIOCB_STRESS", "")
EIOCBCTL = os.environ.get("EIOCBCTL", "")
AIO_COUNT = os.environ.get("AIO_COUNT", "")
BURST = 10  # EF_OOPS_BURST
RECORD = re.compile(r"^eiocbfs: oops: .*iocb #\d+ gen \d+", re.M)
COUNT = re.compile(r"^eiocbfs: oops: (\d+) more oops records not logged", re.M)


def run(argv, timeout=120):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


class LegacyOopsLog(MountTestCase):
    image_size = "128M"
    mount_opts = ("semantics=legacy",)

    def setUp(self):
        super().setUp()
        try:
            fd = os.open(self.p("probe"), os.O_RDWR | os.O_CREAT | os.O_DIRECT)
        except OSError:
            self.skipTest("this mount has no direct path (the image's filesystem lacks O_DIRECT)")
        os.close(fd)
        os.unlink(self.p("probe"))

    def ctl(self, *args):
        r = run([EIOCBCTL, self.mnt] + list(args), timeout=30)
        self.assertEqual(r.returncode, 0, "eiocbctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def doubles(self):
        return json.loads(self.ctl("stats", "--json"))["ioctx"]["double_completions"]

    def log(self):
        return self.m.output()

    def test_one_record_per_double_completion_then_counts(self):
        run([AIO_COUNT, "-n", "2", self.p("f")])
        self.assertEqual(self.doubles(), 0)
        # Three times: one failed invalidation after submission while the
        # device write is held in flight = one double completion, one record.
        for k in range(1, 4):
            self.ctl("fault", "delay", "ms=100")
            self.ctl("fault", "invalidate", "errno=EIO", "times=1")
            run([AIO_COUNT, "-q", "1", "-n", "5", self.p("f")])
            time.sleep(0.3)
            self.ctl("fault", "delay", "off")
            self.assertEqual(self.doubles(), k)
            self.assertEqual(len(RECORD.findall(self.log())), k, self.log())
        # A burst far past the limit: the records stop at the limit.
        self.ctl("fault", "invalidate", "errno=EIO", "probability=30")
        t0 = time.monotonic()
        r = run([STRESS, "-t", "2", "-w", "2", "-q", "8", "-r", "2", "-s", "4M", "-D", "30",
                 "--json", self.p("stress.dat")], timeout=180)
        self.ctl("fault", "invalidate", "off")
        self.assertIn(r.returncode, (0, 1), r.stdout + r.stderr)
        total = self.doubles()
        self.assertGreater(total, 3 * BURST, "too few double completions to test the limit")
        self.m.unmount()  # the last count is written at unmount
        elapsed = time.monotonic() - t0
        out = self.log()
        self.assertEqual(len(RECORD.findall(out)), BURST, out)
        counts = [int(n) for n in COUNT.findall(out)]
        self.assertEqual(BURST + sum(counts), total, out)
        self.assertLessEqual(len(counts), elapsed + 2, out)  # one a second, one at the end


if __name__ == "__main__":
    harness.run_tests(globals())
