/*
 * fsck_testlib.c: images and raw block access for the fsck tests
 * (fsck_testlib.h). Content goes through fs/ops/fs.h; damage goes straight to
 * the image file.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "fsck_testlib.h"
#include "namespace.h"
#include "storage.h"

#define TRY(x)                                                                                     \
	do {                                                                                       \
		long _r = (long)(x);                                                               \
		if (_r < 0) {                                                                      \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x,                 \
				strerror((int)-_r));                                               \
			return (int)_r;                                                            \
		}                                                                                  \
	} while (0)

static int mkfile(struct fs *fs, uint64_t parent, const char *name, size_t nblocks, uint32_t bs,
		  char fill, uint64_t *ino)
{
	fs_attr_t st;
	TRY(fs_create(fs, parent, name, S_IFREG | 0644, O_RDWR, 0, 0, &st));
	*ino = st.st_ino;
	char *buf = malloc(bs);
	for (size_t i = 0; i < nblocks; i++) {
		memset(buf, fill + (char)i, bs);
		ssize_t n = fs_write(fs, *ino, buf, bs, (off_t)(i * bs));
		if (n != (ssize_t)bs) {
			free(buf);
			return n < 0 ? (int)n : -EIO;
		}
	}
	free(buf);
	TRY(fs_release(fs, *ino));
	return 0;
}

int timg_make(struct timg *t, const char *path, uint32_t bs, uint64_t size, int nfiles)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->bs = bs;
	unlink(path);
	int fd = open(path, O_CREAT | O_RDWR, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -errno;
	close(fd);
	char err[256] = "";
	struct format_opts o = {.size_bytes = size, .block_size = bs, .force = true};
	int rc = storage_format(path, &o, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "storage_format: %s\n", err);
		return rc;
	}
	struct storage *st;
	if ((rc = storage_open(path, false, &st, err, sizeof(err))) < 0) {
		fprintf(stderr, "storage_open: %s\n", err);
		return rc;
	}
	rc = fs_format_root(st, 0, 0);
	int rc2 = storage_close(st);
	TRY(rc);
	TRY(rc2);

	struct fs *fs;
	struct fs_mount_opts mo = {0};
	if ((rc = fs_mount(path, &mo, &fs, err, sizeof(err))) < 0) {
		fprintf(stderr, "fs_mount: %s\n", err);
		return rc;
	}
	fs_attr_t a;
	uint64_t unused;
	TRY(fs_mkdir(fs, FS_ROOT_INO, "lost+found", 0700, 0, 0, &a)); /* as mkfs.eiocbfs makes it */
	t->lf = a.st_ino;
	TRY(mkfile(fs, FS_ROOT_INO, "a", 3, bs, 'a', &t->a));
	TRY(fs_setxattr(fs, t->a, "user.k", "value", 5, 0));
	TRY(fs_link(fs, t->a, FS_ROOT_INO, "b", &a));
	TRY(fs_symlink(fs, FS_ROOT_INO, "s", "a", 0, 0, &a));
	t->s = a.st_ino;
	char target[201];
	memset(target, 'x', 200);
	target[200] = '\0';
	TRY(fs_symlink(fs, FS_ROOT_INO, "ls", target, 0, 0, &a));
	t->ls = a.st_ino;
	TRY(fs_create(fs, FS_ROOT_INO, "sp", S_IFREG | 0644, O_RDWR, 0, 0, &a));
	t->sp = a.st_ino;
	char *buf = calloc(1, bs);
	memset(buf, 's', bs);
	TRY(fs_write(fs, t->sp, buf, bs, (off_t)100 * bs));
	TRY(fs_release(fs, t->sp));
	/* Interleaved writes: each file gets many one-block extents. */
	TRY(fs_create(fs, FS_ROOT_INO, "frag", S_IFREG | 0644, O_RDWR, 0, 0, &a));
	t->frag = a.st_ino;
	TRY(fs_create(fs, FS_ROOT_INO, "frag2", S_IFREG | 0644, O_RDWR, 0, 0, &a));
	t->frag2 = a.st_ino;
	for (int i = 0; i < 24; i++) {
		memset(buf, 'f' + i, bs);
		TRY(fs_write(fs, t->frag, buf, bs, (off_t)i * bs));
		TRY(fs_write(fs, t->frag2, buf, bs, (off_t)i * bs));
		TRY(fs_fsync(fs, t->frag, false));
	}
	TRY(fs_release(fs, t->frag));
	TRY(fs_release(fs, t->frag2));
	free(buf);
	TRY(fs_mknod(fs, FS_ROOT_INO, "fifo", S_IFIFO | 0644, 0, 0, 0, &a));
	t->fifo = a.st_ino;
	TRY(fs_mkdir(fs, FS_ROOT_INO, "d", 0755, 0, 0, &a));
	t->d = a.st_ino;
	for (int i = 0; i < nfiles; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d", i);
		TRY(fs_create(fs, t->d, name, S_IFREG | 0644, O_RDWR, 0, 0, &a));
		TRY(fs_release(fs, a.st_ino));
		if (i == 0)
			t->x = a.st_ino;
	}
	TRY(fs_mkdir(fs, t->d, "e", 0755, 0, 0, &a));
	t->e = a.st_ino;
	TRY(mkfile(fs, t->e, "g", 1, bs, 'g', &t->g));
	(void)unused;
	TRY(fs_unmount(fs));
	return 0;
}

int timg_fsck(const char *path, enum fsck_mode m, struct fsck_result *r)
{
	struct fsck_opts o = {.mode = m};
	char err[256];
	int code = fsck_run(path, &o, r, err, sizeof(err));
	if (code == FSCK_EXIT_OPERATIONAL)
		fprintf(stderr, "fsck: %s\n", err);
	return code;
}

