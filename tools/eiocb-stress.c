/*
 * eiocb-stress: the load of the patch's own test (docs/semantics.md section 7),
 * on one file: W writer threads doing O_DIRECT writes with
 * libaio (io_setup / io_submit / io_getevents) at queue depth Q, and R
 * reader threads doing buffered pread(2) of the same blocks. It checks:
 *   R7  every submitted iocb gets exactly one event (lost, duplicated and
 *       unknown events are counted), results per kind (ok, -EIO, other);
 *   P5  no buffered read returns data older than a write whose event
 *       reported success before the read began (stale reads);
 * plus torn and misplaced blocks (see eiocb_stress_model.h for the rules).
 *
 *   eiocb-stress [-b BLOCK] [-q DEPTH] [-w WRITERS] [-r READERS] [-s SIZE]
 *                [-t SECONDS] [-n REQUESTS] [-S SEED] [-D SECONDS] [-R PATH] [-v] [--json]
 *                [--trace TRACE [--trace-ms MS]] FILE
 *
 * Exit: 0 no violation, 1 a violation of R7 or P5 (or corrupt data), 2 usage
 * error, 3 the test could not run (open, O_DIRECT, io_setup...).
 * --trace: an iocb lifecycle trace of the eiocbfs daemon around the first
 * -EIO event (eiocb_stress_trace.c).
 * Layer: tool. Calls libc, pthreads, libaio, jansson, size.h,
 * eiocb_stress_model.c and eiocb_stress_trace.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libaio.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eiocb_stress_model.h"
#include "eiocb_stress_trace.h"
#include "size.h"

enum { EX_OK = 0, EX_VIOLATION = 1, EX_USAGE = 2, EX_CANNOT_RUN = 3 };

#define ES_NERRNO 134 /* errno values counted by name; larger ones under "other" */
#define ES_MAX_THREADS 256
#define ES_REPORT_MAX 3 /* violations described one by one, per reader */
#define ES_POLL_MS 100	/* io_getevents and main-loop granularity */

typedef atomic_uint_least64_t counter_t;

