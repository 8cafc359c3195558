/*
 * test_fsck_repair.c: every repair fsck.eiocbfs can do, one test each: each
 * corrupts an image on purpose. Each test damages a copy of a small image with a content tree
 * and checks the contract: -n reports the damage and exits 4, -y repairs it
 * and exits 1, a second -n exits 0, and what the damage did not touch is
 * still there (the repair never makes things worse).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "fsck_testlib.h"
#include "storage.h"

#define BS 1024
#define NFILES 120 /* enough for /d to split its buckets at 1 KiB blocks */

static char workdir[] = "/tmp/eiocbfs-fsck-XXXXXX";
static char base[200], path[200];
static struct timg B, T;

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	ck_assert(in >= 0 && out >= 0);
	static char buf[1 << 16];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void make_base(void)
{
	ck_assert_ptr_nonnull(mkdtemp(workdir));
	snprintf(base, sizeof(base), "%s/base.img", workdir);
	snprintf(path, sizeof(path), "%s/t.img", workdir);
	ck_assert_int_eq(timg_make(&B, base, BS, 8192 * BS, NFILES), 0);
}

static void drop_base(void)
{
	unlink(base);
	unlink(path);
	rmdir(workdir);
}

static void setup(void)
{
	copy_file(base, path);
	T = B;
	snprintf(T.path, sizeof(T.path), "%s", path);
}

