/*
 * fsck_dir.c: pass 3, directories (format: layout.h, extendible hashing:
 * head at logical block 0, the table after it, bucket n at logical block
 * EF_DIR_BUCKET_LBLK + n). Layer: the checker; reads directory blocks
 * through the image view, mapping them with the extent walker.
 *
 * One walker (dir_walk) visits every bucket in table order and every entry
 * in key order; pass 3 uses it to check and repair, pass 4 (fsck_links.c)
 * to follow the tree. What is checked: the head and table blocks (header,
 * kind, depth), the hash index (every slot names an existing bucket; a
 * bucket of local depth L fills exactly its aligned run of 2^(gd-L) slots
 * and no other), each bucket (header, entries that parse, keys sorted and
 * unique, each key the hash of its name and carrying the bucket's prefix),
 * each entry (name, inode number in range and in use, type), the head's
 * entry count.
 *
 * Repair policy: a bad entry is removed from its bucket; a bucket block
 * that does not verify is rewritten empty with the depth the table implies;
 * a head or table that does not verify, or an index that is not a valid
 * extendible hash, makes the directory unusable as it is: it is rebuilt
 * from the entries its bucket blocks still hold (fsck_rebuild.c), or
 * cleared when there is no room for that. A root that is not a directory
 * is made anew, empty; pass 4 reconnects what it named into /lost+found.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsck_int.h"

static int load_block(struct fsck *f, struct fsck_dir *d, uint64_t lblk, uint8_t *blk,
		      uint64_t *pblk)
{
	const struct ef_extent *x = fsck_map_find(&d->map, lblk);
	if (!x)
		return -ENOENT;
	*pblk = x->pblk + (lblk - x->lblk);
	if (img_read(&f->im, *pblk, blk) < 0)
		return -EIO;
	return meta_verify(blk, f->bs, EF_MAGIC_DIR, *pblk);
}

void fsck_dir_close(struct fsck_dir *d)
{
	free(d->map.ext);
	free(d->slot);
	free(d->blk);
	memset(d, 0, sizeof(*d));
}

/* Loads directory ino's map, head and table. 0, 1 when unusable (why), < 0 op error. */
int fsck_dir_open(struct fsck *f, uint64_t ino, struct fsck_dir *d, const char **why)
{
	memset(d, 0, sizeof(*d));
	d->ino = ino;
	d->blk = malloc(f->bs);
	if (!d->blk || fsck_iread(f, ino, &d->in) < 0)
		return fsck_fail(f, -ENOMEM, "out of memory");
	struct fsck_walk w = {.how = WALK_MAP, .map = &d->map};
	if (fsck_extents(f, ino, &d->in, &w) < 0)
		return f->op_err;
	uint64_t pblk = 0;
	int rc = load_block(f, d, 0, d->blk, &pblk);
	memcpy(&d->head, d->blk, sizeof(d->head));
	d->head_pblk = pblk;
	if (rc < 0 || d->head.kind != EF_DIR_HEAD || d->head.global_depth > EF_DIR_MAX_DEPTH ||
	    d->head.nbuckets == 0 || d->head.nbuckets > (1ull << d->head.global_depth)) {
		*why = rc == -ENOENT ? "no head block" : "head block does not verify";
		return 1;
	}
	d->nslots = 1ull << d->head.global_depth;
	uint64_t per = EF_DIR_TABLE_PER_BLOCK(f->bs), nt = (d->nslots + per - 1) / per;
	for (uint64_t t = 0; t < nt; t++) /* all there before a big allocation */
		if (!fsck_map_find(&d->map, 1 + t)) {
			*why = "table block missing";
			return 1;
		}
	d->slot = malloc(d->nslots * sizeof(*d->slot));
	if (!d->slot)
		return fsck_fail(f, -ENOMEM, "out of memory");
	for (uint64_t t = 0; t < nt; t++) {
		struct ef_dir_table tb;
		if (load_block(f, d, 1 + t, d->blk, &pblk) < 0 ||
		    (memcpy(&tb, d->blk, sizeof(tb)), tb.kind != EF_DIR_TABLE)) {
			*why = "table block does not verify";
			return 1;
		}
		uint64_t n = d->nslots - t * per < per ? d->nslots - t * per : per;
		memcpy(d->slot + t * per, d->blk + sizeof(tb), n * sizeof(*d->slot));
	}
	/* The index: aligned runs of 2^k slots, one run per bucket. */
	uint8_t *seen = calloc(d->head.nbuckets / 8 + 1, 1);
	if (!seen)
		return fsck_fail(f, -ENOMEM, "out of memory");
	for (uint64_t i = 0; i < d->nslots;) {
		uint32_t b = d->slot[i];
		uint64_t run = 1;
		while (i + run < d->nslots && d->slot[i + run] == b)
			run++;
		if (b >= d->head.nbuckets || (run & (run - 1)) || i % run || bit_test(seen, b)) {
			*why = "hash table slots inconsistent";
			d->hash_bad = true;
			free(seen);
			return 1;
		}
		if (!fsck_map_find(&d->map, EF_DIR_BUCKET_LBLK + b)) {
			*why = "a bucket the table names has no block";
			free(seen);
			return 1;
		}
		bit_set(seen, b);
		i += run;
	}
	free(seen);
	return 0;
}

