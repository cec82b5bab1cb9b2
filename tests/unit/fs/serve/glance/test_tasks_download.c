/*
 * test_tasks_download.c — the glance-download import of
 * fs/serve/glance/tasks.c asks the right GET .../file asks (SPEC §19.4,
 * model/include/rights.h's R): it copies another image's data into the
 * caller's, so a caller who may build from the source but not read it
 * (its member, pending or accepted; anyone, for a marketplace image), or
 * its owner while it is deactivated, gets a failed task and no byte of
 * it (its image stays queued); the owner gets the copy under way.
 *
 * A file of its own beside test_tasks.c because the image API's tests are
 * another branch's too (issue 71); written against a planted bug that
 * asked MODEL_RIGHT_BUILD there instead of MODEL_RIGHT_READ (a member
 * copied a shared image's bytes into an image of its own, then read them):
 * every test of the image API passed.
 */
#include "glance_test.h"

/* alice's available private image "web" (shared: it has members), 1 MiB:
 * its id in id. */
static int64_t source(struct gt *t, char id[37])
{
	gt_create(t, "alice", "{\"name\": \"web\", \"visibility\": \"shared\", \"disk_format\": \"raw\", "
	                      "\"container_format\": \"bare\"}",
	          id);
	struct model_image img = gt_image(t, id);
	lt_device(t->fx, img.id, 0, lt_tagged_blob(t->fx, t->fx->r1, "web", LT_MiB), 0);
	lt_available(t->fx, img.id, MODEL_TYPE_LOCAL);
	return img.id;
}

/* who asks a queued image of its own to be filled from src: the task's
 * status and message, and the image's status after. */
static enum model_image_status download(struct gt *t, const char *who, const char *src, char status[32], char msg[512])
{
	char id[37], url[200], body[400];
	struct gt_reply o;
	gt_create(t, who, "{\"name\": \"copy\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	snprintf(url, sizeof url, "/v2/images/%s/import", id);
	snprintf(body, sizeof body,
	         "{\"method\": {\"name\": \"glance-download\", \"glance_image_id\": \"%s\", \"glance_region\": "
	         "\"cn-north-1\"}}",
	         src);
	assert_int_equal(gt_status(t, "POST", url, who, body), 202);
	snprintf(url, sizeof url, "/v2/images/%s/tasks", id);
	assert_int_equal(gt_call(t, &o, "GET", url, who, NULL), 200);
	json_t *task = json_array_get(json_object_get(o.json, "tasks"), 0);
	assert_non_null(task);
	snprintf(status, 32, "%s", json_string_value(json_object_get(task, "status")));
	const char *m = json_string_value(json_object_get(task, "message"));
	snprintf(msg, 512, "%s", m ? m : "");
	gt_reply_free(&o);
	return gt_image(t, id).status;
}

static void test_who_copies(void **state)
{
	struct gt t;
	char src[37], members[220], status[32], msg[512];
	gt_start(&t, *state);
	source(&t, src);
	gt_token(&t, "bob");
	gt_token(&t, "carol");
	gt_token(&t, "dave");
	snprintf(members, sizeof members, "/v2/images/%s/members", src);
	assert_int_equal(gt_status(&t, "POST", members, "alice", "{\"member\": \"bob\"}"), 200);
	assert_int_equal(gt_status(&t, "POST", members, "alice", "{\"member\": \"dave\"}"), 200);
	char dave[260];
	snprintf(dave, sizeof dave, "/v2/images/%s/members/dave", src);
	assert_int_equal(gt_status(&t, "PUT", dave, "dave", "{\"status\": \"accepted\"}"), 200);

	/* a member, pending or accepted, builds from it (B) but does not read
	 * it (no R): the task fails, its image stays queued, empty */
	const char *members_of[] = {"bob", "dave"};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(download(&t, members_of[i], src, status, msg), MODEL_IMG_QUEUED);
		if (strcmp(status, "failure") != 0 || !strstr(msg, "not yours to read"))
			fail_msg("%s, a member, copied the shared image's data: task %s (%s)", members_of[i], status, msg);
	}
	/* a stranger does not see it at all */
	download(&t, "carol", src, status, msg);
	assert_string_equal(status, "failure");
	assert_non_null(strstr(msg, "no available image"));
	/* the owner copies her own: its data on its way (the copy runs) */
	assert_int_equal(download(&t, "alice", src, status, msg), MODEL_IMG_UPLOADING);
	if (strcmp(status, "failure") == 0)
		fail_msg("the owner's copy failed: %s", msg);

	/* deactivated (§19.5): not even the owner reads it, so no copy */
	char act[220];
	snprintf(act, sizeof act, "/v2/images/%s/actions/deactivate", src);
	assert_int_equal(gt_status(&t, "POST", act, "alice", NULL), 204);
	assert_int_equal(download(&t, "alice", src, status, msg), MODEL_IMG_QUEUED);
	assert_string_equal(status, "failure");
	assert_non_null(strstr(msg, "not yours to read"));
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_who_copies, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
