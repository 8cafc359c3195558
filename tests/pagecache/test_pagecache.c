/*
 * test_pagecache.c: the page cache over an in-memory filesystem (mockfs).
 * Pins down docs/semantics.md P1 (states, eviction, write-back, read-ahead,
 * truncate), P2/P4 (write-back before direct I/O, invalidation after it)
 * and P3 (every invalidation outcome, including the injected errno).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mockfs.h"
#include "pagecache.h"

#define BS 4096
#define INO 2

static struct mockfs m;
static struct pc *pc;
static struct faults *flt;

static void make(const struct pc_config *cfg, const struct pc_ops *ops)
{
	if (pc)
		pc_free(pc);
	ck_assert_int_eq(pc_new(cfg, ops, &m, flt, &pc), 0);
}

static void setup(void)
{
	struct pc_config cfg = {.block_size = BS, .max_pages = 64};

	mock_init(&m, BS);
	flt = faults_new(1, NULL, NULL);
	pc = NULL;
	make(&cfg, &mock_ops);
}

static void teardown(void)
{
	pc_free(pc);
	pc = NULL;
	faults_free(flt);
	mock_fini(&m);
}

static struct pc_stats stats(void)
{
	struct pc_stats s;

	pc_get_stats(pc, &s);
	return s;
}

static void wr(uint64_t ino, uint64_t off, size_t len, int byte)
{
	uint8_t *b = malloc(len);

	memset(b, byte, len);
	ck_assert_int_eq(pc_write(pc, ino, off, len, b), (ssize_t)len);
	free(b);
}

/* Reads [off, off+len) through the cache and checks every byte is byte. */
static void rd_expect(uint64_t ino, uint64_t off, size_t len, int byte)
{
	uint8_t *b = malloc(len);

	size_t i = 0;

	ck_assert_int_eq(pc_read(pc, ino, off, len, b), (ssize_t)len);
	while (i < len && b[i] == (uint8_t)byte)
		i++;
	/* One assertion per read: Check logs every passing one. */
	ck_assert_msg(i == len, "byte %zu of read at %llu: %#x, want %#x", i,
		      (unsigned long long)off, i < len ? b[i] : 0, (uint8_t)byte);
	free(b);
}

static void rd_page(uint64_t ino, uint64_t index)
{
	uint8_t b[BS];

	ck_assert_int_eq(pc_read(pc, ino, index * BS, BS, b), BS);
}

/* What the device holds (an O_DIRECT read would see this). */
static int disk_byte(uint64_t ino, uint64_t off)
{
	uint8_t b;

	mock_read_direct(&m, ino, off, &b, 1);
	return b;
}

/* ---- P1: page states --------------------------------------------------------- */

START_TEST(test_p1_read_miss_then_hit_clean)
{
	mock_fill(&m, INO, 4, 0x10);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_ABSENT);
	rd_expect(INO, BS, BS, 0x11);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_CLEAN);
	ck_assert_uint_eq(stats().misses, 1);
	unsigned reads = m.reads;
	rd_expect(INO, BS + 100, 200, 0x11);
	ck_assert_uint_eq(stats().hits, 1);
	ck_assert_uint_eq(m.reads, reads); /* served from memory */
}
END_TEST

START_TEST(test_p1_write_makes_dirty_fsync_makes_clean)
{
	mock_fill(&m, INO, 4, 0);
	wr(INO, 0, BS, 0xaa);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_DIRTY);
	ck_assert_uint_eq(stats().dirty, 1);
	ck_assert_int_eq(disk_byte(INO, 0), 0); /* not written yet */
	ck_assert_uint_eq(m.reads, 0);		/* a whole-block write reads nothing */
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_CLEAN);
	ck_assert_uint_eq(stats().dirty, 0);
	ck_assert_uint_eq(stats().writebacks, 1);
	ck_assert_int_eq(disk_byte(INO, 0), 0xaa);
	ck_assert_int_eq(disk_byte(INO, BS - 1), 0xaa);
}
END_TEST

START_TEST(test_p1_partial_write_reads_block_first)
{
	uint8_t b[BS];

	mock_fill(&m, INO, 2, 0x40); /* block 1 is all 0x41 */
	wr(INO, BS + 100, 10, 0xee);
	ck_assert_uint_eq(m.reads, 1);
	ck_assert_int_eq(pc_read(pc, INO, BS, BS, b), BS);
	ck_assert_int_eq(b[99], 0x41);
	ck_assert_int_eq(b[100], 0xee);
	ck_assert_int_eq(b[109], 0xee);
	ck_assert_int_eq(b[110], 0x41);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_int_eq(disk_byte(INO, BS + 105), 0xee);
	ck_assert_int_eq(disk_byte(INO, BS + 110), 0x41);
}
END_TEST

START_TEST(test_p1_write_past_eof_extends_without_reading)
{
	mock_fill(&m, INO, 1, 0x01);
	wr(INO, 3 * BS + 10, 20, 0x77);
	ck_assert_uint_eq(m.reads, 0);
	ck_assert_uint_eq(mock_size(&m, INO), 3 * BS + 30);
	rd_expect(INO, BS, 2 * BS + 10, 0); /* the hole reads as zeros */
	rd_expect(INO, 3 * BS + 10, 20, 0x77);
}
END_TEST

static void *extending_writer(void *arg)
{
	uint8_t b[100];

	(void)arg;
	memset(b, 0x3c, sizeof(b));
	return (void *)(intptr_t)pc_write(pc, INO, 2 * BS + 50, sizeof(b), b);
}

