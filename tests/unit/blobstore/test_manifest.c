/*
 * test_manifest.c — unit tests for blobstore/manifest.c: chunk lengths,
 * encode/decode round trips (holes, short last chunk, empty blob), decode's
 * refusals, and SEEK_DATA/SEEK_HOLE against a brute-force reference.
 * The sparse manifest against a dense array of ids (random sets, holes
 * made and filled, in any order: get, find, next, stored, the entries'
 * order), and at the largest size, 4 PiB, where a dense one would be 64
 * GiB: its entries and its allocation count what it holds, and seeking,
 * encoding and reading cost nothing per hole.
 */
#include "blob_test.h"

static void random_id(struct blob_fx *fx, chunk_id *id)
{
	do
		fx_fill(fx, id->b, sizeof id->b);
	while (chunk_id_is_null(id));
}

/* Chunk i of m gets a random id. */
static void set_random(struct blob_fx *fx, blob_manifest *m, uint32_t i)
{
	chunk_id id;

	random_id(fx, &id);
	assert_int_equal(blob_manifest_set(m, i, &id), 0);
}

/* A manifest of `size` with random holes (hole_pct %). */
static blob_manifest *random_manifest(struct blob_fx *fx, uint64_t size, int hole_pct)
{
	blob_manifest *m = NULL;

	assert_int_equal(blob_manifest_new(&m, size), 0);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		if ((int)fx_below(fx, 100) >= hole_pct)
			set_random(fx, m, i);
	}
	return m;
}

static void test_chunk_len(void **state)
{
	(void)state;
	assert_int_equal(blob_chunk_len(0, 0), 0);
	assert_int_equal(blob_chunk_len(1, 0), 1);
	assert_int_equal(blob_chunk_len(MiB, 0), MiB);
	assert_int_equal(blob_chunk_len(MiB, 1), 0);
	assert_int_equal(blob_chunk_len(MiB + 5, 1), 5);
	assert_int_equal(blob_chunk_len(3 * MiB + 5, 2), MiB);
	assert_int_equal(blob_chunk_len(3 * MiB + 5, 3), 5);
	assert_int_equal(blob_chunk_len(3 * MiB + 5, 4), 0);
	assert_int_equal(blob_chunk_len((uint64_t)1 << 40, (1u << 20) - 1), MiB);
}

static void test_new(void **state)
{
	blob_manifest *m = NULL;

	(void)state;
	assert_int_equal(blob_manifest_new(&m, 0), 0);
	assert_int_equal(m->nchunks, 0);
	assert_int_equal(m->stored, 0);
	blob_manifest_free(m);
	assert_int_equal(blob_manifest_new(&m, 5 * MiB + 1), 0);
	assert_int_equal(m->nchunks, 6);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_is_null(mf_id(m, i)));
	blob_manifest_free(m);
	blob_manifest_free(NULL);
}

static void roundtrip(struct blob_fx *fx, uint64_t size, int hole_pct)
{
	blob_manifest *m = random_manifest(fx, size, hole_pct), *back = NULL;
	size_t len, ndata = 0;
	void *enc = NULL;

	for (uint32_t i = 0; i < m->nchunks; i++)
		ndata += !chunk_id_is_null(mf_id(m, i));
	assert_int_equal(blob_manifest_encode(&enc, &len, m), 0);
	assert_int_equal(len, 20 + 20 * ndata); /* holes cost nothing */
	assert_int_equal(blob_manifest_decode(&back, enc, len), 0);
	assert_int_equal(back->size, m->size);
	assert_int_equal(back->nchunks, m->nchunks);
	assert_int_equal(back->stored, m->stored);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(mf_id(back, i), mf_id(m, i)));
	free(enc);
	blob_manifest_free(back);
	blob_manifest_free(m);
}

static void test_roundtrip(void **state)
{
	struct blob_fx *fx = *state;

	roundtrip(fx, 0, 50);
	roundtrip(fx, 1, 0);
	roundtrip(fx, MiB, 0);
	roundtrip(fx, 7 * MiB + 12345, 40); /* short last chunk */
	roundtrip(fx, 64 * MiB, 100);      /* all holes */
	for (int k = 0; k < 50; k++)
		roundtrip(fx, fx_below(fx, 200 * MiB), (int)fx_below(fx, 101));
}

