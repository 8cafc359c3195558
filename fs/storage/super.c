/*
 * super.c: the super layer of fs/ storage: the superblock (read, range
 * checks of damaged input, backup fallback, write), the mkfs layout
 * arithmetic, and the storage stack as one handle (storage_open/close).
 * Calls meta, disk, bcache, journal and alloc.
 *
 * Never trust a size field: super_check range-checks every number before
 * anything uses it, so a damaged superblock is refused with a reason
 * instead of steering reads off the device or into huge allocations.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage.h"
#include "storage_int.h"

#define SB_KNOWN_STATE (EF_STATE_CLEAN | EF_STATE_DIRTY | EF_STATE_ERROR)
#define SB_KNOWN_INCOMPAT 0u
#define MIN_NBLOCKS 1024u /* the smallest filesystem mkfs makes */
#define MIN_JOURNAL 128u
#define BCACHE_BUFS 8192u
#define COMMIT_INTERVAL_MS 5000u

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static bool bs_ok(uint32_t bs)
{
	return bs >= EF_MIN_BLOCK_SIZE && bs <= EF_MAX_BLOCK_SIZE && (bs & (bs - 1)) == 0;
}

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -EUCLEAN)

int super_check(const struct ef_super *s, uint64_t dev_bytes, char *why, size_t whylen)
{
	if (s->hdr.magic != EF_MAGIC_SUPER)
		return WHY("bad magic 0x%08x", s->hdr.magic);
	if (s->version != EF_VERSION)
		return WHY("unsupported version %u", s->version);
	uint32_t bs = s->block_size;
	if (!bs_ok(bs))
		return WHY("bad block size %u", bs);
	if (s->nblocks < 64 || s->nblocks > dev_bytes / bs)
		return WHY("%" PRIu64 " blocks of %u bytes do not fit a device of %" PRIu64
			   " bytes",
			   s->nblocks, bs, dev_bytes);
	if (s->ninodes < 1 || s->ninodes >= UINT32_MAX)
		return WHY("bad inode count %" PRIu64, s->ninodes);
	uint64_t end = s->nblocks - 1; /* the backup superblock */
	const struct {
		const char *name;
		uint64_t start, len, min;
	} r[] = {
	    {"journal", s->journal_start, s->journal_len, 3},
	    {"inode bitmap", s->ibitmap_start, s->ibitmap_len,
	     div_up(s->ninodes + 1, EF_BITMAP_BITS(bs))},
	    {"block bitmap", s->bbitmap_start, s->bbitmap_len,
	     div_up(s->nblocks, EF_BITMAP_BITS(bs))},
	    {"inode table", s->itable_start, s->itable_len,
	     div_up(s->ninodes + 1, EF_INODES_PER_BLOCK(bs))},
	};
	if (s->data_start < 2 || s->data_start >= end)
		return WHY("data area start %" PRIu64 " out of range", s->data_start);
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (r[i].start < 1 || r[i].len < r[i].min || r[i].start >= s->data_start ||
		    r[i].len > s->data_start - r[i].start)
			return WHY("%s [%" PRIu64 ", +%" PRIu64 ") out of range", r[i].name,
				   r[i].start, r[i].len);
		for (size_t k = 0; k < i; k++)
			if (r[i].start < r[k].start + r[k].len &&
			    r[k].start < r[i].start + r[i].len)
				return WHY("%s overlaps %s", r[i].name, r[k].name);
	}
	if (s->free_blocks > s->nblocks || s->free_inodes > s->ninodes)
		return WHY("free counts out of range");
	if (s->orphan_head > s->ninodes)
		return WHY("orphan list head %" PRIu64 " out of range", s->orphan_head);
	if (s->state & ~(uint32_t)SB_KNOWN_STATE)
		return WHY("unknown state 0x%x", s->state);
	if (s->features_incompat & ~SB_KNOWN_INCOMPAT)
		return WHY("unknown incompatible features 0x%x", s->features_incompat);
	if (memchr(s->label, 0, sizeof(s->label)) == NULL)
		return WHY("label not terminated");
	return 0;
}

/* Reads len bytes at off, aligning the device read as O_DIRECT needs. */
static int read_bytes(struct disk *d, uint64_t off, void *out, size_t len)
{
	uint64_t lb = d->logical_block ? d->logical_block : 512;
	uint64_t a = off / lb * lb, e = div_up(off + len, lb) * lb;
	if (e > d->size_bytes)
		return -EINVAL;
	uint8_t *buf = disk_alloc_buf(d, e - a);
	if (!buf)
		return -ENOMEM;
	int rc = disk_pread(d, buf, e - a, a);
	if (rc == 0)
		memcpy(out, buf + (off - a), len);
	free(buf);
	return rc;
}

