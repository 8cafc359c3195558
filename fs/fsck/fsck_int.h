/*
 * fsck_int.h: what the checker's passes share (fs/fsck*.c only).
 * Layer: the checker. The image view (fsck_image.c) is the only code that
 * touches the device; the passes read and write blocks through it.
 */
#ifndef EIOCBFS_FSCK_INT_H
#define EIOCBFS_FSCK_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsck.h"
#include "layout.h"
#include "storage.h"

/* ---- the image view: device or memory, plus the in-memory journal overlay */
struct fsck_overlay_ent {
	uint64_t blockno; /* UINT64_MAX: empty slot */
	uint8_t *data;
};

struct fsck_img {
	struct disk disk;
	bool disk_open;
	uint8_t *bounce; /* one aligned block for disk I/O */
	uint64_t size_bytes;
	uint32_t bs; /* 0 until the superblock is known */
	bool readonly;
	/* Journal replay without writing: blocks read from here first. */
	struct fsck_overlay_ent *ov;
	size_t ov_cap, ov_len;
};

int img_open_target(struct fsck_img *im, const char *target, bool readonly, char *err,
		    size_t errlen);
void img_close(struct fsck_img *im);
/* Raw byte access, for the superblock before the block size is known. */
int img_pread(struct fsck_img *im, void *buf, size_t len, uint64_t off);
/* One block of im->bs bytes; the overlay wins over the device. */
int img_read(struct fsck_img *im, uint64_t blockno, void *buf);
/* Up to FSCK_CHUNK consecutive blocks in one device read (the table passes). */
#define FSCK_CHUNK 64
int img_read_many(struct fsck_img *im, uint64_t blockno, uint32_t n, void *buf);
/* Writes one block to the device (repair mode only: -EROFS otherwise). */
int img_write(struct fsck_img *im, uint64_t blockno, const void *buf);
/* Puts a block in the overlay (journal replay in check mode). */
int img_overlay(struct fsck_img *im, uint64_t blockno, const void *buf);
int img_flush(struct fsck_img *im);

/* ---- geometry the layout implies (kept in one place) ---------------------- */
static inline uint64_t fsck_bits_per_bitmap_block(uint32_t bs)
{
	return EF_BITMAP_BITS(bs);
}
static inline uint64_t fsck_inodes_per_block(uint32_t bs)
{
	return EF_INODES_PER_BLOCK(bs);
}
#define FSCK_KNOWN_INCOMPAT 0u

/* The largest file (fs/ns/bmap.c refuses to grow past it with EFBIG). */
#define FSCK_MAX_FILE_BLOCKS (1ull << 40)

/* ---- per-inode state gathered by the passes ------------------------------ */
enum {
	IS_MARKED = 1 << 0, /* inode bitmap bit set */
	IS_USED = 1 << 1,   /* the inode itself says it is in use */
	IS_DIR = 1 << 2,
	IS_REACHED = 1 << 3,  /* found from the root */
	IS_BAD = 1 << 4,      /* cleared or unusable: entries to it are dropped */
	IS_ORPHAN = 1 << 5,   /* on the orphan list */
	IS_DIR_OK = 1 << 6,   /* directory structure verified (pass 3) */
	IS_XATTR = 1 << 7,    /* its xattr block verified and claimed */
	IS_RELEASED = 1 << 8, /* an orphan freed: its bitmap bit clears quietly */
	IS_NAMED = 1 << 9,    /* some directory (reachable or not) names it */
	IS_CLEARED = 1 << 10, /* freed by this run (repair) */
	IS_MADE = 1 << 11,    /* allocated by this run (repair): its bitmap bit sets quietly */
};

struct fsck {
	const struct fsck_opts *o;
	struct fsck_result *r;
	struct fsck_img im;
	struct ef_super sb; /* the superblock in use (primary or backup) */
	bool sb_dirty;	    /* sb must be written back (repair) */
	uint32_t bs;
	char *err; /* operational error text */
	size_t errlen;
	int op_err; /* first operational error (negative errno), stops the run */

