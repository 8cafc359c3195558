/* test_alloc: the block and inode allocator: contiguous extents near the
   goal, -ENOSPC when full with everything consistent, blocks freed in a
   transaction not reused before it is checkpointed (storage.h), free
   counts exact and persistent, double frees refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_testlib.h"

#define BS 4096u

static struct storage *open_img(const char *img)
{
	struct storage *st;
	char err[256];
	ck_assert_msg(storage_open(img, false, &st, err, sizeof(err)) == 0, "%s", err);
	return st;
}

static struct tx *begin(struct storage *st)
{
	struct tx *tx;
	ck_assert_int_eq(tx_begin(st->journal, 16, &tx), 0);
	return tx;
}

START_TEST(contiguous_near_goal)
{
	const char *img = st_path("a.img");
	st_mkfs(img, 64u << 20, BS, 0);
	struct storage *st = open_img(img);
	uint64_t fb0, fi0, start, got, fb;
	alloc_counts(st->alloc, &fb0, &fi0);
	ck_assert_uint_eq(fb0, st->sb.nblocks - 1 - st->sb.data_start);
	struct tx *tx = begin(st);
	ck_assert_int_eq(balloc(st->alloc, tx, 0, 100, &start, &got), 0);
	ck_assert_uint_eq(got, 100);
	ck_assert_uint_ge(start, st->sb.data_start);
	/* the next allocation near the end of the first is right after it */
	uint64_t s2, g2;
	ck_assert_int_eq(balloc(st->alloc, tx, start + 100, 50, &s2, &g2), 0);
	ck_assert_uint_eq(s2, start + 100);
	ck_assert_uint_eq(g2, 50);
	/* a goal far away is honoured */
	uint64_t goal = st->sb.data_start + 5000;
	ck_assert_int_eq(balloc(st->alloc, tx, goal, 10, &s2, &g2), 0);
	ck_assert_uint_eq(s2, goal);
	ck_assert_int_eq(tx_end(tx), 0);
	alloc_counts(st->alloc, &fb, NULL);
	ck_assert_uint_eq(fb, fb0 - 160);
	ck_assert_int_eq(storage_close(st), 0);
	/* counts survive a remount (recomputed from the bitmaps) */
	st = open_img(img);
	alloc_counts(st->alloc, &fb, NULL);
	ck_assert_uint_eq(fb, fb0 - 160);
	ck_assert_uint_eq(st->sb.free_blocks, fb0 - 160);
	/* the blocks are still in use: allocating at the goal skips them */
	tx = begin(st);
	ck_assert_int_eq(balloc(st->alloc, tx, start, 1, &s2, &g2), 0);
	ck_assert_uint_eq(s2, start + 150);
	ck_assert_int_eq(tx_end(tx), 0);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