/* The superblock in block blockno of size bs, fully checked. */
static int try_super(struct disk *d, uint64_t blockno, uint32_t bs, struct ef_super *sb, char *why,
		     size_t whylen)
{
	uint8_t *blk = malloc(bs);
	if (!blk)
		return -ENOMEM;
	int rc = read_bytes(d, blockno * bs, blk, bs);
	if (rc < 0) {
		snprintf(why, whylen, "cannot read: %s", strerror(-rc));
	} else if (meta_verify(blk, bs, EF_MAGIC_SUPER, blockno) < 0) {
		struct ef_blkhdr h;
		memcpy(&h, blk, sizeof(h));
		rc = h.magic != EF_MAGIC_SUPER ? WHY("not an eiocbfs filesystem (no magic)")
					       : WHY("checksum or block number mismatch");
	} else {
		memcpy(sb, blk, sizeof(*sb));
		rc = sb->block_size != bs
			 ? WHY("block size field %u, found at %u", sb->block_size, bs)
			 : super_check(sb, d->size_bytes, why, whylen);
		if (rc == 0 && blockno && sb->nblocks != blockno + 1)
			rc = WHY("backup at the wrong place");
	}
	free(blk);
	return rc;
}

int super_read(struct disk *d, struct ef_super *sb, bool *used_backup, char *err, size_t errlen)
{
	*used_backup = false;
	char why[160] = "", why2[160] = "";
	struct ef_super head = {0};
	/* The primary's block size comes from its own (unverified) field: it is
	   only used to pick how much to checksum, and must be one we know. */
	int rc = read_bytes(d, 0, &head, sizeof(head));
	if (rc < 0)
		return snprintf(err, errlen, "cannot read the superblock: %s", strerror(-rc)), rc;
	if (head.hdr.magic == EF_MAGIC_SUPER && bs_ok(head.block_size) &&
	    head.block_size <= d->size_bytes)
		rc = try_super(d, 0, head.block_size, sb, why, sizeof(why));
	else
		rc = head.hdr.magic == EF_MAGIC_SUPER
			 ? (snprintf(why, sizeof(why), "bad block size %u", head.block_size),
			    -EUCLEAN)
			 : (snprintf(why, sizeof(why), "not an eiocbfs filesystem (no magic)"),
			    -EUCLEAN);
	if (rc == 0)
		return 0;
	for (uint32_t bs = EF_MAX_BLOCK_SIZE; bs >= EF_MIN_BLOCK_SIZE; bs /= 2) {
		if (d->size_bytes / bs < 64)
			continue;
		if (try_super(d, d->size_bytes / bs - 1, bs, sb, why2, sizeof(why2)) == 0) {
			*used_backup = true;
			snprintf(err, errlen, "primary superblock damaged (%s); using the backup",
				 why);
			return 0;
		}
	}
	snprintf(err, errlen, "%s", why);
	return -EUCLEAN;
}

int super_write_direct(struct disk *d, const struct ef_super *sb, bool backup)
{
	uint32_t bs = sb->block_size;
	uint8_t *blk = disk_alloc_buf(d, bs);
	if (!blk)
		return -ENOMEM;
	memcpy(blk, sb, sizeof(*sb));
	meta_seal(blk, bs, EF_MAGIC_SUPER, 0);
	int rc = disk_write(d, 0, 1, blk);
	if (rc == 0 && backup) {
		meta_seal(blk, bs, EF_MAGIC_SUPER, sb->nblocks - 1);
		rc = disk_write(d, sb->nblocks - 1, 1, blk);
	}
	free(blk);
	return rc;
}