static void test_decode_rejects(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m = NULL, *back = NULL;
	uint8_t *enc = NULL, *bad;
	size_t len;

	assert_int_equal(blob_manifest_new(&m, 10 * MiB), 0);
	set_random(fx, m, 2);
	set_random(fx, m, 5);
	set_random(fx, m, 9);
	assert_int_equal(blob_manifest_encode((void **)&enc, &len, m), 0);
	assert_int_equal(len, 80);
	bad = malloc(len + 20);
	assert_non_null(bad);

	/* Every truncation, and one byte too many. */
	for (size_t l = 0; l < len; l++)
		assert_int_equal(blob_manifest_decode(&back, enc, l), -EINVAL);
	memcpy(bad, enc, len);
	bad[len] = 0;
	assert_int_equal(blob_manifest_decode(&back, bad, len + 1), -EINVAL);
	/* Bad magic. */
	memcpy(bad, enc, len);
	bad[7] = '2';
	assert_int_equal(blob_manifest_decode(&back, bad, len), -EINVAL);
	/* Count disagreeing with the length. */
	memcpy(bad, enc, len);
	bad[16] = 4;
	assert_int_equal(blob_manifest_decode(&back, bad, len), -EINVAL);
	/* Non-ascending indexes: swap 2 and 5, then repeat 5. */
	memcpy(bad, enc, len);
	bad[20] = 5;
	bad[40] = 2;
	assert_int_equal(blob_manifest_decode(&back, bad, len), -EINVAL);
	memcpy(bad, enc, len);
	bad[20] = 5;
	assert_int_equal(blob_manifest_decode(&back, bad, len), -EINVAL);
	/* Index >= nchunks (10). */
	memcpy(bad, enc, len);
	bad[60] = 10;
	assert_int_equal(blob_manifest_decode(&back, bad, len), -EINVAL);
	memcpy(bad, enc, len);
	bad[63] = 0x80;
	assert_int_equal(blob_manifest_decode(&back, bad, len), -EINVAL);
	/* A null id as a data entry. */
	memcpy(bad, enc, len);
	memset(bad + 44, 0, 16);
	assert_int_equal(blob_manifest_decode(&back, bad, len), -EINVAL);
	/* Still fine untouched. */
	assert_int_equal(blob_manifest_decode(&back, enc, len), 0);
	blob_manifest_free(back);
	free(bad);
	free(enc);
	blob_manifest_free(m);
}

/* lseek over the manifest, computed byte by byte in the obvious way. */
static int64_t ref_seek(const blob_manifest *m, uint64_t off, int whence)
{
	if (off >= m->size)
		return -ENXIO;
	for (uint64_t pos = off; pos < m->size;) {
		uint32_t i = (uint32_t)(pos / MiB);
		bool data = !chunk_id_is_null(mf_id(m, i));

		if (data == (whence == SEEK_DATA))
			return (int64_t)pos;
		pos = (uint64_t)(i + 1) * MiB; /* the whole chunk is alike */
	}
	return whence == SEEK_DATA ? -ENXIO : (int64_t)m->size;
}

static void check_seek_at(const blob_manifest *m, uint64_t off)
{
	assert_int_equal(blob_manifest_seek(m, off, SEEK_DATA), ref_seek(m, off, SEEK_DATA));
	assert_int_equal(blob_manifest_seek(m, off, SEEK_HOLE), ref_seek(m, off, SEEK_HOLE));
}

static void test_seek(void **state)
{
	struct blob_fx *fx = *state;

	for (int round = 0; round < 40; round++) {
		uint64_t size = fx_below(fx, 40 * MiB) + (round == 0 ? 0 : 1);
		blob_manifest *m = random_manifest(fx, size, (int)fx_below(fx, 101));

		for (uint32_t i = 0; i <= m->nchunks + 1; i++) {
			uint64_t b = (uint64_t)i * MiB;
			check_seek_at(m, b);
			if (b > 0)
				check_seek_at(m, b - 1);
			check_seek_at(m, b + 1);
			check_seek_at(m, b + fx_below(fx, MiB));
		}
		check_seek_at(m, size);
		if (size > 0)
			check_seek_at(m, size - 1);
		assert_int_equal(blob_manifest_seek(m, 0, SEEK_SET), -EINVAL);
		blob_manifest_free(m);
	}
}

