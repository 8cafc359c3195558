/*
 * campaign.c: the corruption campaign of fsck.eiocbfs -y. Layer: the
 * checker's tests. A small image with a content tree and a crash's
 * leftovers (a committed journal transaction, an orphan) is damaged each
 * round by random bit flips and zeroed blocks (checksums left wrong, as a
 * device would leave them) over every metadata area: the superblock and
 * its backup, the journal, both bitmaps, the inode table, directory,
 * extent and xattr blocks (one to three blocks a round, four to eleven one
 * round in ten). Then, each round:
 *   - the mount refuses the image or serves it without crashing (the
 *     library in process every round; the real daemon every
 *     EIOCBFS_CAMPAIGN_MOUNT_EVERY-th round, which must not die);
 *   - fsck -y exits 0 or 1 (8 only when both superblocks were hit), and
 *     fsck -n then exits 0;
 *   - the repaired image mounts, and every regular file that no finding
 *     of fsck -y names is there (at its place or in /lost+found) with its
 *     original bytes; a file named only for its names or links (moved to
 *     /lost+found, link count) keeps its bytes too.
 *
 * EIOCBFS_CAMPAIGN_ROUNDS (default 200), EIOCBFS_CAMPAIGN_SEED (default 1;
 * "random" picks one), EIOCBFS_CAMPAIGN_FIRST (first round, to replay
 * one), EIOCBFS_CAMPAIGN_MOUNT_EVERY (default 25, 0: never),
 * EIOCBFS_CAMPAIGN_VERBOSE (print every finding of fsck -y). A failure
 * prints the seed and round, keeps the damaged image and exits 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "fsck_testlib.h"
#include "storage.h"

#define BS 1024
#define NBLOCKS 8192
#define MAXF 512 /* regular files tracked */

enum area {
	A_SB,
	A_BACKUP,
	A_JOURNAL,
	A_IBITMAP,
	A_BBITMAP,
	A_ITABLE,
	A_DIR,
	A_EXTENT,
	A_XATTR,
	A_NR
};
static const char *area_name[A_NR] = {"superblock",	 "backup superblock", "journal",
				      "inode bitmap",	 "block bitmap",      "inode table",
				      "directory block", "extent block",      "xattr block"};

struct blist {
	uint64_t *b;
	size_t n;
};

struct file { /* a regular file of the pristine tree */
	uint64_t ino, size, hash;
};

struct run {
	uint64_t seed;
	long round;
	char dir[64], base_path[128], case_path[128], mnt[128];
	uint8_t *base, *cur;
	struct ef_super sb;
	struct blist area[A_NR];
	struct file files[MAXF];
	size_t nfiles;
	const char *daemon; /* the eiocbfs binary, NULL: no real mounts */
	char what[512];	    /* this round's damage */
	/* per round: what fsck -y said about each inode */
	uint8_t *named, *name_only; /* bitmaps over inodes */
	uint64_t ninodes;
	long y_exit[9], mounts_served, mounts_refused, daemon_rounds, files_checked;
};

static struct run R;

static void fail(const char *fmt, ...)
{
	char keep[256];
	snprintf(keep, sizeof(keep), "%s/fail-seed%" PRIu64 "-round%ld.img", R.dir, R.seed,
		 R.round);
	rename(R.case_path, keep);
	fprintf(stderr, "campaign: FAIL at seed %" PRIu64 " round %ld (damage: %s): ", R.seed,
		R.round, R.what);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"\ncampaign: image kept as %s; replay: EIOCBFS_CAMPAIGN_SEED=%" PRIu64
		" EIOCBFS_CAMPAIGN_FIRST=%ld EIOCBFS_CAMPAIGN_ROUNDS=1\n",
		keep, R.seed, R.round);
	if (R.mnt[0])
		umount2(R.mnt, MNT_DETACH);
	exit(1);
}

/* ---- randomness: splitmix64, one stream per (seed, round) ---------------- */
static uint64_t rng;
static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void push(struct blist *l, uint64_t b)
{
	l->b = realloc(l->b, (l->n + 1) * sizeof(*l->b));
	l->b[l->n++] = b;
}

static bool zero_block(const uint8_t *p)
{
	for (size_t i = 0; i < BS; i++)
		if (p[i])
			return false;
	return true;
}

static void write_image(const char *path, const uint8_t *img)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || pwrite(fd, img, (size_t)NBLOCKS * BS, 0) != (ssize_t)NBLOCKS * BS)
		fail("writing %s: %s", path, strerror(errno));
	close(fd);
}

