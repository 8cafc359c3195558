/*
 * test_eiocbctl.c: eiocbctl against an in-process control server (demo
 * handler): its output and exit codes for each kind of outcome (0 ok,
 * 1 refused or failed by the daemon, 2 usage, 3 cannot reach the daemon),
 * and finding the daemon from the mount point alone on a real FUSE mount
 * (subtype eiocbfs) made in a private mount namespace, so that nothing can
 * be left mounted whatever happens to the test. docs/design.md "Commands".
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "demo_handler.h"
#include "stats_table.h"

#ifndef EIOCBCTL_PATH
#error "EIOCBCTL_PATH must name the eiocbctl binary"
#endif

#define NOBODY 65534
#define SKIP 77

struct fx {
	char dir[32];
	char path[64];
	struct demo demo;
	struct ctl *ctl;
};

static void fx_start(struct fx *fx)
{
	char err[512];

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/eiocb-ctl-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	ck_assert_int_eq(chmod(fx->dir, 0755), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/ctl.sock", fx->dir);
	fx->demo.faults = faults_new(1, NULL, NULL);
	ck_assert_int_eq(
	    ctl_start(NULL, fx->path, 4242, demo_handle, &fx->demo, &fx->ctl, err, sizeof(err)), 0);
}

static void fx_stop(struct fx *fx)
{
	ctl_stop(fx->ctl);
	faults_free(fx->demo.faults);
	rmdir(fx->dir);
}

/*
 * Runs eiocbctl with args (NULL-terminated) and EIOCBCTL_SOCKET=sock (unset
 * when NULL), as uid (if not 0); stdout and stderr go to out. Returns its
 * exit code, or -1. No assertions: also used where a mount must be undone.
 */
