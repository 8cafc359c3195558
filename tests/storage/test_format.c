/* test_format: storage_format and the mkfs.eiocbfs tool (docs/design.md
   commands): every block size makes a filesystem that mounts with the
   geometry asked for; a target holding another filesystem (ext4, xfs,
   btrfs, swap, eiocbfs) is refused unless forced; a too-small target is
   refused with a clear message; exit codes 0/1; sizes beyond 1 TiB. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_testlib.h"

static void blank(const char *img, uint64_t size)
{
	unlink(img);
	FILE *f = fopen(img, "w");
	ck_assert(f && ftruncate(fileno(f), (off_t)size) == 0);
	fclose(f);
}

START_TEST(every_block_size)
{
	static const uint32_t sizes[] = {1024, 2048, 4096};
	for (int i = 0; i < 3; i++) {
		const char *img = st_path("f.img");
		st_mkfs(img, 32u << 20, sizes[i], 1000);
		struct storage *st;
		char err[256];
		ck_assert_msg(storage_open(img, false, &st, err, sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(st->sb.block_size, sizes[i]);
		ck_assert_uint_eq(st->sb.nblocks, (32u << 20) / sizes[i]);
		ck_assert_uint_eq(st->sb.ninodes, 1000);
		ck_assert_uint_eq(st->sb.free_inodes, 1000);
		ck_assert_uint_eq(st->sb.free_blocks, st->sb.nblocks - 1 - st->sb.data_start);
		/* every bitmap and the journal verify; the inode table reads */
		struct buf *b;
		for (uint64_t k = 0; k < st->sb.itable_len; k++) {
			ck_assert_int_eq(
			    bread(st->bcache, st->sb.itable_start + k, EF_MAGIC_ITABLE, &b), 0);
			brelse(b);
		}
		struct tx *tx;
		uint64_t ino, start, got;
		ck_assert_int_eq(tx_begin(st->journal, 8, &tx), 0);
		ck_assert_int_eq(ialloc(st->alloc, tx, &ino), 0);
		ck_assert_uint_eq(ino, 1); /* the root directory's number comes first */
		ck_assert_int_eq(balloc(st->alloc, tx, 0, 8, &start, &got), 0);
		ck_assert_uint_eq(start, st->sb.data_start);
		ck_assert_int_eq(tx_end(tx), 0);
		ck_assert_int_eq(storage_close(st), 0);
	}
}
END_TEST

static void plant(const char *img, uint64_t off, const char *magic, size_t len)
{
	blank(img, 32u << 20);
	st_pwrite(img, magic, len, off);
}

START_TEST(foreign_signatures_refused_unless_forced)
{
	static const struct {
		uint64_t off;
		const char *magic;
		size_t len;
		const char *name;
	} sigs[] = {
	    {1080, "\x53\xef", 2, "ext"},
	    {65600, "_BHRfS_M", 8, "btrfs"},
	};
	const char *img = st_path("s.img");
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		plant(img, sigs[i].off, sigs[i].magic, sigs[i].len);
		struct format_opts o = {.block_size = 4096};
		char err[256] = "";
		ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), -EEXIST);
		ck_assert_msg(strstr(err, sigs[i].name) && strstr(err, "-f"), "%s", err);
		o.force = true;
		ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), 0);
		/* and the old signature is gone */
		uint8_t probe[16];
		FILE *f = fopen(img, "r");
		ck_assert(fseek(f, (long)sigs[i].off, SEEK_SET) == 0);
		ck_assert_uint_eq(fread(probe, 1, sigs[i].len, f), sigs[i].len);
		fclose(f);
		ck_assert(memcmp(probe, sigs[i].magic, sigs[i].len) != 0);
		/* an eiocbfs is refused too */
		o.force = false;
		ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), -EEXIST);
		ck_assert_msg(strstr(err, "eiocbfs"), "%s", err);
	}
}
END_TEST

