/* test_journal: the write-ahead journal (storage.h, layout.h journal
   records). A crash is simulated by a child process that stops writing at
   a chosen block write (journal_set_write_hook) and exits without
   unmounting; the parent then mounts, which replays.
   - a committed transaction survives a crash and is replayed;
   - every prefix of the writes of a transaction (commit and checkpoint)
     leaves the blocks either all before or all after it, never mixed;
   - a torn commit block or a damaged image in the log: not applied;
   - replay is idempotent, also when it is itself interrupted;
   - group commit, the log wrapping around, concurrent updates of one block. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_testlib.h"

static struct storage *open_img(const char *img)
{
	struct storage *st;
	char err[256];
	ck_assert_msg(storage_open(img, false, &st, err, sizeof(err)) == 0, "%s", err);
	return st;
}

static void pattern(uint8_t *blk, uint32_t bs, uint64_t home, uint8_t v)
{
	memset(blk, v, bs);
	meta_seal(blk, bs, EF_MAGIC_EXTENT, home);
}

/* Which pattern home holds on the device: the byte, or -1 if neither. */
static int raw_pattern(const char *img, uint32_t bs, uint64_t home)
{
	uint8_t *blk = malloc(bs);
	st_read_block(img, bs, home, blk);
	int v = meta_verify(blk, bs, EF_MAGIC_EXTENT, home) == 0 ? blk[bs - 1] : -1;
	free(blk);
	return v;
}

/* One transaction writing pattern v to homes[0..n). */
static void tx_pattern(struct storage *st, const uint64_t *homes, size_t n, uint8_t v)
{
	struct tx *tx;
	ck_assert_int_eq(tx_begin(st->journal, (uint32_t)n, &tx), 0);
	for (size_t i = 0; i < n; i++) {
		struct buf *b;
		ck_assert_int_eq(bread_new(st->bcache, homes[i], &b), 0);
		pattern(b->data, st->sb.block_size, homes[i], v);
		tx_add(tx, b);
		brelse(b);
	}
	ck_assert_int_eq(tx_end(tx), 0);
}

struct cut {
	long left; /* writes allowed; -1 unlimited */
	long count;
};

static int cut_hook(void *arg, uint64_t blockno, struct jwrite_damage *dmg)
{
	(void)blockno, (void)dmg;
	struct cut *c = arg;
	c->count++;
	if (c->left < 0)
		return 0;
	return c->left-- == 0;
}

