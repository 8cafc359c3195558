/*
 * fs_faultpath.h: the path= knob of the fault points on a mounted
 * filesystem (layer: ops; fs_faultpath.c). fs.c attaches it at mount,
 * detaches it at unmount, and reports every new name.
 */
#ifndef EIOCBFS_FS_FAULTPATH_H
#define EIOCBFS_FS_FAULTPATH_H

#include <stdint.h>

struct fs;

/* Installs the glob resolver on the mount's faults (resolving points already set). */
void fs_faultpath_attach(struct fs *fs);
/* Removes it; returns once no resolution runs. */
void fs_faultpath_detach(struct fs *fs);
/* ino now has the name name in directory parent (create, link, rename). */
void fs_faultpath_created(struct fs *fs, uint64_t parent, const char *name, uint64_t ino);

#endif
