/*
 * test_trace.c: the iocb lifecycle tracer (ioctx/trace.h)
 * without a mount: nothing is recorded while off; per-thread buffers
 * overwrite their oldest records and say how many; --max-events and --ino
 * filter; records of many threads come back ordered; start/stop/snapshot
 * race recorders safely (label tsan); the JSON writer respects its size
 * budget; and ioctx's own trace points over a fake backend (every core
 * kind, R5's order, legacy's double completion through a stale handle).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ioctx.h"
#include "trace.h"

static struct iotrace *new_tracer(void)
{
	struct iotrace *t;

	ck_assert_int_eq(iotrace_new(&t), 0);
	return t;
}

static size_t snap(struct iotrace *t, struct iotrace_rec **recs, struct iotrace_info *info)
{
	size_t n;

	ck_assert_int_eq(iotrace_snapshot(t, recs, &n, info), 0);
	return n;
}

START_TEST(test_off_records_nothing)
{
	struct iotrace *t = new_tracer();
	struct iotrace_rec *recs;
	struct iotrace_info info;

	for (int i = 0; i < 100; i++)
		IOTRACE(t, IOT_GET, 1, 1, 1, 0, 0);
	ck_assert_uint_eq(snap(t, &recs, &info), 0);
	ck_assert_uint_eq(info.recorded, 0);
	ck_assert(!info.on);
	free(recs);
	/* after a stop, too */
	ck_assert_int_eq(iotrace_start(t, NULL), 0);
	IOTRACE(t, IOT_GET, 1, 1, 1, 0, 0);
	iotrace_stop(t);
	IOTRACE(t, IOT_GET, 2, 1, 1, 0, 0);
	ck_assert_uint_eq(snap(t, &recs, &info), 1);
	ck_assert_uint_eq(recs[0].id, 1);
	free(recs);
	iotrace_free(t);
}
END_TEST

START_TEST(test_overwrite_counts)
{
	struct iotrace *t = new_tracer();
	struct iotrace_opts o = {.per_thread = 8};
	struct iotrace_rec *recs;
	struct iotrace_info info;

	ck_assert_int_eq(iotrace_start(t, &o), 0);
	for (int i = 0; i < 20; i++)
		IOTRACE(t, IOT_REF_GET, (uint64_t)i + 1, 7, i, 0, 0);
	size_t n = snap(t, &recs, &info);
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_eq(info.recorded, 20);
	ck_assert_uint_eq(info.overwritten, 12);
	ck_assert(info.on);	       /* the snapshot stopped it */
	for (size_t i = 0; i < n; i++) /* the newest 8, in order */
		ck_assert_int_eq(recs[i].a, 12 + (int64_t)i);
	free(recs);
	ck_assert(!atomic_load(&t->on));
	iotrace_free(t);
}
END_TEST

START_TEST(test_filters)
{
	struct iotrace *t = new_tracer();
	struct iotrace_opts o = {.filter_ino = true, .ino = 42};
	struct iotrace_rec *recs;
	struct iotrace_info info;

	ck_assert_int_eq(iotrace_start(t, &o), 0);
	IOTRACE(t, IOT_GET, 1, 42, 1, 0, 0);
	IOTRACE(t, IOT_GET, 2, 43, 1, 0, 0);
	IOTRACE(t, IOT_SUBMIT, 1, 42, 1, 0, 0);
	ck_assert_uint_eq(snap(t, &recs, &info), 2);
	ck_assert_uint_eq(info.filtered, 1);
	ck_assert(recs[0].obj == 42 && recs[1].obj == 42);
	ck_assert_uint_eq(recs[0].kind, IOT_GET);
	ck_assert_uint_eq(recs[1].kind, IOT_SUBMIT);
	free(recs);

	struct iotrace_opts m = {.max_events = 5};
	ck_assert_int_eq(iotrace_start(t, &m), 0); /* a restart clears */
	for (int i = 0; i < 10; i++)
		IOTRACE(t, IOT_GET, (uint64_t)i + 1, 1, 1, 0, 0);
	ck_assert_uint_eq(snap(t, &recs, &info), 5);
	ck_assert_uint_eq(info.limited, 5);
	ck_assert_uint_eq(recs[4].id, 5); /* the first five: recording stopped after them */
	free(recs);
	struct iotrace_opts bad = {.per_thread = IOTRACE_PER_THREAD_MAX + 1};
	ck_assert_int_eq(iotrace_start(t, &bad), -EINVAL);
	iotrace_free(t);
}
END_TEST

struct rec_arg {
	struct iotrace *t;
	int n;
	atomic_bool *stop; /* NULL: record n events and return */
};

static void *recorder(void *arg)
{
	struct rec_arg *a = arg;

	for (int i = 0; a->stop ? !atomic_load(a->stop) : i < a->n; i++)
		IOTRACE(a->t, IOT_REF_PUT, (uint64_t)i + 1, 1, i, 0, 0);
	return NULL;
}

