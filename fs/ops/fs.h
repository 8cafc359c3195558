/*
 * fs.h: the filesystem's operations, the one interface between the FUSE glue
 * (fs/daemon/fuse_ops.c, which only translates requests and replies) and the layers
 * below it (namespace, journal, allocator, device). Everything here works on
 * inode numbers and plain buffers and is testable without a mount.
 *
 * Conventions:
 *  - Every function returns 0 (or a byte count) on success and a negative
 *    errno on failure; nothing here prints: errors go back to the edge.
 *  - Inode numbers are FUSE's: the root directory is FS_ROOT_INO (1).
 *  - Lookup references follow FUSE: every successful fs_lookup, fs_create,
 *    fs_mknod, fs_mkdir, fs_symlink and fs_link takes one reference on the
 *    returned inode that a later fs_forget(ino, n) drops. An inode whose
 *    link count is zero lives while it has lookup references or open
 *    handles; its blocks are freed at the last of them (and, after a crash,
 *    at the next mount: the orphan list).
 *  - The caller's credentials (uid, gid) are passed where a new inode takes
 *    them; permission checks are the kernel's (default_permissions).
 *  - Thread-safe: the FUSE glue calls these from many threads at once.
 */
#ifndef EIOCBFS_FS_H
#define EIOCBFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#define FS_ROOT_INO 1
#define FS_NAME_MAX 255

struct fs;

/* When reading a file or listing a directory updates its access time, as
   the Linux mount options of the same names (fs/ops/atime.c). */
enum fs_atime { FS_ATIME_RELATIME, FS_ATIME_NOATIME, FS_ATIME_STRICTATIME };

struct fs_mount_opts {
	bool readonly;
	/* The I/O engine (fs/io/fsio.h): buffered I/O through the page cache and
	   O_DIRECT through ioctx. Off (the default, for tools and unit tests):
	   file data goes straight to the device. */
	bool io;
	unsigned cache_mb;     /* page cache size; 0: its default */
	int semantics;	       /* enum ioctx_semantics: deferred, legacy, drop, mainline */
	struct faults *faults; /* fault points (fs/fault/fault.h), may be NULL; the caller's */
	int errors;	   /* enum fs_errors_mode (fs/storage/errors.h): a failed metadata write */
	bool device_cache; /* model a volatile device write cache (fs_powercut) */
	enum fs_atime atime; /* relatime unless said */
	bool lazytime;	     /* time updates kept in memory until fsync, sync, eviction, 24 h */
};

/* Attributes as FUSE wants them (struct stat with nanosecond times). */
typedef struct stat fs_attr_t;

/* Which fields fs_setattr changes (the FUSE_SET_ATTR_* bit values). */
enum {
	FS_SET_MODE = 1 << 0,
	FS_SET_UID = 1 << 1,
	FS_SET_GID = 1 << 2,
	FS_SET_SIZE = 1 << 3,
	FS_SET_ATIME = 1 << 4,
	FS_SET_MTIME = 1 << 5,
	FS_SET_ATIME_NOW = 1 << 7,
	FS_SET_MTIME_NOW = 1 << 8,
	FS_SET_CTIME = 1 << 10,
};

/*
 * Mount and unmount. fs_mount checks the superblock (magic, version,
 * checksum, geometry), replays the journal, frees orphans, marks the
 * filesystem dirty (in use) and takes the target exclusively (O_EXCL on a
 * block device, a lock on an image file). On failure it writes a one-line
 * reason to err. fs_unmount commits everything, marks the filesystem clean
 * and releases the target.
 */
int fs_mount(const char *target, const struct fs_mount_opts *opts, struct fs **out, char *err,
	     size_t errlen);
int fs_unmount(struct fs *fs);

/* Namespace. */
int fs_lookup(struct fs *fs, uint64_t parent, const char *name, fs_attr_t *out);
void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);
/* The generation of ino, which changes when its number is reused: with the
   number it makes a file handle. fs_lookup(ino, ".") finds any linked
   inode by number (a handle's), ENOENT once it is unlinked or freed. */
int fs_generation(struct fs *fs, uint64_t ino, uint32_t *gen);
int fs_getattr(struct fs *fs, uint64_t ino, fs_attr_t *out);
int fs_setattr(struct fs *fs, uint64_t ino, const fs_attr_t *in, int to_set, fs_attr_t *out);
int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size); /* returns length */
int fs_mknod(struct fs *fs, uint64_t parent, const char *name, mode_t mode, dev_t rdev, uid_t uid,
	     gid_t gid, fs_attr_t *out);
int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
	     fs_attr_t *out);
int fs_symlink(struct fs *fs, uint64_t parent, const char *name, const char *target, uid_t uid,
	       gid_t gid, fs_attr_t *out);
