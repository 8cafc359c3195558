/*
 * test_crash.c: crash consistency of the namespace operations. A child
 * process runs a metadata-heavy workload on the image (creates, writes,
 * truncates, renames, links, unlinks of open files, mkdir/rmdir, xattrs,
 * fsyncs) from two threads and is killed with SIGKILL at a random moment;
 * then the image is mounted (journal replay, orphans freed), unmounted,
 * and must pass fsck -n; and every file fsync'd before the kill still holds
 * what was written. Repeated with different seeds and kill times.
 */
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "nstest.h"

#define MB (1024 * 1024ull)
enum { NAMES = 40 };
static int ROUNDS = 8; /* NSTEST_ROUNDS overrides */

/* Shared with the child: the last file it fsync'd and what it holds, double
   buffered (rec[gen % 2] is published; the child fills the other, then bumps
   gen), so a kill in the middle of an update never shows a torn record. */
struct rec {
	char name[32];
	uint32_t len;
	uint8_t fill;
};
struct synced {
	atomic_uint_fast64_t gen;
	struct rec rec[2];
};

static int no_fill(void *arg, const char *name, const fs_attr_t *a, off_t next)
{
	return 0;
}

struct child {
	struct fs *fs;
	uint64_t dirs[2];
	unsigned seed;
	struct synced *sync;
	int id;
};

static void *child_worker(void *arg)
{
	struct child *c = arg;
	struct fs *fs = c->fs;
	unsigned seed = c->seed;
	static char buf[64 * 1024];
	for (uint64_t iter = 0;; iter++) {
		uint64_t d1 = c->dirs[rand_r(&seed) % 2], d2 = c->dirs[rand_r(&seed) % 2];
		char n1[16], n2[16];
		snprintf(n1, sizeof(n1), "f%d", rand_r(&seed) % NAMES);
		snprintf(n2, sizeof(n2), "f%d", rand_r(&seed) % NAMES);
		fs_attr_t a;
		switch (rand_r(&seed) % 10) {
		case 0:
		case 1:
			if (fs_create(fs, d1, n1, 0644, O_RDWR, 0, 0, &a) == 0) {
				fs_write(fs, a.st_ino, buf, (size_t)(rand_r(&seed) % sizeof(buf)),
					 rand_r(&seed) % 200000);
				if (rand_r(&seed) % 3 == 0)
					fs_unlink(fs, d1, n1); /* unlinked while open: an orphan */
				fs_release(fs, a.st_ino);
				fs_forget(fs, a.st_ino, 1);
			}
			break;
		case 2:
			fs_unlink(fs, d1, n1);
			break;
		case 3:
			fs_rename(fs, d1, n1, d2, n2, rand_r(&seed) % 4 ? 0 : RENAME_EXCHANGE);
			break;
		case 4:
			if (fs_mkdir(fs, d1, n1, 0755, 0, 0, &a) == 0)
				fs_forget(fs, a.st_ino, 1);
			else
				fs_rmdir(fs, d1, n1);
			break;
		case 5:
			if (fs_lookup(fs, d1, n1, &a) == 0) {
				if (S_ISREG(a.st_mode)) {
					fs_attr_t in = {.st_size = rand_r(&seed) % 300000}, out;
					fs_setattr(fs, a.st_ino, &in, FS_SET_SIZE, &out);
					fs_setxattr(fs, a.st_ino, "user.x", buf, 100, 0);
					if (fs_link(fs, a.st_ino, d2, n2, &a) == 0)
						fs_forget(fs, a.st_ino, 1);
				}
				fs_forget(fs, a.st_ino, 1);
			}
			break;
		case 6:
			if (fs_lookup(fs, d1, n1, &a) == 0) {
				if (S_ISREG(a.st_mode))
					fs_fallocate(fs, a.st_ino,
						     rand_r(&seed) % 2 ? FALLOC_FL_PUNCH_HOLE |
									     FALLOC_FL_KEEP_SIZE
								       : 0,
						     rand_r(&seed) % 100000,
						     rand_r(&seed) % 100000 + 1);
				fs_forget(fs, a.st_ino, 1);
			}
			break;
		case 7:
			if (c->id == 0 && iter % 8 == 0) {
				/* a file that must survive: written, fsync'd, then published */
				char name[32];
				snprintf(name, sizeof(name), "synced-%u-%lu", c->seed,
					 (unsigned long)iter);
				uint8_t fill = (uint8_t)(iter + 1);
				uint32_t len = 1000 + rand_r(&seed) % 30000;
				if (fs_create(fs, FS_ROOT_INO, name, 0644, O_RDWR, 0, 0, &a) == 0) {
					memset(buf, fill, len);
					if (fs_write(fs, a.st_ino, buf, len, 0) == (ssize_t)len &&
					    fs_fsync(fs, a.st_ino, false) == 0) {
						struct rec *r =
						    &c->sync->rec[(atomic_load(&c->sync->gen) + 1) %
								  2];
						snprintf(r->name, sizeof(r->name), "%s", name);
						r->len = len;
						r->fill = fill;
						atomic_fetch_add(&c->sync->gen, 1);
					}
					fs_release(fs, a.st_ino);
					fs_forget(fs, a.st_ino, 1);
				}
			}
			break;
		default:
			fs_readdir(fs, d1, 0, no_fill, NULL);
			break;
		}
	}
	return NULL;
}

