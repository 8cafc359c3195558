/*
 * eiocbctl_json.h: a small strict JSON reader for eiocbctl (layer: tool).
 * It reads the daemon's `stats` reply into a tree, finds values by dotted
 * path, and renders the readable table of `eiocbctl stats`. The daemon is
 * the one writer of that JSON; this is its checker, so it is strict
 * (RFC 8259 grammar, no trailing garbage, bounded nesting). Calls libc only.
 */
#ifndef EIOCBCTL_JSON_H
#define EIOCBCTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum ej_type { EJ_NULL, EJ_BOOL, EJ_NUMBER, EJ_STRING, EJ_ARRAY, EJ_OBJECT };

struct ej_node {
	enum ej_type type;
	char *key;	       /* member name inside an object, else NULL */
	char *text;	       /* EJ_STRING: decoded value; EJ_NUMBER: its literal */
	bool b;		       /* EJ_BOOL */
	struct ej_node *child; /* EJ_ARRAY / EJ_OBJECT: first element */
	struct ej_node *next;  /* next sibling */
};

#define EJ_MAX_DEPTH 32

/* Parses len bytes; returns the root or NULL with a one-line reason in err. */
struct ej_node *ej_parse(const char *s, size_t len, char *err, size_t errlen);
void ej_free(struct ej_node *n);

/* The value at a dotted path of object members ("ioctx.submitted"), or NULL. */
const struct ej_node *ej_get(const struct ej_node *root, const char *path);
/* The number at path as an integer; false when missing or not an integer. */
bool ej_get_int(const struct ej_node *root, const char *path, long long *out);

/*
 * Writes root as a readable table: top-level scalars as "name  value";
 * a top-level object as a heading with its members indented; deeper
 * objects (one fault point) on one line as key=value pairs.
 */
void ej_print_table(const struct ej_node *root, FILE *out);

#endif
