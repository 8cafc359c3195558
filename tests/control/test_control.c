/*
 * test_control.c: the control channel (fs/control/control.h) with a server started
 * in-process and the demo handler: commands round-trip, the stats JSON
 * parses, an unprivileged caller may read but not change state, malformed
 * and oversized requests are refused and change nothing, clients that leave
 * or stall do not hurt the server, and the socket's life cycle. Rules:
 * docs/semantics.md section 6 (faults set at runtime, counted) and docs/design.md
 * "Commands" (only root or the mounting user may change faults).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "control_int.h"
#include "demo_handler.h"
#include "stats_table.h"

#define OWNER 4242 /* the "mounting user" of the tests; root is privileged too */
#define NOBODY 65534

struct fx {
	char dir[32];
	char path[64];
	struct demo demo;
	struct ctl *ctl;
};

static void fx_start(struct fx *fx, int timeout_ms)
{
	struct ctl_config cfg = {0};
	char err[512];

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/eiocb-ctl-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	ck_assert_int_eq(chmod(fx->dir, 0755), 0); /* so that nobody can reach the socket */
	snprintf(fx->path, sizeof(fx->path), "%s/ctl.sock", fx->dir);
	fx->demo.faults = faults_new(1, NULL, NULL);
	ck_assert_ptr_nonnull(fx->demo.faults);
	cfg.path = fx->path;
	cfg.owner = OWNER;
	cfg.handle = demo_handle;
	cfg.arg = &fx->demo;
	cfg.timeout_ms = timeout_ms;
	ck_assert_msg(ctl_start_cfg(&cfg, &fx->ctl, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(err, "");
}

static void fx_stop(struct fx *fx)
{
	ctl_stop(fx->ctl);
	faults_free(fx->demo.faults);
	rmdir(fx->dir);
}

/* ctl_call that must reach the server; returns r->ok. */
static bool call(struct fx *fx, const char *line, struct ctl_reply *r)
{
	char err[512];
	int ret = ctl_call(fx->path, line, 5000, r, err, sizeof(err));

	ck_assert_msg(ret == 0, "ctl_call(%s): %s", line, err);
	return r->ok;
}

static bool point_enabled(struct fx *fx, enum fault_point p)
{
	struct fault_knobs k;
	struct fault_counters c;

	fault_get(fx->demo.faults, p, &k, &c);
	return k.enabled;
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends len raw bytes, then reads the whole answer (until EOF) into buf. */
static size_t raw_request(const char *path, const void *msg, size_t len, char *buf, size_t cap)
{
	int fd = raw_connect(path);
	size_t got = 0;
	ssize_t n;

	ck_assert_int_eq(send(fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
	while (got + 1 < cap && (n = recv(fd, buf + got, cap - 1 - got, 0)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return got;
}

/* An answer that is one "error: ..." line and nothing else. */
static void assert_one_error_line(const char *buf, const char *needle)
{
	ck_assert_msg(!strncmp(buf, "error: ", 7), "not an error: '%s'", buf);
	ck_assert_msg(strchr(buf, '\n') == buf + strlen(buf) - 1, "not one line: '%s'", buf);
	ck_assert_msg(strstr(buf, needle), "'%s' does not mention '%s'", buf, needle);
}

START_TEST(S6_fault_roundtrip)
{
	struct fx fx = {0};
	struct ctl_reply r;
	struct fault_knobs k;
	struct fault_counters c;

	fx_start(&fx, 0);
	ck_assert(call(&fx, "fault invalidate errno=EIO times=2 interval=3", &r));
	ck_assert_uint_eq(r.len, 0);
	ctl_reply_free(&r);
	fault_get(fx.demo.faults, FAULT_INVALIDATE, &k, &c);
	ck_assert(k.enabled);
	ck_assert_int_eq(k.err, EIO);
	ck_assert_int_eq(k.times, 2);
	ck_assert_uint_eq(k.interval, 3);

	ck_assert(call(&fx, "fault", &r)); /* the list names the point, on, with its knobs */
	ck_assert_msg(strstr(r.payload, "invalidate") && strstr(r.payload, "times=2"), "%s",
		      r.payload);
	ctl_reply_free(&r);

	/* The daemon's parser answers the precise error; nothing changes. */
	ck_assert(!call(&fx, "fault invalidate errno=EIO probability=200", &r));
	ck_assert_msg(strstr(r.err, "probability"), "%s", r.err);
	ctl_reply_free(&r);
	fault_get(fx.demo.faults, FAULT_INVALIDATE, &k, &c);
	ck_assert_int_eq(k.times, 2);
	ck_assert(!call(&fx, "fault nosuch errno=EIO", &r));
	ck_assert_msg(strstr(r.err, "nosuch"), "%s", r.err);
	ctl_reply_free(&r);

	ck_assert(call(&fx, "fault invalidate off", &r));
	ctl_reply_free(&r);
	ck_assert(!point_enabled(&fx, FAULT_INVALIDATE));
	fx_stop(&fx);
}
END_TEST

START_TEST(S6_stats_json)
{
	struct fx fx = {0};
	struct ctl_reply r;
	json_t *root;
	json_t *n;
	char err[256];
	long long v;
	int errs[2] = {0, 0};

	fx_start(&fx, 0);
	ck_assert(call(&fx, "fault osync errno=ENOSPC", &r));
	ctl_reply_free(&r);
	ck_assert(fault_should_fail(fx.demo.faults, FAULT_OSYNC, 1, 0, 4096, &errs[0]));
	ck_assert(call(&fx, "stats", &r));
	root = stats_parse(r.payload, r.len, err, sizeof(err));
	ck_assert_msg(root, "%s in %s", err, r.payload);
	n = stats_get(root, "semantics");
	ck_assert(json_is_string(n) && !strcmp(json_string_value(n), "deferred"));
	const char *keys[] = {"ioctx.submitted",
			      "ioctx.completed",
			      "ioctx.events",
			      "ioctx.propagated_errors",
			      "ioctx.double_completions",
			      "ioctx.cancelled",
			      "ioctx.inflight",
			      "pagecache.pages",
			      "pagecache.dirty",
			      "pagecache.hits",
			      "pagecache.misses",
			      "pagecache.invalidations",
			      "pagecache.invalidate_failures",
			      "faults.invalidate.injected",
			      "faults.device_read.injected",
			      "faults.device_write.injected",
			      "faults.delay.injected"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(stats_get_int(root, keys[i], &v), "no integer %s", keys[i]);
	ck_assert(stats_get_int(root, "faults.osync.injected", &v));
	ck_assert_int_eq(v, 1); /* the injection made above is counted */
	ck_assert(json_is_true(stats_get(root, "faults.osync.enabled")));
	ck_assert_str_eq(json_string_value(stats_get(root, "faults.osync.errno")), "ENOSPC");
	ck_assert(json_is_false(stats_get(root, "faults.delay.enabled")));
	ck_assert(stats_get_int(root, "faults.delay.ms", &v));
	ck_assert(json_is_null(stats_get(root, "faults.invalidate.ino")));
	json_decref(root);
	ctl_reply_free(&r);
	fx_stop(&fx);
}
END_TEST

/* eiocbctl's reader takes JSON only and says in one line what is wrong. */
START_TEST(json_reader_strict)
{
	const char *good[] = {"{}", "[]",
			      "{\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\n\"]}",
			      " {\"a\":{\"b\":{\"c\":0}}} \n"};
	const char *bad[] = {"",
			     "{",
			     "{\"a\" 1}",
			     "{\"a\": 01}",
			     "{\"a\": 1,}",
			     "[1 2]",
			     "{\"a\": tru}",
			     "\"ab",
			     "{} x",
			     "{\"a\": \"\x01\"}",
			     "{\"a\": 1.}",
			     "[\"\\q\"]",
			     "nul"};
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *n = stats_parse(good[i], strlen(good[i]), err, sizeof(err));

		ck_assert_msg(n, "rejected %s: %s", good[i], err);
		json_decref(n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!stats_parse(bad[i], strlen(bad[i]), err, sizeof(err)), "accepted %s",
			      bad[i]);
		ck_assert_msg(!strncmp(err, "JSON: ", 6) && !strchr(err, '\n'), "%s", err);
	}
}
END_TEST

/* Child as nobody: bit 0 read ok, bit 1 fault list ok, bit 2 set refused, bit 3 trace refused. */
static int nobody_calls(const char *path)
{
	struct ctl_reply r;
	char err[512];
	int bits = 0;

	if (setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return 0x80;
	if (ctl_call(path, "stats", 5000, &r, err, sizeof(err)) == 0 && r.ok && r.len > 0)
		bits |= 1;
	ctl_reply_free(&r);
	if (ctl_call(path, "fault", 5000, &r, err, sizeof(err)) == 0 && r.ok)
		bits |= 2;
	ctl_reply_free(&r);
	if (ctl_call(path, "fault invalidate errno=EIO", 5000, &r, err, sizeof(err)) == 0 &&
	    !r.ok && strstr(r.err, "permission denied") && strstr(r.err, "4242"))
		bits |= 4;
	ctl_reply_free(&r);
	if (ctl_call(path, "trace start", 5000, &r, err, sizeof(err)) == 0 && !r.ok &&
	    strstr(r.err, "permission denied"))
		bits |= 8;
	ctl_reply_free(&r);
	return bits;
}

START_TEST(unprivileged_reads_only)
{
	struct fx fx = {0};
	struct ctl_reply r;
	struct stat st;
	int status, calls;
	pid_t pid;

	fx_start(&fx, 0);
	ck_assert_int_eq(stat(fx.path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0666); /* reachable by all, checked inside */
	calls = fx.demo.calls;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(nobody_calls(fx.path));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0xf, "nobody's results 0x%x", WEXITSTATUS(status));
	ck_assert(!point_enabled(&fx, FAULT_INVALIDATE));
	ck_assert_int_eq(fx.demo.calls, calls + 2); /* the refused ones never reached it */
	ck_assert(call(&fx, "fault invalidate errno=EIO", &r)); /* root may */
	ctl_reply_free(&r);
	ck_assert(point_enabled(&fx, FAULT_INVALIDATE));
	fx_stop(&fx);
}
END_TEST

START_TEST(malformed_refused_change_nothing)
{
	struct fx fx = {0};
	char buf[8192], big[CTL_MAX_LINE + 1000];
	struct ctl_reply r;
	size_t n;

	fx_start(&fx, 0);
	/* A NUL would let "fault invalidate errno=EIO" through to a C-string parser. */
	static const char nul[] = "fault invalidate errno=EIO\0 times=1\n";
	raw_request(fx.path, nul, sizeof(nul) - 1, buf, sizeof(buf));
	assert_one_error_line(buf, "NUL");
	raw_request(fx.path, "fault invalidate\x1b[2J\n", 21, buf, sizeof(buf));
	assert_one_error_line(buf, "control byte");
	raw_request(fx.path, "   \n", 4, buf, sizeof(buf));
	assert_one_error_line(buf, "empty");

	n = 0;
	n += (size_t)sprintf(big, "fault");
	for (int i = 0; i < CTL_MAX_ARGS; i++)
		n += (size_t)sprintf(big + n, " k%d=1", i);
	big[n++] = '\n';
	raw_request(fx.path, big, n, buf, sizeof(buf));
	assert_one_error_line(buf, "too many words");

	/* Oversized, with and without a newline at the end: refused, the error still readable. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "fault invalidate ", 17);
	raw_request(fx.path, big, sizeof(big), buf, sizeof(buf));
	assert_one_error_line(buf, "longer than");
	big[sizeof(big) - 1] = '\n';
	raw_request(fx.path, big, sizeof(big), buf, sizeof(buf));
	assert_one_error_line(buf, "longer than");

	ck_assert_int_eq(fx.demo.calls, 0);
	ck_assert(!point_enabled(&fx, FAULT_INVALIDATE));
	ck_assert(call(&fx, "fault", &r)); /* and the server still serves */
	ctl_reply_free(&r);
	fx_stop(&fx);
}
END_TEST

START_TEST(response_too_large_is_an_error)
{
	struct fx fx = {0};
	struct ctl_reply r;

	fx_start(&fx, 0);
	ck_assert(!call(&fx, "big", &r));
	ck_assert_msg(strstr(r.err, "larger than"), "%s", r.err);
	ck_assert_uint_eq(r.len, 0);
	ctl_reply_free(&r);
	fx_stop(&fx);
}
END_TEST

struct staller {
	const char *path;
	_Atomic long long sent_ms; /* set once its half line went out: when it connected */
	char answer[256];
};

/* A client that sends half a line and then waits for the server to give up. */
static void *stall(void *arg)
{
	struct staller *s = arg;
	long long t = ctl_now_ms();
	int fd = raw_connect(s->path);
	ssize_t n;

	send(fd, "fault invalidate err", 20, MSG_NOSIGNAL);
	s->sent_ms = t;
	n = recv(fd, s->answer, sizeof(s->answer) - 1, 0);
	s->answer[n > 0 ? n : 0] = '\0';
	close(fd);
	return NULL;
}

START_TEST(clients_that_leave_or_stall)
{
	struct fx fx = {0};
	struct ctl_reply r;
	struct staller s = {0};
	pthread_t t;
	long long t0, dt;
	int fd;

	fx_start(&fx, 300);
	/* Half a command, then gone: it is never run (it could be a cut-off "... times=1"). */
	fd = raw_connect(fx.path);
	ck_assert_int_eq(send(fd, "fault invalidate errno=EIO", 26, MSG_NOSIGNAL), 26);
	close(fd);
	/* A whole command, gone before the answer: the server's write fails, quietly. */
	for (int i = 0; i < 20; i++) {
		fd = raw_connect(fx.path);
		ck_assert_int_eq(send(fd, "stats\n", 6, MSG_NOSIGNAL), 6);
		close(fd);
	}
	ck_assert(call(&fx, "fault", &r));
	ctl_reply_free(&r);
	ck_assert(!point_enabled(&fx, FAULT_INVALIDATE));

	/* A staller delays nobody (it has a thread of its own), and is told why at its deadline. */
	s.path = fx.path;
	ck_assert_int_eq(pthread_create(&t, NULL, stall, &s), 0);
	usleep(50 * 1000);
	t0 = ctl_now_ms();
	ck_assert(call(&fx, "stats", &r));
	dt = ctl_now_ms() - t0;
	ctl_reply_free(&r);
	pthread_join(t, NULL);
	ck_assert_msg(dt < 200, "next client waited %lld ms behind a staller", dt);
	ck_assert_msg(!strncmp(s.answer, "error: timed out", 16), "%s", s.answer);
	ck_assert(!point_enabled(&fx, FAULT_INVALIDATE));

	/* As many stallers as the server serves at once: the next client waits for the
	 * first deadline (300 ms here), not forever, and all stallers are told why. */
	struct staller many[CTL_MAX_CLIENTS];
	pthread_t mt[CTL_MAX_CLIENTS];
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		many[i] = (struct staller){.path = fx.path};
		ck_assert_int_eq(pthread_create(&mt[i], NULL, stall, &many[i]), 0);
	}
	/* Every staller connected before the client: the server takes them
	 * first (the listen queue is FIFO). Slow thread start-up (sanitizers)
	 * only delays this loop. */
	long long first = 0;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		while (many[i].sent_ms == 0)
			usleep(1000);
		if (first == 0 || many[i].sent_ms < first)
			first = many[i].sent_ms;
	}
	t0 = ctl_now_ms();
	ck_assert(call(&fx, "stats", &r));
	long long done = ctl_now_ms();
	dt = done - t0;
	ctl_reply_free(&r);
	/* No slot before the first staller's deadline (300 ms after it came). */
	ck_assert_msg(done - first >= 290 && dt < 1500,
		      "answered %lld ms after the first staller, %lld ms after asking",
		      done - first, dt);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		pthread_join(mt[i], NULL);
		ck_assert_msg(!strncmp(many[i].answer, "error: timed out", 16), "%s",
			      many[i].answer);
	}
	fx_stop(&fx);
}
END_TEST

START_TEST(socket_life_cycle)
{
	struct fx fx = {0};
	struct ctl_config cfg = {0};
	struct ctl *c2;
	struct stat st;
	char err[512], other[160];
	struct ctl_reply r;
	int fd;

	fx_start(&fx, 0);
	ck_assert_str_eq(ctl_path(fx.ctl, 0), fx.path);
	ck_assert_ptr_null(ctl_path(fx.ctl, 1));
	/* A second server at a live socket is refused and leaves it alone. */
	cfg.path = fx.path;
	cfg.handle = demo_handle;
	cfg.arg = &fx.demo;
	ck_assert_int_eq(ctl_start_cfg(&cfg, &c2, err, sizeof(err)), -EADDRINUSE);
	ck_assert_msg(strstr(err, "running daemon"), "%s", err);
	ck_assert(call(&fx, "fault", &r));
	ctl_reply_free(&r);
	ctl_stop(fx.ctl);
	ck_assert_int_eq(stat(fx.path, &st), -1); /* removed at stop */

	/* A stale socket file (its daemon died) is replaced. */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fx.path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert_int_eq(ctl_start_cfg(&cfg, &c2, err, sizeof(err)), 0);
	ck_assert(call(&fx, "stats", &r));
	ctl_reply_free(&r);
	ctl_stop(c2);

	/* A relative path is served, and removed, as absolute: the daemon chdirs to /. */
	char abs[160];
	ck_assert_int_eq(chdir(fx.dir), 0);
	cfg.path = "rel.sock";
	ck_assert_int_eq(ctl_start_cfg(&cfg, &c2, err, sizeof(err)), 0);
	ck_assert_int_eq(chdir("/"), 0);
	snprintf(abs, sizeof(abs), "%s/rel.sock", fx.dir);
	ck_assert_str_eq(ctl_path(c2, 0), abs);
	ctl_stop(c2);
	ck_assert_int_eq(stat(abs, &st), -1);

	/* A file that is not a socket is never unlinked. */
	snprintf(other, sizeof(other), "%s/plain", fx.dir);
	fd = open(other, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	cfg.path = other;
	ck_assert_int_lt(ctl_start_cfg(&cfg, &c2, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, other), "%s", err);
	ck_assert_int_eq(stat(other, &st), 0);
	unlink(other);
	faults_free(fx.demo.faults);
	rmdir(fx.dir);
}
END_TEST

START_TEST(mount_lookup)
{
	char type[64], dir[] = "/tmp/eiocb-ctl-XXXXXX", path[128];
	dev_t dev;
	struct stat st;

	ck_assert_int_eq(ctl_mount_lookup("/proc", &dev, type, sizeof(type)), 0);
	ck_assert_str_eq(type, "proc");
	ck_assert_int_eq(stat("/proc", &st), 0);
	ck_assert_uint_eq(dev, st.st_dev); /* the same number stat(2) gives */
	ck_assert_int_eq(ctl_mount_lookup("/proc/", &dev, type, sizeof(type)), 0);
	ck_assert_int_eq(ctl_mount_lookup("/", &dev, type, sizeof(type)), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(ctl_mount_lookup(dir, &dev, type, sizeof(type)), -ENOENT);
	rmdir(dir);
	ck_assert_int_eq(ctl_default_path("/run/eiocbfs", makedev(0, 57), path, sizeof(path)), 0);
	ck_assert_str_eq(path, "/run/eiocbfs/0:57.sock");
}
END_TEST

/*
 * The default socket of a mount (here /proc's, any mount will do): root
 * listens in CTL_RUN_DIR; a user who cannot create sockets there falls back
 * to $XDG_RUNTIME_DIR/eiocbfs, where eiocbctl looks next. Child as nobody:
 * returns 0 or the step that failed.
 */
static int default_path_as_nobody(const char *xdg)
{
	struct ctl_config cfg = {.mountpoint = "/proc", .owner = NOBODY, .handle = demo_handle};
	struct demo demo = {0};
	char err[512], want[128], dir[96];
	struct ctl_reply r;
	struct ctl *ctl;
	struct stat st;
	dev_t dev;
	char type[32];
	int ret = 0;

	if (setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return 1;
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	demo.faults = faults_new(1, NULL, NULL);
	cfg.arg = &demo;
	if (ctl_start_cfg(&cfg, &ctl, err, sizeof(err)) < 0)
		return 2;
	ctl_mount_lookup("/proc", &dev, type, sizeof(type));
	ctl_user_dir(dir, sizeof(dir));
	ctl_default_path(dir, dev, want, sizeof(want));
	if (strcmp(ctl_path(ctl, 0), want))
		ret = 3;
	else if (ctl_call(want, "stats", 5000, &r, err, sizeof(err)) < 0 || !r.ok)
		ret = 4;
	ctl_reply_free(&r);
	ctl_stop(ctl);
	if (!ret && stat(want, &st) == 0)
		ret = 5;
	faults_free(demo.faults);
	return ret;
}

START_TEST(default_socket_path)
{
	struct ctl_config cfg = {.mountpoint = "/proc", .handle = demo_handle};
	struct demo demo = {0};
	char err[512], want[128], xdg[] = "/tmp/eiocb-xdg-XXXXXX", sub[64];
	struct ctl *ctl;
	struct stat st;
	dev_t dev;
	char type[32];
	int status;
	pid_t pid;

	demo.faults = faults_new(1, NULL, NULL);
	cfg.arg = &demo;
	ck_assert_msg(ctl_start_cfg(&cfg, &ctl, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ctl_mount_lookup("/proc", &dev, type, sizeof(type)), 0);
	ck_assert_int_eq(ctl_default_path(CTL_RUN_DIR, dev, want, sizeof(want)), 0);
	ck_assert_str_eq(ctl_path(ctl, 0), want);
	ck_assert_int_eq(stat(CTL_RUN_DIR, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	ctl_stop(ctl);
	ck_assert_int_eq(stat(want, &st), -1);
	faults_free(demo.faults);

	ck_assert_ptr_nonnull(mkdtemp(xdg));
	ck_assert_int_eq(chown(xdg, NOBODY, NOBODY), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(default_path_as_nobody(xdg));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	snprintf(sub, sizeof(sub), "%s/eiocbfs", xdg);
	rmdir(sub);
	rmdir(xdg);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "nobody's default socket: step %d failed",
		      WEXITSTATUS(status));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("control");
	SRunner *sr;
	int failed;

	signal(SIGPIPE,
	       SIG_DFL); /* a SIGPIPE must kill the test: the server must never raise one */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, S6_fault_roundtrip);
	tcase_add_test(tc, S6_stats_json);
	tcase_add_test(tc, json_reader_strict);
	tcase_add_test(tc, unprivileged_reads_only);
	tcase_add_test(tc, malformed_refused_change_nothing);
	tcase_add_test(tc, response_too_large_is_an_error);
	tcase_add_test(tc, clients_that_leave_or_stall);
	tcase_add_test(tc, socket_life_cycle);
	tcase_add_test(tc, mount_lookup);
	tcase_add_test(tc, default_socket_path);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
