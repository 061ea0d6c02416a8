/*
 * usermail.h - the user_id_mail job (R8): the user ID and the next steps by e-mail once an
 * order is issued (usermail.c).  Payload {"order_id": N}.
 */
#ifndef RA_USERMAIL_H
#define RA_USERMAIL_H

#include "ra/jobs/jobs.h"

#define USERMAIL_MAX_ATTEMPTS 50

void usermail_run(struct job *job);

#endif
