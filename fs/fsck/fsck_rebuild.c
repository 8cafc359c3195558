/*
 * fsck_rebuild.c: writing directories anew (repair). Layer: the checker;
 * reads and writes through the image view, allocates from what passes 2-3
 * left unclaimed.
 *
 * A directory whose head, table or index cannot be trusted is rebuilt from
 * the entries of its bucket blocks that still verify (e2fsck salvages a
 * damaged directory block the same way, and rebuilds htree indexes); the
 * root and /lost+found are made with it when missing, and /lost+found grows
 * with it when a reconnected name does not fit its bucket. The new
 * directory has every bucket at the global depth (the smallest that fits
 * the entries), the head and table in one run of blocks and the buckets in
 * as few runs as free space allows, all mapped from the inode (no extent
 * blocks): the daemon's directory code takes it as any other.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsck_int.h"

int fsck_dents_add(struct fsck *f, struct fsck_dents *l, const char *name, size_t len, uint64_t ino,
		   uint8_t type)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 32;
		struct fsck_dent *v = realloc(l->v, ncap * sizeof(*v));
		if (!v)
			return fsck_fail(f, -ENOMEM, "out of memory");
		l->v = v;
		l->cap = ncap;
	}
	struct fsck_dent *e = &l->v[l->n++];
	e->key = ef_dir_hash(name, (unsigned)len);
	e->ino = ino;
	e->type = type;
	e->len = (uint8_t)len;
	memcpy(e->name, name, len);
	return 0;
}

int fsck_balloc(struct fsck *f, uint64_t n, uint64_t lblk, struct ef_extent *ext, int max_runs)
{
	const struct ef_super *s = &f->sb;
	uint64_t lo = s->data_start, hi = s->nblocks - 1; /* the backup superblock is not data */
	/* One run if there is one, else the first runs that add up. */
	for (int pass = 0; pass < 2; pass++) {
		int runs = 0;
		uint64_t got = 0;
		for (uint64_t b = lo; b < hi && got < n;) {
			if (bit_test(f->breach, b)) {
				b++;
				continue;
			}
			uint64_t e = b;
			while (e < hi && !bit_test(f->breach, e) && e - b < n - got &&
			       e - b < UINT32_MAX)
				e++;
			if (pass == 0 && e - b < n) {
				b = e;
				continue;
			}
			if (runs == max_runs)
				break;
			ext[runs++] = (struct ef_extent){
			    .lblk = lblk + got, .pblk = b, .len = (uint32_t)(e - b)};
			got += e - b;
			b = e;
		}
		if (got == n) {
			f->allocated = true;
			for (int i = 0; i < runs; i++) {
				fsck_claim(f, ext[i].pblk, ext[i].len);
				for (uint64_t k = 0; k < ext[i].len; k++)
					bit_set(f->breleased, ext[i].pblk + k);
			}
			return runs;
		}
	}
	return -ENOSPC;
}

uint64_t fsck_ialloc(struct fsck *f)
{
	for (uint64_t ino = EF_ROOT_INO + 1; ino <= f->sb.ninodes; ino++) {
		uint16_t st = f->istate[ino];
		if (!(st & (IS_USED | IS_ORPHAN)) && (!(st & IS_BAD) || (st & IS_CLEARED)))
			return ino;
	}
	return 0;
}

int fsck_inew(struct fsck *f, uint64_t ino, uint32_t mode, struct ef_inode *in)
{
	if (fsck_iread(f, ino, in) < 0)
		return f->op_err;
	f->istate[ino] |= IS_MADE;
	f->allocated = true;
	uint32_t gen = in->generation + 1;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct ef_time t = {.sec = now.tv_sec, .nsec = (uint32_t)now.tv_nsec};
	memset(in, 0, sizeof(*in));
	in->mode = mode;
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	in->atime = in->mtime = in->ctime = in->crtime = t;
	in->generation = gen;
	in->u.map.hdr =
	    (struct ef_extent_hdr){.magic = EF_EXTENT_HDR_MAGIC, .max = EF_INODE_EXTENTS};
	return 0;
}

static bool name_ok(const char *name, size_t len)
{
	return len && !memchr(name, '/', len) && !memchr(name, 0, len) &&
	       !(len <= 2 && !memcmp(name, "..", len));
}

/* Adds the well-formed entries of one bucket block (verified) to l. */
static int salvage_bucket(struct fsck *f, const uint8_t *blk, struct fsck_dents *l)
{
	struct ef_dir_bucket bh;
	memcpy(&bh, blk, sizeof(bh));
	if (bh.kind != EF_DIR_BUCKET || bh.used > f->bs - sizeof(bh))
		return 0;
	const uint8_t *p = blk + sizeof(bh);
	for (size_t off = 0; off + sizeof(struct ef_dirent) <= bh.used && !f->op_err;) {
		struct ef_dirent e;
		memcpy(&e, p + off, sizeof(e));
		size_t len = sizeof(e) + e.name_len;
		if (e.name_len == 0 || len > bh.used - off)
			break; /* nothing after a bad length parses */
		const char *name = (const char *)p + off + sizeof(e);
		if (name_ok(name, e.name_len) && e.key == ef_dir_hash(name, e.name_len) && e.ino &&
		    e.ino <= f->sb.ninodes)
			fsck_dents_add(f, l, name, e.name_len, e.ino, e.type);
		off += len;
	}
	return f->op_err;
}

