#!/usr/bin/env python3
"""test_posix.py: the POSIX behaviour suite on a mounted eiocbfs.

Every FUSE operation of fs/daemon/fuse_ops.c is driven through the kernel with its
error cases; each test gets a fresh image and ends with unmount and
`fsck.eiocbfs -n` clean (harness.MountTestCase). EIOCBFS_LOOP=1 runs the
same suite on a loop device.
"""

import ctypes
import ctypes.util
import errno
import hashlib
import mmap
import os
import random
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
AT_FDCWD = -100
NOBODY = 65534


def renameat2(old, new, flags):
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def fallocate(fd, mode, off, length):
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def as_nobody(code):
    """Runs a Python snippet as uid/gid 65534; returns its stdout stripped.
    The snippet prints "ok" or the errno name of the OSError it met."""
    prog = ("import os, errno, sys\ntry:\n" + "".join("    " + l + "\n" for l in code.splitlines())
            + "    print('ok')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n")
    r = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                        sys.executable, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, cwd="/")
    if r.returncode != 0:
        raise AssertionError("as_nobody failed: " + r.stderr)
    return r.stdout.strip()


class Files(MountTestCase):
    """create, open, read, write, flush, release, unlink, getattr."""

    def test_create_write_read_unlink(self):
        data = os.urandom(10000)
        write_file(self.p("f"), data, 0o640)
        st = os.stat(self.p("f"))
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual(st.st_size, len(data))
        self.assertEqual(st.st_nlink, 1)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        self.assertEqual(read_file(self.p("f")), data)
        self.assertIn("f", os.listdir(self.mnt))
        os.unlink(self.p("f"))
        self.assertErrno(errno.ENOENT, os.stat, self.p("f"))
        self.assertNotIn("f", os.listdir(self.mnt))

    def test_pread_pwrite_offsets(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, b"abc", 0)
            os.pwrite(fd, b"XYZ", 10)  # leaves a 7-byte gap
            self.assertEqual(os.fstat(fd).st_size, 13)
            self.assertEqual(os.pread(fd, 100, 0), b"abc" + b"\0" * 7 + b"XYZ")
            self.assertEqual(os.pread(fd, 10, 13), b"")  # at EOF
            self.assertEqual(os.pread(fd, 2, 11), b"YZ")
        finally:
            os.close(fd)

    def test_append(self):
        write_file(self.p("f"), b"one")
        fd = os.open(self.p("f"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"two")
        os.close(fd)
        self.assertEqual(read_file(self.p("f")), b"onetwo")

    def test_o_excl_and_errors(self):
        write_file(self.p("f"), b"x")
        self.assertErrno(errno.EEXIST, os.open, self.p("f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        self.assertErrno(errno.ENOENT, os.open, self.p("missing"), os.O_RDONLY)
        self.assertErrno(errno.ENOENT, os.open, self.p("nodir", "f"), os.O_CREAT | os.O_WRONLY)
        self.assertErrno(errno.ENOTDIR, os.open, self.p("f", "g"), os.O_CREAT | os.O_WRONLY)
        os.mkdir(self.p("d"))
        self.assertErrno(errno.EISDIR, os.open, self.p("d"), os.O_WRONLY)
        self.assertErrno(errno.EISDIR, os.unlink, self.p("d"))
        self.assertErrno(errno.ENOENT, os.unlink, self.p("missing"))

    def test_name_too_long(self):
        self.assertErrno(errno.ENAMETOOLONG, os.open, self.p("a" * 256), os.O_CREAT | os.O_WRONLY)
        self.assertErrno(errno.ENAMETOOLONG, os.mkdir, self.p("b" * 256))
        self.assertErrno(errno.ENAMETOOLONG, os.stat, self.p("c" * 256))
        write_file(self.p("n" * 255), b"max")  # 255 bytes is allowed
        self.assertEqual(read_file(self.p("n" * 255)), b"max")

    def test_open_unlinked_lives_until_close(self):
        data = os.urandom(1 << 20)
        write_file(self.p("f"), data)
        free0 = os.statvfs(self.mnt).f_bfree
        fd = os.open(self.p("f"), os.O_RDWR)
        try:
            os.unlink(self.p("f"))
            self.assertErrno(errno.ENOENT, os.stat, self.p("f"))
            self.assertEqual(os.pread(fd, len(data), 0), data)
            os.pwrite(fd, b"still here", 0)
            self.assertEqual(os.pread(fd, 10, 0), b"still here")
            self.assertEqual(os.fstat(fd).st_nlink, 0)
            os.ftruncate(fd, 4)  # setattr on an orphan
            self.assertEqual(os.fstat(fd).st_size, 4)
            self.assertEqual(os.pread(fd, 10, 0), b"stil")
        finally:
            os.close(fd)
        # The blocks come back after the last close (allow a moment for release).
        deadline = time.monotonic() + 5
        while os.statvfs(self.mnt).f_bfree <= free0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(os.statvfs(self.mnt).f_bfree, free0)

    def test_fsync_fdatasync_fsyncdir(self):
        fd = os.open(self.p("f"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"durable")
        os.fsync(fd)
        os.fdatasync(fd)
        os.close(fd)
        dfd = os.open(self.mnt, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        self.assertEqual(read_file(self.p("f")), b"durable")

    def test_large_io_requests(self):
        # 4 MiB in one write(2): the kernel splits it into max_write requests.
        data = os.urandom(4 << 20)
        write_file(self.p("big"), data)
        self.assertEqual(read_file(self.p("big")), data)

    def test_mmap_private_and_shared(self):
        write_file(self.p("f"), b"m" * 8192)
        with open(self.p("f"), "r+b") as f:
            mp = mmap.mmap(f.fileno(), 8192, flags=mmap.MAP_PRIVATE)
            mp[0:4] = b"priv"  # a private copy: the file does not change
            mp.close()
            # direct_io files are mappable shared too (test_mmap.py has the rest).
            mp = mmap.mmap(f.fileno(), 8192, flags=mmap.MAP_SHARED)
            self.assertEqual(mp[:4], b"mmmm")
            mp.close()


class KernelCache(MountTestCase):
    mount_opts = ("kernel_cache",)

    def test_mmap_shared_with_kernel_cache(self):
        write_file(self.p("f"), b"\0" * 8192)
        with open(self.p("f"), "r+b") as f:
            mp = mmap.mmap(f.fileno(), 8192, flags=mmap.MAP_SHARED)
            mp[0:5] = b"hello"
            mp.flush()
            mp.close()
        self.remount()
        self.assertEqual(read_file(self.p("f"))[:5], b"hello")


class Dirs(MountTestCase):
    """mkdir, rmdir, opendir, readdir(plus), releasedir, link counts."""

    def test_mkdir_rmdir_errors(self):
        os.mkdir(self.p("d"), 0o750)
        st = os.stat(self.p("d"))
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o750)
        self.assertErrno(errno.EEXIST, os.mkdir, self.p("d"))
        write_file(self.p("d", "f"), b"")
        self.assertErrno(errno.ENOTEMPTY, os.rmdir, self.p("d"))
        self.assertErrno(errno.ENOTDIR, os.rmdir, self.p("d", "f"))
        self.assertErrno(errno.ENOTDIR, os.mkdir, self.p("d", "f", "x"))
        self.assertErrno(errno.ENOENT, os.rmdir, self.p("missing"))
        self.assertErrno(errno.ENOTDIR, os.listdir, self.p("d", "f"))
        os.unlink(self.p("d", "f"))
        os.rmdir(self.p("d"))
        self.assertErrno(errno.ENOENT, os.stat, self.p("d"))

    def test_dir_link_counts(self):
        root0 = os.stat(self.mnt).st_nlink
        os.mkdir(self.p("d"))
        self.assertEqual(os.stat(self.p("d")).st_nlink, 2)
        self.assertEqual(os.stat(self.mnt).st_nlink, root0 + 1)
        os.mkdir(self.p("d", "a"))
        os.mkdir(self.p("d", "b"))
        write_file(self.p("d", "f"), b"")
        self.assertEqual(os.stat(self.p("d")).st_nlink, 4)
        os.rmdir(self.p("d", "a"))
        self.assertEqual(os.stat(self.p("d")).st_nlink, 3)
        os.rename(self.p("d", "b"), self.p("b"))
        self.assertEqual(os.stat(self.p("d")).st_nlink, 2)
        self.assertEqual(os.stat(self.mnt).st_nlink, root0 + 2)

    def test_readdir_lists_every_entry_once(self):
        names = {"f%04d" % i for i in range(1500)} | {"d%02d" % i for i in range(20)}
        for n in names:
            if n[0] == "d":
                os.mkdir(self.p(n))
            else:
                os.close(os.open(self.p(n), os.O_CREAT | os.O_WRONLY, 0o644))
        listed = harness.listdir(self.mnt)  # many readdir(plus) calls with resumed cookies
        self.assertEqual(len(listed), len(set(listed)))
        self.assertEqual(set(listed), names)
        with os.scandir(self.mnt) as it:
            types = {e.name: e.is_dir(follow_symlinks=False) for e in it}
        self.assertTrue(all(types[n] == (n[0] == "d") for n in names))
        # ls -la style: every entry's inode agrees with stat.
        for e in list(os.scandir(self.mnt))[:50]:
            self.assertEqual(e.inode(), os.lstat(e.path).st_ino)

    def test_readdir_while_removing(self):
        for i in range(300):
            os.close(os.open(self.p("x%d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
        seen = set()
        with os.scandir(self.mnt) as it:
            for n, e in enumerate(it):
                seen.add(e.name)
                if n == 10:
                    for j in range(150, 300):
                        os.unlink(self.p("x%d" % j))
        # Entries present for the whole listing are listed exactly once.
        self.assertTrue({"x%d" % i for i in range(150)} <= seen)
        self.assertEqual(len(harness.listdir(self.mnt)), 150)


class Links(MountTestCase):
    """link, symlink, readlink, mknod."""

    def test_hard_links(self):
        write_file(self.p("a"), b"data")
        os.link(self.p("a"), self.p("b"))
        sa, sb = os.stat(self.p("a")), os.stat(self.p("b"))
        self.assertEqual(sa.st_ino, sb.st_ino)
        self.assertEqual(sa.st_nlink, 2)
        os.mkdir(self.p("d"))
        os.link(self.p("a"), self.p("d", "c"))
        self.assertEqual(os.stat(self.p("b")).st_nlink, 3)
        os.unlink(self.p("a"))
        self.assertEqual(os.stat(self.p("b")).st_nlink, 2)
        self.assertEqual(read_file(self.p("d", "c")), b"data")
        self.assertErrno(errno.EEXIST, os.link, self.p("b"), self.p("d", "c"))
        self.assertErrno(errno.ENOENT, os.link, self.p("missing"), self.p("x"))
        self.assertErrno(errno.EPERM, os.link, self.p("d"), self.p("dlink"))  # no dir links

    def test_symlinks(self):
        write_file(self.p("target"), b"t")
        os.symlink("target", self.p("l"))
        self.assertEqual(os.readlink(self.p("l")), "target")
        self.assertTrue(stat.S_ISLNK(os.lstat(self.p("l")).st_mode))
        self.assertEqual(os.lstat(self.p("l")).st_size, len("target"))
        self.assertEqual(read_file(self.p("l")), b"t")
        long_target = "/" + "x" * 1000 + "/" + "y" * 2000
        os.symlink(long_target, self.p("long"))
        self.assertEqual(os.readlink(self.p("long")), long_target)
        longest = "z/" * 2047 + "z"  # 4095 bytes: the most the kernel passes
        os.symlink(longest, self.p("longest"))
        self.assertEqual(os.readlink(self.p("longest")), longest)
        os.symlink("nowhere", self.p("dangling"))
        self.assertErrno(errno.ENOENT, os.stat, self.p("dangling"))
        self.assertErrno(errno.EEXIST, os.symlink, "x", self.p("l"))
        self.assertErrno(errno.EINVAL, os.readlink, self.p("target"))

    def test_eloop(self):
        os.symlink("b", self.p("a"))
        os.symlink("a", self.p("b"))
        self.assertErrno(errno.ELOOP, os.stat, self.p("a"))
        self.assertErrno(errno.ELOOP, os.open, self.p("a"), os.O_RDONLY)
        write_file(self.p("t"), b"")
        os.symlink("t", self.p("l"))
        self.assertErrno(errno.ELOOP, os.open, self.p("l"), os.O_RDONLY | os.O_NOFOLLOW)

    def test_mknod_fifo_and_devices(self):
        os.mkfifo(self.p("fifo"), 0o600)
        self.assertTrue(stat.S_ISFIFO(os.stat(self.p("fifo")).st_mode))
        os.mknod(self.p("null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        st = os.stat(self.p("null"))
        self.assertTrue(stat.S_ISCHR(st.st_mode))
        self.assertEqual(st.st_rdev, os.makedev(1, 3))
        self.assertErrno(errno.EEXIST, os.mkfifo, self.p("fifo"))
        self.remount()
        st = os.stat(self.p("null"))
        self.assertEqual((stat.S_ISCHR(st.st_mode), st.st_rdev), (True, os.makedev(1, 3)))
        self.assertTrue(stat.S_ISFIFO(os.stat(self.p("fifo")).st_mode))


class Rename(MountTestCase):
    """rename with flags 0, RENAME_NOREPLACE, RENAME_EXCHANGE."""

    def test_rename_over_existing_file(self):
        write_file(self.p("a"), b"A")
        write_file(self.p("b"), b"B")
        ino_a = os.stat(self.p("a")).st_ino
        os.rename(self.p("a"), self.p("b"))
        self.assertErrno(errno.ENOENT, os.stat, self.p("a"))
        self.assertEqual(read_file(self.p("b")), b"A")
        self.assertEqual(os.stat(self.p("b")).st_ino, ino_a)
        self.assertEqual(harness.listdir(self.mnt), ["b"])

    def test_rename_over_open_file_keeps_it_alive(self):
        write_file(self.p("a"), b"A")
        write_file(self.p("b"), b"old B")
        fd = os.open(self.p("b"), os.O_RDONLY)
        os.rename(self.p("a"), self.p("b"))
        self.assertEqual(os.pread(fd, 100, 0), b"old B")
        os.close(fd)

    def test_rename_dirs(self):
        os.makedirs(self.p("a", "sub"))
        os.mkdir(self.p("empty"))
        os.makedirs(self.p("full", "x"))
        write_file(self.p("file"), b"")
        os.rename(self.p("a"), self.p("empty"))  # over an empty dir: allowed
        self.assertTrue(os.path.isdir(self.p("empty", "sub")))
        self.assertErrno(errno.ENOTEMPTY, os.rename, self.p("empty"), self.p("full"))
        self.assertErrno(errno.EISDIR, os.rename, self.p("file"), self.p("full"))
        self.assertErrno(errno.ENOTDIR, os.rename, self.p("full"), self.p("file"))
        self.assertErrno(errno.EINVAL, os.rename, self.p("full"), self.p("full", "x", "y"))
        self.assertErrno(errno.ENOENT, os.rename, self.p("missing"), self.p("z"))
        os.rename(self.p("empty", "sub"), self.p("full", "x", "sub"))  # across dirs
        self.assertEqual(os.listdir(self.p("empty")), [])
        self.assertEqual(os.listdir(self.p("full", "x")), ["sub"])
        # ".." of the moved directory follows it.
        self.assertEqual(os.stat(self.p("full", "x", "sub", "..")).st_ino, os.stat(self.p("full", "x")).st_ino)

    def test_rename_noreplace(self):
        write_file(self.p("a"), b"A")
        write_file(self.p("b"), b"B")
        self.assertErrno(errno.EEXIST, renameat2, self.p("a"), self.p("b"), RENAME_NOREPLACE)
        self.assertEqual(read_file(self.p("b")), b"B")
        renameat2(self.p("a"), self.p("c"), RENAME_NOREPLACE)
        self.assertEqual(sorted(harness.listdir(self.mnt)), ["b", "c"])

    def test_rename_exchange(self):
        write_file(self.p("a"), b"A")
        os.makedirs(self.p("d", "inner"))
        renameat2(self.p("a"), self.p("d"), RENAME_EXCHANGE)
        self.assertTrue(os.path.isdir(self.p("a", "inner")))
        self.assertEqual(read_file(self.p("d")), b"A")
        self.assertErrno(errno.ENOENT, renameat2, self.p("a"), self.p("nope"), RENAME_EXCHANGE)
        self.remount()
        self.assertTrue(os.path.isdir(self.p("a", "inner")))
        self.assertEqual(read_file(self.p("d")), b"A")


class Attrs(MountTestCase):
    """setattr: mode, owner, size, times (incl. UTIME_NOW); statfs."""

    def test_chmod_chown(self):
        write_file(self.p("f"), b"")
        os.chmod(self.p("f"), 0o4711)
        self.assertEqual(harness.file_mode(self.p("f")), 0o4711)
        os.chown(self.p("f"), 1234, 5678)
        st = os.stat(self.p("f"))
        self.assertEqual((st.st_uid, st.st_gid), (1234, 5678))
        self.assertEqual(harness.file_mode(self.p("f")) & 0o4000, 0, "chown clears setuid")
        self.assertErrno(errno.ENOENT, os.chmod, self.p("missing"), 0o600)

    def test_times(self):
        write_file(self.p("f"), b"")
        os.utime(self.p("f"), ns=(1_000_000_123, 2_000_000_456))
        st = os.stat(self.p("f"))
        self.assertEqual((st.st_atime_ns, st.st_mtime_ns), (1_000_000_123, 2_000_000_456))
        before = time.time_ns()
        os.utime(self.p("f"))  # UTIME_NOW for both
        st = os.stat(self.p("f"))
        self.assertGreaterEqual(st.st_mtime_ns, before - 10**9)
        self.assertLessEqual(st.st_mtime_ns, time.time_ns() + 10**9)
        m0 = os.stat(self.p("f")).st_mtime_ns
        time.sleep(0.02)
        fd = os.open(self.p("f"), os.O_WRONLY)
        os.write(fd, b"x")
        os.close(fd)
        self.assertGreater(os.stat(self.p("f")).st_mtime_ns, m0, "write updates mtime")
        self.remount()
        os.utime(self.p("f"), ns=(5, 7))
        self.remount()
        st = os.stat(self.p("f"))
        self.assertEqual((st.st_atime_ns, st.st_mtime_ns), (5, 7))

    def test_ctime_follows_changes(self):
        write_file(self.p("f"), b"")
        steps = [lambda: os.chmod(self.p("f"), 0o600), lambda: os.chown(self.p("f"), 7, 7),
                 lambda: os.link(self.p("f"), self.p("g")), lambda: os.setxattr(self.p("f"), "user.c", b"1"),
                 lambda: os.truncate(self.p("f"), 10)]
        for step in steps:
            c0 = os.stat(self.p("f")).st_ctime_ns
            time.sleep(0.01)
            step()
            self.assertGreater(os.stat(self.p("f")).st_ctime_ns, c0)
        d0 = os.stat(self.mnt)
        time.sleep(0.01)
        os.mkdir(self.p("d"))
        d1 = os.stat(self.mnt)
        self.assertGreater(d1.st_mtime_ns, d0.st_mtime_ns, "creating an entry updates the parent's mtime")
        self.assertGreater(d1.st_ctime_ns, d0.st_ctime_ns)

    def test_truncate_down_and_up(self):
        data = os.urandom(100_000)
        write_file(self.p("f"), data)
        os.truncate(self.p("f"), 5000)
        self.assertEqual(os.stat(self.p("f")).st_size, 5000)
        self.assertEqual(read_file(self.p("f")), data[:5000])
        os.truncate(self.p("f"), 300_000)
        got = read_file(self.p("f"))
        self.assertEqual(len(got), 300_000)
        self.assertEqual(got[:5000], data[:5000])
        self.assertEqual(got[5000:], b"\0" * (300_000 - 5000), "zeros after growth")
        fd = os.open(self.p("f"), os.O_RDWR)
        os.ftruncate(fd, 4097)
        os.close(fd)
        os.truncate(self.p("f"), 8192)  # the tail of block 0 must read as zeros too
        self.assertEqual(read_file(self.p("f")), data[:4097] + b"\0" * (8192 - 4097))
        write_file(self.p("g"), b"abc")
        fd = os.open(self.p("g"), os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
        self.assertEqual(os.stat(self.p("g")).st_size, 0)

    def test_statfs(self):
        st = os.statvfs(self.mnt)
        self.assertGreater(st.f_blocks, 0)
        self.assertGreater(st.f_bsize, 0)
        self.assertLessEqual(st.f_bfree, st.f_blocks)
        self.assertEqual(st.f_namemax, 255)
        free0 = st.f_bfree
        write_file(self.p("f"), os.urandom(8 << 20))
        used = (free0 - os.statvfs(self.mnt).f_bfree) * st.f_frsize
        self.assertGreaterEqual(used, 8 << 20)
        os.unlink(self.p("f"))
        # The blocks are freed at the last reference: the kernel's FORGET for
        # the unlinked inode arrives asynchronously, so give it a moment.
        deadline = time.monotonic() + 5
        while os.statvfs(self.mnt).f_bfree < free0 - 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(os.statvfs(self.mnt).f_bfree, free0 - 4)


class Xattrs(MountTestCase):
    def test_xattr_calls(self):
        write_file(self.p("f"), b"")
        os.setxattr(self.p("f"), "user.a", b"1")
        os.setxattr(self.p("f"), "user.big", b"v" * 3000)
        os.setxattr(self.p("f"), "trusted.t", b"root only")
        os.setxattr(self.p("f"), "security.s", b"sec")
        self.assertEqual(os.getxattr(self.p("f"), "user.a"), b"1")
        self.assertEqual(os.getxattr(self.p("f"), "user.big"), b"v" * 3000)
        self.assertEqual(set(os.listxattr(self.p("f"))) >= {"user.a", "user.big", "trusted.t", "security.s"}, True)
        self.assertErrno(errno.ENODATA, os.getxattr, self.p("f"), "user.none")
        self.assertErrno(errno.EEXIST, os.setxattr, self.p("f"), "user.a", b"2", os.XATTR_CREATE)
        self.assertErrno(errno.ENODATA, os.setxattr, self.p("f"), "user.none", b"2", os.XATTR_REPLACE)
        os.setxattr(self.p("f"), "user.a", b"22", os.XATTR_REPLACE)
        self.assertEqual(os.getxattr(self.p("f"), "user.a"), b"22")
        os.setxattr(self.p("f"), "user.empty", b"")
        self.assertEqual(os.getxattr(self.p("f"), "user.empty"), b"")
        os.removexattr(self.p("f"), "user.a")
        self.assertErrno(errno.ENODATA, os.removexattr, self.p("f"), "user.a")
        self.assertNotIn("user.a", os.listxattr(self.p("f")))
        os.mkdir(self.p("d"))
        os.setxattr(self.p("d"), "user.onadir", b"yes")
        self.remount()
        self.assertEqual(os.getxattr(self.p("f"), "user.big"), b"v" * 3000)
        self.assertEqual(os.getxattr(self.p("d"), "user.onadir"), b"yes")
        self.assertEqual(os.getxattr(self.p("f"), "trusted.t"), b"root only")


class Sparse(MountTestCase):
    """fallocate, lseek SEEK_DATA/SEEK_HOLE, files beyond 4 GiB."""

    def test_sparse_beyond_4g(self):
        off = 5 << 30
        fd = os.open(self.p("s"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, b"head", 0)
            os.pwrite(fd, b"tail" * 1024, off)
            st = os.fstat(fd)
            self.assertEqual(st.st_size, off + 4096)
            self.assertLess(st.st_blocks * 512, 1 << 20, "holes take no space")
            self.assertEqual(os.pread(fd, 8, 0), b"head\0\0\0\0")
            self.assertEqual(os.pread(fd, 4096, 3 << 30), b"\0" * 4096)
            self.assertEqual(os.pread(fd, 8, off), b"tailtail")
            self.assertEqual(os.lseek(fd, 4096, os.SEEK_DATA), off)
            self.assertEqual(os.lseek(fd, 0, os.SEEK_HOLE), 4096)
            self.assertEqual(os.lseek(fd, off, os.SEEK_HOLE), off + 4096)
            self.assertErrno(errno.ENXIO, os.lseek, fd, off + 4096, os.SEEK_DATA)
        finally:
            os.close(fd)
        self.remount()
        with open(self.p("s"), "rb") as f:
            f.seek(off)
            self.assertEqual(f.read(8), b"tailtail")

    def test_fallocate_modes(self):
        fd = os.open(self.p("f"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.posix_fallocate(fd, 0, 1 << 20)  # mode 0
            st = os.fstat(fd)
            self.assertEqual(st.st_size, 1 << 20)
            self.assertGreaterEqual(st.st_blocks * 512, 1 << 20)
            self.assertEqual(os.pread(fd, 4096, 8192), b"\0" * 4096)
            fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20)
            self.assertEqual(os.fstat(fd).st_size, 1 << 20)
            self.assertGreaterEqual(os.fstat(fd).st_blocks * 512, 2 << 20)
            os.pwrite(fd, b"\xff" * (1 << 20), 0)
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 65536)
            self.assertEqual(os.fstat(fd).st_size, 1 << 20)
            self.assertEqual(os.pread(fd, 65536, 65536), b"\0" * 65536)
            self.assertEqual(os.pread(fd, 4, 65532), b"\xff" * 4)
            self.assertEqual(os.pread(fd, 4, 131072), b"\xff" * 4)
            self.assertEqual(os.lseek(fd, 0, os.SEEK_HOLE), 65536)
            self.assertEqual(os.lseek(fd, 65536, os.SEEK_DATA), 131072)
            self.assertErrno(errno.EOPNOTSUPP, fallocate, fd, 0x08, 0, 4096)  # COLLAPSE_RANGE
        finally:
            os.close(fd)


class Integrity(MountTestCase):
    def test_big_file_checksums(self):
        size = (256 << 20) if harness.LONG else (48 << 20)
        rnd = random.Random(1234)
        h = hashlib.sha256()
        fd = os.open(self.p("big"), os.O_WRONLY | os.O_CREAT, 0o644)
        done = 0
        while done < size:  # odd sizes, so writes straddle blocks and requests
            n = min(rnd.choice([1, 511, 4096, 65537, 1 << 20, 3 << 20]), size - done)
            chunk = rnd.randbytes(n)
            h.update(chunk)
            os.write(fd, chunk)
            done += n
        os.fsync(fd)
        os.close(fd)
        self.remount()
        g = hashlib.sha256()
        with open(self.p("big"), "rb") as f:
            for chunk in iter(lambda: f.read(777_777), b""):
                g.update(chunk)
        self.assertEqual(g.hexdigest(), h.hexdigest())


class Permissions(MountTestCase):
    """default_permissions, checked by the kernel, as uid 65534 with allow_other."""

    mount_opts = ("allow_other",)

    def test_other_user(self):
        os.chmod(self.mnt, 0o755)
        for name, mode in (("closed", 0o755), ("open", 0o777), ("sticky", 0o1777)):
            os.mkdir(self.p(name))
            os.chmod(self.p(name), mode)  # past the umask
        write_file(self.p("secret"), b"s", 0o600)
        write_file(self.p("public"), b"p", 0o644)
        write_file(self.p("sticky", "roots"), b"", 0o666)
        os.chmod(self.p("sticky", "roots"), 0o666)
        m = self.mnt
        self.assertEqual(as_nobody("open(%r).read()" % self.p("public")), "ok")
        self.assertEqual(as_nobody("open(%r).read()" % self.p("secret")), "EACCES")
        self.assertEqual(as_nobody("open(%r, 'w')" % self.p("public")), "EACCES")
        self.assertEqual(as_nobody("open(%r, 'w')" % os.path.join(m, "closed", "x")), "EACCES")
        self.assertEqual(as_nobody("os.mkdir(%r)" % os.path.join(m, "closed", "x")), "EACCES")
        self.assertEqual(as_nobody("os.unlink(%r)" % self.p("public")), "EACCES")
        self.assertEqual(as_nobody("os.chmod(%r, 0o777)" % self.p("public")), "EPERM")
        self.assertEqual(as_nobody("os.chown(%r, 65534, 65534)" % self.p("public")), "EPERM")
        self.assertEqual(as_nobody("os.utime(%r, (1, 1))" % self.p("public")), "EPERM")
        self.assertEqual(as_nobody("os.unlink(%r)" % os.path.join(m, "sticky", "roots")), "EPERM")
        self.assertEqual(as_nobody("os.setxattr(%r, 'trusted.x', b'1')" % os.path.join(m, "open")), "EPERM")
        # What nobody may do, and the owner of what it creates.
        self.assertEqual(as_nobody("open(%r, 'w').write('n')" % os.path.join(m, "open", "mine")), "ok")
        st = os.stat(self.p("open", "mine"))
        self.assertEqual((st.st_uid, st.st_gid), (NOBODY, NOBODY))
        self.assertEqual(as_nobody("os.chmod(%r, 0o600)" % os.path.join(m, "open", "mine")), "ok")
        self.assertEqual(as_nobody("os.utime(%r)" % self.p("public")), "EACCES")

    def test_setgid_directory_inherits_group(self):
        os.mkdir(self.p("g"), 0o777)
        os.chown(self.p("g"), 0, 4242)
        os.chmod(self.p("g"), 0o2777)
        self.assertEqual(as_nobody("os.mkdir(%r)" % self.p("g", "sub")), "ok")
        st = os.stat(self.p("g", "sub"))
        self.assertEqual(st.st_gid, 4242)
        self.assertTrue(st.st_mode & stat.S_ISGID)


class ReadOnly(MountTestCase):
    def test_ro_mount(self):
        write_file(self.p("f"), b"keep")
        self.remount(opts=("ro",))
        self.assertEqual(read_file(self.p("f")), b"keep")
        self.assertErrno(errno.EROFS, os.open, self.p("f"), os.O_WRONLY)
        self.assertErrno(errno.EROFS, os.mkdir, self.p("d"))
        self.assertErrno(errno.EROFS, os.unlink, self.p("f"))


class Space(MountTestCase):
    """ENOSPC on a small image, and consistency after it."""

    image_size = "16M"

    def test_enospc_then_recover(self):
        fd = os.open(self.p("fill"), os.O_WRONLY | os.O_CREAT, 0o644)
        chunk = b"\xab" * (1 << 20)
        written = 0
        try:
            with self.assertRaises(OSError) as cm:
                for _ in range(64):
                    written += os.write(fd, chunk)
        finally:
            os.close(fd)
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertGreater(written, 4 << 20)
        self.assertErrno(errno.ENOSPC, write_file, self.p("more"), chunk)
        # Metadata still works where it needs no new block, and data read back is intact.
        size = os.stat(self.p("fill")).st_size
        with open(self.p("fill"), "rb") as f:
            self.assertEqual(f.read(1 << 20), chunk)
        os.unlink(self.p("fill"))
        if os.path.exists(self.p("more")):
            os.unlink(self.p("more"))
        write_file(self.p("after"), chunk * 2)
        self.assertEqual(read_file(self.p("after")), chunk * 2)
        self.assertGreater(size, 0)


class InodeSpace(MountTestCase):
    image_size = "32M"
    mkfs_args = ("-N", "512")

    def test_inodes_run_out(self):
        n = 0
        with self.assertRaises(OSError) as cm:
            for n in range(200_000):
                os.close(os.open(self.p("i%d" % n), os.O_CREAT | os.O_WRONLY, 0o644))
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertGreater(n, 100)
        os.unlink(self.p("i0"))
        # The inode is freed when the kernel forgets it, which it sends
        # asynchronously after the unlink: allow it a moment.
        for _ in range(50):
            try:
                os.close(os.open(self.p("again"), os.O_CREAT | os.O_WRONLY, 0o644))
                break
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                time.sleep(0.1)
        self.assertTrue(os.path.exists(self.p("again")), "an unlinked inode is reused")


PARALLEL_WORKER = r'''
import os, sys
mnt, i = sys.argv[1], int(sys.argv[2])
own = os.path.join(mnt, "w%d" % i)
os.mkdir(own)
fd = os.open(os.path.join(mnt, "shared-file"), os.O_WRONLY)
for n in range(300):
    p = os.path.join(own, "f%d" % n)
    with open(p, "wb") as f:
        f.write(bytes([i, n % 256]) * (n * 7))
    if n % 3 == 0:
        os.rename(p, os.path.join(mnt, "shared", "w%d-f%d" % (i, n)))
    elif n % 3 == 1:
        os.unlink(p)
    os.pwrite(fd, bytes([i + 1]) * 4096, (i * 300 + n) * 4096)
    os.listdir(os.path.join(mnt, "shared"))
os.close(fd)
'''


class Concurrency(MountTestCase):
    """The multi-threaded session loop: 8 processes at once, each in its own
    directory, all renaming into one shared directory and writing disjoint
    ranges of one shared file."""

    def test_parallel_workers(self):
        nw = 8
        os.mkdir(self.p("shared"))
        os.close(os.open(self.p("shared-file"), os.O_CREAT | os.O_WRONLY, 0o644))
        procs = [subprocess.Popen([sys.executable, "-c", PARALLEL_WORKER, self.mnt, str(i)]) for i in range(nw)]
        self.assertEqual([p.wait(300) for p in procs], [0] * nw)
        shared = set(os.listdir(self.p("shared")))
        self.assertEqual(shared, {"w%d-f%d" % (i, n) for i in range(nw) for n in range(0, 300, 3)})
        for i in range(nw):
            self.assertEqual(set(os.listdir(self.p("w%d" % i))), {"f%d" % n for n in range(2, 300, 3)})
            for n in (3, 150, 297):
                self.assertEqual(read_file(self.p("shared", "w%d-f%d" % (i, n))), bytes([i, n % 256]) * (n * 7))
        data = read_file(self.p("shared-file"))
        self.assertEqual(len(data), nw * 300 * 4096)
        for i in range(nw):
            self.assertEqual(data[i * 300 * 4096:(i + 1) * 300 * 4096], bytes([i + 1]) * (300 * 4096))
        self.assertEqual(os.stat(self.p("shared")).st_nlink, 2)


if __name__ == "__main__":
    harness.run_tests(globals())
