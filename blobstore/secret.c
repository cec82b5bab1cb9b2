/*
 * secret.c — the per-state-directory key of the chunk hash.
 *
 * Who calls it: model/ when it opens a state directory, before opening the
 * region stores, which all share the one secret (so a chunk keeps its id
 * across regions and a cross-region copy can skip chunks already there).
 *
 * On disk: <path>, exactly BLOB_SECRET_SIZE random bytes from getrandom(2),
 * mode 0600.  Creation writes a unique temporary name beside it
 * ("<path>.<pid>.<tid>.tmp"), fsyncs it and then link()s it into place
 * rather than rename()ing, so that two processes creating the secret of one
 * state directory at the same time agree on one secret: the loser's link
 * fails with EEXIST and it reads the winner's file.  The directory is fsynced
 * afterwards.  A secret file of the wrong length is -EINVAL (never replaced:
 * every chunk id depends on it).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore_int.h"
#include "xxh.h"

static int secret_read(uint8_t out[BLOB_SECRET_SIZE], const char *path)
{
	uint8_t buf[BLOB_SECRET_SIZE + 1];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = blob_read_full(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		return (int)n;
	if (n != BLOB_SECRET_SIZE)
		return -EINVAL;
	memcpy(out, buf, BLOB_SECRET_SIZE);
	return 0;
}

int blob_secret_load(uint8_t out[BLOB_SECRET_SIZE], const char *path)
{
	return secret_read(out, path);
}

uint64_t blob_secret_fingerprint(const uint8_t secret[BLOB_SECRET_SIZE])
{
	return XXH3_64bits(secret, BLOB_SECRET_SIZE);
}

static int secret_random(uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(buf + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int secret_fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int rc;

	if (copy == NULL)
		return -ENOMEM;
	rc = blob_fsync_dir_at(AT_FDCWD, dirname(copy));
	free(copy);
	return rc;
}

int blob_secret_load_or_create(uint8_t out[BLOB_SECRET_SIZE], const char *path)
{
	uint8_t secret[BLOB_SECRET_SIZE];
	char *tmp = NULL;
	int fd = -1;
	int rc;

	rc = secret_read(out, path);
	if (rc != -ENOENT)
		return rc;

	if ((rc = secret_random(secret, sizeof secret)) < 0)
		goto out;
	if (asprintf(&tmp, "%s.%ld.%ld.tmp", path, (long)getpid(), (long)gettid()) < 0) {
		tmp = NULL;
		rc = -ENOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = blob_write_full(fd, secret, sizeof secret)) < 0)
		goto out;
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (link(tmp, path) < 0) {
		rc = -errno;
		if (rc == -EEXIST) /* somebody else won: use theirs */
			rc = secret_read(out, path);
		goto out;
	}
	if ((rc = secret_fsync_parent(path)) < 0)
		goto out;
	memcpy(out, secret, sizeof secret);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	explicit_bzero(secret, sizeof secret);
	return rc;
}
