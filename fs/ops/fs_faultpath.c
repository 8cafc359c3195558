/*
 * fs_faultpath.c: the path= knob of the fault points (fault.h) on a mounted
 * filesystem (layer: ops). The fault layer knows inodes only; this file
 * turns a glob into the inodes it names when a point is set (a walk of the
 * tree from the root) and tells it the path of each file created, linked
 * or renamed afterwards (the parent's path, found by following ".." up and
 * looking for each directory in its parent).
 *
 * Costs nothing unless a point filters by path (faults->any_path). Uses
 * only fs.h's operations, so it takes the locks they take, one directory
 * at a time, and holds none between them.
 */
#include <fnmatch.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "fs.h"
#include "fs_faultpath.h"
#include "namespace.h"
#include "storage.h"

#define WALK_DEPTH_MAX 64 /* deeper directories are not walked (nor named) */

struct dent {
	uint64_t ino;
	bool dir;
	char name[FS_NAME_MAX + 1];
};

struct dents {
	struct dent *v;
	size_t n, cap;
};

static int collect(void *arg, const char *name, const fs_attr_t *a, off_t next)
{
	struct dents *d = arg;
	(void)next;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct dent *v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return 1; /* out of memory: the rest of this directory is not named */
		d->v = v;
		d->cap = cap;
	}
	struct dent *e = &d->v[d->n++];
	e->ino = (uint64_t)a->st_ino;
	e->dir = S_ISDIR(a->st_mode);
	snprintf(e->name, sizeof(e->name), "%s", name);
	return 0;
}

struct walk {
	struct fs *fs;
	struct faults *f;
	enum fault_point p;
	const char *glob;
	char path[PATH_MAX];
};

/* Adds every inode under dir (whose path is w->path, len bytes) that the glob names. */
static void walk_dir(struct walk *w, uint64_t dir, size_t len, int depth)
{
	struct dents d = {0};

	/* The entries first, the directory's lock let go: then each child. */
	fs_readdir(w->fs, dir, 0, collect, &d);
	for (size_t i = 0; i < d.n; i++) {
		size_t nl = strlen(d.v[i].name);
		if (len + 1 + nl >= sizeof(w->path))
			continue;
		w->path[len] = '/';
		memcpy(w->path + len + 1, d.v[i].name, nl + 1);
		if (fnmatch(w->glob, w->path, 0) == 0)
			fault_path_add(w->f, w->p, d.v[i].ino);
		if (d.v[i].dir && depth < WALK_DEPTH_MAX)
			walk_dir(w, d.v[i].ino, len + 1 + nl, depth + 1);
	}
	w->path[len] = '\0';
	free(d.v);
}

static void resolve(void *arg, struct faults *f, enum fault_point p, const char *glob)
{
	struct walk *w = malloc(sizeof(*w));
	if (!w)
		return;
	*w = (struct walk){.fs = arg, .f = f, .p = p, .glob = glob};
	walk_dir(w, FS_ROOT_INO, 0, 0);
	free(w);
}

struct find {
	uint64_t ino; /* looked for (a name), or ".."'s target found */
	bool parent;  /* looking for ".." */
	bool found;
	char name[FS_NAME_MAX + 1];
};

static int find_fill(void *arg, const char *name, const fs_attr_t *a, off_t next)
{
	struct find *c = arg;
	(void)next;
	if (c->parent) {
		if (strcmp(name, "..") != 0)
			return 0;
		c->ino = (uint64_t)a->st_ino;
		c->found = true;
		return 1;
	}
	if ((uint64_t)a->st_ino != c->ino || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->found = true;
	return 1;
}

/* The path of directory dir from the root ("" for the root) into buf; false if unknown. */
static bool dir_path(struct fs *fs, uint64_t dir, char *buf, size_t len)
{
	size_t at = len - 1; /* built backwards from the end */

	buf[at] = '\0';
	for (int depth = 0; dir != FS_ROOT_INO; depth++) {
		struct find up = {.parent = true}, me = {.ino = dir};
		if (depth == WALK_DEPTH_MAX || fs_readdir(fs, dir, 1, find_fill, &up) < 0 ||
		    !up.found || fs_readdir(fs, up.ino, 0, find_fill, &me) < 0 || !me.found)
			return false;
		size_t nl = strlen(me.name);
		if (nl + 1 > at)
			return false;
		at -= nl;
		memcpy(buf + at, me.name, nl);
		buf[--at] = '/';
		dir = up.ino;
	}
	memmove(buf, buf + at, len - at);
	return true;
}

void fs_faultpath_created(struct fs *fs, uint64_t parent, const char *name, uint64_t ino)
{
	struct faults *f = fs->st->disk.faults;
	char *path;

	if (!f || !atomic_load_explicit(&f->any_path, memory_order_relaxed))
		return;
	if (!(path = malloc(PATH_MAX)))
		return;
	size_t nl = strlen(name);
	if (dir_path(fs, parent, path, PATH_MAX) && strlen(path) + 1 + nl < PATH_MAX) {
		size_t pl = strlen(path);
		path[pl] = '/';
		memcpy(path + pl + 1, name, nl + 1);
		fault_path_created(f, ino, path);
	}
	free(path);
}

void fs_faultpath_attach(struct fs *fs)
{
	if (fs->st->disk.faults)
		faults_set_resolver(fs->st->disk.faults, resolve, fs);
}

void fs_faultpath_detach(struct fs *fs)
{
	if (fs->st->disk.faults)
		faults_set_resolver(fs->st->disk.faults, NULL, NULL);
}
