/*
 * srv_http.c - the ca-bridge server's HTTP/1.1 listener (RFC 6712, CMP over HTTP): one
 * request per connection, a thread per connection (the local CA is thread-safe; each request
 * gets its own CMP context), TCP_NODELAY, timeouts on every socket, bounded sizes.
 *
 *   POST <any path>, Content-Type application/pkixcmp   a CMP message -> the answer
 *   GET /crl                                           the CA's current CRL (DER)
 *   GET /ca                                            the CA certificate (PEM): cmp.trusted
 *
 * Plain HTTP on purpose: CMP messages carry their own protection (PBM or signature), and
 * the listener is meant for loopback or a private link (docs/ca-bridge.md).
 */
#include "ca-bridge/srv/srv_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEAD 8192
#define MAX_BODY (1u << 20)
#define IO_TIMEOUT_S 30
#define MAX_CONNS 64

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_done = PTHREAD_COND_INITIALIZER;
static int conns;

void cab_srv_log(const char *level, const char *event, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "ca-bridge: level=%s event=%s ", level, event);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}

int cab_srv_listen(const char *addr, int *fd, char *bound, size_t cap)
{
	char host[256], port[16];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, s = -1;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	snprintf(port, sizeof(port), "%s", colon + 1);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai) != 0)
		return -1;
	s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(s, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s, 64) != 0 ||
	    getsockname(s, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		if (s >= 0)
			close(s);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	snprintf(bound, cap, "%s:%s", host, port);
	*fd = s;
	return 0;
}

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void reply(int fd, int status, const char *reason, const char *type, const void *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
			 "Cache-Control: no-store\r\n\r\n",
			 status, reason, type, len);

	if (send_all(fd, head, (size_t)n) == 0 && len > 0)
		send_all(fd, body, len);
}

static void reply_text(int fd, int status, const char *reason)
{
	reply(fd, status, reason, "text/plain", reason, strlen(reason));
}

/* The value of header name in head (NUL-terminated, lines end in \r\n), or NULL. */
static const char *header(const char *head, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line != NULL && line[2] != '\0'; line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2, *end = strstr(h, "\r\n");

		if (end == NULL || strncasecmp(h, name, nlen) != 0 || h[nlen] != ':')
			continue;
		h += nlen + 1;
		while (*h == ' ' || *h == '\t')
			h++;
		snprintf(out, cap, "%.*s", (int)(end - h), h);
		return out;
	}
	return NULL;
}

