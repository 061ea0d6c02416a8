/*
 * fuzz_config.c - libFuzzer target: the configuration file (config_load: schema, types,
 * ranges, dotted names; config_check: what features need; config_print with masking).  The
 * input is written to a memfd and loaded by its /proc path, as `ra --config` loads a file.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ra/base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config cfg = {0};
	struct ra_err err = {0};
	char path[64];
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (devnull == NULL)
		devnull = fopen("/dev/null", "w");
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (config_load(&cfg, path, 0, &err) == 0) {
			(void)config_check(&cfg, &err);
			if (devnull != NULL)
				config_print(&cfg, devnull);
			config_free(&cfg);
		}
	}
	close(fd);
	return 0;
}
