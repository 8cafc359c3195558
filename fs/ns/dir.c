/*
 * dir.c: the directory layer. Directories are extendible hash tables on a
 * 62-bit name hash (the format is in layout.h): a head block, a table of
 * bucket numbers, and buckets of entries sorted by key. A lookup reads the
 * head, one table block and one bucket, whatever the directory's size.
 * Buckets split (and the table doubles) before an insert that would not
 * fit: dir_prepare does that in transactions of its own, so dir_add inside
 * the caller's transaction only writes the head and one bucket.
 *
 * Calls: extent (to map and allocate the directory's blocks), inode
 * (iupdate), storage (bread/brelse, tx_add, meta_seal). dp->lock is held,
 * shared for lookup/iterate, exclusive for changes (each entry point asserts it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "namespace.h"

struct dpos { /* where a name is, or would go */
	struct buf *bucket;
	uint64_t bucket_no;
	uint32_t off; /* byte offset of the entry (or insertion point) after the header */
	bool found;   /* an entry with this key exists at off */
};

static uint32_t bucket_cap(const struct fs *fs)
{
	return fs->bsize - (uint32_t)sizeof(struct ef_dir_bucket);
}

static uint32_t dirent_size(const struct ef_dirent *de)
{
	return (uint32_t)sizeof(*de) + de->name_len;
}

/* Read directory block lblk; kind is checked. */
static int dblock(struct inode *dp, uint64_t lblk, uint32_t kind, struct buf **out)
{
	struct fs *fs = dp->fs;
	struct ef_extent e;
	int r = extent_map(dp, lblk, &e);
	if (r < 0)
		return r;
	if (!e.pblk)
		return -EUCLEAN; /* a directory block that should exist is a hole */
	uint64_t pblk = e.pblk + (lblk - e.lblk);
	if ((r = nbread(fs, pblk, EF_MAGIC_DIR, out)) < 0)
		return r;
	uint32_t k;
	memcpy(&k, (*out)->data + sizeof(struct ef_blkhdr), sizeof(k));
	if (k != kind) {
		brelse(*out);
		return -EUCLEAN;
	}
	return 0;
}

/* Allocate directory block lblk (a hole), initialised with kind; returned held. */
static int dnewblock(struct tx *tx, struct inode *dp, uint64_t lblk, uint32_t kind,
		     struct buf **out)
{
	struct fs *fs = dp->fs;
	uint64_t pblk;
	uint32_t got;
	int r = extent_balloc(tx, dp, lblk, 1, &pblk, &got);
	if (r < 0)
		return r;
	if ((r = bread_new(fs->st->bcache, pblk, out)) < 0) {
		bfree(fs->st->alloc, tx, pblk, 1);
		return r;
	}
	memset((*out)->data, 0, fs->bsize);
	meta_seal((*out)->data, fs->bsize, EF_MAGIC_DIR, pblk);
	memcpy((*out)->data + sizeof(struct ef_blkhdr), &kind, sizeof(kind));
	if ((r = extent_insert(tx, dp, lblk, pblk, 1)) < 0) {
		brelse(*out);
		bfree(fs->st->alloc, tx, pblk, 1);
		return r;
	}
	dp->d.size = dp->d.blocks * fs->bsize;
	return 0;
}

static struct ef_dir_head *head_of(struct buf *b)
{
	return (struct ef_dir_head *)b->data;
}

static struct ef_dir_bucket *bucket_of(struct buf *b)
{
	return (struct ef_dir_bucket *)b->data;
}

static int read_head(struct inode *dp, struct buf **out)
{
	int r = dblock(dp, 0, EF_DIR_HEAD, out);
	if (r == 0 && head_of(*out)->global_depth > EF_DIR_MAX_DEPTH) {
		brelse(*out);
		return -EUCLEAN;
	}
	return r;
}

/* Table slot -> bucket number. */
static int table_get(struct inode *dp, uint64_t slot, uint64_t nbuckets, uint64_t *bucket)
{
	uint64_t per = EF_DIR_TABLE_PER_BLOCK(dp->fs->bsize);
	struct buf *b;
	int r = dblock(dp, 1 + slot / per, EF_DIR_TABLE, &b);
	if (r < 0)
		return r;
	uint32_t v;
	memcpy(&v, &((struct ef_dir_table *)b->data)->bucket[slot % per], sizeof(v));
	brelse(b);
	if (v >= nbuckets)
		return -EUCLEAN;
	*bucket = v;
	return 0;
}

