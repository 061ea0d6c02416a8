/*
 * ractl.c - the support desk's command-line tool (issues #7, #17; docs/ractl.md).  It only
 * talks to the admin API of `ra serve` (RACTL_URL, RACTL_TOKEN or ~/.config/ractl/config);
 * it never touches the database, so everything it does is authenticated, checked by the
 * server's rules and audited there with the support user's name and the reason given.
 *
 * The commands are rows of one table (ractl_table.c); this file reads the line
 * (ractl_args.c), answers -h and --version, and runs the row.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ra/ractl/ractl_run.h"

int main(int argc, char **argv)
{
	struct ractl_ctx x;
	char why[512];
	const char *no_token = NULL;
	int rc;

	memset(&x, 0, sizeof(x));
	x.out = stdout;
	x.err = stderr;
	x.stdin_tty = isatty(STDIN_FILENO);
	rc = ractl_parse(argc, argv, &x.a, why, sizeof(why));
	x.view.fmt = x.a.fmt;
	x.view.no_headers = x.a.no_headers;
	x.view.width = ractl_term_width(STDOUT_FILENO);
	if (rc != 0) {
		rc = ractl_usage_error(&x, why);
		if (x.a.group && x.a.cmd == NULL && x.view.fmt != RACTL_FMT_JSON)
			ractl_help(stderr, NULL, x.a.group); /* `ractl cert`: what there is */
		return rc;
	}
	if (x.a.help) { /* -h anywhere: help, and nothing else happens */
		ractl_help(stdout, x.a.cmd, x.a.group);
		return RACTL_OK;
	}
	if (x.a.version) {
		ractl_version(stdout);
		return RACTL_OK;
	}
	if (x.a.cmd->flags & RACTL_CMD_LOCAL)
		return x.a.cmd->run(x.a.cmd, &x);
	if (ractl_conf_load(&x.conf, x.a.server, &no_token) != 0)
		return ractl_usage_error(&x, no_token);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = x.a.cmd->run ? x.a.cmd->run(x.a.cmd, &x) : ractl_run_request(x.a.cmd, &x);
	curl_global_cleanup();
	return rc;
}
