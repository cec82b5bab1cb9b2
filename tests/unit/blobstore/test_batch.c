/*
 * test_batch.c — unit tests for blobstore/batch.c and the local backend's
 * batch operations: a batch gives the ids single puts give (checked against
 * a second store filled chunk by chunk), all-zero chunks are holes, equal
 * chunks are stored once (within a batch, across its background commits,
 * and against the store), every chunk reads back once committed, tmp/ is
 * empty afterwards; failures (a write that stops halfway, a chunk directory
 * that cannot be used, a backend reporting ENOSPC or EIO, in the foreground
 * or in a background commit) are returned, stick, and leave no uncommitted
 * chunk visible; nothing is visible before the commit; mtimes as gc needs
 * them; the same answers without backend batch operations, and with the
 * backend syncing file by file instead of by syncfs; batches of several
 * threads racing for the same chunks; seals and put_buf spanning several
 * batches, a seal stopped in the middle, and a process SIGKILLed while its
 * batches write (every name it left verifies).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "blob_test.h"
#include "blobstore_int.h"

/* A test set of chunks: lengths vary, some are all zeros, some repeat. */
struct chunkset {
	size_t n;
	uint8_t **buf;
	size_t *len;
};

enum { KIND_DATA, KIND_ZERO, KIND_REPEAT };

static void chunkset_make(struct blob_fx *fx, struct chunkset *cs, size_t n, size_t maxlen)
{
	cs->n = n;
	cs->buf = calloc(n, sizeof *cs->buf);
	cs->len = calloc(n, sizeof *cs->len);
	assert_non_null(cs->buf);
	assert_non_null(cs->len);
	for (size_t i = 0; i < n; i++) {
		int kind = i < 2 ? KIND_DATA : (int)fx_below(fx, 8);

		if (kind == KIND_REPEAT) { /* a copy of an earlier chunk, near or far */
			size_t j = (size_t)fx_below(fx, i);
			cs->len[i] = cs->len[j];
			cs->buf[i] = malloc(cs->len[i]);
			assert_non_null(cs->buf[i]);
			memcpy(cs->buf[i], cs->buf[j], cs->len[i]);
			continue;
		}
		cs->len[i] = 1 + (size_t)fx_below(fx, maxlen);
		cs->buf[i] = calloc(1, cs->len[i]);
		assert_non_null(cs->buf[i]);
		if (kind != KIND_ZERO)
			fx_fill(fx, cs->buf[i], cs->len[i]);
		if (kind != KIND_ZERO && blob_is_zero(cs->buf[i], cs->len[i]))
			cs->buf[i][0] = 1;
	}
}

static void chunkset_free(struct chunkset *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		free(cs->buf[i]);
	free(cs->buf);
	free(cs->len);
}

static int tmp_files(struct blob_fx *fx)
{
	char path[256];

	snprintf(path, sizeof path, "%s/tmp", fx->store);
	return fx_count_files(path);
}

/* Distinct small data chunks, n of them. */
static void distinct_chunks(struct blob_fx *fx, struct chunkset *cs, size_t n)
{
	chunkset_make(fx, cs, n, 2048);
	for (size_t i = 0; i < n; i++)
		fx_fill(fx, cs->buf[i], cs->len[i]);
}

/* Every non-null id reads back as its bytes. */
static void assert_readable(struct blob_fx *fx, const struct chunkset *cs, const chunk_id *ids)
{
	uint8_t *got = malloc(BLOB_CHUNK_SIZE);
	size_t len = 0;

	assert_non_null(got);
	for (size_t i = 0; i < cs->n; i++) {
		if (chunk_id_is_null(&ids[i]))
			continue;
		assert_int_equal(blob_store_get_chunk(fx->s, &ids[i], got, BLOB_CHUNK_SIZE, &len), 0);
		assert_int_equal(len, cs->len[i]);
		assert_bytes_equal(got, cs->buf[i], len);
	}
	free(got);
}

/* Adds every chunk of cs; returns commit's answer.  *news = sum of the adds'. */
static int add_all(blob_batch *b, const struct chunkset *cs, chunk_id *ids, int *news)
{
	int rc;

	*news = 0;
	for (size_t i = 0; i < cs->n; i++) {
		if ((rc = blob_batch_add(b, &ids[i], cs->buf[i], cs->len[i])) < 0)
			return rc;
		*news += rc;
	}
	return blob_batch_commit(b);
}

