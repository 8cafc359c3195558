/*
 * direct.c: the direct path (docs/semantics.md P2, P4, P6; R1-R3, R6 through
 * ioctx). An O_DIRECT read or write of a FUSE request becomes one iocb whose
 * submit method maps the byte range through the extent map onto one or more
 * device I/Os of the libaio backend (one group reference, R1), and returns
 * -EIOCBQUEUED. Post-submission errors (invalidation, the O_SYNC metadata
 * sync, and the second invalidation at device completion) go through
 * ioctx_propagate_error (R3), which each mode handles its own way.
 *
 * Layer: below fs.c (via fsio.h), beside buffered.c. Calls ioctx, aio_dev,
 * the page cache (write-back, invalidation), the fault points, and the
 * inode/extent/file layers and the journal for the mapping and the size.
 *
 * A write, in order (the kernel's generic_file_direct_write):
 *   I/O lock; write back and wait on the range (P2); map it: holes past
 *   EOF get new blocks mapped beyond the size (invisible until the size
 *   moves) with the inode on the orphan list (a crash cuts them at the next
 *   mount), holes below EOF and partial blocks are zero-filled first; count
 *   the request in flight (truncate waits for it); unlock; submit the device
 *   I/Os; invalidate the range (P2, P3) -> R3; O_SYNC/O_DSYNC: journal
 *   commit (P6, fault point osync) -> R3; return -EIOCBQUEUED.
 *   Device completion (last I/O): raise the size if the write went past EOF,
 *   only now that the data is written, and take the inode off the orphan
 *   list (a failed write unmaps and frees its new blocks); invalidate again
 *   (a buffered read may have cached old data meanwhile) -> R3; then
 *   complete the iocb.
 * A read: I/O lock; write back and wait (P4); map (holes read as zeros);
 * count; unlock; submit.
 *
 * Each request (struct fsio_dio) has two references: the device side
 * (dropped after the last device I/O completed the iocb, or at once when
 * the request completed synchronously) and the reply side (dropped when
 * its result has been handed to the FUSE glue). In legacy mode the reply
 * may come first, while the device still writes from the buffer.
 *
 * Alignment as on ext4: offset and length must be multiples of the
 * device's logical block size, else -EINVAL. (The user buffer's address is
 * not visible through FUSE: the kernel copies it into the request.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>

#include "fsio_int.h"
#include "trace.h" /* ioctx's lifecycle trace: device I/O and reply events */

#define DIO_MAX_PIECE (1u << 20)

struct dio_piece {
	struct dev_io io; /* first: the fault hook finds the piece from the dev_io */
	struct fsio_dio *d;
	uint64_t file_off;
	/* Device faults, decided at submission (the caller's pid is known there). */
	bool faulted;
	unsigned delay_ms;
	size_t want;	      /* the length asked for (a torn or lost write reports it) */
	struct fault_hit hit; /* what the fault does to this I/O */
};

/* Blocks a write past EOF allocated and mapped for its holes. */
struct dio_alloc {
	uint64_t lblk, pblk;
	uint32_t len;
};

struct fsio_dio {
	struct fs_io *io;
	struct ioctx_iocb *iocb;
	ioctx_handle_t handle;
	uint64_t ino;
	bool write;
	int oflags;
	int64_t off;
	size_t len;
	void *cookie;
	int pid;      /* the caller, for the fault points' pid=/comm= */
	int poison;   /* fsio_dio_poison: the submit method fails with it */
	uint8_t *buf; /* aligned, len rounded up to the logical block */
	atomic_int refs;
	atomic_int replied;
	/* device side */
	struct ioctx_dio group;
	atomic_int pieces_left;
	_Atomic int64_t err;
	size_t result;	  /* bytes reported on success */
	bool extend;	  /* a write past EOF: the size to commit at completion */
	atomic_bool gone; /* legacy: the submitter completed the iocb itself */
	int npieces;
	struct dio_piece *pieces;
	int nallocs;	 /* blocks mapped for holes past EOF (dio_alloc_holes) */
	bool orphaned;	 /* the inode put on the orphan list for them */
	bool allocating; /* counted in its stripe's alloc_dio */
	struct dio_alloc *allocs;
	struct dev_io **ptrs;
	/* A request of one piece (nearly every small one) keeps it here: no
	   allocation for pieces or ptrs on the request path. */
	struct dio_piece piece0;
	struct dev_io *ptr0;
	int8_t cls; /* buf holds dio_class_bytes(cls): kept on io->dio_free[cls]; -1: not kept */
	struct fsio_dio *next_free;
};

/*
 * Spare requests, with their buffers, by buffer size class. Handing a
 * large buffer back to malloc would return it to its arena's top, which
 * glibc trims, so the next request of that size would fault the pages back
 * in one by one; a worker that takes many requests in a row (chan_batch.c)
 * makes that the common case. Each class keeps up to DIO_FREE_BYTES, and at
 * least DIO_FREE_MIN requests (a queue of 1 MiB requests at depth 8), at
 * most DIO_FREE_MAX: about 30 MiB at most in all.
 */
#define DIO_CLASS_MIN 4096u
#define DIO_FREE_MAX 64u
#define DIO_FREE_MIN 8u
#define DIO_FREE_BYTES (4u << 20)

