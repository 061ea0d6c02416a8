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

int notices_load(const struct config *cfg, struct ra_err *err)
{
	int rc = 0;

	for (const struct notice *n = notices; rc == 0 && n->action; n++)
		rc = tmpl_register(cfg, n->tmpl,
				   strcmp(n->to, "user") == 0 ? notice_user_vars : notice_support_vars, err);
	if (rc == 0)
		rc = tmpl_register(cfg, NOTICE_JOB_DEAD, notice_support_vars, err);
	if (rc == 0) {
		char count[16];
		snprintf(count, sizeof(count), "%zu", tmpl_count());
		log_info("notify.templates_loaded", "dir", cfg_str(cfg, "notify.templates"), "language",
			 cfg_str(cfg, "notify.language"), "templates", count, NULL);
	}
	return rc;
}

int notices_support_on(const struct config *cfg)
{
	const char *a = cfg_str(cfg, "notify.support_address");

	return a != NULL && a[0] != '\0';
}
