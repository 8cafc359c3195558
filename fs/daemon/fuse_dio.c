/*
 * fuse_dio.c: the FUSE glue of the direct path and the daemon's I/O engine
 * set-up (see fuse_dio.h).
 *
 * A direct request is never answered by its handler: the handler submits
 * and returns (the -EIOCBQUEUED path). Its answer is written by whichever
 * thread drains the completion ring (daemon_dio_done: fuse_reply_write,
 * fuse_reply_buf or fuse_reply_err), or, when a FUSE interrupt cancelled
 * it (R6), by the interrupt callback (EINTR). The interrupt callback gets
 * the iocb's handle, not a pointer: a late interrupt of a finished request
 * finds a stale handle and does nothing.
 */
#include "fuse_dio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "control_daemon.h"
#include "crash.h"
#include "daemon_log.h"
#include "daemon_opts.h"
#include "fault.h"
#include "fs.h"
#include "fsio.h"
#include "fuse_ops.h"
#include "remount.h"

static struct fs *daemon_dio_fs(fuse_req_t req)
{
	return ((struct daemon_ctx *)fuse_req_userdata(req))->fs;
}

/* The ring consumer's answer (exactly one per request). */
static void daemon_dio_done(void *arg, void *cookie, bool write, int64_t res, const void *buf)
{
	fuse_req_t req = cookie;

	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else if (write)
		fuse_reply_write(req, (size_t)res);
	else
		fuse_reply_buf(req, buf, (size_t)res);
}

/* FUSE_INTERRUPT of a queued request: cancel its iocb (R6). */
static void daemon_dio_interrupt(fuse_req_t req, void *data)
{
	void *cookie;

	if (fsio_dio_cancel(daemon_dio_fs(req), (ioctx_handle_t)(uintptr_t)data, &cookie) == 0)
		fuse_reply_err(cookie, EINTR);
}

static void daemon_dio_go(fuse_req_t req, struct fs *fs, struct fsio_dio *d)
{
	/* Registered before submission: after it, the request may be answered
	   and freed at any moment. */
	fuse_req_interrupt_func(req, daemon_dio_interrupt, (void *)(uintptr_t)fsio_dio_handle(d));
	fsio_dio_submit(fs, d);
}

bool daemon_dio_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs *fs = daemon_dio_fs(req);
	struct fsio_dio *d;
	int err;

	if (!(fi->flags & O_DIRECT) || !fsio_has_direct(fs))
		return false;
	fs_accessed(fs, ino); /* now: the answer may come before this returns */
	d = fsio_dio_new(fs, ino, false, size, off, fi->flags, req, &err);
	if (!d)
		fuse_reply_err(req, -err);
	else
		daemon_dio_go(req, fs, d);
	return true;
}

bool daemon_dio_write(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		      struct fuse_file_info *fi)
{
	struct fs *fs = daemon_dio_fs(req);
	size_t size = fuse_buf_size(in);
	struct fsio_dio *d;
	int err;

	if (!(fi->flags & O_DIRECT) || !fsio_has_direct(fs))
		return false;
	d = fsio_dio_new(fs, ino, true, size, off, fi->flags, req, &err);
	if (!d) {
		fuse_reply_err(req, -err);
		return true;
	}
	/* The data into the request's aligned buffer (the handler's buffer is
	   libfuse's and gone when we return). */
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
	out.buf[0].mem = fsio_dio_buf(d);
	ssize_t n = size ? fuse_buf_copy(&out, in, 0) : 0;
	if (n >= 0 && (size_t)n != size)
		n = -EIO;
	if (n < 0) {
		/* The iocb exists: let its submit method refuse it, so that the
		   answer still comes through the ring, once. */
		fsio_dio_poison(d, (int)n);
	}
	daemon_dio_go(req, fs, d);
	return true;
}

/* ---- batches of direct requests (chan_batch.h) ------------------------------- */

