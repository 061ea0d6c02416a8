/* test_cab_srv.c - the ca-bridge program's HTTP front against hostile clients (issue #20):
 * build/ca-bridge as a real process on loopback, slow clients as raw sockets, the issuance
 * by the RA's own CMP client (backend "cmp").  Slow clients that send a byte now and then
 * hold no thread and no issuance slot; the whole-request deadline cuts them although they
 * keep sending; the caps refuse connections beyond them at once with 503; the body limit
 * answers 413.  And the certConf/pkiConf exchange with `openssl cmp` as the client: confirmed
 * certificates stay, unconfirmed and rejected ones are revoked.  Loopback has all of 127/8: the slow clients bind 127.0.0.2 where the test
 * needs a peer address other than the RA's 127.0.0.1. */
#include "ca-bridge/cab.h"
#include "tests/lib/ts_cab.h"
#include "tests/lib/ts_cmp.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/cmp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET "cab-srv-test-secret"
#define NSLOW 64

static struct ts_cab t;
static struct ts_proc srv;
static char srv_dir[400], trusted[400], url[128], log_path[400];

static void start_bridge(const char *const *extra)
{
	const char *args[40] = {"--ca-dir",     srv_dir,
				"--policy-oid", TS_CAB_POLICY,
				"--pds-url",    TS_CAB_PDS,
				"--crl-url",    TS_CAB_CRL_URL,
				"--ca-subject", "C=AT,O=Test Trust Service,CN=Test CMP CA",
				"--secret",     "env:TS_CMP_SECRET",
				"--reference",  "ca-bridge"};
	int n = 14;

	for (int i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	cr_assert_eq(ts_cabridge_start(&srv, log_path, args), 0, "ca-bridge did not start; see %s", log_path);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/cmp", srv.port);
	t.cfg.cmp_url = url;
	t.cab = cab_open(&t.cfg, &t.err);
	cr_assert_not_null(t.cab, "cab_open cmp: %s", t.err.msg);
}

static void setup(void)
{
	cr_assert_eq(ts_cab_setup(&t, 0), 0, "setup: %s", t.err.msg);
	setenv("TS_CMP_SECRET", SECRET, 1);
	snprintf(srv_dir, sizeof(srv_dir), "%s/bridge-ca", t.dir);
	snprintf(log_path, sizeof(log_path), "%s/ca-bridge.log", t.dir);
	snprintf(trusted, sizeof(trusted), "%s/bridge-ca/ca.pem", t.dir);
	t.cfg.backend = "cmp";
	t.cfg.cmp_secret = SECRET;
	t.cfg.cmp_reference = "ra-test";
	t.cfg.cmp_trusted = trusted;
	t.cfg.cmp_timeout_s = 20; /* generous: the machine is loaded; the old server answered 503 */
}

static void teardown(void)
{
	if (srv.pid > 0)
		cr_expect_eq(ts_proc_stop(&srv), 0, "ca-bridge did not exit cleanly; see %s", log_path);
	ts_cab_teardown(&t);
}

TestSuite(cab_srv, .init = setup, .fini = teardown, .timeout = 90);

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TCP connection to the bridge from source address src (port chosen by the kernel). */
static int dial(const char *src)
{
	struct sockaddr_in me = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, src, &me.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	to.sin_port = htons((uint16_t)srv.port);
	cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0, "bind %s: %s", src, strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "connect: %s", strerror(errno));
	return fd;
}

/* What the server sent until it closed, or until `wait_s` passed ("" and -1 when it is still
 * open then).  Returns the byte count, or -1 while open. */
static int read_until_closed(int fd, double wait_s, char *buf, size_t cap)
{
	double end = now_s() + wait_s;
	size_t got = 0;

	buf[0] = '\0';
	while (now_s() < end) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n <= 0)
			return (int)got;
		got += (size_t)n;
		buf[got] = '\0';
	}
	return -1;
}

/* Slow clients: a request head trickling in, one byte per second on each open socket. */
struct slow {
	int fd[NSLOW];
	int n;
	volatile int stop;
	pthread_t th;
};

