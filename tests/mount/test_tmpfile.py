#!/usr/bin/env python3
"""test_tmpfile.py: open(2) with O_TMPFILE and linkat(2) of such a file, on
eiocbfs and (the same tests) on ext4.

- O_TMPFILE in a directory makes a regular file with no name: it reads
  back what was written, fstat says nlink 0 and the mode asked for, no
  directory listing shows it;
- its blocks count in statfs while it is open and come back at its close;
- linkat(fd, "", dirfd, name, AT_EMPTY_PATH) gives it a name (nlink 1),
  with its data; O_TMPFILE|O_EXCL forbids that (ENOENT, the kernel's
  check); linkat through /proc/self/fd/N with AT_SYMLINK_FOLLOW as well,
  where this machine's /proc allows it;
- O_TMPFILE|O_DIRECT writes and reads aligned blocks;
- a crash (eiocbfs: `eiocbctl MNT crash`, a power cut; ext4: the
  EXT4_IOC_SHUTDOWN ioctl without log flush) with such a file open and
  written: the filesystem is clean (fsck) and the next mount frees the
  file's blocks (the orphan list, as ext4's).
"""

import ctypes
import errno
import fcntl
import mmap
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2
MB = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


def linkat(olddirfd, oldpath, newpath, flags):
    r = _libc.linkat(olddirfd, os.fsencode(oldpath), AT_FDCWD, os.fsencode(newpath), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), newpath)


def link_fd(fd, newpath):
    linkat(fd, "", newpath, AT_EMPTY_PATH)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bfree * st.f_frsize


