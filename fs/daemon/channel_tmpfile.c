/*
 * channel_tmpfile.c: FUSE_TMPFILE answered by the channel (layer: daemon
 * edge, beside the FUSE glue; see channel.h). The kernel sends it for
 * open(2) with O_TMPFILE, with a create's body (struct fuse_create_in and a
 * name it does not use) and wants a create's reply: the new entry and the
 * open file. libfuse 3.14 would answer ENOSYS, so the read side answers it
 * through the daemon's tmpfile callback and builds the reply as libfuse's
 * fuse_reply_create does.
 */
#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "channel.h"

static void chan_fill_entry(const struct fuse_entry_param *e, struct fuse_entry_out *o)
{
	const struct stat *st = &e->attr;

	memset(o, 0, sizeof(*o));
	o->nodeid = e->ino;
	o->generation = e->generation;
	chan_timeout(e->entry_timeout, &o->entry_valid, &o->entry_valid_nsec);
	chan_timeout(e->attr_timeout, &o->attr_valid, &o->attr_valid_nsec);
	o->attr.ino = st->st_ino;
	o->attr.mode = st->st_mode;
	o->attr.nlink = (uint32_t)st->st_nlink;
	o->attr.uid = st->st_uid;
	o->attr.gid = st->st_gid;
	o->attr.rdev = (uint32_t)st->st_rdev;
	o->attr.size = (uint64_t)st->st_size;
	o->attr.blksize = (uint32_t)st->st_blksize;
	o->attr.blocks = (uint64_t)st->st_blocks;
	o->attr.atime = (uint64_t)st->st_atim.tv_sec;
	o->attr.mtime = (uint64_t)st->st_mtim.tv_sec;
	o->attr.ctime = (uint64_t)st->st_ctim.tv_sec;
	o->attr.atimensec = (uint32_t)st->st_atim.tv_nsec;
	o->attr.mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	o->attr.ctimensec = (uint32_t)st->st_ctim.tv_nsec;
}

static void chan_fill_open(const struct fuse_file_info *fi, struct fuse_open_out *o)
{
	memset(o, 0, sizeof(*o));
	o->fh = fi->fh;
	if (fi->direct_io)
		o->open_flags |= FOPEN_DIRECT_IO;
	if (fi->keep_cache)
		o->open_flags |= FOPEN_KEEP_CACHE;
	if (fi->nonseekable)
		o->open_flags |= FOPEN_NONSEEKABLE;
}

void chan_answer_tmpfile(struct chan *ch, int fd, const void *buf)
{
	const struct fuse_in_header *in = buf;
	const struct fuse_create_in *arg = (const void *)(in + 1);
	struct fuse_ctx c = {
	    .uid = in->uid, .gid = in->gid, .pid = (pid_t)in->pid, .umask = (mode_t)arg->umask};
	struct fuse_file_info fi = {.flags = (int)arg->flags};
	struct fuse_out_header out = {.unique = in->unique};
	struct fuse_entry_param e;
	struct fuse_entry_out eo;
	struct fuse_open_out oo;
	struct iovec iov[3] = {{&out, sizeof(out)}, {&eo, sizeof(eo)}, {&oo, sizeof(oo)}};
	int ret = ch->tmpfile(ch, in->nodeid, &c, (mode_t)arg->mode, &fi, &e);

	if (ret < 0) {
		out.error = ret;
		out.len = sizeof(out);
	} else {
		chan_fill_entry(&e, &eo);
		chan_fill_open(&fi, &oo);
		out.len = sizeof(out) + sizeof(eo) + sizeof(oo);
	}
	atomic_fetch_add_explicit(&ch->replies, 1, memory_order_relaxed);
	/* Interrupted: the kernel drops the reply (ENOENT), so nothing holds
	   what was made for it. */
	if (writev(fd, iov, ret < 0 ? 1 : 3) < 0 && ret == 0 && ch->tmpfile_undo)
		ch->tmpfile_undo(ch, &e, &fi);
}
