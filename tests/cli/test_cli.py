#!/usr/bin/env python3
"""test_cli.py: one command-line convention across the installed commands.

CLI_PART selects a part (each a CTest test):
- conventions: --help and -V/--version exit 0 on stdout; usage errors exit
  1 for mkfs (mke2fs), 16 for fsck (e2fsck), 2 for the others; libfuse's
  -o refusals and ours alike (one line, exit 2); a refusal is one line
  naming the target once.
- manpages: each command's man page renders (man -l, no warning) and
  mentions every option and key its --help lists.
- mount: eiocbctl MNT fault POINT shows the point and changes nothing;
  fault POINT on / POINT:KEY=VAL turn it on; eiocbctl help lists every key;
  eiocb-load --eiocbctl NAME finds eiocbctl in PATH.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mount"))
import harness  # noqa: E402

E = {k: os.environ.get(k, "") for k in ("EIOCBFS", "MKFS_EIOCBFS", "FSCK_EIOCBFS", "EIOCBCTL", "UMOUNT_EIOCBFS",
                                        "EIOCB_LOAD", "EIOCB_STRESS")}
MAN_DIR = os.environ.get("MAN_DIR", "")
PART = os.environ.get("CLI_PART", "")

# command -> (env key, man page, usage exit code, a bad-usage argv)
TOOLS = {
    "eiocbfs": ("EIOCBFS", "eiocbfs.8", 2, ["--bogus"]),
    "mkfs.eiocbfs": ("MKFS_EIOCBFS", "mkfs.eiocbfs.8", 1, ["-Q", "x"]),
    "fsck.eiocbfs": ("FSCK_EIOCBFS", "fsck.eiocbfs.8", 16, ["-Q", "x"]),
    "eiocbctl": ("EIOCBCTL", "eiocbctl.1", 2, ["/", "nosuchcommand"]),
    "umount.fuse.eiocbfs": ("UMOUNT_EIOCBFS", "umount.fuse.eiocbfs.8", 2, []),
    "eiocb-load": ("EIOCB_LOAD", "eiocb-load.1", 2, ["--bogus", "x"]),
    "eiocb-stress": ("EIOCB_STRESS", "eiocb-stress.1", 2, ["--bogus", "x"]),
}
FAULT_KEYS = ["errno", "probability", "interval", "times", "ino", "offset", "verbose", "meta", "ms"]


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, **kw)


def help_options(text):
    """Every option and key a --help text names: -x, --long, -o NAME, KEY=."""
    opts = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text))
    opts |= set(re.findall(r"-o (\w+)", text))
    opts |= set(re.findall(r"(?<![\w-])(\w+)=", text))
    return {o for o in opts if o not in ("-o",)}


class Conventions(unittest.TestCase):
    def test_help_and_version(self):
        for name, (key, _, _, _) in TOOLS.items():
            for flag in ("--help", "-h", "-V", "--version"):
                with self.subTest(tool=name, flag=flag):
                    r = run([E[key], flag])
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertTrue(r.stdout.strip(), "nothing on stdout")
                    self.assertEqual(r.stderr, "")
                    if flag in ("-V", "--version"):
                        self.assertIn(name, r.stdout.split("\n")[0])
                    else:
                        self.assertIn("usage", r.stdout)
        r = run([E["EIOCBCTL"], "help"])
        self.assertEqual(r.returncode, 0)

    def test_usage_exit_codes(self):
        for name, (key, _, code, bad) in TOOLS.items():
            for argv in (bad, []):
                with self.subTest(tool=name, argv=argv):
                    r = run([E[key]] + argv)
                    self.assertEqual(r.returncode, code, r.stdout + r.stderr)
                    self.assertTrue(r.stderr.strip(), "no reason given")
        r = run([E["FSCK_EIOCBFS"], "-n", "-y", "/nonexistent"])
        self.assertEqual(r.returncode, 16)

    def test_option_refusals_alike(self):
        d = tempfile.mkdtemp(prefix="cli-")
        try:
            img = os.path.join(d, "img")
            subprocess.run([E["MKFS_EIOCBFS"], "-s", "16M", img], stdout=subprocess.DEVNULL, check=True)
            for opt in ("nosuchopt", "semantics=bogus", "cache_mb=0"):
                with self.subTest(opt=opt):
                    r = run([E["EIOCBFS"], "-f", "-o", opt, img, d])
                    lines = r.stderr.strip().splitlines()
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertEqual(len(lines), 1, r.stderr)
                    self.assertTrue(lines[0].startswith("eiocbfs: "), lines[0])
                    self.assertIn(opt.split("=")[-1], lines[0])
        finally:
            shutil.rmtree(d)

    def test_refusal_names_the_target_once(self):
        d = tempfile.mkdtemp(prefix="cli-")
        try:
            foreign = os.path.join(d, "foreign")
            with open(foreign, "wb") as f:
                f.write(b"\0" * (1 << 20))
            missing = os.path.join(d, "missing")
            for argv, target in (([E["FSCK_EIOCBFS"], "-n", foreign], foreign),
                                 ([E["EIOCBFS"], "-f", foreign, d], foreign),
                                 ([E["EIOCBFS"], "-f", missing, d], missing),
                                 ([E["MKFS_EIOCBFS"], "-b", "4096", missing], missing)):
                with self.subTest(argv=argv):
                    r = run(argv)
                    lines = r.stderr.strip().splitlines()
                    self.assertNotEqual(r.returncode, 0)
                    self.assertEqual(len(lines), 1, r.stderr)
                    self.assertEqual(lines[0].count(target), 1, lines[0])
        finally:
            shutil.rmtree(d)


class ManPages(unittest.TestCase):
    def render(self, page):
        env = dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="0")
        r = run(["man", "--warnings", "-l", os.path.join(MAN_DIR, page)], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", "%s: groff warnings: %s" % (page, r.stderr))
        return re.sub(r".\x08", "", r.stdout)

    def test_pages_render_and_mention_every_option(self):
        if not shutil.which("man"):
            self.skipTest("man is missing (package man-db)")
        for name, (key, page, _, _) in TOOLS.items():
            with self.subTest(tool=name):
                text = self.render(page)
                for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"):
                    self.assertIn(section, text)
                helptext = run([E[key], "--help"]).stdout
                missing = sorted(o for o in help_options(helptext) if o not in text)
                self.assertEqual(missing, [], "%s mentions %s, its man page does not" % (name, missing))

    def test_eiocbctl_page_documents_every_key_and_stat(self):
        if not shutil.which("man"):
            self.skipTest("man is missing (package man-db)")
        text = self.render("eiocbctl.1")
        for k in FAULT_KEYS:
            self.assertIn(k + "=", text)
        for stat in ("submitted", "completed", "events", "propagated_errors", "double_completions", "cancelled",
                     "inflight", "dropped_errors", "reaped", "bugs", "pages", "dirty", "hits", "misses",
                     "invalidations", "invalidate_failures", "invalidated_pages", "evictions", "writebacks",
                     "writeback_errors", "readahead", "max_pages", "dirty_limit", "bytes", "direct_requests",
                     "direct_replies", "direct_cancelled", "double_replies", "wb_err_set", "wb_err_reported",
                     "stale_pagecache"):
            self.assertIn(stat, text)


class Mounted(unittest.TestCase):
    def test_fault_point_alone_changes_nothing(self):
        d = harness.new_dir("cli-")
        img = os.path.join(d, "img")
        harness.mkfs(img, size="32M")
        ctl = E["EIOCBCTL"]
        with harness.Mount(img) as m:
            before = run([ctl, m.mnt, "fault"]).stdout
            r = run([ctl, m.mnt, "fault", "invalidate"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("invalidate "), r.stdout)
            self.assertIn(" off ", r.stdout)
            self.assertEqual(len(r.stdout.strip().splitlines()), 1)
            self.assertEqual(run([ctl, m.mnt, "fault"]).stdout, before, "fault POINT changed something")
            r = run([ctl, m.mnt, "fault", "nosuchpoint"])
            self.assertEqual(r.returncode, 1)
            self.assertEqual(run([ctl, m.mnt, "fault", "osync", "on"]).returncode, 0)
            self.assertIn(" on ", run([ctl, m.mnt, "fault", "osync"]).stdout)
            r = run([ctl, m.mnt, "fault", "device_read:probability=7:times=2"])
            self.assertEqual(r.returncode, 0, r.stderr)
            out = run([ctl, m.mnt, "fault", "device_read"]).stdout
            self.assertIn("probability=7", out)
            self.assertIn("times=2", out)
            for p in ("osync", "device_read"):
                self.assertEqual(run([ctl, m.mnt, "fault", p, "off"]).returncode, 0)
        helptext = run([ctl, "help"]).stdout
        for k in FAULT_KEYS:
            self.assertIn(k + "=", helptext)
        self.assertNotRegex(helptext, r"\w+\.[ch]\b", "a source file named in user-facing text")

    def test_load_finds_eiocbctl_by_name(self):
        """README runs `eiocb-load --eiocbctl eiocbctl ...`: a bare name is looked up in PATH."""
        d = harness.new_dir("cli-")
        img = os.path.join(d, "img")
        harness.mkfs(img, size="64M")
        env = dict(os.environ, PATH=os.path.dirname(E["EIOCBCTL"]) + os.pathsep + os.environ.get("PATH", ""))
        with harness.Mount(img) as m:
            r = run([E["EIOCB_LOAD"], "-p", "2", "-t", "1", "--eiocbctl", "eiocbctl", "--mount", m.mnt,
                     "--fault", "invalidate:probability=5", m.mnt], env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("failed", r.stderr)
            out = run([E["EIOCBCTL"], m.mnt, "fault", "invalidate"]).stdout
            self.assertIn(" off ", out, "the run turns its faults off at the end")
            self.assertRegex(out, r"calls=[1-9]", "the fault was on during the run")


if __name__ == "__main__":
    missing = [k for k, v in E.items() if not v or not os.access(v, os.X_OK)]
    if missing:
        harness.skip_program("not built: " + ", ".join(missing))
    cls = {"conventions": Conventions, "manpages": ManPages, "mount": Mounted}.get(PART)
    if cls is Mounted:
        why = harness.mount_blocker()
        if why:
            harness.skip_program(why)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls) if cls else \
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    harness.cleanup_all()
    sys.exit(0 if res.wasSuccessful() else 1)
