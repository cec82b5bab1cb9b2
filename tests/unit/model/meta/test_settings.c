/*
 * test_settings.c — unit tests for model/meta/settings.c: a setting unset
 * reads as the caller's default and leaves its buffer alone; what is set
 * reads back and replaces the earlier value (one row a key); a value that
 * is not a whole number, or is below the caller's minimum, reads as the
 * default; a value put inside a transaction that rolls back is not there.
 * And through the settings' own functions: each reads what its setter
 * wrote, in another key than the others.
 */
#include "test_util.h"

static void test_get_set(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char v[16] = "untouched";

	assert_int_equal(model_setting_get(fx->m, "ut-key", v, sizeof v), 0);
	assert_string_equal(v, "untouched");
	assert_int_equal(model_setting_int(fx->m, "ut-key", 0, 42), 42);

	assert_int_equal(model_setting_set(fx->m, "ut-key", "first", &err), 0);
	assert_int_equal(model_setting_get(fx->m, "ut-key", v, sizeof v), 1);
	assert_string_equal(v, "first");
	assert_int_equal(model_setting_set_int(fx->m, "ut-key", 17, &err), 0);
	assert_int_equal(model_setting_int(fx->m, "ut-key", 0, 42), 17);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'ut-key'"), 1);

	/* Truncated to the buffer, not overrun. */
	assert_int_equal(model_setting_set(fx->m, "ut-key", "0123456789abcdefXYZ", &err), 0);
	assert_int_equal(model_setting_get(fx->m, "ut-key", v, sizeof v), 1);
	assert_string_equal(v, "0123456789abcde");
}

static void test_int_rules(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	static const struct {
		const char *value;
		int64_t want;
	} cases[] = {
		{"5", 5}, {"1", 1}, {"0", 42}, {"-3", 42}, {"12abc", 42}, {"", 42}, {"abc", 42},
		{"99999999999999999999", 42},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(model_setting_set(fx->m, "ut-int", cases[i].value, &err), 0);
		assert_int_equal(model_setting_int(fx->m, "ut-int", 1, 42), cases[i].want);
	}
}

static void test_put_rolls_back(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	char v[16];

	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_setting_put(c, "ut-gone", "x"), 0);
	model_write_end(c, -ECANCELED, NULL);
	assert_int_equal(model_setting_get(fx->m, "ut-gone", v, sizeof v), 0);
}

/* Every setting reads what its setter wrote, and only its own. */
static void test_each_setting(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char url[64];
	uint64_t bps;
	int window;

	assert_int_equal(model_retention(fx->m), 7 * 24 * 3600);
	assert_int_equal(model_lease(fx->m), 30);
	assert_int_equal(model_import_slice(fx->m), MODEL_IMPORT_SLICE);
	model_import_floor(fx->m, &bps, &window);
	assert_int_equal(bps, MODEL_IMPORT_FLOOR_BPS);
	assert_int_equal(window, MODEL_IMPORT_FLOOR_WINDOW);
	assert_int_equal(model_download_url(fx->m, url, sizeof url), 0);
	assert_string_equal(url, MODEL_DOWNLOAD_URL_DEFAULT);

	assert_int_equal(model_retention_set(fx->m, 3601, &err), 0);
	assert_int_equal(model_lease_set(fx->m, 7, &err), 0);
	assert_int_equal(model_import_slice_set(fx->m, 0, &err), 0);
	assert_int_equal(model_import_floor_set(fx->m, 1000, 9, &err), 0);
	assert_int_equal(model_download_url_set(fx->m, "https://localhost:8443/", &err), 0);

	assert_int_equal(model_retention(fx->m), 3601);
	assert_int_equal(model_lease(fx->m), 7);
	assert_int_equal(model_import_slice(fx->m), 0);
	model_import_floor(fx->m, &bps, &window);
	assert_int_equal(bps, 1000);
	assert_int_equal(window, 9);
	assert_int_equal(model_download_url(fx->m, url, sizeof url), 0);
	assert_string_equal(url, "https://localhost:8443");
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key IN ('retention', 'lease', "
	                                "'import_slice', 'import_floor', 'download_url')"),
	                 5);

	/* Refusals change nothing. */
	assert_int_equal(model_lease_set(fx->m, 1, &err), -EINVAL);
	assert_int_equal(model_import_slice_set(fx->m, 86401, &err), -EINVAL);
	assert_int_equal(model_lease(fx->m), 7);
	assert_int_equal(model_import_slice(fx->m), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_set, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_int_rules, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_put_rolls_back, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_each_setting, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
