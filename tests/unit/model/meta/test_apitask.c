/*
 * test_apitask.c — unit tests for model/meta/apitask.c (SPEC §19): an
 * import's task row as asked, found by its UUID and by its image, newest
 * first, at most MODEL_API_TASKS_PER_IMAGE an image, gone with the image.
 */
#include "test_util.h"

struct seen {
	int n;
	int64_t ids[16];
};

static int seen_task(void *arg, const struct model_api_task *t)
{
	struct seen *s = arg;
	assert_true(s->n < 16);
	s->ids[s->n++] = t->id;
	return 0;
}

static void test_tasks(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "web");
	struct model_api_task t, got;
	struct model_err err = {0};
	int64_t first = 0;

	for (int i = 0; i < MODEL_API_TASKS_PER_IMAGE + 1; i++) {
		assert_int_equal(model_api_task_new(fx->m, img, alice, "glance-direct",
		                                     "{\"method\": {\"name\": \"glance-direct\"}}", "req-1", NULL, &t, &err),
		                 0);
		if (!first)
			first = t.id;
	}
	assert_true(model_uuid_valid(t.uuid));
	assert_int_equal(model_api_task_get(fx->m, t.uuid, &got), 0);
	assert_int_equal(got.id, t.id);
	assert_int_equal(got.image_id, img);
	assert_int_equal(got.account_id, alice);
	assert_string_equal(got.method, "glance-direct");
	assert_string_equal(got.request_id, "req-1");
	assert_int_equal(got.ended, 0);
	assert_string_equal(got.result, "");
	assert_int_equal(model_api_task_get(fx->m, "nope", &got), -ENOENT);
	/* 9 made, 8 kept: the oldest went */
	struct seen s = {0};
	assert_int_equal(model_api_task_list(fx->m, img, seen_task, &s), 0);
	assert_int_equal(s.n, MODEL_API_TASKS_PER_IMAGE);
	assert_int_equal(s.ids[0], t.id); /* newest first */
	for (int i = 0; i < s.n; i++)
		assert_true(s.ids[i] != first);
	/* an input past its bound is refused, one at it kept */
	char big[MODEL_API_TASK_INPUT_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(model_api_task_new(fx->m, img, alice, "web-download", big, "req-2", NULL, NULL, &err), -EINVAL);
	big[MODEL_API_TASK_INPUT_MAX] = '\0';
	assert_int_equal(model_api_task_new(fx->m, img, alice, "web-download", big, "req-2", "no such image", &t, &err), 0);
	assert_int_equal(model_api_task_get(fx->m, t.uuid, &got), 0);
	assert_string_equal(got.result, "no such image"); /* refused before it began: ended */
	assert_int_equal(strlen(got.input), MODEL_API_TASK_INPUT_MAX);
	assert_int_equal(got.ended, got.created);
	/* gone with the image (a queued image is removed outright) */
	assert_int_equal(model_image_remove(fx->m, img, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM api_tasks"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tasks, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
