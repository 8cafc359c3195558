/*
 * test_pagecache_race.c: the page cache under concurrent buffered readers,
 * buffered writers, an O_DIRECT-style writer (write-back, device write,
 * invalidate twice: P2), an invalidator, the write-back thread, eviction
 * in a cache smaller than the file, and the invalidate fault point firing
 * at random. Short, and labelled tsan.
 *
 * Pages are written whole with one byte value, so a torn page shows as a
 * page with two values. Page p is owned by one writer (p % 4: 0 and 1 the
 * buffered writers, 2 the direct writer, 3 nobody), so the final content of
 * every page is known: the model.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mockfs.h"
#include "pagecache.h"

#define BS 4096
#define INO 3
#define NPAGES 32
#define OPS 20000

static struct mockfs m;
static struct pc *pc;
static struct faults *flt;
static uint8_t last[NPAGES];	 /* the model: the last value written to each page */
static bool maybe_stale[NPAGES]; /* a direct write whose invalidation failed (P3, P5) */
static atomic_int violations;	 /* I/O errors, torn pages, stale reads after success */
static uint64_t deadline_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool uniform(const uint8_t *b, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (b[i] != b[0])
			return false;
	return true;
}

static void *buffered_writer(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg, seed = k + 1;
	uint8_t b[BS];

	for (int i = 0; i < OPS && now_ns() < deadline_ns; i++) {
		unsigned p = (rand_r(&seed) % (NPAGES / 4)) * 4 + k;
		uint8_t v = (uint8_t)(0x40 * (k + 1) + i % 0x40);
		memset(b, v, BS);
		if (pc_write(pc, INO, (uint64_t)p * BS, BS, b) != BS)
			atomic_fetch_add(&violations, 1);
		last[p] = v; /* only this thread writes page p's model */
		if (i % 100 == 0 && pc_fsync(pc, INO) != 0)
			atomic_fetch_add(&violations, 1);
	}
	return NULL;
}

/* P2: write back, write the device, invalidate after submission and after completion. */
static void *direct_writer(void *arg)
{
	unsigned seed = 99;
	uint8_t b[BS];

	(void)arg;
	for (int i = 0; i < OPS / 2 && now_ns() < deadline_ns; i++) {
		unsigned p = (rand_r(&seed) % (NPAGES / 4)) * 4 + 2;
		uint8_t v = (uint8_t)(0xc0 + i % 0x40);
		int r1, r2;

		if (pc_writeback_range(pc, INO, (uint64_t)p * BS, (uint64_t)p * BS + BS - 1, true))
			atomic_fetch_add(&violations, 1);
		r1 = pc_invalidate_range(pc, INO, p, p);
		memset(b, v, BS);
		mock_write_direct(&m, INO, (uint64_t)p * BS, b, BS);
		r2 = pc_invalidate_range(pc, INO, p, p);
		last[p] = v;
		maybe_stale[p] = r1 || r2;
		if (!r2) {
			/* P5: the write succeeded, so no buffered read returns older data. */
			if (pc_read(pc, INO, (uint64_t)p * BS, BS, b) != BS || b[0] != v)
				atomic_fetch_add(&violations, 1);
		}
	}
	return NULL;
}

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint8_t *b = malloc(4 * BS);

	for (int i = 0; i < OPS && now_ns() < deadline_ns; i++) {
		/* Sequential runs (read-ahead) and random reads, 1 to 4 pages. */
		unsigned p = rand_r(&seed) % NPAGES, n = 1 + rand_r(&seed) % 4;
		if (p + n > NPAGES)
			n = NPAGES - p;
		ssize_t r = pc_read(pc, INO, (uint64_t)p * BS, (size_t)n * BS, b);
		if (r != (ssize_t)n * BS) {
			atomic_fetch_add(&violations, 1);
			continue;
		}
		for (unsigned k = 0; k < n; k++) {
			const uint8_t *pg = b + (size_t)k * BS;
			/* No torn pages; never-written pages keep their first content. */
			if (!uniform(pg, BS) || ((p + k) % 4 == 3 && pg[0] != (uint8_t)(p + k)))
				atomic_fetch_add(&violations, 1);
		}
	}
	free(b);
	return NULL;
}

