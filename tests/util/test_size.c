/*
 * test_size.c: the byte-size parser (fs/util/size.h): the grammar's
 * accepted forms and values, and a one-line reason for each kind of bad
 * input (empty, negative, garbage, ambiguous suffix, overflow).
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "size.h"

static uint64_t ok(const char *s)
{
	char err[256] = "";
	uint64_t v = 12345;

	ck_assert_msg(size_parse(s, &v, err, sizeof(err)) == 0, "%s refused: %s", s, err);
	return v;
}

/* Refused with ret, a reason naming the input (or saying empty), one line. */
static void bad(const char *s, int ret, const char *why)
{
	char err[256] = "";
	uint64_t v = 777;

	ck_assert_int_eq(size_parse(s, &v, err, sizeof(err)), ret);
	ck_assert_uint_eq(v, 777); /* untouched */
	ck_assert_msg(strstr(err, why), "'%s': %s", s, err);
	ck_assert_msg(!strchr(err, '\n'), "%s", err);
	if (*s)
		ck_assert_msg(strstr(err, s), "'%s': %s", s, err);
}

START_TEST(accepted)
{
	ck_assert_uint_eq(ok("0"), 0);
	ck_assert_uint_eq(ok("4096"), 4096);
	ck_assert_uint_eq(ok("4K"), 4096);
	ck_assert_uint_eq(ok("4k"), 4096);
	ck_assert_uint_eq(ok("4KiB"), 4096);
	ck_assert_uint_eq(ok("64M"), 64ull << 20);
	ck_assert_uint_eq(ok("64MiB"), 64ull << 20);
	ck_assert_uint_eq(ok("1G"), 1ull << 30);
	ck_assert_uint_eq(ok("1g"), 1ull << 30);
	ck_assert_uint_eq(ok("2T"), 2ull << 40);
	ck_assert_uint_eq(ok("007"), 7); /* decimal, not octal */
	ck_assert_uint_eq(ok("18446744073709551615"), UINT64_MAX);
	ck_assert_uint_eq(ok("16777215T"), 16777215ull << 40);
	ck_assert_int_eq(size_parse("1M", &(uint64_t){0}, NULL, 0), 0); /* err optional */
}
END_TEST

START_TEST(refused)
{
	bad("", -EINVAL, "empty");
	bad("-1", -EINVAL, "negative");
	bad("-4K", -EINVAL, "negative");
	bad("K", -EINVAL, "not a size");
	bad("12X", -EINVAL, "not a size");
	bad("1.5G", -EINVAL, "not a size");
	bad(" 4K", -EINVAL, "not a size");
	bad("4K ", -EINVAL, "not a size");
	bad("+4", -EINVAL, "not a size");
	bad("0x10", -EINVAL, "not a size");
	bad("4Ki", -EINVAL, "not a size");
	bad("4KK", -EINVAL, "not a size");
	bad("4E", -EINVAL, "not a size");
	bad("64MB", -EINVAL, "write 64M or 64MiB");
	bad("1kb", -EINVAL, "write 1K or 1KiB");
	bad("18446744073709551616", -ERANGE, "too large");
	bad("99999999999999999999999", -ERANGE, "too large");
	bad("16777216T", -ERANGE, "too large");
	bad("17179869184G", -ERANGE, "too large");
	ck_assert_int_eq(size_parse("x", &(uint64_t){0}, NULL, 0), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("size");
	TCase *tc = tcase_create("size");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, accepted);
	tcase_add_test(tc, refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
