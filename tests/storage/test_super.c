/* test_super: the superblock as damaged input. Every field of the
   superblock is corrupted in turn (re-sealed, so the range checks and not
   the checksum must catch it): mount never crashes and either refuses with
   a reason or works; wrong magic/version/crc, a truncated image, and the
   fallback to the backup superblock (nblocks - 1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_testlib.h"

#define SZ (16u << 20)
#define BS 4096u

static void reseal_super(const char *img, uint64_t blockno, void (*fn)(struct ef_super *, void *),
			 void *arg)
{
	uint8_t blk[BS];
	st_read_block(img, BS, blockno, blk);
	struct ef_super sb;
	memcpy(&sb, blk, sizeof(sb));
	fn(&sb, arg);
	memcpy(blk, &sb, sizeof(sb));
	meta_seal(blk, BS, EF_MAGIC_SUPER, blockno);
	st_write_block(img, BS, blockno, blk);
}

START_TEST(open_close_states_and_counts)
{
	const char *img = st_path("a.img");
	st_mkfs(img, SZ, BS, 0);
	struct storage *st;
	char err[256];
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), 0);
	ck_assert(!st->sb_from_backup);
	ck_assert_uint_eq(st->sb.block_size, BS);
	ck_assert_uint_eq(st->sb.nblocks, SZ / BS);
	ck_assert_uint_eq(st->sb.mount_count, 1);
	/* on disk: dirty while open */
	uint8_t blk[BS];
	st_read_block(img, BS, 0, blk);
	ck_assert_int_eq(meta_verify(blk, BS, EF_MAGIC_SUPER, 0), 0);
	ck_assert_uint_eq(((struct ef_super *)blk)->state, EF_STATE_DIRTY);
	/* a second writer is refused while open (flock) */
	struct storage *st2;
	ck_assert_int_eq(storage_open(img, false, &st2, err, sizeof(err)), -EBUSY);
	ck_assert_msg(strstr(err, "in use"), "%s", err);
	ck_assert_int_eq(storage_close(st), 0);
	st_read_block(img, BS, 0, blk);
	ck_assert_uint_eq(((struct ef_super *)blk)->state, EF_STATE_CLEAN);
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), 0);
	ck_assert_uint_eq(st->sb.mount_count, 2);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

START_TEST(not_eiocbfs_refused)
{
	const char *img = st_path("zero.img");
	FILE *f = fopen(img, "w");
	ck_assert(f && ftruncate(fileno(f), SZ) == 0);
	fclose(f);
	struct storage *st;
	char err[256] = "";
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "not an eiocbfs filesystem"), "%s", err);
}
END_TEST

static void set_version(struct ef_super *sb, void *arg)
{
	sb->version = *(uint32_t *)arg;
}

START_TEST(bad_crc_falls_back_to_backup_and_repairs_primary)
{
	const char *img = st_path("a.img");
	st_mkfs(img, SZ, BS, 0);
	uint8_t b = 0x5a;
	st_pwrite(img, &b, 1, 100); /* inside the primary: crc no longer matches */
	struct storage *st;
	char err[256] = "";
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), 0);
	ck_assert(st->sb_from_backup);
	ck_assert_int_eq(storage_close(st), 0);
	/* the primary was rewritten from the backup */
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), 0);
	ck_assert(!st->sb_from_backup);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

START_TEST(bad_version_in_both_refused)
{
	const char *img = st_path("a.img");
	st_mkfs(img, SZ, BS, 0);
	uint32_t v = 99;
	reseal_super(img, 0, set_version, &v);
	struct storage *st;
	char err[256] = "";
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), 0);
	ck_assert(st->sb_from_backup); /* the backup is still good */
	ck_assert_msg(strstr(err, "version 99"), "%s", err);
	ck_assert_int_eq(storage_close(st), 0);
	reseal_super(img, 0, set_version, &v);
	reseal_super(img, SZ / BS - 1, set_version, &v);
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "version 99"), "%s", err);
}
END_TEST

START_TEST(bad_magic_in_both_refused)
{
	const char *img = st_path("a.img");
	st_mkfs(img, SZ, BS, 0);
	uint32_t m = 0x12345678;
	st_pwrite(img, &m, 4, 0);
	st_pwrite(img, &m, 4, SZ - BS);
	struct storage *st;
	char err[256] = "";
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "no magic"), "%s", err);
}
END_TEST

