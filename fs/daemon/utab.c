/*
 * utab.c: the daemon's entry in libmount's userspace mount table (layer:
 * daemon edge; see utab.h). Written through mount(8) and umount(8) in
 * their --fake modes, as libfuse keeps /etc/mtab, so libmount's own
 * locking and file format apply. Calls libc only.
 */
#include "utab.h"

#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define UTAB_PATH "/run/mount/utab"

/* Runs argv[0] (an absolute path) quietly and waits; true if it exited 0. */
static bool run_quiet(char *const argv[])
{
	static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	if (access(argv[0], X_OK) < 0 || posix_spawn_file_actions_init(&fa))
		return false;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return false;
	while (waitpid(pid, &status, 0) < 0)
		; /* EINTR */
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Does utab hold an entry for mountpoint (as libmount writes it: spaces
   and such escaped, so a plain name is compared plainly)? */
static bool utab_has(const char *mountpoint)
{
	char line[2 * PATH_MAX + 256], want[PATH_MAX + 16];
	bool found = false;
	FILE *f = fopen(UTAB_PATH, "re");

	if (!f)
		return false;
	snprintf(want, sizeof(want), " TARGET=%s ", mountpoint);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, want) != NULL;
	fclose(f);
	return found;
}

/* Is path a live eiocbfs mount point in this mount namespace? */
static bool eiocbfs_mounted_at(const char *path)
{
	char buf[4 * PATH_MAX];
	struct mntent me, *m;
	bool found = false;
	FILE *f = setmntent("/proc/self/mounts", "re");

	if (!f)
		return false;
	while (!found && (m = getmntent_r(f, &me, buf, sizeof(buf))))
		found = strcmp(m->mnt_dir, path) == 0 && strcmp(m->mnt_type, "fuse.eiocbfs") == 0;
	endmntent(f);
	return found;
}

static void utab_forget(const char *mountpoint)
{
	char *argv[] = {"/bin/umount",	     "--fake",		 "-i",
			"--no-canonicalize", (char *)mountpoint, NULL};

	run_quiet(argv);
}

/* Entries of daemons that died without unmounting (SIGKILL, a simulated
   power cut), and an older entry for our own mount point: without this
   they would pile up, as libmount never drops an entry by itself. */
static void utab_sweep(const char *mountpoint)
{
	char line[2 * PATH_MAX + 256], stale[32][PATH_MAX];
	int n = 0;
	FILE *f = fopen(UTAB_PATH, "re");

	if (!f)
		return;
	bool own = false;

	while (fgets(line, sizeof(line), f)) {
		char *t = strstr(line, " TARGET="), *end;

		if (!strstr(line, "OPTS=helper=fuse.eiocbfs") || !t)
			continue;
		t += 8;
		end = strchr(t, ' ');
		if (!end || (size_t)(end - t) >= PATH_MAX)
			continue;
		*end = 0;
		if (strchr(t, '\\'))
			continue; /* an escaped name: libmount's own business */
		if (strcmp(t, mountpoint) == 0)
			own = true; /* forgotten below, whatever the count */
		else if (n < 32 && !eiocbfs_mounted_at(t))
			snprintf(stale[n++], PATH_MAX, "%s", t);
	}
	fclose(f);
	if (own)
		utab_forget(mountpoint);
	for (int i = 0; i < n; i++)
		utab_forget(stale[i]);
}

void utab_add(const char *source, const char *mountpoint)
{
	char *argv[] = {"/bin/mount",	"--fake",	    "-i", "--no-canonicalize",
			"-t",		"fuse.eiocbfs",	    "-o", "helper=fuse.eiocbfs",
			(char *)source, (char *)mountpoint, NULL};

	if (geteuid() != 0 || access("/run/mount", W_OK) < 0)
		return;
	utab_sweep(mountpoint);
	run_quiet(argv);
}

void utab_remove(const char *mountpoint)
{
	if (geteuid() != 0 || !utab_has(mountpoint))
		return;
	utab_forget(mountpoint);
}
