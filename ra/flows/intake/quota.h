/*
 * quota.h - giving an order's contract places back (R6).  An order that ends without a
 * certificate (rejected after review, fraud, identification failed for good) returns the
 * places it took, in the same transaction as its state change, as a shop cancellation does
 * (intake_tx.c).
 */
#ifndef RA_QUOTA_H
#define RA_QUOTA_H

/* $1: the order's id.  Zeroes orders.quota_taken and lowers the contract's `used` by what the
 * order had taken (row locked, so a repeat gives nothing back twice); no row when it took none. */
extern const char *const quota_sql_release;

#endif
