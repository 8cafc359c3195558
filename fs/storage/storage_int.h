/*
 * storage_int.h: what the storage layers (fs/storage/meta.c, disk.c, bcache.c,
 * journal.c, alloc.c, super.c, format.c) share among themselves and with
 * their tests, beyond the public fs/storage/storage.h. The namespace layers and
 * the daemon use storage.h only; fsck may use the super_* checks here.
 */
#ifndef EIOCBFS_STORAGE_INT_H
#define EIOCBFS_STORAGE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"

/* ---- meta ---------------------------------------------------------------- */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len); /* table only */
/* One of layout.h's EF_MAGIC_* (a block that carries struct ef_blkhdr). */
bool meta_known_magic(uint32_t magic);

/* ---- disk ---------------------------------------------------------------- */
/* Byte-addressed I/O, for before the block size is known: buf, len and off
   aligned to d->logical_block. */
int disk_pread(struct disk *d, void *buf, size_t len, uint64_t off);
int disk_pwrite(struct disk *d, const void *buf, size_t len, uint64_t off);
/* The same, past the device cache (its own undo). */
int disk_pwrite_raw(struct disk *d, const void *buf, size_t len, uint64_t off);

/* ---- bcache -------------------------------------------------------------- */
struct bcache_stats {
	uint64_t hits, misses, evictions, nbufs, overflow; /* overflow: over max (all pinned) */
};
struct bcache *bcache_create(struct disk *d, uint32_t block_size, size_t max_bufs);
/* Precondition: no buffer referenced (every bread matched by brelse). */
void bcache_destroy(struct bcache *bc);
void bcache_get_stats(struct bcache *bc, struct bcache_stats *st);
/* Extra references that do not take the content lock (the journal pins
   a buffer in a transaction and until its checkpoint with these). */
void bref(struct buf *b);
void bput(struct buf *b);
/* The journal's per-buffer word (the sequence of the running transaction
   the buffer last joined), guarded by the journal's lock. */
uint64_t *buf_jseq(struct buf *b);
/* The device under the cache. */
struct disk *bcache_disk(struct bcache *bc);
/* Drops every unreferenced buffer (tests; fsck after repairing). */
void bcache_drop_clean(struct bcache *bc);

/* ---- journal ------------------------------------------------------------- */
struct journal_opts {
	uint32_t commit_interval_ms; /* timer commit; 0: no timer thread */
	/* Called after transactions up to seq are checkpointed (their blocks
	   written home and the log space released): the allocator's moment to
	   hand out blocks freed in them. */
	void (*on_checkpoint)(void *arg, uint64_t seq);
	void *arg;
	bool readonly; /* tx_begin fails with -EROFS */
};
struct journal_stats {
	uint64_t commits, checkpoints, blocks_logged, blocks_checkpointed, flushes;
	uint64_t running_seq;
};
/* Precondition: the journal was replayed (journal_replay) and is empty. */
int journal_create(struct disk *d, struct bcache *bc, const struct ef_super *sb,
		   const struct journal_opts *o, struct journal **out);
/* Commits, checkpoints and stops the timer; returns the first error seen. */
int journal_destroy(struct journal *j);
/* Writes every committed transaction home and empties the log. */
int journal_checkpoint(struct journal *j);
/* The sequence number of the running transaction of tx (for the allocator). */
uint64_t tx_seq(const struct tx *tx);
void journal_get_stats(struct journal *j, struct journal_stats *st);
/* What a write hook may do to one block while the write still succeeds
   (the device fault kinds lost, torn and corrupt on metadata). */
struct jwrite_damage {
	enum { JW_WHOLE, JW_LOST, JW_TORN, JW_CORRUPT } what;
	uint32_t keep; /* torn: the bytes of the block that land (whole sectors) */
	uint32_t byte; /* corrupt: the byte of the block whose bits flip */
	uint8_t bits;  /* corrupt: the XOR mask */
};
/* Write hook: every device write of the journal (log and home) goes
   through fn block by block when set; returning > 0 drops the write and
   all later ones (a simulated power cut), < 0 fails it with that errno (an
   I/O error), 0 writes the block as *dmg says (JW_WHOLE unless changed). */
typedef int (*journal_write_hook_fn)(void *arg, uint64_t blockno, struct jwrite_damage *dmg);
void journal_set_write_hook(struct journal *j, journal_write_hook_fn fn, void *arg);

/* ---- alloc --------------------------------------------------------------- */
int alloc_create(struct bcache *bc, struct ef_super *sb, pthread_mutex_t *sb_lock,
		 struct alloc **out);
void alloc_destroy(struct alloc *a);
/* The journal's on_checkpoint: blocks freed in transactions <= seq become free. */
void alloc_on_checkpoint(void *a, uint64_t seq);

/* ---- super --------------------------------------------------------------- */
/* Range-checks every field of a superblock read from a device of dev_bytes;
   0 or -EUCLEAN with the first problem in why. */
int super_check(const struct ef_super *sb, uint64_t dev_bytes, char *why, size_t whylen);
/* Reads the primary superblock, or the backup when the primary fails;
 *used_backup says which. */
int super_read(struct disk *d, struct ef_super *sb, bool *used_backup, char *err, size_t errlen);
/* Writes sb (sealed) to block 0 and, with backup, to block nblocks - 1. */
int super_write_direct(struct disk *d, const struct ef_super *sb, bool backup);
/* The layout mkfs would make; 0 or -EINVAL/-ENOSPC with a reason. */
int super_layout(uint64_t size_bytes, uint32_t block_size, uint64_t ninodes, struct ef_super *sb,
		 char *err, size_t errlen);

#endif
