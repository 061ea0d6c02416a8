/*
 * bench_keys.c - scenario 5 of `make bench` (issue #15): subscriber keys at scale.  Key
 * generation (+ wrap) and CSR signing with a stored key, measured on a fresh token and again
 * after N keys were stored, through the product's own path (cab_keygen, then the blob stored
 * in PostgreSQL, as cert_issue does; token storage: the key stays a token object), and the
 * same on T threads over the session pool (cab_stats: sessions used).
 *
 *   bench_keys --storage wrapped|token --n N --k K --threads T --sessions S
 *              --ca-dir DIR --token LABEL --pin PIN --db URL [--module SO]
 *
 * Prints one JSON object: at_0 and at_n, each {keygen, csr} with mean/p50/p99 ms and per_s;
 * preload {n, seconds, per_s}; parallel {threads, sessions, sessions_max_used, per_s}.
 * Exit status 1 if any call failed.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca-bridge/cab.h"
#include "tests/bench/bu.h"

static struct cab *cab;
static int wrapped;
static const char *db_url;
static const struct cab_subject subj = {.country = "AT",
					.given_name = "Anna",
					.surname = "Gruber",
					.serial_number = "PNOAT-4711",
					.common_name = "Anna Gruber"};

static PGconn *db(void)
{
	PGconn *c = PQconnectdb(db_url);

	if (PQstatus(c) != CONNECTION_OK)
		bu_die("database: %s", PQerrorMessage(c));
	return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		bu_die("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* One key as the product makes it: cab_keygen, and under wrapped storage its blob stored. */
