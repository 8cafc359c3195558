/*
 * stats_table.h: the daemon's stats JSON as eiocbctl shows it (layer:
 * tool). The JSON is read with jansson; this adds the lookup by dotted
 * path that eiocbctl and the tests use, and the readable table of
 * `eiocbctl stats`. Calls jansson and libc only.
 */
#ifndef EIOCBFS_STATS_TABLE_H
#define EIOCBFS_STATS_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Parses len bytes of JSON; NULL with a one-line reason in err. */
json_t *stats_parse(const char *s, size_t len, char *err, size_t errlen);
/* The value at a dotted path of object members ("ioctx.submitted"), or NULL. */
json_t *stats_get(json_t *root, const char *path);
/* The integer at path; false when missing or not an integer. */
bool stats_get_int(json_t *root, const char *path, long long *out);

/*
 * Writes root as a readable table: top-level scalars as "name  value";
 * a top-level object as a heading with its members indented; deeper
 * objects (one fault point) on one line as key=value pairs.
 */
void stats_print_table(json_t *root, FILE *out);

#endif