START_TEST(test_p1_extending_page_not_written_back_before_size)
{
	pthread_t t;
	void *ret;

	mock_fill(&m, INO, 2, 0);
	mock_gate_arm(&m, GATE_EXTEND, INO, 0);
	pthread_create(&t, NULL, extending_writer, NULL);
	mock_gate_wait_entered(&m);
	/* The data is in the page, the size not yet raised: write-back must not take it. */
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_LOCKED);
	ck_assert_int_eq(pc_writeback_range(pc, INO, 0, PC_END, false), 0);
	ck_assert_uint_eq(m.writes, 0);
	mock_gate_open(&m);
	pthread_join(t, &ret);
	ck_assert_int_eq((intptr_t)ret, 100);
	ck_assert_uint_eq(mock_size(&m, INO), 2 * BS + 150);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_uint_eq(m.nwlog, 1);
	ck_assert_uint_eq(m.size_at_write[0], 2 * BS + 150);
	ck_assert_int_eq(disk_byte(INO, 2 * BS + 149), 0x3c);
}
END_TEST

START_TEST(test_p1_small_blocks_and_unaligned_io)
{
	uint8_t w[5000], r[5000];

	/* 1 KiB blocks (the smallest eiocbfs allows): I/O straddles several pages. */
	mock_fini(&m);
	mock_init(&m, 1024);
	make(&(struct pc_config){.block_size = 1024, .max_pages = 16}, &mock_ops);
	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(pc_write(pc, INO, 100, sizeof(w), w), sizeof(w));
	ck_assert_uint_eq(mock_size(&m, INO), 5100);
	ck_assert_int_eq(pc_read(pc, INO, 100, sizeof(r), r), sizeof(r));
	ck_assert_mem_eq(r, w, sizeof(w));
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_uint_eq(m.nwlog, 5); /* pages 0-4 */
	mock_read_direct(&m, INO, 100, r, sizeof(r));
	ck_assert_mem_eq(r, w, sizeof(w));
	/* Read back through a cold cache, across the limit. */
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, PC_END), 0);
	memset(r, 0, sizeof(r));
	ck_assert_int_eq(pc_read(pc, INO, 100, sizeof(r), r), sizeof(r));
	ck_assert_mem_eq(r, w, sizeof(w));
}
END_TEST

START_TEST(test_p1_read_is_clipped_at_eof)
{
	uint8_t b[3 * BS];

	mock_fill(&m, INO, 1, 0x05);
	mock_set_size(&m, INO, 1000);
	ck_assert_int_eq(pc_read(pc, INO, 0, sizeof(b), b), 1000);
	ck_assert_int_eq(pc_read(pc, INO, 1000, 10, b), 0);
	ck_assert_int_eq(pc_read(pc, INO, 5 * BS, 10, b), 0);
}
END_TEST

START_TEST(test_p1_read_error_leaves_no_page)
{
	uint8_t b[BS];

	mock_fill(&m, INO, 2, 0);
	m.read_err = -EIO;
	ck_assert_int_eq(pc_read(pc, INO, BS, BS, b), -EIO);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_ABSENT);
	ck_assert_uint_eq(stats().pages, 0);
	rd_expect(INO, BS, BS, 1); /* the next read goes to the device again */
}
END_TEST

START_TEST(test_p1_writeback_error_keeps_page_dirty)
{
	mock_fill(&m, INO, 1, 0);
	wr(INO, 0, BS, 0x33);
	m.write_err = -EIO;
	ck_assert_int_eq(pc_fsync(pc, INO), -EIO);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_DIRTY); /* data not lost */
	ck_assert_uint_eq(stats().writeback_errors, 1);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_int_eq(disk_byte(INO, 0), 0x33);
}
END_TEST

static void *reader_thread(void *arg)
{
	uint8_t b[BS];

	return (void *)(intptr_t)pc_read(pc, INO, (uint64_t)(uintptr_t)arg * BS, BS, b);
}

static void *fsync_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pc_fsync(pc, INO);
}

START_TEST(test_p1_page_locked_under_io)
{
	pthread_t t;
	void *ret;

	/* Read-in: locked until the device answers. */
	mock_fill(&m, INO, 4, 0);
	mock_gate_arm(&m, GATE_READ, INO, 2);
	pthread_create(&t, NULL, reader_thread, (void *)2);
	mock_gate_wait_entered(&m);
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_LOCKED);
	mock_gate_open(&m);
	pthread_join(t, &ret);
	ck_assert_int_eq((intptr_t)ret, BS);
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_CLEAN);

	/* Write-back: locked (and no longer dirty) until writepage returns. */
	wr(INO, 0, BS, 0x99);
	mock_gate_arm(&m, GATE_WRITE, INO, 0);
	pthread_create(&t, NULL, fsync_thread, NULL);
	mock_gate_wait_entered(&m);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_LOCKED);
	ck_assert_uint_eq(stats().dirty, 0);
	rd_expect(INO, 0, BS, 0x99); /* readers may copy from a page under write-back */
	mock_gate_open(&m);
	pthread_join(t, &ret);
	ck_assert_int_eq((intptr_t)ret, 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_CLEAN);
}
END_TEST

/* ---- P1: memory limit and eviction ------------------------------------------- */

