/*
 * daemonize.c: fork early, detach late (layer: daemon edge; see daemonize.h).
 * May call libc only.
 */
#include "daemonize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int daemon_fork(void)
{
	int fds[2];
	pid_t pid;
	unsigned char status;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid == 0) {
		close(fds[0]);
		return fds[1];
	}
	close(fds[1]);
	do
		n = read(fds[0], &status, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) { /* the child died before reporting: reap it, fail */
		waitpid(pid, NULL, 0);
		_exit(1);
	}
	if (status != 0)
		waitpid(pid, NULL, 0);
	_exit(status);
}

void daemon_ready(int fd, int status)
{
	unsigned char s = (unsigned char)(status ? (status > 255 ? 1 : status) : 0);
	ssize_t n;

	if (status == 0) {
		int null = open("/dev/null", O_RDWR);

		setsid();
		if (chdir("/") < 0) {
			/* "/" always exists; nothing better to do if not */
		}
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
	}
	do
		n = write(fd, &s, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
}
