/*
 * bmap.c: the file data layer. Reads and writes of file contents through
 * the block map, truncate, fallocate, SEEK_DATA/SEEK_HOLE. Data goes
 * straight to the device (disk_read/disk_write through aligned bounce
 * buffers); the page cache's ops (fs/io/buffered.c) and the direct path
 * (fs/io/direct.c) sit above it.
 *
 * Ordered data: blocks newly allocated to a file are written (data, or
 * zeros) before the transaction that maps them is closed, so a committed
 * mapping never shows another file's old blocks. Bytes of a mapped block
 * beyond the end of file are always zero (truncate and punch zero them),
 * so growing a file shows zeros.
 *
 * Calls: extent, inode (iupdate, orphan_*), storage (disk_*, tx_*). Its
 * device I/O is "buffered" for the fault points (fault.h io=).
 */
#include <errno.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "namespace.h"

#define IO_CHUNK (1u << 20) /* bounce buffer and largest single device I/O */

static uint32_t chunk_blocks(const struct fs *fs)
{
	return IO_CHUNK / fs->bsize;
}

/* A bounce buffer for an I/O of size bytes: at most IO_CHUNK, at least what a
   size-byte range can touch (two partial blocks more). Small I/Os stay small. */
static uint8_t *bounce_alloc(const struct fs *fs, uint64_t size)
{
	uint64_t n = (size + 2ull * fs->bsize + fs->bsize - 1) / fs->bsize * fs->bsize;
	return disk_alloc_buf(&fs->st->disk, n < IO_CHUNK ? (size_t)n : IO_CHUNK);
}

static size_t bounce_blocks(const struct fs *fs, uint64_t size)
{
	uint64_t n = (size + 2ull * fs->bsize + fs->bsize - 1) / fs->bsize;
	return n < chunk_blocks(fs) ? (size_t)n : chunk_blocks(fs);
}

/* A file data I/O at byte off of ip, for the device fault points. */
static struct disk_for data_io(const struct inode *ip, uint64_t off)
{
	return (struct disk_for){.io = FAULT_IO_BUFFERED, .ino = ip->ino, .off = off};
}

static bool is_inline_symlink(const struct inode *ip)
{
	return S_ISLNK(ip->d.mode) && ip->d.size <= EF_INLINE_SYMLINK_MAX;
}

ssize_t file_read(struct inode *ip, void *buf, size_t size, off_t off)
{
	ILOCKED(ip);
	struct fs *fs = ip->fs;
	uint32_t bs = fs->bsize;
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= ip->d.size)
		return 0;
	if (size > ip->d.size - (uint64_t)off)
		size = ip->d.size - (uint64_t)off;
	uint8_t *bounce = NULL;
	size_t done = 0;
	int r = 0;
	while (done < size) {
		uint64_t pos = (uint64_t)off + done;
		uint64_t lblk = pos / bs;
		struct ef_extent e;
		if ((r = extent_map(ip, lblk, &e)) < 0)
			break;
		uint64_t run = e.lblk + e.len - lblk; /* blocks from lblk in this mapping/hole */
		if (run > bounce_blocks(fs, size))
			run = bounce_blocks(fs, size);
		size_t n = run * bs - pos % bs;
		if (n > size - done)
			n = size - done;
		if (!e.pblk) {
			memset((uint8_t *)buf + done, 0, n);
		} else {
			if (!bounce && !(bounce = bounce_alloc(fs, size))) {
				r = -ENOMEM;
				break;
			}
			uint32_t nb = (uint32_t)((pos % bs + n + bs - 1) / bs);
			struct disk_for w = data_io(ip, lblk * bs);
			if ((r = disk_read_for(&fs->st->disk, e.pblk + (lblk - e.lblk), nb, bounce,
					       &w)) < 0)
				break;
			memcpy((uint8_t *)buf + done, bounce + pos % bs, n);
		}
		done += n;
	}
	free(bounce);
	return done > 0 ? (ssize_t)done : r;
}

/* Write n bytes at byte offset pos (within blocks [lblk, lblk + nb) mapped at pblk)
   from src; partial first/last blocks are read first unless fresh (then zeros). */
