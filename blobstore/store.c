/*
 * store.c — a region's blob store: the keyed chunk hash over a backend.
 *
 * Who calls it: model/ opens one store per region (blob_store_open_spec:
 * the region's recorded store, SPEC §13) and stores, copies and collects
 * chunks; fs/ reads through read.c and wblob.c, which call back into here.
 * A store is shared by all threads: its fields are read-only after open
 * except the cache (cache.c, own lock), the temp-name counter (atomic) and
 * the backend (thread-safe).
 *
 * Every chunk crosses this file: put hashes the bytes with the state
 * directory's secret (XXH3-128 keyed, canonical form = the id) and hands them
 * to the backend; get asks the backend and re-hashes, refusing a mismatch
 * with -EIO and one line in the store's log (check_chunk, fsck's, and
 * blob_store_read_judged, an inspection's, say -EUCLEAN instead: bytes
 * read and condemned, never a read that failed).  The bytes are what is
 * stored: a chunk of an encrypted blob is its sealed object (crypt.c),
 * named and verified as any other; load_chunk opens it after the check.  All-zero chunks are never
 * stored: their id is the null id.  The null id is "present" in every store
 * (has_chunk says 1, copy_chunk has nothing to move) and cannot be fetched
 * (get_chunk says -EINVAL: its length is not known here; read.c zero-fills
 * holes).
 *
 * Where things are (see blobstore.h for the whole picture): the store's
 * directory on this host holds wblobs/ (wblob.c) and tmp/ (temp files of
 * wblobs and, for the local backend, of chunks); the chunks are the
 * backend's — chunks/ in the same directory for the local backend, objects
 * in a pool for RADOS.  A RADOS pool is marked with its owner, one line
 * naming the region and a fingerprint of the service's secret, so that two
 * regions (or two services) never share one: each one's gc would collect
 * the other's chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore_int.h"
#include "xxh.h"
#include "imgfs_assert.h"

_Static_assert(BLOB_SECRET_SIZE >= XXH3_SECRET_SIZE_MIN, "secret too short for XXH3");
_Static_assert(sizeof(XXH128_canonical_t) == sizeof(chunk_id), "chunk id is an XXH128 canonical");

void blob_store_log_chunk(const blob_store *s, const chunk_id *id, const char *what)
{
	char hex[33];

	chunk_id_fmt(hex, id);
	blob_log_line(&s->log, "chunk %s in %s: %s", hex, s->where, what);
}

void blob_store_set_log(blob_store *s, void (*fn)(void *arg, const char *line), void *arg)
{
	s->log.fn = fn;
	s->log.arg = arg;
}

int blob_store_tmp_create(blob_store *s, char *name, size_t cap, mode_t mode)
{
	/* A name can only be taken by a dead process whose pid and tid came
	 * back: try the next counter value. */
	for (int tries = 0; tries < 100; tries++) {
		uint64_t n = atomic_fetch_add(&s->tmp_counter, 1);
		int fd;

		snprintf(name, cap, "w.%ld.%ld.%llu.tmp", (long)getpid(), (long)gettid(), (unsigned long long)n);
		fd = openat(s->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int blob_store_clean_tmp(blob_store *s, int64_t before, uint64_t *removed_out)
{
	return blob_clean_tmp_dir(s->tmp_fd, before, removed_out);
}

void blob_store_chunk_id(const blob_store *s, chunk_id *out, const void *buf, size_t len)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_withSecret(buf, len, s->secret, BLOB_SECRET_SIZE));
	memcpy(out->b, c.digest, sizeof out->b);
}

/* mkdir name under dirfd (EEXIST is fine), fsyncing dirfd when made. */
static int mkdir_at(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0755) == 0)
		return blob_fsync_dir_at(dirfd, NULL);
	return errno == EEXIST ? 0 : -errno;
}

/* The store over backend be (taken over, freed on failure) with its
 * directory dir on this host. */
static int store_open(blob_store **out, struct blob_backend *be, const char *dir, const char *where,
                      const uint8_t secret[BLOB_SECRET_SIZE])
{
	blob_store *s;
	int root_fd = -1;
	int rc;

	s = calloc(1, sizeof *s);
	if (s == NULL) {
		be->free(be);
		return -ENOMEM;
	}
	s->be = be;
	/* The table's shape (blob_backend.h): a core that is whole, and a
	 * batching sub-table that is NULL or whole. */
	IMGFS_ASSERT(be->get && be->put && be->exists && be->del && be->list && be->free);
	IMGFS_ASSERT(!be->batching || (be->batching->new_batch && be->batching->add && be->batching->has_many &&
	                               be->batching->commit && be->batching->free));
	s->wblobs_fd = s->tmp_fd = -1;
	atomic_init(&s->tmp_counter, 0);
	atomic_init(&s->test_read_err, 0);
	atomic_init(&s->marks_at_open, BLOB_MARKS_AT_OPEN);
	memcpy(s->secret, secret, BLOB_SECRET_SIZE);
	if ((rc = blob_cache_init(&s->cache)) < 0) {
		be->free(be);
		free(s);
		return rc;
	}
	if ((rc = blob_digc_init(&s->digc)) < 0) {
		blob_cache_release(&s->cache);
		be->free(be);
		free(s);
		return rc;
	}
	s->dir = strdup(dir);
	s->where = strdup(where);
	if (s->dir == NULL || s->where == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (be->set_log != NULL)
		be->set_log(be, &s->log);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = mkdir_at(root_fd, "wblobs")) < 0 || (rc = mkdir_at(root_fd, "tmp")) < 0)
		goto out;
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

