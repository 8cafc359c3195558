/*
 * trace_json.c: the tracer's records as Chrome trace-event JSON (the
 * format of chrome://tracing, read by ui.perfetto.dev), see trace.h.
 *
 * Layer: beside ioctx; calls trace.h's names, jansson and libc only.
 *
 * Shape (pid 1 = "eiocbfs iocbs"):
 *   - one track (tid) per iocb, named "iocb #SLOT gen GEN ino INO", in the
 *     order the requests first appear;
 *   - every record as an instant on its iocb's track, cat "iocb", name the
 *     kind, args: seq (global order), id, ino, thread (the real tid) and the
 *     kind's values by name. Tests read these to check the ordering rules;
 *   - slices: "submission" (submit .. submit_returned) and "device I/O"
 *     (issued .. completed) on the iocb's track;
 *   - a counter track per iocb, "users #SLOT.GEN": the reference count;
 *   - errors (an error queued or returned by propagate_error, a double
 *     completion, an event or reply carrying an error) again as global
 *     instants, cat "error", so they stand out across all tracks;
 *   - otherData: semantics, the session's totals (dropped etc.) and when
 *     recording stopped (stopped_at_us: requests still running then may be
 *     cut short in the dump).
 * ts is in microseconds (3 decimals: ns) since the first record.
 */
#include "trace.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A record's instant alone takes more bytes than this in the dump. */
#define REC_MIN_BYTES 140
/* Compact; reals (microseconds with ns decimals) with up to 15 digits. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* id -> per-request state, open addressing (ids are never 0). */
struct req {
	uint64_t id;
	unsigned track;
	int64_t submit_ts, issue_ts; /* open slices, -1 if none */
};

struct reqmap {
	struct req *slot;
	size_t mask;
	unsigned tracks;
};

static struct req *req_find(struct reqmap *m, uint64_t id, bool *fresh)
{
	size_t i = (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17) & m->mask;

	while (m->slot[i].id && m->slot[i].id != id)
		i = (i + 1) & m->mask;
	*fresh = !m->slot[i].id;
	if (*fresh) {
		m->slot[i].id = id;
		m->slot[i].track = ++m->tracks;
		m->slot[i].submit_ts = m->slot[i].issue_ts = -1;
	}
	return &m->slot[i];
}

static double us(int64_t ts, int64_t t0)
{
	return (double)(ts - t0) / 1000.0;
}

/* Adds a member; a NULL value (out of memory) is noted in *err. */
static void set(json_t *o, const char *key, json_t *v, int *err)
{
	if (json_object_set_new(o, key, v) < 0)
		*err = -ENOMEM;
}

/* The kind's values, by name, after the common args. */
static void kind_args(json_t *a, const struct iotrace_rec *r, int *err)
{
	switch (r->kind) {
	case IOT_GET:
	case IOT_REF_GET:
		set(a, "users", json_integer(r->a), err);
		break;
	case IOT_SUBMIT:
		set(a, "opcode", json_integer(r->a), err);
		set(a, "nbytes", json_integer(r->b), err);
		set(a, "offset", json_integer(r->c), err);
		break;
	case IOT_SUBMIT_RET:
		set(a, "ret", json_integer(r->a), err);
		break;
	case IOT_DEV_ISSUE:
		set(a, "pieces", json_integer(r->a), err);
		set(a, "op", json_string(r->b ? "write" : "read"), err);
		set(a, "bytes", json_integer(r->c), err);
		break;
	case IOT_DEV_DONE:
	case IOT_FUSE_REPLY:
		set(a, "res", json_integer(r->a), err);
		break;
	case IOT_PROPAGATE:
		set(a, "existing", json_integer(r->a), err);
		set(a, "err", json_integer(r->b), err);
		set(a, "action", json_string(iotrace_prop_name(r->c)), err);
		break;
	case IOT_COMPLETE:
		set(a, "res", json_integer(r->a), err);
		set(a, "res2", json_integer(r->b), err);
		set(a, "cancelled", json_boolean(r->c), err);
		break;
	case IOT_REF_PUT:
		set(a, "users", json_integer(r->a), err);
		set(a, "ref",
		    json_string(r->b == IOT_REF_SUBMISSION   ? "submission"
				: r->b == IOT_REF_COMPLETION ? "completion"
							     : "put"),
		    err);
		break;
	case IOT_RING_INSERT:
		set(a, "res", json_integer(r->a), err);
		set(a, "res2", json_integer(r->b), err);
		break;
	case IOT_CANCEL:
		set(a, "rc", json_integer(r->a), err);
		break;
	case IOT_DOUBLE:
		set(a, "second_res", json_integer(r->a), err);
		set(a, "first_res", json_integer(r->b), err);
		break;
	default:
		break;
	}
}

