/*
 * test_tasks.c — unit tests for fs/serve/glance/tasks.c (SPEC §19,
 * imports; §5.2 URL imports) through the dispatcher (glance_test.h): the
 * body of POST /v2/images/{id}/import — each method offered and not, the
 * method's name missing or of the wrong type, the stores (the region's
 * only: another is 409, as Glance's), web-download's uri missing, of the wrong type, of another scheme,
 * at FETCH_URL_MAX bytes and one past; glance-direct with nothing staged;
 * glance-download's id — and what a 202 leaves: the image importing, one
 * task row with the request's body, listed to its owner only (not to a
 * member, who sees the image).
 */
#include "fetch.h"
#include "glance_test.h"

/* A fresh queued image of alice's: its import URL in url. */
static void fresh(struct gt *t, char url[200], char id[37])
{
	gt_create(t, "alice", "{\"name\": \"web\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	snprintf(url, 200, "/v2/images/%s/import", id);
}

static void test_bodies(void **state)
{
	struct gt t;
	char url[200], id[37];
	gt_start(&t, *state);
	fresh(&t, url, id);
	char members[220]; /* bob its member (a share is made while queued) */
	snprintf(members, sizeof members, "/v2/images/%s/members", id);
	gt_token(&t, "bob");
	assert_int_equal(gt_status(&t, "POST", members, "alice", "{\"member\": \"bob\"}"), 200);
	static const struct {
		const char *body;
		int status;
	} bad[] = {
		{"{}", 400},
		{"{\"method\": {}}", 400},
		{"{\"method\": \"web-download\"}", 400},
		{"{\"method\": {\"name\": 7}}", 400},
		{"{\"method\": {\"name\": \"copy-image\"}}", 400},
		{"{\"method\": {\"name\": \"web\"}}", 400},
		{"{\"method\": {\"name\": \"glance-direct web-download\"}}", 400},
		{"{\"method\": {\"name\": \"\"}}", 400},
		{"[]", 400},
		{"{\"method\": {\"name\": \"web-download\"}}", 400},                   /* no uri */
		{"{\"method\": {\"name\": \"web-download\", \"uri\": 5}}", 400},
		{"{\"method\": {\"name\": \"web-download\", \"uri\": \"file:///etc/passwd\"}}", 400},
		{"{\"method\": {\"name\": \"web-download\", \"uri\": \"http://\"}}", 400},
		{"{\"method\": {\"name\": \"web-download\", \"uri\": \"http://127.0.0.1/x\"}, \"stores\": [\"cn-south-1\"]}",
		 409}, /* a store not here: Glance's 409 */
		{"{\"method\": {\"name\": \"web-download\", \"uri\": \"http://127.0.0.1/x\"}, \"stores\": [1]}", 400},
		{"{\"method\": {\"name\": \"web-download\", \"uri\": \"http://127.0.0.1/x\"}, \"stores\": [\"cn-north-1\", "
		 "\"cn-east-2\"]}",
		 409},
		{"{\"method\": {\"name\": \"glance-direct\"}}", 409},                  /* nothing staged */
		{"{\"method\": {\"name\": \"glance-download\"}}", 400},                /* no id */
		{"{\"method\": {\"name\": \"glance-download\", \"glance_image_id\": \"nope\", \"glance_region\": "
		 "\"cn-north-1\"}}",
		 400},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int st = gt_status(&t, "POST", url, "alice", bad[i].body);
		if (st != bad[i].status)
			fail_msg("import %s: %d, want %d", bad[i].body, st, bad[i].status);
		struct model_image img = gt_image(&t, id);
		if (img.status != MODEL_IMG_QUEUED)
			fail_msg("import %s: refused, yet the image is %s", bad[i].body, model_image_status_name(img.status));
	}
	/* no task row for any of them */
	struct gt_reply o;
	char tasks[220];
	snprintf(tasks, sizeof tasks, "/v2/images/%s/tasks", id);
	assert_int_equal(gt_call(&t, &o, "GET", tasks, "alice", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "tasks")), 0);
	gt_reply_free(&o);
	/* the store named, the one there is: taken */
	assert_int_equal(gt_status(&t, "POST", url, "alice",
	                           "{\"method\": {\"name\": \"web-download\", \"uri\": \"http://127.0.0.1/x\"}, \"stores\": "
	                           "[\"cn-north-1\"]}"),
	                 202);
	assert_int_equal(gt_image(&t, id).status, MODEL_IMG_UPLOADING);
	/* once importing, not again */
	int st = gt_status(&t, "POST", url, "alice",
	                   "{\"method\": {\"name\": \"web-download\", \"uri\": \"http://127.0.0.1/y\"}}");
	assert_true(st == 403 || st == 409);
	/* its task: one, with the body, processing; the owner's to list */
	assert_int_equal(gt_call(&t, &o, "GET", tasks, "alice", NULL), 200);
	json_t *list = json_object_get(o.json, "tasks");
	assert_int_equal(json_array_size(list), 1);
	json_t *task = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(task, "status")), "processing");
	assert_string_equal(json_string_value(json_object_get(task, "image_id")), id);
	json_t *req = json_object_get(json_object_get(task, "input"), "import_req");
	assert_string_equal(json_string_value(json_object_get(json_object_get(req, "method"), "uri")),
	                    "http://127.0.0.1/x");
	gt_reply_free(&o);
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/tasks", "bob", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "tasks")), 0);
	gt_reply_free(&o);
	/* an image's tasks are its owner's: a member sees the image, not them */
	assert_int_equal(gt_call(&t, &o, "GET", tasks, "bob", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "tasks")), 0);
	gt_reply_free(&o);
	/* the image shows it importing */
	char show[200];
	snprintf(show, sizeof show, "/v2/images/%s", id);
	assert_int_equal(gt_call(&t, &o, "GET", show, "alice", NULL), 200);
	assert_string_equal(json_string_value(json_object_get(o.json, "status")), "importing");
	assert_string_equal(json_string_value(json_object_get(o.json, "os_glance_importing_to_stores")), "cn-north-1");
	gt_reply_free(&o);
	gt_stop(&t);
}

