/*
 * test_ioctx_stress: R7 under concurrency. Several submitting threads,
 * several device-completion threads that end device I/Os in random order,
 * several reaping threads; random synchronous results, device errors,
 * groups and post-submission errors (R3) racing with the device
 * completions. Every request is checked against a shadow model: exactly
 * one event, with the right obj, data and res, or exactly one successful
 * cancellation (R6: a canceller thread cancels random recent requests,
 * racing with their submission and completion), and the counters add up.
 *
 * Request count: argv[1], else $IOCTX_STRESS_N, else 1,000,000 (deferred
 * mode; legacy and drop then run with a fifth of it each). The TSan build
 * sets a small count (tests/ioctx/CMakeLists.txt).
 */
#include "ioctx.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NR 256
#define NSUB 3
#define NDEVTHR 2
#define NREAP 2
#define OBJ_MAGIC 0x0b1ec7000000000ULL
#define IO_BYTES 4096

/* Per-request record, indexed by request id (it outlives the iocb: in
 * legacy mode the iocb is freed while its device I/O is in flight). */
struct rec {
	ioctx_handle_t h;
	struct ioctx_dio dio;
	_Atomic int remaining; /* per-I/O references: I/Os not ended */
	_Atomic int64_t err, bytes;
	int8_t ndev;	/* 0: synchronous */
	int8_t fail_io; /* index of the failing device I/O, or -1 */
	bool group;
	int64_t sync_res;
	int64_t post_err[2];
	bool yield_before_errors;
	bool cancel_ok;		     /* what the cancel method answers */
	_Atomic ioctx_handle_t hpub; /* for the canceller */
	_Atomic int cancels;	     /* successful cancellations */
};

struct devio {
	struct rec *rec;
	int idx;
};

static struct {
	enum ioctx_semantics mode;
	long n;
	struct ioctx *ctx;
	struct rec *recs;
	int64_t *expect, *expect_alt; /* alt: legacy's other possible res */
	_Atomic uint8_t *seen;
	_Atomic long next_id;
	_Atomic long reaped;
	_Atomic long bad_res, bad_obj, dup, bad_submit, bad_id;
	_Atomic long expect_double, expect_dropped, expect_pending;
	_Atomic long oopses;
	_Atomic long cancelled, bad_cancel_res;
	_Atomic bool stop_cancel;
	/* the fake device: a bag of in-flight I/Os, ended in random order */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct devio *q;
	long qlen, qcap;
	bool done;
} S;

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void dev_push(struct rec *r, int idx)
{
	pthread_mutex_lock(&S.qlock);
	if (S.qlen == S.qcap) {
		fprintf(stderr, "stress: device queue overflow\n");
		abort();
	}
	S.q[S.qlen++] = (struct devio){r, idx};
	pthread_cond_signal(&S.qcond);
	pthread_mutex_unlock(&S.qlock);
}

static int64_t dev_res(const struct rec *r, int idx)
{
	return idx == r->fail_io ? -EIO : IO_BYTES;
}

static void dev_end(struct devio io)
{
	struct rec *r = io.rec;
	int64_t res = dev_res(r, io.idx);
	if (r->group) {
		ioctx_dio_end(S.ctx, &r->dio, res);
		return;
	}
	if (res < 0) {
		int64_t none = 0;
		atomic_compare_exchange_strong(&r->err, &none, res);
	} else {
		atomic_fetch_add(&r->bytes, res);
	}
	ioctx_handle_t h = r->h;
	if (atomic_fetch_sub(&r->remaining, 1) != 1) {
		ioctx_put(S.ctx, h);
	} else {
		int64_t err = atomic_load(&r->err);
		ioctx_complete(S.ctx, h, err ? err : atomic_load(&r->bytes), 0);
	}
}

