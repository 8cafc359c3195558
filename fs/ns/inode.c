/*
 * inode.c: the inode layer. The in-memory inode cache (iget/iput,
 * ilock/iunlock; the life cycle is in namespace.h), on-disk inodes in the
 * inode table (iupdate), inode allocation and freeing, FUSE lookup and open
 * counts, and the orphan list that makes "unlinked but still open" survive
 * a crash without leaking.
 *
 * Calls: storage (bread/brelse, tx_*, ialloc/ifree, super_write) and, to
 * free an inode's blocks, file_free_beyond and xattr_free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pagecache.h"
#include "namespace.h"

#define ICACHE_BUCKETS 65536

int nbread(struct fs *fs, uint64_t blockno, uint32_t magic, struct buf **out)
{
	atomic_fetch_add_explicit(&fs->meta_reads, 1, memory_order_relaxed);
	return bread(fs->st->bcache, blockno, magic, out);
}

struct ef_time inode_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (struct ef_time){.sec = ts.tv_sec, .nsec = (uint32_t)ts.tv_nsec};
}

void inode_stat(const struct inode *ip, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ip->ino;
	st->st_mode = ip->d.mode;
	st->st_nlink = ip->d.nlink;
	st->st_uid = ip->d.uid;
	st->st_gid = ip->d.gid;
	st->st_rdev = ip->d.rdev;
	st->st_size = (off_t)ip->d.size;
	st->st_blksize = ip->fs->bsize;
	st->st_blocks = (blkcnt_t)(ip->d.blocks * (ip->fs->bsize / 512));
	st->st_atim = (struct timespec){ip->d.atime.sec, ip->d.atime.nsec};
	st->st_mtim = (struct timespec){ip->d.mtime.sec, ip->d.mtime.nsec};
	st->st_ctim = (struct timespec){ip->d.ctime.sec, ip->d.ctime.nsec};
}

/* ---- the cache ----------------------------------------------------------- */

int icache_init(struct fs *fs)
{
	struct icache *c = &fs->icache;
	pthread_mutex_init(&c->lock, NULL);
	c->nbuckets = ICACHE_BUCKETS;
	c->count = 0;
	c->table = calloc(c->nbuckets, sizeof(*c->table));
	return c->table ? 0 : -ENOMEM;
}

void icache_destroy(struct fs *fs)
{
	struct icache *c = &fs->icache;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct inode *ip = c->table[i], *next;
		for (; ip; ip = next) {
			next = ip->hnext;
			pthread_rwlock_destroy(&ip->lock);
			free(ip);
		}
	}
	free(c->table);
	c->table = NULL;
	pthread_mutex_destroy(&c->lock);
}

/* ip->lock and the cache's lock, with their holders recorded (lockassert.h). */
static void ip_wrlock(struct inode *ip)
{
	pthread_rwlock_wrlock(&ip->lock);
	lock_owned(&ip->lock_owner);
}

static void ip_rdlock(struct inode *ip)
{
	pthread_rwlock_rdlock(&ip->lock);
	lock_read_owned(&ip->lock_owner);
}

static void ip_unlock(struct inode *ip)
{
	lock_rw_disowned(&ip->lock_owner);
	pthread_rwlock_unlock(&ip->lock);
}

static void icache_lock(struct icache *c)
{
	pthread_mutex_lock(&c->lock);
	lock_owned(&c->owner);
}

static void icache_unlock(struct icache *c)
{
	lock_disowned(&c->owner);
	pthread_mutex_unlock(&c->lock);
}

static void orphan_list_lock(struct fs *fs)
{
	pthread_mutex_lock(&fs->orphan_lock);
	lock_owned(&fs->orphan_owner);
}

static void orphan_list_unlock(struct fs *fs)
{
	lock_disowned(&fs->orphan_owner);
	pthread_mutex_unlock(&fs->orphan_lock);
}

static size_t ihash(const struct icache *c, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 40) % c->nbuckets;
}

