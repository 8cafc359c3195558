/*
 * fs.c: fs/ops/fs.h on top of the namespace layers. Each operation takes its
 * locks (namespace.h gives the order), checks its arguments and errors,
 * and makes its metadata change in one transaction, so that a crash
 * leaves it done or not done. Operations that can fail for lack of space
 * (ENOSPC) allocate before they change anything visible, or undo.
 *
 * Calls: inode, extent, file, dir, xattr, storage (tx_*, journal_commit,
 * storage_open/close, disk_flush).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "errors.h"
#include "fault.h"
#include "fs.h"
#include "fs_faultpath.h"
#include "fsio.h"
#include "namespace.h"

#define FS_LINK_MAX 65000
/*
 * Journal blocks each namespace operation may dirty (its tx_begin reservation).
 * Tight enough that many operations share one commit, never below the count:
 *   create: inode bitmap, the new inode's and the parent's table blocks, the
 *           parent's head and bucket (5); a directory adds its head, table and
 *           first bucket and their block bitmaps (10); a long symlink its block
 *   unlink: head, bucket, two inode table blocks, the superblock (orphan list)
 *   rename: two heads and buckets, four inode table blocks, the moved
 *           directories' heads, the superblock (11); a whiteout left in the
 *           source's place adds its inode bitmap and table block
 */
#define TX_CREATE 8
#define TX_MKDIR 14
#define TX_LINK 6
#define TX_UNLINK 8
#define TX_RENAME 14
#define TX_WHITEOUT 3	/* a rename's whiteout: inode bitmap and table block */
#define NS_TX_BLOCKS 17 /* the largest of them (a rename with its whiteout) */

static int fs_init(struct fs *fs, struct storage *st, bool readonly)
{
	memset(fs, 0, sizeof(*fs));
	fs->st = st;
	fs->bsize = st->sb.block_size;
	fs->readonly = readonly;
	fs->mounted_ro = readonly;
	pthread_mutex_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->orphan_lock, NULL);
	pthread_mutex_init(&fs->free_lock, NULL);
	pthread_cond_init(&fs->free_done, NULL);
	atomic_init(&fs->meta_reads, 0);
	/* The journal takes a compound transaction up to a quarter of its log (half of
	   a small one); keep a margin for its descriptor blocks. */
	uint64_t jl = st->sb.journal_len, lim = jl < 512 ? jl / 2 : jl / 4;
	lim = lim * 3 / 4;
	fs->tx_max = lim > 1024 ? 1024 : lim < 8 ? 8 : (uint32_t)lim;
	return icache_init(fs);
}

static void fs_fini(struct fs *fs)
{
	icache_destroy(fs);
	pthread_mutex_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->orphan_lock);
	pthread_mutex_destroy(&fs->free_lock);
	pthread_cond_destroy(&fs->free_done);
}

/* Errors at the edge: an inode that went away is ENOENT to the caller. */
static int edge(int r)
{
	return r == -ESTALE ? -ENOENT : r;
}

static int check_name(const char *name, size_t *len)
{
	*len = strlen(name);
	if (*len == 0)
		return -ENOENT;
	if (*len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', *len))
		return -EINVAL;
	return 0;
}

static bool is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static uint8_t dtype(mode_t mode)
{
	return (uint8_t)IFTODT(mode);
}

/* Blocks freed by transactions not yet checkpointed are not handed out: when an
   operation ran out of space while some are pending, commit, checkpoint and let
   the caller try once more (ext4 does the same). */
static bool retry_enospc(struct fs *fs, long r, int *tries)
{
	if (r != -ENOSPC || (*tries)++ > 0 || ns_pending_space(fs) == 0)
		return false;
	return storage_reclaim(fs->st) == 0;
}

static int tx_finish(struct tx *tx, int r)
{
	int e = tx_end(tx);
	return r < 0 ? r : e;
}

/* ---- mount ------------------------------------------------------------------ */

int fs_format_root(struct storage *st, uid_t uid, gid_t gid)
{
	struct fs *fs = malloc(sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	int r = fs_init(fs, st, false);
	if (r < 0) {
		free(fs);
		return r;
	}
	struct tx *tx;
	struct inode *ip = NULL;
	if ((r = tx_begin(st->journal, NS_TX_BLOCKS, &tx)) == 0) {
		r = inode_alloc(fs, tx, S_IFDIR | 0755, uid, gid, &ip);
		if (r == 0 && ip->ino != EF_ROOT_INO)
			r = -EIO; /* the allocator must hand out inode 1 first */
		if (r == 0) {
			ip->d.nlink = 2;
			r = dir_init(tx, ip, EF_ROOT_INO);
		}
		if (r == 0)
			r = iupdate(tx, ip);
		r = tx_finish(tx, r);
	}
	if (ip) {
		iunlock(ip);
		iput(ip);
	}
	if (r == 0)
		r = journal_commit(st->journal, true);
	fs_fini(fs);
	free(fs);
	return r;
}

int fs_mount(const char *target, const struct fs_mount_opts *opts, struct fs **out, char *err,
	     size_t errlen)
{
	bool ro = opts && opts->readonly;
	struct storage *st;
	int r = storage_open(target, ro, &st, err, errlen);
	if (r < 0)
		return r;
	struct fs *fs = malloc(sizeof(*fs));
	if (!fs || (r = fs_init(fs, st, ro)) < 0) {
		free(fs);
		storage_close(st);
		snprintf(err, errlen, "%s: out of memory", target);
		return -ENOMEM;
	}
	/* Before anything writes metadata: errors= applies from the first write. */
	if (opts) {
		fs->atime = (int)opts->atime;
		fs->lazytime = opts->lazytime;
	}
	if (!ro && opts &&
	    (r = fs_errors_attach(st, opts->faults, opts->errors, &fs->errors)) < 0) {
		snprintf(err, errlen, "%s: out of memory", target);
		goto fail;
	}
	if (!ro && (r = orphans_process(fs)) < 0) {
		snprintf(err, errlen, "%s: cannot free orphan inodes: %s (run fsck.eiocbfs)",
			 target, strerror(-r));
		goto fail;
	}
	struct inode *root;
	if ((r = iget(fs, EF_ROOT_INO, &root)) == 0) {
		if ((r = ilock_shared(root)) == 0) {
			if (!S_ISDIR(root->d.mode))
				r = -EUCLEAN;
			iunlock(root);
		}
		iput(root);
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: no valid root directory: %s (run fsck.eiocbfs)", target,
			 strerror(-r));
		goto fail;
	}
	/* From here every device I/O asks the fault points (mounting itself does not). */
	if (opts)
		st->disk.faults = opts->faults;
	fs_faultpath_attach(fs);
	if (opts && opts->device_cache && !ro &&
	    (r = disk_vcache_enable(&st->disk, (size_t)64 << 20)) < 0) {
		snprintf(err, errlen, "%s: out of memory", target);
		goto fail;
	}
	if (opts && opts->io) {
		struct fsio_opts io = {.target = target,
				       .cache_mb = opts->cache_mb,
				       .mode = (enum ioctx_semantics)opts->semantics,
				       .faults = opts->faults};
		char why[256] = "";
		if ((r = fsio_start(fs, &io, why, sizeof(why))) < 0) {
			snprintf(err, errlen, "%s: %s", target, why);
			goto fail;
		}
	}
	*out = fs;
	return 0;
fail:
	fs_faultpath_detach(fs);
	st->disk.faults = NULL;
	fs_errors_detach(fs->errors);
	fs_fini(fs);
	free(fs);
	storage_close(st);
	return r;
}

int fs_unmount(struct fs *fs)
{
	struct storage *st = fs->st;
	int r = fsio_stop(fs); /* dirty pages reach the device before the journal closes */
	int t = inode_sync_times(fs);
	r = r < 0 ? r : t;
	fs_faultpath_detach(fs);
	st->disk.faults = NULL;
	fs_errors_detach(fs->errors);
	fs_fini(fs);
	free(fs);
	int c = storage_close(st);
	return r < 0 ? r : c;
}

int fs_sync(struct fs *fs)
{
	int r = fs->io ? fsio_sync(fs) : 0;
	if (r == 0)
		r = inode_sync_times(fs);
	if (r < 0)
		return r;
	r = journal_commit(fs->st->journal, true);
	return r < 0 ? r : disk_flush(&fs->st->disk);
}

int fs_powercut(struct fs *fs, const char *mode, uint64_t seed, char *report, size_t len)
{
	static const char *const names[] = {"drop", "tear", "reorder"};
	for (int m = 0; m < 3; m++)
		if (strcmp(mode, names[m]) == 0)
			return fs->st->disk.vc
				   ? disk_vcache_powercut(&fs->st->disk, (enum disk_vcache_mode)m,
							  seed, report, len)
				   : -ENOTSUP;
	return -EINVAL;
}

int fs_remount(struct fs *fs, bool readonly)
{
	if (!readonly) {
		if (fs->mounted_ro)
			return -EROFS;
		fs->readonly = false;
		return 0;
	}
	if (fs->readonly)
		return 0;
	/* Write everything back first, so a failure leaves the mount writable;
	   then refuse changes, and sync again for those that raced with us. */
	int r = fs_sync(fs);
	if (r < 0)
		return r;
	fs->readonly = true;
	return fs_sync(fs);
}

/* ---- lookup and attributes -------------------------------------------------- */

/* The inode number behind name in directory dp (locked), "." and ".." included. */
static int dir_find(struct inode *dp, const char *name, size_t len, uint64_t *ino, uint8_t *type)
{
	if (!S_ISDIR(dp->d.mode))
		return -ENOTDIR;
	if (strcmp(name, ".") == 0) {
		*ino = dp->ino;
		*type = DT_DIR;
		return 0;
	}
	if (strcmp(name, "..") == 0) {
		*type = DT_DIR;
		return dir_parent(dp, ino);
	}
	return dir_lookup(dp, name, len, ino, type);
}

static int stat_ino(struct fs *fs, uint64_t ino, fs_attr_t *out, bool take_lookup)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return r;
	if ((r = ilock_shared(ip)) == 0) {
		inode_stat(ip, out);
		iunlock(ip);
		if (take_lookup)
			inode_lookup_ref(ip);
	}
	iput(ip);
	return r;
}

