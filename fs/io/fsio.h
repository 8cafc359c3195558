/*
 * fsio.h: the file I/O engine of a mounted filesystem: the page cache for
 * buffered I/O (P1) and the direct path through ioctx (P2, P4, P6).
 *
 * Layer: between fs/ops/fs.c (which calls it when fs->io is set) and, below it,
 * the file data layer (fs/ns/bmap.c: block mapping, allocation), the page
 * cache (fs/cache/pagecache.h, reached by fs/io/buffered.c through struct pc_ops),
 * ioctx (ioctx/ioctx.h) over the libaio device backend (ioctx/aio_dev.h)
 * and the fault points (fs/fault/fault.h). Files: buffered.c (set-up, per-inode I/O
 * locks, the page cache's ops over fs/ns/bmap.c), direct.c (the direct path).
 *
 * Locks, in order: the I/O lock of an inode (fsio_lock: a striped mutex,
 * like the kernel's i_rwsem for writers) -> ip->lock -> journal. The page
 * cache's callbacks take only ip->lock, so nobody may call into the page
 * cache while holding ip->lock. Buffered writes, truncate and fallocate of
 * an inode hold its I/O lock (the page cache's caller serialization);
 * direct I/O holds it while it writes back, maps and counts itself in
 * flight, and truncate/punch wait for the direct I/O in flight
 * (inode_dio_wait) before they change the block map.
 */
#ifndef EIOCBFS_FSIO_H
#define EIOCBFS_FSIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ioctx.h"

struct fs;
struct faults;
struct pc;
struct fs_io;

struct fsio_opts {
	const char *target;	   /* the device or image (the direct path opens it again) */
	unsigned cache_mb;	   /* 0: the page cache's default */
	enum ioctx_semantics mode; /* -o semantics= */
	struct faults *faults;	   /* may be NULL; owned by the caller */
	unsigned ring;		   /* ioctx ring size; 0: 4096 */
};

/* Start the engine on a mounted fs (fs->io set on success). err: one line. */
int fsio_start(struct fs *fs, const struct fsio_opts *o, char *err, size_t errlen);
/* Write everything back, stop the threads, free. fs->io is NULL after. */
int fsio_stop(struct fs *fs);

/* Buffered I/O through the page cache. Precondition: no inode lock held. */
ssize_t fsio_read(struct fs *fs, uint64_t ino, void *buf, size_t size, off_t off);
ssize_t fsio_write(struct fs *fs, uint64_t ino, const void *buf, size_t size, off_t off);
int fsio_fsync(struct fs *fs, uint64_t ino);
int fsio_sync(struct fs *fs);

/*
 * Around a change of the block map (truncate, fallocate): begin takes the
 * inode's I/O lock, waits for its direct I/O in flight and, for a range
 * change, writes the range back; end (with the new size, or the range for a
 * punch) drops the pages the change made stale and releases the lock.
 * Precondition: no inode lock held (neither call may be made under ip->lock).
 */
int fsio_change_begin(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len);
void fsio_truncate_end(struct fs *fs, uint64_t ino, uint64_t size, bool done);
void fsio_punch_end(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len);

/* The objects behind the engine, for the control channel's stats. */
struct ioctx *fsio_ioctx(struct fs *fs);
struct pc *fsio_pc(struct fs *fs);

/* ---- the direct path (direct.c) ------------------------------------------ */

/*
 * One O_DIRECT read or write of a FUSE request. The glue:
 *
 *	d = fsio_dio_new(fs, ino, write, size, off, oflags, cookie, &err);
 *	write: copy the data into fsio_dio_buf(d)
 *	register the interrupt with fsio_dio_handle(d)   (before submitting)
 *	fsio_dio_submit(fs, d);   // d belongs to the engine from here on
 *
 * The result arrives exactly once through the done callback (on whatever
 * thread inserted the event), unless the request was cancelled
 * (fsio_dio_cancel returned 0: the canceller answers it). Alignment as on
 * ext4: offset and size not multiples of the device's logical block size
 * give -EINVAL (in the event).
 */
