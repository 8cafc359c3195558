/*
 * namespace.h: the namespace layers of fs/, bottom up, as xv6 names them:
 *
 *   inode    in-memory inode cache (iget/iput, ilock/iunlock), on-disk
 *            inodes (iupdate), allocation, the orphan list   (fs/ns/inode.c)
 *   extent   a file's block map: lookup, allocate, insert, remove (fs/ns/extent.c)
 *   file     file data through the block map: read, write, truncate,
 *            fallocate, SEEK_DATA/SEEK_HOLE (fs/ns/bmap.c; the page cache
 *            and the direct path slot in here)
 *   dir      hashed directories: lookup, add, remove, iterate (fs/ns/dir.c)
 *   xattr    extended attributes, one block per inode (fs/ns/xattr.c)
 *   fs       fs/ops/fs.h on top of all of these (fs/ops/fs.c)
 *
 * These call the storage layers (fs/storage/storage.h) and each other downwards
 * only. Every function returns 0 or a negative errno.
 *
 * Locks, in the order they are taken:
 *   fs->ns_lock     serializes renames, so a rename's loop check sees a
 *                   stable tree (other changes only add or remove names under
 *                   their parent's lock; a rename checks its names again once
 *                   it holds the parents).
 *   ip->lock        one per inode (rwlock): parents before children; two
 *                   parents of a rename in ancestor order, else inode order.
 *   icache lock     the cache's table and the reference counts (leaf lock).
 * No global lock is held across file data I/O.
 */
#ifndef EIOCBFS_NAMESPACE_H
#define EIOCBFS_NAMESPACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "layout.h"
#include "lockassert.h"
#include "storage.h"

struct inode;
struct pc;

/* The inode cache: a hash table of in-memory inodes. */
struct icache {
	pthread_mutex_t lock;
	struct lock_owner owner; /* of lock (lockassert.h) */
	struct inode **table;
	size_t nbuckets;
	size_t count;
};

/* The filesystem instance behind fs/ops/fs.h's struct fs. */
struct fs {
	struct storage *st;
	uint32_t bsize;
	_Atomic bool readonly; /* changes: refused with EROFS (remount flips it) */
	bool mounted_ro;       /* opened read-only: the device cannot be written */
	struct icache icache;
	pthread_mutex_t ns_lock;	 /* see the lock order above */
	pthread_mutex_t orphan_lock;	 /* sb.orphan_head and the orphan chain */
	struct lock_owner orphan_owner;	 /* of orphan_lock (lockassert.h) */
	atomic_uint_fast64_t meta_reads; /* metadata blocks read by these layers (tests) */
	uint32_t tx_max;  /* the largest reservation one tx_begin may ask for (journal size) */
	struct fs_io *io; /* page cache and direct path (fs/io/fsio.h), NULL if not started */
	struct pc *pc; /* the page cache (fs/cache/pagecache.h) while io runs: evict drops pages */
	struct fs_errors
	    *errors; /* the errors= hook on the journal (fs/storage/errors.h), or NULL */
	/* Unlinked inodes whose blocks are being freed right now: an allocation
	   that fails waits for them (ns_pending_space) before ENOSPC. */
	pthread_mutex_t free_lock;
	pthread_cond_t free_done;
	unsigned int freeing;
	/* Access times (fs/ops/atime.c): when a read updates one (fs.h's enum
	   fs_atime), and lazytime, which keeps the updates in memory until the
	   inode's next write, fsync, sync, eviction or 24 h (dirty_times counts
	   the inodes holding one). */
	int atime;
	bool lazytime;
	atomic_uint dirty_times;
};

/*
 * Life cycle of an in-memory inode (after xv6):
 *
 *   referenced  ref > 0, or nlookup > 0 (FUSE lookups not yet forgotten),
 *               or nopen > 0 (open handles). While any is non-zero the
 *               struct stays in the cache and iget returns the same one.
 *   valid       d holds the on-disk inode; ilock loads it when not valid.
 *   locked      ip->lock held (exclusive or shared); only then may d be
 *               read (shared) or changed (exclusive, inside a transaction,
 *               followed by iupdate).
 *   freed       when the last of ref/nlookup/nopen drops with nlink == 0,
 *               iput drops its cached pages, truncates the inode, takes it
 *               off the orphan list and frees it on disk (in several
 *               transactions if needed).
 *
 * The idiom: iget(fs, ino, &ip); ilock(ip); ... use/modify ip->d ...;
 * iunlock(ip); iput(ip).
 */