static struct inode *ifind(struct icache *c, uint64_t ino)
{
	LOCK_HELD(&c->owner);
	for (struct inode *ip = c->table[ihash(c, ino)]; ip; ip = ip->hnext)
		if (ip->ino == ino)
			return ip;
	return NULL;
}

/* ip has no references left. */
static void iunhash(struct icache *c, struct inode *ip)
{
	LOCK_HELD(&c->owner);
	struct inode **pp = &c->table[ihash(c, ip->ino)];
	while (*pp != ip)
		pp = &(*pp)->hnext;
	*pp = ip->hnext;
	c->count--;
}

int iget(struct fs *fs, uint64_t ino, struct inode **out)
{
	struct icache *c = &fs->icache;
	if (ino < 1 || ino > fs->st->sb.ninodes)
		return -ESTALE;
	icache_lock(c);
	struct inode *ip = ifind(c, ino);
	if (ip) {
		ip->ref++;
		icache_unlock(c);
		*out = ip;
		return 0;
	}
	ip = calloc(1, sizeof(*ip));
	if (!ip) {
		icache_unlock(c);
		return -ENOMEM;
	}
	ip->fs = fs;
	ip->ino = ino;
	ip->ref = 1;
	pthread_rwlock_init(&ip->lock, NULL);
	size_t h = ihash(c, ino);
	ip->hnext = c->table[h];
	c->table[h] = ip;
	c->count++;
	icache_unlock(c);
	*out = ip;
	return 0;
}

struct inode *idup(struct inode *ip)
{
	icache_lock(&ip->fs->icache);
	ip->ref++;
	icache_unlock(&ip->fs->icache);
	return ip;
}

/* Is a used on-disk inode within what the filesystem itself ever writes?
   A damaged image must not hand the layers above sizes their block
   arithmetic overflows on (file_seek looped for hours on a size near 2^64).
   Precondition: d was just read from the inode table. */
static int inode_check(const struct fs *fs, const struct ef_inode *d)
{
	uint64_t bs = fs->bsize;
	if (d->mode == 0)
		return 0; /* free: ilock answers -ESTALE */
	switch (d->mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return -EUCLEAN;
	}
	if (d->mode & ~(uint32_t)(S_IFMT | 07777))
		return -EUCLEAN;
	if (d->size > EF_MAX_FILE_BLOCKS * bs)
		return -EUCLEAN;
	if (S_ISDIR(d->mode) && d->size % bs)
		return -EUCLEAN;
	if (S_ISLNK(d->mode) && (d->size == 0 || d->size >= 4096))
		return -EUCLEAN; /* the rule fsck applies as well */
	if (d->blocks > fs->st->sb.nblocks || d->orphan_next > fs->st->sb.ninodes)
		return -EUCLEAN;
	if (d->xattr_block &&
	    (d->xattr_block < fs->st->sb.data_start || d->xattr_block >= fs->st->sb.nblocks))
		return -EUCLEAN;
	return 0;
}

static int iload(struct inode *ip)
{
	struct fs *fs = ip->fs;
	uint64_t ipb = EF_INODES_PER_BLOCK(fs->bsize);
	struct buf *b;
	int r = nbread(fs, fs->st->sb.itable_start + ip->ino / ipb, EF_MAGIC_ITABLE, &b);
	if (r < 0)
		return r;
	memcpy(&ip->d, b->data + sizeof(struct ef_blkhdr) + (ip->ino % ipb) * EF_INODE_SIZE,
	       sizeof(ip->d));
	brelse(b);
	if ((r = inode_check(fs, &ip->d)) < 0)
		return r; /* stays not valid: nothing is built on it */
	extent_cache_clear(ip);
	ip->valid = true;
	return 0;
}

/* d is valid: a free inode is -ESTALE (and unlocked). */
static int ilock_check(struct inode *ip)
{
	ILOCKED(ip);
	if (ip->d.mode == 0) {
		ip_unlock(ip);
		return -ESTALE;
	}
	return 0;
}

