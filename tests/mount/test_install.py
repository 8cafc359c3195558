#!/usr/bin/env python3
"""test_install.py: what `cmake --install` puts in place works under the
system's own front ends, as for ext4:

    mkfs -t eiocbfs -s 64M IMG
    mount -t fuse.eiocbfs IMG MNT; write; umount MNT
    fsck -t eiocbfs -n IMG

The build is installed with DESTDIR into a scratch directory (prefix /usr,
the unmount helper in /sbin); in a private mount namespace its sbin and bin
are overlaid on /usr/sbin and /usr/bin and /run/mount is private, so
mkfs(8), fsck(8), mount(8) and umount(8) find the installed programs where
they look, and the machine itself is not touched. The man pages are
installed too.
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BUILD = os.environ.get("EIOCBFS_BUILD", "")
CMAKE = os.environ.get("CMAKE", "cmake")

SCRIPT = r'''
set -e
d=$1 img=$2 mnt=$3
trap 'umount -l "$mnt" 2>/dev/null || true' EXIT
mount -t overlay overlay -o lowerdir=$d/sbin:$d/usr/sbin:/usr/sbin /usr/sbin
mount -t overlay overlay -o lowerdir=$d/usr/bin:/usr/bin /usr/bin
mount -t tmpfs tmpfs /run/mount
mkfs -t eiocbfs -s 64M "$img" >/dev/null
mount -t fuse.eiocbfs "$img" "$mnt" -o semantics=deferred
test "$(findmnt -n -o FSTYPE,SOURCE "$mnt")" = "fuse.eiocbfs $img"
echo installed > "$mnt/f"
umount "$mnt"
flock -n -x "$img" true || { echo "image still held when umount returned"; exit 1; }
fsck -t eiocbfs -n "$img"
mount -t fuse.eiocbfs "$img" "$mnt"
test "$(cat "$mnt/f")" = installed
umount "$mnt"
echo OK
'''


class Install(harness.unittest.TestCase):
    def test_mkfs_mount_umount_fsck_by_type(self):
        if not BUILD or not shutil.which("unshare"):
            self.skipTest("no build directory given, or unshare missing")
        d = harness.new_dir("install-")
        dest = os.path.join(d, "root")
        r = subprocess.run([CMAKE, "--install", BUILD, "--prefix", "/usr"], env=dict(os.environ, DESTDIR=dest),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        for f in ("usr/sbin/mkfs.eiocbfs", "usr/sbin/fsck.eiocbfs", "usr/bin/eiocbfs", "usr/bin/eiocbctl",
                  "sbin/umount.fuse.eiocbfs", "usr/share/man/man8/eiocbfs.8", "usr/share/man/man8/mkfs.eiocbfs.8",
                  "usr/share/man/man8/fsck.eiocbfs.8", "usr/share/man/man8/umount.fuse.eiocbfs.8",
                  "usr/share/man/man1/eiocbctl.1"):
            self.assertTrue(os.access(os.path.join(dest, f), os.R_OK), "%s not installed" % f)
        img, mnt = os.path.join(d, "image"), os.path.join(d, "mnt")
        os.mkdir(mnt)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh", dest, img, mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0 and "unshare failed" in r.stdout:
            self.skipTest("no mount namespaces here: " + r.stdout.strip())
        if harness.is_mounted(mnt, None):
            harness.lazy_unmount(mnt)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("clean", r.stdout)


if __name__ == "__main__":
    harness.run_tests(globals())
