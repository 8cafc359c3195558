/*
 * journal.c: the journal layer of fs/ storage, a write-ahead log of whole
 * metadata blocks (xv6's log.c with jbd2's group commit and deferred
 * checkpoint). Calls disk, meta and bcache (bref/bput, buf_jseq) only; it
 * knows nothing of what the blocks mean. On-disk records: layout.h.
 *
 * Life of a transaction:
 *   running    handles join it (tx_begin .. tx_end) and add buffers to it;
 *              each buffer joins once (buf_jseq) and is referenced (bref)
 *   closing    commit waits until no handle is open; tx_begin waits too
 *   frozen     a copy of every buffer is taken and sealed (crc); the next
 *              transaction starts at once, the copies are what is logged
 *   committed  descriptors + images + commit block written to the log in
 *              one or two sequential writes; with durable, then a flush
 *              (the commit block's crc covers the whole transaction, so one
 *              flush suffices: jbd2's async_commit)
 *   checkpointed  the newest image of every block written home, flushed,
 *              and the journal superblock moved past it; the buffer
 *              references are dropped (the cache may now evict them) and
 *              on_checkpoint tells the allocator the freed blocks are safe
 *              to reuse (a stale image can no longer be replayed over them)
 *
 * Group commit: all handles share the running transaction; it commits when
 * a new handle's reservation would not fit (tx_begin), on journal_commit
 * (fsync), on the timer, and at journal_destroy. Commits and checkpoints
 * are serialised by io_mu; j->mu guards the running transaction only and
 * is never held across device I/O. Lock order: io_mu, then mu, then the
 * bcache's lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage.h"
#include "storage_int.h"

struct jtx {
	uint64_t seq;
	struct buf **bufs;
	size_t n, cap;
	uint32_t handles;
	uint64_t reserved; /* blocks promised to the handles that joined */
	bool closing;
};

struct tx {
	struct journal *j;
	struct jtx *t;
	uint32_t max, added; /* reserved, and buffers this handle brought in */
};

/* The newest committed, not yet checkpointed image of one block. */
struct jimage {
	uint64_t home;
	uint8_t *data;
	struct buf *b; /* referenced until the checkpoint */
	struct jimage *next;
};

struct journal {
	struct disk *d;
	struct bcache *bc;
	uint32_t bs;
	uint64_t jsuper_blk, log_first, log_len;
	uint64_t desc_max, tx_limit;
	struct journal_opts o;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct jtx *running;
	int error;
	uint64_t committed_seq, durable_seq; /* written under io_mu and mu */

	pthread_mutex_t io_mu; /* commits and checkpoints; guards what follows */
	uint64_t head;	       /* log offset of the next transaction */
	uint64_t used;	       /* log blocks not yet checkpointed */
	struct jimage **map;   /* blocks waiting for the checkpoint */
	size_t nmap_slots, nmap;
	journal_write_hook_fn hook;
	void *hook_arg;
	bool cut; /* the write hook simulated a power cut */

	pthread_t timer;
	bool timer_running, stop;
	pthread_cond_t timer_cond;

	struct journal_stats st;
};

static uint64_t tx_blocks(const struct journal *j, uint64_t nimages)
{
	return nimages + (nimages + j->desc_max - 1) / j->desc_max + 1;
}

static struct jtx *jtx_new(struct journal *j, uint64_t seq)
{
	struct jtx *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->seq = seq;
	t->cap = j->tx_limit;
	t->bufs = calloc(t->cap, sizeof(*t->bufs));
	if (!t->bufs) {
		free(t);
		return NULL;
	}
	return t;
}

static void jtx_free(struct jtx *t)
{
	if (t)
		free(t->bufs);
	free(t);
}