/* A bucket's entries must be well formed before they are walked (fuzzed images). */
static int bucket_check(struct inode *dp, struct buf *b)
{
	struct ef_dir_bucket *bk = bucket_of(b);
	if (bk->used > bucket_cap(dp->fs) || bk->local_depth > EF_DIR_MAX_DEPTH)
		return -EUCLEAN;
	uint32_t off = 0, n = 0;
	uint8_t *p = b->data + sizeof(*bk);
	while (off < bk->used) {
		if (bk->used - off < sizeof(struct ef_dirent))
			return -EUCLEAN;
		struct ef_dirent *de = (struct ef_dirent *)(p + off);
		if (de->name_len == 0 || off + dirent_size(de) > bk->used)
			return -EUCLEAN;
		off += dirent_size(de);
		n++;
	}
	return n == bk->count ? 0 : -EUCLEAN;
}

static int read_bucket(struct inode *dp, uint64_t n, struct buf **out)
{
	int r = dblock(dp, EF_DIR_BUCKET_LBLK + n, EF_DIR_BUCKET, out);
	if (r == 0 && (r = bucket_check(dp, *out)) < 0)
		brelse(*out);
	return r;
}

static uint64_t slot_of(uint64_t key, uint32_t depth)
{
	return depth ? key >> (EF_DIR_KEY_BITS - depth) : 0;
}

/* Find key in its bucket. On success pos->bucket is held (caller brelse). */
static int dfind(struct inode *dp, uint32_t gdepth, uint64_t nbuckets, uint64_t key,
		 struct dpos *pos)
{
	uint64_t n;
	int r = table_get(dp, slot_of(key, gdepth), nbuckets, &n);
	if (r < 0)
		return r;
	if ((r = read_bucket(dp, n, &pos->bucket)) < 0)
		return r;
	pos->bucket_no = n;
	struct ef_dir_bucket *bk = bucket_of(pos->bucket);
	uint8_t *p = pos->bucket->data + sizeof(*bk);
	uint32_t off = 0;
	pos->found = false;
	while (off < bk->used) {
		struct ef_dirent *de = (struct ef_dirent *)(p + off);
		uint64_t k;
		memcpy(&k, &de->key, sizeof(k));
		if (k >= key) {
			pos->found = k == key;
			break;
		}
		off += dirent_size(de);
	}
	pos->off = off;
	return 0;
}

static struct ef_dirent *dent_at(struct dpos *pos)
{
	return (struct ef_dirent *)(pos->bucket->data + sizeof(struct ef_dir_bucket) + pos->off);
}

static bool same_name(const struct ef_dirent *de, const char *name, size_t len)
{
	return de->name_len == len && memcmp(de->name, name, len) == 0;
}

int dir_lookup(struct inode *dp, const char *name, size_t len, uint64_t *ino, uint8_t *type)
{
	ILOCKED(dp);
	struct buf *hb;
	int r = read_head(dp, &hb);
	if (r < 0)
		return r;
	struct ef_dir_head h = *head_of(hb);
	brelse(hb);
	struct dpos pos;
	if ((r = dfind(dp, h.global_depth, h.nbuckets, ef_dir_hash(name, (unsigned)len), &pos)) < 0)
		return r;
	r = -ENOENT;
	if (pos.found && same_name(dent_at(&pos), name, len)) {
		memcpy(ino, &dent_at(&pos)->ino, sizeof(*ino));
		*type = dent_at(&pos)->type;
		r = 0;
	}
	brelse(pos.bucket);
	return r;
}

int dir_init(struct tx *tx, struct inode *dp, uint64_t parent)
{
	ILOCKED_EXCL(dp);
	struct buf *hb, *tb, *bb;
	int r = dnewblock(tx, dp, 0, EF_DIR_HEAD, &hb);
	if (r < 0)
		return r;
	struct ef_dir_head *h = head_of(hb);
	h->global_depth = 0;
	h->parent = parent;
	h->nentries = 0;
	h->nbuckets = 1;
	tx_add(tx, hb);
	brelse(hb);
	if ((r = dnewblock(tx, dp, 1, EF_DIR_TABLE, &tb)) < 0)
		return r;
	((struct ef_dir_table *)tb->data)->bucket[0] = 0;
	tx_add(tx, tb);
	brelse(tb);
	if ((r = dnewblock(tx, dp, EF_DIR_BUCKET_LBLK, EF_DIR_BUCKET, &bb)) < 0)
		return r;
	tx_add(tx, bb);
	brelse(bb);
	return 0;
}

/* ---- growth: bucket splits and table doubling, each its own transaction ---- */