int ilock(struct inode *ip)
{
	ip_wrlock(ip);
	if (!ip->valid) {
		int r = iload(ip);
		if (r < 0) {
			ip_unlock(ip);
			return r;
		}
	}
	return ilock_check(ip);
}

int ilock_shared(struct inode *ip)
{
	ip_rdlock(ip);
	while (!ip->valid) {
		/* Load under the exclusive lock, then come back shared. */
		ip_unlock(ip);
		int r = ilock(ip);
		if (r < 0)
			return r;
		ip_unlock(ip);
		ip_rdlock(ip);
	}
	return ilock_check(ip);
}

void iunlock(struct inode *ip)
{
	ip_unlock(ip);
}

int iupdate(struct tx *tx, struct inode *ip)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	uint64_t ipb = EF_INODES_PER_BLOCK(fs->bsize);
	struct buf *b;
	int r = nbread(fs, fs->st->sb.itable_start + ip->ino / ipb, EF_MAGIC_ITABLE, &b);
	if (r < 0)
		return r;
	/* orphan_next belongs to the orphan list code (under orphan_lock), which writes
	   it in place: keep the block's value, whatever the in-memory copy says. */
	struct ef_inode *d = (struct ef_inode *)(b->data + sizeof(struct ef_blkhdr) +
						 (ip->ino % ipb) * EF_INODE_SIZE);
	uint64_t next;
	memcpy(&next, &d->orphan_next, sizeof(next));
	memcpy(d, &ip->d, sizeof(ip->d));
	memcpy(&d->orphan_next, &next, sizeof(next));
	tx_add(tx, b);
	brelse(b);
	if (ip->dirty_times) { /* written with the rest */
		ip->dirty_times = false;
		atomic_fetch_sub(&fs->dirty_times, 1);
	}
	return 0;
}

void inode_dirty_times(struct inode *ip)
{
	ILOCKED_EXCL(ip);
	if (ip->dirty_times)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ip->dirty_times = true;
	ip->dirty_since = ts.tv_sec;
	atomic_fetch_add(&ip->fs->dirty_times, 1);
}

int inode_write_times(struct inode *ip)
{
	struct tx *tx;
	ILOCKED_EXCL(ip);
	if (!ip->dirty_times || ip->fs->readonly)
		return 0;
	int r = tx_begin(ip->fs->st->journal, 1, &tx);
	if (r < 0)
		return r;
	r = iupdate(tx, ip);
	int e = tx_end(tx);
	return r < 0 ? r : e;
}

/* Write the times ip holds in memory; caller holds a reference. */
static int iwrite_times(struct inode *ip)
{
	ip_wrlock(ip);
	int r = ip->valid ? inode_write_times(ip) : 0;
	ip_unlock(ip);
	return r;
}

int inode_sync_times(struct fs *fs)
{
	struct icache *c = &fs->icache;
	int r = 0;
	while (!fs->readonly && atomic_load(&fs->dirty_times) > 0 && r == 0) {
		/* A batch at a time: references taken under the cache lock, the
		   writes (transactions) made without it. */
		struct inode *batch[64];
		size_t n = 0;
		icache_lock(c);
		for (size_t i = 0; i < c->nbuckets && n < 64; i++)
			for (struct inode *ip = c->table[i]; ip && n < 64; ip = ip->hnext)
				if (ip->dirty_times) {
					ip->ref++;
					batch[n++] = ip;
				}
		icache_unlock(c);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			int e = iwrite_times(batch[i]);
			if (e < 0 && r == 0)
				r = e;
			iput(batch[i]);
		}
	}
	return r;
}