/* Ids, holes and counts equal those of single puts into a second store
 * with the same secret, over more chunks than two batches hold (so a
 * background commit runs), with chunks the store had before. */
static void test_batch_matches_single_puts(void **state)
{
	struct blob_fx *fx = *state;
	size_t n = 3 * BLOB_BATCH_MAX + 17;
	chunk_id *ids = calloc(n, sizeof *ids), ref_id;
	struct chunkset cs;
	blob_store *ref = NULL;
	blob_batch *b = NULL;
	char dir[128];
	int ref_new = 0, had = 0, news = 0;

	assert_non_null(ids);
	chunkset_make(fx, &cs, n, 64 * 1024);
	snprintf(dir, sizeof dir, "%s/ref", fx->dir);
	assert_int_equal(blob_store_open(&ref, dir, fx->secret), 0);
	/* Every 10th chunk is in the store already. */
	for (size_t i = 0; i < n; i += 10)
		had += blob_store_put_chunk(fx->s, &ref_id, cs.buf[i], cs.len[i]);
	for (size_t i = 0; i < n; i++) {
		int rc = blob_store_put_chunk(ref, &ref_id, cs.buf[i], cs.len[i]);
		assert_true(rc >= 0);
		ref_new += rc;
	}

	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(add_all(b, &cs, ids, &news), ref_new - had);
	/* RADOS's batches do not ask before adding: its exclusive create
	 * finds the chunks the store had, and only the commit counts them
	 * out. */
	assert_int_equal(news, fx_rados(fx) ? ref_new : ref_new - had);
	assert_int_equal(blob_batch_commit(b), ref_new - had); /* again: nothing more */
	blob_batch_free(b);

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(blob_store_put_chunk(ref, &ref_id, cs.buf[i], cs.len[i]), 0);
		assert_true(chunk_id_equal(&ids[i], &ref_id));
		assert_int_equal(chunk_id_is_null(&ids[i]), blob_is_zero(cs.buf[i], cs.len[i]));
	}
	assert_int_equal(fx_nchunks(fx), ref_new);
	assert_readable(fx, &cs, ids);
	assert_int_equal(tmp_files(fx), 0);
	blob_store_close(ref);
	chunkset_free(&cs);
	free(ids);
}

/* The same where the backend syncs each file and directory (what it does
 * on file systems whose syncfs it does not trust). */
static void test_batch_matches_single_puts_per_file(void **state)
{
	struct blob_fx *fx = *state;

	fx_local_only(fx);
	blob_local_set_whole_fs(fx->s->be, false);
	test_batch_matches_single_puts(state);
}

struct racer {
	struct blob_fx *fx;
	const struct chunkset *cs;
	size_t start;
	int placed;
	int rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	const struct chunkset *cs = r->cs;
	blob_batch *b = NULL;
	chunk_id id;

	if ((r->rc = blob_batch_new(&b, r->fx->s)) < 0)
		return NULL;
	for (size_t k = 0; k < cs->n && r->rc >= 0; k++) {
		size_t i = (r->start + k) % cs->n;
		r->rc = blob_batch_add(b, &id, cs->buf[i], cs->len[i]);
	}
	if (r->rc >= 0)
		r->rc = r->placed = blob_batch_commit(b);
	blob_batch_free(b);
	return NULL;
}

/* Batches of several threads placing the same chunks at once (links that
 * find the name taken): every one succeeds, each chunk is placed by
 * exactly one, nothing is left in tmp/. */
static void test_batch_concurrent(void **state)
{
	struct blob_fx *fx = *state;
	size_t n = 2 * BLOB_BATCH_MAX + 7;
	chunk_id *ids = calloc(n, sizeof *ids);
	struct racer r[4];
	pthread_t t[4];
	struct chunkset cs;
	int total = 0;

	assert_non_null(ids);
	distinct_chunks(fx, &cs, n);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){.fx = fx, .cs = &cs, .start = (size_t)i * n / 4};
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(r[i].rc >= 0);
		total += r[i].placed;
	}
	assert_int_equal(total, (int)n);
	assert_int_equal(fx_nchunks(fx), (int)n);
	for (size_t i = 0; i < n; i++)
		blob_store_chunk_id(fx->s, &ids[i], cs.buf[i], cs.len[i]);
	assert_readable(fx, &cs, ids);
	assert_int_equal(tmp_files(fx), 0);
	chunkset_free(&cs);
	free(ids);
}

