/*
 * test_qcow2.c — unit tests for blobstore/format/qcow2.c.
 *
 * The reference is qemu itself: a raw file with a known pattern (random and
 * compressible data, written zero runs, holes) is converted by `qemu-img
 * convert` into QCOW2 files of both versions (compat=0.10 and 1.1), with
 * and without compression, at several cluster sizes; the decoder must give
 * back the raw bytes exactly, report holes exactly where `qemu-img map`
 * says no data is stored, and its output must satisfy `qemu-img compare`.
 * qemu-img (package qemu-utils) is required: without it the tests fail.
 *
 * Refusals are tested on headers crafted from a valid image (one field
 * changed each: one case per check qcow2.h lists) and on images qemu-img
 * makes with features we refuse (backing file, external data file, zstd);
 * damage only the whole-file check sees (qcow2_check_tables) likewise.
 * What qemu makes and opens is accepted and decoded to the bytes
 * `qemu-img convert -O raw` gives: snapshots, extended L2 with partly
 * written clusters, persistent bitmaps, 1- and 64-bit refcounts, lazy
 * refcounts, metadata preallocation, a grown and a shrunk image.
 */
#include "blobstore/blob_test.h"

#include <sys/wait.h>

#include "qcow2.h"

#define KiB ((uint64_t)1 << 10)

/* ---- running qemu-img ------------------------------------------------------- */

/* Runs a shell command, returns its exit status (-1: not run). */
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_qemu_img(void)
{
	if (sh("qemu-img --version >/dev/null 2>&1") != 0)
		fail_msg("qemu-img not found: install qemu-utils (these tests need it)");
}

/* ---- files and readers ---------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	close(fd);
}

/* A file image in memory, read through mem_rd; counts the calls. */
struct mem {
	const uint8_t *p;
	size_t n;
	unsigned calls;
};

static ssize_t mem_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct mem *m = arg;

	m->calls++;
	if (off >= m->n)
		return 0;
	if (len > m->n - off)
		len = m->n - off;
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

static ssize_t fd_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(*(int *)arg, buf, len, (off_t)off);

	return n < 0 ? -errno : n;
}

/* ---- the reference raw disk -------------------------------------------------------- */

/* 3 MiB + 4.5 KiB (a multiple of 512, as qemu rounds sizes, but not of any
 * cluster size): 16 KiB units cycling through a hole (never written), a
 * written zero run, random data, compressible text, data with a zero run
 * inside, and random data broken by 512-byte zero runs; plus a large hole
 * and a large written zero run (see make_raw). */
#define RAW_SIZE (3 * MiB + 4608)
#define UNIT (16 * KiB)

static void fill_unit(struct blob_fx *fx, uint8_t *p, size_t len, unsigned kind)
{
	switch (kind) {
	case 0: /* hole */
	case 1: /* written zeros */
		memset(p, 0, len);
		break;
	case 2:
		fx_fill(fx, p, len);
		break;
	case 3:
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)"imgfs qcow2 decoder test pattern\n"[i % 33];
		break;
	case 4:
		fx_fill(fx, p, len);
		memset(p + len / 4, 0, len / 2);
		break;
	default:
		fx_fill(fx, p, len);
		for (size_t i = 0; i + 1024 <= len; i += 2048)
			memset(p + i + 512, 0, 512);
	}
}

