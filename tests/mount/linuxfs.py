"""linuxfs.py: run one test class against eiocbfs and against ext4.

The mount tests of Linux behaviour (mmap, times, space, handles, ...) are
written once as a mixin that only uses self.mnt, self.p() and
self.remount(); ext4_case() and eiocbfs_case() turn it into a test class on
a fresh eiocbfs image or on ext4 over a loop device, so that a test is
known to be about Linux, not about eiocbfs: it must pass on both. The ext4
twin is skipped where mkfs.ext4 or a loop device is missing.
"""

import os
import shutil
import subprocess

import harness


class Ext4Case(harness.MountTestCase):
    """A fresh ext4 on a loop device at self.mnt (same interface)."""

    fs_name = "ext4"
    ext4_opts = ()

    def setUp(self):
        if not shutil.which("mkfs.ext4"):
            self.skipTest("mkfs.ext4 is missing (package e2fsprogs)")
        self.dir = harness.new_dir("t-")
        self.image = os.path.join(self.dir, "image")
        with open(self.image, "wb") as f:
            f.truncate(harness.parse_size(self.image_size))
        self.loop = harness.losetup(self.image)
        if not self.loop:
            self.skipTest("losetup cannot attach a loop device here")
        self.addCleanup(harness.losetup_detach, self.loop)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal" if self.no_journal else "has_journal",
                        self.loop], check=True, stdout=subprocess.DEVNULL)
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.m = None
        self._mount(self.ext4_opts)

    no_journal = False

    def _mount(self, opts):
        cmd = ["mount", "-t", "ext4"] + (["-o", ",".join(opts)] if opts else []) + [self.loop, self.mnt]
        subprocess.run(cmd, check=True)
        self.mounted = True

    def _umount(self):
        if self.mounted:
            subprocess.run(["umount", self.mnt], check=True)
            self.mounted = False

    def tearDown(self):
        self.doCleanups()  # files the test opened, before the unmount
        if getattr(self, "mounted", False):
            if subprocess.run(["umount", self.mnt]).returncode != 0:
                subprocess.run(["umount", "-l", self.mnt])
            self.mounted = False

    def remount(self, opts=None):
        self._umount()
        self._mount(self.ext4_opts if opts is None else opts)


class EiocbfsCase(harness.MountTestCase):
    fs_name = "eiocbfs"
    image_size = "128M"

    def tearDown(self):
        self.doCleanups()  # files the test opened, before the unmount
        super().tearDown()


def twins(mixin, module_globals, eiocbfs_attrs=None, ext4_attrs=None, eiocbfs_bases=(), ext4_bases=()):
    """Defines <Mixin>Eiocbfs and <Mixin>Ext4 in the test module; *_bases
    are mixins that differ between the two (how to remount, ...)."""
    name = mixin.__name__
    module_globals[name + "Eiocbfs"] = type(name + "Eiocbfs", (mixin,) + tuple(eiocbfs_bases) + (EiocbfsCase,),
                                            dict(eiocbfs_attrs or {}))
    module_globals[name + "Ext4"] = type(name + "Ext4", (mixin,) + tuple(ext4_bases) + (Ext4Case,),
                                         dict(ext4_attrs or {}))
