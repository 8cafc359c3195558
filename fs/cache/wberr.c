/*
 * wberr.c: the write-back errors of files by inode number (see wberr.h):
 * a chained hash of small entries under one lock. Entries are made by the
 * first error of an inode and freed when its inode goes; opens (sample) and
 * fsyncs (check) of inodes without an error find nothing and allocate
 * nothing.
 *
 * Layer: page cache; calls errseq.h, libc and pthreads only.
 */
#include "wberr.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "errseq.h"

#define WBERR_BUCKETS 256u

struct wberr {
	struct wberr *next;
	uint64_t ino;
	errseq_t err;
};

struct wberr_tab {
	pthread_mutex_t lock;
	struct wberr *bucket[WBERR_BUCKETS];
	uint64_t set, reported, inodes, lost; /* under lock */
};

static struct wberr **slot(struct wberr_tab *t, uint64_t ino)
{
	struct wberr **p = &t->bucket[(ino * 0x9e3779b97f4a7c15ULL) >> 56];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

struct wberr_tab *wberr_new(void)
{
	struct wberr_tab *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void wberr_free(struct wberr_tab *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < WBERR_BUCKETS; i++)
		for (struct wberr *e = t->bucket[i], *n; e; e = n) {
			n = e->next;
			free(e);
		}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int wberr_set(struct wberr_tab *t, uint64_t ino, int err)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	struct wberr **p = slot(t, ino);
	if (!*p && (*p = calloc(1, sizeof(**p)))) {
		(*p)->ino = ino;
		t->inodes++;
	}
	if (*p) {
		errseq_set(&(*p)->err, err);
		t->set++;
	} else {
		t->lost++;
		r = -ENOMEM;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

uint32_t wberr_sample(struct wberr_tab *t, uint64_t ino)
{
	uint32_t v = 0;

	pthread_mutex_lock(&t->lock);
	struct wberr *e = *slot(t, ino);
	if (e)
		v = errseq_sample(&e->err);
	pthread_mutex_unlock(&t->lock);
	return v;
}

int wberr_check(struct wberr_tab *t, uint64_t ino, uint32_t *since)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	struct wberr *e = *slot(t, ino);
	if (e && (r = errseq_check_and_advance(&e->err, since)) < 0)
		t->reported++;
	pthread_mutex_unlock(&t->lock);
	return r;
}

void wberr_drop(struct wberr_tab *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct wberr **p = slot(t, ino), *e = *p;
	if (e) {
		*p = e->next;
		free(e);
		t->inodes--;
	}
	pthread_mutex_unlock(&t->lock);
}

void wberr_get_stats(struct wberr_tab *t, struct wberr_stats *st)
{
	pthread_mutex_lock(&t->lock);
	*st = (struct wberr_stats){
	    .set = t->set, .reported = t->reported, .inodes = t->inodes, .lost = t->lost};
	pthread_mutex_unlock(&t->lock);
}
