#!/usr/bin/env python3
"""test_atime.py: access times, on eiocbfs and (the same tests) on ext4.

Linux's rules for the mount options (touch_atime, relatime_need_update):
- relatime, the default: a read (buffered or O_DIRECT) or a directory
  listing updates the access time when it is not later than the
  modification or change time (or is a day old), so the first read after
  a write updates it and the next ones do not;
- strictatime: every read updates it; noatime: none does;
- the access time lasts across a remount; with lazytime the update is
  kept in memory and written at unmount (and at fsync);
- eiocbfs alone (a power cut is `eiocbctl MNT crash`): without lazytime
  the update is in the journal, so the fsync of another file makes it
  durable; with lazytime it is not, only that file's own fsync is.
"""

import mmap
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
TICK = 0.05  # longer than ext4's timestamp granularity (a jiffy)


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def atime(path):
    return os.stat(path).st_atime_ns


def make(path, data=b"x" * 8192):
    with open(path, "wb") as f:
        f.write(data)
    time.sleep(TICK)


class Atime:

    def test_relatime_read_after_write_only(self):
        p = self.p("f")
        make(p)
        read_all(p)
        a1 = atime(p)
        self.assertGreater(a1, os.stat(p).st_mtime_ns, "the first read after a write updates atime")
        time.sleep(TICK)
        read_all(p)
        self.assertEqual(atime(p), a1, "a second read leaves atime (relatime)")
        with open(p, "ab") as f:
            f.write(b"more")
        time.sleep(TICK)
        read_all(p)
        a2 = atime(p)
        self.assertGreater(a2, os.stat(p).st_mtime_ns, "a read after a new write updates atime")
        time.sleep(TICK)
        read_all(p)
        self.assertEqual(atime(p), a2)

    def test_relatime_odirect_read(self):
        p = self.p("f")
        make(p)
        buf = mmap.mmap(-1, 4096)
        self.addCleanup(buf.close)
        fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
        try:
            self.assertEqual(os.preadv(fd, [buf], 0), 4096)
        finally:
            os.close(fd)
        self.assertGreater(atime(p), os.stat(p).st_mtime_ns)

    def test_relatime_listing(self):
        d = self.p("d")
        os.mkdir(d)
        make(os.path.join(d, "x"))
        os.listdir(d)
        a1 = atime(d)
        self.assertGreater(a1, os.stat(d).st_mtime_ns, "listing a changed directory updates atime")
        time.sleep(TICK)
        os.listdir(d)
        self.assertEqual(atime(d), a1)

    def test_atime_lasts_across_remount(self):
        p = self.p("f")
        make(p)
        read_all(p)
        a1 = atime(p)
        self.assertGreater(a1, os.stat(p).st_mtime_ns)
        self.remount()
        self.assertEqual(atime(p), a1)

    def test_strictatime_every_read(self):
        self.remount(("strictatime",))
        p = self.p("f")
        make(p)
        read_all(p)
        a1 = atime(p)
        time.sleep(TICK)
        read_all(p)
        a2 = atime(p)
        self.assertGreater(a2, a1)
        time.sleep(TICK)
        os.listdir(self.mnt)
        a3 = atime(self.mnt)
        time.sleep(TICK)
        os.listdir(self.mnt)
        self.assertGreater(atime(self.mnt), a3)

    def test_noatime_never(self):
        self.remount(("noatime",))
        p = self.p("f")
        make(p)
        a0 = atime(p)
        read_all(p)
        os.listdir(self.mnt)
        self.assertEqual(atime(p), a0)
        d0 = atime(self.mnt)
        os.listdir(self.mnt)
        self.assertEqual(atime(self.mnt), d0)

    def test_chattr_noatime_flag(self):
        p = self.p("f")
        make(p)
        r = subprocess.run(["chattr", "+A", p], stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            self.skipTest("chattr +A: " + r.stderr.strip())
        a0 = atime(p)
        read_all(p)
        self.assertEqual(atime(p), a0)

    def test_lazytime_seen_and_written_at_unmount(self):
        self.remount(("lazytime",))
        p = self.p("f")
        make(p)
        read_all(p)
        a1 = atime(p)
        self.assertGreater(a1, os.stat(p).st_mtime_ns)
        time.sleep(TICK)
        read_all(p)
        self.assertEqual(atime(p), a1, "lazytime is still relatime")
        self.remount(("lazytime",))
        self.assertEqual(atime(p), a1)


linuxfs.twins(Atime, globals())


class AtimeDurable(linuxfs.EiocbfsCase):
    """Where an access time update lives before it is written (power cut)."""

    image_size = "64M"

    def setUp(self):
        if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
            self.skipTest("eiocbctl is not built")
        self.sock = os.path.join(harness.new_dir("s-"), "ctl.sock")
        self.mount_opts = ("control=" + self.sock,)
        super().setUp()

    def crash_and_mount(self):
        r = subprocess.run([EIOCBCTL, self.mnt, "crash"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30, env=dict(os.environ, EIOCBCTL_SOCKET=self.sock))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.m.proc.wait(30), 0, self.m.output())
        self.m.kill()
        self.m = harness.Mount(self.target, self.mnt, opts=self.mount_opts).start()

    def read_then_fsync(self, lazy, fsync_same):
        if lazy:
            self.mount_opts += ("lazytime",)
            self.remount()
        p, other = self.p("f"), self.p("other")
        make(p)
        with open(p, "rb") as f:
            os.fsync(f.fileno())
        a0 = atime(p)
        read_all(p)
        a1 = atime(p)
        self.assertGreater(a1, a0)
        with open(p if fsync_same else other, "ab") as f:
            if not fsync_same:
                f.write(b"y")
            os.fsync(f.fileno())
        self.crash_and_mount()
        return a0, a1, atime(p)

    def test_relatime_update_is_journalled(self):
        a0, a1, got = self.read_then_fsync(lazy=False, fsync_same=False)
        self.assertEqual(got, a1, "the update went with another file's fsync")

    def test_lazytime_update_stays_in_memory(self):
        a0, a1, got = self.read_then_fsync(lazy=True, fsync_same=False)
        self.assertEqual(got, a0, "another file's fsync does not write a lazy time")

    def test_lazytime_fsync_writes_it(self):
        a0, a1, got = self.read_then_fsync(lazy=True, fsync_same=True)
        self.assertEqual(got, a1)


if __name__ == "__main__":
    harness.run_tests(globals())
