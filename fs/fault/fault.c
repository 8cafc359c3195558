/*
 * fault.c: fault points (see fault.h for the knobs and the contract).
 *
 * Layer: a leaf; calls only libc. Each point has a mutex that guards its
 * configuration and decision state (interval count, times left, random
 * state); the counters are atomics so that stats can read them without it.
 * The hot-path flag f->on[p] is stored after the configuration it guards
 * (release) and the slow path re-checks the configuration under the mutex,
 * so a call racing a change sees either the old or the new setting.
 */
#include "fault.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fault_pt {
	pthread_mutex_t lock;
	struct fault_knobs k;
	unsigned long count; /* eligible calls since set (interval) */
	long times_left;
	uint64_t rng;
	atomic_uint_fast64_t calls, eligible, injected;
};

struct fault_state {
	struct fault_pt pt[FAULT_NPOINTS];
	fault_log_fn log;
	void *log_arg;
};

static const char *const point_names[FAULT_NPOINTS] = {
    [FAULT_INVALIDATE] = "invalidate",
    [FAULT_OSYNC] = "osync",
    [FAULT_DEVICE_READ] = "device_read",
    [FAULT_DEVICE_WRITE] = "device_write",
    [FAULT_DELAY] = "delay",
};

#define POINT_LIST "invalidate, osync, device_read, device_write, delay"

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
	for (int p = 0; p < FAULT_NPOINTS; p++)
		pthread_mutex_destroy(&f->st->pt[p].lock);
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
}

void fault_set(struct faults *f, enum fault_point p, const struct fault_knobs *k)
{
	struct fault_pt *pt = &f->st->pt[p];

	pthread_mutex_lock(&pt->lock);
	pt->k = *k;
	pt->count = 0;
	pt->times_left = k->times;
	/* Publish the flag after the configuration it guards. */
	atomic_store_explicit(&f->on[p], k->enabled, memory_order_release);
	pthread_mutex_unlock(&pt->lock);
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

/* For FAULT_DELAY, *err receives the milliseconds to add. */
bool fault_should_fail_slow(struct faults *f, enum fault_point p, uint64_t ino, uint64_t off,
			    uint64_t len, int *err)
{
	struct fault_pt *pt = &f->st->pt[p];
	char line[160];
	bool fire = false, log = false;
	uint64_t nth = 0;
	int val = 0;

	pthread_mutex_lock(&pt->lock);
	if (!pt->k.enabled)
		goto out;
	atomic_fetch_add_explicit(&pt->calls, 1, memory_order_relaxed);
	if (pt->times_left == 0)
		goto out;
	if ((ino == FAULT_INO_META) != pt->k.meta)
		goto out; /* metadata I/O only with meta=1, file data only without */
	if (pt->k.has_ino && ino != pt->k.ino)
		goto out;
	if (pt->k.has_offset && !offset_matches(&pt->k, off, len))
		goto out;
	atomic_fetch_add_explicit(&pt->eligible, 1, memory_order_relaxed);
	pt->count++;
	if (pt->k.interval > 1 && pt->count % pt->k.interval != 0)
		goto out;
	if (pt->k.probability < 100 && rng_next(&pt->rng) % 100 >= pt->k.probability)
		goto out;
	if (pt->times_left > 0)
		pt->times_left--;
	nth = atomic_fetch_add_explicit(&pt->injected, 1, memory_order_relaxed) + 1;
	fire = true;
	val = p == FAULT_DELAY ? (int)pt->k.ms : pt->k.err;
	log = pt->k.verbose && f->st->log;
out:
	pthread_mutex_unlock(&pt->lock);
	if (!fire)
		return false;
	*err = val;
	if (log) {
		char eb[16];
		const char *what = eb;
		if (p == FAULT_DELAY)
			snprintf(eb, sizeof(eb), "%d ms", val);
		else
			what = fault_errno_name(val, eb, sizeof(eb));
		snprintf(line, sizeof(line),
			 "fault %s: injected %s (ino %" PRIu64 ", bytes %" PRIu64 "+%" PRIu64
			 ", injection %" PRIu64 ")",
			 point_names[p], what, ino, off, len, nth);
		f->st->log(f->st->log_arg, line);
	}
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

/* A byte count with an optional binary suffix (K, M, G, T). */
static bool parse_bytes(const char *s, uint64_t *out)
{
	char num[32], *end;
	size_t n = strlen(s);
	unsigned shift = 0;

	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	switch (toupper((unsigned char)num[n - 1])) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	}
	if (shift)
		num[n - 1] = '\0';
	if (!isdigit((unsigned char)num[0]))
		return false;
	errno = 0;
	*out = strtoull(num, &end, 10);
	if (errno || *end || (shift && *out > (UINT64_MAX >> shift)))
		return false;
	*out <<= shift;
	return true;
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
	char key[32];
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
		if (!parse_bytes(first, &a) || !parse_bytes(dash + 1, &b) || b < a)
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
		if (p != FAULT_DEVICE_WRITE) /* metadata reads have no fault site yet */
			return bad(err, errlen, "fault %s: meta applies only to device_write", pn);
		if (strcmp(val, "0") && strcmp(val, "1"))
			return bad(err, errlen, "fault %s: meta '%s' is not 0 or 1", pn, val);
		k->meta = val[0] == '1';
	} else if (strcmp(key, "ms") == 0) {
		if (p != FAULT_DELAY)
			return bad(err, errlen, "fault %s: ms applies only to the delay point", pn);
		if (!parse_u64(val, &u) || u > 600000)
			return bad(err, errlen, "fault %s: ms '%s' is not 0-600000", pn, val);
		k->ms = (unsigned)u;
	} else {
		return bad(err, errlen,
			   "fault %s: unknown knob '%s' (errno, probability, interval, times, ino, "
			   "offset, verbose%s)",
			   pn, key,
			   p == FAULT_DELAY ? ", ms"
			   : p == FAULT_DEVICE_WRITE ? ", meta" : "");
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
			if (k.has_ino)
				out_printf(&o, " ino=%" PRIu64, k.ino);
			if (k.has_offset)
				out_printf(&o, " offset=%" PRIu64 "-%" PRIu64, k.off_start,
					   k.off_end);
			if (k.meta)
				out_printf(&o, " meta=1");
			out_printf(&o, " verbose=%d (times left %ld)", k.verbose, c.times_left);
		}
		out_printf(&o, " calls=%" PRIu64 " eligible=%" PRIu64 " injected=%" PRIu64 "\n",
			   c.calls, c.eligible, c.injected);
	}
	return out_end(&o);
}