/* One block written as dmg says, the device reporting success. */
static int jwrite_damaged(struct journal *j, uint64_t blockno, const uint8_t *blk,
			  const struct jwrite_damage *dmg)
{
	uint32_t sector = j->d->logical_block ? j->d->logical_block : 512;

	switch (dmg->what) {
	case JW_LOST:
		return 0;
	case JW_TORN: {
		/* Whole sectors only: a device tears at sector boundaries. */
		uint32_t keep = dmg->keep < j->bs ? dmg->keep / sector * sector : j->bs;
		return keep ? disk_pwrite(j->d, blk, keep, blockno * j->bs) : 0;
	}
	case JW_CORRUPT: {
		uint8_t *copy = disk_alloc_buf(j->d, j->bs);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, blk, j->bs);
		copy[dmg->byte % j->bs] ^= dmg->bits;
		int rc = disk_write(j->d, blockno, 1, copy);
		free(copy);
		return rc;
	}
	default:
		return disk_write(j->d, blockno, 1, blk);
	}
}

/* Every device write of the journal; the hook can fail, damage or cut it. */
static int jwrite(struct journal *j, uint64_t blockno, uint64_t n, const uint8_t *buf)
{
	if (!j->hook)
		return disk_write(j->d, blockno, (uint32_t)n, buf);
	/* Asked block by block; the blocks it lets through whole go down in one
	   write (the daemon's errors= hook is always set: a commit stays one
	   write unless a fault damages one of its blocks). */
	uint64_t start = 0; /* blocks [start, i) wait to be written whole */
	for (uint64_t i = 0; i < n; i++) {
		struct jwrite_damage dmg = {.what = JW_WHOLE};
		int h = j->cut ? 1 : j->hook(j->hook_arg, blockno + i, &dmg);
		if (h == 0 && dmg.what == JW_WHOLE)
			continue;
		int rc = i > start ? disk_write(j->d, blockno + start, (uint32_t)(i - start),
						buf + start * j->bs)
				   : 0;
		if (rc < 0)
			return rc;
		start = i + 1;
		if (h < 0) { /* an I/O error; a torn block's prefix lands first */
			if (dmg.what == JW_TORN)
				jwrite_damaged(j, blockno + i, buf + i * j->bs, &dmg);
			return h;
		}
		if (h > 0) {
			j->cut = true; /* a power cut: this write and all later ones are lost */
			return 0;
		}
		if ((rc = jwrite_damaged(j, blockno + i, buf + i * j->bs, &dmg)) < 0)
			return rc;
	}
	return n > start
		   ? disk_write(j->d, blockno + start, (uint32_t)(n - start), buf + start * j->bs)
		   : 0;
}

static int jflush(struct journal *j)
{
	if (j->cut)
		return 0;
	j->st.flushes++;
	return disk_flush(j->d);
}

static void set_error(struct journal *j, int rc)
{
	pthread_mutex_lock(&j->mu);
	if (!j->error)
		j->error = rc;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
}

/* ---- handles --------------------------------------------------------------- */

static int do_commit(struct journal *j, bool durable, uint64_t want);

int tx_begin(struct journal *j, uint32_t max_blocks, struct tx **out)
{
	*out = NULL;
	if (j->o.readonly)
		return -EROFS;
	if (max_blocks == 0)
		max_blocks = 1;
	if (tx_blocks(j, max_blocks) > j->tx_limit)
		return -E2BIG;
	struct tx *tx = malloc(sizeof(*tx));
	if (!tx)
		return -ENOMEM;
	pthread_mutex_lock(&j->mu);
	for (;;) {
		struct jtx *t = j->running;
		if (j->error) {
			int rc = j->error;
			pthread_mutex_unlock(&j->mu);
			free(tx);
			return rc;
		}
		if (t->closing) {
			pthread_cond_wait(&j->cond, &j->mu);
			continue;
		}
		if (tx_blocks(j, t->reserved + max_blocks) > j->tx_limit) {
			if (t->n == 0) { /* only open reservations: wait for a tx_end */
				pthread_cond_wait(&j->cond, &j->mu);
				continue;
			}
			/* The running transaction is full: commit it (log space is
			   made by checkpointing inside the commit if needed). */
			uint64_t seq = t->seq; /* t may be committed and freed once mu is dropped */
			pthread_mutex_unlock(&j->mu);
			int rc = do_commit(j, false, seq);
			pthread_mutex_lock(&j->mu);
			if (rc < 0 && !j->error)
				j->error = rc;
			continue;
		}
		t->handles++;
		t->reserved += max_blocks;
		tx->j = j;
		tx->t = t;
		tx->max = max_blocks;
		tx->added = 0;
		pthread_mutex_unlock(&j->mu);
		*out = tx;
		return 0;
	}
}

