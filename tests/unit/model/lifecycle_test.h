/*
 * lifecycle_test.h — fixtures for the lifecycle tests (test_instance.c,
 * test_recycle.c, test_snapshot.c, test_fsck.c), on top of test_util.h.
 *
 * Header-only, static inline.  They put rows the API cannot make yet (an
 * available private image with devices, a snapshot, a task) straight into
 * the database through test_util.h's second connection, and compare an
 * instance disk (a wblob) with a sealed blob without reading gigabytes of
 * holes: the data chunks and a sample of each hole are compared.
 */
#ifndef IMGFS_LIFECYCLE_TEST_H
#define IMGFS_LIFECYCLE_TEST_H

#define OPENSSL_API_COMPAT 0x10100000L /* SHA256_Init: a reference independent of EVP */
#include <openssl/sha.h>

#include "test_util.h"

#define LT_MiB ((uint64_t)1 << 20)

/* Stores size bytes of buf in the region's store and records a sealed blob
 * row for them; returns the row id. */
static inline int64_t lt_blob(struct ut_fx *fx, int64_t region_id, const void *buf, uint64_t size)
{
	blob_store *s;
	blob_manifest *man = NULL;
	db_stmt *st;
	void *enc = NULL;
	size_t len = 0;
	int64_t id;

	assert_int_equal(model_store(fx->m, region_id, &s), 0);
	assert_int_equal(blob_store_put_buf(s, &man, buf, size), 0);
	assert_int_equal(blob_manifest_encode(&enc, &len, man), 0);
	st = ut_prepare(fx, "INSERT INTO blobs(region_id, size, stored, manifest, mtime_ns) VALUES (?, ?, ?, ?, 1) "
	                    "RETURNING id");
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, (int64_t)man->size);
	db_bind_int64(st, 3, (int64_t)man->stored);
	db_bind_blob(st, 4, enc, len);
	assert_int_equal(db_step(st), DB_ROW);
	id = db_col_int64(st, 0);
	ut_finalize(st);
	free(enc);
	blob_manifest_free(man);
	return id;
}

/* A blob of size bytes whose every MiB starts with a tag naming it. */
static inline int64_t lt_tagged_blob(struct ut_fx *fx, int64_t region_id, const char *tag, uint64_t size)
{
	uint8_t *buf = calloc(1, size);
	int64_t id;

	assert_non_null(buf);
	for (uint64_t off = 0; off < size; off += LT_MiB)
		snprintf((char *)buf + off, size - off < 64 ? (size_t)(size - off) : 64, "%s@%llu", tag,
		         (unsigned long long)off); /* a blob shorter than its tag holds its start */
	id = lt_blob(fx, region_id, buf, size);
	free(buf);
	return id;
}

/* A snapshot row over blob_id; returns its id. */
static inline int64_t lt_snapshot(struct ut_fx *fx, int64_t region_id, int64_t account_id, const char *ext_id,
                                  int64_t blob_id, enum model_snap_status status)
{
	ut_sql(fx, "INSERT INTO snapshots(ext_id, region_id, account_id, name, status, size, blob_id, created, "
	           "mtime_ns, ctime_ns) VALUES (%Q, %lld, %lld, %Q, %d, (SELECT size FROM blobs WHERE id = %lld), "
	           "%lld, 0, 1, 1)",
	       ext_id, (long long)region_id, (long long)account_id, ext_id, (int)status, (long long)blob_id,
	       (long long)blob_id);
	return ut_sql_int(fx, "SELECT id FROM snapshots WHERE ext_id = %Q", ext_id);
}

/* Maps device idx of an image to a blob (snapshot_id 0: an image file). */
static inline void lt_device(struct ut_fx *fx, int64_t image_id, int idx, int64_t blob_id, int64_t snapshot_id)
{
	ut_sql(fx, "INSERT INTO devices(image_id, idx, blob_id, snapshot_id) VALUES (%lld, %d, %lld, %lld)",
	       (long long)image_id, idx, (long long)blob_id, (long long)snapshot_id);
}

/* Makes an image available with the given type (and format raw), as an
 * upload or capture would have. */
static inline void lt_available(struct ut_fx *fx, int64_t image_id, unsigned type)
{
	ut_sql(fx, "UPDATE images SET status = %d, type = %u, format = 'raw', progress = 100, "
	           "size = COALESCE((SELECT b.size FROM devices d JOIN blobs b ON b.id = d.blob_id "
	           "WHERE d.image_id = %lld AND d.idx = 0), 0) WHERE id = %lld",
	       (int)MODEL_IMG_AVAILABLE, type, (long long)image_id, (long long)image_id);
}

/* A private local image, available, whose vda is a fresh tagged blob of
 * size bytes; returns its id. */
