/*
 * fuse-ref.c: a FUSE reference daemon for tools/bench/bench-dio (layer: benchmark
 * tool; uses libfuse and libc only, nothing of eiocbfs).
 *
 *   fuse-ref --mode null|sync --size BYTES [--backing FILE] [-o OPTS] MOUNTPOINT
 *
 * It shows what FUSE itself costs on this kernel, next to eiocbfs: the same
 * libfuse low-level multithreaded loop, the same connection settings (async
 * direct I/O, 1 MiB requests, 128 background requests) and open flags
 * (direct_io), but a filesystem that does as little as possible. The mount
 * holds a root directory (inode 1) with one regular file, bench.dat (inode
 * 2), of a fixed size.
 *   --mode null  reads reply zeros at once, writes are acknowledged at once:
 *                no I/O at all, the ceiling of any FUSE filesystem.
 *   --mode sync  each request is one pread/pwrite on FILE (opened O_DIRECT
 *                when its filesystem allows) from the worker thread: a
 *                minimal synchronous passthrough.
 * The file's size never changes: setattr answers the current attributes
 * (so that a truncate to the same size by fio succeeds), writes past the
 * end get ENOSPC. Runs in the foreground until SIGTERM, SIGINT or
 * fusermount3 -u. Exit codes: 0 clean unmount, 1 failure, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define FR_EXIT_FAIL 1
#define FR_EXIT_USAGE 2
#define FR_MAX_IO (1u << 20) /* largest request asked for (as fs/daemon/fuse_ops.c) */
#define FR_ALIGN 4096	     /* O_DIRECT alignment of buffers, offsets, sizes */
#define FR_ROOT_INO 1
#define FR_FILE_INO 2
#define FR_FILE_NAME "bench.dat"
#define FR_TIMEOUT 3600.0 /* nothing changes behind the kernel's back */

enum fr_mode { FR_NULL, FR_SYNC };

struct fr_ctx {
	enum fr_mode mode;
	uint64_t size;
	int fd;		 /* sync: the backing file, O_DIRECT when allowed */
	int fd_buffered; /* sync: the same file without O_DIRECT, for unaligned requests */
	struct timespec start;
};

/* Command line, filled by fuse_opt_parse. */
struct fr_opts {
	char *mode, *size, *backing, *mountpoint;
	int help, nonopts;
	const char *bad; /* first unknown option */
};

enum { FR_KEY_HELP, FR_KEY_FOREGROUND };
/* Each option as "--name VALUE", "--name=VALUE" or "-o name=VALUE". */
static const struct fuse_opt fr_opt_spec[] = {
    {"--mode %s", offsetof(struct fr_opts, mode), 0},
    {"--mode=%s", offsetof(struct fr_opts, mode), 0},
    {"mode=%s", offsetof(struct fr_opts, mode), 0},
    {"--size %s", offsetof(struct fr_opts, size), 0},
    {"--size=%s", offsetof(struct fr_opts, size), 0},
    {"size=%s", offsetof(struct fr_opts, size), 0},
    {"--backing %s", offsetof(struct fr_opts, backing), 0},
    {"--backing=%s", offsetof(struct fr_opts, backing), 0},
    {"backing=%s", offsetof(struct fr_opts, backing), 0},
    FUSE_OPT_KEY("-h", FR_KEY_HELP),
    FUSE_OPT_KEY("--help", FR_KEY_HELP),
    FUSE_OPT_KEY("-f", FR_KEY_FOREGROUND), /* always in the foreground */
    FUSE_OPT_END,
};

static const char fr_usage[] =
    "usage: fuse-ref --mode null|sync --size BYTES [--backing FILE] [-o OPTS] MOUNTPOINT\n"
    "\n"
    "A FUSE reference filesystem for bench-dio: one file, bench.dat, of BYTES\n"
    "(suffix K, M or G allowed), served in the foreground.\n"
    "  --mode null      reads return zeros, writes are dropped: no I/O at all\n"
    "  --mode sync      pread/pwrite on --backing FILE (O_DIRECT when possible;\n"
    "                   extended to BYTES if shorter)\n"
    "  -d               libfuse debug output\n"
    "  -o allow_other ...  libfuse's own mount options\n";

