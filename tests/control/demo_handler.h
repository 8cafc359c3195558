/*
 * demo_handler.h: an example control handler (layer: test glue), the shape
 * the daemon's handler takes: "fault" through control_fault.h, "stats" as
 * the stats JSON (zeros where the daemon has real counters),
 * "trace start|stop" answered "not supported yet", "trace dump" returning a
 * small fixed trace, and "big" (tests only) answering too much.
 */
#ifndef DEMO_HANDLER_H
#define DEMO_HANDLER_H

#include <stdatomic.h>

#include "control.h"
#include "fault.h"

struct demo {
	struct faults *faults;
	atomic_int calls; /* handler invocations: a refused request must not count */
};

int demo_handle(void *arg, int argc, char **argv, struct ctl_out *out, const struct ctl_peer *peer);

#endif
