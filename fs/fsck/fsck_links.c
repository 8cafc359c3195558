/*
 * fsck_links.c: pass 4, connectivity and link counts. Layer: the checker;
 * walks the directory tree from the root with fsck_dir_walk.
 *
 * A breadth-first walk from the root marks what is reachable, counts the
 * names of every inode and the subdirectories of every directory, and
 * drops a second name of a directory (directories have exactly one). Then:
 * each directory's '..' must be the directory that names it (the root's is
 * itself); each reachable inode's link count must be its names, plus for a
 * directory its '.' and the '..' of each subdirectory (so 2 + subdirs);
 * /lost+found must be a directory named in the root (e2fsck's rule): -y
 * unlinks a /lost+found that is not one and makes it when missing. An
 * inode in use that nothing reaches is reconnected there with -y
 * (reconnect() below) or, failing that, cleared; unless it is on the
 * orphan list and alive (the next mount frees it, and -y already did in
 * pass 2).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsck_int.h"

struct bfs {
	uint64_t *queue;
	size_t head, tail;
};

static int link_entry(struct fsck *f, void *arg, struct fsck_dir *d, struct ef_dirent *e,
		      const char *name)
{
	struct bfs *q = arg;
	uint64_t ino = e->ino;
	if (ino == 0 || ino > f->sb.ninodes || (f->istate[ino] & IS_BAD) ||
	    !(f->istate[ino] & IS_USED) || ino == EF_ROOT_INO)
		return DIRENT_KEEP; /* reported (and removed with -y) by pass 3 */
	if (d->ino == EF_ROOT_INO && e->name_len == 10 && !memcmp(name, "lost+found", 10)) {
		if (!(f->istate[ino] & IS_DIR)) {
			fsck_inote(f, ino, FP_LF_NOT_DIR, fsck_repair(f),
				   "/lost+found is inode %" PRIu64 ", not a directory%s", ino,
				   fsck_repair(f) ? "; unlinked" : "");
			if (fsck_repair(f))
				return DIRENT_DROP; /* it comes back into the new one */
		} else if (!(f->istate[ino] & IS_REACHED)) {
			f->lost_found = ino;
		}
	}
	if (f->istate[ino] & IS_DIR) {
		if (f->istate[ino] & IS_REACHED) {
			fsck_inote(f, ino, FP_DIR_ENTRY, fsck_repair(f),
				   "directory %" PRIu64 ": entry '%.*s' is a second name of "
				   "directory %" PRIu64 "; removed",
				   d->ino, e->name_len, name, ino);
			return DIRENT_DROP;
		}
		f->iparent[ino] = d->ino;
		f->ilinks[d->ino]++; /* the child's '..' */
		q->queue[q->tail++] = ino;
	}
	f->istate[ino] |= IS_REACHED;
	f->ilinks[ino]++;
	return DIRENT_KEEP;
}

/* Walks the directories queued in q and everything below them. */
static int walk_tree(struct fsck *f, struct bfs *q)
{
	while (q->head < q->tail && !f->op_err) {
		uint64_t dino = q->queue[q->head++];
		if (!(f->istate[dino] & IS_DIR_OK))
			continue; /* unusable (reported by pass 3): its names are unknown */
		struct fsck_dir d;
		const char *why;
		int64_t n = -1;
		if (fsck_dir_open(f, dino, &d, &why) == 0)
			n = fsck_dir_walk(f, &d, false, link_entry, q);
		if (n >= 0) {
			bool fix = fsck_repair(f), write = false;
			if (d.head.parent != f->iparent[dino]) {
				fsck_inote(f, dino, FP_DIR_DOT, fix,
					   "directory %" PRIu64 ": '..' is %" PRIu64
					   ", should be %" PRIu64,
					   dino, d.head.parent, f->iparent[dino]);
				d.head.parent = f->iparent[dino];
				write = true;
			}
			if (fix && d.head.nentries != (uint64_t)n) {
				/* A second name of a directory went: part of that repair. */
				d.head.nentries = (uint64_t)n;
				write = true;
			}
			if (fix && write)
				fsck_dir_write_head(f, &d);
		}
		fsck_dir_close(&d);
	}
	return f->op_err;
}

/* Makes /lost+found (repair): a new directory named in the root. 0 or < 0. */
static int make_lost_found(struct fsck *f)
{
	uint64_t ino = fsck_ialloc(f);
	struct ef_inode in;
	struct fsck_dents none = {0};
	int rc = ino ? fsck_inew(f, ino, S_IFDIR | 0700, &in) : -ENOSPC;
	if (rc == 0)
		rc = fsck_dir_build(f, ino, &in, EF_ROOT_INO, &none, 0);
	if (rc == 0 && (rc = fsck_dir_add(f, EF_ROOT_INO, "lost+found", ino, DT_DIR)) < 0) {
		fsck_iclear(f, ino);
		f->istate[ino] &= (uint16_t)~IS_BAD; /* a free inode again */
	}
	if (rc < 0)
		return rc;
	/* The root's link count for the new '..', as part of making it. */
	struct ef_inode root;
	if (fsck_iread(f, EF_ROOT_INO, &root) == 0) {
		root.nlink++;
		fsck_iwrite(f, EF_ROOT_INO, &root);
	}
	f->istate[ino] |= IS_REACHED | IS_NAMED;
	f->iparent[ino] = EF_ROOT_INO;
	f->ilinks[ino] = 1;
	f->ilinks[EF_ROOT_INO]++; /* its '..' */
	f->lost_found = ino;
	return 0;
}

