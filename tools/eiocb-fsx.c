/*
 * eiocb-fsx.c: a file system exerciser in the manner of fsx (layer: tools,
 * a user of any mounted filesystem; calls only libc). One file takes a
 * long random sequence of operations: read, write, mapped read, mapped
 * write (MAP_SHARED, msync), truncate, fallocate, punch hole, zero range,
 * and now and then a close and reopen; a copy in memory says what every
 * byte must be, and every read (each mapped read too, with the rest of the
 * page past the end of the file, which must read zeros) and the size
 * after every operation are checked against it. On the first difference
 * it prints what differs and the operations that last touched the file,
 * writes the expected content beside the file (FILE.fsxgood) and exits 1;
 * else "All N operations completed A-OK!" and 0. The same seed gives the
 * same sequence.
 *
 * The option letters are fsx's for what it has: mapped reads and writes
 * are on by default (-R, -W turn them off), -Z opens the file O_DIRECT
 * (offsets and lengths then aligned to the -r/-w/-t boundaries, 4096 by
 * default with -Z).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum op {
	OP_READ,
	OP_WRITE,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNCATE,
	OP_FALLOCATE,
	OP_PUNCH_HOLE,
	OP_ZERO_RANGE,
	OP_MAX,
	OP_CLOSEOPEN = OP_MAX, /* not drawn with the others: its own probability */
	OP_SKIPPED,
};

static const char *const op_names[] = {"read",	     "write",	  "mapread",	"mapwrite",
				       "truncate",   "fallocate", "punch_hole", "zero_range",
				       "close/open", "skipped"};

#define LOG_ENTRIES 1024

struct log_entry {
	uint64_t num;
	enum op op;
	int64_t off, len;
	int64_t old_size, new_size;
	int mode; /* fallocate's: keep size */
};

struct fsx {
	const char *fname;
	int fd;
	uint64_t numops, num;
	uint64_t seed;
	int64_t maxfilelen, maxoplen;
	int64_t size; /* the file's size as it must be */
	char *good;   /* what every byte must be (maxfilelen bytes) */
	char *tmp;    /* reads land here (aligned for O_DIRECT) */
	char *src;    /* writes come from here */
	int64_t readbdy, writebdy, truncbdy;
	unsigned closeprob;
	uint64_t progress;
	bool quiet, debug;
	bool mapped_reads, mapped_writes;
	bool do_fallocate, do_punch, do_zero, do_truncate;
	bool direct, fsync_writes;
	long pagesize;
	struct log_entry log[LOG_ENTRIES];
	uint64_t logged;
	uint64_t counts[OP_SKIPPED + 1];
};

/* xorshift64*: the whole sequence follows from the seed. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void prt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void log_op(struct fsx *f, enum op op, int64_t off, int64_t len, int64_t old_size, int mode)
{
	struct log_entry *e = &f->log[f->logged++ % LOG_ENTRIES];
	*e = (struct log_entry){.num = f->num,
				.op = op,
				.off = off,
				.len = len,
				.old_size = old_size,
				.new_size = f->size,
				.mode = mode};
	f->counts[op]++;
	if (f->debug)
		prt("%" PRIu64 " %s 0x%" PRIx64 " len 0x%" PRIx64 " size 0x%" PRIx64
		    " -> 0x%" PRIx64 "%s\n",
		    f->num, op_names[op], (uint64_t)off, (uint64_t)len, (uint64_t)old_size,
		    (uint64_t)f->size, mode ? " keep_size" : "");
}

/* The last operations, oldest first, marking those that touched [off, off+len). */
static void dump_log(struct fsx *f, int64_t off, int64_t len)
{
	uint64_t n = f->logged < LOG_ENTRIES ? f->logged : LOG_ENTRIES;
	prt("LOG DUMP (%" PRIu64 " total operations, the last %" PRIu64 "):\n", f->logged, n);
	for (uint64_t i = f->logged - n; i < f->logged; i++) {
		const struct log_entry *e = &f->log[i % LOG_ENTRIES];
		bool touches = e->off < off + len && off < e->off + e->len;
		prt("%" PRIu64 "(%" PRIu64 " mod 256): %-10s 0x%" PRIx64 " thru 0x%" PRIx64
		    "\t(0x%" PRIx64 " bytes) size 0x%" PRIx64 " -> 0x%" PRIx64 "%s%s\n",
		    e->num, e->num % 256, op_names[e->op], (uint64_t)e->off,
		    (uint64_t)(e->off + e->len - (e->len > 0)), (uint64_t)e->len,
		    (uint64_t)e->old_size, (uint64_t)e->new_size, e->mode ? " keep_size" : "",
		    touches ? "\t***" : "");
	}
}

