/*
 * chan_batch.c: requests taken from /dev/fuse in batches, their device I/O
 * submitted together (layer: daemon edge, under channel.c; see chan_batch.h).
 *
 * libfuse's workers each read their own clone of the channel, one request
 * per read. Reading an O_DIRECT READ or WRITE (the direct path: its handler
 * only submits) plugs the device for this thread, so the request's I/O
 * waits. The worker's next read, while other direct requests are in flight
 * (a deep queue: more are likely waiting), is non-blocking: the worker
 * takes what is ready, and only when nothing is (or the batch is full, or
 * the request is one that may block) does it unplug, submitting the
 * batch's I/O in one io_submit, and block again. At queue depth 1 no other
 * request is in flight: a worker reads blocking and submits at once, as
 * without batching.
 *
 * One reader at a time. The clones share the connection's one queue of
 * requests, and a request that finds it empty wakes a worker blocked in
 * read: with every idle worker blocked there, the worker draining a batch
 * has requests taken from under it by workers woken for them, a wake-up, a
 * context switch and a second, smaller batch each. So the clones are read
 * under a token (ch->reader, a semaphore): the worker holding it reads;
 * the others wait in sem_wait, where no request wakes them. The holder
 * keeps it across the requests of a batch and passes it on before any
 * other request, whose handler may block (chan_batch_yield); another worker then
 * reads. A small direct handler waits only for the device or for locks
 * whose holders need no new request to let go, so the token is never held
 * against the request that would free it.
 *
 * The descriptor's O_NONBLOCK is switched only on a clone (each belongs to
 * one worker); the session's own descriptor, shared, is never batched. A
 * worker that stops with I/O plugged or the token held (the session ending,
 * libfuse cancelling it or ending an idle worker) submits the I/O and
 * passes the token on from the thread's key destructor: no I/O is left
 * behind and no worker waits for a token that is gone.
 */
#include "chan_batch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <unistd.h>

#include "channel.h"

#define CHAN_BATCH_MAX 32 /* requests per batch: the latency of its first one */
/* Larger requests are not batched: their transfer dwarfs a system call,
   and holding their I/O back while more are copied in only delays it. */
#define CHAN_BATCH_BYTES (64u << 10)

/* This worker's batch. */
struct chan_batch_thread {
	int nonblock_fd; /* the descriptor this thread made O_NONBLOCK, or -1 */
	int flags_fd;	 /* the descriptor whose status flags are in flags, or -1 */
	int flags;	 /* its F_GETFL (only this thread changes them) */
	int n;		 /* requests in the open batch */
	bool plugged;	 /* the open batch's I/O waits for chan_batch_end */
	bool reader;	 /* holds the channel's read token */
};
static _Thread_local struct chan_batch_thread tls_batch = {.nonblock_fd = -1, .flags_fd = -1};

static int chan_batch_set_nonblock(struct chan_batch_thread *t, int fd, bool on)
{
	if (t->flags_fd != fd) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0)
			return -1;
		t->flags = fl & ~O_NONBLOCK;
		t->flags_fd = fd;
	}
	return fcntl(fd, F_SETFL, on ? t->flags | O_NONBLOCK : t->flags);
}

void chan_batch_end(struct chan *ch)
{
	struct chan_batch_thread *t = &tls_batch;
	int saved = errno; /* libfuse reads errno after our read */

	if (t->plugged) {
		t->plugged = false;
		t->n = 0;
		ch->batch->unplug(ch);
	}
	errno = saved;
}

/* Waits for the read token (a cancellation point, as libfuse's read is). */
static void chan_reader_get(struct chan *ch)
{
	struct chan_batch_thread *t = &tls_batch;

	if (t->reader)
		return;
	if (!pthread_getspecific(ch->batch_key))
		(void)pthread_setspecific(ch->batch_key, ch);
	while (sem_wait(&ch->reader) != 0) /* EINTR */
		;
	t->reader = true;
}

static void chan_reader_put(struct chan *ch)
{
	struct chan_batch_thread *t = &tls_batch;

	if (t->reader) {
		t->reader = false;
		(void)sem_post(&ch->reader);
	}
}

void chan_batch_yield(struct chan *ch)
{
	chan_batch_end(ch);
	chan_reader_put(ch);
}

/* Thread exit (return or cancellation) with a batch open or the token held. */
static void chan_batch_thread_exit(void *arg)
{
	chan_batch_yield(arg);
}

