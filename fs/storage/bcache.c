/*
 * bcache.c: the bcache layer of fs/ storage, the metadata buffer cache
 * (xv6's bio.c, hashed and bounded). Calls disk and meta only.
 *
 * Life cycle of a buffer: it is found or created in the hash table under
 * bc->mu with a reference taken, then its content lock is taken (without
 * bc->mu, so device reads happen outside the global lock); it is loaded
 * from the device once (valid), verified, and handed to the caller, who
 * owns the content until brelse. A buffer with no reference sits in the
 * LRU list and may be evicted, and there is only ever one buffer per
 * block. The journal keeps a reference (bref/bput) on every buffer of a
 * transaction until the block has been written home (checkpoint), so a
 * dirty block is never evicted and re-read stale.
 *
 * The bound is soft: when every buffer is referenced a new one is created
 * anyway (counted as overflow); the journal's log size bounds that.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"
#include "storage_int.h"

struct bentry {
	struct buf b; /* b.priv points back here */
	struct bcache *bc;
	pthread_mutex_t lock; /* the content lock, bread to brelse */
	uint32_t refcnt;      /* under bc->mu */
	bool valid;	      /* data holds the block (under lock) */
	uint64_t jseq;	      /* the journal's word (under the journal's lock) */
	struct bentry *hnext;
	struct bentry *prev, *next; /* LRU (refcnt == 0 only), head = most recent */
};

struct bcache {
	struct disk *disk;
	uint32_t bs;
	size_t max;
	pthread_mutex_t mu;
	struct bentry **hash;
	size_t nhash;	   /* a power of two */
	struct bentry lru; /* sentinel */
	struct bcache_stats st;
};

static size_t hslot(const struct bcache *bc, uint64_t blockno)
{
	return (size_t)((blockno * 0x9e3779b97f4a7c15ull) >> 20) & (bc->nhash - 1);
}

struct bcache *bcache_create(struct disk *d, uint32_t block_size, size_t max_bufs)
{
	struct bcache *bc = calloc(1, sizeof(*bc));
	if (!bc)
		return NULL;
	bc->disk = d;
	bc->bs = block_size;
	bc->max = max_bufs ? max_bufs : 1;
	bc->nhash = 64;
	while (bc->nhash < bc->max * 2)
		bc->nhash <<= 1;
	bc->hash = calloc(bc->nhash, sizeof(*bc->hash));
	if (!bc->hash) {
		free(bc);
		return NULL;
	}
	pthread_mutex_init(&bc->mu, NULL);
	bc->lru.prev = bc->lru.next = &bc->lru;
	return bc;
}

static void lru_unlink(struct bentry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct bcache *bc, struct bentry *e)
{
	e->next = bc->lru.next;
	e->prev = &bc->lru;
	bc->lru.next->prev = e;
	bc->lru.next = e;
}

