/*
 * usermail.h - the user_id_mail job (R8): the user ID and the next steps by e-mail once an
 * order is issued (usermail.c).  Payload {"order_id": N}.
 */
#ifndef RA_USERMAIL_H
#define RA_USERMAIL_H

#include "ra/base/config.h"
#include "ra/base/err.h"
#include "ra/jobs/jobs.h"

#define USERMAIL_MAX_ATTEMPTS 50
#define USERMAIL_TEMPLATE "user_id"

/* Loads and checks the mail's template in every language (ra/base/tmpl.h); at start-up. */
int usermail_init(const struct config *cfg, struct ra_err *err);

void usermail_run(struct job *job);

#endif