/* An error worth a global instant, or NULL. */
static const char *error_label(const struct iotrace_rec *r, char *buf, size_t len)
{
	switch (r->kind) {
	case IOT_PROPAGATE:
		snprintf(buf, len, "error %" PRId64 " %s", r->b, iotrace_prop_name(r->c));
		return buf;
	case IOT_DOUBLE:
		snprintf(buf, len, "DOUBLE COMPLETION (res %" PRId64 ", first %" PRId64 ")", r->a,
			 r->b);
		return buf;
	case IOT_RING_INSERT:
	case IOT_FUSE_REPLY:
	case IOT_DEV_DONE:
		if (r->a >= 0)
			return NULL;
		snprintf(buf, len, "%s res %" PRId64, iotrace_kind_name(r->kind), r->a);
		return buf;
	default:
		return NULL;
	}
}

static void push(json_t *events, json_t *ev, int *err)
{
	if (json_array_append_new(events, ev) < 0)
		*err = -ENOMEM;
}

/* The whole dump of recs as one JSON value, or NULL (out of memory). */
static json_t *render(const struct iotrace_rec *recs, size_t n, size_t left_out,
		      const struct iotrace_info *info, const char *sem)
{
	struct reqmap m = {0};
	size_t size = 16;
	int err = 0;
	char name[128], id[24];

	while (size < 2 * n + 2)
		size <<= 1;
	if (!(m.slot = calloc(size, sizeof(*m.slot))))
		return NULL;
	m.mask = size - 1;
	int64_t t0 = n ? recs[0].ts : 0;

	json_t *other =
	    json_pack("{s:s, s:s, s:I, s:I}", "tool", "eiocbfs trace", "semantics", sem ? sem : "?",
		      "events", (json_int_t)n, "left_out", (json_int_t)left_out);
	json_t *events = json_array();
	json_t *root = json_pack("{s:s, s:o*, s:o*}", "displayTimeUnit", "ns", "otherData", other,
				 "traceEvents", events);

	if (!root || !other || !events) {
		free(m.slot);
		json_decref(root);
		return NULL;
	}
	if (info) {
		set(other, "recorded", json_integer((json_int_t)info->recorded), &err);
		set(other, "overwritten", json_integer((json_int_t)info->overwritten), &err);
		set(other, "dropped", json_integer((json_int_t)info->dropped), &err);
		set(other, "limited", json_integer((json_int_t)info->limited), &err);
		set(other, "filtered", json_integer((json_int_t)info->filtered), &err);
		set(other, "threads", json_integer(info->threads), &err);
		set(other, "per_thread", json_integer(info->opts.per_thread), &err);
		set(other, "max_events", json_integer((json_int_t)info->opts.max_events), &err);
		if (info->stop_ts && n)
			set(other, "stopped_at_us", json_real(us(info->stop_ts, t0)), &err);
		set(other, "ino",
		    info->opts.filter_ino ? json_integer((json_int_t)info->opts.ino) : json_null(),
		    &err);
	}
	snprintf(name, sizeof(name), "eiocbfs iocbs (%s): one track per request", sem ? sem : "?");
	push(events,
	     json_pack("{s:s, s:s, s:i, s:i, s:{s:s}}", "ph", "M", "name", "process_name", "pid", 1,
		       "tid", 0, "args", "name", name),
	     &err);
	for (size_t i = 0; i < n && !err; i++) {
		const struct iotrace_rec *r = &recs[i];
		bool fresh;
		struct req *q = req_find(&m, r->id, &fresh);
		uint32_t slot = (uint32_t)r->id, gen = (uint32_t)(r->id >> 32);
		double ts = us(r->ts, t0);
		json_t *args;

		snprintf(id, sizeof(id), "%#" PRIx64, r->id);
		if (fresh) {
			snprintf(name, sizeof(name), "iocb #%u gen %u ino %" PRIu64, slot, gen,
				 r->obj);
			push(events,
			     json_pack("{s:s, s:s, s:i, s:I, s:{s:s}}", "ph", "M", "name",
				       "thread_name", "pid", 1, "tid", (json_int_t)q->track, "args",
				       "name", name),
			     &err);
			push(events,
			     json_pack("{s:s, s:s, s:i, s:I, s:{s:I}}", "ph", "M", "name",
				       "thread_sort_index", "pid", 1, "tid", (json_int_t)q->track,
				       "args", "sort_index", (json_int_t)q->track),
			     &err);
		}
		args = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I}", "seq", (json_int_t)i, "id", id,
				 "slot", (json_int_t)slot, "gen", (json_int_t)gen, "ino",
				 (json_int_t)r->obj, "thread", (json_int_t)r->tid);
		if (args)
			kind_args(args, r, &err);
		push(events,
		     json_pack("{s:s, s:s, s:s, s:s, s:f, s:i, s:I, s:o*}", "name",
			       iotrace_kind_name(r->kind), "cat", "iocb", "ph", "i", "s", "t", "ts",
			       ts, "pid", 1, "tid", (json_int_t)q->track, "args", args),
		     &err);

		switch (r->kind) {
		case IOT_GET:
		case IOT_REF_GET:
		case IOT_REF_PUT:
			snprintf(name, sizeof(name), "users #%u.%u", slot, gen);
			push(events,
			     json_pack("{s:s, s:s, s:f, s:i, s:{s:I}}", "name", name, "ph", "C",
				       "ts", ts, "pid", 1, "args", "users", (json_int_t)r->a),
			     &err);
			break;
		case IOT_SUBMIT:
			q->submit_ts = r->ts;
			break;
		case IOT_DEV_ISSUE:
			q->issue_ts = r->ts;
			break;
		case IOT_SUBMIT_RET:
		case IOT_DEV_DONE: {
			int64_t *start = r->kind == IOT_SUBMIT_RET ? &q->submit_ts : &q->issue_ts;
			if (*start >= 0)
				push(events,
				     json_pack(
					 "{s:s, s:s, s:s, s:f, s:f, s:i, s:I, s:{s:I}}", "name",
					 r->kind == IOT_SUBMIT_RET ? "submission" : "device I/O",
					 "cat", "span", "ph", "X", "ts", us(*start, t0), "dur",
					 us(r->ts, *start), "pid", 1, "tid", (json_int_t)q->track,
					 "args", "res", (json_int_t)r->a),
				     &err);
			*start = -1;
			break;
		}
		default:
			break;
		}
		char label[96];
		if (error_label(r, label, sizeof(label)))
			push(events,
			     json_pack("{s:s, s:s, s:s, s:s, s:f, s:i, s:I, s:{s:s, s:I}}", "name",
				       label, "cat", "error", "ph", "i", "s", "g", "ts", ts, "pid",
				       1, "tid", (json_int_t)q->track, "args", "id", id, "seq",
				       (json_int_t)i),
			     &err);
	}
	free(m.slot);
	if (err) {
		json_decref(root);
		return NULL;
	}
	return root;
}

