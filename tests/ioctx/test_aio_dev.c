/* test_aio_dev.c: the libaio device backend (ioctx/aio_dev.*) alone, and
 * under ioctx through its submit method (ioctx/aio_dev_ops.*).
 *
 * One program, three CTest entries (argv[1] picks the target):
 *   file          an image file in $TMPDIR (or /tmp), O_DIRECT checked
 *   loop          a loop device over an image file (root, /dev/loop-control)
 *   device-error  a loop device over a file on a tiny tmpfs: writes past its
 *                 capacity fail in the device, a real asynchronous error
 * A target the machine cannot provide exits 77 (CTest SKIP) after printing
 * why, never a pass. Loop devices are attached with LO_FLAGS_AUTOCLEAR and
 * their backing file unlinked at once, so they go away on every exit path,
 * even SIGKILL; the fixture also detaches them explicitly.
 *
 * Rules of docs/semantics.md are named where a test pins one down.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "aio_dev.h"
#include "aio_dev_ops.h"
#include "ioctx.h"

#define SKIP_RC 77
#define IMG_SIZE (16u << 20)
#define TMPFS_SIZE (256u << 10) /* device-error: tmpfs capacity */
#define ERRDEV_SIZE (4u << 20)	/* device-error: loop device size */

/* ---- Targets ------------------------------------------------------------ */

static char g_dir[PATH_MAX];	/* our temporary directory */
static char g_img[PATH_MAX];	/* the image file (file, loop targets) */
static char g_target[PATH_MAX]; /* what the tests open */
static int g_loop_fd = -1;	/* holds the loop device */
static uint64_t g_size;		/* target size */
static int g_is_blk;

/* Our directory in base; with need_direct, only where O_DIRECT works. */
static int try_tmpdir(const char *base, int need_direct, char *why, size_t wlen)
{
	char probe[PATH_MAX + 16];
	int fd;

	snprintf(g_dir, sizeof(g_dir), "%s/eiocbfs-aio-dev.XXXXXX", base);
	if (!mkdtemp(g_dir)) {
		snprintf(why, wlen, "mkdtemp in %s: %s", base, strerror(errno));
		g_dir[0] = 0;
		return -1;
	}
	if (!need_direct)
		return 0;
	snprintf(probe, sizeof(probe), "%s/probe", g_dir);
	fd = open(probe, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (fd < 0) {
		snprintf(why, wlen,
			 "%s does not support O_DIRECT (%s); set "
			 "TMPDIR to a directory that does",
			 base, strerror(errno));
		unlink(probe);
		rmdir(g_dir);
		g_dir[0] = 0;
		return -1;
	}
	close(fd);
	unlink(probe);
	return 0;
}

/* $TMPDIR (or /tmp), else the current directory (the build tree). The
 * image file itself needs O_DIRECT only when the tests open it directly;
 * a loop device reads its backing file through the page cache. */
static int make_tmpdir(int need_direct, char *why, size_t wlen)
{
	const char *base = getenv("TMPDIR");
	char cwd[PATH_MAX], why2[256];

	if (!base || !*base)
		base = "/tmp";
	if (try_tmpdir(base, need_direct, why, wlen) == 0)
		return 0;
	if (getcwd(cwd, sizeof(cwd)) && try_tmpdir(cwd, need_direct, why2, sizeof(why2)) == 0) {
		printf("note: %s; using %s\n", why, cwd);
		return 0;
	}
	return -1;
}

static int make_image(const char *path, uint64_t size, char *why, size_t wlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		snprintf(why, wlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Attach FILE to a free loop device with autoclear; returns a descriptor
 * that holds it (the device is cleared when the last one closes). */
static int loop_attach(const char *file, char *dev, size_t dlen, char *why, size_t wlen)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int bfd = -1, lfd = -1;

	if (ctl < 0) {
		snprintf(why, wlen, "cannot open /dev/loop-control: %s", strerror(errno));
		return -1;
	}
	bfd = open(file, O_RDWR | O_CLOEXEC);
	if (bfd < 0) {
		snprintf(why, wlen, "%s: %s", file, strerror(errno));
		close(ctl);
		return -1;
	}
	for (int tries = 0; tries < 16; tries++) {
		struct loop_config cfg;
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (n < 0) {
			snprintf(why, wlen, "LOOP_CTL_GET_FREE: %s", strerror(errno));
			break;
		}
		snprintf(dev, dlen, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0 && errno == ENOENT &&
		    mknod(dev, S_IFBLK | 0660, makedev(7, (unsigned)n)) == 0)
			lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			snprintf(why, wlen, "%s: %s", dev, strerror(errno));
			break;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (unsigned)bfd;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			close(bfd);
			close(ctl);
			return lfd;
		}
		snprintf(why, wlen, "LOOP_CONFIGURE %s: %s", dev, strerror(errno));
		close(lfd);
		lfd = -1;
		if (errno != EBUSY)
			break; /* EBUSY: raced with another user, retry */
	}
	close(bfd);
	close(ctl);
	return -1;
}

static void loop_detach(void)
{
	if (g_loop_fd >= 0) {
		ioctl(g_loop_fd, LOOP_CLR_FD, 0);
		close(g_loop_fd);
		g_loop_fd = -1;
	}
}

static void target_teardown(void)
{
	loop_detach();
	if (g_img[0])
		unlink(g_img);
	if (g_dir[0])
		rmdir(g_dir);
	g_img[0] = g_dir[0] = 0;
}

/* Prepares the target of `kind`; on failure, *why says why (skip). */
static int target_setup(const char *kind, char *why, size_t wlen)
{
	if (make_tmpdir(strcmp(kind, "file") == 0, why, wlen) < 0)
		return -1;
	if (strcmp(kind, "device-error") == 0) {
		char back[PATH_MAX + 16];
		char opts[64];

		snprintf(opts, sizeof(opts), "size=%u", TMPFS_SIZE);
		if (mount("eiocbfs-test", g_dir, "tmpfs", 0, opts) < 0) {
			snprintf(why, wlen,
				 "cannot mount a tmpfs on %s (%s): "
				 "needs root (CAP_SYS_ADMIN)",
				 g_dir, strerror(errno));
			goto fail;
		}
		snprintf(back, sizeof(back), "%s/backing", g_dir);
		if (make_image(back, ERRDEV_SIZE, why, wlen) == 0)
			g_loop_fd = loop_attach(back, g_target, sizeof(g_target), why, wlen);
		/* The loop device keeps the file and the tmpfs alive. */
		unlink(back);
		umount2(g_dir, MNT_DETACH);
		if (g_loop_fd < 0)
			goto fail;
		g_size = ERRDEV_SIZE;
		g_is_blk = 1;
		return 0;
	}
	snprintf(g_img, sizeof(g_img), "%s/image", g_dir);
	if (make_image(g_img, IMG_SIZE, why, wlen) < 0)
		goto fail;
	g_size = IMG_SIZE;
	if (strcmp(kind, "loop") == 0) {
		g_loop_fd = loop_attach(g_img, g_target, sizeof(g_target), why, wlen);
		if (g_loop_fd < 0)
			goto fail;
		unlink(g_img); /* the loop device holds it */
		g_img[0] = 0;
		g_is_blk = 1;
	} else {
		snprintf(g_target, sizeof(g_target), "%s", g_img);
	}
	return 0;
fail:
	target_teardown();
	return -1;
}

/* ---- Helpers -------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* The pattern of a byte range: one word per 8 bytes of device offset. */
static void fill(void *buf, size_t len, uint64_t off, uint64_t seed)
{
	uint64_t *w = buf;
	for (size_t i = 0; i < len / 8; i++)
		w[i] = mix(off + i * 8 + seed);
}

static int check_fill(const void *buf, size_t len, uint64_t off, uint64_t seed)
{
	const uint64_t *w = buf;
	for (size_t i = 0; i < len / 8; i++)
		if (w[i] != mix(off + i * 8 + seed))
			return 0;
	return 1;
}

static struct aio_dev *open_dev(unsigned depth, unsigned batch)
{
	struct aio_dev_opts o = {.queue_depth = depth, .batch = batch};
	struct aio_dev *dev;
	char err[256] = "";
	int r = aio_dev_open(&dev, g_target, &o, err, sizeof(err));

	ck_assert_msg(r == 0, "aio_dev_open: %d %s", r, err);
	return dev;
}

/* A backend-level I/O that records how it ended. */
struct tio {
	struct dev_io io; /* first */
	atomic_int calls;
	int64_t res;
	pthread_t thread;
};

static void tio_done(struct dev_io *io, int64_t res)
{
	struct tio *t = (struct tio *)io;
	t->res = res;
	t->thread = pthread_self();
	atomic_fetch_add(&t->calls, 1);
}

static void tio_prep(struct tio *t, enum dev_op op, void *buf, size_t len, uint64_t off)
{
	memset(t, 0, sizeof(*t));
	t->io.op = op;
	t->io.buf = buf;
	t->io.len = len;
	t->io.offset = off;
	t->io.done = tio_done;
	t->res = INT64_MIN;
}

static struct ioctx *make_ctx(unsigned nr)
{
	struct ioctx_params p = {.nr = nr, .mode = IOCTX_DEFERRED};
	struct ioctx *ctx;
	ck_assert_int_eq(ioctx_setup(&p, &ctx), 0);
	return ctx;
}

/* Submits one request through the glue; returns ioctx_submit's value. */
static int64_t submit_rw(struct ioctx *ctx, struct aio_dev_ioctx *glue, int opcode, void *buf,
			 size_t len, int64_t off, uint64_t data)
{
	struct ioctx_iocb *iocb;

	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &glue->ops;
	iocb->opcode = opcode;
	iocb->buf = buf;
	iocb->nbytes = len;
	iocb->offset = off;
	iocb->user_data = data;
	iocb->obj = ~data;
	return ioctx_submit(ctx, iocb);
}

/* Takes exactly n events (10 s at most), then checks that no more come. */
static void reap(struct ioctx *ctx, struct ioctx_event *ev, int n)
{
	struct timespec t = {10, 0}, zero = {0, 0};
	struct ioctx_event extra;
	int got = 0;

	while (got < n) {
		int r = ioctx_getevents(ctx, n - got, n - got, ev + got, &t);
		ck_assert_msg(r > 0,
			      "ioctx_getevents: %d after %d of %d "
			      "events",
			      r, got, n);
		got += r;
	}
	ck_assert_int_eq(ioctx_getevents(ctx, 0, 1, &extra, &zero), 0);
}

/* Each user_data 0..n-1 must appear once (R7), with obj = ~data. */
static void check_once(const struct ioctx_event *ev, int n, const int64_t *want)
{
	char *seen = calloc((size_t)n, 1);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_lt(ev[i].data, (uint64_t)n);
		ck_assert_msg(!seen[ev[i].data], "two events for request %llu",
			      (unsigned long long)ev[i].data);
		seen[ev[i].data] = 1;
		ck_assert_uint_eq(ev[i].obj, ~ev[i].data);
		if (want)
			ck_assert_msg(ev[i].res == want[ev[i].data],
				      "request %llu: res %lld, want %lld",
				      (unsigned long long)ev[i].data, (long long)ev[i].res,
				      (long long)want[ev[i].data]);
	}
	free(seen);
}

