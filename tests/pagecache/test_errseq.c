/*
 * test_errseq.c: the per-file write-back error (errseq.h), Linux's
 * errseq_t rules: each open file description reports each error once; an
 * error recorded while a description was open reaches it even after another
 * description reported it; an error nobody saw reaches later openers; the
 * same errno recorded again after being seen is a new error.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "errseq.h"

START_TEST(test_errseq_nothing_recorded_reports_nothing)
{
	errseq_t e = 0;
	uint32_t fd = errseq_sample(&e);

	ck_assert_int_eq(errseq_check(&e, fd), 0);
	ck_assert_int_eq(errseq_check_and_advance(&e, &fd), 0);
	errseq_set(&e, 0); /* not an error */
	ck_assert_int_eq(errseq_check_and_advance(&e, &fd), 0);
}
END_TEST

START_TEST(test_errseq_once_per_open_file_description)
{
	errseq_t e = 0;
	uint32_t a = errseq_sample(&e), b = errseq_sample(&e);

	errseq_set(&e, -EIO);
	ck_assert_int_eq(errseq_check(&e, a), -EIO);
	ck_assert_int_eq(errseq_check_and_advance(&e, &a), -EIO);
	ck_assert_int_eq(errseq_check_and_advance(&e, &a), 0); /* the retry succeeds */
	/* b was open when the error happened: it still sees it, once. */
	ck_assert_int_eq(errseq_check_and_advance(&e, &b), -EIO);
	ck_assert_int_eq(errseq_check_and_advance(&e, &b), 0);
	/* Opened after the error was seen: nothing to report. */
	uint32_t c = errseq_sample(&e);
	ck_assert_int_eq(errseq_check_and_advance(&e, &c), 0);
}
END_TEST

START_TEST(test_errseq_unseen_error_reaches_a_later_opener)
{
	errseq_t e = 0;

	errseq_set(&e, -ENOSPC);
	uint32_t late = errseq_sample(&e);
	ck_assert_int_eq(errseq_check_and_advance(&e, &late), -ENOSPC);
	ck_assert_int_eq(errseq_check_and_advance(&e, &late), 0);
}
END_TEST

START_TEST(test_errseq_same_errno_after_seen_is_new)
{
	errseq_t e = 0;
	uint32_t a = errseq_sample(&e);

	errseq_set(&e, -EIO);
	errseq_set(&e, -EIO); /* unseen: no new value */
	ck_assert_int_eq(errseq_check_and_advance(&e, &a), -EIO);
	errseq_set(&e, -EIO); /* seen: the counter moves */
	ck_assert_int_eq(errseq_check_and_advance(&e, &a), -EIO);
	ck_assert_int_eq(errseq_check_and_advance(&e, &a), 0);
	/* The latest errno wins. */
	errseq_set(&e, -EIO);
	errseq_set(&e, -ENOSPC);
	ck_assert_int_eq(errseq_check_and_advance(&e, &a), -ENOSPC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("errseq");
	TCase *tc = tcase_create("errseq_rules");

	tcase_add_test(tc, test_errseq_nothing_recorded_reports_nothing);
	tcase_add_test(tc, test_errseq_once_per_open_file_description);
	tcase_add_test(tc, test_errseq_unseen_error_reaches_a_later_opener);
	tcase_add_test(tc, test_errseq_same_errno_after_seen_is_new);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
