/*
 * test_ioctx_rules: deterministic tests of docs/semantics.md R1-R7 in deferred
 * mode, on the scripted fake device (fake_dev.h): the test decides when
 * each device I/O completes. Each test names the rule it pins down.
 */
#include "fake_dev.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static struct ioctx *ctx;
static struct oops_log oopses;

static struct ioctx *new_ctx(unsigned nr, enum ioctx_semantics mode)
{
	struct ioctx *c;
	memset(&oopses, 0, sizeof(oopses));
	struct ioctx_params p = {.nr = nr, .mode = mode, .oops = oops_capture, .oops_arg = &oopses};
	ck_assert_int_eq(ioctx_setup(&p, &c), 0);
	return c;
}

static void setup(void)
{
	ctx = new_ctx(16, IOCTX_DEFERRED);
}
static void teardown(void)
{
	ioctx_destroy(ctx);
	ctx = NULL;
}

static struct ioctx_stats stats(void)
{
	struct ioctx_stats st;
	ioctx_get_stats(ctx, &st);
	return st;
}

/* Exactly one event in the ring, with this res; returns it. */
static struct ioctx_event one_event(int64_t res)
{
	struct ioctx_event ev[4];
	int n = reap_now(ctx, ev, 4);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(ev[0].res, res);
	return ev[0];
}

static void no_event(void)
{
	struct ioctx_event ev[4];
	ck_assert_int_eq(reap_now(ctx, ev, 4), 0);
}

/* ---- R1 ---- */

START_TEST(test_r1_new_iocb_holds_one_submission_reference)
{
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	ck_assert_int_eq(iocb->users, 1);
	ck_assert(iocb->flags & IOCTX_F_LIVE);
	ck_assert(ioctx_handle(iocb) != IOCTX_HANDLE_NONE);
	ck_assert_int_eq(iocb->pending_err, 0);
	ck_assert_int_eq(stats().inflight, 1);
	/* dropping the only reference frees it without an event */
	ioctx_put(ctx, ioctx_handle(iocb));
	no_event();
	ck_assert_int_eq(stats().inflight, 0);
	ck_assert_int_eq(stats().double_completions, 0);
}
END_TEST

START_TEST(test_r1_each_device_io_holds_a_reference_one_event_after_last)
{
	struct fake_req r = {.ndev = 3, .dev_res = {4096, 8192, 512}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 2), -EIOCBQUEUED);
	ck_assert_int_eq(r.iocb->users, 3); /* submission ref dropped */
	fake_end(ctx, &r, 2);
	fake_end(ctx, &r, 0);
	no_event();
	ck_assert_int_eq(r.iocb->users, 1);
	fake_end(ctx, &r, 1);
	one_event(4096 + 8192 + 512);
	ck_assert_int_eq(stats().inflight, 0);
}
END_TEST

START_TEST(test_r1_dio_group_holds_one_reference_sums_bytes)
{
	struct fake_req r = {.ndev = 3, .group = true, .dev_res = {4096, 4096, 1024}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 2), -EIOCBQUEUED);
	ck_assert_int_eq(r.iocb->users, 1); /* the group's one reference */
	fake_end(ctx, &r, 1);
	fake_end(ctx, &r, 0);
	no_event();
	fake_end(ctx, &r, 2);
	one_event(9216);
}
END_TEST

START_TEST(test_r1_dio_group_reports_first_error)
{
	struct fake_req r = {.ndev = 3, .group = true, .dev_res = {4096, -EIO, -ENOSPC}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 2), -EIOCBQUEUED);
	fake_end(ctx, &r, 1); /* -EIO first */
	fake_end(ctx, &r, 2);
	no_event();
	fake_end(ctx, &r, 0);
	one_event(-EIO);
	ck_assert_int_eq(stats().completed, 1);
}
END_TEST

/* ---- R2 ---- */