/* ---- Opening ------------------------------------------------------------ */

START_TEST(test_open_geometry)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);

	ck_assert_uint_eq(aio_dev_size(dev), g_size);
	ck_assert_int_eq(aio_dev_is_blockdev(dev), g_is_blk);
	ck_assert_msg(bs >= 512 && bs <= 65536 && !(bs & (bs - 1)), "block size %u", bs);
	if (g_is_blk) {
		int ss = 0;
		ck_assert_int_eq(ioctl(g_loop_fd, BLKSSZGET, &ss), 0);
		ck_assert_uint_eq(bs, (unsigned)ss);
	} else {
		/* The image's block size is that of the device below it. */
		struct stat st;
		char path[128];
		long v = 0;
		FILE *f;

		ck_assert_int_eq(stat(g_target, &st), 0);
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/logical_block_size",
			 major(st.st_dev), minor(st.st_dev));
		f = fopen(path, "r");
		if (f && fscanf(f, "%ld", &v) == 1)
			ck_assert_uint_eq(bs, (unsigned)v);
		if (f)
			fclose(f);
	}
	aio_dev_close(dev);
}
END_TEST

/* A second user is refused with a clear error: flock for an image,
 * O_EXCL for a block device. */
START_TEST(test_open_second_user_refused)
{
	struct aio_dev *dev = open_dev(0, 0), *dev2 = NULL;
	struct aio_dev_opts ro = {.flags = AIO_DEV_RDONLY};
	char err[256] = "";
	int r;

	r = aio_dev_open(&dev2, g_target, NULL, err, sizeof(err));
	ck_assert_int_eq(r, -EBUSY);
	ck_assert_ptr_null(dev2);
	ck_assert_msg(strstr(err, g_target) && (strstr(err, "in use") || strstr(err, "busy")),
		      "unclear error: %s", err);
	r = aio_dev_open(&dev2, g_target, &ro, err, sizeof(err));
	ck_assert_int_eq(r, -EBUSY);
	/* Unless the caller says it holds the target itself. */
	{
		struct aio_dev_opts nx = {.flags = AIO_DEV_NOEXCL};
		ck_assert_int_eq(aio_dev_open(&dev2, g_target, &nx, err, sizeof(err)), 0);
		aio_dev_close(dev2);
	}
	aio_dev_close(dev);

	/* Free again once closed. */
	dev = open_dev(0, 0);
	aio_dev_close(dev);
	if (!g_is_blk) {
		/* Read-only users share an image. */
		ck_assert_int_eq(aio_dev_open(&dev, g_target, &ro, err, sizeof(err)), 0);
		ck_assert_int_eq(aio_dev_open(&dev2, g_target, &ro, err, sizeof(err)), 0);
		aio_dev_close(dev2);
		aio_dev_close(dev);
	}
}
END_TEST

