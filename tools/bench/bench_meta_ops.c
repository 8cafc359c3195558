/*
 * bench_meta_ops.c: the timed loop of tools/bench/bench-meta (layer: benchmark
 * tool; calls only the C library on whatever filesystem DIR is on).
 *
 *   bench_meta_ops create|stat|unlink flat|tree DIR NFILES
 *
 * create: NFILES empty files (open O_CREAT|O_EXCL, close), in DIR/flat or
 *         spread in creation order over the 100 leaf directories of
 *         DIR/tree/DD/DD (the directories are made in the same phase).
 * stat:   stat() of every file, in creation order.
 * unlink: unlink() of every file, then rmdir of the tree's directories.
 * create and unlink end with syncfs(DIR), inside the timed span, so a
 * filesystem that defers its metadata writes pays for them here as well.
 *
 * Prints one JSON object: {"phase":..., "layout":..., "files":N,
 * "seconds":S}. The first failure is one line on stderr and exit 1.
 * A C loop rather than the Python driver so the per-call overhead of the
 * harness is far below the filesystems' own cost.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TREE_FANOUT 10 /* DIR/tree/DD/DD: 10 x 10 leaf directories */
#define TREE_LEAVES (TREE_FANOUT * TREE_FANOUT)

struct meta_run {
	const char *dir;
	bool tree;
	long nfiles;
	long per_leaf; /* files per leaf directory of the tree */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "bench_meta_ops: %s %s: %s\n", what, path, strerror(errno));
	return -1;
}

/* Path of file i. Precondition: buf holds PATH_MAX bytes. */
static void file_path(const struct meta_run *r, long i, char *buf, size_t len)
{
	if (r->tree) {
		long leaf = i / r->per_leaf;
		snprintf(buf, len, "%s/tree/%02ld/%02ld/f%07ld", r->dir, leaf / TREE_FANOUT,
			 leaf % TREE_FANOUT, i);
	} else {
		snprintf(buf, len, "%s/flat/f%07ld", r->dir, i);
	}
}

/* mkdir (create) or rmdir (remove) of the layout's directories, parents first on create. */
static int layout_dirs(const struct meta_run *r, bool create)
{
	char p[4096];

	if (!r->tree) {
		snprintf(p, sizeof(p), "%s/flat", r->dir);
		if (create ? mkdir(p, 0755) : rmdir(p))
			return fail(create ? "mkdir" : "rmdir", p);
		return 0;
	}
	for (int step = 0; step < 3; step++) {
		/* create: root, tops, leaves; remove: leaves, tops, root */
		int level = create ? step : 2 - step;

		for (int a = 0; a < (level ? TREE_FANOUT : 1); a++) {
			for (int b = 0; b < (level == 2 ? TREE_FANOUT : 1); b++) {
				if (level == 0)
					snprintf(p, sizeof(p), "%s/tree", r->dir);
				else if (level == 1)
					snprintf(p, sizeof(p), "%s/tree/%02d", r->dir, a);
				else
					snprintf(p, sizeof(p), "%s/tree/%02d/%02d", r->dir, a, b);
				if (create ? mkdir(p, 0755) : rmdir(p))
					return fail(create ? "mkdir" : "rmdir", p);
			}
		}
	}
	return 0;
}

static int sync_dir(const struct meta_run *r)
{
	int fd = open(r->dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return fail("open", r->dir);
	if (syncfs(fd)) {
		close(fd);
		return fail("syncfs", r->dir);
	}
	close(fd);
	return 0;
}

static int phase_create(const struct meta_run *r)
{
	char p[4096];

	if (layout_dirs(r, true))
		return -1;
	for (long i = 0; i < r->nfiles; i++) {
		file_path(r, i, p, sizeof(p));
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			return fail("create", p);
		close(fd);
	}
	return sync_dir(r);
}

static int phase_stat(const struct meta_run *r)
{
	char p[4096];
	struct stat st;

	for (long i = 0; i < r->nfiles; i++) {
		file_path(r, i, p, sizeof(p));
		if (stat(p, &st))
			return fail("stat", p);
	}
	return 0;
}

static int phase_unlink(const struct meta_run *r)
{
	char p[4096];

	for (long i = 0; i < r->nfiles; i++) {
		file_path(r, i, p, sizeof(p));
		if (unlink(p))
			return fail("unlink", p);
	}
	if (layout_dirs(r, false))
		return -1;
	return sync_dir(r);
}

int main(int argc, char **argv)
{
	struct meta_run r;
	int (*phase)(const struct meta_run *);
	double t0;

	if (argc != 5 || (strcmp(argv[2], "flat") && strcmp(argv[2], "tree")) ||
	    (r.nfiles = atol(argv[4])) <= 0) {
		fprintf(stderr, "usage: bench_meta_ops create|stat|unlink flat|tree DIR NFILES\n");
		return 2;
	}
	if (!strcmp(argv[1], "create"))
		phase = phase_create;
	else if (!strcmp(argv[1], "stat"))
		phase = phase_stat;
	else if (!strcmp(argv[1], "unlink"))
		phase = phase_unlink;
	else {
		fprintf(stderr, "bench_meta_ops: unknown phase %s\n", argv[1]);
		return 2;
	}
	r.dir = argv[3];
	r.tree = !strcmp(argv[2], "tree");
	r.per_leaf = (r.nfiles + TREE_LEAVES - 1) / TREE_LEAVES;
	t0 = now();
	if (phase(&r))
		return 1;
	json_t *res =
	    json_pack("{s:s, s:s, s:I, s:f}", "phase", argv[1], "layout", argv[2], "files",
		      (json_int_t)r.nfiles, "seconds", round((now() - t0) * 1e6) / 1e6);
	if (!res || json_dumpf(res, stdout, JSON_REAL_PRECISION(15)) < 0)
		return 1;
	putchar('\n');
	json_decref(res);
	return 0;
}