static void drop_dirent(uint8_t *blk, struct ef_dir_bucket *bh, size_t off, size_t len)
{
	uint8_t *p = blk + sizeof(*bh);
	memmove(p + off, p + off + len, bh->used - off - len);
	memset(p + bh->used - len, 0, len);
	bh->used -= (uint32_t)len;
	bh->count--;
}

/*
 * Visits every bucket and entry of an opened directory. cb decides for each
 * well-formed entry (DIRENT_DROP removes it in repair, DIRENT_REWRITE writes
 * back the entry the callback corrected); malformed
 * entries are reported (when check) and removed (repair). Returns the
 * number of entries left in the directory, < 0 on an operational error.
 */
int64_t fsck_dir_walk(struct fsck *f, struct fsck_dir *d, bool check, fsck_dirent_fn cb, void *arg)
{
	bool fix = fsck_repair(f); /* pass 4 drops what its callback refuses */
	uint32_t gd = d->head.global_depth;
	int64_t kept = 0;
	uint8_t *seen = calloc(d->head.nbuckets / 8 + 1, 1);
	uint8_t *blk = malloc(f->bs);
	if (!seen || !blk) {
		free(seen);
		free(blk);
		return fsck_fail(f, -ENOMEM, "out of memory");
	}
	for (uint64_t i = 0; i < d->nslots && !f->op_err;) {
		uint32_t b = d->slot[i];
		uint64_t run = 1;
		while (i + run < d->nslots && d->slot[i + run] == b)
			run++;
		uint32_t L = gd - (uint32_t)__builtin_ctzll(run);
		uint64_t prefix = i >> (gd - L), slot0 = i;
		i += run;
		if (bit_test(seen, b))
			continue; /* fsck_dir_open refused such an index already */
		bit_set(seen, b);
		uint64_t pblk;
		struct ef_dir_bucket bh;
		int rc = load_block(f, d, EF_DIR_BUCKET_LBLK + b, blk, &pblk);
		memcpy(&bh, blk, sizeof(bh));
		bool dirty = false;
		if (rc == 0 && bh.kind == EF_DIR_BUCKET && bh.local_depth != L &&
		    bh.used <= f->bs - sizeof(bh)) {
			if (check)
				fsck_inote(f, d->ino, FP_DIR_HASH, fix,
					   "directory %" PRIu64
					   ": bucket %u has depth %u, table says %u",
					   d->ino, b, bh.local_depth, L);
			bh.local_depth = (uint16_t)L; /* entries not fitting it are dropped below */
			dirty = true;
		}
		if (rc < 0 || bh.kind != EF_DIR_BUCKET || bh.used > f->bs - sizeof(bh)) {
			bool can = rc != -ENOENT; /* a missing bucket has no block to rewrite */
			if (check)
				fsck_inote(f, d->ino, FP_DIR_BAD, fix && can,
					   "directory %" PRIu64 ": bucket %u (slot %" PRIu64
					   ") %s; its entries are lost",
					   d->ino, b, slot0,
					   rc == -ENOENT ? "missing" : "does not verify");
			if (!fix || !can)
				continue;
			memset(blk, 0, f->bs);
			bh = (struct ef_dir_bucket){.kind = EF_DIR_BUCKET,
						    .local_depth = (uint16_t)L};
			dirty = true;
		}
		/* The entries, in key order, each the hash of its name, with our prefix. */
		uint64_t prev_key = 0;
		uint32_t n = 0;
		for (size_t off = 0; off < bh.used && !f->op_err;) {
			struct ef_dirent e;
			const char *why = NULL;
			size_t left = bh.used - off, len = 0;
			uint8_t *p = blk + sizeof(bh) + off;
			if (left < sizeof(e)) {
				why = "truncated entry";
			} else {
				memcpy(&e, p, sizeof(e));
				len = sizeof(e) + e.name_len;
				const char *name = (const char *)p + sizeof(e);
				if (e.name_len == 0 || len > left)
					why = "entry overruns the bucket";
				else if (memchr(name, '/', e.name_len) ||
					 memchr(name, 0, e.name_len) ||
					 (e.name_len <= 2 && !memcmp(name, "..", e.name_len)))
					why = "impossible name";
				else if (e.key != ef_dir_hash(name, e.name_len))
					why = "key is not the hash of the name";
				else if (L && (e.key >> (EF_DIR_KEY_BITS - L)) != prefix)
					why = "entry in the wrong bucket";
				else if (n && e.key == prev_key)
					why = "duplicate name";
				else if (n && e.key < prev_key)
					why = "entries out of order";
			}
			if (!why) {
				int act = cb(f, arg, d, &e, (const char *)p + sizeof(e));
				if (act == DIRENT_REWRITE && fix) { /* the callback corrected e */
					memcpy(p, &e, sizeof(e));
					dirty = true;
				}
				if (act != DIRENT_DROP) {
					prev_key = e.key;
					n++;
					off += len;
					kept++;
					continue;
				}
				if (fix) {
					drop_dirent(blk, &bh, off, len);
					dirty = true;
				} else {
					off += len;
					n++, kept++; /* still there */
				}
				continue;
			}
			/* Malformed: the rest of the bucket cannot be parsed after a bad length. */
			bool unparsable = left < sizeof(e) || len > left || e.name_len == 0;
			if (check)
				fsck_inote(f, d->ino,
					   strcmp(why, "duplicate name") ? FP_DIR_BAD : FP_DIR_DUP,
					   fix, "directory %" PRIu64 ": bucket %u: %s", d->ino, b,
					   why);
			if (unparsable) {
				if (fix) { /* keep what parsed */
					memset(blk + sizeof(bh) + off, 0, left);
					bh.used = (uint32_t)off;
					bh.count = (uint16_t)n;
					dirty = true;
				}
				break;
			}
			if (fix) {
				drop_dirent(blk, &bh, off, len);
				dirty = true;
			} else {
				off += len;
				n++, kept++; /* still there */
			}
		}
		if (bh.count != n && !f->op_err) {
			if (check)
				fsck_inote(f, d->ino, FP_DIR_BAD, fix,
					   "directory %" PRIu64
					   ": bucket %u counts %u entries, holds %u",
					   d->ino, b, bh.count, n);
			if (fix) {
				bh.count = (uint16_t)n;
				dirty = true;
			}
		}
		if (dirty && fix) {
			memcpy(blk, &bh, sizeof(bh));
			meta_seal(blk, f->bs, EF_MAGIC_DIR, pblk);
			if ((rc = img_write(&f->im, pblk, blk)) < 0)
				fsck_fail(f, rc, "writing directory block %" PRIu64, pblk);
		}
	}
	free(seen);
	free(blk);
	return f->op_err ? f->op_err : kept;
}

