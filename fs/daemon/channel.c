/*
 * channel.c: the daemon's reads and writes of /dev/fuse (see channel.h).
 *
 * INIT: libfuse 3.14 builds its reply from the capabilities it knows; the
 * kernel reads the 64-bit flag set as flags | flags2 << 32 when FUSE_INIT_EXT
 * is set. The read side notes the INIT request's unique id and what the
 * kernel offers; the write side, seeing the reply with that id, adds the
 * wanted flags the kernel offered to a copy of libfuse's reply. Everything
 * else passes through untouched.
 */
#include "channel.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <string.h>
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

static ssize_t chan_read(int fd, void *buf, size_t len, void *userdata)
{
	struct chan *ch = chan_of(userdata);
	ssize_t n = read(fd, buf, len);

	if (n > 0) {
		atomic_fetch_add_explicit(&ch->requests, 1, memory_order_relaxed);
		chan_note_request(ch, buf, (size_t)n);
	}
	return n;
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

	if (fd < 0)
		return -EBADF;
	return fuse_session_custom_io(se, &io, fd);
}
