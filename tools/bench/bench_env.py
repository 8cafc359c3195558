"""bench_env.py: the machinery shared by tools/bench/bench-meta and tools/bench/bench-dio
(layer: benchmark harness; calls mkfs.eiocbfs, the eiocbfs daemon, losetup,
mkfs.ext4, mount, bindfs, fusermount3 and nothing of the filesystem's code).

It sets up the targets a benchmark compares, side by side in one run:
  - eiocbfs: an image made by mkfs.eiocbfs, mounted by the build's
    `eiocbfs -f` running as a child (its pid is known: CPU and RSS are read
    from /proc/PID),
  - ext4 on a loop device (backed by a file in the same work directory, with
    the loop's direct I/O on so the host's page cache is not a second cache),
  - bindfs (multithreaded) over that ext4: a FUSE peer from the distribution,
  - fuse-ref (tools/bench/fuse-ref.c, from the build): a FUSE reference daemon that
    does no I/O (--mode null) or one pread/pwrite per request (--mode sync),
and undoes every one of them on every exit path: each setup step pushes its
undo onto a stack that runs in reverse at normal exit, on an exception, at
interpreter exit (atexit) and on SIGINT/SIGTERM/SIGHUP (turned into an
exception so the same stack runs).
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MOUNT_TIMEOUT = 20.0
UNMOUNT_TIMEOUT = 60.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(prog, msg, code=1):
    """A refusal: one line, non-zero exit (the undo stack still runs)."""
    print("%s: %s" % (prog, msg), file=sys.stderr, flush=True)
    sys.exit(code)


def require_root(prog):
    """Refuse clearly when not root: mounting and losetup need it."""
    if os.geteuid() != 0:
        die(prog, "must run as root (it mounts eiocbfs, ext4 on a loop device and bindfs)")
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as e:
        die(prog, "/dev/fuse is not usable: %s" % e.strerror)


def which(prog):
    return shutil.which(prog, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def require_programs(prog, names):
    for n in names:
        if not which(n):
            die(prog, "%s is missing (tools/install-deps.sh installs it)" % n)


def find_build(prog, build):
    """The build directory holding fs/eiocbfs and tools/mkfs.eiocbfs."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cands = [build] if build else [os.environ.get("EIOCBFS_BUILD", ""), os.path.join(top, "build")]
    for b in cands:
        if b and os.access(os.path.join(b, "fs", "eiocbfs"), os.X_OK) and \
           os.access(os.path.join(b, "tools", "mkfs.eiocbfs"), os.X_OK):
            return os.path.abspath(b)
    die(prog, "no build with fs/eiocbfs and tools/mkfs.eiocbfs in %s; build first "
        "(tools/build.sh) or pass --build DIR" % (" or ".join(c for c in cands if c) or "build/"))


def run(cmd, check=True, timeout=None, quiet=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stdout.strip()[-2000:]))
    if not quiet and r.stdout.strip():
        log(r.stdout.strip())
    return r


def mountinfo():
    """(mount point, fstype) of every mount in this namespace."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            out.append((left.split()[4].encode().decode("unicode_escape"), right.split()[0]))
    return out


def is_mounted(path):
    path = os.path.realpath(path)
    return any(m == path for m, _ in mountinfo())


def _on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


class Env:
    """A work directory and the undo stack of everything set up in it.

    Use as a context manager; close() (also from atexit) undoes everything
    in reverse order and removes the work directory unless keep is set.
    """

    def __init__(self, prog, parent, keep=False):
        self.prog = prog
        os.makedirs(parent, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="eiocbfs-bench-", dir=parent)
        self.keep = keep
        self._undo = []  # (description, function), run last-in first-out
        atexit.register(self.close)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _on_signal)

    def path(self, name):
        return os.path.join(self.dir, name)

    def push(self, what, fn):
        self._undo.append((what, fn))

    def pop(self, fn):
        """Runs one undo step now (e.g. an unmount before a remount)."""
        for i in range(len(self._undo) - 1, -1, -1):
            if self._undo[i][1] == fn:
                del self._undo[i]
                fn()
                return

    def close(self):
        # Signals during cleanup must not cut it short.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        while self._undo:
            what, fn = self._undo.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - keep undoing the rest
                log("%s: cleanup of %s: %s" % (self.prog, what, e))
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _wait_mounted(mnt, proc, what):
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not is_mounted(mnt):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited %d before mounting %s" % (what, proc.returncode, mnt))
        if time.monotonic() > deadline:
            raise RuntimeError("%s did not mount %s within %ds" % (what, mnt, MOUNT_TIMEOUT))
        time.sleep(0.02)


def _fuse_unmount(mnt, proc):
    """fusermount3 -u, then wait for the daemon; lazy unmount and kill as a last resort."""
    if is_mounted(mnt):
        if run(["fusermount3", "-u", mnt], check=False).returncode != 0:
            time.sleep(0.5)
            if run(["fusermount3", "-u", mnt], check=False).returncode != 0:
                run(["fusermount3", "-u", "-z", mnt], check=False)
    if proc is not None:
        try:
            proc.wait(UNMOUNT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if is_mounted(mnt):
        run(["umount", "-l", mnt], check=False)


class FuseMount:
    """A FUSE daemon run in the foreground as our child, and its mount."""

    def __init__(self, env, name, argv, mnt, logname):
        self.env, self.name, self.mnt = env, name, mnt
        os.makedirs(mnt, exist_ok=True)
        self.logpath = env.path(logname)
        with open(self.logpath, "ab") as lf:
            self.proc = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        env.push("%s mount %s" % (name, mnt), self.unmount)
        try:
            _wait_mounted(mnt, self.proc, name)
        except RuntimeError as e:
            raise RuntimeError("%s; log: %s" % (e, self.log_tail()))

    @property
    def pid(self):
        return self.proc.pid

    def log_tail(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read().strip()[-1000:]
        except OSError:
            return ""

    def unmount(self):
        _fuse_unmount(self.mnt, self.proc)
        self.proc = None if self.proc is None or self.proc.poll() is not None else self.proc

    def close(self):
        self.env.pop(self.unmount)


def fuse_ref_path(build):
    """The build's fuse-ref (tools/bench/fuse-ref.c), or None when it was not built."""
    p = os.path.join(build, "tools", "fuse-ref")
    return p if os.access(p, os.X_OK) else None


