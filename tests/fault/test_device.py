#!/usr/bin/env python3
"""test_device.py: the device fault points on a real mount (docs: fault.h,
README "Fault testing your application"). Each test checks what the
application sees and what lands on the image, read back through a fresh
mount (the page cache cold) after an unmount that leaves fsck -n clean.

- io=buffered: a write-back hit by device_write surfaces at fsync, once per
  open file description (errseq); the page stays dirty and a later fsync
  writes it.
- fsync: fsync fails, the retry succeeds, the data is read until the cache
  lets it go, and the image keeps the older data (Linux after a failed
  write-back).
- nth= fails exactly one call; seed= repeats the same failures; pid= and
  comm= spare other processes.
- kind=torn/lost/corrupt change exactly the bytes they say; a corrupt read
  leaves the image intact.
- enospc fill=: allocations fail past the fill level only.
- path= names files by glob, now and when created or renamed later.
- a buffered write-back hit by torn or lost changes exactly those bytes of
  the image (read from the image file, the filesystem unmounted).
- up=/down= windows fail only in the down window; faults save FILE and
  -o faults=FILE set the same points again, a bad line refuses the mount.
"""

import errno
import mmap
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
BS = 4096


def aligned(data):
    buf = mmap.mmap(-1, max(len(data), BS))
    buf[:len(data)] = data
    return buf


def pwrite_direct(path, data, off):
    """Returns 0 or the errno of one O_DIRECT pwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        os.pwrite(fd, aligned(data), off)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def pread_direct(path, n, off):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = aligned(b"\0" * n)
        got = os.preadv(fd, [buf], off)
        return bytes(buf[:got])
    finally:
        os.close(fd)


# A child that writes n O_DIRECT blocks and prints one errno per write.
CHILD = r"""
import mmap, os, sys
path, n = sys.argv[1], int(sys.argv[2])
buf = mmap.mmap(-1, 4096); buf[:] = b"c" * 4096
fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
out = []
for i in range(n):
    try:
        os.pwrite(fd, buf, i * 4096); out.append(0)
    except OSError as e:
        out.append(e.errno)