static inline int64_t lt_local_image(struct ut_fx *fx, int64_t region_id, int64_t account_id, const char *name,
                                     uint64_t size)
{
	int64_t id = ut_image(fx, region_id, account_id, MODEL_FOLDER_PRIVATE, name);

	lt_device(fx, id, 0, lt_tagged_blob(fx, region_id, name, size), 0);
	lt_available(fx, id, MODEL_TYPE_LOCAL);
	return id;
}

/* An ISO image of the account, available, whose disks/cdrom is a fresh
 * tagged blob of size bytes (as an upload to iso/ leaves one); its id. */
static inline int64_t lt_iso_image(struct ut_fx *fx, int64_t region_id, int64_t account_id, const char *name,
                                   uint64_t size)
{
	int64_t id = ut_image(fx, region_id, account_id, MODEL_FOLDER_ISO, name);

	lt_device(fx, id, MODEL_VM_CDROM, lt_tagged_blob(fx, region_id, name, size), 0);
	lt_available(fx, id, MODEL_TYPE_LOCAL);
	ut_sql(fx, "UPDATE images SET format = 'iso' WHERE id = %lld", (long long)id);
	return id;
}

/* A new stopped instance of the account in the region; its id. */
static inline int64_t lt_instance(struct ut_fx *fx, int64_t region_id, int64_t account_id, const char *name)
{
	struct model_err err = {0};
	int64_t id = 0;
	if (model_instance_create(fx->m, region_id, account_id, name, &id, &err) < 0)
		fail_msg("model_instance_create %s: %s", name, err.msg);
	assert_true(id > 0);
	return id;
}

/* The instance's row. */
static inline struct model_instance lt_instance_get(struct ut_fx *fx, int64_t id)
{
	struct model_instance vm;
	assert_int_equal(model_instance_get(fx->m, id, &vm), 0);
	return vm;
}

/* A task row in state ("queued", "running", ...) reading source_kind
 * source_id (or none: "") for image image_id; returns its id. */
static inline int64_t lt_task(struct ut_fx *fx, int64_t image_id, const char *source_kind, int64_t source_id,
                              const char *state)
{
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, source_kind, source_id, state) VALUES ('capture', %lld, %Q, "
	           "%lld, %Q)",
	       (long long)image_id, source_kind, (long long)source_id, state);
	return ut_sql_int(fx, "SELECT max(id) FROM tasks");
}

/* Rows of the change log about (kind, obj). */
static inline int64_t lt_changes(struct ut_fx *fx, enum model_change_kind kind, int64_t obj)
{
	return ut_sql_int(fx, "SELECT count(*) FROM changes WHERE kind = %d AND obj = %lld", (int)kind, (long long)obj);
}

/* The newest change-log row about (kind, obj). */
static inline struct model_change lt_last_change(struct ut_fx *fx, enum model_change_kind kind, int64_t obj)
{
	struct model_change ch = {0};
	db_stmt *st = ut_prepare(fx, "SELECT seq, folder, COALESCE(name, ''), region_id FROM changes "
	                             "WHERE kind = ? AND obj = ? ORDER BY seq DESC LIMIT 1");

	db_bind_int(st, 1, kind);
	db_bind_int64(st, 2, obj);
	if (db_step(st) != DB_ROW)
		fail_msg("no change logged for kind %d obj %lld", (int)kind, (long long)obj);
	ch.seq = db_col_int64(st, 0);
	ch.kind = kind;
	ch.obj = obj;
	ch.folder = db_col_int(st, 1);
	snprintf(ch.name, sizeof ch.name, "%s", db_col_text(st, 2));
	ch.region_id = db_col_int64(st, 3);
	ut_finalize(st);
	return ch;
}

static inline int64_t lt_region_mtime(struct ut_fx *fx, int64_t region_id)
{
	int64_t t = model_region_mtime(fx->m, region_id);
	assert_true(t > 0);
	return t;
}

/* The SHA-256 of sealed blob blob_id, every byte read through
 * blob_store_read and hashed by OpenSSL's SHA256_* (not blobstore/digest.c:
 * the reference the model's `sha256` is checked against). */
static inline void lt_blob_sha256(struct ut_fx *fx, int64_t region_id, int64_t blob_id, char out[65])
{
	blob_manifest *man = NULL;
	uint8_t *buf = malloc(LT_MiB);
	unsigned char md[32];
	SHA256_CTX h;
	blob_store *s;

	assert_non_null(buf);
	assert_int_equal(model_store(fx->m, region_id, &s), 0);
	assert_int_equal(model_blob_manifest(fx->m, blob_id, &man), 0);
	SHA256_Init(&h);
	for (uint64_t off = 0; off < man->size;) {
		size_t n = man->size - off < LT_MiB ? (size_t)(man->size - off) : LT_MiB;
		assert_int_equal(blob_store_read(s, man, buf, n, off), (ssize_t)n);
		SHA256_Update(&h, buf, n);
		off += n;
	}
	SHA256_Final(md, &h);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	blob_manifest_free(man);
	free(buf);
}