START_TEST(real_ext4_refused)
{
	const char *img = st_path("e.img");
	blank(img, 32u << 20);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F '%s' >/dev/null 2>&1", img);
	if (system(cmd) != 0) {
		printf("SKIP real_ext4_refused: mkfs.ext4 not available\n");
		return;
	}
	struct format_opts o = {0};
	char err[256] = "";
	ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "ext4"), "%s", err);
}
END_TEST

START_TEST(libblkid_signatures_refused_and_wiped)
{
	/* a signature made by a real mkfs, found by libblkid and wiped by -f */
	const char *img = st_path("x.img");
	blank(img, 32u << 20);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "mkfs.minix '%s' >/dev/null 2>&1", img);
	if (system(cmd) != 0) {
		printf("SKIP libblkid_signatures_refused_and_wiped: mkfs.minix not available\n");
		return;
	}
	struct format_opts o = {0};
	char err[256] = "";
	ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "minix"), "%s", err);
	o.force = true;
	ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "blkid -p '%s' 2>/dev/null | grep -q minix", img);
	ck_assert_msg(system(cmd) != 0, "minix signature left behind");
}
END_TEST

START_TEST(too_small_refused)
{
	const char *img = st_path("t.img");
	unlink(img);
	struct format_opts o = {.size_bytes = 100 * 1024, .block_size = 4096};
	char err[256] = "";
	ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), -ENOSPC);
	ck_assert_msg(strstr(err, "too small"), "%s", err);
	ck_assert_int_eq(access(img, F_OK), -1); /* nothing left behind */
	blank(img, 100 * 1024);
	o.size_bytes = 0;
	ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), -ENOSPC);
	/* 1 KiB blocks allow a smaller filesystem */
	o.block_size = 1024;
	o.size_bytes = 1u << 20;
	unlink(img);
	ck_assert_int_eq(storage_format(img, &o, err, sizeof(err)), 0);
}
END_TEST

