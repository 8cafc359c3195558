/*
 * fuse_ops.c: FUSE low-level operations (layer: FUSE glue, the top).
 *
 * One function per operation, prefix op_, each ending in exactly one
 * fuse_reply_* on every path (forget: fuse_reply_none). They translate a
 * request into fs.h calls and the result into a reply, and nothing else:
 * filesystem logic lives below fs.h. May call: fs.h, fuse_dio.h (O_DIRECT
 * requests, answered later from the completion ring), fault.h (the
 * caller's pid), libfuse.
 *
 * fs.h works on inode numbers and keeps an unlinked inode alive per open
 * handle (fs_open/fs_create .. fs_release); a file's fh holds only its open
 * file description's write-back error cursor (fuse_dio.h daemon_file_*).
 * Files are opened with direct_io so the kernel keeps no copy of their pages
 * (eiocbfs' own page cache is the one under test) except those of a shared
 * mapping, which the channel's INIT flag allows (channel.h, docs/mmap.md);
 * the mount option kernel_cache lets the kernel cache buffered opens too.
 * The operations table at the bottom is the map of this file.
 */
#include "fuse_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault.h"
#include "fs.h"
#include "fuse_dio.h"

/* Largest read/write request we ask the kernel for (it may allow less). */
#define DAEMON_MAX_IO (1u << 20)

static struct daemon_ctx *daemon_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Every operation starts here: it also names the request's caller to the
   fault points (pid=, comm=), as the kernel's current does for its own. */
static struct fs *req_fs(fuse_req_t req)
{
	fault_set_caller(fuse_req_ctx(req)->pid);
	return daemon_ctx(req)->fs;
}

/* Reply to a request whose only result is an fs.h status (0 or -errno). */
static void op_reply_status(fuse_req_t req, int ret)
{
	fuse_reply_err(req, ret < 0 ? -ret : 0);
}

static void fill_entry(struct daemon_ctx *ctx, const fs_attr_t *attr, struct fuse_entry_param *e)
{
	uint32_t gen = 0;

	memset(e, 0, sizeof(*e));
	e->ino = attr->st_ino;
	/* The kernel puts it in file handles and compares it when it decodes one. */
	if (fs_generation(ctx->fs, attr->st_ino, &gen) == 0)
		e->generation = gen;
	e->attr = *attr;
	e->attr_timeout = ctx->attr_timeout;
	e->entry_timeout = ctx->entry_timeout;
}

static void op_fill_entry(fuse_req_t req, const fs_attr_t *attr, struct fuse_entry_param *e)
{
	fill_entry(daemon_ctx(req), attr, e);
}

/*
 * Reply with a new entry (one lookup reference already taken by fs.h). If
 * the kernel no longer waits for it (interrupted), give the reference back.
 */
static void op_reply_entry(fuse_req_t req, int ret, const fs_attr_t *attr)
{
	struct fuse_entry_param e;
	struct fs *fs = req_fs(req);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	op_fill_entry(req, attr, &e);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		fs_forget(fs, attr->st_ino, 1);
}

/*
 * Owner of a new inode: the caller, with the parent's group under a setgid
 * directory (which new subdirectories inherit), as ext4 does. The kernel has
 * already applied the caller's umask to the mode (no FUSE_CAP_DONT_MASK).
 */
static int new_owner(struct daemon_ctx *ctx, const struct fuse_ctx *c, fuse_ino_t parent,
		     bool isdir, mode_t *mode, uid_t *uid, gid_t *gid)
{
	fs_attr_t pa;
	int ret = fs_getattr(ctx->fs, parent, &pa);

	if (ret < 0)
		return ret;
	/* With POSIX ACLs the kernel leaves the umask to us: it applies when
	   the parent has no default ACL (else that ACL masks the mode, fs.h). */
	if (atomic_load_explicit(&ctx->posix_acl, memory_order_relaxed) && !S_ISLNK(*mode) &&
	    fs_getxattr(ctx->fs, parent, "system.posix_acl_default", NULL, 0) < 0)
		*mode &= ~c->umask;
	*uid = c->uid;
	*gid = c->gid;
	if (pa.st_mode & S_ISGID) {
		*gid = pa.st_gid;
		if (isdir)
			*mode |= S_ISGID;
	}
	return 0;
}

static int op_new_owner(fuse_req_t req, fuse_ino_t parent, bool isdir, mode_t *mode, uid_t *uid,
			gid_t *gid)
{
	req_fs(req);
	return new_owner(daemon_ctx(req), fuse_req_ctx(req), parent, isdir, mode, uid, gid);
}

