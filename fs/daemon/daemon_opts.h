/*
 * daemon_opts.h: the eiocbfs command line (layer: daemon edge). Parses and
 * validates `eiocbfs [-f] [-d] [-o OPTIONS] TARGET MOUNTPOINT` (options may
 * also follow the positional arguments, as mount.fuse3 passes them) into a
 * struct daemon_options; options it does not own are kept for libfuse. May call
 * libfuse's option parser and fault.h (to validate fault= specs); prints
 * nothing (errors go to err).
 */
#ifndef EIOCBFS_DAEMON_OPTS_H
#define EIOCBFS_DAEMON_OPTS_H

#include <fuse_opt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum semantics { SEM_DEFERRED, SEM_LEGACY, SEM_DROP, SEM_MAINLINE };

/* When reads update the access time (the mount options of the same names). */
enum daemon_atime { DAEMON_ATIME_RELATIME, DAEMON_ATIME_NOATIME, DAEMON_ATIME_STRICTATIME };

#define DAEMON_MAX_FAULTS 16

struct daemon_options {
	const char *target;	/* points into argv */
	const char *mountpoint; /* points into argv */
	bool foreground, debug, readonly, kernel_cache, help, version;
	bool device_cache;	 /* -o device_cache: a volatile device write cache for crash */
	bool remount;		 /* -o remount: change the running daemon's mount */
	enum daemon_atime atime; /* relatime unless noatime or strictatime */
	bool lazytime;		 /* access times reach the disk with other changes */
	unsigned long ms_flags;	 /* the mount(2) flags asked for (MS_RDONLY, MS_NOSUID, ...) */
	enum semantics semantics;
	unsigned int cache_mb; /* 0: not given (the page cache's default) */
	char *control;	       /* control socket path, or NULL */
	int errors;	       /* enum fs_errors_mode (fs/storage/errors.h); 0: remount-ro */
	/* fault=POINT:KEY=VAL:... as given (validated by fault.h's parser), in
	 * order: applied with fault_set_option, a later one for the same point
	 * replaces an earlier one. */
	char *faults[DAEMON_MAX_FAULTS];
	int nfaults;
	/* faults=FILE: its text (one eiocbctl-form point a line, checked by
	 * fault_load_text), applied after the fault= options; NULL if none. */
	char *faults_text;
	struct fuse_args fuse_args; /* argv[0] and the options left for libfuse */
};

/* Returns 0, or -1 with a one-line reason (no prefix, no newline) in err. */
int daemon_options_parse(int argc, char **argv, struct daemon_options *o, char *err, size_t errlen);
void daemon_options_free(struct daemon_options *o);

const char *semantics_name(enum semantics s);

#endif
