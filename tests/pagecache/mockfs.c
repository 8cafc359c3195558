/* mockfs.c: the in-memory filesystem of the page-cache tests (see mockfs.h). */
#include "mockfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void mock_init(struct mockfs *m, uint32_t bs)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->bs = bs;
}

void mock_fini(struct mockfs *m)
{
	for (int i = 0; i < MOCK_NINO; i++)
		free(m->f[i].data);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cv);
}

/* Caller holds m->lock. */
static void grow(struct mockfs *m, uint64_t ino, size_t end)
{
	if (end <= m->f[ino].cap)
		return;
	size_t cap = m->f[ino].cap ? m->f[ino].cap : 65536;
	while (cap < end)
		cap *= 2;
	m->f[ino].data = realloc(m->f[ino].data, cap);
	memset(m->f[ino].data + m->f[ino].cap, 0, cap - m->f[ino].cap);
	m->f[ino].cap = cap;
}

/* Caller holds m->lock: waits while the gate holds this call. */
static void gate(struct mockfs *m, int kind, uint64_t ino, uint64_t index)
{
	if (!m->gate_armed || m->gate_kind != kind || m->gate_ino != ino || m->gate_index != index)
		return;
	m->gate_armed = false;
	m->gate_entered = true;
	pthread_cond_broadcast(&m->cv);
	while (!m->gate_open)
		pthread_cond_wait(&m->cv, &m->lock);
}

