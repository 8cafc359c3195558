#!/usr/bin/env python3
"""test_persist.py: what is written survives unmount and remount.

Writes a tree (directories, files of many sizes, sparse files, symlinks,
hard links, fifos, xattrs, modes, owners, nanosecond times), unmounts (fsck
-n clean), remounts and compares every byte and every stat field; then
changes part of it and checks again, and does the same on a 1 KiB-block
filesystem.
"""

import hashlib
import os
import random
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402


def snapshot(root):
    """Everything a user can observe of a tree, keyed by relative path."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            rec = {
                "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "nlink": st.st_nlink,
                "size": st.st_size if not stat.S_ISDIR(st.st_mode) else None,
                "mtime": st.st_mtime_ns, "atime": st.st_atime_ns, "ino": st.st_ino,
                "rdev": st.st_rdev,
                "xattrs": {k: os.getxattr(path, k, follow_symlinks=False)
                           for k in sorted(os.listxattr(path, follow_symlinks=False))},
            }
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                rec["sha256"] = h.hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                rec["target"] = os.readlink(path)
            out[rel] = rec
    return out


def build_tree(root, seed, nfiles=300):
    rnd = random.Random(seed)
    dirs = [root]
    for i in range(30):
        d = os.path.join(rnd.choice(dirs), "dir%d" % i)
        os.mkdir(d, rnd.choice([0o755, 0o700, 0o2775, 0o1777]))
        dirs.append(d)
    files = []
    for i in range(nfiles):
        f = os.path.join(rnd.choice(dirs), "file%d" % i)
        size = rnd.choice([0, 1, 100, 4095, 4096, 4097, 65536, 300_000, 2_000_000])
        with open(f, "wb") as fh:
            fh.write(rnd.randbytes(size))
        os.chmod(f, rnd.choice([0o644, 0o600, 0o755, 0o4755, 0o444]))
        files.append(f)
    for i in range(10):  # sparse
        f = os.path.join(rnd.choice(dirs), "sparse%d" % i)
        with open(f, "wb") as fh:
            fh.seek(rnd.randrange(1, 64 << 20))  # beyond 4 GiB: test_posix Sparse
            fh.write(b"end-of-sparse")
    for i in range(40):
        os.symlink(rnd.choice(["../x", "/abs/path", "file1", "a" * rnd.randrange(1, 900)]),
                   os.path.join(rnd.choice(dirs), "link%d" % i))
    for i in range(40):
        os.link(rnd.choice(files), os.path.join(rnd.choice(dirs), "hard%d" % i))
    for i in range(5):
        os.mkfifo(os.path.join(rnd.choice(dirs), "fifo%d" % i))
    for f in rnd.sample(files, 60):
        # Small enough for the one xattr block of a 1 KiB-block filesystem.
        os.setxattr(f, "user.k%d" % rnd.randrange(100), rnd.randbytes(rnd.randrange(0, 600)))
        os.chown(f, rnd.randrange(0, 70000), rnd.randrange(0, 70000))
    for f in rnd.sample(files, 100):
        os.utime(f, ns=(rnd.randrange(0, 2**40), rnd.randrange(0, 2**40)))
    return files


class Persistence(MountTestCase):
    image_size = "1G"
    nfiles = 300

    def compare(self, before, after):
        self.assertEqual(sorted(before), sorted(after), "same set of paths")
        for rel in before:
            for key in before[rel]:
                if key == "atime":
                    continue  # reading the tree for the snapshot may update atime
                self.assertEqual(before[rel][key], after[rel][key], "%s: %s differs" % (rel, key))

    def test_tree_survives_remount(self):
        files = build_tree(self.mnt, 7, self.nfiles)
        before = snapshot(self.mnt)
        self.remount()
        self.compare(before, snapshot(self.mnt))
        # Change a part of it, twice over a remount.
        rnd = random.Random(8)
        for f in rnd.sample(files, 50):
            if os.path.exists(f):
                os.unlink(f)
        for f in rnd.sample([f for f in files if os.path.exists(f)], 50):
            with open(f, "r+b") as fh:
                fh.seek(rnd.randrange(0, 10000))
                fh.write(rnd.randbytes(5000))
        os.rename(os.path.join(self.mnt, "dir0"), os.path.join(self.mnt, "renamed0"))
        before = snapshot(self.mnt)
        self.remount()
        self.compare(before, snapshot(self.mnt))


class SmallBlocks(Persistence):
    """The same on a 1 KiB-block filesystem."""

    image_size = "512M"
    mkfs_args = ("-b", "1024")
    nfiles = 120


if __name__ == "__main__":
    harness.run_tests(globals())
