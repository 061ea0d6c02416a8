/*
 * bench_stages.c - the limits of scenario 2 (issuance) of `make bench`: each stage of issuing
 * a certificate measured alone, one after the other, in a tight loop on one thread, with the
 * real ca-bridge on its own SoftHSM2 token and CA directory, and a one-row INSERT committed
 * to PostgreSQL (synchronous_commit = on) as the cost of one database step.
 *
 *   bench_stages --n N --ca-dir DIR --token LABEL --pin PIN --db URL [--module SO]
 *                [--storage wrapped|token] [--tpin 0]
 *
 * --storage wrapped (the service's default, issue #15): keygen is the pair made as session
 * objects, wrapped under the KEK, its CSR signed by the fresh key (cab_keygen_csr_first, as
 * a cert_issue job's first attempt does); csr is a CSR signed from the blob (unwrap, sign, destroy: a retried job, `ra
 * key csr`), not a stage of a first issuance; ca_sign is cab_issue with the blob and that
 * signature, as the service asks.  token: the key is a token object, the CSR signed on the
 * token and given to cab_issue.
 *
 * Prints one JSON object with, per stage, mean and p50/p99 milliseconds: keygen (EC P-256
 * key pair on the token), csr (PKCS#10 signed on the token), ca_sign (cab_issue: the CSR
 * checked, build, sign with the CA key, store with fsync), db_commit (INSERT + COMMIT), and
 * tpin_hash: the TransportPIN hash (secret_pin_hash, scrypt) of the transport_pin job each issued
 * certificate enqueues: not a stage of issuance, but work on the same cores while it runs
 * (--tpin 0 leaves it out: the short loop run.sh repeats beside each batch, for that batch's
 * own limit).
 * Exit status 1 if any call failed.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca-bridge/cab.h"
#include "ra/base/secret.h"
#include "tests/bench/bu.h"

static void stage_json(const char *name, struct bu_samples *s, int last)
{
	double mean = bu_mean(s);

	printf("\"%s\": {\"mean_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"per_s\": %.1f}%s", name,
	       mean, bu_pct(s, 50), bu_pct(s, 99), mean > 0 ? 1000.0 / mean : 0, last ? "" : ", ");
}

int main(int argc, char **argv)
{
	long n = bu_arg_long(argc, argv, "--n", 50);
	int with_tpin = bu_arg_long(argc, argv, "--tpin", 1) != 0;
	const char *db = bu_arg(argc, argv, "--db", NULL);
	struct cab_config cfg;
	struct cab_err err = {0};
	int kek_version = 0;
	struct cab *cab;
	struct bu_samples keygen = {0}, csr = {0}, sign = {0}, commit = {0}, tpin = {0};
	struct cab_subject subj = {.country = "AT",
				   .given_name = "Anna",
				   .surname = "Gruber",
				   .serial_number = "PNOAT-4711",
				   .common_name = "Anna Gruber"};
	PGconn *pg;
	PGresult *r;
	int wrapped;

	cab_config_defaults(&cfg);
	cfg.ca_dir = bu_arg(argc, argv, "--ca-dir", NULL);
	cfg.pkcs11_module = bu_arg(argc, argv, "--module", "/usr/lib/softhsm/libsofthsm2.so");
	cfg.pkcs11_token = bu_arg(argc, argv, "--token", NULL);
	cfg.pkcs11_pin = bu_arg(argc, argv, "--pin", NULL);
	cfg.policy_oid = "1.3.6.1.4.1.99999.1.1";
	cfg.qcpds_url = "https://ra.example/pds";
	cfg.qcpds_lang = "en";
	cfg.ca_subject = "C=AT,O=RA Benchmark,CN=RA Benchmark Issuing CA";
	cfg.crl_url = "http://127.0.0.1/v1/ca/crl";
	cfg.key_storage = bu_arg(argc, argv, "--storage", "wrapped");
	wrapped = strcmp(cfg.key_storage, "wrapped") == 0;
	cfg.kek_label = "bench-kek";
	if (cfg.ca_dir == NULL || cfg.pkcs11_token == NULL || cfg.pkcs11_pin == NULL || db == NULL)
		bu_die("usage: bench_stages --n N --ca-dir DIR --token LABEL --pin PIN --db URL [--module SO]");
	cab = cab_open(&cfg, &err);
	if (cab == NULL)
		bu_die("cab_open: %s", err.msg);
	/* the KEK's version, as the service reads its current one from kek_versions */
	if (cab_wraps(cab) && cab_kek(cab, CAB_KEK_CREATE, &kek_version, &err) < 0)
		bu_die("kek: %s", err.msg);
	pg = PQconnectdb(db);
	if (PQstatus(pg) != CONNECTION_OK)
		bu_die("database: %s", PQerrorMessage(pg));
	r = PQexec(pg,
		   "SET synchronous_commit = on; "
		   "CREATE TABLE IF NOT EXISTS bench_stage_rows (id bigserial PRIMARY KEY, v text NOT NULL)");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		bu_die("database: %s", PQerrorMessage(pg));
	PQclear(r);

	for (long i = 0; i < n; i++) {
		char id[64];
		struct cab_key key = {0};
		struct cab_cert cert = {0};
		struct cab_request req = {0};
		unsigned char *der = NULL;
		size_t len = 0;
		const char *p[1] = {id};
		double t;

		snprintf(id, sizeof(id), "stage-%d-%ld", (int)getpid(), i);
		struct cab_wrapped w;

		/* as the service issues (a job's first attempt): wrapped, the key signs its CSR at
		 * keygen (cab_keygen_csr_first) and the CA gets the blob with that signature; token,
		 * the CSR is signed on the token */
		t = bu_now_ms();
		if ((wrapped ? cab_keygen_csr_first(cab, id, CAB_ALG_EC_P256, &subj, kek_version, &key, &err)
			     : cab_keygen(cab, id, CAB_ALG_EC_P256, &key, &err)) != 0)
			bu_die("keygen: %s", err.msg);
		bu_add(&keygen, bu_now_ms() - t);
		if (wrapped && key.first_sig == NULL)
			bu_die("keygen: no CSR signature from the fresh key");
		w = (struct cab_wrapped){key.blob, key.blob_len, key.kek_label, key.kek_version};
		/* wrapped: the CSR from the stored blob, what a retried job and `ra key csr` do (not a
		 * stage of a first issuance) */
		t = bu_now_ms();
		if ((wrapped ? cab_csr_wrapped(cab, &w, &subj, &der, &len, &err)
			     : cab_csr(cab, id, &subj, &der, &len, &err)) != 0)
			bu_die("csr: %s", err.msg);
		bu_add(&csr, bu_now_ms() - t);
		req.request_id = id;
		req.cls = CAB_CLASS_QUALIFIED;
		req.subject = subj;
		if (wrapped) {
			req.key_id = id;
			req.wrapped = &w;
			req.first_sig = key.first_sig;
			req.first_sig_len = key.first_sig_len;
		} else {
			req.csr_der = der;
			req.csr_len = len;
		}
		t = bu_now_ms();
		if (cab_issue(cab, &req, &cert, &err) != 0)
			bu_die("issue: %s", err.msg);
		bu_add(&sign, bu_now_ms() - t);
		t = bu_now_ms();
		r = PQexecParams(pg, "INSERT INTO bench_stage_rows (v) VALUES ($1)", 1, NULL, p, NULL, NULL,
				 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			bu_die("insert: %s", PQerrorMessage(pg));
		PQclear(r);
		bu_add(&commit, bu_now_ms() - t);
		if (with_tpin) {
			char pin[16], hash[256];

			t = bu_now_ms();
			if (secret_pin_generate(pin, sizeof(pin), 8) != 0 ||
			    secret_pin_hash(pin, hash, sizeof(hash)) != 0)
				bu_die("TransportPIN hash failed");
			bu_add(&tpin, bu_now_ms() - t);
		}
		if (strcmp(cert.spki_sha256_hex, key.sha256_hex) != 0)
			bu_die("certificate %s does not carry the key made for it", id);
		free(der);
		cab_key_free(&key);
		cab_cert_free(&cert);
	}
	printf("{\"n\": %ld, \"storage\": \"%s\", ", n, cfg.key_storage);
	stage_json("keygen", &keygen, 0);
	stage_json("csr", &csr, 0);
	stage_json("ca_sign", &sign, 0);
	stage_json("db_commit", &commit, !with_tpin);
	if (with_tpin)
		stage_json("tpin_hash", &tpin, 1);
	printf("}\n");
	PQfinish(pg);
	cab_close(cab);
	bu_free(&keygen);
	bu_free(&csr);
	bu_free(&sign);
	bu_free(&commit);
	bu_free(&tpin);
	return 0;
}
