/*
 * test_direct.c: the direct path and the page-cache wiring (fs/io/fsio.h)
 * without a mount: fs_mount with the I/O engine on an image file, requests
 * through fsio_dio_* as the FUSE glue makes them, answers counted as the
 * glue receives them. Each test names the docs/semantics.md rule it pins down.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#ifdef HAVE_FSCK
#include "fsck.h"
#endif
#include "fs.h"
#include "fsio.h"
#include "fsio_int.h"
#include "pagecache.h"
#include "storage.h"

#define BS 4096
#define MAXREQ 64

static char dir[512], image[600];

/* ---- the answers, as the FUSE glue would get them -------------------------- */

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int answers[MAXREQ];
static int64_t results[MAXREQ];
static uint8_t *rdata[MAXREQ];
static ioctx_handle_t handles[MAXREQ];

static void on_done(void *arg, void *cookie, bool write, int64_t res, const void *buf)
{
	intptr_t id = (intptr_t)cookie;

	pthread_mutex_lock(&lk);
	answers[id]++;
	results[id] = res;
	if (!write && res > 0 && rdata[id])
		memcpy(rdata[id], buf, (size_t)res);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
}

/* Wait up to ms for an answer to request id; returns the number of answers. */
static int wait_answer(intptr_t id, int ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lk);
	while (!answers[id] && pthread_cond_timedwait(&cv, &lk, &until) == 0)
		;
	int n = answers[id];
	pthread_mutex_unlock(&lk);
	return n;
}

static intptr_t next_id;

static intptr_t dio_start(struct fs *fs, uint64_t ino, bool write, void *buf, size_t len, off_t off,
			  int flags)
{
	intptr_t id = next_id++;
	int err;

	ck_assert_int_lt(id, MAXREQ);
	answers[id] = 0;
	rdata[id] = write ? NULL : buf;
	struct fsio_dio *d = fsio_dio_new(fs, ino, write, len, off, flags, (void *)id, &err);
	ck_assert_msg(d, "fsio_dio_new: %s", strerror(-err));
	if (write)
		memcpy(fsio_dio_buf(d), buf, len);
	handles[id] = fsio_dio_handle(d);
	fsio_dio_submit(fs, d);
	return id;
}

/* One request, waited for: its result (exactly one answer required, R7). */
static int64_t dio(struct fs *fs, uint64_t ino, bool write, void *buf, size_t len, off_t off,
		   int flags)
{
	intptr_t id = dio_start(fs, ino, write, buf, len, off, flags);

	ck_assert_int_eq(wait_answer(id, 10000), 1);
	return results[id];
}

