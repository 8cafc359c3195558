/* daemon_log.c: see daemon_log.h (layer: daemon edge; calls fuse_log, ratelimit). */
#include "daemon_log.h"

#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "ratelimit.h"

struct daemon_log {
	struct ratelimit oops;
	struct ratelimit stale; /* mainline's stale page cache warnings */
};

struct daemon_log *daemon_log_new(void)
{
	struct daemon_log *log = calloc(1, sizeof(*log));

	if (log) {
		ratelimit_init(&log->oops, OOPS_BURST, 1000000000ull);
		ratelimit_init(&log->stale, DAEMON_STALE_BURST, DAEMON_STALE_INTERVAL_NS);
	}
	return log;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void held_back(uint64_t n)
{
	fuse_log(FUSE_LOG_ERR,
		 "eiocbfs: oops: %" PRIu64
		 " more oops records not logged (rate limit: the first %d, "
		 "then one count a second; all are counted in eiocbctl stats)\n",
		 n, OOPS_BURST);
}

void daemon_log_oops(void *arg, const char *line)
{
	struct daemon_log *log = arg;
	uint64_t summary;

	if (ratelimit_take(&log->oops, now_ns(), &summary))
		fuse_log(FUSE_LOG_ERR, "%s\n", line);
	else if (summary)
		held_back(summary);
}

static void stale_held_back(uint64_t n)
{
	fuse_log(FUSE_LOG_CRIT,
		 "eiocbfs: %" PRIu64 " more page cache invalidation failures not logged (rate "
		 "limit: %d a day, as the kernel's; all are counted in eiocbctl stats)\n",
		 n, DAEMON_STALE_BURST);
}

void daemon_log_stale(void *arg, const char *line)
{
	struct daemon_log *log = arg;
	uint64_t summary;

	if (ratelimit_take(&log->stale, now_ns(), &summary))
		fuse_log(FUSE_LOG_CRIT, "%s\n", line);
	else if (summary)
		stale_held_back(summary);
}

void daemon_log_fault(void *arg, const char *line)
{
	(void)arg;
	fuse_log(FUSE_LOG_WARNING, "eiocbfs: fault: %s\n", line);
}

void daemon_log_free(struct daemon_log *log)
{
	if (!log)
		return;
	uint64_t n = ratelimit_flush(&log->oops);
	if (n)
		held_back(n);
	if ((n = ratelimit_flush(&log->stale)))
		stale_held_back(n);
	ratelimit_destroy(&log->oops);
	ratelimit_destroy(&log->stale);
	free(log);
}
