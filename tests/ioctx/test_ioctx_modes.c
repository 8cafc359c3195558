/*
 * test_ioctx_modes: the semantics (docs/semantics.md section 4) on the
 * same scripted scenario: an O_DIRECT-like write of 4096 bytes whose
 * post-submission invalidation fails with -EIO, with the device completing
 * before the submitter's error, and after it.
 *   deferred: one -EIO event, no double completion;
 *   legacy:   exactly one event and one detected double completion (oops);
 *   drop:     one success event, the error counted as dropped;
 *   mainline: as deferred for an error that reaches the core (the direct
 *             path keeps invalidation failures away from it).
 */
#include "fake_dev.h"

#include <check.h>
#include <stdlib.h>

static struct oops_log oopses;

static struct ioctx *new_ctx(enum ioctx_semantics mode)
{
	struct ioctx *c;
	memset(&oopses, 0, sizeof(oopses));
	struct ioctx_params p = {.nr = 8, .mode = mode, .oops = oops_capture, .oops_arg = &oopses};
	ck_assert_int_eq(ioctx_setup(&p, &c), 0);
	ck_assert_int_eq(ioctx_mode(c), mode);
	return c;
}

static void end_all_hook(struct ioctx *c, struct fake_req *r)
{
	fake_end_all(c, r);
}

enum order { DEVICE_FIRST, DEVICE_AFTER };

/* The scenario. Returns the events (all of them) in ev, their number. */
static int scenario(struct ioctx *c, enum order order, bool group, int ndev, struct ioctx_event *ev,
		    int64_t *submit_ret)
{
	struct fake_req r = {.ndev = ndev, .group = group, .post_err = {-EIO}};
	for (int i = 0; i < ndev; i++)
		r.dev_res[i] = 4096 / ndev;
	if (order == DEVICE_FIRST)
		r.before_errors = end_all_hook;
	*submit_ret = fake_start(c, &r, 42, 43);
	fake_end_all(c, &r); /* DEVICE_AFTER: the device completes now */
	ck_assert_int_eq(r.submit_calls, 1);
	int n = reap_now(c, ev, 8);
	ck_assert_int_ge(n, 0);
	return n;
}

static struct ioctx_stats stats(struct ioctx *c)
{
	struct ioctx_stats st;
	ioctx_get_stats(c, &st);
	return st;
}

static void check_deferred(enum order order, bool group, int ndev)
{
	struct ioctx *c = new_ctx(IOCTX_DEFERRED);
	struct ioctx_event ev[8];
	int64_t ret;
	int n = scenario(c, order, group, ndev, ev, &ret);
	ck_assert_int_eq(ret, -EIOCBQUEUED);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(ev[0].res, -EIO);
	ck_assert_uint_eq(ev[0].data, 42);
	struct ioctx_stats st = stats(c);
	ck_assert_int_eq(st.double_completions, 0);
	ck_assert_int_eq(st.propagated_errors, 1);
	ck_assert_int_eq(st.inflight, 0);
	ck_assert_int_eq(oopses.n, 0);
	ioctx_destroy(c);
}

START_TEST(test_deferred_device_first_one_eio_event_no_double)
{
	check_deferred(DEVICE_FIRST, false, 1);
}
END_TEST

START_TEST(test_deferred_device_after_one_eio_event_no_double)
{
	check_deferred(DEVICE_AFTER, false, 1);
}
END_TEST

START_TEST(test_deferred_group_both_orders_one_eio_event)
{
	check_deferred(DEVICE_FIRST, true, 4);
	check_deferred(DEVICE_AFTER, true, 4);
	check_deferred(DEVICE_AFTER, false, 4);
}
END_TEST

