/*
 * test_fault.c: the fault points (docs/semantics.md section 6): every knob does
 * what it says, checked through the counters; both textual forms; bad
 * specs are refused with a one-line reason and change nothing.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault.h"

static struct faults *f;
static char err[256];

static void setup(void)
{
	f = faults_new(42, NULL, NULL);
	ck_assert_ptr_nonnull(f);
	err[0] = '\0';
}

static void teardown(void)
{
	faults_free(f);
}

static void set(const char *line)
{
	int r = fault_set_line(f, line, err, sizeof(err));
	ck_assert_msg(r == 0, "'%s' refused: %s", line, err);
}

static struct fault_counters counters(enum fault_point p)
{
	struct fault_counters c;

	fault_get(f, p, NULL, &c);
	return c;
}

/* n calls on (ino, off, len); returns how many failed. */
static unsigned calls(enum fault_point p, unsigned n, uint64_t ino, uint64_t off, uint64_t len)
{
	unsigned failed = 0;
	int e;

	for (unsigned i = 0; i < n; i++)
		failed += fault_should_fail(f, p, ino, off, len, &e);
	return failed;
}

START_TEST(test_s6_off_by_default_counts_nothing)
{
	for (int p = 0; p < FAULT_NPOINTS; p++) {
		ck_assert_uint_eq(calls(p, 100, 1, 0, 4096), 0);
		ck_assert_uint_eq(counters(p).calls, 0);
		ck_assert_uint_eq(counters(p).injected, 0);
	}
	ck_assert_uint_eq(fault_delay_ms(f, 1, 0, 4096), 0);
}
END_TEST

START_TEST(test_s6_defaults_fail_every_call_with_eio)
{
	int e = 0;

	set("invalidate");
	ck_assert(fault_should_fail(f, FAULT_INVALIDATE, 1, 0, 4096, &e));
	ck_assert_int_eq(e, EIO);
	ck_assert_uint_eq(calls(FAULT_INVALIDATE, 9, 1, 0, 1), 9);
	ck_assert_uint_eq(counters(FAULT_INVALIDATE).injected, 10);
	/* The other points are untouched. */
	ck_assert_uint_eq(calls(FAULT_OSYNC, 5, 1, 0, 1), 0);
}
END_TEST

START_TEST(test_s6_times_limits_failures)
{
	set("osync times=3");
	ck_assert_uint_eq(calls(FAULT_OSYNC, 10, 1, 0, 4096), 3);
	struct fault_counters c = counters(FAULT_OSYNC);
	ck_assert_uint_eq(c.injected, 3);
	ck_assert_uint_eq(c.calls, 10);
	ck_assert_int_eq(c.times_left, 0);
	/* Setting the point again restarts its budget; counters stay cumulative. */
	set("osync times=1");
	ck_assert_uint_eq(calls(FAULT_OSYNC, 10, 1, 0, 4096), 1);
	ck_assert_uint_eq(counters(FAULT_OSYNC).injected, 4);
	set("osync times=-1");
	ck_assert_uint_eq(calls(FAULT_OSYNC, 10, 1, 0, 4096), 10);
}
END_TEST

START_TEST(test_s6_interval_fires_every_nth)
{
	int e;

	set("device_write interval=3");
	for (int i = 1; i <= 9; i++)
		ck_assert_int_eq(fault_should_fail(f, FAULT_DEVICE_WRITE, 1, 0, 512, &e),
				 i % 3 == 0);
	ck_assert_uint_eq(counters(FAULT_DEVICE_WRITE).injected, 3);
	/* interval with times: every 2nd call, at most 2 */
	set("device_write interval=2 times=2");
	ck_assert_uint_eq(calls(FAULT_DEVICE_WRITE, 20, 1, 0, 512), 2);
}
END_TEST

START_TEST(test_s6_probability_is_statistical_and_seeded)
{
	unsigned n;
	int e, seq1[64], seq2[64];

	set("device_read probability=30");
	n = calls(FAULT_DEVICE_READ, 10000, 1, 0, 512);
	ck_assert_msg(n > 2700 && n < 3300, "30%% of 10000 calls gave %u", n);
	ck_assert_uint_eq(counters(FAULT_DEVICE_READ).eligible, 10000);
	set("device_read probability=0");
	ck_assert_uint_eq(calls(FAULT_DEVICE_READ, 1000, 1, 0, 512), 0);
	set("device_read probability=100");
	ck_assert_uint_eq(calls(FAULT_DEVICE_READ, 1000, 1, 0, 512), 1000);

	/* The same seed gives the same decisions. */
	for (int run = 0; run < 2; run++) {
		struct faults *g = faults_new(7, NULL, NULL);
		ck_assert_int_eq(fault_set_line(g, "device_read probability=50", err, sizeof(err)),
				 0);
		for (int i = 0; i < 64; i++)
			(run ? seq2 : seq1)[i] =
			    fault_should_fail(g, FAULT_DEVICE_READ, 1, 0, 1, &e);
		faults_free(g);
	}
	ck_assert_mem_eq(seq1, seq2, sizeof(seq1));
}
END_TEST

