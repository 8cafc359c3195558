/*
 * control_fault.c: the "fault" command of the control channel (layer:
 * daemon edge): fault.h's parser and formatters behind the ctl_out
 * interface. Calls control_msg.c, fault.c and
 * jansson only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control_fault.h"

/* Appends what an snprintf-like formatter of the faults writes. */
static int ctl_fault_append(struct faults *f, struct ctl_out *out,
			    size_t (*fmt)(struct faults *, char *, size_t))
{
	/* Counters may grow between the two calls: leave room for that. */
	size_t need = fmt(f, NULL, 0) + 256;
	char *buf = malloc(need);
	int ret;

	if (!buf)
		return -ENOMEM;
	fmt(f, buf, need);
	ret = ctl_printf(out, "%s", buf);
	free(buf);
	return ret;
}

int ctl_fault_command(struct faults *f, int argc, char **argv, struct ctl_out *out)
{
	if (argc == 1)
		return ctl_fault_append(f, out, fault_format);
	if (fault_set_argv(f, argc - 1, argv + 1, out->err, sizeof(out->err)) < 0)
		return -EINVAL;
	return 0;
}

int ctl_faults_command(struct faults *f, int argc, char **argv, struct ctl_out *out)
{
	if (argc == 2 && !strcmp(argv[1], "log"))
		return ctl_fault_append(f, out, fault_log_format);
	if (argc == 2 && !strcmp(argv[1], "save"))
		return ctl_fault_append(f, out, fault_save_format);
	return ctl_error(out, "faults: needs log or save");
}

/* One point's knobs and counters; unset knobs are null or left out. */
static json_t *point_json(struct faults *f, enum fault_point p)
{
	struct fault_knobs k;
	struct fault_counters c;
	char eb[16];
	json_t *o;

	fault_get(f, p, &k, &c);
	o = json_pack("{s:b}", "enabled", k.enabled);
	if (!o)
		return NULL;
	if (p == FAULT_DELAY)
		json_object_set_new(o, "ms", json_integer(k.ms));
	else
		json_object_set_new(o, "errno",
				    json_string(fault_errno_name(k.err, eb, sizeof(eb))));
	json_object_set_new(o, "probability", json_integer(k.probability));
	json_object_set_new(o, "interval", json_integer((json_int_t)k.interval));
	json_object_set_new(o, "times", json_integer(k.times));
	json_object_set_new(o, "ino", k.has_ino ? json_integer((json_int_t)k.ino) : json_null());
	json_object_set_new(o, "offset",
			    k.has_offset
				? json_pack("[I,I]", (json_int_t)k.off_start, (json_int_t)k.off_end)
				: json_null());
	json_object_set_new(o, "io", json_integer(k.io));
	json_object_set_new(o, "kind", json_string(fault_kind_name(k.kind)));
	if (k.nth)
		json_object_set_new(o, "nth", json_integer((json_int_t)k.nth));
	if (k.pid)
		json_object_set_new(o, "pid", json_integer(k.pid));
	json_object_set_new(o, "verbose", json_boolean(k.verbose));
	json_object_set_new(o, "times_left", json_integer(c.times_left));
	json_object_set_new(o, "calls", json_integer((json_int_t)c.calls));
	json_object_set_new(o, "eligible", json_integer((json_int_t)c.eligible));
	json_object_set_new(o, "injected", json_integer((json_int_t)c.injected));
	return o;
}

json_t *ctl_fault_json(struct faults *f)
{
	json_t *all = json_object();

	for (int p = 0; all && p < FAULT_NPOINTS; p++) {
		json_t *o = point_json(f, p);

		if (!o || json_object_set_new(all, fault_point_name(p), o) < 0) {
			json_decref(all);
			return NULL;
		}
	}
	return all;
}
