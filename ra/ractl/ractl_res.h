/*
 * ractl_res.h - how ractl shows each kind of answer ("resource"): a fixed column order for
 * tables (the server's JSON key order is not an order a person can learn), which columns
 * matter most when the terminal is narrow, and the nested lists of a detail view
 * (`user show` lists the user's certificates and open orders).
 *
 * A column's path names a member of an item: "a.b" goes into objects, "a|b" takes the first
 * present, "a+b" joins the present ones with a space (first and last name).
 */
#ifndef RA_RACTL_RES_H
#define RA_RACTL_RES_H

#define RACTL_COL_FLEX 1u /* may be cut (with "…") to fit the terminal */
#define RACTL_COL_DATE 2u /* a timestamp, shown as local "YYYY-MM-DD HH:MM" */
#define RACTL_COL_AGE 4u /* a timestamp, shown as its age ("5m", "3h", "2d") */

struct ractl_col {
	const char *head; /* "NOT-AFTER"; NULL ends the list */
	const char *path;
	int prio; /* 1 always shown; higher numbers are dropped first when the terminal is narrow */
	unsigned flags;
};

struct ractl_sub {
	const char *label; /* "certificates"; NULL ends the list */
	const char *path; /* the member holding the list */
	const char *resource; /* how its items are shown */
};

struct ractl_res {
	const char *name; /* "cert": -o name prints cert/<id> */
	const char *list; /* the member holding the items of a list answer */
	const char *id; /* path of an item's identifier */
	const struct ractl_col *cols;
	const struct ractl_sub *subs; /* NULL: none */
};

/* NULL when name is NULL or unknown. */
const struct ractl_res *ractl_res_find(const char *name);

#endif
