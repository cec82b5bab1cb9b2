/*
 * wblob_test.h — what the writable-blob unit tests share beyond
 * blob_test.h's fixtures (which is at its 400 lines): a wblob's whole
 * content checked against a plain buffer; a dd-written cluster disk; a
 * write mirrored into a plain buffer; a started read's or write's answer.
 *
 * Included by tests/unit/blobstore/test_wblob_patch.c, test_wblob_cluster.c,
 * test_wblob_aread.c, test_wblob_awrite.c and test_crypt.c (header-only:
 * static inline).
 */
#ifndef IMGFS_TEST_WBLOB_TEST_H
#define IMGFS_TEST_WBLOB_TEST_H

#include <pthread.h>

#include "blobstore/blob_test.h"

/* w is size bytes long and reads as want[0, size) (a read of one byte more
 * stops at the end), and every hole it reports reads as zeros. */
static inline void check_bytes(blob_wblob *w, const uint8_t *want, uint64_t size)
{
	uint8_t *got = malloc(size + 1);

	assert_non_null(got);
	assert_int_equal(blob_wblob_size(w), size);
	assert_int_equal(blob_wblob_pread(w, got, size + 1, 0), (ssize_t)size);
	assert_bytes_equal(got, want, size);
	for (int64_t h = blob_wblob_seek(w, 0, SEEK_HOLE); h >= 0 && (uint64_t)h < size;) {
		int64_t d = blob_wblob_seek(w, (uint64_t)h, SEEK_DATA);
		uint64_t end = d < 0 ? size : (uint64_t)d;
		for (uint64_t k = (uint64_t)h; k < end; k++)
			assert_int_equal(want[k], 0);
		if (d < 0)
			break;
		h = blob_wblob_seek(w, (uint64_t)d, SEEK_HOLE);
	}
	free(got);
}

/* A cluster disk NAME of nch chunks written whole (stored by id: a
 * dd-written disk), its bytes in *ref (malloc'd). */
static inline void fx_stored_disk(struct blob_fx *fx, const char *name, uint32_t nch, uint8_t **ref)
{
	blob_wblob *w;

	*ref = malloc((size_t)nch * MiB);
	assert_non_null(*ref);
	fx_fill(fx, *ref, (size_t)nch * MiB);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, name, NULL, (uint64_t)nch * MiB), 0);
	w = fx_cl_open(fx->s, name);
	for (uint32_t i = 0; i < nch; i++)
		assert_int_equal(blob_wblob_pwrite(w, *ref + (size_t)i * MiB, MiB, (uint64_t)i * MiB), (ssize_t)MiB);
	blob_wblob_close(w);
}

/* len bytes of fx's random written into w at off, and into ref there. */
static inline void fx_put(blob_wblob *w, uint8_t *ref, struct blob_fx *fx, uint64_t off, size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	fx_fill(fx, b, len);
	assert_int_equal(blob_wblob_pwrite(w, b, len, off), (ssize_t)len);
	memcpy(ref + off, b, len);
	free(b);
}

/* One started read's or write's answer: how many times done was called,
 * its last n, and by which thread. */
struct ans {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int calls;
	ssize_t n;
	pthread_t by;
};

#define ANS_INIT {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER}

/* The done of blob_wblob_pread_start and _pwrite_start. */
static inline void ans_done(void *arg, ssize_t n)
{
	struct ans *a = arg;

	pthread_mutex_lock(&a->lock);
	a->calls++;
	a->n = n;
	a->by = pthread_self();
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->lock);
}

/* Until a was answered. */
static inline void ans_wait(struct ans *a)
{
	pthread_mutex_lock(&a->lock);
	while (a->calls == 0)
		pthread_cond_wait(&a->cv, &a->lock);
	pthread_mutex_unlock(&a->lock);
}

/* How many answers a[0, n) had. */
static inline int answered(struct ans *a, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&a[i].lock);
		k += a[i].calls;
		pthread_mutex_unlock(&a[i].lock);
	}
	return k;
}

#endif
