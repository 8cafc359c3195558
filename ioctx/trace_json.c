/*
 * trace_json.c: the tracer's records as Chrome trace-event JSON (the
 * format of chrome://tracing, read by ui.perfetto.dev), see trace.h.
 *
 * Layer: beside ioctx; calls trace.h's names and libc only.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_MIN_BYTES 150

struct out {
	int (*put)(void *, const char *, size_t);
	void *arg;
	size_t bytes; /* written so far (or counted, when put is NULL) */
	int err;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (o->err)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		o->err = -EOVERFLOW; /* our own formats are short: a bug */
		return;
	}
	o->bytes += (size_t)n;
	if (o->put)
		o->err = o->put(o->arg, buf, (size_t)n);
}

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

/* The kind's values, by name, after the common args. */
static void kind_args(struct out *o, const struct iotrace_rec *r)
{
	switch (r->kind) {
	case IOT_GET:
	case IOT_REF_GET:
		outf(o, ",\"users\":%" PRId64, r->a);
		break;
	case IOT_SUBMIT:
		outf(o, ",\"opcode\":%" PRId64 ",\"nbytes\":%" PRId64 ",\"offset\":%" PRId64, r->a,
		     r->b, r->c);
		break;
	case IOT_SUBMIT_RET:
		outf(o, ",\"ret\":%" PRId64, r->a);
		break;
	case IOT_DEV_ISSUE:
		outf(o, ",\"pieces\":%" PRId64 ",\"op\":\"%s\",\"bytes\":%" PRId64, r->a,
		     r->b ? "write" : "read", r->c);
		break;
	case IOT_DEV_DONE:
	case IOT_FUSE_REPLY:
		outf(o, ",\"res\":%" PRId64, r->a);
		break;
	case IOT_PROPAGATE:
		outf(o, ",\"existing\":%" PRId64 ",\"err\":%" PRId64 ",\"action\":\"%s\"", r->a, r->b,
		     iotrace_prop_name(r->c));
		break;
	case IOT_COMPLETE:
		outf(o, ",\"res\":%" PRId64 ",\"res2\":%" PRId64 ",\"cancelled\":%s", r->a, r->b,
		     r->c ? "true" : "false");
		break;
	case IOT_REF_PUT:
		outf(o, ",\"users\":%" PRId64 ",\"ref\":\"%s\"", r->a,
		     r->b == IOT_REF_SUBMISSION ? "submission"
		     : r->b == IOT_REF_COMPLETION ? "completion" : "put");
		break;
	case IOT_RING_INSERT:
		outf(o, ",\"res\":%" PRId64 ",\"res2\":%" PRId64, r->a, r->b);
		break;
	case IOT_CANCEL:
		outf(o, ",\"rc\":%" PRId64, r->a);
		break;
	case IOT_DOUBLE:
		outf(o, ",\"second_res\":%" PRId64 ",\"first_res\":%" PRId64, r->a, r->b);
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

static int render(const struct iotrace_rec *recs, size_t n, size_t left_out,
		  const struct iotrace_info *info, const char *sem, struct out *o)
{
	struct reqmap m = { 0 };
	size_t size = 16;

	while (size < 2 * n + 2)
		size <<= 1;
	if (!(m.slot = calloc(size, sizeof(*m.slot))))
		return -ENOMEM;
	m.mask = size - 1;
	int64_t t0 = n ? recs[0].ts : 0;

	outf(o, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"tool\":\"eiocbfs trace\","
		"\"semantics\":\"%s\",\"events\":%zu,\"left_out\":%zu", sem ? sem : "?", n, left_out);
	if (info)
		outf(o, ",\"recorded\":%" PRIu64 ",\"overwritten\":%" PRIu64 ",\"dropped\":%" PRIu64
			",\"limited\":%" PRIu64 ",\"filtered\":%" PRIu64 ",\"threads\":%u,"
			"\"per_thread\":%u,\"max_events\":%" PRIu64,
		     info->recorded, info->overwritten, info->dropped, info->limited, info->filtered,
		     info->threads, info->opts.per_thread, info->opts.max_events);
	if (info && info->stop_ts && n)
		outf(o, ",\"stopped_at_us\":%.3f", us(info->stop_ts, t0));
	if (info && info->opts.filter_ino)
		outf(o, ",\"ino\":%" PRIu64, info->opts.ino);
	else if (info)
		outf(o, ",\"ino\":null");
	outf(o, "},\"traceEvents\":[\n{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"tid\":0,"
		"\"args\":{\"name\":\"eiocbfs iocbs (%s): one track per request\"}}",
	     sem ? sem : "?");
	for (size_t i = 0; i < n && !o->err; i++) {
		const struct iotrace_rec *r = &recs[i];
		bool fresh;
		struct req *q = req_find(&m, r->id, &fresh);
		uint32_t slot = (uint32_t)r->id, gen = (uint32_t)(r->id >> 32);
		double ts = us(r->ts, t0);

		if (fresh) {
			outf(o, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":%u,"
				"\"args\":{\"name\":\"iocb #%u gen %u ino %" PRIu64 "\"}}",
			     q->track, slot, gen, r->obj);
			outf(o, ",\n{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":%u,"
				"\"args\":{\"sort_index\":%u}}", q->track, q->track);
		}
		outf(o, ",\n{\"name\":\"%s\",\"cat\":\"iocb\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%.3f,"
			"\"pid\":1,\"tid\":%u,\"args\":{\"seq\":%zu,\"id\":\"%#" PRIx64 "\","
			"\"slot\":%u,\"gen\":%u,\"ino\":%" PRIu64 ",\"thread\":%u",
		     iotrace_kind_name(r->kind), ts, q->track, i, r->id, slot, gen, r->obj, r->tid);
		kind_args(o, r);
		outf(o, "}}");

		switch (r->kind) {
		case IOT_GET:
		case IOT_REF_GET:
		case IOT_REF_PUT:
			outf(o, ",\n{\"name\":\"users #%u.%u\",\"ph\":\"C\",\"ts\":%.3f,\"pid\":1,"
				"\"args\":{\"users\":%" PRId64 "}}", slot, gen, ts, r->a);
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
				outf(o, ",\n{\"name\":\"%s\",\"cat\":\"span\",\"ph\":\"X\",\"ts\":%.3f,"
					"\"dur\":%.3f,\"pid\":1,\"tid\":%u,\"args\":{\"res\":%" PRId64 "}}",
				     r->kind == IOT_SUBMIT_RET ? "submission" : "device I/O",
				     us(*start, t0), us(r->ts, *start), q->track, r->a);
			*start = -1;
			break;
		}
		default:
			break;
		}
		char label[96];
		if (error_label(r, label, sizeof(label)))
			outf(o, ",\n{\"name\":\"%s\",\"cat\":\"error\",\"ph\":\"i\",\"s\":\"g\","
				"\"ts\":%.3f,\"pid\":1,\"tid\":%u,\"args\":{\"id\":\"%#" PRIx64 "\","
				"\"seq\":%zu}}", label, ts, q->track, r->id, i);
	}
	outf(o, "\n]}\n");
	free(m.slot);
	return o->err;
}

int iotrace_write_json(const struct iotrace_rec *recs, size_t n, const struct iotrace_info *info,
		       const char *semantics, size_t max_bytes,
		       int (*put)(void *arg, const char *s, size_t len), void *arg)
{
	size_t skip = 0;

	/* A record takes more than REC_MIN_BYTES (its instant alone does): no
	   more than max_bytes / REC_MIN_BYTES of the newest can fit, so the
	   rounds below never render millions of records for nothing. */
	if (max_bytes && n > max_bytes / REC_MIN_BYTES)
		skip = n - max_bytes / REC_MIN_BYTES;
	/* Count first; while too big, leave out the oldest records in
	   proportion (a few rounds at most: sizes per record are similar). */
	for (int round = 0; max_bytes && round < 8; round++) {
		struct out c = { 0 };
		int r = render(recs + skip, n - skip, skip, info, semantics, &c);
		if (r < 0)
			return r;
		if (c.bytes <= max_bytes)
			break;
		size_t keep = (size_t)((double)(n - skip) * ((double)max_bytes / (double)c.bytes) * 0.97);
		skip = n - keep;
	}
	struct out o = { .put = put, .arg = arg };
	return render(recs + skip, n - skip, skip, info, semantics, &o);
}
