/*
 * test_inode.c: the inode layer: allocation and freeing, the life cycle of
 * an unlinked inode kept alive by lookups and open handles, the orphan
 * list (removal from its middle), and orphans freed at the next mount
 * after a crash (a child process that never unmounts).
 */
#include <sys/wait.h>

#include "nstest.h"

#define MB (1024 * 1024ull)

START_TEST(iget_range)
{
	struct nsimg img;
	nsimg_make(&img, "iget.img", 16 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	struct inode *ip;
	ck_assert_int_eq(iget(fs, 0, &ip), -ESTALE);
	ck_assert_int_eq(iget(fs, fs->st->sb.ninodes + 1, &ip), -ESTALE);
	ck_assert_int_eq(iget(fs, EF_ROOT_INO, &ip), 0);
	struct inode *again;
	ck_assert_int_eq(iget(fs, EF_ROOT_INO, &again), 0);
	ck_assert_ptr_eq(ip, again); /* one in-memory copy per inode */
	iput(again);
	ck_assert_int_eq(ilock_shared(ip), 0);
	ck_assert(S_ISDIR(ip->d.mode));
	iunlock(ip);
	iput(ip);
	/* a free inode cannot be locked */
	ck_assert_int_eq(iget(fs, 5, &ip), 0);
	ck_assert_int_eq(ilock(ip), -ESTALE);
	iput(ip);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* Allocation takes an inode, unlink + forget gives it (and its blocks) back. */
START_TEST(alloc_free)
{
	struct nsimg img;
	nsimg_make(&img, "alloc.img", 16 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fi = ns_free_inodes(fs), fb = ns_free_blocks(fs);
	uint64_t inos[50];
	char name[16], buf[10000];
	memset(buf, 7, sizeof(buf));
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		inos[i] = ns_creat(fs, FS_ROOT_INO, name);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(inos[i], inos[j]);
		ck_assert_int_eq(fs_write(fs, inos[i], buf, sizeof(buf), 0), sizeof(buf));
	}
	ck_assert_uint_eq(ns_free_inodes(fs), fi - 50);
	ck_assert_uint_le(ns_free_blocks(fs), fb - 50 * 3);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, name), 0);
		fs_forget(fs, inos[i], 1);
	}
	ck_assert_uint_eq(ns_free_inodes(fs), fi);
	ck_assert_uint_eq(ns_free_blocks(fs), fb);
	/* a new inode reuses a number with a new generation */
	fs_attr_t a;
	ck_assert_int_eq(fs_mkdir(fs, FS_ROOT_INO, "d", 0755, 0, 0, &a), 0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* Unlinked but open: the inode lives, readable and writable, until the last
   open handle and the last lookup are gone. */
START_TEST(unlinked_open)
{
	struct nsimg img;
	nsimg_make(&img, "open.img", 16 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fi = ns_free_inodes(fs), fb = ns_free_blocks(fs);
	fs_attr_t a;
	ck_assert_int_eq(fs_create(fs, FS_ROOT_INO, "f", 0644, O_RDWR, 0, 0, &a), 0);
	uint64_t f = a.st_ino;
	ck_assert_int_eq(fs_write(fs, f, "hello", 5, 0), 5);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "f"), 0);
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, "f", NULL), -ENOENT);
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_nlink, 0);
	ck_assert_int_eq(fs_write(fs, f, " world", 6, 5), 6);
	char buf[16] = {0};
	ck_assert_int_eq(fs_read(fs, f, buf, sizeof(buf), 0), 11);
	ck_assert_str_eq(buf, "hello world");
	ck_assert_uint_eq(ns_free_inodes(fs), fi - 1);
	fs_forget(fs, f, 1); /* the lookup goes, the open stays */
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(fs_release(fs, f), 0); /* the last one */
	ck_assert_int_eq(fs_getattr(fs, f, &a), -ENOENT);
	ck_assert_uint_eq(ns_free_inodes(fs), fi);
	ck_assert_uint_eq(ns_free_blocks(fs), fb);
	ck_assert_int_eq(fs->st->sb.orphan_head, 0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* Several orphans at once, released in an order that takes them off the
   middle, the end and the head of the list. */
START_TEST(orphan_list_order)
{
	struct nsimg img;
	nsimg_make(&img, "olist.img", 16 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fi = ns_free_inodes(fs);
	uint64_t ino[5];
	char name[8];
	for (int i = 0; i < 5; i++) {
		fs_attr_t a;
		snprintf(name, sizeof(name), "o%d", i);
		ck_assert_int_eq(fs_create(fs, FS_ROOT_INO, name, 0644, O_RDWR, 0, 0, &a), 0);
		ino[i] = a.st_ino;
		fs_forget(fs, ino[i], 1);
		ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, name), 0);
	}
	ck_assert_uint_eq(fs->st->sb.orphan_head, ino[4]);
	int order[5] = {2, 0, 4, 1, 3};
	for (int k = 0; k < 5; k++) {
		fs_release(fs, ino[order[k]]);
		fs_attr_t a;
		ck_assert_int_eq(fs_getattr(fs, ino[order[k]], &a), -ENOENT);
		for (int j = k + 1; j < 5; j++)
			ck_assert_int_eq(fs_getattr(fs, ino[order[j]], &a), 0);
	}
	ck_assert_uint_eq(fs->st->sb.orphan_head, 0);
	ck_assert_uint_eq(ns_free_inodes(fs), fi);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* Thousands of orphans released from the list's tail (the order FUSE forgets
   often come in): each removal costs a bounded number of block reads, never a
   walk of the list. */