static int write_blocks(struct inode *ip, uint8_t *bounce, uint64_t pblk, uint64_t pos,
			const void *src, size_t n, bool fresh)
{
	struct fs *fs = ip->fs;
	uint32_t bs = fs->bsize;
	uint32_t head = pos % bs;
	uint32_t nb = (uint32_t)((head + n + bs - 1) / bs);
	struct disk_for w = data_io(ip, pos - head), wl = data_io(ip, pos - head + (nb - 1) * bs);
	int r;
	if (fresh) {
		memset(bounce, 0, head);
		memset(bounce + head + n, 0, (size_t)nb * bs - head - n);
	} else {
		if (head && (r = disk_read_for(&fs->st->disk, pblk, 1, bounce, &w)) < 0)
			return r;
		if ((head + n) % bs && (nb > 1 || !head) &&
		    (r = disk_read_for(&fs->st->disk, pblk + nb - 1, 1,
				       bounce + (size_t)(nb - 1) * bs, &wl)) < 0)
			return r;
	}
	if (src)
		memcpy(bounce + head, src, n);
	else
		memset(bounce + head, 0, n);
	return disk_write_for(&fs->st->disk, pblk, nb, bounce, &w);
}

/* Allocate and map blocks for the hole at lblk (up to want blocks); fill writes their
   content first (ordered data). One transaction, which also grows the size when
   grow is set (a write past the end): a crash never leaves written bytes beyond
   the end of file, where a later truncate up must find zeros. */
static int fill_hole(struct inode *ip, uint64_t lblk, uint32_t want, uint8_t *bounce, uint64_t pos,
		     const void *src, size_t n, uint32_t *got, bool grow)
{
	struct fs *fs = ip->fs;
	struct tx *tx;
	int r = tx_begin(fs->st->journal, extent_tx_blocks(ip), &tx);
	if (r < 0)
		return r;
	uint64_t pblk;
	r = extent_balloc(tx, ip, lblk, want, &pblk, got);
	if (r == 0) {
		uint64_t bs = fs->bsize;
		/* Only the blocks we got: clip the byte range to them. */
		uint64_t end = (lblk + *got) * bs;
		size_t m = pos + n > end ? (size_t)(end - pos) : n;
		r = write_blocks(ip, bounce, pblk, pos, src, m, true);
		if (r == 0)
			r = extent_insert(tx, ip, lblk, pblk, *got);
		if (r < 0) {
			bfree(fs->st->alloc, tx, pblk, *got);
		} else {
			if (grow && pos + m > ip->d.size)
				ip->d.size = pos + m;
			r = iupdate(tx, ip);
		}
	}
	int e = tx_end(tx);
	return r < 0 ? r : e;
}

/* Set size (if grow) and times in one transaction. */
static int touch(struct inode *ip, uint64_t newsize, bool grow_only)
{
	struct tx *tx;
	int r = tx_begin(ip->fs->st->journal, 2, &tx);
	if (r < 0)
		return r;
	if (!grow_only || newsize > ip->d.size)
		ip->d.size = newsize;
	ip->d.mtime = ip->d.ctime = inode_now();
	r = iupdate(tx, ip);
	int e = tx_end(tx);
	return r < 0 ? r : e;
}

/* touch: set the size (if grown) and the times after the data (file_write);
   without, the page cache's write-back of data the times already cover. */
static ssize_t write_common(struct inode *ip, const void *buf, size_t size, off_t off,
			    bool touch_after)
{
	struct fs *fs = ip->fs;
	uint32_t bs = fs->bsize;
	if (off < 0)
		return -EINVAL;
	if (size == 0)
		return 0;
	if ((uint64_t)off + size > (uint64_t)INT64_MAX ||
	    ((uint64_t)off + size + bs - 1) / bs > EF_MAX_FILE_BLOCKS)
		return -EFBIG;
	uint8_t *bounce = bounce_alloc(fs, size);
	if (!bounce)
		return -ENOMEM;
	size_t done = 0;
	int r = 0;
	while (done < size) {
		uint64_t pos = (uint64_t)off + done;
		uint64_t lblk = pos / bs;
		struct ef_extent e;
		if ((r = extent_map(ip, lblk, &e)) < 0)
			break;
		uint64_t run = e.lblk + e.len - lblk;
		if (run > bounce_blocks(fs, size))
			run = bounce_blocks(fs, size);
		size_t n = run * bs - pos % bs;
		if (n > size - done)
			n = size - done;
		if (e.pblk) {
			r = write_blocks(ip, bounce, e.pblk + (lblk - e.lblk), pos,
					 (const uint8_t *)buf + done, n, false);
		} else {
			uint32_t want = (uint32_t)((pos % bs + n + bs - 1) / bs), got;
			r = fill_hole(ip, lblk, want, bounce, pos, (const uint8_t *)buf + done, n,
				      &got, true);
			if (r == 0 && got < want)
				n = (size_t)((lblk + got) * bs - pos);
		}
		if (r < 0)
			break;
		done += n;
	}
	free(bounce);
	if (done > 0) {
		int t = touch_after ? touch(ip, (uint64_t)off + done, true) : 0;
		return t < 0 ? t : (ssize_t)done;
	}
	return r;
}

