/*
 * test_httpc_mail.c - httpc_mail_compose: RFC 5322 headers, RFC 2047 subjects, quoted-printable
 * bodies, and refusal of header injection.  Decodes what it produced with its own small
 * decoders and checks the round trip, the line lengths and the header set.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "ra/net/httpc.h"
#include "ra/base/secret.h"

/* The value of header `name` with folding removed (caller frees), NULL if absent. */
static char *header(const char *msg, const char *name)
{
	size_t nl = strlen(name);
	const char *p = msg;
	char *out = calloc(1, strlen(msg) + 1);
	size_t n = 0;

	cr_assert_not_null(out);
	while (strncmp(p, "\r\n", 2) != 0) {
		const char *eol = strstr(p, "\r\n");

		cr_assert_not_null(eol, "header block not CRLF-terminated");
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			for (p += nl + 1; *p == ' '; p++)
				;
			for (;;) {
				eol = strstr(p, "\r\n");
				memcpy(out + n, p, (size_t)(eol - p));
				n += (size_t)(eol - p);
				p = eol + 2;
				if (*p != ' ' && *p != '\t')
					break;
			}
			out[n] = '\0';
			return out;
		}
		p = eol + 2;
	}
	free(out);
	return NULL;
}

static const char *body_of(const char *msg)
{
	const char *b = strstr(msg, "\r\n\r\n");

	cr_assert_not_null(b);
	return b + 4;
}

/* Every line CRLF-terminated and at most max octets (without CRLF). */
static void assert_lines_at_most(const char *s, size_t max)
{
	while (*s) {
		const char *eol = strstr(s, "\r\n");

		cr_assert_not_null(eol, "line without CRLF: %s", s);
		cr_assert_leq((size_t)(eol - s), max, "line too long: %.*s", (int)(eol - s), s);
		cr_assert_null(memchr(s, '\n', (size_t)(eol - s)), "bare LF");
		s = eol + 2;
	}
}

static int hexval(char c)
{
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - '0';
}

