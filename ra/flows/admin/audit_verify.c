/*
 * audit_verify.c - `ra audit verify`: walks the audit chain in seq order in one read-only
 * snapshot, recomputes every hash with OpenSSL and reports the first record that does not
 * fit, then counts the committed records still waiting for the sequencer.  Blocking libpq with a cursor (batches of FETCH_N rows): a CLI command, never the loop.
 */
#include "ra/flows/admin/audit_verify.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ra/db/audit_tree.h"
#include "ra/db/dbsync.h"

#define FETCH_N "1000"

/* `at` leaves the database as integer microseconds and is formatted here, so the check
 * does not lean on the database's own formatting (the trigger uses to_char). */
/* The chain with each record's content (migrations/0018); a chain row whose record is gone
 * comes with NULL content and the record id it names. */
static const char *sql_cursor =
	"DECLARE audit_walk NO SCROLL CURSOR FOR"
	" SELECT c.seq::text, (extract(epoch FROM r.at) * 1000000)::bigint::text, r.actor, r.action,"
	"  r.object_type, r.object_id, r.reason, r.details::text, c.prev_hash, c.hash, c.rec_id::text,"
	"  r.id IS NULL"
	" FROM audit_chain c LEFT JOIN audit_record r ON r.id = c.rec_id ORDER BY c.seq";

/* Committed records the sequencer has not chained yet, counted without its horizon (a full
 * scan: a record left behind by a wrong horizon shows here as old). */
static const char *sql_pending =
	"SELECT count(*)::text, coalesce(extract(epoch FROM clock_timestamp() - min(r.at)), 0)::text"
	" FROM audit_record r WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.rec_id = r.id)";

static int exec(PGconn *c, const char *sql, PGresult **out, struct ra_err *err)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		ra_err_set(err, RA_E_UNAVAILABLE, "", "%s", PQresultErrorMessage(r));
		PQclear(r);
		return RA_E_UNAVAILABLE;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static int at_text(const char *usec, char *buf, size_t cap)
{
	long long us = strtoll(usec, NULL, 10);
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	size_t n;

	if (us < 0 || gmtime_r(&secs, &tm) == NULL)
		return -1;
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return -1;
	snprintf(buf + n, cap - n, ".%06lldZ", us % 1000000);
	return 0;
}

/* Checks one row against its predecessor; fills rep and returns 1 when it is broken. */
static int check_row(const PGresult *res, int i, struct audit_report *rep)
{
	char at[64], hash[65];
	const char *stored = db_val(res, i, 9);
	struct audit_row row = {
		.seq = db_val(res, i, 0),
		.at = at,
		.actor = db_val(res, i, 2),
		.action = db_val(res, i, 3),
		.object_type = db_val(res, i, 4),
		.object_id = db_val(res, i, 5),
		.reason = db_val(res, i, 6),
		.details = db_val(res, i, 7),
		.prev_hash = db_val(res, i, 8),
	};
	long long seq = strtoll(row.seq, NULL, 10), want = rep->head_seq + 1;

	if (seq != want) {
		rep->bad_seq = want;
		snprintf(rep->why, sizeof(rep->why), "record %lld is missing (the next one is %lld)", want,
			 seq);
		return 1;
	}
	rep->bad_seq = seq;
	if (strcmp(PQgetvalue(res, i, 11), "t") == 0) {
		snprintf(rep->why, sizeof(rep->why), "the record's content is missing (audit_record id %s)",
			 PQgetvalue(res, i, 10));
		return 1;
	}
	if ((row.prev_hash == NULL) != (seq == 1) ||
	    (row.prev_hash && strcmp(row.prev_hash, rep->head_hash) != 0)) {
		snprintf(rep->why, sizeof(rep->why), "prev_hash does not match the hash of record %lld",
			 seq - 1);
		return 1;
	}
	if (at_text(db_val(res, i, 1), at, sizeof(at)) != 0 || audit_hash(&row, hash) != 0 ||
	    stored == NULL || strcmp(hash, stored) != 0) {
		snprintf(rep->why, sizeof(rep->why),
			 "hash does not match the record's content (stored %.16s..., computed %.16s...)",
			 stored ? stored : "NULL", hash);
		return 1;
	}
	rep->bad_seq = 0;
	rep->count++;
	rep->head_seq = seq;
	snprintf(rep->head_hash, sizeof(rep->head_hash), "%s", stored);
	return 0;
}

