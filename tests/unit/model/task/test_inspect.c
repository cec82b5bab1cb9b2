/*
 * test_inspect.c — unit tests for model/task/inspect.c, the inspection
 * task (SPEC §20), with an inspector the test registers in place of the
 * mount's (fs/fuse/inspect.c): what it answers is stored with the
 * attributes it found filled where the image has none; a failure is
 * stored as a failed inspection with its reason; and "could not tell"
 * (-EAGAIN: a store that did not answer, issue 70's OSD outage that
 * stored "no operating system found" over a good inspection) stores
 * nothing, fills nothing, keeps the last inspection and puts the task
 * back in the queue with its pause, to be answered on the next run; a
 * snapshot's inspection the same; an unmount meanwhile stores nothing and
 * gives the task back as it was; an image or a snapshot gone ends its task unasked; a copy
 * takes its origin's inspection, unasked, when the origin has one.
 */
#include "model/lifecycle_test.h"

/* The registered inspector: what it answers next, and how often it ran. */
static struct {
	int rc;           /* 0, or -errno */
	const char *text; /* the text file's content (also set on a failure: the task drops it) */
	const char *os;   /* the os_type found */
	int calls;
} fake;

static char last_log[512];

static void record_log(void *arg, const char *line)
{
	(void)arg;
	snprintf(last_log, sizeof last_log, "%s", line);
}

static int fake_inspector(void *arg, int64_t image_id, struct model_inspection *out, struct model_err *err)
{
	(void)arg;
	(void)image_id;
	fake.calls++;
	out->text = strdup(fake.text);
	out->json = strdup("{}\n");
	out->packages = strdup("");
	snprintf(out->os_type, sizeof out->os_type, "%s", fake.os);
	if (fake.rc < 0)
		return model_fail(err, fake.rc, fake.rc == -EAGAIN ? "could not tell: vda: the store did not answer"
		                                                    : "vda: its helper failed");
	return 0;
}

static int fake_snap_inspector(void *arg, int64_t snap_id, struct model_inspection *out, struct model_err *err)
{
	return fake_inspector(arg, snap_id, out, err);
}

static char *inspection_text(struct ut_fx *fx, int64_t img, bool *pending)
{
	char *text = NULL;
	assert_int_equal(model_inspection_get(fx->m, img, MODEL_INSPECTION_TEXT, &text, pending), 0);
	return text;
}

