/*
 * blob_test.h — fixtures shared by the blobstore unit tests.
 *
 * Included by tests/unit/blobstore/test_*.c (header-only: every helper is
 * static inline, so a test that does not use one does not warn).  Each test
 * runs with a fresh mkdtemp directory under /tmp, holding a store opened with
 * a fixed secret, and removes it afterwards (blob_fx_setup/teardown).  The
 * random generator is a seeded splitmix64 so failures reproduce; the seed
 * is printed once per test.
 */
#ifndef IMGFS_TEST_BLOB_TEST_H
#define IMGFS_TEST_BLOB_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blobstore.h"

#define MiB ((uint64_t)1 << 20)

/* cmocka's assert_memory_equal compares byte by byte, far too slowly for
 * megabytes: memcmp first, and let cmocka report only a mismatch. */
#define assert_bytes_equal(a, b, n)                   \
	do {                                              \
		if (memcmp((a), (b), (n)) != 0)               \
			assert_memory_equal((a), (b), (n));       \
	} while (0)

struct blob_fx {
	char dir[64];   /* the temporary directory */
	char store[96]; /* <dir>/store: the store's root */
	uint8_t secret[BLOB_SECRET_SIZE];
	blob_store *s;
	uint64_t rng;
};

static inline uint64_t fx_rand(struct blob_fx *fx)
{
	uint64_t z = (fx->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static inline uint64_t fx_below(struct blob_fx *fx, uint64_t n)
{
	return n ? fx_rand(fx) % n : 0;
}

static inline void fx_fill(struct blob_fx *fx, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t r = fx_rand(fx);
		memcpy(p + i, &r, 8);
	}
	if (i < len) {
		uint64_t r = fx_rand(fx);
		memcpy(p + i, &r, len - i);
	}
}

static inline void fx_secret(uint8_t out[BLOB_SECRET_SIZE], uint8_t seed)
{
	for (int i = 0; i < BLOB_SECRET_SIZE; i++)
		out[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 3));
}

static inline int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void fx_rm_rf(const char *dir)
{
	nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int blob_fx_setup(void **state)
{
	struct blob_fx *fx = calloc(1, sizeof *fx);
	const char *seed = getenv("BLOB_TEST_SEED");

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/imgfs-blobtest-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->store, sizeof fx->store, "%s/store", fx->dir);
	fx_secret(fx->secret, 1);
	fx->rng = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	fprintf(stderr, "    seed %llu (BLOB_TEST_SEED)\n", (unsigned long long)fx->rng);
	if (blob_store_open(&fx->s, fx->store, fx->secret) < 0) {
		fx_rm_rf(fx->dir);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static inline int blob_fx_teardown(void **state)
{
	struct blob_fx *fx = *state;

	blob_store_close(fx->s);
	fx_rm_rf(fx->dir);
	free(fx);
	return 0;
}

/* Path of a chunk's file in the store at root. */
static inline void fx_chunk_path(char *out, size_t cap, const char *root, const chunk_id *id)
{
	char hex[33];

	chunk_id_fmt(hex, id);
	snprintf(out, cap, "%s/chunks/%.2s/%s", root, hex, hex);
}

/* Number of regular files under dir (recursively); -1 if dir is missing. */
static inline int fx_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[512];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
			continue;
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			n += fx_count_files(path);
		else if (S_ISREG(st.st_mode))
			n++;
	}
	closedir(d);
	return n;
}

static inline int fx_count_chunks(const char *root)
{
	char path[256];

	snprintf(path, sizeof path, "%s/chunks", root);
	return fx_count_files(path);
}

/* A blob of `size` bytes in memory: random data with whole-chunk holes
 * (probability hole_pct %), sometimes partial zero runs inside data chunks
 * (never the whole chunk: a data chunk has a non-zero byte). */
static inline uint8_t *fx_make_blob(struct blob_fx *fx, uint64_t size, int hole_pct)
{
	uint8_t *buf = calloc(size ? size : 1, 1);

	assert_non_null(buf);
	for (uint64_t off = 0; off < size; off += MiB) {
		size_t len = size - off < MiB ? (size_t)(size - off) : (size_t)MiB;

		if ((int)fx_below(fx, 100) < hole_pct)
			continue;
		fx_fill(fx, buf + off, len);
		if (fx_below(fx, 4) == 0) { /* a zero run inside data */
			size_t a = (size_t)fx_below(fx, len);
			size_t n = (size_t)fx_below(fx, len - a + 1);
			if (a == 0 && n == len)
				n--; /* a data chunk stays data */
			memset(buf + off + a, 0, n);
		}
	}
	return buf;
}

/* Flips one byte of a stored chunk file (made writable first). */
static inline void fx_corrupt_chunk(const char *root, const chunk_id *id, uint64_t where)
{
	char path[256];
	uint8_t b;
	int fd;

	fx_chunk_path(path, sizeof path, root, id);
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)where), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)where), 1);
	close(fd);
}

#endif