int fs_link(struct fs *fs, uint64_t ino, uint64_t newparent, const char *newname, fs_attr_t *out);
int fs_unlink(struct fs *fs, uint64_t parent, const char *name);
int fs_rmdir(struct fs *fs, uint64_t parent, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
int fs_rename(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
	      const char *newname, unsigned int flags);
/* The same, flags also RENAME_WHITEOUT (with or without RENAME_NOREPLACE): the
   source's name is left to a new whiteout, a character device 0/0 owned by
   uid and gid (overlayfs' whiteout), as ext4 does. */
int fs_rename2(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname, unsigned int flags, uid_t uid, gid_t gid);

/*
 * Directory listing. Offsets are stable cookies: a listing resumed at the
 * cookie of the last entry returned continues after it even if entries were
 * added or removed in between. The callback returns non-zero when the
 * caller's buffer is full (that entry is then not consumed). "." and ".."
 * are listed.
 */
typedef int (*fs_filldir_t)(void *arg, const char *name, const fs_attr_t *attr, off_t next_off);
int fs_readdir(struct fs *fs, uint64_t ino, off_t off, fs_filldir_t fill, void *arg);

/* A read of ino happened (fs_read, fs_readdir and fs_readlink say so
   themselves; the direct path's caller does): update its access time as
   the mount's atime option says. Errors are not reported (as touch_atime). */
void fs_accessed(struct fs *fs, uint64_t ino);

/* Files. Open handles keep an unlinked inode alive until fs_release. */
int fs_open(struct fs *fs, uint64_t ino, int flags);
int fs_create(struct fs *fs, uint64_t parent, const char *name, mode_t mode, int flags, uid_t uid,
	      gid_t gid, fs_attr_t *out);
int fs_release(struct fs *fs, uint64_t ino);
/* O_TMPFILE: a regular file with no name, made in directory parent (its
   default ACL and setgid apply) with nlink 0 and on the orphan list, so
   that a crash frees it at the next mount, as ext4 does. It comes open:
   one lookup reference (fs_forget) and one open handle (fs_release). An
   fs_link while it is open gives it a name and takes it off the list. */
int fs_tmpfile(struct fs *fs, uint64_t parent, mode_t mode, uid_t uid, gid_t gid, fs_attr_t *out);
ssize_t fs_read(struct fs *fs, uint64_t ino, void *buf, size_t size, off_t off);
ssize_t fs_write(struct fs *fs, uint64_t ino, const void *buf, size_t size, off_t off);
int fs_fsync(struct fs *fs, uint64_t ino, bool datasync);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
   FALLOC_FL_ZERO_RANGE (|FALLOC_FL_KEEP_SIZE). */
int fs_fallocate(struct fs *fs, uint64_t ino, int mode, off_t off, off_t len);
/* whence: SEEK_DATA or SEEK_HOLE; returns the offset or -ENXIO. */
off_t fs_lseek(struct fs *fs, uint64_t ino, off_t off, int whence);

/* Inode flags as FS_IOC_GETFLAGS/SETFLAGS carry them (chattr, lsattr):
   FS_IMMUTABLE_FL, FS_APPEND_FL, FS_NOATIME_FL; setting any other is
   EOPNOTSUPP. Who may set them is the kernel's check (CAP_LINUX_IMMUTABLE
   for the first two); what they forbid is enforced here, as ext4 does
   (EPERM): an immutable inode is not written, truncated, renamed, removed,
   linked, nor has its attributes or xattrs changed, and nothing is created
   in or removed from an immutable directory; an append-only one the same,
   except that it opens for writing with O_APPEND and that names may be
   added to such a directory. */
int fs_getflags(struct fs *fs, uint64_t ino, unsigned int *flags);
int fs_setflags(struct fs *fs, uint64_t ino, unsigned int flags);
/* The inode's creation time (statx's btime), set when it was made. */
int fs_getbtime(struct fs *fs, uint64_t ino, struct timespec *out);

/* Extended attributes (user.*, trusted.*, security.*). */
int fs_setxattr(struct fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
		int flags);
/* size 0 asks for the length; returns the length or -ERANGE. */
ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name, void *value, size_t size);
ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *list, size_t size);
int fs_removexattr(struct fs *fs, uint64_t ino, const char *name);

/* Whole filesystem. */
int fs_statfs(struct fs *fs, struct statvfs *out);
int fs_sync(struct fs *fs); /* commit the journal and flush the device */
/* Read-only: write everything back, then refuse changes (EROFS); read-write
   again (EROFS if the device was opened read-only, mount option ro). */
int fs_remount(struct fs *fs, bool readonly);
/*
 * A power cut of the device cache (mount option device_cache): undoes the
 * writes since the last device flush as mode says ("drop", "tear",
 * "reorder"; seed draws which), then drops every later write. report gets
 * one line. -EINVAL: a bad mode; -ENOTSUP: no device cache modelled.
 */
int fs_powercut(struct fs *fs, const char *mode, uint64_t seed, char *report, size_t len);

#endif
