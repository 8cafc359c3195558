/*
 * test_dir.c: hashed directories. 100,000 names inserted, looked up and
 * removed, with the metadata blocks read per lookup counted (not timed):
 * it must not grow with the directory. Readdir cookies stay valid while
 * other threads insert and remove names: a listing resumed at a cookie
 * returns every name that stayed, exactly once. Then fsck -n.
 */
#include <pthread.h>
#include <time.h>

#include "nstest.h"

#define MB (1024 * 1024ull)

/* Metadata blocks read per lookup of names [from, to) (all present). */
static double reads_per_lookup(struct fs *fs, uint64_t dir, int from, int to, int step)
{
	char name[32];
	uint64_t before = atomic_load(&fs->meta_reads);
	int n = 0;
	for (int i = from; i < to; i += step, n++) {
		snprintf(name, sizeof(name), "name-%07d", i);
		fs_attr_t a;
		if (fs_lookup(fs, dir, name, &a) != 0)
			return -1;
		fs_forget(fs, a.st_ino, 1);
	}
	return (double)(atomic_load(&fs->meta_reads) - before) / n;
}

static void add_names(struct fs *fs, uint64_t dir, int from, int to)
{
	char name[32];
	for (int i = from; i < to; i++) {
		fs_attr_t a;
		snprintf(name, sizeof(name), "name-%07d", i);
		int r = fs_mknod(fs, dir, name, S_IFREG | 0644, 0, 0, 0, &a);
		if (r != 0)
			ck_abort_msg("mknod %s: %s", name, strerror(-r));
		fs_forget(fs, a.st_ino, 1);
	}
}

struct listing {
	char *seen; /* per name index: times listed */
	int n, dups, others, chunk, in_chunk;
	off_t last;
};

static int list_cb(void *arg, const char *name, const fs_attr_t *a, off_t next)
{
	struct listing *l = arg;
	if (l->chunk && l->in_chunk == l->chunk)
		return 1; /* buffer full: the caller resumes at l->last */
	l->in_chunk++;
	l->last = next;
	int idx;
	if (sscanf(name, "name-%d", &idx) == 1 && idx >= 0 && idx < l->n) {
		if (l->seen[idx]++)
			l->dups++;
	} else if (strncmp(name, "tmp-", 4) && strcmp(name, ".") && strcmp(name, "..")) {
		l->others++;
	}
	return 0;
}

/* List dir in chunks of `chunk` entries, resuming at the last cookie each time. */
static void list_chunked(struct fs *fs, uint64_t dir, struct listing *l)
{
	l->last = 0;
	for (;;) {
		l->in_chunk = 0;
		ck_assert_int_eq(fs_readdir(fs, dir, l->last, list_cb, l), 0);
		if (l->in_chunk == 0)
			break;
	}
}

START_TEST(hundred_thousand)
{
	enum { N = 100000 };
	struct nsimg img;
	nsimg_make(&img, "big.img", 512 * MB, 4096, 2 * N);
	struct fs *fs = nsimg_mount(&img);
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "big");
	add_names(fs, d, 0, 1000);
	double small = reads_per_lookup(fs, d, 0, 1000, 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	add_names(fs, d, 1000, N);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "%d creates in one directory: %.0f per second (in-process, no FUSE)\n",
		N - 1000, (N - 1000) / secs);
	double big = reads_per_lookup(fs, d, 0, N, 97);
	/* A lookup reads the head, one table block, one bucket (and the child's inode
	   table block): 4. The three directory blocks are found through the
	   directory's extent tree: its root is in the inode, and the extents found
	   below it are cached, so a 100-fold bigger directory costs at most about
	   one block more, never a scan. */
	fprintf(stderr, "blocks read per lookup: %.2f with 1,000 names, %.2f with %d\n", small, big,
		N);
	ck_assert_msg(small > 0 && small <= 4.0, "small dir: %.2f blocks per lookup", small);
	ck_assert_msg(big > 0 && big <= small + 1.0,
		      "100k dir: %.2f blocks per lookup (1k dir: %.2f)", big, small);
	fs_attr_t a;
	ck_assert_int_eq(ns_lookup(fs, d, "name-x", NULL), -ENOENT);
	ck_assert_int_eq(fs_mknod(fs, d, "name-0050000", S_IFREG | 0644, 0, 0, 0, &a), -EEXIST);
	/* a full listing: every name once */
	struct listing l = {.seen = calloc(N, 1), .n = N, .chunk = 0};
	ck_assert_int_eq(fs_readdir(fs, d, 0, list_cb, &l), 0);
	ck_assert_int_eq(l.dups, 0);
	ck_assert_int_eq(l.others, 0);
	for (int i = 0; i < N; i++)
		if (l.seen[i] != 1)
			ck_abort_msg("name-%07d listed %d times", i, l.seen[i]);
	/* remove every other name, after a remount */
	ck_assert_int_eq(fs_unmount(fs), 0);
	fs = nsimg_mount(&img);
	char name[32];
	for (int i = 0; i < N; i += 2) {
		snprintf(name, sizeof(name), "name-%07d", i);
		int r = fs_unlink(fs, d, name);
		if (r != 0)
			ck_abort_msg("unlink %s: %s", name, strerror(-r));
	}
	for (int i = 0; i < N; i += 101) {
		snprintf(name, sizeof(name), "name-%07d", i);
		ck_assert_int_eq(ns_lookup(fs, d, name, NULL), i % 2 ? 0 : -ENOENT);
	}
	ck_assert_int_eq(fs_getattr(fs, d, &a), 0);
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "big"), -ENOTEMPTY);
	free(l.seen);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