/* ---- images ------------------------------------------------------------------ */

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/direct-XXXXXX", TEST_TMPDIR);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(image, sizeof(image), "%s/image", dir);
	char err[256];
	struct format_opts o = {.size_bytes = 64 << 20, .block_size = BS};
	ck_assert_msg(storage_format(image, &o, err, sizeof(err)) == 0, "%s", err);
	struct storage *st;
	ck_assert_msg(storage_open(image, false, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(fs_format_root(st, getuid(), getgid()), 0);
	ck_assert_int_eq(storage_close(st), 0);
	next_id = 0;
}

/* Every test leaves an image that fsck -n finds clean. */
static void teardown(void)
{
#ifdef HAVE_FSCK
	struct fsck_opts o = {.mode = FSCK_CHECK};
	struct fsck_result res;
	char err[256] = "";
	int code = fsck_run(image, &o, &res, err, sizeof(err));
	ck_assert_msg(code == FSCK_EXIT_CLEAN, "fsck -n %s: exit %d %s", image, code, err);
#endif
	unlink(image);
	rmdir(dir);
}

static struct fs *mount_io(int mode, struct faults *f)
{
	struct fs_mount_opts mo = {.io = true, .semantics = mode, .faults = f};
	struct fs *fs = NULL;
	char err[256];

	ck_assert_msg(fs_mount(image, &mo, &fs, err, sizeof(err)) == 0, "%s", err);
	if (!fsio_has_direct(fs)) {
		fs_unmount(fs);
		return NULL; /* a target without O_DIRECT (tmpfs): nothing to test */
	}
	fsio_set_dio_done(fs, on_done, NULL);
	return fs;
}

static uint64_t create(struct fs *fs, const char *name)
{
	fs_attr_t a;

	ck_assert_int_eq(
	    fs_create(fs, FS_ROOT_INO, name, S_IFREG | 0644, O_RDWR, getuid(), getgid(), &a), 0);
	return a.st_ino;
}

static uint64_t fsize(struct fs *fs, uint64_t ino)
{
	fs_attr_t a;

	ck_assert_int_eq(fs_getattr(fs, ino, &a), 0);
	return (uint64_t)a.st_size;
}

static void *block(int c, size_t len)
{
	void *b = malloc(len);
	memset(b, c, len);
	return b;
}

static struct ioctx_stats ictx(struct fs *fs)
{
	struct ioctx_stats s;

	ioctx_get_stats(fsio_ioctx(fs), &s);
	return s;
}

#define NEED_DIRECT(fs)                                                                            \
	do {                                                                                       \
		if (!(fs)) {                                                                       \
			fprintf(stderr, "SKIP: no O_DIRECT on %s\n", TEST_TMPDIR);                 \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* ---- tests ----------------------------------------------------------------------- */

/* Alignment as on ext4: offset and length multiples of the logical block. */
START_TEST(alignment_einval)
{
	struct fs *fs = mount_io(IOCTX_DEFERRED, NULL);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "a");
	void *b = block('a', 2 * BS);

	ck_assert_int_eq(dio(fs, ino, true, b, 512, 100, 0), -EINVAL);
	ck_assert_int_eq(dio(fs, ino, true, b, 100, 0, 0), -EINVAL);
	ck_assert_int_eq(dio(fs, ino, false, b, 512, 7, 0), -EINVAL);
	ck_assert_int_eq(fsize(fs, ino), 0);
	ck_assert_int_eq(dio(fs, ino, true, b, BS, 0, 0), BS);
	free(b);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* Writes into holes and past EOF allocate; the size moves at completion;
   reads stop at EOF and see holes as zeros. */
START_TEST(holes_and_eof)
{
	struct fs *fs = mount_io(IOCTX_DEFERRED, NULL);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "h");
	uint8_t *w = block('w', 4 * BS), *r = block(0, 4 * BS);

	ck_assert_int_eq(dio(fs, ino, true, w, BS, 3 * BS, 0), BS); /* hole before it */
	ck_assert_int_eq(fsize(fs, ino), 4 * BS);
	memset(r, 0x55, 4 * BS);
	ck_assert_int_eq(dio(fs, ino, false, r, 4 * BS, 0, 0), 4 * BS);
	for (int i = 0; i < 3 * BS; i++)
		ck_assert_int_eq(r[i], 0);
	ck_assert_int_eq(memcmp(r + 3 * BS, w, BS), 0);
	/* Past EOF: nothing; across EOF: short. */
	ck_assert_int_eq(dio(fs, ino, false, r, BS, 8 * BS, 0), 0);
	ck_assert_int_eq(fs_setattr(fs, ino, &(fs_attr_t){.st_size = 4 * BS - 1000}, FS_SET_SIZE,
				    &(fs_attr_t){0}),
			 0);
	ck_assert_int_eq(dio(fs, ino, false, r, 2 * BS, 2 * BS, 0), 2 * BS - 1000);
	/* A 512-byte write inside a block of an unaligned-size file extends it exactly. */
	ck_assert_int_eq(dio(fs, ino, true, w, 512, 4 * BS, 0), 512);
	ck_assert_int_eq(fsize(fs, ino), 4 * BS + 512);
	free(w);
	free(r);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* Requests reuse spare buffers of their size class (fs/io/direct.c): a
   read into a reused buffer still sees holes as zeros, not the bytes of
   the request that used the buffer before. */
START_TEST(spare_buffers_hold_no_old_data)
{
	struct fs *fs = mount_io(IOCTX_DEFERRED, NULL);
	NEED_DIRECT(fs);
	uint64_t x = create(fs, "x"), h = create(fs, "h");
	uint8_t *w = block('x', 4 * BS), *r = block(0, 4 * BS);

	for (int i = 0; i < 4; i++) /* spares of the 4-block class, full of 'x' */
		ck_assert_int_eq(dio(fs, x, true, w, 4 * BS, (off_t)i * 4 * BS, 0), 4 * BS);
	memset(w, 'w', BS);
	ck_assert_int_eq(dio(fs, h, true, w, BS, 2 * BS, 0), BS); /* two blocks of hole first */
	for (size_t len = 3 * BS; len <= 4 * BS; len += BS) {
		memset(r, 0x55, 4 * BS);
		ck_assert_int_eq(dio(fs, h, false, r, len, 0, 0), 3 * BS); /* EOF at 3 blocks */
		for (int i = 0; i < 2 * BS; i++)
			ck_assert_int_eq(r[i], 0);
		ck_assert_int_eq(memcmp(r + 2 * BS, w, BS), 0);
		ck_assert_int_eq(r[3 * BS], 0x55); /* nothing past the result */
	}
	free(w);
	free(r);
	fs_release(fs, x);
	fs_release(fs, h);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* R1 fan-out: a request over N discontiguous extents is N device I/Os and
   exactly one answer. */
START_TEST(fanout_one_event)
{
	struct fs *fs = mount_io(IOCTX_DEFERRED, NULL);
	NEED_DIRECT(fs);
	uint64_t a = create(fs, "frag"), b = create(fs, "other");
	uint8_t *w = block(0, 4 * BS), *r = block(0, 4 * BS);

	/* Interleave the two files' allocations: a's blocks are not contiguous. */
	for (int i = 0; i < 4; i++) {
		memset(w + i * BS, '0' + i, BS);
		ck_assert_int_eq(dio(fs, a, true, w + i * BS, BS, i * BS, 0), BS);
		ck_assert_int_eq(dio(fs, b, true, w, BS, i * BS, 0), BS);
	}
	struct aio_dev_stats s0, s1;
	aio_dev_get_stats(fs->io->dev, &s0);
	struct ioctx_stats i0 = ictx(fs);
	ck_assert_int_eq(dio(fs, a, false, r, 4 * BS, 0, 0), 4 * BS);
	aio_dev_get_stats(fs->io->dev, &s1);
	ck_assert_int_eq(memcmp(r, w, 4 * BS), 0);
	ck_assert_uint_eq(s1.submitted - s0.submitted, 4);
	struct ioctx_stats i1 = ictx(fs);
	ck_assert_uint_eq(i1.events - i0.events, 1);
	free(w);
	free(r);
	fs_release(fs, a);
	fs_release(fs, b);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* P4: a direct read writes back dirty pages first; P2/P5: after a direct
   write a buffered read returns the new data (cached pages invalidated). */
START_TEST(p2_p4_p5_mixed)
{
	struct fs *fs = mount_io(IOCTX_DEFERRED, NULL);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "m");
	uint8_t *x = block('x', BS), *y = block('y', BS), *r = block(0, BS);

	ck_assert_int_eq(fs_write(fs, ino, x, BS, 0), BS); /* dirty in the cache */
	ck_assert_int_eq(dio(fs, ino, false, r, BS, 0, 0), BS);
	ck_assert_int_eq(memcmp(r, x, BS), 0);
	ck_assert_int_eq(fs_read(fs, ino, r, BS, 0), BS); /* cached, clean */
	ck_assert_int_eq(dio(fs, ino, true, y, BS, 0, 0), BS);
	ck_assert_int_eq(fs_read(fs, ino, r, BS, 0), BS);
	ck_assert_int_eq(memcmp(r, y, BS), 0);
	free(x);
	free(y);
	free(r);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

static void arm(struct faults *f, const char *spec)
{
	char err[256];

	ck_assert_msg(fault_set_option(f, spec, err, sizeof(err)) == 0, "%s: %s", spec, err);
}

/* Section 4, deferred (R3): the failed invalidation reaches the event, once. */
START_TEST(deferred_invalidate_error_in_event)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_DEFERRED, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "d");
	uint8_t *w = block('w', BS);

	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), BS);
	arm(f, "invalidate:errno=EIO:times=1");
	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), -EIO);
	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), BS); /* times=1: spent */
	struct ioctx_stats s = ictx(fs);
	ck_assert_uint_eq(s.propagated_errors, 1);
	ck_assert_uint_eq(s.double_completions, 0);
	ck_assert_uint_eq(s.events, s.submitted);
	/* The completion-time invalidation (the second of a request) too. */
	arm(f, "invalidate:errno=EBUSY:interval=2:times=1");
	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), -EBUSY);
	free(w);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* P3 without a fault: a buffered write dirties a page of a direct write's
   range while its device I/O is held in flight; the invalidation at
   completion cannot drop it and fails -EIO, 2.6.20's errno, which reaches
   the event (R3) in deferred and, from the completion path, in legacy. */