struct inode {
	struct fs *fs;
	uint64_t ino;
	struct inode *hnext; /* icache chain */
	/* under icache.lock */
	uint32_t ref;
	uint64_t nlookup;
	uint64_t nopen;
	/* under lock */
	pthread_rwlock_t lock;
	struct lock_owner lock_owner; /* of lock: ILOCKED, ILOCKED_EXCL */
	bool valid;
	bool orphan;	      /* on the orphan list (the on-disk chain cannot tell its tail) */
	uint64_t orphan_prev; /* its predecessor on the list, 0 for the head (orphan_lock) */
	/* extent.c's cache of recently found extents (trees deeper than the inode's
	   root): readers under the shared lock fill it, changes empty it. A reader
	   that finds it busy walks the tree instead of waiting. */
	atomic_flag xc_busy;
	unsigned xc_next;
	struct ef_extent xc[4];
	struct ef_inode d;
	/* set under lock (read by inode_sync_times under the icache lock): d's
	   times changed in memory only (lazytime), since when (CLOCK_MONOTONIC
	   seconds); any iupdate writes them and clears it */
	_Atomic bool dirty_times;
	int64_t dirty_since;
};

/* Assert that this thread holds ip->lock exclusively (ILOCKED_EXCL), or that
   it is held at all (ILOCKED: a shared holder cannot be named); lockassert.h. */
#define ILOCKED(ip) LOCK_HELD_ANY(&(ip)->lock_owner)
#define ILOCKED_EXCL(ip) LOCK_HELD(&(ip)->lock_owner)

/* ---- inode (fs/ns/inode.c) --------------------------------------------------- */
int icache_init(struct fs *fs);
void icache_destroy(struct fs *fs); /* every inode must be unreferenced */
/* Reference to inode ino (not locked, maybe not valid); -ESTALE for a number out of range. */
int iget(struct fs *fs, uint64_t ino, struct inode **out);
/* Another reference to an inode the caller holds a reference to. */
struct inode *idup(struct inode *ip);
/* Frees the inode at its last reference when unlinked, its cached pages first
   (pc_drop_inode, as the kernel's evict()). Caller holds no lock on ip and no
   page of ip locked: the page cache's callbacks never drop the last reference
   (the cache holds one around them, pc_ops.hold/release). */
void iput(struct inode *ip);
/* Lock (loading d if needed); -ESTALE if the inode is free on disk. */
int ilock(struct inode *ip);
int ilock_shared(struct inode *ip);
void iunlock(struct inode *ip);
/* Under ip->lock exclusively (asserted), inside tx: write ip->d to its inode table block. */
int iupdate(struct tx *tx, struct inode *ip);
/* Inside tx: allocate a fresh inode; returned referenced and locked exclusively, already
   written (iupdate) with nlink 0, so the caller sets nlink and calls iupdate again. */
int inode_alloc(struct fs *fs, struct tx *tx, mode_t mode, uid_t uid, gid_t gid,
		struct inode **out);
/* FUSE lookup and open counts; the inode stays cached while they are non-zero. */
void inode_lookup_ref(struct inode *ip);
void inode_forget(struct fs *fs, uint64_t ino, uint64_t n);
/* After an allocation failed with ENOSPC: waits (a bounded time) for the
   frees of unlinked inodes under way, then returns how much space may
   still come back (alloc_pending_blocks, or 1 if a free just ended):
   non-zero means reclaim (storage_reclaim) and try once more. */
uint64_t ns_pending_space(struct fs *fs);
/* Waits (a bounded time) for the frees under way; true if there were some. */
bool ns_wait_frees(struct fs *fs);
void inode_open_ref(struct inode *ip);
void inode_release(struct fs *fs, uint64_t ino);
/* Whether ip has open handles (a snapshot: the caller holds ip->lock, so a
   last close cannot free its blocks meanwhile). */
bool inode_is_open(struct inode *ip);
/* Lazytime: caller holds ip->lock exclusively and changed a time of d in
   memory only; the inode's next iupdate writes it. */
void inode_dirty_times(struct inode *ip);
/* Caller holds ip->lock exclusively: write the times kept in memory (in a
   transaction of their own); 0 if there are none. */
int inode_write_times(struct inode *ip);
/* Write every inode's times kept in memory (sync, unmount). */
int inode_sync_times(struct fs *fs);
/* Under ip->lock exclusively (asserted), inside tx: put ip on / take it off the orphan list. */
int orphan_add(struct fs *fs, struct tx *tx, struct inode *ip);
int orphan_remove(struct fs *fs, struct tx *tx, struct inode *ip);
/* At mount: free every orphan (nlink 0) or cut its blocks beyond its size. */
int orphans_process(struct fs *fs);
/* Metadata block reads of these layers, counted (tests check lookup costs with it). */
int nbread(struct fs *fs, uint64_t blockno, uint32_t magic, struct buf **out);
/* Current time for timestamps. */
struct ef_time inode_now(void);
/* Fill a struct stat from a locked inode. */
void inode_stat(const struct inode *ip, struct stat *st);

/* Immutable or append-only (chattr +i, +a): its name and attributes may not
   change, nor its data but by appending. Caller holds ip->lock. */
static inline bool inode_frozen(const struct inode *ip)
{
	return ip->d.flags & (EF_FL_IMMUTABLE | EF_FL_APPEND);
}

/* ---- extent (fs/ns/extent.c) ------------------------------------------------- */
/*
 * Under ip->lock (shared for lookups, exclusive for changes; asserted); changes
 * are made inside tx and the caller calls iupdate(tx, ip) before tx_end
 * (the root of the tree and d.blocks live in the inode).
 */
