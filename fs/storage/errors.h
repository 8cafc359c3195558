/*
 * errors.h: what eiocbfs does when a metadata write fails, the errors=
 * mount option with ext4's meaning. Layer: beside the
 * storage layers (it hooks every device write of the journal, log and home
 * blocks, which are all the metadata writes); may call storage (journal
 * hook, superblock error state) and fault.h. Called by fs.c at mount.
 *
 *   remount-ro (default)  the failed write stops the journal: the commit
 *                         that held it never becomes visible (replay skips
 *                         an uncommitted transaction), every later change
 *                         gets EROFS; reads of what is on the device work.
 *   shutdown              the same, with EIO (XFS' shutdown).
 *   continue              the error is recorded and logged, the write is
 *                         made and the filesystem goes on.
 * In every mode the first failure is logged once (stderr and syslog) with
 * its block number and recorded in the superblock (state error, first
 * error block, error count), so the next fsck.eiocbfs checks everything.
 *
 * The failures come from the fault point device_write with meta=1 (fault.h,
 * ino FAULT_INO_META, offset = block * block size). A real write error of
 * the device also stops the journal (EIO) and marks the superblock at
 * unmount, whatever the mode.
 */
#ifndef EIOCBFS_ERRORS_H
#define EIOCBFS_ERRORS_H

#include <stdint.h>

struct storage;
struct faults;

enum fs_errors_mode { FS_ERRORS_REMOUNT_RO = 0, FS_ERRORS_CONTINUE, FS_ERRORS_SHUTDOWN };

/* "continue", "remount-ro" or "shutdown": the mode, or -1. */
int fs_errors_parse(const char *s);
const char *fs_errors_name(int mode);

struct fs_errors;

/* Hooks st's journal. faults may be NULL (then nothing is injected and the
   hook is not installed). Returns 0 or -ENOMEM; *out NULL when not needed. */
int fs_errors_attach(struct storage *st, struct faults *faults, int mode, struct fs_errors **out);
/* Unhooks, waits for the superblock record, frees. Before storage_close. NULL: no-op. */
void fs_errors_detach(struct fs_errors *e);

#endif
