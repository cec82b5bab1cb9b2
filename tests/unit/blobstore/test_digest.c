/*
 * test_digest.c — unit tests for blobstore/digest.c (SPEC §2.1 `sha256`):
 * the SHA-256 of known inputs (FIPS 180-2's "abc", the empty string, a
 * million 'a's); zero runs hashed as the bytes they stand for, in any
 * pieces; a sealed blob's digest (holes, a short last chunk) equal to that
 * of its flat bytes, read through the store; the asynchronous form equal
 * to the plain one whatever the pieces, and dropped unfinished without a
 * leak; a walk stopped at every piece and walked on from there equal to
 * one walk; the upload's MD5 and SHA-512 (Glance's checksum and os_hash,
 * SPEC §19.5) of "abc" and of random pieces, lent and copied, with zero
 * runs, in the same pass, and "" for what was not asked.  The flat bytes
 * are hashed with OpenSSL's one-shot SHA256() (EVP_Digest for the other
 * two), the reference the streaming forms must agree with.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "blob_test.h"

static void hex_of(const unsigned char md[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The reference: OpenSSL's one-shot over flat bytes. */
static void reference(const void *buf, size_t len, char out[65])
{
	unsigned char md[32];
	SHA256(buf, len, md);
	hex_of(md, out);
}