/* ---- walking a mounted tree: the library in process ---------------------- */
struct names {
	char (*name)[FS_NAME_MAX + 1];
	size_t n, cap;
};

static int collect(void *arg, const char *name, const fs_attr_t *attr, off_t next)
{
	(void)attr, (void)next;
	struct names *nm = arg;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? 2 * nm->cap : 64;
		nm->name = realloc(nm->name, nm->cap * sizeof(*nm->name));
	}
	snprintf(nm->name[nm->n++], FS_NAME_MAX + 1, "%s", name);
	return nm->n >= 4096; /* plenty for this tree, damaged or not */
}

/* Reports each regular file found (ino, size, hash of its bytes; ok false
   when it could not be read). */
typedef void (*seen_fn)(uint64_t ino, uint64_t size, uint64_t hash, bool ok);

static void lib_walk(struct fs *fs, uint64_t dir, int depth, seen_fn seen, char *buf)
{
	struct names nm = {0};
	if (fs_readdir(fs, dir, 0, collect, &nm) < 0)
		nm.n = 0;
	for (size_t i = 0; i < nm.n; i++) {
		fs_attr_t st;
		if (fs_lookup(fs, dir, nm.name[i], &st) < 0)
			continue;
		uint64_t ino = st.st_ino;
		if (S_ISDIR(st.st_mode) && depth < 8) {
			lib_walk(fs, ino, depth + 1, seen, buf);
		} else if (S_ISREG(st.st_mode) && fs_open(fs, ino, O_RDONLY) == 0) {
			uint64_t h = 0xcbf29ce484222325ull, size = (uint64_t)st.st_size, off = 0;
			bool ok = true;
			while (off < size && off < (1u << 20)) {
				ssize_t n = fs_read(fs, ino, buf, 65536, (off_t)off);
				if (n <= 0) {
					ok = n == 0 && off == size;
					break;
				}
				h = fnv(buf, (size_t)n, h);
				off += (uint64_t)n;
			}
			fs_release(fs, ino);
			if (seen)
				seen(ino, size, h, ok && off == size);
		} else if (S_ISLNK(st.st_mode)) {
			fs_readlink(fs, ino, buf, 4096);
		}
		fs_forget(fs, ino, 1);
	}
	free(nm.name);
}

/* 0 when it mounted (and was walked), < 0 when the mount refused. */
static int lib_mount_walk(const char *path, seen_fn seen)
{
	struct fs *fs;
	char err[256];
	struct fs_mount_opts mo = {0};
	int rc = fs_mount(path, &mo, &fs, err, sizeof(err));
	if (rc < 0)
		return rc;
	char *buf = malloc(65536);
	lib_walk(fs, FS_ROOT_INO, 0, seen, buf);
	free(buf);
	fs_unmount(fs);
	return 0;
}

/* ---- the real daemon ----------------------------------------------------- */
static bool is_mounted(const char *mnt)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[1024], want[300];
	bool yes = false;
	snprintf(want, sizeof(want), " %s fuse", mnt);
	while (f && !yes && fgets(line, sizeof(line), f))
		yes = strstr(line, want) != NULL;
	if (f)
		fclose(f);
	return yes;
}

static void posix_walk(const char *dir, int depth, seen_fn seen, char *buf)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 8) {
			posix_walk(p, depth + 1, seen, buf);
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(p, O_RDONLY);
			if (fd < 0)
				continue;
			uint64_t h = 0xcbf29ce484222325ull, off = 0;
			ssize_t n;
			while (off < (1u << 20) && (n = read(fd, buf, 65536)) > 0) {
				h = fnv(buf, (size_t)n, h);
				off += (uint64_t)n;
			}
			close(fd);
			if (seen)
				seen(st.st_ino, (uint64_t)st.st_size, h,
				     off == (uint64_t)st.st_size);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(p, buf, 4096);
			(void)n;
		}
	}
	closedir(d);
}

/* Runs the daemon on the case image: it refuses it (exits, not by a
   signal) or mounts it, serves the walk and exits 0 at the unmount.
   Returns 1 served, 0 refused. */
