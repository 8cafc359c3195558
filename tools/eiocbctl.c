/*
 * eiocbctl: control a mounted eiocbfs at runtime (layer: tool). Finds the
 * daemon's control socket from the mount point alone (control.h), checks
 * the shape of the command (the daemon validates the details and answers
 * with the precise error), sends it and prints the answer.
 *
 *   eiocbctl MOUNTPOINT fault [POINT] | fault POINT KEY=VAL... | fault POINT on|off
 *   eiocbctl MOUNTPOINT faults log | faults save FILE
 *   eiocbctl MOUNTPOINT stats [--json]
 *   eiocbctl MOUNTPOINT trace start [--ino N] [--max-events N] | stop | dump FILE
 *
 * Exit codes: 0 ok, 1 refused or failed by the daemon, 2 usage error,
 * 3 cannot reach the daemon (not an eiocbfs mount, no socket, no answer).
 * Calls the control channel's client (control_client.c, control_path.c)
 * and the stats table (stats_table.c, over jansson).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "stats_table.h"

enum { EX_OK = 0, EX_FAILED = 1, EX_USAGE = 2, EX_UNREACHABLE = 3 };

static const char usage_text[] =
    "usage: eiocbctl MOUNTPOINT COMMAND [ARGS...]\n"
    "       eiocbctl help | -h | --help | -V | --version\n"
    "\n"
    "  fault                      list the fault points, their knobs and counters\n"
    "  fault POINT                show one fault point (changes nothing)\n"
    "  fault POINT KEY=VAL...     set a fault point (root or the mounting user only);\n"
    "                             knobs not given take their defaults\n"
    "  fault POINT:KEY=VAL:...    the same, in the form of the mount option fault=\n"
    "  fault POINT on             turn a fault point on with every knob at its default\n"
    "  fault POINT off            turn a fault point off (root or the mounting user only)\n"
    "  faults log                 every injection so far (the last 4096): time, point,\n"
    "                             inode, offset+length, pid, what was done\n"
    "  faults save FILE           write the points that are on to FILE ('-' for stdout),\n"
    "                             one a line as 'fault' takes them: mount with\n"
    "                             -o faults=FILE to set them again\n"
    "  stats [--json]             statistics as a table, or as the daemon's JSON\n"
    "  trace start [--ino N] [--max-events N] [--per-thread N]\n"
    "                             start tracing iocb lifecycles (root or the mounting user\n"
    "                             only): only inode N; stop recording after N events;\n"
    "                             records kept per thread (default 4096, oldest overwritten)\n"
    "  trace stop                 stop tracing\n"
    "  trace dump FILE            write the trace to FILE ('-' for stdout) as Chrome\n"
    "                             trace-event JSON: open it in ui.perfetto.dev (stops\n"
    "                             tracing first if it is on)\n"
    "  crash                      a simulated power cut (root or the mounting user only):\n"
    "                             the daemon drops its dirty pages and uncommitted journal,\n"
    "                             detaches the mount and exits (next mount: journal replay)\n"
    "  crash --device-cache=drop|tear|reorder [--seed=N]\n"
    "                             the same, and the writes since the last device flush\n"
    "                             are lost, torn or partly kept (mount option device_cache)\n"
    "  remount ro|rw              the daemon's side of mount -o remount (root or the\n"
    "                             mounting user only): ro writes everything back first;\n"
    "                             the kernel's mount flags are mount(8)'s to change\n"
    "\n"
    "POINT is invalidate, osync, device_read, device_write, delay, fsync or enospc.\n"
    "KEY is (see README, \"Fault testing your application\"):\n"
    "  errno=NAME|N        the error injected (default EIO)\n"
    "  probability=P       percent of eligible calls that fail (default 100)\n"
    "  interval=N          only every Nth eligible call may fail (default 1)\n"
    "  times=N             at most N failures, -1 unlimited (default -1)\n"
    "  ino=N               only requests on inode N are eligible\n"
    "  offset=START-END    only requests overlapping these bytes (K/M/G/T suffixes)\n"
    "  verbose=0|1         log each injection\n"
    "  nth=N               fail exactly the Nth eligible call, once\n"
    "  seed=N              reproducible probability draws\n"
    "  pid=N, comm=NAME    only requests of that process\n"
    "  path=GLOB           only files whose path from the mount's root (/a/b)\n"
    "                      matches GLOB, now or when created, linked or renamed later\n"
    "  io=LIST             device points: direct+buffered+meta+journal (default all)\n"
    "  up=MS down=MS       fail only in the down window of each period\n"
    "  kind=K              device_read: error|corrupt; device_write: error|corrupt|\n"
    "                      torn|lost (byte=N bits=M for corrupt, keep=N for torn)\n"
    "  fill=P              enospc: fail allocations past P percent full\n"
    "  meta=0|1            device_write: io=meta+journal, or io=direct+buffered\n"
    "  ms=N                delay only: added device latency in ms (default 10)\n"
    "The daemon is found from MOUNTPOINT (a fuse.eiocbfs mount); the environment\n"
    "variable " CTL_ENV_SOCKET "=PATH names its socket instead. See eiocbctl(1).\n"
    "Exit: 0 ok, 1 refused or failed by the daemon, 2 usage error, 3 cannot reach\n"
    "the daemon.\n";

static int usage_error(const char *fmt, const char *a, const char *b)
{
	fputs("eiocbctl: ", stderr);
	fprintf(stderr, fmt, a, b);
	fputs(" (eiocbctl --help)\n", stderr);
	return EX_USAGE;
}

/* A fault point's name: lower case and '_' (the daemon knows which exist). */
static bool is_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
			return false;
	return true;
}

