/*
 * main.c: the eiocbfs daemon (layer: daemon edge, the program's entry).
 *
 *   eiocbfs [-f] [-d] [-o OPTIONS] TARGET MOUNTPOINT
 *
 * Order of work, chosen so every refusal reaches the user's terminal as one
 * line and a non-zero exit before anything detaches:
 *   parse options -> check mount point and target -> (fork, parent waits)
 *   -> fuse_session_new (libfuse rejects unknown options) -> fs_mount (not
 *   eiocbfs, corrupt, in use) -> fuse_session_mount -> report ready, detach
 *   -> multi-threaded loop until SIGTERM/SIGINT/fusermount3 -u
 *   -> fuse_session_unmount -> fs_unmount (image marked clean).
 * Exit codes: 0 clean unmount, 1 a refusal or failure, 2 bad command line.
 * May call: daemon_opts, daemonize, fuse_ops, fs.h, libfuse.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "channel.h"
#include "daemon_opts.h"
#include "daemonize.h"
#include "fs.h"
#include "fuse_dio.h"
#include "fuse_ops.h"
#include "holder.h"
#include "remount.h"
#include "utab.h"

#define DAEMON_EXIT_FAIL 1
#define DAEMON_EXIT_USAGE 2
#define DAEMON_IDLE_WORKERS 8 /* FUSE workers kept waiting; mount.intake relies on it */

static const char daemon_usage[] =
    "usage: eiocbfs [-f] [-d] [-o OPTIONS] TARGET MOUNTPOINT\n"
    "\n"
    "Mounts the eiocbfs filesystem on TARGET (an image file or a block device\n"
    "made by mkfs.eiocbfs) at MOUNTPOINT. Options may also follow the arguments.\n"
    "\n"
    "  -f                    stay in the foreground\n"
    "  -d                    debug: log every request (implies -f)\n"
    "  -h, --help            this help\n"
    "  -V, --version         the version\n"
    "  -o ro                 read-only\n"
    "  -o kernel_cache       let the kernel cache buffered file pages (eiocbfs'\n"
    "                        page cache then sits below the kernel's)\n"
    "  -o semantics=deferred|mainline|legacy|drop   AIO completion semantics (default deferred)\n"
    "  -o cache_mb=N         page cache size in MiB\n"
    "  -o device_cache       model a volatile device write cache: eiocbctl MNT crash\n"
    "                        --device-cache=drop|tear|reorder loses unflushed writes\n"
    "  -o fault=POINT:KEY=VAL:...  inject faults (repeatable); POINT is invalidate,\n"
    "                        osync, device_read, device_write, delay, fsync or enospc;\n"
    "                        KEY as eiocbctl(1) lists (lists in io= join with +)\n"
    "  -o faults=FILE        set the fault points of FILE (eiocbctl MNT faults save)\n"
    "  -o control=PATH       control socket for eiocbctl\n"
    "  -o relatime|strictatime|noatime|lazytime  access time updates (default relatime)\n"
    "  -o errors=continue|remount-ro|shutdown  on a failed metadata write (default\n"
    "                        remount-ro: later changes get EROFS; shutdown: EIO)\n"
    "  -o allow_other ...    libfuse's own mount options\n"
    "exit: 0 mounted (daemon mode) or unmounted cleanly (-f), 1 a refusal or\n"
    "failure, 2 a bad command line\n";

/* One line naming the target once: the layers below name it in most of
   their messages already. */
static void daemon_refusal(const char *target, const char *msg)
{
	size_t n = strlen(target);

	if (strncmp(msg, target, n) == 0 && msg[n] == ':')
		fprintf(stderr, "eiocbfs: %s\n", msg);
	else
		fprintf(stderr, "eiocbfs: %s: %s\n", target, msg);
}

/* Refuse early, with the path, what libfuse or fs_mount would report less clearly. */
static int daemon_check_paths(const struct daemon_options *o)
{
	struct stat st;

	if (stat(o->mountpoint, &st) < 0) {
		fprintf(stderr, "eiocbfs: mount point %s: %s\n", o->mountpoint, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "eiocbfs: mount point %s: %s\n", o->mountpoint, strerror(ENOTDIR));
		return -1;
	}
	if (stat(o->target, &st) < 0) {
		fprintf(stderr, "eiocbfs: %s: %s\n", o->target, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "eiocbfs: %s: not an image file or a block device\n", o->target);
		return -1;
	}
	return 0;
}

/* The options every mount gets: permission checks by the kernel, a name in /proc/mounts. */
static int daemon_add_fixed_opts(struct daemon_options *o)
{
	char abs[PATH_MAX], *fsname = NULL, *opts = NULL;
	int ret;

	if (!realpath(o->target, abs))
		return -errno;
	if (asprintf(&fsname, "fsname=%s", abs) < 0)
		return -ENOMEM;
	ret = fuse_opt_add_opt(&opts, "default_permissions,subtype=eiocbfs,max_read=1048576") ||
	      fuse_opt_add_opt_escaped(&opts, fsname) || fuse_opt_add_arg(&o->fuse_args, "-o") ||
	      fuse_opt_add_arg(&o->fuse_args, opts);
	free(fsname);
	free(opts);
	return ret ? -ENOMEM : 0;
}

