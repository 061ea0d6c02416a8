/*
 * bench_revoke.c - scenario 3 of `make bench`: revocation to status.  For K issued
 * certificates, one after the other: revoke it, then fetch GET /v1/ca/crl until the
 * certificate's serial is listed; the latency is from the start of the revocation request
 * to the first CRL that lists it.
 *
 *   bench_revoke --db URL --url BASE --k K --via api|sql [--token BEARER]
 *
 * --via api: POST BASE/v1/admin/certs/{id}/revoke {"reason", "comment"} with the
 * bearer token (the support desk's endpoint, issue #7).  --via sql: the service's own
 * revocation without HTTP: the certificate machine decides (wf_step) and cert_revoke_plan
 * (ra/flows/cert/cert.h) writes the state change, audit record and ca_revoke job through the
 * outbox in one transaction (ob_exec), as the admin route does.  Both end in the same ca_revoke
 * job and the same CRL.
 *
 * Prints one JSON object: k, via, p50_ms, p99_ms, max_ms, crl_bytes, crl_fetch_ms.  Exit
 * status 1 if a revocation failed or a serial did not appear within 30 s.
 */
#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ra/db/outbox.h"
#include "ra/flows/cert/cert.h"
#include "workflows/wf_cert.h"
#include "tests/bench/bu.h"

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
	struct buf *b = ud;
	size_t n = sz * nm;

	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		unsigned char *np = realloc(b->p, cap);
		if (np == NULL)
			return 0;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return n;
}

/* The DER INTEGER (tag, length, content) of a serial given in hex. */
static size_t serial_der(const char *hex, unsigned char *out, size_t cap)
{
	size_t hl = strlen(hex), nb = (hl + 1) / 2, o = 2, i = 0;
	unsigned char v[40];

	if (nb > sizeof(v) || nb + 3 > cap)
		bu_die("serial too long: %s", hex);
	for (size_t k = 0; k < nb; k++) {
		char two[3] = {0};
		two[0] = (hl % 2 && k == 0) ? '0' : hex[i++];
		two[1] = hex[i++];
		v[k] = (unsigned char)strtoul(two, NULL, 16);
	}
	out[0] = 0x02;
	if (v[0] & 0x80)
		out[o++] = 0x00;
	memcpy(out + o, v, nb);
	out[1] = (unsigned char)(o - 2 + nb);
	return o + nb;
}

