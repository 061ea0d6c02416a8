/*
 * lifecycle.c - the lifecycle flow's module: its configuration and its table of periodic
 * tasks (lifecycle.h).
 */
#include "ra/flows/lifecycle/lifecycle.h"

#include "ra/base/config.h"
#include "ra/flows/lifecycle/expiry.h"
#include "ra/flows/lifecycle/notices.h"
#include "ra/flows/lifecycle/notify.h"
#include "ra/flows/lifecycle/reminders.h"
#include "ra/flows/lifecycle/term.h"

const struct sched_task lifecycle_tasks[] = {
	{"expiry", expiry_tick, "lifecycle.expiry_interval_s"},
	{"reminders", reminders_tick, "lifecycle.reminder_interval_s"},
	{"term", term_tick, "lifecycle.term_interval_s"},
	{"notify", notify_scan_tick, "notify.interval_s"},
	{NULL, NULL, NULL},
};

const struct job_kind lifecycle_job_kinds[] = {
	{"notify", notify_send_run, NOTIFY_MAX_ATTEMPTS, NULL},
	{NULL, NULL, 0, NULL},
};

int lifecycle_init(struct app *app, struct ra_err *err)
{
	if (cfg_int(app->cfg, "lifecycle.expiry_interval_s") < 1)
		return ra_err_set(err, RA_E_CONFIG, "lifecycle.expiry_interval_s",
				  "must be at least 1 (seconds)");
	if (cfg_int(app->cfg, "notify.interval_s") < 1)
		return ra_err_set(err, RA_E_CONFIG, "notify.interval_s", "must be at least 1 (seconds)");
	if (reminders_config(app->cfg, err) != 0 || term_config(app->cfg, err) != 0)
		return err->code;
	/* a missing template or a wrong variable stops the start, not a mail later */
	return notices_load(app->cfg, err);
}
