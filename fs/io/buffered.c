/*
 * buffered.c: the file I/O engine's set-up and its buffered side (fsio.h):
 * the page cache between fs.c's read/write and the file data layer, the
 * per-inode I/O locks, and the page cache's ops (struct pc_ops) over
 * fs/ns/bmap.c.
 *
 * Layer: below fs.c; calls the page cache, the file/inode layers, the
 * journal, and direct.c's set-up. The pc_ops callbacks take ip->lock only
 * (never an I/O lock, never the page cache): see fsio.h for the order.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>

#include "fsio_int.h"

/* ---- the page cache's ops over the file layer ------------------------------ */

/*
 * The page cache holds a reference on the inode while a callback runs with
 * pages of the inode locked (pc_ops.hold), and drops it once they are
 * unlocked (pc_ops.release), as the kernel's write-back holds the inode it
 * writes. The callbacks' own iget/iput is then never the last one: the last
 * reference of an unlinked, closed file, which frees it and drops its pages
 * (pc_drop_inode waits for locked pages), is released with none locked by
 * the releasing thread.
 */
static int fc_hold(void *arg, uint64_t ino, void **file)
{
	struct inode *ip;
	int r = iget(arg, ino, &ip);

	if (r == -ESTALE)
		return 0; /* no such inode: the callback says what that means */
	if (r == 0)
		*file = ip;
	return r;
}

static void fc_release(void *arg, void *file)
{
	(void)arg;
	if (file)
		iput(file);
}

static int fc_read_run(void *arg, uint64_t ino, uint64_t index, unsigned nr, void *const bufs[])
{
	struct fs *fs = arg;
	uint32_t bs = fs->bsize;
	struct inode *ip;
	uint8_t *tmp = nr > 1 ? malloc((size_t)nr * bs) : bufs[0];
	int r;

	if (!tmp)
		return -ENOMEM;
	memset(tmp, 0, (size_t)nr * bs);
	if ((r = iget(fs, ino, &ip)) == 0) {
		if ((r = ilock_shared(ip)) == 0) {
			ssize_t n = file_read(ip, tmp, (size_t)nr * bs, (off_t)(index * bs));
			r = n < 0 ? (int)n : 0;
			iunlock(ip);
		}
		iput(ip); /* not the last: the page cache holds one (fc_hold) */
	}
	if (nr > 1) {
		for (unsigned i = 0; i < nr && r == 0; i++)
			memcpy(bufs[i], tmp + (size_t)i * bs, bs);
		free(tmp);
	}
	return r;
}

static int fc_read_block(void *arg, uint64_t ino, uint64_t index, void *buf)
{
	void *bufs[1] = {buf};
	return fc_read_run(arg, ino, index, 1, bufs);
}

/* Write back nr pages from index: only what lies below the size (the rest is
   a truncated tail). A freed inode (unlinked, closed) takes nothing. */
static int fc_write_run(void *arg, uint64_t ino, uint64_t index, unsigned nr,
			const void *const bufs[])
{
	struct fs *fs = arg;
	uint64_t bs = fs->bsize;
	struct inode *ip;
	int r = iget(fs, ino, &ip);

	if (r < 0)
		return r == -ESTALE ? 0 : r;
	if ((r = ilock(ip)) < 0) {
		iput(ip);
		return r == -ESTALE ? 0 : r;
	}
	uint64_t off = index * bs, size = ip->d.size;
	if (off < size) {
		uint64_t n = (uint64_t)nr * bs;
		if (n > size - off)
			n = size - off;
		const uint8_t *src = bufs[0];
		uint8_t *tmp = NULL;
		if (nr > 1) {
			unsigned used = (unsigned)((n + bs - 1) / bs);
			tmp = malloc((size_t)used * bs);
			if (!tmp)
				r = -ENOMEM;
			for (unsigned i = 0; tmp && i < used; i++)
				memcpy(tmp + i * bs, bufs[i], bs);
			src = tmp;
		}
		for (int tries = 0; r == 0;) {
			ssize_t w = file_write_back(ip, src, (size_t)n, (off_t)off);
			if (w == -ENOSPC && !tries++ && ns_pending_space(fs) > 0) {
				/* storage_reclaim commits: not under ip->lock (journal order). */
				iunlock(ip);
				r = storage_reclaim(fs->st);
				int l = ilock(ip);
				if (r == 0)
					r = l;
				if (l < 0) {
					iput(ip);
					free(tmp);
					return l == -ESTALE ? 0 : l;
				}
				continue;
			}
			r = w < 0 ? (int)w : 0;
			break;
		}
		free(tmp);
	}
	iunlock(ip);
	iput(ip); /* not the last: the page cache holds one (fc_hold) */
	return r;
}

static int fc_writepage(void *arg, uint64_t ino, uint64_t index, const void *buf)
{
	const void *bufs[1] = {buf};
	return fc_write_run(arg, ino, index, 1, bufs);
}

