/*
 * bench-storage: figures of the storage layers alone (no FUSE): mkfs and
 * mount time of a sparse image, and metadata transaction rates with group
 * commit and with a durable commit per transaction (fsync's path), on 1
 * and 4 threads. Not a test: it prints, it does not judge.
 *
 *   bench-storage [-s SIZE_GIB] [-t SECONDS] IMAGE    (IMAGE is overwritten)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage.h"
#include "storage_int.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct worker {
	struct storage *st;
	uint64_t base; /* 64 blocks of its own */
	volatile int *stop;
	bool durable;
	long n;
};

/* Transactions of two block updates; with durable, each is committed and flushed. */
static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned seed = (unsigned)w->base;
	while (!*w->stop) {
		struct tx *tx;
		if (tx_begin(w->st->journal, 4, &tx) < 0)
			break;
		for (int k = 0; k < 2; k++) {
			struct buf *b;
			uint64_t h = w->base + (uint64_t)rand_r(&seed) % 64;
			if (bread(w->st->bcache, h, EF_MAGIC_EXTENT, &b) == 0) {
				b->data[100]++;
				tx_add(tx, b);
				brelse(b);
			}
		}
		tx_end(tx);
		if (w->durable && journal_commit(w->st->journal, true) < 0)
			break;
		w->n++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t gib = 1;
	unsigned secs = 2;
	int c;
	while ((c = getopt(argc, argv, "s:t:")) != -1) {
		if (c == 's')
			gib = strtoull(optarg, NULL, 10);
		else if (c == 't')
			secs = (unsigned)strtoul(optarg, NULL, 10);
		else
			return fprintf(stderr,
				       "usage: bench-storage [-s GIB] [-t SECONDS] IMAGE\n"),
			       1;
	}
	if (optind != argc - 1 || !gib || !secs)
		return fprintf(stderr, "usage: bench-storage [-s GIB] [-t SECONDS] IMAGE\n"), 1;
	const char *img = argv[optind];
	char err[256];
	unlink(img);
	struct format_opts o = {.size_bytes = gib << 30};
	double t0 = now();
	if (storage_format(img, &o, err, sizeof(err)) < 0)
		return fprintf(stderr, "bench-storage: %s\n", err), 1;
	printf("mkfs %llu GiB sparse image: %.3f s\n", (unsigned long long)gib, now() - t0);
	struct storage *st;
	t0 = now();
	if (storage_open(img, false, &st, err, sizeof(err)) < 0)
		return fprintf(stderr, "bench-storage: %s\n", err), 1;
	printf("open: %.3f s\n", now() - t0);
	/* 4 x 64 metadata blocks to update */
	for (int th = 0; th < 4; th++) {
		struct tx *tx;
		if (tx_begin(st->journal, 64, &tx) < 0)
			return 1;
		for (uint64_t i = 0; i < 64; i++) {
			struct buf *b;
			uint64_t h = st->sb.data_start + 1000 + (uint64_t)th * 100 + i;
			if (bread_new(st->bcache, h, &b) == 0) {
				meta_seal(b->data, st->sb.block_size, EF_MAGIC_EXTENT, h);
				tx_add(tx, b);
				brelse(b);
			}
		}
		tx_end(tx);
	}
	for (int durable = 0; durable < 2; durable++) {
		for (int nt = 1; nt <= 4; nt *= 4) {
			volatile int stop = 0;
			struct worker w[4];
			pthread_t t[4];
			struct journal_stats a, b;
			journal_get_stats(st->journal, &a);
			for (int i = 0; i < nt; i++) {
				w[i] = (struct worker){st,
						       st->sb.data_start + 1000 + (uint64_t)i * 100,
						       &stop, durable, 0};
				pthread_create(&t[i], NULL, work, &w[i]);
			}
			sleep(secs);
			stop = 1;
			long n = 0;
			for (int i = 0; i < nt; i++) {
				pthread_join(t[i], NULL);
				n += w[i].n;
			}
			journal_get_stats(st->journal, &b);
			printf("%-28s %d thread%s: %9.0f tx/s, %llu commits, %llu checkpoints, "
			       "%llu flushes\n",
			       durable ? "durable commit per tx," : "group commit,", nt,
			       nt > 1 ? "s" : " ", (double)n / secs,
			       (unsigned long long)(b.commits - a.commits),
			       (unsigned long long)(b.checkpoints - a.checkpoints),
			       (unsigned long long)(b.flushes - a.flushes));
		}
	}
	t0 = now();
	int rc = storage_close(st);
	printf("close: %.3f s\n", now() - t0);
	unlink(img);
	return rc < 0;
}
