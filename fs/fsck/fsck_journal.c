/*
 * fsck_journal.c: pass 1, the journal. Layer: the checker; the replay
 * itself is the storage layer's journal_replay (the mount's own rule: apply
 * committed transactions in order while they verify), so the log is parsed
 * in one place only.
 *
 * Decision for -n: the committed transactions are replayed into the image
 * view's overlay, in memory (journal_replay's apply callback), and every
 * later pass checks that replayed view: what the next mount will see.
 * Nothing is written; a pending replay is reported as information, not as
 * an error. With -y journal_replay writes the images home and empties the
 * log before any repair pass writes. A journal superblock that does not
 * verify cannot be replayed: it is reported, and -y starts an empty log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "fsck_int.h"
#include "storage_int.h"

static int overlay_apply(void *arg, uint64_t home, const void *image)
{
	struct fsck *f = arg;
	if (home >= f->sb.nblocks)
		return -EUCLEAN;
	return img_overlay(&f->im, home, image);
}

/* A fresh, empty journal: its superblock at the log's start (repair). */
static int reset_journal(struct fsck *f)
{
	const struct ef_super *s = &f->sb;
	uint8_t *blk = f->scratch;
	uint64_t seq;
	/* A new random sequence: stale transactions in the log never verify. */
	if (getrandom(&seq, sizeof(seq), 0) != sizeof(seq))
		seq = (uint64_t)s->write_time * 2654435761u + 1;
	seq >>= 1;
	memset(blk, 0, f->bs);
	struct ef_jsuper js = {
	    .version = EF_JOURNAL_VERSION, .seq = seq, .start = s->journal_start + 1};
	memcpy(blk, &js, sizeof(js));
	meta_seal(blk, f->bs, EF_MAGIC_JSUPER, s->journal_start);
	int rc = img_write(&f->im, s->journal_start, blk);
	return rc < 0 ? fsck_fail(f, rc, "writing the journal superblock: %s", strerror(-rc)) : 0;
}

int fsck_pass_journal(struct fsck *f)
{
	uint64_t ntx = 0;
	bool fix = fsck_repair(f);
	int rc = journal_replay(&f->im.disk, &f->sb, fix ? NULL : overlay_apply, f, &ntx);
	if (rc == -EUCLEAN) {
		fsck_note(f, FP_JOURNAL_BAD, fix && reset_journal(f) == 0,
			  "journal superblock damaged: the log cannot be replayed");
		return f->op_err;
	}
	if (rc < 0)
		return fsck_fail(f, rc, "replaying the journal: %s", strerror(-rc));
	if (!ntx)
		return 0;
	fsck_note(f, FP_JOURNAL, fix, "journal: %" PRIu64 " transactions %s", ntx,
		  fix ? "replayed" : "replayed in memory only (-n)");

	/* A replayed superblock is the current one: check that one. */
	uint8_t *blk = f->scratch;
	struct ef_super ns;
	char why[160];
	if (img_read(&f->im, 0, blk) < 0 || meta_verify(blk, f->bs, EF_MAGIC_SUPER, 0) < 0)
		return 0;
	memcpy(&ns, blk, sizeof(ns));
	if (memcmp(&ns, &f->sb, sizeof(ns)) == 0)
		return 0;
	if (super_check(&ns, f->im.size_bytes, why, sizeof(why)) == 0 &&
	    ns.nblocks == f->sb.nblocks && ns.ninodes == f->sb.ninodes &&
	    ns.block_size == f->sb.block_size && ns.data_start == f->sb.data_start)
		f->sb = ns;
	else {
		/* The checked one stays (every pass works on its geometry); -y
		   writes it back over the replayed copy. */
		fsck_note(f, FP_JOURNAL_BAD, fix,
			  "journal replays a superblock of another geometry%s",
			  fix ? "; the checked one kept" : "");
		f->sb_dirty = true;
	}
	return 0;
}