static int run_ctl(const char *sock, uid_t uid, char *out, size_t outlen, ...)
{
	char *argv[16] = {"eiocbctl"};
	int n = 1, p[2], status;
	size_t got = 0;
	ssize_t r;
	va_list ap;
	pid_t pid;

	va_start(ap, outlen);
	while (n < 15 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		if (sock)
			setenv(CTL_ENV_SOCKET, sock, 1);
		else
			unsetenv(CTL_ENV_SOCKET);
		if (uid && (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0))
			_exit(120);
		execv(EIOCBCTL_PATH, argv);
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < outlen && (r = read(p[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static bool point_enabled(struct fx *fx, enum fault_point p)
{
	struct fault_knobs k;
	struct fault_counters c;

	fault_get(fx->demo.faults, p, &k, &c);
	return k.enabled;
}

#define EXPECT(code, needle, ...)                                                                  \
	do {                                                                                       \
		int rc_ = run_ctl(__VA_ARGS__);                                                    \
		ck_assert_msg(rc_ == (code), "exit %d (want %d): %s", rc_, code, out);             \
		ck_assert_msg(strstr(out, needle), "'%s' not in output: %s", needle, out);         \
	} while (0)

START_TEST(exit_codes)
{
	struct fx fx = {0};
	char out[16384], file[96], buf[256];
	int calls, fd;
	ssize_t n;

	fx_start(&fx);
	/* 0: done. */
	EXPECT(0, "invalidate", fx.path, 0, out, sizeof(out), "/mnt", "fault", NULL);
	EXPECT(0, "", fx.path, 0, out, sizeof(out), "/mnt", "fault", "invalidate", "errno=EIO",
	       "times=3", NULL);
	ck_assert(point_enabled(&fx, FAULT_INVALIDATE));
	EXPECT(0, "injected=0", fx.path, 0, out, sizeof(out), "/mnt", "stats", NULL);
	ck_assert_msg(strstr(out, "ioctx\n") && strstr(out, "  submitted"), "%s", out);
	EXPECT(0, "\"semantics\"", fx.path, 0, out, sizeof(out), "/mnt", "stats", "--json", NULL);
	char err[256];
	json_t *root = stats_parse(out, strlen(out), err, sizeof(err));
	ck_assert_msg(root, "%s", err);
	json_decref(root);
	snprintf(file, sizeof(file), "%s/trace.out", fx.dir);
	EXPECT(0, "", fx.path, 0, out, sizeof(out), "/mnt", "trace", "dump", file, NULL);
	fd = open(file, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(file);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "demo trace line 1\ndemo trace line 2\n");

	/* 1: refused or failed by the daemon, which names what is wrong. */
	EXPECT(1, "unknown point 'nosuch'", fx.path, 0, out, sizeof(out), "/mnt", "fault", "nosuch",
	       "errno=EIO", NULL);
	EXPECT(1, "not supported", fx.path, 0, out, sizeof(out), "/mnt", "trace", "start", NULL);
	EXPECT(1, "permission denied", fx.path, NOBODY, out, sizeof(out), "/mnt", "fault",
	       "invalidate", "off", NULL);
	ck_assert(point_enabled(&fx, FAULT_INVALIDATE));
	EXPECT(0, "invalidate", fx.path, NOBODY, out, sizeof(out), "/mnt", "fault", NULL);

	/* 2: usage errors, caught before anything is sent. */
	calls = fx.demo.calls;
	EXPECT(2, "usage", fx.path, 0, out, sizeof(out), "/mnt", NULL);
	EXPECT(2, "unknown command 'frobnicate'", fx.path, 0, out, sizeof(out), "/mnt",
	       "frobnicate", NULL);
	EXPECT(2, "'errno' is not KEY=VAL", fx.path, 0, out, sizeof(out), "/mnt", "fault",
	       "invalidate", "errno", NULL);
	EXPECT(2, "not a fault point name", fx.path, 0, out, sizeof(out), "/mnt", "fault",
	       "Inval!d", NULL);
	EXPECT(2, "off: takes no more", fx.path, 0, out, sizeof(out), "/mnt", "fault", "invalidate",
	       "off", "times=1", NULL);
	EXPECT(2, "stats: unexpected", fx.path, 0, out, sizeof(out), "/mnt", "stats", "--xml",
	       NULL);
	EXPECT(2, "trace dump: needs one FILE", fx.path, 0, out, sizeof(out), "/mnt", "trace",
	       "dump", NULL);
	EXPECT(2, "blanks", fx.path, 0, out, sizeof(out), "/mnt", "fault", "invalidate",
	       "errno=EIO times=1", NULL);
	ck_assert_int_eq(fx.demo.calls, calls);
	ck_assert(point_enabled(&fx, FAULT_INVALIDATE));

	/* 3: no daemon to talk to. */
	EXPECT(3, "cannot reach the daemon", "/nonexistent/ctl.sock", 0, out, sizeof(out), "/mnt",
	       "stats", NULL);
	EXPECT(3, "not a mount point", NULL, 0, out, sizeof(out), fx.dir, "stats", NULL);
	EXPECT(3, "not an eiocbfs mount (it is proc)", NULL, 0, out, sizeof(out), "/proc", "stats",
	       NULL);
	fx_stop(&fx);
}
END_TEST

/* ---- discovery on a real FUSE mount (in a private mount namespace) ---- */

static void *loop_thread(void *arg)
{
	fuse_session_loop(arg);
	return NULL;
}

static const struct fuse_lowlevel_ops no_ops; /* every request: ENOSYS */

/*
 * In the namespace-holding child: mount, start the control server from the
 * mount point alone, drive eiocbctl, undo everything, report. Returns a
 * message for the parent ("ok", or what failed); no assertions here.
 */
static const char *discover(char *msg, size_t len)
{
	char *fargv[] = {"test", "-o", "subtype=eiocbfs,fsname=eiocbfs-test", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	char mp[] = "/tmp/eiocb-mnt-XXXXXX", out[8192], err[512], sock[128];
	struct fuse_session *se = NULL;
	struct demo demo = {0};
	struct ctl *ctl = NULL;
	struct stat st;
	pthread_t t;
	bool looping = false;
	dev_t dev;
	char type[64];
	int rc;

	snprintf(msg, len, "ok");
	if (!mkdtemp(mp))
		return snprintf(msg, len, "mkdtemp: %s", strerror(errno)), msg;
	demo.faults = faults_new(1, NULL, NULL);
	se = fuse_session_new(&args, &no_ops, sizeof(no_ops), NULL);
	if (!se || fuse_session_mount(se, mp) < 0) {
		snprintf(msg, len, "SKIP: cannot make a FUSE mount here");
		goto out;
	}
	if (pthread_create(&t, NULL, loop_thread, se) == 0)
		looping = true;
	if (ctl_mount_lookup(mp, &dev, type, sizeof(type)) < 0 || strcmp(type, CTL_FS_TYPE)) {
		snprintf(msg, len, "mount lookup: type '%s'", type);
		goto out;
	}
	rc = ctl_start(mp, NULL, 4242, demo_handle, &demo, &ctl, err, sizeof(err));
	if (rc < 0) {
		snprintf(msg, len, "ctl_start: %s", err);
		goto out;
	}
	ctl_default_path(CTL_RUN_DIR, dev, sock, sizeof(sock));
	if (strcmp(ctl_path(ctl, 0), sock) || stat(sock, &st) < 0) {
		snprintf(msg, len, "socket at %s, expected %s", ctl_path(ctl, 0), sock);
		goto out;
	}
	rc = run_ctl(NULL, 0, out, sizeof(out), mp, "fault", "delay", "ms=5", NULL);
	if (rc != 0) {
		snprintf(msg, len, "eiocbctl MP fault delay: exit %d: %.400s", rc, out);
		goto out;
	}
	rc = run_ctl(NULL, 0, out, sizeof(out), mp, "stats", NULL);
	if (rc != 0 || !strstr(out, "delay") || !strstr(out, "ms=5")) {
		snprintf(msg, len, "eiocbctl MP stats: exit %d: %.400s", rc, out);
		goto out;
	}
	rc = run_ctl(NULL, NOBODY, out, sizeof(out), mp, "fault", "delay", "off", NULL);
	if (rc != 1) {
		snprintf(msg, len, "eiocbctl as nobody: exit %d: %.400s", rc, out);
		goto out;
	}
out:
	if (ctl) {
		ctl_stop(ctl);
		if (!strcmp(msg, "ok") && stat(sock, &st) == 0)
			snprintf(msg, len, "socket %s left behind", sock);
	}
	if (se) {
		/* Unmount first: the loop's read then ends (ENODEV) before its fd is closed. */
		fuse_session_exit(se);
		if (umount2(mp, 0) < 0)
			umount2(mp, MNT_DETACH);
		if (looping)
			pthread_join(t, NULL);
		fuse_session_unmount(se);
		fuse_session_destroy(se);
	}
	rmdir(mp);
	faults_free(demo.faults);
	return msg;
}

START_TEST(discovery_from_mount_point)
{
	char msg[1024] = "";
	int p[2], status;
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		/* Mounts of this namespace die with it: nothing can be left mounted. */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			snprintf(msg, sizeof(msg), "SKIP: no private mount namespace: %s",
				 strerror(errno));
		else
			discover(msg, sizeof(msg));
		n = write(p[1], msg, strlen(msg));
		_exit(n > 0 ? 0 : 1);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (!strncmp(msg, "SKIP", 4)) {
		printf("%s\n", msg);
		return;
	}
	ck_assert_msg(!strcmp(msg, "ok"), "%s", msg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("eiocbctl");
	TCase *tc = tcase_create("eiocbctl");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, exit_codes);
	if (access("/dev/fuse", R_OK | W_OK) == 0)
		tcase_add_test(tc, discovery_from_mount_point);
	else
		printf("SKIP discovery_from_mount_point: /dev/fuse not usable\n");
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
