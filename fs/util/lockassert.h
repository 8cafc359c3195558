/*
 * lockassert.h: asserting that the caller holds a lock (layer: util, the
 * bottom of fs/, which every layer may include).
 *
 * A lock whose holder is asserted carries a struct lock_owner. The thread
 * that takes it exclusively (a mutex, or an rwlock for writing) records
 * itself after taking it (lock_owned) and forgets itself before releasing
 * it, or before a condition wait releases it (lock_disowned); an rwlock
 * taken for reading counts its readers (lock_read_owned/lock_read_disowned,
 * or lock_rw_disowned when the releaser does not know which side it holds).
 * LOCK_HELD(o) fails unless this thread holds the lock exclusively;
 * LOCK_HELD_ANY(o) unless it does, or the lock is held for reading (readers
 * are counted, not named: the check cannot tell which thread reads).
 *
 * Checked in Debug builds (NDEBUG undefined) and in the sanitizer builds
 * (EIOCBFS_LOCK_CHECKS); in Release builds the calls compile to nothing. A
 * failed check prints the lock, the place and the function, then aborts.
 */
#ifndef EIOCBFS_LOCKASSERT_H
#define EIOCBFS_LOCKASSERT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#if !defined(NDEBUG) || defined(EIOCBFS_LOCK_CHECKS)
#define LOCK_CHECKS 1
#else
#define LOCK_CHECKS 0
#endif

struct lock_owner {
	_Atomic unsigned long writer; /* pthread_self() of the exclusive holder; 0: none */
	atomic_uint readers;	      /* holders for reading (rwlocks) */
};

static inline unsigned long lock_self(void)
{
	return (unsigned long)pthread_self();
}

static inline void lock_owned(struct lock_owner *o)
{
#if LOCK_CHECKS
	atomic_store_explicit(&o->writer, lock_self(), memory_order_relaxed);
#else
	(void)o;
#endif
}

static inline void lock_disowned(struct lock_owner *o)
{
#if LOCK_CHECKS
	atomic_store_explicit(&o->writer, 0, memory_order_relaxed);
#else
	(void)o;
#endif
}

static inline void lock_read_owned(struct lock_owner *o)
{
#if LOCK_CHECKS
	atomic_fetch_add_explicit(&o->readers, 1, memory_order_relaxed);
#else
	(void)o;
#endif
}

static inline void lock_read_disowned(struct lock_owner *o)
{
#if LOCK_CHECKS
	atomic_fetch_sub_explicit(&o->readers, 1, memory_order_relaxed);
#else
	(void)o;
#endif
}

/* Before releasing an rwlock held either way by this thread. */
static inline void lock_rw_disowned(struct lock_owner *o)
{
#if LOCK_CHECKS
	if (atomic_load_explicit(&o->writer, memory_order_relaxed) == lock_self())
		lock_disowned(o);
	else
		lock_read_disowned(o);
#else
	(void)o;
#endif
}

static inline void lock_check_failed(const char *lock, const char *file, int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s: lock not held by the caller: %s\n", file, line, func, lock);
	abort();
}

#if LOCK_CHECKS
#define LOCK_HELD(o)                                                                               \
	(atomic_load_explicit(&(o)->writer, memory_order_relaxed) == lock_self()                   \
	     ? (void)0                                                                             \
	     : lock_check_failed(#o, __FILE__, __LINE__, __func__))
#define LOCK_HELD_ANY(o)                                                                           \
	(atomic_load_explicit(&(o)->writer, memory_order_relaxed) == lock_self() ||                \
		 atomic_load_explicit(&(o)->readers, memory_order_relaxed) > 0                     \
	     ? (void)0                                                                             \
	     : lock_check_failed(#o, __FILE__, __LINE__, __func__))
#else
#define LOCK_HELD(o) ((void)0)
#define LOCK_HELD_ANY(o) ((void)0)
#endif

#endif
