/*
 * ioctx.h: the kernel AIO completion model (kioctx / kiocb / io_event ring).
 *
 * Layer: the bottom of eiocbfs. Calls only libc and pthreads; called by the
 * device backend (ioctx/aio_dev.*) and by the filesystem (fs/). No FUSE.
 * The contract is docs/semantics.md; rule numbers R1-R7 are cited below.
 *
 * Life cycle of an iocb (one idiom, every caller follows it):
 *
 *   ioctx_get_req(ctx, &iocb)        users = 1: the submission reference (R1)
 *   fill iocb->user_data, obj, ops, priv, opcode, buf, nbytes, offset
 *       (before its handle is shown to another thread, e.g. a canceller)
 *   ioctx_submit(ctx, iocb)          calls iocb->ops->submit (R2), which:
 *       - returns a result >= 0 or an error < 0 (synchronous: ioctx_submit
 *         completes the iocb with it), or
 *       - starts device I/O: ioctx_iocb_get() once per in-flight device I/O
 *         (or ioctx_dio_init() once for a group), keeps ioctx_handle(iocb),
 *         and returns -EIOCBQUEUED; errors found after that point go through
 *         ioctx_propagate_error() (R3) so -EIOCBQUEUED survives.
 *     then ioctx_submit drops the submission reference.
 *   device I/O done: ioctx_complete(ctx, handle, res, res2)   (R4)
 *       (or ioctx_dio_end() for each I/O of a group; the last completes)
 *   last reference dropped (inside ioctx_complete/ioctx_put/ioctx_submit):
 *       exactly one event {obj, user_data, pending_err ?: res, res2} enters
 *       the ring (R5), then the slot is poisoned and its generation bumped.
 *   consumer: ioctx_getevents() (or eventfd / notify callback + getevents).
 *
 * States of a slot: FREE -> LIVE (get_req) -> COMPLETED (complete recorded
 * results; INSERTED unless CANCELLED) -> FREE (last put: event, poison, gen++).
 * ioctx_cancel pins a live iocb while its cancel method runs; a pin is not
 * a reference (R1 counts stay those of the submitter and device I/Os), it
 * only delays the last put's work until the pin is released.
 *
 * Modes (enum ioctx_semantics, fixed at setup, docs/semantics.md section 4):
 *   IOCTX_DEFERRED  the patch: the event is written only by the last
 *                   reference drop; ioctx_propagate_error queues the error.
 *   IOCTX_LEGACY    2.6.20: ioctx_propagate_error returns the error, so
 *                   ioctx_submit completes the iocb itself, and the event
 *                   is written at complete() time. Device I/O still in
 *                   flight: the submitter's completion consumes the device's
 *                   reference (as the kernel's did), the iocb is freed, and
 *                   the device completion arrives through a stale handle.
 *                   Device already done: the submitter's completion finds
 *                   a completed iocb. Either way the second completion is
 *                   detected, counted and reported through params.oops; it
 *                   writes no event, drops no reference, frees nothing.
 *   IOCTX_DROP      ioctx_propagate_error discards the error (counted).
 *   IOCTX_MAINLINE  Linux since 2019: the core behaves as in deferred (the
 *                   event at the last reference drop, R3 for the errors
 *                   that still reach the event: an O_SYNC sync failure);
 *                   what differs is the submitter's: a failed page-cache
 *                   invalidation is recorded as the file's write-back
 *                   error instead of being propagated (fs/io/direct.c).
 *
 * The oops record of a late completion through a stale handle names both
 * results, however often the slot was reused meanwhile: when a legacy
 * completion consumed a device's reference, the freed iocb leaves a small
 * record (handle, obj, first result) that the late completion takes back
 * (at most nr records; beyond that the first result is reported lost).
 *
 * A submit method that returns -EIOCBQUEUED while holding no reference for
 * a completion (none taken, or all dropped without completing) would leave
 * its request with no event ever: ioctx_submit catches it, counts it in
 * stats.bugs, logs a "bug" line through params.oops and completes the
 * iocb with -EIO (a queued error wins, R5).
 *
 * iocbs live in a slab owned by the ctx for its whole life (never freed
 * while the ctx lives); a handle is slot index + generation, so a completion
 * through a stale handle is detectable and harmless.
 *
 * Threads: every function may be called from any thread, except
 * ioctx_setup/ioctx_destroy. The ring producer runs under the ctx lock;
 * consumers (ioctx_getevents) are lock-free. No function allocates memory
 * after ioctx_setup (except the tracer, while tracing is on: trace.h). No callback (ops->*, notify,
 * oops) is called with the ctx lock held, so callbacks may call back into ioctx.
 */
