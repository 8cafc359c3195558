#!/usr/bin/env python3
"""test_semantics.py: SEMANTICS sections 3-7 on a real eiocbfs mount.

Uses the mount harness of tests/mount (fresh image per test, unmount on
every exit path, fsck -n clean after each test), eiocb-stress (the patch's
own load), eiocbctl (faults and counters at runtime) and aio_count (a small
libaio program that counts the events of every iocb). Each test names the
rule it pins down.
"""

import errno
import json
import mmap
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.environ.get("EIOCBFS_HARNESS_DIR", ""))
import harness  # noqa: E402
from harness import MountTestCase  # noqa: E402

STRESS = os.environ.get("EIOCB_STRESS", "")
EIOCBCTL = os.environ.get("EIOCBCTL", "")
AIO_COUNT = os.environ.get("AIO_COUNT", "")
BS = 4096


def run(argv, timeout=120):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


class Base(MountTestCase):
    image_size = "128M"

    def setUp(self):
        super().setUp()
        if not self.direct_ok():
            self.skipTest("this mount has no direct path (the image's filesystem lacks O_DIRECT)")

    def direct_ok(self):
        try:
            fd = os.open(self.p("probe"), os.O_RDWR | os.O_CREAT | os.O_DIRECT)
        except OSError:
            return False
        os.close(fd)
        os.unlink(self.p("probe"))
        return True

    def ctl(self, *args, ok=True):
        r = run([EIOCBCTL, self.mnt] + list(args), timeout=30)
        if ok:
            self.assertEqual(r.returncode, 0, "eiocbctl %s: %s" % (" ".join(args), r.stderr))
        return r

    def stats(self):
        return json.loads(self.ctl("stats", "--json").stdout)

    def injected(self, point):
        return self.stats()["faults"][point]["injected"]

    def aio(self, *args, ok=True, path="f"):
        r = run([AIO_COUNT] + [str(a) for a in args] + [self.p(path)], timeout=120)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)

    def stress(self, *args):
        r = run([STRESS, "-t", "2", "-w", "2", "-q", "8", "-r", "2", "-s", "4M", "-D", "30",
                 "--json"] + list(args) + [self.p("stress.dat")], timeout=180)
        self.assertIn(r.returncode, (0, 1), r.stdout + r.stderr)
        return r.returncode, json.loads(r.stdout)

    def assert_alive_and_answered(self):
        """The daemon is up and every FUSE direct request got exactly one answer."""
        os.stat(self.mnt)
        st = self.stats()
        fu = st["fuse"]
        self.assertEqual(fu["direct_requests"], fu["direct_replies"], st)
        self.assertEqual(fu["double_replies"], 0, st)
        self.assertEqual(st["ioctx"]["inflight"], 0, st)
        return st

    def pwrite_direct(self, name, data, off):
        fd = os.open(self.p(name), os.O_RDWR | os.O_CREAT | os.O_DIRECT)
        try:
            m = mmap.mmap(-1, len(data))
            m.write(data)
            return os.pwrite(fd, memoryview(m), off)
        finally:
            os.close(fd)

    def pread_buffered(self, name, n, off):
        with open(self.p(name), "rb", buffering=0) as f:
            return os.pread(f.fileno(), n, off)


