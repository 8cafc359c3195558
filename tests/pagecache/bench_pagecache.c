/*
 * bench_pagecache.c: rough figures for the page cache over the in-memory
 * mockfs (no device cost, so this is the cache's own overhead): 4 KiB read
 * hits per second from 1 and 2 threads, cold sequential reads with
 * read-ahead, buffered writes with write-back, invalidation, and the
 * fault point's hot path. Not a test; run it by hand:
 * bench_pagecache [seconds-per-case].
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mockfs.h"
#include "pagecache.h"

#define BS 4096
#define FILE_PAGES 4096 /* 16 MiB */

static struct mockfs m;
static struct pc *pc;
static double secs = 1.0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *hit_reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint8_t b[BS];
	uint64_t n = 0;
	double end = now() + secs;

	while (now() < end)
		for (int i = 0; i < 1000; i++, n++)
			pc_read(pc, 1, (uint64_t)(rand_r(&seed) % FILE_PAGES) * BS, BS, b);
	return (void *)(uintptr_t)n;
}

static double hits(int threads)
{
	pthread_t t[8];
	uint64_t total = 0;
	double t0 = now();

	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, hit_reader, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++) {
		void *r;
		pthread_join(t[i], &r);
		total += (uintptr_t)r;
	}
	return total / (now() - t0);
}

int main(int argc, char **argv)
{
	struct pc_config cfg = {.block_size = BS, .cache_mb = 64};
	uint8_t *buf = malloc(1 << 20);
	struct pc_stats st;
	double t0, t;

	if (argc > 1)
		secs = atof(argv[1]);
	mock_init(&m, BS);
	mock_fill(&m, 1, FILE_PAGES, 0);
	if (pc_new(&cfg, &mock_ops, &m, NULL, &pc))
		return 1;

	/* Cold sequential read, 128 KiB requests: read-ahead at work. */
	t0 = now();
	for (uint64_t off = 0; off < (uint64_t)FILE_PAGES * BS; off += 128 * 1024)
		pc_read(pc, 1, off, 128 * 1024, buf);
	t = now() - t0;
	pc_get_stats(pc, &st);
	printf("cold sequential read 128K: %.0f MiB/s (misses %llu, readahead pages %llu)\n",
	       FILE_PAGES * BS / 1048576.0 / t, (unsigned long long)st.misses,
	       (unsigned long long)st.readahead);

	/* The same through a cache a quarter of the file's size: every page is evicted. */
	{
		struct pc_config small = {.block_size = BS, .cache_mb = 4};
		struct pc *big = pc;
		if (pc_new(&small, &mock_ops, &m, NULL, &pc))
			return 1;
		t0 = now();
		for (uint64_t off = 0; off < (uint64_t)FILE_PAGES * BS; off += 128 * 1024)
			pc_read(pc, 1, off, 128 * 1024, buf);
		t = now() - t0;
		pc_get_stats(pc, &st);
		printf("streaming read 128K through a 4 MiB cache: %.0f MiB/s (evictions %llu)\n",
		       FILE_PAGES * BS / 1048576.0 / t, (unsigned long long)st.evictions);
		pc_free(pc);
		pc = big;
	}

	printf("4K random read hits, 1 thread:  %.2f M/s\n", hits(1) / 1e6);
	printf("4K random read hits, 2 threads: %.2f M/s\n", hits(2) / 1e6);

	/* Buffered 4K writes over the whole file, then fsync. */
	memset(buf, 7, BS);
	t0 = now();
	for (int i = 0; i < FILE_PAGES; i++)
		pc_write(pc, 1, (uint64_t)i * BS, BS, buf);
	t = now() - t0;
	printf("4K buffered writes: %.2f M/s", FILE_PAGES / t / 1e6);
	t0 = now();
	pc_fsync(pc, 1);
	printf(", fsync of %d dirty pages: %.1f ms\n", FILE_PAGES, (now() - t0) * 1e3);

	/* Invalidation of a cached 4K page (the direct write's post-submission step). */
	uint64_t n = 0;
	t0 = now();
	while (now() - t0 < secs)
		for (int i = 0; i < 1000; i++, n++) {
			uint64_t p = n % FILE_PAGES;
			pc_read(pc, 1, p * BS, BS, buf);
			pc_invalidate_range(pc, 1, p, p);
		}
	printf("read-in + invalidate of a 4K page: %.2f M/s\n", n / (now() - t0) / 1e6);
	pc_free(pc);

	/* The fault point's hot path, off and on (a point that never fires: ino filter). */
	struct faults *f = faults_new(1, NULL, NULL);
	char err[128];
	int e;
	unsigned fired = 0;
	const unsigned calls = 50 * 1000 * 1000;
	t0 = now();
	for (unsigned i = 0; i < calls; i++)
		fired += fault_should_fail(f, FAULT_INVALIDATE, i, i, 4096, &e);
	t = now() - t0;
	printf("fault_should_fail, point off: %.2f ns/call\n", t / calls * 1e9);
	fault_set_line(f, "invalidate ino=0", err, sizeof(err));
	t0 = now();
	for (unsigned i = 1; i <= calls / 10; i++)
		fired += fault_should_fail(f, FAULT_INVALIDATE, i, i, 4096, &e);
	t = now() - t0;
	printf("fault_should_fail, point on (filtered out): %.1f ns/call%s\n",
	       t / (calls / 10) * 1e9, fired ? " (fired?)" : "");
	faults_free(f);
	mock_fini(&m);
	free(buf);
	return 0;
}
