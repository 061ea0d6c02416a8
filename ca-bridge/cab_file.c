/*
 * cab_file.c - the file system under ca_dir, as both back-ends keep their state there:
 * whole files written durably (temp file, fsync, rename, fsync of the directory) and read
 * back.
 */
#include "ca-bridge/cab_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cab_write_atomic(const char *dir, const char *name, const void *data, size_t len, int mode,
		     struct cab_err *err)
{
	char tmp[4096], dst[4096];
	int fd = -1, dfd = -1, rc = 0;
	const unsigned char *p = data;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = mkstemp(tmp);
	if (fd < 0)
		return cab_err_set(err, CAB_E_IO, "ca.dir", "cannot create a file in %s: %s", dir,
				   strerror(errno));
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst) != 0)
		goto fail;
	/* the rename is durable only once the directory is */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		rc = cab_err_set(err, CAB_E_IO, "ca.dir", "cannot sync %s: %s", dir, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	return rc;
fail:
	rc = cab_err_set(err, CAB_E_IO, "ca.dir", "cannot write %s: %s", dst, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int cab_read_file(const char *path, unsigned char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct cab_buf b = {0};
	unsigned char chunk[8192];
	size_t n;

	if (f == NULL)
		return errno == ENOENT ? CAB_E_NOTFOUND : CAB_E_IO;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (cab_buf_put(&b, chunk, n) != 0) {
			fclose(f);
			cab_buf_free(&b);
			return CAB_E_NOMEM;
		}
	}
	if (ferror(f)) {
		fclose(f);
		cab_buf_free(&b);
		return CAB_E_IO;
	}
	fclose(f);
	*data = b.p;
	*len = b.len;
	return 0;
}
