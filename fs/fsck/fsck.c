/*
 * fsck.c: the checker's driver. Layer: the checker's top; runs the passes
 * (fsck_*.c) in order over the image view, records findings and turns them
 * into e2fsck's exit code. Prints nothing: findings go to the caller's
 * report callback, the summary to struct fsck_result.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"

static const struct {
	const char *name;
	bool info; /* reported, but not an error: does not change the exit code */
} problems[FP_NR] = {
    [FP_SB_BAD] = {"primary superblock damaged", false},
    [FP_SB_BACKUP] = {"backup superblock damaged or different", false},
    [FP_SB_STATE] = {"filesystem marked with errors", false},
    [FP_JOURNAL] = {"journal replayed", true},
    [FP_JOURNAL_BAD] = {"journal damaged", false},
    [FP_BITMAP_HDR] = {"bitmap block damaged", false},
    [FP_ITABLE_HDR] = {"inode table block damaged", false},
    [FP_INODE_BAD] = {"inode with bad fields", false},
    [FP_INODE_UNUSED_MARKED] = {"free inode marked in use", false},
    [FP_INODE_USED_UNMARKED] = {"inode in use marked free", false},
    [FP_EXTENT_BAD] = {"extent tree damaged", false},
    [FP_EXTENT_RANGE] = {"extent outside the data area", false},
    [FP_EXTENT_DUP] = {"block claimed twice", false},
    [FP_SIZE] = {"inode size or block count wrong", false},
    [FP_XATTR_BAD] = {"xattr block damaged", false},
    [FP_DIR_BAD] = {"directory block damaged", false},
    [FP_DIR_ENTRY] = {"directory entry to a free or bad inode", false},
    [FP_DIR_DUP] = {"duplicate directory entry", false},
    [FP_DIR_DOT] = {"'.' or '..' wrong", false},
    [FP_DIR_HASH] = {"directory hash index wrong", false},
    [FP_ROOT] = {"root directory missing", false},
    [FP_LF_MISSING] = {"/lost+found missing", true},
    [FP_LF_NOT_DIR] = {"/lost+found not a directory", false},
    [FP_UNREACHABLE] = {"inode not reachable from the root", false},
    [FP_NLINK] = {"link count wrong", false},
    [FP_ORPHAN] = {"orphan list wrong", false},
    [FP_ORPHAN_FREED] = {"orphan inodes freed", true},
    [FP_BLOCK_UNUSED_MARKED] = {"free block marked in use", false},
    [FP_BLOCK_USED_UNMARKED] = {"block in use marked free", false},
    [FP_FREE_COUNT] = {"free counts wrong", false},
};

const char *fsck_problem_name(enum fsck_problem p)
{
	return (unsigned)p < FP_NR ? problems[p].name : "?";
}

static void vnote(struct fsck *f, uint64_t ino, uint64_t n, enum fsck_problem p, bool fixed,
		  const char *fmt, va_list ap)
{
	f->r->found[p]++;
	if (fixed)
		f->r->fixed[p]++;
	if (!f->o->report)
		return;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct fsck_finding fi = {.problem = p, .fixed = fixed, .ino = ino, .nino = n, .msg = msg};
	f->o->report(f->o->report_arg, &fi);
}

void fsck_note(struct fsck *f, enum fsck_problem p, bool fixed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(f, 0, 0, p, fixed, fmt, ap);
	va_end(ap);
}

void fsck_inote(struct fsck *f, uint64_t ino, enum fsck_problem p, bool fixed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(f, ino, 1, p, fixed, fmt, ap);
	va_end(ap);
}

void fsck_inote_range(struct fsck *f, uint64_t ino, uint64_t n, enum fsck_problem p, bool fixed,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(f, ino, n, p, fixed, fmt, ap);
	va_end(ap);
}

int fsck_fail(struct fsck *f, int err, const char *fmt, ...)
{
	if (f->op_err)
		return err;
	f->op_err = err < 0 ? err : -EIO;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->err, f->errlen, fmt, ap);
	va_end(ap);
	return err;
}

/* Pre: the superblock pass succeeded (geometry sane). */
static int alloc_state(struct fsck *f)
{
	uint64_t ni = f->sb.ninodes + 1, nb = f->sb.nblocks;
	f->istate = calloc(ni, sizeof(*f->istate));
	f->ilinks = calloc(ni, sizeof(*f->ilinks));
	f->iparent = calloc(ni, sizeof(*f->iparent));
	f->breach = calloc(nb / 8 + 1, 1);
	f->breleased = calloc(nb / 8 + 1, 1);
	if (!f->istate || !f->ilinks || !f->iparent || !f->breach || !f->breleased)
		return fsck_fail(
		    f, -ENOMEM, "out of memory for %" PRIu64 " inodes, %" PRIu64 " blocks", ni, nb);
	return 0;
}

