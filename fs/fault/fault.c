/*
 * fault.c: fault points (see fault.h for the knobs and the contract).
 *
 * Layer: fault, above util; calls libc and size.h (byte sizes). Each point has a mutex that guards
 * its configuration and decision state (interval count, times left, random state); the counters are
 * atomics so that stats can read them without it. The hot-path flag f->on[p] is stored after the
 * configuration it guards (release) and the slow path re-checks the configuration under the mutex,
 * so a call racing a change sees either the old or the new setting.
 */
#include "fault.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "size.h"

struct fault_pt {
	pthread_mutex_t lock;
	struct fault_knobs k;
	unsigned long count; /* eligible calls since set (interval, nth) */
	long times_left;
	uint64_t rng;
	uint64_t set_ms; /* when set: the origin of the up/down windows */
	uint64_t *inos;	 /* path=: the inodes the glob names */
	size_t ninos, cap;
	atomic_uint_fast64_t calls, eligible, injected;
};

/* One injection, for the fault log. */
struct fault_rec {
	struct timespec when;
	uint8_t point, kind;
	int err, pid;
	uint64_t ino, off, len, detail; /* detail: corrupt byte<<8|bits, torn keep, delay ms */
};

struct fault_state {
	struct fault_pt pt[FAULT_NPOINTS];
	fault_log_fn log;
	void *log_arg;
	pthread_mutex_t resolve_lock; /* resolve, resolve_arg, and a resolution under way */
	fault_resolve_fn resolve;
	void *resolve_arg;
	pthread_mutex_t log_lock; /* the fault log ring */
	struct fault_rec *recs;	  /* FAULT_LOG_MAX, allocated at the first injection */
	uint64_t nrecs;		  /* recorded since faults_new */
};

static _Thread_local int caller_pid;

void fault_set_caller(int pid)
{
	caller_pid = pid;
}

int fault_caller(void)
{
	return caller_pid;
}

static const char *const point_names[FAULT_NPOINTS] = {
    [FAULT_INVALIDATE] = "invalidate",
    [FAULT_OSYNC] = "osync",
    [FAULT_DEVICE_READ] = "device_read",
    [FAULT_DEVICE_WRITE] = "device_write",
    [FAULT_DELAY] = "delay",
    [FAULT_FSYNC] = "fsync",
    [FAULT_ENOSPC] = "enospc",
};

static const char *const kind_names[] = {
    [FAULT_KIND_ERROR] = "error",
    [FAULT_KIND_CORRUPT] = "corrupt",
    [FAULT_KIND_TORN] = "torn",
    [FAULT_KIND_LOST] = "lost",
};

static const char *const io_names[] = {"direct", "buffered", "meta", "journal"};

#define POINT_LIST "invalidate, osync, device_read, device_write, delay, fsync, enospc"

