/*
 * local_import.c - imports the hand-written record of earlier versions into ca.db, once.
 *
 * Earlier versions kept ca_dir/issued.log ("<serial> <notAfter> <request id>" per line),
 * ca_dir/revoked.log ("<serial> <reason> <time>") and ca_dir/issued/<id>.der.  A short write
 * on a full disk left a fragment of a line, and the retry appended the whole line after it:
 * "<fragment><line>".  Such a line made the CA refuse to open (issue #19).  Here a line that
 * does not parse is tried as a repeated prefix (the fragment is the start of the same line)
 * and otherwise skipped with a warning; every issued/<id>.der is imported from the
 * certificate itself, so an unreadable issued.log line loses nothing.  All in one transaction
 * (INSERT OR IGNORE: a second import after a crash before the rename changes nothing), then
 * the logs are renamed *.imported and kept for a person to read.
 */
#include "ca-bridge/local/local_int.h"

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct import {
	struct cab_local *l;
	sqlite3_stmt *ins_issued, *ins_revoked;
	int lines, skipped;
};

static int parse_issued(const char *line, char serial[48], long long *not_after, char id[128])
{
	char hex[64];

	if (sscanf(line, "%63s %lld %127s", hex, not_after, id) != 3)
		return -1;
	return cab_serial_canon(hex, serial);
}

static int parse_revoked(const char *line, char serial[48], int *reason, long long *when)
{
	char hex[64], extra[2];

	if (sscanf(line, "%63s %d %lld %1s", hex, reason, when, extra) != 3 || *reason < 0 || *reason > 10)
		return -1;
	return cab_serial_canon(hex, serial);
}

/* The line itself, or for "<fragment><line>" where the fragment is a prefix of the line, the
 * line after it: the first offset k with line[k..] starting with line[..k] that parses. */
static const char *repair(const char *line, int (*ok)(const char *))
{
	size_t n = strlen(line);

	if (ok(line))
		return line;
	for (size_t k = 1; 2 * k <= n; k++)
		if (strncmp(line, line + k, k) == 0 && ok(line + k))
			return line + k;
	return NULL;
}

static int issued_ok(const char *s)
{
	char serial[48], id[128];
	long long t;

	return parse_issued(s, serial, &t, id) == 0;
}

static int revoked_ok(const char *s)
{
	char serial[48];
	int r;
	long long t;

	return parse_revoked(s, serial, &r, &t) == 0;
}

static int step(struct import *im, sqlite3_stmt *st, struct cab_err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : cab_local_db_err(im->l, rc, "import", err);
}

static int insert_issued(struct import *im, const char *serial, long long not_after, const char *id,
			 const unsigned char *der, size_t len, struct cab_err *err)
{
	sqlite3_bind_text(im->ins_issued, 1, serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(im->ins_issued, 2, not_after);
	sqlite3_bind_text(im->ins_issued, 3, id, -1, SQLITE_TRANSIENT);
	if (der != NULL)
		sqlite3_bind_blob(im->ins_issued, 4, der, (int)len, SQLITE_TRANSIENT);
	return step(im, im->ins_issued, err);
}

static int on_issued_line(struct import *im, const char *line, struct cab_err *err)
{
	char serial[48], id[128], path[4096];
	long long not_after;
	unsigned char *der = NULL;
	size_t len = 0;
	const char *good = repair(line, issued_ok);
	int rc;

	if (good == NULL) {
		im->skipped++;
		return 0;
	}
	parse_issued(good, serial, &not_after, id);
	snprintf(path, sizeof(path), "%s/issued/%s.der", im->l->ca_dir, id);
	if (cab_read_file(path, &der, &len) != 0)
		der = NULL;
	rc = insert_issued(im, serial, not_after, id, der, len, err);
	free(der);
	return rc;
}

static int on_revoked_line(struct import *im, const char *line, struct cab_err *err)
{
	char serial[48];
	int reason;
	long long when;
	const char *good = repair(line, revoked_ok);

	if (good == NULL) {
		im->skipped++;
		return 0;
	}
	parse_revoked(good, serial, &reason, &when);
	sqlite3_bind_text(im->ins_revoked, 1, serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(im->ins_revoked, 2, reason);
	sqlite3_bind_int64(im->ins_revoked, 3, when);
	return step(im, im->ins_revoked, err);
}

/* Every line of a log, the last one only if it is complete (a torn tail was never
 * acknowledged to anyone). */
static int read_log(struct import *im, const char *name,
		    int (*fn)(struct import *, const char *, struct cab_err *), struct cab_err *err)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", im->l->ca_dir, name);
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0
				       : cab_err_set(err, CAB_E_IO, "ca.dir", "cannot read %s: %s", path,
						     strerror(errno));
	while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n') {
			im->skipped++; /* torn tail */
			break;
		}
		line[n - 1] = '\0';
		im->lines++;
		if (line[0] != '\0')
			rc = fn(im, line, err);
	}
	free(line);
	fclose(f);
	return rc;
}

