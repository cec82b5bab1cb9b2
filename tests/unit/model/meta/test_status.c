/*
 * test_status.c — unit tests for model/meta/status.c: the image status machine
 * of SPEC §4, walked pair by pair against a reference table written down
 * here independently of the code, and model_image_transition's effect on
 * the row (status, progress, error, times) for every pair.
 */
#include "test_util.h"

#define NSTATUS 7 /* queued .. deleted */

static const enum model_image_status all_status[NSTATUS] = {
	MODEL_IMG_QUEUED,    MODEL_IMG_UPLOADING, MODEL_IMG_PENDING, MODEL_IMG_REPLICATING,
	MODEL_IMG_AVAILABLE, MODEL_IMG_ERROR,     MODEL_IMG_DELETED,
};

/* SPEC §4, edge by edge:
 *   queued -> uploading (upload, URL import), queued -> pending (capture);
 *   uploading -> available | error, or back to queued (a refused first write);
 *   pending -> replicating (capture) | available | error (conversion, copy);
 *   replicating -> available | error;
 *   available | error -> deleted (rmdir: the recycle bin);
 *   deleted -> available | error (restored with the status it had). */
static bool spec_edge(enum model_image_status from, enum model_image_status to)
{
	static const struct {
		enum model_image_status from, to;
	} edges[] = {
		{MODEL_IMG_QUEUED, MODEL_IMG_UPLOADING},      {MODEL_IMG_QUEUED, MODEL_IMG_PENDING},
		{MODEL_IMG_UPLOADING, MODEL_IMG_AVAILABLE},   {MODEL_IMG_UPLOADING, MODEL_IMG_ERROR},
		{MODEL_IMG_UPLOADING, MODEL_IMG_QUEUED}, /* an upload whose first write is refused */
		{MODEL_IMG_PENDING, MODEL_IMG_REPLICATING},   {MODEL_IMG_PENDING, MODEL_IMG_AVAILABLE},
		{MODEL_IMG_PENDING, MODEL_IMG_ERROR},         {MODEL_IMG_REPLICATING, MODEL_IMG_AVAILABLE},
		{MODEL_IMG_REPLICATING, MODEL_IMG_ERROR},     {MODEL_IMG_AVAILABLE, MODEL_IMG_DELETED},
		{MODEL_IMG_ERROR, MODEL_IMG_DELETED},         {MODEL_IMG_DELETED, MODEL_IMG_AVAILABLE},
		{MODEL_IMG_DELETED, MODEL_IMG_ERROR},
	};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
		if (edges[i].from == from && edges[i].to == to)
			return true;
	return false;
}

/* ---- names ----------------------------------------------------------------- */

static void test_status_names(void **state)
{
	static const char *const want[NSTATUS] = {"queued",    "uploading", "pending", "replicating",
	                                          "available", "error",     "deleted"};
	const int bogus[] = {MODEL_IMG_INVALID, MODEL_IMG_STATUS_COUNT, MODEL_IMG_STATUS_COUNT + 1, -1, 1000};

	(void)state;
	for (int i = 0; i < NSTATUS; i++)
		assert_string_equal(model_image_status_name(all_status[i]), want[i]);
	/* Invalid values never crash and never pass for a real status. */
	for (size_t b = 0; b < sizeof bogus / sizeof bogus[0]; b++) {
		const char *n = model_image_status_name((enum model_image_status)bogus[b]);
		assert_non_null(n);
		for (int i = 0; i < NSTATUS; i++)
			assert_string_not_equal(n, want[i]);
	}
	/* §2.4 snapshots, instances; §2 class directories. */
	assert_string_equal(model_snap_status_name(MODEL_SNAP_CREATING), "creating");
	assert_string_equal(model_snap_status_name(MODEL_SNAP_AVAILABLE), "available");
	assert_string_equal(model_snap_status_name(MODEL_SNAP_ERROR), "error");
	assert_non_null(model_snap_status_name(MODEL_SNAP_INVALID));
	assert_string_equal(model_vm_status_name(MODEL_VM_RUNNING), "running");
	assert_string_equal(model_vm_status_name(MODEL_VM_STOPPED), "stopped");
	assert_non_null(model_vm_status_name(MODEL_VM_INVALID));
	assert_string_equal(model_folder_name(MODEL_FOLDER_PUBLIC), "public");
	assert_string_equal(model_folder_name(MODEL_FOLDER_MARKETPLACE), "marketplace");
	assert_string_equal(model_folder_name(MODEL_FOLDER_PRIVATE), "private");
	assert_string_equal(model_folder_name(MODEL_FOLDER_ISO), "iso");
	assert_string_equal(model_folder_name(MODEL_FOLDER_RECYCLE), "recycle-bin");
	assert_non_null(model_folder_name(MODEL_FOLDER_INVALID));
}

