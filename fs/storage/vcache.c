/*
 * vcache.c: a volatile device write cache, for power cuts (storage.h,
 * "device cache"). Layer: storage, beside disk.c.
 *
 * The image file holds every write at once; what a disk with a write cache
 * could still lose is what was written since the last flush. So each write
 * saves the bytes it overwrites (an undo record) until a flush completes;
 * the power cut then undoes them, newest first: all of them (drop), all
 * but a prefix of whole sectors of each (tear), or a random subset (reorder:
 * the cache had written some out, in its own order). Bytes a later kept
 * write covers keep that write's data. The records of the oldest writes
 * are let go past a size limit, as a cache of that size destages them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage.h"
#include "storage_int.h"

struct vrec {
	uint64_t off, seq;
	size_t len;
	uint8_t *old;
};

struct disk_vcache {
	pthread_mutex_t lock;
	struct vrec *v; /* oldest first */
	size_t n, cap, bytes, max_bytes;
	uint64_t seq;
	bool off; /* the power is cut: writes are dropped */
};

int disk_vcache_enable(struct disk *d, size_t max_bytes)
{
	struct disk_vcache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->max_bytes = max_bytes;
	d->vc = c;
	return 0;
}

void disk_vcache_free(struct disk *d)
{
	struct disk_vcache *c = d->vc;
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].old);
	free(c->v);
	pthread_mutex_destroy(&c->lock);
	free(c);
	d->vc = NULL;
}

/* Lets go of the oldest records (under the lock): they reached the medium. */
static void drop_oldest(struct disk_vcache *c, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		c->bytes -= c->v[i].len;
		free(c->v[i].old);
	}
	memmove(c->v, c->v + k, (c->n - k) * sizeof(*c->v));
	c->n -= k;
}

bool disk_vcache_note(struct disk *d, uint64_t off, size_t len)
{
	struct disk_vcache *c = d->vc;
	bool on = true;

	if (!c || !len)
		return true;
	uint8_t *old = disk_alloc_buf(d, len);
	pthread_mutex_lock(&c->lock);
	if (c->off) {
		on = false;
	} else if (old && disk_pread(d, old, len, off) == 0 &&
		   (c->n < c->cap ||
		    (c->v = realloc(c->v, (c->cap = c->cap * 2 + 64) * sizeof(*c->v))))) {
		c->v[c->n++] = (struct vrec){.off = off, .len = len, .old = old, .seq = c->seq++};
		c->bytes += len;
		old = NULL;
		size_t k = 0, over = c->bytes;
		while (over > c->max_bytes && k + 1 < c->n)
			over -= c->v[k++].len;
		drop_oldest(c, k);
	}
	/* Without its record (no memory) the write is simply durable at once. */
	pthread_mutex_unlock(&c->lock);
	free(old);
	return on;
}

uint64_t disk_vcache_mark(struct disk *d)
{
	struct disk_vcache *c = d->vc;
	uint64_t s = 0;
	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	s = c->seq;
	pthread_mutex_unlock(&c->lock);
	return s;
}

void disk_vcache_flushed(struct disk *d, uint64_t mark)
{
	struct disk_vcache *c = d->vc;
	size_t k = 0;
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	while (k < c->n && c->v[k].seq < mark)
		k++;
	drop_oldest(c, k);
	pthread_mutex_unlock(&c->lock);
}

/* splitmix64 */
static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct span {
	uint64_t a, b; /* [a, b) */
};

/* Writes back old bytes of [a, b) not inside any kept span (they keep newer data). */
static int restore(struct disk *d, const struct vrec *r, uint64_t a, uint64_t b,
		   const struct span *kept, size_t nkept)
{
	while (a < b) {
		uint64_t end = b;
		bool skip = false;
		for (size_t i = 0; i < nkept; i++) {
			if (kept[i].a <= a && a < kept[i].b) { /* a is kept: skip past it */
				a = kept[i].b < b ? kept[i].b : b;
				skip = true;
				break;
			}
			if (a < kept[i].a && kept[i].a < end)
				end = kept[i].a;
		}
		if (skip)
			continue;
		int rc = disk_pwrite_raw(d, r->old + (a - r->off), end - a, a);
		if (rc < 0)
			return rc;
		a = end;
	}
	return 0;
}

int disk_vcache_powercut(struct disk *d, enum disk_vcache_mode mode, uint64_t seed, char *report,
			 size_t len)
{
	struct disk_vcache *c = d->vc;
	uint32_t sector = d->logical_block ? d->logical_block : 512;
	size_t lost = 0, torn = 0, kept_n = 0;
	int rc = 0;

	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	c->off = true;
	struct span *kept = calloc(c->n + 1, sizeof(*kept));
	size_t nkept = 0;
	if (!kept) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	for (size_t i = c->n; i-- > 0 && rc == 0;) {
		const struct vrec *r = &c->v[i];
		uint64_t keep = 0;
		if (mode == DISK_VCACHE_TEAR)
			keep = next(&seed) % (r->len / sector) * sector;
		else if (mode == DISK_VCACHE_REORDER)
			keep = next(&seed) & 1 ? r->len : 0;
		if (keep)
			kept[nkept++] = (struct span){r->off, r->off + keep};
		rc = restore(d, r, r->off + keep, r->off + r->len, kept, nkept);
		lost += keep == 0;
		torn += keep && keep < r->len;
		kept_n += keep == r->len;
	}
	free(kept);
	if (rc == 0)
		rc = fdatasync(d->fd) < 0 ? -errno : 0;
	snprintf(report, len,
		 "device cache: %zu writes since the last flush: %zu lost, %zu torn, %zu kept",
		 c->n, lost, torn, kept_n);
	pthread_mutex_unlock(&c->lock);
	return rc;
}