/* Image with homes holding pattern 0xA1, journal empty. */
static void base_image(const char *img, uint64_t size, uint32_t bs, uint64_t *homes, size_t n,
		       uint64_t spread)
{
	st_mkfs(img, size, bs, 0);
	struct storage *st = open_img(img);
	for (size_t i = 0; i < n; i++)
		homes[i] = st->sb.data_start + 3 + i * spread;
	tx_pattern(st, homes, n, 0xa1);
	ck_assert_int_eq(storage_close(st), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(raw_pattern(img, bs, homes[i]), 0xa1);
}

/* In a child: mount, write pattern 0xB2 in one transaction, commit durably,
   checkpoint (if ckpt), all with the power cut after `left` writes; exit
   without unmounting. */
static void crash_child(const char *img, const uint64_t *homes, size_t n, long left, bool ckpt)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct storage *st;
		char err[256];
		if (storage_open(img, false, &st, err, sizeof(err)) < 0)
			_exit(3);
		struct cut c = {left, 0};
		journal_set_write_hook(st->journal, cut_hook, &c);
		struct tx *tx;
		if (tx_begin(st->journal, (uint32_t)n, &tx) < 0)
			_exit(4);
		for (size_t i = 0; i < n; i++) {
			struct buf *b;
			if (bread(st->bcache, homes[i], EF_MAGIC_EXTENT, &b) < 0)
				_exit(5);
			pattern(b->data, st->sb.block_size, homes[i], 0xb2);
			tx_add(tx, b);
			brelse(b);
		}
		tx_end(tx);
		journal_commit(st->journal, true);
		if (ckpt)
			journal_checkpoint(st->journal);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

/* All homes hold the same pattern; returns it. */
static int all_same(const char *img, uint32_t bs, const uint64_t *homes, size_t n)
{
	int v = raw_pattern(img, bs, homes[0]);
	for (size_t i = 1; i < n; i++)
		ck_assert_msg(raw_pattern(img, bs, homes[i]) == v, "block %zu differs: %d vs %d", i,
			      raw_pattern(img, bs, homes[i]), v);
	ck_assert_msg(v == 0xa1 || v == 0xb2, "pattern %d", v);
	return v;
}

START_TEST(committed_transaction_replayed_after_crash)
{
	const char *img = st_path("j.img");
	uint64_t homes[6];
	base_image(img, 16u << 20, 4096, homes, 6, 97);
	crash_child(img, homes, 6, -1, false);
	/* committed but never checkpointed: home is still old */
	ck_assert_int_eq(all_same(img, 4096, homes, 6), 0xa1);
	struct storage *st = open_img(img);
	ck_assert_uint_eq(st->journal_replayed, 1);
	ck_assert_int_eq(storage_close(st), 0);
	ck_assert_int_eq(all_same(img, 4096, homes, 6), 0xb2);
	/* replayed once only */
	st = open_img(img);
	ck_assert_uint_eq(st->journal_replayed, 0);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

static void every_prefix(uint64_t size, uint32_t bs, size_t n, uint64_t spread)
{
	const char *base = st_path("base.img"), *img = st_path("work.img");
	uint64_t *homes = calloc(n, sizeof(*homes));
	base_image(base, size, bs, homes, n, spread);
	/* how many writes the whole sequence makes */
	st_copy(base, img);
	struct storage *st = open_img(img);
	struct cut c = {-1, 0};
	journal_set_write_hook(st->journal, cut_hook, &c);
	tx_pattern(st, homes, n, 0xb2);
	ck_assert_int_eq(journal_commit(st->journal, true), 0);
	ck_assert_int_eq(journal_checkpoint(st->journal), 0);
	long total = c.count;
	journal_set_write_hook(st->journal, NULL, NULL);
	ck_assert_int_eq(storage_close(st), 0);
	ck_assert_int_gt(total, (long)(2 * n));
	int prev = 0xa1;
#if defined(__SANITIZE_THREAD__)
	const long stride = 11; /* ThreadSanitizer is slow to fork and mount: sample */
#elif defined(__SANITIZE_ADDRESS__)
	const long stride = 3; /* every prefix in the plain build; a sample here */
#else
	const long stride = 1;
#endif
	for (long k = 0; k <= total; k += (k < 12 || k > total - 12) ? 1 : stride) {
		st_copy(base, img);
		crash_child(img, homes, n, k, true);
		st = open_img(img);
		ck_assert_int_eq(storage_close(st), 0);
		int v = all_same(img, bs, homes, n);
		ck_assert_msg(!(prev == 0xb2 && v == 0xa1), "after %ld writes: back to before", k);
		prev = v;
	}
	ck_assert_int_eq(prev, 0xb2);
	free(homes);
}

START_TEST(every_prefix_all_or_nothing_4k)
{
	every_prefix(16u << 20, 4096, 6, 97);
}
END_TEST

START_TEST(every_prefix_all_or_nothing_multi_descriptor_1k)
{
	/* 130 blocks: two descriptor blocks with 1 KiB blocks */
	every_prefix(64u << 20, 1024, 130, 3);
}
END_TEST

/* Log offset of the commit block of the one transaction in the log. */
static uint64_t commit_block(const char *img, uint32_t bs, size_t n)
{
	uint8_t *blk = malloc(bs);
	st_read_block(img, bs, 0, blk);
	struct ef_super sb;
	memcpy(&sb, blk, sizeof(sb));
	st_read_block(img, bs, sb.journal_start, blk);
	struct ef_jsuper js;
	memcpy(&js, blk, sizeof(js));
	free(blk);
	uint64_t ndesc = (n + EF_JDESC_MAX(bs) - 1) / EF_JDESC_MAX(bs);
	return js.start + n + ndesc; /* no wrap on a fresh journal */
}

START_TEST(torn_commit_block_ignored)
{
	const char *img = st_path("j.img");
	uint64_t homes[6];
	base_image(img, 16u << 20, 4096, homes, 6, 97);
	crash_child(img, homes, 6, -1, false);
	uint64_t cb = commit_block(img, 4096, 6);
	uint8_t blk[4096];
	st_read_block(img, 4096, cb, blk);
	ck_assert_int_eq(meta_verify(blk, 4096, EF_MAGIC_JCOMMIT, cb), 0);
	blk[4000] ^= 0xff; /* torn: the tail of the commit block never made it */
	st_write_block(img, 4096, cb, blk);
	struct storage *st = open_img(img);
	ck_assert_uint_eq(st->journal_replayed, 0);
	ck_assert_int_eq(storage_close(st), 0);
	ck_assert_int_eq(all_same(img, 4096, homes, 6), 0xa1);
}
END_TEST

START_TEST(damaged_image_in_log_ignored)
{
	const char *img = st_path("j.img");
	uint64_t homes[6];
	base_image(img, 16u << 20, 4096, homes, 6, 97);
	crash_child(img, homes, 6, -1, false);
	uint64_t cb = commit_block(img, 4096, 6);
	uint8_t blk[4096];
	st_read_block(img, 4096, cb - 3, blk); /* an image, not a header */
	blk[2000] ^= 0x10;
	st_write_block(img, 4096, cb - 3, blk);
	struct storage *st = open_img(img);
	ck_assert_uint_eq(st->journal_replayed, 0);
	ck_assert_int_eq(storage_close(st), 0);
	ck_assert_int_eq(all_same(img, 4096, homes, 6), 0xa1);
}
END_TEST

struct replay_cut {
	struct disk *d;
	int left;
	uint64_t homes[64];
	int n;
};

static int apply_count(void *arg, uint64_t home, const void *image)
{
	struct replay_cut *r = arg;
	(void)image;
	r->homes[r->n++ % 64] = home;
	return 0;
}

static int apply_then_fail(void *arg, uint64_t home, const void *image)
{
	struct replay_cut *r = arg;
	if (r->left-- == 0)
		return -EIO; /* the power goes during replay */
	return disk_write(r->d, home, 1, image);
}

static struct ef_super raw_super(const char *img)
{
	uint8_t blk[4096];
	st_read_block(img, 4096, 0, blk);
	struct ef_super sb;
	memcpy(&sb, blk, sizeof(sb));
	return sb;
}

START_TEST(replay_idempotent_even_if_interrupted)
{
	const char *img = st_path("j.img");
	uint64_t homes[6];
	base_image(img, 16u << 20, 4096, homes, 6, 97);
	crash_child(img, homes, 6, -1, false);
	struct ef_super sb = raw_super(img);
	struct disk d;
	char err[256];
	ck_assert_int_eq(disk_open(img, false, &d, err, sizeof(err)), 0);
	d.block_size = sb.block_size;
	/* fsck's view (apply callback, no writes): the same images each time */
	struct replay_cut r1 = {0}, r2 = {0};
	uint64_t ntx = 0;
	ck_assert_int_eq(journal_replay(&d, &sb, apply_count, &r1, &ntx), 0);
	ck_assert_uint_eq(ntx, 1);
	ck_assert_int_eq(r1.n, 6);
	ck_assert_int_eq(journal_replay(&d, &sb, apply_count, &r2, &ntx), 0);
	ck_assert_int_eq(memcmp(r1.homes, r2.homes, sizeof(r1.homes)), 0);
	ck_assert_int_eq(all_same(img, 4096, homes, 6), 0xa1);
	/* a replay that dies half-way leaves a mix at home ... */
	struct replay_cut r3 = {.d = &d, .left = 3};
	ck_assert_int_eq(journal_replay(&d, &sb, apply_then_fail, &r3, &ntx), -EIO);
	disk_close(&d);
	ck_assert_int_eq(raw_pattern(img, 4096, homes[0]), 0xb2);
	ck_assert_int_eq(raw_pattern(img, 4096, homes[5]), 0xa1);
	/* ... which the next replay completes */
	struct storage *st = open_img(img);
	ck_assert_uint_eq(st->journal_replayed, 1);
	ck_assert_int_eq(storage_close(st), 0);
	ck_assert_int_eq(all_same(img, 4096, homes, 6), 0xb2);
	st = open_img(img);
	ck_assert_uint_eq(st->journal_replayed, 0);
	ck_assert_int_eq(storage_close(st), 0);
	ck_assert_int_eq(all_same(img, 4096, homes, 6), 0xb2);
}
END_TEST

struct worker {
	struct storage *st;
	uint64_t home;
	int iters;
};

/* Many small transactions; each bumps a counter in its block. */
static void *bump(void *arg)
{
	struct worker *w = arg;
	uint32_t bs = w->st->sb.block_size;
	for (int i = 0; i < w->iters; i++) {
		struct tx *tx;
		ck_assert_int_eq(tx_begin(w->st->journal, 4, &tx), 0);
		struct buf *b;
		int rc = bread(w->st->bcache, w->home, EF_MAGIC_EXTENT, &b);
		ck_assert_int_eq(rc, 0);
		uint32_t v;
		memcpy(&v, b->data + 64, 4);
		v++;
		memcpy(b->data + 64, &v, 4);
		tx_add(tx, b);
		brelse(b);
		ck_assert_int_eq(tx_end(tx), 0);
	}
	(void)bs;
	return NULL;
}

static uint32_t raw_counter(const char *img, uint32_t bs, uint64_t home)
{
	uint8_t *blk = malloc(bs);
	st_read_block(img, bs, home, blk);
	ck_assert_int_eq(meta_verify(blk, bs, EF_MAGIC_EXTENT, home), 0);
	uint32_t v;
	memcpy(&v, blk + 64, 4);
	free(blk);
	return v;
}

static void zero_counters(struct storage *st, const uint64_t *homes, size_t n)
{
	struct tx *tx;
	ck_assert_int_eq(tx_begin(st->journal, (uint32_t)n, &tx), 0);
	for (size_t i = 0; i < n; i++) {
		struct buf *b;
		ck_assert_int_eq(bread_new(st->bcache, homes[i], &b), 0);
		meta_seal(b->data, st->sb.block_size, EF_MAGIC_EXTENT, homes[i]);
		tx_add(tx, b);
		brelse(b);
	}
	ck_assert_int_eq(tx_end(tx), 0);
}

START_TEST(group_commit_and_concurrent_updates)
{
	const char *img = st_path("g.img");
	st_mkfs(img, 16u << 20, 4096, 0);
	struct storage *st = open_img(img);
	/* 4 threads on 2 blocks: two threads share each block */
	uint64_t homes[2] = {st->sb.data_start + 10, st->sb.data_start + 20};
	zero_counters(st, homes, 2);
	struct worker w[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){st, homes[i % 2], 500};
		pthread_create(&t[i], NULL, bump, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	struct journal_stats js;
	journal_get_stats(st->journal, &js);
	/* 2000 transactions shared far fewer commits */
	ck_assert_uint_lt(js.commits, 2000 / 10);
	ck_assert_int_eq(storage_close(st), 0);
	ck_assert_uint_eq(raw_counter(img, 4096, homes[0]), 1000);
	ck_assert_uint_eq(raw_counter(img, 4096, homes[1]), 1000);
}
END_TEST

START_TEST(log_wraps_around_and_replays)
{
	const char *img = st_path("w.img");
	st_mkfs(img, 8u << 20, 1024, 0); /* a small journal: 128 blocks */
	struct storage *st = open_img(img);
	uint64_t log_len = st->sb.journal_len - 1;
	uint64_t homes[16];
	for (int i = 0; i < 16; i++)
		homes[i] = st->sb.data_start + 100 + (uint64_t)i * 7;
	zero_counters(st, homes, 16);
	ck_assert_int_eq(storage_close(st), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* each commit logs desc + 16 + commit: the log wraps many times */
		struct storage *cs;
		char err[256];
		if (storage_open(img, false, &cs, err, sizeof(err)) < 0)
			_exit(3);
		for (uint64_t round = 0; round < 3 * log_len / 18 + 5; round++) {
			struct tx *tx;
			if (tx_begin(cs->journal, 16, &tx) < 0)
				_exit(4);
			for (int i = 0; i < 16; i++) {
				struct buf *b;
				if (bread(cs->bcache, homes[i], EF_MAGIC_EXTENT, &b) < 0)
					_exit(5);
				uint32_t v = (uint32_t)round + 1;
				memcpy(b->data + 64, &v, 4);
				tx_add(tx, b);
				brelse(b);
			}
			tx_end(tx);
			if (journal_commit(cs->journal, round % 3 == 0) < 0)
				_exit(6);
		}
		journal_commit(cs->journal, true);
		_exit(0); /* crash: whatever was not checkpointed is in the log */
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d", status);
	st = open_img(img);
	ck_assert_uint_ge(st->journal_replayed, 1);
	ck_assert_int_eq(storage_close(st), 0);
	uint32_t want = (uint32_t)(3 * log_len / 18 + 5);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(raw_counter(img, 1024, homes[i]), want);
}
END_TEST

/* Transfers between counter blocks: each transaction takes one unit from
   one block and gives it to another, so the sum is invariant whatever
   subset of whole transactions reaches the device. */
struct mover {
	struct storage *st;
	const uint64_t *homes;
	unsigned seed;
};

static void *move_units(void *arg)
{
	struct mover *m = arg;
	for (;;) {
		unsigned a = (unsigned)rand_r(&m->seed) % 16, b = (unsigned)rand_r(&m->seed) % 16;
		if (a == b)
			continue;
		uint64_t lo = m->homes[a < b ? a : b], hi = m->homes[a < b ? b : a];
		struct tx *tx;
		if (tx_begin(m->st->journal, 2, &tx) < 0)
			_exit(7);
		struct buf *bl, *bh; /* lock order: lower block first */
		if (bread(m->st->bcache, lo, EF_MAGIC_EXTENT, &bl) < 0 ||
		    bread(m->st->bcache, hi, EF_MAGIC_EXTENT, &bh) < 0)
			_exit(8);
		int32_t vl, vh;
		memcpy(&vl, bl->data + 64, 4);
		memcpy(&vh, bh->data + 64, 4);
		vl += a < b ? -1 : 1;
		vh += a < b ? 1 : -1;
		memcpy(bl->data + 64, &vl, 4);
		memcpy(bh->data + 64, &vh, 4);
		tx_add(tx, bl);
		tx_add(tx, bh);
		brelse(bh);
		brelse(bl);
		tx_end(tx);
		if (rand_r(&m->seed) % 50 == 0)
			journal_commit(m->st->journal, rand_r(&m->seed) % 2);
	}
	return NULL;
}

START_TEST(sigkill_during_concurrent_transactions_keeps_invariant)
{
	const char *img = st_path("k.img");
	st_mkfs(img, 8u << 20, 1024, 0); /* small log: commits, wraps and checkpoints */
	struct storage *st = open_img(img);
	uint64_t homes[16];
	for (int i = 0; i < 16; i++)
		homes[i] = st->sb.data_start + 50 + (uint64_t)i * 5;
	zero_counters(st, homes, 16);
	ck_assert_int_eq(storage_close(st), 0);
	unsigned seed = 12345;
	int moved = 0;
	for (int round = 0; round < 6; round++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct storage *cs;
			char err[256];
			if (storage_open(img, false, &cs, err, sizeof(err)) < 0)
				_exit(3);
			struct mover m[3];
			pthread_t t[3];
			for (int i = 0; i < 3; i++) {
				m[i] = (struct mover){cs, homes, (unsigned)(round * 7 + i)};
				pthread_create(&t[i], NULL, move_units, &m[i]);
			}
			pause(); /* until killed */
			_exit(0);
		}
		usleep(50000 + (useconds_t)(rand_r(&seed) % 250) * 1000);
		kill(pid, SIGKILL);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "child exited early: %d", status);
		st = open_img(img); /* replays */
		ck_assert_int_eq(storage_close(st), 0);
		int32_t sum = 0;
		for (int i = 0; i < 16; i++) {
			int32_t v = (int32_t)raw_counter(img, 1024, homes[i]);
			sum += v;
			moved += v != 0;
		}
		ck_assert_msg(sum == 0, "round %d: sum %d after the crash", round, sum);
	}
	ck_assert_int_gt(moved, 0); /* transactions did reach the device */
}
END_TEST

/* Recomputes the commit block's crc after the descriptor at log block
   dpos was changed (and re-sealed), so the transaction verifies again. */
static void reseal_tx(const char *img, uint32_t bs, uint64_t first, uint64_t cb)
{
	uint8_t *blk = malloc(bs);
	uint32_t crc = 0;
	for (uint64_t b = first; b < cb; b++) {
		st_read_block(img, bs, b, blk);
		crc = crc32c(crc, blk, bs);
	}
	st_read_block(img, bs, cb, blk);
	struct ef_jcommit c;
	memcpy(&c, blk, sizeof(c));
	c.tx_crc = crc;
	memcpy(blk, &c, sizeof(c));
	meta_seal(blk, bs, EF_MAGIC_JCOMMIT, cb);
	st_write_block(img, bs, cb, blk);
	free(blk);
}

/* Seeded mutations of the log: random bit flips anywhere in the
   transaction, and descriptors whose fields are changed and re-sealed
   (with the commit crc recomputed, so the parser's own checks must catch
   them). Mount never crashes, never applies half a transaction, and
   refuses what names impossible blocks. */
START_TEST(mutated_log_never_crashes_or_half_applies)
{
	const char *base = st_path("fb.img"), *img = st_path("fw.img");
	uint64_t homes[6];
	base_image(base, 16u << 20, 4096, homes, 6, 97);
	crash_child(base, homes, 6, -1, false);
	uint64_t cb = commit_block(base, 4096, 6), first = cb - 7;
	struct ef_super sb = raw_super(base);
	/* EIOCBFS_TEST_SEED replays another sequence; a failure names the seed
	   and the mutation, so it can be run again alone. (A failure here once
	   showed homes[0] old and the others new: the signature of replaying a
	   descriptor whose home was changed, which the misdirection check in
	   scan_tx refuses; without that check every seed fails at once.) */
	const char *env_seed = getenv("EIOCBFS_TEST_SEED");
	unsigned seed0 = env_seed ? (unsigned)strtoul(env_seed, NULL, 0) : 777, seed = seed0;
	int applied = 0, skipped = 0, refused = 0;
	for (int iter = 0; iter < 80; iter++) {
		int how = iter % 2 ? -1 : -2; /* -2: bit flips, else the descriptor field changed */
		st_copy(base, img);
		uint8_t blk[4096];
		if (iter % 2 == 0) {
			uint64_t b = first + (uint64_t)rand_r(&seed) % 8;
			st_read_block(img, 4096, b, blk);
			for (int k = 0; k < 1 + iter % 5; k++)
				blk[rand_r(&seed) % 4096] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
			st_write_block(img, 4096, b, blk);
		} else {
			st_read_block(img, 4096, first, blk);
			struct ef_jdesc d;
			memcpy(&d, blk, sizeof(d));
			uint64_t *home = (uint64_t *)(blk + sizeof(d));
			static const uint64_t odd[] = {0, 1, UINT64_MAX, 1ull << 40, 4095, 4096};
			switch ((how = rand_r(&seed) % 4)) {
			case 0:
				d.count = (uint32_t)rand_r(&seed) % 1000;
				break;
			case 1:
				home[rand_r(&seed) % 6] = odd[rand_r(&seed) % 6];
				break;
			case 2:
				home[rand_r(&seed) % 6] =
				    sb.journal_start + 1 + (uint64_t)rand_r(&seed) % 10;
				break;
			default:
				d.seq += 1;
				break;
			}
			memcpy(blk, &d, sizeof(d));
			meta_seal(blk, 4096, EF_MAGIC_JDESC, first);
			st_write_block(img, 4096, first, blk);
			reseal_tx(img, 4096, first, cb);
		}
		struct storage *st;
		char err[256] = "";
		int rc = storage_open(img, false, &st, err, sizeof(err));
		if (rc < 0) {
			ck_assert_msg(rc == -EUCLEAN && strstr(err, "journal"), "rc %d: %s", rc,
				      err);
			refused++;
			continue;
		}
		bool replayed = st->journal_replayed == 1;
		ck_assert_int_eq(storage_close(st), 0);
		/* homes other than the six may have been hit by a re-sealed bad home
		   that is still legal (e.g. block 0 or 4095): then the six are
		   still all-or-nothing */
		ck_assert(!replayed || iter % 2 == 1); /* a flipped bit never verifies */
		int v = raw_pattern(img, 4096, homes[0]);
		for (int i = 1; i < 6; i++) {
			int w = raw_pattern(img, 4096, homes[i]);
			ck_assert_msg(
			    w == v,
			    "seed %u iteration %d (mutation %d, %s): home %d holds %#x, home 0 %#x",
			    seed0, iter, how, replayed ? "replayed" : "not replayed", i, w, v);
		}
		if (replayed)
			applied++;
		else
			skipped++;
	}
	ck_assert_int_gt(skipped, 10);
	ck_assert_int_gt(refused + applied, 1);
}
END_TEST

static int eio_hook(void *arg, uint64_t blockno, struct jwrite_damage *dmg)
{
	(void)arg, (void)blockno, (void)dmg;
	return -EIO;
}

START_TEST(io_error_stops_the_journal_and_marks_the_filesystem)
{
	const char *img = st_path("e.img");
	uint64_t homes[4];
	base_image(img, 16u << 20, 4096, homes, 4, 11);
	struct storage *st = open_img(img);
	journal_set_write_hook(st->journal, eio_hook, NULL);
	tx_pattern(st, homes, 4, 0xb2);
	ck_assert_int_eq(journal_commit(st->journal, true), -EIO);
	/* nothing more is accepted: no transaction may build on a lost one */
	struct tx *tx;
	ck_assert_int_eq(tx_begin(st->journal, 1, &tx), -EIO);
	ck_assert_int_eq(storage_close(st), -EIO);
	/* the error is recorded for fsck; the old contents are intact */
	uint8_t blk[4096];
	st_read_block(img, 4096, 0, blk);
	ck_assert_uint_eq(((struct ef_super *)blk)->state & EF_STATE_ERROR, EF_STATE_ERROR);
	ck_assert_int_eq(all_same(img, 4096, homes, 4), 0xa1);
	st = open_img(img);
	ck_assert_uint_eq(st->sb.state & EF_STATE_ERROR, EF_STATE_ERROR);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

START_TEST(set_error_is_durable)
{
	const char *img = st_path("e.img");
	st_mkfs(img, 16u << 20, 4096, 0);
	struct storage *st = open_img(img);
	ck_assert_int_eq(storage_set_error(st, 1234), 0);
	uint8_t blk[4096];
	/* committed (in the log) at once; home after close */
	ck_assert_int_eq(storage_close(st), 0);
	st_read_block(img, 4096, 0, blk);
	struct ef_super *sb = (struct ef_super *)blk;
	ck_assert_uint_eq(sb->state, EF_STATE_CLEAN | EF_STATE_ERROR);
	ck_assert_uint_eq(sb->error_count, 1);
	ck_assert_uint_eq(sb->first_error_block, 1234);
}
END_TEST

START_TEST(oversized_transaction_refused)
{
	const char *img = st_path("o.img");
	st_mkfs(img, 8u << 20, 1024, 0);
	struct storage *st = open_img(img);
	struct tx *tx;
	ck_assert_int_eq(tx_begin(st->journal, (uint32_t)st->sb.journal_len, &tx), -E2BIG);
	uint32_t max = journal_max_tx(st->journal);
	ck_assert_uint_gt(max, 16);
	ck_assert_int_eq(tx_begin(st->journal, max + 1, &tx), -E2BIG);
	ck_assert_int_eq(tx_begin(st->journal, max, &tx), 0);
	ck_assert_int_eq(tx_end(tx), 0);
	ck_assert_int_eq(storage_close(st), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, committed_transaction_replayed_after_crash);
	tcase_add_test(tc, every_prefix_all_or_nothing_4k);
	tcase_add_test(tc, every_prefix_all_or_nothing_multi_descriptor_1k);
	tcase_add_test(tc, torn_commit_block_ignored);
	tcase_add_test(tc, damaged_image_in_log_ignored);
	tcase_add_test(tc, replay_idempotent_even_if_interrupted);
	tcase_add_test(tc, group_commit_and_concurrent_updates);
	tcase_add_test(tc, log_wraps_around_and_replays);
	tcase_add_test(tc, oversized_transaction_refused);
	tcase_add_test(tc, mutated_log_never_crashes_or_half_applies);
	tcase_add_test(tc, io_error_stops_the_journal_and_marks_the_filesystem);
	tcase_add_test(tc, set_error_is_durable);
	tcase_add_test(tc, sigkill_during_concurrent_transactions_keeps_invariant);
	suite_add_tcase(s, tc);
	return st_run(s);
}