void tx_add(struct tx *tx, struct buf *b)
{
	struct journal *j = tx->j;
	pthread_mutex_lock(&j->mu);
	struct jtx *t = tx->t;
	uint64_t *js = buf_jseq(b);
	if (*js != t->seq) {
		if (t->n == t->cap) {
			if (!j->error)
				j->error = -E2BIG; /* more blocks than any reservation allows */
		} else {
			*js = t->seq;
			t->bufs[t->n++] = b;
			tx->added++;
			bref(b);
		}
	}
	pthread_mutex_unlock(&j->mu);
}

int tx_end(struct tx *tx)
{
	struct journal *j = tx->j;
	pthread_mutex_lock(&j->mu);
	/* Give back what this handle reserved and did not use. */
	tx->t->reserved -= tx->max - (tx->added < tx->max ? tx->added : tx->max);
	tx->t->handles--;
	pthread_cond_broadcast(&j->cond);
	int rc = j->error;
	pthread_mutex_unlock(&j->mu);
	free(tx);
	return rc;
}

uint32_t journal_max_tx(const struct journal *j)
{
	uint64_t n = j->tx_limit - 1; /* less the commit block, then the descriptors */
	n -= (n + j->desc_max) / (j->desc_max + 1);
	while (n && tx_blocks(j, n) > j->tx_limit)
		n--;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

uint64_t tx_seq(const struct tx *tx)
{
	return tx->t->seq;
}

/* ---- the checkpoint map ------------------------------------------------------ */

static struct jimage **map_find(struct journal *j, uint64_t home)
{
	struct jimage **pp = &j->map[(home * 0x9e3779b97f4a7c15ull >> 17) & (j->nmap_slots - 1)];
	while (*pp && (*pp)->home != home)
		pp = &(*pp)->next;
	return pp;
}

static int cmp_image(const void *a, const void *b)
{
	const struct jimage *x = *(struct jimage *const *)a, *y = *(struct jimage *const *)b;
	return x->home < y->home ? -1 : x->home > y->home;
}

static int write_jsuper(struct journal *j, uint64_t seq, uint64_t start)
{
	uint8_t *blk = disk_alloc_buf(j->d, j->bs);
	if (!blk)
		return -ENOMEM;
	struct ef_jsuper js = {.version = EF_JOURNAL_VERSION, .seq = seq, .start = start};
	memcpy(blk, &js, sizeof(js));
	meta_seal(blk, j->bs, EF_MAGIC_JSUPER, j->jsuper_blk);
	int rc = jwrite(j, j->jsuper_blk, 1, blk);
	free(blk);
	return rc;
}

/* Writes the images (sorted by home) home, neighbours in one write. */
static int write_home(struct journal *j, struct jimage **v, size_t n)
{
	enum { RUN = 64 };
	uint8_t *run = disk_alloc_buf(j->d, (size_t)RUN * j->bs);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		size_t k = 1;
		while (run && i + k < n && k < RUN && v[i + k]->home == v[i]->home + k)
			k++;
		if (k == 1) {
			rc = jwrite(j, v[i]->home, 1, v[i]->data);
		} else {
			for (size_t x = 0; x < k; x++)
				memcpy(run + x * j->bs, v[i + x]->data, j->bs);
			rc = jwrite(j, v[i]->home, k, run);
		}
		i += k;
	}
	free(run);
	return rc;
}

/* Writes every committed image home and empties the log. Precondition:
   io_mu held. */
