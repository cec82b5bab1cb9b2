/*
 * test_read.c — unit tests for blobstore/read.c: blob_store_read against an
 * in-memory reference (random sizes and holes, random odd offsets and
 * lengths, across chunk boundaries and past the end), corruption giving
 * -EIO and never wrong bytes (blob_store_read_judged: -EUCLEAN naming
 * the chunk, and a read that failed its own errno), blob_store_read_pinned giving the same bytes
 * without a copy where it can (and keeping them while other reads evict
 * the cache), and blob_store_hash_blob agreeing with `xxhsum -H2` on the
 * same bytes.
 */
#include "blob_test.h"

/* Checks the manifest put_buf made for ref: a hole exactly where a chunk
 * is all zero, ids of the chunk bytes elsewhere, stored = their lengths. */
static void check_manifest(struct blob_fx *fx, const blob_manifest *m, const uint8_t *ref, uint64_t size)
{
	uint64_t stored = 0;

	assert_int_equal(m->size, size);
	assert_int_equal(m->nchunks, (size + MiB - 1) / MiB);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		size_t len = blob_chunk_len(size, i);
		const uint8_t *p = ref + (uint64_t)i * MiB;
		bool zero = true;
		chunk_id want;

		for (size_t k = 0; k < len && zero; k++)
			zero = p[k] == 0;
		assert_int_equal(chunk_id_is_null(mf_id(m, i)), zero);
		if (!zero) {
			blob_store_chunk_id(fx->s, &want, p, len);
			assert_true(chunk_id_equal(&want, mf_id(m, i)));
			stored += len;
		}
	}
	assert_int_equal(m->stored, stored);
}

static void check_reads(struct blob_fx *fx, const blob_manifest *m, const uint8_t *ref, int nreads)
{
	uint64_t size = m->size;
	uint8_t *buf = malloc(3 * MiB + 2);

	assert_non_null(buf);
	for (int r = 0; r < nreads; r++) {
		uint64_t off;
		size_t len;
		ssize_t n;

		switch (fx_below(fx, 4)) {
		case 0: /* around a chunk boundary */
			off = fx_below(fx, size / MiB + 2) * MiB;
			off = off > 5 ? off - fx_below(fx, 6) : off;
			break;
		case 1: /* near or past the end */
			off = size + 3 > 10 ? size + 3 - fx_below(fx, 10) : fx_below(fx, 3);
			break;
		default:
			off = fx_below(fx, size + 1);
		}
		len = (size_t)fx_below(fx, 3 * MiB + 2);
		if (fx_below(fx, 3) == 0)
			len = (size_t)fx_below(fx, 300);
		len |= 1; /* odd */
		memset(buf, 0xcd, len);
		n = blob_store_read(fx->s, m, buf, len, off);
		if (off >= size) {
			assert_int_equal(n, 0);
			continue;
		}
		size_t want = size - off < len ? (size_t)(size - off) : len;
		assert_int_equal(n, want);
		assert_bytes_equal(buf, ref + off, want);
	}
	free(buf);
}

static void test_store_vs_reference(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t sizes[14] = {0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 77};

	for (int k = 6; k < 14; k++)
		sizes[k] = fx_below(fx, 12 * MiB) + 1;
	for (int k = 0; k < 14; k++) {
		uint64_t size = sizes[k];
		uint8_t *ref = fx_make_blob(fx, size, (int)fx_below(fx, 70));
		blob_manifest *m = NULL;

		assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
		check_manifest(fx, m, ref, size);
		check_reads(fx, m, ref, 150);
		/* The whole blob in one read. */
		uint8_t *all = malloc(size + 1);
		assert_non_null(all);
		assert_int_equal(blob_store_read(fx->s, m, all, size + 1, 0), size);
		assert_bytes_equal(all, ref, size);
		free(all);
		blob_manifest_free(m);
		free(ref);
	}
}

static void test_blob_dedupe(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 6 * MiB + 500;
	uint8_t *ref = fx_make_blob(fx, size, 30);
	blob_manifest *a = NULL, *b = NULL;
	int files;

	/* Chunk 4 repeats chunk 1. */
	memcpy(ref + 4 * MiB, ref + MiB, MiB);
	ref[MiB] = 1;
	ref[4 * MiB] = 1;
	assert_int_equal(blob_store_put_buf(fx->s, &a, ref, size), 0);
	assert_true(chunk_id_equal(mf_id(a, 1), mf_id(a, 4)));
	files = fx_nchunks(fx);
	int distinct = 0;
	for (uint32_t i = 0; i < a->nchunks; i++)
		distinct += !chunk_id_is_null(mf_id(a, i)) && i != 4;
	assert_int_equal(files, distinct);
	assert_int_equal(blob_store_put_buf(fx->s, &b, ref, size), 0);
	assert_int_equal(fx_nchunks(fx), files);
	for (uint32_t i = 0; i < a->nchunks; i++)
		assert_true(chunk_id_equal(mf_id(a, i), mf_id(b, i)));
	blob_manifest_free(a);
	blob_manifest_free(b);
	free(ref);
}

