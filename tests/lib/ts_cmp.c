/*
 * ts_cmp.c - test helper: CMP peers as processes (see ts_cmp.h).
 */
#include "tests/lib/ts_cmp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t spawn(const char *const *argv, const char *log_path, int out_fd)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	/* a test that fails its assertion ends without stopping what it started: SIGTERM then */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(127);
	int null = open("/dev/null", O_RDONLY), log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (null >= 0)
		dup2(null, STDIN_FILENO);
	if (log >= 0)
		dup2(log, STDERR_FILENO);
	dup2(out_fd >= 0 ? out_fd : log, STDOUT_FILENO);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

int ts_cabridge_start(struct ts_proc *p, const char *log_path, const char *const *args)
{
	const char *bin = getenv("RA_TEST_BIN");
	const char *argv[64];
	char path[512], line[256];
	int fds[2], n = 0;
	FILE *f;

	memset(p, 0, sizeof(*p));
	snprintf(p->log, sizeof(p->log), "%s", log_path);
	snprintf(path, sizeof(path), "%s/ca-bridge", bin && *bin ? bin : "build");
	argv[n++] = path;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	for (int i = 0; args[i] != NULL && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe(fds) != 0)
		return -1;
	p->pid = spawn(argv, log_path, fds[1]);
	close(fds[1]);
	if (p->pid < 0) {
		close(fds[0]);
		return -1;
	}
	f = fdopen(fds[0], "r");
	/* the first line says where it listens; EOF means it stopped (see the log) */
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *colon = strrchr(line, ':');

		if (strstr(line, "listening on") != NULL && colon != NULL) {
			p->port = atoi(colon + 1);
			break;
		}
	}
	if (f != NULL)
		fclose(f); /* later stdout lines get EPIPE-free: ca-bridge prints only the one */
	else
		close(fds[0]);
	if (p->port <= 0) {
		ts_proc_stop(p);
		return -1;
	}
	return 0;
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static int accepts(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

int ts_cmp_mock_start(struct ts_proc *p, const char *log_path, const char *const *args)
{
	/* free_port() only finds a port that was free a moment ago: another test run on the
	 * machine may bind it first, and then the mock exits at once.  Try a few ports. */
	for (int attempt = 0; attempt < 5; attempt++) {
		const char *argv[64];
		char port[16];
		int n = 0;

		memset(p, 0, sizeof(*p));
		snprintf(p->log, sizeof(p->log), "%s", log_path);
		p->port = free_port();
		snprintf(port, sizeof(port), "%d", p->port);
		argv[n++] = "openssl";
		argv[n++] = "cmp";
		argv[n++] = "-port";
		argv[n++] = port;
		for (int i = 0; args[i] != NULL && n < 63; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		p->pid = spawn(argv, log_path, -1);
		if (p->pid < 0)
			return -1;
		for (int i = 0; i < 200; i++) {
			struct timespec ts = {0, 50 * 1000 * 1000};
			int status;

			if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
				p->pid = 0;
				break; /* exited: most likely the port was taken; next port */
			}
			if (accepts(p->port))
				return 0;
			nanosleep(&ts, NULL);
		}
		if (p->pid > 0) {
			ts_proc_stop(p);
			return -1; /* running but never accepting: not a port race */
		}
	}
	return -1;
}

int ts_proc_stop(struct ts_proc *p)
{
	int status = 0;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		nanosleep(&ts, NULL);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
	return -1;
}
