/*
 * kek.h - the key-encryption key of wrapped key storage from the command line (issue #15,
 * docs/ca-bridge.md "Wrapped key storage"): `ra kek create|status`.
 *
 * The KEK's versions are AES-256 token objects (CKA_LABEL pkcs11.kek_label, CKA_ID the
 * version); every certificate's blob names the version it is wrapped under.  Blocking (token,
 * libpq): CLI only, never on the service's loop.
 */
#ifndef RA_KEK_H
#define RA_KEK_H

#include "ra/base/config.h"

/* `ra kek create [--actor NAME]` (version 1 when the token has none; audited kek.created),
 * `ra kek rotate [--actor NAME]` (a new version, every new key wrapped under it; audited
 * kek.rotated with the first kek_rewrap job, which moves the older blobs in bounded batches),
 * `ra kek status` (the current version and how many blobs each version wraps).
 * Returns the process exit status. */
int kek_cmd(struct config *cfg, int argc, char **argv);

/* `ra key csr CERTIFICATE-ID`: a CSR signed with the certificate's stored key (PEM on stdout);
 * a destroyed key fails with "key destroyed".  Returns the process exit status. */
int key_cmd(struct config *cfg, int argc, char **argv);
/* `ra key migrate [--actor NAME]`: token-resident keys of live certificates into wrapped
 * storage, then off the token; resumable (see kek.c).  Non-extractable keys stay, counted. */

#endif
