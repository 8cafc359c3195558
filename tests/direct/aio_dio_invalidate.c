/*
 * aio_dio_invalidate.c: generic/208's scenario as a test program of ours
 * (modelled on xfstests' src/aio-dio-regress/aio-dio-invalidate-failure.c,
 * the regression program of the AIO patch): O_DIRECT libaio writes of SIZE
 * bytes at offset 0 racing buffered writes of the same bytes, so that the
 * direct write's page-cache invalidation (docs/semantics.md P2, P3) finds
 * pages dirtied again under it.
 *
 *   aio_dio_invalidate [-t SECONDS] [-s SIZE] [-k DESCRIPTIONS] FILE
 *
 * One process submits one write at a time (QD1, as the original) and
 * counts each event's result; a forked child spins on buffered pwrite.
 * Unlike the original it does not stop at the first -EIO: it runs for
 * SECONDS and counts. Then, with the racing writer stopped, it reports
 * the write-back errors (errseq_t, the mainline mode) each open file
 * description sees: two fsyncs of the direct descriptor, of the buffered
 * one and of K more descriptions opened before the race, then one fsync of
 * a description opened after those fsyncs.
 *
 * Prints one JSON line: seconds, submitted, events, ok (res == SIZE), eio,
 * other (any other res: what the original program calls a failure),
 * first_other, buffered_writes, buffered_errors, fsync {direct: [r1, r2],
 * buffered: [r1, r2], before: [[r1, r2]...], after: r}, where r is 0 or
 * -errno. Exit 0 when every submitted write got one event, 1 otherwise,
 * 2 usage, 3 could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_BEFORE 8

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The buffered writer: pwrite the same bytes until killed; counts in shared memory. */
static void spin_buffered(int fd, const void *buf, size_t size, volatile long *counts)
{
	for (;;) {
		ssize_t n = pwrite(fd, buf, size, 0);
		if (n == (ssize_t)size)
			__atomic_fetch_add(&counts[0], 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&counts[1], 1, __ATOMIC_RELAXED);
	}
}

static int fsync_res(int fd)
{
	return fsync(fd) == 0 ? 0 : -errno;
}

int main(int argc, char **argv)
{
	double secs = 2;
	size_t size = 8u << 20;
	int nbefore = 2, c;

	while ((c = getopt(argc, argv, "t:s:k:")) != -1) {
		switch (c) {
		case 't':
			secs = atof(optarg);
			break;
		case 's':
			size = strtoull(optarg, NULL, 0);
			break;
		case 'k':
			nbefore = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || secs <= 0 || !size || size % 4096 || nbefore < 0 ||
	    nbefore > MAX_BEFORE)
		goto usage;
	const char *path = argv[optind];

	int fd = open(path, O_DIRECT | O_CREAT | O_RDWR, 0644);
	int fd2 = open(path, O_RDWR);
	int before[MAX_BEFORE];
	for (int i = 0; i < nbefore; i++)
		before[i] = open(path, O_RDONLY);
	void *buf;
	if (fd < 0 || fd2 < 0 || posix_memalign(&buf, 4096, size)) {
		perror(path);
		return 3;
	}
	for (int i = 0; i < nbefore; i++)
		if (before[i] < 0) {
			perror(path);
			return 3;
		}
	memset(buf, 'w', size);
	volatile long *counts =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED) {
		perror("mmap");
		return 3;
	}

	io_context_t ctx = 0;
	int r = io_queue_init(1, &ctx);
	if (r) {
		fprintf(stderr, "io_queue_init: %s\n", strerror(-r));
		return 3;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 3;
	}
	if (child == 0) {
		spin_buffered(fd2, buf, size, counts);
		_exit(0);
	}

	long submitted = 0, events = 0, ok = 0, eio = 0, other = 0, first_other = 0;
	struct iocb iocb, *iocbs[1] = {&iocb};
	double end = now() + secs;
	while (now() < end) {
		io_prep_pwrite(&iocb, fd, buf, size, 0);
		if ((r = io_submit(ctx, 1, iocbs)) != 1) {
			fprintf(stderr, "io_submit returned %d\n", r);
			break;
		}
		submitted++;
		struct io_event ev;
		struct timespec limit = {60, 0};
		if ((r = io_getevents(ctx, 1, 1, &ev, &limit)) != 1) {
			fprintf(stderr, "io_getevents returned %d\n", r);
			break;
		}
		events++;
		long res = (long)ev.res;
		if (res == (long)size) {
			ok++;
		} else if (res == -EIO) {
			eio++;
		} else {
			if (!other++)
				first_other = res;
		}
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	/* errseq_t: each description open when an error was recorded sees it
	   once; one opened after it was seen does not. */
	int fs_direct[2], fs_buffered[2], fs_before[MAX_BEFORE][2];
	for (int k = 0; k < 2; k++) {
		fs_direct[k] = fsync_res(fd);
		fs_buffered[k] = fsync_res(fd2);
		for (int i = 0; i < nbefore; i++)
			fs_before[i][k] = fsync_res(before[i]);
	}
	int late = open(path, O_RDONLY);
	int fs_after = late < 0 ? -errno : fsync_res(late);

	printf("{\"seconds\": %.1f, \"size\": %zu, \"submitted\": %ld, \"events\": %ld, "
	       "\"ok\": %ld, \"eio\": %ld, \"other\": %ld, \"first_other\": %ld, "
	       "\"buffered_writes\": %ld, \"buffered_errors\": %ld, \"fsync\": {\"direct\": "
	       "[%d, %d], \"buffered\": [%d, %d], \"before\": [",
	       secs, size, submitted, events, ok, eio, other, first_other, counts[0], counts[1],
	       fs_direct[0], fs_direct[1], fs_buffered[0], fs_buffered[1]);
	for (int i = 0; i < nbefore; i++)
		printf("%s[%d, %d]", i ? ", " : "", fs_before[i][0], fs_before[i][1]);
	printf("], \"after\": %d}}\n", fs_after);

	io_queue_release(ctx);
	for (int i = 0; i < nbefore; i++)
		close(before[i]);
	if (late >= 0)
		close(late);
	close(fd);
	close(fd2);
	free(buf);
	return events == submitted ? 0 : 1;
usage:
	fprintf(stderr,
		"usage: aio_dio_invalidate [-t SECONDS] [-s SIZE] [-k DESCRIPTIONS] FILE\n");
	return 2;
}
