/*
 * pagecache.c: the page cache (docs/semantics.md P1-P4; interface in pagecache.h).
 *
 * Layer: calls down only through struct pc_ops (the filesystem) and asks
 * fault.h about point "invalidate". Sections, in order: pages and shards,
 * read-ahead, read-in, write-back of one page, eviction, walking a range,
 * write-back of ranges, buffered read/write, invalidation/truncate/drop,
 * the write-back thread, creation and statistics.
 *
 * The life cycle of a page:
 *
 *   absent --miss: page_new(PG_LOCKED)--> reading --ok: PG_UPTODATE--> clean
 *                                            `--error: freed--> absent
 *   absent --write of a whole block, or of a block past EOF--> dirty
 *   clean  --pc_write--> dirty
 *   (a write that extends the file keeps its page locked until extend_size
 *    returns: write-back never sees data past the file's size)
 *   dirty  --write-back claims it: PG_LOCKED, PG_DIRTY cleared--> writing
 *   writing --writepage ok--> clean;  --writepage error--> dirty (never lost)
 *   dirty  --pc_discard_dirty (an injected fsync failure)--> clean, unwritten:
 *          readers see its data until eviction, the device's older data after
 *   clean  --eviction (LRU), invalidation, truncate, drop--> absent
 *   dirty  --eviction--> written back first, then dropped
 *   dirty  --truncate past it, drop of the inode--> absent (data discarded)
 *   dirty or locked --invalidation--> unchanged, and the call fails -EIO
 *   (cfg.busy_errno; today's kernels say -EBUSY)
 *
 * The rules that make this safe:
 *  - A page's fields, and its data, are touched only under its shard's
 *    lock, with one exception: the thread that set PG_LOCKED owns the data
 *    for its I/O and works on it without the lock (a reading page is
 *    written by its owner; a writing page is only read, so readers may
 *    copy from an up-to-date locked page).
 *  - A PG_LOCKED page is never freed, modified or dropped by anyone else.
 *    Others wait on the shard's cv (writers, truncate, waiting write-back)
 *    or pass it by (invalidation: fails; eviction and non-waiting
 *    write-back: skipped). After waking they look the page up again: it
 *    may be gone.
 *  - Present and not locked means up to date.
 *  - No thread holds two shard locks, or any lock across a pc_ops callback.
 *
 * Eviction is global LRU without a global lock: every access stamps the
 * page from one atomic clock and moves it to the tail of its shard's list,
 * so the least recently used page is the oldest of the shards' heads.
 */
#include "lockassert.h"
#include "pagecache.h"
#include "wberr.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define PC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PC_ASAN 1
#endif
#endif
#ifdef PC_ASAN
#include <sanitizer/asan_interface.h>
#define PC_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define PC_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define PC_POISON(p, n) ((void)(p), (void)(n))
#define PC_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum { PG_UPTODATE = 1, PG_DIRTY = 2, PG_LOCKED = 4 };

/*
 * A page header and its data live for the cache's life in one slab chunk
 * (see "page memory"): hnext and data come first because they stay valid
 * while the page is free (the free-list link, the fixed data block); the
 * rest is poisoned under ASan then.
 */
struct page {
	struct page *hnext; /* hash chain; free list while free */
	uint8_t *data;	    /* block_size bytes in a slab chunk */
	uint64_t ino, index;
	unsigned flags;
	uint64_t stamp;		  /* last access, from pc->clock: LRU order */
	uint64_t dirtied_ns;	  /* when it became dirty (write-back by age) */
	struct page *prev, *next; /* shard LRU list, least recently used first */
};

/* One slab chunk: chunk_pages blocks of data (one mmap) and their headers. */
struct chunk {
	struct chunk *next;
	uint8_t *data;
	struct page *pages;
};

/*
 * Read-ahead state, per inode, in a small direct-mapped table of atomics:
 * a heuristic needs no lock, and two inodes sharing a slot only lose some
 * read-ahead. ino is stored plus one (0: empty).
 */
#define RA_SLOTS 256
struct ra_slot {
	atomic_uint_fast64_t ino1;
	atomic_uint_fast64_t prev_last; /* last page of the previous read */
	atomic_uint window;
};

struct shard {
	pthread_mutex_t lock;
	struct lock_owner owner; /* of lock (lockassert.h) */
	pthread_cond_t cv;	 /* a page of this shard was unlocked or freed */
	struct page **buckets;
	size_t nbuckets; /* power of two */
	struct page *head, *tail;
	struct page *free; /* free pages (page memory), nfree of them */
	size_t nfree;
	/* Counters kept under the lock (no shared cache line on the hot path). */
	uint64_t hits, misses, evictions, invalidated, writebacks, writeback_errors, readahead;
} __attribute__((aligned(64)));

#define INO_BUCKET_BITS 10 /* buckets of inode numbers for the per-bucket page counts */
#define INO_BUCKETS (1u << INO_BUCKET_BITS)

struct pc {
	struct pc_config cfg;
	struct pc_ops ops;
	void *arg;
	struct faults *faults;
	size_t bs;
	uint64_t max_pages, dirty_limit;
	unsigned nshards;
	struct shard *shards;

	struct ra_slot ra[RA_SLOTS];

	_Alignas(64) atomic_uint_fast64_t clock; /* LRU stamps: touched on every access */
	_Alignas(64) atomic_uint_fast64_t npages, ndirty;
	atomic_uint_fast64_t invalidations, invalidate_failures;
	struct wberr_tab *wberr; /* write-back errors per file (mapping->wb_err) */

	/* Page memory (slab): chunk size and the spill list, under slab_lock. */
	size_t chunk_pages;
	pthread_mutex_t slab_lock;
	struct chunk *chunks;
	uint64_t nchunks;
	struct page *spill; /* free pages a shard had too many of */
	size_t nspill;
	atomic_uint_fast64_t bytes; /* memory held: chunks, headers, tables */
	/*
	 * Pages per hash bucket of inode numbers: zero says no inode of the
	 * bucket has a page, so walking a range (every direct I/O's P2/P4 work)
	 * is O(1) for a file with nothing cached. Counted in page_new/page_free
	 * under the shard lock, read without it: a page inserted after the
	 * load is one a locked look-up made just before the insert would have
	 * missed, too.
	 */
	_Alignas(64) atomic_uint ino_pages[INO_BUCKETS];

	pthread_mutex_t wb_lock; /* guards the fields below */
	pthread_cond_t wb_cv;
	pthread_t wb_thread;
	bool wb_running, wb_stop, wb_kick;
	/* Lock-free hints for writers: the thread runs / a kick is pending. */
	atomic_bool wb_on, wb_kicked;
};

