/*
 * test_upload.c — unit tests for fs/fuse/upload.c: the answer to an open
 * of an upload's disk whose upload was abandoned meanwhile (its blob gone:
 * `truncate -s` ahead of the cp, SPEC §5.3, issue 70).  A writer gets
 * ESTALE, so the kernel looks the name up again and the cp creates it
 * anew; a reader gets ENOENT; a blob sealed this moment is EBUSY.  The race itself (the cp's open meeting the
 * truncate's close) is test_upload.sh's, which does not always meet it.
 */
#include "attr.h"
#include "disk.h"
#include "fs.h"
#include "model/lifecycle_test.h"

static void test_open_abandoned(void **state)
{
	struct ut_fx *fx = *state;
	struct fs_ctx ctx = {.m = fx->m, .timeout = 1};
	struct fs_node n = {0};
	struct fs_disk *d = NULL;
	struct model_err err = {0};
	int64_t gone = ut_sql_int(fx, "SELECT coalesce(max(id), 0) + 1000 FROM blobs");

	n.blob_id = gone;
	assert_int_equal(fs_upload_open(&ctx, &n, true, &d, &err), -ESTALE);
	assert_null(d);
	assert_int_equal(fs_upload_open(&ctx, &n, false, &d, &err), -ENOENT);
	assert_null(d);
	/* sealed this moment (its blob there, no writable blob): EBUSY, open it again */
	int64_t img = lt_local_image(fx, fx->r1, ut_account(fx, "alice"), "sealed", LT_MiB);
	n.blob_id = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld ORDER BY idx LIMIT 1",
	                       (long long)img);
	assert_int_equal(fs_upload_open(&ctx, &n, true, &d, &err), -EBUSY);
	assert_null(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_abandoned, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
