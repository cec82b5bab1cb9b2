/*
 * test_util.c — unit tests for blobstore/util.c: the zero test, the
 * full-length I/O loops (short pipe reads, end of file), the directory fsync
 * and the little-endian codecs of blobstore_int.h.
 */
#include <pthread.h>

#include "blob_test.h"
#include "blobstore_int.h"

static void test_is_zero(void **state)
{
	uint8_t buf[4097];

	(void)state;
	memset(buf, 0, sizeof buf);
	assert_true(blob_is_zero(buf, 0));
	assert_true(blob_is_zero(buf, 1));
	assert_true(blob_is_zero(buf, sizeof buf));
	for (size_t i = 0; i < sizeof buf; i += 511) {
		buf[i] = 0x80;
		assert_false(blob_is_zero(buf, sizeof buf));
		assert_true(blob_is_zero(buf, i)); /* everything before it */
		buf[i] = 0;
	}
	buf[sizeof buf - 1] = 1;
	assert_false(blob_is_zero(buf, sizeof buf));
}

static void *dribble(void *arg)
{
	int fd = *(int *)arg;

	for (int i = 0; i < 100; i++) {
		uint8_t b = (uint8_t)i;
		if (write(fd, &b, 1) != 1)
			break;
		if (i % 10 == 0)
			usleep(1000);
	}
	close(fd);
	return NULL;
}

static void test_full_io(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t data[10000], got[20000];
	char path[128];
	pthread_t t;
	int p[2], fd;

	/* read_full gathers a pipe's dribbles, and stops at its end. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pthread_create(&t, NULL, dribble, &p[1]), 0);
	assert_int_equal(blob_read_full(p[0], got, 60), 60);
	assert_int_equal(blob_read_full(p[0], got + 60, 1000), 40);
	pthread_join(t, NULL);
	close(p[0]);
	for (int i = 0; i < 100; i++)
		assert_int_equal(got[i], i);

	/* pwrite_full / pread_full at an offset; reads stop at end of file. */
	fx_fill(fx, data, sizeof data);
	snprintf(path, sizeof path, "%s/f", fx->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(blob_pwrite_full(fd, data, sizeof data, 5000), 0);
	assert_int_equal(blob_pread_full(fd, got, sizeof got, 5000), sizeof data);
	assert_bytes_equal(got, data, sizeof data);
	assert_int_equal(blob_pread_full(fd, got, 10, 1 << 20), 0);
	assert_int_equal(blob_pread_full(fd, got, 100, 0), 100); /* the hole before */
	assert_true(blob_is_zero(got, 100));
	assert_int_equal(lseek(fd, 0, SEEK_END), 15000);
	assert_int_equal(blob_write_full(fd, data, 10), 0);
	assert_int_equal(blob_pread_full(fd, got, 10, 15000), 10);
	assert_bytes_equal(got, data, 10);
	close(fd);
	/* Errors come back as -errno. */
	assert_int_equal(blob_pread_full(-1, got, 1, 0), -EBADF);
	assert_int_equal(blob_pwrite_full(-1, got, 1, 0), -EBADF);
	assert_int_equal(blob_read_full(-1, got, 1), -EBADF);
	assert_int_equal(blob_write_full(-1, got, 1), -EBADF);

	assert_int_equal(blob_fsync_dir_at(AT_FDCWD, fx->dir), 0);
	assert_int_equal(blob_fsync_dir_at(AT_FDCWD, path), -ENOTDIR);
}

static void test_le_codecs(void **state)
{
	uint8_t b[8];

	(void)state;
	blob_put_le32(b, 0x11223344u);
	assert_int_equal(b[0], 0x44);
	assert_int_equal(b[3], 0x11);
	assert_int_equal(blob_get_le32(b), 0x11223344u);
	blob_put_le64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 0x08);
	assert_int_equal(b[7], 0x01);
	assert_true(blob_get_le64(b) == 0x0102030405060708ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_zero),
		cmocka_unit_test_setup_teardown(test_full_io, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test(test_le_codecs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