/*
 * Checks the command's shape and builds the request line. *dump_file is set
 * for "trace dump FILE" (the daemon returns the trace; we write the file, so
 * the daemon never writes where a caller points it); *show_point for
 * "fault POINT", which lists and keeps that point's line. Returns 0 or
 * EX_USAGE.
 */
static int build_request(int argc, char **argv, char *line, size_t len, bool *json,
			 const char **dump_file, const char **show_point)
{
	const char *cmd = argv[0];
	size_t n = 0;

	*json = false;
	*dump_file = NULL;
	*show_point = NULL;
	if (!strcmp(cmd, "fault")) {
		if (argc >= 2 && !is_word(argv[1]))
			return usage_error("fault: '%s' is not a fault point name%s", argv[1], "");
		if (argc >= 3 && (!strcmp(argv[2], "off") || !strcmp(argv[2], "on")) && argc > 3)
			return usage_error("fault %s %s: takes no more arguments", argv[1],
					   argv[2]);
		if (argc == 2) { /* show that point: the daemon lists, we keep its line */
			*show_point = argv[1];
			argc = 1;
		} else if (!strcmp(argv[2], "on")) { /* the daemon's "POINT" alone is on */
			argc = 2;
		}
		for (int i = 2; i < argc && strcmp(argv[2], "off"); i++) {
			const char *eq = strchr(argv[i], '=');

			if (!eq || eq == argv[i] || !eq[1])
				return usage_error("fault %s: '%s' is not KEY=VAL or off", argv[1],
						   argv[i]);
		}
	} else if (!strcmp(cmd, "faults")) {
		if (argc == 2 && !strcmp(argv[1], "log")) {
		} else if (argc == 3 && !strcmp(argv[1], "save")) {
			*dump_file = argv[2]; /* written here, not by the daemon */
			argc = 2;
		} else {
			return usage_error("faults: needs log, or save FILE%s%s", "", "");
		}
	} else if (!strcmp(cmd, "stats")) {
		if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json")))
			return usage_error("stats: unexpected '%s'%s", argv[argc - 1], "");
		*json = argc == 2;
		argc = 1; /* the daemon always answers JSON */
	} else if (!strcmp(cmd, "trace")) {
		if (argc < 2)
			return usage_error("trace: needs start, stop or dump FILE%s%s", "", "");
		if (!strcmp(argv[1], "dump")) {
			if (argc != 3)
				return usage_error("trace dump: needs one FILE%s%s", "", "");
			*dump_file = argv[2];
			argc = 2;
		} else if (!strcmp(argv[1], "start")) {
			/* [--ino N] [--max-events N] [--per-thread N]: the daemon checks them */
			if (argc % 2)
				return usage_error(
				    "trace start: options are --ino N, --max-events N%s%s", "", "");
		} else if (strcmp(argv[1], "stop") || argc != 2) {
			return usage_error("trace: '%s' is not start, stop or dump FILE%s", argv[1],
					   "");
		}
	} else if (!strcmp(cmd, "crash")) {
		for (int i = 1; i < argc; i++)
			if (strncmp(argv[i], "--device-cache=", 15) &&
			    strncmp(argv[i], "--seed=", 7))
				return usage_error("crash: '%s' is not --device-cache=MODE or "
						   "--seed=N%s",
						   argv[i], "");
	} else if (!strcmp(cmd, "remount")) {
		if (argc != 2 || (strcmp(argv[1], "ro") && strcmp(argv[1], "rw")))
			return usage_error("remount: needs ro or rw%s%s", "", "");
	} else {
		return usage_error("unknown command '%s'%s", cmd, "");
	}
	line[0] = '\0';
	for (int i = 0; i < argc; i++) {
		/* The protocol splits at blanks and has no quoting. */
		for (const char *p = argv[i]; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				return usage_error(
				    "'%s': blanks and control characters are not allowed%s",
				    argv[i], "");
		int w = snprintf(line + n, len - n, "%s%s", i ? " " : "", argv[i]);
		if (w < 0 || (size_t)w >= len - n) {
			char lim[16];

			snprintf(lim, sizeof(lim), "%d", CTL_MAX_LINE - 1);
			return usage_error("command longer than %s bytes%s", lim, "");
		}
		n += (size_t)w;
	}
	return 0;
}

/* Finds the socket and sends line; returns 0 with the reply, or EX_UNREACHABLE. */
static int call_daemon(const char *mp, const char *line, struct ctl_reply *r)
{
	const char *env = getenv(CTL_ENV_SOCKET);
	char err[1024];

	if (env && *env) {
		if (ctl_call(env, line, 0, r, err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "eiocbctl: cannot reach the daemon (%s=%s): %s\n", CTL_ENV_SOCKET,
			env, err);
		return EX_UNREACHABLE;
	}
	if (ctl_call_mount(mp, line, 0, r, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "eiocbctl: %s\n", err);
	return EX_UNREACHABLE;
}

static int write_file(const char *file, const char *buf, size_t len)
{
	int fd = strcmp(file, "-") ? open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 1;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			if (fd != 1)
				close(fd);
			return -e;
		}
		buf += n;
		len -= (size_t)n;
	}
	if (fd != 1 && close(fd) < 0)
		return -errno;
	return 0;
}

/* Prints an "ok" reply the way the command wants it. */
static int show_reply(const char *mp, const char *cmd, bool json, const char *dump_file,
		      const char *show_point, const struct ctl_reply *r)
{
	int ret;

	if (dump_file) {
		ret = write_file(dump_file, r->payload, r->len);
		if (ret < 0) {
			fprintf(stderr, "eiocbctl: %s: %s: %s\n", cmd, dump_file, strerror(-ret));
			return EX_FAILED;
		}
		return EX_OK;
	}
	if (!strcmp(cmd, "stats")) {
		char err[256];
		json_t *root = stats_parse(r->payload, r->len, err, sizeof(err));

		if (!root) {
			fprintf(stderr, "eiocbctl: %s: stats: the daemon's reply is not valid %s\n",
				mp, err);
			return EX_FAILED;
		}
		if (json)
			printf("%s%s", r->payload,
			       r->len && r->payload[r->len - 1] == '\n' ? "" : "\n");
		else
			stats_print_table(root, stdout);
		json_decref(root);
		return EX_OK;
	}
	if (show_point) {
		size_t want = strlen(show_point);
		bool found = false;

		for (const char *l = r->payload; l < r->payload + r->len;) {
			const char *nl = memchr(l, '\n', (size_t)(r->payload + r->len - l));
			size_t ll = nl ? (size_t)(nl - l) : (size_t)(r->payload + r->len - l);

			if (ll > want && !strncmp(l, show_point, want) && l[want] == ' ') {
				printf("%.*s\n", (int)ll, l);
				found = true;
			}
			l += ll + 1;
		}
		if (!found) {
			fprintf(stderr, "eiocbctl: %s: no fault point '%s'\n", mp, show_point);
			return EX_FAILED;
		}
		return EX_OK;
	}
	fwrite(r->payload, 1, r->len, stdout);
	return EX_OK;
}

int main(int argc, char **argv)
{
	char line[CTL_MAX_LINE];
	const char *dump_file, *show_point;
	char spec[CTL_MAX_LINE], *words[CTL_MAX_LINE / 2 + 4]; /* fault POINT:KEY=VAL:... split */
	struct ctl_reply r;
	bool json;
	int ret;

	if (argc == 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) {
		fputs(usage_text, stdout);
		return EX_OK;
	}
	if (argc == 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("eiocbctl 0.1\n");
		return EX_OK;
	}
	if (argc < 3) {
		fputs(usage_text, stderr);
		return EX_USAGE;
	}
	/* fault POINT:KEY=VAL:... (the mount option's form) is fault POINT KEY=VAL ... */
	if (argc == 4 && !strcmp(argv[2], "fault") && strchr(argv[3], ':')) {
		int nw = 0;

		snprintf(spec, sizeof(spec), "%s", argv[3]);
		words[nw++] = argv[0];
		words[nw++] = argv[1];
		words[nw++] = argv[2];
		for (char *save = NULL, *w = strtok_r(spec, ":", &save); w;
		     w = strtok_r(NULL, ":", &save))
			words[nw++] = w;
		words[nw] = NULL;
		argc = nw;
		argv = words;
	}
	ret = build_request(argc - 2, argv + 2, line, sizeof(line), &json, &dump_file, &show_point);
	if (ret)
		return ret;
	ret = call_daemon(argv[1], line, &r);
	if (ret)
		return ret;
	if (!r.ok) {
		fprintf(stderr, "eiocbctl: %s: %s\n", argv[1], r.err);
		ret = EX_FAILED;
	} else {
		ret = show_reply(argv[1], argv[2], json, dump_file, show_point, &r);
	}
	ctl_reply_free(&r);
	if (fflush(stdout) != 0 && ret == EX_OK) {
		fprintf(stderr, "eiocbctl: writing the output: %s\n", strerror(errno));
		ret = EX_FAILED;
	}
	return ret;
}
