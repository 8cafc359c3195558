/*
 * errseq.h: per-file write-back error reporting, Linux's errseq_t
 * (lib/errseq.c) for the I/O layer.
 *
 * Layer: a leaf; C11 atomics only. Whoever loses written data of a file
 * (a failed write-back, a failed direct-write invalidation in the mainline
 * semantics, an injected fsync failure) records the error in the file's
 * errseq_t with errseq_set(); every open file description holds a cursor
 * sampled at open (errseq_sample) and fsync reports through it with
 * errseq_check_and_advance(): each open file description sees each error
 * once, and one that was open when the error happened sees it even if
 * another descriptor reported it first.
 *
 *	open:   file->wb_err = errseq_sample(&inode->wb_err);
 *	error:  errseq_set(&inode->wb_err, -EIO);
 *	fsync:  r = errseq_check_and_advance(&inode->wb_err, &file->wb_err);
 *
 * The 32-bit value holds, as in the kernel: the last errno (low 12 bits),
 * a SEEN flag (some cursor advanced past this error), and a counter that
 * changes when a new error is recorded after the last one was seen (so
 * cursors notice it even when the errno is the same). An error nobody has
 * seen yet does not bump the counter: nobody can miss it.
 */
#ifndef EIOCBFS_ERRSEQ_H
#define EIOCBFS_ERRSEQ_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint32_t errseq_t;

#define ERRSEQ_MAX_ERRNO 4095u
#define ERRSEQ_SEEN (1u << 12)
#define ERRSEQ_CTR_INC (1u << 13)

/* Record err (negative errno; 0 or out of range is ignored); returns the new value. */
static inline uint32_t errseq_set(errseq_t *eseq, int err)
{
	uint32_t old = atomic_load_explicit(eseq, memory_order_acquire), next;

	if (err >= 0 || (uint32_t)-err > ERRSEQ_MAX_ERRNO)
		return old;
	for (;;) {
		next = (old & ~(ERRSEQ_MAX_ERRNO | ERRSEQ_SEEN)) | (uint32_t)-err;
		if (old & ERRSEQ_SEEN)
			next += ERRSEQ_CTR_INC;
		if (next == old)
			return next;
		if (atomic_compare_exchange_weak_explicit(eseq, &old, next, memory_order_acq_rel,
							  memory_order_acquire))
			return next;
	}
}

/*
 * A cursor for a new open file description: the current value if its error
 * was already seen, else 0, so an error nobody has reported yet is reported
 * to this opener too (the kernel's choice since 4.16).
 */
static inline uint32_t errseq_sample(errseq_t *eseq)
{
	uint32_t old = atomic_load_explicit(eseq, memory_order_acquire);

	return (old & ERRSEQ_SEEN) ? old : 0;
}

/* 0 when nothing new happened since the cursor was taken, else the negative errno. */
static inline int errseq_check(errseq_t *eseq, uint32_t since)
{
	uint32_t cur = atomic_load_explicit(eseq, memory_order_acquire);

	return cur == since ? 0 : -(int)(cur & ERRSEQ_MAX_ERRNO);
}

/*
 * Report an error once per cursor: if something was recorded since *since,
 * mark it seen, move the cursor to it and return its negative errno; else 0.
 * The caller serializes calls on one cursor (one file description).
 */
static inline int errseq_check_and_advance(errseq_t *eseq, uint32_t *since)
{
	uint32_t old = atomic_load_explicit(eseq, memory_order_acquire), next;

	if (old == *since)
		return 0;
	next = old | ERRSEQ_SEEN;
	if (next != old)
		atomic_compare_exchange_strong_explicit(eseq, &old, next, memory_order_acq_rel,
							memory_order_acquire);
	/* A failed exchange means a newer error: the next call reports it. */
	*since = next;
	return -(int)(next & ERRSEQ_MAX_ERRNO);
}

#endif