print(" ".join(map(str, out)))
"""


class Device(harness.MountTestCase):
    image_size = "64M"

    def ctl(self, *args):
        r = subprocess.run([EIOCBCTL, self.mnt] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "eiocbctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def make(self, name, data):
        with open(self.p(name), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def image_read(self, name):
        """The file as the image holds it: through a fresh mount."""
        self.remount()
        with open(self.p(name), "rb") as f:
            return f.read()

    def direct_writes(self, name, n):
        return [pwrite_direct(self.p(name), bytes([65 + i % 26]) * BS, i * BS) for i in range(n)]

    # -- buffered I/O and fsync ------------------------------------------

    def test_buffered_writeback_error_reaches_fsync_once_per_open_file(self):
        self.make("f", b"o" * BS)
        a = os.open(self.p("f"), os.O_RDWR)
        b = os.open(self.p("f"), os.O_RDWR)
        try:
            os.pwrite(a, b"n" * BS, 0)  # a buffered write: no device I/O yet
            self.ctl("fault", "device_write", "io=buffered", "times=1")
            self.assertErrno(errno.EIO, os.fsync, a)  # its write-back failed
            os.fsync(a)  # reported once; the page stayed dirty and is written now
            self.assertErrno(errno.EIO, os.fsync, b)  # b was open: it sees it too, once
            os.fsync(b)
        finally:
            os.close(a)
            os.close(b)
        log = self.ctl("faults", "log")
        self.assertIn("device_write", log)
        self.assertIn("EIO", log)
        self.assertEqual(self.image_read("f"), b"n" * BS)

    def test_fsync_failure_loses_the_data_as_linux_does(self):
        self.make("db", b"old!" * (4 * BS // 4))
        fd = os.open(self.p("db"), os.O_RDWR)
        try:
            os.pwrite(fd, b"new!" * (4 * BS // 4), 0)
            self.ctl("fault", "fsync", "times=1")
            self.assertErrno(errno.EIO, os.fsync, fd)
            os.fsync(fd)  # the retry "succeeds": nothing is dirty any more
            self.assertEqual(os.pread(fd, 4 * BS, 0), b"new!" * BS)  # still cached
        finally:
            os.close(fd)
        self.assertEqual(self.image_read("db"), b"old!" * BS)  # what the device has

    # -- knobs ------------------------------------------------------------

    def test_nth_fails_exactly_one_call(self):
        self.make("f", b"\0" * 10 * BS)
        self.ctl("fault", "device_write", "io=direct", "nth=3")
        res = self.direct_writes("f", 10)
        self.assertEqual(res, [0, 0, errno.EIO] + [0] * 7)
        data = self.image_read("f")
        self.assertEqual(data[2 * BS:3 * BS], b"\0" * BS)  # the failed write never landed
        self.assertEqual(data[3 * BS:4 * BS], b"D" * BS)

    def test_seed_gives_the_same_failures_twice(self):
        self.make("f", b"\0" * 40 * BS)
        runs = []
        for _ in range(2):
            self.ctl("fault", "device_write", "io=direct", "probability=30", "seed=1234")
            runs.append(self.direct_writes("f", 40))
            self.ctl("fault", "device_write", "off")
        self.assertEqual(runs[0], runs[1])
        self.assertTrue(0 < runs[0].count(errno.EIO) < 40, runs[0])

    def test_pid_and_comm_spare_other_processes(self):
        self.make("f", b"\0" * 4 * BS)
        script = os.path.join(self.dir, "child.py")
        with open(script, "w") as f:
            f.write(CHILD)
        # pid=: the child waits for a line, so the fault can name its pid first
        # (exec keeps the shell's pid).
        r = subprocess.Popen(["sh", "-c", "read x; exec %s %s %s 3" % (sys.executable, script,
                                                                       self.p("f"))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ctl("fault", "device_write", "io=direct", "pid=%d" % r.pid)
        out, _ = r.communicate("go\n", timeout=60)
        self.assertEqual(out.split(), [str(errno.EIO)] * 3)
        self.assertEqual(self.direct_writes("f", 3), [0, 0, 0])  # this process: spared
        # comm=: by command name (dd), the same way.
        self.ctl("fault", "device_write", "io=direct", "comm=dd")
        dd = subprocess.run(["dd", "if=/dev/zero", "of=" + self.p("f"), "bs=4096", "count=1",
                             "oflag=direct", "conv=notrunc"], stderr=subprocess.PIPE, text=True)
        self.assertNotEqual(dd.returncode, 0, dd.stderr)
        self.assertIn("Input/output error", dd.stderr)
        self.assertEqual(self.direct_writes("f", 2), [0, 0])
        self.ctl("fault", "device_write", "off")

    def test_path_glob_names_files_now_and_created_later(self):
        os.mkdir(self.p("db"))
        for name in ("db/a.dat", "db/b.log", "top.dat"):
            self.make(name, b"o" * BS)
        self.ctl("fault", "device_write", "io=direct", "path=/db/*.dat")
        self.assertEqual(pwrite_direct(self.p("db/a.dat"), b"n" * BS, 0), errno.EIO)
        self.assertEqual(pwrite_direct(self.p("db/b.log"), b"n" * BS, 0), 0)  # not named
        self.assertEqual(pwrite_direct(self.p("top.dat"), b"n" * BS, 0), 0)
        self.make("db/new.dat", b"")  # created after the point was set
        self.assertEqual(pwrite_direct(self.p("db/new.dat"), b"n" * BS, 0), errno.EIO)
        os.rename(self.p("top.dat"), self.p("db/moved.dat"))  # renamed into the glob
        self.assertEqual(pwrite_direct(self.p("db/moved.dat"), b"m" * BS, 0), errno.EIO)
        self.assertIn("path=/db/*.dat", self.ctl("fault", "device_write"))
        self.ctl("fault", "device_write", "off")
        # Set at mount (-o fault=): resolved once the filesystem is there.
        self.remount(opts=["fault=device_write:io=direct:path=/db/b*"])
        self.assertEqual(pwrite_direct(self.p("db/b.log"), b"x" * BS, 0), errno.EIO)
        self.assertEqual(pwrite_direct(self.p("db/a.dat"), b"x" * BS, 0), 0)
        self.remount(opts=[])
        for name, want in (("db/a.dat", b"x"), ("db/b.log", b"n"), ("db/moved.dat", b"n")):
            with open(self.p(name), "rb") as f:
                self.assertEqual(f.read(), want * BS, name)

    def test_path_must_start_at_the_root(self):
        r = subprocess.run([EIOCBCTL, self.mnt, "fault", "device_write", "path=db/*"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("path", r.stderr)

    # -- kinds ------------------------------------------------------------

    def test_torn_write_lands_only_its_prefix(self):
        self.make("f", b"O" * 2 * BS)
        self.ctl("fault", "device_write", "io=direct", "kind=torn", "keep=4096", "times=1")
        self.assertEqual(pwrite_direct(self.p("f"), b"N" * 2 * BS, 0), 0)  # reported done
        self.assertEqual(self.image_read("f"), b"N" * BS + b"O" * BS)

    def test_torn_write_with_errno_reports_it(self):
        self.make("f", b"O" * 2 * BS)
        self.ctl("fault", "device_write", "io=direct", "kind=torn", "keep=4096", "errno=EIO",
                 "times=1")
        self.assertEqual(pwrite_direct(self.p("f"), b"N" * 2 * BS, 0), errno.EIO)
        self.assertEqual(self.image_read("f"), b"N" * BS + b"O" * BS)

    def test_lost_write_is_reported_done_and_not_written(self):
        self.make("f", b"O" * BS)
        self.ctl("fault", "device_write", "io=direct", "kind=lost", "times=1")
        self.assertEqual(pwrite_direct(self.p("f"), b"N" * BS, 0), 0)
        self.assertEqual(self.image_read("f"), b"O" * BS)

    def test_corrupt_write_flips_exactly_the_bits_it_says(self):
        self.make("f", b"O" * BS)
        self.ctl("fault", "device_write", "io=direct", "kind=corrupt", "byte=100", "bits=1",
                 "times=1")
        self.assertEqual(pwrite_direct(self.p("f"), b"N" * BS, 0), 0)
        want = bytearray(b"N" * BS)
        want[100] ^= 1
        self.assertEqual(self.image_read("f"), bytes(want))

    def test_corrupt_buffered_writeback(self):
        self.make("f", b"O" * BS)
        with open(self.p("f"), "r+b") as f:
            f.write(b"N" * BS)
            f.flush()
            self.ctl("fault", "device_write", "io=buffered", "kind=corrupt", "byte=7",
                     "bits=0x80", "times=1")
            os.fsync(f.fileno())
        want = bytearray(b"N" * BS)
        want[7] ^= 0x80
        self.assertEqual(self.image_read("f"), bytes(want))

    def raw_offset(self, data):
        """Where data (unique, just fsync'd) sits in the image file."""
        with open(self.image, "rb") as f:
            img = f.read()
        at = img.find(data)
        self.assertGreaterEqual(at, 0)
        self.assertEqual(img.find(data, at + 1), -1)
        return at

    def raw_read(self, off, n):
        """n bytes of the image at off, the filesystem unmounted."""
        self.m.unmount()  # fsck -n clean
        with open(self.image, "rb") as f:
            f.seek(off)
            return f.read(n)

    def buffered_writeback_hit(self, *knobs):
        old = b"".join(b"old %06d|" % i for i in range(2 * BS // 11)).ljust(2 * BS, b".")
        self.make("f", old)
        at = self.raw_offset(old)
        with open(self.p("f"), "r+b") as f:
            f.write(b"N" * 2 * BS)  # dirty pages: no device I/O yet
            f.flush()
            self.ctl("fault", "device_write", "io=buffered", "times=1", *knobs)
            os.fsync(f.fileno())  # the device reported success
        self.assertEqual(len(self.injections()), 1)
        return old, self.raw_read(at, 2 * BS)

    def injections(self):
        return [l for l in self.ctl("faults", "log").splitlines() if not l.startswith("#")]

    def test_torn_buffered_writeback_lands_only_its_prefix(self):
        old, got = self.buffered_writeback_hit("kind=torn", "keep=2048")
        self.assertEqual(got, b"N" * 2048 + old[2048:])

    def test_lost_buffered_writeback_leaves_the_old_bytes(self):
        old, got = self.buffered_writeback_hit("kind=lost")
        self.assertEqual(got, old)

    # -- windows and schedules ----------------------------------------------

    def test_up_down_windows(self):
        self.make("f", b"\0" * BS)
        self.ctl("fault", "device_write", "io=direct", "up=500", "down=500")
        t0 = time.monotonic()  # the window's origin is a little before this

        def write_at(t):
            time.sleep(max(0.0, t0 + t - time.monotonic()))
            return pwrite_direct(self.p("f"), b"w" * BS, 0)

        # Middle of the up window, of the down window, of the next up window.
        self.assertEqual([write_at(0.15), write_at(0.75), write_at(1.25)], [0, errno.EIO, 0])
        self.assertEqual(len(self.injections()), 1)

    def test_faults_save_and_mount_option_round_trip(self):
        self.make("f", b"\0" * 4 * BS)
        self.ctl("fault", "device_write", "io=direct", "nth=2", "errno=ENOSPC")
        self.ctl("fault", "fsync", "times=1", "path=/db/*")
        sched = os.path.join(self.dir, "faults.txt")
        self.ctl("faults", "save", sched)
        with open(sched) as f:
            text = f.read()
        self.assertIn("device_write errno=ENOSPC nth=2 io=direct\n", text)
        self.assertIn("fsync errno=EIO times=1 path=/db/*\n", text)
        self.remount(opts=["faults=" + sched])
        self.assertEqual(self.ctl("faults", "save", "-"), text)  # the same points again
        self.assertEqual(self.direct_writes("f", 3), [0, errno.ENOSPC, 0])
        self.m.unmount()
        with open(sched, "a") as f:
            f.write("device_read bogus=1\n")
        m = harness.Mount(self.target, self.mnt, opts=["faults=" + sched], fsck_after=False)
        with self.assertRaises(AssertionError) as cm:  # refused, with the line named
            m.start()
        self.assertIn("line 4", str(cm.exception))
        self.assertFalse(harness.is_mounted(self.mnt))

    def test_corrupt_read_changes_what_is_read_not_the_image(self):
        self.make("f", b"R" * BS)
        self.ctl("fault", "device_read", "io=direct", "kind=corrupt", "byte=5", "bits=0x40",
                 "times=1")
        want = bytearray(b"R" * BS)
        want[5] ^= 0x40
        self.assertEqual(pread_direct(self.p("f"), BS, 0), bytes(want))
        self.assertEqual(pread_direct(self.p("f"), BS, 0), b"R" * BS)
        self.assertEqual(self.image_read("f"), b"R" * BS)

    def test_corrupt_buffered_read_in_changes_what_is_read_not_the_image(self):
        self.make("f", b"R" * BS)
        self.remount()  # a cold page cache: the read goes to the device
        self.ctl("fault", "device_read", "io=buffered", "kind=corrupt", "byte=9", "bits=0x21",
                 "times=1")
        want = bytearray(b"R" * BS)
        want[9] ^= 0x21
        with open(self.p("f"), "rb") as f:
            self.assertEqual(f.read(), bytes(want))
        self.assertEqual(self.image_read("f"), b"R" * BS)

    def test_enospc_past_the_fill_level(self):
        self.ctl("fault", "enospc", "fill=90")  # the image is nearly empty: no effect
        self.make("a", b"a" * 4 * BS)
        self.ctl("fault", "enospc", "fill=0")
        fd = os.open(self.p("b"), os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o644)
        os.close(fd)
        self.assertEqual(pwrite_direct(self.p("b"), b"b" * BS, 0), errno.ENOSPC)
        self.ctl("fault", "enospc", "off")
        self.assertEqual(pwrite_direct(self.p("b"), b"b" * BS, 0), 0)


if __name__ == "__main__":
    if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
        harness.skip_program("eiocbctl is not built")
    harness.run_tests(globals())
