/*
 * fuzz_cmp_srv.c - libFuzzer target: ca-bridge's CMP server (ca-bridge/srv/srv_cmp.c and its
 * confirmation store srv_tx.c) with the local CA behind it, as the HTTP front calls it
 * (cab_srv_cmp: one DER request in, one DER answer out).  Random bytes never get past the
 * PBM protection, so the harness protects what it feeds with the server's own secret, and
 * the handlers (P10CR subject and profile, issuance, RR, certConf against the store, error,
 * genm) see the mutated content:
 *
 *   'M' + up to 4 CMP messages (DER, back to back): one transaction; each message gets the
 *         first one's transactionID and fresh PBM protection (OSSL_CMP_MSG_update_
 *         transactionID re-protects with the client context's secret), then goes to
 *         cab_srv_cmp.  An answer must parse as a CMP message.
 *   'S' + flags + CSR (DER): a whole session by OpenSSL's own CMP client in process (its
 *         transfer callback calls cab_srv_cmp): P10CR, then certConf and pkiConf unless
 *         implicit confirmation (flags bit 0); bit 1 sends a certProfile (bits 4-6 pick
 *         it), bit 2 rejects the certificate in certConf.
 *
 * The transactionID of a session is a hash of the input, so a repeated input repeats the
 * CA's request id (no new certificate).  After each input the store is emptied without
 * revoking, so every input starts alike.  The CA lives in a temp dir, removed at exit.
 */
#include "ca-bridge/cab_int.h"
#include "ca-bridge/cmp/cmp_asn.h"
#include "ca-bridge/srv/srv_int.h"

#include <ftw.h>
#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz-cmp-secret"
#define REFERENCE "ca-bridge"

static struct cab_srv srv;
static char dir[512];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void at_exit(void)
{
	struct cab_srv_tx *tx;

	while ((tx = cab_srv_txs_take_expired(&srv.txs, 1)) != NULL)
		cab_srv_tx_free(tx);
	cab_srv_txs_destroy(&srv.txs);
	X509_free(srv.ca_cert);
	cab_close(srv.cab);
	free(srv.secret);
	if (dir[0] != '\0')
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct cab_config cfg;
	struct cab_err err = {0};
	char ca_dir[600];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/ra-fuzz-cmp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_cmp_srv: mkdtemp");
		exit(1);
	}
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", dir);
	cab_config_defaults(&cfg);
	cfg.ca_dir = ca_dir;
	cfg.pkcs11_module = NULL; /* as the ca-bridge program: the CA signs CSRs made elsewhere */
	cfg.policy_oid = "1.3.6.1.4.1.99999.1.1";
	cfg.qcpds_url = "https://pki.example.test/pds_en.pdf";
	cfg.qcpds_lang = "en";
	cfg.crl_url = "http://pki.example.test/crl";
	cfg.ca_subject = "C=AT,O=Fuzz Trust Service,CN=Fuzz CMP CA";
	memset(&srv, 0, sizeof(srv));
	cab_srv_txs_init(&srv.txs, 4, 300);
	srv.cab = cab_open(&cfg, &err);
	srv.ca_cert = srv.cab ? ca_cert_of(srv.cab) : NULL;
	if (srv.ca_cert == NULL) {
		fprintf(stderr, "fuzz_cmp_srv: cannot open the CA: %s\n", err.msg);
		exit(1);
	}
	srv.secret = (unsigned char *)strdup(SECRET);
	srv.secret_len = strlen(SECRET);
	srv.reference = REFERENCE;
	srv.default_class = CAB_CLASS_QUALIFIED;
	cab_srv_log_quiet = getenv("FUZZ_CMP_LOG") == NULL; /* FUZZ_CMP_LOG=1: see what the server did */
	atexit(at_exit);
	return 0;
}

/* A client context protecting with the server's secret (PBM). */
static OSSL_CMP_CTX *client(void)
{
	OSSL_CMP_CTX *c = OSSL_CMP_CTX_new(NULL, NULL);

	if (c == NULL ||
	    !OSSL_CMP_CTX_set1_secretValue(c, (const unsigned char *)SECRET, (int)strlen(SECRET)) ||
	    !OSSL_CMP_CTX_set1_referenceValue(c, (const unsigned char *)REFERENCE, (int)strlen(REFERENCE))) {
		OSSL_CMP_CTX_free(c);
		return NULL;
	}
	OSSL_CMP_CTX_set_log_verbosity(c, OSSL_CMP_LOG_EMERG);
	return c;
}