/* Two equal chunks in one batch are stored once, without an error; the
 * same bytes again after the commit are "already there". */
static void test_batch_equal_chunks(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t data[5000], zeros[300] = {0};
	blob_batch *b = NULL;
	chunk_id a, a2, z, a3;

	fx_fill(fx, data, sizeof data);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_add(b, &a, data, sizeof data), 1);
	assert_int_equal(blob_batch_add(b, &z, zeros, sizeof zeros), 0);
	assert_int_equal(blob_batch_add(b, &a2, data, sizeof data), 0);
	assert_true(chunk_id_is_null(&z));
	assert_true(chunk_id_equal(&a, &a2));
	/* Not visible before the commit (a RADOS write in flight may have
	 * landed already: whole, as any object). */
	if (!fx_rados(fx)) {
		assert_int_equal(blob_store_has_chunk(fx->s, &a), 0);
		assert_int_equal(fx_nchunks(fx), 0);
	}
	assert_int_equal(blob_batch_commit(b), 1);
	assert_int_equal(blob_store_has_chunk(fx->s, &a), 1);
	assert_int_equal(blob_batch_add(b, &a3, data, sizeof data), 0);
	assert_true(chunk_id_equal(&a, &a3));
	assert_int_equal(blob_batch_commit(b), 1);
	blob_batch_free(b);
	assert_int_equal(fx_nchunks(fx), 1);
	assert_int_equal(tmp_files(fx), 0);
}

/* A batch freed without a commit leaves nothing: no chunk, no temp file
 * (RADOS: writes that were in flight land whole or not at all). */
static void test_batch_free_uncommitted(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t data[4096];
	blob_batch *b = NULL;
	chunk_id id;

	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	for (int i = 0; i < 10; i++) {
		fx_fill(fx, data, sizeof data);
		assert_int_equal(blob_batch_add(b, &id, data, sizeof data), 1);
	}
	blob_batch_free(b);
	blob_batch_free(NULL);
	if (fx_rados(fx)) {
		assert_true(fx_nchunks(fx) <= 10);
		assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
	} else {
		assert_int_equal(fx_nchunks(fx), 0);
	}
	assert_int_equal(tmp_files(fx), 0);
}

/* A write that stops halfway (file size limit, as on a full disk): the
 * error comes back (from the commit: the write runs on a lane), sticks,
 * and nothing of the batch becomes visible. */
static void test_batch_write_fails(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *big, small[1000];
	struct rlimit old, lim;
	blob_batch *b = NULL;
	chunk_id id;
	int rc;

	fx_local_only(fx);
	big = malloc(MiB);
	assert_non_null(big);
	fx_fill(fx, big, MiB);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 256 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < 3; i++) {
		fx_fill(fx, small, sizeof small);
		assert_int_equal(blob_batch_add(b, &id, small, sizeof small), 1);
	}
	rc = blob_batch_add(b, &id, big, MiB);
	if (rc == 1)
		rc = blob_batch_commit(b);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc, -EFBIG);
	/* Sticky: a later add or commit does not pretend to succeed. */
	assert_int_equal(blob_batch_add(b, &id, small, sizeof small), -EFBIG);
	assert_int_equal(blob_batch_commit(b), -EFBIG);
	blob_batch_free(b);
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 0);
	assert_int_equal(tmp_files(fx), 0);
	assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
	free(big);
}

/* Chunks of a batch whose directory cannot be used (chunks/<xx> is a
 * file): the commit fails with ENOTDIR, that chunk is not there, what was
 * placed reads back whole, and tmp/ is empty. */
