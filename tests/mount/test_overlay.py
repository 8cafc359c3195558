#!/usr/bin/env python3
"""test_overlay.py: overlayfs over the filesystem, on eiocbfs and (the same
tests) on ext4.

- as upper (lower, upper and work directories on the mount): the overlay
  mounts; a new file lands in upper; a lower file written is copied up and
  the lower one kept; a removed lower file leaves a whiteout (character
  device 0/0, made with RENAME_WHITEOUT) in upper; a lower directory
  removed and made again is opaque (trusted.overlay.opaque "y", a
  trusted.* xattr); all of it is still so after the overlay and the
  filesystem are mounted again; overlayfs finds O_TMPFILE supported (no
  "upper fs does not support tmpfile" in the kernel's log);
- as lower only (upper and work on a tmpfs): the overlay reads through
  it, and a copy-up leaves it unchanged.
"""

import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402


def write(path, data):
    with open(path, "w") as f:
        f.write(data)


def read(path):
    with open(path) as f:
        return f.read()


def kernel_log():
    """The kernel's log lines, or None where dmesg cannot read it."""
    r = subprocess.run(["dmesg"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.splitlines() if r.returncode == 0 else None


class Overlay:

    def mount_overlay(self, lower, upper, work):
        ovl = os.path.join(self.dir, "ovl")
        os.makedirs(ovl, exist_ok=True)
        log0 = kernel_log()
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work), ovl],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0 and "unknown filesystem type" in r.stdout:
            self.skipTest("no overlayfs in this kernel")
        self.assertEqual(r.returncode, 0, "mount -t overlay: %s (dmesg says why)" % r.stdout.strip())
        log1 = kernel_log()
        if log0 is not None and log1 is not None and upper.startswith(self.mnt):
            # The upper filesystem makes O_TMPFILE files (copy-up uses them).
            new = log1[len(log0):] if log1[:len(log0)] == log0 else log1[-20:]
            self.assertFalse([m for m in new if "does not support tmpfile" in m], "\n".join(new))
        self.addCleanup(subprocess.run, ["umount", "-l", ovl], stderr=subprocess.DEVNULL)
        return ovl

    def umount_overlay(self, ovl):
        subprocess.run(["umount", ovl], check=True)

    def populate_lower(self, lower):
        os.makedirs(os.path.join(lower, "dir"))
        write(os.path.join(lower, "dir", "old"), "old")
        write(os.path.join(lower, "keep"), "lower")
        write(os.path.join(lower, "gone"), "gone")

    def check_view(self, ovl):
        self.assertEqual(sorted(os.listdir(ovl)), ["dir", "keep", "new"])
        self.assertEqual(os.listdir(os.path.join(ovl, "dir")), [])  # opaque: "old" hidden
        self.assertEqual(read(os.path.join(ovl, "keep")), "lower+upper")
        self.assertEqual(read(os.path.join(ovl, "new")), "new")

    def test_upper(self):
        lower, upper, work = (self.p(n) for n in ("lower", "upper", "work"))
        for d in (upper, work):
            os.mkdir(d)
        self.populate_lower(lower)
        ovl = self.mount_overlay(lower, upper, work)
        write(os.path.join(ovl, "new"), "new")
        with open(os.path.join(ovl, "keep"), "a") as f:
            f.write("+upper")
        os.unlink(os.path.join(ovl, "gone"))
        os.unlink(os.path.join(ovl, "dir", "old"))
        os.rmdir(os.path.join(ovl, "dir"))
        os.mkdir(os.path.join(ovl, "dir"))
        self.check_view(ovl)
        self.umount_overlay(ovl)
        # what overlayfs left in upper
        self.assertEqual(read(os.path.join(lower, "keep")), "lower")
        self.assertEqual(read(os.path.join(upper, "keep")), "lower+upper")
        st = os.lstat(os.path.join(upper, "gone"))
        self.assertTrue(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, "whiteout: %o %x" % (st.st_mode, st.st_rdev))
        self.assertEqual(os.getxattr(os.path.join(upper, "dir"), "trusted.overlay.opaque"), b"y")
        self.remount()
        ovl = self.mount_overlay(lower, upper, work)
        self.check_view(ovl)
        self.umount_overlay(ovl)

    def test_lower(self):
        lower = self.p("lower")
        self.populate_lower(lower)
        tmp = os.path.join(self.dir, "tmp")
        os.makedirs(tmp, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", tmp], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", tmp], stderr=subprocess.DEVNULL)
        upper, work = os.path.join(tmp, "upper"), os.path.join(tmp, "work")
        os.mkdir(upper)
        os.mkdir(work)
        ovl = self.mount_overlay(lower, upper, work)
        self.assertEqual(sorted(os.listdir(ovl)), ["dir", "gone", "keep"])
        self.assertEqual(read(os.path.join(ovl, "dir", "old")), "old")
        with open(os.path.join(ovl, "keep"), "a") as f:
            f.write("+upper")
        os.unlink(os.path.join(ovl, "gone"))
        self.assertEqual(read(os.path.join(ovl, "keep")), "lower+upper")
        self.umount_overlay(ovl)
        subprocess.run(["umount", tmp], check=True)
        self.assertEqual(read(os.path.join(lower, "keep")), "lower")
        self.assertEqual(read(os.path.join(lower, "gone")), "gone")


linuxfs.twins(Overlay, globals())

if __name__ == "__main__":
    harness.run_tests(globals())