const char *fault_kind_name(enum fault_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

const char *fault_point_name(enum fault_point p)
{
	return (unsigned)p < FAULT_NPOINTS ? point_names[p] : "?";
}

int fault_point_by_name(const char *name)
{
	for (int p = 0; p < FAULT_NPOINTS; p++)
		if (strcmp(name, point_names[p]) == 0)
			return p;
	return -1;
}

/* splitmix64: small, good enough for percentages, reproducible from a seed. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct faults *faults_new(uint64_t seed, fault_log_fn log, void *log_arg)
{
	struct faults *f = calloc(1, sizeof(*f));
	struct fault_state *st = calloc(1, sizeof(*st));

	if (!f || !st) {
		free(f);
		free(st);
		return NULL;
	}
	st->log = log;
	st->log_arg = log_arg;
	pthread_mutex_init(&st->log_lock, NULL);
	pthread_mutex_init(&st->resolve_lock, NULL);
	atomic_init(&f->any_path, false);
	for (int p = 0; p < FAULT_NPOINTS; p++) {
		struct fault_pt *pt = &st->pt[p];
		pthread_mutex_init(&pt->lock, NULL);
		fault_knobs_default(p, &pt->k);
		pt->k.enabled = false;
		pt->rng = seed ^ ((uint64_t)(p + 1) * 0x2545f4914f6cdd1dULL);
		atomic_init(&f->on[p], false);
	}
	f->st = st;
	return f;
}

void faults_free(struct faults *f)
{
	if (!f)
		return;
	for (int p = 0; p < FAULT_NPOINTS; p++) {
		pthread_mutex_destroy(&f->st->pt[p].lock);
		free(f->st->pt[p].inos);
	}
	pthread_mutex_destroy(&f->st->log_lock);
	pthread_mutex_destroy(&f->st->resolve_lock);
	free(f->st->recs);
	free(f->st);
	free(f);
}

void fault_knobs_default(enum fault_point p, struct fault_knobs *k)
{
	memset(k, 0, sizeof(*k));
	k->enabled = true;
	k->err = EIO;
	k->probability = 100;
	k->interval = 1;
	k->times = -1;
	k->ms = p == FAULT_DELAY ? 10 : 0;
	k->io = FAULT_IO_ALL;
	k->err = p == FAULT_ENOSPC ? ENOSPC : EIO;
}

/* Resolves point p's glob now, if a resolver is installed (no point lock held). */
static void resolve_point(struct faults *f, enum fault_point p, const char *glob)
{
	struct fault_state *st = f->st;

	pthread_mutex_lock(&st->resolve_lock);
	if (st->resolve)
		st->resolve(st->resolve_arg, f, p, glob);
	pthread_mutex_unlock(&st->resolve_lock);
}

void faults_set_resolver(struct faults *f, fault_resolve_fn fn, void *arg)
{
	struct fault_state *st = f->st;

	/* Waits for a resolution under way: after removal none runs. */
	pthread_mutex_lock(&st->resolve_lock);
	st->resolve = fn;
	st->resolve_arg = arg;
	pthread_mutex_unlock(&st->resolve_lock);
	if (!fn)
		return;
	/* Points set before the filesystem was there (-o fault=, -o faults=). */
	for (int p = 0; p < FAULT_NPOINTS; p++) {
		struct fault_knobs k;
		fault_get(f, p, &k, NULL);
		if (k.enabled && k.path[0])
			resolve_point(f, p, k.path);
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Whether any point filters by path (creates then report their paths). */
static void update_any_path(struct faults *f)
{
	bool any = false;

	for (int p = 0; p < FAULT_NPOINTS; p++)
		any |= atomic_load(&f->on[p]) && f->st->pt[p].k.path[0];
	atomic_store(&f->any_path, any);
}

void fault_set(struct faults *f, enum fault_point p, const struct fault_knobs *k)
{
	struct fault_pt *pt = &f->st->pt[p];

	pthread_mutex_lock(&pt->lock);
	pt->k = *k;
	pt->count = 0;
	pt->times_left = k->times;
	pt->set_ms = mono_ms();
	pt->ninos = 0;
	if (k->has_seed)
		pt->rng = k->seed ^ ((uint64_t)(p + 1) * 0x2545f4914f6cdd1dULL);
	/* Publish the flag after the configuration it guards. */
	atomic_store_explicit(&f->on[p], k->enabled, memory_order_release);
	pthread_mutex_unlock(&pt->lock);
	update_any_path(f);
	/* Resolve outside the lock: the resolver calls fault_path_add. */
	if (k->enabled && k->path[0])
		resolve_point(f, p, k->path);
}

void fault_path_add(struct faults *f, enum fault_point p, uint64_t ino)
{
	struct fault_pt *pt = &f->st->pt[p];

	pthread_mutex_lock(&pt->lock);
	for (size_t i = 0; i < pt->ninos; i++)
		if (pt->inos[i] == ino)
			goto out;
	if (pt->ninos == pt->cap) {
		size_t cap = pt->cap ? pt->cap * 2 : 16;
		uint64_t *n = realloc(pt->inos, cap * sizeof(*n));
		if (!n)
			goto out; /* this inode stays unfiltered-in: no fault on it */
		pt->inos = n;
		pt->cap = cap;
	}
	pt->inos[pt->ninos++] = ino;
out:
	pthread_mutex_unlock(&pt->lock);
}

void fault_path_created(struct faults *f, uint64_t ino, const char *path)
{
	if (!atomic_load_explicit(&f->any_path, memory_order_relaxed))
		return;
	for (int p = 0; p < FAULT_NPOINTS; p++) {
		struct fault_pt *pt = &f->st->pt[p];
		bool match;

		pthread_mutex_lock(&pt->lock);
		match = pt->k.enabled && pt->k.path[0] && fnmatch(pt->k.path, path, 0) == 0;
		pthread_mutex_unlock(&pt->lock);
		if (match)
			fault_path_add(f, p, ino);
	}
}

void fault_off(struct faults *f, enum fault_point p)
{
	struct fault_knobs k;

	fault_knobs_default(p, &k);
	k.enabled = false;
	fault_set(f, p, &k);
}

void fault_get(struct faults *f, enum fault_point p, struct fault_knobs *k,
	       struct fault_counters *c)
{
	struct fault_pt *pt = &f->st->pt[p];

	pthread_mutex_lock(&pt->lock);
	if (k)
		*k = pt->k;
	if (c) {
		c->calls = atomic_load(&pt->calls);
		c->eligible = atomic_load(&pt->eligible);
		c->injected = atomic_load(&pt->injected);
		c->times_left = pt->times_left;
	}
	pthread_mutex_unlock(&pt->lock);
}

/* Does the request [off, off+len) (a zero length counts as one byte) overlap the filter? */
static bool offset_matches(const struct fault_knobs *k, uint64_t off, uint64_t len)
{
	uint64_t last = len ? off + (len - 1) : off;

	if (last < off) /* wrapped */
		last = UINT64_MAX;
	return off <= k->off_end && last >= k->off_start;
}

/* Whether pid's command name is comm (/proc/PID/comm). */
static bool comm_matches(int pid, const char *comm)
{
	char path[64], name[FAULT_COMM_MAX + 2];
	FILE *fp;
	size_t n;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (!(fp = fopen(path, "re")))
		return false;
	n = fread(name, 1, sizeof(name) - 1, fp);
	fclose(fp);
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	return strcmp(name, comm) == 0;
}

/* Filters of pt (under its lock) other than comm, which is slow and checked last. */
static bool filters_pass(const struct fault_pt *pt, const struct fault_req *rq)
{
	const struct fault_knobs *k = &pt->k;

	if (rq->io && !(rq->io & k->io))
		return false;
	if (k->kind != FAULT_KIND_ERROR && !(rq->kinds & (1u << k->kind)))
		return false; /* this site cannot tear or corrupt: not its call */
	if (k->has_ino && rq->ino != k->ino)
		return false;
	if (k->has_offset && !offset_matches(k, rq->off, rq->len))
		return false;
	if (k->pid && rq->pid != k->pid)
		return false;
	if (k->path[0]) {
		size_t i = 0;
		while (i < pt->ninos && pt->inos[i] != rq->ino)
			i++;
		if (i == pt->ninos)
			return false;
	}
	if (k->up_ms + k->down_ms) {
		uint64_t phase = (mono_ms() - pt->set_ms) % (k->up_ms + k->down_ms);
		if (phase < k->up_ms)
			return false; /* the up window: the device works */
	}
	return true;
}

/* The hit of kind k->kind on a request of len bytes (under the point's lock). */
static void make_hit(struct fault_pt *pt, enum fault_point p, const struct fault_req *rq,
		     struct fault_hit *h)
{
	const struct fault_knobs *k = &pt->k;

	memset(h, 0, sizeof(*h));
	h->kind = k->kind;
	h->err = k->err;
	if (p == FAULT_DELAY) {
		h->ms = k->ms;
		h->err = 0;
		return;
	}
	switch (k->kind) {
	case FAULT_KIND_ERROR:
		break;
	case FAULT_KIND_CORRUPT:
		h->err = 0;
		/* Inside the request whatever byte= says: a shorter one wraps. */
		h->byte = k->has_byte ? (rq->len ? k->byte % rq->len : 0)
			  : rq->len   ? rng_next(&pt->rng) % rq->len
				      : 0;
		h->bits = (uint8_t)(k->bits ? k->bits : 1u + rng_next(&pt->rng) % 255u);
		break;
	case FAULT_KIND_TORN:
		h->err = k->err_given ? k->err : 0;
		h->keep = k->keep < rq->len ? k->keep : rq->len;
		break;
	case FAULT_KIND_LOST:
		h->err = 0;
		break;
	}
}

static void record(struct faults *f, enum fault_point p, const struct fault_req *rq,
		   const struct fault_hit *h)
{
	struct fault_state *st = f->st;

	pthread_mutex_lock(&st->log_lock);
	if (!st->recs)
		st->recs = calloc(FAULT_LOG_MAX, sizeof(*st->recs));
	if (st->recs) {
		struct fault_rec *r = &st->recs[st->nrecs++ % FAULT_LOG_MAX];
		clock_gettime(CLOCK_REALTIME, &r->when);
		r->point = (uint8_t)p;
		r->kind = (uint8_t)h->kind;
		r->err = h->err;
		r->pid = rq->pid;
		r->ino = rq->ino;
		r->off = rq->off;
		r->len = rq->len;
		r->detail = h->kind == FAULT_KIND_CORRUPT ? h->byte << 8 | h->bits
			    : h->kind == FAULT_KIND_TORN  ? h->keep
			    : p == FAULT_DELAY		  ? h->ms
							  : 0;
	}
	pthread_mutex_unlock(&st->log_lock);
}

/* What was done, in words ("EIO", "corrupt byte 17 ^0x40", ...). */
static void describe(enum fault_point p, enum fault_kind kind, int err, uint64_t detail, char *buf,
		     size_t len)
{
	char eb[16];

	if (p == FAULT_DELAY) {
		snprintf(buf, len, "delay %" PRIu64 " ms", detail);
		return;
	}
	switch (kind) {
	case FAULT_KIND_ERROR:
		snprintf(buf, len, "%s", fault_errno_name(err, eb, sizeof(eb)));
		break;
	case FAULT_KIND_CORRUPT:
		snprintf(buf, len, "corrupt byte %" PRIu64 " ^0x%02x", detail >> 8,
			 (unsigned)(detail & 0xff));
		break;
	case FAULT_KIND_TORN:
		snprintf(buf, len, "torn keep %" PRIu64 " %s", detail,
			 err ? fault_errno_name(err, eb, sizeof(eb)) : "ok");
		break;
	case FAULT_KIND_LOST:
		snprintf(buf, len, "lost");
		break;
	}
}

bool fault_hit_slow(struct faults *f, enum fault_point p, const struct fault_req *rq,
		    struct fault_hit *hit)
{
	struct fault_pt *pt = &f->st->pt[p];
	char line[200], what[64];
	bool fire = false, log = false;
	uint64_t nth = 0;
	char comm[FAULT_COMM_MAX];

	pthread_mutex_lock(&pt->lock);
	if (!pt->k.enabled)
		goto out;
	atomic_fetch_add_explicit(&pt->calls, 1, memory_order_relaxed);
	if (pt->times_left == 0)
		goto out;
	if (!filters_pass(pt, rq))
		goto out;
	if (pt->k.comm[0]) {
		/* /proc is read outside the lock; the knobs may change meanwhile,
		   then this call simply decides on the new ones next time. */
		memcpy(comm, pt->k.comm, sizeof(comm));
		pthread_mutex_unlock(&pt->lock);
		bool ok = comm_matches(rq->pid, comm);
		pthread_mutex_lock(&pt->lock);
		if (!ok || !pt->k.enabled || strcmp(comm, pt->k.comm))
			goto out;
	}
	atomic_fetch_add_explicit(&pt->eligible, 1, memory_order_relaxed);
	pt->count++;
	if (pt->k.nth) {
		if (pt->count != pt->k.nth)
			goto out;
	} else {
		if (pt->k.interval > 1 && pt->count % pt->k.interval != 0)
			goto out;
		if (pt->k.probability < 100 && rng_next(&pt->rng) % 100 >= pt->k.probability)
			goto out;
	}
	if (pt->times_left > 0)
		pt->times_left--;
	nth = atomic_fetch_add_explicit(&pt->injected, 1, memory_order_relaxed) + 1;
	fire = true;
	make_hit(pt, p, rq, hit);
	log = pt->k.verbose && f->st->log;
out:
	pthread_mutex_unlock(&pt->lock);
	if (!fire)
		return false;
	record(f, p, rq, hit);
	if (log) {
		uint64_t detail = hit->kind == FAULT_KIND_CORRUPT ? hit->byte << 8 | hit->bits
				  : hit->kind == FAULT_KIND_TORN  ? hit->keep
								  : hit->ms;
		describe(p, hit->kind, hit->err, detail, what, sizeof(what));
		snprintf(line, sizeof(line),
			 "fault %s: injected %s (ino %" PRIu64 ", bytes %" PRIu64 "+%" PRIu64
			 ", pid %d, injection %" PRIu64 ")",
			 point_names[p], what, rq->ino, rq->off, rq->len, rq->pid, nth);
		f->st->log(f->st->log_arg, line);
	}
	return true;
}

/* For FAULT_DELAY, *err receives the milliseconds to add. */
bool fault_should_fail_slow(struct faults *f, enum fault_point p, uint64_t ino, uint64_t off,
			    uint64_t len, int *err)
{
	struct fault_req rq = {.ino = ino,
			       .off = off,
			       .len = len,
			       .io = ino == FAULT_INO_META ? FAULT_IO_META : 0,
			       .pid = caller_pid};
	struct fault_hit h;

	if (!fault_hit_slow(f, p, &rq, &h))
		return false;
	*err = p == FAULT_DELAY ? (int)h.ms : h.err ? h.err : EIO;
	return true;
}

/* ---- errno names ---------------------------------------------------------- */

const char *fault_errno_name(int err, char *buf, size_t len)
{
	const char *n = err > 0 ? strerrorname_np(err) : NULL;

	if (n)
		return n;
	snprintf(buf, len, "%d", err);
	return buf;
}

int fault_errno_parse(const char *s)
{
	char *end;
	long v;

	if (isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))) {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno || *end || v == 0 || v < -4095 || v > 4095)
			return -1;
		return v < 0 ? (int)-v : (int)v;
	}
	for (int e = 1; e < 4096; e++) {
		const char *n = strerrorname_np(e);
		if (n && strcasecmp(n, s) == 0)
			return e;
	}
	return -1;
}

