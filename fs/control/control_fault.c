/*
 * control_fault.c: the "fault" command of the control channel (layer:
 * daemon edge): fault.h's parser and formatters behind the ctl_out
 * interface. Calls control_msg.c and fault.c only.
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

int ctl_fault_json(struct faults *f, struct ctl_out *out)
{
	return ctl_fault_append(f, out, fault_format_json);
}
