/*
 * wberr.h: the write-back errors of files, by inode number: one errseq_t
 * (errseq.h) per inode that has had one, like the kernel's
 * mapping->wb_err. A table the page cache owns (pagecache.h: pc_wb_err_*),
 * so that an inode's error goes with its pages (pc_drop_inode).
 *
 * Layer: page cache; calls errseq.h, libc and pthreads only. Every
 * function takes the table's lock: the errseq_t of an inode is never used
 * outside it, so dropping an inode cannot free one under a reader.
 */
#ifndef EIOCBFS_WBERR_H
#define EIOCBFS_WBERR_H

#include <stdint.h>

struct wberr_tab;

struct wberr_tab *wberr_new(void); /* NULL: out of memory */
void wberr_free(struct wberr_tab *t);
/* Record err (< 0) for ino. -ENOMEM when no entry could be made (counted). */
int wberr_set(struct wberr_tab *t, uint64_t ino, int err);
/* errseq_sample of ino's value (0 for an inode without an entry). */
uint32_t wberr_sample(struct wberr_tab *t, uint64_t ino);
/* errseq_check_and_advance on ino's value with the cursor *since. */
int wberr_check(struct wberr_tab *t, uint64_t ino, uint32_t *since);
/* Forget ino (its inode is gone: a new file with its number starts clean). */
void wberr_drop(struct wberr_tab *t, uint64_t ino);

struct wberr_stats {
	uint64_t set;	   /* errors recorded */
	uint64_t reported; /* checks that returned an error */
	uint64_t inodes;   /* inodes with an entry now */
	uint64_t lost;	   /* errors not recorded for want of memory */
};
void wberr_get_stats(struct wberr_tab *t, struct wberr_stats *st);

#endif
