/*
 * channel.h: the daemon's own side of the /dev/fuse channel (layer: daemon
 * edge, beside the FUSE glue). libfuse still parses requests and builds
 * replies, but every request is read and every reply written through here
 * (fuse_session_custom_io), so the daemon sees the raw protocol: to grant
 * INIT flags that libfuse 3.14 has no API for and to answer FUSE_STATX
 * and FUSE_TMPFILE, which it does not know; and to take requests in batches (chan_batch.h). May
 * call libfuse and the kernel's FUSE protocol header.
 */
#ifndef EIOCBFS_CHANNEL_H
#define EIOCBFS_CHANNEL_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "chan_batch.h"

/* Kernel 6.6+: MAP_SHARED mmap of files opened with direct_io (FOPEN_DIRECT_IO),
   the kernel keeping its mapping pages coherent with direct reads and writes. */
#define CHAN_DIRECT_IO_ALLOW_MMAP (1ULL << 36)

/*
 * One per session. The session's user data must start with it (a struct
 * chan as first member): the custom I/O callbacks only receive that pointer.
 */
struct chan {
	uint64_t want;		      /* INIT flags (64-bit form) to grant when offered */
	_Atomic uint64_t init_unique; /* the INIT request being answered, 0 if none */
	_Atomic uint64_t offered;     /* INIT flags the kernel offered */
	_Atomic uint64_t granted;     /* flags this channel added to the INIT reply */
	_Atomic uint64_t requests;    /* requests read */
	_Atomic uint64_t replies;     /* replies and notifications written */
	/* FUSE_STATX (kernel 6.6+, what statx(2) asking for STATX_BTIME
	   sends), which libfuse 3.14 does not know: the channel answers it
	   itself with what this fills (attributes, creation time, how long
	   the kernel may keep them; 0 or -errno). NULL: libfuse answers
	   ENOSYS and the kernel asks GETATTR from then on. */
	int (*statx)(struct chan *ch, uint64_t nodeid, struct stat *st, struct timespec *btime,
		     double *timeout);
	/* FUSE_TMPFILE (open(2) with O_TMPFILE), which libfuse 3.14 does not
	   know either: a create with no name. tmpfile makes the file in
	   directory parent for the caller c (uid, gid, pid, umask) with
	   fi->flags and fills the entry and the open file (0 or -errno), as
	   libfuse's create does; tmpfile_undo gives both back when the
	   kernel no longer waits for the reply. NULL: the kernel is told
	   ENOSYS and answers EOPNOTSUPP to O_TMPFILE from then on. */
	int (*tmpfile)(struct chan *ch, uint64_t parent, const struct fuse_ctx *c, mode_t mode,
		       struct fuse_file_info *fi, struct fuse_entry_param *e);
	void (*tmpfile_undo)(struct chan *ch, const struct fuse_entry_param *e,
			     struct fuse_file_info *fi);
	/* Requests in batches, their I/O plugged (chan_batch.h); NULL: one
	   request per read, each submitted at once. */
	const struct chan_batch_ops *batch;
	/* Set by chan_attach. */
	int session_fd;
	pthread_key_t batch_key; /* a worker's exit ends its batch */
	bool batch_key_set;
	sem_t reader; /* the read token: one worker at a time reads the clones */
};

/* A reply's validity time (seconds, as libfuse takes it) in the protocol's two fields. */
static inline void chan_timeout(double t, uint64_t *sec, uint32_t *nsec)
{
	if (t < 0)
		t = 0;
	*sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)*sec) * 1e9);
}

/* For chan_read (channel_tmpfile.c): answer the FUSE_TMPFILE request in
   buf (a header and a struct fuse_create_in at least); ch->tmpfile set. */
void chan_answer_tmpfile(struct chan *ch, int fd, const void *buf);

/* Call after fuse_session_mount, before the loop: route the session's
 * channel (and every clone of it) through ch. 0 or -errno. */
int chan_attach(struct fuse_session *se, struct chan *ch);
/* After the loop has returned (every worker stopped). */
void chan_detach(struct chan *ch);

/* Whether the kernel accepted flag (known once INIT has been answered). */
static inline bool chan_granted(struct chan *ch, uint64_t flag)
{
	return (atomic_load(&ch->granted) & flag) != 0;
}

#endif
