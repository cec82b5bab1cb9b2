/*
 * store.c — a region's blob store: the keyed chunk hash over a backend.
 *
 * Who calls it: model/ opens one store per region (blob_store_open) and
 * stores, copies and collects chunks; fs/ reads through read.c and wblob.c,
 * which call back into here.  A store is shared by all threads: its fields
 * are read-only after open except the cache (cache.c, own lock) and the
 * backend (thread-safe).
 *
 * Every chunk crosses this file: put hashes the bytes with the state
 * directory's secret (XXH3-128 keyed, canonical form = the id) and hands them
 * to the backend; get asks the backend and re-hashes, refusing a mismatch
 * with -EIO and one line on stderr.  All-zero chunks are never stored: their
 * id is the null id.  The null id is "present" in every store (has_chunk
 * says 1, copy_chunk has nothing to move) and cannot be fetched (get_chunk
 * says -EINVAL: its length is not known here; read.c zero-fills holes).
 *
 * Directory layout (see blobstore.h for the whole picture): the backend owns
 * <dir>/chunks and <dir>/tmp; this store adds <dir>/wblobs for wblob.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "blobstore_int.h"

_Static_assert(BLOB_SECRET_SIZE >= XXH3_SECRET_SIZE_MIN, "secret too short for XXH3");
_Static_assert(sizeof(XXH128_canonical_t) == sizeof(chunk_id), "chunk id is an XXH128 canonical");

void blob_store_log_chunk(const blob_store *s, const chunk_id *id, const char *what)
{
	char hex[33];

	chunk_id_fmt(hex, id);
	fprintf(stderr, "imgfs: chunk %s in %s: %s\n", hex, s->dir, what);
}

void blob_store_chunk_id(const blob_store *s, chunk_id *out, const void *buf, size_t len)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_withSecret(buf, len, s->secret, BLOB_SECRET_SIZE));
	memcpy(out->b, c.digest, sizeof out->b);
}

int blob_store_open(blob_store **out, const char *dir, const uint8_t secret[BLOB_SECRET_SIZE])
{
	blob_store *s;
	int root_fd = -1;
	int rc;

	s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->wblobs_fd = s->tmp_fd = -1;
	memcpy(s->secret, secret, BLOB_SECRET_SIZE);
	if ((rc = blob_cache_init(&s->cache)) < 0) {
		free(s);
		return rc;
	}
	s->dir = strdup(dir);
	if (s->dir == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = blob_backend_local_new(&s->be, dir)) < 0)
		goto out;
	root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		rc = -errno;
		goto out;
	}
	if (mkdirat(root_fd, "wblobs", 0755) == 0) {
		if ((rc = blob_fsync_dir_at(root_fd, NULL)) < 0)
			goto out;
	} else if (errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	s->wblobs_fd = openat(root_fd, "wblobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s->tmp_fd = openat(root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->wblobs_fd < 0 || s->tmp_fd < 0) {
		rc = -errno;
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (root_fd >= 0)
		close(root_fd);
	blob_store_close(s);
	return rc;
}

void blob_store_close(blob_store *s)
{
	if (s == NULL)
		return;
	if (s->be != NULL)
		s->be->free(s->be);
	if (s->wblobs_fd >= 0)
		close(s->wblobs_fd);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	blob_cache_release(&s->cache);
	explicit_bzero(s->secret, sizeof s->secret);
	free(s->dir);
	free(s);
}

int blob_store_put_chunk(blob_store *s, chunk_id *out, const void *buf, size_t len)
{
	chunk_id id;
	int rc;

	if (len > BLOB_CHUNK_SIZE)
		return -EINVAL;
	if (blob_is_zero(buf, len)) {
		memset(out, 0, sizeof *out);
		return 0;
	}
	blob_store_chunk_id(s, &id, buf, len);
	rc = s->be->put(s->be, &id, buf, len);
	if (rc < 0)
		return rc;
	*out = id;
	return rc;
}

int blob_store_get_chunk(blob_store *s, const chunk_id *id, void *buf, size_t cap, size_t *len_out)
{
	chunk_id got;
	size_t len = 0;
	int rc;

	if (chunk_id_is_null(id))
		return -EINVAL;
	rc = s->be->get(s->be, id, buf, cap, &len);
	if (rc < 0) {
		blob_store_log_chunk(s, id, strerrorname_np(-rc) ? strerrorname_np(-rc) : "unreadable");
		return rc;
	}
	blob_store_chunk_id(s, &got, buf, len);
	if (!chunk_id_equal(&got, id)) {
		blob_store_log_chunk(s, id, "hash mismatch");
		return -EIO;
	}
	*len_out = len;
	return 0;
}

int blob_store_has_chunk(blob_store *s, const chunk_id *id)
{
	if (chunk_id_is_null(id))
		return 1;
	return s->be->exists(s->be, id);
}

int blob_store_copy_chunk(blob_store *dst, blob_store *src, const chunk_id *id)
{
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	/* Ids are only comparable between stores keyed alike. */
	if (memcmp(dst->secret, src->secret, BLOB_SECRET_SIZE) != 0)
		return -EINVAL;
	if (chunk_id_is_null(id))
		return 0;
	rc = dst->be->exists(dst->be, id);
	if (rc == 1 && blob_backend_is_local(dst->be)) {
		/* Keep it from a concurrent gc until the copy is committed;
		 * ENOENT: it went meanwhile, copy it after all. */
		rc = blob_local_touch(dst->be, id);
		rc = rc == -ENOENT ? 0 : rc == 0 ? 1 : rc;
	}
	if (rc != 0)
		return rc < 0 ? rc : 0;

	buf = malloc(BLOB_CHUNK_SIZE);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = blob_store_get_chunk(src, id, buf, BLOB_CHUNK_SIZE, &len)) < 0)
		goto out;
	rc = dst->be->put(dst->be, id, buf, len);
out:
	free(buf);
	return rc;
}

int blob_store_statfs(blob_store *s, struct statvfs *out)
{
	return s->be->statfs(s->be, out);
}
