/*
 * test_tmpl.c - notification templates (ra/base/tmpl.c): the file format, the variable check
 * that makes a typo fail at start-up, and rendering.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ra/base/tmpl.h"

static const char *const vars[] = {"first_name", "serial", NULL};

static char *write_tmp(const char *text)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : P_tmpdir;
	char *path = NULL;
	int fd;

	cr_assert(asprintf(&path, "%s/ra-tmpl-XXXXXX", dir) > 0);
	fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load(const char *text, struct tmpl *t, struct ra_err *err)
{
	char *path = write_tmp(text);
	int rc = tmpl_load(t, path, vars, err);

	unlink(path);
	free(path);
	return rc;
}

Test(tmpl, loads_subject_and_body_and_renders_utf8)
{
	struct tmpl t;
	struct ra_err err = {0};
	const char *names[] = {"first_name", "serial"}, *values[] = {"Jürgen", NULL};
	char *s, *b;

	cr_assert_eq(load("Subject: Grüß Gott {{first_name}}\n\nZertifikat {{serial}} für {{first_name}}.\n",
			  &t, &err),
		     0, "%s", err.msg);
	s = tmpl_render(t.subject, names, values, 2);
	b = tmpl_render(t.body, names, values, 2);
	cr_expect_str_eq(s, "Grüß Gott Jürgen");
	cr_expect_str_eq(b, "Zertifikat - für Jürgen.\n", "a NULL value renders as '-'");
	free(s);
	free(b);
	tmpl_free(&t);
}

Test(tmpl, unknown_variable_fails_at_load_naming_it)
{
	struct tmpl t;
	struct ra_err err = {0};

	cr_assert_neq(load("Subject: Hi\n\nHello {{frist_name}}\n", &t, &err), 0);
	cr_expect(strstr(err.msg, "unknown variable {{frist_name}}") != NULL, "%s", err.msg);
	cr_expect_str_eq(err.field, "notify.templates");
}

Test(tmpl, malformed_files_fail_at_load)
{
	struct tmpl t;
	struct ra_err err = {0};
	struct ra_err none = {0};

	cr_expect_neq(load("Hello\n\nno subject line\n", &t, &err), 0);
	cr_expect_neq(load("Subject: x\nno empty line\n", &t, &err), 0);
	cr_expect_neq(load("Subject: x\n\nunclosed {{first_name\n", &t, &err), 0);
	cr_expect_neq(load("Subject: x\n\n\xff\xfe not UTF-8\n", &t, &err), 0);
	cr_expect_neq(load("Subject: x\n\n", &t, &err), 0, "an empty body");
	cr_expect_neq(tmpl_load(&t, "/nonexistent/de/x.txt", vars, &none), 0);
	cr_expect(strstr(none.msg, "/nonexistent/de/x.txt") != NULL, "%s", none.msg);
}

static void put(const char *dir, const char *lang, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, lang);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s.txt", dir, lang, name);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* the registry every flow's mails come from: both languages loaded at start, the configured
 * one served; a missing file, a missing folder or another language fails naming it */
Test(tmpl, registry_loads_both_languages_and_serves_the_configured_one)
{
	char dir[] = "/tmp/ra-tmpl-reg-XXXXXX";
	struct config cfg = {0};
	struct ra_err err = {0};
	const struct tmpl *t;

	cr_assert(mkdtemp(dir) != NULL);
	put(dir, "de", "hello", "Subject: Hallo {{first_name}}\n\nGuten Tag.\n");
	put(dir, "en", "hello", "Subject: Hello {{first_name}}\n\nGood day.\n");
	put(dir, "de", "only_de", "Subject: x\n\ny\n");
	cfg.root = json_pack("{s:{s:s, s:s}}", "notify", "templates", dir, "language", "en");
	cr_assert_eq(tmpl_register(&cfg, "hello", vars, &err), 0, "%s", err.msg);
	t = tmpl_get("hello");
	cr_assert(t != NULL);
	cr_expect_str_eq(t->subject, "Hello {{first_name}}");
	cr_expect_eq(tmpl_register(&cfg, "hello", vars, &err), 0, "registered twice: loaded once");
	cr_expect_eq(tmpl_count(), 1);

	cr_expect_neq(tmpl_register(&cfg, "only_de", vars, &err), 0);
	cr_expect(strstr(err.msg, "en/only_de.txt: missing") != NULL, "%s", err.msg);
	cr_expect_null(tmpl_get("only_de"), "a template that failed is not served");

	json_object_set_new(json_object_get(cfg.root, "notify"), "language", json_string("fr"));
	cr_expect_neq(tmpl_register(&cfg, "hello", vars, &err), 0);
	cr_expect_str_eq(err.field, "notify.language");
	json_object_set_new(json_object_get(cfg.root, "notify"), "language", json_string("de"));
	json_object_set_new(json_object_get(cfg.root, "notify"), "templates", json_string(""));
	cr_expect_neq(tmpl_register(&cfg, "hello", vars, &err), 0);
	cr_expect_str_eq(err.field, "notify.templates");
	json_decref(cfg.root);
}
