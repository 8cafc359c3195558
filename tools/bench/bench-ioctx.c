/* bench-ioctx: what ioctx costs over raw libaio, and its bare cycle rate.
 *
 *   bench-ioctx [--json] [--dir DIR] [--size MIB] [--rounds N]
 *               [--round-ms MS] [--only CASE|null] [--hop]
 *
 * On a temporary image file in DIR (default: the current directory, which
 * must support O_DIRECT), 4 KiB random reads and writes at queue depth 1 and
 * 32. Each round runs every way once, for --round-ms, in a rotating order,
 * so that slow spells of the machine or the device hit all ways alike:
 *   raw    one thread: io_getevents, then io_submit of all it reaped, on
 *          its own O_DIRECT descriptor, no ioctx
 *   ioctx  ioctx_get_req/ioctx_submit through aio_dev_ops onto aio_dev; the
 *          device completion thread completes the iocb (ioctx_dio_end ->
 *          ioctx_complete -> event) and, in aio_dev's batch hook, reaps the
 *          events (ioctx_getevents) and submits the next requests, which
 *          aio_dev sends in one io_submit after the hook (plugging): the
 *          same single-thread loop as raw, as docs/design.md asks of the
 *          filesystem ("the thread that inserts an event also drains the
 *          ring")
 *   hop    (--hop) ioctx with the consumer on another thread, waiting in
 *          ioctx_getevents: one thread wake-up per batch more
 * IOPS are medians over the rounds; a ratio is the median of the per-round
 * ratios. Then the ioctx cycle rate (get, submit, complete, event, reap) on
 * one thread over a backend that completes at once.
 *
 * --json prints {"cases":[{"name","raw_iops","ioctx_iops","ratio"}...],
 * "null_cycles_per_s"} (ioctx against raw). The image file has no name
 * (O_TMPFILE; or it is unlinked as soon as it is open), so nothing is left
 * behind on any exit path. Exit codes: 0, 1 (a failure during the run), 2
 * (bad usage, or DIR without O_DIRECT).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libaio.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aio_dev.h"
#include "aio_dev_ops.h"
#include "ioctx.h"

#define BS 4096
#define MAX_QD 32

static const char *prog = "bench-ioctx";

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* xorshift64*: a random block of the image. */
static uint64_t rnd_block(uint64_t *s, uint64_t nblocks)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (x * 0x2545F4914F6CDD1Dull) % nblocks;
}

struct bench {
	int fd; /* raw libaio's own O_DIRECT descriptor */
	io_context_t raw_ctx;
	struct aio_dev *dev;
	struct aio_dev_ioctx glue;
	struct ioctx *ctx;
	uint64_t nblocks;
	char *bufs; /* MAX_QD aligned blocks */
};

struct result {
	uint64_t ops, ns;
	uint64_t cpu_ns; /* process CPU time (all threads), user + sys */
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- raw libaio --------------------------------------------------------- */

static void run_raw(struct bench *b, int write, int qd, uint64_t dur_ns, struct result *r)
{
	struct iocb cbs[MAX_QD], *ptrs[MAX_QD];
	struct io_event ev[MAX_QD];
	uint64_t seed = now_ns() | 1, start, deadline, ops = 0;
	int inflight = 0;

	for (int i = 0; i < qd; i++) {
		off_t off = (off_t)(rnd_block(&seed, b->nblocks) * BS);
		if (write)
			io_prep_pwrite(&cbs[i], b->fd, b->bufs + i * BS, BS, off);
		else
			io_prep_pread(&cbs[i], b->fd, b->bufs + i * BS, BS, off);
		ptrs[i] = &cbs[i];
	}
	start = now_ns();
	deadline = start + dur_ns;
	if (io_submit(b->raw_ctx, qd, ptrs) != qd)
		die("raw io_submit failed");
	inflight = qd;
	while (inflight) {
		int n = io_getevents(b->raw_ctx, 1, qd, ev, NULL), k = 0;
		int more;

		if (n < 0)
			die("raw io_getevents: %s", strerror(-n));
		more = now_ns() < deadline;
		for (int i = 0; i < n; i++) {
			struct iocb *cb = ev[i].obj;
			if ((long)ev[i].res != BS)
				die("raw I/O: res %ld", (long)ev[i].res);
			ops++;
			if (!more)
				continue;
			cb->u.c.offset = (long long)(rnd_block(&seed, b->nblocks) * BS);
			ptrs[k++] = cb;
		}
		inflight -= n - k;
		if (k && io_submit(b->raw_ctx, k, ptrs) != k)
			die("raw io_submit failed");
	}
	r->ops += ops;
	r->ns += now_ns() - start;
}

/* ---- ioctx over aio_dev ------------------------------------------------- */

/* The ioctx loop. Its consumer (reap events, submit the next requests) runs
 * where events are inserted: mostly on the completion thread, in aio_dev's
 * batch hook, once per reaped batch; but when a device I/O completes before
 * ioctx_submit has dropped the submission reference, the submitter's drop
 * inserts the event (R5), and ioctx's notify callback runs the consumer on
 * that thread. One consumer at a time: `busy`; `again` makes the running one
 * look once more, so no event is left behind. */
struct loop {
	struct bench *b;
	int write;
	atomic_int active; /* the consumer drives the loop */
	atomic_int busy, again;
	uint64_t seed, deadline, ops, end_ns; /* the consumer's */
	int inflight;
	pthread_mutex_t lock; /* finished, done: the end of a run */
	pthread_cond_t done;
	int finished;
};

static struct loop g_loop = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static void submit_one(struct loop *l, uint64_t slot, uint64_t *seed)
{
	struct ioctx_iocb *iocb;
	int64_t r;