static void save_good(struct fsx *f)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s.fsxgood", f->fname);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, f->good, (size_t)f->size) != f->size)
		prt("cannot write %s: %s\n", path, strerror(errno));
	else
		prt("expected content written to %s\n", path);
	if (fd >= 0)
		close(fd);
}

static void __attribute__((noreturn)) fail(struct fsx *f, int64_t off, int64_t len)
{
	dump_log(f, off, len);
	save_good(f);
	prt("FAILED at operation %" PRIu64 " (seed %" PRIu64 ")\n", f->num, f->seed);
	exit(1);
}

static void __attribute__((noreturn))
fail_errno(struct fsx *f, const char *what, int64_t off, int64_t len)
{
	prt("%s at 0x%" PRIx64 " len 0x%" PRIx64 ": %s\n", what, (uint64_t)off, (uint64_t)len,
	    strerror(errno));
	fail(f, off, len);
}

/* got (len bytes read at off) against the expected bytes. */
static void check_buffers(struct fsx *f, const char *what, const char *got, int64_t off,
			  int64_t len)
{
	if (memcmp(got, f->good + off, (size_t)len) == 0)
		return;
	int64_t i = 0, bad = 0, first = -1;
	prt("%s: bad data at 0x%" PRIx64 " len 0x%" PRIx64 "\n", what, (uint64_t)off,
	    (uint64_t)len);
	prt("OFFSET\tGOOD\tBAD\n");
	for (; i < len; i++) {
		if (got[i] == f->good[off + i])
			continue;
		if (first < 0)
			first = i;
		if (bad++ < 16)
			prt("0x%05" PRIx64 "\t0x%02x\t0x%02x\n", (uint64_t)(off + i),
			    (unsigned char)f->good[off + i], (unsigned char)got[i]);
	}
	prt("%" PRId64 " bytes differ, the first at 0x%" PRIx64 "\n", bad, (uint64_t)(off + first));
	fail(f, off, len);
}

static void check_size(struct fsx *f)
{
	struct stat st;
	if (fstat(f->fd, &st) < 0)
		fail_errno(f, "fstat", 0, 0);
	if (st.st_size != f->size) {
		prt("size: 0x%" PRIx64 ", expected 0x%" PRIx64 "\n", (uint64_t)st.st_size,
		    (uint64_t)f->size);
		fail(f, f->size, 0);
	}
}

static int64_t align_down(int64_t v, int64_t bdy)
{
	return v - v % bdy;
}

/* A random range: off aligned to bdy, len in 1..maxoplen (also aligned
   under O_DIRECT), both within limit when limit > 0. */
static void pick_range(struct fsx *f, int64_t limit, int64_t bdy, int64_t *off, int64_t *len)
{
	*off = align_down((int64_t)(rnd() % (uint64_t)(limit > 0 ? limit : 1)), bdy);
	*len = 1 + (int64_t)(rnd() % (uint64_t)f->maxoplen);
	if (f->direct)
		*len = align_down(*len + bdy - 1, bdy);
	if (*off + *len > f->maxfilelen)
		*len = f->maxfilelen - *off;
}

/* What a write puts in the file: its operation number and offsets, never
   a run of zeros (a hole must tell itself apart). */
