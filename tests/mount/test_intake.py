#!/usr/bin/env python3
"""test_intake.py: how the daemon's workers take requests from /dev/fuse.

One worker at a time reads the channel (the read token), keeps reading
while the requests are small O_DIRECT reads and writes, and hands the
token on before any other request, which may block:

- after a burst of blocking requests (fsync) has started several workers,
  exactly one of them waits in the kernel's read of /dev/fuse; the others
  wait for the token, where no request wakes them;
- O_DIRECT reads and writes at depth, beside requests that block and
  requests that wait for direct I/O in flight (fsync, truncate, fallocate,
  buffered writes, stat, readdir), all finish and read back what was
  written;
- when libfuse ends workers (more idle than it keeps) while O_DIRECT I/O
  goes on, whichever held the token hands it on: the I/O goes on;
- an O_DIRECT|O_DSYNC write, which commits the journal in its handler,
  hands the token on first: a lookup meanwhile does not wait for it.
"""

import contextlib
import mmap
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BLOCK = 4096
JOIN_TIMEOUT = 60  # a worker stuck on the token would never finish
IDLE_WORKERS = 8  # DAEMON_IDLE_WORKERS, fs/daemon/main.c


def tasks(pid):
    """{tid: wchan} of the daemon's threads."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/wchan" % (pid, tid)) as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass  # the thread ended meanwhile
    return out


def aligned(n):
    return mmap.mmap(-1, n)  # page-aligned, as O_DIRECT wants


def run_threads(fns, on_hang):
    """Runs each fn on a thread; returns the failures: exceptions, and
    threads still running after JOIN_TIMEOUT, which on_hang() then frees."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # noqa: B902 - reported below
            errors.append("%s: %r" % (fn.__name__, e))

    ts = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in fns]
    for t in ts:
        t.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for t in ts:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = sum(t.is_alive() for t in ts)
    if hung:
        on_hang()
    return errors + (["%d threads still running after %d s" % (hung, JOIN_TIMEOUT)] if hung else [])