int inode_alloc(struct fs *fs, struct tx *tx, mode_t mode, uid_t uid, gid_t gid, struct inode **out)
{
	uint64_t ino;
	int r = ialloc(fs->st->alloc, tx, &ino);
	if (r < 0)
		return r;
	struct inode *ip;
	r = iget(fs, ino, &ip);
	if (r < 0) {
		ifree(fs->st->alloc, tx, ino);
		return r;
	}
	ip_wrlock(ip);
	/* Any cached copy is of the freed inode; start from the table's generation. */
	r = iload(ip);
	if (r < 0) {
		iunlock(ip);
		iput(ip);
		ifree(fs->st->alloc, tx, ino);
		return r;
	}
	uint32_t gen = ip->d.generation + 1;
	if (gen == 1) /* never used: randomize so stale handles of an earlier fs do not match */
		getrandom(&gen, sizeof(gen), 0);
	struct ef_time now = inode_now();
	memset(&ip->d, 0, sizeof(ip->d));
	ip->d.mode = mode;
	ip->d.uid = uid;
	ip->d.gid = gid;
	ip->d.generation = gen;
	ip->d.atime = ip->d.mtime = ip->d.ctime = ip->d.crtime = now;
	if (!S_ISLNK(mode)) {
		ip->d.u.map.hdr.magic = EF_EXTENT_HDR_MAGIC;
		ip->d.u.map.hdr.max = EF_INODE_EXTENTS;
	}
	ip->valid = true;
	r = iupdate(tx, ip);
	if (r < 0) {
		iunlock(ip);
		iput(ip);
		ifree(fs->st->alloc, tx, ino);
		return r;
	}
	*out = ip;
	return 0;
}

/* ---- the orphan list ------------------------------------------------------- */

/* Read (set false) or write (set true) the orphan_next field of inode ino in
   place in its table block. */
static int orphan_link(struct fs *fs, struct tx *tx, uint64_t ino, uint64_t *next, bool set)
{
	LOCK_HELD(&fs->orphan_owner);
	uint64_t ipb = EF_INODES_PER_BLOCK(fs->bsize);
	struct buf *b;
	int r = nbread(fs, fs->st->sb.itable_start + ino / ipb, EF_MAGIC_ITABLE, &b);
	if (r < 0)
		return r;
	struct ef_inode *d =
	    (struct ef_inode *)(b->data + sizeof(struct ef_blkhdr) + (ino % ipb) * EF_INODE_SIZE);
	if (set) {
		memcpy(&d->orphan_next, next, sizeof(*next));
		tx_add(tx, b);
	} else {
		memcpy(next, &d->orphan_next, sizeof(*next));
	}
	brelse(b);
	return 0;
}

/*
 * Every inode on the orphan list is in the cache while it is there (open,
 * looked up, or being freed by its last reference; a crash's orphans are
 * freed at mount before anything else runs), so the list is also doubly
 * linked in memory (orphan_prev, under orphan_lock) and a removal needs no
 * walk of the on-disk chain, however many files are unlinked but open.
 */
static struct inode *orphan_peer(struct fs *fs, uint64_t ino)
{
	icache_lock(&fs->icache);
	struct inode *p = ifind(&fs->icache, ino);
	icache_unlock(&fs->icache);
	return p; /* pinned by its place on the list: it cannot be evicted before removal */
}

int orphan_add(struct fs *fs, struct tx *tx, struct inode *ip)
{
	ILOCKED_EXCL(ip);
	if (ip->orphan)
		return 0;
	orphan_list_lock(fs);
	uint64_t head = fs->st->sb.orphan_head;
	int r = orphan_link(fs, tx, ip->ino, &head, true);
	if (r == 0) {
		ip->d.orphan_next = head;
		ip->orphan = true;
		ip->orphan_prev = 0;
		struct inode *h = head ? orphan_peer(fs, head) : NULL;
		if (h)
			h->orphan_prev = ip->ino;
		fs->st->sb.orphan_head = ip->ino;
		r = super_write(fs->st, tx);
	}
	orphan_list_unlock(fs);
	return r;
}

/* The predecessor of ip on the on-disk chain, by a walk (only when the in-memory
   link is missing: an inode listed before this mount). */