static void fill_src(struct fsx *f, int64_t off, int64_t len)
{
	for (int64_t i = 0; i < len; i++) {
		char c = (char)((f->num + (uint64_t)(off + i) * 7) % 255 + 1);
		f->src[i] = c;
	}
}

static void do_read(struct fsx *f, int64_t off, int64_t len)
{
	if (f->size == 0 || off >= f->size) {
		log_op(f, OP_SKIPPED, off, len, f->size, 0);
		return;
	}
	if (off + len > f->size)
		len = f->direct ? align_down(f->size - off + f->readbdy - 1, f->readbdy)
				: f->size - off;
	ssize_t n = pread(f->fd, f->tmp, (size_t)len, off);
	int64_t want = off + len > f->size ? f->size - off : len;
	log_op(f, OP_READ, off, len, f->size, 0);
	if (n < 0)
		fail_errno(f, "read", off, len);
	if (n != want) {
		prt("read: 0x%zx bytes at 0x%" PRIx64 ", expected 0x%" PRIx64 "\n", n,
		    (uint64_t)off, (uint64_t)want);
		fail(f, off, len);
	}
	check_buffers(f, "read", f->tmp, off, want);
}

/* A mapped read; also the rest of the page the file ends in: zeros. */
static void do_mapread(struct fsx *f, int64_t off, int64_t len)
{
	if (f->size == 0 || off >= f->size) {
		log_op(f, OP_SKIPPED, off, len, f->size, 0);
		return;
	}
	if (off + len > f->size)
		len = f->size - off;
	int64_t pg = align_down(off, f->pagesize), maplen = off + len - pg;
	char *p = mmap(NULL, (size_t)maplen, PROT_READ, MAP_SHARED, f->fd, pg);
	log_op(f, OP_MAPREAD, off, len, f->size, 0);
	if (p == MAP_FAILED)
		fail_errno(f, "mmap (read)", off, len);
	check_buffers(f, "mapread", p + (off - pg), off, len);
	if (munmap(p, (size_t)maplen) < 0)
		fail_errno(f, "munmap", off, len);
	/* the tail of the last page, beyond the end of the file */
	int64_t eofpg = align_down(f->size, f->pagesize);
	if (f->size % f->pagesize == 0)
		return;
	p = mmap(NULL, (size_t)f->pagesize, PROT_READ, MAP_SHARED, f->fd, eofpg);
	if (p == MAP_FAILED)
		fail_errno(f, "mmap (end of file)", eofpg, f->pagesize);
	for (int64_t i = f->size - eofpg; i < f->pagesize; i++)
		if (p[i] != 0) {
			prt("mapped page at the end of the file: byte 0x%" PRIx64
			    " past the end (size 0x%" PRIx64 ") is 0x%02x, not zero\n",
			    (uint64_t)(eofpg + i), (uint64_t)f->size, (unsigned char)p[i]);
			munmap(p, (size_t)f->pagesize);
			fail(f, f->size, f->pagesize);
		}
	munmap(p, (size_t)f->pagesize);
}

/* The file grew from old to new by a write or a truncate: what lies
   between reads as zeros. */
static void grow(struct fsx *f, int64_t new_size)
{
	if (new_size > f->size)
		memset(f->good + f->size, 0, (size_t)(new_size - f->size));
	f->size = new_size;
}

static void do_write(struct fsx *f, int64_t off, int64_t len)
{
	int64_t old = f->size;
	fill_src(f, off, len);
	ssize_t n = pwrite(f->fd, f->src, (size_t)len, off);
	if (off + len > f->size)
		grow(f, off + len);
	memcpy(f->good + off, f->src, (size_t)len);
	log_op(f, OP_WRITE, off, len, old, 0);
	if (n != len) {
		if (n >= 0)
			errno = EIO;
		fail_errno(f, n < 0 ? "write" : "short write", off, len);
	}
	if (f->fsync_writes && fsync(f->fd) < 0)
		fail_errno(f, "fsync", off, len);
}