static int daemon_mount_walk(seen_fn seen)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(R.daemon, R.daemon, "-f", R.case_path, R.mnt, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	for (int i = 0; i < 1000; i++) { /* 10 s */
		if (is_mounted(R.mnt))
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (WIFSIGNALED(status))
				fail("the daemon died (signal %d) on the damaged image",
				     WTERMSIG(status));
			return 0;
		}
		usleep(10000);
	}
	if (!is_mounted(R.mnt)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail("the daemon neither mounted nor exited in 10 s");
	}
	char *buf = malloc(65536);
	posix_walk(R.mnt, 0, seen, buf);
	free(buf);
	if (waitpid(pid, &status, WNOHANG) == pid)
		fail("the daemon died while serving (status 0x%x)", status);
	if (umount2(R.mnt, 0) < 0)
		umount2(R.mnt, MNT_DETACH);
	for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) != pid; i++)
		usleep(10000);
	if (!WIFEXITED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail("the daemon did not exit cleanly after the unmount (status 0x%x)", status);
	}
	return 1;
}

/* ---- the base image -------------------------------------------------------- */
static void record_file(uint64_t ino, uint64_t size, uint64_t hash, bool ok)
{
	if (!ok || R.nfiles == MAXF)
		fail("reading the pristine image");
	for (size_t i = 0; i < R.nfiles; i++)
		if (R.files[i].ino == ino)
			return; /* a second name */
	R.files[R.nfiles++] = (struct file){ino, size, hash};
}