START_TEST(test_s6_ino_filter)
{
	unsigned hit5 = 0, hit6 = 0;
	int e;

	set("invalidate ino=5");
	for (int i = 0; i < 10; i++) {
		hit5 += fault_should_fail(f, FAULT_INVALIDATE, 5, 0, 4096, &e);
		hit6 += fault_should_fail(f, FAULT_INVALIDATE, 6, 0, 4096, &e);
	}
	ck_assert_uint_eq(hit5, 10);
	ck_assert_uint_eq(hit6, 0);
	struct fault_counters c = counters(FAULT_INVALIDATE);
	ck_assert_uint_eq(c.calls, 20);
	ck_assert_uint_eq(c.eligible, 10);
	ck_assert_uint_eq(c.injected, 10);
}
END_TEST

START_TEST(test_s6_offset_filter_overlaps)
{
	int e;

	set("invalidate offset=4096-8191");
	ck_assert(!fault_should_fail(f, FAULT_INVALIDATE, 1, 0, 4096, &e));    /* [0, 4095] */
	ck_assert(fault_should_fail(f, FAULT_INVALIDATE, 1, 0, 4097, &e));     /* reaches 4096 */
	ck_assert(fault_should_fail(f, FAULT_INVALIDATE, 1, 8191, 10, &e));    /* starts inside */
	ck_assert(!fault_should_fail(f, FAULT_INVALIDATE, 1, 8192, 4096, &e)); /* after */
	ck_assert(fault_should_fail(f, FAULT_INVALIDATE, 1, 0, 1 << 20, &e));  /* covers it */
	ck_assert_uint_eq(counters(FAULT_INVALIDATE).eligible, 3);

	/* Suffixes, and the combination with ino. */
	set("invalidate offset=1M-2M ino=3");
	ck_assert(fault_should_fail(f, FAULT_INVALIDATE, 3, 1048576, 512, &e));
	ck_assert(!fault_should_fail(f, FAULT_INVALIDATE, 4, 1048576, 512, &e));
	ck_assert(!fault_should_fail(f, FAULT_INVALIDATE, 3, 0, 512, &e));
	struct fault_knobs k;
	fault_get(f, FAULT_INVALIDATE, &k, NULL);
	ck_assert_uint_eq(k.off_start, 1048576);
	ck_assert_uint_eq(k.off_end, 2097152);
}
END_TEST

START_TEST(test_s6_errno_names_and_numbers)
{
	static const struct {
		const char *spec;
		int err;
	} cases[] = {{"EIO", EIO},   {"eio", EIO}, {"ENOSPC", ENOSPC}, {"EBUSY", EBUSY},
		     {"28", ENOSPC}, {"-5", EIO},  {"EROFS", EROFS},   {"ETIMEDOUT", ETIMEDOUT}};
	char line[64];
	int e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), "osync errno=%s", cases[i].spec);
		set(line);
		ck_assert(fault_should_fail(f, FAULT_OSYNC, 1, 0, 1, &e));
		ck_assert_msg(e == cases[i].err, "%s gave %d", cases[i].spec, e);
	}
	char b[16];
	ck_assert_str_eq(fault_errno_name(EBUSY, b, sizeof(b)), "EBUSY");
	ck_assert_int_eq(fault_errno_parse("EWHAT"), -1);
	ck_assert_int_eq(fault_errno_parse("0"), -1);
}
END_TEST

START_TEST(test_s6_delay_ms)
{
	set("delay ms=25 times=2");
	ck_assert_uint_eq(fault_delay_ms(f, 1, 0, 4096), 25);
	ck_assert_uint_eq(fault_delay_ms(f, 1, 0, 4096), 25);
	ck_assert_uint_eq(fault_delay_ms(f, 1, 0, 4096), 0);
	ck_assert_uint_eq(counters(FAULT_DELAY).injected, 2);
}
END_TEST

