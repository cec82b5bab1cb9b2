/*
 * test_cache.c — unit tests for blobstore/cache.c: a sequential pass in
 * kernel-sized requests loads each chunk once, the cache holds verified
 * bytes only (a failed load is not remembered), and many threads reading
 * at once (more chunks than entries, so entries are evicted under them)
 * always get the reference bytes.  A chunk read's bounds, the eviction
 * order (least recently used), and a read with every entry pinned (those
 * two read the whole path: reads of part of a chunk, RADOS's, are
 * test_part.c's).
 */
#include <pthread.h>

#include "blob_test.h"
#include "blobstore_int.h"

/* n distinct chunks of len bytes, stored: their ids and bytes. */
static uint8_t *put_chunks(struct blob_fx *fx, chunk_id *ids, int n, size_t len)
{
	uint8_t *buf = malloc((size_t)n * len);

	assert_non_null(buf);
	fx_fill(fx, buf, (size_t)n * len);
	for (int i = 0; i < n; i++)
		assert_int_equal(blob_store_put_chunk(fx->s, &ids[i], buf + (size_t)i * len, len), 1);
	return buf;
}

/* Bytes [coff, coff + n) of a chunk of chunk_len bytes: coff up to
 * chunk_len and n up to chunk_len - coff are read, one past either is
 * -EINVAL (mutate survivors #91..#97 of cache.c). */
static void test_read_chunk_bounds(void **state)
{
	struct blob_fx *fx = *state;
	const size_t len = 4096;
	uint8_t got[4096 + 1];
	chunk_id id;
	uint8_t *buf = put_chunks(fx, &id, 1, len);

	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &id, len, got, len, 0), 0);
	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &id, len, got, len + 1, 0), -EINVAL);
	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &id, len, got, 100, len - 100), 0);
	assert_bytes_equal(got, buf + 100, len - 100);
	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &id, len, got, 100, len - 99), -EINVAL);
	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &id, len, got, 0, len), 0);
	assert_bytes_equal(got, buf, len);
	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &id, len, got, 0, len + 1), -EINVAL);
	free(buf);
}

/* The least recently used entry is the one evicted: BLOB_CACHE_ENTRIES
 * chunks fill the cache, chunk 0 read again, a new chunk evicts chunk 1
 * (the oldest then), every other one is still a hit, and chunk 1 is a miss
 * (mutate survivors #46, #53 of cache.c). */
static void test_lru(void **state)
{
	struct blob_fx *fx = *state;
	const int n = BLOB_CACHE_ENTRIES + 1;
	const size_t len = 4096;
	chunk_id ids[BLOB_CACHE_ENTRIES + 1];
	uint8_t got[4096], *buf = put_chunks(fx, ids, n, len);
	uint64_t misses = blob_store_cache_misses(fx->s), hits = blob_store_cache_hits(fx->s);

	for (int i = 0; i < BLOB_CACHE_ENTRIES; i++)
		assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[i], len, got, 0, len, false), 0);
	assert_int_equal(blob_store_cache_misses(fx->s) - misses, BLOB_CACHE_ENTRIES);
	assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[0], len, got, 0, len, false), 0);
	assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[n - 1], len, got, 0, len, false), 0);
	assert_bytes_equal(got, buf + (size_t)(n - 1) * len, len);
	assert_int_equal(blob_store_cache_misses(fx->s) - misses, BLOB_CACHE_ENTRIES + 1);
	for (int i = 0; i < n; i++) {
		if (i == 1)
			continue;
		assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[i], len, got, 0, len, false), 0);
		assert_bytes_equal(got, buf + (size_t)i * len, len);
	}
	assert_int_equal(blob_store_cache_misses(fx->s) - misses, BLOB_CACHE_ENTRIES + 1);
	assert_int_equal(blob_store_cache_hits(fx->s) - hits, 1 + n - 1);
	assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[1], len, got, 0, len, false), 0);
	assert_int_equal(blob_store_cache_misses(fx->s) - misses, BLOB_CACHE_ENTRIES + 2);
	free(buf);
}

/* Every entry pinned (more readers than entries): a read goes around the
 * cache, right bytes, one miss, nothing cached; a chunk of the wrong
 * length there is a verdict (-EUCLEAN; -EIO to blob_store_read_chunk's
 * readers).  Unpinned, the entries serve again (mutate
 * survivors #73, #76 of cache.c). */
static void test_every_entry_pinned(void **state)
{
	struct blob_fx *fx = *state;
	const int n = BLOB_CACHE_ENTRIES + 1;
	const size_t len = 4096;
	struct blob_cache_ent *e[BLOB_CACHE_ENTRIES], *none;
	chunk_id ids[BLOB_CACHE_ENTRIES + 1];
	uint8_t got[4096], *buf = put_chunks(fx, ids, n, len);
	uint64_t misses;

	for (int i = 0; i < BLOB_CACHE_ENTRIES; i++) {
		assert_int_equal(blob_cache_pin(fx->s, NULL, &ids[i], len, &e[i]), 0);
		assert_non_null(e[i]);
	}
	assert_int_equal(blob_cache_pin(fx->s, NULL, &ids[n - 1], len, &none), 0);
	assert_null(none);
	misses = blob_store_cache_misses(fx->s);
	memset(got, 0, sizeof got);
	assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[n - 1], len, got, 0, len, false), 0);
	assert_bytes_equal(got, buf + (size_t)(n - 1) * len, len);
	assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[n - 1], len - 1, got, 0, len - 1, false), -EUCLEAN);
	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &ids[n - 1], len - 1, got, 0, len - 1), -EIO);
	assert_int_equal(blob_store_cache_misses(fx->s) - misses, 3);
	assert_false(blob_cache_has(&fx->s->cache, &ids[n - 1]));
	for (int i = 0; i < BLOB_CACHE_ENTRIES; i++)
		blob_cache_unpin(&fx->s->cache, e[i]);
	assert_int_equal(blob_store_read_chunk_how(fx->s, NULL, &ids[n - 1], len, got, 0, len, false), 0);
	assert_true(blob_cache_has(&fx->s->cache, &ids[n - 1]));
	free(buf);
}