/* legacy: the submitter's -EIO overwrites -EIOCBQUEUED (2.6.20) */
static void check_legacy(enum order order, bool group, int ndev, int64_t event_res,
			 const char *oops_text)
{
	struct ioctx *c = new_ctx(IOCTX_LEGACY);
	struct ioctx_event ev[8];
	int64_t ret;
	int n = scenario(c, order, group, ndev, ev, &ret);
	ck_assert_int_eq(ret, -EIO);
	ck_assert_int_eq(n, 1); /* exactly one event */
	ck_assert_int_eq(ev[0].res, event_res);
	ck_assert_uint_eq(ev[0].data, 42);
	struct ioctx_stats st = stats(c);
	ck_assert_int_eq(st.double_completions, 1); /* and one detected */
	ck_assert_int_eq(st.events, 1);
	ck_assert_int_eq(st.inflight, 0);
	ck_assert_int_eq(oopses.n, 1);
	ck_assert_msg(strstr(oopses.last, oops_text), "oops: %s", oopses.last);
	ck_assert_ptr_nonnull(strstr(oopses.last, "eiocbfs: oops: "));
	/* the ctx is intact: every slot is usable, results are right */
	for (int i = 0; i < 8; i++) {
		struct fake_req r = {.ndev = 1, .dev_res = {i}};
		ck_assert_int_eq(fake_start(c, &r, i, 0), -EIOCBQUEUED);
		fake_end_all(c, &r);
		ck_assert_int_eq(reap_now(c, ev, 8), 1);
		ck_assert_int_eq(ev[0].res, i);
	}
	ck_assert_int_eq(stats(c).double_completions, 1);
	ioctx_destroy(c);
}

START_TEST(test_legacy_device_first_double_completion_detected_once)
{
	/* the device's event is written at its complete(); the submitter's
	 * completion then finds a completed iocb */
	check_legacy(DEVICE_FIRST, false, 1, 4096,
		     "double completion of iocb #0 gen 1: first res 4096, second res -5");
}
END_TEST

START_TEST(test_legacy_device_after_double_completion_via_stale_handle)
{
	/* the submitter completes with -EIO using the device's reference and
	 * frees the iocb; the device completion then holds a stale handle */
	check_legacy(
	    DEVICE_AFTER, false, 1, -EIO,
	    "double completion of iocb #0 gen 1 after free: first res -5, second res 4096");
}
END_TEST

START_TEST(test_legacy_group_stale_handle_detected_once_per_request)
{
	check_legacy(
	    DEVICE_AFTER, true, 4, -EIO,
	    "double completion of iocb #0 gen 1 after free: first res -5, second res 4096");
	check_legacy(DEVICE_FIRST, true, 4, 4096, "first res 4096, second res -5");
}
END_TEST

START_TEST(test_legacy_stale_completion_does_not_touch_reused_slot)
{
	/* the freed slot is reused by a new request before the old device
	 * I/O completes: the stale completion must not complete the new one */
	struct ioctx *c = new_ctx(IOCTX_LEGACY);
	struct fake_req old = {.ndev = 1, .dev_res = {4096}, .post_err = {-EIO}};
	ck_assert_int_eq(fake_start(c, &old, 1, 0), -EIO);
	struct fake_req young = {.ndev = 1, .dev_res = {512}};
	ck_assert_int_eq(fake_start(c, &young, 2, 0), -EIOCBQUEUED);
	ck_assert_ptr_eq(young.iocb, old.iocb); /* same slot, next generation */
	fake_end_all(c, &old);			/* stale */
	ck_assert_int_eq(young.iocb->users, 1);
	ck_assert_int_eq(young.iocb->flags & IOCTX_F_COMPLETED, 0);
	fake_end_all(c, &young);
	struct ioctx_event ev[8];
	ck_assert_int_eq(reap_now(c, ev, 8), 2);
	ck_assert_uint_eq(ev[0].data, 1);
	ck_assert_int_eq(ev[0].res, -EIO);
	ck_assert_uint_eq(ev[1].data, 2);
	ck_assert_int_eq(ev[1].res, 512);
	ck_assert_int_eq(stats(c).double_completions, 1);
	ck_assert_msg(strstr(oopses.last, "after free"), "%s", oopses.last);
	ioctx_destroy(c);
}
END_TEST

