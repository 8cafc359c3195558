#!/usr/bin/env python3
"""test_load.py: the short run of tools/eiocb-load on a real mount: the model stays
exact under runtime faults, and the daemon's memory stays bounded.

32 processes for ~20 s (LONG=1: 64 processes, 120 s) of mixed metadata
(create/rename/unlink/mkdir/rmdir/xattr/truncate/fsync), buffered and
O_DIRECT I/O, with faults turned on at runtime through eiocbctl
(invalidate 5%, device_write 2%, device_read 1%: docs/semantics.md 6). Checks:
- every byte, size, name and xattr matches the exact model, shared
  checksummed records are intact (exit 0, "mismatches": 0);
- the only errors are EIO on data I/O (what the faults inject), and the
  faults did fire (direct writes saw EIO);
- the daemon's peak RSS (VmHWM) stays under cache_mb plus the documented
  fixed overhead (README "Faults and bad input"); not checked in sanitizer
  builds, whose shadow memory is not ours;
- unmount is clean and fsck.eiocbfs -n finds nothing (harness).
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402

LOAD = os.environ.get("EIOCB_LOAD", "")
EIOCBCTL = os.environ.get("EIOCBCTL", "")
SANITIZED = os.environ.get("EIOCBFS_SANITIZE", "") != ""
CACHE_MB = 16
# Measured (README): ~240 MiB above the page cache under this load, most of
# it glibc arenas keeping freed I/O buffers; 400 MiB leaves room for noise.
FIXED_OVERHEAD_MB = 400


class Load(MountTestCase):
    image_size = "512M"
    def setUp(self):
        # Our own control socket: independent of /run/eiocbfs (other tests).
        self.sock = os.path.join(harness.new_dir("ctl-"), "ctl.sock")
        self.mount_opts = ("cache_mb=%d" % CACHE_MB, "control=" + self.sock)
        super().setUp()

    def test_load_model_exact_under_faults(self):
        procs, secs = (64, 120) if harness.LONG else (32, 20)
        argv = [LOAD, "-p", str(procs), "-t", str(secs), "-S", "7", "--json",
                "--pid", str(self.m.proc.pid), "--eiocbctl", EIOCBCTL, "--mount", self.mnt,
                "--fault", "invalidate probability=5",
                "--fault", "device_write probability=2 io=direct",
                "--fault", "device_read probability=1 io=direct",
                self.mnt]
        env = dict(os.environ, EIOCBCTL_SOCKET=self.sock)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=secs + 300, env=env)
        harness.log(r.stdout.strip())
        if r.stderr:
            harness.log(r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        self.assertTrue(res["ok"])
        self.assertEqual(res["procs"], procs)
        self.assertEqual(res["mismatches"], 0)
        self.assertEqual(res["unexpected_errors"], 0)
        self.assertEqual(res["shared_torn"], 0)
        self.assertGreater(res["bytes_verified"], 0)
        self.assertGreater(res["shared_records_written"], 0)
        for op in ("create", "rename", "unlink", "mkdir", "setxattr", "buffered_write",
                   "direct_write", "direct_read"):
            self.assertGreater(res["ops"][op], 0, op)
        self.assertGreater(res["errors"].get("direct_write EIO", 0), 0,
                           "the device_write/invalidate faults never reached a writer")
        for kind in res["errors"]:
            self.assertTrue(kind.endswith(" EIO"), kind)
        d = res["daemon"]
        self.assertGreater(d["vmhwm_kb"], 0)
        if not SANITIZED:
            self.assertLess(d["vmhwm_kb"], (CACHE_MB + FIXED_OVERHEAD_MB) * 1024, d)
        # The daemon is alive and its faults are off again.
        r = subprocess.run([EIOCBCTL, self.mnt, "fault"], stdout=subprocess.PIPE, text=True,
                           timeout=30, env=env)
        self.assertEqual(r.returncode, 0)
        self.assertNotIn(" on ", " " + r.stdout)


if __name__ == "__main__":
    for tool, path in (("eiocb-load", LOAD), ("eiocbctl", EIOCBCTL)):
        if not path or not os.access(path, os.X_OK):
            harness.skip_program(tool + " is not built")
    harness.run_tests(globals())