START_TEST(test_p1_eviction_follows_lru_order)
{
	struct pc_config cfg = {.block_size = BS, .max_pages = 8};
	static const int order[] = {7, 5, 3, 1, 6, 4, 2, 0}; /* never sequential: no read-ahead */

	make(&cfg, &mock_ops);
	mock_fill(&m, INO, 32, 0);
	for (int i = 0; i < 8; i++)
		rd_page(INO, order[i]);
	ck_assert_uint_eq(stats().pages, 8);
	ck_assert_uint_eq(stats().readahead, 0);
	rd_page(INO, 7); /* 7 becomes the most recently used: 5 is now the oldest */
	rd_page(INO, 20);
	ck_assert_uint_eq(stats().pages, 8);
	ck_assert_uint_eq(stats().evictions, 1);
	ck_assert_int_eq(pc_page_state(pc, INO, 5), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO, 7), PC_CLEAN);
	rd_page(INO, 22);
	rd_page(INO, 24);
	ck_assert_int_eq(pc_page_state(pc, INO, 3), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO, 6), PC_CLEAN);
	ck_assert_uint_eq(stats().evictions, 3);
}
END_TEST

START_TEST(test_p1_dirty_page_written_back_before_eviction)
{
	struct pc_config cfg = {.block_size = BS, .max_pages = 4, .dirty_pct = 100};

	make(&cfg, &mock_ops);
	mock_fill(&m, INO, 8, 0);
	for (int i = 0; i < 4; i++)
		wr(INO, (uint64_t)i * BS, BS, 0xa0 + i);
	ck_assert_uint_eq(m.writes, 0);
	wr(INO, 4 * BS, BS, 0xa4); /* over the limit: page 0, the oldest, must go */
	ck_assert_uint_eq(m.nwlog, 1);
	ck_assert_uint_eq(m.wlog_index[0], 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_ABSENT);
	ck_assert_int_eq(disk_byte(INO, 0), 0xa0);
	ck_assert_uint_eq(stats().pages, 4);
	ck_assert_uint_eq(stats().evictions, 1);
	rd_expect(INO, 0, BS, 0xa0); /* and it reads back from the device */
}
END_TEST

START_TEST(test_p1_dirty_limit_triggers_writeback)
{
	struct pc_config cfg = {.block_size = BS, .max_pages = 64, .dirty_pct = 25};

	make(&cfg, &mock_ops);
	for (int i = 0; i < 30; i++)
		wr(INO, (uint64_t)i * BS, BS, i);
	ck_assert_uint_le(stats().dirty, 16);
	ck_assert_uint_ge(stats().writebacks, 14);
	ck_assert_uint_eq(stats().pages, 30); /* written back, not dropped */
	ck_assert_uint_eq(stats().evictions, 0);
}
END_TEST

START_TEST(test_p1_failing_device_keeps_dirty_pages)
{
	make(&(struct pc_config){.block_size = BS, .max_pages = 8}, &mock_ops);
	m.write_err_sticky = -EIO;
	for (int i = 0; i < 32; i++)
		wr(INO, (uint64_t)i * BS, BS, i);
	/* Nothing could be written, so nothing was dropped: over the limit, never lost. */
	struct pc_stats s = stats();
	ck_assert_uint_eq(s.pages, 32);
	ck_assert_uint_eq(s.dirty, 32);
	ck_assert_uint_eq(s.evictions, 0);
	/* And the failing device was not hammered: a bounded number of attempts per write. */
	ck_assert_uint_le(m.writes, 2 * 32);
	m.write_err_sticky = 0;
	ck_assert_int_eq(pc_sync(pc), 0);
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(disk_byte(INO, (uint64_t)i * BS), i);
	wr(INO, 32 * BS, BS, 32); /* the next insertion brings the cache back under its limit */
	ck_assert_uint_le(stats().pages, 8);
}
END_TEST

START_TEST(test_p1_limit_from_cache_mb)
{
	struct pc_config cfg = {.block_size = BS, .cache_mb = 2};

	make(&cfg, &mock_ops);
	ck_assert_uint_eq(stats().max_pages, 512);
	ck_assert_uint_eq(stats().dirty_limit, 256);
}
END_TEST

/*
 * Memory bound (pagecache.h "Memory"): reading a file three times the cache
 * keeps the cache's own accounted memory within max_pages blocks plus
 * PC_MEM_PER_PAGE each, one chunk per shard (at most a quarter of the
 * cache) and PC_MEM_TABLES; dropped pages' memory is reused, not added to.
 */
START_TEST(test_p1_memory_within_limit_plus_overhead)
{
	struct pc_config cfg = {.block_size = BS, .cache_mb = 8};
	const unsigned nblocks = 3 * 2048;
	size_t len = 16 * BS;
	uint8_t *b = malloc(len);
	uint64_t bound, full;
	unsigned seed = 7;

	make(&cfg, &mock_ops);
	ck_assert_uint_eq(stats().max_pages, 2048);
	bound = 2048 * (uint64_t)(BS + PC_MEM_PER_PAGE) +
		(uint64_t)2048 * BS / 4 * (BS + PC_MEM_PER_PAGE) / BS + PC_MEM_TABLES;
	mock_fill(&m, INO, nblocks, 1);
	mock_fill(&m, INO + 1, nblocks, 2);
	for (uint64_t off = 0; off < (uint64_t)nblocks * BS; off += len)
		ck_assert_int_eq(pc_read(pc, INO, off, len, b), (ssize_t)len);
	for (int i = 0; i < 4000; i++)
		ck_assert_int_eq(pc_read(pc, INO, (uint64_t)(rand_r(&seed) % nblocks) * BS, BS, b),
				 BS);
	full = stats().bytes;
	ck_assert_uint_le(stats().pages, 2048);
	ck_assert_uint_ge(full, 2000 * (uint64_t)BS); /* the stat counts the pages */
	ck_assert_uint_le(full, bound);
	pc_drop_inode(pc, INO);
	ck_assert_uint_eq(stats().pages, 0);
	for (uint64_t off = 0; off < (uint64_t)nblocks * BS; off += len)
		ck_assert_int_eq(pc_read(pc, INO + 1, off, len, b), (ssize_t)len);
	ck_assert_uint_le(stats().bytes, bound);
	ck_assert_uint_le(stats().bytes,
			  full + 16 * 32 * BS); /* reused: at most a chunk per shard more */
	free(b);
}
END_TEST