static int checkpoint_locked(struct journal *j)
{
	if (j->used == 0)
		return 0;
	int rc = 0;
	if (j->durable_seq < j->committed_seq) {
		rc = jflush(j); /* the log before anything reaches home */
		if (rc < 0)
			return rc;
	}
	struct jimage **v = malloc((j->nmap + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < j->nmap_slots; i++)
		for (struct jimage *e = j->map[i]; e; e = e->next)
			v[n++] = e;
	qsort(v, n, sizeof(*v), cmp_image);
	rc = write_home(j, v, n);
	if (rc == 0)
		rc = jflush(j);
	/* The new start: replay never goes back over what is home now. The
	   flush after it makes reuse of blocks freed in these transactions
	   safe (no replay of an older image over their new data). */
	if (rc == 0)
		rc = write_jsuper(j, j->committed_seq + 1, j->log_first + j->head);
	if (rc == 0)
		rc = jflush(j);
	if (rc < 0) {
		free(v);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		bput(v[i]->b);
		free(v[i]->data);
		free(v[i]);
	}
	free(v);
	memset(j->map, 0, j->nmap_slots * sizeof(*j->map));
	pthread_mutex_lock(&j->mu);
	j->durable_seq = j->committed_seq;
	pthread_mutex_unlock(&j->mu);
	j->st.checkpoints++;
	j->st.blocks_checkpointed += n;
	j->nmap = 0;
	j->used = 0;
	if (j->o.on_checkpoint)
		j->o.on_checkpoint(j->o.arg, j->committed_seq);
	return 0;
}

int journal_checkpoint(struct journal *j)
{
	pthread_mutex_lock(&j->io_mu);
	int rc = checkpoint_locked(j);
	pthread_mutex_unlock(&j->io_mu);
	if (rc < 0)
		set_error(j, rc);
	return rc;
}

/* ---- commit ------------------------------------------------------------------ */

/* Closes the running transaction and freezes copies of its blocks into
   imgs (n of them); returns it, or NULL when it is empty. Precondition:
   io_mu held, mu not held. */
static struct jtx *freeze(struct journal *j, uint8_t ***imgs, int *err)
{
	*err = 0;
	pthread_mutex_lock(&j->mu);
	struct jtx *t = j->running;
	if (t->n == 0) {
		pthread_mutex_unlock(&j->mu);
		return NULL;
	}
	struct jtx *next = jtx_new(j, t->seq + 1);
	/* t->cap, not t->n: open handles may add blocks while we wait for them below */
	uint8_t **v = calloc(t->cap, sizeof(*v));
	if (!next || !v) {
		pthread_mutex_unlock(&j->mu);
		jtx_free(next);
		free(v);
		*err = -ENOMEM;
		return NULL;
	}
	t->closing = true;
	while (t->handles > 0)
		pthread_cond_wait(&j->cond, &j->mu);
	for (size_t i = 0; i < t->n; i++) {
		struct buf *b = t->bufs[i];
		if (posix_memalign((void **)&v[i], 4096, j->bs)) {
			*err = -ENOMEM;
			break;
		}
		memcpy(v[i], b->data, j->bs);
		struct ef_blkhdr h;
		memcpy(&h, v[i], sizeof(h));
		if (meta_known_magic(h.magic)) /* metadata has a header: seal it */
			meta_seal(v[i], j->bs, h.magic, b->blockno);
	}
	j->running = next;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
	*imgs = v;
	return t;
}

/* Writes transaction t (images imgs) to the log. Precondition: io_mu held. */
static int log_write(struct journal *j, struct jtx *t, uint8_t **imgs, bool durable)
{
	uint64_t total = tx_blocks(j, t->n);
	if (total > j->log_len)
		return -E2BIG;
	if (j->used + total > j->log_len) {
		int rc = checkpoint_locked(j);
		if (rc < 0)
			return rc;
	}
	uint8_t *stage = disk_alloc_buf(j->d, total * j->bs);
	if (!stage)
		return -ENOMEM;
	uint64_t pos = 0;
	uint32_t crc = 0;
	for (size_t i = 0; i < t->n;) {
		uint8_t *dblk = stage + pos * j->bs;
		uint64_t dpos = pos++;
		size_t cnt = t->n - i < j->desc_max ? t->n - i : j->desc_max;
		struct ef_jdesc dh = {.seq = t->seq, .count = (uint32_t)cnt};
		memcpy(dblk, &dh, sizeof(dh));
		uint64_t *home = (uint64_t *)(dblk + sizeof(dh));
		for (size_t k = 0; k < cnt; k++, i++) {
			home[k] = t->bufs[i]->blockno;
			memcpy(stage + pos++ * j->bs, imgs[i], j->bs);
		}
		meta_seal(dblk, j->bs, EF_MAGIC_JDESC,
			  j->log_first + (j->head + dpos) % j->log_len);
	}
	crc = crc32c(0, stage, pos * j->bs);
	struct ef_jcommit c = {.seq = t->seq,
			       .nblocks = (uint32_t)pos,
			       .tx_crc = crc,
			       .commit_time = (uint64_t)time(NULL)};
	uint8_t *cblk = stage + pos * j->bs;
	memcpy(cblk, &c, sizeof(c));
	meta_seal(cblk, j->bs, EF_MAGIC_JCOMMIT, j->log_first + (j->head + pos) % j->log_len);
	/* One sequential write, or two where the log wraps. */
	uint64_t first = j->log_len - j->head < total ? j->log_len - j->head : total;
	int rc = jwrite(j, j->log_first + j->head, first, stage);
	if (rc == 0 && first < total)
		rc = jwrite(j, j->log_first, total - first, stage + first * j->bs);
	free(stage);
	if (rc == 0 && durable)
		rc = jflush(j);
	if (rc < 0)
		return rc;
	j->head = (j->head + total) % j->log_len;
	j->used += total;
	j->st.commits++;
	j->st.blocks_logged += t->n;
	return 0;
}

/* The committed images wait for the checkpoint in the map (newest wins). */
static void map_insert(struct journal *j, struct jtx *t, uint8_t **imgs)
{
	for (size_t i = 0; i < t->n; i++) {
		struct buf *b = t->bufs[i];
		struct jimage **pp = map_find(j, b->blockno);
		if (*pp) {
			free((*pp)->data);
			(*pp)->data = imgs[i];
			bput(b); /* the map holds one reference already */
		} else {
			struct jimage *e = malloc(sizeof(*e));
			if (!e) { /* keep the image reachable: write it home now */
				if (disk_write(j->d, b->blockno, 1, imgs[i]) < 0)
					set_error(j, -EIO);
				free(imgs[i]);
				bput(b);
				continue;
			}
			e->home = b->blockno;
			e->data = imgs[i];
			e->b = b;
			e->next = NULL;
			*pp = e;
			j->nmap++;
		}
	}
}

/* Commits the running transaction unless transaction want is committed
   already (and durable, if asked); with durable, flushes. */
static int do_commit(struct journal *j, bool durable, uint64_t want)
{
	pthread_mutex_lock(&j->io_mu);
	pthread_mutex_lock(&j->mu);
	bool done = j->committed_seq >= want;
	bool flushed = j->durable_seq >= want;
	pthread_mutex_unlock(&j->mu);
	int rc = 0;
	if (!done) {
		uint8_t **imgs = NULL;
		struct jtx *t = freeze(j, &imgs, &rc);
		if (t && rc == 0)
			rc = log_write(j, t, imgs, durable);
		if (t && rc == 0) {
			map_insert(j, t, imgs);
			pthread_mutex_lock(&j->mu);
			j->committed_seq = t->seq;
			if (durable)
				j->durable_seq = t->seq;
			pthread_mutex_unlock(&j->mu);
		} else if (t) {
			for (size_t i = 0; i < t->n; i++) {
				if (imgs)
					free(imgs[i]);
				bput(t->bufs[i]);
			}
		}
		free(imgs);
		jtx_free(t);
		flushed = flushed || durable;
	}
	if (rc == 0 && durable && !flushed) {
		pthread_mutex_lock(&j->mu);
		bool need = j->durable_seq < j->committed_seq;
		pthread_mutex_unlock(&j->mu);
		if (need) {
			rc = jflush(j);
			pthread_mutex_lock(&j->mu);
			if (rc == 0)
				j->durable_seq = j->committed_seq;
			pthread_mutex_unlock(&j->mu);
		}
	}
	pthread_mutex_unlock(&j->io_mu);
	if (rc < 0)
		set_error(j, rc);
	return rc;
}

int journal_commit(struct journal *j, bool durable)
{
	pthread_mutex_lock(&j->mu);
	/* Everything added before this call is in the running transaction or
	   in the one before it (committed, or being committed right now). */
	uint64_t want = j->running->n ? j->running->seq : j->running->seq - 1;
	pthread_mutex_unlock(&j->mu);
	return do_commit(j, durable, want);
}

/* ---- timer ------------------------------------------------------------------- */

static void *timer_main(void *arg)
{
	struct journal *j = arg;
	unsigned ticks = 0;
	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)j->o.commit_interval_ms * 1000000ull;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
		pthread_cond_timedwait(&j->timer_cond, &j->mu, &ts);
		if (j->stop)
			break;
		pthread_mutex_unlock(&j->mu);
		journal_commit(j, true);
		/* Checkpoint when the log fills up, and every few ticks anyway so
		   freed blocks become reusable and the log stays short to replay. */
		pthread_mutex_lock(&j->io_mu);
		bool ck = j->used > j->log_len / 4 || (j->used && ++ticks % 6 == 0);
		pthread_mutex_unlock(&j->io_mu);
		if (ck)
			journal_checkpoint(j);
		pthread_mutex_lock(&j->mu);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* ---- create / destroy ------------------------------------------------------- */

static int read_jsuper(struct disk *d, const struct ef_super *sb, struct ef_jsuper *js)
{
	uint32_t bs = sb->block_size;
	uint8_t *blk = disk_alloc_buf(d, bs);
	if (!blk)
		return -ENOMEM;
	int rc = disk_read(d, sb->journal_start, 1, blk);
	if (rc == 0)
		rc = meta_verify(blk, bs, EF_MAGIC_JSUPER, sb->journal_start);
	if (rc == 0)
		memcpy(js, blk, sizeof(*js));
	free(blk);
	if (rc == 0 && (js->version != EF_JOURNAL_VERSION || js->start <= sb->journal_start ||
			js->start >= sb->journal_start + sb->journal_len))
		rc = -EUCLEAN;
	return rc;
}

int journal_create(struct disk *d, struct bcache *bc, const struct ef_super *sb,
		   const struct journal_opts *o, struct journal **out)
{
	*out = NULL;
	struct ef_jsuper js;
	int rc = read_jsuper(d, sb, &js);
	if (rc < 0)
		return rc;
	struct journal *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->d = d;
	j->bc = bc;
	j->bs = sb->block_size;
	j->jsuper_blk = sb->journal_start;
	j->log_first = sb->journal_start + 1;
	j->log_len = sb->journal_len - 1;
	j->desc_max = EF_JDESC_MAX(j->bs);
	j->tx_limit = j->log_len < 512 ? j->log_len / 2 : j->log_len / 4;
	if (j->tx_limit > 65536) /* a damaged (or foreign) size must not size our memory */
		j->tx_limit = 65536;
	if (o)
		j->o = *o;
	j->head = js.start - j->log_first;
	j->committed_seq = j->durable_seq = js.seq - 1;
	j->nmap_slots = 64;
	while (j->nmap_slots < j->log_len && j->nmap_slots < (1u << 20))
		j->nmap_slots <<= 1;
	j->map = calloc(j->nmap_slots, sizeof(*j->map));
	j->running = jtx_new(j, js.seq);
	if (!j->map || !j->running) {
		free(j->map);
		jtx_free(j->running);
		free(j);
		return -ENOMEM;
	}
	pthread_mutex_init(&j->mu, NULL);
	pthread_mutex_init(&j->io_mu, NULL);
	pthread_cond_init(&j->cond, NULL);
	pthread_cond_init(&j->timer_cond, NULL);
	if (j->o.commit_interval_ms && pthread_create(&j->timer, NULL, timer_main, j) == 0)
		j->timer_running = true;
	*out = j;
	return 0;
}

int journal_destroy(struct journal *j)
{
	if (!j)
		return 0;
	if (j->timer_running) {
		pthread_mutex_lock(&j->mu);
		j->stop = true;
		pthread_cond_signal(&j->timer_cond);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->timer, NULL);
	}
	int rc = j->error;
	if (rc == 0)
		rc = journal_commit(j, true);
	if (rc == 0)
		rc = journal_checkpoint(j);
	/* On error, drop what is left: the log keeps it for the next replay. */
	for (size_t i = 0; i < j->nmap_slots; i++) {
		for (struct jimage *e = j->map[i], *n; e; e = n) {
			n = e->next;
			bput(e->b);
			free(e->data);
			free(e);
		}
	}
	for (size_t i = 0; i < j->running->n; i++)
		bput(j->running->bufs[i]);
	jtx_free(j->running);
	free(j->map);
	pthread_mutex_destroy(&j->mu);
	pthread_mutex_destroy(&j->io_mu);
	pthread_cond_destroy(&j->cond);
	pthread_cond_destroy(&j->timer_cond);
	free(j);
	return rc;
}

