/*
 * invite.h - the `ident_invite` job (issue #4): start the customer's video identification
 * at the IDnow-style provider and mail them the link.
 *
 * Payload {"order_id": N}, enqueued by the order transaction (intake_tx.c) in the same
 * transaction as the order.  Idempotent in three places: the provider answers a second start
 * of the same transaction number with the same ident id, and the ident id is stored before
 * the mail goes out, so a re-run never starts a second identification; the mail is recorded
 * (orders.invite_sent_at, state ident_invited, audit) and a re-run that finds it recorded
 * sends nothing.  Only a crash between the SMTP server's 250 and that record can send the
 * mail twice (at-least-once; the job runner cannot do better with SMTP) - the same message
 * both times, byte for byte: its Date is the job's creation and its Message-ID names the order
 * and that time (httpc_mail_compose_at, issue #19).  A provider or SMTP
 * server that is down fails the run as retryable: the runner retries with backoff.
 */
#ifndef RA_INVITE_H
#define RA_INVITE_H

#include "ra/jobs/jobs.h"

#define INVITE_MAX_ATTEMPTS 50 /* with jobs.backoff_max_ms of an hour: about two days */

void invite_run(struct job *job);

#endif
