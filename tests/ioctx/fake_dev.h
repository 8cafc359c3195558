/*
 * fake_dev.h: a scripted fake device for the ioctx tests. The test decides
 * when each device I/O completes: ops->submit starts the I/Os of a
 * struct fake_req (taking one reference each, or one for the group with
 * struct ioctx_dio), queues its post-submission errors through
 * ioctx_propagate_error, and the test later ends I/Os one by one.
 *
 * Single-threaded: deterministic tests only.
 */
#ifndef EIOCBFS_TESTS_FAKE_DEV_H
#define EIOCBFS_TESTS_FAKE_DEV_H

#include "ioctx.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define FAKE_MAX_IOS 8

struct fake_req;
typedef void (*fake_hook)(struct ioctx *ctx, struct fake_req *r);

struct fake_req {
	/* script */
	int ndev;		       /* device I/Os (0: synchronous) */
	int64_t sync_res;	       /* result when ndev == 0 */
	int64_t dev_res[FAKE_MAX_IOS]; /* result of each device I/O */
	bool group;		       /* one reference via struct ioctx_dio */
	int64_t post_err[2];	       /* post-submission errors, 0: none */
	fake_hook before_errors;       /* runs in submit, after the I/Os start */
	fake_hook after_errors;	       /* runs in submit, just before return */
	int cancel_rc;		       /* what the cancel method returns */
	/* state */
	struct ioctx_iocb *iocb;
	ioctx_handle_t h;
	struct ioctx_dio dio;
	bool ended[FAKE_MAX_IOS];
	int remaining; /* per-I/O references: I/Os not ended */
	int64_t first_err, bytes;
	int submit_calls, cancel_calls;
};

static int64_t fake_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	struct fake_req *r = iocb->priv;
	r->submit_calls++;
	if (r->ndev == 0)
		return r->sync_res;
	r->h = ioctx_handle(iocb);
	r->remaining = r->ndev;
	if (r->group)
		ioctx_dio_init(ctx, &r->dio, iocb, r->ndev);
	else
		for (int i = 0; i < r->ndev; i++)
			ioctx_iocb_get(ctx, iocb);
	if (r->before_errors)
		r->before_errors(ctx, r);
	int64_t ret = -EIOCBQUEUED;
	for (int i = 0; i < 2; i++)
		if (r->post_err[i])
			ret = ioctx_propagate_error(ctx, iocb, ret, r->post_err[i]);
	if (r->after_errors)
		r->after_errors(ctx, r);
	return ret;
}

static int fake_cancel(struct ioctx *ctx, struct ioctx_iocb *iocb, struct ioctx_event *res)
{
	struct fake_req *r = iocb->priv;
	r->cancel_calls++;
	return r->cancel_rc;
}

static const struct ioctx_ops fake_ops = {.submit = fake_submit, .cancel = fake_cancel};
static const struct ioctx_ops fake_ops_nocancel = {.submit = fake_submit};

/* End device I/O i of r with its scripted result. With one reference per
 * I/O the last one completes (first error, else the byte sum) and the
 * others drop their reference; with a group, ioctx_dio_end does it. */
static void fake_end(struct ioctx *ctx, struct fake_req *r, int i)
{
	if (r->ended[i]) {
		fprintf(stderr, "fake_end: I/O %d ended twice\n", i);
		return;
	}
	r->ended[i] = true;
	int64_t res = r->dev_res[i];
	if (r->group) {
		ioctx_dio_end(ctx, &r->dio, res);
		return;
	}
	if (res < 0 && !r->first_err)
		r->first_err = res;
	if (res >= 0)
		r->bytes += res;
	if (--r->remaining > 0)
		ioctx_put(ctx, r->h);
	else
		ioctx_complete(ctx, r->h, r->first_err ? r->first_err : r->bytes, 0);
}

static void fake_end_all(struct ioctx *ctx, struct fake_req *r)
{
	for (int i = 0; i < r->ndev; i++)
		if (!r->ended[i])
			fake_end(ctx, r, i);
}

/* get_req + fill + submit; returns the method's value. */
static int64_t fake_start(struct ioctx *ctx, struct fake_req *r, uint64_t data, uint64_t obj)
{
	struct ioctx_iocb *iocb;
	int rc = ioctx_get_req(ctx, &iocb);
	if (rc < 0)
		return rc;
	iocb->user_data = data;
	iocb->obj = obj;
	iocb->ops = &fake_ops;
	iocb->priv = r;
	r->iocb = iocb;
	return ioctx_submit(ctx, iocb);
}

/* oops records captured by the tests */
struct oops_log {
	int n;
	char last[256];
};

static void oops_capture(void *arg, const char *line)
{
	struct oops_log *log = arg;
	log->n++;
	snprintf(log->last, sizeof(log->last), "%s", line);
}

static const struct timespec ts_zero = {0, 0};

/* Poll: take every event now in the ring. */
static int reap_now(struct ioctx *ctx, struct ioctx_event *ev, int max)
{
	return ioctx_getevents(ctx, 0, max, ev, &ts_zero);
}

#endif