/* The zeros of null-mode reads (bss: never written, costs no memory). */
static char fr_zeros[FR_MAX_IO];

/*
 * Sync mode's per-thread aligned buffer: O_DIRECT needs aligned memory, and
 * libfuse's request buffer (write data sits after the headers) is not. The
 * thread-local pointer is the fast path; the key only frees it when a
 * worker thread exits (libfuse ends idle workers beyond its limit).
 */
static pthread_key_t fr_buf_key;
static __thread char *fr_buf;
static __thread size_t fr_buf_cap;

static char *fr_thread_buf(size_t size)
{
	void *p;

	if (size <= fr_buf_cap)
		return fr_buf;
	if (posix_memalign(&p, FR_ALIGN, size) != 0)
		return NULL;
	free(fr_buf);
	fr_buf = p;
	fr_buf_cap = size;
	pthread_setspecific(fr_buf_key, p);
	return p;
}

static struct fr_ctx *fr_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fr_attr(const struct fr_ctx *c, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atim = st->st_mtim = st->st_ctim = c->start;
	st->st_blksize = FR_ALIGN;
	if (ino == FR_ROOT_INO) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = (off_t)c->size;
		st->st_blocks = (blkcnt_t)((c->size + 511) / 512);
	}
}

static bool fr_known(fuse_ino_t ino)
{
	return ino == FR_ROOT_INO || ino == FR_FILE_INO;
}

/* Connection setup: what fs/daemon/fuse_ops.c asks for, so that only the work differs. */
static void fr_init(void *userdata, struct fuse_conn_info *conn)
{
	/* fio's libaio keeps many direct requests in flight. */
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	/* Async direct requests count as background: the default 12 caps QD32. */
	if (conn->max_background < 128) {
		conn->max_background = 128;
		conn->congestion_threshold = 96;
	}
	/* Plain memory buffers, as eiocbfs; O_TRUNC comes as a setattr. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* libfuse clamps max_write to its buffer and derives the kernel's
	   max_pages from it (3.14 has no max_pages field of its own). */
	conn->max_write = FR_MAX_IO;
	conn->max_read = FR_MAX_IO;	 /* must equal the max_read mount option */
	conn->max_readahead = FR_MAX_IO; /* the kernel keeps the smaller of this and its own */
}

static void fr_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != FR_ROOT_INO || strcmp(name, FR_FILE_NAME) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = FR_FILE_INO;
	e.attr_timeout = e.entry_timeout = FR_TIMEOUT;
	fr_attr(fr_ctx(req), FR_FILE_INO, &e.attr);
	fuse_reply_entry(req, &e); /* inodes are static: lookup counts need no keeping */
}

static void fr_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (!fr_known(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fr_attr(fr_ctx(req), ino, &st);
	fuse_reply_attr(req, &st, FR_TIMEOUT);
}

/* Changes nothing: the size is fixed (see the top comment). */
static void fr_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	fr_getattr(req, ino, fi);
}

static void fr_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	static const char *const names[] = {".", "..", FR_FILE_NAME};
	static const fuse_ino_t inos[] = {FR_ROOT_INO, FR_ROOT_INO, FR_FILE_INO};
	char buf[512];
	size_t used = 0;
	struct stat st;

	if (ino != FR_ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	for (off_t i = off; i < 3; i++) {
		size_t n;

		memset(&st, 0, sizeof(st));
		st.st_ino = inos[i];
		st.st_mode = i < 2 ? S_IFDIR : S_IFREG;
		n = fuse_add_direntry(req, buf + used, sizeof(buf) - used, names[i], &st, i + 1);
		if (used + n > size || used + n > sizeof(buf))
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static void fr_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FR_FILE_INO) {
		fuse_reply_err(req, ino == FR_ROOT_INO ? EISDIR : ENOENT);
		return;
	}
	/* Every read and write reaches us with the caller's size and offset. */
	fi->direct_io = 1;
#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 15)
	/* Direct writes of one file without the kernel's exclusive inode lock. */
	fi->parallel_direct_writes = 1;
#endif
	fuse_reply_open(req, fi);
}

