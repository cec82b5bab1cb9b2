/*
 * test_qcow2_in.c — unit tests for blobstore/format/qcow2_in.c: a QCOW2
 * file stored as a blob, decoded into the raw disk's blob.  The QCOW2
 * files are made by `qemu-img convert` (package qemu-utils, required)
 * from raw disks of random chunks, zero runs and a short last chunk; the
 * decoded blob must read back the raw bytes exactly, hold exactly the
 * raw disk's non-zero chunks, store nothing twice, stop when its tick
 * says so, and refuse a damaged file with a reason.
 */
#include "blobstore/blob_test.h"

#include <sys/wait.h>

#include "qcow2_in.h"

#define MiB ((uint64_t)1 << 20)

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

/* A raw disk of 9 MiB - 100 KiB: chunk 0 random, 1..3 zeros, 4 half
 * random, 5..7 zeros, 8 (short) random — 3 data chunks. */
#define RAW_SIZE (9 * MiB - 100 * 1024)
#define RAW_DATA_CHUNKS 3

struct img {
	uint8_t *raw;
	uint8_t *file; /* the QCOW2 file's bytes */
	size_t file_len;
};

static void make_img(struct blob_fx *fx, struct img *im, const char *compat)
{
	char raw_path[128], q_path[128];
	struct stat st;
	int fd;

	im->raw = calloc(1, RAW_SIZE);
	assert_non_null(im->raw);
	fx_fill(fx, im->raw, MiB);
	fx_fill(fx, im->raw + 4 * MiB, MiB / 2);
	fx_fill(fx, im->raw + 8 * MiB, RAW_SIZE - 8 * MiB);
	snprintf(raw_path, sizeof raw_path, "%s/disk.raw", fx->dir);
	snprintf(q_path, sizeof q_path, "%s/disk.qcow2", fx->dir);
	fd = open(raw_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, im->raw, RAW_SIZE, 0), (ssize_t)RAW_SIZE);
	close(fd);
	if (sh("qemu-img --version >/dev/null 2>&1") != 0)
		fail_msg("qemu-img not found: install qemu-utils (these tests need it)");
	assert_int_equal(sh("qemu-img convert -f raw -O qcow2 -o compat=%s '%s' '%s'", compat, raw_path, q_path), 0);
	fd = open(q_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	im->file_len = (size_t)st.st_size;
	im->file = malloc(im->file_len);
	assert_non_null(im->file);
	assert_int_equal(pread(fd, im->file, im->file_len, 0), (ssize_t)im->file_len);
	close(fd);
}

static void img_free(struct img *im)
{
	free(im->raw);
	free(im->file);
}

/* The decoded blob: the raw bytes, the raw disk's data chunks and no
 * others. */
static void check_decoded(struct blob_fx *fx, const blob_manifest *out, const uint8_t *raw)
{
	uint8_t *got = malloc(RAW_SIZE);

	assert_non_null(got);
	assert_int_equal(out->size, RAW_SIZE);
	assert_int_equal(blob_store_read(fx->s, out, got, RAW_SIZE, 0), (ssize_t)RAW_SIZE);
	assert_memory_equal(got, raw, RAW_SIZE);
	assert_int_equal(out->count, RAW_DATA_CHUNKS);
	assert_non_null(blob_manifest_get(out, 0));
	assert_null(blob_manifest_get(out, 1));
	assert_non_null(blob_manifest_get(out, 4));
	assert_null(blob_manifest_get(out, 7));
	assert_non_null(blob_manifest_get(out, 8));
	free(got);
}

struct ticks {
	int calls;
	int stop_at; /* the call (from 1) that says stop; 0: never */
	uint64_t last;
};

static int count_tick(void *arg, uint64_t done)
{
	struct ticks *t = arg;

	t->calls++;
	assert_true(done >= t->last); /* progress only goes forward */
	t->last = done;
	return t->stop_at != 0 && t->calls >= t->stop_at;
}

static void decode_variant(struct blob_fx *fx, const char *compat)
{
	blob_manifest *src = NULL, *out = NULL, *again = NULL;
	struct ticks t = {0};
	struct img im;
	char why[256] = "";
	int before;

	make_img(fx, &im, compat);
	assert_int_equal(blob_store_put_buf(fx->s, &src, im.file, im.file_len), 0);
	before = fx_nchunks(fx);
	assert_int_equal(qcow2_in_decode(fx->s, src, &out, count_tick, &t, why, sizeof why), 0);
	assert_non_null(out);
	check_decoded(fx, out, im.raw);
	/* Every chunk of the disk was reported done, the last at its end. */
	assert_int_equal(t.last, RAW_SIZE);
	/* The raw disk's data chunks are new (the QCOW2 file's chunks hold
	 * them among its metadata, so none is shared). */
	assert_int_equal(fx_nchunks(fx), before + RAW_DATA_CHUNKS);

	/* Decoded again: the same manifest, nothing stored twice. */
	assert_int_equal(qcow2_in_decode(fx->s, src, &again, NULL, NULL, why, sizeof why), 0);
	assert_int_equal(again->count, out->count);
	for (uint32_t k = 0; k < out->count; k++) {
		assert_int_equal(again->index[k], out->index[k]);
		assert_true(chunk_id_equal(&again->id[k], &out->id[k]));
	}
	assert_int_equal(fx_nchunks(fx), before + RAW_DATA_CHUNKS);
	blob_manifest_free(again);
	blob_manifest_free(out);
	blob_manifest_free(src);
	img_free(&im);
}

static void test_decode_v2(void **state)
{
	decode_variant(*state, "0.10");
}

static void test_decode_v3(void **state)
{
	decode_variant(*state, "1.1");
}

/* A tick that says stop ends the decode: 0, no manifest. */
static void test_stop(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *src = NULL, *out = NULL;
	struct ticks t = {.stop_at = 2};
	struct img im;
	char why[256] = "";

	make_img(fx, &im, "1.1");
	assert_int_equal(blob_store_put_buf(fx->s, &src, im.file, im.file_len), 0);
	assert_int_equal(qcow2_in_decode(fx->s, src, &out, count_tick, &t, why, sizeof why), 0);
	assert_null(out);
	assert_int_equal(t.calls, 2);
	assert_true(t.last < RAW_SIZE);
	blob_manifest_free(src);
	img_free(&im);
}

/* A file the decoder refuses: -EINVAL with its reason, no manifest. */
static void test_refused(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *src = NULL, *out = NULL;
	struct img im;
	char why[256] = "";

	make_img(fx, &im, "1.1");
	im.file[4 + 3] = 9; /* version 9 (the big-endian u32 after the magic) */
	assert_int_equal(blob_store_put_buf(fx->s, &src, im.file, im.file_len), 0);
	assert_int_equal(qcow2_in_decode(fx->s, src, &out, NULL, NULL, why, sizeof why), -EINVAL);
	assert_null(out);
	assert_non_null(strstr(why, "version"));
	blob_manifest_free(src);
	img_free(&im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_decode_v2, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_decode_v3, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stop, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refused, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