int fs_lookup(struct fs *fs, uint64_t parent, const char *name, fs_attr_t *out)
{
	size_t len;
	int r = check_name(name, &len);
	if (r < 0)
		return r;
	if (strcmp(name, ".") == 0) {
		/* An inode by its number, of any type (the kernel decoding a file
		   handle it no longer caches): a freed or unlinked one is gone. */
		if ((r = stat_ino(fs, parent, out, true)) == 0 && out->st_nlink == 0) {
			inode_forget(fs, parent, 1);
			r = -ENOENT;
		}
		return edge(r);
	}
	struct inode *dp;
	if ((r = iget(fs, parent, &dp)) < 0)
		return edge(r);
	uint64_t ino = 0;
	uint8_t type;
	struct inode *ip = NULL;
	if ((r = ilock_shared(dp)) == 0) {
		/* Take the lookup reference while the name still points at the inode, so
		   an unlink racing with us cannot free it (and its number be reused). */
		r = dir_find(dp, name, len, &ino, &type);
		if (r == 0 && (r = iget(fs, ino, &ip)) == 0)
			inode_lookup_ref(ip);
		iunlock(dp);
	}
	iput(dp);
	if (r < 0)
		return edge(r);
	if ((r = ilock_shared(ip)) == 0) {
		inode_stat(ip, out);
		iunlock(ip);
		iput(ip);
	} else {
		iput(ip);
		inode_forget(fs, ino, 1);
	}
	return edge(r);
}

void fs_forget(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	inode_forget(fs, ino, nlookup);
}

int fs_getattr(struct fs *fs, uint64_t ino, fs_attr_t *out)
{
	return edge(stat_ino(fs, ino, out, false));
}

static struct ef_time to_ef(struct timespec ts)
{
	return (struct ef_time){.sec = ts.tv_sec, .nsec = (uint32_t)ts.tv_nsec};
}

static void unlock_put(struct inode *ip)
{
	iunlock(ip);
	iput(ip);
}

/*
 * The pair around an operation that may change a file's size (setattr size,
 * open O_TRUNC): with the I/O engine on (io), the inode's I/O lock (fsio.h)
 * is held around the map change; then the inode is got and locked.
 * size_change_begin returns a negative errno (already edge()d) and holds
 * nothing on failure; size_change_end unlocks, puts and ends the change at
 * the inode's final size.
 */
static int size_change_begin(struct fs *fs, uint64_t ino, bool io, struct inode **out)
{
	if (io && fsio_change_begin(fs, ino, 0, 0) < 0)
		return -EIO;
	int r = iget(fs, ino, out);
	if (r == 0 && (r = ilock(*out)) < 0)
		iput(*out);
	if (r < 0 && io)
		fsio_truncate_end(fs, ino, 0, false);
	return r < 0 ? edge(r) : 0;
}

static void size_change_end(struct fs *fs, uint64_t ino, bool io, struct inode *ip)
{
	uint64_t size = ip->d.size;
	unlock_put(ip);
	if (io)
		fsio_truncate_end(fs, ino, size, true);
}

