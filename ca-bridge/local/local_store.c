/*
 * local_store.c - the local CA's record: what it issued and revoked, durable under ca_dir, and
 * the in-memory index built from it (issue #19, item 3).
 *
 *   ca_dir/lock               flock(2) taken around every change, so several processes may
 *                             share a ca_dir; a mutex does the same between threads
 *   ca_dir/ca.db              SQLite in WAL mode (synchronous=FULL): table issued (serial,
 *                             notAfter, request id, the certificate's DER) and table revoked
 *                             (serial, reason, time); one transaction per issuance and per
 *                             revocation, so a crash, a torn write or a full disk at any byte
 *                             leaves either the whole record or none of it (SQLite's journal
 *                             and checksummed WAL frames do the repair)
 *   ca_dir/crlnumber          the last CRL number used (never goes backwards)
 *   ca_dir/issued.log ...     the hand-written logs of earlier versions: imported once
 *                             (local_import.c), then renamed *.imported
 *
 * Under the lock each process first reads the rows others committed since it last looked
 * (rowid > the last one seen; rowids grow in commit order, since writers are serialised by
 * the lock), so its index and CRL entries are always current.
 */
#include "ca-bridge/local/local_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000

/* ---- serial index: open addressing, FNV-1a ---- */

static size_t slot_of(const struct cab_local_index *ix, const char *serial)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *c = serial; *c != '\0'; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return (size_t)(h & (ix->cap - 1));
}

struct cab_local_entry *cab_local_index_get(struct cab_local_index *ix, const char *serial)
{
	if (ix->cap == 0)
		return NULL;
	for (size_t i = slot_of(ix, serial);; i = (i + 1) & (ix->cap - 1)) {
		if (ix->slots[i].serial[0] == '\0')
			return NULL;
		if (strcmp(ix->slots[i].serial, serial) == 0)
			return &ix->slots[i];
	}
}

static int grow(struct cab_local_index *ix)
{
	struct cab_local_index big = {NULL, ix->cap ? ix->cap * 2 : 1024, 0};

	big.slots = calloc(big.cap, sizeof(*big.slots));
	if (big.slots == NULL)
		return CAB_E_NOMEM;
	for (size_t i = 0; i < ix->cap; i++) {
		if (ix->slots[i].serial[0] == '\0')
			continue;
		size_t j = slot_of(&big, ix->slots[i].serial);

		while (big.slots[j].serial[0] != '\0')
			j = (j + 1) & (big.cap - 1);
		big.slots[j] = ix->slots[i];
		big.count++;
	}
	free(ix->slots);
	*ix = big;
	return 0;
}

static struct cab_local_entry *index_add(struct cab_local_index *ix, const char *serial)
{
	struct cab_local_entry *e = cab_local_index_get(ix, serial);
	size_t i;

	if (e != NULL)
		return e;
	if ((ix->count + 1) * 2 > ix->cap && grow(ix) != 0)
		return NULL;
	for (i = slot_of(ix, serial); ix->slots[i].serial[0] != '\0'; i = (i + 1) & (ix->cap - 1))
		;
	e = &ix->slots[i];
	snprintf(e->serial, sizeof(e->serial), "%s", serial);
	ix->count++;
	return e;
}

static void index_free(struct cab_local_index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* ---- SQLite ---- */

static const char *const sql_schema =
	"CREATE TABLE IF NOT EXISTS issued ("
	" serial TEXT PRIMARY KEY, not_after INTEGER NOT NULL, request_id TEXT NOT NULL UNIQUE,"
	" der BLOB, issued_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS revoked ("
	" serial TEXT PRIMARY KEY, reason INTEGER NOT NULL, at INTEGER NOT NULL, recorded_at INTEGER NOT NULL);";

int cab_local_db_err(struct cab_local *l, int rc, const char *what, struct cab_err *err)
{
	const char *msg = l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_FULL:
		return cab_err_set(err, CAB_E_IO, "ca.dir", "CA record: %s: disk full (%s)", what, msg);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return cab_err_set(err, CAB_E_CA, "ca.dir", "CA record damaged (ca.db): %s: %s", what, msg);
	default:
		return cab_err_set(err, CAB_E_IO, "ca.dir", "CA record: %s: %s", what, msg);
	}
}