static int fc_get_size(void *arg, uint64_t ino, uint64_t *size)
{
	struct fs *fs = arg;
	struct inode *ip;
	int r = iget(fs, ino, &ip);

	if (r < 0)
		return r;
	if ((r = ilock_shared(ip)) == 0) {
		*size = ip->d.size;
		iunlock(ip);
	}
	iput(ip);
	return r;
}

static int fc_extend_size(void *arg, uint64_t ino, uint64_t size)
{
	struct fs *fs = arg;
	struct inode *ip;
	struct tx *tx;
	int r = iget(fs, ino, &ip);

	if (r < 0)
		return r;
	if ((r = ilock(ip)) == 0) {
		if (ip->d.size < size && (r = tx_begin(fs->st->journal, 2, &tx)) == 0) {
			ip->d.size = size;
			ip->d.mtime = ip->d.ctime = inode_now();
			r = iupdate(tx, ip);
			int e = tx_end(tx);
			r = r < 0 ? r : e;
		}
		iunlock(ip);
	}
	iput(ip);
	return r;
}

const struct pc_ops fsio_pc_ops = {
    .read_block = fc_read_block,
    .readpages = fc_read_run,
    .writepage = fc_writepage,
    .writepages = fc_write_run,
    .get_size = fc_get_size,
    .extend_size = fc_extend_size,
    .hold = fc_hold,
    .release = fc_release,
};

/* ---- set-up ------------------------------------------------------------------ */

int fsio_start(struct fs *fs, const struct fsio_opts *o, char *err, size_t errlen)
{
	struct fs_io *io = calloc(1, sizeof(*io));
	int r;

	if (!io) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	io->fs = fs;
	io->faults = o->faults;
	for (int i = 0; i < FSIO_STRIPES; i++) {
		pthread_mutex_init(&io->stripes[i].lock, NULL);
		pthread_cond_init(&io->stripes[i].dio_idle, NULL);
	}
	/* P3: an undroppable page fails invalidation with 2.6.20's -EIO, or
	   today's -EBUSY in the mode that models today's kernels. */
	struct pc_config cfg = {.block_size = fs->bsize,
				.cache_mb = o->cache_mb,
				.busy_errno = o->mode == IOCTX_MAINLINE ? EBUSY : EIO};
	if ((r = pc_new(&cfg, &fsio_pc_ops, fs, o->faults, &io->pc)) < 0) {
		snprintf(err, errlen, "page cache: %s", strerror(-r));
		goto fail;
	}
	if (!fs->readonly && (r = pc_wb_start(io->pc)) < 0) {
		snprintf(err, errlen, "page cache write-back thread: %s", strerror(-r));
		goto fail;
	}
	if ((r = fsio_direct_start(io, o->target, o->mode, o->ring, err, errlen)) < 0)
		goto fail;
	fs->io = io;
	fs->pc = io->pc;
	return 0;
fail:
	if (io->pc) {
		pc_wb_stop(io->pc);
		pc_free(io->pc);
	}
	free(io);
	return r;
}

int fsio_stop(struct fs *fs)
{
	struct fs_io *io = fs->io;
	int r = 0;

	if (!io)
		return 0;
	fsio_direct_stop(io); /* no direct I/O in flight after this */
	if (!fs->readonly)
		r = pc_sync(io->pc);
	pc_wb_stop(io->pc);
	fs->pc = NULL;
	pc_free(io->pc);
	fs->io = NULL;
	for (int i = 0; i < FSIO_STRIPES; i++) {
		pthread_mutex_destroy(&io->stripes[i].lock);
		pthread_cond_destroy(&io->stripes[i].dio_idle);
	}
	free(io);
	return r;
}

struct ioctx *fsio_ioctx(struct fs *fs)
{
	return fs->io ? fs->io->ctx : NULL;
}

struct pc *fsio_pc(struct fs *fs)
{
	return fs->io ? fs->io->pc : NULL;
}

/* ---- buffered I/O ------------------------------------------------------------ */

/* Whether [off, off+len) of ip has a hole. */
static int fc_has_hole(struct inode *ip, uint64_t off, uint64_t len)
{
	ILOCKED(ip);
	uint32_t bs = ip->fs->bsize;
	uint64_t lblk = off / bs, end = (off + len + bs - 1) / bs;

	while (lblk < end) {
		struct ef_extent e;
		int r = extent_map(ip, lblk, &e);
		if (r < 0)
			return r;
		if (!e.pblk)
			return 1;
		lblk = e.lblk + e.len;
	}
	return 0;
}

/*
 * The blocks a buffered write will need are allocated when it happens (as
 * zeroed blocks, beyond the size if need be): ENOSPC reaches the writer, not
 * the write-back thread, and statfs, SEEK_DATA and fsck see the file as the
 * writer does. (ext4 reserves instead, and allocates at write-back.)
 */
