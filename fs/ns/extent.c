/*
 * extent.c: the extent layer. A file's block map as a B+tree of extents
 * (layout.h): the root in the inode, the other nodes in extent blocks.
 * Lookup walks down to the leaf; insert merges with neighbours, splits
 * full nodes and grows the tree at the root; remove trims, deletes and
 * splits extents and frees emptied nodes, within a transaction's budget.
 *
 * Calls: storage (bread via nbread, brelse, tx_add, meta_seal, balloc,
 * bfree). Each entry point asserts ip->lock held (ILOCKED, ILOCKED_EXCL);
 * the caller calls iupdate (the root and d.blocks are in the inode).
 */
#include <errno.h>
#include <string.h>

#include "namespace.h"

#define EXT_MAX_LEN 0x80000000u /* keep lengths well inside uint32 */

struct xnode {
	struct buf *b; /* NULL: the root in the inode */
	struct ef_extent_hdr *h;
	struct ef_extent *e;
};

static void root_node(struct inode *ip, struct xnode *n)
{
	n->b = NULL;
	n->h = &ip->d.u.map.hdr;
	n->e = ip->d.u.map.ext;
}

/* The root in the inode must be sane before any walk (a damaged image). */
static int root_check(const struct xnode *n)
{
	if (n->h->magic != EF_EXTENT_HDR_MAGIC || n->h->max != EF_INODE_EXTENTS ||
	    n->h->count > n->h->max || n->h->depth > EF_EXTENT_MAX_DEPTH)
		return -EUCLEAN;
	return 0;
}

static int read_node(struct inode *ip, uint64_t blk, unsigned depth, struct xnode *n)
{
	struct fs *fs = ip->fs;
	if (blk < fs->st->sb.data_start || blk >= fs->st->sb.nblocks)
		return -EUCLEAN;
	int r = nbread(fs, blk, EF_MAGIC_EXTENT, &n->b);
	if (r < 0)
		return r;
	n->h = (struct ef_extent_hdr *)(n->b->data + sizeof(struct ef_blkhdr));
	n->e = (struct ef_extent *)(n->h + 1);
	if (n->h->magic != EF_EXTENT_HDR_MAGIC || n->h->depth != depth ||
	    n->h->max != EF_EXTENTS_PER_BLOCK(fs->bsize) || n->h->count > n->h->max) {
		brelse(n->b);
		return -EUCLEAN;
	}
	return 0;
}

static void put_node(struct xnode *n)
{
	if (n->b)
		brelse(n->b);
}

static void dirty_node(struct tx *tx, struct xnode *n)
{
	if (n->b)
		tx_add(tx, n->b);
}

/* A new, empty node of the given depth, near goal. */
static int new_node(struct tx *tx, struct inode *ip, uint64_t goal, unsigned depth, struct xnode *n)
{
	struct fs *fs = ip->fs;
	uint64_t blk, got;
	int r = balloc(fs->st->alloc, tx, goal, 1, &blk, &got);
	if (r < 0)
		return r;
	if ((r = bread_new(fs->st->bcache, blk, &n->b)) < 0) {
		bfree(fs->st->alloc, tx, blk, 1);
		return r;
	}
	memset(n->b->data, 0, fs->bsize);
	meta_seal(n->b->data, fs->bsize, EF_MAGIC_EXTENT, blk);
	n->h = (struct ef_extent_hdr *)(n->b->data + sizeof(struct ef_blkhdr));
	n->e = (struct ef_extent *)(n->h + 1);
	n->h->magic = EF_EXTENT_HDR_MAGIC;
	n->h->max = EF_EXTENTS_PER_BLOCK(fs->bsize);
	n->h->depth = depth;
	ip->d.blocks++;
	return 0;
}