/* ---- parsing -------------------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return !errno && *end == '\0';
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Applies one KEY=VAL to k (the point p's pending configuration). */
static int parse_knob(enum fault_point p, struct fault_knobs *k, const char *kv, char *err,
		      size_t errlen)
{
	const char *pn = point_names[p];
	const char *eq = strchr(kv, '=');
	char key[32], why[128];
	const char *val;
	uint64_t u, a, b;

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key))
		return bad(err, errlen, "fault %s: expected KEY=VALUE, got '%s'", pn, kv);
	memcpy(key, kv, eq - kv);
	key[eq - kv] = '\0';
	val = eq + 1;
	if (!*val)
		return bad(err, errlen, "fault %s: %s has no value", pn, key);

	if (strcmp(key, "errno") == 0) {
		int e = fault_errno_parse(val);
		if (e < 0)
			return bad(err, errlen,
				   "fault %s: unknown errno '%s' (a name like EIO or a number)", pn,
				   val);
		k->err = e;
		k->err_given = true;
	} else if (strcmp(key, "probability") == 0) {
		if (!parse_u64(val, &u) || u > 100)
			return bad(err, errlen,
				   "fault %s: probability '%s' is not a percentage 0-100", pn, val);
		k->probability = (unsigned)u;
	} else if (strcmp(key, "interval") == 0) {
		if (!parse_u64(val, &u) || u == 0 || u > 1000000000)
			return bad(err, errlen, "fault %s: interval '%s' is not a count >= 1", pn,
				   val);
		k->interval = (unsigned long)u;
	} else if (strcmp(key, "times") == 0) {
		if (strcmp(val, "-1") == 0)
			k->times = -1;
		else if (parse_u64(val, &u) && u <= 1000000000)
			k->times = (long)u;
		else
			return bad(err, errlen, "fault %s: times '%s' is not -1 or a count", pn,
				   val);
	} else if (strcmp(key, "ino") == 0) {
		if (!parse_u64(val, &u))
			return bad(err, errlen, "fault %s: ino '%s' is not an inode number", pn,
				   val);
		k->has_ino = true;
		k->ino = u;
	} else if (strcmp(key, "offset") == 0) {
		const char *dash = strchr(val, '-');
		char first[32];
		if (!dash || (size_t)(dash - val) >= sizeof(first))
			return bad(err, errlen, "fault %s: offset '%s' is not START-END", pn, val);
		memcpy(first, val, dash - val);
		first[dash - val] = '\0';
		if (size_parse(first, &a, why, sizeof(why)) < 0 ||
		    size_parse(dash + 1, &b, why, sizeof(why)) < 0)
			return bad(err, errlen, "fault %s: offset: %s", pn, why);
		if (b < a)
			return bad(err, errlen,
				   "fault %s: offset '%s' is not START-END with START <= END", pn,
				   val);
		k->has_offset = true;
		k->off_start = a;
		k->off_end = b;
	} else if (strcmp(key, "verbose") == 0) {
		if (strcmp(val, "0") && strcmp(val, "1"))
			return bad(err, errlen, "fault %s: verbose '%s' is not 0 or 1", pn, val);
		k->verbose = val[0] == '1';
	} else if (strcmp(key, "meta") == 0) {
		if (strcmp(val, "0") && strcmp(val, "1"))
			return bad(err, errlen, "fault %s: meta '%s' is not 0 or 1", pn, val);
		k->io = val[0] == '1' ? FAULT_IO_META | FAULT_IO_JOURNAL
				      : FAULT_IO_DIRECT | FAULT_IO_BUFFERED;
	} else if (strcmp(key, "io") == 0) {
		unsigned mask = 0;
		char list[64], *save = NULL;
		if (strlen(val) >= sizeof(list))
			return bad(err, errlen, "fault %s: io '%s' is too long", pn, val);
		strcpy(list, val);
		for (char *w = strtok_r(list, ",+|", &save); w; w = strtok_r(NULL, ",+|", &save)) {
			unsigned i = 0;
			while (i < 4 && strcmp(w, io_names[i]))
				i++;
			if (i == 4)
				return bad(err, errlen,
					   "fault %s: io '%s' is not a list of direct, buffered, "
					   "meta, journal",
					   pn, val);
			mask |= 1u << i;
		}
		if (!mask)
			return bad(err, errlen, "fault %s: io '%s' names no kind of I/O", pn, val);
		k->io = mask;
	} else if (strcmp(key, "nth") == 0) {
		if (!parse_u64(val, &u) || u == 0 || u > 1000000000)
			return bad(err, errlen, "fault %s: nth '%s' is not a count >= 1", pn, val);
		k->nth = (unsigned long)u;
	} else if (strcmp(key, "seed") == 0) {
		if (!parse_u64(val, &u))
			return bad(err, errlen, "fault %s: seed '%s' is not a number", pn, val);
		k->has_seed = true;
		k->seed = u;
	} else if (strcmp(key, "pid") == 0) {
		if (!parse_u64(val, &u) || u == 0 || u > 4194304)
			return bad(err, errlen, "fault %s: pid '%s' is not a process id", pn, val);
		k->pid = (int)u;
	} else if (strcmp(key, "comm") == 0) {
		if (strlen(val) >= sizeof(k->comm))
			return bad(err, errlen, "fault %s: comm '%s' is longer than 15 bytes", pn,
				   val);
		strcpy(k->comm, val);
	} else if (strcmp(key, "path") == 0) {
		if (val[0] != '/' || strlen(val) >= sizeof(k->path))
			return bad(err, errlen,
				   "fault %s: path '%s' is not a glob starting with / (from the "
				   "mount's root)",
				   pn, val);
		strcpy(k->path, val);
	} else if (strcmp(key, "up") == 0 || strcmp(key, "down") == 0) {
		if (!parse_u64(val, &u) || u > 86400000)
			return bad(err, errlen, "fault %s: %s '%s' is not 0-86400000 ms", pn, key,
				   val);
		*(key[0] == 'u' ? &k->up_ms : &k->down_ms) = (unsigned)u;
	} else if (strcmp(key, "kind") == 0) {
		unsigned i = 0;
		while (i < 4 && strcmp(val, kind_names[i]))
			i++;
		bool ok = (p == FAULT_DEVICE_WRITE && i < 4) ||
			  (p == FAULT_DEVICE_READ && i <= FAULT_KIND_CORRUPT) || i == 0;
		if (!ok)
			return bad(err, errlen, "fault %s: kind '%s' is not one of %s", pn, val,
				   p == FAULT_DEVICE_WRITE  ? "error, corrupt, torn, lost"
				   : p == FAULT_DEVICE_READ ? "error, corrupt"
							    : "error");
		k->kind = (enum fault_kind)i;
	} else if (strcmp(key, "byte") == 0) {
		if (size_parse(val, &u, why, sizeof(why)) < 0)
			return bad(err, errlen, "fault %s: byte: %s", pn, why);
		k->has_byte = true;
		k->byte = u;
	} else if (strcmp(key, "bits") == 0) {
		if (!parse_u64(val, &u) || u == 0 || u > 255)
			return bad(err, errlen, "fault %s: bits '%s' is not a mask 1-255", pn, val);
		k->bits = (unsigned)u;
	} else if (strcmp(key, "keep") == 0) {
		if (size_parse(val, &u, why, sizeof(why)) < 0)
			return bad(err, errlen, "fault %s: keep: %s", pn, why);
		if (u % 512)
			return bad(err, errlen, "fault %s: keep '%s' is not a multiple of 512", pn,
				   val);
		k->keep = u;
	} else if (strcmp(key, "fill") == 0) {
		if (p != FAULT_ENOSPC)
			return bad(err, errlen, "fault %s: fill applies only to the enospc point",
				   pn);
		if (!parse_u64(val, &u) || u > 100)
			return bad(err, errlen, "fault %s: fill '%s' is not a percentage 0-100", pn,
				   val);
		k->fill = (unsigned)u;
	} else if (strcmp(key, "ms") == 0) {
		if (p != FAULT_DELAY)
			return bad(err, errlen, "fault %s: ms applies only to the delay point", pn);
		if (!parse_u64(val, &u) || u > 600000)
			return bad(err, errlen, "fault %s: ms '%s' is not 0-600000", pn, val);
		k->ms = (unsigned)u;
	} else {
		return bad(err, errlen,
			   "fault %s: unknown knob '%s' (errno, probability, interval, times, nth, "
			   "seed, ino, path, pid, comm, offset, io, up, down, verbose%s)",
			   pn, key,
			   p == FAULT_DELAY	     ? ", ms"
			   : p == FAULT_DEVICE_WRITE ? ", kind, byte, bits, keep"
			   : p == FAULT_DEVICE_READ  ? ", kind, byte, bits"
			   : p == FAULT_ENOSPC	     ? ", fill"
						     : "");
	}
	return 0;
}

