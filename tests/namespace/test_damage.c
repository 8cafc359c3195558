/*
 * test_damage.c: damaged namespace metadata never crashes the filesystem.
 * A seeded mutation test: an image with a populated tree (a multi-bucket
 * directory, a deep extent tree, xattrs, a long symlink) is copied, a few
 * bytes of its inode table, directory, extent or xattr blocks are changed
 * and the block's checksum is sealed again (so the damage reaches the
 * parsers instead of stopping at the checksum), then the copy is mounted
 * and walked: lookups, getattr, readdir, read, readlink, listxattr, and a
 * create/unlink in every directory. Errors are fine; crashes, sanitizer
 * reports and hangs (the test's timeout) are not.
 */
#include "nstest.h"

#define MB (1024 * 1024ull)
enum { BS = 1024 };
static int ROUNDS = 60;

static struct nsimg base;
static uint8_t *pristine;
static size_t image_size;

static void build_base(void)
{
	nsimg_make(&base, "base.img", 4 * MB, BS, 512);
	struct fs *fs = nsimg_mount(&base);
	uint64_t d = ns_mkdir(fs, FS_ROOT_INO, "dir");
	char name[32];
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "entry-%03d", i);
		fs_attr_t a;
		ck_assert_int_eq(fs_mknod(fs, d, name, S_IFREG | 0644, 0, 0, 0, &a), 0);
		fs_forget(fs, a.st_ino, 1);
	}
	uint64_t f = ns_creat(fs, FS_ROOT_INO, "sparse");
	char blk[BS];
	for (int i = 0; i < 120; i++) {
		memset(blk, i, sizeof(blk));
		ck_assert_int_eq(fs_write(fs, f, blk, sizeof(blk), (off_t)i * 2 * BS), sizeof(blk));
	}
	ck_assert_int_eq(fs_setxattr(fs, f, "user.k", "value", 5, 0), 0);
	char target[600];
	memset(target, 'L', sizeof(target) - 1);
	target[sizeof(target) - 1] = 0;
	fs_attr_t a;
	ck_assert_int_eq(fs_symlink(fs, d, "longlink", target, 0, 0, &a), 0);
	ck_assert_int_eq(fs_symlink(fs, d, "shortlink", "x/y", 0, 0, &a), 0);
	ck_assert_int_eq(fs_unmount(fs), 0);
	FILE *fp = fopen(base.path, "rb");
	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	image_size = (size_t)ftell(fp);
	rewind(fp);
	pristine = malloc(image_size);
	ck_assert_uint_eq(fread(pristine, 1, image_size, fp), image_size);
	fclose(fp);
}

struct walk {
	struct fs *fs;
	int budget;
	char names[64][FS_NAME_MAX + 1];
	int n;
};

static int gather(void *arg, const char *name, const fs_attr_t *a, off_t next)
{
	struct walk *w = arg;
	if (w->n == 64 || --w->budget < 0)
		return 1;
	snprintf(w->names[w->n++], FS_NAME_MAX + 1, "%s", name);
	return 0;
}

static void walk_dir(struct fs *fs, uint64_t dir, int depth, int *budget)
{
	if (depth > 4 || *budget <= 0)
		return;
	struct walk *w = calloc(1, sizeof(*w));
	w->fs = fs;
	w->budget = *budget;
	fs_readdir(fs, dir, 0, gather, w);
	*budget = w->budget;
	fs_attr_t a;
	if (fs_create(fs, dir, "new-file", 0644, O_RDWR, 0, 0, &a) == 0) {
		fs_write(fs, a.st_ino, "abc", 3, 0);
		fs_release(fs, a.st_ino);
		fs_forget(fs, a.st_ino, 1);
		fs_unlink(fs, dir, "new-file");
	}
	for (int i = 0; i < w->n; i++) {
		if (!strcmp(w->names[i], ".") || !strcmp(w->names[i], ".."))
			continue;
		if (fs_lookup(fs, dir, w->names[i], &a) < 0)
			continue;
		char buf[4096];
		if (S_ISDIR(a.st_mode)) {
			walk_dir(fs, a.st_ino, depth + 1, budget);
		} else if (S_ISREG(a.st_mode)) {
			for (off_t off = 0; off < a.st_size && off < 512 * 1024; off += sizeof(buf))
				fs_read(fs, a.st_ino, buf, sizeof(buf), off);
			fs_lseek(fs, a.st_ino, 0, SEEK_DATA);
			fs_lseek(fs, a.st_ino, 0, SEEK_HOLE);
			fs_listxattr(fs, a.st_ino, buf, sizeof(buf));
			fs_getxattr(fs, a.st_ino, "user.k", buf, sizeof(buf));
		} else if (S_ISLNK(a.st_mode)) {
			fs_readlink(fs, a.st_ino, buf, sizeof(buf));
		}
		fs_getattr(fs, a.st_ino, &a);
		fs_forget(fs, a.st_ino, 1);
	}
	free(w);
}