static int64_t stress_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	struct rec *r = iocb->priv;
	if (r->ndev == 0)
		return r->sync_res;
	r->h = ioctx_handle(iocb);
	if (r->group) {
		ioctx_dio_init(ctx, &r->dio, iocb, r->ndev);
	} else {
		atomic_store(&r->remaining, r->ndev);
		for (int i = 0; i < r->ndev; i++)
			ioctx_iocb_get(ctx, iocb);
	}
	for (int i = 0; i < r->ndev; i++)
		dev_push(r, i);
	if (r->yield_before_errors)
		sched_yield(); /* let the device complete first, sometimes */
	int64_t ret = -EIOCBQUEUED;
	for (int i = 0; i < 2; i++)
		if (r->post_err[i])
			ret = ioctx_propagate_error(ctx, iocb, ret, r->post_err[i]);
	return ret;
}

static int stress_cancel(struct ioctx *ctx, struct ioctx_iocb *iocb, struct ioctx_event *res)
{
	struct rec *r = iocb->priv;
	return r->cancel_ok ? 0 : -EAGAIN; /* the device I/O still ends */
}

static const struct ioctx_ops stress_ops = {.submit = stress_submit, .cancel = stress_cancel};

/* Script request id and record what the shadow model expects. */
static void plan(long id, uint64_t *rng)
{
	struct rec *r = &S.recs[id];
	uint64_t x = xorshift(rng);
	r->fail_io = -1;
	unsigned kind = x % 100;
	if (kind < 8) {
		r->ndev = 0;
		r->sync_res = (int64_t)(x >> 40) % 100000;
	} else if (kind < 12) {
		r->ndev = 0;
		r->sync_res = -EINVAL;
	} else {
		r->ndev = 1 + (x >> 8) % 3;
		r->group = (x >> 12) & 1;
		if ((x >> 16) % 100 < 5)
			r->fail_io = (x >> 24) % r->ndev;
		if ((x >> 32) % 100 < 15)
			r->post_err[0] = -EBUSY;
		if (r->post_err[0] && (x >> 40) % 100 < 30)
			r->post_err[1] = -EIO;
		r->yield_before_errors = (x >> 48) % 100 < 10;
	}
	r->cancel_ok = (x >> 56) & 1;
	if (r->ndev == 0) {
		S.expect[id] = S.expect_alt[id] = r->sync_res;
		return;
	}
	int64_t dev = r->fail_io >= 0 ? -EIO : (int64_t)r->ndev * IO_BYTES;
	switch (S.mode) {
	case IOCTX_DEFERRED: /* the first post-submission error wins */
	case IOCTX_MAINLINE: /* the same in the core */
		S.expect[id] = S.expect_alt[id] = r->post_err[0] ? r->post_err[0] : dev;
		if (r->post_err[0])
			atomic_fetch_add(&S.expect_pending, 1);
		break;
	case IOCTX_LEGACY: /* whoever completes first writes the event */
		S.expect[id] = dev;
		S.expect_alt[id] = r->post_err[1]   ? r->post_err[1]
				   : r->post_err[0] ? r->post_err[0]
						    : dev;
		if (r->post_err[0])
			atomic_fetch_add(&S.expect_double, 1);
		break;
	case IOCTX_DROP:
		S.expect[id] = S.expect_alt[id] = dev;
		atomic_fetch_add(&S.expect_dropped, (r->post_err[0] != 0) + (r->post_err[1] != 0));
		break;
	}
}

static void *submitter(void *arg)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uintptr_t)arg + 1;
	for (;;) {
		long id = atomic_fetch_add(&S.next_id, 1);
		if (id >= S.n)
			return NULL;
		plan(id, &rng);
		struct ioctx_iocb *iocb;
		while (ioctx_get_req(S.ctx, &iocb) == -EAGAIN)
			sched_yield();
		iocb->user_data = (uint64_t)id;
		iocb->obj = OBJ_MAGIC ^ (uint64_t)id;
		iocb->ops = &stress_ops;
		iocb->priv = &S.recs[id];
		atomic_store(&S.recs[id].hpub, ioctx_handle(iocb));
		int64_t ret = ioctx_submit(S.ctx, iocb);
		struct rec *r = &S.recs[id];
		int64_t want = r->ndev == 0				  ? r->sync_res
			       : S.mode == IOCTX_LEGACY && r->post_err[0] ? S.expect_alt[id]
									  : -EIOCBQUEUED;
		if (ret != want)
			atomic_fetch_add(&S.bad_submit, 1);
	}
}

