/*
 * util.c — small I/O helpers shared by the blobstore files, and the log.
 *
 * Who calls it: backend/local.c, backend/rados.c, store.c, secret.c, put.c,
 * wblob.c.  Each I/O helper turns the POSIX "-1 and errno, maybe a short
 * transfer" convention into "bytes or -errno": reads and writes are retried
 * on EINTR and continued after short transfers, so callers see either the
 * whole length or an error (reads may stop early only at end of file).
 * blob_log_line formats one line for a store's log (blob_store_set_log),
 * stderr when none was set.  blob_chunk_buf_new allocates the one kind of
 * chunk buffer that the cache, the batches' lanes, the wblob's stage and
 * the RADOS backend's slots pass to each other instead of copying.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "blobstore_int.h"

/* Bytes copied between the store's own buffers on their way in (see
 * blob_copied_bytes): process-wide, as the mount's /stats is. */
static atomic_uint_fast64_t copied;

void blob_count_copy(size_t n)
{
	atomic_fetch_add_explicit(&copied, n, memory_order_relaxed);
}

uint64_t blob_copied_bytes(void)
{
	return atomic_load_explicit(&copied, memory_order_relaxed);
}

uint8_t *blob_chunk_buf_new(void)
{
	void *p;

	return posix_memalign(&p, BLOB_DIO_ALIGN, BLOB_CHUNK_BUF) == 0 ? p : NULL;
}

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

void blob_log_line(const struct blob_log *log, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' '; /* one line, whatever a reason said */
	if (log != NULL && log->fn != NULL)
		log->fn(log->arg, line);
	else
		fprintf(stderr, "imgfs: %s\n", line);
}

int blob_clean_tmp_dir(int tmp_fd, int64_t before, uint64_t *removed_out)
{
	uint64_t removed = 0;
	struct dirent *e;
	DIR *d;
	int fd, rc;

	/* A descriptor of its own: the caller's stays usable. */
	if ((fd = openat(tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (;;) {
		struct stat st;

		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			rc = errno ? -errno : 0;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((int64_t)st.st_mtim.tv_sec >= before)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed_out != NULL)
		*removed_out = removed;
	return rc;
}

/* Whether syncfs(2) of fd's file system writes and waits for every dirty
 * page and inode and flushes the disk's cache (backend/local.c, "How A
 * and D wait"): the local file systems that do. */
bool blob_syncfs_suits(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case EXT4_SUPER_MAGIC: /* also ext2 and ext3 */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case F2FS_SUPER_MAGIC:
	case TMPFS_MAGIC:
		return true;
	default:
		return false;
	}
}
