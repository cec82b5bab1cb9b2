/*
 * test_radix.c — unit tests for blobstore/radix.c (struct blob_radix, the
 * sparse arrays of wblob.c's state bytes and streamed ids).
 *
 * Against a reference model: a dense array at small index ranges, random
 * sets (non-zero, zero, the same value again), next() from every index,
 * clear_from at random points, both element sizes wblob.c uses; after
 * every batch the allocated leaves must be exactly the leaves holding a
 * non-zero element (counted through the radix's own counters, not RSS).
 * At the top of the index range (2^32 - 1, a 4 PiB disk's last chunk):
 * a handful of elements cost a handful of leaves and directories, next()
 * crosses the empty range in one call, clear_from frees it all.
 */
#include "blob_test.h"

#define REF_N 70000 /* indexes the reference covers: several leaves of both shapes */

struct ref {
	size_t esize;
	unsigned leaf_bits;
	uint8_t *e; /* REF_N * esize */
};

static bool ref_zero(const struct ref *r, uint32_t i)
{
	for (size_t k = 0; k < r->esize; k++)
		if (r->e[(size_t)i * r->esize + k])
			return false;
	return true;
}

/* Leaves the reference says must exist: those holding a non-zero element. */
static uint64_t ref_leaves(const struct ref *r)
{
	uint64_t n = 0;
	uint32_t per = 1u << r->leaf_bits;

	for (uint32_t first = 0; first < REF_N; first += per) {
		bool any = false;
		for (uint32_t i = first; i < first + per && i < REF_N && !any; i++)
			any = !ref_zero(r, i);
		n += any;
	}
	return n;
}

static void check(const struct blob_radix *x, const struct ref *r)
{
	uint64_t nonzero = 0;
	uint32_t next = REF_N; /* the reference's next non-zero at or after i, walking down */

	for (uint32_t i = REF_N; i-- > 0;) {
		const uint8_t *got = blob_radix_get(x, i);
		uint32_t out = 0;
		bool z = ref_zero(r, i);

		if (!z)
			next = i;
		nonzero += !z;
		if (got == NULL)
			assert_true(z);
		else
			assert_memory_equal(got, r->e + (size_t)i * r->esize, r->esize);
		if (next < REF_N) {
			assert_true(blob_radix_next(x, i, &out));
			assert_int_equal(out, next);
		} else {
			assert_false(blob_radix_next(x, i, &out));
		}
	}
	assert_int_equal(x->nonzero, nonzero);
	assert_int_equal(x->leaves, ref_leaves(r));
}

static void random_against_ref(struct blob_fx *fx, size_t esize, unsigned leaf_bits)
{
	struct blob_radix x;
	struct ref r = {esize, leaf_bits, calloc(REF_N, esize)};
	uint8_t e[32];

	assert_non_null(r.e);
	assert_int_equal(blob_radix_init(&x, esize, leaf_bits), 0);
	for (int round = 0; round < 12; round++) {
		for (int op = 0; op < 3000; op++) {
			/* Clustered indexes fill leaves; scattered ones make new ones. */
			uint32_t i = fx_below(fx, 2) ? (uint32_t)fx_below(fx, REF_N)
			                             : (uint32_t)(fx_below(fx, 4) * 17000 + fx_below(fx, 600));
			memset(e, 0, esize);
			if (fx_below(fx, 3) != 0)
				fx_fill(fx, e, esize); /* may be all zero for esize 1: fine */
			/* A reserved leaf that the set leaves empty is freed by it. */
			if (fx_below(fx, 10) == 0)
				assert_int_equal(blob_radix_reserve(&x, i), 0);
			assert_int_equal(blob_radix_set(&x, i, e), 0);
			memcpy(r.e + (size_t)i * esize, e, esize);
		}
		/* A clear somewhere (sometimes past the end). */
		uint32_t first = (uint32_t)fx_below(fx, REF_N + 5000);
		blob_radix_clear_from(&x, first);
		if (first < REF_N)
			memset(r.e + (size_t)first * esize, 0, (size_t)(REF_N - first) * esize);
		check(&x, &r);
	}
	blob_radix_release(&x);
	assert_int_equal(x.leaves, 0);
	assert_int_equal(x.dirs, 0);
	free(r.e);
}

