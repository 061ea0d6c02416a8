/*
 * test_httpc.c - the async HTTP/SMTP client (ra/httpc.h) on a real libuv loop against the
 * real test peers (tests/peers: SMS gateway, SMTP sink), plus sockets of our own for a
 * refused and a silent peer.  Every test ends with httpc_free and uv_loop_close == 0, so a
 * handle left open or a callback missing fails the test.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "ra/net/httpc.h"
#include "tests/lib/rt.h"
#include "tests/lib/ts_peers.h"

#define TOKEN "sms-test-token-7f3a"

/* ---- peers: started and stopped through tests/lib/peers.sh --------------------------- */

static char peer_dir[512];

/* Starts peer `name` with extra args; returns its port. */
static int peer_start(const char *name, const char *a1, const char *a2)
{
	const char *extra[] = {a1, a2, NULL};

	if (peer_dir[0] == '\0') {
		char *d = rt_tmpdir();

		snprintf(peer_dir, sizeof(peer_dir), "%s", d);
		free(d);
	}
	return ts_peer_start(peer_dir, name, extra);
}

static void peers_stop(void)
{
	if (peer_dir[0])
		ts_peer_stop_all(peer_dir);
}

TestSuite(httpc, .fini = peers_stop, .timeout = 60);

/* ---- the loop and a callback that records what it got ------------------------------- */

struct got {
	int calls;
	int sync; /* set while the starting call runs: a callback then is a bug */
	long status;
	char *body;
	int len_ok; /* body NUL-terminated at len */
	int code;
	char msg[256];
};

static void on_done(const struct httpc_resp *r, const struct ra_err *e, void *data)
{
	struct got *g = data;

	cr_assert_not_null(r);
	cr_assert_eq(g->sync, 0, "callback ran inside the starting call");
	g->calls++;
	g->status = r->status;
	free(g->body);
	g->body = strndup(r->body, r->len);
	g->len_ok = strlen(r->body) == r->len && r->body[r->len] == '\0';
	g->code = e ? e->code : 0;
	snprintf(g->msg, sizeof(g->msg), "%s", e ? e->msg : "");
}

struct env {
	uv_loop_t loop;
	struct httpc *c;
};

static void env_open(struct env *v)
{
	cr_assert_eq(uv_loop_init(&v->loop), 0);
	v->c = httpc_new(&v->loop);
	cr_assert_not_null(v->c);
}

/* Frees the client and checks every uv handle it had was closed. */
static void env_close(struct env *v)
{
	if (v->c)
		httpc_free(v->c);
	uv_run(&v->loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&v->loop), 0, "a uv handle was left open");
}

static void request(struct env *v, struct got *g, const char *method, const char *url, const char *const *hdr,
		    const char *body, long timeout_ms)
{
	g->sync = 1;
	cr_assert_eq(
		httpc_request(v->c, method, url, hdr, body, body ? strlen(body) : 0, timeout_ms, on_done, g),
		0);
	g->sync = 0;
	cr_assert_eq(g->calls, 0);
}

static json_t *peer_json(int port, const char *path)
{
	char url[128];
	struct rt_resp r = {0};
	json_t *j;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	cr_assert_eq(rt_http("GET", url, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	cr_assert_not_null(j);
	rt_resp_free(&r);
	return j;
}

static const char *const sms_headers[] = {"Authorization: Bearer " TOKEN, "Content-Type: application/json",
					  NULL};

/* ---- HTTP ---------------------------------------------------------------------------- */

Test(httpc, post_json_with_bearer_token_is_accepted_and_recorded)
{
	struct env v;
	struct got g = {0};
	char url[128];
	int port = peer_start("sms", "--token", TOKEN);
	json_t *msgs;

	env_open(&v);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/send", port);
	request(&v, &g, "POST", url, sms_headers, "{\"to\":\"+436641234567\",\"text\":\"Ihr Code: 4711\"}",
		5000);
	cr_assert_eq(httpc_inflight(v.c), 1);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	cr_assert_eq(g.calls, 1);
	cr_assert_eq(g.code, 0, "%s", g.msg);
	cr_assert_eq(g.status, 200);
	cr_assert(strstr(g.body, "\"sms-1\"") != NULL, "%s", g.body);
	cr_assert_eq(httpc_inflight(v.c), 0);
	msgs = peer_json(port, "/_control/messages");
	cr_assert_eq(json_array_size(msgs), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 0), "to")), "+436641234567");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 0), "text")),
			 "Ihr Code: 4711");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 0), "path")), "/send");
	json_decref(msgs);
	free(g.body);
	env_close(&v);
}

