/*
 * local_int.h - private to ca-bridge/local/, the "local" back-end (the embedded OpenSSL CA):
 * its state (struct cab_local, cab->be_ctx) and the functions its files share.  Prefix
 * cab_local_.  Only local/ includes this; cab.c reaches the back-end through
 * cab_local_backend (cab_int.h).
 */
#ifndef CAB_LOCAL_INT_H
#define CAB_LOCAL_INT_H

#include "ca-bridge/cab_int.h"

#include <pthread.h>
#include <stdint.h>

struct sqlite3;

/* ---- the index of every serial issued, with its revocation (local_store.c) ---- */
struct cab_local_entry {
	char serial[48]; /* canonical uppercase hex; "" = empty slot */
	int revoked;
	int reason;
	time_t when;
};
struct cab_local_index {
	struct cab_local_entry *slots;
	size_t cap, count;
};
struct cab_local_entry *cab_local_index_get(struct cab_local_index *ix, const char *serial);

/* ---- a certificate signed outside the lock, waiting for its record (local_issue.c) ---- */
struct cab_local_pending {
	struct cab_local_pending *next;
	const char *request_id;
	char serial[48];
	time_t not_after;
	const unsigned char *der;
	size_t der_len;
	/* the recorder's answer */
	int done, rc;
	struct cab_err err;
	unsigned char *found; /* the certificate already recorded for request_id (caller frees) */
	size_t found_len;
	int from_batch; /* found is an earlier entry's of the same batch: recorded with it or not at all */
};

/* ---- the back-end's state ---- */
struct cab_local {
	char *ca_dir;
	/* the profile's configuration (local_profile.c, local_crl.c) */
	char *policy_oid, *qcpds_url, *qcpds_lang, *crl_url;
	int ncp_plus, adv_digital_signature;
	int crl_hours;

	/* CA state: everything below is guarded by lock (and, across processes, by lock_fd). */
	pthread_mutex_t lock;
	int lock_fd; /* flock(2) on ca_dir/lock */
	EVP_PKEY *ca_key; /* read-only after open */
	X509 *ca_cert; /* read-only after open */
	struct sqlite3 *db; /* ca_dir/ca.db: the record (local_store.c) */
	int64_t issued_seen, revoked_seen; /* the last rowids this process has read */
	struct cab_local_index index; /* every serial issued, with its revocation */
	struct cab_buf revoked_der; /* CRL entries, DER, concatenated in revocation order */
	size_t revoked_count;
	unsigned char *crl; /* cached signed CRL */
	size_t crl_len;
	time_t crl_this_update;
	int crl_dirty;

	/* certificates signed and waiting for their record (local_issue.c): the first waiter
	 * records everything queued in one transaction (one fsync), the others wait for it */
	pthread_mutex_t rec_lock;
	pthread_cond_t rec_done;
	struct cab_local_pending *rec_queue, *rec_last; /* FIFO: first, last */
	int rec_leader; /* a thread is recording a batch */
};

static inline struct cab_local *cab_local_of(struct cab *cab)
{
	return cab->be_ctx;
}

/* ---- local_store.c: the CA's record (ca_dir/ca.db, SQLite, WAL) and the lock around it ---- */
/* Take / release the CA state (mutex + flock) and catch up with the record. */
int cab_local_lock(struct cab_local *l, struct cab_err *err);
void cab_local_unlock(struct cab_local *l);
/* Creates or loads the CA under ca_dir, opens (and checks) the record, imports old logs. */
int cab_local_store_open(struct cab_local *l, const char *subject, struct cab_err *err);
void cab_local_store_close(struct cab_local *l);
/* Under the state lock, one transaction each: the certificates of a batch (the n pending
 * entries in p[] that have no answer yet: rc 0 and found NULL), each with its DER; a
 * revocation.  CAB_E_IO on a full disk (nothing recorded), CAB_E_CA if damaged. */
int cab_local_store_issued(struct cab_local *l, struct cab_local_pending *const *p, int n,
			   struct cab_err *err);
int cab_local_store_revoked(struct cab_local *l, const char *serial, int reason, time_t when,
			    struct cab_err *err);
/* Under the state lock: 1 and the DER (caller frees) of the certificate issued for request_id,
 * 0 when there is none, or a negative CAB_E_* code. */
int cab_local_store_find(struct cab_local *l, const char *request_id, unsigned char **der, size_t *len,
			 struct cab_err *err);
/* SQLite helpers shared with local_import.c: an error as CAB_E_*, a statement, the end of a
 * transaction (COMMIT if rc is 0, else ROLLBACK). */
int cab_local_db_err(struct cab_local *l, int rc, const char *what, struct cab_err *err);
int cab_local_db_exec(struct cab_local *l, const char *sql, const char *what, struct cab_err *err);
int cab_local_db_end(struct cab_local *l, int rc, struct cab_err *err);

/* ---- local_import.c: the hand-written logs of earlier versions, imported once ---- */
/* Under the ca_dir lock at open: issued.log, revoked.log and issued/<id>.der into ca.db in one
 * transaction (a torn or doubled line is repaired, not fatal), then the logs are renamed
 * *.imported.  0 when there is nothing to import. */
int cab_local_import_logs(struct cab_local *l, struct cab_err *err);

/* ---- local_ca.c: the CA's own key and certificate, and serial numbers ---- */
/* Create or load the CA key and certificate (under the ca_dir lock). */
int cab_local_ca_load_or_create(struct cab_local *l, const char *subject, struct cab_err *err);
/* 128 random bits, positive, not yet in the index (l may be NULL). */
int cab_local_serial_new(struct cab_local *l, ASN1_INTEGER **out, char hex[48]);

/* ---- local_profile.c: the extensions the profiles put into a certificate ---- */
int cab_local_extensions(struct cab_local *l, X509 *cert, X509 *issuer, enum cab_class cls,
			 struct cab_err *err);

/* ---- the operations (cab_local_backend in local.c) ---- */
int cab_local_issue(struct cab *cab, const struct cab_request *req, X509_NAME *subject, int years,
		    struct cab_cert *out, struct cab_err *err);
int cab_local_revoke(struct cab *cab, const char *serial, enum cab_reason reason, time_t when,
		     struct cab_err *err);
int cab_local_crl(struct cab *cab, unsigned char **der, size_t *len, struct cab_err *err);
/* local_revoke.c: appends the DER of one CRL entry to l->revoked_der. */
int cab_local_entry_add(struct cab_local *l, const struct cab_local_entry *e, struct cab_err *err);

#endif
