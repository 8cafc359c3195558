/* test_disk: the disk layer: geometry of an image file, O_DIRECT
   alignment probed, exclusive opening (a second writer refused with a
   one-line reason, shared read-only openers allowed), range checks, a
   read-only disk refuses writes, block I/O round trips. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_testlib.h"

static const char *blank(uint64_t size)
{
	const char *img = st_path("d.img");
	unlink(img);
	FILE *f = fopen(img, "w");
	ck_assert(f && ftruncate(fileno(f), (off_t)size) == 0);
	fclose(f);
	return img;
}

START_TEST(geometry_and_round_trip)
{
	const char *img = blank(1u << 20);
	struct disk d;
	char err[256];
	ck_assert_int_eq(disk_open(img, false, &d, err, sizeof(err)), 0);
	ck_assert_uint_eq(d.size_bytes, 1u << 20);
	ck_assert(!d.is_blockdev);
	ck_assert(d.logical_block == 512 || d.logical_block == 4096);
	d.block_size = 4096;
	uint8_t *w = disk_alloc_buf(&d, 3 * 4096), *r = disk_alloc_buf(&d, 3 * 4096);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq((uintptr_t)w % d.logical_block, 0);
	for (int i = 0; i < 3 * 4096; i++)
		w[i] = (uint8_t)(i * 13);
	ck_assert_int_eq(disk_write(&d, 10, 3, w), 0);
	ck_assert_int_eq(disk_flush(&d), 0);
	ck_assert_int_eq(disk_read(&d, 10, 3, r), 0);
	ck_assert_int_eq(memcmp(w, r, 3 * 4096), 0);
	/* the last block works, one past it does not (never a short read) */
	ck_assert_int_eq(disk_read(&d, 255, 1, r), 0);
	ck_assert_int_eq(disk_read(&d, 256, 1, r), -EINVAL);
	ck_assert_int_eq(disk_read(&d, 255, 2, r), -EINVAL);
	ck_assert_int_eq(disk_write(&d, UINT64_MAX / 2, 1, w), -EINVAL);
	free(w);
	free(r);
	disk_close(&d);
}
END_TEST

START_TEST(exclusive_open)
{
	const char *img = blank(1u << 20);
	struct disk a, b, c;
	char err[256] = "";
	ck_assert_int_eq(disk_open(img, false, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(disk_open(img, false, &b, err, sizeof(err)), -EBUSY);
	ck_assert_msg(strstr(err, img) && strstr(err, "in use") && !strchr(err, '\n'), "%s", err);
	ck_assert_int_eq(disk_open(img, true, &b, err, sizeof(err)),
			 -EBUSY); /* not beside a writer */
	disk_close(&a);
	/* readers share; a writer is refused beside them */
	ck_assert_int_eq(disk_open(img, true, &b, err, sizeof(err)), 0);
	ck_assert_int_eq(disk_open(img, true, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(disk_open(img, false, &a, err, sizeof(err)), -EBUSY);
	c.block_size = 4096;
	uint8_t *buf = disk_alloc_buf(&c, 4096);
	ck_assert_int_eq(disk_write(&c, 0, 1, buf), -EROFS);
	free(buf);
	disk_close(&b);
	disk_close(&c);
	ck_assert_int_eq(disk_open(img, false, &a, err, sizeof(err)), 0);
	disk_close(&a);
}
END_TEST

START_TEST(bad_targets)
{
	struct disk d;
	char err[256] = "";
	ck_assert_int_eq(disk_open(st_path("missing.img"), false, &d, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "missing.img"), "%s", err);
	ck_assert_int_eq(disk_open(st_dir(), false, &d, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "not a block device or a regular file"), "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("disk");
	TCase *tc = tcase_create("disk");
	tcase_add_test(tc, geometry_and_round_trip);
	tcase_add_test(tc, exclusive_open);
	tcase_add_test(tc, bad_targets);
	suite_add_tcase(s, tc);
	return st_run(s);
}
