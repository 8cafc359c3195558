/*
 * layout.h: the on-disk format of eiocbfs. Everything that reaches the
 * device is described here; all multi-byte fields are little-endian.
 *
 *   block 0                superblock (struct ef_super)
 *   [journal_start, +len)  the metadata journal (fs/journal.c)
 *   [ibitmap_start, +len)  inode bitmap          (bit set = inode in use)
 *   [bbitmap_start, +len)  block bitmap          (bit set = block in use)
 *   [itable_start, +len)   inode table           (EF_INODE_SIZE bytes each)
 *   [data_start, nblocks-1) data, directory, extent and xattr blocks
 *   nblocks - 1            backup superblock (written by mkfs and at clean unmount)
 *
 * Every metadata block (superblock, bitmap, inode table, directory,
 * extent, xattr, journal) starts with struct ef_blkhdr: a per-type magic,
 * the block's own number (so a misdirected write is caught) and a crc32c
 * of the whole block computed with the crc field zero. A block whose
 * header does not verify is reported as corrupt (-EUCLEAN), never used.
 * File data blocks carry no header.
 *
 * Sections: the storage section (superblock, bitmaps, journal) belongs to
 * the storage layers; the namespace section (inode, extents, directories,
 * xattrs) to the namespace layers. Each structure says who reads it.
 */
#ifndef EIOCBFS_LAYOUT_H
#define EIOCBFS_LAYOUT_H

#include <stdint.h>

#define EF_VERSION 1
#define EF_MIN_BLOCK_SIZE 1024
#define EF_MAX_BLOCK_SIZE 4096
#define EF_DEFAULT_BLOCK_SIZE 4096
#define EF_INODE_SIZE 256
#define EF_ROOT_INO 1 /* FUSE's root id; inode 0 is never used */
#define EF_NAME_MAX 255

/* Block magics, one per kind of metadata block ("EFxx" as ASCII). */
#define EF_MAGIC_SUPER 0x53464645u   /* "EFFS" */
#define EF_MAGIC_IBITMAP 0x42494645u /* "EFIB" */
#define EF_MAGIC_BBITMAP 0x42424645u /* "EFBB" */
#define EF_MAGIC_ITABLE 0x54494645u  /* "EFIT" */
#define EF_MAGIC_DIR 0x52444645u     /* "EFDR" */
#define EF_MAGIC_EXTENT 0x58454645u  /* "EFEX" */
#define EF_MAGIC_XATTR 0x41584645u   /* "EFXA" */
#define EF_MAGIC_JDESC 0x444a4645u   /* "EFJD" journal descriptor */
#define EF_MAGIC_JCOMMIT 0x434a4645u /* "EFJC" journal commit */
#define EF_MAGIC_JSUPER 0x534a4645u  /* "EFJS" journal superblock */

struct ef_blkhdr {
	uint32_t magic;
	uint32_t crc;	  /* crc32c of the whole block with this field zero */
	uint64_t blockno; /* where the block belongs */
} __attribute__((packed));

/* ---- storage section: superblock, bitmaps, journal ---------------------- */

#define EF_STATE_CLEAN 1
#define EF_STATE_DIRTY 2	/* mounted, or not unmounted cleanly */
#define EF_STATE_ERROR 4	/* an error was recorded: fsck checks everything */

struct ef_super {
	struct ef_blkhdr hdr; /* magic EF_MAGIC_SUPER, blockno 0 (or nblocks-1) */
	uint32_t version;
	uint32_t block_size;
	uint64_t nblocks; /* device size in blocks */
	uint64_t ninodes;
	uint64_t journal_start, journal_len;
	uint64_t ibitmap_start, ibitmap_len;
	uint64_t bbitmap_start, bbitmap_len;
	uint64_t itable_start, itable_len;
	uint64_t data_start;
	uint64_t free_blocks, free_inodes; /* hints; fsck recomputes them */
	uint64_t orphan_head;		   /* first inode of the orphan list, 0 if none */
	uint32_t state;			   /* EF_STATE_* */
	uint32_t features_compat, features_incompat, features_ro_compat;
	uint64_t mkfs_time, mount_time, write_time;
	uint32_t mount_count, error_count;
	uint64_t first_error_block; /* first block whose I/O failed, for fsck */
	uint8_t uuid[16];
	char label[64];
} __attribute__((packed));

