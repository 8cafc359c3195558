/*
 * eiocb_stress_model.h: what eiocb-stress checks, apart from how it drives
 * the I/O (layer: tool; calls libc only). Three parts:
 *
 *  1. The block format. Every block the writers write carries a header
 *     (magic, run id, block index, sequence number, writer, size) and a
 *     checksum over the whole block, so a read recognises an unwritten
 *     block, a block of an earlier run, a torn block and a misplaced one.
 *
 *  2. The per-block ledger and the stale-read rule (docs/semantics.md P5): a block
 *     belongs to one writer and has at most one write in flight, so its
 *     writes are ordered. The writer bumps `submitted` before submitting and
 *     `completed` after reaping the event, and on success publishes the
 *     write's sequence number as `acked` first. A reader snapshots the block
 *     before and after its read: a read returning a sequence number older
 *     than `acked` as it was BEFORE the read began is stale (a P5
 *     violation); a torn block is allowed while a write of it overlaps the
 *     read, after a failed write, or before the block's first write (the
 *     file's earlier content, in any format), and is corruption otherwise.
 *
 *  3. The event ledger (docs/semantics.md R7): each submitted iocb must get exactly
 *     one event; an event for an iocb not in flight is a duplicate, one for
 *     an unknown iocb is bogus, and what is still in flight at the end was
 *     lost.
 */
#ifndef EIOCB_STRESS_MODEL_H
#define EIOCB_STRESS_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_MAGIC 0x52545342434f4945ull /* "EIOCBSTR" little-endian */
#define ES_MIN_BLOCK 512u

struct es_hdr {
	uint64_t magic;
	uint64_t run;	/* this run's id: blocks of earlier runs count as unwritten */
	uint64_t block; /* index of the block in the file */
	uint64_t seq;	/* the block's write sequence number, from 1 */
	uint32_t writer;
	uint32_t size; /* block size */
	uint64_t sum;  /* checksum of the block with this field zero */
};

/* Fills buf (size bytes, >= ES_MIN_BLOCK) as write seq of block in run. */
void es_block_fill(void *buf, uint32_t size, uint64_t run, uint64_t block, uint64_t seq,
		   uint32_t writer);

enum es_decode {
	ES_VALID,     /* this run's block: *seq is its sequence number */
	ES_UNWRITTEN, /* all zero, or another run's block: *seq = 0 */
	ES_TORN,      /* neither: a mix of writes, or other data (what the file held) */
	ES_MISPLACED, /* this run's valid block, but of another index */
};

/* Decodes a block read back at index block. */
enum es_decode es_block_decode(const void *buf, uint32_t size, uint64_t run, uint64_t block,
			       uint64_t *seq);

/* The per-block ledger (part 2). Written by the block's one writer. */
struct es_block {
	atomic_uint_least64_t submitted; /* writes submitted */
	atomic_uint_least64_t completed; /* their events reaped */
	atomic_uint_least64_t acked;	 /* seq of the latest write whose event was a success */
	atomic_uint_least64_t last;	 /* seq of the latest write submitted */
	bool inflight;			 /* writer-private */
};

/* Writer: before submitting write seq of b. */
void es_block_submit(struct es_block *b, uint64_t seq);
/* Writer: after reaping the event of write seq of b; ok: it reported success. */
void es_block_complete(struct es_block *b, uint64_t seq, bool ok);

struct es_snap {
	uint64_t submitted, completed, acked, last;
};

/* Reader: the block's state just before (and again just after) its read. */
void es_block_snap(struct es_block *b, struct es_snap *s);

enum es_read_verdict {
	ES_READ_OK,
	ES_READ_STALE,	 /* P5 violation: older than a write acknowledged before the read */
	ES_READ_TORN,	 /* torn while a write of the block overlapped the read: allowed */
	ES_READ_CORRUPT, /* torn with no write overlapping, misplaced, or from the future */
};

/*
 * Judges one read of a block: decoded as d with sequence number seq,
 * between the snapshots before and after.
 */
enum es_read_verdict es_judge_read(const struct es_snap *before, const struct es_snap *after,
				   enum es_decode d, uint64_t seq);

/* The event ledger (part 3), for n iocbs identified by index. Single-threaded. */
struct es_ledger {
	size_t n;
	bool *inflight;
	uint64_t submitted, events, duplicated, unknown;
};

int es_ledger_init(struct es_ledger *l, size_t n);
void es_ledger_free(struct es_ledger *l);
/* Before submitting iocb i; false if it is still in flight (a tool bug). */
bool es_ledger_submit(struct es_ledger *l, size_t i);
/* io_submit refused iocb i after es_ledger_submit: it expects no event. */
void es_ledger_unsubmit(struct es_ledger *l, size_t i);
/* An event naming iocb index i (-1: not one of ours). true if it was the one expected. */
bool es_ledger_event(struct es_ledger *l, long i);
/* Iocbs submitted and never given an event (lost once the run is over). */
uint64_t es_ledger_inflight(const struct es_ledger *l);

/* A fast, seedable generator (splitmix64). */
static inline uint64_t es_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
