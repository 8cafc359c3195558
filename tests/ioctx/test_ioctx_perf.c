/*
 * test_ioctx_perf: the null cycle on one thread (get_req, submit with a
 * method that returns at once or completes at once, event, reap). The
 * request path must not allocate and must sustain >= 2,000,000 cycles/s
 * in an optimized build without sanitizers (IOCTX_PERF_MIN_RATE, set by
 * tests/ioctx/CMakeLists.txt; 0 disables the rate check). The rate is per
 * second of this thread's CPU time, best of five runs, so that a machine
 * busy with other work does not fail it; the wall-clock rate is printed
 * too.
 */
#include "ioctx.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef IOCTX_PERF_MIN_RATE
#define IOCTX_PERF_MIN_RATE 0
#endif

static int64_t null_sync(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	return (int64_t)iocb->nbytes;
}

/* One device I/O that completes before submit returns (R1, R4, R5). */
static int64_t null_async(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	ioctx_iocb_get(ctx, iocb);
	ioctx_complete(ctx, ioctx_handle(iocb), (int64_t)iocb->nbytes, 0);
	return -EIOCBQUEUED;
}

static const struct ioctx_ops sync_ops = {.submit = null_sync};
static const struct ioctx_ops async_ops = {.submit = null_async};

static double now(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Returns cycles per CPU second (*wall: per wall-clock second); checks
 * every event on the way. */
static double cycles(const struct ioctx_ops *ops, long n, double *wall)
{
	struct ioctx *ctx;
	struct ioctx_params p = {.nr = 128};
	ck_assert_int_eq(ioctx_setup(&p, &ctx), 0);
	struct ioctx_event ev;
	double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		struct ioctx_iocb *iocb;
		if (ioctx_get_req(ctx, &iocb) != 0)
			ck_abort_msg("get_req failed at %ld", i);
		iocb->user_data = (uint64_t)i;
		iocb->nbytes = 4096;
		iocb->ops = ops;
		ioctx_submit(ctx, iocb);
		if (ioctx_getevents(ctx, 1, 1, &ev, NULL) != 1 || ev.data != (uint64_t)i ||
		    ev.res != 4096)
			ck_abort_msg("bad event at %ld", i);
	}
	double c = now(CLOCK_THREAD_CPUTIME_ID) - c0;
	*wall = n / (now(CLOCK_MONOTONIC) - w0);
	struct ioctx_stats st;
	ioctx_get_stats(ctx, &st);
	ck_assert_uint_eq(st.events, (uint64_t)n);
	ck_assert_uint_eq(st.inflight, 0);
	ioctx_destroy(ctx);
	return n / c;
}

static void check_rate(const char *what, const struct ioctx_ops *ops)
{
	double best = 0, best_wall = 0, wall;
	for (int run = 0; run < 5; run++) {
		double r = cycles(ops, 500000, &wall);
		if (r > best)
			best = r;
		if (wall > best_wall)
			best_wall = wall;
	}
	printf("null cycle (%s): %.2f M/s per CPU second, %.2f M/s wall "
	       "(best of 5; min %.2f M/s)\n",
	       what, best / 1e6, best_wall / 1e6, IOCTX_PERF_MIN_RATE / 1e6);
	ck_assert_msg(best >= IOCTX_PERF_MIN_RATE, "%s: %.0f/s < %d/s", what, best,
		      IOCTX_PERF_MIN_RATE);
}

START_TEST(test_null_cycle_sync_result_rate)
{
	check_rate("method returns at once", &sync_ops);
}
END_TEST

START_TEST(test_null_cycle_device_completes_at_once_rate)
{
	check_rate("device completes at once", &async_ops);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ioctx_perf");
	TCase *tc = tcase_create("perf");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_null_cycle_sync_result_rate);
	tcase_add_test(tc, test_null_cycle_device_completes_at_once_rate);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK); /* the log keeps the rates */
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
