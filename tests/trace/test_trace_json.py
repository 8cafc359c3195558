#!/usr/bin/env python3
"""test_trace_json.py: the trace dump of scripted requests (trace_scenario:
ioctx over a fake device, no mount) parses as Chrome trace-event JSON, has
every event kind the tracer records (ioctx/trace.h), and its order obeys docs/semantics.md from the
trace alone: R5 and R7 in deferred mode, the detected double completion in
legacy mode. Also draws both modes with tools/trace-svg and checks the SVG
is well-formed XML naming both modes.

Environment: TRACE_SCENARIO (the program), TRACE_SVG (tools/trace-svg),
TRACE_WORK (a directory for the dumps).
"""

import os
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tracecheck  # noqa: E402

SCENARIO = os.environ.get("TRACE_SCENARIO", "")
SVG = os.environ.get("TRACE_SVG", "")
WORK = os.environ.get("TRACE_WORK", "/tmp")
EIO, EINTR, EIOCBQUEUED = -5, -4, -529


def scenario(mode, order):
    path = os.path.join(WORK, "trace-%s-%s.json" % (mode, order))
    r = subprocess.run([SCENARIO, mode, order, path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return path


def by_ino(reqs, ino):
    return [evs for evs in reqs.values() if evs[0]["ino"] == ino]


class TraceJson(unittest.TestCase):
    def load(self, mode, order):
        other, recs, reqs = tracecheck.load(scenario(mode, order))
        self.assertEqual(other["semantics"], mode)
        self.assertEqual(other["overwritten"] + other["dropped"] + other["limited"], 0)
        return recs, reqs

    def test_every_kind_deferred(self):
        """Each event kind of ioctx/trace.h appears (deferred, plus legacy's
        double completion), with the iocb's handle linking them."""
        seen = set()
        for mode, order in (("deferred", "device-first"), ("legacy", "submit-first")):
            recs, reqs = self.load(mode, order)
            seen |= {r["kind"] for r in recs}
            self.assertEqual(len(reqs), 3, "three requests, three ids")
        self.assertEqual(seen, set(tracecheck.KINDS))

    def test_r3_r5_r7_deferred(self):
        """R3/R5/R7 (deferred): the queued -EIO is the event's res; the event
        enters the ring only after the submission reference is dropped; one
        event per completed request, none for the cancelled one."""
        for order in ("device-first", "submit-first"):
            recs, reqs = self.load("deferred", order)
            self.assertEqual(tracecheck.r5_violations(reqs), [], order)
            self.assertEqual(tracecheck.r7_violations(reqs), [], order)
            [w] = by_ino(reqs, 12)
            prop = tracecheck.first(w, "propagate_error")
            self.assertEqual((prop["existing"], prop["err"], prop["action"]),
                             (EIOCBQUEUED, EIO, "stored"))
            self.assertEqual(tracecheck.first(w, "submit_returned")["ret"], EIOCBQUEUED)
            self.assertEqual(tracecheck.event_res(w), EIO)
            self.assertEqual(tracecheck.first(w, "complete")["res"], 4096)
            self.assertEqual(tracecheck.first(w, "fuse_reply")["res"], EIO)
            self.assertEqual(tracecheck.count(w, "double_completion"), 0)
            # the reference count: 1 (get), 2 (device), then down to 0
            users = [r["users"] for r in w if r["kind"] in ("get", "ref_get", "ref_put")]
            self.assertEqual(users, [1, 2, 1, 0])
            # device-first: the device completed first, yet the event waits
            # for the submitter (the race the patch closes)
            ins = tracecheck.first(w, "ring_insert")
            comp = tracecheck.first(w, "complete")
            sub_put = tracecheck.first(w, "ref_put", ref="submission")
            if order == "device-first":
                self.assertLess(comp["seq"], prop["seq"])
                self.assertEqual(ins["thread"], sub_put["thread"])
            self.assertLess(prop["seq"], ins["seq"])
            [c] = by_ino(reqs, 13)
            self.assertTrue(tracecheck.first(c, "complete")["cancelled"])
            self.assertEqual(tracecheck.first(c, "cancel")["rc"], 0)
            self.assertEqual(tracecheck.first(c, "fuse_reply")["res"], EINTR)

    def test_legacy_double_completion(self):
        """docs/semantics.md 4 legacy: the error overwrites -EIOCBQUEUED, the
        submitter completes the iocb and the event is written at complete()
        time; the device's completion is the detected double completion."""
        for order in ("device-first", "submit-first"):
            recs, reqs = self.load("legacy", order)
            self.assertEqual(tracecheck.r7_violations(reqs), [], order)
            [w] = by_ino(reqs, 12)
            self.assertEqual(tracecheck.first(w, "propagate_error")["action"], "returned")
            self.assertEqual(tracecheck.first(w, "submit_returned")["ret"], EIO)
            self.assertEqual(tracecheck.count(w, "double_completion"), 1)
            self.assertEqual(tracecheck.count(w, "complete"), 1)
            dbl = tracecheck.first(w, "double_completion")
            ins = tracecheck.first(w, "ring_insert")
            self.assertLess(ins["seq"], dbl["seq"])
            # the event was written while the submission reference was held
            self.assertTrue(any(rid == w[0]["id"] for rid, _ in tracecheck.r5_violations(reqs)))
            if order == "submit-first":
                self.assertEqual(tracecheck.event_res(w), EIO)
                self.assertEqual(dbl["second_res"], 4096)
            else:
                self.assertEqual(tracecheck.event_res(w), 4096)  # the error is lost
                self.assertEqual(dbl["second_res"], EIO)

    def test_drop(self):
        """docs/semantics.md 4 drop: the error is discarded; success is reported."""
        recs, reqs = self.load("drop", "submit-first")
        [w] = by_ino(reqs, 12)
        self.assertEqual(tracecheck.first(w, "propagate_error")["action"], "dropped")
        self.assertEqual(tracecheck.event_res(w), 4096)
        self.assertEqual(tracecheck.r5_violations(reqs), [])

    def test_perfetto_shape(self):
        """The dump has what Perfetto needs: one named track per iocb, a
        counter track of the reference count, error instants, slices."""
        path = scenario("deferred", "device-first")
        import json
        with open(path) as f:
            doc = json.load(f)
        evs = doc["traceEvents"]
        names = [e["args"]["name"] for e in evs if e.get("name") == "thread_name"]
        self.assertEqual(len(names), 3)
        self.assertTrue(all(n.startswith("iocb #") for n in names))
        self.assertTrue(any(e["ph"] == "C" and "users" in e["args"] for e in evs))
        self.assertTrue(any(e.get("cat") == "error" and e["s"] == "g" for e in evs))
        self.assertEqual({e["name"] for e in evs if e["ph"] == "X"},
                         {"submission", "device I/O"})
        for e in evs:
            if e["ph"] != "M":
                self.assertGreaterEqual(e["ts"], 0)

    @unittest.skipUnless(SVG, "TRACE_SVG not set")
    def test_svg(self):
        """tools/trace-svg: the timeline picture is well-formed XML and names
        both modes, each with its two lanes."""
        out = os.path.join(WORK, "timeline.svg")
        r = subprocess.run([sys.executable, SVG, "-o", out,
                            scenario("deferred", "device-first"),
                            scenario("legacy", "submit-first")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        root = ET.parse(out).getroot()
        self.assertTrue(root.tag.endswith("svg"))
        text = " ".join("".join(t.itertext()) for t in root.iter() if t.tag.endswith("text"))
        for word in ("deferred", "legacy", "submission path", "completion path",
                     "error queued", "event written", "double completion"):
            self.assertIn(word, text)


if __name__ == "__main__":
    if not SCENARIO:
        print("SKIP: TRACE_SCENARIO not set")
        sys.exit(77)
    unittest.main(verbosity=2)
