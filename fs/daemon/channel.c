/*
 * channel.c: the daemon's reads and writes of /dev/fuse (see channel.h).
 *
 * INIT: libfuse 3.14 builds its reply from the capabilities it knows; the
 * kernel reads the 64-bit flag set as flags | flags2 << 32 when FUSE_INIT_EXT
 * is set. The read side notes the INIT request's unique id and what the
 * kernel offers; the write side, seeing the reply with that id, adds the
 * wanted flags the kernel offered to a copy of libfuse's reply. Everything
 * else passes through untouched, but FUSE_STATX and FUSE_TMPFILE: libfuse
 * 3.14 would answer ENOSYS, so the read side answers them (the daemon's
 * statx and tmpfile callbacks; channel_tmpfile.c) and reads the next request.
 */
#include "channel.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

static struct chan *chan_of(void *userdata)
{
	return userdata; /* the session's user data starts with its struct chan */
}

/* A request just read: remember the INIT one and what the kernel offers. */
static void chan_note_request(struct chan *ch, const void *buf, size_t len)
{
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *init;
	uint64_t offered;

	if (len < sizeof(*in) || in->opcode != FUSE_INIT)
		return;
	if (len < sizeof(*in) + offsetof(struct fuse_init_in, flags2) + sizeof(init->flags2))
		return; /* a kernel without FUSE_INIT_EXT: nothing to add */
	init = (const void *)((const char *)buf + sizeof(*in));
	offered = init->flags;
	if (init->flags & FUSE_INIT_EXT)
		offered |= (uint64_t)init->flags2 << 32;
	atomic_store(&ch->offered, offered);
	atomic_store(&ch->init_unique, in->unique);
}

/* FUSE_STATX, protocol 7.39 (the system's <linux/fuse.h> may be older). */
#define CHAN_FUSE_STATX 52
struct chan_sx_time {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t reserved;
};
struct chan_statx_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t flags;
	uint64_t spare[2];
	struct {
		uint32_t mask, blksize;
		uint64_t attributes;
		uint32_t nlink, uid, gid;
		uint16_t mode, spare0;
		uint64_t ino, size, blocks, attributes_mask;
		struct chan_sx_time atime, btime, ctime, mtime;
		uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
		uint64_t spare2[14];
	} stat;
};
_Static_assert(sizeof(struct chan_statx_out) == 32 + 256, "struct fuse_statx_out");
#define CHAN_STATX_IN_SIZE 24 /* struct fuse_statx_in: nothing in it is needed */

static struct chan_sx_time chan_sx_time(struct timespec ts)
{
	return (struct chan_sx_time){.tv_sec = ts.tv_sec, .tv_nsec = (uint32_t)ts.tv_nsec};
}

/* Answer a FUSE_STATX request: the basic attributes and the creation time. */
static void chan_answer_statx(struct chan *ch, int fd, const struct fuse_in_header *in)
{
	struct fuse_out_header out = {.unique = in->unique};
	struct chan_statx_out sx;
	struct stat st;
	struct timespec btime;
	double timeout = 0;
	struct iovec iov[2] = {{&out, sizeof(out)}, {&sx, sizeof(sx)}};
	int ret = ch->statx(ch, in->nodeid, &st, &btime, &timeout);

	if (ret < 0) {
		out.error = ret;
		out.len = sizeof(out);
	} else {
		memset(&sx, 0, sizeof(sx));
		chan_timeout(timeout, &sx.attr_valid, &sx.attr_valid_nsec);
		sx.stat.mask = STATX_BASIC_STATS | STATX_BTIME;
		sx.stat.blksize = (uint32_t)st.st_blksize;
		sx.stat.nlink = (uint32_t)st.st_nlink;
		sx.stat.uid = st.st_uid;
		sx.stat.gid = st.st_gid;
		sx.stat.mode = (uint16_t)st.st_mode;
		sx.stat.ino = st.st_ino;
		sx.stat.size = (uint64_t)st.st_size;
		sx.stat.blocks = (uint64_t)st.st_blocks;
		sx.stat.atime = chan_sx_time(st.st_atim);
		sx.stat.btime = chan_sx_time(btime);
		sx.stat.ctime = chan_sx_time(st.st_ctim);
		sx.stat.mtime = chan_sx_time(st.st_mtim);
		sx.stat.rdev_major = major(st.st_rdev);
		sx.stat.rdev_minor = minor(st.st_rdev);
		out.len = sizeof(out) + sizeof(sx);
	}
	atomic_fetch_add_explicit(&ch->replies, 1, memory_order_relaxed);
	/* As libfuse: a reply the kernel no longer waits for (ENOENT) is dropped. */
	(void)!writev(fd, iov, ret < 0 ? 1 : 2);
}

