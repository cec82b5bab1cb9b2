/*
 * test_identity.c — unit tests for fs/serve/glance/identity.c (SPEC §19,
 * the identity face) through the dispatcher (glance_test.h): Keystone v3
 * token requests (POST /v3/auth/tokens) with the password and token
 * methods, a scope, every field missing or of the wrong type, the token
 * in X-Subject-Token and its document (who, which method, when issued and
 * when it expires); and Keystone's policy on GET /v3/auth/tokens and
 * /v3/projects: an administrator sees any, a tenant only its own, and
 * what is not its own is 403 whether it exists or not.
 */
#include "glance_test.h"

#define PW "correct horse"

static int login(struct gt *t, struct gt_reply *o, const char *body)
{
	return gt_call(t, o, "POST", "/v3/auth/tokens", NULL, body);
}

static void test_password_bodies(void **state)
{
	struct gt t;
	struct gt_reply o;
	struct model_err err = {0};
	char body[512];
	gt_start(&t, *state);
	ut_account(t.fx, "alice");
	ut_account(t.fx, "bob");
	assert_int_equal(model_account_set_api_password(t.fx->m, "alice", PW, &err), 0);
	/* the password method: by name or by id, scoped to its own project or not */
	static const char *const good[] = {
		"{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\", "
		"\"password\": \"" PW "\"}}}}}",
		"{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"id\": \"alice\", "
		"\"password\": \"" PW "\", \"domain\": {\"id\": \"default\"}}}}, \"scope\": {\"project\": {\"name\": "
		"\"alice\"}}}}",
		"{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\", "
		"\"password\": \"" PW "\"}}}, \"scope\": {\"project\": {\"id\": \"alice\"}}}}",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		if (login(&t, &o, good[i]) != 201)
			fail_msg("%s: %d %s", good[i], o.status, o.body);
		const char *tok = gt_reply_header(&o, "X-Subject-Token");
		assert_non_null(tok);
		struct model_account a;
		assert_int_equal(model_token_resolve(t.fx->m, tok, (int64_t)time(NULL), &a, NULL), 0);
		assert_string_equal(a.name, "alice");
		json_t *tk = json_object_get(o.json, "token");
		assert_string_equal(json_string_value(json_array_get(json_object_get(tk, "methods"), 0)), "password");
		assert_string_equal(json_string_value(json_object_get(json_object_get(tk, "user"), "name")), "alice");
		assert_string_equal(json_string_value(json_object_get(json_object_get(tk, "project"), "name")), "alice");
		/* issued now, expires a login's time later */
		int64_t issued, expires;
		assert_int_equal(glance_parse_time(json_string_value(json_object_get(tk, "issued_at")), &issued), 0);
		assert_int_equal(glance_parse_time(json_string_value(json_object_get(tk, "expires_at")), &expires), 0);
		assert_true(expires - issued >= (MODEL_TOKEN_LOGIN_SECONDS - 60) * 1000000000LL);
		assert_true(expires - issued <= (MODEL_TOKEN_LOGIN_SECONDS + 1) * 1000000000LL);
		gt_reply_free(&o);
	}
	/* refusals: 400 for the methods, 401 for everything else (never which) */
	static const struct {
		const char *identity, *scope;
		int status;
	} bad[] = {
		{"{\"methods\": [], \"password\": {\"user\": {\"name\": \"alice\", \"password\": \"" PW "\"}}}", NULL, 400},
		{"{\"password\": {\"user\": {\"name\": \"alice\", \"password\": \"" PW "\"}}}", NULL, 400},
		{"{\"methods\": \"password\", \"password\": {\"user\": {\"name\": \"alice\", \"password\": \"" PW "\"}}}",
		 NULL, 400},
		{"{\"methods\": [\"password\", \"token\"], \"password\": {\"user\": {\"name\": \"alice\", \"password\": \"" PW
		 "\"}}}",
		 NULL, 400},
		{"{\"methods\": [\"totp\"]}", NULL, 400},
		{"{\"methods\": [7]}", NULL, 400},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\", \"password\": \"wrong pw\"}}}",
		 NULL, 401},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\"}}}", NULL, 401},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"password\": \"" PW "\"}}}", NULL, 401},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\", \"password\": 7}}}", NULL, 401},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": 7, \"password\": \"" PW "\"}}}", NULL, 401},
		{"{\"methods\": [\"password\"]}", NULL, 401},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"bob\", \"password\": \"" PW "\"}}}", NULL,
		 401}, /* bob has no API password */
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"nobody\", \"password\": \"" PW "\"}}}",
		 NULL, 401},
		/* a scope: its own project only */
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\", \"password\": \"" PW "\"}}}",
		 "{\"project\": {\"name\": \"bob\"}}", 401},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\", \"password\": \"" PW "\"}}}",
		 "{\"project\": {}}", 401},
		{"{\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"alice\", \"password\": \"" PW "\"}}}",
		 "{\"project\": {\"name\": 1}}", 401},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (bad[i].scope)
			snprintf(body, sizeof body, "{\"auth\": {\"identity\": %s, \"scope\": %s}}", bad[i].identity,
			         bad[i].scope);
		else
			snprintf(body, sizeof body, "{\"auth\": {\"identity\": %s}}", bad[i].identity);
		int st = login(&t, &o, body);
		if (st != bad[i].status)
			fail_msg("%s: %d, want %d", body, st, bad[i].status);
		assert_null(gt_reply_header(&o, "X-Subject-Token"));
		gt_reply_free(&o);
	}
	assert_int_equal(gt_status(&t, "POST", "/v3/auth/tokens", NULL, "{}"), 400);
	assert_int_equal(gt_status(&t, "POST", "/v3/auth/tokens", NULL, "nothing"), 400);
	gt_stop(&t);
}

