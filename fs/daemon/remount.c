/*
 * remount.c: the two sides of a remount (see remount.h).
 *
 * To read-only: the kernel first (it refuses, EBUSY, while a file is open
 * for writing, and syncs the mount's dirty mapping pages down to us), then
 * the daemon (write-back, journal commit, then EROFS to every change). To
 * read-write: the daemon first, then the kernel. So the kernel never lets
 * a write through that the daemon would refuse, and a refusal on either
 * side leaves both as they were.
 */
#include "remount.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "daemon_opts.h"
#include "fs.h"

/* Sends line to the daemon of mountpoint (control=PATH first, if given). */
static int remount_call(const struct daemon_options *o, const char *line, char *err, size_t errlen)
{
	char why[1024] = "";
	struct ctl_reply r;
	int ret;

	if (o->control)
		ret = ctl_call(o->control, line, 0, &r, why, sizeof(why));
	else
		ret = ctl_call_mount(o->mountpoint, line, 0, &r, why, sizeof(why));
	if (ret < 0) {
		if (o->control)
			snprintf(err, errlen, "%s: cannot reach the daemon: %s", o->mountpoint,
				 why);
		else
			snprintf(err, errlen, "%s", why);
		return -1;
	}
	ret = r.ok ? 0 : -1;
	if (!r.ok)
		snprintf(err, errlen, "%s: %s", o->mountpoint, r.err);
	ctl_reply_free(&r);
	return ret;
}

static int remount_kernel(const struct daemon_options *o, unsigned long flags, char *err,
			  size_t errlen)
{
	/* No data: FUSE takes no options on a remount, only the flags. */
	if (mount(NULL, o->mountpoint, NULL, MS_REMOUNT | flags, NULL) < 0) {
		snprintf(err, errlen, "%s: remount: %s", o->mountpoint, strerror(errno));
		return -1;
	}
	return 0;
}

int daemon_remount_client(const struct daemon_options *o, char *err, size_t errlen)
{
	unsigned long flags = o->ms_flags;

	if (!o->readonly) {
		if (remount_call(o, "remount rw", err, errlen) < 0)
			return -1;
		return remount_kernel(o, flags & ~MS_RDONLY, err, errlen);
	}
	if (remount_kernel(o, flags | MS_RDONLY, err, errlen) < 0)
		return -1;
	if (remount_call(o, "remount ro", err, errlen) < 0) {
		char ignored[256];

		remount_kernel(o, flags & ~MS_RDONLY, ignored, sizeof(ignored));
		return -1;
	}
	return 0;
}

int daemon_remount_command(void *arg, int argc, char **argv, struct ctl_out *out,
			   const struct ctl_peer *peer)
{
	struct fs *fs = arg;
	bool ro;
	int ret;

	(void)peer;
	if (argc != 2 || (strcmp(argv[1], "ro") && strcmp(argv[1], "rw")))
		return ctl_error(out, "remount: needs ro or rw");
	ro = !strcmp(argv[1], "ro");
	ret = fs_remount(fs, ro);
	if (ret == -EROFS && !ro)
		return ctl_error(out, "remount rw: mounted with -o ro (the device is open "
				      "read-only): unmount and mount again");
	if (ret < 0)
		return ctl_error(out, "remount %s: %s", argv[1], strerror(-ret));
	return ctl_printf(out, "remount: %s\n", argv[1]);
}
