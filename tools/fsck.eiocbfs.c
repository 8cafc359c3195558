/*
 * fsck.eiocbfs: check (and with -y repair) an eiocbfs filesystem.
 *
 *   fsck.eiocbfs [-n|-y|-p] [-f] [-v] TARGET
 *
 * -n checks without writing (the default), -y repairs what it can, -v lists
 * every finding; otherwise one line per kind of finding. Then e2fsck's
 * closing lines: "***** FILE SYSTEM WAS MODIFIED *****" (exit 1) or
 * "WARNING: Filesystem still has errors" (exit 4), and the files and
 * blocks in use. Exit codes are e2fsck's: 0 clean, 1 errors fixed, 4
 * errors left uncorrected, 8 operational error, 16 usage error. The checking
 * is fs/fsck/fsck.h's; this file
 * only parses arguments and prints.
 */
#include <getopt.h>
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

#define FSCK_EXIT_USAGE 16 /* e2fsck's */

static void usage(FILE *out)
{
	fprintf(out, "usage: fsck.eiocbfs [-n|-y|-p] [-f] [-v] TARGET\n"
		     "  -n             check only, write nothing (default)\n"
		     "  -y             repair everything that can be repaired\n"
		     "  -p             preen (as fsck(8) passes it at boot): what -y does\n"
		     "  -f             force a full check (every check always runs)\n"
		     "  -v             list every finding\n"
		     "  -h, --help     this help\n"
		     "  -V, --version  the version\n"
		     "exit: 0 clean, 1 errors fixed, 4 errors left, 8 operational error,\n"
		     "16 usage error\n");
}

/* One line naming the target once: fsck's messages mostly name it already. */
static void refusal(const char *target, const char *msg)
{
	size_t n = strlen(target);

	if (strncmp(msg, target, n) == 0 && msg[n] == ':')
		fprintf(stderr, "fsck.eiocbfs: %s\n", msg);
	else
		fprintf(stderr, "fsck.eiocbfs: %s: %s\n", target, msg);
}

static void report(void *arg, const struct fsck_finding *fi)
{
	const struct fsck_opts *o = arg;
	if (o->verbose)
		printf("%s%s\n", fi->msg, o->mode == FSCK_REPAIR && fi->fixed ? " [fixed]" : "");
}

int main(int argc, char **argv)
{
	struct fsck_opts o = {.mode = FSCK_CHECK};
	bool n = false, y = false;
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "nyvfphV", longopts, NULL)) != -1) {
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
		case 'V':
			printf("fsck.eiocbfs 0.1\n");
			return 0;
		default:
			usage(stderr);
			return FSCK_EXIT_USAGE;
		}
	}
	if (n && y) {
		fprintf(stderr, "fsck.eiocbfs: -n and -y exclude each other\n");
		return FSCK_EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return FSCK_EXIT_USAGE;
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
		refusal(target, err[0] ? err : "operational error");
		return code;
	}
	if (!o.verbose)
		for (int p = 0; p < FP_NR; p++)
			if (r.found[p])
				printf("%s: %" PRIu64 "%s\n", fsck_problem_name(p), r.found[p],
				       o.mode == FSCK_REPAIR
					   ? (r.fixed[p] == r.found[p] ? " (fixed)"
								       : " (NOT all fixed)")
					   : "");
	/* e2fsck's closing lines: what happened, then inodes and blocks in use. */
	if (code & FSCK_EXIT_UNCORRECTED)
		printf("\n%s: ********** WARNING: Filesystem still has errors **********\n\n",
		       target);
	else if (code & FSCK_EXIT_FIXED)
		printf("\n%s: ***** FILE SYSTEM WAS MODIFIED *****\n", target);
	uint64_t frag = r.inodes_used ? (10000 * r.fragmented / r.inodes_used + 5) / 10 : 0;
	printf("%s: %s%" PRIu64 "/%" PRIu64 " files (%d.%d%% non-contiguous), %" PRIu64 "/%" PRIu64
	       " blocks\n",
	       target, code == FSCK_EXIT_CLEAN ? "clean, " : "", r.inodes_used, r.ninodes,
	       (int)(frag / 10), (int)(frag % 10), r.blocks_used, r.nblocks);
	return code;
}