START_TEST(test_open_bad_paths)
{
	struct aio_dev *dev;
	char err[256] = "", path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/no-such-image", g_dir);
	ck_assert_int_eq(aio_dev_open(&dev, path, NULL, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_int_eq(aio_dev_open(&dev, "/dev/null", NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "/dev/null"));
}
END_TEST

/* ---- Backend: batches, errors, hooks ------------------------------------ */

#define NBATCH 200

/* Batches of different sizes at scattered offsets; each I/O's done() runs
 * exactly once, on the completion thread, with the full byte count. */
START_TEST(test_dev_batch_pattern)
{
	struct aio_dev *dev = open_dev(64, 16);
	unsigned bs = aio_dev_block_size(dev);
	size_t slot = 64 << 10;
	struct tio *t = calloc(NBATCH, sizeof(*t));
	struct dev_io **ptrs = calloc(NBATCH, sizeof(*ptrs));
	char *mem = aio_dev_alloc_buf(dev, NBATCH * slot);
	static const int sizes[] = {1, 7, 64, 3, 100, 25};
	uint64_t seed = 0x5eed;

	ck_assert_ptr_nonnull(mem);
	for (int pass = 0; pass < 2; pass++) {
		enum dev_op op = pass ? DEV_OP_READ : DEV_OP_WRITE;
		int i, k = 0, n;

		if (pass)
			memset(mem, 0, NBATCH * slot);
		for (i = 0; i < NBATCH; i++) {
			size_t len = bs * (1 + mix(i + 1) % (slot / bs));
			uint64_t off = (uint64_t)((i * 37) % NBATCH) * slot;
			char *buf = mem + i * slot;

			if (!pass)
				fill(buf, len, off, seed);
			tio_prep(&t[i], op, buf, len, off);
			ptrs[i] = &t[i].io;
		}
		for (i = 0; i < NBATCH; i += n, k++) {
			n = sizes[k % 6];
			if (n > NBATCH - i)
				n = NBATCH - i;
			aio_dev_submit(dev, ptrs + i, n);
		}
		aio_dev_drain(dev);
		for (i = 0; i < NBATCH; i++) {
			ck_assert_int_eq(atomic_load(&t[i].calls), 1);
			ck_assert_int_eq(t[i].res, (int64_t)t[i].io.len);
			ck_assert(!pthread_equal(t[i].thread, pthread_self()));
			if (pass)
				ck_assert_msg(
				    check_fill(t[i].io.buf, t[i].io.len, t[i].io.offset, seed),
				    "data mismatch in I/O %d", i);
		}
	}
	aio_dev_close(dev);
	aio_dev_free_buf(mem);
	free(ptrs);
	free(t);
}
END_TEST

#define NPART 1024

/* An io context far smaller than the batch: io_submit accepts part of it;
 * the rest is resubmitted, nothing is lost, nothing completes twice. */
START_TEST(test_dev_partial_submit_loses_nothing)
{
	struct aio_dev *dev = open_dev(1, 4);
	unsigned bs = aio_dev_block_size(dev);
	struct tio *t = calloc(NPART, sizeof(*t));
	struct dev_io **ptrs = calloc(NPART, sizeof(*ptrs));
	char *mem = aio_dev_alloc_buf(dev, (size_t)NPART * bs);
	struct aio_dev_stats st;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < NPART; i++) {
			char *buf = mem + (size_t)i * bs;
			uint64_t off = (uint64_t)i * 2 * bs;

			if (!pass)
				fill(buf, bs, off, 77);
			else
				memset(buf, 0, bs);
			tio_prep(&t[i], pass ? DEV_OP_READ : DEV_OP_WRITE, buf, bs, off);
			ptrs[i] = &t[i].io;
		}
		aio_dev_submit(dev, ptrs, NPART);
		aio_dev_drain(dev);
		for (int i = 0; i < NPART; i++) {
			ck_assert_int_eq(atomic_load(&t[i].calls), 1);
			ck_assert_int_eq(t[i].res, bs);
			if (pass)
				ck_assert(check_fill(t[i].io.buf, bs, t[i].io.offset, 77));
		}
	}
	aio_dev_get_stats(dev, &st);
	ck_assert_msg(st.partial_submits > 0,
		      "no partial io_submit forced "
		      "(submit calls %llu)",
		      (unsigned long long)st.submit_calls);
	ck_assert_uint_eq(st.submitted, 2 * NPART);
	ck_assert_uint_eq(st.completed, 2 * NPART);
	aio_dev_close(dev);
	aio_dev_free_buf(mem);
	free(ptrs);
	free(t);
}
END_TEST

static void slow_done(struct dev_io *io, int64_t res)
{
	struct timespec d = {0, 300000000};

	tio_done(io, res);
	nanosleep(&d, NULL); /* the completion thread reaps nothing now */
}

#define NEAGAIN 600

/* The io context fills up while the completion thread is held in a slow
 * done(): io_submit says -EAGAIN, the submitter backs off and retries, and
 * nothing is lost once completions flow again. */
START_TEST(test_dev_eagain_backoff_loses_nothing)
{
	struct aio_dev *dev = open_dev(1, 4);
	unsigned bs = aio_dev_block_size(dev);
	struct tio *t = calloc(NEAGAIN + 1, sizeof(*t));
	struct dev_io **ptrs = calloc(NEAGAIN, sizeof(*ptrs));
	char *mem = aio_dev_alloc_buf(dev, (size_t)(NEAGAIN + 1) * bs);
	struct timespec d = {0, 20000000};
	struct dev_io *p = &t[NEAGAIN].io;
	struct aio_dev_stats st;

	tio_prep(&t[NEAGAIN], DEV_OP_READ, mem + (size_t)NEAGAIN * bs, bs, 0);
	t[NEAGAIN].io.done = slow_done;
	aio_dev_submit(dev, &p, 1);
	nanosleep(&d, NULL); /* it has completed: slow_done is running */
	for (int i = 0; i < NEAGAIN; i++) {
		tio_prep(&t[i], DEV_OP_READ, mem + (size_t)i * bs, bs, (uint64_t)i * bs);
		ptrs[i] = &t[i].io;
	}
	aio_dev_submit(dev, ptrs, NEAGAIN);
	aio_dev_drain(dev);
	for (int i = 0; i <= NEAGAIN; i++) {
		ck_assert_int_eq(atomic_load(&t[i].calls), 1);
		ck_assert_int_eq(t[i].res, bs);
	}
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_gt(st.eagain_retries, 0);
	ck_assert_uint_eq(st.submitted, NEAGAIN + 1);
	ck_assert_uint_eq(st.submit_errors, 0);
	aio_dev_close(dev);
	aio_dev_free_buf(mem);
	free(ptrs);
	free(t);
}
END_TEST

/* The kernel refuses one I/O of a batch at io_submit time (negative
 * offset): that one completes at once with the error, on the submitting
 * thread; the others of the batch still go to the device. */
START_TEST(test_dev_submit_refused_completes_with_error)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	char *mem = aio_dev_alloc_buf(dev, 4 * bs);
	struct tio t[4];
	struct dev_io *ptrs[4];
	struct aio_dev_stats st;

	for (int i = 0; i < 4; i++) {
		tio_prep(&t[i], DEV_OP_READ, mem + i * bs, bs,
			 i == 1 ? (uint64_t) - (int64_t)bs : (uint64_t)i * bs);
		ptrs[i] = &t[i].io;
	}
	aio_dev_submit(dev, ptrs, 4);
	aio_dev_drain(dev);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(atomic_load(&t[i].calls), 1);
		ck_assert_int_eq(t[i].res, i == 1 ? -EINVAL : (int64_t)bs);
	}
	ck_assert(pthread_equal(t[1].thread, pthread_self()));
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submit_errors, 1);
	aio_dev_close(dev);

	/* A write on a read-only device: -EBADF from io_submit. */
	if (!g_is_blk) {
		struct aio_dev_opts ro = {.flags = AIO_DEV_RDONLY};
		struct dev_io *p = &t[0].io;
		char err[256];

		ck_assert_int_eq(aio_dev_open(&dev, g_target, &ro, err, sizeof(err)), 0);
		tio_prep(&t[0], DEV_OP_WRITE, mem, bs, 0);
		aio_dev_submit(dev, &p, 1);
		aio_dev_drain(dev);
		ck_assert_int_eq(atomic_load(&t[0].calls), 1);
		ck_assert_int_eq(t[0].res, -EBADF);
		aio_dev_close(dev);
	}
	aio_dev_free_buf(mem);
}
END_TEST

