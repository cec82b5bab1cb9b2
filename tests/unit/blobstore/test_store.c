/*
 * test_store.c — unit tests for blobstore/store.c: the layout made by open,
 * keyed ids, put/get of chunks of many lengths, zero chunks as holes,
 * deduplication, verification on get, copy_chunk between stores.
 */
#include "blob_test.h"

static void test_open_layout(void **state)
{
	struct blob_fx *fx = *state;
	const char *sub[] = {"chunks", "tmp", "wblobs"};
	char path[256];
	struct stat st;
	blob_store *again = NULL;

	/* chunks/ is the local backend's; a RADOS store has wblobs and tmp. */
	for (int i = fx_rados(fx) ? 1 : 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", fx->store, sub[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	/* Opening an existing store works; a missing parent does not. */
	assert_int_equal(blob_store_open(&again, fx->store, fx->secret), 0);
	blob_store_close(again);
	snprintf(path, sizeof path, "%s/no/such", fx->dir);
	assert_int_equal(blob_store_open(&again, path, fx->secret), -ENOENT);
	blob_store_close(NULL);
}

static void test_keyed_ids(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t other_secret[BLOB_SECRET_SIZE], data[4096];
	blob_store *other = NULL;
	char dir[128];
	chunk_id a, a2, b, c;

	fx_fill(fx, data, sizeof data);
	fx_secret(other_secret, 2);
	snprintf(dir, sizeof dir, "%s/other", fx->dir);
	assert_int_equal(blob_store_open(&other, dir, other_secret), 0);
	blob_store_chunk_id(fx->s, &a, data, sizeof data);
	blob_store_chunk_id(fx->s, &a2, data, sizeof data);
	blob_store_chunk_id(other, &b, data, sizeof data);
	blob_store_chunk_id(fx->s, &c, data, sizeof data - 1);
	assert_true(chunk_id_equal(&a, &a2));   /* deterministic */
	assert_false(chunk_id_equal(&a, &b));   /* depends on the secret */
	assert_false(chunk_id_equal(&a, &c));   /* and on every byte */
	assert_false(chunk_id_is_null(&a));
	blob_store_close(other);
}

static void test_put_get_lengths(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *data = malloc(MiB), *got = malloc(MiB);
	const size_t lens[] = {1, 2, 15, 16, 17, 239, 240, 241, 4095, 4096, 65537, MiB - 1, MiB};
	size_t len = 0;

	assert_non_null(data);
	assert_non_null(got);
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		chunk_id id, want;

		fx_fill(fx, data, lens[k]);
		data[0] |= 1; /* never all zero */
		blob_store_chunk_id(fx->s, &want, data, lens[k]);
		assert_int_equal(blob_store_put_chunk(fx->s, &id, data, lens[k]), 1);
		assert_true(chunk_id_equal(&id, &want));
		assert_int_equal(blob_store_has_chunk(fx->s, &id), 1);
		memset(got, 0xee, MiB);
		assert_int_equal(blob_store_get_chunk(fx->s, &id, got, MiB, &len), 0);
		assert_int_equal(len, lens[k]);
		assert_bytes_equal(got, data, lens[k]);
	}
	assert_int_equal(fx_nchunks(fx), (int)(sizeof lens / sizeof lens[0]));
	assert_int_equal(blob_store_put_chunk(fx->s, &(chunk_id){0}, data, MiB + 1), -EINVAL);
	free(data);
	free(got);
}

static void test_zero_chunks_are_holes(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *zero = calloc(1, MiB);
	chunk_id id;

	assert_non_null(zero);
	memset(&id, 0xff, sizeof id);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, zero, MiB), 0);
	assert_true(chunk_id_is_null(&id));
	memset(&id, 0xff, sizeof id);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, zero, 17), 0);
	assert_true(chunk_id_is_null(&id));
	assert_int_equal(blob_store_put_chunk(fx->s, &id, zero, 0), 0);
	assert_true(chunk_id_is_null(&id));
	assert_int_equal(fx_nchunks(fx), 0);
	/* The null id is always "there" and never fetched. */
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 1);
	size_t len;
	assert_int_equal(blob_store_get_chunk(fx->s, &id, zero, MiB, &len), -EINVAL);
	/* One non-zero byte at the very end is data. */
	zero[MiB - 1] = 1;
	assert_int_equal(blob_store_put_chunk(fx->s, &id, zero, MiB), 1);
	assert_false(chunk_id_is_null(&id));
	free(zero);
}