/* web-download's uri at FETCH_URL_MAX bytes, and one past. */
static void test_uri_bound(void **state)
{
	struct gt t;
	char url[200], id[37];
	char *uri = malloc(FETCH_URL_MAX + 2), *body = malloc(FETCH_URL_MAX + 128);
	gt_start(&t, *state);
	strcpy(uri, "http://127.0.0.1/");
	size_t n = strlen(uri);
	memset(uri + n, 'u', FETCH_URL_MAX + 1 - n);
	uri[FETCH_URL_MAX] = '\0';
	fresh(&t, url, id);
	sprintf(body, "{\"method\": {\"name\": \"web-download\", \"uri\": \"%s\"}}", uri);
	assert_int_equal(gt_status(&t, "POST", url, "alice", body), 202);
	assert_int_equal(gt_image(&t, id).status, MODEL_IMG_UPLOADING);
	/* and its task kept, the uri whole (a row of 1023 bytes lost it) */
	struct gt_reply o;
	char tasks[220];
	snprintf(tasks, sizeof tasks, "/v2/images/%s/tasks", id);
	assert_int_equal(gt_call(&t, &o, "GET", tasks, "alice", NULL), 200);
	json_t *task = json_array_get(json_object_get(o.json, "tasks"), 0);
	json_t *req = json_object_get(json_object_get(task, "input"), "import_req");
	assert_string_equal(json_string_value(json_object_get(json_object_get(req, "method"), "uri")), uri);
	gt_reply_free(&o);
	/* with other fields that make the body longer than a row: the method kept */
	fresh(&t, url, id);
	char *pad = malloc(MODEL_API_TASK_INPUT_MAX + 1);
	memset(pad, 'p', MODEL_API_TASK_INPUT_MAX);
	pad[MODEL_API_TASK_INPUT_MAX] = '\0';
	char *longer = malloc(FETCH_URL_MAX + MODEL_API_TASK_INPUT_MAX + 128);
	sprintf(longer, "{\"method\": {\"name\": \"web-download\", \"uri\": \"%s\"}, \"x\": \"%s\"}", uri, pad);
	assert_int_equal(gt_status(&t, "POST", url, "alice", longer), 202);
	snprintf(tasks, sizeof tasks, "/v2/images/%s/tasks", id);
	assert_int_equal(gt_call(&t, &o, "GET", tasks, "alice", NULL), 200);
	task = json_array_get(json_object_get(o.json, "tasks"), 0);
	req = json_object_get(json_object_get(task, "input"), "import_req");
	assert_string_equal(json_string_value(json_object_get(json_object_get(req, "method"), "uri")), uri);
	assert_null(json_object_get(req, "x"));
	gt_reply_free(&o);
	free(pad);
	free(longer);
	uri[FETCH_URL_MAX] = 'u';
	uri[FETCH_URL_MAX + 1] = '\0';
	fresh(&t, url, id);
	sprintf(body, "{\"method\": {\"name\": \"web-download\", \"uri\": \"%s\"}}", uri);
	assert_int_equal(gt_status(&t, "POST", url, "alice", body), 400);
	assert_int_equal(gt_image(&t, id).status, MODEL_IMG_QUEUED);
	free(uri);
	free(body);
	gt_stop(&t);
}

/* glance-download: an image of this region the caller may read; else a failed task. */
static void test_glance_download(void **state)
{
	struct gt t;
	struct gt_reply o;
	char url[200], id[37], body[400], tasks[220];
	gt_start(&t, *state);
	fresh(&t, url, id);
	snprintf(tasks, sizeof tasks, "/v2/images/%s/tasks", id);
	/* an id that names no image: 202, a failed task, the image still queued */
	snprintf(body, sizeof body,
	         "{\"method\": {\"name\": \"glance-download\", \"glance_image_id\": "
	         "\"00000000-0000-4000-8000-000000000000\", \"glance_region\": \"cn-north-1\"}}");
	assert_int_equal(gt_status(&t, "POST", url, "alice", body), 202);
	assert_int_equal(gt_image(&t, id).status, MODEL_IMG_QUEUED);
	assert_int_equal(gt_call(&t, &o, "GET", tasks, "alice", NULL), 200);
	json_t *task = json_array_get(json_object_get(o.json, "tasks"), 0);
	assert_string_equal(json_string_value(json_object_get(task, "status")), "failure");
	assert_non_null(strstr(json_string_value(json_object_get(task, "message")), "no available image"));
	gt_reply_free(&o);
	/* another region: a failed task too */
	snprintf(body, sizeof body,
	         "{\"method\": {\"name\": \"glance-download\", \"glance_image_id\": "
	         "\"00000000-0000-4000-8000-000000000000\", \"glance_region\": \"cn-east-2\"}}");
	assert_int_equal(gt_status(&t, "POST", url, "alice", body), 202);
	assert_int_equal(gt_call(&t, &o, "GET", tasks, "alice", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "tasks")), 2);
	gt_reply_free(&o);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bodies, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_uri_bound, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_glance_download, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