int fs_setattr(struct fs *fs, uint64_t ino, const fs_attr_t *in, int to_set, fs_attr_t *out)
{
	if (fs->readonly)
		return -EROFS;
	/* A size change holds the inode's I/O lock (fsio.h) around the map change. */
	bool io = fs->io && (to_set & FS_SET_SIZE);
	struct inode *ip;
	int r = size_change_begin(fs, ino, io, &ip);
	if (r < 0)
		return r;
	/* chattr +i: nothing changes; +a: only the times, to now (ext4's rule) */
	if ((ip->d.flags & EF_FL_IMMUTABLE) ||
	    (inode_frozen(ip) && (to_set & ~(FS_SET_ATIME | FS_SET_MTIME | FS_SET_ATIME_NOW |
					     FS_SET_MTIME_NOW | FS_SET_CTIME) ||
				  ((to_set & FS_SET_ATIME) && !(to_set & FS_SET_ATIME_NOW)) ||
				  ((to_set & FS_SET_MTIME) && !(to_set & FS_SET_MTIME_NOW)))))
		r = -EPERM;
	else if (to_set & FS_SET_SIZE) {
		if (S_ISDIR(ip->d.mode))
			r = -EISDIR;
		else if (!S_ISREG(ip->d.mode))
			r = -EINVAL;
		else if (in->st_size < 0)
			r = -EINVAL;
		else
			r = file_truncate(ip, (uint64_t)in->st_size);
	}
	struct tx *tx;
	if (r == 0 && (r = tx_begin(fs->st->journal, 7, &tx)) == 0) {
		struct ef_time now = inode_now();
		if (to_set & FS_SET_MODE) {
			ip->d.mode = (ip->d.mode & S_IFMT) | (in->st_mode & 07777);
			/* the access ACL follows the mode (ext4's posix_acl_chmod) */
			uint8_t acl[ACL_MAX_SIZE];
			ssize_t n = xattr_get(ip, ACL_XATTR_ACCESS, acl, sizeof(acl));
			if (n > 0 && acl_check(acl, (size_t)n) == 0) {
				acl_chmod(acl, (size_t)n, ip->d.mode);
				r = xattr_set(tx, ip, ACL_XATTR_ACCESS, acl, (size_t)n, 0);
			}
		}
		if (to_set & FS_SET_UID)
			ip->d.uid = in->st_uid;
		if (to_set & FS_SET_GID)
			ip->d.gid = in->st_gid;
		if (to_set & FS_SET_ATIME_NOW)
			ip->d.atime = now;
		else if (to_set & FS_SET_ATIME)
			ip->d.atime = to_ef(in->st_atim);
		if (to_set & FS_SET_MTIME_NOW)
			ip->d.mtime = now;
		else if (to_set & FS_SET_MTIME)
			ip->d.mtime = to_ef(in->st_mtim);
		ip->d.ctime = (to_set & FS_SET_CTIME) ? to_ef(in->st_ctim) : now;
		r = tx_finish(tx, iupdate(tx, ip));
	}
	if (r == 0)
		inode_stat(ip, out);
	size_change_end(fs, ino, io, ip);
	return edge(r);
}

int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return edge(r);
	if ((r = ilock_shared(ip)) < 0) {
		iput(ip);
		return edge(r);
	}
	size_t n = ip->d.size < size ? (size_t)ip->d.size : size;
	if (!S_ISLNK(ip->d.mode))
		r = -EINVAL;
	else if (ip->d.size <= EF_INLINE_SYMLINK_MAX) {
		memcpy(buf, ip->d.u.symlink, n);
		r = (int)n;
	} else {
		r = (int)file_read(ip, buf, n, 0);
	}
	iunlock(ip);
	iput(ip);
	if (r >= 0)
		fs_accessed(fs, ino);
	return edge(r);
}

/* ---- creating names ------------------------------------------------------------ */

/* Undo a new inode inside tx (a later step failed): free its blocks, then the inode. */
static void undo_new_inode(struct tx *tx, struct inode *ip)
{
	uint64_t next;
	if (!S_ISLNK(ip->d.mode) || ip->d.size > EF_INLINE_SYMLINK_MAX)
		extent_remove(tx, ip, 0, UINT64_MAX, &next);
	if (ip->d.xattr_block)
		xattr_free(tx, ip);
	uint32_t gen = ip->d.generation;
	memset(&ip->d, 0, sizeof(ip->d));
	ip->d.generation = gen;
	iupdate(tx, ip);
	ifree(ip->fs->st->alloc, tx, ip->ino);
}

/* Lock directory parent exclusively for a change of its entries. */
static int lock_dir(struct fs *fs, uint64_t parent, struct inode **out)
{
	int r = iget(fs, parent, out);
	if (r < 0)
		return r;
	if ((r = ilock(*out)) < 0) {
		iput(*out);
		return r;
	}
	if (!S_ISDIR((*out)->d.mode))
		r = -ENOTDIR;
	else if ((*out)->d.nlink == 0)
		r = -ENOENT; /* removed, still open */
	if (r < 0) {
		iunlock(*out);
		iput(*out);
	}
	return r;
}

/* A new name on a read-only filesystem: EEXIST if it is taken, else EROFS
   (POSIX's precedence, and ext4's: the name's existence is checked first). */
static int readonly_create_error(struct fs *fs, uint64_t parent, const char *name, size_t len)
{
	struct inode *dp;
	uint64_t ino;
	uint8_t type;
	int r;

	if (is_dot(name))
		return -EEXIST;
	if ((r = iget(fs, parent, &dp)) < 0)
		return edge(r);
	if ((r = ilock_shared(dp)) == 0) {
		r = dir_find(dp, name, len, &ino, &type);
		iunlock(dp);
	}
	iput(dp);
	return r == 0 ? -EEXIST : r == -ENOENT ? -EROFS : edge(r);
}

/* Create name in parent: a new inode of mode (file, dir, symlink with target,
   special file with rdev). Returns its attributes with a lookup reference
   taken. name NULL: a file with no name (O_TMPFILE), made with nlink 0 on
   the orphan list, and an open reference taken too. */
