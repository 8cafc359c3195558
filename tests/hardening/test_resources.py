#!/usr/bin/env python3
"""test_resources.py: bounded resources of the daemon.

- Threads and file descriptors do not grow with open files: the daemon's
  /proc/PID/task and /proc/PID/fd counted before, while 1,000 files are
  held open on the mount, and after they are closed.
- ... nor with control clients: 100 clients connect to the control socket at
  once and stall (the server serves CTL_MAX_CLIENTS at a time, the rest
  wait in the listen backlog), then 100 more each run a command.
- RSS under a QD32 direct job (eiocb-stress, 8 s): VmHWM stays under
  cache_mb plus the documented fixed overhead (not in sanitizer builds).
The counts are printed: they are the figures of README "Faults and bad
input".
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402

EIOCBCTL = os.environ.get("EIOCBCTL", "")
STRESS = os.environ.get("EIOCB_STRESS", "")
SANITIZED = os.environ.get("EIOCBFS_SANITIZE", "") != ""
CACHE_MB = 16
FIXED_OVERHEAD_MB = 400  # see test_load.py and README
FUSE_MAX_THREADS = 10    # libfuse's default max_threads for the multi-threaded loop
EXTRA_ALLOWED = FUSE_MAX_THREADS + 8  # + control connections served at once (CTL_MAX_CLIENTS)


def counts(pid):
    return (len(os.listdir("/proc/%d/task" % pid)), len(os.listdir("/proc/%d/fd" % pid)))


def vmhwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Resources(MountTestCase):
    image_size = "256M"

    def setUp(self):
        self.ctl = os.path.join(harness.new_dir("ctl-"), "ctl.sock")
        self.mount_opts = ("cache_mb=%d" % CACHE_MB, "control=" + self.ctl)
        super().setUp()
        self.pid = self.m.proc.pid

    def settle(self):
        """Counts once the FUSE loop's idle threads have gone (a few seconds at most)."""
        best = counts(self.pid)
        for _ in range(20):
            time.sleep(0.25)
            c = counts(self.pid)
            best = min(best, c)
        return best

    def test_threads_fds_flat_with_1000_open_files(self):
        os.listdir(self.mnt)
        base = self.settle()
        fds = []
        try:
            for i in range(1000):
                fds.append(os.open(self.p("f%d" % i), os.O_CREAT | os.O_RDWR, 0o644))
            for fd in fds[::10]:
                os.pwrite(fd, b"x" * 4096, 0)
            held = counts(self.pid)
        finally:
            for fd in fds:
                os.close(fd)
        after = self.settle()
        harness.log("threads/fds: base %s, 1000 files open %s, closed %s" % (base, held, after))
        self.assertLessEqual(held[0], base[0] + FUSE_MAX_THREADS)
        self.assertLessEqual(held[1], base[1] + FUSE_MAX_THREADS)  # clone_fd: one per worker
        self.assertLessEqual(after[0], base[0] + FUSE_MAX_THREADS)
        self.assertLessEqual(after[1], base[1] + FUSE_MAX_THREADS)

    def test_threads_fds_flat_with_100_control_clients(self):
        base = self.settle()
        socks = []
        try:
            for _ in range(100):  # connect and say nothing
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                try:
                    s.connect(self.ctl)
                except OSError:  # backlog full: refused, as it should be
                    s.close()
                    continue
                socks.append(s)
            time.sleep(0.5)
            held = counts(self.pid)
        finally:
            for s in socks:
                s.close()
        # 100 real clients, 10 at a time: every one answered.
        errors = []

        def client():
            r = subprocess.run([EIOCBCTL, self.mnt, "stats", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60,
                               env=dict(os.environ, EIOCBCTL_SOCKET=self.ctl))
            if r.returncode != 0:
                errors.append(r.stderr)
            else:
                json.loads(r.stdout)

        for _ in range(10):
            ts = [threading.Thread(target=client) for _ in range(10)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        self.assertEqual(errors, [])
        after = self.settle()
        harness.log("threads/fds: base %s, 100 stalled control clients %s (%d connected), after %s"
                    % (base, held, len(socks), after))
        self.assertGreater(len(socks), 0)
        self.assertLessEqual(held[0], base[0] + EXTRA_ALLOWED)
        self.assertLessEqual(held[1], base[1] + EXTRA_ALLOWED)
        self.assertLessEqual(after[0], base[0] + FUSE_MAX_THREADS)
        self.assertLessEqual(after[1], base[1] + FUSE_MAX_THREADS)

    def test_rss_qd32_direct(self):
        if not STRESS or not os.access(STRESS, os.X_OK):
            self.skipTest("eiocb-stress is not built")
        r = subprocess.run([STRESS, "-t", "8", "-w", "1", "-q", "32", "-r", "2", "-s", "64M",
                            "--json", self.p("qd32")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        if r.returncode == 3 and "O_DIRECT" in r.stderr:
            self.skipTest("the mount refuses O_DIRECT: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        res = json.loads(r.stdout)
        hwm = vmhwm_kb(self.pid)
        harness.log("QD32 direct: %d writes, daemon VmHWM %d KiB (cache_mb=%d)"
                    % (res["writes"]["submitted"], hwm, CACHE_MB))
        self.assertGreater(res["writes"]["submitted"], 0)
        if not SANITIZED:
            self.assertLess(hwm, (CACHE_MB + FIXED_OVERHEAD_MB) * 1024)


if __name__ == "__main__":
    if not EIOCBCTL or not os.access(EIOCBCTL, os.X_OK):
        harness.skip_program("eiocbctl is not built")
    harness.run_tests(globals())