static int exit_code(int op_err, const struct fsck_result *r)
{
	if (op_err)
		return FSCK_EXIT_OPERATIONAL;
	int code = FSCK_EXIT_CLEAN;
	for (int p = 0; p < FP_NR; p++) {
		if (problems[p].info || !r->found[p])
			continue;
		code |= r->fixed[p] < r->found[p] ? FSCK_EXIT_UNCORRECTED : FSCK_EXIT_FIXED;
	}
	return code & FSCK_EXIT_UNCORRECTED ? FSCK_EXIT_UNCORRECTED : code;
}

/* The passes in order; each returns < 0 only on an operational error. */
static int run_passes(struct fsck *f)
{
	int (*const passes[])(struct fsck *) = {
	    fsck_pass_super,   fsck_pass_journal, fsck_scan_orphans,
	    fsck_pass_inodes,  fsck_pass_dirs,	  fsck_pass_links,
	    fsck_pass_orphans, fsck_pass_bitmaps, fsck_pass_summary,
	};
	for (size_t i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		if (passes[i](f) < 0 || f->op_err)
			return f->op_err ? f->op_err : -EIO;
		if (i == 0 && alloc_state(f) < 0)
			return f->op_err;
	}
	return 0;
}

static int run(struct fsck *f)
{
	f->scratch = malloc(EF_MAX_BLOCK_SIZE);
	if (!f->scratch)
		fsck_fail(f, -ENOMEM, "out of memory");
	else
		run_passes(f);
	if (!f->op_err && f->o->mode == FSCK_REPAIR) {
		int rc = img_flush(&f->im);
		if (rc < 0)
			fsck_fail(f, rc, "flushing the device: %s", strerror(-rc));
	}
	f->r->nblocks = f->sb.nblocks;
	f->r->ninodes = f->sb.ninodes;
	f->r->exit_code = exit_code(f->op_err, f->r);
	free(f->scratch);
	free(f->istate);
	free(f->ilinks);
	free(f->iparent);
	free(f->breach);
	free(f->breleased);
	free(f->orphans);
	img_close(&f->im);
	return f->r->exit_code;
}

static int run_once(const char *target, const struct fsck_opts *o, struct fsck_result *r, char *err,
		    size_t errlen)
{
	struct fsck f = {.o = o, .r = r, .err = err, .errlen = errlen};
	memset(r, 0, sizeof(*r));
	if (errlen)
		err[0] = '\0';
	int rc = img_open_target(&f.im, target, o->mode != FSCK_REPAIR, err, errlen);
	if (rc < 0) {
		if (errlen && !err[0])
			snprintf(err, errlen, "%s: %s", target, strerror(-rc));
		return r->exit_code = FSCK_EXIT_OPERATIONAL;
	}
	return run(&f);
}

/*
 * A repair can uncover what the damage hid (a block two damaged files both
 * claimed, seen once one of them is rebuilt): like e2fsck's restart, -y
 * checks its own result and repairs again while something is left, a
 * bounded number of times; the findings of every round are counted.
 */
#define FSCK_RESTARTS 3

int fsck_run(const char *target, const struct fsck_opts *o, struct fsck_result *r, char *err,
	     size_t errlen)
{
	int code = run_once(target, o, r, err, errlen);

	for (int i = 0; i < FSCK_RESTARTS && o->mode == FSCK_REPAIR && code == FSCK_EXIT_FIXED;
	     i++) {
		struct fsck_opts check = {.mode = FSCK_CHECK};
		struct fsck_result again;

		if (run_once(target, &check, &again, err, errlen) != FSCK_EXIT_UNCORRECTED)
			break;
		if (run_once(target, o, &again, err, errlen) == FSCK_EXIT_OPERATIONAL)
			return r->exit_code = FSCK_EXIT_OPERATIONAL;
		for (int p = 0; p < FP_NR; p++) {
			again.found[p] += r->found[p];
			again.fixed[p] += r->fixed[p];
		}
		*r = again;
		code = r->exit_code = exit_code(0, r);
	}
	if (errlen && code != FSCK_EXIT_OPERATIONAL)
		err[0] = '\0';
	return code;
}