/* Double the table: slot i becomes slots 2i and 2i+1. */
static int table_double(struct inode *dp, struct buf *hb)
{
	struct fs *fs = dp->fs;
	struct ef_dir_head *h = head_of(hb);
	uint64_t per = EF_DIR_TABLE_PER_BLOCK(fs->bsize);
	uint64_t old = 1ull << h->global_depth;
	if (h->global_depth >= EF_DIR_MAX_DEPTH)
		return -ENOSPC;
	uint32_t *t = malloc(old * sizeof(*t));
	if (!t)
		return -ENOMEM;
	int r = 0;
	for (uint64_t i = 0; i < old && r == 0; i += per) {
		struct buf *b;
		if ((r = dblock(dp, 1 + i / per, EF_DIR_TABLE, &b)) < 0)
			break;
		uint64_t n = old - i < per ? old - i : per;
		memcpy(&t[i], ((struct ef_dir_table *)b->data)->bucket, n * sizeof(*t));
		brelse(b);
	}
	uint64_t nblocks = (2 * old + per - 1) / per;
	if (nblocks + 4 + 2 * extent_tx_blocks(dp) > fs->tx_max)
		r = -ENOSPC; /* the table would outgrow one transaction of this journal */
	struct tx *tx;
	if (r == 0 &&
	    (r = tx_begin(fs->st->journal, (uint32_t)(nblocks + 4 + 2 * extent_tx_blocks(dp)),
			  &tx)) == 0) {
		for (uint64_t blk = 0; blk < nblocks && r == 0; blk++) {
			struct buf *b;
			uint64_t oldblocks = (old + per - 1) / per;
			r = blk < oldblocks ? dblock(dp, 1 + blk, EF_DIR_TABLE, &b)
					    : dnewblock(tx, dp, 1 + blk, EF_DIR_TABLE, &b);
			if (r < 0)
				break;
			uint32_t *slots = (uint32_t *)(b->data + sizeof(struct ef_dir_table));
			for (uint64_t j = 0; j < per && blk * per + j < 2 * old; j++)
				slots[j] = t[(blk * per + j) / 2];
			tx_add(tx, b);
			brelse(b);
		}
		if (r == 0) {
			h->global_depth++;
			tx_add(tx, hb);
			r = iupdate(tx, dp);
		}
		int e = tx_end(tx);
		r = r < 0 ? r : e;
	}
	free(t);
	return r;
}

/* Split bucket n (local depth < global depth) in two by the next key bit. */
static int bucket_split(struct inode *dp, struct buf *hb, uint64_t n, struct buf *ob)
{
	struct fs *fs = dp->fs;
	struct ef_dir_head *h = head_of(hb);
	struct ef_dir_bucket *obk = bucket_of(ob);
	uint32_t L = obk->local_depth, G = h->global_depth;
	uint64_t per = EF_DIR_TABLE_PER_BLOCK(fs->bsize);
	uint64_t span = 1ull << (G - L); /* table slots pointing at bucket n */
	uint8_t *p = ob->data + sizeof(*obk);
	struct ef_dirent *first = (struct ef_dirent *)p;
	uint64_t k0 = 0;
	if (obk->count)
		memcpy(&k0, &first->key, sizeof(k0));
	else
		return -EUCLEAN;
	uint64_t start = slot_of(k0, G) & ~(span - 1);
	uint64_t nn = h->nbuckets;
	if (nn >= UINT32_MAX)
		return -ENOSPC;
	uint64_t nslot_blocks = span / 2 / per + 2;
	uint64_t need = nslot_blocks + 4 + extent_tx_blocks(dp);
	if (need > fs->tx_max)
		return -ENOSPC; /* more table blocks than one transaction of this journal holds */
	struct tx *tx;
	int r = tx_begin(fs->st->journal, (uint32_t)need, &tx);
	if (r < 0)
		return r;
	struct buf *nb;
	if ((r = dnewblock(tx, dp, EF_DIR_BUCKET_LBLK + nn, EF_DIR_BUCKET, &nb)) < 0)
		goto end;
	/* Entries are sorted by key, so those with the new bit set are a suffix. */
	struct ef_dir_bucket *nbk = bucket_of(nb);
	uint64_t bit = 1ull << (EF_DIR_KEY_BITS - 1 - L);
	uint32_t off = 0, cnt = 0;
	while (off < obk->used) {
		struct ef_dirent *de = (struct ef_dirent *)(p + off);
		uint64_t k;
		memcpy(&k, &de->key, sizeof(k));
		if (k & bit)
			break;
		off += dirent_size(de);
		cnt++;
	}
	memcpy(nb->data + sizeof(*nbk), p + off, obk->used - off);
	nbk->used = obk->used - off;
	nbk->count = (uint16_t)(obk->count - cnt);
	nbk->local_depth = (uint16_t)(L + 1);
	memset(p + off, 0, obk->used - off);
	obk->used = off;
	obk->count = (uint16_t)cnt;
	obk->local_depth = (uint16_t)(L + 1);
	tx_add(tx, nb);
	brelse(nb);
	tx_add(tx, ob);
	/* The upper half of the slots now point at the new bucket. */
	for (uint64_t s = start + span / 2, end = start + span; s < end && r == 0;) {
		struct buf *tb;
		if ((r = dblock(dp, 1 + s / per, EF_DIR_TABLE, &tb)) < 0)
			break;
		uint32_t *slots = (uint32_t *)(tb->data + sizeof(struct ef_dir_table));
		uint64_t blkend = (s / per + 1) * per < end ? (s / per + 1) * per : end;
		for (; s < blkend; s++)
			slots[s % per] = (uint32_t)nn;
		tx_add(tx, tb);
		brelse(tb);
	}
	if (r == 0) {
		h->nbuckets = nn + 1;
		tx_add(tx, hb);
		r = iupdate(tx, dp);
	}
end:;
	int e = tx_end(tx);
	return r < 0 ? r : e;
}

