/* aio_dev.c: the libaio device backend (see aio_dev.h for the contract).
 *
 * Layer: bottom. Calls libaio, pthreads and the kernel only.
 *
 * In this file, in order: opening a device (kind, size, logical block size,
 * exclusion), batch submission (plugging, partial acceptance, -EAGAIN
 * back-off, hard errors), the completion thread (batched reaping, fault hook,
 * delayed completions, batch hook), draining and closing, and the
 * synchronous helpers.
 *
 * Accounting: dev->inflight counts dev_ios from the moment they go to the
 * kernel (submit_now(); a plugged one when its plug is flushed) until their
 * done() callback has returned (and, for a reaped batch, until the batch hook
 * has returned and what it submitted has been flushed); each running
 * submit_now() call counts one more for itself. aio_dev_drain() waits for
 * zero.
 */
#include "aio_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define SUBMIT_CHUNK 256		   /* iocb pointers per io_submit call */
#define EAGAIN_IDLE_LIMIT_NS 1000000000ull /* give up: -EAGAIN, nothing in flight */

struct aio_dev {
	int fd;
	int is_blk;
	unsigned bs;
	uint64_t size;
	unsigned batch;
	io_context_t ctx;
	pthread_t thread;
	struct io_event *events; /* completion thread's reap buffer */

	_Atomic(const struct aio_dev_fault *) fault;
	void (*batch_fn)(void *arg);
	void *batch_arg;

	atomic_long inflight;
	atomic_int drain_waiters;
	pthread_mutex_t lock;
	pthread_cond_t drained;

	/* Owned by the completion thread. */
	struct dev_io *delayed; /* sorted by deadline_ns */
	struct dev_io *delayed_tail;
	struct dev_io *backlog; /* reaped while submitting from done() */
	struct dev_io *backlog_tail;
	int refused_here; /* done() ran for refused I/O here */
	atomic_int stop;  /* set by the completion thread (marker)
			   * or by close (marker refused) */

	/* Stop marker, submitted by aio_dev_close() once drained. */
	struct dev_io sentinel;
	void *sentinel_buf;

	struct {
		atomic_uint_fast64_t submitted, completed, errors, submit_calls, partial_submits,
		    eagain_retries, submit_errors, reap_calls, faults, delayed;
	} st;
};

/* The device whose completion thread this is (NULL on other threads). */
static _Thread_local struct aio_dev *tls_completing;

