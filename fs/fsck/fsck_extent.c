/*
 * fsck_extent.c: one walker over an inode's extent tree (format: layout.h,
 * struct ef_extent_hdr / ef_extent), used three ways: check (validate,
 * claim each block, repair by dropping bad entries), map (collect the leaf
 * extents of a tree already checked, skipping anything unsafe) and
 * unclaim (give a cleared inode's blocks back). Layer: the checker; reads
 * and writes extent blocks through the image view.
 *
 * Repair policy: an entry that cannot be trusted (impossible range, out of
 * order, a block another owner holds, a child node that does not verify)
 * is removed from its node, so that range of the file becomes a hole; the
 * blocks it named are then unowned and pass 6 frees them. A root header
 * that makes no sense empties the whole map.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"

struct walk {
	struct fsck *f;
	struct fsck_walk *w;
	uint64_t ino;
	uint64_t visits;    /* nodes walked: a damaged tree cannot make this run away */
	uint64_t next_pblk; /* where the last leaf extent ended, 0 before the first */
};

static bool in_data_area(const struct fsck *f, uint64_t pblk, uint64_t len)
{
	const struct ef_super *s = &f->sb;
	return len && pblk >= s->data_start && pblk < s->nblocks - 1 &&
	       len <= s->nblocks - 1 - pblk;
}

uint64_t fsck_claim(struct fsck *f, uint64_t start, uint64_t n)
{
	uint64_t dups = 0;
	for (uint64_t b = start; b < start + n; b++)
		dups += bit_test(f->breach, b);
	if (!dups)
		for (uint64_t b = start; b < start + n; b++)
			bit_set(f->breach, b);
	return dups;
}

void fsck_unclaim(struct fsck *f, uint64_t start, uint64_t n)
{
	for (uint64_t b = start; b < start + n; b++)
		bit_clear(f->breach, b);
}

static int map_push(struct fsck_map *m, const struct ef_extent *e)
{
	if (m->n == m->cap) {
		size_t ncap = m->cap ? 2 * m->cap : 16;
		struct ef_extent *x = realloc(m->ext, ncap * sizeof(*x));
		if (!x)
			return -ENOMEM;
		m->ext = x;
		m->cap = ncap;
	}
	m->ext[m->n++] = *e;
	return 0;
}

static void drop_entry(struct ef_extent_hdr *h, struct ef_extent *e, unsigned i)
{
	memmove(&e[i], &e[i + 1], (h->count - i - 1) * sizeof(*e));
	memset(&e[h->count - 1], 0, sizeof(*e));
	h->count--;
}

static bool hdr_ok(const struct ef_extent_hdr *h, unsigned max, int depth)
{
	return h->magic == EF_EXTENT_HDR_MAGIC && h->max == max && h->count <= max &&
	       (depth < 0 ? h->depth <= EF_EXTENT_MAX_DEPTH : h->depth == depth);
}