int dir_prepare(struct inode *dp, const char *name, size_t len)
{
	ILOCKED_EXCL(dp);
	uint64_t key = ef_dir_hash(name, (unsigned)len);
	uint32_t need = (uint32_t)(sizeof(struct ef_dirent) + len);
	for (int tries = 0; tries < 2 * EF_DIR_MAX_DEPTH + 4; tries++) {
		struct buf *hb;
		int r = read_head(dp, &hb);
		if (r < 0)
			return r;
		struct ef_dir_head *h = head_of(hb);
		struct dpos pos;
		if ((r = dfind(dp, h->global_depth, h->nbuckets, key, &pos)) < 0) {
			brelse(hb);
			return r;
		}
		struct ef_dir_bucket *bk = bucket_of(pos.bucket);
		if (pos.found || bk->used + need <= bucket_cap(dp->fs)) {
			/* dir_add reports the existing name */
			brelse(pos.bucket);
			brelse(hb);
			return 0;
		}
		if (bk->local_depth == h->global_depth) {
			brelse(pos.bucket);
			r = table_double(dp, hb);
		} else {
			r = bucket_split(dp, hb, pos.bucket_no, pos.bucket);
			brelse(pos.bucket);
		}
		brelse(hb);
		if (r < 0)
			return r;
	}
	return -ENOSPC;
}

/* ---- changes inside the caller's transaction ------------------------------- */

int dir_add(struct tx *tx, struct inode *dp, const char *name, size_t len, uint64_t ino,
	    uint8_t type)
{
	ILOCKED_EXCL(dp);
	struct buf *hb;
	int r = read_head(dp, &hb);
	if (r < 0)
		return r;
	struct ef_dir_head *h = head_of(hb);
	uint64_t key = ef_dir_hash(name, (unsigned)len);
	struct dpos pos;
	if ((r = dfind(dp, h->global_depth, h->nbuckets, key, &pos)) < 0) {
		brelse(hb);
		return r;
	}
	struct ef_dir_bucket *bk = bucket_of(pos.bucket);
	uint32_t need = (uint32_t)(sizeof(struct ef_dirent) + len);
	if (pos.found)
		r = -EEXIST; /* the name, or (about never) another name with its key */
	else if (bk->used + need > bucket_cap(dp->fs))
		r = -ENOSPC; /* dir_prepare was not called */
	if (r == 0) {
		uint8_t *p = pos.bucket->data + sizeof(*bk);
		memmove(p + pos.off + need, p + pos.off, bk->used - pos.off);
		struct ef_dirent *de = (struct ef_dirent *)(p + pos.off);
		memcpy(&de->key, &key, sizeof(key));
		memcpy(&de->ino, &ino, sizeof(ino));
		de->name_len = (uint8_t)len;
		de->type = type;
		memcpy(de->name, name, len);
		bk->used += need;
		bk->count++;
		tx_add(tx, pos.bucket);
		h->nentries++;
		tx_add(tx, hb);
	}
	brelse(pos.bucket);
	brelse(hb);
	return r;
}

/* Find name for a change; on success both buffers are held. */
static int dfind_name(struct inode *dp, const char *name, size_t len, struct buf **hb,
		      struct dpos *pos)
{
	int r = read_head(dp, hb);
	if (r < 0)
		return r;
	struct ef_dir_head *h = head_of(*hb);
	if ((r = dfind(dp, h->global_depth, h->nbuckets, ef_dir_hash(name, (unsigned)len), pos)) <
	    0) {
		brelse(*hb);
		return r;
	}
	if (!pos->found || !same_name(dent_at(pos), name, len)) {
		brelse(pos->bucket);
		brelse(*hb);
		return -ENOENT;
	}
	return 0;
}