static inline void cnt_add(counter_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t cnt(const counter_t *c)
{
	return atomic_load_explicit((counter_t *)c, memory_order_relaxed);
}

struct opts {
	uint32_t bs;
	unsigned qd, writers, readers;
	uint64_t size;
	double seconds;	   /* 0: no time limit (then -n is required) */
	uint64_t requests; /* 0: no request limit */
	uint64_t seed;
	unsigned drain; /* seconds to wait for outstanding events at the end */
	bool verbose, json;
	const char *file;
	const char *read_path;	/* readers read this view of the same bytes; NULL: file */
	const char *trace_file; /* --trace: where the trace goes; NULL: no trace */
	unsigned trace_ms;	/* --trace-ms: tracing goes on this long after the first -EIO */
};

struct wstats {
	counter_t submitted, events, ok, eio, other, short_, duplicated, unknown, lost;
	counter_t submit_errors;
	counter_t err[ES_NERRNO]; /* by errno, for -EIO and the others */
};

struct rstats {
	counter_t reads, ok, stale, torn, corrupt, errors, eio, short_;
};

struct run;

struct writer {
	struct run *run;
	unsigned id;
	pthread_t thread;
	struct wstats st;
	int fatal; /* negative errno: the thread could not start its work */
	const char *fatal_what;
};

struct reader {
	struct run *run;
	unsigned id;
	pthread_t thread;
	struct rstats st;
	unsigned reported;
};

struct run {
	struct opts o;
	int dfd, bfd; /* O_DIRECT for writers, buffered for readers */
	uint64_t nblocks, run_id;
	struct es_block *blocks;
	atomic_bool stop;
	atomic_uint_least64_t tickets; /* requests left when -n is given */
	atomic_uint writers_done;
	struct writer *w;
	struct reader *r;
	pthread_mutex_t report_lock; /* one violation report line at a time */
	struct es_trace *trace;	     /* --trace, or NULL */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- writers ---- */

struct slot {
	struct iocb iocb; /* first: an event's obj points here */
	void *buf;
	uint64_t block, seq;
};

/* One request ticket (-n), or false when none are left. */
static bool take_ticket(struct run *run)
{
	uint64_t t;

	if (!run->o.requests)
		return true;
	t = atomic_load(&run->tickets);
	do {
		if (t == 0)
			return false;
	} while (!atomic_compare_exchange_weak(&run->tickets, &t, t - 1));
	return true;
}

static void give_ticket_back(struct run *run)
{
	if (run->o.requests)
		atomic_fetch_add(&run->tickets, 1);
}

/* A block of this writer (index = id mod writers) with no write in flight, or -1. */
static int64_t pick_block(struct run *run, unsigned id, uint64_t *rng)
{
	uint64_t owned = (run->nblocks - id + run->o.writers - 1) / run->o.writers;

	for (int tries = 0; tries < 16; tries++) {
		uint64_t b = (es_rand(rng) % owned) * run->o.writers + id;

		if (!run->blocks[b].inflight)
			return (int64_t)b;
	}
	return -1;
}

static void count_result(struct run *run, struct wstats *st, long res)
{
	if (res == (long)run->o.bs) {
		cnt_add(&st->ok, 1);
	} else if (res >= 0) {
		cnt_add(&st->short_, 1);
	} else {
		cnt_add(res == -EIO ? &st->eio : &st->other, 1);
		if (res == -EIO && run->trace)
			es_trace_failure(run->trace); /* the first one arms the trace's stop */
		cnt_add(&st->err[-res < ES_NERRNO ? -res : 0], 1);
	}
}

/* Takes back batch[from, to): io_submit did not accept them, so no event will come. */
static void unsubmit(struct writer *w, struct slot *slots, struct es_ledger *led,
		     struct iocb **batch, unsigned from, unsigned to)
{
	for (unsigned j = from; j < to; j++) {
		struct slot *s = (struct slot *)batch[j];
		struct es_block *b = &w->run->blocks[s->block];

		es_ledger_unsubmit(led, (size_t)(s - slots));
		b->inflight = false;
		es_block_complete(b, s->seq, false);
		give_ticket_back(w->run);
	}
}

/* Fills the free slots with writes and submits them. Returns false when no more may be. */
static bool writer_submit(struct writer *w, struct slot *slots, struct es_ledger *led,
			  io_context_t ctx, uint64_t *rng, uint64_t *inflight)
{
	struct run *run = w->run;
	struct iocb *batch[run->o.qd];
	unsigned n = 0, done = 0, sent = 0;
	bool more = true;

	for (unsigned i = 0; i < run->o.qd; i++) {
		struct slot *s = &slots[i];
		struct es_block *b;
		int64_t blk;

		if (led->inflight[i])
			continue;
		if (!take_ticket(run)) {
			more = false;
			break;
		}
		blk = pick_block(run, w->id, rng);
		if (blk < 0) {
			give_ticket_back(run);
			break;
		}
		b = &run->blocks[blk];
		s->block = (uint64_t)blk;
		s->seq = atomic_load_explicit(&b->last, memory_order_relaxed) + 1;
		es_block_fill(s->buf, run->o.bs, run->run_id, s->block, s->seq, w->id);
		io_prep_pwrite(&s->iocb, run->dfd, s->buf, run->o.bs,
			       (long long)(s->block * run->o.bs));
		s->iocb.data = s;
		b->inflight = true;
		es_block_submit(b, s->seq);
		es_ledger_submit(led, i);
		batch[n++] = &s->iocb;
	}
	while (done < n) {
		int r = io_submit(ctx, n - done, batch + done);

		if (r > 0) {
			done += (unsigned)r;
			sent += (unsigned)r;
			continue;
		}
		if (r == 0 || r == -EAGAIN) { /* no room now: retry these after reaping */
			unsubmit(w, slots, led, batch, done, n);
			break;
		}
		/* The first iocb was refused: it expects no event. */
		unsubmit(w, slots, led, batch, done, done + 1);
		cnt_add(&w->st.submit_errors, 1);
		cnt_add(&w->st.err[-r < ES_NERRNO ? -r : 0], 1);
		if (sent == 0 && cnt(&w->st.submitted) == 0) {
			/* The very first write refused (EINVAL: alignment...): nothing will work.
			 */
			unsubmit(w, slots, led, batch, done + 1, n);
			w->fatal = r;
			w->fatal_what = "io_submit";
			more = false;
			break;
		}
		done++;
	}
	cnt_add(&w->st.submitted, sent);
	*inflight += sent;
	return more;
}

/* Takes the events of one io_getevents call into the ledgers. */
static void writer_reap(struct writer *w, struct slot *slots, struct es_ledger *led,
			struct io_event *ev, int n, uint64_t *inflight)
{
	struct run *run = w->run;

	for (int k = 0; k < n; k++) {
		uintptr_t off = (uintptr_t)ev[k].obj - (uintptr_t)slots;
		long i = -1;

		if ((uintptr_t)ev[k].obj >= (uintptr_t)slots &&
		    off < run->o.qd * sizeof(struct slot) && off % sizeof(struct slot) == 0 &&
		    ev[k].data == &slots[off / sizeof(struct slot)])
			i = (long)(off / sizeof(struct slot));
		cnt_add(&w->st.events, 1);
		if (!es_ledger_event(led, i))
			continue; /* a duplicate or an unknown iocb: counted by the ledger */
		(*inflight)--;
		struct slot *s = &slots[i];
		long res = (long)ev[k].res;

		count_result(run, &w->st, res);
		run->blocks[s->block].inflight = false;
		es_block_complete(&run->blocks[s->block], s->seq, res == (long)run->o.bs);
	}
	atomic_store_explicit(&w->st.duplicated, led->duplicated, memory_order_relaxed);
	atomic_store_explicit(&w->st.unknown, led->unknown, memory_order_relaxed);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct run *run = w->run;
	unsigned qd = run->o.qd;
	io_context_t ctx = 0;
	struct io_event ev[qd];
	struct es_ledger led = {0};
	struct slot *slots;
	uint64_t rng = run->o.seed * 1000003 + w->id, inflight = 0;
	double deadline = 0;
	bool more = true;
	int r;

	slots = calloc(qd, sizeof(*slots));
	if (!slots || es_ledger_init(&led, qd) < 0) {
		w->fatal = -ENOMEM;
		w->fatal_what = "memory";
		goto out_done;
	}
	for (unsigned i = 0; i < qd; i++)
		if (posix_memalign(&slots[i].buf, 4096, run->o.bs)) {
			w->fatal = -ENOMEM;
			w->fatal_what = "memory";
			goto out_done;
		}
	r = io_setup((int)qd, &ctx);
	if (r < 0) {
		w->fatal = r;
		w->fatal_what = "io_setup";
		goto out_done;
	}
	for (;;) {
		bool stopping = !more || atomic_load(&run->stop);

		if (!stopping)
			more = writer_submit(w, slots, &led, ctx, &rng, &inflight);
		if (w->fatal)
			break;
		if (inflight == 0) {
			if (stopping || !more)
				break;
			continue;
		}
		if ((stopping || !more) && deadline == 0)
			deadline = now_s() + run->o.drain;
		if (deadline && now_s() > deadline)
			break; /* what is still in flight is lost (R7) */
		struct timespec ts = {0, ES_POLL_MS * 1000000L};
		r = io_getevents(ctx, 1, qd, ev, &ts);
		if (r > 0)
			writer_reap(w, slots, &led, ev, r, &inflight);
		else if (r < 0 && r != -EINTR) {
			w->fatal = r;
			w->fatal_what = "io_getevents";
			break;
		}
	}
	cnt_add(&w->st.lost, es_ledger_inflight(&led));
	if (es_ledger_inflight(&led) == 0) {
		io_destroy(ctx);
		for (unsigned i = 0; i < qd; i++)
			free(slots[i].buf);
		free(slots);
	}
	/* else: io_destroy would wait for the lost requests forever, and the
	 * kernel may still read their buffers: both are left to process exit. */
	es_ledger_free(&led);
	atomic_fetch_add(&run->writers_done, 1);
	return NULL;
out_done:
	if (slots)
		for (unsigned i = 0; i < qd; i++)
			free(slots[i].buf);
	free(slots);
	es_ledger_free(&led);
	atomic_fetch_add(&run->writers_done, 1);
	return NULL;
}

/* ---- readers ---- */

static void report(struct reader *rd, const char *what, uint64_t block, enum es_decode d,
		   uint64_t seq, const struct es_snap *before)
{
	static const char *dn[] = {"valid", "unwritten", "torn", "misplaced"};

	if (rd->reported++ >= ES_REPORT_MAX)
		return;
	pthread_mutex_lock(&rd->run->report_lock);
	fprintf(stderr,
		"eiocb-stress: %s read: block %" PRIu64 " (%s) seq %" PRIu64
		", acked before the read %" PRIu64 ", last written %" PRIu64 "\n",
		what, block, dn[d], seq, before->acked, before->last);
	pthread_mutex_unlock(&rd->run->report_lock);
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct run *run = rd->run;
	uint64_t rng = run->o.seed * 7919 + 0x5eed + rd->id;
	void *buf;

	if (posix_memalign(&buf, 4096, run->o.bs))
		return NULL;
	while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
		uint64_t blk = es_rand(&rng) % run->nblocks, seq;
		struct es_block *b = &run->blocks[blk];
		struct es_snap before, after;
		enum es_decode d;
		ssize_t n;

		es_block_snap(b, &before);
		n = pread(run->bfd, buf, run->o.bs, (off_t)(blk * run->o.bs));
		es_block_snap(b, &after);
		cnt_add(&rd->st.reads, 1);
		if (n < 0) {
			cnt_add(errno == EIO ? &rd->st.eio : &rd->st.errors, 1);
			continue;
		}
		if ((size_t)n < run->o.bs) {
			cnt_add(&rd->st.short_, 1);
			continue;
		}
		d = es_block_decode(buf, run->o.bs, run->run_id, blk, &seq);
		switch (es_judge_read(&before, &after, d, seq)) {
		case ES_READ_OK:
			cnt_add(&rd->st.ok, 1);
			break;
		case ES_READ_STALE:
			cnt_add(&rd->st.stale, 1);
			report(rd, "stale", blk, d, seq, &before);
			break;
		case ES_READ_TORN:
			cnt_add(&rd->st.torn, 1);
			break;
		case ES_READ_CORRUPT:
			cnt_add(&rd->st.corrupt, 1);
			report(rd, "corrupt", blk, d, seq, &before);
			break;
		}
	}
	free(buf);
	return NULL;
}

/* ---- totals and reports ---- */

struct totals {
	uint64_t submitted, events, ok, eio, other, short_, duplicated, unknown, lost,
	    submit_errors;
	uint64_t err[ES_NERRNO];
	uint64_t reads, rok, stale, torn, corrupt, rerrors, reio, rshort;
	uint64_t inflight;
};

static void sum_up(const struct run *run, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < run->o.writers; i++) {
		const struct wstats *s = &run->w[i].st;

		t->submitted += cnt(&s->submitted);
		t->events += cnt(&s->events);
		t->ok += cnt(&s->ok);
		t->eio += cnt(&s->eio);
		t->other += cnt(&s->other);
		t->short_ += cnt(&s->short_);
		t->duplicated += cnt(&s->duplicated);
		t->unknown += cnt(&s->unknown);
		t->lost += cnt(&s->lost);
		t->submit_errors += cnt(&s->submit_errors);
		for (int e = 0; e < ES_NERRNO; e++)
			t->err[e] += cnt(&s->err[e]);
	}
	for (unsigned i = 0; i < run->o.readers; i++) {
		const struct rstats *s = &run->r[i].st;

		t->reads += cnt(&s->reads);
		t->rok += cnt(&s->ok);
		t->stale += cnt(&s->stale);
		t->torn += cnt(&s->torn);
		t->corrupt += cnt(&s->corrupt);
		t->rerrors += cnt(&s->errors);
		t->reio += cnt(&s->eio);
		t->rshort += cnt(&s->short_);
	}
	/* Events matched to an iocb complete it; the rest are duplicates or unknown. */
	uint64_t done = t->events - t->duplicated - t->unknown;
	t->inflight = t->submitted > done ? t->submitted - done : 0;
}

