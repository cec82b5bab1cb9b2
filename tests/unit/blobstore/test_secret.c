/*
 * test_secret.c — unit tests for blobstore/secret.c: creation (size, mode,
 * randomness), reloading the same bytes, and refusing a damaged file.
 */
#include "blob_test.h"

static void test_secret_create_and_reload(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t a[BLOB_SECRET_SIZE], b[BLOB_SECRET_SIZE], c[BLOB_SECRET_SIZE];
	char path[128], path2[128];
	struct stat st;

	snprintf(path, sizeof path, "%s/secret", fx->dir);
	snprintf(path2, sizeof path2, "%s/secret2", fx->dir);
	assert_int_equal(blob_secret_load_or_create(a, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, BLOB_SECRET_SIZE);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(blob_secret_load_or_create(b, path), 0);
	assert_bytes_equal(a, b, BLOB_SECRET_SIZE);
	assert_int_equal(blob_secret_load_or_create(c, path2), 0);
	assert_memory_not_equal(a, c, BLOB_SECRET_SIZE);
	/* No temporary files are left behind: the dir holds store/, secret, secret2. */
	assert_int_equal(fx_count_files(fx->dir), 2);
}

static void test_secret_damaged(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t a[BLOB_SECRET_SIZE];
	char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/secret", fx->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("short", f);
	fclose(f);
	assert_int_equal(blob_secret_load_or_create(a, path), -EINVAL);
	snprintf(path, sizeof path, "%s/nodir/secret", fx->dir);
	assert_int_equal(blob_secret_load_or_create(a, path), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_secret_create_and_reload, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_secret_damaged, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
