/*
 * test_gc.c — unit tests for blobstore/gc.c: gc removes exactly the chunks
 * that are neither live, nor recent, nor a wblob's base; old temp files go
 * too.  verify_all reports damaged chunks and, with repair, deletes them;
 * a chunk whose read failed (the backend's EIO: a timeout, an unreachable
 * OSD) is reported apart and never deleted, and a store that stopped
 * answering ends the walk after BLOB_VERIFY_GIVE_UP such reads in a row
 * (issue 47).
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
		assert_int_equal(bad.errs[k], EUCLEAN);
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

/* A backend whose reads of the chosen chunks fail as a cluster that does
 * not answer makes them fail (the RADOS backend's EIO after its retries),
 * and count every read. */
static struct {
	struct blob_backend *be;
	int (*get)(struct blob_backend *, const chunk_id *, void *, size_t, size_t *);
	int (*get_buf)(struct blob_backend *, const chunk_id *, uint8_t **, size_t *);
	int n;
	chunk_id fail[8];
	int err;
	int reads;
} dead;

static bool dead_one(const chunk_id *id)
{
	dead.reads++;
	for (int k = 0; k < dead.n; k++)
		if (chunk_id_equal(&dead.fail[k], id))
			return true;
	return false;
}

static int dead_get(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len)
{
	return dead_one(id) ? -dead.err : dead.get(be, id, buf, cap, len);
}

static int dead_get_buf(struct blob_backend *be, const chunk_id *id, uint8_t **buf, size_t *len)
{
	return dead_one(id) ? -dead.err : dead.get_buf(be, id, buf, len);
}

static void dead_on(struct blob_fx *fx, int err)
{
	dead.be = fx->s->be;
	dead.get = dead.be->get;
	dead.get_buf = dead.be->get_buf;
	dead.err = err;
	dead.reads = 0;
	dead.be->get = dead_get;
	if (dead.get_buf)
		dead.be->get_buf = dead_get_buf;
}

static void dead_off(void)
{
	dead.be->get = dead.get;
	dead.be->get_buf = dead.get_buf;
	dead.n = 0;
}

static void test_verify_unanswered(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m = put_random(fx, 6 * MiB);
	struct bad_list bad = {0};
	uint32_t n = m->nchunks;

	assert_int_equal(n, 6);
	/* Two reads that fail with EIO (fewer than the give-up): reported,
	 * counted apart, nothing deleted, every other chunk still checked. */
	dead.n = 2;
	dead.fail[0] = *mf_id(m, 1);
	dead.fail[1] = *mf_id(m, 4);
	dead_on(fx, EIO);
	assert_int_equal(blob_store_verify_all(fx->s, true, on_bad, &bad), 0);
	assert_int_equal(bad.n, 2);
	assert_int_equal(bad.errs[0], EIO);
	assert_int_equal(bad.errs[1], EIO);
	assert_int_equal(dead.reads, 6);
	assert_int_equal(fx_nchunks(fx), 6);
	/* ETIMEDOUT (what a backend may pass on) likewise, beside a chunk that
	 * is really damaged: only that one is condemned and deleted. */
	fx_corrupt(fx, mf_id(m, 2), 7);
	dead.err = ETIMEDOUT;
	bad.n = 0;
	assert_int_equal(blob_store_verify_all(fx->s, true, on_bad, &bad), 1);
	assert_int_equal(bad.n, 3);
	int euclean = 0, timedout = 0;
	for (int k = 0; k < 3; k++) {
		euclean += bad.errs[k] == EUCLEAN;
		timedout += bad.errs[k] == ETIMEDOUT;
		if (bad.errs[k] == EUCLEAN)
			assert_true(chunk_id_equal(&bad.ids[k], mf_id(m, 2)));
	}
	assert_int_equal(euclean, 1);
	assert_int_equal(timedout, 2);
	assert_int_equal(fx_nchunks(fx), 5);
	assert_int_equal(blob_store_has_chunk(fx->s, mf_id(m, 1)), 1);
	assert_int_equal(blob_store_has_chunk(fx->s, mf_id(m, 4)), 1);
	assert_int_equal(blob_store_has_chunk(fx->s, mf_id(m, 2)), 0);
	dead_off();

	/* A store that stopped answering (every read fails): the walk ends
	 * after BLOB_VERIFY_GIVE_UP reads in a row with their errno, nothing
	 * deleted; then the same store, answering again, is clean. */
	dead.n = 0;
	for (uint32_t i = 0; i < n; i++)
		if (i != 2)
			dead.fail[dead.n++] = *mf_id(m, i);
	dead_on(fx, EIO);
	bad.n = 0;
	assert_int_equal(blob_store_verify_all(fx->s, true, on_bad, &bad), -EIO);
	assert_int_equal(bad.n, BLOB_VERIFY_GIVE_UP);
	assert_int_equal(dead.reads, BLOB_VERIFY_GIVE_UP);
	assert_int_equal(fx_nchunks(fx), 5);
	dead_off();
	/* Chunks gone between the listing and their read (a concurrent gc:
	 * ENOENT) are neither reported nor a store that stopped answering,
	 * however many in a row. */
	dead.n = 0;
	for (uint32_t i = 0; i < n; i++)
		if (i != 2)
			dead.fail[dead.n++] = *mf_id(m, i);
	dead_on(fx, ENOENT);
	bad.n = 0;
	assert_int_equal(blob_store_verify_all(fx->s, true, on_bad, &bad), 0);
	assert_int_equal(bad.n, 0);
	assert_int_equal(dead.reads, 5);
	dead_off();
	bad.n = 0;
	assert_int_equal(blob_store_verify_all(fx->s, false, on_bad, &bad), 0);
	assert_int_equal(bad.n, 0);
	/* blob_store_check_chunk tells the three apart: read and right, read
	 * and wrong, not read. */
	assert_int_equal(blob_store_check_chunk(fx->s, NULL, mf_id(m, 0), MiB), 0);
	assert_int_equal(blob_store_check_chunk(fx->s, NULL, mf_id(m, 0), MiB - 1), -EUCLEAN);
	assert_int_equal(blob_store_check_chunk(fx->s, NULL, mf_id(m, 2), MiB), -ENOENT);
	dead.n = 1;
	dead.fail[0] = *mf_id(m, 0);
	dead_on(fx, EIO);
	assert_int_equal(blob_store_check_chunk(fx->s, NULL, mf_id(m, 0), MiB), -EIO);
	dead_off();
	blob_manifest_free(m);
}

