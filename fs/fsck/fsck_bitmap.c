/*
 * fsck_bitmap.c: pass 6, the inode and block bitmaps against what the
 * earlier passes found in use, and pass 7, the superblock's summary (free
 * counts, state). Layer: the checker; reads and writes bitmap blocks and
 * the superblock through the image view.
 *
 * Expected bits (layout.h): inode 0 and the bits past the last inode set;
 * every block below data_start, the backup superblock and the bits past the
 * last block set; otherwise exactly what passes 2-5 left in use. With -y a
 * bitmap block that differs or does not verify is rebuilt from that. The
 * free counts are hints kept by the mount: a wrong count on a filesystem
 * marked clean is a finding; after an unclean shutdown it is expected and
 * -y just corrects it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"

/* Is the item in use, or -1 when this check cannot tell (a bad inode left as it is). */
static int want_inode(const struct fsck *f, uint64_t i)
{
	if (i == 0 || i > f->sb.ninodes)
		return 1;
	uint16_t st = f->istate[i];
	if (st & IS_CLEARED)
		return 0;
	if (st & IS_BAD) /* judged bad but left as it is */
		return -1;
	return (st & IS_USED) != 0;
}

static int want_block(const struct fsck *f, uint64_t b)
{
	const struct ef_super *s = &f->sb;
	if (b < s->data_start || b >= s->nblocks - 1)
		return 1;
	return bit_test(f->breach, b);
}

struct bm {
	const char *what;
	bool inodes;
	uint64_t start, len, nitems;
	uint32_t magic;
	enum fsck_problem set_not_used, used_not_set;
	int (*want)(const struct fsck *f, uint64_t item);
	uint64_t used; /* out: items in use, among the real ones */
};

static void report_run(struct fsck *f, struct bm *m, bool on_disk, uint64_t from, uint64_t to)
{
	/* Inodes marked in use that are free were lost (a zeroed table block
	   reads as free inodes): the finding names them. */
	fsck_inote_range(f, m->inodes ? from : 0, m->inodes ? to - from : 0,
			 on_disk ? m->set_not_used : m->used_not_set, fsck_repair(f),
			 "%s %" PRIu64 "-%" PRIu64 ": %s", m->what, from, to - 1,
			 on_disk ? "marked in use, not used" : "in use, marked free");
}

static int check_bitmap(struct fsck *f, struct bm *m)
{
	const uint64_t bits = EF_BITMAP_BITS(f->bs);
	uint8_t *blk = malloc(f->bs), *want = malloc(f->bs);
	if (!blk || !want) {
		free(blk);
		free(want);
		return fsck_fail(f, -ENOMEM, "out of memory");
	}
	for (uint64_t n = 0; n < m->len && !f->op_err; n++) {
		uint64_t bno = m->start + n, base = n * bits;
		int rc = img_read(&f->im, bno, blk);
		if (rc < 0) {
			fsck_fail(f, rc, "reading %s bitmap block %" PRIu64, m->what, bno);
			break;
		}
		bool hdr_ok = meta_verify(blk, f->bs, m->magic, bno) == 0;
		if (!hdr_ok)
			fsck_inote_range(f, m->inodes ? base : 0, m->inodes ? bits : 0,
					 FP_BITMAP_HDR, fsck_repair(f),
					 "%s bitmap block %" PRIu64 " does not verify%s", m->what,
					 bno, fsck_repair(f) ? "; rebuilt" : "");
		memset(want, 0, f->bs);
		uint8_t *wb = want + sizeof(struct ef_blkhdr), *db = blk + sizeof(struct ef_blkhdr);
		bool differs = false;
		uint64_t run_from = 0;
		int run_kind = -1; /* 1: set on disk only, 0: wanted only */
		for (uint64_t i = 0; i < bits; i++) {
			uint64_t item = base + i;
			int w = m->want(f, item);
			bool d = bit_test(db, i);
			if (w < 0)
				w = d; /* cannot tell: keep the disk's bit */
			if (w)
				bit_set(wb, i);
			if (w && item && item < m->nitems)
				m->used++;
			/* What a freed orphan owned clears, what this run made sets, as
			   expected: unreported. */
			bool quiet = item < m->nitems &&
				     (m->inodes ? (f->istate[item] & (IS_RELEASED | IS_MADE)) != 0
						: bit_test(f->breleased, item));
			int kind = (hdr_ok && w != d && !quiet) ? d : -1;
			if (kind != run_kind) {
				if (run_kind >= 0)
					report_run(f, m, run_kind, run_from, item);
				run_kind = kind;
				run_from = item;
			}
			differs |= w != d;
		}
		if (run_kind >= 0)
			report_run(f, m, run_kind, run_from, base + bits);
		if ((differs || !hdr_ok) && fsck_repair(f)) {
			meta_seal(want, f->bs, m->magic, bno);
			if ((rc = img_write(&f->im, bno, want)) < 0)
				fsck_fail(f, rc, "writing %s bitmap block %" PRIu64, m->what, bno);
		}
	}
	free(blk);
	free(want);
	return f->op_err;
}