/* ---- P1: write-back on fsync, on demand and by age ----------------------------- */

START_TEST(test_p1_fsync_writes_only_its_inode)
{
	wr(INO, 0, 2 * BS, 1);
	wr(INO + 1, 0, 2 * BS, 2);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_CLEAN);
	ck_assert_int_eq(pc_page_state(pc, INO + 1, 0), PC_DIRTY);
	ck_assert_uint_eq(stats().dirty, 2);
	ck_assert_int_eq(pc_sync(pc), 0);
	ck_assert_uint_eq(stats().dirty, 0);
	ck_assert_int_eq(disk_byte(INO + 1, BS), 2);
}
END_TEST

static int wait_clean(uint64_t ino, uint64_t index, int ms);

START_TEST(test_p1_background_writeback_over_half_the_dirty_limit)
{
	/* Dirty limit 16 pages; the thread would otherwise wait a minute. */
	make(&(struct pc_config){.block_size = BS,
				 .max_pages = 64,
				 .dirty_pct = 25,
				 .wb_interval_ms = 60000,
				 .dirty_expire_ms = 60000},
	     &mock_ops);
	ck_assert_int_eq(pc_wb_start(pc), 0);
	wr(INO, 0, 8 * BS, 1); /* at half the limit: nothing happens */
	usleep(100 * 1000);
	ck_assert_uint_eq(stats().dirty, 8);
	wr(INO, 8 * BS, 2 * BS, 1); /* over half, under the limit: the thread writes back */
	ck_assert_msg(wait_clean(INO, 9, 5000) >= 0, "no background write-back");
	ck_assert_uint_eq(stats().dirty, 0);
	pc_wb_stop(pc);
}
END_TEST

START_TEST(test_p1_writeback_in_runs)
{
	static const uint64_t order[] = {0, 1, 2, 5, 6, 10};

	make(&(struct pc_config){.block_size = BS, .max_pages = 64}, &mock_ops_batched);
	wr(INO, 10 * BS, BS, 3);    /* page 10 */
	wr(INO, 5 * BS, 2 * BS, 2); /* pages 5-6 */
	wr(INO, 0, 3 * BS, 1);	    /* pages 0-2 */
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	/* Runs of 3 and 2 in one writepages call each, the lone page by writepage, in file order.
	 */
	ck_assert_uint_eq(m.nwbatch, 2);
	ck_assert_uint_eq(m.wb_batch[0], 3);
	ck_assert_uint_eq(m.wb_batch[1], 2);
	ck_assert_uint_eq(m.nwlog, 6);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(m.wlog_index[i], order[i]);
	ck_assert_uint_eq(stats().writebacks, 6);
	/*
	 * A failed run is dirty again, every page of it (2 errors); fsync goes
	 * on with the next page (1 again, now written alone) and reports the error.
	 */
	wr(INO, 0, 2 * BS, 4);
	m.write_err = -EIO;
	ck_assert_int_eq(pc_fsync(pc, INO), -EIO);
	ck_assert_uint_eq(stats().writeback_errors, 2);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_DIRTY);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_CLEAN);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_int_eq(disk_byte(INO, BS), 4);
}
END_TEST

static int wait_clean(uint64_t ino, uint64_t index, int ms)
{
	for (int t = 0; t < ms; t += 5) {
		if (pc_page_state(pc, ino, index) == PC_CLEAN)
			return t;
		usleep(5000);
	}
	return -1;
}

START_TEST(test_p1_writeback_thread_by_age)
{
	struct pc_config cfg = {
	    .block_size = BS, .max_pages = 64, .wb_interval_ms = 20, .dirty_expire_ms = 300};

	make(&cfg, &mock_ops);
	ck_assert_int_eq(pc_wb_start(pc), 0);
	wr(INO, 0, BS, 0x5a);
	/* Young pages stay dirty: nothing is written in the first ~100 ms. */
	usleep(100 * 1000);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_DIRTY);
	ck_assert_msg(wait_clean(INO, 0, 5000) >= 0, "the write-back thread never wrote the page");
	ck_assert_int_eq(disk_byte(INO, 0), 0x5a);
	pc_wb_stop(pc);
	/* Stopped: nothing more is written. */
	wr(INO, BS, BS, 0x5b);
	usleep(400 * 1000);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_DIRTY);
}
END_TEST

START_TEST(test_p1_writeback_on_demand)
{
	struct pc_config cfg = {
	    .block_size = BS, .max_pages = 64, .wb_interval_ms = 60000, .dirty_expire_ms = 60000};

	make(&cfg, &mock_ops);
	ck_assert_int_eq(pc_wb_start(pc), 0);
	wr(INO, 0, 4 * BS, 0x66);
	pc_wb_kick(pc);
	ck_assert_msg(wait_clean(INO, 3, 5000) >= 0, "a kick did not write back");
	ck_assert_uint_eq(stats().dirty, 0);
	pc_wb_stop(pc);
}
END_TEST

/* ---- P1: read-ahead ------------------------------------------------------------- */

