/*
 * contract.c - `ra contract create` (R6); see contract.h.
 */
#include "ra/flows/intake/contract.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/db/outbox.h"

static const char *sql_create =
	"INSERT INTO contracts (number, organisation, organisation_id, quota, created_by)"
	" VALUES ('RA-C-' || lpad(nextval('contract_number_seq')::text, 6, '0'), $1, $2, $3::int, $4)"
	" RETURNING number";

static int sql_ok(PGconn *c, const char *sql, struct ra_err *err)
{
	PGresult *r = PQexec(c, sql);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = ra_err_set(err, RA_E_INTERNAL, "", "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

/* The contract and its audit record commit together (R16): one transaction, the record
 * through the outbox helper. */
int contract_create(const char *conninfo, const char *org, const char *org_id, int quota, const char *actor,
		    char *number, size_t cap, struct ra_err *err)
{
	PGconn *c = NULL;
	PGresult *r = NULL;
	struct outbox ob = {0};
	char q[16];
	const char *p[4];
	int rc = 0;

	if (org == NULL || *org == '\0' || strlen(org) > 200)
		return ra_err_set(err, RA_E_INVALID, "org", "--org must have 1 to 200 characters");
	if (quota <= 0)
		return ra_err_set(err, RA_E_INVALID, "quota", "--quota must be a positive number");
	snprintf(q, sizeof(q), "%d", quota);
	p[0] = org;
	p[1] = org_id;
	p[2] = q;
	p[3] = actor;
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		rc = ra_err_set(err, RA_E_UNAVAILABLE, "database_url", "%s", PQerrorMessage(c));
		goto out;
	}
	if ((rc = sql_ok(c, "BEGIN", err)) != 0)
		goto out;
	r = PQexecParams(c, sql_create, 4, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		rc = ra_err_set(err, RA_E_INTERNAL, "", "%s", PQresultErrorMessage(r));
		goto out;
	}
	snprintf(number, cap, "%s", PQgetvalue(r, 0, 0));
	ob_audit(&ob, actor, "contract.created", "contract", number, "created by support",
		 json_pack("{s:s, s:s?, s:i}", "organisation", org, "organisation_id", org_id, "quota",
			   quota));
	if ((rc = ob_exec(&ob, c, NULL, err)) != 0)
		goto out;
	rc = sql_ok(c, "COMMIT", err);
out:
	PQclear(r);
	PQfinish(c); /* an open transaction is rolled back */
	return rc;
}

static void usage(void)
{
	fputs("usage: ra contract create --org NAME [--org-id ID] --quota N [--actor NAME]\n", stderr);
}

int contract_cmd(struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{"org", required_argument, NULL, 'o'},
		{"org-id", required_argument, NULL, 'i'},
		{"quota", required_argument, NULL, 'q'},
		{"actor", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	const char *org = NULL, *org_id = NULL, *actor = getenv("USER");
	char number[64], *end, who[128];
	struct ra_err err = {0};
	long quota = 0;
	int o;

	if (argc < 1 || strcmp(argv[0], "create") != 0) {
		usage();
		return 2;
	}
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'o':
			org = optarg;
			break;
		case 'i':
			org_id = optarg;
			break;
		case 'q':
			quota = strtol(optarg, &end, 10);
			if (*end != '\0' || quota <= 0 || quota > 1000000) {
				fputs("ra contract create: --quota must be a number from 1 to 1000000\n",
				      stderr);
				return 2;
			}
			break;
		case 'a':
			actor = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (org == NULL || quota == 0 || optind != argc) {
		usage();
		return 2;
	}
	/* R16: who.  A support user at the console, named by --actor or the login name. */
	snprintf(who, sizeof(who), "support:%s", actor && *actor ? actor : "unknown");
	if (contract_create(cfg_str(cfg, "database_url"), org, org_id, (int)quota, who, number,
			    sizeof(number), &err) != 0) {
		fprintf(stderr, "ra contract create: %s%s%s\n", err.field, err.field[0] ? ": " : "", err.msg);
		return 1;
	}
	printf("%s\n", number);
	return 0;
}