START_TEST(test_r2_sync_result_completed_by_submitter_once)
{
	struct fake_req r = {.ndev = 0, .sync_res = 4096};
	ck_assert_int_eq(fake_start(ctx, &r, 7, 8), 4096);
	struct ioctx_event ev = one_event(4096);
	ck_assert_uint_eq(ev.data, 7);
	ck_assert_uint_eq(ev.obj, 8);
	no_event();
	struct ioctx_stats st = stats();
	ck_assert_int_eq(st.submitted, 1);
	ck_assert_int_eq(st.completed, 1);
	ck_assert_int_eq(st.events, 1);
	ck_assert_int_eq(st.inflight, 0);
	ck_assert_int_eq(st.double_completions, 0);
}
END_TEST

START_TEST(test_r2_sync_error_completed_by_submitter_once)
{
	struct fake_req r = {.ndev = 0, .sync_res = -EINVAL};
	ck_assert_int_eq(fake_start(ctx, &r, 7, 8), -EINVAL);
	one_event(-EINVAL);
	no_event();
	ck_assert_int_eq(stats().double_completions, 0);
	ck_assert_int_eq(stats().inflight, 0);
}
END_TEST

START_TEST(test_r2_eiocbqueued_leaves_completion_to_device)
{
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	no_event();
	ck_assert_int_eq(stats().completed, 0);
	ck_assert_int_eq(r.iocb->users, 1);
	fake_end(ctx, &r, 0);
	one_event(4096);
}
END_TEST

/* ---- R3 ---- */

START_TEST(test_r3_error_without_eiocbqueued_is_returned)
{
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	ck_assert_int_eq(ioctx_propagate_error(ctx, iocb, 4096, -EIO), -EIO);
	ck_assert_int_eq(ioctx_propagate_error(ctx, iocb, -EINVAL, -EIO), -EIO);
	ck_assert_int_eq(iocb->pending_err, 0);
	ck_assert_int_eq(ioctx_propagate_error(ctx, iocb, -EIOCBQUEUED, -EIO), -EIOCBQUEUED);
	ck_assert_int_eq(iocb->pending_err, -EIO);
	ioctx_put(ctx, ioctx_handle(iocb));
}
END_TEST

static void end_all_hook(struct ioctx *c, struct fake_req *r)
{
	fake_end_all(c, r);
}

START_TEST(test_r3_error_after_device_completion_reaches_event)
{
	/* the device completes before the submitter queues its error */
	struct fake_req r = {
	    .ndev = 1, .dev_res = {4096}, .post_err = {-EIO}, .before_errors = end_all_hook};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	one_event(-EIO);
	no_event();
	ck_assert_int_eq(stats().propagated_errors, 1);
	ck_assert_int_eq(stats().double_completions, 0);
}
END_TEST

