/*
 * ractl.c - the support desk's command-line tool.  It only talks to the admin API of
 * `ra serve` (RACTL_URL, RACTL_TOKEN); it never touches the database.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int health(const char *url)
{
	CURL *c = curl_easy_init();
	char u[1024];
	long code = 0;
	CURLcode rc;

	snprintf(u, sizeof(u), "%s/healthz", url);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "\nractl: server unreachable: %s\n", curl_easy_strerror(rc));
		return 4;
	}
	printf("\n");
	return code == 200 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *url = getenv("RACTL_URL");

	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fputs("usage: ractl health\n(env RACTL_URL, RACTL_TOKEN)\n", argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (url == NULL)
		url = "http://127.0.0.1:8080";
	if (!strcmp(argv[1], "health"))
		return health(url);
	fprintf(stderr, "ractl: unknown command '%s'\n", argv[1]);
	return 2;
}
