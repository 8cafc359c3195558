/*
 * eiocbctl_json.c: the strict JSON reader and the stats table of eiocbctl
 * (layer: tool; see eiocbctl_json.h). A recursive-descent parser over a
 * cursor; every error names the byte offset. Calls libc only.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eiocbctl_json.h"

struct ej_cur {
	const char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
	bool failed;
};

static void ej_fail(struct ej_cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ej_fail(struct ej_cur *c, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (c->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "JSON: %s at byte %zu", what, c->pos);
	c->failed = true;
}

static void ej_ws(struct ej_cur *c)
{
	while (c->pos < c->len && strchr(" \t\r\n", c->s[c->pos]) && c->s[c->pos])
		c->pos++;
}

static int ej_peek(struct ej_cur *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static bool ej_lit(struct ej_cur *c, const char *word)
{
	size_t n = strlen(word);

	if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n)) {
		ej_fail(c, "expected '%s'", word);
		return false;
	}
	c->pos += n;
	return true;
}

/* Appends code point cp as UTF-8. */
static size_t ej_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int ej_hex4(struct ej_cur *c, unsigned *out)
{
	unsigned v = 0;

	if (c->len - c->pos < 4) {
		ej_fail(c, "short \\u escape");
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		char h = c->s[c->pos++];

		v <<= 4;
		if (h >= '0' && h <= '9')
			v |= (unsigned)(h - '0');
		else if (h >= 'a' && h <= 'f')
			v |= (unsigned)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			v |= (unsigned)(h - 'A' + 10);
		else {
			ej_fail(c, "bad hex digit in \\u escape");
			return -1;
		}
	}
	*out = v;
	return 0;
}

/* A string literal (cursor on the '"'); returns the decoded, malloc'd text. */
static char *ej_string(struct ej_cur *c)
{
	/* Decoded text is never longer than the literal (\u makes at most 4 from 6 or 12). */
	char *o = malloc(c->len - c->pos + 1);
	size_t n = 0;

	if (!o) {
		ej_fail(c, "out of memory");
		return NULL;
	}
	c->pos++;
	while (c->pos < c->len) {
		unsigned char ch = (unsigned char)c->s[c->pos++];
		unsigned cp, lo;

		if (ch == '"') {
			char *fit;

			o[n] = '\0';
			fit = realloc(o, n + 1); /* o was sized for the rest of the text */
			return fit ? fit : o;
		}
		if (ch < 0x20) {
			c->pos--;
			ej_fail(c, "control byte in string");
			break;
		}
		if (ch != '\\') {
			o[n++] = (char)ch;
			continue;
		}
		if (c->pos >= c->len)
			break;
		switch (c->s[c->pos++]) {
		case '"': o[n++] = '"'; break;
		case '\\': o[n++] = '\\'; break;
		case '/': o[n++] = '/'; break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'u':
			if (ej_hex4(c, &cp) < 0)
				goto fail;
			if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
				if (!ej_lit(c, "\\u") || ej_hex4(c, &lo) < 0 || lo < 0xdc00 ||
				    lo > 0xdfff) {
					ej_fail(c, "bad surrogate pair");
					goto fail;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				ej_fail(c, "lone low surrogate");
				goto fail;
			}
			n += ej_utf8(o + n, cp);
			break;
		default:
			c->pos--;
			ej_fail(c, "bad escape");
			goto fail;
		}
	}
	ej_fail(c, "unterminated string");
fail:
	free(o);
	return NULL;
}

static bool ej_digits(struct ej_cur *c)
{
	size_t start = c->pos;

	while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9')
		c->pos++;
	return c->pos > start;
}