static void test_token_method(void **state)
{
	struct gt t;
	struct gt_reply o;
	char body[512];
	gt_start(&t, *state);
	snprintf(body, sizeof body,
	         "{\"auth\": {\"identity\": {\"methods\": [\"token\"], \"token\": {\"id\": \"%s\"}}, \"scope\": "
	         "{\"project\": {\"name\": \"alice\"}}}}",
	         gt_token(&t, "alice"));
	assert_int_equal(login(&t, &o, body), 201);
	const char *tok = gt_reply_header(&o, "X-Subject-Token");
	assert_non_null(tok);
	assert_string_not_equal(tok, gt_token(&t, "alice")); /* a new token */
	assert_string_equal(
	        json_string_value(json_array_get(json_object_get(json_object_get(o.json, "token"), "methods"), 0)), "token");
	gt_reply_free(&o);
	static const char *const bad[] = {
		"{\"auth\": {\"identity\": {\"methods\": [\"token\"], \"token\": {\"id\": \"not-a-token\"}}}}",
		"{\"auth\": {\"identity\": {\"methods\": [\"token\"], \"token\": {}}}}",
		"{\"auth\": {\"identity\": {\"methods\": [\"token\"], \"token\": {\"id\": 5}}}}",
		"{\"auth\": {\"identity\": {\"methods\": [\"token\"]}}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (gt_status(&t, "POST", "/v3/auth/tokens", NULL, bad[i]) != 401)
			fail_msg("%s: not 401", bad[i]);
	gt_stop(&t);
}

/* Keystone's policy: an administrator any token and project, a tenant its own. */
static void test_validate_policy(void **state)
{
	struct gt t;
	struct gt_reply o;
	struct model_err err = {0};
	gt_start(&t, *state);
	const char *alice = gt_token(&t, "alice"), *bob = gt_token(&t, "bob");
	gt_token(&t, "root");
	assert_int_equal(model_account_set_admin(t.fx->m, "root", true, &err), 0);
	static const struct {
		const char *who, *subject; /* subject: a token of "alice", "bob", "junk" or none */
		int status;
	} cases[] = {
		{"alice", "alice", 200}, {"alice", "bob", 403}, {"alice", "junk", 403}, {"alice", NULL, 403},
		{"root", "alice", 200},  {"root", "bob", 200},  {"root", "junk", 404},  {"root", NULL, 404},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *s = cases[i].subject;
		if (s)
			gt_header("X-Subject-Token", strcmp(s, "alice") == 0 ? alice : strcmp(s, "bob") == 0 ? bob : "junk");
		int st = gt_call(&t, &o, "GET", "/v3/auth/tokens", cases[i].who, NULL);
		if (st != cases[i].status)
			fail_msg("%s validates %s: %d, want %d", cases[i].who, s ? s : "(none)", st, cases[i].status);
		if (st == 200) /* the document is the subject's, not the caller's */
			assert_string_equal(
			        json_string_value(json_object_get(json_object_get(json_object_get(o.json, "token"), "user"), "name")),
			        s);
		gt_reply_free(&o);
	}
	/* projects: one's own by id or name; another's 403 whether it exists or not */
	assert_int_equal(gt_status(&t, "GET", "/v3/projects/alice", "alice", NULL), 200);
	assert_int_equal(gt_status(&t, "GET", "/v3/projects/bob", "alice", NULL), 403);
	assert_int_equal(gt_status(&t, "GET", "/v3/projects/nobody", "alice", NULL), 403);
	assert_int_equal(gt_status(&t, "GET", "/v3/projects/bob", "root", NULL), 200);
	assert_int_equal(gt_status(&t, "GET", "/v3/projects/nobody", "root", NULL), 404);
	gt_query("name", "alice");
	assert_int_equal(gt_call(&t, &o, "GET", "/v3/projects", "alice", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "projects")), 1);
	gt_reply_free(&o);
	gt_query("name", "bob");
	assert_int_equal(gt_status(&t, "GET", "/v3/projects", "alice", NULL), 403);
	assert_int_equal(gt_status(&t, "GET", "/v3/projects", "alice", NULL), 403);
	gt_query("name", "nobody");
	assert_int_equal(gt_call(&t, &o, "GET", "/v3/projects", "root", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "projects")), 0);
	gt_reply_free(&o);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_password_bodies, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_token_method, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_validate_policy, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