int cab_local_db_exec(struct cab_local *l, const char *sql, const char *what, struct cab_err *err)
{
	int rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : cab_local_db_err(l, rc, what, err);
}

/* Ends a transaction: COMMIT when rc is 0, else ROLLBACK; returns the outcome. */
int cab_local_db_end(struct cab_local *l, int rc, struct cab_err *err)
{
	if (rc == 0)
		rc = cab_local_db_exec(l, "COMMIT", "commit", err);
	if (rc != 0)
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL); /* a no-op when COMMIT rolled back */
	return rc;
}

static int on_revoked(struct cab_local *l, const char *serial, int reason, time_t when, struct cab_err *err)
{
	struct cab_local_entry *e = index_add(&l->index, serial);
	int rc;

	if (e == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	if (e->revoked)
		return 0; /* first revocation wins (R14: final) */
	e->reason = reason;
	e->when = when;
	/* marked revoked only once its CRL entry exists: when the entry cannot be made (memory),
	 * revoked_seen stays before this row and the next sync_db tries again; marked first, the
	 * retry would have found it "already revoked" and the serial stayed off the CRL */
	rc = cab_local_entry_add(l, e, err);
	if (rc != 0)
		return rc;
	e->revoked = 1;
	l->crl_dirty = 1;
	return 0;
}

/* Reads the rows committed since this process last looked into the index. */
static int sync_db(struct cab_local *l, struct cab_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(l->db, "SELECT rowid, serial FROM issued WHERE rowid > ?1 ORDER BY rowid", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		return cab_local_db_err(l, rc, "read", err);
	sqlite3_bind_int64(st, 1, l->issued_seen);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (index_add(&l->index, (const char *)sqlite3_column_text(st, 1)) == NULL) {
			sqlite3_finalize(st);
			return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		}
		l->issued_seen = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cab_local_db_err(l, rc, "read issued", err);
	rc = sqlite3_prepare_v2(
		l->db, "SELECT rowid, serial, reason, at FROM revoked WHERE rowid > ?1 ORDER BY rowid", -1,
		&st, NULL);
	if (rc != SQLITE_OK)
		return cab_local_db_err(l, rc, "read", err);
	sqlite3_bind_int64(st, 1, l->revoked_seen);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r = on_revoked(l, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 2),
				   (time_t)sqlite3_column_int64(st, 3), err);

		if (r != 0) {
			sqlite3_finalize(st);
			return r;
		}
		l->revoked_seen = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : cab_local_db_err(l, rc, "read revoked", err);
}

int cab_local_lock(struct cab_local *l, struct cab_err *err)
{
	int rc;

	pthread_mutex_lock(&l->lock);
	if (flock(l->lock_fd, LOCK_EX) != 0) {
		pthread_mutex_unlock(&l->lock);
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot lock the CA: %s", strerror(errno));
	}
	rc = sync_db(l, err);
	if (rc != 0)
		cab_local_unlock(l);
	return rc;
}

void cab_local_unlock(struct cab_local *l)
{
	flock(l->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&l->lock);
}

int cab_local_store_issued(struct cab_local *l, struct cab_local_pending *const *p, int n,
			   struct cab_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = cab_local_db_exec(l, "BEGIN IMMEDIATE", "begin", err)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(
		l->db,
		"INSERT INTO issued (serial, not_after, request_id, der, issued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
		-1, &st, NULL);
	for (int i = 0; rc == SQLITE_OK && i < n; i++) {
		if (p[i]->rc != 0 || p[i]->found != NULL)
			continue;
		sqlite3_bind_text(st, 1, p[i]->serial, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p[i]->not_after);
		sqlite3_bind_text(st, 3, p[i]->request_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, p[i]->der, (int)p[i]->der_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? sqlite3_reset(st) : rc;
	}
	sqlite3_finalize(st);
	rc = cab_local_db_end(l, rc == SQLITE_OK ? 0 : cab_local_db_err(l, rc, "record the certificate", err),
			      err);
	/* our own rows: into the index now.  Committed is committed: a failure to read them back
	 * (memory) does not make the certificates unrecorded, and the index takes them at the next
	 * cab_local_lock (sync_db reads on from issued_seen) */
	if (rc == 0) {
		struct cab_err ignored = {0};
		(void)sync_db(l, &ignored);
	}
	return rc;
}

int cab_local_store_revoked(struct cab_local *l, const char *serial, int reason, time_t when,
			    struct cab_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = cab_local_db_exec(l, "BEGIN IMMEDIATE", "begin", err)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(
		l->db, "INSERT INTO revoked (serial, reason, at, recorded_at) VALUES (?1, ?2, ?3, ?4)", -1,
		&st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, reason);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)when);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	rc = cab_local_db_end(
		l, rc == SQLITE_DONE ? 0 : cab_local_db_err(l, rc, "record the revocation", err), err);
	return rc != 0 ? rc : sync_db(l, err);
}

