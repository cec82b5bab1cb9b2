/*
 * backend_local.c — the local-directory chunk backend.
 *
 * Who calls it: store.c (every region store sits on one), gc.c through the
 * table, and the unit tests.  It stores bytes under ids it is given; it never
 * hashes (store.c does).  It is used from many threads at once: after
 * construction its state is a set of directory descriptors and an atomic
 * counter.
 *
 * On disk, under the root <dir>:
 *   chunks/<xx>/<32 hex>   one file per chunk, exactly the chunk's bytes,
 *                          mode 0444; <xx> is the first two hex digits of
 *                          the id.  <xx> directories are made on first use.
 *   tmp/<pid>.<tid>.<n>.tmp  files being written.  Never read: a reader only
 *                          ever opens chunks/<xx>/<hex>, so a write that was
 *                          interrupted (crash, ENOSPC, kill -9) is invisible;
 *                          leftovers are removed by blob_local_clean_tmp
 *                          (called by gc).
 *
 * Placing a chunk (put):
 *   1. if chunks/<xx>/<hex> exists: refresh its mtime (so a running gc,
 *      which spares recent chunks, keeps it) and report "already there";
 *   2. write the bytes to a new tmp/ file, fchmod 0444, fsync;
 *   3. mkdir chunks/<xx> if needed (fsync chunks/ when it was made);
 *   4. link() the temp file to chunks/<xx>/<hex>: link never replaces, so
 *      EEXIST means another writer placed the same bytes first (step 1's
 *      answer, late);
 *   5. unlink the temp name, fsync chunks/<xx>.
 *   Any failure unlinks the temp file, so ENOSPC leaves nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "blobstore_int.h"

struct local_backend {
	struct blob_backend be; /* first: the table */
	int root_fd;
	int chunks_fd;
	int tmp_fd;
	atomic_uint_fast64_t counter;
};

static struct local_backend *local(struct blob_backend *be)
{
	return (struct local_backend *)be;
}

/* "xx/<32 hex>" relative to chunks/, and "xx" alone. */
static void local_paths(const chunk_id *id, char path[36], char sub[3])
{
	char hex[33];

	chunk_id_fmt(hex, id);
	snprintf(path, 36, "%.2s/%s", hex, hex);
	sub[0] = hex[0];
	sub[1] = hex[1];
	sub[2] = '\0';
}

void blob_local_tmp_name(struct blob_backend *be, char *buf, size_t cap)
{
	uint64_t n = atomic_fetch_add(&local(be)->counter, 1);

	snprintf(buf, cap, "%ld.%ld.%llu.tmp", (long)getpid(), (long)gettid(), (unsigned long long)n);
}

int blob_local_tmp_create(struct blob_backend *be, char *name, size_t cap, mode_t mode)
{
	/* A name can only be taken by a dead process whose pid and tid came
	 * back: try the next counter value. */
	for (int tries = 0; tries < 100; tries++) {
		int fd;

		blob_local_tmp_name(be, name, cap);
		fd = openat(local(be)->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int local_get(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len_out)
{
	char path[36], sub[3];
	struct stat st;
	ssize_t n;
	int fd = -1;
	int rc;

	local_paths(id, path, sub);
	fd = openat(local(be)->chunks_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size > BLOB_CHUNK_SIZE) { /* no chunk is that long: damaged */
		rc = -EIO;
		goto out;
	}
	if ((size_t)st.st_size > cap) {
		rc = -ERANGE;
		goto out;
	}
	n = blob_pread_full(fd, buf, cap, 0);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	*len_out = (size_t)n;
	rc = 0;
out:
	close(fd);
	return rc;
}

static int local_touch_path(struct local_backend *lb, const char *path)
{
	if (utimensat(lb->chunks_fd, path, NULL, 0) < 0)
		return -errno;
	return 0;
}

int blob_local_touch(struct blob_backend *be, const chunk_id *id)
{
	char path[36], sub[3];

	local_paths(id, path, sub);
	return local_touch_path(local(be), path);
}

static int local_mkdir_sub(struct local_backend *lb, const char *sub)
{
	if (mkdirat(lb->chunks_fd, sub, 0755) == 0)
		return blob_fsync_dir_at(lb->chunks_fd, NULL);
	return errno == EEXIST ? 0 : -errno;
}

static int local_put(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len)
{
	struct local_backend *lb = local(be);
	char path[36], sub[3], tmp[64];
	bool have_tmp = false;
	int fd = -1;
	int rc;

	if (len > BLOB_CHUNK_SIZE)
		return -EINVAL;
	local_paths(id, path, sub);

	/* 1. Already there?  ENOENT from the touch means it vanished (gc)
	 *    since the check: write it anew. */
	if (faccessat(lb->chunks_fd, path, F_OK, AT_EACCESS) == 0) {
		rc = local_touch_path(lb, path);
		if (rc != -ENOENT)
			return rc;
	}

	/* 2. The bytes, durably, under a private name. */
	if ((fd = blob_local_tmp_create(be, tmp, sizeof tmp, 0444)) < 0)
		return fd;
	have_tmp = true;
	if ((rc = blob_write_full(fd, buf, len)) < 0)
		goto out;
	if (fchmod(fd, 0444) < 0 || fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;

	/* 3, 4. Into place, never replacing. */
	if ((rc = local_mkdir_sub(lb, sub)) < 0)
		goto out;
	if (linkat(lb->tmp_fd, tmp, lb->chunks_fd, path, 0) < 0) {
		rc = -errno;
		if (rc == -EEXIST)
			rc = local_touch_path(lb, path);
		goto out;
	}
	/* 5. */
	unlinkat(lb->tmp_fd, tmp, 0);
	have_tmp = false;
	if ((rc = blob_fsync_dir_at(lb->chunks_fd, sub)) < 0)
		goto out;
	rc = 1;
out:
	if (fd >= 0)
		close(fd);
	if (have_tmp)
		unlinkat(lb->tmp_fd, tmp, 0);
	return rc;
}

static int local_exists(struct blob_backend *be, const chunk_id *id)
{
	char path[36], sub[3];

	local_paths(id, path, sub);
	if (faccessat(local(be)->chunks_fd, path, F_OK, AT_EACCESS) == 0)
		return 1;
	/* ENOTDIR: chunks/<xx> is not a directory, so no chunk is there. */
	return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

static int local_del(struct blob_backend *be, const chunk_id *id)
{
	char path[36], sub[3];

	local_paths(id, path, sub);
	if (unlinkat(local(be)->chunks_fd, path, 0) < 0)
		return -errno;
	return 0;
}

static bool is_hex_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[len] == '\0';
}

/* Opens dirfd/name as a DIR stream (a fresh descriptor: the caller's stays
 * usable). */
static int open_dir(DIR **out, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	*out = fdopendir(fd);
	if (*out == NULL) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return 0;
}

static int local_list_sub(struct local_backend *lb, const char *sub,
                          int (*cb)(void *arg, const chunk_id *id, int64_t mtime), void *arg)
{
	DIR *d = NULL;
	struct dirent *e;
	int rc;

	if ((rc = open_dir(&d, lb->chunks_fd, sub)) < 0)
		return rc == -ENOENT || rc == -ENOTDIR ? 0 : rc;
	for (;;) {
		struct stat st;
		chunk_id id;

		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			rc = errno ? -errno : 0;
			goto out;
		}
		if (!is_hex_name(e->d_name, 32) || memcmp(e->d_name, sub, 2) != 0)
			continue; /* not a chunk file: never ours to report */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) /* deleted meanwhile */
				continue;
			rc = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode) || chunk_id_parse(&id, e->d_name) < 0)
			continue;
		if ((rc = cb(arg, &id, (int64_t)st.st_mtim.tv_sec)) != 0)
			goto out;
	}
out:
	closedir(d);
	return rc;
}

