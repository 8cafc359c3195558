/*
 * control_daemon.c: the daemon's control handler (see control_daemon.h).
 * Calls control_fault.c, control_trace.c, ioctx.h and pagecache.h (their
 * stats) and jansson (the stats JSON) only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "control_daemon.h"
#include "control_fault.h"
#include "control_trace.h"
#include "ioctx.h"
#include "pagecache.h"

#define U(x) ((json_int_t)(x)) /* counters are far below 2^63 */

static json_t *cd_ioctx_json(struct ctl_daemon *cd)
{
	struct ioctx_stats s = {0};

	if (cd->ioctx)
		ioctx_get_stats(cd->ioctx, &s);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "submitted",
			 U(s.submitted), "completed", U(s.completed), "events", U(s.events),
			 "propagated_errors", U(s.propagated_errors), "double_completions",
			 U(s.double_completions), "cancelled", U(s.cancelled), "inflight",
			 U(s.inflight), "dropped_errors", U(s.dropped_errors), "reaped",
			 U(s.reaped), "bugs", U(s.bugs));
}

static json_t *cd_pagecache_json(struct ctl_daemon *cd)
{
	struct pc_stats s = {0};

	if (cd->pc)
		pc_get_stats(cd->pc, &s);
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I}",
	    "pages", U(s.pages), "dirty", U(s.dirty), "hits", U(s.hits), "misses", U(s.misses),
	    "invalidations", U(s.invalidations), "invalidate_failures", U(s.invalidate_failures),
	    "invalidated_pages", U(s.invalidated), "evictions", U(s.evictions), "writebacks",
	    U(s.writebacks), "writeback_errors", U(s.writeback_errors), "readahead", U(s.readahead),
	    "max_pages", U(s.max_pages), "dirty_limit", U(s.dirty_limit), "bytes", U(s.bytes),
	    "wb_err_set", U(s.wb_err_set), "wb_err_reported", U(s.wb_err_reported));
}

static int cd_stats(struct ctl_daemon *cd, struct ctl_out *out)
{
	const char *sem = cd->ioctx	  ? ioctx_semantics_name(ioctx_mode(cd->ioctx))
			  : cd->semantics ? cd->semantics
					  : "deferred";
	json_t *root = json_pack("{s:s, s:o*, s:o*}", "semantics", sem, "ioctx", cd_ioctx_json(cd),
				 "pagecache", cd_pagecache_json(cd));
	char *text = NULL;
	int ret = -ENOMEM;

	if (!root || !json_object_get(root, "ioctx") || !json_object_get(root, "pagecache"))
		goto out;
	if (cd->faults && json_object_set_new(root, "faults", ctl_fault_json(cd->faults)) < 0)
		goto out;
	if (cd->extra_json && cd->extra_json(cd->extra_arg, root) < 0)
		goto out;
	text = json_dumps(root, 0);
	if (text)
		ret = ctl_printf(out, "%s\n", text);
out:
	free(text);
	json_decref(root);
	return ret;
}

int ctl_daemon_handle(void *arg, int argc, char **argv, struct ctl_out *out,
		      const struct ctl_peer *peer)
{
	struct ctl_daemon *cd = arg;

	if (!strcmp(argv[0], "fault")) {
		if (!cd->faults)
			return ctl_error(out, "fault: this daemon has no fault points");
		return ctl_fault_command(cd->faults, argc, argv, out);
	}
	if (!strcmp(argv[0], "faults")) {
		if (!cd->faults)
			return ctl_error(out, "faults: this daemon has no fault points");
		return ctl_faults_command(cd->faults, argc, argv, out);
	}
	if (!strcmp(argv[0], "stats")) {
		if (argc > 1)
			return ctl_error(out, "stats: takes no arguments (got '%s')", argv[1]);
		return cd_stats(cd, out);
	}
	if (!strcmp(argv[0], "trace")) {
		if (!cd->trace && cd->ioctx) /* the ioctx's own tracer */
			return ctl_trace_command(ioctx_trace(cd->ioctx),
						 ioctx_semantics_name(ioctx_mode(cd->ioctx)), argc,
						 argv, out);
		if (!cd->trace)
			return ctl_error(out, "trace: this daemon has no I/O engine to trace");
		return cd->trace(cd->trace_arg, argc, argv, out, peer);
	}
	if (!strcmp(argv[0], "crash")) { /* changes state: privileged only (ctl_default_mutates) */
		if (!cd->crash)
			return ctl_error(out, "crash: not supported by this daemon");
		return cd->crash(cd->crash_arg, argc, argv, out, peer);
	}
	if (!strcmp(argv[0], "remount")) { /* changes state: privileged only */
		if (!cd->remount)
			return ctl_error(out, "remount: not supported by this daemon");
		return cd->remount(cd->remount_arg, argc, argv, out, peer);
	}
	return ctl_error(out, "unknown command '%s' (fault, faults, stats, trace, crash, remount)",
			 argv[0]);
}
