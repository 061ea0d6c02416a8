/*
 * cmp_record.c - the CMP back-end's own record under ca_dir: what this side asked the CA for
 * and what it got, so a retried issuance is the same CMP transaction and returns the same
 * certificate, and a revocation finds the certificate (issuer and serial) it names.
 *
 *   ca_dir/txid/<id>         the transactionID (32 hex digits) of request id, synced before
 *                            the first P10CR is sent; also the flock target for id
 *   ca_dir/issued/<id>.der   the certificate the CA returned for request id
 *   ca_dir/serial/<SERIAL>   the request id of the certificate with that serial
 */
#include "ca-bridge/cmp/cmp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cab_cmp_rec_open(const char *ca_dir, struct cab_err *err)
{
	static const char *const sub[] = {"", "/txid", "/issued", "/serial"};
	char path[4096];
	struct stat st;

	/* both back-ends keep issued/<id>.der: never mix a local CA's directory with a record */
	snprintf(path, sizeof(path), "%s/ca.key", ca_dir);
	if (stat(path, &st) == 0)
		return cab_err_set(err, CAB_E_INVALID, "ca.dir",
				   "%s holds a local CA; backend cmp needs its own ca.dir", ca_dir);
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", ca_dir, sub[i]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create %s: %s", path,
					   strerror(errno));
	}
	return 0;
}

static int unhex(const char *in, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(in + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int cab_cmp_rec_lock(const char *ca_dir, const char *id, unsigned char txid[16], int *fd, struct cab_err *err)
{
	char path[4096], hex[40] = "";
	ssize_t n;

	snprintf(path, sizeof(path), "%s/txid/%s", ca_dir, id);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot open %s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX) != 0)
		goto fail;
	n = pread(*fd, hex, 32, 0);
	if (n == 32 && unhex(hex, txid, 16) == 0)
		return 0;
	/* first attempt (or a torn write that never reached the CA): a new transaction */
	if (RAND_bytes(txid, 16) != 1) {
		cab_cmp_rec_unlock(*fd);
		return cab_err_set(err, CAB_E_CA, "", "no random bytes for a transactionID");
	}
	cab_hex(txid, 16, hex);
	hex[32] = '\n';
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, hex, 33, 0) != 33 || fsync(*fd) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/txid", ca_dir);
	if (sync_dir(path) != 0)
		goto fail;
	return 0;
fail:
	cab_err_set(err, CAB_E_IO, "ca.dir", "cannot record the transaction of %s: %s", id, strerror(errno));
	cab_cmp_rec_unlock(*fd);
	return CAB_E_IO;
}

void cab_cmp_rec_unlock(int fd)
{
	if (fd < 0)
		return;
	flock(fd, LOCK_UN);
	close(fd);
}

int cab_cmp_rec_cert(const char *ca_dir, const char *id, struct cab_cert *out, struct cab_err *err)
{
	char path[4096];
	unsigned char *der = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/issued/%s.der", ca_dir, id);
	rc = cab_read_file(path, &der, &len);
	if (rc == CAB_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return cab_err_set(err, rc, "ca.dir", "cannot read %s", path);
	rc = cab_cert_fill(der, len, out, err);
	free(der);
	/* a crash after the certificate, before its serial entry: add the entry now */
	if (rc == 0)
		rc = cab_cmp_rec_store(ca_dir, id, out, err);
	if (rc != 0) {
		cab_cert_free(out);
		return rc;
	}
	return 1;
}

int cab_cmp_rec_store(const char *ca_dir, const char *id, const struct cab_cert *c, struct cab_err *err)
{
	char dir[4096], name[128], line[80], path[4300];
	struct stat st;
	int rc;

	snprintf(dir, sizeof(dir), "%s/issued", ca_dir);
	snprintf(name, sizeof(name), "%s.der", id);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) != 0 && (rc = cab_write_atomic(dir, name, c->der, c->der_len, 0644, err)) != 0)
		return rc;
	snprintf(dir, sizeof(dir), "%s/serial/%s", ca_dir, c->serial_hex);
	if (stat(dir, &st) == 0)
		return 0;
	snprintf(dir, sizeof(dir), "%s/serial", ca_dir);
	snprintf(line, sizeof(line), "%s\n", id);
	return cab_write_atomic(dir, c->serial_hex, line, strlen(line), 0644, err);
}

int cab_cmp_rec_by_serial(const char *ca_dir, const char *serial, X509 **cert, struct cab_err *err)
{
	char path[4096], id[80];
	unsigned char *data = NULL;
	const unsigned char *p;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/serial/%s", ca_dir, serial);
	rc = cab_read_file(path, &data, &len);
	if (rc != 0)
		return rc == CAB_E_NOTFOUND ? rc : cab_err_set(err, rc, "ca.dir", "cannot read %s", path);
	snprintf(id, sizeof(id), "%.*s", (int)(len > 0 && data[len - 1] == '\n' ? len - 1 : len),
		 (char *)data);
	free(data);
	data = NULL;
	if (!cab_id_ok(id))
		return cab_err_set(err, CAB_E_CA, "ca.dir", "%s is malformed", path);
	snprintf(path, sizeof(path), "%s/issued/%s.der", ca_dir, id);
	if ((rc = cab_read_file(path, &data, &len)) != 0)
		return cab_err_set(err, rc, "ca.dir", "cannot read %s", path);
	p = data;
	*cert = d2i_X509(NULL, &p, (long)len);
	free(data);
	return *cert ? 0 : cab_err_set(err, CAB_E_CA, "ca.dir", "%s does not parse", path);
}