static void test_states_against_ref(void **state)
{
	random_against_ref(*state, 1, 12); /* wblob's state bytes */
}

static void test_ids_against_ref(void **state)
{
	random_against_ref(*state, sizeof(chunk_id), 8); /* wblob's streamed ids */
}

/* The last chunks of a 4 PiB disk: memory for what is set only. */
static void test_top_of_range(void **state)
{
	uint32_t at[] = {0, 5, 1u << 30, 3000000000u, UINT32_MAX - 4096, UINT32_MAX - 1, UINT32_MAX};
	struct blob_radix x;
	uint8_t one = 1, zero = 0;
	uint32_t out;

	(void)state;
	assert_int_equal(blob_radix_init(&x, 1, 12), 0);
	assert_false(blob_radix_next(&x, 0, &out));
	for (size_t k = 0; k < sizeof at / sizeof at[0]; k++)
		assert_int_equal(blob_radix_set(&x, at[k], &one), 0);
	/* Seven elements: at most one leaf each and three directories per
	 * leaf (shared at the top) — a dense array would be 4 GiB. */
	assert_true(x.leaves <= 7);
	assert_true(x.dirs <= 1 + 2 * 7);
	assert_int_equal(x.nonzero, 7);
	/* next() walks from one to the next, across the empty ranges. */
	out = 0;
	for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
		assert_true(blob_radix_next(&x, k == 0 ? 0 : at[k - 1] + 1, &out));
		assert_int_equal(out, at[k]);
	}
	assert_true(blob_radix_next(&x, UINT32_MAX, &out));
	assert_int_equal(out, UINT32_MAX);
	assert_int_equal(*(const uint8_t *)blob_radix_get(&x, UINT32_MAX), 1);
	/* Zeroing one frees its leaf and directories when nothing else holds them. */
	uint64_t leaves = x.leaves;
	assert_int_equal(blob_radix_set(&x, 3000000000u, &zero), 0);
	assert_int_equal(x.leaves, leaves - 1);
	assert_null(blob_radix_get(&x, 3000000000u));
	/* clear_from frees the top of the range, leaving what is below. */
	blob_radix_clear_from(&x, 1u << 31);
	assert_int_equal(x.nonzero, 3);
	assert_true(blob_radix_next(&x, 1u << 30, &out));
	assert_int_equal(out, 1u << 30);
	assert_false(blob_radix_next(&x, (1u << 30) + 1, &out));
	assert_null(blob_radix_get(&x, UINT32_MAX));
	blob_radix_clear_from(&x, 0);
	assert_int_equal(x.leaves, 0);
	assert_int_equal(x.dirs, 0);
	assert_int_equal(x.nonzero, 0);
	/* Setting zero where nothing is allocates nothing. */
	assert_int_equal(blob_radix_set(&x, UINT32_MAX, &zero), 0);
	assert_int_equal(x.leaves, 0);
	assert_int_equal(x.dirs, 0);
	blob_radix_release(&x);
}

static void test_shapes(void **state)
{
	struct blob_radix x;

	(void)state;
	assert_int_equal(blob_radix_init(&x, 1, 7), -EINVAL); /* 25 bits of leaf number: too many */
	assert_int_equal(blob_radix_init(&x, 0, 12), -EINVAL);
	assert_int_equal(blob_radix_init(&x, 16, 8), 0);
	blob_radix_release(&x);
	assert_int_equal(blob_radix_init(&x, 1, 16), 0);
	uint8_t v = 7;
	uint32_t out;
	assert_int_equal(blob_radix_set(&x, UINT32_MAX, &v), 0);
	assert_true(blob_radix_next(&x, 0, &out));
	assert_int_equal(out, UINT32_MAX);
	blob_radix_release(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_states_against_ref, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_ids_against_ref, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test(test_top_of_range),
		cmocka_unit_test(test_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
