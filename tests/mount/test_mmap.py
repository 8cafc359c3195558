#!/usr/bin/env python3
"""test_mmap.py: MAP_SHARED mappings, on eiocbfs and (the same tests) on ext4.

Files on eiocbfs are opened direct_io, so the kernel caches none of their
pages except those of a shared mapping (docs/mmap.md): these tests pin the
coherence a program expects between a mapping, read()/write() and O_DIRECT.
- a store through the mapping is seen by read(), and by an O_DIRECT read
  after msync;
- a write() or an O_DIRECT write is seen through a mapping made before it;
- mtime and ctime move after a store and msync;
- msync(MS_SYNC) is durable across a power cut (eiocbfs only: `eiocbctl
  MNT crash`);
- a mapping of a file opened O_DIRECT, and of one opened read-only, works.
"""

import mmap
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
SIZE = 1 << 20


def pattern(seed, n):
    return bytes((seed * 7 + i * 13) & 0xFF for i in range(n))


def direct_buf(n):
    return mmap.mmap(-1, n)  # page aligned, as O_DIRECT wants


class Mmap:

    def make(self, name="f", data=None):
        p = self.p(name)
        with open(p, "wb") as f:
            f.write(data if data is not None else pattern(1, SIZE))
            os.fsync(f.fileno())
        return p

    def test_store_seen_by_read_and_odirect_read(self):
        p = self.make()
        fd = os.open(p, os.O_RDWR)
        self.addCleanup(os.close, fd)
        m = mmap.mmap(fd, SIZE, mmap.MAP_SHARED)
        self.addCleanup(m.close)
        m[4096:4096 + 5] = b"hello"
        m[SIZE - 3:SIZE] = b"end"
        self.assertEqual(os.pread(fd, 5, 4096), b"hello")
        m.flush()
        self.assertEqual(os.pread(fd, 5, 4096), b"hello")
        dfd = os.open(p, os.O_RDONLY | os.O_DIRECT)
        self.addCleanup(os.close, dfd)
        buf = direct_buf(8192)
        self.assertEqual(os.preadv(dfd, [buf], 4096), 8192)
        self.assertEqual(buf[:5], b"hello")
        self.assertEqual(buf[5:8192], pattern(1, SIZE)[4096 + 5:4096 + 8192])
        self.assertEqual(os.preadv(dfd, [buf], SIZE - 8192), 8192)
        self.assertEqual(buf[8192 - 3:], b"end")

    def test_write_and_odirect_write_seen_through_mapping(self):
        p = self.make()
        fd = os.open(p, os.O_RDWR)
        self.addCleanup(os.close, fd)
        m = mmap.mmap(fd, SIZE, mmap.MAP_SHARED)
        self.addCleanup(m.close)
        self.assertEqual(m[0:4096], pattern(1, SIZE)[:4096])  # pages now mapped
        os.pwrite(fd, b"WORLD", 10)
        self.assertEqual(m[10:15], b"WORLD")
        dfd = os.open(p, os.O_RDWR | os.O_DIRECT)
        self.addCleanup(os.close, dfd)
        buf = direct_buf(4096)
        buf[:] = pattern(9, 4096)
        self.assertEqual(os.pwritev(dfd, [buf], 8192), 4096)
        self.assertEqual(m[8192:8192 + 4096], pattern(9, 4096))
        self.assertEqual(m[10:15], b"WORLD")

    def test_times_move_after_mapped_store(self):
        p = self.make()
        fd = os.open(p, os.O_RDWR)
        self.addCleanup(os.close, fd)
        m = mmap.mmap(fd, SIZE, mmap.MAP_SHARED)
        self.addCleanup(m.close)
        before = os.stat(p)
        time.sleep(0.05)
        m[100:105] = b"touch"
        m.flush()  # POSIX: times are marked for update by the next msync
        after = os.stat(p)
        self.assertGreater(after.st_mtime_ns, before.st_mtime_ns)
        self.assertGreater(after.st_ctime_ns, before.st_ctime_ns)

    def test_mapping_of_odirect_and_readonly_opens(self):
        p = self.make()
        dfd = os.open(p, os.O_RDWR | os.O_DIRECT)
        self.addCleanup(os.close, dfd)
        m = mmap.mmap(dfd, SIZE, mmap.MAP_SHARED)
        self.addCleanup(m.close)
        m[0:3] = b"odx"
        m.flush()
        rfd = os.open(p, os.O_RDONLY)
        self.addCleanup(os.close, rfd)
        r = mmap.mmap(rfd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ)
        self.addCleanup(r.close)
        self.assertEqual(r[0:3], b"odx")
        self.assertEqual(r[SIZE - 4096:], pattern(1, SIZE)[SIZE - 4096:])

    def test_truncate_and_extend_under_mapping(self):
        p = self.make()
        fd = os.open(p, os.O_RDWR)
        self.addCleanup(os.close, fd)
        m = mmap.mmap(fd, SIZE, mmap.MAP_SHARED)
        self.addCleanup(m.close)
        m[SIZE - 4096:SIZE - 4096 + 4] = b"tail"
        os.ftruncate(fd, SIZE // 2)
        os.ftruncate(fd, SIZE)
        self.assertEqual(m[SIZE - 4096:SIZE - 4096 + 4], b"\0\0\0\0")
        self.assertEqual(os.pread(fd, 4, SIZE - 4096), b"\0\0\0\0")


linuxfs.twins(Mmap, globals())


class MmapDurable(linuxfs.EiocbfsCase):
    """msync(MS_SYNC) is durable: a power cut right after keeps the stores."""

    image_size = "64M"

    def setUp(self):
        if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
            self.skipTest("eiocbctl is not built")
        self.sock = os.path.join(harness.new_dir("s-"), "ctl.sock")
        self.mount_opts = ("control=" + self.sock,)
        super().setUp()

    def test_msync_survives_power_cut(self):
        p = self.p("db")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(fd, SIZE)
        os.fsync(fd)
        m = mmap.mmap(fd, SIZE, mmap.MAP_SHARED)
        m[0:SIZE] = pattern(5, SIZE)
        m.flush()  # msync(MS_SYNC)
        m[0:8] = b"unsynced"  # may or may not survive; must not break anything
        r = subprocess.run([EIOCBCTL, self.mnt, "crash"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30, env=dict(os.environ, EIOCBCTL_SOCKET=self.sock))
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            m.close()
        except (OSError, ValueError):
            pass
        try:
            os.close(fd)
        except OSError:
            pass
        self.assertEqual(self.m.proc.wait(30), 0, self.m.output())
        self.m.kill()
        self.m = harness.Mount(self.target, self.mnt).start()
        with open(p, "rb") as f:
            data = f.read()
        self.assertEqual(len(data), SIZE)
        self.assertEqual(data[8:], pattern(5, SIZE)[8:])


if __name__ == "__main__":
    harness.run_tests(globals())
