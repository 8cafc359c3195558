#!/usr/bin/env python3
"""test_rss_mount.py: the daemon's memory stays within the page cache's
limit plus a documented fixed overhead (pagecache.h "Memory").

Mounts with -o cache_mb=CACHE_MB, writes a file larger than the cache,
remounts (the kernel's own cache is then cold), reads the file buffered
with dd, and checks the daemon's VmHWM (peak RSS, /proc/PID/status)
against CACHE_MB + FIXED_MB. Prints VmRSS/VmHWM, the figures in README.
Uses the mount harness (tests/mount/harness.py): unmounts on every path,
SKIPs (77) where this machine cannot mount, and in a sanitizer build
(EIOCBFS_SANITIZE set). Environment: CACHE_MB (64), FILE_MB (160),
FIXED_MB (64).
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mount"))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402

CACHE_MB = int(os.environ.get("CACHE_MB", "64"))
FILE_MB = int(os.environ.get("FILE_MB", "160"))
# The daemon apart from the page cache (code, libraries, thread stacks, the
# block cache, FUSE buffers) plus the cache's own fixed overhead (one 2 MiB
# slab chunk per shard, 32 MiB at most, and its per-page headers).
FIXED_MB = int(os.environ.get("FIXED_MB", "64"))


def vm(pid):
    """(VmRSS, VmHWM) of pid in MiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out["VmRSS"], out["VmHWM"]


class Rss(MountTestCase):
    image_size = "%dM" % (FILE_MB + 96)
    mount_opts = ("cache_mb=%d" % CACHE_MB,)

    @unittest.skipIf(os.environ.get("EIOCBFS_SANITIZE"),
                     "a sanitizer build's RSS is its shadow memory and quarantine")
    def test_buffered_read_within_cache_plus_fixed(self):
        path = self.p("big")
        subprocess.run(["dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=%d" % FILE_MB,
                        "conv=fsync", "status=none"], check=True)
        self.remount()
        pid = self.m.proc.pid
        rss0, hwm0 = vm(pid)
        subprocess.run(["dd", "if=" + path, "of=/dev/null", "bs=1M", "status=none"], check=True)
        rss, hwm = vm(pid)
        harness.log("cache_mb=%d, %d MiB read buffered: VmRSS %.1f MiB (%.1f before the read), "
                    "VmHWM %.1f MiB, bound %d MiB" % (CACHE_MB, FILE_MB, rss, rss0, hwm,
                                                     CACHE_MB + FIXED_MB))
        self.assertLessEqual(hwm, CACHE_MB + FIXED_MB)
        # The cache did fill: the read is not served from elsewhere.
        self.assertGreater(rss - rss0, CACHE_MB / 2)


if __name__ == "__main__":
    harness.run_tests(globals())
