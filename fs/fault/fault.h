/*
 * fault.h: fault points, in the style of the kernel's fault injection
 * (Documentation/fault-injection/fault-injection.rst). docs/semantics.md section 6.
 *
 * Layer: a leaf. It calls nothing of eiocbfs; every layer that owns a
 * post-submission step or a device completion asks it whether to fail:
 *
 *	int err;
 *	if (fault_should_fail(f, FAULT_INVALIDATE, ino, off, len, &err))
 *		return -err;                    // err is a positive errno
 *
 * Points: invalidate (P3), osync (P6), device_read, device_write (every
 * device I/O: direct, buffered read-in and write-back, metadata, journal),
 * delay (fault_delay_ms: added device-completion latency), fsync (the
 * fsync of a file fails after losing its dirty pages, as a failed
 * write-back does on Linux) and enospc (allocation fails past fill=).
 *
 * Knobs of a point (the kernel's names where it has them):
 *   errno=NAME|N      the errno injected (EIO, EBUSY, ENOSPC, ... or a number); default EIO
 *   probability=P     percent, 0-100, of eligible calls that fail; default 100
 *   interval=N        only every Nth eligible call may fail; default 1
 *   times=N           at most N failures, -1 unlimited; default -1
 *   nth=N             fail exactly the Nth eligible call after the point is
 *                     set, once (the kernel's fail-nth); excludes interval,
 *                     probability and times
 *   seed=N            restart the probability draws from N: the same calls
 *                     fail on every run of the same workload
 *   ino=N             only requests on inode N are eligible; default any
 *   path=GLOB         only files whose path (from the mount's root, with a
 *                     leading /) matches GLOB (fnmatch without flags: * and
 *                     ? also match /), resolved to inodes when set (the
 *                     resolver) and for files created, linked or renamed
 *                     to a matching path later (fault_path_created); a
 *                     file renamed away keeps matching (it is its inode)
 *   pid=N, comm=NAME  only requests of that process (FUSE's caller pid;
 *                     comm as in /proc/PID/comm)
 *   offset=START-END  only requests whose byte range overlaps [START, END]
 *                     (inclusive; K/M/G suffixes) are eligible; default any
 *   io=LIST           (device points) the kinds of device I/O eligible, any
 *                     of direct, buffered, meta, journal joined by ',' or
 *                     '+'; default all. meta=1 is io=meta+journal, meta=0
 *                     io=direct+buffered (the older knob).
 *   up=MS, down=MS    windows, as dm-flakey: calls are eligible only in
 *                     the down window of each up+down period (from set time)
 *   kind=K            (device_read: error|corrupt; device_write:
 *                     error|corrupt|torn|lost) what happens: the errno;
 *                     some bits of the data flipped, the call succeeding;
 *                     only the first keep= bytes written, the call
 *                     succeeding (or failing with errno= when given);
 *                     nothing written, the call succeeding
 *   byte=N, bits=M    (corrupt) the byte of the request to change (default
 *                     a random one; N modulo the request's length) and the
 *                     XOR mask (1-255, default random)
 *   keep=N            (torn) bytes that land, a multiple of 512 (default 0)
 *   fill=P            (enospc) fail allocations once more than P percent
 *                     of the blocks are in use (default 0: always)
 *   verbose=0|1       log each injection through the log callback
 *   ms=N              (delay only) the added latency; default 10
 * The kinds act on every device write (device_read: every read) that
 * carries data: direct, buffered, and the journal's log and home writes
 * (io=journal, io=meta), which are asked block by block, so there a
 * request is one block and its offset the block's device offset. On
 * metadata, the silent kinds (corrupt, torn without errno=, lost) bypass
 * errors=: the device said success; checksums and fsck find the damage.
 * A call is "eligible" when it passes the filters (ino, path, pid, comm,
 * offset, io) inside a down window. The order of the decision is the
 * kernel's: times left, filters, interval (or nth), probability. Every
 * injection is also recorded in the fault log (fault_log_format).
 *
 * Setting a point replaces its whole configuration (knobs not given take
 * their defaults) and restarts its interval and times; the counters
 * (calls, eligible, injected) are cumulative for the life of the faults.
 *
 * Two textual forms, both all-or-nothing (bad input changes nothing and
 * gets a one-line error naming what is wrong):
 *   mount option:  fault=POINT[:KEY=VAL...]   or  fault=POINT:off
 *   eiocbctl:      POINT [KEY=VAL ...]         or  POINT off
 * fault_save_format writes the configured points in the second form, one a
 * line: a file that faults=FILE (fault_load_text) sets again.
 *
 * Cost when a point is off: one relaxed atomic load and a predictable
 * branch (fault_should_fail is inline). A point that is on takes its own
 * mutex (the slow path); configuration changes take the same mutex, so they
 * are safe at any time from any thread.
 */
