/*
 * test_early_profile.c — unit tests for model/task/early_profile.c (SPEC
 * §6.5 "Boot profile", §12.8): a boot profile is a row every host reads,
 * under its URL's hash (the URL itself not kept), its chunks in order,
 * bounded at EARLY_PROFILE_MAX chunks — kept whole at the bound, its first
 * EARLY_PROFILE_MAX one past it (written, and read from a longer row) —
 * and its indexes past the image's chunks skipped, at most the image's
 * chunks read from any row; an empty order writes none; each of an
 * index's four bytes where it goes; an entry's order saved whole; a save
 * the database refuses keeps the one before.  On both drivers.
 */
#include <pthread.h>

#include "early_int.h"
#include "test_util.h"

#define URL "http://bob:secret@127.0.0.1:1/golden.raw"

/* order[i] = the i-th chunk read first: from the end, backwards. */
static uint32_t *order_of(uint32_t n, uint32_t chunks)
{
	uint32_t *o = malloc((n ? n : 1) * sizeof(*o));
	assert_non_null(o);
	for (uint32_t i = 0; i < n; i++)
		o[i] = chunks - 1 - i;
	return o;
}

static void test_bound(void **state)
{
	struct ut_fx *fx = *state;
	const uint32_t chunks = EARLY_PROFILE_MAX + 10;
	static const uint32_t sizes[] = {EARLY_PROFILE_MAX, EARLY_PROFILE_MAX + 1};
	uint32_t *plan = NULL, nplan = 0;

	assert_false(early_profiled(fx->m, URL));
	for (size_t k = 0; k < 2; k++) {
		uint32_t n = sizes[k], *o = order_of(n, chunks);
		assert_int_equal(early_profile_put(fx->m, URL, o, n), 0);
		/* At the bound whole; one past, its first EARLY_PROFILE_MAX. */
		assert_int_equal(ut_sql_int(fx, "SELECT length(chunks) FROM early_profiles"), 4 * EARLY_PROFILE_MAX);
		early_profile_load(fx->m, URL, chunks, &plan, &nplan);
		assert_int_equal(nplan, EARLY_PROFILE_MAX);
		assert_memory_equal(plan, o, EARLY_PROFILE_MAX * sizeof(*o));
		free(plan);
		free(o);
	}
	assert_true(early_profiled(fx->m, URL));
	assert_false(early_profiled(fx->m, "http://127.0.0.1:1/other.raw"));
	/* Only its hash is kept: no password in the database. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM early_profiles WHERE url_hash LIKE '%%secret%%'"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT length(url_hash) FROM early_profiles"), 16);
}

/* A row longer than the bound (not this version's writing): read up to it. */
static void test_long_row(void **state)
{
	struct ut_fx *fx = *state;
	const uint32_t chunks = EARLY_PROFILE_MAX + 10, n = EARLY_PROFILE_MAX + 1;
	uint32_t *o = order_of(n, chunks), *plan = NULL, nplan = 0;
	db_stmt *st;

	assert_int_equal(early_profile_put(fx->m, URL, o, 1), 0);
	st = ut_prepare(fx, "UPDATE early_profiles SET chunks = ?");
	db_bind_blob(st, 1, o, 4 * (size_t)n); /* little-endian, as written */
	assert_int_equal(db_step(st), DB_DONE);
	ut_finalize(st);
	assert_int_equal(ut_sql_int(fx, "SELECT length(chunks) FROM early_profiles"), 4 * n);
	early_profile_load(fx->m, URL, chunks, &plan, &nplan);
	assert_int_equal(nplan, EARLY_PROFILE_MAX);
	assert_memory_equal(plan, o, EARLY_PROFILE_MAX * sizeof(*o));
	free(plan);
	/* An image of fewer chunks: the indexes past them skipped. */
	early_profile_load(fx->m, URL, 5, &plan, &nplan);
	assert_int_equal(nplan, 0);
	free(plan);
	early_profile_load(fx->m, URL, chunks - 3, &plan, &nplan);
	assert_int_equal(nplan, EARLY_PROFILE_MAX - 3);
	assert_int_equal(plan[0], chunks - 4);
	free(plan);
	free(o);
}

/* The smallest: a profile of one chunk, an image of one chunk; a row of
 * repeated indexes (not this version's writing) gives at most the image's
 * chunks; an empty order writes no row. */
static void test_small(void **state)
{
	struct ut_fx *fx = *state;
	uint32_t zero = 0, ones[10], *plan = NULL, nplan = 0;
	db_stmt *st;

	assert_int_equal(early_profile_put(fx->m, URL, &zero, 0), 0);
	assert_false(early_profiled(fx->m, URL));
	assert_int_equal(early_profile_put(fx->m, URL, &zero, 1), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT length(chunks) FROM early_profiles"), 4);
	early_profile_load(fx->m, URL, 1, &plan, &nplan);
	assert_int_equal(nplan, 1);
	assert_int_equal(plan[0], 0);
	free(plan);
	for (int i = 0; i < 10; i++)
		ones[i] = 1;
	st = ut_prepare(fx, "UPDATE early_profiles SET chunks = ?");
	db_bind_blob(st, 1, ones, sizeof(ones)); /* little-endian, as written */
	assert_int_equal(db_step(st), DB_DONE);
	ut_finalize(st);
	early_profile_load(fx->m, URL, 5, &plan, &nplan);
	assert_int_equal(nplan, 5);
	for (uint32_t i = 0; i < nplan; i++)
		assert_int_equal(plan[i], 1);
	free(plan);
}

/* An index's four bytes each where it goes (little-endian): indexes whose
 * every byte differs, up to the largest a 4-byte field holds below an
 * image of UINT32_MAX chunks, read back as written. */
static void test_wide_indexes(void **state)
{
	struct ut_fx *fx = *state;
	const uint32_t o[] = {0x01020304u, 0xfedcba98u, 0x00ff00ffu, 0xff00ff00u, UINT32_MAX - 1, 0};
	const uint32_t n = sizeof(o) / sizeof(o[0]);
	uint32_t *plan = NULL, nplan = 0;

	assert_int_equal(early_profile_put(fx->m, URL, o, n), 0);
	early_profile_load(fx->m, URL, UINT32_MAX, &plan, &nplan);
	assert_int_equal(nplan, n);
	assert_memory_equal(plan, o, sizeof(o));
	free(plan);
}

/* What an entry's readers read first, in order, is what is saved: every
 * index of the order (not its first bytes), and the next import of the
 * URL loads it. */
static void test_save(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	struct early_import *e = NULL;
	blob_manifest *none = NULL;
	const uint32_t chunks = 300, o[] = {299, 7, 258, 0, 256, 1, 511 - 300};
	const uint32_t n = sizeof(o) / sizeof(o[0]);
	uint32_t *plan = NULL, nplan = 0;
	int64_t acc = ut_account(fx, "alice");

	assert_int_equal(model_image_create(fx->m, fx->r1, acc, MODEL_FOLDER_PRIVATE, "golden", &img, &err), 0);
	assert_int_equal(model_image_import_url(fx->m, img.id, URL, &err), 0);
	assert_int_equal(early_want(fx->m, img.id, fx->r1), 0);
	assert_int_equal(blob_manifest_new(&none, (uint64_t)chunks << 20), 0);
	assert_int_equal(early_begin(fx->m, img.id, URL, "\"v1\"", (uint64_t)chunks << 20, none, 0, &e), 0);
	blob_manifest_free(none);
	assert_int_equal(e->nchunks, chunks);
	memcpy(e->order, o, sizeof(o)); /* as early.c records first reads */
	e->norder = n;
	early_profile_save(fx->m, e);
	early_end(fx->m, e);
	assert_int_equal(ut_sql_int(fx, "SELECT length(chunks) FROM early_profiles"), 4 * n);
	early_profile_load(fx->m, URL, chunks, &plan, &nplan);
	assert_int_equal(nplan, n);
	assert_memory_equal(plan, o, sizeof(o));
	free(plan);
}

struct holder {
	struct ut_fx *fx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int step; /* 1: the holder's transaction began; 2: it may end */
};

/* Another connection's write transaction, held until told. */
static void *hold_write(void *arg)
{
	struct holder *h = arg;
	struct model_conn *c;
	int rc = model_write_begin(h->fx->m, &c, NULL);
	pthread_mutex_lock(&h->mu);
	h->step = 1;
	pthread_cond_broadcast(&h->cv);
	while (h->step < 2)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	if (rc == 0)
		(void)model_write_end(c, 0, NULL);
	return NULL;
}

/* A save the database refuses (SQLite busy: another connection writes)
 * keeps the profile before, and nothing of the refused one (its buffer
 * freed: the ASan pass's leak check). */
static void test_refused(void **state)
{
	struct ut_fx *fx = *state;
	struct holder h = {.fx = fx, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	uint32_t old[] = {3, 1}, new[] = {2, 0, 1}, *plan = NULL, nplan = 0;
	pthread_t th;

	assert_int_equal(early_profile_put(fx->m, URL, old, 2), 0);
	if (ut_pg())
		return; /* BEGIN waits for no other writer there */
	ut_sql(fx, "PRAGMA busy_timeout = 20"); /* this connection's: the refusal at once */
	assert_int_equal(pthread_create(&th, NULL, hold_write, &h), 0);
	pthread_mutex_lock(&h.mu);
	while (h.step < 1)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	assert_int_equal(early_profile_put(fx->m, URL, new, 3), -EBUSY);
	pthread_mutex_lock(&h.mu);
	h.step = 2;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	assert_int_equal(pthread_join(th, NULL), 0);
	early_profile_load(fx->m, URL, 5, &plan, &nplan);
	assert_int_equal(nplan, 2);
	assert_memory_equal(plan, old, sizeof(old));
	free(plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bound, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_long_row, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_small, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_wide_indexes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_save, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refused, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
