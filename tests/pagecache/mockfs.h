/*
 * mockfs.h: an in-memory filesystem under the page cache, for its tests.
 * It implements struct pc_ops over per-inode byte arrays, counts and logs
 * every call, fails the next read or write on request, and can hold one
 * page's read or write-back in flight (a gate) so that tests see a page
 * locked under I/O. Thread-safe.
 */
#ifndef MOCKFS_H
#define MOCKFS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pagecache.h"

#define MOCK_NINO 8
#define MOCK_LOG 4096

enum { GATE_READ, GATE_WRITE, GATE_EXTEND /* index: ignored, use 0 */ };

struct mockfs {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	uint32_t bs;
	struct {
		uint64_t size;
		uint8_t *data;
		size_t cap;
	} f[MOCK_NINO];
	unsigned reads, writes, readpages_calls;
	unsigned ra_batch[MOCK_LOG], nbatch;  /* sizes of readpages batches */
	unsigned wb_batch[MOCK_LOG], nwbatch; /* sizes of writepages batches */
	uint64_t wlog_ino[MOCK_LOG], wlog_index[MOCK_LOG];
	unsigned nwlog;
	uint64_t max_index_read[MOCK_NINO];
	int read_err, write_err;	  /* returned by the next read / write (then cleared) */
	int write_err_sticky;		  /* returned by every write while set */
	uint64_t size_at_write[MOCK_LOG]; /* the file size when each logged page was written */
	/* hold/release (mock_ops_held): references held per inode, calls made,
	   releases that found a page of their inode still locked, and the
	   inodes whose last release drops their pages (pc_drop_inode on pc),
	   as the last iput of an unlinked, closed file does */
	unsigned held[MOCK_NINO], holds, releases, locked_at_release;
	int hold_err; /* returned by the next hold (then cleared) */
	bool drop_on_release[MOCK_NINO];
	struct pc *pc;
	/* gate: the call of kind on (ino, index) waits until gate_open */
	bool gate_armed, gate_entered, gate_open;
	int gate_kind;
	uint64_t gate_ino, gate_index;
};

extern const struct pc_ops mock_ops;
extern const struct pc_ops mock_ops_no_readpages;
extern const struct pc_ops mock_ops_batched; /* with writepages */
extern const struct pc_ops mock_ops_held;    /* batched, with hold/release */

void mock_init(struct mockfs *m, uint32_t bs);
void mock_fini(struct mockfs *m);
/* The "device": what an O_DIRECT write or read would touch. */
void mock_write_direct(struct mockfs *m, uint64_t ino, uint64_t off, const void *buf, size_t len);
void mock_read_direct(struct mockfs *m, uint64_t ino, uint64_t off, void *buf, size_t len);
void mock_set_size(struct mockfs *m, uint64_t ino, uint64_t size);
uint64_t mock_size(struct mockfs *m, uint64_t ino);
/* Fill blocks [0, n) of ino with the byte (index + seed) and set the size. */
void mock_fill(struct mockfs *m, uint64_t ino, unsigned nblocks, unsigned seed);

void mock_gate_arm(struct mockfs *m, int kind, uint64_t ino, uint64_t index);
void mock_gate_wait_entered(struct mockfs *m);
void mock_gate_open(struct mockfs *m);

#endif
