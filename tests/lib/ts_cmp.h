/*
 * ts_cmp.h - test helper: CMP peers as real processes on loopback: build/ca-bridge (the
 * binary under $RA_TEST_BIN, default "build") and `openssl cmp`'s mock server.
 */
#ifndef TS_CMP_H
#define TS_CMP_H

#include <sys/types.h>

struct ts_proc {
	pid_t pid;
	int port;
	char log[300]; /* its stderr goes here */
};

/* Starts ca-bridge with args (NULL-terminated; --listen 127.0.0.1:0 is added) and waits for
 * its "listening on" line.  stderr goes to log_path.  0 on success. */
int ts_cabridge_start(struct ts_proc *p, const char *log_path, const char *const *args);

/* Starts `openssl cmp -port N` with args (NULL-terminated) on a free port and waits until it
 * accepts connections.  0 on success. */
int ts_cmp_mock_start(struct ts_proc *p, const char *log_path, const char *const *args);

/* SIGTERM, then wait (SIGKILL after 5 s).  Returns the exit status (or -1). */
int ts_proc_stop(struct ts_proc *p);

#endif
