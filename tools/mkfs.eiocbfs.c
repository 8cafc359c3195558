/*
 * mkfs.eiocbfs: make an eiocbfs filesystem on a block device or an image
 * file. The command line only: the layout is storage_format (fs/storage/format.c),
 * the root directory fs_format_root (the namespace layer), /lost+found an
 * fs_mkdir; sizes are size.h's grammar.
 *
 *   mkfs.eiocbfs [-s SIZE] [-b BLOCKSIZE] [-N INODES] [-L LABEL] [-f] TARGET
 *
 * Exit status: 0 made, 1 anything else (with a one-line reason), usage
 * errors included (mke2fs' convention).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holder.h"
#include "storage.h"

#include "fs.h"
#include "namespace.h"
#include "size.h"

/* /lost+found, where fsck.eiocbfs -y reconnects what nothing names (mode
   0700, as mke2fs makes it), through a mount of the new filesystem. */
static int make_lost_found(const char *target, char *err, size_t errlen)
{
	struct fs *fs;
	struct fs_mount_opts mo = {0};
	int rc = fs_mount(target, &mo, &fs, err, errlen);
	if (rc < 0)
		return rc;
	fs_attr_t a;
	rc = fs_mkdir(fs, FS_ROOT_INO, "lost+found", 0700, getuid(), getgid(), &a);
	if (rc == 0)
		fs_forget(fs, a.st_ino, 1);
	int rc2 = fs_unmount(fs);
	rc = rc < 0 ? rc : rc2;
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot create /lost+found: %s", target, strerror(-rc));
	return rc;
}

static const char *prog = "mkfs.eiocbfs";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-s SIZE] [-b BLOCKSIZE] [-N INODES] [-L LABEL] [-f] TARGET\n"
		"  -s SIZE       size (K, M, G, T suffixes); creates TARGET as an image file\n"
		"                if it does not exist (default: the whole target)\n"
		"  -b BLOCKSIZE  1024, 2048 or 4096 (default 4096; 1K, 2K, 4K accepted)\n"
		"  -N INODES     number of inodes (default: one per 16 KiB)\n"
		"  -L LABEL      volume label (at most 63 bytes)\n"
		"  -f            overwrite an existing filesystem signature\n"
		"  -h, --help    this help\n"
		"  -V, --version the version\n"
		"exit: 0 made, 1 anything else\n",
		prog);
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	unsigned *last = arg;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	if (pct != *last) {
		*last = pct;
		fprintf(stderr, "\r%s: writing metadata: %3u%%", prog, pct);
		if (pct == 100)
			fputc('\n', stderr);
	}
}

/* One line naming the target once: the storage layer's messages mostly name it already. */
static void refusal(const char *target, const char *msg)
{
	size_t n = strlen(target);

	if (strncmp(msg, target, n) == 0 && msg[n] == ':')
		fprintf(stderr, "%s: %s\n", prog, msg);
	else
		fprintf(stderr, "%s: %s: %s\n", prog, target, msg);
}

static void wait_notice(void *arg, const char *target, const struct holder *h)
{
	fprintf(stderr, "%s: %s: waiting for eiocbfs (pid %d) to finish unmounting it\n", prog,
		target, (int)h->pid);
}

static void human(uint64_t bytes, char *out, size_t n)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int i = 0;
	while (v >= 1024 && i < 5)
		v /= 1024, i++;
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

int main(int argc, char **argv)
{
	struct format_opts o = {0};
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {NULL, 0, NULL, 0}};
	char why[256];
	int c;
	while ((c = getopt_long(argc, argv, "s:b:N:L:fhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (size_parse(optarg, &o.size_bytes, why, sizeof(why)) < 0) {
				fprintf(stderr, "%s: -s: %s\n", prog, why);
				return 1;
			}
			if (!o.size_bytes) {
				fprintf(stderr, "%s: -s: the size must not be 0\n", prog);
				return 1;
			}
			break;
		case 'b': {
			uint64_t b = 0;

			if (size_parse(optarg, &b, why, sizeof(why)) < 0) {
				fprintf(stderr, "%s: -b: %s\n", prog, why);
				return 1;
			}
			if (b != 1024 && b != 2048 && b != 4096) {
				fprintf(stderr,
					"%s: block size '%s' not supported (1024, 2048 or 4096)\n",
					prog, optarg);
				return 1;
			}
			o.block_size = (uint32_t)b;
			break;
		}
		case 'N': {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (errno || *end || n == 0 || *optarg == '-' || n >= UINT32_MAX) {
				fprintf(stderr, "%s: bad inode count '%s'\n", prog, optarg);
				return 1;
			}
			o.ninodes = n;
			break;
		}
		case 'L':
			if (strlen(optarg) > 63) {
				fprintf(stderr, "%s: label '%s' longer than 63 bytes\n", prog,
					optarg);
				return 1;
			}
			o.label = optarg;
			break;
		case 'f':
			o.force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s 0.1\n", prog);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	const char *target = argv[optind];
	unsigned last = 101;
	if (isatty(STDERR_FILENO)) {
		o.progress = progress;
		o.progress_arg = &last;
	}
	char err[256];
	/* A daemon just unmounted may still hold the target: wait for it. */
	holder_wait_release(target, false, HOLDER_RELEASE_WAIT_MS, wait_notice, NULL, NULL);
	if (storage_format(target, &o, err, sizeof(err)) < 0) {
		if (last != 101 && last != 100)
			fputc('\n', stderr);
		refusal(target, err);
		return 1;
	}
	struct storage *st;
	if (storage_open(target, false, &st, err, sizeof(err)) < 0) {
		refusal(target, err);
		return 1;
	}
	int rc = 0;
	rc = fs_format_root(st, getuid(), getgid());
	if (rc < 0)
		fprintf(stderr, "%s: %s: cannot create the root directory: %s\n", prog, target,
			strerror(-rc));
	struct ef_super sb = st->sb;
	int rc2 = storage_close(st);
	if (rc == 0 && rc2 < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, target, strerror(-rc2));
		rc = rc2;
	}
	if (rc == 0 && (rc = make_lost_found(target, err, sizeof(err))) < 0)
		fprintf(stderr, "%s: %s\n", prog, err);
	if (rc < 0)
		return 1;
	char hsize[32], uuid[40];
	human(sb.nblocks * sb.block_size, hsize, sizeof(hsize));
	const uint8_t *u = sb.uuid;
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	printf("%s: %s: %s, %" PRIu64 " blocks of %u bytes, %" PRIu64 " inodes, journal %" PRIu64
	       " blocks, uuid %s%s%s%s\n",
	       prog, target, hsize, sb.nblocks, sb.block_size, sb.ninodes, sb.journal_len, uuid,
	       sb.label[0] ? ", label '" : "", sb.label, sb.label[0] ? "'" : "");
	return 0;
}
