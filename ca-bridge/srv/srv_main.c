/*
 * srv_main.c - the ca-bridge program: the local CA (backend "local") served over CMP,
 * so the CA key can live in another process, user or host than the internet-facing ra
 * (ra with ca.backend=cmp points at it).  See docs/ca-bridge.md "The ca-bridge server".
 *
 *   ca-bridge --ca-dir DIR [--listen 127.0.0.1:8829]
 *             (--secret SRC --reference REF | --cert PEM --key PEM [--client-trusted PEM])
 *             --policy-oid OID --pds-url URL [--pds-lang en] --crl-url URL
 *             [--ca-subject "C=AT,O=...,CN=..."] [--crl-hours 24]
 *             [--advanced-ncp] [--advanced-digital-signature]
 *             [--default-class CLASS] [--refuse-cn PATTERN] [--refuse-o PATTERN]
 *             [--request-timeout 10] [--max-body 1048576] [--max-conns 256]
 *             [--max-conns-per-addr 32] [--confirm-timeout 300] [--max-pending 1000]
 *
 * SRC is env:NAME, file:PATH or pass:TEXT (pass: shows in ps; for tests only).  On start it
 * prints "ca-bridge: listening on HOST:PORT" on stdout (--listen HOST:0 picks a free port).
 * SIGTERM/SIGINT: stop accepting, cut requests still arriving, finish those with the CA,
 * close the CA, exit 0.
 */
#include "ca-bridge/srv/srv_int.h"
#include "ca-bridge/cab_int.h" /* cab_read_file */

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr,
		"usage: ca-bridge --ca-dir DIR [--listen HOST:PORT] (--secret SRC --reference REF | --cert PEM "
		"--key PEM [--client-trusted PEM]) --policy-oid OID --pds-url URL [--pds-lang LL] --crl-url URL "
		"[--ca-subject DN] [--crl-hours N] [--advanced-ncp] [--advanced-digital-signature] "
		"[--default-class CLASS] [--refuse-cn PATTERN] [--refuse-o PATTERN] [--request-timeout SECONDS] [--max-body BYTES] "
		"[--max-conns N] [--max-conns-per-addr N] [--confirm-timeout SECONDS] [--max-pending N]\n");
	return 2;
}

/* env:NAME, file:PATH, pass:TEXT -> a malloc'd secret. */
static char *read_secret(const char *src)
{
	unsigned char *data = NULL;
	size_t len = 0;
	const char *v;
	char *out;

	if (strncmp(src, "env:", 4) == 0) {
		v = getenv(src + 4);
		return v && *v ? strdup(v) : NULL;
	}
	if (strncmp(src, "pass:", 5) == 0)
		return src[5] ? strdup(src + 5) : NULL;
	if (strncmp(src, "file:", 5) != 0 || cab_read_file(src + 5, &data, &len) != 0)
		return NULL;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	out = len > 0 ? malloc(len + 1) : NULL;
	if (out != NULL) {
		memcpy(out, data, len);
		out[len] = '\0';
	}
	OPENSSL_clear_free(data, len);
	return out;
}

static X509 *load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return k;
}

/* The CA certificate, from the CA's chain (the local CA's is that one certificate). */
static X509 *ca_cert_of(struct cab *cab)
{
	struct cab_err err = {0};
	char *pem = NULL;
	BIO *mem;
	X509 *x = NULL;

	if (cab_chain_pem(cab, &pem, &err) != 0)
		return NULL;
	mem = BIO_new_mem_buf(pem, -1);
	if (mem != NULL)
		x = PEM_read_bio_X509(mem, NULL, NULL, NULL);
	BIO_free(mem);
	free(pem);
	return x;
}

static X509_STORE *load_store(const char *path)
{
	X509_STORE *st = X509_STORE_new();

	if (st != NULL && X509_STORE_load_file(st, path) == 1)
		return st;
	X509_STORE_free(st);
	return NULL;
}