static void test_batch_link_fails(void **state)
{
	struct blob_fx *fx = *state;
	struct chunkset cs;
	chunk_id ids[40];
	blob_batch *b = NULL;
	char path[256], hex[33];
	int news = 0;
	FILE *f;

	fx_local_only(fx);
	chunkset_make(fx, &cs, 40, 8192);
	for (size_t i = 0; i < cs.n; i++) /* no holes, no repeats here */
		fx_fill(fx, cs.buf[i], cs.len[i]);
	blob_store_chunk_id(fx->s, &ids[20], cs.buf[20], cs.len[20]);
	chunk_id_fmt(hex, &ids[20]);
	snprintf(path, sizeof path, "%s/chunks/%.2s", fx->store, hex);
	rmdir(path); /* made ahead when the store opened (local.c) */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);

	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(add_all(b, &cs, ids, &news), -ENOTDIR);
	assert_int_equal(news, 40);
	assert_int_equal(blob_batch_commit(b), -ENOTDIR);
	blob_batch_free(b);
	assert_int_equal(blob_store_has_chunk(fx->s, &ids[20]), 0);
	assert_int_equal(tmp_files(fx), 0);
	for (size_t i = 0; i < cs.n; i++) { /* placed ones are whole */
		uint8_t got[8192];
		size_t len = 0;

		if (blob_store_has_chunk(fx->s, &ids[i]) != 1)
			continue;
		assert_int_equal(blob_store_get_chunk(fx->s, &ids[i], got, sizeof got, &len), 0);
		assert_int_equal(len, cs.len[i]);
		assert_bytes_equal(got, cs.buf[i], len);
	}
	assert_true(fx_nchunks(fx) < 40);

	/* The directory usable again: the same chunks go in. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_true(add_all(b, &cs, ids, &news) >= 1);
	blob_batch_free(b);
	assert_int_equal(fx_nchunks(fx), 40);
	assert_readable(fx, &cs, ids);
	chunkset_free(&cs);
}

/* ---- a backend that fails on demand ------------------------------------- */

/* Lanes call the backend from their threads: the counters are atomic. */
static struct blob_backend real; /* the store's backend as it was */
static struct blob_backend_batching real_bt, flaky_bt; /* its batching, and ours */
static int fail_add_at = -1;     /* batch_add call number that fails */
static int fail_commit_from = -1; /* batch_commit calls from this one on fail */
static int fail_put_at = -1;     /* put call number that fails */
static int fail_err;
static int fail_has_err; /* has_many answers it when nonzero */
static atomic_int calls_add, calls_commit, calls_put;

static int flaky_has_many(struct blob_backend_batch *bb, const chunk_id *ids, size_t n, uint8_t *found)
{
	if (fail_has_err != 0)
		return fail_has_err;
	return real_bt.has_many(bb, ids, n, found);
}

static useconds_t add_delay; /* each add waits this long first */
static atomic_int adds_now, adds_most; /* adds in progress, and their most */

static int flaky_add(struct blob_backend_batch *bb, const chunk_id *id, uint8_t **buf, size_t len, const uint8_t *dig)
{
	int now = atomic_fetch_add(&adds_now, 1) + 1, most = atomic_load(&adds_most), rc;

	while (now > most && !atomic_compare_exchange_weak(&adds_most, &most, now))
		;
	if (add_delay > 0)
		usleep(add_delay);
	rc = atomic_fetch_add(&calls_add, 1) == fail_add_at ? fail_err : real_bt.add(bb, id, buf, len, dig);
	atomic_fetch_sub(&adds_now, 1);
	return rc;
}

/* Fails like a commit whose first fsync failed: nothing is placed (the
 * batch keeps its temp files until it is freed). */
static int flaky_commit(struct blob_backend_batch *bb)
{
	if (fail_commit_from >= 0 && atomic_fetch_add(&calls_commit, 1) >= fail_commit_from)
		return fail_err;
	return real_bt.commit(bb);
}

static int flaky_put(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len, const uint8_t *dig)
{
	if (atomic_fetch_add(&calls_put, 1) == fail_put_at)
		return fail_err;
	return real.put(be, id, buf, len, dig);
}

static void flaky_install(struct blob_fx *fx, int add_at, int commit_from, int put_at, int err)
{
	real = *fx->s->be;
	fail_add_at = add_at;
	fail_commit_from = commit_from;
	fail_put_at = put_at;
	fail_err = err;
	fail_has_err = 0;
	add_delay = 0;
	atomic_store(&adds_most, 0);
	atomic_store(&calls_add, 0);
	atomic_store(&calls_commit, 0);
	atomic_store(&calls_put, 0);
	if (real.batching != NULL) {
		real_bt = flaky_bt = *real.batching;
		flaky_bt.add = flaky_add;
		flaky_bt.commit = flaky_commit;
		flaky_bt.has_many = flaky_has_many;
		fx->s->be->batching = &flaky_bt;
	}
	fx->s->be->put = flaky_put;
}

static void flaky_remove(struct blob_fx *fx)
{
	fx->s->be->batching = real.batching;
	fx->s->be->put = real.put;
}

/* No chunk file left in tmp/, and every stored chunk verifies. */
static void assert_clean(struct blob_fx *fx)
{
	assert_int_equal(tmp_files(fx), 0);
	assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
}

