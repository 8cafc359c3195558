/*
 * layout.h: the on-disk format of eiocbfs. Everything that reaches the
 * device is described here; all multi-byte fields are little-endian.
 *
 *   block 0                superblock (struct ef_super)
 *   [journal_start, +len)  the metadata journal (fs/storage/journal.c)
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
#define EF_STATE_DIRTY 2 /* mounted, or not unmounted cleanly */
#define EF_STATE_ERROR 4 /* an error was recorded: fsck checks everything */

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
	uint32_t nblocks;     /* blocks of the transaction before this one */
	uint32_t tx_crc;      /* crc32c(0, those blocks in log order) */
	uint64_t commit_time; /* seconds since the epoch */
} __attribute__((packed));

/* ---- namespace section: inodes, extents, directories, xattrs ------------- */
/*
 * Read and written by fs/ns/inode.c, fs/ns/extent.c, fs/ns/dir.c, fs/ns/xattr.c; read by
 * fsck. All of these blocks go through the buffer cache and the journal.
 *
 * Inodes. Inode number ino lives in inode table block
 *	itable_start + ino / EF_INODES_PER_BLOCK(block_size)
 * at byte offset sizeof(struct ef_blkhdr) + (ino % IPB) * EF_INODE_SIZE.
 * Inode 0 is never used (mkfs sets its bit); the root directory is inode 1.
 * A free inode (bit clear) is all zeroes apart from generation.
 */
#define EF_INODES_PER_BLOCK(bs) (((bs) - sizeof(struct ef_blkhdr)) / EF_INODE_SIZE)

struct ef_time {
	int64_t sec;
	uint32_t nsec;
} __attribute__((packed));

/*
 * Extents map a file's logical blocks to device blocks: [lblk, lblk + len)
 * -> [pblk, pblk + len). Unmapped logical blocks are holes (read as zeros).
 * In an index node the same record names a child node: pblk is the child's
 * block, lblk a lower bound of every key below it (the first entry's bound
 * may be lower than its child's first key), len and flags are 0.
 * Entries of a node are sorted by lblk and do not overlap.
 */
struct ef_extent {
	uint64_t lblk;
	uint64_t pblk;
	uint32_t len;
	uint32_t flags; /* 0; reserved (unwritten extents) */
} __attribute__((packed));

#define EF_EXTENT_HDR_MAGIC 0xf30a
#define EF_EXTENT_MAX_DEPTH 8
struct ef_extent_hdr {
	uint16_t magic; /* EF_EXTENT_HDR_MAGIC */
	uint16_t count; /* entries in use */
	uint16_t max;	/* capacity of this node */
	uint16_t depth; /* 0: entries are extents (leaf); else index entries */
} __attribute__((packed));

/*
 * The tree's root is in the inode (EF_INODE_EXTENTS entries); other nodes
 * are extent blocks: struct ef_blkhdr (EF_MAGIC_EXTENT), struct
 * ef_extent_hdr, then EF_EXTENTS_PER_BLOCK(bs) entries. Every node below
 * the root has depth one less than its parent.
 */
#define EF_INODE_EXTENTS 5
#define EF_EXTENTS_PER_BLOCK(bs)                                                                   \
	(((bs) - sizeof(struct ef_blkhdr) - sizeof(struct ef_extent_hdr)) /                        \
	 sizeof(struct ef_extent))

/* A symlink whose target is at most this long keeps it in the inode (in
   the place of the extent root); a longer one in data block 0. */
#define EF_INLINE_SYMLINK_MAX 128

/* The largest file, in blocks (writes and truncates past it are EFBIG; an
   inode loaded with a larger size is damage, EUCLEAN). Sizes up to it times
   the block size fit in 64 bits with room to round up. */
#define EF_MAX_FILE_BLOCKS (1ull << 40)

struct ef_inode {
	uint32_t mode; /* S_IFMT | permission bits; 0 for a free inode */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;	 /* bytes (a directory: its blocks times block size) */
	uint64_t blocks; /* filesystem blocks owned: data, extent, directory, xattr */
	struct ef_time atime, mtime, ctime, crtime;
	uint32_t flags; /* EF_FL_*: chattr's flags (FS_IOC_SETFLAGS) */
	uint32_t generation;
	uint64_t orphan_next; /* next inode on the orphan list (sb.orphan_head), 0 ends it */
	uint64_t xattr_block; /* 0: none */
	uint64_t rdev;	      /* device number of a character/block special file */
	union {
		struct {
			struct ef_extent_hdr hdr; /* max = EF_INODE_EXTENTS */
			struct ef_extent ext[EF_INODE_EXTENTS];
		} map;
		char symlink[EF_INLINE_SYMLINK_MAX]; /* size bytes, no NUL */
	} u;
	uint8_t reserved[16];
} __attribute__((packed));
_Static_assert(sizeof(struct ef_inode) == EF_INODE_SIZE, "ef_inode must be EF_INODE_SIZE");

