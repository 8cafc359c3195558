/*
 * control_msg.c: the control channel's message rules (layer: daemon edge):
 * how a request line splits into words, and the bounded output buffer a
 * handler writes its payload and error into. Calls libc only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control_int.h"

int ctl_parse_line(char *line, size_t len, char **argv, int *argc, char *err, size_t errlen)
{
	size_t i;
	int n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\0') {
			snprintf(err, errlen, "request contains a NUL byte at offset %zu", i);
			return -EINVAL;
		}
		/* '\r' is tolerated at the end only, for clients that send CRLF. */
		if (c == '\r' && i == len - 1) {
			line[i] = ' ';
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(err, errlen, "request contains control byte 0x%02x at offset %zu",
				 c, i);
			return -EINVAL;
		}
	}
	line[len] = '\0';
	for (char *p = line;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (n == CTL_MAX_ARGS) {
			snprintf(err, errlen, "too many words in request (at most %d)",
				 CTL_MAX_ARGS);
			return -EINVAL;
		}
		argv[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (n == 0) {
		snprintf(err, errlen, "empty request");
		return -EINVAL;
	}
	argv[n] = NULL;
	*argc = n;
	return 0;
}

/* Grows out->buf to hold need more bytes (and a NUL), within CTL_MAX_PAYLOAD. */
static int ctl_out_reserve(struct ctl_out *out, size_t need)
{
	size_t cap;
	char *nb;

	if (out->overflow || need > CTL_MAX_PAYLOAD - out->len) {
		out->overflow = true;
		return -E2BIG;
	}
	if (out->len + need + 1 <= out->cap)
		return 0;
	cap = out->cap ? out->cap : 4096;
	while (cap < out->len + need + 1)
		cap *= 2;
	nb = realloc(out->buf, cap);
	if (!nb)
		return -ENOMEM;
	out->buf = nb;
	out->cap = cap;
	return 0;
}

int ctl_write(struct ctl_out *out, const void *data, size_t len)
{
	int ret = ctl_out_reserve(out, len);

	if (ret < 0)
		return ret;
	memcpy(out->buf + out->len, data, len);
	out->len += len;
	out->buf[out->len] = '\0';
	return 0;
}

int ctl_printf(struct ctl_out *out, const char *fmt, ...)
{
	va_list ap;
	int n, ret;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	ret = ctl_out_reserve(out, (size_t)n);
	if (ret < 0)
		return ret;
	va_start(ap, fmt);
	vsnprintf(out->buf + out->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	out->len += (size_t)n;
	return 0;
}

void ctl_one_line(char *dst, size_t len, const char *src)
{
	size_t i;

	if (!len)
		return;
	for (i = 0; i + 1 < len && src[i]; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[i] = '\0';
}

int ctl_error(struct ctl_out *out, const char *fmt, ...)
{
	char tmp[CTL_MAX_ERROR];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	ctl_one_line(out->err, sizeof(out->err), tmp);
	return -EINVAL;
}

void ctl_out_free(struct ctl_out *out)
{
	free(out->buf);
	out->buf = NULL;
	out->len = out->cap = 0;
}

long long ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