/* A whole number in [lo, hi] for option name; -1 (and a message) when it is not one. */
static int number(const char *name, const char *text, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "ca-bridge: --%s must be a whole number from %ld to %ld\n", name, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

struct opts {
	const char *listen, *secret, *cert, *key, *client_trusted, *default_class;
};

/* Protection and trust, checked before the CA opens. */
static int setup_protection(struct cab_srv *s, const struct opts *o)
{
	char *secret;

	if ((o->secret != NULL) == (o->cert != NULL || o->key != NULL)) {
		fprintf(stderr,
			"ca-bridge: give either --secret and --reference (PBM) or --cert and --key (signature)\n");
		return -1;
	}
	if (o->secret != NULL) {
		secret = read_secret(o->secret);
		if (secret == NULL || s->reference == NULL) {
			fprintf(stderr, "ca-bridge: --secret %s gives no secret, or --reference is missing\n",
				strncmp(o->secret, "pass:", 5) == 0 ? "pass:..." : o->secret);
			free(secret);
			return -1;
		}
		s->secret_len = strlen(secret);
		s->secret = (unsigned char *)secret;
		return 0;
	}
	s->cert = o->cert ? load_cert(o->cert) : NULL;
	s->key = o->key ? load_key(o->key) : NULL;
	if (s->cert == NULL || s->key == NULL || X509_check_private_key(s->cert, s->key) != 1) {
		fprintf(stderr, "ca-bridge: --cert and --key must be a PEM certificate and its key\n");
		return -1;
	}
	if (o->client_trusted != NULL && (s->client_trusted = load_store(o->client_trusted)) == NULL) {
		fprintf(stderr, "ca-bridge: cannot read --client-trusted %s\n", o->client_trusted);
		return -1;
	}
	return 0;
}

static int parse(int argc, char **argv, struct cab_config *cfg, struct cab_srv *s, struct opts *o)
{
	static const struct option longs[] = {
		{"listen", 1, NULL, 'l'},
		{"ca-dir", 1, NULL, 'd'},
		{"secret", 1, NULL, 's'},
		{"reference", 1, NULL, 'r'},
		{"cert", 1, NULL, 'c'},
		{"key", 1, NULL, 'k'},
		{"client-trusted", 1, NULL, 't'},
		{"policy-oid", 1, NULL, 'p'},
		{"pds-url", 1, NULL, 'u'},
		{"pds-lang", 1, NULL, 'g'},
		{"crl-url", 1, NULL, 'C'},
		{"ca-subject", 1, NULL, 'S'},
		{"crl-hours", 1, NULL, 'H'},
		{"advanced-ncp", 0, NULL, 'N'},
		{"advanced-digital-signature", 0, NULL, 'D'},
		{"default-class", 1, NULL, 'K'},
		{"refuse-cn", 1, NULL, 'R'},
		{"refuse-o", 1, NULL, 'O'},
		{"help", 0, NULL, 'h'},
		{"request-timeout", 1, NULL, 'T'},
		{"max-body", 1, NULL, 'B'},
		{"max-conns", 1, NULL, 'M'},
		{"max-conns-per-addr", 1, NULL, 'A'},
		{"confirm-timeout", 1, NULL, 'W'},
		{"max-pending", 1, NULL, 'P'},
		{NULL, 0, NULL, 0},
	};
	int c, bad = 0;
	long v = 0;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'l':
			o->listen = optarg;
			break;
		case 'd':
			cfg->ca_dir = optarg;
			break;
		case 's':
			o->secret = optarg;
			break;
		case 'r':
			s->reference = optarg;
			break;
		case 'c':
			o->cert = optarg;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 't':
			o->client_trusted = optarg;
			break;
		case 'p':
			cfg->policy_oid = optarg;
			break;
		case 'u':
			cfg->qcpds_url = optarg;
			break;
		case 'g':
			cfg->qcpds_lang = optarg;
			break;
		case 'C':
			cfg->crl_url = optarg;
			break;
		case 'S':
			cfg->ca_subject = optarg;
			break;
		case 'H':
			cfg->crl_validity_hours = atoi(optarg);
			break;
		case 'N':
			cfg->advanced_ncp_plus = 0;
			break;
		case 'D':
			cfg->advanced_digital_signature = 1;
			break;
		case 'K':
			o->default_class = optarg;
			break;
		case 'R':
			s->refuse_cn = optarg;
			break;
		case 'O':
			s->refuse_o = optarg;
			break;
		case 'T':
			bad |= number("request-timeout", optarg, 1, 3600, &v);
			s->limits.request_timeout_s = (unsigned)v;
			break;
		case 'B':
			bad |= number("max-body", optarg, 1024, 64L << 20, &v);
			s->limits.max_body = (size_t)v;
			break;
		case 'M':
			bad |= number("max-conns", optarg, 1, 100000, &v);
			s->limits.max_conns = (int)v;
			break;
		case 'A':
			bad |= number("max-conns-per-addr", optarg, 1, 100000, &v);
			s->limits.max_conns_per_addr = (int)v;
			break;
		case 'W':
			bad |= number("confirm-timeout", optarg, 1, 86400, &v);
			s->txs.timeout_s = (unsigned)v;
			break;
		case 'P':
			bad |= number("max-pending", optarg, 0, 1000000, &v);
			s->txs.max = (int)v;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || bad)
		return -1;
	if (o->default_class != NULL && cab_class_parse(o->default_class, &s->default_class, NULL) != 0) {
		fprintf(stderr, "ca-bridge: --default-class must be qualified, advanced or seal\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cab_config cfg;
	struct cab_srv s;
	struct opts o = {"127.0.0.1:8829", NULL, NULL, NULL, NULL, NULL};
	struct cab_err err = {0};
	sigset_t sigs;
	char bound[300];
	int lfd = -1, rc = 1;

	memset(&s, 0, sizeof(s));
	cab_srv_txs_init(&s.txs, CAB_SRV_MAX_PENDING, CAB_SRV_CONFIRM_TIMEOUT_S);
	s.limits = (struct cab_srv_limits){CAB_SRV_MAX_BODY, CAB_SRV_REQUEST_TIMEOUT_S, CAB_SRV_MAX_CONNS,
					   CAB_SRV_MAX_CONNS_PER_ADDR};
	cab_config_defaults(&cfg);
	cfg.qcpds_lang = "en";
	cfg.pkcs11_module = NULL; /* the CA signs CSRs made elsewhere: no subscriber keys here */
	if (parse(argc, argv, &cfg, &s, &o) != 0)
		return usage();
	if (setup_protection(&s, &o) != 0)
		goto out;
	s.cab = cab_open(&cfg, &err);
	if (s.cab == NULL) {
		fprintf(stderr, "ca-bridge: cannot open the CA: %s%s%s\n", err.field,
			err.field[0] ? ": " : "", err.msg);
		goto out;
	}
	s.ca_cert = ca_cert_of(s.cab);
	if (s.ca_cert == NULL) {
		fprintf(stderr, "ca-bridge: cannot read the CA certificate\n");
		goto out;
	}
	if (cab_srv_listen(o.listen, &lfd, bound, sizeof(bound)) != 0) {
		fprintf(stderr, "ca-bridge: cannot listen on %s\n", o.listen);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	/* held until the loop's signal handlers are in place (cab_srv_serve unblocks them): a
	 * SIGTERM right after the "listening" line still means a clean stop */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	printf("ca-bridge: listening on %s\n", bound);
	fflush(stdout);
	cab_srv_log("info", "start", "listen=%s protection=%s", bound, s.secret ? "pbm" : "signature");
	rc = cab_srv_serve(&s, lfd) == 0 ? 0 : 1;
	lfd = -1; /* the loop's listener owns it now */
	/* transactions still waiting for certConf end with the process: their certificates go */
	cab_srv_sweep(&s, 1);
	cab_srv_log("info", "stop", "rc=%d", rc);
out:
	if (lfd >= 0)
		close(lfd);
	cab_srv_txs_destroy(&s.txs);
	X509_free(s.ca_cert);
	cab_close(s.cab);
	OPENSSL_clear_free(s.secret, s.secret_len);
	X509_free(s.cert);
	EVP_PKEY_free(s.key);
	X509_STORE_free(s.client_trusted);
	return rc;
}
