/*
 * control_daemon.c: the daemon's control handler (see control_daemon.h).
 * Calls control_fault.c, control_trace.c, ioctx.h and pagecache.h (their
 * stats) only.
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

static int cd_ioctx_json(struct ctl_daemon *cd, struct ctl_out *out)
{
	struct ioctx_stats s = {0};

	if (cd->ioctx)
		ioctx_get_stats(cd->ioctx, &s);
	return ctl_printf(out,
			  "\"ioctx\": {\"submitted\": %" PRIu64 ", \"completed\": %" PRIu64
			  ", \"events\": %" PRIu64 ", \"pending_errors\": %" PRIu64
			  ", \"double_completions\": %" PRIu64 ", \"cancelled\": %" PRIu64
			  ", \"inflight\": %" PRIu64 ", \"dropped_errors\": %" PRIu64
			  ", \"reaped\": %" PRIu64 ", \"bugs\": %" PRIu64 "}",
			  s.submitted, s.completed, s.events, s.pending_errors,
			  s.double_completions, s.cancelled, s.inflight, s.dropped_errors, s.reaped,
			  s.bugs);
}

static int cd_pagecache_json(struct ctl_daemon *cd, struct ctl_out *out)
{
	size_t need;
	char *buf;
	int ret;

	if (!cd->pc)
		return ctl_printf(out, "\"pagecache\": {\"pages\": 0, \"dirty\": 0, \"hits\": 0, "
				       "\"misses\": 0, \"invalidations\": 0, "
				       "\"invalidate_failures\": 0}");
	need = pc_format_json(cd->pc, NULL, 0) + 256; /* counters may grow in between */
	buf = malloc(need);
	if (!buf)
		return -ENOMEM;
	pc_format_json(cd->pc, buf, need);
	ret = ctl_printf(out, "%s", buf);
	free(buf);
	return ret;
}

static int cd_stats(struct ctl_daemon *cd, struct ctl_out *out)
{
	const char *sem = cd->ioctx	  ? ioctx_semantics_name(ioctx_mode(cd->ioctx))
			  : cd->semantics ? cd->semantics
					  : "deferred";
	int ret;

	ret = ctl_printf(out, "{\"semantics\": \"%s\", ", sem);
	if (!ret)
		ret = cd_ioctx_json(cd, out);
	if (!ret)
		ret = ctl_printf(out, ", ");
	if (!ret)
		ret = cd_pagecache_json(cd, out);
	if (!ret && cd->faults) {
		ret = ctl_printf(out, ", ");
		if (!ret)
			ret = ctl_fault_json(cd->faults, out);
	}
	if (!ret && cd->extra_json) {
		ret = ctl_printf(out, ", ");
		if (!ret)
			ret = cd->extra_json(cd->extra_arg, out);
	}
	if (!ret)
		ret = ctl_printf(out, "}\n");
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