struct churn {
	struct fs *fs;
	uint64_t dir;
	atomic_int stop;
	int ops;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	char name[32];
	unsigned seed = 7;
	while (!atomic_load(&c->stop)) {
		int i = rand_r(&seed) % 400;
		snprintf(name, sizeof(name), "tmp-%d", i);
		fs_attr_t a;
		if (fs_mknod(c->fs, c->dir, name, S_IFREG | 0644, 0, 0, 0, &a) == 0)
			fs_forget(c->fs, a.st_ino, 1);
		else
			fs_unlink(c->fs, c->dir, name);
		c->ops++;
	}
	return NULL;
}

/* Cookies are stable across concurrent inserts and removes (buckets split and
   the table doubles meanwhile): every name present throughout is listed once. */
START_TEST(cookies_under_churn)
{
	enum { N = 3000 };
	struct nsimg img;
	nsimg_make(&img, "churn.img", 64 * MB, 1024, 20000);
	struct fs *fs = nsimg_mount(&img);
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	add_names(fs, d, 0, N / 3);
	struct churn c = {.fs = fs, .dir = d};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, churn_thread, &c), 0);
	int total_passes = 0;
	for (int pass = 0; pass < 3; pass++) {
		/* grow the directory while listing, so buckets split under the cursor */
		add_names(fs, d, N / 3 + pass * (N / 3 / 3), N / 3 + (pass + 1) * (N / 3 / 3));
		int present = N / 3 + (pass + 1) * (N / 3 / 3);
		struct listing l = {.seen = calloc(N, 1), .n = present, .chunk = 7};
		list_chunked(fs, d, &l);
		ck_assert_int_eq(l.dups, 0);
		ck_assert_int_eq(l.others, 0);
		for (int i = 0; i < N / 3 + pass * (N / 3 / 3); i++)
			if (l.seen[i] != 1)
				ck_abort_msg("pass %d: name-%07d listed %d times", pass, i,
					     l.seen[i]);
		free(l.seen);
		total_passes++;
	}
	atomic_store(&c.stop, 1);
	pthread_join(t, NULL);
	ck_assert_int_gt(c.ops, 0);
	ck_assert_int_eq(total_passes, 3);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

/* Emptying a directory lets rmdir succeed and frees all its blocks. */
START_TEST(empty_and_remove)
{
	struct nsimg img;
	nsimg_make(&img, "rm.img", 32 * MB, 4096, 0);
	struct fs *fs = nsimg_mount(&img);
	uint64_t fb = ns_free_blocks(fs), fi = ns_free_inodes(fs);
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "d");
	add_names(fs, d, 0, 2000);
	char name[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "name-%07d", i);
		ck_assert_int_eq(fs_unlink(fs, d, name), 0);
	}
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "d"), 0);
	fs_forget(fs, d, 1);
	ck_assert_uint_eq(ns_free_blocks(fs), fb);
	ck_assert_uint_eq(ns_free_inodes(fs), fi);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dir");
	TCase *tc = tcase_create("dir");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, hundred_thousand);
	tcase_add_test(tc, cookies_under_churn);
	tcase_add_test(tc, empty_and_remove);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