START_TEST(orphan_removal_is_constant)
{
	enum { N = 2000 };
	struct nsimg img;
	nsimg_make(&img, "omany.img", 32 * MB, 4096, 4 * N);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fi = ns_free_inodes(fs);
	static uint64_t ino[N];
	char name[16];
	for (int i = 0; i < N; i++) {
		fs_attr_t a;
		snprintf(name, sizeof(name), "o%d", i);
		ck_assert_int_eq(fs_mknod(fs, FS_ROOT_INO, name, S_IFREG | 0644, 0, 0, 0, &a), 0);
		ino[i] = a.st_ino;
		ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, name), 0);
	}
	uint64_t before = atomic_load(&fs->meta_reads);
	for (int i = 0; i < N; i++)
		fs_forget(fs, ino[i], 1);
	double per = (double)(atomic_load(&fs->meta_reads) - before) / N;
	ck_assert_msg(per < 30, "%.1f metadata reads per orphan removal", per);
	fprintf(stderr, "orphan removal: %.1f reads each\n", per);
	ck_assert_uint_eq(fs->st->sb.orphan_head, 0);
	ck_assert_uint_eq(ns_free_inodes(fs), fi);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* A crash while unlinked files are open: the next mount frees them (their
   inodes and blocks), and what was synced survives. */
START_TEST(orphan_freed_after_crash)
{
	struct nsimg img;
	nsimg_make(&img, "crash.img", 32 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "keep");
	ck_assert_int_eq(fs_unmount(fs), 0);
	fs = nsimg_mount(&img);
	uint64_t fi = ns_free_inodes(fs), fb = ns_free_blocks(fs);
	ck_assert_int_eq(fs_unmount(fs), 0);

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char err[256];
		struct fs *cfs;
		if (fs_mount(img.path, NULL, &cfs, err, sizeof(err)) < 0)
			_exit(2);
		static char big[1 << 20];
		memset(big, 0x5a, sizeof(big));
		for (int i = 0; i < 3; i++) {
			fs_attr_t a;
			char name[8];
			snprintf(name, sizeof(name), "v%d", i);
			if (fs_create(cfs, FS_ROOT_INO, name, 0644, O_RDWR, 0, 0, &a) < 0 ||
			    fs_write(cfs, a.st_ino, big, sizeof(big), 0) != sizeof(big) ||
			    fs_unlink(cfs, FS_ROOT_INO, name) < 0)
				_exit(3);
		}
		fs_attr_t a;
		if (fs_create(cfs, d, "synced", 0644, O_RDWR, 0, 0, &a) < 0 ||
		    fs_write(cfs, a.st_ino, "durable", 7, 0) != 7 ||
		    fs_fsync(cfs, a.st_ino, false) < 0)
			_exit(4);
		_exit(0); /* crash: no release, no unmount */
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);

	fs = nsimg_mount(&img);
	ck_assert_uint_eq(fs->st->sb.orphan_head, 0);
	fs_attr_t a;
	ck_assert_int_eq(ns_lookup(fs, d, "synced", &a), 0);
	char buf[8] = {0};
	ck_assert_int_eq(fs_read(fs, a.st_ino, buf, 7, 0), 7);
	ck_assert_str_eq(buf, "durable");
	ck_assert_uint_eq(ns_free_inodes(fs), fi - 1);
	ck_assert_uint_le(fb - ns_free_blocks(fs), 2);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("inode");
	TCase *tc = tcase_create("inode");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, iget_range);
	tcase_add_test(tc, alloc_free);
	tcase_add_test(tc, unlinked_open);
	tcase_add_test(tc, orphan_list_order);
	tcase_add_test(tc, orphan_removal_is_constant);
	tcase_add_test(tc, orphan_freed_after_crash);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
