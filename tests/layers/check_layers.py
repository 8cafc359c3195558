#!/usr/bin/env python3
"""check_layers.py SRCDIR: the include graph between the layer folders of
fs/ (and ioctx/) has no upward edge and no cycle.

Each folder is a layer; LOWER names the layers each one may include from
(directly or through a layer it may include). A header's layer is the
folder that holds it. Prints every offending include and exits 1, or prints
the layer graph and exits 0.
"""

import os
import re
import sys

# Bottom up. A layer may include its own headers and those of the layers
# listed here (the transitive closure is taken below).
LOWER = {
    "ioctx": [],
    "util": [],
    "fault": ["util"],
    "storage": ["fault"],
    "cache": ["fault"],
    "ns": ["storage", "cache"],
    "io": ["ns", "ioctx"],
    "ops": ["io"],
    "fsck": ["storage"],
    "control": ["cache", "ioctx"],
    "daemon": ["ops", "control"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def closure(layer, seen=None):
    seen = set() if seen is None else seen
    for low in LOWER[layer]:
        if low in seen:
            continue
        seen.add(low)
        closure(low, seen)
    return seen


def acyclic():
    state = {}

    def visit(n):
        if state.get(n) == 1:
            return False
        if state.get(n) == 2:
            return True
        state[n] = 1
        ok = all(visit(m) for m in LOWER[n])
        state[n] = 2
        return ok

    return all(visit(n) for n in LOWER)


def main():
    top = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    folders = {"ioctx": os.path.join(top, "ioctx")}
    for name in sorted(os.listdir(os.path.join(top, "fs"))):
        path = os.path.join(top, "fs", name)
        if os.path.isdir(path):
            folders[name] = path
    bad = []
    unknown = sorted(set(folders) - set(LOWER))
    for name in unknown:
        bad.append("fs/%s: a folder that is not a known layer (add it to LOWER)" % name)
    home = {}
    for layer, path in folders.items():
        for f in os.listdir(path):
            if f.endswith(".h"):
                if f in home:
                    bad.append("%s: in both %s and %s" % (f, home[f], layer))
                home[f] = layer
    if not acyclic():
        bad.append("LOWER itself has a cycle")
    edges = set()
    for layer, path in folders.items():
        if layer not in LOWER:
            continue
        allowed = closure(layer) | {layer}
        for f in sorted(os.listdir(path)):
            if not f.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(path, f), top)
            with open(os.path.join(path, f), encoding="utf-8") as fh:
                for inc in INCLUDE.findall(fh.read()):
                    dep = home.get(os.path.basename(inc))
                    if dep is None:
                        continue  # a header of no layer (libraries, tools)
                    if dep not in allowed:
                        bad.append("%s includes %s (%s): upward or sideways from %s"
                                   % (rel, inc, dep, layer))
                    elif dep != layer:
                        edges.add((layer, dep))
    for b in bad:
        print("check_layers: " + b)
    if bad:
        return 1
    for layer in LOWER:
        deps = sorted(d for (l, d) in edges if l == layer)
        print("%-8s -> %s" % (layer, ", ".join(deps) or "(nothing)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