/* Fault hook: fail I/O starting in [lo, hi) with err; hold back the one at
 * delay_off by delay_ns, failing it with delay_err if set; count calls. */
struct fault_cfg {
	uint64_t lo, hi;
	int64_t err;
	uint64_t delay_off, delay_ns;
	int64_t delay_err;
	atomic_int calls;
};

static int64_t fault_fn(void *arg, const struct dev_io *io, int64_t res, uint64_t *delay_ns)
{
	struct fault_cfg *c = arg;

	atomic_fetch_add(&c->calls, 1);
	if (c->delay_ns && io->offset == c->delay_off) {
		*delay_ns = c->delay_ns;
		if (c->delay_err)
			return c->delay_err;
	}
	if (io->offset >= c->lo && io->offset < c->hi)
		return c->err;
	return res;
}

/* Errno injection at completion (dm-flakey style) reaches done(). */
START_TEST(test_dev_fault_hook_errno)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	char *mem = aio_dev_alloc_buf(dev, 8 * bs);
	struct fault_cfg c = {.lo = 2 * bs, .hi = 4 * bs, .err = -EIO};
	struct aio_dev_fault f = {fault_fn, &c};
	struct tio t[8];
	struct dev_io *ptrs[8];
	struct aio_dev_stats st;

	aio_dev_set_fault(dev, &f);
	for (int i = 0; i < 8; i++) {
		tio_prep(&t[i], DEV_OP_WRITE, mem + i * bs, bs, (uint64_t)i * bs);
		ptrs[i] = &t[i].io;
	}
	aio_dev_submit(dev, ptrs, 8);
	aio_dev_drain(dev);
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(atomic_load(&t[i].calls), 1);
		ck_assert_int_eq(t[i].res, i == 2 || i == 3 ? -EIO : (int64_t)bs);
	}
	ck_assert_int_eq(atomic_load(&c.calls), 8);
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.faults, 2);
	ck_assert_uint_eq(st.errors, 2);

	/* The synchronous helpers go through the hook too. */
	ck_assert_int_eq(aio_dev_pread(dev, mem, bs, 2 * bs), -EIO);
	ck_assert_int_eq(aio_dev_pread(dev, mem, bs, 0), bs);

	/* Removed: I/O is clean again. */
	aio_dev_set_fault(dev, NULL);
	aio_dev_drain(dev);
	tio_prep(&t[0], DEV_OP_WRITE, mem, bs, 2 * bs);
	aio_dev_submit(dev, ptrs, 1);
	aio_dev_drain(dev);
	ck_assert_int_eq(t[0].res, bs);
	ck_assert_int_eq(atomic_load(&c.calls), 10);
	aio_dev_close(dev);
	aio_dev_free_buf(mem);
}
END_TEST

/* Latency injection holds back one completion, not the others; drain and
 * close wait for it. */
START_TEST(test_dev_fault_hook_delay)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	char *mem = aio_dev_alloc_buf(dev, 4 * bs);
	struct fault_cfg c = {.delay_off = 0, .delay_ns = 1000000000};
	struct aio_dev_fault f = {fault_fn, &c};
	struct tio slow, fast;
	struct dev_io *p;
	struct timespec t0, t1;
	struct timespec d = {0, 20000000};
	int spins = 0;

	aio_dev_set_fault(dev, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tio_prep(&slow, DEV_OP_READ, mem, bs, 0);
	p = &slow.io;
	aio_dev_submit(dev, &p, 1);
	tio_prep(&fast, DEV_OP_READ, mem + bs, bs, bs);
	p = &fast.io;
	aio_dev_submit(dev, &p, 1);
	while (!atomic_load(&fast.calls) && spins++ < 100)
		nanosleep(&d, NULL);
	ck_assert_int_eq(atomic_load(&fast.calls), 1);
	ck_assert_int_eq(atomic_load(&slow.calls), 0);
	aio_dev_close(dev); /* waits for the delayed one */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(atomic_load(&slow.calls), 1);
	ck_assert_int_eq(slow.res, bs);
	ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 990);
	aio_dev_free_buf(mem);
}
END_TEST

/* done() submits more than the io context holds, on the completion thread:
 * it must not deadlock waiting for slots only it can free. */
struct chain {
	struct aio_dev *dev;
	struct tio first;
	struct tio *more;
	struct dev_io **ptrs;
	int n;
};

static void chain_done(struct dev_io *io, int64_t res)
{
	struct chain *ch = io->priv;

	tio_done(io, res);
	aio_dev_submit(ch->dev, ch->ptrs, ch->n);
}

START_TEST(test_dev_submit_from_done_small_queue)
{
	struct chain ch = {.n = 300};
	struct aio_dev_stats st;
	unsigned bs;
	char *mem;

	ch.dev = open_dev(1, 2);
	bs = aio_dev_block_size(ch.dev);
	mem = aio_dev_alloc_buf(ch.dev, (size_t)(ch.n + 1) * bs);
	ch.more = calloc((size_t)ch.n, sizeof(*ch.more));
	ch.ptrs = calloc((size_t)ch.n, sizeof(*ch.ptrs));
	for (int i = 0; i < ch.n; i++) {
		tio_prep(&ch.more[i], DEV_OP_READ, mem + (size_t)(i + 1) * bs, bs,
			 (uint64_t)i * bs);
		ch.ptrs[i] = &ch.more[i].io;
	}
	tio_prep(&ch.first, DEV_OP_READ, mem, bs, 0);
	ch.first.io.done = chain_done;
	ch.first.io.priv = &ch;
	{
		struct dev_io *p = &ch.first.io;
		aio_dev_submit(ch.dev, &p, 1);
	}
	aio_dev_drain(ch.dev);
	ck_assert_int_eq(atomic_load(&ch.first.calls), 1);
	for (int i = 0; i < ch.n; i++) {
		ck_assert_int_eq(atomic_load(&ch.more[i].calls), 1);
		ck_assert_int_eq(ch.more[i].res, bs);
		ck_assert(!pthread_equal(ch.more[i].thread, pthread_self()));
	}
	aio_dev_get_stats(ch.dev, &st);
	ck_assert_uint_eq(st.completed, (uint64_t)ch.n + 1);
	ck_assert_uint_gt(st.eagain_retries + st.partial_submits, 0);
	aio_dev_close(ch.dev);
	aio_dev_free_buf(mem);
	free(ch.more);
	free(ch.ptrs);
}
END_TEST

/* Plugged submissions wait for the unplug, then leave in one io_submit. */
START_TEST(test_dev_plug_one_batch)
{
	struct aio_dev *dev = open_dev(64, 16);
	unsigned bs = aio_dev_block_size(dev);
	char *mem = aio_dev_alloc_buf(dev, 16 * bs);
	struct tio t[16];
	struct aio_dev_stats st0, st;
	struct timespec d = {0, 20000000};

	aio_dev_get_stats(dev, &st0);
	aio_dev_plug(dev);
	aio_dev_plug(dev); /* pairs nest */
	for (int i = 0; i < 16; i++) {
		struct dev_io *p = &t[i].io;
		tio_prep(&t[i], DEV_OP_READ, mem + i * bs, bs, (uint64_t)i * bs);
		aio_dev_submit(dev, &p, 1);
	}
	aio_dev_unplug(dev);
	nanosleep(&d, NULL);
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submit_calls, st0.submit_calls);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(atomic_load(&t[i].calls), 0);
	aio_dev_unplug(dev);
	aio_dev_drain(dev);
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submit_calls, st0.submit_calls + 1);
	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(atomic_load(&t[i].calls), 1);
		ck_assert_int_eq(t[i].res, bs);
	}
	aio_dev_close(dev);
	aio_dev_free_buf(mem);
}
END_TEST

