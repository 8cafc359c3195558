/*
 * stats_table.c: lookup by dotted path and the stats table of eiocbctl
 * (layer: tool; see stats_table.h). Calls jansson and libc only.
 */
#include <string.h>

#include "stats_table.h"

json_t *stats_parse(const char *s, size_t len, char *err, size_t errlen)
{
	json_error_t e;
	json_t *root = json_loadb(s, len, 0, &e);

	if (!root)
		snprintf(err, errlen, "JSON: %s (byte %d)", e.text, e.position);
	return root;
}

json_t *stats_get(json_t *root, const char *path)
{
	json_t *n = root;

	while (n && *path) {
		const char *dot = strchr(path, '.');
		size_t klen = dot ? (size_t)(dot - path) : strlen(path);

		n = json_is_object(n) ? json_object_getn(n, path, klen) : NULL;
		path += klen + (dot ? 1 : 0);
	}
	return n;
}

bool stats_get_int(json_t *root, const char *path, long long *out)
{
	json_t *n = stats_get(root, path);

	if (!json_is_integer(n))
		return false;
	*out = json_integer_value(n);
	return true;
}

/* A scalar or a (compact) container: null as "-", booleans as yes/no. */
static void print_value(json_t *n, FILE *out)
{
	const char *key;
	json_t *m;
	size_t i;
	bool first = true;

	switch (json_typeof(n)) {
	case JSON_NULL:
		fputs("-", out);
		break;
	case JSON_TRUE:
		fputs("yes", out);
		break;
	case JSON_FALSE:
		fputs("no", out);
		break;
	case JSON_INTEGER:
		fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(n));
		break;
	case JSON_REAL:
		fprintf(out, "%g", json_real_value(n));
		break;
	case JSON_STRING:
		fputs(json_string_value(n), out);
		break;
	case JSON_ARRAY:
		fputc('[', out);
		json_array_foreach(n, i, m)
		{
			if (i)
				fputc(',', out);
			print_value(m, out);
		}
		fputc(']', out);
		break;
	case JSON_OBJECT:
		fputc('{', out);
		json_object_foreach(n, key, m)
		{
			fprintf(out, "%s%s=", first ? "" : " ", key);
			print_value(m, out);
			first = false;
		}
		fputc('}', out);
		break;
	}
}

/* Counters shown even for a point that is off. */
static bool is_counter(const char *key)
{
	return !strcmp(key, "calls") || !strcmp(key, "eligible") || !strcmp(key, "injected");
}

/*
 * An object as key=value pairs on one line. One with "enabled" (a fault
 * point) starts with on/off; when off only its counters follow, and unset
 * (null) knobs are left out.
 */
static void print_pairs(json_t *obj, FILE *out)
{
	json_t *en = json_object_get(obj, "enabled"), *k;
	bool point = json_is_boolean(en), off = json_is_false(en);
	const char *sep = "", *key;

	if (point) {
		fputs(json_is_true(en) ? "on " : "off", out);
		sep = " ";
	}
	json_object_foreach(obj, key, k)
	{
		if (k == en || (point && json_is_null(k)) || (off && !is_counter(key)))
			continue;
		fprintf(out, "%s%s=", sep, key);
		print_value(k, out);
		sep = " ";
	}
}

/* The members of a section, one per line, names aligned. */
static void print_section(json_t *obj, FILE *out)
{
	const char *key;
	json_t *m;
	int w = 0;

	json_object_foreach(obj, key, m) if ((int)strlen(key) > w) w = (int)strlen(key);
	json_object_foreach(obj, key, m)
	{
		fprintf(out, "  %-*s  ", w, key);
		if (json_is_object(m)) /* one fault point: key=value pairs */
			print_pairs(m, out);
		else
			print_value(m, out);
		fputc('\n', out);
	}
}

void stats_print_table(json_t *root, FILE *out)
{
	const char *key;
	json_t *m;

	if (!json_is_object(root)) {
		print_value(root, out);
		fputc('\n', out);
		return;
	}
	json_object_foreach(root, key, m)
	{
		if (json_is_object(m)) {
			fprintf(out, "%s\n", key);
			print_section(m, out);
		} else {
			fprintf(out, "%-12s  ", key);
			print_value(m, out);
			fputc('\n', out);
		}
	}
}
