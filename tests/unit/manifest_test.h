/*
 * manifest_test.h — reading a manifest chunk by chunk in tests.
 *
 * Included by blob_test.h and test_util.h.  A manifest is sparse (its data
 * chunks only, blobstore.h); tests that compare two blobs chunk by chunk,
 * at sizes where visiting every index costs nothing, read chunk i as an
 * id, the null id for a hole.
 */
#ifndef IMGFS_TEST_MANIFEST_TEST_H
#define IMGFS_TEST_MANIFEST_TEST_H

#include "blobstore.h"

/* Chunk i's id, or the null id for a hole. */
static inline const chunk_id *mf_id(const blob_manifest *m, uint32_t i)
{
	static const chunk_id null_id;
	const chunk_id *id = blob_manifest_get(m, i);

	return id ? id : &null_id;
}

#endif