/* Section 4, legacy: the oops record names both results even when the
 * slot was reused more than once before the late device completion. */
START_TEST(test_legacy_oops_keeps_both_results_after_slot_reused_twice)
{
	struct ioctx *c = new_ctx(IOCTX_LEGACY);
	struct fake_req old = {.ndev = 1, .dev_res = {4096}, .post_err = {-EIO}};
	ck_assert_int_eq(fake_start(c, &old, 1, 0), -EIO);
	struct fake_req young[3] = {
	    {.ndev = 0, .sync_res = 7}, {.ndev = 1, .dev_res = {512}}, {.ndev = 0, .sync_res = 9}};
	for (int i = 0; i < 3; i++) {
		ck_assert_int_ne(fake_start(c, &young[i], 2 + i, 0), -EAGAIN);
		ck_assert_ptr_eq(young[i].iocb, old.iocb); /* the same slot again */
		fake_end_all(c, &young[i]);
	}
	ck_assert_uint_eq(old.iocb->gen, 5); /* freed, then reused three times */
	fake_end_all(c, &old);		     /* the late completion of generation 1 */
	ck_assert_int_eq(stats(c).double_completions, 1);
	ck_assert_int_eq(oopses.n, 1);
	ck_assert_msg(strstr(oopses.last, "double completion of iocb #0 gen 1 after free: "
					  "first res -5, second res 4096"),
		      "oops: %s", oopses.last);
	/* Taken back: a second late completion of it has no record left. */
	ioctx_complete(c, old.h, 1, 0);
	ck_assert_int_eq(oopses.n, 2);
	ck_assert_msg(strstr(oopses.last, "first res not kept"), "oops: %s", oopses.last);
	struct ioctx_event ev[8];
	ck_assert_int_eq(reap_now(c, ev, 8), 4);
	ck_assert_int_eq(ev[0].res, -EIO);
	ck_assert_int_eq(stats(c).inflight, 0);
	ioctx_destroy(c);
}
END_TEST

/* R2/R7: a submit method that returns -EIOCBQUEUED with no reference left
 * for a completion would leave its request without an event forever: it is
 * caught, counted as a bug, logged, and completed with -EIO (a queued
 * error wins, R5). */
static int64_t queued_without_ref(struct ioctx *c, struct ioctx_iocb *iocb)
{
	(void)c;
	(void)iocb;
	return -EIOCBQUEUED;
}

static int64_t queued_after_put(struct ioctx *c, struct ioctx_iocb *iocb)
{
	ioctx_iocb_get(c, iocb);
	ioctx_put(c, ioctx_handle(iocb)); /* dropped without completing */
	if (ioctx_mode(c) == IOCTX_DEFERRED || ioctx_mode(c) == IOCTX_MAINLINE)
		return ioctx_propagate_error(c, iocb, -EIOCBQUEUED, -ENOSPC);
	return -EIOCBQUEUED;
}

