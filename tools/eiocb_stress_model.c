/*
 * eiocb_stress_model.c: the block format, the stale-read rule and the event
 * ledger of eiocb-stress (layer: tool; see eiocb_stress_model.h). Calls libc
 * only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eiocb_stress_model.h"

static inline uint64_t es_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* Checksum of the block, word by word, with the header's sum field taken as zero. */
static uint64_t es_sum(const void *buf, uint32_t size)
{
	const unsigned char *p = buf;
	uint64_t h = 0x6a09e667f3bcc909ull ^ size;

	for (uint32_t i = 0; i < size; i += 8) {
		uint64_t w;

		if (i == offsetof(struct es_hdr, sum))
			w = 0;
		else
			memcpy(&w, p + i, 8);
		h = es_rotl(h ^ w, 29) * 0x9fb21c651e98df25ull;
	}
	return h ^ (h >> 32);
}

void es_block_fill(void *buf, uint32_t size, uint64_t run, uint64_t block, uint64_t seq,
		   uint32_t writer)
{
	struct es_hdr h = {.magic = ES_MAGIC,
			   .run = run,
			   .block = block,
			   .seq = seq,
			   .writer = writer,
			   .size = size};
	uint64_t st = run ^ es_rotl(block, 17) ^ es_rotl(seq, 41);
	unsigned char *p = buf;

	/* The body differs for every (run, block, seq): a torn mix never checks out. */
	for (uint32_t i = sizeof(h); i < size; i += 8) {
		uint64_t w = es_rand(&st);

		memcpy(p + i, &w, 8);
	}
	memcpy(p, &h, sizeof(h));
	h.sum = es_sum(buf, size);
	memcpy(p + offsetof(struct es_hdr, sum), &h.sum, sizeof(h.sum));
}

static bool es_all_zero(const unsigned char *p, uint32_t size)
{
	return p[0] == 0 && memcmp(p, p + 1, size - 1) == 0;
}

enum es_decode es_block_decode(const void *buf, uint32_t size, uint64_t run, uint64_t block,
			       uint64_t *seq)
{
	struct es_hdr h;

	*seq = 0;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != ES_MAGIC)
		return es_all_zero(buf, size) ? ES_UNWRITTEN : ES_TORN;
	if (h.run != run)
		return ES_UNWRITTEN; /* an earlier run's data: older than any write of ours */
	if (h.size != size || h.sum != es_sum(buf, size))
		return ES_TORN;
	if (h.block != block)
		return ES_MISPLACED;
	*seq = h.seq;
	return ES_VALID;
}

void es_block_submit(struct es_block *b, uint64_t seq)
{
	atomic_store_explicit(&b->last, seq, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->submitted, 1, memory_order_seq_cst);
}

void es_block_complete(struct es_block *b, uint64_t seq, bool ok)
{
	/* acked before completed: a reader that sees the completion sees the ack. */
	if (ok)
		atomic_store_explicit(&b->acked, seq, memory_order_seq_cst);
	atomic_fetch_add_explicit(&b->completed, 1, memory_order_seq_cst);
}

void es_block_snap(struct es_block *b, struct es_snap *s)
{
	s->completed = atomic_load_explicit(&b->completed, memory_order_seq_cst);
	s->acked = atomic_load_explicit(&b->acked, memory_order_seq_cst);
	s->submitted = atomic_load_explicit(&b->submitted, memory_order_seq_cst);
	s->last = atomic_load_explicit(&b->last, memory_order_seq_cst);
}

enum es_read_verdict es_judge_read(const struct es_snap *before, const struct es_snap *after,
				   enum es_decode d, uint64_t seq)
{
	/* No write of the block in flight at any time between the two snapshots. */
	bool quiet =
	    before->submitted == before->completed && after->submitted == before->submitted;

	switch (d) {
	case ES_MISPLACED:
		return ES_READ_CORRUPT;
	case ES_TORN:
		/* Never written in this run: whatever the file held before (any format). */
		if (after->last == 0)
			return ES_READ_OK;
		/* A failed write may leave part of its data: only after a success is torn wrong. */
		if (quiet && before->acked == before->last)
			return ES_READ_CORRUPT;
		return ES_READ_TORN;
	case ES_VALID:
	case ES_UNWRITTEN:
		break;
	}
	if (seq > after->last)
		return ES_READ_CORRUPT; /* a write that was never submitted */
	if (seq < before->acked)
		return ES_READ_STALE;
	return ES_READ_OK;
}

int es_ledger_init(struct es_ledger *l, size_t n)
{
	*l = (struct es_ledger){.n = n, .inflight = calloc(n, sizeof(bool))};
	return l->inflight ? 0 : -ENOMEM;
}

void es_ledger_free(struct es_ledger *l)
{
	free(l->inflight);
	l->inflight = NULL;
}

bool es_ledger_submit(struct es_ledger *l, size_t i)
{
	if (i >= l->n || l->inflight[i])
		return false;
	l->inflight[i] = true;
	l->submitted++;
	return true;
}

void es_ledger_unsubmit(struct es_ledger *l, size_t i)
{
	if (i < l->n && l->inflight[i]) {
		l->inflight[i] = false;
		l->submitted--;
	}
}

bool es_ledger_event(struct es_ledger *l, long i)
{
	l->events++;
	if (i < 0 || (size_t)i >= l->n) {
		l->unknown++;
		return false;
	}
	if (!l->inflight[i]) {
		l->duplicated++;
		return false;
	}
	l->inflight[i] = false;
	return true;
}

uint64_t es_ledger_inflight(const struct es_ledger *l)
{
	uint64_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->inflight[i];
	return n;
}