/* The common core: argv[0] is the point, the rest knobs or the single word "off". */
int fault_set_argv(struct faults *f, int argc, char *const argv[], char *err, size_t errlen)
{
	struct fault_knobs k;
	int p;

	if (argc < 1 || !argv[0][0])
		return bad(err, errlen, "fault: no point given (" POINT_LIST ")");
	p = fault_point_by_name(argv[0]);
	if (p < 0)
		return bad(err, errlen, "fault: unknown point '%s' (" POINT_LIST ")", argv[0]);
	fault_knobs_default(p, &k);
	if (argc >= 2 && strcmp(argv[1], "off") == 0) {
		if (argc > 2)
			return bad(err, errlen, "fault %s: 'off' takes no knobs", argv[0]);
		k.enabled = false;
	}
	for (int i = 1; k.enabled && i < argc; i++) {
		int r = parse_knob(p, &k, argv[i], err, errlen);
		if (r)
			return r;
	}
	if (k.enabled && k.nth && (k.interval > 1 || k.probability < 100 || k.times >= 0))
		return bad(err, errlen,
			   "fault %s: nth fails exactly one call: no interval, probability or "
			   "times with it",
			   argv[0]);
	if (k.enabled && (k.up_ms == 0) != (k.down_ms == 0))
		return bad(err, errlen, "fault %s: up and down go together (up=MS down=MS)",
			   argv[0]);
	if (k.enabled && (k.has_byte || k.bits) && k.kind != FAULT_KIND_CORRUPT)
		return bad(err, errlen, "fault %s: byte and bits go with kind=corrupt", argv[0]);
	if (k.enabled && k.keep && k.kind != FAULT_KIND_TORN)
		return bad(err, errlen, "fault %s: keep goes with kind=torn", argv[0]);
	fault_set(f, p, &k);
	return 0;
}