static struct fs *daemon_chan_fs(struct chan *ch)
{
	return ((struct daemon_ctx *)(void *)ch)
	    ->fs; /* the channel is the context's first member */
}

static void daemon_chan_plug(struct chan *ch)
{
	fsio_plug(daemon_chan_fs(ch));
}

static void daemon_chan_unplug(struct chan *ch)
{
	fsio_unplug(daemon_chan_fs(ch));
}

static bool daemon_chan_busy(struct chan *ch)
{
	return fsio_dio_inflight(daemon_chan_fs(ch)) > 1; /* others than the one just handled */
}

static bool daemon_chan_direct(struct chan *ch)
{
	return fsio_has_direct(daemon_chan_fs(ch)); /* else O_DIRECT is served buffered */
}

const struct chan_batch_ops daemon_chan_batch = {.plug = daemon_chan_plug,
						 .unplug = daemon_chan_unplug,
						 .busy = daemon_chan_busy,
						 .direct = daemon_chan_direct};

/* ---- write-back errors per open file description ---------------------------- */

struct daemon_file {
	pthread_mutex_t lock; /* two fsyncs of one description: one cursor */
	uint32_t wb_since;
	LIST_ENTRY(daemon_file) link; /* on the mount's list (fl->lock) */
};

void daemon_files_init(struct daemon_files *fl)
{
	pthread_mutex_init(&fl->lock, NULL);
	LIST_INIT(&fl->head);
}

void daemon_files_destroy(struct daemon_files *fl)
{
	struct daemon_file *f;

	while ((f = LIST_FIRST(&fl->head))) {
		LIST_REMOVE(f, link);
		pthread_mutex_destroy(&f->lock);
		free(f);
	}
	pthread_mutex_destroy(&fl->lock);
}

int daemon_file_open(struct daemon_files *fl, struct fs *fs, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct daemon_file *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->wb_since = fsio_wb_err_sample(fs, ino);
	pthread_mutex_lock(&fl->lock);
	LIST_INSERT_HEAD(&fl->head, f, link);
	pthread_mutex_unlock(&fl->lock);
	fi->fh = (uintptr_t)f;
	return 0;
}

int daemon_file_fsync(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, int ret)
{
	struct daemon_file *f = (struct daemon_file *)(uintptr_t)fi->fh;

	if (!f)
		return ret;
	pthread_mutex_lock(&f->lock);
	int e = fsio_wb_err_check(fs, ino, &f->wb_since); /* advances even when ret < 0 */
	pthread_mutex_unlock(&f->lock);
	return ret < 0 ? ret : e;
}

void daemon_file_release(struct daemon_files *fl, struct fuse_file_info *fi)
{
	struct daemon_file *f = (struct daemon_file *)(uintptr_t)fi->fh;

	if (!f)
		return;
	pthread_mutex_lock(&fl->lock);
	LIST_REMOVE(f, link);
	pthread_mutex_unlock(&fl->lock);
	pthread_mutex_destroy(&f->lock);
	free(f);
	fi->fh = 0;
}

/* mainline's stale page cache warning (the kernel's dio_warn_stale_pagecache:
   pr_crit, 10 lines a day at most); arg is the daemon_log. */
static void daemon_dio_stale(void *arg, uint64_t ino, int64_t off, size_t len, int err)
{
	char line[256];

	snprintf(line, sizeof(line),
		 "eiocbfs: Page cache invalidation failure on direct I/O. Possible data corruption "
		 "due to collision with buffered I/O! File: inode %" PRIu64 " bytes %" PRId64
		 "+%zu (%s)",
		 ino, off, len, strerror(-err));
	daemon_log_stale(arg, line);
}

/* ---- the daemon's engine ------------------------------------------------------ */

struct daemon_io {
	struct faults *faults;
	struct ctl *ctl;
	struct ctl_daemon cd;
	struct crash_cmd *crash; /* eiocbctl crash (fs/daemon/crash.h) */
	struct daemon_log *log;	 /* oops records, rate limited (daemon_log.h) */
};

