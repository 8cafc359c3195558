#!/usr/bin/env python3
"""test_crash.py: SIGKILL the daemon in the middle of a metadata-heavy
workload, at random points, several times on the same image.

After each kill: the dead mount is detached (fusermount3 -u -z);
fsck.eiocbfs -n (which replays the journal in memory) finds no error; the
image is mounted again (journal replay, orphans freed), every file whose
fsync (and its directory's) returned before the kill is intact, and after a
clean unmount fsck -n finds no error again. CRASH_ROUNDS or LONG=1 for more
rounds; CRASH_SEED to repeat a run.
"""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Mount  # noqa: E402

# The workload, run as a separate process on the mount. It records in the
# ledger (outside the mount) each file only after fsync of the file and of
# its directory returned: those must survive the crash.
WORKLOAD = r'''
import hashlib, os, random, sys
mnt, ledger_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
if os.stat(mnt).st_dev == os.stat(os.path.dirname(mnt)).st_dev:
    sys.exit("workload: %s is not mounted" % mnt)
print("ready", flush=True)
ledger = open(ledger_path, "a")
durable = os.path.join(mnt, "durable")
os.makedirs(durable, exist_ok=True)
dirs = [mnt]
n = 0
try:
    while True:
        n += 1
        op = rnd.random()
        d = rnd.choice(dirs)
        if op < 0.10 and len(dirs) < 200:
            p = os.path.join(d, "d%d-%d" % (seed, n)); os.mkdir(p); dirs.append(p)
        elif op < 0.45:
            p = os.path.join(d, "f%d-%d" % (seed, n))
            with open(p, "wb") as f: f.write(rnd.randbytes(rnd.choice([0, 10, 5000, 70000])))
            if rnd.random() < 0.3: os.setxattr(p, "user.x", b"v" * rnd.randrange(300))
        elif op < 0.60:
            names = [x for x in os.listdir(d) if x.startswith("f")]
            if names: os.unlink(os.path.join(d, rnd.choice(names)))
        elif op < 0.72:
            names = [x for x in os.listdir(d) if x.startswith("f")]
            if names: os.rename(os.path.join(d, rnd.choice(names)), os.path.join(rnd.choice(dirs), "r%d-%d" % (seed, n)))
        elif op < 0.78:
            names = [x for x in os.listdir(d) if x.startswith("f")]
            if names: os.link(os.path.join(d, rnd.choice(names)), os.path.join(d, "h%d-%d" % (seed, n)))
        elif op < 0.82:
            os.symlink("t" * rnd.randrange(1, 200), os.path.join(d, "s%d-%d" % (seed, n)))
        elif op < 0.86 and len(dirs) > 1:
            p = dirs[-1]
            try:
                os.rmdir(p); dirs.pop()
            except OSError:
                pass
        else:
            name = "k%d-%d" % (seed, n)
            data = rnd.randbytes(rnd.choice([1, 4096, 33333, 200000]))
            fd = os.open(os.path.join(durable, name), os.O_WRONLY | os.O_CREAT, 0o644)
            view = memoryview(data)
            while view:  # a short write (ENOSPC on the way) ends in an OSError
                view = view[os.write(fd, view):]
            os.fsync(fd); os.close(fd)
            dfd = os.open(durable, os.O_RDONLY); os.fsync(dfd); os.close(dfd)
            ledger.write("%s %s\n" % (name, hashlib.sha256(data).hexdigest())); ledger.flush()
except OSError:
    pass  # the daemon died under us
'''


def read_ledger(path):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:  # a torn last line was not yet acknowledged
                out[parts[0]] = parts[1]
    return out


class Crash(harness.unittest.TestCase):
    def test_sigkill_during_metadata_workload(self):
        rounds = int(os.environ.get("CRASH_ROUNDS", "30" if harness.LONG else "4"))
        seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
        print("crash: %d rounds, CRASH_SEED=%d" % (rounds, seed), flush=True)
        rnd = random.Random(seed)
        d = harness.new_dir("crash-")
        image = os.path.join(d, "image")
        mnt = os.path.join(d, "mnt")
        ledger = os.path.join(d, "ledger")
        harness.mkfs(image, size="256M")
        for r in range(rounds):
            m = Mount(image, mnt).start()
            try:
                work = subprocess.Popen([sys.executable, "-c", WORKLOAD, mnt, ledger, str(seed + r)],
                                        stdout=subprocess.PIPE, text=True)
                try:
                    # The kill comes at a random point of the workload itself,
                    # not of its interpreter's start-up.
                    self.assertEqual(work.stdout.readline().strip(), "ready", "round %d: workload did not start" % r)
                    time.sleep(rnd.uniform(0.2, 1.5))
                    m.kill(signal.SIGKILL, detach=False)  # the crash
                finally:
                    # Stop the workload before detaching the dead mount, so it
                    # can never fall through to the directory underneath.
                    work.kill()
                    work.wait()
                    work.stdout.close()
            finally:
                m.kill()
            # fsck -n replays the journal in memory: the crashed image is clean to it.
            harness.fsck(image)
            # Replay at mount; every acknowledged file is intact.
            with Mount(image, mnt) as m2:
                want = read_ledger(ledger)
                for name, digest in want.items():
                    path = os.path.join(mnt, "durable", name)
                    with open(path, "rb") as f:
                        got = hashlib.sha256(f.read()).hexdigest()
                    self.assertEqual(got, digest, "round %d: fsync'd file %s damaged" % (r, name))
                for dirpath, dirnames, filenames in os.walk(mnt):  # the tree is readable
                    for n in filenames:
                        os.lstat(os.path.join(dirpath, n))
                print("round %d: %d fsync'd files intact" % (r, len(want)), flush=True)
            # (Mount.__exit__ unmounted cleanly and ran fsck -n.)

    def test_orphan_freed_after_crash(self):
        d = harness.new_dir("orphan-")
        image = os.path.join(d, "image")
        mnt = os.path.join(d, "mnt")
        harness.mkfs(image, size="128M")
        with Mount(image, mnt):
            free0 = os.statvfs(mnt).f_bfree
        m = Mount(image, mnt).start()
        fd = None
        try:
            path = os.path.join(mnt, "orphan")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            os.write(fd, os.urandom(16 << 20))
            os.fsync(fd)
            os.unlink(path)
            dfd = os.open(mnt, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            self.assertLess(os.statvfs(mnt).f_bfree, free0 - 1000)
            m.kill(signal.SIGKILL)
        finally:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            m.kill()
        with Mount(image, mnt):
            self.assertGreaterEqual(os.statvfs(mnt).f_bfree, free0 - 2, "orphan's blocks freed at mount")


if __name__ == "__main__":
    harness.run_tests(globals())
