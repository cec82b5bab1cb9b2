/*
 * test_schema.c — unit tests for model/db/schema.c: a state directory at
 * schema version 2 (before conversion and copy) is brought to version 3 in
 * place on open, keeping its rows; the new columns start empty.
 */
#include "model/lifecycle_test.h"

/* Turns the fixture's (version 3) database back into what version 2 wrote. */
static void downgrade_to_v2(struct ut_fx *fx)
{
	ut_sql(fx, "DROP INDEX images_origin;"
	           "ALTER TABLE images DROP COLUMN origin_kind;"
	           "ALTER TABLE images DROP COLUMN origin_id;"
	           "ALTER TABLE tasks DROP COLUMN moved_chunks;"
	           "ALTER TABLE tasks DROP COLUMN moved_bytes;"
	           "ALTER TABLE tasks DROP COLUMN found_chunks;"
	           "PRAGMA user_version = 2;");
}

static void test_v2_migrates_in_place(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t acct = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, acct, "kept", LT_MiB);
	int64_t cloud;

	model_close(fx->m);
	fx->m = NULL;
	downgrade_to_v2(fx);
	assert_int_equal(ut_sql_int(fx, "PRAGMA user_version"), 2);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM pragma_table_info('images') WHERE name = 'origin_id'"), 0);
	sqlite3_close(fx->db);
	fx->db = NULL;

	assert_int_equal(model_open(&fx->m, fx->dir, 0, &err), 0);
	assert_int_equal(ut_sql_int(fx, "PRAGMA user_version"), 3);
	assert_string_equal(ut_get(fx, img).name, "kept");
	assert_int_equal(ut_sql_int(fx, "SELECT origin_id FROM images WHERE id = %lld", (long long)img), 0);
	/* The new columns work: a conversion records its origin. */
	assert_int_equal(model_image_convert(fx->m, img, "", &cloud, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT origin_id FROM images WHERE id = %lld", (long long)cloud), img);
	assert_int_equal(ut_sql_int(fx, "SELECT moved_chunks FROM tasks"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_migrates_in_place, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