static void test_holes_do_not_touch_the_backend(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref = calloc(1, 4 * MiB), *buf = malloc(4 * MiB);
	blob_manifest *m = NULL;

	assert_non_null(ref);
	assert_non_null(buf);
	fx_fill(fx, ref + 2 * MiB, MiB);
	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, 4 * MiB), 0);
	/* Remove the only chunk: holes still read, the data chunk cannot. */
	assert_int_equal(fx->s->be->del(fx->s->be, mf_id(m, 2)), 0);
	memset(buf, 1, 4 * MiB);
	assert_int_equal(blob_store_read(fx->s, m, buf, 2 * MiB, 0), 2 * MiB);
	assert_bytes_equal(buf, ref, 2 * MiB);
	assert_int_equal(blob_store_read(fx->s, m, buf, MiB, 3 * MiB), MiB);
	assert_bytes_equal(buf, ref, MiB);
	assert_int_equal(blob_store_read(fx->s, m, buf, 4 * MiB, 0), -ENOENT);
	blob_manifest_free(m);
	free(ref);
	free(buf);
}

static void test_corruption_is_eio(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 4 * MiB + 1000;
	uint8_t *ref = fx_make_blob(fx, size, 0), *buf = malloc(size);
	blob_manifest *m = NULL;
	char hex[33];

	assert_non_null(buf);
	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
	fx_corrupt(fx, mf_id(m, 2), 777);
	fx_corrupt(fx, mf_id(m, 4), 999); /* the short tail */

	assert_int_equal(blob_store_read(fx->s, m, buf, size, 0), -EIO);
	assert_int_equal(blob_store_read(fx->s, m, buf, 128 * 1024, 2 * MiB + 4096), -EIO);
	assert_int_equal(blob_store_read(fx->s, m, buf, 10, 4 * MiB), -EIO);
	/* Good chunks read fine, again and again. */
	for (int k = 0; k < 3; k++) {
		assert_int_equal(blob_store_read(fx->s, m, buf, 2 * MiB, 0), 2 * MiB);
		assert_bytes_equal(buf, ref, 2 * MiB);
		assert_int_equal(blob_store_read(fx->s, m, buf, MiB, 3 * MiB), MiB);
		assert_bytes_equal(buf, ref + 3 * MiB, MiB);
		assert_int_equal(blob_store_read(fx->s, m, buf, 64 * 1024, 2 * MiB), -EIO);
	}
	assert_int_equal(blob_store_hash_blob(fx->s, m, hex), -EIO);
	/* The judged read tells the verdict (EUCLEAN) and names the chunk:
	 * the first damaged one a range meets, whole or in part. */
	uint32_t bad = 99;
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, size, 0, &bad), -EUCLEAN);
	assert_int_equal(bad, 2);
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, 4096, 2 * MiB + 4096, &bad), -EUCLEAN);
	assert_int_equal(bad, 2);
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, 10, 4 * MiB + 990, &bad), -EUCLEAN);
	assert_int_equal(bad, 4);
	bad = 99;
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, 2 * MiB, 0, &bad), 2 * MiB);
	assert_bytes_equal(buf, ref, 2 * MiB);
	assert_int_equal(bad, 99); /* (untouched when nothing was condemned) */
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, MiB, 3 * MiB, &bad), MiB);
	assert_bytes_equal(buf, ref + 3 * MiB, MiB);
	/* A read that failed is no verdict: the store's errno, as it was. */
	blob_store_test_fail_reads(fx->s, -EIO);
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, 4096, 2 * MiB, &bad), -EIO);
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, 4096, 0, &bad), -EIO);
	blob_store_test_fail_reads(fx->s, 0);
	/* Plain readers still get EIO for the damaged chunk after the judged
	 * read met it (nothing of a verdict is cached). */
	assert_int_equal(blob_store_read(fx->s, m, buf, 4096, 2 * MiB), -EIO);
	assert_int_equal(fx->s->be->del(fx->s->be, mf_id(m, 2)), 0);
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, 4096, 2 * MiB, &bad), -ENOENT); /* gone: as before */
	blob_manifest_free(m);
	free(ref);
	free(buf);
}

static void test_manifest_length_mismatch(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref = fx_make_blob(fx, 2 * MiB, 0), buf[100];
	blob_manifest *m = NULL;

	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, 2 * MiB), 0);
	/* Claim the blob is shorter: chunk 1 would then be 1000 bytes, but the
	 * stored chunk has 1 MiB. */
	m->size = MiB + 1000;
	assert_int_equal(blob_store_read(fx->s, m, buf, sizeof buf, MiB), -EIO);
	uint32_t bad = 0;
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, sizeof buf, MiB, &bad), -EUCLEAN); /* bytes read */
	assert_int_equal(bad, 1);
	assert_int_equal(blob_store_read_judged(fx->s, m, buf, sizeof buf, 0, &bad), sizeof buf);
	blob_manifest_free(m);
	free(ref);
}

/* Pinned reads: a range inside one data chunk is pinned and reads as the
 * reference; one that spans chunks, a hole, the end or nothing is 0 (read
 * it with blob_store_read); a damaged chunk is -EIO; what is pinned stays
 * as it was while more chunks than the cache holds are read meanwhile. */
