/*
 * test_put.c — unit tests for blobstore/put.c: put_fd from a pipe (short
 * reads) and from a sparse regular file (hole chunks skipped without
 * reading them) gives the same manifest as put_buf of the same bytes; input
 * shorter than the size is -EIO.
 */
#include <pthread.h>
#include <signal.h>

#include "blob_test.h"

static void assert_same_manifest(const blob_manifest *a, const blob_manifest *b)
{
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->nchunks, b->nchunks);
	assert_int_equal(a->stored, b->stored);
	for (uint32_t i = 0; i < a->nchunks; i++)
		assert_true(chunk_id_equal(mf_id(a, i), mf_id(b, i)));
}

struct feeder {
	int fd;
	const uint8_t *buf;
	uint64_t len;
	uint64_t seed;
};

/* Writes the bytes into the pipe in odd-sized pieces, then closes it. */
static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	struct blob_fx rng = {.rng = f->seed};
	uint64_t done = 0;

	while (done < f->len) {
		size_t n = (size_t)fx_below(&rng, 100000) + 1;
		ssize_t w;

		if (n > f->len - done)
			n = (size_t)(f->len - done);
		w = write(f->fd, f->buf + done, n);
		if (w <= 0)
			break;
		done += (uint64_t)w;
	}
	close(f->fd);
	return NULL;
}

static int put_through_pipe(struct blob_fx *fx, blob_manifest **out, const uint8_t *buf, uint64_t feed,
                            uint64_t size)
{
	struct feeder f;
	pthread_t t;
	int p[2];
	int rc;

	assert_int_equal(pipe(p), 0);
	f = (struct feeder){.fd = p[1], .buf = buf, .len = feed, .seed = fx_rand(fx)};
	assert_int_equal(pthread_create(&t, NULL, feeder_main, &f), 0);
	rc = blob_store_put_fd(fx->s, out, p[0], size);
	close(p[0]); /* a feeder still writing gets EPIPE */
	pthread_join(t, NULL);
	return rc;
}

static void test_put_fd_pipe(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t sizes[] = {0, 1, MiB, 7 * MiB + 999};

	signal(SIGPIPE, SIG_IGN);
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		uint8_t *ref = fx_make_blob(fx, sizes[k], 30);
		blob_manifest *a = NULL, *b = NULL;

		assert_int_equal(blob_store_put_buf(fx->s, &a, ref, sizes[k]), 0);
		assert_int_equal(put_through_pipe(fx, &b, ref, sizes[k], sizes[k]), 0);
		assert_same_manifest(a, b);
		blob_manifest_free(b);
		b = NULL;
		if (sizes[k] > 0) /* the input ends early */
			assert_int_equal(put_through_pipe(fx, &b, ref, sizes[k] - 1, sizes[k]), -EIO);
		assert_null(b);
		blob_manifest_free(a);
		free(ref);
	}
}

static uint64_t rchar(void)
{
	char line[128];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/io", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "rchar: %llu", (unsigned long long *)&v) == 1)
			break;
	fclose(f);
	return v;
}

static void test_put_fd_sparse_file(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 2048 * MiB + 12345; /* 2 GiB: reading it would show */
	uint8_t *data = malloc(2 * MiB), *buf = malloc(2 * MiB);
	blob_manifest *m = NULL;
	char path[128];
	uint64_t before, after;
	int fd;

	assert_non_null(data);
	assert_non_null(buf);
	fx_fill(fx, data, 2 * MiB);
	snprintf(path, sizeof path, "%s/sparse.img", fx->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	/* Data in chunk 3, straddling 100/101, and in the short tail. */
	assert_int_equal(pwrite(fd, data, MiB, 3 * MiB), MiB);
	assert_int_equal(pwrite(fd, data, 4096, 101 * MiB - 2048), 4096);
	assert_int_equal(pwrite(fd, data, 10, size - 10), 10);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

	before = rchar();
	assert_int_equal(blob_store_put_fd(fx->s, &m, fd, size), 0);
	after = rchar();
	if (before != 0) /* /proc/self/io readable */
		assert_true(after - before < 64 * MiB);
	assert_int_equal(m->size, size);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_int_equal(!chunk_id_is_null(mf_id(m, i)), i == 3 || i == 100 || i == 101 || i == m->nchunks - 1);
	assert_int_equal(m->stored, 3 * MiB + 12345);

	/* Read back against the file. */
	uint32_t check[] = {0, 3, 100, 101, 102, m->nchunks - 1};
	for (size_t k = 0; k < sizeof check / sizeof check[0]; k++) {
		uint64_t off = (uint64_t)check[k] * MiB;
		size_t len = blob_chunk_len(size, check[k]);
		assert_int_equal(pread(fd, data, len, (off_t)off), len);
		assert_int_equal(blob_store_read(fx->s, m, buf, len, off), len);
		assert_bytes_equal(buf, data, len);
	}
	blob_manifest_free(m);
	m = NULL;

	/* A file shorter than the size asked for. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(blob_store_put_fd(fx->s, &m, fd, size + 1), -EIO);
	assert_null(m);
	close(fd);
	free(data);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_fd_pipe, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_put_fd_sparse_file, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
