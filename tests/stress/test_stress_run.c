/*
 * test_stress_run.c: eiocb-stress itself, on a temporary file in the build
 * directory (any O_DIRECT-capable filesystem; SKIP with the reason when
 * O_DIRECT is refused): a run of a few seconds with writers and readers has
 * exact event accounting (R7: submitted == events == ok, nothing lost or
 * duplicated) and no stale read (P5); -n stops at exactly N requests; bad
 * command lines exit 2 and an unusable file exits 3; and the P5 check
 * fires for real: readers going through a loop device over the file see
 * its never-invalidated cache, and the run exits 1 naming P5.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stats_table.h"

#ifndef STRESS_PATH
#error "STRESS_PATH must name the eiocb-stress binary"
#endif
#ifndef STRESS_DIR
#error "STRESS_DIR must name a directory for the test file"
#endif

/* Runs eiocb-stress with args (NULL-terminated); stdout to out, stderr to err. Returns its exit
 * code. */
static int run_stress(char *out, size_t outlen, char *err, size_t errlen, ...)
{
	char *argv[24] = {"eiocb-stress"};
	int n = 1, po[2], pe[2], status;
	va_list ap;
	pid_t pid;
	FILE *fo, *fe;
	size_t got;

	va_start(ap, errlen);
	while (n < 23 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	ck_assert_int_eq(pipe(po), 0);
	ck_assert_int_eq(pipe(pe), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(STRESS_PATH, argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* The outputs are small: read stdout fully, then stderr. */
	fo = fdopen(po[0], "r");
	fe = fdopen(pe[0], "r");
	got = fread(out, 1, outlen - 1, fo);
	out[got] = '\0';
	got = fread(err, 1, errlen - 1, fe);
	err[got] = '\0';
	fclose(fo);
	fclose(fe);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static long long get(json_t *root, const char *path)
{
	long long v;

	ck_assert_msg(stats_get_int(root, path, &v), "no integer %s", path);
	return v;
}

static char file[256];

static void setup(void)
{
	snprintf(file, sizeof(file), "%s/stress-%d.dat", STRESS_DIR, (int)getpid());
}

static void teardown(void)
{
	unlink(file);
}

/* Skips (returns true) when this filesystem refuses O_DIRECT. */
static bool skip_no_direct(int rc, const char *err)
{
	if (rc == 3 && strstr(err, "O_DIRECT")) {
		printf("SKIP: %s", err);
		return true;
	}
	return false;
}

START_TEST(R7_P5_timed_run)
{
	char out[8192], err[8192], msg[256];
	json_t *root;
	int rc;

	rc = run_stress(out, sizeof(out), err, sizeof(err), "-t", "3", "-w", "2", "-r", "2", "-q",
			"8", "-s", "8M", "-S", "42", "--json", file, NULL);
	if (skip_no_direct(rc, err))
		return;
	ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
	root = stats_parse(out, strlen(out), msg, sizeof(msg));
	ck_assert_msg(root, "%s: %s", msg, out);
	long long submitted = get(root, "writes.submitted");
	ck_assert_int_gt(submitted, 100);
	ck_assert_int_eq(get(root, "writes.events"), submitted);
	ck_assert_int_eq(get(root, "writes.ok"), submitted);
	ck_assert_int_eq(get(root, "writes.lost"), 0);
	ck_assert_int_eq(get(root, "writes.duplicated"), 0);
	ck_assert_int_eq(get(root, "writes.unknown"), 0);
	ck_assert_int_gt(get(root, "reads.reads"), 100);
	ck_assert_int_eq(get(root, "reads.stale"), 0);
	ck_assert_int_eq(get(root, "reads.corrupt"), 0);
	ck_assert_int_eq(get(root, "violations.R7"), 0);
	ck_assert_int_eq(get(root, "violations.P5"), 0);
	json_t *ok = stats_get(root, "ok");
	ck_assert(json_is_true(ok));
	json_decref(root);
}
END_TEST

START_TEST(R7_exact_request_count)
{
	char out[8192], err[8192], msg[256];
	json_t *root;
	int rc;

	/* Twice on the same file: blocks of the first run count as unwritten in the second. */
	for (int i = 0; i < 2; i++) {
		rc = run_stress(out, sizeof(out), err, sizeof(err), "-n", "3000", "-w", "3", "-q",
				"4", "-r", "1", "-b", "8192", "-s", "4M", "--json", file, NULL);
		if (skip_no_direct(rc, err))
			return;
		ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
		root = stats_parse(out, strlen(out), msg, sizeof(msg));
		ck_assert_msg(root, "%s: %s", msg, out);
		ck_assert_int_eq(get(root, "writes.submitted"), 3000);
		ck_assert_int_eq(get(root, "writes.events"), 3000);
		ck_assert_int_eq(get(root, "writes.ok"), 3000);
		ck_assert_int_eq(get(root, "reads.stale"), 0);
		json_decref(root);
	}
	/* The human summary names the verdict. */
	rc = run_stress(out, sizeof(out), err, sizeof(err), "-n", "200", "-s", "1M", file, NULL);
	ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
	ck_assert_msg(strstr(out, "verdict  OK"), "%s", out);
	ck_assert_msg(strstr(out, "submitted 200  events 200  ok 200"), "%s", out);
}
END_TEST

START_TEST(usage_and_cannot_run)
{
	char out[8192], err[8192];

	ck_assert_int_eq(run_stress(out, sizeof(out), err, sizeof(err), NULL), 2);
	ck_assert_int_eq(run_stress(out, sizeof(out), err, sizeof(err), "-b", "1000", file, NULL),
			 2);
	ck_assert_msg(strstr(err, "-b"), "%s", err);
	ck_assert_int_eq(run_stress(out, sizeof(out), err, sizeof(err), "-q", "0", file, NULL), 2);
	ck_assert_int_eq(run_stress(out, sizeof(out), err, sizeof(err), "-t", "0", file, NULL), 2);
	ck_assert_int_eq(run_stress(out, sizeof(out), err, sizeof(err), "-s", "64K", file, NULL),
			 2);
	ck_assert_msg(strstr(err, "need at least"), "%s", err);
	ck_assert_int_eq(run_stress(out, sizeof(out), err, sizeof(err), "--bogus", file, NULL), 2);
	ck_assert_int_eq(run_stress(out, sizeof(out), err, sizeof(err), "-t", "1",
				    "/nonexistent/dir/file", NULL),
			 3);
	ck_assert_msg(strstr(err, "/nonexistent/dir/file"), "%s", err);
}
END_TEST

/*
 * Attaches file to a free loop device that detaches itself when its last
 * descriptor closes (LO_FLAGS_AUTOCLEAR): nothing is left behind even if
 * the test is killed. Returns the open device (name in dev) or -errno.
 */
static int loop_attach_autoclear(const char *path, char *dev, size_t len)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), ret = -EBUSY;

	if (ctl < 0)
		return -errno;
	for (int tries = 0; tries < 8 && ret == -EBUSY; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE), lfd, ffd;
		struct loop_config cfg = {0};

		if (n < 0) {
			ret = -errno;
			break;
		}
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		ffd = open(path, O_RDWR | O_CLOEXEC);
		if (lfd < 0 || ffd < 0) {
			ret = -errno;
		} else {
			cfg.fd = (unsigned)ffd;
			cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
			/* EBUSY: someone else took this device first; take another. */
			ret = ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0 ? lfd : -errno;
		}
		if (ffd >= 0)
			close(ffd);
		if (ret < 0 && lfd >= 0)
			close(lfd);
	}
	close(ctl);
	return ret;
}

START_TEST(P5_stale_reads_are_detected)
{
	char out[8192], err[8192], msg[256], dev[64];
	json_t *root;
	int fd, lfd, rc;

	fd = open(file, O_CREAT | O_RDWR, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4 << 20), 0);
	close(fd);
	lfd = loop_attach_autoclear(file, dev, sizeof(dev));
	if (lfd < 0) {
		printf("SKIP P5_stale_reads_are_detected: no loop device: %s\n", strerror(-lfd));
		return;
	}
	/* The loop device's page cache is never invalidated by writes to its file. */
	rc = run_stress(out, sizeof(out), err, sizeof(err), "-t", "1", "-w", "1", "-q", "4", "-r",
			"1", "-s", "4M", "-R", dev, "--json", file, NULL);
	close(lfd); /* the device detaches itself now */
	if (skip_no_direct(rc, err))
		return;
	ck_assert_msg(rc == 1, "exit %d: %s%s", rc, out, err);
	root = stats_parse(out, strlen(out), msg, sizeof(msg));
	ck_assert_msg(root, "%s: %s", msg, out);
	ck_assert_int_gt(get(root, "reads.stale"), 0);
	ck_assert_int_eq(get(root, "violations.P5"), get(root, "reads.stale"));
	ck_assert_int_eq(get(root, "violations.R7"), 0); /* the events are still exact */
	json_decref(root);
	ck_assert_msg(strstr(err, "stale read: block"), "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress_run");
	TCase *tc = tcase_create("run");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, R7_P5_timed_run);
	tcase_add_test(tc, R7_exact_request_count);
	tcase_add_test(tc, usage_and_cannot_run);
	tcase_add_test(tc, P5_stale_reads_are_detected);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
