/*
 * ioctx.c: the kioctx/kiocb model: slab of iocbs, references, completion
 * (R1-R6), and the event ring's accounting and wake-ups.
 *
 * Layer: bottom of eiocbfs; calls ring.h, trace.h (lifecycle trace points,
 * one branch each when tracing is off), libc, pthreads and futex(2) only.
 * Order of this file: events (insert, reap, wait), slab and references
 * (get_req, put, complete), submission, cancellation, the fan-out helper,
 * setup and statistics.
 *
 * Locking: ctx->lock protects the slab (free list, every core-owned iocb
 * field) and the ring producer (tail). Consumers take events without the
 * lock (CAS on head). Callbacks run after the lock is released: work found
 * under the lock is collected in a struct post and done by post_run().
 */
#include "ioctx.h"
#include "ring.h"
#include "trace.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IOCTX_NR_MAX (1u << 20)
#define SLOT_NONE UINT32_MAX
#define POISON_BYTE 0x6b /* the kernel's POISON_FREE */
#define OOPS_MAX 192

/*
 * What a late completion through a stale handle needs for its oops record:
 * the first result of the generation it names. Kept for iocbs freed while
 * a legacy completion had consumed a device's reference (iocb->owed),
 * in a chained hash of nr preallocated nodes, under the ctx lock.
 */
struct late {
	ioctx_handle_t h;
	uint64_t obj;
	int64_t first_res;
	int owed;      /* late completions still expected */
	uint32_t next; /* chain, or free list */
};

struct ioctx {
	/* set at setup, then read-only */
	enum ioctx_semantics mode;
	unsigned nr;
	struct ioctx_iocb *slab;
	void (*oops)(void *, const char *);
	void *oops_arg;
	void (*notify)(void *);
	void *notify_arg;
	/* the lifecycle tracer: a trace point is one load and a branch when off */
	struct iotrace tracer;

	/* producer side: under lock */
	pthread_mutex_t lock;
#ifndef NDEBUG
	_Atomic unsigned long lock_owner; /* for assert_locked() */
#endif
	uint32_t free_head;
	uint32_t live;
	struct late *late;   /* nr nodes */
	uint32_t *late_head; /* late_mask + 1 chains */
	uint32_t late_mask;
	uint32_t late_free;	      /* free list of late nodes */
	_Atomic unsigned outstanding; /* live + events not reaped (<= nr) */

	/* the ring: size >= nr; producer under lock, consumers lock-free */
	struct ring ring;
	_Alignas(64) _Atomic int waiters; /* consumers about to sleep */
	_Atomic uint32_t wake_seq;	  /* futex word */
	_Atomic int efd;		  /* eventfd, -1 until ioctx_eventfd() */

	/* statistics: written under lock (plain load+store) unless noted */
	_Alignas(64) _Atomic uint64_t st_submitted, st_completed, st_events, st_double,
	    st_cancelled, st_inflight;
	_Atomic uint64_t st_propagated, st_dropped, st_reaped; /* fetch_add */
	_Atomic uint64_t st_bugs;
};

/* Work found under the lock, done after it is released. */
struct post {
	unsigned events;     /* events inserted */
	char oops[OOPS_MAX]; /* one oops record, or "" */
};
/* Only what is read back: no 200-byte memset on the request path. */
static inline void post_init(struct post *p)
{
	p->events = 0;
	p->oops[0] = '\0';
}

/* ---- lock ------------------------------------------------------------ */

static void ctx_lock(struct ioctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
#ifndef NDEBUG
	atomic_store_explicit(&ctx->lock_owner, (unsigned long)pthread_self(),
			      memory_order_relaxed);
#endif
}

static void ctx_unlock(struct ioctx *ctx)
{
#ifndef NDEBUG
	atomic_store_explicit(&ctx->lock_owner, 0, memory_order_relaxed);
#endif
	pthread_mutex_unlock(&ctx->lock);
}

#define assert_locked(ctx)                                                                         \
	assert(atomic_load_explicit(&(ctx)->lock_owner, memory_order_relaxed) ==                   \
	       (unsigned long)pthread_self())

