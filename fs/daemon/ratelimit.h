/*
 * ratelimit.h: a log rate limiter (layer: daemon edge; pure, calls
 * pthreads only). The first `burst` lines pass; after that a line is only
 * counted, and at most one summary per `interval_ns` reports how many were
 * held back since the previous one (a burst of thousands of double
 * completions in legacy mode is a handful of log lines, not thousands).
 * The caller passes the clock, so tests drive time themselves.
 */
#ifndef EIOCBFS_RATELIMIT_H
#define EIOCBFS_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	pthread_mutex_t lock;
	unsigned burst;	      /* lines that pass before any is held back */
	uint64_t interval_ns; /* at least this long between two summaries */
	uint64_t passed;      /* lines let through */
	uint64_t held;	      /* lines held back since the last summary */
	uint64_t held_total;  /* lines held back ever */
	uint64_t last_ns;     /* the last summary, or when the burst ran out */
};

void ratelimit_init(struct ratelimit *rl, unsigned burst, uint64_t interval_ns);
void ratelimit_destroy(struct ratelimit *rl);
/* One line at time now_ns (monotonic): true when it is to be logged. When
   false, *summary is the count to report in a summary line now (0: none
   due yet; the count is then kept for a later one). */
bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns, uint64_t *summary);
/* The count held back and not yet reported (for a last summary at stop);
   resets it. */
uint64_t ratelimit_flush(struct ratelimit *rl);

#endif
