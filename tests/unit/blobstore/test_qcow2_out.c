/*
 * test_qcow2_out.c — unit tests for blobstore/qcow2_out.c (SPEC §14): the
 * QCOW2 made from a manifest decodes (with imgfs's own reader, tables
 * checked against the file) to the blob's bytes; holes are not in the
 * file; the bytes are the same whatever the pieces they are read in; the
 * layout depends on the manifest alone; a corrupt chunk is an error, never
 * wrong bytes.  (The integration test checks it with qemu-img as well.)
 */
#include "blob_test.h"
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
 * letter per chunk, '.' a hole), random bytes. */
static uint8_t *disk(struct blob_fx *fx, uint64_t size, const char *pattern, blob_manifest **m)
{
	uint8_t *d = calloc(1, size);
	assert_non_null(d);
	for (uint64_t i = 0; pattern[i] && i * MiB < size; i++)
		if (pattern[i] == 'x')
			fx_fill(fx, d + i * MiB, size - i * MiB < MiB ? (size_t)(size - i * MiB) : MiB);
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
	m->chunks[0] = small->chunks[0];
	m->chunks[(260ull << 30) >> 20] = small->chunks[1];
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

static void test_corrupt_chunk(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m;
	char path[256];
	uint8_t *d = disk(fx, 2 * MiB, "xx", &m);
	fx_chunk_path(path, sizeof(path), fx->store, &m->chunks[1]);
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
		cmocka_unit_test_setup_teardown(test_corrupt_chunk, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