START_TEST(test_threads_ordered)
{
	struct iotrace *t = new_tracer();
	struct rec_arg a = {.t = t, .n = 1000};
	pthread_t th[4];
	struct iotrace_rec *recs;
	struct iotrace_info info;

	ck_assert_int_eq(iotrace_start(t, NULL), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, recorder, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	size_t n = snap(t, &recs, &info);
	ck_assert_uint_eq(n, 4000);
	ck_assert_uint_eq(info.threads, 4);
	ck_assert_uint_eq(info.overwritten + info.dropped, 0);
	for (size_t i = 1; i < n; i++) {
		ck_assert(recs[i - 1].ts <= recs[i].ts);
		if (recs[i - 1].tid == recs[i].tid && recs[i - 1].ts == recs[i].ts)
			ck_assert(recs[i - 1].seq < recs[i].seq);
	}
	free(recs);
	iotrace_free(t);
}
END_TEST

/* start/stop/snapshot while recorders run: no torn record, no race (TSan). */
START_TEST(test_stop_races_recorders)
{
	struct iotrace *t = new_tracer();
	atomic_bool stop = false;
	struct rec_arg a = {.t = t, .stop = &stop};
	struct iotrace_opts o = {.per_thread = 64};
	pthread_t th[3];

	ck_assert_int_eq(iotrace_start(t, &o), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, recorder, &a), 0);
	for (int round = 0; round < 200; round++) {
		struct iotrace_rec *recs;
		struct iotrace_info info;
		size_t n = snap(t, &recs, &info);

		ck_assert_uint_le(n, 3 * 64);
		for (size_t i = 0; i < n; i++) /* a record is whole: a == id - 1 */
			ck_assert_int_eq(recs[i].a, (int64_t)recs[i].id - 1);
		free(recs);
		ck_assert_int_eq(iotrace_start(t, &o), 0);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	iotrace_free(t);
}
END_TEST

struct sink {
	size_t len;
	char *buf;
};

static int put_mem(void *arg, const char *s, size_t len)
{
	struct sink *k = arg;
	char *b = realloc(k->buf, k->len + len + 1);

	if (!b)
		return -ENOMEM;
	memcpy(b + k->len, s, len);
	k->len += len;
	b[k->len] = '\0';
	k->buf = b;
	return 0;
}

START_TEST(test_json_budget)
{
	struct iotrace *t = new_tracer();
	struct iotrace_rec *recs;
	struct iotrace_info info;
	struct sink all = {0}, some = {0};

	ck_assert_int_eq(iotrace_start(t, NULL), 0);
	for (int i = 0; i < 2000; i++)
		IOTRACE(t, IOT_REF_PUT, (uint64_t)(i % 50) + 1, 3, 1, IOT_REF_SUBMISSION, 0);
	size_t n = snap(t, &recs, &info);
	ck_assert_int_eq(iotrace_write_json(recs, n, &info, "deferred", 0, put_mem, &all), 0);
	ck_assert_ptr_nonnull(strstr(all.buf, "\"left_out\":0,"));
	ck_assert_int_eq(
	    iotrace_write_json(recs, n, &info, "deferred", all.len / 4, put_mem, &some), 0);
	ck_assert_uint_le(some.len, all.len / 4);
	ck_assert_ptr_null(strstr(some.buf, "\"left_out\":0,"));
	ck_assert_ptr_nonnull(strstr(some.buf, "\"ref\":\"submission\""));
	free(all.buf);
	free(some.buf);
	free(recs);
	iotrace_free(t);
}
END_TEST

/* ---- ioctx's own trace points over a fake backend ---------------------- */

static int64_t queued_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	ioctx_iocb_get(ctx, iocb); /* the device I/O's reference (R1) */
	return ioctx_propagate_error(ctx, iocb, -EIOCBQUEUED, -EIO);
}

static int ok_cancel(struct ioctx *ctx, struct ioctx_iocb *iocb, struct ioctx_event *res)
{
	(void)ctx;
	(void)iocb;
	(void)res;
	return 0;
}

static const struct ioctx_ops queued_ops = {.submit = queued_submit, .cancel = ok_cancel};