Test(httpc, wrong_token_is_a_normal_401_response)
{
	static const char *const bad[] = {"Authorization: Bearer wrong", "Content-Type: application/json",
					  NULL};
	struct env v;
	struct got g = {0};
	char url[128];
	int port = peer_start("sms", "--token", TOKEN);
	json_t *msgs;

	env_open(&v);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/send", port);
	request(&v, &g, "POST", url, bad, "{\"to\":\"+436641234567\",\"text\":\"x\"}", 5000);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	cr_assert_eq(g.calls, 1);
	cr_assert_eq(g.code, 0, "a 401 is a response, not a transport error: %s", g.msg);
	cr_assert_eq(g.status, 401);
	cr_assert(strstr(g.body, "unauthorized") != NULL, "%s", g.body);
	msgs = peer_json(port, "/_control/messages");
	cr_assert_eq(json_array_size(msgs), 0);
	json_decref(msgs);
	free(g.body);
	env_close(&v);
}

/* A port nobody listens on: bound once by us to get a free number, then closed. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A peer that accepts connections (the kernel does) and never answers. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

Test(httpc, connection_refused_is_unavailable)
{
	struct env v;
	struct got g = {0};
	char url[128];

	env_open(&v);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/send", closed_port());
	request(&v, &g, "GET", url, NULL, NULL, 5000);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	cr_assert_eq(g.calls, 1);
	cr_assert_eq(g.code, RA_E_UNAVAILABLE, "code %d: %s", g.code, g.msg);
	cr_assert_eq(g.status, 0);
	free(g.body);
	env_close(&v);
}

Test(httpc, silent_peer_times_out_after_timeout_ms)
{
	struct env v;
	struct got g = {0};
	char url[128];
	int port, fd = silent_listener(&port);
	uint64_t t0, ms;

	env_open(&v);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	t0 = uv_hrtime();
	request(&v, &g, "GET", url, NULL, NULL, 300);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	ms = (uv_hrtime() - t0) / 1000000;
	cr_assert_eq(g.calls, 1);
	cr_assert_eq(g.code, RA_E_TIMEOUT, "code %d: %s", g.code, g.msg);
	cr_assert(ms >= 290 && ms < 3000, "took %llu ms", (unsigned long long)ms);
	free(g.body);
	env_close(&v);
	close(fd);
}

Test(httpc, fifty_concurrent_requests_all_complete)
{
	enum { N = 50 };
	struct env v;
	struct got g[N];
	char url[128], body[128];
	int port = peer_start("sms", "--token", TOKEN);
	int seen[N] = {0};
	json_t *msgs, *m;
	size_t i;

	memset(g, 0, sizeof(g));
	env_open(&v);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/send", port);
	for (i = 0; i < N; i++) {
		snprintf(body, sizeof(body), "{\"to\":\"+43664%07zu\",\"text\":\"msg %zu\"}", i, i);
		request(&v, &g[i], "POST", url, sms_headers, body, 20000);
	}
	cr_assert_eq(httpc_inflight(v.c), N);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	for (i = 0; i < N; i++) {
		cr_assert_eq(g[i].calls, 1, "request %zu", i);
		cr_assert_eq(g[i].code, 0, "request %zu: %s", i, g[i].msg);
		cr_assert_eq(g[i].status, 200, "request %zu", i);
		free(g[i].body);
	}
	cr_assert_eq(httpc_inflight(v.c), 0);
	msgs = peer_json(port, "/_control/messages");
	cr_assert_eq(json_array_size(msgs), N);
	json_array_foreach (msgs, i, m) {
		unsigned k;

		cr_assert_eq(sscanf(json_string_value(json_object_get(m, "text")), "msg %u", &k), 1);
		cr_assert_lt(k, N);
		seen[k]++;
	}
	for (i = 0; i < N; i++)
		cr_assert_eq(seen[i], 1, "message %zu arrived %d times", i, seen[i]);
	json_decref(msgs);
	env_close(&v);
}

Test(httpc, header_with_crlf_is_refused_asynchronously)
{
	static const char *const evil[] = {"X-Note: a\r\nAuthorization: Bearer " TOKEN, NULL};
	struct env v;
	struct got g = {0};
	char url[128];
	int port = peer_start("sms", "--token", TOKEN);
	json_t *reqs;

	env_open(&v);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/send", port);
	request(&v, &g, "POST", url, evil, "{}", 5000);
	cr_assert_eq(httpc_inflight(v.c), 1);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	cr_assert_eq(g.calls, 1);
	cr_assert_eq(g.code, RA_E_INVALID, "code %d: %s", g.code, g.msg);
	reqs = peer_json(port, "/_control/requests");
	cr_assert_eq(json_array_size(reqs), 0, "nothing may reach the peer");
	json_decref(reqs);
	free(g.body);
	env_close(&v);
}

static void free_client(uv_timer_t *t)
{
	struct env *v = t->data;

	httpc_free(v->c);
	v->c = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

Test(httpc, free_cancels_inflight_transfers_with_unavailable)
{
	struct env v;
	struct got g = {0};
	char url[128];
	int port, fd = silent_listener(&port);
	uv_timer_t t;

	env_open(&v);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	request(&v, &g, "GET", url, NULL, NULL, 30000);
	uv_timer_init(&v.loop, &t);
	t.data = &v;
	uv_timer_start(&t, free_client, 100, 0);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	cr_assert_eq(g.calls, 1);
	cr_assert_eq(g.code, RA_E_UNAVAILABLE);
	cr_assert_str_eq(g.msg, "cancelled");
	free(g.body);
	env_close(&v);
	close(fd);
}

struct two {
	struct env *v;
	struct got first, second;
};

static void first_done_frees_client(const struct httpc_resp *r, const struct ra_err *e, void *data)
{
	struct two *t = data;

	on_done(r, e, &t->first);
	httpc_free(t->v->c);
	t->v->c = NULL;
	cr_assert_eq(t->second.calls, 0, "the rest is cancelled after this callback returns");
}

Test(httpc, free_inside_a_callback_is_safe_and_cancels_the_rest)
{
	struct env v;
	struct two t = {.v = &v};
	char refused[128], silent[128];
	int port, fd = silent_listener(&port);

	env_open(&v);
	snprintf(refused, sizeof(refused), "http://127.0.0.1:%d/", closed_port());
	snprintf(silent, sizeof(silent), "http://127.0.0.1:%d/", port);
	cr_assert_eq(httpc_request(v.c, "GET", silent, NULL, NULL, 0, 30000, on_done, &t.second), 0);
	cr_assert_eq(httpc_request(v.c, "GET", refused, NULL, NULL, 0, 30000, first_done_frees_client, &t),
		     0);
	uv_run(&v.loop, UV_RUN_DEFAULT);
	cr_assert_eq(t.first.calls, 1);
	cr_assert_eq(t.first.code, RA_E_UNAVAILABLE);
	cr_assert_eq(t.second.calls, 1);
	cr_assert_str_eq(t.second.msg, "cancelled");
	free(t.first.body);
	free(t.second.body);
	env_close(&v);
	close(fd);
}

/* A one-shot HTTP server on the test's loop that answers every connection with a body of
 * `size` bytes, with or without Content-Length (then the end is the connection's close). */