static void *invalidator(void *arg)
{
	unsigned seed = 7;

	(void)arg;
	for (int i = 0; i < OPS && now_ns() < deadline_ns; i++) {
		unsigned p = rand_r(&seed) % NPAGES;
		int r = pc_invalidate_range(pc, INO, p, p + rand_r(&seed) % 8);
		if (r && r != -EIO) /* P3: dirty/locked pages and the fault both say EIO */
			atomic_fetch_add(&violations, 1);
	}
	return NULL;
}

START_TEST(test_p1_p2_p3_concurrent_readers_writers_invalidators)
{
	struct pc_config cfg = {.block_size = BS,
				.max_pages = 24,
				.dirty_pct = 50,
				.wb_interval_ms = 5,
				.dirty_expire_ms = 10,
				.nshards = 4};
	char err[128];
	pthread_t t[6];
	uint8_t b[BS];

	mock_init(&m, BS);
	mock_fill(&m, INO, NPAGES, 0);
	for (int p = 0; p < NPAGES; p++)
		last[p] = (uint8_t)p;
	flt = faults_new(5, NULL, NULL);
	ck_assert_int_eq(
	    fault_set_line(flt, "invalidate errno=EIO probability=10", err, sizeof(err)), 0);
	ck_assert_int_eq(pc_new(&cfg, &mock_ops_batched, &m, flt, &pc), 0);
	ck_assert_int_eq(pc_wb_start(pc), 0);
	deadline_ns = now_ns() + 6ull * 1000000000u;

	pthread_create(&t[0], NULL, buffered_writer, (void *)0);
	pthread_create(&t[1], NULL, buffered_writer, (void *)1);
	pthread_create(&t[2], NULL, direct_writer, NULL);
	pthread_create(&t[3], NULL, reader, (void *)11);
	pthread_create(&t[4], NULL, reader, (void *)12);
	pthread_create(&t[5], NULL, invalidator, NULL);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	pc_wb_stop(pc);
	fault_off(flt, FAULT_INVALIDATE);

	int v = atomic_load(&violations);
	ck_assert_msg(v == 0, "%d violations (I/O error, torn page or stale read after success)",
		      v);
	ck_assert_int_eq(pc_sync(pc), 0);
	struct pc_stats s;
	pc_get_stats(pc, &s);
	ck_assert_uint_eq(s.dirty, 0);
	ck_assert_uint_le(s.pages, cfg.max_pages + 64);
	ck_assert_uint_gt(s.evictions, 0);
	ck_assert_uint_gt(s.invalidate_failures, 0);

	/* The model: every page holds its last write, on the device and through the cache. */
	for (int p = 0; p < NPAGES; p++) {
		uint8_t d[BS];
		mock_read_direct(&m, INO, (uint64_t)p * BS, d, BS);
		ck_assert_msg(uniform(d, BS) && d[0] == last[p], "page %d on disk: %#x, want %#x",
			      p, d[0], last[p]);
		if (maybe_stale[p])
			pc_invalidate_range(pc, INO, p,
					    p); /* what a user would do after the error */
		ck_assert_int_eq(pc_read(pc, INO, (uint64_t)p * BS, BS, b), BS);
		ck_assert_msg(uniform(b, BS) && b[0] == last[p], "page %d cached: %#x, want %#x", p,
			      b[0], last[p]);
	}
	pc_free(pc);
	faults_free(flt);
	mock_fini(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pagecache_race");
	TCase *tc = tcase_create("P1_P2_P3_concurrent");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_p1_p2_p3_concurrent_readers_writers_invalidators);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
