/*
 * test_fs_ops.c: fs/ops/fs.h end to end on an image file (storage_format +
 * fs_format_root): every namespace operation and its error cases, link
 * counts, rename in all its forms, symlinks, persistence across a remount;
 * each image passes fsck -n at the end.
 */
#include <linux/fs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "nstest.h"

#define MB (1024 * 1024ull)

static struct nsimg img;
static struct fs *fs;

static void mk(void)
{
	nsimg_make(&img, "ops.img", 64 * MB, 4096, 0);
	fs = nsimg_mount(&img);
}

static void done(void)
{
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}

START_TEST(root_and_lookup)
{
	mk();
	fs_attr_t a;
	ck_assert_int_eq(fs_getattr(fs, FS_ROOT_INO, &a), 0);
	ck_assert(S_ISDIR(a.st_mode));
	ck_assert_int_eq(a.st_nlink, 2);
	ck_assert_int_eq(a.st_uid, getuid());
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, "nope", NULL), -ENOENT);
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, ".", &a), 0);
	ck_assert_int_eq(a.st_ino, FS_ROOT_INO);
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, "..", &a), 0);
	ck_assert_int_eq(a.st_ino, FS_ROOT_INO);
	ck_assert_int_eq(fs_getattr(fs, 999999999, &a), -ENOENT);
	ck_assert_int_eq(fs_getattr(fs, 77, &a), -ENOENT); /* a free inode */
	done();
}
END_TEST

/* A name of 255 bytes works, 256 is ENAMETOOLONG, everywhere a name is taken. */
START_TEST(name_length)
{
	mk();
	char n255[256], n256[257];
	memset(n255, 'a', 255);
	n255[255] = 0;
	memset(n256, 'b', 256);
	n256[256] = 0;
	fs_attr_t a;
	uint64_t f = ns_creat(fs, FS_ROOT_INO, n255);
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, n255, &a), 0);
	ck_assert_int_eq(a.st_ino, f);
	ck_assert_int_eq(fs_lookup(fs, FS_ROOT_INO, n256, &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_create(fs, FS_ROOT_INO, n256, 0644, O_RDWR, 0, 0, &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_mkdir(fs, FS_ROOT_INO, n256, 0755, 0, 0, &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_symlink(fs, FS_ROOT_INO, n256, "x", 0, 0, &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_link(fs, f, FS_ROOT_INO, n256, &a), -ENAMETOOLONG);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, n255, FS_ROOT_INO, n256, 0), -ENAMETOOLONG);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, n256), -ENAMETOOLONG);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, n255), 0);
	done();
}
END_TEST

START_TEST(create_errors)
{
	mk();
	fs_attr_t a;
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	ck_assert_int_eq(fs_create(fs, FS_ROOT_INO, "f", 0644, O_RDWR | O_CREAT | O_EXCL, 0, 0, &a),
			 -EEXIST);
	ck_assert_int_eq(fs_mkdir(fs, FS_ROOT_INO, "f", 0755, 0, 0, &a), -EEXIST);
	ck_assert_int_eq(fs_mkdir(fs, FS_ROOT_INO, "d", 0755, 0, 0, &a), -EEXIST);
	ck_assert_int_eq(fs_symlink(fs, FS_ROOT_INO, "d", "t", 0, 0, &a), -EEXIST);
	ck_assert_int_eq(fs_mknod(fs, FS_ROOT_INO, "f", S_IFIFO | 0644, 0, 0, 0, &a), -EEXIST);
	/* inside a file */
	ck_assert_int_eq(fs_create(fs, f, "x", 0644, O_RDWR, 0, 0, &a), -ENOTDIR);
	ck_assert_int_eq(fs_mkdir(fs, f, "x", 0755, 0, 0, &a), -ENOTDIR);
	ck_assert_int_eq(fs_lookup(fs, f, "x", &a), -ENOTDIR);
	ck_assert_int_eq(fs_readdir(fs, f, 0, NULL, NULL), -ENOTDIR);
	/* files are not directories and vice versa */
	ck_assert_int_eq(fs_read(fs, d, &a, 1, 0), -EISDIR);
	ck_assert_int_eq(fs_write(fs, d, &a, 1, 0), -EISDIR);
	ck_assert_int_eq(fs_open(fs, d, O_WRONLY), -EISDIR);
	/* special files keep their type and device */
	ck_assert_int_eq(fs_mknod(fs, FS_ROOT_INO, "fifo", S_IFIFO | 0600, 0, 0, 0, &a), 0);
	ck_assert(S_ISFIFO(a.st_mode));
	ck_assert_int_eq(fs_mknod(fs, FS_ROOT_INO, "chr", S_IFCHR | 0600, makedev(1, 3), 0, 0, &a),
			 0);
	ck_assert(S_ISCHR(a.st_mode));
	ck_assert_int_eq(a.st_rdev, makedev(1, 3));
	done();
}
END_TEST