START_TEST(test_submit_queued_without_reference_caught)
{
	static const struct ioctx_ops none = {.submit = queued_without_ref};
	static const struct ioctx_ops put = {.submit = queued_after_put};
	for (int mode = IOCTX_DEFERRED; mode < IOCTX_NR_MODES; mode++) {
		struct ioctx *c = new_ctx((enum ioctx_semantics)mode);
		const struct ioctx_ops *ops[2] = {&none, &put};
		for (int k = 0; k < 2; k++) {
			struct ioctx_iocb *iocb;
			ck_assert_int_eq(ioctx_get_req(c, &iocb), 0);
			iocb->ops = ops[k];
			iocb->user_data = 10 + k;
			ck_assert_int_eq(ioctx_submit(c, iocb), -EIOCBQUEUED);
			struct ioctx_event ev[2];
			ck_assert_int_eq(reap_now(c, ev, 2), 1);
			ck_assert_uint_eq(ev[0].data, 10 + k);
			bool queues = mode == IOCTX_DEFERRED || mode == IOCTX_MAINLINE;
			ck_assert_int_eq(ev[0].res, k && queues ? -ENOSPC : -EIO);
			ck_assert_msg(strstr(oopses.last, "eiocbfs: bug: "), "%s", oopses.last);
		}
		struct ioctx_stats st = stats(c);
		ck_assert_int_eq(st.bugs, 2);
		ck_assert_int_eq(st.double_completions, 0);
		ck_assert_int_eq(st.inflight, 0);
		ck_assert_int_eq(oopses.n, 2);
		/* A well-behaved request is not a bug. */
		struct fake_req r = {.ndev = 1, .dev_res = {4096}};
		ck_assert_int_eq(fake_start(c, &r, 1, 0), -EIOCBQUEUED);
		fake_end_all(c, &r);
		ck_assert_int_eq(stats(c).bugs, 2);
		ioctx_destroy(c);
	}
}
END_TEST

START_TEST(test_legacy_sync_requests_are_not_double_completions)
{
	struct ioctx *c = new_ctx(IOCTX_LEGACY);
	struct fake_req r = {.ndev = 0, .sync_res = 4096};
	ck_assert_int_eq(fake_start(c, &r, 1, 0), 4096);
	struct fake_req q = {.ndev = 2, .dev_res = {1, 2}};
	ck_assert_int_eq(fake_start(c, &q, 2, 0), -EIOCBQUEUED);
	fake_end_all(c, &q);
	struct ioctx_event ev[8];
	ck_assert_int_eq(reap_now(c, ev, 8), 2);
	ck_assert_int_eq(stats(c).double_completions, 0);
	ck_assert_int_eq(oopses.n, 0);
	ioctx_destroy(c);
}
END_TEST

/* Per-I/O references in legacy: the submitter's completion consumed one
 * device reference; the last I/O's completion then arrives before another
 * I/O's put. The double completion owns no reference (the first completion
 * consumed it), so it must drop none: one detection, and the later put
 * frees the iocb, no second (stale put) report. */
static int64_t two_ios_then_error(struct ioctx *c, struct ioctx_iocb *iocb)
{
	ioctx_iocb_get(c, iocb);
	ioctx_iocb_get(c, iocb);
	return ioctx_propagate_error(c, iocb, -EIOCBQUEUED, -EIO);
}

START_TEST(test_legacy_per_io_refs_double_completion_drops_no_reference)
{
	static const struct ioctx_ops ops = {.submit = two_ios_then_error};
	struct ioctx *c = new_ctx(IOCTX_LEGACY);
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(c, &iocb), 0);
	iocb->ops = &ops;
	ioctx_handle_t h = ioctx_handle(iocb);
	ck_assert_int_eq(ioctx_submit(c, iocb), -EIO);
	ck_assert_int_eq(iocb->users, 1); /* 3 - the stolen one - submission */
	ioctx_complete(c, h, 8192, 0);	  /* the last I/O, early */
	ck_assert_int_eq(stats(c).double_completions, 1);
	ck_assert_int_eq(stats(c).inflight, 1);
	ioctx_put(c, h); /* the other I/O */
	ck_assert_int_eq(stats(c).double_completions, 1);
	ck_assert_int_eq(stats(c).inflight, 0);
	ck_assert_int_eq(oopses.n, 1);
	struct ioctx_event ev[4];
	ck_assert_int_eq(reap_now(c, ev, 4), 1);
	ck_assert_int_eq(ev[0].res, -EIO);
	ioctx_destroy(c);
}
END_TEST