struct big {
	uv_tcp_t srv;
	size_t size;
	int with_length;
};

static void on_client_closed(uv_handle_t *h)
{
	free(h);
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
	static char sink[4096];

	(void)h;
	(void)n;
	*buf = uv_buf_init(sink, sizeof(sink));
}

/* Closed only once the client has gone: closing with its request unread would send a reset
 * and destroy the response still in flight. */
static void on_discard(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n < 0)
		uv_close((uv_handle_t *)s, on_client_closed);
}

static void on_big_shut(uv_shutdown_t *sh, int status)
{
	(void)status;
	free(sh);
}

static void on_big_written(uv_write_t *w, int status)
{
	uv_shutdown_t *sh = malloc(sizeof(*sh));

	free(w->data);
	if (status == 0 && uv_shutdown(sh, w->handle, on_big_shut) == 0)
		sh = NULL;
	free(sh);
	free(w);
}

static void on_big_conn(uv_stream_t *srv, int status)
{
	struct big *b = srv->data;
	uv_tcp_t *cl = malloc(sizeof(*cl));
	uv_write_t *w = malloc(sizeof(*w));
	char *p = malloc(b->size + 128);
	int hl;
	uv_buf_t buf;

	cr_assert_eq(status, 0);
	uv_tcp_init(srv->loop, cl);
	cr_assert_eq(uv_accept(srv, (uv_stream_t *)cl), 0);
	uv_read_start((uv_stream_t *)cl, on_alloc, on_discard);
	if (b->with_length)
		hl = sprintf(p, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", b->size);
	else
		hl = sprintf(p, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
	memset(p + hl, 'x', b->size);
	buf = uv_buf_init(p, (unsigned)(hl + (int)b->size));
	w->data = p;
	uv_write(w, (uv_stream_t *)cl, &buf, 1, on_big_written);
}

static void big_start(struct env *v, struct big *b, char *url, size_t cap)
{
	struct sockaddr_in a;
	int al = sizeof(a);

	uv_ip4_addr("127.0.0.1", 0, &a);
	uv_tcp_init(&v->loop, &b->srv);
	b->srv.data = b;
	cr_assert_eq(uv_tcp_bind(&b->srv, (struct sockaddr *)&a, 0), 0);
	cr_assert_eq(uv_listen((uv_stream_t *)&b->srv, 16, on_big_conn), 0);
	uv_tcp_getsockname(&b->srv, (struct sockaddr *)&a, &al);
	snprintf(url, cap, "http://127.0.0.1:%d/big", ntohs(a.sin_port));
}

static void big_case(size_t size, int with_length, int want_code)
{
	struct env v;
	struct big b = {.size = size, .with_length = with_length};
	struct got g = {0};
	char url[128];

	env_open(&v);
	big_start(&v, &b, url, sizeof(url));
	request(&v, &g, "GET", url, NULL, NULL, 10000);
	while (g.calls == 0)
		uv_run(&v.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&b.srv, NULL);
	cr_assert_eq(g.code, want_code, "size %zu, length %d: code %d %s", size, with_length, g.code, g.msg);
	if (want_code == 0)
		cr_assert_eq(g.len_ok, 1);
	free(g.body);
	env_close(&v);
}

Test(httpc, response_body_over_one_mib_is_too_large)
{
	big_case(HTTPC_MAX_BODY, 1, 0);
	big_case(HTTPC_MAX_BODY + 1, 1, RA_E_TOOLARGE);
	big_case(2 * HTTPC_MAX_BODY, 0, RA_E_TOOLARGE);
}

/* ---- SMTP ---------------------------------------------------------------------------- */

/* The only .eml in dir (caller frees), or NULL. */
static char *find_eml(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *path = NULL;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l > 4 && !strcmp(e->d_name + l - 4, ".eml") && e->d_name[0] != '.') {
			free(path);
			cr_assert(asprintf(&path, "%s/%s", dir, e->d_name) > 0);
			n++;
		}
	}
	closedir(d);
	cr_assert_leq(n, 1, "more than one mail arrived");
	return path;
}