START_TEST(test_r3_error_before_device_completion_reaches_event)
{
	struct fake_req r = {.ndev = 2, .dev_res = {4096, 4096}, .post_err = {-EIO}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	ck_assert_int_eq(r.iocb->pending_err, -EIO);
	no_event();
	fake_end_all(ctx, &r);
	one_event(-EIO);
	no_event();
	ck_assert_int_eq(stats().double_completions, 0);
}
END_TEST

START_TEST(test_r3_first_pending_error_wins)
{
	struct fake_req r = {.ndev = 1, .dev_res = {-ENOSPC}, .post_err = {-EBUSY, -EIO}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	fake_end_all(ctx, &r);
	/* over the second error and over the device's own error */
	one_event(-EBUSY);
	ck_assert_int_eq(stats().propagated_errors, 1);
}
END_TEST

START_TEST(test_r3_error_from_completion_path_reaches_event)
{
	/* P2's second invalidation runs when the device I/O is done, on the
	 * completion path, which holds the device reference */
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	ck_assert_int_eq(ioctx_propagate_error(ctx, r.iocb, -EIOCBQUEUED, -EBUSY), -EIOCBQUEUED);
	no_event();
	fake_end_all(ctx, &r);
	one_event(-EBUSY);
	ck_assert_int_eq(stats().propagated_errors, 1);
}
END_TEST

/* ---- R4 / R5 ---- */

static struct ioctx_event hook_events[4];
static int hook_nevents;
static int hook_users;
static unsigned hook_flags;

static void end_all_then_look_hook(struct ioctx *c, struct fake_req *r)
{
	fake_end_all(c, r);
	hook_nevents = reap_now(c, hook_events, 4);
	hook_users = r->iocb->users;
	hook_flags = r->iocb->flags;
}

START_TEST(test_r5_event_only_at_last_put)
{
	/* the device completes while the submitter still holds its ref */
	struct fake_req r = {.ndev = 1, .dev_res = {4096}, .before_errors = end_all_then_look_hook};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	ck_assert_int_eq(hook_nevents, 0); /* R4: complete() wrote nothing */
	ck_assert_int_eq(hook_users, 1);
	ck_assert(hook_flags & IOCTX_F_INSERTED);
	ck_assert(hook_flags & IOCTX_F_COMPLETED);
	one_event(4096); /* R5: written by the submitter's last put */
	ck_assert_int_eq(stats().inflight, 0);
}
END_TEST

START_TEST(test_r4_records_res2_and_event_fields)
{
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->user_data = 0x1122334455667788ULL;
	iocb->obj = 0xdeadbeefcafef00dULL;
	ioctx_handle_t h = ioctx_handle(iocb);
	ioctx_iocb_get(ctx, iocb); /* a device I/O */
	ioctx_complete(ctx, h, 12345, -77);
	no_event();
	ck_assert_int_eq(iocb->res, 12345);
	ck_assert_int_eq(iocb->res2, -77);
	ioctx_put(ctx, h); /* the submission reference */
	struct ioctx_event ev = one_event(12345);
	ck_assert_uint_eq(ev.data, 0x1122334455667788ULL);
	ck_assert_uint_eq(ev.obj, 0xdeadbeefcafef00dULL);
	ck_assert_int_eq(ev.res2, -77);
}
END_TEST

START_TEST(test_r5_freed_slot_is_poisoned_and_generation_bumped)
{
	struct fake_req r = {.ndev = 0, .sync_res = 1};
	ck_assert_int_eq(fake_start(ctx, &r, 0xabc, 0), 1);
	struct ioctx_iocb *iocb = r.iocb;
	ck_assert_int_eq(iocb->flags, 0);
	ck_assert_uint_eq(iocb->user_data, 0x6b6b6b6b6b6b6b6bULL);
	ck_assert_ptr_null(iocb->ops);
	ck_assert_uint_eq(iocb->gen, 2);
	one_event(1);
}
END_TEST

START_TEST(test_r7_double_completion_detected_in_deferred_too)
{
	/* a backend bug: the device I/O's completion called twice */
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	ioctx_handle_t h = r.h;
	fake_end(ctx, &r, 0);
	ioctx_complete(ctx, h, 4096, 0); /* stale handle: slot freed */
	one_event(4096);
	ck_assert_int_eq(stats().double_completions, 1);
	ck_assert_int_eq(oopses.n, 1);
	ck_assert_ptr_nonnull(strstr(oopses.last, "double completion of iocb #"));
	/* the slot is reusable and unaffected */
	struct fake_req r2 = {.ndev = 0, .sync_res = 5};
	ck_assert_int_eq(fake_start(ctx, &r2, 2, 0), 5);
	one_event(5);
}
END_TEST

START_TEST(test_r7_stale_put_detected_not_applied)
{
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	ioctx_handle_t old = ioctx_handle(iocb);
	ioctx_put(ctx, old);
	/* the same slot comes back (LIFO) with a new generation */
	struct ioctx_iocb *again;
	ck_assert_int_eq(ioctx_get_req(ctx, &again), 0);
	ck_assert_ptr_eq(again, iocb);
	ck_assert(ioctx_handle(again) != old);
	ioctx_put(ctx, old); /* must not drop the new request's reference */
	ck_assert_int_eq(again->users, 1);
	ck_assert(again->flags & IOCTX_F_LIVE);
	ck_assert_int_eq(stats().double_completions, 1);
	ck_assert_int_eq(oopses.n, 1);
	ck_assert_msg(strstr(oopses.last, "put of iocb #"), "%s", oopses.last);
	ioctx_put(ctx, ioctx_handle(again));
	ck_assert_int_eq(stats().inflight, 0);
}
END_TEST

/* ---- R6 ---- */

START_TEST(test_r6_cancel_before_device_completion_no_event)
{
	struct fake_req r = {.ndev = 1, .dev_res = {4096}, .cancel_rc = 0};
	ck_assert_int_eq(fake_start(ctx, &r, 9, 10), -EIOCBQUEUED);
	struct ioctx_event res;
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), 0);
	ck_assert_int_eq(r.cancel_calls, 1);
	ck_assert_uint_eq(res.data, 9);
	ck_assert_uint_eq(res.obj, 10);
	ck_assert_int_eq(res.res, -ECANCELED);
	fake_end_all(ctx, &r); /* the device still completes */
	no_event();
	struct ioctx_stats st = stats();
	ck_assert_int_eq(st.cancelled, 1);
	ck_assert_int_eq(st.inflight, 0);
	ck_assert_int_eq(st.events, 0);
	ck_assert_int_eq(st.double_completions, 0);
	/* its outstanding slot was given back (no event will) */
	struct ioctx_iocb *iocbs[16];
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(ioctx_get_req(ctx, &iocbs[i]), 0);
}
END_TEST

