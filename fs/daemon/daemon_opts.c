/*
 * daemon_opts.c: parse and validate the eiocbfs command line (layer: daemon
 * edge). Options eiocbfs owns are consumed here; every other -o option is
 * kept in fuse_args for libfuse, which rejects what it does not know.
 * May call: libfuse's fuse_opt parser, fault.h (fault= specs), libc.
 * Prints nothing.
 */
#include "daemon_opts.h"

#include "fault.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

enum {
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_HELP,
	KEY_VERSION,
	KEY_RO,
	KEY_KERNEL_CACHE,
	KEY_SEMANTICS,
	KEY_CACHE_MB,
	KEY_FAULT,
	KEY_FAULTS,
	KEY_CONTROL,
	KEY_ERRORS,
	KEY_DEVICE_CACHE,
	KEY_RW,
	KEY_REMOUNT,
	KEY_ATIME,
	KEY_MS_FLAG,
};

static const struct fuse_opt daemon_opt_spec[] = {
    FUSE_OPT_KEY("-f", KEY_FOREGROUND),
    FUSE_OPT_KEY("-d", KEY_DEBUG),
    FUSE_OPT_KEY("debug", KEY_DEBUG),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("kernel_cache", KEY_KERNEL_CACHE),
    FUSE_OPT_KEY("device_cache", KEY_DEVICE_CACHE),
    FUSE_OPT_KEY("semantics=", KEY_SEMANTICS),
    FUSE_OPT_KEY("cache_mb=", KEY_CACHE_MB),
    FUSE_OPT_KEY("fault=", KEY_FAULT),
    FUSE_OPT_KEY("faults=", KEY_FAULTS),
    FUSE_OPT_KEY("control=", KEY_CONTROL),
    FUSE_OPT_KEY("errors=", KEY_ERRORS),
    FUSE_OPT_KEY("rw", KEY_RW),
    FUSE_OPT_KEY("remount", KEY_REMOUNT),
    FUSE_OPT_KEY("relatime", KEY_ATIME),
    FUSE_OPT_KEY("noatime", KEY_ATIME),
    FUSE_OPT_KEY("strictatime", KEY_ATIME),
    FUSE_OPT_KEY("lazytime", KEY_ATIME),
    FUSE_OPT_KEY("nolazytime", KEY_ATIME),
    FUSE_OPT_KEY("nosuid", KEY_MS_FLAG),
    FUSE_OPT_KEY("suid", KEY_MS_FLAG),
    FUSE_OPT_KEY("nodev", KEY_MS_FLAG),
    FUSE_OPT_KEY("dev", KEY_MS_FLAG),
    FUSE_OPT_KEY("noexec", KEY_MS_FLAG),
    FUSE_OPT_KEY("exec", KEY_MS_FLAG),
    FUSE_OPT_KEY("sync", KEY_MS_FLAG),
    FUSE_OPT_KEY("async", KEY_MS_FLAG),
    FUSE_OPT_KEY("dirsync", KEY_MS_FLAG),
    FUSE_OPT_KEY("nodiratime", KEY_MS_FLAG),
    FUSE_OPT_KEY("diratime", KEY_MS_FLAG),
    FUSE_OPT_END,
};

static const char *const semantics_names[] = {"deferred", "legacy", "drop", "mainline"};
/* errors=: the names of fs/storage/errors.h, in the order of its enum fs_errors_mode. */
static const char *const errors_names[] = {"remount-ro", "continue", "shutdown"};

const char *semantics_name(enum semantics s)
{
	return semantics_names[s];
}

static void daemon_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The mount(2) flags of the generic mount options libfuse passes on; a
   remount asks the kernel for them again (fs/daemon/remount.c). */
static const struct {
	const char *name;
	unsigned long set, clear;
} daemon_ms_flags[] = {
    {"nosuid", MS_NOSUID, 0},	    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},	    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},	    {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0},    {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},	    {"nodiratime", MS_NODIRATIME, 0},
    {"diratime", 0, MS_NODIRATIME}, {"lazytime", MS_LAZYTIME, 0},
    {"nolazytime", 0, MS_LAZYTIME},
};