/* Runs every task that can run now, as a mount's worker would; returns
 * how many ran. */
static inline int lt_run_tasks(struct ut_fx *fx)
{
	int rc, n = 0;
	while ((rc = model_task_work(fx->m, NULL)) == 1)
		n++;
	assert_int_equal(rc, 0);
	return n;
}

/* The path of chunk k (an index into the manifest's entries) of blob_id in
 * the local store of its region (region index r of fx->region). */
static inline void lt_chunk_path(struct ut_fx *fx, int r, int64_t blob_id, uint32_t k, char *out, size_t cap)
{
	blob_manifest *man = NULL;
	char hex[33];

	assert_int_equal(model_blob_manifest(fx->m, blob_id, &man), 0);
	assert_true(k < man->count);
	chunk_id_fmt(hex, &man->id[k]);
	snprintf(out, cap, "%s/regions/%s/chunks/%.2s/%s", fx->dir, fx->region[r].name, hex, hex);
	blob_manifest_free(man);
}

/* Makes blob_id's chunks look written `seconds` ago (gc keeps what was
 * stamped in the current second); returns how many it has. */
static inline uint32_t lt_age_chunks(struct ut_fx *fx, int r, int64_t blob_id, int64_t seconds)
{
	blob_manifest *man = NULL;
	char path[PATH_MAX];
	uint32_t n;

	assert_int_equal(model_blob_manifest(fx->m, blob_id, &man), 0);
	n = man->count;
	blob_manifest_free(man);
	for (uint32_t k = 0; k < n; k++) {
		struct timespec t[2] = {{time(NULL) - seconds, 0}, {time(NULL) - seconds, 0}};
		lt_chunk_path(fx, r, blob_id, k, path, sizeof(path));
		assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	}
	return n;
}

/* Whether wblob `name` exists in the region's store. */
static inline bool lt_wblob_exists(struct ut_fx *fx, int64_t region_id, const char *name)
{
	blob_store *s;
	blob_wblob *w = NULL;
	int rc;

	assert_int_equal(model_store(fx->m, region_id, &s), 0);
	rc = blob_wblob_open(&w, s, name);
	blob_wblob_close(w);
	if (rc != 0 && rc != -ENOENT)
		fail_msg("wblob %s: %d", name, rc);
	return rc == 0;
}

/* Asserts that wblob `name` reads exactly as sealed blob blob_id: same size,
 * the same bytes in every data chunk of the blob, and zeros at the start of
 * every hole (a full read of a 40 GiB disk would take minutes). */
static inline void lt_assert_wblob_is_blob(struct ut_fx *fx, int64_t region_id, const char *name, int64_t blob_id)
{
	blob_manifest *man = NULL;
	blob_wblob *w = NULL;
	blob_store *s;
	uint8_t *want = malloc(LT_MiB), *got = malloc(LT_MiB);
	int data = 0;

	assert_non_null(want);
	assert_non_null(got);
	assert_int_equal(model_store(fx->m, region_id, &s), 0);
	assert_int_equal(model_blob_manifest(fx->m, blob_id, &man), 0);
	assert_int_equal(blob_wblob_open(&w, s, name), 0);
	assert_int_equal(blob_wblob_size(w), man->size);
	for (uint32_t i = 0; i < man->nchunks; i++) {
		uint64_t off = (uint64_t)i * LT_MiB;
		bool hole = chunk_id_is_null(mf_id(man, i));
		size_t n = hole ? 4096 : blob_chunk_len(man->size, i);
		if (hole && n > man->size - off)
			n = (size_t)(man->size - off);
		if (hole && i > 0 && chunk_id_is_null(mf_id(man, i - 1)))
			continue; /* one sample per run of holes */
		assert_int_equal(blob_store_read(s, man, want, n, off), (ssize_t)n);
		assert_int_equal(blob_wblob_pread(w, got, n, off), (ssize_t)n);
		if (memcmp(want, got, n) != 0)
			fail_msg("wblob %s differs from blob %lld in chunk %u", name, (long long)blob_id, i);
		data += !hole;
	}
	assert_true(data > 0); /* a comparison of holes alone proves little */
	/* The data is where the blob's is. */
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_DATA), blob_manifest_seek(man, 0, SEEK_DATA));
	blob_wblob_close(w);
	blob_manifest_free(man);
	free(want);
	free(got);
}

#endif
