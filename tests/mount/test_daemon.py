#!/usr/bin/env python3
"""test_daemon.py: the eiocbfs command as users and mount(8) run it.

Refusals print one line and exit non-zero, leaving nothing mounted: target
missing, not eiocbfs, corrupt, already mounted, missing mount point, unknown
option, bad option values. Daemon mode reports errors before detaching and
unmounts cleanly on fusermount3 -u; SIGTERM and SIGINT unmount cleanly;
options after the positional arguments (mount.fuse3's order) work;
`mount -t fuse.eiocbfs` and an fstab line work.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EIOCBFS, Mount  # noqa: E402


def run(argv, env=None, timeout=30):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          timeout=timeout)


def wait_unmounted_and_unlocked(image, mnt, timeout=20):
    """After an unmount the image is usable at once, with no retry: the mount
    is gone, and a new mount (which waits for a daemon still releasing the
    image) succeeds at the first try."""
    assert not harness.is_mounted(mnt), "still mounted after the unmount returned"
    r = run([EIOCBFS, "-o", "ro", image, mnt])  # daemon mode: returns once mounted or refused
    assert r.returncode == 0, "image not usable right after unmount: " + r.stderr
    subprocess.run(["umount", mnt])


class Refusals(harness.unittest.TestCase):
    def setUp(self):
        self.dir = harness.new_dir("refuse-")
        self.image = os.path.join(self.dir, "image")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        harness.mkfs(self.image, size="64M")

    def tearDown(self):
        if harness.is_mounted(self.mnt, None):
            harness.lazy_unmount(self.mnt)
            self.fail("a refused mount left %s mounted" % self.mnt)

    def assertRefused(self, argv, expect=None, daemon=False, mnt=None):
        cmd = [EIOCBFS] + ([] if daemon else ["-f"]) + argv
        r = run(cmd)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertNotEqual(r.returncode, 0, "%s was not refused" % cmd)
        self.assertEqual(len(lines), 1, "%s: want one line, got %r" % (cmd, r.stderr))
        if expect:
            self.assertIn(expect, lines[0])
        self.assertFalse(harness.is_mounted(mnt or self.mnt, None))
        return lines[0]

    def test_target_missing(self):
        missing = os.path.join(self.dir, "nope")
        self.assertIn(missing, self.assertRefused([missing, self.mnt]))

    def test_target_not_eiocbfs(self):
        other = os.path.join(self.dir, "zeros")
        with open(other, "wb") as f:
            f.truncate(64 << 20)
        self.assertRefused([other, self.mnt], other)
        ext4 = os.path.join(self.dir, "ext4")
        with open(ext4, "wb") as f:
            f.truncate(64 << 20)
        if subprocess.run(["mkfs.ext4", "-q", "-F", ext4], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            self.assertRefused([ext4, self.mnt], ext4)

    def test_target_corrupt(self):
        size = os.path.getsize(self.image)
        with open(self.image, "r+b") as f:
            for off in (0, size - 4096):  # the superblock and its backup
                f.seek(off + 64)
                f.write(b"\x5a" * 64)
        self.assertRefused([self.image, self.mnt], self.image)

    def test_already_mounted(self):
        with Mount(self.image, self.mnt):
            other = os.path.join(self.dir, "mnt2")
            os.mkdir(other)
            r = run([EIOCBFS, "-f", self.image, other])
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertFalse(harness.is_mounted(other, None))
            # Still working after the refused second mount.
            with open(os.path.join(self.mnt, "f"), "w") as f:
                f.write("x")

    def test_missing_mount_point(self):
        self.assertRefused([self.image, os.path.join(self.dir, "nomnt")], "nomnt")
        self.assertRefused([self.image, self.image], "mount point")  # not a directory

    def test_bad_options(self):
        cases = [
            ["-o", "bogus_option"], ["-x"], ["-o", "semantics=sometimes"], ["-o", "cache_mb=0"],
            ["-o", "cache_mb=12abc"], ["-o", "cache_mb=-5"], ["-o", "fault=nowhere:errno=EIO"],
            ["-o", "fault=invalidate:errno"], ["-o", "fault=invalidate:color=red"],
            ["-o", "fault=invalidate:probability=101"], ["-o", "fault=osync:errno=ENOTANERRNO"],
            ["-o", "control="],
        ]
        for extra in cases:
            with self.subTest(extra=extra):
                self.assertRefused(extra + [self.image, self.mnt])
        self.assertRefused([self.image], "usage")
        self.assertRefused([self.image, self.mnt, "extra"], "extra")

    def test_control_path_that_cannot_be_made_refuses_the_mount(self):
        # control=PATH is part of what was asked for: one line naming it,
        # nothing mounted, the image free again (foreground and daemon mode).
        ctl = os.path.join(self.dir, "no-such-dir", "ctl")
        for daemon in (False, True):
            with self.subTest(daemon=daemon):
                line = self.assertRefused(["-o", "control=" + ctl, self.image, self.mnt],
                                          ctl, daemon=daemon)
                self.assertIn("control socket", line)
        # A socket a running daemon serves is not taken over.
        live = os.path.join(self.dir, "ctl")
        with Mount(self.image, self.mnt, opts=["control=" + live]):
            other = os.path.join(self.dir, "image2")
            harness.mkfs(other, size="64M")
            mnt2 = os.path.join(self.dir, "mnt2")
            os.mkdir(mnt2)
            self.assertIn("in use", self.assertRefused(["-o", "control=" + live, other, mnt2],
                                                       live, mnt=mnt2))
            with open(os.path.join(self.mnt, "f"), "w") as f:
                f.write("still served")
        with Mount(self.image, self.mnt):
            pass

    def test_good_options_mount(self):
        opts = ("semantics=legacy,cache_mb=64,fault=invalidate:errno=EIO:probability=50:times=3,"
                "fault=delay:ms=1,control=%s" % os.path.join(self.dir, "ctl"))
        with Mount(self.image, self.mnt, opts=[opts]):
            with open(os.path.join(self.mnt, "f"), "w") as f:
                f.write("ok")

    def test_daemon_mode_reports_errors_before_detaching(self):
        self.assertRefused([os.path.join(self.dir, "nope"), self.mnt], daemon=True)
        bad = os.path.join(self.dir, "zeros")
        with open(bad, "wb") as f:
            f.truncate(16 << 20)
        self.assertRefused([bad, self.mnt], bad, daemon=True)
        with Mount(self.image, self.mnt):
            mnt3 = os.path.join(self.dir, "mnt3")
            os.mkdir(mnt3)
            self.assertRefused([self.image, mnt3], daemon=True, mnt=mnt3)


class Lifecycle(harness.unittest.TestCase):
    def setUp(self):
        self.dir = harness.new_dir("life-")
        self.image = os.path.join(self.dir, "image")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        harness.mkfs(self.image, size="64M")

    def tearDown(self):
        if harness.is_mounted(self.mnt, None):
            harness.lazy_unmount(self.mnt)

    def test_daemon_mode_mount_and_unmount(self):
        r = run([EIOCBFS, self.image, self.mnt])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(harness.is_mounted(self.mnt), "mounted when the command returns")
        with open(os.path.join(self.mnt, "f"), "w") as f:
            f.write("daemon")
        self.assertEqual(subprocess.run(["fusermount3", "-u", self.mnt]).returncode, 0)
        wait_unmounted_and_unlocked(self.image, self.mnt)
        harness.fsck(self.image)
        with Mount(self.image, self.mnt):
            with open(os.path.join(self.mnt, "f")) as f:
                self.assertEqual(f.read(), "daemon")

    def test_signals_unmount_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig):
                m = Mount(self.image, self.mnt).start()
                with open(os.path.join(self.mnt, "f%d" % sig), "w") as f:
                    f.write("x")
                m.proc.send_signal(sig)
                rc = m.proc.wait(30)
                mounted = harness.is_mounted(self.mnt, None)
                m.kill()
                self.assertEqual(rc, 0, m.output())
                self.assertFalse(mounted, "still mounted after the daemon exited")
                harness.fsck(self.image)  # clean: fs_unmount ran
        with Mount(self.image, self.mnt):
            self.assertEqual(sorted(harness.listdir(self.mnt)), sorted(["f%d" % signal.SIGINT, "f%d" % signal.SIGTERM]))

    def test_options_after_arguments(self):
        # mount.fuse3 runs: eiocbfs TARGET MOUNTPOINT -o OPTS
        p = subprocess.Popen([EIOCBFS, self.image, self.mnt, "-o", "rw,suid,dev,exec,async,noatime", "-f"],
                             stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 15
            while not harness.is_mounted(self.mnt) and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(harness.is_mounted(self.mnt), p.stderr.read() if p.poll() is not None else "")
        finally:
            subprocess.run(["fusermount3", "-u", self.mnt])
            self.assertEqual(p.wait(30), 0)

    def umount(self):
        self.assertEqual(run(["umount", self.mnt]).returncode, 0)
        wait_unmounted_and_unlocked(self.image, self.mnt)
        harness.fsck(self.image)

    def test_mount_helper_entry_points(self):
        """mount(8) runs mount.fuse3, which runs `eiocbfs TARGET MNT -o OPTS`.
        mount(8) gives helpers a clean PATH, so `-t fuse.eiocbfs` finds the
        installed eiocbfs; from the build tree the same entry is driven as
        mount.fuse3 -t fuse.eiocbfs with PATH, and through mount(8) with
        type fuse and source PROGRAM#TARGET."""
        if not harness._which("mount.fuse3"):
            self.skipTest("mount.fuse3 is missing (package fuse3)")
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(EIOCBFS) + os.pathsep + env.get("PATH", "")
        r = run(["mount.fuse3", self.image, self.mnt, "-t", "fuse.eiocbfs", "-o", "rw,dev,suid"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        src = [s for m, t, s in harness.mountinfo() if m == os.path.realpath(self.mnt) and t == "fuse.eiocbfs"]
        self.assertEqual(src, [os.path.realpath(self.image)], "type fuse.eiocbfs, source the target")
        with open(os.path.join(self.mnt, "via-mount"), "w") as f:
            f.write("m")
        self.umount()

        r = run(["mount", "-t", "fuse", "%s#%s" % (EIOCBFS, self.image), self.mnt, "-o", "semantics=deferred"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.mnt, "via-mount")))
        self.umount()

        fstab = os.path.join(self.dir, "fstab")
        with open(fstab, "w") as f:
            f.write("%s#%s %s fuse defaults,allow_other,cache_mb=8 0 0\n" % (EIOCBFS, self.image, self.mnt))
        r = run(["mount", "--fstab", fstab, self.mnt])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(harness.is_mounted(self.mnt))
        self.umount()

    def test_mount_t_fuse_eiocbfs_as_installed(self):
        """`mount -t fuse.eiocbfs` and a fuse.eiocbfs fstab line, with eiocbfs
        found where `cmake --install` puts it (/usr/local/bin): in a private
        mount namespace, a directory holding it is bound over /usr/local/bin,
        so the machine itself is not touched."""
        if not harness._which("unshare") or not harness._which("mount.fuse3"):
            self.skipTest("unshare or mount.fuse3 missing")
        bindir = os.path.join(self.dir, "bin")
        os.mkdir(bindir)
        os.symlink(EIOCBFS, os.path.join(bindir, "eiocbfs"))
        fstab = os.path.join(self.dir, "fstab")
        with open(fstab, "w") as f:
            f.write("%s %s fuse.eiocbfs defaults,allow_other,semantics=deferred 0 0\n" % (self.image, self.mnt))
        script = r'''
set -e
mount --bind "$1" /usr/local/bin
mount -t fuse.eiocbfs "$2" "$3" -o cache_mb=8
test "$(findmnt -n -o FSTYPE,SOURCE "$3")" = "fuse.eiocbfs $2"
echo installed > "$3/via-mount-t"
umount "$3"
mount --fstab "$4" "$3"
test "$(findmnt -n -o FSTYPE "$3")" = "fuse.eiocbfs"
test "$(cat "$3/via-mount-t")" = installed
umount "$3"
'''
        r = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", bindir, self.image,
                 self.mnt, fstab], timeout=60)
        if r.returncode != 0 and "unshare failed" in r.stderr:
            self.skipTest("no mount namespaces here: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_unmounted_and_unlocked(self.image, self.mnt)
        harness.fsck(self.image)

if __name__ == "__main__":
    harness.run_tests(globals())