/* Counters written only under the lock: no read-modify-write needed. */
static inline void stat_inc_locked(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- trace points (ioctx/trace.h) ------------------------------------ */

/* The slow path of a trace point on a live iocb, out of line and cold: the
 * hot path keeps one load of the flag and one branch, and no argument set-up
 * or saved register for the call (measured: see tools/bench/bench-ioctx). */
static __attribute__((noinline, cold)) void trace_iocb(struct ioctx *ctx,
						       const struct ioctx_iocb *iocb,
						       enum iotrace_kind kind, int64_t a, int64_t b,
						       int64_t c)
{
	iotrace_emit(&ctx->tracer, kind, ioctx_handle(iocb), iocb->obj, a, b, c, 0);
}

/* get (its time kept by get_req: obj, the filter's key, is set only now)
 * and submit. We hold the submission reference: the fields are stable. */
static __attribute__((noinline, cold)) void trace_submit(struct ioctx *ctx,
							 const struct ioctx_iocb *iocb)
{
	if (iocb->trace_get_ts)
		iotrace_emit(&ctx->tracer, IOT_GET, ioctx_handle(iocb), iocb->obj, 1, 0, 0,
			     iocb->trace_get_ts);
	iotrace_emit(&ctx->tracer, IOT_SUBMIT, ioctx_handle(iocb), iocb->obj, iocb->opcode,
		     (int64_t)iocb->nbytes, iocb->offset, 0);
}

static inline bool tracing(const struct ioctx *ctx)
{
	return __builtin_expect(atomic_load_explicit(&ctx->tracer.on, memory_order_relaxed), 0);
}

#define TRACE_IOCB(ctx, iocb, kind, a, b, c)                                                       \
	do {                                                                                       \
		if (tracing(ctx))                                                                  \
			trace_iocb((ctx), (iocb), (kind), (a), (b), (c));                          \
	} while (0)

/* ---- ring: producer (under the lock) --------------------------------- */

/* The event res an iocb delivers: the queued error wins (R5). */
static inline int64_t event_res(const struct ioctx_iocb *iocb)
{
	return iocb->pending_err ? iocb->pending_err : iocb->res;
}

/* Write iocb's event into the ring (R5). The only ring writer. */
static void ring_insert_locked(struct ioctx *ctx, struct ioctx_iocb *iocb, struct post *p)
{
	assert_locked(ctx);
	assert(!(iocb->flags & IOCTX_F_EVENT));
	struct ioctx_event ev = {
	    .obj = iocb->obj, .data = iocb->user_data, .res = event_res(iocb), .res2 = iocb->res2};
	ring_push(&ctx->ring, &ev);
	TRACE_IOCB(ctx, iocb, IOT_RING_INSERT, ev.res, ev.res2, 0);
	iocb->flags |= IOCTX_F_EVENT;
	stat_inc_locked(&ctx->st_events);
	p->events++;
}

static long sys_futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)uaddr, op, val, ts, NULL, 0);
}

/* After the lock: wake consumers, signal the eventfd, notify; emit oops. */
static void post_run(struct ioctx *ctx, struct post *p)
{
	if (p->oops[0]) {
		if (ctx->oops)
			ctx->oops(ctx->oops_arg, p->oops);
		else
			fprintf(stderr, "%s\n", p->oops);
	}
	if (!p->events)
		return;
	/* seq_cst, after the tail store of ring_push: see ioctx_getevents.
	 * Each event can satisfy one waiter; a waiter woken for nothing
	 * (another consumer took the event) just waits again. */
	if (atomic_load_explicit(&ctx->waiters, memory_order_seq_cst) > 0) {
		atomic_fetch_add_explicit(&ctx->wake_seq, 1, memory_order_seq_cst);
		sys_futex(&ctx->wake_seq, FUTEX_WAKE_PRIVATE,
			  p->events < INT_MAX ? p->events : INT_MAX, NULL);
	}
	int fd = atomic_load_explicit(&ctx->efd, memory_order_acquire);
	if (fd >= 0) {
		uint64_t n = p->events;
		ssize_t w = write(fd, &n, sizeof(n));
		(void)w; /* only fails on counter overflow: readers are behind */
	}
	if (ctx->notify)
		ctx->notify(ctx->notify_arg);
}

/* ---- ring: consumers (lock-free, any number) ------------------------- */

/* Take up to max events, and give their outstanding slots back. */
static long ring_reap(struct ioctx *ctx, struct ioctx_event *ev, long max)
{
	if (max <= 0)
		return 0;
	long n = ring_pop(&ctx->ring, ev, max);
	if (n > 0) {
		/* release: our reads of the entries happen before the get_req
		 * (acquire) that lets a producer write over them */
		atomic_fetch_sub_explicit(&ctx->outstanding, (unsigned)n, memory_order_release);
		atomic_fetch_add_explicit(&ctx->st_reaped, (uint64_t)n, memory_order_relaxed);
	}
	return n;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_ns(&ts);
}

