/*
 * fsck_testlib.h: what the fsck tests share: a small image with a content
 * tree made through fs/ops/fs.h (no mount), and raw access to its blocks for
 * corrupting it on purpose (with the checksum resealed when a test wants
 * the damage to get past verification).
 */
#ifndef EIOCBFS_FSCK_TESTLIB_H
#define EIOCBFS_FSCK_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>

#include "fsck.h"
#include "layout.h"

struct timg {
	char path[256];
	uint32_t bs;
	/* The content tree (inode numbers), see timg_make. */
	uint64_t lf, a, d, e, g, s, ls, sp, frag, frag2, fifo, x;
};

/*
 * Formats path (size bytes, block size bs) and creates:
 *   /lost+found (as mkfs.eiocbfs does)
 *   /a (3 blocks, user.k xattr)  /b (a hard link to a)  /s -> a
 *   /ls -> (a 200-byte target)   /sp (sparse: one block at block 100)
 *   /frag, /frag2 (interleaved writes: many extents, an index node)
 *   /fifo  /d/ (nfiles empty files f0..)  /d/e/  /d/e/g (1 block)
 * Returns 0 or a negative errno (msg says what failed).
 */
int timg_make(struct timg *t, const char *path, uint32_t bs, uint64_t size, int nfiles);
/* Runs the checker on the image: the exit code. */
int timg_fsck(const char *path, enum fsck_mode m, struct fsck_result *r);
/* A readable list of what fsck found ("name=n ..."), for failure messages. */
const char *timg_findings(const struct fsck_result *r);

/* Raw block access (pread/pwrite of the image file). */
void timg_read(const struct timg *t, uint64_t blk, void *buf);
void timg_write(const struct timg *t, uint64_t blk, const void *buf);
/* Recomputes a metadata block's header crc in place on the image. */
void timg_reseal(const struct timg *t, uint64_t blk);
struct ef_super timg_super(const struct timg *t);
void timg_set_super(const struct timg *t, const struct ef_super *sb); /* primary, resealed */
void timg_inode(const struct timg *t, uint64_t ino, struct ef_inode *in);
void timg_set_inode(const struct timg *t, uint64_t ino, const struct ef_inode *in);
/* The inode table block holding ino. */
uint64_t timg_iblock(const struct timg *t, uint64_t ino);
/* Device block of a file's logical block (walks the extent tree), 0 for a hole. */
uint64_t timg_pblk(const struct timg *t, uint64_t ino, uint64_t lblk);
/* Bit of an item in a bitmap (inode: ibitmap, block: bbitmap), and setting it (resealed). */
bool timg_bit(const struct timg *t, bool inode_bitmap, uint64_t item);
void timg_set_bit(const struct timg *t, bool inode_bitmap, uint64_t item, bool on);

#endif
