/*
 * acl.h: POSIX ACLs in their xattr form (layer: ops; acl.c says what the
 * filesystem does with them). Buffers are the xattr values as the kernel
 * passes them; every function but acl_check takes a checked one.
 */
#ifndef EIOCBFS_ACL_H
#define EIOCBFS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define ACL_XATTR_ACCESS "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"
#define ACL_MAX_SIZE (4 + 8 * 64) /* 64 entries */

/* 0, or -EINVAL (-EOPNOTSUPP for another version) for a malformed ACL. */
int acl_check(const void *v, size_t size);
/* The mode's permission bits an access ACL stands for (the group bits are
   the mask's when there is one); false when the ACL says no more than them. */
bool acl_to_mode(const void *v, size_t size, mode_t *mode);
/* chmod: the owner, group (or mask) and other entries take mode's bits. */
void acl_chmod(void *v, size_t size, mode_t mode);
/* A new inode's access ACL from its parent's default one (v, changed in
   place) and its mode (masked by it); false when the result says no more
   than the mode (then no access ACL is kept). */
bool acl_create(void *v, size_t size, mode_t *mode);

#endif
