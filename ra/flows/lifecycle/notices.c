/*
 * notices.c - the audit action -> template table and the templates (notices.h).  The table is
 * the one place that says which change mails whom; the words are in the template files, never
 * in C strings, so operators can change them without a build.
 */
#include "ra/flows/lifecycle/notices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/base/log.h"

const struct notice notices[] = {
	/* to the user: every change they can see */
	/* not for a replacement's revocation nor the term's: their own mails say it */
	{"cert.revoked", "cert_revoked", "user", NULL, NULL, "replaced_by|term_end"},
	{"cert.rekey", "cert_rekeyed", "user", NULL, NULL, NULL},
	{"cert.modify", "cert_modified", "user", NULL, NULL, NULL},
	{"cert.expired", "cert_expired", "user", NULL, NULL, NULL},
	{"cert.expiry_reminder", "expiry_reminder", "user", NULL, NULL, NULL},
	{"cert.term_reminder", "term_reminder", "user", NULL, NULL, NULL},
	{"cert.term_ended", "term_ended_revoked", "user", "policy", "revoke", NULL},
	{"cert.term_ended", "term_ended", "user", "policy", "notify", NULL},
	{"cert.renewed", "cert_renewed", "user", NULL, NULL, NULL},
	{"user.locked", "user_locked", "user", NULL, NULL, NULL},
	{"user.unlocked", "user_unlocked", "user", NULL, NULL, NULL},
	{"user.factor_app", "factor_changed", "user", NULL, NULL, NULL},
	{"user.factor_sms", "factor_changed", "user", NULL, NULL, NULL},
	{"user.factor_single", "factor_changed", "user", NULL, NULL, NULL},
	{"user.transport_pin_reissued", "transport_pin_new", "user", NULL, NULL, NULL},
	/* to support (notify.support_address) */
	{"order.in_review", "support_review", "support", NULL, NULL, NULL},
	{"order.rejected", "support_fraud", "support", "event", "ident_fraud", NULL},
	{NULL, NULL, NULL, NULL, NULL, NULL},
};

const char *const notice_user_vars[] = {
	"first_name", "last_name", "user_id", "certificate_id", "serial",         "reason", "comment",
	"not_after",  "term_end",  "at",      "user_state",     "replacement_id", NULL};
const char *const notice_support_vars[] = {"action",   "object_id",   "reason",       "at",
					   "order_id", "shop_number", "user_id",      "job_id",
					   "job_kind", "job_error",   "job_attempts", NULL};

static const char *const languages[] = {"de", "en"};
#define NLANG (sizeof(languages) / sizeof(languages[0]))
#define MAX_TEMPLATES 32

struct loaded {
	const char *name;
	struct tmpl t[NLANG];
};

static struct loaded loaded[MAX_TEMPLATES];
static size_t nloaded;
static size_t lang_ix;

static struct loaded *find(const char *name)
{
	for (size_t i = 0; i < nloaded; i++)
		if (strcmp(loaded[i].name, name) == 0)
			return &loaded[i];
	return NULL;
}

static int load_one(const char *dir, const char *name, const char *const *vars, struct ra_err *err)
{
	struct loaded *l;

	if (find(name) != NULL)
		return 0;
	if (nloaded == MAX_TEMPLATES)
		return ra_err_set(err, RA_E_INTERNAL, "", "more than %d templates: raise MAX_TEMPLATES",
				  MAX_TEMPLATES);
	l = &loaded[nloaded];
	l->name = name;
	for (size_t i = 0; i < NLANG; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s/%s.txt", dir, languages[i], name);
		if (tmpl_load(&l->t[i], path, vars, err) != 0) {
			for (size_t k = 0; k < i; k++)
				tmpl_free(&l->t[k]);
			return err->code;
		}
	}
	nloaded++;
	return 0;
}

int notices_load(const struct config *cfg, struct ra_err *err)
{
	const char *dir = cfg_str(cfg, "notify.templates"), *lang = cfg_str(cfg, "notify.language");
	int rc = 0;

	lang_ix = NLANG;
	for (size_t i = 0; i < NLANG; i++)
		if (lang && strcmp(lang, languages[i]) == 0)
			lang_ix = i;
	if (lang_ix == NLANG)
		return ra_err_set(err, RA_E_CONFIG, "notify.language", "must be 'de' or 'en'");
	if (dir == NULL || dir[0] == '\0')
		return ra_err_set(err, RA_E_CONFIG, "notify.templates",
				  "the folder of the mail templates is not set");
	for (const struct notice *n = notices; rc == 0 && n->action; n++)
		rc = load_one(dir, n->tmpl,
			      strcmp(n->to, "user") == 0 ? notice_user_vars : notice_support_vars, err);
	if (rc == 0)
		rc = load_one(dir, NOTICE_JOB_DEAD, notice_support_vars, err);
	if (rc == 0) {
		char count[16];
		snprintf(count, sizeof(count), "%zu", nloaded);
		log_info("notify.templates_loaded", "dir", dir, "language", lang, "templates", count, NULL);
	}
	return rc;
}

const struct tmpl *notices_template(const char *name)
{
	struct loaded *l = find(name);

	return l && lang_ix < NLANG ? &l->t[lang_ix] : NULL;
}

int notices_support_on(const struct config *cfg)
{
	const char *a = cfg_str(cfg, "notify.support_address");

	return a != NULL && a[0] != '\0';
}
