/*
 * aio_count.c: the small libaio program of the mount tests (tests/direct):
 * O_DIRECT reads or writes with libaio at a chosen queue depth, counting
 * the events each iocb gets (docs/semantics.md R7: exactly one) and their results.
 *
 *   aio_count [-r] [-d] [-q DEPTH] [-b BYTES] [-n COUNT] [-o OFFSET] [-s SPAN]
 *             [-p BYTE] FILE
 *       -r read (default: write), -d O_DSYNC, iocb i covers OFFSET +
 *       (i * BYTES) % SPAN; writes fill their buffer with BYTE.
 *       Prints one JSON line: submitted, events, ok, eio, other, lost,
 *       duplicated, errors {NAME: count}, elapsed_ms.
 *   aio_count -I MS FILE
 *       a plain O_DIRECT pread(4096 at 0) interrupted by a signal after MS
 *       milliseconds (handler without SA_RESTART): prints {"res": N,
 *       "errno": "NAME"} with what pread returned.
 * Exit: 0 when every submitted iocb got exactly one event, 1 otherwise,
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
}

static int interrupted_read(const char *path, int ms)
{
	struct sigaction sa;
	struct itimerval it = {.it_value = {ms / 1000, (ms % 1000) * 1000}};
	void *buf;
	int fd = open(path, O_RDONLY | O_DIRECT);

	if (fd < 0 || posix_memalign(&buf, 4096, 4096)) {
		perror(path);
		return 3;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: the read returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	ssize_t n = pread(fd, buf, 4096, 0);
	int e = errno;
	printf("{\"res\": %zd, \"errno\": \"%s\"}\n", n,
	       n < 0 ? (e == EINTR ? "EINTR" : strerror(e)) : "");
	close(fd);
	free(buf);
	return 0;
}

static const char *errname(long res)
{
	switch (-res) {
	case EIO:
		return "EIO";
	case EBUSY:
		return "EBUSY";
	case EINVAL:
		return "EINVAL";
	case EINTR:
		return "EINTR";
	case ENOSPC:
		return "ENOSPC";
	default:
		return "OTHER";
	}
}

int main(int argc, char **argv)
{
	int write = 1, dsync = 0, depth = 1, c;
	long bs = 4096, count = 16, off0 = 0, span = 0, pattern = 'A';

	while ((c = getopt(argc, argv, "rdq:b:n:o:s:p:I:")) != -1) {
		switch (c) {
		case 'r':
			write = 0;
			break;
		case 'd':
			dsync = 1;
			break;
		case 'q':
			depth = atoi(optarg);
			break;
		case 'b':
			bs = atol(optarg);
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 'o':
			off0 = atol(optarg);
			break;
		case 's':
			span = atol(optarg);
			break;
		case 'p':
			pattern = atol(optarg);
			break;
		case 'I':
			if (optind >= argc)
				return 2;
			return interrupted_read(argv[optind], atoi(optarg));
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || depth < 1 || bs <= 0 || count < 0)
		return 2;
	if (!span)
		span = bs * count;
	int fd =
	    open(argv[optind],
		 (write ? O_RDWR | O_CREAT : O_RDONLY) | O_DIRECT | (dsync ? O_DSYNC : 0), 0644);
	if (fd < 0) {
		perror(argv[optind]);
		return 3;
	}
	io_context_t ctx = 0;
	if (io_setup(depth, &ctx) < 0) {
		fprintf(stderr, "io_setup failed\n");
		return 3;
	}
	struct iocb *cbs = calloc((size_t)depth, sizeof(*cbs));
	char **bufs = calloc((size_t)depth, sizeof(*bufs));
	int *slot_free = calloc((size_t)depth, sizeof(int));
	int *seen = calloc((size_t)(count ? count : 1), sizeof(int));
	struct io_event *evs = calloc((size_t)depth, sizeof(*evs));
	long ok = 0, eio = 0, other = 0, events = 0, submitted = 0, dup = 0;
	long errs[6] = {0};
	const char *names[6] = {"EIO", "EBUSY", "EINVAL", "EINTR", "ENOSPC", "OTHER"};
	struct timespec t0, t1;

	for (int i = 0; i < depth; i++) {
		if (posix_memalign((void **)&bufs[i], 4096, (size_t)bs))
			return 3;
		memset(bufs[i], (int)pattern, (size_t)bs);
		slot_free[i] = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long next = 0, inflight = 0;
	while (next < count || inflight > 0) {
		while (next < count && inflight < depth) {
			int s = 0;
			while (!slot_free[s])
				s++;
			long long off = off0 + (next * bs) % span;
			if (write)
				io_prep_pwrite(&cbs[s], fd, bufs[s], (size_t)bs, off);
			else
				io_prep_pread(&cbs[s], fd, bufs[s], (size_t)bs, off);
			cbs[s].data = (void *)(intptr_t)next;
			struct iocb *p = &cbs[s];
			int r = io_submit(ctx, 1, &p);
			if (r != 1) {
				fprintf(stderr, "io_submit: %s\n", strerror(-r));
				return 3;
			}
			slot_free[s] = 0;
			submitted++;
			inflight++;
			next++;
		}
		int n = io_getevents(ctx, 1, depth, evs, NULL);
		if (n < 0) {
			if (n == -EINTR)
				continue;
			fprintf(stderr, "io_getevents: %s\n", strerror(-n));
			return 3;
		}
		for (int i = 0; i < n; i++) {
			long id = (long)(intptr_t)evs[i].data;
			long res = (long)evs[i].res;
			events++;
			if (id < 0 || id >= count || seen[id]++) {
				dup++;
				continue;
			}
			slot_free[evs[i].obj - cbs] = 1;
			inflight--;
			if (res == bs) {
				ok++;
			} else if (res == -EIO) {
				eio++;
			} else {
				other++;
			}
			if (res < 0) {
				const char *nm = errname(res);
				for (int k = 0; k < 6; k++)
					if (!strcmp(nm, names[k]))
						errs[k]++;
			}
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long lost = 0;
	for (long i = 0; i < count; i++)
		lost += seen[i] == 0;
	printf("{\"submitted\": %ld, \"events\": %ld, \"ok\": %ld, \"eio\": %ld, \"other\": %ld, "
	       "\"lost\": %ld, \"duplicated\": %ld, \"elapsed_ms\": %ld, \"errors\": {",
	       submitted, events, ok, eio, other, lost, dup,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	int first = 1;
	for (int k = 0; k < 6; k++) {
		if (errs[k]) {
			printf("%s\"%s\": %ld", first ? "" : ", ", names[k], errs[k]);
			first = 0;
		}
	}
	printf("}}\n");
	io_destroy(ctx);
	close(fd);
	for (int i = 0; i < depth; i++)
		free(bufs[i]);
	free(bufs);
	free(cbs);
	free(slot_free);
	free(seen);
	free(evs);
	return lost || dup || events != submitted ? 1 : 0;
}
