#!/usr/bin/env python3
"""check_format.py SRCDIR: every C source and header of fs/, ioctx/, tools/
and tests/ is laid out as .clang-format says (clang-format --dry-run
--Werror). Prints the files that are not, with the command that fixes
them, and exits 1; exits 77 (SKIP) when clang-format is not installed.
"""

import os
import shutil
import subprocess
import sys

FOLDERS = ("fs", "ioctx", "tools", "tests")


def sources(top):
    for folder in FOLDERS:
        for root, dirs, files in os.walk(os.path.join(top, folder)):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "build")))
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(root, f)


def main():
    top = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    cf = shutil.which("clang-format")
    if not cf:
        print("SKIP: clang-format is not installed")
        return 77
    files = list(sources(top))
    r = subprocess.run([cf, "--dry-run", "--Werror", "--style=file"] + files,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    bad = sorted({os.path.relpath(line.split(":", 1)[0], top)
                  for line in r.stderr.splitlines() if ": error: " in line})
    if r.returncode != 0 and not bad:
        print("clang-format failed: %s" % r.stderr.strip()[:500])
        return 1
    if bad:
        for b in bad:
            print("not clang-formatted: %s" % b)
        print("fix: clang-format -i %s" % " ".join(bad))
        return 1
    print("%d files laid out as .clang-format says" % len(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
