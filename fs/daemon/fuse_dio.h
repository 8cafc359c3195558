/*
 * fuse_dio.h: the FUSE glue of the direct path and of the daemon's I/O
 * engine (layer: FUSE glue and daemon edge, beside fuse_ops.c and main.c).
 * O_DIRECT reads and writes become fsio.h requests answered from the
 * completion ring; the daemon's options (semantics, cache_mb, fault=,
 * control=) become the engine's set-up and the control channel.
 * May call: fsio.h, fs.h, fault.h, control_daemon.h, libfuse.
 */
#ifndef EIOCBFS_FUSE_DIO_H
#define EIOCBFS_FUSE_DIO_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sys/queue.h>
#include <stdbool.h>

struct fs;
struct fs_mount_opts;
struct daemon_options;
struct daemon_io;

/*
 * Called first by op_read / op_write_buf: true when the request was an
 * O_DIRECT one and has been taken over (it will be answered exactly once,
 * from the completion ring or by a cancel); false: the buffered path.
 */
/* The channel's batching hooks: a batch of direct requests plugs the
   device, its I/O submitted together (chan_batch.h). */
extern const struct chan_batch_ops daemon_chan_batch;

bool daemon_dio_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
bool daemon_dio_write(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		      struct fuse_file_info *fi);

/*
 * One open file description's write-back error cursor (Linux's
 * file->f_wb_err, errseq_t rules: fsio.h fsio_wb_err_*), kept in fi->fh:
 * daemon_file_open after a successful open (fi->fh set; -ENOMEM), daemon_file_fsync
 * turns the result of fs_fsync into what this description's fsync returns
 * (an error recorded since its last fsync, once), daemon_file_release frees.
 * The mount's open descriptions are listed in a struct daemon_files: a
 * signal or an aborted connection ends the session with files still open
 * and no release to come, and daemon_files_destroy frees what is left.
 */
struct daemon_file;
struct daemon_files {
	pthread_mutex_t lock;
	LIST_HEAD(, daemon_file) head;
};
void daemon_files_init(struct daemon_files *fl);
void daemon_files_destroy(struct daemon_files *fl);
int daemon_file_open(struct daemon_files *fl, struct fs *fs, fuse_ino_t ino,
		     struct fuse_file_info *fi);
int daemon_file_fsync(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, int ret);
void daemon_file_release(struct daemon_files *fl, struct fuse_file_info *fi);

/* Before fs_mount: the engine's mount options from the command line (faults
   armed from fault=). 0, or -1 with a one-line reason in err. */
int daemon_io_prepare(const struct daemon_options *o, struct fs_mount_opts *mopts,
		      struct daemon_io **out, char *err, size_t errlen);
/* After fs_mount: answer direct requests; serve the control channel.
   Returns 0 (a default socket that cannot be made is a warning on stderr),
   or -1 with err when the socket named by control=PATH cannot be made: the
   caller refuses the mount. */
int daemon_io_start(struct daemon_io *eio, struct fs *fs, const struct daemon_options *o, char *err,
		    size_t errlen);
/* Before fs_unmount: stop the control channel (and, when `eiocbctl crash`
   ended the session, wait for its _exit instead: a power cut writes nothing back). */
void daemon_io_stop(struct daemon_io *eio);
/* After fs_unmount. */
void daemon_io_free(struct daemon_io *eio);

#endif
