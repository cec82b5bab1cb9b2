/*
 * test_xxh.c — unit tests for blobstore/xxh.h: on x86 the build takes
 * libxxhash's dispatching XXH3 (AVX2 / AVX-512 when the CPU has them), and
 * those give the very hashes of the plain, baseline entry points — chunk
 * ids (keyed XXH3-128), the whole-blob XXH3-128 (one-shot and streamed in
 * uneven pieces) and XXH3-64 — for every length class XXH3 treats apart
 * (0, 1–3, 4–8, 9–16, 17–128, 129–240, then stripes and blocks), so ids
 * written by one build are read by another.  The plain functions are
 * called by name here: <xxh_x86dispatch.h> is included without its renames.
 * And the store's chunk ids are the plain keyed XXH3-128's canonical form.
 */
#include "blob_test.h"

#include <xxhash.h>
#ifdef IMGFS_HAVE_XXH_DISPATCH
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#endif

static void test_dispatch_built_on_x86(void **state)
{
	(void)state;
#if (defined(__x86_64__) || defined(__i386__)) && !defined(IMGFS_HAVE_XXH_DISPATCH)
	fail_msg("an x86 build without libxxhash's XXH3_*_dispatch: every chunk id is hashed with SSE2 "
	         "(CMakeLists.txt's IMGFS_HAVE_XXH_DISPATCH check failed)");
#endif
}

static const size_t lengths[] = {0,   1,   3,    4,    8,    9,     16,    17,        128,         129,
                                 240, 241, 1000, 1024, 4096, 65543, 99999, 1u << 20, (1u << 20) - 1};

/* Bytes that are not all alike: a xorshift stream. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* What blob_store_chunk_id names a chunk: XXH3-128 keyed with the store's
 * secret, canonical (big-endian) bytes — the baseline function's answer. */
static void test_store_ids_are_plain(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *buf = malloc(1u << 20);

	assert_non_null(buf);
	for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
		size_t n = lengths[k];
		chunk_id id;
		XXH128_canonical_t c;
		fill(buf, n, 200 + k);
		blob_store_chunk_id(fx->s, &id, buf, n);
		XXH128_canonicalFromHash(&c, XXH3_128bits_withSecret(buf, n, fx->secret, BLOB_SECRET_SIZE));
		assert_memory_equal(id.b, c.digest, sizeof id.b);
	}
	free(buf);
}

#ifdef IMGFS_HAVE_XXH_DISPATCH
static void test_same_hashes(void **state)
{
	uint8_t *buf = malloc(1u << 20);
	uint8_t secret[BLOB_SECRET_SIZE];

	(void)state;
	assert_non_null(buf);
	fill(secret, sizeof secret, 7);
	for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
		size_t n = lengths[k];
		fill(buf, n, 100 + k);
		XXH128_hash_t a = XXH3_128bits_withSecret(buf, n, secret, sizeof secret);
		XXH128_hash_t b = XXH3_128bits_withSecret_dispatch(buf, n, secret, sizeof secret);
		assert_true(XXH128_isEqual(a, b)); /* a chunk id */
		assert_true(XXH128_isEqual(XXH3_128bits(buf, n), XXH3_128bits_dispatch(buf, n)));
		assert_int_equal(XXH3_64bits(buf, n), XXH3_64bits_dispatch(buf, n));
		/* the whole-blob XXH3-128, fed in pieces that cut stripes and blocks */
		XXH3_state_t *p = XXH3_createState(), *d = XXH3_createState();
		assert_non_null(p);
		assert_non_null(d);
		assert_int_equal(XXH3_128bits_reset(p), XXH_OK);
		assert_int_equal(XXH3_128bits_reset(d), XXH_OK);
		for (size_t at = 0, step = 1; at < n; at += step, step = step * 3 + 5) {
			size_t len = n - at < step ? n - at : step;
			assert_int_equal(XXH3_128bits_update(p, buf + at, len), XXH_OK);
			assert_int_equal(XXH3_128bits_update_dispatch(d, buf + at, len), XXH_OK);
		}
		assert_true(XXH128_isEqual(XXH3_128bits_digest(p), XXH3_128bits_digest(d)));
		assert_true(XXH128_isEqual(XXH3_128bits_digest(d), XXH3_128bits(buf, n)));
		XXH3_freeState(p);
		XXH3_freeState(d);
	}
	free(buf);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dispatch_built_on_x86),
	    cmocka_unit_test_setup_teardown(test_store_ids_are_plain, blob_fx_setup, blob_fx_teardown),
#ifdef IMGFS_HAVE_XXH_DISPATCH
	    cmocka_unit_test(test_same_hashes),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
