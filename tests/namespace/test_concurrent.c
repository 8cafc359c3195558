/*
 * test_concurrent.c: fs.h from several threads at once, as the FUSE glue
 * calls it: creates, unlinks, renames across directories (both ways, so
 * the parents' lock order is exercised), mkdir/rmdir, links, writes and
 * reads of shared files, readdir and lookups, with lookup references
 * dropped like FUSE forgets. No deadlock (the test's timeout), no error
 * other than the expected races (ENOENT, EEXIST, ENOTEMPTY...), and fsck -n
 * clean afterwards. Labelled tsan: it also runs under ThreadSanitizer.
 */
#include <linux/fs.h>
#include <pthread.h>

#include "nstest.h"

#define MB (1024 * 1024ull)
enum { THREADS = 4, OPS = 4000, NAMES = 24 };

static struct fs *fs;
static uint64_t dirs[3];
static atomic_int unexpected;

static bool expected(int r)
{
	return r >= 0 || r == -ENOENT || r == -EEXIST || r == -ENOTEMPTY || r == -EISDIR ||
	       r == -ENOTDIR || r == -EINVAL;
}

static void note(const char *what, int r)
{
	if (!expected(r)) {
		fprintf(stderr, "unexpected %s: %s\n", what, strerror(-r));
		atomic_fetch_add(&unexpected, 1);
	}
}

static int drop(void *arg, const char *name, const fs_attr_t *a, off_t next)
{
	return 0;
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	char n1[16], n2[16], buf[6000];
	for (int op = 0; op < OPS; op++) {
		uint64_t d1 = dirs[rand_r(&seed) % 3], d2 = dirs[rand_r(&seed) % 3];
		snprintf(n1, sizeof(n1), "n%d", rand_r(&seed) % NAMES);
		snprintf(n2, sizeof(n2), "n%d", rand_r(&seed) % NAMES);
		fs_attr_t a;
		int r;
		switch (rand_r(&seed) % 11) {
		case 0:
		case 1:
			r = fs_create(fs, d1, n1, 0644, O_RDWR, 0, 0, &a);
			note("create", r);
			if (r == 0) {
				note("write", (int)fs_write(fs, a.st_ino, buf, sizeof(buf),
							    rand_r(&seed) % 20000));
				fs_release(fs, a.st_ino);
				fs_forget(fs, a.st_ino, 1);
			}
			break;
		case 2:
			note("unlink", fs_unlink(fs, d1, n1));
			break;
		case 3:
		case 4:
			note("rename", fs_rename(fs, d1, n1, d2, n2, 0));
			break;
		case 5:
			note("exchange", fs_rename(fs, d1, n1, d2, n2, RENAME_EXCHANGE));
			break;
		case 6:
			r = fs_mkdir(fs, d1, n1, 0755, 0, 0, &a);
			note("mkdir", r);
			if (r == 0)
				fs_forget(fs, a.st_ino, 1);
			break;
		case 7:
			note("rmdir", fs_rmdir(fs, d1, n1));
			break;
		case 8:
			r = fs_lookup(fs, d1, n1, &a);
			note("lookup", r);
			if (r == 0) {
				if (S_ISREG(a.st_mode)) {
					fs_open(fs, a.st_ino, O_RDWR);
					note("read",
					     (int)fs_read(fs, a.st_ino, buf, sizeof(buf), 0));
					note("pwrite", (int)fs_write(fs, a.st_ino, buf, 100, 3000));
					fs_attr_t in = {.st_size = rand_r(&seed) % 9000}, out;
					note("truncate",
					     fs_setattr(fs, a.st_ino, &in, FS_SET_SIZE, &out));
					fs_release(fs, a.st_ino);
					r = fs_link(fs, a.st_ino, d2, n2, &a);
					note("link", r);
					if (r == 0)
						fs_forget(fs, a.st_ino, 1);
				}
				fs_forget(fs, a.st_ino, 1);
			}
			break;
		case 9:
			note("readdir", fs_readdir(fs, d1, 0, drop, NULL));
			break;
		default:
			note("getattr", fs_getattr(fs, d1, &a));
			break;
		}
	}
	return NULL;
}

START_TEST(many_threads)
{
	struct nsimg img;
	nsimg_make(&img, "conc.img", 64 * MB, 1024, 4096);
	fs = nsimg_mount(&img);
	dirs[0] = FS_ROOT_INO;
	dirs[1] = ns_mkdir(fs, FS_ROOT_INO, "a");
	dirs[2] = ns_mkdir(fs, dirs[1], "b"); /* b inside a: renames go up and down */
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&unexpected), 0);
	fs_forget(fs, dirs[1], 1);
	fs_forget(fs, dirs[2], 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
	nsimg_fsck(&img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("concurrent");
	TCase *tc = tcase_create("concurrent");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, many_threads);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
