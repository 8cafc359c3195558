#!/usr/bin/env python3
"""test_unmount_cycle.py: unmount is synchronous, as for a kernel filesystem.

A test harness does mount, write, unmount, check, mount again, with no
sleep in between. 100 cycles each way:

- umount(8): the daemon registers helper=fuse.eiocbfs in libmount's utab,
  so umount runs umount.fuse.eiocbfs, which returns only once the daemon
  has released the image. Checked without any waiting tool: the image's
  flock is free the moment umount returns, then fsck -n is clean. Runs in
  a private mount namespace where the helper is overlaid on /usr/sbin and
  /run/mount is private, so the machine is not touched.
- fusermount3 -u: returns before the daemon is done; fsck.eiocbfs, mkfs
  and a new mount wait for a daemon whose mount is gone (bounded, with a
  message after a second). fsck -n must be clean at the first try.

Then every cycle's file is there, a remount and an mkfs right after an
unmount succeed at once, and the figures (time per cycle, the longest
wait) are printed.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EIOCBFS, FSCK, MKFS  # noqa: E402

CYCLES = int(os.environ.get("EIOCBFS_CYCLES", "100"))
UMOUNT_HELPER = os.environ.get("UMOUNT_EIOCBFS", "")


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def lock_is_free(image):
    """The image's flock can be taken at once: no daemon holds it."""
    fd = os.open(image, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def cycles(image, mnt, mount_cmd, unmount_cmd, check_lock):
    """CYCLES x (mount, write, unmount, [lock free], fsck -n); returns figures."""
    worst_unmount = worst_fsck = 0.0
    start = time.monotonic()
    for i in range(CYCLES):
        r = run(mount_cmd)
        if r.returncode != 0:
            raise AssertionError("cycle %d: mount: %s" % (i, r.stdout))
        try:
            with open(os.path.join(mnt, "c%03d" % i), "w") as f:
                f.write("cycle %d\n" % i * 100)
        finally:
            t = time.monotonic()
            r = run(unmount_cmd)
            worst_unmount = max(worst_unmount, time.monotonic() - t)
        if r.returncode != 0:
            raise AssertionError("cycle %d: %s: %s" % (i, unmount_cmd, r.stdout))
        if check_lock and not lock_is_free(image):
            raise AssertionError("cycle %d: the image is still held when umount returned" % i)
        t = time.monotonic()
        r = run([FSCK, "-n", image])
        worst_fsck = max(worst_fsck, time.monotonic() - t)
        if r.returncode != 0:
            raise AssertionError("cycle %d: fsck -n right after unmount: exit %d\n%s" % (i, r.returncode, r.stdout))
    total = time.monotonic() - start
    return {"cycles": CYCLES, "seconds": round(total, 2), "ms_per_cycle": round(1000 * total / CYCLES, 1),
            "worst_unmount_ms": round(1000 * worst_unmount, 1), "worst_fsck_ms": round(1000 * worst_fsck, 1)}


def inner_umount(image, mnt, helpers):
    """Runs inside `unshare -m`: helpers over /usr/sbin, a private utab."""
    for cmd in (["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s:/usr/sbin" % helpers, "/usr/sbin"],
                ["mount", "-t", "tmpfs", "tmpfs", "/run/mount"]):
        r = run(cmd)
        if r.returncode != 0:
            print(json.dumps({"skip": "%s: %s" % (" ".join(cmd[:3]), r.stdout.strip())}))
            return 0
    try:
        fig = cycles(image, mnt, ["mount", "-t", "fuse.eiocbfs", image, mnt], ["umount", mnt], True)
    except AssertionError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    finally:
        if harness.is_mounted(mnt, None):
            harness.lazy_unmount(mnt)
    print(json.dumps(fig))
    return 0


class UnmountCycle(harness.unittest.TestCase):
    def setUp(self):
        if not FSCK or not os.access(FSCK, os.X_OK):
            self.skipTest("fsck.eiocbfs is not built")
        self.dir = harness.new_dir("cycle-")
        self.image = os.path.join(self.dir, "image")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        harness.mkfs(self.image, size="64M")

    def tearDown(self):
        if harness.is_mounted(self.mnt, None):
            harness.lazy_unmount(self.mnt)

    def check_files(self):
        with harness.Mount(self.image, self.mnt):
            for i in range(CYCLES):
                with open(os.path.join(self.mnt, "c%03d" % i)) as f:
                    self.assertEqual(f.read(), "cycle %d\n" % i * 100)

    def test_fusermount_then_fsck(self):
        fig = cycles(self.image, self.mnt, [EIOCBFS, self.image, self.mnt], ["fusermount3", "-u", self.mnt],
                     False)
        harness.log("fusermount3 -u cycles: %s" % json.dumps(fig))
        self.check_files()

    def test_umount_then_fsck(self):
        if not UMOUNT_HELPER or not shutil.which("unshare"):
            self.skipTest("umount.fuse.eiocbfs not built or unshare missing")
        helpers = os.path.join(self.dir, "sbin")
        os.mkdir(helpers)
        os.symlink(UMOUNT_HELPER, os.path.join(helpers, "umount.fuse.eiocbfs"))
        os.symlink(EIOCBFS, os.path.join(helpers, "eiocbfs"))  # mount(8) runs it from a clean PATH
        r = run(["unshare", "-m", "--propagation", "private", sys.executable, os.path.abspath(__file__),
                 "--inner-umount", self.image, self.mnt, helpers], timeout=600)
        out = r.stdout.strip().splitlines()
        if r.returncode != 0 and "unshare failed" in r.stdout:
            self.skipTest("no mount namespaces here: " + r.stdout.strip())
        fig = json.loads(out[-1]) if out and out[-1].startswith("{") else {"error": r.stdout}
        if "skip" in fig:
            self.skipTest(fig["skip"])
        self.assertNotIn("error", fig, fig.get("error"))
        self.assertEqual(r.returncode, 0, r.stdout)
        harness.log("umount cycles: %s" % json.dumps(fig))
        self.check_files()

    def test_remount_and_mkfs_right_after_fusermount(self):
        for what in ("mount", "mkfs"):
            with self.subTest(what=what):
                r = run([EIOCBFS, self.image, self.mnt])
                self.assertEqual(r.returncode, 0, r.stdout)
                with open(os.path.join(self.mnt, "f"), "w") as f:
                    f.write("x" * 65536)
                self.assertEqual(run(["fusermount3", "-u", self.mnt]).returncode, 0)
                if what == "mount":
                    r = run([EIOCBFS, self.image, self.mnt])
                    self.assertEqual(r.returncode, 0, "mount right after fusermount3 -u: " + r.stdout)
                    self.assertEqual(os.path.getsize(os.path.join(self.mnt, "f")), 65536)
                    self.assertEqual(run(["umount", self.mnt]).returncode, 0)
                    harness.fsck(self.image)
                else:
                    r = run([MKFS, "-f", self.image])
                    self.assertEqual(r.returncode, 0, "mkfs right after fusermount3 -u: " + r.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--inner-umount":
        sys.exit(inner_umount(*sys.argv[2:]))
    harness.run_tests(globals())
