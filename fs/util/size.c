/*
 * size.c: the byte-size parser (layer: util; see size.h for the grammar).
 * Calls libc only.
 */
#include "size.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int size_fail(int ret, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int size_fail(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* The shift of a suffix letter, or -1. */
static int size_shift(char c)
{
	const char *units = "KMGT", *p = c ? strchr(units, c & ~0x20) : NULL;

	return p ? 10 * (int)(p - units + 1) : -1;
}

int size_parse(const char *s, uint64_t *out, char *err, size_t errlen)
{
	uint64_t v = 0;
	const char *p = s;
	int shift = 0;

	if (!*s)
		return size_fail(-EINVAL, err, errlen, "empty size");
	if (*s == '-')
		return size_fail(-EINVAL, err, errlen, "'%s': a size cannot be negative", s);
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return size_fail(-ERANGE, err, errlen, "'%s': too large (over 64 bits)", s);
		v = v * 10 + d;
	}
	if (p == s)
		goto garbage;
	if (*p) {
		int digits = (int)(p - s);
		char unit = (char)(*p & ~0x20);

		shift = size_shift(*p++);
		if (shift < 0)
			goto garbage;
		if ((*p == 'B' || *p == 'b') && !p[1])
			return size_fail(-EINVAL, err, errlen,
					 "'%s': %cB is 1000 to some tools and 1024 to others: "
					 "write %.*s%c or %.*s%ciB",
					 s, unit, digits, s, unit, digits, s, unit);
		if (!strcmp(p, "iB"))
			p += 2;
		if (*p)
			goto garbage;
		if (v > UINT64_MAX >> shift)
			return size_fail(-ERANGE, err, errlen, "'%s': too large (over 64 bits)", s);
	}
	*out = v << shift;
	return 0;
garbage:
	return size_fail(-EINVAL, err, errlen,
			 "'%s': not a size (digits, then optionally K, M, G or T, or KiB ...)", s);
}
