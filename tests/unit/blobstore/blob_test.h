/*
 * blob_test.h — fixtures shared by the blobstore unit tests.
 *
 * Included by tests/unit/blobstore/test_*.c (header-only: every helper is
 * static inline, so a test that does not use one does not warn).  Each test
 * runs with a fresh mkdtemp directory under /tmp, holding a store opened with
 * a fixed secret, and removes it afterwards (blob_fx_setup/teardown).  The
 * random generator is a seeded splitmix64 so failures reproduce; the seed
 * is printed once per test.
 *
 * Both backends.  With IMGFS_TEST_CEPH_CONF naming a ceph.conf (ctest sets
 * it for the *_rados runs of the tests that are not about files, on the
 * cluster its `ceph` fixture starts: scripts/ceph-up), the store's chunks
 * are in the pool imgfs-test, in a namespace of the test's own (named
 * like its directory), and its wblobs and tmp/ in the directory as usual.
 * Tests reach chunks only through the helpers below (count, corrupt, age,
 * delete), which work on either; a test about files calls fx_local_only().
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

#include "blobstore_int.h"
#include "blob_rados_test.h"
#include "manifest_test.h"

#define MiB ((uint64_t)1 << 20)

/* cmocka's assert_memory_equal compares byte by byte, far too slowly for
 * megabytes: memcmp first, and let cmocka report only a mismatch. */
#define assert_bytes_equal(a, b, n)                   \
	do {                                              \
		if (memcmp((a), (b), (n)) != 0)               \
			assert_memory_equal((a), (b), (n));       \
	} while (0)

#define FX_POOL "imgfs-test"
#define FX_MAX_STORES 4

struct blob_fx {
	long handles[BLOB_RADOS_HANDLE_KINDS]; /* librados's handles the backend held at setup (RADOS only) */
	char dir[64];   /* the temporary directory */
	char store[96]; /* <dir>/store: the store's root (its wblobs, tmp/; chunks when local) */
	uint8_t secret[BLOB_SECRET_SIZE];
	blob_store *s;
	uint64_t rng;
	const char *ceph_conf; /* NULL: the local backend */
	int nns;               /* namespaces used, emptied at teardown */
	char ns[FX_MAX_STORES][64];
	char ns_name[FX_MAX_STORES][16];
	uint8_t ns_secret[FX_MAX_STORES][BLOB_SECRET_SIZE];
};

static inline bool fx_rados(const struct blob_fx *fx)
{
	return fx->ceph_conf != NULL;
}

/* A test (or part of one) about the local backend's files. */
#define fx_local_only(fx)                                                   \
	do {                                                                    \
		if (fx_rados(fx)) {                                                 \
			fprintf(stderr, "    (about the local backend's files)\n");    \
			skip();                                                         \
		}                                                                   \
	} while (0)

/* A test (or part of one) about a cluster: the local variant skips it. */
#define fx_cluster_only(fx)                                                    \
	do {                                                                       \
		if (!fx_rados(fx)) {                                                   \
			fprintf(stderr, "    (needs a cluster: IMGFS_TEST_CEPH_CONF)\n"); \
			skip();                                                            \
		}                                                                      \
	} while (0)

/* Opens a store named `name` for this test: <dir>/<name> (local), or
 * namespace <test>-<name> of the test pool with <dir>/<name> for its
 * wblobs (RADOS).  The first one, "store", is fx->s. */
static inline int fx_open_store(struct blob_fx *fx, blob_store **out, const char *name, const uint8_t *secret)
{
	char dir[160], spec[512], why[256] = "";
	int rc;

	snprintf(dir, sizeof dir, "%s/%s", fx->dir, name);
	if (!fx_rados(fx))
		return blob_store_open(out, dir, secret);
	if (fx->nns == FX_MAX_STORES)
		return -E2BIG;
	snprintf(fx->ns[fx->nns], sizeof fx->ns[0], "%s-%s", strrchr(fx->dir, '/') + 1, name);
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s", FX_POOL, fx->ceph_conf, fx->ns[fx->nns]);
	rc = blob_store_open_spec(out, spec, dir, name, secret, why, sizeof why);
	if (rc < 0) {
		fprintf(stderr, "    cannot open %s: %s\n", spec, why);
		return rc;
	}
	snprintf(fx->ns_name[fx->nns], sizeof fx->ns_name[0], "%s", name);
	memcpy(fx->ns_secret[fx->nns], secret, BLOB_SECRET_SIZE);
	fx->nns++;
	return rc;
}

/* Another host's client of fx's store (the same namespace, another RADOS
 * client: a cold cache and counters of its own), its wblobs in <dir>/tag. */