	if (ioctx_get_req(l->b->ctx, &iocb) < 0)
		die("ioctx_get_req: ring full");
	iocb->ops = &l->b->glue.ops;
	iocb->opcode = l->write ? IO_CMD_PWRITE : IO_CMD_PREAD;
	iocb->buf = l->b->bufs + slot * BS;
	iocb->nbytes = BS;
	iocb->offset = (int64_t)(rnd_block(seed, l->b->nblocks) * BS);
	iocb->user_data = slot;
	r = ioctx_submit(l->b->ctx, iocb);
	if (r != -EIOCBQUEUED)
		die("ioctx_submit: %lld", (long long)r);
}

/* Handles reaped events: count, check, submit the next ones. Returns how
 * many are still in flight. */
static int loop_events(struct loop *l, struct ioctx_event *ev, int n)
{
	int more = now_ns() < l->deadline;

	for (int i = 0; i < n; i++) {
		if (ev[i].res != BS)
			die("ioctx I/O: res %lld", (long long)ev[i].res);
		l->ops++;
		if (more)
			submit_one(l, ev[i].data, &l->seed);
		else
			l->inflight--;
	}
	return l->inflight;
}

static void consume(struct loop *l)
{
	static const struct timespec zero = {0, 0};
	struct ioctx_event ev[MAX_QD];

	do {
		if (atomic_exchange(&l->busy, 1)) {
			atomic_store(&l->again, 1); /* the owner will look */
			return;
		}
		do {
			int n;

			atomic_store(&l->again, 0);
			if (!atomic_load_explicit(&l->active, memory_order_relaxed))
				break;
			while ((n = ioctx_getevents(l->b->ctx, 0, MAX_QD, ev, &zero)) > 0) {
				if (loop_events(l, ev, n) == 0) {
					atomic_store_explicit(&l->active, 0, memory_order_relaxed);
					l->end_ns = now_ns();
					pthread_mutex_lock(&l->lock);
					l->finished = 1;
					pthread_cond_signal(&l->done);
					pthread_mutex_unlock(&l->lock);
					break;
				}
			}
		} while (atomic_load(&l->again));
		atomic_store(&l->busy, 0);
	} while (atomic_load(&l->again));
}

/* aio_dev's batch hook: on the completion thread, after the iocbs of the
 * batch have been completed. */
static void batch_hook(void *arg)
{
	struct loop *l = arg;

	if (atomic_load_explicit(&l->active, memory_order_relaxed))
		consume(l);
}

/* ioctx's notify: an event was inserted. On the completion thread the batch
 * hook will take it; elsewhere (the submitter held the last reference),
 * take it here. */
static void notify(void *arg)
{
	struct loop *l = arg;

	if (atomic_load_explicit(&l->active, memory_order_relaxed) &&
	    !aio_dev_on_completion_thread(l->b->dev))
		consume(l);
}

static void run_ioctx(struct bench *b, int write, int qd, uint64_t dur_ns, int hop,
		      struct result *r)
{
	struct loop *l = &g_loop;
	uint64_t start, seed = now_ns() * 3 | 1;

