/*
 * fsck_orphan.c: the orphan list (sb.orphan_head, chained through each
 * inode's orphan_next). Layer: the checker; reads inodes through
 * fsck_iread. Two steps: the scan before pass 2 marks the orphans (so -y
 * frees those with no links there, as the next mount would, and -n counts
 * them as alive), and pass 5 after pass 4 judges the list and, with -y,
 * rewrites it with the orphans still alive (a link count above zero: an
 * interrupted truncate, which the mount finishes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"

int fsck_scan_orphans(struct fsck *f)
{
	uint64_t cur = f->sb.orphan_head;
	while (cur && !f->op_err) {
		const char *why = NULL;
		struct ef_inode in;
		if (cur > f->sb.ninodes)
			why = "inode number out of range";
		else if (f->istate[cur] & IS_ORPHAN)
			why = "the list loops";
		else if (fsck_iread(f, cur, &in) < 0)
			break;
		else if (in.mode == 0)
			why = "names a free inode";
		if (why) {
			fsck_inote(f, cur, FP_ORPHAN, fsck_repair(f),
				   "orphan list at inode %" PRIu64 ": %s; list cut there", cur,
				   why);
			f->orphan_damaged = true;
			break;
		}
		uint64_t *n = realloc(f->orphans, (f->norphans + 1) * sizeof(*n));
		if (!n)
			return fsck_fail(f, -ENOMEM, "out of memory");
		f->orphans = n;
		f->orphans[f->norphans++] = cur;
		f->istate[cur] |= IS_ORPHAN;
		cur = in.orphan_next;
	}
	return f->op_err;
}

int fsck_pass_orphans(struct fsck *f)
{
	bool fix = fsck_repair(f), changed = f->orphan_damaged;
	size_t keep = 0;
	for (size_t i = 0; i < f->norphans && !f->op_err; i++) {
		uint64_t ino = f->orphans[i];
		uint16_t st = f->istate[ino];
		struct ef_inode in;
		if ((st & (IS_USED | IS_BAD)) != IS_USED) {
			changed = true; /* freed (pass 2 with -y) or cleared */
			continue;
		}
		if (fsck_iread(f, ino, &in) < 0)
			break;
		if (in.nlink == 0 && (st & IS_REACHED)) {
			/* Check mode only: with -y, pass 2 freed it before pass 4 could see its
			 * names. */
			fsck_inote(f, ino, FP_ORPHAN, false,
				   "orphan inode %" PRIu64
				   " has no links but is named in a directory",
				   ino);
		}
		f->orphans[keep++] = ino;
	}
	if (!fix || !changed || f->op_err)
		return f->op_err;
	/* Rewrite the chain with the survivors, in their order. */
	for (size_t i = 0; i < keep && !f->op_err; i++) {
		struct ef_inode in;
		if (fsck_iread(f, f->orphans[i], &in) < 0)
			break;
		in.orphan_next = i + 1 < keep ? f->orphans[i + 1] : 0;
		fsck_iwrite(f, f->orphans[i], &in);
	}
	f->sb.orphan_head = keep ? f->orphans[0] : 0;
	f->sb_dirty = true;
	return f->op_err;
}
