/*
 * store.c - the local CA's durable state under ca_dir, and the in-memory index built from it.
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
 * last looked (cab_state_lock), so its index and CRL entries are always current.  A torn last
 * line (crash during a write that was never acknowledged) is cut off at open.
 */
#include "ca-bridge/cab_int.h"

#include <ctype.h>
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

int cab_serial_canon(const char *in, char out[48])
{
	size_t n = 0;

	if (in == NULL || in[0] == '\0')
		return CAB_E_INVALID;
	while (in[0] == '0' && in[1] != '\0')
		in++;
	for (; in[n] != '\0'; n++) {
		if (!isxdigit((unsigned char)in[n]) || n >= 40)
			return CAB_E_INVALID;
		out[n] = (char)toupper((unsigned char)in[n]);
	}
	out[n] = '\0';
	return 0;
}

static size_t slot_of(const struct cab_index *ix, const char *serial)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *c = serial; *c != '\0'; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return (size_t)(h & (ix->cap - 1));
}

struct cab_entry *cab_index_get(struct cab_index *ix, const char *serial)
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

static int grow(struct cab_index *ix)
{
	struct cab_index big = { NULL, ix->cap ? ix->cap * 2 : 1024, 0 };

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

struct cab_entry *cab_index_add(struct cab_index *ix, const char *serial)
{
	struct cab_entry *e = cab_index_get(ix, serial);
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

void cab_index_free(struct cab_index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* ---- files ---- */

int cab_write_atomic(const char *dir, const char *name, const void *data, size_t len, int mode,
		     struct cab_err *err)
{
	char tmp[4096], dst[4096];
	int fd = -1, dfd = -1, rc = 0;
	const unsigned char *p = data;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = mkstemp(tmp);
	if (fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create a file in %s: %s", dir, strerror(errno));
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst) != 0)
		goto fail;
	/* the rename is durable only once the directory is */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		rc = cab_err_set(err, CAB_E_IO, "ca.dir", "cannot sync %s: %s", dir, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	return rc;
fail:
	rc = cab_err_set(err, CAB_E_IO, "ca.dir", "cannot write %s: %s", dst, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int cab_read_file(const char *path, unsigned char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct cab_buf b = { 0 };
	unsigned char chunk[8192];
	size_t n;

	if (f == NULL)
		return errno == ENOENT ? CAB_E_NOTFOUND : CAB_E_IO;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (cab_buf_put(&b, chunk, n) != 0) {
			fclose(f);
			cab_buf_free(&b);
			return CAB_E_NOMEM;
		}
	}
	if (ferror(f)) {
		fclose(f);
		cab_buf_free(&b);
		return CAB_E_IO;
	}
	fclose(f);
	*data = b.p;
	*len = b.len;
	return 0;
}

int cab_append_line(int fd, const char *line, struct cab_err *err)
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
static int read_new(struct cab *cab, int fd, off_t *off,
		    int (*fn)(struct cab *, char *, struct cab_err *), struct cab_err *err)
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
		if ((rc = fn(cab, line, err)) != 0)
			goto out;
		*off += (off_t)(nl + 1 - line);
	}
out:
	free(buf);
	return rc;
}

static int on_issued(struct cab *cab, char *line, struct cab_err *err)
{
	char serial[48];

	line[strcspn(line, " ")] = '\0';
	if (cab_serial_canon(line, serial) != 0)
		return cab_err_set(err, CAB_E_CA, "ca.dir", "issued.log: malformed line");
	if (cab_index_add(&cab->index, serial) == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	return 0;
}

static int on_revoked(struct cab *cab, char *line, struct cab_err *err)
{
	char hex[48], serial[48];
	int reason;
	long long when;
	struct cab_entry *e;

	if (sscanf(line, "%47s %d %lld", hex, &reason, &when) != 3 || cab_serial_canon(hex, serial) != 0)
		return cab_err_set(err, CAB_E_CA, "ca.dir", "revoked.log: malformed line");
	e = cab_index_add(&cab->index, serial);
	if (e == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	if (e->revoked)
		return 0; /* first revocation wins (R14: final) */
	e->revoked = 1;
	e->reason = reason;
	e->when = (time_t)when;
	cab->crl_dirty = 1;
	return cab_revoked_entry_add(cab, e, err);
}

static int sync_logs(struct cab *cab, struct cab_err *err)
{
	int rc = read_new(cab, cab->issued_fd, &cab->issued_off, on_issued, err);

	if (rc == 0)
		rc = read_new(cab, cab->revoked_fd, &cab->revoked_off, on_revoked, err);
	return rc;
}

int cab_state_lock(struct cab *cab, struct cab_err *err)
{
	int rc;

	pthread_mutex_lock(&cab->lock);
	if (flock(cab->lock_fd, LOCK_EX) != 0) {
		pthread_mutex_unlock(&cab->lock);
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot lock the CA: %s", strerror(errno));
	}
	rc = sync_logs(cab, err);
	if (rc != 0)
		cab_state_unlock(cab);
	return rc;
}

void cab_state_unlock(struct cab *cab)
{
	flock(cab->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&cab->lock);
}

int cab_store_issued(struct cab *cab, const char *serial, time_t not_after,
		     const char *request_id, struct cab_err *err)
{
	char line[160], canon[48];
	int rc;

	if (cab_serial_canon(serial, canon) != 0)
		return cab_err_set(err, CAB_E_CA, "serial", "malformed serial");
	serial = canon;
	snprintf(line, sizeof(line), "%s %lld %s\n", serial, (long long)not_after, request_id);
	if ((rc = cab_append_line(cab->issued_fd, line, err)) != 0)
		return rc;
	/* our own line: index it and step over it, so the next sync does not read it again */
	cab->issued_off += (off_t)strlen(line);
	if (cab_index_add(&cab->index, serial) == NULL)
		return cab_err_set(err, CAB_E_NOMEM, "", "out of memory");
	return 0;
}

static int open_log(struct cab *cab, const char *name, int *fd, struct cab_err *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", cab->ca_dir, name);
	*fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot open %s: %s", path, strerror(errno));
	if (repair_tail(*fd) != 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot repair %s", path);
	return 0;
}

int cab_store_open(struct cab *cab, const char *subject, struct cab_err *err)
{
	char path[4096];
	int rc;

	cab->lock_fd = cab->issued_fd = cab->revoked_fd = -1;
	if (mkdir(cab->ca_dir, 0700) != 0 && errno != EEXIST)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create %s: %s", cab->ca_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/issued", cab->ca_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/lock", cab->ca_dir);
	cab->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (cab->lock_fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot open %s: %s", path, strerror(errno));
	if (flock(cab->lock_fd, LOCK_EX) != 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot lock the CA: %s", strerror(errno));
	if ((rc = cab_ca_load_or_create(cab, subject, err)) == 0 &&
	    (rc = open_log(cab, "issued.log", &cab->issued_fd, err)) == 0 &&
	    (rc = open_log(cab, "revoked.log", &cab->revoked_fd, err)) == 0)
		rc = sync_logs(cab, err);
	flock(cab->lock_fd, LOCK_UN);
	cab->crl_dirty = 1;
	return rc;
}

void cab_store_close(struct cab *cab)
{
	if (cab->issued_fd >= 0)
		close(cab->issued_fd);
	if (cab->revoked_fd >= 0)
		close(cab->revoked_fd);
	if (cab->lock_fd >= 0)
		close(cab->lock_fd);
	cab_index_free(&cab->index);
	cab_buf_free(&cab->revoked_der);
	free(cab->crl);
	EVP_PKEY_free(cab->ca_key);
	X509_free(cab->ca_cert);
}