/* `imgfs wait` waits while an image is in a transitional status (§1). */
static void test_transitional(void **state)
{
	(void)state;
	assert_true(model_image_status_transitional(MODEL_IMG_QUEUED));
	assert_true(model_image_status_transitional(MODEL_IMG_UPLOADING));
	assert_true(model_image_status_transitional(MODEL_IMG_PENDING));
	assert_true(model_image_status_transitional(MODEL_IMG_REPLICATING));
	assert_false(model_image_status_transitional(MODEL_IMG_AVAILABLE));
	assert_false(model_image_status_transitional(MODEL_IMG_ERROR));
	assert_false(model_image_status_transitional(MODEL_IMG_DELETED));
	assert_false(model_image_status_transitional(MODEL_IMG_INVALID));
}

/* ---- the table --------------------------------------------------------------- */

static void test_allowed_every_pair(void **state)
{
	int edges = 0;

	(void)state;
	for (int f = 0; f < NSTATUS; f++) {
		for (int t = 0; t < NSTATUS; t++) {
			bool want = spec_edge(all_status[f], all_status[t]);
			bool got = model_image_transition_allowed(all_status[f], all_status[t]);
			if (want != got)
				fail_msg("%s -> %s: allowed %d, SPEC §4 says %d", model_image_status_name(all_status[f]),
				         model_image_status_name(all_status[t]), got, want);
			edges += got;
		}
	}
	assert_int_equal(edges, 14);
}

static void test_allowed_invalid_values(void **state)
{
	const int bogus[] = {MODEL_IMG_INVALID, MODEL_IMG_STATUS_COUNT, MODEL_IMG_STATUS_COUNT + 1, -1, -1000, 255,
	                     1 << 20};

	(void)state;
	for (size_t b = 0; b < sizeof bogus / sizeof bogus[0]; b++) {
		enum model_image_status x = (enum model_image_status)bogus[b];
		assert_false(model_image_transition_allowed(x, x));
		for (int i = 0; i < NSTATUS; i++) {
			assert_false(model_image_transition_allowed(x, all_status[i]));
			assert_false(model_image_transition_allowed(all_status[i], x));
		}
		for (size_t c = 0; c < sizeof bogus / sizeof bogus[0]; c++)
			assert_false(model_image_transition_allowed(x, (enum model_image_status)bogus[c]));
	}
}

/* ---- transitions on rows --------------------------------------------------------- */

#define OLD_PROGRESS 37
#define OLD_ERROR "an older failure"
#define REASON "the test's reason"

/* Puts the image into `s` with a recognisable progress, error and times. */
static void force_row(struct ut_fx *fx, int64_t id, enum model_image_status s)
{
	ut_sql(fx, "UPDATE images SET status = %d, progress = %d, error = %Q, mtime_ns = 1, ctime_ns = 1 "
	           "WHERE id = %lld",
	       (int)s, OLD_PROGRESS, s == MODEL_IMG_ERROR ? OLD_ERROR : "", (long long)id);
}

static void assert_row_untouched(struct ut_fx *fx, int64_t id, enum model_image_status s, const char *what)
{
	struct model_image img = ut_get(fx, id);

	if (img.status != s || img.progress != OLD_PROGRESS || img.mtime_ns != 1 || img.ctime_ns != 1 ||
	    strcmp(img.error, s == MODEL_IMG_ERROR ? OLD_ERROR : "") != 0)
		fail_msg("%s changed the row: status %s progress %d error '%s' mtime %lld ctime %lld", what,
		         model_image_status_name(img.status), img.progress, img.error, (long long)img.mtime_ns,
		         (long long)img.ctime_ns);
}

