/*
 * disk.c: the disk layer of fs/ storage: the target (a block device or an
 * image file) opened O_DIRECT and exclusively, its geometry, synchronous
 * aligned block I/O and flush. Calls only the kernel.
 *
 * Exclusive: O_EXCL on a block device (the kernel refuses it while mounted
 * or held by another O_EXCL user), flock on an image file (LOCK_EX, or
 * LOCK_SH when read-only, so a read-only checker may share with another
 * reader but never with a writer).
 *
 * Device faults: disk_read_for/disk_write_for ask the fault points
 * device_read/device_write/delay (fault.h) with what the I/O is for, and do
 * what they say: fail with the errno, flip bits of the data (on a read after
 * it, on a write in a copy), write only a prefix (torn) or nothing (lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "holder.h"
#include "storage.h"
#include "storage_int.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* -EBUSY, naming what holds the target (a mount, a checker, a daemon). */
static int in_use(const char *target, bool readonly, char *err, size_t errlen)
{
	struct holder h;
	char who[PATH_MAX + 32];

	if (holder_find(target, readonly, &h) == 1)
		holder_describe(&h, who, sizeof(who));
	else
		snprintf(who, sizeof(who), "mounted or opened exclusively");
	return fail(err, errlen, -EBUSY, "%s: in use (%s)", target, who);
}

/* The O_DIRECT alignment of a file: a 512-byte read at a 512 (not 4096)
   aligned address and offset works, or fails with EINVAL. */
static uint32_t probe_alignment(int fd)
{
	uint8_t *mem = NULL;
	if (posix_memalign((void **)&mem, 4096, 8192))
		return 4096;
	ssize_t n = pread(fd, mem + 512, 512, 512);
	int e = errno;
	free(mem);
	return (n < 0 && e == EINVAL) ? 4096 : 512;
}

int disk_open(const char *target, bool readonly, struct disk *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	struct stat st;
	if (stat(target, &st) < 0)
		return fail(err, errlen, -errno, "%s: %s", target, strerror(errno));
	bool blk = S_ISBLK(st.st_mode);
	if (!blk && !S_ISREG(st.st_mode))
		return fail(err, errlen, -EINVAL, "%s: not a block device or a regular file",
			    target);
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (blk ? O_EXCL : 0);
	bool direct = true;
	int fd = open(target, flags | O_DIRECT);
	if (fd < 0 && errno == EINVAL) { /* a filesystem without O_DIRECT (tmpfs) */
		direct = false;
		fd = open(target, flags);
	}
	if (fd < 0) {
		int e = errno;
		if (e == EBUSY)
			return in_use(target, readonly, err, errlen);
		return fail(err, errlen, -e, "%s: %s", target, strerror(e));
	}
	d->fd = fd;
	d->direct = direct;
	d->is_blockdev = blk;
	d->readonly = readonly;
	if (blk) {
		uint64_t sz;
		int ss;
		if (ioctl(fd, BLKGETSIZE64, &sz) < 0 || ioctl(fd, BLKSSZGET, &ss) < 0) {
			int e = errno;
			disk_close(d);
			return fail(err, errlen, -e, "%s: cannot get geometry: %s", target,
				    strerror(e));
		}
		d->size_bytes = sz;
		d->logical_block = ss > 0 ? (uint32_t)ss : 512;
	} else {
		if (flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
			int e = errno;
			disk_close(d);
			if (e == EWOULDBLOCK)
				return in_use(target, readonly, err, errlen);
			return fail(err, errlen, -e, "%s: flock: %s", target, strerror(e));
		}
		d->size_bytes = (uint64_t)st.st_size;
		d->logical_block = direct ? probe_alignment(fd) : 512;
	}
	return 0;
}

void disk_close(struct disk *d)
{
	disk_vcache_free(d);
	if (d->fd >= 0)
		close(d->fd); /* drops the flock too */
	d->fd = -1;
}