int ioctx_getevents(struct ioctx *ctx, long min_nr, long max_nr, struct ioctx_event *events,
		    const struct timespec *timeout)
{
	if (min_nr < 0 || max_nr < 0 || min_nr > max_nr || max_nr > INT_MAX)
		return -EINVAL;
	if (timeout &&
	    (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))
		return -EINVAL;

	long got = ring_reap(ctx, events, max_nr);
	if (got >= min_nr || (timeout && ts_ns(timeout) == 0))
		return (int)got;
	int64_t deadline = timeout ? now_ns() + ts_ns(timeout) : 0;

	for (;;) {
		struct timespec rel, *relp = NULL;
		if (timeout) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				return (int)got;
			rel.tv_sec = left / 1000000000;
			rel.tv_nsec = left % 1000000000;
			relp = &rel;
		}
		/* Announce ourselves before checking for events (seq_cst, see
		 * ring_push in ring.h): either the producer sees waiters > 0
		 * and bumps wake_seq, or we see its tail here. */
		atomic_fetch_add_explicit(&ctx->waiters, 1, memory_order_seq_cst);
		uint32_t seq = atomic_load_explicit(&ctx->wake_seq, memory_order_seq_cst);
		if (ring_empty(&ctx->ring))
			sys_futex(&ctx->wake_seq, FUTEX_WAIT_PRIVATE, seq, relp);
		atomic_fetch_sub_explicit(&ctx->waiters, 1, memory_order_seq_cst);

		got += ring_reap(ctx, events + got, max_nr - got);
		if (got >= min_nr)
			return (int)got;
	}
}

int ioctx_eventfd(struct ioctx *ctx)
{
	int fd = atomic_load_explicit(&ctx->efd, memory_order_acquire);
	if (fd >= 0)
		return fd;
	ctx_lock(ctx);
	fd = atomic_load_explicit(&ctx->efd, memory_order_relaxed);
	if (fd < 0) {
		fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		else
			atomic_store_explicit(&ctx->efd, fd, memory_order_release);
	}
	ctx_unlock(ctx);
	return fd;
}

/* ---- slab and references --------------------------------------------- */

static inline uint32_t h_slot(ioctx_handle_t h)
{
	return (uint32_t)h;
}
static inline uint32_t h_gen(ioctx_handle_t h)
{
	return (uint32_t)(h >> 32);
}

/* The live iocb a handle names, or NULL if stale. Caller holds the lock. */
static struct ioctx_iocb *lookup_locked(struct ioctx *ctx, ioctx_handle_t h)
{
	assert_locked(ctx);
	if (h_slot(h) >= ctx->nr)
		return NULL;
	struct ioctx_iocb *iocb = &ctx->slab[h_slot(h)];
	if (!(iocb->flags & IOCTX_F_LIVE) || iocb->gen != h_gen(h) ||
	    iocb->users == 0) /* only pinned: no reference left to drop */
		return NULL;
	return iocb;
}

/* ---- late completions' records (legacy) ------------------------------ */

static inline uint32_t late_chain(const struct ioctx *ctx, ioctx_handle_t h)
{
	return (uint32_t)((h * 0x9e3779b97f4a7c15ULL) >> 32) & ctx->late_mask;
}

/* A freed iocb still owes late completions: keep its first result for
   their oops records. False when all nr nodes are taken. */
static bool late_add_locked(struct ioctx *ctx, ioctx_handle_t h, uint64_t obj, int64_t res,
			    int owed)
{
	assert_locked(ctx);
	uint32_t i = ctx->late_free;
	if (i == SLOT_NONE)
		return false;
	struct late *l = &ctx->late[i];
	ctx->late_free = l->next;
	*l = (struct late){.h = h, .obj = obj, .first_res = res, .owed = owed};
	uint32_t c = late_chain(ctx, h);
	l->next = ctx->late_head[c];
	ctx->late_head[c] = i;
	return true;
}

/* The record of h for one late completion (*out), dropped with its last. */
static bool late_take_locked(struct ioctx *ctx, ioctx_handle_t h, struct late *out)
{
	assert_locked(ctx);
	uint32_t *link = &ctx->late_head[late_chain(ctx, h)];
	for (uint32_t i = *link; i != SLOT_NONE; link = &ctx->late[i].next, i = *link) {
		struct late *l = &ctx->late[i];
		if (l->h != h)
			continue;
		*out = *l;
		if (--l->owed == 0) {
			*link = l->next;
			l->next = ctx->late_free;
			ctx->late_free = i;
		}
		return true;
	}
	return false;
}

