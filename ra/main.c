/*
 * main.c - the `ra` command: serve, migrate, --print-config, token create.  Each subcommand
 * loads the configuration the same way (file, then RA_* environment variables).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/flows/admin/admin.h"
#include "ra/flows/admin/audit_verify.h"
#include "ra/base/config.h"
#include "ra/flows/intake/contract.h"
#include "ra/db/migrate.h"
#include "ra/flows/admin/review.h"
#include "ra/server.h"

static void usage(FILE *f)
{
	fputs("usage: ra [--config FILE] COMMAND\n"
	      "  serve                 run the service (HTTP, jobs) until SIGTERM\n"
	      "  migrate               apply pending database migrations\n"
	      "  audit verify          check the audit log's hash chain (exit 1 names the first broken record)\n"
	      "  contract create --org NAME [--org-id ID] --quota N\n"
	      "                        make a contract number (R6); printed\n"
	      "  order approve|reject ORDER --by NAME [--comment TEXT]\n"
	      "                        decide an order's manual review (R7; R19: not your own, not one you opened)\n"
	      "  --print-config        show the effective configuration, secrets masked\n"
	      "  token create --name NAME --role support|admin (--user-id USER-ID | --no-customer-account)\n"
	      "                        make an admin-API token for a support user; printed once\n"
	      "                        (--user-id: their own customer account, refused to them: R19)\n"
	      "Every configuration key can be set by an environment variable: ident.base_url ->\n"
	      "RA_IDENT_BASE_URL.  See docs/configuration.md.\n",
	      f);
}

static int load(struct config *cfg, const char *path, int need_required)
{
	struct ra_err err = {0};

	if (config_load(cfg, path, need_required, &err) != 0) {
		fprintf(stderr, "ra: configuration: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int cmd_migrate(struct config *cfg)
{
	struct ra_err err = {0};
	int n = 0;

	if (migrate_apply(cfg_str(cfg, "database_url"), &n, &err) != 0) {
		fprintf(stderr, "ra migrate: %s\n", err.msg);
		return 1;
	}
	printf("schema at version %d (%d migration%s applied)\n", migrate_latest(), n, n == 1 ? "" : "s");
	return 0;
}

static const char *token_usage =
	"usage: ra token create --name NAME --role support|admin (--user-id USER-ID | --no-customer-account)\n"
	"  R19: a support user never acts on their own account, so every token says which customer\n"
	"  account (user ID) is the support user's own, or that they have none.\n";

static int cmd_token(struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *role = NULL, *user_id = NULL;
	int no_account = 0;
	char token[128];
	struct ra_err err = {0};

	if (argc < 1 || strcmp(argv[0], "create") != 0) {
		fputs(token_usage, stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-customer-account"))
			no_account = 1;
		else if (i + 1 < argc && !strcmp(argv[i], "--name"))
			name = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--role"))
			role = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--user-id"))
			user_id = argv[++i];
		else {
			fprintf(stderr, "ra token create: unknown argument '%s'\n%s", argv[i], token_usage);
			return 2;
		}
	}
	if (name == NULL || role == NULL || (user_id != NULL) + no_account != 1) {
		if (name && role)
			fputs("ra token create: R19: give exactly one of --user-id and --no-customer-account\n", stderr);
		fputs(token_usage, stderr);
		return 2;
	}
	if (admin_token_create(cfg_str(cfg, "database_url"), name, role, user_id, token, sizeof(token), &err) != 0) {
		fprintf(stderr, "ra token create: %s%s%s\n", err.field, err.field[0] ? ": " : "", err.msg);
		return 1;
	}
	printf("%s\n", token);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"print-config", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("RA_CONFIG");
	struct config cfg = {0};
	int print = 0, o, rc = 2;
	const char *cmd;

	while ((o = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': path = optarg; break;
		case 'p': print = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (print) {
		if (load(&cfg, path, 0) != 0)
			return 1;
		config_print(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (load(&cfg, path, 1) != 0)
		return 1;
	if (!strcmp(cmd, "serve"))
		rc = server_run(&cfg);
	else if (!strcmp(cmd, "migrate"))
		rc = cmd_migrate(&cfg);
	else if (!strcmp(cmd, "audit"))
		rc = audit_cmd(&cfg, argc - optind - 1, argv + optind + 1);
	else if (!strcmp(cmd, "contract"))
		rc = contract_cmd(&cfg, argc - optind - 1, argv + optind + 1);
	else if (!strcmp(cmd, "order"))
		rc = review_cmd(&cfg, argc - optind - 1, argv + optind + 1);
	else if (!strcmp(cmd, "token"))
		rc = cmd_token(&cfg, argc - optind - 1, argv + optind + 1);
	else {
		fprintf(stderr, "ra: unknown command '%s'\n", cmd);
		usage(stderr);
	}
	config_free(&cfg);
	return rc;
}
