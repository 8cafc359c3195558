/*
 * test_control_daemon.c: the daemon's control handler (fs/control/control_daemon.h)
 * behind a real control server, over a real ioctx: "stats" reports the
 * semantics and the ioctx counters as they move (one synchronous request:
 * R2, then its one event: R5), the page cache
 * member is present without a cache, "fault" drives the fault points,
 * "trace" starts and dumps the ioctx's tracer, unknown commands are named.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control_daemon.h"
#include "stats_table.h"
#include "fault.h"
#include "ioctx.h"

static int64_t sync_submit(struct ioctx *ctx, struct ioctx_iocb *iocb)
{
	return 4096; /* done at once: the submitter completes it (R2) */
}

static const struct ioctx_ops sync_ops = {.submit = sync_submit};

static json_t *stats(const char *path)
{
	struct ctl_reply r;
	json_t *root;
	char err[512];

	ck_assert_msg(ctl_call(path, "stats", 5000, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(r.ok, "%s", r.err);
	root = stats_parse(r.payload, r.len, err, sizeof(err));
	ck_assert_msg(root, "%s: %s", err, r.payload);
	ctl_reply_free(&r);
	return root;
}

static long long num(json_t *root, const char *path)
{
	long long v;

	ck_assert_msg(stats_get_int(root, path, &v), "no integer %s", path);
	return v;
}

START_TEST(daemon_handler)
{
	struct ioctx_params p = {.nr = 8, .mode = IOCTX_LEGACY};
	char dir[] = "/tmp/eiocb-ctl-XXXXXX", path[64], err[512];
	struct ctl_daemon cd = {0};
	struct ioctx_iocb *iocb;
	struct ioctx_event ev;
	struct ctl_reply r;
	json_t *root;
	struct ctl *ctl;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	ck_assert_int_eq(ioctx_setup(&p, &cd.ioctx), 0);
	cd.faults = faults_new(1, NULL, NULL);
	ck_assert_int_eq(ctl_start(NULL, path, 0, ctl_daemon_handle, &cd, &ctl, err, sizeof(err)),
			 0);

	root = stats(path);
	json_t *sem = stats_get(root, "semantics");
	ck_assert(json_is_string(sem) && !strcmp(json_string_value(sem), "legacy"));
	ck_assert_int_eq(num(root, "ioctx.submitted"), 0);
	ck_assert_int_eq(num(root, "pagecache.invalidate_failures"), 0);
	ck_assert_int_eq(num(root, "faults.invalidate.injected"), 0);
	json_decref(root);

	/* One request through the ioctx: the counters eiocbctl shows move with it. */
	ck_assert_int_eq(ioctx_get_req(cd.ioctx, &iocb), 0);
	iocb->ops = &sync_ops;
	ck_assert_int_eq(ioctx_submit(cd.ioctx, iocb), 4096);
	ck_assert_int_eq(ioctx_getevents(cd.ioctx, 1, 1, &ev, NULL), 1);
	root = stats(path);
	ck_assert_int_eq(num(root, "ioctx.submitted"), 1);
	ck_assert_int_eq(num(root, "ioctx.events"), 1);
	ck_assert_int_eq(num(root, "ioctx.inflight"), 0);
	ck_assert_int_eq(num(root, "ioctx.double_completions"), 0);
	json_decref(root);

	ck_assert_int_eq(
	    ctl_call(path, "fault device_write errno=ENOSPC times=1", 5000, &r, err, sizeof(err)),
	    0);
	ck_assert_msg(r.ok, "%s", r.err);
	ctl_reply_free(&r);
	int e = 0;
	ck_assert(fault_should_fail(cd.faults, FAULT_DEVICE_WRITE, 1, 0, 4096, &e));
	ck_assert_int_eq(e, ENOSPC);
	root = stats(path);
	ck_assert_int_eq(num(root, "faults.device_write.injected"), 1);
	json_decref(root);

	/* "trace" drives the ioctx's tracer (tests/trace has the rest). */
	ck_assert_int_eq(ctl_call(path, "trace start --max-events 10", 5000, &r, err, sizeof(err)),
			 0);
	ck_assert_msg(r.ok, "%s", r.err);
	ctl_reply_free(&r);
	ck_assert_int_eq(ctl_call(path, "trace start --frob 1", 5000, &r, err, sizeof(err)), 0);
	ck_assert(!r.ok && strstr(r.err, "unknown option"));
	ctl_reply_free(&r);
	ck_assert_int_eq(ctl_call(path, "trace dump", 5000, &r, err, sizeof(err)), 0);
	ck_assert_msg(r.ok && strstr(r.payload, "\"traceEvents\""), "%s", r.err);
	ctl_reply_free(&r);
	ck_assert_int_eq(ctl_call(path, "frob", 5000, &r, err, sizeof(err)), 0);
	ck_assert_msg(!r.ok && strstr(r.err, "unknown command 'frob'"), "%s", r.err);
	ctl_reply_free(&r);
	ck_assert_int_eq(ctl_call(path, "stats --json", 5000, &r, err, sizeof(err)), 0);
	ck_assert(!r.ok && strstr(r.err, "takes no arguments"));
	ctl_reply_free(&r);

	ctl_stop(ctl);
	faults_free(cd.faults);
	ioctx_destroy(cd.ioctx);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control_daemon");
	TCase *tc = tcase_create("daemon");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, daemon_handler);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