/* issued/<id>.der: the certificate itself is the authority on its serial and notAfter. */
static int import_der_files(struct import *im, struct cab_err *err)
{
	char dir[4096], path[4400], id[128];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/issued", im->l->ca_dir);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		unsigned char *der = NULL;
		size_t len = 0;
		struct cab_cert c;
		struct cab_err e2;

		if (n < 5 || n - 4 >= sizeof(id) || strcmp(de->d_name + n - 4, ".der") != 0)
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(n - 4), de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (cab_read_file(path, &der, &len) != 0 || cab_cert_fill(der, len, &c, &e2) != 0) {
			free(der);
			im->skipped++;
			continue;
		}
		rc = insert_issued(im, c.serial_hex, (long long)c.not_after, id, der, len, err);
		cab_cert_free(&c);
		free(der);
	}
	closedir(d);
	return rc;
}

static int exists(const struct cab_local *l, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", l->ca_dir, name);
	return access(path, F_OK) == 0;
}

static int rename_log(const struct cab_local *l, const char *name, struct cab_err *err)
{
	char from[4096], to[4200];

	snprintf(from, sizeof(from), "%s/%s", l->ca_dir, name);
	snprintf(to, sizeof(to), "%s/%s.imported", l->ca_dir, name);
	if (rename(from, to) != 0 && errno != ENOENT)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot rename %s: %s", from, strerror(errno));
	return 0;
}

int cab_local_import_logs(struct cab_local *l, struct cab_err *err)
{
	struct import im = {l, NULL, NULL, 0, 0};
	int rc;

	if (!exists(l, "issued.log") && !exists(l, "revoked.log"))
		return 0;
	if ((rc = cab_local_db_exec(l, "BEGIN IMMEDIATE", "import", err)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(l->db,
				"INSERT OR IGNORE INTO issued (serial, not_after, request_id, der, issued_at)"
				" VALUES (?1, ?2, ?3, ?4, strftime('%s','now'))",
				-1, &im.ins_issued, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(l->db,
					"INSERT OR IGNORE INTO revoked (serial, reason, at, recorded_at)"
					" VALUES (?1, ?2, ?3, strftime('%s','now'))",
					-1, &im.ins_revoked, NULL);
	rc = rc != SQLITE_OK ? cab_local_db_err(l, rc, "import", err) : 0;
	if (rc == 0)
		rc = import_der_files(&im, err);
	if (rc == 0)
		rc = read_log(&im, "issued.log", on_issued_line, err);
	if (rc == 0)
		rc = read_log(&im, "revoked.log", on_revoked_line, err);
	sqlite3_finalize(im.ins_issued);
	sqlite3_finalize(im.ins_revoked);
	if ((rc = cab_local_db_end(l, rc, err)) != 0)
		return rc;
	if (im.skipped > 0)
		fprintf(stderr,
			"ca: import of the old CA logs: %d unreadable line(s) or file(s) skipped; the logs are kept as"
			" *.imported\n",
			im.skipped);
	if ((rc = rename_log(l, "issued.log", err)) == 0)
		rc = rename_log(l, "revoked.log", err);
	return rc;
}
