/*
 * test_members.c — unit tests for fs/serve/glance/members.c (SPEC §19.x
 * members, §6.4 shares) through the dispatcher (glance_test.h): the
 * bodies of POST .../members ({"member": ...}) and PUT .../members/{m}
 * ({"status": ...}) — every allowed value, wrong types, missing and extra
 * fields, a name at its bound and one past —, and who may do what: only
 * the owner adds and removes, only the member answers, the owner sees
 * every member and a member itself.
 */
#include "glance_test.h"

static char ID[37], URL[128], BOB[128];

/* alice's shared image, bob its pending member. */
static void setup_shared(struct gt *t)
{
	gt_create(t, "alice", "{\"name\": \"web\", \"visibility\": \"shared\"}", ID);
	snprintf(URL, sizeof URL, "/v2/images/%s/members", ID);
	snprintf(BOB, sizeof BOB, "/v2/images/%s/members/bob", ID);
	gt_token(t, "bob");
	gt_token(t, "carol");
	struct gt_reply o;
	assert_int_equal(gt_call(t, &o, "POST", URL, "alice", "{\"member\": \"bob\"}"), 200);
	assert_string_equal(json_string_value(json_object_get(o.json, "member_id")), "bob");
	assert_string_equal(json_string_value(json_object_get(o.json, "image_id")), ID);
	assert_string_equal(json_string_value(json_object_get(o.json, "status")), "pending");
	gt_reply_free(&o);
}

static void test_create_bodies(void **state)
{
	struct gt t;
	gt_start(&t, *state);
	setup_shared(&t);
	gt_token(&t, "dave");
	static const struct {
		const char *body;
		int status;
	} bodies[] = {
		{"{}", 400},                                  /* missing */
		{"{\"member\": 7}", 400},                     /* a number */
		{"{\"member\": null}", 400},
		{"{\"member\": [\"dave\"]}", 400},
		{"{\"members\": \"dave\"}", 400},             /* the wrong key */
		{"[\"dave\"]", 400},                          /* not an object */
		{"not json", 400},
		{"{\"member\": \"dave\", \"member\": \"x\"}", 400}, /* a key twice */
		{"{\"member\": \"nobody-here\"}", 404},       /* no such account */
		{"{\"member\": \"alice\"}", 400},             /* the owner itself */
		{"{\"member\": \"bob\"}", 409},               /* already a member */
		{"{\"member\": \"\"}", 400},
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		int st = gt_status(&t, "POST", URL, "alice", bodies[i].body);
		if (st != bodies[i].status)
			fail_msg("POST members %s: %d, want %d", bodies[i].body, st, bodies[i].status);
	}
	/* a name of 32 characters is a name (no such account), one of 33 is
	 * not (SPEC §10) */
	char body[400], name[300];
	memset(name, 'n', 33);
	name[32] = '\0';
	snprintf(body, sizeof body, "{\"member\": \"%s\"}", name);
	assert_int_equal(gt_status(&t, "POST", URL, "alice", body), 404);
	name[32] = 'n';
	name[33] = '\0';
	snprintf(body, sizeof body, "{\"member\": \"%s\"}", name);
	assert_int_equal(gt_status(&t, "POST", URL, "alice", body), 400);
	/* extra fields are Glance's to ignore: the member is added */
	assert_int_equal(gt_status(&t, "POST", URL, "alice", "{\"member\": \"dave\", \"status\": \"accepted\"}"), 200);
	struct model_share s;
	struct model_account dave;
	assert_int_equal(model_account_by_name(t.fx->m, "dave", &dave), 0);
	assert_int_equal(model_share_get(t.fx->m, gt_image(&t, ID).id, dave.id, &s), 0);
	assert_int_equal(s.status, MODEL_MEMBER_PENDING); /* not what the body said */
	/* nothing half-made by the refusals: bob and dave, no one else */
	struct gt_reply o;
	assert_int_equal(gt_call(&t, &o, "GET", URL, "alice", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "members")), 2);
	gt_reply_free(&o);
	gt_stop(&t);
}

