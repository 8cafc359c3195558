/*
 * demo_handler.c: the example control handler (see demo_handler.h).
 * Calls control_fault.h, the ctl_out writers and jansson only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control_fault.h"
#include "demo_handler.h"

static int demo_stats(struct demo *d, struct ctl_out *out)
{
	json_t *root = json_pack("{s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, "
				 "s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:o*}",
				 "semantics", "deferred", "ioctx", "submitted", 0, "completed", 0,
				 "events", 0, "propagated_errors", 0, "double_completions", 0,
				 "cancelled", 0, "inflight", 0, "pagecache", "pages", 0, "dirty", 0,
				 "hits", 0, "misses", 0, "invalidations", 0, "invalidate_failures",
				 0, "faults", ctl_fault_json(d->faults));
	char *text = root && json_object_get(root, "faults") ? json_dumps(root, 0) : NULL;
	int ret = text ? ctl_printf(out, "%s\n", text) : -ENOMEM;

	free(text);
	json_decref(root);
	return ret;
}

int demo_handle(void *arg, int argc, char **argv, struct ctl_out *out, const struct ctl_peer *peer)
{
	struct demo *d = arg;

	d->calls++;
	if (!strcmp(argv[0], "fault"))
		return ctl_fault_command(d->faults, argc, argv, out);
	if (!strcmp(argv[0], "stats"))
		return argc == 1 ? demo_stats(d, out) : ctl_error(out, "stats takes no arguments");
	if (!strcmp(argv[0], "trace")) {
		if (argc == 2 && !strcmp(argv[1], "dump"))
			return ctl_printf(out, "demo trace line 1\ndemo trace line 2\n");
		return ctl_error(out, "trace: not supported yet");
	}
	if (!strcmp(argv[0], "big")) {
		char chunk[65536];
		int ret = 0;

		memset(chunk, 'x', sizeof(chunk));
		while (!ret)
			ret = ctl_write(out, chunk, sizeof(chunk));
		return 0; /* the server notices the overflow */
	}
	return ctl_error(out, "unknown command '%s'", argv[0]);
}
