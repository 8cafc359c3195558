#!/usr/bin/env python3
"""test_chattr.py: chattr's immutable (i), append-only (a) and no-atime (A)
flags through FS_IOC_GETFLAGS/SETFLAGS (chattr, lsattr), on eiocbfs and (the
same tests) on ext4.

- lsattr shows what chattr set, on files and directories, across a
  remount (A is kept and shown; test_atime checks that reads then
  leave the access time alone);
- immutable file: opening for writing, truncate, chmod, setxattr, unlink,
  rename, link fail EPERM (even for root); reading works; after chattr -i
  everything works again;
- append-only file: only O_APPEND opens for writing (and append); O_TRUNC,
  plain writes, truncate, unlink, rename fail EPERM;
- immutable directory: no name created or removed in it (EPERM); append-only
  directory: names added, none removed.
"""

import errno
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402


def chattr(arg, *paths):
    subprocess.run(["chattr", arg] + list(paths), check=True, stdout=subprocess.DEVNULL)


def lsattr(path):
    r = subprocess.run(["lsattr", "-d", path], check=True, stdout=subprocess.PIPE, text=True)
    return set(r.stdout.split()[0].replace("-", "")) - {"e"}  # ext4's extents flag is not ours


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def read(path):
    with open(path) as f:
        return f.read()


class Chattr:

    def setUp(self):
        super().setUp()
        self.addCleanup(self.unfreeze)

    def unfreeze(self):
        for root, dirs, files in os.walk(self.mnt):
            for n in dirs + files:
                subprocess.run(["chattr", "-i", "-a", os.path.join(root, n)], stderr=subprocess.DEVNULL)

    def test_flags_shown_and_kept(self):
        write(self.p("f"), "x")
        os.mkdir(self.p("d"))
        self.assertEqual(lsattr(self.p("f")), set())
        chattr("+i", self.p("f"))
        chattr("+aA", self.p("d"))
        self.assertEqual(lsattr(self.p("f")), {"i"})
        self.assertEqual(lsattr(self.p("d")), {"a", "A"})
        self.remount()
        self.assertEqual(lsattr(self.p("f")), {"i"})
        self.assertEqual(lsattr(self.p("d")), {"a", "A"})
        chattr("-i", self.p("f"))
        chattr("-a", self.p("d"))
        self.assertEqual(lsattr(self.p("f")), set())
        self.assertEqual(lsattr(self.p("d")), {"A"})

    def test_immutable_file(self):
        write(self.p("f"), "data")
        chattr("+i", self.p("f"))
        self.assertErrno(errno.EPERM, os.open, self.p("f"), os.O_WRONLY)
        self.assertErrno(errno.EPERM, os.open, self.p("f"), os.O_WRONLY | os.O_APPEND)
        self.assertErrno(errno.EPERM, os.truncate, self.p("f"), 0)
        self.assertErrno(errno.EPERM, os.chmod, self.p("f"), 0o600)
        self.assertErrno(errno.EPERM, os.utime, self.p("f"), (1, 1))
        self.assertErrno(errno.EPERM, os.setxattr, self.p("f"), "user.k", b"v")
        self.assertErrno(errno.EPERM, os.unlink, self.p("f"))
        self.assertErrno(errno.EPERM, os.rename, self.p("f"), self.p("g"))
        self.assertErrno(errno.EPERM, os.link, self.p("f"), self.p("g"))
        write(self.p("other"), "o")
        self.assertErrno(errno.EPERM, os.rename, self.p("other"), self.p("f"))
        self.assertEqual(read(self.p("f")), "data")
        chattr("-i", self.p("f"))
        write(self.p("f"), "more", "a")
        os.chmod(self.p("f"), 0o600)
        os.rename(self.p("f"), self.p("g"))
        self.assertEqual(read(self.p("g")), "datamore")
        os.unlink(self.p("g"))

    def test_append_only_file(self):
        write(self.p("f"), "data")
        chattr("+a", self.p("f"))
        self.assertErrno(errno.EPERM, os.open, self.p("f"), os.O_WRONLY)
        self.assertErrno(errno.EPERM, os.open, self.p("f"), os.O_RDWR)
        self.assertErrno(errno.EPERM, os.open, self.p("f"), os.O_WRONLY | os.O_APPEND | os.O_TRUNC)
        write(self.p("f"), "+more", "a")
        self.assertEqual(read(self.p("f")), "data+more")
        self.assertErrno(errno.EPERM, os.truncate, self.p("f"), 0)
        self.assertErrno(errno.EPERM, os.chmod, self.p("f"), 0o600)
        self.assertErrno(errno.EPERM, os.unlink, self.p("f"))
        self.assertErrno(errno.EPERM, os.rename, self.p("f"), self.p("g"))
        chattr("-a", self.p("f"))
        os.unlink(self.p("f"))

    def test_directories(self):
        os.mkdir(self.p("d"))
        write(self.p("d", "in"), "x")
        chattr("+i", self.p("d"))
        self.assertErrno(errno.EPERM, os.open, self.p("d", "new"), os.O_CREAT | os.O_WRONLY, 0o644)
        self.assertErrno(errno.EPERM, os.mkdir, self.p("d", "sub"))
        self.assertErrno(errno.EPERM, os.unlink, self.p("d", "in"))
        self.assertErrno(errno.EPERM, os.rename, self.p("d", "in"), self.p("out"))
        self.assertEqual(os.listdir(self.p("d")), ["in"])
        chattr("-i", self.p("d"))
        chattr("+a", self.p("d"))
        write(self.p("d", "new"), "y")
        os.mkdir(self.p("d", "sub"))
        self.assertErrno(errno.EPERM, os.unlink, self.p("d", "in"))
        self.assertErrno(errno.EPERM, os.rmdir, self.p("d", "sub"))
        self.assertErrno(errno.EPERM, os.rename, self.p("d", "in"), self.p("out"))
        self.assertEqual(sorted(os.listdir(self.p("d"))), ["in", "new", "sub"])
        chattr("-a", self.p("d"))
        os.unlink(self.p("d", "in"))


linuxfs.twins(Chattr, globals())

if __name__ == "__main__":
    harness.run_tests(globals())