static void daemon_set_ms_flag(struct daemon_options *o, const char *name)
{
	for (size_t i = 0; i < sizeof(daemon_ms_flags) / sizeof(daemon_ms_flags[0]); i++)
		if (!strcmp(name, daemon_ms_flags[i].name))
			o->ms_flags =
			    (o->ms_flags & ~daemon_ms_flags[i].clear) | daemon_ms_flags[i].set;
}

/* A whole-string unsigned decimal number in [lo, hi]. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* Parser state: the options being filled and the first error met. */
struct opt_parse {
	struct daemon_options *o;
	char *err;
	size_t errlen;
	int npos;
	bool failed;
};

static int daemon_fail(struct opt_parse *p, const char *fmt, const char *arg)
{
	if (!p->failed)
		daemon_errf(p->err, p->errlen, fmt, arg);
	p->failed = true;
	return -1;
}

/* Checks a fault= spec with the parser that will apply it, and keeps it. */
static int daemon_add_fault(struct opt_parse *p, const char *spec)
{
	struct daemon_options *o = p->o;
	struct faults *scratch;
	char *copy;
	int ret;

	if (o->nfaults == DAEMON_MAX_FAULTS)
		return daemon_fail(p, "too many fault= options (at most 16): '%s'", spec);
	scratch = faults_new(0, NULL, NULL);
	if (!scratch)
		return daemon_fail(p, "out of memory%s", "");
	ret = fault_set_option(scratch, spec, p->err, p->errlen);
	faults_free(scratch);
	if (ret < 0) {
		p->failed = true;
		return -1;
	}
	copy = strdup(spec);
	if (!copy)
		return daemon_fail(p, "out of memory%s", "");
	o->faults[o->nfaults++] = copy;
	return 0;
}

/* faults=FILE: read now (the daemon may chdir later), checked, kept. */
static int daemon_add_fault_file(struct opt_parse *p, const char *path)
{
	struct daemon_options *o = p->o;
	char *text = NULL, why[200];
	size_t cap = 0, n = 0;
	FILE *f;
	struct faults *scratch;
	int ret;

	if (o->faults_text)
		return daemon_fail(p, "faults= given twice: '%s'", path);
	if (!(f = fopen(path, "re")))
		return daemon_fail(p, "faults=%s: cannot read it", path);
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *t = cap + 65536 > (1u << 20) ? NULL : realloc(text, cap + 65536);
			if (!t) {
				free(text);
				fclose(f);
				return daemon_fail(p, "faults=%s: too large (at most 1 MiB)", path);
			}
			text = t;
			cap += 65536;
		}
		size_t got = fread(text + n, 1, 4096, f);
		n += got;
		if (got < 4096)
			break;
	}
	fclose(f);
	text[n] = '\0';
	if (!(scratch = faults_new(0, NULL, NULL))) {
		free(text);
		return daemon_fail(p, "out of memory%s", "");
	}
	ret = fault_load_text(scratch, text, why, sizeof(why));
	faults_free(scratch);
	if (ret < 0) {
		free(text);
		if (!p->failed)
			daemon_errf(p->err, p->errlen, "faults=%s: %s", path, why);
		p->failed = true;
		return -1;
	}
	o->faults_text = text;
	return 0;
}