START_TEST(mutated_metadata)
{
	if (getenv("NSTEST_ROUNDS"))
		ROUNDS = atoi(getenv("NSTEST_ROUNDS"));
	build_base();
	const struct ef_super *sb = (const struct ef_super *)pristine;
	uint64_t nblocks = image_size / BS;
	/* the namespace's metadata blocks, by their verified headers */
	static const uint32_t magics[] = {EF_MAGIC_ITABLE, EF_MAGIC_DIR, EF_MAGIC_EXTENT,
					  EF_MAGIC_XATTR};
	uint64_t *meta = malloc(nblocks * sizeof(*meta));
	uint32_t *magic = malloc(nblocks * sizeof(*magic));
	size_t nmeta = 0;
	for (uint64_t b = sb->itable_start; b < nblocks; b++)
		for (size_t m = 0; m < 4; m++)
			if (meta_verify(pristine + b * BS, BS, magics[m], b) == 0) {
				meta[nmeta] = b;
				magic[nmeta++] = magics[m];
			}
	ck_assert_uint_gt(nmeta, 10);
	struct nsimg copy;
	snprintf(copy.path, sizeof(copy.path), "%s/mut.img", ns_dir);
	uint8_t *img = malloc(image_size);
	unsigned seed = getenv("NSTEST_SEED") ? (unsigned)atoi(getenv("NSTEST_SEED")) : 4242;
	int mounted = 0;
	for (int round = 0; round < ROUNDS; round++) {
		memcpy(img, pristine, image_size);
		int blocks = 1 + rand_r(&seed) % 2;
		for (int k = 0; k < blocks; k++) {
			size_t i = (size_t)rand_r(&seed) % nmeta;
			uint8_t *p = img + meta[i] * BS;
			int bytes = 1 + rand_r(&seed) % 4;
			for (int j = 0; j < bytes; j++) {
				size_t at = sizeof(struct ef_blkhdr) + (size_t)rand_r(&seed) % 160;
				if (rand_r(&seed) % 3 == 0)
					at =
					    sizeof(struct ef_blkhdr) +
					    (size_t)rand_r(&seed) % (BS - sizeof(struct ef_blkhdr));
				p[at] = rand_r(&seed) % 2 ? (uint8_t)rand_r(&seed) : p[at] ^ 0xff;
			}
			meta_seal(p, BS, magic[i], meta[i]);
		}
		FILE *fp = fopen(copy.path, "wb");
		ck_assert_ptr_nonnull(fp);
		ck_assert_uint_eq(fwrite(img, 1, image_size, fp), image_size);
		fclose(fp);
		char err[256];
		struct fs *fs;
		if (fs_mount(copy.path, NULL, &fs, err, sizeof(err)) < 0)
			continue;
		mounted++;
		int budget = 2000;
		walk_dir(fs, FS_ROOT_INO, 0, &budget);
		fs_unmount(fs);
	}
	ck_assert_int_gt(mounted, ROUNDS / 2);
	unlink(copy.path);
	free(img);
	free(meta);
	free(magic);
	free(pristine);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("damage");
	TCase *tc = tcase_create("damage");
	tcase_add_unchecked_fixture(tc, ns_dir_setup, ns_dir_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, mutated_metadata);
	suite_add_tcase(s, tc);
	int failed = 0;
	ns_run(s, &failed);
	return failed ? 1 : 0;
}