int fsck_dir_salvage(struct fsck *f, uint64_t ino, struct fsck_dents *l)
{
	struct ef_inode in;
	if (fsck_iread(f, ino, &in) < 0)
		return f->op_err;
	if (!S_ISDIR(in.mode))
		return 0;
	struct fsck_map m = {0};
	struct fsck_walk w = {.how = WALK_MAP, .map = &m};
	uint8_t *blk = malloc(f->bs);
	if (!blk)
		return fsck_fail(f, -ENOMEM, "out of memory");
	if (fsck_extents(f, ino, &in, &w) == 0) {
		for (size_t i = 0; i < m.n && !f->op_err; i++) {
			const struct ef_extent *x = &m.ext[i];
			for (uint64_t k = 0; k < x->len && !f->op_err; k++) {
				uint64_t pblk = x->pblk + k;
				if (x->lblk + k < EF_DIR_BUCKET_LBLK)
					continue;
				if (img_read(&f->im, pblk, blk) < 0 ||
				    meta_verify(blk, f->bs, EF_MAGIC_DIR, pblk) < 0)
					continue;
				salvage_bucket(f, blk, l);
			}
		}
	}
	free(blk);
	free(m.ext);
	return f->op_err;
}

static int by_key(const void *a, const void *b)
{
	const struct fsck_dent *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

static uint64_t bucket_of_key(uint64_t key, uint32_t gd)
{
	return gd ? key >> (EF_DIR_KEY_BITS - gd) : 0;
}

/* The smallest global depth from min at which every bucket holds its entries. */
static int depth_for(const struct fsck *f, const struct fsck_dents *l, uint32_t min, uint32_t *gd)
{
	const uint64_t cap = f->bs - sizeof(struct ef_dir_bucket);
	for (uint32_t d = min; d <= EF_DIR_MAX_DEPTH; d++) {
		bool fits = true;
		uint64_t cur = UINT64_MAX, used = 0;
		for (size_t i = 0; i < l->n && fits; i++) {
			uint64_t b = bucket_of_key(l->v[i].key, d);
			if (b != cur)
				cur = b, used = 0;
			used += sizeof(struct ef_dirent) + l->v[i].len;
			fits = used <= cap;
		}
		if (fits) {
			*gd = d;
			return 0;
		}
	}
	return -ENOSPC;
}

static uint64_t pblk_of(const struct ef_extent *ext, int n, uint64_t lblk)
{
	for (int i = 0; i < n; i++)
		if (lblk >= ext[i].lblk && lblk - ext[i].lblk < ext[i].len)
			return ext[i].pblk + (lblk - ext[i].lblk);
	return 0;
}

static int write_dir_block(struct fsck *f, uint8_t *blk, uint64_t pblk)
{
	meta_seal(blk, f->bs, EF_MAGIC_DIR, pblk);
	int rc = img_write(&f->im, pblk, blk);
	return rc < 0 ? fsck_fail(f, rc, "writing directory block %" PRIu64, pblk) : 0;
}

int fsck_dir_build(struct fsck *f, uint64_t ino, struct ef_inode *in, uint64_t parent,
		   struct fsck_dents *l, uint32_t min_depth)
{
	/* Sorted by key, one entry per key. */
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), by_key);
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		if (!n || l->v[i].key != l->v[n - 1].key)
			l->v[n++] = l->v[i];
	l->n = n;
	uint32_t gd;
	if (depth_for(f, l, min_depth, &gd) < 0)
		return -ENOSPC;
	const uint64_t nb = 1ull << gd, per = EF_DIR_TABLE_PER_BLOCK(f->bs);
	const uint64_t nt = (nb + per - 1) / per;
	struct ef_extent ext[EF_INODE_EXTENTS];
	int ra = fsck_balloc(f, 1 + nt, 0, ext, 1);
	if (ra < 0)
		return -ENOSPC;
	int rb = fsck_balloc(f, nb, EF_DIR_BUCKET_LBLK, ext + ra, EF_INODE_EXTENTS - ra);
	if (rb < 0) {
		fsck_unclaim(f, ext[0].pblk, ext[0].len);
		return -ENOSPC;
	}
	int nruns = ra + rb;
	uint8_t *blk = malloc(f->bs);
	if (!blk)
		return fsck_fail(f, -ENOMEM, "out of memory");

	memset(blk, 0, f->bs);
	struct ef_dir_head h = {.kind = EF_DIR_HEAD,
				.global_depth = gd,
				.parent = parent,
				.nentries = l->n,
				.nbuckets = nb};
	memcpy(blk, &h, sizeof(h));
	write_dir_block(f, blk, pblk_of(ext, nruns, 0));
	for (uint64_t t = 0; t < nt && !f->op_err; t++) {
		memset(blk, 0, f->bs);
		struct ef_dir_table tb = {.kind = EF_DIR_TABLE};
		memcpy(blk, &tb, sizeof(tb));
		for (uint64_t j = 0; j < per && t * per + j < nb; j++) {
			uint32_t b = (uint32_t)(t * per + j);
			memcpy(blk + sizeof(tb) + j * sizeof(b), &b, sizeof(b));
		}
		write_dir_block(f, blk, pblk_of(ext, nruns, 1 + t));
	}
	size_t i = 0;
	for (uint64_t b = 0; b < nb && !f->op_err; b++) {
		memset(blk, 0, f->bs);
		struct ef_dir_bucket bh = {.kind = EF_DIR_BUCKET, .local_depth = (uint16_t)gd};
		for (; i < l->n && bucket_of_key(l->v[i].key, gd) == b; i++) {
			const struct fsck_dent *e = &l->v[i];
			struct ef_dirent de = {
			    .key = e->key, .ino = e->ino, .name_len = e->len, .type = e->type};
			uint8_t *p = blk + sizeof(bh) + bh.used;
			memcpy(p, &de, sizeof(de));
			memcpy(p + sizeof(de), e->name, e->len);
			bh.used += (uint32_t)(sizeof(de) + e->len);
			bh.count++;
		}
		memcpy(blk, &bh, sizeof(bh));
		write_dir_block(f, blk, pblk_of(ext, nruns, EF_DIR_BUCKET_LBLK + b));
	}
	free(blk);
	if (f->op_err)
		return f->op_err;

	memset(&in->u, 0, sizeof(in->u));
	in->u.map.hdr = (struct ef_extent_hdr){
	    .magic = EF_EXTENT_HDR_MAGIC, .count = (uint16_t)nruns, .max = EF_INODE_EXTENTS};
	memcpy(in->u.map.ext, ext, (size_t)nruns * sizeof(ext[0]));
	in->blocks = 1 + nt + nb + (in->xattr_block && (f->istate[ino] & IS_XATTR) ? 1 : 0);
	in->size = in->blocks * f->bs;
	f->istate[ino] =
	    (uint16_t)((f->istate[ino] & ~(IS_BAD | IS_CLEARED)) | IS_USED | IS_DIR | IS_DIR_OK);
	return fsck_iwrite(f, ino, in);
}