static void test_could_not_tell_keeps_the_last(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	struct model_err err = {0};
	bool pending = true;
	char *text;

	model_set_log(fx->m, record_log, NULL);
	model_set_inspector(fx->m, fake_inspector, NULL, NULL);
	/* a first answer: stored, the image's empty os_type filled */
	fake.rc = 0, fake.text = "status: done\nos: first\n", fake.os = "linux", fake.calls = 0;
	assert_int_equal(model_inspection_queue(fx->m, img, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(fake.calls, 1);
	text = inspection_text(fx, img, &pending);
	assert_string_equal(text, fake.text);
	assert_false(pending);
	free(text);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld", (long long)img), 0);

	/* could not tell: nothing stored, nothing filled, the task queued again
	 * with one failed run and its pause (not claimed again at once) */
	ut_sql(fx, "UPDATE images SET os_type = '' WHERE id = %lld", (long long)img);
	fake.rc = -EAGAIN, fake.text = "status: done\nos: none found\n", fake.os = "windows";
	assert_int_equal(model_inspection_queue(fx->m, img, &err), 0);
	assert_int_equal(model_task_work(fx->m, NULL), -EAGAIN);
	assert_int_equal(model_task_work(fx->m, NULL), 0); /* its pause: not claimed again */
	assert_int_equal(fake.calls, 2);
	text = inspection_text(fx, img, &pending);
	assert_string_equal(text, "status: done\nos: first\n");
	assert_true(pending);
	free(text);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM inspections WHERE image_id = %lld AND state = 'done'",
	                            (long long)img), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE id = %lld AND os_type = ''", (long long)img),
	                 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND kind = 'inspect' AND "
	                            "state = 'queued' AND retries = 1 AND retry_ns > 0", (long long)img), 1);
	assert_non_null(strstr(last_log, "back in the queue"));

	/* its pause over, the store answers: the new inspection replaces the
	 * old one, the task is gone */
	ut_sql(fx, "UPDATE tasks SET retry_ns = 0 WHERE image_id = %lld", (long long)img);
	fake.rc = 0, fake.text = "status: done\nos: second\n", fake.os = "linux";
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(fake.calls, 3);
	text = inspection_text(fx, img, &pending);
	assert_string_equal(text, fake.text);
	assert_false(pending);
	free(text);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld", (long long)img), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE id = %lld AND os_type = 'linux'",
	                            (long long)img), 1);

	/* a failure (not "could not tell") is a verdict: stored as failed
	 * with its reason, the inspector's text dropped, the task gone */
	fake.rc = -EPERM, fake.text = "status: done\nos: dropped\n"; /* the smallest errno */
	assert_int_equal(model_inspection_queue(fx->m, img, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	text = inspection_text(fx, img, &pending);
	assert_string_equal(text, "status: failed\nreason: vda: its helper failed\n");
	assert_false(pending);
	free(text);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld", (long long)img), 0);
	model_set_inspector(fx->m, NULL, NULL, NULL);
}

/* A snapshot's inspection (its data, one disk) the same way. */
static void test_snapshot_could_not_tell(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	int64_t blob = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld ORDER BY idx LIMIT 1",
	                          (long long)img);
	int64_t snap = lt_snapshot(fx, fx->r1, alice, "snap-00000001", blob, MODEL_SNAP_AVAILABLE);
	struct model_err err = {0};
	bool pending = true;
	char *text = NULL;

	model_set_log(fx->m, record_log, NULL);
	model_set_inspector(fx->m, fake_inspector, fake_snap_inspector, NULL);
	fake.rc = 0, fake.text = "status: done\nfirst\n", fake.os = "", fake.calls = 0;
	assert_int_equal(model_snap_inspection_queue(fx->m, snap, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_snap_inspection_get(fx->m, snap, MODEL_INSPECTION_TEXT, &text, &pending), 0);
	assert_string_equal(text, fake.text);
	assert_false(pending);
	free(text);

	fake.rc = -EAGAIN, fake.text = "status: done\nnothing found\n";
	assert_int_equal(model_snap_inspection_queue(fx->m, snap, &err), 0);
	assert_int_equal(model_task_work(fx->m, NULL), -EAGAIN);
	assert_int_equal(model_task_work(fx->m, NULL), 0);
	assert_int_equal(fake.calls, 2);
	assert_int_equal(model_snap_inspection_get(fx->m, snap, MODEL_INSPECTION_TEXT, &text, &pending), 0);
	assert_string_equal(text, "status: done\nfirst\n");
	assert_true(pending);
	free(text);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE source_kind = 'snapshot' AND "
	                            "state = 'queued' AND retries = 1 AND retry_ns > 0"), 1);
	model_set_inspector(fx->m, NULL, NULL, NULL);
}

/* An unmount while the inspector runs: nothing stored, the task back in
 * the queue as it was (no failed run, no pause: the next mount takes it
 * at once). */
static atomic_bool stopping;

static int stopping_inspector(void *arg, int64_t image_id, struct model_inspection *out, struct model_err *err)
{
	atomic_store(&stopping, true);
	return fake_inspector(arg, image_id, out, err);
}

static void test_unmount_meanwhile(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	struct model_err err = {0};
	char *text = NULL;
	bool pending = false;

	model_set_inspector(fx->m, stopping_inspector, NULL, NULL);
	fake.rc = 0, fake.text = "status: done\nos: cut\n", fake.os = "linux", fake.calls = 0;
	atomic_store(&stopping, false);
	assert_int_equal(model_inspection_queue(fx->m, img, &err), 0);
	assert_int_equal(model_task_work(fx->m, &stopping), 1);
	assert_int_equal(fake.calls, 1);
	assert_int_equal(model_inspection_get(fx->m, img, MODEL_INSPECTION_TEXT, &text, &pending), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND state = 'queued' AND "
	                            "retries = 0 AND retry_ns = 0", (long long)img), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE id = %lld AND os_type = ''", (long long)img),
	                 1);
	model_set_inspector(fx->m, NULL, NULL, NULL);
}