START_TEST(truncated_image_refused)
{
	const char *img = st_path("a.img");
	st_mkfs(img, SZ, BS, 0);
	ck_assert_int_eq(truncate(img, SZ / 2), 0);
	struct storage *st;
	char err[256] = "";
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "do not fit"), "%s", err);
	/* cut inside the metadata, too */
	ck_assert_int_eq(truncate(img, 3 * BS), 0);
	ck_assert_int_eq(storage_open(img, false, &st, err, sizeof(err)), -EUCLEAN);
}
END_TEST

struct poke {
	size_t off;
	uint8_t val;
};

static void poke(struct ef_super *sb, void *arg)
{
	struct poke *p = arg;
	((uint8_t *)sb)[p->off] = p->val;
}

/* Every byte of every field, several values, in both copies: never a
   crash (the sanitizer build checks memory), a refusal has a reason. */
START_TEST(every_field_corrupted)
{
	const char *img = st_path("a.img");
	st_mkfs(img, SZ, BS, 0);
	uint8_t b0[BS], bl[BS];
	st_read_block(img, BS, 0, b0);
	st_read_block(img, BS, SZ / BS - 1, bl);
	static const uint8_t vals[] = {0x00, 0xff, 0x01, 0x80, 0x7f};
	int refused = 0, opened = 0;
	for (size_t off = sizeof(struct ef_blkhdr); off < sizeof(struct ef_super); off++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			struct poke p = {off, vals[v]};
			reseal_super(img, 0, poke, &p);
			reseal_super(img, SZ / BS - 1, poke, &p);
			struct storage *st;
			char err[256] = "";
			int rc = storage_open(img, false, &st, err, sizeof(err));
			if (rc == 0) {
				opened++;
				struct tx *tx;
				/* a transaction still works on what was accepted */
				if (tx_begin(st->journal, 4, &tx) == 0) {
					super_write(st, tx);
					tx_end(tx);
				}
				storage_close(st);
			} else {
				refused++;
				ck_assert_msg(err[0], "refusal without a reason (off %zu)", off);
			}
			st_write_block(img, BS, 0, b0);
			st_write_block(img, BS, SZ / BS - 1, bl);
		}
	}
	ck_assert_int_gt(refused, 100);
	ck_assert_int_gt(opened, 100);
}
END_TEST

START_TEST(super_check_ranges)
{
	struct ef_super sb;
	char why[160];
	ck_assert_int_eq(super_layout(SZ, BS, 0, &sb, why, sizeof(why)), 0);
	ck_assert_int_eq(super_check(&sb, SZ, why, sizeof(why)), 0);
	struct ef_super s = sb;
	s.itable_start = sb.journal_start; /* overlap */
	ck_assert_int_eq(super_check(&s, SZ, why, sizeof(why)), -EUCLEAN);
	s = sb;
	s.journal_len = UINT64_MAX - 1; /* overflow bait */
	ck_assert_int_eq(super_check(&s, SZ, why, sizeof(why)), -EUCLEAN);
	s = sb;
	s.data_start = sb.nblocks; /* no data area */
	ck_assert_int_eq(super_check(&s, SZ, why, sizeof(why)), -EUCLEAN);
	s = sb;
	s.bbitmap_len = 0;
	ck_assert_int_eq(super_check(&s, SZ, why, sizeof(why)), -EUCLEAN);
	s = sb;
	s.block_size = 3000;
	ck_assert_int_eq(super_check(&s, SZ, why, sizeof(why)), -EUCLEAN);
	s = sb;
	s.features_incompat = 1;
	ck_assert_int_eq(super_check(&s, SZ, why, sizeof(why)), -EUCLEAN);
	ck_assert_msg(strstr(why, "incompatible"), "%s", why);
	ck_assert_int_eq(super_check(&sb, SZ - BS, why, sizeof(why)), -EUCLEAN);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("super");
	TCase *tc = tcase_create("super");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, open_close_states_and_counts);
	tcase_add_test(tc, not_eiocbfs_refused);
	tcase_add_test(tc, bad_crc_falls_back_to_backup_and_repairs_primary);
	tcase_add_test(tc, bad_version_in_both_refused);
	tcase_add_test(tc, bad_magic_in_both_refused);
	tcase_add_test(tc, truncated_image_refused);
	tcase_add_test(tc, every_field_corrupted);
	tcase_add_test(tc, super_check_ranges);
	suite_add_tcase(s, tc);
	return st_run(s);
}