/* Writes <dir>/src.raw (holes left unwritten) and returns its bytes. */
static uint8_t *make_raw(struct blob_fx *fx, char *path, size_t cap)
{
	uint8_t *raw = calloc(RAW_SIZE, 1);
	int fd;

	assert_non_null(raw);
	snprintf(path, cap, "%s/src.raw", fx->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (uint64_t off = 0, u = 0; off < RAW_SIZE; off += UNIT, u++) {
		size_t len = RAW_SIZE - off < UNIT ? (size_t)(RAW_SIZE - off) : (size_t)UNIT;
		/* plus a 256 KiB hole at 1 MiB and 192 KiB of written zeros at
		 * 2 MiB: whole clusters of up to 64 KiB, whatever the alignment */
		unsigned kind = (unsigned)(u % 6);

		if (off >= MiB && off < MiB + 256 * KiB)
			kind = 0;
		else if (off >= 2 * MiB && off < 2 * MiB + 192 * KiB)
			kind = 1;

		fill_unit(fx, raw + off, len, kind);
		if (kind != 0)
			assert_int_equal(pwrite(fd, raw + off, len, (off_t)off), (ssize_t)len);
	}
	assert_int_equal(ftruncate(fd, RAW_SIZE), 0);
	close(fd);
	return raw;
}

/* Converts src.raw into <dir>/<name>.qcow2. */
static void convert(struct blob_fx *fx, const char *raw, const char *compat, bool compress, unsigned cluster,
                    char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s-%s-%u.qcow2", fx->dir, compat, compress ? "c" : "p", cluster);
	need_qemu_img();
	assert_int_equal(sh("qemu-img convert -f raw -O qcow2 %s -o compat=%s,cluster_size=%u '%s' '%s'",
	                    compress ? "-c" : "", compat, cluster, raw, out),
	                 0);
}

/* ---- an image opened for reading ---------------------------------------------------- */

struct img {
	int fd;
	uint64_t file_size;
	qcow2_reader *r;
};

static void img_open(struct img *im, const char *path, bool size_known)
{
	struct stat st;
	char why[200] = "";
	int rc;

	im->fd = open(path, O_RDONLY);
	assert_true(im->fd >= 0);
	assert_int_equal(fstat(im->fd, &st), 0);
	im->file_size = (uint64_t)st.st_size;
	rc = qcow2_reader_new(&im->r, fd_rd, &im->fd, size_known ? im->file_size : 0, why, sizeof why);
	if (rc != 0)
		fail_msg("qcow2_reader_new(%s): %d %s", path, rc, why);
}

static void img_close(struct img *im)
{
	qcow2_reader_free(im->r);
	close(im->fd);
}

/* Reads the whole disk in 1 MiB steps and compares it with raw. */
static void check_whole(qcow2_reader *r, const uint8_t *raw, uint64_t size)
{
	uint8_t *buf = malloc(MiB);

	assert_non_null(buf);
	for (uint64_t off = 0; off < size; off += MiB) {
		size_t want = size - off < MiB ? (size_t)(size - off) : (size_t)MiB;
		ssize_t n = qcow2_pread(r, buf, MiB, off, NULL);

		if (n < 0)
			fail_msg("pread at %llu: %zd %s", (unsigned long long)off, n, qcow2_reader_why(r));
		assert_int_equal(n, (ssize_t)want);
		assert_bytes_equal(buf, raw + off, want);
	}
	free(buf);
}

/* Reads at random offsets and lengths, crossing clusters and the end. */
static void check_random(struct blob_fx *fx, qcow2_reader *r, const uint8_t *raw, uint64_t size,
                         unsigned cluster)
{
	size_t cap = 3 * cluster + 4096;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	for (int i = 0; i < 300; i++) {
		uint64_t near = 2 * (uint64_t)cluster < size ? 2 * (uint64_t)cluster : size;
		uint64_t off = i % 10 == 0 ? size - fx_below(fx, near) : fx_below(fx, size + 100);
		size_t len = (size_t)fx_below(fx, cap + 1);
		size_t want = off >= size ? 0 : (size - off < len ? (size_t)(size - off) : len);
		ssize_t n = qcow2_pread(r, buf, len, off, NULL);

		assert_int_equal(n, (ssize_t)want);
		assert_bytes_equal(buf, raw + (off < size ? off : 0), want);
	}
	/* exactly at and across the end */
	assert_int_equal(qcow2_pread(r, buf, 1000, size - 100, NULL), 100);
	assert_bytes_equal(buf, raw + size - 100, 100);
	assert_int_equal(qcow2_pread(r, buf, 1000, size, NULL), 0);
	assert_int_equal(qcow2_pread(r, buf, 1, UINT64_MAX, NULL), 0);
	free(buf);
}

/* hole_out against `qemu-img map`: true exactly over extents without data. */
static void check_holes(struct blob_fx *fx, qcow2_reader *r, const char *path, bool expect_holes)
{
	char map[256];
	size_t len;
	char *json, *p;
	uint8_t *buf = malloc(MiB);
	unsigned extents = 0, holes = 0;
	uint64_t *ext_start = NULL, *ext_len = NULL;
	bool *ext_data = NULL;

	assert_non_null(buf);
	snprintf(map, sizeof map, "%s/map.json", fx->dir);
	assert_int_equal(sh("qemu-img map --output=json '%s' > '%s'", path, map), 0);
	json = (char *)slurp(map, &len);
	json = realloc(json, len + 1);
	json[len] = '\0';
	for (p = strstr(json, "\"start\""); p; p = strstr(p + 1, "\"start\"")) {
		unsigned long long start, length;
		char *d = strstr(p, "\"data\":");

		assert_int_equal(sscanf(p, "\"start\": %llu, \"length\": %llu", &start, &length), 2);
		assert_non_null(d);
		bool data = strncmp(d, "\"data\": true", 12) == 0;
		for (uint64_t off = start; off < start + length; off += MiB) {
			size_t n = start + length - off < MiB ? (size_t)(start + length - off) : (size_t)MiB;
			bool hole = data; /* the wrong answer, unless qcow2_pread sets it */

			assert_int_equal(qcow2_pread(r, buf, n, off, &hole), (ssize_t)n);
			if (hole != !data)
				fail_msg("hole_out %d over %llu+%zu, qemu-img map says data=%d", hole,
				         (unsigned long long)off, n, data);
		}
		ext_start = realloc(ext_start, (extents + 1) * sizeof *ext_start);
		ext_len = realloc(ext_len, (extents + 1) * sizeof *ext_len);
		ext_data = realloc(ext_data, (extents + 1) * sizeof *ext_data);
		assert_true(ext_start && ext_len && ext_data);
		ext_start[extents] = start;
		ext_len[extents] = length;
		ext_data[extents] = data;
		extents++;
		holes += !data;
	}
	/* qcow2_next_data from every extent's start and middle: there for a
	 * data extent, the next data extent's start (or the size) for a hole. */
	for (unsigned e = 0; e < extents; e++) {
		uint64_t want, got = 0;
		unsigned f = e;
		while (f < extents && !ext_data[f])
			f++;
		want = f < extents ? (f == e ? ext_start[e] : ext_start[f]) : qcow2_reader_info(r)->size;
		assert_int_equal(qcow2_next_data(r, ext_start[e], &got), 0);
		assert_int_equal(got, want);
		if (!ext_data[e]) {
			assert_int_equal(qcow2_next_data(r, ext_start[e] + ext_len[e] / 2, &got), 0);
			assert_int_equal(got, want);
		}
	}
	/* The pattern has both kinds, and holes inside (not only at the end)
	 * unless clusters are larger than its hole runs. */
	assert_true(extents >= 1);
	if (expect_holes)
		assert_true(holes >= 2);
	free(ext_start);
	free(ext_len);
	free(ext_data);
	free(json);
	free(buf);
}

/* Counts compressed L2 entries by walking the tables directly (a second,
 * independent reading of the format); *first gets the first one's entry. */
static unsigned count_compressed(const uint8_t *f, size_t n, uint64_t *first)
{
	uint32_t cb = (uint32_t)f[23];
	uint64_t cs = 1ull << cb;
	uint32_t l1n = (uint32_t)f[36] << 24 | (uint32_t)f[37] << 16 | (uint32_t)f[38] << 8 | f[39];
	uint64_t l1o = 0;
	unsigned count = 0;

	for (int i = 0; i < 8; i++)
		l1o = l1o << 8 | f[40 + i];
	for (uint32_t i = 0; i < l1n && l1o + 8 * (i + 1) <= n; i++) {
		uint64_t l2o = 0;
		for (int k = 0; k < 8; k++)
			l2o = l2o << 8 | f[l1o + 8 * i + k];
		l2o &= 0x00fffffffffffe00ull;
		for (uint64_t j = 0; l2o && j < cs / 8 && l2o + 8 * (j + 1) <= n; j++) {
			uint64_t e = 0;
			for (int k = 0; k < 8; k++)
				e = e << 8 | f[l2o + 8 * j + k];
			if (e >> 62 & 1) {
				if (count++ == 0)
					*first = e;
			}
		}
	}
	return count;
}

/* One image variant: content, random reads, holes, qemu-img compare. */
static void check_variant(struct blob_fx *fx, const char *compat, bool compress, unsigned cluster)
{
	char raw_path[256], path[256], out[256];
	uint8_t *raw = make_raw(fx, raw_path, sizeof raw_path);
	struct img im;
	uint8_t *buf = malloc(MiB);
	const struct qcow2_info *info;
	int fd;

	assert_non_null(buf);
	convert(fx, raw_path, compat, compress, cluster, path, sizeof path);
	img_open(&im, path, true);
	info = qcow2_reader_info(im.r);
	assert_int_equal(info->version, strcmp(compat, "0.10") == 0 ? 2 : 3);
	assert_int_equal(1u << info->cluster_bits, cluster);
	assert_int_equal(info->size, RAW_SIZE);
	if (compress) {
		size_t n;
		uint64_t e = 0;
		uint8_t *f = slurp(path, &n);
		assert_true(count_compressed(f, n, &e) > 0);
		free(f);
	}
	check_whole(im.r, raw, RAW_SIZE);
	check_random(fx, im.r, raw, RAW_SIZE, cluster);
	check_holes(fx, im.r, path, cluster <= 65536);

	/* The decoded disk satisfies qemu's own comparison. */
	snprintf(out, sizeof out, "%s/out.raw", fx->dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (uint64_t off = 0; off < RAW_SIZE; off += MiB) {
		ssize_t n = qcow2_pread(im.r, buf, MiB, off, NULL);
		assert_true(n > 0);
		assert_int_equal(pwrite(fd, buf, (size_t)n, (off_t)off), n);
	}
	close(fd);
	assert_int_equal(sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", out, path), 0);
	img_close(&im);

	/* The same with the file size unknown (the reader trusts short reads). */
	img_open(&im, path, false);
	check_whole(im.r, raw, RAW_SIZE);
	img_close(&im);
	free(buf);
	free(raw);
}

static void test_v2_64k(void **state)
{
	check_variant(*state, "0.10", false, 65536);
}

static void test_v2_64k_compressed(void **state)
{
	check_variant(*state, "0.10", true, 65536);
}

static void test_v3_64k(void **state)
{
	check_variant(*state, "1.1", false, 65536);
}

static void test_v3_64k_compressed(void **state)
{
	check_variant(*state, "1.1", true, 65536);
}

/* 512-byte clusters: one L2 table maps 32 KiB, so ~100 tables cycle
 * through the 16-slot cache. */
static void test_v3_512(void **state)
{
	check_variant(*state, "1.1", false, 512);
}

static void test_v2_512_compressed(void **state)
{
	check_variant(*state, "0.10", true, 512);
}

static void test_v3_4k(void **state)
{
	check_variant(*state, "1.1", false, 4096);
}

static void test_v3_2m_compressed(void **state)
{
	check_variant(*state, "1.1", true, 2u << 20);
}

/* The check itself can fail: a decoded disk with one byte changed is
 * rejected by qemu-img compare (exit 1). */
static void test_compare_detects_difference(void **state)
{
	struct blob_fx *fx = *state;
	char raw_path[256], path[256], out[256];
	uint8_t *raw = make_raw(fx, raw_path, sizeof raw_path);

	convert(fx, raw_path, "1.1", true, 65536, path, sizeof path);
	raw[RAW_SIZE / 2 + 3] ^= 0x40;
	snprintf(out, sizeof out, "%s/bad.raw", fx->dir);
	spit(out, raw, RAW_SIZE);
	assert_int_equal(sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", out, path), 1);
	free(raw);
}

/* Contiguous data clusters are fetched with few read calls. */
static void test_coalescing(void **state)
{
	struct blob_fx *fx = *state;
	char raw_path[256], path[256];
	uint8_t *raw = malloc(4 * MiB), *buf = malloc(4 * MiB), *f;
	qcow2_reader *r;
	struct mem m;
	char why[200];

	assert_non_null(raw);
	assert_non_null(buf);
	fx_fill(fx, raw, 4 * MiB);
	snprintf(raw_path, sizeof raw_path, "%s/dense.raw", fx->dir);
	spit(raw_path, raw, 4 * MiB);
	convert(fx, raw_path, "1.1", false, 4096, path, sizeof path);
	f = slurp(path, &m.n);
	m.p = f;
	m.calls = 0;
	assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, m.n, why, sizeof why), 0);
	m.calls = 0;
	assert_int_equal(qcow2_pread(r, buf, 4 * MiB, 0, NULL), (ssize_t)(4 * MiB));
	assert_bytes_equal(buf, raw, 4 * MiB);
	/* 1024 clusters of 4 KiB: two L2 tables and a few runs, not 1024 reads. */
	if (m.calls > 16)
		fail_msg("%u read calls for 1024 contiguous clusters", m.calls);
	qcow2_reader_free(r);
	free(f);
	free(buf);
	free(raw);
}

/* v3 zero-flag clusters (with and without an allocation) read as zeros
 * and as holes. */
static void test_zero_clusters(void **state)
{
	struct blob_fx *fx = *state;
	char path[256];
	struct img im;
	uint8_t *buf = malloc(MiB), *want = malloc(MiB);
	bool hole = false;

	assert_non_null(buf);
	assert_non_null(want);
	snprintf(path, sizeof path, "%s/z.qcow2", fx->dir);
	need_qemu_img();
	assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 1M", path), 0);
	assert_int_equal(sh("qemu-io -c 'write -q -P 0xab 0 1M' -c 'write -q -z 64k 64k' "
	                    "-c 'write -q -z 256k 128k' '%s' >/dev/null",
	                    path),
	                 0);
	memset(want, 0xab, MiB);
	memset(want + 64 * KiB, 0, 64 * KiB);
	memset(want + 256 * KiB, 0, 128 * KiB);
	img_open(&im, path, true);
	assert_int_equal(qcow2_pread(im.r, buf, MiB, 0, &hole), (ssize_t)MiB);
	assert_false(hole);
	assert_bytes_equal(buf, want, MiB);
	assert_int_equal(qcow2_pread(im.r, buf, 64 * KiB, 64 * KiB, &hole), (ssize_t)(64 * KiB));
	assert_true(hole);
	assert_int_equal(qcow2_pread(im.r, buf, 100, 300 * KiB, &hole), 100);
	assert_true(hole);
	assert_int_equal(qcow2_pread(im.r, buf, 100, 128 * KiB - 50, &hole), 100);
	assert_false(hole);
	img_close(&im);
	free(buf);
	free(want);
}

/* A 64 TiB disk (the largest accepted) holding two clusters: walking it
 * from data to data with qcow2_next_data reads the L1 table (once, at
 * open) and the two L2 tables, not 64 TiB worth of anything. */
struct counted_fd {
	int fd;
	uint64_t bytes;
};

static ssize_t counted_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct counted_fd *c = arg;
	ssize_t n = pread(c->fd, buf, len, (off_t)off);

	if (n > 0)
		c->bytes += (uint64_t)n;
	return n < 0 ? -errno : n;
}

static void test_next_data_huge(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = QCOW2_MAX_SIZE, off, at[2] = {1ull << 30, QCOW2_MAX_SIZE - 64 * KiB};
	struct counted_fd c = {-1, 0};
	qcow2_reader *r = NULL;
	char path[256], why[200] = "";
	uint8_t buf[512];
	bool hole = true;
	struct stat st;
	int n = 0;

	snprintf(path, sizeof path, "%s/huge.qcow2", fx->dir);
	need_qemu_img();
	assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' %llu", path, (unsigned long long)size), 0);
	assert_int_equal(sh("qemu-io -c 'write -q -P 0x5a %llu 64k' -c 'write -q -P 0xa5 %llu 64k' '%s' >/dev/null",
	                    (unsigned long long)at[0], (unsigned long long)at[1], path),
	                 0);
	c.fd = open(path, O_RDONLY);
	assert_true(c.fd >= 0);
	assert_int_equal(fstat(c.fd, &st), 0);
	assert_int_equal(qcow2_reader_new(&r, counted_rd, &c, (uint64_t)st.st_size, why, sizeof why), 0);
	c.bytes = 0; /* the header and the L1 table are the open's */
	for (off = 0; qcow2_next_data(r, off, &off) == 0 && off < size; off += 64 * KiB) {
		assert_true(n < 2);
		assert_int_equal(off, at[n]);
		assert_int_equal(qcow2_pread(r, buf, sizeof buf, off, &hole), (ssize_t)sizeof buf);
		assert_false(hole);
		assert_int_equal(buf[0], n == 0 ? 0x5a : 0xa5);
		n++;
	}
	assert_int_equal(n, 2);
	assert_int_equal(off, size);
	/* Two L2 tables and two data reads of 512 bytes. */
	assert_true(c.bytes <= 2 * 64 * KiB + 2 * sizeof buf);
	fprintf(stderr, "    walked 64 TiB reading %llu bytes\n", (unsigned long long)c.bytes);
	qcow2_reader_free(r);
	close(c.fd);
}

/* ---- refusals ---------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* A valid v3 image of 4 MiB with some data, made with qemu-img options
 * opts, in memory. */
static uint8_t *base_image_opts(struct blob_fx *fx, const char *opts, size_t *len)
{
	char path[256];

	snprintf(path, sizeof path, "%s/base.qcow2", fx->dir);
	need_qemu_img();
	assert_int_equal(sh("qemu-img create -q -f qcow2 %s '%s' 4M", opts, path), 0);
	assert_int_equal(sh("qemu-io -c 'write -q -P 0x5a 1M 1M' '%s' >/dev/null", path), 0);
	return slurp(path, len);
}

static uint8_t *base_image(struct blob_fx *fx, size_t *len)
{
	return base_image_opts(fx, "", len);
}

/* Expects both the header check and a reader over the bytes to refuse
 * with a reason containing `word`. */
static void expect_refused(const uint8_t *f, size_t n, const char *word, const char *what)
{
	char why[200] = "";
	struct qcow2_info info;
	struct mem m = {.p = f, .n = n};
	qcow2_reader *r = (qcow2_reader *)1;
	int rc = qcow2_check_header(f, n, n, &info, why, sizeof why);

	if (rc != -EINVAL || !strstr(why, word))
		fail_msg("%s: check_header %d \"%s\", expected -EINVAL naming \"%s\"", what, rc, why, word);
	why[0] = '\0';
	rc = qcow2_reader_new(&r, mem_rd, &m, n, why, sizeof why);
	if (rc != -EINVAL || !strstr(why, word) || r != NULL)
		fail_msg("%s: reader_new %d \"%s\", expected -EINVAL naming \"%s\"", what, rc, why, word);
}

static void test_refusals_crafted(void **state)
{
	struct blob_fx *fx = *state;
	size_t n;
	uint8_t *base = base_image(fx, &n), *f = malloc(n);
	char why[200];
	struct qcow2_info info;
	uint64_t l1o = 0;

	assert_non_null(f);
	/* The untouched base is accepted. */
	assert_int_equal(qcow2_check_header(base, n, n, &info, why, sizeof why), 0);
	assert_int_equal(info.version, 3);
	assert_int_equal(info.size, 4 * MiB);
	for (int i = 0; i < 8; i++)
		l1o = l1o << 8 | base[40 + i];

#define CRAFT(word, what, edit)                \
	do {                                       \
		memcpy(f, base, n);                    \
		edit;                                  \
		expect_refused(f, n, word, what);      \
	} while (0)

	CRAFT("magic", "bad magic", f[0] = 'X');
	CRAFT("version", "version 4", put32(f + 4, 4));
	CRAFT("version", "version 1", put32(f + 4, 1));
	CRAFT("backing file", "backing file", (put64(f + 8, 0x200), put32(f + 16, 4), memcpy(f + 0x200, "base", 4)));
	CRAFT("encryption", "AES encryption", put32(f + 32, 1));
	CRAFT("encryption", "LUKS encryption", put32(f + 32, 2));
	CRAFT("external data file", "data file bit", f[79] |= 4);
	CRAFT("external data file", "data file extension",
	      (put32(f + 112, 0x44415441), put32(f + 116, 5), memcpy(f + 120, "d.raw\0\0\0", 8),
	       put32(f + 128, 0), put32(f + 132, 0)));
	CRAFT("zstd", "zstd compression", (f[79] |= 8, f[104] = 1));
	CRAFT("compression type", "unknown compression", (f[79] |= 8, f[104] = 7));
	CRAFT("bit 3 (compression type) set for zlib", "compression bit with zlib", f[79] |= 8);
	CRAFT("corrupt", "corrupt bit", f[79] |= 2);
	CRAFT("unknown incompatible_features", "unknown feature", f[78] |= 1);
	CRAFT("data-file-raw", "autoclear data-file-raw", f[95] |= 2);
	CRAFT("cluster_bits", "cluster_bits 8", put32(f + 20, 8));
	CRAFT("cluster_bits", "cluster_bits 22", put32(f + 20, 22));
	CRAFT("virtual size", "size 0", put64(f + 24, 0));
	CRAFT("virtual size", "size above 64 TiB", put64(f + 24, QCOW2_MAX_SIZE + 512));
	CRAFT("refcount_order 7 is above 6", "refcount_order 7", put32(f + 96, 7));
	CRAFT("refcount_table_clusters is 0", "no refcount table", put32(f + 56, 0));
	CRAFT("refcount_table_clusters 4294967295 is above 128", "refcount table of 2^32-1 clusters",
	      put32(f + 56, 0xffffffffu));
	CRAFT("refcount table (36028797018963968..", "refcount table at 2^55", put64(f + 48, 1ull << 55));
	CRAFT("refcount_table_offset 65544 is not cluster aligned", "unaligned refcount table", put64(f + 48, 65544));
	CRAFT("refcount_table_offset", "refcount table near 2^64", put64(f + 48, 0xffffffffffff0000ull));
	CRAFT("nb_snapshots 4294967295 is above 65536", "2^32-1 snapshots", put32(f + 60, 0xffffffffu));
	CRAFT("nb_snapshots 65537 is above 65536", "65537 snapshots", put32(f + 60, 65537));
	CRAFT("snapshots_offset 100 is not cluster aligned", "unaligned snapshot table", put64(f + 64, 100));
	CRAFT("snapshot table (", "snapshot table beyond the file",
	      (put32(f + 60, 1), put64(f + 64, (n + 65535) / 65536 * 65536 + 65536)));
	CRAFT("l1_size 0: the L1 table has 0 entries", "empty L1", put32(f + 36, 0));
	CRAFT("too large", "huge L1", put32(f + 36, 0x10000000));
	CRAFT("L1 table", "L1 beyond the file", put64(f + 40, (n + 65535) / 65536 * 65536 + 65536));
	CRAFT("l1_table_offset", "L1 near 2^64", put64(f + 40, 0xffffffffffff0000ull));
	CRAFT("not cluster aligned", "unaligned L1", put64(f + 40, l1o + 8));
	CRAFT("l1_table_offset is 0", "L1 at the header", put64(f + 40, 0));
	CRAFT("header_length", "header length 100", put32(f + 100, 100));
	CRAFT("header_length", "header length 107", put32(f + 100, 107));
	CRAFT("header_length", "header length above the cluster", put32(f + 100, 65536 + 8));
	CRAFT("header extension", "extension past the cluster", (put32(f + 112, 0x12345678), put32(f + 116, 70000)));
	CRAFT("crypto header extension", "crypto header without encryption",
	      (put32(f + 112, 0x0537be77), put32(f + 116, 16), memset(f + 120, 0, 16), put64(f + 136, 0)));
	CRAFT("backing format name of 20 bytes", "long backing format name",
	      (put32(f + 112, 0xe2792aca), put32(f + 116, 20), memset(f + 120, 'q', 24), put64(f + 144, 0)));
	/* A bitmaps extension counts only with its autoclear bit set. */
	CRAFT("nb_bitmaps 0", "bitmaps extension without bitmaps",
	      (f[95] |= 1, put32(f + 112, 0x23852875), put32(f + 116, 24), memset(f + 120, 0, 24), put64(f + 144, 0)));
	CRAFT("bitmap directory (", "bitmap directory beyond the file",
	      (f[95] |= 1, put32(f + 112, 0x23852875), put32(f + 116, 24), put32(f + 120, 1), put32(f + 124, 0),
	       put64(f + 128, 4096), put64(f + 136, (n + 65535) / 65536 * 65536 + 65536), put64(f + 144, 0)));
	CRAFT("reserved field", "bitmaps extension reserved field",
	      (f[95] |= 1, put32(f + 112, 0x23852875), put32(f + 116, 24), put32(f + 120, 1), put32(f + 124, 9),
	       put64(f + 128, 4096), put64(f + 136, 65536), put64(f + 144, 0)));
	/* a size the L1 table (one entry: 512 MiB) cannot map */
	CRAFT("L1 table has 1 entries", "size beyond L1", put64(f + 24, 1ull << 30));
#undef CRAFT

	/* Truncated files: before the header ends, and before the L1 table. */
	expect_refused(base, 50, "too short", "50 bytes");
	expect_refused(base, 100, "too short", "v3 header cut");
	expect_refused(base, (size_t)l1o + 4, "L1 table", "cut inside L1");

	/* The dirty bit alone is fine to read (refcounts are not used); so are
	 * unknown compatible and autoclear bits (qemu ignores or clears them),
	 * a bitmaps extension whose autoclear bit is clear (qemu ignores it),
	 * 64-bit refcounts. */
	memcpy(f, base, n);
	f[79] |= 1;
	f[87] |= 0x80;
	f[88] |= 0x40;
	put32(f + 96, 6);
	put32(f + 112, 0x23852875), put32(f + 116, 24), memset(f + 120, 0, 24), put64(f + 144, 0);
	assert_int_equal(qcow2_check_header(f, n, n, &info, why, sizeof why), 0);
	assert_int_equal(info.refcount_order, 6);
	free(f);
	free(base);

	/* Extended L2 entries with subclusters under 512 bytes (clusters of
	 * 8 KiB: 256-byte subclusters), which qemu-img will not make. */
	base = base_image_opts(fx, "-o cluster_size=8k", &n);
	base[79] |= 16;
	expect_refused(base, n, "extended L2 entries need clusters of 16 KiB or more", "extended L2, 8 KiB clusters");
	free(base);
}

/* At the limit, the check that guards it does not refuse: the header is
 * accepted, or refused by another check (a crafted header breaks more
 * than one rule), never with a reason naming word. */
static void expect_passes(const uint8_t *f, size_t n, const char *word, const char *what)
{
	char why[200] = "";
	struct qcow2_info info;
	int rc = qcow2_check_header(f, n, n, &info, why, sizeof why);

	if (rc != 0 && (rc != -EINVAL || strstr(why, word)))
		fail_msg("%s: check_header %d \"%s\", expected it to pass the check of \"%s\"", what, rc, why, word);
}

/* The header's bounds, a row each: the field at its limit passes that
 * check, one past it is refused naming it (SPEC §5.3; issue 48 step 5:
 * a bound tested where it is written, not only by corpora). */
static void test_header_bounds(void **state)
{
	struct blob_fx *fx = *state;
	size_t n;
	uint8_t *base = base_image(fx, &n), *f = malloc(n);
	const struct {
		const char *what, *word;
		unsigned off, width; /* the field: byte offset, 4 or 8 bytes */
		uint64_t at, past;
	} rows[] = {
		{"cluster_bits, top", "cluster_bits", 20, 4, 21, 22},
		{"cluster_bits, bottom", "cluster_bits", 20, 4, 9, 8},
		{"virtual size, top", "virtual size", 24, 8, QCOW2_MAX_SIZE, QCOW2_MAX_SIZE + 1},
		{"virtual size, bottom", "virtual size", 24, 8, 1, 0},
		{"l1_size", "too large", 36, 4, 32u << 20 >> 3, (32u << 20 >> 3) + 1},
		{"refcount_table_clusters (8 MiB of 64 KiB)", "refcount_table_clusters", 56, 4, 128, 129},
		{"nb_snapshots", "nb_snapshots", 60, 4, 65536, 65537},
		{"refcount_order", "refcount_order", 96, 4, 6, 7},
		{"header_length, the cluster", "header_length", 100, 4, 65536, 65536 + 8},
	};

	assert_non_null(f);
	for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
		memcpy(f, base, n);
		rows[k].width == 4 ? put32(f + rows[k].off, (uint32_t)rows[k].at) : put64(f + rows[k].off, rows[k].at);
		expect_passes(f, n, rows[k].word, rows[k].what);
		memcpy(f, base, n);
		rows[k].width == 4 ? put32(f + rows[k].off, (uint32_t)rows[k].past) : put64(f + rows[k].off, rows[k].past);
		expect_refused(f, n, rows[k].word, rows[k].what);
	}

	/* The backing format name: 15 bytes (qemu keeps it in 16), then 16. */
	for (uint32_t len = 15; len <= 16; len++) {
		memcpy(f, base, n);
		put32(f + 112, 0xe2792aca), put32(f + 116, len), memset(f + 120, 'q', 16), put64(f + 136, 0);
		if (len == 15)
			expect_passes(f, n, "backing format name", "backing format name of 15 bytes");
		else
			expect_refused(f, n, "backing format name of 16 bytes", "backing format name of 16 bytes");
	}
	/* The bitmaps extension's count: 65535, then 65536. */
	for (uint32_t nb = 65535; nb <= 65536; nb++) {
		memcpy(f, base, n);
		f[95] |= 1, put32(f + 112, 0x23852875), put32(f + 116, 24), put32(f + 120, nb), put32(f + 124, 0);
		put64(f + 128, 4096), put64(f + 136, 65536), put64(f + 144, 0);
		if (nb == 65535)
			expect_passes(f, n, "nb_bitmaps", "65535 bitmaps");
		else
			expect_refused(f, n, "nb_bitmaps 65536", "65536 bitmaps");
	}
	free(f);
	free(base);
}