static int mknode_once(struct fs *fs, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		       const char *target, uid_t uid, gid_t gid, fs_attr_t *out)
{
	size_t len = 0, tlen = target ? strlen(target) : 0;
	int r = name ? check_name(name, &len) : 0;
	if (r < 0)
		return r;
	if (fs->readonly)
		return name ? readonly_create_error(fs, parent, name, len) : -EROFS;
	if (name && is_dot(name))
		return -EEXIST;
	if (target && (tlen == 0 || tlen >= 4096))
		return tlen ? -ENAMETOOLONG : -ENOENT;
	struct inode *dp, *ip = NULL;
	if ((r = lock_dir(fs, parent, &dp)) < 0)
		return edge(r);
	uint64_t ino;
	uint8_t type;
	r = name ? dir_lookup(dp, name, len, &ino, &type) : -ENOENT;
	if (r == 0)
		r = -EEXIST;
	else if (r == -ENOENT)
		r = dp->d.flags & EF_FL_IMMUTABLE ? -EPERM : 0;
	if (r == 0 && S_ISDIR(mode) && dp->d.nlink >= FS_LINK_MAX)
		r = -EMLINK;
	if (r == 0 && name)
		r = dir_prepare(dp, name, len);
	if (r < 0)
		goto out_dp;
	/* A default ACL on the parent: the new inode's ACLs, and its mode masked
	   by them (the caller applied no umask then). */
	uint8_t dacl[ACL_MAX_SIZE], aacl[ACL_MAX_SIZE];
	ssize_t dn = S_ISLNK(mode) ? 0 : xattr_get(dp, ACL_XATTR_DEFAULT, dacl, sizeof(dacl));
	bool access_acl = false;
	if (dn <= 0 || acl_check(dacl, (size_t)dn) < 0) {
		dn = 0;
	} else {
		memcpy(aacl, dacl, (size_t)dn);
		access_acl = acl_create(aacl, (size_t)dn, &mode);
	}
	/* setgid directories pass their group (and, to directories, the bit) on */
	if (dp->d.mode & S_ISGID) {
		gid = dp->d.gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	struct tx *tx;
	uint32_t txb =
	    (S_ISDIR(mode) || (target && tlen > EF_INLINE_SYMLINK_MAX) ? TX_MKDIR : TX_CREATE) +
	    (dn > 0 ? 3 : 0); /* an xattr block, its bitmap block */
	if ((r = tx_begin(fs->st->journal, txb, &tx)) < 0)
		goto out_dp;
	if ((r = inode_alloc(fs, tx, mode, uid, gid, &ip)) < 0) {
		r = tx_finish(tx, r);
		goto out_dp;
	}
	ip->d.nlink = !name ? 0 : S_ISDIR(mode) ? 2 : 1;
	ip->d.rdev = rdev;
	if (S_ISDIR(mode)) {
		r = dir_init(tx, ip, dp->ino);
	} else if (target) {
		ip->d.size = tlen;
		if (tlen <= EF_INLINE_SYMLINK_MAX)
			memcpy(ip->d.u.symlink, target, tlen);
		else {
			ip->d.u.map.hdr.magic = EF_EXTENT_HDR_MAGIC;
			ip->d.u.map.hdr.max = EF_INODE_EXTENTS;
			r = file_init_data(tx, ip, target, tlen);
		}
	}
	if (r == 0 && access_acl)
		r = xattr_set(tx, ip, ACL_XATTR_ACCESS, aacl, (size_t)dn, 0);
	if (r == 0 && dn > 0 && S_ISDIR(mode))
		r = xattr_set(tx, ip, ACL_XATTR_DEFAULT, dacl, (size_t)dn, 0);
	if (r == 0)
		r = iupdate(tx, ip);
	if (r == 0)
		r = name ? dir_add(tx, dp, name, len, ip->ino, dtype(mode))
			 : orphan_add(fs, tx, ip);
	if (r < 0) {
		undo_new_inode(tx, ip);
		tx_finish(tx, r);
		unlock_put(ip);
		goto out_dp;
	}
	if (S_ISDIR(mode))
		dp->d.nlink++;
	if (name) {
		dp->d.mtime = dp->d.ctime = ip->d.ctime;
		r = iupdate(tx, dp);
	}
	r = tx_finish(tx, r);
	if (r == 0) {
		inode_stat(ip, out);
		inode_lookup_ref(ip);
		if (!name) /* before the last iput: an unnamed inode lives by its handle */
			inode_open_ref(ip);
	}
	unlock_put(ip);
out_dp:
	unlock_put(dp);
	return edge(r);
}

static int mknode(struct fs *fs, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		  const char *target, uid_t uid, gid_t gid, fs_attr_t *out)
{
	int r, tries = 0;
	do
		r = mknode_once(fs, parent, name, mode, rdev, target, uid, gid, out);
	while (retry_enospc(fs, r, &tries));
	if (r == 0)
		fs_faultpath_created(fs, parent, name, (uint64_t)out->st_ino);
	return r;
}

int fs_mknod(struct fs *fs, uint64_t parent, const char *name, mode_t mode, dev_t rdev, uid_t uid,
	     gid_t gid, fs_attr_t *out)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	case S_IFDIR:
		return fs_mkdir(fs, parent, name, mode, uid, gid, out);
	default:
		return -EINVAL;
	}
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return mknode(fs, parent, name, mode, rdev, NULL, uid, gid, out);
}

int fs_mkdir(struct fs *fs, uint64_t parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
	     fs_attr_t *out)
{
	return mknode(fs, parent, name, S_IFDIR | (mode & 07777), 0, NULL, uid, gid, out);
}

int fs_symlink(struct fs *fs, uint64_t parent, const char *name, const char *target, uid_t uid,
	       gid_t gid, fs_attr_t *out)
{
	return mknode(fs, parent, name, S_IFLNK | 0777, 0, target, uid, gid, out);
}

int fs_create(struct fs *fs, uint64_t parent, const char *name, mode_t mode, int flags, uid_t uid,
	      gid_t gid, fs_attr_t *out)
{
	int r = mknode(fs, parent, name, S_IFREG | (mode & 07777), 0, NULL, uid, gid, out);
	if (r == -EEXIST && !(flags & O_EXCL)) {
		/* Lost a race with another creator: open what is there. */
		if ((r = fs_lookup(fs, parent, name, out)) < 0)
			return r;
		if (S_ISDIR(out->st_mode)) {
			fs_forget(fs, out->st_ino, 1);
			return -EISDIR;
		}
		if ((r = fs_open(fs, out->st_ino, flags)) < 0) {
			fs_forget(fs, out->st_ino, 1);
			return r;
		}
		return fs_getattr(fs, out->st_ino, out);
	}
	if (r == 0) {
		struct inode *ip;
		if (iget(fs, out->st_ino, &ip) == 0) {
			inode_open_ref(ip);
			iput(ip);
		}
	}
	return r;
}

int fs_tmpfile(struct fs *fs, uint64_t parent, mode_t mode, uid_t uid, gid_t gid, fs_attr_t *out)
{
	int r, tries = 0;
	do
		r = mknode_once(fs, parent, NULL, S_IFREG | (mode & 07777), 0, NULL, uid, gid, out);
	while (retry_enospc(fs, r, &tries));
	return r;
}