int blob_store_open(blob_store **out, const char *dir, const uint8_t secret[BLOB_SECRET_SIZE])
{
	struct blob_backend *be;
	int rc;

	if ((rc = blob_backend_local_new(&be, dir)) < 0)
		return rc;
	return store_open(out, be, dir, dir, secret);
}

/* The line a RADOS pool keeps to say whose chunks it holds. */
static void store_owner(char *out, size_t cap, const char *region, const uint8_t secret[BLOB_SECRET_SIZE])
{
	snprintf(out, cap, "imgfs region %s, service %016llx", region,
	         (unsigned long long)blob_secret_fingerprint(secret));
}

static void say(char *why, size_t cap, const char *fmt, const char *arg)
{
	if (why != NULL && cap > 0)
		snprintf(why, cap, fmt, arg);
}

int blob_store_open_spec(blob_store **out, const char *spec, const char *dir, const char *region,
                         const uint8_t secret[BLOB_SECRET_SIZE], char *why, size_t cap)
{
	struct blob_backend *be;
	char owner[300];
	int rc;

	if (spec == NULL || spec[0] == '\0') {
		if ((rc = blob_store_open(out, dir, secret)) < 0)
			say(why, cap, "%s", strerror(-rc));
		return rc;
	}
	if (strncmp(spec, "dir:", 4) == 0) {
		if (spec[4] != '/') {
			say(why, cap, "%s", "dir:PATH takes an absolute path");
			return -EINVAL;
		}
		if ((rc = blob_store_open(out, spec + 4, secret)) < 0)
			say(why, cap, "%s", strerror(-rc));
		return rc;
	}
	if (strncmp(spec, "rados:", 6) == 0) {
		store_owner(owner, sizeof owner, region, secret);
		if ((rc = blob_backend_rados_new(&be, spec, owner, true, why, cap)) < 0)
			return rc;
		if ((rc = store_open(out, be, dir, spec, secret)) < 0)
			say(why, cap, "%s", strerror(-rc));
		return rc;
	}
	say(why, cap, "%s", "a store is dir:PATH or rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]");
	return -EINVAL;
}

int blob_store_check_spec(const char *spec, const char *region, const uint8_t secret[BLOB_SECRET_SIZE], char *why,
                          size_t cap)
{
	struct blob_backend *be;
	char owner[300];
	int rc;

	if (spec == NULL || strncmp(spec, "rados:", 6) != 0)
		return 0;
	store_owner(owner, sizeof owner, region, secret);
	if ((rc = blob_backend_rados_new(&be, spec, owner, false, why, cap)) < 0)
		return rc;
	be->free(be);
	return 0;
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
	blob_digc_release(&s->digc);
	explicit_bzero(s->secret, sizeof s->secret);
	free(s->dir);
	free(s->where);
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
	rc = blob_store_put_known(s, &id, buf, len);
	if (rc < 0)
		return rc;
	*out = id;
	return rc;
}

int blob_store_put_known(blob_store *s, const chunk_id *id, const void *buf, size_t len)
{
	int err = atomic_load_explicit(&s->test_put_err, memory_order_relaxed);
	uint8_t dig[BLOB_DIG_MAX];

	if (len > BLOB_CHUNK_SIZE || chunk_id_is_null(id))
		return -EINVAL;
	return err ? err : s->be->put(s->be, id, buf, len, blob_store_digests_for(s, id, buf, len, dig));
}

void blob_store_test_fail_puts(blob_store *s, int err)
{
	atomic_store_explicit(&s->test_put_err, err, memory_order_relaxed);
}

void blob_store_test_marks_at_open(blob_store *s, unsigned n)
{
	atomic_store_explicit(&s->marks_at_open, n, memory_order_relaxed);
}

/* The chunk in buf (len bytes, or the backend's error rc) verified: 0,
 * -EUCLEAN when bytes were read and are not the chunk (a verdict: its hash
 * differs, or the backend found an object longer than any chunk), any
 * other -errno when nothing was read (ENOENT: not there; EIO: the backend
 * did not answer, SPEC §13).  Readers get EIO for both (get_chunk); fsck
 * tells them apart (blob_store_check_chunk). */
static int get_checked(blob_store *s, const chunk_id *id, int rc, const void *buf, size_t len)
{
	chunk_id got;

	if (rc == -EUCLEAN) {
		blob_store_log_chunk(s, id, "longer than any chunk: damaged");
		return rc;
	}
	if (rc < 0) {
		blob_store_log_chunk(s, id, strerrorname_np(-rc) ? strerrorname_np(-rc) : "unreadable");
		return rc;
	}
	blob_store_chunk_id(s, &got, buf, len);
	if (!chunk_id_equal(&got, id)) {
		blob_store_log_chunk(s, id, "hash mismatch");
		return -EUCLEAN;
	}
	return 0;
}

