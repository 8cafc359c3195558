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
 * Points: invalidate (P3), osync (P6), device_read, device_write (the device
 * completion returns the errno, like dm-flakey) and delay (fault_delay_ms:
 * added device-completion latency).
 *
 * Knobs of a point (the kernel's names where it has them):
 *   errno=NAME|N      the errno injected (EIO, EBUSY, ENOSPC, ... or a number); default EIO
 *   probability=P     percent, 0-100, of eligible calls that fail; default 100
 *   interval=N        only every Nth eligible call may fail; default 1
 *   times=N           at most N failures, -1 unlimited; default -1
 *   ino=N             only requests on inode N are eligible; default any
 *   offset=START-END  only requests whose byte range overlaps [START, END]
 *                     (inclusive; K/M/G suffixes) are eligible; default any
 *   verbose=0|1       log each injection through the log callback
 *   meta=0|1          (device_write only) 1: only the filesystem's
 *                     metadata writes (journal and home blocks, passed as
 *                     ino FAULT_INO_META, offset = block * block size) are
 *                     eligible; 0 (default): only file data I/O is
 *   ms=N              (delay only) the added latency; default 10
 * A call is "eligible" when it passes the filters (ino, offset). The order of
 * the decision is the kernel's: times left, filters, interval, probability.
 *
 * Setting a point replaces its whole configuration (knobs not given take
 * their defaults) and restarts its interval and times; the counters
 * (calls, eligible, injected) are cumulative for the life of the faults.
 *
 * Two textual forms, both all-or-nothing (bad input changes nothing and
 * gets a one-line error naming what is wrong):
 *   mount option:  fault=POINT[:KEY=VAL...]   or  fault=POINT:off
 *   eiocbctl:      POINT [KEY=VAL ...]         or  POINT off
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
	FAULT_NPOINTS
};

/* The configuration of one point, as parsed (see the knobs above). */
struct fault_knobs {
	bool enabled;
	int err; /* positive errno */
	unsigned probability;
	unsigned long interval;
	long times; /* -1: unlimited */
	bool has_ino;
	uint64_t ino;
	bool has_offset;
	uint64_t off_start, off_end; /* inclusive */
	bool verbose;
	bool meta; /* metadata I/O only (ino FAULT_INO_META); else file data only */
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

/* Receives one line per injection of a verbose point (no newline). */
typedef void (*fault_log_fn)(void *arg, const char *line);

struct fault_state; /* private to fault.c */

struct faults {
	atomic_bool on[FAULT_NPOINTS]; /* the hot-path flag: point configured */
	struct fault_state *st;
};

/* seed makes probability decisions reproducible; log may be NULL. */
struct faults *faults_new(uint64_t seed, fault_log_fn log, void *log_arg);
void faults_free(struct faults *f);

const char *fault_point_name(enum fault_point p);
/* Returns the point or -1. */
int fault_point_by_name(const char *name);

/* Parsers: 0, or -EINVAL with a one-line reason in err; nothing changes on error. */
int fault_set_option(struct faults *f, const char *spec, char *err, size_t errlen);
int fault_set_argv(struct faults *f, int argc, char *const argv[], char *err, size_t errlen);
/* The eiocbctl form as one line, split at blanks. */
int fault_set_line(struct faults *f, const char *line, char *err, size_t errlen);

/* Direct setters for code and tests. knobs->enabled false turns the point off. */
void fault_set(struct faults *f, enum fault_point p, const struct fault_knobs *k);
void fault_off(struct faults *f, enum fault_point p);
void fault_knobs_default(enum fault_point p, struct fault_knobs *k);
void fault_get(struct faults *f, enum fault_point p, struct fault_knobs *k,
	       struct fault_counters *c);

bool fault_should_fail_slow(struct faults *f, enum fault_point p, uint64_t ino, uint64_t off,
			    uint64_t len, int *err);

/*
 * Whether this call (a request on ino covering bytes [off, off+len)) must
 * fail; if so *err is the positive errno to inject. For FAULT_DELAY use
 * fault_delay_ms.
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
 * fault_format_json: the "faults": {...} member of the stats JSON.
 */
size_t fault_format(struct faults *f, char *buf, size_t len);
size_t fault_format_json(struct faults *f, char *buf, size_t len);

#endif