static int link_once(struct fs *fs, uint64_t ino, uint64_t newparent, const char *newname,
		     fs_attr_t *out)
{
	size_t len;
	int r = check_name(newname, &len);
	if (r < 0)
		return r;
	if (fs->readonly)
		return readonly_create_error(fs, newparent, newname, len);
	if (is_dot(newname))
		return -EEXIST;
	struct inode *dp, *ip;
	if ((r = lock_dir(fs, newparent, &dp)) < 0)
		return edge(r);
	if ((r = iget(fs, ino, &ip)) < 0)
		goto out_dp;
	if ((r = ilock(ip)) < 0) {
		iput(ip);
		goto out_dp;
	}
	uint64_t other;
	uint8_t type;
	if (S_ISDIR(ip->d.mode) || inode_frozen(ip) || (dp->d.flags & EF_FL_IMMUTABLE))
		r = -EPERM;
	else if (ip->d.nlink == 0 && (!ip->orphan || !inode_is_open(ip)))
		r = -ENOENT; /* freed, or closed (its blocks may be gone: iunused) */
	else if (ip->d.nlink >= FS_LINK_MAX)
		r = -EMLINK;
	else if ((r = dir_lookup(dp, newname, len, &other, &type)) == 0)
		r = -EEXIST;
	else if (r == -ENOENT)
		r = dir_prepare(dp, newname, len);
	struct tx *tx;
	if (r == 0 && (r = tx_begin(fs->st->journal, TX_LINK, &tx)) == 0) {
		r = dir_add(tx, dp, newname, len, ip->ino, dtype(ip->d.mode));
		/* An open file with no name (O_TMPFILE; the kernel lets only
		   those through) gets one: it leaves the orphan list, as on ext4. */
		if (r == 0 && ip->d.nlink == 0)
			r = orphan_remove(fs, tx, ip);
		if (r == 0) {
			ip->d.nlink++;
			ip->d.ctime = inode_now();
			dp->d.mtime = dp->d.ctime = ip->d.ctime;
			if ((r = iupdate(tx, ip)) == 0)
				r = iupdate(tx, dp);
		}
		r = tx_finish(tx, r);
	}
	if (r == 0) {
		inode_stat(ip, out);
		inode_lookup_ref(ip);
	}
	unlock_put(ip);
out_dp:
	unlock_put(dp);
	return edge(r);
}

int fs_link(struct fs *fs, uint64_t ino, uint64_t newparent, const char *newname, fs_attr_t *out)
{
	int r, tries = 0;
	do
		r = link_once(fs, ino, newparent, newname, out);
	while (retry_enospc(fs, r, &tries));
	if (r == 0)
		fs_faultpath_created(fs, newparent, newname, ino);
	return r;
}

/* ---- removing names ---------------------------------------------------------------- */

/* Drop one link of ip (locked) inside tx; at zero it joins the orphan list, and the
   last reference frees it. A directory loses both its links. */
static int drop_link(struct tx *tx, struct inode *ip)
{
	if (S_ISDIR(ip->d.mode))
		ip->d.nlink = 0;
	else if (ip->d.nlink > 0)
		ip->d.nlink--;
	ip->d.ctime = inode_now();
	int r = iupdate(tx, ip);
	if (r == 0 && ip->d.nlink == 0)
		r = orphan_add(ip->fs, tx, ip);
	return r;
}

static int remove_name(struct fs *fs, uint64_t parent, const char *name, bool dir)
{
	size_t len;
	int r = check_name(name, &len);
	if (r < 0)
		return r;
	if (fs->readonly)
		return -EROFS;
	if (strcmp(name, ".") == 0)
		return dir ? -EINVAL : -EISDIR;
	if (strcmp(name, "..") == 0)
		return dir ? -ENOTEMPTY : -EISDIR;
	struct inode *dp, *ip = NULL;
	if ((r = lock_dir(fs, parent, &dp)) < 0)
		return edge(r);
	uint64_t ino;
	uint8_t type;
	if ((r = dir_lookup(dp, name, len, &ino, &type)) < 0)
		goto out_dp;
	if ((r = iget(fs, ino, &ip)) < 0)
		goto out_dp;
	if ((r = ilock(ip)) < 0) {
		iput(ip);
		ip = NULL;
		goto out_dp;
	}
	uint64_t n = 0;
	if (inode_frozen(dp) || inode_frozen(ip))
		r = -EPERM;
	else if (dir && !S_ISDIR(ip->d.mode))
		r = -ENOTDIR;
	else if (!dir && S_ISDIR(ip->d.mode))
		r = -EISDIR;
	else if (dir && (r = dir_count(ip, &n)) == 0 && n > 0)
		r = -ENOTEMPTY;
	struct tx *tx;
	if (r == 0 && (r = tx_begin(fs->st->journal, TX_UNLINK, &tx)) == 0) {
		r = dir_remove(tx, dp, name, len);
		if (r == 0)
			r = drop_link(tx, ip);
		if (r == 0) {
			if (dir)
				dp->d.nlink--;
			dp->d.mtime = dp->d.ctime = ip->d.ctime;
			r = iupdate(tx, dp);
		}
		r = tx_finish(tx, r);
	}
	iunlock(ip);
out_dp:
	unlock_put(dp);
	if (ip)
		iput(ip); /* after the parent's lock: this may free a big file */
	return edge(r);
}

int fs_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	return remove_name(fs, parent, name, false);
}

int fs_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	return remove_name(fs, parent, name, true);
}

/* ---- rename --------------------------------------------------------------------------- */

/* Look name up in directory ino with a short shared lock. Under ns_lock the tree's
   shape is stable (only renames move directories); the names may still change
   (creates and unlinks run beside a rename), so rename checks them again once it
   holds the parents. */
static int peek(struct fs *fs, uint64_t dir, const char *name, size_t len, uint64_t *ino,
		uint8_t *type)
{
	struct inode *dp;
	int r = iget(fs, dir, &dp);
	if (r < 0)
		return r;
	if ((r = ilock_shared(dp)) == 0) {
		r = dir_find(dp, name, len, ino, type);
		iunlock(dp);
	}
	iput(dp);
	return r;
}

/* The generation of inode ino (it changes when the number is reused). */
static int gen_of(struct fs *fs, uint64_t ino, uint32_t *gen)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return r;
	if ((r = ilock_shared(ip)) == 0) {
		*gen = ip->d.generation;
		iunlock(ip);
	}
	iput(ip);
	return r;
}

int fs_generation(struct fs *fs, uint64_t ino, uint32_t *gen)
{
	return edge(gen_of(fs, ino, gen));
}

/* Is anc an ancestor of (or equal to) ino? Walks ".." under ns_lock. */
static int is_ancestor(struct fs *fs, uint64_t anc, uint64_t ino)
{
	for (uint64_t steps = 0; steps <= fs->st->sb.ninodes; steps++) {
		if (ino == anc)
			return 1;
		if (ino == EF_ROOT_INO)
			return 0;
		uint64_t up;
		uint8_t t;
		int r = peek(fs, ino, "..", 2, &up, &t);
		if (r < 0)
			return r;
		ino = up;
	}
	return -EUCLEAN; /* a loop of ".." */
}

/* Inside tx: a whiteout (character device 0/0, one link), returned locked. */
static int new_whiteout(struct fs *fs, struct tx *tx, uid_t uid, gid_t gid, struct inode **out)
{
	int r = inode_alloc(fs, tx, S_IFCHR, uid, gid, out);
	if (r < 0)
		return r;
	(*out)->d.nlink = 1;
	(*out)->d.rdev = 0;
	if ((r = iupdate(tx, *out)) < 0) {
		undo_new_inode(tx, *out);
		unlock_put(*out);
		*out = NULL;
	}
	return r;
}

