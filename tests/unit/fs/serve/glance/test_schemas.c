/*
 * test_schemas.c — unit tests for fs/serve/glance/schemas.c (SPEC §19.6)
 * through the dispatcher (glance_test.h): the six schemas served without
 * a token, a list's schema holding its item's, an unknown one 404; and
 * every bound the image schema states is the server's own, read from the
 * schema and tried: a value at its maxLength or maximum is taken (a
 * create, a patch, a tag's PUT), one past it refused with nothing made or
 * changed.  glanceclient checks a patch against this schema: a schema
 * looser than the server sends what will be refused, a stricter one
 * refuses what the server takes.
 */
#include "glance_test.h"

static json_t *schema(struct gt *t, const char *name)
{
	struct gt_reply o;
	char url[100];
	snprintf(url, sizeof url, "/v2/schemas/%s", name);
	assert_int_equal(gt_call(t, &o, "GET", url, NULL, NULL), 200); /* no token: clients read them first */
	json_t *j = json_incref(o.json);
	assert_non_null(j);
	gt_reply_free(&o);
	return j;
}

/* The integer at properties.prop[.items].key of the image schema. */
static long long bound(json_t *s, const char *prop, bool items, const char *key)
{
	json_t *p = prop ? json_object_get(json_object_get(s, "properties"), prop) : json_object_get(s, "additionalProperties");
	if (items)
		p = json_object_get(p, "items");
	json_t *v = json_object_get(p, key);
	if (!json_is_integer(v))
		fail_msg("the image schema has no %s of %s", key, prop ? prop : "additionalProperties");
	return (long long)json_integer_value(v);
}

static void test_schemas_served(void **state)
{
	static const char *const one[] = {"image", "member", "task"}, *const many[] = {"images", "members", "tasks"};
	struct gt t;
	gt_start(&t, *state);
	for (int i = 0; i < 3; i++) {
		json_t *s = schema(&t, one[i]), *l = schema(&t, many[i]);
		assert_string_equal(json_string_value(json_object_get(s, "name")), one[i]);
		assert_string_equal(json_string_value(json_object_get(l, "name")), many[i]);
		/* a list's items are its item's schema, whole */
		assert_true(json_equal(json_object_get(json_object_get(l, "definitions"), one[i]), s));
		json_decref(s);
		json_decref(l);
	}
	assert_int_equal(gt_status(&t, "GET", "/v2/schemas/imagex", NULL, NULL), 404);
	assert_int_equal(gt_status(&t, "GET", "/v2/schemas/", NULL, NULL), 404);
	gt_stop(&t);
}

/* A string of n bytes of c, in JSON quotes, into buf. */
static const char *str(char *buf, size_t n, char c)
{
	buf[0] = '"';
	memset(buf + 1, c, n);
	buf[n + 1] = '"';
	buf[n + 2] = '\0';
	return buf;
}

static void test_schema_bounds(void **state)
{
	struct gt t;
	char id[37], url[900], v[600], body[800], tag[600];
	gt_start(&t, *state);
	json_t *s = schema(&t, "image");
	gt_create(&t, "alice", "{\"name\": \"b\"}", id);
	struct model_image before = gt_image(&t, id);
	/* strings a create takes: the name, the description, a property */
	static const char *const keys[] = {"name", "description", NULL};
	for (int k = 0; k < 3; k++) {
		long long n = bound(s, keys[k], false, "maxLength");
		assert_true(n > 0 && n + 2 < (long long)sizeof v);
		for (int past = 0; past < 2; past++) {
			snprintf(body, sizeof body, "{\"name\": \"p\", \"%s\": %s}", keys[k] ? keys[k] : "hw_x",
			         str(v, (size_t)n + (size_t)past, 'n'));
			if (k == 0)
				snprintf(body, sizeof body, "{\"name\": %s}", str(v, (size_t)n + (size_t)past, 'n'));
			int st = gt_status(&t, "POST", "/v2/images", "alice", body);
			if (past ? st != 400 : st != 201)
				fail_msg("%s of %lld bytes: %d", keys[k] ? keys[k] : "a property", n + past, st);
		}
	}
	/* a tag */
	long long n = bound(s, "tags", true, "maxLength");
	assert_true(n > 0 && n + 2 < (long long)sizeof tag);
	memset(tag, 't', (size_t)n + 1);
	tag[n] = '\0';
	snprintf(url, sizeof url, "/v2/images/%s/tags/%s", id, tag);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 204);
	tag[n] = 't';
	tag[n + 1] = '\0';
	snprintf(url, sizeof url, "/v2/images/%s/tags/%s", id, tag);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 400);
	/* min_ram and min_disk: minimum and maximum, and one past each */
	snprintf(url, sizeof url, "/v2/images/%s", id);
	static const char *const nums[] = {"min_ram", "min_disk"};
	for (int k = 0; k < 2; k++) {
		long long lo = bound(s, nums[k], false, "minimum"), hi = bound(s, nums[k], false, "maximum");
		const long long tries[4][2] = {{lo, 200}, {hi, 200}, {lo - 1, 400}, {hi + 1, 400}};
		for (int i = 0; i < 4; i++) {
			snprintf(body, sizeof body, "[{\"op\": \"replace\", \"path\": \"/%s\", \"value\": %lld}]", nums[k],
			         tries[i][0]);
			int st = gt_status(&t, "PATCH", url, "alice", body);
			if (st != tries[i][1])
				fail_msg("%s %lld: %d, want %lld", nums[k], tries[i][0], st, tries[i][1]);
		}
	}
	/* the refusals changed nothing: one tag of n bytes, min_ram and
	 * min_disk at their maximum (the last taken) */
	struct gt_reply o;
	assert_int_equal(gt_call(&t, &o, "GET", url, "alice", NULL), 200);
	assert_string_equal(json_string_value(json_object_get(o.json, "name")), before.name);
	json_t *tags = json_object_get(o.json, "tags");
	assert_int_equal(json_array_size(tags), 1);
	assert_int_equal(strlen(json_string_value(json_array_get(tags, 0))), n);
	assert_int_equal(json_integer_value(json_object_get(o.json, "min_ram")), bound(s, "min_ram", false, "maximum"));
	assert_int_equal(json_integer_value(json_object_get(o.json, "min_disk")), bound(s, "min_disk", false, "maximum"));
	gt_reply_free(&o);
	json_decref(s);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schemas_served, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_schema_bounds, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