/* Rewrites the head (repair): its parent and entry count. */
int fsck_dir_write_head(struct fsck *f, struct fsck_dir *d)
{
	uint8_t *blk = d->blk;
	int rc = img_read(&f->im, d->head_pblk, blk);
	if (rc == 0) {
		memcpy(blk, &d->head, sizeof(d->head));
		meta_seal(blk, f->bs, EF_MAGIC_DIR, d->head_pblk);
		rc = img_write(&f->im, d->head_pblk, blk);
	}
	if (rc < 0)
		return fsck_fail(f, rc, "writing directory %" PRIu64 "'s head", d->ino);
	return 0;
}

unsigned fsck_dt_of(uint32_t mode)
{
	return (mode & S_IFMT) >> 12; /* DT_* == S_IFMT >> 12 on Linux */
}

/* Pass 3's verdict on one entry: the inode it names must exist and be in use. */
static int check_entry(struct fsck *f, void *arg, struct fsck_dir *d, struct ef_dirent *e,
		       const char *name)
{
	const char *why = NULL;
	if (e->ino == 0 || e->ino > f->sb.ninodes)
		why = "inode number out of range";
	else if (e->ino == EF_ROOT_INO)
		why = "names the root";
	else if (f->istate[e->ino] & IS_BAD)
		why = "names a cleared inode";
	else if (!(f->istate[e->ino] & IS_USED))
		why = "names a free inode";
	if (why) {
		fsck_inote(f, e->ino, FP_DIR_ENTRY, fsck_repair(f),
			   "directory %" PRIu64 ": entry '%.*s' -> %" PRIu64 ": %s; removed",
			   d->ino, e->name_len, name, e->ino, why);
		return DIRENT_DROP;
	}
	struct ef_inode in;
	if (fsck_iread(f, e->ino, &in) < 0)
		return DIRENT_KEEP;
	if (e->type != fsck_dt_of(in.mode)) {
		fsck_inote(f, e->ino, FP_DIR_ENTRY, fsck_repair(f),
			   "directory %" PRIu64 ": entry '%.*s' has type %u, inode is %u", d->ino,
			   e->name_len, name, e->type, fsck_dt_of(in.mode));
		e->type = (uint8_t)fsck_dt_of(in.mode); /* the inode is the authority */
		f->istate[e->ino] |= IS_NAMED;
		return DIRENT_REWRITE;
	}
	f->istate[e->ino] |= IS_NAMED;
	return DIRENT_KEEP;
}