/* A detected double completion (or reference bug: what = "put", "get")
 * through a stale handle. Caller holds the lock. The slot keeps the result
 * of the generation it last freed, for the record. */
static void stale_locked(struct ioctx *ctx, ioctx_handle_t h, const char *what, int64_t res,
			 struct post *p)
{
	assert_locked(ctx);
	stat_inc_locked(&ctx->st_double);
	struct late l;
	if (strcmp(what, "double completion") == 0 && late_take_locked(ctx, h, &l)) {
		IOTRACE(&ctx->tracer, IOT_DOUBLE, h, l.obj, res, l.first_res, 0);
		snprintf(p->oops, sizeof(p->oops),
			 "eiocbfs: oops: %s of iocb #%u gen %u after free: "
			 "first res %lld, second res %lld",
			 what, h_slot(h), h_gen(h), (long long)l.first_res, (long long)res);
		return;
	}
	if (h_slot(h) < ctx->nr && strcmp(what, "double completion") == 0) {
		const struct ioctx_iocb *s = &ctx->slab[h_slot(h)];
		bool freed = s->gen == h_gen(h) + 1;
		IOTRACE(&ctx->tracer, IOT_DOUBLE, h, freed ? s->freed_obj : s->obj, res,
			freed ? s->freed_res : event_res(s), 0);
	}
	char second[48] = "";
	if (strcmp(what, "double completion") == 0)
		snprintf(second, sizeof(second), ", second res %lld", (long long)res);
	if (h_slot(h) >= ctx->nr) {
		snprintf(p->oops, sizeof(p->oops),
			 "eiocbfs: oops: %s of unknown iocb handle %#llx%s", what,
			 (unsigned long long)h, second);
		return;
	}
	const struct ioctx_iocb *s = &ctx->slab[h_slot(h)];
	if (s->gen == h_gen(h) && (s->flags & IOCTX_F_LIVE))
		snprintf(p->oops, sizeof(p->oops),
			 "eiocbfs: oops: %s of iocb #%u gen %u with no reference "
			 "left: first res %lld%s",
			 what, h_slot(h), h_gen(h), (long long)event_res(s), second);
	else if (s->gen == h_gen(h) + 1)
		snprintf(p->oops, sizeof(p->oops),
			 "eiocbfs: oops: %s of iocb #%u gen %u after free: "
			 "first res %lld%s",
			 what, h_slot(h), h_gen(h), (long long)s->freed_res, second);
	else
		snprintf(p->oops, sizeof(p->oops),
			 "eiocbfs: oops: %s of iocb #%u gen %u after free "
			 "(slot now gen %u, first res not kept)%s",
			 what, h_slot(h), h_gen(h), s->gen, second);
}

/* R5: the last reference is gone: insert the event if one is due, then
 * poison the slot, bump its generation and put it on the free list. */
static void free_locked(struct ioctx *ctx, struct ioctx_iocb *iocb, struct post *p)
{
	assert_locked(ctx);
	if ((iocb->flags & (IOCTX_F_INSERTED | IOCTX_F_EVENT)) == IOCTX_F_INSERTED)
		ring_insert_locked(ctx, iocb, p);
	if (!(iocb->flags & IOCTX_F_EVENT)) /* no event will give it back */
		atomic_fetch_sub_explicit(&ctx->outstanding, 1, memory_order_relaxed);

	iocb->freed_res = event_res(iocb);
	iocb->freed_obj = iocb->obj;
	if (iocb->owed > 0)
		late_add_locked(ctx, ioctx_handle(iocb), iocb->obj, iocb->freed_res, iocb->owed);
	iocb->owed = 0;
	memset(iocb, POISON_BYTE, offsetof(struct ioctx_iocb, users));
	iocb->ops = NULL;
	iocb->res = iocb->res2 = iocb->pending_err = (int64_t)0x6b6b6b6b6b6b6b6bULL;
	iocb->flags = 0;
	if (++iocb->gen == 0)
		iocb->gen = 1; /* handles are never 0 */
	iocb->next_free = ctx->free_head;
	ctx->free_head = iocb->slot;
	ctx->live--;
	atomic_store_explicit(&ctx->st_inflight, ctx->live, memory_order_relaxed);
}