static int orphan_walk_prev(struct fs *fs, struct inode *ip, uint64_t *prev)
{
	uint64_t cur = fs->st->sb.orphan_head, steps = 0;
	while (cur != 0) {
		uint64_t cn;
		if (++steps > fs->st->sb.ninodes)
			return -EUCLEAN; /* a loop in the list */
		int r = orphan_link(fs, NULL, cur, &cn, false);
		if (r < 0)
			return r;
		if (cn == ip->ino) {
			*prev = cur;
			return 0;
		}
		cur = cn;
	}
	return -EUCLEAN; /* not on the list after all */
}

int orphan_remove(struct fs *fs, struct tx *tx, struct inode *ip)
{
	ILOCKED_EXCL(ip);
	orphan_list_lock(fs);
	uint64_t next, zero = 0, prev = 0;
	int r = orphan_link(fs, tx, ip->ino, &next, false);
	if (r < 0)
		goto out;
	if (fs->st->sb.orphan_head == ip->ino) {
		fs->st->sb.orphan_head = next;
		r = super_write(fs->st, tx);
	} else {
		prev = ip->orphan_prev;
		struct inode *p = prev ? orphan_peer(fs, prev) : NULL;
		if (!p && (r = orphan_walk_prev(fs, ip, &prev)) < 0)
			goto out;
		r = orphan_link(fs, tx, prev, &next, true);
	}
	if (r == 0) {
		struct inode *n = next ? orphan_peer(fs, next) : NULL;
		if (n)
			n->orphan_prev = prev;
		r = orphan_link(fs, tx, ip->ino, &zero, true);
	}
	if (r == 0) {
		ip->d.orphan_next = 0;
		ip->orphan = false;
		ip->orphan_prev = 0;
	}
out:
	orphan_list_unlock(fs);
	return r;
}

/* Frees under way (struct fs: freeing), for ns_pending_space. */
static void free_begin(struct fs *fs)
{
	pthread_mutex_lock(&fs->free_lock);
	fs->freeing++;
	pthread_mutex_unlock(&fs->free_lock);
}

static void free_end(struct fs *fs)
{
	pthread_mutex_lock(&fs->free_lock);
	if (--fs->freeing == 0)
		pthread_cond_broadcast(&fs->free_done);
	pthread_mutex_unlock(&fs->free_lock);
}

bool ns_wait_frees(struct fs *fs)
{
	struct timespec until;
	bool waited = false;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10; /* a free is a few transactions: never that long */
	pthread_mutex_lock(&fs->free_lock);
	while (fs->freeing > 0 &&
	       pthread_cond_timedwait(&fs->free_done, &fs->free_lock, &until) == 0)
		waited = true;
	pthread_mutex_unlock(&fs->free_lock);
	return waited;
}

uint64_t ns_pending_space(struct fs *fs)
{
	bool waited = ns_wait_frees(fs);
	uint64_t pending = alloc_pending_blocks(fs->st->alloc);
	return pending ? pending : waited;
}

/* nlink is 0: put the inode on the orphan list (so a crash finishes the job)
   and free its blocks. */
static int inode_free_data(struct inode *ip)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	struct tx *tx;
	int r;
	if (!ip->orphan) {
		/* Make the multi-transaction freeing crash-safe first. */
		if ((r = tx_begin(fs->st->journal, 4, &tx)) < 0)
			return r;
		r = orphan_add(fs, tx, ip);
		int e = tx_end(tx);
		if (r < 0 || e < 0)
			return r < 0 ? r : e;
	}
	if (ip->d.blocks > 0 && (r = file_free_beyond(ip, 0)) < 0)
		return r;
	return 0;
}

/* The caller holds the last reference; nlink is 0: free the inode's blocks,
   take it off the orphan list and free it on disk. */
