/*
 * alloc.c: the alloc layer of fs/ storage, block and inode bitmaps. Calls
 * bcache (bread/brelse) and journal (tx_add, tx_seq) only. Bitmap format:
 * layout.h (storage section).
 *
 * In memory it keeps, per bitmap block, how many of its items can be
 * handed out now (so a search skips full blocks without reading them),
 * and the blocks freed but not reusable yet: a block freed in transaction
 * T stays busy in an overlay bitmap until T is checkpointed (its data may
 * still be needed if T never commits, and an older journal image of it
 * could otherwise be replayed over its next owner's data). The journal's
 * on_checkpoint callback (alloc_on_checkpoint) releases them.
 *
 * Locking: a->mu is held across a search, including bitmap reads through
 * the cache (hot blocks: they stay referenced by the journal while dirty).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "storage.h"
#include "storage_int.h"

struct pending {
	uint64_t seq, start, count;
};

struct bitmap {
	uint64_t start, len; /* bitmap blocks on the device */
	uint64_t nitems;     /* items covered (blocks, or inodes + 1) */
	uint32_t magic;
	uint32_t *avail;   /* per bitmap block: items that can be handed out */
	uint8_t **overlay; /* per bitmap block: freed, not yet reusable (blocks only) */
};

struct alloc {
	struct bcache *bc;
	uint32_t bs;
	uint64_t bpb; /* bits per bitmap block */
	uint64_t data_start, nblocks, ninodes;
	pthread_mutex_t mu;
	struct bitmap bb, ib;
	uint64_t free_blocks, free_inodes, pending_blocks;
	struct pending *pend;
	size_t npend, cap;
	uint64_t brotor, irotor;
};

