/* aio_dev_ops.h: ioctx requests straight onto an aio_dev (the glue).
 *
 * Layer: between ioctx (calls ioctx_dio_*, ioctx_propagate_error) and
 * aio_dev (calls aio_dev_submit). The filesystem's direct path is modelled
 * on it: one request -> N device I/Os -> one completion (docs/semantics.md R1, R2).
 *
 * Use:
 *   struct aio_dev_ioctx glue;
 *   aio_dev_ioctx_init(&glue, dev, 0);
 *   ioctx_get_req(ctx, &iocb);
 *   iocb->ops = &glue.ops;              (iocb->priv stays the caller's)
 *   iocb->opcode = IO_CMD_PREAD or IO_CMD_PWRITE (libaio's, the kernel ABI;
 *                  IO_CMD_FSYNC / IO_CMD_FDSYNC flush the device, synchronously)
 *   iocb->buf, nbytes, offset: aligned to aio_dev_block_size(dev)
 *   ioctx_submit(ctx, iocb);
 *   ...
 *   aio_dev_close(dev) (or aio_dev_drain), then aio_dev_ioctx_destroy(&glue)
 *
 * The submit method returns -EINVAL for a misaligned buffer, length or
 * offset, or an unknown opcode; 0 for nbytes == 0; -ENOMEM; else it splits
 * the request into pieces of at most max_io bytes, takes one reference for
 * the group (ioctx_dio_init), submits them in one batch and returns
 * -EIOCBQUEUED. The device completion thread ends each piece
 * (ioctx_dio_end); the last one completes the iocb with the first error,
 * else the byte count (short only at the end of the device).
 *
 * Cancel (R6): device I/O in flight cannot be recalled, so the cancel
 * method answers -EAGAIN ("too late"); the request completes normally.
 *
 * Consuming events without a thread hop (docs/design.md, Threading): drain the
 * ring (ioctx_getevents with a zero timeout) in aio_dev's batch hook, on the
 * completion thread; what it submits leaves in one io_submit (plugging).
 * But the event is inserted by the LAST reference drop (R5), and when the
 * device completes before ioctx_submit has dropped the submission reference,
 * that drop happens on the submitting thread, after the batch hook has run:
 * such an event would wait for the next batch, maybe forever. So also drain
 * from ioctx's notify callback when !aio_dev_on_completion_thread(dev), with
 * one drainer at a time (tools/bench/bench-ioctx.c, consume(), does exactly this).
 */
#ifndef EIOCBFS_AIO_DEV_OPS_H
#define EIOCBFS_AIO_DEV_OPS_H

#include <pthread.h>
#include <stddef.h>

#include "aio_dev.h"
#include "ioctx.h"

struct aio_dev_ioctx {
	struct ioctx_ops ops; /* first: iocb->ops points here */
	struct aio_dev *dev;
	size_t max_io; /* largest device I/O, a block multiple */
	/* private: a cache of request memory */
	pthread_mutex_t lock;
	void *free;
	unsigned nfree;
};

/* max_io: 0 for the default (1 MiB); rounded down to a block multiple. */
void aio_dev_ioctx_init(struct aio_dev_ioctx *glue, struct aio_dev *dev, size_t max_io);

/* Frees the cache. Precondition: no request of this glue is in flight
 * (e.g. after aio_dev_drain or aio_dev_close of its device). */
void aio_dev_ioctx_destroy(struct aio_dev_ioctx *glue);

#endif