/* The mapping at lblk: a mapped extent containing lblk (pblk != 0), or a hole
   (pblk == 0) starting at lblk whose len reaches at most to the next mapping. */
int extent_map(struct inode *ip, uint64_t lblk, struct ef_extent *out);
/* Allocate up to want blocks for the hole at lblk, near the previous mapping; not mapped yet. */
int extent_balloc(struct tx *tx, struct inode *ip, uint64_t lblk, uint32_t want, uint64_t *pblk,
		  uint32_t *got);
/* Map [lblk, +len) -> [pblk, +len) (a hole until now); merges with neighbours. */
int extent_insert(struct tx *tx, struct inode *ip, uint64_t lblk, uint64_t pblk, uint32_t len);
/* Unmap and free the blocks of [from, to), up to a transaction's worth of work;
 *next is where to continue (>= to when done). */
int extent_remove(struct tx *tx, struct inode *ip, uint64_t from, uint64_t to, uint64_t *next);
/* Journal blocks one extent_insert/extent_remove call may dirty (for tx_begin). */
uint32_t extent_tx_blocks(const struct inode *ip);
uint32_t extent_remove_tx_blocks(const struct inode *ip);
/* Forget cached extents (the map changed under ip->lock held exclusively). */
void extent_cache_clear(struct inode *ip);

/* ---- file data (fs/ns/bmap.c) ----------------------------------------------- */
/* Under ip->lock, shared (asserted). */
ssize_t file_read(struct inode *ip, void *buf, size_t size, off_t off);
/* Under ip->lock exclusively (asserted); runs its own transactions. */
ssize_t file_write(struct inode *ip, const void *buf, size_t size, off_t off);
/* The same for the page cache's write-back (within the size): times and size
   unchanged (a buffered write set them when it happened). */
ssize_t file_write_back(struct inode *ip, const void *buf, size_t size, off_t off);
int file_truncate(struct inode *ip, uint64_t size);
int file_fallocate(struct inode *ip, int mode, off_t off, off_t len);
/* Free every block beyond the inode's size (and all of them when nlink is 0). */
int file_free_beyond(struct inode *ip, uint64_t from_lblk);
/* Inside tx, ip new and empty (locked exclusively): its first len bytes (a long symlink). */
int file_init_data(struct tx *tx, struct inode *ip, const void *buf, size_t len);
/* Under ip->lock, shared (asserted). */
off_t file_seek(struct inode *ip, off_t off, int whence);

/* ---- dir (fs/ns/dir.c) ------------------------------------------------------- */
/* Under dp->lock (shared for lookup/iterate, exclusive for changes inside tx; asserted). */
int dir_init(struct tx *tx, struct inode *dp, uint64_t parent);
int dir_lookup(struct inode *dp, const char *name, size_t len, uint64_t *ino, uint8_t *type);
/* Before the transaction of a dir_add: make room for name in its bucket (splitting
   buckets, doubling the table, in transactions of their own). The caller keeps
   dp->lock exclusively until the dir_add. */
int dir_prepare(struct inode *dp, const char *name, size_t len);
int dir_add(struct tx *tx, struct inode *dp, const char *name, size_t len, uint64_t ino,
	    uint8_t type);
int dir_remove(struct tx *tx, struct inode *dp, const char *name, size_t len);
/* Point an existing name at another inode (rename over an existing name). */
int dir_replace(struct tx *tx, struct inode *dp, const char *name, size_t len, uint64_t ino,
		uint8_t type);
int dir_parent(struct inode *dp, uint64_t *parent);
int dir_set_parent(struct tx *tx, struct inode *dp, uint64_t parent);
int dir_count(struct inode *dp, uint64_t *nentries);
/* Entries with key >= from_key in key order; cb returns non-zero to stop (then
   dir_iterate returns that value). */
typedef int (*dir_iter_fn)(void *arg, const char *name, size_t len, uint64_t ino, uint8_t type,
			   uint64_t key);
int dir_iterate(struct inode *dp, uint64_t from_key, dir_iter_fn cb, void *arg);

/* ---- xattr (fs/ns/xattr.c) --------------------------------------------------- */
/* Under ip->lock (shared for get/list; exclusive and inside tx for set/remove; asserted). */
ssize_t xattr_get(struct inode *ip, const char *name, void *value, size_t size);
ssize_t xattr_list(struct inode *ip, char *list, size_t size);
int xattr_set(struct tx *tx, struct inode *ip, const char *name, const void *value, size_t size,
	      int flags);
int xattr_remove(struct tx *tx, struct inode *ip, const char *name);
/* Free the inode's xattr block (inode being freed). */
int xattr_free(struct tx *tx, struct inode *ip);

/* ---- whole namespace ------------------------------------------------------ */
/* mkfs: create the root directory (inode 1) in a freshly formatted filesystem. */
int fs_format_root(struct storage *st, uid_t uid, gid_t gid);

#endif
