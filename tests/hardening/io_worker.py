#!/usr/bin/env python3
"""io_worker.py FILE MODE N: writes 4 KiB records 0..N-1 into FILE (created
empty by the caller), one open/pwrite/close per record, with O_DIRECT when
MODE is "direct" (buffered otherwise), and prints each record number once
its pwrite returned success (stdout, flushed): the records the filesystem
accepted. Stops at the first error (a shutdown) and prints "ERR <errno>".
Record i is rec(i): 8-byte index then a repeating byte pattern.
"""
import mmap
import os
import sys

BLK = 4096


def rec(i):
    head = i.to_bytes(8, "little")
    return head + bytes(((i * 7 + k) & 0xFF) for k in range(BLK - 8))


def main():
    path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    flags = os.O_WRONLY | (os.O_DIRECT if mode == "direct" else 0)
    buf = mmap.mmap(-1, BLK)  # page-aligned, as O_DIRECT needs
    for i in range(n):
        buf[:] = rec(i)
        try:
            fd = os.open(path, flags)
            try:
                if os.pwrite(fd, buf, i * BLK) != BLK:
                    print("ERR short", flush=True)
                    return
            finally:
                os.close(fd)
        except OSError as e:
            print("ERR %d" % e.errno, flush=True)
            return
        print(i, flush=True)


if __name__ == "__main__":
    main()
