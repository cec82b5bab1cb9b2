/*
 * test_local.c — unit tests for blobstore/backend/local.c: the
 * on-disk layout, put/get/exists/del/list, "already there" refreshing the
 * mtime, concurrent writers of the same chunks, and interrupted writes (a stale half-written temp file, a chunk
 * directory that cannot be used, a write failing halfway) never leaving a
 * visible or readable chunk behind.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "blobstore/blob_test.h"

static void id_from(chunk_id *id, uint8_t first, uint8_t k)
{
	memset(id, 0, sizeof *id);
	id->b[0] = first;
	id->b[15] = k;
	id->b[7] = 1;
}

struct seen {
	int n;
	chunk_id ids[16];
	int64_t mtime[16];
};

static int list_cb(void *arg, const chunk_id *id, int64_t mtime)
{
	struct seen *s = arg;

	if (s->n < 16) {
		s->ids[s->n] = *id;
		s->mtime[s->n] = mtime;
	}
	s->n++;
	return 0;
}

static int stop_cb(void *arg, const chunk_id *id, int64_t mtime)
{
	(void)id;
	(void)mtime;
	++*(int *)arg;
	return 42;
}

static void test_local_basics(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = NULL;
	char root[128], path[256];
	uint8_t data[3000];
	static uint8_t got[BLOB_CHUNK_SIZE]; /* 1 MiB: off the stack (-Wstack-usage) */
	chunk_id a, b;
	struct seen seen = {0};
	struct stat st;
	size_t len = 0;
	int stops = 0;

	snprintf(root, sizeof root, "%s/local", fx->dir);
	assert_int_equal(blob_backend_local_new(&be, root), 0);
	fx_fill(fx, data, sizeof data);
	id_from(&a, 0xab, 1);
	id_from(&b, 0x01, 2);

	assert_int_equal(be->exists(be, &a), 0);
	assert_int_equal(be->get(be, &a, got, sizeof got, &len), -ENOENT);
	assert_int_equal(be->put(be, &a, data, sizeof data, NULL), 1);
	assert_int_equal(be->put(be, &b, data, 10, NULL), 1);
	assert_int_equal(be->exists(be, &a), 1);

	fx_chunk_path(path, sizeof path, root, &a);
	assert_non_null(strstr(path, "/chunks/ab/ab"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, sizeof data);
	assert_int_equal(st.st_mode & 0777, 0444);

	assert_int_equal(be->get(be, &a, got, sizeof got, &len), 0);
	assert_int_equal(len, sizeof data);
	assert_bytes_equal(got, data, sizeof data);

	assert_int_equal(be->list(be, list_cb, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_true(chunk_id_equal(&seen.ids[0], &b)); /* listed by subdirectory order */
	assert_true(chunk_id_equal(&seen.ids[1], &a));
	assert_true(seen.mtime[0] > time(NULL) - 60);
	assert_int_equal(be->list(be, stop_cb, &stops), 42);
	assert_int_equal(stops, 1);

	assert_int_equal(be->del(be, &a), 0);
	assert_int_equal(be->exists(be, &a), 0);
	assert_int_equal(be->del(be, &a), -ENOENT);
	/* Nothing left in tmp/. */
	snprintf(path, sizeof path, "%s/tmp", root);
	assert_int_equal(fx_count_files(path), 0);
	be->free(be);
}

static void test_local_dedupe_refreshes_mtime(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = NULL;
	struct timespec old[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
	char root[128], path[256];
	uint8_t data[100];
	struct stat st;
	chunk_id a;

	snprintf(root, sizeof root, "%s/local", fx->dir);
	assert_int_equal(blob_backend_local_new(&be, root), 0);
	fx_fill(fx, data, sizeof data);
	id_from(&a, 0x33, 3);
	assert_int_equal(be->put(be, &a, data, sizeof data, NULL), 1);
	fx_chunk_path(path, sizeof path, root, &a);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000);
	assert_int_equal(be->put(be, &a, data, sizeof data, NULL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mtim.tv_sec > time(NULL) - 60);
	be->free(be);
}

static void test_interrupted_stale_tmp(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *data = malloc(MiB), *got = malloc(MiB);
	char path[256], name[64];
	size_t len = 0;
	chunk_id id;
	FILE *f;

	assert_non_null(data);
	assert_non_null(got);
	fx_fill(fx, data, MiB);
	blob_store_chunk_id(fx->s, &id, data, MiB);

	/* A writer died halfway: half the bytes under temp names, one looking
	 * like ours and one named after the chunk. */
	chunk_id_fmt(name, &id);
	for (int k = 0; k < 2; k++) {
		if (k == 0)
			snprintf(path, sizeof path, "%s/tmp/%ld.%ld.0.tmp", fx->store, (long)getpid(), (long)gettid());
		else
			snprintf(path, sizeof path, "%s/tmp/%s", fx->store, name);
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(data, 1, MiB / 2, f), MiB / 2);
		fclose(f);
	}
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 0);
	assert_int_equal(blob_store_get_chunk(fx->s, &id, got, MiB, &len), -ENOENT);
	assert_int_equal(fx_count_chunks(fx->store), 0);

	/* A later put works (it never reuses a temp name it did not create)
	 * and reads back whole. */
	assert_int_equal(blob_store_put_chunk(fx->s, &id, data, MiB), 1);
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 1);
	assert_int_equal(blob_store_get_chunk(fx->s, &id, got, MiB, &len), 0);
	assert_int_equal(len, MiB);
	assert_bytes_equal(got, data, MiB);
	free(data);
	free(got);
}