/* Drop one reference (which: enum iotrace_ref, for the trace). Caller
 * holds the lock and owns the reference. The last one frees the iocb,
 * unless ioctx_cancel pins it: then the unpin does. */
static inline void put_locked(struct ioctx *ctx, struct ioctx_iocb *iocb, struct post *p, int which)
{
	assert_locked(ctx);
	assert(iocb->flags & IOCTX_F_LIVE);
	assert(iocb->users > 0);
	--iocb->users;
	TRACE_IOCB(ctx, iocb, IOT_REF_PUT, iocb->users, which, 0);
	if (iocb->users > 0 || iocb->pins > 0)
		return;
	free_locked(ctx, iocb, p);
}

static void unpin_locked(struct ioctx *ctx, struct ioctx_iocb *iocb, struct post *p)
{
	assert_locked(ctx);
	assert(iocb->pins > 0 && iocb->users >= 0);
	if (--iocb->pins == 0 && iocb->users == 0)
		free_locked(ctx, iocb, p);
}

/*
 * R4 on a live iocb: record res/res2 and mark INSERTED unless CANCELLED
 * (legacy: write the event now), then drop one reference. A second
 * completion is detected: counted, oops, no event, no reference dropped
 * (it owns none). Returns false for a double completion.
 */
static bool complete_locked(struct ioctx *ctx, struct ioctx_iocb *iocb, int64_t res, int64_t res2,
			    struct post *p)
{
	assert_locked(ctx);
	if (iocb->flags & IOCTX_F_COMPLETED) {
		if (iocb->owed > 0)
			iocb->owed--; /* the late completion arrived before the free */
		stat_inc_locked(&ctx->st_double);
		TRACE_IOCB(ctx, iocb, IOT_DOUBLE, res, event_res(iocb), 0);
		snprintf(p->oops, sizeof(p->oops),
			 "eiocbfs: oops: double completion of iocb #%u gen %u: "
			 "first res %lld, second res %lld",
			 iocb->slot, iocb->gen, (long long)event_res(iocb), (long long)res);
		return false;
	}
	iocb->flags |= IOCTX_F_COMPLETED;
	iocb->res = res;
	iocb->res2 = res2;
	stat_inc_locked(&ctx->st_completed);
	TRACE_IOCB(ctx, iocb, IOT_COMPLETE, res, res2, !!(iocb->flags & IOCTX_F_CANCELLED));
	if (!(iocb->flags & IOCTX_F_CANCELLED)) {
		iocb->flags |= IOCTX_F_INSERTED;
		if (ctx->mode == IOCTX_LEGACY)
			ring_insert_locked(ctx, iocb, p); /* 2.6.20 */
	}
	put_locked(ctx, iocb, p, IOT_REF_COMPLETION);
	return true;
}

int ioctx_get_req(struct ioctx *ctx, struct ioctx_iocb **out)
{
	ctx_lock(ctx);
	/* acquire: pairs with the release in ring_reap, the entries a
	 * consumer read are free to be rewritten */
	if (atomic_load_explicit(&ctx->outstanding, memory_order_acquire) >= ctx->nr ||
	    ctx->free_head == SLOT_NONE) {
		ctx_unlock(ctx);
		return -EAGAIN;
	}
	atomic_fetch_add_explicit(&ctx->outstanding, 1, memory_order_relaxed);
	struct ioctx_iocb *iocb = &ctx->slab[ctx->free_head];
	ctx->free_head = iocb->next_free;
	ctx->live++;
	atomic_store_explicit(&ctx->st_inflight, ctx->live, memory_order_relaxed);
	memset(iocb, 0, offsetof(struct ioctx_iocb, users));
	iocb->users = 1; /* R1: the submission reference */
	iocb->pins = 0;
	iocb->owed = 0;
	iocb->flags = IOCTX_F_LIVE;
	iocb->res = iocb->res2 = iocb->pending_err = 0;
	iocb->next_free = SLOT_NONE;
	/* the get event waits for submit, when obj (the filter's key) is set */
	iocb->trace_get_ts = tracing(ctx) ? iotrace_now() : 0;
	ctx_unlock(ctx);
	*out = iocb;
	return 0;
}

void ioctx_iocb_get(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	struct post p;
	post_init(&p);
	ctx_lock(ctx);
	if ((iocb->flags & IOCTX_F_LIVE) && iocb->users > 0) {
		iocb->users++;
		TRACE_IOCB(ctx, iocb, IOT_REF_GET, iocb->users, 0, 0);
	} else {
		stale_locked(ctx, ioctx_handle(iocb), "get", 0, &p);
	}
	ctx_unlock(ctx);
	post_run(ctx, &p);
}