#ifndef EIOCBFS_IOCTX_H
#define EIOCBFS_IOCTX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifndef EIOCBQUEUED
#define EIOCBQUEUED 529 /* the kernel's value (include/linux/errno.h) */
#endif

struct ioctx;
struct ioctx_iocb;

enum ioctx_semantics {
	IOCTX_DEFERRED = 0, /* default: the 2007 patch, error in the event */
	IOCTX_LEGACY,	    /* 2.6.20: double completion, detected */
	IOCTX_DROP,	    /* post-submission errors discarded */
	IOCTX_MAINLINE,	    /* Linux today: deferred insertion; the submitter
			       keeps invalidation failures out of the event */
};
#define IOCTX_NR_MODES 4

/* The kernel's struct io_event. */
struct ioctx_event {
	uint64_t obj;  /* iocb->obj */
	uint64_t data; /* iocb->user_data */
	int64_t res;   /* pending_err if non-zero, else the completion's res */
	int64_t res2;
};

/* Slot index (low 32 bits) + generation (high 32 bits); never 0. */
typedef uint64_t ioctx_handle_t;
#define IOCTX_HANDLE_NONE ((ioctx_handle_t)0)

/* Methods of a submitter (a backend or the filesystem). */
struct ioctx_ops {
	/*
	 * Start the request (R2). Called by ioctx_submit without the ctx lock,
	 * with the submission reference held. Returns a result >= 0 or an
	 * error < 0 when the request is done (synchronous), or -EIOCBQUEUED
	 * after taking one reference per in-flight device I/O (ioctx_iocb_get
	 * or ioctx_dio_init): their completion will call ioctx_complete.
	 * A method that took device references must return -EIOCBQUEUED
	 * (route later errors through ioctx_propagate_error).
	 */
	int64_t (*submit)(struct ioctx *ctx, struct ioctx_iocb *iocb);
	/*
	 * Optional (R6). Try to abort the device I/O. Called by ioctx_cancel
	 * without the ctx lock, with an extra reference held by the core and
	 * the iocb already marked CANCELLED. Return 0 if cancelled (res may be
	 * set: it is prefilled with obj, data, res = -ECANCELED, res2 = 0),
	 * or < 0 (e.g. -EAGAIN) if too late. Either way the device I/O's
	 * reference is still dropped later by its ioctx_complete/ioctx_put.
	 */
	int (*cancel)(struct ioctx *ctx, struct ioctx_iocb *iocb, struct ioctx_event *res);
};

/* iocb flags (core-owned; the kernel's KIF_* values where they exist). */
#define IOCTX_F_CANCELLED 0x02u /* R6: no ring event on completion */
#define IOCTX_F_INSERTED 0x04u	/* R4: results recorded, event due (R5) */
#define IOCTX_F_LIVE 0x08u	/* allocated (between get_req and last put) */
#define IOCTX_F_COMPLETED 0x10u /* complete() has run once */
#define IOCTX_F_EVENT 0x20u	/* the ring event has been written */

/*
 * One request. Public like liburing's structs: the submitter fills the
 * first block after ioctx_get_req and before ioctx_submit; the rest is
 * owned by the core (read-only, for tests and debugging; changed only
 * under the ctx lock).
 */
struct ioctx_iocb {
	/* submitter-owned: carried back in the event, and the request */
	uint64_t user_data;	     /* event.data */
	uint64_t obj;		     /* event.obj */
	const struct ioctx_ops *ops; /* method table (ops->submit required) */
	void *priv;		     /* the submitter's private pointer */
	int opcode;		     /* for the methods: e.g. read/write */
	void *buf;
	size_t nbytes;
	int64_t offset;

