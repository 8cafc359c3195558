#!/usr/bin/env python3
"""crash_worker.py DIR SEED: a workload for the power-cut test. Creates
files, appends random records to them (buffered, or O_DIRECT for whole
blocks), renames and unlinks some, and now and then fsyncs a file and its
directory. After each fsync it prints "D NAME LENGTH SHA256" (flushed): the
first LENGTH bytes of NAME are durable and must survive a crash. "U NAME"
marks a name unlinked and fsync'd (it must not come back). Runs until an
error (the crash) and exits 0.
"""
import hashlib
import mmap
import os
import random
import sys


def main():
    d, seed = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(seed)
    files = {}  # name -> bytearray written so far
    n = 0
    dfd = os.open(d, os.O_RDONLY)
    buf = mmap.mmap(-1, 65536)
    try:
        while True:
            r = rnd.random()
            if r < 0.1 or not files:
                name = "f%d" % n
                n += 1
                os.close(os.open(os.path.join(d, name), os.O_CREAT | os.O_WRONLY, 0o644))
                files[name] = bytearray()
            elif r < 0.15 and len(files) > 2:
                name = rnd.choice(sorted(files))
                os.unlink(os.path.join(d, name))
                del files[name]
                os.fsync(dfd)
                print("U %s" % name, flush=True)
            elif r < 0.85:
                name = rnd.choice(sorted(files))
                data = files[name]
                direct = len(data) % 4096 == 0 and rnd.random() < 0.4
                size = 4096 * rnd.randint(1, 8) if direct else rnd.randint(1, 20000)
                chunk = rnd.randbytes(size)
                fd = os.open(os.path.join(d, name), os.O_WRONLY | (os.O_DIRECT if direct else 0))
                try:
                    if direct:
                        buf[:size] = chunk
                        w = os.pwrite(fd, memoryview(buf)[:size], len(data))
                    else:
                        w = os.pwrite(fd, chunk, len(data))
                finally:
                    os.close(fd)
                data += chunk[:w]
            else:
                name = rnd.choice(sorted(files))
                fd = os.open(os.path.join(d, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.fsync(dfd)
                data = files[name]
                print("D %s %d %s" % (name, len(data), hashlib.sha256(data).hexdigest()),
                      flush=True)
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
