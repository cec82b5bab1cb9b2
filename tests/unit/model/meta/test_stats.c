/*
 * test_stats.c — mirrors model/meta/stats.c (and model_task_bytes of
 * task/task.c): what /stats counts from the database, compared with a
 * plain count of the rows (the reference), before and after an image is
 * added and deleted, a blob stored, tasks queued.  Runs on both drivers
 * (the _pg variant), so the statements are checked on PostgreSQL too.
 */
#include "model/lifecycle_test.h"

struct img_counts {
	int64_t n[UT_REGIONS + 8][MODEL_IMG_STATUS_COUNT];
	struct ut_fx *fx;
};

static int img_row(void *arg, int64_t region_id, enum model_image_status s, int64_t n)
{
	struct img_counts *c = arg;
	assert_true(region_id > 0 && region_id < UT_REGIONS + 8);
	assert_true(s > MODEL_IMG_INVALID && s < MODEL_IMG_STATUS_COUNT);
	assert_int_equal(c->n[region_id][s], 0); /* one row per pair */
	c->n[region_id][s] = n;
	return 0;
}

/* model_stats_images agrees with a count of the rows, for every pair. */
static void check_images(struct ut_fx *fx, struct img_counts *c)
{
	memset(c->n, 0, sizeof(c->n));
	assert_int_equal(model_stats_images(fx->m, img_row, c), 0);
	for (int r = 1; r < UT_REGIONS + 8; r++)
		for (int s = MODEL_IMG_INVALID + 1; s < MODEL_IMG_STATUS_COUNT; s++)
			assert_int_equal(c->n[r][s], ut_sql_int(fx, "SELECT COUNT(*) FROM images WHERE region_id = %d AND "
			                                            "status = %d", r, s));
}

static void test_images(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct img_counts c = {.fx = fx};
	int64_t alice = ut_account(fx, "alice");

	check_images(fx, &c);
	int64_t avail = c.n[fx->r1][MODEL_IMG_AVAILABLE];
	assert_true(avail > 0); /* the catalogue */
	assert_int_equal(c.n[fx->r1][MODEL_IMG_DELETED], 0);
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 2 * LT_MiB);
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "queued-one");
	check_images(fx, &c);
	assert_int_equal(c.n[fx->r1][MODEL_IMG_AVAILABLE], avail + 1);
	assert_int_equal(c.n[fx->r1][MODEL_IMG_QUEUED], 1);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	check_images(fx, &c);
	assert_int_equal(c.n[fx->r1][MODEL_IMG_AVAILABLE], avail);
	assert_int_equal(c.n[fx->r1][MODEL_IMG_DELETED], 1);
}

struct blob_counts {
	int64_t chunks[UT_REGIONS + 8], bytes[UT_REGIONS + 8];
};

static int blob_row(void *arg, int64_t region_id, int64_t chunks, int64_t bytes)
{
	struct blob_counts *c = arg;
	assert_true(region_id > 0 && region_id < UT_REGIONS + 8);
	c->chunks[region_id] = chunks;
	c->bytes[region_id] = bytes;
	return 0;
}

static void test_blobs(void **state)
{
	struct ut_fx *fx = *state;
	struct blob_counts a = {0}, b = {0};

	assert_int_equal(model_stats_blobs(fx->m, blob_row, &a), 0);
	for (int r = 1; r < UT_REGIONS + 8; r++)
		assert_int_equal(a.bytes[r], ut_sql_int(fx, "SELECT COALESCE(SUM(stored), 0) FROM blobs WHERE "
		                                            "region_id = %d", r));
	/* 2.5 MiB, every MiB tagged: three data chunks, the last a half. */
	lt_tagged_blob(fx, fx->r1, "t", 5 * LT_MiB / 2);
	assert_int_equal(model_stats_blobs(fx->m, blob_row, &b), 0);
	assert_int_equal(b.chunks[fx->r1] - a.chunks[fx->r1], 3);
	assert_int_equal(b.bytes[fx->r1] - a.bytes[fx->r1], 5 * LT_MiB / 2);
	/* The same bytes again: deduplicated in the store, counted again here. */
	lt_tagged_blob(fx, fx->r1, "t", 5 * LT_MiB / 2);
	assert_int_equal(model_stats_blobs(fx->m, blob_row, &a), 0);
	assert_int_equal(a.chunks[fx->r1] - b.chunks[fx->r1], 3);
	assert_int_equal(a.bytes[fx->r1] - b.bytes[fx->r1], 5 * LT_MiB / 2);
}

struct task_counts {
	int64_t queued, running, rows;
};

static int task_row(void *arg, const char *kind, const char *state, int64_t n)
{
	struct task_counts *c = arg;
	assert_string_equal(kind, "capture");
	c->rows++;
	if (strcmp(state, "queued") == 0)
		c->queued = n;
	else if (strcmp(state, "running") == 0)
		c->running = n;
	else
		fail_msg("unexpected state %s", state);
	return 0;
}

static int bytes_row(void *arg, const char *kind, uint64_t progress, uint64_t moved)
{
	int *kinds = arg;
	(*kinds)++;
	assert_true(kind[0] != '\0');
	assert_int_equal(progress, 0);
	assert_int_equal(moved, 0);
	return 0;
}

static void test_tasks(void **state)
{
	struct ut_fx *fx = *state;
	struct task_counts c = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "target");
	int kinds = 0;

	assert_int_equal(model_stats_tasks(fx->m, task_row, &c), 0);
	assert_int_equal(c.rows, 0);
	lt_task(fx, img, "", 0, "queued");
	lt_task(fx, img, "", 0, "queued");
	lt_task(fx, img, "", 0, "running");
	assert_int_equal(model_stats_tasks(fx->m, task_row, &c), 0);
	assert_int_equal(c.rows, 2);
	assert_int_equal(c.queued, 2);
	assert_int_equal(c.running, 1);
	/* Nothing ran in this process: every kind, at zero (capture, convert,
	 * copy, upload, import, destroy, checksum, inspect). */
	assert_int_equal(model_task_bytes(fx->m, bytes_row, &kinds), 0);
	assert_int_equal(kinds, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_images, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_blobs, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_tasks, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
