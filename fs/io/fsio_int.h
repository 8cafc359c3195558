/*
 * fsio_int.h: what buffered.c and direct.c share (the engine behind fsio.h).
 */
#ifndef EIOCBFS_FSIO_INT_H
#define EIOCBFS_FSIO_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "aio_dev.h"
#include "fault.h"
#include "fsio.h"
#include "lockassert.h"
#include "ioctx.h"
#include "namespace.h"
#include "pagecache.h"

#define FSIO_STRIPES 64	   /* I/O locks: inodes share a stripe by number */
#define FSIO_DIO_CLASSES 9 /* direct buffers kept for reuse: 4 KiB << 0..8, up to 1 MiB */

/* The I/O lock of the inodes of one stripe, and their direct I/O in flight. */
struct fsio_stripe {
	pthread_mutex_t lock;
	struct lock_owner owner; /* of lock (lockassert.h) */
	pthread_cond_t dio_idle; /* dio or alloc_dio reached 0 */
	int dio;		 /* direct requests in flight (under lock) */
	int alloc_dio;		 /* ... of which writes with unmapped new blocks */
} __attribute__((aligned(64)));

struct fs_io {
	struct fs *fs;
	struct pc *pc;
	struct faults *faults;
	struct ioctx *ctx;
	struct aio_dev *dev; /* NULL: no direct path (target without O_DIRECT) */
	unsigned lbs;	     /* the device's logical block size */
	struct aio_dev_fault dev_fault;
	fsio_dio_done_fn done;
	void *done_arg;
	fsio_log_fn oops; /* NULL: stderr */
	void *oops_arg;
	fsio_stale_fn stale_log; /* mainline's stale page cache warning; NULL: none */
	void *stale_log_arg;
	struct fsio_stripe stripes[FSIO_STRIPES];
	atomic_uint_fast64_t requests, replies, cancelled, bad_replies, stale_pagecache;
	/* direct.c: spare requests with their buffers, one list per buffer
	   size class (no calloc/posix_memalign per request); off once
	   fsio_direct_stop ran. Under dio_free_lock. */
	pthread_mutex_t dio_free_lock;
	struct fsio_dio *dio_free[FSIO_DIO_CLASSES];
	unsigned dio_nfree[FSIO_DIO_CLASSES];
	bool dio_free_off;
};

static inline struct fsio_stripe *fsio_stripe(struct fs_io *io, uint64_t ino)
{
	return &io->stripes[ino % FSIO_STRIPES];
}

/* A stripe's I/O lock, its holder recorded (lockassert.h), and waiting for its direct I/O. */
static inline void fsio_stripe_lock(struct fsio_stripe *s)
{
	pthread_mutex_lock(&s->lock);
	lock_owned(&s->owner);
}

static inline void fsio_stripe_unlock(struct fsio_stripe *s)
{
	lock_disowned(&s->owner);
	pthread_mutex_unlock(&s->lock);
}

static inline void fsio_stripe_wait(struct fsio_stripe *s)
{
	lock_disowned(&s->owner);
	pthread_cond_wait(&s->dio_idle, &s->lock);
	lock_owned(&s->owner);
}

/* direct.c: set-up and tear-down of the direct path (device, ioctx). */
int fsio_direct_start(struct fs_io *io, const char *target, enum ioctx_semantics mode,
		      unsigned ring, char *err, size_t errlen);
void fsio_direct_stop(struct fs_io *io);

/* buffered.c: the page cache's ops over the file layer. */
extern const struct pc_ops fsio_pc_ops;

#endif