#define MAX_WORDS 16

/* Splits a copy of s at any of seps into words; returns the count or -1 if too many. */
static int split(char *s, const char *seps, char *words[MAX_WORDS])
{
	int n = 0;

	for (char *save = NULL, *w = strtok_r(s, seps, &save); w; w = strtok_r(NULL, seps, &save)) {
		if (n == MAX_WORDS)
			return -1;
		words[n++] = w;
	}
	return n;
}

static int set_split(struct faults *f, const char *s, const char *seps, char *err, size_t errlen)
{
	char *copy = strdup(s), *words[MAX_WORDS];
	int n, r;

	if (!copy)
		return -ENOMEM;
	n = split(copy, seps, words);
	if (n < 0)
		r = bad(err, errlen, "fault: too many knobs in '%s'", s);
	else
		r = fault_set_argv(f, n, words, err, errlen);
	free(copy);
	return r;
}

int fault_set_option(struct faults *f, const char *spec, char *err, size_t errlen)
{
	size_t n = strlen(spec);

	if (strchr(spec, ' ') || strstr(spec, "::") || n == 0 || spec[0] == ':' ||
	    spec[n - 1] == ':')
		return bad(err, errlen, "fault: malformed spec '%s' (POINT:KEY=VAL:...)", spec);
	return set_split(f, spec, ":", err, errlen);
}