#define RUN_MAX 64 /* pages read in one read-in batch */

static atomic_uint *ino_count(struct pc *pc, uint64_t ino)
{
	return &pc->ino_pages[(ino * 0x9e3779b97f4a7c15ULL) >> (64 - INO_BUCKET_BITS)];
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- pages and shards ------------------------------------------------------ */

static uint64_t key_hash(uint64_t ino, uint64_t index)
{
	uint64_t h =
	    ino * 0x9e3779b97f4a7c15ULL ^ (index + 0x632be59bd9b4e019ULL) * 0xc2b2ae3d27d4eb4fULL;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static struct shard *shard_of(struct pc *pc, uint64_t ino, uint64_t index)
{
	return &pc->shards[key_hash(ino, index) & (pc->nshards - 1)];
}

static struct page **bucket_of(struct shard *sh, uint64_t ino, uint64_t index)
{
	return &sh->buckets[(key_hash(ino, index) >> 20) & (sh->nbuckets - 1)];
}

/* A shard's lock, its holder recorded (lockassert.h), and waiting on its cv. */
static void sh_lock(struct shard *sh)
{
	pthread_mutex_lock(&sh->lock);
	lock_owned(&sh->owner);
}

static void sh_unlock(struct shard *sh)
{
	lock_disowned(&sh->owner);
	pthread_mutex_unlock(&sh->lock);
}

static void sh_wait(struct shard *sh)
{
	lock_disowned(&sh->owner);
	pthread_cond_wait(&sh->cv, &sh->lock);
	lock_owned(&sh->owner);
}

static struct page *page_find(struct shard *sh, uint64_t ino, uint64_t index)
{
	LOCK_HELD(&sh->owner);
	for (struct page *pg = *bucket_of(sh, ino, index); pg; pg = pg->hnext)
		if (pg->ino == ino && pg->index == index)
			return pg;
	return NULL;
}

static void lru_unlink(struct shard *sh, struct page *pg)
{
	LOCK_HELD(&sh->owner);
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		sh->head = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
	else
		sh->tail = pg->prev;
	pg->prev = pg->next = NULL;
}

static void lru_append(struct shard *sh, struct page *pg)
{
	LOCK_HELD(&sh->owner);
	pg->prev = sh->tail;
	pg->next = NULL;
	if (sh->tail)
		sh->tail->next = pg;
	else
		sh->head = pg;
	sh->tail = pg;
}

/* Marks an access. */
static void page_touch(struct pc *pc, struct shard *sh, struct page *pg)
{
	LOCK_HELD(&sh->owner);
	pg->stamp = atomic_fetch_add_explicit(&pc->clock, 1, memory_order_relaxed) + 1;
	lru_unlink(sh, pg);
	lru_append(sh, pg);
}

/* ---- page memory ------------------------------------------------------------ */

/*
 * Pages come from slab chunks (chunk_pages blocks from one anonymous mmap,
 * headers in one array), not one malloc each: a 4 KiB posix_memalign cost
 * about 8 KiB of RSS. A chunk is mapped only when a shard has no free page
 * and the spill list is empty, so the cache holds at most its limit plus
 * one chunk per shard (pages in use past the limit, which the cache allows
 * while it cannot write them back, add chunks too). Freed pages go back on
 * their shard's free list (no global lock on the hot path); a shard with
 * more than a chunk's worth free spills half a chunk's worth to the shared
 * list, so shards draw from each other's surplus and a chunk is mapped
 * only when the others hold less than a chunk free each. Chunks are
 * unmapped by pc_free only; untouched pages of a chunk are not resident.
 */

/* Maps one chunk and puts its pages on the caller's shard's free list. */
static bool chunk_add(struct pc *pc, struct shard *sh)
{
	LOCK_HELD(&sh->owner);
	size_t n = pc->chunk_pages;
	struct chunk *c = malloc(sizeof(*c));
	void *data = MAP_FAILED;

	if (c)
		c->pages = calloc(n, sizeof(struct page));
	if (c && c->pages)
		data = mmap(NULL, n * pc->bs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	if (data == MAP_FAILED) {
		if (c)
			free(c->pages);
		free(c);
		return false;
	}
	c->data = data;
	for (size_t i = n; i-- > 0;) {
		struct page *pg = &c->pages[i];

		pg->data = c->data + i * pc->bs;
		pg->hnext = sh->free;
		sh->free = pg;
		PC_POISON(pg->data, pc->bs);
		PC_POISON(&pg->ino, sizeof(*pg) - offsetof(struct page, ino));
	}
	sh->nfree += n;
	pthread_mutex_lock(&pc->slab_lock);
	c->next = pc->chunks;
	pc->chunks = c;
	pc->nchunks++;
	pthread_mutex_unlock(&pc->slab_lock);
	atomic_fetch_add(&pc->bytes, sizeof(*c) + n * (sizeof(struct page) + pc->bs));
	return true;
}

/* Takes a free page (header zeroed but for data), or NULL. */
static struct page *slab_get(struct pc *pc, struct shard *sh)
{
	LOCK_HELD(&sh->owner);
	struct page *pg;
	uint8_t *data;

	if (!sh->free) {
		/* The shared surplus first; map a chunk only when it is empty. */
		pthread_mutex_lock(&pc->slab_lock);
		for (size_t i = 0; pc->spill && i < (pc->chunk_pages + 1) / 2; i++) {
			pg = pc->spill;
			pc->spill = pg->hnext;
			pc->nspill--;
			pg->hnext = sh->free;
			sh->free = pg;
			sh->nfree++;
		}
		pthread_mutex_unlock(&pc->slab_lock);
		if (!sh->free && !chunk_add(pc, sh))
			return NULL;
	}
	pg = sh->free;
	sh->free = pg->hnext;
	sh->nfree--;
	data = pg->data;
	PC_UNPOISON(pg->data, pc->bs);
	PC_UNPOISON(&pg->ino, sizeof(*pg) - offsetof(struct page, ino));
	memset(pg, 0, sizeof(*pg));
	pg->data = data;
	return pg;
}

/* Gives a page back (unlinked from everything). */
static void slab_put(struct pc *pc, struct shard *sh, struct page *pg)
{
	LOCK_HELD(&sh->owner);
	PC_POISON(pg->data, pc->bs);
	PC_POISON(&pg->ino, sizeof(*pg) - offsetof(struct page, ino));
	pg->hnext = sh->free;
	sh->free = pg;
	if (++sh->nfree <= pc->chunk_pages)
		return;
	/* More than a chunk free here: half a chunk's worth to the shared list. */
	pthread_mutex_lock(&pc->slab_lock);
	for (size_t i = 0; i < (pc->chunk_pages + 1) / 2; i++) {
		pg = sh->free;
		sh->free = pg->hnext;
		sh->nfree--;
		pg->hnext = pc->spill;
		pc->spill = pg;
		pc->nspill++;
	}
	pthread_mutex_unlock(&pc->slab_lock);
}

/* A new page with the given flags (its data uninitialised), or NULL. */
static struct page *page_new(struct pc *pc, struct shard *sh, uint64_t ino, uint64_t index,
			     unsigned flags)
{
	LOCK_HELD(&sh->owner);
	/* Data aligned to the block (at most 4096) for O_DIRECT I/O from the page itself. */
	struct page *pg = slab_get(pc, sh);
	struct page **b = bucket_of(sh, ino, index);

	if (!pg)
		return NULL;
	pg->ino = ino;
	pg->index = index;
	pg->flags = flags;
	pg->hnext = *b;
	*b = pg;
	pg->stamp = atomic_fetch_add_explicit(&pc->clock, 1, memory_order_relaxed) + 1;
	lru_append(sh, pg);
	atomic_fetch_add(&pc->npages, 1);
	atomic_fetch_add(ino_count(pc, ino), 1);
	return pg;
}

/* Removes and frees a page nobody has locked. */
static void page_free(struct pc *pc, struct shard *sh, struct page *pg)
{
	LOCK_HELD(&sh->owner);
	struct page **pp = bucket_of(sh, pg->ino, pg->index);

	while (*pp != pg)
		pp = &(*pp)->hnext;
	*pp = pg->hnext;
	lru_unlink(sh, pg);
	if (pg->flags & PG_DIRTY)
		atomic_fetch_sub(&pc->ndirty, 1);
	atomic_fetch_sub(&pc->npages, 1);
	atomic_fetch_sub(ino_count(pc, pg->ino), 1);
	slab_put(pc, sh, pg);
	pthread_cond_broadcast(&sh->cv);
}

/* Ends the owner's I/O on a page. */
static void page_unlock(struct shard *sh, struct page *pg)
{
	LOCK_HELD(&sh->owner);
	assert(pg->flags & PG_LOCKED);
	pg->flags &= ~PG_LOCKED;
	pthread_cond_broadcast(&sh->cv);
}

/* pg is not locked. */
static void page_set_dirty(struct pc *pc, struct page *pg)
{
	LOCK_HELD(&shard_of(pc, pg->ino, pg->index)->owner);
	assert(pg->flags & PG_UPTODATE);
	if (!(pg->flags & PG_DIRTY)) {
		pg->flags |= PG_DIRTY;
		pg->dirtied_ns = now_ns();
		atomic_fetch_add(&pc->ndirty, 1);
	}
}

/* ---- read-ahead ------------------------------------------------------------ */

/*
 * Decides the read-ahead window of a read of pages [first, last] and returns
 * the last page to read in (>= last, <= eof_last). A read that starts at
 * page 0 or continues the previous one is sequential: the window starts at
 * ra_min and doubles up to ra_max; any other read resets it to nothing.
 */
static uint64_t ra_plan(struct pc *pc, uint64_t ino, uint64_t first, uint64_t last,
			uint64_t eof_last)
{
	struct ra_slot *ra = &pc->ra[key_hash(ino, PC_END) % RA_SLOTS];
	uint64_t prev;
	unsigned w;
	bool seq;

	if (atomic_load_explicit(&ra->ino1, memory_order_relaxed) != ino + 1) {
		atomic_store_explicit(&ra->ino1, ino + 1, memory_order_relaxed);
		atomic_store_explicit(&ra->prev_last, PC_END, memory_order_relaxed);
		atomic_store_explicit(&ra->window, 0, memory_order_relaxed);
	}
	prev = atomic_load_explicit(&ra->prev_last, memory_order_relaxed);
	w = atomic_load_explicit(&ra->window, memory_order_relaxed);
	seq = prev == PC_END ? first == 0 : first == prev || first == prev + 1;
	if (!seq)
		w = 0;
	else if (w == 0)
		w = pc->cfg.ra_min;
	else
		w = w * 2 < pc->cfg.ra_max ? w * 2 : pc->cfg.ra_max;
	/* Store only changes: readers of one file on several CPUs share this line. */
	if (atomic_load_explicit(&ra->window, memory_order_relaxed) != w)
		atomic_store_explicit(&ra->window, w, memory_order_relaxed);
	if (prev != last)
		atomic_store_explicit(&ra->prev_last, last, memory_order_relaxed);
	if (last >= eof_last)
		return last;
	return eof_last - last > w ? last + w : eof_last;
}

static void ra_forget(struct pc *pc, uint64_t ino)
{
	struct ra_slot *ra = &pc->ra[key_hash(ino, PC_END) % RA_SLOTS];
	uint_fast64_t want = ino + 1;

	atomic_compare_exchange_strong(&ra->ino1, &want, 0);
}

/* ---- the file's hold around callbacks ----------------------------------------- */

/*
 * pc_ops.hold/release: a callback that runs with pages of ino locked is
 * bracketed by a reference on the file, released only once this thread has
 * unlocked those pages. The release may be the file's last reference; the
 * filesystem then drops the file's pages (pc_drop_inode), waiting for
 * locked ones, none of which is this thread's any more.
 */
static int file_hold(struct pc *pc, uint64_t ino, void **file)
{
	*file = NULL;
	return pc->ops.hold ? pc->ops.hold(pc->arg, ino, file) : 0;
}

static void file_release(struct pc *pc, void *file)
{
	if (pc->ops.release)
		pc->ops.release(pc->arg, file);
}

/* ---- read-in ---------------------------------------------------------------- */

/*
 * Reads page i of ino, and the absent pages after it up to end (read-ahead),
 * into the cache in one batch. When dst is non-NULL, copies n bytes at poff
 * of page i there before anyone else can drop it. Returns 0, -EAGAIN when
 * page i is already present (look it up again), or a negative errno.
 * No locks held on entry.
 */
static int fill_run(struct pc *pc, uint64_t ino, uint64_t i, uint64_t end, uint64_t req_last,
		    void *dst, size_t poff, size_t n)
{
	struct page *run[RUN_MAX];
	void *bufs[RUN_MAX];
	unsigned nr = 0, ok = 0;
	void *file;
	int r;

	if (end - i >= RUN_MAX)
		end = i + RUN_MAX - 1;
	if ((r = file_hold(pc, ino, &file)))
		return r;
	for (uint64_t j = i; j <= end; j++) {
		struct shard *sh = shard_of(pc, ino, j);
		struct page *pg = NULL;
		bool present;

		sh_lock(sh);
		present = page_find(sh, ino, j) != NULL;
		if (!present)
			pg = page_new(pc, sh, ino, j, PG_LOCKED);
		sh_unlock(sh);
		if (!pg) {
			if (nr == 0) {
				file_release(pc, file);
				return present ? -EAGAIN : -ENOMEM;
			}
			break;
		}
		run[nr] = pg;
		bufs[nr++] = pg->data;
	}

	if (pc->ops.readpages && nr > 1) {
		r = pc->ops.readpages(pc->arg, ino, i, nr, bufs);
		ok = r ? 0 : nr;
	} else {
		for (; ok < nr; ok++)
			if ((r = pc->ops.read_block(pc->arg, ino, i + ok, bufs[ok])))
				break;
	}

	for (unsigned k = 0; k < nr; k++) {
		struct shard *sh = shard_of(pc, ino, i + k);

		sh_lock(sh);
		if (k < ok) {
			run[k]->flags |= PG_UPTODATE;
			if (k == 0 && dst)
				memcpy(dst, run[k]->data + poff, n);
			if (i + k > req_last)
				sh->readahead++;
			page_unlock(sh, run[k]);
		} else {
			page_free(pc, sh, run[k]); /* waiters look it up again */
		}
		sh_unlock(sh);
	}
	file_release(pc, file);
	return ok ? 0 : r;
}

/* ---- write-back of one page ------------------------------------------------- */

/* Claims a dirty, unlocked page for write-back. */
static void wb_claim(struct pc *pc, struct page *pg)
{
	LOCK_HELD(&shard_of(pc, pg->ino, pg->index)->owner);
	assert((pg->flags & (PG_DIRTY | PG_LOCKED | PG_UPTODATE)) == (PG_DIRTY | PG_UPTODATE));
	pg->flags = (pg->flags & ~PG_DIRTY) | PG_LOCKED;
	atomic_fetch_sub(&pc->ndirty, 1);
}

/*
 * Ends the write-back of a page claimed by wb_claim with result r and
 * unlocks it; on failure the page is dirty again (the data is not lost; the
 * caller gets the error). wb_write writes one claimed page. No locks held.
 */
static void wb_end(struct pc *pc, struct shard *sh, struct page *pg, int r)
{
	uint64_t ino = pg->ino;

	sh_lock(sh);
	if (r) {
		page_set_dirty(pc, pg);
		sh->writeback_errors++;
	} else {
		sh->writebacks++;
	}
	page_unlock(sh, pg);
	sh_unlock(sh);
	/* The page stays dirty (a later write-back may still save it), but
	   every open file description's fsync learns of the failure, once. */
	if (r)
		pc_wb_err_set(pc, ino, r);
}

static int wb_write(struct pc *pc, struct shard *sh, struct page *pg)
{
	void *file;
	int held = file_hold(pc, pg->ino, &file);
	int r = held ? held : pc->ops.writepage(pc->arg, pg->ino, pg->index, pg->data);

	wb_end(pc, sh, pg, r);
	if (held == 0)
		file_release(pc, file);
	return r;
}

/*
 * Like wb_write, after extending the claimed page first into a run of the
 * dirty pages that follow it, written with one writepages call (the
 * device sees one large write instead of many small ones).
 */
static int wb_write_run(struct pc *pc, struct page *first)
{
	struct page *run[RUN_MAX];
	const void *bufs[RUN_MAX];
	unsigned nr = 1;
	int r;

	run[0] = first;
	bufs[0] = first->data;
	while (nr < RUN_MAX && first->index + nr != 0) {
		struct shard *sh = shard_of(pc, first->ino, first->index + nr);
		struct page *pg;

		sh_lock(sh);
		pg = page_find(sh, first->ino, first->index + nr);
		if (!pg || (pg->flags & (PG_DIRTY | PG_LOCKED)) != PG_DIRTY) {
			sh_unlock(sh);
			break;
		}
		wb_claim(pc, pg);
		sh_unlock(sh);
		run[nr] = pg;
		bufs[nr++] = pg->data;
	}
	uint64_t ino = first->ino;
	void *file;
	int held = file_hold(pc, ino, &file);

	if (held)
		r = held;
	else if (nr == 1)
		r = pc->ops.writepage(pc->arg, ino, first->index, first->data);
	else
		r = pc->ops.writepages(pc->arg, ino, first->index, nr, bufs);
	for (unsigned k = 0; k < nr; k++)
		wb_end(pc, shard_of(pc, run[k]->ino, run[k]->index), run[k], r);
	if (held == 0)
		file_release(pc, file);
	return r;
}

/* ---- eviction --------------------------------------------------------------- */

/*
 * Drops the least recently used unlocked page, writing it back first if it
 * is dirty. Returns false when there is nothing to drop or its write-back
 * failed (reclaim stops there). No locks held.
 */
static bool evict_one(struct pc *pc)
{
	struct shard *best = NULL;
	uint64_t stamp = 0, ino = 0, index = 0;
	struct page *pg;

	for (unsigned s = 0; s < pc->nshards; s++) {
		struct shard *sh = &pc->shards[s];

		sh_lock(sh);
		for (pg = sh->head; pg && (pg->flags & PG_LOCKED); pg = pg->next)
			;
		if (pg && (!best || pg->stamp < stamp)) {
			best = sh;
			stamp = pg->stamp;
			ino = pg->ino;
			index = pg->index;
		}
		sh_unlock(sh);
	}
	if (!best)
		return false;

	sh_lock(best);
	pg = page_find(best, ino, index);
	if (!pg || pg->stamp != stamp || (pg->flags & PG_LOCKED)) {
		sh_unlock(best); /* used or taken meanwhile: choose again */
		return true;
	}
	if (pg->flags & PG_DIRTY) {
		wb_claim(pc, pg);
		sh_unlock(best);
		if (wb_write(pc, best, pg)) {
			/*
			 * Keep it, let the next choice fall on another page, and stop
			 * reclaiming for now: a failing device is not hammered, and the
			 * cache holds what it cannot write (over its limit, if need be).
			 */
			sh_lock(best);
			if ((pg = page_find(best, ino, index)))
				page_touch(pc, best, pg);
			sh_unlock(best);
			return false;
		}
		sh_lock(best);
		pg = page_find(best, ino, index);
		if (!pg || (pg->flags & (PG_LOCKED | PG_DIRTY)) || pg->stamp != stamp) {
			sh_unlock(best);
			return true;
		}
	}
	page_free(pc, best, pg);
	best->evictions++;
	sh_unlock(best);
	return true;
}

/* Brings the cache back under its page limit, as far as unlocked pages allow. No locks held. */
static void reclaim(struct pc *pc)
{
	uint64_t n = atomic_load(&pc->npages);
	uint64_t tries;

	if (n <= pc->max_pages)
		return;
	tries = 2 * (n - pc->max_pages) + 2 * pc->nshards;
	while (atomic_load(&pc->npages) > pc->max_pages && tries--)
		if (!evict_one(pc))
			break;
}

/* ---- walking a range ---------------------------------------------------------- */

struct pc_key {
	uint64_t ino, index;
};

static int key_cmp(const void *a, const void *b)
{
	const struct pc_key *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Which pages a walk visits. */
struct filter {
	bool any_ino;
	uint64_t ino, first, last;
	unsigned flags_any;	 /* visit only pages with one of these flags (0: all) */
	uint64_t dirtied_before; /* visit only pages dirty since before this (0: all) */
	size_t per_shard;	 /* at most this many pages per shard (0: all) */
	bool stop_on_error;	 /* stop at the first error (else visit every page) */
};

static bool filter_match(const struct filter *f, const struct page *pg)
{
	return (f->any_ino || pg->ino == f->ino) && pg->index >= f->first && pg->index <= f->last &&
	       (!f->flags_any || (pg->flags & f->flags_any)) &&
	       (!f->dirtied_before ||
		((pg->flags & PG_DIRTY) && pg->dirtied_ns <= f->dirtied_before));
}

/* Visits one page by key; takes its own locks. Returns 0 or a negative errno. */
typedef int (*page_fn)(struct pc *pc, uint64_t ino, uint64_t index, void *ctx);

/*
 * Calls fn for the keys of the pages that match f, collected shard by shard
 * and visited in (ino, index) order without the shard lock held. Every page is
 * visited even after an error; the first error is returned.
 */
static int for_each_page(struct pc *pc, const struct filter *f, page_fn fn, void *ctx)
{
	struct pc_key *keys = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	for (unsigned s = 0; s < pc->nshards && !ret; s++) {
		struct shard *sh = &pc->shards[s];
		size_t taken = 0;

		sh_lock(sh);
		for (struct page *pg = sh->head; pg; pg = pg->next) {
			if (!filter_match(f, pg))
				continue;
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 64;
				struct pc_key *k = realloc(keys, ncap * sizeof(*k));
				if (!k) {
					ret = -ENOMEM;
					break;
				}
				keys = k;
				cap = ncap;
			}
			keys[n++] = (struct pc_key){pg->ino, pg->index};
			if (f->per_shard && ++taken == f->per_shard)
				break;
		}
		sh_unlock(sh);
	}
	/* In file order: write-back runs are as long as they can be, and in order. */
	if (n > 1)
		qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t k = 0; k < n && !(ret && f->stop_on_error); k++) {
		int r = fn(pc, keys[k].ino, keys[k].index, ctx);
		if (r && !ret)
			ret = r;
	}
	free(keys);
	return ret;
}

/*
 * Calls fn for the pages of ino in [first, last]: index by index when the
 * range is short compared with the cache, else by walking the shards.
 */
static int for_range(struct pc *pc, uint64_t ino, uint64_t first, uint64_t last, unsigned flags_any,
		     page_fn fn, void *ctx)
{
	struct filter f = {.ino = ino, .first = first, .last = last, .flags_any = flags_any};
	int ret = 0;

	if (last < first || !atomic_load(ino_count(pc, ino)))
		return 0;
	if (last - first > 4 * atomic_load(&pc->npages) + 64)
		return for_each_page(pc, &f, fn, ctx);
	for (uint64_t i = first;; i++) {
		int r = fn(pc, ino, i, ctx);
		if (r && !ret)
			ret = r;
		if (i == last)
			break;
	}
	return ret;
}

/* ---- write-back ------------------------------------------------------------------ */

/* ctx: bool *wait. Writes the page back if dirty; with wait, first waits out its I/O. */
static int wb_page(struct pc *pc, uint64_t ino, uint64_t index, void *ctx)
{
	bool wait = *(bool *)ctx;
	struct shard *sh = shard_of(pc, ino, index);
	struct page *pg;

	sh_lock(sh);
	while ((pg = page_find(sh, ino, index)) && (pg->flags & PG_LOCKED) && wait)
		sh_wait(sh);
	if (!pg || (pg->flags & PG_LOCKED) || !(pg->flags & PG_DIRTY)) {
		sh_unlock(sh);
		return 0;
	}
	wb_claim(pc, pg);
	sh_unlock(sh);
	return pc->ops.writepages ? wb_write_run(pc, pg) : wb_write(pc, sh, pg);
}

int pc_writeback_range(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end, bool wait)
{
	if (end < start)
		return 0;
	/* Waiting also covers pages under someone else's write-back (locked, not dirty). */
	return for_range(pc, ino, start / pc->bs, end / pc->bs, PG_DIRTY | PG_LOCKED, wb_page,
			 &wait);
}

int pc_fsync(struct pc *pc, uint64_t ino)
{
	return pc_writeback_range(pc, ino, 0, PC_END, true);
}

/* ctx: uint64_t *count. A dirty page becomes clean, unwritten (after its I/O). */
static int discard_page(struct pc *pc, uint64_t ino, uint64_t index, void *ctx)
{
	struct shard *sh = shard_of(pc, ino, index);
	struct page *pg;

	sh_lock(sh);
	while ((pg = page_find(sh, ino, index)) && (pg->flags & PG_LOCKED))
		sh_wait(sh);
	if (pg && (pg->flags & PG_DIRTY)) {
		pg->flags &= ~PG_DIRTY;
		atomic_fetch_sub(&pc->ndirty, 1);
		sh->writeback_errors++;
		(*(uint64_t *)ctx)++;
	}
	sh_unlock(sh);
	return 0;
}

uint64_t pc_discard_dirty(struct pc *pc, uint64_t ino)
{
	uint64_t n = 0;

	for_range(pc, ino, 0, PC_END, PG_DIRTY | PG_LOCKED, discard_page, &n);
	return n;
}

int pc_sync(struct pc *pc)
{
	struct filter f = {.any_ino = true, .last = PC_END, .flags_any = PG_DIRTY | PG_LOCKED};
	bool wait = true;

	return for_each_page(pc, &f, wb_page, &wait);
}

/*
 * Write-back on the dirty limit, in two steps as the kernel's
 * dirty_background_ratio and dirty_ratio: over half the limit, the
 * write-back thread (when running) is asked to write everything back; over
 * the limit, the writer that crosses it writes older pages back itself.
 */
static void balance_dirty(struct pc *pc)
{
	uint64_t nd = atomic_load(&pc->ndirty);
	bool wait = false;
	struct filter f = {
	    .any_ino = true, .last = PC_END, .flags_any = PG_DIRTY, .stop_on_error = true};

	if (nd > pc->dirty_limit / 2 && atomic_load_explicit(&pc->wb_on, memory_order_relaxed) &&
	    !atomic_load_explicit(&pc->wb_kicked, memory_order_relaxed))
		pc_wb_kick(pc);
	if (nd <= pc->dirty_limit)
		return;
	/* Down to three quarters of the limit, so that writers do not pay on every call. */
	f.per_shard = (nd - pc->dirty_limit * 3 / 4) / pc->nshards + 1;
	for_each_page(pc, &f, wb_page, &wait);
}

/* ---- buffered read and write -------------------------------------------------- */

/* Copies n bytes at poff of page i to dst, reading it in (with read-ahead up to ra_end) on a miss.
 */
static int read_one(struct pc *pc, uint64_t ino, uint64_t i, uint64_t ra_end, uint64_t req_last,
		    void *dst, size_t poff, size_t n)
{
	struct shard *sh = shard_of(pc, ino, i);
	bool missed = false;
	struct page *pg;
	int r;

	for (;;) {
		sh_lock(sh);
		/* A page under write-back is up to date and stable: copy from it. */
		while ((pg = page_find(sh, ino, i)) && !(pg->flags & PG_UPTODATE))
			sh_wait(sh);
		if (pg) {
			if (!missed)
				sh->hits++;
			page_touch(pc, sh, pg);
			memcpy(dst, pg->data + poff, n);
			sh_unlock(sh);
			return 0;
		}
		if (!missed) {
			sh->misses++;
			missed = true;
		}
		sh_unlock(sh);
		r = fill_run(pc, ino, i, ra_end > i ? ra_end : i, req_last, dst, poff, n);
		reclaim(pc);
		if (r != -EAGAIN)
			return r;
	}
}

ssize_t pc_read(struct pc *pc, uint64_t ino, uint64_t off, size_t len, void *buf)
{
	uint64_t size, first, last, ra_end;
	size_t done = 0;
	int r;

	if ((r = pc->ops.get_size(pc->arg, ino, &size)))
		return r;
	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = size - off;
	first = off / pc->bs;
	last = (off + len - 1) / pc->bs;
	ra_end = ra_plan(pc, ino, first, last, (size - 1) / pc->bs);
	while (done < len) {
		uint64_t pos = off + done;
		size_t poff = pos % pc->bs;
		size_t n = pc->bs - poff < len - done ? pc->bs - poff : len - done;

		r = read_one(pc, ino, pos / pc->bs, ra_end, last, (uint8_t *)buf + done, poff, n);
		if (r < 0)
			return done ? (ssize_t)done : r;
		done += n;
	}
	return (ssize_t)done;
}

/*
 * Copies n bytes from src to poff of page i and dirties it; size is the file
 * size before the write. A page that extends the file stays locked until
 * the size covers it, so that write-back never sees it before (a
 * filesystem writes nothing past its size: the data would be lost).
 */
static int write_one(struct pc *pc, uint64_t ino, uint64_t i, size_t poff, size_t n,
		     const void *src, uint64_t size)
{
	struct shard *sh = shard_of(pc, ino, i);
	struct page *pg;
	int r;

	for (;;) {
		sh_lock(sh);
		/* Stable pages: a page under I/O is not modified until the I/O ends. */
		while ((pg = page_find(sh, ino, i)) && (pg->flags & PG_LOCKED))
			sh_wait(sh);
		if (!pg) {
			bool whole = poff == 0 && n == pc->bs;
			if (whole || i * pc->bs >= size) {
				/* Nothing on disk worth reading: start from zeros. */
				if (!(pg = page_new(pc, sh, ino, i, PG_UPTODATE))) {
					sh_unlock(sh);
					return -ENOMEM;
				}
				if (!whole)
					memset(pg->data, 0, pc->bs);
			}
		}
		if (pg) {
			uint64_t end = i * pc->bs + poff + n;

			memcpy(pg->data + poff, src, n);
			page_set_dirty(pc, pg);
			page_touch(pc, sh, pg);
			if (end <= size) {
				sh_unlock(sh);
				return 0;
			}
			pg->flags |= PG_LOCKED;
			sh_unlock(sh);
			void *file;
			int held = file_hold(pc, ino, &file);
			r = held ? held : pc->ops.extend_size(pc->arg, ino, end);
			sh_lock(sh);
			page_unlock(sh, pg);
			sh_unlock(sh);
			if (held == 0)
				file_release(pc, file);
			return r;
		}
		sh_unlock(sh);
		/* A partial write of a block with data on disk: read it in first. */
		r = fill_run(pc, ino, i, i, i, NULL, 0, 0);
		if (r && r != -EAGAIN)
			return r;
	}
}

ssize_t pc_write(struct pc *pc, uint64_t ino, uint64_t off, size_t len, const void *buf)
{
	uint64_t size;
	size_t done = 0;
	int r;

	if (len == 0)
		return 0;
	if (off + len < off)
		return -EFBIG;
	if ((r = pc->ops.get_size(pc->arg, ino, &size)))
		return r;
	while (done < len) {
		uint64_t pos = off + done;
		size_t poff = pos % pc->bs;
		size_t n = pc->bs - poff < len - done ? pc->bs - poff : len - done;

		r = write_one(pc, ino, pos / pc->bs, poff, n, (const uint8_t *)buf + done, size);
		if (r < 0)
			break;
		done += n;
		reclaim(pc);
	}
	balance_dirty(pc);
	return done ? (ssize_t)done : r;
}

/* ---- invalidation, truncate, drop --------------------------------------------- */

/* Drops a clean, unlocked page; -busy_errno for a dirty or locked one (P3). */
/* ctx non-NULL: wait out a page's I/O first (the kernel's lock_page). */
static int invalidate_page(struct pc *pc, uint64_t ino, uint64_t index, void *ctx)
{
	struct shard *sh = shard_of(pc, ino, index);
	struct page *pg;
	int r = 0;

	sh_lock(sh);
	while (ctx && (pg = page_find(sh, ino, index)) && (pg->flags & PG_LOCKED))
		sh_wait(sh);
	if ((pg = page_find(sh, ino, index))) {
		if (pg->flags & (PG_DIRTY | PG_LOCKED)) {
			r = -pc->cfg.busy_errno;
		} else {
			page_free(pc, sh, pg);
			sh->invalidated++;
		}
	}
	sh_unlock(sh);
	return r;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static int invalidate_range(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end, bool wait)
{
	int err, r;

	if (end < start)
		return 0;
	atomic_fetch_add(&pc->invalidations, 1);
	if (pc->faults &&
	    fault_should_fail(pc->faults, FAULT_INVALIDATE, ino, mul_sat(start, pc->bs),
			      mul_sat(end - start + 1 ? end - start + 1 : end, pc->bs), &err)) {
		atomic_fetch_add(&pc->invalidate_failures, 1);
		return -err;
	}
	r = for_range(pc, ino, start, end, 0, invalidate_page, wait ? (void *)pc : NULL);
	if (r)
		atomic_fetch_add(&pc->invalidate_failures, 1);
	return r;
}

int pc_invalidate_range(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end)
{
	return invalidate_range(pc, ino, start, end, false);
}

int pc_invalidate_range_wait(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end)
{
	return invalidate_range(pc, ino, start, end, true);
}

/* Drops a page whatever its state, after waiting out its I/O (truncate, deleted inode). */
static int drop_page(struct pc *pc, uint64_t ino, uint64_t index, void *ctx)
{
	struct shard *sh = shard_of(pc, ino, index);
	struct page *pg;

	sh_lock(sh);
	while ((pg = page_find(sh, ino, index)) && (pg->flags & PG_LOCKED))
		sh_wait(sh);
	if (pg)
		page_free(pc, sh, pg);
	sh_unlock(sh);
	return 0;
}

int pc_truncate(struct pc *pc, uint64_t ino, uint64_t size)
{
	uint64_t keep = size / pc->bs + (size % pc->bs != 0); /* pages [0, keep) stay */
	size_t tail = size % pc->bs;

	for_range(pc, ino, keep, PC_END, 0, drop_page, NULL);
	if (tail) {
		struct shard *sh = shard_of(pc, ino, size / pc->bs);
		struct page *pg;

		/* The bytes past the new EOF must read as zeros if the file grows again. */
		sh_lock(sh);
		while ((pg = page_find(sh, ino, size / pc->bs)) && (pg->flags & PG_LOCKED))
			sh_wait(sh);
		if (pg)
			memset(pg->data + tail, 0, pc->bs - tail);
		sh_unlock(sh);
	}
	return 0;
}

void pc_drop_range(struct pc *pc, uint64_t ino, uint64_t start, uint64_t end)
{
	for_range(pc, ino, start, end, 0, drop_page, NULL);
}

void pc_drop_inode(struct pc *pc, uint64_t ino)
{
	for_range(pc, ino, 0, PC_END, 0, drop_page, NULL);
	ra_forget(pc, ino);
	wberr_drop(pc->wberr, ino);
}

/* ---- write-back errors (errseq) ----------------------------------------------- */

void pc_wb_err_set(struct pc *pc, uint64_t ino, int err)
{
	wberr_set(pc->wberr, ino, err);
}

uint32_t pc_wb_err_sample(struct pc *pc, uint64_t ino)
{
	return wberr_sample(pc->wberr, ino);
}

int pc_wb_err_check(struct pc *pc, uint64_t ino, uint32_t *since)
{
	return wberr_check(pc->wberr, ino, since);
}

enum pc_state pc_page_state(struct pc *pc, uint64_t ino, uint64_t index)
{
	struct shard *sh = shard_of(pc, ino, index);
	enum pc_state st = PC_ABSENT;
	struct page *pg;

	sh_lock(sh);
	if ((pg = page_find(sh, ino, index)))
		st = (pg->flags & PG_LOCKED)  ? PC_LOCKED
		     : (pg->flags & PG_DIRTY) ? PC_DIRTY
					      : PC_CLEAN;
	sh_unlock(sh);
	return st;
}

/* ---- the write-back thread ------------------------------------------------------ */

/* Writes back the pages dirty for longer than dirty_expire_ms (all of them when kicked). */
static void wb_expired(struct pc *pc, bool all)
{
	uint64_t expire = (uint64_t)pc->cfg.dirty_expire_ms * 1000000u, now = now_ns();
	struct filter f = {
	    .any_ino = true, .last = PC_END, .flags_any = PG_DIRTY, .stop_on_error = true};
	bool wait = false;

	if (!all)
		f.dirtied_before = now > expire ? now - expire : 1;
	for_each_page(pc, &f, wb_page, &wait);
}

static void *wb_main(void *arg)
{
	struct pc *pc = arg;

	pthread_mutex_lock(&pc->wb_lock);
	while (!pc->wb_stop) {
		if (!pc->wb_kick) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += pc->cfg.wb_interval_ms / 1000;
			ts.tv_nsec += (long)(pc->cfg.wb_interval_ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&pc->wb_cv, &pc->wb_lock, &ts);
		}
		if (pc->wb_stop)
			break;
		bool all = pc->wb_kick;
		pc->wb_kick = false;
		atomic_store(&pc->wb_kicked, false);
		pthread_mutex_unlock(&pc->wb_lock);
		wb_expired(pc, all);
		pthread_mutex_lock(&pc->wb_lock);
	}
	pthread_mutex_unlock(&pc->wb_lock);
	return NULL;
}

int pc_wb_start(struct pc *pc)
{
	int r = 0;

	pthread_mutex_lock(&pc->wb_lock);
	if (!pc->wb_running) {
		pc->wb_stop = false;
		r = -pthread_create(&pc->wb_thread, NULL, wb_main, pc);
		pc->wb_running = r == 0;
		atomic_store(&pc->wb_on, pc->wb_running);
	}
	pthread_mutex_unlock(&pc->wb_lock);
	return r;
}

void pc_wb_stop(struct pc *pc)
{
	pthread_t t;

	pthread_mutex_lock(&pc->wb_lock);
	if (!pc->wb_running) {
		pthread_mutex_unlock(&pc->wb_lock);
		return;
	}
	pc->wb_stop = true;
	pc->wb_running = false;
	atomic_store(&pc->wb_on, false);
	t = pc->wb_thread;
	pthread_cond_broadcast(&pc->wb_cv);
	pthread_mutex_unlock(&pc->wb_lock);
	pthread_join(t, NULL);
}

void pc_wb_kick(struct pc *pc)
{
	pthread_mutex_lock(&pc->wb_lock);
	pc->wb_kick = true;
	atomic_store(&pc->wb_kicked, true);
	pthread_cond_broadcast(&pc->wb_cv);
	pthread_mutex_unlock(&pc->wb_lock);
}

/* ---- creation and statistics ---------------------------------------------------- */

int pc_new(const struct pc_config *cfg, const struct pc_ops *ops, void *arg, struct faults *faults,
	   struct pc **out)
{
	struct pc *pc;
	pthread_condattr_t ca;
	size_t nb;

	if (!cfg->block_size || (cfg->block_size & (cfg->block_size - 1)) || !ops->read_block ||
	    !ops->writepage || !ops->get_size || !ops->extend_size ||
	    (cfg->nshards & (cfg->nshards - 1)))
		return -EINVAL;
	if (!(pc = calloc(1, sizeof(*pc))))
		return -ENOMEM;
	pc->cfg = *cfg;
	pc->ops = *ops;
	pc->arg = arg;
	pc->faults = faults;
	pc->bs = cfg->block_size;
	if (!pc->cfg.cache_mb)
		pc->cfg.cache_mb = 64;
	if (!pc->cfg.dirty_pct || pc->cfg.dirty_pct > 100)
		pc->cfg.dirty_pct = 50;
	if (!pc->cfg.wb_interval_ms)
		pc->cfg.wb_interval_ms = 500;
	if (!pc->cfg.dirty_expire_ms)
		pc->cfg.dirty_expire_ms = 3000;
	if (!pc->cfg.nshards)
		pc->cfg.nshards = 16;
	if (pc->cfg.busy_errno <= 0)
		pc->cfg.busy_errno = EIO;
	pc->max_pages =
	    cfg->max_pages ? cfg->max_pages : (uint64_t)pc->cfg.cache_mb * 1048576 / pc->bs;
	if (pc->max_pages < 4)
		pc->max_pages = 4;
	pc->dirty_limit = pc->max_pages * pc->cfg.dirty_pct / 100;
	if (!pc->dirty_limit)
		pc->dirty_limit = 1;
	if (!pc->cfg.ra_min)
		pc->cfg.ra_min = 4;
	if (!pc->cfg.ra_max)
		pc->cfg.ra_max = 32;
	/* Read-ahead must not push out what the reader is about to use. */
	if (pc->cfg.ra_max > pc->max_pages / 4)
		pc->cfg.ra_max = pc->max_pages / 4 ? (unsigned)(pc->max_pages / 4) : 1;
	if (pc->cfg.ra_min > pc->cfg.ra_max)
		pc->cfg.ra_min = pc->cfg.ra_max;
	pc->nshards = pc->cfg.nshards;
	/*
	 * Chunks of 2 MiB, smaller for a small cache so that one per shard is
	 * at most a quarter of it: the slack of the slab stays small.
	 */
	pc->chunk_pages = PC_CHUNK_BYTES / pc->bs ? PC_CHUNK_BYTES / pc->bs : 1;
	while (pc->chunk_pages > 1 && pc->chunk_pages * pc->nshards * 4 > pc->max_pages)
		pc->chunk_pages /= 2;
	pthread_mutex_init(&pc->slab_lock, NULL);

	if (!(pc->wberr = wberr_new()) ||
	    !(pc->shards = aligned_alloc(64, pc->nshards * sizeof(struct shard)))) {
		wberr_free(pc->wberr);
		pthread_mutex_destroy(&pc->slab_lock);
		free(pc);
		return -ENOMEM;
	}
	memset(pc->shards, 0, pc->nshards * sizeof(struct shard));
	for (nb = 64; nb < pc->max_pages / pc->nshards; nb *= 2)
		;
	for (unsigned s = 0; s < pc->nshards; s++) {
		struct shard *sh = &pc->shards[s];
		pthread_mutex_init(&sh->lock, NULL);
		pthread_cond_init(&sh->cv, NULL);
		sh->nbuckets = nb;
		if (!(sh->buckets = calloc(nb, sizeof(*sh->buckets)))) {
			pc->nshards = s + 1;
			pc_free(pc);
			return -ENOMEM;
		}
	}
	atomic_store(&pc->bytes, sizeof(*pc) + pc->nshards * (sizeof(struct shard) +
							      nb * sizeof(struct page *)));
	static_assert(sizeof(struct page) + 16 + sizeof(struct chunk) <= PC_MEM_PER_PAGE,
		      "PC_MEM_PER_PAGE documents the header");
	pthread_mutex_init(&pc->wb_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pc->wb_cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = pc;
	return 0;
}

void pc_free(struct pc *pc)
{
	if (!pc)
		return;
	pc_wb_stop(pc);
	for (unsigned s = 0; s < pc->nshards; s++) {
		struct shard *sh = &pc->shards[s];
		free(sh->buckets);
		pthread_mutex_destroy(&sh->lock);
		pthread_cond_destroy(&sh->cv);
	}
	for (struct chunk *c = pc->chunks, *nx; c; c = nx) {
		nx = c->next;
		/* Unpoisoned: the address range and the headers' heap are reused. */
		PC_UNPOISON(c->data, pc->chunk_pages * pc->bs);
		PC_UNPOISON(c->pages, pc->chunk_pages * sizeof(struct page));
		munmap(c->data, pc->chunk_pages * pc->bs);
		free(c->pages);
		free(c);
	}
	pthread_mutex_destroy(&pc->slab_lock);
	pthread_mutex_destroy(&pc->wb_lock);
	pthread_cond_destroy(&pc->wb_cv);
	free(pc->shards);
	wberr_free(pc->wberr);
	free(pc);
}

uint32_t pc_block_size(const struct pc *pc)
{
	return (uint32_t)pc->bs;
}

void pc_get_stats(struct pc *pc, struct pc_stats *st)
{
	st->pages = atomic_load(&pc->npages);
	st->dirty = atomic_load(&pc->ndirty);
	st->max_pages = pc->max_pages;
	st->dirty_limit = pc->dirty_limit;
	st->bytes = atomic_load(&pc->bytes);
	st->invalidations = atomic_load(&pc->invalidations);
	st->invalidate_failures = atomic_load(&pc->invalidate_failures);
	st->hits = st->misses = st->invalidated = st->evictions = 0;
	st->writebacks = st->writeback_errors = st->readahead = 0;
	struct wberr_stats w;
	wberr_get_stats(pc->wberr, &w);
	st->wb_err_set = w.set;
	st->wb_err_reported = w.reported;
	for (unsigned s = 0; s < pc->nshards; s++) {
		struct shard *sh = &pc->shards[s];
		sh_lock(sh);
		st->hits += sh->hits;
		st->misses += sh->misses;
		st->invalidated += sh->invalidated;
		st->evictions += sh->evictions;
		st->writebacks += sh->writebacks;
		st->writeback_errors += sh->writeback_errors;
		st->readahead += sh->readahead;
		sh_unlock(sh);
	}
}
