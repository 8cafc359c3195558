#!/usr/bin/env python3
"""test_powercut.py: `eiocbctl MOUNTPOINT crash` at random points of a
workload (the fault lazyfs simulates).

Each round: a fresh mount, crash_worker.py (creates, buffered and O_DIRECT
appends, unlinks, fsync of file and directory) runs; at a random moment
(seeded, printed) eiocbctl crash pulls the plug: the daemon drops its dirty
pages and uncommitted journal, detaches the mount and exits. Then the
image is mounted again (journal replay) and checked:
- metadata consistent: fsck.eiocbfs -n clean after the remount's unmount;
- a crash request from an unprivileged user (uid 65534) is refused;
- every fsync'd byte is there: each file's prefix that the worker reported
  durable has that length and checksum at least; a name whose unlink was
  fsync'd stays gone.
CI runs 3 rounds; LONG=1 runs 25.
"""

import hashlib
import os
import random
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402
from harness import Mount  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EIOCBCTL = os.environ.get("EIOCBCTL", "")
ROUNDS = 25 if harness.LONG else 3
SEED = int(os.environ.get("SEED", str(int(time.time()))))


class PowerCut(unittest.TestCase):

    def round(self, i, rnd):
        d = harness.new_dir("t-")
        image, mnt = os.path.join(d, "image"), os.path.join(d, "mnt")
        os.mkdir(mnt)
        harness.mkfs(image, size="128M")
        # Our own socket (control=): independent of /run/eiocbfs, which other
        # test programs running at the same time may be exercising.
        sock = os.path.join(d, "ctl.sock")
        env = dict(os.environ, EIOCBCTL_SOCKET=sock)
        m = Mount(image, mnt, opts=["control=" + sock], fsck_after=False).start()
        worker = None
        try:
            os.mkdir(os.path.join(mnt, "w"))
            worker = subprocess.Popen([sys.executable, os.path.join(HERE, "crash_worker.py"),
                                       os.path.join(mnt, "w"), str(rnd.randrange(1 << 30))],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            delay = rnd.uniform(0.3, 2.0)
            time.sleep(delay)
            self.assertIsNone(worker.poll(), worker.stderr.read() if worker.poll() is not None else "")
            if i == 0:  # only root or the mounting user may pull the plug
                r = subprocess.run([EIOCBCTL, mnt, "crash"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=30, env=env,
                                   preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIsNone(m.proc.poll(), "an unprivileged crash request was obeyed")
            r = subprocess.run([EIOCBCTL, mnt, "crash"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            rc = m.proc.wait(30)
            self.assertEqual(rc, 0, m.output())
            out, err = worker.communicate(timeout=60)
        finally:
            if worker and worker.poll() is None:
                worker.kill()
                worker.wait()
            m.kill()  # forget the dead daemon; detach if still there
        self.assertFalse(harness.is_mounted(mnt, None))
        durable, unlinked = {}, set()
        for line in out.splitlines():
            f = line.split()
            if f[0] == "D":
                durable[f[1]] = (int(f[2]), f[3])
                unlinked.discard(f[1])
            elif f[0] == "U":
                unlinked.add(f[1])
                durable.pop(f[1], None)
        with Mount(image, mnt):  # replay; fsck -n clean after its unmount
            w = os.path.join(mnt, "w")
            names = set(os.listdir(w))
            for name, (length, sha) in durable.items():
                self.assertIn(name, names, "round %d: fsync'd file %s lost" % (i, name))
                with open(os.path.join(w, name), "rb") as f:
                    data = f.read()
                self.assertGreaterEqual(len(data), length, "round %d: %s shorter than fsync'd" % (i, name))
                self.assertEqual(hashlib.sha256(data[:length]).hexdigest(), sha,
                                 "round %d: %s: fsync'd bytes differ" % (i, name))
            for name in unlinked:
                self.assertNotIn(name, names, "round %d: fsync'd unlink of %s undone" % (i, name))
        harness.log("round %d: crash after %.2f s, %d fsync'd files checked, %d unlinks" % (
            i, delay, len(durable), len(unlinked)))
        return len(durable)

    def test_crash_keeps_every_fsynced_byte(self):
        harness.log("SEED=%d" % SEED)
        rnd = random.Random(SEED)
        checked = sum(self.round(i, rnd) for i in range(ROUNDS))
        self.assertGreater(checked, 0, "no round got as far as an fsync")


if __name__ == "__main__":
    if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
        harness.skip_program("eiocbctl is not built")
    harness.run_tests(globals())