static void *trickle(void *arg)
{
	struct slow *sl = arg;
	static const char head[] =
		"POST /cmp HTTP/1.1\r\nHost: ca\r\nContent-Type: application/pkixcmp\r\nX-Slow: ";
	size_t at = 0;

	while (!sl->stop) {
		for (int i = 0; i < sl->n; i++) {
			char c = at < sizeof(head) - 1 ? head[at] : 'a';

			if (sl->fd[i] >= 0)
				(void)send(sl->fd[i], &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		at++;
		for (int k = 0; k < 10 && !sl->stop; k++)
			usleep(100 * 1000);
	}
	return NULL;
}

static void slow_start(struct slow *sl, const char *src)
{
	memset(sl, 0, sizeof(*sl));
	for (sl->n = 0; sl->n < NSLOW; sl->n++)
		sl->fd[sl->n] = dial(src);
	cr_assert_eq(pthread_create(&sl->th, NULL, trickle, sl), 0);
}

static void slow_stop(struct slow *sl)
{
	sl->stop = 1;
	pthread_join(sl->th, NULL);
	for (int i = 0; i < sl->n; i++)
		if (sl->fd[i] >= 0)
			close(sl->fd[i]);
}

/* One issuance by the RA's CMP client (backend "cmp"), with a fresh token key. */
static void issue(const char *id)
{
	struct cab_request req;
	struct cab_key k;
	struct cab_cert c;
	struct cab_err err;

	cr_assert_eq(cab_keygen(t.cab, id, CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	ts_cab_request(&req, id, CAB_CLASS_QUALIFIED, id);
	cr_assert_eq(cab_issue(t.cab, &req, &c, &err), 0, "issuance during the slow clients: %s (%s); see %s",
		     err.msg, err.field, log_path);
	cr_expect_str_eq(c.spki_sha256_hex, k.sha256_hex);
	cab_cert_free(&c);
	cab_key_free(&k);
}

/* 64 slow clients from another address: the per-address cap holds 16 of them and refuses the
 * other 48 at once; the RA's issuance goes through while the 16 trickle; the deadline cuts
 * the 16 although each still sends a byte every second (a per-read timeout never would). */
Test(cab_srv, slow_clients_from_another_address_capped_cut_and_issuance_goes_through)
{
	struct slow sl;
	char buf[512];
	int refused = 0, held = 0, cut = 0;
	double t0;

	start_bridge((const char *const[]){"--request-timeout", "8", "--max-conns-per-addr", "16", NULL});
	t0 = now_s();
	slow_start(&sl, "127.0.0.2");
	for (int i = 0; i < sl.n; i++) {
		/* the first 16 are held (nothing comes), the rest get 503 at once (generous on a
		 * loaded machine: a success costs no waiting) */
		int n = read_until_closed(sl.fd[i], i < 16 ? 0.2 : 15.0, buf, sizeof(buf));

		if (n > 0 && strncmp(buf, "HTTP/1.1 503", 12) == 0) {
			refused++;
			close(sl.fd[i]);
			sl.fd[i] = -1;
		} else {
			cr_assert_eq(n, -1, "slow client %d: closed early with \"%s\"", i, buf);
			held++;
		}
	}
	cr_expect_eq(held, 16, "held %d of %d slow clients from 127.0.0.2 (cap 16 per address)", held, NSLOW);
	cr_expect_eq(refused, NSLOW - 16, "refused %d", refused);
	issue("slow-1");
	/* the held ones still trickle; each is cut when its 8 s are over */
	for (int i = 0; i < sl.n; i++) {
		if (sl.fd[i] < 0)
			continue;
		if (read_until_closed(sl.fd[i], 30.0, buf, sizeof(buf)) >= 0)
			cut++;
	}
	cr_expect_eq(cut, 16, "%d of 16 slow clients cut by the request deadline", cut);
	cr_expect_geq(now_s() - t0, 7.0, "cut before the 8 s deadline");
	slow_stop(&sl);
	/* and the bridge serves again */
	issue("slow-2");
}

/* 64 slow clients from the RA's own address, under the caps: the loop keeps serving. */
Test(cab_srv, slow_clients_from_the_ra_address_do_not_stop_an_issuance)
{
	struct slow sl;
	char buf[64];

	/* a deadline the issuance cannot outlast, even on a loaded machine */
	start_bridge((const char *const[]){"--request-timeout", "60", "--max-conns-per-addr", "100", NULL});
	slow_start(&sl, "127.0.0.1");
	usleep(500 * 1000);
	for (int i = 0; i < sl.n; i++)
		cr_assert_eq(read_until_closed(sl.fd[i], 0.01, buf, sizeof(buf)), -1,
			     "slow client %d refused", i);
	issue("slow-3");
	for (int i = 0; i < sl.n; i++)
		cr_expect_eq(read_until_closed(sl.fd[i], 0.01, buf, sizeof(buf)), -1, "slow client %d gone",
			     i);
	slow_stop(&sl);
}

/* A raw request and the status line of its answer. */
static void raw(const char *req, size_t len, char *status, size_t cap)
{
	len = len ? len : strlen(req);
	int fd = dial("127.0.0.1");
	char buf[2048];
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			break; /* the server may answer and close before it read everything */
		off += (size_t)n;
	}
	cr_assert_geq(read_until_closed(fd, 20.0, buf, sizeof(buf)), 0, "no answer to %.30s", req);
	snprintf(status, cap, "%.*s", (int)strcspn(buf, "\r\n"), buf);
	close(fd);
}

/* The HTTP behaviour the old listener had: 404, 405, 415, 400 for a non-CMP body, 413 over
 * the body limit, GET /ca; and the total cap. */
Test(cab_srv, http_answers_and_limits)
{
	static char big[9000];
	char st[128], req[256];
	int fds[4];

	start_bridge((const char *const[]){"--max-body", "4096", "--max-conns", "4", NULL});
	raw("GET /nothing HTTP/1.1\r\nHost: ca\r\n\r\n", 0, st, sizeof(st));
	cr_expect_str_eq(st, "HTTP/1.1 404 Not Found");
	raw("PUT /cmp HTTP/1.1\r\nHost: ca\r\nContent-Length: 0\r\n\r\n", 0, st, sizeof(st));
	cr_expect_eq(strncmp(st, "HTTP/1.1 405", 12), 0, "%s", st);
	raw("POST /cmp HTTP/1.1\r\nHost: ca\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi", 0,
	    st, sizeof(st));
	cr_expect_eq(strncmp(st, "HTTP/1.1 415", 12), 0, "%s", st);
	raw("POST /cmp HTTP/1.1\r\nHost: ca\r\nContent-Type: application/pkixcmp\r\nContent-Length: 2\r\n\r\nhi",
	    0, st, sizeof(st));
	cr_expect_eq(strncmp(st, "HTTP/1.1 400", 12), 0, "%s", st);
	snprintf(req, sizeof(req),
		 "POST /cmp HTTP/1.1\r\nHost: ca\r\nContent-Type: application/pkixcmp\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 sizeof(big));
	memcpy(big, req, strlen(req));
	raw(big, sizeof(big), st, sizeof(st));
	cr_expect_eq(strncmp(st, "HTTP/1.1 413", 12), 0, "%s", st);
	raw("GET /ca HTTP/1.1\r\nHost: ca\r\n\r\n", 0, st, sizeof(st));
	cr_expect_eq(strncmp(st, "HTTP/1.1 200", 12), 0, "%s", st);
	/* 8 KiB of request head at most, as before */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /ca HTTP/1.1\r\nHost: ca\r\nX-Big: ", 35);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	raw(big, sizeof(big), st, sizeof(st));
	cr_expect_eq(strncmp(st, "HTTP/1.1 431", 12), 0, "%s", st);
	/* four open connections reach the total cap: the fifth is refused at once */
	for (int i = 0; i < 4; i++)
		fds[i] = dial("127.0.0.3");
	usleep(300 * 1000);
	raw("GET /ca HTTP/1.1\r\nHost: ca\r\n\r\n", 0, st, sizeof(st));
	cr_expect_eq(strncmp(st, "HTTP/1.1 503", 12), 0, "%s", st);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* ---- certConf / pkiConf (RFC 9483 4.1) with `openssl cmp` as the client ---------------- */

/* A CSR for a fresh token key with the qualified test subject, as PEM in dir/name. */
static void write_csr(const char *id, const char *path)
{
	struct cab_request req;
	struct cab_key k;
	struct cab_err err;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_REQ *x;
	FILE *f;

	cr_assert_eq(cab_keygen(t.cab, id, CAB_ALG_DEFAULT, &k, &err), 0, "%s", err.msg);
	ts_cab_request(&req, id, CAB_CLASS_QUALIFIED, id);
	cr_assert_eq(cab_csr(t.cab, id, &req.subject, &der, &len, &err), 0, "%s", err.msg);
	p = der;
	x = d2i_X509_REQ(NULL, &p, (long)len);
	cr_assert_not_null(x);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_X509_REQ(f, x), 1);
	fclose(f);
	X509_REQ_free(x);
	free(der);
	cab_key_free(&k);
}

/* `openssl cmp -cmd p10cr` against the bridge with extra options; its exit status. */
static int openssl_p10cr(const char *csr, const char *out, const char *extra, const char *log)
{
	char cmd[2048];
	int rc;

	snprintf(
		cmd, sizeof(cmd),
		"timeout 60 openssl cmp -cmd p10cr -server 127.0.0.1:%d -path cmp -ref ra-test -secret pass:%s "
		"-csr %s -certout %s %s >%s 2>&1",
		srv.port, SECRET, csr, out, extra, log);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

/* The revocation reason of x on the bridge's CRL (GET /crl through the cmp back-end), -1
 * when x is not on it. */
static int crl_reason(X509 *x)
{
	struct cab_err err;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl;
	X509_REVOKED *rev = NULL;
	int reason = -1;

	cr_assert_eq(cab_crl(t.cab, &der, &len, &err), 0, "%s", err.msg);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	cr_assert_not_null(crl);
	if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(x)) == 1) {
		ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);

		reason = e ? (int)ASN1_ENUMERATED_get(e) : 0;
		ASN1_ENUMERATED_free(e);
	}
	X509_CRL_free(crl);
	free(der);
	return reason;
}

static int log_has(const char *needle)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "grep -q -- '%s' %s", needle, log_path);
	return system(cmd) == 0;
}

