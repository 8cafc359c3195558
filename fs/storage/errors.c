/*
 * errors.c: the errors= policy for failed metadata writes (errors.h).
 *
 * Layer: beside storage. The journal's write hook (storage_int.h) runs
 * inside a commit, under the journal's I/O lock: it only decides, logs and
 * returns. The superblock record (storage_set_error) needs the journal, so
 * it runs on a thread of its own once the failing commit has let go.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "errors.h"
#include "fault.h"
#include "storage.h"
#include "storage_int.h"

static const char *const mode_names[] = {
    [FS_ERRORS_REMOUNT_RO] = "remount-ro",
    [FS_ERRORS_CONTINUE] = "continue",
    [FS_ERRORS_SHUTDOWN] = "shutdown",
};

struct fs_errors {
	struct storage *st;
	struct faults *faults;
	int mode;
	uint32_t bs;
	atomic_bool failed; /* the first failure was seen (logged once) */
	uint64_t block;	    /* its block number */
	pthread_t recorder;
	bool recorder_started;
};

int fs_errors_parse(const char *s)
{
	for (int m = 0; m < (int)(sizeof(mode_names) / sizeof(mode_names[0])); m++)
		if (strcmp(s, mode_names[m]) == 0)
			return m;
	return -1;
}

const char *fs_errors_name(int mode)
{
	return mode >= 0 && mode <= FS_ERRORS_SHUTDOWN ? mode_names[mode] : "?";
}

/* Durable record of the error in the superblock (journal or, broken, direct). */
static void *record_main(void *arg)
{
	struct fs_errors *e = arg;
	int r = storage_set_error(e->st, e->block);
	if (r < 0)
		syslog(LOG_ERR, "eiocbfs: cannot record the metadata error in the superblock: %s",
		       strerror(-r));
	return NULL;
}

/* The journal's write hook: 0 write (as *dmg says), < 0 fail with that errno. */
static int errors_hook(void *arg, uint64_t blockno, struct jwrite_damage *dmg)
{
	struct fs_errors *e = arg;
	const struct ef_super *sb = &e->st->sb;
	bool log = blockno >= sb->journal_start && blockno - sb->journal_start < sb->journal_len;
	struct fault_req rq = {.ino = FAULT_INO_META,
			       .off = blockno * e->bs,
			       .len = e->bs,
			       .io = log ? FAULT_IO_JOURNAL : FAULT_IO_META,
			       .pid = fault_caller(),
			       .kinds = FAULT_KINDS_ALL};
	struct fault_hit hit;
	int err;

	if (!fault_hit(e->faults, FAULT_DEVICE_WRITE, &rq, &hit))
		return 0;
	/* The silent kinds: the device reports success, so errors= never hears
	   of them; the damage is the checksums' and fsck's to find (a torn
	   block with errno= reports that errno, through errors=, as an error). */
	switch (hit.kind) {
	case FAULT_KIND_LOST:
		dmg->what = JW_LOST;
		return 0;
	case FAULT_KIND_CORRUPT:
		dmg->what = JW_CORRUPT;
		dmg->byte = (uint32_t)hit.byte;
		dmg->bits = hit.bits;
		return 0;
	case FAULT_KIND_TORN:
		dmg->what = JW_TORN;
		dmg->keep = (uint32_t)hit.keep;
		if (!hit.err)
			return 0;
		break;
	case FAULT_KIND_ERROR:
		break;
	}
	err = hit.err;
	bool first = !atomic_exchange(&e->failed, true);
	if (first) {
		const char *what = e->mode == FS_ERRORS_CONTINUE   ? "continuing"
				   : e->mode == FS_ERRORS_SHUTDOWN ? "filesystem shut down (EIO)"
								   : "filesystem is now read-only";
		/* Logged once: a failing device would otherwise flood the log. */
		fprintf(stderr,
			"eiocbfs: metadata write error at block %llu (%s): %s (errors=%s)\n",
			(unsigned long long)blockno, strerror(err), what, mode_names[e->mode]);
		syslog(LOG_ERR, "metadata write error at block %llu (%s): %s (errors=%s)",
		       (unsigned long long)blockno, strerror(err), what, mode_names[e->mode]);
		e->block = blockno;
		e->recorder_started = pthread_create(&e->recorder, NULL, record_main, e) == 0;
	}
	switch (e->mode) {
	case FS_ERRORS_CONTINUE:
		return 0;
	case FS_ERRORS_SHUTDOWN:
		return -EIO;
	default:
		return -EROFS;
	}
}

int fs_errors_attach(struct storage *st, struct faults *faults, int mode, struct fs_errors **out)
{
	*out = NULL;
	if (!faults)
		return 0;
	struct fs_errors *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->st = st;
	e->faults = faults;
	e->mode = mode;
	e->bs = st->sb.block_size;
	journal_set_write_hook(st->journal, errors_hook, e);
	*out = e;
	return 0;
}

void fs_errors_detach(struct fs_errors *e)
{
	if (!e)
		return;
	journal_set_write_hook(e->st->journal, NULL, NULL);
	if (e->recorder_started)
		pthread_join(e->recorder, NULL);
	free(e);
}
