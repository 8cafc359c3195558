/*
 * remount.h: `mount -o remount,ro|rw` of a running eiocbfs (layer: daemon
 * edge). mount(8) runs the mount helper, which runs `eiocbfs TARGET MNT -o
 * remount,...`: that process does not mount, it changes the kernel's mount
 * flags and tells the running daemon through its control socket
 * (`remount ro|rw`, also what `eiocbctl MNT remount ro|rw` sends). On the
 * way to read-only the daemon writes everything back first (fs_remount).
 * May call fs.h, control.h and libc.
 */
#ifndef EIOCBFS_REMOUNT_H
#define EIOCBFS_REMOUNT_H

#include <stddef.h>

#include "control.h"

struct fs;
struct daemon_options;

/* The client: the kernel's flags and the daemon's state, in the order that
   keeps them agreeing if either refuses. 0, or -1 with a one-line reason. */
int daemon_remount_client(const struct daemon_options *o, char *err, size_t errlen);

/* A ctl_handler_fn for "remount ro|rw" (arg: struct fs). */
int daemon_remount_command(void *arg, int argc, char **argv, struct ctl_out *out,
			   const struct ctl_peer *peer);

#endif