void ioctx_put(struct ioctx *ctx, ioctx_handle_t h)
{
	struct post p;
	post_init(&p);
	ctx_lock(ctx);
	struct ioctx_iocb *iocb = lookup_locked(ctx, h);
	if (iocb)
		put_locked(ctx, iocb, &p, IOT_REF_OTHER);
	else
		stale_locked(ctx, h, "put", 0, &p);
	ctx_unlock(ctx);
	post_run(ctx, &p);
}

void ioctx_complete(struct ioctx *ctx, ioctx_handle_t h, int64_t res, int64_t res2)
{
	struct post p;
	post_init(&p);
	ctx_lock(ctx);
	struct ioctx_iocb *iocb = lookup_locked(ctx, h);
	if (iocb)
		complete_locked(ctx, iocb, res, res2, &p);
	else
		stale_locked(ctx, h, "double completion", res, &p);
	ctx_unlock(ctx);
	post_run(ctx, &p);
}

int64_t ioctx_propagate_error(struct ioctx *ctx, struct ioctx_iocb *iocb, int64_t existing,
			      int64_t err)
{
	assert(err < 0);
	switch (ctx->mode) {
	case IOCTX_LEGACY: /* 2.6.20: the error overwrites -EIOCBQUEUED */
		TRACE_IOCB(ctx, iocb, IOT_PROPAGATE, existing, err, IOT_PROP_RETURNED);
		return err;
	case IOCTX_DROP:
		atomic_fetch_add_explicit(&ctx->st_dropped, 1, memory_order_relaxed);
		TRACE_IOCB(ctx, iocb, IOT_PROPAGATE, existing, err, IOT_PROP_DROPPED);
		return existing;
	case IOCTX_DEFERRED:
	case IOCTX_MAINLINE:
	default:
		break;
	}
	if (existing != -EIOCBQUEUED) {
		TRACE_IOCB(ctx, iocb, IOT_PROPAGATE, existing, err, IOT_PROP_RETURNED);
		return err;
	}
	ctx_lock(ctx);		  /* ioctx_cancel may read pending_err concurrently */
	if (!iocb->pending_err) { /* the first error wins */
		iocb->pending_err = err;
		atomic_fetch_add_explicit(&ctx->st_propagated, 1, memory_order_relaxed);
		TRACE_IOCB(ctx, iocb, IOT_PROPAGATE, existing, err, IOT_PROP_STORED);
	} else {
		TRACE_IOCB(ctx, iocb, IOT_PROPAGATE, existing, err, IOT_PROP_KEPT_FIRST);
	}
	ctx_unlock(ctx);
	return -EIOCBQUEUED;
}

/* ---- submission ------------------------------------------------------ */

int64_t ioctx_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	assert(iocb->ops && iocb->ops->submit); /* submitter-owned field */
	if (tracing(ctx))
		trace_submit(ctx, iocb);
	int64_t ret = iocb->ops->submit(ctx, iocb);
	TRACE_IOCB(ctx, iocb, IOT_SUBMIT_RET, ret, 0, 0);
	struct post p;
	post_init(&p);

	ctx_lock(ctx);
	assert(iocb->flags & IOCTX_F_LIVE); /* core-owned: under the lock */
	stat_inc_locked(&ctx->st_submitted);
	if (ret != -EIOCBQUEUED) {
		/*
		 * R2: the submitter completes the iocb. complete() consumes a
		 * completion reference (the kernel's second ki_users). With no
		 * device I/O referenced (users == 1) it is ours to take. With
		 * one still referenced, the method returned a result while its
		 * I/O is in flight (legacy: an error overwrote -EIOCBQUEUED):
		 * like 2.6.20 we consume the device's reference, and its later
		 * completion finds a stale handle (detected).
		 */
		bool own = iocb->users == 1;
		if (own) {
			iocb->users++;
			TRACE_IOCB(ctx, iocb, IOT_REF_GET, iocb->users, 0, 0);
		}
		bool first = complete_locked(ctx, iocb, ret, 0, &p);
		if (!first && own) {
			iocb->users--; /* double completion: nothing consumed */
			TRACE_IOCB(ctx, iocb, IOT_REF_PUT, iocb->users, IOT_REF_OTHER, 0);
		} else if (first && !own) {
			iocb->owed++; /* a device completion will come for it */
		}
	} else if (iocb->users == 1 && !(iocb->flags & IOCTX_F_COMPLETED)) {
		/*
		 * -EIOCBQUEUED, but no reference is left for a completion path:
		 * nobody would ever complete it. A submitter bug: caught,
		 * counted and answered, never a request that vanishes.
		 */
		atomic_fetch_add_explicit(&ctx->st_bugs, 1, memory_order_relaxed);
		snprintf(p.oops, sizeof(p.oops),
			 "eiocbfs: bug: submit of iocb #%u gen %u returned -EIOCBQUEUED "
			 "holding no reference for its completion: completed with -EIO",
			 iocb->slot, iocb->gen);
		iocb->users++;
		complete_locked(ctx, iocb, -EIO, 0, &p);
	}
	put_locked(ctx, iocb, &p, IOT_REF_SUBMISSION); /* the submission reference */
	ctx_unlock(ctx);
	post_run(ctx, &p);
	return ret;
}