/* Images qemu-img itself makes with features we refuse. */
static void test_refusals_real(void **state)
{
	struct blob_fx *fx = *state;
	static const struct {
		const char *opts, *word;
	} cases[] = {
		{"-o compression_type=zstd", "zstd"},
		{"-o data_file=%s/data.raw", "external data file"},
		{"-b %s/base.qcow2 -F qcow2", "backing file"},
	};
	size_t n;
	free(base_image(fx, &n));

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char opts[300], path[256];
		uint8_t *f;

		snprintf(opts, sizeof opts, cases[i].opts, fx->dir);
		snprintf(path, sizeof path, "%s/refused%zu.qcow2", fx->dir, i);
		assert_int_equal(sh("qemu-img create -q -f qcow2 %s '%s' 4M", opts, path), 0);
		f = slurp(path, &n);
		expect_refused(f, n, cases[i].word, cases[i].opts);
		free(f);
	}
}

/* ---- what qemu makes is accepted ---------------------------------------------- */

/* Runs recipe (a shell command line; I is the image) in the test's
 * directory, then checks that the image passes every check and decodes
 * to what `qemu-img convert -O raw` makes of it, MiB by MiB. */
static void expect_accepted(struct blob_fx *fx, const char *recipe, const struct qcow2_info **info_out,
                            bool *tail_out)
{
	char path[256], raw[256];
	uint8_t *want = malloc(MiB), *got = malloc(MiB);
	struct img im;
	int fd;

	assert_non_null(want);
	assert_non_null(got);
	need_qemu_img();
	snprintf(path, sizeof path, "%s/acc.qcow2", fx->dir);
	snprintf(raw, sizeof raw, "%s/acc.raw", fx->dir);
	if (sh("cd '%s' && rm -f acc.qcow2 acc.raw && I=acc.qcow2 && { %s; } >/dev/null", fx->dir, recipe) != 0)
		fail_msg("recipe failed: %s", recipe);
	assert_int_equal(sh("qemu-img convert -f qcow2 -O raw '%s' '%s'", path, raw), 0);
	img_open(&im, path, true);
	if (qcow2_check_tables(im.r) != 0)
		fail_msg("%s: check_tables refused: %s", recipe, qcow2_reader_why(im.r));
	fd = open(raw, O_RDONLY);
	assert_true(fd >= 0);
	for (uint64_t off = 0; off < qcow2_reader_info(im.r)->size; off += MiB) {
		ssize_t n = qcow2_pread(im.r, got, MiB, off, NULL);
		if (n < 0)
			fail_msg("%s: pread at %llu: %s", recipe, (unsigned long long)off, qcow2_reader_why(im.r));
		assert_int_equal(pread(fd, want, (size_t)n, (off_t)off), n);
		if (memcmp(want, got, (size_t)n) != 0)
			fail_msg("%s: the MiB at %llu differs from qemu-img convert's", recipe, (unsigned long long)off);
	}
	close(fd);
	/* qcow2_next_data agrees with the reads: from every cluster, the
	 * first cluster at or after it whose read is not a hole (walking
	 * back from the end), or the size. */
	{
		const struct qcow2_info *in = qcow2_reader_info(im.r);
		uint64_t cs = 1ull << in->cluster_bits, next = in->size, got_next;
		for (uint64_t c = (in->size - 1) / cs + 1; c-- > 0;) {
			bool hole = true;
			size_t n = in->size - c * cs < cs ? (size_t)(in->size - c * cs) : (size_t)cs;
			uint8_t *cl = malloc(n);
			assert_non_null(cl);
			assert_int_equal(qcow2_pread(im.r, cl, n, c * cs, &hole), (ssize_t)n);
			free(cl);
			if (!hole)
				next = c * cs;
			assert_int_equal(qcow2_next_data(im.r, c * cs, &got_next), 0);
			if (got_next != next)
				fail_msg("%s: next data from %llu: %llu, the reads say %llu", recipe,
				         (unsigned long long)(c * cs), (unsigned long long)got_next, (unsigned long long)next);
		}
	}
	if (info_out) {
		static struct qcow2_info keep;
		keep = *qcow2_reader_info(im.r);
		*info_out = &keep;
	}
	if (tail_out) { /* the L1 table is longer than the disk needs */
		uint64_t per_l1 = 1ull << (2 * qcow2_reader_info(im.r)->cluster_bits - 3);
		*tail_out = qcow2_reader_info(im.r)->l1_entries > (qcow2_reader_info(im.r)->size + per_l1 - 1) / per_l1;
	}
	img_close(&im);
	free(want);
	free(got);
}