int disk_pread(struct disk *d, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	if (off > d->size_bytes || len > d->size_bytes - off)
		return -EINVAL;
	while (len) {
		ssize_t n = pread(d->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the file shrank under us */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int disk_pwrite(struct disk *d, const void *buf, size_t len, uint64_t off)
{
	if (d->vc && !d->readonly && off <= d->size_bytes && len <= d->size_bytes - off &&
	    !disk_vcache_note(d, off, len))
		return 0; /* the power is cut */
	return disk_pwrite_raw(d, buf, len, off);
}

int disk_pwrite_raw(struct disk *d, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	if (d->readonly)
		return -EROFS;
	if (off > d->size_bytes || len > d->size_bytes - off)
		return -EINVAL;
	while (len) {
		ssize_t n = pwrite(d->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Precondition for all: d->block_size is set. */
static bool block_range_ok(const struct disk *d, uint64_t blockno)
{
	return d->block_size && blockno <= UINT64_MAX / d->block_size;
}

static void delay_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The fault request of an I/O of len bytes for w. */
static struct fault_req fault_req_of(const struct disk_for *w, size_t len)
{
	return (struct fault_req){.ino = w->ino,
				  .off = w->off,
				  .len = len,
				  .io = w->io,
				  .pid = fault_caller(),
				  .kinds = FAULT_KINDS_ALL};
}

int disk_read_for(struct disk *d, uint64_t blockno, uint32_t nblocks, void *buf,
		  const struct disk_for *w)
{
	if (!block_range_ok(d, blockno))
		return -EINVAL;
	size_t len = (size_t)nblocks * d->block_size;
	int r = disk_pread(d, buf, len, blockno * d->block_size);
	struct faults *f = d->faults;
	struct fault_hit h;

	if (!f)
		return r;
	struct fault_req rq = fault_req_of(w, len);
	unsigned ms = fault_delay_ms(f, rq.ino, rq.off, rq.len);
	if (ms)
		delay_ms(ms);
	if (r == 0 && fault_hit(f, FAULT_DEVICE_READ, &rq, &h)) {
		if (h.kind == FAULT_KIND_CORRUPT)
			((uint8_t *)buf)[h.byte] ^= h.bits;
		else
			r = -h.err;
	}
	return r;
}

int disk_write_for(struct disk *d, uint64_t blockno, uint32_t nblocks, const void *buf,
		   const struct disk_for *w)
{
	if (!block_range_ok(d, blockno))
		return -EINVAL;
	size_t len = (size_t)nblocks * d->block_size;
	uint64_t at = blockno * d->block_size;
	struct faults *f = d->faults;
	struct fault_hit h;

	if (!f)
		return disk_pwrite(d, buf, len, at);
	struct fault_req rq = fault_req_of(w, len);
	unsigned ms = fault_delay_ms(f, rq.ino, rq.off, rq.len);
	if (ms)
		delay_ms(ms);
	if (!fault_hit(f, FAULT_DEVICE_WRITE, &rq, &h))
		return disk_pwrite(d, buf, len, at);
	switch (h.kind) {
	case FAULT_KIND_ERROR:
		return -h.err; /* nothing written, as a failed bio */
	case FAULT_KIND_LOST:
		return 0;
	case FAULT_KIND_TORN: {
		/* Whole logical blocks only: the device tears at sector boundaries. */
		size_t keep = (size_t)h.keep / d->logical_block * d->logical_block;
		int r = keep ? disk_pwrite(d, buf, keep, at) : 0;
		return r < 0 ? r : -h.err;
	}
	case FAULT_KIND_CORRUPT: {
		uint8_t *copy = disk_alloc_buf(d, len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, buf, len);
		copy[h.byte] ^= h.bits;
		int r = disk_pwrite(d, copy, len, at);
		free(copy);
		return r;
	}
	}
	return -EIO;
}

int disk_read(struct disk *d, uint64_t blockno, uint32_t nblocks, void *buf)
{
	struct disk_for w = {.io = FAULT_IO_META,
			     .ino = FAULT_INO_META,
			     .off = d->block_size ? blockno * d->block_size : 0};

	return disk_read_for(d, blockno, nblocks, buf, &w);
}

int disk_write(struct disk *d, uint64_t blockno, uint32_t nblocks, const void *buf)
{
	if (!block_range_ok(d, blockno))
		return -EINVAL;
	return disk_pwrite(d, buf, (size_t)nblocks * d->block_size, blockno * d->block_size);
}

int disk_flush(struct disk *d)
{
	if (d->readonly)
		return 0;
	uint64_t mark = disk_vcache_mark(d);
	while (fdatasync(d->fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	disk_vcache_flushed(d, mark);
	return 0;
}

void *disk_alloc_buf(const struct disk *d, size_t len)
{
	size_t align = d->logical_block > 4096 ? d->logical_block : 4096;
	void *p = NULL;
	if (len == 0)
		len = align;
	len = (len + align - 1) / align * align;
	if (posix_memalign(&p, align, len))
		return NULL;
	memset(p, 0, len);
	return p;
}