START_TEST(test_p1_readahead_window_grows_on_sequential_reads)
{
	struct pc_config cfg = {.block_size = BS, .max_pages = 256, .ra_min = 4, .ra_max = 16};

	make(&cfg, &mock_ops);
	mock_fill(&m, INO, 100, 0);
	for (int i = 0; i < 100; i++)
		rd_expect(INO, (uint64_t)i * BS, BS, i);
	struct pc_stats s = stats();
	ck_assert_uint_eq(m.reads, 100); /* every page read once */
	ck_assert_uint_eq(s.hits + s.misses, 100);
	ck_assert_msg(s.misses <= 12, "sequential reads missed %llu times",
		      (unsigned long long)s.misses);
	ck_assert_uint_ge(s.readahead, 88);
	/* The batches grow: the first is small, later ones reach ra_max. */
	ck_assert_uint_le(m.ra_batch[0], 5);
	unsigned biggest = 0;
	for (unsigned i = 0; i < m.nbatch; i++)
		biggest = m.ra_batch[i] > biggest ? m.ra_batch[i] : biggest;
	ck_assert_uint_ge(biggest, 16);
	ck_assert_uint_le(biggest, 17);
	/* Never past EOF. */
	ck_assert_uint_eq(m.max_index_read[INO], 99);
}
END_TEST

START_TEST(test_p1_no_readahead_on_random_reads)
{
	static const int order[] = {40, 3, 77, 12, 60, 25, 90, 8};

	mock_fill(&m, INO, 100, 0);
	for (int i = 0; i < 8; i++)
		rd_page(INO, order[i]);
	ck_assert_uint_eq(stats().readahead, 0);
	ck_assert_uint_eq(m.reads, 8);
	ck_assert_uint_eq(stats().pages, 8);
}
END_TEST

START_TEST(test_p1_readahead_without_readpages)
{
	struct pc_config cfg = {.block_size = BS, .max_pages = 64};

	make(&cfg, &mock_ops_no_readpages);
	mock_fill(&m, INO, 20, 0);
	for (int i = 0; i < 20; i++)
		rd_expect(INO, (uint64_t)i * BS, BS, i);
	ck_assert_uint_gt(stats().readahead, 0);
	ck_assert_uint_eq(m.reads, 20);
	ck_assert_uint_eq(m.readpages_calls, 0);
}
END_TEST

/* ---- P3: invalidation ------------------------------------------------------------ */

START_TEST(test_p3_invalidate_drops_clean_pages)
{
	mock_fill(&m, INO, 8, 0);
	mock_fill(&m, INO + 1, 1, 0);
	for (int i = 0; i < 4; i++)
		rd_page(INO, i);
	rd_page(INO + 1, 0);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 3), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pc_page_state(pc, INO, i), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO + 1, 0), PC_CLEAN); /* another inode */
	struct pc_stats s = stats();
	ck_assert_uint_eq(s.invalidations, 1);
	ck_assert_uint_eq(s.invalidate_failures, 0);
	ck_assert_uint_ge(s.invalidated, 4);
	/* Nothing cached in range is not an error. */
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 50, 60), 0);
}
END_TEST

START_TEST(test_p3_invalidate_dirty_page_eio)
{
	static const int order[] = {0, 2}; /* not sequential with page 1 */

	mock_fill(&m, INO, 8, 0);
	for (int i = 0; i < 2; i++)
		rd_page(INO, order[i]);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 3, 7), 0);
	wr(INO, BS, BS, 0x12);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 2), -EIO);
	/* The droppable pages went anyway; the dirty one is intact. */
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_DIRTY);
	rd_expect(INO, BS, BS, 0x12);
	struct pc_stats s = stats();
	ck_assert_uint_eq(s.invalidations, 2);
	ck_assert_uint_eq(s.invalidate_failures, 1);

	/* P3: -EIO is 2.6.20's errno; a cache set up as today's kernels says -EBUSY. */
	struct pc_config cfg = {.block_size = BS, .max_pages = 64, .busy_errno = EBUSY};
	make(&cfg, &mock_ops);
	wr(INO, BS, BS, 0x13);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 2), -EBUSY);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_DIRTY);
}
END_TEST

START_TEST(test_p3_invalidate_locked_page_eio)
{
	pthread_t t;
	void *ret;

	/* Under write-back. */
	wr(INO, 0, BS, 0x21);
	mock_gate_arm(&m, GATE_WRITE, INO, 0);
	pthread_create(&t, NULL, fsync_thread, NULL);
	mock_gate_wait_entered(&m);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 0), -EIO);
	mock_gate_open(&m);
	pthread_join(t, &ret);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 0), 0);

	/* Under read-in. */
	mock_gate_arm(&m, GATE_READ, INO, 0);
	pthread_create(&t, NULL, reader_thread, (void *)0);
	mock_gate_wait_entered(&m);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 0), -EIO);
	mock_gate_open(&m);
	pthread_join(t, &ret);
	ck_assert_int_eq((intptr_t)ret, BS);
	ck_assert_uint_eq(stats().invalidate_failures, 2);
	ck_assert_uint_eq(stats().invalidations, 3);
}
END_TEST

START_TEST(test_p3_invalidate_injected_errno)
{
	char err[128];

	mock_fill(&m, INO, 4, 0);
	rd_page(INO, 0);
	ck_assert_int_eq(fault_set_line(flt, "invalidate errno=EIO times=1", err, sizeof(err)), 0);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 3), -EIO);
	/* An injected failure drops nothing: the cached page stays (stale after a direct write). */
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_CLEAN);
	ck_assert_uint_eq(stats().invalidate_failures, 1);
	struct fault_counters c;
	fault_get(flt, FAULT_INVALIDATE, NULL, &c);
	ck_assert_uint_eq(c.injected, 1);
	/* times=1: the next one succeeds. */
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 3), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_ABSENT);

	/* The filters see the inode and the byte range of the pages. */
	ck_assert_int_eq(
	    fault_set_line(flt, "invalidate errno=ENOSPC ino=3 offset=8192-8192", err, sizeof(err)),
	    0);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 10), 0);
	ck_assert_int_eq(pc_invalidate_range(pc, 3, 0, 1), 0);
	ck_assert_int_eq(pc_invalidate_range(pc, 3, 0, 2), -ENOSPC);
	ck_assert_int_eq(pc_invalidate_range(pc, 3, 2, 2), -ENOSPC);
	ck_assert_int_eq(pc_invalidate_range(pc, 3, 3, PC_END), 0);
}
END_TEST