int fault_set_line(struct faults *f, const char *line, char *err, size_t errlen)
{
	return set_split(f, line, " \t\n", err, errlen);
}

/* ---- formatting ------------------------------------------------------------ */

struct out {
	char *buf;
	size_t len, pos;
};

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

static size_t out_end(struct out *o)
{
	if (o->len)
		o->buf[o->pos < o->len ? o->pos : o->len - 1] = '\0';
	return o->pos;
}

/* The knobs that differ from a point's defaults (besides those fault_format always shows). */
static void knobs_extra(struct out *o, enum fault_point p, const struct fault_knobs *k)
{
	if (k->nth)
		out_printf(o, " nth=%lu", k->nth);
	if (k->has_seed)
		out_printf(o, " seed=%" PRIu64, k->seed);
	if (k->has_ino)
		out_printf(o, " ino=%" PRIu64, k->ino);
	if (k->path[0])
		out_printf(o, " path=%s", k->path);
	if (k->pid)
		out_printf(o, " pid=%d", k->pid);
	if (k->comm[0])
		out_printf(o, " comm=%s", k->comm);
	if (k->has_offset)
		out_printf(o, " offset=%" PRIu64 "-%" PRIu64, k->off_start, k->off_end);
	if (k->io != FAULT_IO_ALL) {
		const char *sep = " io=";
		for (unsigned i = 0; i < 4; i++)
			if (k->io & (1u << i)) {
				out_printf(o, "%s%s", sep, io_names[i]);
				sep = "+";
			}
	}
	if (k->up_ms + k->down_ms)
		out_printf(o, " up=%u down=%u", k->up_ms, k->down_ms);
	if (k->kind != FAULT_KIND_ERROR)
		out_printf(o, " kind=%s", kind_names[k->kind]);
	if (k->has_byte)
		out_printf(o, " byte=%" PRIu64, k->byte);
	if (k->bits)
		out_printf(o, " bits=%u", k->bits);
	if (k->keep)
		out_printf(o, " keep=%" PRIu64, k->keep);
	if (p == FAULT_ENOSPC)
		out_printf(o, " fill=%u", k->fill);
}

