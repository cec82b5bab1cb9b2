/*
 * test_qcow2.c — unit tests for blobstore/qcow2.c.
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
 * changed each) and on images qemu-img makes with features we refuse
 * (backing file, external data file, extended L2, zstd).
 */
#include "blob_test.h"

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
		extents++;
		holes += !data;
	}
	/* The pattern has both kinds, and holes inside (not only at the end)
	 * unless clusters are larger than its hole runs. */
	assert_true(extents >= 1);
	if (expect_holes)
		assert_true(holes >= 2);
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

/* A valid v3 image of 4 MiB with some data, in memory. */
static uint8_t *base_image(struct blob_fx *fx, size_t *len)
{
	char path[256];

	snprintf(path, sizeof path, "%s/base.qcow2", fx->dir);
	need_qemu_img();
	assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M", path), 0);
	assert_int_equal(sh("qemu-io -c 'write -q -P 0x5a 1M 1M' '%s' >/dev/null", path), 0);
	return slurp(path, len);
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
	CRAFT("extended L2", "extended L2", f[79] |= 16);
	CRAFT("zstd", "zstd compression", (f[79] |= 8, f[104] = 1));
	CRAFT("compression type", "unknown compression", (f[79] |= 8, f[104] = 7));
	CRAFT("corrupt", "corrupt bit", f[79] |= 2);
	CRAFT("unknown incompatible", "unknown feature", f[78] |= 1);
	CRAFT("cluster_bits", "cluster_bits 8", put32(f + 20, 8));
	CRAFT("cluster_bits", "cluster_bits 22", put32(f + 20, 22));
	CRAFT("virtual size", "size 0", put64(f + 24, 0));
	CRAFT("virtual size", "size above 64 TiB", put64(f + 24, QCOW2_MAX_SIZE + 512));
	CRAFT("L1 table has 0 entries", "empty L1", put32(f + 36, 0));
	CRAFT("too large", "huge L1", put32(f + 36, 0x10000000));
	CRAFT("L1 table", "L1 beyond the file", put64(f + 40, (n + 65535) / 65536 * 65536 + 65536));
	CRAFT("L1 table", "L1 near 2^64", put64(f + 40, 0xffffffffffff0000ull));
	CRAFT("not cluster aligned", "unaligned L1", put64(f + 40, l1o + 8));
	CRAFT("header length", "header length 100", put32(f + 100, 100));
	CRAFT("header extension", "extension past the cluster", (put32(f + 112, 0x12345678), put32(f + 116, 70000)));
	/* a size the L1 table (one entry: 512 MiB) cannot map */
	CRAFT("L1 table has 1 entries", "size beyond L1", put64(f + 24, 1ull << 30));
#undef CRAFT

	/* Truncated files: before the header ends, and before the L1 table. */
	expect_refused(base, 50, "too short", "50 bytes");
	expect_refused(base, 100, "too short", "v3 header cut");
	expect_refused(base, (size_t)l1o + 4, "L1 table", "cut inside L1");

	/* The dirty bit alone is fine to read (refcounts are not used). */
	memcpy(f, base, n);
	f[79] |= 1;
	assert_int_equal(qcow2_check_header(f, n, n, &info, why, sizeof why), 0);
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
		{"-o extended_l2=on", "extended L2"},
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
		assert_non_null(strstr(qcow2_reader_why(r), "beyond the end of the file"));
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
		cmocka_unit_test_setup_teardown(test_refusals_crafted, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refusals_real, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_damage_while_reading, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_file, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_tables, blob_fx_setup, blob_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