/* A snapshot gone, or no longer available, before its task runs: the task
 * ends quietly, its inspector never asked. */
static void test_snapshot_gone(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	int64_t blob = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld ORDER BY idx LIMIT 1",
	                          (long long)img);
	int64_t s1 = lt_snapshot(fx, fx->r1, alice, "snap-00000001", blob, MODEL_SNAP_AVAILABLE);
	int64_t s2 = lt_snapshot(fx, fx->r1, alice, "snap-00000002", blob, MODEL_SNAP_AVAILABLE);
	struct model_err err = {0};

	model_set_inspector(fx->m, fake_inspector, fake_snap_inspector, NULL);
	fake.rc = 0, fake.text = "status: done\n", fake.os = "", fake.calls = 0;
	assert_int_equal(model_snap_inspection_queue(fx->m, s1, &err), 0);
	assert_int_equal(model_snap_inspection_queue(fx->m, s2, &err), 0);
	ut_sql(fx, "DELETE FROM snapshots WHERE id = %lld", (long long)s1);
	ut_sql(fx, "UPDATE snapshots SET status = %d WHERE id = %lld", (int)MODEL_SNAP_ERROR, (long long)s2);
	assert_int_equal(lt_run_tasks(fx), 2);
	assert_int_equal(fake.calls, 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE source_kind = 'snapshot'"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM snapshot_inspections"), 0);
	model_set_inspector(fx->m, NULL, NULL, NULL);
}

/* An image gone, or no longer available, before its task runs: the task
 * ends quietly, the inspector never asked. */
static void test_image_gone(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	struct model_err err = {0};

	model_set_inspector(fx->m, fake_inspector, NULL, NULL);
	fake.rc = 0, fake.text = "status: done\n", fake.os = "", fake.calls = 0;
	assert_int_equal(model_inspection_queue(fx->m, img, &err), 0);
	ut_force_status(fx, img, MODEL_IMG_ERROR);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('inspect', %lld, 'queued')", (long long)img + 1000);
	assert_int_equal(lt_run_tasks(fx), 2);
	assert_int_equal(fake.calls, 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'inspect'"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM inspections"), 0);
	model_set_inspector(fx->m, NULL, NULL, NULL);
}

/* A copy's bytes are its origin's: it takes the origin's inspection,
 * its inspector not asked; a copy whose origin has none is inspected. */
static void test_copy_inherits(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t origin = lt_local_image(fx, fx->r1, alice, "origin", LT_MiB);
	int64_t bare = lt_local_image(fx, fx->r1, alice, "bare", LT_MiB);
	int64_t copy = lt_local_image(fx, fx->r1, alice, "copy", LT_MiB);
	int64_t copy2 = lt_local_image(fx, fx->r1, alice, "copy2", LT_MiB);
	struct model_err err = {0};
	bool pending = true;
	char *text;

	model_set_inspector(fx->m, fake_inspector, NULL, NULL);
	fake.rc = 0, fake.text = "status: done\nos: origin\n", fake.os = "linux", fake.calls = 0;
	assert_int_equal(model_inspection_queue(fx->m, origin, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	ut_sql(fx, "UPDATE images SET origin_id = %lld, origin_kind = 'copy' WHERE id = %lld", (long long)origin,
	       (long long)copy);
	ut_sql(fx, "UPDATE images SET origin_id = %lld, origin_kind = 'copy' WHERE id = %lld", (long long)bare,
	       (long long)copy2);
	fake.text = "status: done\nos: read\n";
	assert_int_equal(model_inspection_queue(fx->m, copy, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(fake.calls, 1); /* the origin's alone */
	text = inspection_text(fx, copy, &pending);
	assert_string_equal(text, "status: done\nos: origin\n");
	assert_false(pending);
	free(text);
	assert_int_equal(model_inspection_queue(fx->m, copy2, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(fake.calls, 2);
	text = inspection_text(fx, copy2, &pending);
	assert_string_equal(text, "status: done\nos: read\n");
	free(text);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'inspect'"), 0);
	model_set_inspector(fx->m, NULL, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_could_not_tell_keeps_the_last, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_could_not_tell, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_unmount_meanwhile, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_gone, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_image_gone, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_copy_inherits, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