/* A flush submits what the plug holds and the plug stays: later
   submissions queue again until the unplug. */
START_TEST(test_dev_plug_flush_keeps_plug)
{
	struct aio_dev *dev = open_dev(64, 16);
	unsigned bs = aio_dev_block_size(dev);
	char *mem = aio_dev_alloc_buf(dev, 8 * bs);
	struct tio t[8];
	struct aio_dev_stats st0, st;
	struct timespec d = {0, 20000000};

	aio_dev_get_stats(dev, &st0);
	aio_dev_plug(dev);
	for (int i = 0; i < 8; i++) {
		struct dev_io *p = &t[i].io;
		tio_prep(&t[i], DEV_OP_READ, mem + i * bs, bs, (uint64_t)i * bs);
		aio_dev_submit(dev, &p, 1);
		if (i == 3)
			aio_dev_flush_plug(dev); /* the first four leave now */
	}
	nanosleep(&d, NULL);
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submit_calls, st0.submit_calls + 1);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(atomic_load(&t[i].calls), i < 4 ? 1 : 0);
	aio_dev_unplug(dev);
	aio_dev_drain(dev);
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submit_calls, st0.submit_calls + 2);
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(atomic_load(&t[i].calls), 1);
		ck_assert_int_eq(t[i].res, bs);
	}
	aio_dev_flush_plug(dev); /* unplugged: nothing to do */
	aio_dev_close(dev);
	aio_dev_free_buf(mem);
}
END_TEST

static void count_hook(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* The batch hook runs on the completion thread once per reaped batch,
 * after the done() callbacks and before drain returns. */
START_TEST(test_dev_batch_hook)
{
	struct aio_dev *dev = open_dev(64, 8);
	unsigned bs = aio_dev_block_size(dev);
	char *mem = aio_dev_alloc_buf(dev, 32 * bs);
	struct tio t[32];
	struct dev_io *ptrs[32];
	struct aio_dev_stats st;
	atomic_int hooks = 0;

	aio_dev_set_batch_hook(dev, count_hook, &hooks);
	for (int i = 0; i < 32; i++) {
		tio_prep(&t[i], DEV_OP_READ, mem + i * bs, bs, (uint64_t)i * bs);
		ptrs[i] = &t[i].io;
	}
	aio_dev_submit(dev, ptrs, 32);
	aio_dev_drain(dev);
	aio_dev_get_stats(dev, &st);
	ck_assert_int_ge(atomic_load(&hooks), 4); /* batch max 8 */
	ck_assert_uint_eq((uint64_t)atomic_load(&hooks), st.reap_calls);
	aio_dev_close(dev);
	aio_dev_free_buf(mem);
}
END_TEST

START_TEST(test_dev_sync_helpers)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	char *buf = aio_dev_alloc_buf(dev, 8 * bs);
	uint64_t end = aio_dev_size(dev);

	fill(buf, 4 * bs, 8 * bs, 3);
	ck_assert_int_eq(aio_dev_pwrite(dev, buf, 4 * bs, 8 * bs), 4 * bs);
	ck_assert_int_eq(aio_dev_flush(dev), 0);
	memset(buf, 0, 4 * bs);
	ck_assert_int_eq(aio_dev_pread(dev, buf, 4 * bs, 8 * bs), 4 * bs);
	ck_assert(check_fill(buf, 4 * bs, 8 * bs, 3));
	/* Misaligned buffer, length, offset. */
	ck_assert_int_eq(aio_dev_pread(dev, buf + 8, bs, 0), -EINVAL);
	ck_assert_int_eq(aio_dev_pread(dev, buf, bs - 8, 0), -EINVAL);
	ck_assert_int_eq(aio_dev_pwrite(dev, buf, bs, 8), -EINVAL);
	/* Short at the end of the device, 0 beyond it. */
	ck_assert_int_eq(aio_dev_pread(dev, buf, 2 * bs, end - bs), bs);
	ck_assert_int_eq(aio_dev_pread(dev, buf, bs, end), 0);
	aio_dev_close(dev);
	aio_dev_free_buf(buf);
}
END_TEST

/* ---- Under ioctx (the glue) --------------------------------------------- */

#define NREQ 300

/* Patterns at many offsets, written and read back through ioctx; requests
 * larger than max_io fan out to several device I/Os but give one event each
 * (R1, R2: -EIOCBQUEUED, R5, R7), on an io context smaller than a batch. */
START_TEST(test_ioctx_pattern_many_offsets)
{
	struct aio_dev *dev = open_dev(16, 8);
	unsigned bs = aio_dev_block_size(dev);
	size_t slot = 32 << 10;
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(NREQ);
	struct ioctx_event *ev = calloc(NREQ, sizeof(*ev));
	int64_t *want = calloc(NREQ, sizeof(*want));
	size_t *len = calloc(NREQ, sizeof(*len));
	char *mem = aio_dev_alloc_buf(dev, NREQ * slot);
	uint64_t nslots = g_size / slot, pieces = 0;
	uint64_t *offs = calloc(NREQ, sizeof(*offs));
	struct aio_dev_stats st;
	struct ioctx_stats is;

	ck_assert_uint_ge(nslots, NREQ);
	aio_dev_ioctx_init(&glue, dev, 8 << 10); /* split above 8 KiB */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < NREQ; i++) {
			/* Slot (7 i mod nslots): all distinct, as nslots is
			 * a power of two; in it a random start and length. */
			uint64_t half = slot / bs / 2;
			uint64_t off =
			    ((uint64_t)i * 7 % nslots) * slot + bs * (mix(i + 2000) % half);
			char *buf = mem + i * slot;
			int64_t r;

			offs[i] = off;
			len[i] = bs * (1 + mix(i + 1000) % half);
			want[i] = (int64_t)len[i];
			if (!pass) {
				fill(buf, len[i], off, 99);
				pieces += (len[i] + (8 << 10) - 1) / (8 << 10);
			} else {
				memset(buf, 0, len[i]);
			}
			r = submit_rw(ctx, &glue, pass ? IO_CMD_PREAD : IO_CMD_PWRITE, buf, len[i],
				      (int64_t)off, (uint64_t)i);
			ck_assert_int_eq(r, -EIOCBQUEUED);
		}
		reap(ctx, ev, NREQ);
		check_once(ev, NREQ, want);
		if (pass)
			for (int i = 0; i < NREQ; i++) {
				ck_assert_msg(check_fill(mem + i * slot, len[i], offs[i], 99),
					      "request %d: data differs", i);
			}
	}
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submitted, 2 * pieces);
	ck_assert_uint_gt(pieces, NREQ);
	ioctx_get_stats(ctx, &is);
	ck_assert_uint_eq(is.events, 2 * NREQ);
	ck_assert_uint_eq(is.inflight, 0);
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(mem);
	free(offs);
	free(len);
	free(want);
	free(ev);
}
END_TEST

