#!/usr/bin/env python3
"""test_remount.py: `mount -o remount,ro|rw` and read-only error precedence,
on eiocbfs and (the same tests) on ext4.

- remount,ro through the mount helper (what mount(8) runs: mount.fuse3,
  then `eiocbfs TARGET MNT -o remount,...`) reaches the running daemon:
  the kernel's mount is read-only, changes fail EROFS, reads work;
  remount,rw makes it writable again; and through mount(8) itself, with
  eiocbfs found where it is installed (a private mount namespace);
- read-only precedence (POSIX, as ext4): creating a name that exists fails
  EEXIST, a new name EROFS; also when only the daemon is read-only
  (`eiocbctl MNT remount ro`, the kernel's mount still read-write);
- on the way to read-only the daemon writes everything back: buffered
  data never fsync'd survives a power cut (`eiocbctl MNT crash`) taken
  while read-only.
"""

import errno
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, **kw)


def mount_options(mnt):
    r = run(["findmnt", "-n", "-o", "OPTIONS", mnt])
    return r.stdout.strip().split(",")


class ReadOnly:

    def populate(self):
        os.mkdir(self.p("d"))
        with open(self.p("f"), "w") as f:
            f.write("kept")
        os.symlink("f", self.p("s"))
        os.mkfifo(self.p("fifo"))
        os.sync()

    def check_readonly(self):
        for name in ("d", "f", "s", "fifo"):
            p = self.p(name)
            self.assertErrno(errno.EEXIST, os.mkdir, p)
            self.assertErrno(errno.EEXIST, os.mknod, p, 0o644)
            self.assertErrno(errno.EEXIST, os.symlink, "x", p)
            self.assertErrno(errno.EEXIST, os.link, self.p("f"), p)
            self.assertErrno(errno.EEXIST, os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        self.assertErrno(errno.EROFS, os.mkdir, self.p("new"))
        self.assertErrno(errno.EROFS, os.mknod, self.p("new"), 0o644)
        self.assertErrno(errno.EROFS, os.symlink, "x", self.p("new"))
        self.assertErrno(errno.EROFS, os.link, self.p("f"), self.p("new"))
        self.assertErrno(errno.EROFS, os.open, self.p("new"), os.O_CREAT | os.O_WRONLY, 0o644)
        self.assertErrno(errno.EROFS, os.open, self.p("f"), os.O_WRONLY)
        self.assertErrno(errno.EROFS, os.unlink, self.p("f"))
        self.assertErrno(errno.EROFS, os.rename, self.p("f"), self.p("g"))
        with open(self.p("f")) as f:
            self.assertEqual(f.read(), "kept")
        self.assertIn("f", os.listdir(self.mnt))

    def test_remount_ro_then_rw(self):
        self.populate()
        self.remount_flags("ro")
        self.assertIn("ro", mount_options(self.mnt))
        self.check_readonly()
        self.remount_flags("rw")
        self.assertIn("rw", mount_options(self.mnt))
        with open(self.p("after"), "w") as f:
            f.write("writable again")
        os.unlink(self.p("f"))
        names = set(os.listdir(self.mnt)) - {"lost+found"}
        self.assertEqual(names, {"d", "s", "fifo", "after"})

    def test_remount_ro_refused_while_open_for_writing(self):
        with open(self.p("w"), "w") as f:
            f.write("x")
            r = self.remount_flags("ro", check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("rw", mount_options(self.mnt))
        with open(self.p("w2"), "w") as f:  # still writable
            f.write("y")


class EiocbfsRemount:
    """The helper path of mount(8), from the build tree: mount.fuse3 runs
    `eiocbfs TARGET MNT -o remount,...` found on PATH."""

    def remount_flags(self, rw, check=True):
        if not shutil.which("mount.fuse3"):
            self.skipTest("mount.fuse3 is missing (package fuse3)")
        env = dict(os.environ, PATH=os.path.dirname(harness.EIOCBFS) + os.pathsep + os.environ["PATH"])
        r = run(["mount.fuse3", self.target, self.mnt, "-t", "fuse.eiocbfs", "-o",
                 rw + ",nosuid,nodev,relatime,remount,user_id=0,group_id=0,default_permissions"], env=env)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
        return r


class Ext4Remount:
    def remount_flags(self, rw, check=True):
        r = run(["mount", "-o", "remount," + rw, self.mnt])
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r


linuxfs.twins(ReadOnly, globals(), eiocbfs_bases=(EiocbfsRemount,), ext4_bases=(Ext4Remount,))


class DaemonReadOnly(linuxfs.EiocbfsCase):
    """The daemon alone read-only (eiocbctl), the kernel's mount writable:
    the daemon itself must answer EEXIST before EROFS; and what was written
    before is on the device (a power cut keeps it)."""

    image_size = "64M"

    def setUp(self):
        if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
            self.skipTest("eiocbctl is not built")
        self.sock = os.path.join(harness.new_dir("s-"), "ctl.sock")
        self.mount_opts = ("control=" + self.sock,)
        super().setUp()

    def ctl(self, *args):
        return run([EIOCBCTL, self.mnt] + list(args), env=dict(os.environ, EIOCBCTL_SOCKET=self.sock))

    def test_precedence_and_flush(self):
        ReadOnly.populate(self)
        data = os.urandom(3 << 20)
        with open(self.p("unsynced"), "wb") as f:  # buffered, never fsync'd
            f.write(data)
        r = self.ctl("remount", "ro")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rw", mount_options(self.mnt))  # the kernel's flags are mount(8)'s
        ReadOnly.check_readonly(self)
        r = self.ctl("crash")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.m.proc.wait(30), 0, self.m.output())
        self.m.kill()
        self.m = harness.Mount(self.target, self.mnt).start()
        with open(self.p("unsynced"), "rb") as f:
            self.assertEqual(f.read(), data, "written back on the way to read-only")

    def test_rw_refused_when_mounted_ro(self):
        self.remount(["ro", "control=" + self.sock])
        r = self.ctl("remount", "rw")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("mounted with -o ro", r.stderr)
        self.assertErrno(errno.EROFS, os.mkdir, self.p("new"))


class MountEightRemount(linuxfs.EiocbfsCase):
    """mount(8) itself: eiocbfs installed (bound over /usr/local/bin in a
    private mount namespace), `mount -o remount,ro` then `remount,rw`."""

    image_size = "64M"

    def setUp(self):
        pass  # the whole life of the mount is inside the namespace

    def tearDown(self):
        pass

    def test_mount_8_remount(self):
        if not shutil.which("unshare") or not shutil.which("mount.fuse3"):
            self.skipTest("unshare or mount.fuse3 missing")
        d = harness.new_dir("t-")
        image, mnt, bindir = os.path.join(d, "image"), os.path.join(d, "mnt"), os.path.join(d, "bin")
        os.mkdir(mnt)
        os.mkdir(bindir)
        os.symlink(harness.EIOCBFS, os.path.join(bindir, "eiocbfs"))
        harness.mkfs(image, size=self.image_size)
        script = r'''
set -e
mount --bind "$1" /usr/local/bin
mount -t fuse.eiocbfs "$2" "$3"
trap 'umount "$3" 2>/dev/null || umount -l "$3"' EXIT
echo before > "$3/f"
mount -o remount,ro "$3"
findmnt -n -o OPTIONS "$3" | grep -q '^ro,'
if echo x > "$3/g" 2>/dev/null; then echo "written while ro" >&2; exit 1; fi
test "$(cat "$3/f")" = before
mount -o remount,rw "$3"
findmnt -n -o OPTIONS "$3" | grep -q '^rw,'
echo after > "$3/g"
'''
        r = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", bindir, image, mnt])
        if r.returncode != 0 and "unshare failed" in r.stderr:
            self.skipTest("no mount namespaces here: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stderr)
        for _ in range(100):  # the daemon ends (image clean) once the namespace's mount is gone
            if run([harness.FSCK, "-n", image]).returncode == 0:
                break
            time.sleep(0.1)
        harness.fsck(image)


if __name__ == "__main__":
    harness.run_tests(globals())