START_TEST(unlink_rmdir_errors)
{
	mk();
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	ns_creat(fs, d, "inner");
	ns_creat(fs, FS_ROOT_INO, "f");
	fs_attr_t a;
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "d"), -EISDIR);
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "f"), -ENOTDIR);
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "d"), -ENOTEMPTY);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "missing"), -ENOENT);
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "missing"), -ENOENT);
	ck_assert_int_eq(fs_rmdir(fs, d, "."), -EINVAL);
	ck_assert_int_eq(fs_getattr(fs, FS_ROOT_INO, &a), 0);
	ck_assert_int_eq(a.st_nlink, 3);
	ck_assert_int_eq(fs_unlink(fs, d, "inner"), 0);
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "d"), 0);
	ck_assert_int_eq(fs_getattr(fs, FS_ROOT_INO, &a), 0);
	ck_assert_int_eq(a.st_nlink, 2);
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, "d", NULL), -ENOENT);
	/* A removed directory still looked up: no new names in it. */
	ck_assert_int_eq(fs_create(fs, d, "late", 0644, O_RDWR, 0, 0, &a), -ENOENT);
	fs_forget(fs, d, 1);
	ck_assert_int_eq(fs_getattr(fs, d, &a), -ENOENT);
	done();
}
END_TEST

/* Link counts: files count their names, directories 2 + their subdirectories. */
START_TEST(link_counts)
{
	mk();
	fs_attr_t a;
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	ck_assert_int_eq(fs_link(fs, f, d, "f2", &a), 0);
	ck_assert_int_eq(a.st_nlink, 2);
	ck_assert_int_eq(fs_link(fs, f, FS_ROOT_INO, "f3", &a), 0);
	ck_assert_int_eq(a.st_nlink, 3);
	ck_assert_int_eq(fs_link(fs, f, FS_ROOT_INO, "f3", &a), -EEXIST);
	ck_assert_int_eq(fs_link(fs, d, FS_ROOT_INO, "dlink", &a), -EPERM);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "f"), 0);
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_nlink, 2);
	ns_mkdir(fs, d, "sub1");
	ns_mkdir(fs, d, "sub2");
	ck_assert_int_eq(fs_getattr(fs, d, &a), 0);
	ck_assert_int_eq(a.st_nlink, 4);
	ck_assert_int_eq(fs_rmdir(fs, d, "sub1"), 0);
	ck_assert_int_eq(fs_getattr(fs, d, &a), 0);
	ck_assert_int_eq(a.st_nlink, 3);
	ck_assert_int_eq(ns_lookup(fs, d, "f2", &a), 0);
	ck_assert_int_eq(a.st_ino, f);
	done();
}
END_TEST

