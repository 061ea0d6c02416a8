/*
 * procstat.c - the process's own figures for the standard Prometheus process_* metrics:
 * CPU time, memory, file descriptors, start time; read from /proc/self (see procstat.h).
 */
#include "ra/base/procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Seconds since the epoch at which the system booted (/proc/stat "btime"); 0 when unknown. */
static double boot_time(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	double bt = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "btime ", 6) == 0) {
			bt = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	return bt;
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	double n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream's own descriptor */
}

int procstat_read(struct procstat *ps)
{
	FILE *f = fopen("/proc/self/stat", "r");
	char buf[1024], *p;
	unsigned long long utime, stime, start, vsize;
	long long rss;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	size_t n;

	memset(ps, 0, sizeof(*ps));
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after the command name, which is in parentheses and may hold spaces */
	p = strrchr(buf, ')');
	if (p == NULL || tick <= 0 || page <= 0)
		return -1;
	/* state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
		   &utime, &stime, &start, &vsize, &rss) != 5)
		return -1;
	ps->cpu_seconds = (double)(utime + stime) / (double)tick;
	ps->start_time = boot_time() + (double)start / (double)tick;
	ps->virtual_bytes = (double)vsize;
	ps->resident_bytes = (double)rss * (double)page;
	ps->open_fds = open_fds();
	ps->max_fds =
		getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : 0;
	return 0;
}
