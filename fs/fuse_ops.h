/*
 * fuse_ops.h: the FUSE glue (layer: FUSE low-level operations). It turns
 * libfuse requests into fs.h calls and their results into exactly one
 * fuse_reply_* each. It may call fs.h and libfuse, nothing below fs.h.
 */
#ifndef EIOCBFS_FUSE_OPS_H
#define EIOCBFS_FUSE_OPS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

struct fs;

/* The session's user data: what every ef_* operation needs. */
struct ef_ctx {
	struct fs *fs;
	bool kernel_cache; /* buffered opens cached by the kernel (mmap-friendly) */
	bool debug;	   /* log the negotiated connection parameters */
	double attr_timeout;
	double entry_timeout;
};

/* The operations table; pass &ef_ops and a struct ef_ctx to fuse_session_new. */
extern const struct fuse_lowlevel_ops ef_ops;

#endif
