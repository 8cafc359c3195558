#!/usr/bin/env python3
"""test_handles.py: file handles (name_to_handle_at, open_by_handle_at), on
eiocbfs and (the same tests) on ext4.

- a handle of a linked file or directory opens it again, also after the
  kernel dropped its caches (echo 2 > /proc/sys/vm/drop_caches: the
  filesystem then finds the inode by number and generation);
- a handle of a file deleted (and closed) fails ESTALE, also once its
  inode number is used by a new file.
"""

import ctypes
import errno
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
MAX_HANDLE_SZ = 128


class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * MAX_HANDLE_SZ)]


def name_to_handle(path):
    fh = FileHandle(handle_bytes=MAX_HANDLE_SZ)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(AT_FDCWD, os.fsencode(path), ctypes.byref(fh), ctypes.byref(mount_id), 0) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    return fh


def open_by_handle(mount_fd, fh, flags=os.O_RDONLY):
    fd = libc.open_by_handle_at(mount_fd, ctypes.byref(fh), flags)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return fd


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    time.sleep(0.2)  # the kernel's FORGETs reach the filesystem


class Handles:

    def setUp(self):
        super().setUp()
        self.mfd = os.open(self.mnt, os.O_RDONLY | os.O_DIRECTORY)
        self.addCleanup(os.close, self.mfd)

    def check_open(self, fh, want_ino, data=None):
        fd = open_by_handle(self.mfd, fh)
        try:
            self.assertEqual(os.fstat(fd).st_ino, want_ino)
            if data is not None:
                self.assertEqual(os.read(fd, len(data)), data)
        finally:
            os.close(fd)

    def test_file_and_directory_across_eviction(self):
        os.makedirs(self.p("d", "e"))
        p = self.p("d", "e", "f")
        with open(p, "wb") as f:
            f.write(b"handle data")
        fh, dh = name_to_handle(p), name_to_handle(self.p("d", "e"))
        ino, dino = os.stat(p).st_ino, os.stat(self.p("d", "e")).st_ino
        self.check_open(fh, ino, b"handle data")
        self.check_open(dh, dino)
        for _ in range(2):
            drop_caches()
            self.check_open(fh, ino, b"handle data")
            drop_caches()
            self.check_open(dh, dino)

    def test_deleted_file_is_estale(self):
        p = self.p("gone")
        with open(p, "wb") as f:
            f.write(b"x")
        fh = name_to_handle(p)
        os.unlink(p)
        drop_caches()
        self.assertErrno(errno.ESTALE, open_by_handle, self.mfd, fh)
        for i in range(20):  # its number may be reused: a new generation
            with open(self.p("new%d" % i), "wb") as f:
                f.write(b"y")
        drop_caches()
        self.assertErrno(errno.ESTALE, open_by_handle, self.mfd, fh)


linuxfs.twins(Handles, globals())

if __name__ == "__main__":
    harness.run_tests(globals())
