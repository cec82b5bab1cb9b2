/*
 * test_idset.c — unit tests for blobstore/idset.c: membership against a
 * reference list across many growths, duplicates, the null id, NULL sets.
 */
#include "blob_test.h"

static void make_id(chunk_id *id, uint64_t k)
{
	/* Structured ids (counters), the worst case for a hash set. */
	memset(id, 0, sizeof *id);
	for (int i = 0; i < 8; i++)
		id->b[15 - i] = (uint8_t)(k >> (8 * i));
}

static void test_idset_many(void **state)
{
	blob_idset *set = NULL;
	chunk_id id;

	(void)state;
	assert_int_equal(blob_idset_new(&set), 0);
	for (uint64_t k = 1; k <= 20000; k += 2) {
		make_id(&id, k);
		assert_int_equal(blob_idset_add(set, &id), 0);
		assert_int_equal(blob_idset_add(set, &id), 0); /* duplicate: no harm */
	}
	for (uint64_t k = 1; k <= 20001; k++) {
		make_id(&id, k);
		assert_int_equal(blob_idset_has(set, &id), k % 2 == 1 && k <= 20000);
	}
	make_id(&id, 0);
	assert_false(blob_idset_has(set, &id));
	assert_int_equal(blob_idset_add(set, &id), 0);
	assert_true(blob_idset_has(set, &id));
	blob_idset_free(set);
}

static void test_idset_null(void **state)
{
	chunk_id id;

	(void)state;
	make_id(&id, 5);
	assert_false(blob_idset_has(NULL, &id));
	blob_idset_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idset_many),
		cmocka_unit_test(test_idset_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