size_t fault_format_json(struct faults *f, char *buf, size_t len)
{
	struct out o = {buf, len, 0};

	out_printf(&o, "\"faults\": {");
	for (int p = 0; p < FAULT_NPOINTS; p++) {
		struct fault_knobs k;
		struct fault_counters c;
		char eb[16];

		fault_get(f, p, &k, &c);
		out_printf(&o, "%s\"%s\": {\"enabled\": %s", p ? ", " : "", point_names[p],
			   k.enabled ? "true" : "false");
		if (p == FAULT_DELAY)
			out_printf(&o, ", \"ms\": %u", k.ms);
		else
			out_printf(&o, ", \"errno\": \"%s\"",
				   fault_errno_name(k.err, eb, sizeof(eb)));
		out_printf(&o, ", \"probability\": %u, \"interval\": %lu, \"times\": %ld",
			   k.probability, k.interval, k.times);
		if (k.has_ino)
			out_printf(&o, ", \"ino\": %" PRIu64, k.ino);
		else
			out_printf(&o, ", \"ino\": null");
		if (k.has_offset)
			out_printf(&o, ", \"offset\": [%" PRIu64 ", %" PRIu64 "]", k.off_start,
				   k.off_end);
		else
			out_printf(&o, ", \"offset\": null");
		if (k.meta)
			out_printf(&o, ", \"meta\": true");
		out_printf(&o,
			   ", \"verbose\": %s, \"times_left\": %ld, \"calls\": %" PRIu64
			   ", \"eligible\": %" PRIu64 ", \"injected\": %" PRIu64 "}",
			   k.verbose ? "true" : "false", c.times_left, c.calls, c.eligible,
			   c.injected);
	}
	out_printf(&o, "}");
	return out_end(&o);
}
