"""harness.py: mount-level test harness for eiocbfs (tests/mount).

Makes images with mkfs.eiocbfs, mounts them with the daemon in the
foreground as a child process, waits for the mount, and unmounts on EVERY
exit path: the Mount context manager (try/finally), an atexit hook and
SIGTERM/SIGINT/SIGHUP handlers for whatever is still mounted, and the CTest
cleanup fixture (cleanup.py) for anything under the test's work directory.
After each unmount it runs `fsck.eiocbfs -n` on the image (skipped, with a
printed note, while that tool is not built: never a faked pass).

Where this machine cannot mount (no /dev/fuse, not root, binaries not
built), a test program exits with SKIP_CODE (77) after printing the reason.

Paths come from the environment, set by tests/mount/CMakeLists.txt:
EIOCBFS (daemon), MKFS_EIOCBFS, FSCK_EIOCBFS, EIOCBFS_WORK (scratch dir).
"""

import atexit
import errno
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

SKIP_CODE = 77
MOUNT_TIMEOUT = 15.0
UNMOUNT_TIMEOUT = 30.0

EIOCBFS = os.environ.get("EIOCBFS", "")
MKFS = os.environ.get("MKFS_EIOCBFS", "")
FSCK = os.environ.get("FSCK_EIOCBFS", "")
WORK = os.environ.get("EIOCBFS_WORK") or os.path.join(tempfile.gettempdir(), "eiocbfs-mount-tests")
LONG = os.environ.get("LONG", "") not in ("", "0")

os.umask(0o022)  # modes in the tests are what they say
_live_mounts = []  # Mount objects not yet unmounted
_live_loops = []  # loop devices not yet detached


def log(msg):
    print(msg, flush=True)


def skip_program(reason):
    log("SKIP: " + reason)
    sys.exit(SKIP_CODE)


def mount_blocker():
    """Why this machine cannot run mount tests, or None."""
    if not EIOCBFS or not os.access(EIOCBFS, os.X_OK):
        return "the eiocbfs daemon is not built (needs the eiocbfs_fs library)"
    if not MKFS or not os.access(MKFS, os.X_OK):
        return "mkfs.eiocbfs is not built"
    if os.geteuid() != 0:
        return "mount tests need root (they mount, use allow_other and losetup)"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        return "/dev/fuse is not usable: %s" % e.strerror
    if not _which("fusermount3"):
        return "fusermount3 is missing (package fuse3)"
    return None


def _which(prog):
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin", "/usr/bin"]:
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK):
            return p
    return None


def mountinfo():
    """(mount point, fstype, source) for every mount, from this process's view."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            mnt = left.split()[4].encode().decode("unicode_escape")
            fstype, source = right.split()[:2]
            out.append((mnt, fstype, source.encode().decode("unicode_escape")))
    return out


def is_mounted(path, fstype="fuse.eiocbfs"):
    path = os.path.realpath(path)
    return any(m == path and (fstype is None or t == fstype) for m, t, _ in mountinfo())


def lazy_unmount(path):
    """Last resort for a dead or stuck mount: detach it now."""
    for cmd in (["fusermount3", "-u", "-z", path], ["umount", "-l", path]):
        if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            return True
    return not is_mounted(path, None)


def new_dir(prefix):
    """A fresh directory under WORK, traversable by other users (the
    permission tests run as uid 65534 below it)."""
    os.makedirs(WORK, exist_ok=True)
    os.chmod(WORK, 0o755)
    d = tempfile.mkdtemp(prefix=prefix, dir=WORK)
    os.chmod(d, 0o755)
    return d


def mkfs(target, size=None, args=(), check=True):
    """Runs mkfs.eiocbfs; size (e.g. "64M") creates an image file."""
    cmd = [MKFS, "-f"] + list(args)
    if size:
        cmd += ["-s", str(size)]
    cmd.append(target)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise AssertionError("mkfs.eiocbfs failed (%d): %s" % (r.returncode, r.stderr.strip()))
    return r


def listdir(path):
    """os.listdir without the lost+found that mkfs.eiocbfs makes in the root."""
    return [n for n in os.listdir(path) if n != "lost+found"]


def fsck(target, testcase=None):
    """fsck.eiocbfs -n must say clean (exit 0). Returns False if not built yet."""
    if not FSCK or not os.access(FSCK, os.X_OK):
        log("NOTE: fsck.eiocbfs is not built; fsck step skipped for %s" % target)
        return False
    r = subprocess.run([FSCK, "-n", target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise AssertionError("fsck.eiocbfs -n %s: exit %d\n%s" % (target, r.returncode, r.stdout))
    return True


class Mount:
    """One running daemon (eiocbfs -f TARGET MNT) and its mount.

    Use as a context manager, or call start() and unmount(); either way the
    mount is also undone at exit and on SIGTERM/SIGINT.
    """

    def __init__(self, target, mnt=None, opts=(), fsck_after=True, env=None):
        self.target = target
        self.mnt = mnt or new_dir("mnt-")
        self.opts = list(opts)
        self.fsck_after = fsck_after
        self.env = env
        self.proc = None
        self.logpath = self.mnt.rstrip("/") + ".log"

    def argv(self):
        cmd = [EIOCBFS, "-f"]
        if self.opts:
            cmd += ["-o", ",".join(self.opts)]
        return cmd + [self.target, self.mnt]

    def start(self):
        os.makedirs(self.mnt, exist_ok=True)
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        _live_mounts.append(self)
        with open(os.path.join(WORK, "pid-%d" % self.proc.pid), "w") as f:
            f.write(self.mnt)
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None:
                self._forget()
                raise AssertionError("eiocbfs exited %d before mounting: %s" % (self.proc.returncode, self.output()))
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("eiocbfs did not mount %s within %ds" % (self.mnt, MOUNT_TIMEOUT))
            time.sleep(0.02)
        return self

    def output(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read().strip()
        except OSError:
            return ""

    def _forget(self):
        if self in _live_mounts:
            _live_mounts.remove(self)
        try:
            os.unlink(os.path.join(WORK, "pid-%d" % self.proc.pid))
        except OSError:
            pass
        self._log.close()

    def unmount(self, check_exit=True):
        """Clean unmount: fusermount3 -u, the daemon exits 0, then fsck -n."""
        if self.proc is None or self not in _live_mounts:
            return
        r = subprocess.run(["fusermount3", "-u", self.mnt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        timeout = UNMOUNT_TIMEOUT
        if r.returncode != 0:
            # Busy (a failed test left a file open): wait a little, then
            # detach; the daemon only exits once that file is closed.
            time.sleep(0.5)
            if subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL).returncode != 0:
                lazy_unmount(self.mnt)
                timeout = 5
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("eiocbfs did not exit within %ds of unmount" % UNMOUNT_TIMEOUT)
        self._forget()
        if check_exit and rc != 0:
            raise AssertionError("eiocbfs exited %d after unmount: %s" % (rc, self.output()))
        if self.fsck_after:
            fsck(self.target)

    def kill(self, sig=signal.SIGKILL, detach=True):
        """Kill the daemon (a crash) and detach the dead mount. detach=False
        leaves the dead mount in place (every access fails with ENOTCONN)
        so that a workload still running cannot fall through to the
        directory underneath; call kill() again to detach."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(UNMOUNT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not detach:
            return
        if is_mounted(self.mnt, None):
            lazy_unmount(self.mnt)
        if self in _live_mounts:
            self._forget()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.unmount()
        else:  # the test already failed: undo the mount, report the first error
            try:
                self.unmount(check_exit=False)
            except Exception as e:  # noqa: BLE001 - keep the test's own error
                log("cleanup after failure: %s" % e)
                self.kill()
        return False


