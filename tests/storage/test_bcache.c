/* test_bcache: the buffer cache: one copy of each block (also under
   concurrent readers), LRU eviction within the bound, referenced buffers
   never evicted, verification on read (-EUCLEAN, and a bad block is read
   again next time), the lazily initialised inode table (layout.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "st_testlib.h"

#define BS 4096u

struct fixture {
	struct disk d;
	struct bcache *bc;
};

static void open_fixture(struct fixture *f, size_t max)
{
	const char *img = st_path("c.img");
	st_mkfs(img, 8u << 20, BS, 0);
	char err[256];
	ck_assert_int_eq(disk_open(img, false, &f->d, err, sizeof(err)), 0);
	f->d.block_size = BS;
	f->bc = bcache_create(&f->d, BS, max);
	ck_assert_ptr_nonnull(f->bc);
}

static void close_fixture(struct fixture *f)
{
	bcache_destroy(f->bc);
	disk_close(&f->d);
}

START_TEST(one_copy_per_block)
{
	struct fixture f;
	open_fixture(&f, 16);
	struct buf *a, *b;
	ck_assert_int_eq(bread(f.bc, 100, 0, &a), 0);
	a->data[0] = 42; /* visible to the next reader: same buffer */
	brelse(a);
	ck_assert_int_eq(bread(f.bc, 100, 0, &b), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_int_eq(b->data[0], 42);
	brelse(b);
	struct bcache_stats st;
	bcache_get_stats(f.bc, &st);
	ck_assert_uint_eq(st.nbufs, 1);
	ck_assert_uint_eq(st.hits, 1);
	close_fixture(&f);
}
END_TEST

START_TEST(eviction_is_lru_and_bounded)
{
	struct fixture f;
	open_fixture(&f, 4);
	struct buf *b;
	for (uint64_t i = 0; i < 4; i++) {
		ck_assert_int_eq(bread(f.bc, 200 + i, 0, &b), 0);
		b->data[0] = (uint8_t)(i + 1);
		brelse(b);
	}
	/* touch 200 so 201 is the least recently used */
	ck_assert_int_eq(bread(f.bc, 200, 0, &b), 0);
	brelse(b);
	ck_assert_int_eq(bread(f.bc, 300, 0, &b), 0);
	brelse(b);
	struct bcache_stats st;
	bcache_get_stats(f.bc, &st);
	ck_assert_uint_eq(st.nbufs, 4);
	ck_assert_uint_eq(st.evictions, 1);
	/* 200 is still cached (its in-memory change is there), 201 was evicted */
	ck_assert_int_eq(bread(f.bc, 200, 0, &b), 0);
	ck_assert_int_eq(b->data[0], 1);
	brelse(b);
	uint64_t misses = st.misses;
	ck_assert_int_eq(bread(f.bc, 202, 0, &b), 0);
	brelse(b);
	bcache_get_stats(f.bc, &st);
	ck_assert_uint_eq(st.misses, misses); /* 202 was a hit */
	close_fixture(&f);
}
END_TEST

START_TEST(referenced_buffers_are_never_evicted)
{
	struct fixture f;
	open_fixture(&f, 2);
	struct buf *pinned, *b;
	ck_assert_int_eq(bread(f.bc, 500, 0, &pinned), 0);
	pinned->data[0] = 7;
	bref(pinned); /* as the journal does for a block in a transaction */
	brelse(pinned);
	for (uint64_t i = 0; i < 20; i++) {
		ck_assert_int_eq(bread(f.bc, 600 + i, 0, &b), 0);
		brelse(b);
	}
	ck_assert_int_eq(bread(f.bc, 500, 0, &b), 0);
	ck_assert_ptr_eq(b, pinned);
	ck_assert_int_eq(b->data[0], 7);
	brelse(b);
	bput(pinned);
	close_fixture(&f);
}
END_TEST

START_TEST(verify_on_read)
{
	struct fixture f;
	open_fixture(&f, 8);
	uint8_t *blk = disk_alloc_buf(&f.d, BS);
	memset(blk, 0xab, BS);
	meta_seal(blk, BS, EF_MAGIC_DIR, 700);
	ck_assert_int_eq(disk_write(&f.d, 700, 1, blk), 0);
	struct buf *b;
	ck_assert_int_eq(bread(f.bc, 700, EF_MAGIC_DIR, &b), 0);
	brelse(b);
	/* wrong kind: refused even when cached */
	ck_assert_int_eq(bread(f.bc, 700, EF_MAGIC_EXTENT, &b), -EUCLEAN);
	ck_assert_ptr_null(b);
	/* a damaged block on the device */
	blk[100] ^= 1;
	ck_assert_int_eq(disk_write(&f.d, 701, 1, blk), 0);
	ck_assert_int_eq(bread(f.bc, 701, EF_MAGIC_DIR, &b), -EUCLEAN);
	/* repaired on the device: read again, not served from the cache */
	meta_seal(blk, BS, EF_MAGIC_DIR, 701);
	ck_assert_int_eq(disk_write(&f.d, 701, 1, blk), 0);
	ck_assert_int_eq(bread(f.bc, 701, EF_MAGIC_DIR, &b), 0);
	brelse(b);
	free(blk);
	close_fixture(&f);
}
END_TEST

