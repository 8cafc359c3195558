/*
 * test_inode_range.c: an inode whose fields are out of range on disk (a
 * damaged image: the fsck fuzzer found a size near 2^64) is refused with
 * EUCLEAN when it is loaded, instead of reaching code whose block
 * arithmetic overflows on it (file_seek looped for hours). A file exactly
 * as large as the limit still seeks, in bounded time.
 * Layer under test: fs/ns/inode.c (iload's range check) and fs/ns/bmap.c
 * (file_seek), through fs.h on an image file patched between mounts.
 */
#include "nstest.h"

#include <stdint.h>
#include <time.h>

enum { BS = 1024 };

/* Mounts a fresh image with one file holding a block of data at offset 0. */
static uint64_t make_file(struct nsimg *m)
{
	nsimg_make(m, "range.img", 4 * 1024 * 1024, BS, 256);
	struct fs *fs = nsimg_mount(m);
	uint64_t ino = ns_creat(fs, FS_ROOT_INO, "f");
	char blk[BS];
	memset(blk, 0x5a, sizeof(blk));
	ck_assert_int_eq(fs_write(fs, ino, blk, sizeof(blk), 0), sizeof(blk));
	fs_forget(fs, ino, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
	return ino;
}

/* Rewrites inode ino of the (unmounted, clean) image through edit, sealed again. */
static void patch_inode(struct nsimg *m, uint64_t ino, void (*edit)(struct ef_inode *, void *),
			void *arg)
{
	int fd = open(m->path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	struct ef_super sb;
	ck_assert_int_eq(pread(fd, &sb, sizeof(sb), 0), sizeof(sb));
	uint64_t ipb = EF_INODES_PER_BLOCK(BS);
	uint64_t blk = sb.itable_start + ino / ipb;
	uint8_t b[BS];
	ck_assert_int_eq(pread(fd, b, BS, (off_t)(blk * BS)), BS);
	ck_assert_int_eq(meta_verify(b, BS, EF_MAGIC_ITABLE, blk), 0);
	struct ef_inode in;
	uint8_t *at = b + sizeof(struct ef_blkhdr) + (ino % ipb) * EF_INODE_SIZE;
	memcpy(&in, at, sizeof(in));
	edit(&in, arg);
	memcpy(at, &in, sizeof(in));
	meta_seal(b, BS, EF_MAGIC_ITABLE, blk);
	ck_assert_int_eq(pwrite(fd, b, BS, (off_t)(blk * BS)), BS);
	close(fd);
}

static void set_size(struct ef_inode *in, void *arg)
{
	in->size = *(uint64_t *)arg;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The inode is refused on every path that loads it, and quickly. */
static void expect_refused(struct nsimg *m, uint64_t ino)
{
	struct fs *fs = nsimg_mount(m);
	fs_attr_t a;
	double t0 = now_s();
	/* From block 1 on all is hole: before the check this walked ~2^54
	   blocks, 2^31 at a time, then wrapped (the test's timeout). */
	ck_assert_int_eq(fs_lseek(fs, ino, BS, SEEK_DATA), -EUCLEAN);
	ck_assert_int_eq(fs_lseek(fs, ino, 0, SEEK_HOLE), -EUCLEAN);
	ck_assert_int_eq(fs_getattr(fs, ino, &a), -EUCLEAN);
	ck_assert_int_eq(fs_lookup(fs, FS_ROOT_INO, "f", &a), -EUCLEAN);
	ck_assert_double_lt(now_s() - t0, 2.0);
	ck_assert_int_eq(fs_unmount(fs), 0);
}

/* Sizes fsck calls "beyond the largest file", as the fuzzer's image had. */
START_TEST(size_beyond_limit_is_euclean)
{
	struct nsimg m;
	uint64_t ino = make_file(&m);
	static const uint64_t sizes[] = {UINT64_MAX - 5, (1ull << 63) + 1,
					 EF_MAX_FILE_BLOCKS * BS + 1};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t s = sizes[i];
		patch_inode(&m, ino, set_size, &s);
		expect_refused(&m, ino);
	}
}
END_TEST

static void bad_mode(struct ef_inode *in, void *arg)
{
	in->mode = *(uint32_t *)arg;
}

static void bad_xattr(struct ef_inode *in, void *arg)
{
	in->xattr_block = *(uint64_t *)arg;
}

/* Other fields out of range: an unknown file type, stray mode bits, an
   xattr block outside the device, a directory size not in whole blocks, a
   symlink of length 0. */
START_TEST(other_fields_out_of_range_are_euclean)
{
	struct nsimg m;
	uint64_t ino = make_file(&m);
	uint32_t modes[] = {0170000 | 0644, S_IFREG | 0200000 | 0644};
	for (size_t i = 0; i < 2; i++) {
		patch_inode(&m, ino, bad_mode, &modes[i]);
		expect_refused(&m, ino);
	}
	uint32_t reg = S_IFREG | 0644;
	patch_inode(&m, ino, bad_mode, &reg);
	uint64_t far = UINT64_MAX / 2;
	patch_inode(&m, ino, bad_xattr, &far);
	expect_refused(&m, ino);
	uint64_t none = 0;
	patch_inode(&m, ino, bad_xattr, &none);
	uint32_t dir = S_IFDIR | 0755;
	patch_inode(&m, ino, bad_mode, &dir);
	uint64_t odd = BS + 1;
	patch_inode(&m, ino, set_size, &odd);
	expect_refused(&m, ino);
	/* And back to sane: the same inode loads again. */
	patch_inode(&m, ino, bad_mode, &reg);
	uint64_t one = BS;
	patch_inode(&m, ino, set_size, &one);
	struct fs *fs = nsimg_mount(&m);
	fs_attr_t a;
	ck_assert_int_eq(fs_getattr(fs, ino, &a), 0);
	ck_assert_int_eq(a.st_size, BS);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* A file exactly EF_MAX_FILE_BLOCKS long (data in block 0, the rest a
   hole) loads, and SEEK_HOLE/SEEK_DATA answer at once over the whole hole
   (docs/semantics.md has no rule here: the lseek(2) contract). */
START_TEST(largest_file_seeks_in_bounded_time)
{
	struct nsimg m;
	uint64_t ino = make_file(&m);
	struct fs *fs = nsimg_mount(&m);
	fs_attr_t in = {.st_size = (off_t)(EF_MAX_FILE_BLOCKS * BS)}, out;
	ck_assert_int_eq(fs_setattr(fs, ino, &in, FS_SET_SIZE, &out), 0);
	ck_assert_uint_eq((uint64_t)out.st_size, EF_MAX_FILE_BLOCKS * BS);
	ck_assert_int_eq(
	    fs_setattr(fs, ino, &(fs_attr_t){.st_size = out.st_size + 1}, FS_SET_SIZE, &out),
	    -EFBIG);
	ck_assert_int_eq(fs_unmount(fs), 0);
	fs = nsimg_mount(&m); /* loaded from disk, through the range check */
	double t0 = now_s();
	ck_assert_int_eq(fs_lseek(fs, ino, 0, SEEK_DATA), 0);
	ck_assert_int_eq(fs_lseek(fs, ino, 0, SEEK_HOLE), BS);
	ck_assert_int_eq(fs_lseek(fs, ino, BS, SEEK_DATA), -ENXIO);
	ck_assert_int_eq(fs_lseek(fs, ino, (off_t)(EF_MAX_FILE_BLOCKS * BS) - 1, SEEK_HOLE),
			 (off_t)(EF_MAX_FILE_BLOCKS * BS) - 1);
	ck_assert_int_eq(fs_lseek(fs, ino, (off_t)(EF_MAX_FILE_BLOCKS * BS), SEEK_HOLE), -ENXIO);
	ck_assert_double_lt(now_s() - t0, 2.0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("inode_range");
	TCase *tc = tcase_create("inode_range");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, size_beyond_limit_is_euclean);
	tcase_add_test(tc, other_fields_out_of_range_are_euclean);
	tcase_add_test(tc, largest_file_seeks_in_bounded_time);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