/* openssl cmp without -implicit_confirm: certificate, certConf, pkiConf; exit 0; the
 * certificate is confirmed and stays valid after the confirmation timeout.  (The old server
 * answered the certConf with "unexpected pkibody" and the client failed.) */
Test(cab_srv, openssl_cmp_without_implicit_confirm_completes)
{
	char csr[400], out[400], olog[400];
	X509 *x;

	start_bridge((const char *const[]){"--default-class", "qualified", "--confirm-timeout", "2", NULL});
	snprintf(csr, sizeof(csr), "%s/conf.csr", t.dir);
	snprintf(out, sizeof(out), "%s/conf.pem", t.dir);
	snprintf(olog, sizeof(olog), "%s/openssl-conf.log", t.dir);
	write_csr("conf-1", csr);
	cr_assert_eq(openssl_p10cr(csr, out, "", olog), 0,
		     "openssl cmp without -implicit_confirm failed; see %s and %s", olog, log_path);
	x = read_cert(out);
	cr_assert_not_null(x, "no certificate from openssl cmp");
	cr_expect(log_has("event=confirmed"), "no confirmation in %s", log_path);
	sleep(4); /* past the confirmation timeout: a confirmed certificate is not swept */
	cr_expect_eq(crl_reason(x), -1, "a confirmed certificate was revoked");
	X509_free(x);
}

