#!/usr/bin/env python3
"""test_semantics.py: docs/semantics.md sections 3-7 on a real eiocbfs mount.

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
AIO_DIO_INVALIDATE = os.environ.get("AIO_DIO_INVALIDATE", "")
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
        self.assertEqual(io["propagated_errors"], w["eio"], st)
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
        self.assertEqual(st["ioctx"]["propagated_errors"] - before["propagated_errors"], 10)
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
            self.ctl("fault", "device_write", "errno=EIO", "io=direct", *knobs)
            res = self.aio("-q", 1, *args, ok=False)
            self.ctl("fault", "device_write", "off")
            self.assertEqual(res["events"], res["submitted"], (knobs, res))
            self.assertEqual(res["eio"], want, (knobs, res))
            self.assertEqual(self.injected("device_write") - before, want, knobs)
        # probability: about half of 200 reads fail
        self.ctl("fault", "device_read", "errno=EIO", "io=direct", "probability=50")
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


class Batches(Base):
    """A deep queue of direct requests through the mount: the daemon takes
    them from /dev/fuse in batches and submits their device I/O together.
    Each iocb still gets one event (R7), allocating writes that wait for
    each other and a truncate that waits for the direct I/O in flight all
    end, and the data is what was written."""

    def test_R7_deep_queue_allocating_writes_and_truncate(self):
        blocks = 2048
        # New files: every write allocates, and a write waits for the
        # allocating writes of its stripe, some in the same batch.
        writers = [subprocess.Popen([AIO_COUNT, "-q", "32", "-n", str(blocks), "-s", str(blocks * BS), "-p",
                                     str(ord(c)), self.p(name)], stdout=subprocess.PIPE, text=True)
                   for name, c in (("a", "a"), ("t", "t"))]
        # Truncate waits for the direct I/O in flight on "t" (batched or not).
        deadline = time.monotonic() + 60
        truncates = 0
        while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
            try:
                os.truncate(self.p("t"), BS * random.randrange(blocks))
                truncates += 1
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        outs = []
        for w in writers:
            out, _ = w.communicate(timeout=60)
            self.assertEqual(w.returncode, 0, out)  # every iocb: exactly one event
            outs.append(json.loads(out))
        self.assertEqual((outs[0]["submitted"], outs[0]["ok"]), (blocks, blocks), outs[0])
        self.assertGreater(truncates, 0)
        with open(self.p("a"), "rb") as f:
            self.assertEqual(f.read(), b"a" * (blocks * BS))
        # Reads at depth 32 of what was written, each answered once.
        res = self.aio("-r", "-q", 32, "-n", 4 * blocks, "-s", blocks * BS, path="a")
        self.assertEqual((res["events"], res["ok"]), (4 * blocks, 4 * blocks), res)
        self.assert_alive_and_answered()


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
        self.assertEqual(st["ioctx"]["propagated_errors"], 0, st)


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


class Generic208(Base):
    """generic/208's scenario (xfstests' aio-dio-invalidate-failure, the AIO
    patch's regression program): O_DIRECT AIO writes of 8 MiB at offset 0
    racing buffered writes of the same bytes, so that the direct write's
    invalidation finds pages dirtied again under it (P3: real pages, no
    injected fault). Then two fsyncs of each description open during the
    race, and one of a description opened afterwards (errseq_t rules)."""
    seconds = 2

    def race(self):
        # The race is timing: on a slow or loaded machine (sanitizer builds)
        # a run may see no undroppable page; run again, a bounded number of
        # times, until one does. Each run starts on a new file.
        for attempt in range(4):
            before = self.stats()
            name = "f208" if attempt == 0 else "f208-%d" % attempt
            r = run([AIO_DIO_INVALIDATE, "-t", str(self.seconds * (attempt + 1)), "-s", str(8 << 20),
                     "-k", "2", self.p(name)], timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            res = json.loads(r.stdout)
            st = self.assert_alive_and_answered()  # R7, and the daemon is up
            failures = (st["pagecache"]["invalidate_failures"]
                        - before["pagecache"]["invalidate_failures"])
            harness.log("%s: %s; invalidation failures %d, double completions %d" % (
                st["semantics"], r.stdout.strip(), failures, st["ioctx"]["double_completions"]))
            self.assertGreater(res["submitted"], 0, res)
            self.assertEqual(res["events"], res["submitted"], res)
            self.assertEqual(res["buffered_errors"], 0, res)
            if failures > 0:
                break
        self.race_file = name
        # The race must have happened, or the run proves nothing.
        self.assertGreater(failures, 0, st)
        self.assertEqual(st["faults"]["invalidate"]["injected"], 0, st)
        return res, st, failures

    def assert_fsync_clean(self, res):
        fs = res["fsync"]
        self.assertEqual((fs["direct"], fs["buffered"], fs["after"]), ([0, 0], [0, 0], 0), res)
        self.assertEqual(fs["before"], [[0, 0]] * 2, res)


class Generic208Deferred(Generic208):
    def test_P3_race_success_or_eio(self):
        res, st, _ = self.race()
        # The original program's rule: success or -EIO, never another value.
        self.assertEqual(res["other"], 0, res)
        self.assertEqual(res["ok"] + res["eio"], res["events"], res)
        self.assertGreater(res["eio"], 0, res)
        self.assertEqual(st["ioctx"]["double_completions"], 0, st)
        self.assert_fsync_clean(res)


class Generic208Legacy(Generic208):
    mount_opts = ("semantics=legacy",)

    def test_P3_race_daemon_survives(self):
        res, st, _ = self.race()  # alive, one answer per request
        self.assertEqual(res["other"], 0, res)
        self.assertEqual(st["ioctx"]["propagated_errors"], 0, st)
        self.assert_fsync_clean(res)


class Generic208Drop(Generic208):
    mount_opts = ("semantics=drop",)

    def test_P3_race_success_errors_dropped(self):
        res, st, failures = self.race()
        self.assertEqual(res["ok"], res["events"], res)
        self.assertGreater(st["ioctx"]["dropped_errors"], 0, st)
        self.assert_fsync_clean(res)


class Generic208Mainline(Generic208):
    mount_opts = ("semantics=mainline",)

    def test_P3_race_success_then_fsync_eio_once_per_description(self):
        res, st, failures = self.race()
        self.assertEqual(res["ok"], res["events"], res)  # every event: the byte count
        self.assertEqual(st["ioctx"]["propagated_errors"], 0, st)
        self.assertEqual(st["fuse"]["stale_pagecache"], failures, st)
        fs = res["fsync"]
        # Each description open during the race: -EIO once, then success.
        self.assertEqual(fs["direct"], [-errno.EIO, 0], res)
        self.assertEqual(fs["buffered"], [-errno.EIO, 0], res)
        self.assertEqual(fs["before"], [[-errno.EIO, 0]] * 2, res)
        # Opened after the error was reported: does not see it.
        self.assertEqual(fs["after"], 0, res)
        self.assertEqual(st["pagecache"]["wb_err_reported"], 4, st)
        # One log line per failure, as the kernel's (10 at most a day).
        log = self.m.output()
        lines = log.count("Page cache invalidation failure on direct I/O. Possible data "
                          "corruption due to collision with buffered I/O!")
        self.assertEqual(lines, min(failures, 10), log)
        self.assertIn("inode %d" % os.stat(self.p(self.race_file)).st_ino, log)


class Mainline(Base):
    """mainline (Linux today): the event carries the byte count; an O_SYNC
    sync, done at completion, still reaches it."""
    mount_opts = ("semantics=mainline",)

    def test_P6_osync_error_in_event_at_completion(self):
        self.ctl("fault", "osync", "errno=EIO")
        res = self.aio("-d", "-q", 2, "-n", 6, ok=False)
        self.assertEqual((res["events"], res["eio"]), (6, 6), res)
        self.ctl("fault", "osync", "off")
        self.assertEqual(self.injected("osync"), 6)
        st = self.assert_alive_and_answered()
        self.assertEqual(st["semantics"], "mainline")
        self.assertEqual(st["ioctx"]["propagated_errors"], 6, st)

    def test_P3_injected_invalidate_failure_is_fsync_eio_once(self):
        self.aio("-n", 1)
        fd_old = os.open(self.p("f"), os.O_RDONLY)
        self.ctl("fault", "invalidate", "errno=EIO", "times=1")
        res = self.aio("-q", 1, "-n", 3)
        self.assertEqual(res["ok"], 3, res)  # not in the event
        fd_new = os.open(self.p("f"), os.O_RDONLY)  # nobody has seen it yet: sees it
        self.assertErrno(errno.EIO, os.fsync, fd_old)
        os.fsync(fd_old)  # reported once
        self.assertErrno(errno.EIO, os.fsync, fd_new)
        fd_late = os.open(self.p("f"), os.O_RDONLY)  # after it was seen: does not
        os.fsync(fd_late)
        os.fdatasync(fd_new)
        for fd in (fd_old, fd_new, fd_late):
            os.close(fd)
        st = self.assert_alive_and_answered()
        self.assertEqual(st["fuse"]["stale_pagecache"], 1, st)
        self.assertEqual(st["pagecache"]["wb_err_reported"], 2, st)


class OsyncCrash(Base):
    """P6: an O_SYNC/O_DSYNC direct write whose event said success survives a
    power cut (eiocbctl crash): its size and its new blocks' mapping are
    committed before the event is written. Extending, overwriting and
    into-hole writes, each one libaio write with O_DSYNC, no fsync; then
    crash, remount, size and content checked, fsck -n clean (harness)."""

    def osync_writes_survive_crash(self):
        # over: 3 blocks, made durable first; hole: size 4 blocks, no block
        with open(self.p("over"), "wb") as f:
            f.write(b"o" * (3 * BS))
            os.fsync(f.fileno())
        with open(self.p("hole"), "wb") as f:
            f.truncate(4 * BS)
            os.fsync(f.fileno())
        for name in ("ext", "gap"):
            open(self.p(name), "wb").close()
        fd = os.open(self.mnt, os.O_RDONLY)
        os.fsync(fd)  # the directory entries too
        os.close(fd)
        # Each write is the last thing before its crash: a later O_SYNC
        # write's commit must not be what makes an earlier one durable.
        writes = [("ext", 0, 2, ord("e")),        # extends an empty file: 2 blocks
                  ("gap", 5 * BS, 1, ord("g")),   # past EOF, a hole before it
                  ("over", BS, 1, ord("n")),      # overwrites block 1
                  ("hole", 2 * BS, 1, ord("h"))]  # fills a hole below EOF
        want = {"ext": b"", "gap": b"", "over": b"o" * (3 * BS), "hole": bytes(4 * BS)}
        done = {"ext": b"e" * (2 * BS), "gap": bytes(5 * BS) + b"g" * BS,
                "over": b"o" * BS + b"n" * BS + b"o" * BS,
                "hole": bytes(2 * BS) + b"h" * BS + bytes(BS)}
        for name, off, nblk, byte in writes:
            res = self.aio("-d", "-q", 1, "-n", 1, "-b", nblk * BS, "-o", off, "-p", byte,
                           path=name)
            self.assertEqual((res["events"], res["ok"]), (1, 1), (name, res))
            want[name] = done[name]
            self.ctl("crash")
            self.assertEqual(self.m.proc.wait(30), 0, self.m.output())
            self.m.kill()  # forget the dead daemon, detach its mount
            self.m = harness.Mount(self.target, self.mnt, opts=self.mount_opts).start()
            for f, data in want.items():
                with open(self.p(f), "rb") as fh:
                    self.assertEqual(fh.read(), data, "after the crash that followed %s: %s"
                                     % (name, f))


class OsyncCrashDeferred(OsyncCrash):
    def test_P6_osync_durable_after_crash(self):
        self.osync_writes_survive_crash()


class OsyncCrashLegacy(OsyncCrash):
    mount_opts = ("semantics=legacy",)

    def test_P6_osync_durable_after_crash(self):
        self.osync_writes_survive_crash()


class OsyncCrashMainline(OsyncCrash):
    mount_opts = ("semantics=mainline",)

    def test_P6_osync_durable_after_crash(self):
        self.osync_writes_survive_crash()


class Options(Base):
    """-o cache_mb= sizes the page cache; -o fault= arms points at mount time."""
    mount_opts = ("cache_mb=8", "fault=device_write:errno=ENOSPC:times=2:io=direct",
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
    for v, name in ((STRESS, "eiocb-stress"), (EIOCBCTL, "eiocbctl"), (AIO_COUNT, "aio_count"),
                    (AIO_DIO_INVALIDATE, "aio_dio_invalidate")):
        if not v or not os.access(v, os.X_OK):
            harness.skip_program(name + " is not built")
    harness.run_tests(globals())
