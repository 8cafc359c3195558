/*
 * test_daemon_opts.c: the eiocbfs command line (fs/daemon/daemon_opts.c), without a
 * mount. Pins down: options before or after the arguments (mount.fuse3's
 * order), eiocbfs' own options consumed and validated, everything else kept
 * for libfuse, and a one-line reason for every refusal.
 */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_opts.h"

static struct daemon_options o;
static char err[512];

/* Parses a NULL-terminated argument list (argv[0] = "eiocbfs" added). */
static int parse(const char *first, ...)
{
	char *argv[32] = {"eiocbfs"};
	int argc = 1;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	err[0] = '\0';
	return daemon_options_parse(argc, argv, &o, err, sizeof(err));
}

/* The arguments left for libfuse, joined by spaces. */
static const char *fuse_args_joined(void)
{
	static char buf[1024];

	buf[0] = '\0';
	for (int i = 1; i < o.fuse_args.argc; i++) {
		strcat(buf, o.fuse_args.argv[i]);
		strcat(buf, " ");
	}
	return buf;
}

START_TEST(test_options_before_arguments)
{
	ck_assert_int_eq(parse("-f", "-o", "ro,allow_other,kernel_cache", "img", "mnt", NULL), 0);
	ck_assert(o.foreground && o.readonly && o.kernel_cache && !o.debug);
	ck_assert_str_eq(o.target, "img");
	ck_assert_str_eq(o.mountpoint, "mnt");
	ck_assert_int_eq(o.semantics, SEM_DEFERRED);
	ck_assert_uint_eq(o.cache_mb, 0);
	/* ro also goes to the kernel; kernel_cache is ours alone. */
	ck_assert_ptr_nonnull(strstr(fuse_args_joined(), "allow_other"));
	ck_assert_ptr_nonnull(strstr(fuse_args_joined(), "ro"));
	ck_assert_ptr_null(strstr(fuse_args_joined(), "kernel_cache"));
	daemon_options_free(&o);
}
END_TEST

START_TEST(test_mount_fuse3_order)
{
	/* mount.fuse3 runs: eiocbfs TARGET MOUNTPOINT -o OPTS */
	ck_assert_int_eq(parse("/dev/loop0", "/mnt", "-o",
			       "rw,suid,dev,semantics=legacy,cache_mb=32,control=/run/e.sock",
			       NULL),
			 0);
	ck_assert_str_eq(o.target, "/dev/loop0");
	ck_assert_str_eq(o.mountpoint, "/mnt");
	ck_assert(!o.foreground);
	ck_assert_int_eq(o.semantics, SEM_LEGACY);
	ck_assert_uint_eq(o.cache_mb, 32);
	ck_assert_str_eq(o.control, "/run/e.sock");
	ck_assert_ptr_nonnull(strstr(fuse_args_joined(), "rw,suid,dev"));
	ck_assert_ptr_null(strstr(fuse_args_joined(), "semantics"));
	daemon_options_free(&o);
}
END_TEST

START_TEST(test_debug_implies_foreground)
{
	ck_assert_int_eq(parse("-d", "img", "mnt", NULL), 0);
	ck_assert(o.debug && o.foreground);
	ck_assert_ptr_nonnull(strstr(fuse_args_joined(), "-d"));
	daemon_options_free(&o);
}
END_TEST

START_TEST(test_faults_repeatable_in_order)
{
	ck_assert_int_eq(parse("-o", "fault=invalidate:errno=EIO:probability=50", "-o",
			       "fault=delay:ms=5,semantics=drop", "img", "mnt", NULL),
			 0);
	ck_assert_int_eq(o.nfaults, 2);
	ck_assert_str_eq(o.faults[0], "invalidate:errno=EIO:probability=50");
	ck_assert_str_eq(o.faults[1], "delay:ms=5");
	ck_assert_int_eq(o.semantics, SEM_DROP);
	daemon_options_free(&o);
}
END_TEST

/* Each refusal: -1, and a reason naming what is wrong. */
static void refused(const char *needle)
{
	ck_assert_msg(err[0] != '\0', "no reason given");
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_msg(strstr(err, needle), "reason '%s' does not mention '%s'", err, needle);
}

START_TEST(test_refusals)
{
	ck_assert_int_eq(parse("-o", "semantics=sometimes", "img", "mnt", NULL), -1);
	refused("sometimes");
	ck_assert_int_eq(parse("-o", "cache_mb=0", "img", "mnt", NULL), -1);
	refused("cache_mb");
	ck_assert_int_eq(parse("-o", "cache_mb=12abc", "img", "mnt", NULL), -1);
	refused("12abc");
	ck_assert_int_eq(parse("-o", "fault=nowhere:errno=EIO", "img", "mnt", NULL), -1);
	refused("nowhere");
	ck_assert_int_eq(parse("-o", "fault=invalidate:color=red", "img", "mnt", NULL), -1);
	refused("color");
	ck_assert_int_eq(parse("-o", "control=", "img", "mnt", NULL), -1);
	refused("control");
	ck_assert_int_eq(parse("-x", "img", "mnt", NULL), -1);
	refused("-x");
	ck_assert_int_eq(parse("img", NULL), -1);
	refused("usage");
	ck_assert_int_eq(parse("img", "mnt", "third", NULL), -1);
	refused("third");
}
END_TEST

START_TEST(test_help_needs_no_arguments)
{
	ck_assert_int_eq(parse("--help", NULL), 0);
	ck_assert(o.help);
	daemon_options_free(&o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon_opts");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_options_before_arguments);
	tcase_add_test(tc, test_mount_fuse3_order);
	tcase_add_test(tc, test_debug_implies_foreground);
	tcase_add_test(tc, test_faults_repeatable_in_order);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_help_needs_no_arguments);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