/* A client that never confirms (-disable_confirm), and one that rejects the certificate
 * (it does not validate against its -out_trusted): both certificates end up revoked with
 * cessationOfOperation, the first after the confirmation timeout, the second at once. */
Test(cab_srv, unconfirmed_and_rejected_certificates_are_revoked)
{
	char csr[400], out[400], olog[400], other[400], cmd[1200];
	X509 *x;
	int reason = -1;

	start_bridge((const char *const[]){"--default-class", "qualified", "--confirm-timeout", "2", NULL});
	snprintf(csr, sizeof(csr), "%s/unconf.csr", t.dir);
	snprintf(out, sizeof(out), "%s/unconf.pem", t.dir);
	snprintf(olog, sizeof(olog), "%s/openssl-unconf.log", t.dir);
	write_csr("unconf-1", csr);
	cr_assert_eq(openssl_p10cr(csr, out, "-disable_confirm", olog), 0, "see %s", olog);
	x = read_cert(out);
	cr_assert_not_null(x);
	for (int i = 0; i < 60 && reason < 0; i++) {
		usleep(500 * 1000);
		reason = crl_reason(x);
	}
	cr_expect_eq(reason, CAB_REASON_CESSATION_OF_OPERATION, "unconfirmed certificate: reason %d", reason);
	cr_expect(log_has("why=confirm_timeout"), "no timeout revocation in %s", log_path);

	snprintf(other, sizeof(other), "%s/other-ca.pem", t.dir);
	snprintf(
		cmd, sizeof(cmd),
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=Other -days 1 "
		"-keyout %s/other.key -out %s >/dev/null 2>&1",
		t.dir, other);
	cr_assert_eq(system(cmd), 0);
	snprintf(csr, sizeof(csr), "%s/rej.csr", t.dir);
	snprintf(out, sizeof(out), "%s/rej.pem", t.dir);
	snprintf(olog, sizeof(olog), "%s/openssl-rej.log", t.dir);
	write_csr("rej-1", csr);
	snprintf(cmd, sizeof(cmd), "-out_trusted %s", other);
	cr_expect_neq(openssl_p10cr(csr, out, cmd, olog), 0,
		      "the client accepted a certificate it cannot validate");
	cr_expect(log_has("why=rejected_by_client"), "no rejection revocation in %s (client: %s)", log_path,
		  olog);
	X509_free(x);
}