static void run_child(struct nsimg *img, unsigned seed, struct synced *sync)
{
	char err[256];
	struct fs *fs;
	if (fs_mount(img->path, NULL, &fs, err, sizeof(err)) < 0)
		_exit(2);
	struct child c[2];
	fs_attr_t a;
	uint64_t sub = 0;
	if (fs_lookup(fs, FS_ROOT_INO, "sub", &a) == 0)
		sub = a.st_ino;
	else if (fs_mkdir(fs, FS_ROOT_INO, "sub", 0755, 0, 0, &a) == 0)
		sub = a.st_ino;
	else
		_exit(3);
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		c[i] = (struct child){.fs = fs,
				      .dirs = {FS_ROOT_INO, sub},
				      .seed = seed * 31 + i,
				      .sync = sync,
				      .id = i};
		pthread_create(&t[i], NULL, child_worker, &c[i]);
	}
	for (;;)
		pause(); /* until SIGKILL */
}

START_TEST(kill_at_random_points)
{
	struct nsimg img;
	nsimg_make(&img, "crash.img", 64 * MB, 1024, 8192);
	struct synced *sync =
	    mmap(NULL, sizeof(*sync), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(sync, MAP_FAILED);
	unsigned seed = getenv("NSTEST_SEED") ? (unsigned)atoi(getenv("NSTEST_SEED")) : 99;
	if (getenv("NSTEST_ROUNDS"))
		ROUNDS = atoi(getenv("NSTEST_ROUNDS"));
	for (int round = 0; round < ROUNDS; round++) {
		memset(sync, 0, sizeof(*sync));
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			run_child(&img, seed * 1000 + (unsigned)round + 1, sync);
		struct timespec ts = {0, (long)(50 + rand_r(&seed) % 400) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "round %d: the child ended by itself (%d)",
			      round, WEXITSTATUS(status));
		/* mount: replay, free orphans; what was fsync'd is there */
		struct fs *fs = nsimg_mount(&img);
		ck_assert_uint_eq(fs->st->sb.orphan_head, 0);
		uint64_t gen = atomic_load(&sync->gen);
		if (gen > 0) {
			const struct rec *r = &sync->rec[gen % 2];
			fs_attr_t a;
			ck_assert_int_eq(ns_lookup(fs, FS_ROOT_INO, r->name, &a), 0);
			ck_assert_int_eq(a.st_size, r->len);
			static uint8_t got[32768];
			ck_assert_int_eq(fs_read(fs, a.st_ino, got, r->len, 0), r->len);
			bool same = true;
			for (uint32_t i = 0; i < r->len; i++)
				same &= got[i] == r->fill;
			ck_assert_msg(same, "round %d: %s lost its fsync'd data", round, r->name);
		}
		ck_assert_int_eq(fs_readdir(fs, FS_ROOT_INO, 0, no_fill, NULL), 0);
		ck_assert_int_eq(fs_unmount(fs), 0);
		nsimg_fsck(&img);
	}
	munmap(sync, sizeof(*sync));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, kill_at_random_points);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