static void real_dirty_page(int mode)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(mode, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "p");
	uint8_t *w = block('w', BS), *b = block('b', BS), *r = block(0, BS);

	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), BS);
	arm(f, "delay:ms=300:times=1");
	intptr_t id = dio_start(fs, ino, true, w, BS, 0, 0);
	usleep(50 * 1000); /* submitted, first invalidation done, device held */
	ck_assert_int_eq(answers[id], 0);
	ck_assert_int_eq(fs_write(fs, ino, b, BS, 0), BS); /* dirty, racing */
	ck_assert_int_eq(wait_answer(id, 5000), 1);
	ck_assert_int_eq(results[id], -EIO);
	struct fault_counters fc;
	fault_get(f, FAULT_INVALIDATE, NULL, &fc);
	ck_assert_uint_eq(fc.injected, 0);
	/* The dirty page was kept: the buffered data wins for buffered readers. */
	ck_assert_int_eq(fs_read(fs, ino, r, BS, 0), BS);
	ck_assert_int_eq(memcmp(r, b, BS), 0);
	struct ioctx_stats s = ictx(fs);
	ck_assert_uint_eq(s.double_completions, 0);
	ck_assert_uint_eq(s.events, s.submitted);
	free(w);
	free(b);
	free(r);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}

START_TEST(p3_real_dirty_page_eio_deferred)
{
	real_dirty_page(IOCTX_DEFERRED);
}
END_TEST