/* O_DIRECT applies only to aligned requests; others go through the page cache. */
static int fr_fd_for(const struct fr_ctx *c, off_t off, size_t size)
{
	return ((uint64_t)off | size) % FR_ALIGN ? c->fd_buffered : c->fd;
}

static void fr_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fr_ctx *c = fr_ctx(req);
	ssize_t n;
	char *buf;

	if ((uint64_t)off >= c->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > c->size - (uint64_t)off)
		size = c->size - (uint64_t)off;
	if (c->mode == FR_NULL) {
		fuse_reply_buf(req, fr_zeros, size < sizeof(fr_zeros) ? size : sizeof(fr_zeros));
		return;
	}
	buf = fr_thread_buf(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(fr_fd_for(c, off, size), buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void fr_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fr_ctx *c = fr_ctx(req);
	ssize_t n;
	char *buf;

	if ((uint64_t)off >= c->size || size > c->size - (uint64_t)off) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (c->mode == FR_NULL) {
		fuse_reply_write(req, size);
		return;
	}
	buf = fr_thread_buf(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(buf, data, size);
	n = pwrite(fr_fd_for(c, off, size), buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void fr_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void fr_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Sync mode: what reached the backing file's page cache (unaligned writes) goes to disk. */
static void fr_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fr_ctx *c = fr_ctx(req);

	fuse_reply_err(req, c->mode == FR_SYNC && fdatasync(c->fd) < 0 ? errno : 0);
}

static void fr_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = FR_ALIGN;
	sv.f_blocks = (fr_ctx(req)->size + FR_ALIGN - 1) / FR_ALIGN;
	sv.f_files = 2;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops fr_ops = {
    .init = fr_init,
    .lookup = fr_lookup,
    .getattr = fr_getattr,
    .setattr = fr_setattr,
    .readdir = fr_readdir,
    .open = fr_open,
    .read = fr_read,
    .write = fr_write,
    .flush = fr_flush,
    .release = fr_release,
    .fsync = fr_fsync,
    .statfs = fr_statfs,
};

/* fuse_opt callback: 0 consumes the argument, 1 keeps it for libfuse. */
static int fr_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fr_opts *o = data;

	switch (key) {
	case FR_KEY_HELP:
		o->help = 1;
		return 0;
	case FR_KEY_FOREGROUND:
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (o->nonopts++ == 0)
			o->mountpoint = strdup(arg);
		return 0;
	default:
		/* "-d" and -o suboptions (no leading '-') are libfuse's to check. */
		if (arg[0] == '-' && strcmp(arg, "-d") != 0 && !o->bad)
			o->bad = arg;
		return 1;
	}
}

/* BYTES with an optional K, M or G suffix; 0 when malformed. */
static uint64_t fr_parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return 0;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10, end++;
		break;
	case 'm':
	case 'M':
		v <<= 20, end++;
		break;
	case 'g':
	case 'G':
		v <<= 30, end++;
		break;
	}
	return *end ? 0 : v;
}

/* Sync mode: the backing file, O_DIRECT if its filesystem takes it, at least size long. */
static int fr_open_backing(struct fr_ctx *c, const char *path)
{
	struct stat st;

	c->fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0644);
	if (c->fd < 0 && errno == EINVAL) {
		fprintf(stderr, "fuse-ref: warning: %s: O_DIRECT refused, using buffered I/O\n",
			path);
		c->fd = open(path, O_RDWR | O_CREAT, 0644);
	}
	if (c->fd < 0 || (c->fd_buffered = open(path, O_RDWR)) < 0 || fstat(c->fd, &st) < 0) {
		fprintf(stderr, "fuse-ref: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "fuse-ref: %s: not a regular file\n", path);
		return -1;
	}
	if ((uint64_t)st.st_size < c->size && ftruncate(c->fd, (off_t)c->size) < 0) {
		fprintf(stderr, "fuse-ref: %s: extending to %llu bytes: %s\n", path,
			(unsigned long long)c->size, strerror(errno));
		return -1;
	}
	return 0;
}

