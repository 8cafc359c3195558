#!/usr/bin/env python3
"""test_renameat2.py: renameat2() flags, on eiocbfs and (the same tests) on
ext4.

- RENAME_NOREPLACE: EEXIST when the new name exists (nothing moves), a
  plain rename otherwise;
- RENAME_EXCHANGE: two names swap their inodes (files, directories across
  parents: each directory's ".." follows it), ENOENT when one is missing;
  EINVAL with NOREPLACE or WHITEOUT;
- RENAME_WHITEOUT: the source's name is left to a character device 0/0
  (overlayfs' whiteout), the target replaced or created; it lasts across a
  remount.
"""

import ctypes
import errno
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1
RENAME_WHITEOUT = 1 << 2
AT_FDCWD = -100

_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(old, new, flags):
    r = _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def write(path, data):
    with open(path, "w") as f:
        f.write(data)


def read(path):
    with open(path) as f:
        return f.read()


class Renameat2:

    def test_noreplace(self):
        write(self.p("a"), "A")
        write(self.p("b"), "B")
        self.assertErrno(errno.EEXIST, renameat2, self.p("a"), self.p("b"), RENAME_NOREPLACE)
        self.assertEqual((read(self.p("a")), read(self.p("b"))), ("A", "B"))
        renameat2(self.p("a"), self.p("c"), RENAME_NOREPLACE)
        self.assertFalse(os.path.exists(self.p("a")))
        self.assertEqual(read(self.p("c")), "A")

    def test_exchange(self):
        write(self.p("a"), "A")
        os.mkdir(self.p("d1"))
        os.mkdir(self.p("d2"))
        os.mkdir(self.p("d1", "sub"))
        write(self.p("d2", "f"), "F")
        ia, isub = os.stat(self.p("a")).st_ino, os.stat(self.p("d1", "sub")).st_ino
        # a file with a directory in another parent
        renameat2(self.p("a"), self.p("d1", "sub"), RENAME_EXCHANGE)
        self.assertTrue(os.path.isdir(self.p("a")))
        self.assertEqual(os.stat(self.p("a")).st_ino, isub)
        self.assertEqual(os.stat(self.p("d1", "sub")).st_ino, ia)
        self.assertEqual(os.stat(self.p("a", "..")).st_ino, os.stat(self.mnt).st_ino)
        # two directories: the link counts of the parents stay right
        renameat2(self.p("a"), self.p("d2"), RENAME_EXCHANGE)
        self.assertEqual(read(self.p("a", "f")), "F")
        self.assertEqual(os.stat(self.p("d2")).st_ino, isub)
        self.assertEqual(os.stat(self.mnt).st_nlink, 2 + len([n for n in os.listdir(self.mnt)
                                                              if os.path.isdir(self.p(n))]))
        self.assertErrno(errno.ENOENT, renameat2, self.p("a"), self.p("missing"), RENAME_EXCHANGE)
        self.assertErrno(errno.EINVAL, renameat2, self.p("a"), self.p("d2"), RENAME_EXCHANGE | RENAME_NOREPLACE)
        self.assertErrno(errno.EINVAL, renameat2, self.p("a"), self.p("d2"), RENAME_EXCHANGE | RENAME_WHITEOUT)

    def check_whiteout(self, path):
        st = os.lstat(path)
        self.assertTrue(stat.S_ISCHR(st.st_mode), oct(st.st_mode))
        self.assertEqual(st.st_rdev, 0)
        self.assertEqual(st.st_nlink, 1)

    def test_whiteout(self):
        write(self.p("a"), "A")
        write(self.p("b"), "B")
        ino = os.stat(self.p("a")).st_ino
        renameat2(self.p("a"), self.p("b"), RENAME_WHITEOUT)
        self.check_whiteout(self.p("a"))
        self.assertEqual(read(self.p("b")), "A")
        self.assertEqual(os.stat(self.p("b")).st_ino, ino)
        # to a new name in another directory, with NOREPLACE
        os.mkdir(self.p("d"))
        renameat2(self.p("b"), self.p("d", "c"), RENAME_WHITEOUT | RENAME_NOREPLACE)
        self.check_whiteout(self.p("b"))
        self.assertEqual(read(self.p("d", "c")), "A")
        self.assertEqual(sorted(harness.listdir(self.mnt)), ["a", "b", "d"])
        self.assertErrno(errno.EEXIST, renameat2, self.p("d", "c"), self.p("a"), RENAME_WHITEOUT | RENAME_NOREPLACE)
        # a whiteout is an ordinary name: it can be removed
        os.unlink(self.p("a"))
        self.remount()
        self.check_whiteout(self.p("b"))
        self.assertEqual(read(self.p("d", "c")), "A")


linuxfs.twins(Renameat2, globals())

if __name__ == "__main__":
    harness.run_tests(globals())