/* Subject and body as Python's email package decodes them: an independent MIME reader. */
static char *decode_with_python(const char *eml)
{
	static const char prog[] =
		"import sys, email, email.policy\n"
		"m = email.message_from_binary_file(open(sys.argv[1], 'rb'), "
		"policy=email.policy.default)\n"
		"sys.stdout.buffer.write((m['subject'] + '|' + m.get_content()).encode())\n";
	const char *argv[] = {"python3", "-c", prog, eml, NULL};
	char buf[4096];
	size_t n = 0;
	ssize_t got;
	int fds[2], st;
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	while ((got = read(fds[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)got;
	buf[n] = '\0';
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python could not parse the mail");
	return strdup(buf);
}

static void send_mail(struct env *v, struct got *g, const struct httpc_mail *m)
{
	g->sync = 1;
	cr_assert_eq(httpc_send_mail(v->c, m, m ? 10000 : 0, on_done, g), 0);
	g->sync = 0;
	uv_run(&v->loop, UV_RUN_DEFAULT);
	cr_assert_eq(g->calls, 1);
}

Test(httpc, mail_arrives_in_sink_with_utf8_subject_encoded)
{
	const char *subject = "Ihr qualifiziertes Zertifikat – Bestätigung für Jürgen Öztürk (Auftrag 4711)";
	const char *body =
		"Grüß Gott,\n\nIhr Zertifikat ist bereit. Diese Zeile ist absichtlich sehr lang, "
		"damit quoted-printable sie weich umbrechen muss: äöüß äöüß äöüß äöüß äöüß.\n"
		"= Gleichheitszeichen und Leerzeichen am Ende \n.\nEnde\n";
	char *dir = rt_tmpdir();
	int port = peer_start("mail", "--dir", dir);
	struct env v;
	struct got g = {0};
	char url[64], *msg, *eml, *raw, *decoded, *expect;
	/* the sink speaks plain SMTP: smtp.tls none, as a local relay would be configured */
	struct httpc_mail m = {
		.url = url, .tls = HTTPC_TLS_NONE, .from = "ra@trust.example", .to = "kunde@example.org"};

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	msg = httpc_mail_compose("RA <ra@trust.example>", "kunde@example.org", subject, body);
	cr_assert_not_null(msg);
	m.message = msg;
	env_open(&v);
	send_mail(&v, &g, &m);
	cr_assert_eq(g.code, 0, "%s", g.msg);
	cr_assert_eq(g.status, 250);
	eml = find_eml(dir);
	cr_assert_not_null(eml, "no .eml in the sink's folder");
	raw = rt_read_file(eml, NULL);
	cr_assert(strstr(raw, "X-Envelope-From: <ra@trust.example>\r\n") != NULL, "%s", raw);
	cr_assert(strstr(raw, "X-Envelope-To: <kunde@example.org>\r\n") != NULL, "%s", raw);
	cr_assert(strstr(raw, "Subject: =?UTF-8?B?") != NULL, "subject not RFC 2047 encoded: %s", raw);
	decoded = decode_with_python(eml);
	cr_assert(asprintf(&expect, "%s|%s", subject, body) > 0);
	cr_assert_str_eq(decoded, expect);
	free(expect);
	free(decoded);
	free(raw);
	free(eml);
	free(msg);
	free(g.body);
	free(dir);
	env_close(&v);
}

/*
 * The sink offers no STARTTLS: with a user and password configured the RA must not fall back
 * to clear text (a stripping attacker looks just like this), so nothing is sent and the
 * error says why.
 */
Test(httpc, mail_with_credentials_is_refused_without_starttls_and_nothing_sent)
{
	char *dir = rt_tmpdir();
	int port = peer_start("mail", "--dir", dir);
	struct env v;
	struct got g = {0};
	char url[64], *msg;
	struct httpc_mail m = {.url = url,
			       .user = "ra",
			       .password = "s3cret",
			       .from = "ra@trust.example",
			       .to = "ops@trust.example"};

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	msg = httpc_mail_compose("ra@trust.example", "ops@trust.example", "Plain subject", "Hello\n");
	cr_assert_not_null(msg);
	m.message = msg;
	env_open(&v);
	send_mail(&v, &g, &m);
	cr_assert_eq(g.code, RA_E_CONFIG, "code %d: %s", g.code, g.msg);
	cr_assert(strstr(g.msg, "STARTTLS") != NULL, "%s", g.msg);
	cr_assert(strstr(g.msg, "s3cret") == NULL, "password in the error: %s", g.msg);
	cr_assert_null(find_eml(dir), "mail sent without TLS despite credentials");
	free(msg);
	free(g.body);
	free(dir);
	env_close(&v);
}

/*
 * Issue #20: without credentials STARTTLS used to be opportunistic (CURLUSESSL_TRY), so a
 * stripping attacker read every mail.  smtp.tls defaults to required: a server without
 * STARTTLS gets nothing; opportunistic (configured) still delivers to it.
 */
static int mail_plain_sink(enum httpc_mail_tls tls, struct got *g)
{
	char *dir = rt_tmpdir();
	int port = peer_start("mail", "--dir", dir);
	struct env v;
	char url[64], *msg, *eml;
	struct httpc_mail m = {.url = url, .tls = tls, .from = "ra@trust.example", .to = "ops@trust.example"};

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	msg = httpc_mail_compose("ra@trust.example", "ops@trust.example", "Plain subject", "Hello\n");
	cr_assert_not_null(msg);
	m.message = msg;
	env_open(&v);
	send_mail(&v, g, &m);
	eml = find_eml(dir);
	free(eml);
	free(msg);
	free(dir);
	env_close(&v);
	return eml != NULL;
}

Test(httpc, mail_without_credentials_needs_starttls_by_default_and_nothing_is_sent)
{
	struct got g = {0};

	cr_expect_eq(httpc_mail_tls_mode(NULL), HTTPC_TLS_REQUIRED);
	cr_expect_eq(httpc_mail_tls_mode("required"), HTTPC_TLS_REQUIRED);
	cr_expect_eq(httpc_mail_tls_mode("opportunistic"), HTTPC_TLS_OPPORTUNISTIC);
	cr_expect_eq(httpc_mail_tls_mode("none"), HTTPC_TLS_NONE);
	cr_expect_not(mail_plain_sink(HTTPC_TLS_REQUIRED, &g),
		      "mail sent in clear text with smtp.tls required");
	cr_expect_eq(g.code, RA_E_CONFIG, "code %d: %s", g.code, g.msg);
	cr_expect(strstr(g.msg, "STARTTLS") != NULL, "%s", g.msg);
	free(g.body);
	memset(&g, 0, sizeof(g));
	cr_expect(mail_plain_sink(HTTPC_TLS_OPPORTUNISTIC, &g),
		  "opportunistic delivers to a plain server: %s", g.msg);
	cr_expect_eq(g.code, 0, "%s", g.msg);
	free(g.body);
}

Test(httpc, envelope_address_with_crlf_is_refused_and_nothing_sent)
{
	char *dir = rt_tmpdir();
	int port = peer_start("mail", "--dir", dir);
	struct env v;
	struct got g = {0};
	char url[64];
	struct httpc_mail m = {.url = url,
			       .from = "ra@trust.example",
			       .to = "a@example.org>\r\nRCPT TO:<b@evil.example",
			       .message = "Subject: x\r\n\r\nx\r\n"};

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	env_open(&v);
	send_mail(&v, &g, &m);
	cr_assert_eq(g.code, RA_E_INVALID, "code %d: %s", g.code, g.msg);
	cr_assert_null(find_eml(dir));
	free(g.body);
	free(dir);
	env_close(&v);
}

Test(httpc, mail_to_refused_port_is_unavailable)
{
	struct env v;
	struct got g = {0};
	char url[64];
	struct httpc_mail m = {.url = url,
			       .from = "ra@trust.example",
			       .to = "a@example.org",
			       .message = "Subject: x\r\n\r\nx\r\n"};

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", closed_port());
	env_open(&v);
	send_mail(&v, &g, &m);
	cr_assert_eq(g.code, RA_E_UNAVAILABLE, "code %d: %s", g.code, g.msg);
	free(g.body);
	env_close(&v);
}