/* fuse_opt callback: 0 consumes the argument, 1 keeps it for libfuse. */
static int daemon_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opt_parse *p = data;
	struct daemon_options *o = p->o;
	const char *val = strchr(arg, '=');
	uint64_t v;

	val = val ? val + 1 : "";
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (p->npos == 0)
			o->target = arg;
		else if (p->npos == 1)
			o->mountpoint = arg;
		else
			return daemon_fail(p, "unexpected argument '%s'", arg);
		p->npos++;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') /* a dash option nobody knows; -o ones have no dash */
			return daemon_fail(p, "unknown option '%s'", arg);
		return 1;
	case KEY_FOREGROUND:
		o->foreground = true;
		return 0;
	case KEY_DEBUG:
		o->debug = o->foreground = true;
		return 1; /* libfuse logs requests too */
	case KEY_HELP:
		o->help = true;
		return 0;
	case KEY_VERSION:
		o->version = true;
		return 0;
	case KEY_RO:
		o->readonly = true;
		return 1; /* and the kernel mounts read-only */
	case KEY_RW:
		o->readonly = false;
		return 1;
	case KEY_REMOUNT:
		o->remount = true;
		return 0;
	case KEY_ATIME: /* ours, and the kernel's mount flags too */
		if (!strcmp(arg, "noatime"))
			o->atime = DAEMON_ATIME_NOATIME;
		else if (!strcmp(arg, "strictatime"))
			o->atime = DAEMON_ATIME_STRICTATIME;
		else if (!strcmp(arg, "relatime"))
			o->atime = DAEMON_ATIME_RELATIME;
		else
			o->lazytime = !strcmp(arg, "lazytime");
		daemon_set_ms_flag(o, arg);
		/* libfuse passes noatime to the kernel and refuses the others;
		   the kernel's flag is moot (it never updates a FUSE inode's
		   atime itself): the daemon applies them (fs/ops/atime.c). */
		return !strcmp(arg, "noatime");
	case KEY_MS_FLAG:
		daemon_set_ms_flag(o, arg);
		return 1;
	case KEY_KERNEL_CACHE:
		o->kernel_cache = true;
		return 0;
	case KEY_DEVICE_CACHE:
		o->device_cache = true;
		return 0;
	case KEY_SEMANTICS:
		for (size_t i = 0; i < sizeof(semantics_names) / sizeof(semantics_names[0]); i++)
			if (strcmp(val, semantics_names[i]) == 0) {
				o->semantics = (enum semantics)i;
				return 0;
			}
		return daemon_fail(
		    p, "bad value '%s' for semantics (use deferred, mainline, legacy or drop)",
		    val);
	case KEY_CACHE_MB:
		if (!parse_u64(val, 1, 1u << 20, &v))
			return daemon_fail(
			    p, "bad value '%s' for cache_mb (a positive number of MiB)", val);
		o->cache_mb = (unsigned int)v;
		return 0;
	case KEY_FAULT:
		return daemon_add_fault(p, val);
	case KEY_FAULTS:
		return daemon_add_fault_file(p, val);
	case KEY_ERRORS:
		for (int i = 0; i < 3; i++)
			if (strcmp(val, errors_names[i]) == 0) {
				o->errors = i;
				return 0;
			}
		return daemon_fail(
		    p, "bad value '%s' for errors (use continue, remount-ro or shutdown)", val);
	case KEY_CONTROL:
		if (!*val)
			return daemon_fail(p, "control= needs a path%s", "");
		free(o->control);
		o->control = strdup(val);
		return o->control ? 0 : daemon_fail(p, "out of memory%s", "");
	}
	return 1;
}

int daemon_options_parse(int argc, char **argv, struct daemon_options *o, char *err, size_t errlen)
{
	struct opt_parse p = {.o = o, .err = err, .errlen = errlen};
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);

	memset(o, 0, sizeof(*o));
	o->semantics = SEM_DEFERRED;
	if (fuse_opt_parse(&args, &p, daemon_opt_spec, daemon_opt_proc) < 0) {
		if (!p.failed)
			daemon_errf(err, errlen, "cannot parse the options");
		o->fuse_args = args;
		daemon_options_free(o);
		return -1;
	}
	o->fuse_args = args;
	if (o->readonly)
		o->ms_flags |= MS_RDONLY;
	o->ms_flags |= o->atime == DAEMON_ATIME_NOATIME	      ? MS_NOATIME
		       : o->atime == DAEMON_ATIME_STRICTATIME ? MS_STRICTATIME
							      : MS_RELATIME;
	if (o->help || o->version)
		return 0;
	if (!o->target || !o->mountpoint) {
		daemon_errf(err, errlen, "usage: eiocbfs [-f] [-d] [-o OPTIONS] TARGET MOUNTPOINT");
		daemon_options_free(o);
		return -1;
	}
	return 0;
}

void daemon_options_free(struct daemon_options *o)
{
	fuse_opt_free_args(&o->fuse_args);
	free(o->control);
	o->control = NULL;
	for (int i = 0; i < o->nfaults; i++)
		free(o->faults[i]);
	o->nfaults = 0;
	free(o->faults_text);
	o->faults_text = NULL;
}
