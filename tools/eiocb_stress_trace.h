/*
 * eiocb_stress_trace.h: eiocb-stress --trace FILE: a
 * short iocb lifecycle trace around the first injected failure. Starts
 * tracing in the eiocbfs daemon behind the stressed file (found from the
 * file's mount, through the control channel, like eiocbctl), stops it a
 * few milliseconds after the first -EIO event reaches the writers, and
 * writes the dump (Chrome trace-event JSON) to FILE.
 *
 * Layer: tool. Calls control.h (the client), libc and pthreads.
 */
#ifndef EIOCB_STRESS_TRACE_H
#define EIOCB_STRESS_TRACE_H

#include <stddef.h>

struct es_trace;

/* Start tracing for target (a file on an eiocbfs mount); the trace goes to
   out. after_ms: how long to keep tracing after the first failure. 0, or
   -errno with a one-line reason in err. */
int es_trace_start(const char *target, const char *out, unsigned after_ms, struct es_trace **tp,
		   char *err, size_t errlen);
/* A writer saw -EIO: the first call arms the stop. Cheap; any thread. */
void es_trace_failure(struct es_trace *t);
/* Stop (if not yet), dump to the file, free t. 0 or -errno with err set;
 *failure_seen tells whether the stop was the failure's. */
int es_trace_finish(struct es_trace *t, int *failure_seen, char *err, size_t errlen);

#endif