START_TEST(huge_sparse_image_fast)
{
	/* 4 TiB: 64-bit sizes everywhere; only bitmaps are written */
	const char *img = st_path("h.img");
	unlink(img);
	struct format_opts o = {.size_bytes = 4ull << 40};
	char err[256] = "";
	int rc = storage_format(img, &o, err, sizeof(err));
	if (rc == -EFBIG || rc == -EINVAL) {
		printf("SKIP huge_sparse_image_fast: %s\n", err);
		return;
	}
	ck_assert_msg(rc == 0, "%s", err);
	struct stat s;
	ck_assert_int_eq(stat(img, &s), 0);
	ck_assert_uint_lt((uint64_t)s.st_blocks * 512, 300ull << 20); /* sparse */
	struct storage *st;
	ck_assert_msg(storage_open(img, false, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(st->sb.nblocks, (4ull << 40) / 4096);
	/* a block past 2^32 and the last inode work */
	struct tx *tx;
	uint64_t start, got;
	ck_assert_int_eq(tx_begin(st->journal, 8, &tx), 0);
	uint64_t goal = st->sb.nblocks - 1000; /* its byte offset is far past 2^32 */
	ck_assert_int_eq(balloc(st->alloc, tx, goal, 16, &start, &got), 0);
	ck_assert_uint_eq(start, goal);
	struct buf *b;
	ck_assert_int_eq(
	    bread(st->bcache, st->sb.itable_start + st->sb.itable_len - 1, EF_MAGIC_ITABLE, &b), 0);
	brelse(b);
	ck_assert_int_eq(tx_end(tx), 0);
	ck_assert_int_eq(storage_close(st), 0);
	unlink(img);
}
END_TEST

/* The work of block_device_via_loop, in a child: 0 when all held. */
static int loop_checks(const char *dev)
{
	struct format_opts o = {.block_size = 4096};
	char err[256] = "";
	if (storage_format(dev, &o, err, sizeof(err)) != 0)
		return fprintf(stderr, "format: %s\n", err), 1;
	struct storage *st, *st2;
	if (storage_open(dev, false, &st, err, sizeof(err)) != 0)
		return fprintf(stderr, "open: %s\n", err), 2;
	if (!st->disk.is_blockdev || st->sb.nblocks != (64u << 20) / 4096)
		return 3;
	/* exclusive: a second opener is refused (O_EXCL) */
	if (storage_open(dev, false, &st2, err, sizeof(err)) != -EBUSY || !strstr(err, "in use"))
		return fprintf(stderr, "second open: %s\n", err), 4;
	struct tx *tx;
	uint64_t ino;
	if (tx_begin(st->journal, 4, &tx) || ialloc(st->alloc, tx, &ino) || tx_end(tx))
		return 5;
	if (storage_close(st) != 0)
		return 6;
	if (storage_format(dev, &o, err, sizeof(err)) != -EEXIST)
		return 7;
	return 0;
}

START_TEST(block_device_via_loop)
{
	if (geteuid() != 0) {
		printf("SKIP block_device_via_loop: not root\n");
		return;
	}
	const char *img = st_path("loop.img");
	blank(img, 64u << 20);
	char cmd[600], dev[64] = "";
	snprintf(cmd, sizeof(cmd), "losetup -f --show '%s' 2>/dev/null", img);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(dev, sizeof(dev), p) || strncmp(dev, "/dev/loop", 9) != 0) {
		if (p)
			pclose(p);
		printf("SKIP block_device_via_loop: losetup not possible here\n");
		return;
	}
	pclose(p);
	dev[strcspn(dev, "\n")] = 0;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(loop_checks(dev));
	int status = 0;
	waitpid(pid, &status, 0);
	/* detach on every path before judging */
	snprintf(cmd, sizeof(cmd), "losetup -d '%s'", dev);
	int drc = system(cmd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "loop checks failed: status %d", status);
	ck_assert_int_eq(drc, 0);
}
END_TEST

#ifdef MKFS_BIN
static int run(const char *args, char *out, size_t outlen)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", MKFS_BIN, args);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(mkfs_tool_exit_codes_and_messages)
{
	char out[2048], args[600];
	const char *img = st_path("m.img");
	unlink(img);
	snprintf(args, sizeof(args), "-s 32M -b 2K -L lbl '%s'", img);
	ck_assert_int_eq(run(args, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "16384 blocks of 2048 bytes") && strstr(out, "label 'lbl'"), "%s",
		      out);
	/* one-line summary (no progress: not a terminal) */
	ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "%s", out);
	snprintf(args, sizeof(args), "'%s'", img);
	ck_assert_int_eq(run(args, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "holds eiocbfs; use -f"), "%s", out);
	snprintf(args, sizeof(args), "-f '%s'", img);
	ck_assert_int_eq(run(args, out, sizeof(out)), 0);
	snprintf(args, sizeof(args), "-b 3000 '%s'", img);
	ck_assert_int_eq(run(args, out, sizeof(out)), 1);
	ck_assert_int_eq(run("-s 12Q x.img", out, sizeof(out)), 1);
	ck_assert_int_eq(run("-z x.img", out, sizeof(out)), 1);
	ck_assert_int_eq(run("", out, sizeof(out)), 1);
	snprintf(args, sizeof(args), "-s 100K '%s.small'", img);
	ck_assert_int_eq(run(args, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "too small"), "%s", out);
	snprintf(args, sizeof(args), "'%s.missing'", img);
	ck_assert_int_eq(run(args, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "-s SIZE"), "%s", out);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("format");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, every_block_size);
	tcase_add_test(tc, foreign_signatures_refused_unless_forced);
	tcase_add_test(tc, real_ext4_refused);
	tcase_add_test(tc, libblkid_signatures_refused_and_wiped);
	tcase_add_test(tc, too_small_refused);
	tcase_add_test(tc, huge_sparse_image_fast);
	tcase_add_test(tc, block_device_via_loop);
#ifdef MKFS_BIN
	tcase_add_test(tc, mkfs_tool_exit_codes_and_messages);
#endif
	suite_add_tcase(s, tc);
	return st_run(s);
}