static void *device(void *arg)
{
	uint64_t rng = 0x2545f4914f6cdd1dULL * ((uintptr_t)arg + 7);
	pthread_mutex_lock(&S.qlock);
	for (;;) {
		while (S.qlen == 0 && !S.done)
			pthread_cond_wait(&S.qcond, &S.qlock);
		if (S.qlen == 0)
			break;
		long j = (long)(xorshift(&rng) % (uint64_t)S.qlen);
		struct devio io = S.q[j];
		S.q[j] = S.q[--S.qlen];
		pthread_mutex_unlock(&S.qlock);
		dev_end(io);
		pthread_mutex_lock(&S.qlock);
	}
	pthread_mutex_unlock(&S.qlock);
	return NULL;
}

static void *reaper(void *arg)
{
	struct ioctx_event ev[32];
	struct timespec to = {0, 20 * 1000 * 1000};
	while (atomic_load(&S.reaped) + atomic_load(&S.cancelled) < S.n) {
		int got = ioctx_getevents(S.ctx, 1, 32, ev, &to);
		for (int i = 0; i < got; i++) {
			long id = (long)ev[i].data;
			if (id < 0 || id >= S.n) {
				atomic_fetch_add(&S.bad_id, 1);
				continue;
			}
			if (ev[i].obj != (OBJ_MAGIC ^ (uint64_t)id))
				atomic_fetch_add(&S.bad_obj, 1);
			if (ev[i].res != S.expect[id] && ev[i].res != S.expect_alt[id])
				atomic_fetch_add(&S.bad_res, 1);
			if (atomic_fetch_add(&S.seen[id], 1) != 0)
				atomic_fetch_add(&S.dup, 1);
		}
		if (got > 0)
			atomic_fetch_add(&S.reaped, got);
	}
	return NULL;
}

static void count_oops(void *arg, const char *line)
{
	if (strncmp(line, "eiocbfs: oops: double completion of iocb #", 42) == 0)
		atomic_fetch_add(&S.oopses, 1);
}