static void test_accepted_real(void **state)
{
	struct blob_fx *fx = *state;
	const struct qcow2_info *info;
	bool tail = false;

#define IO "qemu-io -f qcow2"
	/* Internal snapshots, v3 and v2; data written between them. */
	expect_accepted(fx,
	                "qemu-img create -q -f qcow2 $I 8M && " IO " -c 'write -P 1 0 2M' $I && qemu-img snapshot -c s1 $I"
	                " && " IO " -c 'write -P 2 512k 64k' -c 'write -z 1M 64k' $I && qemu-img snapshot -c s2 $I",
	                &info, NULL);
	assert_int_equal(info->nb_snapshots, 2);
	expect_accepted(fx,
	                "qemu-img create -q -f qcow2 -o compat=0.10 $I 8M && " IO " -c 'write -P 3 0 1M' $I && "
	                "qemu-img snapshot -c s1 $I && " IO " -c 'write -P 4 100k 10k' $I",
	                &info, NULL);
	assert_int_equal(info->version, 2);
	assert_int_equal(info->nb_snapshots, 1);
	/* Extended L2: partly written clusters (the file ends inside the last
	 * one), zeroed and discarded subclusters; 64 KiB and 2 MiB clusters. */
	expect_accepted(fx,
	                "qemu-img create -q -f qcow2 -o extended_l2=on $I 8M && " IO " -c 'write -P 5 0 4k' -c "
	                "'write -P 6 3M 100k' -c 'write -z 3M 8k' -c 'discard 3M 16k' -c 'write -z 5M 64k' -c "
	                "'write -P 7 1M 1k' $I",
	                &info, NULL);
	assert_true(info->extended_l2);
	expect_accepted(fx,
	                "qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=2M $I 8M && " IO
	                " -c 'write -P 8 4k 4k' -c 'write -P 9 5M 70k' $I",
	                &info, NULL);
	assert_true(info->extended_l2);
	assert_int_equal(info->cluster_bits, 21);
	/* Extended L2 with compressed clusters. */
	expect_accepted(fx,
	                "qemu-img create -q -f raw src.raw 4M && " IO " -f raw -c 'write -P 10 0 3M' src.raw && "
	                "qemu-img convert -c -f raw -O qcow2 -o extended_l2=on src.raw $I",
	                &info, NULL);
	assert_true(info->extended_l2);
	/* Refcount widths, lazy refcounts, metadata preallocation. */
	expect_accepted(fx, "qemu-img create -q -f qcow2 -o refcount_bits=1 $I 8M && " IO " -c 'write -P 11 1M 1M' $I",
	                &info, NULL);
	assert_int_equal(info->refcount_order, 0);
	expect_accepted(fx, "qemu-img create -q -f qcow2 -o refcount_bits=64 $I 8M && " IO " -c 'write -P 12 1M 1M' $I",
	                &info, NULL);
	assert_int_equal(info->refcount_order, 6);
	expect_accepted(fx, "qemu-img create -q -f qcow2 -o lazy_refcounts=on $I 8M && " IO " -c 'write -P 13 0 64k' $I",
	                NULL, NULL);
	expect_accepted(fx,
	                "qemu-img create -q -f qcow2 -o preallocation=metadata $I 8M && " IO " -c 'write -P 14 2M 1M' $I",
	                NULL, NULL);
	/* A persistent dirty bitmap (autoclear bit 0 and the bitmaps extension). */
	expect_accepted(fx, "qemu-img create -q -f qcow2 $I 8M && " IO " -c 'write -P 15 0 1M' $I && qemu-img bitmap "
	                    "--add $I b0",
	                NULL, NULL);
	/* Grown past one L1 entry (4 KiB clusters: an entry maps 2 MiB); shrunk,
	 * keeping a longer L1 table. */
	expect_accepted(fx, "qemu-img create -q -f qcow2 -o cluster_size=4k $I 1M && " IO " -c 'write -P 16 0 512k' $I && "
	                    "qemu-img resize -q $I 9M && " IO " -c 'write -P 17 7M 1M' $I",
	                &info, NULL);
	assert_true(info->l1_entries >= 5);
	expect_accepted(fx, "qemu-img create -q -f qcow2 -o cluster_size=4k $I 64M && " IO " -c 'write -P 18 0 1M' -c "
	                    "'write -P 19 60M 1M' $I && qemu-img resize -q --shrink $I 4M",
	                NULL, &tail);
	assert_true(tail);
	/* 512-byte clusters, compressed, with a snapshot. */
	expect_accepted(fx,
	                "qemu-img create -q -f raw src.raw 2M && " IO " -f raw -c 'write -P 20 0 1M' src.raw && "
	                "qemu-img convert -c -f raw -O qcow2 -o cluster_size=512 src.raw $I && qemu-img snapshot -c s $I",
	                &info, NULL);
	assert_int_equal(info->cluster_bits, 9);
#undef IO
}