/* One request split into more device I/Os than the io context holds: the
 * kernel accepts part of each batch, the rest is resubmitted; the group
 * holds one reference and gives one event, after the last piece, with the
 * whole byte count (R1, R5, R7). */
START_TEST(test_ioctx_split_partial_submit_one_event)
{
	struct aio_dev *dev = open_dev(1, 16);
	unsigned bs = aio_dev_block_size(dev);
	size_t len = 4 << 20;
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(4);
	char *buf = aio_dev_alloc_buf(dev, len);
	struct ioctx_event ev[1];
	int64_t want[1] = {(int64_t)len};
	struct aio_dev_stats st;
	struct ioctx_stats is;

	ck_assert_uint_ge(g_size, 2 * len);
	aio_dev_ioctx_init(&glue, dev, bs); /* one block per device I/O */
	fill(buf, len, len, 123);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PWRITE, buf, len, (int64_t)len, 0),
			 -EIOCBQUEUED);
	reap(ctx, ev, 1);
	check_once(ev, 1, want);
	memset(buf, 0, len);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PREAD, buf, len, (int64_t)len, 0),
			 -EIOCBQUEUED);
	reap(ctx, ev, 1);
	check_once(ev, 1, want);
	ck_assert(check_fill(buf, len, len, 123));
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submitted, 2 * len / bs);
	ck_assert_msg(st.partial_submits > 0,
		      "no partial io_submit forced "
		      "(submit calls %llu)",
		      (unsigned long long)st.submit_calls);
	ioctx_get_stats(ctx, &is);
	ck_assert_uint_eq(is.events, 2);
	ck_assert_uint_eq(is.double_completions, 0);
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(buf);
}
END_TEST

#define NTHREADS 4
#define PER_THREAD 400
#define CONC_BLOCKS 4

struct conc {
	struct ioctx *ctx;
	struct aio_dev_ioctx *glue;
	char *mem;
	unsigned bs;
	int t;
};

/* A submitter: PER_THREAD writes of CONC_BLOCKS blocks; waits while the
 * ioctx is full (-EAGAIN from ioctx_get_req). */
static void *conc_submitter(void *arg)
{
	struct conc *c = arg;
	size_t len = (size_t)CONC_BLOCKS * c->bs;

	for (int i = 0; i < PER_THREAD; i++) {
		uint64_t id = (uint64_t)c->t * PER_THREAD + (uint64_t)i;
		struct ioctx_iocb *iocb;
		struct timespec d = {0, 100000};

		while (ioctx_get_req(c->ctx, &iocb) == -EAGAIN)
			nanosleep(&d, NULL);
		iocb->ops = &c->glue->ops;
		iocb->opcode = IO_CMD_PWRITE;
		iocb->buf = c->mem + id * len;
		iocb->nbytes = len;
		iocb->offset = (int64_t)(id * len);
		iocb->user_data = id;
		iocb->obj = ~id;
		if (ioctx_submit(c->ctx, iocb) != -EIOCBQUEUED)
			return (void *)1;
	}
	return NULL;
}

/* Several threads submit through one ioctx onto one device whose io
 * context is smaller than what they keep in flight; one consumer reaps:
 * every request gets exactly one event with its full byte count (R7), and
 * the data is where it belongs. */
START_TEST(test_ioctx_concurrent_submitters)
{
	struct aio_dev *dev = open_dev(1, 8);
	unsigned bs = aio_dev_block_size(dev);
	size_t len = (size_t)CONC_BLOCKS * bs, total = NTHREADS * PER_THREAD;
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(64);
	char *mem = aio_dev_alloc_buf(dev, total * len);
	struct ioctx_event *ev = calloc(total, sizeof(*ev));
	int64_t *want = calloc(total, sizeof(*want));
	struct conc c[NTHREADS];
	pthread_t th[NTHREADS];
	struct aio_dev_stats st;
	size_t got = 0;

	ck_assert_uint_ge(g_size, total * len);
	aio_dev_ioctx_init(&glue, dev, bs); /* 4 device I/Os each */
	for (size_t i = 0; i < total; i++) {
		fill(mem + i * len, len, i * len, 31);
		want[i] = (int64_t)len;
	}
	for (int t = 0; t < NTHREADS; t++) {
		c[t] = (struct conc){ctx, &glue, mem, bs, t};
		ck_assert_int_eq(pthread_create(&th[t], NULL, conc_submitter, &c[t]), 0);
	}
	while (got < total) {
		struct timespec to = {10, 0};
		int r = ioctx_getevents(ctx, 1, 64, ev + got, &to);
		ck_assert_msg(r > 0, "no event for 10 s (%zu of %zu)", got, total);
		got += (size_t)r;
	}
	for (int t = 0; t < NTHREADS; t++) {
		void *ret;
		pthread_join(th[t], &ret);
		ck_assert_ptr_null(ret);
	}
	check_once(ev, (int)total, want);
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submitted, total * CONC_BLOCKS);
	ck_assert_uint_eq(st.errors, 0);
	memset(mem, 0, total * len);
	ck_assert_int_eq(aio_dev_pread(dev, mem, total * len, 0), (int64_t)(total * len));
	for (size_t i = 0; i < total; i++)
		ck_assert_msg(check_fill(mem + i * len, len, i * len, 31),
			      "request %zu: data differs", i);
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(mem);
	free(want);
	free(ev);
}
END_TEST

/* Misaligned offset, length or buffer, a negative offset, an unknown
 * opcode: refused at submission with -EINVAL, which is then the event's
 * result (R2, synchronous). nbytes 0 completes with 0. */
START_TEST(test_ioctx_misaligned_einval)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(16);
	char *buf = aio_dev_alloc_buf(dev, 4 * bs);
	struct ioctx_event ev[6];
	int64_t want[6] = {-EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, 0};
	struct aio_dev_stats st;

	aio_dev_ioctx_init(&glue, dev, 0);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PWRITE, buf, bs, 512 / 2, 0), -EINVAL);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PWRITE, buf, bs + 256, 0, 1), -EINVAL);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PREAD, buf + 256, bs, 0, 2), -EINVAL);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PREAD, buf, bs, -(int64_t)bs, 3), -EINVAL);
	ck_assert_int_eq(submit_rw(ctx, &glue, 99, buf, bs, 0, 4), -EINVAL);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PREAD, buf, 0, 0, 5), 0);
	reap(ctx, ev, 6);
	check_once(ev, 6, want);
	aio_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.submitted, 0); /* none reached the device */
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(buf);
}
END_TEST

/* A device error (injected at completion, like dm-flakey) in one piece of
 * a split request: exactly one event, after the last piece, carrying the
 * error (R1, R5, R7); the first error to arrive wins. */