START_TEST(test_s6_off_turns_point_off)
{
	set("invalidate errno=ENOSPC");
	ck_assert_uint_eq(calls(FAULT_INVALIDATE, 3, 1, 0, 1), 3);
	set("invalidate off");
	ck_assert_uint_eq(calls(FAULT_INVALIDATE, 3, 1, 0, 1), 0);
	ck_assert_int_eq(fault_set_option(f, "invalidate:times=1", err, sizeof(err)), 0);
	ck_assert_uint_eq(calls(FAULT_INVALIDATE, 3, 1, 0, 1), 1);
	ck_assert_int_eq(fault_set_option(f, "invalidate:off", err, sizeof(err)), 0);
	ck_assert(!atomic_load(&f->on[FAULT_INVALIDATE]));
	ck_assert_uint_eq(counters(FAULT_INVALIDATE).injected, 4);
}
END_TEST

START_TEST(test_s6_option_form_equals_line_form)
{
	struct fault_knobs a, b;
	struct faults *g = faults_new(1, NULL, NULL);

	ck_assert_int_eq(fault_set_option(f,
					  "device_read:errno=EROFS:probability=40:interval=2:"
					  "times=7:ino=9:offset=0-4095:verbose=1",
					  err, sizeof(err)),
			 0);
	ck_assert_int_eq(fault_set_line(g,
					"device_read errno=EROFS probability=40 interval=2 "
					"times=7 ino=9 offset=0-4095 verbose=1",
					err, sizeof(err)),
			 0);
	fault_get(f, FAULT_DEVICE_READ, &a, NULL);
	fault_get(g, FAULT_DEVICE_READ, &b, NULL);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	ck_assert_int_eq(a.err, EROFS);
	ck_assert_uint_eq(a.probability, 40);
	ck_assert_uint_eq(a.interval, 2);
	ck_assert_int_eq(a.times, 7);
	ck_assert(a.has_ino && a.ino == 9 && a.verbose);
	faults_free(g);
}
END_TEST

START_TEST(test_s6_bad_specs_refused_and_change_nothing)
{
	static const struct {
		const char *line, *must_name;
	} bad[] = {
	    {"nosuch", "nosuch"},
	    {"invalidate bogus=1", "bogus"},
	    {"invalidate probability=101", "probability"},
	    {"invalidate probability=x", "probability"},
	    {"invalidate interval=0", "interval"},
	    {"invalidate times=-2", "times"},
	    {"invalidate errno=EWHAT", "EWHAT"},
	    {"invalidate offset=8192-4096", "offset"},
	    {"invalidate offset=12", "offset"},
	    {"invalidate ino=x", "ino"},
	    {"invalidate ms=5", "ms"},
	    {"invalidate verbose=2", "verbose"},
	    {"invalidate times", "times"},
	    {"invalidate times=", "times"},
	    {"invalidate off times=1", "off"},
	    {"", "point"},
	};
	static const char *bad_opts[] = {"invalidate:", ":invalidate", "invalidate::times=1",
					 "invalidate:times=1 ", "nosuch:times=1"};
	struct fault_knobs before, after;
	struct fault_counters cb, ca;

	set("invalidate errno=EBUSY times=5 ino=2");
	fault_get(f, FAULT_INVALIDATE, &before, &cb);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(fault_set_line(f, bad[i].line, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].must_name), "'%s': error '%s' does not name '%s'",
			      bad[i].line, err, bad[i].must_name);
		ck_assert_ptr_null(strchr(err, '\n'));
	}
	for (size_t i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(fault_set_option(f, bad_opts[i], err, sizeof(err)), -EINVAL);
		ck_assert_msg(err[0], "'%s' refused without a reason", bad_opts[i]);
	}
	fault_get(f, FAULT_INVALIDATE, &after, &ca);
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_assert_int_eq(ca.times_left, cb.times_left);
	for (int p = 0; p < FAULT_NPOINTS; p++)
		ck_assert(p == FAULT_INVALIDATE || !atomic_load(&f->on[p]));
}
END_TEST

static char logged[8][256];
static int nlogged;

static void log_line(void *arg, const char *line)
{
	(void)arg;
	if (nlogged < 8)
		snprintf(logged[nlogged++], sizeof(logged[0]), "%s", line);
}

START_TEST(test_s6_verbose_logs_each_injection)
{
	struct faults *g = faults_new(1, log_line, NULL);
	int e;

	nlogged = 0;
	ck_assert_int_eq(fault_set_line(g, "invalidate times=2 verbose=1", err, sizeof(err)), 0);
	for (int i = 0; i < 5; i++)
		fault_should_fail(g, FAULT_INVALIDATE, 12, 8192, 4096, &e);
	ck_assert_int_eq(nlogged, 2);
	ck_assert_ptr_nonnull(strstr(logged[0], "invalidate"));
	ck_assert_ptr_nonnull(strstr(logged[0], "EIO"));
	ck_assert_ptr_nonnull(strstr(logged[0], "ino 12"));
	/* Not verbose: silent. */
	ck_assert_int_eq(fault_set_line(g, "osync", err, sizeof(err)), 0);
	fault_should_fail(g, FAULT_OSYNC, 12, 0, 1, &e);
	ck_assert_int_eq(nlogged, 2);
	faults_free(g);
}
END_TEST