/* Every lane busy: with adds that take 20 ms, 4 x BLOB_BATCH_LANES chunks
 * added in a row keep exactly BLOB_BATCH_LANES adds in flight at the most
 * (the local backend's lanes: the bound at its limit, never one past);
 * the commit places every chunk, and the batch is freed with all its lanes
 * started.  Local only: RADOS asks for fewer lanes. */
static void test_batch_every_lane_busy(void **state)
{
	struct blob_fx *fx = *state;
	size_t n = 4 * BLOB_BATCH_LANES;
	chunk_id *ids;
	struct chunkset cs;
	blob_batch *b = NULL;
	int news = 0;

	fx_local_only(fx);
	ids = calloc(n, sizeof *ids);
	assert_non_null(ids);
	assert_int_equal(fx->s->be->batching->lanes, BLOB_BATCH_LANES);
	distinct_chunks(fx, &cs, n);
	flaky_install(fx, -1, -1, -1, 0);
	add_delay = 20000;
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(add_all(b, &cs, ids, &news), (int)n);
	assert_int_equal(news, (int)n);
	blob_batch_free(b);
	flaky_remove(fx);
	assert_int_equal(atomic_load(&adds_most), BLOB_BATCH_LANES);
	assert_readable(fx, &cs, ids);
	chunkset_free(&cs);
	free(ids);
}

/* A backend that asks before adding (the local one) and whose question
 * fails, with -EPERM (-1: the one errno a "< -1" would pass over): the add
 * returns it, it sticks, and the chunk is not there (mutate survivor #167
 * of batch.c).  RADOS does not ask first. */
static void test_batch_has_many_fails(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t buf[1000];
	blob_batch *b = NULL;
	chunk_id id;

	fx_local_only(fx);
	fx_fill(fx, buf, sizeof buf);
	flaky_install(fx, -1, -1, -1, 0);
	assert_true(fx->s->be->batching->ask_first);
	fail_has_err = -EPERM;
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_add(b, &id, buf, sizeof buf), -EPERM);
	fail_has_err = 0;
	assert_int_equal(blob_batch_add(b, &id, buf, sizeof buf), -EPERM);
	assert_int_equal(blob_batch_commit(b), -EPERM);
	blob_batch_free(b);
	flaky_remove(fx);
	assert_int_equal(blob_store_has_chunk(fx->s, &id), 0);
	assert_clean(fx);
}

/* blob_batch_add_file: a file's chunk is taken by a link (1), the same id
 * again is taken before (1), and the 65th file, after BLOB_BATCH_MAX
 * staged, commits them first and is taken even when that commit placed
 * none (another writer stored all 64 meanwhile: the commit answers 0,
 * which is not an error).  Each chunk reads back as its file.  RADOS
 * links nothing: 0, the caller copies the bytes.  (mutate survivors #194,
 * #195, #210 of batch.c) */
static void test_batch_add_file(void **state)
{
	struct blob_fx *fx = *state;
	const size_t n = BLOB_BATCH_MAX + 1, len = 4096;
	uint8_t *buf = malloc(n * len), got[4096];
	chunk_id ids[BLOB_BATCH_MAX + 1], id;
	int fds[BLOB_BATCH_MAX + 1];
	blob_batch *b = NULL;
	char path[256];

	assert_non_null(buf);
	fx_fill(fx, buf, n * len);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/file%zu", fx->dir, i);
		fds[i] = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fds[i] >= 0);
		assert_int_equal(pwrite(fds[i], buf + i * len, len, 0), (ssize_t)len);
		blob_store_chunk_id(fx->s, &ids[i], buf + i * len, len);
	}
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	if (fx_rados(fx)) {
		assert_int_equal(blob_batch_add_file(b, &ids[0], fds[0], NULL, NULL), 0);
	} else {
		for (size_t i = 0; i < BLOB_BATCH_MAX; i++)
			assert_int_equal(blob_batch_add_file(b, &ids[i], fds[i], NULL, NULL), 1);
		assert_int_equal(blob_batch_add_file(b, &ids[3], fds[3], NULL, NULL), 1); /* taken before */
		for (size_t i = 0; i < BLOB_BATCH_MAX; i++)
			assert_int_equal(blob_store_put_chunk(fx->s, &id, buf + i * len, len), 1);
		assert_int_equal(blob_batch_add_file(b, &ids[n - 1], fds[n - 1], NULL, NULL), 1);
		assert_true(blob_batch_commit(b) >= 0);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(blob_store_read_chunk(fx->s, NULL, &ids[i], len, got, 0, len), 0);
			assert_memory_equal(got, buf + i * len, len);
		}
		assert_int_equal(tmp_files(fx), 0);
	}
	blob_batch_free(b);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	free(buf);
}