static const char *err_name(int e, char *buf, size_t len)
{
	const char *n = e ? strerrorname_np(e) : NULL;

	if (n)
		return n;
	snprintf(buf, len, e ? "E%d" : "other", e);
	return buf;
}

static void progress(const struct run *run, double t0, bool tty)
{
	struct totals t;

	sum_up(run, &t);
	fprintf(stderr,
		"%s[%6.1fs] writes %" PRIu64 " (ok %" PRIu64 ", EIO %" PRIu64 ", other %" PRIu64
		", in flight %" PRIu64 ")  reads %" PRIu64 " (stale %" PRIu64 ", torn %" PRIu64
		", corrupt %" PRIu64 ")%s",
		tty ? "\r" : "", now_s() - t0, t.submitted, t.ok, t.eio, t.other + t.short_,
		t.inflight, t.reads, t.stale, t.torn, t.corrupt, tty ? "\033[K" : "\n");
}

static uint64_t r7_violations(const struct totals *t)
{
	return t->lost + t->duplicated + t->unknown;
}

static void print_human(const struct run *run, const struct totals *t, double secs)
{
	const struct opts *o = &run->o;
	char eb[32];

	printf("eiocb-stress: %s: %u writer%s x depth %u, %u reader%s, %u-byte blocks, %" PRIu64
	       " blocks, %.1f s, seed %" PRIu64 "\n",
	       o->file, o->writers, o->writers == 1 ? "" : "s", o->qd, o->readers,
	       o->readers == 1 ? "" : "s", o->bs, run->nblocks, secs, o->seed);
	printf("writes   submitted %" PRIu64 "  events %" PRIu64 "  ok %" PRIu64 "  -EIO %" PRIu64
	       "  other %" PRIu64 "  short %" PRIu64 "\n",
	       t->submitted, t->events, t->ok, t->eio, t->other, t->short_);
	if (t->other || t->submit_errors) {
		printf("         errors:");
		for (int e = 0; e < ES_NERRNO; e++)
			if (t->err[e] && e != EIO)
				printf(" %s %" PRIu64, err_name(e, eb, sizeof(eb)), t->err[e]);
		printf("  (submit refused %" PRIu64 ")\n", t->submit_errors);
	}
	printf("events   lost %" PRIu64 "  duplicated %" PRIu64 "  unknown %" PRIu64 "   (R7)\n",
	       t->lost, t->duplicated, t->unknown);
	printf("reads    %" PRIu64 "  ok %" PRIu64 "  stale %" PRIu64 " (P5)  torn %" PRIu64
	       " (racing a write)  corrupt %" PRIu64 "  -EIO %" PRIu64 "  other errors %" PRIu64
	       "  short %" PRIu64 "\n",
	       t->reads, t->rok, t->stale, t->torn, t->corrupt, t->reio, t->rerrors, t->rshort);
	if (!r7_violations(t) && !t->stale && !t->corrupt)
		printf("verdict  OK: every iocb got exactly one event, no stale or corrupt read\n");
	else
		printf("verdict  VIOLATION:%s%s%s\n", r7_violations(t) ? " R7 (events)" : "",
		       t->stale ? " P5 (stale reads)" : "", t->corrupt ? " corrupt data" : "");
}

