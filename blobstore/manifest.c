/*
 * manifest.c — blob manifests: make, encode, decode, chunk lengths, seek.
 *
 * Who calls it: model/ stores encoded manifests as opaque SQLite BLOBs and
 * decodes them to serve reads; fs/ calls blob_manifest_seek for lseek;
 * put.c, wblob.c build manifests.
 *
 * Encoding (all integers little-endian), as in blobstore.h:
 *   0   "IMGFSMF1"                      magic
 *   8   u64 size                        virtual size in bytes
 *   16  u32 count                       number of data entries
 *   20  count x { u32 index, 16 id }    strictly ascending index < nchunks,
 *                                       id never null (holes are omitted)
 * The length must be exactly 20 + 20 * count; anything else is -EINVAL.
 *
 * Seeking is at chunk granularity (a data chunk is data throughout, even
 * where its bytes are zero) with lseek(2)'s rules; blob_seek_chunks is shared
 * with wblob.c, whose notion of "data chunk" differs.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "blobstore_int.h"

#define MF_MAGIC "IMGFSMF1"
#define MF_HEADER 20
#define MF_ENTRY 20

uint32_t blob_nchunks(uint64_t size)
{
	return (uint32_t)((size + BLOB_CHUNK_MASK) >> BLOB_CHUNK_SHIFT);
}

size_t blob_chunk_len(uint64_t size, uint32_t i)
{
	uint64_t start = (uint64_t)i << BLOB_CHUNK_SHIFT;

	if (start >= size)
		return 0;
	return size - start < BLOB_CHUNK_SIZE ? (size_t)(size - start) : BLOB_CHUNK_SIZE;
}

void blob_manifest_update_stored(blob_manifest *m)
{
	uint64_t stored = 0;

	for (uint32_t i = 0; i < m->nchunks; i++)
		if (!chunk_id_is_null(&m->chunks[i]))
			stored += blob_chunk_len(m->size, i);
	m->stored = stored;
}

int blob_manifest_new(blob_manifest **out, uint64_t size)
{
	blob_manifest *m;

	if (size > BLOB_MAX_SIZE)
		return -EFBIG;
	m = calloc(1, sizeof *m);
	if (m == NULL)
		return -ENOMEM;
	m->size = size;
	m->nchunks = blob_nchunks(size);
	/* At least one element, so an empty blob has a non-NULL array too. */
	m->chunks = calloc(m->nchunks ? m->nchunks : 1, sizeof *m->chunks);
	if (m->chunks == NULL) {
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void blob_manifest_free(blob_manifest *m)
{
	if (m == NULL)
		return;
	free(m->chunks);
	free(m);
}

int blob_manifest_encode(void **out, size_t *len_out, const blob_manifest *m)
{
	uint32_t count = 0;
	uint8_t *buf, *p;
	size_t len;

	for (uint32_t i = 0; i < m->nchunks; i++)
		if (!chunk_id_is_null(&m->chunks[i]))
			count++;
	len = MF_HEADER + (size_t)count * MF_ENTRY;
	buf = malloc(len);
	if (buf == NULL)
		return -ENOMEM;
	memcpy(buf, MF_MAGIC, 8);
	blob_put_le64(buf + 8, m->size);
	blob_put_le32(buf + 16, count);
	p = buf + MF_HEADER;
	for (uint32_t i = 0; i < m->nchunks; i++) {
		if (chunk_id_is_null(&m->chunks[i]))
			continue;
		blob_put_le32(p, i);
		memcpy(p + 4, m->chunks[i].b, 16);
		p += MF_ENTRY;
	}
	*out = buf;
	*len_out = len;
	return 0;
}

int blob_manifest_decode(blob_manifest **out, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	blob_manifest *m = NULL;
	uint64_t size;
	uint32_t count;
	int64_t prev = -1;
	int rc;

	if (len < MF_HEADER || memcmp(p, MF_MAGIC, 8) != 0)
		return -EINVAL;
	size = blob_get_le64(p + 8);
	count = blob_get_le32(p + 16);
	if (size > BLOB_MAX_SIZE || (len - MF_HEADER) / MF_ENTRY != count || (len - MF_HEADER) % MF_ENTRY != 0)
		return -EINVAL;
	if ((rc = blob_manifest_new(&m, size)) < 0)
		return rc;
	if (count > m->nchunks) {
		rc = -EINVAL;
		goto out;
	}
	p += MF_HEADER;
	for (uint32_t k = 0; k < count; k++, p += MF_ENTRY) {
		uint32_t i = blob_get_le32(p);
		chunk_id id;

		memcpy(id.b, p + 4, 16);
		if ((int64_t)i <= prev || i >= m->nchunks || chunk_id_is_null(&id)) {
			rc = -EINVAL;
			goto out;
		}
		m->chunks[i] = id;
		prev = i;
	}
	blob_manifest_update_stored(m);
	*out = m;
	m = NULL;
	rc = 0;
out:
	blob_manifest_free(m);
	return rc;
}

int64_t blob_seek_chunks(uint64_t size, uint64_t off, int whence, bool (*is_data)(const void *ctx, uint32_t i),
                         const void *ctx)
{
	uint32_t n = blob_nchunks(size);
	bool want_data;

	if (whence == SEEK_DATA)
		want_data = true;
	else if (whence == SEEK_HOLE)
		want_data = false;
	else
		return -EINVAL;
	if (off >= size)
		return -ENXIO;
	for (uint32_t i = (uint32_t)(off >> BLOB_CHUNK_SHIFT); i < n; i++) {
		if (is_data(ctx, i) != want_data)
			continue;
		uint64_t start = (uint64_t)i << BLOB_CHUNK_SHIFT;
		return (int64_t)(start > off ? start : off);
	}
	return want_data ? -ENXIO : (int64_t)size;
}

static bool manifest_is_data(const void *ctx, uint32_t i)
{
	const blob_manifest *m = ctx;

	return !chunk_id_is_null(&m->chunks[i]);
}

int64_t blob_manifest_seek(const blob_manifest *m, uint64_t off, int whence)
{
	return blob_seek_chunks(m->size, off, whence, manifest_is_data, m);
}
