/*
 * umount.fuse.eiocbfs: the unmount helper umount(8) runs for an eiocbfs
 * mount (the daemon registers helper=fuse.eiocbfs in libmount's utab).
 *
 *   umount.fuse.eiocbfs MOUNTPOINT [-l] [-f] [-v] [-n] [-r] [-t TYPE]
 *
 * Unmounts, then waits until the daemon has written everything back,
 * marked the filesystem clean and released its target, as the kernel does
 * for its own filesystems: when this returns, fsck, mkfs or a new mount of
 * the target succeed at once. -l (lazy) detaches and does not wait: the
 * daemon finishes when the last open file is closed. Exit status: 0
 * unmounted and released, 32 failure (umount(8)'s), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "holder.h"

#define EXIT_USAGE 2
#define EXIT_FAIL 32

static const char prog[] = "umount.fuse.eiocbfs";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s MOUNTPOINT [-l] [-f] [-v] [-n] [-r] [-t TYPE]\n"
		"Unmounts an eiocbfs filesystem and waits until its daemon has released the\n"
		"target (umount(8) runs it for type fuse.eiocbfs).\n"
		"  -l  lazy: detach now, do not wait\n"
		"  -f  force (umount2 MNT_FORCE)\n"
		"  -v  say what is done\n"
		"  -n, -r, -t TYPE  accepted and ignored (umount(8) passes them)\n"
		"  -h, --help     this help\n"
		"  -V, --version  the version\n"
		"exit: 0 unmounted and released, 32 failure, 2 bad usage\n",
		prog);
}

/* The source of the eiocbfs mount at mnt (the last one mounted there). */
static bool mount_source(const char *mnt, char *src, size_t len)
{
	char buf[4 * PATH_MAX];
	struct mntent me, *m;
	bool found = false;
	FILE *f = setmntent("/proc/self/mounts", "re");

	if (!f)
		return false;
	while ((m = getmntent_r(f, &me, buf, sizeof(buf))))
		if (strcmp(m->mnt_dir, mnt) == 0) {
			found = strcmp(m->mnt_type, "fuse.eiocbfs") == 0;
			if (found)
				snprintf(src, len, "%s", m->mnt_fsname);
		}
	endmntent(f);
	return found;
}

/* Not root: fusermount3, the setuid helper, may unmount the user's own mount. */
static int fusermount(const char *mnt, bool lazy)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (lazy)
			execlp("fusermount3", "fusermount3", "-u", "-z", mnt, (char *)NULL);
		else
			execlp("fusermount3", "fusermount3", "-u", mnt, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

static void wait_notice(void *arg, const char *target, const struct holder *h)
{
	fprintf(stderr, "%s: %s: unmounted; waiting for eiocbfs (pid %d) to release %s\n", prog,
		(const char *)arg, (int)h->pid, target);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {NULL, 0, NULL, 0}};
	bool lazy = false, force = false, verbose = false;
	char mnt[PATH_MAX], src[PATH_MAX];
	struct holder h;
	int c;

	while ((c = getopt_long(argc, argv, "lfvnrt:N:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lazy = true;
			break;
		case 'f':
			force = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'n': /* libmount keeps its own table */
		case 'r': /* remount read-only on failure: nothing to do for FUSE */
		case 't':
		case 'N':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s 0.1\n", prog);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* A dead daemon's mount point cannot be resolved (ENOTCONN): keep it as given. */
	if (!realpath(argv[optind], mnt))
		snprintf(mnt, sizeof(mnt), "%s", argv[optind]);
	bool eiocbfs = mount_source(mnt, src, sizeof(src));

	if (umount2(mnt, (lazy ? MNT_DETACH : 0) | (force ? MNT_FORCE : 0)) < 0) {
		int e = errno;

		if (e != EPERM || fusermount(mnt, lazy) < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, mnt, strerror(e));
			return EXIT_FAIL;
		}
	}
	if (verbose)
		printf("%s: %s unmounted\n", prog, mnt);
	if (lazy || !eiocbfs)
		return 0;
	if (holder_wait_release(src, false, HOLDER_RELEASE_WAIT_MS, wait_notice, mnt, &h) < 0) {
		fprintf(stderr,
			"%s: %s: unmounted, but eiocbfs (pid %d) still holds %s after %d s\n", prog,
			mnt, (int)h.pid, src, HOLDER_RELEASE_WAIT_MS / 1000);
		return EXIT_FAIL;
	}
	if (verbose)
		printf("%s: %s released\n", prog, src);
	return 0;
}