int super_layout(uint64_t size_bytes, uint32_t bs, uint64_t ninodes, struct ef_super *sb, char *err,
		 size_t errlen)
{
	memset(sb, 0, sizeof(*sb));
	if (!bs_ok(bs))
		return snprintf(err, errlen, "block size %u not supported (1024, 2048 or 4096)",
				bs),
		       -EINVAL;
	uint64_t nblocks = size_bytes / bs;
	if (nblocks < MIN_NBLOCKS)
		return snprintf(err, errlen,
				"too small: %" PRIu64 " bytes, at least %" PRIu64
				" needed with %u-byte blocks",
				size_bytes, (uint64_t)MIN_NBLOCKS * bs, bs),
		       -ENOSPC;
	if (ninodes == 0)
		ninodes = size_bytes / 16384;
	if (ninodes < 64)
		ninodes = 64;
	if (ninodes >= UINT32_MAX)
		ninodes = UINT32_MAX - 1;
	uint64_t jl = nblocks / 64;
	jl = jl < MIN_JOURNAL ? MIN_JOURNAL : jl > 32768 ? 32768 : jl;
	sb->hdr.magic = EF_MAGIC_SUPER;
	sb->version = EF_VERSION;
	sb->block_size = bs;
	sb->nblocks = nblocks;
	sb->ninodes = ninodes;
	sb->journal_start = 1;
	sb->journal_len = jl;
	sb->ibitmap_start = sb->journal_start + jl;
	sb->ibitmap_len = div_up(ninodes + 1, EF_BITMAP_BITS(bs));
	sb->bbitmap_start = sb->ibitmap_start + sb->ibitmap_len;
	sb->bbitmap_len = div_up(nblocks, EF_BITMAP_BITS(bs));
	sb->itable_start = sb->bbitmap_start + sb->bbitmap_len;
	sb->itable_len = div_up(ninodes + 1, EF_INODES_PER_BLOCK(bs));
	sb->data_start = sb->itable_start + sb->itable_len;
	if (sb->data_start + 64 > nblocks - 1)
		return snprintf(err, errlen,
				"%" PRIu64 " inodes leave no room for data on %" PRIu64 " blocks",
				ninodes, nblocks),
		       -ENOSPC;
	sb->free_blocks = nblocks - 1 - sb->data_start;
	sb->free_inodes = ninodes;
	sb->state = EF_STATE_CLEAN;
	return 0;
}

/* ---- the stack as one handle ------------------------------------------------- */

struct storage_priv {
	struct storage st; /* first: storage_open hands out &priv->st */
	pthread_mutex_t sb_lock;
	bool readonly;
};

static struct storage_priv *priv_of(struct storage *st)
{
	return (struct storage_priv *)st;
}

/* The superblock's free counts from the allocator (packed fields: copied). */
static void refresh_counts(struct storage *st)
{
	uint64_t fb, fi;
	alloc_counts(st->alloc, &fb, &fi);
	st->sb.free_blocks = fb;
	st->sb.free_inodes = fi;
}

static int count_tx(void *arg, uint64_t home, const void *image)
{
	(void)home, (void)image;
	++*(uint64_t *)arg;
	return 0;
}

int storage_open(const char *target, bool readonly, struct storage **out, char *err, size_t errlen)
{
	*out = NULL;
	struct storage_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return snprintf(err, errlen, "%s: out of memory", target), -ENOMEM;
	struct storage *st = &p->st;
	pthread_mutex_init(&p->sb_lock, NULL);
	p->readonly = readonly;
	char why[200] = "";
	int rc = disk_open(target, readonly, &st->disk, err, errlen);
	if (rc < 0)
		goto fail_free;
	bool backup;
	rc = super_read(&st->disk, &st->sb, &backup, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", target, why);
		goto fail_disk;
	}
	st->sb_from_backup = backup;
	if (backup) /* not an error: the warning for the caller to show */
		snprintf(err, errlen, "%s: %s", target, why);
	st->disk.block_size = st->sb.block_size;
	if (st->disk.logical_block > st->sb.block_size) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: block size %u is smaller than the device's sector (%u)",
			 target, st->sb.block_size, st->disk.logical_block);
		goto fail_disk;
	}
	if (readonly) {
		uint64_t n = 0;
		rc = journal_replay(&st->disk, &st->sb, count_tx, &n, NULL);
		if (rc == 0 && n) {
			rc = -EROFS;
			snprintf(err, errlen,
				 "%s: the journal needs recovery: mount read-write once or "
				 "run fsck.eiocbfs -y",
				 target);
			goto fail_disk;
		}
	} else {
		uint64_t ntx = 0;
		rc = journal_replay(&st->disk, &st->sb, NULL, NULL, &ntx);
		if (rc == 0 && ntx) /* the replay may have rewritten the superblock */
			rc = super_read(&st->disk, &st->sb, &backup, why, sizeof(why));
		st->journal_replayed = ntx;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: journal: %s", target,
			 rc == -EUCLEAN ? "damaged; run fsck.eiocbfs" : strerror(-rc));
		goto fail_disk;
	}
	rc = -ENOMEM;
	st->bcache = bcache_create(&st->disk, st->sb.block_size, BCACHE_BUFS);
	if (!st->bcache) {
		snprintf(err, errlen, "%s: out of memory", target);
		goto fail_disk;
	}
	rc = alloc_create(st->bcache, &st->sb, &p->sb_lock, &st->alloc);
	if (rc < 0) {
		snprintf(err, errlen, "%s: bitmaps: %s", target,
			 rc == -EUCLEAN ? "damaged; run fsck.eiocbfs" : strerror(-rc));
		goto fail_bcache;
	}
	struct journal_opts jo = {.commit_interval_ms = readonly ? 0 : COMMIT_INTERVAL_MS,
				  .on_checkpoint = alloc_on_checkpoint,
				  .arg = st->alloc,
				  .readonly = readonly};
	rc = journal_create(&st->disk, st->bcache, &st->sb, &jo, &st->journal);
	if (rc < 0) {
		snprintf(err, errlen, "%s: journal: %s", target,
			 rc == -EUCLEAN ? "damaged; run fsck.eiocbfs" : strerror(-rc));
		goto fail_alloc;
	}
	refresh_counts(st);
	if (!readonly) {
		/* In use from now on: dirty until a clean storage_close. The
		   journal is empty and the cache holds no block 0, so a direct
		   write is safe; the backup is brought up to date too when the
		   primary was damaged. */
		st->sb.state = EF_STATE_DIRTY | (st->sb.state & EF_STATE_ERROR);
		st->sb.mount_count++;
		st->sb.mount_time = st->sb.write_time = (uint64_t)time(NULL);
		rc = super_write_direct(&st->disk, &st->sb, backup);
		if (rc == 0)
			rc = disk_flush(&st->disk);
		if (rc < 0) {
			snprintf(err, errlen, "%s: cannot write the superblock: %s", target,
				 strerror(-rc));
			journal_destroy(st->journal);
			goto fail_alloc;
		}
	}
	*out = st;
	return 0;