/* Walks one node; keys below it lie in [lo, hi). Sets *changed when the node was edited. */
static int walk_node(struct walk *k, struct ef_extent_hdr *h, struct ef_extent *e, uint64_t lo,
		     uint64_t hi, bool *changed)
{
	struct fsck *f = k->f;
	struct fsck_walk *w = k->w;
	bool check = w->how == WALK_CHECK, fix = check && fsck_repair(f);
	uint64_t prev_end = lo;
	for (unsigned i = 0; i < h->count && !f->op_err;) {
		struct ef_extent x = e[i];
		enum fsck_problem p = FP_NR;
		const char *why = "";
		bool leaf = h->depth == 0;
		uint64_t next_lo = i + 1 < h->count ? e[i + 1].lblk : hi;
		if (leaf && (x.len == 0 || x.flags || x.lblk < prev_end || x.lblk > hi ||
			     x.len > hi - x.lblk))
			p = FP_EXTENT_BAD, why = "extent out of order or empty";
		else if (!leaf && (x.len || (i && x.lblk < prev_end) || x.lblk >= hi ||
				   (i + 1 < h->count && e[i + 1].lblk <= x.lblk)))
			p = FP_EXTENT_BAD, why = "index entry out of order";
		else if (!in_data_area(f, x.pblk, leaf ? x.len : 1))
			p = FP_EXTENT_RANGE, why = "outside the data area";
		else if (!leaf && ++k->visits > f->sb.nblocks)
			p = FP_EXTENT_BAD, why = "tree larger than the device";
		else if (check && fsck_claim(f, x.pblk, leaf ? x.len : 1))
			p = FP_EXTENT_DUP, why = "blocks already in use";
		if (p == FP_NR && !leaf) {
			/* The child node: verify it, then walk it. */
			uint8_t *blk = malloc(f->bs);
			if (!blk)
				return fsck_fail(f, -ENOMEM, "out of memory");
			int rc = img_read(&f->im, x.pblk, blk);
			struct ef_extent_hdr *ch = (void *)(blk + sizeof(struct ef_blkhdr));
			struct ef_extent *ce = (void *)(ch + 1);
			if (rc < 0 || meta_verify(blk, f->bs, EF_MAGIC_EXTENT, x.pblk) < 0 ||
			    !hdr_ok(ch, EF_EXTENTS_PER_BLOCK(f->bs), h->depth - 1)) {
				p = FP_EXTENT_BAD, why = "child node does not verify";
				if (check)
					fsck_unclaim(f, x.pblk, 1);
			} else {
				bool cchanged = false;
				if (w->how == WALK_UNCLAIM)
					fsck_unclaim(f, x.pblk, 1);
				if (w->release)
					bit_set(w->release, x.pblk);
				w->owned++;
				rc = walk_node(k, ch, ce, x.lblk < lo ? lo : x.lblk, next_lo,
					       &cchanged);
				if (rc == 0 && cchanged) {
					meta_seal(blk, f->bs, EF_MAGIC_EXTENT, x.pblk);
					rc = img_write(&f->im, x.pblk, blk);
					if (rc < 0)
						fsck_fail(f, rc, "writing extent block %" PRIu64,
							  x.pblk);
				}
			}
			free(blk);
		} else if (p == FP_NR) {
			w->fragmented |= k->next_pblk && x.pblk != k->next_pblk;
			k->next_pblk = x.pblk + x.len;
			w->owned += x.len;
			if (x.lblk + x.len > w->end)
				w->end = x.lblk + x.len;
			if (w->how == WALK_UNCLAIM)
				fsck_unclaim(f, x.pblk, x.len);
			for (uint64_t b = 0; w->release && b < x.len; b++)
				bit_set(w->release, x.pblk + b);
			if (w->map && map_push(w->map, &x) < 0)
				return fsck_fail(f, -ENOMEM, "out of memory");
		}
		if (p == FP_NR) {
			prev_end = leaf ? x.lblk + x.len : x.lblk + 1;
			i++;
			continue;
		}
		/* A bad entry: report it (check), drop it (repair), skip it (always). */
		if (check)
			fsck_inote(f, k->ino, p, fix,
				   "inode %" PRIu64 ": %s %u [%" PRIu64 "+%u -> %" PRIu64 "]: %s",
				   k->ino, leaf ? "extent" : "index", i, x.lblk, x.len, x.pblk,
				   why);
		if (fix) {
			drop_entry(h, e, i);
			*changed = true;
		} else {
			i++;
		}
	}
	return f->op_err;
}

int fsck_extents(struct fsck *f, uint64_t ino, struct ef_inode *in, struct fsck_walk *w)
{
	struct walk k = {.f = f, .w = w, .ino = ino};
	struct ef_extent_hdr *h = &in->u.map.hdr;
	w->owned = 0;
	w->end = 0;
	w->changed = false;
	w->fragmented = false;
	if (!hdr_ok(h, EF_INODE_EXTENTS, -1)) {
		if (w->how != WALK_CHECK)
			return 0;
		bool fix = fsck_repair(f);
		fsck_inote(f, ino, FP_EXTENT_BAD, fix,
			   "inode %" PRIu64 ": extent tree root damaged", ino);
		if (fix) {
			memset(&in->u, 0, sizeof(in->u));
			in->u.map.hdr = (struct ef_extent_hdr){.magic = EF_EXTENT_HDR_MAGIC,
							       .max = EF_INODE_EXTENTS};
			w->changed = true;
		}
		return 0;
	}
	return walk_node(&k, h, in->u.map.ext, 0, UINT64_MAX, &w->changed);
}

/* The leaf extent holding lblk, or NULL (a hole). Pre: m sorted by lblk (a walk's order). */
const struct ef_extent *fsck_map_find(const struct fsck_map *m, uint64_t lblk)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ef_extent *x = &m->ext[mid];
		if (lblk < x->lblk)
			hi = mid;
		else if (lblk - x->lblk >= x->len)
			lo = mid + 1;
		else
			return x;
	}
	return NULL;
}