START_TEST(rename_basic)
{
	mk();
	fs_attr_t a;
	uint64_t d1 = ns_mkdir(fs, FS_ROOT_INO, "d1");
	uint64_t d2 = ns_mkdir(fs, FS_ROOT_INO, "d2");
	uint64_t f = ns_creat(fs, d1, "f");
	ck_assert_int_eq(fs_rename(fs, d1, "f", d2, "g", 0), 0);
	ck_assert_int_eq(ns_lookup(fs, d1, "f", NULL), -ENOENT);
	ck_assert_int_eq(ns_lookup(fs, d2, "g", &a), 0);
	ck_assert_int_eq(a.st_ino, f);
	ck_assert_int_eq(fs_rename(fs, d1, "f", d2, "h", 0), -ENOENT);
	/* a directory moves with its ".." and the parents' link counts */
	uint64_t sub = ns_mkdir(fs, d1, "sub");
	ck_assert_int_eq(fs_rename(fs, d1, "sub", d2, "sub", 0), 0);
	ck_assert_int_eq(ns_lookup(fs, sub, "..", &a), 0);
	ck_assert_int_eq(a.st_ino, d2);
	ck_assert_int_eq(fs_getattr(fs, d1, &a), 0);
	ck_assert_int_eq(a.st_nlink, 2);
	ck_assert_int_eq(fs_getattr(fs, d2, &a), 0);
	ck_assert_int_eq(a.st_nlink, 3);
	/* same directory, new name */
	ck_assert_int_eq(fs_rename(fs, d2, "g", d2, "g2", 0), 0);
	ck_assert_int_eq(ns_lookup(fs, d2, "g2", &a), 0);
	/* rename onto itself (same inode) does nothing */
	ck_assert_int_eq(fs_link(fs, f, d2, "g3", &a), 0);
	ck_assert_int_eq(fs_rename(fs, d2, "g2", d2, "g3", 0), 0);
	ck_assert_int_eq(ns_lookup(fs, d2, "g2", NULL), 0);
	ck_assert_int_eq(fs_rename(fs, d2, "g2", d2, "x", 1 << 5), -EINVAL);
	done();
}
END_TEST

START_TEST(rename_over)
{
	mk();
	fs_attr_t a;
	uint64_t f1 = ns_creat(fs, FS_ROOT_INO, "f1");
	uint64_t f2 = ns_creat(fs, FS_ROOT_INO, "f2");
	uint64_t free_inodes = ns_free_inodes(fs);
	ck_assert_int_eq(fs_write(fs, f2, "data", 4, 0), 4);
	/* over an existing file: the old target goes once forgotten */
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "f1", FS_ROOT_INO, "f2", 0), 0);
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, "f2", &a), 0);
	ck_assert_int_eq(a.st_ino, f1);
	ck_assert_int_eq(fs_getattr(fs, f2, &a), 0); /* still looked up */
	ck_assert_int_eq(a.st_nlink, 0);
	fs_forget(fs, f2, 1);
	ck_assert_int_eq(fs_getattr(fs, f2, &a), -ENOENT);
	ck_assert_uint_eq(ns_free_inodes(fs), free_inodes + 1);
	/* directories: over an empty one works, a non-empty one is ENOTEMPTY */
	uint64_t d1 = ns_mkdir(fs, FS_ROOT_INO, "d1");
	uint64_t d2 = ns_mkdir(fs, FS_ROOT_INO, "d2");
	ns_mkdir(fs, FS_ROOT_INO, "d3");
	ns_creat(fs, FS_ROOT_INO, "file");
	ns_creat(fs, d2, "inside");
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "d1", FS_ROOT_INO, "d2", 0), -ENOTEMPTY);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "d1", FS_ROOT_INO, "file", 0), -ENOTDIR);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "file", FS_ROOT_INO, "d1", 0), -EISDIR);
	ck_assert_int_eq(fs_getattr(fs, FS_ROOT_INO, &a), 0);
	ck_assert_int_eq(a.st_nlink, 5);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "d1", FS_ROOT_INO, "d3", 0), 0);
	ck_assert_int_eq(fs_getattr(fs, FS_ROOT_INO, &a), 0);
	ck_assert_int_eq(a.st_nlink, 4);
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, "d3", &a), 0);
	ck_assert_int_eq(a.st_ino, d1);
	/* NOREPLACE */
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "d3", FS_ROOT_INO, "d2", RENAME_NOREPLACE),
			 -EEXIST);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "d3", FS_ROOT_INO, "d9", RENAME_NOREPLACE), 0);
	done();
}
END_TEST