static int get_chunk(blob_store *s, const chunk_id *id, void *buf, size_t cap, size_t *len_out)
{
	size_t len = 0;
	int rc;

	if (chunk_id_is_null(id))
		return -EINVAL;
	rc = s->be->get(s->be, id, buf, cap, &len);
	rc = get_checked(s, id, rc, buf, len);
	if (rc == 0)
		*len_out = len;
	return rc;
}

static int get_chunk_buf(blob_store *s, const chunk_id *id, uint8_t **buf, size_t *len_out)
{
	size_t len = 0;
	int rc;

	if (s->be->get_buf == NULL)
		return get_chunk(s, id, *buf, BLOB_OBJ_MAX, len_out);
	if (chunk_id_is_null(id))
		return -EINVAL;
	rc = s->be->get_buf(s->be, id, buf, &len); /* before *buf is read: it may change */
	rc = get_checked(s, id, rc, *buf, len);
	if (rc == 0)
		*len_out = len;
	return rc;
}

int blob_store_get_chunk(blob_store *s, const chunk_id *id, void *buf, size_t cap, size_t *len_out)
{
	int rc = get_chunk(s, id, buf, cap, len_out);
	return rc == -EUCLEAN ? -EIO : rc;
}

int blob_store_get_chunk_buf(blob_store *s, const chunk_id *id, uint8_t **buf, size_t *len_out)
{
	int rc = get_chunk_buf(s, id, buf, len_out);
	return rc == -EUCLEAN ? -EIO : rc;
}

int blob_store_load_judged(blob_store *s, const blob_key *key, const chunk_id *id, uint8_t **buf, size_t *off_out,
                           size_t *len_out)
{
	size_t len = 0;
	int rc;

	if ((rc = get_chunk_buf(s, id, buf, &len)) < 0)
		return rc;
	*off_out = 0;
	if (key == NULL) {
		*len_out = len;
		return 0;
	}
	if ((rc = blob_key_open(key, *buf, len, len_out)) < 0) {
		blob_store_log_chunk(s, id, "does not decrypt: its tag does not match (changed, or another key)");
		return rc == -EIO ? -EUCLEAN : rc;
	}
	*off_out = BLOB_SEAL_NONCE;
	return 0;
}

int blob_store_load_chunk(blob_store *s, const blob_key *key, const chunk_id *id, uint8_t **buf, size_t *off_out,
                          size_t *len_out)
{
	int rc = blob_store_load_judged(s, key, id, buf, off_out, len_out);
	return rc == -EUCLEAN ? -EIO : rc;
}

int blob_store_check_chunk_in(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len,
                              uint8_t **buf)
{
	size_t off, len;
	int rc;

	if ((rc = blob_store_load_judged(s, key, id, buf, &off, &len)) == 0 && chunk_len && len != chunk_len) {
		blob_store_log_chunk(s, id, "length does not match the manifest");
		rc = -EUCLEAN;
	}
	return rc;
}

int blob_store_check_chunk(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len)
{
	uint8_t *buf = blob_chunk_buf_new();
	int rc;

	if (buf == NULL)
		return -ENOMEM;
	rc = blob_store_check_chunk_in(s, key, id, chunk_len, &buf);
	explicit_bzero(buf, BLOB_CHUNK_BUF);
	free(buf);
	return rc;
}

int blob_store_has_chunk(blob_store *s, const chunk_id *id)
{
	if (chunk_id_is_null(id))
		return 1;
	return s->be->exists(s->be, id);
}

int blob_store_copy_chunk(blob_store *dst, blob_store *src, const chunk_id *id)
{
	uint8_t dig[BLOB_DIG_MAX];
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	/* Ids are only comparable between stores keyed alike. */
	if (memcmp(dst->secret, src->secret, BLOB_SECRET_SIZE) != 0)
		return -EINVAL;
	if (chunk_id_is_null(id))
		return 0;
	rc = dst->be->exists(dst->be, id);
	if (rc == 1 && dst->be->touch != NULL) {
		/* Keep it from a concurrent gc until the copy is committed;
		 * ENOENT: it went meanwhile, copy it after all. */
		rc = dst->be->touch(dst->be, id);
		rc = rc == -ENOENT ? 0 : rc == 0 ? 1 : rc;
	}
	if (rc != 0)
		return rc < 0 ? rc : 0;

	buf = malloc(BLOB_OBJ_MAX);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = blob_store_get_chunk(src, id, buf, BLOB_OBJ_MAX, &len)) < 0)
		goto out;
	/* Plain or sealed: see batch.c's copy_bytes on the digests. */
	rc = dst->be->put(dst->be, id, buf, len, blob_store_digests_for(dst, id, buf, len, dig));
out:
	free(buf);
	return rc;
}

int blob_store_link_chunk(blob_store *s, const chunk_id *id, int dirfd, const char *name)
{
	return s->be->link_out ? s->be->link_out(s->be, id, dirfd, name) : -EOPNOTSUPP;
}
