/* ts_peers.c - start and stop the test peers from C; see ts_peers.h. */
#include "tests/lib/ts_peers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/rt.h"

int ts_peers_sh(const char *fn, const char *const *args)
{
	const char *root = getenv("RA_TEST_ROOT");
	char script[1024];
	const char *argv[16] = {"bash", "-c", script, "peers"};
	int n = 4, st;
	pid_t pid;

	snprintf(script, sizeof(script), ". '%s/tests/lib/peers.sh' && %s \"$@\"", root ? root : ".", fn);
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execvp("bash", (char *const *)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int ts_peer_start(const char *dir, const char *name, const char *const *extra)
{
	const char *args[16] = {name, dir};
	char path[700];
	char *port;
	int n = 2, p;

	for (; extra && *extra && n < 15; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	cr_assert_eq(ts_peers_sh("peer_start", args), 0, "peer %s did not start", name);
	snprintf(path, sizeof(path), "%s/%s.port", dir, name);
	port = rt_read_file(path, NULL);
	cr_assert_not_null(port, "no port file %s", path);
	p = atoi(port);
	free(port);
	return p;
}

void ts_peer_stop(const char *dir, const char *name)
{
	const char *args[] = {name, dir, NULL};

	ts_peers_sh("peer_stop", args);
}

void ts_peer_stop_all(const char *dir)
{
	const char *args[] = {dir, NULL};

	ts_peers_sh("peer_stop_all", args);
}
