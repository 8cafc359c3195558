/*
 * acl.c: POSIX ACLs (layer: ops, over the namespace), as ext4 keeps them:
 * system.posix_acl_access and system.posix_acl_default xattrs in the
 * kernel's xattr form (a little-endian version 2 header, then entries of
 * tag, perm, id, sorted by tag). The kernel enforces them (default
 * permissions with FUSE's POSIX ACL capability); what is left to the
 * filesystem is what ext4 does below the VFS: an access ACL and the mode's
 * permission bits agree (setting one updates the other), an ACL equal to
 * the mode is not stored, and a new inode under a directory with a default
 * ACL inherits it (posix_acl_create).
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

#define ACL_VERSION 2
#define TAG_USER_OBJ 0x01
#define TAG_USER 0x02
#define TAG_GROUP_OBJ 0x04
#define TAG_GROUP 0x08
#define TAG_MASK 0x10
#define TAG_OTHER 0x20

struct ent {
	uint16_t tag, perm;
	uint32_t id;
} __attribute__((packed));

static struct ent *entries(void *v)
{
	return (struct ent *)((uint8_t *)v + 4);
}

int acl_check(const void *v, size_t size)
{
	uint32_t ver;
	if (size < 4 || (size - 4) % sizeof(struct ent) || size > ACL_MAX_SIZE)
		return -EINVAL;
	memcpy(&ver, v, 4);
	if (le32toh(ver) != ACL_VERSION)
		return -EOPNOTSUPP;
	size_t n = (size - 4) / sizeof(struct ent);
	const struct ent *e = entries((void *)v);
	unsigned seen = 0, prev_tag = 0;
	uint32_t prev_id = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned tag = le16toh(e[i].tag), perm = le16toh(e[i].perm);
		uint32_t id = le32toh(e[i].id);
		if (perm & ~7u || tag < prev_tag)
			return -EINVAL;
		switch (tag) {
		case TAG_USER:
		case TAG_GROUP:
			if (tag == prev_tag && id <= prev_id)
				return -EINVAL;
			break;
		case TAG_USER_OBJ:
		case TAG_GROUP_OBJ:
		case TAG_MASK:
		case TAG_OTHER:
			if (seen & tag)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
		seen |= tag;
		prev_tag = tag;
		prev_id = id;
	}
	if ((seen & (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER)) !=
	    (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER))
		return -EINVAL;
	if ((seen & (TAG_USER | TAG_GROUP)) && !(seen & TAG_MASK))
		return -EINVAL;
	return 0;
}

bool acl_to_mode(const void *v, size_t size, mode_t *mode)
{
	size_t n = (size - 4) / sizeof(struct ent);
	const struct ent *e = entries((void *)v);
	mode_t m = *mode & ~(mode_t)0777, group = 0, mask = 0;
	bool extended = false, has_mask = false;
	for (size_t i = 0; i < n; i++) {
		mode_t p = le16toh(e[i].perm);
		switch (le16toh(e[i].tag)) {
		case TAG_USER_OBJ:
			m |= p << 6;
			break;
		case TAG_GROUP_OBJ:
			group = p;
			break;
		case TAG_OTHER:
			m |= p;
			break;
		case TAG_MASK:
			mask = p;
			has_mask = true;
			extended = true;
			break;
		default:
			extended = true;
		}
	}
	*mode = m | (has_mask ? mask : group) << 3;
	return extended;
}

void acl_chmod(void *v, size_t size, mode_t mode)
{
	size_t n = (size - 4) / sizeof(struct ent);
	struct ent *e = entries(v);
	struct ent *group = NULL, *mask = NULL;
	for (size_t i = 0; i < n; i++) {
		switch (le16toh(e[i].tag)) {
		case TAG_USER_OBJ:
			e[i].perm = htole16((mode >> 6) & 7);
			break;
		case TAG_GROUP_OBJ:
			group = &e[i];
			break;
		case TAG_MASK:
			mask = &e[i];
			break;
		case TAG_OTHER:
			e[i].perm = htole16(mode & 7);
			break;
		}
	}
	if (mask)
		mask->perm = htole16((mode >> 3) & 7);
	else if (group)
		group->perm = htole16((mode >> 3) & 7);
}

bool acl_create(void *v, size_t size, mode_t *mode)
{
	size_t n = (size - 4) / sizeof(struct ent);
	struct ent *e = entries(v);
	struct ent *group = NULL, *mask = NULL;
	mode_t m = *mode;
	bool extended = false;
	for (size_t i = 0; i < n; i++) {
		mode_t p = le16toh(e[i].perm);
		switch (le16toh(e[i].tag)) {
		case TAG_USER_OBJ:
			p &= (m >> 6) & 7;
			m &= (p << 6) | ~(mode_t)S_IRWXU;
			e[i].perm = htole16(p);
			break;
		case TAG_GROUP_OBJ:
			group = &e[i];
			break;
		case TAG_MASK:
			mask = &e[i];
			extended = true;
			break;
		case TAG_OTHER:
			p &= m & 7;
			m &= p | ~(mode_t)S_IRWXO;
			e[i].perm = htole16(p);
			break;
		default:
			extended = true;
		}
	}
	struct ent *g = mask ? mask : group;
	if (g) {
		mode_t p = le16toh(g->perm) & ((m >> 3) & 7);
		m &= (p << 3) | ~(mode_t)S_IRWXG;
		g->perm = htole16(p);
	}
	*mode = m;
	return extended;
}
