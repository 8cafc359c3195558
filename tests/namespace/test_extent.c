/*
 * test_extent.c: the block map (fs/ns/extent.c) and the file data layer over
 * it: contiguous allocation, a tree several levels deep, truncate (zeros
 * after growth), fallocate (mode 0, KEEP_SIZE, PUNCH_HOLE), SEEK_DATA and
 * SEEK_HOLE, sparse files beyond 4 GiB, and random operations checked
 * against an in-memory model, across a remount; fsck -n after each.
 */
#include <linux/falloc.h>

#include "nstest.h"

#define MB (1024 * 1024ull)
#define GB (1024 * MB)

/* Every byte of buf[0, n) is v (one assertion, not one per byte: Check logs each). */
static bool all_are(const void *buf, size_t n, uint8_t v)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Walk the map of ino from block 0 to end: mapped extents and blocks. */
static void map_stats(struct fs *fs, uint64_t ino, uint64_t end, uint64_t *extents,
		      uint64_t *blocks, unsigned *depth)
{
	struct inode *ip;
	ck_assert_int_eq(iget(fs, ino, &ip), 0);
	ck_assert_int_eq(ilock_shared(ip), 0);
	*extents = *blocks = 0;
	for (uint64_t l = 0; l < end;) {
		struct ef_extent e;
		ck_assert_int_eq(extent_map(ip, l, &e), 0);
		ck_assert_uint_le(e.lblk, l);
		ck_assert_uint_gt(e.lblk + e.len, l);
		if (e.pblk) {
			/* count an extent once, at its first block visited */
			(*extents)++;
			*blocks += e.lblk + e.len - l;
		}
		l = e.lblk + e.len;
	}
	*depth = ip->d.u.map.hdr.depth;
	iunlock(ip);
	iput(ip);
}

/* A sequential write lands in one extent (contiguity). */
START_TEST(contiguous)
{
	struct nsimg img;
	nsimg_make(&img, "contig.img", 64 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	static char buf[256 * 1024];
	for (int i = 0; i < 32; i++) {
		memset(buf, i, sizeof(buf));
		ck_assert_int_eq(fs_write(fs, f, buf, sizeof(buf), (off_t)i * sizeof(buf)),
				 sizeof(buf));
	}
	uint64_t ext, blocks;
	unsigned depth;
	map_stats(fs, f, 2048, &ext, &blocks, &depth);
	ck_assert_uint_eq(blocks, 2048);
	ck_assert_uint_le(ext, 2);
	fs_attr_t a;
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_size, 8 * MB);
	ck_assert_int_eq(a.st_blocks, 8 * MB / 512);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* Every other block written on a 1 KiB-block fs: thousands of extents, a tree
   of depth >= 2; all readable; punching everything frees every block. */
START_TEST(deep_tree)
{
	struct nsimg img;
	nsimg_make(&img, "deep.img", 64 * MB, 1024, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fb = ns_free_blocks(fs);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	enum { N = 3000 };
	char blk[1024];
	for (int i = 0; i < N; i++) {
		memset(blk, (char)(i * 7 + 1), sizeof(blk));
		/* in a scattered order, so inserts land in the middle of the tree */
		int j = (int)((i * 1237L) % N);
		memset(blk, (char)(j * 7 + 1), sizeof(blk));
		ck_assert_int_eq(fs_write(fs, f, blk, sizeof(blk), (off_t)j * 2048), sizeof(blk));
	}
	uint64_t ext, blocks;
	unsigned depth;
	map_stats(fs, f, 2 * N, &ext, &blocks, &depth);
	ck_assert_uint_eq(blocks, N);
	ck_assert_uint_eq(ext, N);
	ck_assert_uint_ge(depth, 2);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
	fs = nsimg_mount(&img);
	for (int j = 0; j < N; j++) {
		char got[2048];
		ck_assert_int_eq(fs_read(fs, f, got, sizeof(got), (off_t)j * 2048),
				 j == N - 1 ? 1024 : 2048);
		ck_assert(all_are(got, 1024, (uint8_t)(j * 7 + 1)));
		if (j < N - 1)
			ck_assert(all_are(got + 1024, 1024, 0));
	}
	ck_assert_int_eq(
	    fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)N * 2048), 0);
	map_stats(fs, f, 2 * N, &ext, &blocks, &depth);
	ck_assert_uint_eq(blocks, 0);
	fs_attr_t a;
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_blocks, 0);
	ck_assert_uint_eq(ns_free_blocks(fs), fb);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

