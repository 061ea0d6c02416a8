/* log.c - one-line structured logs; see log.h.  One write(2) per line so lines never mix. */
#include "ra/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int json_mode;
static enum log_level min_level = LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_json(int on)
{
	json_mode = on;
}

void log_set_level(enum log_level min)
{
	min_level = min;
}

struct line {
	char buf[4096];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->len + n >= sizeof(l->buf) - 2)
		n = sizeof(l->buf) - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static int needs_quote(const char *v)
{
	if (*v == '\0')
		return 1;
	for (; *v; v++)
		if (*v <= ' ' || *v == '"' || *v == '=' || *v == '\\')
			return 1;
	return 0;
}

static void put_escaped(struct line *l, const char *v)
{
	char tmp[8];

	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			put(l, tmp, 2);
		} else if (c < 0x20) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			puts_(l, tmp);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
}

static void put_pair(struct line *l, const char *k, const char *v)
{
	if (json_mode) {
		puts_(l, ",\"");
		put_escaped(l, k);
		puts_(l, "\":\"");
		put_escaped(l, v);
		puts_(l, "\"");
	} else {
		puts_(l, " ");
		puts_(l, k);
		puts_(l, "=");
		if (needs_quote(v)) {
			puts_(l, "\"");
			put_escaped(l, v);
			puts_(l, "\"");
		} else {
			puts_(l, v);
		}
	}
}

void log_kv(enum log_level lvl, const char *event, ...)
{
	struct line l = {.len = 0};
	struct timeval tv;
	struct tm tm;
	char ts[96];
	va_list ap;
	const char *k;

	if (lvl < min_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
	if (json_mode) {
		puts_(&l, "{\"ts\":\"");
		puts_(&l, ts);
		puts_(&l, "\"");
	} else {
		puts_(&l, "ts=");
		puts_(&l, ts);
	}
	put_pair(&l, "level", level_names[lvl]);
	put_pair(&l, "event", event);
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		put_pair(&l, k, v ? v : "");
	}
	va_end(ap);
	if (json_mode)
		puts_(&l, "}");
	l.buf[l.len++] = '\n';
	if (write(STDERR_FILENO, l.buf, l.len) < 0) {
		/* nowhere left to report it */
	}
}
