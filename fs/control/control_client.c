/*
 * control_client.c: the control channel's client side (layer: tool edge,
 * used by eiocbctl and the tests): one request, one reply, under a
 * deadline. Calls libc and control_msg.c only.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_int.h"

/* Reads until EOF (at most CTL_MAX_PAYLOAD + a status line) before deadline. */
static int ctl_read_all(int fd, char **bufp, size_t *lenp, long long deadline)
{
	size_t len = 0, cap = 8192, max = CTL_MAX_PAYLOAD + CTL_MAX_ERROR + 16;
	char *buf = malloc(cap), *nb;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = deadline - ctl_now_ms();
		ssize_t n;

		if (left <= 0) {
			free(buf);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			free(buf);
			return -errno;
		}
		if (len + 1 == cap) {
			if (cap >= max) {
				free(buf);
				return -EMSGSIZE;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

int ctl_call(const char *path, const char *line, int timeout_ms, struct ctl_reply *r, char *err,
	     size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	long long deadline;
	size_t len = strlen(line), rlen = 0;
	char *req, *buf = NULL, *nl;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	if (timeout_ms <= 0)
		timeout_ms = CTL_IO_TIMEOUT_MS * 5; /* the server may run a slow handler */
	if (len + 1 > CTL_MAX_LINE || memchr(line, '\n', len)) {
		snprintf(err, errlen, "request is not one line of at most %d bytes",
			 CTL_MAX_LINE - 1);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* connect(2) and send(2) block while the server's backlog is full: bound them too. */
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	deadline = ctl_now_ms() + timeout_ms;
	req = malloc(len + 1);
	if (!req) {
		close(fd);
		return -ENOMEM;
	}
	memcpy(req, line, len);
	req[len] = '\n';
	/* One line fits the socket buffer: a plain blocking send, without SIGPIPE. */
	ret = send(fd, req, len + 1, MSG_NOSIGNAL) == (ssize_t)(len + 1) ? 0 : -errno;
	free(req);
	if (ret == 0)
		ret = ctl_read_all(fd, &buf, &rlen, deadline);
	close(fd);
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 ret == -ETIMEDOUT ? "no reply from the daemon in time" : strerror(-ret));
		return ret;
	}
	nl = memchr(buf, '\n', rlen);
	if (nl && nl - buf == 2 && !memcmp(buf, "ok", 2)) {
		r->ok = true;
	} else if (nl && rlen > 7 && !memcmp(buf, "error: ", 7)) {
		*nl = '\0';
		ctl_one_line(r->err, sizeof(r->err), buf + 7);
	} else {
		snprintf(err, errlen, "%s: the daemon's reply has no status line", path);
		free(buf);
		return -EPROTO;
	}
	/* The payload is moved to the front of the buffer, NUL-terminated. */
	r->len = rlen - (size_t)(nl + 1 - buf);
	memmove(buf, nl + 1, r->len + 1);
	r->payload = buf;
	return 0;
}

void ctl_reply_free(struct ctl_reply *r)
{
	free(r->payload);
	r->payload = NULL;
	r->len = 0;
}
