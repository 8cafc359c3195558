/*
 * ring.h: the completion ring of an ioctx (private to ioctx.c).
 *
 * Layer: inside ioctx; calls only C11 atomics. One producer at a time (the
 * caller holds the ctx lock, as the kernel holds ctx_lock in aio_complete),
 * any number of lock-free consumers (CAS on head). head and tail are
 * free-running 64-bit counters; an entry's index is counter & mask.
 *
 * Ordering rules, each at the one place that needs it:
 *   push: entry stores, then store-release of tail  (event before tail)
 *   pop:  load-acquire of tail, then entry loads     (tail before event)
 *   pop:  entry loads, then CAS of head               (read before reuse)
 * Overflow is impossible by construction: the caller never has more than
 * size entries unconsumed (ioctx_get_req refuses first), so push never
 * reaches an entry a consumer has not claimed yet.
 */
#ifndef EIOCBFS_IOCTX_RING_H
#define EIOCBFS_IOCTX_RING_H

#include "ioctx.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Named barriers, liburing style: the ring code reads as intent. */
#define smp_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define smp_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)

/* An entry. Atomic fields: a consumer that lost the race for head may read
 * an entry while the producer rewrites it (its CAS then fails and it
 * retries), so these loads must not be data races. Relaxed: the ordering
 * comes from tail and head. */
struct ring_entry {
	_Atomic uint64_t obj, data;
	_Atomic int64_t res, res2;
};

struct ring {
	struct ring_entry *entry; /* size = mask + 1, a power of two */
	uint64_t mask;
	_Alignas(64) _Atomic uint64_t tail; /* producer */
	_Alignas(64) _Atomic uint64_t head; /* consumers */
};

/* Producer. Caller holds the ctx lock and guarantees a free entry. */
static inline void ring_push(struct ring *r, const struct ioctx_event *ev)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct ring_entry *e = &r->entry[t & r->mask];

	atomic_store_explicit(&e->obj, ev->obj, memory_order_relaxed);
	atomic_store_explicit(&e->data, ev->data, memory_order_relaxed);
	atomic_store_explicit(&e->res, ev->res, memory_order_relaxed);
	atomic_store_explicit(&e->res2, ev->res2, memory_order_relaxed);
	/*
	 * Make the event visible before the tail that publishes it (release:
	 * pairs with the acquire of tail in ring_pop). seq_cst, stronger than
	 * release, also orders this store before the producer's later load of
	 * the waiter count, against a consumer's increment of it before its
	 * ring_empty check (see ioctx_getevents): no lost wake-up.
	 */
	atomic_store_explicit(&r->tail, t + 1, memory_order_seq_cst);
}

/* Consumer, lock-free: claim and copy up to max (>= 1) entries. Returns
 * the number taken. Any number of threads may call it concurrently. */
static inline long ring_pop(struct ring *r, struct ioctx_event *ev, long max)
{
	/* acquire: whoever advanced head to here had seen tail >= head, so
	 * the tail we load next is not older than this head */
	uint64_t head = smp_load_acquire(&r->head);
	for (;;) {
		/* acquire: pairs with ring_push's store of tail: the entries
		 * before tail are completely written */
		uint64_t tail = smp_load_acquire(&r->tail);
		uint64_t n = tail - head;
		if (n == 0)
			return 0;
		if (n > (uint64_t)max)
			n = (uint64_t)max;
		if (n > r->mask + 1)
			n = r->mask + 1; /* a stale head: the CAS below fails */
		for (uint64_t i = 0; i < n; i++) {
			struct ring_entry *e = &r->entry[(head + i) & r->mask];
			ev[i].obj = atomic_load_explicit(&e->obj, memory_order_relaxed);
			ev[i].data = atomic_load_explicit(&e->data, memory_order_relaxed);
			ev[i].res = atomic_load_explicit(&e->res, memory_order_relaxed);
			ev[i].res2 = atomic_load_explicit(&e->res2, memory_order_relaxed);
		}
		/* Claim [head, head + n). acq_rel: our entry loads above happen
		 * before whatever lets the producer reuse them. If another
		 * consumer claimed first, our copies may be stale: retry from
		 * the head it left (loaded by the failed CAS, acquire). */
		if (atomic_compare_exchange_weak_explicit(
			&r->head, &head, head + n, memory_order_acq_rel, memory_order_acquire))
			return (long)n;
	}
}

/* seq_cst loads: see ring_push, the waiter handshake. */
static inline bool ring_empty(struct ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_seq_cst) ==
	       atomic_load_explicit(&r->tail, memory_order_seq_cst);
}

#endif /* EIOCBFS_IOCTX_RING_H */
