/*
 * config.h - the RA's configuration: one JSON file, every key overridable by an environment
 * variable (key path joined by '_', upper-cased, prefixed RA_: ident.base_url ->
 * RA_IDENT_BASE_URL), checked against one schema table (config.c) that names each key's
 * type, default, whether it is required and whether it is a secret.
 */
#ifndef RA_CONFIG_H
#define RA_CONFIG_H

#include <jansson.h>
#include <stdio.h>

#include "ra/base/err.h"

struct config {
	json_t *root; /* the effective configuration, defaults filled in */
};

/* Loads path (may be NULL: defaults and environment only), applies RA_* overrides and checks
 * the schema.  `need_required` = 0 skips the required-key check (for --print-config). */
int config_load(struct config *cfg, const char *path, int need_required, struct ra_err *err);
void config_free(struct config *cfg);

/* What the configured features need, beyond the schema's types: ident configured needs
 * evidence.key, a qualified product needs ca.pds_url, ... (table `needs` in config.c).  `ra
 * serve` and `ra --print-config` run it; err names the missing or wrong key. */
int config_check(const struct config *cfg, struct ra_err *err);

/* Accessors by dotted path; a key not in the schema is a programming error (aborts). */
const char *cfg_str(const struct config *cfg, const char *path); /* NULL when unset */
long long cfg_int(const struct config *cfg, const char *path);
int cfg_bool(const struct config *cfg, const char *path);
json_t *cfg_json(const struct config *cfg, const char *path); /* borrowed */

/* Writes the effective configuration as JSON with every secret masked; every key of the
 * schema appears, unset ones as null. */
void config_print(const struct config *cfg, FILE *out);

/* Environment variable name for a key path (RA_IDENT_BASE_URL); buf of cap bytes. */
void config_env_name(const char *path, char *buf, size_t cap);

#endif