START_TEST(test_s6_formatters_list_every_point_with_counters)
{
	char text[2048];

	set("invalidate errno=EIO times=5");
	calls(FAULT_INVALIDATE, 3, 1, 0, 1);
	fault_format(f, text, sizeof(text));
	for (int p = 0; p < FAULT_NPOINTS; p++)
		ck_assert_ptr_nonnull(strstr(text, fault_point_name(p)));
	ck_assert_ptr_nonnull(strstr(text, "errno=EIO"));
	ck_assert_ptr_nonnull(strstr(text, "injected=3"));
}
END_TEST

/* ---- concurrency: decisions and changes from many threads ---------------- */

static void *hammer(void *arg)
{
	unsigned *failed = arg;
	int e;

	for (int i = 0; i < 20000; i++)
		*failed += fault_should_fail(f, FAULT_DEVICE_WRITE, 1, (uint64_t)i * 512, 512, &e);
	return NULL;
}

static void *flipper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++)
		fault_set_line(f, i % 2 ? "osync off" : "osync errno=ENOSPC", NULL, 0);
	return NULL;
}

START_TEST(test_s6_concurrent_times_exact)
{
	pthread_t t[4], fl;
	unsigned failed[4] = {0};

	set("device_write times=100");
	pthread_create(&fl, NULL, flipper, NULL);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer, &failed[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_join(fl, NULL);
	ck_assert_uint_eq(failed[0] + failed[1] + failed[2] + failed[3], 100);
	struct fault_counters c = counters(FAULT_DEVICE_WRITE);
	ck_assert_uint_eq(c.injected, 100);
	ck_assert_uint_eq(c.calls, 80000);
}
END_TEST

static bool hit(enum fault_point p, unsigned io, int pid, struct fault_hit *h)
{
	struct fault_req rq = {
	    .ino = 9, .off = 0, .len = 4096, .io = io, .pid = pid, .kinds = FAULT_KINDS_ALL};
	return fault_hit(f, p, &rq, h);
}

START_TEST(test_s6_nth_seed_pid_io)
{
	struct fault_hit h;
	int fired = 0, run[2][50];

	set("device_write nth=4");
	for (int i = 1; i <= 10; i++)
		if (hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 1, &h))
			fired = fired ? -1 : i;
	ck_assert_int_eq(fired, 4);
	ck_assert_int_ne(fault_set_line(f, "device_write nth=2 times=3", err, sizeof(err)), 0);
	for (int r = 0; r < 2; r++) {
		set("device_read probability=40 seed=77");
		for (int i = 0; i < 50; i++)
			run[r][i] = hit(FAULT_DEVICE_READ, FAULT_IO_BUFFERED, 1, &h);
	}
	ck_assert_mem_eq(run[0], run[1], sizeof(run[0]));
	set("device_write pid=42 io=buffered+meta");
	ck_assert(!hit(FAULT_DEVICE_WRITE, FAULT_IO_BUFFERED, 41, &h));
	ck_assert(hit(FAULT_DEVICE_WRITE, FAULT_IO_BUFFERED, 42, &h));
	ck_assert(!hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 42, &h));
	ck_assert(hit(FAULT_DEVICE_WRITE, FAULT_IO_META, 42, &h));
	ck_assert_int_eq(h.err, EIO);
}
END_TEST

/* A resolver that names inode 9 for any glob: what a mounted filesystem's walk does. */
static void resolve_nine(void *arg, struct faults *g, enum fault_point p, const char *glob)
{
	(void)arg;
	(void)glob;
	fault_path_add(g, p, 9);
}

START_TEST(test_s6_path_resolved_and_created)
{
	struct fault_hit h;
	struct fault_req other = {.ino = 10, .len = 4096, .io = FAULT_IO_DIRECT};

	set("device_write path=/db/*.dat");
	ck_assert(atomic_load(&f->any_path));
	ck_assert(
	    !hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 1, &h)); /* no resolver: nothing named */
	fault_path_created(f, 10, "/db/x.log");
	ck_assert(!fault_hit(f, FAULT_DEVICE_WRITE, &other, &h));
	fault_path_created(f, 10, "/db/sub/x.dat"); /* fnmatch without flags: * matches / */
	ck_assert(fault_hit(f, FAULT_DEVICE_WRITE, &other, &h));
	faults_set_resolver(f, resolve_nine, NULL); /* resolves the point already set */
	ck_assert(hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 1, &h));
	set("device_write path=/other"); /* a new glob forgets the old inodes, resolves anew */
	ck_assert(!fault_hit(f, FAULT_DEVICE_WRITE, &other, &h));
	ck_assert(hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 1, &h));
	faults_set_resolver(f, NULL, NULL);
	set("device_write");
	ck_assert(!atomic_load(&f->any_path));
	ck_assert_int_ne(fault_set_line(f, "device_write path=db/x", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "path"));
}
END_TEST