/* ---- damage only the whole-file check sees --------------------------------------- */

/* Expects the header and a reader to accept f, qcow2_check_tables to
 * refuse it with a reason containing word. */
static void expect_tables_refused(const uint8_t *f, size_t n, const char *word, const char *what)
{
	char why[200] = "";
	struct mem m = {.p = f, .n = n};
	qcow2_reader *r = NULL;
	int rc = qcow2_reader_new(&r, mem_rd, &m, n, why, sizeof why);

	if (rc != 0)
		fail_msg("%s: reader_new %d \"%s\", expected 0", what, rc, why);
	rc = qcow2_check_tables(r);
	if (rc != -EINVAL || !strstr(qcow2_reader_why(r), word))
		fail_msg("%s: check_tables %d \"%s\", expected -EINVAL naming \"%s\"", what, rc, qcow2_reader_why(r), word);
	qcow2_reader_free(r);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* A file of `size` bytes whose first n are base and which holds, from
 * `table`, `count` snapshot table entries of 131110 bytes each (the
 * longest id and name): 64 MiB of table without 64 MiB of memory. */
struct synth {
	const uint8_t *base;
	size_t n;
	uint64_t size, table, step;
	uint32_t count;
};

static ssize_t synth_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct synth *s = arg;

	if (off >= s->size)
		return 0;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	memset(buf, 0, len);
	if (off < s->n)
		memcpy(buf, s->base + off, len < s->n - off ? len : s->n - off);
	if (off >= s->table && (off - s->table) % s->step == 0 && len >= 16) {
		put32((uint8_t *)buf + 8, 0);           /* l1_size */
		((uint8_t *)buf)[12] = 0xff;            /* id_str_size 65535 */
		((uint8_t *)buf)[13] = 0xff;
		((uint8_t *)buf)[14] = 0xff;            /* name_size 65535 */
		((uint8_t *)buf)[15] = 0xff;
	}
	return (ssize_t)len;
}