static inline blob_store *fx_other_host(struct blob_fx *fx, const char *tag)
{
	char dir[160], spec[512];
	blob_store *s = NULL;

	snprintf(dir, sizeof dir, "%s/%s", fx->dir, tag);
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s", FX_POOL, fx->ceph_conf, fx->ns[0]);
	assert_int_equal(blob_store_open_spec(&s, spec, dir, fx->ns_name[0], fx->secret, NULL, 0), 0);
	return s;
}

/* Cluster disk `name` of s opened (the reason printed if it is not). */
static inline blob_wblob *fx_cl_open(blob_store *s, const char *name)
{
	blob_wblob *w = NULL;
	char why[256] = "";
	int rc = blob_wblob_open_in(&w, s, BLOB_WB_CLUSTER, name, NULL, why, sizeof why);

	if (rc < 0)
		fprintf(stderr, "    open %s: %s (%s)\n", name, strerror(-rc), why);
	assert_int_equal(rc, 0);
	assert_true(blob_wblob_in_cluster(w));
	return w;
}

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
	fx->ceph_conf = getenv("IMGFS_TEST_CEPH_CONF");
	if (fx->ceph_conf != NULL && fx->ceph_conf[0] == '\0')
		fx->ceph_conf = NULL;
	fprintf(stderr, "    seed %llu (BLOB_TEST_SEED)%s\n", (unsigned long long)fx->rng,
	        fx_rados(fx) ? ", chunks in RADOS" : "");
	if ((fx_rados(fx) && blob_rados_test_handles(fx->handles) < 0) ||
	    fx_open_store(fx, &fx->s, "store", fx->secret) < 0) {
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
	int ret = 0;

	blob_rados_test_hold_map(false); /* a test that failed while it held the OSD map */
	blob_store_close(fx->s);
	/* The test's namespaces emptied: every object gone (its chunks, the
	 * disks it left, the store's own), so that a long-lived cluster does
	 * not keep one namespace per test run (gc kept a disk's); one that
	 * cannot be is the test's failure. */
	for (int i = 0; i < fx->nns; i++) {
		int rc = blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[i]);

		if (rc < 0) {
			fprintf(stderr, "    namespace %s not emptied: %s\n", fx->ns[i], strerror(-rc));
			ret = -1;
		}
	}
	if (fx_rados(fx) && blob_rados_test_handles_kept(fx->handles, stderr) != 0) ret = -1; /* a leak, said */
	fx_rm_rf(fx->dir);
	free(fx);
	return ret;
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

static inline int fx_count_one(void *arg, const chunk_id *id, int64_t mtime)
{
	(void)id;
	(void)mtime;
	(*(int *)arg)++;
	return 0;
}

/* Number of chunks in a store, whichever its backend. */
static inline int fx_store_chunks(blob_store *s)
{
	struct blob_backend *be = s->be;
	int n = 0;

	assert_int_equal(be->list(be, fx_count_one, &n), 0);
	return n;
}

static inline int fx_nchunks(struct blob_fx *fx)
{
	return fx_store_chunks(fx->s);
}

/* Flips one byte of a stored chunk where it is stored (a file made
 * writable first; an object rewritten as `rados put` would). */
static inline void fx_corrupt(struct blob_fx *fx, const chunk_id *id, uint64_t where)
{
	struct blob_backend *be = fx->s->be;
	uint8_t *buf;
	size_t len = 0;

	if (!fx_rados(fx)) {
		fx_corrupt_chunk(fx->store, id, where);
		return;
	}
	buf = malloc(BLOB_OBJ_MAX);
	assert_non_null(buf);
	assert_int_equal(be->get(be, id, buf, BLOB_OBJ_MAX, &len), 0);
	assert_true(where < len);
	buf[where] ^= 0x5a;
	assert_int_equal(blob_rados_test_overwrite(be, id, buf, len), 0);
	free(buf);
}

/* Sets the timestamp gc goes by of a chunk of store s. */
static inline void fx_age_in(struct blob_fx *fx, blob_store *s, const char *root, const chunk_id *id, time_t when)
{
	struct timespec ts[2] = {{.tv_sec = when}, {.tv_sec = when}};
	char path[256];

	if (fx_rados(fx)) {
		assert_int_equal(blob_rados_test_set_stamp(s->be, id, when), 0);
		return;
	}
	fx_chunk_path(path, sizeof path, root, id);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static inline void fx_age(struct blob_fx *fx, const chunk_id *id, time_t when)
{
	fx_age_in(fx, fx->s, fx->store, id, when);
}

#endif