void journal_get_stats(struct journal *j, struct journal_stats *st)
{
	pthread_mutex_lock(&j->io_mu);
	pthread_mutex_lock(&j->mu);
	*st = j->st;
	st->running_seq = j->running->seq;
	pthread_mutex_unlock(&j->mu);
	pthread_mutex_unlock(&j->io_mu);
}

void journal_set_write_hook(struct journal *j, journal_write_hook_fn fn, void *arg)
{
	pthread_mutex_lock(&j->io_mu);
	j->hook = fn;
	j->hook_arg = arg;
	j->cut = false;
	pthread_mutex_unlock(&j->io_mu);
}

/* ---- replay ------------------------------------------------------------------- */

/* One transaction at log offset pos with sequence seq: *len its blocks
   (commit included) when it verifies, 0 when it does not (the end of the
   log), -EUCLEAN when it verifies but cannot be what a commit wrote: a
   home block outside the device or inside the journal, or a metadata
   image whose own header does not verify at its home. */
static int scan_tx(struct disk *d, const struct ef_super *sb, uint64_t pos, uint64_t seq,
		   uint8_t *dblk, uint8_t *blk, uint64_t *len)
{
	uint32_t bs = sb->block_size;
	uint64_t log_first = sb->journal_start + 1, log_len = sb->journal_len - 1;
	uint64_t desc_max = EF_JDESC_MAX(bs), n = 0;
	uint32_t crc = 0;
	bool bad = false;
	*len = 0;
	for (;;) {
		if (n >= log_len)
			return 0;
		uint64_t at = log_first + (pos + n) % log_len;
		int rc = disk_read(d, at, 1, dblk);
		if (rc < 0)
			return rc;
		struct ef_blkhdr h;
		memcpy(&h, dblk, sizeof(h));
		if (h.magic == EF_MAGIC_JCOMMIT) {
			struct ef_jcommit c;
			memcpy(&c, dblk, sizeof(c));
			if (n == 0 || meta_verify(dblk, bs, EF_MAGIC_JCOMMIT, at) < 0 ||
			    c.seq != seq || c.nblocks != n || c.tx_crc != crc)
				return 0;
			*len = n + 1;
			return bad ? -EUCLEAN : 0;
		}
		struct ef_jdesc dh;
		memcpy(&dh, dblk, sizeof(dh));
		if (meta_verify(dblk, bs, EF_MAGIC_JDESC, at) < 0 || dh.seq != seq ||
		    dh.count == 0 || dh.count > desc_max || n + 1 + dh.count >= log_len)
			return 0;
		const uint64_t *home = (const uint64_t *)(dblk + sizeof(dh));
		crc = crc32c(crc, dblk, bs);
		n++;
		for (uint32_t k = 0; k < dh.count; k++, n++) {
			rc = disk_read(d, log_first + (pos + n) % log_len, 1, blk);
			if (rc < 0)
				return rc;
			crc = crc32c(crc, blk, bs);
			if (home[k] >= sb->nblocks ||
			    (home[k] >= sb->journal_start &&
			     home[k] < sb->journal_start + sb->journal_len))
				bad = true;
			struct ef_blkhdr ih;
			memcpy(&ih, blk, sizeof(ih));
			if (meta_known_magic(ih.magic) &&
			    meta_verify(blk, bs, ih.magic, home[k]) < 0)
				bad = true;
		}
	}
}