/* Reads the head (up to the blank line); body bytes read with it go to body. */
static int read_head(int fd, char *head, size_t cap, size_t *headlen, unsigned char *body, size_t *got)
{
	size_t len = 0;
	char *end;

	for (;;) {
		ssize_t n = recv(fd, head + len, cap - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		head[len] = '\0';
		if ((end = strstr(head, "\r\n\r\n")) != NULL)
			break;
		if (len >= cap - 1)
			return -2;
	}
	*headlen = (size_t)(end + 4 - head);
	*got = len - *headlen;
	if (*got > MAX_BODY)
		return -2;
	memcpy(body, head + *headlen, *got);
	head[*headlen] = '\0';
	return 0;
}

static void on_post(struct cab_srv *s, int fd, const char *head, unsigned char *body, size_t got)
{
	char val[128];
	unsigned char *rsp = NULL;
	size_t rlen = 0, want;
	char *end;

	if (header(head, "Content-Type", val, sizeof(val)) == NULL || strncasecmp(val, "application/pkixcmp", 19) != 0) {
		reply_text(fd, 415, "Unsupported Media Type");
		return;
	}
	if (header(head, "Transfer-Encoding", val, sizeof(val)) != NULL) {
		reply_text(fd, 411, "Length Required");
		return;
	}
	if (header(head, "Content-Length", val, sizeof(val)) == NULL) {
		reply_text(fd, 411, "Length Required");
		return;
	}
	want = strtoul(val, &end, 10);
	if (end == val || *end != '\0' || want > MAX_BODY) {
		reply_text(fd, 413, "Content Too Large");
		return;
	}
	while (got < want) {
		ssize_t n = recv(fd, body + got, want - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		got += (size_t)n;
	}
	if (got != want || cab_srv_cmp(s, body, want, &rsp, &rlen) != 0) {
		reply_text(fd, 400, "Bad Request");
		return;
	}
	reply(fd, 200, "OK", "application/pkixcmp", rsp, rlen);
	OPENSSL_free(rsp);
}

static void on_get(struct cab_srv *s, int fd, const char *path)
{
	struct cab_err err = { 0 };
	unsigned char *der = NULL;
	char *pem = NULL;
	size_t len = 0;

	if (strcmp(path, "/crl") == 0) {
		if (cab_crl(s->cab, &der, &len, &err) != 0) {
			reply_text(fd, 503, "Service Unavailable");
			return;
		}
		reply(fd, 200, "OK", "application/pkix-crl", der, len);
		free(der);
	} else if (strcmp(path, "/ca") == 0) {
		if (cab_chain_pem(s->cab, &pem, &err) != 0) {
			reply_text(fd, 503, "Service Unavailable");
			return;
		}
		reply(fd, 200, "OK", "application/pem-certificate-chain", pem, strlen(pem));
		free(pem);
	} else {
		reply_text(fd, 404, "Not Found");
	}
}

struct conn {
	struct cab_srv *s;
	int fd;
};

static void serve_one(struct cab_srv *s, int fd)
{
	char *head = malloc(MAX_HEAD), method[8], path[256];
	unsigned char *body = malloc(MAX_BODY + MAX_HEAD);
	size_t headlen = 0, got = 0;
	int rc;

	if (head == NULL || body == NULL) {
		reply_text(fd, 503, "Service Unavailable");
		goto out;
	}
	rc = read_head(fd, head, MAX_HEAD, &headlen, body, &got);
	if (rc == -2)
		reply_text(fd, 431, "Request Header Fields Too Large");
	if (rc != 0)
		goto out;
	if (sscanf(head, "%7s %255s HTTP/1.", method, path) != 2) {
		reply_text(fd, 400, "Bad Request");
		goto out;
	}
	if (strcmp(method, "POST") == 0)
		on_post(s, fd, head, body, got);
	else if (strcmp(method, "GET") == 0)
		on_get(s, fd, path);
	else
		reply_text(fd, 405, "Method Not Allowed");
out:
	free(head);
	free(body);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	serve_one(c->s, c->fd);
	shutdown(c->fd, SHUT_WR);
	close(c->fd);
	free(c);
	/* OpenSSL's per-thread state now, not in a thread-exit handler the drain cannot wait for */
	OPENSSL_thread_stop();
	pthread_mutex_lock(&conns_lock);
	if (--conns == 0)
		pthread_cond_signal(&conns_done);
	pthread_mutex_unlock(&conns_lock);
	return NULL;
}

static void start_conn(struct cab_srv *s, int fd)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int one = 1, busy;
	struct conn *c = NULL;
	pthread_t th;
	pthread_attr_t attr;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&conns_lock);
	busy = conns >= MAX_CONNS;
	if (!busy)
		conns++;
	pthread_mutex_unlock(&conns_lock);
	if (busy || (c = malloc(sizeof(*c))) == NULL) {
		reply_text(fd, 503, "Service Unavailable");
		close(fd);
		if (!busy) {
			pthread_mutex_lock(&conns_lock);
			conns--;
			pthread_mutex_unlock(&conns_lock);
		}
		return;
	}
	c->s = s;
	c->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, conn_main, c) != 0) {
		c->s = NULL;
		free(c);
		reply_text(fd, 503, "Service Unavailable");
		close(fd);
		pthread_mutex_lock(&conns_lock);
		conns--;
		pthread_mutex_unlock(&conns_lock);
	}
	pthread_attr_destroy(&attr);
}

int cab_srv_serve(struct cab_srv *s, int lfd)
{
	struct pollfd pfd = { lfd, POLLIN, 0 };

	while (!s->stop) {
		int fd, n = poll(&pfd, 1, 250); /* wakes up to see stop */

		if (n <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			start_conn(s, fd);
	}
	/* drain: every connection thread finishes its request before the CA closes */
	pthread_mutex_lock(&conns_lock);
	while (conns > 0)
		pthread_cond_wait(&conns_done, &conns_lock);
	pthread_mutex_unlock(&conns_lock);
	return 0;
}
