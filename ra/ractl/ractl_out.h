/*
 * ractl_out.h - how ractl shows an answer: pretty JSON for scripts (--json), otherwise
 * "key: value" lines for an object's plain members and a column table for each list of
 * objects in it (certificates, contracts, jobs, audit records ...).
 */
#ifndef RA_RACTL_OUT_H
#define RA_RACTL_OUT_H

#include <jansson.h>
#include <stdio.h>

void rctl_print_json(FILE *f, const json_t *j);
void rctl_print_human(FILE *f, const json_t *j);

#endif
