#!/usr/bin/env python3
"""test_meta.py: the silent device_write kinds (corrupt, torn, lost) on
metadata home writes (io=meta, the journal's checkpoint) and on journal log
writes (io=journal), on a real mount. Each test checks what the application
sees (success: the device said so), what lands on the image (read from the
image file with the filesystem unmounted), that errors= is not involved
(no metadata write error logged: the device reported none), and what fsck
makes of it.

- io=meta: one inode table block, chosen by offset=, is damaged at the
  checkpoint that writes it home. corrupt flips exactly byte= by bits= (the
  block's crc32c verifies once the bits are flipped back); torn keeps the
  first keep= bytes of the new block and the old bytes after them; lost
  leaves the old block. fsck -n finds the damage (exit 4), -y repairs,
  then -n is clean.
- io=journal: the first log block of the commit behind an fsync is
  damaged; after a power cut (eiocbctl crash) the next mount's replay stops
  at that transaction: what it held is gone, what was committed before is
  there, and fsck -n is clean (a journal does not replay what fails its
  checksum; docs/semantics.md P6 holds only for what the device keeps).
"""

import os
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
FSCK = os.environ.get("FSCK_EIOCBFS", "")
INODE_SIZE = 256
HDR = 16  # struct ef_blkhdr: magic, crc, blockno


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def sealed(block):
    """Whether block's header crc (computed with the crc field zero) verifies."""
    magic, crc = struct.unpack_from("<II", block, 0)
    return crc == crc32c(block[:4] + b"\0" * 4 + block[8:])


def super_layout(target):
    """(block size, journal start, journal length, itable start) from the superblock."""
    with open(target, "rb") as f:
        sb = f.read(512)
    (_, _, _, _, bs, _, _, jstart, jlen, _, _, _, _, itable, _) = struct.unpack_from(
        "<IIQIIQQQQQQQQQQ", sb, 0)
    return bs, jstart, jlen, itable