START_TEST(enospc_when_full_and_consistent)
{
	const char *img = st_path("a.img");
	st_mkfs(img, 4u << 20, 1024, 0);
	struct storage *st = open_img(img);
	uint64_t fb0, total = 0, start, got;
	alloc_counts(st->alloc, &fb0, NULL);
	for (;;) {
		struct tx *tx = begin(st);
		int rc = balloc(st->alloc, tx, 0, 300, &start, &got);
		ck_assert_int_eq(tx_end(tx), 0);
		if (rc == -ENOSPC)
			break;
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_ge(start, st->sb.data_start);
		ck_assert_uint_lt(start + got, st->sb.nblocks); /* never the backup sb */
		total += got;
	}
	ck_assert_uint_eq(total, fb0);
	uint64_t fb;
	alloc_counts(st->alloc, &fb, NULL);
	ck_assert_uint_eq(fb, 0);
	ck_assert_int_eq(storage_close(st), 0);
	st = open_img(img);
	alloc_counts(st->alloc, &fb, NULL);
	ck_assert_uint_eq(fb, 0);
	struct tx *tx = begin(st);
	ck_assert_int_eq(balloc(st->alloc, tx, 0, 1, &start, &got), -ENOSPC);
	ck_assert_int_eq(tx_end(tx), 0);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

START_TEST(freed_blocks_not_reused_before_checkpoint)
{
	const char *img = st_path("a.img");
	st_mkfs(img, 4u << 20, 1024, 0);
	struct storage *st = open_img(img);
	uint64_t fb0, start, got, s2, g2;
	alloc_counts(st->alloc, &fb0, NULL);
	/* fill the filesystem */
	struct tx *tx = begin(st);
	ck_assert_int_eq(balloc(st->alloc, tx, 0, 10, &start, &got), 0);
	ck_assert_int_eq(tx_end(tx), 0);
	for (;;) {
		tx = begin(st);
		int rc = balloc(st->alloc, tx, 0, 500, &s2, &g2);
		ck_assert_int_eq(tx_end(tx), 0);
		if (rc)
			break;
	}
	tx = begin(st);
	ck_assert_int_eq(bfree(st->alloc, tx, start, got), 0);
	/* freed in the running transaction: counted free, not reusable */
	uint64_t fb;
	alloc_counts(st->alloc, &fb, NULL);
	ck_assert_uint_eq(fb, got);
	ck_assert_uint_eq(alloc_pending_blocks(st->alloc), got);
	ck_assert_int_eq(balloc(st->alloc, tx, start, 1, &s2, &g2), -ENOSPC);
	ck_assert_int_eq(tx_end(tx), 0);
	/* committed (even durably) is not enough: an older image could be replayed */
	ck_assert_int_eq(journal_commit(st->journal, true), 0);
	tx = begin(st);
	ck_assert_int_eq(balloc(st->alloc, tx, start, 1, &s2, &g2), -ENOSPC);
	ck_assert_int_eq(tx_end(tx), 0);
	/* after the checkpoint they come back */
	ck_assert_int_eq(storage_reclaim(st), 0);
	ck_assert_uint_eq(alloc_pending_blocks(st->alloc), 0);
	tx = begin(st);
	ck_assert_int_eq(balloc(st->alloc, tx, start, got, &s2, &g2), 0);
	ck_assert_uint_eq(s2, start);
	ck_assert_uint_eq(g2, got);
	ck_assert_int_eq(tx_end(tx), 0);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

START_TEST(double_free_and_range_refused)
{
	const char *img = st_path("a.img");
	st_mkfs(img, 8u << 20, BS, 0);
	struct storage *st = open_img(img);
	uint64_t start, got, fb0, fb;
	struct tx *tx = begin(st);
	ck_assert_int_eq(balloc(st->alloc, tx, 0, 4, &start, &got), 0);
	ck_assert_int_eq(bfree(st->alloc, tx, start, 4), 0);
	alloc_counts(st->alloc, &fb0, NULL);
	ck_assert_int_eq(bfree(st->alloc, tx, start, 4), -EUCLEAN);
	ck_assert_int_eq(bfree(st->alloc, tx, start + 2, 10), -EUCLEAN);	/* partly free */
	ck_assert_int_eq(bfree(st->alloc, tx, 0, 1), -EINVAL);			/* superblock */
	ck_assert_int_eq(bfree(st->alloc, tx, st->sb.nblocks - 1, 1), -EINVAL); /* backup */
	ck_assert_int_eq(bfree(st->alloc, tx, st->sb.data_start, UINT64_MAX), -EINVAL);
	alloc_counts(st->alloc, &fb, NULL);
	ck_assert_uint_eq(fb, fb0); /* nothing changed */
	ck_assert_int_eq(tx_end(tx), 0);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

START_TEST(inodes_until_enospc)
{
	const char *img = st_path("a.img");
	st_mkfs(img, 8u << 20, BS, 100);
	struct storage *st = open_img(img);
	uint64_t fi0, fi;
	alloc_counts(st->alloc, NULL, &fi0);
	ck_assert_uint_eq(fi0, 100);
	uint8_t seen[101] = {0};
	for (int i = 0; i < 100; i++) {
		struct tx *tx = begin(st);
		uint64_t ino;
		ck_assert_int_eq(ialloc(st->alloc, tx, &ino), 0);
		ck_assert_uint_ge(ino, 1);
		ck_assert_uint_le(ino, 100);
		ck_assert(!seen[ino]);
		seen[ino] = 1;
		ck_assert_int_eq(tx_end(tx), 0);
	}
	struct tx *tx = begin(st);
	uint64_t ino;
	ck_assert_int_eq(ialloc(st->alloc, tx, &ino), -ENOSPC);
	ck_assert_int_eq(ifree(st->alloc, tx, 37), 0);
	ck_assert_int_eq(ifree(st->alloc, tx, 37), -EUCLEAN);
	ck_assert_int_eq(ifree(st->alloc, tx, 0), -EINVAL);
	ck_assert_int_eq(ifree(st->alloc, tx, 101), -EINVAL);
	ck_assert_int_eq(ialloc(st->alloc, tx, &ino), 0);
	ck_assert_uint_eq(ino, 37);
	ck_assert_int_eq(ifree(st->alloc, tx, 5), 0);
	ck_assert_int_eq(tx_end(tx), 0);
	ck_assert_int_eq(storage_close(st), 0);
	st = open_img(img);
	alloc_counts(st->alloc, NULL, &fi);
	ck_assert_uint_eq(fi, 1);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("alloc");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, contiguous_near_goal);
	tcase_add_test(tc, enospc_when_full_and_consistent);
	tcase_add_test(tc, freed_blocks_not_reused_before_checkpoint);
	tcase_add_test(tc, double_free_and_range_refused);
	tcase_add_test(tc, inodes_until_enospc);
	suite_add_tcase(s, tc);
	return st_run(s);
}
