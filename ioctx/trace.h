/*
 * trace.h: the iocb lifecycle tracer: what happened to each
 * request, when, on which thread, with which reference count.
 *
 * Layer: beside ioctx (part of libioctx). Calls libc, pthreads and C11
 * atomics only. Called by ioctx.c (core events), by a submitter such as the
 * direct path (device I/O, FUSE reply) through ioctx_trace(ctx), by the
 * control channel (start/stop/dump) and by tests.
 *
 * Cost when off: IOTRACE() is one relaxed load of a flag and one branch
 * predicted not taken; nothing else runs and nothing is allocated.
 * When on: each thread records into its own ring buffer (no lock, no
 * sharing: a thread's first event claims a buffer under the tracer's mutex),
 * which overwrites its oldest records when full and counts them
 * ("overwritten"). Memory is bounded: IOTRACE_MAX_BUFS buffers of
 * per_thread records each; threads beyond that lose their events (counted
 * as "dropped"), as do events past max_events ("limited") once that many
 * were recorded.
 *
 * Each record names its iocb by handle (slot + generation, ioctx.h), so
 * one request's events can be linked across threads, and carries its obj
 * (the inode on the direct path), on which the ino filter acts.
 *
 * Life cycle: iotrace_new; start/stop any number of times; while stopped,
 * iotrace_snapshot reads what was recorded; iotrace_free. The threads that
 * recorded need not have exited, but must not record into a freed tracer.
 */
#ifndef EIOCBFS_IOCTX_TRACE_H
#define EIOCBFS_IOCTX_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What happened. a, b, c per kind (see iotrace_kind_name for the names). */
enum iotrace_kind {
	IOT_GET = 0,	 /* ioctx_get_req: a = users (1, the submission ref) */
	IOT_SUBMIT,	 /* ioctx_submit calls ops->submit: a = opcode, b = nbytes, c = offset */
	IOT_SUBMIT_RET,	 /* ops->submit returned a */
	IOT_DEV_ISSUE,	 /* device I/O started: a = pieces, b = op (0 read, 1 write), c = bytes */
	IOT_DEV_DONE,	 /* device I/O ended (last piece): a = result */
	IOT_PROPAGATE,	 /* propagate_error: a = existing, b = err, c = enum iotrace_prop */
	IOT_COMPLETE,	 /* complete() recorded: a = res, b = res2, c = 1 if cancelled */
	IOT_REF_GET,	 /* one more reference: a = new users */
	IOT_REF_PUT,	 /* one reference dropped: a = new users, b = enum iotrace_ref */
	IOT_RING_INSERT, /* the event entered the ring: a = event res, b = res2 */
	IOT_FUSE_REPLY,	 /* the answer handed to FUSE: a = res */
	IOT_CANCEL,	 /* ioctx_cancel: a = its result (0 cancelled, < 0 not) */
	IOT_DOUBLE,	 /* detected double completion: a = second res, b = first res */
	IOT_KIND_MAX
};

/* What propagate_error did with the error (IOT_PROPAGATE's c). */
enum iotrace_prop {
	IOT_PROP_RETURNED = 0, /* returned err to the caller (not queued: legacy, or sync) */
	IOT_PROP_STORED,       /* queued in pending_err (R3) */
	IOT_PROP_KEPT_FIRST,   /* an earlier error was queued: it wins */
	IOT_PROP_DROPPED,      /* drop mode: discarded */
	IOT_PROP_WB_ERROR,     /* mainline: kept out of the event, recorded as the
				  file's write-back error (fsync reports it) */
};

/* Which reference a put dropped (IOT_REF_PUT's b). */
enum iotrace_ref {
	IOT_REF_SUBMISSION = 0, /* the submission reference (ioctx_submit) */
	IOT_REF_COMPLETION,	/* a device I/O's, by complete() */
	IOT_REF_OTHER,		/* ioctx_put */
};

struct iotrace_rec {
	int64_t ts;   /* CLOCK_MONOTONIC, ns */
	uint64_t id;  /* ioctx handle: slot | gen << 32 */
	uint64_t obj; /* the iocb's obj (inode on the direct path) */
	int64_t a, b, c;
	uint64_t seq;  /* per-thread order, to break ties of equal ts */
	uint32_t tid;  /* Linux thread id */
	uint32_t kind; /* enum iotrace_kind */
};

