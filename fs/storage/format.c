/*
 * format.c: mkfs's half of the storage layers: lay out an empty
 * filesystem (superblock and backup, journal superblock, bitmaps, a zeroed
 * inode table) on a block device or an image file. Calls disk, meta and
 * super (super_layout, super_write_direct). The root directory is the
 * namespace layer's (fs_format_root), made by the mkfs tool afterwards.
 *
 * Signatures: an eiocbfs superblock, then every filesystem, RAID, volume
 * and partition-table signature libblkid knows; -f wipes them all (wipefs -a) before writing.
 *
 * Fast on big targets: the data area is never written; the inode table is
 * zeroed with a hole punch (image files) or BLKZEROOUT (devices), and an
 * all-zero inode table block reads as a block of free inodes (layout.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <blkid/blkid.h>

#include "storage.h"
#include "storage_int.h"

#define PROBE_BYTES (128u * 1024)
#define CHUNK_BLOCKS 256u

/* "eiocbfs" when d already holds one of ours (libblkid does not know it), or NULL. */
static const char *probe_signature(struct disk *d, char *scratch, size_t slen)
{
	size_t n =
	    d->size_bytes < PROBE_BYTES ? (size_t)(d->size_bytes / 4096 * 4096) : PROBE_BYTES;
	if (n == 0)
		return NULL;
	uint8_t *buf = disk_alloc_buf(d, n);
	if (!buf || disk_pread(d, buf, n, 0) < 0) {
		free(buf);
		return NULL;
	}
	const char *found = NULL;
	struct ef_blkhdr h;
	memcpy(&h, buf, sizeof(h));
	if (h.magic == EF_MAGIC_SUPER && h.blockno == 0)
		found = "eiocbfs";
	free(buf);
	if (found)
		snprintf(scratch, slen, "%s", found);
	return found ? scratch : NULL;
}

/* What libblkid recognises on target (any filesystem, RAID member, volume
   manager, partition table). */
static const char *probe_blkid(const char *target, char *out, size_t n)
{
	blkid_probe pr = blkid_new_probe_from_filename(target);
	if (!pr)
		return NULL;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	const char *found = NULL, *v;
	int rc = blkid_do_safeprobe(pr);
	if (rc == 0 && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0)
		snprintf(out, n, "%s", v), found = out;
	else if (rc == 0 && blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0)
		snprintf(out, n, "a partition table (%s)", v), found = out;
	else if (rc == -2)
		snprintf(out, n, "several signatures"), found = out;
	blkid_free_probe(pr);
	return found;
}

/* With -f: erase every signature libblkid knows (wipefs -a), wherever it
   is, so no other tool mistakes the new filesystem for the old one. */
static void wipe_blkid(const char *target)
{
	int fd = open(target, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	blkid_probe pr = blkid_new_probe();
	if (pr && blkid_probe_set_device(pr, fd, 0, 0) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_MAGIC);
		blkid_probe_enable_partitions(pr, 1);
		blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
		for (int i = 0; i < 64 && blkid_do_probe(pr) == 0; i++)
			blkid_do_wipe(pr, 0);
	}
	if (pr)
		blkid_free_probe(pr);
	fsync(fd);
	close(fd);
}

/* Zeroes [blk, blk + n) fast where the target allows it. */
static int zero_blocks(struct disk *d, uint64_t blk, uint64_t n, const struct format_opts *o,
		       uint64_t *done, uint64_t total)
{
	uint64_t bs = d->block_size, off = blk * bs, len = n * bs;
	if (n == 0)
		return 0;
	if (d->is_blockdev) {
		/* In pieces, with progress: where the device cannot offload
		   write-zeroes the kernel writes them, which takes a while. */
		const uint64_t piece = 64ull << 20;
		uint64_t at = 0;
		while (at < len) {
			uint64_t range[2] = {off + at, len - at < piece ? len - at : piece};
			if (ioctl(d->fd, BLKZEROOUT, range) < 0)
				break;
			at += range[1];
			if (o->progress)
				o->progress(o->progress_arg, *done + at / bs, total);
		}
		if (at == len)
			goto done;
		blk += at / bs; /* the rest by hand */
		n -= at / bs;
		*done += at / bs;
	} else if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			     (off_t)len) == 0) {
		goto done;
	}
	uint8_t *z = disk_alloc_buf(d, (size_t)CHUNK_BLOCKS * bs);
	if (!z)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i += CHUNK_BLOCKS) {
		uint64_t c = n - i < CHUNK_BLOCKS ? n - i : CHUNK_BLOCKS;
		int rc = disk_write(d, blk + i, (uint32_t)c, z);
		if (rc < 0) {
			free(z);
			return rc;
		}
		if (o->progress)
			o->progress(o->progress_arg, *done + i, total);
	}
	free(z);
