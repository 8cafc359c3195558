/*
 * fsck.eiocbfs: check (and with -y repair) an eiocbfs filesystem.
 *
 *   fsck.eiocbfs [-n|-y] [-v] TARGET
 *
 * -n checks without writing (the default), -y repairs what it can, -v lists
 * every finding; otherwise one line per kind of finding and a summary.
 * Exit codes are e2fsck's: 0 clean, 1 errors fixed, 4 errors left
 * uncorrected, 8 operational error. The checking is fs/fsck.h's; this file
 * only parses arguments and prints.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck.h"
#include "holder.h"

static void wait_notice(void *arg, const char *target, const struct holder *h)
{
	fprintf(stderr, "fsck.eiocbfs: %s: waiting for eiocbfs (pid %d) to finish unmounting it\n",
		target, (int)h->pid);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: fsck.eiocbfs [-n|-y] [-v] TARGET\n"
		     "  -n  check only, write nothing (default)\n"
		     "  -y  repair everything that can be repaired\n"
		     "  -v  list every finding\n"
		     "exit: 0 clean, 1 errors fixed, 4 errors left, 8 operational error\n");
}

static void report(void *arg, enum fsck_problem p, bool fixed, const char *msg)
{
	const struct fsck_opts *o = arg;
	printf("%s%s\n", msg, o->mode == FSCK_REPAIR && fixed ? " [fixed]" : "");
}

int main(int argc, char **argv)
{
	struct fsck_opts o = {.mode = FSCK_CHECK};
	bool n = false, y = false;
	int c;
	while ((c = getopt(argc, argv, "nyvfph")) != -1) {
		switch (c) {
		case 'n':
			n = true;
			break;
		case 'y':
		case 'p': /* preen: what -y does, as fsck(8) passes it at boot */
			y = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'f': /* e2fsck's force: every check always runs here */
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return FSCK_EXIT_OPERATIONAL;
		}
	}
	if (n && y) {
		fprintf(stderr, "fsck.eiocbfs: -n and -y exclude each other\n");
		return FSCK_EXIT_OPERATIONAL;
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return FSCK_EXIT_OPERATIONAL;
	}
	const char *target = argv[optind];
	o.mode = y ? FSCK_REPAIR : FSCK_CHECK;
	o.report = report;
	o.report_arg = &o;

	struct fsck_result r;
	char err[256];
	/* A daemon just unmounted may still hold the image: wait for it. */
	holder_wait_release(target, o.mode == FSCK_CHECK, HOLDER_RELEASE_WAIT_MS, wait_notice, NULL,
			    NULL);
	int code = fsck_run(target, &o, &r, err, sizeof(err));
	if (code == FSCK_EXIT_OPERATIONAL) {
		fprintf(stderr, "fsck.eiocbfs: %s\n", err[0] ? err : "operational error");
		return code;
	}
	if (!o.verbose)
		for (int p = 0; p < FP_NR; p++)
			if (r.found[p])
				printf("%s: %" PRIu64 "%s\n", fsck_problem_name(p), r.found[p],
				       o.mode == FSCK_REPAIR
					       ? (r.fixed[p] == r.found[p] ? " (fixed)" : " (NOT all fixed)")
					       : "");
	printf("%s: %s, %" PRIu64 "/%" PRIu64 " inodes, %" PRIu64 "/%" PRIu64
	       " blocks, %" PRIu64 " files, %" PRIu64 " directories\n",
	       target,
	       code == FSCK_EXIT_CLEAN	   ? "clean"
	       : code == FSCK_EXIT_FIXED ? "errors fixed"
					 : "ERRORS LEFT UNCORRECTED",
	       r.inodes_used, r.ninodes, r.blocks_used, r.nblocks, r.files, r.dirs);
	return code;
}