static int rename_once(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
		       const char *newname, unsigned int flags, uid_t uid, gid_t gid)
{
	size_t len, nlen;
	int r;
	if ((r = check_name(name, &len)) < 0 || (r = check_name(newname, &nlen)) < 0)
		return r;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) ||
	    (flags & RENAME_EXCHANGE && flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
		return -EINVAL;
	if (fs->readonly)
		return -EROFS;
	if (is_dot(name) || is_dot(newname))
		return -EBUSY;
	bool exchange = flags & RENAME_EXCHANGE, whiteout = flags & RENAME_WHITEOUT;
	pthread_mutex_lock(&fs->ns_lock);
	struct inode *p1 = NULL, *p2 = NULL, *s = NULL, *t = NULL, *w = NULL;
	uint64_t sino, tino = 0;
	uint8_t stype, ttype = 0;
	uint32_t gen1 = 0, gen2 = 0;
	if ((r = gen_of(fs, parent, &gen1)) < 0 || (r = gen_of(fs, newparent, &gen2)) < 0)
		goto out;
	if ((r = peek(fs, parent, name, len, &sino, &stype)) < 0)
		goto out;
	r = peek(fs, newparent, newname, nlen, &tino, &ttype);
	if (r == -ENOENT) {
		tino = 0;
		r = exchange ? -ENOENT : 0;
	} else if (r == 0 && (flags & RENAME_NOREPLACE)) {
		r = -EEXIST;
	}
	if (r < 0)
		goto out;
	if (sino == tino)
		goto out; /* the same inode: nothing to do */
	if (!exchange && tino) {
		if (stype == DT_DIR && ttype != DT_DIR)
			r = -ENOTDIR;
		else if (stype != DT_DIR && ttype == DT_DIR)
			r = -EISDIR;
		else if (tino == parent)
			r = -ENOTEMPTY; /* it holds the source */
		if (r < 0)
			goto out;
	}
	/* No directory may move into its own subtree. */
	if (parent != newparent) {
		if (stype == DT_DIR && (r = is_ancestor(fs, sino, newparent)) != 0)
			goto loop;
		if (exchange && ttype == DT_DIR && (r = is_ancestor(fs, tino, parent)) != 0)
			goto loop;
	}
	/* Lock: parents in ancestor order, then the children. */
	int p2_first = parent != newparent ? is_ancestor(fs, newparent, parent) : 0;
	if (p2_first < 0) {
		r = p2_first;
		goto out;
	}
	uint64_t first = p2_first ? newparent : parent, second = p2_first ? parent : newparent;
	struct inode *a, *b = NULL;
	if ((r = lock_dir(fs, first, &a)) < 0)
		goto out;
	if (second != first && (r = lock_dir(fs, second, &b)) < 0) {
		unlock_put(a);
		goto out;
	}
	p1 = p2_first ? b : a;
	p2 = p2_first ? a : (b ? b : a);
	/* The checks above used the peeks: they hold if the parents are the same
	   inodes (a number can be freed and reused meanwhile: its generation
	   changes) and the names still lead where they led. Else start again. */
	uint64_t s2 = 0, t2 = 0;
	uint8_t sty = 0, tty = 0;
	int rs = dir_lookup(p1, name, len, &s2, &sty);
	int rt = dir_lookup(p2, newname, nlen, &t2, &tty);
	if (p1->d.generation != gen1 || p2->d.generation != gen2 || rs < 0 || s2 != sino ||
	    sty != stype || (rt == 0 ? t2 != tino || tty != ttype : rt != -ENOENT || tino != 0)) {
		r = -EAGAIN;
		goto unlock;
	}
	if ((r = iget(fs, sino, &s)) < 0 || (r = ilock(s)) < 0) {
		if (s)
			iput(s);
		s = NULL;
		goto unlock;
	}
	if (tino && ((r = iget(fs, tino, &t)) < 0 || (r = ilock(t)) < 0)) {
		if (t)
			iput(t);
		t = NULL;
		goto unlock;
	}
	bool sdir = S_ISDIR(s->d.mode), tdir = t && S_ISDIR(t->d.mode);
	uint64_t n = 0;
	if (inode_frozen(p1) || inode_frozen(s) || (t && inode_frozen(t)) ||
	    (p2->d.flags & EF_FL_IMMUTABLE) || ((exchange || t) && inode_frozen(p2)))
		r = -EPERM;
	else if (!exchange && tdir && (r = dir_count(t, &n)) == 0 && n > 0)
		r = -ENOTEMPTY;
	if (r == 0 && p1 != p2 && sdir && !tdir && p2->d.nlink >= FS_LINK_MAX)
		r = -EMLINK;
	if (r == 0 && p1 != p2 && exchange && tdir && !sdir && p1->d.nlink >= FS_LINK_MAX)
		r = -EMLINK;
	if (r == 0 && !t)
		r = dir_prepare(p2, newname, nlen);
	struct tx *tx;
	if (r < 0 ||
	    (r = tx_begin(fs->st->journal, TX_RENAME + (whiteout ? TX_WHITEOUT : 0), &tx)) < 0)
		goto unlock;
	/* RENAME_WHITEOUT: the source's name is left to a new character device
	   0/0 (overlayfs' whiteout), in the same transaction, as ext4 does. */
	if (whiteout && (r = new_whiteout(fs, tx, uid, gid, &w)) < 0) {
		r = tx_finish(tx, r);
		goto unlock;
	}
	struct ef_time now = inode_now();
	if (exchange) {
		r = dir_replace(tx, p1, name, len, t->ino, dtype(t->d.mode));
		if (r == 0)
			r = dir_replace(tx, p2, newname, nlen, s->ino, dtype(s->d.mode));
		if (r == 0 && p1 != p2 && sdir) {
			r = dir_set_parent(tx, s, p2->ino);
			p1->d.nlink--;
			p2->d.nlink++;
		}
		if (r == 0 && p1 != p2 && tdir) {
			r = dir_set_parent(tx, t, p1->ino);
			p2->d.nlink--;
			p1->d.nlink++;
		}
		t->d.ctime = now;
		if (r == 0)
			r = iupdate(tx, t);
	} else {
		if (t) {
			r = dir_replace(tx, p2, newname, nlen, s->ino, dtype(s->d.mode));
			if (r == 0)
				r = drop_link(tx, t);
			if (r == 0 && tdir)
				p2->d.nlink--;
		} else {
			r = dir_add(tx, p2, newname, nlen, s->ino, dtype(s->d.mode));
		}
		if (r == 0 && w)
			r = dir_replace(tx, p1, name, len, w->ino, DT_CHR);
		else if (r == 0)
			r = dir_remove(tx, p1, name, len);
		if (r == 0 && sdir && p1 != p2) {
			r = dir_set_parent(tx, s, p2->ino);
			p1->d.nlink--;
			p2->d.nlink++;
		}
	}
	s->d.ctime = now;
	p1->d.mtime = p1->d.ctime = p2->d.mtime = p2->d.ctime = now;
	if (r == 0)
		r = iupdate(tx, s);
	if (r == 0)
		r = iupdate(tx, p1);
	if (r == 0 && p2 != p1)
		r = iupdate(tx, p2);
	if (r < 0 && w)
		undo_new_inode(tx, w);
	r = tx_finish(tx, r);
	if (w)
		unlock_put(w);
unlock:
	if (t)
		iunlock(t);
	if (s)
		unlock_put(s);
	unlock_put(p1);
	if (p2 != p1)
		unlock_put(p2);
out:
	pthread_mutex_unlock(&fs->ns_lock);
	if (t)
		iput(t); /* outside ns_lock: this may free a big file */
	return edge(r);
loop:
	if (r > 0)
		r = -EINVAL;
	goto out;
}