static int hook_cancel_rc;
static struct ioctx_event hook_cancel_res;

static void end_all_then_cancel_hook(struct ioctx *c, struct fake_req *r)
{
	fake_end_all(c, r);
	hook_cancel_rc = ioctx_cancel(c, r->h, &hook_cancel_res);
}

START_TEST(test_r6_cancel_after_device_completion_too_late_error_kept)
{
	/* completed, event still due at the submitter's put, and the
	 * submitter's invalidation error is yet to come: a cancel now must
	 * not hand out the device's success (R3/R7), it is too late */
	struct fake_req r = {.ndev = 1,
			     .dev_res = {4096},
			     .post_err = {-EIO},
			     .before_errors = end_all_then_cancel_hook};
	ck_assert_int_eq(fake_start(ctx, &r, 3, 0), -EIOCBQUEUED);
	ck_assert_int_eq(hook_cancel_rc, -EAGAIN);
	ck_assert_int_eq(r.cancel_calls, 0);
	one_event(-EIO);
	ck_assert_int_eq(stats().inflight, 0);
	ck_assert_int_eq(stats().cancelled, 0);
}
END_TEST

static int cancel_after_device_done(struct ioctx *c, struct ioctx_iocb *iocb,
				    struct ioctx_event *res)
{
	/* the device completion arrives while the cancel is in progress,
	 * and the method still reports the request cancelled */
	fake_end_all(c, iocb->priv);
	res->res = -EINTR;
	return 0;
}

START_TEST(test_r6_device_completion_during_successful_cancel_no_event)
{
	static const struct ioctx_ops ops = {.submit = fake_submit,
					     .cancel = cancel_after_device_done};
	struct fake_req r = {.ndev = 2, .dev_res = {4096, 4096}};
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &ops;
	iocb->priv = &r;
	iocb->user_data = 5;
	r.iocb = iocb;
	ck_assert_int_eq(ioctx_submit(ctx, iocb), -EIOCBQUEUED);
	struct ioctx_event res;
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), 0);
	ck_assert_int_eq(res.res, -EINTR); /* the method's result */
	ck_assert_uint_eq(res.data, 5);
	no_event();
	struct ioctx_stats st = stats();
	ck_assert_int_eq(st.completed, 1); /* completed, but cancelled first */
	ck_assert_int_eq(st.events, 0);
	ck_assert_int_eq(st.inflight, 0);
	ck_assert_int_eq(st.double_completions, 0);
}
END_TEST