struct iotrace_opts {
	bool filter_ino; /* record only events whose obj == ino */
	uint64_t ino;
	uint64_t max_events; /* 0: no limit; else stop recording after that many */
	unsigned per_thread; /* records per thread buffer; 0: IOTRACE_PER_THREAD */
};

#define IOTRACE_PER_THREAD 4096
#define IOTRACE_PER_THREAD_MAX (1u << 20)
#define IOTRACE_MAX_BUFS 64

/* Totals of a session (also in the dump). */
struct iotrace_info {
	uint64_t recorded;    /* events accepted (filter passed, under the limit) */
	uint64_t overwritten; /* lost to a full per-thread buffer (oldest first) */
	uint64_t dropped;     /* lost: no buffer left for a new thread, or no memory */
	uint64_t limited;     /* not recorded: past max_events */
	uint64_t filtered;    /* not recorded: another inode */
	unsigned threads;     /* buffers in use */
	int64_t stop_ts;      /* when recording stopped (CLOCK_MONOTONIC ns), 0 if never */
	bool on;
	struct iotrace_opts opts;
};

struct iotrace_buf;

/* A tracer. The members are private to trace.c except `on` (for IOTRACE). */
struct iotrace {
	_Atomic bool on;
	/* the rest: see trace.c */
	struct iotrace_priv *priv;
};

/* Record one event if tracing is on: one predictable branch when off. */
#define IOTRACE(t, kind, id, obj, a, b, c)                                                         \
	do {                                                                                       \
		if (__builtin_expect(atomic_load_explicit(&(t)->on, memory_order_relaxed), 0))     \
			iotrace_emit((t), (kind), (id), (obj), (a), (b), (c), 0);                  \
	} while (0)

/* A new, stopped tracer (no buffers yet). 0 or -ENOMEM. */
int iotrace_new(struct iotrace **out);
/* Precondition: stopped or not; no thread records into t any more. */
void iotrace_free(struct iotrace *t);
/* The same for a tracer embedded in a larger struct (ioctx keeps its own
   next to its hot fields: IOTRACE is then a single load). */
int iotrace_init(struct iotrace *t);
void iotrace_destroy(struct iotrace *t);

/* Clear what was recorded and start recording with o (NULL: defaults).
   0, or -EINVAL for a bad option. Precondition: none (restarts if on). */
int iotrace_start(struct iotrace *t, const struct iotrace_opts *o);
/* Stop recording and wait until no thread is inside iotrace_emit. */
void iotrace_stop(struct iotrace *t);

/* The slow path of IOTRACE. ts 0: now. Precondition: none. Cold: the
   compiler lays the call out of the hot path and keeps its callers small
   enough to inline. */
__attribute__((cold)) void iotrace_emit(struct iotrace *t, enum iotrace_kind kind, uint64_t id,
					uint64_t obj, int64_t a, int64_t b, int64_t c, int64_t ts);

/* CLOCK_MONOTONIC in ns (the records' clock). */
int64_t iotrace_now(void);

/*
 * Everything recorded, oldest first (by ts, then per-thread order), into a
 * malloc'd array (*recs, *n; free() it) and the totals into *info (may be
 * NULL). Stops the tracer first if it is on (info->on says it was).
 * 0 or -ENOMEM.
 */
int iotrace_snapshot(struct iotrace *t, struct iotrace_rec **recs, size_t *n,
		     struct iotrace_info *info);

/* "get", "submit", ... ("?" out of range): the names used in the dump. */
const char *iotrace_kind_name(unsigned kind);
/* "returned", "stored", "kept_first", "dropped". */
const char *iotrace_prop_name(int64_t prop);

/*
 * The Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing) of recs:
 * one track per iocb with its events as instants (errors also as global
 * instants), the submission and device spans as slices, its reference
 * count as a counter track; info and semantics (may be NULL) as metadata.
 * Keeps the newest records that fit in max_bytes (0: no limit) and says
 * how many it left out. Writes through put (returns 0 or a negative errno,
 * which ends the writing). Returns 0 or put's error.
 */
int iotrace_write_json(const struct iotrace_rec *recs, size_t n, const struct iotrace_info *info,
		       const char *semantics, size_t max_bytes,
		       int (*put)(void *arg, const char *s, size_t len), void *arg);

#endif /* EIOCBFS_IOCTX_TRACE_H */
