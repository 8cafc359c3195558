/* aio_dev.h: the libaio device backend of ioctx.
 *
 * Layer: the bottom of eiocbfs. It calls only libaio and the kernel
 * (io_setup/io_submit/io_getevents, pread/pwrite, fsync); it knows nothing of
 * iocbs, rings or files. ioctx/aio_dev_ops.c maps ioctx requests onto it.
 *
 * A device is a block device or an image file opened with O_DIRECT. Block
 * devices are opened O_EXCL; image files are flock()ed (exclusive, or shared
 * when read-only), so a second user is refused with -EBUSY.
 *
 * Life cycle of a struct dev_io (the caller owns the memory):
 *
 *   fill op/offset/buf/len/done (and priv)  ->  aio_dev_submit()
 *     -> in flight  ->  done(io, res) exactly once, then aio_dev forgets io.
 *
 * done() runs on the device's completion thread, or on the thread that
 * submits (or unplugs) when the kernel refused the I/O at io_submit time
 * (hard errors). res is the
 * byte count (>= 0, may be short at the end of a device) or -errno. done() may
 * free or reuse io, and may submit more I/O.
 *
 * Completion is batched: the completion thread reaps up to `batch` events per
 * io_getevents call, runs their done() callbacks, then calls the optional
 * batch hook once (a place to drain a ring and reply, on the same thread),
 * then submits in one batch what those submitted (plugging, below).
 */
#ifndef EIOCBFS_AIO_DEV_H
#define EIOCBFS_AIO_DEV_H

#include <libaio.h>
#include <stddef.h>
#include <stdint.h>

struct aio_dev;

enum dev_op { DEV_OP_READ = 0, DEV_OP_WRITE = 1 };

struct dev_io {
	/* Filled in by the caller before aio_dev_submit(). */
	enum dev_op op;
	uint64_t offset; /* byte offset on the device */
	void *buf;	 /* aligned to aio_dev_block_size() */
	size_t len;	 /* multiple of aio_dev_block_size() */
	void (*done)(struct dev_io *io, int64_t res);
	void *priv; /* the caller's; aio_dev never reads it */

	/* Private to aio_dev. */
	struct iocb iocb;
	int64_t res;	      /* result held while delayed/backlogged */
	uint64_t deadline_ns; /* delayed completion (fault hook) */
	struct dev_io *next;  /* delayed or backlog list */
};

/* Fault hook: called for every device I/O at completion (asynchronous and
 * synchronous helpers alike) when installed. Returns the result to report:
 * `res` unchanged, or a replacement such as -EIO (errno injection, like
 * dm-flakey). It may set *delay_ns to hold this completion back (latency
 * injection, like dm-delay) without holding back the others. It runs on the
 * completion thread (or the caller's, for the synchronous helpers), must be
 * thread-safe and must not block. When no hook is installed the cost is one
 * atomic load per reaped batch. */
struct aio_dev_fault {
	int64_t (*fn)(void *arg, const struct dev_io *io, int64_t res, uint64_t *delay_ns);
	void *arg;
};

#define AIO_DEV_RDONLY 0x1u /* open read-only (shared flock for images) */
/* The caller already holds PATH exclusively through another descriptor of
 * this process (the filesystem's own): no O_EXCL, no flock here. */
#define AIO_DEV_NOEXCL 0x2u
/* Do not open PATH: use a duplicate of opts->fd, an O_DIRECT descriptor of
 * it that the caller opened (and holds exclusively): one open of the
 * device serves both. PATH only names it in messages. */
#define AIO_DEV_FD 0x4u

struct aio_dev_opts {
	unsigned flags;	      /* AIO_DEV_* */
	int fd;		      /* with AIO_DEV_FD */
	unsigned queue_depth; /* io_setup() size; 0: 256 */
	unsigned batch;	      /* max events reaped per io_getevents; 0: 64 */
};

struct aio_dev_stats {
	uint64_t submitted;	  /* dev_ios accepted by the kernel */
	uint64_t completed;	  /* done() callbacks run */
	uint64_t errors;	  /* ... of which with res < 0 */
	uint64_t submit_calls;	  /* io_submit() system calls */
	uint64_t partial_submits; /* io_submit() that accepted part of a batch */
	uint64_t eagain_retries;  /* io_submit() -EAGAIN, retried after back-off */
	uint64_t submit_errors;	  /* dev_ios refused by io_submit (hard error) */
	uint64_t reap_calls;	  /* io_getevents() returning >= 1 event */
	uint64_t faults;	  /* results replaced by the fault hook */
	uint64_t delayed;	  /* completions delayed by the fault hook */
};

