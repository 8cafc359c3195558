#!/usr/bin/env python3
"""test_acl.py: POSIX ACLs (system.posix_acl_access, _default), on eiocbfs
and (the same tests) on ext4.

- an access ACL is kept, sets the mode's permission bits (the group bits
  are the mask's), and the kernel enforces it: uid 65534, named in it,
  reads a file mode bits alone would keep from it, and cannot write it;
  it lasts across a remount;
- an ACL that says no more than the mode only sets the mode (not kept);
- chmod changes the ACL's owner, mask and other entries;
- a directory's default ACL is inherited at create: a new file gets an
  access ACL masked by the mode asked (the umask does not apply), a new
  directory the default ACL too; without one the umask applies.
"""

import errno
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import linuxfs  # noqa: E402

NOBODY = 65534
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED = 0xFFFFFFFF
ACCESS, DEFAULT = "system.posix_acl_access", "system.posix_acl_default"


def acl(*entries):
    """The xattr form: version 2, then (tag, perm, id) entries."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in entries)


def parse(value):
    n = (len(value) - 4) // 8
    return [(t, p, i if t in (USER, GROUP) else UNDEFINED)
            for t, p, i in (struct.unpack_from("<HHI", value, 4 + 8 * k) for k in range(n))]


def as_nobody(code):
    """Runs a snippet as uid/gid 65534: prints "ok" or the errno's name."""
    prog = ("import os, errno\ntry:\n" + "".join("    " + line + "\n" for line in code.splitlines())
            + "    print('ok')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n")
    r = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                        sys.executable, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, cwd="/")
    if r.returncode != 0:
        raise AssertionError("as_nobody failed: " + r.stderr)
    return r.stdout.strip()


def mode(path):
    return os.stat(path).st_mode & 0o7777


class Acl:

    NAMED = [(USER_OBJ, 6, UNDEFINED), (USER, 4, NOBODY), (GROUP_OBJ, 0, UNDEFINED),
             (MASK, 4, UNDEFINED), (OTHER, 0, UNDEFINED)]

    def test_access_acl(self):
        os.chmod(self.mnt, 0o755)
        with open(self.p("f"), "w") as f:
            f.write("secret")
        os.chmod(self.p("f"), 0o600)
        read = "open(%r).read()" % self.p("f")
        self.assertEqual(as_nobody(read), "EACCES")
        os.setxattr(self.p("f"), ACCESS, acl(*self.NAMED))
        self.assertEqual(mode(self.p("f")), 0o640)
        self.assertEqual(parse(os.getxattr(self.p("f"), ACCESS)), self.NAMED)
        self.assertEqual(as_nobody(read), "ok")
        self.assertEqual(as_nobody("open(%r, 'a')" % self.p("f")), "EACCES")
        self.remount()
        self.assertEqual(parse(os.getxattr(self.p("f"), ACCESS)), self.NAMED)
        self.assertEqual(as_nobody(read), "ok")
        # chmod: owner, mask and other follow the mode
        os.chmod(self.p("f"), 0o604)
        self.assertEqual(parse(os.getxattr(self.p("f"), ACCESS)),
                         [(USER_OBJ, 6, UNDEFINED), (USER, 4, NOBODY), (GROUP_OBJ, 0, UNDEFINED),
                          (MASK, 0, UNDEFINED), (OTHER, 4, UNDEFINED)])
        self.assertEqual(as_nobody("open(%r, 'a')" % self.p("f")), "EACCES")
        os.removexattr(self.p("f"), ACCESS)
        self.assertErrno(errno.ENODATA, os.getxattr, self.p("f"), ACCESS)

    def test_equivalent_acl_sets_mode_only(self):
        with open(self.p("f"), "w") as f:
            f.write("x")
        os.setxattr(self.p("f"), ACCESS, acl((USER_OBJ, 7, UNDEFINED), (GROUP_OBJ, 5, UNDEFINED),
                                             (OTHER, 1, UNDEFINED)))
        self.assertEqual(mode(self.p("f")), 0o751)
        self.assertErrno(errno.ENODATA, os.getxattr, self.p("f"), ACCESS)
        self.assertErrno(errno.EINVAL, os.setxattr, self.p("f"), ACCESS, acl((USER, 7, 5)))

    def test_default_acl_inherited(self):
        os.mkdir(self.p("d"))
        default = [(USER_OBJ, 7, UNDEFINED), (USER, 7, NOBODY), (GROUP_OBJ, 5, UNDEFINED),
                   (MASK, 7, UNDEFINED), (OTHER, 0, UNDEFINED)]
        os.setxattr(self.p("d"), DEFAULT, acl(*default))
        fd = os.open(self.p("d", "f"), os.O_CREAT | os.O_WRONLY, 0o666)
        os.close(fd)
        # umask 022 not applied: owner rw, mask rw (rwx & rw-), other none
        self.assertEqual(mode(self.p("d", "f")), 0o660)
        self.assertEqual(parse(os.getxattr(self.p("d", "f"), ACCESS)),
                         [(USER_OBJ, 6, UNDEFINED), (USER, 7, NOBODY), (GROUP_OBJ, 5, UNDEFINED),
                          (MASK, 6, UNDEFINED), (OTHER, 0, UNDEFINED)])
        self.assertErrno(errno.ENODATA, os.getxattr, self.p("d", "f"), DEFAULT)
        os.mkdir(self.p("d", "sub"), 0o777)
        self.assertEqual(mode(self.p("d", "sub")), 0o770)
        self.assertEqual(parse(os.getxattr(self.p("d", "sub"), DEFAULT)), default)
        self.assertEqual(parse(os.getxattr(self.p("d", "sub"), ACCESS))[1], (USER, 7, NOBODY))
        # elsewhere the umask applies
        fd = os.open(self.p("plain"), os.O_CREAT | os.O_WRONLY, 0o666)
        os.close(fd)
        self.assertEqual(mode(self.p("plain")), 0o644)
        os.mkdir(self.p("plaind"), 0o777)
        self.assertEqual(mode(self.p("plaind")), 0o755)
        self.assertErrno(errno.ENODATA, os.getxattr, self.p("plain"), ACCESS)
        self.remount()
        self.assertEqual(parse(os.getxattr(self.p("d", "sub"), DEFAULT)), default)


linuxfs.twins(Acl, globals(), eiocbfs_attrs={"mount_opts": ("allow_other",)})

if __name__ == "__main__":
    harness.run_tests(globals())
