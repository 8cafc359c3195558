/*
 * test_xattr.c: extended attributes (user., trusted., security.) through
 * fs.h: set/get/list/remove, XATTR_CREATE and XATTR_REPLACE, the errors
 * (ENODATA, ERANGE, E2BIG, ENOSPC, EEXIST, EOPNOTSUPP), persistence, and
 * the block freed with its inode. And ENOSPC on a full filesystem that
 * stays consistent (fsck -n clean, space back after removal).
 */
#include <sys/xattr.h>

#include "nstest.h"

#define MB (1024 * 1024ull)

START_TEST(xattr_basic)
{
	struct nsimg img;
	nsimg_make(&img, "x.img", 16 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fb = ns_free_blocks(fs);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	char buf[256];
	ck_assert_int_eq(fs_getxattr(fs, f, "user.a", buf, sizeof(buf)), -ENODATA);
	ck_assert_int_eq(fs_listxattr(fs, f, buf, sizeof(buf)), 0);
	ck_assert_int_eq(fs_setxattr(fs, f, "user.a", "hello", 5, 0), 0);
	ck_assert_int_eq(fs_setxattr(fs, f, "trusted.t", "T", 1, XATTR_CREATE), 0);
	ck_assert_int_eq(fs_setxattr(fs, f, "security.s", "", 0, 0), 0);
	ck_assert_int_eq(fs_getxattr(fs, f, "user.a", NULL, 0), 5);
	ck_assert_int_eq(fs_getxattr(fs, f, "user.a", buf, 4), -ERANGE);
	ck_assert_int_eq(fs_getxattr(fs, f, "user.a", buf, sizeof(buf)), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	ck_assert_int_eq(fs_getxattr(fs, f, "security.s", buf, sizeof(buf)), 0);
	/* flags */
	ck_assert_int_eq(fs_setxattr(fs, f, "user.a", "x", 1, XATTR_CREATE), -EEXIST);
	ck_assert_int_eq(fs_setxattr(fs, f, "user.b", "x", 1, XATTR_REPLACE), -ENODATA);
	ck_assert_int_eq(fs_setxattr(fs, f, "user.a", "replaced", 8, XATTR_REPLACE), 0);
	ck_assert_int_eq(fs_getxattr(fs, f, "user.a", buf, sizeof(buf)), 8);
	/* list */
	const char want[] = "trusted.t\0security.s\0user.a";
	ck_assert_int_eq(fs_listxattr(fs, f, NULL, 0), sizeof(want));
	ck_assert_int_eq(fs_listxattr(fs, f, buf, 5), -ERANGE);
	ck_assert_int_eq(fs_listxattr(fs, f, buf, sizeof(buf)), sizeof(want));
	ck_assert(memcmp(buf, want, sizeof(want)) == 0);
	/* errors */
	ck_assert_int_eq(fs_setxattr(fs, f, "other.x", "x", 1, 0), -EOPNOTSUPP);
	ck_assert_int_eq(fs_getxattr(fs, f, "other.x", buf, sizeof(buf)), -ENODATA);
	static char big[8192];
	ck_assert_int_eq(fs_setxattr(fs, f, "user.big", big, sizeof(big), 0), -E2BIG);
	ck_assert_int_eq(fs_setxattr(fs, f, "user.big1", big, 2500, 0), 0);
	ck_assert_int_eq(fs_setxattr(fs, f, "user.big2", big, 2000, 0), -ENOSPC);
	ck_assert_int_eq(fs_removexattr(fs, f, "user.nope"), -ENODATA);
	ck_assert_int_eq(fs_removexattr(fs, f, "trusted.t"), 0);
	ck_assert_int_eq(fs_getxattr(fs, f, "trusted.t", buf, sizeof(buf)), -ENODATA);
	/* on directories too; and they persist */
	ck_assert_int_eq(fs_setxattr(fs, FS_ROOT_INO, "user.dir", "d", 1, 0), 0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
	fs = nsimg_mount(&img);
	ck_assert_int_eq(fs_getxattr(fs, f, "user.a", buf, sizeof(buf)), 8);
	ck_assert(memcmp(buf, "replaced", 8) == 0);
	ck_assert_int_eq(fs_getxattr(fs, f, "user.big1", NULL, 0), 2500);
	ck_assert_int_eq(fs_getxattr(fs, FS_ROOT_INO, "user.dir", buf, sizeof(buf)), 1);
	/* the block goes with the inode */
	ck_assert_int_eq(fs_removexattr(fs, FS_ROOT_INO, "user.dir"), 0);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "f"), 0);
	ck_assert_uint_ge(ns_free_blocks(fs), fb - 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* A full filesystem: writes end short or with ENOSPC, creates with ENOSPC,
   and everything stays consistent; removing the files gives the space back. */
START_TEST(enospc_consistent)
{
	struct nsimg img;
	nsimg_make(&img, "full.img", 8 * MB, 4096, 256);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fb = ns_free_blocks(fs), fi = ns_free_inodes(fs);
	static char buf[256 * 1024];
	memset(buf, 0x3c, sizeof(buf));
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "big");
	off_t off = 0;
	ssize_t n;
	while ((n = fs_write(fs, f, buf, sizeof(buf), off)) > 0)
		off += n;
	ck_assert_int_eq(n, -ENOSPC);
	ck_assert_int_gt(off, 4 * MB);
	fs_attr_t a;
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_size, off);
	/* new names: ENOSPC once no block is left for a directory's growth or an inode */
	char name[32];
	int made = 0, r = 0;
	for (int i = 0; i < 400 && r == 0; i++) {
		snprintf(name, sizeof(name), "d%03d", i);
		r = fs_mkdir(fs, FS_ROOT_INO, name, 0755, 0, 0, &a);
		if (r == 0) {
			fs_forget(fs, a.st_ino, 1);
			made++;
		}
	}
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
	fs = nsimg_mount(&img);
	ck_assert_int_eq(fs_read(fs, f, buf, sizeof(buf), off - (off_t)sizeof(buf)), sizeof(buf));
	ck_assert_int_eq(buf[0], 0x3c);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "big"), 0);
	for (int i = 0; i < made; i++) {
		snprintf(name, sizeof(name), "d%03d", i);
		ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, name), 0);
	}
	ck_assert_uint_eq(ns_free_inodes(fs), fi);
	/* the root directory keeps the buckets it grew */
	ck_assert_uint_ge(ns_free_blocks(fs) + 16, fb);
	uint64_t g = ns_creat(fs, FS_ROOT_INO, "again");
	ck_assert_int_eq(fs_write(fs, g, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xattr");
	TCase *tc = tcase_create("xattr");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, xattr_basic);
	tcase_add_test(tc, enospc_consistent);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
