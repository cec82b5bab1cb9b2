/*
 * test_checksum.c — unit tests for model/task/checksum.c, the upgrade's
 * pass that gives images made before imgfs kept a SHA-256 theirs (SPEC
 * §2.1 `sha256`, §16): the task the schema step queues fills the system
 * disk's blob with the SHA-256 of its bytes (checked against OpenSSL's
 * own over blob_store_read) and logs the image's change; it holds nothing
 * (the image is deleted while it waits, and the task then ends without a
 * word); an ISO image's cdrom is its system disk; an image whose hash is
 * known already is left as it is.  The XXH3-128 of every disk (§2.3) in
 * the same read; a disk with more holes than the allowance is not hashed
 * (a log line, nothing read); a store error keeps the task, to be tried
 * again; an image in a recycle bin waits for its restore; at most one
 * pass runs in a process at once.
 */
#include "model/lifecycle_test.h"

/* What the schema step (schema_sqlite.c v15) queues for an image. */
static void queue_checksum(struct ut_fx *fx, int64_t image_id)
{
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'queued')", (long long)image_id);
}

static char last_log[512];
static int logged;

static void record_log(void *arg, const char *line)
{
	(void)arg;
	snprintf(last_log, sizeof last_log, "%s", line);
	logged++;
}

static int64_t system_blob(struct ut_fx *fx, int64_t image_id)
{
	return ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld ORDER BY idx LIMIT 1",
	                  (long long)image_id);
}

static void test_fills_sha256(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "old", 3 * LT_MiB + 512);
	char want[65], got[65];

	/* An image of an older version: no hash. */
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "");
	queue_checksum(fx, img);
	int64_t changes = lt_changes(fx, MODEL_CHANGE_IMAGE, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	lt_blob_sha256(fx, fx->r1, system_blob(fx, img), want);
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, want);
	assert_true(lt_changes(fx, MODEL_CHANGE_IMAGE, img) > changes); /* its sha256 file changed */
	assert_int_equal(model_sha_read_bytes(fx->m), 3 * LT_MiB + 512);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);

	/* Known already: left as it is, nothing read. */
	ut_sql(fx, "UPDATE blobs SET sha256 = '%064d' WHERE id = %lld", 7, (long long)system_blob(fx, img));
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "0000000000000000000000000000000000000000000000000000000000000007");
	assert_int_equal(model_sha_read_bytes(fx->m), 3 * LT_MiB + 512);
}

/* An ISO image: its cdrom (device 26) is the system disk. */
static void test_iso(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "install");
	int64_t blob = lt_tagged_blob(fx, fx->r1, "iso", 2 * LT_MiB);
	char want[65], got[65];

	lt_device(fx, iso, 26, blob, 0);
	lt_available(fx, iso, MODEL_TYPE_LOCAL);
	queue_checksum(fx, iso);
	assert_int_equal(lt_run_tasks(fx), 1);
	lt_blob_sha256(fx, fx->r1, blob, want);
	assert_int_equal(model_image_sha256(fx->m, iso, got), 0);
	assert_string_equal(got, want);
}

/* It holds nothing: the image is deleted and destroyed while the checksum
 * waits, and the checksum then ends quietly. */
static void test_holds_nothing(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "doomed", LT_MiB);

	queue_checksum(fx, img);
	assert_int_equal(model_image_remove(fx->m, img, &err), 0);
	assert_int_equal(model_image_destroy(fx->m, img, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 2); /* the destroy, the checksum */
	struct model_image gone;
	assert_int_equal(model_image_get(fx->m, img, &gone), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
}


/* §2.3: every disk's XXH3-128 is read beside the SHA-256, one read for
 * both; a disk whose SHA-256 is known already gets its XXH3-128 too. */
static void test_fills_xxh128(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "old", 3 * LT_MiB + 512);
	int64_t data = lt_tagged_blob(fx, fx->r1, "vdb", 2 * LT_MiB);
	char want[33], got[33], sha[65];
	blob_manifest *man = NULL;
	blob_store *s;

	lt_device(fx, img, 1, data, 0);
	assert_int_equal(model_blob_hash(fx->m, system_blob(fx, img), got), -ENODATA); /* never hashed on request */
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), 5 * LT_MiB + 512); /* each disk read once */
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	int64_t blobs[2] = {system_blob(fx, img), data};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(model_blob_manifest(fx->m, blobs[k], &man), 0);
		assert_int_equal(blob_store_hash_blob(s, man, want), 0);
		blob_manifest_free(man);
		assert_int_equal(model_blob_hash(fx->m, blobs[k], got), 0);
		assert_string_equal(got, want);
	}

	/* SHA-256 known, XXH3-128 not (an image made before it was kept). */
	ut_sql(fx, "UPDATE blobs SET xxh128 = '' WHERE id = %lld", (long long)data);
	assert_int_equal(model_image_sha256(fx->m, img, sha), 0);
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), 7 * LT_MiB + 512); /* vdb only */
	assert_int_equal(model_blob_hash(fx->m, data, got), 0);
	assert_string_equal(got, want);
}

