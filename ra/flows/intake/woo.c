/* woo.c - WooCommerce order webhook bodies into struct woo_order (Jansson); see woo.h. */
#include "ra/flows/intake/woo.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ra/base/jsonbody.h"
#include "ra/base/safetext.h"
#include "ra/base/secret.h"

static const char *const status_names[] = {
	[WOO_PENDING] = "pending",     [WOO_PROCESSING] = "processing", [WOO_ON_HOLD] = "on-hold",
	[WOO_COMPLETED] = "completed", [WOO_CANCELLED] = "cancelled",   [WOO_REFUNDED] = "refunded",
	[WOO_FAILED] = "failed",
};

const char *woo_status_str(enum woo_status s)
{
	if ((size_t)s < sizeof(status_names) / sizeof(status_names[0]))
		return status_names[s];
	return NULL;
}

int woo_status_is_paid(enum woo_status s)
{
	return s == WOO_PROCESSING || s == WOO_COMPLETED;
}

static enum woo_status status_from(const char *s)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum woo_status)i;
	return WOO_OTHER;
}

static bool blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/*
 * Copies obj[key] (a string) to *out.  Absent, null or blank: an error when required, else
 * *out stays NULL.  Any other type is always an error.  path is the JSON path for messages.
 */
static int get_str(json_t *obj, const char *key, const char *path, bool required, char **out,
		   struct ra_err *err)
{
	json_t *v = json_object_get(obj, key);
	char why[96];

	*out = NULL;
	if (v == NULL || json_is_null(v) || (json_is_string(v) && blank(json_string_value(v)))) {
		if (required)
			return ra_err_set(err, RA_E_INVALID, path, "%s is missing", path);
		return 0;
	}
	if (!json_is_string(v))
		return ra_err_set(err, RA_E_INVALID, path, "%s must be a string", path);
	/* Issue #20: an ESC sequence in a first name retitled and cleared the support person's
	 * terminal; names and free text are printable text or the order is refused, unstored */
	if (safetext_check_field(json_string_value(v), why, sizeof(why)) != 0)
		return ra_err_set(err, RA_E_RULE, path, "%s holds %s: names and text must be printable", path,
				  why);
	*out = strdup(json_string_value(v));
	if (*out == NULL)
		return ra_err_set(err, RA_E_NOMEM, path, "out of memory");
	return 0;
}

/* Required string fields of one object, in order. */
struct str_field {
	const char *key;
	const char *path;
	char **dst;
};

static int get_required(json_t *obj, const struct str_field *f, size_t n, struct ra_err *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = get_str(obj, f[i].key, f[i].path, true, f[i].dst, err);

		if (rc != 0)
			return rc;
	}
	return 0;
}

static int get_int(json_t *obj, const char *key, const char *path, int64_t min, int64_t max, int64_t *out,
		   struct ra_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return ra_err_set(err, RA_E_INVALID, path, "%s is missing", path);
	if (!json_is_integer(v))
		return ra_err_set(err, RA_E_INVALID, path, "%s must be an integer", path);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return ra_err_set(err, RA_E_INVALID, path, "%s is out of range", path);
	*out = json_integer_value(v);
	return 0;
}

/* One known meta key: where its value goes. */
struct meta_slot {
	const char *key;
	char **dst;
};

/*
 * Picks the known keys out of a meta_data array [{"id":…, "key":…, "value":…}, …].
 * Unknown keys (WooCommerce and plugins add many, e.g. "_wc_order_attribution_*") are
 * ignored; a known key twice is ambiguous and refused.
 */