/* The write-back error of a file (mapping->wb_err): once per cursor, per
   inode, gone with the inode (a new file with its number starts clean). */
START_TEST(test_wb_err_per_file_cursor_and_drop)
{
	uint32_t a = pc_wb_err_sample(pc, INO), b = pc_wb_err_sample(pc, INO);
	uint32_t other = pc_wb_err_sample(pc, INO + 1);

	ck_assert_int_eq(pc_wb_err_check(pc, INO, &a), 0);
	pc_wb_err_set(pc, INO, -EIO);
	ck_assert_int_eq(pc_wb_err_check(pc, INO + 1, &other), 0);
	ck_assert_int_eq(pc_wb_err_check(pc, INO, &a), -EIO);
	ck_assert_int_eq(pc_wb_err_check(pc, INO, &a), 0);
	uint32_t late = pc_wb_err_sample(pc, INO); /* after a report: clean */
	ck_assert_int_eq(pc_wb_err_check(pc, INO, &b), -EIO);
	ck_assert_int_eq(pc_wb_err_check(pc, INO, &late), 0);
	pc_wb_err_set(pc, INO, -EIO); /* a second error: every cursor again */
	ck_assert_int_eq(pc_wb_err_check(pc, INO, &late), -EIO);
	ck_assert_int_eq(pc_wb_err_check(pc, INO, &a), -EIO);
	struct pc_stats s = stats();
	ck_assert_uint_eq(s.wb_err_set, 2);
	ck_assert_uint_eq(s.wb_err_reported, 4);
	pc_drop_inode(pc, INO);
	uint32_t fresh = pc_wb_err_sample(pc, INO);
	ck_assert_uint_eq(fresh, 0);
	ck_assert_int_eq(pc_wb_err_check(pc, INO, &fresh), 0);
}
END_TEST

START_TEST(test_p3_invalidate_whole_file)
{
	mock_fill(&m, INO, 8, 0);
	mock_fill(&m, INO + 1, 8, 0);
	for (int i = 0; i < 8; i++)
		rd_page(INO, i);
	rd_page(INO + 1, 0);
	/* The whole file, by walking the cache rather than 2^64 indexes. */
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, PC_END), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pc_page_state(pc, INO, i), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO + 1, 0), PC_CLEAN);
	wr(INO, 5 * BS, 1, 9);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 1, PC_END), -EIO);
}
END_TEST

/* ---- P2 / P4: the direct path's write-back and invalidation ----------------------- */

START_TEST(test_p4_writeback_before_direct_read)
{
	uint8_t b[2 * BS];

	mock_fill(&m, INO, 4, 0);
	wr(INO, BS, 2 * BS, 0x44);
	/* An O_DIRECT read of [BS, 3*BS) first writes back and waits... */
	ck_assert_int_eq(pc_writeback_range(pc, INO, BS, 3 * BS - 1, true), 0);
	/* ...so the device holds the buffered write. */
	uint8_t want[2 * BS];
	memset(want, 0x44, sizeof(want));
	mock_read_direct(&m, INO, BS, b, sizeof(b));
	ck_assert_mem_eq(b, want, sizeof(b));
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_CLEAN);
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_CLEAN);
}
END_TEST

START_TEST(test_p2_writeback_range_is_limited_to_range)
{
	wr(INO, 0, 4 * BS, 0x55);
	ck_assert_int_eq(pc_writeback_range(pc, INO, BS + 10, 2 * BS + 10, true), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_DIRTY);
	ck_assert_int_eq(pc_page_state(pc, INO, 1), PC_CLEAN);
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_CLEAN);
	ck_assert_int_eq(pc_page_state(pc, INO, 3), PC_DIRTY);
	ck_assert_uint_eq(m.nwlog, 2);
}
END_TEST

START_TEST(test_p2_direct_write_sequence)
{
	uint8_t nw[BS];

	mock_fill(&m, INO, 4, 0x20); /* page 1 holds 0x21 */
	rd_expect(INO, BS, BS, 0x21);
	/* O_DIRECT write of page 1: write back, submit, invalidate. */
	ck_assert_int_eq(pc_writeback_range(pc, INO, BS, 2 * BS - 1, true), 0);
	memset(nw, 0xd1, BS);
	mock_write_direct(&m, INO, BS, nw, BS);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 1, 1), 0);
	rd_expect(INO, BS, BS, 0xd1); /* P5: no older data after success */

	/*
	 * The race the second invalidation closes: a buffered read re-caches
	 * the old block while the direct write is in flight.
	 */
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 1, 1), 0); /* after submission */
	rd_expect(INO, BS, BS, 0xd1);				 /* racing reader caches old */
	memset(nw, 0xd2, BS);
	mock_write_direct(&m, INO, BS, nw, BS);			 /* the device completes */
	rd_expect(INO, BS, BS, 0xd1);				 /* stale until... */
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 1, 1), 0); /* ...after completion */
	rd_expect(INO, BS, BS, 0xd2);
}
END_TEST