ssize_t file_write(struct inode *ip, const void *buf, size_t size, off_t off)
{
	ILOCKED_EXCL(ip);
	return write_common(ip, buf, size, off, true);
}

ssize_t file_write_back(struct inode *ip, const void *buf, size_t size, off_t off)
{
	ILOCKED_EXCL(ip);
	return write_common(ip, buf, size, off, false);
}

/* Zero bytes [from, to) inside one block, if it is mapped. */
static int zero_partial(struct inode *ip, uint64_t from, uint64_t to)
{
	struct fs *fs = ip->fs;
	if (from >= to)
		return 0;
	struct ef_extent e;
	uint64_t lblk = from / fs->bsize;
	int r = extent_map(ip, lblk, &e);
	if (r < 0 || !e.pblk)
		return r;
	uint8_t *bounce = disk_alloc_buf(&fs->st->disk, fs->bsize);
	if (!bounce)
		return -ENOMEM;
	r = write_blocks(ip, bounce, e.pblk + (lblk - e.lblk), from, NULL, (size_t)(to - from),
			 false);
	free(bounce);
	return r;
}

/* Unmap and free blocks [from, to), a transaction at a time. */
static int remove_range(struct inode *ip, uint64_t from, uint64_t to)
{
	struct fs *fs = ip->fs;
	while (from < to) {
		struct tx *tx;
		int r = tx_begin(fs->st->journal, extent_remove_tx_blocks(ip), &tx);
		if (r < 0)
			return r;
		uint64_t next;
		r = extent_remove(tx, ip, from, to, &next);
		if (r == 0)
			r = iupdate(tx, ip);
		int e = tx_end(tx);
		if (r < 0 || e < 0)
			return r < 0 ? r : e;
		if (next <= from)
			return -EIO; /* no progress: a bug, never loop */
		from = next;
	}
	return 0;
}

int file_free_beyond(struct inode *ip, uint64_t from_lblk)
{
	ILOCKED_EXCL(ip);
	if (is_inline_symlink(ip) ||
	    (!S_ISREG(ip->d.mode) && !S_ISDIR(ip->d.mode) && !S_ISLNK(ip->d.mode)))
		return 0;
	return remove_range(ip, from_lblk, UINT64_MAX);
}

int file_truncate(struct inode *ip, uint64_t size)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	uint32_t bs = fs->bsize;
	int r;
	if (size > EF_MAX_FILE_BLOCKS * bs)
		return -EFBIG;
	if (size >= ip->d.size)
		return touch(ip, size, false);
	/* Shrink: zero the tail of the new last block, so a later growth reads zeros. */
	if (size % bs && (r = zero_partial(ip, size, (size / bs + 1) * bs)) < 0)
		return r;
	uint64_t from = (size + bs - 1) / bs;
	bool blocks_beyond = ip->d.blocks > 0;
	struct tx *tx;
	if ((r = tx_begin(fs->st->journal, 8, &tx)) < 0)
		return r;
	ip->d.size = size;
	ip->d.mtime = ip->d.ctime = inode_now();
	r = iupdate(tx, ip);
	/* Freeing may take several transactions: the orphan list finishes it after a crash. */
	bool orphaned = false;
	if (r == 0 && blocks_beyond && ip->d.nlink > 0) {
		r = orphan_add(fs, tx, ip);
		orphaned = r == 0;
	}
	int t = tx_end(tx);
	if (r < 0 || t < 0)
		return r < 0 ? r : t;
	if (!blocks_beyond)
		return 0;
	r = remove_range(ip, from, UINT64_MAX);
	if (r == 0 && orphaned && (r = tx_begin(fs->st->journal, 8, &tx)) == 0) {
		r = orphan_remove(fs, tx, ip);
		t = tx_end(tx);
		r = r < 0 ? r : t;
	}
	return r;
}

