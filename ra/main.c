/*
 * main.c - the `ra` command: serve, migrate, --print-config, token create.  Each subcommand
 * loads the configuration the same way (file, then RA_* environment variables).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ra/flows/admin/admin.h"
#include "ra/flows/admin/audit_verify.h"
#include "ra/base/config.h"
#include "ra/base/version.h"
#include "ra/flows/intake/contract.h"
#include "ra/flows/cert/kek.h"
#include "ra/db/migrate.h"
#include "ra/flows/admin/review.h"
#include "ra/server.h"

static void usage(FILE *f)
{
	fputs("usage: ra [--config FILE] COMMAND [ARGS] (global options may also follow the command)\n"
	      "  serve                 run the service (HTTP, jobs) until SIGTERM\n"
	      "  migrate               apply pending database migrations\n"
	      "  audit verify          check the audit log's hash chain (exit 1 names the first broken record)\n"
	      "  contract create --org NAME [--org-id ID] --quota N\n"
	      "                        make a contract number (R6); printed\n"
	      "  order approve|reject ORDER --by NAME [--comment TEXT]\n"
	      "                        decide an order's manual review (R7; R19: not your own, not one you opened)\n"
	      "  kek create|rotate [--actor NAME] | kek status\n"
	      "                        the key-encryption key of wrapped key storage (docs/ca-bridge.md)\n"
	      "  key csr CERTIFICATE-ID | key migrate [--actor NAME]\n"
	      "                        a CSR signed with the certificate's stored key (PEM); fails once it is destroyed\n"
	      "  --print-config        show the effective configuration, secrets masked; exit 1 when\n"
	      "                        `ra serve` would refuse it (the message names the key)\n"
	      "  --version             show the version of this build\n"
	      "  token create --name NAME --role support|admin|signing (--user-id USER-ID | --no-customer-account)\n"
	      "                        make an API token for a support user (or the signing service); printed once\n"
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
	"usage: ra token create --name NAME --role support|admin|signing (--user-id USER-ID | --no-customer-account)\n"
	"                       [--expires-in-days N]\n"
	"  R19: a support user never acts on their own account, so every token says which customer\n"
	"  account (user ID) is the support user's own, or that they have none.\n";

static int cmd_token(struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *role = NULL, *user_id = NULL;
	int no_account = 0, days = 0;
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
		else if (i + 1 < argc && !strcmp(argv[i], "--expires-in-days") && atoi(argv[i + 1]) > 0)
			days = atoi(argv[++i]);
		else {
			fprintf(stderr, "ra token create: unknown argument '%s'\n%s", argv[i], token_usage);
			return 2;
		}
	}
	if (name == NULL || role == NULL || (user_id != NULL) + no_account != 1) {
		if (name && role)
			fputs("ra token create: R19: give exactly one of --user-id and --no-customer-account\n",
			      stderr);
		fputs(token_usage, stderr);
		return 2;
	}
	if (admin_token_create(cfg_str(cfg, "database_url"), name, role, user_id, days, token, sizeof(token),
			       &err) != 0) {
		fprintf(stderr, "ra token create: %s%s%s\n", err.field, err.field[0] ? ": " : "", err.msg);
		return 1;
	}
	printf("%s\n", token);
	return 0;
}

/* The global options, wherever they stand on the command line. */
struct globals {
	const char *config;
	int print, help, version;
};

/*
 * Takes the global options (--config FILE, --config=FILE, -c FILE, --print-config, --help)
 * out of argv, before or after the command, up to a "--"; what is left (argv[0] kept) is the
 * command and its own arguments.  An unknown option before the command is an error.
 */
static int take_globals(int *argc, char **argv, struct globals *g)
{
	int out = 1, cmd_seen = 0, i;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "ra: %s needs a FILE\n", a);
				return -1;
			}
			g->config = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			g->config = a + 9;
		} else if (strcmp(a, "--print-config") == 0) {
			g->print = 1;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			g->help = 1;
		} else if (strcmp(a, "--version") == 0) {
			g->version = 1;
		} else if (!cmd_seen && a[0] == '-') {
			fprintf(stderr, "ra: unknown option '%s'\n", a);
			return -1;
		} else {
			cmd_seen = 1;
			argv[out++] = argv[i];
		}
	}
	for (; i < *argc; i++)
		argv[out++] = argv[i];
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* --print-config: the effective configuration, then exit 1 when `ra serve` would refuse it. */
static int cmd_print(const char *path)
{
	struct config cfg = {0};
	struct ra_err err = {0};
	int rc = 0;

	if (config_load(&cfg, path, 0, &err) != 0) {
		fprintf(stderr, "ra: configuration: %s\n", err.msg);
		return 1;
	}
	config_print(&cfg, stdout);
	if (config_check(&cfg, &err) != 0) {
		fprintf(stderr, "ra: configuration: %s\n", err.msg);
		rc = 1;
	}
	config_free(&cfg);
	return rc;
}

static int known_command(const char *cmd)
{
	static const char *const cmds[] = {"serve", "migrate", "audit", "contract",
					   "order", "token",   "kek",   "key"};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return 1;
	return 0;
}

/* serve and migrate take no arguments of their own */
static int no_args(const char *cmd, int argc, char **argv)
{
	if (argc == 0)
		return 0;
	fprintf(stderr, "ra %s: unknown argument '%s' (ra --help for usage)\n", cmd, argv[0]);
	return -1;
}

int main(int argc, char **argv)
{
	struct globals g = {getenv("RA_CONFIG"), 0, 0, 0};
	struct config cfg = {0};
	struct ra_err err = {0};
	int rc, nargs;
	const char *cmd;
	char **args;

	if (take_globals(&argc, argv, &g) != 0) {
		fputs("ra --help for usage\n", stderr);
		return 2;
	}
	if (g.help) {
		usage(stdout);
		return 0;
	}
	if (g.version) {
		printf("ra %s\n", version_string());
		return 0;
	}
	if (g.print) {
		if (argc > 1) {
			fprintf(stderr, "ra: --print-config takes no command (got '%s')\n", argv[1]);
			return 2;
		}
		return cmd_print(g.config);
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	args = argv + 2;
	nargs = argc - 2;
	if (!known_command(cmd)) {
		fprintf(stderr, "ra: unknown command '%s' (ra --help for usage)\n", cmd);
		return 2;
	}
	if ((!strcmp(cmd, "serve") || !strcmp(cmd, "migrate")) && no_args(cmd, nargs, args) != 0)
		return 2;
	if (load(&cfg, g.config, 1) != 0)
		return 1;
	if (!strcmp(cmd, "serve")) {
		/* everything a configured feature needs, before anything starts (--print-config too) */
		if (config_check(&cfg, &err) != 0) {
			fprintf(stderr, "ra: configuration: %s\n", err.msg);
			rc = 1;
		} else {
			rc = server_run(&cfg);
		}
	} else if (!strcmp(cmd, "migrate")) {
		rc = cmd_migrate(&cfg);
	} else if (!strcmp(cmd, "audit")) {
		rc = audit_cmd(&cfg, nargs, args);
	} else if (!strcmp(cmd, "contract")) {
		rc = contract_cmd(&cfg, nargs, args);
	} else if (!strcmp(cmd, "order")) {
		rc = review_cmd(&cfg, nargs, args);
	} else if (!strcmp(cmd, "kek")) {
		rc = kek_cmd(&cfg, nargs, args);
	} else if (!strcmp(cmd, "key")) {
		rc = key_cmd(&cfg, nargs, args);
	} else {
		rc = cmd_token(&cfg, nargs, args);
	}
	config_free(&cfg);
	return rc;
}
