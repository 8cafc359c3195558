/*
 * fuzz_core.c: the image fuzzing shared by the seeded CTest run
 * (fuzz_image.c) and the libFuzzer target (fuzz_libfuzzer.c): a small
 * image with a content tree and a crash's leftovers (a committed journal
 * transaction, an orphan), mutations of its metadata (a few bytes or
 * fields of one block, most often resealed so the damage gets past the
 * checksum; inode fields; superblock fields; raw bit flips), and what must
 * hold after each:
 *   - fsck -n never crashes and exits 0, 4 or 8;
 *   - fs_mount refuses with an error, or mounts and every file can be
 *     listed, stat'ed and read (errors allowed, crashes not);
 *   - on odd cases fsck -y exits 0, 1 or 8 (never 4: it leaves nothing
 *     uncorrected); when it says all is fixed (0 or 1) a second -n exits 0
 *     and the image mounts.
 * A violation prints the case and aborts (a sanitizer build reports too).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "fsck_testlib.h"
#include "fuzz_core.h"
#include "storage.h"

#define BS 1024
#define NBLOCKS 8192

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz: ");                                                 \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static char workdir[] = "/dev/shm/eiocbfs-fuzz-XXXXXX";
static char base_path[200], case_path[200];
static uint8_t *base, *cur; /* the pristine image and the case's, in memory */
static size_t img_len;
static struct ef_super sb;
static uint64_t *meta; /* metadata blocks of the base image */
static size_t nmeta;
static uint64_t *inodes; /* used inodes of the base image */
static size_t ninodes_used;
static volatile long cur_case = -1;
static uint8_t *prev; /* the case file blocks before this case */

/* ---- randomness: a small PRNG (splitmix64), so that a case is reproducible
   from its number, or the bytes a coverage-guided fuzzer hands over */