static void test_tables_crafted(void **state)
{
	struct blob_fx *fx = *state;
	char raw_path[256], path[256], why[200];
	size_t n;
	uint8_t *base = base_image(fx, &n), *f = malloc(n), *raw;
	uint64_t l1o = get64(base + 40), l2o = get64(base + l1o) & 0x00fffffffffffe00ull, e = 0;
	uint64_t beyond = (n + 65535) / 65536 * 65536 + 65536;

	assert_non_null(f);
#define CRAFT(word, what, edit)                         \
	do {                                                \
		memcpy(f, base, n);                             \
		edit;                                           \
		expect_tables_refused(f, n, word, what);        \
	} while (0)
	/* The base passes; its L1 table (one entry) is followed by its L2 table. */
	memcpy(f, base, n);
	{
		struct mem m = {.p = f, .n = n};
		qcow2_reader *r;
		assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, n, why, sizeof why), 0);
		assert_int_equal(qcow2_check_tables(r), 0);
		qcow2_reader_free(r);
	}
	assert_true(l2o > l1o && l2o + 65536 <= n);
	/* The L1 table's tail (entries the size does not need): checked too. */
	CRAFT("L1 entry 1: L2 table offset 328192 is not cluster aligned", "L1 tail entry unaligned",
	      (put32(f + 36, 2), put64(f + l1o + 8, (1ull << 63) | (5 * 65536 + 512))));
	CRAFT("L1 entry 1: L2 table at", "L1 tail entry beyond the file",
	      (put32(f + 36, 2), put64(f + l1o + 8, (1ull << 63) | beyond)));
	CRAFT("L1 entry 0: L2 table at", "L1 entry beyond the file", put64(f + l1o, (1ull << 63) | beyond));
	/* L2 entries: a zero cluster's allocation unaligned, a data cluster
	 * beyond the file. */
	CRAFT("not cluster aligned", "zero cluster unaligned", put64(f + l2o, (1ull << 63) | (7 * 65536 + 512) | 1));
	CRAFT("data cluster at", "data cluster beyond the file", put64(f + l2o + 16 * 8, (1ull << 63) | beyond));