static void test_seek_examples(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m = NULL;

	/* [hole][data][hole] + short data tail of 10 bytes. */
	assert_int_equal(blob_manifest_new(&m, 3 * MiB + 10), 0);
	set_random(fx, m, 1);
	set_random(fx, m, 3);
	assert_int_equal(blob_manifest_seek(m, 0, SEEK_DATA), MiB);
	assert_int_equal(blob_manifest_seek(m, MiB + 7, SEEK_DATA), MiB + 7);
	assert_int_equal(blob_manifest_seek(m, MiB + 7, SEEK_HOLE), 2 * MiB);
	assert_int_equal(blob_manifest_seek(m, 2 * MiB + 1, SEEK_HOLE), 2 * MiB + 1);
	assert_int_equal(blob_manifest_seek(m, 2 * MiB + 1, SEEK_DATA), 3 * MiB);
	assert_int_equal(blob_manifest_seek(m, 3 * MiB + 9, SEEK_HOLE), 3 * MiB + 10);
	assert_int_equal(blob_manifest_seek(m, 3 * MiB + 10, SEEK_DATA), -ENXIO);
	assert_int_equal(blob_manifest_seek(m, 3 * MiB + 10, SEEK_HOLE), -ENXIO);
	blob_manifest_free(m);
}

/* Compares m with the dense reference ref (n chunks): every chunk's id,
 * the entries ascending and without holes, stored, find and next. */
static void check_dense(const blob_manifest *m, const chunk_id *ref, uint32_t n)
{
	uint64_t stored = 0;
	uint32_t count = 0;

	for (uint32_t i = 0; i < n; i++) {
		const chunk_id *got = blob_manifest_get(m, i);
		bool hole = chunk_id_is_null(&ref[i]);

		assert_int_equal(got == NULL, hole);
		if (!hole) {
			assert_true(chunk_id_equal(got, &ref[i]));
			stored += blob_chunk_len(m->size, i);
			count++;
		}
		/* find: the first entry >= i; next: the first data / hole >= i. */
		uint32_t k = blob_manifest_find(m, i), d = i, h = i;
		while (d < n && chunk_id_is_null(&ref[d]))
			d++;
		while (h < n && !chunk_id_is_null(&ref[h]))
			h++;
		assert_int_equal(k < m->count ? m->index[k] : n, d);
		assert_int_equal(blob_manifest_next(m, i, n, true), d);
		assert_int_equal(blob_manifest_next(m, i, n, false), h);
	}
	assert_null(blob_manifest_get(m, n));
	assert_int_equal(m->count, count);
	assert_int_equal(m->stored, stored);
	for (uint32_t k = 0; k < m->count; k++) {
		assert_true(k == 0 || m->index[k] > m->index[k - 1]);
		assert_false(chunk_id_is_null(&m->id[k]));
	}
}

/* Random sets in any order (new chunks, replaced ids, holes made and
 * made again) against a dense array, and the encoding of each state
 * decoding to the same. */
static void test_sparse_reference(void **state)
{
	struct blob_fx *fx = *state;

	for (int round = 0; round < 30; round++) {
		uint64_t size = 1 + fx_below(fx, 64 * MiB);
		blob_manifest *m = NULL, *back = NULL;
		uint32_t n;
		chunk_id *ref;

		assert_int_equal(blob_manifest_new(&m, size), 0);
		n = m->nchunks;
		ref = calloc(n, sizeof *ref);
		assert_non_null(ref);
		for (int op = 0; op < 300; op++) {
			uint32_t i = (uint32_t)fx_below(fx, n);
			chunk_id id = {{0}};

			if (fx_below(fx, 3) != 0)
				random_id(fx, &id);
			assert_int_equal(blob_manifest_set(m, i, &id), 0);
			ref[i] = id;
			if (op % 50 == 0)
				check_dense(m, ref, n);
		}
		check_dense(m, ref, n);
		/* Out of range: refused, nothing changed. */
		chunk_id one = {{1}};
		assert_int_equal(blob_manifest_set(m, n, &one), -EINVAL);
		void *enc;
		size_t len;
		assert_int_equal(blob_manifest_encode(&enc, &len, m), 0);
		assert_int_equal(blob_manifest_decode(&back, enc, len), 0);
		check_dense(back, ref, n);
		free(enc);
		blob_manifest_free(back);
		blob_manifest_free(m);
		free(ref);
	}
}