static void daemon_wait_notice(void *arg, const char *target, const struct holder *h)
{
	fprintf(stderr, "eiocbfs: %s: waiting for eiocbfs (pid %d) to finish unmounting it\n",
		target, (int)h->pid);
}

/* A daemon whose mount is gone may still be writing the target back: wait
   for it (bounded), so `umount; mount` works like a kernel filesystem. */
static int daemon_wait_target(const struct daemon_options *o)
{
	struct holder h;
	char who[PATH_MAX + 32];

	if (holder_wait_release(o->target, o->readonly, HOLDER_RELEASE_WAIT_MS, daemon_wait_notice,
				NULL, &h) == 0)
		return 0;
	holder_describe(&h, who, sizeof(who));
	fprintf(stderr, "eiocbfs: %s: in use (%s, still unmounting after %d s)\n", o->target, who,
		HOLDER_RELEASE_WAIT_MS / 1000);
	return -1;
}

/* libfuse's complaint while it parses the options: its log callback has no
   argument, so the capture needs a file-level buffer, used only there. */
static char daemon_fuse_msg[256];

static void daemon_capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t n = strlen(daemon_fuse_msg); /* libfuse writes one line in pieces */

	if (n < sizeof(daemon_fuse_msg) - 1)
		vsnprintf(daemon_fuse_msg + n, sizeof(daemon_fuse_msg) - n, fmt, ap);
}

/* fuse_session_new, with libfuse's refusal of an option reported as ours
   (one line, "unknown option 'X'", the usage exit code) rather than
   "fuse: unknown option(s): `-o X'". */
static struct fuse_session *daemon_session_new(struct daemon_options *o, struct daemon_ctx *ctx,
					       int *status)
{
	struct fuse_session *se;
	char *msg, *start, *end;

	daemon_fuse_msg[0] = 0;
	fuse_set_log_func(daemon_capture_log);
	se = fuse_session_new(&o->fuse_args, &daemon_ops, sizeof(daemon_ops), ctx);
	fuse_set_log_func(NULL);
	if (se)
		return se;
	msg = daemon_fuse_msg;
	msg[strcspn(msg, "\n")] = 0;
	start = strstr(msg, "`-o ");
	end = start ? strchr(start, '\'') : NULL;
	if (strstr(msg, "unknown option") && end) {
		*end = 0;
		fprintf(stderr, "eiocbfs: unknown option '%s'\n", start + 4);
		*status = DAEMON_EXIT_USAGE;
		return NULL;
	}
	if (strncmp(msg, "fuse: ", 6) == 0)
		msg += 6;
	fprintf(stderr, "eiocbfs: %s\n", msg[0] ? msg : "cannot start a FUSE session");
	return NULL;
}

/* Once detached, libfuse's messages and ours go to syslog (same level numbers). */
static void daemon_syslog(enum fuse_log_level level, const char *fmt, va_list ap)
{
	vsyslog((int)level, fmt, ap);
}