/* One request through the server; its answer (NULL when cab_srv_cmp refused the bytes). */
static OSSL_CMP_MSG *serve(const OSSL_CMP_MSG *req)
{
	unsigned char *der = NULL, *rsp = NULL;
	const unsigned char *p;
	size_t rlen = 0;
	OSSL_CMP_MSG *out = NULL;
	int n = i2d_OSSL_CMP_MSG(req, &der);

	if (n <= 0)
		return NULL;
	if (cab_srv_cmp(&srv, der, (size_t)n, &rsp, &rlen) == 0) {
		p = rsp;
		out = d2i_OSSL_CMP_MSG(NULL, &p, (long)rlen);
		/* what the server sends must be a CMP message, all of it */
		if (out == NULL || p != rsp + rlen)
			abort();
	}
	OPENSSL_free(der);
	OPENSSL_free(rsp);
	return out;
}

static void messages(const uint8_t *data, size_t size)
{
	const unsigned char *p = data, *end = data + size;
	OSSL_CMP_CTX *c = client();

	for (int i = 0; c != NULL && i < 4 && p < end; i++) {
		OSSL_CMP_MSG *m = d2i_OSSL_CMP_MSG(NULL, &p, (long)(end - p)), *rsp;
		const ASN1_OCTET_STRING *tid;

		if (m == NULL)
			break;
		tid = OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(m));
		if (i == 0 && tid != NULL)
			OSSL_CMP_CTX_set1_transactionID(c, tid);
		/* the rest of the transaction under the first one's id, protected with our secret */
		if (OSSL_CMP_MSG_update_transactionID(c, m)) {
			rsp = serve(m);
			OSSL_CMP_MSG_free(rsp);
		}
		OSSL_CMP_MSG_free(m);
	}
	OSSL_CMP_CTX_free(c);
}

static OSSL_CMP_MSG *transfer(OSSL_CMP_CTX *c, const OSSL_CMP_MSG *req)
{
	(void)c;
	return serve(req);
}

static int reject_cert(OSSL_CMP_CTX *c, X509 *cert, int fail_info, const char **text)
{
	(void)c;
	(void)cert;
	(void)fail_info;
	*text = "fuzz: rejected";
	return 1 << OSSL_CMP_PKIFAILUREINFO_badCertTemplate;
}

static void session(const uint8_t *data, size_t size)
{
	static const char *const profiles[8] = {"qualified",   "advanced", "seal",    "advanced:3",
						"qualified:0", "bogus",    "seal:99", ""};
	const unsigned char *p = data + 1;
	unsigned char md[SHA256_DIGEST_LENGTH];
	ASN1_OCTET_STRING *tid = NULL;
	X509_REQ *csr;
	OSSL_CMP_CTX *c;
	unsigned flags;

	if (size < 2)
		return;
	flags = data[0];
	csr = d2i_X509_REQ(NULL, &p, (long)(size - 1));
	c = csr ? client() : NULL;
	SHA256(data, size, md);
	tid = ASN1_OCTET_STRING_new();
	if (c == NULL || tid == NULL || !ASN1_OCTET_STRING_set(tid, md, 16) ||
	    !OSSL_CMP_CTX_set1_transactionID(c, tid) || !OSSL_CMP_CTX_set1_p10CSR(c, csr) ||
	    !OSSL_CMP_CTX_set_transfer_cb(c, transfer) ||
	    !OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_IMPLICIT_CONFIRM, (int)(flags & 1)))
		goto out;
	if (flags & 2) {
		OSSL_CMP_ITAV *itav = cab_cmp_profile_itav(profiles[(flags >> 4) & 7]);

		if (itav == NULL || !OSSL_CMP_CTX_push0_geninfo_ITAV(c, itav)) {
			OSSL_CMP_ITAV_free(itav);
			goto out;
		}
	}
	if (flags & 4)
		OSSL_CMP_CTX_set_certConf_cb(c, reject_cert);
	(void)OSSL_CMP_exec_P10CR_ses(c); /* the certificate stays the context's */
out:
	OSSL_CMP_CTX_free(c);
	ASN1_OCTET_STRING_free(tid);
	X509_REQ_free(csr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cab_srv_tx *tx;

	if (size >= 1 && data[0] == 'S')
		session(data + 1, size - 1);
	else if (size >= 1 && data[0] == 'M')
		messages(data + 1, size - 1);
	while ((tx = cab_srv_txs_take_expired(&srv.txs, 1)) != NULL)
		cab_srv_tx_free(tx);
	ERR_clear_error();
	return 0;
}