static int local_list(struct blob_backend *be, int (*cb)(void *arg, const chunk_id *id, int64_t mtime), void *arg)
{
	struct local_backend *lb = local(be);
	char sub[3];
	int rc;

	/* The 256 possible subdirectories in order, rather than readdir of
	 * chunks/: a stable order, and no surprise from foreign entries. */
	for (int i = 0; i < 256; i++) {
		snprintf(sub, sizeof sub, "%02x", i);
		if ((rc = local_list_sub(lb, sub, cb, arg)) != 0)
			return rc;
	}
	return 0;
}

static int local_statfs(struct blob_backend *be, struct statvfs *out)
{
	return fstatvfs(local(be)->root_fd, out) < 0 ? -errno : 0;
}

static void local_free(struct blob_backend *be)
{
	struct local_backend *lb = local(be);

	if (lb == NULL)
		return;
	if (lb->tmp_fd >= 0)
		close(lb->tmp_fd);
	if (lb->chunks_fd >= 0)
		close(lb->chunks_fd);
	if (lb->root_fd >= 0)
		close(lb->root_fd);
	free(lb);
}

bool blob_backend_is_local(const struct blob_backend *be)
{
	return be->get == local_get;
}

int blob_local_clean_tmp(struct blob_backend *be, int64_t before, uint64_t *removed_out)
{
	struct local_backend *lb = local(be);
	uint64_t removed = 0;
	struct dirent *e;
	DIR *d = NULL;
	int rc;

	if ((rc = open_dir(&d, lb->root_fd, "tmp")) < 0)
		return rc;
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

/* mkdir name under dirfd (EEXIST is fine), fsyncing dirfd when made. */
static int mkdir_at(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0755) == 0)
		return blob_fsync_dir_at(dirfd, NULL);
	return errno == EEXIST ? 0 : -errno;
}

int blob_backend_local_new(struct blob_backend **out, const char *dir)
{
	struct local_backend *lb;
	int rc;

	lb = calloc(1, sizeof *lb);
	if (lb == NULL)
		return -ENOMEM;
	lb->root_fd = lb->chunks_fd = lb->tmp_fd = -1;
	lb->be = (struct blob_backend){
		.get = local_get,
		.put = local_put,
		.exists = local_exists,
		.del = local_del,
		.list = local_list,
		.statfs = local_statfs,
		.free = local_free,
	};
	atomic_init(&lb->counter, 0);

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	lb->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lb->root_fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = mkdir_at(lb->root_fd, "chunks")) < 0 || (rc = mkdir_at(lb->root_fd, "tmp")) < 0)
		goto out;
	lb->chunks_fd = openat(lb->root_fd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	lb->tmp_fd = openat(lb->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lb->chunks_fd < 0 || lb->tmp_fd < 0) {
		rc = -errno;
		goto out;
	}
	*out = &lb->be;
	lb = NULL;
	rc = 0;
out:
	if (lb != NULL)
		local_free(&lb->be);
	return rc;
}