/* What a store's reader gets, and what fsck's check gets, for each kind
 * of chunk: right, not the chunk (a hash, a tag, a length, an object
 * longer than any chunk: EUCLEAN to the check, EIO to readers), absent. */
struct log_lines {
	int n;
	char last[256];
};

static void on_log(void *arg, const char *line)
{
	struct log_lines *l = arg;
	l->n++;
	snprintf(l->last, sizeof l->last, "%s", line);
}

static void test_check_chunk(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t dk[BLOB_KEY_SIZE], other[BLOB_KEY_SIZE];
	blob_key *key = NULL, *wrong = NULL;
	blob_manifest *m = NULL;
	struct log_lines log = {0};
	uint8_t *buf = blob_chunk_buf_new(), *ref = fx_make_blob(fx, MiB, 0);
	size_t len, off;

	assert_non_null(buf);
	memset(dk, 7, sizeof dk);
	memset(other, 8, sizeof other);
	assert_int_equal(blob_key_new(&key, dk), 0);
	assert_int_equal(blob_key_new(&wrong, other), 0);
	blob_store_set_log(fx->s, on_log, &log);
	assert_int_equal(blob_store_put_buf_key(fx->s, key, &m, ref, MiB), 0);
	const chunk_id *id = mf_id(m, 0);
	/* Under its key it opens; under another its tag does not match: a
	 * verdict for the check, EIO for a reader. */
	assert_int_equal(blob_store_check_chunk(fx->s, key, id, MiB), 0);
	assert_int_equal(blob_store_check_chunk(fx->s, wrong, id, MiB), -EUCLEAN);
	assert_int_equal(blob_store_load_chunk(fx->s, wrong, id, &buf, &off, &len), -EIO);
	assert_int_equal(blob_store_load_chunk(fx->s, key, id, &buf, &off, &len), 0);
	assert_int_equal(len, MiB);
	/* Bytes changed: its hash. */
	fx_corrupt(fx, id, 100);
	assert_int_equal(blob_store_check_chunk(fx->s, key, id, MiB), -EUCLEAN);
	assert_int_equal(blob_store_get_chunk(fx->s, id, buf, BLOB_OBJ_MAX, &len), -EIO);
	assert_int_equal(blob_store_get_chunk_buf(fx->s, id, &buf, &len), -EIO);
	assert_non_null(strstr(log.last, "hash mismatch"));
	if (!fx_rados(fx)) {
		/* Longer than any chunk (the local backend sees it before it
		 * reads): damaged, said so. */
		char path[512];
		fx_chunk_path(path, sizeof path, fx->store, id);
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(truncate(path, (off_t)BLOB_OBJ_MAX + 1), 0);
		assert_int_equal(blob_store_check_chunk(fx->s, NULL, id, 0), -EUCLEAN);
		assert_non_null(strstr(log.last, "longer than any chunk"));
		assert_int_equal(blob_store_get_chunk_buf(fx->s, id, &buf, &len), -EIO);
	}
	blob_store_set_log(fx->s, NULL, NULL); /* (log is this frame's) */
	free(buf);
	free(ref);
	blob_manifest_free(m);
	blob_key_unref(key);
	blob_key_unref(wrong);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gc, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify_all, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify_unanswered, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_chunk, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
