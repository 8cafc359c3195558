/*
 * eiocb-load: the hardening load. P processes (default 32)
 * each run a random mix of metadata operations (create, rename, unlink,
 * mkdir/rmdir, setxattr/getxattr, truncate, fsync), buffered and O_DIRECT
 * reads and writes in their own directory DIR/pN for a bounded time, while
 * faults may be on in the daemon (-o fault= or eiocbctl, see --fault).
 *
 *   eiocb-load [-p PROCS] [-t SECONDS] [-S SEED] [--pid DAEMON_PID]
 *              [--eiocbctl PATH --fault "POINT KEY=VAL..."]... [--json] DIR
 *
 * The model is exact: each process owns its files, so it knows every byte,
 * size, name and xattr; a write that failed (EIO from an injected fault)
 * makes only the 4 KiB blocks it touched "unknown" (old or new data, never
 * anything else). At the end each process checks its directory listing,
 * every size, every known byte and every xattr. All processes also write
 * 4 KiB records into one shared file; each record carries its own checksum,
 * and at the end every record must be all zeros or intact (a record whose
 * write failed is excused).
 *
 * Reported: requests (system calls) per second, errors by operation and
 * errno, the daemon's peak RSS (VmHWM of --pid, and VmRSS sampled), its
 * threads and fds at the end. Exit: 0 the model matched and every error was
 * an expected kind (EIO on data I/O while faults are on), 1 a mismatch or
 * an unexpected error, 2 usage, 3 the test could not run.
 *
 * Layer: tool. Calls libc and jansson (--json) only (and runs eiocbctl for
 * --fault).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_CANNOT_RUN = 3 };

#define LD_MAX_PROCS 1024
#define LD_SLOTS 8		/* files per process */
#define LD_EDIRS 4		/* empty directories per process, toggled by mkdir/rmdir */
#define LD_BLK 4096u		/* model granularity and O_DIRECT alignment */
#define LD_MAXSIZE (256u << 10) /* files stay below this (plus one write) */
#define LD_MAXWRITE (64u << 10)
#define LD_FILECAP (LD_MAXSIZE + LD_MAXWRITE)
#define LD_NBLK (LD_FILECAP / LD_BLK)
#define LD_SHARED_RECS 1024	 /* 4 MiB shared file */
#define LD_REC_MAGIC 0x4c4f4144u /* "LOAD" */
#define LD_NERRNO 134
#define LD_MAX_FAULTS 8
#define LD_REPORT_MAX 5 /* mismatches described per process */

enum ld_op {
	OP_CREATE,
	OP_UNLINK,
	OP_RENAME,
	OP_MKDIR,
	OP_RMDIR,
	OP_SETXATTR,
	OP_GETXATTR,
	OP_TRUNCATE,
	OP_FSYNC,
	OP_BWRITE,
	OP_BREAD,
	OP_DWRITE,
	OP_DREAD,
	OP_SWRITE,
	OP_SREAD,
	OP_STAT,
	OP_VERIFY,
	OP_N
};

static const char *const ld_op_name[OP_N] = {
    "create",	   "unlink",	   "rename",	  "mkdir",	    "rmdir",	     "setxattr",
    "getxattr",	   "truncate",	   "fsync",	  "buffered_write", "buffered_read", "direct_write",
    "direct_read", "shared_write", "shared_read", "stat",	    "verify",
};

/* Data I/O may fail with EIO while faults are on; everything else must succeed. */
static bool ld_op_may_eio(enum ld_op op)
{
	return op == OP_DWRITE || op == OP_DREAD || op == OP_FSYNC || op == OP_BWRITE ||
	       op == OP_BREAD || op == OP_SWRITE || op == OP_SREAD || op == OP_TRUNCATE;
}

/* One process's results, in memory shared with the parent. */
struct ld_result {
	uint64_t ops[OP_N];
	uint64_t errs[OP_N][LD_NERRNO + 1]; /* [LD_NERRNO]: other */
	uint64_t mismatches;		    /* model violations found */
	uint64_t bytes_verified;
	uint64_t short_io;
	char first_mismatch[256];
	bool done;
};

struct ld_shared {
	atomic_uchar rec_failed[LD_SHARED_RECS]; /* a write to this record failed */
	uint64_t shared_torn_reads;		 /* during the run: informative only */
	struct ld_result res[];
};

struct ld_opts {
	unsigned procs;
	double seconds;
	uint64_t seed;
	pid_t daemon;
	const char *eiocbctl, *mnt;
	const char *faults[LD_MAX_FAULTS];
	unsigned nfaults;
	bool json;
	const char *dir;
};

/* ---- helpers ----------------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static uint64_t fnv64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fill(uint64_t *s, unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd(s);
		memcpy(b + i, &v, n - i < 8 ? n - i : 8);
	}
}

/* ---- the per-process model ----------------------------------------------------------------- */

