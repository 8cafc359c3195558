/*
 * fsck_super.c: pass 0, the superblock. Layer: the checker; reads through
 * the image view and verifies with the storage layer's meta_verify.
 *
 * The primary (block 0) is used when its header verifies and its geometry
 * makes sense; otherwise the backup (block nblocks-1, found by trying each
 * block size against the end of the device). The backup may lag behind the
 * primary (it is written by mkfs and at clean unmount), so only the fields
 * that never change after mkfs are compared. Field ranges are the storage
 * layer's super_check; the checks here are what the passes index with.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"
#include "storage_int.h"

static bool region_ok(uint64_t start, uint64_t len, uint64_t lo, uint64_t hi)
{
	return len > 0 && start >= lo && start <= hi && len <= hi - start;
}

static bool overlap(uint64_t a, uint64_t al, uint64_t b, uint64_t bl)
{
	return a < b + bl && b < a + al;
}

/* Geometry that every later pass relies on; why gets the first problem. */
static bool sb_geometry_ok(const struct ef_super *s, uint64_t size_bytes, char *why, size_t n)
{
	uint32_t bs = s->block_size;
	if (s->version != EF_VERSION)
		return snprintf(why, n, "version %u", s->version), false;
	if (bs < EF_MIN_BLOCK_SIZE || bs > EF_MAX_BLOCK_SIZE || (bs & (bs - 1)))
		return snprintf(why, n, "block size %u", bs), false;
	if (s->nblocks < 8 || s->nblocks > size_bytes / bs)
		return snprintf(why, n, "%" PRIu64 " blocks on a device of %" PRIu64, s->nblocks,
				size_bytes / bs),
		       false;
	if (s->ninodes < 1 || s->ninodes > UINT32_MAX)
		return snprintf(why, n, "%" PRIu64 " inodes", s->ninodes), false;
	uint64_t end = s->nblocks - 1; /* the backup superblock */
	if (s->data_start < 2 || s->data_start >= end)
		return snprintf(why, n, "data area starts at %" PRIu64, s->data_start), false;
	const uint64_t r[4][2] = {{s->journal_start, s->journal_len},
				  {s->ibitmap_start, s->ibitmap_len},
				  {s->bbitmap_start, s->bbitmap_len},
				  {s->itable_start, s->itable_len}};
	for (int i = 0; i < 4; i++) {
		if (!region_ok(r[i][0], r[i][1], 1, s->data_start))
			return snprintf(why, n,
					"region %d [%" PRIu64 ",+%" PRIu64 ") out of bounds", i,
					r[i][0], r[i][1]),
			       false;
		for (int j = 0; j < i; j++)
			if (overlap(r[i][0], r[i][1], r[j][0], r[j][1]))
				return snprintf(why, n, "regions %d and %d overlap", j, i), false;
	}
	if (s->ibitmap_len * fsck_bits_per_bitmap_block(bs) < s->ninodes + 1)
		return snprintf(why, n, "inode bitmap too small"), false;
	if (s->bbitmap_len * fsck_bits_per_bitmap_block(bs) < s->nblocks)
		return snprintf(why, n, "block bitmap too small"), false;
	if (s->itable_len * fsck_inodes_per_block(bs) < s->ninodes + 1)
		return snprintf(why, n, "inode table too small"), false;
	if (s->features_incompat & ~(uint32_t)FSCK_KNOWN_INCOMPAT)
		return snprintf(why, n, "unknown incompatible features 0x%x", s->features_incompat),
		       false;
	return true;
}

/* Reads and verifies a superblock copy at blockno for block size bs. */
static int sb_load(struct fsck *f, uint32_t bs, uint64_t blockno, struct ef_super *out, char *why,
		   size_t n)
{
	uint8_t *blk = f->scratch;
	if (blockno > (f->im.size_bytes - bs) / bs || f->im.size_bytes < bs)
		return snprintf(why, n, "beyond the device"), -EUCLEAN;
	int rc = img_pread(&f->im, blk, bs, blockno * bs);
	if (rc < 0)
		return snprintf(why, n, "read error %d", rc), rc;
	struct ef_super s;
	memcpy(&s, blk, sizeof(s));
	if (s.hdr.magic != EF_MAGIC_SUPER)
		return snprintf(why, n, "bad magic"), -EUCLEAN;
	if (s.block_size != bs)
		return snprintf(why, n, "block size %u", s.block_size), -EUCLEAN;
	if (meta_verify(blk, bs, EF_MAGIC_SUPER, blockno) < 0)
		return snprintf(why, n, "checksum or block number mismatch"), -EUCLEAN;
	if (blockno && s.nblocks != blockno + 1)
		return snprintf(why, n, "backup at the wrong place"), -EUCLEAN;
	if (super_check(&s, f->im.size_bytes, why, n) < 0 ||
	    !sb_geometry_ok(&s, f->im.size_bytes, why, n))
		return -EUCLEAN;
	*out = s;
	return 0;
}