#ifndef EIOCBFS_FAULT_H
#define EIOCBFS_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fault_point {
	FAULT_INVALIDATE,
	FAULT_OSYNC,
	FAULT_DEVICE_READ,
	FAULT_DEVICE_WRITE,
	FAULT_DELAY,
	FAULT_FSYNC,
	FAULT_ENOSPC,
	FAULT_NPOINTS
};

/* The kinds of device I/O (knob io=); a call of kind 0 matches any filter. */
enum fault_io {
	FAULT_IO_DIRECT = 1u,
	FAULT_IO_BUFFERED = 2u,
	FAULT_IO_META = 4u,
	FAULT_IO_JOURNAL = 8u,
};
#define FAULT_IO_ALL 15u

/* What an injection does (knob kind=). */
enum fault_kind { FAULT_KIND_ERROR, FAULT_KIND_CORRUPT, FAULT_KIND_TORN, FAULT_KIND_LOST };

#define FAULT_PATH_MAX 256
#define FAULT_COMM_MAX 16

/* The configuration of one point, as parsed (see the knobs above). */
struct fault_knobs {
	bool enabled;
	int err; /* positive errno */
	bool err_given;
	unsigned probability;
	unsigned long interval;
	long times;	   /* -1: unlimited */
	unsigned long nth; /* 0: none */
	bool has_seed;
	uint64_t seed;
	bool has_ino;
	uint64_t ino;
	bool has_offset;
	uint64_t off_start, off_end; /* inclusive */
	int pid;		     /* 0: any */
	char comm[FAULT_COMM_MAX];   /* "": any */
	char path[FAULT_PATH_MAX];   /* "": any */
	unsigned io;		     /* FAULT_IO_* mask */
	unsigned up_ms, down_ms;     /* both 0: always down */
	enum fault_kind kind;
	bool has_byte;
	uint64_t byte;
	unsigned bits; /* 0: random */
	uint64_t keep;
	unsigned fill;
	bool verbose;
	unsigned ms;
};

/* The ino that metadata I/O passes to fault_should_fail (knob meta=1). */
#define FAULT_INO_META UINT64_MAX

struct fault_counters {
	uint64_t calls;	   /* calls while the point was on */
	uint64_t eligible; /* of those, calls that passed the filters */
	uint64_t injected; /* failures (or delays) injected */
	long times_left;   /* -1 unlimited */
};

/* One call at a fault point: what it touches and who asked. */
struct fault_req {
	uint64_t ino, off, len; /* bytes [off, off+len) of ino (FAULT_INO_META: metadata) */
	unsigned io;		/* FAULT_IO_* of a device I/O; 0 matches any */
	int pid;		/* the caller (fault_caller()), 0 unknown */
	unsigned kinds;		/* FAULT_KINDS_* this site can apply; 0: the errno only */
};
#define FAULT_KINDS_ALL 15u /* 1u << each enum fault_kind */

/* What to do to a call that fault_hit chose. */
struct fault_hit {
	enum fault_kind kind;
	int err;       /* positive errno to report; 0: report success */
	unsigned ms;   /* delay */
	uint64_t byte; /* corrupt: the byte of the request (< len) */
	uint8_t bits;  /* corrupt: XOR mask, never 0 */
	uint64_t keep; /* torn: bytes that land (< len) */
};

/* Receives one line per injection of a verbose point (no newline). */
typedef void (*fault_log_fn)(void *arg, const char *line);

/*
 * Resolves a path= glob to the inodes it names now: calls
 * fault_path_add(f, p, ino) for each. Installed by the filesystem's owner
 * (faults_set_resolver resolves the points already set, and removing it,
 * fn NULL, waits for a resolution under way); without one, path= matches
 * only files created later (fault_path_created).
 */
struct faults;
typedef void (*fault_resolve_fn)(void *arg, struct faults *f, enum fault_point p, const char *glob);

struct fault_state; /* private to fault.c */

struct faults {
	atomic_bool on[FAULT_NPOINTS]; /* the hot-path flag: point configured */
	atomic_bool any_path;	       /* some point filters by path: creates must ask */
	struct fault_state *st;
};

/* seed makes probability decisions reproducible; log may be NULL. */
struct faults *faults_new(uint64_t seed, fault_log_fn log, void *log_arg);
void faults_free(struct faults *f);
void faults_set_resolver(struct faults *f, fault_resolve_fn fn, void *arg);