static size_t dio_class_bytes(int cls)
{
	return (size_t)DIO_CLASS_MIN << cls;
}

static unsigned dio_class_keep(int cls)
{
	size_t n = DIO_FREE_BYTES / dio_class_bytes(cls);

	return n < DIO_FREE_MIN ? DIO_FREE_MIN : n > DIO_FREE_MAX ? DIO_FREE_MAX : (unsigned)n;
}

/* The class of a buffer for size bytes (blocks of lbs), or -1: too large to keep. */
static int dio_class(size_t size, unsigned lbs)
{
	size_t need = size > lbs ? size : lbs;

	for (int c = 0; c < FSIO_DIO_CLASSES; c++)
		if (dio_class_bytes(c) >= need && dio_class_bytes(c) % lbs == 0)
			return c;
	return -1;
}

/* Frees d and its buffer, or keeps them for the next request of its class. */
static void dio_release(struct fs_io *io, struct fsio_dio *d)
{
	int c = d->cls;

	if (c >= 0) {
		pthread_mutex_lock(&io->dio_free_lock);
		if (!io->dio_free_off && io->dio_nfree[c] < dio_class_keep(c)) {
			d->next_free = io->dio_free[c];
			io->dio_free[c] = d;
			io->dio_nfree[c]++;
			d = NULL;
		}
		pthread_mutex_unlock(&io->dio_free_lock);
		if (!d)
			return;
	}
	aio_dev_free_buf(d->buf);
	free(d);
}

