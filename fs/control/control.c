/*
 * control.c: the control channel's server (layer: daemon edge). One thread
 * accepts connections on the control sockets, reads one request line per
 * connection under a deadline, checks the caller's right to run it, calls
 * the daemon's handler and writes the response. See control.h for the
 * protocol and the security model. Calls libc, pthreads and control_*.c.
 *
 * Threads: one accepts; each connection is served by a short-lived thread
 * of its own, bounded by its deadline; at most CTL_MAX_CLIENTS at once (the
 * next connections wait in the listen backlog); the handler itself runs one
 * command at a time.
 *
 * Life cycle: ctl_start (sockets bound, thread running) ... ctl_stop (thread
 * woken through a pipe and joined, client threads waited for, sockets closed
 * and unlinked if they are still the ones we bound).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_int.h"

#define CTL_MAX_SOCKS 2
#define CTL_DRAIN_MAX (1u << 20) /* bytes of an oversized request read and dropped */

struct ctl_sock {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* the socket file we bound, to unlink only our own */
	ino_t ino;
};

struct ctl {
	struct ctl_config cfg;
	struct ctl_sock socks[CTL_MAX_SOCKS];
	int nsocks;
	int wake[2]; /* ctl_stop writes to wake[1] */
	pthread_t thread;
	pthread_mutex_t lock;	      /* guards active */
	pthread_cond_t idle;	      /* signalled when a client thread ends */
	int active;		      /* client threads running */
	bool stopping;		      /* ctl_stop was called */
	pthread_mutex_t handler_lock; /* the handler runs one command at a time */
};

/* A connection being served by its own thread. */
struct ctl_conn {
	struct ctl *ctl;
	int fd;
};

bool ctl_default_mutates(void *arg, int argc, char **argv)
{
	if (!strcmp(argv[0], "stats"))
		return false;
	if (!strcmp(argv[0], "fault") && argc == 1)
		return false;
	if (!strcmp(argv[0], "faults")) /* log, save: read only */
		return false;
	return true;
}

/* ---- sockets ---- */

/* Whether a live server answers at path (a stale socket file refuses). */
static bool ctl_path_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

/* Binds and listens at path (mode 0666, see control.h); replaces a stale socket file. */
static int ctl_listen(struct ctl_sock *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: path longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EADDRINUSE)
			goto fail;
		/* Left by a daemon that died? Only a socket nobody answers on is replaced. */
		if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			goto fail;
		}
		if (ctl_path_alive(&sa)) {
			errno = EADDRINUSE;
			snprintf(err, errlen, "control socket %s: in use by a running daemon",
				 path);
			close(fd);
			return -EADDRINUSE;
		}
		if (unlink(path) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
	}
	if (chmod(path, 0666) < 0 || lstat(path, &st) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		unlink(path);
		errno = -ret;
		goto fail;
	}
	s->fd = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
fail:
	ret = -errno;
	snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

static void ctl_unlisten(struct ctl_sock *s)
{
	struct stat st;

	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	close(s->fd);
}