/* After repair, the image mounts and the untouched parts read back. */
static void assert_tree_ok(bool a_intact)
{
	struct fs *fs;
	char err[256];
	struct fs_mount_opts mo = {0};
	ck_assert_msg(fs_mount(T.path, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	fs_attr_t st;
	if (a_intact) {
		ck_assert_int_eq(fs_lookup(fs, FS_ROOT_INO, "a", &st), 0);
		char buf[BS];
		ck_assert_int_eq(fs_read(fs, st.st_ino, buf, BS, 2 * BS), BS);
		ck_assert_int_eq(buf[0], 'a' + 2);
		fs_forget(fs, st.st_ino, 1);
	}
	ck_assert_int_eq(fs_lookup(fs, FS_ROOT_INO, "d", &st), 0);
	fs_forget(fs, st.st_ino, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
	struct fsck_result r;
	ck_assert_int_eq(timg_fsck(T.path, FSCK_CHECK, &r), 0);
}

/* The contract: -n finds it (4), -y fixes it (1), -n is then clean (0). */
static void expect_repair(enum fsck_problem p)
{
	struct fsck_result r;
	int c = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(c == FSCK_EXIT_UNCORRECTED && r.found[p], "-n: exit %d, want 4 with %s; %s",
		      c, fsck_problem_name(p), timg_findings(&r));
	c = timg_fsck(T.path, FSCK_REPAIR, &r);
	ck_assert_msg(c == FSCK_EXIT_FIXED && r.fixed[p], "-y: exit %d, want 1 fixing %s; %s", c,
		      fsck_problem_name(p), timg_findings(&r));
	c = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(c == FSCK_EXIT_CLEAN, "second -n: exit %d; %s", c, timg_findings(&r));
}

START_TEST(clean_image_is_clean)
{
	struct fsck_result r;
	int c = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(c == 0, "exit %d %s", c, timg_findings(&r));
	ck_assert_uint_ge(r.files, 8);
	ck_assert_uint_ge(r.dirs, 3);
	c = timg_fsck(T.path, FSCK_REPAIR, &r);
	ck_assert_msg(c == 0, "-y on a clean image: exit %d %s", c, timg_findings(&r));
	assert_tree_ok(true);
}
END_TEST

START_TEST(clean_at_every_block_size)
{
	static const uint32_t sizes[] = {1024, 2048, 4096};
	for (int i = 0; i < 3; i++) {
		struct timg t;
		ck_assert_int_eq(timg_make(&t, T.path, sizes[i], 8192ull * sizes[i], 40), 0);
		struct fsck_result r;
		int c = timg_fsck(T.path, FSCK_CHECK, &r);
		ck_assert_msg(c == 0, "bs %u: exit %d %s", sizes[i], c, timg_findings(&r));
	}
}
END_TEST

START_TEST(primary_superblock_damaged)
{
	uint8_t b[BS];
	timg_read(&T, 0, b);
	memset(b + 8, 0x5a, 64); /* checksum fails */
	timg_write(&T, 0, b);
	expect_repair(FP_SB_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(backup_superblock_damaged)
{
	struct ef_super s = timg_super(&T);
	uint8_t b[BS];
	memset(b, 0, sizeof(b));
	timg_write(&T, s.nblocks - 1, b);
	expect_repair(FP_SB_BACKUP);
}
END_TEST

START_TEST(no_superblock_is_operational_error)
{
	struct ef_super s = timg_super(&T);
	uint8_t b[BS];
	memset(b, 0, sizeof(b));
	timg_write(&T, 0, b);
	timg_write(&T, s.nblocks - 1, b);
	struct fsck_result r;
	ck_assert_int_eq(timg_fsck(T.path, FSCK_CHECK, &r), FSCK_EXIT_OPERATIONAL);
	ck_assert_int_eq(timg_fsck(T.path, FSCK_REPAIR, &r), FSCK_EXIT_OPERATIONAL);
}
END_TEST

START_TEST(block_in_use_marked_free)
{
	uint64_t p = timg_pblk(&T, T.a, 1);
	ck_assert(p && timg_bit(&T, false, p));
	timg_set_bit(&T, false, p, false);
	expect_repair(FP_BLOCK_USED_UNMARKED);
	ck_assert(timg_bit(&T, false, p));
	assert_tree_ok(true);
}
END_TEST

START_TEST(free_block_marked_in_use)
{
	struct ef_super s = timg_super(&T);
	uint64_t p = s.nblocks - 10;
	ck_assert(!timg_bit(&T, false, p));
	timg_set_bit(&T, false, p, true);
	expect_repair(FP_BLOCK_UNUSED_MARKED);
	ck_assert(!timg_bit(&T, false, p));
}
END_TEST

START_TEST(inode_in_use_marked_free)
{
	timg_set_bit(&T, true, T.g, false);
	expect_repair(FP_INODE_USED_UNMARKED);
	ck_assert(timg_bit(&T, true, T.g));
}
END_TEST

START_TEST(free_inode_marked_in_use)
{
	struct ef_super s = timg_super(&T);
	timg_set_bit(&T, true, s.ninodes - 1, true);
	expect_repair(FP_INODE_UNUSED_MARKED);
	ck_assert(!timg_bit(&T, true, s.ninodes - 1));
}
END_TEST

START_TEST(bitmap_block_checksum)
{
	struct ef_super s = timg_super(&T);
	uint8_t b[BS];
	timg_read(&T, s.bbitmap_start, b);
	b[BS - 1] ^= 0x80; /* a bit past the last block: not a real item */
	timg_write(&T, s.bbitmap_start, b);
	expect_repair(FP_BITMAP_HDR);
}
END_TEST

START_TEST(link_count_wrong)
{
	struct ef_inode in;
	timg_inode(&T, T.a, &in);
	ck_assert_uint_eq(in.nlink, 2); /* a and b */
	in.nlink = 7;
	timg_set_inode(&T, T.a, &in);
	expect_repair(FP_NLINK);
	timg_inode(&T, T.a, &in);
	ck_assert_uint_eq(in.nlink, 2);
	assert_tree_ok(true);
}
END_TEST

START_TEST(directory_link_count_wrong)
{
	struct ef_inode in;
	timg_inode(&T, T.d, &in);
	ck_assert_uint_eq(in.nlink, 3); /* '.', its name, e's '..' */
	in.nlink = 2;
	timg_set_inode(&T, T.d, &in);
	expect_repair(FP_NLINK);
	timg_inode(&T, T.d, &in);
	ck_assert_uint_eq(in.nlink, 3);
}
END_TEST

START_TEST(block_count_wrong)
{
	struct ef_inode in;
	timg_inode(&T, T.frag, &in);
	in.blocks += 3;
	timg_set_inode(&T, T.frag, &in);
	expect_repair(FP_SIZE);
	assert_tree_ok(true);
}
END_TEST

START_TEST(extent_outside_data_area)
{
	struct ef_inode in;
	timg_inode(&T, T.g, &in);
	ck_assert_uint_eq(in.u.map.hdr.depth, 0);
	in.u.map.ext[0].pblk = 1; /* in the metadata area */
	timg_set_inode(&T, T.g, &in);
	expect_repair(FP_EXTENT_RANGE);
	assert_tree_ok(true);
}
END_TEST

START_TEST(block_shared_by_two_files)
{
	struct ef_inode in;
	timg_inode(&T, T.g, &in);
	in.u.map.ext[0].pblk = timg_pblk(&T, T.a, 0); /* g's block is now a's */
	timg_set_inode(&T, T.g, &in);
	expect_repair(FP_EXTENT_DUP);
	assert_tree_ok(true);
}
END_TEST

START_TEST(extent_root_damaged)
{
	struct ef_inode in;
	timg_inode(&T, T.sp, &in);
	in.u.map.hdr.magic = 0x1234;
	timg_set_inode(&T, T.sp, &in);
	expect_repair(FP_EXTENT_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(extent_index_block_damaged)
{
	struct ef_inode in;
	timg_inode(&T, T.frag, &in);
	ck_assert_msg(in.u.map.hdr.depth >= 1, "frag should have an index node (%u extents)",
		      in.u.map.hdr.count);
	uint8_t b[BS];
	uint64_t child = in.u.map.ext[0].pblk;
	timg_read(&T, child, b);
	b[100] ^= 1; /* checksum fails */
	timg_write(&T, child, b);
	expect_repair(FP_EXTENT_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(inode_with_impossible_mode)
{
	struct ef_inode in;
	timg_inode(&T, T.g, &in);
	in.mode = 0170644; /* no such file type */
	timg_set_inode(&T, T.g, &in);
	expect_repair(FP_INODE_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(inode_table_block_checksum)
{
	uint64_t blk = timg_iblock(&T, T.g);
	uint8_t b[BS];
	timg_read(&T, blk, b);
	b[BS - 1] ^= 0xff; /* the tail of the last slot (reserved bytes) */
	timg_write(&T, blk, b);
	expect_repair(FP_ITABLE_HDR);
	assert_tree_ok(true);
}
END_TEST

START_TEST(xattr_block_damaged)
{
	struct ef_inode in;
	timg_inode(&T, T.a, &in);
	ck_assert(in.xattr_block);
	uint8_t b[BS];
	timg_read(&T, in.xattr_block, b);
	b[40] ^= 0xff;
	timg_write(&T, in.xattr_block, b);
	expect_repair(FP_XATTR_BAD);
	timg_inode(&T, T.a, &in);
	ck_assert_uint_eq(in.xattr_block, 0);
	assert_tree_ok(true);
}
END_TEST

/* The bucket of /d/e's directory holding "g", and the offset of its entry. */
static uint64_t find_entry(uint64_t dir, const char *name, size_t *off)
{
	struct ef_inode in;
	timg_inode(&T, dir, &in);
	uint8_t b[BS];
	for (uint64_t n = 0; n < 64; n++) {
		uint64_t p = timg_pblk(&T, dir, EF_DIR_BUCKET_LBLK + n);
		if (!p)
			continue;
		timg_read(&T, p, b);
		struct ef_dir_bucket bh;
		memcpy(&bh, b, sizeof(bh));
		for (size_t o = 0; o < bh.used;) {
			struct ef_dirent e;
			memcpy(&e, b + sizeof(bh) + o, sizeof(e));
			if (e.name_len == strlen(name) &&
			    !memcmp(b + sizeof(bh) + o + sizeof(e), name, e.name_len)) {
				*off = sizeof(bh) + o;
				return p;
			}
			o += sizeof(e) + e.name_len;
		}
	}
	ck_abort_msg("entry %s not found", name);
	return 0;
}

START_TEST(entry_names_free_inode)
{
	size_t off;
	uint64_t p = find_entry(T.e, "g", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_super s = timg_super(&T);
	uint64_t ino = s.ninodes - 2; /* free */
	memcpy(b + off + offsetof(struct ef_dirent, ino), &ino, sizeof(ino));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_ENTRY);
	assert_tree_ok(true);
}
END_TEST

START_TEST(entry_type_wrong)
{
	size_t off;
	uint64_t p = find_entry(T.e, "g", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	b[off + offsetof(struct ef_dirent, type)] = 4; /* DT_DIR, g is a file */
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_ENTRY);
	timg_read(&T, p, b);
	ck_assert_int_eq(b[off + offsetof(struct ef_dirent, type)], 8); /* DT_REG */
	assert_tree_ok(true);
}
END_TEST

START_TEST(long_symlink_without_target)
{
	struct ef_inode in;
	timg_inode(&T, T.ls, &in);
	ck_assert_uint_eq(in.u.map.hdr.count, 1);
	in.u.map.hdr.count = 0; /* its block is now unowned, the link unreadable */
	in.blocks = 0;
	timg_set_inode(&T, T.ls, &in);
	expect_repair(FP_INODE_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(entry_key_not_its_hash)
{
	size_t off;
	uint64_t p = find_entry(T.d, "f7", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	b[off] ^= 1; /* the key's low bit */
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(duplicate_entry)
{
	size_t off;
	uint64_t p = find_entry(T.e, "g", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_dir_bucket bh;
	memcpy(&bh, b, sizeof(bh));
	size_t len = sizeof(struct ef_dirent) + 1;
	memmove(b + off + len, b + off, sizeof(bh) + bh.used - off);
	bh.used += (uint32_t)len;
	bh.count++;
	memcpy(b, &bh, sizeof(bh));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_DUP);
	assert_tree_ok(true);
}
END_TEST

START_TEST(dotdot_wrong)
{
	uint64_t p = timg_pblk(&T, T.e, 0);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_dir_head h;
	memcpy(&h, b, sizeof(h));
	ck_assert_uint_eq(h.parent, T.d);
	h.parent = FS_ROOT_INO;
	memcpy(b, &h, sizeof(h));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_DOT);
	timg_read(&T, p, b);
	memcpy(&h, b, sizeof(h));
	ck_assert_uint_eq(h.parent, T.d);
}
END_TEST

START_TEST(hash_table_slot_out_of_range)
{
	uint64_t p = timg_pblk(&T, T.e, 1);
	uint8_t b[BS];
	timg_read(&T, p, b);
	uint32_t bad = 999;
	memcpy(b + sizeof(struct ef_dir_table), &bad, sizeof(bad));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_HASH); /* /d/e is cleared, g with it */
	assert_tree_ok(true);
}
END_TEST

START_TEST(bucket_depth_wrong)
{
	size_t off;
	uint64_t p = find_entry(T.d, "f7", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_dir_bucket bh;
	memcpy(&bh, b, sizeof(bh));
	ck_assert_uint_ge(bh.local_depth, 1); /* /d has split */
	bh.local_depth = (uint16_t)(bh.local_depth + 3);
	memcpy(b, &bh, sizeof(bh));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_HASH);
	timg_read(&T, p, b);
	struct ef_dir_bucket now;
	memcpy(&now, b, sizeof(now));
	ck_assert_uint_eq(now.local_depth, bh.local_depth - 3);
	ck_assert_uint_eq(now.count, bh.count); /* no entry lost */
	assert_tree_ok(true);
}
END_TEST

START_TEST(bucket_block_missing)
{
	/* Unmap /d/e's only bucket: the directory cannot be used; with -y it
	   is cleared and g, which only it named, comes back as /#g. */
	struct ef_inode in;
	timg_inode(&T, T.e, &in);
	ck_assert_uint_eq(in.u.map.hdr.depth, 0);
	int k = -1;
	for (int i = 0; i < in.u.map.hdr.count; i++)
		if (in.u.map.ext[i].lblk == EF_DIR_BUCKET_LBLK)
			k = i;
	ck_assert_int_ge(k, 0);
	in.u.map.ext[k] = in.u.map.ext[in.u.map.hdr.count - 1];
	in.u.map.hdr.count--;
	in.blocks--;
	timg_set_inode(&T, T.e, &in);
	expect_repair(FP_DIR_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(bucket_block_damaged)
{
	size_t off;
	uint64_t p = find_entry(T.e, "g", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	b[off + 20] ^= 0x40; /* checksum fails */
	timg_write(&T, p, b);
	expect_repair(FP_DIR_BAD);
	assert_tree_ok(true);
}
END_TEST

START_TEST(entry_count_in_head_wrong)
{
	uint64_t p = timg_pblk(&T, T.d, 0);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_dir_head h;
	memcpy(&h, b, sizeof(h));
	h.nentries += 5;
	memcpy(b, &h, sizeof(h));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	expect_repair(FP_DIR_BAD);
}
END_TEST

START_TEST(unreachable_inode)
{
	/* Take "g" out of /d/e by hand: the inode stays, nothing names it. */
	size_t off;
	uint64_t p = find_entry(T.e, "g", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_dir_bucket bh;
	memcpy(&bh, b, sizeof(bh));
	size_t len = sizeof(struct ef_dirent) + 1;
	memmove(b + off, b + off + len, sizeof(bh) + bh.used - off - len);
	bh.used -= (uint32_t)len;
	bh.count--;
	memcpy(b, &bh, sizeof(bh));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	uint64_t hp = timg_pblk(&T, T.e, 0);
	struct ef_dir_head h;
	timg_read(&T, hp, b);
	memcpy(&h, b, sizeof(h));
	h.nentries--;
	memcpy(b, &h, sizeof(h));
	timg_write(&T, hp, b);
	timg_reseal(&T, hp);
	expect_repair(FP_UNREACHABLE);
	ck_assert(timg_bit(&T, true, T.g));
	assert_tree_ok(true);
	/* Reconnected into /lost+found as #<ino>, with its data. */
	struct fs *fs;
	char err[256], name[32], buf[BS];
	struct fs_mount_opts mo = {0};
	ck_assert_int_eq(fs_mount(T.path, &mo, &fs, err, sizeof(err)), 0);
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)T.g);
	fs_attr_t st;
	ck_assert_int_eq(fs_lookup(fs, T.lf, name, &st), 0);
	ck_assert_uint_eq(st.st_ino, T.g);
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_int_eq(fs_read(fs, T.g, buf, BS, 0), BS);
	ck_assert_int_eq(buf[0], 'g');
	fs_forget(fs, T.g, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

START_TEST(unreachable_directory_comes_back_with_its_tree)
{
	/* Take "e" out of /d: e and g below it are lost; e comes back as /#e. */
	size_t off;
	uint64_t p = find_entry(T.d, "e", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_dir_bucket bh;
	memcpy(&bh, b, sizeof(bh));
	size_t len = sizeof(struct ef_dirent) + 1;
	memmove(b + off, b + off + len, sizeof(bh) + bh.used - off - len);
	bh.used -= (uint32_t)len;
	bh.count--;
	memcpy(b, &bh, sizeof(bh));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	uint64_t hp = timg_pblk(&T, T.d, 0);
	struct ef_dir_head h;
	timg_read(&T, hp, b);
	memcpy(&h, b, sizeof(h));
	h.nentries--;
	memcpy(b, &h, sizeof(h));
	timg_write(&T, hp, b);
	timg_reseal(&T, hp);
	expect_repair(FP_UNREACHABLE);
	struct fs *fs;
	char err[256], name[32], buf[BS];
	struct fs_mount_opts mo = {0};
	ck_assert_int_eq(fs_mount(T.path, &mo, &fs, err, sizeof(err)), 0);
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)T.e);
	fs_attr_t st;
	ck_assert_int_eq(fs_lookup(fs, T.lf, name, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(fs_lookup(fs, T.e, "..", &st), 0);
	ck_assert_uint_eq(st.st_ino, T.lf);
	ck_assert_int_eq(fs_lookup(fs, T.e, "g", &st), 0);
	ck_assert_int_eq(fs_read(fs, T.g, buf, BS, 0), BS);
	ck_assert_int_eq(buf[0], 'g');
	fs_forget(fs, T.g, 1);
	fs_forget(fs, T.e, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

START_TEST(orphan_list_names_free_inode)
{
	struct ef_super s = timg_super(&T);
	s.orphan_head = s.ninodes - 3;
	timg_set_super(&T, &s);
	expect_repair(FP_ORPHAN);
	ck_assert_uint_eq(timg_super(&T).orphan_head, 0);
}
END_TEST

START_TEST(orphan_is_freed_like_the_mount_would)
{
	/* An unlinked-but-open file at a crash: nlink 0, on the list, no name. */
	size_t off;
	uint64_t p = find_entry(T.e, "g", &off);
	uint8_t b[BS];
	timg_read(&T, p, b);
	struct ef_dir_bucket bh;
	memcpy(&bh, b, sizeof(bh));
	size_t len = sizeof(struct ef_dirent) + 1;
	memmove(b + off, b + off + len, sizeof(bh) + bh.used - off - len);
	bh.used -= (uint32_t)len;
	bh.count--;
	memcpy(b, &bh, sizeof(bh));
	timg_write(&T, p, b);
	timg_reseal(&T, p);
	uint64_t hp = timg_pblk(&T, T.e, 0);
	struct ef_dir_head h;
	timg_read(&T, hp, b);
	memcpy(&h, b, sizeof(h));
	h.nentries--;
	memcpy(b, &h, sizeof(h));
	timg_write(&T, hp, b);
	timg_reseal(&T, hp);
	struct ef_inode in;
	timg_inode(&T, T.g, &in);
	in.nlink = 0;
	timg_set_inode(&T, T.g, &in);
	struct ef_super s = timg_super(&T);
	s.orphan_head = T.g;
	timg_set_super(&T, &s);

	struct fsck_result r;
	int c = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(c == 0, "-n: a live orphan is not an error: exit %d %s", c,
		      timg_findings(&r));
	c = timg_fsck(T.path, FSCK_REPAIR, &r);
	ck_assert_msg(c == 0 && r.orphans_freed == 1, "-y: exit %d, freed %llu %s", c,
		      (unsigned long long)r.orphans_freed, timg_findings(&r));
	ck_assert(!timg_bit(&T, true, T.g));
	ck_assert_uint_eq(timg_super(&T).orphan_head, 0);
	ck_assert_int_eq(timg_fsck(T.path, FSCK_CHECK, &r), 0);
}
END_TEST

START_TEST(free_counts_wrong_on_clean_fs)
{
	struct ef_super s = timg_super(&T);
	ck_assert(s.state & EF_STATE_CLEAN);
	s.free_blocks += 17;
	timg_set_super(&T, &s);
	expect_repair(FP_FREE_COUNT);
	ck_assert_uint_eq(timg_super(&T).free_blocks, s.free_blocks - 17);
}
END_TEST

START_TEST(error_state_recorded)
{
	struct ef_super s = timg_super(&T);
	s.state |= EF_STATE_ERROR;
	timg_set_super(&T, &s);
	expect_repair(FP_SB_STATE);
	ck_assert(!(timg_super(&T).state & EF_STATE_ERROR));
}
END_TEST

START_TEST(journal_superblock_damaged)
{
	struct ef_super s = timg_super(&T);
	uint8_t b[BS];
	timg_read(&T, s.journal_start, b);
	b[30] ^= 1;
	timg_write(&T, s.journal_start, b);
	expect_repair(FP_JOURNAL_BAD);
}
END_TEST

/* A committed transaction left in the log (a crash before checkpoint):
   -n checks the replayed view and writes nothing, -y replays it. */
START_TEST(journal_committed_transaction_replayed)
{
	struct ef_super s = timg_super(&T);
	uint8_t js_blk[BS], b[BS], img[BS];
	timg_read(&T, s.journal_start, js_blk);
	struct ef_jsuper js;
	memcpy(&js, js_blk, sizeof(js));
	uint64_t log_first = s.journal_start + 1, log_end = s.journal_start + s.journal_len;
	uint64_t p0 = js.start, p1 = p0 + 1 < log_end ? p0 + 1 : log_first;
	uint64_t p2 = p1 + 1 < log_end ? p1 + 1 : log_first;

	/* The transaction: a's inode with mtime changed. */
	uint64_t iblk = timg_iblock(&T, T.a);
	timg_read(&T, iblk, img);
	struct ef_inode in;
	size_t ioff = sizeof(struct ef_blkhdr) + (T.a % EF_INODES_PER_BLOCK(BS)) * EF_INODE_SIZE;
	memcpy(&in, img + ioff, sizeof(in));
	in.mtime.sec = 123456789;
	memcpy(img + ioff, &in, sizeof(in));
	meta_seal(img, BS, EF_MAGIC_ITABLE, iblk);

	memset(b, 0, BS);
	struct ef_jdesc d = {.seq = js.seq, .count = 1};
	memcpy(b, &d, sizeof(d));
	memcpy(b + sizeof(d), &iblk, sizeof(iblk));
	meta_seal(b, BS, EF_MAGIC_JDESC, p0);
	timg_write(&T, p0, b);
	uint32_t crc = crc32c(0, b, BS);
	timg_write(&T, p1, img);
	crc = crc32c(crc, img, BS);
	memset(b, 0, BS);
	struct ef_jcommit c = {.seq = js.seq, .nblocks = 2, .tx_crc = crc};
	memcpy(b, &c, sizeof(c));
	meta_seal(b, BS, EF_MAGIC_JCOMMIT, p2);
	timg_write(&T, p2, b);

	struct fsck_result r;
	int code = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(code == 0 && r.found[FP_JOURNAL] == 1, "-n: exit %d %s", code,
		      timg_findings(&r));
	struct ef_inode now;
	timg_inode(&T, T.a, &now);
	ck_assert_int_ne(now.mtime.sec, 123456789); /* -n wrote nothing */
	code = timg_fsck(T.path, FSCK_REPAIR, &r);
	ck_assert_msg(code == 0 && r.fixed[FP_JOURNAL] == 1, "-y: exit %d %s", code,
		      timg_findings(&r));
	timg_inode(&T, T.a, &now);
	ck_assert_int_eq(now.mtime.sec, 123456789);
	code = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(code == 0 && r.found[FP_JOURNAL] == 0, "after -y: exit %d %s", code,
		      timg_findings(&r));
}
END_TEST

static struct fs *mount_t(void)
{
	struct fs *fs;
	char err[256];
	struct fs_mount_opts mo = {0};
	ck_assert_msg(fs_mount(T.path, &mo, &fs, err, sizeof(err)) == 0, "mount: %s", err);
	return fs;
}

static int count_entry(void *arg, const char *name, const fs_attr_t *attr, off_t next)
{
	(void)attr, (void)next;
	if (strcmp(name, ".") && strcmp(name, ".."))
		++*(int *)arg;
	return 0;
}

/* The inode named lost+found in the root, checked to be a directory. */
static uint64_t lost_found(struct fs *fs)
{
	fs_attr_t st;
	ck_assert_int_eq(fs_lookup(fs, FS_ROOT_INO, "lost+found", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	fs_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

/* ino is /lost+found/#ino; its first byte (a regular file) is want. */
static void assert_reconnected(struct fs *fs, uint64_t lf, uint64_t ino, int want)
{
	char name[32], buf[BS];
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)ino);
	fs_attr_t st;
	ck_assert_msg(fs_lookup(fs, lf, name, &st) == 0, "no /lost+found/%s", name);
	ck_assert_uint_eq(st.st_ino, ino);
	if (want >= 0) {
		ck_assert_int_eq(fs_read(fs, ino, buf, BS, 0), BS);
		ck_assert_int_eq(buf[0], want);
	}
	fs_forget(fs, ino, 1);
}

/* An orphan link out of range makes the mount refuse the inode: -y clears the link. */
START_TEST(orphan_link_out_of_range)
{
	struct ef_inode in;
	timg_inode(&T, T.g, &in);
	in.orphan_next = timg_super(&T).ninodes + 5;
	timg_set_inode(&T, T.g, &in);
	expect_repair(FP_INODE_BAD);
	timg_inode(&T, T.g, &in);
	ck_assert_uint_eq(in.orphan_next, 0);
	assert_tree_ok(true);
}
END_TEST

/* A root that is not a directory: -y makes a new, empty one and a new
   /lost+found, where everything the old root named comes back. */
START_TEST(root_not_a_directory_is_made_anew)
{
	struct ef_inode in;
	timg_inode(&T, FS_ROOT_INO, &in);
	in.mode = 0170755;
	timg_set_inode(&T, FS_ROOT_INO, &in);
	expect_repair(FP_ROOT);
	struct fs *fs = mount_t();
	uint64_t lf = lost_found(fs);
	assert_reconnected(fs, lf, T.a, 'a');
	assert_reconnected(fs, lf, T.d, -1);
	assert_reconnected(fs, lf, T.lf, -1); /* the old one, as e2fsck leaves it */
	fs_attr_t st;
	ck_assert_int_eq(fs_lookup(fs, T.e, "g", &st), 0); /* /d's tree came back with it */
	fs_forget(fs, st.st_ino, 1);
	ck_assert_int_eq(fs_getattr(fs, T.a, &st), 0);
	ck_assert_uint_eq(st.st_nlink, 1); /* a and b: two names lost, one found */
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* The root's head block unreadable: rebuilt from its buckets, every name kept. */
START_TEST(root_head_damaged_is_rebuilt)
{
	uint64_t hp = timg_pblk(&T, FS_ROOT_INO, 0);
	uint8_t b[BS];
	timg_read(&T, hp, b);
	memset(b + 16, 0xa5, 64);
	timg_write(&T, hp, b);
	expect_repair(FP_DIR_BAD);
	assert_tree_ok(true);
	struct fs *fs = mount_t();
	ck_assert_uint_eq(lost_found(fs), T.lf);
	fs_attr_t st;
	ck_assert_int_eq(fs_lookup(fs, FS_ROOT_INO, "b", &st), 0);
	ck_assert_uint_eq(st.st_ino, T.a);
	fs_forget(fs, T.a, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* A directory whose table is gone keeps its names (rebuilt), and the
   daemon can grow it again afterwards. */
START_TEST(directory_table_damaged_is_rebuilt)
{
	uint64_t tp = timg_pblk(&T, T.d, 1);
	uint8_t b[BS];
	memset(b, 0, sizeof(b));
	timg_write(&T, tp, b);
	expect_repair(FP_DIR_BAD);
	struct fs *fs = mount_t();
	int n = 0;
	ck_assert_int_eq(fs_readdir(fs, T.d, 0, count_entry, &n), 0);
	ck_assert_int_eq(n, NFILES + 1);
	fs_attr_t st;
	for (int i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof(name), "new%d", i);
		ck_assert_int_eq(fs_create(fs, T.d, name, S_IFREG | 0644, O_RDWR, 0, 0, &st), 0);
		ck_assert_int_eq(fs_release(fs, st.st_ino), 0);
	}
	ck_assert_int_eq(fs_unmount(fs), 0);
	struct fsck_result r;
	ck_assert_msg(timg_fsck(T.path, FSCK_CHECK, &r) == 0, "%s", timg_findings(&r));
}
END_TEST

/* An image without /lost+found is consistent (information for -n); -y makes it. */
START_TEST(lost_found_missing_is_made)
{
	struct fs *fs = mount_t();
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "lost+found"), 0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	struct fsck_result r;
	int c = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(c == 0 && r.found[FP_LF_MISSING] == 1, "-n: exit %d %s", c,
		      timg_findings(&r));
	c = timg_fsck(T.path, FSCK_REPAIR, &r);
	ck_assert_msg(c == 0 && r.fixed[FP_LF_MISSING] == 1, "-y: exit %d %s", c,
		      timg_findings(&r));
	c = timg_fsck(T.path, FSCK_CHECK, &r);
	ck_assert_msg(c == 0 && !r.found[FP_LF_MISSING], "then -n: exit %d %s", c,
		      timg_findings(&r));
	fs = mount_t();
	fs_attr_t st;
	uint64_t lf = lost_found(fs);
	ck_assert_int_eq(fs_getattr(fs, lf, &st), 0);
	ck_assert_uint_eq(st.st_mode, S_IFDIR | 0700);
	ck_assert_uint_eq(st.st_nlink, 2);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* A file named lost+found is unlinked (it comes back inside the new one). */
START_TEST(lost_found_not_a_directory)
{
	struct fs *fs = mount_t();
	fs_attr_t st;
	ck_assert_int_eq(fs_rmdir(fs, FS_ROOT_INO, "lost+found"), 0);
	ck_assert_int_eq(
	    fs_create(fs, FS_ROOT_INO, "lost+found", S_IFREG | 0644, O_RDWR, 0, 0, &st), 0);
	uint64_t file = st.st_ino;
	char buf[BS];
	memset(buf, 'L', sizeof(buf));
	ck_assert_int_eq(fs_write(fs, file, buf, BS, 0), BS);
	ck_assert_int_eq(fs_release(fs, file), 0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	expect_repair(FP_LF_NOT_DIR);
	fs = mount_t();
	assert_reconnected(fs, lost_found(fs), file, 'L');
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

/* A directory lost with all its names: each of its files is reconnected,
   /lost+found growing past one bucket as it must. */
START_TEST(many_files_reconnected_grow_lost_found)
{
	struct ef_inode in;
	timg_inode(&T, T.d, &in);
	in.mode = 0170755;
	timg_set_inode(&T, T.d, &in);
	expect_repair(FP_INODE_BAD);
	struct fs *fs = mount_t();
	int n = 0;
	ck_assert_int_eq(fs_readdir(fs, T.lf, 0, count_entry, &n), 0);
	ck_assert_int_eq(n, NFILES + 1); /* f0.. and e */
	assert_reconnected(fs, T.lf, T.x, -1);
	assert_reconnected(fs, T.lf, T.e, -1);
	fs_attr_t st;
	ck_assert_int_eq(fs_lookup(fs, T.e, "g", &st), 0);
	fs_forget(fs, st.st_ino, 1);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

START_TEST(image_in_use_is_refused)
{
	struct fs *fs;
	char err[256];
	struct fs_mount_opts mo = {0};
	ck_assert_int_eq(fs_mount(T.path, &mo, &fs, err, sizeof(err)), 0);
	struct fsck_result r;
	ck_assert_int_eq(timg_fsck(T.path, FSCK_REPAIR, &r), FSCK_EXIT_OPERATIONAL);
	ck_assert_int_eq(fs_unmount(fs), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fsck_repair");
	TCase *tc = tcase_create("repairs");
	tcase_add_unchecked_fixture(tc, make_base, drop_base);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, clean_image_is_clean);
	tcase_add_test(tc, clean_at_every_block_size);
	tcase_add_test(tc, primary_superblock_damaged);
	tcase_add_test(tc, backup_superblock_damaged);
	tcase_add_test(tc, no_superblock_is_operational_error);
	tcase_add_test(tc, block_in_use_marked_free);
	tcase_add_test(tc, free_block_marked_in_use);
	tcase_add_test(tc, inode_in_use_marked_free);
	tcase_add_test(tc, free_inode_marked_in_use);
	tcase_add_test(tc, bitmap_block_checksum);
	tcase_add_test(tc, link_count_wrong);
	tcase_add_test(tc, directory_link_count_wrong);
	tcase_add_test(tc, block_count_wrong);
	tcase_add_test(tc, extent_outside_data_area);
	tcase_add_test(tc, block_shared_by_two_files);
	tcase_add_test(tc, extent_root_damaged);
	tcase_add_test(tc, extent_index_block_damaged);
	tcase_add_test(tc, inode_with_impossible_mode);
	tcase_add_test(tc, inode_table_block_checksum);
	tcase_add_test(tc, xattr_block_damaged);
	tcase_add_test(tc, entry_names_free_inode);
	tcase_add_test(tc, entry_type_wrong);
	tcase_add_test(tc, long_symlink_without_target);
	tcase_add_test(tc, entry_key_not_its_hash);
	tcase_add_test(tc, duplicate_entry);
	tcase_add_test(tc, dotdot_wrong);
	tcase_add_test(tc, hash_table_slot_out_of_range);
	tcase_add_test(tc, bucket_depth_wrong);
	tcase_add_test(tc, bucket_block_missing);
	tcase_add_test(tc, bucket_block_damaged);
	tcase_add_test(tc, entry_count_in_head_wrong);
	tcase_add_test(tc, unreachable_inode);
	tcase_add_test(tc, unreachable_directory_comes_back_with_its_tree);
	tcase_add_test(tc, orphan_list_names_free_inode);
	tcase_add_test(tc, orphan_is_freed_like_the_mount_would);
	tcase_add_test(tc, free_counts_wrong_on_clean_fs);
	tcase_add_test(tc, error_state_recorded);
	tcase_add_test(tc, journal_superblock_damaged);
	tcase_add_test(tc, journal_committed_transaction_replayed);
	tcase_add_test(tc, orphan_link_out_of_range);
	tcase_add_test(tc, root_not_a_directory_is_made_anew);
	tcase_add_test(tc, root_head_damaged_is_rebuilt);
	tcase_add_test(tc, directory_table_damaged_is_rebuilt);
	tcase_add_test(tc, lost_found_missing_is_made);
	tcase_add_test(tc, lost_found_not_a_directory);
	tcase_add_test(tc, many_files_reconnected_grow_lost_found);
	tcase_add_test(tc, image_in_use_is_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