static void do_mapwrite(struct fsx *f, int64_t off, int64_t len)
{
	int64_t old = f->size;
	if (off + len > f->size) {
		if (ftruncate(f->fd, off + len) < 0)
			fail_errno(f, "ftruncate (mapwrite)", off, len);
		grow(f, off + len);
	}
	int64_t pg = align_down(off, f->pagesize), maplen = off + len - pg;
	char *p = mmap(NULL, (size_t)maplen, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, pg);
	log_op(f, OP_MAPWRITE, off, len, old, 0);
	if (p == MAP_FAILED)
		fail_errno(f, "mmap (write)", off, len);
	fill_src(f, off, len);
	memcpy(p + (off - pg), f->src, (size_t)len);
	memcpy(f->good + off, f->src, (size_t)len);
	if (msync(p, (size_t)maplen, MS_SYNC) < 0)
		fail_errno(f, "msync", off, len);
	if (munmap(p, (size_t)maplen) < 0)
		fail_errno(f, "munmap", off, len);
}

static void do_truncate(struct fsx *f)
{
	int64_t old = f->size;
	int64_t size = align_down((int64_t)(rnd() % (uint64_t)(f->maxfilelen + 1)), f->truncbdy);
	if (ftruncate(f->fd, size) < 0)
		fail_errno(f, "ftruncate", size, 0);
	if (size < f->size)
		f->size = size;
	else
		grow(f, size);
	log_op(f, OP_TRUNCATE, size, 0, old, 0);
}

/* mode: 0, FALLOC_FL_KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE (|KEEP_SIZE). */
static bool do_fallocate(struct fsx *f, enum op op, int64_t off, int64_t len)
{
	int keep = (int)(rnd() % 2), mode;
	int64_t old = f->size;
	if (op == OP_PUNCH_HOLE) {
		if (off >= f->size)
			return false;
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		keep = 1;
	} else if (op == OP_ZERO_RANGE) {
		mode = FALLOC_FL_ZERO_RANGE | (keep ? FALLOC_FL_KEEP_SIZE : 0);
	} else {
		mode = keep ? FALLOC_FL_KEEP_SIZE : 0;
	}
	if (fallocate(f->fd, mode, off, len) < 0) {
		if (errno == EOPNOTSUPP) { /* the filesystem has no such mode: never again */
			prt("%s: not supported, disabled\n", op_names[op]);
			*(op == OP_PUNCH_HOLE	? &f->do_punch
			  : op == OP_ZERO_RANGE ? &f->do_zero
						: &f->do_fallocate) = false;
			return false;
		}
		fail_errno(f, op_names[op], off, len);
	}
	int64_t end = off + len;
	if (op != OP_FALLOCATE) {
		int64_t z = end < f->size ? end : f->size;
		if (off < z)
			memset(f->good + off, 0, (size_t)(z - off));
	}
	if (!keep && end > f->size)
		grow(f, end);
	log_op(f, op, off, len, old, keep);
	return true;
}

static void close_open(struct fsx *f)
{
	if (close(f->fd) < 0)
		fail_errno(f, "close", 0, 0);
	f->fd = open(f->fname, O_RDWR | (f->direct ? O_DIRECT : 0));
	if (f->fd < 0)
		fail_errno(f, "reopen", 0, 0);
	log_op(f, OP_CLOSEOPEN, 0, 0, f->size, 0);
}

static bool op_enabled(struct fsx *f, enum op op)
{
	switch (op) {
	case OP_MAPREAD:
		return f->mapped_reads;
	case OP_MAPWRITE:
		return f->mapped_writes;
	case OP_TRUNCATE:
		return f->do_truncate;
	case OP_FALLOCATE:
		return f->do_fallocate;
	case OP_PUNCH_HOLE:
		return f->do_punch;
	case OP_ZERO_RANGE:
		return f->do_zero;
	default:
		return true;
	}
}