size_t fault_format(struct faults *f, char *buf, size_t len)
{
	struct out o = {buf, len, 0};

	for (int p = 0; p < FAULT_NPOINTS; p++) {
		struct fault_knobs k;
		struct fault_counters c;
		char eb[16];

		fault_get(f, p, &k, &c);
		out_printf(&o, "%-12s %-3s", point_names[p], k.enabled ? "on" : "off");
		if (k.enabled) {
			if (p == FAULT_DELAY)
				out_printf(&o, " ms=%u", k.ms);
			else
				out_printf(&o, " errno=%s",
					   fault_errno_name(k.err, eb, sizeof(eb)));
			out_printf(&o, " probability=%u interval=%lu times=%ld", k.probability,
				   k.interval, k.times);
			knobs_extra(&o, p, &k);
			out_printf(&o, " verbose=%d (times left %ld)", k.verbose, c.times_left);
		}
		out_printf(&o, " calls=%" PRIu64 " eligible=%" PRIu64 " injected=%" PRIu64 "\n",
			   c.calls, c.eligible, c.injected);
	}
	return out_end(&o);
}

size_t fault_save_format(struct faults *f, char *buf, size_t len)
{
	struct out o = {buf, len, 0};

	out_printf(&o,
		   "# eiocbfs fault schedule: one point a line, as eiocbctl MNT fault takes it\n");
	for (int p = 0; p < FAULT_NPOINTS; p++) {
		struct fault_knobs k;
		char eb[16];

		fault_get(f, p, &k, NULL);
		if (!k.enabled)
			continue;
		out_printf(&o, "%s", point_names[p]);
		if (p == FAULT_DELAY)
			out_printf(&o, " ms=%u", k.ms);
		else if (k.kind == FAULT_KIND_ERROR || k.err_given)
			out_printf(&o, " errno=%s", fault_errno_name(k.err, eb, sizeof(eb)));
		if (k.probability != 100)
			out_printf(&o, " probability=%u", k.probability);
		if (k.interval != 1)
			out_printf(&o, " interval=%lu", k.interval);
		if (k.times >= 0)
			out_printf(&o, " times=%ld", k.times);
		knobs_extra(&o, p, &k);
		if (k.verbose)
			out_printf(&o, " verbose=1");
		out_printf(&o, "\n");
	}
	return out_end(&o);
}

