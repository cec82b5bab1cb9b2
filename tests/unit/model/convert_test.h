/*
 * convert_test.h — fixtures shared by test_convert.c and test_copy.c, on
 * top of lifecycle_test.h: counting a store's chunk files, comparing two
 * blobs' manifests and bytes, running every runnable task, and the state
 * of the rows an operation may create (a refusal changes none of them).
 */
#ifndef IMGFS_CONVERT_TEST_H
#define IMGFS_CONVERT_TEST_H

#include "lifecycle_test.h"

static int ct_count;
static inline int ct_count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	ct_count += flag == FTW_F;
	return 0;
}

/* Chunk files in a region's store. */
static inline int ct_chunk_files(struct ut_fx *fx, int64_t region_id)
{
	struct model_region r;
	char path[512];

	assert_int_equal(model_region_get(fx->m, region_id, &r), 0);
	snprintf(path, sizeof path, "%s/regions/%s/chunks", fx->dir, r.name);
	ct_count = 0;
	assert_int_equal(nftw(path, ct_count_one, 16, FTW_PHYS), 0);
	return ct_count;
}

/* Rows an operation may create: images, snapshots, blobs, tasks. */
static inline int64_t ct_rows(struct ut_fx *fx)
{
	return ut_sql_int(fx, "SELECT (SELECT count(*) FROM images) * 1000000 + (SELECT count(*) FROM snapshots) * "
	                      "10000 + (SELECT count(*) FROM blobs) * 100 + (SELECT count(*) FROM tasks)");
}

/* Runs tasks until none is runnable; returns how many ran. */
static inline int ct_run_all(struct ut_fx *fx)
{
	int n = 0, rc;
	while ((rc = model_task_work(fx->m, NULL)) == 1)
		n++;
	assert_int_equal(rc, 0);
	return n;
}

/* Asserts that two sealed blobs (maybe in two regions) have equal
 * manifests and read the same bytes. */
static inline void ct_assert_same_blob(struct ut_fx *fx, int64_t a, int64_t b)
{
	struct model_blob ba, bb;
	blob_manifest *ma = NULL, *mb = NULL;
	blob_store *sa, *sb;
	uint8_t *x = malloc(LT_MiB), *y = malloc(LT_MiB);

	assert_non_null(x);
	assert_non_null(y);
	assert_int_equal(model_blob_get(fx->m, a, &ba), 0);
	assert_int_equal(model_blob_get(fx->m, b, &bb), 0);
	assert_int_equal(model_blob_manifest(fx->m, a, &ma), 0);
	assert_int_equal(model_blob_manifest(fx->m, b, &mb), 0);
	assert_int_equal(model_store(fx->m, ba.region_id, &sa), 0);
	assert_int_equal(model_store(fx->m, bb.region_id, &sb), 0);
	assert_int_equal(ma->size, mb->size);
	assert_int_equal(ma->nchunks, mb->nchunks);
	assert_int_equal(ma->count, mb->count);
	assert_memory_equal(ma->index, mb->index, ma->count * sizeof(uint32_t));
	assert_memory_equal(ma->id, mb->id, ma->count * sizeof(chunk_id));
	for (uint64_t off = 0; off < ma->size; off += LT_MiB) {
		size_t n = ma->size - off < LT_MiB ? (size_t)(ma->size - off) : LT_MiB;
		assert_int_equal(blob_store_read(sa, ma, x, n, off), (ssize_t)n);
		assert_int_equal(blob_store_read(sb, mb, y, n, off), (ssize_t)n);
		if (memcmp(x, y, n) != 0)
			fail_msg("blobs %lld and %lld differ at %llu", (long long)a, (long long)b, (unsigned long long)off);
	}
	blob_manifest_free(ma);
	blob_manifest_free(mb);
	free(x);
	free(y);
}

/* A data disk (snapshot) of size bytes at device idx of an image. */
static inline int64_t ct_data_disk(struct ut_fx *fx, int64_t image_id, int idx, const char *ext_id, uint64_t size)
{
	struct model_image img = ut_get(fx, image_id);
	int64_t blob = lt_tagged_blob(fx, img.region_id, ext_id, size);
	int64_t snap = lt_snapshot(fx, img.region_id, img.account_id, ext_id, blob, MODEL_SNAP_AVAILABLE);
	lt_device(fx, image_id, idx, blob, snap);
	return snap;
}

#endif