#define STAT_ADD(dev, f, n) atomic_fetch_add_explicit(&(dev)->st.f, (n), memory_order_relaxed)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000ull, .tv_nsec = ns % 1000000000ull};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int fail(char *errbuf, size_t errlen, int err, const char *fmt, ...)
{
	if (errbuf && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ---- Opening: kind, size, logical block size, exclusion ---------------- */

static int valid_bs(long v)
{
	return v >= 512 && v <= 65536 && (v & (v - 1)) == 0;
}

static long read_sysfs_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Does an O_DIRECT read aligned to bs, and to nothing larger, work here?
 * 1 yes, 0 no (-EINVAL), -1 cannot tell (file too small, other error).
 * Never writes. Some filesystems check alignment only where data is
 * mapped, so over a hole the answer may be a too optimistic yes. */
static int probe_dio(int fd, const struct stat *st, unsigned bs)
{
	void *buf;
	ssize_t r;

	if ((uint64_t)st->st_size < 2ull * bs)
		return -1;
	if (posix_memalign(&buf, 2 * bs, 3 * bs))
		return -1;
	do /* buffer and offset: multiples of bs, odd ones */
		r = pread(fd, (char *)buf + bs, bs, (off_t)bs);
	while (r < 0 && errno == EINTR);
	free(buf);
	return r >= 0 ? 1 : errno == EINVAL ? 0 : -1;
}

/* Logical block size of the device under an image file: sysfs for the
 * filesystem's device (the whole disk's queue for a partition), confirmed by
 * a probe where the file is large enough; without sysfs (tmpfs, overlay...),
 * probe 512; else 4096, which works wherever a smaller size does. */
static unsigned file_block_size(int fd, const struct stat *st)
{
	char path[128];
	unsigned ma = major(st->st_dev), mi = minor(st->st_dev);
	long v;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/logical_block_size", ma, mi);
	v = read_sysfs_long(path);
	if (!valid_bs(v)) {
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../queue/logical_block_size", ma,
			 mi);
		v = read_sysfs_long(path);
	}
	if (valid_bs(v) && probe_dio(fd, st, (unsigned)v) != 0)
		return (unsigned)v;
	if (probe_dio(fd, st, 512) == 1)
		return 512;
	return valid_bs(v) && v > 4096 ? (unsigned)v : 4096;
}

static void *completion_main(void *arg);

int aio_dev_open(struct aio_dev **devp, const char *path, const struct aio_dev_opts *opts,
		 char *errbuf, size_t errlen)
{
	struct aio_dev_opts o = opts ? *opts : (struct aio_dev_opts){0};
	int rdonly = (o.flags & AIO_DEV_RDONLY) != 0;
	struct aio_dev *dev;
	struct stat st;
	int flags, err;

	*devp = NULL;
	if (!o.queue_depth)
		o.queue_depth = 256;
	if (!o.batch)
		o.batch = 64;

	if ((o.flags & AIO_DEV_FD) ? fstat(o.fd, &st) < 0 : stat(path, &st) < 0)
		return fail(errbuf, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
		return fail(errbuf, errlen, -EINVAL, "%s: not a block device or a regular file",
			    path);

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
	dev->fd = -1;
	dev->is_blk = S_ISBLK(st.st_mode);
	dev->batch = o.batch;
	atomic_init(&dev->fault, NULL);
	atomic_init(&dev->inflight, 0);
	atomic_init(&dev->drain_waiters, 0);
	pthread_mutex_init(&dev->lock, NULL);
	pthread_cond_init(&dev->drained, NULL);

	flags = (rdonly ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC;
	if (dev->is_blk && !(o.flags & (AIO_DEV_NOEXCL | AIO_DEV_FD)))
		flags |= O_EXCL;
	if (o.flags & AIO_DEV_FD) {
		int fl = fcntl(o.fd, F_GETFL);
		if (fl < 0 || !(fl & O_DIRECT)) {
			err = fail(errbuf, errlen, -EINVAL,
				   "%s: the descriptor "
				   "is not open O_DIRECT",
				   path);
			goto out_free;
		}
		dev->fd = fcntl(o.fd, F_DUPFD_CLOEXEC, 0);
	} else {
		dev->fd = open(path, flags);
	}
	if (dev->fd < 0) {
		err = -errno;
		if (err == -EBUSY && dev->is_blk)
			fail(errbuf, errlen, err,
			     "%s: device is busy (mounted, "
			     "or opened exclusively by another program)",
			     path);
		else if (err == -EINVAL)
			fail(errbuf, errlen, err,
			     "%s: O_DIRECT is not supported "
			     "here",
			     path);
		else
			fail(errbuf, errlen, err, "%s: %s", path, strerror(-err));
		goto out_free;
	}
	if (fstat(dev->fd, &st) < 0) {
		err = fail(errbuf, errlen, -errno, "%s: %s", path, strerror(errno));
		goto out_free;
	}

	if (dev->is_blk) {
		int ss = 0;
		if (ioctl(dev->fd, BLKGETSIZE64, &dev->size) < 0 ||
		    ioctl(dev->fd, BLKSSZGET, &ss) < 0) {
			err = fail(errbuf, errlen, -errno,
				   "%s: cannot read "
				   "device geometry: %s",
				   path, strerror(errno));
			goto out_free;
		}
		dev->bs = valid_bs(ss) ? (unsigned)ss : 512;
	} else {
		if (!(o.flags & (AIO_DEV_NOEXCL | AIO_DEV_FD)) &&
		    flock(dev->fd, (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
			err = -errno;
			if (err == -EWOULDBLOCK) {
				err = -EBUSY;
				fail(errbuf, errlen, err,
				     "%s: image is in use "
				     "by another program (locked)",
				     path);
			} else {
				fail(errbuf, errlen, err, "%s: flock: %s", path, strerror(-err));
			}
			goto out_free;
		}
		dev->size = (uint64_t)st.st_size;
		dev->bs = file_block_size(dev->fd, &st);
	}

	dev->sentinel_buf = aio_dev_alloc_buf(dev, dev->bs);
	dev->events = calloc(dev->batch, sizeof(*dev->events));
	if (!dev->sentinel_buf || !dev->events) {
		err = fail(errbuf, errlen, -ENOMEM, "%s: out of memory", path);
		goto out_free;
	}

	err = io_setup((int)o.queue_depth, &dev->ctx);
	if (err < 0) {
		if (err == -EAGAIN)
			fail(errbuf, errlen, err,
			     "%s: io_setup(%u): too many "
			     "AIO contexts (see /proc/sys/fs/aio-max-nr)",
			     path, o.queue_depth);
		else
			fail(errbuf, errlen, err, "%s: io_setup(%u): %s", path, o.queue_depth,
			     strerror(-err));
		dev->ctx = 0;
		goto out_free;
	}

	err = -pthread_create(&dev->thread, NULL, completion_main, dev);
	if (err) {
		fail(errbuf, errlen, err,
		     "%s: cannot start the completion "
		     "thread: %s",
		     path, strerror(-err));
		io_destroy(dev->ctx);
		goto out_free;
	}
	*devp = dev;
	return 0;

out_free:
	if (dev->fd >= 0)
		close(dev->fd);
	free(dev->events);
	aio_dev_free_buf(dev->sentinel_buf);
	pthread_cond_destroy(&dev->drained);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	return err;
}

/* ---- Accounting -------------------------------------------------------- */

/* n dev_ios have finished (done() returned): wake drainers at zero. */
static void inflight_sub(struct aio_dev *dev, long n)
{
	if (atomic_fetch_sub(&dev->inflight, n) == n && atomic_load(&dev->drain_waiters)) {
		pthread_mutex_lock(&dev->lock);
		pthread_cond_broadcast(&dev->drained);
		pthread_mutex_unlock(&dev->lock);
	}
}

void aio_dev_drain(struct aio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	atomic_fetch_add(&dev->drain_waiters, 1);
	while (atomic_load(&dev->inflight) != 0)
		pthread_cond_wait(&dev->drained, &dev->lock);
	atomic_fetch_sub(&dev->drain_waiters, 1);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- Submission -------------------------------------------------------- */

static void backlog_add(struct aio_dev *dev, struct io_event *ev, int n)
{
	(void)atomic_load_explicit(&dev->inflight, memory_order_acquire);
	for (int i = 0; i < n; i++) {
		struct dev_io *io = ev[i].data;
		io->res = (int64_t)(long)ev[i].res;
		io->next = NULL;
		if (dev->backlog_tail)
			dev->backlog_tail->next = io;
		else
			dev->backlog = io;
		dev->backlog_tail = io;
	}
}

/* io_submit said -EAGAIN: the kernel's slots are all taken. Elsewhere the
 * completion thread frees them; on the completion thread itself (submitting
 * from done() or the batch hook), free them here by reaping into the backlog,
 * which the completion loop runs next. Returns 0 to retry, or -EAGAIN to give
 * up (nothing of this device has been in flight for a long while). */
static int submit_backoff(struct aio_dev *dev, unsigned attempt, long ours, uint64_t *idle_since)
{
	STAT_ADD(dev, eagain_retries, 1);
	if (tls_completing == dev) {
		struct io_event ev[32];
		struct timespec ts = {0, 1000000}; /* 1 ms */
		int n = io_getevents(dev->ctx, 1, 32, ev, &ts);
		if (n > 0) {
			backlog_add(dev, ev, n);
			*idle_since = 0;
			return 0;
		}
	} else if (attempt < 4) {
		sched_yield();
	} else {
		unsigned shift = attempt - 4 < 7 ? attempt - 4 : 7;
		sleep_ns(10000ull << shift); /* 10 us .. 1.28 ms */
	}
	if (atomic_load(&dev->inflight) > ours) {
		*idle_since = 0; /* others in flight: they will free slots */
		return 0;
	}
	if (!*idle_since)
		*idle_since = now_ns();
	return now_ns() - *idle_since < EAGAIN_IDLE_LIMIT_NS ? 0 : -EAGAIN;
}

static void prep(struct aio_dev *dev, struct dev_io *io)
{
	if (io->op == DEV_OP_WRITE)
		io_prep_pwrite(&io->iocb, dev->fd, io->buf, io->len, (long long)io->offset);
	else
		io_prep_pread(&io->iocb, dev->fd, io->buf, io->len, (long long)io->offset);
	io->iocb.data = io;
}

/* The kernel refused io: complete it here, with the error. */
static void complete_refused(struct aio_dev *dev, struct dev_io *io, int err)
{
	STAT_ADD(dev, submit_errors, 1);
	STAT_ADD(dev, errors, 1);
	STAT_ADD(dev, completed, 1);
	if (tls_completing == dev)
		dev->refused_here = 1; /* the batch hook must run again */
	io->done(io, err);
	inflight_sub(dev, 1);
}

/* Plugging (the kernel's blk_start_plug/blk_finish_plug): while a thread
 * holds a plug on dev, its aio_dev_submit() calls queue here, and the
 * unplug submits them in as few io_submit() calls as possible. The
 * completion thread is plugged around each batch (done() callbacks and the
 * batch hook), so I/O submitted from completions leaves in one batch. */
struct plug {
	struct aio_dev *dev;
	int depth, n;
	struct dev_io *q[SUBMIT_CHUNK];
};
static _Thread_local struct plug tls_plug;

static void submit_now(struct aio_dev *dev, struct dev_io **ios, int n);

/* Submits the queue; a done() run meanwhile (refused I/O) may queue more. */
static void plug_flush(struct plug *p)
{
	while (p->n) {
		struct dev_io *q[SUBMIT_CHUNK];
		int n = p->n;

		memcpy(q, p->q, (size_t)n * sizeof(q[0]));
		p->n = 0;
		submit_now(p->dev, q, n);
	}
}

void aio_dev_plug(struct aio_dev *dev)
{
	struct plug *p = &tls_plug;

	if (p->depth && p->dev != dev) {
		plug_flush(p); /* one device at a time: switch */
		p->depth = 0;
	}
	p->dev = dev;
	p->depth++;
}

void aio_dev_unplug(struct aio_dev *dev)
{
	struct plug *p = &tls_plug;

	if (!p->depth || p->dev != dev)
		return;
	if (--p->depth == 0)
		plug_flush(p);
}

void aio_dev_flush_plug(struct aio_dev *dev)
{
	struct plug *p = &tls_plug;

	if (p->depth && p->dev == dev)
		plug_flush(p);
}

void aio_dev_submit(struct aio_dev *dev, struct dev_io **ios, int n)
{
	struct plug *p = &tls_plug;

	if (p->depth && p->dev == dev) {
		for (int i = 0; i < n; i++) {
			if (p->n == SUBMIT_CHUNK)
				plug_flush(p);
			p->q[p->n++] = ios[i];
		}
		return;
	}
	submit_now(dev, ios, n);
}

static void submit_now(struct aio_dev *dev, struct dev_io **ios, int n)
{
	struct iocb *cbs[SUBMIT_CHUNK];

	/* The call itself counts as in flight until it is done with dev: a
	 * drain (and so a close) waits for a submitter that is still counting
	 * or retrying after the kernel took its I/O, whichever thread it is
	 * (a FUSE worker may submit its plug as it exits, never joined). */
	atomic_fetch_add_explicit(&dev->inflight, 1, memory_order_acq_rel);
	while (n > 0) {
		int k = n < SUBMIT_CHUNK ? n : SUBMIT_CHUNK, off = 0;
		unsigned attempt = 0;
		uint64_t idle_since = 0;

		for (int i = 0; i < k; i++) {
			prep(dev, ios[i]);
			cbs[i] = &ios[i]->iocb;
		}
		/* Counted before io_submit (a release: see completion_main). */
		atomic_fetch_add_explicit(&dev->inflight, k, memory_order_acq_rel);
		while (off < k) {
			int r = io_submit(dev->ctx, k - off, cbs + off);
			STAT_ADD(dev, submit_calls, 1);
			if (r > 0) {
				STAT_ADD(dev, submitted, (uint64_t)r);
				if (r < k - off)
					STAT_ADD(dev, partial_submits, 1);
				off += r;
				attempt = 0;
				idle_since = 0;
			} else if (r == -EINTR) {
				continue;
			} else if (r == -EAGAIN &&
				   submit_backoff(dev, attempt++, k - off + 1, &idle_since) == 0) {
				continue;
			} else {
				/* The kernel stops at the first iocb it
				 * refuses: that one gets the error, the rest
				 * are tried again. */
				complete_refused(dev, ios[off], r ? r : -EIO);
				off++;
			}
		}
		ios += k;
		n -= k;
	}
	inflight_sub(dev, 1);
}

/* ---- The completion thread --------------------------------------------- */

static void delayed_insert(struct aio_dev *dev, struct dev_io *io)
{
	struct dev_io **pp = &dev->delayed;

	io->next = NULL;
	if (dev->delayed_tail && dev->delayed_tail->deadline_ns <= io->deadline_ns) {
		dev->delayed_tail->next = io;
		dev->delayed_tail = io;
		return;
	}
	while (*pp && (*pp)->deadline_ns <= io->deadline_ns)
		pp = &(*pp)->next;
	io->next = *pp;
	*pp = io;
	if (!io->next)
		dev->delayed_tail = io;
}

static void finish(struct aio_dev *dev, struct dev_io *io, int64_t res)
{
	if (res < 0)
		STAT_ADD(dev, errors, 1);
	io->done(io, res);
}

/* One reaped completion. Returns 1 if it finished (done() ran, or it is the
 * stop marker), 0 if the fault hook delayed it. */
static int handle(struct aio_dev *dev, const struct aio_dev_fault *f, struct dev_io *io,
		  int64_t res)
{
	if (io == &dev->sentinel) {
		atomic_store(&dev->stop, 1);
		return 1;
	}
	if (f) {
		uint64_t delay = 0;
		int64_t nres = f->fn(f->arg, io, res, &delay);
		if (nres != res)
			STAT_ADD(dev, faults, 1);
		if (delay) {
			STAT_ADD(dev, delayed, 1);
			io->res = nres;
			io->deadline_ns = now_ns() + delay;
			delayed_insert(dev, io);
			return 0;
		}
		res = nres;
	}
	finish(dev, io, res);
	return 1;
}

static void *completion_main(void *arg)
{
	struct aio_dev *dev = arg;

	tls_completing = dev;
	pthread_setname_np(pthread_self(), "aio_dev");
	while (!atomic_load(&dev->stop)) {
		const struct aio_dev_fault *f;
		struct timespec ts, *tsp = NULL;
		long finished = 0;
		int min = 1, n;

		if (dev->backlog) {
			min = 0;
			ts = (struct timespec){0, 0};
			tsp = &ts;
		} else if (dev->delayed) {
			uint64_t now = now_ns(), d = dev->delayed->deadline_ns;
			uint64_t wait = d > now ? d - now : 0;
			ts = (struct timespec){(time_t)(wait / 1000000000ull),
					       (long)(wait % 1000000000ull)};
			tsp = &ts;
		}
		n = io_getevents(dev->ctx, min, (long)dev->batch, dev->events, tsp);
		if (n < 0 && n != -EINTR) {
			if (atomic_load(&dev->stop))
				break; /* context destroyed by close */
			fprintf(stderr, "aio_dev: io_getevents: %s\n", strerror(-n));
			abort(); /* completions would be lost */
		}
		/* The kernel orders io_submit() before the event; say so to
		 * the memory model (and ThreadSanitizer): this acquire pairs
		 * with the submitter's increment, made before io_submit(). */
		(void)atomic_load_explicit(&dev->inflight, memory_order_acquire);
		f = atomic_load_explicit(&dev->fault, memory_order_acquire);
		aio_dev_plug(dev);
		if (n > 0) {
			STAT_ADD(dev, reap_calls, 1);
			for (int i = 0; i < n; i++)
				finished += handle(dev, f, dev->events[i].data,
						   (int64_t)(long)dev->events[i].res);
		}
		/* Reaped while done() submitted (see submit_backoff). Note
		 * that a done() here may append to the backlog again. */
		while (dev->backlog) {
			struct dev_io *io = dev->backlog;
			dev->backlog = io->next;
			if (!dev->backlog)
				dev->backlog_tail = NULL;
			finished += handle(dev, f, io, io->res);
		}
		if (dev->delayed) {
			uint64_t now = now_ns();
			while (dev->delayed && dev->delayed->deadline_ns <= now) {
				struct dev_io *io = dev->delayed;
				dev->delayed = io->next;
				if (!dev->delayed)
					dev->delayed_tail = NULL;
				finish(dev, io, io->res);
				finished++;
			}
		}
		if (finished)
			STAT_ADD(dev, completed, (uint64_t)finished);
		/* The hook, then what done() and the hook submitted leaves
		 * in one batch. If the kernel refused some of it, their done()
		 * ran in the unplug: the hook runs again for them. */
		for (int more = finished > 0;; more = 1) {
			if (more && dev->batch_fn && !atomic_load(&dev->stop))
				dev->batch_fn(dev->batch_arg);
			dev->refused_here = 0;
			aio_dev_unplug(dev);
			if (!dev->refused_here)
				break;
			aio_dev_plug(dev);
		}
		/* Only now are they finished (drain's promise). */
		if (finished)
			inflight_sub(dev, finished);
	}
	return NULL;
}

static void sentinel_refused(struct dev_io *io, int64_t res)
{
	(void)res;
	*(int *)io->priv = 1;
}

void aio_dev_close(struct aio_dev *dev)
{
	struct dev_io *s;
	int refused = 0;

	if (!dev)
		return;
	aio_dev_drain(dev);

	/* Nothing is in flight: one read of block 0 wakes the completion
	 * thread, which sees the marker and stops. */
	s = &dev->sentinel;
	memset(s, 0, sizeof(*s));
	s->op = DEV_OP_READ;
	s->buf = dev->sentinel_buf;
	s->len = dev->bs;
	s->done = sentinel_refused;
	s->priv = &refused;
	submit_now(dev, &s, 1); /* never plugged */
	if (refused) {
		/* The kernel refused it (device gone?): destroying the context
		 * wakes io_getevents with -EINVAL, and stop tells the thread
		 * that this is the end, not a bug. */
		atomic_store(&dev->stop, 1);
		io_destroy(dev->ctx);
		dev->ctx = 0;
	}
	pthread_join(dev->thread, NULL);
	if (dev->ctx)
		io_destroy(dev->ctx);
	close(dev->fd);
	free(dev->events);
	aio_dev_free_buf(dev->sentinel_buf);
	pthread_cond_destroy(&dev->drained);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* ---- Hooks, properties, buffers ---------------------------------------- */

void aio_dev_set_fault(struct aio_dev *dev, const struct aio_dev_fault *f)
{
	atomic_store_explicit(&dev->fault, f, memory_order_release);
}

void aio_dev_set_batch_hook(struct aio_dev *dev, void (*fn)(void *arg), void *arg)
{
	dev->batch_arg = arg;
	dev->batch_fn = fn;
}

int aio_dev_on_completion_thread(const struct aio_dev *dev)
{
	return tls_completing == dev;
}

uint64_t aio_dev_size(const struct aio_dev *dev)
{
	return dev->size;
}
unsigned aio_dev_block_size(const struct aio_dev *dev)
{
	return dev->bs;
}
int aio_dev_is_blockdev(const struct aio_dev *dev)
{
	return dev->is_blk;
}
int aio_dev_fd(const struct aio_dev *dev)
{
	return dev->fd;
}

void aio_dev_get_stats(const struct aio_dev *dev, struct aio_dev_stats *s)
{
#define LOAD(f) s->f = atomic_load_explicit(&dev->st.f, memory_order_relaxed)
	LOAD(submitted);
	LOAD(completed);
	LOAD(errors);
	LOAD(submit_calls);
	LOAD(partial_submits);
	LOAD(eagain_retries);
	LOAD(submit_errors);
	LOAD(reap_calls);
	LOAD(faults);
	LOAD(delayed);
#undef LOAD
}

void *aio_dev_alloc_buf(const struct aio_dev *dev, size_t len)
{
	size_t bs = dev->bs, n = (len + bs - 1) / bs * bs;
	void *p;

	if (!n)
		n = bs;
	if (posix_memalign(&p, bs < 4096 ? 4096 : bs, n))
		return NULL;
	memset(p, 0, n);
	return p;
}

void aio_dev_free_buf(void *buf)
{
	free(buf);
}

/* ---- Synchronous helpers (metadata) ------------------------------------ */

static int aligned(const struct aio_dev *dev, const void *buf, size_t len, uint64_t off)
{
	uint64_t m = dev->bs - 1;
	return !(((uintptr_t)buf | len | off) & m);
}

static int64_t sync_io(struct aio_dev *dev, enum dev_op op, void *buf, size_t len, uint64_t off)
{
	const struct aio_dev_fault *f;
	size_t done = 0;
	int64_t res = 0;

	if (!aligned(dev, buf, len, off))
		return -EINVAL;
	while (done < len) {
		ssize_t r =
		    op == DEV_OP_WRITE
			? pwrite(dev->fd, (char *)buf + done, len - done, (off_t)(off + done))
			: pread(dev->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			res = -errno;
		if (r <= 0)
			break; /* error, or the end of the device */
		done += (size_t)r;
	}
	if (!res || done)
		res = (int64_t)done; /* a short count beats a late error */

	f = atomic_load_explicit(&dev->fault, memory_order_acquire);
	if (f) {
		struct dev_io io = {.op = op, .offset = off, .buf = buf, .len = len};
		uint64_t delay = 0;
		int64_t nres = f->fn(f->arg, &io, res, &delay);
		if (nres != res)
			STAT_ADD(dev, faults, 1);
		if (delay) {
			STAT_ADD(dev, delayed, 1);
			sleep_ns(delay);
		}
		res = nres;
	}
	return res;
}

int64_t aio_dev_pread(struct aio_dev *dev, void *buf, size_t len, uint64_t off)
{
	return sync_io(dev, DEV_OP_READ, buf, len, off);
}

int64_t aio_dev_pwrite(struct aio_dev *dev, const void *buf, size_t len, uint64_t off)
{
	return sync_io(dev, DEV_OP_WRITE, (void *)buf, len, off);
}

int aio_dev_flush(struct aio_dev *dev)
{
	return fsync(dev->fd) < 0 ? -errno : 0;
}
