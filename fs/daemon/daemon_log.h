/*
 * daemon_log.h: the daemon's log lines from the layers below it (layer:
 * daemon edge; calls fuse_log and ratelimit.h). Everything goes through
 * fuse_log: stderr in the foreground (-f), syslog once main.c has detached
 * (it installs its syslog log function then). Oops records (legacy mode's
 * double completions, from ioctx through fsio_set_oops_log) are rate
 * limited: the first OOPS_BURST are logged, then at most one summary
 * line a second with the count held back, and a last one at stop.
 * mainline's stale page cache warnings have their own limit (DAEMON_STALE_*).
 */
#ifndef EIOCBFS_DAEMON_LOG_H
#define EIOCBFS_DAEMON_LOG_H

#define OOPS_BURST 10
/* mainline's stale page cache warnings: as the kernel's
   dio_warn_stale_pagecache(), 10 lines a day (then a count at unmount). */
#define DAEMON_STALE_BURST 10
#define DAEMON_STALE_INTERVAL_NS (86400ull * 1000000000ull)

struct daemon_log;

struct daemon_log *daemon_log_new(void); /* NULL: out of memory */
/* An oops record (one line, no newline); arg is the daemon_log. Any thread. */
void daemon_log_oops(void *arg, const char *line);
/* A stale page cache warning (mainline mode, one line); arg is the daemon_log. */
void daemon_log_stale(void *arg, const char *line);
/* A fault injection's verbose line; arg unused. */
void daemon_log_fault(void *arg, const char *line);
/* Reports what the limiter still holds back, then frees. NULL is a no-op. */
void daemon_log_free(struct daemon_log *log);

#endif