/* A full confirmation store (--max-pending 1) refuses the next request that would wait for
 * certConf, before anything is issued; a request asking for implicit confirmation is still
 * served.  The waiting certificate goes when ca-bridge stops (SIGTERM), as documented. */
Test(cab_srv, full_confirmation_store_refuses_before_issuing)
{
	char csr[400], out[400], olog[400];
	X509 *x;

	start_bridge((const char *const[]){"--default-class", "qualified", "--max-pending", "1", NULL});
	snprintf(csr, sizeof(csr), "%s/p1.csr", t.dir);
	snprintf(out, sizeof(out), "%s/p1.pem", t.dir);
	snprintf(olog, sizeof(olog), "%s/openssl-p1.log", t.dir);
	write_csr("p-1", csr);
	cr_assert_eq(openssl_p10cr(csr, out, "-disable_confirm", olog), 0, "see %s", olog);
	x = read_cert(out);
	cr_assert_not_null(x);
	snprintf(csr, sizeof(csr), "%s/p2.csr", t.dir);
	snprintf(out, sizeof(out), "%s/p2.pem", t.dir);
	snprintf(olog, sizeof(olog), "%s/openssl-p2.log", t.dir);
	write_csr("p-2", csr);
	cr_expect_neq(openssl_p10cr(csr, out, "-disable_confirm", olog), 0,
		      "a second unconfirmed transaction was served");
	cr_expect(log_has("reason=confirmations_full"), "no refusal in %s", log_path);
	cr_expect_eq(access(out, F_OK), -1, "a certificate came out of the refused request");
	snprintf(out, sizeof(out), "%s/p3.pem", t.dir);
	snprintf(olog, sizeof(olog), "%s/openssl-p3.log", t.dir);
	cr_expect_eq(openssl_p10cr(csr, out, "-implicit_confirm", olog), 0,
		     "implicit confirmation refused; see %s", olog);
	cr_expect_eq(crl_reason(x), -1, "revoked before its timeout");
	cr_expect_eq(ts_proc_stop(&srv), 0, "ca-bridge did not exit cleanly; see %s", log_path);
	cr_expect(log_has("why=shutdown"), "the waiting certificate was not revoked at shutdown; see %s",
		  log_path);
	X509_free(x);
}

/* `openssl cmp` as the client while 64 slow clients trickle from the same address: its
 * P10CR and its certConf (two connections) both get through. */