int iotrace_write_json(const struct iotrace_rec *recs, size_t n, const struct iotrace_info *info,
		       const char *semantics, size_t max_bytes,
		       int (*put)(void *arg, const char *s, size_t len), void *arg)
{
	size_t skip = 0;
	json_t *root = NULL;

	/* No more than max_bytes / REC_MIN_BYTES of the newest records can fit,
	   so the rounds below never render millions of records for nothing. */
	if (max_bytes && n > max_bytes / REC_MIN_BYTES)
		skip = n - max_bytes / REC_MIN_BYTES;
	/* Measure; while too big, leave out the oldest records in proportion
	   (a few rounds at most: sizes per record are similar). */
	for (int round = 0; round < 9; round++) {
		root = render(recs + skip, n - skip, skip, info, semantics);
		if (!root)
			return -ENOMEM;
		size_t bytes = json_dumpb(root, NULL, 0, DUMP_FLAGS) + 1; /* and its '\n' */
		if (!max_bytes || bytes <= max_bytes || round == 8)
			break;
		size_t keep =
		    (size_t)((double)(n - skip) * ((double)max_bytes / (double)bytes) * 0.97);
		skip = n - keep;
		json_decref(root);
	}
	/* One piece for put: jansson's callback would hand it every token. */
	size_t len = json_dumpb(root, NULL, 0, DUMP_FLAGS);
	char *buf = malloc(len + 1);
	int r = -ENOMEM;

	if (buf && json_dumpb(root, buf, len, DUMP_FLAGS) == len) {
		buf[len] = '\n';
		r = put(arg, buf, len + 1);
	}
	free(buf);
	json_decref(root);
	return r;
}
