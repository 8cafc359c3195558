/*
 * nstest.h: helpers of the namespace tests: a scratch directory per run (an
 * unchecked fixture, so it is removed even when a test fails), images made
 * with storage_format + fs_format_root, mount/unmount, and an fsck -n of
 * the image after the test when the checker is built.
 */
#ifndef NSTEST_H
#define NSTEST_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "namespace.h"
#include "storage.h"
#ifdef HAVE_FSCK
#include "fsck.h"
#endif

static char ns_dir[512];

static inline void ns_dir_setup(void)
{
	snprintf(ns_dir, sizeof(ns_dir), "%s/nstest-XXXXXX", NSTEST_TMPDIR);
	if (!mkdtemp(ns_dir)) {
		perror("mkdtemp");
		abort();
	}
}

static inline void ns_dir_teardown(void)
{
	DIR *d = opendir(ns_dir);
	if (d) {
		struct dirent *e;
		char p[1024];
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(p, sizeof(p), "%s/%s", ns_dir, e->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(ns_dir);
}

struct nsimg {
	char path[600];
};

/* A fresh filesystem image of size bytes (block size bs, ninodes inodes or default). */
static inline void nsimg_make(struct nsimg *m, const char *name, uint64_t size, uint32_t bs,
			      uint64_t ninodes)
{
	char err[256];
	snprintf(m->path, sizeof(m->path), "%s/%s", ns_dir, name);
	unlink(m->path);
	struct format_opts o = {.size_bytes = size, .block_size = bs, .ninodes = ninodes};
	int r = storage_format(m->path, &o, err, sizeof(err));
	ck_assert_msg(r == 0, "storage_format: %s", err);
	struct storage *st;
	r = storage_open(m->path, false, &st, err, sizeof(err));
	ck_assert_msg(r == 0, "storage_open: %s", err);
	ck_assert_int_eq(fs_format_root(st, getuid(), getgid()), 0);
	ck_assert_int_eq(storage_close(st), 0);
}

static inline struct fs *nsimg_mount(struct nsimg *m)
{
	char err[256];
	struct fs *fs = NULL;
	int r = fs_mount(m->path, NULL, &fs, err, sizeof(err));
	ck_assert_msg(r == 0, "fs_mount: %s", err);
	return fs;
}

#ifdef HAVE_FSCK
static inline void ns_fsck_report(void *arg, const struct fsck_finding *fi)
{
	fprintf(stderr, "fsck: %s: %s\n", fsck_problem_name(fi->problem), fi->msg);
}
#endif

/* The image passes fsck -n (only the clean-state findings tolerated when dirty). */
static inline void nsimg_fsck(struct nsimg *m)
{
#ifdef HAVE_FSCK
	struct fsck_opts o = {.mode = FSCK_CHECK, .verbose = true, .report = ns_fsck_report};
	struct fsck_result res;
	char err[256] = "";
	int code = fsck_run(m->path, &o, &res, err, sizeof(err));
	ck_assert_msg(code == FSCK_EXIT_CLEAN, "fsck -n %s: exit %d %s", m->path, code, err);
#else
	(void)m;
#endif
}

/* Create name in parent as a regular file; returns its inode number (one lookup held). */
static inline uint64_t ns_creat(struct fs *fs, uint64_t parent, const char *name)
{
	fs_attr_t a;
	int r = fs_create(fs, parent, name, 0644, O_RDWR, getuid(), getgid(), &a);
	ck_assert_msg(r == 0, "create %s: %s", name, strerror(-r));
	fs_release(fs, a.st_ino);
	return a.st_ino;
}

static inline uint64_t ns_mkdir(struct fs *fs, uint64_t parent, const char *name)
{
	fs_attr_t a;
	int r = fs_mkdir(fs, parent, name, 0755, getuid(), getgid(), &a);
	ck_assert_msg(r == 0, "mkdir %s: %s", name, strerror(-r));
	return a.st_ino;
}

static inline int ns_lookup(struct fs *fs, uint64_t parent, const char *name, fs_attr_t *a)
{
	fs_attr_t tmp;
	int r = fs_lookup(fs, parent, name, a ? a : &tmp);
	if (r == 0)
		fs_forget(fs, (a ? a : &tmp)->st_ino, 1);
	return r;
}

static inline uint64_t ns_free_blocks(struct fs *fs)
{
	struct statvfs sv;
	ck_assert_int_eq(fs_statfs(fs, &sv), 0);
	return sv.f_bfree;
}

static inline uint64_t ns_free_inodes(struct fs *fs)
{
	struct statvfs sv;
	ck_assert_int_eq(fs_statfs(fs, &sv), 0);
	return sv.f_ffree;
}

static inline void ns_run(Suite *s, int *failed)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	*failed += srunner_ntests_failed(sr);
	srunner_free(sr);
}

#endif