static int crl_lists(CURL *c, struct buf *b, const unsigned char *pat, size_t plen)
{
	long status = 0;

	b->len = 0;
	if (curl_easy_perform(c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return -1;
	return memmem(b->p, b->len, pat, plen) != NULL;
}

static int revoke_api(const char *base, const char *token, const char *id)
{
	char url[512], auth[300];
	const char *body = "{\"reason\": \"keyCompromise\", \"comment\": \"make bench\"}";
	struct curl_slist *h = NULL;
	struct buf ans = {0};
	long status = 0;
	CURL *c = curl_easy_init();
	CURLcode rc;

	snprintf(url, sizeof(url), "%s/v1/admin/certs/%s/revoke", base, id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status / 100 != 2)
		fprintf(stderr, "bench_revoke: %s: %s, status %ld: %.*s\n", id, curl_easy_strerror(rc),
			status, (int)ans.len, ans.p ? (char *)ans.p : "");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(ans.p);
	return rc == CURLE_OK && status / 100 == 2 ? 0 : -1;
}

static int revoke_sql(PGconn *pg, const char *id)
{
	const char *p[1] = {id};
	PGresult *row = PQexecParams(pg, "SELECT state, serial FROM certificates WHERE id = $1", 1, NULL, p,
				     NULL, NULL, 0);
	struct wf_facts f = {.revoke_reason = wf_reason_parse("keyCompromise")};
	struct outbox ob = {0};
	struct wf_result r;
	struct ra_err err = {0};
	PGresult *tx;
	int from, rc = -1;

	if (PQresultStatus(row) != PGRES_TUPLES_OK || PQntuples(row) != 1) {
		fprintf(stderr, "bench_revoke: %s: no such certificate\n", id);
		goto out;
	}
	from = wf_state_parse(&wf_cert, PQgetvalue(row, 0, 0));
	if (from < 0 || wf_step(&wf_cert, from, WF_CERT_REVOKE, &f, &r) != 0 ||
	    cert_revoke_plan(&ob, id, from, &r, "keyCompromise", "bench", "make bench",
			     PQgetvalue(row, 0, 1)) != 0) {
		fprintf(stderr, "bench_revoke: %s: the machine refuses a revocation from %s\n", id,
			PQgetvalue(row, 0, 0));
		ob_clear(&ob);
		goto out;
	}
	PQclear(PQexec(pg, "BEGIN"));
	rc = ob_exec(&ob, pg, NULL, &err);
	tx = PQexec(pg, rc == 0 ? "COMMIT" : "ROLLBACK");
	if (rc != 0 || PQresultStatus(tx) != PGRES_COMMAND_OK) {
		fprintf(stderr, "bench_revoke: %s: %s%s\n", id, err.msg, PQerrorMessage(pg));
		rc = -1;
	}
	PQclear(tx);
out:
	PQclear(row);
	return rc;
}

int main(int argc, char **argv)
{
	const char *db = bu_arg(argc, argv, "--db", NULL), *base = bu_arg(argc, argv, "--url", NULL);
	const char *via = bu_arg(argc, argv, "--via", "sql"), *token = bu_arg(argc, argv, "--token", NULL);
	long k = bu_arg_long(argc, argv, "--k", 20);
	char crl_url[300], kbuf[24];
	const char *kp[1] = {kbuf};
	struct bu_samples lat = {0};
	struct buf crl = {0};
	double fetch_ms = 0;
	PGconn *pg;
	PGresult *certs;
	CURL *c;

	if (db == NULL || base == NULL || (strcmp(via, "api") != 0 && strcmp(via, "sql") != 0))
		bu_die("usage: bench_revoke --db URL --url BASE --k K --via api|sql [--token BEARER]");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pg = PQconnectdb(db);
	if (PQstatus(pg) != CONNECTION_OK)
		bu_die("database: %s", PQerrorMessage(pg));
	snprintf(kbuf, sizeof(kbuf), "%ld", k);
	certs = PQexecParams(
		pg, "SELECT id, serial FROM certificates WHERE state = 'issued' ORDER BY id LIMIT $1", 1,
		NULL, kp, NULL, NULL, 0);
	if (PQresultStatus(certs) != PGRES_TUPLES_OK || PQntuples(certs) != k)
		bu_die("need %ld issued certificates, have %d", k, PQntuples(certs));
	snprintf(crl_url, sizeof(crl_url), "%s/v1/ca/crl", base);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, crl_url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &crl);
	for (long i = 0; i < k; i++) {
		const char *id = PQgetvalue(certs, (int)i, 0), *serial = PQgetvalue(certs, (int)i, 1);
		unsigned char pat[48];
		size_t plen = serial_der(serial, pat, sizeof(pat));
		double t0 = bu_now_ms();
		int rc = strcmp(via, "api") == 0 ? revoke_api(base, token, id) : revoke_sql(pg, id), seen = 0;

		if (rc != 0)
			bu_die("revocation of %s failed", id);
		while (bu_now_ms() - t0 < 30000) {
			seen = crl_lists(c, &crl, pat, plen);
			if (seen < 0)
				bu_die("GET %s failed", crl_url);
			if (seen)
				break;
			usleep(2000);
		}
		if (!seen)
			bu_die("serial %s of %s not on the CRL after 30 s", serial, id);
		bu_add(&lat, bu_now_ms() - t0);
	}
	{
		/* one more fetch of the (now cached) CRL: its size and transfer time */
		double t = bu_now_ms();
		if (crl_lists(c, &crl, (const unsigned char *)"\x30", 1) != 1)
			bu_die("GET %s failed", crl_url);
		fetch_ms = bu_now_ms() - t;
	}
	printf("{\"k\": %ld, \"via\": \"%s\", \"p50_ms\": %.1f, \"p99_ms\": %.1f, \"max_ms\": %.1f, \"crl_bytes\": %zu, "
	       "\"crl_fetch_ms\": %.1f}\n",
	       k, via, bu_pct(&lat, 50), bu_pct(&lat, 99), bu_pct(&lat, 100), crl.len, fetch_ms);
	PQclear(certs);
	PQfinish(pg);
	curl_easy_cleanup(c);
	free(crl.p);
	bu_free(&lat);
	curl_global_cleanup();
	return 0;
}
