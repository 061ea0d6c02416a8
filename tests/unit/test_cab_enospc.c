/* test_cab_enospc.c - the local CA's record on a full disk (issue #19 item 3): ca_dir on a
 * small tmpfs, filled up to a few bytes short at several offsets, then issuance and revocation
 * tried.  Each either commits whole or fails with CAB_E_IO and leaves nothing; once space is
 * back the CA reopens (no "malformed line"), what committed is still there, what failed
 * succeeds now, and SQLite's integrity check is clean.  Needs mount(2) (root); skipped with
 * a message otherwise. */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"
#include "tests/lib/ts_x509.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static struct ts_cab t;
static char mnt[280], filler[300];
static int mounted;

static void setup(void)
{
	cr_assert_eq(ts_cab_setup(&t, 0), 0, "setup: %s", t.err.msg);
	snprintf(mnt, sizeof(mnt), "%s/small", t.dir);
	cr_assert_eq(mkdir(mnt, 0700), 0);
	mounted = mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700") == 0;
	snprintf(t.ca_dir, sizeof(t.ca_dir), "%s/ca", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
}

static void teardown(void)
{
	cab_close(t.cab);
	t.cab = NULL;
	if (mounted)
		umount2(mnt, MNT_DETACH);
	ts_cab_teardown(&t);
}

TestSuite(cab_enospc, .init = setup, .fini = teardown);

/* Fills the file system but `left` bytes (as far as the allocator allows). */
static void fill_leaving(long long left)
{
	struct statvfs sv;
	long long avail;
	int fd;

	unlink(filler);
	cr_assert_eq(statvfs(mnt, &sv), 0);
	avail = (long long)sv.f_bavail * (long long)sv.f_frsize;
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	if (avail > left)
		cr_assert_eq(posix_fallocate(fd, 0, avail - left), 0, "fallocate %lld", avail - left);
	close(fd);
}

static int try_issue(const char *id, struct cab_cert *c, struct cab_err *err)
{
	struct cab_request req;
	struct cab_key k;

	if (cab_keygen(t.cab, id, CAB_ALG_DEFAULT, &k, err) != 0)
		return -1;
	cab_key_free(&k);
	ts_cab_request(&req, id, CAB_CLASS_QUALIFIED, id);
	return cab_issue(t.cab, &req, c, err);
}

static void db_check(int want_issued, int want_revoked)
{
	char path[450];
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof(path), "%s/ca.db", t.ca_dir);
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(
		sqlite3_prepare_v2(db,
				   "SELECT (SELECT count(*) FROM issued), (SELECT count(*) FROM revoked),"
				   " (SELECT count(*) FROM issued WHERE der IS NULL)",
				   -1, &st, NULL),
		SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), want_issued, "issued rows");
	cr_expect_eq(sqlite3_column_int(st, 1), want_revoked, "revoked rows");
	cr_expect_eq(sqlite3_column_int(st, 2), 0, "every row holds its certificate");
	sqlite3_finalize(st);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

#define NOFF 7
#define PER 3

Test(cab_enospc, full_disk_at_several_offsets_leaves_whole_records_and_restart_works, .timeout = 240)
{
	static const long long offsets[NOFF] = {0, 300, 1500, 4096, 6000, 12000, 40000};
	char ids[NOFF][PER][32], serials[NOFF][PER][48];
	int ok[NOFF][PER], revoked_ok[NOFF];
	struct cab_cert c, base;
	struct cab_err err;
	int issued = 1, revoked = 0;

	if (!mounted) {
		cr_skip_test("cannot mount a tmpfs here (%s): the full-disk test needs root",
			     strerror(errno));
		return;
	}
	t.cab = cab_open(&t.cfg, &t.err);
	cr_assert_not_null(t.cab, "%s", t.err.msg);
	cr_assert_eq(try_issue("base", &base, &err), 0, "%s", err.msg);
	for (int o = 0; o < NOFF; o++) {
		fill_leaving(offsets[o]);
		for (int i = 0; i < PER; i++) {
			snprintf(ids[o][i], sizeof(ids[o][i]), "full-%d-%d", o, i);
			ok[o][i] = try_issue(ids[o][i], &c, &err) == 0;
			if (ok[o][i]) {
				snprintf(serials[o][i], sizeof(serials[o][i]), "%s", c.serial_hex);
				cab_cert_free(&c);
				issued++;
			} else {
				cr_expect(err.code == CAB_E_IO || err.code == CAB_E_CA,
					  "a full disk is an I/O error: %s", err.msg);
			}
		}
		/* a revocation of the base certificate, tried at each offset until one commits */
		revoked_ok[o] = revoked == 0 &&
				cab_revoke(t.cab, base.serial_hex, CAB_REASON_SUPERSEDED, 0, &err) == 0;
		revoked += revoked_ok[o];
		/* a restart while the disk is still full: the record opens */
		cr_assert_eq(ts_cab_reopen(&t), 0, "reopen on a full disk at offset %lld: %s", offsets[o],
			     t.err.msg);
	}
	{
		int failed = 0;

		for (int o = 0; o < NOFF; o++)
			for (int i = 0; i < PER; i++)
				failed += !ok[o][i];
		cr_log_info("full disk: %d of %d issuances refused, revocation committed: %d", failed,
			    NOFF * PER, revoked);
		cr_expect_gt(failed, 0,
			     "the disk was full for some issuances (else the test tested nothing)");
		cr_expect_lt(failed, NOFF * PER, "and had room for some");
	}
	unlink(filler);
	cr_assert_eq(ts_cab_reopen(&t), 0, "reopen with space again: %s", t.err.msg);
	for (int o = 0; o < NOFF; o++)
		for (int i = 0; i < PER; i++) {
			cr_assert_eq(try_issue(ids[o][i], &c, &err), 0, "%s: %s", ids[o][i], err.msg);
			if (ok[o][i])
				cr_expect_str_eq(c.serial_hex, serials[o][i], "%s keeps its one certificate",
						 ids[o][i]);
			else
				issued++;
			cab_cert_free(&c);
		}
	if (revoked == 0)
		cr_assert_eq(cab_revoke(t.cab, base.serial_hex, CAB_REASON_SUPERSEDED, 0, &err), 0, "%s",
			     err.msg);
	else
		cr_expect_eq(cab_revoke(t.cab, base.serial_hex, CAB_REASON_SUPERSEDED, 0, &err),
			     CAB_E_ALREADY_REVOKED);
	cab_close(t.cab);
	t.cab = NULL;
	db_check(issued, 1);
	cab_cert_free(&base);
}
