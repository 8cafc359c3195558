/*
 * control_trace.c: the control channel's "trace" command (see
 * control_trace.h). Layer: daemon edge; calls control.h and ioctx/trace.h.
 */
#include "control_trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* A decimal >= 0 without junk; 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int trace_start(struct iotrace *t, int argc, char **argv, struct ctl_out *out)
{
	struct iotrace_opts o = {0};

	for (int i = 2; i < argc; i += 2) {
		uint64_t v;

		if (i + 1 >= argc || parse_u64(argv[i + 1], &v) < 0)
			return ctl_error(out, "trace start: %s needs a number", argv[i]);
		if (!strcmp(argv[i], "--ino")) {
			o.filter_ino = true;
			o.ino = v;
		} else if (!strcmp(argv[i], "--max-events")) {
			if (!v)
				return ctl_error(out, "trace start: --max-events must be > 0");
			o.max_events = v;
		} else if (!strcmp(argv[i], "--per-thread")) {
			if (!v || v > IOTRACE_PER_THREAD_MAX)
				return ctl_error(out, "trace start: --per-thread must be 1..%u",
						 IOTRACE_PER_THREAD_MAX);
			o.per_thread = (unsigned)v;
		} else {
			return ctl_error(out,
					 "trace start: unknown option '%s' "
					 "(--ino N, --max-events N, --per-thread N)",
					 argv[i]);
		}
	}
	int r = iotrace_start(t, &o);
	if (r < 0)
		return ctl_error(out, "trace start: %s", strerror(-r));
	if (o.filter_ino)
		return ctl_printf(out, "tracing inode %" PRIu64 "\n", o.ino);
	return ctl_printf(out, "tracing\n");
}

static int put_out(void *arg, const char *s, size_t len)
{
	return ctl_write(arg, s, len);
}

static int trace_dump(struct iotrace *t, const char *sem, struct ctl_out *out)
{
	struct iotrace_rec *recs;
	struct iotrace_info info;
	size_t n;
	int r = iotrace_snapshot(t, &recs, &n, &info);

	if (r < 0)
		return ctl_error(out, "trace dump: %s", strerror(-r));
	/* Leave room under the payload limit: the writer keeps the newest
	   records that fit and says how many it left out. */
	r = iotrace_write_json(recs, n, &info, sem, CTL_MAX_PAYLOAD - 4096, put_out, out);
	free(recs);
	if (r < 0)
		return ctl_error(out, "trace dump: %s", strerror(-r));
	return 0;
}

int ctl_trace_command(struct iotrace *t, const char *semantics, int argc, char **argv,
		      struct ctl_out *out)
{
	if (argc < 2)
		return ctl_error(out, "trace: needs start, stop or dump");
	if (!strcmp(argv[1], "start"))
		return trace_start(t, argc, argv, out);
	if (argc > 2)
		return ctl_error(out, "trace %s: takes no arguments", argv[1]);
	if (!strcmp(argv[1], "stop")) {
		iotrace_stop(t);
		return ctl_printf(out, "stopped\n");
	}
	if (!strcmp(argv[1], "dump"))
		return trace_dump(t, semantics, out);
	return ctl_error(out, "trace: '%s' is not start, stop or dump", argv[1]);
}