	/* core-owned */
	int users;	      /* references (R1) */
	int pins;	      /* ioctx_cancel holds it live (not a reference) */
	unsigned flags;	      /* IOCTX_F_* */
	int64_t res, res2;    /* recorded by the first complete() (R4) */
	int64_t pending_err;  /* first queued post-submission error (R3) */
	int owed;	      /* legacy: device references the submitter's own
				 completion consumed; each owes a late completion */
	int64_t freed_res;    /* event res of the previous generation (oops) */
	uint64_t freed_obj;   /* obj of the previous generation (trace) */
	int64_t trace_get_ts; /* when get_req ran, if tracing (trace.h); else 0 */
	uint32_t slot;	      /* index in the ctx slab */
	uint32_t gen;	      /* generation, bumped when the slot is freed */
	uint32_t next_free;   /* free list link */
};

struct ioctx_params {
	unsigned nr; /* ring size = max outstanding requests */
	enum ioctx_semantics mode;
	/* one-line oops records (double completions); NULL: to stderr */
	void (*oops)(void *arg, const char *line);
	void *oops_arg;
	/* called outside the lock after an event is inserted; may be NULL */
	void (*notify)(void *arg);
	void *notify_arg;
};

/* Counters, updated with atomics: readable at any time. */
struct ioctx_stats {
	uint64_t submitted;	     /* ioctx_submit calls */
	uint64_t completed;	     /* first completions (R4) */
	uint64_t events;	     /* events written to the ring */
	uint64_t propagated_errors;  /* errors queued by propagate_error (R3) */
	uint64_t double_completions; /* detected (legacy bug, or misuse) */
	uint64_t cancelled;	     /* successful ioctx_cancel */
	uint64_t inflight;	     /* live iocbs now */
	uint64_t dropped_errors;     /* errors discarded in drop mode */
	uint64_t reaped;	     /* events taken by getevents */
	uint64_t bugs;		     /* submit returned -EIOCBQUEUED holding no
					reference for a completion: answered -EIO */
};

/* Create a ctx of params->nr (1..1<<20) slots/events. 0 or -errno. */
int ioctx_setup(const struct ioctx_params *params, struct ioctx **out);

/* Free ctx. Precondition: no other thread uses ctx any more. */
void ioctx_destroy(struct ioctx *ctx);

/*
 * Allocate an iocb with users = 1, the submission reference (R1); its
 * submitter fields are zeroed. -EAGAIN when nr requests are outstanding
 * (live, or with an event not yet reaped): the ring never overflows.
 * Precondition: none.
 */
int ioctx_get_req(struct ioctx *ctx, struct ioctx_iocb **out);

/*
 * R2: call iocb->ops->submit; if it returned anything but -EIOCBQUEUED,
 * complete the iocb with that value (the submitter is its completion
 * path); then drop the submission reference. Returns the method's value.
 * Precondition: iocb from ioctx_get_req, not yet submitted, ops set.
 */
int64_t ioctx_submit(struct ioctx *ctx, struct ioctx_iocb *iocb);

/* The handle of a live iocb. Precondition: the caller holds a reference. */
static inline ioctx_handle_t ioctx_handle(const struct ioctx_iocb *iocb)
{
	return ((uint64_t)iocb->gen << 32) | iocb->slot;
}

/*
 * R1: one more reference, for an in-flight device I/O (or a group of
 * them); its completion calls ioctx_complete (or ioctx_put).
 * Precondition: the caller holds a reference (normally: inside submit).
 */
void ioctx_iocb_get(struct ioctx *ctx, struct ioctx_iocb *iocb);

/*
 * R3: an error found after submission. deferred: if existing is not
 * -EIOCBQUEUED return err; else queue err in pending_err (the first one
 * wins) and return -EIOCBQUEUED. legacy: return err (the 2.6.20 code).
 * drop: return existing, count the error. Precondition: err < 0 and the
 * caller holds a reference: the submission path (inside ops->submit), or
 * a device completion path before its ioctx_complete (e.g. the second
 * invalidation of P2, passing existing = -EIOCBQUEUED).
 */
int64_t ioctx_propagate_error(struct ioctx *ctx, struct ioctx_iocb *iocb, int64_t existing,
			      int64_t err);

