/*
 * test_ratelimit.c: the daemon's log rate limiter (fs/daemon/ratelimit.h), on a
 * clock the test drives: the first `burst` lines pass, then none, and a
 * summary with the exact count held back comes at most once per interval;
 * nothing counted is lost (summaries + flush = held back); concurrent
 * takers pass exactly `burst` lines. No docs/semantics.md rule: docs/semantics.md section 4
 * asks legacy's double completions to be "logged as an oops report"; this
 * is how that log stays readable under thousands of them.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>

#include "ratelimit.h"

#define SEC 1000000000ull

START_TEST(burst_passes_then_counts_once_a_second)
{
	struct ratelimit rl;
	uint64_t s, t = 5 * SEC;
	ratelimit_init(&rl, 3, SEC);
	for (int i = 0; i < 3; i++) {
		ck_assert(ratelimit_take(&rl, t, &s));
		ck_assert_uint_eq(s, 0);
	}
	/* Held back: no summary within the interval after the burst. */
	for (int i = 0; i < 1000; i++) {
		ck_assert(!ratelimit_take(&rl, t + (uint64_t)i * 100000, &s));
		ck_assert_uint_eq(s, 0);
	}
	/* A second later: one summary with everything held back, itself included. */
	ck_assert(!ratelimit_take(&rl, t + SEC, &s));
	ck_assert_uint_eq(s, 1001);
	ck_assert(!ratelimit_take(&rl, t + SEC + 1, &s));
	ck_assert_uint_eq(s, 0);
	ck_assert(!ratelimit_take(&rl, t + 2 * SEC - 1, &s));
	ck_assert_uint_eq(s, 0);
	ck_assert(!ratelimit_take(&rl, t + 2 * SEC + 7, &s));
	ck_assert_uint_eq(s, 3);
	/* Never a line again, however long the pause. */
	ck_assert(!ratelimit_take(&rl, t + 100 * SEC, &s));
	ck_assert_uint_eq(s, 1);
	ck_assert_uint_eq(ratelimit_flush(&rl), 0);
	ck_assert_uint_eq(rl.held_total, 1005);
	ratelimit_destroy(&rl);
}
END_TEST

START_TEST(flush_reports_what_is_left)
{
	struct ratelimit rl;
	uint64_t s;
	ratelimit_init(&rl, 1, SEC);
	ck_assert(ratelimit_take(&rl, 0, &s));
	ck_assert_uint_eq(ratelimit_flush(&rl), 0);
	for (int i = 0; i < 5; i++)
		ck_assert(!ratelimit_take(&rl, 10, &s));
	ck_assert_uint_eq(ratelimit_flush(&rl), 5);
	ck_assert_uint_eq(ratelimit_flush(&rl), 0);
	ratelimit_destroy(&rl);
}
END_TEST

START_TEST(zero_burst_logs_only_counts)
{
	struct ratelimit rl;
	uint64_t s;
	ratelimit_init(&rl, 0, SEC);
	ck_assert(!ratelimit_take(&rl, SEC, &s));
	ck_assert_uint_eq(s, 1); /* the clock starts at 0: an interval has passed */
	ratelimit_destroy(&rl);
}
END_TEST

struct racer {
	struct ratelimit *rl;
	int passed;
	uint64_t summed;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t s;
	for (int i = 0; i < 20000; i++) {
		if (ratelimit_take(r->rl, (uint64_t)i * (SEC / 1000), &s))
			r->passed++;
		r->summed += s;
	}
	return NULL;
}

START_TEST(concurrent_takers_pass_exactly_the_burst)
{
	struct ratelimit rl;
	ratelimit_init(&rl, 10, SEC);
	struct racer r[4] = {{&rl, 0, 0}, {&rl, 0, 0}, {&rl, 0, 0}, {&rl, 0, 0}};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
	int passed = 0;
	uint64_t summed = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		passed += r[i].passed;
		summed += r[i].summed;
	}
	ck_assert_int_eq(passed, 10);
	/* every line held back is in exactly one summary or in the flush */
	ck_assert_uint_eq(summed + ratelimit_flush(&rl), 4 * 20000 - 10);
	ratelimit_destroy(&rl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("ratelimit");
	tcase_add_test(tc, burst_passes_then_counts_once_a_second);
	tcase_add_test(tc, flush_reports_what_is_left);
	tcase_add_test(tc, zero_burst_logs_only_counts);
	tcase_add_test(tc, concurrent_takers_pass_exactly_the_burst);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