fail_alloc:
	alloc_destroy(st->alloc);
fail_bcache:
	bcache_destroy(st->bcache);
fail_disk:
	disk_close(&st->disk);
fail_free:
	pthread_mutex_destroy(&p->sb_lock);
	free(p);
	return rc;
}

int storage_close(struct storage *st)
{
	if (!st)
		return 0;
	struct storage_priv *p = priv_of(st);
	int rc = journal_destroy(st->journal);
	if (!p->readonly) {
		pthread_mutex_lock(&p->sb_lock);
		refresh_counts(st);
		st->sb.write_time = (uint64_t)time(NULL);
		if (rc == 0)
			st->sb.state = (st->sb.state & EF_STATE_ERROR) | EF_STATE_CLEAN;
		else
			st->sb.state |= EF_STATE_ERROR;
		int rc2 = super_write_direct(&st->disk, &st->sb, rc == 0);
		if (rc2 == 0)
			rc2 = disk_flush(&st->disk);
		pthread_mutex_unlock(&p->sb_lock);
		if (rc == 0)
			rc = rc2;
	}
	alloc_destroy(st->alloc);
	bcache_destroy(st->bcache);
	disk_close(&st->disk);
	pthread_mutex_destroy(&p->sb_lock);
	free(p);
	return rc;
}

/* Precondition: inside tx (one block of its reservation). */
int super_write(struct storage *st, struct tx *tx)
{
	struct storage_priv *p = priv_of(st);
	struct buf *b;
	int rc = bread(st->bcache, 0, EF_MAGIC_SUPER, &b);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->sb_lock);
	refresh_counts(st);
	st->sb.write_time = (uint64_t)time(NULL);
	memcpy(b->data + sizeof(struct ef_blkhdr), (uint8_t *)&st->sb + sizeof(struct ef_blkhdr),
	       sizeof(st->sb) - sizeof(struct ef_blkhdr));
	pthread_mutex_unlock(&p->sb_lock);
	tx_add(tx, b);
	brelse(b);
	return 0;
}

int storage_reclaim(struct storage *st)
{
	int rc = journal_commit(st->journal, true);
	return rc < 0 ? rc : journal_checkpoint(st->journal);
}

int storage_set_error(struct storage *st, uint64_t blockno)
{
	struct storage_priv *p = priv_of(st);
	if (p->readonly)
		return -EROFS;
	pthread_mutex_lock(&p->sb_lock);
	st->sb.state |= EF_STATE_ERROR;
	st->sb.error_count++;
	if (!st->sb.first_error_block)
		st->sb.first_error_block = blockno;
	pthread_mutex_unlock(&p->sb_lock);
	struct tx *tx;
	int rc = tx_begin(st->journal, 1, &tx);
	if (rc == 0) {
		rc = super_write(st, tx);
		int rc2 = tx_end(tx);
		rc = rc ? rc : rc2;
	}
	if (rc == 0)
		rc = journal_commit(st->journal, true);
	if (rc < 0) { /* the journal is broken: straight to the device */
		pthread_mutex_lock(&p->sb_lock);
		rc = super_write_direct(&st->disk, &st->sb, false);
		pthread_mutex_unlock(&p->sb_lock);
		if (rc == 0)
			rc = disk_flush(&st->disk);
	}
	return rc;
}
