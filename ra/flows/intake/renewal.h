/*
 * renewal.h - a paid renewal order (renewal.c): extends the contractual term of the
 * certificates it names, without an order of its own, an identification or a certificate.
 */
#ifndef RA_RENEWAL_H
#define RA_RENEWAL_H

#include "ra/flows/intake/intake_req.h"

/* 1 when the delivery is a renewal: a WooCommerce Subscriptions renewal order (meta
 * _subscription_renewal) or one whose every line item is a catalogue product marked renewal. */
int renewal_is(const struct intake_req *r);
/* Applies it and answers the delivery (owns r from here). */
void renewal_start(struct intake_req *r);

#endif