START_TEST(test_ioctx_device_error_in_event)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(16);
	char *buf = aio_dev_alloc_buf(dev, 64 << 10);
	struct fault_cfg c = {.lo = 16 << 10, .hi = 24 << 10, .err = -EIO};
	struct aio_dev_fault f = {fault_fn, &c};
	struct ioctx_event ev[3];
	int64_t want[3] = {-EIO, 16 << 10, -EIO};
	struct ioctx_stats is;
	struct timespec t0, t1;

	ck_assert_uint_le(bs, 8 << 10);
	aio_dev_ioctx_init(&glue, dev, 8 << 10);
	aio_dev_set_fault(dev, &f);
	/* 0: pieces at 0, 8K, 16K (fails), 24K. */
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PWRITE, buf, 32 << 10, 0, 0), -EIOCBQUEUED);
	/* 1: clean. */
	ck_assert_int_eq(
	    submit_rw(ctx, &glue, IO_CMD_PREAD, buf + (32 << 10), 16 << 10, 32 << 10, 1),
	    -EIOCBQUEUED);
	reap(ctx, ev, 2);
	check_once(ev, 2, want);
	ck_assert_int_eq(atomic_load(&c.calls), 6);

	/* 2: first error wins. Pieces at 0, 8K, 16K: the one at 16K fails
	 * with -ENOSPC but is held back 200 ms; the one at 0 fails with -EIO
	 * at once. The event carries -EIO, after the last piece. */
	aio_dev_set_fault(dev, NULL);
	aio_dev_drain(dev);
	c.lo = 0;
	c.hi = 8 << 10;
	c.err = -EIO;
	c.delay_off = 16 << 10;
	c.delay_ns = 200000000;
	c.delay_err = -ENOSPC;
	aio_dev_set_fault(dev, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PWRITE, buf, 24 << 10, 0, 2), -EIOCBQUEUED);
	reap(ctx, ev, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_uint_eq(ev[0].data, 2);
	ck_assert_int_eq(ev[0].res, -EIO);
	ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 190);
	ioctx_get_stats(ctx, &is);
	ck_assert_uint_eq(is.events, 3);
	ck_assert_uint_eq(is.double_completions, 0);
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(buf);
}
END_TEST

/* The patch's scenario on a real device: a method that submits through the
 * glue (-EIOCBQUEUED) and then finds an error (say, failed invalidation)
 * queues it with ioctx_propagate_error (R3); the event carries it, exactly
 * once, though the device write succeeded (R5, R7). */
static int64_t submit_then_fail(struct ioctx *ctx, struct ioctx_iocb *iocb);

static struct aio_dev_ioctx g_glue;
static const struct ioctx_ops fail_after_ops = {.submit = submit_then_fail};

static int64_t submit_then_fail(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	int64_t r;

	iocb->ops = &g_glue.ops;
	r = g_glue.ops.submit(ctx, iocb);
	return ioctx_propagate_error(ctx, iocb, r, -EIO);
}

START_TEST(test_ioctx_propagate_error_after_queued)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	struct ioctx *ctx = make_ctx(8);
	char *buf = aio_dev_alloc_buf(dev, 4 * bs);
	struct ioctx_iocb *iocb;
	struct ioctx_event ev[1];
	struct ioctx_stats is;

	aio_dev_ioctx_init(&g_glue, dev, 0);
	fill(buf, 4 * bs, 0, 5);
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &fail_after_ops;
	iocb->opcode = IO_CMD_PWRITE;
	iocb->buf = buf;
	iocb->nbytes = 4 * bs;
	iocb->offset = 0;
	iocb->user_data = 0;
	iocb->obj = ~0ull;
	ck_assert_int_eq(ioctx_submit(ctx, iocb), -EIOCBQUEUED);
	reap(ctx, ev, 1);
	ck_assert_int_eq(ev[0].res, -EIO);
	ioctx_get_stats(ctx, &is);
	ck_assert_uint_eq(is.propagated_errors, 1);
	ck_assert_uint_eq(is.double_completions, 0);
	/* The device did write. */
	memset(buf, 0, 4 * bs);
	ck_assert_int_eq(aio_dev_pread(dev, buf, 4 * bs, 0), 4 * bs);
	ck_assert(check_fill(buf, 4 * bs, 0, 5));
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&g_glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(buf);
}
END_TEST

/* A method that lets the device finish before it returns. */
static atomic_int g_events_seen_in_submit;

static int64_t submit_then_wait(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	static const struct timespec zero = {0, 0};
	struct ioctx_event ev;
	int64_t r;

	iocb->ops = &g_glue.ops;
	r = g_glue.ops.submit(ctx, iocb);
	aio_dev_drain(g_glue.dev); /* the device completion has run */
	atomic_store(&g_events_seen_in_submit, ioctx_getevents(ctx, 0, 1, &ev, &zero));
	return r;
}

static const struct ioctx_ops wait_ops = {.submit = submit_then_wait};

/* The device completes while the submission reference is still held: no
 * event yet (R7); the submitter's reference drop inserts it (R5). */
START_TEST(test_ioctx_no_event_before_submit_returns)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	struct ioctx *ctx = make_ctx(8);
	char *buf = aio_dev_alloc_buf(dev, 2 * bs);
	struct ioctx_iocb *iocb;
	struct ioctx_event ev[1];

	aio_dev_ioctx_init(&g_glue, dev, bs); /* 2 device I/Os */
	atomic_store(&g_events_seen_in_submit, -1);
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &wait_ops;
	iocb->opcode = IO_CMD_PREAD;
	iocb->buf = buf;
	iocb->nbytes = 2 * bs;
	iocb->offset = 0;
	ck_assert_int_eq(ioctx_submit(ctx, iocb), -EIOCBQUEUED);
	ck_assert_int_eq(atomic_load(&g_events_seen_in_submit), 0);
	reap(ctx, ev, 1);
	ck_assert_int_eq(ev[0].res, 2 * bs);
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&g_glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(buf);
}
END_TEST

static void count_oops(void *arg, const char *line)
{
	(void)line;
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* The same scenario in the other two modes (docs/semantics.md section 4), on a real
 * device. legacy: the error overwrites -EIOCBQUEUED, the submitter completes
 * the iocb and the device completion completes it again: detected, counted,
 * reported, one event, no crash. drop: the error is discarded, the event
 * reports success. */
START_TEST(test_ioctx_legacy_and_drop_modes)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	char *buf = aio_dev_alloc_buf(dev, 4 * bs);
	static const enum ioctx_semantics modes[] = {IOCTX_LEGACY, IOCTX_DROP};

	aio_dev_ioctx_init(&g_glue, dev, bs); /* 4 device I/Os */
	for (int m = 0; m < 2; m++) {
		atomic_int oopses = 0;
		struct ioctx_params p = {
		    .nr = 8, .mode = modes[m], .oops = count_oops, .oops_arg = &oopses};
		struct ioctx *ctx;
		struct ioctx_iocb *iocb;
		struct ioctx_event ev[1];
		struct ioctx_stats is;
		int64_t r;

		ck_assert_int_eq(ioctx_setup(&p, &ctx), 0);
		ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
		iocb->ops = &fail_after_ops;
		iocb->opcode = IO_CMD_PWRITE;
		iocb->buf = buf;
		iocb->nbytes = 4 * bs;
		iocb->offset = 0;
		r = ioctx_submit(ctx, iocb);
		reap(ctx, ev, 1);
		aio_dev_drain(dev); /* the device completion has run */
		ioctx_get_stats(ctx, &is);
		ck_assert_uint_eq(is.events, 1);
		if (modes[m] == IOCTX_LEGACY) {
			/* Whichever completion came first wrote the event:
			 * almost always the submitter's (-EIO); the device's
			 * if this thread was preempted after io_submit. */
			ck_assert_int_eq(r, -EIO);
			ck_assert(ev[0].res == -EIO || ev[0].res == 4 * bs);
			ck_assert_uint_eq(is.double_completions, 1);
			ck_assert_int_eq(atomic_load(&oopses), 1);
		} else {
			ck_assert_int_eq(r, -EIOCBQUEUED);
			ck_assert_int_eq(ev[0].res, 4 * bs);
			ck_assert_uint_eq(is.dropped_errors, 1);
			ck_assert_uint_eq(is.double_completions, 0);
		}
		ioctx_destroy(ctx);
	}
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&g_glue);
	aio_dev_free_buf(buf);
}
END_TEST

