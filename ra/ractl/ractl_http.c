/*
 * ractl_http.c - configuration and blocking HTTP calls of ractl; see ractl_http.h.
 */
#include "ra/ractl/ractl_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

static void trim(char *s)
{
	size_t n = strlen(s);
	char *p = s;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	memmove(s, p, strlen(p) + 1);
}

static void conf_file(struct ractl_conf *c, int want_url, int want_token)
{
	const char *path = getenv("RACTL_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char buf[1024], line[1024];
	struct stat st;
	FILE *f;

	if (path == NULL) {
		if (xdg && *xdg)
			snprintf(buf, sizeof(buf), "%s/ractl/config", xdg);
		else if (home && *home)
			snprintf(buf, sizeof(buf), "%s/.config/ractl/config", home);
		else
			return;
		path = buf;
	}
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0 && want_token)
		fprintf(stderr,
			"ractl: warning: %s is readable by others; it holds a bearer token (chmod 600)\n",
			path);
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		if (line[0] == '#' || eq == NULL)
			continue;
		*eq = '\0';
		trim(line);
		trim(eq + 1);
		if (want_url && strcmp(line, "url") == 0)
			snprintf(c->url, sizeof(c->url), "%s", eq + 1);
		else if (want_token && strcmp(line, "token") == 0)
			snprintf(c->token, sizeof(c->token), "%s", eq + 1);
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
}

int ractl_conf_load(struct ractl_conf *c, const char *server, const char **why)
{
	const char *url = server && *server ? server : getenv("RACTL_URL"), *tok = getenv("RACTL_TOKEN");

	memset(c, 0, sizeof(*c));
	if (url && *url)
		snprintf(c->url, sizeof(c->url), "%s", url);
	if (tok && *tok)
		snprintf(c->token, sizeof(c->token), "%s", tok);
	conf_file(c, c->url[0] == '\0', c->token[0] == '\0');
	if (c->url[0] == '\0')
		snprintf(c->url, sizeof(c->url), "http://127.0.0.1:8080");
	if (c->url[strlen(c->url) - 1] == '/')
		c->url[strlen(c->url) - 1] = '\0';
	if (c->token[0] == '\0') {
		*why = "no token: set RACTL_TOKEN or 'token = ...' in ~/.config/ractl/config "
		       "(an admin makes one with 'ra token create')";
		return RACTL_USAGE;
	}
	return 0;
}

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct buf *b = data;
	size_t n = size * nmemb;
	char *np = realloc(b->p, b->n + n + 1);

	if (np == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

int ractl_call(const struct ractl_conf *c, const char *method, const char *path, const json_t *body,
	       struct ractl_resp *out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct buf b = {NULL, 0};
	char url[2048], auth[300];
	char *text = NULL;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	if (h == NULL) {
		snprintf(out->error, sizeof(out->error), "cannot initialise libcurl");
		return -1;
	}
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(out->error, sizeof(out->error), "%s: %s", c->url, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
		out->raw = b.p ? b.p : strdup("");
		b.p = NULL;
		out->body = json_loads(out->raw, JSON_DECODE_ANY, NULL);
	}
	free(b.p);
	free(text);
	OPENSSL_cleanse(auth, sizeof(auth));
	curl_slist_free_all(hdrs); /* the token copy inside is freed with it */
	curl_easy_cleanup(h);
	return rc == CURLE_OK ? 0 : -1;
}

void ractl_resp_free(struct ractl_resp *r)
{
	json_decref(r->body);
	free(r->raw);
	r->body = NULL;
	r->raw = NULL;
}

char *ractl_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *copy = e ? strdup(e) : NULL;

	curl_free(e);
	return copy;
}

int ractl_exit_for(const struct ractl_resp *r)
{
	long s = r->status;

	if (s == 0 || s == 502 || s == 503 || s == 504)
		return RACTL_UNREACHABLE;
	if (s >= 200 && s < 300)
		return RACTL_OK;
	if (s == 404)
		return RACTL_NOTFOUND;
	if (s == 400 || s == 405 || s == 413)
		return RACTL_USAGE;
	/* 422 without a rule: a filter or paging value the server does not take (issue #17) */
	if (s == 422 && json_object_get(r->body, "rule") == NULL)
		return RACTL_USAGE;
	if (s == 401 || s == 403 || s == 409 || s == 422)
		return RACTL_REFUSED;
	return RACTL_SERVER;
}