static void dio_put(struct fsio_dio *d)
{
	if (atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	if (d->pieces != &d->piece0)
		free(d->pieces);
	if (d->ptrs != &d->ptr0)
		free(d->ptrs);
	free(d->allocs);
	dio_release(d->io, d);
}

/* ---- invalidation, with the kernel's patience for locked pages --------------- */

/* P2/P3: drop the cached pages of a direct write's byte range, waiting out
   pages under I/O (a racing buffered read) like the kernel's lock_page. */
static int dio_invalidate(struct fs_io *io, uint64_t ino, uint64_t off, uint64_t len)
{
	uint32_t bs = pc_block_size(io->pc);

	return len ? pc_invalidate_range_wait(io->pc, ino, off / bs, (off + len - 1) / bs) : 0;
}

/* ---- errors found after submission ---------------------------------------------- */

/*
 * mainline's dio_warn_stale_pagecache(): an invalidation after a direct
 * write failed. The event keeps the byte count; the error becomes the
 * file's write-back error (-EIO at the next fsync of each open file
 * description, once: errseq.h) and one line in the log, rate limited by
 * whoever the daemon named (fsio_set_stale_log).
 */
static void dio_stale_pagecache(struct fs_io *io, struct fsio_dio *d, int err)
{
	pc_wb_err_set(io->pc, d->ino, -EIO);
	atomic_fetch_add(&io->stale_pagecache, 1);
	IOTRACE(ioctx_trace(io->ctx), IOT_PROPAGATE, d->handle, d->ino, -EIOCBQUEUED, err,
		IOT_PROP_WB_ERROR);
	if (io->stale_log)
		io->stale_log(io->stale_log_arg, d->ino, d->off, d->len, err);
}

/*
 * R3 from the completion path, which holds the group's reference: an
 * error found after the device completed (the second invalidation, the
 * O_SYNC commit of what completion changed). In legacy mode the submitter
 * may already have completed and freed the iocb (the bug being modelled):
 * the iocb is not ours to touch there, and propagate_error would return
 * the error anyway, so it becomes the completion's result.
 */
static void dio_completion_error(struct fs_io *io, struct fsio_dio *d, int64_t *res, int err)
{
	if (ioctx_mode(io->ctx) == IOCTX_LEGACY) {
		*res = err; /* what propagate_error returns there, without the iocb */
		IOTRACE(ioctx_trace(io->ctx), IOT_PROPAGATE, d->handle, d->ino, -EIOCBQUEUED, err,
			IOT_PROP_RETURNED);
	} else if (!atomic_load(&d->gone)) {
		int64_t p = ioctx_propagate_error(io->ctx, d->iocb, -EIOCBQUEUED, err);
		if (p != -EIOCBQUEUED)
			*res = p;
	}
}

/* An O_SYNC/O_DSYNC write's metadata sync (P6): the injected osync fault,
   else a durable journal commit. */
static int dio_osync(struct fs_io *io, struct fsio_dio *d)
{
	int fe;

	if (io->faults &&
	    fault_should_fail(io->faults, FAULT_OSYNC, d->ino, (uint64_t)d->off, d->len, &fe))
		return -fe;
	return journal_commit(io->fs->st->journal, true);
}

/* ---- completion ------------------------------------------------------------------ */

/*
 * The end_io metadata work of a write, after its data is on the device
 * (ok) or failed (!ok): a write past EOF moves the size, which is what
 * exposes its new blocks (mapped beyond EOF at submission, the inode on the
 * orphan list meanwhile, as ext4 does for extending direct writes), or the
 * failed write's new blocks are unmapped and given back. It runs before the
 * iocb completes.
 */
static int dio_unmap(struct fsio_dio *d, struct inode *ip, bool unmap);

static int dio_commit(struct fsio_dio *d, bool ok)
{
	struct fs *fs = d->io->fs;
	uint64_t end = (uint64_t)d->off + d->len;
	struct inode *ip;
	struct tx *tx;
	int r = iget(fs, d->ino, &ip);

	if (r < 0)
		return r;
	if ((r = ilock(ip)) < 0) {
		iput(ip);
		return r == -ESTALE ? 0 : r; /* freed meanwhile (legacy early answer) */
	}
	if (!ok) {
		r = dio_unmap(d, ip, true);
	} else {
		if (d->extend && ip->d.size < end && (r = tx_begin(fs->st->journal, 2, &tx)) == 0) {
			ip->d.size = end;
			ip->d.mtime = ip->d.ctime = inode_now();
			r = iupdate(tx, ip);
			int e = tx_end(tx);
			r = r < 0 ? r : e;
		}
		/* The size covers the new blocks now: off the orphan list. */
		int o = dio_unmap(d, ip, false);
		r = r < 0 ? r : o;
	}
	iunlock(ip);
	iput(ip);
	return r;
}

static void dio_uncount(struct fs_io *io, uint64_t ino, bool allocating)
{
	struct fsio_stripe *s = fsio_stripe(io, ino);

	fsio_stripe_lock(s);
	if (--s->dio == 0)
		pthread_cond_broadcast(&s->dio_idle);
	if (allocating && --s->alloc_dio == 0)
		pthread_cond_broadcast(&s->dio_idle);
	fsio_stripe_unlock(s);
}

/* The last device I/O of d ended: the end_io work, then complete the iocb. */
static void dio_finish(struct fsio_dio *d)
{
	struct fs_io *io = d->io;
	int64_t res = atomic_load(&d->err);

	if (!res)
		res = (int64_t)d->result;
	bool mainline = ioctx_mode(io->ctx) == IOCTX_MAINLINE;
	bool osync = d->write && (d->oflags & (O_SYNC | O_DSYNC));
	bool meta = false; /* the end_io work changed metadata (size, mapping, orphan list) */

	/* the device's own result, before the end_io work below may change it */
	IOTRACE(ioctx_trace(io->ctx), IOT_DEV_DONE, d->handle, d->ino, res, 0, 0);
	if (d->write && (d->nallocs || d->orphaned || (d->extend && res >= 0))) {
		int r = dio_commit(d, res >= 0);
		meta = true;
		if (r < 0 && res >= 0)
			res = r;
	}
	if (d->write && res >= 0) {
		int r = dio_invalidate(io, d->ino, (uint64_t)d->off, d->len);
		if (r < 0 && mainline)
			dio_stale_pagecache(io, d, r);
		else if (r < 0)
			dio_completion_error(io, d, &res, r);
	}
	/*
	 * O_SYNC/O_DSYNC (P6): durable before the event says success. mainline
	 * syncs here, as today's kernels do at completion (fault point osync),
	 * and its error is the event's. The other modes synced at submission
	 * (the patch's site); what completion changed since (the size, the new
	 * blocks' mapping) is committed here, its failure through R3 too.
	 */
	if (osync && res >= 0 && (mainline || meta)) {
		int r = mainline ? dio_osync(io, d) : journal_commit(io->fs->st->journal, true);
		if (r < 0)
			dio_completion_error(io, d, &res, r);
	}
	dio_uncount(io, d->ino, d->allocating);
	ioctx_dio_end(io->ctx, &d->group, res); /* may reply, on this thread */
	dio_put(d);				/* the device side's reference */
}

static void piece_done(struct dev_io *dio, int64_t res)
{
	struct dio_piece *p = (struct dio_piece *)dio;
	struct fsio_dio *d = p->d;
	int64_t zero = 0;

	if (res >= 0 && (size_t)res < dio->len)
		res = -EIO; /* short: the mapped blocks lie inside the device */
	if (res < 0)
		atomic_compare_exchange_strong(&d->err, &zero, res);
	if (atomic_fetch_sub(&d->pieces_left, 1) == 1)
		dio_finish(d);
}

/* ---- submission --------------------------------------------------------------------- */

static int dio_add_piece(struct fsio_dio *d, int *cap, enum dev_op op, uint64_t dev_off,
			 size_t buf_off, size_t len, uint64_t file_off)
{
	if (d->npieces == *cap && !d->pieces) {
		d->pieces = &d->piece0;
		*cap = 1;
	} else if (d->npieces == *cap) {
		int n = *cap * 2 < 4 ? 4 : *cap * 2;
		bool inl = d->pieces == &d->piece0;
		struct dio_piece *p = realloc(inl ? NULL : d->pieces, (size_t)n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		if (inl)
			memcpy(p, &d->piece0, sizeof(*p));
		d->pieces = p;
		*cap = n;
	}
	struct dio_piece *p = &d->pieces[d->npieces++];
	memset(p, 0, sizeof(*p));
	p->io.op = op;
	p->io.offset = dev_off;
	p->io.buf = d->buf + buf_off;
	p->io.len = len;
	p->io.done = piece_done;
	p->d = d;
	p->file_off = file_off;
	return 0;
}

/* Whether [off, off+len) of ip has a hole: 0 none, 1 only in blocks wholly
   past EOF, 2 one at least in a block below EOF. */
static int dio_has_hole(struct inode *ip, uint64_t off, uint64_t len)
{
	ILOCKED(ip);
	uint32_t bs = ip->fs->bsize;
	uint64_t lblk = off / bs, end = (off + len + bs - 1) / bs;
	uint64_t eof = (ip->d.size + bs - 1) / bs;
	int found = 0;

	while (lblk < end) {
		struct ef_extent e;
		int r = extent_map(ip, lblk, &e);
		if (r < 0)
			return r;
		if (!e.pblk) {
			if (lblk < eof)
				return 2;
			found = 1;
		}
		lblk = e.lblk + e.len;
	}
	return found;
}

/* Map bytes [off, off+n) (n a multiple of the logical block) into pieces;
   holes (reads only) are zeros in the buffer. */
static int dio_map(struct fsio_dio *d, struct inode *ip, size_t n)
{
	ILOCKED(ip);
	uint32_t bs = ip->fs->bsize;
	enum dev_op op = d->write ? DEV_OP_WRITE : DEV_OP_READ;
	size_t done = 0;
	int cap = 0;

	while (done < n) {
		uint64_t pos = (uint64_t)d->off + done;
		uint64_t lblk = pos / bs;
		struct ef_extent e;
		int r = extent_map(ip, lblk, &e);
		if (r < 0)
			return r;
		uint64_t run = (e.lblk + e.len - lblk) * bs - pos % bs;
		size_t m = run < n - done ? (size_t)run : n - done;
		if (m > DIO_MAX_PIECE)
			m = DIO_MAX_PIECE;
		if (!e.pblk && d->write) {
			/* A hole: the blocks allocated for it (dio_alloc_holes). */
			const struct dio_alloc *a = NULL;
			for (int i = 0; i < d->nallocs && !a; i++)
				if (lblk >= d->allocs[i].lblk &&
				    lblk < d->allocs[i].lblk + d->allocs[i].len)
					a = &d->allocs[i];
			if (!a)
				return -EIO; /* allocated just before: a bug, never write blindly */
			e = (struct ef_extent){.lblk = a->lblk, .pblk = a->pblk, .len = a->len};
			run = (e.lblk + e.len - lblk) * bs - pos % bs;
			m = run < n - done ? (size_t)run : n - done;
			if (m > DIO_MAX_PIECE)
				m = DIO_MAX_PIECE;
		}
		if (!e.pblk) {
			memset(d->buf + done, 0, m);
		} else {
			uint64_t dev = (e.pblk + (lblk - e.lblk)) * bs + pos % bs;
			if ((r = dio_add_piece(d, &cap, op, dev, done, m, pos)) < 0)
				return r;
		}
		done += m;
	}
	return 0;
}

/* Allocate (not map) blocks for the holes of a block-aligned write; on
   failure give them back. */
static int dio_alloc_holes(struct fsio_dio *d, struct inode *ip)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	uint32_t bs = fs->bsize;
	uint64_t lblk = (uint64_t)d->off / bs, end = ((uint64_t)d->off + d->len) / bs;
	int cap = 0, r = 0;

	while (lblk < end && r == 0) {
		struct ef_extent e;
		if ((r = extent_map(ip, lblk, &e)) < 0)
			break;
		if (e.pblk) {
			lblk = e.lblk + e.len;
			continue;
		}
		uint64_t want = e.lblk + e.len - lblk;
		if (want > end - lblk)
			want = end - lblk;
		if (d->nallocs == cap) {
			cap = cap ? 2 * cap : 4;
			struct dio_alloc *a = realloc(d->allocs, (size_t)cap * sizeof(*a));
			if (!a) {
				r = -ENOMEM;
				break;
			}
			d->allocs = a;
		}
		/* Allocate and map beyond EOF, and (once) put the inode on the
		   orphan list, in one transaction: after a crash the mount cuts
		   the blocks beyond the size that never got their data. */
		struct tx *tx;
		if ((r = tx_begin(fs->st->journal, extent_tx_blocks(ip) + 8, &tx)) < 0)
			break;
		uint64_t pblk;
		uint32_t got = 0;
		r = extent_balloc(tx, ip, lblk, (uint32_t)(want > UINT32_MAX ? UINT32_MAX : want),
				  &pblk, &got);
		if (r == 0 && (r = extent_insert(tx, ip, lblk, pblk, got)) < 0)
			bfree(fs->st->alloc, tx, pblk, got);
		if (r == 0 && !ip->orphan && ip->d.nlink > 0) {
			if ((r = orphan_add(fs, tx, ip)) == 0)
				d->orphaned = true;
		}
		if (r == 0)
			r = iupdate(tx, ip);
		int t = tx_end(tx);
		r = r < 0 ? r : t;
		if (got && r == 0) {
			d->allocs[d->nallocs++] = (struct dio_alloc){lblk, pblk, got};
			lblk += got;
		}
	}
	return r;
}

/* Unmap the blocks dio_alloc_holes mapped (a failed write) and take the
   inode off the orphan list. */
static int dio_unmap(struct fsio_dio *d, struct inode *ip, bool unmap)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	struct tx *tx;
	int r = 0;

	for (int i = 0; unmap && i < d->nallocs && r == 0; i++) {
		uint64_t from = d->allocs[i].lblk, to = from + d->allocs[i].len, next;
		while (from < to && r == 0) {
			if ((r = tx_begin(fs->st->journal, extent_remove_tx_blocks(ip) + 2, &tx)) <
			    0)
				break;
			r = extent_remove(tx, ip, from, to, &next);
			if (r == 0)
				r = iupdate(tx, ip);
			int t = tx_end(tx);
			r = r < 0 ? r : t;
			if (r == 0 && next <= from)
				r = -EIO; /* no progress: never loop */
			from = next;
		}
	}
	if (unmap)
		d->nallocs = 0;
	if (d->orphaned && ip->orphan && ip->d.nlink > 0 &&
	    (r = tx_begin(fs->st->journal, 8, &tx)) == 0) {
		r = orphan_remove(fs, tx, ip);
		int t = tx_end(tx);
		r = r < 0 ? r : t;
	}
	d->orphaned = false;
	return r;
}

