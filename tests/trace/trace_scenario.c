/*
 * trace_scenario: a scripted request on ioctx over a fake device, traced,
 * dumped as Chrome trace-event JSON (no mount, no device). Used by
 * check_trace.py and to draw tools/trace-svg's picture.
 *
 *   trace_scenario MODE ORDER FILE
 *     MODE   deferred | legacy | drop
 *     ORDER  device-first: the device completes while the submitter is
 *            still in its submit method (the race of the patch);
 *            submit-first: the device completes after submit returned
 *
 * The requests, in order:
 *   1. a write whose post-submission invalidation fails with -EIO (R3),
 *      its device I/O on a thread of its own ("completion path");
 *   2. a request cancelled while its device I/O is in flight (R6);
 *   3. a synchronous request (R2) answered by submit itself.
 * Each event taken from the ring is "replied" (a fuse_reply record), as
 * the FUSE glue does. Exit 0, or 1 with a message.
 *
 * Layer: test tool; calls ioctx.h and trace.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioctx.h"
#include "trace.h"

struct fake_dev {
	struct ioctx *ctx;
	ioctx_handle_t h;
	uint64_t ino;
	int64_t res;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool go;
};

/* The device completion path: waits for go, then completes (R4). */
static void *dev_thread(void *arg)
{
	struct fake_dev *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->go)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
	IOTRACE(ioctx_trace(d->ctx), IOT_DEV_DONE, d->h, d->ino, d->res, 0, 0);
	ioctx_complete(d->ctx, d->h, d->res, 0);
	return NULL;
}

static void dev_go(struct fake_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->go = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void dev_wait(struct fake_dev *d)
{
	pthread_join(d->thread, NULL);
}

/* Start the fake device I/O of iocb: one reference (R1), a thread. */
static int dev_start(struct fake_dev *d, struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	d->ctx = ctx;
	d->h = ioctx_handle(iocb);
	d->ino = iocb->obj;
	d->res = (int64_t)iocb->nbytes;
	d->go = false;
	ioctx_iocb_get(ctx, iocb);
	IOTRACE(ioctx_trace(ctx), IOT_DEV_ISSUE, d->h, d->ino, 1, iocb->opcode == 1,
		(int64_t)iocb->nbytes);
	return pthread_create(&d->thread, NULL, dev_thread, d);
}

static bool device_first;

/* Request 1: a direct write; invalidation after submission fails (P3). */
static int64_t write_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	struct fake_dev *d = iocb->priv;

	if (dev_start(d, ctx, iocb))
		return -EAGAIN;
	if (device_first) { /* the device wins the race: completes before we queue */
		dev_go(d);
		dev_wait(d);
	}
	return ioctx_propagate_error(ctx, iocb, -EIOCBQUEUED, -EIO);
}

/* Request 2: a read in flight, cancellable. */
static int64_t read_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	return dev_start(iocb->priv, ctx, iocb) ? -EAGAIN : -EIOCBQUEUED;
}

static int read_cancel(struct ioctx *ctx, struct ioctx_iocb *iocb, struct ioctx_event *res)
{
	(void)ctx;
	(void)iocb;
	res->res = -EINTR;
	return 0;
}

/* Request 3: done at once (R2). */
static int64_t sync_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	(void)ctx;
	return (int64_t)iocb->nbytes;
}

static const struct ioctx_ops write_ops = {.submit = write_submit};
static const struct ioctx_ops read_ops = {.submit = read_submit, .cancel = read_cancel};
static const struct ioctx_ops sync_ops = {.submit = sync_submit};

static void quiet_oops(void *arg, const char *line)
{
	(void)arg;
	(void)line; /* the trace records it */
}

/* Reply to every event in the ring, as the FUSE glue does. */
static void drain(struct ioctx *ctx)
{
	struct ioctx_event ev[8];
	const struct timespec zero = {0, 0};
	int n;

	while ((n = ioctx_getevents(ctx, 1, 8, ev, &zero)) > 0)
		for (int i = 0; i < n; i++)
			IOTRACE(ioctx_trace(ctx), IOT_FUSE_REPLY, ev[i].data, ev[i].obj, ev[i].res,
				0, 0);
}

static struct ioctx_iocb *new_req(struct ioctx *ctx, const struct ioctx_ops *ops, void *priv,
				  uint64_t ino, int opcode)
{
	struct ioctx_iocb *iocb;

	if (ioctx_get_req(ctx, &iocb) < 0)
		return NULL;
	iocb->obj = ino;
	iocb->ops = ops;
	iocb->priv = priv;
	iocb->opcode = opcode;
	iocb->nbytes = 4096;
	iocb->offset = 0;
	iocb->user_data = ioctx_handle(iocb); /* the reply names the request */
	return iocb;
}

static int put_file(void *arg, const char *s, size_t len)
{
	return fwrite(s, 1, len, arg) == len ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	struct ioctx_params p = {.nr = 16, .oops = quiet_oops};
	struct fake_dev d1 = {0}, d2 = {0};
	struct ioctx *ctx;
	struct ioctx_iocb *iocb;

	if (argc != 4 || ioctx_parse_semantics(argv[1], &p.mode) < 0 ||
	    (strcmp(argv[2], "device-first") && strcmp(argv[2], "submit-first"))) {
		fprintf(stderr, "usage: trace_scenario deferred|mainline|legacy|drop "
				"device-first|submit-first FILE\n");
		return 2;
	}
	device_first = !strcmp(argv[2], "device-first");
	if (ioctx_setup(&p, &ctx) < 0 || iotrace_start(ioctx_trace(ctx), NULL) < 0)
		return 1;
	pthread_mutex_init(&d1.lock, NULL);
	pthread_cond_init(&d1.cond, NULL);
	pthread_mutex_init(&d2.lock, NULL);
	pthread_cond_init(&d2.cond, NULL);

	/* 1: the write with the failed invalidation (inode 12) */
	if (!(iocb = new_req(ctx, &write_ops, &d1, 12, 1)))
		return 1;
	ioctx_submit(ctx, iocb);
	if (!device_first) {
		dev_go(&d1);
		dev_wait(&d1);
	}
	drain(ctx);

	/* 2: cancelled while its device I/O is in flight (inode 13) */
	if (!(iocb = new_req(ctx, &read_ops, &d2, 13, 0)))
		return 1;
	ioctx_handle_t h2 = ioctx_handle(iocb);
	ioctx_submit(ctx, iocb);
	struct ioctx_event cev;
	if (ioctx_cancel(ctx, h2, &cev) != 0) {
		fprintf(stderr, "trace_scenario: cancel failed\n");
		return 1;
	}
	IOTRACE(ioctx_trace(ctx), IOT_FUSE_REPLY, h2, 13, cev.res, 0, 0);
	dev_go(&d2);
	dev_wait(&d2);
	drain(ctx);

	/* 3: synchronous (inode 14) */
	if (!(iocb = new_req(ctx, &sync_ops, NULL, 14, 0)))
		return 1;
	ioctx_submit(ctx, iocb);
	drain(ctx);

	struct iotrace_rec *recs;
	struct iotrace_info info;
	size_t n;
	FILE *f = fopen(argv[3], "w");
	if (!f || iotrace_snapshot(ioctx_trace(ctx), &recs, &n, &info) < 0) {
		perror(argv[3]);
		return 1;
	}
	int r = iotrace_write_json(recs, n, &info, argv[1], 0, put_file, f);
	free(recs);
	if (fclose(f) != 0 || r < 0) {
		fprintf(stderr, "trace_scenario: writing %s failed\n", argv[3]);
		return 1;
	}
	ioctx_destroy(ctx);
	return 0;
}
