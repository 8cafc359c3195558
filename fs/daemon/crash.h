/*
 * crash.h: `eiocbctl MOUNTPOINT crash`, a simulated power cut of the daemon
 * (layer: daemon edge, a control command). Everything the
 * daemon holds in memory is lost as a power failure would lose it: dirty
 * pages of its page cache, the running and committing journal
 * transactions, direct I/O not yet completed. The mount is detached and
 * the daemon exits at once, without write-back, journal commit or clean
 * mark: the image is left dirty, and the next mount replays the journal.
 * Limit: writes the daemon already handed to the kernel (pwrite on the
 * image) are not undone; a host power cut could also lose those not yet
 * flushed (fsync'd data is flushed, so the fsync guarantee is what is
 * tested). With --device-cache=drop|tear|reorder (mount option
 * device_cache) the writes since the last device flush are undone first,
 * as a disk's volatile write cache would lose them (fs_powercut).
 */
#ifndef EIOCBFS_CRASH_H
#define EIOCBFS_CRASH_H

#include "control.h"

struct crash_cmd;
struct fs;

/* mountpoint is made absolute now (the daemon chdirs when it detaches). NULL on ENOMEM. */
struct crash_cmd *crash_cmd_new(const char *mountpoint);
void crash_cmd_free(struct crash_cmd *c);
void crash_cmd_set_fs(struct crash_cmd *c, struct fs *fs); /* for --device-cache */
/* After the session loop: when a crash is under way (its detach ended the
   loop), never returns, so that nothing is written back or freed before the
   crash thread's _exit; otherwise returns at once. */
void crash_cmd_wait(struct crash_cmd *c);

/* A ctl_handler_fn for "crash" (arg: struct crash_cmd): answers ok, then a
   thread detaches the mount and ends the process with _exit(0). */
int crash_cmd_run(void *arg, int argc, char **argv, struct ctl_out *out,
		  const struct ctl_peer *peer);

#endif
