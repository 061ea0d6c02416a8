/*
 * lifecycle.c - the lifecycle flow's module: its configuration and its table of periodic
 * tasks (lifecycle.h).
 */
#include "ra/flows/lifecycle/lifecycle.h"

#include "ra/base/config.h"
#include "ra/flows/lifecycle/expiry.h"

const struct sched_task lifecycle_tasks[] = {
	{"expiry", expiry_tick, "lifecycle.expiry_interval_s"},
	{NULL, NULL, NULL},
};

int lifecycle_init(struct app *app, struct ra_err *err)
{
	if (cfg_int(app->cfg, "lifecycle.expiry_interval_s") < 1)
		return ra_err_set(err, RA_E_CONFIG, "lifecycle.expiry_interval_s",
				  "must be at least 1 (seconds)");
	return 0;
}