START_TEST(p3_real_dirty_page_eio_legacy)
{
	real_dirty_page(IOCTX_LEGACY);
}
END_TEST

/* Section 4, legacy: the submitter's error completes the iocb while the
   device still holds it: one answer, and the second completion detected. */
START_TEST(legacy_double_completion_detected)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_LEGACY, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "l");
	uint8_t *w = block('w', BS);

	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), BS);
	arm(f, "delay:ms=200:times=1");
	arm(f, "invalidate:errno=EIO:times=1");
	intptr_t id = dio_start(fs, ino, true, w, BS, 0, 0);
	ck_assert_int_eq(wait_answer(id, 5000), 1);
	ck_assert_int_eq(results[id], -EIO);
	aio_dev_drain(fs->io->dev); /* the delayed device completion arrives */
	usleep(50 * 1000);
	ck_assert_int_eq(answers[id], 1);
	struct ioctx_stats s = ictx(fs);
	ck_assert_uint_eq(s.double_completions, 1);
	struct fsio_dio_stats ds;
	fsio_dio_get_stats(fs, &ds);
	ck_assert_uint_eq(ds.requests, ds.replies);
	ck_assert_uint_eq(ds.bad_replies, 0);
	free(w);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* Section 4, drop: success, and a buffered reader sees stale data (P5). */