size_t fault_log_format(struct faults *f, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	struct fault_state *st = f->st;

	pthread_mutex_lock(&st->log_lock);
	uint64_t n = st->nrecs, first = n > FAULT_LOG_MAX ? n - FAULT_LOG_MAX : 0;
	for (uint64_t i = first; st->recs && i < n; i++) {
		const struct fault_rec *r = &st->recs[i % FAULT_LOG_MAX];
		struct tm tm;
		char when[32], what[64], ino[24];

		gmtime_r(&r->when.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		describe(r->point, r->kind, r->err, r->detail, what, sizeof(what));
		if (r->ino == FAULT_INO_META)
			snprintf(ino, sizeof(ino), "meta");
		else
			snprintf(ino, sizeof(ino), "%" PRIu64, r->ino);
		out_printf(&o, "%s.%06ldZ %s ino=%s offset=%" PRIu64 "+%" PRIu64 " pid=%d %s\n",
			   when, r->when.tv_nsec / 1000, point_names[r->point], ino, r->off, r->len,
			   r->pid, what);
	}
	if (first)
		out_printf(&o, "# %" PRIu64 " older injections dropped (the log keeps %d)\n", first,
			   FAULT_LOG_MAX);
	pthread_mutex_unlock(&st->log_lock);
	return out_end(&o);
}

int fault_load_text(struct faults *f, const char *text, char *err, size_t errlen)
{
	struct faults *scratch = faults_new(0, NULL, NULL);
	char *copy = strdup(text), *save = NULL;
	int lineno = 0, r = 0;
	char why[256];

	if (!scratch || !copy) {
		faults_free(scratch);
		free(copy);
		return -ENOMEM;
	}
	/* Pass 1 checks every line on a scratch set; pass 2 applies them. */
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		strcpy(copy, text);
		lineno = 0;
		save = NULL;
		for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			lineno++;
			l += strspn(l, " \t\r");
			if (!*l || *l == '#')
				continue;
			l[strcspn(l, "\r")] = '\0';
			r = fault_set_line(pass ? f : scratch, l, why, sizeof(why));
			if (r < 0) {
				bad(err, errlen, "line %d: %s", lineno, why);
				break;
			}
		}
	}
	faults_free(scratch);
	free(copy);
	return r;
}