/* The fields fixed at mkfs time, which the backup must share. */
static bool sb_same_geometry(const struct ef_super *a, const struct ef_super *b)
{
	return a->version == b->version && a->block_size == b->block_size &&
	       a->nblocks == b->nblocks && a->ninodes == b->ninodes &&
	       a->journal_start == b->journal_start && a->journal_len == b->journal_len &&
	       a->ibitmap_start == b->ibitmap_start && a->ibitmap_len == b->ibitmap_len &&
	       a->bbitmap_start == b->bbitmap_start && a->bbitmap_len == b->bbitmap_len &&
	       a->itable_start == b->itable_start && a->itable_len == b->itable_len &&
	       a->data_start == b->data_start && !memcmp(a->uuid, b->uuid, sizeof(a->uuid)) &&
	       a->features_incompat == b->features_incompat;
}

int fsck_pass_super(struct fsck *f)
{
	char why[160] = "", bwhy[160] = "";
	struct ef_super pri, bak;
	int prc = -EUCLEAN, brc = -EUCLEAN;

	/* The primary's block size decides how much the checksum covers. */
	struct ef_super peek;
	if (f->im.size_bytes >= sizeof(peek) &&
	    img_pread(&f->im, f->scratch, EF_MIN_BLOCK_SIZE, 0) == 0) {
		memcpy(&peek, f->scratch, sizeof(peek));
		uint32_t bs = peek.block_size;
		if (bs >= EF_MIN_BLOCK_SIZE && bs <= EF_MAX_BLOCK_SIZE && !(bs & (bs - 1)))
			prc = sb_load(f, bs, 0, &pri, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s",
				 peek.hdr.magic == EF_MAGIC_SUPER ? "bad block size" : "bad magic");
	} else {
		snprintf(why, sizeof(why), "device too small");
	}

	/* The backup: where the primary says, else at the end for each block size. */
	if (prc == 0) {
		brc = sb_load(f, pri.block_size, pri.nblocks - 1, &bak, bwhy, sizeof(bwhy));
	} else {
		for (uint32_t bs = EF_MIN_BLOCK_SIZE; bs <= EF_MAX_BLOCK_SIZE && brc; bs *= 2)
			if (f->im.size_bytes >= 2 * bs)
				brc = sb_load(f, bs, f->im.size_bytes / bs - 1, &bak, bwhy,
					      sizeof(bwhy));
	}

	if (prc < 0 && brc < 0)
		return fsck_fail(f, -EUCLEAN, "no valid superblock (primary: %s; backup: %s)", why,
				 bwhy);
	f->bs = f->im.bs = prc == 0 ? pri.block_size : bak.block_size;
	if (f->im.disk_open)
		f->im.disk.block_size = f->bs;

	if (prc < 0) {
		/* Run on the backup; the final superblock write restores block 0. */
		f->sb = bak;
		f->sb.state |= EF_STATE_ERROR; /* whatever happened since is unknown */
		f->sb_dirty = true;
		fsck_note(f, FP_SB_BAD, fsck_repair(f), "primary superblock: %s; using the backup",
			  why);
		return 0;
	}
	f->sb = pri;
	if (brc < 0 || !sb_same_geometry(&pri, &bak)) {
		f->sb_dirty = true;
		fsck_note(f, FP_SB_BACKUP, fsck_repair(f), "backup superblock: %s",
			  brc < 0 ? bwhy : "differs from the primary");
	}
	return 0;
}

/* Writes the in-memory superblock to block 0 and the backup (repair). */
int fsck_write_super(struct fsck *f)
{
	int rc = super_write_direct(&f->im.disk, &f->sb, true);
	if (rc < 0)
		return fsck_fail(f, rc, "writing the superblock: %s", strerror(-rc));
	return 0;
}