#define U(x) ((json_int_t)(x)) /* counters are far below 2^63 */

static void print_json(const struct run *run, const struct totals *t, double secs)
{
	const struct opts *o = &run->o;
	json_t *errors = json_object(), *root;
	char eb[32];

	for (int e = 0; errors && e < ES_NERRNO; e++)
		if (t->err[e])
			json_object_set_new(errors, err_name(e, eb, sizeof(eb)),
					    json_integer(U(t->err[e])));
	root = json_pack(
	    "{s:s, s:s?, s:i, s:i, s:i, s:i, s:I, s:f, s:I, "
	    "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o*}, "
	    "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:b}",
	    "file", o->file, "read_path", o->read_path, "block_size", (int)o->bs, "queue_depth",
	    (int)o->qd, "writers", (int)o->writers, "readers", (int)o->readers, "blocks",
	    U(run->nblocks), "seconds", round(secs * 1000) / 1000, "seed", U(o->seed), "writes",
	    "submitted", U(t->submitted), "events", U(t->events), "ok", U(t->ok), "eio", U(t->eio),
	    "other", U(t->other), "short", U(t->short_), "submit_refused", U(t->submit_errors),
	    "lost", U(t->lost), "duplicated", U(t->duplicated), "unknown", U(t->unknown), "errors",
	    errors, "reads", "reads", U(t->reads), "ok", U(t->rok), "stale", U(t->stale), "torn",
	    U(t->torn), "corrupt", U(t->corrupt), "eio", U(t->reio), "errors", U(t->rerrors),
	    "short", U(t->rshort), "violations", "R7", U(r7_violations(t)), "P5", U(t->stale),
	    "corrupt", U(t->corrupt), "ok", !r7_violations(t) && !t->stale && !t->corrupt);
	if (!root || json_dumpf(root, stdout, JSON_REAL_PRECISION(15)) < 0)
		fprintf(stderr, "eiocb-stress: --json: out of memory\n");
	else
		putchar('\n');
	json_decref(root);
}