START_TEST(drop_success_and_stale_read)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_DROP, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "p");
	uint8_t *x = block('x', BS), *y = block('y', BS), *r = block(0, BS);

	ck_assert_int_eq(dio(fs, ino, true, x, BS, 0, 0), BS);
	ck_assert_int_eq(fs_read(fs, ino, r, BS, 0), BS); /* cached */
	arm(f, "invalidate:errno=EIO");
	ck_assert_int_eq(dio(fs, ino, true, y, BS, 0, 0), BS);
	ck_assert_int_eq(fs_read(fs, ino, r, BS, 0), BS);
	ck_assert_int_eq(memcmp(r, x, BS), 0); /* stale */
	struct ioctx_stats s = ictx(fs);
	ck_assert_uint_eq(s.dropped_errors, 2);
	fault_off(f, FAULT_INVALIDATE);
	free(x);
	free(y);
	free(r);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* P6: the O_DSYNC metadata sync runs after submission; its failure is the event's. */
START_TEST(osync_error_in_event)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_DEFERRED, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "o");
	uint8_t *w = block('w', BS);

	arm(f, "osync:errno=ENOSPC");
	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), BS); /* not O_DSYNC: no sync */
	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, O_DSYNC), -ENOSPC);
	ck_assert_int_eq(dio(fs, ino, true, w, BS, BS, O_SYNC), -ENOSPC);
	struct fault_knobs k;
	struct fault_counters c;
	fault_get(f, FAULT_OSYNC, &k, &c);
	ck_assert_uint_eq(c.injected, 2);
	free(w);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* Device faults filtered by offset; a read error is the event's. */
START_TEST(device_faults)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_DEFERRED, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "v");
	uint8_t *w = block('w', 2 * BS);

	arm(f, "device_write:errno=EIO:offset=4096-8191");
	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), BS);
	ck_assert_int_eq(dio(fs, ino, true, w, BS, BS, 0), -EIO);
	ck_assert_int_eq(fsize(fs, ino), BS); /* a failed write does not move the size */
	fault_off(f, FAULT_DEVICE_WRITE);
	ck_assert_int_eq(dio(fs, ino, true, w, 2 * BS, 0, 0), 2 * BS);
	arm(f, "device_read:errno=EIO:times=1");
	ck_assert_int_eq(dio(fs, ino, false, w, BS, 0, 0), -EIO);
	ck_assert_int_eq(dio(fs, ino, false, w, BS, 0, 0), BS);
	free(w);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* R6: a read held in flight by delay is cancelled: the canceller answers,
   no event comes, the counters agree. A write cannot be cancelled. */
START_TEST(cancel_read_in_flight)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_DEFERRED, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "c");
	uint8_t *w = block('w', BS);
	void *cookie = NULL;

	ck_assert_int_eq(dio(fs, ino, true, w, BS, 0, 0), BS);
	arm(f, "delay:ms=300");
	struct ioctx_stats s0 = ictx(fs);
	intptr_t id = dio_start(fs, ino, false, w, BS, 0, 0);
	usleep(50 * 1000);
	ck_assert_int_eq(fsio_dio_cancel(fs, handles[id], &cookie), 0);
	ck_assert_ptr_eq(cookie, (void *)id);
	ck_assert_int_eq(fsio_dio_cancel(fs, handles[id], &cookie), -EINVAL); /* once */
	aio_dev_drain(fs->io->dev);
	usleep(50 * 1000);
	ck_assert_int_eq(answers[id], 0); /* no event leaked */
	struct ioctx_stats s1 = ictx(fs);
	ck_assert_uint_eq(s1.cancelled - s0.cancelled, 1);
	ck_assert_uint_eq(s1.inflight, 0);
	ck_assert_uint_eq(s1.events - s0.events, 0);
	struct fsio_dio_stats ds;
	fsio_dio_get_stats(fs, &ds);
	ck_assert_uint_eq(ds.requests, ds.replies);
	ck_assert_uint_eq(ds.cancelled, 1);
	/* A write in flight cannot be recalled: too late, it completes. */
	intptr_t wid = dio_start(fs, ino, true, w, BS, 0, 0);
	usleep(50 * 1000);
	ck_assert_int_eq(fsio_dio_cancel(fs, handles[wid], &cookie), -EAGAIN);
	ck_assert_int_eq(wait_answer(wid, 5000), 1);
	ck_assert_int_eq(results[wid], BS);
	free(w);
	fault_off(f, FAULT_DELAY);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* Writes into holes: below EOF the hole reads as zeros until the data is
   there (zero-filled first); past EOF the new blocks are invisible until the
   size moves at completion; a failed write gives its blocks back. */