/*
 * Reconnects (repair) what nothing reachable names into /lost+found as
 * "#<inode>", as e2fsck does (into the root when /lost+found cannot be
 * made): first the top of each lost subtree (nothing names it), so its
 * contents come back with it; then what only lost directories name (a
 * cycle of them). What cannot be reconnected is cleared by the caller.
 */
static void reconnect(struct fsck *f, struct bfs *q)
{
	uint64_t into = f->lost_found ? f->lost_found : EF_ROOT_INO;
	for (int round = 0; round < 2; round++) {
		uint16_t skip = IS_BAD | IS_REACHED | IS_ORPHAN | (round ? 0 : IS_NAMED);
		for (uint64_t ino = 1; ino <= f->sb.ninodes && !f->op_err; ino++) {
			uint16_t st = f->istate[ino];
			if (!(st & IS_USED) || (st & skip))
				continue;
			struct ef_inode in;
			if (fsck_iread(f, ino, &in) < 0)
				return;
			char name[32];
			snprintf(name, sizeof(name), "#%" PRIu64, ino);
			int rc = fsck_dir_add(f, into, name, ino, (uint8_t)fsck_dt_of(in.mode));
			if (rc < 0)
				continue; /* cleared below */
			fsck_inote(f, ino, FP_UNREACHABLE, true,
				   "inode %" PRIu64 " was not reachable; now %s/%s", ino,
				   into == EF_ROOT_INO ? "" : "/lost+found", name);
			f->istate[ino] |= IS_REACHED;
			f->ilinks[ino]++;
			if (st & IS_DIR) {
				f->iparent[ino] = into;
				f->ilinks[into]++;
				q->queue[q->tail++] = ino;
				walk_tree(f, q);
			}
		}
	}
}

int fsck_pass_links(struct fsck *f)
{
	if ((f->istate[EF_ROOT_INO] & (IS_DIR | IS_USED | IS_BAD | IS_DIR_OK)) !=
	    (IS_DIR | IS_USED | IS_DIR_OK)) {
		/* Nothing is reachable without it: judging connectivity and link
		   counts would clear everything. Left for a human (exit 4). */
		fsck_note(
		    f, FP_UNREACHABLE, false,
		    "the root directory is unusable: connectivity and link counts not checked");
		return 0;
	}
	struct bfs q = {.queue = malloc((f->sb.ninodes + 1) * sizeof(uint64_t))};
	if (!q.queue)
		return fsck_fail(f, -ENOMEM, "out of memory");
	f->istate[EF_ROOT_INO] |= IS_REACHED;
	f->iparent[EF_ROOT_INO] = EF_ROOT_INO;
	f->ilinks[EF_ROOT_INO] = 1; /* the root's '..' is itself */
	q.queue[q.tail++] = EF_ROOT_INO;
	walk_tree(f, &q);
	if (!f->lost_found && !f->op_err) {
		bool fix = fsck_repair(f) && make_lost_found(f) == 0;
		fsck_note(f, FP_LF_MISSING, fix, "/lost+found not found%s",
			  fix		   ? "; made"
			  : fsck_repair(f) ? "; no room to make it"
					   : "");
	}
	if (fsck_repair(f))
		reconnect(f, &q);
	free(q.queue);

	for (uint64_t ino = 1; ino <= f->sb.ninodes && !f->op_err; ino++) {
		uint16_t st = f->istate[ino];
		if ((st & (IS_USED | IS_BAD)) != IS_USED)
			continue;
		bool fix = fsck_repair(f);
		if (!(st & IS_REACHED)) {
			if (st & IS_ORPHAN)
				continue; /* alive until its last close; the orphan pass checks it
					   */
			fsck_inote(f, ino, FP_UNREACHABLE, fix,
				   "inode %" PRIu64 " is not reachable%s", ino,
				   fix ? "; cleared" : "");
			if (fix)
				fsck_iclear(f, ino);
			continue;
		}
		struct ef_inode in;
		if (fsck_iread(f, ino, &in) < 0)
			break;
		uint64_t want = f->ilinks[ino] + ((st & IS_DIR) ? 1 : 0);
		if (in.nlink != want) {
			fsck_inote(f, ino, FP_NLINK, fix,
				   "inode %" PRIu64 ": link count %u, should be %" PRIu64, ino,
				   in.nlink, want);
			if (fix) {
				in.nlink = (uint32_t)want;
				fsck_iwrite(f, ino, &in);
			}
		}
		if (st & IS_DIR)
			f->r->dirs++;
		else
			f->r->files++;
	}
	return f->op_err;
}
