#!/usr/bin/env python3
"""cleanup.py WORKDIR: the CTest fixture around the mount tests (run before
them and after them, whatever happened, also after a CTest timeout killed a
test): stop daemons the tests started (their pid files), unmount everything
mounted under WORKDIR (deepest first, lazily if it is dead), detach loop
devices backed by files under WORKDIR, and delete the images (logs are
kept for a post-mortem).
"""

import os
import shutil
import signal
import subprocess
import sys
import time


def under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def mounts_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split(" - ", 1)[0].split()[4].encode().decode("unicode_escape")
            if under(mnt, root):
                out.append(mnt)
    return sorted(set(out), key=len, reverse=True)


def main():
    if len(sys.argv) != 2:
        print("usage: cleanup.py WORKDIR", file=sys.stderr)
        return 2
    root = os.path.realpath(sys.argv[1])
    if not os.path.isdir(root):
        return 0
    # Daemons first: a hung daemon could make its mount hang too.
    for name in os.listdir(root):  # daemons started by the harness: pid-NNN files
        if not name.startswith("pid-"):
            continue
        pid = int(name[4:])
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                ours = b"eiocbfs" in f.read()
            if ours:
                print("cleanup: stopping daemon %d" % pid)
                os.kill(pid, signal.SIGTERM)  # a live daemon unmounts itself
                for _ in range(20):
                    time.sleep(0.1)
                    os.kill(pid, 0)
                os.kill(pid, signal.SIGKILL)  # a hung one is killed
        except (OSError, ValueError):
            pass
        os.unlink(os.path.join(root, name))
    for mnt in mounts_under(root):
        print("cleanup: unmounting %s" % mnt)
        for cmd in (["fusermount3", "-u", mnt], ["fusermount3", "-u", "-z", mnt], ["umount", "-l", mnt]):
            if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
    r = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    for line in r.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and under(parts[1].strip().replace(" (deleted)", ""), root):
            print("cleanup: detaching %s" % parts[0])
            subprocess.run(["losetup", "-d", parts[0]])
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            if not n.endswith(".log"):
                try:
                    os.unlink(os.path.join(dirpath, n))
                except OSError:
                    pass
    if mounts_under(root):
        print("cleanup: still mounted under %s" % root, file=sys.stderr)
        return 1
    for d in os.listdir(root):  # test dirs with no log left to read
        path = os.path.join(root, d)
        if os.path.isdir(path) and not any(f.endswith(".log") for _, _, fs in os.walk(path) for f in fs):
            shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