def read_block(target, bs, blockno):
    with open(target, "rb") as f:
        f.seek(blockno * bs)
        return f.read(bs)


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsck(target, mode):
    return subprocess.run([FSCK, mode, target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


class MetaKinds(harness.MountTestCase):
    image_size = "64M"

    def ctl(self, *args):
        r = subprocess.run([EIOCBCTL, self.mnt] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "eiocbctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def injections(self):
        return [l for l in self.ctl("faults", "log").splitlines() if not l.startswith("#")]

    def unmount_unchecked(self):
        self.m.fsck_after = False
        self.m.unmount()
        self.assertNotIn("metadata write error", self.m.output())  # errors= never heard of it

    def assert_fsck_finds_and_repairs(self):
        r = fsck(self.image, "-n")
        self.assertEqual(r.returncode, 4, r.stdout)
        r = fsck(self.image, "-y")
        self.assertIn(r.returncode, (0, 1), r.stdout)
        r = fsck(self.image, "-n")
        self.assertEqual(r.returncode, 0, r.stdout)
        with harness.Mount(self.image, self.mnt):  # and it mounts
            os.listdir(self.mnt)

    # -- io=meta: a home write of the checkpoint --------------------------

    def damage_home(self, *knobs):
        """Damages the home write of the inode table block of a file made
        here; returns (block number, block size, the block before, after)."""
        bs, _, _, itable = super_layout(self.image)
        ipb = (bs - HDR) // INODE_SIZE
        for i in range(2 * ipb):
            with open(self.p("f%02d" % i), "wb"):
                pass
        fsync_path(self.mnt)
        ino = os.stat(self.p("f%02d" % (2 * ipb - 1))).st_ino
        blk = itable + ino // ipb
        # The files' inodes are logged, not home yet (no checkpoint so far).
        before = read_block(self.image, bs, blk)
        self.ctl("fault", "device_write", "io=meta", "offset=%d-%d" % (blk * bs, blk * bs + bs - 1),
                 "times=1", *knobs)
        # Fill the log with commits that touch only the root inode (another
        # table block): the checkpoint that makes room writes blk home.
        for i in range(400):
            os.chmod(self.mnt, 0o755 if i % 2 else 0o775)
            fsync_path(self.mnt)
            if i % 10 == 9 and self.injections():
                break
        log = self.injections()
        self.assertEqual(len(log), 1, log)
        self.assertIn("ino=meta offset=%d+%d" % (blk * bs, bs), log[0])
        self.ctl("fault", "device_write", "off")
        self.assertEqual(sorted(harness.listdir(self.mnt))[:1], ["f00"])  # the application saw nothing
        self.unmount_unchecked()
        return blk, bs, before, read_block(self.image, bs, blk)

    def test_corrupt_home_write_flips_exactly_its_bits(self):
        blk, bs, before, after = self.damage_home("kind=corrupt", "byte=40", "bits=0xff")
        self.assertFalse(sealed(after))
        fixed = bytearray(after)
        fixed[40] ^= 0xFF
        self.assertTrue(sealed(bytes(fixed)), "more than byte 40 changed")
        self.assertEqual(struct.unpack_from("<Q", after, 8)[0], blk)
        self.assert_fsck_finds_and_repairs()

    def test_torn_home_write_keeps_its_prefix(self):
        blk, bs, before, after = self.damage_home("kind=torn", "keep=512")
        self.assertNotEqual(after[:512], before[:512])  # the new block's first sector
        self.assertEqual(struct.unpack_from("<Q", after, 8)[0], blk)
        self.assertEqual(after[512:], before[512:])  # the rest: what was there
        self.assertFalse(sealed(after))
        self.assert_fsck_finds_and_repairs()

    def test_lost_home_write_leaves_the_old_block(self):
        blk, bs, before, after = self.damage_home("kind=lost")
        self.assertEqual(after, before)
        self.assert_fsck_finds_and_repairs()

    # -- io=journal: a log write, then a power cut --------------------------

    def damage_log_then_crash(self, *knobs):
        """Damages the first log block of an fsync's commit, then cuts the
        power; returns the block before and after, and the names the
        remount (its replay) shows."""
        bs, jstart, jlen, _ = super_layout(self.image)
        os.mkdir(self.p("kept"))
        fsync_path(self.mnt)  # committed and flushed before the fault
        with open(self.image, "rb") as f:
            f.seek(jstart * bs)
            log_before = f.read(jlen * bs)
        self.ctl("fault", "device_write", "io=journal", "times=1", *knobs)
        os.mkdir(self.p("gone"))
        fsync_path(self.mnt)  # succeeds: the device said the log block was written
        log = self.injections()
        self.assertEqual(len(log), 1, log)
        off = int(log[0].split("offset=")[1].split("+")[0])
        self.assertTrue(jstart * bs <= off < (jstart + jlen) * bs, log[0])
        self.ctl("crash")
        self.assertEqual(self.m.proc.wait(30), 0, self.m.output())
        self.m.kill()  # forget the dead daemon
        self.assertNotIn("metadata write error", self.m.output())
        before = log_before[off - jstart * bs:off - jstart * bs + bs]
        after = read_block(self.image, bs, off // bs)
        self.assertEqual(fsck(self.image, "-n").returncode, 0)  # the replay fsck does is clean
        self.m = harness.Mount(self.image, self.mnt).start()  # replay; fsck -n after unmount
        names = harness.listdir(self.mnt)
        self.assertIn("kept", names)
        return before, after, names

    def test_lost_log_write_loses_its_transaction(self):
        before, after, names = self.damage_log_then_crash("kind=lost")
        self.assertEqual(after, before)
        self.assertNotIn("gone", names)  # its transaction fails the log's checksums

    def test_corrupt_log_write_loses_its_transaction(self):
        before, after, names = self.damage_log_then_crash("kind=corrupt", "byte=100", "bits=1")
        fixed = bytearray(after)
        fixed[100] ^= 1
        self.assertFalse(sealed(after))
        self.assertTrue(sealed(bytes(fixed)), "more than byte 100 changed")
        self.assertNotIn("gone", names)

    def test_torn_log_write_keeps_its_prefix(self):
        # What the journal saves depends on what the tear cut: the replay
        # takes the transaction only if its checksums still verify.
        before, after, names = self.damage_log_then_crash("kind=torn", "keep=512")
        self.assertNotEqual(after[:512], before[:512])
        self.assertEqual(after[512:], before[512:])
        self.assertEqual("gone" in names, sealed(after))

if __name__ == "__main__":
    if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
        harness.skip_program("eiocbctl is not built")
    if not FSCK or not os.access(FSCK, os.X_OK):
        harness.skip_program("fsck.eiocbfs is not built")
    harness.run_tests(globals())
