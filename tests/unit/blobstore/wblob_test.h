/*
 * wblob_test.h — what the writable-blob unit tests share beyond
 * blob_test.h's fixtures (which is at its 400 lines): a wblob's whole
 * content checked against a plain buffer.
 *
 * Included by tests/unit/blobstore/test_wblob_patch.c, test_wblob_cluster.c
 * and test_crypt.c (header-only: static inline).
 */
#ifndef IMGFS_TEST_WBLOB_TEST_H
#define IMGFS_TEST_WBLOB_TEST_H

#include "blob_test.h"

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

#endif
