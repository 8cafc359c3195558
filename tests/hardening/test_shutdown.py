#!/usr/bin/env python3
"""test_shutdown.py: shutdown with I/O in flight.

For each way of stopping the daemon (fusermount3 -u, umount -l, SIGTERM,
SIGINT) while buffered and O_DIRECT writers are running (device
completions delayed 20 ms by the delay fault, so direct requests are in
flight when the stop comes):
- every writer finishes (its requests were completed or failed: nothing
  hangs) and the daemon exits 0 within the timeout;
- the image is marked clean and fsck.eiocbfs -n finds nothing;
- after a remount every record whose write had returned success is there
  (dirty pages were written back, the journal committed the sizes).
fusermount3 -u is refused (busy) while a writer holds a file open: it is
retried, then done lazily (-z), as a user would.
A second mount of a live target is refused: tests/mount test_daemon
(test_already_mounted), not repeated here.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402
from harness import Mount  # noqa: E402
import unittest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from io_worker import BLK, rec  # noqa: E402

NREC = 4000  # more than a writer can do before the stop
WRITERS = (("b0", "buffered"), ("b1", "buffered"), ("d0", "direct"), ("d1", "direct"))


class Shutdown(unittest.TestCase):

    def setUp(self):
        self.dir = harness.new_dir("t-")
        self.image = os.path.join(self.dir, "image")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        harness.mkfs(self.image, size="128M")

    def start_writers(self):
        procs = []
        for name, mode in WRITERS:
            p = os.path.join(self.mnt, name)
            open(p, "wb").close()
            procs.append((name, subprocess.Popen(
                [sys.executable, os.path.join(HERE, "io_worker.py"), p, mode, str(NREC)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        return procs

    def stop_and_check(self, how):
        label = how.name if isinstance(how, signal.Signals) else how
        m = Mount(self.image, self.mnt, opts=["fault=delay:ms=20"]).start()
        procs = []
        try:
            procs = self.start_writers()
            early = {}
            for name, p in procs:  # each writer is well under way
                early[name] = [p.stdout.readline() for _ in range(5)]
                self.assertTrue(all(x.strip().isdigit() for x in early[name]), (name, early[name]))
            time.sleep(0.3)
            for _, p in procs:
                self.assertIsNone(p.poll(), "a writer stopped before the shutdown")
            if how == "fusermount":
                for _ in range(20):
                    if subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL).returncode == 0:
                        break
                    time.sleep(0.05)
                else:
                    subprocess.run(["fusermount3", "-u", "-z", self.mnt], check=True)
            elif how == "umount_lazy":
                subprocess.run(["umount", "-l", self.mnt], check=True)
            else:
                m.proc.send_signal(how)
            acked = {}
            for name, p in procs:
                try:
                    out, err = p.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    self.fail("writer %s hung after the shutdown (%s)" % (name, label))
                lines = early[name] + out.splitlines()
                acked[name] = [int(x) for x in lines if x.strip().isdigit()]
                self.assertGreater(len(acked[name]), 0, "%s wrote nothing: %s" % (name, out + err))
            rc = m.proc.wait(60)
            self.assertEqual(rc, 0, m.output())
            self.assertFalse(harness.is_mounted(self.mnt, None))
        finally:
            for _, p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            m.kill()  # no-op if it exited; otherwise undo the mount
        harness.fsck(self.image)
        with Mount(self.image, self.mnt):
            for name, recs in acked.items():
                with open(os.path.join(self.mnt, name), "rb") as f:
                    data = f.read()
                lost = [i for i in recs if data[i * BLK:(i + 1) * BLK] != rec(i)]
                self.assertEqual(lost, [], "%s: %d of %d accepted records lost after %s "
                                 "(size %d, last accepted %d)" % (name, len(lost), len(recs), label,
                                                                  len(data), max(recs)))
        harness.log("%s: accepted records %s, all present" % (
            label, {k: len(v) for k, v in acked.items()}))

    def test_fusermount_u_with_io_in_flight(self):
        self.stop_and_check("fusermount")

    def test_umount_l_with_io_in_flight(self):
        self.stop_and_check("umount_lazy")

    def test_sigterm_with_io_in_flight(self):
        self.stop_and_check(signal.SIGTERM)

    def test_sigint_with_io_in_flight(self):
        self.stop_and_check(signal.SIGINT)


if __name__ == "__main__":
    harness.run_tests(globals())
