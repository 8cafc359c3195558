/*
 * chan_batch.h: requests taken from /dev/fuse in batches and their device
 * I/O submitted together (layer: daemon edge, called by channel.c's reads;
 * the hooks are the direct path's, fuse_dio.c). May call libfuse's
 * thread-safe pieces, the kernel's FUSE protocol header and the hooks.
 */
#ifndef EIOCBFS_CHAN_BATCH_H
#define EIOCBFS_CHAN_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct chan;

/* What a batch does with the filesystem, on the worker's thread. */
struct chan_batch_ops {
	void (*plug)(struct chan *ch);	 /* from now on this thread's device I/O waits */
	void (*unplug)(struct chan *ch); /* ... and leaves now, in one submission */
	bool (*busy)(struct chan *ch);	 /* other direct requests are in flight */
	bool (*direct)(struct chan *ch); /* O_DIRECT READ and WRITE only submit I/O */
};

/* At attach (session_fd: the session's own descriptor, never batched) and
   after the loop, once every worker has stopped. init: 0 or -errno. */
int chan_batch_init(struct chan *ch, int session_fd);
void chan_batch_fini(struct chan *ch);

/* The channel's read of the next request on fd, once this worker holds
   the read token: non-blocking inside a batch while other direct requests
   are in flight, else the batch ends (its I/O submitted) and the read
   blocks. As read(2); never EAGAIN. */
ssize_t chan_batch_read(struct chan *ch, int fd, void *buf, size_t len);
/* A request was read from fd: a small O_DIRECT READ or WRITE (not
   O_SYNC) joins (or opens) the batch, and its worker keeps the read token;
   any other request ends the batch and passes the token on first. */
void chan_batch_took(struct chan *ch, int fd, const void *buf, size_t len);
/* Ends this thread's batch, if one is open: its I/O leaves. */
void chan_batch_end(struct chan *ch);
/* Before handling a request that may block: ends the batch and passes the
   read token on, so that another worker reads the next requests. */
void chan_batch_yield(struct chan *ch);

#endif
