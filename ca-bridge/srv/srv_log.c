/*
 * srv_log.c - the ca-bridge server's log lines (srv_int.h), from the loop and the thread
 * pool alike: one line at a time under a mutex.  Its own file so that the CMP part
 * (srv_cmp.c, srv_tx.c) links without the HTTP front (the fuzz harness, tests/fuzz/).
 */
#include "ca-bridge/srv/srv_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

int cab_srv_log_quiet;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void cab_srv_log(const char *level, const char *event, const char *fmt, ...)
{
	va_list ap;

	if (cab_srv_log_quiet)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "ca-bridge: level=%s event=%s ", level, event);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}