class Deferred(Base):
    """deferred (the patch): post-submission errors in the event, exactly once."""

    def test_section7_stress_invalidate_eio(self):
        self.ctl("fault", "invalidate", "errno=EIO", "probability=30")
        rc, res = self.stress()
        self.ctl("fault", "invalidate", "off")
        w = res["writes"]
        self.assertEqual(rc, 0, res)
        self.assertGreater(w["submitted"], 0, res)
        self.assertEqual(w["events"], w["submitted"], res)  # R7: one event per iocb
        self.assertEqual((w["lost"], w["duplicated"], w["unknown"]), (0, 0, 0), res)
        self.assertGreater(w["eio"], 0, res)
        self.assertEqual(w["other"], 0, res)
        st = self.assert_alive_and_answered()
        io = st["ioctx"]
        self.assertEqual(io["double_completions"], 0, st)
        # Each iocb with an injected failure (at most two each) has one -EIO event.
        inj = st["faults"]["invalidate"]["injected"]
        self.assertEqual(io["pending_errors"], w["eio"], st)
        self.assertLessEqual(w["eio"], inj)
        self.assertGreaterEqual(2 * w["eio"], inj)

    def test_section7_aio_count_each_failure_one_event(self):
        # QD1: a request's invalidations (after submission, after completion)
        # alternate; interval=2 fails every request's second one, times=10 of them.
        self.aio("-n", 4)
        self.ctl("fault", "invalidate", "errno=EIO", "interval=2", "times=10")
        before = self.stats()["ioctx"]
        res = self.aio("-q", 1, "-n", 40)
        self.assertEqual((res["submitted"], res["events"]), (40, 40), res)
        self.assertEqual((res["eio"], res["ok"], res["other"]), (10, 30, 0), res)
        st = self.assert_alive_and_answered()
        self.assertEqual(st["faults"]["invalidate"]["injected"], 10)
        self.assertEqual(st["ioctx"]["pending_errors"] - before["pending_errors"], 10)
        self.assertEqual(st["ioctx"]["double_completions"], 0)

    def test_P5_race_with_delay(self):
        self.pwrite_direct("r", b"o" * BS, 0)
        self.assertEqual(self.pread_buffered("r", BS, 0), b"o" * BS)  # cached
        self.ctl("fault", "delay", "ms=600", "offset=0-4095")
        p = subprocess.Popen([AIO_COUNT, "-q", "1", "-n", "1", "-p", str(ord("n")), self.p("r")],
                             stdout=subprocess.PIPE, text=True)
        time.sleep(0.2)
        # While the write is held in flight: a buffered read, any version.
        self.assertIn(self.pread_buffered("r", BS, 0), (b"o" * BS, b"n" * BS))
        out, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(json.loads(out)["ok"], 1, out)
        self.ctl("fault", "delay", "off")
        self.assertEqual(self.pread_buffered("r", BS, 0), b"n" * BS)  # P5
        self.assertGreaterEqual(self.injected("delay"), 1)

    def test_osync_error_in_event(self):
        self.ctl("fault", "osync", "errno=EIO")
        res = self.aio("-d", "-q", 2, "-n", 6, ok=False)
        self.assertEqual((res["events"], res["eio"]), (6, 6), res)  # P6 through R3
        res = self.aio("-q", 2, "-n", 6)  # without O_DSYNC: no metadata sync
        self.assertEqual(res["ok"], 6, res)
        self.assertEqual(self.injected("osync"), 6)
        self.ctl("fault", "osync", "off")
        self.assert_alive_and_answered()

    def test_interrupt_cancels_read(self):
        self.aio("-n", 1)
        self.ctl("fault", "delay", "ms=1500")
        before = self.stats()["ioctx"]
        r = run([AIO_COUNT, "-I", "300", self.p("f")], timeout=30)
        self.assertEqual(json.loads(r.stdout)["errno"], "EINTR", r.stdout)  # R6
        time.sleep(1.8)  # the delayed device completion arrives
        self.ctl("fault", "delay", "off")
        st = self.assert_alive_and_answered()
        io = st["ioctx"]
        self.assertEqual(io["cancelled"] - before["cancelled"], 1, st)
        self.assertEqual(st["fuse"]["direct_cancelled"], 1, st)
        # No event for the cancelled iocb: events = submitted - cancelled.
        self.assertEqual(io["events"], io["submitted"] - io["cancelled"], st)
        self.assertEqual(io["reaped"], io["events"], st)

    def test_fault_knobs_through_counters(self):
        """times, interval, ino, offset, probability, ms: each does what it says,
        seen in the events and in the (cumulative) injection counters."""
        self.aio("-n", 10)
        ino_f = os.stat(self.p("f")).st_ino
        ino_other = os.stat(self.mnt).st_ino  # the root: no direct request of its own
        cases = [
            (["times=3"], ["-n", 10], 3),
            (["interval=3"], ["-n", 9], 3),
            (["ino=%d" % ino_other], ["-n", 5], 0),
            (["ino=%d" % ino_f], ["-n", 5], 5),
            (["offset=8192-12287"], ["-n", 8], 1),  # only block 2 of blocks 0-7
        ]
        for knobs, args, want in cases:
            before = self.injected("device_write")
            self.ctl("fault", "device_write", "errno=EIO", *knobs)
            res = self.aio("-q", 1, *args, ok=False)
            self.ctl("fault", "device_write", "off")
            self.assertEqual(res["events"], res["submitted"], (knobs, res))
            self.assertEqual(res["eio"], want, (knobs, res))
            self.assertEqual(self.injected("device_write") - before, want, knobs)
        # probability: about half of 200 reads fail
        self.ctl("fault", "device_read", "errno=EIO", "probability=50")
        res = self.aio("-r", "-q", 4, "-n", 200, "-s", 10 * BS, ok=False)
        self.ctl("fault", "device_read", "off")
        self.assertTrue(40 <= res["eio"] <= 160, res)
        self.assertEqual(self.injected("device_read"), res["eio"])
        # delay: each of 4 writes waits ms
        self.ctl("fault", "delay", "ms=50", "times=4")
        res = self.aio("-q", 1, "-n", 4)
        self.assertGreaterEqual(res["elapsed_ms"], 4 * 50, res)
        self.assertEqual(self.injected("delay"), 4)
        self.assert_alive_and_answered()

    def test_integrity_mixed_paths(self):
        """Several processes mix buffered and direct reads and writes of
        overlapping ranges of their own region: zero stale, torn or lost data."""
        nproc, region = 4, 32 * BS
        path = self.p("mixed")
        with open(path, "wb") as f:
            f.truncate(nproc * region)
        pids = []
        for k in range(nproc):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = mixed_worker(path, k * region, region, seed=k)
                finally:
                    os._exit(code)
            pids.append(pid)
        fails = [os.waitpid(p, 0)[1] for p in pids]
        self.assertEqual(fails, [0] * nproc, "a worker saw stale, torn or lost data")
        self.assert_alive_and_answered()