int file_fallocate(struct inode *ip, int mode, off_t off, off_t len)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	uint32_t bs = fs->bsize;
	if (off < 0 || len <= 0)
		return -EINVAL;
	uint64_t end = (uint64_t)off + (uint64_t)len;
	if (end > (1ull << 40) * bs)
		return -EFBIG;
	int r;
	bool zero = mode & FALLOC_FL_ZERO_RANGE;
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) || zero) {
		uint64_t first = ((uint64_t)off + bs - 1) / bs, last = end / bs;
		if (first > last) { /* inside one block */
			if ((r = zero_partial(ip, (uint64_t)off, end)) < 0)
				return r;
		} else if ((r = zero_partial(ip, (uint64_t)off, first * bs)) < 0 ||
			   (r = zero_partial(ip, last * bs, end)) < 0 ||
			   (r = remove_range(ip, first, last)) < 0) {
			return r;
		}
		if (!zero)
			return touch(ip, ip->d.size, false);
		/* ZERO_RANGE: the range reads zeros and stays allocated (blocks
		   written with zeros below), and the size grows unless KEEP_SIZE. */
		mode &= FALLOC_FL_KEEP_SIZE;
	} else if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE) {
		return -EOPNOTSUPP;
	}
	/* Sized to the range: a buffered append reserves one block per write
	   (fc_reserve), and a zeroed 1 MiB buffer each time (mmap, 256 page
	   faults, munmap) was most of its cost. */
	uint8_t *bounce = bounce_alloc(fs, (uint64_t)len);
	if (!bounce)
		return -ENOMEM;
	uint64_t lblk = (uint64_t)off / bs, lend = (end + bs - 1) / bs;
	r = 0;
	while (lblk < lend) {
		struct ef_extent e;
		if ((r = extent_map(ip, lblk, &e)) < 0)
			break;
		uint64_t run = e.lblk + e.len - lblk;
		if (run > lend - lblk)
			run = lend - lblk;
		if (run > chunk_blocks(fs))
			run = chunk_blocks(fs);
		if (e.pblk) {
			lblk += run;
			continue;
		}
		uint32_t got;
		/* New blocks are written with zeros first: they are never unwritten. */
		r = fill_hole(ip, lblk, (uint32_t)run, bounce, lblk * bs, NULL, run * bs, &got,
			      false);
		if (r < 0)
			break;
		lblk += got;
	}
	free(bounce);
	if (r < 0)
		return r;
	if ((mode == 0 && end > ip->d.size) || zero)
		return touch(ip, mode == 0 && end > ip->d.size ? end : ip->d.size, false);
	struct tx *tx;
	if ((r = tx_begin(fs->st->journal, 2, &tx)) < 0)
		return r;
	ip->d.ctime = inode_now();
	r = iupdate(tx, ip);
	int t = tx_end(tx);
	return r < 0 ? r : t;
}

off_t file_seek(struct inode *ip, off_t off, int whence)
{
	ILOCKED(ip);
	uint32_t bs = ip->fs->bsize;
	if (off < 0)
		return -ENXIO;
	if ((uint64_t)off >= ip->d.size)
		return -ENXIO;
	uint64_t lblk = (uint64_t)off / bs;
	/* Compare in blocks: iload keeps the size within EF_MAX_FILE_BLOCKS, so
	   this rounding and lblk * bs below cannot overflow. */
	uint64_t end = ip->d.size / bs + (ip->d.size % bs != 0);
	for (;;) {
		if (lblk >= end)
			return whence == SEEK_DATA ? -ENXIO : (off_t)ip->d.size;
		struct ef_extent e;
		int r = extent_map(ip, lblk, &e);
		if (r < 0)
			return r;
		bool data = e.pblk != 0;
		if (data == (whence == SEEK_DATA)) {
			uint64_t at = lblk * bs > (uint64_t)off ? lblk * bs : (uint64_t)off;
			return (off_t)(at < ip->d.size ? at : ip->d.size);
		}
		lblk = e.lblk + e.len;
	}
}

int file_init_data(struct tx *tx, struct inode *ip, const void *buf, size_t len)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	uint32_t bs = fs->bsize;
	uint32_t nb = (uint32_t)((len + bs - 1) / bs);
	if (len == 0)
		return 0;
	if (len > IO_CHUNK)
		return -EFBIG;
	uint64_t pblk;
	uint32_t got;
	int r = extent_balloc(tx, ip, 0, nb, &pblk, &got);
	if (r < 0)
		return r;
	if (got < nb) {
		bfree(fs->st->alloc, tx, pblk, got);
		return -ENOSPC;
	}
	uint8_t *bounce = disk_alloc_buf(&fs->st->disk, (size_t)nb * bs);
	if (!bounce) {
		bfree(fs->st->alloc, tx, pblk, got);
		return -ENOMEM;
	}
	r = write_blocks(ip, bounce, pblk, 0, buf, len, true);
	free(bounce);
	if (r == 0)
		r = extent_insert(tx, ip, 0, pblk, nb);
	if (r < 0)
		bfree(fs->st->alloc, tx, pblk, got);
	return r;
}