/* ENOSPC from the backend while a lane stages a chunk: returned by a later
 * add or the commit, sticky; the chunk it failed on is not there, nothing
 * uncommitted is, and what was committed is whole. */
static void test_batch_enospc_on_add(void **state)
{
	struct blob_fx *fx = *state;
	size_t n = 2 * BLOB_BATCH_MAX + 10;
	chunk_id *ids = calloc(n, sizeof *ids), id;
	struct chunkset cs;
	blob_batch *b = NULL;
	int news = 0;

	assert_non_null(ids);
	distinct_chunks(fx, &cs, n);
	flaky_install(fx, BLOB_BATCH_MAX + 5, -1, -1, -ENOSPC);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(add_all(b, &cs, ids, &news), -ENOSPC);
	assert_true(news >= BLOB_BATCH_MAX + 5);
	assert_int_equal(blob_batch_add(b, &id, cs.buf[0], cs.len[0]), -ENOSPC);
	assert_int_equal(blob_batch_commit(b), -ENOSPC);
	blob_batch_free(b);
	flaky_remove(fx);
	assert_true(fx_nchunks(fx) < (int)n);
	assert_clean(fx);
	chunkset_free(&cs);
	free(ids);
}

/* EIO from every commit, including the ones lanes make on their own when
 * they hold BLOB_BATCH_MAX chunks (more chunks than all lanes hold without
 * committing): returned by an add or the commit; nothing visible. */
static void test_batch_eio_in_background_commit(void **state)
{
	struct blob_fx *fx = *state;
	size_t n = 8 * BLOB_BATCH_MAX + 10;
	chunk_id *ids = calloc(n, sizeof *ids);
	struct chunkset cs;
	blob_batch *b = NULL;
	int news = 0;

	assert_non_null(ids);
	distinct_chunks(fx, &cs, n);
	flaky_install(fx, -1, 0, -1, -EIO);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(add_all(b, &cs, ids, &news), -EIO);
	assert_true(news < (int)n); /* an add reported it: the commits ran behind */
	assert_int_equal(blob_batch_commit(b), -EIO);
	blob_batch_free(b);
	flaky_remove(fx);
	if (!fx_rados(fx)) /* RADOS: what was written landed whole (assert_clean) */
		assert_int_equal(fx_nchunks(fx), 0);
	assert_clean(fx);
	chunkset_free(&cs);
	free(ids);
}

/* EIO from the final commits: the error is returned, nothing is visible. */
static void test_batch_eio_in_final_commit(void **state)
{
	struct blob_fx *fx = *state;
	struct chunkset cs;
	chunk_id ids[20];
	blob_batch *b = NULL;
	int news = 0;

	distinct_chunks(fx, &cs, 20);
	flaky_install(fx, -1, 0, -1, -EIO);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(add_all(b, &cs, ids, &news), -EIO);
	assert_int_equal(news, 20);
	blob_batch_free(b);
	flaky_remove(fx);
	if (!fx_rados(fx)) /* RADOS: what was written landed whole (assert_clean) */
		assert_int_equal(fx_nchunks(fx), 0);
	assert_clean(fx);
	chunkset_free(&cs);
}

/* Without backend batch operations every add is a durable put: the same
 * ids and counts, and a put's error is returned and sticks. */