int fsck_pass_bitmaps(struct fsck *f)
{
	const struct ef_super *s = &f->sb;
	struct bm ib = {"inode",
			true,
			s->ibitmap_start,
			s->ibitmap_len,
			s->ninodes + 1,
			EF_MAGIC_IBITMAP,
			FP_INODE_UNUSED_MARKED,
			FP_INODE_USED_UNMARKED,
			want_inode,
			0};
	struct bm bb = {"block",
			false,
			s->bbitmap_start,
			s->bbitmap_len,
			s->nblocks,
			EF_MAGIC_BBITMAP,
			FP_BLOCK_UNUSED_MARKED,
			FP_BLOCK_USED_UNMARKED,
			want_block,
			0};
	if (check_bitmap(f, &ib) < 0 || check_bitmap(f, &bb) < 0)
		return f->op_err;
	f->r->inodes_used = ib.used;
	f->r->blocks_used = bb.used + 1; /* block 0 is not counted by the loop */
	return 0;
}

int fsck_pass_summary(struct fsck *f)
{
	struct ef_super *s = &f->sb;
	bool fix = fsck_repair(f);
	uint64_t free_b = s->nblocks - f->r->blocks_used, free_i = s->ninodes - f->r->inodes_used;
	if (s->free_blocks != free_b || s->free_inodes != free_i) {
		/* After freeing orphans or allocating (/lost+found made) the
		   counts change as expected too. */
		if (s->state & EF_STATE_CLEAN && !(s->state & EF_STATE_DIRTY) &&
		    !f->r->orphans_freed && !f->allocated)
			fsck_note(f, FP_FREE_COUNT, fix,
				  "free blocks %" PRIu64 " (counted %" PRIu64
				  "), free inodes %" PRIu64 " (counted %" PRIu64 ")",
				  s->free_blocks, free_b, s->free_inodes, free_i);
		s->free_blocks = free_b;
		s->free_inodes = free_i;
		f->sb_dirty = true;
	}
	if (s->state & EF_STATE_ERROR)
		fsck_note(f, FP_SB_STATE, fix,
			  "the filesystem recorded an error (block %" PRIu64 ")",
			  s->first_error_block);
	if (!fix)
		return 0;
	/* Clean only when nothing is left uncorrected. */
	bool all_fixed = true;
	for (int p = 0; p < FP_NR; p++)
		all_fixed &= f->r->fixed[p] == f->r->found[p];
	uint32_t state = all_fixed ? EF_STATE_CLEAN : (s->state | EF_STATE_ERROR);
	if (state != s->state) {
		s->state = state;
		if (all_fixed)
			s->first_error_block = 0;
		f->sb_dirty = true;
	}
	return f->sb_dirty ? fsck_write_super(f) : 0;
}