/* Inode flags, with the values of Linux's FS_*_FL (what chattr sets): an
   immutable inode cannot change at all, an append-only one only grows by
   appending; a no-atime one keeps its access time. No other bit is set. */
#define EF_FL_IMMUTABLE 0x10u
#define EF_FL_APPEND 0x20u
#define EF_FL_NOATIME 0x80u
#define EF_FL_ALL (EF_FL_IMMUTABLE | EF_FL_APPEND | EF_FL_NOATIME)

/*
 * The orphan list: inodes whose link count fell to zero while still open
 * (or in the middle of being freed) are chained from sb.orphan_head through
 * orphan_next. Mount (and fsck) frees every inode on it.
 */

/*
 * Directories: extendible hashing on a 62-bit name hash, laid out in the
 * directory's own (sparse) logical blocks:
 *
 *   logical 0                   struct ef_dir_head
 *   logical [1, 1 + T)          the hash table: 2^global_depth bucket numbers,
 *                               EF_DIR_TABLE_PER_BLOCK(bs) per block
 *   logical EF_DIR_BUCKET_LBLK + n   bucket n (n < nbuckets)
 *
 * A name's key is ef_dir_hash(name) (62 bits). Table slot
 * key >> (62 - global_depth) names the bucket holding the key; a bucket of
 * local depth L holds exactly the keys whose top L bits are its prefix, so
 * 2^(global_depth - L) consecutive slots point at it. Buckets therefore
 * cover the key space in order, and entries inside a bucket are sorted by
 * key: a walk of the table is a walk in key order, which makes the readdir
 * cookie (derived from the key) stable across inserts and removes. Keys
 * are unique in a directory (a second name with the same 62-bit key is
 * refused with EEXIST; about 1 in 10^9 at 100,000 names). "." is implicit
 * and ".." is the head's parent field. All dir blocks start with ef_blkhdr
 * (EF_MAGIC_DIR) and a kind word.
 */
#define EF_DIR_HEAD 1
#define EF_DIR_TABLE 2
#define EF_DIR_BUCKET 3
#define EF_DIR_BUCKET_LBLK (1ull << 24)
#define EF_DIR_MAX_DEPTH 24
#define EF_DIR_KEY_BITS 62

struct ef_dir_head {
	struct ef_blkhdr hdr;
	uint32_t kind; /* EF_DIR_HEAD */
	uint32_t global_depth;
	uint64_t parent;   /* inode of ".." */
	uint64_t nentries; /* names in the directory, not counting "." and ".." */
	uint64_t nbuckets; /* buckets allocated */
} __attribute__((packed));

struct ef_dir_table {
	struct ef_blkhdr hdr;
	uint32_t kind; /* EF_DIR_TABLE */
	uint32_t reserved;
	uint32_t bucket[]; /* bucket numbers */
} __attribute__((packed));
#define EF_DIR_TABLE_PER_BLOCK(bs) (((bs) - sizeof(struct ef_dir_table)) / sizeof(uint32_t))

struct ef_dir_bucket {
	struct ef_blkhdr hdr;
	uint32_t kind; /* EF_DIR_BUCKET */
	uint16_t local_depth;
	uint16_t count; /* entries */
	uint32_t used;	/* bytes of entries after this header */
	uint32_t reserved;
	/* entries follow, packed, sorted by key */
} __attribute__((packed));

struct ef_dirent {
	uint64_t key; /* ef_dir_hash of the name */
	uint64_t ino;
	uint8_t name_len; /* 1..255 */
	uint8_t type;	  /* DT_* of the inode */
	char name[];	  /* name_len bytes, no NUL */
} __attribute__((packed));

/* The name hash: FNV-1a 64 with a final avalanche (splitmix64), top 62 bits. */
static inline uint64_t ef_dir_hash(const char *name, unsigned len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (unsigned i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h >> (64 - EF_DIR_KEY_BITS);
}

/*
 * Extended attributes: one block per inode (inode.xattr_block), struct
 * ef_blkhdr (EF_MAGIC_XATTR), struct ef_xattr_head, then packed entries:
 * struct ef_xattr_entry, the name (without its namespace prefix), the value.
 */
#define EF_XATTR_USER 1
#define EF_XATTR_TRUSTED 2
#define EF_XATTR_SECURITY 3
#define EF_XATTR_SYSTEM 4 /* system.posix_acl_access and _default only */
struct ef_xattr_head {
	struct ef_blkhdr hdr;
	uint32_t count; /* entries */
	uint32_t used;	/* bytes of entries after this header */
} __attribute__((packed));
struct ef_xattr_entry {
	uint8_t index;	  /* EF_XATTR_* namespace */
	uint8_t name_len; /* 1..255 */
	uint16_t value_len;
	/* name, then value */
} __attribute__((packed));

#endif