static void test_batch_without_backend_batches(void **state)
{
	struct blob_fx *fx = *state;
	size_t n = BLOB_BATCH_MAX + 30;
	chunk_id *ids = calloc(n, sizeof *ids), *ref = calloc(n, sizeof *ref);
	struct blob_backend saved = *fx->s->be;
	struct chunkset cs;
	blob_batch *b = NULL;
	blob_store *src = NULL;
	chunk_id two[2];
	char dir[160];
	int news = 0, expect = 0;

	assert_non_null(ids);
	assert_non_null(ref);
	chunkset_make(fx, &cs, n, 16 * 1024);
	for (size_t i = 0; i < n; i++) {
		blob_store_chunk_id(fx->s, &ref[i], cs.buf[i], cs.len[i]);
		if (blob_is_zero(cs.buf[i], cs.len[i]))
			memset(&ref[i], 0, sizeof ref[i]);
	}
	fx->s->be->batching = NULL;

	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	for (size_t i = 0; i < n; i++) {
		int rc = blob_batch_add(b, &ids[i], cs.buf[i], cs.len[i]);
		assert_true(rc >= 0);
		news += rc;
		assert_true(chunk_id_equal(&ids[i], &ref[i]));
		if (rc == 1) /* durable at once */
			assert_int_equal(blob_store_has_chunk(fx->s, &ids[i]), 1);
	}
	expect = fx_nchunks(fx);
	assert_int_equal(news, expect);
	assert_int_equal(blob_batch_commit(b), expect);
	blob_batch_free(b);
	assert_readable(fx, &cs, ids);

	/* A failing put. */
	*fx->s->be = saved;
	fx->s->be->batching = NULL;
	flaky_install(fx, -1, -1, 2, -EIO);
	chunkset_free(&cs);
	distinct_chunks(fx, &cs, n);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(add_all(b, &cs, ids, &news), -EIO);
	assert_int_equal(news, 2);
	assert_int_equal(blob_batch_commit(b), -EIO);
	blob_batch_free(b);
	*fx->s->be = saved;
	assert_int_equal(fx_nchunks(fx), expect + 2);

	/* A copy whose source lacks a chunk: its error is returned and
	 * sticks, what came before it is there (mutate survivor #325). */
	snprintf(dir, sizeof dir, "%s/src", fx->dir);
	assert_int_equal(blob_store_open(&src, dir, fx->secret), 0);
	assert_int_equal(blob_store_put_chunk(src, &two[0], cs.buf[n - 1], cs.len[n - 1]), 1);
	blob_store_chunk_id(src, &two[1], "absent", 6);
	fx->s->be->batching = NULL;
	assert_int_equal(blob_store_has_chunk(fx->s, &two[0]), 0);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_copy_many(b, src, two, 2, NULL), -ENOENT);
	assert_int_equal(blob_batch_commit(b), -ENOENT);
	blob_batch_free(b);
	*fx->s->be = saved;
	assert_int_equal(blob_store_has_chunk(fx->s, &two[0]), 1);
	blob_store_close(src);
	chunkset_free(&cs);
	free(ids);
	free(ref);
}

/* gc spares chunks by mtime: a new chunk's is recent, and adding a chunk
 * the store has refreshes it. */
static void test_batch_mtimes(void **state)
{
	struct blob_fx *fx = *state;
	struct timespec old[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
	uint8_t a[3000], bb[3000];
	char path[256];
	blob_batch *b = NULL;
	struct stat st;
	chunk_id ida, idb;
	time_t t0 = time(NULL);

	fx_local_only(fx); /* RADOS: backend/test_rados.c */
	fx_fill(fx, a, sizeof a);
	fx_fill(fx, bb, sizeof bb);
	assert_int_equal(blob_store_put_chunk(fx->s, &ida, a, sizeof a), 1);
	fx_chunk_path(path, sizeof path, fx->store, &ida);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);

	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_add(b, &ida, a, sizeof a), 0);
	assert_int_equal(blob_batch_add(b, &idb, bb, sizeof bb), 1);
	assert_int_equal(blob_batch_commit(b), 1);
	blob_batch_free(b);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mtim.tv_sec >= t0);
	fx_chunk_path(path, sizeof path, fx->store, &idb);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mtim.tv_sec >= t0);
	assert_int_equal(st.st_mode & 0777, 0444);
}

/* ---- the callers ------------------------------------------------------- */

static int stop_at_100(void *arg, uint64_t done, uint64_t total)
{
	(void)total;
	*(uint64_t *)arg = done;
	return done >= 100 * MiB;
}

/* A wblob of more chunks than two batches hold: sealed, its manifest is
 * put_buf's of the same bytes and reads back; a seal stopped in the middle
 * returns -ECANCELED, leaves tmp/ empty and only whole chunks. */