/* FUSE_STATX, answered by the channel (channel.h): attributes and btime. */
int daemon_statx(struct chan *ch, uint64_t nodeid, struct stat *st, struct timespec *btime,
		 double *timeout)
{
	struct daemon_ctx *ctx = (struct daemon_ctx *)ch;
	int ret = fs_getattr(ctx->fs, nodeid, st);

	if (ret == 0)
		ret = fs_getbtime(ctx->fs, nodeid, btime);
	*timeout = ctx->attr_timeout;
	return ret;
}

/* Connection setup: the capabilities docs/design.md asks for. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct daemon_ctx *ctx = userdata;

	/* A user's libaio on the mount keeps many direct requests in flight. */
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	/* File handles (open_by_handle_at, NFS export): the kernel looks an
	   inode it no longer caches up by number ("." in it) and ".." of a
	   directory, and checks the generation. */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* Async direct requests are "background" ones: the kernel's default
	   of 12 in flight would cap a QD32 libaio user (unless -o max_background). */
	if (conn->max_background < 128) {
		conn->max_background = 128;
		conn->congestion_threshold = 96;
	}
	/* POSIX ACLs, enforced by the kernel (default_permissions); then it
	   sends the umask with each create instead of applying it. */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK)) {
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		atomic_store_explicit(&ctx->posix_acl, true, memory_order_relaxed);
	}
	/* Memory buffers, not pipes: write_buf hands them straight to fs_write. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* O_TRUNC arrives as a setattr of the size, never hidden in open. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_write = DAEMON_MAX_IO; /* libfuse clamps this to its buffer */
	conn->max_read = DAEMON_MAX_IO;	 /* must equal the max_read mount option (main.c) */
	if (ctx->debug)
		fuse_log(FUSE_LOG_DEBUG,
			 "eiocbfs: proto %u.%u max_write %u max_read %u async_dio %d\n",
			 conn->proto_major, conn->proto_minor, conn->max_write, conn->max_read,
			 !!(conn->want & FUSE_CAP_ASYNC_DIO));
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_attr_t attr;
	int ret = fs_lookup(req_fs(req), parent, name, &attr);

	if (ret == -ENOENT) {
		/* A negative entry the kernel may cache: every change to the
		 * namespace comes through this mount, so it cannot go stale. */
		struct fuse_entry_param e = {.ino = 0,
					     .entry_timeout = daemon_ctx(req)->entry_timeout};

		fuse_reply_entry(req, &e);
		return;
	}
	op_reply_entry(req, ret, &attr);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_forget(req_fs(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_forget(req_fs(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_attr_t attr;
	int ret = fs_getattr(req_fs(req), ino, &attr);

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &attr, daemon_ctx(req)->attr_timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	static const struct {
		int fuse, fs;
	} map[] = {
	    {FUSE_SET_ATTR_MODE, FS_SET_MODE},	 {FUSE_SET_ATTR_UID, FS_SET_UID},
	    {FUSE_SET_ATTR_GID, FS_SET_GID},	 {FUSE_SET_ATTR_SIZE, FS_SET_SIZE},
	    {FUSE_SET_ATTR_ATIME, FS_SET_ATIME}, {FUSE_SET_ATTR_MTIME, FS_SET_MTIME},
	    {FUSE_SET_ATTR_CTIME, FS_SET_CTIME},
	};
	fs_attr_t in = *attr, out;
	struct timespec now;
	int set = 0, ret;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			set |= map[i].fs;
	/* UTIME_NOW: the time is taken here, so fs.h sees a plain time too. */
	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		in.st_atim = now;
		set |= FS_SET_ATIME | FS_SET_ATIME_NOW;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		in.st_mtim = now;
		set |= FS_SET_MTIME | FS_SET_MTIME_NOW;
	}
	ret = fs_setattr(req_fs(req), ino, &in, set, &out);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &out, daemon_ctx(req)->attr_timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	int ret = fs_readlink(req_fs(req), ino, buf, sizeof(buf) - 1);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	buf[ret < (int)sizeof(buf) - 1 ? ret : (int)sizeof(buf) - 1] = '\0';
	fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fs_attr_t attr;
	uid_t uid;
	gid_t gid;
	int ret = op_new_owner(req, parent, false, &mode, &uid, &gid);

	if (ret == 0)
		ret = fs_mknod(req_fs(req), parent, name, mode, rdev, uid, gid, &attr);
	op_reply_entry(req, ret, &attr);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fs_attr_t attr;
	uid_t uid;
	gid_t gid;
	int ret = op_new_owner(req, parent, true, &mode, &uid, &gid);

	if (ret == 0)
		ret = fs_mkdir(req_fs(req), parent, name, mode, uid, gid, &attr);
	op_reply_entry(req, ret, &attr);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fs_attr_t attr;
	mode_t mode = S_IFLNK | 0777;
	uid_t uid;
	gid_t gid;
	int ret = op_new_owner(req, parent, false, &mode, &uid, &gid);

	if (ret == 0)
		ret = fs_symlink(req_fs(req), parent, name, link, uid, gid, &attr);
	op_reply_entry(req, ret, &attr);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fs_attr_t attr;
	int ret = fs_link(req_fs(req), ino, newparent, newname, &attr);

	op_reply_entry(req, ret, &attr);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	op_reply_status(req, fs_unlink(req_fs(req), parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	op_reply_status(req, fs_rmdir(req_fs(req), parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	op_reply_status(
	    req, fs_rename2(req_fs(req), parent, name, newparent, newname, flags, c->uid, c->gid));
}

/* How the kernel may cache an open file's pages (see the top comment). */
static void set_caching(struct daemon_ctx *ctx, struct fuse_file_info *fi)
{
	if (!ctx->kernel_cache || (fi->flags & O_DIRECT))
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
}

static void op_set_caching(fuse_req_t req, struct fuse_file_info *fi)
{
	set_caching(daemon_ctx(req), fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	int ret = fs_open(fs, ino, fi->flags);

	if (ret == 0 && (ret = daemon_file_open(&daemon_ctx(req)->files, fs, ino, fi)) < 0)
		fs_release(fs, ino);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	op_set_caching(req, fi);
	if (fuse_reply_open(req, fi) == -ENOENT) { /* interrupted: no release will come */
		daemon_file_release(&daemon_ctx(req)->files, fi);
		fs_release(fs, ino);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fuse_entry_param e;
	fs_attr_t attr;
	uid_t uid;
	gid_t gid;
	int ret = op_new_owner(req, parent, false, &mode, &uid, &gid);

	if (ret == 0)
		ret = fs_create(fs, parent, name, mode, fi->flags, uid, gid, &attr);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	op_fill_entry(req, &attr, &e);
	if ((ret = daemon_file_open(&daemon_ctx(req)->files, fs, attr.st_ino, fi)) < 0) {
		fs_release(fs, attr.st_ino);
		fs_forget(fs, attr.st_ino, 1);
		fuse_reply_err(req, -ret);
		return;
	}
	op_set_caching(req, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		daemon_file_release(&daemon_ctx(req)->files, fi);
		fs_release(fs, attr.st_ino);
		fs_forget(fs, attr.st_ino, 1);
	}
}

/* FUSE_TMPFILE, answered by the channel (channel.h): op_create without a
   name. The new file holds a lookup and an open, which the kernel's
   FORGET and RELEASE give back (or daemon_tmpfile_undo). */
int daemon_tmpfile(struct chan *ch, uint64_t parent, const struct fuse_ctx *c, mode_t mode,
		   struct fuse_file_info *fi, struct fuse_entry_param *e)
{
	struct daemon_ctx *ctx = (struct daemon_ctx *)ch;
	struct fs *fs = ctx->fs;
	fs_attr_t attr;
	uid_t uid;
	gid_t gid;
	int ret;

	fault_set_caller(c->pid);
	ret = new_owner(ctx, c, parent, false, &mode, &uid, &gid);
	if (ret == 0)
		ret = fs_tmpfile(fs, parent, mode, uid, gid, &attr);
	if (ret < 0)
		return ret;
	fill_entry(ctx, &attr, e);
	if ((ret = daemon_file_open(&ctx->files, fs, attr.st_ino, fi)) < 0) {
		fs_release(fs, attr.st_ino);
		fs_forget(fs, attr.st_ino, 1);
		return ret;
	}
	set_caching(ctx, fi);
	return 0;
}

void daemon_tmpfile_undo(struct chan *ch, const struct fuse_entry_param *e,
			 struct fuse_file_info *fi)
{
	struct daemon_ctx *ctx = (struct daemon_ctx *)ch;

	daemon_file_release(&ctx->files, fi);
	fs_release(ctx->fs, e->ino);
	fs_forget(ctx->fs, e->ino, 1);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf;
	ssize_t n;

	req_fs(req);				      /* the caller, for the direct path's faults */
	if (daemon_dio_read(req, ino, size, off, fi)) /* O_DIRECT: answered from the ring */
		return;
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = fs_read(req_fs(req), ino, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* Writes arrive here (not .write): a memory buffer goes to fs_write as is. */
static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	size_t size = fuse_buf_size(in);
	const struct fuse_buf *b = &in->buf[0];
	char *copy = NULL;
	const void *data;
	ssize_t n;

	req_fs(req);				     /* the caller, for the direct path's faults */
	if (daemon_dio_write(req, ino, in, off, fi)) /* O_DIRECT: answered from the ring */
		return;
	if (in->count == 1 && in->idx == 0 && in->off == 0 && !(b->flags & FUSE_BUF_IS_FD)) {
		data = b->mem;
	} else {
		struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);

		copy = malloc(size ? size : 1);
		if (!copy) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		out.buf[0].mem = copy;
		n = fuse_buf_copy(&out, in, 0);
		if (n < 0) {
			free(copy);
			fuse_reply_err(req, (int)-n);
			return;
		}
		size = (size_t)n;
		data = copy;
	}
	n = fs_write(req_fs(req), ino, data, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	free(copy);
}

/* close(2): data reaches the device on fsync, not on close (as on ext4). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	daemon_file_release(&daemon_ctx(req)->files, fi);
	op_reply_status(req, fs_release(req_fs(req), ino));
}

/* fsync/fdatasync: the write-back, then this description's write-back error. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);

	op_reply_status(req, daemon_file_fsync(fs, ino, fi, fs_fsync(fs, ino, datasync != 0)));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_attr_t attr;
	int ret = fs_getattr(req_fs(req), ino, &attr);

	if (ret == 0 && !S_ISDIR(attr.st_mode))
		ret = -ENOTDIR;
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

/*
 * One readdir reply being built. Plain readdir packs entries straight into
 * buf; readdirplus only reserves their room and remembers them, because each
 * needs a lookup reference, taken after fs_readdir returns (never from
 * inside its callback, where the directory may be locked).
 */
struct ef_dirent {
	char *name;
	fs_attr_t attr;
	off_t next_off;
};

struct daemon_dirbuf {
	fuse_req_t req;
	bool plus;
	char *buf;
	size_t size, used;
	struct ef_dirent *ents;
	size_t nents, cap;
	int err;
};

static int op_dir_fill(void *arg, const char *name, const fs_attr_t *attr, off_t next_off)
{
	struct daemon_dirbuf *d = arg;
	size_t room = d->size - d->used, need;

	if (!d->plus) {
		need = fuse_add_direntry(d->req, d->buf + d->used, room, name, attr, next_off);
		if (need > room)
			return 1;
		d->used += need;
		return 0;
	}
	need = fuse_add_direntry_plus(d->req, NULL, 0, name, NULL, 0);
	if (need > room)
		return 1;
	if (d->nents == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct ef_dirent *n = realloc(d->ents, cap * sizeof(*n));

		if (!n) {
			d->err = -ENOMEM;
			return 1;
		}
		d->ents = n;
		d->cap = cap;
	}
	d->ents[d->nents].name = strdup(name);
	if (!d->ents[d->nents].name) {
		d->err = -ENOMEM;
		return 1;
	}
	d->ents[d->nents].attr = *attr;
	d->ents[d->nents].next_off = next_off;
	d->nents++;
	d->used += need;
	return 0;
}

static bool op_is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* readdirplus: look each remembered entry up (one reference each) and pack it. */
static void op_dir_pack_plus(struct daemon_dirbuf *d, fuse_ino_t dir)
{
	struct fs *fs = req_fs(d->req);

	d->used = 0;
	for (size_t i = 0; i < d->nents; i++) {
		struct ef_dirent *de = &d->ents[i];
		struct fuse_entry_param e;
		fs_attr_t attr;
		int ret;

		if (op_is_dot(de->name)) {
			/* The kernel takes no reference for these: ino 0, type only. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = de->attr.st_ino;
			e.attr.st_mode = de->attr.st_mode & S_IFMT;
		} else {
			ret = fs_lookup(fs, dir, de->name, &attr);
			if (ret == -ENOENT) /* removed since listed: skip it */
				continue;
			if (ret < 0) {
				if (d->used == 0)
					d->err = ret;
				break;
			}
			op_fill_entry(d->req, &attr, &e);
		}
		d->used += fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used,
						  de->name, &e, de->next_off);
	}
}

static void op_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct daemon_dirbuf d = {.req = req, .plus = plus, .size = size};
	int ret;

	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = fs_readdir(req_fs(req), ino, off, op_dir_fill, &d);
	if (ret < 0 && d.used == 0)
		d.err = ret;
	if (plus && d.err == 0)
		op_dir_pack_plus(&d, ino);
	if (d.err < 0 && d.used == 0)
		fuse_reply_err(req, -d.err);
	else
		fuse_reply_buf(req, d.buf, d.used);
	for (size_t i = 0; i < d.nents; i++)
		free(d.ents[i].name);
	free(d.ents);
	free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	op_readdir_common(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	op_readdir_common(req, ino, size, off, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* A directory's changes are journal metadata: committing the journal covers them. */
static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	op_reply_status(req, fs_sync(req_fs(req)));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int ret = fs_statfs(req_fs(req), &st);

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &st);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	op_reply_status(req, fs_setxattr(req_fs(req), ino, name, value, size, flags));
}

/* getxattr and listxattr: size 0 asks for the length (fuse_reply_xattr). */
static void op_reply_sized(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	op_reply_sized(req, fs_getxattr(req_fs(req), ino, name, buf, size), buf, size);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	op_reply_sized(req, fs_listxattr(req_fs(req), ino, buf, size), buf, size);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	op_reply_status(req, fs_removexattr(req_fs(req), ino, name));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	/* COLLAPSE_RANGE and INSERT_RANGE never come: the kernel refuses them
	   (EOPNOTSUPP) for every FUSE filesystem. */
	if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE &&
	    mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) &&
	    (mode & ~FALLOC_FL_KEEP_SIZE) != FALLOC_FL_ZERO_RANGE) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	op_reply_status(req, fs_fallocate(req_fs(req), ino, mode, off, len));
}

/* FS_XFLAG_* of struct fsxattr for the FS_*_FL flags fs.h keeps. */
static const struct {
	unsigned int fl, xflag;
} op_xflags[] = {
    {FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE},
    {FS_APPEND_FL, FS_XFLAG_APPEND},
    {FS_NOATIME_FL, FS_XFLAG_NOATIME},
};

/*
 * The inode flags (chattr, lsattr, xfs_io): the kernel turns FS_IOC_GETFLAGS,
 * SETFLAGS, FSGETXATTR and FSSETXATTR on a file or directory into these
 * requests (its own permission checks done), with fixed-size buffers.
 */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		     size_t out_bufsz)
{
	struct fs *fs = req_fs(req);
	struct fsxattr fx;
	unsigned int fl = 0;
	int ret;

	switch (cmd) {
	case FS_IOC_GETFLAGS:
	case FS_IOC_FSGETXATTR:
		if (out_bufsz < (cmd == FS_IOC_GETFLAGS ? sizeof(fl) : sizeof(fx))) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		if ((ret = fs_getflags(fs, ino, &fl)) < 0) {
			fuse_reply_err(req, -ret);
			return;
		}
		if (cmd == FS_IOC_GETFLAGS) {
			fuse_reply_ioctl(req, 0, &fl, sizeof(fl));
			return;
		}
		memset(&fx, 0, sizeof(fx));
		for (size_t i = 0; i < sizeof(op_xflags) / sizeof(op_xflags[0]); i++)
			if (fl & op_xflags[i].fl)
				fx.fsx_xflags |= op_xflags[i].xflag;
		fuse_reply_ioctl(req, 0, &fx, sizeof(fx));
		return;
	case FS_IOC_SETFLAGS:
		if (in_bufsz < sizeof(fl)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&fl, in_buf, sizeof(fl));
		break;
	case FS_IOC_FSSETXATTR:
		if (in_bufsz < sizeof(fx)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&fx, in_buf, sizeof(fx));
		for (size_t i = 0; i < sizeof(op_xflags) / sizeof(op_xflags[0]); i++)
			if (fx.fsx_xflags & op_xflags[i].xflag) {
				fl |= op_xflags[i].fl;
				fx.fsx_xflags &= ~op_xflags[i].xflag;
			}
		if (fx.fsx_xflags || fx.fsx_extsize || fx.fsx_projid || fx.fsx_cowextsize) {
			fuse_reply_err(req, EOPNOTSUPP);
			return;
		}
		break;
	default:
		fuse_reply_err(req, ENOTTY);
		return;
	}
	ret = fs_setflags(fs, ino, fl);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/* Only SEEK_DATA and SEEK_HOLE reach us; the kernel does the others. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t ret;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = fs_lseek(req_fs(req), ino, off, whence);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_lseek(req, ret);
}

const struct fuse_lowlevel_ops daemon_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .symlink = op_symlink,
    .link = op_link,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write_buf = op_write_buf,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .fallocate = op_fallocate,
    .lseek = op_lseek,
    .ioctl = op_ioctl,
};
