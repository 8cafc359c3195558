/*
 * xattr.c: the extended attribute layer. An inode's attributes live in
 * one block (inode.xattr_block; format in layout.h), in the namespaces
 * user., trusted. and security., and the POSIX ACLs (system.posix_acl_access,
 * system.posix_acl_default, stored as the kernel hands them over); the
 * prefix is stored as an index.
 *
 * Calls: storage (bread/brelse, tx_add, meta_seal, balloc/bfree). Caller
 * holds ip->lock (exclusive and inside a transaction for changes) and
 * calls iupdate after a change (xattr_block and blocks are in the inode).
 */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "namespace.h"

static const char *const prefixes[] = {NULL, "user.", "trusted.", "security.", "system."};

/* Split "user.foo" into (EF_XATTR_USER, "foo"). */
static int parse_name(const char *name, uint8_t *index, const char **suffix, size_t *len)
{
	for (uint8_t i = 1; i <= EF_XATTR_SYSTEM; i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(name, prefixes[i], pl) == 0) {
			if (i == EF_XATTR_SYSTEM && strcmp(name + pl, "posix_acl_access") != 0 &&
			    strcmp(name + pl, "posix_acl_default") != 0)
				break;
			*index = i;
			*suffix = name + pl;
			*len = strlen(*suffix);
			if (*len == 0)
				return -EINVAL;
			if (*len > 255)
				return -ERANGE;
			return 0;
		}
	}
	return -EOPNOTSUPP;
}

static uint32_t entry_size(const struct ef_xattr_entry *e)
{
	return (uint32_t)sizeof(*e) + e->name_len + e->value_len;
}

static uint32_t cap(const struct fs *fs)
{
	return fs->bsize - (uint32_t)sizeof(struct ef_xattr_head);
}

/* Read and check the inode's xattr block; -ENODATA when it has none. */
static int xread(struct inode *ip, struct buf **out)
{
	struct fs *fs = ip->fs;
	if (ip->d.xattr_block == 0)
		return -ENODATA;
	if (ip->d.xattr_block < fs->st->sb.data_start || ip->d.xattr_block >= fs->st->sb.nblocks)
		return -EUCLEAN;
	int r = nbread(fs, ip->d.xattr_block, EF_MAGIC_XATTR, out);
	if (r < 0)
		return r;
	struct ef_xattr_head *h = (struct ef_xattr_head *)(*out)->data;
	uint32_t off = 0, n = 0;
	uint8_t *p = (*out)->data + sizeof(*h);
	while (h->used <= cap(fs) && off < h->used) {
		struct ef_xattr_entry *e = (struct ef_xattr_entry *)(p + off);
		if (h->used - off < sizeof(*e) || e->name_len == 0 || e->index < 1 ||
		    e->index > EF_XATTR_SYSTEM || off + entry_size(e) > h->used)
			break;
		off += entry_size(e);
		n++;
	}
	if (h->used > cap(fs) || off != h->used || n != h->count) {
		brelse(*out);
		return -EUCLEAN;
	}
	return 0;
}

/* Offset of the entry (index, name) in the checked block b, or -ENODATA. */
static int64_t xfind(struct buf *b, uint8_t index, const char *name, size_t len)
{
	struct ef_xattr_head *h = (struct ef_xattr_head *)b->data;
	uint8_t *p = b->data + sizeof(*h);
	for (uint32_t off = 0; off < h->used;) {
		struct ef_xattr_entry *e = (struct ef_xattr_entry *)(p + off);
		if (e->index == index && e->name_len == len && memcmp(e + 1, name, len) == 0)
			return off;
		off += entry_size(e);
	}
	return -ENODATA;
}

ssize_t xattr_get(struct inode *ip, const char *name, void *value, size_t size)
{
	ILOCKED(ip);
	uint8_t index;
	const char *sfx;
	size_t len;
	int r = parse_name(name, &index, &sfx, &len);
	if (r < 0)
		return r == -EOPNOTSUPP ? -ENODATA : r;
	struct buf *b;
	if ((r = xread(ip, &b)) < 0)
		return r;
	int64_t off = xfind(b, index, sfx, len);
	ssize_t ret = off;
	if (off >= 0) {
		struct ef_xattr_entry *e =
		    (struct ef_xattr_entry *)(b->data + sizeof(struct ef_xattr_head) + off);
		ret = e->value_len;
		if (size > 0) {
			if (size < e->value_len)
				ret = -ERANGE;
			else
				memcpy(value, (uint8_t *)(e + 1) + e->name_len, e->value_len);
		}
	}
	brelse(b);
	return ret;
}

