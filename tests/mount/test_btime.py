#!/usr/bin/env python3
"""test_btime.py: the creation time (statx STATX_BTIME), on eiocbfs and (the
same tests) on ext4.

statx asking for btime reaches a FUSE filesystem as FUSE_STATX (kernel
6.6+); eiocbfs answers it with the inode's creation time, kept on disk.

- a new file, directory, symlink and device: btime is set, within the
  time of the creation, and statx reports it (stat(1) %W is not "0" or
  "-");
- writes, chmod, rename, link and a remount leave it as it was, while
  mtime and ctime move.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402


def btime(path):
    """Creation time in nanoseconds, from statx (stat(1) %W with 9 digits)."""
    r = subprocess.run(["stat", "-c", "%.9W", path], check=True, stdout=subprocess.PIPE, text=True)
    out = r.stdout.strip()
    if not out.replace(".", "").isdigit() or int(out.partition(".")[0]) == 0:
        raise AssertionError("statx reports no btime for %s: %r" % (path, out))
    sec, _, frac = out.partition(".")
    return int(sec) * 10**9 + int((frac + "000000000")[:9])


class Btime:

    def test_set_at_creation(self):
        before = time.time_ns()
        with open(self.p("f"), "w") as f:
            f.write("x")
        os.mkdir(self.p("d"))
        os.symlink("f", self.p("s"))
        os.mknod(self.p("fifo"), 0o600 | 0o010000)
        after = time.time_ns()
        for name in ("f", "d", "s", "fifo"):
            b = btime(self.p(name))
            # the kernel's clock is coarse (a tick): allow 20 ms on either side
            self.assertGreaterEqual(b, before - 20 * 10**6, name)
            self.assertLessEqual(b, after + 20 * 10**6, name)

    def test_kept_by_changes_and_remount(self):
        with open(self.p("f"), "w") as f:
            f.write("x")
        b = btime(self.p("f"))
        st = os.stat(self.p("f"))
        time.sleep(0.05)
        with open(self.p("f"), "a") as f:
            f.write("more")
        os.chmod(self.p("f"), 0o600)
        os.mkdir(self.p("d"))
        os.rename(self.p("f"), self.p("d", "g"))
        os.link(self.p("d", "g"), self.p("h"))
        st2 = os.stat(self.p("h"))
        self.assertGreater(st2.st_mtime_ns, st.st_mtime_ns)
        self.assertGreater(st2.st_ctime_ns, st.st_ctime_ns)
        self.assertEqual(btime(self.p("h")), b)
        bd = btime(self.p("d"))
        self.remount()
        self.assertEqual(btime(self.p("h")), b)
        self.assertEqual(btime(self.p("d")), bd)
        self.assertLessEqual(bd, os.stat(self.p("d")).st_mtime_ns)


linuxfs.twins(Btime, globals())

if __name__ == "__main__":
    harness.run_tests(globals())