/* ---- command line ---- */

static const char usage_text[] =
    "usage: eiocb-stress [OPTIONS] FILE\n"
    "O_DIRECT libaio writers and buffered readers on the same blocks of FILE\n"
    "(created or extended to SIZE), checking docs/semantics.md R7 and P5.\n"
    "  -b BYTES     block size, a multiple of 512 (default 4096)\n"
    "  -q DEPTH     queue depth of each writer (default 16)\n"
    "  -w N         writer threads, each with its own io context (default 2)\n"
    "  -r N         buffered reader threads (default 2)\n"
    "  -s SIZE      file size used, K/M/G/T suffixes (default 16M)\n"
    "  -t SECONDS   run time (default 10; 0 with -n: until the requests are done)\n"
    "  -n N         stop after N write requests in all\n"
    "  -S SEED      seed of the block choice (default 1)\n"
    "  -D SECONDS   wait this long for outstanding events at the end (default 30)\n"
    "  -R PATH      readers read PATH instead: another view of the same bytes (a\n"
    "               loop device over FILE shows what a cache that is never\n"
    "               invalidated does: stale reads)\n"
    "  -v           progress line every second even when stderr is not a terminal\n"
    "  --json       the summary as JSON\n"
    "  --trace TRACE  FILE is on an eiocbfs mount: trace the daemon's iocbs and write\n"
    "               the trace around the first -EIO event to TRACE (Chrome trace-event\n"
    "               JSON: ui.perfetto.dev; tools/trace-svg draws one request)\n"
    "  --trace-ms MS  go on tracing MS milliseconds after the first -EIO (default 20)\n"
    "Exit: 0 no violation, 1 a violation (R7 events, P5 stale reads, corrupt data),\n"
    "2 usage error, 3 the test could not run.\n";

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "eiocb-stress: %s '%s' (eiocb-stress --help)\n", what, arg);
	return EX_USAGE;
}