/* Cancel random recent requests: live, completed, or long gone. */
static void *canceller(void *arg)
{
	uint64_t rng = 0x51afd7ed558ccd1dULL;
	struct timespec pause = {0, 100 * 1000};
	while (!atomic_load(&S.stop_cancel)) {
		long hi = atomic_load(&S.next_id);
		long id = hi - 1 - (long)(xorshift(&rng) % NR);
		if (id < 0 || id >= S.n) {
			nanosleep(&pause, NULL);
			continue;
		}
		ioctx_handle_t h = atomic_load(&S.recs[id].hpub);
		struct ioctx_event res;
		if (h != IOCTX_HANDLE_NONE && ioctx_cancel(S.ctx, h, &res) == 0) {
			if (res.data != (uint64_t)id ||
			    (res.res != -ECANCELED && res.res != S.expect[id] &&
			     res.res != S.expect_alt[id]))
				atomic_fetch_add(&S.bad_cancel_res, 1);
			if (atomic_fetch_add(&S.recs[id].cancels, 1) != 0)
				atomic_fetch_add(&S.dup, 1);
			atomic_fetch_add(&S.cancelled, 1);
		}
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static long count_arg = -1;

static void run(enum ioctx_semantics mode, long n)
{
	memset(&S, 0, sizeof(S));
	S.mode = mode;
	S.n = n;
	S.recs = calloc(n, sizeof(*S.recs));
	S.expect = calloc(n, sizeof(*S.expect));
	S.expect_alt = calloc(n, sizeof(*S.expect_alt));
	S.seen = calloc(n, sizeof(*S.seen));
	S.qcap = NR * 3;
	S.q = calloc(S.qcap, sizeof(*S.q));
	ck_assert(S.recs && S.expect && S.expect_alt && S.seen && S.q);
	pthread_mutex_init(&S.qlock, NULL);
	pthread_cond_init(&S.qcond, NULL);
	struct ioctx_params p = {.nr = NR, .mode = mode, .oops = count_oops};
	ck_assert_int_eq(ioctx_setup(&p, &S.ctx), 0);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t sub[NSUB], dev[NDEVTHR], rp[NREAP], can;
	pthread_create(&can, NULL, canceller, NULL);
	for (uintptr_t i = 0; i < NDEVTHR; i++)
		pthread_create(&dev[i], NULL, device, (void *)i);
	for (uintptr_t i = 0; i < NREAP; i++)
		pthread_create(&rp[i], NULL, reaper, (void *)i);
	for (uintptr_t i = 0; i < NSUB; i++)
		pthread_create(&sub[i], NULL, submitter, (void *)i);
	for (int i = 0; i < NSUB; i++)
		pthread_join(sub[i], NULL);
	for (int i = 0; i < NREAP; i++)
		pthread_join(rp[i], NULL);
	atomic_store(&S.stop_cancel, true);
	pthread_join(can, NULL);
	/* every event is reaped; legacy may still have stale I/Os queued */
	pthread_mutex_lock(&S.qlock);
	S.done = true;
	pthread_cond_broadcast(&S.qcond);
	pthread_mutex_unlock(&S.qlock);
	for (int i = 0; i < NDEVTHR; i++)
		pthread_join(dev[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	struct ioctx_stats st;
	ioctx_get_stats(S.ctx, &st);
	long cancelled = atomic_load(&S.cancelled);
	printf("stress %s: %ld requests in %.2f s (%.0f/s): events %llu, "
	       "cancelled %ld, double %llu, pending %llu, dropped %llu\n",
	       ioctx_semantics_name(mode), n, secs, n / secs, (unsigned long long)st.events,
	       cancelled, (unsigned long long)st.double_completions,
	       (unsigned long long)st.propagated_errors, (unsigned long long)st.dropped_errors);

	ck_assert_int_eq(atomic_load(&S.bad_id), 0);
	ck_assert_int_eq(atomic_load(&S.bad_obj), 0);
	ck_assert_int_eq(atomic_load(&S.bad_res), 0);
	ck_assert_int_eq(atomic_load(&S.dup), 0);
	ck_assert_int_eq(atomic_load(&S.bad_submit), 0);
	ck_assert_int_eq(atomic_load(&S.bad_cancel_res), 0);
	for (long id = 0; id < n; id++)
		ck_assert_msg(atomic_load(&S.seen[id]) + atomic_load(&S.recs[id].cancels) == 1,
			      "request %ld: %d events, %d cancellations", id,
			      (int)atomic_load(&S.seen[id]), atomic_load(&S.recs[id].cancels));
	ck_assert_uint_eq(st.submitted, (uint64_t)n);
	ck_assert_uint_eq(st.cancelled, (uint64_t)cancelled);
	ck_assert_uint_eq(st.events, (uint64_t)(n - cancelled));
	ck_assert_uint_eq(st.reaped, (uint64_t)(n - cancelled));
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(st.double_completions, (uint64_t)atomic_load(&S.expect_double));
	ck_assert_uint_eq(atomic_load(&S.oopses), st.double_completions);
	ck_assert_uint_eq(st.dropped_errors, (uint64_t)atomic_load(&S.expect_dropped));
	ck_assert_uint_eq(st.propagated_errors, (uint64_t)atomic_load(&S.expect_pending));
	struct ioctx_event ev[1];
	struct timespec zero = {0, 0};
	ck_assert_int_eq(ioctx_getevents(S.ctx, 0, 1, ev, &zero), 0);

	ioctx_destroy(S.ctx);
	free(S.recs);
	free(S.expect);
	free(S.expect_alt);
	free(S.seen);
	free(S.q);
}

static long count(void)
{
	if (count_arg > 0)
		return count_arg;
	const char *e = getenv("IOCTX_STRESS_N");
	return e && atol(e) > 0 ? atol(e) : 1000000;
}

START_TEST(test_r7_stress_deferred_one_event_each_right_res)
{
	run(IOCTX_DEFERRED, count());
}
END_TEST

START_TEST(test_r7_stress_legacy_one_event_each_doubles_detected)
{
	run(IOCTX_LEGACY, count() / 5 + 1);
}
END_TEST

START_TEST(test_r7_stress_drop_one_event_each_errors_dropped)
{
	run(IOCTX_DROP, count() / 5 + 1);
}
END_TEST

/* ---- the ring alone: a tiny ring, many producers and consumers ---- */

#define RING_NR 4
#define RING_PROD 2
#define RING_CONS 3

static struct {
	struct ioctx *ctx;
	long n;
	_Atomic long next, taken, dup, bad;
	_Atomic uint8_t *seen;
} R;

static int64_t echo_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	return (int64_t)iocb->user_data * 3;
}

static const struct ioctx_ops echo_ops = {.submit = echo_submit};

static void *ring_producer(void *arg)
{
	for (;;) {
		long id = atomic_fetch_add(&R.next, 1);
		if (id >= R.n)
			return NULL;
		struct ioctx_iocb *iocb;
		while (ioctx_get_req(R.ctx, &iocb) == -EAGAIN)
			sched_yield(); /* the ring is full until consumers catch up */
		iocb->user_data = (uint64_t)id;
		iocb->obj = ~(uint64_t)id;
		iocb->ops = &echo_ops;
		ioctx_submit(R.ctx, iocb);
	}
}

static void *ring_consumer(void *arg)
{
	long min = 1 + (long)(uintptr_t)arg % 2; /* some wait for 2 events */
	struct ioctx_event ev[3];
	struct timespec to = {0, 5 * 1000 * 1000};
	while (atomic_load(&R.taken) < R.n) {
		int got = ioctx_getevents(R.ctx, min, 3, ev, &to);
		for (int i = 0; i < got; i++) {
			long id = (long)ev[i].data;
			if (id < 0 || id >= R.n || ev[i].obj != ~(uint64_t)id ||
			    ev[i].res != (int64_t)id * 3 || ev[i].res2 != 0) {
				atomic_fetch_add(&R.bad, 1);
				continue;
			}
			if (atomic_fetch_add(&R.seen[id], 1) != 0)
				atomic_fetch_add(&R.dup, 1);
		}
		if (got > 0)
			atomic_fetch_add(&R.taken, got);
	}
	return NULL;
}

START_TEST(test_r7_ring_tiny_many_consumers_each_event_once)
{
	memset(&R, 0, sizeof(R));
	R.n = count() / 4 + 1;
	R.seen = calloc(R.n, sizeof(*R.seen));
	struct ioctx_params p = {.nr = RING_NR};
	ck_assert_int_eq(ioctx_setup(&p, &R.ctx), 0);
	pthread_t prod[RING_PROD], cons[RING_CONS];
	for (uintptr_t i = 0; i < RING_CONS; i++)
		pthread_create(&cons[i], NULL, ring_consumer, (void *)i);
	for (uintptr_t i = 0; i < RING_PROD; i++)
		pthread_create(&prod[i], NULL, ring_producer, (void *)i);
	for (int i = 0; i < RING_PROD; i++)
		pthread_join(prod[i], NULL);
	for (int i = 0; i < RING_CONS; i++)
		pthread_join(cons[i], NULL);
	ck_assert_int_eq(atomic_load(&R.bad), 0);
	ck_assert_int_eq(atomic_load(&R.dup), 0);
	ck_assert_int_eq(atomic_load(&R.taken), R.n);
	for (long id = 0; id < R.n; id++)
		ck_assert_msg(atomic_load(&R.seen[id]) == 1, "event %ld seen %d times", id,
			      (int)atomic_load(&R.seen[id]));
	struct ioctx_stats st;
	ioctx_get_stats(R.ctx, &st);
	ck_assert_uint_eq(st.events, (uint64_t)R.n);
	ck_assert_uint_eq(st.reaped, (uint64_t)R.n);
	printf("ring: %ld events through a ring of %d, %d producers, %d consumers\n", R.n, RING_NR,
	       RING_PROD, RING_CONS);
	ioctx_destroy(R.ctx);
	free(R.seen);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc > 1)
		count_arg = atol(argv[1]);
	Suite *s = suite_create("ioctx_stress");
	TCase *tc = tcase_create("stress");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_r7_stress_deferred_one_event_each_right_res);
	tcase_add_test(tc, test_r7_stress_legacy_one_event_each_doubles_detected);
	tcase_add_test(tc, test_r7_stress_drop_one_event_each_errors_dropped);
	tcase_add_test(tc, test_r7_ring_tiny_many_consumers_each_event_once);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