START_TEST(rename_exchange)
{
	mk();
	fs_attr_t a;
	uint64_t d1 = ns_mkdir(fs, FS_ROOT_INO, "d1");
	uint64_t d2 = ns_mkdir(fs, FS_ROOT_INO, "d2");
	uint64_t f = ns_creat(fs, d1, "f");
	uint64_t sub = ns_mkdir(fs, d2, "sub");
	ck_assert_int_eq(fs_rename(fs, d1, "f", d2, "sub", RENAME_EXCHANGE), 0);
	ck_assert_int_eq(ns_lookup(fs, d1, "f", &a), 0);
	ck_assert_int_eq(a.st_ino, sub);
	ck_assert_int_eq(ns_lookup(fs, d2, "sub", &a), 0);
	ck_assert_int_eq(a.st_ino, f);
	ck_assert_int_eq(ns_lookup(fs, sub, "..", &a), 0);
	ck_assert_int_eq(a.st_ino, d1);
	ck_assert_int_eq(fs_getattr(fs, d1, &a), 0);
	ck_assert_int_eq(a.st_nlink, 3);
	ck_assert_int_eq(fs_getattr(fs, d2, &a), 0);
	ck_assert_int_eq(a.st_nlink, 2);
	ck_assert_int_eq(fs_rename(fs, d1, "f", d2, "missing", RENAME_EXCHANGE), -ENOENT);
	ck_assert_int_eq(fs_rename(fs, d1, "f", d2, "x", RENAME_EXCHANGE | RENAME_NOREPLACE),
			 -EINVAL);
	done();
}
END_TEST

/* A directory never moves into its own subtree: EINVAL. */
START_TEST(rename_loops)
{
	mk();
	uint64_t a = ns_mkdir(fs, FS_ROOT_INO, "a");
	uint64_t b = ns_mkdir(fs, a, "b");
	uint64_t c = ns_mkdir(fs, b, "c");
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "a", c, "a", 0), -EINVAL);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "a", a, "self", 0), -EINVAL);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "a", c, "x", RENAME_EXCHANGE), -ENOENT);
	ns_mkdir(fs, c, "x");
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "a", c, "x", RENAME_EXCHANGE), -EINVAL);
	ck_assert_int_eq(fs_rename(fs, c, "x", FS_ROOT_INO, "a", RENAME_EXCHANGE), -EINVAL);
	/* over an ancestor that holds the source: not empty */
	ck_assert_int_eq(fs_rename(fs, b, "c", FS_ROOT_INO, "a", 0), -ENOTEMPTY);
	/* moving up is fine */
	ck_assert_int_eq(fs_rename(fs, b, "c", FS_ROOT_INO, "c", 0), 0);
	fs_attr_t at;
	ck_assert_int_eq(ns_lookup(fs, c, "..", &at), 0);
	ck_assert_int_eq(at.st_ino, FS_ROOT_INO);
	done();
}
END_TEST

START_TEST(symlinks)
{
	mk();
	fs_attr_t a;
	char buf[5000];
	ck_assert_int_eq(fs_symlink(fs, FS_ROOT_INO, "short", "target/x", 0, 0, &a), 0);
	ck_assert(S_ISLNK(a.st_mode));
	ck_assert_int_eq(a.st_size, 8);
	uint64_t s1 = a.st_ino;
	char longt[3001];
	for (int i = 0; i < 3000; i++)
		longt[i] = (char)('a' + i % 26);
	longt[3000] = 0;
	ck_assert_int_eq(fs_symlink(fs, FS_ROOT_INO, "long", longt, 0, 0, &a), 0);
	uint64_t s2 = a.st_ino;
	ck_assert_int_eq(fs_readlink(fs, s1, buf, sizeof(buf)), 8);
	ck_assert(memcmp(buf, "target/x", 8) == 0);
	ck_assert_int_eq(fs_readlink(fs, s2, buf, sizeof(buf)), 3000);
	ck_assert(memcmp(buf, longt, 3000) == 0);
	ck_assert_int_eq(fs_readlink(fs, FS_ROOT_INO, buf, sizeof(buf)), -EINVAL);
	char toolong[5000];
	memset(toolong, 'z', 4999);
	toolong[4999] = 0;
	ck_assert_int_eq(fs_symlink(fs, FS_ROOT_INO, "x", toolong, 0, 0, &a), -ENAMETOOLONG);
	/* survives a remount */
	ck_assert_int_eq(fs_unmount(fs), 0);
	fs = nsimg_mount(&img);
	ck_assert_int_eq(fs_readlink(fs, s2, buf, sizeof(buf)), 3000);
	ck_assert(memcmp(buf, longt, 3000) == 0);
	uint64_t before = ns_free_blocks(fs);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "long"), 0);
	ck_assert_uint_gt(ns_free_blocks(fs), before);
	done();
}
END_TEST

