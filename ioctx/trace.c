/*
 * trace.c: the iocb lifecycle tracer's recording side (see trace.h):
 * per-thread ring buffers, start/stop, snapshot.
 *
 * Layer: beside ioctx; calls libc, pthreads, C11 atomics only.
 *
 * Why it is safe without a lock on the recording path: a buffer is written
 * only by the thread that claimed it in the current session (the session
 * stamp, unique in the process, is what the thread's cached claim is
 * checked against). Every recorder raises its buffer's `busy` count before
 * it looks at `on` again (both seq_cst), and iotrace_stop clears `on` and
 * then waits for every busy count to fall to 0: after that, no record is
 * half written, and the snapshot's reads happen after every write (the
 * release of busy-- pairs with the stopper's acquire).
 */
#include "trace.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct iotrace_buf {
	struct iotrace_rec *rec;
	unsigned cap;
	_Atomic uint64_t head; /* records written in this session (free-running) */
	_Atomic int busy;      /* recorders inside iotrace_emit on this buffer */
};

struct iotrace_priv {
	pthread_mutex_t lock; /* claims, start, stop, snapshot */
	struct iotrace_buf *bufs[IOTRACE_MAX_BUFS];
	unsigned nbufs;		/* allocated (kept across sessions) */
	unsigned nused;		/* claimed in this session */
	_Atomic uint64_t stamp; /* the session, unique in the process */
	struct iotrace_opts opts;
	_Atomic uint64_t admitted; /* with max_events: events let through */
	_Atomic uint64_t limited, dropped, filtered;
	int64_t stop_ts; /* when this session stopped recording, 0 while on */
};

/* Session stamps: unique in the process, so that a thread's cached claim
   can never match another tracer's or another session's (0: none). */
static _Atomic uint64_t next_stamp = 1;

/* The calling thread's claim (one tracer at a time; another tracer or a
   new session re-claims through the slow path). */
static _Thread_local struct {
	uint64_t stamp;
	struct iotrace_buf *buf;
	uint32_t tid;
} self;

int64_t iotrace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int iotrace_init(struct iotrace *t)
{
	struct iotrace_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	atomic_init(&t->on, false);
	t->priv = p;
	return 0;
}

void iotrace_destroy(struct iotrace *t)
{
	if (!t->priv)
		return;
	iotrace_stop(t);
	for (unsigned i = 0; i < t->priv->nbufs; i++) {
		free(t->priv->bufs[i]->rec);
		free(t->priv->bufs[i]);
	}
	pthread_mutex_destroy(&t->priv->lock);
	free(t->priv);
	t->priv = NULL;
}