/*
 * Inode numbers run from 1 (EF_ROOT_INO) to ninodes. The inode bitmap and
 * the inode table have a slot for inode 0 too, never used (its bit is set).
 *
 * Bitmaps (inode and block alike): each bitmap block is struct ef_blkhdr
 * followed by EF_BITMAP_BITS(bs) bits, least significant bit first: bit i
 * of byte k of bitmap block n stands for item n * EF_BITMAP_BITS(bs) + 8k + i.
 * Bits past the last item (ninodes + 1 inodes, nblocks blocks) are set, so
 * they are never handed out. In the block bitmap, everything below
 * data_start and the backup superblock (nblocks - 1) is set.
 */
#define EF_BITMAP_BITS(bs) (((uint64_t)(bs) - sizeof(struct ef_blkhdr)) * 8)

/*
 * Lazily initialised inode table: mkfs zeroes the inode table (a hole in a
 * sparse image) instead of writing it, so an inode table block that reads
 * as ALL zero bytes is a valid block of free inodes. Readers (bread with
 * EF_MAGIC_ITABLE, fsck) treat it exactly like a sealed block of free
 * inodes; the first transaction that changes it writes it sealed.
 */

/*
 * The journal: [journal_start, journal_start + journal_len). Its first block
 * is struct ef_jsuper; the rest is a circular log. A transaction occupies
 * consecutive log blocks (wrapping from the last log block to the first):
 *
 *   jdesc, its images..., [jdesc, its images...]..., jcommit
 *
 * A jdesc lists the home block numbers of the images that follow it (up to
 * EF_JDESC_MAX(bs)); the images are whole metadata blocks, as they must be
 * at home. The jcommit carries the crc32c of every block of the transaction
 * before it, in log order, so a torn transaction is detected and never
 * applied. Every jdesc/jcommit header's blockno is its own position in the
 * log and its seq the transaction's. Replay starts at jsuper.start with
 * jsuper.seq and applies transactions in order while they verify, stopping
 * at the first that does not. mkfs picks a random first sequence number,
 * so a stale log from an earlier filesystem never verifies.
 */
#define EF_JOURNAL_VERSION 1
struct ef_jsuper {
	struct ef_blkhdr hdr; /* EF_MAGIC_JSUPER, blockno journal_start */
	uint32_t version;     /* EF_JOURNAL_VERSION */
	uint32_t reserved;
	uint64_t seq;	/* sequence number of the first transaction to replay */
	uint64_t start; /* its first block (absolute block number, in the log) */
} __attribute__((packed));

struct ef_jdesc {
	struct ef_blkhdr hdr; /* EF_MAGIC_JDESC, blockno = its own position */
	uint64_t seq;
	uint32_t count; /* images following this descriptor */
	uint32_t reserved;
	uint64_t home[]; /* their home block numbers */
} __attribute__((packed));
#define EF_JDESC_MAX(bs) (((bs) - sizeof(struct ef_jdesc)) / sizeof(uint64_t))

struct ef_jcommit {
	struct ef_blkhdr hdr; /* EF_MAGIC_JCOMMIT, blockno = its own position */
	uint64_t seq;
	uint32_t nblocks; /* blocks of the transaction before this one */
	uint32_t tx_crc;  /* crc32c(0, those blocks in log order) */
	uint64_t commit_time; /* seconds since the epoch */
} __attribute__((packed));

/* ---- namespace section: inodes, extents, directories, xattrs ------------- */
/* (filled in by the namespace layers; sizes above are fixed) */

#endif