static inline bool bit_get(const uint8_t *m, uint64_t i)
{
	return (m[i >> 3] >> (i & 7)) & 1;
}
static inline void bit_set(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1u << (i & 7));
}
static inline void bit_clear(uint8_t *m, uint64_t i)
{
	m[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

static uint8_t *bits_of(struct buf *b)
{
	return b->data + sizeof(struct ef_blkhdr);
}

/* Counts free bits of every bitmap block, read straight from the device in
   big chunks (at mount the journal is replayed and the cache is empty).
   Precondition: before any use. */
static int bitmap_load(struct alloc *a, struct bitmap *m, uint64_t *nfree)
{
	enum { CHUNK = 256 };
	struct disk *d = bcache_disk(a->bc);
	m->avail = calloc(m->len, sizeof(*m->avail));
	uint8_t *chunk = disk_alloc_buf(d, (size_t)CHUNK * a->bs);
	if (!m->avail || !chunk) {
		free(chunk);
		return -ENOMEM;
	}
	*nfree = 0;
	int rc = 0;
	for (uint64_t k0 = 0; k0 < m->len && rc == 0; k0 += CHUNK) {
		uint64_t c = m->len - k0 < CHUNK ? m->len - k0 : CHUNK;
		rc = disk_read(d, m->start + k0, (uint32_t)c, chunk);
		for (uint64_t x = 0; x < c && rc == 0; x++) {
			uint64_t k = k0 + x;
			const uint8_t *blk = chunk + x * a->bs,
				      *bits = blk + sizeof(struct ef_blkhdr);
			rc = meta_verify(blk, a->bs, m->magic, m->start + k);
			if (rc < 0)
				break;
			uint64_t used = 0;
			for (uint64_t i = 0; i < a->bpb / 64; i++) {
				uint64_t w;
				memcpy(&w, bits + i * 8, 8);
				used += (uint64_t)__builtin_popcountll(w);
			}
			/* Padding bits past the last item are set on disk; count them
			   used anyway: a damaged bitmap must not hand out what does
			   not exist. */
			uint64_t first = k * a->bpb;
			if (first + a->bpb > m->nitems)
				for (uint64_t i = m->nitems > first ? m->nitems - first : 0;
				     i < a->bpb; i++)
					if (!bit_get(bits, i))
						used++;
			m->avail[k] = (uint32_t)(a->bpb - used);
			*nfree += m->avail[k];
		}
	}
	free(chunk);
	return rc;
}

int alloc_create(struct bcache *bc, struct ef_super *sb, pthread_mutex_t *sb_lock,
		 struct alloc **out)
{
	(void)sb_lock;
	*out = NULL;
	struct alloc *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->bc = bc;
	a->bs = sb->block_size;
	a->bpb = EF_BITMAP_BITS(a->bs);
	a->data_start = sb->data_start;
	a->nblocks = sb->nblocks;
	a->ninodes = sb->ninodes;
	/* The blocks the items need (super_check made sure the regions hold at
	   least that many); a larger length field is not trusted to size memory. */
	a->bb = (struct bitmap){sb->bbitmap_start,
				(sb->nblocks + a->bpb - 1) / a->bpb,
				sb->nblocks,
				EF_MAGIC_BBITMAP,
				NULL,
				NULL};
	a->ib = (struct bitmap){sb->ibitmap_start,
				(sb->ninodes + 1 + a->bpb - 1) / a->bpb,
				sb->ninodes + 1,
				EF_MAGIC_IBITMAP,
				NULL,
				NULL};
	pthread_mutex_init(&a->mu, NULL);
	a->bb.overlay = calloc(a->bb.len, sizeof(*a->bb.overlay));
	int rc = a->bb.overlay ? 0 : -ENOMEM;
	if (rc == 0)
		rc = bitmap_load(a, &a->bb, &a->free_blocks);
	if (rc == 0)
		rc = bitmap_load(a, &a->ib, &a->free_inodes);
	if (rc < 0) {
		alloc_destroy(a);
		return rc;
	}
	a->brotor = a->data_start;
	a->irotor = 1;
	*out = a;
	return 0;
}

void alloc_destroy(struct alloc *a)
{
	if (!a)
		return;
	if (a->bb.overlay)
		for (uint64_t k = 0; k < a->bb.len; k++)
			free(a->bb.overlay[k]);
	free(a->bb.overlay);
	free(a->bb.avail);
	free(a->ib.avail);
	free(a->pend);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void alloc_counts(struct alloc *a, uint64_t *free_blocks, uint64_t *free_inodes)
{
	pthread_mutex_lock(&a->mu);
	if (free_blocks)
		*free_blocks = a->free_blocks;
	if (free_inodes)
		*free_inodes = a->free_inodes;
	pthread_mutex_unlock(&a->mu);
}

uint64_t alloc_pending_blocks(struct alloc *a)
{
	pthread_mutex_lock(&a->mu);
	uint64_t n = a->pending_blocks;
	pthread_mutex_unlock(&a->mu);
	return n;
}

/* Is item i of bitmap block k busy (on disk, pending, or past the end)? */
static inline bool busy(const struct alloc *a, const struct bitmap *m, uint64_t k,
			const uint8_t *bits, uint64_t i)
{
	if (k * a->bpb + i >= m->nitems || bit_get(bits, i))
		return true;
	return m->overlay && m->overlay[k] && bit_get(m->overlay[k], i);
}

/* The first free run in [from, bpb) of block k, at most want long. */
static uint64_t find_run(const struct alloc *a, const struct bitmap *m, uint64_t k,
			 const uint8_t *bits, uint64_t from, uint64_t want, uint64_t *at)
{
	uint64_t i = from;
	while (i < a->bpb) {
		/* skip whole busy bytes quickly */
		if ((i & 7) == 0 && bits[i >> 3] == 0xff) {
			i += 8;
			continue;
		}
		if (busy(a, m, k, bits, i)) {
			i++;
			continue;
		}
		uint64_t s = i;
		while (i < a->bpb && i - s < want && !busy(a, m, k, bits, i))
			i++;
		*at = s;
		return i - s;
	}
	return 0;
}

/*
 * The fault point enospc: once more than fill percent of the data blocks
 * are in use, an allocation fails as a full filesystem's would.
 * Precondition: a->mu held.
 */
static bool enospc_injected(struct alloc *a, int *err)
{
	struct faults *f = bcache_disk(a->bc)->faults;
	struct fault_knobs k;
	uint64_t total = a->nblocks - a->data_start;

	if (!f || !atomic_load_explicit(&f->on[FAULT_ENOSPC], memory_order_relaxed))
		return false;
	fault_get(f, FAULT_ENOSPC, &k, NULL);
	if (total && (total - a->free_blocks) * 100 <= (uint64_t)k.fill * total)
		return false;
	return fault_should_fail(f, FAULT_ENOSPC, 0, 0, 0, err);
}

int balloc(struct alloc *a, struct tx *tx, uint64_t goal, uint64_t want, uint64_t *start,
	   uint64_t *got)
{
	int err;

	if (want == 0)
		return -EINVAL;
	pthread_mutex_lock(&a->mu);
	if (enospc_injected(a, &err)) {
		pthread_mutex_unlock(&a->mu);
		return -err;
	}
	if (goal < a->data_start || goal >= a->nblocks)
		goal = a->brotor;
	uint64_t k0 = goal / a->bpb, nb = a->bb.len;
	uint64_t best_k = 0, best_at = 0, best_len = 0, scanned = 0;
	int rc = 0;
	/* nb + 1 steps: the goal's block again from its start, last. */
	for (uint64_t step = 0; step <= nb && rc == 0; step++) {
		uint64_t k = (k0 + step) % nb;
		if (a->bb.avail[k] == 0)
			continue;
		struct buf *b;
		rc = bread(a->bc, a->bb.start + k, EF_MAGIC_BBITMAP, &b);
		if (rc < 0)
			break;
		uint64_t from = step == 0 ? goal % a->bpb : 0, at = 0, len;
		while ((len = find_run(a, &a->bb, k, bits_of(b), from, want, &at)) > 0) {
			if (len > best_len) {
				best_k = k, best_at = at, best_len = len;
			}
			if (len == want)
				break;
			from = at + len;
		}
		brelse(b);
		if (best_len == want || (best_len && ++scanned >= 8))
			break;
	}
	if (rc == 0 && best_len == 0)
		rc = -ENOSPC;
	if (rc == 0) {
		struct buf *b;
		rc = bread(a->bc, a->bb.start + best_k, EF_MAGIC_BBITMAP, &b);
		if (rc == 0) {
			for (uint64_t i = 0; i < best_len; i++)
				bit_set(bits_of(b), best_at + i);
			tx_add(tx, b);
			brelse(b);
			a->bb.avail[best_k] -= (uint32_t)best_len;
			a->free_blocks -= best_len;
			*start = best_k * a->bpb + best_at;
			*got = best_len;
			a->brotor = *start + best_len;
		}
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int bfree(struct alloc *a, struct tx *tx, uint64_t start, uint64_t count)
{
	if (count == 0)
		return 0;
	if (start < a->data_start || start >= a->nblocks - 1 || count > a->nblocks - 1 - start)
		return -EINVAL;
	pthread_mutex_lock(&a->mu);
	int rc = 0;
	if (a->npend == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct pending *p = realloc(a->pend, cap * sizeof(*p));
		if (!p)
			rc = -ENOMEM;
		else
			a->pend = p, a->cap = cap;
	}
	/* Check every bit first: a double free changes nothing. */
	for (uint64_t b0 = start; rc == 0 && b0 < start + count;) {
		uint64_t k = b0 / a->bpb, i = b0 % a->bpb;
		uint64_t n = a->bpb - i < start + count - b0 ? a->bpb - i : start + count - b0;
		struct buf *b;
		rc = bread(a->bc, a->bb.start + k, EF_MAGIC_BBITMAP, &b);
		if (rc < 0)
			break;
		for (uint64_t x = 0; x < n; x++)
			if (!bit_get(bits_of(b), i + x))
				rc = -EUCLEAN;
		brelse(b);
		b0 += n;
	}
	for (uint64_t b0 = start; rc == 0 && b0 < start + count;) {
		uint64_t k = b0 / a->bpb, i = b0 % a->bpb;
		uint64_t n = a->bpb - i < start + count - b0 ? a->bpb - i : start + count - b0;
		if (!a->bb.overlay[k] && !(a->bb.overlay[k] = calloc(1, a->bpb / 8))) {
			rc = -ENOMEM;
			break;
		}
		struct buf *b;
		rc = bread(a->bc, a->bb.start + k, EF_MAGIC_BBITMAP, &b);
		if (rc < 0)
			break;
		for (uint64_t x = 0; x < n; x++) {
			bit_clear(bits_of(b), i + x);
			bit_set(a->bb.overlay[k], i + x);
		}
		tx_add(tx, b);
		brelse(b);
		b0 += n;
	}
	if (rc == 0) {
		a->pend[a->npend++] = (struct pending){tx_seq(tx), start, count};
		a->free_blocks += count;
		a->pending_blocks += count;
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void alloc_on_checkpoint(void *arg, uint64_t seq)
{
	struct alloc *a = arg;
	pthread_mutex_lock(&a->mu);
	size_t keep = 0;
	for (size_t p = 0; p < a->npend; p++) {
		struct pending e = a->pend[p];
		if (e.seq > seq) {
			a->pend[keep++] = e;
			continue;
		}
		for (uint64_t b0 = e.start; b0 < e.start + e.count; b0++) {
			uint64_t k = b0 / a->bpb, i = b0 % a->bpb;
			bit_clear(a->bb.overlay[k], i);
			a->bb.avail[k]++;
		}
		a->pending_blocks -= e.count;
	}
	a->npend = keep;
	pthread_mutex_unlock(&a->mu);
}

int ialloc(struct alloc *a, struct tx *tx, uint64_t *ino)
{
	pthread_mutex_lock(&a->mu);
	int rc = -ENOSPC;
	uint64_t nb = a->ib.len, k0 = a->irotor / a->bpb;
	for (uint64_t step = 0; step <= nb; step++) {
		uint64_t k = (k0 + step) % nb;
		if (a->ib.avail[k] == 0)
			continue;
		struct buf *b;
		rc = bread(a->bc, a->ib.start + k, EF_MAGIC_IBITMAP, &b);
		if (rc < 0)
			break;
		uint64_t from = step == 0 ? a->irotor % a->bpb : 0, at = 0;
		if (find_run(a, &a->ib, k, bits_of(b), from, 1, &at) == 1 && k * a->bpb + at != 0) {
			bit_set(bits_of(b), at);
			tx_add(tx, b);
			brelse(b);
			a->ib.avail[k]--;
			a->free_inodes--;
			*ino = k * a->bpb + at;
			a->irotor = *ino + 1 <= a->ninodes ? *ino + 1 : 1;
			rc = 0;
			break;
		}
		brelse(b);
		rc = -ENOSPC;
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int ifree(struct alloc *a, struct tx *tx, uint64_t ino)
{
	if (ino == 0 || ino > a->ninodes)
		return -EINVAL;
	pthread_mutex_lock(&a->mu);
	uint64_t k = ino / a->bpb, i = ino % a->bpb;
	struct buf *b;
	int rc = bread(a->bc, a->ib.start + k, EF_MAGIC_IBITMAP, &b);
	if (rc == 0) {
		if (!bit_get(bits_of(b), i)) {
			rc = -EUCLEAN;
		} else {
			bit_clear(bits_of(b), i);
			tx_add(tx, b);
			a->ib.avail[k]++;
			a->free_inodes++;
		}
		brelse(b);
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}