/* A store's chunks/<xx> are made when it opens, so its first upload
 * fsyncs chunks/ once, not once per directory (some 200 for 2 GiB). */
static void test_subs_made_ahead(void **state)
{
	struct blob_fx *fx = *state;
	char path[256];
	struct stat st;
	for (unsigned i = 0; i < 256; i++) {
		snprintf(path, sizeof path, "%s/chunks/%02x", fx->store, i);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
}

static void test_interrupted_unusable_dir(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t data[5000];
	static uint8_t got[BLOB_CHUNK_SIZE]; /* 1 MiB: off the stack (-Wstack-usage) */
	char path[256], hex[33], tmpdir[256];
	size_t len = 0;
	chunk_id id, out;
	FILE *f;

	fx_fill(fx, data, sizeof data);
	blob_store_chunk_id(fx->s, &id, data, sizeof data);
	chunk_id_fmt(hex, &id);
	/* chunks/<xx> is a file: the chunk cannot be placed. */
	snprintf(path, sizeof path, "%s/chunks/%.2s", fx->store, hex);
	rmdir(path); /* made ahead when the store opened (local.c) */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(blob_store_put_chunk(fx->s, &out, data, sizeof data), -ENOTDIR);
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 0);
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", fx->store);
	assert_int_equal(fx_count_files(tmpdir), 0); /* the temp file is gone */

	assert_int_equal(unlink(path), 0);
	assert_int_equal(blob_store_put_chunk(fx->s, &out, data, sizeof data), 1);
	assert_true(chunk_id_equal(&out, &id));
	assert_int_equal(blob_store_get_chunk(fx->s, &id, got, sizeof got, &len), 0);
	assert_int_equal(len, sizeof data);
	assert_bytes_equal(got, data, sizeof data);
}

static void test_interrupted_write_fails_halfway(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *data = malloc(MiB), *got = malloc(MiB);
	struct rlimit old, lim;
	char tmpdir[256];
	size_t len = 0;
	chunk_id id, out;
	int rc;

	assert_non_null(data);
	assert_non_null(got);
	fx_fill(fx, data, MiB);
	blob_store_chunk_id(fx->s, &id, data, MiB);
	/* Files may not grow past 256 KiB: the write stops a quarter of the
	 * way in, as on a full disk. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 256 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = blob_store_put_chunk(fx->s, &out, data, MiB);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 0);
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", fx->store);
	assert_int_equal(fx_count_files(tmpdir), 0);
	assert_int_equal(fx_count_chunks(fx->store), 0);

	assert_int_equal(blob_store_put_chunk(fx->s, &out, data, MiB), 1);
	assert_int_equal(blob_store_get_chunk(fx->s, &id, got, MiB, &len), 0);
	assert_bytes_equal(got, data, MiB);
	free(data);
	free(got);
}

struct putter {
	blob_store *s;
	const uint8_t *chunks; /* 16 chunks of 64 KiB */
	int start;
	int newly[16];
	int errors;
};

static void *putter_main(void *arg)
{
	struct putter *p = arg;

	for (int k = 0; k < 16; k++) {
		int c = (p->start + k) % 16;
		chunk_id id;
		int rc = blob_store_put_chunk(p->s, &id, p->chunks + (size_t)c * 65536, 65536);

		if (rc < 0)
			p->errors++;
		else
			p->newly[c] += rc;
	}
	return NULL;
}

/* A backend batch holds BLOB_BATCH_MAX chunks: the last one it takes is
 * staged (1), one more is -E2BIG and changes nothing; committed, the
 * BLOB_BATCH_MAX are there (mutate survivor #163 of local.c). */