START_TEST(test_legacy_cancel_before_device_completion_no_event)
{
	/* R6 holds in legacy mode too: a cancelled request gets no event,
	 * and a plain request (no post-submission error) no double */
	struct ioctx *c = new_ctx(IOCTX_LEGACY);
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	ck_assert_int_eq(fake_start(c, &r, 1, 0), -EIOCBQUEUED);
	struct ioctx_event res, ev[4];
	ck_assert_int_eq(ioctx_cancel(c, r.h, &res), 0);
	ck_assert_int_eq(res.res, -ECANCELED);
	fake_end_all(c, &r);
	ck_assert_int_eq(reap_now(c, ev, 4), 0);
	ck_assert_int_eq(stats(c).double_completions, 0);
	ck_assert_int_eq(stats(c).inflight, 0);
	ioctx_destroy(c);
}
END_TEST

static void check_drop(enum order order)
{
	struct ioctx *c = new_ctx(IOCTX_DROP);
	struct ioctx_event ev[8];
	int64_t ret;
	int n = scenario(c, order, false, 1, ev, &ret);
	ck_assert_int_eq(ret, -EIOCBQUEUED);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(ev[0].res, 4096); /* success: the error is lost */
	struct ioctx_stats st = stats(c);
	ck_assert_int_eq(st.dropped_errors, 1);
	ck_assert_int_eq(st.propagated_errors, 0);
	ck_assert_int_eq(st.double_completions, 0);
	ioctx_destroy(c);
}

START_TEST(test_drop_both_orders_success_error_counted)
{
	check_drop(DEVICE_FIRST);
	check_drop(DEVICE_AFTER);
}
END_TEST

/*
 * Every placement of each device I/O's end relative to the submitter's
 * steps: before its post-submission error (phase 0), between the error and
 * the return from submit (phase 1), after submit returned (phase 2); for 1
 * to 3 I/Os, per-I/O references or a group, in each mode. The contract
 * must hold in all of them.
 */
static int phase_of[FAKE_MAX_IOS];

static void end_phase(struct ioctx *c, struct fake_req *r, int phase)
{
	for (int i = 0; i < r->ndev; i++)
		if (phase_of[i] == phase)
			fake_end(c, r, i);
}

static void end_phase0(struct ioctx *c, struct fake_req *r)
{
	end_phase(c, r, 0);
}
static void end_phase1(struct ioctx *c, struct fake_req *r)
{
	end_phase(c, r, 1);
}

static void one_placement(enum ioctx_semantics mode, int ndev, bool group)
{
	struct ioctx *c = new_ctx(mode);
	struct fake_req r = {.ndev = ndev,
			     .group = group,
			     .post_err = {-EIO},
			     .before_errors = end_phase0,
			     .after_errors = end_phase1};
	bool all_before = true; /* every I/O ended before submit returned */
	for (int i = 0; i < ndev; i++) {
		r.dev_res[i] = 1000 + i;
		all_before &= phase_of[i] <= 1;
	}
	int64_t sum = ndev * 1000 + ndev * (ndev - 1) / 2;
	int64_t ret = fake_start(c, &r, 7, 0);
	end_phase(c, &r, 2);
	struct ioctx_event ev[8];
	int n = reap_now(c, ev, 8);
	struct ioctx_stats st = stats(c);
	char what[64];
	snprintf(what, sizeof(what), "%s ndev %d %s phases %d%d%d", ioctx_semantics_name(mode),
		 ndev, group ? "group" : "per-io", phase_of[0], ndev > 1 ? phase_of[1] : -1,
		 ndev > 2 ? phase_of[2] : -1);
	ck_assert_msg(n == 1, "%s: %d events", what, n);
	ck_assert_msg(st.inflight == 0, "%s: iocb leaked", what);
	switch (mode) {
	case IOCTX_DEFERRED:
	case IOCTX_MAINLINE: /* the core queues what reaches it (R3), as deferred */
		ck_assert_msg(ret == -EIOCBQUEUED && ev[0].res == -EIO &&
				  st.double_completions == 0,
			      "%s: res %lld", what, (long long)ev[0].res);
		break;
	case IOCTX_LEGACY:
		ck_assert_msg(ret == -EIO && st.double_completions == 1 && oopses.n == 1,
			      "%s: %llu doubles", what, (unsigned long long)st.double_completions);
		ck_assert_msg(ev[0].res == (all_before ? sum : -EIO), "%s: res %lld", what,
			      (long long)ev[0].res);
		break;
	case IOCTX_DROP:
		ck_assert_msg(ret == -EIOCBQUEUED && ev[0].res == sum && st.dropped_errors == 1 &&
				  st.double_completions == 0,
			      "%s: res %lld", what, (long long)ev[0].res);
		break;
	}
	ioctx_destroy(c);
}

