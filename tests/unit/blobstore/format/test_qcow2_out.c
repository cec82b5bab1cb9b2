/*
 * test_qcow2_out.c — unit tests for blobstore/format/qcow2_out.c (SPEC §14): the
 * QCOW2 made from a manifest decodes (with imgfs's own reader, tables
 * checked against the file) to the blob's bytes; holes are not in the
 * file; the bytes are the same whatever the pieces they are read in; the
 * layout depends on the manifest alone; a corrupt chunk is an error, never
 * wrong bytes.  (The integration test checks it with qemu-img as well.)
 */
#include "blobstore/blob_test.h"
#include "qcow2.h"
#include "qcow2_out.h"

struct file {
	const uint8_t *p;
	uint64_t len;
};

static ssize_t file_read(void *arg, void *buf, size_t len, uint64_t off)
{
	struct file *f = arg;
	if (off >= f->len)
		return 0;
	if (len > f->len - off)
		len = (size_t)(f->len - off);
	memcpy(buf, f->p + off, len);
	return (ssize_t)len;
}

/* The whole QCOW2 of m, read in pieces of step bytes. */
static uint8_t *render(struct blob_fx *fx, const blob_manifest *m, size_t step, uint64_t *len)
{
	qcow2_out *q;
	assert_int_equal(qcow2_out_new(&q, m), 0);
	*len = qcow2_out_size(q);
	uint8_t *f = malloc(*len);
	assert_non_null(f);
	for (uint64_t off = 0; off < *len;) {
		ssize_t n = qcow2_out_read(q, fx->s, f + off, step, off);
		assert_true(n > 0);
		off += (uint64_t)n;
	}
	assert_int_equal(qcow2_out_read(q, fx->s, f, 1, *len), 0);
	qcow2_out_free(q);
	return f;
}

/* A disk of size bytes: data in the chunks where pattern says 'x' (one
 * letter per chunk, '.' a hole), random bytes, never a chunk of zeros. */
static uint8_t *disk(struct blob_fx *fx, uint64_t size, const char *pattern, blob_manifest **m)
{
	uint8_t *d = calloc(1, size);
	assert_non_null(d);
	for (uint64_t i = 0; pattern[i] && i * MiB < size; i++)
		if (pattern[i] == 'x') {
			fx_fill(fx, d + i * MiB, size - i * MiB < MiB ? (size_t)(size - i * MiB) : MiB);
			d[i * MiB] |= 1; /* data, never all zeros (a one-byte chunk was a hole for 1 seed in 256) */
		}
	assert_int_equal(blob_store_put_buf(fx->s, m, d, size), 0);
	return d;
}

static void check_decodes(const uint8_t *f, uint64_t flen, const uint8_t *d, uint64_t size)
{
	struct file file = {f, flen};
	char why[200] = "";
	qcow2_reader *r;
	if (qcow2_reader_new(&r, file_read, &file, flen, why, sizeof(why)) < 0)
		fail_msg("reader: %s", why);
	assert_int_equal(qcow2_reader_info(r)->size, size);
	assert_int_equal(qcow2_reader_info(r)->version, 3);
	if (qcow2_check_tables(r) < 0)
		fail_msg("tables: %s", qcow2_reader_why(r));
	uint8_t *back = malloc(size);
	assert_non_null(back);
	assert_int_equal(qcow2_pread(r, back, size, 0, NULL), (ssize_t)size);
	assert_bytes_equal(back, d, size);
	free(back);
	qcow2_reader_free(r);
}