int fs_rename2(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname, unsigned int flags, uid_t uid, gid_t gid)
{
	int r, tries = 0, races = 0;
	do
		r = rename_once(fs, parent, name, newparent, newname, flags, uid, gid);
	while ((r == -EAGAIN && ++races < 64) || retry_enospc(fs, r, &tries));
	struct faults *f = fs->st->disk.faults;
	if (r == 0 && f && atomic_load_explicit(&f->any_path, memory_order_relaxed)) {
		uint64_t ino;
		uint8_t type;
		if (peek(fs, newparent, newname, strlen(newname), &ino, &type) == 0)
			fs_faultpath_created(fs, newparent, newname, ino);
		if (flags & RENAME_EXCHANGE &&
		    peek(fs, parent, name, strlen(name), &ino, &type) == 0)
			fs_faultpath_created(fs, parent, name, ino);
	}
	return r;
}

int fs_rename(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
	      const char *newname, unsigned int flags)
{
	return fs_rename2(fs, parent, name, newparent, newname, flags, 0, 0);
}

/* ---- readdir ---------------------------------------------------------------------------- */

struct rdctx {
	struct fs *fs;
	fs_filldir_t fill;
	void *arg;
};

/* Readdir offsets: "." 0 -> 1, ".." 1 -> 2, an entry with key k -> k + 3, so a
   listing resumed at offset o >= 2 continues with the keys >= o - 2. The
   attributes passed carry st_ino and the type bits of st_mode only (what a
   directory entry holds); readdirplus takes its lookups afterwards. */
static int rd_entry(void *arg, const char *name, size_t len, uint64_t ino, uint8_t type,
		    uint64_t key)
{
	struct rdctx *c = arg;
	char nm[FS_NAME_MAX + 1];
	memcpy(nm, name, len);
	nm[len] = '\0';
	fs_attr_t st;
	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = DTTOIF(type);
	return c->fill(c->arg, nm, &st, (off_t)(key + 3));
}

int fs_readdir(struct fs *fs, uint64_t ino, off_t off, fs_filldir_t fill, void *arg)
{
	struct inode *dp;
	int r = iget(fs, ino, &dp);
	if (r < 0)
		return edge(r);
	if ((r = ilock_shared(dp)) < 0) {
		iput(dp);
		return edge(r);
	}
	if (!S_ISDIR(dp->d.mode)) {
		r = -ENOTDIR;
		goto out;
	}
	fs_attr_t st;
	if (off <= 0) {
		inode_stat(dp, &st);
		if (fill(arg, ".", &st, 1))
			goto out;
	}
	if (off <= 1) {
		uint64_t up;
		if ((r = dir_parent(dp, &up)) < 0)
			goto out;
		memset(&st, 0, sizeof(st));
		st.st_ino = up; /* not its full attributes: that lock would go child-to-parent */
		st.st_mode = S_IFDIR;
		if (fill(arg, "..", &st, 2))
			goto out;
	}
	struct rdctx c = {fs, fill, arg};
	r = dir_iterate(dp, off >= 2 ? (uint64_t)off - 2 : 0, rd_entry, &c);
	if (r > 0)
		r = 0;
out:
	iunlock(dp);
	iput(dp);
	if (r == 0)
		fs_accessed(fs, ino);
	return edge(r);
}

/* ---- files -------------------------------------------------------------------------- */

int fs_open(struct fs *fs, uint64_t ino, int flags)
{
	bool writes = (flags & O_ACCMODE) != O_RDONLY;
	bool io = fs->io && writes && (flags & O_TRUNC) && !fs->readonly;
	struct inode *ip;
	int r = size_change_begin(fs, ino, io, &ip);
	if (r < 0)
		return r;
	if (writes && fs->readonly)
		r = -EROFS;
	else if (writes && ((ip->d.flags & EF_FL_IMMUTABLE) ||
			    (inode_frozen(ip) && (!(flags & O_APPEND) || (flags & O_TRUNC)))))
		r = -EPERM; /* chattr +i; +a opens for appending only */
	else if (S_ISDIR(ip->d.mode) && (writes || (flags & O_TRUNC)))
		r = -EISDIR;
	else if ((flags & O_TRUNC) && writes && S_ISREG(ip->d.mode) && ip->d.size > 0)
		r = file_truncate(ip, 0);
	if (r == 0)
		inode_open_ref(ip);
	size_change_end(fs, ino, io, ip);
	return edge(r);
}

int fs_release(struct fs *fs, uint64_t ino)
{
	inode_release(fs, ino);
	return 0;
}

/* Get ino locked (shared or not) as a regular file; EISDIR/EINVAL otherwise. */
static int get_file(struct fs *fs, uint64_t ino, bool excl, struct inode **out)
{
	int r = iget(fs, ino, out);
	if (r < 0)
		return r;
	if ((r = excl ? ilock(*out) : ilock_shared(*out)) < 0) {
		iput(*out);
		return r;
	}
	if (!S_ISREG((*out)->d.mode)) {
		r = S_ISDIR((*out)->d.mode) ? -EISDIR : -EINVAL;
		unlock_put(*out);
	}
	return r;
}

ssize_t fs_read(struct fs *fs, uint64_t ino, void *buf, size_t size, off_t off)
{
	struct inode *ip;
	int r = get_file(fs, ino, false, &ip);
	if (r < 0)
		return edge(r);
	ssize_t n;
	if (fs->io) { /* through the page cache, without the inode lock (fsio.h) */
		unlock_put(ip);
		n = fsio_read(fs, ino, buf, size, off);
	} else {
		n = file_read(ip, buf, size, off);
		unlock_put(ip);
	}
	if (n >= 0)
		fs_accessed(fs, ino);
	return n;
}