	aio_dev_drain(b->dev); /* the consumer is idle: set up the loop */
	l->b = b;
	l->write = write;
	l->seed = now_ns() | 1;
	l->ops = 0;
	l->inflight = qd;
	l->finished = 0;
	start = now_ns();
	l->deadline = start + dur_ns;
	/* The consumer starts with the first event, possibly before the
	 * loop below is done: it uses l->seed, this loop its own. */
	atomic_store(&l->active, !hop);
	for (int i = 0; i < qd; i++)
		submit_one(l, (uint64_t)i, &seed);
	if (hop) {
		struct ioctx_event ev[MAX_QD];
		while (l->inflight) {
			int n = ioctx_getevents(b->ctx, 1, qd, ev, NULL);
			if (n < 0)
				die("ioctx_getevents: %d", n);
			loop_events(l, ev, n);
		}
		l->end_ns = now_ns();
	} else {
		/* Sleep without timer wake-ups (they would keep this CPU
		 * out of idle and favour this way). */
		pthread_mutex_lock(&l->lock);
		while (!l->finished)
			pthread_cond_wait(&l->done, &l->lock);
		pthread_mutex_unlock(&l->lock);
		aio_dev_drain(b->dev);
	}
	r->ops += l->ops;
	r->ns += l->end_ns - start;
}

/* ---- The bare ioctx cycle ----------------------------------------------- */

static int64_t null_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	/* A device that completes at once, on the asynchronous path. */
	ioctx_iocb_get(ctx, iocb);
	ioctx_complete(ctx, ioctx_handle(iocb), (int64_t)iocb->nbytes, 0);
	return -EIOCBQUEUED;
}

static const struct ioctx_ops null_ops = {.submit = null_submit};

/* Cycles per second on one thread: the best of `slices` slices (the
 * code's speed, not the machine's other load); *per_cpu_s: the same per
 * second of the thread's CPU time (immune to preemption). */
static double run_null(uint64_t slice_ns, int slices, double *per_cpu_s)
{
	struct ioctx_params p = {.nr = 64, .mode = IOCTX_DEFERRED};
	struct ioctx *ctx;
	struct ioctx_event ev;
	double best = 0;

	*per_cpu_s = 0;
	if (ioctx_setup(&p, &ctx) < 0)
		die("ioctx_setup failed");
	for (int s = 0; s < slices; s++) {
		uint64_t ops = 0, start = now_ns(), end = start + slice_ns;
		uint64_t c0 = thread_cpu_ns();
		double rate;

		do {
			for (int i = 0; i < 1024; i++) {
				struct ioctx_iocb *iocb;
				if (ioctx_get_req(ctx, &iocb) < 0)
					die("null: ioctx_get_req failed");
				iocb->ops = &null_ops;
				iocb->nbytes = BS;
				iocb->user_data = ops;
				ioctx_submit(ctx, iocb);
				if (ioctx_getevents(ctx, 1, 1, &ev, NULL) != 1 || ev.res != BS)
					die("null: bad event");
				ops++;
			}
		} while (now_ns() < end);
		rate = (double)ops * 1e9 / (double)(now_ns() - start);
		if (rate > best)
			best = rate;
		rate = (double)ops * 1e9 / (double)(thread_cpu_ns() - c0);
		if (rate > *per_cpu_s)
			*per_cpu_s = rate;
	}
	ioctx_destroy(ctx);
	return best;
}

/* ---- The image file ----------------------------------------------------- */

/* An unnamed O_DIRECT file in dir, or a named one unlinked at once. */
static int make_image(const char *dir, uint64_t size, char *path, size_t plen)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
	char *buf;

	if (fd < 0 && errno == EINVAL) {
		fprintf(stderr,
			"%s: %s does not support O_DIRECT; run from a "
			"directory on a filesystem that does (ext4, xfs, "
			"btrfs...), or use --dir\n",
			prog, dir);
		exit(2);
	}
	if (fd < 0) { /* no O_TMPFILE here: a named file, unlinked now */
		snprintf(path, plen, "%s/bench-ioctx.XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			die("cannot create an image file in %s: %s", dir, strerror(errno));
		unlink(path);
		if (fcntl(fd, F_SETFL, O_DIRECT) < 0) {
			fprintf(stderr,
				"%s: %s does not support O_DIRECT; run "
				"from a directory on a filesystem that does, or "
				"use --dir\n",
				prog, dir);
			close(fd);
			exit(2);
		}
	}
	/* Real data: reading a hole or an unwritten extent never reaches the
	 * device. */
	if (posix_memalign((void **)&buf, BS, 1 << 20))
		die("out of memory");
	memset(buf, 0xa5, 1 << 20);
	for (uint64_t off = 0; off < size; off += 1 << 20)
		if (pwrite(fd, buf, 1 << 20, (off_t)off) != 1 << 20) {
			int e = errno;
			close(fd);
			die("cannot write the image in %s: %s", dir, strerror(e));
		}
	free(buf);
	if (fdatasync(fd) < 0)
		die("fdatasync: %s", strerror(errno));
	snprintf(path, plen, "/proc/self/fd/%d", fd);
	return fd;
}

