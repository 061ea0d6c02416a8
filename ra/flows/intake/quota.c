/*
 * quota.c - the statement that gives an order's contract places back; see quota.h.
 */
#include "ra/flows/intake/quota.h"

const char *const quota_sql_release =
	"WITH o AS (SELECT id, contract_id, quota_taken FROM orders"
	"  WHERE id = $1::bigint AND quota_taken > 0 FOR UPDATE),"
	" z AS (UPDATE orders SET quota_taken = 0 FROM o WHERE orders.id = o.id RETURNING o.contract_id, o.quota_taken)"
	" UPDATE contracts SET used = used - z.quota_taken FROM z WHERE contracts.id = z.contract_id";
