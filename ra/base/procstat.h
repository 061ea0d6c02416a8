/*
 * procstat.h - the process's own CPU, memory, file-descriptor and start-time figures, read
 * from /proc/self on Linux, for the process_* metrics every Prometheus client exposes
 * (metrics.c renders them).  Small procfs files: cheap enough for the loop thread.
 */
#ifndef RA_PROCSTAT_H
#define RA_PROCSTAT_H

struct procstat {
	double cpu_seconds; /* user + system */
	double start_time; /* seconds since the epoch */
	double virtual_bytes;
	double resident_bytes;
	double open_fds;
	double max_fds; /* soft RLIMIT_NOFILE; 0 when unlimited */
};

/* Fills ps; -1 (ps zeroed) when /proc cannot be read. */
int procstat_read(struct procstat *ps);

#endif