static void hash_remove(struct bcache *bc, struct bentry *e)
{
	struct bentry **pp = &bc->hash[hslot(bc, e->b.blockno)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
}

static void entry_free(struct bentry *e)
{
	pthread_mutex_destroy(&e->lock);
	free(e->b.data);
	free(e);
}

void bcache_destroy(struct bcache *bc)
{
	if (!bc)
		return;
	for (size_t i = 0; i < bc->nhash; i++) {
		struct bentry *e = bc->hash[i];
		while (e) {
			struct bentry *n = e->hnext;
			entry_free(e);
			e = n;
		}
	}
	pthread_mutex_destroy(&bc->mu);
	free(bc->hash);
	free(bc);
}

/* The buffer for blockno with a reference taken (not locked, maybe not
   valid); NULL when out of memory. Precondition: bc->mu held. */
static struct bentry *bget_locked(struct bcache *bc, uint64_t blockno)
{
	size_t h = hslot(bc, blockno);
	for (struct bentry *e = bc->hash[h]; e; e = e->hnext) {
		if (e->b.blockno == blockno) {
			if (e->refcnt++ == 0)
				lru_unlink(e);
			bc->st.hits++;
			return e;
		}
	}
	bc->st.misses++;
	struct bentry *e = NULL;
	if (bc->st.nbufs >= bc->max && bc->lru.prev != &bc->lru) {
		e = bc->lru.prev; /* least recently used, unreferenced: reuse it */
		lru_unlink(e);
		hash_remove(bc, e);
		bc->st.evictions++;
	} else {
		e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		if (posix_memalign((void **)&e->b.data, 4096, bc->bs)) {
			free(e);
			return NULL;
		}
		pthread_mutex_init(&e->lock, NULL);
		e->b.priv = e;
		e->bc = bc;
		if (++bc->st.nbufs > bc->max)
			bc->st.overflow++;
	}
	e->b.blockno = blockno;
	e->valid = false;
	e->jseq = 0;
	e->refcnt = 1;
	e->hnext = bc->hash[h];
	bc->hash[h] = e;
	return e;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Loads and verifies e; precondition: e->lock held. */
static int load(struct bcache *bc, struct bentry *e, uint32_t magic, bool fresh)
{
	if (fresh) {
		memset(e->b.data, 0, bc->bs);
		e->valid = true;
		return 0;
	}
	if (!e->valid) {
		int rc = disk_read(bc->disk, e->b.blockno, 1, e->b.data);
		if (rc < 0)
			return rc;
		/* layout.h: an all-zero inode table block is a block of free inodes */
		if (magic == EF_MAGIC_ITABLE && all_zero(e->b.data, bc->bs))
			meta_seal(e->b.data, bc->bs, magic, e->b.blockno);
		if (magic && meta_verify(e->b.data, bc->bs, magic, e->b.blockno) < 0)
			return -EUCLEAN; /* left invalid: the next bread reads it again */
		e->valid = true;
		return 0;
	}
	/* Cached: its crc is sealed only at commit, so check the kind and place. */
	if (magic) {
		struct ef_blkhdr h;
		memcpy(&h, e->b.data, sizeof(h));
		if (h.magic != magic || h.blockno != e->b.blockno)
			return -EUCLEAN;
	}
	return 0;
}

static int bread_common(struct bcache *bc, uint64_t blockno, uint32_t magic, bool fresh,
			struct buf **out)
{
	*out = NULL;
	pthread_mutex_lock(&bc->mu);
	struct bentry *e = bget_locked(bc, blockno);
	pthread_mutex_unlock(&bc->mu);
	if (!e)
		return -ENOMEM;
	pthread_mutex_lock(&e->lock);
	int rc = load(bc, e, magic, fresh);
	if (rc < 0) {
		brelse(&e->b);
		return rc;
	}
	*out = &e->b;
	return 0;
}

int bread(struct bcache *bc, uint64_t blockno, uint32_t magic, struct buf **out)
{
	return bread_common(bc, blockno, magic, false, out);
}

int bread_new(struct bcache *bc, uint64_t blockno, struct buf **out)
{
	return bread_common(bc, blockno, 0, true, out);
}

void bref(struct buf *b)
{
	struct bentry *e = b->priv;
	pthread_mutex_lock(&e->bc->mu);
	e->refcnt++;
	pthread_mutex_unlock(&e->bc->mu);
}

void bput(struct buf *b)
{
	struct bentry *e = b->priv;
	struct bcache *bc = e->bc;
	pthread_mutex_lock(&bc->mu);
	if (--e->refcnt == 0)
		lru_push(bc, e);
	pthread_mutex_unlock(&bc->mu);
}

void brelse(struct buf *b)
{
	struct bentry *e = b->priv;
	pthread_mutex_unlock(&e->lock);
	bput(b);
}

struct disk *bcache_disk(struct bcache *bc)
{
	return bc->disk;
}

uint64_t *buf_jseq(struct buf *b)
{
	return &((struct bentry *)b->priv)->jseq;
}

void bcache_get_stats(struct bcache *bc, struct bcache_stats *st)
{
	pthread_mutex_lock(&bc->mu);
	*st = bc->st;
	pthread_mutex_unlock(&bc->mu);
}

void bcache_drop_clean(struct bcache *bc)
{
	pthread_mutex_lock(&bc->mu);
	while (bc->lru.next != &bc->lru) {
		struct bentry *e = bc->lru.next;
		lru_unlink(e);
		hash_remove(bc, e);
		entry_free(e);
		bc->st.nbufs--;
	}
	pthread_mutex_unlock(&bc->mu);
}