static void quiet(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

/* index of the first record of kind for id at or after from, or -1 */
static long find(const struct iotrace_rec *r, size_t n, uint64_t id, unsigned kind, size_t from)
{
	for (size_t i = from; i < n; i++)
		if (r[i].id == id && r[i].kind == kind)
			return (long)i;
	return -1;
}

static void run_one(enum ioctx_semantics mode, struct iotrace_rec **recs, size_t *n,
		    ioctx_handle_t *hout)
{
	struct ioctx_params p = {.nr = 4, .mode = mode, .oops = quiet};
	struct ioctx *ctx;
	struct ioctx_iocb *iocb;
	struct ioctx_event ev;

	ck_assert_int_eq(ioctx_setup(&p, &ctx), 0);
	ck_assert_int_eq(iotrace_start(ioctx_trace(ctx), NULL), 0);
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->obj = 9;
	iocb->ops = &queued_ops;
	ioctx_handle_t h = ioctx_handle(iocb);
	ioctx_submit(ctx, iocb);
	ioctx_complete(ctx, h, 4096, 0); /* the device's completion (R4) */
	ck_assert_int_eq(ioctx_getevents(ctx, 1, 1, &ev, NULL), 1);
	ck_assert_int_eq(ev.res, -EIO);
	/* and a cancelled one */
	ck_assert_int_eq(ioctx_get_req(ctx, &iocb), 0);
	iocb->obj = 9;
	iocb->ops = &queued_ops;
	ioctx_handle_t h2 = ioctx_handle(iocb);
	ioctx_submit(ctx, iocb);
	if (mode == IOCTX_DEFERRED) {
		ck_assert_int_eq(ioctx_cancel(ctx, h2, &ev), 0);
		ioctx_complete(ctx, h2, 4096, 0);
	}
	ck_assert_int_eq(iotrace_snapshot(ioctx_trace(ctx), recs, n, NULL), 0);
	ioctx_destroy(ctx);
	*hout = h;
}

START_TEST(test_ioctx_points_deferred)
{
	struct iotrace_rec *r;
	size_t n;
	ioctx_handle_t h;

	run_one(IOCTX_DEFERRED, &r, &n, &h);
	long get = find(r, n, h, IOT_GET, 0), sub = find(r, n, h, IOT_SUBMIT, 0);
	long refget = find(r, n, h, IOT_REF_GET, 0), prop = find(r, n, h, IOT_PROPAGATE, 0);
	long ret = find(r, n, h, IOT_SUBMIT_RET, 0), put1 = find(r, n, h, IOT_REF_PUT, 0);
	long comp = find(r, n, h, IOT_COMPLETE, 0), put2 = find(r, n, h, IOT_REF_PUT, put1 + 1);
	long ins = find(r, n, h, IOT_RING_INSERT, 0);
	ck_assert(get >= 0 && get < sub && sub < refget && refget < prop && prop < ret);
	ck_assert_int_eq(r[get].a, 1);
	ck_assert_int_eq(r[refget].a, 2);
	ck_assert(r[prop].a == -EIOCBQUEUED && r[prop].b == -EIO && r[prop].c == IOT_PROP_STORED);
	ck_assert_int_eq(r[ret].a, -EIOCBQUEUED);
	/* the submission reference first (1 left), then the device's: R5 */
	ck_assert(ret < put1 && r[put1].a == 1 && r[put1].b == IOT_REF_SUBMISSION);
	ck_assert(put1 < comp && r[comp].a == 4096 && r[comp].c == 0);
	ck_assert(comp < put2 && r[put2].a == 0 && r[put2].b == IOT_REF_COMPLETION);
	ck_assert(put2 < ins && r[ins].a == -EIO);
	ck_assert_int_eq(find(r, n, h, IOT_RING_INSERT, (size_t)ins + 1), -1); /* R7 */
	ck_assert_int_eq(find(r, n, h, IOT_DOUBLE, 0), -1);
	/* the cancelled one: a cancel, a cancelled complete, no insertion (R6) */
	uint64_t h2 = 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].kind == IOT_CANCEL)
			h2 = r[i].id;
	ck_assert(h2 && h2 != h);
	long c = find(r, n, h2, IOT_COMPLETE, 0);
	ck_assert(c >= 0 && r[c].c == 1);
	ck_assert_int_eq(find(r, n, h2, IOT_RING_INSERT, 0), -1);
	free(r);
}
END_TEST

START_TEST(test_ioctx_points_legacy)
{
	struct iotrace_rec *r;
	size_t n;
	ioctx_handle_t h;

	run_one(IOCTX_LEGACY, &r, &n, &h);
	long prop = find(r, n, h, IOT_PROPAGATE, 0), ret = find(r, n, h, IOT_SUBMIT_RET, 0);
	long comp = find(r, n, h, IOT_COMPLETE, 0), ins = find(r, n, h, IOT_RING_INSERT, 0);
	long subput = -1, dbl = find(r, n, h, IOT_DOUBLE, 0);
	for (size_t i = 0; i < n; i++)
		if (r[i].id == h && r[i].kind == IOT_REF_PUT && r[i].b == IOT_REF_SUBMISSION)
			subput = (long)i;
	ck_assert(prop >= 0 && r[prop].c == IOT_PROP_RETURNED && r[ret].a == -EIO);
	/* the submitter completes with -EIO and the event is written at once,
	   while the submission reference is still held (what R5 forbids) */
	ck_assert(comp > ret && r[comp].a == -EIO);
	ck_assert(ins > comp && ins < subput && r[ins].a == -EIO);
	/* the device's completion comes through a stale handle: detected */
	ck_assert(dbl > subput && r[dbl].a == 4096 && r[dbl].b == -EIO && r[dbl].obj == 9);
	free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("tracer");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_off_records_nothing);
	tcase_add_test(tc, test_overwrite_counts);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_threads_ordered);
	tcase_add_test(tc, test_stop_races_recorders);
	tcase_add_test(tc, test_json_budget);
	tcase_add_test(tc, test_ioctx_points_deferred);
	tcase_add_test(tc, test_ioctx_points_legacy);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
