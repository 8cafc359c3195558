#!/usr/bin/env python3
"""test_bigdir.py: 100,000 entries in one directory.

Create, list (every name exactly once), look up (hits and misses), rename
and unlink them; the listing survives a remount. Lookup must stay fast (the
directory is hashed, not scanned): the time of 2,000 lookups in the full
directory is compared with the same in a small one.
"""

import os
import random
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402

N = 100_000


def timed_lookups(d, names):
    t = time.monotonic()
    for n in names:
        try:
            os.lstat(os.path.join(d, n))
        except FileNotFoundError:
            pass
    return time.monotonic() - t


class BigDir(MountTestCase):
    image_size = "1G"
    mkfs_args = ("-N", "131072")

    def test_100k_entries(self):
        d = self.p("big")
        small = self.p("small")
        os.mkdir(d)
        os.mkdir(small)
        names = ["entry-%06d-%s" % (i, "x" * (i % 40)) for i in range(N)]
        t = time.monotonic()
        for n in names:
            os.mknod(os.path.join(d, n), stat.S_IFREG | 0o644)
        t_create = time.monotonic() - t
        for i in range(100):
            os.mknod(os.path.join(small, "s%d" % i), stat.S_IFREG | 0o644)
        t = time.monotonic()
        listed = os.listdir(d)
        t_list = time.monotonic() - t
        self.assertEqual(len(listed), N)
        self.assertEqual(set(listed), set(names))
        # Lookups of names the kernel has not cached (misses): big vs small.
        rnd = random.Random(5)
        miss = ["missing-%d" % rnd.randrange(10**9) for _ in range(2000)]
        t_big = timed_lookups(d, miss)
        t_small = timed_lookups(small, miss)
        print("100k: create %.1fs, list %.2fs, 2000 missing lookups %.3fs (small dir %.3fs)"
              % (t_create, t_list, t_big, t_small), flush=True)
        self.assertLess(t_big, 5 * t_small + 0.5, "lookup in a 100k directory is not a linear scan")
        for n in rnd.sample(names, 1000):
            self.assertTrue(stat.S_ISREG(os.lstat(os.path.join(d, n)).st_mode))
        for n in names[:1000]:
            os.rename(os.path.join(d, n), os.path.join(d, "renamed-" + n))
        self.assertErrno(harness.errno.EEXIST, os.mkdir, os.path.join(d, names[5000]))
        self.remount()
        listed = os.listdir(os.path.join(self.mnt, "big"))
        self.assertEqual(len(listed), N)
        self.assertIn("renamed-" + names[0], listed)
        t = time.monotonic()
        for n in listed:
            os.unlink(os.path.join(self.mnt, "big", n))
        print("100k: unlink %.1fs" % (time.monotonic() - t), flush=True)
        self.assertEqual(os.listdir(os.path.join(self.mnt, "big")), [])
        os.rmdir(os.path.join(self.mnt, "big"))


if __name__ == "__main__":
    harness.run_tests(globals())