START_TEST(test_r6_cancel_refused_by_method_event_delivered)
{
	struct fake_req r = {.ndev = 1, .dev_res = {4096}, .cancel_rc = -EAGAIN};
	ck_assert_int_eq(fake_start(ctx, &r, 3, 0), -EIOCBQUEUED);
	struct ioctx_event res;
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), -EAGAIN);
	ck_assert(!(r.iocb->flags & IOCTX_F_CANCELLED));
	fake_end_all(ctx, &r);
	one_event(4096);
	ck_assert_int_eq(stats().cancelled, 0);
}
END_TEST

START_TEST(test_r6_cancel_after_event_in_ring_is_einval)
{
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	ck_assert_int_eq(fake_start(ctx, &r, 3, 0), -EIOCBQUEUED);
	fake_end_all(ctx, &r);
	struct ioctx_event res;
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), -EINVAL);
	one_event(4096);
}
END_TEST

START_TEST(test_r6_cancel_without_method_is_einval)
{
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &fake_ops_nocancel;
	iocb->priv = &r;
	r.iocb = iocb;
	ck_assert_int_eq(ioctx_submit(ctx, iocb), -EIOCBQUEUED);
	struct ioctx_event res;
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), -EINVAL);
	fake_end_all(ctx, &r);
	one_event(4096);
}
END_TEST

START_TEST(test_r6_second_cancel_is_einval)
{
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	ck_assert_int_eq(fake_start(ctx, &r, 3, 0), -EIOCBQUEUED);
	struct ioctx_event res;
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), 0);
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), -EINVAL);
	fake_end_all(ctx, &r);
	no_event();
	ck_assert_int_eq(stats().cancelled, 1);
}
END_TEST

/* A cancellation racing with a synchronous submit: the canceller's hold
 * on the iocb must not be taken for a device reference (the submitter's
 * completion would consume it and free the iocb under the canceller).
 * Deterministic interleaving: the cancel method itself runs the submit. */
static int64_t inner_submit_ret;
static int cancel_rc_to_return;

static int64_t submit_4096(struct ioctx *c, struct ioctx_iocb *iocb)
{
	return 4096;
}

static int cancel_runs_submit(struct ioctx *c, struct ioctx_iocb *iocb, struct ioctx_event *res)
{
	inner_submit_ret = ioctx_submit(c, iocb);
	return cancel_rc_to_return;
}

START_TEST(test_r6_cancel_during_sync_submit_keeps_references_straight)
{
	static const struct ioctx_ops ops = {.submit = submit_4096, .cancel = cancel_runs_submit};
	struct ioctx_iocb *iocb;
	struct ioctx_event res;

	/* refused: the synchronous result becomes the event */
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &ops;
	cancel_rc_to_return = -EAGAIN;
	ck_assert_int_eq(ioctx_cancel(ctx, ioctx_handle(iocb), &res), -EAGAIN);
	ck_assert_int_eq(inner_submit_ret, 4096);
	one_event(4096);
	ck_assert_int_eq(stats().inflight, 0);

	/* accepted: no event, the canceller has the result */
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &ops;
	cancel_rc_to_return = 0;
	ck_assert_int_eq(ioctx_cancel(ctx, ioctx_handle(iocb), &res), 0);
	ck_assert_int_eq(res.res, -ECANCELED);
	no_event();
	ck_assert_int_eq(stats().inflight, 0);
	ck_assert_int_eq(stats().double_completions, 0);
	ck_assert_int_eq(oopses.n, 0);
}
END_TEST

static int pinned_users;

static int cancel_while_submitter_finishes(struct ioctx *c, struct ioctx_iocb *iocb,
					   struct ioctx_event *res)
{
	/* the device completes and the submitter drops its reference while
	 * the method runs: the iocb must stay valid until cancel returns */
	struct fake_req *r = iocb->priv;
	fake_end_all(c, r);
	pinned_users = iocb->users;
	return -EAGAIN;
}

