/*
 * fsck.h: the checker (fs/fsck*.c), the library behind fsck.eiocbfs.
 * Layer: a peer of the namespace layers, beside the daemon, never under it.
 * It reads the image through its own small block view (fsck_image.c) and
 * reuses the storage layers' code for what they own (meta_verify, crc32c,
 * the on-disk layout); it calls nothing of fs.h and nothing calls it but
 * the tool and the tests.
 *
 * Passes, in order (e2fsck's, adapted to this format):
 *   0 superblock     magic, version, checksum, geometry; the backup copy
 *   1 journal        replayed first (the storage layer's journal_replay): on
 *                    the device with -y, in memory with -n (an overlay every
 *                    later pass reads through: the view the next mount sees)
 *     orphans        the orphan list is read (-y frees unlinked orphans in
 *                    pass 2, as the mount would)
 *   2 inodes         every inode table block's header; each used inode's
 *                    fields, its extent tree (structure, range, overlap)
 *                    and its xattr block
 *   3 directories    head, table and buckets; the hash index; entries
 *                    (names, keys, order, duplicates, inode and type)
 *   4 connectivity   everything reachable from the root, '..', link counts;
 *                    /lost+found (-y makes it when missing); -y reconnects
 *                    what nothing names into /lost+found as "#<inode>"
 *   5 orphans        the list against what pass 4 found
 *   6 bitmaps        inode and block bitmaps against what is in use
 *   7 summary        free counts and the clean/error state
 *
 * Modes: FSCK_CHECK (-n) never writes; FSCK_REPAIR (-y) fixes what it can,
 * writing straight to the device (the journal is empty by then) and never
 * making a structure worse than it found it: it clears what it cannot make
 * sense of and recomputes what is derived (bitmaps, counts).
 */
#ifndef EIOCBFS_FSCK_H
#define EIOCBFS_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* e2fsck's exit codes (bits, as e2fsck combines them). */
enum {
	FSCK_EXIT_CLEAN = 0,
	FSCK_EXIT_FIXED = 1,
	FSCK_EXIT_UNCORRECTED = 4,
	FSCK_EXIT_OPERATIONAL = 8,
};

enum fsck_mode {
	FSCK_CHECK,  /* -n: report only, open read-only */
	FSCK_REPAIR, /* -y: repair everything it can */
};

/* Every kind of finding; fsck_problem_name() gives its one-line title. */
enum fsck_problem {
	FP_SB_BAD,		/* primary superblock unusable (backup used) */
	FP_SB_BACKUP,		/* backup superblock missing or different */
	FP_SB_STATE,		/* not clean or error recorded */
	FP_JOURNAL,		/* journal needed replay */
	FP_JOURNAL_BAD,		/* journal damaged (records ignored) */
	FP_BITMAP_HDR,		/* a bitmap block failed verification */
	FP_ITABLE_HDR,		/* an inode table block failed verification */
	FP_INODE_BAD,		/* an in-use inode with impossible fields */
	FP_INODE_UNUSED_MARKED, /* inode bitmap says used, inode is free */
	FP_INODE_USED_UNMARKED, /* inode in use, bitmap says free */
	FP_EXTENT_BAD,		/* extent block header or structure */
	FP_EXTENT_RANGE,	/* extent outside the data area */
	FP_EXTENT_DUP,		/* block claimed twice */
	FP_SIZE,		/* size/blocks inconsistent with the mapping */
	FP_XATTR_BAD,		/* xattr block damaged */
	FP_DIR_BAD,		/* directory block header or entry structure */
	FP_DIR_ENTRY,		/* entry naming a free, bad or out-of-range inode */
	FP_DIR_DUP,		/* duplicate name in a directory */
	FP_DIR_DOT,		/* '.' or '..' missing or wrong */
	FP_DIR_HASH,		/* hash index inconsistent with the entries */
	FP_ROOT,		/* the root is not a directory (-y makes a new one) */
	FP_LF_MISSING,		/* no /lost+found (-y makes it; information) */
	FP_LF_NOT_DIR,		/* /lost+found is not a directory (-y unlinks it) */
	FP_UNREACHABLE,		/* in-use inode not reachable from the root */
	FP_NLINK,		/* link count differs from the entries */
	FP_ORPHAN,		/* orphan list damaged or orphan still linked */
	FP_ORPHAN_FREED,	/* orphan freed (what the next mount would do) */
	FP_BLOCK_UNUSED_MARKED, /* block marked used, nothing uses it */
	FP_BLOCK_USED_UNMARKED, /* block used, bitmap says free */
	FP_FREE_COUNT,		/* superblock free counts differ */
	FP_NR
};

/* One finding, as the report callback sees it. */
struct fsck_finding {
	enum fsck_problem problem;
	bool fixed;	 /* the repair was written */
	uint64_t ino;	 /* the first inode it is about, 0 for none in particular */
	uint64_t nino;	 /* how many from ino (an inode table block: all of its inodes) */
	const char *msg; /* one line, no newline */
};

struct fsck_opts {
	enum fsck_mode mode;
	bool verbose; /* the caller's: the checker reports every finding anyway */
	/* Called for each finding; may be NULL. */
	void (*report)(void *arg, const struct fsck_finding *fi);
	void *report_arg;
};

struct fsck_result {
	uint64_t found[FP_NR]; /* findings per kind */
	uint64_t fixed[FP_NR]; /* of which repaired */
	uint64_t files, dirs, blocks_used, inodes_used, orphans_freed;
	uint64_t fragmented; /* files and directories not in one run of blocks */
	uint64_t nblocks, ninodes;
	int exit_code; /* FSCK_EXIT_* */
};

const char *fsck_problem_name(enum fsck_problem p);

/*
 * Check TARGET (a block device or image file). Returns the exit code (also
 * in r->exit_code); on an operational error (8) err holds one line.
 */
int fsck_run(const char *target, const struct fsck_opts *o, struct fsck_result *r, char *err,
	     size_t errlen);

#endif