	uint16_t *istate;   /* IS_* per inode, [0, ninodes] */
	uint32_t *ilinks;   /* directory entries naming each inode */
	uint64_t *iparent;  /* for directories: the parent that names it */
	uint8_t *breach;    /* reachability: one bit per block */
	uint8_t *breleased; /* blocks whose bitmap bit changes as expected, unreported:
			       those of orphans freed, those this run allocated */
	uint8_t *scratch;   /* one block, for the passes */
	uint64_t *orphans;  /* the orphan list as found, in order */
	size_t norphans;
	bool orphan_damaged;
	uint64_t lost_found; /* /lost+found's inode once pass 4 knows it, else 0 */
	bool allocated;	     /* this run allocated blocks or inodes (repair) */
};

static inline bool fsck_repair(const struct fsck *f)
{
	return f->o->mode == FSCK_REPAIR && !f->op_err;
}

/* Records one finding; fixed says the repair was written. fsck_inote names
   the inode it is about, fsck_inote_range n inodes from ino. */
void fsck_note(struct fsck *f, enum fsck_problem p, bool fixed, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fsck_inote(struct fsck *f, uint64_t ino, enum fsck_problem p, bool fixed, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void fsck_inote_range(struct fsck *f, uint64_t ino, uint64_t n, enum fsck_problem p, bool fixed,
		      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Records an operational error (first one wins); returns err. */
int fsck_fail(struct fsck *f, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline bool bit_test(const uint8_t *m, uint64_t i)
{
	return m[i >> 3] & (1u << (i & 7));
}
static inline void bit_set(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1u << (i & 7));
}
static inline void bit_clear(uint8_t *m, uint64_t i)
{
	m[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/* ---- passes --------------------------------------------------------------- */
int fsck_pass_super(struct fsck *f);   /* fsck_super.c */
int fsck_write_super(struct fsck *f);  /* fsck_super.c: primary and backup */
int fsck_pass_journal(struct fsck *f); /* fsck_journal.c */

/* ---- extent walker (fsck_extent.c) ---------------------------------------- */
struct fsck_map { /* leaf extents in lblk order */
	struct ef_extent *ext;
	size_t n, cap;
};
struct fsck_walk {
	enum { WALK_CHECK, WALK_MAP, WALK_UNCLAIM } how;
	struct fsck_map *map; /* leaves are appended here when non-NULL */
	uint8_t *release;     /* every block walked (leaves, nodes) is set here if non-NULL */
	uint64_t owned;	      /* out: blocks owned (leaves and nodes) */
	uint64_t end;	      /* out: the end of the last mapped logical block */
	bool changed;	      /* out: the root in the inode was edited (write it) */
	bool fragmented;      /* out: the leaves are not one run of blocks */
};
/* Walks in's extent tree (the inode's number is ino), as w->how says. */
int fsck_extents(struct fsck *f, uint64_t ino, struct ef_inode *in, struct fsck_walk *w);
const struct ef_extent *fsck_map_find(const struct fsck_map *m, uint64_t lblk);

/* Claims blocks [start, start+n) as in use, unless one of them already is:
   then claims nothing and returns how many were. */
uint64_t fsck_claim(struct fsck *f, uint64_t start, uint64_t n);
void fsck_unclaim(struct fsck *f, uint64_t start, uint64_t n);

/* ---- inodes (fsck_inode.c) ------------------------------------------------- */
/* Reads inode ino (1..ninodes); an all-zero lazy table block reads as free inodes. */
int fsck_iread(struct fsck *f, uint64_t ino, struct ef_inode *out);
/* Writes inode ino into its table block and reseals it (repair only). */
int fsck_iwrite(struct fsck *f, uint64_t ino, const struct ef_inode *in);
/* Frees inode ino (repair): gives back its blocks, zeroes it but its generation. */
int fsck_iclear(struct fsck *f, uint64_t ino);
int fsck_pass_inodes(struct fsck *f);
/* Verifies and claims inode ino's xattr block; false (reported) if unusable. */
bool fsck_check_xattr(struct fsck *f, uint64_t ino, uint64_t blockno);
/* ---- directories (fsck_dir.c) ---------------------------------------------- */
struct fsck_dir {
	uint64_t ino;
	struct ef_inode in;
	struct fsck_map map;
	struct ef_dir_head head;
	uint64_t head_pblk;
	uint32_t *slot; /* the hash table, 2^global_depth bucket numbers */
	uint64_t nslots;
	bool hash_bad; /* the index is not an extendible hash */
	uint8_t *blk;
};
enum { DIRENT_KEEP, DIRENT_DROP, DIRENT_REWRITE };
typedef int (*fsck_dirent_fn)(struct fsck *f, void *arg, struct fsck_dir *d, struct ef_dirent *e,
			      const char *name);
/* 0, 1 when the directory is unusable (*why says why), < 0 on an operational error.
   fsck_dir_close in every case. */
int fsck_dir_open(struct fsck *f, uint64_t ino, struct fsck_dir *d, const char **why);
void fsck_dir_close(struct fsck_dir *d);
int64_t fsck_dir_walk(struct fsck *f, struct fsck_dir *d, bool check, fsck_dirent_fn cb, void *arg);
int fsck_dir_write_head(struct fsck *f, struct fsck_dir *d);
/* Adds name -> ino to directory dino (repair): 0, -ENOSPC when the name's
   bucket is full (this checker does not split buckets), -EEXIST, -EUCLEAN. */
int fsck_dir_insert(struct fsck *f, uint64_t dino, const char *name, uint64_t ino, uint8_t type);
unsigned fsck_dt_of(uint32_t mode);
int fsck_pass_dirs(struct fsck *f);
int fsck_pass_links(struct fsck *f); /* fsck_links.c */

/* ---- rebuilding directories (fsck_rebuild.c) ------------------------------ */
struct fsck_dent {
	uint64_t key, ino;
	uint8_t type, len;
	char name[EF_NAME_MAX];
};
struct fsck_dents {
	struct fsck_dent *v;
	size_t n, cap;
};
int fsck_dents_add(struct fsck *f, struct fsck_dents *l, const char *name, size_t len, uint64_t ino,
		   uint8_t type);
/* Claims the first n free blocks of the data area in at most max_runs
   runs, as extents from logical block lblk on; returns the runs used or
   -ENOSPC (nothing claimed then). */
int fsck_balloc(struct fsck *f, uint64_t n, uint64_t lblk, struct ef_extent *ext, int max_runs);
/* The lowest free inode number, or 0. */
uint64_t fsck_ialloc(struct fsck *f);
/* A fresh in-use inode: mode, a link count, the times now, its generation kept. */
int fsck_inew(struct fsck *f, uint64_t ino, uint32_t mode, struct ef_inode *in);
/* Every well-formed entry of dir ino's bucket blocks that verify (a salvage). */
int fsck_dir_salvage(struct fsck *f, uint64_t ino, struct fsck_dents *l);
/* Writes directory ino anew (repair): l's entries (sorted here; a key seen
   twice keeps its first), parent as '..', at least 2^min_depth buckets, on
   newly claimed blocks mapped by the inode's root. The blocks it owned
   must have been given back. 0 or -ENOSPC (the inode is then unchanged). */
int fsck_dir_build(struct fsck *f, uint64_t ino, struct ef_inode *in, uint64_t parent,
		   struct fsck_dents *l, uint32_t min_depth);
/* Rebuilds directory ino from what can be salvaged of it (repair): 0 and
 *kept the entries saved, or < 0. */
int fsck_dir_rebuild(struct fsck *f, uint64_t ino, uint64_t parent, size_t *kept);
/* fsck_dir_insert that grows the directory (a rebuild) when the name's
   bucket is full. */
int fsck_dir_add(struct fsck *f, uint64_t dino, const char *name, uint64_t ino, uint8_t type);

int fsck_scan_orphans(struct fsck *f); /* fsck_orphan.c: before pass 2 */
int fsck_pass_orphans(struct fsck *f); /* fsck_orphan.c: after pass 4 */
int fsck_pass_bitmaps(struct fsck *f); /* fsck_bitmap.c */
int fsck_pass_summary(struct fsck *f); /* fsck_bitmap.c */

#endif