/* In an index node: the last entry whose key is <= lblk, or 0. */
static unsigned find_idx(const struct xnode *n, uint64_t lblk)
{
	unsigned lo = 0, hi = n->h->count; /* answer in [lo, hi) */
	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;
		if (n->e[mid].lblk <= lblk)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* In a leaf: the number of entries whose lblk is <= lblk (insertion point). */
static unsigned leaf_pos(const struct xnode *n, uint64_t lblk)
{
	unsigned lo = 0, hi = n->h->count;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (n->e[mid].lblk <= lblk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t ext_end(const struct ef_extent *e)
{
	return e->lblk + e->len;
}

/* ---- the extent cache (struct inode's xc) ---------------------------------- */

static bool xc_get(struct inode *ip, uint64_t lblk, struct ef_extent *out)
{
	if (atomic_flag_test_and_set_explicit(&ip->xc_busy, memory_order_acquire))
		return false;
	bool hit = false;
	for (unsigned i = 0; i < 4 && !hit; i++) {
		const struct ef_extent *e = &ip->xc[i];
		if (e->len && lblk >= e->lblk && lblk < e->lblk + e->len) {
			*out = *e;
			hit = true;
		}
	}
	atomic_flag_clear_explicit(&ip->xc_busy, memory_order_release);
	return hit;
}

static void xc_put(struct inode *ip, const struct ef_extent *e)
{
	if (atomic_flag_test_and_set_explicit(&ip->xc_busy, memory_order_acquire))
		return;
	ip->xc[ip->xc_next++ % 4] = *e;
	atomic_flag_clear_explicit(&ip->xc_busy, memory_order_release);
}

/* Under ip->lock exclusively: no reader is inside xc_get/xc_put long. */
void extent_cache_clear(struct inode *ip)
{
	ILOCKED_EXCL(ip);
	while (atomic_flag_test_and_set_explicit(&ip->xc_busy, memory_order_acquire))
		;
	memset(ip->xc, 0, sizeof(ip->xc));
	atomic_flag_clear_explicit(&ip->xc_busy, memory_order_release);
}

/* ---- lookup ---------------------------------------------------------------- */

int extent_map(struct inode *ip, uint64_t lblk, struct ef_extent *out)
{
	ILOCKED(ip);
	struct xnode n;
	uint64_t bound = UINT64_MAX; /* the next subtree's key: no mapping below it is ours */
	root_node(ip, &n);
	if (root_check(&n) < 0)
		return -EUCLEAN;
	bool deep = n.h->depth > 0;
	if (deep && xc_get(ip, lblk, out))
		return 0;
	while (n.h->depth > 0) {
		if (n.h->count == 0)
			break;
		unsigned i = find_idx(&n, lblk);
		if (i + 1 < n.h->count && n.e[i + 1].lblk < bound)
			bound = n.e[i + 1].lblk;
		struct xnode c;
		int r = read_node(ip, n.e[i].pblk, n.h->depth - 1, &c);
		put_node(&n);
		if (r < 0)
			return r;
		n = c;
	}
	uint64_t next = bound;
	if (n.h->depth == 0) {
		unsigned p = leaf_pos(&n, lblk);
		if (p > 0 && lblk < ext_end(&n.e[p - 1])) {
			*out = n.e[p - 1];
			put_node(&n);
			const struct ef_super *sb = &ip->fs->st->sb;
			if (out->pblk < sb->data_start || out->pblk + out->len > sb->nblocks - 1 ||
			    out->pblk + out->len < out->pblk)
				return -EUCLEAN; /* outside the data area */
			if (deep)
				xc_put(ip, out);
			return 0;
		}
		if (p < n.h->count && n.e[p].lblk < next)
			next = n.e[p].lblk;
	}
	put_node(&n);
	if (next <= lblk)
		return -EUCLEAN; /* unsorted entries */
	uint64_t len = next - lblk;
	*out = (struct ef_extent){
	    .lblk = lblk, .pblk = 0, .len = len > EXT_MAX_LEN ? EXT_MAX_LEN : (uint32_t)len};
	return 0;
}

uint32_t extent_tx_blocks(const struct inode *ip)
{
	unsigned depth = ip->d.u.map.hdr.depth;
	/* every level split plus a new root level, the bitmap blocks, the inode */
	return 3 * (depth + 2) + 6;
}

int extent_balloc(struct tx *tx, struct inode *ip, uint64_t lblk, uint32_t want, uint64_t *pblk,
		  uint32_t *got)
{
	ILOCKED_EXCL(ip);
	uint64_t goal = 0, g;
	if (lblk > 0) {
		struct ef_extent prev;
		int r = extent_map(ip, lblk - 1, &prev);
		if (r < 0)
			return r;
		if (prev.pblk)
			goal = prev.pblk + (lblk - prev.lblk);
	}
	int r = balloc(ip->fs->st->alloc, tx, goal, want, pblk, &g);
	if (r < 0)
		return r;
	*got = (uint32_t)g;
	return 0;
}

/* ---- insert ---------------------------------------------------------------- */

struct insctx {
	struct tx *tx;
	struct inode *ip;
};

/* Put x at position pos of node n; a full node splits (its new right sibling's
   index entry goes to *up, *split set) or, at the root, grows the tree. */
static int node_put(struct insctx *c, struct xnode *n, unsigned pos, const struct ef_extent *x,
		    bool *split, struct ef_extent *up)
{
	*split = false;
	if (n->h->count < n->h->max) {
		memmove(&n->e[pos + 1], &n->e[pos], (n->h->count - pos) * sizeof(*x));
		n->e[pos] = *x;
		n->h->count++;
		dirty_node(c->tx, n);
		return 0;
	}
	struct xnode s;
	if (!n->b) {
		/* The root is full: move its entries into a new node one level down. */
		if (n->h->depth >= EF_EXTENT_MAX_DEPTH)
			return -EFBIG;
		int r = new_node(c->tx, c->ip, 0, n->h->depth, &s);
		if (r < 0)
			return r;
		memcpy(s.e, n->e, n->h->count * sizeof(*x));
		s.h->count = n->h->count;
		memmove(&s.e[pos + 1], &s.e[pos], (s.h->count - pos) * sizeof(*x));
		s.e[pos] = *x;
		s.h->count++;
		n->h->depth++;
		n->h->count = 1;
		n->e[0] = (struct ef_extent){.lblk = 0, .pblk = s.b->blockno};
		dirty_node(c->tx, &s);
		put_node(&s);
		return 0;
	}
	int r = new_node(c->tx, c->ip, n->b->blockno, n->h->depth, &s);
	if (r < 0)
		return r;
	unsigned mid = n->h->count / 2;
	/* Appends (the common case) leave the left node full. */
	if (pos == n->h->count)
		mid = n->h->count;
	memcpy(s.e, &n->e[mid], (n->h->count - mid) * sizeof(*x));
	s.h->count = n->h->count - mid;
	n->h->count = mid;
	struct xnode *t = pos <= mid && pos < n->h->max ? n : &s;
	unsigned tp = t == n ? pos : pos - mid;
	memmove(&t->e[tp + 1], &t->e[tp], (t->h->count - tp) * sizeof(*x));
	t->e[tp] = *x;
	t->h->count++;
	*up = (struct ef_extent){.lblk = s.e[0].lblk, .pblk = s.b->blockno};
	*split = true;
	dirty_node(c->tx, n);
	dirty_node(c->tx, &s);
	put_node(&s);
	return 0;
}

static bool adjacent(const struct ef_extent *a, const struct ef_extent *b)
{
	return ext_end(a) == b->lblk && a->pblk + a->len == b->pblk &&
	       (uint64_t)a->len + b->len <= EXT_MAX_LEN;
}

static int ins_rec(struct insctx *c, struct xnode *n, const struct ef_extent *x, bool *split,
		   struct ef_extent *up)
{
	*split = false;
	if (n->h->depth == 0) {
		unsigned p = leaf_pos(n, x->lblk);
		if (p > 0 && adjacent(&n->e[p - 1], x)) {
			n->e[p - 1].len += x->len;
			if (p < n->h->count && adjacent(&n->e[p - 1], &n->e[p])) {
				n->e[p - 1].len += n->e[p].len;
				memmove(&n->e[p], &n->e[p + 1], (n->h->count - p - 1) * sizeof(*x));
				n->h->count--;
			}
			dirty_node(c->tx, n);
			return 0;
		}
		if (p < n->h->count && adjacent(x, &n->e[p])) {
			n->e[p].lblk = x->lblk;
			n->e[p].pblk = x->pblk;
			n->e[p].len += x->len;
			dirty_node(c->tx, n);
			return 0;
		}
		return node_put(c, n, p, x, split, up);
	}
	if (n->h->count == 0) /* an index root emptied by removes: back to a leaf */
		return -EUCLEAN;
	unsigned i = find_idx(n, x->lblk);
	if (x->lblk < n->e[0].lblk) {
		n->e[0].lblk = x->lblk;
		dirty_node(c->tx, n);
	}
	struct xnode ch;
	int r = read_node(c->ip, n->e[i].pblk, n->h->depth - 1, &ch);
	if (r < 0)
		return r;
	bool cs;
	struct ef_extent ce;
	r = ins_rec(c, &ch, x, &cs, &ce);
	put_node(&ch);
	if (r < 0 || !cs)
		return r;
	return node_put(c, n, i + 1, &ce, split, up);
}

int extent_insert(struct tx *tx, struct inode *ip, uint64_t lblk, uint64_t pblk, uint32_t len)
{
	ILOCKED_EXCL(ip);
	struct insctx c = {tx, ip};
	struct xnode root;
	extent_cache_clear(ip);
	root_node(ip, &root);
	if (root_check(&root) < 0)
		return -EUCLEAN;
	if (root.h->depth > 0 && root.h->count == 0) {
		root.h->depth = 0; /* an emptied index root */
	}
	struct ef_extent x = {.lblk = lblk, .pblk = pblk, .len = len};
	bool split;
	struct ef_extent up;
	int r = ins_rec(&c, &root, &x, &split, &up);
	if (r == 0)
		ip->d.blocks += len;
	return r; /* the root never reports a split: it grows instead */
}

/* ---- remove ---------------------------------------------------------------- */

/* Journal blocks an extent_remove may dirty beyond an insert's worth (its tail). */
static int extent_remove_budget(const struct inode *ip)
{
	int b = (int)ip->fs->tx_max - (int)extent_tx_blocks(ip) - 4;
	return b < 4 ? 4 : b > 64 ? 64 : b;
}

uint32_t extent_remove_tx_blocks(const struct inode *ip)
{
	return (uint32_t)extent_remove_budget(ip) + extent_tx_blocks(ip) + 4;
}

struct rmctx {
	struct tx *tx;
	struct inode *ip;
	uint64_t from, to;
	int budget;	  /* journal blocks left */
	uint64_t stopped; /* where the budget ran out, else UINT64_MAX */
	bool have_tail;	  /* a punched extent's right part, to insert again */
	struct ef_extent tail;
};

static int free_blocks(struct rmctx *c, uint64_t pblk, uint64_t n)
{
	struct fs *fs = c->ip->fs;
	int r = bfree(fs->st->alloc, c->tx, pblk, n);
	if (r < 0)
		return r;
	c->ip->d.blocks -= n <= c->ip->d.blocks ? n : c->ip->d.blocks;
	c->budget -= 2 + (int)(n / EF_BITMAP_BITS(fs->bsize));
	return 0;
}

/* Largest count of blocks the budget allows freeing at once. */
static uint64_t budget_blocks(const struct rmctx *c)
{
	int left = c->budget - 2;
	return left <= 0 ? 1 : (uint64_t)left * EF_BITMAP_BITS(c->ip->fs->bsize);
}

static int rm_leaf(struct rmctx *c, struct xnode *n)
{
	unsigned i = leaf_pos(n, c->from);
	if (i > 0 && ext_end(&n->e[i - 1]) > c->from)
		i--;
	bool changed = false;
	int r = 0;
	while (i < n->h->count && n->e[i].lblk < c->to) {
		if (c->budget <= 0) {
			c->stopped = n->e[i].lblk > c->from ? n->e[i].lblk : c->from;
			break;
		}
		struct ef_extent *e = &n->e[i];
		uint64_t s = e->lblk > c->from ? e->lblk : c->from;
		uint64_t t = ext_end(e) < c->to ? ext_end(e) : c->to;
		if (t - s > budget_blocks(c)) {
			/* A huge extent: free its head now, the rest next time. */
			t = s + budget_blocks(c);
			c->stopped = t;
			c->budget = 0;
		}
		if ((r = free_blocks(c, e->pblk + (s - e->lblk), t - s)) < 0)
			break;
		changed = true;
		if (s == e->lblk && t == ext_end(e)) {
			memmove(e, e + 1, (n->h->count - i - 1) * sizeof(*e));
			n->h->count--;
			continue;
		}
		if (s == e->lblk) {
			e->pblk += t - s;
			e->len -= (uint32_t)(t - s);
			e->lblk = t;
		} else if (t == ext_end(e)) {
			e->len = (uint32_t)(s - e->lblk);
		} else {
			c->tail = (struct ef_extent){.lblk = t,
						     .pblk = e->pblk + (t - e->lblk),
						     .len = (uint32_t)(ext_end(e) - t)};
			c->have_tail = true;
			e->len = (uint32_t)(s - e->lblk);
		}
		i++;
		if (c->stopped != UINT64_MAX)
			break;
	}
	if (changed)
		dirty_node(c->tx, n);
	return r;
}

static int rm_rec(struct rmctx *c, struct xnode *n)
{
	c->budget--; /* this node */
	if (n->h->depth == 0)
		return rm_leaf(c, n);
	bool changed = false;
	int r = 0;
	unsigned j = n->h->count ? find_idx(n, c->from) : 0;
	while (j < n->h->count && n->e[j].lblk < c->to && c->stopped == UINT64_MAX) {
		if (c->budget <= 0) {
			c->stopped = n->e[j].lblk > c->from ? n->e[j].lblk : c->from;
			break;
		}
		struct xnode ch;
		if ((r = read_node(c->ip, n->e[j].pblk, n->h->depth - 1, &ch)) < 0)
			break;
		r = rm_rec(c, &ch);
		bool empty = ch.h->count == 0;
		uint64_t blk = ch.b->blockno;
		put_node(&ch);
		if (r < 0)
			break;
		if (empty) {
			if ((r = free_blocks(c, blk, 1)) < 0)
				break;
			memmove(&n->e[j], &n->e[j + 1], (n->h->count - j - 1) * sizeof(n->e[0]));
			n->h->count--;
			changed = true;
			continue;
		}
		j++;
	}
	if (changed)
		dirty_node(c->tx, n);
	return r;
}

int extent_remove(struct tx *tx, struct inode *ip, uint64_t from, uint64_t to, uint64_t *next)
{
	ILOCKED_EXCL(ip);
	struct rmctx c = {.tx = tx,
			  .ip = ip,
			  .from = from,
			  .to = to,
			  .budget = extent_remove_budget(ip),
			  .stopped = UINT64_MAX};
	struct xnode root;
	extent_cache_clear(ip);
	root_node(ip, &root);
	if (root_check(&root) < 0)
		return -EUCLEAN;
	int r = rm_rec(&c, &root);
	if (root.h->depth > 0 && root.h->count == 0)
		root.h->depth = 0;
	if (r == 0 && c.have_tail) {
		r = extent_insert(tx, ip, c.tail.lblk, c.tail.pblk, c.tail.len);
		if (r == 0)
			ip->d.blocks -= c.tail.len; /* they were counted already */
	}
	*next = c.stopped == UINT64_MAX ? to : c.stopped;
	return r;
}
