/*
 * test_stress_model.c: the checking rules of eiocb-stress, alone: the block
 * format tells valid, unwritten, torn and misplaced blocks apart; the
 * stale-read rule of docs/semantics.md P5 (a read older than a write acknowledged
 * BEFORE the read began is stale; anything a racing or failed write explains
 * is not); the event ledger of R7 (exactly one event per submitted iocb).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "eiocb_stress_model.h"

#define BS 4096
#define RUN 0x1234567890abcdefull

START_TEST(block_format)
{
	static unsigned char a[BS], b[BS], mix[BS];
	uint64_t seq;

	es_block_fill(a, BS, RUN, 7, 3, 1);
	ck_assert_int_eq(es_block_decode(a, BS, RUN, 7, &seq), ES_VALID);
	ck_assert_uint_eq(seq, 3);
	/* Read at another index: data of the wrong block. */
	ck_assert_int_eq(es_block_decode(a, BS, RUN, 8, &seq), ES_MISPLACED);
	/* Another run's block, or zeros, is older than every write of this run. */
	ck_assert_int_eq(es_block_decode(a, BS, RUN + 1, 7, &seq), ES_UNWRITTEN);
	ck_assert_uint_eq(seq, 0);
	memset(b, 0, BS);
	ck_assert_int_eq(es_block_decode(b, BS, RUN, 7, &seq), ES_UNWRITTEN);
	/* Half of write 3 and half of write 4 of the same block: torn. */
	es_block_fill(b, BS, RUN, 7, 4, 1);
	memcpy(mix, a, BS / 2);
	memcpy(mix + BS / 2, b + BS / 2, BS / 2);
	ck_assert_int_eq(es_block_decode(mix, BS, RUN, 7, &seq), ES_TORN);
	/* The first sector of a write over zeros: torn, not unwritten. */
	memset(mix, 0, BS);
	memcpy(mix, b, 512);
	ck_assert_int_eq(es_block_decode(mix, BS, RUN, 7, &seq), ES_TORN);
	memset(mix, 0, BS);
	memcpy(mix + 512, b + 512, 512);
	ck_assert_int_eq(es_block_decode(mix, BS, RUN, 7, &seq), ES_TORN);
	/* One flipped bit anywhere. */
	memcpy(mix, a, BS);
	mix[BS - 1] ^= 0x10;
	ck_assert_int_eq(es_block_decode(mix, BS, RUN, 7, &seq), ES_TORN);
	/* Another block size on the same bytes. */
	ck_assert_int_eq(es_block_decode(a, 512, RUN, 7, &seq), ES_TORN);
}
END_TEST

/* Drives one block's ledger as the writer does. */
static void write_done(struct es_block *b, uint64_t seq, bool ok)
{
	es_block_submit(b, seq);
	es_block_complete(b, seq, ok);
}

START_TEST(P5_stale_read_rule)
{
	struct es_block b = {0};
	struct es_snap before, after;

	/* Never written: zeros (seq 0) are fine. */
	es_block_snap(&b, &before);
	after = before;
	ck_assert_int_eq(es_judge_read(&before, &after, ES_UNWRITTEN, 0), ES_READ_OK);
	/* So is whatever the file held before (an earlier run with another block size). */
	ck_assert_int_eq(es_judge_read(&before, &after, ES_TORN, 0), ES_READ_OK);

	/* Writes 1 and 2 acknowledged: a read that began after returning 1 is stale. */
	write_done(&b, 1, true);
	write_done(&b, 2, true);
	es_block_snap(&b, &before);
	after = before;
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 1), ES_READ_STALE);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_UNWRITTEN, 0), ES_READ_STALE);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 2), ES_READ_OK);

	/* Write 3 in flight during the read: 2 or 3 are both right. */
	es_block_snap(&b, &before);
	es_block_submit(&b, 3);
	es_block_snap(&b, &after);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 2), ES_READ_OK);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 3), ES_READ_OK);
	/* ... and its event arriving during the read does not make 2 stale:
	 * the success was not reported before the read began. */
	es_block_complete(&b, 3, true);
	es_block_snap(&b, &after);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 2), ES_READ_OK);
	/* A torn block while write 3 overlapped the read is allowed. */
	ck_assert_int_eq(es_judge_read(&before, &after, ES_TORN, 0), ES_READ_TORN);
	/* But once it is acknowledged, a read that begins later must see 3. */
	es_block_snap(&b, &before);
	after = before;
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 2), ES_READ_STALE);
	/* A torn block with no write anywhere near: corruption. */
	ck_assert_int_eq(es_judge_read(&before, &after, ES_TORN, 0), ES_READ_CORRUPT);
	/* A sequence number never submitted, or another block's data: corruption. */
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 4), ES_READ_CORRUPT);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_MISPLACED, 0), ES_READ_CORRUPT);

	/* Write 4 reports an error (-EIO): stale data may be visible, the error said so.
	 * 3 (the last success) and 4 (landed anyway) are fine; 2 is still stale. */
	write_done(&b, 4, false);
	es_block_snap(&b, &before);
	after = before;
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 3), ES_READ_OK);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 4), ES_READ_OK);
	ck_assert_int_eq(es_judge_read(&before, &after, ES_VALID, 2), ES_READ_STALE);
	/* A failed write may leave part of its data: torn is not corruption then. */
	ck_assert_int_eq(es_judge_read(&before, &after, ES_TORN, 0), ES_READ_TORN);
}
END_TEST

START_TEST(R7_event_ledger)
{
	struct es_ledger l;

	ck_assert_int_eq(es_ledger_init(&l, 4), 0);
	ck_assert(es_ledger_submit(&l, 0));
	ck_assert(es_ledger_submit(&l, 1));
	ck_assert(es_ledger_submit(&l, 2));
	ck_assert(!es_ledger_submit(&l, 2)); /* still in flight: cannot be reused */
	ck_assert(!es_ledger_submit(&l, 4)); /* not one of ours */
	es_ledger_unsubmit(&l, 2);	     /* io_submit refused it */
	ck_assert_uint_eq(l.submitted, 2);
	ck_assert(es_ledger_event(&l, 0));
	ck_assert(!es_ledger_event(&l, 0));  /* a second event for iocb 0 */
	ck_assert(!es_ledger_event(&l, 2));  /* an event for a refused iocb */
	ck_assert(!es_ledger_event(&l, -1)); /* an iocb that is not ours */
	ck_assert(!es_ledger_event(&l, 9));
	ck_assert_uint_eq(l.events, 5);
	ck_assert_uint_eq(l.duplicated, 2);
	ck_assert_uint_eq(l.unknown, 2);
	ck_assert_uint_eq(es_ledger_inflight(&l), 1); /* iocb 1 never completed: lost */
	ck_assert(es_ledger_submit(&l, 0));	      /* reusable after its event */
	es_ledger_free(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress_model");
	TCase *tc = tcase_create("model");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, block_format);
	tcase_add_test(tc, P5_stale_read_rule);
	tcase_add_test(tc, R7_event_ledger);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
