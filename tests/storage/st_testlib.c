/* st_testlib.c: see st_testlib.h. */
#include "st_testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void cleanup(void)
{
	if (dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

const char *st_dir(void)
{
	if (!dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/eiocbfs-storage-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			exit(2);
		}
		atexit(cleanup);
	}
	return dir;
}

const char *st_path(const char *name)
{
	static char paths[8][300];
	static int slot;
	char *p = paths[slot++ % 8];
	snprintf(p, 300, "%s/%s", st_dir(), name);
	return p;
}

void st_mkfs(const char *path, uint64_t size, uint32_t bs, uint64_t ninodes)
{
	unlink(path);
	struct format_opts o = {.size_bytes = size, .block_size = bs, .ninodes = ninodes};
	char err[256] = "";
	int rc = storage_format(path, &o, err, sizeof(err));
	ck_assert_msg(rc == 0, "storage_format %s: %d %s", path, rc, err);
}

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

void st_pwrite(const char *path, const void *buf, size_t len, uint64_t off)
{
	int fd = open_or_die(path, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

void st_read_block(const char *path, uint32_t bs, uint64_t blockno, void *buf)
{
	int fd = open_or_die(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, buf, bs, (off_t)(blockno * bs)), (ssize_t)bs);
	close(fd);
}

void st_write_block(const char *path, uint32_t bs, uint64_t blockno, const void *buf)
{
	st_pwrite(path, buf, bs, blockno * bs);
}

void st_copy(const char *from, const char *to)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	ck_assert_int_eq(system(cmd), 0);
}

int st_same(const char *a, const char *b)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

int st_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