static void test_known_vectors(void **state)
{
	blob_sha256 *h;
	char out[65];

	(void)state;
	assert_int_equal(blob_sha256_new(&h), 0);
	blob_sha256_update(h, "abc", 3);
	assert_int_equal(blob_sha256_final(h, out), 0);
	blob_sha256_free(h);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(blob_sha256_new(&h), 0);
	assert_int_equal(blob_sha256_final(h, out), 0);
	blob_sha256_free(h);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(blob_sha256_new(&h), 0);
	for (int i = 0; i < 1000; i++) {
		char a[1000];
		memset(a, 'a', sizeof a);
		blob_sha256_update(h, a, sizeof a);
	}
	assert_int_equal(blob_sha256_final(h, out), 0);
	blob_sha256_free(h);
	assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Zero runs of every awkward length, between bytes: the flat digest. */
static void test_zero_runs(void **state)
{
	struct blob_fx *fx = *state;
	static const uint64_t runs[] = {0, 1, 63, 64, 65, 65535, 65536, 65537, 3 * MiB + 17};
	size_t total = 0;
	uint8_t *flat;
	blob_sha256 *h;
	char want[65], got[65];

	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
		total += runs[i] + 100;
	assert_non_null(flat = calloc(1, total));
	assert_int_equal(blob_sha256_new(&h), 0);
	for (size_t i = 0, at = 0; i < sizeof runs / sizeof runs[0]; i++) {
		blob_sha256_zeros(h, runs[i]);
		at += runs[i];
		fx_fill(fx, flat + at, 100);
		blob_sha256_update(h, flat + at, 100);
		at += 100;
	}
	assert_int_equal(blob_sha256_final(h, got), 0);
	blob_sha256_free(h);
	reference(flat, total, want);
	assert_string_equal(got, want);
	free(flat);
}

/* A sealed blob with holes and a short last chunk, hashed through the
 * store, is its flat bytes' digest; a tick that says stop stops it. */
static int stop_at_first(void *arg, uint64_t done)
{
	(void)done;
	return ++*(int *)arg >= 1;
}

static void test_store_sha256(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 9 * MiB + 4321;
	uint8_t *flat = fx_make_blob(fx, size, 40);
	blob_manifest *m = NULL;
	char want[65], got[65];
	int ticks = 0;

	memset(flat, 0, MiB); /* a hole first */
	assert_int_equal(blob_store_put_buf(fx->s, &m, flat, size), 0);
	assert_true(m->count < m->nchunks); /* holes there are */
	reference(flat, size, want);
	assert_int_equal(blob_store_sha256(fx->s, m, got, NULL, NULL), 0);
	assert_string_equal(got, want);
	assert_int_equal(blob_store_sha256(fx->s, m, got, stop_at_first, &ticks), -ECANCELED);
	assert_int_equal(ticks, 1);
	blob_manifest_free(m);
	free(flat);
}

static int stop_every_time(void *arg, uint64_t done)
{
	(void)done;
	++*(int *)arg;
	return 1;
}

/* A walk stopped at every piece and walked on each time from where it
 * stopped (blob_digest) ends with the digests of one walk, each piece
 * handed on once; a walk cannot begin inside a data chunk. */
static void test_digest_walk_goes_on(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 9 * MiB + 4321;
	uint8_t *flat = fx_make_blob(fx, size, 41);
	blob_manifest *m = NULL;
	blob_digest *d = NULL;
	char want[65], wantx[33], got[65], gotx[33];
	int ticks = 0, walks = 0, rc;
	uint64_t last = 0;

	memset(flat, 0xa5, MiB);         /* data first (the random ones may be holes) */
	memset(flat + MiB, 0, 3 * MiB); /* holes in the middle */
	assert_int_equal(blob_store_put_buf(fx->s, &m, flat, size), 0);
	assert_true(m->count < m->nchunks);
	reference(flat, size, want);
	assert_int_equal(blob_store_digests(fx->s, m, got, wantx, NULL, NULL), 0);
	assert_string_equal(got, want);
	assert_int_equal(blob_digest_new(true, true, &d), 0);
	assert_true(blob_digest_has(d, true, true));
	while ((rc = blob_store_digest_walk(fx->s, m, d, got, gotx, stop_every_time, &ticks)) == -ECANCELED) {
		assert_true(blob_digest_done(d) > last); /* always forward */
		last = blob_digest_done(d);
		walks++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(walks, ticks); /* each walk stopped at its first piece */
	assert_true(walks >= (int)m->count);
	assert_string_equal(got, want);
	assert_string_equal(gotx, wantx);
	blob_digest_free(d);

	/* Refused before anything is handed on (the sink would crash). */
	struct blob_byte_sink none = {0};
	assert_int_equal(blob_store_walk_bytes(fx->s, m, MiB / 2, &none), -EINVAL);
	assert_int_equal(blob_store_walk_bytes(fx->s, m, size + 1, &none), -EINVAL);
	blob_manifest_free(m);
	free(flat);
}

/* The next piece of a feed at `at` of size bytes: n bytes (1 to 3 MiB),
 * then, one time in four, a zero run of z (up to 1 MiB), within size. */
static void next_piece(struct blob_fx *fx, size_t size, size_t at, size_t *n, size_t *z)
{
	*n = (size_t)fx_below(fx, 3 * MiB) + 1;
	*z = (size_t)fx_below(fx, 4) == 0 ? (size_t)fx_below(fx, MiB) : 0;
	if (*n > size - at)
		*n = size - at;
	if (*z > size - at - *n)
		*z = size - at - *n;
}

/* The asynchronous form, fed in random pieces (more than its queue holds)
 * with zero runs between, agrees with the reference; one dropped before
 * its finish with a long zero run queued ends at once. */
static void test_async(void **state)
{
	struct blob_fx *fx = *state;
	size_t size = 12 * MiB + 999, at = 0;
	uint8_t *flat = malloc(size);
	blob_sha256_async *a;
	char want[65], got[65];

	assert_non_null(flat);
	fx_fill(fx, flat, size);
	assert_int_equal(blob_sha256_async_new(&a), 0);
	while (at < size) {
		size_t n, z;
		next_piece(fx, size, at, &n, &z);
		blob_sha256_async_update(a, flat + at, n);
		memset(flat + at + n, 0, z);
		blob_sha256_async_zeros(a, z);
		at += n + z;
	}
	assert_int_equal(blob_sha256_async_finish(a, got, NULL), 0);
	blob_sha256_async_free(a);
	reference(flat, size, want);
	assert_string_equal(got, want);

	/* Not finished: dropped, its 4 PiB of zeros never hashed. */
	assert_int_equal(blob_sha256_async_new(&a), 0);
	blob_sha256_async_update(a, flat, MiB);
	blob_sha256_async_zeros(a, BLOB_MAX_SIZE);
	blob_sha256_async_free(a); /* hashing them would outlast ctest's timeout */
	free(flat);
}

/* Lent pieces (an upload's request buffers): each taken before settle
 * returns — the buffer is scribbled over right after, as libfuse reuses
 * it — mixed with copied pieces and zero runs, more than the queue holds,
 * the digests agree with the copying form's; one freed with lent pieces
 * queued leaves them to their owner (ASan: no free of a lent buffer). */
static void test_async_lend(void **state)
{
	struct blob_fx *fx = *state;
	size_t size = 12 * MiB + 999, at = 0;
	uint8_t *flat = malloc(size), *req = malloc(3 * MiB);
	blob_sha256_async *a, *c;
	char want[65], got[65], gotx[33], wantx[33];

	assert_non_null(flat);
	assert_non_null(req);
	fx_fill(fx, flat, size);
	assert_int_equal(blob_sha256_async_new(&a), 0);
	assert_int_equal(blob_sha256_async_new(&c), 0);
	while (at < size) {
		size_t n, z;
		next_piece(fx, size, at, &n, &z);
		memcpy(req, flat + at, n);
		if (fx_below(fx, 3) == 0) {
			blob_sha256_async_update(a, req, n);
		} else {
			blob_sha256_async_lend(a, req, n);
			blob_sha256_async_settle(a);
		}
		memset(req, 0xa5, n); /* the request buffer's next use */
		blob_sha256_async_update(c, flat + at, n);
		memset(flat + at + n, 0, z);
		blob_sha256_async_zeros(a, z);
		blob_sha256_async_zeros(c, z);
		at += n + z;
	}
	assert_int_equal(blob_sha256_async_finish(a, got, gotx), 0);
	assert_int_equal(blob_sha256_async_finish(c, want, wantx), 0);
	blob_sha256_async_free(a);
	blob_sha256_async_free(c);
	assert_string_equal(got, want);
	assert_string_equal(gotx, wantx);
	reference(flat, size, want);
	assert_string_equal(got, want);

	/* Freed unfinished, lent pieces behind a long zero run: dropped. */
	assert_int_equal(blob_sha256_async_new(&a), 0);
	blob_sha256_async_zeros(a, BLOB_MAX_SIZE);
	blob_sha256_async_lend(a, req, MiB);
	blob_sha256_async_lend(a, flat, MiB);
	blob_sha256_async_free(a);
	free(req);
	free(flat);
}

/* The reference of the others: EVP's one-shot over flat bytes. */
static void reference_md(const EVP_MD *md, const void *buf, size_t len, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	assert_int_equal(EVP_Digest(buf, len, d, &n, md, NULL), 1);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* MD5 and SHA-512 beside the SHA-256 and the XXH3-128, from the same
 * pieces: known vectors for "abc"; random pieces lent and copied with zero
 * runs agree with the one-shot references, and the SHA-256 and XXH3-128
 * with a hasher that was asked neither; what is not asked is "", and so
 * is all of it before finish or a second time. */
static void test_async_also(void **state)
{
	struct blob_fx *fx = *state;
	size_t size = 9 * MiB + 4321, at = 0;
	uint8_t *flat = malloc(size), *req = malloc(3 * MiB);
	blob_sha256_async *a, *c;
	char sha[65], xxh[33], md5[33], s512[129], want[129], csha[65], cxxh[33];

	assert_non_null(flat);
	assert_non_null(req);
	assert_int_equal(blob_sha256_async_new_also(&a, BLOB_ALSO_MD5 | BLOB_ALSO_SHA512), 0);
	blob_sha256_async_also(a, md5, s512); /* not finished: nothing */
	assert_string_equal(md5, "");
	blob_sha256_async_update(a, "abc", 3);
	assert_int_equal(blob_sha256_async_finish(a, sha, NULL), 0);
	blob_sha256_async_also(a, md5, s512);
	assert_string_equal(md5, "900150983cd24fb0d6963f7d28e17f72");
	assert_string_equal(s512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	                          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	blob_sha256_async_also(a, md5, s512); /* spent */
	assert_string_equal(md5, "");
	assert_string_equal(s512, "");
	blob_sha256_async_free(a);

	fx_fill(fx, flat, size);
	assert_int_equal(blob_sha256_async_new_also(&a, BLOB_ALSO_MD5 | BLOB_ALSO_SHA512), 0);
	assert_int_equal(blob_sha256_async_new(&c), 0);
	while (at < size) {
		size_t n, z;
		next_piece(fx, size, at, &n, &z);
		memcpy(req, flat + at, n);
		if (fx_below(fx, 2) == 0) {
			blob_sha256_async_update(a, req, n);
		} else {
			blob_sha256_async_lend(a, req, n);
			blob_sha256_async_settle(a);
		}
		memset(req, 0x5a, n);
		blob_sha256_async_update(c, flat + at, n);
		memset(flat + at + n, 0, z);
		blob_sha256_async_zeros(a, z);
		blob_sha256_async_zeros(c, z);
		at += n + z;
	}
	assert_int_equal(blob_sha256_async_finish(a, sha, xxh), 0);
	assert_int_equal(blob_sha256_async_finish(c, csha, cxxh), 0);
	blob_sha256_async_also(a, md5, s512);
	reference_md(EVP_md5(), flat, size, want);
	assert_string_equal(md5, want);
	reference_md(EVP_sha512(), flat, size, want);
	assert_string_equal(s512, want);
	assert_string_equal(sha, csha);
	assert_string_equal(xxh, cxxh);
	blob_sha256_async_also(c, md5, s512); /* asked neither */
	assert_string_equal(md5, "");
	assert_string_equal(s512, "");
	blob_sha256_async_free(a);
	blob_sha256_async_free(c);

	/* MD5 alone: no SHA-512. */
	assert_int_equal(blob_sha256_async_new_also(&a, BLOB_ALSO_MD5), 0);
	blob_sha256_async_update(a, flat, MiB);
	assert_int_equal(blob_sha256_async_finish(a, sha, NULL), 0);
	blob_sha256_async_also(a, md5, s512);
	reference_md(EVP_md5(), flat, MiB, want);
	assert_string_equal(md5, want);
	assert_string_equal(s512, "");
	blob_sha256_async_free(a);
	free(req);
	free(flat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test_setup_teardown(test_zero_runs, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_store_sha256, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_digest_walk_goes_on, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_async, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_lend, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_async_also, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