/* ---- Main --------------------------------------------------------------- */

enum way { RAW, IOCTX, HOP, NWAYS };
static const char *const way_name[NWAYS] = {"raw", "ioctx", "hop"};

#define MAX_ROUNDS 1000

struct bcase {
	const char *name;
	int write, qd;
	struct result res[NWAYS]; /* totals */
	double round_iops[NWAYS][MAX_ROUNDS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Way w against way base: IOPS medians, and the median of the ratios
 * within each round (the two ran side by side, so slow spells of the
 * machine or the device hit both alike). */
static void compare(const struct bcase *k, int rounds, enum way w, enum way base, double *iops_w,
		    double *iops_base, double *ratio)
{
	double a[MAX_ROUNDS], b[MAX_ROUNDS], r[MAX_ROUNDS];

	for (int i = 0; i < rounds; i++) {
		a[i] = k->round_iops[w][i];
		b[i] = k->round_iops[base][i];
		r[i] = b[i] > 0 ? a[i] / b[i] : 0;
	}
	*ratio = median(r, rounds);
	*iops_w = median(a, rounds);
	*iops_base = median(b, rounds);
}

static double cpu_per_io(const struct result *r)
{
	return r->ops ? (double)r->cpu_ns / 1e3 / (double)r->ops : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [--json] [--dir DIR] [--size MIB] "
		"[--rounds N] [--round-ms MS] [--only CASE|null] [--hop]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct bcase cases[] = {
	    {.name = "randread-4k-qd1", .write = 0, .qd = 1},
	    {.name = "randread-4k-qd32", .write = 0, .qd = 32},
	    {.name = "randwrite-4k-qd1", .write = 1, .qd = 1},
	    {.name = "randwrite-4k-qd32", .write = 1, .qd = 32},
	};
	const int ncases = sizeof(cases) / sizeof(cases[0]);
	const char *dir = ".", *only = NULL;
	int json = 0, rounds = 60, round_ms = 60;
	int nways = HOP; /* raw and ioctx; --hop: and hop */
	int verbose = getenv("BENCH_IOCTX_VERBOSE") != NULL;
	uint64_t size_mb = 128;
	struct ioctx_params p = {
	    .nr = 2 * MAX_QD, .mode = IOCTX_DEFERRED, .notify = notify, .notify_arg = &g_loop};
	struct aio_dev_opts o = {.queue_depth = 2 * MAX_QD, .batch = MAX_QD};
	struct bench b = {0};
	char path[4200], err[512];
	double null_rate = 0, null_cpu = 0;
	int fd, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size_mb = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--round-ms") && i + 1 < argc)
			round_ms = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--hop"))
			nways = NWAYS;
		else
			usage();
	}
	if (size_mb < 1 || rounds < 1 || rounds > MAX_ROUNDS || round_ms < 5)
		usage();
	signal(SIGPIPE, SIG_IGN);
	{
		static char real[4096];
		if (realpath(dir, real))
			dir = real; /* for messages */
	}

	if (!json)
		printf("bench-ioctx: %llu MiB unnamed image file in %s, "
		       "O_DIRECT, %d rounds x %d ms per way and case\n",
		       (unsigned long long)size_mb, dir, rounds, round_ms);
	fd = make_image(dir, size_mb << 20, path, sizeof(path));
	b.nblocks = (size_mb << 20) / BS;

	/* raw: its own descriptor and io context */
	b.fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (b.fd < 0)
		die("%s: %s", path, strerror(errno));
	if ((r = io_setup(2 * MAX_QD, &b.raw_ctx)) < 0)
		die("io_setup: %s", strerror(-r));
	/* ioctx over aio_dev */
	if (aio_dev_open(&b.dev, path, &o, err, sizeof(err)) < 0)
		die("%s", err);
	close(fd); /* both hold their own descriptor now */
	aio_dev_ioctx_init(&b.glue, b.dev, 0);
	if ((r = ioctx_setup(&p, &b.ctx)) < 0)
		die("ioctx_setup: %s", strerror(-r));
	aio_dev_set_batch_hook(b.dev, batch_hook, &g_loop);
	if (posix_memalign((void **)&b.bufs, BS, MAX_QD * BS))
		die("out of memory");
	memset(b.bufs, 0x5a, MAX_QD * BS);

