#!/usr/bin/env python3
"""test_fsx.py: eiocb-fsx (tools/eiocb-fsx.c, a file system exerciser with
fsx's operations) on a mount; each run passes only if the exerciser says
"All N operations completed A-OK!" and exits 0, and the image is clean
(fsck -n) after the unmount.

- the default mode: reads, writes, mapped reads and writes (MAP_SHARED,
  msync), truncates, fallocate, punch hole, zero range, one file, every
  read and the size checked against a copy in memory;
- with -Z: reads and writes O_DIRECT against the mapped ones (the
  kernel's mapping pages and eiocbfs' own cache kept coherent);
- the exerciser is a real check: with direct reads corrupted by a fault
  point it fails, naming the bad bytes.

EIOCBFS_FSX_OPS sets the default mode's operation count (the long run:
100000, README's "Run the tests"); EIOCBFS_FSX_SEED its seed (0: from the
clock). Runs are shorter in the sanitizer builds (EIOCBFS_SANITIZE).
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FSX = os.environ.get("EIOCB_FSX", "")
SANITIZED = os.environ.get("EIOCBFS_SANITIZE", "") != ""
OPS = int(os.environ.get("EIOCBFS_FSX_OPS") or (2500 if SANITIZED else 10000))
SEED = os.environ.get("EIOCBFS_FSX_SEED", "1")


class FsxMount(harness.MountTestCase):

    image_size = "256M"

    def setUp(self):
        if not FSX or not os.access(FSX, os.X_OK):
            self.skipTest("eiocb-fsx is not built")
        super().setUp()

    def fsx(self, *args):
        cmd = [FSX, "-q", "-S", SEED] + list(args) + [self.p("fsx.file")]
        t0 = time.monotonic()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600)
        harness.log("%s: exit %d in %.1f s: %s" % (" ".join(cmd[1:-1]), r.returncode, time.monotonic() - t0,
                                                    r.stdout.strip().splitlines()[-1:]))
        return r

    def assertAOK(self, r, ops):
        self.assertEqual(r.returncode, 0, r.stdout[-6000:])
        self.assertIn("All %d operations completed A-OK!" % ops, r.stdout)


class Fsx(FsxMount):

    def test_default_mode(self):
        self.assertAOK(self.fsx("-N", str(OPS)), OPS)

    def test_direct_against_mapped(self):
        ops = OPS // 3
        self.assertAOK(self.fsx("-Z", "-N", str(ops)), ops)


class FsxCatchesCorruption(FsxMount):
    """Direct reads flip bits on their way from the device (fault point
    device_read, kind=corrupt): the exerciser must see it."""

    mount_opts = ("fault=device_read:kind=corrupt:io=direct:probability=20:seed=3",)

    def test_corrupt_direct_reads(self):
        r = self.fsx("-Z", "-N", "2000")
        self.assertEqual(r.returncode, 1, r.stdout[-3000:])
        self.assertIn("bad data", r.stdout)
        self.assertIn("LOG DUMP", r.stdout)


if __name__ == "__main__":
    harness.run_tests(globals())
