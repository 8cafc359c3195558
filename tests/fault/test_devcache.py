#!/usr/bin/env python3
"""test_devcache.py: power cuts with a volatile device write cache
(mount option device_cache, eiocbctl MNT crash --device-cache=MODE), on a
real mount. Writes the device completed since its last flush (fsync, an
O_SYNC write, a journal commit) are lost (drop), cut to a prefix of whole
sectors (tear) or kept or lost each (reorder); every fsync'd byte
survives (docs/semantics.md P6), fsck -n is clean or -y repairs to clean,
and the plain crash keeps today's behaviour (the completed write stays).

The direct overwrites below change no mapping, and the crash follows them
at once (well before the journal's 5 s timer commit flushes the device).
"""

import mmap
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
FSCK = os.environ.get("FSCK_EIOCBFS", "")
BS = 4096


def pwrite_direct(path, data, off=0):
    buf = mmap.mmap(-1, len(data))
    buf[:] = data
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        os.pwrite(fd, buf, off)
    finally:
        os.close(fd)


def pattern(tag, n):
    return b"".join(b"%s %06d|" % (tag, i) for i in range(n // 10 + 1))[:n]


class DeviceCache(harness.MountTestCase):
    image_size = "64M"
    mount_opts = ("device_cache",)

    def make(self, name, data):
        with open(self.p(name), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def crash(self, *args):
        r = subprocess.run([EIOCBCTL, self.mnt, "crash"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.m.proc.wait(30), 0, self.m.output())
        self.m.kill()  # forget the dead daemon
        r2 = subprocess.run([FSCK, "-n", self.target], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
        if r2.returncode != 0:  # repairs to clean
            self.assertIn(subprocess.run([FSCK, "-y", self.target], stdout=subprocess.DEVNULL)
                          .returncode, (0, 1), r2.stdout)
        self.m = harness.Mount(self.target, self.mnt, opts=[]).start()  # replay
        return r.stdout

    def read(self, name):
        with open(self.p(name), "rb") as f:
            return f.read()

    def setup_files(self, n=1):
        """durable: fsync'd and never touched again; c0..: fsync'd old data,
        then overwritten in place with O_DIRECT and not flushed."""
        self.make("durable", pattern(b"durable", 4 * BS))
        olds, news = [], []
        for i in range(n):
            olds.append(pattern(b"old%d" % i, 4 * BS))
            news.append(pattern(b"new%d" % i, 4 * BS))
            self.make("c%d" % i, olds[i])
        for i in range(n):
            pwrite_direct(self.p("c%d" % i), news[i])  # completed, in the device's cache
        return olds, news

    def test_drop_loses_exactly_the_unflushed_writes(self):
        olds, news = self.setup_files()
        out = self.crash("--device-cache=drop")
        self.assertIn("lost", out)
        self.assertEqual(self.read("durable"), pattern(b"durable", 4 * BS))
        self.assertEqual(self.read("c0"), olds[0])

    def test_tear_keeps_a_sector_prefix(self):
        olds, news = self.setup_files()
        self.crash("--device-cache=tear", "--seed=7")
        self.assertEqual(self.read("durable"), pattern(b"durable", 4 * BS))
        got = self.read("c0")
        cuts = [k for k in range(0, len(got), 512) if got == news[0][:k] + olds[0][k:]]
        self.assertEqual(len(cuts), 1, "not a sector prefix of the new data on the old")

    def test_reorder_keeps_some_writes_whole(self):
        olds, news = self.setup_files(6)
        out = self.crash("--device-cache=reorder", "--seed=3")
        self.assertEqual(self.read("durable"), pattern(b"durable", 4 * BS))
        kept = [self.read("c%d" % i) == news[i] for i in range(6)]
        for i in range(6):
            self.assertIn(self.read("c%d" % i), (olds[i], news[i]))
        self.assertIn("%d kept" % sum(kept), out)

    def test_plain_crash_keeps_completed_writes(self):
        olds, news = self.setup_files()
        self.crash()
        self.assertEqual(self.read("c0"), news[0])  # today's behaviour: no device cache

    def test_needs_the_mount_option(self):
        self.remount(opts=[])
        r = subprocess.run([EIOCBCTL, self.mnt, "crash", "--device-cache=drop"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("device_cache", r.stderr)
        r = subprocess.run([EIOCBCTL, self.mnt, "crash", "--device-cache=melt"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIsNone(self.m.proc.poll())  # refused: still running


if __name__ == "__main__":
    if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
        harness.skip_program("eiocbctl is not built")
    if not FSCK or not os.access(FSCK, os.X_OK):
        harness.skip_program("fsck.eiocbfs is not built")
    harness.run_tests(globals())