def mixed_worker(path, base, region, seed):
    rnd = random.Random(seed)
    model = bytearray(region)
    fb = os.open(path, os.O_RDWR)
    fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    m = mmap.mmap(-1, region)
    for step in range(300):
        op = rnd.randrange(4)
        if op == 0:  # buffered write, any offset and length
            off = rnd.randrange(region)
            n = rnd.randrange(1, min(3 * BS, region - off) + 1)
            data = bytes([rnd.randrange(256)]) * n
            os.pwrite(fb, data, base + off)
            model[off:off + n] = data
        elif op == 1:  # direct write, aligned
            blk = rnd.randrange(region // BS)
            nb = rnd.randrange(1, min(4, region // BS - blk) + 1)
            n = nb * BS
            data = bytes([rnd.randrange(256)]) * n
            m[:n] = data
            if os.pwrite(fd, memoryview(m)[:n], base + blk * BS) != n:
                return 2
            model[blk * BS:blk * BS + n] = data
        elif op == 2:  # buffered read
            off = rnd.randrange(region)
            n = rnd.randrange(1, min(3 * BS, region - off) + 1)
            if os.pread(fb, n, base + off) != bytes(model[off:off + n]):
                print("buffered read at %d+%d: stale or torn (step %d)" % (off, n, step))
                return 3
        else:  # direct read, aligned
            blk = rnd.randrange(region // BS)
            nb = rnd.randrange(1, min(4, region // BS - blk) + 1)
            n = nb * BS
            got = os.preadv(fd, [memoryview(m)[:n]], base + blk * BS)
            if got != n or m[:n] != bytes(model[blk * BS:blk * BS + n]):
                print("direct read at block %d+%d: stale or torn (step %d)" % (blk, nb, step))
                return 4
    os.fsync(fb)
    if os.pread(fb, region, base) != bytes(model):
        print("final content differs")
        return 5
    return 0


class Legacy(Base):
    """legacy (2.6.20): double completions detected, counted, survived."""
    mount_opts = ("semantics=legacy",)

    def test_section7_double_completions_detected(self):
        self.ctl("fault", "invalidate", "errno=EIO", "probability=30")
        rc, res = self.stress()
        self.ctl("fault", "invalidate", "off")
        w = res["writes"]
        # Every FUSE request is answered once: the user's libaio sees one event each.
        self.assertEqual(w["events"], w["submitted"], res)
        self.assertEqual((w["lost"], w["duplicated"]), (0, 0), res)
        self.assertGreater(w["eio"], 0, res)
        st = self.assert_alive_and_answered()
        self.assertEqual(st["semantics"], "legacy")
        self.assertGreater(st["ioctx"]["double_completions"], 0, st)
        self.assertEqual(st["ioctx"]["pending_errors"], 0, st)


    def test_one_double_completion_per_submit_failure(self):
        # The first invalidation of the first request (after submission)
        # fails while its device write is held in flight: the submitter
        # completes the iocb (the user gets -EIO, once), the device completion
        # comes later through a stale handle: detected, counted, no event.
        self.aio("-n", 2)
        before = self.stats()["ioctx"]
        self.ctl("fault", "delay", "ms=100")
        self.ctl("fault", "invalidate", "errno=EIO", "times=1")
        res = self.aio("-q", 1, "-n", 5, ok=False)
        time.sleep(0.3)
        self.ctl("fault", "delay", "off")
        self.assertEqual((res["events"], res["eio"], res["ok"]), (5, 1, 4), res)
        st = self.assert_alive_and_answered()
        self.assertEqual(st["ioctx"]["double_completions"] - before["double_completions"], 1, st)
        self.assertEqual(st["ioctx"]["events"] - before["events"], 5, st)


class Drop(Base):
    """drop: the error is discarded: success, and stale data (P5 broken)."""
    mount_opts = ("semantics=drop",)

    def test_section7_success_and_stale_reads(self):
        self.ctl("fault", "invalidate", "errno=EIO")
        rc, res = self.stress()
        self.ctl("fault", "invalidate", "off")
        w, r = res["writes"], res["reads"]
        self.assertEqual(w["events"], w["submitted"], res)
        self.assertEqual((w["eio"], w["other"]), (0, 0), res)  # writers see success
        self.assertGreater(r["stale"], 0, res)  # ... and readers see old data
        self.assertEqual(rc, 1, res)
        st = self.assert_alive_and_answered()
        self.assertGreater(st["ioctx"]["dropped_errors"], 0, st)

    def test_P5_stale_read_after_success(self):
        self.pwrite_direct("s", b"o" * BS, 0)
        self.assertEqual(self.pread_buffered("s", BS, 0), b"o" * BS)  # cached
        self.ctl("fault", "invalidate", "errno=EIO")
        self.assertEqual(self.pwrite_direct("s", b"n" * BS, 0), BS)  # success
        self.assertEqual(self.pread_buffered("s", BS, 0), b"o" * BS)  # stale
        self.ctl("fault", "invalidate", "off")


class Options(Base):
    """-o cache_mb= sizes the page cache; -o fault= arms points at mount time."""
    mount_opts = ("cache_mb=8", "fault=device_write:errno=ENOSPC:times=2",
                  "fault=invalidate:errno=EIO:ino=999999")

    def test_cache_mb_and_counters(self):
        st = self.stats()
        self.assertEqual(st["pagecache"]["max_pages"], (8 << 20) // BS, st)
        with open(self.p("b"), "wb") as f:
            f.write(b"z" * (64 * BS))
            os.fsync(f.fileno())
        before = self.stats()["pagecache"]
        self.assertEqual(self.pread_buffered("b", BS, 0), b"z" * BS)
        self.assertEqual(self.pread_buffered("b", BS, 0), b"z" * BS)
        after = self.stats()["pagecache"]
        self.assertGreaterEqual(after["hits"] - before["hits"], 1, after)
        # A direct write invalidates twice (after submission, after completion).
        self.ctl("fault", "device_write", "off")
        self.pwrite_direct("b", b"y" * BS, 0)
        self.assertEqual(self.stats()["pagecache"]["invalidations"] - after["invalidations"], 2)
        self.assertEqual(self.pread_buffered("b", BS, 0), b"y" * BS)

    def test_faults_armed_at_mount(self):
        st = self.stats()
        self.assertTrue(st["faults"]["device_write"]["enabled"], st)
        self.assertTrue(st["faults"]["invalidate"]["enabled"], st)
        res = self.aio("-q", 1, "-n", 5, ok=False)
        self.assertEqual(res["errors"], {"ENOSPC": 2}, res)  # times=2
        self.assertEqual(res["ok"], 3, res)
        self.assertEqual(self.injected("invalidate"), 0)  # ino filter: another inode
        # Each write invalidates after submission; the 3 that succeeded also
        # after completion (a failed device write changed nothing to drop).
        self.assertEqual(self.stats()["faults"]["invalidate"]["calls"], 5 + 3)


if __name__ == "__main__":
    for v, name in ((STRESS, "eiocb-stress"), (EIOCBCTL, "eiocbctl"), (AIO_COUNT, "aio_count")):
        if not v or not os.access(v, os.X_OK):
            harness.skip_program(name + " is not built")
    harness.run_tests(globals())
