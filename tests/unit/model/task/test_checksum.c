/*
 * test_checksum.c — unit tests for model/task/checksum.c, the upgrade's
 * pass that gives images made before imgfs kept a SHA-256 theirs (SPEC
 * §2.1 `sha256`, §16): the task the schema step queues fills the system
 * disk's blob with the SHA-256 of its bytes (checked against OpenSSL's
 * own over blob_store_read) and logs the image's change; it holds nothing
 * (the image is deleted while it waits, and the task then ends without a
 * word); an ISO image's cdrom is its system disk; an image whose hash is
 * known already is left as it is.
 */
#include "model/lifecycle_test.h"

/* What the schema step (schema_sqlite.c v15) queues for an image. */
static void queue_checksum(struct ut_fx *fx, int64_t image_id)
{
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'queued')", (long long)image_id);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fills_sha256, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_iso, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_holds_nothing, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