/* The signed checkpoints (migrations/0013), in tree size order, with their keys. */
static const char *sql_checkpoints =
	"SELECT k.tree_size::text, k.root_hash, audit_checkpoint_note(k.tree_size, k.root_hash, k.at), k.signature,"
	" k.key_sha256, a.public_key FROM audit_checkpoint k LEFT JOIN audit_key a ON a.key_sha256 = k.key_sha256"
	" ORDER BY k.tree_size";

/* The checkpoint's signature over its note with its key, and the key's fingerprint. */
static int sig_ok(const char *note, const char *b64, const char *key_sha, const char *pem)
{
	BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	EVP_PKEY *pub = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL, fp[32], sig[1024];
	char fph[65];
	int dl = pub ? i2d_PUBKEY(pub, &der) : -1, sl = -1, ok = 0;
	size_t bl = strlen(b64);

	if (dl > 0 && EVP_Digest(der, (size_t)dl, fp, NULL, EVP_sha256(), NULL) == 1) {
		at_to_hex(fp, fph);
		ok = CRYPTO_memcmp(fph, key_sha, 64) == 0 && strlen(key_sha) == 64;
	}
	if (ok && bl > 0 && bl <= 4 * sizeof(sig) / 3 && bl % 4 == 0) {
		sl = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)bl);
		for (size_t i = bl; sl > 0 && i > 0 && b64[i - 1] == '='; i--)
			sl--; /* EVP_DecodeBlock counts the padding as zero bytes */
	}
	ok = ok && sl > 0 && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	     EVP_DigestVerify(md, sig, (size_t)sl, (const unsigned char *)note, strlen(note)) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	BIO_free(bio);
	return ok;
}

struct walk {
	PGresult *ck; /* checkpoints */
	int nck, next;
	struct at_peaks peaks;
};

/* After record seq: the checkpoint of tree size seq, if any, must have this tree head and
 * a valid signature.  1 when broken (rep says why). */
static int check_checkpoint(struct walk *w, struct audit_report *rep)
{
	unsigned char root[AT_HASH];
	char rh[2 * AT_HASH + 1];
	const PGresult *r = w->ck;
	int i = w->next;
	long long size;

	if (i >= w->nck || (size = strtoll(PQgetvalue(r, i, 0), NULL, 10)) != rep->head_seq)
		return 0;
	w->next++;
	rep->bad_seq = size;
	if (at_peaks_root(&w->peaks, root) != 0) {
		snprintf(rep->why, sizeof(rep->why),
			 "checkpoint of tree size %lld: cannot compute the tree head", size);
		return 1;
	}
	at_to_hex(root, rh);
	if (strcmp(rh, PQgetvalue(r, i, 1)) != 0) {
		snprintf(rep->why, sizeof(rep->why),
			 "checkpoint of tree size %lld: its tree head %.16s... is not the chain's %.16s...",
			 size, PQgetvalue(r, i, 1), rh);
		return 1;
	}
	if (!sig_ok(PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), db_val(r, i, 5))) {
		snprintf(
			rep->why, sizeof(rep->why),
			"checkpoint of tree size %lld: the signature does not verify with audit key %.16s...",
			size, PQgetvalue(r, i, 4));
		return 1;
	}
	rep->bad_seq = 0;
	rep->checkpoints++;
	return 0;
}

