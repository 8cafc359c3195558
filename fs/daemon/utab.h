/*
 * utab.h: the daemon's entry in libmount's userspace mount table (layer:
 * daemon edge). umount(8) looks a FUSE mount up by statfs, sees only type
 * "fuse" and calls umount(2) itself, which returns before the daemon has
 * released its target. An entry in /run/mount/utab (helper=fuse.eiocbfs)
 * makes it look the mount up in the mount table instead and run
 * /sbin/umount.fuse.eiocbfs, which unmounts and waits for the daemon.
 * May call mount(8) and umount(8) (their --fake modes) and libc.
 */
#ifndef EIOCBFS_UTAB_H
#define EIOCBFS_UTAB_H

/* Adds the entry for source mounted at mountpoint (root only; a no-op
   where libmount keeps no utab). Failures are silent: umount(8) then
   unmounts without waiting, and the tools still wait for the daemon. */
void utab_add(const char *source, const char *mountpoint);

/* Removes the entry if an unmount that did not go through umount(8)
   (fusermount3 -u, a signal) left it behind. */
void utab_remove(const char *mountpoint);

#endif