START_TEST(test_p2_failed_invalidation_leaves_stale_data)
{
	char err[128];
	uint8_t nw[BS];

	/* What the error reported in the event (R3) tells the user: the cache may be stale. */
	mock_fill(&m, INO, 2, 0x30);
	rd_expect(INO, 0, BS, 0x30);
	ck_assert_int_eq(fault_set_line(flt, "invalidate errno=EIO", err, sizeof(err)), 0);
	memset(nw, 0xe0, BS);
	mock_write_direct(&m, INO, 0, nw, BS);
	ck_assert_int_eq(pc_invalidate_range(pc, INO, 0, 0), -EIO);
	rd_expect(INO, 0, BS, 0x30);
}
END_TEST

START_TEST(test_p2_p4_byte_range_helpers)
{
	uint8_t nw[BS];

	mock_fill(&m, INO, 4, 0x70);
	for (int i = 0; i < 4; i++)
		rd_expect(INO, (uint64_t)i * BS, BS, 0x70 + i); /* pages 0-3 clean... */
	wr(INO, 3 * BS, 1, 0x7f);				/* ...page 3 dirty */
	/* A direct write of bytes [BS + 512, 3 * BS + 512): pages 1 to 3. */
	ck_assert_int_eq(pc_direct_prepare(pc, INO, BS + 512, 2 * BS), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 3), PC_CLEAN);
	ck_assert_int_eq(disk_byte(INO, 3 * BS), 0x7f);
	memset(nw, 0x7e, BS);
	mock_write_direct(&m, INO, 2 * BS, nw, BS);
	ck_assert_int_eq(pc_direct_invalidate(pc, INO, BS + 512, 2 * BS), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_CLEAN);
	for (int i = 1; i <= 3; i++)
		ck_assert_int_eq(pc_page_state(pc, INO, i), PC_ABSENT);
	rd_expect(INO, 2 * BS, BS, 0x7e);
	/* Zero length touches nothing; a range ending on a page boundary stops before the next. */
	ck_assert_int_eq(pc_direct_invalidate(pc, INO, 0, 0), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_CLEAN);
	ck_assert_int_eq(pc_direct_invalidate(pc, INO, 2 * BS, BS), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_ABSENT);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_CLEAN);
}
END_TEST

static bool wb_done;

static void *wb_wait_thread(void *arg)
{
	int r = pc_writeback_range(pc, INO, 0, BS - 1, true);
	__atomic_store_n(&wb_done, true, __ATOMIC_SEQ_CST);
	return (void *)(intptr_t)r;
}

START_TEST(test_p2_writeback_wait_waits_for_io_in_flight)
{
	pthread_t t1, t2;
	void *ret;

	wr(INO, 0, BS, 0x61);
	mock_gate_arm(&m, GATE_WRITE, INO, 0);
	pthread_create(&t1, NULL, fsync_thread, NULL);
	mock_gate_wait_entered(&m);
	/* Without wait: returns at once, the page still under I/O. */
	ck_assert_int_eq(pc_writeback_range(pc, INO, 0, BS - 1, false), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_LOCKED);
	/* With wait: returns only after the I/O. */
	wb_done = false;
	pthread_create(&t2, NULL, wb_wait_thread, NULL);
	usleep(50 * 1000);
	ck_assert(!__atomic_load_n(&wb_done, __ATOMIC_SEQ_CST));
	mock_gate_open(&m);
	pthread_join(t2, &ret);
	ck_assert_int_eq((intptr_t)ret, 0);
	pthread_join(t1, NULL);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_CLEAN);
	ck_assert_uint_eq(m.writes, 1);
}
END_TEST

/* ---- P1: truncate and dropping an inode --------------------------------------------- */

START_TEST(test_p1_truncate_drops_and_zeroes_tail)
{
	wr(INO, 0, 3 * BS, 0xaa);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	wr(INO, 2 * BS, BS, 0xbb); /* dirty, and about to be cut off */
	mock_set_size(&m, INO, BS + 904);
	ck_assert_int_eq(pc_truncate(pc, INO, BS + 904), 0);
	ck_assert_int_eq(pc_page_state(pc, INO, 2), PC_ABSENT);
	ck_assert_uint_eq(stats().dirty, 0);
	rd_expect(INO, 0, BS + 904, 0xaa);
	/* Growing the file again shows zeros past the old EOF, from the cached page too. */
	mock_set_size(&m, INO, 3 * BS);
	rd_expect(INO, BS + 904, 2 * BS - 904, 0);
	unsigned w = m.writes;
	ck_assert_int_eq(pc_sync(pc), 0);
	ck_assert_uint_eq(m.writes, w); /* the discarded dirty page is never written */
}
END_TEST

START_TEST(test_p1_drop_inode_discards_its_pages_only)
{
	wr(INO, 0, 4 * BS, 1);
	wr(INO + 1, 0, 2 * BS, 2);
	pc_drop_inode(pc, INO);
	struct pc_stats s = stats();
	ck_assert_uint_eq(s.pages, 2);
	ck_assert_uint_eq(s.dirty, 2);
	ck_assert_int_eq(pc_page_state(pc, INO + 1, 1), PC_DIRTY);
	ck_assert_int_eq(pc_sync(pc), 0);
	ck_assert_uint_eq(m.writes, 2);
}
END_TEST

/*
 * The file is held around every callback made with its pages locked
 * (read-in, write-back of a run or of one page, extend_size) and released
 * only once they are unlocked, so the last release may drop the file's
 * pages, as the last iput of an unlinked file does: done under a page lock,
 * pc_drop_inode would wait for that page forever.
 */
