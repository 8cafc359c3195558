/*
 * control_fault.h: the control channel's "fault" command over the fault
 * points (layer: daemon edge, glue between control.h and fault.h). The
 * daemon's control handler calls it for argv[0] == "fault"; nothing here
 * knows the rest of the filesystem. Calls control_msg.c, fault.h and jansson only.
 */
#ifndef EIOCBFS_CONTROL_FAULT_H
#define EIOCBFS_CONTROL_FAULT_H

#include <jansson.h>

#include "control.h"
#include "fault.h"

/*
 * "fault" lists the points (fault_format); "fault POINT KEY=VAL..." and
 * "fault POINT off" set one through fault_set_argv, all-or-nothing.
 * Precondition: argc >= 1, argv[0] is "fault". Returns 0 or a negative
 * errno with out->err set to fault.h's one-line reason.
 */
int ctl_fault_command(struct faults *f, int argc, char **argv, struct ctl_out *out);

/* "faults log" (every injection, fault_log_format) and "faults save" (the
   points that are on, one eiocbctl-form line each: fault_save_format). */
int ctl_faults_command(struct faults *f, int argc, char **argv, struct ctl_out *out);
/* The "faults" member of the stats JSON: each point's knobs and counters,
   by point name; NULL when out of memory. */
json_t *ctl_fault_json(struct faults *f);

#endif