static int read_block(void *arg, uint64_t ino, uint64_t index, void *buf)
{
	struct mockfs *m = arg;
	uint64_t off = index * m->bs;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	gate(m, GATE_READ, ino, index);
	m->reads++;
	if (index > m->max_index_read[ino])
		m->max_index_read[ino] = index;
	if (m->read_err) {
		r = m->read_err;
		m->read_err = 0;
	} else {
		memset(buf, 0, m->bs);
		if (off < m->f[ino].size) {
			size_t n = m->f[ino].size - off < m->bs ? m->f[ino].size - off : m->bs;
			grow(m, ino, off + m->bs);
			memcpy(buf, m->f[ino].data + off, n);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int readpages(void *arg, uint64_t ino, uint64_t index, unsigned nr, void *const bufs[])
{
	struct mockfs *m = arg;

	pthread_mutex_lock(&m->lock);
	m->readpages_calls++;
	if (m->nbatch < MOCK_LOG)
		m->ra_batch[m->nbatch++] = nr;
	pthread_mutex_unlock(&m->lock);
	for (unsigned k = 0; k < nr; k++) {
		int r = read_block(arg, ino, index + k, bufs[k]);
		if (r)
			return r;
	}
	return 0;
}

static int writepage(void *arg, uint64_t ino, uint64_t index, const void *buf)
{
	struct mockfs *m = arg;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	gate(m, GATE_WRITE, ino, index);
	m->writes++;
	if (m->write_err || m->write_err_sticky) {
		r = m->write_err ? m->write_err : m->write_err_sticky;
		m->write_err = 0;
	} else {
		grow(m, ino, (index + 1) * m->bs);
		memcpy(m->f[ino].data + index * m->bs, buf, m->bs);
		if (m->nwlog < MOCK_LOG) {
			m->size_at_write[m->nwlog] = m->f[ino].size;
			m->wlog_ino[m->nwlog] = ino;
			m->wlog_index[m->nwlog++] = index;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int get_size(void *arg, uint64_t ino, uint64_t *size)
{
	struct mockfs *m = arg;

	if (ino >= MOCK_NINO)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	*size = m->f[ino].size;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int extend_size(void *arg, uint64_t ino, uint64_t size)
{
	struct mockfs *m = arg;

	pthread_mutex_lock(&m->lock);
	gate(m, GATE_EXTEND, ino, 0);
	if (size > m->f[ino].size)
		m->f[ino].size = size;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int writepages(void *arg, uint64_t ino, uint64_t index, unsigned nr,
		      const void *const bufs[])
{
	struct mockfs *m = arg;

	pthread_mutex_lock(&m->lock);
	if (m->nwbatch < MOCK_LOG)
		m->wb_batch[m->nwbatch++] = nr;
	pthread_mutex_unlock(&m->lock);
	for (unsigned k = 0; k < nr; k++) {
		int r = writepage(arg, ino, index + k, bufs[k]);
		if (r)
			return r;
	}
	return 0;
}

static int hold(void *arg, uint64_t ino, void **file)
{
	struct mockfs *m = arg;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	m->holds++;
	if (m->hold_err) {
		r = m->hold_err;
		m->hold_err = 0;
	} else {
		m->held[ino]++;
		*file = &m->f[ino];
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Checks the pages of the file (the first 64) for one still locked, then,
   at the last release of a file marked so, drops its pages. */
static void release(void *arg, void *file)
{
	struct mockfs *m = arg;
	uint64_t ino = (uint64_t)((char *)file - (char *)&m->f[0]) / sizeof(m->f[0]);
	bool drop;

	for (uint64_t i = 0; m->pc && i < 64; i++)
		if (pc_page_state(m->pc, ino, i) == PC_LOCKED) {
			pthread_mutex_lock(&m->lock);
			m->locked_at_release++;
			pthread_mutex_unlock(&m->lock);
			break;
		}
	pthread_mutex_lock(&m->lock);
	m->releases++;
	drop = --m->held[ino] == 0 && m->drop_on_release[ino];
	pthread_mutex_unlock(&m->lock);
	if (drop)
		pc_drop_inode(m->pc, ino);
}

const struct pc_ops mock_ops = {.read_block = read_block,
				.readpages = readpages,
				.writepage = writepage,
				.get_size = get_size,
				.extend_size = extend_size};
const struct pc_ops mock_ops_no_readpages = {.read_block = read_block,
					     .writepage = writepage,
					     .get_size = get_size,
					     .extend_size = extend_size};
const struct pc_ops mock_ops_batched = {.read_block = read_block,
					.readpages = readpages,
					.writepage = writepage,
					.get_size = get_size,
					.extend_size = extend_size,
					.writepages = writepages};
const struct pc_ops mock_ops_held = {.read_block = read_block,
				     .readpages = readpages,
				     .writepage = writepage,
				     .get_size = get_size,
				     .extend_size = extend_size,
				     .writepages = writepages,
				     .hold = hold,
				     .release = release};

void mock_write_direct(struct mockfs *m, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	pthread_mutex_lock(&m->lock);
	grow(m, ino, off + len);
	memcpy(m->f[ino].data + off, buf, len);
	if (off + len > m->f[ino].size)
		m->f[ino].size = off + len;
	pthread_mutex_unlock(&m->lock);
}

void mock_read_direct(struct mockfs *m, uint64_t ino, uint64_t off, void *buf, size_t len)
{
	pthread_mutex_lock(&m->lock);
	grow(m, ino, off + len);
	memcpy(buf, m->f[ino].data + off, len);
	pthread_mutex_unlock(&m->lock);
}

void mock_set_size(struct mockfs *m, uint64_t ino, uint64_t size)
{
	pthread_mutex_lock(&m->lock);
	grow(m, ino, size);
	if (size < m->f[ino].size) /* like a filesystem's truncate: what lies past EOF is gone */
		memset(m->f[ino].data + size, 0, m->f[ino].size - size);
	m->f[ino].size = size;
	pthread_mutex_unlock(&m->lock);
}

uint64_t mock_size(struct mockfs *m, uint64_t ino)
{
	uint64_t s = 0;

	get_size(m, ino, &s);
	return s;
}

void mock_fill(struct mockfs *m, uint64_t ino, unsigned nblocks, unsigned seed)
{
	pthread_mutex_lock(&m->lock);
	grow(m, ino, (size_t)nblocks * m->bs);
	for (unsigned b = 0; b < nblocks; b++)
		memset(m->f[ino].data + (size_t)b * m->bs, (int)((b + seed) & 0xff), m->bs);
	m->f[ino].size = (uint64_t)nblocks * m->bs;
	pthread_mutex_unlock(&m->lock);
}

void mock_gate_arm(struct mockfs *m, int kind, uint64_t ino, uint64_t index)
{
	pthread_mutex_lock(&m->lock);
	m->gate_armed = true;
	m->gate_entered = m->gate_open = false;
	m->gate_kind = kind;
	m->gate_ino = ino;
	m->gate_index = index;
	pthread_mutex_unlock(&m->lock);
}

void mock_gate_wait_entered(struct mockfs *m)
{
	pthread_mutex_lock(&m->lock);
	while (!m->gate_entered)
		pthread_cond_wait(&m->cv, &m->lock);
	pthread_mutex_unlock(&m->lock);
}

void mock_gate_open(struct mockfs *m)
{
	pthread_mutex_lock(&m->lock);
	m->gate_open = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->lock);
}