int iotrace_new(struct iotrace **out)
{
	struct iotrace *t = calloc(1, sizeof(*t));

	if (!t || iotrace_init(t) < 0) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void iotrace_free(struct iotrace *t)
{
	if (!t)
		return;
	iotrace_destroy(t);
	free(t);
}

/* Clear on, then wait out every recorder. Caller holds p->lock. */
static void stop_locked(struct iotrace *t)
{
	struct iotrace_priv *p = t->priv;

	/* Taken before the flag drops: records are older (but for the few ns
	   of a recorder already past its check), so a reader of the dump knows
	   which requests may have been cut short by the stop. */
	if (atomic_load_explicit(&t->on, memory_order_relaxed))
		p->stop_ts = iotrace_now();
	atomic_store_explicit(&t->on, false, memory_order_seq_cst);
	for (unsigned i = 0; i < p->nbufs; i++)
		while (atomic_load_explicit(&p->bufs[i]->busy, memory_order_acquire) > 0)
			sched_yield(); /* a recorder is a few stores from done */
}

void iotrace_stop(struct iotrace *t)
{
	pthread_mutex_lock(&t->priv->lock);
	stop_locked(t);
	pthread_mutex_unlock(&t->priv->lock);
}

int iotrace_start(struct iotrace *t, const struct iotrace_opts *o)
{
	struct iotrace_priv *p = t->priv;
	struct iotrace_opts def = {0};

	if (!o)
		o = &def;
	if (o->per_thread > IOTRACE_PER_THREAD_MAX)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	stop_locked(t);
	p->opts = *o;
	if (!p->opts.per_thread)
		p->opts.per_thread = IOTRACE_PER_THREAD;
	p->nused = 0; /* buffers are reset when claimed */
	p->stop_ts = 0;
	atomic_store_explicit(&p->admitted, 0, memory_order_relaxed);
	atomic_store_explicit(&p->limited, 0, memory_order_relaxed);
	atomic_store_explicit(&p->dropped, 0, memory_order_relaxed);
	atomic_store_explicit(&p->filtered, 0, memory_order_relaxed);
	atomic_store_explicit(&p->stamp, atomic_fetch_add(&next_stamp, 1), memory_order_relaxed);
	/* seq_cst: a recorder that sees on also sees the stamp and options */
	atomic_store_explicit(&t->on, true, memory_order_seq_cst);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Claim a buffer for this thread in this session, with busy raised.
   NULL when tracing stopped meanwhile or no buffer is left (counted). */
static struct iotrace_buf *claim(struct iotrace *t)
{
	struct iotrace_priv *p = t->priv;
	struct iotrace_buf *b = NULL;

	pthread_mutex_lock(&p->lock);
	if (!atomic_load_explicit(&t->on, memory_order_relaxed))
		goto out;
	unsigned cap = p->opts.per_thread;
	if (p->nused < p->nbufs) {
		b = p->bufs[p->nused];
		if (b->cap != cap) {
			struct iotrace_rec *r = malloc((size_t)cap * sizeof(*r));
			if (!r) {
				b = NULL;
				goto full;
			}
			free(b->rec);
			b->rec = r;
			b->cap = cap;
		}
	} else if (p->nbufs < IOTRACE_MAX_BUFS) {
		b = calloc(1, sizeof(*b));
		if (b && !(b->rec = malloc((size_t)cap * sizeof(*b->rec)))) {
			free(b);
			b = NULL;
		}
		if (!b)
			goto full;
		b->cap = cap;
		p->bufs[p->nbufs++] = b;
	} else {
		goto full;
	}
	p->nused++;
	atomic_store_explicit(&b->head, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->busy, 1, memory_order_seq_cst);
	self.stamp = atomic_load_explicit(&p->stamp, memory_order_relaxed);
	self.buf = b;
	goto out;
full:
	atomic_fetch_add_explicit(&p->dropped, 1, memory_order_relaxed);
out:
	pthread_mutex_unlock(&p->lock);
	return b;
}

void iotrace_emit(struct iotrace *t, enum iotrace_kind kind, uint64_t id, uint64_t obj, int64_t a,
		  int64_t b, int64_t c, int64_t ts)
{
	struct iotrace_priv *p = t->priv;
	struct iotrace_buf *buf = NULL;

	if (!ts)
		ts = iotrace_now();
	if (self.stamp && self.stamp == atomic_load_explicit(&p->stamp, memory_order_relaxed)) {
		buf = self.buf;
		atomic_fetch_add_explicit(&buf->busy, 1, memory_order_seq_cst);
		/* Still on, and still the session we claimed in? (A restart
		   in between changed the stamp: claim again.) */
		if (!atomic_load_explicit(&t->on, memory_order_seq_cst)) {
			atomic_fetch_sub_explicit(&buf->busy, 1, memory_order_release);
			return;
		}
		if (self.stamp != atomic_load_explicit(&p->stamp, memory_order_relaxed)) {
			atomic_fetch_sub_explicit(&buf->busy, 1, memory_order_release);
			buf = NULL;
		}
	}
	if (!buf && !(buf = claim(t)))
		return;

	if (p->opts.filter_ino && obj != p->opts.ino) {
		atomic_fetch_add_explicit(&p->filtered, 1, memory_order_relaxed);
		goto out;
	}
	if (p->opts.max_events &&
	    atomic_fetch_add_explicit(&p->admitted, 1, memory_order_relaxed) >=
		p->opts.max_events) {
		atomic_fetch_add_explicit(&p->limited, 1, memory_order_relaxed);
		goto out;
	}
	if (!self.tid)
		self.tid = (uint32_t)syscall(SYS_gettid);
	uint64_t h = atomic_load_explicit(&buf->head, memory_order_relaxed);
	struct iotrace_rec *r = &buf->rec[h % buf->cap];
	r->ts = ts;
	r->id = id;
	r->obj = obj;
	r->a = a;
	r->b = b;
	r->c = c;
	r->seq = h;
	r->tid = self.tid;
	r->kind = (uint32_t)kind;
	atomic_store_explicit(&buf->head, h + 1, memory_order_relaxed);
out:
	/* release: the record above happens before the snapshot's reads */
	atomic_fetch_sub_explicit(&buf->busy, 1, memory_order_release);
}

static int rec_cmp(const void *x, const void *y)
{
	const struct iotrace_rec *a = x, *b = y;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int iotrace_snapshot(struct iotrace *t, struct iotrace_rec **recs, size_t *n,
		     struct iotrace_info *info)
{
	struct iotrace_priv *p = t->priv;
	uint64_t overwritten = 0, total = 0;
	size_t count = 0;

	pthread_mutex_lock(&p->lock);
	bool was_on = atomic_load_explicit(&t->on, memory_order_relaxed);
	stop_locked(t);
	for (unsigned i = 0; i < p->nused; i++) {
		uint64_t h = atomic_load_explicit(&p->bufs[i]->head, memory_order_relaxed);
		count += h < p->bufs[i]->cap ? (size_t)h : p->bufs[i]->cap;
	}
	struct iotrace_rec *out = malloc((count ? count : 1) * sizeof(*out));
	if (!out) {
		pthread_mutex_unlock(&p->lock);
		return -ENOMEM;
	}
	size_t k = 0;
	for (unsigned i = 0; i < p->nused; i++) {
		const struct iotrace_buf *b = p->bufs[i];
		uint64_t h = atomic_load_explicit(&b->head, memory_order_relaxed);
		uint64_t first = h > b->cap ? h - b->cap : 0;

		total += h;
		overwritten += first;
		for (uint64_t s = first; s < h; s++)
			out[k++] = b->rec[s % b->cap];
	}
	if (info) {
		info->recorded = total;
		info->overwritten = overwritten;
		info->dropped = atomic_load_explicit(&p->dropped, memory_order_relaxed);
		info->limited = atomic_load_explicit(&p->limited, memory_order_relaxed);
		info->filtered = atomic_load_explicit(&p->filtered, memory_order_relaxed);
		info->threads = p->nused;
		info->stop_ts = p->stop_ts;
		info->on = was_on;
		info->opts = p->opts;
	}
	pthread_mutex_unlock(&p->lock);
	qsort(out, k, sizeof(*out), rec_cmp);
	*recs = out;
	*n = k;
	return 0;
}

static const char *const kind_names[IOT_KIND_MAX] = {
    [IOT_GET] = "get",
    [IOT_SUBMIT] = "submit",
    [IOT_SUBMIT_RET] = "submit_returned",
    [IOT_DEV_ISSUE] = "device_io_issued",
    [IOT_DEV_DONE] = "device_io_completed",
    [IOT_PROPAGATE] = "propagate_error",
    [IOT_COMPLETE] = "complete",
    [IOT_REF_GET] = "ref_get",
    [IOT_REF_PUT] = "ref_put",
    [IOT_RING_INSERT] = "ring_insert",
    [IOT_FUSE_REPLY] = "fuse_reply",
    [IOT_CANCEL] = "cancel",
    [IOT_DOUBLE] = "double_completion",
};

const char *iotrace_kind_name(unsigned kind)
{
	return kind < IOT_KIND_MAX ? kind_names[kind] : "?";
}

const char *iotrace_prop_name(int64_t prop)
{
	switch (prop) {
	case IOT_PROP_RETURNED:
		return "returned";
	case IOT_PROP_STORED:
		return "stored";
	case IOT_PROP_KEPT_FIRST:
		return "kept_first";
	case IOT_PROP_DROPPED:
		return "dropped";
	case IOT_PROP_WB_ERROR:
		return "wb_error";
	default:
		return "?";
	}
}