START_TEST(test_r6_cancel_holds_iocb_while_method_runs)
{
	static const struct ioctx_ops ops = {.submit = fake_submit,
					     .cancel = cancel_while_submitter_finishes};
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->ops = &ops;
	iocb->priv = &r;
	r.iocb = iocb;
	ck_assert_int_eq(ioctx_submit(ctx, iocb), -EIOCBQUEUED);
	struct ioctx_event res;
	ck_assert_int_eq(ioctx_cancel(ctx, r.h, &res), -EAGAIN);
	ck_assert_int_eq(pinned_users, 0); /* every R1 reference was gone */
	one_event(4096);		   /* written when cancel let go */
	ck_assert_int_eq(stats().inflight, 0);
	ck_assert_int_eq(stats().double_completions, 0);
}
END_TEST

/* ---- the ring ---- */

START_TEST(test_ring_wraps_many_times_in_order)
{
	struct ioctx *c = new_ctx(5, IOCTX_DEFERRED); /* ring of 8 entries */
	uint64_t next_data = 0, next_seen = 0;
	for (int round = 0; round < 400; round++) {
		int batch = 1 + round % 5; /* 1..nr events in flight */
		for (int i = 0; i < batch; i++) {
			struct fake_req r = {.ndev = 0, .sync_res = (int64_t)next_data};
			ck_assert_int_eq(fake_start(c, &r, next_data, ~next_data),
					 (int64_t)next_data);
			next_data++;
		}
		struct ioctx_event ev[8];
		int got = 0;
		while (got < batch) {
			int n = ioctx_getevents(c, 1, 1 + round % 3, ev, &ts_zero);
			ck_assert_int_gt(n, 0);
			for (int k = 0; k < n; k++, next_seen++) {
				ck_assert_uint_eq(ev[k].data, next_seen);
				ck_assert_uint_eq(ev[k].obj, ~next_seen);
				ck_assert_int_eq(ev[k].res, (int64_t)next_seen);
			}
			got += n;
		}
	}
	ck_assert_uint_eq(next_seen, next_data);
	struct ioctx_stats st;
	ioctx_get_stats(c, &st);
	ck_assert_uint_eq(st.events, next_data);
	ck_assert_uint_eq(st.reaped, next_data);
	ioctx_destroy(c);
}
END_TEST

START_TEST(test_ring_get_req_eagain_until_events_reaped)
{
	struct ioctx *c = new_ctx(4, IOCTX_DEFERRED);
	struct fake_req r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct fake_req){.ndev = 1, .dev_res = {i}};
		ck_assert_int_eq(fake_start(c, &r[i], i, 0), -EIOCBQUEUED);
	}
	struct ioctx_iocb *iocb;
	ck_assert_int_eq(ioctx_get_req(c, &iocb), -EAGAIN);
	/* a completed request's event still occupies the ring */
	fake_end_all(c, &r[0]);
	ck_assert_int_eq(ioctx_get_req(c, &iocb), -EAGAIN);
	struct ioctx_event ev[4];
	ck_assert_int_eq(ioctx_getevents(c, 1, 4, ev, &ts_zero), 1);
	ck_assert_int_eq(ioctx_get_req(c, &iocb), 0);
	ck_assert_int_eq(ioctx_get_req(c, &iocb), -EAGAIN);
	for (int i = 1; i < 4; i++)
		fake_end_all(c, &r[i]);
	ck_assert_int_eq(ioctx_getevents(c, 3, 4, ev, &ts_zero), 3);
	ioctx_destroy(c);
}
END_TEST

START_TEST(test_getevents_rejects_bad_arguments)
{
	struct ioctx_event ev[2];
	struct timespec bad = {0, 1000000000};
	ck_assert_int_eq(ioctx_getevents(ctx, 2, 1, ev, NULL), -EINVAL);
	ck_assert_int_eq(ioctx_getevents(ctx, -1, 1, ev, NULL), -EINVAL);
	ck_assert_int_eq(ioctx_getevents(ctx, 0, -1, ev, NULL), -EINVAL);
	ck_assert_int_eq(ioctx_getevents(ctx, 1, 1, ev, &bad), -EINVAL);
	ck_assert_int_eq(ioctx_getevents(ctx, 0, 0, ev, NULL), 0);
}
END_TEST