/* ---- cancellation (R6) ----------------------------------------------- */

int ioctx_cancel(struct ioctx *ctx, ioctx_handle_t h, struct ioctx_event *result)
{
	struct post p;
	post_init(&p);
	ctx_lock(ctx);
	struct ioctx_iocb *iocb = lookup_locked(ctx, h);
	if (!iocb || (iocb->flags & IOCTX_F_CANCELLED)) {
		ctx_unlock(ctx);
		return -EINVAL;
	}
	/*
	 * Too late once completed: the event is in the ring (legacy), or due
	 * at the last put (deferred), where the submitter may still queue a
	 * post-submission error (R3) that a result handed out now would miss.
	 */
	if (iocb->flags & (IOCTX_F_COMPLETED | IOCTX_F_EVENT)) {
		ctx_unlock(ctx);
		return -EAGAIN;
	}
	struct ioctx_event ev = {
	    .obj = iocb->obj, .data = iocb->user_data, .res = -ECANCELED, .res2 = 0};
	const struct ioctx_ops *ops = iocb->ops;
	if (!ops || !ops->cancel) {
		ctx_unlock(ctx);
		return -EINVAL;
	}
	iocb->flags |= IOCTX_F_CANCELLED;
	iocb->pins++; /* keep it live while the method runs */
	ctx_unlock(ctx);

	int rc = ops->cancel(ctx, iocb, &ev);

	ctx_lock(ctx);
	IOTRACE(&ctx->tracer, IOT_CANCEL, h, iocb->obj, rc, 0, 0);
	if (rc == 0) {
		stat_inc_locked(&ctx->st_cancelled);
		*result = ev;
	} else {
		/* Too late: undo, and deliver a completion that came meanwhile. */
		iocb->flags &= ~IOCTX_F_CANCELLED;
		if (iocb->flags & IOCTX_F_COMPLETED) {
			iocb->flags |= IOCTX_F_INSERTED;
			if (ctx->mode == IOCTX_LEGACY)
				ring_insert_locked(ctx, iocb, &p);
		}
	}
	unpin_locked(ctx, iocb, &p);
	ctx_unlock(ctx);
	post_run(ctx, &p);
	return rc;
}

/* ---- fan-out: one request, n device I/Os ----------------------------- */

void ioctx_dio_init(struct ioctx *ctx, struct ioctx_dio *dio, struct ioctx_iocb *iocb, int n)
{
	assert(n >= 1);
	dio->handle = ioctx_handle(iocb);
	atomic_store_explicit(&dio->error, 0, memory_order_relaxed);
	atomic_store_explicit(&dio->bytes, 0, memory_order_relaxed);
	/* release: the handle above is visible to the last ioctx_dio_end */
	atomic_store_explicit(&dio->remaining, n, memory_order_release);
	ioctx_iocb_get(ctx, iocb); /* R1: one reference for the group */
}

int ioctx_dio_end(struct ioctx *ctx, struct ioctx_dio *dio, int64_t res)
{
	if (res < 0) {
		int64_t none = 0; /* the first error wins */
		atomic_compare_exchange_strong_explicit(&dio->error, &none, res,
							memory_order_relaxed, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&dio->bytes, res, memory_order_relaxed);
	}
	/* acq_rel: the last one sees every other I/O's error and bytes */
	if (atomic_fetch_sub_explicit(&dio->remaining, 1, memory_order_acq_rel) != 1)
		return 0;
	int64_t err = atomic_load_explicit(&dio->error, memory_order_relaxed);
	int64_t bytes = atomic_load_explicit(&dio->bytes, memory_order_relaxed);
	ioctx_complete(ctx, dio->handle, err ? err : bytes, 0);
	return 1;
}