def losetup(image):
    """Attaches image to a free loop device; returns its path or None."""
    r = subprocess.run(["losetup", "-f", "--show", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return None
    dev = r.stdout.strip()
    _live_loops.append(dev)
    return dev


def losetup_detach(dev):
    if dev in _live_loops:
        _live_loops.remove(dev)
    subprocess.run(["losetup", "-d", dev], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cleanup_all():
    """Unmounts and detaches everything this process still holds."""
    for m in list(_live_mounts):
        try:
            m.kill(signal.SIGTERM)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    for dev in list(_live_loops):
        losetup_detach(dev)


class Interrupted(KeyboardInterrupt):
    """A signal ends the whole run (unittest lets KeyboardInterrupt through)."""

    def __init__(self, signum):
        super().__init__("signal %d" % signum)
        self.signum = signum


def _on_signal(signum, frame):
    cleanup_all()
    raise Interrupted(signum)


atexit.register(cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


class MountTestCase(unittest.TestCase):
    """Each test gets a fresh image, mounted at self.mnt; at its end the
    mount is undone and the image must pass fsck -n."""

    image_size = "256M"
    mkfs_args = ()
    mount_opts = ()
    use_loop = os.environ.get("EIOCBFS_LOOP", "") not in ("", "0")

    def setUp(self):
        self.dir = new_dir("t-")
        self.image = os.path.join(self.dir, "image")
        self.loop = None
        if self.use_loop:
            with open(self.image, "wb") as f:
                f.truncate(parse_size(self.image_size))
            self.loop = losetup(self.image)
            if not self.loop:
                self.skipTest("losetup cannot attach a loop device here")
            self.addCleanup(losetup_detach, self.loop)
            self.target = self.loop
            mkfs(self.target, args=self.mkfs_args)
        else:
            self.target = self.image
            mkfs(self.target, size=self.image_size, args=self.mkfs_args)
        self.m = Mount(self.target, os.path.join(self.dir, "mnt"), opts=self.mount_opts).start()
        self.mnt = self.m.mnt

    def tearDown(self):
        if self.m in _live_mounts:
            self.m.unmount()

    def p(self, *names):
        return os.path.join(self.mnt, *names)

    def assertErrno(self, err, fn, *args, **kw):
        with self.assertRaises(OSError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.errno, err, "%s: expected %s, got %s" % (
            getattr(fn, "__name__", fn), errno.errorcode[err], errno.errorcode.get(cm.exception.errno)))

    def remount(self, opts=None):
        self.m.unmount()
        self.m = Mount(self.target, self.mnt, opts=self.mount_opts if opts is None else opts).start()


def parse_size(s):
    s = str(s)
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mult > 1 else s) * mult


def run_tests(module_globals):
    """unittest main that maps "nothing ran" to SKIP_CODE for CTest."""
    why = mount_blocker()
    if why:
        skip_program(why)
    os.makedirs(WORK, exist_ok=True)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_globals["__name__"]])
    pattern = os.environ.get("TESTS")
    if pattern:
        suite = unittest.TestSuite(t for t in _flatten(suite) if pattern in t.id())
    try:
        res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    except KeyboardInterrupt as e:
        cleanup_all()
        log("interrupted (%s): everything unmounted" % e)
        sys.exit(128 + getattr(e, "signum", signal.SIGINT))
    cleanup_all()
    if not res.wasSuccessful():
        sys.exit(1)
    if res.testsRun and len(res.skipped) == res.testsRun:
        skip_program("every test skipped: " + "; ".join(sorted({r for _, r in res.skipped})))
    sys.exit(0)


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def file_mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)