static uint64_t rng_state;
static const uint8_t *rng_data;
static size_t rng_left;
static uint64_t rnd(void)
{
	if (rng_data) { /* libFuzzer: its input drives every choice */
		uint64_t v = 0;
		size_t n = rng_left < 8 ? rng_left : 8;
		memcpy(&v, rng_data, n);
		rng_data += n;
		rng_left -= n;
		return v;
	}
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void on_crash(int sig)
{
	char msg[128];
	int n =
	    snprintf(msg, sizeof(msg), "fuzz: crashed (signal %d) in case %ld\n", sig, cur_case);
	if (write(2, msg, (size_t)n) < 0)
		_exit(99);
	signal(sig, SIG_DFL);
	raise(sig);
}

void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
static void on_death(void)
{
	fprintf(stderr, "fuzz: sanitizer report in case %ld\n", cur_case);
}

/* Blocks a case can change: the metadata (all in the first span blocks, the
   content tree being small) and the backup superblock. */
static uint64_t span = NBLOCKS;

static bool in_play(uint64_t b)
{
	return b < span || b == NBLOCKS - 1;
}

static void load_file(const char *p, uint8_t *buf)
{
	int fd = open(p, O_RDONLY);
	size_t last = (size_t)(NBLOCKS - 1) * BS;
	CHECK(fd >= 0 && pread(fd, buf, span * BS, 0) == (ssize_t)(span * BS) &&
		  pread(fd, buf + last, BS, (off_t)last) == BS,
	      "reading %s", p);
	close(fd);
}

/* Writes the blocks of cur that differ from what the case file holds (prev). */
static void store_case(const uint8_t *prev)
{
	int fd = open(case_path, O_WRONLY);
	CHECK(fd >= 0, "opening %s", case_path);
	for (uint64_t b = 0; b < NBLOCKS; b++) {
		size_t off = (size_t)b * BS;
		if (in_play(b) && (!prev || memcmp(prev + off, cur + off, BS)))
			CHECK(pwrite(fd, cur + off, BS, (off_t)off) == BS, "writing %s", case_path);
	}
	close(fd);
}

/* cur = base, over the blocks in play. */
static void reset_cur(void)
{
	memcpy(cur, base, span * BS);
	memcpy(cur + (size_t)(NBLOCKS - 1) * BS, base + (size_t)(NBLOCKS - 1) * BS, BS);
}

static bool is_meta(const uint8_t *blk, uint64_t blockno)
{
	static const uint32_t magics[] = {
	    EF_MAGIC_SUPER,  EF_MAGIC_IBITMAP, EF_MAGIC_BBITMAP, EF_MAGIC_ITABLE, EF_MAGIC_DIR,
	    EF_MAGIC_EXTENT, EF_MAGIC_XATTR,   EF_MAGIC_JSUPER,	 EF_MAGIC_JDESC,  EF_MAGIC_JCOMMIT};
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (meta_verify(blk, BS, magics[i], blockno) == 0)
			return true;
	return false;
}

void fuzz_setup(void)
{
	CHECK(mkdtemp(workdir), "mkdtemp");
	snprintf(base_path, sizeof(base_path), "%s/base.img", workdir);
	snprintf(case_path, sizeof(case_path), "%s/case.img", workdir);
	struct timg t;
	CHECK(timg_make(&t, base_path, BS, (uint64_t)NBLOCKS * BS, 100) == 0, "making the image");
	/* What a crash leaves, so that every case parses journal records and
	   an orphan list too: a child mounts, unlinks a file it holds open,
	   makes a directory, syncs the log, and dies without unmounting. */
	pid_t pid = fork();
	if (pid == 0) {
		struct fs *fs;
		char err[256];
		struct fs_mount_opts mo = {0};
		fs_attr_t a;
		if (fs_mount(base_path, &mo, &fs, err, sizeof(err)) < 0 ||
		    fs_create(fs, FS_ROOT_INO, "orphan", S_IFREG | 0644, O_RDWR, 0, 0, &a) < 0)
			_exit(1);
		char buf[2 * BS];
		memset(buf, 'o', sizeof(buf));
		if (fs_write(fs, a.st_ino, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
		    fs_unlink(fs, FS_ROOT_INO, "orphan") < 0 ||
		    fs_mkdir(fs, FS_ROOT_INO, "late", 0755, 0, 0, &a) < 0 || fs_sync(fs) < 0)
			_exit(2);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "crash child: status %d", status);
	img_len = (size_t)NBLOCKS * BS;
	base = malloc(img_len);
	cur = malloc(img_len);
	prev = malloc(img_len);
	CHECK(base && cur && prev, "out of memory");
	int bfd = open(base_path, O_RDONLY);
	CHECK(pread(bfd, base, img_len, 0) == (ssize_t)img_len, "reading the base");
	close(bfd);
	memcpy(&sb, base, sizeof(sb));
	meta = malloc(NBLOCKS * sizeof(*meta));
	uint64_t last_meta = 0;
	for (uint64_t b = 0; b < NBLOCKS; b++)
		if (is_meta(base + b * BS, b)) {
			meta[nmeta++] = b;
			if (b < NBLOCKS - 1)
				last_meta = b;
		}
	/* Room for what a replay, a repair or the mount may write after it. */
	span = last_meta + 1024 < NBLOCKS - 1 ? last_meta + 1024 : NBLOCKS - 1;
	inodes = malloc((sb.ninodes + 1) * sizeof(*inodes));
	for (uint64_t ino = 1; ino <= sb.ninodes; ino++) {
		const uint8_t *blk = base + (sb.itable_start + ino / EF_INODES_PER_BLOCK(BS)) * BS;
		struct ef_inode in;
		memcpy(&in,
		       blk + sizeof(struct ef_blkhdr) +
			   (ino % EF_INODES_PER_BLOCK(BS)) * EF_INODE_SIZE,
		       sizeof(in));
		if (in.mode)
			inodes[ninodes_used++] = ino;
	}
	CHECK(nmeta >= 10 && ninodes_used >= 100, "base image: %zu metadata blocks, %zu inodes",
	      nmeta, ninodes_used);
	/* The case file starts as the base. */
	memcpy(cur, base, img_len);
	span = NBLOCKS; /* write it all once */
	int fd = open(case_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	CHECK(fd >= 0 && truncate(case_path, (off_t)img_len) == 0, "creating %s", case_path);
	close(fd);
	store_case(NULL);
	span = last_meta + 1024 < NBLOCKS - 1 ? last_meta + 1024 : NBLOCKS - 1;
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGFPE, on_crash);
	signal(SIGABRT, on_crash);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(on_death);
}

void fuzz_teardown(void)
{
	unlink(base_path);
	unlink(case_path);
	rmdir(workdir);
	free(base);
	free(cur);
	free(prev);
	free(meta);
	free(inodes);
}

/* ---- mutations ------------------------------------------------------------ */

static uint64_t interesting(void)
{
	const uint64_t v[] = {0,
			      1,
			      2,
			      0xff,
			      0xffff,
			      0xffffffffull,
			      UINT64_MAX,
			      (uint64_t)INT64_MAX,
			      NBLOCKS - 1,
			      NBLOCKS,
			      NBLOCKS + 1,
			      sb.ninodes,
			      sb.ninodes + 1,
			      sb.data_start,
			      sb.data_start - 1,
			      EF_DIR_BUCKET_LBLK,
			      EF_DIR_MAX_DEPTH,
			      EF_DIR_MAX_DEPTH + 1,
			      EF_EXTENT_MAX_DEPTH + 1,
			      BS,
			      BS - 16};
	return v[below(sizeof(v) / sizeof(v[0]))];
}

/* A few writes of bytes or fields into one block, at offsets below limit. */
static void mutate_bytes(uint8_t *blk, size_t limit)
{
	int n = 1 + (int)below(4);
	for (int i = 0; i < n; i++) {
		size_t off = below(limit);
		switch (below(5)) {
		case 0:
			blk[off] = (uint8_t)rnd();
			break;
		case 1:
			blk[off] ^= (uint8_t)(1u << below(8));
			break;
		case 2: { /* a field-sized value at a field-like offset */
			uint64_t v = interesting();
			size_t w = (size_t)1 << below(4); /* 1, 2, 4 or 8 bytes */
			off &= ~(w - 1);
			if (off + w <= BS)
				memcpy(blk + off, &v, w);
			break;
		}
		case 3:
			blk[off] = 0;
			break;
		default: { /* a small arithmetic change of a 32/64-bit field */
			off &= ~(size_t)3;
			if (off + 4 <= BS) {
				uint32_t v;
				memcpy(&v, blk + off, 4);
				v += (uint32_t)(below(9) - 4);
				memcpy(blk + off, &v, 4);
			}
		}
		}
	}
}

static void reseal(uint64_t b)
{
	struct ef_blkhdr h;
	memcpy(&h, cur + b * BS, sizeof(h));
	meta_seal(cur + b * BS, BS, h.magic, b);
}

static const char *mutate(void)
{
	uint64_t r = below(100);
	if (r < 55) { /* one metadata block, mostly resealed */
		uint64_t b = meta[below(nmeta)];
		mutate_bytes(cur + b * BS, below(2) ? 256 : BS);
		if (below(10) < 8)
			reseal(b);
		return "metadata block";
	}
	if (r < 80) { /* one field of a used inode (its table block resealed) */
		uint64_t ino = inodes[below(ninodes_used)];
		uint64_t b = sb.itable_start + ino / EF_INODES_PER_BLOCK(BS);
		uint8_t *p = cur + b * BS + sizeof(struct ef_blkhdr) +
			     (ino % EF_INODES_PER_BLOCK(BS)) * EF_INODE_SIZE;
		uint8_t tmp[BS];
		memset(tmp, 0, sizeof(tmp));
		memcpy(tmp, p, EF_INODE_SIZE);
		mutate_bytes(tmp, EF_INODE_SIZE);
		memcpy(p, tmp, EF_INODE_SIZE);
		reseal(b);
		return "inode";
	}
	if (r < 90) { /* a superblock field, resealed */
		mutate_bytes(cur, sizeof(struct ef_super));
		reseal(0);
		return "superblock";
	}
	/* raw damage anywhere in the metadata area or a data block, no reseal */
	for (int i = 0, n = 1 + (int)below(16); i < n; i++)
		cur[below(sb.data_start * BS + 64 * BS)] ^= (uint8_t)(1u << below(8));
	return "raw";
}

/* ---- what must hold -------------------------------------------------------- */

struct walk {
	struct fs *fs;
	int budget; /* entries left to visit */
	bool seek;  /* also SEEK_DATA/SEEK_HOLE every file */
	char *buf;
};

struct names {
	char name[64][FS_NAME_MAX + 1];
	uint64_t ino[64];
	int n;
};

static int collect(void *arg, const char *name, const fs_attr_t *attr, off_t next)
{
	struct names *nm = arg;
	if (nm->n == 64)
		return 1;
	snprintf(nm->name[nm->n], sizeof(nm->name[0]), "%s", name);
	nm->ino[nm->n++] = attr ? attr->st_ino : 0;
	return 0;
}

/* Lists, stats and reads what is under dir (a first batch of entries is
   plenty for a damaged image); results may be errors, never a crash. */
static void walk_dir(struct walk *w, uint64_t dir, int depth)
{
	struct names *nm = calloc(1, sizeof(*nm));
	if (fs_readdir(w->fs, dir, 0, collect, nm) < 0)
		nm->n = 0;
	for (int i = 0; i < nm->n && w->budget-- > 0; i++) {
		const char *name = nm->name[i];
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		fs_attr_t st;
		if (fs_lookup(w->fs, dir, name, &st) < 0)
			continue;
		uint64_t ino = st.st_ino;
		fs_getattr(w->fs, ino, &st);
		char list[512];
		fs_listxattr(w->fs, ino, list, sizeof(list));
		fs_getxattr(w->fs, ino, "user.k", list, sizeof(list));
		if (S_ISDIR(st.st_mode) && depth < 8) {
			walk_dir(w, ino, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			if (fs_open(w->fs, ino, O_RDONLY) == 0) {
				for (off_t o = 0; o < 128 * BS; o += 16 * BS)
					if (fs_read(w->fs, ino, w->buf, 16 * BS, o) <= 0)
						break;
				/* Only where fsck found nothing: on a damaged map the
				   seek can walk it hole by hole for minutes. */
				if (w->seek) {
					fs_lseek(w->fs, ino, 0, SEEK_DATA);
					fs_lseek(w->fs, ino, 0, SEEK_HOLE);
				}
				fs_release(w->fs, ino);
			}
		} else if (S_ISLNK(st.st_mode)) {
			fs_readlink(w->fs, ino, w->buf, 4096);
		}
		fs_forget(w->fs, ino, 1);
	}
	free(nm);
}

/* Mounts the case image (if it will) and walks it; the result of the mount. */
static int mount_and_walk(bool seek)
{
	struct fs *fs;
	char err[256];
	struct fs_mount_opts mo = {0};
	int rc = fs_mount(case_path, &mo, &fs, err, sizeof(err));
	if (rc < 0) {
		if (getenv("EIOCBFS_FUZZ_VERBOSE"))
			fprintf(stderr, "case %ld: mount refused: %s\n", cur_case, err);
		return rc;
	}
	struct walk w = {.fs = fs, .budget = 400, .seek = seek, .buf = malloc(16 * BS)};
	walk_dir(&w, FS_ROOT_INO, 0);
	free(w.buf);
	fs_unmount(fs);
	return 0;
}

static int run_fsck(enum fsck_mode m, struct fsck_result *r)
{
	struct fsck_opts o = {.mode = m};
	char err[256];
	return fsck_run(case_path, &o, r, err, sizeof(err));
}

/* One case (number c, randomness already seeded): damage the image, then
   check what must hold; odd cases also repair. Returns what was damaged. */
const char *fuzz_case(long c, struct fuzz_stats *st)
{
	cur_case = c;
	/* cur holds what the case file holds now: bring it back to base. */
	memcpy(prev, cur, span * BS);
	memcpy(prev + (size_t)(NBLOCKS - 1) * BS, cur + (size_t)(NBLOCKS - 1) * BS, BS);
	reset_cur();
	const char *what = mutate();
	store_case(prev);

	struct fsck_result r;
	int code = run_fsck(FSCK_CHECK, &r);
	CHECK(code == 0 || code == 4 || code == 8, "case %ld (%s): fsck -n exit %d", c, what, code);
	st->fsck[code]++;
	bool clean = code == 0, repaired = false;
	if (c % 2) {
		code = run_fsck(FSCK_REPAIR, &r);
		/* -y leaves nothing uncorrected (8: no superblock to work from). */
		CHECK(code == 0 || code == 1 || code == 8, "case %ld (%s): fsck -y exit %d: %s", c,
		      what, code, timg_findings(&r));
		if (code <= 1) {
			repaired = true;
			st->repaired++;
			struct fsck_result r2;
			int again = run_fsck(FSCK_CHECK, &r2);
			char first[1024];
			snprintf(first, sizeof(first), "%s", timg_findings(&r));
			CHECK(again == 0, "case %ld (%s): -y exit %d (%s) but -n then exits %d: %s",
			      c, what, code, first, again, timg_findings(&r2));
		}
	}
	/* SEEK_DATA/SEEK_HOLE only where fsck found nothing: on a damaged map
	   the seek can walk it hole by hole for minutes (reported; set
	   EIOCBFS_FUZZ_SEEK_ALL to seek on every image). */
	int m = mount_and_walk(clean || repaired || getenv("EIOCBFS_FUZZ_SEEK_ALL"));
	CHECK(!repaired || m == 0, "case %ld (%s): repaired image does not mount (%d)", c, what, m);
	m == 0 ? st->mounted++ : st->refused++;
	load_file(case_path, cur); /* what fsck -y and the mount wrote */
	return what;
}

void fuzz_seed(uint64_t seed, long c)
{
	rng_data = NULL;
	rng_state = seed * 0x100000001b3ull + (uint64_t)c;
}

void fuzz_bytes(const uint8_t *data, size_t len)
{
	rng_data = data;
	rng_left = len;
}