START_TEST(truncate_zeros)
{
	struct nsimg img;
	nsimg_make(&img, "trunc.img", 32 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fb = ns_free_blocks(fs);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	static char buf[100000], got[100000];
	memset(buf, 0xab, sizeof(buf));
	ck_assert_int_eq(fs_write(fs, f, buf, sizeof(buf), 0), sizeof(buf));
	fs_attr_t in = {.st_size = 5000}, out;
	ck_assert_int_eq(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), 0);
	ck_assert_int_eq(out.st_size, 5000);
	ck_assert_int_eq(out.st_blocks, 2 * 4096 / 512);
	in.st_size = sizeof(buf);
	ck_assert_int_eq(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), 0);
	ck_assert_int_eq(fs_read(fs, f, got, sizeof(got), 0), sizeof(got));
	ck_assert(all_are(got, 5000, 0xab));
	ck_assert(all_are(got + 5000, sizeof(got) - 5000, 0));
	/* truncate to zero frees everything; reads past the end give 0 bytes */
	in.st_size = 0;
	ck_assert_int_eq(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), 0);
	ck_assert_int_eq(fs_read(fs, f, got, 10, 0), 0);
	ck_assert_uint_eq(ns_free_blocks(fs), fb);
	/* truncate up far: a hole */
	in.st_size = 10 * GB;
	ck_assert_int_eq(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), 0);
	ck_assert_int_eq(out.st_blocks, 0);
	ck_assert_int_eq(fs_read(fs, f, got, 4096, 9 * GB), 4096);
	ck_assert_int_eq(got[0] | got[4095], 0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* Sparse beyond 4 GiB: one block at 5 GiB, holes read as zeros, SEEK_DATA/HOLE. */
START_TEST(sparse_4g)
{
	struct nsimg img;
	nsimg_make(&img, "sparse.img", 32 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	off_t at = (off_t)(5 * GB) + 123;
	ck_assert_int_eq(fs_write(fs, f, "far", 3, at), 3);
	ck_assert_int_eq(fs_write(fs, f, "near", 4, 0), 4);
	fs_attr_t a;
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_size, at + 3);
	ck_assert_int_eq(a.st_blocks, 2 * 4096 / 512);
	char buf[8] = {1};
	ck_assert_int_eq(fs_read(fs, f, buf, 3, (off_t)(4 * GB) + 1), 3);
	ck_assert_int_eq(buf[0] | buf[1] | buf[2], 0);
	ck_assert_int_eq(fs_read(fs, f, buf, 8, at), 3);
	ck_assert(memcmp(buf, "far", 3) == 0);
	ck_assert_int_eq(fs_lseek(fs, f, 0, SEEK_DATA), 0);
	ck_assert_int_eq(fs_lseek(fs, f, 0, SEEK_HOLE), 4096);
	ck_assert_int_eq(fs_lseek(fs, f, 4096, SEEK_DATA), (off_t)(5 * GB));
	ck_assert_int_eq(fs_lseek(fs, f, at, SEEK_DATA), at);
	ck_assert_int_eq(fs_lseek(fs, f, at, SEEK_HOLE), at + 3);
	ck_assert_int_eq(fs_lseek(fs, f, at + 3, SEEK_DATA), -ENXIO);
	ck_assert_int_eq(fs_lseek(fs, f, at + 3, SEEK_HOLE), -ENXIO);
	/* and files of more than 1 TiB: a block at 3 TiB */
	off_t tib3 = (off_t)3 << 40;
	ck_assert_int_eq(fs_write(fs, f, "tera", 4, tib3), 4);
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_size, tib3 + 4);
	ck_assert_int_eq(a.st_blocks, 3 * 4096 / 512);
	ck_assert_int_eq(fs_read(fs, f, buf, 8, tib3), 4);
	ck_assert(memcmp(buf, "tera", 4) == 0);
	ck_assert_int_eq(fs_lseek(fs, f, at + 3, SEEK_DATA), at + 3); /* same block */
	ck_assert_int_eq(fs_lseek(fs, f, (off_t)(5 * GB) + 4096, SEEK_DATA), tib3);
	ck_assert_int_eq(fs_lseek(fs, f, at + 3, SEEK_HOLE), (off_t)(5 * GB) + 4096);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

START_TEST(fallocate_modes)
{
	struct nsimg img;
	nsimg_make(&img, "falloc.img", 32 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	fs_attr_t a;
	/* mode 0: blocks and size */
	ck_assert_int_eq(fs_fallocate(fs, f, 0, 0, 1 * MB), 0);
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_size, 1 * MB);
	ck_assert_int_eq(a.st_blocks, 1 * MB / 512);
	static char buf[1 << 20];
	memset(buf, 1, sizeof(buf));
	ck_assert_int_eq(fs_read(fs, f, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert(all_are(buf, sizeof(buf), 0));
	/* KEEP_SIZE: blocks beyond the end, size unchanged */
	ck_assert_int_eq(fs_fallocate(fs, f, FALLOC_FL_KEEP_SIZE, 1 * MB, 1 * MB), 0);
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_size, 1 * MB);
	ck_assert_int_eq(a.st_blocks, 2 * MB / 512);
	/* writing over fallocated blocks, then punching an unaligned hole */
	memset(buf, 0x77, sizeof(buf));
	ck_assert_int_eq(fs_write(fs, f, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert_int_eq(
	    fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 3 * 4096 + 500),
	    0);
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_size, 1 * MB);
	ck_assert_int_eq(a.st_blocks, (2 * MB - 2 * 4096) / 512); /* blocks 1 and 2 freed */
	ck_assert_int_eq(fs_read(fs, f, buf, 5 * 4096, 0), 5 * 4096);
	ck_assert(all_are(buf, 1000, 0x77));
	ck_assert(all_are(buf + 1000, 3 * 4096 + 500, 0));
	ck_assert(all_are(buf + 1000 + 3 * 4096 + 500, 5 * 4096 - (1000 + 3 * 4096 + 500), 0x77));
	ck_assert_int_eq(fs_lseek(fs, f, 0, SEEK_HOLE), 4096);
	ck_assert_int_eq(fs_lseek(fs, f, 4096, SEEK_DATA), 3 * 4096);
	ck_assert_int_eq(fs_fallocate(fs, f, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), -EOPNOTSUPP);
	ck_assert_int_eq(fs_fallocate(fs, FS_ROOT_INO, 0, 0, 4096), -EISDIR);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* Random writes, truncates, punches and fallocates against a model. */
START_TEST(random_model)
{
	struct nsimg img;
	nsimg_make(&img, "model.img", 64 * MB, 1024, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fb = ns_free_blocks(fs);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	enum { MAX = 3 << 20 };
	uint8_t *model = calloc(MAX, 1), *got = malloc(MAX), *buf = malloc(MAX);
	size_t size = 0;
	unsigned seed = 12345;
	for (int op = 0; op < 600; op++) {
		size_t off = (size_t)rand_r(&seed) % (MAX - 1);
		size_t len = 1 + (size_t)rand_r(&seed) % (rand_r(&seed) % 4 == 0 ? 300000 : 9000);
		if (off + len > MAX)
			len = MAX - off;
		int kind = rand_r(&seed) % 10;
		if (kind < 5) {
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rand_r(&seed);
			ck_assert_int_eq(fs_write(fs, f, buf, len, (off_t)off), (ssize_t)len);
			memcpy(model + off, buf, len);
			if (off + len > size)
				size = off + len;
		} else if (kind < 7) {
			fs_attr_t in = {.st_size = (off_t)off}, out;
			ck_assert_int_eq(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), 0);
			if (off < size)
				memset(model + off, 0, size - off);
			size = off;
		} else if (kind < 9) {
			ck_assert_int_eq(fs_fallocate(fs, f,
						      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						      (off_t)off, (off_t)len),
					 0);
			if (off < size)
				memset(model + off, 0, (off + len < size ? off + len : size) - off);
		} else {
			int mode = rand_r(&seed) % 2 ? FALLOC_FL_KEEP_SIZE : 0;
			ck_assert_int_eq(fs_fallocate(fs, f, mode, (off_t)off, (off_t)len), 0);
			if (!mode && off + len > size)
				size = off + len;
		}
		if (op % 50 == 49) {
			fs_attr_t a;
			ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
			ck_assert_int_eq(a.st_size, (off_t)size);
			ck_assert_int_eq(fs_read(fs, f, got, MAX, 0), (ssize_t)size);
			ck_assert_msg(memcmp(got, model, size) == 0, "content differs after op %d",
				      op);
			/* SEEK_DATA/SEEK_HOLE agree with the map: holes read as zeros */
			off_t h = fs_lseek(fs, f, 0, SEEK_HOLE);
			ck_assert_int_ge(h, 0);
			off_t dnext = fs_lseek(fs, f, h, SEEK_DATA);
			ck_assert(
			    all_are(model + h, (size_t)((dnext < 0 ? (off_t)size : dnext) - h), 0));
		}
		if (op == 300) {
			ck_assert_int_eq(fs_unmount(fs), 0);
			nsimg_fsck(&img);
			fs = nsimg_mount(&img);
		}
	}
	fs_attr_t in = {.st_size = 0}, out;
	ck_assert_int_eq(fs_setattr(fs, f, &in, FS_SET_SIZE, &out), 0);
	ck_assert_uint_eq(ns_free_blocks(fs), fb);
	free(model);
	free(got);
	free(buf);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("extent");
	TCase *tc = tcase_create("extent");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, contiguous);
	tcase_add_test(tc, deep_tree);
	tcase_add_test(tc, truncate_zeros);
	tcase_add_test(tc, sparse_4g);
	tcase_add_test(tc, fallocate_modes);
	tcase_add_test(tc, random_model);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
