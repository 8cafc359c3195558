/*
 * pagecache.h: the filesystem's page cache for buffered I/O (docs/semantics.md P1-P4).
 *
 * Layer: between the file operations (buffered read/write, fsync, the direct
 * path's write-back and invalidation) and the filesystem below, which it
 * reaches only through struct pc_ops; it also asks the fault points
 * (fault.h, point "invalidate"). It knows nothing of extents or journals.
 *
 * A page is one filesystem block of one inode, keyed by (ino, index) where
 * index = byte offset / block_size. See pagecache.c for the life cycle of a
 * page. All functions are thread-safe; none holds a lock across a pc_ops
 * callback, so device I/O of different pages runs in parallel.
 *
 * Ranges are inclusive, as in the kernel: pc_writeback_range takes bytes
 * [start, end] (filemap_write_and_wait_range), pc_invalidate_range takes
 * page indexes [start, end] (invalidate_inode_pages2_range). PC_END means
 * "to the end of the file".
 *
 * The idiom of an O_DIRECT write (P2) and read (P4), with the byte-range
 * helpers at the end of this file:
 *
 *	r = pc_direct_prepare(pc, ino, off, len);     // dirty -> disk, wait (P2, P4)
 *	... submit the device I/O ...                 // -EIOCBQUEUED
 *	r = pc_direct_invalidate(pc, ino, off, len);  // write only (P2)
 *	... propagate_error(iocb, -EIOCBQUEUED, r) when r < 0 (R3) ...
 *	... at device completion, invalidate again (a racing buffered read
 *	    may have re-cached old data while the write was in flight) ...
 *
 * Callers: pc_write calls that extend the same inode must be serialized by
 * the caller (as the kernel's i_rwsem does), and so must pc_truncate with
 * writes of that inode; everything else may run in parallel. The pc_ops
 * callbacks must not call back into the cache.
 */
#ifndef EIOCBFS_PAGECACHE_H
#define EIOCBFS_PAGECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fault.h"

#define PC_END UINT64_MAX

/* How the cache reaches the filesystem; every callback returns 0 or a negative errno. */
struct pc_ops {
	/* Fill buf (block_size bytes) with block index of ino; holes, past EOF: zeros. */
	int (*read_block)(void *arg, uint64_t ino, uint64_t index, void *buf);
	/* Optional: nr consecutive blocks (read-ahead batches). NULL: read_block each. */
	int (*readpages)(void *arg, uint64_t ino, uint64_t index, unsigned nr, void *const bufs[]);
	/* Write one page back (block_size bytes; the fs ignores what lies past its size). */
	int (*writepage)(void *arg, uint64_t ino, uint64_t index, const void *buf);
	int (*get_size)(void *arg, uint64_t ino, uint64_t *size);
	/* Raise the file size to at least size (a buffered write past EOF). */
	int (*extend_size)(void *arg, uint64_t ino, uint64_t size);
	/* Optional: write nr consecutive pages back in one call. NULL: writepage each. */
	int (*writepages)(void *arg, uint64_t ino, uint64_t index, unsigned nr,
			  const void *const bufs[]);
	/*
	 * Optional: a reference on file ino for the time the cache holds pages
	 * of ino locked around a callback (read-in, write-back, extend_size), as
	 * the kernel's write-back holds the inode it writes. hold may run with
	 * those pages locked, so it must not wait for a page; release runs in
	 * the same thread once none of them is locked, so it may be the file's
	 * last reference and free it, pc_drop_inode included (the kernel's
	 * evict()). A hold that fails is the callback's error, the callback not
	 * made. release gets what hold stored in *file.
	 */
	int (*hold)(void *arg, uint64_t ino, void **file);
	void (*release)(void *arg, void *file);
};