#undef CRAFT
	free(f);
	free(base);

	/* Snapshots: extra data above 1024 bytes; a table cut by the file's end. */
	snprintf(path, sizeof path, "%s/snap.qcow2", fx->dir);
	assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M && qemu-io -c 'write -q 0 64k' '%s' >/dev/null && "
	                    "qemu-img snapshot -c a '%s' && qemu-img snapshot -c b '%s'",
	                    path, path, path, path),
	                 0);
	base = slurp(path, &n);
	uint64_t so = get64(base + 64);
	uint8_t extra[4];
	assert_int_equal(base[63], 2);
	memcpy(extra, base + so + 36, 4);
	put32(base + so + 36, 2000);
	expect_tables_refused(base, n, "snapshot 0 has 2000 bytes of extra data", "snapshot extra data");
	memcpy(base + so + 36, extra, 4); /* as qemu wrote it */
	expect_tables_refused(base, n - 3, "snapshot 1 ends at", "snapshot table cut short");
	/* A table above 64 MiB: 520 entries of 131110 bytes, served by a
	 * reader that makes them up. */
	{
		struct synth sy = {base, n, 0, (n + 65535) / 65536 * 65536, 131112, 520};
		qcow2_reader *r;
		uint8_t *h = malloc(n);
		assert_non_null(h);
		memcpy(h, base, n);
		put32(h + 60, sy.count);
		put64(h + 64, sy.table);
		sy.base = h;
		sy.size = sy.table + (uint64_t)sy.count * sy.step;
		assert_int_equal(qcow2_reader_new(&r, synth_rd, &sy, sy.size, why, sizeof why), 0);
		assert_int_equal(qcow2_check_tables(r), -EINVAL);
		if (!strstr(qcow2_reader_why(r), "the snapshot table is above 67108864 bytes"))
			fail_msg("%s", qcow2_reader_why(r));
		qcow2_reader_free(r);
		free(h);
	}
	free(base);

	/* A corrupt compressed cluster: found by the check, not only by a read. */
	raw = make_raw(fx, raw_path, sizeof raw_path);
	convert(fx, raw_path, "1.1", true, 65536, path, sizeof path);
	base = slurp(path, &n);
	assert_true(count_compressed(base, n, &e) > 0);
	memset(base + (e & ((1ull << 54) - 1)), 0xa5, 64);
	expect_tables_refused(base, n, "corrupt compressed cluster", "corrupt compressed cluster");
	free(base);
	free(raw);

	/* Extended L2: a subcluster both allocated and zero; allocated
	 * subclusters in a cluster without an offset. */
	snprintf(path, sizeof path, "%s/ext.qcow2", fx->dir);
	assert_int_equal(sh("qemu-img create -q -f qcow2 -o extended_l2=on '%s' 4M && qemu-io -c 'write -q -P 1 1M 64k' "
	                    "'%s' >/dev/null",
	                    path, path),
	                 0);
	base = slurp(path, &n);
	l1o = get64(base + 40);
	l2o = get64(base + l1o) & 0x00fffffffffffe00ull;
	assert_int_not_equal(get64(base + l2o + 16 * 16), 0); /* 1M: cluster 16, 16-byte entries */
	f = malloc(n);
	assert_non_null(f);
	memcpy(f, base, n);
	put64(f + l2o + 16 * 16 + 8, get64(f + l2o + 16 * 16 + 8) | (1ull << 32));
	expect_tables_refused(f, n, "invalid subcluster bitmap", "allocated and zero");
	memcpy(f, base, n);
	put64(f + l2o + 8, 1); /* cluster 0: no offset */
	expect_tables_refused(f, n, "invalid subcluster bitmap", "allocated without an offset");
	free(f);
	free(base);
}

