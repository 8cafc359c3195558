/*
 * daemon_opts.h: the eiocbfs command line (layer: daemon edge). Parses and
 * validates `eiocbfs [-f] [-d] [-o OPTIONS] TARGET MOUNTPOINT` (options may
 * also follow the positional arguments, as mount.fuse3 passes them) into a
 * struct ef_options; options it does not own are kept for libfuse. May call
 * libfuse's option parser and fault.h (to validate fault= specs); prints
 * nothing (errors go to err).
 */
#ifndef EIOCBFS_DAEMON_OPTS_H
#define EIOCBFS_DAEMON_OPTS_H

#include <fuse_opt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ef_semantics { EF_SEM_DEFERRED, EF_SEM_LEGACY, EF_SEM_DROP, EF_SEM_MAINLINE };

/* When reads update the access time (the mount options of the same names). */
enum ef_atime { EF_ATIME_RELATIME, EF_ATIME_NOATIME, EF_ATIME_STRICTATIME };

#define EF_MAX_FAULTS 16

struct ef_options {
	const char *target;	/* points into argv */
	const char *mountpoint; /* points into argv */
	bool foreground, debug, readonly, kernel_cache, help, version;
	bool remount;		 /* -o remount: change the running daemon's mount */
	enum ef_atime atime;	 /* relatime unless noatime or strictatime */
	bool lazytime;		 /* access times reach the disk with other changes */
	unsigned long ms_flags;	 /* the mount(2) flags asked for (MS_RDONLY, MS_NOSUID, ...) */
	enum ef_semantics semantics;
	unsigned int cache_mb; /* 0: not given (the page cache's default) */
	char *control;	       /* control socket path, or NULL */
	int errors;	       /* enum fs_errors_mode (fs/errors.h); 0: remount-ro */
	/* fault=POINT:KEY=VAL:... as given (validated by fault.h's parser), in
	 * order: applied with fault_set_option, a later one for the same point
	 * replaces an earlier one. */
	char *faults[EF_MAX_FAULTS];
	int nfaults;
	struct fuse_args fuse_args; /* argv[0] and the options left for libfuse */
};

/* Returns 0, or -1 with a one-line reason (no prefix, no newline) in err. */
int ef_options_parse(int argc, char **argv, struct ef_options *o, char *err, size_t errlen);
void ef_options_free(struct ef_options *o);

const char *ef_semantics_name(enum ef_semantics s);

#endif
