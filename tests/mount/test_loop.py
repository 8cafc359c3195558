#!/usr/bin/env python3
"""test_loop.py: eiocbfs on a block device (a loop device over an image).

Runs the POSIX suite and a persistence run with TARGET = /dev/loopN
(mkfs and the daemon open the block device; the daemon takes it
exclusively), plus: a second mount of the same device is refused while the
first is up. Loop devices are detached on every exit path (harness).
SKIPs with the reason where losetup cannot attach a device.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_posix  # noqa: E402
import test_persist  # noqa: E402


# Every POSIX test class again, with TARGET a loop device.
for _name, _cls in list(vars(test_posix).items()):
    if isinstance(_cls, type) and issubclass(_cls, harness.MountTestCase) and _cls is not harness.MountTestCase:
        globals()["Loop" + _name] = type("Loop" + _name, (_cls,), {"use_loop": True})


class LoopPersistence(test_persist.Persistence):
    use_loop = True
    nfiles = 120


class LoopExclusive(harness.MountTestCase):
    use_loop = True
    image_size = "64M"

    def test_second_mount_of_device_refused(self):
        other = os.path.join(self.dir, "mnt2")
        os.mkdir(other)
        r = subprocess.run([harness.EIOCBFS, "-f", self.target, other], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(len([l for l in r.stderr.splitlines() if l.strip()]), 1, r.stderr)
        self.assertFalse(harness.is_mounted(other, None))


# Only the classes defined here (not the imported originals) run.
del test_posix, test_persist, _name, _cls

if __name__ == "__main__":
    harness.run_tests(globals())