static void test_seal_many_batches(void **state)
{
	struct blob_fx *fx = *state;
	uint32_t nch = 2 * BLOB_BATCH_MAX + 40;
	uint64_t size = (uint64_t)nch * MiB - 777, seen = 0;
	uint8_t *ref = calloc(1, size), *back = malloc(size);
	blob_manifest *m = NULL, *direct = NULL;
	blob_wblob *w = NULL;
	int stored;

	assert_non_null(ref);
	assert_non_null(back);
	/* 64 bytes written per chunk (every 9th left a hole); chunk 7 gets the
	 * bytes of chunk 3 at the same place: two equal chunks. */
	assert_int_equal(blob_wblob_create(fx->s, "big", NULL, size), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "big"), 0);
	for (uint32_t i = 0; i < nch; i++) {
		uint32_t like = i == 7 ? 3 : i;
		uint64_t in = (like * 4099u) % (MiB - 900), off = (uint64_t)i * MiB + in;

		if (i % 9 == 4)
			continue;
		if (i == 7)
			memcpy(ref + off, ref + 3 * MiB + in, 64);
		else
			fx_fill(fx, ref + off, 64);
		assert_int_equal(blob_wblob_pwrite(w, ref + off, 64, off), 64);
	}

	assert_int_equal(blob_wblob_seal_progress(w, &m, stop_at_100, &seen), -ECANCELED);
	assert_null(m);
	assert_int_equal(seen, 100 * MiB);
	assert_int_equal(tmp_files(fx), 0);
	stored = fx_nchunks(fx);
	assert_true(stored <= 100);
	assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);

	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_put_buf(fx->s, &direct, ref, size), 0);
	assert_int_equal(m->nchunks, nch);
	for (uint32_t i = 0; i < nch; i++) {
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(direct, i)));
		assert_int_equal(chunk_id_is_null(mf_id(m, i)), i % 9 == 4);
	}
	assert_true(chunk_id_equal(mf_id(m, 3), mf_id(m, 7)));
	if (!fx_rados(fx)) { /* a whole chunk (written with O_DIRECT where possible) is read-only too */
		char path[256];
		struct stat st;

		fx_chunk_path(path, sizeof path, fx->store, mf_id(m, 0));
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0444);
		assert_int_equal(st.st_size, MiB);
	}
	assert_int_equal(fx_nchunks(fx), (int)(nch - (nch + 4) / 9 - 1));
	assert_int_equal(blob_store_read(fx->s, m, back, size, 0), (ssize_t)size);
	assert_bytes_equal(back, ref, size);
	assert_int_equal(tmp_files(fx), 0);
	blob_manifest_free(m);
	blob_manifest_free(direct);
	blob_wblob_close(w);
	free(ref);
	free(back);
}

/* A process killed (SIGKILL) while its batches write, link and sync: every
 * chunk name it left reads back whole and matching its id; what it left in
 * tmp/ is only temp files, which the tmp cleanup removes; the chunks then
 * go in again. */
static void test_batch_killed(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 96 * MiB;
	uint8_t *ref;
	blob_manifest *m = NULL;
	uint64_t removed = 0;
	int status;
	pid_t pid;

	/* A forked child cannot use its parent's RADOS client (its threads
	 * stay behind); kill -9 of a RADOS writer is an integration test. */
	fx_local_only(fx);
	ref = fx_make_blob(fx, size, 0);
	for (int round = 0; round < 3; round++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) { /* the child: store blobs until killed */
			for (uint64_t k = 0;; k++) {
				blob_manifest *cm = NULL;
				ref[k % size] ^= 1; /* new chunks each time round */
				if (blob_store_put_buf(fx->s, &cm, ref, size) < 0)
					_exit(1);
				blob_manifest_free(cm);
			}
		}
		usleep((useconds_t)(50000 + fx_below(fx, 250000)));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
	}
	fprintf(stderr, "    %d chunks stored, %d temp files left\n", fx_nchunks(fx), tmp_files(fx));
	assert_int_equal(blob_local_clean_tmp(fx->s->be, time(NULL) + 1, &removed), 0);
	assert_int_equal(tmp_files(fx), 0);
	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
	assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
	blob_manifest_free(m);
	free(ref);
}

static void test_seal_many_batches_per_file(void **state)
{
	struct blob_fx *fx = *state;

	fx_local_only(fx);
	blob_local_set_whole_fs(fx->s->be, false);
	test_seal_many_batches(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_matches_single_puts, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_matches_single_puts_per_file, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_concurrent, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_equal_chunks, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_free_uncommitted, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_write_fails, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_link_fails, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_enospc_on_add, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_eio_in_background_commit, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_eio_in_final_commit, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_without_backend_batches, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_every_lane_busy, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_has_many_fails, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_add_file, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_mtimes, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_many_batches, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_many_batches_per_file, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_killed, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
