/*
 * storage.h: the storage layers of fs/, bottom up, as xv6 names them:
 *
 *   meta     block header checksums (crc32c), verify on read, seal on write
 *   disk     the target (block device or image file): open exclusively,
 *            geometry, synchronous block reads and writes, flush
 *   bcache   the metadata buffer cache: bread/brelse, one copy of a block
 *   journal  metadata transactions: tx_begin/tx_add/tx_end, group commit,
 *            replay at mount (and by fsck)
 *   alloc    block and inode bitmaps: balloc/bfree, ialloc/ifree
 *   super    superblock read/verify/write, clean/dirty/error state
 *
 * The namespace layers (inode, extent, directory, xattr; fs/ops/fs.c) call
 * these; these call nothing above them. Every function returns 0 or a
 * negative errno; -EUCLEAN means a metadata block failed verification.
 *
 * The idiom for changing metadata (every caller follows it):
 *
 *	struct tx *tx;
 *	tx_begin(st->journal, nblocks_max, &tx);  // may wait for log space
 *	bread(st->bcache, blockno, &b);           // or balloc/ialloc ...
 *	... modify b->data ...
 *	tx_add(tx, b);                            // b joins the transaction
 *	brelse(b);
 *	tx_end(tx);      // atomic with everything else in the transaction
 *
 * Lock order: tx_begin may wait for a commit, and a commit waits until
 * every open handle has ended (tx_end). So a thread holding an open handle
 * must never wait for a lock that another thread may hold while it calls
 * tx_begin: take your own locks (inode, namespace) BEFORE tx_begin, as
 * ext4 takes i_rwsem before jbd2_journal_start, and release them after
 * tx_end; buffers are read (bread) inside the handle. Never call tx_begin
 * with a handle already open (no nesting).
 *
 * Ordered data: a caller writes the data of newly allocated blocks to the
 * device (disk_write) BEFORE the tx_add of the metadata that maps them, so
 * a committed mapping never points at unwritten blocks. Blocks freed in a
 * transaction are not handed out again until that transaction is
 * checkpointed (written home, the log moved past it): only then can no
 * replay of an older image of the block land on its next owner's data.
 * When balloc says -ENOSPC while alloc_pending_blocks() > 0, end the
 * transaction, call storage_reclaim and retry once.
 *
 * Durability: tx_end makes nothing durable by itself; the running
 * transaction commits when it fills, every few seconds (timer), on
 * journal_commit (durable: flushed, for fsync) and at storage_close.
 * Commits write descriptors, images and a checksummed commit block in one
 * sequential write and need a single flush (jbd2's async_commit).
 */
#ifndef EIOCBFS_STORAGE_H
#define EIOCBFS_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* ---- meta: block headers ------------------------------------------------ */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
void meta_seal(void *block, size_t bsize, uint32_t magic, uint64_t blockno);
int meta_verify(const void *block, size_t bsize, uint32_t magic,
		uint64_t blockno); /* 0 or -EUCLEAN */

/* ---- disk --------------------------------------------------------------- */
struct faults;
/*
 * The one open of the target: every device I/O of a mount goes through
 * this descriptor (the direct path's libaio backend shares it), and through
 * the device fault points when faults is set (fault.h: device_read,
 * device_write, delay, filtered by the kind of I/O).
 */
struct disk {
	int fd;			/* opened O_DIRECT when direct */
	uint32_t block_size;	/* filesystem block size once known (mkfs/super) */
	uint32_t logical_block; /* the device's logical block size (O_DIRECT alignment) */
	uint64_t size_bytes;
	bool is_blockdev;
	bool readonly;
	bool direct;		/* O_DIRECT (false: a filesystem without it, tmpfs) */
	struct faults *faults;	/* NULL: no fault points */
	struct disk_vcache *vc; /* NULL: writes are durable at once (vcache.c) */
};
/* What a device I/O is for, as the fault points filter it (fault.h). */
struct disk_for {
	unsigned io; /* FAULT_IO_BUFFERED, _META, _JOURNAL, _DIRECT */
	uint64_t ino,
	    off; /* the file and its byte offset (metadata: FAULT_INO_META, device bytes) */
};
/* Opens TARGET exclusively (O_EXCL for devices, flock for images); err gets a one-line reason. */
int disk_open(const char *target, bool readonly, struct disk *d, char *err, size_t errlen);
void disk_close(struct disk *d);
/* buf must be aligned to d->logical_block (use disk_alloc_buf). disk_read
   is a metadata read for the fault points; disk_write is not asked (the
   journal's errors= hook decides metadata write errors, fs/errors.h). */
int disk_read(struct disk *d, uint64_t blockno, uint32_t nblocks, void *buf);
int disk_write(struct disk *d, uint64_t blockno, uint32_t nblocks, const void *buf);
/* The same for the I/O w describes (file data: w->io FAULT_IO_BUFFERED). */
int disk_read_for(struct disk *d, uint64_t blockno, uint32_t nblocks, void *buf,
		  const struct disk_for *w);
int disk_write_for(struct disk *d, uint64_t blockno, uint32_t nblocks, const void *buf,
		   const struct disk_for *w);
int disk_flush(struct disk *d); /* device write cache to stable storage */
/*
 * Device cache (vcache.c): a volatile write cache, for power cuts. Once
 * enabled, every write saves what it overwrites until a flush completes
 * (at most max_bytes of the newest writes; older ones count as destaged).
 * disk_vcache_powercut undoes what a power cut would lose: every write
 * since the last flush (drop), all but a random prefix of whole sectors of
 * each (tear), or a random subset (reorder); later writes are then dropped
 * (the power is off). report gets one line saying what happened.
 */