START_TEST(test_every_placement_of_device_completions_each_mode)
{
	int cases = 0;
	for (int mode = IOCTX_DEFERRED; mode < IOCTX_NR_MODES; mode++)
		for (int ndev = 1; ndev <= 3; ndev++)
			for (int code = 0; code < 27; code++) {
				if (ndev < 3 && code >= (ndev == 1 ? 3 : 9))
					continue;
				for (int i = 0, x = code; i < 3; i++, x /= 3)
					phase_of[i] = x % 3;
				one_placement((enum ioctx_semantics)mode, ndev, false);
				one_placement((enum ioctx_semantics)mode, ndev, true);
				cases += 2;
			}
	ck_assert_int_eq(cases, IOCTX_NR_MODES * 2 * (3 + 9 + 27));
}
END_TEST

START_TEST(test_semantics_names_parse_round_trip)
{
	enum ioctx_semantics m;
	const char *names[] = {"deferred", "legacy", "drop", "mainline"};
	for (int i = 0; i < IOCTX_NR_MODES; i++) {
		ck_assert_int_eq(ioctx_parse_semantics(names[i], &m), 0);
		ck_assert_int_eq(m, i);
		ck_assert_str_eq(ioctx_semantics_name(m), names[i]);
	}
	ck_assert_int_eq(ioctx_parse_semantics("Deferred", &m), -EINVAL);
	ck_assert_int_eq(ioctx_parse_semantics("", &m), -EINVAL);
	ck_assert_int_eq(ioctx_parse_semantics(NULL, &m), -EINVAL);
	ck_assert_str_eq(ioctx_semantics_name((enum ioctx_semantics)9), "?");
	ck_assert_int_eq(IOCTX_DEFERRED, 0); /* the default of a zeroed params */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ioctx_modes");
	TCase *tc = tcase_create("modes");
	tcase_set_timeout(tc, 60); /* a deadlock fails in a minute */
	tcase_add_test(tc, test_deferred_device_first_one_eio_event_no_double);
	tcase_add_test(tc, test_deferred_device_after_one_eio_event_no_double);
	tcase_add_test(tc, test_deferred_group_both_orders_one_eio_event);
	tcase_add_test(tc, test_legacy_device_first_double_completion_detected_once);
	tcase_add_test(tc, test_legacy_device_after_double_completion_via_stale_handle);
	tcase_add_test(tc, test_legacy_group_stale_handle_detected_once_per_request);
	tcase_add_test(tc, test_legacy_stale_completion_does_not_touch_reused_slot);
	tcase_add_test(tc, test_legacy_sync_requests_are_not_double_completions);
	tcase_add_test(tc, test_legacy_oops_keeps_both_results_after_slot_reused_twice);
	tcase_add_test(tc, test_submit_queued_without_reference_caught);
	tcase_add_test(tc, test_legacy_cancel_before_device_completion_no_event);
	tcase_add_test(tc, test_legacy_per_io_refs_double_completion_drops_no_reference);
	tcase_add_test(tc, test_drop_both_orders_success_error_counted);
	tcase_add_test(tc, test_every_placement_of_device_completions_each_mode);
	tcase_add_test(tc, test_semantics_names_parse_round_trip);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