/* Everything after the fork: returns the exit status. ready_fd < 0 in the foreground. */
static int daemon_run(struct daemon_options *o, int ready_fd)
{
	struct daemon_ctx ctx = {.chan.want = CHAN_DIRECT_IO_ALLOW_MMAP,
				 .chan.statx = daemon_statx,
				 .chan.tmpfile = daemon_tmpfile,
				 .chan.tmpfile_undo = daemon_tmpfile_undo,
				 .chan.batch = &daemon_chan_batch,
				 .kernel_cache = o->kernel_cache,
				 .debug = o->debug,
				 .attr_timeout = 1.0,
				 .entry_timeout = 1.0};
	static const enum fs_atime atime[] = {[DAEMON_ATIME_RELATIME] = FS_ATIME_RELATIME,
					      [DAEMON_ATIME_NOATIME] = FS_ATIME_NOATIME,
					      [DAEMON_ATIME_STRICTATIME] = FS_ATIME_STRICTATIME};
	struct fs_mount_opts mopts = {.readonly = o->readonly,
				      .errors = o->errors,
				      .atime = atime[o->atime],
				      .lazytime = o->lazytime};
	struct fuse_loop_config *cfg = NULL;
	struct fuse_session *se;
	struct daemon_io *eio = NULL;
	char err[512] = "", abs_target[PATH_MAX], abs_mnt[PATH_MAX];
	int ret, status = DAEMON_EXIT_FAIL;

	daemon_files_init(&ctx.files);
	se = daemon_session_new(o, &ctx, &status);
	if (!se)
		goto out_files;
	/* The I/O engine: page cache, direct path, semantics, faults. */
	if (daemon_io_prepare(o, &mopts, &eio, err, sizeof(err)) < 0) {
		fprintf(stderr, "eiocbfs: %s\n", err);
		goto out_session;
	}
	if (!realpath(o->target, abs_target) || !realpath(o->mountpoint, abs_mnt)) {
		fprintf(stderr, "eiocbfs: %s: %s\n", o->target, strerror(errno));
		goto out_session;
	}
	if (daemon_wait_target(o) < 0)
		goto out_session;
	ret = fs_mount(o->target, &mopts, &ctx.fs, err, sizeof(err));
	if (ret < 0) {
		daemon_refusal(o->target, err[0] ? err : strerror(-ret));
		goto out_session;
	}
	if (fuse_set_signal_handlers(se) < 0) {
		fprintf(stderr, "eiocbfs: cannot install signal handlers\n");
		goto out_fs;
	}
	if (fuse_session_mount(se, o->mountpoint) < 0) {
		fprintf(stderr, "eiocbfs: cannot mount on %s\n", o->mountpoint);
		goto out_signals;
	}
	/* Our own reads and writes of the channel: shared mmap of direct_io files. */
	ret = chan_attach(se, &ctx.chan);
	if (ret < 0) {
		fprintf(stderr, "eiocbfs: %s: channel: %s\n", o->mountpoint, strerror(-ret));
		fuse_session_unmount(se);
		goto out_signals;
	}
	/* Before detaching (it chdirs): relative paths still mean what the user meant. */
	if (daemon_io_start(eio, ctx.fs, o, err, sizeof(err)) < 0) { /* direct replies, control */
		fprintf(stderr, "eiocbfs: %s\n", err);
		fuse_session_unmount(se);
		goto out_signals;
	}
	utab_add(abs_target, abs_mnt); /* so that umount(8) waits for us */
	if (ready_fd >= 0) {
		daemon_ready(ready_fd, 0);
		openlog("eiocbfs", LOG_PID, LOG_DAEMON);
		fuse_set_log_func(daemon_syslog);
	}
	ready_fd = -1;

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		ret = -ENOMEM;
	} else {
		/* A clone of the channel per worker: the batches switch its
		   O_NONBLOCK (chan_batch.c). A worker that ends mid-batch or
		   holding the read token submits the batch's I/O and passes
		   the token on as it exits. */
		fuse_loop_cfg_set_clone_fd(cfg, 1);
		fuse_loop_cfg_set_idle_threads(cfg, DAEMON_IDLE_WORKERS);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	chan_detach(&ctx.chan); /* every worker has stopped */
	/* > 0: the signal that ended the loop (SIGTERM, SIGINT, SIGHUP): a clean stop. */
	status = ret >= 0 ? 0 : DAEMON_EXIT_FAIL;
	daemon_io_stop(eio);
	fuse_session_unmount(se);
	utab_remove(abs_mnt);
out_signals:
	fuse_remove_signal_handlers(se);
out_fs:
	ret = fs_unmount(ctx.fs);
	if (ret < 0) {
		fuse_log(FUSE_LOG_ERR, "eiocbfs: %s: unmount: %s\n", o->target, strerror(-ret));
		status = DAEMON_EXIT_FAIL;
	}
out_session:
	fuse_session_destroy(se);
	daemon_io_free(eio);
out_files:
	daemon_files_destroy(&ctx.files); /* descriptions no release came for */
	if (ready_fd >= 0)
		daemon_ready(ready_fd, status ? status : DAEMON_EXIT_FAIL);
	return status;
}

int main(int argc, char **argv)
{
	struct daemon_options o;
	char err[512];
	int ready_fd = -1, status, ret;

	/* glibc gives each FUSE worker thread its own malloc arena, and each
	   arena keeps the I/O buffers freed into it: RSS then grows with the
	   thread count instead of the load. Two arenas bound it. */
	mallopt(M_ARENA_MAX, 2);
	if (daemon_options_parse(argc, argv, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "eiocbfs: %s\n", err);
		return DAEMON_EXIT_USAGE;
	}
	if (o.help || o.version) {
		if (o.help)
			fputs(daemon_usage, stdout);
		else
			printf("eiocbfs 0.1 (libfuse %s)\n", fuse_pkgversion());
		daemon_options_free(&o);
		return 0;
	}
	if (o.remount) { /* mount -o remount: the running daemon's mount changes */
		ret = daemon_remount_client(&o, err, sizeof(err));
		if (ret < 0)
			fprintf(stderr, "eiocbfs: %s\n", err);
		daemon_options_free(&o);
		return ret < 0 ? DAEMON_EXIT_FAIL : 0;
	}
	if (daemon_check_paths(&o) < 0) {
		daemon_options_free(&o);
		return DAEMON_EXIT_FAIL;
	}
	if ((ret = daemon_add_fixed_opts(&o)) < 0) {
		fprintf(stderr, "eiocbfs: %s: %s\n", o.target, strerror(-ret));
		daemon_options_free(&o);
		return DAEMON_EXIT_FAIL;
	}
	if (!o.foreground) {
		ready_fd = daemon_fork();
		if (ready_fd < 0) {
			fprintf(stderr, "eiocbfs: fork: %s\n", strerror(-ready_fd));
			daemon_options_free(&o);
			return DAEMON_EXIT_FAIL;
		}
	}
	status = daemon_run(&o, ready_fd);
	daemon_options_free(&o);
	return status;
}