int fsck_dir_insert(struct fsck *f, uint64_t dino, const char *name, uint64_t ino, uint8_t type)
{
	struct fsck_dir d;
	const char *why;
	size_t len = strlen(name);
	int rc = fsck_dir_open(f, dino, &d, &why);
	if (rc != 0) {
		fsck_dir_close(&d);
		return rc < 0 ? rc : -EUCLEAN;
	}
	uint64_t key = ef_dir_hash(name, (unsigned)len), pblk;
	uint32_t gd = d.head.global_depth;
	uint32_t b = d.slot[gd ? key >> (EF_DIR_KEY_BITS - gd) : 0];
	uint8_t *blk = malloc(f->bs);
	if (!blk) {
		fsck_dir_close(&d);
		return fsck_fail(f, -ENOMEM, "out of memory");
	}
	struct ef_dir_bucket bh;
	rc = load_block(f, &d, EF_DIR_BUCKET_LBLK + b, blk, &pblk) < 0 ? -EUCLEAN : 0;
	memcpy(&bh, blk, sizeof(bh));
	size_t need = sizeof(struct ef_dirent) + len;
	if (rc == 0 && (bh.kind != EF_DIR_BUCKET || bh.used > f->bs - sizeof(bh)))
		rc = -EUCLEAN;
	if (rc == 0 && bh.used + need > f->bs - sizeof(bh))
		rc = -ENOSPC;
	/* Entries stay sorted by key: find the place. */
	size_t off = 0;
	while (rc == 0 && off < bh.used) {
		struct ef_dirent e;
		memcpy(&e, blk + sizeof(bh) + off, sizeof(e));
		if (e.key == key)
			rc = -EEXIST;
		if (e.key >= key)
			break;
		off += sizeof(e) + e.name_len;
	}
	if (rc == 0) {
		uint8_t *p = blk + sizeof(bh) + off;
		memmove(p + need, p, bh.used - off);
		struct ef_dirent e = {
		    .key = key, .ino = ino, .name_len = (uint8_t)len, .type = type};
		memcpy(p, &e, sizeof(e));
		memcpy(p + sizeof(e), name, len);
		bh.used += (uint32_t)need;
		bh.count++;
		memcpy(blk, &bh, sizeof(bh));
		meta_seal(blk, f->bs, EF_MAGIC_DIR, pblk);
		if ((rc = img_write(&f->im, pblk, blk)) < 0)
			fsck_fail(f, rc, "writing directory block %" PRIu64, pblk);
		d.head.nentries++;
		if (rc == 0)
			rc = fsck_dir_write_head(f, &d);
	}
	free(blk);
	fsck_dir_close(&d);
	return rc;
}

/* Pre: d was opened; the verdict on its structure. An unusable directory
   is rebuilt from what its buckets still hold (repair); cleared when there
   is no room for that, unless it is the root. */
