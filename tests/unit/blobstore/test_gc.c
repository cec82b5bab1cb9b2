/*
 * test_gc.c — unit tests for blobstore/gc.c: gc removes exactly the chunks
 * that are neither live, nor recent, nor a wblob's base; old temp files go
 * too.  verify_all reports damaged chunks and, with repair, deletes them.
 */
#include "blob_test.h"

/* Sets the timestamp of every chunk of m to `when`. */
static void age_chunks(struct blob_fx *fx, const blob_manifest *m, time_t when)
{
	for (uint32_t i = 0; i < m->nchunks; i++)
		if (!chunk_id_is_null(mf_id(m, i)))
			fx_age(fx, mf_id(m, i), when);
}

static blob_manifest *put_random(struct blob_fx *fx, uint64_t size)
{
	uint8_t *ref = fx_make_blob(fx, size, 0);
	blob_manifest *m = NULL;

	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
	free(ref);
	return m;
}

static void assert_all_present(struct blob_fx *fx, const blob_manifest *m, int want)
{
	for (uint32_t i = 0; i < m->nchunks; i++)
		if (!chunk_id_is_null(mf_id(m, i)))
			assert_int_equal(blob_store_has_chunk(fx->s, mf_id(m, i)), want);
}

static void test_gc(void **state)
{
	struct blob_fx *fx = *state;
	time_t now = time(NULL), old = now - 7200;
	blob_manifest *dropped = put_random(fx, 3 * MiB);
	blob_manifest *live = put_random(fx, 2 * MiB + 10);
	blob_manifest *base = put_random(fx, 2 * MiB);
	blob_manifest *recent = NULL;
	blob_idset *set = NULL;
	uint64_t removed = 99;
	char tmpfile[256];
	FILE *f;

	age_chunks(fx, dropped, old);
	age_chunks(fx, live, old);
	age_chunks(fx, base, old);
	recent = put_random(fx, MiB);
	/* A wblob over `base`, which is otherwise unreferenced. */
	assert_int_equal(blob_wblob_create(fx->s, "disk-1", base, base->size), 0);
	/* Stale temp files: one old, one fresh (a writer still at work). */
	for (int k = 0; k < 2; k++) {
		struct timespec ts[2] = {{.tv_sec = old}, {.tv_sec = old}};

		snprintf(tmpfile, sizeof tmpfile, "%s/tmp/stale%d.tmp", fx->store, k);
		f = fopen(tmpfile, "w");
		assert_non_null(f);
		fputs("half", f);
		fclose(f);
		if (k == 0)
			assert_int_equal(utimensat(AT_FDCWD, tmpfile, ts, 0), 0);
	}
	assert_int_equal(fx_nchunks(fx), 3 + 3 + 2 + 1);

	assert_int_equal(blob_idset_new(&set), 0);
	for (uint32_t i = 0; i < live->nchunks; i++)
		assert_int_equal(blob_idset_add(set, mf_id(live, i)), 0);
	assert_int_equal(blob_store_gc(fx->s, set, now - 60, &removed), 0);
	assert_int_equal(removed, 3);
	assert_all_present(fx, dropped, 0);
	assert_all_present(fx, live, 1);
	assert_all_present(fx, base, 1);
	assert_all_present(fx, recent, 1);
	assert_int_equal(fx_nchunks(fx), 3 + 2 + 1);
	snprintf(tmpfile, sizeof tmpfile, "%s/tmp", fx->store);
	assert_int_equal(fx_count_files(tmpfile), 1); /* the fresh one stays */

	/* Live chunks still read. */
	uint8_t *buf = malloc(live->size);
	assert_non_null(buf);
	assert_int_equal(blob_store_read(fx->s, live, buf, live->size, 0), live->size);
	free(buf);

	/* Once the wblob is gone its base goes too; NULL removed_out is fine;
	 * not_after in the future takes the recent chunk as well. */
	assert_int_equal(blob_wblob_remove(fx->s, "disk-1"), 0);
	assert_int_equal(blob_store_gc(fx->s, set, now + 3600, NULL), 0);
	assert_all_present(fx, base, 0);
	assert_all_present(fx, recent, 0);
	assert_all_present(fx, live, 1);
	/* An empty live set (NULL) and everything old: nothing left. */
	age_chunks(fx, live, old);
	assert_int_equal(blob_store_gc(fx->s, NULL, now, &removed), 0);
	assert_int_equal(removed, 3);
	assert_int_equal(fx_nchunks(fx), 0);

	blob_idset_free(set);
	blob_manifest_free(dropped);
	blob_manifest_free(live);
	blob_manifest_free(base);
	blob_manifest_free(recent);
}

struct bad_list {
	int n;
	chunk_id ids[8];
	int errs[8];
};

static void on_bad(void *arg, const chunk_id *id, int err)
{
	struct bad_list *b = arg;

	if (b->n < 8) {
		b->ids[b->n] = *id;
		b->errs[b->n] = err;
	}
	b->n++;
}

static void test_verify_all(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m = put_random(fx, 5 * MiB + 3);
	struct bad_list bad = {0};

	assert_int_equal(blob_store_verify_all(fx->s, false, on_bad, &bad), 0);
	assert_int_equal(bad.n, 0);
	fx_corrupt(fx, mf_id(m, 1), 5);
	fx_corrupt(fx, mf_id(m, 5), 2); /* the 3-byte tail */

	assert_int_equal(blob_store_verify_all(fx->s, false, on_bad, &bad), 2);
	assert_int_equal(bad.n, 2);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(bad.errs[k], EIO);
		assert_true(chunk_id_equal(&bad.ids[k], mf_id(m, 1)) || chunk_id_equal(&bad.ids[k], mf_id(m, 5)));
	}
	assert_false(chunk_id_equal(&bad.ids[0], &bad.ids[1]));
	assert_int_equal(fx_nchunks(fx), 6); /* reporting deletes nothing */

	bad.n = 0;
	assert_int_equal(blob_store_verify_all(fx->s, true, NULL, NULL), 2);
	assert_int_equal(fx_nchunks(fx), 4);
	assert_int_equal(blob_store_has_chunk(fx->s, mf_id(m, 1)), 0);
	assert_int_equal(blob_store_has_chunk(fx->s, mf_id(m, 5)), 0);
	assert_int_equal(blob_store_verify_all(fx->s, false, on_bad, &bad), 0);
	assert_int_equal(bad.n, 0);
	blob_manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gc, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify_all, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