static int fc_reserve(struct fs *fs, uint64_t ino, uint64_t off, size_t len)
{
	LOCK_HELD(&fsio_stripe(fs->io, ino)->owner);
	struct inode *ip;
	int r = iget(fs, ino, &ip);

	if (r < 0 || !len)
		return r;
	if ((r = ilock(ip)) < 0) {
		iput(ip);
		return r;
	}
	for (int tries = 0;;) {
		if ((r = fc_has_hole(ip, off, len)) > 0)
			r = file_fallocate(ip, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
		if (r != -ENOSPC || tries++ || ns_pending_space(fs) == 0)
			break;
		iunlock(ip); /* storage_reclaim commits: not under ip->lock */
		r = storage_reclaim(fs->st);
		int l = ilock(ip);
		if (r < 0 || l < 0) {
			if (l == 0)
				iunlock(ip);
			iput(ip);
			return r < 0 ? r : l;
		}
	}
	iunlock(ip);
	iput(ip);
	return r;
}

/* A buffered write changes mtime and ctime when it happens (the kernel's
   file_update_time), not when its pages are written back. */
static int fc_touch(struct fs *fs, uint64_t ino)
{
	struct inode *ip;
	struct tx *tx;
	int r = iget(fs, ino, &ip);

	if (r < 0)
		return r;
	if ((r = ilock(ip)) == 0) {
		if ((r = tx_begin(fs->st->journal, 2, &tx)) == 0) {
			ip->d.mtime = ip->d.ctime = inode_now();
			r = iupdate(tx, ip);
			int e = tx_end(tx);
			r = r < 0 ? r : e;
		}
		iunlock(ip);
	}
	iput(ip);
	return r;
}

ssize_t fsio_read(struct fs *fs, uint64_t ino, void *buf, size_t size, off_t off)
{
	if (off < 0)
		return -EINVAL;
	return pc_read(fs->io->pc, ino, (uint64_t)off, size, buf);
}

ssize_t fsio_write(struct fs *fs, uint64_t ino, const void *buf, size_t size, off_t off)
{
	struct fsio_stripe *s = fsio_stripe(fs->io, ino);
	uint64_t bs = fs->bsize;

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off + size > (uint64_t)INT64_MAX ||
	    ((uint64_t)off + size + bs - 1) / bs > (1ull << 40))
		return -EFBIG;
	/* The I/O lock serializes writes that extend the inode (pagecache.h). */
	fsio_stripe_lock(s);
	/* Direct writes with blocks not mapped yet: their holes are taken. */
	while (s->alloc_dio > 0)
		fsio_stripe_wait(s);
	ssize_t n = fc_reserve(fs, ino, (uint64_t)off, size);
	if (n == 0)
		n = pc_write(fs->io->pc, ino, (uint64_t)off, size, buf);
	fsio_stripe_unlock(s);
	if (n > 0) {
		int r = fc_touch(fs, ino);
		if (r < 0)
			return r;
	}
	return n;
}

/*
 * The fault point fsync plays a failed write-back as Linux ends it: the
 * file's dirty pages become clean without reaching the device (their data
 * read until evicted, then the older data on the device), and the error is
 * recorded for each open file description to see once (errseq).
 */
int fsio_fsync(struct fs *fs, uint64_t ino)
{
	struct fs_io *io = fs->io;
	int e;

	if (io->faults && fault_should_fail(io->faults, FAULT_FSYNC, ino, 0, PC_END, &e)) {
		pc_discard_dirty(io->pc, ino);
		pc_wb_err_set(io->pc, ino, -e);
		return -e;
	}
	return pc_fsync(io->pc, ino);
}

int fsio_sync(struct fs *fs)
{
	return pc_sync(fs->io->pc);
}

/* ---- changes of the block map -------------------------------------------------- */

int fsio_change_begin(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len)
{
	struct fsio_stripe *s = fsio_stripe(fs->io, ino);

	fsio_stripe_lock(s);
	/* inode_dio_wait: no direct I/O of the stripe keeps a mapping it read. */
	while (s->dio > 0)
		fsio_stripe_wait(s);
	/* A punch keeps the bytes around its range: write them back first so the
	   cache and the device agree before the map changes. */
	int r = len ? pc_writeback_range(fs->io->pc, ino, off, off + len - 1, true) : 0;
	if (r < 0)
		fsio_stripe_unlock(s);
	return r;
}

void fsio_truncate_end(struct fs *fs, uint64_t ino, uint64_t size, bool done)
{
	struct fsio_stripe *s = fsio_stripe(fs->io, ino);

	if (done)
		pc_truncate(fs->io->pc, ino, size);
	fsio_stripe_unlock(s);
}

void fsio_punch_end(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len)
{
	struct fsio_stripe *s = fsio_stripe(fs->io, ino);
	uint32_t bs = fs->bsize;

	/* The range's bytes are the file layer's now (zeros): drop its pages,
	   the partial ones at the edges too (written back before the punch,
	   they read back with the hole's zeros). */
	if (len)
		pc_drop_range(fs->io->pc, ino, off / bs, (off + len - 1) / bs);
	fsio_stripe_unlock(s);
}
