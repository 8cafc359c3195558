/*
 * fsck_image.c: the checker's view of the image. Layer: the bottom of the
 * checker; calls the storage layer's disk (disk_open, disk_read,
 * disk_write; disk_pread before the block size is known). Holds the
 * journal overlay: in check mode a replayed journal lives here, never on
 * the device, and every read sees it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"
#include "storage_int.h"

int img_open_target(struct fsck_img *im, const char *target, bool readonly, char *err,
		    size_t errlen)
{
	memset(im, 0, sizeof(*im));
	im->readonly = readonly;
	int rc = disk_open(target, readonly, &im->disk, err, errlen);
	if (rc < 0)
		return rc;
	im->disk_open = true;
	im->size_bytes = im->disk.size_bytes;
	im->bounce = disk_alloc_buf(&im->disk, (size_t)FSCK_CHUNK * EF_MAX_BLOCK_SIZE);
	if (!im->bounce) {
		img_close(im);
		return -ENOMEM;
	}
	return 0;
}

void img_close(struct fsck_img *im)
{
	for (size_t i = 0; i < im->ov_cap; i++)
		free(im->ov[i].data);
	free(im->ov);
	im->ov = NULL;
	im->ov_cap = im->ov_len = 0;
	free(im->bounce);
	im->bounce = NULL;
	if (im->disk_open)
		disk_close(&im->disk);
	im->disk_open = false;
}

/* Pre: off and len are multiples of the device's logical block (O_DIRECT). */
int img_pread(struct fsck_img *im, void *buf, size_t len, uint64_t off)
{
	if (off > im->size_bytes || len > im->size_bytes - off)
		return -EIO; /* beyond the end: the caller checks geometry first */
	if (len > EF_MAX_BLOCK_SIZE)
		return -EINVAL;
	int rc = disk_pread(&im->disk, im->bounce, len, off);
	if (rc < 0)
		return rc;
	memcpy(buf, im->bounce, len);
	return 0;
}

static struct fsck_overlay_ent *ov_find(struct fsck_img *im, uint64_t blockno)
{
	if (!im->ov_cap)
		return NULL;
	size_t mask = im->ov_cap - 1;
	for (size_t i = (size_t)(blockno * 0x9e3779b97f4a7c15ull) & mask;; i = (i + 1) & mask) {
		if (im->ov[i].blockno == blockno)
			return &im->ov[i];
		if (im->ov[i].blockno == UINT64_MAX)
			return NULL;
	}
}

int img_read(struct fsck_img *im, uint64_t blockno, void *buf)
{
	struct fsck_overlay_ent *e = ov_find(im, blockno);
	if (e) {
		memcpy(buf, e->data, im->bs);
		return 0;
	}
	if (blockno >= im->size_bytes / im->bs)
		return -EIO;
	int rc = disk_read(&im->disk, blockno, 1, im->bounce);
	if (rc < 0)
		return rc;
	memcpy(buf, im->bounce, im->bs);
	return 0;
}

int img_read_many(struct fsck_img *im, uint64_t blockno, uint32_t n, void *buf)
{
	if (n > FSCK_CHUNK || blockno >= im->size_bytes / im->bs ||
	    n > im->size_bytes / im->bs - blockno)
		return -EIO;
	int rc = disk_read(&im->disk, blockno, n, im->bounce);
	if (rc < 0)
		return rc;
	memcpy(buf, im->bounce, (size_t)n * im->bs);
	for (uint32_t i = 0; i < n && im->ov_len; i++) {
		struct fsck_overlay_ent *e = ov_find(im, blockno + i);
		if (e)
			memcpy((uint8_t *)buf + (size_t)i * im->bs, e->data, im->bs);
	}
	return 0;
}

int img_write(struct fsck_img *im, uint64_t blockno, const void *buf)
{
	if (im->readonly)
		return -EROFS;
	if (blockno >= im->size_bytes / im->bs)
		return -EIO;
	struct fsck_overlay_ent *e = ov_find(im, blockno);
	if (e) /* keep the view coherent if a replayed block is repaired */
		memcpy(e->data, buf, im->bs);
	memcpy(im->bounce, buf, im->bs);
	return disk_write(&im->disk, blockno, 1, im->bounce);
}

static int ov_grow(struct fsck_img *im)
{
	size_t ncap = im->ov_cap ? im->ov_cap * 2 : 64;
	struct fsck_overlay_ent *nov = malloc(ncap * sizeof(*nov));
	if (!nov)
		return -ENOMEM;
	for (size_t i = 0; i < ncap; i++)
		nov[i].blockno = UINT64_MAX, nov[i].data = NULL;
	struct fsck_overlay_ent *old = im->ov;
	size_t ocap = im->ov_cap;
	im->ov = nov;
	im->ov_cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].blockno == UINT64_MAX)
			continue;
		size_t mask = ncap - 1, j = (size_t)(old[i].blockno * 0x9e3779b97f4a7c15ull) & mask;
		while (nov[j].blockno != UINT64_MAX)
			j = (j + 1) & mask;
		nov[j] = old[i];
	}
	free(old);
	return 0;
}

int img_overlay(struct fsck_img *im, uint64_t blockno, const void *buf)
{
	struct fsck_overlay_ent *e = ov_find(im, blockno);
	if (!e) {
		if ((im->ov_len + 1) * 2 > im->ov_cap && ov_grow(im) < 0)
			return -ENOMEM;
		size_t mask = im->ov_cap - 1, i = (size_t)(blockno * 0x9e3779b97f4a7c15ull) & mask;
		while (im->ov[i].blockno != UINT64_MAX)
			i = (i + 1) & mask;
		e = &im->ov[i];
		e->data = malloc(im->bs);
		if (!e->data)
			return -ENOMEM;
		e->blockno = blockno;
		im->ov_len++;
	}
	memcpy(e->data, buf, im->bs);
	return 0;
}

int img_flush(struct fsck_img *im)
{
	if (im->readonly)
		return 0;
	return disk_flush(&im->disk);
}