	for (int c = 0; c < ncases; c++) {
		struct bcase *k = &cases[c];
		uint64_t dur = (uint64_t)round_ms * 1000000ull;

		struct result junk = {0};

		if (only && strcmp(only, k->name))
			continue;
		/* warm-up, not counted */
		run_raw(&b, k->write, k->qd, dur / 4, &junk);
		run_ioctx(&b, k->write, k->qd, dur / 4, 0, &junk);
		for (int i = 0; i < rounds; i++) {
			/* every way once per round, the order rotating */
			for (int j = 0; j < nways; j++) {
				enum way w = (enum way)((i + j) % nways);
				struct result *res = &k->res[w], before = *res;
				uint64_t c0 = cpu_ns();

				if (w == RAW)
					run_raw(&b, k->write, k->qd, dur, res);
				else
					run_ioctx(&b, k->write, k->qd, dur, w == HOP, res);
				res->cpu_ns += cpu_ns() - c0;
				k->round_iops[w][i] =
				    (res->ops - before.ops) * 1e9 / (double)(res->ns - before.ns);
				if (verbose)
					fprintf(stderr,
						"%s round %d %s: %.0f "
						"IOPS\n",
						k->name, i, way_name[w], k->round_iops[w][i]);
			}
		}
	}
	if (!only || !strcmp(only, "null"))
		null_rate = run_null(200000000ull, 5, &null_cpu);

	if (json) {
		json_t *jcases = json_array(), *root;

		for (int c = 0; jcases && c < ncases; c++) {
			struct bcase *k = &cases[c];
			double raw, io, ratio;

			if (!k->res[RAW].ops)
				continue;
			compare(k, rounds, IOCTX, RAW, &io, &raw, &ratio);
			json_array_append_new(jcases,
					      json_pack("{s:s, s:I, s:I, s:f}", "name", k->name,
							"raw_iops", (json_int_t)llround(raw),
							"ioctx_iops", (json_int_t)llround(io),
							"ratio", round(ratio * 1000) / 1000));
		}
		root = json_pack("{s:o*, s:I}", "cases", jcases, "null_cycles_per_s",
				 (json_int_t)llround(null_rate));
		if (!root || json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15)) < 0)
			return 1;
		putchar('\n');
		json_decref(root);
	} else {
		printf("\n%-18s %9s %9s %6s | %s", "case", "raw IOPS", "ioctx", "ratio",
		       "CPU us/IO: raw ioctx");
		if (nways == NWAYS)
			printf(" | %9s %6s %6s", "hop IOPS", "ratio", "CPU");
		printf("\n");
		for (int c = 0; c < ncases; c++) {
			struct bcase *k = &cases[c];
			double raw, io, r_io, hop, raw2, r_hop;

			if (!k->res[RAW].ops)
				continue;
			compare(k, rounds, IOCTX, RAW, &io, &raw, &r_io);
			printf("%-18s %9.0f %9.0f %6.3f |          %5.2f %5.2f", k->name, raw, io,
			       r_io, cpu_per_io(&k->res[RAW]), cpu_per_io(&k->res[IOCTX]));
			if (nways == NWAYS) {
				compare(k, rounds, HOP, RAW, &hop, &raw2, &r_hop);
				printf(" | %9.0f %6.3f %6.2f", hop, r_hop,
				       cpu_per_io(&k->res[HOP]));
			}
			printf("\n");
		}
		printf("\nioctx null cycles (get, submit, complete, event, "
		       "reap; one thread, best of 5): %.0f /s\n"
		       "  per second of that thread's CPU time: %.0f /s\n",
		       null_rate, null_cpu);
		printf("\nIOPS: medians of the rounds; ratio: median of the "
		       "per-round ratios (each round\nruns every way once, side "
		       "by side); CPU: process CPU time per I/O, all threads.\n"
		       "raw: io_getevents, then one io_submit per reaped batch. "
		       "ioctx: the same loop run by\naio_dev's completion thread "
		       "(batch hook, plugged submission).%s\n"
		       "Goal: ioctx / raw >= 0.95, >= 2000000 null cycles/s.\n",
		       nways == NWAYS ? " hop: ioctx with the\nconsumer on "
					"another thread (one wake-up per batch more)."
				      : "");
	}

	aio_dev_close(b.dev);
	aio_dev_ioctx_destroy(&b.glue);
	ioctx_destroy(b.ctx);
	io_destroy(b.raw_ctx);
	close(b.fd);
	free(b.bufs);
	return 0;
}
