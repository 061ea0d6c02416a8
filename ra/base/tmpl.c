/*
 * tmpl.c - loading, checking and rendering notification templates (tmpl.h).  Start-up reads
 * the files (blocking file I/O before the loop runs); rendering is plain string work.  The
 * registry (tmpl_register/tmpl_get) holds every flow's templates in every language.
 */
#include "ra/base/tmpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#define TMPL_MAX_BYTES 65536
#define NAME_MAX_LEN 48

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(TMPL_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, TMPL_MAX_BYTES + 1, f);
	fclose(f);
	if (n > TMPL_MAX_BYTES) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int known(const char *name, size_t n, const char *const *vars)
{
	for (; *vars; vars++)
		if (strlen(*vars) == n && strncmp(*vars, name, n) == 0)
			return 1;
	return 0;
}

/* Every {{name}} of text is in vars; an unclosed {{ is an error too. */
static int check_vars(const char *text, const char *path, const char *const *vars, struct ra_err *err)
{
	for (const char *p = strstr(text, "{{"); p != NULL; p = strstr(p, "{{")) {
		const char *end = strstr(p + 2, "}}");
		size_t n;
		if (end == NULL || (n = (size_t)(end - p - 2)) == 0 || n > NAME_MAX_LEN)
			return ra_err_set(err, RA_E_CONFIG, "notify.templates",
					  "%s: '{{' without a variable name and '}}'", path);
		if (!known(p + 2, n, vars))
			return ra_err_set(err, RA_E_CONFIG, "notify.templates",
					  "%s: unknown variable {{%.*s}}", path, (int)n, p + 2);
		p = end + 2;
	}
	return 0;
}

int tmpl_load(struct tmpl *t, const char *path, const char *const *vars, struct ra_err *err)
{
	size_t len = 0;
	char *text = read_all(path, &len), *nl, *body;
	int rc;

	memset(t, 0, sizeof(*t));
	if (text == NULL)
		return ra_err_set(err, RA_E_CONFIG, "notify.templates",
				  "%s: missing or unreadable (or over %d bytes)", path, TMPL_MAX_BYTES);
	if (u8_check((const uint8_t *)text, len) != NULL || strlen(text) != len) {
		free(text);
		return ra_err_set(err, RA_E_CONFIG, "notify.templates", "%s: not UTF-8 text", path);
	}
	nl = strchr(text, '\n');
	if (strncmp(text, "Subject: ", 9) != 0 || nl == NULL || nl[1] != '\n' || nl == text + 9) {
		free(text);
		return ra_err_set(err, RA_E_CONFIG, "notify.templates",
				  "%s: must start with a 'Subject: ...' line and an empty line", path);
	}
	*nl = '\0';
	body = nl + 2;
	rc = check_vars(text + 9, path, vars, err);
	if (rc == 0)
		rc = check_vars(body, path, vars, err);
	if (rc == 0 && body[0] == '\0')
		rc = ra_err_set(err, RA_E_CONFIG, "notify.templates", "%s: the body is empty", path);
	if (rc == 0) {
		t->subject = strdup(text + 9);
		t->body = strdup(body);
		if (t->subject == NULL || t->body == NULL)
			rc = ra_err_set(err, RA_E_NOMEM, "", "out of memory");
	}
	free(text);
	if (rc != 0)
		tmpl_free(t);
	return rc;
}

void tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	free(t->subject);
	free(t->body);
	t->subject = t->body = NULL;
}

static const char *value_of(const char *name, size_t n, const char *const *names, const char *const *values,
			    size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(names[i]) == n && strncmp(names[i], name, n) == 0)
			return values[i] ? values[i] : "-";
	return "-";
}

char *tmpl_render(const char *text, const char *const *names, const char *const *values, size_t n)
{
	size_t cap = strlen(text) + 256, len = 0;
	char *out = malloc(cap);
	const char *p = text;

	if (out == NULL)
		return NULL;
	while (*p) {
		const char *open = strstr(p, "{{"), *end = open ? strstr(open + 2, "}}") : NULL, *v = NULL;
		size_t lit = end ? (size_t)(open - p) : strlen(p), vl = 0;
		if (end) {
			v = value_of(open + 2, (size_t)(end - open - 2), names, values, n);
			vl = strlen(v);
		}
		if (len + lit + vl + 1 > cap) {
			char *bigger;
			cap = (len + lit + vl + 1) * 2;
			bigger = realloc(out, cap);
			if (bigger == NULL) {
				free(out);
				return NULL;
			}
			out = bigger;
		}
		memcpy(out + len, p, lit);
		len += lit;
		if (!end)
			break;
		memcpy(out + len, v, vl);
		len += vl;
		p = end + 2;
	}
	out[len] = '\0';
	return out;
}

static const char *const languages[] = {"de", "en"};
#define NLANG (sizeof(languages) / sizeof(languages[0]))
#define MAX_TEMPLATES 48

struct registered {
	char name[NAME_MAX_LEN + 1];
	struct tmpl t[NLANG];
};

/* written only at start-up, before the loop and the thread pool run; read-only afterwards */
static struct registered registry[MAX_TEMPLATES];
static size_t nregistered;
static size_t lang_ix = NLANG;

static struct registered *find(const char *name)
{
	for (size_t i = 0; i < nregistered; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

int tmpl_register(const struct config *cfg, const char *name, const char *const *vars, struct ra_err *err)
{
	const char *dir = cfg_str(cfg, "notify.templates"), *lang = cfg_str(cfg, "notify.language");
	struct registered *r;

	lang_ix = NLANG;
	for (size_t i = 0; i < NLANG; i++)
		if (lang && strcmp(lang, languages[i]) == 0)
			lang_ix = i;
	if (lang_ix == NLANG)
		return ra_err_set(err, RA_E_CONFIG, "notify.language", "must be 'de' or 'en'");
	if (dir == NULL || dir[0] == '\0')
		return ra_err_set(err, RA_E_CONFIG, "notify.templates",
				  "the folder of the mail templates is not set");
	if (find(name) != NULL)
		return 0;
	if (nregistered == MAX_TEMPLATES)
		return ra_err_set(err, RA_E_INTERNAL, "", "more than %d templates: raise MAX_TEMPLATES",
				  MAX_TEMPLATES);
	if (strlen(name) > NAME_MAX_LEN)
		return ra_err_set(err, RA_E_INTERNAL, "", "template name %s is too long", name);
	r = &registry[nregistered];
	snprintf(r->name, sizeof(r->name), "%s", name);
	for (size_t i = 0; i < NLANG; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s/%s.txt", dir, languages[i], name);
		if (tmpl_load(&r->t[i], path, vars, err) != 0) {
			for (size_t k = 0; k < i; k++)
				tmpl_free(&r->t[k]);
			return err->code;
		}
	}
	nregistered++;
	return 0;
}

const struct tmpl *tmpl_get(const char *name)
{
	struct registered *r = find(name);

	return r && lang_ix < NLANG ? &r->t[lang_ix] : NULL;
}

size_t tmpl_count(void)
{
	return nregistered;
}
