/*
 * attrflags.c: an inode's chattr flags and its creation time (layer: ops,
 * over the namespace), read for statx (fs_getbtime);
 * FS_IOC_GETFLAGS and FS_IOC_SETFLAGS as fs.h says. The flags live in the
 * on-disk inode (layout.h EF_FL_*, the same bit values as Linux's FS_*_FL);
 * fs.c refuses what they forbid.
 */
#include <errno.h>
#include <time.h>

#include "fs.h"
#include "namespace.h"

int fs_getflags(struct fs *fs, uint64_t ino, unsigned int *flags)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	if ((r = ilock_shared(ip)) == 0) {
		*flags = ip->d.flags & EF_FL_ALL;
		iunlock(ip);
	}
	iput(ip);
	return r == -ESTALE ? -ENOENT : r;
}

int fs_setflags(struct fs *fs, uint64_t ino, unsigned int flags)
{
	if (flags & ~EF_FL_ALL)
		return -EOPNOTSUPP;
	if (fs->readonly)
		return -EROFS;
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	if ((r = ilock(ip)) == 0) {
		struct tx *tx;
		if ((r = tx_begin(fs->st->journal, 2, &tx)) == 0) {
			ip->d.flags = flags;
			ip->d.ctime = inode_now();
			r = iupdate(tx, ip);
			int e = tx_end(tx);
			r = r < 0 ? r : e;
		}
		iunlock(ip);
	}
	iput(ip);
	return r == -ESTALE ? -ENOENT : r;
}

int fs_getbtime(struct fs *fs, uint64_t ino, struct timespec *out)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	if ((r = ilock_shared(ip)) == 0) {
		*out = (struct timespec){ip->d.crtime.sec, ip->d.crtime.nsec};
		iunlock(ip);
	}
	iput(ip);
	return r == -ESTALE ? -ENOENT : r;
}