/* A whole-string decimal count (sizes go through size_parse). */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* A size (size.h), or a usage error saying why. */
static bool parse_size_arg(const char *opt, const char *s, uint64_t *out)
{
	char why[256];

	if (size_parse(s, out, why, sizeof(why)) == 0)
		return true;
	fprintf(stderr, "eiocb-stress: %s: %s (eiocb-stress --help)\n", opt, why);
	return false;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"json", no_argument, NULL, 'j'},		{"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	{"trace", required_argument, NULL, 'T'},
	    {"trace-ms", required_argument, NULL, 'M'}, {NULL, 0, NULL, 0}};
	uint64_t v;
	char *end;
	int c;

	*o = (struct opts){.bs = 4096,
			   .qd = 16,
			   .writers = 2,
			   .readers = 2,
			   .size = 16u << 20,
			   .seconds = 10,
			   .seed = 1,
			   .drain = 30,
			   .trace_ms = 20};
	bool t_given = false;
	while ((c = getopt_long(argc, argv, "b:q:w:r:s:t:n:S:D:R:vhV", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!parse_size_arg("-b", optarg, &v))
				return EX_USAGE;
			if (v < ES_MIN_BLOCK || v % 512 || v > (16u << 20))
				return usage_error(
				    "-b: block size must be a multiple of 512 up to 16M, not",
				    optarg);
			o->bs = (uint32_t)v;
			break;
		case 'q':
			if (!parse_u64(optarg, &v) || v < 1 || v > 1024)
				return usage_error("-q: queue depth must be 1..1024, not", optarg);
			o->qd = (unsigned)v;
			break;
		case 'w':
		case 'r':
			if (!parse_u64(optarg, &v) || v > ES_MAX_THREADS || (c == 'w' && v < 1))
				return usage_error(c == 'w' ? "-w: writers must be 1..256, not"
							    : "-r: readers must be 0..256, not",
						   optarg);
			*(c == 'w' ? &o->writers : &o->readers) = (unsigned)v;
			break;
		case 's':
			if (!parse_size_arg("-s", optarg, &v))
				return EX_USAGE;
			if (v == 0)
				return usage_error("-s: the size must not be 0, not", optarg);
			o->size = v;
			break;
		case 't':
			errno = 0;
			o->seconds = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(o->seconds >= 0) ||
			    o->seconds > 1e6)
				return usage_error("-t: bad number of seconds", optarg);
			t_given = true;
			break;
		case 'n':
			if (!parse_u64(optarg, &o->requests) || o->requests == 0)
				return usage_error("-n: bad request count", optarg);
			break;
		case 'S':
			if (!parse_u64(optarg, &o->seed))
				return usage_error("-S: bad seed", optarg);
			break;
		case 'D':
			if (!parse_u64(optarg, &v) || v > 3600)
				return usage_error("-D: bad number of seconds", optarg);
			o->drain = (unsigned)v;
			break;
		case 'R':
			o->read_path = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'T':
			o->trace_file = optarg;
			break;
		case 'M':
			if (!parse_u64(optarg, &v) || v > 60000)
				return usage_error("--trace-ms: must be 0..60000, not", optarg);
			o->trace_ms = (unsigned)v;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(EX_OK);
		case 'V':
			printf("eiocb-stress 0.1\n");
			exit(EX_OK);
		default:
			fputs(usage_text, stderr);
			return EX_USAGE;
		}
	}
	if (o->requests && !t_given)
		o->seconds = 0; /* -n alone: run until the requests are done */
	if (o->seconds == 0 && !o->requests)
		return usage_error("-t 0 needs -n", "0");
	if (optind != argc - 1) {
		fputs(usage_text, stderr);
		return EX_USAGE;
	}
	o->file = argv[optind];
	return 0;
}