/* A number literal, checked against the JSON grammar; returns its text. */
static char *ej_number(struct ej_cur *c)
{
	size_t start = c->pos;
	char *t;

	if (ej_peek(c) == '-')
		c->pos++;
	if (ej_peek(c) == '0')
		c->pos++;
	else if (!ej_digits(c))
		goto bad;
	if (ej_peek(c) == '.') {
		c->pos++;
		if (!ej_digits(c))
			goto bad;
	}
	if (ej_peek(c) == 'e' || ej_peek(c) == 'E') {
		c->pos++;
		if (ej_peek(c) == '+' || ej_peek(c) == '-')
			c->pos++;
		if (!ej_digits(c))
			goto bad;
	}
	t = strndup(c->s + start, c->pos - start);
	if (!t)
		ej_fail(c, "out of memory");
	return t;
bad:
	ej_fail(c, "bad number");
	return NULL;
}

static struct ej_node *ej_value(struct ej_cur *c, int depth);

/* The members of an object or the elements of an array (cursor after the bracket). */
static bool ej_members(struct ej_cur *c, struct ej_node *n, int depth, bool object)
{
	struct ej_node **tail = &n->child;
	int close = object ? '}' : ']';

	ej_ws(c);
	if (ej_peek(c) == close) {
		c->pos++;
		return true;
	}
	for (;;) {
		char *key = NULL;
		struct ej_node *v;

		ej_ws(c);
		if (object) {
			if (ej_peek(c) != '"') {
				ej_fail(c, "expected a member name");
				return false;
			}
			key = ej_string(c);
			if (!key)
				return false;
			ej_ws(c);
			if (ej_peek(c) != ':') {
				free(key);
				ej_fail(c, "expected ':'");
				return false;
			}
			c->pos++;
		}
		v = ej_value(c, depth + 1);
		if (!v) {
			free(key);
			return false;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		ej_ws(c);
		if (ej_peek(c) == ',') {
			c->pos++;
			continue;
		}
		if (ej_peek(c) == close) {
			c->pos++;
			return true;
		}
		ej_fail(c, "expected ',' or '%c'", close);
		return false;
	}
}

static struct ej_node *ej_value(struct ej_cur *c, int depth)
{
	struct ej_node *n;
	int ch;

	if (depth > EJ_MAX_DEPTH) {
		ej_fail(c, "nested deeper than %d", EJ_MAX_DEPTH);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		ej_fail(c, "out of memory");
		return NULL;
	}
	ej_ws(c);
	ch = ej_peek(c);
	switch (ch) {
	case '{':
	case '[':
		c->pos++;
		n->type = ch == '{' ? EJ_OBJECT : EJ_ARRAY;
		if (!ej_members(c, n, depth, ch == '{'))
			goto fail;
		return n;
	case '"':
		n->type = EJ_STRING;
		if (!(n->text = ej_string(c)))
			goto fail;
		return n;
	case 't':
	case 'f':
		n->type = EJ_BOOL;
		n->b = ch == 't';
		if (!ej_lit(c, n->b ? "true" : "false"))
			goto fail;
		return n;
	case 'n':
		n->type = EJ_NULL;
		if (!ej_lit(c, "null"))
			goto fail;
		return n;
	default:
		if (ch == '-' || (ch >= '0' && ch <= '9')) {
			n->type = EJ_NUMBER;
			if (!(n->text = ej_number(c)))
				goto fail;
			return n;
		}
		ej_fail(c, ch < 0 ? "unexpected end" : "unexpected character");
	}
fail:
	ej_free(n);
	return NULL;
}

struct ej_node *ej_parse(const char *s, size_t len, char *err, size_t errlen)
{
	struct ej_cur c = { .s = s, .len = len, .err = err, .errlen = errlen };
	struct ej_node *root = ej_value(&c, 0);

	if (!root)
		return NULL;
	ej_ws(&c);
	if (c.pos != len) {
		ej_fail(&c, "trailing data");
		ej_free(root);
		return NULL;
	}
	return root;
}

void ej_free(struct ej_node *n)
{
	while (n) {
		struct ej_node *next = n->next;

		ej_free(n->child);
		free(n->key);
		free(n->text);
		free(n);
		n = next;
	}
}

const struct ej_node *ej_get(const struct ej_node *root, const char *path)
{
	const struct ej_node *n = root;

	while (n && *path) {
		const char *dot = strchr(path, '.');
		size_t klen = dot ? (size_t)(dot - path) : strlen(path);
		const struct ej_node *m;

		if (n->type != EJ_OBJECT)
			return NULL;
		for (m = n->child; m; m = m->next)
			if (strlen(m->key) == klen && !memcmp(m->key, path, klen))
				break;
		n = m;
		path += klen + (dot ? 1 : 0);
	}
	return n;
}

bool ej_get_int(const struct ej_node *root, const char *path, long long *out)
{
	const struct ej_node *n = ej_get(root, path);
	char *end;

	if (!n || n->type != EJ_NUMBER)
		return false;
	*out = strtoll(n->text, &end, 10);
	return *end == '\0';
}

/* A scalar or a (compact) container, as its JSON-ish text. */
static void ej_print_value(const struct ej_node *n, FILE *out)
{
	switch (n->type) {
	case EJ_NULL: fputs("-", out); break;
	case EJ_BOOL: fputs(n->b ? "yes" : "no", out); break;
	case EJ_NUMBER:
	case EJ_STRING: fputs(n->text, out); break;
	case EJ_ARRAY:
	case EJ_OBJECT:
		fputc(n->type == EJ_ARRAY ? '[' : '{', out);
		for (const struct ej_node *m = n->child; m; m = m->next) {
			if (m != n->child)
				fputs(n->type == EJ_ARRAY ? "," : " ", out);
			if (m->key)
				fprintf(out, "%s=", m->key);
			ej_print_value(m, out);
		}
		fputc(n->type == EJ_ARRAY ? ']' : '}', out);
		break;
	}
}

/* Counters shown even for a point that is off. */
static bool ej_is_counter(const char *key)
{
	return !strcmp(key, "calls") || !strcmp(key, "eligible") || !strcmp(key, "injected");
}

/*
 * An object as key=value pairs on one line. One with "enabled" (a fault
 * point) starts with on/off; when off only its counters follow, and unset
 * (null) knobs are left out.
 */
static void ej_print_pairs(const struct ej_node *obj, FILE *out)
{
	const struct ej_node *en = ej_get(obj, "enabled");
	bool off = en && en->type == EJ_BOOL && !en->b;
	const char *sep = "";

	if (en && en->type == EJ_BOOL) {
		fputs(en->b ? "on " : "off", out);
		sep = " ";
	}
	for (const struct ej_node *k = obj->child; k; k = k->next) {
		if (k == en || (en && k->type == EJ_NULL) || (off && !ej_is_counter(k->key)))
			continue;
		fprintf(out, "%s%s=", sep, k->key);
		ej_print_value(k, out);
		sep = " ";
	}
}

/* The members of a section, one per line, names aligned. */
static void ej_print_section(const struct ej_node *obj, FILE *out)
{
	int w = 0;

	for (const struct ej_node *m = obj->child; m; m = m->next)
		if ((int)strlen(m->key) > w)
			w = (int)strlen(m->key);
	for (const struct ej_node *m = obj->child; m; m = m->next) {
		fprintf(out, "  %-*s  ", w, m->key);
		if (m->type == EJ_OBJECT) { /* one fault point: key=value pairs */
			ej_print_pairs(m, out);
		} else {
			ej_print_value(m, out);
		}
		fputc('\n', out);
	}
}

void ej_print_table(const struct ej_node *root, FILE *out)
{
	if (root->type != EJ_OBJECT) {
		ej_print_value(root, out);
		fputc('\n', out);
		return;
	}
	for (const struct ej_node *m = root->child; m; m = m->next) {
		if (m->type == EJ_OBJECT) {
			fprintf(out, "%s\n", m->key);
			ej_print_section(m, out);
		} else {
			fprintf(out, "%-12s  ", m->key);
			ej_print_value(m, out);
			fputc('\n', out);
		}
	}
}