static int walk(PGconn *c, struct walk *w, struct audit_report *rep, struct ra_err *err)
{
	PGresult *r = NULL;
	int rc, n;

	do {
		if ((rc = exec(c, "FETCH " FETCH_N " FROM audit_walk", &r, err)) != 0)
			return rc;
		n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			unsigned char raw[AT_HASH], leaf[AT_HASH];
			int bad = check_row(r, i, rep);
			if (!bad) {
				bad = at_from_hex(rep->head_hash, raw) != 0 || at_leaf_hash(raw, leaf) != 0;
				if (!bad)
					at_peaks_add(&w->peaks, leaf);
				bad = bad || check_checkpoint(w, rep);
			}
			if (bad) {
				PQclear(r);
				return ra_err_set(err, RA_E_RULE, "", "audit chain broken at seq %lld: %s",
						  rep->bad_seq, rep->why);
			}
		}
		PQclear(r);
	} while (n > 0);
	/* A checkpoint past the head: records it covered are gone (a cut-off tail). */
	if (w->next < w->nck) {
		rep->bad_seq = strtoll(PQgetvalue(w->ck, w->next, 0), NULL, 10);
		snprintf(rep->why, sizeof(rep->why),
			 "checkpoint of tree size %lld is beyond the chain's head %lld: records were removed",
			 rep->bad_seq, rep->head_seq);
		return ra_err_set(err, RA_E_RULE, "", "audit chain broken: %s", rep->why);
	}
	return 0;
}

int audit_verify(const char *conninfo, struct audit_report *rep, struct ra_err *err)
{
	PGconn *c = db_connect_sync(conninfo, 0); /* a long chain may take long: no statement limit */
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (PQstatus(c) != CONNECTION_OK) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "cannot connect to the database: %s",
				PQerrorMessage(c));
		goto out;
	}
	/* The hash is over UTF-8 bytes, as the trigger's convert_to(..., 'UTF8'). */
	if (PQsetClientEncoding(c, "UTF8") != 0) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "cannot set client encoding UTF8");
		goto out;
	}
	/* One snapshot for the whole walk: appends during it neither break nor extend it. */
	if ((rc = exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, err)) != 0 ||
	    (rc = exec(c, sql_cursor, NULL, err)) != 0)
		goto out;
	{
		struct walk *w = calloc(1, sizeof(*w));
		if (w == NULL) {
			rc = ra_err_set(err, RA_E_NOMEM, "", "out of memory");
			goto out;
		}
		rc = exec(c, sql_checkpoints, &w->ck, err);
		if (rc == 0) {
			w->nck = PQntuples(w->ck);
			rc = walk(c, w, rep, err);
		}
		PQclear(w->ck);
		free(w);
	}
	if (rc == 0 || rc == RA_E_RULE) {
		PGresult *r = NULL;
		struct ra_err e2 = {0};
		if (exec(c, sql_pending, &r, &e2) == 0) {
			rep->pending = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			rep->pending_oldest_s = strtod(PQgetvalue(r, 0, 1), NULL);
			PQclear(r);
		} else if (rc == 0) {
			*err = e2;
			rc = e2.code;
		}
	}
	PQclear(PQexec(c, "ROLLBACK"));
out:
	PQfinish(c);
	return rc;
}

int audit_cmd(struct config *cfg, int argc, char **argv)
{
	struct audit_report rep;
	struct ra_err err = {0};
	int rc;

	if (argc != 1 || strcmp(argv[0], "verify") != 0) {
		fputs("usage: ra audit verify\n", stderr);
		return 2;
	}
	rc = audit_verify(cfg_str(cfg, "database_url"), &rep, &err);
	if (rc == 0) {
		printf("audit log OK: %lld records", rep.count);
		if (rep.count > 0)
			printf(", head seq %lld hash %s", rep.head_seq, rep.head_hash);
		printf("; %lld pending", rep.pending);
		if (rep.pending > 0)
			printf(" (oldest %.3f s)", rep.pending_oldest_s);
		printf("; %lld signed checkpoint%s verified", rep.checkpoints,
		       rep.checkpoints == 1 ? "" : "s");
		printf("\n");
		return 0;
	}
	if (rc == RA_E_RULE) {
		printf("audit log BROKEN at seq %lld: %s (%lld records before it are intact; %lld pending)\n",
		       rep.bad_seq, rep.why, rep.count, rep.pending);
		return 1;
	}
	fprintf(stderr, "ra audit verify: %s\n", err.msg);
	return 2;
}