/* Who adds, removes, sees: the route's right, asked before the handler. */
static void test_who_may(void **state)
{
	struct gt t;
	struct gt_reply o;
	char priv[37], url[200];
	gt_start(&t, *state);
	setup_shared(&t);
	/* a member adds no member, a stranger sees no image */
	assert_int_equal(gt_call(&t, &o, "POST", URL, "bob", "{\"member\": \"carol\"}"), 403);
	assert_non_null(strstr(o.body, "only the image's owner adds members"));
	gt_reply_free(&o);
	assert_int_equal(gt_status(&t, "POST", URL, "carol", "{\"member\": \"carol\"}"), 404);
	assert_int_equal(gt_status(&t, "POST", URL, NULL, "{\"member\": \"carol\"}"), 401);
	/* the owner sees every member, a member itself, a stranger nothing */
	assert_int_equal(gt_status(&t, "POST", URL, "alice", "{\"member\": \"carol\"}"), 200);
	assert_int_equal(gt_call(&t, &o, "GET", URL, "alice", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "members")), 2);
	gt_reply_free(&o);
	assert_int_equal(gt_call(&t, &o, "GET", URL, "bob", NULL), 200);
	json_t *list = json_object_get(o.json, "members");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "member_id")), "bob");
	gt_reply_free(&o);
	gt_token(&t, "eve");
	assert_int_equal(gt_status(&t, "GET", URL, "eve", NULL), 404);
	/* one member: the owner any, a member itself only */
	snprintf(url, sizeof url, "%s/carol", URL);
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 200);
	assert_int_equal(gt_status(&t, "GET", url, "bob", NULL), 404);
	assert_int_equal(gt_status(&t, "GET", BOB, "bob", NULL), 200);
	/* removal: the owner's, never a member's */
	assert_int_equal(gt_status(&t, "DELETE", url, "bob", NULL), 403);
	assert_int_equal(gt_status(&t, "DELETE", BOB, "bob", NULL), 403);
	assert_int_equal(gt_status(&t, "DELETE", url, "alice", NULL), 204);
	assert_int_equal(gt_status(&t, "DELETE", url, "alice", NULL), 404);
	assert_int_equal(gt_status(&t, "GET", URL, "carol", NULL), 404); /* no longer sees it */
	/* a private image has no members */
	gt_create(&t, "alice", "{\"name\": \"mine\", \"visibility\": \"private\"}", priv);
	snprintf(url, sizeof url, "/v2/images/%s/members", priv);
	assert_int_equal(gt_call(&t, &o, "POST", url, "alice", "{\"member\": \"bob\"}"), 403);
	assert_non_null(strstr(o.body, "Only shared images have members."));
	gt_reply_free(&o);
	gt_stop(&t);
}

static const char *status_of(struct gt *t, const char *who)
{
	static char s[16];
	struct gt_reply o;
	assert_int_equal(gt_call(t, &o, "GET", BOB, who, NULL), 200);
	snprintf(s, sizeof s, "%s", json_string_value(json_object_get(o.json, "status")));
	gt_reply_free(&o);
	return s;
}

static void test_status_bodies(void **state)
{
	struct gt t;
	struct gt_reply o;
	gt_start(&t, *state);
	setup_shared(&t);
	/* each allowed value, as the member answers; the answer in the reply */
	static const char *const allowed[] = {"accepted", "rejected", "pending", "accepted"};
	for (size_t i = 0; i < 4; i++) {
		char body[64];
		snprintf(body, sizeof body, "{\"status\": \"%s\"}", allowed[i]);
		assert_int_equal(gt_call(&t, &o, "PUT", BOB, "bob", body), 200);
		assert_string_equal(json_string_value(json_object_get(o.json, "status")), allowed[i]);
		assert_string_equal(json_string_value(json_object_get(o.json, "member_id")), "bob");
		gt_reply_free(&o);
		assert_string_equal(status_of(&t, "alice"), allowed[i]);
	}
	static const char *const bad[] = {
		"{}", "{\"status\": 2}", "{\"status\": null}", "{\"status\": \"Accepted\"}", "{\"status\": \"accept\"}",
		"{\"status\": \"\"}", "{\"status\": \"invalid\"}", "{\"status\": [\"accepted\"]}", "{\"state\": \"rejected\"}",
		"[]", "{\"status\": \"accepted\", \"status\": \"rejected\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int st = gt_status(&t, "PUT", BOB, "bob", bad[i]);
		if (st != 400)
			fail_msg("PUT member %s: %d, want 400", bad[i], st);
		assert_string_equal(status_of(&t, "bob"), "accepted"); /* unchanged */
	}
	/* an extra field is ignored, the status taken */
	assert_int_equal(gt_status(&t, "PUT", BOB, "bob", "{\"status\": \"rejected\", \"member\": \"carol\"}"), 200);
	assert_string_equal(status_of(&t, "bob"), "rejected");
	gt_stop(&t);
}

/* Only the member answers: the owner is told why, others see nothing. */
static void test_status_who(void **state)
{
	struct gt t;
	struct gt_reply o;
	char url[200];
	gt_start(&t, *state);
	setup_shared(&t);
	assert_int_equal(gt_call(&t, &o, "PUT", BOB, "alice", "{\"status\": \"accepted\"}"), 403);
	assert_non_null(strstr(o.body, "only the member answers a share"));
	gt_reply_free(&o);
	assert_int_equal(gt_status(&t, "PUT", BOB, "carol", "{\"status\": \"accepted\"}"), 404);
	assert_int_equal(gt_status(&t, "POST", URL, "alice", "{\"member\": \"carol\"}"), 200);
	/* a member answers for itself, not for another member */
	snprintf(url, sizeof url, "%s/carol", URL);
	assert_int_equal(gt_status(&t, "PUT", url, "bob", "{\"status\": \"accepted\"}"), 404);
	assert_int_equal(gt_status(&t, "PUT", BOB, "carol", "{\"status\": \"rejected\"}"), 404);
	assert_string_equal(status_of(&t, "alice"), "pending");
	assert_int_equal(gt_status(&t, "PUT", url, "carol", "{\"status\": \"rejected\"}"), 200);
	assert_string_equal(status_of(&t, "alice"), "pending"); /* bob's untouched */
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_bodies, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_who_may, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_status_bodies, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_status_who, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