START_TEST(setattr_fields)
{
	mk();
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	fs_attr_t in, out;
	memset(&in, 0, sizeof(in));
	in.st_mode = 04711;
	in.st_uid = 1234;
	in.st_gid = 5678;
	in.st_atim = (struct timespec){1000, 123456789};
	in.st_mtim = (struct timespec){2000, 987654321};
	ck_assert_int_eq(
	    fs_setattr(fs, f, &in,
		       FS_SET_MODE | FS_SET_UID | FS_SET_GID | FS_SET_ATIME | FS_SET_MTIME, &out),
	    0);
	ck_assert_int_eq(out.st_mode, S_IFREG | 04711);
	ck_assert_int_eq(out.st_uid, 1234);
	ck_assert_int_eq(out.st_gid, 5678);
	ck_assert_int_eq(out.st_atim.tv_sec, 1000);
	ck_assert_int_eq(out.st_atim.tv_nsec, 123456789);
	ck_assert_int_eq(out.st_mtim.tv_nsec, 987654321);
	/* a write drops set-user-ID */
	ck_assert_int_eq(fs_write(fs, f, "x", 1, 0), 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
	fs = nsimg_mount(&img);
	ck_assert_int_eq(fs_getattr(fs, f, &out), 0);
	ck_assert_int_eq(out.st_mode & 07777, 0711);
	ck_assert_int_eq(out.st_uid, 1234);
	ck_assert_int_eq(out.st_atim.tv_nsec, 123456789);
	in.st_size = 10;
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	ck_assert_int_eq(fs_setattr(fs, d, &in, FS_SET_SIZE, &out), -EISDIR);
	done();
}
END_TEST

/* Persistence: a tree written, unmounted, mounted again reads back the same. */
START_TEST(persistence)
{
	mk();
	char name[32], buf[8192], got[8192];
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "tree");
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "f%03d", i);
		uint64_t f = ns_creat(fs, d, name);
		memset(buf, i, sizeof(buf));
		ck_assert_int_eq(fs_write(fs, f, buf, (size_t)(i * 37 % 8192), (off_t)i * 1000),
				 i * 37 % 8192);
	}
	ck_assert_int_eq(fs_unmount(fs), 0);
	fs = nsimg_mount(&img);
	for (int i = 0; i < 200; i++) {
		fs_attr_t a;
		snprintf(name, sizeof(name), "f%03d", i);
		ck_assert_int_eq(ns_lookup(fs, d, name, &a), 0);
		size_t n = (size_t)(i * 37 % 8192);
		ck_assert_int_eq(a.st_size, n ? (off_t)i * 1000 + (off_t)n : 0);
		if (!n)
			continue;
		ck_assert_int_eq(fs_read(fs, a.st_ino, got, sizeof(got), (off_t)i * 1000), n);
		memset(buf, i, n);
		ck_assert(memcmp(got, buf, n) == 0);
	}
	done();
}
END_TEST

struct names {
	int n;
	char seen[64][32];
};

static int collect(void *arg, const char *name, const fs_attr_t *a, off_t next)
{
	struct names *nm = arg;
	if (nm->n < 64)
		snprintf(nm->seen[nm->n], 32, "%s", name);
	nm->n++;
	return 0;
}