START_TEST(hole_mapped_at_completion)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_DEFERRED, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "u");
	uint8_t *w = block('w', 2 * BS), *r = block(1, 2 * BS);
	fs_attr_t out;

	ck_assert_int_eq(fs_setattr(fs, ino, &(fs_attr_t){.st_size = 4 * BS}, FS_SET_SIZE, &out),
			 0);
	arm(f, "delay:ms=400");
	intptr_t id = dio_start(fs, ino, true, w, 2 * BS, 0, 0);
	usleep(150 * 1000);
	ck_assert_int_eq(answers[id], 0);
	/* In flight (the device may already hold the data): zeros or the new
	   data, never anything else. */
	ck_assert_int_eq(fs_read(fs, ino, r, 2 * BS, 0), 2 * BS);
	for (int i = 0; i < 2 * BS; i++)
		ck_assert(r[i] == 0 || r[i] == 'w');
	ck_assert_int_eq(wait_answer(id, 5000), 1);
	ck_assert_int_eq(results[id], 2 * BS);
	ck_assert_int_eq(fs_lseek(fs, ino, 0, SEEK_DATA), 0);
	ck_assert_int_eq(fs_read(fs, ino, r, 2 * BS, 0), 2 * BS); /* P5 */
	ck_assert_int_eq(memcmp(r, w, 2 * BS), 0);
	/* Past EOF: the size (and so the data) moves only at completion. */
	id = dio_start(fs, ino, true, w, 2 * BS, 4 * BS, 0);
	usleep(150 * 1000);
	ck_assert_int_eq(answers[id], 0);
	ck_assert_int_eq(fsize(fs, ino), 4 * BS);
	ck_assert_int_eq(fs_read(fs, ino, r, 2 * BS, 4 * BS), 0);
	ck_assert_int_eq(wait_answer(id, 5000), 1);
	ck_assert_int_eq(results[id], 2 * BS);
	ck_assert_int_eq(fsize(fs, ino), 6 * BS);
	ck_assert_int_eq(fs_read(fs, ino, r, 2 * BS, 4 * BS), 2 * BS);
	ck_assert_int_eq(memcmp(r, w, 2 * BS), 0);
	fault_off(f, FAULT_DELAY);

	struct statvfs v0, v1;
	ck_assert_int_eq(fs_statfs(fs, &v0), 0);
	arm(f, "device_write:errno=EIO");
	ck_assert_int_eq(dio(fs, ino, true, w, 2 * BS, 7 * BS, 0), -EIO); /* past EOF */
	fault_off(f, FAULT_DEVICE_WRITE);
	ck_assert_int_eq(fs_statfs(fs, &v1), 0);
	ck_assert_uint_eq(v1.f_bfree, v0.f_bfree);
	ck_assert_int_eq(fsize(fs, ino), 6 * BS);
	/* Grown over the failed range, the file shows zeros, never old blocks. */
	ck_assert_int_eq(fs_setattr(fs, ino, &(fs_attr_t){.st_size = 9 * BS}, FS_SET_SIZE, &out),
			 0);
	ck_assert_int_eq(fs_lseek(fs, ino, 6 * BS, SEEK_DATA), -ENXIO);
	free(w);
	free(r);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* A crash while a write past EOF is in flight: its blocks, mapped beyond the
   size with the inode on the orphan list, are cut at the next mount; the
   image is fsck-clean (teardown) and the size never covered unwritten data. */
