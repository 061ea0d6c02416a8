/*
 * cmp_asn.h - the CMP encoding details both ends share (cmp_asn.c): the certProfile that
 * carries the class and validity (RFC 9483 4.1.1), and the reasonCode of a revocation
 * request.  Used by the "cmp" back-end (the client, cmp/) and by the ca-bridge server (srv/);
 * it is the one header of cmp/ that srv/ includes.
 */
#ifndef CAB_CMP_ASN_H
#define CAB_CMP_ASN_H

#include "ca-bridge/cab.h"

#include <openssl/cmp.h>
#include <stddef.h>

#define CAB_OID_CERT_PROFILE "1.3.6.1.5.5.7.4.21" /* id-it-certProfile, RFC 9483 4.1.1 */
#define CAB_OID_IMPLICIT_CONFIRM "1.3.6.1.5.5.7.4.13" /* id-it-implicitConfirm, RFC 4210 5.1.1.1 */

/* The certProfile name for a class and validity: "advanced", or "advanced:3" for 3 years. */
void cab_cmp_profile_name(enum cab_class cls, int years, char *out, size_t cap);
/* Parses a certProfile name back; CAB_E_PROFILE (field "certProfile") when it is not ours. */
int cab_cmp_profile_parse(const char *name, enum cab_class *cls, int *years, struct cab_err *err);
/* generalInfo ITAV id-it-certProfile with one UTF8String. */
OSSL_CMP_ITAV *cab_cmp_profile_itav(const char *name);
/* The first certProfile name in the message's generalInfo; 0 found, CAB_E_NOTFOUND if none. */
int cab_cmp_msg_profile(const OSSL_CMP_MSG *msg, char *out, size_t cap);
/* 1 when the message's generalInfo asks for implicit confirmation (OpenSSL 3.0 has no getter). */
int cab_cmp_msg_implicit_confirm(const OSSL_CMP_MSG *msg);
/* The reasonCode of the first RevDetails of an rr message; CAB_REASON_UNSPECIFIED when absent. */
int cab_cmp_msg_rr_reason(const OSSL_CMP_MSG *msg);

#endif
