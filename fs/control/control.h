/*
 * control.h: the runtime control channel of the daemon (layer: daemon edge,
 * beside the FUSE glue). A Unix stream socket served by one thread; it knows
 * nothing of the filesystem: the daemon registers a handler that runs the
 * commands. May call libc and pthreads only.
 *
 * Protocol (one request per connection, text, bounded):
 *   client -> server: one line, at most CTL_MAX_LINE bytes with its '\n',
 *                     words separated by blanks (no quoting), at most
 *                     CTL_MAX_ARGS words, printable bytes only (no NUL).
 *   server -> client: a status line, "ok" or "error: <one line>", then the
 *                     payload (at most CTL_MAX_PAYLOAD bytes), then the
 *                     server closes the connection (EOF ends the payload).
 * A malformed request gets "error: ..." and never reaches the handler.
 *
 * Commands of eiocbfs (run by the daemon's handler, see docs/design.md):
 *   fault                      list the fault points with knobs and counters
 *   fault POINT KEY=VAL...     set a point           (changes state)
 *   fault POINT off            turn a point off      (changes state)
 *   stats                      the statistics as JSON
 *   trace start|stop|dump      tracing; dump returns the trace as payload,
 *                              the client writes the file (changes state)
 *
 * Security. The socket is mode 0666 so that anyone who can reach it may
 * read (fault list, stats); the server checks the caller's credentials
 * (SO_PEERCRED) itself and runs a command that changes state only for root
 * or the mounting user (the owner given to ctl_start). Which commands change
 * state is decided by a callback (ctl_default_mutates if none): unknown
 * commands count as changing state, so a new command is safe by default.
 * The default socket lives in CTL_RUN_DIR (0755, root's); a daemon that
 * cannot create it (not root) uses $XDG_RUNTIME_DIR/eiocbfs instead.
 *
 * Robustness. Each connection is served on its own short-lived thread (a
 * few at once; more wait in the listen backlog), and has
 * CTL_IO_TIMEOUT_MS to send its line and again to take the response (reads
 * and writes time out, writes use MSG_NOSIGNAL): a stalled or vanished
 * client delays nobody and never hurts the server. The handler still runs
 * one command at a time.
 *
 * Finding the daemon from the mount point alone: the daemon always listens
 * at ctl_default_path(dev) where dev is the FUSE mount's device number
 * (major:minor, what stat(2) of the mount point reports, read by both sides
 * from /proc/self/mountinfo so that neither calls into a possibly busy
 * filesystem), and also at control=PATH if given. eiocbctl checks the mount
 * is fuse.eiocbfs and connects there ($EIOCBCTL_SOCKET overrides).
 */
#ifndef EIOCBFS_CONTROL_H
#define EIOCBFS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CTL_MAX_LINE 4096		 /* a request line, with its '\n' */
#define CTL_MAX_ARGS 32			 /* words in a request */
#define CTL_MAX_ERROR 512		 /* the text of an "error: " line */
#define CTL_MAX_PAYLOAD (4u << 20)	 /* a response's payload */
#define CTL_IO_TIMEOUT_MS 2000		 /* per client, for the request and for the response */
#define CTL_MAX_CLIENTS 8		 /* connections served at once; more wait their turn */
#define CTL_RUN_DIR "/run/eiocbfs"	 /* the default sockets' directory */
#define CTL_FS_TYPE "fuse.eiocbfs"	 /* the mount type in /proc/self/mountinfo */
#define CTL_ENV_SOCKET "EIOCBCTL_SOCKET" /* client override of the socket path */

/* The caller of a command, from SO_PEERCRED. */
struct ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool privileged; /* root or the mounting user */
};

/*
 * What a handler answers: a payload and, on failure, a one-line error.
 * Write it only with the functions below (they bound its size).
 */
struct ctl_out {
	char *buf;
	size_t len, cap;
	bool overflow; /* the payload outgrew CTL_MAX_PAYLOAD */
	char err[CTL_MAX_ERROR];
};