/* The largest blob: 2^32 - 1 chunks.  Ten data chunks cost ten entries
 * (16 allocated: the first allocation's size), not 64 GiB of ids; seeking,
 * reading across holes, encoding and decoding see only them. */
static void test_sparse_huge(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = BLOB_MAX_SIZE;
	uint32_t at[10] = {0, 1, 2, 1u << 20, (1u << 30) + 7, 3000000000u, UINT32_MAX - 3, UINT32_MAX - 2,
	                   UINT32_MAX - 1, 5};
	blob_manifest *m = NULL, *back = NULL;
	uint8_t buf[4096];
	void *enc;
	size_t len;

	assert_int_equal(blob_manifest_new(&m, size + 1), -EFBIG);
	assert_int_equal(blob_manifest_new(&m, size), 0);
	assert_int_equal(m->nchunks, UINT32_MAX);
	assert_int_equal(m->cap, 0);
	for (int k = 0; k < 10; k++)
		set_random(fx, m, at[k]); /* ids of no stored chunk: looked up, never read */
	assert_int_equal(m->count, 10);
	assert_true(m->cap <= 16);
	assert_int_equal(m->stored, 10 * MiB);
	/* Seeking over a PiB of holes: one step each. */
	assert_int_equal(blob_manifest_seek(m, 3 * MiB, SEEK_DATA), 5 * MiB);
	assert_int_equal(blob_manifest_seek(m, 6 * MiB, SEEK_DATA), (uint64_t)1 << 40);
	assert_int_equal(blob_manifest_seek(m, ((uint64_t)1 << 40) + 5, SEEK_HOLE), ((uint64_t)1 << 40) + MiB);
	assert_int_equal(blob_manifest_seek(m, ((uint64_t)1 << 40) + MiB, SEEK_DATA), (((uint64_t)1 << 30) + 7) << 20);
	assert_int_equal(blob_manifest_seek(m, (uint64_t)(UINT32_MAX - 3) << 20, SEEK_HOLE), size);
	assert_int_equal(blob_manifest_seek(m, size - 1, SEEK_DATA), size - 1);
	assert_int_equal(blob_manifest_seek(m, 0, SEEK_HOLE), 3 * MiB);
	/* A read of holes between data chunks: zeros, no chunk touched. */
	memset(buf, 0xee, sizeof buf);
	assert_int_equal(blob_store_read(fx->s, m, buf, sizeof buf, (uint64_t)1 << 50), sizeof buf);
	for (size_t k = 0; k < sizeof buf; k++)
		assert_int_equal(buf[k], 0);
	assert_int_equal(blob_store_cache_misses(fx->s), 0);
	/* The encoding: ten entries; decoded, the same. */
	assert_int_equal(blob_manifest_encode(&enc, &len, m), 0);
	assert_int_equal(len, 20 + 20 * 10);
	assert_int_equal(blob_manifest_decode(&back, enc, len), 0);
	assert_int_equal(back->count, 10);
	assert_true(back->cap <= 16);
	for (int k = 0; k < 10; k++)
		assert_true(chunk_id_equal(blob_manifest_get(back, at[k]), blob_manifest_get(m, at[k])));
	/* Holes made: entries go. */
	chunk_id null_id = {{0}};
	for (int k = 0; k < 10; k++)
		assert_int_equal(blob_manifest_set(m, at[k], &null_id), 0);
	assert_int_equal(m->count, 0);
	assert_int_equal(m->stored, 0);
	assert_int_equal(blob_manifest_seek(m, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(blob_manifest_seek(m, 0, SEEK_HOLE), 0);
	free(enc);
	blob_manifest_free(back);
	blob_manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_len),
		cmocka_unit_test(test_new),
		cmocka_unit_test_setup_teardown(test_roundtrip, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_decode_rejects, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seek, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seek_examples, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sparse_reference, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sparse_huge, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