/* Gives back the blocks ino's tree maps (before a rebuild), or claims them again. */
static void give_back(struct fsck *f, uint64_t ino, struct ef_inode *in, bool back)
{
	struct fsck_walk w = {.how = back ? WALK_UNCLAIM : WALK_MAP,
			      .release = back ? NULL : f->breach};
	fsck_extents(f, ino, in, &w);
}

int fsck_dir_rebuild(struct fsck *f, uint64_t ino, uint64_t parent, size_t *kept)
{
	struct fsck_dents l = {0};
	struct ef_inode in;
	*kept = 0;
	int rc = fsck_dir_salvage(f, ino, &l);
	if (rc == 0 && (rc = fsck_iread(f, ino, &in)) == 0) {
		give_back(f, ino, &in, true);
		rc = fsck_dir_build(f, ino, &in, parent, &l, 0);
		if (rc == -ENOSPC)
			give_back(f, ino, &in, false);
		*kept = l.n;
	}
	free(l.v);
	return rc;
}

static int collect(struct fsck *f, void *arg, struct fsck_dir *d, struct ef_dirent *e,
		   const char *name)
{
	(void)d;
	fsck_dents_add(f, arg, name, e->name_len, e->ino, e->type);
	return DIRENT_KEEP;
}

int fsck_dir_add(struct fsck *f, uint64_t dino, const char *name, uint64_t ino, uint8_t type)
{
	int rc = fsck_dir_insert(f, dino, name, ino, type);
	if (rc != -ENOSPC)
		return rc;
	/* Its bucket is full: the directory again, twice the buckets, the name in. */
	struct fsck_dir d;
	const char *why;
	struct fsck_dents l = {0};
	if ((rc = fsck_dir_open(f, dino, &d, &why)) == 0 &&
	    fsck_dir_walk(f, &d, false, collect, &l) >= 0 &&
	    fsck_dents_add(f, &l, name, strlen(name), ino, type) == 0) {
		give_back(f, dino, &d.in, true);
		rc = fsck_dir_build(f, dino, &d.in, d.head.parent, &l, d.head.global_depth + 1);
		if (rc == -ENOSPC)
			give_back(f, dino, &d.in, false);
	} else if (rc == 0 || rc == 1) {
		rc = f->op_err ? f->op_err : -EUCLEAN;
	}
	fsck_dir_close(&d);
	free(l.v);
	return rc;
}