enum disk_vcache_mode { DISK_VCACHE_DROP, DISK_VCACHE_TEAR, DISK_VCACHE_REORDER };
int disk_vcache_enable(struct disk *d, size_t max_bytes);
void disk_vcache_free(struct disk *d);
/* Before a write of [off, off+len) that does not go through disk_write
   (the direct path): false when the power is cut (drop the write). */
bool disk_vcache_note(struct disk *d, uint64_t off, size_t len);
uint64_t disk_vcache_mark(struct disk *d);		 /* before a flush */
void disk_vcache_flushed(struct disk *d, uint64_t mark); /* after it succeeded */
int disk_vcache_powercut(struct disk *d, enum disk_vcache_mode mode, uint64_t seed, char *report,
			 size_t len);
void *disk_alloc_buf(const struct disk *d, size_t len);

/* ---- bcache ------------------------------------------------------------- */
struct buf {
	uint64_t blockno;
	uint8_t *data; /* block_size bytes, aligned */
	/* private to bcache/journal: refcount, lock, pinned-in-tx, LRU links */
	void *priv;
};
struct bcache;
/* Returns the block with a reference and its content lock held; the magic is verified
   when magic != 0 (a block not yet initialised: pass 0, then meta_seal before tx_add). */
int bread(struct bcache *bc, uint64_t blockno, uint32_t magic, struct buf **out);
void brelse(struct buf *b);
/* Like bread, for a block about to be initialised from scratch (newly
   allocated): no device read, the data comes back zeroed. */
int bread_new(struct bcache *bc, uint64_t blockno, struct buf **out);

/* ---- journal ------------------------------------------------------------ */
struct journal;
struct tx;
int tx_begin(struct journal *j, uint32_t max_blocks, struct tx **out);
void tx_add(struct tx *tx, struct buf *b); /* seals the block's header (crc) at commit */
int tx_end(struct tx *tx);
/* The largest max_blocks tx_begin accepts (-E2BIG above it): split bigger
   changes into several transactions. */
uint32_t journal_max_tx(const struct journal *j);
/* Commit the running transaction; with durable, also flush so it survives a crash. */
int journal_commit(struct journal *j, bool durable);
/*
 * Replays the journal of the filesystem described by sb: every transaction
 * that verifies, in sequence order, stopping at the first that does not (a
 * torn transaction is never half-applied). With apply == NULL the images
 * are written home, the device flushed and the journal marked empty; with
 * apply, apply(arg, home, image) receives each image in order instead and
 * nothing is written (fsck's check mode). *ntx (may be NULL) gets the number
 * of transactions replayed. -EUCLEAN when the journal superblock is damaged.
 * Precondition: d->block_size == sb->block_size; sb passed super_check.
 */
int journal_replay(struct disk *d, const struct ef_super *sb,
		   int (*apply)(void *arg, uint64_t home, const void *image), void *arg,
		   uint64_t *ntx);

/* ---- alloc -------------------------------------------------------------- */
struct alloc;
/* Up to want contiguous blocks near goal; *got >= 1 on success, -ENOSPC when full. */
int balloc(struct alloc *a, struct tx *tx, uint64_t goal, uint64_t want, uint64_t *start,
	   uint64_t *got);
int bfree(struct alloc *a, struct tx *tx, uint64_t start, uint64_t count);
int ialloc(struct alloc *a, struct tx *tx, uint64_t *ino);
int ifree(struct alloc *a, struct tx *tx, uint64_t ino);
/* Free blocks and inodes now (blocks freed but not yet reusable included). */
void alloc_counts(struct alloc *a, uint64_t *free_blocks, uint64_t *free_inodes);
/* Blocks freed but not reusable yet (their transaction is not checkpointed). */
uint64_t alloc_pending_blocks(struct alloc *a);

/* ---- the storage stack as one handle ------------------------------------- */
struct storage {
	struct disk disk;
	struct ef_super sb; /* in-memory copy; write with super_write inside a tx */
	struct bcache *bcache;
	struct journal *journal;
	struct alloc *alloc;
	bool sb_from_backup;	   /* the primary superblock was damaged: warn the user */
	uint64_t journal_replayed; /* transactions replayed at open (crash recovery) */
};
/* Open: verify the superblock, replay the journal, mark dirty (unless readonly).
   On success with sb_from_backup set, err holds the warning to show. */
int storage_open(const char *target, bool readonly, struct storage **out, char *err, size_t errlen);
/* Close: commit, flush, write the superblock (and backup) clean. */
int storage_close(struct storage *st);
int super_write(struct storage *st, struct tx *tx); /* the in-memory sb joins tx */
/*
 * After balloc returned -ENOSPC while alloc_pending_blocks() > 0: commits
 * and checkpoints so blocks freed by earlier transactions become reusable
 * (ext4's "retry the allocation after a journal commit"). Precondition: the
 * caller holds no open transaction. Then retry the operation once.
 */
int storage_reclaim(struct storage *st);
/* Marks the filesystem as having an error (EF_STATE_ERROR), durably. */
int storage_set_error(struct storage *st, uint64_t blockno);

/* mkfs: lay out an empty filesystem (no root directory yet: fs_format_root). */
struct format_opts {
	uint64_t size_bytes; /* 0: the whole target */
	uint32_t block_size;
	uint64_t ninodes; /* 0: one per 16 KiB */
	const char *label;
	bool force; /* overwrite an existing filesystem signature */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};
int storage_format(const char *target, const struct format_opts *o, char *err, size_t errlen);

#endif
