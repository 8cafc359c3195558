/*
 * fsck_inode.c: pass 2, the inode table. Layer: the checker; reads inode
 * table blocks through the image view, walks each used inode's extent tree
 * (fsck_extent.c) and xattr block (fsck_xattr.c), and records per-inode
 * state for the later passes.
 *
 * An inode is in use when its mode is non-zero (layout.h: a free inode is
 * zero but its generation); the bitmap is compared with that in pass 6.
 * A table block that reads as all zeroes is a lazily initialised block of
 * free inodes. A block whose magic or number is wrong holds something
 * else (a misdirected write): its inodes are lost and, with -y, the block
 * is zeroed. A block whose checksum alone is wrong is checked inode by
 * inode and resealed after the repairs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsck_int.h"

static uint64_t itable_block(const struct fsck *f, uint64_t ino)
{
	return f->sb.itable_start + ino / EF_INODES_PER_BLOCK(f->bs);
}

static size_t itable_off(const struct fsck *f, uint64_t ino)
{
	return sizeof(struct ef_blkhdr) + (ino % EF_INODES_PER_BLOCK(f->bs)) * EF_INODE_SIZE;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int fsck_iread(struct fsck *f, uint64_t ino, struct ef_inode *out)
{
	int rc = img_read(&f->im, itable_block(f, ino), f->scratch);
	if (rc < 0)
		return fsck_fail(f, rc, "reading inode %" PRIu64, ino);
	memcpy(out, f->scratch + itable_off(f, ino), sizeof(*out));
	return 0;
}

int fsck_iwrite(struct fsck *f, uint64_t ino, const struct ef_inode *in)
{
	uint64_t b = itable_block(f, ino);
	int rc = img_read(&f->im, b, f->scratch);
	if (rc == 0) {
		memcpy(f->scratch + itable_off(f, ino), in, sizeof(*in));
		meta_seal(f->scratch, f->bs, EF_MAGIC_ITABLE, b);
		rc = img_write(&f->im, b, f->scratch);
	}
	if (rc < 0)
		return fsck_fail(f, rc, "writing inode %" PRIu64, ino);
	return 0;
}

/* Does this inode's u hold an extent tree (rather than an inline symlink)? */
static bool has_map(const struct ef_inode *in)
{
	return !S_ISLNK(in->mode) || in->size > EF_INLINE_SYMLINK_MAX;
}

int fsck_iclear(struct fsck *f, uint64_t ino)
{
	struct ef_inode in;
	if (fsck_iread(f, ino, &in) < 0)
		return f->op_err;
	if (f->istate[ino] & IS_USED) {
		/* Give back what pass 2 claimed for it. */
		if (has_map(&in)) {
			struct fsck_walk w = {.how = WALK_UNCLAIM};
			fsck_extents(f, ino, &in, &w);
		}
		if (in.xattr_block && (f->istate[ino] & IS_XATTR))
			fsck_unclaim(f, in.xattr_block, 1);
	}
	uint32_t gen = in.generation;
	memset(&in, 0, sizeof(in));
	in.generation = gen;
	f->istate[ino] = (uint16_t)((f->istate[ino] & (IS_MARKED | IS_ORPHAN | IS_RELEASED)) |
				    IS_BAD | IS_CLEARED);
	return fsck_iwrite(f, ino, &in);
}

/* Marks what an orphan being freed owned as released (pass 6 frees it quietly). */
static void release_orphan(struct fsck *f, uint64_t ino, struct ef_inode *in)
{
	if (has_map(in)) {
		struct fsck_walk w = {.how = WALK_MAP, .release = f->breleased};
		fsck_extents(f, ino, in, &w);
	}
	if (in->xattr_block && in->xattr_block < f->sb.nblocks)
		bit_set(f->breleased, in->xattr_block);
	f->istate[ino] |= IS_RELEASED;
}

static bool mode_ok(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return (mode & ~(uint32_t)(S_IFMT | 07777)) == 0;
	default:
		return false;
	}
}