static void test_dedupe(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *data = malloc(MiB);
	chunk_id a, b;

	assert_non_null(data);
	fx_fill(fx, data, MiB);
	assert_int_equal(blob_store_put_chunk(fx->s, &a, data, MiB), 1);
	assert_int_equal(blob_store_put_chunk(fx->s, &b, data, MiB), 0);
	assert_true(chunk_id_equal(&a, &b));
	assert_int_equal(fx_nchunks(fx), 1);
	data[12345] ^= 1;
	assert_int_equal(blob_store_put_chunk(fx->s, &b, data, MiB), 1);
	assert_false(chunk_id_equal(&a, &b));
	assert_int_equal(fx_nchunks(fx), 2);
	free(data);
}

static void test_get_verifies(void **state)
{
	struct blob_fx *fx = *state;
	static uint8_t data[70000], got[BLOB_CHUNK_SIZE]; /* off the stack (-Wstack-usage) */
	size_t len = 0;
	chunk_id id;

	fx_fill(fx, data, sizeof data);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, data, sizeof data), 1);
	fx_corrupt(fx, &id, 65536);
	assert_int_equal(blob_store_get_chunk(fx->s, &id, got, sizeof got, &len), -EIO);
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 1); /* still there, just bad */
}

static void test_copy_chunk(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t data[9000], other_secret[BLOB_SECRET_SIZE];
	static uint8_t got[BLOB_CHUNK_SIZE]; /* 1 MiB: off the stack (-Wstack-usage) */
	blob_store *dst = NULL, *foreign = NULL;
	char dir[128];
	size_t len = 0;
	chunk_id id, null_id, bad;

	memset(&null_id, 0, sizeof null_id);
	fx_fill(fx, data, sizeof data);
	snprintf(dir, sizeof dir, "%s/region2", fx->dir);
	assert_int_equal(blob_store_open(&dst, dir, fx->secret), 0);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, data, sizeof data), 1);
	assert_int_equal(blob_store_has_chunk(dst, &id), 0);
	assert_int_equal(blob_store_copy_chunk(dst, fx->s, &id), 1);
	assert_int_equal(blob_store_has_chunk(dst, &id), 1);
	assert_int_equal(blob_store_copy_chunk(dst, fx->s, &id), 0);
	assert_int_equal(blob_store_get_chunk(dst, &id, got, sizeof got, &len), 0);
	assert_int_equal(len, sizeof data);
	assert_bytes_equal(got, data, sizeof data);
	assert_int_equal(blob_store_copy_chunk(dst, fx->s, &null_id), 0);

	/* A corrupt source chunk is not copied. */
	data[0] ^= 0xff;
	assert_int_equal(blob_store_put_chunk(fx->s, &bad, data, sizeof data), 1);
	fx_corrupt(fx, &bad, 100);
	assert_int_equal(blob_store_copy_chunk(dst, fx->s, &bad), -EIO);
	assert_int_equal(blob_store_has_chunk(dst, &bad), 0);
	/* Missing in the source. */
	assert_int_equal(blob_store_copy_chunk(dst, dst, &bad), -ENOENT);

	/* Stores keyed differently do not share ids. */
	fx_secret(other_secret, 9);
	snprintf(dir, sizeof dir, "%s/foreign", fx->dir);
	assert_int_equal(blob_store_open(&foreign, dir, other_secret), 0);
	assert_int_equal(blob_store_copy_chunk(foreign, fx->s, &id), -EINVAL);
	blob_store_close(foreign);
	blob_store_close(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_layout, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_keyed_ids, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_put_get_lengths, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_zero_chunks_are_holes, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_dedupe, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_get_verifies, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_chunk, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