static void setup(void)
{
	snprintf(R.dir, sizeof(R.dir), "/dev/shm/eiocbfs-campaign-XXXXXX");
	if (!mkdtemp(R.dir))
		snprintf(R.dir, sizeof(R.dir), "/tmp/eiocbfs-campaign-XXXXXX"), mkdtemp(R.dir);
	snprintf(R.base_path, sizeof(R.base_path), "%s/base.img", R.dir);
	snprintf(R.case_path, sizeof(R.case_path), "%s/case.img", R.dir);
	struct timg t;
	if (timg_make(&t, R.base_path, BS, (uint64_t)NBLOCKS * BS, 100) < 0)
		fail("making the image");
	/* A crash's leftovers: an open unlinked file, a new directory in the
	   committed log, no unmount. */
	pid_t pid = fork();
	if (pid == 0) {
		struct fs *fs;
		char err[256], buf[2 * BS];
		struct fs_mount_opts mo = {0};
		fs_attr_t a;
		memset(buf, 'o', sizeof(buf));
		if (fs_mount(R.base_path, &mo, &fs, err, sizeof(err)) < 0 ||
		    fs_create(fs, FS_ROOT_INO, "orphan", S_IFREG | 0644, O_RDWR, 0, 0, &a) < 0 ||
		    fs_write(fs, a.st_ino, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
		    fs_unlink(fs, FS_ROOT_INO, "orphan") < 0 ||
		    fs_mkdir(fs, FS_ROOT_INO, "late", 0755, 0, 0, &a) < 0 || fs_sync(fs) < 0)
			_exit(1);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("making the crash leftovers");
	R.base = malloc((size_t)NBLOCKS * BS);
	R.cur = malloc((size_t)NBLOCKS * BS);
	int fd = open(R.base_path, O_RDONLY);
	if (fd < 0 || pread(fd, R.base, (size_t)NBLOCKS * BS, 0) != (ssize_t)NBLOCKS * BS)
		fail("reading the base image");
	close(fd);
	memcpy(&R.sb, R.base, sizeof(R.sb));
	const struct ef_super *s = &R.sb;
	push(&R.area[A_SB], 0);
	push(&R.area[A_BACKUP], s->nblocks - 1);
	for (uint64_t b = s->journal_start; b < s->journal_start + s->journal_len; b++)
		if (!zero_block(R.base + b * BS) || b == s->journal_start)
			push(&R.area[A_JOURNAL], b);
	for (uint64_t b = 0; b < s->ibitmap_len; b++)
		push(&R.area[A_IBITMAP], s->ibitmap_start + b);
	for (uint64_t b = 0; b < s->bbitmap_len; b++)
		push(&R.area[A_BBITMAP], s->bbitmap_start + b);
	for (uint64_t b = s->itable_start; b < s->itable_start + s->itable_len; b++)
		if (!zero_block(R.base + b * BS))
			push(&R.area[A_ITABLE], b);
	for (uint64_t b = s->data_start; b < s->nblocks - 1; b++) {
		const uint8_t *p = R.base + b * BS;
		if (meta_verify(p, BS, EF_MAGIC_DIR, b) == 0)
			push(&R.area[A_DIR], b);
		else if (meta_verify(p, BS, EF_MAGIC_EXTENT, b) == 0)
			push(&R.area[A_EXTENT], b);
		else if (meta_verify(p, BS, EF_MAGIC_XATTR, b) == 0)
			push(&R.area[A_XATTR], b);
	}
	for (int a = 0; a < A_NR; a++)
		if (!R.area[a].n)
			fail("the base image has no %s", area_name[a]);
	/* The original bytes: the pristine image as the mount sees it (its
	   journal replayed, on a copy). */
	write_image(R.case_path, R.base);
	if (lib_mount_walk(R.case_path, record_file) < 0 || R.nfiles < 100)
		fail("the pristine image: %zu files", R.nfiles);
	R.ninodes = s->ninodes;
	R.named = calloc(R.ninodes / 8 + 1, 1);
	R.name_only = calloc(R.ninodes / 8 + 1, 1);
}

static void teardown(void)
{
	unlink(R.base_path);
	unlink(R.case_path);
	if (R.mnt[0])
		rmdir(R.mnt);
	rmdir(R.dir);
}

/* ---- one round --------------------------------------------------------------- */
static void note_inodes(void *arg, const struct fsck_finding *fi)
{
	(void)arg;
	if (getenv("EIOCBFS_CAMPAIGN_VERBOSE"))
		fprintf(stderr, "round %ld: fsck -y: %s [inodes %" PRIu64 "+%" PRIu64 "]\n",
			R.round, fi->msg, fi->ino, fi->nino);
	/* What only renames or relinks a file leaves its bytes alone. */
	bool names_only = fi->fixed && (fi->problem == FP_NLINK || fi->problem == FP_DIR_DOT ||
					(fi->problem == FP_UNREACHABLE && strstr(fi->msg, "now ")));
	for (uint64_t i = fi->ino; i < fi->ino + fi->nino && i <= R.ninodes; i++) {
		if (names_only && !(R.named[i / 8] & (1u << (i % 8))))
			R.name_only[i / 8] |= (uint8_t)(1u << (i % 8));
		else if (!names_only)
			R.name_only[i / 8] &= (uint8_t) ~(1u << (i % 8));
		R.named[i / 8] |= (uint8_t)(1u << (i % 8));
	}
}

static bool found[MAXF];

static void check_file(uint64_t ino, uint64_t size, uint64_t hash, bool ok)
{
	for (size_t i = 0; i < R.nfiles; i++) {
		const struct file *fl = &R.files[i];
		if (fl->ino != ino)
			continue;
		found[i] = true;
		bool named = R.named[ino / 8] & (1u << (ino % 8));
		bool name_only = R.name_only[ino / 8] & (1u << (ino % 8));
		if (named && !name_only)
			return; /* fsck said it was damaged: any bytes */
		if (!ok || size != fl->size || hash != fl->hash)
			fail("inode %" PRIu64 " (%s by fsck -y) reads back %s: size %" PRIu64
			     ", was %" PRIu64,
			     ino, named ? "only moved or relinked" : "not named",
			     ok ? "other bytes" : "an error", size, fl->size);
		R.files_checked++;
	}
}

static int run_fsck(enum fsck_mode m, struct fsck_result *r, bool notes)
{
	struct fsck_opts o = {.mode = m, .report = notes ? note_inodes : NULL};
	char err[256];
	int code = fsck_run(R.case_path, &o, r, err, sizeof(err));
	if (code == FSCK_EXIT_OPERATIONAL && notes)
		snprintf(R.what + strlen(R.what), sizeof(R.what) - strlen(R.what), " [fsck: %s]",
			 err);
	return code;
}

static void round_once(bool with_daemon)
{
	rng = R.seed * 0x100000001b3ull + (uint64_t)R.round * 0x9e3779b97f4a7c15ull;
	memcpy(R.cur, R.base, (size_t)NBLOCKS * BS);
	R.what[0] = '\0';
	bool sb_hit = false, backup_hit = false;
	/* One to three blocks; one round in ten, a heavier hit (four to eleven). */
	int n = below(10) ? 1 + (int)below(3) : 4 + (int)below(8);
	for (int k = 0; k < n; k++) {
		enum area a = (enum area)below(A_NR);
		uint64_t b = R.area[a].b[below(R.area[a].n)];
		uint8_t *p = R.cur + b * BS;
		size_t len = strlen(R.what);
		if (below(4) == 0) {
			memset(p, 0, BS);
			snprintf(R.what + len, sizeof(R.what) - len, "%s%s %" PRIu64 " zeroed",
				 k ? ", " : "", area_name[a], b);
		} else {
			int flips = 1 + (int)below(8);
			for (int i = 0; i < flips;
			     i++) /* most in the headers and fields up front */
				p[below(below(2) ? 128 : BS)] ^= (uint8_t)(1u << below(8));
			snprintf(R.what + len, sizeof(R.what) - len,
				 "%s%s %" PRIu64 ": %d bits flipped", k ? ", " : "", area_name[a],
				 b, flips);
		}
		sb_hit |= a == A_SB;
		backup_hit |= a == A_BACKUP;
	}
	write_image(R.case_path, R.cur);

	/* The damaged image: refused, or served without a crash. */
	int m = with_daemon ? daemon_mount_walk(NULL) : lib_mount_walk(R.case_path, NULL) == 0;
	m ? R.mounts_served++ : R.mounts_refused++;

	memset(R.named, 0, R.ninodes / 8 + 1);
	memset(R.name_only, 0, R.ninodes / 8 + 1);
	struct fsck_result r, r2;
	int y = run_fsck(FSCK_REPAIR, &r, true);
	R.y_exit[y]++;
	if (y == FSCK_EXIT_OPERATIONAL && sb_hit && backup_hit)
		return; /* no superblock left: nothing to check */
	if (y != FSCK_EXIT_CLEAN && y != FSCK_EXIT_FIXED)
		fail("fsck -y exits %d: %s", y, timg_findings(&r));
	char first[1024];
	snprintf(first, sizeof(first), "%s", timg_findings(&r));
	int c = run_fsck(FSCK_CHECK, &r2, false);
	if (c != FSCK_EXIT_CLEAN)
		fail("fsck -y exits %d (%s), then fsck -n exits %d: %s", y, first, c,
		     timg_findings(&r2));

	memset(found, 0, sizeof(found));
	if (with_daemon) {
		if (!daemon_mount_walk(check_file))
			fail("the daemon refuses the repaired image");
	} else if (lib_mount_walk(R.case_path, check_file) < 0) {
		fail("the repaired image does not mount");
	}
	for (size_t i = 0; i < R.nfiles; i++) {
		uint64_t ino = R.files[i].ino;
		if (!found[i] && !(R.named[ino / 8] & (1u << (ino % 8))))
			fail("inode %" PRIu64 " is gone, and no finding of fsck -y names it (%s)",
			     ino, first);
	}
}

static long env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtol(s, NULL, 0) : dflt;
}

int main(void)
{
	const char *s = getenv("EIOCBFS_CAMPAIGN_SEED");
	if (s && !strcmp(s, "random")) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		R.seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	} else {
		R.seed = s && *s ? strtoull(s, NULL, 0) : 1;
	}
	long rounds = env_long("EIOCBFS_CAMPAIGN_ROUNDS", 200);
	long first = env_long("EIOCBFS_CAMPAIGN_FIRST", 0);
	long every = env_long("EIOCBFS_CAMPAIGN_MOUNT_EVERY", 25);
	R.round = -1;
	setup();
	const char *why = NULL;
	R.daemon = getenv("EIOCBFS");
	if (!R.daemon || access(R.daemon, X_OK))
		why = "the daemon is not built (EIOCBFS)";
	else if (geteuid() != 0)
		why = "not root";
	else if (access("/dev/fuse", R_OK | W_OK))
		why = "no /dev/fuse";
	if (why || every <= 0) {
		R.daemon = NULL;
		printf("campaign: no rounds through the daemon: %s\n", why ? why : "MOUNT_EVERY=0");
	} else {
		snprintf(R.mnt, sizeof(R.mnt), "%s/mnt", R.dir);
		mkdir(R.mnt, 0755);
	}
	printf("campaign: seed %" PRIu64 ", rounds %ld-%ld, %zu files\n", R.seed, first,
	       first + rounds - 1, R.nfiles);
	fflush(stdout);
	for (R.round = first; R.round < first + rounds; R.round++) {
		bool d = R.daemon && R.round % every == 0;
		R.daemon_rounds += d;
		round_once(d);
	}
	printf("campaign: seed %" PRIu64
	       ": %ld rounds (%ld through the daemon): fsck -y exit 0: %ld, "
	       "1: %ld, 8 (no superblock): %ld; damaged image mounted %ld, refused %ld; "
	       "%ld file reads checked: all passed\n",
	       R.seed, rounds, R.daemon_rounds, R.y_exit[0], R.y_exit[1], R.y_exit[8],
	       R.mounts_served, R.mounts_refused, R.files_checked);
	teardown();
	return 0;
}
