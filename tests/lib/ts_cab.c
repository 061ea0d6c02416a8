/*
 * ts_cab.c - test fixture for ca-bridge/ (see ts_cab.h).
 */
#include "tests/lib/ts_cab.h"

#include "tests/lib/ts_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ts_cab_setup(struct ts_cab *t, int open)
{
	char hsm[300];

	const char *tmp = getenv("RA_TEST_TMP"); /* tests/run.sh's scratch dir, removed after the run */

	memset(t, 0, sizeof(*t));
	if (tmp == NULL || tmp[0] == '\0')
		tmp = getenv("TMPDIR");
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(t->dir, sizeof(t->dir), "%s/cab-test-XXXXXX", tmp);
	if (mkdtemp(t->dir) == NULL) {
		snprintf(t->err.msg, sizeof(t->err.msg), "mkdtemp failed");
		return -1;
	}
	snprintf(hsm, sizeof(hsm), "%s/hsm", t->dir);
	if (ts_token_init(hsm, TS_CAB_LABEL, "12345678", TS_CAB_PIN) != 0) {
		snprintf(t->err.msg, sizeof(t->err.msg), "softhsm2-util --init-token failed");
		return -1;
	}
	snprintf(t->ca_dir, sizeof(t->ca_dir), "%s/ca", t->dir);
	cab_config_defaults(&t->cfg);
	t->cfg.ca_dir = t->ca_dir;
	t->cfg.pkcs11_module = ts_softhsm_module();
	t->cfg.pkcs11_token = TS_CAB_LABEL;
	t->cfg.pkcs11_pin = TS_CAB_PIN;
	t->cfg.policy_oid = TS_CAB_POLICY;
	t->cfg.qcpds_url = TS_CAB_PDS;
	t->cfg.qcpds_lang = "en";
	t->cfg.ca_subject = "C=AT,O=Test Trust Service,CN=Test Issuing CA";
	t->cfg.crl_url = TS_CAB_CRL_URL;
	if (!open)
		return 0;
	t->cab = cab_open(&t->cfg, &t->err);
	return t->cab ? 0 : -1;
}

int ts_cab_reopen(struct ts_cab *t)
{
	cab_close(t->cab);
	t->cab = cab_open(&t->cfg, &t->err);
	return t->cab ? 0 : -1;
}

void ts_cab_teardown(struct ts_cab *t)
{
	cab_close(t->cab);
	t->cab = NULL;
	if (t->dir[0] != '\0' && getenv("TS_KEEP") == NULL)
		ts_rmtree(t->dir);
}

int ts_cab_keygen_issue(struct cab *cab, const char *id, enum cab_class cls, struct cab_cert *out,
			struct cab_err *err)
{
	struct cab_request req;
	struct cab_key k;
	int rc = cab_keygen(cab, id, CAB_ALG_DEFAULT, &k, err);

	if (rc != 0)
		return rc;
	cab_key_free(&k);
	ts_cab_request(&req, id, cls, id);
	return cab_issue(cab, &req, out, err);
}

void ts_cab_request(struct cab_request *req, const char *request_id, enum cab_class cls, const char *key_id)
{
	memset(req, 0, sizeof(*req));
	req->request_id = request_id;
	req->cls = cls;
	req->key_id = key_id;
	req->subject.country = "AT";
	req->subject.given_name = "Jürgen";
	req->subject.surname = "Österreicher";
	req->subject.serial_number = "PNOAT-1234567890";
	req->subject.common_name = "Jürgen Österreicher";
}