def mount_fuse_ref(env, build, mnt, mode, size, backing=None, name=None):
    """fuse-ref --mode null|sync on mnt: one file, bench.dat, of size bytes."""
    argv = [os.path.join(build, "tools", "fuse-ref"), "--mode", mode, "--size", str(size)]
    if backing:
        argv += ["--backing", backing]
    name = name or "fuse-ref-" + mode
    return FuseMount(env, name, argv + [mnt], mnt, name + ".log")


def mkfs_eiocbfs(build, image, size, inodes=None):
    cmd = [os.path.join(build, "tools", "mkfs.eiocbfs"), "-f", "-s", str(size)]
    if inodes:
        cmd += ["-N", str(inodes)]
    run(cmd + [image])


def mount_eiocbfs(env, build, image, mnt, opts=()):
    argv = [os.path.join(build, "fs", "eiocbfs"), "-f"]
    if opts:
        argv += ["-o", ",".join(opts)]
    return FuseMount(env, "eiocbfs", argv + [image, mnt], mnt, "eiocbfs.log")


def mount_bindfs(env, src, mnt, forward_odirect=True):
    """bindfs over src, multithreaded; O_DIRECT forwarded (4 KiB aligned) for dio."""
    argv = ["bindfs", "-f", "--multithreaded", "--no-allow-other"]
    if forward_odirect:
        argv.append("--forward-odirect=4096")
    return FuseMount(env, "bindfs", argv + [src, mnt], mnt, "bindfs.log")


class Ext4Loop:
    """ext4 made on a loop device over an image file in the work directory."""

    def __init__(self, env, image, size, mnt, inodes=None):
        self.env, self.image, self.mnt = env, image, mnt
        with open(image, "wb") as f:
            f.truncate(size)
        self.dev = run(["losetup", "-f", "--show", "--direct-io=on", image]).stdout.strip()
        env.push("loop device %s" % self.dev, self._detach)
        cmd = ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"]
        if inodes:
            cmd += ["-N", str(inodes)]
        run(cmd + [self.dev])
        os.makedirs(mnt, exist_ok=True)
        self.mount()

    def mount(self):
        run(["mount", "-t", "ext4", self.dev, self.mnt])
        self.env.push("ext4 mount %s" % self.mnt, self.umount)

    def umount(self):
        if is_mounted(self.mnt):
            if run(["umount", self.mnt], check=False).returncode != 0:
                time.sleep(0.5)
                if run(["umount", self.mnt], check=False).returncode != 0:
                    run(["umount", "-l", self.mnt], check=False)

    def unmount_now(self):
        self.env.pop(self.umount)

    def _detach(self):
        run(["losetup", "-d", self.dev], check=False)


def proc_cpu_split_us(pid):
    """(utime, stime) of a process in microseconds (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = 1e6 / os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * tick, int(fields[12]) * tick  # utime, stime (fields 14, 15)


def machine_busy_us():
    """CPU time the whole machine spent busy (all CPUs, user + system + irq,
    not idle, iowait or steal), in microseconds: with a process's own time
    it shows where the rest goes (kernel threads, interrupts)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    return sum(v[i] for i in (0, 1, 2, 5, 6)) * 1e6 / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid):
    """(VmRSS, VmHWM) in KiB."""
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def fs_type_of(path):
    """The fstype of the mount holding path (for the report)."""
    best, typ = "", "?"
    path = os.path.realpath(path)
    for m, t in mountinfo():
        if (path == m or path.startswith(m.rstrip("/") + "/")) and len(m) >= len(best):
            best, typ = m, t
    return typ


def fmt_table(headers, rows):
    """A plain text table, columns right-aligned except the first."""
    cols = [headers] + rows
    w = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    out = []
    for k, r in enumerate(cols):
        out.append("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r)))
        if k == 0:
            out.append("  ".join("-" * x for x in w))
    return "\n".join(out)