/* Damage found only while reading: -EINVAL naming it, never a crash. */
static void test_damage_while_reading(void **state)
{
	struct blob_fx *fx = *state;
	char raw_path[256], path[256], why[200];
	uint8_t *raw = make_raw(fx, raw_path, sizeof raw_path), *f, *buf = malloc(MiB);
	struct mem m;
	qcow2_reader *r;
	uint64_t e = 0, l1o = 0, coff;
	size_t n;
	ssize_t rc;

	assert_non_null(buf);
	convert(fx, raw_path, "1.1", true, 65536, path, sizeof path);
	f = slurp(path, &n);
	m = (struct mem){.p = f, .n = n};
	for (int i = 0; i < 8; i++)
		l1o = l1o << 8 | f[40 + i];

	/* A corrupt compressed cluster. */
	assert_true(count_compressed(f, n, &e) > 0);
	coff = e & ((1ull << 54) - 1); /* x = 62 - (16 - 8) */
	memset(f + coff, 0xa5, 64);
	assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, n, why, sizeof why), 0);
	for (uint64_t off = 0; off < RAW_SIZE && (rc = qcow2_pread(r, buf, MiB, off, NULL)) >= 0; off += MiB)
		;
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(qcow2_reader_why(r), "corrupt compressed cluster"));
	qcow2_reader_free(r);
	free(f);

	/* An L2 table beyond the end of the file, and one not aligned. */
	f = slurp(path, &n);
	m = (struct mem){.p = f, .n = n};
	put64(f + l1o, (1ull << 63) | ((n + 65535) / 65536 * 65536 + 65536 * 4));
	assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, n, why, sizeof why), 0);
	assert_int_equal(qcow2_pread(r, buf, 4096, 0, NULL), -EINVAL);
	assert_non_null(strstr(qcow2_reader_why(r), "L2 table"));
	qcow2_reader_free(r);
	put64(f + l1o, (1ull << 63) | (5 * 65536 + 512));
	assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, n, why, sizeof why), 0);
	assert_int_equal(qcow2_pread(r, buf, 4096, 0, NULL), -EINVAL);
	assert_non_null(strstr(qcow2_reader_why(r), "not cluster aligned"));
	qcow2_reader_free(r);
	free(f);
	free(buf);
	free(raw);
}

/* A file cut short after its tables: the clusters past the cut are
 * -EINVAL "beyond the end of the file", with the size known or not. */
static void test_truncated_file(void **state)
{
	struct blob_fx *fx = *state;
	char raw_path[256], path[256], why[200];
	uint8_t *raw = make_raw(fx, raw_path, sizeof raw_path), *f, *buf = malloc(MiB);
	qcow2_reader *r;
	struct mem m;
	size_t n;
	ssize_t rc = 0;

	assert_non_null(buf);
	convert(fx, raw_path, "0.10", false, 65536, path, sizeof path);
	f = slurp(path, &n);
	for (int known = 0; known < 2; known++) {
		m = (struct mem){.p = f, .n = n / 2};
		assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, known ? n / 2 : 0, why, sizeof why), 0);
		for (uint64_t off = 0; off < RAW_SIZE && (rc = qcow2_pread(r, buf, MiB, off, NULL)) >= 0;
		     off += MiB)
			;
		assert_int_equal(rc, -EINVAL);
		assert_non_null(strstr(qcow2_reader_why(r), "beyond the end of the file"));
		qcow2_reader_free(r);
	}
	free(f);
	free(buf);
	free(raw);
}

/* qcow2_check_tables judges the whole file at once (an upload's close):
 * the same file cut in half fails it without a data read, the whole file
 * and its compressed form pass, a cut inside the last cluster the disk
 * reaches fails. */
static void test_check_tables(void **state)
{
	struct blob_fx *fx = *state;
	char raw_path[256], path[256], why[200];
	uint8_t *raw = make_raw(fx, raw_path, sizeof raw_path), *f;
	qcow2_reader *r;
	struct mem m;
	size_t n;

	for (int compressed = 0; compressed < 2; compressed++) {
		convert(fx, raw_path, "1.1", compressed, 65536, path, sizeof path);
		f = slurp(path, &n);
		m = (struct mem){.p = f, .n = n};
		assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, n, why, sizeof why), 0);
		assert_int_equal(qcow2_check_tables(r), 0);
		qcow2_reader_free(r);
		m.n = n / 2;
		assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, n / 2, why, sizeof why), 0);
		assert_int_equal(qcow2_check_tables(r), -EINVAL);
		if (!strstr(qcow2_reader_why(r), "beyond the end of the file"))
			fail_msg("%s", qcow2_reader_why(r));
		qcow2_reader_free(r);
		if (!compressed) {
			m.n = n - 1; /* the last data cluster loses its last byte */
			assert_int_equal(qcow2_reader_new(&r, mem_rd, &m, n - 1, why, sizeof why), 0);
			assert_int_equal(qcow2_check_tables(r), -EINVAL);
			qcow2_reader_free(r);
		}
		free(f);
	}
	free(raw);
}

static void test_sniff(void **state)
{
	(void)state;
	assert_true(qcow2_sniff("QFI\xfb\0\0\0\3", 8));
	assert_true(qcow2_sniff("QFI\xfb", 4));
	assert_false(qcow2_sniff("QFI", 3));
	assert_false(qcow2_sniff("QFI\xfa\0\0\0\3", 8));
	assert_false(qcow2_sniff("\0\0\0\0\0\0\0\0", 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff),
		cmocka_unit_test_setup_teardown(test_v2_64k, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_v2_64k_compressed, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_v3_64k, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_v3_64k_compressed, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_v3_512, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_v2_512_compressed, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_v3_4k, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_v3_2m_compressed, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_compare_detects_difference, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_zero_clusters, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_next_data_huge, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_header_bounds, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refusals_crafted, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refusals_real, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_accepted_real, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tables_crafted, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_damage_while_reading, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_file, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_tables, blob_fx_setup, blob_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