static void test_round_trip(void **state)
{
	struct blob_fx *fx = *state;
	static const struct {
		uint64_t size;
		const char *pattern;
	} cases[] = {
		{MiB, "x"},
		{3 * MiB + 12345, "x.xx"},  /* a short last chunk, padded */
		{9 * MiB, "........."},      /* all holes: tables only */
		{5 * MiB + 1, "..x..x"}, /* the last chunk: one byte */
		{512, "x"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		blob_manifest *m;
		uint64_t flen, flen2;
		uint8_t *d = disk(fx, cases[c].size, cases[c].pattern, &m);
		uint8_t *f = render(fx, m, 1 << 20, &flen);
		uint32_t ndata = 0;
		for (const char *p = cases[c].pattern; *p; p++)
			ndata += *p == 'x';
		/* Header, L1, refcount table and block, L2 when data, data. */
		assert_int_equal(flen, (4 + (ndata ? 1 : 0) + ndata) * MiB);
		check_decodes(f, flen, d, cases[c].size);
		/* Any pieces, same bytes (ranges and resumes fit together). */
		uint8_t *g = render(fx, m, 4093, &flen2);
		assert_int_equal(flen, flen2);
		assert_bytes_equal(f, g, flen);
		free(g);
		/* The layout is the manifest's alone: the same manifest again. */
		void *enc;
		size_t enclen;
		blob_manifest *m2;
		assert_int_equal(blob_manifest_encode(&enc, &enclen, m), 0);
		assert_int_equal(blob_manifest_decode(&m2, enc, enclen), 0);
		g = render(fx, m2, 65536, &flen2);
		assert_bytes_equal(f, g, flen);
		free(g);
		free(enc);
		blob_manifest_free(m2);
		free(f);
		free(d);
		blob_manifest_free(m);
	}
}

static void test_large_sparse(void **state)
{
	/* 300 GiB with data in three L2 ranges' worth of disk: three L1
	 * entries, two L2 tables (the middle range is empty). */
	struct blob_fx *fx = *state;
	blob_manifest *m, *small;
	uint8_t *d = disk(fx, 2 * MiB, "xx", &small);
	assert_int_equal(blob_manifest_new(&m, 300ull << 30), 0);
	assert_int_equal(blob_manifest_set(m, 0, mf_id(small, 0)), 0);
	assert_int_equal(blob_manifest_set(m, (260ull << 30) >> 20, mf_id(small, 1)), 0);
	qcow2_out *q;
	assert_int_equal(qcow2_out_new(&q, m), 0);
	assert_int_equal(qcow2_out_size(q), (1 + 1 + 1 + 1 + 2 + 2) * MiB);
	uint64_t flen;
	uint8_t *f = render(fx, m, 1 << 20, &flen);
	struct file file = {f, flen};
	char why[200] = "";
	qcow2_reader *r;
	assert_int_equal(qcow2_reader_new(&r, file_read, &file, flen, why, sizeof(why)), 0);
	assert_int_equal(qcow2_check_tables(r), 0);
	uint8_t *buf = malloc(MiB);
	bool hole;
	assert_int_equal(qcow2_pread(r, buf, MiB, 0, &hole), (ssize_t)MiB);
	assert_bytes_equal(buf, d, MiB);
	assert_int_equal(qcow2_pread(r, buf, MiB, 260ull << 30, &hole), (ssize_t)MiB);
	assert_bytes_equal(buf, d + MiB, MiB);
	assert_int_equal(qcow2_pread(r, buf, MiB, 130ull << 30, &hole), (ssize_t)MiB);
	assert_true(hole);
	free(buf);
	qcow2_reader_free(r);
	qcow2_out_free(q);
	free(f);
	free(d);
	blob_manifest_free(m);
	blob_manifest_free(small);
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The largest blob, 4 PiB, holding three chunks: a QCOW2 of ten clusters
 * (header, L1, refcount table and block, three L2 tables, three data),
 * its tables computed from the manifest's three entries (qemu's reader
 * stops at 64 TiB, so the tables are read here by hand). */
static void test_largest(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m, *small;
	uint8_t *d = disk(fx, 3 * MiB, "xxx", &small), e[8];
	const uint32_t at[3] = {0, 1u << 30, UINT32_MAX - 1};
	assert_int_equal(blob_manifest_new(&m, BLOB_MAX_SIZE), 0);
	for (int k = 0; k < 3; k++)
		assert_int_equal(blob_manifest_set(m, at[k], mf_id(small, (uint32_t)k)), 0);
	qcow2_out *q;
	assert_int_equal(qcow2_out_new(&q, m), 0);
	assert_int_equal(qcow2_out_size(q), 10 * MiB);
	/* L1 entry 8192 (1 PiB / 128 GiB) names the second L2 table (cluster
	 * 5), whose entry 0 names the second data cluster (8), which holds
	 * the chunk at 1 PiB. */
	assert_int_equal(qcow2_out_read(q, fx->s, e, 8, MiB + 8192 * 8), 8);
	assert_int_equal(get_be64(e), (5 * MiB) | (1ull << 63));
	assert_int_equal(qcow2_out_read(q, fx->s, e, 8, 5 * MiB), 8);
	assert_int_equal(get_be64(e), (8 * MiB) | (1ull << 63));
	assert_int_equal(qcow2_out_read(q, fx->s, e, 8, 5 * MiB + 8), 8);
	assert_int_equal(get_be64(e), 0);
	uint8_t *buf = malloc(MiB);
	assert_non_null(buf);
	assert_int_equal(qcow2_out_read(q, fx->s, buf, MiB, 8 * MiB), (ssize_t)MiB);
	assert_bytes_equal(buf, d + MiB, MiB);
	/* The last L1 entry (32767) names the third table, whose entry for
	 * the chunk before the last names the third data cluster. */
	assert_int_equal(qcow2_out_read(q, fx->s, e, 8, MiB + 32767 * 8), 8);
	assert_int_equal(get_be64(e), (6 * MiB) | (1ull << 63));
	assert_int_equal(qcow2_out_read(q, fx->s, e, 8, 6 * MiB + ((UINT32_MAX - 1) % 131072) * 8), 8);
	assert_int_equal(get_be64(e), (9 * MiB) | (1ull << 63));
	free(buf);
	qcow2_out_free(q);
	free(d);
	blob_manifest_free(m);
	blob_manifest_free(small);
}

static void test_corrupt_chunk(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m;
	char path[256];
	uint8_t *d = disk(fx, 2 * MiB, "xx", &m);
	fx_chunk_path(path, sizeof(path), fx->store, mf_id(m, 1));
	chmod(path, 0644);
	FILE *fp = fopen(path, "r+");
	assert_non_null(fp);
	fseek(fp, 100, SEEK_SET);
	fputc(d[MiB + 100] ^ 0xff, fp);
	fclose(fp);
	qcow2_out *q;
	assert_int_equal(qcow2_out_new(&q, m), 0);
	uint8_t *buf = malloc(MiB);
	uint64_t last = qcow2_out_size(q) - MiB;
	assert_int_equal(qcow2_out_read(q, fx->s, buf, MiB, last - MiB), (ssize_t)MiB); /* chunk 0: fine */
	assert_bytes_equal(buf, d, MiB);
	assert_int_equal(qcow2_out_read(q, fx->s, buf, MiB, last), -EIO);
	free(buf);
	qcow2_out_free(q);
	free(d);
	blob_manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_large_sparse, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_largest, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_chunk, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