/* Opens FILE twice (O_DIRECT and buffered) and makes it at least size bytes. */
static int open_file(struct run *run)
{
	const struct opts *o = &run->o;
	struct stat st;

	run->dfd = open(o->file, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
	if (run->dfd < 0) {
		fprintf(stderr, "eiocb-stress: %s: %s\n", o->file,
			errno == EINVAL ? "O_DIRECT is not supported by this filesystem"
					: strerror(errno));
		return -1;
	}
	if (fstat(run->dfd, &st) < 0) {
		fprintf(stderr, "eiocb-stress: %s: %s\n", o->file, strerror(errno));
		return -1;
	}
	run->bfd = open(o->read_path ? o->read_path : o->file, O_RDONLY | O_CLOEXEC);
	if (run->bfd < 0) {
		fprintf(stderr, "eiocb-stress: %s: %s\n", o->read_path ? o->read_path : o->file,
			strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "eiocb-stress: %s: not a regular file or a block device\n",
			o->file);
		return -1;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < o->size &&
	    ftruncate(run->dfd, (off_t)o->size) < 0) {
		fprintf(stderr, "eiocb-stress: %s: extending to %" PRIu64 " bytes: %s\n", o->file,
			o->size, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct run run = {.dfd = -1, .bfd = -1};
	struct totals t;
	bool tty, violation;
	double t0, t_end, next;
	int ret;
	unsigned nw = 0, nr = 0;
	struct timespec rt;

	ret = parse_opts(argc, argv, &run.o);
	if (ret)
		return ret;
	run.nblocks = run.o.size / run.o.bs;
	if (run.nblocks < 2ull * run.o.qd * run.o.writers) {
		fprintf(stderr,
			"eiocb-stress: -s %" PRIu64 " holds %" PRIu64
			" blocks of %u bytes: need at least "
			"2 x depth x writers = %u (each block has one write in flight at most)\n",
			run.o.size, run.nblocks, run.o.bs, 2 * run.o.qd * run.o.writers);
		return EX_USAGE;
	}
	if (open_file(&run) < 0)
		return EX_CANNOT_RUN;
	/* The run id tells this run's blocks from those a previous run left in the file. */
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t mix = run.o.seed ^ ((uint64_t)rt.tv_sec << 30) ^ (uint64_t)rt.tv_nsec ^
		       ((uint64_t)getpid() << 48);
	run.run_id = es_rand(&mix) | 1;
	run.blocks = calloc(run.nblocks, sizeof(*run.blocks));
	run.w = calloc(run.o.writers, sizeof(*run.w));
	run.r = calloc(run.o.readers ? run.o.readers : 1, sizeof(*run.r));
	if (!run.blocks || !run.w || !run.r) {
		fprintf(stderr, "eiocb-stress: out of memory for %" PRIu64 " blocks\n",
			run.nblocks);
		return EX_CANNOT_RUN;
	}
	pthread_mutex_init(&run.report_lock, NULL);
	atomic_store(&run.tickets, run.o.requests);
	if (run.o.trace_file) {
		char err[512];

		if (es_trace_start(run.o.file, run.o.trace_file, run.o.trace_ms, &run.trace, err,
				   sizeof(err)) < 0) {
			fprintf(stderr, "eiocb-stress: --trace: %s\n", err);
			return EX_CANNOT_RUN;
		}
	}

	t0 = now_s();
	for (; nw < run.o.writers; nw++) {
		run.w[nw] = (struct writer){.run = &run, .id = nw};
		if (pthread_create(&run.w[nw].thread, NULL, writer_main, &run.w[nw]))
			break;
	}
	for (; nw == run.o.writers && nr < run.o.readers; nr++) {
		run.r[nr] = (struct reader){.run = &run, .id = nr};
		if (pthread_create(&run.r[nr].thread, NULL, reader_main, &run.r[nr]))
			break;
	}
	tty = isatty(2);
	next = t0 + 1;
	t_end = run.o.seconds > 0 ? t0 + run.o.seconds : 0;
	while (nw == run.o.writers && nr == run.o.readers &&
	       atomic_load(&run.writers_done) < run.o.writers && (!t_end || now_s() < t_end)) {
		usleep(ES_POLL_MS * 1000);
		if ((tty || run.o.verbose) && now_s() >= next) {
			progress(&run, t0, tty);
			next += 1;
		}
	}
	double secs = now_s() - t0;
	atomic_store(&run.stop, true);
	for (unsigned i = 0; i < nw; i++)
		pthread_join(run.w[i].thread, NULL);
	for (unsigned i = 0; i < nr; i++)
		pthread_join(run.r[i].thread, NULL);
	if (tty || run.o.verbose) {
		progress(&run, t0, tty);
		if (tty)
			fputc('\n', stderr);
	}
	if (run.trace) {
		char err[512];
		int seen;

		if (es_trace_finish(run.trace, &seen, err, sizeof(err)) < 0)
			fprintf(stderr, "eiocb-stress: --trace: %s\n", err);
		else
			fprintf(stderr, "eiocb-stress: trace %s written to %s\n",
				seen ? "around the first -EIO"
				     : "(no -EIO seen: the run's last events)",
				run.o.trace_file);
		run.trace = NULL;
	}
	if (nw < run.o.writers || nr < run.o.readers) {
		fprintf(stderr, "eiocb-stress: cannot start threads\n");
		return EX_CANNOT_RUN;
	}
	for (unsigned i = 0; i < nw; i++)
		if (run.w[i].fatal) {
			fprintf(stderr, "eiocb-stress: %s: writer %u: %s: %s\n", run.o.file, i,
				run.w[i].fatal_what, strerror(-run.w[i].fatal));
			return EX_CANNOT_RUN;
		}
	sum_up(&run, &t);
	if (run.o.json)
		print_json(&run, &t, secs);
	else
		print_human(&run, &t, secs);
	fflush(stdout);
	violation = r7_violations(&t) || t.stale || t.corrupt;
	if (t.lost)
		_exit(EX_VIOLATION); /* lost iocbs may never complete: do not wait for them */
	close(run.dfd);
	close(run.bfd);
	free(run.blocks);
	free(run.w);
	free(run.r);
	pthread_mutex_destroy(&run.report_lock);
	return violation ? EX_VIOLATION : EX_OK;
}