Test(cab_srv, openssl_cmp_during_slow_clients)
{
	char csr[400], out[400], olog[400];
	struct slow sl;

	start_bridge((const char *const[]){"--default-class", "qualified", "--request-timeout", "60",
					   "--max-conns-per-addr", "100", NULL});
	snprintf(csr, sizeof(csr), "%s/slow.csr", t.dir);
	snprintf(out, sizeof(out), "%s/slow.pem", t.dir);
	snprintf(olog, sizeof(olog), "%s/openssl-slow.log", t.dir);
	write_csr("slow-4", csr);
	slow_start(&sl, "127.0.0.1");
	cr_expect_eq(openssl_p10cr(csr, out, "", olog), 0,
		     "openssl cmp during the slow clients; see %s and %s", olog, log_path);
	cr_expect(log_has("event=confirmed"), "no confirmation in %s", log_path);
	slow_stop(&sl);
}

/* The client's transfer: before its real certConf, a copy with a broken MAC goes out (what
 * someone who saw the transactionID could send).  That copy must change nothing: the real
 * certConf still confirms, and nothing is revoked. */
static int forged_sent;

static OSSL_CMP_MSG *forge_then_send(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n;

	if (OSSL_CMP_MSG_get_bodytype(req) == 24 /* certConf */ && (n = i2d_OSSL_CMP_MSG(req, &der)) > 0) {
		OSSL_CMP_MSG *forged, *rsp;

		der[n - 1] ^= 0x55; /* the last byte is the protection's (the MAC's) */
		p = der;
		forged = d2i_OSSL_CMP_MSG(NULL, &p, n);
		cr_assert_not_null(forged);
		rsp = OSSL_CMP_MSG_http_perform(ctx, forged);
		cr_expect_not_null(rsp, "no answer to the forged certConf");
		cr_expect_neq(OSSL_CMP_MSG_get_bodytype(rsp), 19 /* pkiConf */,
			      "the forged certConf was accepted");
		OSSL_CMP_MSG_free(rsp);
		OSSL_CMP_MSG_free(forged);
		OPENSSL_free(der);
		forged_sent = 1;
	}
	return OSSL_CMP_MSG_http_perform(ctx, req);
}

Test(cab_srv, forged_cert_conf_changes_nothing)
{
	char csr[400], port[16];
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	X509_REQ *req;
	X509 *x;
	FILE *f;

	start_bridge((const char *const[]){"--default-class", "qualified", NULL});
	snprintf(csr, sizeof(csr), "%s/forge.csr", t.dir);
	write_csr("forge-1", csr);
	f = fopen(csr, "r");
	cr_assert_not_null(f);
	req = PEM_read_X509_REQ(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(port, sizeof(port), "%d", srv.port);
	cr_assert(ctx != NULL && req != NULL);
	cr_assert(OSSL_CMP_CTX_set1_server(ctx, "127.0.0.1") && OSSL_CMP_CTX_set_serverPort(ctx, srv.port) &&
		  OSSL_CMP_CTX_set1_serverPath(ctx, "cmp") &&
		  OSSL_CMP_CTX_set1_secretValue(ctx, (const unsigned char *)SECRET, (int)strlen(SECRET)) &&
		  OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)"ra-test", 7) &&
		  OSSL_CMP_CTX_set1_p10CSR(ctx, req) && OSSL_CMP_CTX_set_transfer_cb(ctx, forge_then_send) &&
		  OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT, 20));
	x = OSSL_CMP_exec_P10CR_ses(ctx);
	cr_expect_not_null(x, "the enrolment failed after a forged certConf; see %s", log_path);
	cr_expect(forged_sent, "no certConf was sent");
	cr_expect(log_has("event=cert_conf_ignored"), "the forged certConf was not told apart; see %s",
		  log_path);
	cr_expect(log_has("event=confirmed"), "no confirmation; see %s", log_path);
	cr_expect(!log_has("unconfirmed_revoked"), "a certificate was revoked; see %s", log_path);
	if (x != NULL)
		cr_expect_eq(crl_reason(x), -1);
	OSSL_CMP_CTX_free(ctx);
	X509_REQ_free(req);
}