/* A blob of 65 GiB holding one data chunk: more holes than a pass hashes. */
static int64_t holey_blob(struct ut_fx *fx)
{
	int64_t small = lt_tagged_blob(fx, fx->r1, "holey", LT_MiB);
	blob_manifest *man = NULL;
	void *enc = NULL;
	size_t len = 0;

	assert_int_equal(model_blob_manifest(fx->m, small, &man), 0);
	man->size = 65ULL << 30;
	man->nchunks = (uint32_t)(man->size / BLOB_CHUNK_SIZE);
	assert_int_equal(blob_manifest_encode(&enc, &len, man), 0);
	db_stmt *st = ut_prepare(fx, "UPDATE blobs SET size = ?, manifest = ? WHERE id = ?");
	db_bind_int64(st, 1, (int64_t)man->size);
	db_bind_blob(st, 2, enc, len);
	db_bind_int64(st, 3, small);
	assert_int_equal(db_step(st), DB_DONE);
	ut_finalize(st);
	free(enc);
	blob_manifest_free(man);
	return small;
}

/* §2.1, §12: a disk whose holes pass the allowance is not hashed: nothing
 * read, a log line saying why, the task gone, the image still available. */
static void test_hole_allowance(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "sparse");
	int64_t blob = holey_blob(fx);
	char got[65];

	lt_device(fx, img, 0, blob, 0);
	lt_available(fx, img, MODEL_TYPE_LOCAL);
	model_set_log(fx->m, record_log, NULL);
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), 0);
	assert_non_null(strstr(last_log, "vda not hashed: 64 GiB of holes, more than the 64 GiB"));
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "");
	assert_int_equal(model_blob_hash(fx->m, blob, got), -ENODATA);
	assert_int_equal(ut_get(fx, img).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
}

/* A chunk that cannot be read: not "nothing to hash" — the task stays
 * queued with the reason, held back a while, and a log line says so. */
static void test_store_error_keeps_the_task(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "bad", 2 * LT_MiB);
	char path[512], got[65];

	lt_chunk_path(fx, 0, system_blob(fx, img), 1, path, sizeof path);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fputs("rot", f) >= 0, 1);
	fclose(f);
	model_set_log(fx->m, record_log, NULL);
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_non_null(strstr(last_log, "tried again in 60 s"));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum' AND state = 'queued' "
	                                "AND error != ''"),
	                 1);
	assert_int_equal(lt_run_tasks(fx), 0); /* held back for now */
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "");
	/* Its time come: tried again (and fails again, kept again). */
	ut_sql(fx, "UPDATE tasks SET updated = updated - 61");
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum'"), 1);
}

/* An image in a recycle bin: its pass waits (not claimed) until it is
 * restored, then runs. */
static void test_waits_in_the_bin(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "binned", LT_MiB);
	char got[65];

	queue_checksum(fx, img);
	assert_int_equal(model_image_remove(fx->m, img, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum'"), 1);
	assert_int_equal(model_image_restore(fx->m, img, MODEL_FOLDER_PRIVATE, "binned", &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_int_equal(strlen(got), 64);
}

/* One pass per process: a second checksum is not claimed while one runs
 * here (the other workers stay for the tasks someone asked for). */
static void test_one_at_a_time(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t a = lt_local_image(fx, fx->r1, alice, "a", LT_MiB);

	queue_checksum(fx, a);
	atomic_fetch_add(&fx->m->checksums_here, 1); /* as if a worker ran one */
	assert_int_equal(lt_run_tasks(fx), 0);
	atomic_fetch_sub(&fx->m->checksums_here, 1);
	assert_int_equal(lt_run_tasks(fx), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fills_sha256, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_iso, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_holds_nothing, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fills_xxh128, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_hole_allowance, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_store_error_keeps_the_task, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_waits_in_the_bin, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_one_at_a_time, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
