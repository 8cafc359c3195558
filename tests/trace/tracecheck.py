"""tracecheck.py: read an eiocbfs trace dump (Chrome trace-event JSON, as
written by `eiocbctl MOUNTPOINT trace dump FILE`) and check the ordering
rules of docs/semantics.md from the trace alone.

Layer: test library (python3 standard library only). Used by
test_trace_json.py (scripted requests, no mount) and test_trace_mount.py.

The dump's instants of cat "iocb" are the records, one per event, with
args.seq the global order (by CLOCK_MONOTONIC time under the ioctx lock for
the core's events) and args.id the iocb's handle (slot + generation).
"""

import json

KINDS = ("get", "submit", "submit_returned", "device_io_issued", "device_io_completed",
         "propagate_error", "complete", "ref_get", "ref_put", "ring_insert", "fuse_reply",
         "cancel", "double_completion")


def load(path):
    """(otherData, records sorted by seq, requests: id -> [records])."""
    with open(path) as f:
        doc = json.load(f)
    recs = []
    for e in doc["traceEvents"]:
        if e.get("cat") == "iocb" and e.get("ph") == "i":
            r = dict(e["args"])
            r["kind"] = e["name"]
            r["ts"] = e["ts"]
            recs.append(r)
    recs.sort(key=lambda r: r["seq"])
    reqs = {}
    for r in recs:
        reqs.setdefault(r["id"], []).append(r)
    return doc.get("otherData", {}), recs, reqs


def first(evs, kind, **match):
    for r in evs:
        if r["kind"] == kind and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def count(evs, kind, **match):
    return sum(1 for r in evs if r["kind"] == kind and all(r.get(k) == v for k, v in match.items()))


def whole(evs, end=None):
    """Whether a request's whole life is in the trace: from get_req to the
    last reference dropped. A trace started or stopped mid-flight, or whose
    per-thread buffer overwrote old records, holds partial lives: the rules
    are judged on whole ones only. end: a time (us, the dump's ts) after
    which the trace may have been cut while requests ran (a stop between the
    last put and the ring insertion it does): a request whose last reference
    went after it is not whole. See settled_end()."""
    last = [r for r in evs if r["kind"] == "ref_put" and r["users"] == 0]
    return (first(evs, "get") is not None and bool(last)
            and (end is None or last[-1]["ts"] <= end))


def settled_end(other, margin_us=1000.0):
    """For a dump stopped while requests ran: the time before which every
    request's last events are surely recorded, or None if never stopped."""
    stop = other.get("stopped_at_us")
    return None if stop is None else stop - margin_us


def r5_violations(reqs, end=None):
    """R5: no ring insertion while the submission reference is held: each
    insertion comes after the put of the submission reference and after the
    put that took users to 0. Returns a list of (id, reason)."""
    bad = []
    for rid, evs in reqs.items():
        if not whole(evs, end):
            continue
        for ins in (r for r in evs if r["kind"] == "ring_insert"):
            sub = first(evs, "ref_put", ref="submission")
            if sub is None or sub["seq"] > ins["seq"]:
                bad.append((rid, "insert at seq %d before the submission reference was dropped"
                            % ins["seq"]))
                continue
            zero = [r for r in evs if r["kind"] == "ref_put" and r["users"] == 0
                    and r["seq"] < ins["seq"]]
            if not zero:
                bad.append((rid, "insert at seq %d while users > 0" % ins["seq"]))
    return bad


def r7_violations(reqs, end=None):
    """R7: exactly one insertion per completed, non-cancelled iocb, and
    none for a cancelled one. Returns a list of (id, reason)."""
    bad = []
    for rid, evs in reqs.items():
        comp = first(evs, "complete")
        if comp is None or not whole(evs, end):
            continue
        ins = count(evs, "ring_insert")
        if comp["cancelled"] and ins:
            bad.append((rid, "cancelled, yet %d insertions" % ins))
        elif not comp["cancelled"] and ins != 1:
            bad.append((rid, "%d insertions" % ins))
    return bad


def event_res(evs):
    """The res of the request's ring event, or None."""
    ins = first(evs, "ring_insert")
    return None if ins is None else ins["res"]