/*
 * R4: record res/res2 and mark INSERTED (unless CANCELLED), then drop one
 * reference; the event is written by the last drop (R5; legacy: now).
 * A completion of an already completed iocb, or through a stale handle,
 * is a detected double completion: counted, oops, no event, no drop.
 * Precondition: the caller owns the reference of the device I/O.
 */
void ioctx_complete(struct ioctx *ctx, ioctx_handle_t h, int64_t res, int64_t res2);

/*
 * Drop one reference; the last drop writes the event if INSERTED (R5)
 * and frees the slot. A put through a stale handle is detected (oops).
 * Precondition: the caller owns the reference it drops.
 */
void ioctx_put(struct ioctx *ctx, ioctx_handle_t h);

/*
 * R6: cancel a request that has not completed: call ops->cancel; on
 * success the request gets no ring event and *result receives {obj, data,
 * res from the method (default -ECANCELED), res2}. Returns 0; -EINVAL for
 * a stale handle, an already cancelled request or no cancel method;
 * -EAGAIN when too late (completed: its event is or will be in the ring,
 * carrying any post-submission error) or the method could not cancel.
 * Precondition: none (any handle is accepted).
 */
int ioctx_cancel(struct ioctx *ctx, ioctx_handle_t h, struct ioctx_event *result);

/*
 * io_getevents(2): wait until at least min_nr events are available, then
 * take up to max_nr. timeout is relative; NULL waits forever; {0,0}
 * polls. Returns the number taken (may be < min_nr on timeout) or -EINVAL.
 * Lock-free; any number of consumer threads. Precondition: none.
 */
int ioctx_getevents(struct ioctx *ctx, long min_nr, long max_nr, struct ioctx_event *events,
		    const struct timespec *timeout);

/*
 * An eventfd (non-blocking, close-on-exec) incremented by 1 per event
 * inserted from now on. Created on first call (later calls return the same
 * fd); closed by ioctx_destroy. -errno on failure.
 */
int ioctx_eventfd(struct ioctx *ctx);

/* Snapshot of the counters, at any time, without stopping I/O. */
void ioctx_get_stats(struct ioctx *ctx, struct ioctx_stats *st);

/*
 * The ctx's lifecycle tracer (ioctx/trace.h), created by ioctx_setup and
 * freed by ioctx_destroy; stopped until iotrace_start. A submitter records
 * its own events (device I/O, reply) into it with IOTRACE().
 */
struct iotrace *ioctx_trace(struct ioctx *ctx);

/* The mode the ctx was set up with. */
enum ioctx_semantics ioctx_mode(struct ioctx *ctx);

/* "deferred"/"mainline"/"legacy"/"drop" -> *out; 0 or -EINVAL. */
int ioctx_parse_semantics(const char *name, enum ioctx_semantics *out);

/* The name of a mode ("deferred", ...), "?" if out of range. */
const char *ioctx_semantics_name(enum ioctx_semantics mode);

/*
 * Fan-out helper: one request, n device I/Os, one reference for the group
 * (R1). Like the kernel's struct dio it lives outside the iocb (in the
 * backend's per-request memory) and holds the iocb's handle: completion is
 * reported once, after the last I/O, with the first error, else the sum of
 * the byte counts; a stale handle (legacy) is thus detected once.
 */
struct ioctx_dio {
	ioctx_handle_t handle;
	_Atomic int remaining; /* I/Os not yet ended */
	_Atomic int64_t error; /* first error, 0 if none */
	_Atomic int64_t bytes; /* sum of the non-negative results */
};

/*
 * Take the group's reference and arm dio for n (>= 1) I/Os.
 * Precondition: the caller holds a reference to iocb (inside submit).
 */
void ioctx_dio_init(struct ioctx *ctx, struct ioctx_dio *dio, struct ioctx_iocb *iocb, int n);

/*
 * One I/O of the group ended with res (bytes or -errno). The last one
 * completes the iocb (ioctx_complete) and returns 1; others return 0.
 * After 1 is returned dio may be freed. Precondition: called n times.
 */
int ioctx_dio_end(struct ioctx *ctx, struct ioctx_dio *dio, int64_t res);

#endif /* EIOCBFS_IOCTX_H */