const char *timg_findings(const struct fsck_result *r)
{
	static __thread char buf[1024];
	size_t n = 0;
	buf[0] = '\0';
	for (int p = 0; p < FP_NR && n < sizeof(buf) - 80; p++)
		if (r->found[p])
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "[%s: %llu/%llu] ",
					      fsck_problem_name(p), (unsigned long long)r->fixed[p],
					      (unsigned long long)r->found[p]);
	return buf;
}

void timg_read(const struct timg *t, uint64_t blk, void *buf)
{
	int fd = open(t->path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, t->bs, (off_t)(blk * t->bs)), (ssize_t)t->bs);
	close(fd);
}

void timg_write(const struct timg *t, uint64_t blk, const void *buf)
{
	int fd = open(t->path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, t->bs, (off_t)(blk * t->bs)), (ssize_t)t->bs);
	close(fd);
}

void timg_reseal(const struct timg *t, uint64_t blk)
{
	uint8_t *b = malloc(t->bs);
	timg_read(t, blk, b);
	struct ef_blkhdr h;
	memcpy(&h, b, sizeof(h));
	meta_seal(b, t->bs, h.magic, blk);
	timg_write(t, blk, b);
	free(b);
}

struct ef_super timg_super(const struct timg *t)
{
	uint8_t *b = malloc(t->bs);
	struct ef_super s;
	timg_read(t, 0, b);
	memcpy(&s, b, sizeof(s));
	free(b);
	return s;
}

void timg_set_super(const struct timg *t, const struct ef_super *sb)
{
	uint8_t *b = malloc(t->bs);
	timg_read(t, 0, b);
	memcpy(b, sb, sizeof(*sb));
	meta_seal(b, t->bs, EF_MAGIC_SUPER, 0);
	timg_write(t, 0, b);
	free(b);
}

uint64_t timg_iblock(const struct timg *t, uint64_t ino)
{
	struct ef_super s = timg_super(t);
	return s.itable_start + ino / EF_INODES_PER_BLOCK(t->bs);
}

void timg_inode(const struct timg *t, uint64_t ino, struct ef_inode *in)
{
	uint8_t *b = malloc(t->bs);
	timg_read(t, timg_iblock(t, ino), b);
	memcpy(in,
	       b + sizeof(struct ef_blkhdr) + (ino % EF_INODES_PER_BLOCK(t->bs)) * EF_INODE_SIZE,
	       sizeof(*in));
	free(b);
}

void timg_set_inode(const struct timg *t, uint64_t ino, const struct ef_inode *in)
{
	uint8_t *b = malloc(t->bs);
	uint64_t blk = timg_iblock(t, ino);
	timg_read(t, blk, b);
	memcpy(b + sizeof(struct ef_blkhdr) + (ino % EF_INODES_PER_BLOCK(t->bs)) * EF_INODE_SIZE,
	       in, sizeof(*in));
	meta_seal(b, t->bs, EF_MAGIC_ITABLE, blk);
	timg_write(t, blk, b);
	free(b);
}

uint64_t timg_pblk(const struct timg *t, uint64_t ino, uint64_t lblk)
{
	struct ef_inode in;
	timg_inode(t, ino, &in);
	struct ef_extent_hdr h = in.u.map.hdr;
	struct ef_extent e[EF_INODE_EXTENTS];
	memcpy(e, in.u.map.ext, sizeof(e));
	uint8_t *b = malloc(t->bs);
	struct ef_extent *ext = e;
	for (;;) {
		int pick = -1;
		for (int i = 0; i < h.count; i++)
			if (ext[i].lblk <= lblk)
				pick = i;
		if (pick < 0)
			break;
		if (h.depth == 0) {
			uint64_t r = lblk < ext[pick].lblk + ext[pick].len
					 ? ext[pick].pblk + (lblk - ext[pick].lblk)
					 : 0;
			free(b);
			return r;
		}
		timg_read(t, ext[pick].pblk, b);
		memcpy(&h, b + sizeof(struct ef_blkhdr), sizeof(h));
		ext = (struct ef_extent *)(b + sizeof(struct ef_blkhdr) + sizeof(h));
	}
	free(b);
	return 0;
}

static void bit_loc(const struct timg *t, bool ib, uint64_t item, uint64_t *blk, uint64_t *bit)
{
	struct ef_super s = timg_super(t);
	uint64_t bits = EF_BITMAP_BITS(t->bs);
	*blk = (ib ? s.ibitmap_start : s.bbitmap_start) + item / bits;
	*bit = item % bits;
}

bool timg_bit(const struct timg *t, bool ib, uint64_t item)
{
	uint64_t blk, bit;
	bit_loc(t, ib, item, &blk, &bit);
	uint8_t *b = malloc(t->bs);
	timg_read(t, blk, b);
	bool on = b[sizeof(struct ef_blkhdr) + bit / 8] & (1u << (bit % 8));
	free(b);
	return on;
}

void timg_set_bit(const struct timg *t, bool ib, uint64_t item, bool on)
{
	uint64_t blk, bit;
	bit_loc(t, ib, item, &blk, &bit);
	uint8_t *b = malloc(t->bs);
	timg_read(t, blk, b);
	uint8_t *p = &b[sizeof(struct ef_blkhdr) + bit / 8];
	*p = on ? (uint8_t)(*p | (1u << (bit % 8))) : (uint8_t)(*p & ~(1u << (bit % 8)));
	meta_seal(b, t->bs, ib ? EF_MAGIC_IBITMAP : EF_MAGIC_BBITMAP, blk);
	timg_write(t, blk, b);
	free(b);
}
