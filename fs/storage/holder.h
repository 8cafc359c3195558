/*
 * holder.h: who holds a target, and waiting for a daemon that is letting
 * it go (layer: storage, beside disk; reads /proc, calls nothing above).
 *
 * A target is held exclusively: flock on an image file, O_EXCL on a block
 * device (disk.c). When a FUSE mount goes away (umount(8), fusermount3 -u)
 * the kernel returns at once, but the daemon still writes back, marks the
 * superblock clean and closes the target a moment later. A tool that
 * finds the target held by a daemon whose mount is already gone therefore
 * waits for it, bounded; a target held by a live mount or by a checker is
 * refused at once, naming the holder.
 */
#ifndef EIOCBFS_HOLDER_H
#define EIOCBFS_HOLDER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* How long a tool waits for a daemon releasing its target, and when it says so. */
#define HOLDER_RELEASE_WAIT_MS 30000
#define HOLDER_NOTICE_MS 1000

struct holder {
	pid_t pid;		   /* the process holding the lock; 0 if unknown */
	char comm[32];		   /* its program name; "" if unknown */
	char mountpoint[PATH_MAX]; /* where the target is mounted; "" if nowhere */
};

/* 1 with h filled when something holds target in a way that conflicts with
   opening it (shared: as a reader, which other readers do not block), 0 when
   nothing does, or a negative errno (target missing). */
int holder_find(const char *target, bool shared, struct holder *h);

/* A daemon that is releasing the target: an eiocbfs process, or an unknown
   holder of a block device, while the target is mounted nowhere. */
bool holder_is_releasing(const struct holder *h);

/* "mounted at /mnt", "fsck.eiocbfs, pid 12": for refusals. */
void holder_describe(const struct holder *h, char *buf, size_t len);

/* Called once, after HOLDER_NOTICE_MS of waiting, so the user knows why. */
typedef void (*holder_notice_fn)(void *arg, const char *target, const struct holder *h);

/* Waits up to timeout_ms while target is held by a releasing daemon.
   Returns 0 once it is free or held by anything else (the caller's open
   then refuses, naming it), -ETIMEDOUT with h filled if the daemon still
   holds it. notice may be NULL. */
int holder_wait_release(const char *target, bool shared, unsigned timeout_ms,
			holder_notice_fn notice, void *arg, struct holder *h);

#endif