/* Refuses a bad command line with one line; fills c. */
static int fr_check_opts(const struct fr_opts *o, struct fr_ctx *c)
{
	struct stat st;

	if (o->bad) {
		fprintf(stderr, "fuse-ref: unknown option %s\n", o->bad);
		return -1;
	}
	if (!o->mode || (strcmp(o->mode, "null") != 0 && strcmp(o->mode, "sync") != 0)) {
		fprintf(stderr, "fuse-ref: --mode must be null or sync\n");
		return -1;
	}
	c->mode = strcmp(o->mode, "null") == 0 ? FR_NULL : FR_SYNC;
	if (!o->size || (c->size = fr_parse_size(o->size)) == 0) {
		fprintf(stderr, "fuse-ref: --size must be a number of bytes above 0\n");
		return -1;
	}
	if (c->mode == FR_SYNC && !o->backing) {
		fprintf(stderr, "fuse-ref: --mode sync needs --backing FILE\n");
		return -1;
	}
	if (c->mode == FR_NULL && o->backing) {
		fprintf(stderr, "fuse-ref: --backing is only for --mode sync\n");
		return -1;
	}
	if (o->nonopts != 1) {
		fprintf(stderr, "fuse-ref: %s\n",
			o->nonopts ? "more than one mount point" : "no mount point");
		return -1;
	}
	if (stat(o->mountpoint, &st) < 0 || (!S_ISDIR(st.st_mode) && (errno = ENOTDIR))) {
		fprintf(stderr, "fuse-ref: mount point %s: %s\n", o->mountpoint, strerror(errno));
		return -1;
	}
	return 0;
}

/* Mounts, serves until a signal or an unmount, unmounts: the exit status. */
static int fr_run(struct fuse_args *args, const char *mountpoint, struct fr_ctx *c)
{
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int ret, status = FR_EXIT_FAIL;

	/* Mount options as eiocbfs' (fs/daemon/main.c): max_read matches conn->max_read. */
	if (fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, "default_permissions,fsname=fuse-ref,subtype=fuse-ref,"
				   "max_read=1048576")) {
		fprintf(stderr, "fuse-ref: out of memory\n");
		return FR_EXIT_FAIL;
	}
	se = fuse_session_new(args, &fr_ops, sizeof(fr_ops), c);
	if (!se) /* libfuse printed why (an unknown -o option) */
		return FR_EXIT_USAGE;
	if (fuse_set_signal_handlers(se) < 0) {
		fprintf(stderr, "fuse-ref: cannot install signal handlers\n");
		goto out_session;
	}
	if (fuse_session_mount(se, mountpoint) < 0) {
		fprintf(stderr, "fuse-ref: cannot mount on %s\n", mountpoint);
		goto out_signals;
	}
	/* The loop eiocbfs runs: a /dev/fuse clone per thread, 8 idle threads kept. */
	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		ret = -ENOMEM;
	} else {
		fuse_loop_cfg_set_clone_fd(cfg, 1);
		fuse_loop_cfg_set_idle_threads(cfg, 8);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	/* > 0: the signal that ended the loop, a clean stop. */
	status = ret >= 0 ? 0 : FR_EXIT_FAIL;
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	return status;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fr_opts o = {0};
	struct fr_ctx c = {.fd = -1, .fd_buffered = -1};
	int status = FR_EXIT_USAGE;

	if (fuse_opt_parse(&args, &o, fr_opt_spec, fr_opt_proc) < 0)
		goto out; /* libfuse printed why (e.g. --mode without a value) */
	if (o.help) {
		fputs(fr_usage, stdout);
		status = 0;
		goto out;
	}
	if (fr_check_opts(&o, &c) < 0)
		goto out;
	status = FR_EXIT_FAIL;
	clock_gettime(CLOCK_REALTIME, &c.start);
	if (pthread_key_create(&fr_buf_key, free) != 0) {
		fprintf(stderr, "fuse-ref: pthread_key_create failed\n");
		goto out;
	}
	if (c.mode == FR_SYNC && fr_open_backing(&c, o.backing) < 0)
		goto out;
	status = fr_run(&args, o.mountpoint, &c);
out:
	if (c.fd >= 0)
		close(c.fd);
	if (c.fd_buffered >= 0)
		close(c.fd_buffered);
	free(o.mode);
	free(o.size);
	free(o.backing);
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return status;
}