struct ld_file {
	bool exists;
	bool size_unknown; /* a failed extending write: the size is old or new */
	unsigned gen;	   /* part of the name: renames change it */
	unsigned dir;	   /* 0: pN/, 1: pN/sub/ */
	uint64_t size;
	unsigned char *data; /* LD_FILECAP bytes; zeros beyond size */
	bool known[LD_NBLK];
	char xattr[64];
	size_t xlen; /* 0: no xattr */
};

struct ld_proc {
	unsigned id;
	uint64_t rng;
	char root[4096];
	struct ld_file f[LD_SLOTS];
	bool edir[LD_EDIRS];
	unsigned char *buf;  /* LD_MAXWRITE, aligned for O_DIRECT */
	unsigned char *rbuf; /* LD_FILECAP, aligned */
	struct ld_result *res;
	struct ld_shared *sh;
	int shared_fd;
	bool faults_on;
};

static void path_of(const struct ld_proc *p, unsigned slot, char *buf, size_t len)
{
	const struct ld_file *f = &p->f[slot];
	snprintf(buf, len, "%s/%sf%u-%u", p->root, f->dir ? "sub/" : "", slot, f->gen);
}

static void note_err(struct ld_proc *p, enum ld_op op, int e)
{
	p->res->errs[op][e > 0 && e < LD_NERRNO ? e : LD_NERRNO]++;
}

