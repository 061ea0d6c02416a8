/*
 * local_store.c - the local CA's durable state under ca_dir, and the in-memory index built from it.
 *
 *   ca_dir/lock               flock(2) taken around every change, so several processes could
 *                             share a ca_dir; a mutex does the same between threads
 *   ca_dir/issued.log         one line per certificate: "<serial> <notAfter> <request id>"
 *   ca_dir/revoked.log        one line per revocation:  "<serial> <reason> <time>"
 *   ca_dir/issued/<id>.der    the certificate issued for request id (idempotency)
 *   ca_dir/crlnumber          the last CRL number used (never goes backwards)
 *
 * The logs are append-only; each line is one write(2) followed by fsync before the call that
 * made it returns.  Under the lock each process first reads what others appended since it
 * last looked (cab_local_lock), so its index and CRL entries are always current.  A torn last
 * line (crash during a write that was never acknowledged) is cut off at open.
 */
#include "ca-bridge/local/local_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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
	struct cab_local_index big = { NULL, ix->cap ? ix->cap * 2 : 1024, 0 };

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

/* ---- the append-only logs ---- */

int cab_local_append_line(int fd, const char *line, struct cab_err *err)
{
	size_t len = strlen(line);
	ssize_t n;

	/* one write with O_APPEND: lines of other processes never interleave with ours */
	do {
		n = write(fd, line, len);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len || fdatasync(fd) != 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot append to the CA log: %s",
				   n < 0 ? strerror(errno) : "short write");
	return 0;
}

/* Cuts a torn last line left by a crash in the middle of a write. */
static int repair_tail(int fd)
{
	struct stat st;
	off_t end;
	char c;

	if (fstat(fd, &st) != 0)
		return CAB_E_IO;
	for (end = st.st_size; end > 0; end--) {
		if (pread(fd, &c, 1, end - 1) != 1)
			return CAB_E_IO;
		if (c == '\n')
			break;
	}
	if (end != st.st_size && ftruncate(fd, end) != 0)
		return CAB_E_IO;
	return 0;
}

/* Reads the complete lines appended since *off and hands each to fn. */
static int read_new(struct cab_local *l, int fd, off_t *off,
		    int (*fn)(struct cab_local *, char *, struct cab_err *), struct cab_err *err)
{
	struct stat st;
	char *buf, *line, *nl;
	size_t len, done = 0;
	int rc = 0;

	if (fstat(fd, &st) != 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot stat a CA log: %s", strerror(errno));
	if (st.st_size <= *off)
		return 0;
	len = (size_t)(st.st_size - *off);
	buf = malloc(len + 1);
	if (buf == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, *off + (off_t)done);

		if (n <= 0) {
			rc = cab_err_set(err, CAB_E_IO, "ca.dir", "cannot read a CA log");
			goto out;
		}
		done += (size_t)n;
	}
	buf[len] = '\0';
	for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if ((rc = fn(l, line, err)) != 0)
			goto out;
		*off += (off_t)(nl + 1 - line);
	}
out:
	free(buf);
	return rc;
}

static int on_issued(struct cab_local *l, char *line, struct cab_err *err)
{
	char serial[48];

	line[strcspn(line, " ")] = '\0';
	if (cab_serial_canon(line, serial) != 0)
		return cab_err_set(err, CAB_E_CA, "ca.dir", "issued.log: malformed line");
	if (index_add(&l->index, serial) == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	return 0;
}

static int on_revoked(struct cab_local *l, char *line, struct cab_err *err)
{
	char hex[48], serial[48];
	int reason;
	long long when;
	struct cab_local_entry *e;

	if (sscanf(line, "%47s %d %lld", hex, &reason, &when) != 3 || cab_serial_canon(hex, serial) != 0)
		return cab_err_set(err, CAB_E_CA, "ca.dir", "revoked.log: malformed line");
	e = index_add(&l->index, serial);
	if (e == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	if (e->revoked)
		return 0; /* first revocation wins (R14: final) */
	e->revoked = 1;
	e->reason = reason;
	e->when = (time_t)when;
	l->crl_dirty = 1;
	return cab_local_entry_add(l, e, err);
}

static int sync_logs(struct cab_local *l, struct cab_err *err)
{
	int rc = read_new(l, l->issued_fd, &l->issued_off, on_issued, err);

	if (rc == 0)
		rc = read_new(l, l->revoked_fd, &l->revoked_off, on_revoked, err);
	return rc;
}

int cab_local_lock(struct cab_local *l, struct cab_err *err)
{
	int rc;

	pthread_mutex_lock(&l->lock);
	if (flock(l->lock_fd, LOCK_EX) != 0) {
		pthread_mutex_unlock(&l->lock);
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot lock the CA: %s", strerror(errno));
	}
	rc = sync_logs(l, err);
	if (rc != 0)
		cab_local_unlock(l);
	return rc;
}

void cab_local_unlock(struct cab_local *l)
{
	flock(l->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&l->lock);
}

int cab_local_store_issued(struct cab_local *l, const char *serial, time_t not_after,
		     const char *request_id, struct cab_err *err)
{
	char line[160], canon[48];
	int rc;

	if (cab_serial_canon(serial, canon) != 0)
		return cab_err_set(err, CAB_E_CA, "serial", "malformed serial");
	serial = canon;
	snprintf(line, sizeof(line), "%s %lld %s\n", serial, (long long)not_after, request_id);
	if ((rc = cab_local_append_line(l->issued_fd, line, err)) != 0)
		return rc;
	/* our own line: index it and step over it, so the next sync does not read it again */
	l->issued_off += (off_t)strlen(line);
	if (index_add(&l->index, serial) == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	return 0;
}

static int open_log(struct cab_local *l, const char *name, int *fd, struct cab_err *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", l->ca_dir, name);
	*fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot open %s: %s", path, strerror(errno));
	if (repair_tail(*fd) != 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot repair %s", path);
	return 0;
}

int cab_local_store_open(struct cab_local *l, const char *subject, struct cab_err *err)
{
	char path[4096];
	int rc;

	l->lock_fd = l->issued_fd = l->revoked_fd = -1;
	if (mkdir(l->ca_dir, 0700) != 0 && errno != EEXIST)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create %s: %s", l->ca_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/issued", l->ca_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/lock", l->ca_dir);
	l->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->lock_fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot open %s: %s", path, strerror(errno));
	if (flock(l->lock_fd, LOCK_EX) != 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot lock the CA: %s", strerror(errno));
	if ((rc = cab_local_ca_load_or_create(l, subject, err)) == 0 &&
	    (rc = open_log(l, "issued.log", &l->issued_fd, err)) == 0 &&
	    (rc = open_log(l, "revoked.log", &l->revoked_fd, err)) == 0)
		rc = sync_logs(l, err);
	flock(l->lock_fd, LOCK_UN);
	l->crl_dirty = 1;
	return rc;
}

void cab_local_store_close(struct cab_local *l)
{
	if (l->issued_fd >= 0)
		close(l->issued_fd);
	if (l->revoked_fd >= 0)
		close(l->revoked_fd);
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	index_free(&l->index);
	cab_buf_free(&l->revoked_der);
	free(l->crl);
	EVP_PKEY_free(l->ca_key);
	X509_free(l->ca_cert);
}
