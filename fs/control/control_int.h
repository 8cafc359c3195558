/*
 * control_int.h: the control channel's private helpers (layer: daemon edge),
 * shared by its server, client and tests. Not for the rest of eiocbfs.
 */
#ifndef EIOCBFS_CONTROL_INT_H
#define EIOCBFS_CONTROL_INT_H

#include <stddef.h>

#include "control.h"

/*
 * Splits a request (len bytes, the '\n' already removed) in place into at
 * most CTL_MAX_ARGS words; argv[*argc] = NULL. Returns 0, or -EINVAL with a
 * one-line reason in err (empty, NUL or control bytes, too many words).
 */
int ctl_parse_line(char *line, size_t len, char **argv, int *argc, char *err, size_t errlen);

/* Frees a handler's output (the struct itself is the caller's). */
void ctl_out_free(struct ctl_out *out);

/* Copies src into a one-line error text: newlines and control bytes become blanks. */
void ctl_one_line(char *dst, size_t len, const char *src);

/* CLOCK_MONOTONIC in milliseconds, for the per-client deadlines. */
long long ctl_now_ms(void);

#endif
