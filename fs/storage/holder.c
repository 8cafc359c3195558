/*
 * holder.c: who holds a target, and waiting for a daemon releasing it
 * (layer: storage, beside disk; see holder.h). Reads /proc/locks (the
 * flock on an image file and its owner), /proc/self/mounts (is the target
 * mounted) and /proc/PID/comm; probes a block device with O_EXCL, whose
 * holder the kernel does not name. Never takes the image's lock itself, so
 * waiting never makes another opener fail. Calls libc only.
 */
#include "holder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* The owner of an flock on (dev, ino) that conflicts with a shared or an
   exclusive request: 1 with *pid, 0 if none. */
static int flock_owner(dev_t dev, ino_t ino, bool shared, pid_t *pid)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char kind[16], mode[16];
		unsigned maj, min;
		unsigned long long i;
		int p;

		if (strstr(line, "->")) /* a waiter, not a holder */
			continue;
		if (sscanf(line, "%*d: %15s %*s %15s %d %x:%x:%llu", kind, mode, &p, &maj, &min,
			   &i) != 6)
			continue;
		if (strcmp(kind, "FLOCK") || i != (unsigned long long)ino ||
		    makedev(maj, min) != dev)
			continue;
		if (shared && strcmp(mode, "WRITE"))
			continue; /* readers share */
		*pid = p > 0 ? p : 0;
		found = 1;
	}
	fclose(f);
	return found;
}

/* Where target is mounted: an eiocbfs mount names its image (realpath) as
   its source; a block device may be mounted under any type and name. */
static void find_mount(const char *target, const struct stat *st, char *out, size_t len)
{
	char real[PATH_MAX];
	struct mntent me, *m;
	char buf[4 * PATH_MAX];
	FILE *f;

	out[0] = 0;
	if (!realpath(target, real))
		return;
	f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return;
	while ((m = getmntent_r(f, &me, buf, sizeof(buf)))) {
		struct stat ms;
		bool same = strcmp(m->mnt_fsname, real) == 0;

		if (!same && S_ISBLK(st->st_mode) && m->mnt_fsname[0] == '/' &&
		    stat(m->mnt_fsname, &ms) == 0 && S_ISBLK(ms.st_mode) &&
		    ms.st_rdev == st->st_rdev)
			same = true;
		if (same) {
			snprintf(out, len, "%s", m->mnt_dir);
			break;
		}
	}
	endmntent(f);
}

static void read_comm(pid_t pid, char *out, size_t len)
{
	char path[64];
	FILE *f;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = 0;
	fclose(f);
}

/* A block device that a kernel driver (md, dm) holds is not being released. */
static bool blk_has_holders(dev_t rdev)
{
	char path[96];
	struct dirent *e;
	bool any = false;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders", major(rdev), minor(rdev));
	d = opendir(path);
	if (!d)
		return false;
	while (!any && (e = readdir(d)))
		any = e->d_name[0] != '.';
	closedir(d);
	return any;
}

int holder_find(const char *target, bool shared, struct holder *h)
{
	struct stat st;
	int held = 0;

	memset(h, 0, sizeof(*h));
	if (stat(target, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		held = flock_owner(st.st_dev, st.st_ino, shared, &h->pid);
	} else if (S_ISBLK(st.st_mode)) {
		int fd = open(target, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);

		if (fd >= 0)
			close(fd);
		held = fd < 0 && errno == EBUSY;
		if (held && blk_has_holders(st.st_rdev))
			snprintf(h->comm, sizeof(h->comm), "the kernel");
	} else {
		return 0;
	}
	if (!held)
		return 0;
	if (h->pid)
		read_comm(h->pid, h->comm, sizeof(h->comm));
	find_mount(target, &st, h->mountpoint, sizeof(h->mountpoint));
	return 1;
}

bool holder_is_releasing(const struct holder *h)
{
	if (h->mountpoint[0])
		return false;
	/* A lock whose owner has exited (no comm left to read) is one the kernel
	   is still releasing: its last file reference may be an I/O's, dropped
	   a moment after the process is gone. */
	return h->pid ? strcmp(h->comm, "eiocbfs") == 0 || h->comm[0] == 0 : h->comm[0] == 0;
}

void holder_describe(const struct holder *h, char *buf, size_t len)
{
	if (h->mountpoint[0])
		snprintf(buf, len, "mounted at %s", h->mountpoint);
	else if (h->pid && h->comm[0])
		snprintf(buf, len, "%s, pid %d", h->comm, (int)h->pid);
	else if (h->pid)
		snprintf(buf, len, "pid %d", (int)h->pid);
	else if (h->comm[0])
		snprintf(buf, len, "%s", h->comm);
	else
		snprintf(buf, len, "another process");
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

int holder_wait_release(const char *target, bool shared, unsigned timeout_ms,
			holder_notice_fn notice, void *arg, struct holder *h)
{
	unsigned long long start = now_ms(), waited;
	bool told = false;
	struct holder scratch;

	if (!h)
		h = &scratch;
	for (;;) {
		int rc = holder_find(target, shared, h);

		if (rc <= 0 || !holder_is_releasing(h))
			return 0; /* free, or the open reports what is wrong */
		waited = now_ms() - start;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		if (!told && notice && waited >= HOLDER_NOTICE_MS) {
			notice(arg, target, h);
			told = true;
		}
		/* A daemon's unmount takes milliseconds: poll finely at first. */
		usleep(waited < 200 ? 2000 : 20000);
	}
}