START_TEST(test_s6_kinds_and_windows)
{
	struct fault_hit h;
	struct fault_req meta = {.ino = FAULT_INO_META, .len = 4096, .io = FAULT_IO_JOURNAL};

	set("device_write kind=torn keep=1024");
	ck_assert(hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 1, &h));
	ck_assert_int_eq(h.kind, FAULT_KIND_TORN);
	ck_assert_uint_eq(h.keep, 1024);
	ck_assert_int_eq(h.err, 0);
	ck_assert(!fault_hit(f, FAULT_DEVICE_WRITE, &meta, &h)); /* a site without data */
	set("device_write kind=corrupt byte=7 bits=3");
	ck_assert(hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 1, &h));
	ck_assert_uint_eq(h.byte, 7);
	ck_assert_uint_eq(h.bits, 3);
	ck_assert_int_ne(fault_set_line(f, "device_read kind=torn", err, sizeof(err)), 0);
	ck_assert_int_ne(fault_set_line(f, "device_write keep=100 kind=torn", err, sizeof(err)), 0);
	/* up 200 ms (works), down 200 ms (fails) */
	set("device_read up=200 down=200");
	ck_assert(!hit(FAULT_DEVICE_READ, FAULT_IO_DIRECT, 1, &h));
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	ck_assert(hit(FAULT_DEVICE_READ, FAULT_IO_DIRECT, 1, &h));
}
END_TEST

START_TEST(test_s6_save_load_and_log)
{
	char text[1024], log[2048], again[1024];
	struct fault_hit h;

	set("device_write errno=ENOSPC nth=3 io=direct pid=5");
	set("fsync times=1");
	fault_save_format(f, text, sizeof(text));
	struct faults *g = faults_new(1, NULL, NULL);
	ck_assert_int_eq(fault_load_text(g, text, err, sizeof(err)), 0);
	fault_save_format(g, again, sizeof(again));
	ck_assert_str_eq(text, again);
	ck_assert_int_ne(fault_load_text(g, "fsync\nbogus x=1\n", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "line 2"));
	faults_free(g);
	for (int i = 0; i < 3; i++)
		hit(FAULT_DEVICE_WRITE, FAULT_IO_DIRECT, 5, &h);
	fault_log_format(f, log, sizeof(log));
	ck_assert_ptr_nonnull(strstr(log, "device_write ino=9 offset=0+4096 pid=5 ENOSPC"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("S6_knobs");
	TCase *tp = tcase_create("S6_parse");
	TCase *tt = tcase_create("S6_concurrent");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_checked_fixture(tt, setup, teardown);
	tcase_add_test(tc, test_s6_off_by_default_counts_nothing);
	tcase_add_test(tc, test_s6_defaults_fail_every_call_with_eio);
	tcase_add_test(tc, test_s6_times_limits_failures);
	tcase_add_test(tc, test_s6_interval_fires_every_nth);
	tcase_add_test(tc, test_s6_probability_is_statistical_and_seeded);
	tcase_add_test(tc, test_s6_ino_filter);
	tcase_add_test(tc, test_s6_offset_filter_overlaps);
	tcase_add_test(tc, test_s6_errno_names_and_numbers);
	tcase_add_test(tc, test_s6_delay_ms);
	tcase_add_test(tc, test_s6_off_turns_point_off);
	tcase_add_test(tc, test_s6_verbose_logs_each_injection);
	tcase_add_test(tc, test_s6_formatters_list_every_point_with_counters);
	tcase_add_test(tc, test_s6_nth_seed_pid_io);
	tcase_add_test(tc, test_s6_kinds_and_windows);
	tcase_add_test(tc, test_s6_path_resolved_and_created);
	tcase_add_test(tc, test_s6_save_load_and_log);
	tcase_add_test(tp, test_s6_option_form_equals_line_form);
	tcase_add_test(tp, test_s6_bad_specs_refused_and_change_nothing);
	tcase_add_test(tt, test_s6_concurrent_times_exact);
	tcase_set_timeout(tt, 120);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, tt);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
