/*
 * fsck_xattr.c: an inode's xattr block (format: layout.h, struct
 * ef_xattr_head / ef_xattr_entry). Layer: the checker; reads through the
 * image view. Repair policy (the caller's): a block that does not verify or
 * parse is dropped from the inode; its block is then freed by pass 6.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"

/* Why the entries of a verified block do not parse, or NULL. */
static const char *entries_bad(const uint8_t *blk, uint32_t bs)
{
	struct ef_xattr_head h;
	memcpy(&h, blk, sizeof(h));
	if (h.used > bs - sizeof(h))
		return "entries overrun the block";
	const uint8_t *p = blk + sizeof(h), *end = p + h.used;
	uint32_t n = 0;
	while (p < end) {
		struct ef_xattr_entry e;
		if ((size_t)(end - p) < sizeof(e))
			return "truncated entry";
		memcpy(&e, p, sizeof(e));
		if (e.index < EF_XATTR_USER || e.index > EF_XATTR_SYSTEM)
			return "unknown namespace";
		if (e.name_len == 0)
			return "empty name";
		size_t len = sizeof(e) + e.name_len + (size_t)e.value_len;
		if (len > (size_t)(end - p))
			return "entry overruns the block";
		if (memchr(p + sizeof(e), '\0', e.name_len))
			return "name holds a NUL";
		p += len;
		n++;
	}
	return n == h.count ? NULL : "entry count wrong";
}

bool fsck_check_xattr(struct fsck *f, uint64_t ino, uint64_t blockno)
{
	const struct ef_super *s = &f->sb;
	const char *why = NULL;
	uint8_t *blk = malloc(f->bs);
	if (!blk) {
		fsck_fail(f, -ENOMEM, "out of memory");
		return false;
	}
	if (blockno < s->data_start || blockno >= s->nblocks - 1)
		why = "outside the data area";
	else if (bit_test(f->breach, blockno))
		why = "block already in use";
	else if (img_read(&f->im, blockno, blk) < 0 ||
		 meta_verify(blk, f->bs, EF_MAGIC_XATTR, blockno) < 0)
		why = "block does not verify";
	else
		why = entries_bad(blk, f->bs);
	free(blk);
	if (why) {
		fsck_inote(f, ino, FP_XATTR_BAD, fsck_repair(f),
			   "inode %" PRIu64 ": xattr block %" PRIu64 ": %s; xattrs dropped", ino,
			   blockno, why);
		return false;
	}
	fsck_claim(f, blockno, 1);
	return true;
}