static int inode_destroy(struct inode *ip)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	struct tx *tx;
	int r;
	if ((r = inode_free_data(ip)) < 0)
		return r;
	if ((r = tx_begin(fs->st->journal, 8, &tx)) < 0)
		return r;
	r = xattr_free(tx, ip);
	if (r == 0)
		r = orphan_remove(fs, tx, ip);
	if (r == 0) {
		uint32_t gen = ip->d.generation;
		memset(&ip->d, 0, sizeof(ip->d));
		ip->d.generation = gen;
		r = iupdate(tx, ip);
	}
	if (r == 0)
		r = ifree(fs->st->alloc, tx, ip->ino);
	int e = tx_end(tx);
	return r < 0 ? r : e;
}

/* Drop one of the three kinds of reference (under icache.lock by the caller's
   decrement); on the last one, destroy an unlinked inode and evict. */
static void ilast(struct inode *ip)
{
	struct fs *fs = ip->fs;
	struct icache *c = &fs->icache;
	/* The caller has found every count zero. Keep a ref while destroying
	   so nobody evicts under us; others may iget meanwhile. */
	LOCK_HELD(&c->owner);
	bool destroy = ip->valid && ip->d.nlink == 0 && ip->d.mode != 0 && !fs->readonly;
	if (destroy) {
		ip->ref = 1;
		icache_unlock(c);
		/* Evict: its cached pages go first, as the kernel's evict()
		   truncates the mapping before the inode is freed: none may be
		   written back to a block, or under a number, that another file
		   gets next. Not under ip->lock (write-back holds a run's pages
		   while it takes ip->lock), and never by a page-cache callback
		   holding pages: the cache releases its hold on the inode only
		   after unlocking them (pc_ops.release). */
		if (fs->pc)
			pc_drop_inode(fs->pc, ip->ino);
		ip_wrlock(ip);
		if (ip->d.nlink == 0 && ip->d.mode != 0) {
			free_begin(fs);
			inode_destroy(ip); /* on error the orphan list frees it at next mount */
			free_end(fs);
		}
		ip_unlock(ip);
		icache_lock(c);
		if (--ip->ref > 0 || ip->nlookup > 0 || ip->nopen > 0) {
			icache_unlock(c);
			return;
		}
	}
	iunhash(c, ip);
	if (ip->dirty_times) /* not written (the fs is read-only now): lost, as in a crash */
		atomic_fetch_sub(&fs->dirty_times, 1);
	icache_unlock(c);
	pthread_rwlock_destroy(&ip->lock);
	free(ip);
}

/*
 * Unlinked and closed, only the kernel's lookups left (its FORGET may come
 * much later): nothing can read the data any more, so its blocks are freed
 * now, and statfs and the next allocation see the space at once, as on
 * ext4. The inode itself (its number) stays until the FORGET. Called under
 * c->lock, ref and nopen found zero; returns with it released.
 */
static void iunused(struct inode *ip)
{
	struct fs *fs = ip->fs;
	struct icache *c = &fs->icache;
	LOCK_HELD(&c->owner);
	if (!ip->valid || ip->d.nlink != 0 || !S_ISREG(ip->d.mode) || ip->d.blocks == 0 ||
	    fs->readonly) {
		icache_unlock(c);
		return;
	}
	ip->ref = 1;
	icache_unlock(c);
	/* Its cached pages go first: none may be written back to a block that
	   another file gets next. Not under ip->lock: write-back holds a run's
	   pages locked while it takes ip->lock (the order truncate keeps too).
	   Closed, the file gets no new pages. */
	if (fs->pc)
		pc_drop_inode(fs->pc, ip->ino);
	ip_wrlock(ip);
	icache_lock(c);
	bool closed = ip->nopen == 0; /* an open by handle meanwhile keeps the data */
	icache_unlock(c);
	if (closed && ip->d.nlink == 0 && S_ISREG(ip->d.mode) && ip->d.blocks > 0) {
		free_begin(fs);
		inode_free_data(ip); /* on error the orphan list frees it at next mount */
		free_end(fs);
	}
	ip_unlock(ip);
	/* Not iput: blocks may stay counted (an xattr block), and this must
	   not run again for the same drop. */
	icache_lock(c);
	if (--ip->ref > 0 || ip->nlookup > 0 || ip->nopen > 0) {
		icache_unlock(c);
		return;
	}
	ilast(ip);
}

