/*
 * control_path.c: where a mount's control socket lives (layer: daemon edge,
 * shared by the daemon and eiocbctl). The mount is identified by its device
 * number, read from /proc/self/mountinfo rather than by stat(2) of the mount
 * point, so that neither side calls into the FUSE filesystem (the daemon's
 * own session loop may not run yet; a busy daemon must still be reachable).
 * Calls control_client.c (ctl_call) and libc only.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "control.h"

/* Undoes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static void ctl_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/*
 * The absolute, symlink-free form of mountpoint, resolving only its parent:
 * resolving the last component itself would stat the mounted root.
 */
static int ctl_canonical(const char *mountpoint, char *out, size_t len)
{
	char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];
	const char *base;
	size_t n = strlen(mountpoint);

	if (n == 0 || n >= sizeof(a))
		return -ENAMETOOLONG;
	memcpy(a, mountpoint, n + 1);
	while (n > 1 && a[n - 1] == '/') /* "mnt/" names mnt */
		a[--n] = '\0';
	memcpy(b, a, n + 1);
	base = basename(b);
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
		if (!realpath(a, dir))
			return -errno;
		if (snprintf(out, len, "%s", dir) >= (int)len)
			return -ENAMETOOLONG;
		return 0;
	}
	if (!realpath(dirname(a), dir))
		return -errno;
	if (snprintf(out, len, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int ctl_mount_lookup(const char *mountpoint, dev_t *dev, char *fstype, size_t typelen)
{
	char want[PATH_MAX], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;
	int ret;

	ret = ctl_canonical(mountpoint, want, sizeof(want));
	if (ret < 0)
		return ret;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	/* "36 35 98:0 /root /mnt/point rw,... [tags...] - fstype source opts" */
	while (getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		char *save, *tok, *mnt, *type = NULL;
		int field = 0;

		mnt = NULL;
		maj = min = 0;
		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			field++;
			if (field == 3 && sscanf(tok, "%u:%u", &maj, &min) != 2)
				break;
			if (field == 5)
				mnt = tok;
			if (field > 6 && !strcmp(tok, "-")) {
				type = strtok_r(NULL, " \n", &save);
				break;
			}
		}
		if (!mnt || !type)
			continue;
		ctl_unescape(mnt);
		if (strcmp(mnt, want))
			continue;
		/* Later lines are mounted on top of earlier ones: keep the last. */
		found = true;
		*dev = makedev(maj, min);
		snprintf(fstype, typelen, "%s", type);
	}
	free(line);
	fclose(f);
	return found ? 0 : -ENOENT;
}

int ctl_default_path(const char *dir, dev_t dev, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/%u:%u.sock", dir, major(dev), minor(dev)) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int ctl_user_dir(char *buf, size_t len)
{
	const char *x = getenv("XDG_RUNTIME_DIR");

	if (!x || x[0] != '/')
		return -ENOENT;
	if (snprintf(buf, len, "%s/eiocbfs", x) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int ctl_call_mount(const char *mountpoint, const char *line, int timeout_ms, struct ctl_reply *r,
		   char *err, size_t errlen)
{
	char path[PATH_MAX], dir[PATH_MAX], type[64], why[512];
	dev_t dev;
	int ret;

	ret = ctl_mount_lookup(mountpoint, &dev, type, sizeof(type));
	if (ret == -ENOENT) {
		snprintf(err, errlen, "%s: not a mount point", mountpoint);
		return ret;
	}
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", mountpoint, strerror(-ret));
		return ret;
	}
	if (strcmp(type, CTL_FS_TYPE)) {
		snprintf(err, errlen, "%s: not an eiocbfs mount (it is %s)", mountpoint, type);
		return -EMEDIUMTYPE;
	}
	ret = ctl_default_path(CTL_RUN_DIR, dev, path, sizeof(path));
	if (ret == 0)
		ret = ctl_call(path, line, timeout_ms, r, why, sizeof(why));
	/* A daemon that could not use CTL_RUN_DIR (not root) listens in the user's dir. */
	if (ret == -ENOENT && ctl_user_dir(dir, sizeof(dir)) == 0 &&
	    ctl_default_path(dir, dev, path, sizeof(path)) == 0) {
		char why2[512];

		if (ctl_call(path, line, timeout_ms, r, why2, sizeof(why2)) == 0)
			return 0;
	}
	if (ret < 0)
		snprintf(err, errlen, "cannot reach the daemon of %s: %s", mountpoint, why);
	return ret;
}
