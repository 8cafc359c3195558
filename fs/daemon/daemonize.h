/*
 * daemonize.h: detach from the terminal only once the mount has worked
 * (layer: daemon edge). The parent stays until the child reports, so mount
 * errors reach the user's terminal and exit status. May call libc only.
 *
 * Forking first and mounting in the child (rather than fuse_daemonize()
 * after mounting) keeps every thread the filesystem starts in fs_mount.
 */
#ifndef EIOCBFS_DAEMONIZE_H
#define EIOCBFS_DAEMONIZE_H

/*
 * Forks. The parent never returns: it exits with the status the child
 * reports through daemon_ready (or 1 if the child dies first). The child
 * gets the pipe's write end (>= 0), or -errno if fork failed.
 */
int daemon_fork(void);

/*
 * Child: report status to the waiting parent (0: mounted) and, on success,
 * detach: new session, cwd /, stdio to /dev/null. Precondition: fd from
 * daemon_fork.
 */
void daemon_ready(int fd, int status);

#endif
