/*
 * manifest.c — blob manifests: make, encode, decode, look up, seek.
 *
 * Who calls it: model/ stores encoded manifests as opaque SQLite BLOBs and
 * decodes them to serve reads; fs/ calls blob_manifest_seek for lseek;
 * put.c, wblob.c build manifests.
 *
 * Encoding (all integers little-endian), as in blob_format.h:
 *   0   "IMGFSMF1"                      magic
 *   8   u64 size                        virtual size in bytes
 *   16  u32 count                       number of data entries
 *   20  count x { u32 index, 16 id }    strictly ascending index < nchunks,
 *                                       id never null (holes are omitted)
 * The length must be exactly 20 + 20 * count; anything else is -EINVAL.
 *
 * A manifest in memory also holds the key its chunks are sealed under
 * (SPEC §17; NULL: plain), which the encoding does not carry: model/
 * knows each blob's key and sets it on what it decodes.
 *
 * In memory a manifest is the encoding's entries, two arrays side by side
 * (index[] and id[]: the binary search runs over 4-byte indexes), so a
 * manifest costs 20 bytes per data chunk and nothing per hole: a 4 PiB
 * disk holding 10 MiB is ten entries (SPEC §12 "Bounded by design").
 * Looking a chunk up is a binary search (blob_manifest_get); everything
 * that visits a blob's chunks walks the entries (holes between two
 * entries are one step), never the chunk indexes of the virtual size.
 * Builders add chunks in ascending order (an append); set elsewhere moves
 * the entries after it (tests, small edits).
 *
 * Seeking is at chunk granularity (a data chunk is data throughout, even
 * where its bytes are zero) with lseek(2)'s rules; blob_seek_chunks is shared
 * with wblob.c, whose notion of "data chunk" differs and which answers
 * "the next data chunk" and "the next hole" its own way (blob_next_fn).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "blobstore_int.h"

#define MF_MAGIC BLOB_MANIFEST_MAGIC
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
	*out = m;
	return 0;
}

void blob_manifest_free(blob_manifest *m)
{
	if (m == NULL)
		return;
	blob_key_unref(m->key);
	free(m->index);
	free(m->id);
	free(m);
}

void blob_manifest_set_key(blob_manifest *m, const blob_key *key)
{
	blob_key *old = m->key;

	m->key = blob_key_ref(key);
	blob_key_unref(old);
}

/* Room for at least need entries. */
static int mf_reserve(blob_manifest *m, uint32_t need)
{
	uint32_t cap = m->cap ? m->cap : 16;
	uint32_t *index;
	chunk_id *id;

	if (need <= m->cap)
		return 0;
	while (cap < need)
		cap = cap <= UINT32_MAX / 2 ? cap * 2 : UINT32_MAX;
	if ((index = realloc(m->index, (size_t)cap * sizeof *index)) == NULL)
		return -ENOMEM;
	m->index = index;
	if ((id = realloc(m->id, (size_t)cap * sizeof *id)) == NULL)
		return -ENOMEM; /* index[] grew alone: harmless, cap says the smaller */
	m->id = id;
	m->cap = cap;
	return 0;
}

uint32_t blob_manifest_find(const blob_manifest *m, uint32_t i)
{
	uint32_t lo = 0, hi = m->count;

	/* Most lookups of a builder or a sequential reader are at the end. */
	if (hi == 0 || m->index[hi - 1] < i)
		return hi;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (m->index[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const chunk_id *blob_manifest_get(const blob_manifest *m, uint32_t i)
{
	uint32_t k = blob_manifest_find(m, i);

	return k < m->count && m->index[k] == i ? &m->id[k] : NULL;
}

int blob_manifest_set(blob_manifest *m, uint32_t i, const chunk_id *id)
{
	uint32_t k;
	bool hole = chunk_id_is_null(id);
	int rc;

	if (i >= m->nchunks)
		return -EINVAL;
	k = blob_manifest_find(m, i);
	if (k < m->count && m->index[k] == i) {
		if (!hole) {
			m->id[k] = *id;
			return 0;
		}
		memmove(m->index + k, m->index + k + 1, (size_t)(m->count - k - 1) * sizeof *m->index);
		memmove(m->id + k, m->id + k + 1, (size_t)(m->count - k - 1) * sizeof *m->id);
		m->count--;
		m->stored -= blob_chunk_len(m->size, i);
		return 0;
	}
	if (hole)
		return 0;
	if ((rc = mf_reserve(m, m->count + 1)) < 0)
		return rc;
	memmove(m->index + k + 1, m->index + k, (size_t)(m->count - k) * sizeof *m->index);
	memmove(m->id + k + 1, m->id + k, (size_t)(m->count - k) * sizeof *m->id);
	m->index[k] = i;
	m->id[k] = *id;
	m->count++;
	m->stored += blob_chunk_len(m->size, i);
	return 0;
}

int blob_manifest_encode(void **out, size_t *len_out, const blob_manifest *m)
{
	uint8_t *buf, *p;
	size_t len;

	len = MF_HEADER + (size_t)m->count * MF_ENTRY;
	buf = malloc(len);
	if (buf == NULL)
		return -ENOMEM;
	memcpy(buf, MF_MAGIC, 8);
	blob_put_le64(buf + 8, m->size);
	blob_put_le32(buf + 16, m->count);
	p = buf + MF_HEADER;
	for (uint32_t k = 0; k < m->count; k++, p += MF_ENTRY) {
		blob_put_le32(p, m->index[k]);
		memcpy(p + 4, m->id[k].b, 16);
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
	if ((rc = mf_reserve(m, count)) < 0)
		goto out;
	p += MF_HEADER;
	for (uint32_t k = 0; k < count; k++, p += MF_ENTRY) {
		uint32_t i = blob_get_le32(p);

		memcpy(m->id[k].b, p + 4, 16);
		if ((k > 0 && i <= m->index[k - 1]) || i >= m->nchunks || chunk_id_is_null(&m->id[k])) {
			rc = -EINVAL;
			goto out;
		}
		m->index[k] = i;
		m->count = k + 1;
		m->stored += blob_chunk_len(size, i);
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	blob_manifest_free(m);
	return rc;
}

int64_t blob_seek_chunks(uint64_t size, uint64_t off, int whence, blob_next_fn next, const void *ctx)
{
	uint32_t n = blob_nchunks(size), i;
	bool want_data;

	if (whence == SEEK_DATA)
		want_data = true;
	else if (whence == SEEK_HOLE)
		want_data = false;
	else
		return -EINVAL;
	if (off >= size)
		return -ENXIO;
	i = next(ctx, (uint32_t)(off >> BLOB_CHUNK_SHIFT), n, want_data);
	if (i >= n)
		return want_data ? -ENXIO : (int64_t)size;
	uint64_t start = (uint64_t)i << BLOB_CHUNK_SHIFT;
	return (int64_t)(start > off ? start : off);
}

uint32_t blob_manifest_next(const void *ctx, uint32_t i, uint32_t n, bool want_data)
{
	const blob_manifest *m = ctx;
	uint32_t k = blob_manifest_find(m, i);

	if (want_data)
		return k < m->count && m->index[k] < n ? m->index[k] : n;
	/* A hole: i itself, or the end of the run of data chunks from i. */
	for (; k < m->count && m->index[k] == i && i < n; k++)
		i++;
	return i < n ? i : n;
}

int64_t blob_manifest_seek(const blob_manifest *m, uint64_t off, int whence)
{
	return blob_seek_chunks(m->size, off, whence, blob_manifest_next, m);
}