done:
	*done += n;
	if (o->progress)
		o->progress(o->progress_arg, *done, total);
	return 0;
}

/* Writes a bitmap whose items [0, used_lo) and used_hi (if != UINT64_MAX)
   are in use and whose padding past nitems is set (layout.h). */
static int write_bitmap(struct disk *d, uint64_t start, uint64_t len, uint32_t magic,
			uint64_t nitems, uint64_t used_lo, uint64_t used_hi,
			const struct format_opts *o, uint64_t *done, uint64_t total)
{
	uint32_t bs = d->block_size;
	uint64_t bpb = EF_BITMAP_BITS(bs);
	uint8_t *chunk = disk_alloc_buf(d, (size_t)CHUNK_BLOCKS * bs);
	if (!chunk)
		return -ENOMEM;
	int rc = 0;
	for (uint64_t k = 0; k < len && rc == 0; k += CHUNK_BLOCKS) {
		uint64_t c = len - k < CHUNK_BLOCKS ? len - k : CHUNK_BLOCKS;
		memset(chunk, 0, (size_t)c * bs);
		for (uint64_t x = 0; x < c; x++) {
			uint8_t *blk = chunk + x * bs, *bits = blk + sizeof(struct ef_blkhdr);
			uint64_t first = (k + x) * bpb;
			for (uint64_t i = 0; i < bpb; i++) {
				uint64_t item = first + i;
				if (item < used_lo || item >= nitems || item == used_hi)
					bits[i >> 3] |= (uint8_t)(1u << (i & 7));
				else if (item >= used_lo && (i & 7) == 0 && i + 8 <= bpb &&
					 item + 8 <= nitems && item + 8 <= used_hi)
					i += 7; /* a whole free byte */
			}
			meta_seal(blk, bs, magic, start + k + x);
		}
		rc = disk_write(d, start + k, (uint32_t)c, chunk);
		*done += c;
		if (o->progress)
			o->progress(o->progress_arg, *done, total);
	}
	free(chunk);
	return rc;
}

static int write_jsuper(struct disk *d, const struct ef_super *sb)
{
	uint64_t seq;
	if (getrandom(&seq, sizeof(seq), 0) != sizeof(seq))
		seq = (uint64_t)time(NULL) * 2654435761u;
	seq = (seq >> 2) | 1; /* far from wrapping, never 0 */
	uint8_t *blk = disk_alloc_buf(d, sb->block_size);
	if (!blk)
		return -ENOMEM;
	struct ef_jsuper js = {
	    .version = EF_JOURNAL_VERSION, .seq = seq, .start = sb->journal_start + 1};
	memcpy(blk, &js, sizeof(js));
	meta_seal(blk, sb->block_size, EF_MAGIC_JSUPER, sb->journal_start);
	int rc = disk_write(d, sb->journal_start, 1, blk);
	free(blk);
	return rc;
}

/* Creates (or resizes) an image file; returns 1 when it was created. */
static int prepare_image(const char *target, uint64_t size, char *err, size_t errlen)
{
	int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return snprintf(err, errlen, "%s: cannot create: %s", target, strerror(errno)),
		       -errno;
	int rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 1;
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot set size: %s", target, strerror(-rc));
	close(fd);
	if (rc < 0)
		unlink(target);
	return rc;
}