START_TEST(test_getevents_timeout_returns_what_it_has)
{
	struct fake_req r = {.ndev = 0, .sync_res = 1};
	fake_start(ctx, &r, 1, 0);
	struct ioctx_event ev[4];
	struct timespec t0, t1, to = {0, 30 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(ioctx_getevents(ctx, 2, 4, ev, &to), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	ck_assert_int_ge(ns, 30 * 1000 * 1000);
	ck_assert_int_eq(ev[0].res, 1);
}
END_TEST

struct later {
	struct ioctx *c;
	struct fake_req *r;
};

static void *complete_later(void *arg)
{
	struct later *l = arg;
	struct timespec d = {0, 50 * 1000 * 1000};
	nanosleep(&d, NULL);
	fake_end_all(l->c, l->r);
	return NULL;
}

START_TEST(test_getevents_blocks_until_event_arrives)
{
	struct fake_req r = {.ndev = 1, .dev_res = {777}};
	ck_assert_int_eq(fake_start(ctx, &r, 1, 0), -EIOCBQUEUED);
	pthread_t t;
	struct later l = {ctx, &r};
	pthread_create(&t, NULL, complete_later, &l);
	struct ioctx_event ev[1];
	ck_assert_int_eq(ioctx_getevents(ctx, 1, 1, ev, NULL), 1);
	ck_assert_int_eq(ev[0].res, 777);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(test_getevents_waits_for_min_nr)
{
	/* min_nr = 2: one event now is not enough, the second arrives later */
	struct fake_req now = {.ndev = 0, .sync_res = 1};
	fake_start(ctx, &now, 1, 0);
	struct fake_req r = {.ndev = 1, .dev_res = {2}};
	ck_assert_int_eq(fake_start(ctx, &r, 2, 0), -EIOCBQUEUED);
	pthread_t t;
	struct later l = {ctx, &r};
	pthread_create(&t, NULL, complete_later, &l);
	struct ioctx_event ev[4];
	struct timespec to = {10, 0};
	ck_assert_int_eq(ioctx_getevents(ctx, 2, 4, ev, &to), 2);
	ck_assert_int_eq(ev[0].res + ev[1].res, 3);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(test_eventfd_counts_insertions)
{
	int fd = ioctx_eventfd(ctx);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ioctx_eventfd(ctx), fd);
	uint64_t v;
	ck_assert_int_eq(read(fd, &v, 8), -1); /* nothing yet: EAGAIN */
	struct fake_req r1 = {.ndev = 0, .sync_res = 1};
	struct fake_req r2 = {.ndev = 1, .dev_res = {2}};
	fake_start(ctx, &r1, 1, 0);
	fake_start(ctx, &r2, 2, 0);
	ck_assert_int_eq(read(fd, &v, 8), 8);
	ck_assert_uint_eq(v, 1); /* r2 has no event yet */
	fake_end_all(ctx, &r2);
	ck_assert_int_eq(read(fd, &v, 8), 8);
	ck_assert_uint_eq(v, 1);
}
END_TEST

/* notify runs after the lock is released: it may call into ioctx (a
 * non-recursive lock would deadlock otherwise) and drain the ring inline */
static struct ioctx *notify_ctx;
static int notify_calls, notify_drained;

static void notify_drain(void *arg)
{
	struct ioctx_event ev[4];
	struct ioctx_iocb *iocb;
	notify_calls++;
	notify_drained += reap_now(notify_ctx, ev, 4);
	if (ioctx_get_req(notify_ctx, &iocb) == 0) /* takes the lock */
		ioctx_put(notify_ctx, ioctx_handle(iocb));
}

START_TEST(test_notify_called_outside_lock_drains_inline)
{
	struct ioctx_params p = {.nr = 4, .notify = notify_drain};
	ck_assert_int_eq(ioctx_setup(&p, &notify_ctx), 0);
	struct fake_req r = {.ndev = 1, .dev_res = {4096}};
	ck_assert_int_eq(fake_start(notify_ctx, &r, 1, 0), -EIOCBQUEUED);
	ck_assert_int_eq(notify_calls, 0);
	fake_end_all(notify_ctx, &r);
	ck_assert_int_eq(notify_calls, 1);
	ck_assert_int_eq(notify_drained, 1);
	ioctx_destroy(notify_ctx);
}
END_TEST

START_TEST(test_setup_rejects_bad_params)
{
	struct ioctx *c;
	struct ioctx_params p = {.nr = 0};
	ck_assert_int_eq(ioctx_setup(&p, &c), -EINVAL);
	p.nr = 4;
	p.mode = (enum ioctx_semantics)7;
	ck_assert_int_eq(ioctx_setup(&p, &c), -EINVAL);
}
END_TEST

static Suite *rules_suite(void)
{
	Suite *s = suite_create("ioctx_rules");
	TCase *tc = tcase_create("deferred");
	tcase_set_timeout(tc, 60); /* a deadlock fails in a minute */
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_r1_new_iocb_holds_one_submission_reference);
	tcase_add_test(tc, test_r1_each_device_io_holds_a_reference_one_event_after_last);
	tcase_add_test(tc, test_r1_dio_group_holds_one_reference_sums_bytes);
	tcase_add_test(tc, test_r1_dio_group_reports_first_error);
	tcase_add_test(tc, test_r2_sync_result_completed_by_submitter_once);
	tcase_add_test(tc, test_r2_sync_error_completed_by_submitter_once);
	tcase_add_test(tc, test_r2_eiocbqueued_leaves_completion_to_device);
	tcase_add_test(tc, test_r3_error_without_eiocbqueued_is_returned);
	tcase_add_test(tc, test_r3_error_after_device_completion_reaches_event);
	tcase_add_test(tc, test_r3_error_before_device_completion_reaches_event);
	tcase_add_test(tc, test_r3_first_pending_error_wins);
	tcase_add_test(tc, test_r3_error_from_completion_path_reaches_event);
	tcase_add_test(tc, test_r5_event_only_at_last_put);
	tcase_add_test(tc, test_r4_records_res2_and_event_fields);
	tcase_add_test(tc, test_r5_freed_slot_is_poisoned_and_generation_bumped);
	tcase_add_test(tc, test_r7_double_completion_detected_in_deferred_too);
	tcase_add_test(tc, test_r7_stale_put_detected_not_applied);
	tcase_add_test(tc, test_r6_cancel_before_device_completion_no_event);
	tcase_add_test(tc, test_r6_cancel_after_device_completion_too_late_error_kept);
	tcase_add_test(tc, test_r6_cancel_refused_by_method_event_delivered);
	tcase_add_test(tc, test_r6_device_completion_during_successful_cancel_no_event);
	tcase_add_test(tc, test_r6_cancel_after_event_in_ring_is_einval);
	tcase_add_test(tc, test_r6_cancel_without_method_is_einval);
	tcase_add_test(tc, test_r6_second_cancel_is_einval);
	tcase_add_test(tc, test_r6_cancel_during_sync_submit_keeps_references_straight);
	tcase_add_test(tc, test_r6_cancel_holds_iocb_while_method_runs);
	tcase_add_test(tc, test_ring_wraps_many_times_in_order);
	tcase_add_test(tc, test_ring_get_req_eagain_until_events_reaped);
	tcase_add_test(tc, test_getevents_rejects_bad_arguments);
	tcase_add_test(tc, test_getevents_timeout_returns_what_it_has);
	tcase_add_test(tc, test_getevents_blocks_until_event_arrives);
	tcase_add_test(tc, test_getevents_waits_for_min_nr);
	tcase_add_test(tc, test_eventfd_counts_insertions);
	tcase_add_test(tc, test_notify_called_outside_lock_drains_inline);
	tcase_add_test(tc, test_setup_rejects_bad_params);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rules_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