class IntakeCase(harness.MountTestCase):
    """What the tests below share."""

    def hung(self):
        """Requests nobody reads: the daemon is killed, which fails them (ENOTCONN)."""
        self.m.kill()

    def fsync_burst(self, n=16):
        """n threads each write a file and fsync it at once: blocking requests, side by side."""
        go = threading.Barrier(n)

        def one(i):
            def fn():
                fd = os.open(self.p("burst%d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, b"b" * (256 << 10))
                    go.wait(30)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            fn.__name__ = "burst%d" % i
            return fn

        errs = run_threads([one(i) for i in range(n)], self.hung)
        self.assertEqual(errs, [])

    def direct_io(self, name, size, seconds, threads, beside=()):
        """Runs threads doing O_DIRECT writes and reads for seconds, each
        thread in its own region, checked, beside the functions in others;
        returns the failures and each direct thread's count of I/Os."""
        region = size // threads
        done = [0] * threads
        end = time.monotonic() + seconds

        def worker(k):
            def fn():
                rnd = random.Random(k)
                wbuf, rbuf = aligned(BLOCK), aligned(BLOCK)
                written = {}
                while time.monotonic() < end:
                    off = k * region + rnd.randrange(region // BLOCK) * BLOCK
                    if rnd.random() < 0.5 or off not in written:
                        pat = bytes([rnd.randrange(256)]) * BLOCK
                        wbuf[:] = pat
                        if os.pwritev(fd, [wbuf], off) != BLOCK:
                            raise AssertionError("short O_DIRECT write at %d" % off)
                        written[off] = pat
                    else:
                        if os.preadv(fd, [rbuf], off) != BLOCK or rbuf[:] != written[off]:
                            raise AssertionError("O_DIRECT read at %d: not what was written" % off)
                    done[k] += 1
            fn.__name__ = "direct%d" % k
            return fn

        fd = os.open(self.p(name), os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
        try:
            os.ftruncate(fd, size)
            return run_threads([worker(k) for k in range(threads)] + list(beside), self.hung), done
        finally:
            with contextlib.suppress(OSError):  # ENOTCONN after hung()
                os.close(fd)  # before the unmount


class Intake(IntakeCase):

    def test_one_reader_after_a_burst(self):
        pid = self.m.proc.pid
        before = len(tasks(pid))
        self.fsync_burst()
        deadline = time.monotonic() + 10
        while True:
            t = tasks(pid)
            readers = [tid for tid, w in t.items() if w == "fuse_dev_do_read"]
            if len(readers) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the last replies of the burst
        harness.log("threads: %d before the burst, %d after; in read of /dev/fuse: %d" %
                    (before, len(t), len(readers)))
        self.assertGreaterEqual(len(t) - before, 3, "the burst started no workers: %r" % t)
        self.assertEqual(len(readers), 1, "threads in read of /dev/fuse: %r" % t)

    def test_direct_beside_blocking_requests(self):
        end = time.monotonic() + 4.0
        counts = {"fsync": 0, "truncate": 0, "buffered": 0, "fallocate": 0, "meta": 0}

        def fsync_d():
            fd = os.open(self.p("d"), os.O_RDONLY)
            try:
                while time.monotonic() < end:
                    os.fsync(fd)
                    counts["fsync"] += 1
            finally:
                os.close(fd)

        def truncate_d():
            size = 8 << 20
            while time.monotonic() < end:  # grows only: the direct regions keep their data
                size += BLOCK
                os.truncate(self.p("d"), size)
                counts["truncate"] += 1
                time.sleep(0.01)

        def buffered_b():
            fd = os.open(self.p("b"), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                while time.monotonic() < end:
                    os.pwrite(fd, b"x" * 65536, random.randrange(64) * 65536)
                    counts["buffered"] += 1
                    os.posix_fallocate(fd, 0, 4 << 20)
                    counts["fallocate"] += 1
                    os.fsync(fd)
            finally:
                os.close(fd)

        def meta():
            while time.monotonic() < end:
                os.stat(self.p("d"))
                os.listdir(self.mnt)
                counts["meta"] += 1

        errs, done = self.direct_io("d", 8 << 20, 4.0, 8, [fsync_d, truncate_d, buffered_b, meta])
        harness.log("O_DIRECT I/Os %d; beside them %r" % (sum(done), counts))
        self.assertEqual(errs, [])
        self.assertTrue(all(done), "a direct thread did no I/O: %r" % done)
        self.assertTrue(all(counts.values()), "an operation never ran: %r" % counts)



class IdleWorkers(IntakeCase):
    """Write-back slowed (the delay fault on buffered I/O) so that the
    fsyncs of a burst are in the daemon at once: libfuse starts workers up
    to its limit, more than it keeps idle, and as the burst ends it ends
    each worker that finds more idle than that, the one holding the read
    token among them, while O_DIRECT I/O goes on."""

    mount_opts = ("fault=delay:ms=20:io=buffered",)

    def test_workers_end_during_direct_io(self):
        pid = self.m.proc.pid
        others = len(tasks(pid)) - 1  # libfuse starts one worker
        stop = time.monotonic() + 2.0
        peak = [0]

        def bursts():
            while time.monotonic() < stop:
                self.fsync_burst()

        def watch():
            while time.monotonic() < stop:
                peak[0] = max(peak[0], len(tasks(pid)) - others)
                time.sleep(0.01)

        errs, done = self.direct_io("e", 1 << 20, 3.0, 2, [bursts, watch])
        self.assertEqual(errs, [])
        self.assertTrue(all(done))
        left = len(tasks(pid)) - others
        harness.log("workers: %d at most, %d left; O_DIRECT I/Os %d" % (peak[0], left, sum(done)))
        self.assertGreater(peak[0], IDLE_WORKERS, "the bursts made no more workers than libfuse keeps idle")
        self.assertLessEqual(left, IDLE_WORKERS, "no worker ended")
        # Any worker may have ended with the token: reading goes on.
        errs, done = self.direct_io("e", 1 << 20, 0.5, 2)
        self.assertEqual(errs, [])
        self.assertTrue(all(done))


class SyncWrites(IntakeCase):
    """Device I/O slowed (the delay fault): an O_DIRECT|O_DSYNC write that
    allocates commits the journal before its handler returns (P6, at the
    patch's site), so its worker passes the token on first; other requests
    are read meanwhile (a lookup in a directory already read does no device
    I/O)."""

    DELAY_MS = 300
    mount_opts = ("fault=delay:ms=%d" % DELAY_MS,)

    def test_requests_read_during_a_sync_write(self):
        os.listdir(self.mnt)
        self.assertFalse(os.path.exists(self.p("none")))  # the root's blocks are cached
        fd = os.open(self.p("s"), os.O_RDWR | os.O_CREAT | os.O_DIRECT | os.O_DSYNC, 0o644)
        buf = aligned(BLOCK)
        buf[:] = b"s" * BLOCK
        lookups = []
        try:
            def sync_write():
                t = time.monotonic()
                for i in range(3):  # each into a hole: a new block, a commit
                    self.assertEqual(os.pwritev(fd, [buf], (4 * i + 1) * BLOCK), BLOCK)
                lookups.append(("writes", time.monotonic() - t))

            def lookup():
                time.sleep(self.DELAY_MS / 4000)  # the writes are in their commits
                for i in range(5):
                    t = time.monotonic()
                    self.assertFalse(os.path.exists(self.p("none%d" % i)))  # a LOOKUP each
                    lookups.append(("lookup", time.monotonic() - t))

            self.assertEqual(run_threads([sync_write, lookup], self.hung), [])
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        harness.log("seconds: %r" % lookups)
        writes = [d for k, d in lookups if k == "writes"][0]
        self.assertGreaterEqual(writes, 3 * self.DELAY_MS / 1000, "the writes' commits were not slowed")
        slowest = max(d for k, d in lookups if k == "lookup")
        self.assertLess(slowest, self.DELAY_MS / 2000, "a lookup waited for an O_DSYNC write's commit")


if __name__ == "__main__":
    harness.run_tests(globals())
