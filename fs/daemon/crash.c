/*
 * crash.c: the "crash" control command (crash.h). The reply goes out first
 * (the control server writes it when the handler returns), so the thread
 * that pulls the plug waits a moment; then the mount is detached lazily
 * (new lookups see the directory underneath, not a dead connection) and
 * the process ends with _exit: no atexit, no write-back, no unmount path.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "crash.h"
#include "fs.h"

extern char **environ;

#define CRASH_REPLY_MS 100 /* time for the "ok" to reach eiocbctl */

struct crash_cmd {
	char mnt[PATH_MAX];
	struct fs *fs; /* for --device-cache (fs_powercut) */
	pthread_mutex_t lock;
	bool pulled; /* a crash is under way: a second request gets an error */
};

struct crash_cmd *crash_cmd_new(const char *mountpoint)
{
	struct crash_cmd *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (!realpath(mountpoint, c->mnt))
		snprintf(c->mnt, sizeof(c->mnt), "%s", mountpoint);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void crash_cmd_set_fs(struct crash_cmd *c, struct fs *fs)
{
	c->fs = fs;
}

void crash_cmd_wait(struct crash_cmd *c)
{
	bool pulled;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	pulled = c->pulled;
	pthread_mutex_unlock(&c->lock);
	while (pulled)
		pause(); /* the crash thread's _exit ends the process */
}

void crash_cmd_free(struct crash_cmd *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Detach the mount: umount2 as root, fusermount3 -u -z otherwise. */
static void crash_detach(const char *mnt)
{
	if (umount2(mnt, MNT_DETACH) == 0)
		return;
	char *argv[] = {"fusermount3", "-u", "-z", (char *)mnt, NULL};
	pid_t pid;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) == 0)
		waitpid(pid, NULL, 0);
}

static void *crash_main(void *arg)
{
	struct crash_cmd *c = arg;
	struct timespec ts = {0, CRASH_REPLY_MS * 1000000L};

	nanosleep(&ts, NULL);
	syslog(LOG_WARNING, "crash requested: %s detached, daemon stops without write-back",
	       c->mnt);
	fprintf(stderr, "eiocbfs: crash requested: %s detached, stopping without write-back\n",
		c->mnt);
	crash_detach(c->mnt);
	_exit(0); /* the power cut: nothing in memory reaches the device */
}

int crash_cmd_run(void *arg, int argc, char **argv, struct ctl_out *out,
		  const struct ctl_peer *peer)
{
	struct crash_cmd *c = arg;
	pthread_t t;
	pthread_attr_t attr;
	int r;

	const char *mode = NULL;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	char report[160] = "";

	for (int i = 1; i < argc; i++) {
		char *end;
		if (strncmp(argv[i], "--device-cache=", 15) == 0)
			mode = argv[i] + 15;
		else if (strncmp(argv[i], "--seed=", 7) == 0 && argv[i][7] &&
			 (seed = strtoull(argv[i] + 7, &end, 0), !*end))
			continue;
		else
			return ctl_error(out,
					 "crash: '%s' is not --device-cache=drop|tear|reorder or "
					 "--seed=N",
					 argv[i]);
	}
	pthread_mutex_lock(&c->lock);
	if (c->pulled) {
		pthread_mutex_unlock(&c->lock);
		return ctl_error(out, "crash: already under way");
	}
	if (mode) { /* the device's cache loses its part first; the rest is dropped */
		r = c->fs ? fs_powercut(c->fs, mode, seed, report, sizeof(report)) : -ENOTSUP;
		if (r == -EINVAL || r == -ENOTSUP) {
			pthread_mutex_unlock(&c->lock);
			return ctl_error(
			    out,
			    r == -EINVAL ? "crash: --device-cache '%s' is not drop, tear or reorder"
					 : "crash: --device-cache=%s needs the mount option "
					   "device_cache",
			    mode);
		}
		if (r < 0)
			snprintf(report, sizeof(report), "device cache: undo failed: %s",
				 strerror(-r));
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, crash_main, c);
	pthread_attr_destroy(&attr);
	c->pulled = r == 0;
	pthread_mutex_unlock(&c->lock);
	if (r != 0)
		return ctl_error(out, "crash: cannot start: %s", strerror(r));
	if (report[0] && ctl_printf(out, "%s (seed %llu)\n", report, (unsigned long long)seed) < 0)
		return -1;
	return ctl_printf(out, "crash: %s detached in %d ms, the daemon stops without write-back\n",
			  c->mnt, CRASH_REPLY_MS);
}