/* Applies the verified transaction at pos. */
static int apply_tx(struct disk *d, const struct ef_super *sb, uint64_t pos, uint64_t len,
		    uint8_t *dblk, uint8_t *blk,
		    int (*apply)(void *arg, uint64_t home, const void *image), void *arg)
{
	uint64_t log_first = sb->journal_start + 1, log_len = sb->journal_len - 1;
	for (uint64_t n = 0; n + 1 < len;) {
		int rc = disk_read(d, log_first + (pos + n) % log_len, 1, dblk);
		if (rc < 0)
			return rc;
		struct ef_jdesc dh;
		memcpy(&dh, dblk, sizeof(dh));
		const uint64_t *home = (const uint64_t *)(dblk + sizeof(dh));
		n++;
		for (uint32_t k = 0; k < dh.count; k++, n++) {
			rc = disk_read(d, log_first + (pos + n) % log_len, 1, blk);
			if (rc == 0)
				rc = apply ? apply(arg, home[k], blk)
					   : disk_write(d, home[k], 1, blk);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int journal_replay(struct disk *d, const struct ef_super *sb,
		   int (*apply)(void *arg, uint64_t home, const void *image), void *arg,
		   uint64_t *ntx)
{
	if (ntx)
		*ntx = 0;
	if (sb->journal_len < 3 || d->block_size != sb->block_size)
		return -EINVAL;
	struct ef_jsuper js;
	int rc = read_jsuper(d, sb, &js);
	if (rc < 0)
		return rc;
	uint32_t bs = sb->block_size;
	uint64_t log_first = sb->journal_start + 1, log_len = sb->journal_len - 1;
	uint8_t *blk = disk_alloc_buf(d, bs), *dblk = disk_alloc_buf(d, bs);
	if (!blk || !dblk) {
		free(blk);
		free(dblk);
		return -ENOMEM;
	}
	uint64_t pos = js.start - log_first, seq = js.seq, count = 0, total = 0;
	for (;;) {
		uint64_t len;
		rc = scan_tx(d, sb, pos, seq, dblk, blk, &len);
		if (rc < 0 || len == 0)
			break;
		/* A log longer than the journal would mean going round again. */
		if (total + len > log_len)
			break;
		if (!apply && d->readonly) {
			rc = -EROFS;
			break;
		}
		rc = apply_tx(d, sb, pos, len, dblk, blk, apply, arg);
		if (rc < 0)
			break;
		count++;
		total += len;
		seq++;
		pos = (pos + len) % log_len;
	}
	if (rc == 0 && !apply && count) {
		/* Home is durable before the log is declared empty. */
		rc = disk_flush(d);
		if (rc == 0) {
			struct ef_jsuper nj = {
			    .version = EF_JOURNAL_VERSION, .seq = seq, .start = log_first + pos};
			memset(blk, 0, bs);
			memcpy(blk, &nj, sizeof(nj));
			meta_seal(blk, bs, EF_MAGIC_JSUPER, sb->journal_start);
			rc = disk_write(d, sb->journal_start, 1, blk);
		}
		if (rc == 0)
			rc = disk_flush(d);
	}
	free(blk);
	free(dblk);
	if (ntx)
		*ntx = count;
	return rc;
}
