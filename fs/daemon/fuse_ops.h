/*
 * fuse_ops.h: the FUSE glue (layer: FUSE low-level operations). It turns
 * libfuse requests into fs.h calls and their results into exactly one
 * fuse_reply_* each. It may call fs.h and libfuse, nothing below fs.h.
 */
#ifndef EIOCBFS_FUSE_OPS_H
#define EIOCBFS_FUSE_OPS_H

#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "channel.h"
#include "fuse_dio.h"

struct fs;

/* The session's user data: what every op_* operation needs. */
struct daemon_ctx {
	struct chan chan; /* first: the channel's callbacks get this pointer */
	struct fs *fs;
	bool kernel_cache;	/* buffered opens cached by the kernel too */
	bool debug;		/* log the negotiated connection parameters */
	_Atomic bool posix_acl; /* the kernel enforces POSIX ACLs; creates bring the umask
				   (set at INIT, read by every worker) */
	double attr_timeout;
	double entry_timeout;
	struct daemon_files files; /* the open file descriptions */
};
_Static_assert(offsetof(struct daemon_ctx, chan) == 0,
	       "the channel finds its state at the user data");

/* The channel's FUSE_STATX callback (struct chan's statx). */
int daemon_statx(struct chan *ch, uint64_t nodeid, struct stat *st, struct timespec *btime,
		 double *timeout);

/* The channel's FUSE_TMPFILE callbacks (struct chan's tmpfile, tmpfile_undo). */
int daemon_tmpfile(struct chan *ch, uint64_t parent, const struct fuse_ctx *c, mode_t mode,
		   struct fuse_file_info *fi, struct fuse_entry_param *e);
void daemon_tmpfile_undo(struct chan *ch, const struct fuse_entry_param *e,
			 struct fuse_file_info *fi);

/* The operations table; pass &daemon_ops and a struct daemon_ctx to fuse_session_new. */
extern const struct fuse_lowlevel_ops daemon_ops;

#endif
