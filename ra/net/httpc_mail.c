/*
 * httpc_mail.c - httpc_mail_compose: the RFC 5322 text of one plain-text mail for
 * httpc_send_mail.  UTF-8 subjects become RFC 2047 encoded-words, the body is
 * quoted-printable (RFC 2045) so long lines and 8-bit text survive any relay.  Header values
 * with CR, LF or other control characters are refused: they would let a value that came from
 * a customer (a name, an order field) add headers or recipients of its own.
 */
#include "ra/net/httpc.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistr.h>

#include "ra/base/secret.h"

struct sb {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sb *b, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		b->oom = 1;
	else
		sb_add(b, buf, (size_t)n);
}

/* Printable ASCII only: from/to carry no encoded display names. */
static int ascii_value_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 320)
		return 0;
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	}
	return 1;
}

/* 1 ok, 0 control character (incl. CR/LF) or not UTF-8; *ascii says whether encoding is needed. */
static int subject_ok(const char *s, int *ascii)
{
	*ascii = 1;
	if (u8_check((const uint8_t *)s, strlen(s)) != NULL)
		return 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f)
			return 0;
		if (ch > 0x7e)
			*ascii = 0;
	}
	return 1;
}

static void add_date(struct sb *b, time_t when)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	/* fixed English names: strftime's %a/%b would follow the locale */
	if (gmtime_r(&when, &tm) == NULL) {
		b->oom = 1;
		return;
	}
	sb_fmt(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
	       months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Message-ID: <id@...>, a random id when none is given; the right side is the sender's
 * domain when it is a plain host name. */
static void add_message_id(struct sb *b, const char *from, const char *id)
{
	char token[SECRET_TOKEN_MAX + 64]; /* a random token, or the given id (<= 64) */
	const char *at = strrchr(from, '@');
	size_t n = 0;

	if (id != NULL)
		snprintf(token, sizeof(token), "%s", id);
	else if (secret_random_token(token, sizeof(token)) != 0) {
		b->oom = 1;
		return;
	}
	if (at) {
		at++;
		while (at[n] && (at[n] == '.' || at[n] == '-' || (at[n] >= '0' && at[n] <= '9') ||
				 ((at[n] | 0x20) >= 'a' && (at[n] | 0x20) <= 'z')))
			n++;
	}
	if (n == 0 || n > 253)
		sb_fmt(b, "Message-ID: <%s@ra.invalid>\r\n", token);
	else
		sb_fmt(b, "Message-ID: <%s@%.*s>\r\n", token, (int)n, at);
}

/* RFC 2047 B encoding in words of whole characters, each under 75 octets, folded. */
static void add_subject_encoded(struct sb *b, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	const uint8_t *end = p + strlen(s);
	unsigned char out[64];

	sb_str(b, "Subject:");
	while (p < end) {
		const uint8_t *q = p;
		int n;

		/* 42 octets → 56 base64 characters → a 68-octet encoded-word */
		while (q < end) {
			int cl = u8_mblen(q, (size_t)(end - q));

			if (cl <= 0 || q + cl - p > 42)
				break;
			q += cl;
		}
		n = EVP_EncodeBlock(out, p, (int)(q - p));
		sb_str(b, p == (const uint8_t *)s ? " " : "\r\n ");
		sb_fmt(b, "=?UTF-8?B?%.*s?=", n, (const char *)out);
		p = q;
	}
	sb_str(b, "\r\n");
}

/* Quoted-printable (RFC 2045 6.7): lines at most 76 characters, CRLF line ends. */
static void add_qp_line(struct sb *b, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];
		int last = i + 1 == n;
		char tok[4];
		size_t tl = 1;

		tok[0] = (char)ch;
		/* trailing white space would be stripped in transit: encode it */
		if (ch == '=' || ch > 126 || (ch < 32 && ch != '\t') || ((ch == ' ' || ch == '\t') && last)) {
			tok[0] = '=';
			tok[1] = hex[ch >> 4];
			tok[2] = hex[ch & 15];
			tl = 3;
		}
		if (col + tl > 75) {
			sb_str(b, "=\r\n");
			col = 0;
		}
		sb_add(b, tok, tl);
		col += tl;
	}
	sb_str(b, "\r\n");
}

static void add_body(struct sb *b, const char *body)
{
	const char *p = body;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		add_qp_line(b, (const unsigned char *)p, n > 0 && p[n - 1] == '\r' ? n - 1 : n);
		p += n + (nl != NULL);
	}
}

/* a Message-ID's own part as the caller gives it: 1..64 of [A-Za-z0-9._-] */
static int message_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || ((id[i] | 0x20) >= 'a' && (id[i] | 0x20) <= 'z') ||
		      id[i] == '.' || id[i] == '_' || id[i] == '-'))
			return 0;
	return 1;
}

char *httpc_mail_compose(const char *from, const char *to, const char *subject, const char *body_utf8)
{
	return httpc_mail_compose_at(from, to, subject, body_utf8, (int64_t)time(NULL), NULL);
}

char *httpc_mail_compose_at(const char *from, const char *to, const char *subject, const char *body_utf8,
			    int64_t date, const char *message_id)
{
	struct sb b = {0};
	int ascii;

	if (!ascii_value_ok(from) || !ascii_value_ok(to) || subject == NULL || body_utf8 == NULL)
		return NULL;
	if (!subject_ok(subject, &ascii) || u8_check((const uint8_t *)body_utf8, strlen(body_utf8)) != NULL)
		return NULL;
	if ((message_id != NULL && !message_id_ok(message_id)) || date < 0)
		return NULL;
	add_date(&b, (time_t)date);
	add_message_id(&b, from, message_id);
	sb_str(&b, "From: ");
	sb_str(&b, from);
	sb_str(&b, "\r\nTo: ");
	sb_str(&b, to);
	sb_str(&b, "\r\n");
	/* a long subject takes the encoded, folded form: header lines stay under 998 octets */
	if (ascii && strlen(subject) <= 900) {
		sb_str(&b, "Subject: ");
		sb_str(&b, subject);
		sb_str(&b, "\r\n");
	} else {
		add_subject_encoded(&b, subject);
	}
	sb_str(&b,
	       "MIME-Version: 1.0\r\n"
	       "Content-Type: text/plain; charset=UTF-8\r\n"
	       "Content-Transfer-Encoding: quoted-printable\r\n"
	       "\r\n");
	add_body(&b, body_utf8);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