/* Zero fields take the defaults shown. */
struct pc_config {
	uint32_t block_size;	  /* page size = the fs block size (required) */
	unsigned cache_mb;	  /* memory limit, -o cache_mb (64) */
	uint64_t max_pages;	  /* overrides cache_mb when non-zero (small caches in tests) */
	unsigned dirty_pct;	  /* dirty limit, percent of the page limit (50): see below */
	unsigned wb_interval_ms;  /* write-back thread period (500) */
	unsigned dirty_expire_ms; /* age at which the thread writes a dirty page back (3000) */
	unsigned ra_min;	  /* first read-ahead window, pages (4) */
	unsigned ra_max;	  /* largest read-ahead window, pages (32; at most max_pages/4) */
	unsigned nshards;	  /* lock shards, a power of two (16) */
	int busy_errno;		  /* what an undroppable page fails invalidation with (EIO) */
};

/*
 * Memory. Page data lives in slab chunks of PC_CHUNK_BYTES (anonymous
 * mmap, carved into blocks; headers in one array per chunk), so a cached
 * page costs its block plus at most PC_MEM_PER_PAGE bytes: its 72-byte
 * header, at most 16 bytes of hash buckets and its share of a chunk's
 * 24-byte descriptor (under 3% at 4 KiB blocks; one posix_memalign per
 * page cost about 100%). On top of max_pages such
 * pages the cache holds a fixed overhead of at most one chunk per shard
 * (nshards x 2 MiB = 32 MiB with the default 16 shards, never more than
 * a quarter of the cache: small caches use smaller chunks) and
 * PC_MEM_TABLES bytes of tables. The stat `bytes` counts all of it
 * (chunks count whole, resident or not). The page limit is soft: pages
 * the cache cannot write back (a failing device) or holds locked under
 * I/O may take it past max_pages, and those pages cost the same again.
 */
#define PC_CHUNK_BYTES (2u << 20)
#define PC_MEM_PER_PAGE 112u
#define PC_MEM_TABLES (64u << 10)

struct pc_stats {
	uint64_t pages, dirty, max_pages, dirty_limit;
	uint64_t hits, misses; /* page lookups of buffered reads: in memory / read from the fs */
	uint64_t invalidations, invalidate_failures; /* pc_invalidate_range calls / failed calls */
	uint64_t invalidated;			     /* pages dropped by invalidation */
	uint64_t evictions;			     /* clean pages dropped for the memory limit */
	uint64_t writebacks, writeback_errors;	     /* pages written back / failed writepage */
	uint64_t readahead;			     /* pages read ahead of the reader */
	uint64_t bytes; /* memory the cache holds: page slabs, headers, tables (see PC_MEM_*) */
	uint64_t wb_err_set, wb_err_reported; /* write-back errors recorded / reported by a check */
};

struct pc;

/* faults may be NULL (no fault points). */
int pc_new(const struct pc_config *cfg, const struct pc_ops *ops, void *arg, struct faults *faults,
	   struct pc **out);
/*
 * Stops the write-back thread and frees everything; dirty pages are
 * discarded (pc_sync first). No other call may be in progress.
 */
void pc_free(struct pc *pc);

/* Buffered I/O (P1). Return the bytes done (short at EOF for reads) or a negative errno. */
ssize_t pc_read(struct pc *pc, uint64_t ino, uint64_t off, size_t len, void *buf);
ssize_t pc_write(struct pc *pc, uint64_t ino, uint64_t off, size_t len, const void *buf);

/* Write back dirty pages of bytes [start, end]; wait: also wait for pages already under I/O. */
int pc_writeback_range(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end, bool wait);
int pc_fsync(struct pc *pc, uint64_t ino);
/*
 * What Linux does after a failed write-back: the dirty pages of ino become
 * clean without being written (after any I/O on them); their data is read
 * until eviction drops it, then the device's older data shows. Counted as
 * write-back errors. Returns the pages discarded.
 */
uint64_t pc_discard_dirty(struct pc *pc, uint64_t ino);
/* Write back every dirty page and wait (unmount, syncfs). */
int pc_sync(struct pc *pc);

