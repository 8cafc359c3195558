/*
 * control_daemon.h: the daemon's control handler (layer: daemon edge, glue
 * between control.h and the layers it reports on). It runs the commands of
 * eiocbctl over the daemon's objects: "fault ..." (control_fault.h), "stats"
 * (the stats JSON: semantics, ioctx, pagecache, faults) and
 * "trace ..." (forwarded to a trace callback when the daemon has one) and
 * "crash" (forwarded to the crash callback: a simulated power cut) and
 * "remount ro|rw" (forwarded to the remount callback).
 * Calls control_fault.c, ioctx.h (stats) and pagecache.h (stats) only.
 *
 * Use from the daemon, once the mount is up:
 *	static struct ctl_daemon cd = { .faults = f, .ioctx = ctx, .pc = pc };
 *	ret = ctl_start(mountpoint, opts.control, getuid(), ctl_daemon_handle, &cd,
 *			&ctl, err, sizeof(err));
 *	... ctl_stop(ctl) before freeing what cd points to.
 */
#ifndef EIOCBFS_CONTROL_DAEMON_H
#define EIOCBFS_CONTROL_DAEMON_H

#include <jansson.h>

#include "control.h"

struct faults;
struct ioctx;
struct pc;

struct ctl_daemon {
	const char *semantics; /* reported when ioctx is NULL ("deferred" if NULL too) */
	struct faults *faults; /* NULL: "fault" answers that there are none */
	struct ioctx *ioctx;   /* NULL: ioctx counters reported as 0 */
	struct pc *pc;	       /* NULL: pagecache counters reported as 0 */
	ctl_handler_fn trace;  /* NULL: "trace: not supported yet" */
	void *trace_arg;
	ctl_handler_fn crash; /* NULL: "crash: not supported" (fs/daemon/crash.h) */
	void *crash_arg;
	ctl_handler_fn remount; /* NULL: "remount: not supported" (fs/daemon/remount.h) */
	void *remount_arg;
	/* NULL, or adds more members to the stats object (the daemon's own
	   counters); 0 or a negative errno. */
	int (*extra_json)(void *arg, json_t *stats);
	void *extra_arg;
};

/* A ctl_handler_fn; arg is a struct ctl_daemon. */
int ctl_daemon_handle(void *arg, int argc, char **argv, struct ctl_out *out,
		      const struct ctl_peer *peer);

#endif