int storage_format(const char *target, const struct format_opts *o, char *err, size_t errlen)
{
	struct stat st;
	bool created = false;
	if (stat(target, &st) < 0) {
		if (errno != ENOENT)
			return snprintf(err, errlen, "%s: %s", target, strerror(errno)), -errno;
		if (!o->size_bytes)
			return snprintf(err, errlen,
					"%s: no such file (give -s SIZE to create an image)",
					target),
			       -ENOENT;
		int rc = prepare_image(target, o->size_bytes, err, errlen);
		if (rc < 0)
			return rc;
		created = true;
	}
	struct disk d;
	int rc = disk_open(target, false, &d, err, errlen);
	if (rc < 0)
		return rc;
	char name[64];
	const char *sig = created || o->force ? NULL : probe_signature(&d, name, sizeof(name));
	if (!created && !o->force && !sig)
		sig = probe_blkid(target, name, sizeof(name));
	if (!created && o->force)
		wipe_blkid(target);
	if (sig) {
		disk_close(&d);
		return snprintf(err, errlen, "%s: holds %s; use -f to overwrite it", target, name),
		       -EEXIST;
	}
	uint64_t size = o->size_bytes ? o->size_bytes : d.size_bytes;
	if (!d.is_blockdev && size != d.size_bytes) {
		if (ftruncate(d.fd, (off_t)size) < 0) {
			rc = -errno;
			disk_close(&d);
			return snprintf(err, errlen, "%s: cannot set size: %s", target,
					strerror(-rc)),
			       rc;
		}
		d.size_bytes = size;
	}
	if (size > d.size_bytes) {
		disk_close(&d);
		return snprintf(err, errlen,
				"%s: -s %" PRIu64 " is larger than the device (%" PRIu64 " bytes)",
				target, size, d.size_bytes),
		       -EINVAL;
	}
	uint32_t bs = o->block_size ? o->block_size : EF_DEFAULT_BLOCK_SIZE;
	struct ef_super sb;
	char why[160];
	rc = super_layout(size, bs, o->ninodes, &sb, why, sizeof(why));
	if (rc == 0 && d.logical_block > bs) {
		rc = -EINVAL;
		snprintf(why, sizeof(why), "block size %u is smaller than the device's sector (%u)",
			 bs, d.logical_block);
	}
	if (rc < 0) {
		disk_close(&d);
		if (created)
			unlink(target);
		return snprintf(err, errlen, "%s: %s", target, why), rc;
	}
	d.block_size = bs;
	if (getrandom(sb.uuid, sizeof(sb.uuid), 0) != sizeof(sb.uuid))
		memset(sb.uuid, 0x5a, sizeof(sb.uuid));
	sb.uuid[6] = (uint8_t)((sb.uuid[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
	sb.uuid[8] = (uint8_t)((sb.uuid[8] & 0x3f) | 0x80);
	if (o->label)
		snprintf(sb.label, sizeof(sb.label), "%s", o->label);
	sb.mkfs_time = sb.write_time = (uint64_t)time(NULL);

	/* Work in blocks, for the progress report. */
	uint64_t head_zero = (uint64_t)PROBE_BYTES / bs, tail_zero = (uint64_t)PROBE_BYTES / bs;
	if (head_zero > sb.data_start)
		head_zero = sb.data_start;
	if (tail_zero > sb.nblocks - sb.data_start)
		tail_zero = sb.nblocks - sb.data_start;
	uint64_t total = head_zero + tail_zero + sb.itable_len + sb.ibitmap_len + sb.bbitmap_len,
		 done = 0;
	/* Old signatures go (the start and the end of the target), then the
	   inode table, then the bitmaps, the journal and the superblocks. */
	rc = zero_blocks(&d, 0, head_zero, o, &done, total);
	if (rc == 0)
		rc = zero_blocks(&d, sb.nblocks - tail_zero, tail_zero, o, &done, total);
	if (rc == 0)
		rc = zero_blocks(&d, sb.itable_start, sb.itable_len, o, &done, total);
	if (rc == 0)
		rc = write_bitmap(&d, sb.ibitmap_start, sb.ibitmap_len, EF_MAGIC_IBITMAP,
				  sb.ninodes + 1, 1, UINT64_MAX, o, &done, total);
	if (rc == 0)
		rc = write_bitmap(&d, sb.bbitmap_start, sb.bbitmap_len, EF_MAGIC_BBITMAP,
				  sb.nblocks, sb.data_start, sb.nblocks - 1, o, &done, total);
	if (rc == 0)
		rc = write_jsuper(&d, &sb);
	if (rc == 0)
		rc = disk_flush(&d); /* everything else before the superblock */
	if (rc == 0)
		rc = super_write_direct(&d, &sb, true);
	if (rc == 0)
		rc = disk_flush(&d);
	disk_close(&d);
	if (rc < 0)
		return snprintf(err, errlen, "%s: write failed: %s", target, strerror(-rc)), rc;
	return 0;
}
