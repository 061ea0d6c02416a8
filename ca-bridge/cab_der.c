/*
 * cab_der.c - a growable byte buffer and the few DER encoders that OpenSSL has no ready type
 * for (qcStatements, the CRL's list of entries).  Everything else is encoded by OpenSSL.
 */
#include "ca-bridge/cab_int.h"

#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

int cab_buf_put(struct cab_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL)
			return CAB_E_NOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void cab_buf_free(struct cab_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int cab_der_tlv(struct cab_buf *b, unsigned char tag, const void *content, size_t len)
{
	unsigned char hdr[6];
	size_t n = 0;

	hdr[n++] = tag;
	if (len < 0x80) {
		hdr[n++] = (unsigned char)len;
	} else {
		unsigned char tmp[4];
		size_t k = 0;

		for (size_t v = len; v > 0; v >>= 8)
			tmp[k++] = (unsigned char)(v & 0xff);
		if (k > 4)
			return CAB_E_INVALID;
		hdr[n++] = (unsigned char)(0x80 | k);
		while (k > 0)
			hdr[n++] = tmp[--k];
	}
	if (cab_buf_put(b, hdr, n) != 0 || cab_buf_put(b, content, len) != 0)
		return CAB_E_NOMEM;
	return 0;
}

int cab_der_oid(struct cab_buf *b, const char *dotted)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(dotted, 1);
	unsigned char *der = NULL;
	int n, rc = CAB_E_INVALID;

	if (obj == NULL)
		return CAB_E_INVALID;
	n = i2d_ASN1_OBJECT(obj, &der);
	if (n > 0)
		rc = cab_buf_put(b, der, (size_t)n);
	OPENSSL_free(der);
	ASN1_OBJECT_free(obj);
	return rc;
}

void cab_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int cab_id_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	/* a leading dot would make hidden or "." / ".." file names */
	return n >= 1 && n <= 64 && s[0] != '.';
}