int chan_batch_init(struct chan *ch, int session_fd)
{
	ch->session_fd = session_fd;
	if (!ch->batch)
		return 0;
	if (sem_init(&ch->reader, 0, 1) != 0)
		return -errno;
	if (pthread_key_create(&ch->batch_key, chan_batch_thread_exit) != 0) {
		sem_destroy(&ch->reader);
		return -EAGAIN;
	}
	ch->batch_key_set = true;
	return 0;
}

void chan_batch_fini(struct chan *ch)
{
	if (ch->batch_key_set) {
		pthread_key_delete(ch->batch_key);
		sem_destroy(&ch->reader);
	}
	ch->batch_key_set = false;
}

static bool chan_batching(const struct chan *ch, int fd)
{
	return ch->batch && ch->batch_key_set && fd != ch->session_fd;
}

/* The read itself, the token held (or fd not batched). */
static ssize_t chan_batch_read_fd(struct chan *ch, int fd, void *buf, size_t len)
{
	struct chan_batch_thread *t = &tls_batch;
	ssize_t n;

	if (t->plugged) {
		if (t->n < CHAN_BATCH_MAX && ch->batch->busy(ch)) {
			if (t->nonblock_fd != fd && chan_batch_set_nonblock(t, fd, true) == 0)
				t->nonblock_fd = fd;
			if (t->nonblock_fd == fd) {
				n = read(fd, buf, len);
				if (n >= 0)
					return n;
				if (errno != EAGAIN) {
					chan_batch_end(ch);
					return n;
				}
			}
		}
		chan_batch_end(ch); /* nothing more ready: the batch's I/O leaves */
	}
	if (t->nonblock_fd == fd) {
		(void)chan_batch_set_nonblock(t, fd, false);
		t->nonblock_fd = -1;
	}
	/* Blocking. EAGAIN only if the switch back failed: wait, never hand
	   libfuse an EAGAIN (its loop would stop). */
	while ((n = read(fd, buf, len)) < 0 && errno == EAGAIN) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		(void)poll(&p, 1, -1);
	}
	return n;
}

ssize_t chan_batch_read(struct chan *ch, int fd, void *buf, size_t len)
{
	ssize_t n;

	if (!chan_batching(ch, fd))
		return chan_batch_read_fd(ch, fd, buf, len);
	chan_reader_get(ch);
	n = chan_batch_read_fd(ch, fd, buf, len);
	if (n < 0) {
		int saved = errno;

		chan_reader_put(ch); /* the session may be ending: the others must see it */
		errno = saved;
	}
	return n;
}

/*
 * A small O_DIRECT READ or WRITE: its handler submits to the direct path
 * and returns, and it joins the batch with the token kept. Any other
 * request passes the token on: one that may block; an O_SYNC or O_DSYNC
 * write (the file's flag or RWF_DSYNC/RWF_SYNC, which the kernel sets in
 * the request), whose handler commits the journal; and a large direct
 * request, whose handler copies and maps long enough that what queues
 * behind it should not wait, and which programs race against buffered
 * writes of the same bytes (generic/208), as the kernel lets them.
 */
static bool chan_batch_direct(const void *buf, size_t len)
{
	const struct fuse_in_header *in = buf;
	const char *arg = (const char *)buf + sizeof(*in);
	uint32_t flags, size;

	if (in->opcode == FUSE_READ) {
		if (len < sizeof(*in) + sizeof(struct fuse_read_in))
			return false;
		flags = ((const struct fuse_read_in *)(const void *)arg)->flags;
		size = ((const struct fuse_read_in *)(const void *)arg)->size;
	} else if (in->opcode == FUSE_WRITE) {
		if (len < sizeof(*in) + sizeof(struct fuse_write_in))
			return false;
		flags = ((const struct fuse_write_in *)(const void *)arg)->flags;
		size = ((const struct fuse_write_in *)(const void *)arg)->size;
		if (flags & (O_SYNC | O_DSYNC))
			return false;
	} else {
		return false;
	}
	return (flags & O_DIRECT) && size <= CHAN_BATCH_BYTES;
}

void chan_batch_took(struct chan *ch, int fd, const void *buf, size_t len)
{
	struct chan_batch_thread *t = &tls_batch;

	if (!chan_batching(ch, fd))
		return;
	if (!ch->batch->direct(ch) || !chan_batch_direct(buf, len)) {
		chan_batch_yield(ch); /* it may wait, for direct I/O among others */
		return;
	}
	if (!t->plugged) {
		ch->batch->plug(ch);
		t->plugged = true;
	}
	t->n++;
}