ssize_t fs_write(struct fs *fs, uint64_t ino, const void *buf, size_t size, off_t off)
{
	if (fs->readonly)
		return -EROFS;
	struct inode *ip;
	int r = get_file(fs, ino, true, &ip);
	if (r < 0)
		return edge(r);
	if (ip->d.flags & EF_FL_IMMUTABLE) { /* made immutable while open */
		unlock_put(ip);
		return -EPERM;
	}
	/* A write by anyone drops set-user-ID (and group-exec set-group-ID), as the kernel does. */
	if (ip->d.mode & (S_ISUID | S_ISGID))
		ip->d.mode &= ~(mode_t)(S_ISUID | ((ip->d.mode & S_IXGRP) ? S_ISGID : 0));
	if (fs->io) { /* through the page cache, without the inode lock (fsio.h) */
		unlock_put(ip);
		return fsio_write(fs, ino, buf, size, off);
	}
	ssize_t n;
	int tries = 0;
	do
		n = file_write(ip, buf, size, off);
	while (retry_enospc(fs, n, &tries));
	unlock_put(ip);
	return n;
}

/* fsync writes the times a lazytime mount kept in memory, as the kernel's
   fsync writes a dirty-time inode. */
static int write_times(struct fs *fs, uint64_t ino)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return edge(r);
	if (ip->dirty_times && (r = ilock(ip)) == 0) {
		r = inode_write_times(ip);
		iunlock(ip);
	}
	iput(ip);
	return edge(r);
}

int fs_fsync(struct fs *fs, uint64_t ino, bool datasync)
{
	/* Write the file's dirty pages back (with the engine), then commit the
	   metadata and flush the device cache so both are durable. */
	if (fs->io) {
		int r = fsio_fsync(fs, ino);
		if (r < 0)
			return r;
		if ((r = write_times(fs, ino)) < 0)
			return r;
		r = journal_commit(fs->st->journal, true);
		return r < 0 ? r : disk_flush(&fs->st->disk);
	}
	return fs_sync(fs);
}

int fs_fallocate(struct fs *fs, uint64_t ino, int mode, off_t off, off_t len)
{
	if (fs->readonly)
		return -EROFS;
	bool io = fs->io != NULL, punch = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
	if (io && off >= 0 && len > 0) {
		int r = fsio_change_begin(fs, ino, punch ? (uint64_t)off : 0,
					  punch ? (uint64_t)len : 0);
		if (r < 0)
			return r;
	} else {
		io = false;
	}
	struct inode *ip;
	int r = get_file(fs, ino, true, &ip);
	if (r < 0) {
		if (io)
			fsio_punch_end(fs, ino, 0, 0);
		return edge(r == -EINVAL ? -ENODEV : r);
	}
	int tries = 0;
	do
		r = (ip->d.flags & EF_FL_IMMUTABLE) ||
			    (inode_frozen(ip) && (mode & ~FALLOC_FL_KEEP_SIZE))
			? -EPERM
			: file_fallocate(ip, mode, off, len);
	while (retry_enospc(fs, r, &tries));
	unlock_put(ip);
	if (io)
		fsio_punch_end(fs, ino, punch ? (uint64_t)off : 0, punch ? (uint64_t)len : 0);
	return r;
}

off_t fs_lseek(struct fs *fs, uint64_t ino, off_t off, int whence)
{
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	struct inode *ip;
	int r = get_file(fs, ino, false, &ip);
	if (r < 0)
		return edge(r);
	off_t o = file_seek(ip, off, whence);
	unlock_put(ip);
	return o;
}

/* ---- xattrs ----------------------------------------------------------------------------- */

static int xattr_change(struct fs *fs, uint64_t ino, const char *name, const void *value,
			size_t size, int flags, bool remove)
{
	if (fs->readonly)
		return -EROFS;
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return edge(r);
	if ((r = ilock(ip)) < 0) {
		iput(ip);
		return edge(r);
	}
	struct tx *tx;
	/* An ACL: checked; the default one on directories only; the access one
	   sets the mode's permission bits and, when it says no more than
	   them, is not kept (as ext4). */
	bool acl_access = strcmp(name, ACL_XATTR_ACCESS) == 0, equiv = false;
	mode_t mode = ip->d.mode;
	if (inode_frozen(ip))
		r = -EPERM;
	else if (!remove && (acl_access || strcmp(name, ACL_XATTR_DEFAULT) == 0) &&
		 (r = acl_check(value, size)) == 0 && !acl_access && !S_ISDIR(ip->d.mode))
		r = -EACCES;
	else if (r == 0 && !remove && acl_access && !acl_to_mode(value, size, &mode))
		remove = equiv = true;
	if (r == 0 && (r = tx_begin(fs->st->journal, 6, &tx)) == 0) {
		r = remove ? xattr_remove(tx, ip, name)
			   : xattr_set(tx, ip, name, value, size, flags);
		if (r == -ENODATA && equiv && !(flags & XATTR_REPLACE))
			r = 0; /* an ACL equal to the mode replaced none */
		if (r == 0)
			ip->d.mode = mode;
		if (r == 0) {
			ip->d.ctime = inode_now();
			r = iupdate(tx, ip);
		}
		r = tx_finish(tx, r);
	}
	unlock_put(ip);
	return edge(r);
}

int fs_setxattr(struct fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
		int flags)
{
	int r, tries = 0;
	do
		r = xattr_change(fs, ino, name, value, size, flags, false);
	while (retry_enospc(fs, r, &tries));
	return r;
}

int fs_removexattr(struct fs *fs, uint64_t ino, const char *name)
{
	return xattr_change(fs, ino, name, NULL, 0, 0, true);
}

ssize_t fs_getxattr(struct fs *fs, uint64_t ino, const char *name, void *value, size_t size)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return edge(r);
	if ((r = ilock_shared(ip)) < 0) {
		iput(ip);
		return edge(r);
	}
	ssize_t n = xattr_get(ip, name, value, size);
	unlock_put(ip);
	return n;
}

ssize_t fs_listxattr(struct fs *fs, uint64_t ino, char *list, size_t size)
{
	struct inode *ip;
	int r = iget(fs, ino, &ip);
	if (r < 0)
		return edge(r);
	if ((r = ilock_shared(ip)) < 0) {
		iput(ip);
		return edge(r);
	}
	ssize_t n = xattr_list(ip, list, size);
	unlock_put(ip);
	return n;
}

/* ---- whole filesystem ---------------------------------------------------------------------- */

int fs_statfs(struct fs *fs, struct statvfs *out)
{
	const struct ef_super *sb = &fs->st->sb;
	ns_wait_frees(fs); /* an rm that returned has its space counted */
	memset(out, 0, sizeof(*out));
	out->f_bsize = sb->block_size;
	out->f_frsize = sb->block_size;
	out->f_blocks = sb->nblocks - sb->data_start;
	uint64_t fb, fi;
	alloc_counts(fs->st->alloc, &fb, &fi);
	out->f_bfree = fb;
	out->f_bavail = fb;
	out->f_files = sb->ninodes;
	out->f_ffree = fi;
	out->f_favail = fi;
	out->f_namemax = FS_NAME_MAX;
	if (fs->readonly)
		out->f_flag |= ST_RDONLY;
	return 0;
}