START_TEST(readdir_small)
{
	mk();
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	ns_creat(fs, d, "a");
	ns_mkdir(fs, d, "b");
	struct names nm = {0};
	ck_assert_int_eq(fs_readdir(fs, d, 0, collect, &nm), 0);
	ck_assert_int_eq(nm.n, 4);
	ck_assert_str_eq(nm.seen[0], ".");
	ck_assert_str_eq(nm.seen[1], "..");
	done();
}
END_TEST

START_TEST(statfs_counts)
{
	mk();
	struct statvfs a, b;
	ck_assert_int_eq(fs_statfs(fs, &a), 0);
	ck_assert_int_eq(a.f_bsize, 4096);
	ck_assert_int_eq(a.f_namemax, 255);
	ck_assert_uint_gt(a.f_blocks, 0);
	ck_assert_uint_le(a.f_bfree, a.f_blocks);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	static char buf[1 << 20];
	ck_assert_int_eq(fs_write(fs, f, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert_int_eq(fs_statfs(fs, &b), 0);
	ck_assert_uint_eq(b.f_ffree, a.f_ffree - 1);
	ck_assert_uint_ge(a.f_bfree - b.f_bfree, 256);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "f"), 0);
	ck_assert_int_eq(fs_statfs(fs, &b), 0);
	ck_assert_uint_eq(b.f_ffree, a.f_ffree - 1); /* still looked up */
	fs_forget(fs, f, 1);
	ck_assert_int_eq(fs_statfs(fs, &b), 0);
	ck_assert_uint_eq(b.f_ffree, a.f_ffree);
	ck_assert_uint_eq(b.f_bfree, a.f_bfree);
	done();
}
END_TEST

/* A read-only mount reads everything and changes nothing (EROFS). */
START_TEST(readonly_mount)
{
	mk();
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	ck_assert_int_eq(fs_write(fs, f, "ro", 2, 0), 2);
	ck_assert_int_eq(fs_unmount(fs), 0);
	char err[256];
	struct fs_mount_opts o = {.readonly = true};
	ck_assert_int_eq(fs_mount(img.path, &o, &fs, err, sizeof(err)), 0);
	fs_attr_t a;
	char buf[4];
	ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, "f", &a), 0);
	ck_assert_int_eq(fs_read(fs, f, buf, sizeof(buf), 0), 2);
	ck_assert_int_eq(fs_create(fs, FS_ROOT_INO, "g", 0644, O_RDWR, 0, 0, &a), -EROFS);
	ck_assert_int_eq(fs_mkdir(fs, FS_ROOT_INO, "d", 0755, 0, 0, &a), -EROFS);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "f"), -EROFS);
	ck_assert_int_eq(fs_rename(fs, FS_ROOT_INO, "f", FS_ROOT_INO, "h", 0), -EROFS);
	ck_assert_int_eq(fs_write(fs, f, "x", 1, 0), -EROFS);
	ck_assert_int_eq(fs_open(fs, f, O_WRONLY), -EROFS);
	ck_assert_int_eq(fs_setxattr(fs, f, "user.a", "b", 1, 0), -EROFS);
	fs_attr_t in = {.st_mode = 0600}, out;
	ck_assert_int_eq(fs_setattr(fs, f, &in, FS_SET_MODE, &out), -EROFS);
	done();
}
END_TEST

/* O_TMPFILE: a file with no name, nlink 0, on the orphan list; linked while
   open it gets a name and leaves the list; closed unlinked it is freed and
   can no longer be linked. */