/* Checks one used inode; *dirty says it must be written back. */
static int check_inode(struct fsck *f, uint64_t ino, struct ef_inode *in, bool *dirty)
{
	bool fix = fsck_repair(f);
	const char *bad = NULL;
	if (!mode_ok(in->mode))
		bad = "impossible mode";
	else if (S_ISLNK(in->mode) && (in->size == 0 || in->size >= 4096))
		bad = "symlink of impossible length";
	else if (S_ISDIR(in->mode) && in->size % f->bs)
		bad = "directory size not a multiple of the block size";
	if (bad) {
		/* The root too: pass 3 makes a new one, pass 4 reconnects what it named. */
		fsck_inote(f, ino, FP_INODE_BAD, fix,
			   "inode %" PRIu64 ": %s (mode 0%o, size %" PRIu64 ")", ino, bad, in->mode,
			   in->size);
		f->istate[ino] |= IS_BAD;
		if (fix)
			return fsck_iclear(f, ino);
		/* Left as it is: what it maps stays in use (pass 6 keeps it). */
		struct fsck_walk w = {.how = WALK_MAP, .release = f->breach};
		fsck_extents(f, ino, in, &w);
		if (in->xattr_block >= f->sb.data_start && in->xattr_block < f->sb.nblocks - 1)
			bit_set(f->breach, in->xattr_block);
		return 0;
	}
	f->istate[ino] |= IS_USED | (S_ISDIR(in->mode) ? IS_DIR : 0);

	uint64_t owned = 0, end = 0;
	if (has_map(in)) {
		struct fsck_map m = {0};
		struct fsck_walk w = {.how = WALK_CHECK, .map = S_ISLNK(in->mode) ? &m : NULL};
		int rc = fsck_extents(f, ino, in, &w);
		if (rc < 0) {
			free(m.ext);
			return rc;
		}
		owned += w.owned;
		*dirty |= w.changed;
		f->r->fragmented += w.fragmented;
		if (S_ISLNK(in->mode) && !fsck_map_find(&m, 0)) {
			/* A long symlink keeps its target in block 0: nothing to read. */
			free(m.ext);
			fsck_inote(f, ino, FP_INODE_BAD, fix,
				   "inode %" PRIu64 ": symlink without its target", ino);
			f->istate[ino] |= IS_BAD;
			return fix ? fsck_iclear(f, ino) : 0;
		}
		free(m.ext);
		end = w.end;
	}
	if (in->size > FSCK_MAX_FILE_BLOCKS * f->bs) {
		/* Past what any file can be (the mount refuses it): keep what is mapped. */
		fsck_inote(f, ino, FP_SIZE, fix,
			   "inode %" PRIu64 ": size %" PRIu64 " beyond the largest file", ino,
			   in->size);
		if (fix) {
			in->size = end * f->bs;
			*dirty = true;
		}
	}
	if (in->orphan_next > f->sb.ninodes) {
		/* The mount refuses it; the orphan list was cut there already. */
		fsck_inote(f, ino, FP_INODE_BAD, fix,
			   "inode %" PRIu64 ": orphan list link %" PRIu64 " out of range", ino,
			   in->orphan_next);
		if (fix) {
			in->orphan_next = 0;
			*dirty = true;
		}
	}
	if (in->xattr_block) {
		if (fsck_check_xattr(f, ino, in->xattr_block)) {
			f->istate[ino] |= IS_XATTR;
			owned++;
		} else if (fix) {
			in->xattr_block = 0;
			*dirty = true;
		}
	}
	if (in->blocks != owned) {
		fsck_inote(f, ino, FP_SIZE, fix,
			   "inode %" PRIu64 ": block count %" PRIu64 ", owns %" PRIu64, ino,
			   in->blocks, owned);
		if (fix) {
			in->blocks = owned;
			*dirty = true;
		}
	}
	return 0;
}

int fsck_pass_inodes(struct fsck *f)
{
	const uint64_t ipb = EF_INODES_PER_BLOCK(f->bs);
	uint8_t *chunk = malloc((size_t)FSCK_CHUNK * f->bs);
	if (!chunk)
		return fsck_fail(f, -ENOMEM, "out of memory");
	for (uint64_t b = 0; b < f->sb.itable_len && !f->op_err; b++) {
		uint64_t bno = f->sb.itable_start + b;
		uint8_t *blk = chunk + (b % FSCK_CHUNK) * f->bs;
		if (b % FSCK_CHUNK == 0) { /* the table is read a chunk at a time */
			uint64_t n =
			    f->sb.itable_len - b < FSCK_CHUNK ? f->sb.itable_len - b : FSCK_CHUNK;
			int rc = img_read_many(&f->im, bno, (uint32_t)n, chunk);
			if (rc < 0) {
				fsck_fail(f, rc, "reading inode table blocks at %" PRIu64, bno);
				break;
			}
		}
		int rc;
		if (all_zero(blk, f->bs))
			continue; /* lazily initialised: free inodes */
		struct ef_blkhdr h;
		memcpy(&h, blk, sizeof(h));
		if (meta_verify(blk, f->bs, EF_MAGIC_ITABLE, bno) < 0) {
			bool foreign = h.magic != EF_MAGIC_ITABLE || h.blockno != bno;
			bool fix = fsck_repair(f);
			fsck_inote_range(f, b * ipb, ipb, FP_ITABLE_HDR, fix,
					 "inode table block %" PRIu64 ": %s", bno,
					 foreign ? "not an inode table block; its inodes are lost"
						 : "checksum wrong; inodes checked one by one");
			if (foreign) {
				if (fix) {
					memset(blk, 0, f->bs);
					if ((rc = img_write(&f->im, bno, blk)) < 0)
						fsck_fail(f, rc, "writing inode table block");
				} else {
					for (uint64_t k = 0; k < ipb; k++)
						if (b * ipb + k <= f->sb.ninodes)
							f->istate[b * ipb + k] |= IS_BAD;
				}
				continue;
			}
			if (fix) { /* reseal now: later writes of single inodes verify */
				meta_seal(blk, f->bs, EF_MAGIC_ITABLE, bno);
				if ((rc = img_write(&f->im, bno, blk)) < 0)
					fsck_fail(f, rc, "writing inode table block");
			}
		}
		for (uint64_t k = 0; k < ipb && !f->op_err; k++) {
			uint64_t ino = b * ipb + k;
			if (ino == 0 || ino > f->sb.ninodes)
				continue;
			struct ef_inode in;
			memcpy(&in, blk + sizeof(struct ef_blkhdr) + k * EF_INODE_SIZE, sizeof(in));
			if (in.mode == 0)
				continue;
			if ((f->istate[ino] & IS_ORPHAN) && in.nlink == 0 && fsck_repair(f)) {
				/* What the next mount would do: free it. Its bits in the
				   bitmaps then change as expected, not as findings. */
				release_orphan(f, ino, &in);
				fsck_iclear(f, ino);
				f->istate[ino] &= (uint16_t)~IS_BAD;
				f->r->orphans_freed++;
				fsck_inote(f, ino, FP_ORPHAN_FREED, true,
					   "orphan inode %" PRIu64 " freed", ino);
				continue;
			}
			bool dirty = false;
			if (check_inode(f, ino, &in, &dirty) < 0)
				break;
			if (dirty && fsck_repair(f) && !(f->istate[ino] & IS_BAD))
				fsck_iwrite(f, ino, &in);
		}
	}
	free(chunk);
	return f->op_err;
}
