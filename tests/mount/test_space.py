#!/usr/bin/env python3
"""test_space.py: space freed by unlink is there at once, on eiocbfs and
(the same tests) on ext4.

- statfs right after rm of a closed file shows the file's blocks free
  (eiocbfs frees the data at the unlink, not at the kernel's later FORGET;
  the last close of a file reaches a FUSE filesystem in the background, so
  the tests allow that close a few seconds to arrive);
- filling most of the filesystem, removing the file and filling it again
  does not fail ENOSPC;
- a file unlinked while open keeps its data (and its space) until its
  last close, then the space comes back.
"""

import errno
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

MiB = 1 << 20


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bfree * st.f_frsize


def free_soon(path, want, seconds=3.0):
    """statfs's free bytes once they reach want, or after seconds. FUSE
    sends the last close of a file (RELEASE) in the background, after
    close(2) has returned: a free that waits for it may lag a little."""
    deadline = time.monotonic() + seconds
    while True:
        got = free_bytes(path)
        if got >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def write_file(path, size, chunk=MiB):
    buf = b"\xa5" * chunk
    with open(path, "wb") as f:
        left = size
        while left > 0:
            left -= f.write(buf[:min(chunk, left)])
        os.fsync(f.fileno())


class Space:

    def test_statfs_right_after_rm(self):
        before = free_bytes(self.mnt)
        write_file(self.p("f"), 32 * MiB)
        used = before - free_bytes(self.mnt)
        self.assertGreaterEqual(used, 32 * MiB)
        os.unlink(self.p("f"))
        after = free_soon(self.mnt, before - MiB)
        self.assertGreaterEqual(after, before - MiB, "freed %d of %d bytes" % (after - (before - used), used))

    def test_fill_rm_fill(self):
        size = int(free_bytes(self.mnt) * 0.7) // MiB * MiB
        for i in range(3):
            try:
                write_file(self.p("big"), size)
            except OSError as e:
                self.fail("round %d: %s writing %d MiB" % (i, errno.errorcode.get(e.errno), size // MiB))
            os.unlink(self.p("big"))

    def test_fill_unlink_open_close_fill(self):
        # The last close of an unlinked file reaches the filesystem after
        # close() returned (FUSE sends RELEASE in the background): the next
        # allocation must wait for that free rather than fail.
        size = int(free_bytes(self.mnt) * 0.7) // MiB * MiB
        for i in range(3):
            write_file(self.p("big"), size)
            fd = os.open(self.p("big"), os.O_RDONLY)
            os.unlink(self.p("big"))
            os.close(fd)
            try:
                write_file(self.p("next"), size)
            except OSError as e:
                self.fail("round %d: %s writing %d MiB" % (i, errno.errorcode.get(e.errno), size // MiB))
            os.unlink(self.p("next"))

    def test_unlinked_open_file_keeps_space_until_close(self):
        before = free_bytes(self.mnt)
        write_file(self.p("f"), 16 * MiB)
        fd = os.open(self.p("f"), os.O_RDONLY)
        try:
            os.unlink(self.p("f"))
            self.assertLess(free_bytes(self.mnt), before - 15 * MiB)
            self.assertEqual(os.pread(fd, 4, 15 * MiB), b"\xa5" * 4)
        finally:
            os.close(fd)
        self.assertGreaterEqual(free_soon(self.mnt, before - MiB), before - MiB)


linuxfs.twins(Space, globals())

if __name__ == "__main__":
    harness.run_tests(globals())