START_TEST(test_p1_file_held_around_callbacks)
{
	make(&(struct pc_config){.block_size = BS, .max_pages = 64}, &mock_ops_held);
	m.pc = pc;
	mock_fill(&m, INO, 8, 0x10);
	rd_expect(INO, 0, BS, 0x10); /* read-in with read-ahead */
	ck_assert_uint_ge(m.holds, 1);
	wr(INO, 8 * BS, 2 * BS, 1); /* extends the file: extend_size per page */
	ck_assert_uint_eq(mock_size(&m, INO), 10 * BS);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_int_eq(disk_byte(INO, 9 * BS), 1);
	wr(INO, 0, 3 * BS, 2);
	m.drop_on_release[INO] = true;
	ck_assert_int_eq(pc_fsync(pc, INO), 0); /* one run, 0-2; its release drops */
	ck_assert_uint_eq(m.releases, m.holds);
	ck_assert_uint_eq(m.held[INO], 0);
	ck_assert_uint_eq(m.locked_at_release, 0);
	ck_assert_int_eq(disk_byte(INO, 2 * BS), 2);
	ck_assert_uint_eq(stats().pages, 0); /* dropped by the release */

	/* A hold that fails is the write-back's error: the page stays dirty, nothing to release. */
	m.drop_on_release[INO] = false;
	wr(INO, 0, BS, 4);
	unsigned holds = m.holds, releases = m.releases;
	m.hold_err = -ENOMEM;
	ck_assert_int_eq(pc_fsync(pc, INO), -ENOMEM);
	ck_assert_uint_eq(m.holds, holds + 1);
	ck_assert_uint_eq(m.releases, releases);
	ck_assert_int_eq(pc_page_state(pc, INO, 0), PC_DIRTY);
	ck_assert_int_eq(pc_fsync(pc, INO), 0);
	ck_assert_uint_eq(m.releases, releases + 1);
	ck_assert_int_eq(disk_byte(INO, 0), 4);

	/* Eviction writes the oldest dirty page back alone (4 pages of cache). */
	make(&(struct pc_config){.block_size = BS, .max_pages = 4}, &mock_ops_held);
	m.pc = pc;
	holds = m.holds;
	wr(INO, 0, 8 * BS, 3);
	ck_assert_uint_gt(m.holds, holds);
	ck_assert_uint_eq(m.releases, m.holds - 1); /* the failed hold above */
	ck_assert_uint_eq(m.locked_at_release, 0);
	ck_assert_int_eq(disk_byte(INO, 0), 3);
}
END_TEST

START_TEST(test_p1_stats)
{
	mock_fill(&m, INO, 1, 0);
	rd_page(INO, 0);
	struct pc_stats s = stats();
	ck_assert_uint_eq(s.pages, 1);
	ck_assert_uint_eq(s.dirty, 0);
	ck_assert_uint_eq(s.hits, 0);
	ck_assert_uint_eq(s.misses, 1);
	ck_assert_uint_eq(s.invalidations, 0);
	ck_assert_uint_eq(s.invalidate_failures, 0);
}
END_TEST

int main(void)
{
	const struct {
		const char *name;
		const TTest *tests[16];
	} cases[] = {
	    {"P1_states",
	     {test_p1_read_miss_then_hit_clean, test_p1_write_makes_dirty_fsync_makes_clean,
	      test_p1_partial_write_reads_block_first,
	      test_p1_write_past_eof_extends_without_reading,
	      test_p1_extending_page_not_written_back_before_size,
	      test_p1_small_blocks_and_unaligned_io, test_p1_read_is_clipped_at_eof,
	      test_p1_read_error_leaves_no_page, test_p1_writeback_error_keeps_page_dirty,
	      test_p1_page_locked_under_io, test_p1_stats}},
	    {"P1_eviction",
	     {test_p1_eviction_follows_lru_order, test_p1_dirty_page_written_back_before_eviction,
	      test_p1_dirty_limit_triggers_writeback, test_p1_limit_from_cache_mb,
	      test_p1_failing_device_keeps_dirty_pages, test_p1_memory_within_limit_plus_overhead}},
	    {"P1_writeback",
	     {test_p1_fsync_writes_only_its_inode, test_p1_writeback_thread_by_age,
	      test_p1_writeback_on_demand, test_p1_writeback_in_runs,
	      test_p1_background_writeback_over_half_the_dirty_limit}},
	    {"P1_readahead",
	     {test_p1_readahead_window_grows_on_sequential_reads,
	      test_p1_no_readahead_on_random_reads, test_p1_readahead_without_readpages}},
	    {"P1_truncate",
	     {test_p1_truncate_drops_and_zeroes_tail, test_p1_drop_inode_discards_its_pages_only,
	      test_p1_file_held_around_callbacks}},
	    {"P3_invalidate",
	     {test_p3_invalidate_drops_clean_pages, test_p3_invalidate_dirty_page_eio,
	      test_p3_invalidate_locked_page_eio, test_p3_invalidate_injected_errno,
	      test_wb_err_per_file_cursor_and_drop, test_p3_invalidate_whole_file}},
	    {"P2_P4_direct",
	     {test_p4_writeback_before_direct_read, test_p2_writeback_range_is_limited_to_range,
	      test_p2_direct_write_sequence, test_p2_failed_invalidation_leaves_stale_data,
	      test_p2_writeback_wait_waits_for_io_in_flight, test_p2_p4_byte_range_helpers}},
	};
	Suite *s = suite_create("pagecache");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 60);
		for (int j = 0; cases[i].tests[j]; j++)
			tcase_add_test(tc, cases[i].tests[j]);
		suite_add_tcase(s, tc);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