const char *fault_point_name(enum fault_point p);
/* "error", "corrupt", "torn", "lost" (knob kind=). */
const char *fault_kind_name(enum fault_kind k);
/* Returns the point or -1. */
int fault_point_by_name(const char *name);

/* Parsers: 0, or -EINVAL with a one-line reason in err; nothing changes on error. */
int fault_set_option(struct faults *f, const char *spec, char *err, size_t errlen);
int fault_set_argv(struct faults *f, int argc, char *const argv[], char *err, size_t errlen);
/* The eiocbctl form as one line, split at blanks. */
int fault_set_line(struct faults *f, const char *line, char *err, size_t errlen);
/*
 * A schedule: one eiocbctl-form line per point; blank lines and lines
 * starting with # are skipped. All or nothing: the first bad line is named
 * in err ("line N: ...") and nothing is set.
 */
int fault_load_text(struct faults *f, const char *text, char *err, size_t errlen);

/* Direct setters for code and tests. knobs->enabled false turns the point off. */
void fault_set(struct faults *f, enum fault_point p, const struct fault_knobs *k);
void fault_off(struct faults *f, enum fault_point p);
void fault_knobs_default(enum fault_point p, struct fault_knobs *k);
void fault_get(struct faults *f, enum fault_point p, struct fault_knobs *k,
	       struct fault_counters *c);

/* path=: ino is named by point p's glob (the resolver), or was just created at path. */
void fault_path_add(struct faults *f, enum fault_point p, uint64_t ino);
void fault_path_created(struct faults *f, uint64_t ino, const char *path);

/*
 * The caller of the request this thread serves (FUSE's pid), for pid= and
 * comm=. Thread-local, like the kernel's current: set by the FUSE glue at
 * the start of a request, 0 on threads that serve no process (write-back).
 */
void fault_set_caller(int pid);
int fault_caller(void);

bool fault_hit_slow(struct faults *f, enum fault_point p, const struct fault_req *rq,
		    struct fault_hit *hit);

/* Whether this call must be hit, and how (*hit). */
static inline bool fault_hit(struct faults *f, enum fault_point p, const struct fault_req *rq,
			     struct fault_hit *hit)
{
	if (__builtin_expect(!atomic_load_explicit(&f->on[p], memory_order_relaxed), 1))
		return false;
	return fault_hit_slow(f, p, rq, hit);
}

bool fault_should_fail_slow(struct faults *f, enum fault_point p, uint64_t ino, uint64_t off,
			    uint64_t len, int *err);

/*
 * Whether this call (a request on ino covering bytes [off, off+len)) must
 * fail; if so *err is the positive errno to inject. For FAULT_DELAY use
 * fault_delay_ms. The caller is fault_caller(); the I/O kind is any.
 */
static inline bool fault_should_fail(struct faults *f, enum fault_point p, uint64_t ino,
				     uint64_t off, uint64_t len, int *err)
{
	if (__builtin_expect(!atomic_load_explicit(&f->on[p], memory_order_relaxed), 1))
		return false;
	return fault_should_fail_slow(f, p, ino, off, len, err);
}

/* Milliseconds of latency to add to this device completion (0: none). */
static inline unsigned fault_delay_ms(struct faults *f, uint64_t ino, uint64_t off, uint64_t len)
{
	int ms;

	if (__builtin_expect(!atomic_load_explicit(&f->on[FAULT_DELAY], memory_order_relaxed), 1))
		return 0;
	return fault_should_fail_slow(f, FAULT_DELAY, ino, off, len, &ms) ? (unsigned)ms : 0;
}

/* Names an errno ("EIO"); numbers without a name print as digits into buf. */
const char *fault_errno_name(int err, char *buf, size_t len);
/* Parses "EIO", "eio", "5" or "-5"; returns the positive errno or -1. */
int fault_errno_parse(const char *s);

/*
 * Formatters, snprintf-like: write at most len bytes (NUL-terminated when
 * len > 0) and return the length the whole text needs.
 * fault_format: one line per point with knobs and counters (eiocbctl fault).
 * fault_save_format: the configured points, one eiocbctl-form line each.
 * fault_log_format: the last FAULT_LOG_MAX injections, oldest first, one a
 *   line: time (UTC, ISO 8601 with microseconds), point, ino, offset+len,
 *   pid, what was done.
 */
#define FAULT_LOG_MAX 4096
size_t fault_format(struct faults *f, char *buf, size_t len);
size_t fault_save_format(struct faults *f, char *buf, size_t len);
size_t fault_log_format(struct faults *f, char *buf, size_t len);

#endif
