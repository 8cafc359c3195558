/*
 * eiocb_stress_trace.c: eiocb-stress --trace (see eiocb_stress_trace.h).
 * Layer: tool; calls control.h's client, libc and pthreads.
 *
 * The stop is sent by a small thread of its own, woken by the first
 * failure: the writers only flip a flag and signal, so the trace ends
 * within after_ms (plus a control-channel round trip) of the failure, and
 * the per-thread buffers still hold the failing request's whole life.
 */
#include "eiocb_stress_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

struct es_trace {
	char sock[PATH_MAX];
	char out[PATH_MAX];
	unsigned after_ms;
	atomic_bool failed; /* the first -EIO was seen */
	bool stopped;	    /* the stop thread sent "trace stop" */
	bool quit;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* One request to the daemon; 0 or -errno with err. */
static int call(struct es_trace *t, const char *line, struct ctl_reply *r, char *err, size_t errlen)
{
	int ret = ctl_call(t->sock, line, 0, r, err, errlen);

	if (ret < 0)
		return ret;
	if (!r->ok) {
		snprintf(err, errlen, "%.60s: %.160s", line, r->err);
		ctl_reply_free(r);
		return -EPERM;
	}
	return 0;
}

/* The socket of the eiocbfs daemon whose mount holds path. */
static int find_socket(const char *path, char *sock, size_t len, char *err, size_t errlen)
{
	char dir[PATH_MAX], type[64], udir[256];
	const char *env = getenv(CTL_ENV_SOCKET);
	dev_t dev;

	if (env && *env) {
		snprintf(sock, len, "%s", env);
		return 0;
	}
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	char *rp = realpath(dirname(copy), dir);
	free(copy);
	if (!rp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	/* Walk up to the mount point that holds the file. */
	for (;;) {
		int r = ctl_mount_lookup(dir, &dev, type, sizeof(type));
		if (r == 0)
			break;
		if (r != -ENOENT || !strcmp(dir, "/")) {
			snprintf(err, errlen, "%s: no mount found", path);
			return r < 0 ? r : -ENOENT;
		}
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
	}
	if (strcmp(type, CTL_FS_TYPE)) {
		snprintf(err, errlen, "%s is on %s (a %s mount), not on eiocbfs: nothing to trace",
			 path, dir, type);
		return -ENOTSUP;
	}
	ctl_default_path(CTL_RUN_DIR, dev, sock, len);
	if (access(sock, F_OK) < 0 && ctl_user_dir(udir, sizeof(udir)) == 0)
		ctl_default_path(udir, dev, sock, len);
	return 0;
}

static void *stopper(void *arg)
{
	struct es_trace *t = arg;
	struct ctl_reply r;
	char err[256];

	pthread_mutex_lock(&t->lock);
	while (!t->quit && !atomic_load(&t->failed))
		pthread_cond_wait(&t->cond, &t->lock);
	bool go = !t->quit;
	pthread_mutex_unlock(&t->lock);
	if (!go)
		return NULL;
	struct timespec ts = {t->after_ms / 1000, (long)(t->after_ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
	if (call(t, "trace stop", &r, err, sizeof(err)) == 0) {
		ctl_reply_free(&r);
		pthread_mutex_lock(&t->lock);
		t->stopped = true;
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

int es_trace_start(const char *target, const char *out, unsigned after_ms, struct es_trace **tp,
		   char *err, size_t errlen)
{
	struct es_trace *t = calloc(1, sizeof(*t));
	struct ctl_reply r;
	int ret;

	if (!t)
		return -ENOMEM;
	snprintf(t->out, sizeof(t->out), "%s", out);
	t->after_ms = after_ms;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	/* Per-thread buffers large enough to keep the failing request's life
	   through the last milliseconds of a busy run. */
	if ((ret = find_socket(target, t->sock, sizeof(t->sock), err, errlen)) < 0 ||
	    (ret = call(t, "trace start --per-thread 65536", &r, err, errlen)) < 0)
		goto fail;
	ctl_reply_free(&r);
	if ((ret = -pthread_create(&t->thread, NULL, stopper, t)) < 0) {
		snprintf(err, errlen, "cannot start a thread");
		char e2[256];
		if (call(t, "trace stop", &r, e2, sizeof(e2)) == 0)
			ctl_reply_free(&r);
		goto fail;
	}
	*tp = t;
	return 0;
fail:
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
	return ret;
}

void es_trace_failure(struct es_trace *t)
{
	if (atomic_load_explicit(&t->failed, memory_order_relaxed) ||
	    atomic_exchange(&t->failed, true))
		return;
	pthread_mutex_lock(&t->lock);
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

int es_trace_finish(struct es_trace *t, int *failure_seen, char *err, size_t errlen)
{
	struct ctl_reply r;
	int ret;

	pthread_mutex_lock(&t->lock);
	t->quit = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	*failure_seen = atomic_load(&t->failed);
	/* dump stops tracing first if it is still on */
	ret = call(t, "trace dump", &r, err, errlen);
	if (ret == 0) {
		FILE *f = strcmp(t->out, "-") ? fopen(t->out, "w") : stdout;
		if (!f || fwrite(r.payload, 1, r.len, f) != r.len || (f != stdout && fclose(f))) {
			snprintf(err, errlen, "%s: %s", t->out, strerror(errno));
			ret = -EIO;
		}
		ctl_reply_free(&r);
	}
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
	return ret;
}