/*
 * Drop the clean pages of indexes [start, end] (P3). -busy_errno when a
 * page in range cannot be dropped (dirty or locked under I/O; the others
 * are still dropped): -EIO by default, as invalidate_inode_pages2_range()
 * returned in 2.6.20 (the kernels of the AIO patch); -EBUSY is today's.
 * The injected errno, dropping nothing, when fault point "invalidate"
 * fires. Counted in invalidations / invalidate_failures.
 */
int pc_invalidate_range(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end);
/*
 * The same, but a page locked under I/O (a buffered read filling it, a
 * write-back) is waited for and then judged, as the kernel's
 * invalidate_inode_pages2_range does with lock_page: only a dirty page
 * (or the fault point) makes it fail. The direct path uses this one.
 * Precondition: the caller holds no page locked (no pc_ops callback).
 */
int pc_invalidate_range_wait(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end);

/* After the filesystem set ino's size: drop pages past it (dirty ones too), zero the tail. */
int pc_truncate(struct pc *pc, uint64_t ino, uint64_t size);
/* Drop the pages of indexes [start, end] whatever their state, after
   waiting out their I/O (a punched hole: the file layer owns the bytes). No
   fault point: this is not an invalidation that may fail. */
void pc_drop_range(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end);
/* Forget ino entirely (deleted inode): its dirty pages are discarded, its
   write-back error too. Waits out the I/O of its locked pages: the caller
   holds none of them (not from a callback; from release, yes). */
void pc_drop_inode(struct pc *pc, uint64_t ino);

/*
 * Write-back errors of a file, Linux's mapping->wb_err (errseq.h, wberr.h):
 * whoever loses written data of ino records it (pc_wb_err_set, err < 0);
 * each open file description takes a cursor at open (pc_wb_err_sample) and
 * its fsync reports through it (pc_wb_err_check: the negative errno of an
 * error recorded since, once per cursor, else 0). A description opened
 * after an error that some fsync has already reported does not see it; one
 * opened while nobody has, does (the kernel's rule since 4.16).
 */
void pc_wb_err_set(struct pc *pc, uint64_t ino, int err);
uint32_t pc_wb_err_sample(struct pc *pc, uint64_t ino);
int pc_wb_err_check(struct pc *pc, uint64_t ino, uint32_t *since);

/*
 * The write-back thread: writes pages dirty for dirty_expire_ms, every
 * wb_interval_ms, and everything when kicked (by pc_wb_kick, or by a writer
 * that takes the dirty pages over half the dirty limit). Over the limit,
 * writers write back older pages themselves. Without the thread, only the
 * writers' write-back, eviction, fsync and sync write pages back.
 */
int pc_wb_start(struct pc *pc);
void pc_wb_stop(struct pc *pc);
/* Ask the thread to write back everything now, without waiting for it. */
void pc_wb_kick(struct pc *pc);

void pc_get_stats(struct pc *pc, struct pc_stats *st);

uint32_t pc_block_size(const struct pc *pc);

/* Before a direct read or write of bytes [off, off+len): write back and wait (P2, P4). */
static inline int pc_direct_prepare(struct pc *pc, uint64_t ino, uint64_t off, uint64_t len)
{
	return len ? pc_writeback_range(pc, ino, off, off + len - 1, true) : 0;
}

/* After submitting, and after completing, a direct write of bytes [off, off+len) (P2, P3). */
static inline int pc_direct_invalidate(struct pc *pc, uint64_t ino, uint64_t off, uint64_t len)
{
	uint32_t bs = pc_block_size(pc);

	return len ? pc_invalidate_range(pc, ino, off / bs, (off + len - 1) / bs) : 0;
}

/* For tests and debugging: the state of one page now. */
enum pc_state { PC_ABSENT, PC_CLEAN, PC_DIRTY, PC_LOCKED };
enum pc_state pc_page_state(struct pc *pc, uint64_t ino, uint64_t index);

#endif
