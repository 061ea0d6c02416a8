/*
 * ts_x509.h - test helpers that look inside certificates and CRLs through the OpenSSL API
 * (never by shelling out): profiles, validity, subject attributes, the CA's chain and CRL.
 */
#ifndef TS_X509_H
#define TS_X509_H

#include <openssl/x509.h>
#include <stddef.h>

#include "ca-bridge/cab.h"

/* The policy OIDs, in order, joined by spaces. */
void ts_policies(X509 *x, char *out, size_t cap);
/* Days between notBefore and notAfter; ts_years_days_ok: that many calendar years. */
int ts_validity_days(X509 *x);
int ts_years_days_ok(int days, int years);
/* The subject attribute nid: its value ("" when absent) and string type (-1 when absent).
 * The returned buffer is static: copy it before the next call. */
const char *ts_rdn(X509 *x, int nid, int *type);
/* The CA certificate from cab_chain_pem; the CRL from cab_crl (asserts they parse). */
X509 *ts_chain_ca(struct cab *cab);
X509_CRL *ts_crl(struct cab *cab);
/* The parsed certificate of an issued cab_cert. */
X509 *ts_cert_of(const struct cab_cert *c);

#endif
