/*
 * crash.h: `eiocbctl MOUNTPOINT crash`, a simulated power cut of the daemon
 * (issue 6 point 5; layer: daemon edge, a control command). Everything the
 * daemon holds in memory is lost as a power failure would lose it: dirty
 * pages of its page cache, the running and committing journal
 * transactions, direct I/O not yet completed. The mount is detached and
 * the daemon exits at once, without write-back, journal commit or clean
 * mark: the image is left dirty, and the next mount replays the journal.
 * Limit: writes the daemon already handed to the kernel (pwrite on the
 * image) are not undone; a host power cut could also lose those not yet
 * flushed (fsync'd data is flushed, so the fsync guarantee is what is
 * tested). May call libc only.
 */
#ifndef EIOCBFS_CRASH_H
#define EIOCBFS_CRASH_H

#include "control.h"

struct ef_crash;

/* mountpoint is made absolute now (the daemon chdirs when it detaches). NULL on ENOMEM. */
struct ef_crash *ef_crash_new(const char *mountpoint);
void ef_crash_free(struct ef_crash *c);

/* A ctl_handler_fn for "crash" (arg: struct ef_crash): answers ok, then a
   thread detaches the mount and ends the process with _exit(0). */
int ef_crash_command(void *arg, int argc, char **argv, struct ctl_out *out,
		     const struct ctl_peer *peer);

#endif