struct fsio_dio;
typedef void (*fsio_dio_done_fn)(void *arg, void *cookie, bool write, int64_t res, const void *buf);

void fsio_set_dio_done(struct fs *fs, fsio_dio_done_fn fn, void *arg);
/* Where the ioctx's one-line oops records (detected double completions)
   go; unset: stderr. Set before requests are served. */
typedef void (*fsio_log_fn)(void *arg, const char *line);
void fsio_set_oops_log(struct fs *fs, fsio_log_fn fn, void *arg);
/* mainline: a direct write's page-cache invalidation failed (its event
   still says success; the file's write-back error is set). The daemon logs
   it, rate limited, like the kernel's dio_warn_stale_pagecache(). */
typedef void (*fsio_stale_fn)(void *arg, uint64_t ino, int64_t off, size_t len, int err);
void fsio_set_stale_log(struct fs *fs, fsio_stale_fn fn, void *arg);
/* NULL with *err (negative errno) when it cannot start (no direct path, ring full...). */
struct fsio_dio *fsio_dio_new(struct fs *fs, uint64_t ino, bool write, size_t size, off_t off,
			      int oflags, void *cookie, int *err);
void *fsio_dio_buf(struct fsio_dio *d);
ioctx_handle_t fsio_dio_handle(const struct fsio_dio *d);
void fsio_dio_submit(struct fs *fs, struct fsio_dio *d);
/* Make the request fail with err (< 0) when submitted (e.g. its data could
   not be copied in): it is still answered through the ring, once. */
void fsio_dio_poison(struct fsio_dio *d, int err);
/* R6: 0 and *cookie when cancelled (no event will come); negative errno if too late. */
int fsio_dio_cancel(struct fs *fs, ioctx_handle_t h, void **cookie);
/* Whether the direct path is available (an O_DIRECT-capable target). */
bool fsio_has_direct(struct fs *fs);

/*
 * Plugging: between fsio_plug and fsio_unplug (same thread, pairs nest),
 * the device I/O of fsio_dio_submit calls waits and the unplug submits it
 * all at once (aio_dev_plug): a caller taking several requests in a row
 * submits them in one system call. The direct path submits a thread's
 * plug itself before it waits for I/O that may sit in it; the caller must
 * not wait for a plugged request's answer, nor handle a request that may
 * wait for direct I/O (truncate, fsync, buffered I/O), before unplugging.
 */
void fsio_plug(struct fs *fs);
void fsio_unplug(struct fs *fs);
/* Direct requests started and not yet answered (a hint: racy by nature). */
uint64_t fsio_dio_inflight(struct fs *fs);

/* Counters of the FUSE-facing side, for the stats and the reply check. */
struct fsio_dio_stats {
	uint64_t requests;	  /* fsio_dio_new that returned a request */
	uint64_t replies;	  /* results handed to the done callback or a canceller */
	uint64_t cancelled;	  /* requests answered by a canceller */
	uint64_t bad_replies;	  /* a request answered twice (must stay 0) */
	uint64_t stale_pagecache; /* mainline: invalidation failures made write-back errors */
};
void fsio_dio_get_stats(struct fs *fs, struct fsio_dio_stats *st);

/*
 * Write-back errors per open file description (Linux's errseq_t rules,
 * pagecache.h pc_wb_err_*): the FUSE glue keeps one cursor per open, taken
 * with fsio_wb_err_sample at open; its fsync reports through
 * fsio_wb_err_check (the error once, then 0). The glue serializes calls on
 * one cursor.
 */
uint32_t fsio_wb_err_sample(struct fs *fs, uint64_t ino);
int fsio_wb_err_check(struct fs *fs, uint64_t ino, uint32_t *since);

#endif