/* Quoted-printable back to text with LF line ends. */
static char *qp_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	size_t n = 0;

	while (*s) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
			s += 3;
		} else if (s[0] == '=') {
			cr_assert(strchr("0123456789ABCDEF", s[1]) && strchr("0123456789ABCDEF", s[2]),
				  "bad escape %.3s", s);
			out[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 3;
		} else if (s[0] == '\r' && s[1] == '\n') {
			out[n++] = '\n';
			s += 2;
		} else {
			cr_assert((unsigned char)*s < 127, "raw 8-bit byte in QP body");
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
	return out;
}

/* Concatenated text of "=?UTF-8?B?...?=" words separated by spaces; each word whole UTF-8. */
static char *rfc2047_decode(const char *v)
{
	char *out = calloc(1, strlen(v) + 1);
	size_t n = 0;

	while (*v) {
		const char *end;
		char b64[128];
		uint8_t raw[96];
		size_t rl;

		while (*v == ' ')
			v++;
		cr_assert(!strncmp(v, "=?UTF-8?B?", 10), "not an encoded-word: %s", v);
		end = strstr(v + 10, "?=");
		cr_assert_not_null(end);
		cr_assert_leq((size_t)(end + 2 - v), 75, "encoded-word over 75 octets");
		snprintf(b64, sizeof(b64), "%.*s", (int)(end - v - 10), v + 10);
		cr_assert_eq(secret_b64_decode(b64, raw, sizeof(raw), &rl), 0);
		cr_assert_null(u8_check(raw, rl), "a word splits a UTF-8 character");
		memcpy(out + n, raw, rl);
		n += rl;
		v = end + 2;
	}
	out[n] = '\0';
	return out;
}

Test(httpc_mail, ascii_message_has_rfc5322_and_mime_headers)
{
	char *m = httpc_mail_compose("RA <ra@trust.example>", "kunde@example.org", "Your certificate",
				     "Hello\n");
	char *h;

	cr_assert_not_null(m);
	assert_lines_at_most(m, 998);
	h = header(m, "Date");
	cr_assert_not_null(h);
	cr_assert_eq(strlen(h), strlen("Mon, 02 Jan 2006 15:04:05 +0000"), "%s", h);
	cr_assert_str_eq(h + strlen(h) - 6, " +0000");
	free(h);
	h = header(m, "Message-ID");
	cr_assert(h && h[0] == '<' && strstr(h, "@trust.example>") != NULL, "%s", h);
	free(h);
	h = header(m, "From");
	cr_assert_str_eq(h, "RA <ra@trust.example>");
	free(h);
	h = header(m, "To");
	cr_assert_str_eq(h, "kunde@example.org");
	free(h);
	h = header(m, "Subject");
	cr_assert_str_eq(h, "Your certificate");
	free(h);
	h = header(m, "MIME-Version");
	cr_assert_str_eq(h, "1.0");
	free(h);
	h = header(m, "Content-Type");
	cr_assert_str_eq(h, "text/plain; charset=UTF-8");
	free(h);
	h = header(m, "Content-Transfer-Encoding");
	cr_assert_str_eq(h, "quoted-printable");
	free(h);
	cr_assert_str_eq(body_of(m), "Hello\r\n");
	free(m);
}

Test(httpc_mail, message_ids_are_unique)
{
	char *a = httpc_mail_compose("ra@trust.example", "x@example.org", "s", "b");
	char *b = httpc_mail_compose("ra@trust.example", "x@example.org", "s", "b");
	char *ia = header(a, "Message-ID"), *ib = header(b, "Message-ID");

	cr_assert_str_neq(ia, ib);
	free(ia);
	free(ib);
	free(a);
	free(b);
}

Test(httpc_mail, utf8_subject_is_rfc2047_encoded_in_whole_characters)
{
	/* long enough for several words; multi-byte characters straddle the 42-octet chunks */
	const char *subject =
		"Bestätigung: Ihr qualifiziertes Zertifikat für Jürgen Öztürk – "
		"ÄÖÜ äöü ß € 漢字かな交じり文 😀 Ende";
	char *m = httpc_mail_compose("ra@trust.example", "x@example.org", subject, "b\n");
	char *h, *dec;

	cr_assert_not_null(m);
	assert_lines_at_most(m, 78);
	h = header(m, "Subject");
	dec = rfc2047_decode(h);
	cr_assert_str_eq(dec, subject);
	free(dec);
	free(h);
	free(m);
}

Test(httpc_mail, body_is_quoted_printable_and_round_trips)
{
	const char *body =
		"Grüß Gott,\n\n"
		"a line that is definitely longer than seventy-six characters, so it needs soft breaks "
		"äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü\n"
		"trailing space \ntrailing tab\t\n= sign\n.\nwindows line\r\nlast line without newline";
	const char *expect =
		"Grüß Gott,\n\n"
		"a line that is definitely longer than seventy-six characters, so it needs soft breaks "
		"äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü äöü\n"
		"trailing space \ntrailing tab\t\n= sign\n.\nwindows line\nlast line without newline\n";
	char *m = httpc_mail_compose("ra@trust.example", "x@example.org", "s", body);
	const char *b;
	char *dec;

	cr_assert_not_null(m);
	b = body_of(m);
	assert_lines_at_most(b, 76);
	cr_assert_null(strstr(b, " \r\n"), "trailing white space left raw");
	cr_assert_null(strstr(b, "\t\r\n"), "trailing white space left raw");
	dec = qp_decode(b);
	cr_assert_str_eq(dec, expect);
	free(dec);
	free(m);
}

Test(httpc_mail, crlf_in_any_header_value_is_refused)
{
	cr_assert_null(httpc_mail_compose("ra@trust.example", "x@example.org",
					  "Hi\r\nBcc: victim@example.org", "b"));
	cr_assert_null(
		httpc_mail_compose("ra@trust.example", "x@example.org", "Hi\nBcc: victim@example.org", "b"));
	cr_assert_null(
		httpc_mail_compose("ra@trust.example", "x@example.org", "Grüße\rBcc: v@example.org", "b"));
	cr_assert_null(
		httpc_mail_compose("ra@trust.example\r\nBcc: v@example.org", "x@example.org", "s", "b"));
	cr_assert_null(httpc_mail_compose("ra@trust.example", "x@example.org\nBcc: v@example.org", "s", "b"));
	cr_assert_null(httpc_mail_compose("ra@trust.example", "x@example.org",
					  "tab\tand\x01"
					  "control",
					  "b"));
}

Test(httpc_mail, invalid_utf8_and_non_ascii_addresses_are_refused)
{
	cr_assert_null(httpc_mail_compose("ra@trust.example", "x@example.org", "bad \xc3\x28 utf8", "b"));
	cr_assert_null(httpc_mail_compose("ra@trust.example", "x@example.org", "s", "bad \xff body"));
	cr_assert_null(httpc_mail_compose("Jürgen <j@example.org>", "x@example.org", "s", "b"));
	cr_assert_null(httpc_mail_compose("", "x@example.org", "s", "b"));
	cr_assert_null(httpc_mail_compose("ra@trust.example", "x@example.org", NULL, "b"));
}

Test(httpc_mail, long_ascii_subject_is_folded_not_truncated)
{
	char subject[1200];
	char *m, *h, *dec;

	memset(subject, 'a', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	m = httpc_mail_compose("ra@trust.example", "x@example.org", subject, "b");
	cr_assert_not_null(m);
	assert_lines_at_most(m, 998);
	h = header(m, "Subject");
	dec = rfc2047_decode(h);
	cr_assert_str_eq(dec, subject);
	free(dec);
	free(h);
	free(m);
}

/* issue #19: a mail a job sends again after a crash is the same message, byte for byte */
Test(httpc_mail, a_given_date_and_message_id_make_the_same_bytes_twice)
{
	char *a = httpc_mail_compose_at("ra@trust.example", "x@example.org", "s", "b\n", 1796212800,
					"user-id-mail.7.1796212800");
	char *b = httpc_mail_compose_at("ra@trust.example", "x@example.org", "s", "b\n", 1796212800,
					"user-id-mail.7.1796212800");
	char *d = header(a, "Date"), *id = header(a, "Message-ID");

	cr_assert_not_null(a);
	cr_assert_str_eq(a, b);
	cr_assert_str_eq(d, "Wed, 02 Dec 2026 12:00:00 +0000");
	cr_assert_str_eq(id, "<user-id-mail.7.1796212800@trust.example>");
	free(d);
	free(id);
	free(a);
	free(b);
	/* an id that could add a header or break the angle brackets is refused */
	cr_assert_null(httpc_mail_compose_at("ra@trust.example", "x@example.org", "s", "b", 0,
					     "a>\r\nBcc: v@example.org"));
	cr_assert_null(httpc_mail_compose_at("ra@trust.example", "x@example.org", "s", "b", 0, ""));
	cr_assert_null(httpc_mail_compose_at("ra@trust.example", "x@example.org", "s", "b", -1, NULL));
}
