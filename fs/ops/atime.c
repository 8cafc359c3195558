/*
 * atime.c: the access time of a file read or a directory listed (layer:
 * ops, over the namespace). The rules are Linux's (touch_atime,
 * relatime_need_update): noatime never updates it; strictatime on every
 * access; relatime (the default) when the access time is not later than
 * the modification or change time, or is 24 hours old. The update is a
 * transaction of its own, so it lasts across a remount; with lazytime it
 * stays in memory (inode_dirty_times) until the inode is written for
 * another reason, fsync'd, synced, evicted (the kernel's FORGET), at
 * unmount, or at an access 24 hours later, as the kernel's dirty-time
 * inodes. A FUSE filesystem sets the time itself: the kernel marks every
 * FUSE inode S_NOATIME and only drops its cached atime after a read or a
 * listing, so the next stat asks.
 */
#include <time.h>

#include "fs.h"
#include "namespace.h"

#define ATIME_DAY (24 * 60 * 60)

static int time_cmp(struct ef_time a, struct ef_time b)
{
	if (a.sec != b.sec)
		return a.sec < b.sec ? -1 : 1;
	return a.nsec < b.nsec ? -1 : a.nsec > b.nsec;
}

/* Does an access at now update d's access time? */
static bool atime_due(const struct fs *fs, const struct ef_inode *d, struct ef_time now)
{
	if (fs->atime == FS_ATIME_NOATIME || (d->flags & EF_FL_NOATIME) ||
	    time_cmp(d->atime, now) == 0)
		return false;
	if (fs->atime == FS_ATIME_STRICTATIME)
		return true;
	return time_cmp(d->mtime, d->atime) >= 0 || time_cmp(d->ctime, d->atime) >= 0 ||
	       now.sec - d->atime.sec >= ATIME_DAY;
}

/* Lazytime: a time kept in memory a day is written at the next access. */
static bool lazy_expired(const struct inode *ip)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec - ip->dirty_since >= ATIME_DAY;
}

void fs_accessed(struct fs *fs, uint64_t ino)
{
	struct inode *ip;
	if (fs->atime == FS_ATIME_NOATIME || fs->readonly || iget(fs, ino, &ip) < 0)
		return;
	/* Most accesses under relatime change nothing: look first, shared. */
	if (ilock_shared(ip) < 0) {
		iput(ip);
		return;
	}
	bool due = atime_due(fs, &ip->d, inode_now()) || (ip->dirty_times && lazy_expired(ip));
	iunlock(ip);
	if (due && ilock(ip) == 0) {
		struct ef_time now = inode_now();
		if (atime_due(fs, &ip->d, now)) {
			ip->d.atime = now;
			inode_dirty_times(ip);
		}
		if (ip->dirty_times && (!fs->lazytime || lazy_expired(ip)))
			inode_write_times(ip);
		iunlock(ip);
	}
	iput(ip);
}