static void step(struct fsx *f)
{
	enum op op = (enum op)(rnd() % OP_MAX);
	int64_t off, len;
	f->num++;
	/* a disabled mapped operation is done with the system call instead */
	if (op == OP_MAPREAD && !f->mapped_reads)
		op = OP_READ;
	if (op == OP_MAPWRITE && !f->mapped_writes)
		op = OP_WRITE;
	if (!op_enabled(f, op))
		op = rnd() % 2 ? OP_READ : OP_WRITE;
	switch (op) {
	case OP_READ:
		pick_range(f, f->size, f->readbdy, &off, &len);
		do_read(f, off, len);
		break;
	case OP_MAPREAD:
		pick_range(f, f->size, 1, &off, &len);
		do_mapread(f, off, len);
		break;
	case OP_WRITE:
		pick_range(f, f->maxfilelen, f->writebdy, &off, &len);
		do_write(f, off, len);
		break;
	case OP_MAPWRITE:
		pick_range(f, f->maxfilelen, 1, &off, &len);
		do_mapwrite(f, off, len);
		break;
	case OP_TRUNCATE:
		do_truncate(f);
		break;
	default:
		pick_range(f, op == OP_PUNCH_HOLE ? f->size : f->maxfilelen, 1, &off, &len);
		if (!do_fallocate(f, op, off, len))
			log_op(f, OP_SKIPPED, off, len, f->size, 0);
		break;
	}
	check_size(f);
	if (f->closeprob && rnd() % f->closeprob == 0)
		close_open(f);
	if (f->progress && f->num % f->progress == 0 && !f->quiet)
		prt("%" PRIu64 " operations, file size 0x%" PRIx64 "\n", f->num, (uint64_t)f->size);
}

/* At the end: the whole file, by read(2) and by a mapping. */
static void check_all(struct fsx *f)
{
	for (int64_t off = 0; off < f->size; off += f->maxoplen) {
		int64_t len = f->size - off < f->maxoplen ? f->size - off : f->maxoplen;
		int64_t rlen = f->direct ? align_down(len + f->readbdy - 1, f->readbdy) : len;
		ssize_t n = pread(f->fd, f->tmp, (size_t)rlen, off);
		if (n != len) {
			prt("final read at 0x%" PRIx64 ": 0x%zx bytes, expected 0x%" PRIx64 "\n",
			    (uint64_t)off, n, (uint64_t)len);
			fail(f, off, len);
		}
		check_buffers(f, "final read", f->tmp, off, len);
	}
	if (f->mapped_reads && f->size > 0)
		do_mapread(f, 0, f->size);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: eiocb-fsx [options] FILE\n"
		"  -N numops   operations to run (default 10000)\n"
		"  -S seed     random seed (default 1; 0: from the clock)\n"
		"  -l flen     largest file size (default 262144)\n"
		"  -o oplen    largest operation (default 65536)\n"
		"  -c P        close and reopen the file once in P operations (default never)\n"
		"  -p N        progress every N operations\n"
		"  -r/-w/-t B  read/write/truncate offsets aligned to B (default 1; -Z: 4096)\n"
		"  -R          no mapped reads;  -W  no mapped writes\n"
		"  -F          no fallocate;  -H  no punch hole;  -z  no zero range;\n"
		"  -T          no truncate\n"
		"  -Z          O_DIRECT reads and writes (mapped ones as they are)\n"
		"  -y          fsync after every write\n"
		"  -d          print every operation;  -q  quieter\n");
	exit(2);
}