void iput(struct inode *ip)
{
	struct icache *c = &ip->fs->icache;
	icache_lock(c);
	if (--ip->ref > 0 || ip->nopen > 0) {
		icache_unlock(c);
		return;
	}
	if (ip->nlookup > 0) {
		iunused(ip);
		return;
	}
	ilast(ip);
}

void inode_lookup_ref(struct inode *ip)
{
	icache_lock(&ip->fs->icache);
	ip->nlookup++;
	icache_unlock(&ip->fs->icache);
}

void inode_open_ref(struct inode *ip)
{
	icache_lock(&ip->fs->icache);
	ip->nopen++;
	icache_unlock(&ip->fs->icache);
}

bool inode_is_open(struct inode *ip)
{
	icache_lock(&ip->fs->icache);
	bool open = ip->nopen > 0;
	icache_unlock(&ip->fs->icache);
	return open;
}

/* Drop n lookups (forget) or one open (release) of a cached inode. */
static void idrop(struct fs *fs, uint64_t ino, uint64_t nlookup, uint64_t nopen)
{
	struct icache *c = &fs->icache;
	icache_lock(c);
	struct inode *ip = ifind(c, ino);
	if (!ip) {
		icache_unlock(c);
		return;
	}
	ip->nlookup -= nlookup < ip->nlookup ? nlookup : ip->nlookup;
	ip->nopen -= nopen < ip->nopen ? nopen : ip->nopen;
	if (ip->nlookup == 0 && ip->nopen == 0 && ip->dirty_times) {
		/* The kernel evicted it: times kept in memory are written now
		   (here, where no transaction is open, not in a later iput). */
		ip->ref++;
		icache_unlock(c);
		iwrite_times(ip);
		iput(ip);
		return;
	}
	if (ip->ref > 0 || ip->nopen > 0) {
		icache_unlock(c);
		return;
	}
	if (ip->nlookup > 0) {
		if (nopen) /* the last close of an unlinked file */
			iunused(ip);
		else
			icache_unlock(c);
		return;
	}
	ilast(ip);
}

void inode_forget(struct fs *fs, uint64_t ino, uint64_t n)
{
	idrop(fs, ino, n, 0);
}

void inode_release(struct fs *fs, uint64_t ino)
{
	idrop(fs, ino, 0, 1);
}

/* ---- mount-time orphan processing ---------------------------------------- */

int orphans_process(struct fs *fs)
{
	uint64_t steps = 0;
	while (fs->st->sb.orphan_head != 0) {
		if (++steps > fs->st->sb.ninodes)
			return -EUCLEAN;
		struct inode *ip;
		int r = iget(fs, fs->st->sb.orphan_head, &ip);
		if (r < 0)
			return r;
		if ((r = ilock(ip)) < 0) {
			iput(ip);
			return r;
		}
		ip->orphan = true; /* it is the list's head */
		if (ip->d.nlink == 0) {
			r = inode_destroy(ip);
		} else {
			/* An interrupted truncate: cut what lies beyond the size. */
			uint64_t from = (ip->d.size + fs->bsize - 1) / fs->bsize;
			r = S_ISREG(ip->d.mode) ? file_free_beyond(ip, from) : 0;
			struct tx *tx;
			if (r == 0 && (r = tx_begin(fs->st->journal, 4, &tx)) == 0) {
				r = orphan_remove(fs, tx, ip);
				int e = tx_end(tx);
				r = r < 0 ? r : e;
			}
		}
		iunlock(ip);
		/* Freed already: do not let iput try again. */
		iput(ip);
		if (r < 0)
			return r;
	}
	return 0;
}