static void judge_open(struct fsck *f, uint64_t ino, int rc, const struct fsck_dir *d,
		       const char *why)
{
	if (rc != 1)
		return;
	enum fsck_problem p = d->hash_bad ? FP_DIR_HASH : FP_DIR_BAD;
	if (!fsck_repair(f)) {
		fsck_inote(f, ino, p, false, "directory %" PRIu64 ": %s", ino, why);
		f->istate[ino] |= IS_BAD;
		return;
	}
	size_t kept = 0;
	uint64_t parent = d->head.parent; /* pass 4 checks it */
	if (ino == EF_ROOT_INO || parent == 0 || parent > f->sb.ninodes)
		parent = EF_ROOT_INO;
	if (fsck_dir_rebuild(f, ino, parent, &kept) == 0) {
		fsck_inote(f, ino, p, true,
			   "directory %" PRIu64 ": %s; rebuilt with the %zu entries it still held",
			   ino, why, kept);
		return;
	}
	bool fix = ino != EF_ROOT_INO && !f->op_err;
	fsck_inote(f, ino, p, fix, "directory %" PRIu64 ": %s; no room to rebuild it%s", ino, why,
		   fix ? ", cleared" : "");
	if (fix)
		fsck_iclear(f, ino);
	f->istate[ino] |= IS_BAD;
}

/* The root must be a directory: with -y a root that is not one (or was
   cleared in pass 2) is made anew, empty; pass 4 brings back what it held
   through /lost+found. */
static int check_root(struct fsck *f)
{
	uint16_t st = f->istate[EF_ROOT_INO];
	if ((st & (IS_USED | IS_DIR | IS_BAD)) == (IS_USED | IS_DIR))
		return 0;
	const char *why = st & IS_CLEARED		      ? "was cleared"
			  : !(st & IS_USED) && !(st & IS_BAD) ? "is free"
							      : "is not a directory";
	if (!fsck_repair(f)) {
		fsck_inote(f, EF_ROOT_INO, FP_ROOT, false, "root inode %d %s", EF_ROOT_INO, why);
		return 0;
	}
	if ((st & IS_USED) && !(st & IS_BAD))
		fsck_iclear(f, EF_ROOT_INO); /* what it owned goes back */
	struct ef_inode in;
	struct fsck_dents none = {0};
	int rc = fsck_inew(f, EF_ROOT_INO, S_IFDIR | 0755, &in);
	if (rc == 0)
		rc = fsck_dir_build(f, EF_ROOT_INO, &in, EF_ROOT_INO, &none, 0);
	fsck_inote(f, EF_ROOT_INO, FP_ROOT, rc == 0, "root inode %d %s%s", EF_ROOT_INO, why,
		   rc == 0 ? "; a new root directory made" : "; no room for a new one");
	return f->op_err;
}

int fsck_pass_dirs(struct fsck *f)
{
	if (check_root(f) < 0)
		return f->op_err;
	/* First every directory's structure, so that entries naming a directory
	   found unusable are judged with that known, whatever the order. */
	for (uint64_t ino = 1; ino <= f->sb.ninodes && !f->op_err; ino++) {
		if ((f->istate[ino] & (IS_DIR | IS_USED | IS_BAD)) != (IS_DIR | IS_USED))
			continue;
		struct fsck_dir d;
		const char *why = "";
		int rc = fsck_dir_open(f, ino, &d, &why);
		judge_open(f, ino, rc, &d, why);
		if (rc == 0)
			f->istate[ino] |= IS_DIR_OK;
		fsck_dir_close(&d);
	}
	for (uint64_t ino = 1; ino <= f->sb.ninodes && !f->op_err; ino++) {
		if (!(f->istate[ino] & IS_DIR_OK) || (f->istate[ino] & IS_BAD))
			continue;
		struct fsck_dir d;
		const char *why = "";
		if (fsck_dir_open(f, ino, &d, &why) == 0) {
			int64_t n = fsck_dir_walk(f, &d, true, check_entry, NULL);
			if (n >= 0 && d.head.nentries != (uint64_t)n) {
				bool fix = fsck_repair(f);
				fsck_inote(f, ino, FP_DIR_BAD, fix,
					   "directory %" PRIu64 ": head counts %" PRIu64
					   " entries, holds %" PRId64,
					   ino, d.head.nentries, n);
				d.head.nentries = (uint64_t)n;
				if (fix)
					fsck_dir_write_head(f, &d);
			}
		}
		fsck_dir_close(&d);
	}
	return f->op_err;
}