static void mismatch(struct ld_proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch(struct ld_proc *p, const char *fmt, ...)
{
	va_list ap;
	if (p->res->mismatches++ == 0) {
		va_start(ap, fmt);
		vsnprintf(p->res->first_mismatch, sizeof(p->res->first_mismatch), fmt, ap);
		va_end(ap);
	}
	if (p->res->mismatches <= LD_REPORT_MAX) {
		fprintf(stderr, "eiocb-load: p%u: ", p->id);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

/* Blocks overlapping [off, off+len) become unknown (a failed write: old or new bytes). */
static void model_unknown(struct ld_file *f, uint64_t off, uint64_t len)
{
	for (uint64_t b = off / LD_BLK; b * LD_BLK < off + len && b < LD_NBLK; b++)
		f->known[b] = false;
}

/* A successful write of buf at off: blocks fully covered become known. */
static void model_write(struct ld_file *f, uint64_t off, const unsigned char *buf, uint64_t len)
{
	memcpy(f->data + off, buf, len);
	for (uint64_t b = (off + LD_BLK - 1) / LD_BLK; (b + 1) * LD_BLK <= off + len; b++)
		f->known[b] = true;
	if (off + len > f->size)
		f->size = off + len;
}

static void model_truncate(struct ld_file *f, uint64_t size)
{
	if (size < f->size)
		memset(f->data + size, 0, f->size - size);
	f->size = size;
	f->size_unknown = false;
	for (uint64_t b = (size + LD_BLK - 1) / LD_BLK; b < LD_NBLK; b++)
		f->known[b] = true; /* entirely past EOF: reads as zeros */
}

/* Compares bytes read at off with the model's known blocks. */
static void model_check(struct ld_proc *p, unsigned slot, uint64_t off, const unsigned char *got,
			uint64_t len, const char *how)
{
	struct ld_file *f = &p->f[slot];
	for (uint64_t pos = off; pos < off + len;) {
		uint64_t b = pos / LD_BLK, end = (b + 1) * LD_BLK;
		if (end > off + len)
			end = off + len;
		if (b < LD_NBLK && f->known[b]) {
			if (memcmp(got + (pos - off), f->data + pos, end - pos)) {
				uint64_t i = pos;
				while (got[i - off] == f->data[i])
					i++;
				mismatch(p, "%s of f%u at byte %" PRIu64 ": 0x%02x, model 0x%02x",
					 how, slot, i, got[i - off], f->data[i]);
			}
			p->res->bytes_verified += end - pos;
		}
		pos = end;
	}
}

/* ---- operations -------------------------------------------------------------------------- */

static int pick_slot(struct ld_proc *p, bool exists)
{
	unsigned s = (unsigned)rnd_below(&p->rng, LD_SLOTS);
	for (unsigned i = 0; i < LD_SLOTS; i++) {
		unsigned k = (s + i) % LD_SLOTS;
		if (p->f[k].exists == exists)
			return (int)k;
	}
	return -1;
}

static void op_create(struct ld_proc *p)
{
	int s = pick_slot(p, false);
	char path[4200];
	if (s < 0)
		return;
	struct ld_file *f = &p->f[s];
	f->gen++;
	f->dir = (unsigned)rnd_below(&p->rng, 2);
	path_of(p, (unsigned)s, path, sizeof(path));
	p->res->ops[OP_CREATE]++;
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0) {
		note_err(p, OP_CREATE, errno);
		f->gen--; /* it does not exist: the old name stays the model */
		return;
	}
	close(fd);
	f->exists = true;
	f->xlen = 0;
	memset(f->data, 0, LD_FILECAP);
	f->size = 0;
	model_truncate(f, 0);
}

static void op_unlink(struct ld_proc *p)
{
	int s = pick_slot(p, true);
	char path[4200];
	if (s < 0)
		return;
	path_of(p, (unsigned)s, path, sizeof(path));
	p->res->ops[OP_UNLINK]++;
	if (unlink(path) < 0)
		note_err(p, OP_UNLINK, errno);
	else
		p->f[s].exists = false;
}

static void op_rename(struct ld_proc *p)
{
	int s = pick_slot(p, true);
	char from[4200], to[4200];
	if (s < 0)
		return;
	struct ld_file *f = &p->f[s];
	path_of(p, (unsigned)s, from, sizeof(from));
	unsigned ogen = f->gen, odir = f->dir;
	f->gen++;
	f->dir = (unsigned)rnd_below(&p->rng, 2);
	path_of(p, (unsigned)s, to, sizeof(to));
	p->res->ops[OP_RENAME]++;
	if (rename(from, to) < 0) {
		note_err(p, OP_RENAME, errno);
		f->gen = ogen;
		f->dir = odir;
	}
}

static void op_mkdir_rmdir(struct ld_proc *p)
{
	unsigned d = (unsigned)rnd_below(&p->rng, LD_EDIRS);
	char path[4200];
	snprintf(path, sizeof(path), "%s/e%u", p->root, d);
	enum ld_op op = p->edir[d] ? OP_RMDIR : OP_MKDIR;
	p->res->ops[op]++;
	if ((op == OP_MKDIR ? mkdir(path, 0755) : rmdir(path)) < 0)
		note_err(p, op, errno);
	else
		p->edir[d] = !p->edir[d];
}

static void op_xattr(struct ld_proc *p)
{
	int s = pick_slot(p, true);
	char path[4200], got[128];
	if (s < 0)
		return;
	struct ld_file *f = &p->f[s];
	path_of(p, (unsigned)s, path, sizeof(path));
	if (rnd_below(&p->rng, 2)) {
		char v[64];
		size_t n = 1 + rnd_below(&p->rng, sizeof(v));
		fill(&p->rng, (unsigned char *)v, n);
		p->res->ops[OP_SETXATTR]++;
		if (setxattr(path, "user.load", v, n, 0) < 0) {
			note_err(p, OP_SETXATTR, errno);
			return;
		}
		memcpy(f->xattr, v, n);
		f->xlen = n;
		return;
	}
	p->res->ops[OP_GETXATTR]++;
	ssize_t n = getxattr(path, "user.load", got, sizeof(got));
	if (n < 0 && !(errno == ENODATA && f->xlen == 0)) {
		note_err(p, OP_GETXATTR, errno);
		return;
	}
	if (n >= 0 && ((size_t)n != f->xlen || memcmp(got, f->xattr, f->xlen)))
		mismatch(p, "xattr of f%d: %zd bytes, model %zu", s, n, f->xlen);
}

static int open_slot(struct ld_proc *p, unsigned slot, int flags)
{
	char path[4200];
	path_of(p, slot, path, sizeof(path));
	return open(path, flags);
}

static void op_truncate(struct ld_proc *p)
{
	int s = pick_slot(p, true);
	if (s < 0)
		return;
	struct ld_file *f = &p->f[s];
	uint64_t size = rnd_below(&p->rng, LD_MAXSIZE);
	int fd = open_slot(p, (unsigned)s, O_WRONLY);
	p->res->ops[OP_TRUNCATE]++;
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		note_err(p, OP_TRUNCATE, errno);
		if (fd >= 0) { /* the size may or may not have changed */
			f->size_unknown = true;
			model_unknown(f, 0, LD_FILECAP);
			close(fd);
		}
		return;
	}
	model_truncate(f, size);
	close(fd);
}

static void op_fsync(struct ld_proc *p)
{
	int s = pick_slot(p, true);
	if (s < 0)
		return;
	int fd = open_slot(p, (unsigned)s, O_RDONLY);
	p->res->ops[OP_FSYNC]++;
	if (fd < 0 || fsync(fd) < 0)
		note_err(p, OP_FSYNC, errno);
	if (fd >= 0)
		close(fd);
}

/* A buffered (direct=false) or O_DIRECT write. Direct writes stay inside
   the file's current size (whole blocks), so a failure never leaves the
   size uncertain. */
static void op_write(struct ld_proc *p, bool direct)
{
	int s = pick_slot(p, true);
	if (s < 0)
		return;
	struct ld_file *f = &p->f[s];
	uint64_t off, len;
	if (direct) {
		uint64_t nb = f->size / LD_BLK;
		if (nb == 0 || f->size_unknown)
			return;
		off = rnd_below(&p->rng, nb) * LD_BLK;
		len = (1 + rnd_below(&p->rng, LD_MAXWRITE / LD_BLK)) * LD_BLK;
		if (off + len > nb * LD_BLK)
			len = nb * LD_BLK - off;
	} else {
		off = rnd_below(&p->rng, LD_MAXSIZE);
		len = 1 + rnd_below(&p->rng, 16384);
	}
	enum ld_op op = direct ? OP_DWRITE : OP_BWRITE;
	fill(&p->rng, p->buf, len);
	int fd = open_slot(p, (unsigned)s, O_WRONLY | (direct ? O_DIRECT : 0));
	p->res->ops[op]++;
	if (fd < 0) {
		note_err(p, op, errno);
		return;
	}
	ssize_t n = pwrite(fd, p->buf, len, (off_t)off);
	int e = errno;
	close(fd);
	if (n < 0) {
		note_err(p, op, e);
		model_unknown(f, off, len);
		if (off + len > f->size)
			f->size_unknown = true;
		return;
	}
	if ((uint64_t)n < len)
		p->res->short_io++;
	model_write(f, off, p->buf, (uint64_t)n);
}

static void op_read(struct ld_proc *p, bool direct)
{
	int s = pick_slot(p, true);
	if (s < 0)
		return;
	struct ld_file *f = &p->f[s];
	uint64_t off, len;
	if (direct) {
		off = rnd_below(&p->rng, LD_MAXSIZE / LD_BLK) * LD_BLK;
		len = (1 + rnd_below(&p->rng, LD_MAXWRITE / LD_BLK)) * LD_BLK;
	} else {
		off = rnd_below(&p->rng, LD_MAXSIZE);
		len = 1 + rnd_below(&p->rng, 32768);
	}
	enum ld_op op = direct ? OP_DREAD : OP_BREAD;
	int fd = open_slot(p, (unsigned)s, O_RDONLY | (direct ? O_DIRECT : 0));
	p->res->ops[op]++;
	if (fd < 0) {
		note_err(p, op, errno);
		return;
	}
	ssize_t n = pread(fd, p->rbuf, len, (off_t)off);
	int e = errno;
	close(fd);
	if (n < 0) {
		note_err(p, op, e);
		return;
	}
	uint64_t expect = off >= f->size ? 0 : (f->size - off < len ? f->size - off : len);
	if (!f->size_unknown && (uint64_t)n != expect)
		mismatch(p, "%s read of f%d at %" PRIu64 "+%" PRIu64 ": %zd bytes, model %" PRIu64,
			 direct ? "direct" : "buffered", s, off, len, n, expect);
	model_check(p, (unsigned)s, off, p->rbuf, (uint64_t)n, direct ? "direct read" : "read");
}

/* A shared record: magic, writer, sequence, checksum of the rest, payload. */
struct ld_rec {
	uint32_t magic, writer;
	uint64_t seq;
	uint64_t sum; /* fnv64 of payload */
	unsigned char payload[LD_BLK - 24];
};

static bool rec_ok(const struct ld_rec *r)
{
	static const unsigned char zero[LD_BLK];
	if (!memcmp(r, zero, LD_BLK))
		return true;
	return r->magic == LD_REC_MAGIC && r->sum == fnv64(r->payload, sizeof(r->payload));
}

static void op_shared(struct ld_proc *p, bool write)
{
	unsigned k = (unsigned)rnd_below(&p->rng, LD_SHARED_RECS);
	struct ld_rec *r = (struct ld_rec *)p->buf;
	enum ld_op op = write ? OP_SWRITE : OP_SREAD;
	p->res->ops[op]++;
	if (write) {
		r->magic = LD_REC_MAGIC;
		r->writer = p->id;
		r->seq = p->res->ops[op];
		fill(&p->rng, r->payload, sizeof(r->payload));
		r->sum = fnv64(r->payload, sizeof(r->payload));
		ssize_t n = pwrite(p->shared_fd, r, LD_BLK, (off_t)k * LD_BLK);
		if (n != LD_BLK) {
			note_err(p, op, n < 0 ? errno : EIO);
			atomic_store(&p->sh->rec_failed[k], 1);
		}
		return;
	}
	ssize_t n = pread(p->shared_fd, r, LD_BLK, (off_t)k * LD_BLK);
	if (n != LD_BLK)
		note_err(p, op, n < 0 ? errno : EIO);
	else if (!rec_ok(r))
		__atomic_add_fetch(&p->sh->shared_torn_reads, 1, __ATOMIC_RELAXED);
}

/* ---- the end: the whole model against the filesystem ------------------------------------- */

static void verify_listing(struct ld_proc *p, unsigned dirno)
{
	char path[4200], want[LD_SLOTS + LD_EDIRS + 1][64];
	bool seen[LD_SLOTS + LD_EDIRS + 1] = {0};
	unsigned nwant = 0;

	for (unsigned s = 0; s < LD_SLOTS; s++)
		if (p->f[s].exists && p->f[s].dir == dirno)
			snprintf(want[nwant++], 64, "f%u-%u", s, p->f[s].gen);
	if (dirno == 0) {
		for (unsigned d = 0; d < LD_EDIRS; d++)
			if (p->edir[d])
				snprintf(want[nwant++], 64, "e%u", d);
		snprintf(want[nwant++], 64, "sub");
	}
	snprintf(path, sizeof(path), "%s%s", p->root, dirno ? "/sub" : "");
	p->res->ops[OP_VERIFY]++;
	DIR *d = opendir(path);
	if (!d) {
		note_err(p, OP_VERIFY, errno);
		mismatch(p, "opendir %s: %s", path, strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		unsigned i;
		for (i = 0; i < nwant && strcmp(want[i], de->d_name); i++)
			;
		if (i == nwant)
			mismatch(p, "%s/%s exists, not in the model", path, de->d_name);
		else if (seen[i])
			mismatch(p, "%s/%s listed twice", path, de->d_name);
		else
			seen[i] = true;
	}
	closedir(d);
	for (unsigned i = 0; i < nwant; i++)
		if (!seen[i])
			mismatch(p, "%s/%s missing", path, want[i]);
}

static void verify_all(struct ld_proc *p)
{
	verify_listing(p, 0);
	verify_listing(p, 1);
	for (unsigned s = 0; s < LD_SLOTS; s++) {
		struct ld_file *f = &p->f[s];
		char path[4200];
		struct stat st;
		if (!f->exists)
			continue;
		path_of(p, s, path, sizeof(path));
		p->res->ops[OP_VERIFY]++;
		int fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) < 0) {
			mismatch(p, "%s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (!f->size_unknown && (uint64_t)st.st_size != f->size)
			mismatch(p, "%s: size %jd, model %" PRIu64, path, (intmax_t)st.st_size,
				 f->size);
		uint64_t n = (uint64_t)st.st_size < LD_FILECAP ? (uint64_t)st.st_size : LD_FILECAP;
		ssize_t got = pread(fd, p->rbuf, n, 0);
		if (got < 0)
			mismatch(p, "%s: read: %s", path, strerror(errno));
		else
			model_check(p, s, 0, p->rbuf, (uint64_t)got, "final read");
		char x[128];
		ssize_t xl = fgetxattr(fd, "user.load", x, sizeof(x));
		if (xl < 0 ? !(errno == ENODATA && f->xlen == 0)
			   : ((size_t)xl != f->xlen || memcmp(x, f->xattr, f->xlen)))
			mismatch(p, "%s: xattr differs from the model", path);
		close(fd);
	}
}

static void run_proc(struct ld_proc *p, double deadline)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/sub", p->root);
	if (mkdir(p->root, 0755) < 0 || mkdir(path, 0755) < 0) {
		mismatch(p, "mkdir %s: %s", path, strerror(errno));
		return;
	}
	while (now_s() < deadline) {
		unsigned r = (unsigned)rnd_below(&p->rng, 100);
		if (r < 8)
			op_create(p);
		else if (r < 12)
			op_unlink(p);
		else if (r < 20)
			op_rename(p);
		else if (r < 24)
			op_mkdir_rmdir(p);
		else if (r < 30)
			op_xattr(p);
		else if (r < 33)
			op_truncate(p);
		else if (r < 35)
			op_fsync(p);
		else if (r < 50)
			op_write(p, false);
		else if (r < 62)
			op_read(p, false);
		else if (r < 74)
			op_write(p, true);
		else if (r < 82)
			op_read(p, true);
		else if (r < 91)
			op_shared(p, true);
		else
			op_shared(p, false);
	}
	verify_all(p);
}

static int child_main(struct ld_shared *sh, unsigned id, const struct ld_opts *o, double deadline)
{
	static struct ld_proc p; /* per process (after fork): no sharing */
	char shared[4200];

	p.id = id;
	p.rng = o->seed * 0x9E3779B97F4A7C15ull + id + 1;
	p.res = &sh->res[id];
	p.sh = sh;
	p.faults_on = o->nfaults > 0;
	snprintf(p.root, sizeof(p.root), "%s/p%u", o->dir, id);
	snprintf(shared, sizeof(shared), "%s/shared", o->dir);
	if (posix_memalign((void **)&p.buf, LD_BLK, LD_MAXWRITE) ||
	    posix_memalign((void **)&p.rbuf, LD_BLK, LD_FILECAP))
		return EX_CANNOT_RUN;
	for (unsigned s = 0; s < LD_SLOTS; s++)
		if (!(p.f[s].data = calloc(1, LD_FILECAP)))
			return EX_CANNOT_RUN;
	p.shared_fd = open(shared, O_RDWR);
	if (p.shared_fd < 0) {
		mismatch(&p, "%s: %s", shared, strerror(errno));
		return EX_FAIL;
	}
	run_proc(&p, deadline);
	close(p.shared_fd);
	p.res->done = true;
	return EX_OK;
}

/* ---- the parent: faults, daemon figures, report ------------------------------------------- */

struct ld_daemon {
	uint64_t rss_peak_kb, hwm_kb, rss_kb;
	long threads, fds;
};

static void daemon_sample(pid_t pid, struct ld_daemon *d)
{
	char path[64], line[256];
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "VmHWM: %llu", &v) == 1)
			d->hwm_kb = v;
		else if (sscanf(line, "VmRSS: %llu", &v) == 1) {
			d->rss_kb = v;
			if (v > d->rss_peak_kb)
				d->rss_peak_kb = v;
		} else if (sscanf(line, "Threads: %llu", &v) == 1)
			d->threads = (long)v;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dd = opendir(path);
	if (dd) {
		long n = 0;
		while (readdir(dd))
			n++;
		d->fds = n - 2;
		closedir(dd);
	}
}