static void test_transition_every_pair(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "walker");
	char what[96];

	for (int f = 0; f < NSTATUS; f++) {
		for (int t = 0; t < NSTATUS; t++) {
			enum model_image_status from = all_status[f], to = all_status[t];
			struct model_err err = {0};
			int64_t before = model_now_ns();
			int rc;

			snprintf(what, sizeof what, "%s -> %s", model_image_status_name(from), model_image_status_name(to));
			force_row(fx, id, from);
			rc = model_image_transition(fx->m, id, from, to, REASON, &err);
			if (!spec_edge(from, to)) {
				if (rc != -EINVAL)
					fail_msg("%s: %d, want -EINVAL", what, rc);
				assert_true(err.msg[0] != '\0');
				assert_row_untouched(fx, id, from, what);
				continue;
			}
			if (rc != 0)
				fail_msg("%s: %d (%s), want 0", what, rc, err.msg);
			struct model_image img = ut_get(fx, id);
			if (img.status != to)
				fail_msg("%s: row is %s", what, model_image_status_name(img.status));
			/* §2.1: progress is 100 once available. */
			if (to == MODEL_IMG_AVAILABLE && img.progress != 100)
				fail_msg("%s: progress %d", what, img.progress);
			assert_in_range(img.progress, 0, 100);
			/* Entering error records the reason; any other status has no
			 * error of this transition (and leaving error clears it). */
			if (to == MODEL_IMG_ERROR)
				assert_string_equal(img.error, REASON);
			else if (img.error[0] != '\0')
				fail_msg("%s: error '%s' should be empty", what, img.error);
			/* A change a reader sees: both times move. */
			assert_true(img.ctime_ns >= before);
			assert_true(img.mtime_ns >= before);
		}
	}
	/* The image stays where the last pair left it and is still one row. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE name = 'walker'"), 1);
}

/* A transition whose `from` is not the row's status: somebody moved first. */
static void test_transition_from_mismatch(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "racer");
	char what[128];
	int tried = 0;

	for (int f = 0; f < NSTATUS; f++) {
		for (int t = 0; t < NSTATUS; t++) {
			if (!spec_edge(all_status[f], all_status[t]))
				continue;
			for (int r = 0; r < NSTATUS; r++) {
				enum model_image_status row = all_status[r];
				struct model_err err = {0};
				int rc;
				if (r == f)
					continue;
				snprintf(what, sizeof what, "%s -> %s on a %s row", model_image_status_name(all_status[f]),
				         model_image_status_name(all_status[t]), model_image_status_name(row));
				force_row(fx, id, row);
				rc = model_image_transition(fx->m, id, all_status[f], all_status[t], REASON, &err);
				if (rc != -EBUSY)
					fail_msg("%s: %d, want -EBUSY", what, rc);
				assert_true(err.msg[0] != '\0');
				assert_row_untouched(fx, id, row, what);
				tried++;
			}
		}
	}
	assert_int_equal(tried, 14 * (NSTATUS - 1));
}

static void test_transition_unknown_image(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t acct = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "gone");

	assert_int_equal(model_image_transition(fx->m, 987654321, MODEL_IMG_QUEUED, MODEL_IMG_UPLOADING, NULL, &err),
	                 -ENOENT);
	assert_true(err.msg[0] != '\0');
	/* An image that existed and was removed is unknown too. */
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	memset(&err, 0, sizeof err);
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_QUEUED, MODEL_IMG_PENDING, NULL, &err), -ENOENT);
	assert_true(err.msg[0] != '\0');
	/* err may be NULL. */
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_QUEUED, MODEL_IMG_PENDING, NULL, NULL), -ENOENT);
}

/* Invalid statuses are refused before the row is looked at. */
static void test_transition_invalid_values(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "steady");
	const int bogus[] = {MODEL_IMG_INVALID, MODEL_IMG_STATUS_COUNT, -1, 99};

	force_row(fx, id, MODEL_IMG_QUEUED);
	for (size_t b = 0; b < sizeof bogus / sizeof bogus[0]; b++) {
		struct model_err err = {0};
		enum model_image_status x = (enum model_image_status)bogus[b];
		assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_QUEUED, x, REASON, &err), -EINVAL);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(model_image_transition(fx->m, id, x, MODEL_IMG_UPLOADING, REASON, NULL), -EINVAL);
		assert_row_untouched(fx, id, MODEL_IMG_QUEUED, "an invalid status");
	}
}

/* A whole life along SPEC §4, through the API only. */
static void test_transition_lifecycle(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t acct = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "life");
	struct model_image img = ut_get(fx, id);

	assert_int_equal(img.status, MODEL_IMG_QUEUED);
	assert_int_equal(img.progress, 0); /* §2.1: 0 while queued */
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_QUEUED, MODEL_IMG_PENDING, NULL, &err), 0);
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_PENDING, MODEL_IMG_REPLICATING, NULL, &err), 0);
	/* Racing a second writer along the same edge: only one wins. */
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_PENDING, MODEL_IMG_REPLICATING, NULL, &err),
	                 -EBUSY);
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_REPLICATING, MODEL_IMG_ERROR, "disk gone", &err),
	                 0);
	img = ut_get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_ERROR);
	assert_string_equal(img.error, "disk gone");
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_ERROR, MODEL_IMG_DELETED, NULL, &err), 0);
	assert_int_equal(model_image_transition(fx->m, id, MODEL_IMG_DELETED, MODEL_IMG_AVAILABLE, NULL, &err), 0);
	img = ut_get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(img.progress, 100);
	assert_string_equal(img.error, "");
	/* No way back to queued but from an upload whose first write was refused. */
	for (int f = 0; f < NSTATUS; f++)
		assert_int_equal(model_image_transition_allowed(all_status[f], MODEL_IMG_QUEUED),
		                 all_status[f] == MODEL_IMG_UPLOADING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_transitional),
		cmocka_unit_test(test_allowed_every_pair),
		cmocka_unit_test(test_allowed_invalid_values),
		cmocka_unit_test_setup_teardown(test_transition_every_pair, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_transition_from_mismatch, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_transition_unknown_image, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_transition_invalid_values, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_transition_lifecycle, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