static void test_read_pinned(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 3 * BLOB_CACHE_ENTRIES * MiB + 5000;
	uint8_t *ref = fx_make_blob(fx, size, 0), *buf = malloc(MiB);
	blob_manifest *m = NULL;
	const void *p;
	blob_pin *pin, *first;

	assert_non_null(buf);
	memset(ref + MiB, 0, MiB); /* chunk 1 is a hole */
	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
	assert_true(chunk_id_is_null(mf_id(m, 1)));
	fx_corrupt(fx, mf_id(m, 5), 12345);

	assert_int_equal(blob_store_read_pinned(fx->s, m, 0, MiB, &p, &first), MiB);
	assert_non_null(first);
	assert_bytes_equal(p, ref, MiB);
	const void *kept = p;
	/* Inside a chunk, and cut at the end of the blob. */
	assert_int_equal(blob_store_read_pinned(fx->s, m, 2 * MiB + 100, 4096, &p, &pin), 4096);
	assert_bytes_equal(p, ref + 2 * MiB + 100, 4096);
	blob_store_unpin(fx->s, pin);
	assert_int_equal(blob_store_read_pinned(fx->s, m, size - 1000, MiB, &p, &pin), 1000);
	assert_bytes_equal(p, ref + size - 1000, 1000);
	blob_store_unpin(fx->s, pin);
	/* Not one data chunk: nothing pinned. */
	assert_int_equal(blob_store_read_pinned(fx->s, m, MiB - 10, 20, &p, &pin), 0);
	assert_null(pin);
	assert_int_equal(blob_store_read_pinned(fx->s, m, MiB + 10, 20, &p, &pin), 0);
	assert_int_equal(blob_store_read_pinned(fx->s, m, size, 20, &p, &pin), 0);
	assert_int_equal(blob_store_read_pinned(fx->s, m, 0, 0, &p, &pin), 0);
	blob_store_unpin(fx->s, NULL);
	/* Every other chunk read, twice the cache's size: chunk 0 stays pinned
	 * and unchanged. */
	for (uint32_t i = 2; i < m->nchunks; i++) {
		size_t len = blob_chunk_len(size, i);
		if (i == 5)
			continue;
		assert_int_equal(blob_store_read(fx->s, m, buf, len, (uint64_t)i * MiB), len);
		assert_bytes_equal(buf, ref + (uint64_t)i * MiB, len);
	}
	assert_bytes_equal(kept, ref, MiB);
	blob_store_unpin(fx->s, first);
	/* A damaged chunk. */
	assert_int_equal(blob_store_read_pinned(fx->s, m, 5 * MiB, MiB, &p, &pin), -EIO);
	assert_null(pin);
	blob_manifest_free(m);
	free(ref);
	free(buf);
}

#define XXHSUM "/usr/bin/xxhsum"

/* `xxhsum -H2` of len bytes.  A missing xxhsum fails the test, as a
 * missing tool fails every test (docs/style.md): CI installs it
 * (scripts/install-deps: xxhash). */
static void xxhsum_of(struct blob_fx *fx, const uint8_t *buf, uint64_t len, char out[33])
{
	char path[128], cmd[256], line[256];
	FILE *f, *p;

	out[0] = '\0';
	if (access(XXHSUM, X_OK) != 0)
		fail_msg(XXHSUM " is not installed (scripts/install-deps installs xxhash): this test compares with it");
	snprintf(path, sizeof path, "%s/bytes", fx->dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof cmd, XXHSUM " -H2 %s", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	memcpy(out, line, 32);
	out[32] = '\0';
}

static void test_hash_blob(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t sizes[] = {0, 1, 240, MiB, 5 * MiB + 3, 0};
	char first[33] = "";

	sizes[5] = fx_below(fx, 9 * MiB) + 1;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		uint8_t *ref = fx_make_blob(fx, sizes[k], 40);
		blob_manifest *m = NULL;
		char got[33], want[33];

		if (k == 4) { /* make sure there is a hole and data */
			memset(ref + MiB, 0, MiB);
			ref[3 * MiB + 5] = 7;
		}
		assert_int_equal(blob_store_put_buf(fx->s, &m, ref, sizes[k]), 0);
		assert_int_equal(blob_store_hash_blob(fx->s, m, got), 0);
		assert_int_equal(strlen(got), 32);
		for (int i = 0; i < 32; i++)
			assert_true((got[i] >= '0' && got[i] <= '9') || (got[i] >= 'a' && got[i] <= 'f'));
		if (k == 0) {
			/* XXH3-128 of no bytes, as xxhsum prints it. */
			assert_string_equal(got, "99aa06d3014798d86001c324468d497f");
			strcpy(first, got);
		} else {
			assert_string_not_equal(got, first);
		}
		xxhsum_of(fx, ref, sizes[k], want);
		assert_string_equal(got, want);
		blob_manifest_free(m);
		free(ref);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_vs_reference, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_dedupe, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_holes_do_not_touch_the_backend, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_corruption_is_eio, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_manifest_length_mismatch, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_pinned, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_hash_blob, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
