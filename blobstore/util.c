/*
 * util.c — small I/O helpers shared by the blobstore files.
 *
 * Who calls it: backend_local.c, secret.c, put.c, wblob.c.  Each helper
 * turns the POSIX "-1 and errno, maybe a short transfer" convention into
 * "bytes or -errno": reads and writes are retried on EINTR and continued
 * after short transfers, so callers see either the whole length or an error
 * (reads may stop early only at end of file).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "blobstore_int.h"

bool blob_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len == 0)
		return true;
	/* p[0] == 0 and every byte equals its predecessor: all zero. */
	return p[0] == 0 && memcmp(p, p + 1, len - 1) == 0;
}

ssize_t blob_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int blob_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

ssize_t blob_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int blob_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int blob_fsync_dir_at(int dirfd, const char *name)
{
	int fd = -1;
	int rc = 0;

	if (name == NULL || name[0] == '\0')
		return fsync(dirfd) < 0 ? -errno : 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}