def write_all(fd, size, seed=b"tmpfile "):
    data = (seed * (MB // len(seed) + 1))[:MB]
    for _ in range(size // MB):
        os.write(fd, data)
    return data


class Tmpfile:

    def tmpfile(self, where=None, flags=os.O_RDWR, mode=0o640):
        fd = os.open(where or self.mnt, os.O_TMPFILE | flags, mode)
        self.addCleanup(self.close_quietly, fd)
        return fd

    def close_quietly(self, fd):
        try:
            os.close(fd)
        except OSError:
            pass

    def test_no_name(self):
        d = self.p("d")
        os.mkdir(d)
        with open(os.path.join(d, "other"), "w") as f:
            f.write("x")
        before = sorted(os.listdir(d))
        fd = self.tmpfile(d)
        os.write(fd, b"hello, nobody")
        self.assertEqual(os.pread(fd, 100, 0), b"hello, nobody")
        st = os.fstat(fd)
        self.assertEqual(st.st_nlink, 0)
        self.assertEqual(oct(st.st_mode), oct(0o100640))
        self.assertEqual(st.st_size, 13)
        self.assertEqual(sorted(os.listdir(d)), before)
        self.assertEqual(os.stat(d).st_nlink, 2)
        self.assertErrno(errno.ENOTDIR, os.open, os.path.join(d, "other"), os.O_TMPFILE | os.O_RDWR, 0o600)
        self.assertErrno(errno.ENOENT, os.open, self.p("missing"), os.O_TMPFILE | os.O_RDWR, 0o600)

    def test_space_freed_at_close(self):
        free0 = free_bytes(self.mnt)
        fd = self.tmpfile()
        write_all(fd, 16 * MB)
        self.assertLess(free_bytes(self.mnt), free0 - 15 * MB, "an open tmpfile's blocks are in use")
        os.close(fd)
        deadline = time.monotonic() + 5
        while free_bytes(self.mnt) < free0 - MB and time.monotonic() < deadline:
            time.sleep(0.05)  # the last close frees them (the kernel's release is asynchronous)
        self.assertGreaterEqual(free_bytes(self.mnt), free0 - MB, "its blocks are back after close")

    def test_linkat_empty_path(self):
        fd = self.tmpfile()
        data = write_all(fd, 2 * MB)
        link_fd(fd, self.p("named"))
        self.assertEqual(os.fstat(fd).st_nlink, 1)
        self.assertIn("named", os.listdir(self.mnt))
        st = os.stat(self.p("named"))
        self.assertEqual((st.st_ino, st.st_size, st.st_nlink), (os.fstat(fd).st_ino, 2 * MB, 1))
        os.close(fd)
        with open(self.p("named"), "rb") as f:
            self.assertEqual(f.read(), data * 2)
        fd = self.tmpfile()
        self.assertErrno(errno.EEXIST, link_fd, fd, self.p("named"))
        os.close(fd)
        self.remount()
        with open(self.p("named"), "rb") as f:
            self.assertEqual(f.read(), data * 2, "the linked file lasts across a remount")

    def test_excl_cannot_be_linked(self):
        fd = self.tmpfile(flags=os.O_RDWR | os.O_EXCL)
        os.write(fd, b"private")
        self.assertErrno(errno.ENOENT, link_fd, fd, self.p("named"))
        self.assertNotIn("named", os.listdir(self.mnt))
        self.assertEqual(os.pread(fd, 10, 0), b"private")

    def test_linkat_proc_fd(self):
        fd = self.tmpfile()
        os.write(fd, b"through /proc")
        try:
            linkat(AT_FDCWD, "/proc/self/fd/%d" % fd, self.p("viaproc"), AT_SYMLINK_FOLLOW)
        except OSError as e:
            if e.errno == errno.EXDEV:  # seen on tmpfs here too: the machine's /proc
                self.skipTest("linkat through /proc/self/fd gives EXDEV on this machine, for every filesystem")
            raise
        with open(self.p("viaproc"), "rb") as f:
            self.assertEqual(f.read(), b"through /proc")

    def test_direct(self):
        fd = self.tmpfile(flags=os.O_RDWR | os.O_DIRECT)
        buf = mmap.mmap(-1, 64 * 1024)  # page-aligned
        buf.write(bytes(range(256)) * 256)
        self.assertEqual(os.pwritev(fd, [buf], 4096), len(buf))
        back = mmap.mmap(-1, 64 * 1024)
        self.assertEqual(os.preadv(fd, [back], 4096), len(back))
        self.assertEqual(back[:], buf[:])
        self.assertEqual(os.fstat(fd).st_size, 4096 + len(buf))
        link_fd(fd, self.p("direct"))
        with open(self.p("direct"), "rb") as f:
            self.assertEqual(f.read(), bytes(4096) + buf[:])

    def test_crash_with_tmpfile_open(self):
        free0 = free_bytes(self.mnt)
        fd = self.tmpfile()
        write_all(fd, 16 * MB)
        os.fsync(fd)
        self.assertLess(free_bytes(self.mnt), free0 - 15 * MB)
        self.crash(fd)
        self.assertGreaterEqual(free_bytes(self.mnt), free0 - MB, "the orphan's blocks freed at mount")


class EiocbfsCrash:
    """A power cut through the control channel, the file still open."""

    def setUp(self):
        self.sock = os.path.join(harness.new_dir("s-"), "ctl.sock")
        self.mount_opts = ("control=" + self.sock,)
        super().setUp()

    def crash(self, fd):
        if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
            self.skipTest("eiocbctl is not built")
        r = subprocess.run([EIOCBCTL, self.mnt, "crash"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30, env=dict(os.environ, EIOCBCTL_SOCKET=self.sock))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.m.proc.wait(30), 0, self.m.output())
        self.m.kill()  # detach the dead mount
        self.close_quietly(fd)
        harness.fsck(self.target)  # the crashed image: clean (journal replayed in memory)
        self.m = harness.Mount(self.target, self.mnt, opts=self.mount_opts).start()


class Ext4Crash:
    """ext4's own shutdown ioctl: nothing more reaches the disk, the log
    not flushed; the file is closed and the filesystem mounted again."""

    def crash(self, fd):
        mfd = os.open(self.mnt, os.O_RDONLY)
        try:
            fcntl.ioctl(mfd, EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH.to_bytes(4, "little"))
        finally:
            os.close(mfd)
        self.close_quietly(fd)
        self.remount()
        self._umount()
        r = subprocess.run(["e2fsck", "-fn", self.loop], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        self._mount(self.ext4_opts)


linuxfs.twins(Tmpfile, globals(), eiocbfs_bases=(EiocbfsCrash,), ext4_bases=(Ext4Crash,))

if __name__ == "__main__":
    harness.run_tests(globals())