/* Creates dir (0755) if missing; refuses a non-directory. */
static int ctl_mkdir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) == 0)
		return chmod(dir, 0755) < 0 ? -errno : 0; /* whatever the umask */
	if (errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Listens at dir/<major>:<minor>.sock, creating dir if missing. */
static int ctl_listen_in(struct ctl_sock *s, const char *dir, dev_t dev, char *err, size_t errlen)
{
	char path[sizeof(s->path)];
	int ret = ctl_mkdir(dir);

	if (ret < 0) {
		snprintf(err, errlen, "control socket directory %s: %s", dir, strerror(-ret));
		return ret;
	}
	if (ctl_default_path(dir, dev, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "control socket in %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	return ctl_listen(s, path, err, errlen);
}

/*
 * Listens at the mount's default path: in CTL_RUN_DIR, or, when this user
 * may not create sockets there (not root), in the per-user directory.
 */
static int ctl_listen_default(struct ctl_sock *s, const char *mountpoint, char *err, size_t errlen)
{
	char type[64], dir[256];
	dev_t dev;
	int ret;

	ret = ctl_mount_lookup(mountpoint, &dev, type, sizeof(type));
	if (ret < 0) {
		snprintf(err, errlen, "control socket: mount point %s: %s", mountpoint,
			 ret == -ENOENT ? "not found in /proc/self/mountinfo" : strerror(-ret));
		return ret;
	}
	ret = ctl_listen_in(s, CTL_RUN_DIR, dev, err, errlen);
	if ((ret == -EACCES || ret == -EPERM || ret == -EROFS) &&
	    ctl_user_dir(dir, sizeof(dir)) == 0)
		ret = ctl_listen_in(s, dir, dev, err, errlen);
	return ret;
}

/* ---- one client ---- */

/* Waits for fd to be ready for events until deadline; 0, or -ETIMEDOUT / -errno. */
static int ctl_wait(int fd, short events, long long deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	long long left;
	int n;

	for (;;) {
		left = deadline - ctl_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Sends all of buf before deadline; never raises SIGPIPE. */
static int ctl_send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		int ret = ctl_wait(fd, POLLOUT, deadline);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Reads one request line into buf (CTL_MAX_LINE bytes). Returns its length
 * without the '\n', -EMSGSIZE when too long, -EPIPE when the client left
 * before finishing its line, or -ETIMEDOUT.
 */
static ssize_t ctl_read_line(int fd, char *buf, long long deadline)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, CTL_MAX_LINE - len, MSG_DONTWAIT);

		if (n > 0) {
			char *nl = memchr(buf + len, '\n', (size_t)n);

			if (nl)
				return nl - buf; /* bytes after the line are ignored */
			len += (size_t)n;
			if (len == CTL_MAX_LINE)
				return -EMSGSIZE;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int ret = ctl_wait(fd, POLLIN, deadline);
		if (ret < 0)
			return ret;
	}
}

static int ctl_send_error(int fd, const char *msg, long long deadline)
{
	char line[CTL_MAX_ERROR + 16], one[CTL_MAX_ERROR];

	ctl_one_line(one, sizeof(one), msg);
	snprintf(line, sizeof(line), "error: %s\n", one);
	return ctl_send_all(fd, line, strlen(line), deadline);
}

/*
 * After answering an oversized request: read and drop what the client is
 * still sending, so that closing does not reset the connection before it
 * has read our error line. Bounded in bytes and by the deadline.
 */
static void ctl_drain(int fd, long long deadline)
{
	char junk[4096];
	size_t total = 0;

	shutdown(fd, SHUT_WR);
	while (total < CTL_DRAIN_MAX && ctl_wait(fd, POLLIN, deadline) == 0) {
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (n > 0)
			total += (size_t)n;
	}
}

/* Runs a parsed request and sends the response. */
static void ctl_dispatch(struct ctl *ctl, int fd, int argc, char **argv,
			 const struct ctl_peer *peer, int timeout)
{
	ctl_mutates_fn mutates = ctl->cfg.mutates ? ctl->cfg.mutates : ctl_default_mutates;
	struct ctl_out out = {0};
	char msg[CTL_MAX_ERROR];
	long long deadline;
	int ret;

	if (!peer->privileged && mutates(ctl->cfg.arg, argc, argv)) {
		snprintf(msg, sizeof(msg),
			 "permission denied: '%s' changes state; only root or uid %u (who mounted) "
			 "may run it",
			 argv[0], (unsigned)ctl->cfg.owner);
		ctl_send_error(fd, msg, ctl_now_ms() + timeout);
		return;
	}
	pthread_mutex_lock(&ctl->handler_lock);
	ret = ctl->cfg.handle(ctl->cfg.arg, argc, argv, &out, peer);
	pthread_mutex_unlock(&ctl->handler_lock);
	/* The response gets its own deadline: the handler's time is not the client's. */
	deadline = ctl_now_ms() + timeout;
	if (out.overflow) {
		snprintf(msg, sizeof(msg), "%s: response larger than %u bytes", argv[0],
			 CTL_MAX_PAYLOAD);
		ctl_send_error(fd, msg, deadline);
	} else if (ret < 0) {
		ctl_send_error(fd, out.err[0] ? out.err : strerror(-ret), deadline);
	} else if (ctl_send_all(fd, "ok\n", 3, deadline) == 0 && out.len) {
		ctl_send_all(fd, out.buf, out.len, deadline);
	}
	ctl_out_free(&out);
}

static void ctl_serve_client(struct ctl *ctl, int fd)
{
	int timeout = ctl->cfg.timeout_ms > 0 ? ctl->cfg.timeout_ms : CTL_IO_TIMEOUT_MS;
	long long deadline = ctl_now_ms() + timeout;
	char line[CTL_MAX_LINE + 1], *argv[CTL_MAX_ARGS + 1], err[CTL_MAX_ERROR];
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct ctl_peer peer;
	ssize_t len;
	int argc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		ctl_send_error(fd, "cannot read the caller's credentials", deadline);
		return;
	}
	peer = (struct ctl_peer){.pid = cred.pid,
				 .uid = cred.uid,
				 .gid = cred.gid,
				 .privileged = cred.uid == 0 || cred.uid == ctl->cfg.owner};
	len = ctl_read_line(fd, line, deadline);
	if (len == -EMSGSIZE) {
		snprintf(err, sizeof(err), "request longer than %d bytes", CTL_MAX_LINE - 1);
		ctl_send_error(fd, err, deadline);
		ctl_drain(fd, deadline);
		return;
	}
	if (len == -EPIPE) /* half a line is never run: it may be a cut-off command */
		return;
	if (len == -ETIMEDOUT) {
		ctl_send_error(fd, "timed out waiting for a complete request line", deadline + 100);
		return;
	}
	if (len < 0)
		return;
	if (ctl_parse_line(line, (size_t)len, argv, &argc, err, sizeof(err)) < 0) {
		ctl_send_error(fd, err, deadline);
		return;
	}
	ctl_dispatch(ctl, fd, argc, argv, &peer, timeout);
}

static void *ctl_conn_thread(void *arg)
{
	struct ctl_conn *c = arg;
	struct ctl *ctl = c->ctl;

	ctl_serve_client(ctl, c->fd);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&ctl->lock);
	ctl->active--;
	pthread_cond_broadcast(&ctl->idle);
	pthread_mutex_unlock(&ctl->lock);
	return NULL;
}

/*
 * Serves fd on a thread of its own, so that a client that stalls (until its
 * deadline) delays nobody else. Precondition: a slot is free (ctl_thread
 * accepts only then). If no thread can be started, serves it inline.
 */
static void ctl_spawn(struct ctl *ctl, int fd)
{
	struct ctl_conn *c = malloc(sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	bool started = false;

	if (c) {
		*c = (struct ctl_conn){.ctl = ctl, .fd = fd};
		pthread_mutex_lock(&ctl->lock);
		ctl->active++;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&t, &attr, ctl_conn_thread, c) == 0;
		pthread_attr_destroy(&attr);
		if (!started)
			ctl->active--;
		pthread_mutex_unlock(&ctl->lock);
	}
	if (started)
		return;
	free(c);
	ctl_serve_client(ctl, fd);
	close(fd);
}

/*
 * Waits until fewer than CTL_MAX_CLIENTS are being served (new connections
 * wait in the listen backlog meanwhile). Returns false when stopping.
 */
static bool ctl_wait_slot(struct ctl *ctl)
{
	bool go;

	pthread_mutex_lock(&ctl->lock);
	while (ctl->active >= CTL_MAX_CLIENTS && !ctl->stopping)
		pthread_cond_wait(&ctl->idle, &ctl->lock);
	go = !ctl->stopping;
	pthread_mutex_unlock(&ctl->lock);
	return go;
}

static void *ctl_thread(void *arg)
{
	struct ctl *ctl = arg;
	struct pollfd p[CTL_MAX_SOCKS + 1];
	int i, n = ctl->nsocks;

	for (i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = ctl->socks[i].fd, .events = POLLIN};
	p[n] = (struct pollfd){.fd = ctl->wake[0], .events = POLLIN};
	while (ctl_wait_slot(ctl)) {
		if (poll(p, (nfds_t)n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[n].revents)
			break;
		for (i = 0; i < n; i++) {
			int fd;

			if (!(p[i].revents & POLLIN))
				continue;
			fd = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0)
				continue; /* the client left already, or out of fds: retry later */
			ctl_spawn(ctl, fd);
		}
	}
	return NULL;
}

/* ---- start and stop ---- */

static void ctl_free(struct ctl *ctl)
{
	pthread_mutex_destroy(&ctl->lock);
	pthread_cond_destroy(&ctl->idle);
	pthread_mutex_destroy(&ctl->handler_lock);
	free(ctl);
}

/* cwd/path into buf. */
static int ctl_absolute(const char *path, char *buf, size_t len)
{
	char cwd[4096];

	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if (snprintf(buf, len, "%s/%s", cwd, path) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int ctl_start_cfg(const struct ctl_config *cfg, struct ctl **out, char *err, size_t errlen)
{
	char warn[512] = "";
	struct ctl *ctl;
	int ret;

	err[0] = '\0';
	if (!cfg->handle || (!cfg->mountpoint && !cfg->path)) {
		snprintf(err, errlen, "control: no handler or no socket to listen on");
		return -EINVAL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "control: out of memory");
		return -ENOMEM;
	}
	ctl->cfg = *cfg;
	ctl->wake[0] = ctl->wake[1] = -1;
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_cond_init(&ctl->idle, NULL);
	pthread_mutex_init(&ctl->handler_lock, NULL);
	if (cfg->mountpoint) {
		ret = ctl_listen_default(&ctl->socks[ctl->nsocks], cfg->mountpoint, warn,
					 sizeof(warn));
		if (ret == 0)
			ctl->nsocks++;
		else if (!cfg->path) {
			snprintf(err, errlen, "%s", warn);
			goto fail;
		}
	}
	if (cfg->path) {
		char abs[sizeof(ctl->socks[0].path)];

		/* Absolute, so that ctl_stop unlinks the right file after a chdir (daemonizing). */
		if (cfg->path[0] != '/' && ctl_absolute(cfg->path, abs, sizeof(abs)) < 0) {
			ret = -ENAMETOOLONG;
			snprintf(err, errlen, "control socket %s: path too long", cfg->path);
			goto fail;
		}
		ret = ctl_listen(&ctl->socks[ctl->nsocks], cfg->path[0] == '/' ? cfg->path : abs,
				 err, errlen);
		if (ret < 0)
			goto fail;
		ctl->nsocks++;
	}
	if (pipe2(ctl->wake, O_CLOEXEC) < 0) {
		ret = -errno;
		snprintf(err, errlen, "control: pipe: %s", strerror(errno));
		goto fail;
	}
	ret = -pthread_create(&ctl->thread, NULL, ctl_thread, ctl);
	if (ret < 0) {
		snprintf(err, errlen, "control: cannot start its thread: %s", strerror(-ret));
		goto fail;
	}
	snprintf(err, errlen, "%s", warn);
	*out = ctl;
	return 0;
fail:
	for (int i = 0; i < ctl->nsocks; i++)
		ctl_unlisten(&ctl->socks[i]);
	if (ctl->wake[0] >= 0) {
		close(ctl->wake[0]);
		close(ctl->wake[1]);
	}
	ctl_free(ctl);
	return ret;
}

int ctl_start(const char *mountpoint, const char *path_or_null, uid_t owner, ctl_handler_fn handle,
	      void *arg, struct ctl **out, char *err, size_t errlen)
{
	struct ctl_config cfg = {.mountpoint = mountpoint,
				 .path = path_or_null,
				 .owner = owner,
				 .handle = handle,
				 .arg = arg};

	return ctl_start_cfg(&cfg, out, err, errlen);
}

void ctl_stop(struct ctl *ctl)
{
	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->stopping = true;
	pthread_cond_broadcast(&ctl->idle);
	pthread_mutex_unlock(&ctl->lock);
	while (write(ctl->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(ctl->thread, NULL);
	/* Client threads end by their deadlines; the handler's objects must outlive them. */
	pthread_mutex_lock(&ctl->lock);
	while (ctl->active > 0)
		pthread_cond_wait(&ctl->idle, &ctl->lock);
	pthread_mutex_unlock(&ctl->lock);
	for (int i = 0; i < ctl->nsocks; i++)
		ctl_unlisten(&ctl->socks[i]);
	close(ctl->wake[0]);
	close(ctl->wake[1]);
	ctl_free(ctl);
}

const char *ctl_path(const struct ctl *ctl, int i)
{
	return i >= 0 && i < ctl->nsocks ? ctl->socks[i].path : NULL;
}