int dir_remove(struct tx *tx, struct inode *dp, const char *name, size_t len)
{
	ILOCKED_EXCL(dp);
	struct buf *hb;
	struct dpos pos;
	int r = dfind_name(dp, name, len, &hb, &pos);
	if (r < 0)
		return r;
	struct ef_dir_bucket *bk = bucket_of(pos.bucket);
	uint8_t *p = pos.bucket->data + sizeof(*bk);
	uint32_t sz = dirent_size(dent_at(&pos));
	memmove(p + pos.off, p + pos.off + sz, bk->used - pos.off - sz);
	memset(p + bk->used - sz, 0, sz);
	bk->used -= sz;
	bk->count--;
	tx_add(tx, pos.bucket);
	head_of(hb)->nentries--;
	tx_add(tx, hb);
	brelse(pos.bucket);
	brelse(hb);
	return 0;
}

int dir_replace(struct tx *tx, struct inode *dp, const char *name, size_t len, uint64_t ino,
		uint8_t type)
{
	ILOCKED_EXCL(dp);
	struct buf *hb;
	struct dpos pos;
	int r = dfind_name(dp, name, len, &hb, &pos);
	if (r < 0)
		return r;
	struct ef_dirent *de = dent_at(&pos);
	memcpy(&de->ino, &ino, sizeof(ino));
	de->type = type;
	tx_add(tx, pos.bucket);
	brelse(pos.bucket);
	brelse(hb);
	return 0;
}

int dir_parent(struct inode *dp, uint64_t *parent)
{
	ILOCKED(dp);
	struct buf *hb;
	int r = read_head(dp, &hb);
	if (r < 0)
		return r;
	*parent = head_of(hb)->parent;
	brelse(hb);
	return 0;
}

int dir_set_parent(struct tx *tx, struct inode *dp, uint64_t parent)
{
	ILOCKED_EXCL(dp);
	struct buf *hb;
	int r = read_head(dp, &hb);
	if (r < 0)
		return r;
	head_of(hb)->parent = parent;
	tx_add(tx, hb);
	brelse(hb);
	return 0;
}

int dir_count(struct inode *dp, uint64_t *nentries)
{
	ILOCKED(dp);
	struct buf *hb;
	int r = read_head(dp, &hb);
	if (r < 0)
		return r;
	*nentries = head_of(hb)->nentries;
	brelse(hb);
	return 0;
}

int dir_iterate(struct inode *dp, uint64_t from_key, dir_iter_fn cb, void *arg)
{
	ILOCKED(dp);
	struct fs *fs = dp->fs;
	struct buf *hb;
	int r = read_head(dp, &hb);
	if (r < 0)
		return r;
	struct ef_dir_head h = *head_of(hb);
	brelse(hb);
	if (from_key >= (1ull << EF_DIR_KEY_BITS))
		return 0;
	uint8_t *copy = malloc(fs->bsize);
	if (!copy)
		return -ENOMEM;
	uint64_t nslots = 1ull << h.global_depth;
	uint64_t slot = slot_of(from_key, h.global_depth);
	while (slot < nslots && r == 0) {
		uint64_t n;
		struct buf *b;
		if ((r = table_get(dp, slot, h.nbuckets, &n)) < 0 ||
		    (r = read_bucket(dp, n, &b)) < 0)
			break;
		/* Call back on a copy: the callback may read other blocks. */
		memcpy(copy, b->data, fs->bsize);
		brelse(b);
		struct ef_dir_bucket *bk = (struct ef_dir_bucket *)copy;
		if (bk->local_depth > h.global_depth) {
			r = -EUCLEAN;
			break;
		}
		uint8_t *p = copy + sizeof(*bk);
		for (uint32_t off = 0; off < bk->used && r == 0;) {
			struct ef_dirent *de = (struct ef_dirent *)(p + off);
			uint64_t k, ino;
			memcpy(&k, &de->key, sizeof(k));
			memcpy(&ino, &de->ino, sizeof(ino));
			if (k >= from_key)
				r = cb(arg, de->name, de->name_len, ino, de->type, k);
			off += dirent_size(de);
		}
		uint64_t span = 1ull << (h.global_depth - bk->local_depth);
		slot = (slot & ~(span - 1)) + span;
	}
	free(copy);
	return r;
}