static int64_t parse_num(const char *s, const char *what, int64_t min)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || *end || v < min) {
		fprintf(stderr, "eiocb-fsx: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static struct fsx fx;
	struct fsx *f = &fx;
	int c;
	f->numops = 10000;
	f->seed = 1;
	f->maxfilelen = 256 * 1024;
	f->maxoplen = 64 * 1024;
	f->readbdy = f->writebdy = f->truncbdy = 0;
	f->mapped_reads = f->mapped_writes = true;
	f->do_fallocate = f->do_punch = f->do_zero = f->do_truncate = true;
	while ((c = getopt(argc, argv, "N:S:l:o:c:p:r:w:t:RWFHzTZydq")) != -1) {
		switch (c) {
		case 'N':
			f->numops = (uint64_t)parse_num(optarg, "operation count", 1);
			break;
		case 'S':
			f->seed = (uint64_t)parse_num(optarg, "seed", 0);
			break;
		case 'l':
			f->maxfilelen = parse_num(optarg, "file length", 1);
			break;
		case 'o':
			f->maxoplen = parse_num(optarg, "operation length", 1);
			break;
		case 'c':
			f->closeprob = (unsigned)parse_num(optarg, "close probability", 0);
			break;
		case 'p':
			f->progress = (uint64_t)parse_num(optarg, "progress interval", 0);
			break;
		case 'r':
			f->readbdy = parse_num(optarg, "read boundary", 1);
			break;
		case 'w':
			f->writebdy = parse_num(optarg, "write boundary", 1);
			break;
		case 't':
			f->truncbdy = parse_num(optarg, "truncate boundary", 1);
			break;
		case 'R':
			f->mapped_reads = false;
			break;
		case 'W':
			f->mapped_writes = false;
			break;
		case 'F':
			f->do_fallocate = false;
			break;
		case 'H':
			f->do_punch = false;
			break;
		case 'z':
			f->do_zero = false;
			break;
		case 'T':
			f->do_truncate = false;
			break;
		case 'Z':
			f->direct = true;
			break;
		case 'y':
			f->fsync_writes = true;
			break;
		case 'd':
			f->debug = true;
			break;
		case 'q':
			f->quiet = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	f->fname = argv[optind];
	int64_t dflt = f->direct ? 4096 : 1;
	if (!f->readbdy)
		f->readbdy = dflt;
	if (!f->writebdy)
		f->writebdy = dflt;
	if (!f->truncbdy)
		f->truncbdy = 1;
	if (f->maxoplen > f->maxfilelen)
		f->maxoplen = f->maxfilelen;
	if (f->direct && (f->maxfilelen % f->writebdy || f->maxoplen < f->writebdy)) {
		fprintf(stderr, "eiocb-fsx: -Z: -l must be a multiple of -w and -o at least -w\n");
		return 2;
	}
	if (f->seed == 0) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		f->seed = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	}
	rng_state = f->seed * 0x9E3779B97F4A7C15ULL + 1;
	f->pagesize = sysconf(_SC_PAGESIZE);
	size_t buflen = (size_t)f->maxfilelen + (size_t)f->maxoplen + 4096;
	if (posix_memalign((void **)&f->tmp, 4096, buflen) ||
	    posix_memalign((void **)&f->src, 4096, buflen) || !(f->good = calloc(1, buflen))) {
		fprintf(stderr, "eiocb-fsx: out of memory\n");
		return 1;
	}
	f->fd = open(f->fname, O_RDWR | O_CREAT | O_TRUNC | (f->direct ? O_DIRECT : 0), 0666);
	if (f->fd < 0) {
		fprintf(stderr, "eiocb-fsx: %s: %s\n", f->fname, strerror(errno));
		return 1;
	}
	if (!f->quiet)
		prt("eiocb-fsx: %s, seed %" PRIu64 ", %" PRIu64 " operations, mapped reads %s, "
		    "mapped writes %s%s\n",
		    f->fname, f->seed, f->numops, f->mapped_reads ? "on" : "off",
		    f->mapped_writes ? "on" : "off", f->direct ? ", O_DIRECT" : "");
	while (f->num < f->numops)
		step(f);
	check_all(f);
	if (close(f->fd) < 0) {
		prt("close: %s\n", strerror(errno));
		fail(f, 0, 0);
	}
	if (!f->quiet) {
		prt("operations:");
		for (int i = 0; i <= OP_SKIPPED; i++)
			prt(" %s %" PRIu64, op_names[i], f->counts[i]);
		prt("\n");
	}
	prt("All %" PRIu64 " operations completed A-OK!\n", f->num);
	return 0;
}