static void make_key(PGconn *c, const char *id)
{
	struct cab_key k = {0};
	struct cab_err err = {0};

	if (cab_keygen(cab, id, CAB_ALG_EC_P256, &k, &err) != 0)
		bu_die("keygen %s: %s", id, err.msg);
	if (wrapped) {
		char ver[16];
		const char *p[4] = {id, (const char *)k.blob, ver, k.sha256_hex};
		int lens[4] = {0, (int)k.blob_len, 0, 0}, fmts[4] = {0, 1, 0, 0};
		PGresult *r;

		snprintf(ver, sizeof(ver), "%d", k.kek_version);
		r = PQexecParams(
			c, "INSERT INTO bench_keys (id, blob, kek_version, fp) VALUES ($1, $2, $3::int, $4)",
			4, NULL, p, lens, fmts, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			bu_die("insert: %s", PQerrorMessage(c));
		PQclear(r);
	}
	cab_key_free(&k);
}

/* A CSR signed with the stored key id (the blob read back from the database). */
static void sign_with(PGconn *c, const char *id)
{
	struct cab_err err = {0};
	unsigned char *der = NULL;
	size_t len = 0;
	int rc;

	if (wrapped) {
		const char *p[1] = {id};
		PGresult *r = PQexecParams(c, "SELECT blob, kek_version::text FROM bench_keys WHERE id = $1",
					   1, NULL, p, NULL, NULL, 1);
		struct cab_wrapped w;

		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
			bu_die("no stored key %s", id);
		w.blob = (const unsigned char *)PQgetvalue(r, 0, 0);
		w.len = (size_t)PQgetlength(r, 0, 0);
		w.kek_label = "bench-kek";
		w.kek_version = atoi(PQgetvalue(r, 0, 1));
		rc = cab_csr_wrapped(cab, &w, &subj, &der, &len, &err);
		PQclear(r);
	} else {
		rc = cab_csr(cab, id, &subj, &der, &len, &err);
	}
	if (rc != 0)
		bu_die("csr %s: %s", id, err.msg);
	free(der);
}

static void stage_json(const char *name, struct bu_samples *s, const char *sep)
{
	double mean = bu_mean(s);

	printf("\"%s\": {\"mean_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"per_s\": %.1f}%s", name,
	       mean, bu_pct(s, 50), bu_pct(s, 99), mean > 0 ? 1000.0 / mean : 0, sep);
}

/* K keygens (ids tag-i) then K CSRs with keys picked across every stored key. */
static void measure(PGconn *c, const char *tag, long k, long stored, const char *sep)
{
	struct bu_samples kg = {0}, cs = {0};

	for (long i = 0; i < k; i++) {
		char id[64];
		double t = bu_now_ms();

		snprintf(id, sizeof(id), "%s-%ld", tag, i);
		make_key(c, id);
		bu_add(&kg, bu_now_ms() - t);
	}
	for (long i = 0; i < k; i++) {
		char id[64];
		double t;
		long j = stored > 0 ? (i * 7919) % stored : -1;

		if (j >= 0)
			snprintf(id, sizeof(id), "p-%ld", j);
		else
			snprintf(id, sizeof(id), "%s-%ld", tag, i);
		t = bu_now_ms();
		sign_with(c, id);
		bu_add(&cs, bu_now_ms() - t);
	}
	printf("\"%s\": {", tag);
	stage_json("keygen", &kg, ", ");
	stage_json("csr", &cs, "}");
	printf("%s", sep);
	bu_free(&kg);
	bu_free(&cs);
}

struct worker {
	long from, to;
	const char *prefix;
};

static void *preload_worker(void *arg)
{
	struct worker *w = arg;
	PGconn *c = db();

	exec_ok(c, "BEGIN");
	for (long i = w->from; i < w->to; i++) {
		char id[64];

		snprintf(id, sizeof(id), "%s-%ld", w->prefix, i);
		make_key(c, id);
		if ((i - w->from) % 200 == 199) {
			exec_ok(c, "COMMIT");
			exec_ok(c, "BEGIN");
		}
	}
	exec_ok(c, "COMMIT");
	PQfinish(c);
	return NULL;
}

/* n keys on t threads; returns the seconds it took. */
static double parallel(const char *prefix, long n, int t)
{
	pthread_t th[64];
	struct worker w[64];
	double t0 = bu_now_ms();

	for (int i = 0; i < t; i++) {
		w[i] = (struct worker){n * i / t, n * (i + 1) / t, prefix};
		pthread_create(&th[i], NULL, preload_worker, &w[i]);
	}
	for (int i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	return (bu_now_ms() - t0) / 1000.0;
}

int main(int argc, char **argv)
{
	const char *storage = bu_arg(argc, argv, "--storage", "wrapped");
	long n = bu_arg_long(argc, argv, "--n", 1000), k = bu_arg_long(argc, argv, "--k", 100);
	int threads = (int)bu_arg_long(argc, argv, "--threads", 4);
	struct cab_config cfg;
	struct cab_err err = {0};
	struct cab_stats st;
	PGconn *c;
	double secs, psecs;
	int v;

	db_url = bu_arg(argc, argv, "--db", NULL);
	cab_config_defaults(&cfg);
	cfg.ca_dir = bu_arg(argc, argv, "--ca-dir", NULL);
	cfg.pkcs11_module = bu_arg(argc, argv, "--module", "/usr/lib/softhsm/libsofthsm2.so");
	cfg.pkcs11_token = bu_arg(argc, argv, "--token", NULL);
	cfg.pkcs11_pin = bu_arg(argc, argv, "--pin", NULL);
	cfg.pkcs11_sessions = (int)bu_arg_long(argc, argv, "--sessions", 4);
	cfg.key_storage = storage;
	cfg.kek_label = "bench-kek";
	cfg.policy_oid = "1.3.6.1.4.1.99999.1.1";
	cfg.qcpds_url = "https://ra.example/pds";
	cfg.qcpds_lang = "en";
	cfg.ca_subject = "C=AT,O=RA Benchmark,CN=RA Benchmark Issuing CA";
	cfg.crl_url = "http://127.0.0.1/v1/ca/crl";
	if (cfg.ca_dir == NULL || cfg.pkcs11_token == NULL || cfg.pkcs11_pin == NULL || db_url == NULL ||
	    threads < 1 || threads > 64)
		bu_die("usage: bench_keys --storage wrapped|token --n N --k K --threads T --sessions S --ca-dir DIR"
		       " --token LABEL --pin PIN --db URL [--module SO]");
	cab = cab_open(&cfg, &err);
	if (cab == NULL)
		bu_die("cab_open: %s", err.msg);
	wrapped = cab_wraps(cab);
	if (wrapped && cab_kek(cab, CAB_KEK_CREATE, &v, &err) < 0)
		bu_die("kek: %s", err.msg);
	c = db();
	exec_ok(c,
		"DROP TABLE IF EXISTS bench_keys; CREATE TABLE bench_keys (id text PRIMARY KEY, blob bytea NOT NULL,"
		" kek_version int NOT NULL, fp text NOT NULL UNIQUE)");
	printf("{\"storage\": \"%s\", \"n\": %ld, \"k\": %ld, ", storage, n, k);
	measure(c, "at_0", k, 0, ", ");
	fflush(stdout);
	secs = parallel("p", n, threads); /* the preload: the product's path, on the pool */
	printf("\"preload\": {\"n\": %ld, \"threads\": %d, \"seconds\": %.2f, \"per_s\": %.1f}, ", n, threads,
	       secs, secs > 0 ? n / secs : 0);
	measure(c, "at_n", k, n, ", ");
	psecs = parallel("par", k * threads, threads);
	cab_stats(cab, &st);
	printf("\"parallel\": {\"keys\": %ld, \"threads\": %d, \"sessions\": %d, \"sessions_max_used\": %d,"
	       " \"per_s\": %.1f}}\n",
	       k * threads, threads, st.sessions, st.sessions_max_used, psecs > 0 ? k * threads / psecs : 0);
	PQfinish(c);
	cab_close(cab);
	return 0;
}
