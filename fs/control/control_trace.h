/*
 * control_trace.h: the "trace" command of the control channel:
 *   trace start [--ino N] [--max-events N] [--per-thread N]
 *   trace stop
 *   trace dump        (the payload is the Chrome trace-event JSON; eiocbctl
 *                      writes it to the caller's FILE)
 * over an ioctx's lifecycle tracer (ioctx/trace.h).
 *
 * Layer: daemon edge (control glue). Calls control.h (output) and
 * ioctx/trace.h only. Who may run it is decided by the control channel
 * (every trace command changes state: root or the mounting user).
 */
#ifndef EIOCBFS_CONTROL_TRACE_H
#define EIOCBFS_CONTROL_TRACE_H

#include "control.h"

struct iotrace;

/* Runs argv ("trace", ...). semantics names the mode in the dump (may be NULL). */
int ctl_trace_command(struct iotrace *t, const char *semantics, int argc, char **argv,
		      struct ctl_out *out);

#endif