/* fsync/fdatasync opcodes flush the device, synchronously (R2). */
START_TEST(test_ioctx_fsync_opcode)
{
	struct aio_dev *dev = open_dev(0, 0);
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(8);
	struct ioctx_event ev[2];
	int64_t want[2] = {0, 0};

	aio_dev_ioctx_init(&glue, dev, 0);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_FSYNC, NULL, 0, 0, 0), 0);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_FDSYNC, NULL, 0, 0, 1), 0);
	reap(ctx, ev, 2);
	check_once(ev, 2, want);
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
}
END_TEST

/* ---- Block devices: real errors ------------------------------------------ */

/* I/O at the end of a block device: the kernel answers a write past the end
 * with -ENOSPC, a read with 0, a read across it with the part before; the
 * event carries it (R5). */
START_TEST(test_blk_beyond_end)
{
	struct aio_dev *dev = open_dev(0, 0);
	unsigned bs = aio_dev_block_size(dev);
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(8);
	char *buf = aio_dev_alloc_buf(dev, 4 * bs);
	uint64_t end = aio_dev_size(dev);
	struct ioctx_event ev[3];
	int64_t want[3] = {-ENOSPC, 0, bs};

	aio_dev_ioctx_init(&glue, dev, 0);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PWRITE, buf, bs, (int64_t)end, 0),
			 -EIOCBQUEUED);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PREAD, buf, bs, (int64_t)end, 1),
			 -EIOCBQUEUED);
	ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PREAD, buf, 2 * bs, (int64_t)(end - bs), 2),
			 -EIOCBQUEUED);
	reap(ctx, ev, 3);
	check_once(ev, 3, want);
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(buf);
}
END_TEST

#define NERR 64

/* A real error from the device, asynchronously: the loop device's backing
 * tmpfs fills up, later writes fail in the loop driver's completion. Every
 * request gets exactly one event (R7); the failed ones carry the device's
 * error (R5); data written before still reads back. */
START_TEST(test_real_device_error_in_event)
{
	struct aio_dev *dev = open_dev(0, 0);
	size_t rlen = ERRDEV_SIZE / NERR; /* 64 KiB */
	struct aio_dev_ioctx glue;
	struct ioctx *ctx = make_ctx(NERR);
	char *buf = aio_dev_alloc_buf(dev, rlen);
	struct ioctx_event ev[NERR];
	int failed = 0, ok = 0, first_fail = NERR;

	aio_dev_ioctx_init(&glue, dev, 0);
	/* One at a time, in order: what fits, fits; the rest fails. */
	for (int i = 0; i < NERR; i++) {
		fill(buf, rlen, (uint64_t)i * rlen, 11);
		ck_assert_int_eq(submit_rw(ctx, &glue, IO_CMD_PWRITE, buf, rlen,
					   (int64_t)(i * rlen), (uint64_t)i),
				 -EIOCBQUEUED);
		reap(ctx, ev + i, 1);
		ck_assert_uint_eq(ev[i].data, (uint64_t)i);
		if (ev[i].res < 0) {
			failed++;
			if (first_fail == NERR) {
				first_fail = i;
				printf("device-error: request %d (offset %zu) "
				       "failed in the device: %lld (%s)\n",
				       i, i * rlen, (long long)ev[i].res,
				       strerror((int)-ev[i].res));
			}
			ck_assert_msg(ev[i].res == -ENOSPC || ev[i].res == -EIO,
				      "unexpected error %lld", (long long)ev[i].res);
		} else {
			ck_assert_int_eq(ev[i].res, (int64_t)rlen);
			ok++;
		}
	}
	check_once(ev, NERR, NULL);
	ck_assert_int_gt(failed, 0);
	ck_assert_int_gt(ok, 0);
	/* Data written before the device filled up is intact. */
	memset(buf, 0, rlen);
	ck_assert_int_eq(aio_dev_pread(dev, buf, rlen, 0), (int64_t)rlen);
	ck_assert(check_fill(buf, rlen, 0, 11));
	aio_dev_close(dev);
	aio_dev_ioctx_destroy(&glue);
	ioctx_destroy(ctx);
	aio_dev_free_buf(buf);
}
END_TEST

/* ---- Suites ------------------------------------------------------------- */

static Suite *make_suite(const char *kind)
{
	Suite *s = suite_create(kind);
	TCase *tc = tcase_create(kind);

	tcase_set_timeout(tc, 60);
	if (strcmp(kind, "device-error") == 0) {
		tcase_add_test(tc, test_real_device_error_in_event);
		tcase_add_test(tc, test_blk_beyond_end);
	} else {
		tcase_add_test(tc, test_open_geometry);
		tcase_add_test(tc, test_open_second_user_refused);
		tcase_add_test(tc, test_open_bad_paths);
		tcase_add_test(tc, test_dev_batch_pattern);
		tcase_add_test(tc, test_dev_partial_submit_loses_nothing);
		tcase_add_test(tc, test_dev_eagain_backoff_loses_nothing);
		tcase_add_test(tc, test_dev_submit_refused_completes_with_error);
		tcase_add_test(tc, test_dev_fault_hook_errno);
		tcase_add_test(tc, test_dev_fault_hook_delay);
		tcase_add_test(tc, test_dev_submit_from_done_small_queue);
		tcase_add_test(tc, test_dev_batch_hook);
		tcase_add_test(tc, test_dev_plug_one_batch);
		tcase_add_test(tc, test_dev_plug_flush_keeps_plug);
		tcase_add_test(tc, test_dev_sync_helpers);
		tcase_add_test(tc, test_ioctx_pattern_many_offsets);
		tcase_add_test(tc, test_ioctx_split_partial_submit_one_event);
		tcase_add_test(tc, test_ioctx_concurrent_submitters);
		tcase_add_test(tc, test_ioctx_misaligned_einval);
		tcase_add_test(tc, test_ioctx_device_error_in_event);
		tcase_add_test(tc, test_ioctx_propagate_error_after_queued);
		tcase_add_test(tc, test_ioctx_no_event_before_submit_returns);
		tcase_add_test(tc, test_ioctx_legacy_and_drop_modes);
		tcase_add_test(tc, test_ioctx_fsync_opcode);
		if (strcmp(kind, "loop") == 0)
			tcase_add_test(tc, test_blk_beyond_end);
	}
	suite_add_tcase(s, tc);
	return s;
}

/* SIGTERM, SIGINT, SIGHUP, SIGPIPE: clean up as on a normal exit (all the
 * calls are async-signal-safe). SIGKILL: the loop device clears itself
 * (autoclear); a directory may remain. */
static void on_signal(int sig)
{
	target_teardown();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "file";
	char why[512] = "";
	SRunner *sr;
	int failed;

	if (strcmp(kind, "file") && strcmp(kind, "loop") && strcmp(kind, "device-error")) {
		fprintf(stderr, "usage: %s [file|loop|device-error]\n", argv[0]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);
	if (target_setup(kind, why, sizeof(why)) < 0) {
		printf("SKIP: %s target: %s\n", kind, why);
		return SKIP_RC;
	}
	printf("%s target: %s\n", kind, g_target);
	fflush(stdout);
	sr = srunner_create(make_suite(kind));
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	target_teardown();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
