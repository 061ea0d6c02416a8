/*
 * csc.h - the RA's subset of the Cloud Signature Consortium API v2.0 under /csc/v2/ (POST,
 * JSON, errors {"error", "error_description"} as the specification's): credentials/list and
 * credentials/info, read by the signing front end.  Everything else of the API (info,
 * auth/login, credentials/authorize, signatures/signHash, SAD) belongs to the remote signing
 * server and its signature activation module, not to the RA: such a method is answered 404
 * in the CSC format.  csc_cred.h builds each credential.
 */
#ifndef RA_SIGNING_CSC_H
#define RA_SIGNING_CSC_H

#include "ra/net/http.h"

/* The handler of the prefix route POST /csc/v2/ (another method gets 405 with Allow: POST). */
void csc_route(struct http_req *hr);

#endif