START_TEST(zero_inode_table_block_reads_as_free_inodes)
{
	struct fixture f;
	open_fixture(&f, 8);
	struct buf *b;
	/* block 900 is a hole: all zero */
	ck_assert_int_eq(bread(f.bc, 900, EF_MAGIC_ITABLE, &b), 0);
	for (uint32_t i = sizeof(struct ef_blkhdr); i < BS; i++)
		ck_assert_int_eq(b->data[i], 0);
	brelse(b);
	/* any other kind of block must not accept zeros */
	ck_assert_int_eq(bread(f.bc, 901, EF_MAGIC_DIR, &b), -EUCLEAN);
	close_fixture(&f);
}
END_TEST

struct racer {
	struct bcache *bc;
	struct buf *seen[200];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 200; i++) {
		struct buf *b;
		if (bread(r->bc, 1000 + (uint64_t)(i % 20), 0, &b) == 0) {
			r->seen[i] = b;
			b->data[1]++; /* under the content lock */
			brelse(b);
		}
	}
	return NULL;
}

START_TEST(concurrent_readers_share_one_copy)
{
	struct fixture f;
	open_fixture(&f, 64);
	struct racer r[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].bc = f.bc;
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 200; i++)
		for (int k = 1; k < 4; k++)
			ck_assert_ptr_eq(r[0].seen[i], r[k].seen[i]);
	for (int i = 0; i < 20; i++) {
		struct buf *b;
		ck_assert_int_eq(bread(f.bc, 1000 + (uint64_t)i, 0, &b), 0);
		ck_assert_int_eq(b->data[1], 40); /* 4 threads x 10 each: no lost update */
		brelse(b);
	}
	struct bcache_stats st;
	bcache_get_stats(f.bc, &st);
	ck_assert_uint_eq(st.nbufs, 20);
	close_fixture(&f);
}
END_TEST

/* A cache far smaller than the working set under a journal: buffers in
   transactions stay pinned until their checkpoint, clean ones come and go,
   and every update survives (nothing is evicted dirty and read back stale). */
#define NBLK 200
struct hammer {
	struct journal *j;
	struct bcache *bc;
	uint64_t base;
	unsigned seed;
	_Atomic uint32_t *want;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < 1500; i++) {
		struct tx *tx;
		ck_assert_int_eq(tx_begin(h->j, 3, &tx), 0);
		unsigned k = (unsigned)rand_r(&h->seed) % NBLK;
		struct buf *b;
		ck_assert_int_eq(bread(h->bc, h->base + k, EF_MAGIC_DIR, &b), 0);
		uint32_t v;
		memcpy(&v, b->data + 32, 4);
		v++;
		memcpy(b->data + 32, &v, 4);
		tx_add(tx, b);
		brelse(b);
		h->want[k]++;
		ck_assert_int_eq(tx_end(tx), 0);
		if (rand_r(&h->seed) % 100 == 0)
			ck_assert_int_eq(journal_commit(h->j, false), 0);
		if (rand_r(&h->seed) % 400 == 0)
			ck_assert_int_eq(journal_checkpoint(h->j), 0);
	}
	return NULL;
}

START_TEST(small_cache_under_journal_keeps_every_update)
{
	const char *img = st_path("h.img");
	st_mkfs(img, 16u << 20, 1024, 0);
	uint8_t sbblk[1024];
	st_read_block(img, 1024, 0, sbblk);
	struct ef_super sb;
	memcpy(&sb, sbblk, sizeof(sb));
	struct disk d;
	char err[256];
	ck_assert_int_eq(disk_open(img, false, &d, err, sizeof(err)), 0);
	d.block_size = 1024;
	uint64_t base = sb.data_start + 10;
	uint8_t *blk = disk_alloc_buf(&d, 1024);
	for (uint64_t k = 0; k < NBLK; k++) { /* counters start at 0 */
		memset(blk, 0, 1024);
		meta_seal(blk, 1024, EF_MAGIC_DIR, base + k);
		ck_assert_int_eq(disk_write(&d, base + k, 1, blk), 0);
	}
	struct bcache *bc = bcache_create(&d, 1024, 8);
	struct journal *j;
	ck_assert_int_eq(journal_create(&d, bc, &sb, NULL, &j), 0);
	static _Atomic uint32_t want[NBLK];
	struct hammer h[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){j, bc, base, (unsigned)i + 1, want};
		pthread_create(&t[i], NULL, hammer, &h[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	struct bcache_stats st;
	bcache_get_stats(bc, &st);
	ck_assert_uint_gt(st.evictions, 100);
	ck_assert_int_eq(journal_destroy(j), 0); /* commits and checkpoints */
	bcache_destroy(bc);
	for (uint64_t k = 0; k < NBLK; k++) {
		ck_assert_int_eq(disk_read(&d, base + k, 1, blk), 0);
		ck_assert_int_eq(meta_verify(blk, 1024, EF_MAGIC_DIR, base + k), 0);
		uint32_t v;
		memcpy(&v, blk + 32, 4);
		ck_assert_uint_eq(v, want[k]);
	}
	free(blk);
	disk_close(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bcache");
	TCase *tc = tcase_create("bcache");
	tcase_add_test(tc, one_copy_per_block);
	tcase_add_test(tc, eviction_is_lru_and_bounded);
	tcase_add_test(tc, referenced_buffers_are_never_evicted);
	tcase_add_test(tc, verify_on_read);
	tcase_add_test(tc, zero_inode_table_block_reads_as_free_inodes);
	tcase_add_test(tc, concurrent_readers_share_one_copy);
	tcase_add_test(tc, small_cache_under_journal_keeps_every_update);
	suite_add_tcase(s, tc);
	return st_run(s);
}