int daemon_io_prepare(const struct daemon_options *o, struct fs_mount_opts *mopts,
		      struct daemon_io **out, char *err, size_t errlen)
{
	struct daemon_io *eio = calloc(1, sizeof(*eio));

	if (!eio || !(eio->faults = faults_new((uint64_t)getpid(), daemon_log_fault, NULL))) {
		free(eio);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i <= o->nfaults; i++) {
		int r = i < o->nfaults	 ? fault_set_option(eio->faults, o->faults[i], err, errlen)
			: o->faults_text ? fault_load_text(eio->faults, o->faults_text, err, errlen)
					 : 0;
		if (r < 0) {
			faults_free(eio->faults);
			free(eio);
			return -1;
		}
	}
	mopts->io = true;
	mopts->cache_mb = o->cache_mb;
	mopts->semantics = (int)o->semantics; /* SEM_* and IOCTX_* share their order */
	mopts->faults = eio->faults;
	mopts->device_cache = o->device_cache;
	*out = eio;
	return 0;
}

/* "fuse": the direct requests and their answers (each exactly once). */
static int daemon_io_json(void *arg, json_t *stats)
{
	struct fsio_dio_stats st;

	fsio_dio_get_stats(arg, &st);
	return json_object_set_new(stats, "fuse",
				   json_pack("{s:I, s:I, s:I, s:I, s:I}", "direct_requests",
					     (json_int_t)st.requests, "direct_replies",
					     (json_int_t)st.replies, "direct_cancelled",
					     (json_int_t)st.cancelled, "double_replies",
					     (json_int_t)st.bad_replies, "stale_pagecache",
					     (json_int_t)st.stale_pagecache)) < 0
		   ? -ENOMEM
		   : 0;
}

int daemon_io_start(struct daemon_io *eio, struct fs *fs, const struct daemon_options *o, char *err,
		    size_t errlen)
{
	fsio_set_dio_done(fs, daemon_dio_done, NULL);
	if ((eio->log = daemon_log_new())) {
		fsio_set_oops_log(fs, daemon_log_oops, eio->log);
		fsio_set_stale_log(fs, daemon_dio_stale, eio->log);
	}
	eio->cd.faults = eio->faults;
	eio->cd.ioctx = fsio_ioctx(fs);
	eio->cd.pc = fsio_pc(fs);
	eio->cd.semantics = semantics_name(o->semantics);
	eio->cd.extra_json = daemon_io_json;
	eio->cd.extra_arg = fs;
	if ((eio->crash = crash_cmd_new(o->mountpoint))) {
		crash_cmd_set_fs(eio->crash, fs);
		eio->cd.crash = crash_cmd_run;
		eio->cd.crash_arg = eio->crash;
	}
	eio->cd.remount = daemon_remount_command;
	eio->cd.remount_arg = fs;
	if (ctl_start(o->mountpoint, o->control, getuid(), ctl_daemon_handle, &eio->cd, &eio->ctl,
		      err, errlen) < 0) {
		eio->ctl = NULL;
		/* A socket the user named (control=PATH) is part of what was asked
		   for: refuse the mount (err says why). Without it the mount works
		   without runtime control: say so, go on. */
		if (o->control)
			return -1;
		fprintf(stderr, "eiocbfs: control channel: %s\n", err);
	} else if (err[0]) {
		fprintf(stderr, "eiocbfs: control channel: %s\n", err); /* default path only */
	}
	err[0] = '\0';
	return 0;
}

void daemon_io_stop(struct daemon_io *eio)
{
	if (eio) {
		crash_cmd_wait(eio->crash);
		ctl_stop(eio->ctl);
		eio->ctl = NULL;
	}
}

void daemon_io_free(struct daemon_io *eio)
{
	if (!eio)
		return;
	faults_free(eio->faults);
	crash_cmd_free(eio->crash);
	daemon_log_free(eio->log); /* after fs_unmount: no oops can come any more */
	free(eio);
}