/* Runs `eiocbctl MNT fault WORDS...` (WORDS split at blanks). Returns its exit status. */
static int run_eiocbctl(const struct ld_opts *o, const char *words)
{
	char *copy = strdup(words), *argv[40], *save = NULL;
	int argc = 0;
	if (!copy)
		return -1;
	argv[argc++] = (char *)o->eiocbctl;
	argv[argc++] = (char *)o->mnt;
	argv[argc++] = "fault";
	for (char *w = strtok_r(copy, " \t", &save); w && argc < 39;
	     w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		execvp(o->eiocbctl, argv); /* a path, or a name looked up in PATH */
		fprintf(stderr, "eiocb-load: %s: %s\n", o->eiocbctl, strerror(errno));
		_exit(127);
	}
	int st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	free(copy);
	return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void faults_off(const struct ld_opts *o)
{
	for (unsigned i = 0; i < o->nfaults; i++) {
		char w[128];
		snprintf(w, sizeof(w), "%.*s off", (int)strcspn(o->faults[i], " \t:"),
			 o->faults[i]);
		run_eiocbctl(o, w);
	}
}

static void usage(FILE *f)
{
	fputs("usage: eiocb-load [-p PROCS] [-t SECONDS] [-S SEED] [--pid DAEMON_PID]\n"
	      "                  [--eiocbctl PATH --mount MNT --fault POINT:KEY=VAL...]...\n"
	      "                  [--json] DIR\n"
	      "  -p PROCS          worker processes (default 32)\n"
	      "  -t SECONDS        run time (default 20)\n"
	      "  -S SEED           seed of the workload (default 1)\n"
	      "  --pid PID         the daemon's pid: report its peak RSS, threads and fds\n"
	      "  --eiocbctl PATH   the eiocbctl to set faults with (a path, or a name in PATH),\n"
	      "                    on the mount --mount MNT\n"
	      "  --mount MNT       the eiocbfs mount point the faults are set on\n"
	      "  --fault SPEC      a fault to turn on for the run (repeatable), as eiocbctl\n"
	      "                    takes it: POINT:KEY=VAL:... (or \"POINT KEY=VAL ...\")\n"
	      "  --json            the report as JSON\n"
	      "  -h, --help        this help\n"
	      "  -V, --version     the version\n"
	      "exit: 0 every byte matched the model, 1 a mismatch or an unexpected error,\n"
	      "2 usage error, 3 the test could not run\n",
	      f);
}

static int parse(int argc, char **argv, struct ld_opts *o)
{
	static const struct option lo[] = {
	    {"pid", required_argument, 0, 'P'},	  {"eiocbctl", required_argument, 0, 'C'},
	    {"mount", required_argument, 0, 'M'}, {"fault", required_argument, 0, 'F'},
	    {"json", no_argument, 0, 'J'},	  {"help", no_argument, 0, 'h'},
	    {"version", no_argument, 0, 'V'},	  {0, 0, 0, 0},
	};
	int c;
	*o = (struct ld_opts){.procs = 32, .seconds = 20, .seed = 1};
	while ((c = getopt_long(argc, argv, "p:t:S:hV", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'p':
			o->procs = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o->procs < 1 || o->procs > LD_MAX_PROCS)
				return -1;
			break;
		case 't':
			o->seconds = strtod(optarg, &end);
			if (*end || o->seconds <= 0)
				return -1;
			break;
		case 'S':
			o->seed = strtoull(optarg, &end, 0);
			if (*end)
				return -1;
			break;
		case 'P':
			o->daemon = (pid_t)strtol(optarg, &end, 10);
			if (*end || o->daemon <= 0)
				return -1;
			break;
		case 'C':
			o->eiocbctl = optarg;
			break;
		case 'M':
			o->mnt = optarg;
			break;
		case 'F':
			if (o->nfaults == LD_MAX_FAULTS)
				return -1;
			o->faults[o->nfaults++] = optarg;
			break;
		case 'J':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("eiocb-load 0.1\n");
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	o->dir = argv[optind];
	if (o->nfaults && (!o->eiocbctl || !o->mnt)) {
		fprintf(stderr, "eiocb-load: --fault needs --eiocbctl and --mount\n");
		return -1;
	}
	return 0;
}

/* Errors that the load may meet: EIO on data I/O while faults may be on. */
static bool expected_err(const struct ld_opts *o, bool faults_on, enum ld_op op, int e)
{
	return faults_on && e == EIO && ld_op_may_eio(op);
}

int main(int argc, char **argv)
{
	struct ld_opts o;
	char shared[4200];

	if (parse(argc, argv, &o) < 0) {
		usage(stderr);
		return EX_USAGE;
	}
	/* Faults given with -o fault= are invisible to us: EIO is expected if
	   $EIOCB_LOAD_FAULTS says so, or if we set faults ourselves. */
	bool faults_on = o.nfaults > 0 || getenv("EIOCB_LOAD_FAULTS");
	size_t shsize = sizeof(struct ld_shared) + o.procs * sizeof(struct ld_result);
	struct ld_shared *sh =
	    mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("eiocb-load: mmap");
		return EX_CANNOT_RUN;
	}
	snprintf(shared, sizeof(shared), "%s/shared", o.dir);
	int sfd = open(shared, O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (sfd < 0 || ftruncate(sfd, (off_t)LD_SHARED_RECS * LD_BLK) < 0) {
		fprintf(stderr, "eiocb-load: %s: %s\n", shared, strerror(errno));
		return EX_CANNOT_RUN;
	}
	for (unsigned i = 0; i < o.nfaults; i++)
		if (run_eiocbctl(&o, o.faults[i]) != 0) {
			fprintf(stderr, "eiocb-load: eiocbctl %s fault %s failed\n", o.mnt,
				o.faults[i]);
			faults_off(&o);
			return EX_CANNOT_RUN;
		}

	struct ld_daemon dm = {0};
	daemon_sample(o.daemon, &dm);
	double t0 = now_s(), deadline = t0 + o.seconds;
	pid_t *pids = calloc(o.procs, sizeof(pid_t));
	unsigned started = 0;
	for (; pids && started < o.procs; started++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(child_main(sh, started, &o, deadline));
		if (pid < 0)
			break;
		pids[started] = pid;
	}
	/* Sample the daemon while the children run; give them time to verify. */
	unsigned alive = started;
	int worst = started == o.procs ? EX_OK : EX_CANNOT_RUN;
	double hard = deadline + 120 + o.procs;
	bool verify_phase = false;
	while (alive) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid > 0) {
			alive--;
			int rc = WIFEXITED(st) ? WEXITSTATUS(st) : EX_FAIL;
			if (rc > worst)
				worst = rc;
			continue;
		}
		if (!verify_phase && now_s() >= deadline) {
			verify_phase = true; /* faults off: the final check reads what is there */
			faults_off(&o);
		}
		daemon_sample(o.daemon, &dm);
		if (now_s() > hard) {
			fprintf(
			    stderr,
			    "eiocb-load: %u processes still running %.0f s past the end: killed\n",
			    alive, hard - deadline);
			for (unsigned i = 0; i < started; i++)
				kill(pids[i], SIGKILL);
			worst = EX_FAIL;
		}
		usleep(50000);
	}
	if (!verify_phase)
		faults_off(&o);
	double elapsed = now_s() - t0;
	daemon_sample(o.daemon, &dm);

	/* The shared file: every record intact or zero, unless a write to it failed. */
	uint64_t torn = 0, recs_written = 0;
	struct ld_rec rec;
	for (unsigned k = 0; k < LD_SHARED_RECS; k++) {
		if (pread(sfd, &rec, LD_BLK, (off_t)k * LD_BLK) != LD_BLK) {
			torn++;
			continue;
		}
		if (rec.magic == LD_REC_MAGIC)
			recs_written++;
		if (!rec_ok(&rec) && !atomic_load(&sh->rec_failed[k])) {
			if (torn++ < LD_REPORT_MAX)
				fprintf(stderr, "eiocb-load: shared record %u is torn\n", k);
		}
	}
	close(sfd);

	uint64_t total = 0, mism = torn, verified = 0, unexpected = 0, shortio = 0;
	uint64_t ops[OP_N] = {0}, errs[OP_N][LD_NERRNO + 1];
	memset(errs, 0, sizeof(errs));
	for (unsigned i = 0; i < started; i++) {
		struct ld_result *r = &sh->res[i];
		if (!r->done && worst == EX_OK)
			worst = EX_FAIL;
		mism += r->mismatches;
		verified += r->bytes_verified;
		shortio += r->short_io;
		for (int op = 0; op < OP_N; op++) {
			ops[op] += r->ops[op];
			total += r->ops[op];
			for (int e = 0; e <= LD_NERRNO; e++) {
				errs[op][e] += r->errs[op][e];
				if (r->errs[op][e] && !expected_err(&o, faults_on, op, e))
					unexpected += r->errs[op][e];
			}
		}
	}
	if (mism || unexpected)
		worst = worst == EX_OK ? EX_FAIL : worst;

	FILE *out = stdout;
	if (o.json) {
		json_t *jops = json_object(), *jerrs = json_object(), *root;
		char key[64];

		for (int op = 0; jops && op < OP_N; op++)
			json_object_set_new(jops, ld_op_name[op],
					    json_integer((json_int_t)ops[op]));
		for (int op = 0; jerrs && op < OP_N; op++)
			for (int e = 0; e <= LD_NERRNO; e++)
				if (errs[op][e]) {
					snprintf(key, sizeof(key), "%s %s", ld_op_name[op],
						 e == LD_NERRNO ? "other" : strerrorname_np(e));
					json_object_set_new(jerrs, key,
							    json_integer((json_int_t)errs[op][e]));
				}
		root = json_pack(
		    "{s:i, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o*, "
		    "s:o*, s:{s:i, s:I, s:I, s:I, s:I, s:I}, s:b}",
		    "procs", (int)started, "seconds", round(elapsed * 100) / 100, "requests",
		    (json_int_t)total, "requests_per_s", (json_int_t)llround(total / elapsed),
		    "mismatches", (json_int_t)mism, "unexpected_errors", (json_int_t)unexpected,
		    "bytes_verified", (json_int_t)verified, "shared_records_written",
		    (json_int_t)recs_written, "shared_torn", (json_int_t)torn,
		    "shared_torn_reads_during_run", (json_int_t)sh->shared_torn_reads, "short_io",
		    (json_int_t)shortio, "ops", jops, "errors", jerrs, "daemon", "pid",
		    (int)o.daemon, "rss_peak_kb", (json_int_t)dm.rss_peak_kb, "vmhwm_kb",
		    (json_int_t)dm.hwm_kb, "rss_end_kb", (json_int_t)dm.rss_kb, "threads",
		    (json_int_t)dm.threads, "fds", (json_int_t)dm.fds, "ok", worst == EX_OK);
		if (!root || json_dumpf(root, out, JSON_REAL_PRECISION(15)) < 0) {
			fprintf(stderr, "eiocb-load: --json: out of memory\n");
			worst = worst == EX_OK ? EX_FAIL : worst;
		} else {
			fputc('\n', out);
		}
		json_decref(root);
	} else {
		fprintf(out, "eiocb-load: %u processes, %.1f s, %" PRIu64 " requests (%.0f/s)\n",
			started, elapsed, total, total / elapsed);
		for (int op = 0; op < OP_N; op++)
			fprintf(out, "  %-15s %10" PRIu64 "\n", ld_op_name[op], ops[op]);
		for (int op = 0; op < OP_N; op++)
			for (int e = 0; e <= LD_NERRNO; e++)
				if (errs[op][e])
					fprintf(
					    out, "  error %s %s: %" PRIu64 "%s\n", ld_op_name[op],
					    e == LD_NERRNO ? "other" : strerrorname_np(e),
					    errs[op][e],
					    expected_err(&o, faults_on, op, e) ? ""
									       : " (unexpected)");
		fprintf(out,
			"  verified %" PRIu64 " bytes, %" PRIu64 " mismatches, %" PRIu64
			" shared records (%" PRIu64 " torn)\n",
			verified, mism, recs_written, torn);
		if (o.daemon > 0)
			fprintf(out,
				"  daemon %d: RSS peak %" PRIu64 " KiB (VmHWM %" PRIu64
				" KiB), %ld threads, %ld fds\n",
				(int)o.daemon, dm.rss_peak_kb, dm.hwm_kb, dm.threads, dm.fds);
		fprintf(out, "%s\n", worst == EX_OK ? "OK" : "FAILED");
	}
	free(pids);
	munmap(sh, shsize);
	return worst;
}