#define CHAN_ABORT_RETRIES 64 /* requests the abort may still find queued */

static ssize_t chan_read(int fd, void *buf, size_t len, void *userdata)
{
	struct chan *ch = chan_of(userdata);

	for (int aborted = 0;;) {
		ssize_t n = chan_batch_read(ch, fd, buf, len);
		const struct fuse_in_header *in = buf;

		/* A read that takes a request just as an unmount aborts the
		   connection gets ECONNABORTED (the kernel drops the request),
		   where libfuse 3.14 ends its loop cleanly only on ENODEV: read
		   again, which says ENODEV after an unmount and ECONNABORTED
		   again after an abort through /sys/fs/fuse/connections. */
		if (n < 0 && errno == ECONNABORTED && ++aborted < CHAN_ABORT_RETRIES)
			continue;
		if (n <= 0)
			return n;
		atomic_fetch_add_explicit(&ch->requests, 1, memory_order_relaxed);
		if (ch->statx && (size_t)n >= sizeof(*in) + CHAN_STATX_IN_SIZE &&
		    in->opcode == CHAN_FUSE_STATX) {
			chan_batch_yield(ch); /* the callback may wait */
			chan_answer_statx(ch, fd, in);
			continue;
		}
		if (ch->tmpfile && (size_t)n >= sizeof(*in) + sizeof(struct fuse_create_in) &&
		    in->opcode == FUSE_TMPFILE) {
			chan_batch_yield(ch); /* a create: it may wait */
			chan_answer_tmpfile(ch, fd, buf);
			continue;
		}
		chan_note_request(ch, buf, (size_t)n);
		chan_batch_took(ch, fd, buf, (size_t)n);
		return n;
	}
}

/*
 * The INIT reply: add what is wanted and offered. iov[1] is libfuse's
 * struct fuse_init_out; a copy is patched so libfuse's own stays as it was.
 */
static void chan_patch_init(struct chan *ch, struct iovec *iov, int count,
			    struct fuse_init_out *copy)
{
	uint64_t add = ch->want & atomic_load(&ch->offered);

	if (count < 2 ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags2) + sizeof(copy->flags2))
		return;
	if (((const struct fuse_out_header *)iov[0].iov_base)->error != 0 || !(add >> 32))
		return;
	memset(copy, 0, sizeof(*copy));
	memcpy(copy, iov[1].iov_base,
	       iov[1].iov_len < sizeof(*copy) ? iov[1].iov_len : sizeof(*copy));
	if (!(copy->flags & FUSE_INIT_EXT)) {
		copy->flags |= FUSE_INIT_EXT;
		copy->flags2 = 0; /* libfuse did not fill it */
	}
	copy->flags |= (uint32_t)add;
	copy->flags2 |= (uint32_t)(add >> 32);
	iov[1].iov_base = copy;
	atomic_store(&ch->granted, add);
}

static ssize_t chan_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct chan *ch = chan_of(userdata);
	uint64_t init = atomic_load_explicit(&ch->init_unique, memory_order_relaxed);
	struct fuse_init_out copy;

	if (init != 0 && count > 0 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    ((const struct fuse_out_header *)iov[0].iov_base)->unique == init) {
		atomic_store(&ch->init_unique, 0);
		chan_patch_init(ch, iov, count, &copy);
	}
	atomic_fetch_add_explicit(&ch->replies, 1, memory_order_relaxed);
	return writev(fd, iov, count);
}

int chan_attach(struct fuse_session *se, struct chan *ch)
{
	static const struct fuse_custom_io io = {.read = chan_read, .writev = chan_writev};
	int fd = fuse_session_fd(se);

	int ret;

	if (fd < 0)
		return -EBADF;
	if ((ret = chan_batch_init(ch, fd)) < 0)
		return ret;
	ret = fuse_session_custom_io(se, &io, fd);
	if (ret < 0)
		chan_batch_fini(ch);
	return ret;
}

void chan_detach(struct chan *ch)
{
	chan_batch_fini(ch);
}
