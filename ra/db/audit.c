/*
 * audit.c - the audit record's canonical encoding and hash, and the append helper for code
 * that writes a record inside its own transaction; see audit.h and docs/audit.md.
 */
#include "ra/db/audit.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Straight into the records table: the audit_log view's INSTEAD OF trigger would cost a
 * second trigger call per record. */
const char *const audit_insert_sql =
	"INSERT INTO audit_record (actor, action, object_type, object_id, reason, details)"
	" VALUES ($1, $2, $3, $4, $5, $6::jsonb)";

static const char *sql_append = DB_PLAN_ONCE
	"INSERT INTO audit_record (actor, action, object_type, object_id, reason, details)"
	" VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id, at";

#define AUDIT_DOMAIN "ra-audit-v1"

void audit_append(struct db_conn *conn, const struct audit_rec *rec, db_result_cb cb, void *data)
{
	char *details = rec->details ? json_dumps(rec->details, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	const char *p[6] = {rec->actor, rec->action, rec->object_type, rec->object_id, rec->reason, details};

	db_conn_query(conn, sql_append, 6, p, cb, data);
	free(details);
}

/* One field: '-' for NULL, else "<octets>:<bytes>", so no two field lists encode alike. */
static int enc(EVP_MD_CTX *md, const char *v)
{
	char len[24];

	if (v == NULL)
		return EVP_DigestUpdate(md, "-", 1);
	snprintf(len, sizeof(len), "%zu:", strlen(v));
	return EVP_DigestUpdate(md, len, strlen(len)) && EVP_DigestUpdate(md, v, strlen(v));
}

int audit_hash(const struct audit_row *r, char out[65])
{
	const char *fields[] = {r->prev_hash,   r->seq,       r->at,     r->actor,  r->action,
				r->object_type, r->object_id, r->reason, r->details};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32];
	unsigned int n = 0;
	int ok;

	if (md == NULL)
		return RA_E_NOMEM;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(md, AUDIT_DOMAIN, strlen(AUDIT_DOMAIN));
	for (size_t i = 0; ok && i < sizeof(fields) / sizeof(fields[0]); i++)
		ok = enc(md, fields[i]);
	ok = ok && EVP_DigestFinal_ex(md, d, &n) && n == sizeof(d);
	EVP_MD_CTX_free(md);
	if (!ok)
		return RA_E_INTERNAL;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}