START_TEST(tmpfile_and_link)
{
	mk();
	fs_attr_t a;
	char buf[8192], got[8192];
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	uint64_t free0 = ns_free_blocks(fs);
	ck_assert_int_eq(fs_tmpfile(fs, d, 0600, getuid(), getgid(), &a), 0);
	uint64_t t = a.st_ino;
	ck_assert(S_ISREG(a.st_mode));
	ck_assert_int_eq(a.st_nlink, 0);
	ck_assert_uint_eq(fs->st->sb.orphan_head, t);
	memset(buf, 't', sizeof(buf));
	ck_assert_int_eq(fs_write(fs, t, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert_int_eq(fs_read(fs, t, got, sizeof(got), 0), sizeof(got));
	ck_assert_mem_eq(buf, got, sizeof(buf));
	struct names nm = {0};
	ck_assert_int_eq(fs_readdir(fs, d, 0, collect, &nm), 0);
	ck_assert_int_eq(nm.n, 2); /* "." and ".." only */
	ck_assert_int_eq(fs_link(fs, t, d, "named", &a), 0);
	ck_assert_int_eq(a.st_nlink, 1);
	fs_forget(fs, t, 1);
	ck_assert_uint_eq(fs->st->sb.orphan_head, 0);
	ck_assert_int_eq(ns_lookup(fs, d, "named", &a), 0);
	ck_assert_int_eq(a.st_ino, t);
	ck_assert_int_eq(a.st_size, sizeof(buf));
	fs_release(fs, t);
	fs_forget(fs, t, 1);
	/* Closed with no name: freed, its blocks back; no link any more. */
	ck_assert_int_eq(fs_tmpfile(fs, d, 0600, getuid(), getgid(), &a), 0);
	uint64_t u = a.st_ino;
	ck_assert_int_eq(fs_write(fs, u, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert_uint_lt(ns_free_blocks(fs), free0 - 3);
	fs_release(fs, u);
	ck_assert_int_eq(fs_link(fs, u, d, "late", &a), -ENOENT);
	fs_forget(fs, u, 1);
	ck_assert_uint_eq(fs->st->sb.orphan_head, 0);
	ck_assert_uint_ge(ns_free_blocks(fs), free0 - 2); /* "named" keeps its two */
	ck_assert_int_eq(fs_tmpfile(fs, 999999, 0600, 0, 0, &a), -ENOENT);
	ck_assert_int_eq(fs_tmpfile(fs, t, 0600, 0, 0, &a), -ENOTDIR);
	done();
}
END_TEST

/* A file has at most 65000 links: EMLINK after that (and for directories'
   subdirectory count, the same limit). */
START_TEST(link_max)
{
	nsimg_make(&img, "emlink.img", 512 * MB, 4096,
		   0); /* a journal that holds many links per commit */
	fs = nsimg_mount(&img);
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "f");
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "links");
	char name[16];
	fs_attr_t a;
	int r = 0, n = 1;
	for (int i = 0; i < 70000 && r == 0; i++) {
		snprintf(name, sizeof(name), "l%05d", i);
		r = fs_link(fs, f, d, name, &a);
		if (r == 0) {
			fs_forget(fs, f, 1);
			n++;
		}
	}
	ck_assert_int_eq(r, -EMLINK);
	ck_assert_int_eq(n, 65000);
	ck_assert_int_eq(fs_getattr(fs, f, &a), 0);
	ck_assert_int_eq(a.st_nlink, 65000);
	ck_assert_int_eq(fs_unlink(fs, d, "l00000"), 0);
	ck_assert_int_eq(fs_link(fs, f, d, "again", &a), 0);
	fs_forget(fs, f, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fs_ops");
	TCase *tc = tcase_create("ops");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, root_and_lookup);
	tcase_add_test(tc, name_length);
	tcase_add_test(tc, create_errors);
	tcase_add_test(tc, unlink_rmdir_errors);
	tcase_add_test(tc, link_counts);
	tcase_add_test(tc, rename_basic);
	tcase_add_test(tc, rename_over);
	tcase_add_test(tc, rename_exchange);
	tcase_add_test(tc, rename_loops);
	tcase_add_test(tc, symlinks);
	tcase_add_test(tc, setattr_fields);
	tcase_add_test(tc, persistence);
	tcase_add_test(tc, readdir_small);
	tcase_add_test(tc, statfs_counts);
	tcase_add_test(tc, readonly_mount);
	tcase_add_test(tc, link_max);
	tcase_add_test(tc, tmpfile_and_link);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