START_TEST(crash_with_extending_write_in_flight)
{
	struct statvfs v0, v1;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct faults *f = faults_new(1, NULL, NULL);
		struct fs *fs = mount_io(IOCTX_DEFERRED, f);
		if (!fs)
			_exit(77);
		uint64_t ino = create(fs, "x");
		uint8_t *w = block('w', 4 * BS);
		if (dio(fs, ino, true, w, BS, 0, 0) != BS || fs_sync(fs) < 0)
			_exit(1);
		arm(f, "delay:ms=5000");
		dio_start(fs, ino, true, w, 4 * BS, BS, 0);
		usleep(100 * 1000);
		if (fs_sync(fs) < 0) /* the mapping and the orphan entry are durable */
			_exit(1);
		_exit(0); /* crash: no unmount, the write never completes */
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (WEXITSTATUS(st) == 77)
		return;
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	struct fs *fs = NULL;
	char err[256];
	ck_assert_msg(fs_mount(image, NULL, &fs, err, sizeof(err)) == 0, "%s", err);
	fs_attr_t a;
	ck_assert_int_eq(fs_lookup(fs, FS_ROOT_INO, "x", &a), 0);
	ck_assert_int_eq(a.st_size, BS);
	ck_assert_int_eq(fs_statfs(fs, &v0), 0);
	fs_forget(fs, a.st_ino, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
	ck_assert_msg(fs_mount(image, NULL, &fs, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(fs_statfs(fs, &v1), 0);
	ck_assert_uint_eq(v1.f_bfree, v0.f_bfree);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* P1: truncate and punch drop the pages they make stale, whatever the
   invalidate fault point says (it is the direct path's, not theirs). */
START_TEST(truncate_punch_drop_pages)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs *fs = mount_io(IOCTX_DEFERRED, f);
	if (!fs)
		faults_free(f);
	NEED_DIRECT(fs);
	uint64_t ino = create(fs, "t");
	uint8_t *x = block('x', 4 * BS), *r = block(1, 4 * BS);
	fs_attr_t out;

	ck_assert_int_eq(fs_write(fs, ino, x, 4 * BS, 0), 4 * BS); /* dirty */
	arm(f, "invalidate:errno=EIO");
	ck_assert_int_eq(
	    fs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 2 * BS), 0);
	ck_assert_int_eq(fs_read(fs, ino, r, 4 * BS, 0), 4 * BS);
	for (int i = 0; i < 4 * BS; i++)
		ck_assert_int_eq(r[i], i >= 100 && i < 100 + 2 * BS ? 0 : 'x');
	ck_assert_int_eq(
	    fs_setattr(fs, ino, &(fs_attr_t){.st_size = 3 * BS + 10}, FS_SET_SIZE, &out), 0);
	ck_assert_int_eq(fs_setattr(fs, ino, &(fs_attr_t){.st_size = 4 * BS}, FS_SET_SIZE, &out),
			 0);
	ck_assert_int_eq(fs_read(fs, ino, r, BS, 3 * BS), BS);
	for (int i = 0; i < BS; i++)
		ck_assert_int_eq(r[i], i < 10 ? 'x' : 0);
	fault_off(f, FAULT_INVALIDATE);
	free(x);
	free(r);
	fs_release(fs, ino);
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}
END_TEST

/* ---- the last reference of a file dropped by its write-back ------------------ */

struct fsync_arg {
	struct fs *fs;
	uint64_t ino;
};

static void *fsync_main(void *arg)
{
	struct fsync_arg *a = arg;

	fs_fsync(a->fs, a->ino, false); /* the file may be gone by the end: any result */
	return NULL;
}

static struct statvfs fs_sv(struct fs *fs)
{
	struct statvfs sv;

	ck_assert_int_eq(fs_statfs(fs, &sv), 0);
	return sv;
}

/*
 * An unlinked file is closed while its write-back runs (pages locked,
 * device write held by the delay point): the write-back's reference on the
 * inode is then the last one, and dropping it frees the file and drops its
 * pages. The page cache drops it only after unlocking the run's pages, so
 * nothing waits for itself; the file's blocks (and, once forgotten, its
 * inode) are free at once, and no page of it stays cached.
 */
static void last_put_by_writeback(bool forgotten)
{
	struct faults *f = faults_new(1, NULL, NULL);
	struct fs_mount_opts mo = {.io = true, .faults = f};
	struct fs *fs = NULL;
	char err[256], spec[96];

	ck_assert_msg(fs_mount(image, &mo, &fs, err, sizeof(err)) == 0, "%s", err);
	struct statvfs sv0 = fs_sv(fs);
	uint64_t ino = create(fs, "victim"); /* looked up and open */
	uint8_t *x = block('x', 8 * BS);
	ck_assert_int_eq(fs_write(fs, ino, x, 8 * BS, 0), 8 * BS); /* dirty */
	free(x);
	ck_assert_int_eq(fs_unlink(fs, FS_ROOT_INO, "victim"), 0);
	if (forgotten)
		fs_forget(fs, ino, 1);
	snprintf(spec, sizeof(spec), "delay:ms=500:ino=%llu:times=1", (unsigned long long)ino);
	arm(f, spec);

	pthread_t t;
	struct fsync_arg a = {fs, ino};
	struct fault_counters fc = {0};
	ck_assert_int_eq(pthread_create(&t, NULL, fsync_main, &a), 0);
	for (int i = 0; i < 10000 && !fc.injected; i++) {
		usleep(1000);
		fault_get(f, FAULT_DELAY, NULL, &fc);
	}
	ck_assert_uint_eq(fc.injected, 1); /* the write-back is in its device write */
	ck_assert_int_eq(pc_page_state(fsio_pc(fs), ino, 0), PC_LOCKED);
	fs_release(fs, ino); /* the last close: the write-back holds the last reference */

	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	ck_assert_msg(pthread_timedjoin_np(t, NULL, &until) == 0,
		      "write-back waits for itself: its last reference dropped under page locks");
	for (uint64_t i = 0; i < 8; i++)
		ck_assert_int_eq(pc_page_state(fsio_pc(fs), ino, i), PC_ABSENT);
	struct statvfs sv = fs_sv(fs);
	ck_assert_uint_eq(sv.f_bfree, sv0.f_bfree);
	ck_assert_uint_eq(sv.f_ffree, sv0.f_ffree - !forgotten); /* the number stays till FORGET */
	if (!forgotten) {
		fs_forget(fs, ino, 1);
		ck_assert_uint_eq(fs_sv(fs).f_ffree, sv0.f_ffree);
	}
	ck_assert_int_eq(fs_unmount(fs), 0);
	faults_free(f);
}

START_TEST(last_put_by_writeback_forgotten)
{
	last_put_by_writeback(true);
}
END_TEST

START_TEST(last_put_by_writeback_looked_up)
{
	last_put_by_writeback(false);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("direct");
	TCase *tc = tcase_create("direct");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, alignment_einval);
	tcase_add_test(tc, holes_and_eof);
	tcase_add_test(tc, spare_buffers_hold_no_old_data);
	tcase_add_test(tc, hole_mapped_at_completion);
	tcase_add_test(tc, crash_with_extending_write_in_flight);
	tcase_add_test(tc, truncate_punch_drop_pages);
	tcase_add_test(tc, fanout_one_event);
	tcase_add_test(tc, p2_p4_p5_mixed);
	tcase_add_test(tc, deferred_invalidate_error_in_event);
	tcase_add_test(tc, p3_real_dirty_page_eio_deferred);
	tcase_add_test(tc, p3_real_dirty_page_eio_legacy);
	tcase_add_test(tc, legacy_double_completion_detected);
	tcase_add_test(tc, drop_success_and_stale_read);
	tcase_add_test(tc, osync_error_in_event);
	tcase_add_test(tc, device_faults);
	tcase_add_test(tc, cancel_read_in_flight);
	tcase_add_test(tc, last_put_by_writeback_forgotten);
	tcase_add_test(tc, last_put_by_writeback_looked_up);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
