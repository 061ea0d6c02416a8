/*
 * local_revoke.c - revocation by the local CA (R14): RFC 5280 reasons, final, durable.
 *
 * A revocation is one transaction in the CA's record (ca_dir/ca.db, local_store.c), taken under
 * the CA lock after the index has caught up with every process's rows; so a second revocation of the same serial
 * is seen and refused (CAB_E_ALREADY_REVOKED) and the first one stands unchanged.  Each entry
 * is encoded for the CRL once, here, so building a CRL never re-encodes old entries.
 */
#include "ca-bridge/local/local_int.h"

#include <openssl/bn.h>
#include <stdio.h>
#include <string.h>

int cab_local_entry_add(struct cab_local *l, const struct cab_local_entry *e, struct cab_err *err)
{
	X509_REVOKED *rev = X509_REVOKED_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	ASN1_ENUMERATED *reason = NULL;
	unsigned char *der = NULL;
	int n, rc = CAB_E_CA;

	if (rev == NULL || !BN_hex2bn(&bn, e->serial) || (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (when = ASN1_TIME_set(NULL, e->when)) == NULL || !X509_REVOKED_set_serialNumber(rev, serial) ||
	    !X509_REVOKED_set_revocationDate(rev, when))
		goto out;
	/* RFC 5280 5.3.1: the reasonCode SHOULD be absent rather than "unspecified" */
	if (e->reason != CAB_REASON_UNSPECIFIED) {
		reason = ASN1_ENUMERATED_new();
		if (reason == NULL || !ASN1_ENUMERATED_set(reason, e->reason) ||
		    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0) != 1)
			goto out;
	}
	n = i2d_X509_REVOKED(rev, &der);
	if (n <= 0 || cab_buf_put(&l->revoked_der, der, (size_t)n) != 0)
		goto out;
	l->revoked_count++;
	rc = 0;
out:
	if (rc != 0)
		cab_err_ossl(err, rc, "cannot encode a CRL entry");
	OPENSSL_free(der);
	ASN1_ENUMERATED_free(reason);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_REVOKED_free(rev);
	return rc;
}

int cab_local_revoke(struct cab *cab, const char *serial, enum cab_reason reason, time_t when,
		     struct cab_err *err)
{
	struct cab_local *l = cab_local_of(cab);
	struct cab_local_entry *e;
	int rc;

	if (when == 0)
		when = time(NULL);
	if ((rc = cab_local_lock(l, err)) != 0)
		return rc;
	e = cab_local_index_get(&l->index, serial);
	if (e == NULL) {
		rc = cab_err_set(err, CAB_E_NOTFOUND, "serial", "no certificate with serial %s", serial);
		goto out;
	}
	if (e->revoked) {
		/* R14: final; the first reason and time stand */
		rc = cab_err_set(err, CAB_E_ALREADY_REVOKED, "serial", "%s was already revoked (%s)", serial,
				 cab_reason_name((enum cab_reason)e->reason));
		goto out;
	}
	/* the row comes back into the index (and the CRL entries) by the store's catch-up */
	rc = cab_local_store_revoked(l, serial, (int)reason, when, err);
out:
	cab_local_unlock(l);
	return rc;
}