/* ---- setup, statistics, modes ---------------------------------------- */

int ioctx_setup(const struct ioctx_params *params, struct ioctx **out)
{
	if (!params || params->nr == 0 || params->nr > IOCTX_NR_MAX ||
	    (unsigned)params->mode >= IOCTX_NR_MODES)
		return -EINVAL;
	struct ioctx *ctx = aligned_alloc(64, (sizeof(*ctx) + 63) & ~(size_t)63);
	if (!ctx)
		return -ENOMEM;
	memset(ctx, 0, sizeof(*ctx));
	size_t size = 1;
	while (size < params->nr)
		size <<= 1;
	ctx->ring.entry = calloc(size, sizeof(*ctx->ring.entry));
	ctx->slab = calloc(params->nr, sizeof(*ctx->slab));
	ctx->late = calloc(params->nr, sizeof(*ctx->late));
	ctx->late_head = malloc(size * sizeof(*ctx->late_head));
	if (!ctx->ring.entry || !ctx->slab || !ctx->late || !ctx->late_head ||
	    iotrace_init(&ctx->tracer) < 0) {
		free(ctx->ring.entry);
		free(ctx->slab);
		free(ctx->late);
		free(ctx->late_head);
		free(ctx);
		return -ENOMEM;
	}
	ctx->late_mask = (uint32_t)size - 1;
	for (size_t i = 0; i < size; i++)
		ctx->late_head[i] = SLOT_NONE;
	for (uint32_t i = 0; i < params->nr; i++)
		ctx->late[i].next = i + 1 < params->nr ? i + 1 : SLOT_NONE;
	ctx->late_free = 0;
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&ctx->lock, &attr);
	pthread_mutexattr_destroy(&attr);

	ctx->mode = params->mode;
	ctx->nr = params->nr;
	ctx->ring.mask = size - 1;
	ctx->oops = params->oops;
	ctx->oops_arg = params->oops_arg;
	ctx->notify = params->notify;
	ctx->notify_arg = params->notify_arg;
	atomic_store(&ctx->efd, -1);
	for (uint32_t i = 0; i < params->nr; i++) {
		ctx->slab[i].slot = i;
		ctx->slab[i].gen = 1;
		ctx->slab[i].next_free = i + 1 < params->nr ? i + 1 : SLOT_NONE;
	}
	ctx->free_head = 0;
	*out = ctx;
	return 0;
}

void ioctx_destroy(struct ioctx *ctx)
{
	if (!ctx)
		return;
	int fd = atomic_load(&ctx->efd);
	if (fd >= 0)
		close(fd);
	pthread_mutex_destroy(&ctx->lock);
	iotrace_destroy(&ctx->tracer);
	free(ctx->ring.entry);
	free(ctx->slab);
	free(ctx->late);
	free(ctx->late_head);
	free(ctx);
}

void ioctx_get_stats(struct ioctx *ctx, struct ioctx_stats *st)
{
#define LD(x) atomic_load_explicit(&ctx->x, memory_order_relaxed)
	st->submitted = LD(st_submitted);
	st->completed = LD(st_completed);
	st->events = LD(st_events);
	st->propagated_errors = LD(st_propagated);
	st->double_completions = LD(st_double);
	st->cancelled = LD(st_cancelled);
	st->inflight = LD(st_inflight);
	st->dropped_errors = LD(st_dropped);
	st->reaped = LD(st_reaped);
	st->bugs = LD(st_bugs);
#undef LD
}

struct iotrace *ioctx_trace(struct ioctx *ctx)
{
	return &ctx->tracer;
}

enum ioctx_semantics ioctx_mode(struct ioctx *ctx)
{
	return ctx->mode;
}

static const char *const mode_names[] = {
    [IOCTX_DEFERRED] = "deferred",
    [IOCTX_LEGACY] = "legacy",
    [IOCTX_DROP] = "drop",
    [IOCTX_MAINLINE] = "mainline",
};

int ioctx_parse_semantics(const char *name, enum ioctx_semantics *out)
{
	for (unsigned i = 0; name && i < sizeof(mode_names) / sizeof(*mode_names); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*out = (enum ioctx_semantics)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ioctx_semantics_name(enum ioctx_semantics mode)
{
	return (unsigned)mode < IOCTX_NR_MODES ? mode_names[mode] : "?";
}