/* An imported row from an earlier version may lack the DER: it is in issued/<id>.der. */
static int find_file(struct cab_local *l, const char *request_id, unsigned char **der, size_t *len,
		     struct cab_err *err)
{
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/issued/%s.der", l->ca_dir, request_id);
	rc = cab_read_file(path, der, len);
	if (rc == CAB_E_NOTFOUND)
		return cab_err_set(err, CAB_E_CA, "ca.dir",
				   "the CA record names request %s but holds no certificate", request_id);
	return rc != 0 ? cab_err_set(err, rc, "ca.dir", "cannot read %s", path) : 1;
}

int cab_local_store_find(struct cab_local *l, const char *request_id, unsigned char **der, size_t *len,
			 struct cab_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(l->db, "SELECT der FROM issued WHERE request_id = ?1", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return cab_local_db_err(l, rc, "look up", err);
	sqlite3_bind_text(st, 1, request_id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
	} else if (rc != SQLITE_ROW) {
		rc = cab_local_db_err(l, rc, "look up", err);
	} else if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		rc = find_file(l, request_id, der, len, err);
	} else {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		*der = malloc(*len ? *len : 1);
		if (*der == NULL)
			rc = cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
		else {
			memcpy(*der, sqlite3_column_blob(st, 0), *len);
			rc = 1;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* Opens ca.db: WAL, FULL sync (a committed issuance survives power loss), the schema, and a
 * quick check, so a damaged record is reported at open instead of at the first issuance. */
static int open_db(struct cab_local *l, struct cab_err *err)
{
	char path[4096];
	sqlite3_stmt *st = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/ca.db", l->ca_dir);
	rc = sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return cab_local_db_err(l, rc, "open", err);
	sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS);
	if ((rc = cab_local_db_exec(l, "PRAGMA journal_mode=WAL", "WAL mode", err)) != 0 ||
	    (rc = cab_local_db_exec(l, "PRAGMA synchronous=FULL", "synchronous", err)) != 0 ||
	    (rc = cab_local_db_exec(l, sql_schema, "schema", err)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(l->db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		rc = cab_err_set(err, CAB_E_CA, "ca.dir", "CA record damaged (ca.db): %s",
				 sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cab_local_db_err(l, rc, "check", err);
}

int cab_local_store_open(struct cab_local *l, const char *subject, struct cab_err *err)
{
	char path[4096];
	int rc;

	l->lock_fd = -1;
	if (mkdir(l->ca_dir, 0700) != 0 && errno != EEXIST)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create %s: %s", l->ca_dir,
				   strerror(errno));
	snprintf(path, sizeof(path), "%s/lock", l->ca_dir);
	l->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->lock_fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot open %s: %s", path, strerror(errno));
	if (flock(l->lock_fd, LOCK_EX) != 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot lock the CA: %s", strerror(errno));
	if ((rc = cab_local_ca_load_or_create(l, subject, err)) == 0 && (rc = open_db(l, err)) == 0 &&
	    (rc = cab_local_import_logs(l, err)) == 0)
		rc = sync_db(l, err);
	flock(l->lock_fd, LOCK_UN);
	l->crl_dirty = 1;
	return rc;
}

void cab_local_store_close(struct cab_local *l)
{
	if (l->db != NULL)
		sqlite3_close(l->db);
	l->db = NULL;
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	index_free(&l->index);
	cab_buf_free(&l->revoked_der);
	free(l->crl);
	EVP_PKEY_free(l->ca_key);
	X509_free(l->ca_cert);
}
