#!/usr/bin/env python3
"""test_meta_errors.py: metadata and data write failures.

Failures are injected at runtime with eiocbctl: `fault device_write meta=1`
fails the filesystem's metadata writes (journal log and home blocks),
`fault device_write` without meta fails file data I/O only.
- errors=remount-ro (default): the commit holding the failed write reports
  EROFS to the fsync that asked for it, every later change gets EROFS,
  reads of intact data still work; the daemon logs the event once with the
  block number; the superblock records it, so fsck.eiocbfs -n reports
  errors (exit 4); fsck -y repairs, then -n is clean, and after remount
  everything committed before the failure is there and the failed
  transaction is not (nothing half-applied).
- errors=shutdown: the same with EIO.
- errors=continue: the failure is logged and recorded, changes go on.
- a failure in the middle of a commit (its second block): after replay the
  transaction is absent as a whole, fsck clean after -y.
- a failed data write: EIO to its writer, nothing else touched (other
  files intact, changes still accepted), fsck -n clean.
"""

import errno
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402
from harness import Mount  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
FSCK = os.environ.get("FSCK_EIOCBFS", "")


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsck(target, *modes):
    return subprocess.run([FSCK] + list(modes) + [target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


class MetaErrors(unittest.TestCase):

    def setUp(self):
        self.dir = harness.new_dir("t-")
        self.image = os.path.join(self.dir, "image")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        harness.mkfs(self.image, size="64M")
        # Our own control socket: independent of /run/eiocbfs (other tests).
        self.sock = os.path.join(self.dir, "ctl.sock")

    def p(self, *names):
        return os.path.join(self.mnt, *names)

    def ctl(self, *words):
        r = subprocess.run([EIOCBCTL, self.mnt, "fault"] + list(words), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30,
                           env=dict(os.environ, EIOCBCTL_SOCKET=self.sock))
        self.assertEqual(r.returncode, 0, r.stderr)

    def populate(self):
        with open(self.p("keep"), "wb") as f:
            f.write(b"intact data\n" * 1000)
            f.flush()
            os.fsync(f.fileno())
        os.mkdir(self.p("before"))
        fsync_path(self.mnt)

    def fail_and_check(self, opts, err):
        m = Mount(self.image, self.mnt, opts=list(opts) + ["control=" + self.sock],
                  fsck_after=False).start()
        try:
            self.populate()
            self.ctl("device_write", "meta=1", "times=1")
            os.mkdir(self.p("lost"))  # in memory; its commit fails
            with self.assertRaises(OSError) as cm:
                fsync_path(self.mnt)
            self.assertEqual(cm.exception.errno, err)
            for fn in (lambda: os.mkdir(self.p("after")),
                       lambda: open(self.p("newfile"), "w").close(),
                       lambda: os.rename(self.p("keep"), self.p("moved"))):
                with self.assertRaises(OSError) as cm:
                    fn()
                self.assertEqual(cm.exception.errno, err, errno.errorcode[cm.exception.errno])
            with open(self.p("keep"), "rb") as f:  # intact data still reads
                self.assertEqual(f.read(), b"intact data\n" * 1000)
            self.assertIn("before", os.listdir(self.mnt))
        finally:
            m.unmount(check_exit=False)
        log = m.output()
        lines = [l for l in log.splitlines() if "metadata write error" in l]
        self.assertEqual(len(lines), 1, log)
        self.assertRegex(lines[0], r"at block \d+")
        block = re.search(r"at block (\d+)", lines[0]).group(1)
        r = fsck(self.image, "-n", "-v")
        self.assertEqual(r.returncode, 4, r.stdout)
        self.assertIn("block %s" % block, r.stdout)  # the superblock's record
        r = fsck(self.image, "-y")
        self.assertIn(r.returncode, (0, 1), r.stdout)
        r = fsck(self.image, "-n")
        self.assertEqual(r.returncode, 0, r.stdout)
        with Mount(self.image, self.mnt):
            names = sorted(harness.listdir(self.mnt))
            self.assertEqual(names, ["before", "keep"])
            with open(self.p("keep"), "rb") as f:
                self.assertEqual(f.read(), b"intact data\n" * 1000)
            os.mkdir(self.p("writable_again"))

    def test_errors_remount_ro_default(self):
        self.fail_and_check([], errno.EROFS)

    def test_errors_remount_ro_explicit(self):
        self.fail_and_check(["errors=remount-ro"], errno.EROFS)

    def test_errors_shutdown(self):
        self.fail_and_check(["errors=shutdown"], errno.EIO)

    def test_errors_continue(self):
        m = Mount(self.image, self.mnt, opts=["errors=continue", "control=" + self.sock],
                  fsck_after=False).start()
        try:
            self.populate()
            self.ctl("device_write", "meta=1", "times=1")
            os.mkdir(self.p("d1"))
            fsync_path(self.mnt)  # the failure is recorded, the write made
            os.mkdir(self.p("d2"))
            fsync_path(self.mnt)
        finally:
            m.unmount(check_exit=False)
        self.assertEqual(m.output().count("metadata write error"), 1, m.output())
        r = fsck(self.image, "-n", "-v")  # the recorded error makes fsck look at everything
        self.assertEqual(r.returncode, 4, r.stdout)
        self.assertIn("recorded an error", r.stdout)
        fsck(self.image, "-y")
        self.assertEqual(fsck(self.image, "-n").returncode, 0)
        with Mount(self.image, self.mnt):
            self.assertEqual(sorted(harness.listdir(self.mnt)), ["before", "d1", "d2", "keep"])

    def test_failure_inside_a_commit_is_not_half_applied(self):
        m = Mount(self.image, self.mnt, opts=["control=" + self.sock], fsck_after=False).start()
        try:
            self.populate()
            # A transaction of many blocks; its second metadata block fails.
            self.ctl("device_write", "meta=1", "interval=2", "times=1")
            for i in range(20):
                os.mkdir(self.p("half%d" % i))
            with self.assertRaises(OSError):
                fsync_path(self.mnt)
        finally:
            m.unmount(check_exit=False)
        r = fsck(self.image, "-y")
        self.assertIn(r.returncode, (0, 1), r.stdout)
        self.assertEqual(fsck(self.image, "-n").returncode, 0)
        with Mount(self.image, self.mnt):
            names = sorted(harness.listdir(self.mnt))
            self.assertEqual(names, ["before", "keep"], "a half-written transaction was replayed")

    def test_data_write_failure_is_eio_to_its_writer_only(self):
        with Mount(self.image, self.mnt, opts=["control=" + self.sock]) as m:  # fsck -n after
            self.populate()
            with open(self.p("victim"), "wb") as f:
                f.write(b"v" * 65536)
            st = os.stat(self.p("victim"))
            self.ctl("device_write", "ino=%d" % st.st_ino)
            fd = os.open(self.p("victim"), os.O_WRONLY | os.O_DIRECT)
            import mmap
            buf = mmap.mmap(-1, 4096)
            buf[:] = b"w" * 4096
            try:
                with self.assertRaises(OSError) as cm:
                    os.pwrite(fd, buf, 0)
                self.assertEqual(cm.exception.errno, errno.EIO)
            finally:
                os.close(fd)
            self.ctl("device_write", "off")
            os.mkdir(self.p("still_writable"))
            fsync_path(self.mnt)
            with open(self.p("keep"), "rb") as f:
                self.assertEqual(f.read(), b"intact data\n" * 1000)
            with open(self.p("victim"), "rb") as f:
                # The failed block holds the old or the new bytes, never a mix of
                # anything else; the rest of the file is untouched.
                self.assertIn(f.read(4096), (b"v" * 4096, b"w" * 4096))
                self.assertEqual(f.read(), b"v" * (65536 - 4096))
            self.assertIsNotNone(m)
        with Mount(self.image, self.mnt):
            self.assertEqual(sorted(harness.listdir(self.mnt)), ["before", "keep", "still_writable",
                                                            "victim"])


if __name__ == "__main__":
    for tool, path in (("eiocbctl", EIOCBCTL), ("fsck.eiocbfs", FSCK)):
        if not path or not os.access(path, os.X_OK):
            harness.skip_program(tool + " is not built")
    harness.run_tests(globals())