static int get_meta(json_t *obj, const char *path, struct meta_slot *slots, size_t n_slots,
		    struct ra_err *err)
{
	json_t *arr = json_object_get(obj, "meta_data"), *m;
	char p[128];
	size_t i;
	int rc;

	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return ra_err_set(err, RA_E_INVALID, path, "%s must be an array", path);
	json_array_foreach (arr, i, m) {
		json_t *k = json_object_get(m, "key");

		snprintf(p, sizeof(p), "%s[%zu].key", path, i);
		if (!json_is_object(m) || !json_is_string(k))
			return ra_err_set(err, RA_E_INVALID, p, "%s must be a string", p);
		for (size_t s = 0; s < n_slots; s++) {
			if (strcmp(json_string_value(k), slots[s].key) != 0)
				continue;
			snprintf(p, sizeof(p), "%s[%zu].value", path, i);
			if (*slots[s].dst != NULL)
				return ra_err_set(err, RA_E_INVALID, p, "%s: %s given twice", p,
						  slots[s].key);
			rc = get_str(m, "value", p, false, slots[s].dst, err);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static int parse_item(json_t *it, size_t idx, struct woo_line_item *li, struct ra_err *err)
{
	char base[48], p[96];
	int64_t q;
	int rc;

	snprintf(base, sizeof(base), "line_items[%zu]", idx);
	if (!json_is_object(it))
		return ra_err_set(err, RA_E_INVALID, base, "%s must be an object", base);
	snprintf(p, sizeof(p), "%s.id", base);
	rc = get_int(it, "id", p, 1, INT64_MAX, &li->id, err);
	if (rc != 0)
		return rc;
	snprintf(p, sizeof(p), "%s.product_id", base);
	rc = get_int(it, "product_id", p, 0, INT64_MAX, &li->product_id, err);
	if (rc != 0)
		return rc;
	snprintf(p, sizeof(p), "%s.quantity", base);
	rc = get_int(it, "quantity", p, 1, WOO_MAX_QUANTITY, &q, err);
	if (rc != 0)
		return rc;
	li->quantity = (int)q;
	snprintf(p, sizeof(p), "%s.sku", base);
	rc = get_str(it, "sku", p, true, &li->sku, err);
	if (rc != 0)
		return rc;

	struct meta_slot slots[] = {
		{"organisation", &li->organisation},
		{"organisation_id", &li->organisation_id},
		{"function", &li->function},
		{"certificate_id", &li->certificate_id},
	};
	snprintf(p, sizeof(p), "%s.meta_data", base);
	rc = get_meta(it, p, slots, 4, err);
	if (rc != 0)
		return rc;
	/* R4: variant 2 carries exactly one organisation and one function, variant 1 neither. */
	if ((li->organisation == NULL) != (li->function == NULL) ||
	    (li->organisation_id != NULL && li->organisation == NULL)) {
		snprintf(p, sizeof(p), "%s.meta_data.%s", base,
			 li->organisation == NULL ? "organisation" : "function");
		return ra_err_set(err, RA_E_RULE, p,
				  "%s: organisation and function must be given together (R4)", base);
	}
	return 0;
}

static int parse_items(json_t *root, struct woo_order *o, struct ra_err *err)
{
	json_t *arr = json_object_get(root, "line_items"), *it;
	size_t i;
	int rc;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return ra_err_set(err, RA_E_INVALID, "line_items", "line_items must be a non-empty array");
	o->items = calloc(json_array_size(arr), sizeof(*o->items));
	if (o->items == NULL)
		return ra_err_set(err, RA_E_NOMEM, "line_items", "out of memory");
	json_array_foreach (arr, i, it) {
		o->n_items = i + 1; /* so woo_order_free() frees what this item got */
		rc = parse_item(it, i, &o->items[i], err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* A plausible address: one '@' with text on both sides, no spaces or controls. */
static bool email_ok(const char *s)
{
	const char *at = strchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int parse_billing(json_t *root, struct woo_order *o, struct ra_err *err)
{
	json_t *b = json_object_get(root, "billing");
	int rc;

	if (!json_is_object(b))
		return ra_err_set(err, RA_E_INVALID, "billing", "billing must be an object");
	struct str_field f[] = {
		{"first_name", "billing.first_name", &o->first_name},
		{"last_name", "billing.last_name", &o->last_name},
		{"email", "billing.email", &o->email},
		{"phone", "billing.phone", &o->phone},
	};
	rc = get_required(b, f, sizeof(f) / sizeof(f[0]), err);
	if (rc != 0)
		return rc;
	if (!email_ok(o->email))
		return ra_err_set(err, RA_E_INVALID, "billing.email",
				  "billing.email is not an e-mail address");
	return 0;
}

static int parse_root(json_t *root, struct woo_order *o, struct ra_err *err)
{
	struct meta_slot slots[] = {{"contract_number", &o->contract_number},
				    {"_subscription_renewal", &o->subscription_renewal}};
	json_t *parent = json_object_get(root, "parent_id");
	int rc;

	struct str_field f[] = {
		{"number", "number", &o->number},
		{"status", "status", &o->status_raw},
		{"currency", "currency", &o->currency},
	};
	rc = get_int(root, "id", "id", 1, INT64_MAX, &o->id, err);
	if (rc != 0)
		return rc;
	rc = get_required(root, f, sizeof(f) / sizeof(f[0]), err);
	if (rc != 0)
		return rc;
	o->status = status_from(o->status_raw);
	rc = parse_billing(root, o, err);
	if (rc != 0)
		return rc;
	rc = get_meta(root, "meta_data", slots, 2, err);
	if (rc != 0)
		return rc;
	if (parent != NULL && !json_is_null(parent)) {
		rc = get_int(root, "parent_id", "parent_id", 0, INT64_MAX, &o->parent_id, err);
		if (rc != 0)
			return rc;
	}
	return parse_items(root, o, err);
}

int woo_order_parse(const char *body, size_t len, struct woo_order **out, struct ra_err *err)
{
	struct woo_order *o = NULL;
	json_t *root;
	int rc;

	*out = NULL;
	/* Duplicate keys are refused: two "id"s would let the signed bytes mean two orders. */
	root = json_body_object(body, len, err);
	if (root == NULL)
		return err ? err->code : RA_E_INVALID;
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		rc = ra_err_set(err, RA_E_NOMEM, "", "out of memory");
		goto out;
	}
	rc = parse_root(root, o, err);
	if (rc == 0) {
		*out = o;
		o = NULL;
	}
out:
	woo_order_free(o);
	json_decref(root);
	return rc;
}

void woo_order_free(struct woo_order *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n_items; i++) {
		free(o->items[i].sku);
		free(o->items[i].organisation);
		free(o->items[i].organisation_id);
		free(o->items[i].function);
		free(o->items[i].certificate_id);
	}
	free(o->items);
	free(o->number);
	free(o->status_raw);
	free(o->currency);
	free(o->first_name);
	free(o->last_name);
	free(o->email);
	free(o->phone);
	free(o->contract_number);
	free(o->subscription_renewal);
	free(o);
}

int woo_is_ping(const char *content_type, const char *body, size_t len)
{
	static const char ct[] = "application/x-www-form-urlencoded";
	static const char key[] = "webhook_id=";
	size_t i;

	if (content_type == NULL || body == NULL)
		return 0;
	if (strncasecmp(content_type, ct, sizeof(ct) - 1) != 0 ||
	    (content_type[sizeof(ct) - 1] != '\0' && content_type[sizeof(ct) - 1] != ';' &&
	     content_type[sizeof(ct) - 1] != ' '))
		return 0;
	if (len <= sizeof(key) - 1 || memcmp(body, key, sizeof(key) - 1) != 0)
		return 0;
	for (i = sizeof(key) - 1; i < len; i++)
		if (!isdigit((unsigned char)body[i]))
			return 0;
	return 1;
}

int woo_signature_ok(const char *secret, const void *body, size_t len, const char *sig_b64)
{
	return secret_hmac_sha256_b64_ok(secret, body, len, sig_b64);
}
