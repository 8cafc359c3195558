/* aio_dev_ops.c: the ioctx submit method over aio_dev (see aio_dev_ops.h).
 *
 * Layer: calls ioctx (dio helper) and aio_dev; called by ioctx_submit.
 *
 * Per request: one allocation holding the group (struct ioctx_dio, which
 * holds the iocb's one device reference, R1), its device I/Os and the
 * pointer array for the batch submit. The last piece to end releases it.
 * Requests of up to POOL_PIECES pieces come from, and go back to, a small
 * per-glue cache (malloc/free were the largest user-space cost per I/O).
 * Not per iocb slot: in legacy mode a slot is reused while the old
 * request's device I/O is still in flight.
 */
#include "aio_dev_ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define AIO_DEV_IOCTX_MAX_IO (1u << 20)
#define POOL_PIECES 4 /* pieces of a cached request */
#define POOL_MAX 256  /* cached requests at most */

struct dio_req {
	struct ioctx_dio dio;
	struct ioctx *ctx;
	struct aio_dev_ioctx *glue;
	struct dio_req *next_free;
	size_t cap;	      /* pieces it has room for */
	struct dev_io **ptrs; /* -> after ios[cap] */
	struct dev_io ios[];
};

static struct dio_req *req_alloc(struct aio_dev_ioctx *glue, size_t n)
{
	struct dio_req *req = NULL;
	size_t cap = n <= POOL_PIECES ? POOL_PIECES : n;

	if (cap == POOL_PIECES) {
		pthread_mutex_lock(&glue->lock);
		req = glue->free;
		if (req) {
			glue->free = req->next_free;
			glue->nfree--;
		}
		pthread_mutex_unlock(&glue->lock);
		if (req)
			return req;
	}
	req = malloc(sizeof(*req) + cap * (sizeof(struct dev_io) + sizeof(struct dev_io *)));
	if (!req)
		return NULL;
	req->glue = glue;
	req->cap = cap;
	req->ptrs = (struct dev_io **)(req->ios + cap);
	return req;
}

static void req_free(struct dio_req *req)
{
	struct aio_dev_ioctx *glue = req->glue;

	if (req->cap == POOL_PIECES) {
		pthread_mutex_lock(&glue->lock);
		if (glue->nfree < POOL_MAX) {
			req->next_free = glue->free;
			glue->free = req;
			glue->nfree++;
			req = NULL;
		}
		pthread_mutex_unlock(&glue->lock);
	}
	free(req);
}

static void piece_done(struct dev_io *io, int64_t res)
{
	struct dio_req *req = io->priv;

	/* After the last ioctx_dio_end the group may be gone: release only
	 * when this call was the last. */
	if (ioctx_dio_end(req->ctx, &req->dio, res))
		req_free(req);
}

static int64_t dio_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	/* iocb->ops is &glue->ops (the first member); the glue itself is the
	 * caller's, not const. */
	struct aio_dev_ioctx *glue = (struct aio_dev_ioctx *)(uintptr_t)iocb->ops;
	struct aio_dev *dev = glue->dev;
	uint64_t mask = aio_dev_block_size(dev) - 1;
	enum dev_op op;
	struct dio_req *req;
	size_t n, left, max = glue->max_io;
	uint64_t off;
	char *buf;

	switch (iocb->opcode) {
	case IO_CMD_PREAD:
		op = DEV_OP_READ;
		break;
	case IO_CMD_PWRITE:
		op = DEV_OP_WRITE;
		break;
	case IO_CMD_FSYNC:
	case IO_CMD_FDSYNC:
		return aio_dev_flush(dev); /* synchronous (R2) */
	default:
		return -EINVAL;
	}
	if (iocb->offset < 0 ||
	    (((uintptr_t)iocb->buf | iocb->nbytes | (uint64_t)iocb->offset) & mask))
		return -EINVAL;
	if (!iocb->nbytes)
		return 0;

	n = (iocb->nbytes + max - 1) / max;
	if (n > INT32_MAX)
		return -EINVAL;
	req = req_alloc(glue, n);
	if (!req)
		return -ENOMEM;
	req->ctx = ctx;

	buf = iocb->buf;
	off = (uint64_t)iocb->offset;
	left = iocb->nbytes;
	for (size_t i = 0; i < n; i++) {
		struct dev_io *io = &req->ios[i];
		size_t len = left < max ? left : max;

		io->op = op;
		io->offset = off;
		io->buf = buf;
		io->len = len;
		io->done = piece_done;
		io->priv = req;
		req->ptrs[i] = io;
		buf += len;
		off += len;
		left -= len;
	}
	/* One reference for the group; from here on every outcome, even an
	 * I/O the kernel refuses, arrives through piece_done. */
	ioctx_dio_init(ctx, &req->dio, iocb, (int)n);
	aio_dev_submit(dev, req->ptrs, (int)n); /* req may be freed now */
	return -EIOCBQUEUED;
}

static int dio_cancel(struct ioctx *ctx, struct ioctx_iocb *iocb, struct ioctx_event *res)
{
	return -EAGAIN; /* device I/O cannot be recalled */
}

void aio_dev_ioctx_init(struct aio_dev_ioctx *glue, struct aio_dev *dev, size_t max_io)
{
	size_t bs = aio_dev_block_size(dev);

	if (!max_io)
		max_io = AIO_DEV_IOCTX_MAX_IO;
	max_io = max_io / bs * bs;
	if (!max_io)
		max_io = bs;
	glue->ops.submit = dio_submit;
	glue->ops.cancel = dio_cancel;
	glue->dev = dev;
	glue->max_io = max_io;
	pthread_mutex_init(&glue->lock, NULL);
	glue->free = NULL;
	glue->nfree = 0;
}

void aio_dev_ioctx_destroy(struct aio_dev_ioctx *glue)
{
	struct dio_req *req = glue->free;

	while (req) {
		struct dio_req *next = req->next_free;
		free(req);
		req = next;
	}
	glue->free = NULL;
	glue->nfree = 0;
	pthread_mutex_destroy(&glue->lock);
}