static void test_batch_holds_max(void **state)
{
	struct blob_fx *fx = *state;
	const struct blob_backend_batching *bt = fx->s->be->batching;
	struct blob_backend_batch *bb = NULL;
	chunk_id ids[BLOB_BATCH_MAX + 1];
	uint8_t *buf = blob_chunk_buf_new();

	assert_non_null(buf);
	assert_int_equal(bt->new_batch(fx->s->be, &bb), 0);
	for (int i = 0; i <= BLOB_BATCH_MAX; i++) {
		fx_fill(fx, buf, 1000);
		blob_store_chunk_id(fx->s, &ids[i], buf, 1000);
		assert_int_equal(bt->add(bb, &ids[i], &buf, 1000, NULL), i < BLOB_BATCH_MAX ? 1 : -E2BIG);
	}
	assert_int_equal(bt->commit(bb), BLOB_BATCH_MAX);
	bt->free(bb);
	for (int i = 0; i <= BLOB_BATCH_MAX; i++)
		assert_int_equal(blob_store_has_chunk(fx->s, &ids[i]), i < BLOB_BATCH_MAX);
	free(buf);
}

/* A batch adding a chunk the store holds touches it (gc's clock) and
 * writes nothing: add answers 0, not 1, and the commit counts no new
 * chunk (mutate #97 of local.c: the existence check removed). */
static void test_batch_add_existing(void **state)
{
	struct blob_fx *fx = *state;
	const struct blob_backend_batching *bt = fx->s->be->batching;
	struct blob_backend_batch *bb = NULL;
	struct timespec old[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
	uint8_t *buf = blob_chunk_buf_new();
	char path[256];
	struct stat st;
	ino_t ino;
	chunk_id id;

	assert_non_null(buf);
	fx_fill(fx, buf, 2000);
	blob_store_chunk_id(fx->s, &id, buf, 2000);
	assert_int_equal(bt->new_batch(fx->s->be, &bb), 0);
	assert_int_equal(bt->add(bb, &id, &buf, 2000, NULL), 1);
	assert_int_equal(bt->commit(bb), 1);
	bt->free(bb);
	fx_chunk_path(path, sizeof path, fx->store, &id);
	if (stat(path, &st) < 0)
		fail_msg("no chunk file at %s", path);
	ino = st.st_ino;
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(bt->new_batch(fx->s->be, &bb), 0);
	assert_int_equal(bt->add(bb, &id, &buf, 2000, NULL), 0);
	assert_int_equal(bt->commit(bb), 0);
	bt->free(bb);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_ino, ino);
	assert_true(st.st_mtim.tv_sec > time(NULL) - 60);
	free(buf);
}

/* stat of a chunk: its size and time; a missing one, or one whose
 * chunks/<xx> is not a directory, is ENOENT (mutate #389 of local.c). */
static void test_stat(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = NULL;
	char root[128], path[256];
	uint8_t data[300];
	uint64_t size = 0;
	int64_t mtime = 0;
	chunk_id a, b;

	snprintf(root, sizeof root, "%s/local", fx->dir);
	assert_int_equal(blob_backend_local_new(&be, root), 0);
	fx_fill(fx, data, sizeof data);
	id_from(&a, 0x44, 1);
	id_from(&b, 0x77, 2);
	assert_int_equal(be->stat(be, &a, &size, &mtime), -ENOENT);
	assert_int_equal(be->put(be, &a, data, sizeof data, NULL), 1);
	assert_int_equal(be->stat(be, &a, &size, &mtime), 0);
	assert_int_equal(size, sizeof data);
	assert_true(mtime > time(NULL) - 60);
	/* chunks/77 a file, not a directory: ENOTDIR underneath, ENOENT out. */
	snprintf(path, sizeof path, "%s/chunks/77", root);
	(void)rmdir(path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(be->stat(be, &b, &size, &mtime), -ENOENT);
	be->free(be);
}

/* Many writers placing the same chunks at once: every put succeeds, each
 * chunk is new for exactly one of them, nothing is left in tmp/. */
static void test_concurrent_puts(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *chunks = malloc(16 * 65536);
	struct putter p[8];
	pthread_t t[8];
	char tmpdir[256];

	assert_non_null(chunks);
	for (int round = 0; round < 5; round++) {
		fx_fill(fx, chunks, 16 * 65536);
		for (int i = 0; i < 8; i++) {
			p[i] = (struct putter){.s = fx->s, .chunks = chunks, .start = i % 2 ? 0 : 8};
			assert_int_equal(pthread_create(&t[i], NULL, putter_main, &p[i]), 0);
		}
		for (int i = 0; i < 8; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		for (int c = 0; c < 16; c++) {
			int total = 0;
			for (int i = 0; i < 8; i++)
				total += p[i].newly[c];
			assert_int_equal(total, 1);
		}
		for (int i = 0; i < 8; i++)
			assert_int_equal(p[i].errors, 0);
	}
	assert_int_equal(fx_count_chunks(fx->store), 5 * 16);
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", fx->store);
	assert_int_equal(fx_count_files(tmpdir), 0);
	free(chunks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_local_basics, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_local_dedupe_refreshes_mtime, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_puts, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_stale_tmp, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_subs_made_ahead, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_unusable_dir, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_write_fails_halfway, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_add_existing, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stat, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_holds_max, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