/* Opens PATH and starts its completion thread. On failure returns -errno and,
 * if errbuf is given, a one-line reason ("PATH: ..."). opts may be NULL. */
int aio_dev_open(struct aio_dev **devp, const char *path, const struct aio_dev_opts *opts,
		 char *errbuf, size_t errlen);

/* Waits for every I/O in flight (including delayed completions), stops the
 * completion thread and closes the device. Must not be called from done(),
 * nor while another thread may still submit. */
void aio_dev_close(struct aio_dev *dev);

/* Submits n I/Os, in as few io_submit() calls as the kernel allows. Never
 * loses one: a partially accepted batch is resubmitted from where the kernel
 * stopped, -EAGAIN is retried with back-off, and an I/O the kernel refuses
 * with another error is completed at once with that error (done() on the
 * calling thread, before this returns). Safe from any thread, including from
 * done() and the batch hook. */
void aio_dev_submit(struct aio_dev *dev, struct dev_io **ios, int n);

/* Plugging, like the kernel's blk_start_plug()/blk_finish_plug(): between
 * aio_dev_plug(dev) and aio_dev_unplug(dev), aio_dev_submit(dev, ...) on the
 * same thread only queues; the outermost unplug submits the queue in as few
 * io_submit() calls as possible (a full queue is submitted early). Pairs
 * nest. Do not wait for plugged I/O before unplugging. The completion thread
 * is plugged around each batch: I/O submitted from done() or the batch hook
 * is submitted together after the hook returns. */
void aio_dev_plug(struct aio_dev *dev);
void aio_dev_unplug(struct aio_dev *dev);
/* Submits what this thread's plug on dev holds and keeps the plug (the
 * kernel flushes a plug when its task is about to sleep): call it before
 * waiting for anything that plugged I/O may be holding up. */
void aio_dev_flush_plug(struct aio_dev *dev);

/* Waits until no I/O is in flight (done() has run for every submitted one).
 * Must not be called from done() or the batch hook. */
void aio_dev_drain(struct aio_dev *dev);

/* Synchronous I/O for metadata: buf, len and off must be aligned to the
 * logical block size (-EINVAL otherwise). Returns the byte count (short only at
 * the end of the device) or -errno. The fault hook applies. */
int64_t aio_dev_pread(struct aio_dev *dev, void *buf, size_t len, uint64_t off);
int64_t aio_dev_pwrite(struct aio_dev *dev, const void *buf, size_t len, uint64_t off);

/* Makes completed writes durable (fsync; a cache flush on block devices).
 * Returns 0 or -errno. */
int aio_dev_flush(struct aio_dev *dev);

/* Installs (f != NULL) or removes (f == NULL) the fault hook. *f must stay
 * valid until it is replaced and aio_dev_drain() has returned, or until
 * aio_dev_close(). */
void aio_dev_set_fault(struct aio_dev *dev, const struct aio_dev_fault *f);

/* Installs the batch hook: fn(arg) runs on the completion thread after the
 * done() callbacks of each reaped batch. Set it before submitting I/O. */
void aio_dev_set_batch_hook(struct aio_dev *dev, void (*fn)(void *arg), void *arg);

/* 1 when called from dev's completion thread (in done() or the batch hook),
 * else 0. A consumer that drains a ring in the batch hook can leave events
 * inserted on this thread to the hook, and drain the others itself. */
int aio_dev_on_completion_thread(const struct aio_dev *dev);

uint64_t aio_dev_size(const struct aio_dev *dev);	/* bytes */
unsigned aio_dev_block_size(const struct aio_dev *dev); /* logical block */
int aio_dev_is_blockdev(const struct aio_dev *dev);
int aio_dev_fd(const struct aio_dev *dev); /* for diagnostics only */
void aio_dev_get_stats(const struct aio_dev *dev, struct aio_dev_stats *st);

/* An aligned buffer of len bytes (rounded up to the block size), zeroed;
 * free with aio_dev_free_buf(). NULL when out of memory. */
void *aio_dev_alloc_buf(const struct aio_dev *dev, size_t len);
void aio_dev_free_buf(void *buf);

#endif
