/*
 * ts_cab.h - test fixture for ca-bridge/: a temp dir with a fresh SoftHSM2 token and a
 * local CA configured the way the service configures it, plus a valid request to vary.
 */
#ifndef TS_CAB_H
#define TS_CAB_H

#include "ca-bridge/cab.h"

#define TS_CAB_LABEL "cab-test"
#define TS_CAB_PIN "4711"
#define TS_CAB_POLICY "1.3.6.1.4.1.99999.1.1"
#define TS_CAB_PDS "https://pki.example.test/pds_en.pdf"
#define TS_CAB_CRL_URL "http://pki.example.test/v1/ca/crl"

struct ts_cab {
	char dir[256];
	char ca_dir[300];
	struct cab_config cfg;
	struct cab *cab;
	struct cab_err err;
};

/* mkdtemp, token, config (cab_config_defaults + the test values); opens unless open == 0.
 * 0 on success; on failure t->err.msg says why. */
int ts_cab_setup(struct ts_cab *t, int open);
/* Closes and opens again on the same directory (a restart). */
int ts_cab_reopen(struct ts_cab *t);
void ts_cab_teardown(struct ts_cab *t);

/* A valid variant-1 natural person request for class cls and key key_id. */
void ts_cab_request(struct cab_request *req, const char *request_id, enum cab_class cls, const char *key_id);

/* As an issuance job does it: the key id (cab_keygen), then the certificate of that
 * request id and class (cab_issue); 0, or the first failure (err filled). */
int ts_cab_keygen_issue(struct cab *cab, const char *id, enum cab_class cls, struct cab_cert *out,
			struct cab_err *err);

#endif