ssize_t xattr_list(struct inode *ip, char *list, size_t size)
{
	ILOCKED(ip);
	struct buf *b;
	int r = xread(ip, &b);
	if (r == -ENODATA)
		return 0;
	if (r < 0)
		return r;
	struct ef_xattr_head *h = (struct ef_xattr_head *)b->data;
	uint8_t *p = b->data + sizeof(*h);
	size_t total = 0;
	ssize_t ret = 0;
	for (uint32_t off = 0; off < h->used;) {
		struct ef_xattr_entry *e = (struct ef_xattr_entry *)(p + off);
		size_t pl = strlen(prefixes[e->index]);
		size_t n = pl + e->name_len + 1;
		if (size > 0) {
			if (total + n > size) {
				ret = -ERANGE;
				break;
			}
			memcpy(list + total, prefixes[e->index], pl);
			memcpy(list + total + pl, e + 1, e->name_len);
			list[total + pl + e->name_len] = '\0';
		}
		total += n;
		off += entry_size(e);
	}
	brelse(b);
	return ret < 0 ? ret : (ssize_t)total;
}

int xattr_set(struct tx *tx, struct inode *ip, const char *name, const void *value, size_t size,
	      int flags)
{
	ILOCKED_EXCL(ip);
	struct fs *fs = ip->fs;
	uint8_t index;
	const char *sfx;
	size_t len;
	int r = parse_name(name, &index, &sfx, &len);
	if (r < 0)
		return r;
	if (size > 65535 || sizeof(struct ef_xattr_entry) + len + size > cap(fs))
		return -E2BIG; /* can never fit in the attribute block */
	struct buf *b;
	r = xread(ip, &b);
	if (r == -ENODATA) {
		if (flags & XATTR_REPLACE)
			return -ENODATA;
		uint64_t blk, got;
		if ((r = balloc(fs->st->alloc, tx, 0, 1, &blk, &got)) < 0)
			return r;
		if ((r = bread_new(fs->st->bcache, blk, &b)) < 0) {
			bfree(fs->st->alloc, tx, blk, 1);
			return r;
		}
		memset(b->data, 0, fs->bsize);
		meta_seal(b->data, fs->bsize, EF_MAGIC_XATTR, blk);
		ip->d.xattr_block = blk;
		ip->d.blocks++;
	} else if (r < 0) {
		return r;
	}
	struct ef_xattr_head *h = (struct ef_xattr_head *)b->data;
	uint8_t *p = b->data + sizeof(*h);
	int64_t off = xfind(b, index, sfx, len);
	uint32_t old = 0;
	if (off >= 0) {
		if (flags & XATTR_CREATE) {
			brelse(b);
			return -EEXIST;
		}
		old = entry_size((struct ef_xattr_entry *)(p + off));
	} else if (flags & XATTR_REPLACE) {
		brelse(b);
		return -ENODATA;
	}
	uint32_t need = (uint32_t)(sizeof(struct ef_xattr_entry) + len + size);
	if (h->used - old + need > cap(fs)) {
		brelse(b);
		return -ENOSPC;
	}
	if (off >= 0) { /* drop the old entry, append the new one */
		memmove(p + off, p + off + old, h->used - off - old);
		h->used -= old;
		h->count--;
	}
	struct ef_xattr_entry *e = (struct ef_xattr_entry *)(p + h->used);
	e->index = index;
	e->name_len = (uint8_t)len;
	e->value_len = (uint16_t)size;
	memcpy(e + 1, sfx, len);
	memcpy((uint8_t *)(e + 1) + len, value, size);
	h->used += need;
	h->count++;
	memset(p + h->used, 0, cap(fs) - h->used);
	tx_add(tx, b);
	brelse(b);
	return 0;
}

int xattr_remove(struct tx *tx, struct inode *ip, const char *name)
{
	ILOCKED_EXCL(ip);
	uint8_t index;
	const char *sfx;
	size_t len;
	int r = parse_name(name, &index, &sfx, &len);
	if (r < 0)
		return r == -EOPNOTSUPP ? -ENODATA : r;
	struct buf *b;
	if ((r = xread(ip, &b)) < 0)
		return r;
	int64_t off = xfind(b, index, sfx, len);
	if (off < 0) {
		brelse(b);
		return (int)off;
	}
	struct ef_xattr_head *h = (struct ef_xattr_head *)b->data;
	uint8_t *p = b->data + sizeof(*h);
	uint32_t sz = entry_size((struct ef_xattr_entry *)(p + off));
	memmove(p + off, p + off + sz, h->used - off - sz);
	memset(p + h->used - sz, 0, sz);
	h->used -= sz;
	h->count--;
	tx_add(tx, b);
	brelse(b);
	return 0;
}

int xattr_free(struct tx *tx, struct inode *ip)
{
	ILOCKED_EXCL(ip);
	if (ip->d.xattr_block == 0)
		return 0;
	int r = bfree(ip->fs->st->alloc, tx, ip->d.xattr_block, 1);
	if (r == 0) {
		ip->d.xattr_block = 0;
		if (ip->d.blocks > 0)
			ip->d.blocks--;
	}
	return r;
}