/* Under the I/O lock: prepare, map, allocate; on success the request is
   counted in flight. Returns 0 (pieces in d, maybe none) or a result. */
static int64_t dio_prepare(struct fsio_dio *d)
{
	struct fs_io *io = d->io;
	struct fs *fs = io->fs;
	struct inode *ip;
	int64_t r;

	if ((r = pc_direct_prepare(io->pc, d->ino, (uint64_t)d->off, d->len)) < 0)
		return r;
	if ((r = iget(fs, d->ino, &ip)) < 0)
		return r;
	r = d->write ? ilock(ip) : ilock_shared(ip);
	if (r < 0) {
		iput(ip);
		return r;
	}
	if (!S_ISREG(ip->d.mode)) {
		r = S_ISDIR(ip->d.mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	size_t n = d->len;
	if (d->write) {
		if (fs->readonly) {
			r = -EROFS;
			goto out;
		}
		d->extend = (uint64_t)d->off + d->len > ip->d.size;
		/* Holes: whole blocks get blocks of their own, mapped at completion
		   once written (dio_commit); a partial block becomes a zeroed block
		   first (KEEP_SIZE). Either way no reader or crash ever sees a
		   block's old content, and the size moves only at completion. */
		if ((r = dio_has_hole(ip, (uint64_t)d->off, d->len)) > 0) {
			if (r == 2 || (((uint64_t)d->off | d->len) % fs->bsize))
				r = file_fallocate(ip, FALLOC_FL_KEEP_SIZE, d->off, (off_t)d->len);
			else
				r = dio_alloc_holes(d, ip);
		}
		if (r < 0)
			goto out;
		d->result = d->len;
	} else {
		if ((uint64_t)d->off >= ip->d.size) {
			d->result = 0;
			n = 0;
		} else {
			uint64_t left = ip->d.size - (uint64_t)d->off;
			d->result = left < d->len ? (size_t)left : d->len;
			n = (d->result + io->lbs - 1) / io->lbs * io->lbs;
		}
	}
	r = dio_map(d, ip, n);
out:
	if (r < 0 && (d->nallocs || d->orphaned)) /* blocks mapped for nothing: back */
		dio_unmap(d, ip, true);
	iunlock(ip);
	iput(ip);
	return r;
}

/*
 * The device faults of each piece (fault.h, io=direct), decided before it
 * is submitted: a corrupt write flips bits of the request's own buffer, a
 * torn one submits only its first keep bytes (whole logical blocks), a lost
 * one, or one that fails, nothing; the completion hook (dio_dev_fault)
 * reports what they say.
 */
static void dio_faults_decide(struct faults *f, struct fsio_dio *d)
{
	enum fault_point pt = d->write ? FAULT_DEVICE_WRITE : FAULT_DEVICE_READ;
	unsigned lbs = d->io->lbs;

	for (int i = 0; i < d->npieces; i++) {
		struct dio_piece *p = &d->pieces[i];
		struct fault_req rq = {.ino = d->ino,
				       .off = p->file_off,
				       .len = p->io.len,
				       .io = FAULT_IO_DIRECT,
				       .pid = d->pid,
				       .kinds = FAULT_KINDS_ALL};
		struct fault_hit delay;

		if (fault_hit(f, FAULT_DELAY, &rq, &delay))
			p->delay_ms = delay.ms;
		if (!fault_hit(f, pt, &rq, &p->hit))
			continue;
		p->faulted = true;
		p->want = p->io.len;
		if (!d->write)
			continue;
		switch (p->hit.kind) {
		case FAULT_KIND_CORRUPT:
			((uint8_t *)p->io.buf)[p->hit.byte] ^= p->hit.bits;
			break;
		case FAULT_KIND_TORN:
			p->io.len = (size_t)p->hit.keep / lbs * lbs;
			break;
		case FAULT_KIND_LOST:
		case FAULT_KIND_ERROR: /* a failed write changes nothing (dm-flakey error_writes) */
			p->io.len = 0;
			break;
		}
	}
}

static int64_t dio_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	struct fsio_dio *d = iocb->priv;
	struct fs_io *io = d->io;
	struct fsio_stripe *s = fsio_stripe(io, d->ino);
	int64_t r;

	if (d->poison) {
		r = d->poison;
		goto sync;
	}
	if (d->off < 0 || (((uint64_t)d->off | d->len) & (io->lbs - 1))) {
		r = -EINVAL;
		goto sync;
	}
	if (!d->len) {
		r = 0;
		goto sync;
	}
	fsio_stripe_lock(s);
	/* A write waits for the allocating writes of its stripe: their blocks
	   are not mapped yet, so its own view of the holes would be stale (the
	   kernel serializes extending direct writes the same way). */
	while (d->write && s->alloc_dio > 0) {
		/* This thread's plug may hold some of them: submit it first,
		   unlocked (a refused I/O completes, and counts itself out, here). */
		fsio_stripe_unlock(s);
		aio_dev_flush_plug(io->dev);
		fsio_stripe_lock(s);
		if (s->alloc_dio > 0)
			fsio_stripe_wait(s);
	}
	r = dio_prepare(d);
	if (r == 0 && d->npieces > 0) {
		s->dio++; /* truncate and punch wait for us from here */
		if (d->nallocs) {
			s->alloc_dio++;
			d->allocating = true;
		}
	}
	fsio_stripe_unlock(s);
	if (r < 0)
		goto sync;
	if (d->npieces == 0) {
		r = (int64_t)d->result; /* all holes, or at/after EOF */
		goto sync;
	}

	d->ptrs = d->npieces == 1 ? &d->ptr0 : malloc((size_t)d->npieces * sizeof(*d->ptrs));
	if (!d->ptrs) {
		if (d->nallocs || d->orphaned)
			dio_commit(d, false); /* give the blocks back */
		dio_uncount(io, d->ino, d->allocating);
		r = -ENOMEM;
		goto sync;
	}
	for (int i = 0; i < d->npieces; i++)
		d->ptrs[i] = &d->pieces[i].io;
	atomic_store(&d->pieces_left, d->npieces);
	/* R1: one reference for the group of device I/Os. From here every
	   outcome arrives through piece_done. */
	ioctx_dio_init(ctx, &d->group, iocb, 1);
	/* The device may complete (legacy: and the reply go out) before we
	   are done here: hold d for the rest of this method. */
	atomic_fetch_add(&d->refs, 1);
	if (io->faults)
		dio_faults_decide(io->faults, d);
	if (d->write && io->fs->st->disk.vc) /* the device cache keeps what they overwrite */
		for (int i = 0; i < d->npieces; i++)
			disk_vcache_note(&io->fs->st->disk, d->pieces[i].io.offset,
					 d->pieces[i].io.len);
	IOTRACE(ioctx_trace(ctx), IOT_DEV_ISSUE, d->handle, d->ino, d->npieces, d->write,
		(int64_t)d->len);
	aio_dev_submit(io->dev, d->ptrs, d->npieces);

	int64_t ret = -EIOCBQUEUED;
	if (d->write) {
		bool mainline = ioctx_mode(ctx) == IOCTX_MAINLINE;
		int e = dio_invalidate(io, d->ino, (uint64_t)d->off, d->len);
		if (e < 0 && mainline)
			dio_stale_pagecache(io, d, e); /* P3: not the event's */
		else if (e < 0)
			ret = ioctx_propagate_error(ctx, iocb, ret, e); /* P2, P3, R3 */
		/* P6 at the patch's site; mainline syncs at completion instead. */
		if ((d->oflags & (O_SYNC | O_DSYNC)) && !mainline) {
			aio_dev_flush_plug(io->dev); /* the write in flight before the commit */
			if ((e = dio_osync(io, d)) < 0)
				ret = ioctx_propagate_error(ctx, iocb, ret, e); /* P6, R3 */
		}
	}
	/* legacy: ioctx_submit now completes the iocb with ret, consuming the
	   group's reference; the device completion must not touch the iocb. */
	if (ret != -EIOCBQUEUED)
		atomic_store(&d->gone, true);
	dio_put(d);
	return ret;
sync:
	dio_put(d); /* no device side: only the reply's reference remains */
	return r;
}

/* R6: a read may be abandoned while its device I/O is in flight (the data
   is simply not delivered); a write cannot be recalled. */
static int dio_cancel(struct ioctx *ctx, struct ioctx_iocb *iocb, struct ioctx_event *res)
{
	struct fsio_dio *d = iocb->priv;

	if (d->write)
		return -EAGAIN;
	res->res = -EINTR;
	return 0;
}

static const struct ioctx_ops dio_ops = {.submit = dio_submit, .cancel = dio_cancel};

/* The request's device buffer: page-aligned, size rounded up to the logical
   block; not zeroed (writes fill it, reads zero their holes themselves), so
   a 1 MiB request does not pay for a memset. Freed with aio_dev_free_buf. */
static void *dio_buf_alloc(struct fs_io *io, size_t size)
{
	size_t n = (size + io->lbs - 1) / io->lbs * io->lbs;
	void *p;

	if (!n)
		n = io->lbs;
	return posix_memalign(&p, io->lbs < 4096 ? 4096 : io->lbs, n) ? NULL : p;
}

/* A zeroed request with a buffer for size bytes: a spare one of its class if there is one. */
static struct fsio_dio *dio_get(struct fs_io *io, size_t size)
{
	int c = dio_class(size, io->lbs);
	struct fsio_dio *d = NULL;
	uint8_t *buf;

	if (c >= 0) {
		pthread_mutex_lock(&io->dio_free_lock);
		if ((d = io->dio_free[c])) {
			io->dio_free[c] = d->next_free;
			io->dio_nfree[c]--;
		}
		pthread_mutex_unlock(&io->dio_free_lock);
	}
	if (d) {
		buf = d->buf;
		memset(d, 0, sizeof(*d));
		d->buf = buf;
		d->cls = (int8_t)c;
		return d;
	}
	if (!(d = calloc(1, sizeof(*d))))
		return NULL;
	if (!(d->buf = dio_buf_alloc(io, c >= 0 ? dio_class_bytes(c) : size))) {
		free(d);
		return NULL;
	}
	d->cls = (int8_t)c;
	return d;
}

/* ---- the FUSE-facing side ------------------------------------------------------------- */

static void dio_reply(struct fs_io *io, struct fsio_dio *d, int64_t res)
{
	if (atomic_fetch_add(&d->replied, 1) != 0) {
		atomic_fetch_add(&io->bad_replies, 1);
#ifndef NDEBUG
		fprintf(stderr, "eiocbfs: BUG: direct request %p answered twice\n", (void *)d);
		abort();
#endif
		return;
	}
	atomic_fetch_add(&io->replies, 1);
	IOTRACE(ioctx_trace(io->ctx), IOT_FUSE_REPLY, d->handle, d->ino, res, 0, 0);
	io->done(io->done_arg, d->cookie, d->write, res, d->buf);
	dio_put(d);
}

/* ioctx's notify hook: the thread that inserted an event drains the ring
   and replies inline (no thread hop on the fast path). */
static void dio_notify(void *arg)
{
	struct fs_io *io = arg;
	struct ioctx_event ev[32];
	const struct timespec zero = {0, 0};
	int n;

	while ((n = ioctx_getevents(io->ctx, 1, 32, ev, &zero)) > 0)
		for (int i = 0; i < n; i++)
			dio_reply(io, (struct fsio_dio *)(uintptr_t)ev[i].data, ev[i].res);
}

void fsio_set_dio_done(struct fs *fs, fsio_dio_done_fn fn, void *arg)
{
	fs->io->done = fn;
	fs->io->done_arg = arg;
}

void fsio_set_oops_log(struct fs *fs, fsio_log_fn fn, void *arg)
{
	if (!fs->io)
		return;
	fs->io->oops_arg = arg;
	fs->io->oops = fn;
}

bool fsio_has_direct(struct fs *fs)
{
	return fs->io && fs->io->dev;
}

struct fsio_dio *fsio_dio_new(struct fs *fs, uint64_t ino, bool write, size_t size, off_t off,
			      int oflags, void *cookie, int *err)
{
	struct fs_io *io = fs->io;
	struct ioctx_iocb *iocb;
	struct fsio_dio *d;

	if (!io || !io->dev || !io->done) {
		*err = -EINVAL;
		return NULL;
	}
	if (!(d = dio_get(io, size))) {
		*err = -ENOMEM;
		return NULL;
	}
	if ((*err = ioctx_get_req(io->ctx, &iocb)) < 0) {
		dio_release(io, d);
		return NULL;
	}
	d->io = io;
	d->iocb = iocb;
	d->ino = ino;
	d->write = write;
	d->oflags = oflags;
	d->off = off;
	d->len = size;
	d->cookie = cookie;
	d->pid = fault_caller();
	atomic_init(&d->refs, 2);
	iocb->user_data = (uintptr_t)d;
	iocb->obj = ino;
	iocb->ops = &dio_ops;
	iocb->priv = d;
	iocb->buf = d->buf;
	iocb->nbytes = size;
	iocb->offset = off;
	d->handle = ioctx_handle(iocb);
	atomic_fetch_add(&io->requests, 1);
	return d;
}

void *fsio_dio_buf(struct fsio_dio *d)
{
	return d->buf;
}

ioctx_handle_t fsio_dio_handle(const struct fsio_dio *d)
{
	return d->handle;
}

void fsio_dio_poison(struct fsio_dio *d, int err)
{
	d->poison = err;
}

void fsio_dio_submit(struct fs *fs, struct fsio_dio *d)
{
	ioctx_submit(fs->io->ctx, d->iocb); /* the result comes as an event */
}

int fsio_dio_cancel(struct fs *fs, ioctx_handle_t h, void **cookie)
{
	struct fs_io *io = fs->io;
	struct ioctx_event ev;
	int r = ioctx_cancel(io->ctx, h, &ev);

	if (r < 0)
		return r;
	/* Cancelled: no event will come, so the reply side is ours. */
	struct fsio_dio *d = (struct fsio_dio *)(uintptr_t)ev.data;
	if (atomic_fetch_add(&d->replied, 1) != 0) {
		atomic_fetch_add(&io->bad_replies, 1);
		return -EAGAIN;
	}
	*cookie = d->cookie;
	atomic_fetch_add(&io->replies, 1);
	atomic_fetch_add(&io->cancelled, 1);
	IOTRACE(ioctx_trace(io->ctx), IOT_FUSE_REPLY, d->handle, d->ino, ev.res, 0, 0);
	dio_put(d);
	return 0;
}

void fsio_plug(struct fs *fs)
{
	if (fs->io && fs->io->dev)
		aio_dev_plug(fs->io->dev);
}

void fsio_unplug(struct fs *fs)
{
	if (fs->io && fs->io->dev)
		aio_dev_unplug(fs->io->dev);
}

uint64_t fsio_dio_inflight(struct fs *fs)
{
	struct fs_io *io = fs->io;

	if (!io)
		return 0;
	uint64_t replies = atomic_load_explicit(&io->replies, memory_order_relaxed);
	uint64_t requests = atomic_load_explicit(&io->requests, memory_order_relaxed);
	return requests > replies ? requests - replies : 0;
}

void fsio_dio_get_stats(struct fs *fs, struct fsio_dio_stats *st)
{
	struct fs_io *io = fs->io;

	memset(st, 0, sizeof(*st));
	if (!io)
		return;
	st->requests = atomic_load(&io->requests);
	st->replies = atomic_load(&io->replies);
	st->cancelled = atomic_load(&io->cancelled);
	st->bad_replies = atomic_load(&io->bad_replies);
	st->stale_pagecache = atomic_load(&io->stale_pagecache);
}

void fsio_set_stale_log(struct fs *fs, fsio_stale_fn fn, void *arg)
{
	if (!fs->io)
		return;
	fs->io->stale_log_arg = arg;
	fs->io->stale_log = fn;
}

uint32_t fsio_wb_err_sample(struct fs *fs, uint64_t ino)
{
	return fs->io ? pc_wb_err_sample(fs->io->pc, ino) : 0;
}

int fsio_wb_err_check(struct fs *fs, uint64_t ino, uint32_t *since)
{
	return fs->io ? pc_wb_err_check(fs->io->pc, ino, since) : 0;
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* Device faults (docs/semantics.md 6) of the direct path's I/Os at completion: what
   dio_faults_decide chose, and latency like dm-delay. */
static int64_t dio_dev_fault(void *arg, const struct dev_io *dio, int64_t res, uint64_t *delay_ns)
{
	(void)arg;
	if (dio->done != piece_done)
		return res;
	const struct dio_piece *p = (const struct dio_piece *)dio;

	if (p->delay_ms)
		*delay_ns = (uint64_t)p->delay_ms * 1000000ull;
	if (!p->faulted || res < 0)
		return res;
	switch (p->hit.kind) {
	case FAULT_KIND_ERROR:
		return -p->hit.err;
	case FAULT_KIND_CORRUPT:
		if (dio->op == DEV_OP_READ && (uint64_t)res > p->hit.byte)
			((uint8_t *)dio->buf)[p->hit.byte] ^= p->hit.bits;
		return res;
	case FAULT_KIND_TORN:
		return p->hit.err ? -p->hit.err : (int64_t)p->want;
	case FAULT_KIND_LOST:
		return (int64_t)p->want;
	}
	return res;
}

/* The ioctx's oops records, to whoever the daemon named (fsio_set_oops_log). */
static void dio_oops(void *arg, const char *line)
{
	struct fs_io *io = arg;

	if (io->oops)
		io->oops(io->oops_arg, line);
	else
		fprintf(stderr, "%s\n", line);
}

int fsio_direct_start(struct fs_io *io, const char *target, enum ioctx_semantics mode,
		      unsigned ring, char *err, size_t errlen)
{
	struct ioctx_params p = {
	    .nr = ring ? ring : 4096,
	    .mode = mode,
	    .oops = dio_oops,
	    .oops_arg = io,
	    .notify = dio_notify,
	    .notify_arg = io,
	};
	int r;

	pthread_mutex_init(&io->dio_free_lock, NULL);
	io->dio_free_off = false;
	if ((r = ioctx_setup(&p, &io->ctx)) < 0) {
		snprintf(err, errlen, "ioctx: %s", strerror(-r));
		return r;
	}
	if (!target)
		return 0;
	/* The one open of the target (struct disk): its descriptor, shared. */
	const struct disk *disk = &io->fs->st->disk;
	struct aio_dev_opts o = {.flags = AIO_DEV_FD | (io->fs->readonly ? AIO_DEV_RDONLY : 0),
				 .fd = disk->fd};
	char why[256];
	if (!disk->direct || aio_dev_open(&io->dev, target, &o, why, sizeof(why)) < 0) {
		/* A target without O_DIRECT (tmpfs): buffered I/O only. */
		io->dev = NULL;
		return 0;
	}
	io->lbs = aio_dev_block_size(io->dev);
	if (io->lbs < 512 || io->fs->bsize % io->lbs) {
		aio_dev_close(io->dev);
		io->dev = NULL;
		return 0;
	}
	if (io->faults) {
		io->dev_fault.fn = dio_dev_fault;
		io->dev_fault.arg = io;
		aio_dev_set_fault(io->dev, &io->dev_fault);
	}
	return 0;
}

void fsio_direct_stop(struct fs_io *io)
{
	struct fsio_dio *d;

	if (io->dev)
		aio_dev_close(io->dev); /* waits: every completion has run */
	io->dev = NULL;
	if (io->ctx)
		ioctx_destroy(io->ctx);
	io->ctx = NULL;
	/* Spares go; a request put after this is freed (dio_release). */
	pthread_mutex_lock(&io->dio_free_lock);
	io->dio_free_off = true;
	for (int c = 0; c < FSIO_DIO_CLASSES; c++) {
		while ((d = io->dio_free[c])) {
			io->dio_free[c] = d->next_free;
			aio_dev_free_buf(d->buf);
			free(d);
		}
		io->dio_nfree[c] = 0;
	}
	pthread_mutex_unlock(&io->dio_free_lock);
}