/* Appends to the payload (printf-like / raw bytes). Returns 0 or -ENOMEM/-E2BIG. */
int ctl_printf(struct ctl_out *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_write(struct ctl_out *out, const void *data, size_t len);
/* Sets the one-line error (newlines become blanks) and returns -EINVAL, for `return
 * ctl_error(...)`. */
int ctl_error(struct ctl_out *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Runs one command (argv[0] is its name; argc >= 1; argv[argc] == NULL).
 * Returns 0 (status "ok" and the payload) or a negative errno (status
 * "error: " and out->err, or strerror if the handler set none). Called from
 * the control channel's threads, one command at a time (never concurrently).
 */
typedef int (*ctl_handler_fn)(void *arg, int argc, char **argv, struct ctl_out *out,
			      const struct ctl_peer *peer);
/* Whether a command changes state (then only a privileged peer may run it). */
typedef bool (*ctl_mutates_fn)(void *arg, int argc, char **argv);

/* "fault" alone and "stats" read; everything else changes state. */
bool ctl_default_mutates(void *arg, int argc, char **argv);

struct ctl; /* a running server */

struct ctl_config {
	const char *mountpoint; /* NULL: no default socket (tests) */
	const char *path;	/* control=PATH, or NULL */
	uid_t owner;		/* the mounting user: may change state, as root may */
	ctl_handler_fn handle;
	ctl_mutates_fn mutates; /* NULL: ctl_default_mutates */
	void *arg;		/* passed to handle and mutates */
	int timeout_ms;		/* <= 0: CTL_IO_TIMEOUT_MS */
};

/*
 * Starts the server: listens at the mount point's default path (when
 * mountpoint is given) and at path (when given), then starts the thread.
 * Precondition: the FUSE mount is up (its device number is looked up), and
 * the process will not fork any more (the thread would not follow).
 * Returns 0, or a negative errno with a one-line reason in err and nothing
 * left behind. On success err may still hold a warning (err[0] != 0): the
 * default path could not be created but path could.
 */
int ctl_start(const char *mountpoint, const char *path_or_null, uid_t owner, ctl_handler_fn handle,
	      void *arg, struct ctl **out, char *err, size_t errlen);
int ctl_start_cfg(const struct ctl_config *cfg, struct ctl **out, char *err, size_t errlen);
/* Stops the thread, closes and removes the sockets (if still ours), frees. NULL is a no-op. */
void ctl_stop(struct ctl *ctl);
/* The paths served (for logs); index 0..; NULL past the end. */
const char *ctl_path(const struct ctl *ctl, int i);

/* ---- finding the daemon (shared by both sides; control_path.c) ---- */

/*
 * The mount at mountpoint (the topmost one), from /proc/self/mountinfo,
 * without calling stat(2) on it: *dev its device number, fstype its type
 * ("fuse.eiocbfs"). Returns 0, -ENOENT (not a mount point), or -errno.
 */
int ctl_mount_lookup(const char *mountpoint, dev_t *dev, char *fstype, size_t typelen);
/* Writes DIR/<major>:<minor>.sock for dir (CTL_RUN_DIR or the per-user fallback). */
int ctl_default_path(const char *dir, dev_t dev, char *buf, size_t len);
/* The per-user fallback directory ($XDG_RUNTIME_DIR/eiocbfs), or -ENOENT. */
int ctl_user_dir(char *buf, size_t len);

/* ---- the client (control_client.c) ---- */

struct ctl_reply {
	bool ok;
	char err[CTL_MAX_ERROR]; /* the text after "error: " */
	char *payload;		 /* malloc'd, NUL-terminated; free with ctl_reply_free */
	size_t len;
};

/*
 * Sends one request line (without '\n') to the socket at path and reads the
 * whole reply. Returns 0 (reply filled; r->ok tells the daemon's answer),
 * or a negative errno when the daemon could not be reached or answered
 * garbage, with a one-line reason in err.
 */
int ctl_call(const char *path, const char *line, int timeout_ms, struct ctl_reply *r, char *err,
	     size_t errlen);
void ctl_reply_free(struct ctl_reply *r);

/*
 * ctl_call to the daemon of the eiocbfs mount at mountpoint: its socket in
 * CTL_RUN_DIR, else in the per-user directory (a daemon not run as root).
 * Returns 0 (reply filled), or a negative errno with a one-line reason in
 * err naming mountpoint: not a mount point (-ENOENT), not an eiocbfs mount
 * (-EMEDIUMTYPE), cannot reach the daemon.
 */
int ctl_call_mount(const char *mountpoint, const char *line, int timeout_ms, struct ctl_reply *r,
		   char *err, size_t errlen);

#endif
