#!/usr/bin/env python3
"""test_fallocate.py: fallocate(2) modes, on eiocbfs and (the same tests)
on ext4.

- default and KEEP_SIZE: blocks allocated (st_blocks), the size grows or
  not, the range reads zeros;
- PUNCH_HOLE|KEEP_SIZE: the range reads zeros, its whole blocks are freed,
  partial blocks zeroed in place, the size kept;
- ZERO_RANGE (with and without KEEP_SIZE), also unaligned: the range reads
  zeros, the bytes around it are kept, the blocks stay allocated (the
  space is not given back), the size grows unless KEEP_SIZE; mtime moves;
- COLLAPSE_RANGE and INSERT_RANGE: ext4 shifts the data and refuses an
  unaligned range (EINVAL); the kernel refuses both modes (EOPNOTSUPP) for
  every FUSE filesystem before the daemon sees them, so eiocbfs checks that
  answer instead.
"""

import ctypes
import errno
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
BS = 4096

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def pattern(n, seed=1):
    return bytes((i * 7 + seed) & 0xFF or 1 for i in range(n))


class Fallocate:

    shift_modes = True  # COLLAPSE_RANGE, INSERT_RANGE reach the filesystem

    def open_with(self, data):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.addCleanup(os.close, fd)
        os.write(fd, data)
        os.fsync(fd)
        return fd

    def test_allocate_keep_size(self):
        fd = self.open_with(b"")
        fallocate(fd, 0, 0, 16 * BS)
        st = os.fstat(fd)
        self.assertEqual(st.st_size, 16 * BS)
        self.assertGreaterEqual(st.st_blocks * 512, 16 * BS)
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 16 * BS, 16 * BS)
        st = os.fstat(fd)
        self.assertEqual(st.st_size, 16 * BS)
        self.assertGreaterEqual(st.st_blocks * 512, 32 * BS)
        self.assertEqual(os.pread(fd, 16 * BS, 0), bytes(16 * BS))

    def test_punch_hole(self):
        data = pattern(16 * BS)
        fd = self.open_with(data)
        before = os.fstat(fd).st_blocks
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BS + 100, 8 * BS)
        want = data[:BS + 100] + bytes(8 * BS) + data[9 * BS + 100:]
        self.assertEqual(os.pread(fd, 16 * BS, 0), want)
        st = os.fstat(fd)
        self.assertEqual(st.st_size, 16 * BS)
        self.assertLessEqual(st.st_blocks, before - 7 * BS // 512)
        self.assertErrno(errno.EOPNOTSUPP, fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, BS)

    def test_zero_range(self):
        data = pattern(16 * BS)
        fd = self.open_with(data)
        mtime = os.fstat(fd).st_mtime_ns
        time.sleep(0.01)
        blocks = os.fstat(fd).st_blocks
        # unaligned at both ends, inside the file
        fallocate(fd, FALLOC_FL_ZERO_RANGE, BS + 100, 8 * BS)
        want = data[:BS + 100] + bytes(8 * BS) + data[9 * BS + 100:]
        self.assertEqual(os.pread(fd, 16 * BS, 0), want)
        st = os.fstat(fd)
        self.assertEqual(st.st_size, 16 * BS)
        self.assertGreaterEqual(st.st_blocks, blocks, "zeroed blocks stay allocated")
        self.assertGreater(st.st_mtime_ns, mtime)
        # past the end: the size grows, unless KEEP_SIZE
        fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 15 * BS, 4 * BS)
        self.assertEqual(os.fstat(fd).st_size, 16 * BS)
        self.assertEqual(os.pread(fd, BS, 15 * BS), bytes(BS))
        self.assertGreaterEqual(os.fstat(fd).st_blocks * 512, 19 * BS)
        fallocate(fd, FALLOC_FL_ZERO_RANGE, 15 * BS, 4 * BS + 10)
        self.assertEqual(os.fstat(fd).st_size, 19 * BS + 10)
        self.assertEqual(os.pread(fd, 5 * BS + 10, 14 * BS), want[14 * BS:15 * BS] + bytes(4 * BS + 10))
        # a small range inside one block
        fallocate(fd, FALLOC_FL_ZERO_RANGE, 10, 20)
        self.assertEqual(os.pread(fd, 40, 0), data[:10] + bytes(20) + data[30:40])
        os.fsync(fd)
        self.assertEqual(os.pread(fd, 40, 0), data[:10] + bytes(20) + data[30:40])

    def test_collapse_insert(self):
        data = pattern(16 * BS)
        fd = self.open_with(data)
        for mode in (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE):
            if not self.shift_modes:
                self.assertErrno(errno.EOPNOTSUPP, fallocate, fd, mode, BS, BS)
                continue
            self.assertErrno(errno.EINVAL, fallocate, fd, mode, BS + 1, BS)
            self.assertErrno(errno.EINVAL, fallocate, fd, mode, BS, BS - 1)
        if not self.shift_modes:
            self.assertEqual(os.pread(fd, 16 * BS, 0), data)
            return
        fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, BS, 2 * BS)
        self.assertEqual(os.fstat(fd).st_size, 14 * BS)
        self.assertEqual(os.pread(fd, 14 * BS, 0), data[:BS] + data[3 * BS:])
        fallocate(fd, FALLOC_FL_INSERT_RANGE, BS, 2 * BS)
        self.assertEqual(os.fstat(fd).st_size, 16 * BS)
        self.assertEqual(os.pread(fd, 16 * BS, 0), data[:BS] + bytes(2 * BS) + data[3 * BS:])


linuxfs.twins(Fallocate, globals(), eiocbfs_attrs={"shift_modes": False})

if __name__ == "__main__":
    harness.run_tests(globals())
