/*
 * daemon_opts.h: the eiocbfs command line (layer: daemon edge). Parses and
 * validates `eiocbfs [-f] [-d] [-o OPTIONS] TARGET MOUNTPOINT` (options may
 * also follow the positional arguments, as mount.fuse3 passes them) into a
 * struct ef_options; options it does not own are kept for libfuse. May call
 * libfuse's option parser only; prints nothing (errors go to err).
 */
#ifndef EIOCBFS_DAEMON_OPTS_H
#define EIOCBFS_DAEMON_OPTS_H

#include <fuse_opt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ef_semantics { EF_SEM_DEFERRED, EF_SEM_LEGACY, EF_SEM_DROP };

enum ef_fault_point {
	EF_FAULT_INVALIDATE,
	EF_FAULT_OSYNC,
	EF_FAULT_DEVICE_READ,
	EF_FAULT_DEVICE_WRITE,
	EF_FAULT_DELAY,
};

/* Which knobs a fault spec sets (SEMANTICS.md section 6). */
enum {
	EF_KNOB_ERRNO = 1 << 0,
	EF_KNOB_PROBABILITY = 1 << 1,
	EF_KNOB_INTERVAL = 1 << 2,
	EF_KNOB_TIMES = 1 << 3,
	EF_KNOB_INO = 1 << 4,
	EF_KNOB_OFFSET = 1 << 5,
	EF_KNOB_VERBOSE = 1 << 6,
	EF_KNOB_MS = 1 << 7,
};

/* One -o fault=POINT:KEY=VAL:... ; only the knobs in `set` were given. */
struct ef_fault_spec {
	enum ef_fault_point point;
	unsigned int set;
	int err;	    /* errno: positive, a number or a name like EIO */
	int probability;    /* percent, 0..100 */
	unsigned long interval; /* fire on every Nth eligible call, >= 1 */
	long times;	    /* at most this many failures, -1 unlimited */
	uint64_t ino;	    /* only this inode */
	uint64_t off_lo, off_hi; /* only this byte range [lo, hi) ("N" or "N-M") */
	bool verbose;
	unsigned int ms; /* delay: added device-completion latency */
};

#define EF_MAX_FAULTS 16

struct ef_options {
	const char *target;	/* points into argv */
	const char *mountpoint; /* points into argv */
	bool foreground, debug, readonly, kernel_cache, help, version;
	enum ef_semantics semantics;
	unsigned int cache_mb; /* 0: not given (the page cache's default) */
	char *control;	       /* control socket path, or NULL */
	struct ef_fault_spec faults[EF_MAX_FAULTS];
	int nfaults;
	struct fuse_args fuse_args; /* argv[0] and the options left for libfuse */
};

/* Returns 0, or -1 with a one-line reason (no prefix, no newline) in err. */
int ef_options_parse(int argc, char **argv, struct ef_options *o, char *err, size_t errlen);
void ef_options_free(struct ef_options *o);

/* Parses POINT:KEY=VAL:...; returns 0 or -1 with the reason in err. */
int ef_fault_parse(const char *spec, struct ef_fault_spec *out, char *err, size_t errlen);

const char *ef_semantics_name(enum ef_semantics s);
const char *ef_fault_point_name(enum ef_fault_point p);

#endif