static void test_sequential_pass_loads_each_chunk_once(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 20 * MiB + 4321;
	uint8_t *ref = fx_make_blob(fx, size, 25), *buf = malloc(128 * 1024);
	blob_manifest *m = NULL;
	uint64_t before, data_chunks = 0;

	assert_non_null(buf);
	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
	for (uint32_t i = 0; i < m->nchunks; i++)
		data_chunks += !chunk_id_is_null(mf_id(m, i));
	before = blob_store_cache_misses(fx->s);
	for (uint64_t off = 0; off < size; off += 128 * 1024) {
		ssize_t n = blob_store_read(fx->s, m, buf, 128 * 1024, off);
		assert_int_equal(n, size - off < 128 * 1024 ? size - off : 128 * 1024);
		assert_bytes_equal(buf, ref + off, (size_t)n);
	}
	assert_int_equal(blob_store_cache_misses(fx->s) - before, data_chunks);
	/* 21 chunks fit in the cache: a second pass loads nothing, and each of
	 * its reads of a data chunk is a hit (holes do not reach the cache). */
	uint64_t hits = blob_store_cache_hits(fx->s), data_reads = 0;
	for (uint64_t off = 0; off < size; off += 128 * 1024) {
		assert_true(blob_store_read(fx->s, m, buf, 128 * 1024, off) > 0);
		data_reads += !chunk_id_is_null(mf_id(m, off / BLOB_CHUNK_SIZE));
	}
	assert_int_equal(blob_store_cache_misses(fx->s) - before, data_chunks);
	assert_int_equal(blob_store_cache_hits(fx->s) - hits, data_reads);
	blob_manifest_free(m);
	free(ref);
	free(buf);
}

static void test_failed_load_is_not_cached(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref = fx_make_blob(fx, 2 * MiB, 0), *buf = malloc(MiB);
	blob_manifest *m = NULL;

	assert_non_null(buf);
	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, 2 * MiB), 0);
	/* Chunk 0 is cached once read; damaging its file afterwards cannot
	 * change what readers get (the cached bytes were verified). */
	assert_int_equal(blob_store_read(fx->s, m, buf, 4096, 0), 4096);
	fx_corrupt(fx, mf_id(m, 0), 10);
	assert_int_equal(blob_store_read(fx->s, m, buf, MiB, 0), MiB);
	assert_bytes_equal(buf, ref, MiB);
	/* Chunk 1 is damaged before it is ever read: -EIO every time, each
	 * read one load (a load that condemned it is not made again around
	 * the cache)... */
	fx_corrupt(fx, mf_id(m, 1), 20);
	uint64_t misses = blob_store_cache_misses(fx->s);
	assert_int_equal(blob_store_read(fx->s, m, buf, 4096, MiB), -EIO);
	assert_int_equal(blob_store_read(fx->s, m, buf, 4096, MiB), -EIO);
	assert_int_equal(blob_store_cache_misses(fx->s) - misses, 2);
	/* ...until it is repaired: the failure was not remembered. */
	fx_corrupt(fx, mf_id(m, 1), 20); /* flips it back */
	assert_int_equal(blob_store_read(fx->s, m, buf, MiB, MiB), MiB);
	assert_bytes_equal(buf, ref + MiB, MiB);
	blob_manifest_free(m);
	free(ref);
	free(buf);
}

struct reader {
	struct blob_fx *fx;
	const blob_manifest *m;
	const uint8_t *ref;
	uint64_t seed;
	int errors;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct blob_fx local = {.rng = r->seed};
	uint64_t size = r->m->size;
	uint8_t *buf = malloc(MiB);

	if (buf == NULL) {
		r->errors++;
		return NULL;
	}
	for (int k = 0; k < 150; k++) {
		uint64_t off = fx_below(&local, size);
		size_t len = (size_t)(fx_below(&local, 2) ? 128 * 1024 : fx_below(&local, MiB) + 1);
		ssize_t n = blob_store_read(r->fx->s, r->m, buf, len, off);
		size_t want = size - off < len ? (size_t)(size - off) : len;

		if (n != (ssize_t)want || memcmp(buf, r->ref + off, want) != 0)
			r->errors++;
	}
	free(buf);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 48 * MiB + 1;
	uint8_t *ref = fx_make_blob(fx, size, 10);
	blob_manifest *m = NULL;
	struct reader r[8];
	pthread_t t[8];

	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct reader){.fx = fx, .m = m, .ref = ref, .seed = fx_rand(fx)};
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].errors, 0);
	}
	blob_manifest_free(m);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sequential_pass_loads_each_chunk_once, blob_fx_setup,
		                                blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_failed_load_is_not_cached, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_chunk_bounds, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_lru, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_entry_pinned, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
